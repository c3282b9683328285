/* HTTP/1.1 server connections on libuv, parsed by llhttp.
 *
 * A connection parses requests, enforces the limits and timeouts, and hands
 * each complete request to the server's callback. Requests on one connection
 * are handled one at a time in arrival order (pipelined requests wait, parsed
 * or not, until the previous response has been queued). Depends on lib/ only.
 *
 * Ownership: the callback owns the request it is given and must answer it with
 * http_conn_respond() exactly once, possibly much later and from this loop's
 * thread only. A connection is never freed while a request it handed out is
 * unanswered: if the peer goes away first, the connection is marked closed and
 * the late answer is simply dropped. */
#ifndef DORM_NET_HTTP_H
#define DORM_NET_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/buf.h"

typedef struct http_header {
    char *name; /* as sent, NUL-terminated */
    char *value;
    size_t name_len;
    size_t value_len;
} http_header_t;

typedef struct http_request {
    char *method;          /* "GET", "POST", ... as sent */
    char *target;          /* the raw request-target, "/_do/counter/a?x=1" */
    http_header_t *headers; /* in arrival order, original case, values trimmed */
    size_t nheaders;
    buf_t body;            /* de-chunked */
    int version_minor;     /* 0 or 1 (HTTP/1.x) */
    bool keep_alive;       /* what the request allows */
    bool upgrade;          /* Connection: upgrade with an Upgrade header */
    char peer[64];         /* "127.0.0.1:53412", for logs */
    uint64_t started_ns;   /* uv_hrtime() when the first byte arrived */
} http_request_t;

typedef struct http_response {
    int status;
    char *reason;          /* NULL: the standard phrase for status */
    http_header_t *headers;
    size_t nheaders;
    buf_t body;
} http_response_t;

/* Header helpers (case-insensitive name match). Values are owned copies. */
const char *http_header_get(const http_header_t *h, size_t n, const char *name);
void http_headers_add(http_header_t **h, size_t *n, const char *name, const char *value);
void http_headers_addn(http_header_t **h, size_t *n, const char *name, size_t nlen,
                       const char *value, size_t vlen);
void http_headers_free(http_header_t *h, size_t n);
void http_request_free(http_request_t *req);   /* frees everything, including req */
http_response_t *http_response_new(int status);
void http_response_free(http_response_t *res); /* frees everything, including res */
const char *http_status_reason(int status);
/* A response with a JSON body {"error":{"code":code,"message":message}}. */
http_response_t *http_response_error(int status, const char *code, const char *message);

typedef struct http_limits {
    size_t max_header_bytes;   /* request line + headers; past it: 431. Default 64 KiB */
    size_t max_body_bytes;     /* past it: 413. Default 100 MiB */
    uint64_t header_timeout_ms;    /* from first byte to end of headers. Default 10 s */
    uint64_t body_timeout_ms;      /* longest pause while a body is arriving. Default 30 s */
    uint64_t keepalive_timeout_ms; /* idle between requests. Default 60 s */
    uint64_t write_timeout_ms;     /* longest wait for a client to take our bytes. Default 30 s */
} http_limits_t;

void http_limits_default(http_limits_t *l);

typedef struct http_conn http_conn_t;
typedef struct http_server http_server_t;

/* Called on the loop's thread for each complete request. */
typedef void (*http_request_cb)(http_conn_t *conn, http_request_t *req, void *data);

/* Listens on host:port (IPv4 or IPv6 literal, or "localhost") with
 * SO_REUSEPORT so every shard can have its own listener on the same port.
 * Returns NULL and fills err on failure. */
http_server_t *http_server_listen(uv_loop_t *loop, const char *host, int port,
                                  const http_limits_t *limits, http_request_cb cb, void *data,
                                  char *err, size_t errlen);
/* Stops accepting, closes idle connections at once and the others after
 * their in-flight response has been written; calls cb when all are gone. The
 * server is freed after cb returns. */
void http_server_close(http_server_t *s, void (*cb)(void *data), void *data);

/* Answers the request the callback was given. Takes ownership of res. Adds
 * Date, Content-Length (not for 1xx/204/304) and Connection; sends no body
 * for HEAD or 204/304; closes the connection afterwards when the request or
 * the response asked for it (Connection: close) or the server is closing. */
void http_conn_respond(http_conn_t *conn, http_response_t *res);
/* The listener's loop data passed at listen time. */
void *http_conn_data(http_conn_t *conn);

#endif
