/* WebSocket connections (RFC 6455, server side) on libuv, framed by wslay.
 *
 * A connection starts after the HTTP upgrade: it takes the socket (a TCP
 * handle on this loop, or a descriptor moved from another shard) and the
 * bytes the client sent behind its request. wslay parses and validates
 * frames (masking, fragmentation, control frames between fragments, UTF-8
 * of text messages, the message size limit) and answers pings and close
 * frames itself; this layer adds the transport: reading, a bounded send
 * queue, keep-alive pings, and the end of the connection.
 *
 * Callbacks run on the loop's thread. `message` is called for each complete
 * data message. `closed` is called exactly once, when the connection is over
 * for whatever reason; the connection is freed right after it returns.
 * Depends on lib/, libuv and wslay only. */
#ifndef DORM_NET_WS_H
#define DORM_NET_WS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ws_conn ws_conn_t;

typedef struct ws_limits {
    size_t max_message;        /* a bigger incoming message closes with 1009. Default 32 MiB */
    size_t max_queued;         /* bytes waiting for a slow reader; past it close 1013. Default 16 MiB */
    uint64_t ping_interval_ms; /* a ping after this long without a byte from the peer; a peer
                                  silent for two intervals is dropped. Default 30 s */
    uint64_t close_timeout_ms; /* how long a close handshake may take. Default 5 s */
} ws_limits_t;

void ws_limits_default(ws_limits_t *l);

/* Why the connection ended, for `closed`. */
typedef struct ws_end {
    int code;             /* from the peer's close frame; 1005: it had no code; 1006: none came */
    const uint8_t *reason; /* the peer's close reason (UTF-8), valid during the call */
    size_t reason_len;
    bool clean;           /* both close frames were exchanged */
    int sent_code;        /* the code of our close frame, 0 if we sent none */
    const char *error;    /* NULL, or what went wrong (protocol error, slow reader, ...) */
} ws_end_t;

typedef struct ws_callbacks {
    void (*message)(ws_conn_t *c, bool binary, const uint8_t *data, size_t len, void *arg);
    void (*closed)(ws_conn_t *c, const ws_end_t *end, void *arg);
} ws_callbacks_t;

/* Starts a connection on tcp, a handle of loop that the caller gives away
 * (malloc'ed; it is closed and freed with the connection), or on fd when
 * tcp is NULL (a connected socket from another loop, which the connection
 * now owns). head holds the bytes received after the upgrade request.
 * Returns NULL only when the descriptor cannot be used (then it is closed
 * and no callback comes). */
ws_conn_t *ws_conn_new(uv_loop_t *loop, uv_tcp_t *tcp, int fd, const uint8_t *head,
                       size_t head_len, const ws_limits_t *limits, const ws_callbacks_t *cb,
                       void *arg);

/* Queues a message. Returns 0, or -1 when the connection is closing or
 * closed (nothing is sent). When the queue for this client passes
 * max_queued the connection is closed with 1013 and a logged reason. */
int ws_conn_send(ws_conn_t *c, bool binary, const uint8_t *data, size_t len);
/* Starts the close handshake with code (1000-4999, not 1004-1006 or 1015)
 * and a reason of at most 123 bytes; code 0 sends a close frame without a
 * code. Does nothing when a close frame was already sent. */
void ws_conn_close(ws_conn_t *c, int code, const char *reason, size_t reason_len);
/* Drops the TCP connection at once (no close frame). `closed` still comes. */
void ws_conn_abort(ws_conn_t *c, const char *why);
/* Stops or resumes reading from the client (flow control: the caller is
 * behind with the messages it was given). */
void ws_conn_set_reading(ws_conn_t *c, bool on);
/* Bytes waiting to be written to this client. */
size_t ws_conn_queued(const ws_conn_t *c);
/* The peer's address, "127.0.0.1:53412". */
const char *ws_conn_peer(const ws_conn_t *c);
void ws_conn_set_arg(ws_conn_t *c, void *arg);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2): base64 of
 * SHA-1(key + GUID), 28 characters + NUL. */
void ws_accept_key(const char *key, size_t key_len, char out[29]);
/* True when key is the base64 form of 16 bytes, as a handshake requires. */
bool ws_key_valid(const char *key, size_t key_len);

/* For the fuzz target: runs wslay's server-side frame reader over bytes as
 * if a client had sent them, and reports the messages it yields. Returns
 * the number of complete data messages, or -1 once the stream was found
 * invalid (with the close code wslay chose in *close_code). */
int ws_parse_for_test(const uint8_t *data, size_t len, size_t max_message, int *close_code);

#endif
