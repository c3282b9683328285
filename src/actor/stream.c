/* Streamed answers (a Response whose body is a ReadableStream): the body is
 * read from JS as it is produced and sent chunked, under the output gate:
 * the head waits for the writes made before it (it is an ordinary held
 * answer), and each chunk waits for the writes made before that chunk.
 *
 * Two shards take part: the instance's (the owner, which reads the JS
 * stream) and the connection's (the origin, which writes to the socket);
 * they may be the same. They share one actor_stream_t, reference-counted,
 * and talk only through mailbox messages: head, data and end go to the
 * origin; acknowledgements (bytes written, for back-pressure) and
 * cancellation (the client went away, or wants no body) go to the owner.
 * Nothing here touches the other shard's objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "actor_int.h"

/* How far the owner reads ahead of what the client has taken: chunks held
 * by the gate plus bytes on their way to the socket. Past it, the JS stream
 * is not pulled, so a slow client slows the producer down. */
#define STREAM_WINDOW ((size_t)256 * 1024)

typedef struct chunk {
    struct chunk *next;
    uint64_t required; /* batch that must be durable before it is sent */
    bool end;          /* the end of the body (ok says how) */
    bool ok;
    uint8_t *data;
    size_t len;
} chunk_t;

struct actor_stream {
    /* The owner's (until it is done), the event's (until the head is sent,
     * when it becomes the origin's), and one per message in flight. */
    atomic_int refs;
    uint64_t id;     /* key in owner->streams */
    /* Owner side: only the owner shard's thread touches these. */
    shard_t *owner;
    instance_t *inst; /* NULL once detached (done, or the instance went away) */
    actor_stream_t *prev, *next;
    JSValue pump;
    chunk_t *chunks, *chunks_tail;
    size_t held_bytes; /* in chunks */
    size_t unacked;    /* sent to the origin, not yet reported written */
    bool reading;      /* a next() is outstanding */
    bool head_sent;
    bool eof;          /* the end is queued */
    bool stopped;      /* the origin wants nothing more */
    char label[200];
    /* Origin side: only the origin shard's thread touches these. */
    shard_t *origin;
    http_conn_t *conn;
    bool began;        /* http_conn_stream_begin succeeded */
    bool conn_ended;   /* http_conn_stream_end was called */
    bool conn_finished; /* the connection's finished callback ran */
    bool origin_released;
};

enum stream_msg_kind { SM_HEAD, SM_DATA, SM_END, SM_ACK, SM_CANCEL };

typedef struct stream_msg {
    mail_t mail;
    enum stream_msg_kind kind;
    actor_stream_t *st;
    http_response_t *res; /* SM_HEAD */
    uint8_t *data;        /* SM_DATA */
    size_t len;           /* SM_DATA, SM_ACK */
    bool ok;              /* SM_END */
    bool gone;            /* SM_CANCEL: the client went away (else: no body wanted) */
} stream_msg_t;

static void stream_unref(actor_stream_t *st)
{
    if (atomic_fetch_sub(&st->refs, 1) == 1)
        free(st);
}

static void post(shard_t *to, actor_stream_t *st, stream_msg_t *m)
{
    m->mail.kind = SHARD_M_STREAM;
    m->st = st;
    atomic_fetch_add(&st->refs, 1);
    mailbox_post(to->mb, &m->mail);
}

static void free_chunks(actor_stream_t *st)
{
    while (st->chunks) {
        chunk_t *c = st->chunks;
        st->chunks = c->next;
        free(c->data);
        free(c);
    }
    st->chunks_tail = NULL;
    st->held_bytes = 0;
}

/* ---- owner side --------------------------------------------------------------- */

/* The owner is done with the stream: unlink it and drop its JS state. */
static void owner_detach(actor_stream_t *st)
{
    instance_t *inst = st->inst;
    if (!inst)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else
        inst->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    inst->nstreams--;
    map_remove(&st->owner->streams, &st->id, sizeof st->id);
    if (inst->rt)
        JS_FreeValue(inst->rt->js->ctx, st->pump);
    st->pump = JS_UNDEFINED;
    st->inst = NULL;
    free_chunks(st);
    inst->last_used_ns = uv_hrtime();
}

/* Tells the origin the body is over and lets the owner's reference go. */
static void owner_finish(actor_stream_t *st, bool ok)
{
    bool head_sent = st->head_sent;
    owner_detach(st);
    if (head_sent) {
        stream_msg_t *m = xcalloc(1, sizeof *m);
        m->kind = SM_END;
        m->ok = ok;
        post(st->origin, st, m);
    }
    stream_unref(st);
}

static JSValue on_next(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                       int magic, JSValue *data);

/* Calls pump.next() and waits for its promise; inside JS already when
 * called from a promise reaction, else in an entry of its own. */
static void stream_pull(actor_stream_t *st);

static void call_next(actor_stream_t *st, JSContext *ctx)
{
    st->reading = true;
    JSValue fn = JS_GetPropertyStr(ctx, st->pump, "next");
    JSValue p = JS_Call(ctx, fn, st->pump, 0, NULL);
    JS_FreeValue(ctx, fn);
    if (JS_IsException(p)) {
        /* next() threw instead of rejecting: treat it as a rejection. */
        JSValue e = JS_GetException(ctx);
        JSValue rf[2];
        p = JS_NewPromiseCapability(ctx, rf);
        JSValue r = JS_Call(ctx, rf[1], JS_UNDEFINED, 1, (JSValueConst *)&e);
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, rf[0]);
        JS_FreeValue(ctx, rf[1]);
        JS_FreeValue(ctx, e);
    }
    JSValue idv = JS_NewInt64(ctx, (int64_t)st->id);
    JSValue fns[2] = {JS_NewCFunctionData(ctx, on_next, 1, 0, 1, &idv),
                      JS_NewCFunctionData(ctx, on_next, 1, 1, 1, &idv)};
    JSValue then = JS_GetPropertyStr(ctx, p, "then");
    JSValue p2 = JS_Call(ctx, then, p, 2, (JSValueConst *)fns);
    JS_FreeValue(ctx, p2);
    JS_FreeValue(ctx, then);
    JS_FreeValue(ctx, fns[0]);
    JS_FreeValue(ctx, fns[1]);
    JS_FreeValue(ctx, p);
}

/* Runs fn(st, ctx) with JS attributed to st's instance: nested when JS is
 * already running (a reaction), else as an entry with its own limits. */
static void with_js(actor_stream_t *st, void (*fn)(actor_stream_t *, JSContext *))
{
    instance_t *inst = st->inst;
    classrt_t *rt = inst->rt;
    JSContext *ctx = rt->js->ctx;
    if (rt->host.current) {
        api_state_t *was = rt->host.current;
        rt->host.current = &inst->api;
        fn(st, ctx);
        rt->host.current = was;
        return;
    }
    classrt_enter(rt, inst);
    fn(st, ctx);
    if (classrt_leave(rt, inst) < 0) {
        char why[300];
        instance_reset(inst, 500, instance_failure(inst, why, sizeof why));
    }
}

static bool window_open(const actor_stream_t *st)
{
    return st->held_bytes + st->unacked < STREAM_WINDOW;
}

static void stream_pull(actor_stream_t *st)
{
    if (!st->inst || st->reading || st->eof || st->stopped || !window_open(st))
        return;
    with_js(st, call_next);
}

/* Sends what the output gate lets through, in order. */
static void release(actor_stream_t *st)
{
    instance_t *inst = st->inst;
    if (!inst || !st->head_sent)
        return;
    while (st->chunks && st->chunks->required <= inst->done) {
        chunk_t *c = st->chunks;
        st->chunks = c->next;
        if (!st->chunks)
            st->chunks_tail = NULL;
        if (c->end) {
            bool ok = c->ok;
            free(c->data);
            free(c);
            owner_finish(st, ok);
            return;
        }
        st->held_bytes -= c->len;
        st->unacked += c->len;
        stream_msg_t *m = xcalloc(1, sizeof *m);
        m->kind = SM_DATA;
        m->data = c->data;
        m->len = c->len;
        free(c);
        post(st->origin, st, m);
    }
}

static void enqueue_chunk(actor_stream_t *st, uint8_t *data, size_t len, bool end, bool ok)
{
    chunk_t *c = xcalloc(1, sizeof *c);
    c->required = instance_output_required(st->inst);
    c->end = end;
    c->ok = ok;
    c->data = data;
    c->len = len;
    if (st->chunks_tail)
        st->chunks_tail->next = c;
    else
        st->chunks = c;
    st->chunks_tail = c;
    st->held_bytes += len;
    if (end)
        st->eof = true;
}

/* pump.next() settled: magic 0 with a chunk (or null at the end), 1 with an error. */
static JSValue on_next(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                       int magic, JSValue *data)
{
    classrt_t *rt = (classrt_t *)api_host(ctx);
    int64_t id;
    if (JS_ToInt64(ctx, &id, data[0]) < 0)
        return JS_EXCEPTION;
    uint64_t key = (uint64_t)id;
    actor_stream_t *st = map_get(&rt->shard->streams, &key, sizeof key);
    if (!st || !st->inst)
        return JS_UNDEFINED; /* the stream was cancelled or its instance reset */
    st->reading = false;
    JSValueConst v = argc > 0 ? argv[0] : JS_UNDEFINED;
    if (st->stopped)
        return JS_UNDEFINED;
    /* Sending the end may hand the last references to the origin's thread. */
    atomic_fetch_add(&st->refs, 1);
    if (magic == 1) {
        if (rt->js->timed_out || rt->js->oom) {
            log_info(st->label, "its streamed response was cut short: the instance %s and is reset",
                     rt->js->oom ? "ran out of memory" : "exceeded its CPU time limit");
        } else {
            char *msg = web_format_error(ctx, v);
            log_error(st->label, "the response body stream failed, so the body was cut short: %s",
                      msg);
            free(msg);
        }
        enqueue_chunk(st, NULL, 0, true, false);
    } else if (JS_IsNull(v) || JS_IsUndefined(v)) {
        enqueue_chunk(st, NULL, 0, true, true);
    } else {
        size_t off = 0, len = 0, bpe = 0, size = 0;
        JSValue ab = JS_GetTypedArrayBuffer(ctx, v, &off, &len, &bpe);
        uint8_t *base = JS_IsException(ab) ? NULL : JS_GetArrayBuffer(ctx, &size, ab);
        JS_FreeValue(ctx, ab);
        if (!base) {
            JS_FreeValue(ctx, JS_GetException(ctx));
            log_error(st->label, "the response body stream gave something that is not bytes");
            enqueue_chunk(st, NULL, 0, true, false);
        } else if (len > 0) {
            enqueue_chunk(st, xmemdup(base + off, len), len, false, true);
        }
    }
    release(st);
    if (st->inst)
        stream_pull(st);
    stream_unref(st);
    return JS_UNDEFINED;
}

actor_stream_t *actor_stream_new(instance_t *inst, event_t *ev, JSValue pump)
{
    shard_t *s = inst->shard;
    actor_stream_t *st = xcalloc(1, sizeof *st);
    atomic_init(&st->refs, 2); /* the owner's and the event's */
    st->id = ++s->next_stream_id;
    st->owner = s;
    st->inst = inst;
    st->pump = pump;
    st->origin = ev->reply.origin;
    st->conn = ev->reply.conn;
    snprintf(st->label, sizeof st->label, "%s", inst->label);
    st->next = inst->streams;
    if (inst->streams)
        inst->streams->prev = st;
    inst->streams = st;
    inst->nstreams++;
    map_put(&s->streams, &st->id, sizeof st->id, st);
    stream_pull(st);
    return st;
}

void actor_stream_discard(actor_stream_t *st)
{
    if (!st)
        return;
    if (st->inst) {
        owner_detach(st);
        stream_unref(st); /* the owner's */
    }
    stream_unref(st); /* the event's */
}

bool actor_stream_send_head(actor_stream_t *st, http_response_t *res)
{
    if (!st->inst) {
        /* The instance went away before its answer could go out. */
        stream_unref(st); /* the event's */
        return false;
    }
    st->head_sent = true; /* the event's reference is the origin's from now on */
    stream_msg_t *m = xcalloc(1, sizeof *m);
    m->kind = SM_HEAD;
    m->res = res;
    post(st->origin, st, m);
    release(st);
    return true;
}

void actor_streams_release(instance_t *inst)
{
    actor_stream_t *st = inst->streams;
    while (st) {
        actor_stream_t *next = st->next;
        release(st);
        st = next;
    }
}

void actor_streams_abort(instance_t *inst)
{
    while (inst->streams) {
        actor_stream_t *st = inst->streams;
        log_info(st->label, "its streamed response was cut short: the instance was reset");
        owner_finish(st, false);
    }
}

static void call_cancel(actor_stream_t *st, JSContext *ctx)
{
    JSValue fn = JS_GetPropertyStr(ctx, st->pump, "cancel");
    JSValue reason = JS_NewString(ctx, "the client went away before the response body was sent");
    JSValue r = JS_Call(ctx, fn, st->pump, 1, (JSValueConst *)&reason);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, reason);
    JS_FreeValue(ctx, fn);
}

static void owner_on_mail(stream_msg_t *m)
{
    actor_stream_t *st = m->st;
    if (!st->inst)
        return;
    if (m->kind == SM_ACK) {
        st->unacked = st->unacked > m->len ? st->unacked - m->len : 0;
        stream_pull(st);
        return;
    }
    /* SM_CANCEL: stop producing; the body ends (for HEAD, complete). */
    st->stopped = true;
    free_chunks(st);
    with_js(st, call_cancel);
    if (st->inst)
        owner_finish(st, !m->gone);
}

/* ---- origin side ------------------------------------------------------------------ */

/* The origin lets its reference go once it has ended the connection's
 * stream and the connection has said it finished, in either order (ending
 * can make the connection finish at once). */
static void origin_release(actor_stream_t *st)
{
    if (st->conn_ended && st->conn_finished && !st->origin_released) {
        st->origin_released = true;
        stream_unref(st);
    }
}

static void on_written(void *arg, size_t n)
{
    actor_stream_t *st = arg;
    stream_msg_t *m = xcalloc(1, sizeof *m);
    m->kind = SM_ACK;
    m->len = n;
    post(st->owner, st, m);
}

static void on_finished(void *arg, http_stream_end_t how)
{
    actor_stream_t *st = arg;
    st->conn_finished = true;
    if (how != HTTP_STREAM_DONE && !st->conn_ended) {
        stream_msg_t *m = xcalloc(1, sizeof *m);
        m->kind = SM_CANCEL;
        m->gone = how == HTTP_STREAM_GONE;
        post(st->owner, st, m);
    }
    origin_release(st);
}

static const http_stream_cbs_t stream_cbs = {on_written, on_finished};

static void origin_on_mail(stream_msg_t *m)
{
    actor_stream_t *st = m->st;
    switch (m->kind) {
    case SM_HEAD:
        if (http_conn_stream_begin(st->conn, m->res, &stream_cbs, st) == 0) {
            st->began = true;
        } else {
            /* The client is already gone: the owner stops, and nothing it
             * sends reaches the connection. */
            st->conn_ended = st->conn_finished = true;
            stream_msg_t *c = xcalloc(1, sizeof *c);
            c->kind = SM_CANCEL;
            c->gone = true;
            post(st->owner, st, c);
            origin_release(st);
        }
        m->res = NULL;
        break;
    case SM_DATA:
        if (st->began && !st->conn_ended)
            http_conn_stream_write(st->conn, m->data, m->len);
        break;
    case SM_END:
        if (st->began && !st->conn_ended) {
            st->conn_ended = true;
            http_conn_stream_end(st->conn, m->ok);
            origin_release(st);
        }
        break;
    default:
        break;
    }
}

void actor_stream_on_mail(shard_t *s, mail_t *mail)
{
    stream_msg_t *m = (stream_msg_t *)mail;
    if (m->kind == SM_ACK || m->kind == SM_CANCEL)
        owner_on_mail(m);
    else
        origin_on_mail(m);
    if (m->res)
        http_response_free(m->res);
    free(m->data);
    stream_unref(m->st);
    /* The shard frees the message itself. */
}
