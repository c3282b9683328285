/* WebSocket connections on libuv (see ws.h). wslay does the protocol; this
 * file moves bytes between it and the socket, bounds what a slow reader can
 * make us hold, keeps idle connections alive with pings, and ends the
 * connection exactly once. Depends on lib/, libuv, wslay and libcrypto (the
 * handshake's SHA-1) only. */
#include "ws.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/mem.h"

struct ws_conn {
    uv_loop_t *loop;
    uv_tcp_t *tcp;
    uv_timer_t timer;
    int open_handles; /* tcp and timer; the connection is freed when both closed */
    wslay_event_context_ptr wctx;
    ws_limits_t limits;
    ws_callbacks_t cb;
    void *arg;
    buf_t in;            /* received, not yet taken by wslay */
    size_t in_off;
    buf_t out;           /* what one wslay_event_send pass produced */
    bool reading;
    bool peer_eof;
    bool close_received; /* the peer's close frame */
    int peer_code;
    buf_t peer_reason;
    bool we_closed;      /* ws_conn_close asked for a close frame */
    bool ended;          /* `closed` was called: the caller is gone */
    bool in_recv;        /* inside wslay_event_recv: tearing down must wait */
    bool lingering;      /* our close is out after a failure: waiting for EOF */
    bool end_pending;
    const char *error;
    char errbuf[200];
    uint64_t last_rx_ms;
    bool ping_outstanding;
    uint64_t deadline_ms; /* 0, or when a close in progress gives up */
    char peer[64];
};

typedef struct wreq {
    uv_write_t req;
    ws_conn_t *c;
    uint8_t *data;
} wreq_t;

void ws_limits_default(ws_limits_t *l)
{
    l->max_message = 32u << 20;
    l->max_queued = 16u << 20;
    l->ping_interval_ms = 30000;
    l->close_timeout_ms = 5000;
}

static void conn_end(ws_conn_t *c);
static void conn_flush(ws_conn_t *c);
static void on_timer(uv_timer_t *t);

/* ---- wslay callbacks ---------------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    ws_conn_t *c = user;
    size_t avail = c->in.len - c->in_off;
    if (avail == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = avail < len ? avail : len;
    memcpy(buf, c->in.data + c->in_off, n);
    c->in_off += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    ws_conn_t *c = user;
    buf_append(&c->out, data, len);
    return (ssize_t)len;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *user)
{
    ws_conn_t *c = user;
    switch (a->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (!c->ended && !c->we_closed && c->cb.message)
            c->cb.message(c, a->opcode == WSLAY_BINARY_FRAME, a->msg, a->msg_length, c->arg);
        break;
    case WSLAY_CONNECTION_CLOSE:
        c->close_received = true;
        c->peer_code = a->status_code ? a->status_code : 1005;
        buf_reset(&c->peer_reason);
        /* The payload is the 2-byte code, then the reason. */
        if (a->msg_length > 2)
            buf_append(&c->peer_reason, a->msg + 2, a->msg_length - 2);
        break;
    case WSLAY_PONG:
        c->ping_outstanding = false;
        break;
    default:
        break; /* pings are answered by wslay */
    }
}

/* ---- handles and the end ------------------------------------------------------ */

static void conn_free(ws_conn_t *c)
{
    wslay_event_context_free(c->wctx);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    buf_deinit(&c->peer_reason);
    free(c);
}

static void on_tcp_closed(uv_handle_t *h)
{
    ws_conn_t *c = h->data;
    free(h);
    if (--c->open_handles == 0)
        conn_free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    ws_conn_t *c = h->data;
    if (--c->open_handles == 0)
        conn_free(c);
}

static const char *close_code_error(int code)
{
    switch (code) {
    case 1002:
        return "the client broke the WebSocket protocol (for example an unmasked frame)";
    case 1007:
        return "the client sent a text message that is not valid UTF-8";
    case 1009:
        return "the client sent a message over the size limit";
    default:
        return "the WebSocket connection failed";
    }
}

/* Reports the end once, then closes the socket and the timer. */
static void conn_end(ws_conn_t *c)
{
    if (c->ended)
        return;
    if (c->in_recv) {
        c->end_pending = true;
        return;
    }
    c->ended = true;
    int sent = wslay_event_get_close_sent(c->wctx) ? wslay_event_get_status_code_sent(c->wctx)
                                                   : 0;
    if (sent == WSLAY_CODE_NO_STATUS_RCVD)
        sent = 1005;
    /* wslay closed for a protocol error the peer made, not for us. */
    if (!c->error && sent && !c->we_closed && !c->close_received)
        c->error = close_code_error(sent);
    ws_end_t end = {
        .code = c->close_received ? c->peer_code : 1006,
        .reason = c->close_received ? c->peer_reason.data : NULL,
        .reason_len = c->close_received ? c->peer_reason.len : 0,
        .clean = c->close_received && sent != 0 && !c->error,
        .sent_code = sent,
        .error = c->error,
    };
    if (c->cb.closed)
        c->cb.closed(c, &end, c->arg);
    if (c->reading)
        uv_read_stop((uv_stream_t *)c->tcp);
    c->reading = false;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)c->tcp, on_tcp_closed);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void ws_conn_abort(ws_conn_t *c, const char *why)
{
    if (c->ended)
        return;
    if (why && !c->error) {
        snprintf(c->errbuf, sizeof c->errbuf, "%s", why);
        c->error = c->errbuf;
    }
    conn_end(c);
}

/* Whether the connection has nothing more to do: closes exchanged (or ours
 * sent after a failure) and every byte written. */
static void on_shutdown(uv_shutdown_t *r, int status)
{
    free(r);
}

static void conn_maybe_finish(ws_conn_t *c)
{
    if (c->ended || uv_stream_get_write_queue_size((uv_stream_t *)c->tcp) > 0 || c->out.len)
        return;
    bool sent = wslay_event_get_close_sent(c->wctx);
    bool failed = sent && !c->close_received && (!c->we_closed || c->error);
    if ((sent && c->close_received) || (c->peer_eof && !wslay_event_want_write(c->wctx))) {
        conn_end(c);
        return;
    }
    if (failed && !c->error) {
        int code = wslay_event_get_status_code_sent(c->wctx);
        c->error = close_code_error(code); /* wslay failed it for the peer's fault */
    }
    if (failed && !c->lingering && !c->peer_eof) {
        /* Closing now, with the client's bytes still arriving, would reset
         * the connection and could destroy our close frame before the client
         * reads it: send FIN, then drop what comes until EOF or the deadline. */
        c->lingering = true;
        uv_shutdown_t *r = xcalloc(1, sizeof *r);
        if (uv_shutdown(r, (uv_stream_t *)c->tcp, on_shutdown) != 0) {
            free(r);
            conn_end(c);
        }
    }
}

/* ---- writing ------------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
    wreq_t *r = (wreq_t *)w;
    ws_conn_t *c = r->c;
    free(r->data);
    free(r);
    if (c->ended)
        return;
    if (status < 0) {
        ws_conn_abort(c, NULL); /* the peer is gone: a 1006 end */
        return;
    }
    conn_maybe_finish(c);
}

/* Hands whatever wslay has queued to the socket. */
static void conn_flush(ws_conn_t *c)
{
    if (c->ended)
        return;
    if (wslay_event_want_write(c->wctx) && wslay_event_send(c->wctx) < 0) {
        ws_conn_abort(c, "cannot encode a WebSocket frame");
        return;
    }
    if (c->out.len == 0) {
        conn_maybe_finish(c);
        return;
    }
    wreq_t *r = xcalloc(1, sizeof *r);
    r->c = c;
    size_t len;
    r->data = buf_steal(&c->out, &len);
    uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)len);
    if (uv_write(&r->req, (uv_stream_t *)c->tcp, &b, 1, on_write) < 0) {
        free(r->data);
        free(r);
        ws_conn_abort(c, NULL);
        return;
    }
    if (wslay_event_get_close_sent(c->wctx) && !c->deadline_ms) {
        /* The close frame is on its way: the peer has this long to answer
         * (or to take the bytes). */
        c->deadline_ms = uv_now(c->loop) + c->limits.close_timeout_ms;
        uv_timer_start(&c->timer, on_timer, c->limits.close_timeout_ms, 0);
    }
}

size_t ws_conn_queued(const ws_conn_t *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp) + c->out.len;
}

int ws_conn_send(ws_conn_t *c, bool binary, const uint8_t *data, size_t len)
{
    if (c->ended || c->we_closed || wslay_event_get_close_sent(c->wctx) ||
        !wslay_event_get_write_enabled(c->wctx))
        return -1;
    if (ws_conn_queued(c) + len > c->limits.max_queued && ws_conn_queued(c) > 0) {
        /* The client does not read: say so, and do not hold more. */
        snprintf(c->errbuf, sizeof c->errbuf,
                 "the client at %s does not read its messages (%zu bytes waiting, the limit is "
                 "%zu): closed with 1013",
                 c->peer, ws_conn_queued(c), c->limits.max_queued);
        c->error = c->errbuf;
        log_warn("ws", "%s", c->errbuf);
        ws_conn_close(c, 1013, "client too slow to read", 23);
        return -1;
    }
    struct wslay_event_msg m = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len};
    if (wslay_event_queue_msg(c->wctx, &m) != 0)
        return -1;
    conn_flush(c);
    return 0;
}

void ws_conn_close(ws_conn_t *c, int code, const char *reason, size_t reason_len)
{
    if (c->ended || c->we_closed || wslay_event_get_close_sent(c->wctx))
        return;
    c->we_closed = true;
    if (reason_len > 123)
        reason_len = 123;
    wslay_event_queue_close(c->wctx, (uint16_t)code, (const uint8_t *)reason,
                            code ? reason_len : 0);
    conn_flush(c);
}

/* ---- reading --------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    ws_conn_t *c = h->data;
    buf_reserve(&c->in, 16384);
    buf->base = (char *)c->in.data + c->in.len;
    buf->len = 16384;
}

static void conn_process(ws_conn_t *c)
{
    c->in_recv = true;
    int rc = wslay_event_recv(c->wctx);
    c->in_recv = false;
    /* Keep only what wslay did not take. */
    if (c->in_off == c->in.len) {
        buf_reset(&c->in);
        c->in_off = 0;
    } else if (c->in_off > 65536) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    if (c->end_pending) {
        conn_end(c);
        return;
    }
    if (rc < 0) {
        ws_conn_abort(c, "the WebSocket connection failed while reading");
        return;
    }
    conn_flush(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    ws_conn_t *c = st->data;
    if (c->ended)
        return;
    if (n > 0) {
        c->in.len += (size_t)n;
        c->last_rx_ms = uv_now(c->loop);
        c->ping_outstanding = false;
        if (wslay_event_want_read(c->wctx)) {
            conn_process(c);
        } else {
            /* Nothing more is read after a close frame or a failure. */
            buf_reset(&c->in);
            c->in_off = 0;
        }
        return;
    }
    if (n == 0)
        return;
    c->peer_eof = true;
    if (c->reading) {
        uv_read_stop(st);
        c->reading = false;
    }
    if (n != UV_EOF) {
        ws_conn_abort(c, NULL);
        return;
    }
    /* EOF: whatever the state, the connection is over once our bytes are
     * out (there may be none to wait for). */
    if (!c->close_received)
        ws_conn_abort(c, NULL);
    else
        conn_maybe_finish(c);
}

/* ---- keep-alive and deadlines ------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    ws_conn_t *c = t->data;
    if (c->ended)
        return;
    uint64_t now = uv_now(c->loop);
    if (c->deadline_ms) {
        if (now >= c->deadline_ms) {
            ws_conn_abort(c, c->close_received || c->we_closed ? NULL
                                                                : "the close handshake timed out");
            return;
        }
        uv_timer_start(&c->timer, on_timer, c->deadline_ms - now, 0);
        return;
    }
    uint64_t iv = c->limits.ping_interval_ms;
    if (now - c->last_rx_ms >= 2 * iv && c->ping_outstanding) {
        char why[160];
        snprintf(why, sizeof why, "the client at %s did not answer a ping for %llu ms", c->peer,
                 (unsigned long long)(now - c->last_rx_ms));
        ws_conn_abort(c, why);
        return;
    }
    if (now - c->last_rx_ms >= iv && !c->ping_outstanding) {
        struct wslay_event_msg m = {WSLAY_PING, NULL, 0};
        if (wslay_event_queue_msg(c->wctx, &m) == 0) {
            c->ping_outstanding = true;
            conn_flush(c);
            if (c->ended)
                return;
        }
    }
    uint64_t since = now - c->last_rx_ms;
    uint64_t next = since >= iv ? iv : iv - since;
    uv_timer_start(&c->timer, on_timer, next ? next : 1, 0);
}

/* ---- creation ------------------------------------------------------------------------- */

static const struct wslay_event_callbacks wslay_cbs = {
    recv_cb, send_cb, NULL, NULL, NULL, NULL, msg_cb,
};

static void format_peer(ws_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[48] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
    }
}

ws_conn_t *ws_conn_new(uv_loop_t *loop, uv_tcp_t *tcp, int fd, const uint8_t *head,
                       size_t head_len, const ws_limits_t *limits, const ws_callbacks_t *cb,
                       void *arg)
{
    if (!tcp) {
        tcp = xmalloc(sizeof *tcp);
        if (uv_tcp_init(loop, tcp) != 0 || uv_tcp_open(tcp, fd) != 0) {
            /* An initialized handle must be closed; a failed open leaves fd ours. */
            close(fd);
            uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
            return NULL;
        }
    }
    ws_conn_t *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->tcp = tcp;
    tcp->data = c;
    if (limits)
        c->limits = *limits;
    else
        ws_limits_default(&c->limits);
    if (cb)
        c->cb = *cb;
    c->arg = arg;
    c->open_handles = 2;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    if (wslay_event_context_server_init(&c->wctx, &wslay_cbs, c) != 0) {
        fprintf(stderr, "dorm: out of memory\n");
        abort();
    }
    wslay_event_config_set_max_recv_msg_length(c->wctx, c->limits.max_message);
    uv_tcp_nodelay(tcp, 1);
    format_peer(c);
    c->last_rx_ms = uv_now(loop);
    if (head_len)
        buf_append(&c->in, head, head_len);
    if (uv_read_start((uv_stream_t *)tcp, on_alloc, on_read) == 0)
        c->reading = true;
    uv_timer_start(&c->timer, on_timer, c->limits.ping_interval_ms, 0);
    if (head_len)
        conn_process(c);
    return c;
}

void ws_conn_set_reading(ws_conn_t *c, bool on)
{
    if (c->ended || c->peer_eof || on == c->reading)
        return;
    if (on) {
        if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else {
        uv_read_stop((uv_stream_t *)c->tcp);
        c->reading = false;
    }
}

const char *ws_conn_peer(const ws_conn_t *c)
{
    return c->peer;
}

void ws_conn_set_arg(ws_conn_t *c, void *arg)
{
    c->arg = arg;
}

/* ---- the handshake ---------------------------------------------------------------------- */

void ws_accept_key(const char *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[20];
    unsigned int mdlen = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    if (!x || !EVP_DigestInit_ex(x, EVP_sha1(), NULL) || !EVP_DigestUpdate(x, key, key_len) ||
        !EVP_DigestUpdate(x, guid, sizeof guid - 1) || !EVP_DigestFinal_ex(x, md, &mdlen)) {
        fprintf(stderr, "dorm: SHA-1 unavailable in libcrypto\n");
        abort();
    }
    EVP_MD_CTX_free(x);
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    out[28] = '\0';
}

bool ws_key_valid(const char *key, size_t key_len)
{
    /* 16 bytes in base64: 22 characters and "==". */
    if (key_len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++) {
        char ch = key[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return false;
    }
    /* The last character before the padding carries 2 bits: its low 4 are 0. */
    static const char last[] = "AQgw";
    return strchr(last, key[21]) != NULL;
}

/* ---- fuzzing ------------------------------------------------------------------------------- */

typedef struct parse_state {
    const uint8_t *p;
    size_t left;
    int messages;
} parse_state_t;

static ssize_t test_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                         void *user)
{
    parse_state_t *s = user;
    if (s->left == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    /* Odd-sized pieces, so frames are split at every kind of boundary. */
    size_t n = len < s->left ? len : s->left;
    if (n > 7)
        n = n / 2 + 1;
    memcpy(buf, s->p, n);
    s->p += n;
    s->left -= n;
    return (ssize_t)n;
}

static ssize_t test_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                         void *user)
{
    return (ssize_t)len;
}

static void test_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                     void *user)
{
    parse_state_t *s = user;
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME)
        s->messages++;
}

int ws_parse_for_test(const uint8_t *data, size_t len, size_t max_message, int *close_code)
{
    static const struct wslay_event_callbacks cbs = {test_recv, test_send, NULL, NULL,
                                                     NULL,      NULL,      test_msg};
    parse_state_t s = {data, len, 0};
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &cbs, &s) != 0)
        abort();
    wslay_event_config_set_max_recv_msg_length(ctx, max_message);
    int rc = 0;
    while (s.left > 0 && wslay_event_want_read(ctx)) {
        if (wslay_event_recv(ctx) < 0) {
            rc = -1;
            break;
        }
        wslay_event_send(ctx);
    }
    wslay_event_send(ctx);
    *close_code = wslay_event_get_close_sent(ctx) ? wslay_event_get_status_code_sent(ctx) : 0;
    if (*close_code && *close_code != 1000)
        rc = -1;
    wslay_event_context_free(ctx);
    return rc < 0 ? -1 : s.messages;
}
