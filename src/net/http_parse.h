/* The incremental HTTP/1.1 request parser: bytes in, complete requests out.
 *
 * A pure function of the bytes it is fed (no sockets, no clock, no globals),
 * so it can be unit-tested and fuzzed on its own; http.c drives it from the
 * connection. It wraps llhttp and adds what llhttp leaves to its user: size
 * limits, header trimming and validation, refusal of ambiguous framing
 * (request smuggling), and the Expect: 100-continue signal.
 *
 * Usage: feed bytes; the parser consumes them until an event (a complete
 * request, the 100-continue point, an error) or until they are all used. The
 * bytes it did not consume are the caller's to keep and feed again later:
 * that is how pipelined requests wait while the previous one is answered. */
#ifndef DORM_NET_HTTP_PARSE_H
#define DORM_NET_HTTP_PARSE_H
#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "http.h"

typedef enum http_parse_event {
    HTTP_PARSE_MORE = 0, /* every byte given was consumed; feed more when it arrives */
    HTTP_PARSE_REQUEST,  /* a request is complete: take it with http_parse_take() */
    HTTP_PARSE_CONTINUE, /* headers are done, a body is expected and the client
                          * asked for "Expect: 100-continue"; feed on after
                          * sending "HTTP/1.1 100 Continue" */
    HTTP_PARSE_ERROR,    /* see http_parse_status(); the parser is dead */
} http_parse_event_t;

/* Where the parser stands, so the connection knows which timeout applies. */
typedef enum http_parse_phase {
    HTTP_PHASE_IDLE = 0, /* between requests: no byte of the next one seen yet */
    HTTP_PHASE_HEADERS,  /* request line and headers are arriving */
    HTTP_PHASE_BODY,     /* headers done, body arriving */
    HTTP_PHASE_READY,    /* a request is complete and waits for http_parse_take() */
    HTTP_PHASE_CLOSED,   /* after a request that does not keep the connection
                          * alive (bytes fed now are ignored), or after an error */
} http_parse_phase_t;

typedef struct http_parse {
    llhttp_t ll;
    size_t max_header_bytes;
    size_t max_body_bytes;
    http_parse_phase_t phase;
    bool ll_paused;        /* llhttp returned HPE_PAUSED: resume before the next execute */
    bool headers_done;     /* set by on_headers_complete, consumed by feed */
    bool message_done;     /* set by on_message_complete, consumed by feed */
    bool expect_continue;  /* this request wants a 100 Continue */
    bool in_trailers;      /* header callbacks now deliver chunked trailers */
    bool last_was_lf;      /* obs-fold scan: the last header byte fed was '\n' */
    size_t header_bytes;   /* bytes of the current request line + headers so far */
    size_t trailer_bytes;  /* bytes of trailer names and values so far */
    size_t field_len;      /* while a header value arrives: the name's length in scratch */
    bool in_value;         /* scratch holds name, then the value being received */
    int n_host;            /* Host headers seen in this request */
    int n_te;              /* Transfer-Encoding headers seen in this request */
    buf_t scratch;         /* name+value of the header being received, or the target */
    http_request_t *req;   /* being built; NULL between requests */
    size_t headers_cap;    /* capacity of req->headers */
    int status;            /* on error: the status to answer (400, 413, 417, 431, 501) */
    const char *code;      /* on error: the JSON error code ("BAD_REQUEST", ...) */
    char message[160];     /* on error: what was wrong, for the client */
} http_parse_t;

/* Caller's memory; limits as in http_limits_t (0 means the default). */
void http_parse_init(http_parse_t *p, size_t max_header_bytes, size_t max_body_bytes);
void http_parse_deinit(http_parse_t *p);

/* Parses from data[0..len). *consumed receives how many bytes were used; the
 * rest must be fed again (after taking the request, or after answering a
 * 100-continue). Feeding a parser in HTTP_PHASE_READY returns
 * HTTP_PARSE_REQUEST again without consuming anything. */
http_parse_event_t http_parse_feed(http_parse_t *p, const uint8_t *data, size_t len,
                                   size_t *consumed);

/* The complete request, after HTTP_PARSE_REQUEST; the caller owns it. The
 * parser moves on to the next request (or to HTTP_PHASE_CLOSED when this one
 * does not keep the connection alive). peer and started_ns are left for the
 * connection to fill. */
http_request_t *http_parse_take(http_parse_t *p);

static inline http_parse_phase_t http_parse_phase(const http_parse_t *p)
{
    return p->phase;
}

/* After HTTP_PARSE_ERROR: the status to answer, an error code for the JSON
 * body, and a sentence saying what was wrong. */
static inline int http_parse_status(const http_parse_t *p)
{
    return p->status;
}
static inline const char *http_parse_code(const http_parse_t *p)
{
    return p->code;
}
static inline const char *http_parse_message(const http_parse_t *p)
{
    return p->message;
}

#endif
