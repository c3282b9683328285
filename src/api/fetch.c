/* Outbound fetch() (see fetch.h): curl's multi interface on the shard's
 * libuv loop, the SSRF check on every connection, and the natives the
 * prelude's fetch() (src/api/web/65_fetch.js) is built on. Each transfer
 * buffers at most about 1 MiB of body that JS has not taken; past it curl
 * is paused, so a slow reader slows the server down instead of growing
 * memory. A request body that is a stream is sent chunked as JS writes it
 * (fetchWrite), with at most about 64 KiB waiting for curl before JS is
 * told to wait (EV_DRAIN). Must not depend on actor/: JS is entered through
 * host->run_callback only. */
#include "fetch.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "fetch_head.h"
#include "fetch_policy.h"
#include "natives.h"
#include "web.h"

#define FETCH_BUFFER_HIGH ((size_t)1 << 20)
#define FETCH_UPLOAD_HIGH ((size_t)64 << 10)
#define FETCH_CONNECT_TIMEOUT_MS 30000L

enum { EV_HEAD = 1, EV_DATA = 2, EV_END = 3, EV_ERROR = 4, EV_DRAIN = 5 };

typedef struct api_fetch api_fetch_t;
typedef struct api_fetcher api_fetcher_t;

typedef struct sockctx {
    uv_poll_t poll;
    curl_socket_t fd;
    api_fetcher_t *f;
    struct sockctx *prev, *next;
} sockctx_t;

struct api_fetcher {
    api_host_t *host; /* NULL once the host is gone */
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int open_handles; /* the timer and the polls, until their close callbacks */
    sockctx_t *socks;
    api_fetch_t *ready, *ready_tail; /* transfers with news for JS */
    bool processing;
    uint64_t next_seq;
};

struct api_fetch {
    int refs; /* the owner's list, the JS handle object, the ready list */
    uint64_t seq;
    api_fetcher_t *f;
    api_state_t *owner; /* NULL once detached */
    api_fetch_t *prev, *next;
    api_fetch_t *next_ready;
    bool in_ready;
    JSContext *ctx;
    JSValue on_event;
    CURL *easy;
    CURLU *url;
    struct curl_slist *hdrs;
    uint8_t *body;
    char host[256];
    char *url_text;
    bool queued, active, head_done, head_delivered, finished, want, paused, decoding;
    /* A streamed request body: what JS wrote and curl has not read yet
     * (from up_off on); JS ended it; curl waits for more; JS waits for room. */
    bool streamed, up_ended, up_paused, up_want_drain, up_drain_ready;
    buf_t up;
    size_t up_off;
    CURLcode result;
    fetch_head_t head;
    buf_t data;
    char errbuf[CURL_ERROR_SIZE];
    char refusal[200];    /* why the SSRF guard refused an address */
    char refused_ip[64];
    char head_err[200];
};

static JSClassID fetch_class_id;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_once_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    JS_NewClassID(&fetch_class_id);
}

void api_fetch_global_init(void)
{
    pthread_once(&fetch_once, fetch_once_init);
}

/* ---- the fetcher: curl multi on libuv ------------------------------------------------- */

static void fetcher_process(api_fetcher_t *f);

static void fetcher_maybe_free(api_fetcher_t *f)
{
    if (!f->host && f->open_handles == 0)
        free(f);
}

static void on_sock_closed(uv_handle_t *h)
{
    sockctx_t *sc = h->data;
    api_fetcher_t *f = sc->f;
    free(sc);
    f->open_handles--;
    fetcher_maybe_free(f);
}

static void sock_close(sockctx_t *sc)
{
    api_fetcher_t *f = sc->f;
    uv_poll_stop(&sc->poll);
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        f->socks = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    uv_close((uv_handle_t *)&sc->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sockctx_t *sc = h->data;
    api_fetcher_t *f = sc->f;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(f->multi, sc->fd, flags, &running);
    fetcher_process(f);
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    api_fetcher_t *f = userp;
    sockctx_t *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            curl_multi_assign(f->multi, s, NULL);
            sock_close(sc);
        }
        return 0;
    }
    if (!sc) {
        sc = xcalloc(1, sizeof *sc);
        sc->fd = s;
        sc->f = f;
        if (uv_poll_init_socket(f->loop, &sc->poll, s) != 0) {
            free(sc);
            return -1;
        }
        sc->poll.data = sc;
        f->open_handles++;
        sc->next = f->socks;
        if (f->socks)
            f->socks->prev = sc;
        f->socks = sc;
        curl_multi_assign(f->multi, s, sc);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sc->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    api_fetcher_t *f = t->data;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetcher_process(f);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    api_fetcher_t *f = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&f->timer);
    else
        uv_timer_start(&f->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static api_fetcher_t *fetcher_get(api_host_t *host)
{
    if (host->fetcher)
        return host->fetcher;
    api_fetch_global_init();
    api_fetcher_t *f = xcalloc(1, sizeof *f);
    f->host = host;
    f->loop = host->loop;
    f->multi = curl_multi_init();
    if (!f->multi) {
        fprintf(stderr, "dorm: curl_multi_init failed (out of memory)\n");
        abort();
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(f->loop, &f->timer);
    f->timer.data = f;
    f->open_handles = 1;
    host->fetcher = f;
    return f;
}

static void on_timer_closed(uv_handle_t *h)
{
    api_fetcher_t *f = h->data;
    f->open_handles--;
    fetcher_maybe_free(f);
}

void api_fetch_host_deinit(api_host_t *h)
{
    api_fetcher_t *f = h->fetcher;
    if (!f)
        return;
    h->fetcher = NULL;
    /* Every instance is gone, so every transfer was detached already. */
    curl_multi_cleanup(f->multi);
    f->multi = NULL;
    while (f->socks)
        sock_close(f->socks);
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
    f->host = NULL;
    fetcher_maybe_free(f);
}

/* ---- transfers ------------------------------------------------------------------------ */

static void fetch_unref(api_fetch_t *t)
{
    if (--t->refs == 0)
        free(t);
}

static void mark_ready(api_fetch_t *t)
{
    if (t->in_ready || !t->owner)
        return;
    api_fetcher_t *f = t->f;
    t->in_ready = true;
    t->next_ready = NULL;
    t->refs++;
    if (f->ready_tail)
        f->ready_tail->next_ready = t;
    else
        f->ready = t;
    f->ready_tail = t;
}

static void start_transfer(api_fetch_t *t);

/* A connection slot of st freed up: the oldest waiting transfer takes it. */
static void promote(api_state_t *st)
{
    while (st->fetches_active < API_FETCH_MAX_CONNECTIONS) {
        api_fetch_t *oldest = NULL;
        for (api_fetch_t *t = st->fetches; t; t = t->next)
            if (t->queued && (!oldest || t->seq < oldest->seq))
                oldest = t;
        if (!oldest)
            return;
        start_transfer(oldest);
    }
}

static void leave_multi(api_fetch_t *t)
{
    if (!t->active)
        return;
    t->active = false;
    if (t->f->multi)
        curl_multi_remove_handle(t->f->multi, t->easy);
    t->owner->fetches_active--;
}

/* Ends the transfer for JS: no event comes afterwards, memory goes now. */
static void detach(api_fetch_t *t)
{
    api_state_t *st = t->owner;
    if (!st)
        return;
    leave_multi(t);
    if (t->prev)
        t->prev->next = t->next;
    else
        st->fetches = t->next;
    if (t->next)
        t->next->prev = t->prev;
    st->nfetches--;
    t->owner = NULL;
    t->queued = false;
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    curl_url_cleanup(t->url);
    t->url = NULL;
    curl_slist_free_all(t->hdrs);
    t->hdrs = NULL;
    free(t->body);
    t->body = NULL;
    free(t->url_text);
    t->url_text = NULL;
    buf_deinit(&t->data);
    buf_deinit(&t->up);
    fetch_head_deinit(&t->head);
    JS_FreeValue(t->ctx, t->on_event);
    t->on_event = JS_UNDEFINED;
    promote(st);
    fetch_unref(t); /* the owner's list */
}

static void start_transfer(api_fetch_t *t)
{
    t->queued = false;
    CURLMcode rc = curl_multi_add_handle(t->f->multi, t->easy);
    if (rc != CURLM_OK) {
        snprintf(t->errbuf, sizeof t->errbuf, "%s", curl_multi_strerror(rc));
        t->result = CURLE_FAILED_INIT;
        t->finished = true;
        mark_ready(t);
        return;
    }
    t->active = true;
    t->owner->fetches_active++;
}

void api_fetch_cancel_all(api_state_t *st)
{
    while (st->fetches)
        detach(st->fetches);
}

/* ---- curl's callbacks: they only buffer and flag; JS runs after ---------------------------- */

static size_t header_cb(char *buf, size_t size, size_t n, void *userdata)
{
    api_fetch_t *t = userdata;
    size_t len = size * n;

    if (t->head_done)
        return len; /* trailers */
    int rc = fetch_head_line(&t->head, buf, len, t->head_err, sizeof t->head_err);
    if (rc == FETCH_HEAD_ERROR)
        return 0; /* aborts the transfer */
    if (rc == FETCH_HEAD_DONE) {
        if (t->head.status < 200) {
            fetch_head_deinit(&t->head); /* 100 Continue, 103 Early Hints */
        } else {
            t->head_done = true;
            mark_ready(t);
        }
    }
    return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userdata)
{
    api_fetch_t *t = userdata;
    size_t len = size * n;
    if (t->data.len >= FETCH_BUFFER_HIGH) {
        t->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    buf_append(&t->data, p, len);
    if (t->want)
        mark_ready(t);
    return len;
}

/* The streamed request body: what JS has written, else a pause until it
 * writes more (fetch_write) or ends it (fetch_end). */
static size_t read_cb(char *p, size_t size, size_t n, void *userdata)
{
    api_fetch_t *t = userdata;
    size_t room = size * n, have = t->up.len - t->up_off;
    if (have == 0) {
        if (t->up_ended)
            return 0;
        t->up_paused = true;
        return CURL_READFUNC_PAUSE;
    }
    size_t k = have < room ? have : room;
    memcpy(p, t->up.data + t->up_off, k);
    t->up_off += k;
    if (t->up_off == t->up.len) {
        buf_reset(&t->up);
        t->up_off = 0;
    }
    if (t->up_want_drain && t->up.len - t->up_off < FETCH_UPLOAD_HIGH / 2) {
        t->up_want_drain = false;
        t->up_drain_ready = true;
        mark_ready(t);
    }
    return k;
}

/* curl's pause state of both directions, from the flags. */
static void apply_pause(api_fetch_t *t)
{
    if (t->easy && t->active)
        curl_easy_pause(t->easy, (t->paused ? CURLPAUSE_RECV : 0) | (t->up_paused ? CURLPAUSE_SEND : 0));
}

static curl_socket_t opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    api_fetch_t *t = clientp;
    const api_fetch_policy_t *policy = t->f->host ? t->f->host->fetch_policy : NULL;
    char why[sizeof t->refusal];
    if (!api_fetch_policy_check(policy, t->host, &a->addr, why, sizeof why)) {
        snprintf(t->refusal, sizeof t->refusal, "%s", why);
        const char *sp = strchr(why, ' ');
        snprintf(t->refused_ip, sizeof t->refused_ip, "%.*s", sp ? (int)(sp - why) : 0, why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- events into JS ------------------------------------------------------------------ */

static JSValue latin1_string(JSContext *ctx, const char *s, size_t len)
{
    size_t high = 0;
    for (size_t i = 0; i < len; i++)
        high += (unsigned char)s[i] >> 7;
    if (!high)
        return JS_NewStringLen(ctx, s, len);
    char *u = xmalloc(len + high);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            u[j++] = (char)c;
        } else {
            u[j++] = (char)(0xC0 | (c >> 6));
            u[j++] = (char)(0x80 | (c & 0x3F));
        }
    }
    JSValue v = JS_NewStringLen(ctx, u, j);
    free(u);
    return v;
}

static JSValue new_u8(JSContext *ctx, const uint8_t *p, size_t len)
{
    JSValue ab = JS_NewArrayBufferCopy(ctx, len ? p : (const uint8_t *)"", len);
    if (JS_IsException(ab))
        return ab;
    JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
    JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
    JS_FreeValue(ctx, ab);
    return u8;
}

static void call_js(api_fetch_t *t, int argc, JSValue *argv)
{
    api_host_t *host = t->f->host;
    JSValue fn = JS_DupValue(t->ctx, t->on_event); /* detach may run during the call */
    host->run_callback(host, t->owner, fn, argc, (JSValueConst *)argv);
    JS_FreeValue(t->ctx, fn);
    for (int i = 0; i < argc; i++)
        JS_FreeValue(t->ctx, argv[i]);
}

static void error_text(api_fetch_t *t, buf_t *out)
{
    const char *url = t->url_text ? t->url_text : "the URL";
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    if (t->refusal[0] && (t->result == CURLE_COULDNT_CONNECT || t->result == CURLE_OK)) {
        buf_printf(out,
                   "fetch to %s was refused: %s, which classes may not reach (it could be this "
                   "server's management API or another service of its host); the operator can "
                   "allow it with `dorm serve --allow-fetch %s`",
                   url, t->refusal, t->refused_ip[0] ? t->refused_ip : t->host);
    } else if (t->head_err[0]) {
        buf_printf(out, "fetch to %s failed: %s", url, t->head_err);
    } else if (t->result == CURLE_PEER_FAILED_VERIFICATION) {
        buf_printf(out,
                   "fetch to %s failed: the server's TLS certificate is not trusted (%s); dorm "
                   "trusts the system's CA store, and the operator can add a CA with `dorm serve "
                   "--fetch-ca FILE`",
                   url, detail);
    } else if (t->result == CURLE_COULDNT_RESOLVE_HOST) {
        buf_printf(out, "fetch to %s failed: the host name could not be resolved (%s)", url, detail);
    } else if (t->result == CURLE_COULDNT_CONNECT) {
        buf_printf(out, "fetch to %s failed: could not connect (%s)", url, detail);
    } else if (t->result == CURLE_OPERATION_TIMEDOUT) {
        buf_printf(out, "fetch to %s failed: timed out (%s)", url, detail);
    } else if (t->result == CURLE_SSL_CONNECT_ERROR) {
        buf_printf(out, "fetch to %s failed: the TLS handshake failed (%s)", url, detail);
    } else {
        buf_printf(out, "fetch to %s failed: %s", url, detail);
    }
}

static void deliver_error(api_fetch_t *t)
{
    buf_t msg = BUF_INIT;
    error_text(t, &msg);
    JSValue argv[2] = {JS_NewInt32(t->ctx, EV_ERROR), JS_NewStringLen(t->ctx, buf_cstr(&msg), msg.len)};
    buf_deinit(&msg);
    call_js(t, 2, argv);
}

static bool decoded_encoding(const char *v)
{
    return strcasecmp(v, "gzip") == 0 || strcasecmp(v, "x-gzip") == 0 ||
           strcasecmp(v, "deflate") == 0 || strcasecmp(v, "br") == 0 || strcasecmp(v, "zstd") == 0;
}

static void deliver_head(api_fetch_t *t)
{
    JSContext *ctx = t->ctx;
    const char *enc = http_header_get(t->head.headers, t->head.nheaders, "content-encoding");
    bool strip = t->decoding && enc && decoded_encoding(enc);
    JSValue flat = JS_NewArray(ctx);
    uint32_t k = 0;
    for (size_t i = 0; i < t->head.nheaders; i++) {
        const http_header_t *h = &t->head.headers[i];
        /* curl decoded the body: its encoding and length no longer apply. */
        if (strip && ((h->name_len == 16 && strncasecmp(h->name, "content-encoding", 16) == 0) ||
                      (h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0)))
            continue;
        char small[128];
        char *lower = h->name_len < sizeof small ? small : xmalloc(h->name_len + 1);
        for (size_t j = 0; j < h->name_len; j++)
            lower[j] = (char)tolower((unsigned char)h->name[j]);
        JS_DefinePropertyValueUint32(ctx, flat, k++, JS_NewStringLen(ctx, lower, h->name_len),
                                     JS_PROP_C_W_E);
        if (lower != small)
            free(lower);
        JS_DefinePropertyValueUint32(ctx, flat, k++, latin1_string(ctx, h->value, h->value_len),
                                     JS_PROP_C_W_E);
    }
    const char *reason = t->head.reason ? t->head.reason : "";
    JSValue argv[4] = {JS_NewInt32(ctx, EV_HEAD), JS_NewInt32(ctx, t->head.status),
                       latin1_string(ctx, reason, strlen(reason)), flat};
    call_js(t, 4, argv);
}

static void unpause(api_fetch_t *t)
{
    if (t->paused && t->easy) {
        t->paused = false;
        apply_pause(t);
    }
}

static void unpause_send(api_fetch_t *t)
{
    if (t->up_paused && t->easy) {
        t->up_paused = false;
        apply_pause(t);
    }
}

static void deliver(api_fetch_t *t)
{
    if (!t->owner || !t->f->host)
        return;
    if (t->up_drain_ready) {
        /* Before the head: an upload usually ends before the answer starts. */
        t->up_drain_ready = false;
        JSValue argv[1] = {JS_NewInt32(t->ctx, EV_DRAIN)};
        call_js(t, 1, argv);
        if (!t->owner)
            return;
    }
    if (!t->head_delivered) {
        if (t->head_done) {
            t->head_delivered = true;
            deliver_head(t);
        } else if (t->finished) {
            deliver_error(t);
            detach(t);
            return;
        }
    }
    if (!t->owner || !t->head_delivered || !t->want)
        return;
    if (t->data.len > 0) {
        t->want = false;
        JSValue argv[2] = {JS_NewInt32(t->ctx, EV_DATA), new_u8(t->ctx, t->data.data, t->data.len)};
        buf_reset(&t->data);
        unpause(t);
        call_js(t, 2, argv);
    } else if (t->finished) {
        t->want = false;
        if (t->result == CURLE_OK) {
            JSValue argv[1] = {JS_NewInt32(t->ctx, EV_END)};
            call_js(t, 1, argv);
        } else {
            deliver_error(t);
        }
        detach(t);
    }
}

static void fetcher_process(api_fetcher_t *f)
{
    if (f->processing || !f->multi)
        return;
    f->processing = true;
    CURLMsg *msg;
    int left;
    while (f->multi && (msg = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        api_fetch_t *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode result = msg->data.result;
        if (!t || !t->owner)
            continue;
        t->result = result;
        t->finished = true;
        api_state_t *st = t->owner;
        leave_multi(t);
        promote(st);
        mark_ready(t);
    }
    while (f->ready) {
        api_fetch_t *t = f->ready;
        f->ready = t->next_ready;
        if (!f->ready)
            f->ready_tail = NULL;
        t->in_ready = false;
        deliver(t);
        fetch_unref(t); /* the ready list's */
    }
    f->processing = false;
}

/* ---- the natives ------------------------------------------------------------------------- */

static void handle_finalizer(JSRuntime *rt, JSValue val)
{
    api_fetch_t *t = JS_GetOpaque(val, fetch_class_id);
    if (t)
        fetch_unref(t);
}

static JSClassDef fetch_class = {"FetchHandle", .finalizer = handle_finalizer};

/* Request headers curl owns, or that make no sense on an outgoing request. */
static bool header_skipped(const char *name)
{
    static const char *const skip[] = {"host", "content-length", "transfer-encoding", "connection",
                                       "keep-alive", "upgrade", "te", "trailer", "expect",
                                       "proxy-connection", "proxy-authorization"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return false;
}

static int set_headers(JSContext *ctx, api_fetch_t *t, JSValueConst flat)
{
    int64_t n = 0;
    JSValue lv = JS_GetPropertyStr(ctx, flat, "length");
    int rc = JS_ToInt64(ctx, &n, lv);
    JS_FreeValue(ctx, lv);
    if (rc < 0)
        return -1;
    bool has_ct = false;
    buf_t line = BUF_INIT;
    for (int64_t i = 0; i + 1 < n; i += 2) {
        JSValue nv = JS_GetPropertyUint32(ctx, flat, (uint32_t)i);
        JSValue vv = JS_GetPropertyUint32(ctx, flat, (uint32_t)i + 1);
        const char *name = JS_ToCString(ctx, nv);
        size_t vlen = 0;
        const char *value = name ? JS_ToCStringLen(ctx, &vlen, vv) : NULL;
        JS_FreeValue(ctx, nv);
        JS_FreeValue(ctx, vv);
        if (!value) {
            JS_FreeCString(ctx, name);
            buf_deinit(&line);
            return -1;
        }
        /* Header values reach C as UTF-8 of Latin-1 text: back to bytes. */
        buf_reset(&line);
        buf_puts(&line, name);
        if (strcasecmp(name, "accept-encoding") == 0) {
            /* curl asks for it and decodes what comes back. */
            curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, value);
            t->decoding = true;
        } else if (!header_skipped(name)) {
            if (strcasecmp(name, "content-type") == 0)
                has_ct = true;
            buf_puts(&line, vlen ? ": " : ";"); /* "Name;" is curl's way to send an empty value */
            for (size_t k = 0; k < vlen; k++) {
                unsigned char c = (unsigned char)value[k];
                if ((c & 0xE0) == 0xC0 && k + 1 < vlen) {
                    buf_putc(&line, (int)(((c & 0x1F) << 6) | ((unsigned char)value[k + 1] & 0x3F)));
                    k++;
                } else {
                    buf_putc(&line, c);
                }
            }
            t->hdrs = curl_slist_append(t->hdrs, buf_cstr(&line));
        }
        JS_FreeCString(ctx, name);
        JS_FreeCString(ctx, value);
    }
    buf_deinit(&line);
    /* curl would add these on its own otherwise. */
    if (!has_ct)
        t->hdrs = curl_slist_append(t->hdrs, "Content-Type:");
    t->hdrs = curl_slist_append(t->hdrs, "Expect:");
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->hdrs);
    return 0;
}

static JSValue throw_detached(JSContext *ctx)
{
    return JS_ThrowTypeError(ctx, "fetch: this transfer is over");
}

static JSValue throw_outside(JSContext *ctx)
{
    return JS_ThrowTypeError(ctx, "fetch() can only be called while handling an event (a "
                                  "request, message or alarm), not at module load time");
}

/* native.fetchCheck(): throws unless an instance's event is running. */
static JSValue fetch_check(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_host_t *host = api_host(ctx);
    if (!host || !host->current || !host->loop)
        return throw_outside(ctx);
    return JS_UNDEFINED;
}

/* native.fetchStart(method, url, [name, value, ...], body, onEvent) -> handle; body is null, a
 * Uint8Array, or true for a stream written with fetchWrite and ended with fetchEnd. */
static JSValue fetch_start(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_host_t *host = api_host(ctx);
    if (!host || !host->current || !host->loop)
        return throw_outside(ctx);
    api_state_t *st = host->current;
    if (st->nfetches >= API_FETCH_MAX_PER_INSTANCE)
        return JS_ThrowRangeError(ctx, "too many fetches at once: an instance may have at most %d "
                                       "in flight (with their bodies unread)",
                                  API_FETCH_MAX_PER_INSTANCE);
    if (argc < 5 || !JS_IsFunction(ctx, argv[4]))
        return JS_ThrowTypeError(ctx, "fetch: internal call without a callback");
    const char *method = JS_ToCString(ctx, argv[0]);
    if (!method)
        return JS_EXCEPTION;
    const char *url = JS_ToCString(ctx, argv[1]);
    if (!url) {
        JS_FreeCString(ctx, method);
        return JS_EXCEPTION;
    }
    api_fetcher_t *f = fetcher_get(host);
    api_fetch_t *t = xcalloc(1, sizeof *t);
    t->refs = 2; /* the owner's list and the handle object */
    t->seq = ++f->next_seq;
    t->f = f;
    t->ctx = ctx;
    t->on_event = JS_UNDEFINED;
    t->owner = st;
    fetch_head_init(&t->head);
    t->next = st->fetches;
    if (st->fetches)
        st->fetches->prev = t;
    st->fetches = t;
    st->nfetches++;
    t->url_text = xstrdup(url);
    JSValue ret = JS_EXCEPTION;

    t->url = curl_url();
    CURLUcode uc = curl_url_set(t->url, CURLUPART_URL, url, 0);
    char *scheme = NULL, *uhost = NULL;
    if (uc == CURLUE_OK)
        uc = curl_url_get(t->url, CURLUPART_SCHEME, &scheme, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(t->url, CURLUPART_HOST, &uhost, 0);
    if (uc != CURLUE_OK || !scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        JS_ThrowTypeError(ctx, "fetch: cannot fetch %s: only http: and https: URLs with a host "
                               "can be fetched",
                          url);
        curl_free(scheme);
        curl_free(uhost);
        goto fail;
    }
    size_t hl = strlen(uhost);
    const char *hs = uhost;
    if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') {
        hs++;
        hl -= 2;
    }
    snprintf(t->host, sizeof t->host, "%.*s", (int)hl, hs);
    for (char *p = t->host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    curl_free(scheme);
    curl_free(uhost);

    t->easy = curl_easy_init();
    if (!t->easy) {
        fprintf(stderr, "dorm: curl_easy_init failed (out of memory)\n");
        abort();
    }
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_CURLU, t->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are fetch()'s, in JS */
    curl_easy_setopt(e, CURLOPT_PROXY, "");          /* no proxy from the environment */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, FETCH_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Aborting a fetch while its name is being resolved must not wait for
     * the resolver thread (that would stall the loop): it is left to finish
     * on its own. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    const buf_t *ca = api_fetch_policy_ca_blob(host->fetch_policy);
    if (ca) {
        struct curl_blob blob = {ca->data, ca->len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }

    t->streamed = JS_IsBool(argv[3]) && JS_ToBool(ctx, argv[3]);
    bool has_body = t->streamed || (!JS_IsNull(argv[3]) && !JS_IsUndefined(argv[3]));
    size_t body_len = 0;
    if (has_body && !t->streamed) {
        uint8_t *bytes;
        if (web_get_bytes(ctx, argv[3], &bytes, &body_len) < 0)
            goto fail;
        t->body = xmemdup(bytes ? bytes : (uint8_t *)"", body_len ? body_len : 1);
    }
    if (strcmp(method, "GET") == 0 && !has_body) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (t->streamed) {
            /* Length unknown: curl sends it chunked over HTTP/1.1 (as Workers
             * send a stream) and as DATA frames over HTTP/2. */
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(e, CURLOPT_READDATA, t);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        } else if (has_body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body ? (char *)t->body : "");
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (set_headers(ctx, t, argv[2]) < 0)
        goto fail;

    ret = JS_NewObjectClass(ctx, (int)fetch_class_id);
    if (JS_IsException(ret))
        goto fail;
    JS_SetOpaque(ret, t);
    t->on_event = JS_DupValue(ctx, argv[4]);
    if (st->fetches_active < API_FETCH_MAX_CONNECTIONS) {
        start_transfer(t);
    } else {
        t->queued = true;
    }
    JS_FreeCString(ctx, method);
    JS_FreeCString(ctx, url);
    /* A failure to start shows up as an event, in a later turn like any other. */
    if (t->finished)
        uv_timer_start(&f->timer, on_timeout, 0, 0);
    return ret;

fail:
    JS_FreeCString(ctx, method);
    JS_FreeCString(ctx, url);
    detach(t);
    fetch_unref(t); /* no handle object holds it */
    return JS_EXCEPTION;
}

static api_fetch_t *handle_of(JSContext *ctx, JSValueConst v)
{
    return JS_GetOpaque(v, fetch_class_id);
}

/* native.fetchPull(handle) -> Uint8Array (bytes now), 0 (wait for an event), 1 (the end);
 * throws the transfer's error. */
static JSValue fetch_pull(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_fetch_t *t = handle_of(ctx, argv[0]);
    if (!t)
        return throw_detached(ctx);
    if (!t->owner)
        return JS_NewInt32(ctx, 1);
    if (t->data.len > 0) {
        JSValue u8 = new_u8(ctx, t->data.data, t->data.len);
        buf_reset(&t->data);
        unpause(t);
        return u8;
    }
    if (t->finished) {
        if (t->result == CURLE_OK) {
            detach(t);
            return JS_NewInt32(ctx, 1);
        }
        buf_t msg = BUF_INIT;
        error_text(t, &msg);
        detach(t);
        JSValue err = JS_ThrowTypeError(ctx, "%s", buf_cstr(&msg));
        buf_deinit(&msg);
        return err;
    }
    t->want = true;
    unpause(t);
    return JS_NewInt32(ctx, 0);
}

/* native.fetchWrite(handle, Uint8Array) -> 1 (write more), 0 (wait for the drain event), -1 (the
 * transfer is over: stop). The bytes are copied. */
static JSValue fetch_write(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_fetch_t *t = handle_of(ctx, argv[0]);
    if (!t)
        return throw_detached(ctx);
    if (!t->owner || !t->streamed || t->up_ended || t->finished)
        return JS_NewInt32(ctx, -1);
    uint8_t *p;
    size_t len;
    if (argc < 2 || web_get_bytes(ctx, argv[1], &p, &len) < 0)
        return JS_EXCEPTION;
    if (t->up_off > 0 && t->up_off == t->up.len) {
        buf_reset(&t->up);
        t->up_off = 0;
    }
    buf_append(&t->up, p, len);
    unpause_send(t);
    if (t->up.len - t->up_off < FETCH_UPLOAD_HIGH)
        return JS_NewInt32(ctx, 1);
    t->up_want_drain = true;
    return JS_NewInt32(ctx, 0);
}

/* native.fetchEnd(handle): the streamed body is complete. */
static JSValue fetch_end(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_fetch_t *t = handle_of(ctx, argv[0]);
    if (t && t->owner && t->streamed) {
        t->up_ended = true;
        unpause_send(t);
    }
    return JS_UNDEFINED;
}

/* native.fetchAbort(handle): stops the transfer; nothing more reaches JS. */
static JSValue fetch_abort(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_fetch_t *t = handle_of(ctx, argv[0]);
    if (t && t->owner)
        detach(t);
    return JS_UNDEFINED;
}

static const JSCFunctionListEntry fetch_funcs[] = {
    JS_CFUNC_DEF("fetchCheck", 0, fetch_check),
    JS_CFUNC_DEF("fetchStart", 5, fetch_start),
    JS_CFUNC_DEF("fetchPull", 1, fetch_pull),
    JS_CFUNC_DEF("fetchAbort", 1, fetch_abort),
    JS_CFUNC_DEF("fetchWrite", 2, fetch_write),
    JS_CFUNC_DEF("fetchEnd", 1, fetch_end),
};

void api_fetch_natives(JSContext *ctx, JSValueConst native)
{
    api_fetch_global_init();
    JSRuntime *rt = JS_GetRuntime(ctx);
    if (!JS_IsRegisteredClass(rt, fetch_class_id))
        JS_NewClass(rt, fetch_class_id, &fetch_class);
    JS_SetPropertyFunctionList(ctx, native, fetch_funcs,
                               (int)(sizeof fetch_funcs / sizeof fetch_funcs[0]));
}
