/* HTTP/1.1 server connections on libuv (see http.h): accept, read, parse with
 * http_parse, hand one request at a time to the callback, write responses,
 * enforce timeouts and back-pressure. One server per loop (per shard) and no
 * global mutable state. Depends on lib/, libuv and http_parse only; it knows
 * nothing of what a request means. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "http_parse.h"

#define READ_CHUNK ((size_t)64 * 1024)
/* Past this many unparsed bytes waiting behind the request being handled,
 * the connection stops reading: a pipelining client cannot make us buffer
 * without bound while we are busy. */
#define MAX_PENDING ((size_t)1 << 20)
/* After an error response the client may still be sending (a refused body):
 * we stop writing, drain what it sends for this long, then close. Closing at
 * once would make the kernel answer with RST, and the client could lose the
 * error response before reading it. */
#define LINGER_MS 2000
#define LISTEN_BACKLOG 1024
#define BODY_PIECE ((size_t)1 << 30)
#define MAX_BODY_PIECES 8

enum timer_kind {
    TK_NONE = 0,
    TK_FIRST,     /* connected, nothing sent yet: close quietly */
    TK_KEEPALIVE, /* idle between requests: close quietly */
    TK_HEADERS,   /* request line and headers too slow: 408 */
    TK_BODY,      /* body stalled: 408 */
    TK_WRITE,     /* the client does not take our bytes: close */
    TK_LINGER,    /* draining after an error response: close */
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    http_limits_t limits;
    http_request_cb cb;
    void *data;
    http_conn_t *conns; /* every connection not yet freed */
    size_t nconns;
    int port;
    bool closing;
    bool listener_closed;
    /* Out of file descriptors, accept() fails at once and libuv would call
     * us again and again: the listener handle is closed for a while instead,
     * while spare_fd (a dup of the socket) keeps the port bound and the
     * backlog queueing. */
    int spare_fd;
    bool paused;        /* the listener handle is closed or closing for a pause */
    bool listener_down; /* ... and its close has finished */
    uv_timer_t resume;
    bool resume_closed;
    uint64_t emfile_logged_ms;
    void (*close_cb)(void *data);
    void *close_data;
    time_t date_sec;  /* the second date_line was formatted for */
    char date_line[48]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
    size_t date_len;
    /* Every read lands here first. libuv calls alloc and read back to back
     * for one stream, and the bytes are parsed before the callback returns,
     * so one buffer per loop serves every connection; only bytes that must
     * wait are copied into the connection. Idle connections cost no buffer. */
    char readbuf[READ_CHUNK];
};

struct http_conn {
    http_server_t *srv;
    http_conn_t *prev, *next;
    uv_tcp_t *tcp; /* heap: http_conn_upgrade may give it away */
    uv_timer_t timer;
    int open_handles; /* tcp + timer until their close callbacks ran */
    http_parse_t parser;
    buf_t in;      /* bytes received but not parsed yet */
    size_t in_off; /* in.data[in_off..] is still to parse */
    char peer[64];

    /* The request out with the callback. */
    bool busy;
    bool cur_head;
    bool cur_keep_alive;
    int cur_minor;

    /* The response being written: one at a time. */
    bool writing;
    uv_write_t wreq;
    buf_t head;             /* status line + headers, reused between responses */
    http_response_t *out;   /* owns the body bytes until the write callback */
    size_t wq_seen;         /* write queue size at the last progress check */
    uint64_t write_progress_ms;
    uv_write_t creq;        /* "100 Continue" */
    uv_shutdown_t sreq;     /* lingering close */

    bool reading;
    bool peer_eof;
    bool close_after_write;
    bool linger_after_write;
    bool lingering;
    bool closing; /* uv_close called */
    bool served;  /* at least one response written: idle uses keepalive_timeout */

    enum timer_kind armed_kind;
    uint64_t armed_at; /* loop time the armed timer fires */
    uint64_t req_start_ms;
    uint64_t req_start_ns;
    uint64_t last_read_ms;
    uint64_t idle_since_ms;
    uint64_t linger_since_ms;

    http_upgrade_cb upgrade_cb;
    void *upgrade_arg;

    /* A streamed response (http_conn_stream_begin): the head, then body
     * pieces as the caller gives them, then the end. busy stays set until
     * the caller ends it, so the connection outlives a vanished client. */
    bool streaming;
    bool stream_chunked;   /* chunked framing; else the body ends with the connection */
    bool stream_nobody;    /* HEAD, 204, 304: the head is all there is */
    bool stream_ended;     /* the caller called http_conn_stream_end */
    bool stream_finished;  /* the finished callback has run */
    int stream_writes;     /* uv_write requests in flight */
    const http_stream_cbs_t *stream_cbs;
    void *stream_arg;
};

static void conn_close(http_conn_t *c);
static void stream_finish(http_conn_t *c, http_stream_end_t how);
static void conn_arm_timer(http_conn_t *c);
static void conn_feed_pending(http_conn_t *c);
static void conn_write(http_conn_t *c, http_response_t *res);

void http_limits_default(http_limits_t *l)
{
    l->max_header_bytes = 64 * 1024;
    l->max_body_bytes = (size_t)100 * 1024 * 1024;
    l->header_timeout_ms = 10000;
    l->body_timeout_ms = 30000;
    l->keepalive_timeout_ms = 60000;
    l->write_timeout_ms = 30000;
}

/* --- freeing (only from close callbacks, or from a late respond) ---------- */

static void server_maybe_finish(http_server_t *s)
{
    if (!s->closing || !s->listener_closed || !s->resume_closed || s->nconns > 0)
        return;
    if (s->close_cb)
        s->close_cb(s->close_data);
    free(s);
}

static void conn_maybe_free(http_conn_t *c)
{
    /* A request handed out keeps the connection alive: its answer will come
     * through http_conn_respond, which frees it then. */
    if (c->open_handles > 0 || c->busy)
        return;
    http_server_t *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    http_parse_deinit(&c->parser);
    buf_deinit(&c->in);
    buf_deinit(&c->head);
    http_response_free(c->out);
    free(c);
    server_maybe_finish(s);
}

static void on_tcp_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    free(h);
    c->open_handles--;
    conn_maybe_free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    c->open_handles--;
    conn_maybe_free(c);
}

static void conn_close(http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    if (c->streaming)
        stream_finish(c, HTTP_STREAM_GONE);
    /* Pending writes are cancelled by uv_close; their callbacks run before
     * the close callbacks, so nothing is freed under them. */
    if (c->tcp)
        uv_close((uv_handle_t *)c->tcp, on_tcp_closed);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* --- writing ---------------------------------------------------------------- */

static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The Date header changes once a second; formatting it per response would be
 * waste, so each server (one per loop) keeps the current line. */
static void date_refresh(http_server_t *s)
{
    time_t now = time(NULL);
    if (now == s->date_sec && s->date_len)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(s->date_line, sizeof s->date_line,
                     "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", wday[tm.tm_wday % 7],
                     tm.tm_mday, month[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    s->date_len = n > 0 && (size_t)n < sizeof s->date_line ? (size_t)n : 0;
    s->date_sec = now;
}

static void put_uint(buf_t *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, tmp + i, sizeof tmp - i);
}

static bool name_is(const http_header_t *h, const char *name, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

/* A caller's header may not break the framing we own: a name that is not a
 * token, or a CR/LF/NUL anywhere, would let it inject headers or a body. */
static bool header_is_safe(const http_header_t *h)
{
    if (h->name_len == 0)
        return false;
    for (size_t i = 0; i < h->name_len; i++) {
        unsigned char c = (unsigned char)h->name[i];
        if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    for (size_t i = 0; i < h->value_len; i++) {
        unsigned char c = (unsigned char)h->value[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    }
    return true;
}


static void on_write_done(uv_write_t *w, int status);
static void conn_after_response(http_conn_t *c);

enum framing {
    FRAME_LENGTH, /* Content-Length: the whole body is at hand */
    FRAME_STREAM, /* chunked (HTTP/1.1), or until the connection closes (HTTP/1.0) */
};

/* Serializes res's status line and headers into c->head with the framing
 * headers for the given framing, and decides (and says) whether the
 * connection stays open afterwards. Returns true when the response carries
 * no body bytes by its status (1xx, 204, 304). */
static bool conn_head(http_conn_t *c, http_response_t *res, enum framing framing)
{
    http_server_t *s = c->srv;
    buf_t *h = &c->head;
    int status = res->status;
    bool upgrading = c->upgrade_cb != NULL;
    bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
    bool caller_close = false;

    buf_reset(h);
    buf_reserve(h, 256);
    buf_puts(h, "HTTP/1.1 ");
    put_uint(h, (uint64_t)status);
    buf_putc(h, ' ');
    const char *reason = res->reason;
    if (reason) {
        for (const char *p = reason; *p; p++)
            if ((unsigned char)*p < ' ' || *p == 0x7f)
                reason = NULL;
    }
    buf_puts(h, reason ? reason : http_status_reason(status));
    buf_puts(h, "\r\n");
    for (size_t i = 0; i < res->nheaders; i++) {
        const http_header_t *hd = &res->headers[i];
        /* Framing headers are ours; the caller's copies are dropped so they
         * can never disagree with the bytes we send. */
        if (name_is(hd, "content-length", 14) || name_is(hd, "transfer-encoding", 17) ||
            name_is(hd, "date", 4) || name_is(hd, "keep-alive", 10))
            continue;
        if (name_is(hd, "connection", 10)) {
            if (util_has_token(hd->value, "close"))
                caller_close = true;
            if (status != 101)
                continue;
        }
        if (!header_is_safe(hd))
            continue;
        buf_append(h, hd->name, hd->name_len);
        buf_append(h, ": ", 2);
        buf_append(h, hd->value, hd->value_len);
        buf_append(h, "\r\n", 2);
    }
    date_refresh(s);
    buf_append(h, s->date_line, s->date_len);
    /* A body handed over with the socket (server-sent events) has neither
     * framing: it ends when the connection does. */
    bool raw_stream = res->stream && upgrading;
    if (!no_body && !raw_stream && framing == FRAME_LENGTH) {
        buf_puts(h, "Content-Length: ");
        put_uint(h, res->body.len);
        buf_puts(h, "\r\n");
    } else if (!no_body && !raw_stream && c->cur_minor >= 1) {
        buf_puts(h, "Transfer-Encoding: chunked\r\n");
        c->stream_chunked = true;
    } else if (!no_body && !raw_stream) {
        /* An HTTP/1.0 client learns where a streamed body ends when the
         * connection closes. */
        c->close_after_write = true;
    }
    if (raw_stream)
        buf_puts(h, "Connection: close\r\n"); /* the body ends when the socket does */
    if (!upgrading) {
        /* A half-closed client gets answers to every request it sent; the
         * last one, with nothing left to parse, says the connection ends. */
        bool last_of_eof = c->peer_eof && c->in.len == c->in_off;
        bool keep = c->cur_keep_alive && !caller_close && !s->closing && !last_of_eof &&
                    !c->close_after_write && !c->linger_after_write && status != 101;
        if (!keep) {
            c->close_after_write = true;
            if (status != 101) /* a 101 carries the caller's Connection */
                buf_puts(h, "Connection: close\r\n");
        } else if (c->cur_minor == 0) {
            buf_puts(h, "Connection: keep-alive\r\n");
        }
    }
    buf_puts(h, "\r\n");
    return no_body;
}

/* Serializes res and starts writing it: one uv_write of the header block and
 * the body. Takes ownership of res. Whether the connection stays open is
 * decided here, and said in the response. */
static void conn_write(http_conn_t *c, http_response_t *res)
{
    http_server_t *s = c->srv;
    buf_t *h = &c->head;
    if (res->status < 100 || res->status > 999 || res->body.len > BODY_PIECE * MAX_BODY_PIECES) {
        http_response_free(res);
        res = http_response_error(500, "INTERNAL", "the response was invalid (bad status or "
                                                   "a body over 8 GiB)");
    }
    bool no_body = conn_head(c, res, FRAME_LENGTH);

    /* uv_buf_t lengths are 32-bit: a huge body goes out in 1 GiB pieces. */
    uv_buf_t bufs[1 + MAX_BODY_PIECES];
    unsigned nbufs = 1;
    bufs[0] = uv_buf_init((char *)h->data, (unsigned)h->len);
    if (!no_body && !c->cur_head) {
        for (size_t off = 0; off < res->body.len && nbufs <= MAX_BODY_PIECES; off += BODY_PIECE) {
            size_t n = res->body.len - off < BODY_PIECE ? res->body.len - off : BODY_PIECE;
            bufs[nbufs++] = uv_buf_init((char *)res->body.data + off, (unsigned)n);
        }
    }
    c->out = res;
    c->writing = true;
    c->served = true;
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)c->tcp, bufs, nbufs, on_write_done);
    if (rc < 0) {
        /* No callback will come: undo and drop the connection. */
        c->writing = false;
        http_response_free(c->out);
        c->out = NULL;
        if (c->upgrade_cb) {
            http_upgrade_cb cb = c->upgrade_cb;
            c->upgrade_cb = NULL;
            cb(NULL, NULL, 0, c->upgrade_arg);
        }
        conn_close(c);
        return;
    }
    c->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
    c->write_progress_ms = uv_now(s->loop);
    conn_arm_timer(c);
}

/* An error found by the layer itself (malformed request, limit, timeout):
 * answer with the JSON error and close, lingering so the client can read it. */
static void conn_fail(http_conn_t *c, int status, const char *code, const char *message)
{
    c->cur_head = false;
    c->cur_keep_alive = false;
    c->cur_minor = 1;
    c->linger_after_write = true;
    conn_write(c, http_response_error(status, code, message));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

static void conn_read_start(http_conn_t *c)
{
    if (c->reading || c->closing || c->peer_eof || !c->tcp)
        return;
    if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

static void conn_read_stop(http_conn_t *c)
{
    if (!c->reading)
        return;
    uv_read_stop((uv_stream_t *)c->tcp);
    c->reading = false;
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    (void)r;
    (void)status; /* lingering ends by EOF, error or timer */
}

static void conn_hand_over(http_conn_t *c)
{
    http_upgrade_cb cb = c->upgrade_cb;
    void *arg = c->upgrade_arg;
    uv_tcp_t *tcp = c->tcp;
    c->upgrade_cb = NULL;
    conn_read_stop(c);
    c->tcp = NULL;
    c->open_handles--;
    tcp->data = NULL;
    const uint8_t *rest = c->in.data ? c->in.data + c->in_off : NULL;
    cb(tcp, rest, c->in.len - c->in_off, arg);
    conn_close(c); /* only the timer is left to close */
}

static void on_write_done(uv_write_t *w, int status)
{
    http_conn_t *c = w->data;
    c->writing = false;
    http_response_free(c->out);
    c->out = NULL;
    if (c->upgrade_cb && (status < 0 || c->closing || c->peer_eof)) {
        http_upgrade_cb cb = c->upgrade_cb;
        c->upgrade_cb = NULL;
        cb(NULL, NULL, 0, c->upgrade_arg);
    }
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->upgrade_cb) {
        conn_hand_over(c);
        return;
    }
    conn_after_response(c);
}

/* A response has been written in full: linger after an error, close, or
 * go on to the next request. */
static void conn_after_response(http_conn_t *c)
{
    if (c->linger_after_write) {
        c->linger_after_write = false;
        if (c->peer_eof) {
            conn_close(c);
            return;
        }
        c->lingering = true;
        c->linger_since_ms = uv_now(c->srv->loop);
        c->sreq.data = c;
        if (uv_shutdown(&c->sreq, (uv_stream_t *)c->tcp, on_shutdown) != 0) {
            conn_close(c);
            return;
        }
        conn_read_start(c);
        conn_arm_timer(c);
        return;
    }
    if (c->close_after_write || c->srv->closing) {
        conn_close(c);
        return;
    }
    c->idle_since_ms = uv_now(c->srv->loop);
    /* The next request may already be waiting in the buffer. */
    conn_feed_pending(c);
    if (c->closing)
        return;
    if (c->peer_eof && !c->busy && !c->writing) {
        /* Nothing complete is left and nothing more can come. */
        conn_close(c);
        return;
    }
    if (!c->busy && !c->writing && c->in.len - c->in_off <= MAX_PENDING)
        conn_read_start(c);
    conn_arm_timer(c);
}

static void on_continue_done(uv_write_t *w, int status)
{
    (void)w;
    (void)status; /* a failure shows up on the next read or write */
}

static void conn_send_continue(http_conn_t *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)msg, sizeof msg - 1);
    int n = uv_try_write((uv_stream_t *)c->tcp, &b, 1);
    if (n == (int)b.len)
        return;
    if (n > 0) {
        b.base += n;
        b.len -= (unsigned)n;
    }
    /* The previous response's write has finished before this request was
     * parsed, so creq is free and the bytes keep their order. */
    c->creq.data = c;
    uv_write(&c->creq, (uv_stream_t *)c->tcp, &b, 1, on_continue_done);
}

/* --- reading and parsing ------------------------------------------------------ */

static void conn_dispatch(http_conn_t *c)
{
    http_request_t *req = http_parse_take(&c->parser);
    memcpy(req->peer, c->peer, sizeof req->peer);
    req->started_ns = c->req_start_ns;
    c->busy = true;
    c->cur_head = strcmp(req->method, "HEAD") == 0;
    c->cur_keep_alive = req->keep_alive;
    c->cur_minor = req->version_minor;
    conn_arm_timer(c); /* no timeout while the server handles it */
    c->srv->cb(c, req, c->srv->data);
}

/* Parses data[*offp..len) until a request is handed out, an error is
 * answered or the bytes run out, advancing *offp. The offset is advanced
 * before the callback runs, so a synchronous answer sees what is left. */
static void conn_feed(http_conn_t *c, const uint8_t *data, size_t len, size_t *offp)
{
    size_t off = *offp;
    while (!c->busy && !c->writing && !c->closing && !c->lingering) {
        if (http_parse_phase(&c->parser) == HTTP_PHASE_IDLE) {
            if (off == len)
                break;
            c->req_start_ms = uv_now(c->srv->loop);
            c->req_start_ns = uv_hrtime();
        }
        size_t used = 0;
        http_parse_event_t ev = http_parse_feed(&c->parser, data + off, len - off, &used);
        off += used;
        *offp = off;
        if (ev == HTTP_PARSE_MORE)
            break;
        if (ev == HTTP_PARSE_CONTINUE) {
            /* A client that already sends the body does not need the 100. */
            if (off == len)
                conn_send_continue(c);
            continue;
        }
        if (ev == HTTP_PARSE_REQUEST) {
            conn_dispatch(c);
            break;
        }
        conn_fail(c, http_parse_status(&c->parser), http_parse_code(&c->parser),
                  http_parse_message(&c->parser));
        break;
    }
}

static void conn_feed_pending(http_conn_t *c)
{
    if (c->in.len > c->in_off)
        conn_feed(c, c->in.data, c->in.len, &c->in_off);
    if (c->in_off == c->in.len) {
        /* Keep no memory for an idle connection. */
        buf_deinit(&c->in);
        c->in_off = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    http_conn_t *c = h->data;
    buf->base = c->srv->readbuf;
    buf->len = sizeof c->srv->readbuf;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    http_conn_t *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        c->reading = false;
        if (nread == UV_EOF && !c->lingering && !c->streaming) {
            c->peer_eof = true;
            uv_read_stop(st);
            /* A half-closed client may still read: the answers it waits
             * for go out (pipelined ones too), then the connection closes. */
            if (c->busy || c->writing)
                return;
        }
        conn_close(c);
        return;
    }
    c->last_read_ms = uv_now(c->srv->loop);
    if (c->lingering)
        return; /* drained and dropped */
    const uint8_t *data = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    if (c->in.len == c->in_off && !c->busy && !c->writing) {
        size_t used = 0;
        conn_feed(c, data, n, &used);
        if (used < n && !c->closing && http_parse_phase(&c->parser) != HTTP_PHASE_CLOSED) {
            buf_reset(&c->in);
            c->in_off = 0;
            buf_append(&c->in, data + used, n - used);
        }
    } else if (http_parse_phase(&c->parser) != HTTP_PHASE_CLOSED) {
        buf_append(&c->in, data, n);
        if (!c->busy && !c->writing)
            conn_feed_pending(c);
    }
    if (c->closing)
        return;
    if (c->in.len - c->in_off > MAX_PENDING)
        conn_read_stop(c);
    conn_arm_timer(c);
}

/* --- timers ------------------------------------------------------------------ */

/* Which timeout applies now, and when it expires (loop time, ms). */
static enum timer_kind conn_deadline(http_conn_t *c, uint64_t *at)
{
    const http_limits_t *l = &c->srv->limits;
    if (c->closing)
        return TK_NONE;
    if (c->writing) {
        *at = c->write_progress_ms + l->write_timeout_ms;
        return TK_WRITE;
    }
    if (c->lingering) {
        *at = c->linger_since_ms + LINGER_MS;
        return TK_LINGER;
    }
    if (c->busy)
        return TK_NONE;
    switch (http_parse_phase(&c->parser)) {
    case HTTP_PHASE_IDLE:
        if (!c->served) {
            *at = c->idle_since_ms + l->header_timeout_ms;
            return TK_FIRST;
        }
        *at = c->idle_since_ms + l->keepalive_timeout_ms;
        return TK_KEEPALIVE;
    case HTTP_PHASE_HEADERS:
        *at = c->req_start_ms + l->header_timeout_ms;
        return TK_HEADERS;
    case HTTP_PHASE_BODY:
        *at = (c->last_read_ms > c->req_start_ms ? c->last_read_ms : c->req_start_ms) +
              l->body_timeout_ms;
        return TK_BODY;
    default:
        return TK_NONE;
    }
}

static void on_timer(uv_timer_t *t);

static void timer_set(http_conn_t *c, enum timer_kind kind, uint64_t at)
{
    uint64_t now = uv_now(c->srv->loop);
    c->armed_kind = kind;
    c->armed_at = at;
    uv_timer_start(&c->timer, on_timer, at > now ? at - now : 0, 0);
}

/* Re-arming on every read would churn the timer heap; a timer that fires
 * early just looks again, so it is only moved when the deadline came closer
 * or the kind of wait changed. */
static void conn_arm_timer(http_conn_t *c)
{
    uint64_t at = 0;
    enum timer_kind kind = conn_deadline(c, &at);
    if (kind == TK_NONE) {
        if (c->armed_kind != TK_NONE && !c->closing)
            uv_timer_stop(&c->timer);
        c->armed_kind = TK_NONE;
        return;
    }
    if (kind == c->armed_kind && c->armed_at <= at)
        return;
    timer_set(c, kind, at);
}

static void on_timer(uv_timer_t *t)
{
    http_conn_t *c = t->data;
    uint64_t now = uv_now(c->srv->loop);
    uint64_t at = 0;
    c->armed_kind = TK_NONE;
    enum timer_kind kind = conn_deadline(c, &at);
    if (kind == TK_WRITE) {
        /* libuv reports no partial progress, so progress is the write
         * queue shrinking between two looks. */
        size_t q = uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
        if (q < c->wq_seen) {
            c->wq_seen = q;
            c->write_progress_ms = now;
            at = now + c->srv->limits.write_timeout_ms;
        }
    }
    if (kind == TK_NONE)
        return;
    if (at > now) {
        timer_set(c, kind, at);
        return;
    }
    switch (kind) {
    case TK_HEADERS:
        conn_read_stop(c);
        conn_fail(c, 408, "REQUEST_TIMEOUT",
                  "the request headers did not arrive in time; send them without pausing");
        break;
    case TK_BODY:
        conn_read_stop(c);
        conn_fail(c, 408, "REQUEST_TIMEOUT",
                  "the request body stalled; send it without pausing");
        break;
    default:
        conn_close(c);
        break;
    }
}

/* --- accepting ------------------------------------------------------------- */

static void format_peer(http_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
            return;
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void pause_accepting(http_server_t *s);

static void on_connection(uv_stream_t *listener, int status)
{
    http_server_t *s = listener->data;
    if (status == UV_EMFILE || status == UV_ENFILE) {
        pause_accepting(s);
        return;
    }
    if (status < 0 || s->closing || s->paused)
        return;
    http_conn_t *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->tcp = xmalloc(sizeof *c->tcp);
    uv_tcp_init(s->loop, c->tcp);
    c->tcp->data = c;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    http_parse_init(&c->parser, s->limits.max_header_bytes, s->limits.max_body_bytes);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(listener, (uv_stream_t *)c->tcp) != 0) {
        conn_close(c);
        return;
    }
    /* Responses go out in one write each: Nagle would only delay them. */
    uv_tcp_nodelay(c->tcp, 1);
    format_peer(c);
    c->idle_since_ms = uv_now(s->loop);
    conn_read_start(c);
    conn_arm_timer(c);
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (!host || !*host || strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (strchr(host, ':')) {
        char tmp[INET6_ADDRSTRLEN + 2];
        size_t n = strlen(host);
        if (host[0] == '[' && n > 2 && host[n - 1] == ']' && n - 2 < sizeof tmp) {
            memcpy(tmp, host + 1, n - 2);
            tmp[n - 2] = '\0';
            host = tmp;
            return uv_ip6_addr(tmp, port, (struct sockaddr_in6 *)ss);
        }
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
    }
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

static void on_listener_closed(uv_handle_t *h)
{
    http_server_t *s = h->data;
    s->listener_closed = true;
    server_maybe_finish(s);
}

static void on_resume_closed(uv_handle_t *h)
{
    http_server_t *s = h->data;
    s->resume_closed = true;
    server_maybe_finish(s);
}

#define PAUSE_MS 100

static void on_listener_paused(uv_handle_t *h);

static void on_resume(uv_timer_t *t)
{
    http_server_t *s = t->data;
    if (s->closing || !s->paused)
        return;
    int fd = dup(s->spare_fd);
    if (fd < 0) {
        uv_timer_start(&s->resume, on_resume, PAUSE_MS, 0); /* still out of descriptors */
        return;
    }
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    if (uv_tcp_open(&s->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection) != 0) {
        /* Cannot happen with a socket that was listening; try again later. */
        s->listener_down = false;
        uv_close((uv_handle_t *)&s->listener, on_listener_paused);
        return;
    }
    s->paused = false;
    s->listener_down = false;
}

static void on_listener_paused(uv_handle_t *h)
{
    http_server_t *s = h->data;
    s->listener_down = true;
    if (s->closing) {
        s->listener_closed = true;
        server_maybe_finish(s);
        return;
    }
    uv_timer_start(&s->resume, on_resume, PAUSE_MS, 0);
}

static void pause_accepting(http_server_t *s)
{
    if (s->closing || s->paused || s->spare_fd < 0)
        return;
    uint64_t now = uv_now(s->loop);
    if (!s->emfile_logged_ms || now - s->emfile_logged_ms >= 10000) {
        s->emfile_logged_ms = now;
        log_warn("http", "out of file descriptors: not accepting connections for %d ms "
                         "(%zu open; raise the limit with ulimit -n)",
                 PAUSE_MS, s->nconns);
    }
    s->paused = true;
    uv_close((uv_handle_t *)&s->listener, on_listener_paused);
}

int http_port_check(const char *host, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (port < 0 || port > 65535 || parse_addr(host, port, &ss) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: not an IP address and port (use e.g. "
                 "127.0.0.1:8787 or [::1]:8787)", host ? host : "", port);
        return -1;
    }
    if (port == 0)
        return 0;
    /* A socket without SO_REUSEPORT cannot bind where any listener is. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    socklen_t alen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (struct sockaddr *)&ss, alen);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s%s", host ? host : "127.0.0.1", port,
                 strerror(e),
                 e == EADDRINUSE ? " (another program, or another dorm, uses this port; pick "
                                   "another with --listen)"
                                 : "");
        return -1;
    }
    return 0;
}

http_server_t *http_server_listen(uv_loop_t *loop, const char *host, int port,
                                  const http_limits_t *limits, http_request_cb cb, void *data,
                                  char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (port < 0 || port > 65535 || parse_addr(host, port, &ss) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: not an IP address and port (use e.g. "
                 "127.0.0.1:8787 or [::1]:8787)", host ? host : "", port);
        return NULL;
    }
    /* A peer that vanishes must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    /* libuv 1.44 cannot set SO_REUSEPORT, so the socket is made here; every
     * shard binds its own listener to the same port and the kernel spreads
     * connections across them. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    socklen_t alen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        snprintf(err, errlen, "cannot set SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (bind(fd, (struct sockaddr *)&ss, alen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s%s", host ? host : "127.0.0.1", port,
                 strerror(errno),
                 errno == EADDRINUSE ? " (another program uses this port; pick another with "
                                       "--listen)"
                                     : "");
        close(fd);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    int real_port = port;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
        real_port = ntohs(bound.ss_family == AF_INET6
                              ? ((struct sockaddr_in6 *)&bound)->sin6_port
                              : ((struct sockaddr_in *)&bound)->sin_port);

    http_server_t *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    if (limits)
        s->limits = *limits;
    else
        http_limits_default(&s->limits);
    http_limits_t def;
    http_limits_default(&def);
    if (!s->limits.max_header_bytes)
        s->limits.max_header_bytes = def.max_header_bytes;
    if (!s->limits.max_body_bytes)
        s->limits.max_body_bytes = def.max_body_bytes;
    if (!s->limits.header_timeout_ms)
        s->limits.header_timeout_ms = def.header_timeout_ms;
    if (!s->limits.body_timeout_ms)
        s->limits.body_timeout_ms = def.body_timeout_ms;
    if (!s->limits.keepalive_timeout_ms)
        s->limits.keepalive_timeout_ms = def.keepalive_timeout_ms;
    if (!s->limits.write_timeout_ms)
        s->limits.write_timeout_ms = def.write_timeout_ms;
    s->cb = cb;
    s->data = data;
    s->port = real_port;
    s->spare_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    uv_timer_init(loop, &s->resume);
    s->resume.data = s;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    int rc = uv_tcp_open(&s->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host ? host : "127.0.0.1", port,
                 uv_strerror(rc));
        /* The handles are initialized: they must be closed, and s freed then. */
        s->closing = true;
        if (s->spare_fd >= 0)
            close(s->spare_fd);
        uv_close((uv_handle_t *)&s->resume, on_resume_closed);
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return NULL;
    }
    return s;
}

void http_server_test_accept_error(http_server_t *s, int status)
{
    if (!s->paused)
        on_connection((uv_stream_t *)&s->listener, status);
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

void http_server_close(http_server_t *s, void (*cb)(void *data), void *data)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_data = data;
    if (s->spare_fd >= 0) {
        close(s->spare_fd);
        s->spare_fd = -1;
    }
    uv_close((uv_handle_t *)&s->resume, on_resume_closed);
    if (!s->paused)
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    else if (s->listener_down)
        s->listener_closed = true; /* closed for the pause, and not reopened */
    /* else: on_listener_paused sees closing and finishes */
    /* Busy connections close once their response is written (conn_write
     * sees s->closing); the rest close now. */
    for (http_conn_t *c = s->conns; c; c = c->next)
        if (!c->busy && !c->writing)
            conn_close(c);
}

/* --- answering ---------------------------------------------------------------- */

static bool conn_take_answer(http_conn_t *c, http_response_t *res)
{
    if (!c->busy) {
        /* A second answer, or an answer to nothing: a bug in the caller,
         * which must not corrupt the connection. */
        http_response_free(res);
        return false;
    }
    c->busy = false;
    if (c->closing) {
        /* The peer went away while the request was being handled. */
        http_response_free(res);
        conn_maybe_free(c);
        return false;
    }
    return true;
}

void http_conn_respond(http_conn_t *conn, http_response_t *res)
{
    if (!conn_take_answer(conn, res))
        return;
    conn_write(conn, res);
}

void http_conn_upgrade(http_conn_t *conn, http_response_t *res, http_upgrade_cb cb, void *arg)
{
    if (!conn_take_answer(conn, res)) {
        cb(NULL, NULL, 0, arg);
        return;
    }
    conn->upgrade_cb = cb;
    conn->upgrade_arg = arg;
    conn_write(conn, res);
}

void *http_conn_data(http_conn_t *conn)
{
    return conn->srv->data;
}

/* --- streamed answers ------------------------------------------------------------ */

/* One uv_write of a streamed response: the head, a body piece with its
 * chunk framing, or the last chunk. */
typedef struct stream_write {
    uv_write_t req;
    http_conn_t *c;
    size_t body_len; /* body bytes it carries, for the written callback */
    char pre[24];    /* chunk size line */
    uint8_t *data;   /* owned copy of the piece */
} stream_write_t;

static void stream_finish(http_conn_t *c, http_stream_end_t how)
{
    if (c->stream_finished)
        return;
    c->stream_finished = true;
    c->stream_cbs->finished(c->stream_arg, how);
}

/* The caller ended the stream and every write is done: the response is over. */
static void stream_complete(http_conn_t *c)
{
    c->streaming = false;
    c->busy = false;
    stream_finish(c, HTTP_STREAM_DONE);
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    conn_after_response(c);
}

static void on_stream_write(uv_write_t *w, int status)
{
    stream_write_t *sw = w->data;
    http_conn_t *c = sw->c;
    size_t n = sw->body_len;
    free(sw->data);
    free(sw);
    c->stream_writes--;
    c->writing = c->stream_writes > 0;
    if (status < 0 || c->closing) {
        conn_close(c); /* tells the caller the client is gone */
        if (c->stream_ended && c->stream_writes == 0) {
            c->streaming = false;
            c->busy = false;
            conn_maybe_free(c);
        }
        return;
    }
    c->write_progress_ms = uv_now(c->srv->loop);
    c->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
    if (n > 0 && !c->stream_finished)
        c->stream_cbs->written(c->stream_arg, n);
    if (c->stream_nobody && !c->stream_finished && c->stream_writes == 0)
        stream_finish(c, HTTP_STREAM_NO_BODY);
    if (c->stream_ended && c->stream_writes == 0) {
        stream_complete(c);
        return;
    }
    conn_arm_timer(c);
}

/* Queues bufs (pointing into sw) for writing; false when the connection failed. */
static bool stream_send(http_conn_t *c, stream_write_t *sw, uv_buf_t *bufs, unsigned nbufs)
{
    sw->c = c;
    sw->req.data = sw;
    int rc = uv_write(&sw->req, (uv_stream_t *)c->tcp, bufs, nbufs, on_stream_write);
    if (rc < 0) {
        free(sw->data);
        free(sw);
        conn_close(c);
        return false;
    }
    c->stream_writes++;
    if (!c->writing) {
        c->writing = true;
        c->write_progress_ms = uv_now(c->srv->loop);
    }
    c->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
    conn_arm_timer(c);
    return true;
}

int http_conn_stream_begin(http_conn_t *c, http_response_t *res, const http_stream_cbs_t *cbs,
                           void *arg)
{
    if (!c->busy) {
        http_response_free(res);
        return -1;
    }
    if (c->closing) {
        c->busy = false;
        http_response_free(res);
        conn_maybe_free(c);
        return -1;
    }
    if (res->status < 200 || res->status > 999) {
        http_response_free(res);
        res = http_response_error(500, "INTERNAL", "the streamed response had a bad status");
    }
    c->streaming = true;
    c->stream_chunked = false;
    c->stream_ended = false;
    c->stream_finished = false;
    c->stream_writes = 0;
    c->stream_cbs = cbs;
    c->stream_arg = arg;
    bool no_body = conn_head(c, res, FRAME_STREAM);
    c->stream_nobody = no_body || c->cur_head;
    http_response_free(res);
    c->served = true;
    stream_write_t *sw = xcalloc(1, sizeof *sw);
    sw->data = xmemdup(c->head.data, c->head.len);
    uv_buf_t b = uv_buf_init((char *)sw->data, (unsigned)c->head.len);
    stream_send(c, sw, &b, 1);
    return 0;
}

void http_conn_stream_write(http_conn_t *c, const uint8_t *p, size_t n)
{
    if (!c->streaming || c->stream_ended || c->closing || c->stream_nobody || n == 0)
        return;
    stream_write_t *sw = xcalloc(1, sizeof *sw);
    sw->body_len = n;
    sw->data = xmemdup(p, n);
    uv_buf_t bufs[3];
    unsigned nb = 0;
    if (c->stream_chunked) {
        int len = snprintf(sw->pre, sizeof sw->pre, "%zx\r\n", n);
        bufs[nb++] = uv_buf_init(sw->pre, (unsigned)len);
    }
    bufs[nb++] = uv_buf_init((char *)sw->data, (unsigned)n);
    if (c->stream_chunked)
        bufs[nb++] = uv_buf_init("\r\n", 2);
    stream_send(c, sw, bufs, nb);
}

void http_conn_stream_end(http_conn_t *c, bool complete)
{
    if (!c->streaming || c->stream_ended)
        return;
    c->stream_ended = true;
    if (!complete || c->closing) {
        /* Cut the body short: closing without the last chunk tells the
         * client the response is incomplete. */
        conn_close(c);
        if (c->stream_writes == 0) {
            c->streaming = false;
            c->busy = false;
            conn_maybe_free(c);
        }
        return;
    }
    if (c->stream_chunked && !c->stream_nobody) {
        stream_write_t *sw = xcalloc(1, sizeof *sw);
        uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
        if (!stream_send(c, sw, &b, 1)) {
            if (c->stream_writes == 0) {
                c->streaming = false;
                c->busy = false;
                conn_maybe_free(c);
            }
        }
        return;
    }
    if (c->stream_writes == 0)
        stream_complete(c);
}
