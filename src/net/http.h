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

/* A header's name and value live in one allocation that starts at name (the
 * parser and http_headers_addn make them so): release headers only with
 * http_headers_free, never by freeing value. */
typedef struct http_header {
    char *name; /* as sent, NUL-terminated */
    char *value; /* NUL-terminated, inside name's allocation */
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
    /* With http_conn_upgrade only: a body that goes on until the connection
     * closes (server-sent events). No Content-Length is sent, the response
     * says Connection: close, body holds its first bytes, and the new owner
     * of the socket writes the rest. */
    bool stream;
} http_response_t;

/* Header helpers (case-insensitive name match). Values are owned copies.
 * http_header_get returns the first match, or NULL. */
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
 * limits may be NULL (defaults); zero fields take their default. Sets
 * SIGPIPE to ignored for the process (a vanished peer must not kill it).
 * Returns NULL and fills err on failure. */
http_server_t *http_server_listen(uv_loop_t *loop, const char *host, int port,
                                  const http_limits_t *limits, http_request_cb cb, void *data,
                                  char *err, size_t errlen);
/* Every shard's listener shares the port through SO_REUSEPORT, which would
 * also let a second dorm (of the same user) bind it and take half the
 * connections. Call this once before the shards listen: returns 0 when
 * host:port is free, or -1 with the reason in err (another program holds
 * it, say). */
int http_port_check(const char *host, int port, char *err, size_t errlen);
/* Stops accepting, closes idle connections at once and the others after
 * their in-flight response has been written; calls cb when all are gone. The
 * server is freed after cb returns. */
void http_server_close(http_server_t *s, void (*cb)(void *data), void *data);
/* Test hook: acts as if accept() had failed with status (UV_EMFILE, say). */
void http_server_test_accept_error(http_server_t *s, int status);
/* The port the server listens on (the one the kernel chose for port 0). */
int http_server_port(const http_server_t *s);

/* Answers the request the callback was given. Takes ownership of res. Adds
 * Date, Content-Length (not for 1xx/204/304) and Connection; sends no body
 * for HEAD or 204/304; closes the connection afterwards when the request or
 * the response asked for it (Connection: close) or the server is closing. */
void http_conn_respond(http_conn_t *conn, http_response_t *res);
/* The listener's loop data passed at listen time. */
void *http_conn_data(http_conn_t *conn);

/* Answers an upgrade request (normally with 101 and the caller's own
 * Connection/Upgrade headers, which are kept for 101) and gives the socket
 * away. When the response has been written, cb receives the connection's TCP
 * handle, which the caller now owns (it was malloc'ed: uv_close it and free
 * it in the close callback; reading is stopped, handle->data is free to
 * use), and the bytes the client already sent after the request (valid only
 * during cb). If the connection fails first, cb gets tcp == NULL. Either
 * way cb is called exactly once, and conn must not be used after this call. */
typedef void (*http_upgrade_cb)(uv_tcp_t *tcp, const uint8_t *head, size_t head_len, void *arg);
void http_conn_upgrade(http_conn_t *conn, http_response_t *res, http_upgrade_cb cb, void *arg);

/* Streamed answers: the head now, the body in pieces as they are produced
 * (chunked for HTTP/1.1; for HTTP/1.0 the connection closes after the
 * body), then the end. For HEAD, 204 and 304 only the head is sent.
 *
 * Callbacks run on the loop's thread and must not call back into the
 * connection; finished is called exactly once: DONE once the end has been
 * written, NO_BODY right after the head when the response has no body (the
 * caller should stop producing and end it), GONE when the connection failed
 * or the client went away (then writes are dropped). Whatever happened, the
 * caller must call http_conn_stream_end once, after which conn must not be
 * used; until then the connection stays allocated. Pieces are written in
 * order; written(arg, n) reports each piece of n bytes that reached the
 * kernel, which is how a producer paces itself to a slow client. A client
 * that closes its side while a body streams is taken as gone. */
typedef enum { HTTP_STREAM_DONE, HTTP_STREAM_NO_BODY, HTTP_STREAM_GONE } http_stream_end_t;
typedef struct http_stream_cbs {
    void (*written)(void *arg, size_t n);
    void (*finished)(void *arg, http_stream_end_t how);
} http_stream_cbs_t;

/* Answers the request the callback was given with a streamed response.
 * Takes ownership of res (its body is ignored; Content-Length and
 * Transfer-Encoding are ours). Returns 0, or -1 when the connection is
 * already gone (no callback will come, and stream_end must not be called). */
int http_conn_stream_begin(http_conn_t *conn, http_response_t *res, const http_stream_cbs_t *cbs,
                           void *arg);
/* Queues n body bytes (copied); empty pieces and pieces after the end or
 * after the client went away are dropped. */
void http_conn_stream_write(http_conn_t *conn, const uint8_t *p, size_t n);
/* Ends the body. complete: the last chunk is written and the connection
 * goes on to the next request. Otherwise the connection is closed at once,
 * so the client sees a truncated body. */
void http_conn_stream_end(http_conn_t *conn, bool complete);

#endif
