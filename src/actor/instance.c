/* Instances: lifecycle (cold -> active -> evicted), the event queue and the
 * input gate, and the output gate (DESIGN.md 2.2-2.3).
 *
 * Input gate: an event is delivered, then the job queue is drained, before
 * the next event of the same instance is delivered; storage calls settle
 * within that drain, so code that only awaits storage runs as one atomic
 * step. Events wait while blockConcurrencyWhile is pending. Output gate: an
 * answer is sent only once every batch of writes made before it is durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/state.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "actor_int.h"

static void instance_unblocked(api_state_t *st)
{
    instance_t *inst = st->owner;
    if (st->blocked == 0 && inst->queue)
        shard_mark_runnable(inst);
}

instance_t *instance_get(shard_t *s, actor_class_t *cls, const uint8_t *id, size_t id_len)
{
    buf_t k = BUF_INIT;
    buf_puts(&k, cls->app_id);
    buf_putc(&k, 0);
    buf_puts(&k, cls->name);
    buf_putc(&k, 0);
    buf_append(&k, id, id_len);
    instance_t *inst = map_get(&s->instances, k.data, k.len);
    if (inst) {
        buf_deinit(&k);
        return inst;
    }
    inst = xcalloc(1, sizeof *inst);
    inst->shard = s;
    inst->cls = actor_class_ref(cls);
    inst->key = (char *)buf_steal(&k, &inst->keylen);
    inst->id = xmalloc(id_len + 1);
    memcpy(inst->id, id, id_len);
    inst->id[id_len] = 0;
    inst->id_len = id_len;
    inst->obj = JS_UNDEFINED;
    inst->state = JS_UNDEFINED;
    inst->api.owner = inst;
    inst->api.name = inst->id;
    inst->api.name_len = id_len;
    inst->api.env = JS_UNDEFINED;
    inst->api.unblocked = instance_unblocked;
    store_id_hex(id, id_len, inst->api.idhex);
    inst->api.kv = store_kv_new(s->store, cls->app_id, cls->name, id, id_len);
    inst->usage = usage_get(s, cls);
    inst->last_used_ns = uv_hrtime();
    snprintf(inst->label, sizeof inst->label, "%s/%.*s", cls->name,
             (int)(id_len > 120 ? 120 : id_len), (const char *)id);
    map_put(&s->instances, inst->key, inst->keylen, inst);
    return inst;
}

void instance_enqueue(instance_t *inst, event_t *ev)
{
    ev->inst = inst;
    ev->next = NULL;
    if (inst->queue_tail)
        inst->queue_tail->next = ev;
    else
        inst->queue = ev;
    inst->queue_tail = ev;
    inst->last_used_ns = uv_hrtime();
    shard_mark_runnable(inst);
}

/* ---- answers and the output gate ------------------------------------------ */

static void event_free(event_t *ev)
{
    actor_stream_discard(ev->stream);
    if (ev->req)
        http_request_free(ev->req);
    if (ev->res)
        http_response_free(ev->res);
    free(ev->url);
    free(ev->method);
    free(ev->target);
    free(ev->msg);
    free(ev);
}

/* An event that needs no answer is over (WebSocket and alarm events);
 * ev->clean says whether its handler succeeded. */
static void event_done(event_t *ev)
{
    if (ev->kind == EV_ALARM)
        alarm_done(ev->inst, ev, ev->clean);
    sock_event_done(ev);
    event_free(ev);
}

static void event_send(event_t *ev)
{
    if (ev->kind != EV_HTTP) {
        event_done(ev);
        return;
    }
    http_response_t *res = ev->res;
    ev->res = NULL;
    if (ev->stream) {
        actor_stream_t *st = ev->stream;
        ev->stream = NULL;
        if (!actor_stream_send_head(st, res)) {
            http_response_free(res);
            res = http_response_error(500, "DO_RESET",
                                      "the Durable Object was reset before its streamed "
                                      "response could be sent; retry the request");
        } else {
            res = NULL;
        }
    }
    log_info("http", "%s %s %d %.1fms%s", ev->method, ev->target, res ? res->status : 200,
             (double)(uv_hrtime() - ev->started_ns) / 1e6, res ? "" : " (body streaming)");
    if (res && ev->upgrade_sock && res->status == 101)
        sock_post_reply(ev->reply, res, ev->inst->shard, ev->upgrade_sock->id);
    else if (res)
        actor_reply_send(ev->reply, res);
    event_free(ev);
}

/* Sends held answers and frames whose writes are durable, in order. */
void instance_release_held(instance_t *inst)
{
    while (inst->held && inst->held->required <= inst->done) {
        event_t *ev = inst->held;
        inst->held = ev->next;
        if (!inst->held)
            inst->held_tail = NULL;
        event_send(ev);
    }
    sock_release_held(inst);
    actor_streams_release(inst);
    instance_release_waiters(inst);
}

void event_answer(event_t *ev, http_response_t *res)
{
    instance_t *inst = ev->inst;
    ev->res = res;
    /* The answer depends on every write made so far. */
    ev->required = instance_output_required(inst);
    if (ev->required <= inst->done && !inst->held) {
        event_send(ev);
        return;
    }
    ev->next = NULL;
    if (inst->held_tail)
        inst->held_tail->next = ev;
    else
        inst->held = ev;
    inst->held_tail = ev;
}

void event_fail(event_t *ev, int status, const char *code, const char *msg)
{
    if (ev->inst && ev->inst->usage)
        ev->inst->usage->errors++;
    if (ev->kind != EV_HTTP) {
        event_done(ev);
        return;
    }
    actor_stream_discard(ev->stream);
    ev->stream = NULL;
    if (ev->res)
        http_response_free(ev->res);
    ev->res = http_response_error(status, code, msg);
    event_send(ev);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* Frees the instance's JS state. Its hibernatable WebSockets stay open
 * (their JS objects are detached, fresh ones come with the next life);
 * those of the ws.accept() style are closed with code, since nothing could
 * hear them any more. */
static void drop_js(instance_t *inst, int code, const char *reason)
{
    if (!inst->rt)
        return;
    sock_close_all(inst, false, code, reason);
    sock_drop_unbound(inst, 0);
    instance_drop_sync_waiters(inst);
    JSContext *ctx = inst->rt->js->ctx;
    actor_streams_abort(inst);
    api_state_reset(ctx, &inst->api);
    JS_FreeValue(ctx, inst->obj);
    JS_FreeValue(ctx, inst->state);
    JS_FreeValue(ctx, inst->api.env);
    inst->obj = inst->state = inst->api.env = JS_UNDEFINED;
    inst->api.blocked = 0;
    inst->api.block_failed = false;
    inst->api.aborted = false;
    classrt_release(inst->rt);
    inst->rt = NULL;
    inst->status = INST_COLD;
}

/* Fails the events delivered but not settled: they are found through the
 * shard's event table. */
static void fail_inflight(instance_t *inst, int status, const char *why)
{
    if (inst->inflight == 0)
        return;
    shard_t *s = inst->shard;
    event_t *list[256];
    for (;;) {
        int n = 0;
        size_t it;
        for (map_entry_t *e = map_first(&s->events, &it); e && n < 256;
             e = map_next(&s->events, e, &it)) {
            event_t *ev = e->value;
            if (ev->inst == inst)
                list[n++] = ev;
        }
        if (n == 0)
            break;
        for (int i = 0; i < n; i++) {
            map_remove(&s->events, &list[i]->id, sizeof list[i]->id);
            inst->inflight--;
            char msg[300];
            snprintf(msg, sizeof msg, "the Durable Object %s %s; it has been reset", inst->label,
                     why);
            event_fail(list[i], status, status == 503 ? "DO_UNAVAILABLE" : "DO_RESET", msg);
        }
    }
    inst->inflight = 0;
}

const char *instance_failure(const instance_t *inst, char *buf, size_t len)
{
    if (inst->rt && inst->rt->broken)
        snprintf(buf, len, "ran out of memory");
    else if (inst->rt && inst->rt->js->timed_out)
        snprintf(buf, len, "exceeded its CPU time limit");
    else if (inst->api.aborted)
        snprintf(buf, len, "was aborted by its code (state.abort): %s", inst->api.abort_reason);
    else if (inst->api.block_failed)
        snprintf(buf, len, "failed: its blockConcurrencyWhile() callback threw");
    else
        snprintf(buf, len, "failed");
    return buf;
}

void instance_reset(instance_t *inst, int status, const char *why)
{
    fail_inflight(inst, status, why);
    drop_js(inst, 1011, "the Durable Object was reset");
    inst->reset_requested = false;
    if (inst->queue)
        shard_mark_runnable(inst);
}

void instance_block_timeout(instance_t *inst)
{
    shard_t *s = inst->shard;
    char why[200];
    snprintf(why, sizeof why,
             "kept its input gate closed for more than %llu ms (a blockConcurrencyWhile() or "
             "transaction() callback that never settled)",
             (unsigned long long)s->cfg.block_timeout_ms);
    log_warn(inst->label, "%s; it has been reset", why);
    /* The requests that waited behind the gate fail with the reason; the
     * WebSocket and alarm events go to the fresh instance. */
    event_t *ev = inst->queue;
    inst->queue = inst->queue_tail = NULL;
    while (ev) {
        event_t *next = ev->next;
        ev->next = NULL;
        if (ev->kind == EV_HTTP) {
            char msg[512];
            snprintf(msg, sizeof msg, "the Durable Object %s %s; it has been reset", inst->label,
                     why);
            event_fail(ev, 500, "DO_RESET", msg);
        } else {
            if (inst->queue_tail)
                inst->queue_tail->next = ev;
            else
                inst->queue = ev;
            inst->queue_tail = ev;
        }
        ev = next;
    }
    instance_reset(inst, 500, why);
}

void instance_hibernate(instance_t *inst)
{
    drop_js(inst, 1011, "the Durable Object hibernated");
}

bool instance_idle(const instance_t *inst)
{
    return !inst->queue && inst->inflight == 0 && !inst->held && !inst->held_out &&
           !instance_durability_pending(inst) && inst->api.ntimers == 0 &&
           inst->api.blocked == 0 && !inst->sync_waiters && !inst->listed_runnable &&
           !inst->listed_dirty && !inst->admin_hold && inst->nstreams == 0 &&
           inst->api.nfetches == 0 && inst->api.ncrypto_jobs == 0;
}

void instance_evict(instance_t *inst)
{
    shard_t *s = inst->shard;
    drop_js(inst, 1001, "the Durable Object went away");
    sock_orphan_all(inst);
    instance_detach_sync(inst);
    if (inst->removed)
        s->nremoved--;
    map_remove(&s->instances, inst->key, inst->keylen);
    store_kv_free(inst->api.kv);
    usage_unref(inst->usage);
    actor_class_unref(inst->cls);
    free(inst->key);
    free(inst->id);
    free(inst);
}

/* Creates the JS object: a constructor call in the class's runtime. */
static int start(instance_t *inst)
{
    shard_t *s = inst->shard;
    char err[512];
    classrt_t *rt = classrt_get(s, inst->cls, err, sizeof err);
    if (!rt) {
        shard_class_logf(s, inst->cls, inst->label, (const char *)inst->id, 3, "%s", err);
        return -1;
    }
    JSContext *ctx = rt->js->ctx;
    inst->rt = rt;
    rt->ninstances++;
    inst->status = INST_ACTIVE;
    inst->state = api_state_new(ctx, &inst->api);
    inst->api.env = JS_NewObject(ctx);
    /* this.env: the app's env vars as strings (bindings come with their issue). */
    for (size_t i = 0; i < inst->cls->nenv; i++)
        JS_SetPropertyStr(ctx, inst->api.env, inst->cls->env[i].key,
                          JS_NewString(ctx, inst->cls->env[i].value));
    if (JS_IsException(inst->state)) {
        inst->state = JS_UNDEFINED;
        drop_js(inst, 1011, "the Durable Object could not be started");
        return -1;
    }
    classrt_enter(rt, inst);
    JSValue args[2] = {inst->state, inst->api.env};
    JSValue proto = JS_GetPropertyStr(ctx, rt->ctor, "prototype");
    JSValue alarm = JS_GetPropertyStr(ctx, proto, "alarm");
    inst->api.has_alarm_handler = JS_IsFunction(ctx, alarm);
    JS_FreeValue(ctx, alarm);
    JS_FreeValue(ctx, proto);
    inst->obj = JS_CallConstructor(ctx, rt->ctor, 2, args);
    bool failed = JS_IsException(inst->obj);
    if (failed) {
        JSValue e = JS_GetException(ctx);
        if (!rt->js->timed_out) {
            char *msg = web_format_error(ctx, e);
            shard_class_logf(s, inst->cls, inst->label, (const char *)inst->id, 3,
                             "the constructor threw: %s", msg);
            free(msg);
        }
        inst->obj = JS_UNDEFINED;
        JS_FreeValue(ctx, e);
    }
    if (classrt_leave(rt, inst) < 0 || failed) {
        drop_js(inst, 1011, "the Durable Object could not be started");
        return -1;
    }
    return 0;
}

/* ---- delivering a request ---------------------------------------------------- */

static event_t *take_event(shard_t *s, JSContext *ctx, JSValueConst *data)
{
    int64_t id;
    if (JS_ToInt64(ctx, &id, data[0]) < 0)
        return NULL;
    uint64_t key = (uint64_t)id;
    return map_remove(&s->events, &key, sizeof key);
}

static const char *const ws_handler_names[] = {
    [EV_WS_MESSAGE] = "webSocketMessage",
    [EV_WS_CLOSE] = "webSocketClose",
    [EV_WS_ERROR] = "webSocketError",
};

/* A WebSocket or alarm event's handler finished. */
static void settle_ws(event_t *ev, JSContext *ctx, JSValueConst value, bool ok)
{
    instance_t *inst = ev->inst;
    if (ev->kind == EV_ALARM) {
        if (!ok && !inst->rt->js->timed_out && !inst->rt->js->oom) {
            char *msg = web_format_error(ctx, value);
            log_error(inst->label, "alarm() threw: %s", msg);
            free(msg);
        }
        ev->clean = ok;
        event_done(ev);
        if (inst->queue)
            shard_mark_runnable(inst);
        return;
    }
    if (!ok && !inst->rt->js->timed_out && !inst->rt->js->oom) {
        char *msg = web_format_error(ctx, value);
        log_error(inst->label, "%s%s threw: %s", ev->sock && !ev->sock->ws.hibernatable
                                                     ? "a WebSocket event listener for "
                                                     : "",
                  ev->sock && !ev->sock->ws.hibernatable
                      ? (ev->kind == EV_WS_MESSAGE ? "\"message\""
                                                   : ev->kind == EV_WS_CLOSE ? "\"close\""
                                                                              : "\"error\"")
                      : ws_handler_names[ev->kind],
                  msg);
        free(msg);
    }
    event_done(ev);
    if (inst->queue)
        shard_mark_runnable(inst);
}

/* The answer to an upgrade request that returned new Response(null,
 * {status: 101, webSocket}): the handshake's headers are added, and the
 * connection goes to the socket once the answer is out. Returns an error
 * answer instead when the class got the handshake wrong. */
static http_response_t *upgrade_answer(event_t *ev, JSContext *ctx, JSValueConst value,
                                       http_response_t *res)
{
    const char *err = NULL;
    api_ws_t *ws = api_ws_from_response(ctx, value, &err);
    if (!ws && !err)
        return res;
    if (!err && !ev->upgrade)
        err = "fetch() returned a WebSocket, but the request was not a WebSocket upgrade "
              "(GET with Upgrade: websocket)";
    if (!err && res->status != 101)
        err = "a Response that carries a webSocket must have status 101";
    if (!err && ws->owner != &ev->inst->api)
        err = "the WebSocket was accepted by another Durable Object";
    if (err) {
        log_error(ev->inst->label, "%s", err);
        http_response_free(res);
        return http_response_error(500, "DO_BAD_WEBSOCKET", err);
    }
    char accept[29];
    ws_accept_key(ev->ws_key, strlen(ev->ws_key), accept);
    http_headers_add(&res->headers, &res->nheaders, "Upgrade", "websocket");
    http_headers_add(&res->headers, &res->nheaders, "Connection", "Upgrade");
    http_headers_add(&res->headers, &res->nheaders, "Sec-WebSocket-Accept", accept);
    ev->upgrade_sock = (actor_sock_t *)ws;
    sock_upgrading(ev->upgrade_sock);
    return res;
}

/* What the headers of a response take on the wire; Cloudflare allows 128 KB
 * in all, and clients refuse much less than what a class could make. */
#define RESPONSE_HEADERS_MAX (128u * 1024)

static size_t header_bytes(const http_response_t *res)
{
    size_t n = 0;
    for (size_t i = 0; i < res->nheaders; i++)
        n += res->headers[i].name_len + res->headers[i].value_len + 4;
    return n;
}

static void settle(shard_t *s, event_t *ev, JSContext *ctx, JSValueConst value, bool ok)
{
    instance_t *inst = ev->inst;
    inst->inflight--;
    inst->last_used_ns = uv_hrtime();
    if (ev->kind != EV_HTTP) {
        settle_ws(ev, ctx, value, ok);
        return;
    }
    http_response_t *res = NULL;
    if (inst->rt->js->oom) {
        /* Whatever the class made of it, an event that ran the runtime out
         * of memory fails, as when an isolate is terminated. */
        char msg[400];
        snprintf(msg, sizeof msg,
                 "the Durable Object %s ran out of memory (limit %zu MiB per class on a "
                 "shard); its class's instances on this shard have been reset",
                 inst->label, s->cfg.memory_limit >> 20);
        res = http_response_error(500, "DO_MEMORY_LIMIT", msg);
        inst->usage->errors++;
    } else if (ok) {
        JSValue pump = JS_UNDEFINED;
        if (web_response_take(inst->rt->web, ctx, value, &res, &pump) < 0) {
            JSValue e = JS_GetException(ctx);
            char *msg = web_format_error(ctx, e);
            shard_class_log(s, inst->cls, inst->label, (const char *)inst->id, 3, msg,
                            strlen(msg));
            res = http_response_error(500, "DO_BAD_RESPONSE", msg);
            inst->usage->errors++;
            free(msg);
            JS_FreeValue(ctx, e);
        } else if (header_bytes(res) > RESPONSE_HEADERS_MAX) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "the Durable Object's response has %zu bytes of headers, more than the %u "
                     "allowed (128 KiB in all); send large data in the body",
                     header_bytes(res), RESPONSE_HEADERS_MAX);
            shard_class_log(s, inst->cls, inst->label, (const char *)inst->id, 3, msg,
                            strlen(msg));
            http_response_free(res);
            if (!JS_IsUndefined(pump)) {
                /* Its body stream is not going anywhere: stop its source. */
                JSValue cancel = JS_GetPropertyStr(ctx, pump, "cancel");
                JSValue r = JS_Call(ctx, cancel, pump, 0, NULL);
                if (JS_IsException(r))
                    JS_FreeValue(ctx, JS_GetException(ctx));
                JS_FreeValue(ctx, r);
                JS_FreeValue(ctx, cancel);
                JS_FreeValue(ctx, pump);
            }
            res = http_response_error(500, "DO_BAD_RESPONSE", msg);
            inst->usage->errors++;
        } else if (!JS_IsUndefined(pump)) {
            ev->stream = actor_stream_new(inst, ev, pump);
        } else {
            res = upgrade_answer(ev, ctx, value, res);
        }
    } else if (inst->api.aborted) {
        char msg[sizeof inst->label + sizeof inst->api.abort_reason + 100];
        snprintf(msg, sizeof msg,
                 "the Durable Object %s was aborted by its code (state.abort): %s; it has been "
                 "reset",
                 inst->label, inst->api.abort_reason);
        res = http_response_error(500, "DO_ABORTED", msg);
        inst->usage->errors++;
    } else if (inst->rt->js->timed_out) {
        /* The interrupt surfaced as the async handler's rejection. */
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the Durable Object %s exceeded its CPU time limit of %llu ms for one event; "
                 "it has been reset",
                 inst->label, (unsigned long long)s->cfg.cpu_limit_ms);
        res = http_response_error(500, "DO_CPU_LIMIT", msg);
        inst->usage->errors++;
    } else {
        char *msg = web_format_error(ctx, value);
        shard_class_logf(s, inst->cls, inst->label, (const char *)inst->id, 3,
                         "fetch() threw: %s", msg);
        inst->usage->errors++;
        /* The first line is the error; the stack stays in the log. */
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
        res = http_response_error(500, "DO_EXCEPTION", msg);
        free(msg);
    }
    /* Sockets this request accepted but did not return end with it. */
    sock_drop_unbound(inst, ev->id);
    event_answer(ev, res);
    if (inst->queue || (inst->stale && inst->inflight == 0))
        shard_mark_runnable(inst);
}

static JSValue on_settle(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                         int magic, JSValue *data)
{
    api_host_t *h = api_host(ctx);
    classrt_t *rt = (classrt_t *)h;
    event_t *ev = take_event(rt->shard, ctx, data);
    if (ev)
        settle(rt->shard, ev, ctx, argc > 0 ? argv[0] : JS_UNDEFINED, magic == 0);
    return JS_UNDEFINED;
}

/* Calls fetch(request) for an HTTP event. */
static JSValue call_fetch(instance_t *inst, event_t *ev, JSContext *ctx)
{
    classrt_t *rt = inst->rt;
    http_request_t *req = ev->req;
    JSValue jreq = web_request_new(rt->web, ctx, req->method, ev->url, req->headers,
                                   req->nheaders, req->body.len ? req->body.data : NULL,
                                   req->body.len);
    http_request_free(req);
    ev->req = NULL;
    JSValue ret = JS_EXCEPTION;
    if (!JS_IsException(jreq)) {
        JSValue fetch = JS_GetPropertyStr(ctx, inst->obj, "fetch");
        if (JS_IsFunction(ctx, fetch))
            ret = JS_Call(ctx, fetch, inst->obj, 1, (JSValueConst *)&jreq);
        else if (!JS_IsException(fetch))
            JS_ThrowTypeError(ctx, "the class %s has no fetch() method to handle HTTP requests",
                              inst->cls->class_name);
        JS_FreeValue(ctx, fetch);
        JS_FreeValue(ctx, jreq);
    }
    return ret;
}

static void deliver(instance_t *inst, event_t *ev)
{
    shard_t *s = inst->shard;
    classrt_t *rt = inst->rt;
    JSContext *ctx = rt->js->ctx;
    ev->id = ++s->next_event_id;
    map_put(&s->events, &ev->id, sizeof ev->id, ev);
    inst->inflight++;

    classrt_enter(rt, inst);
    inst->delivering = ev->id;
    JSValue ret;
    api_ws_t *ws = ev->sock ? &ev->sock->ws : NULL;
    switch (ev->kind) {
    case EV_HTTP:
        ret = call_fetch(inst, ev, ctx);
        break;
    case EV_WS_MESSAGE:
        ret = api_ws_deliver_message(ctx, inst->obj, ws, ev->binary, ev->msg, ev->msg_len);
        break;
    case EV_WS_CLOSE:
        ret = api_ws_deliver_close(ctx, inst->obj, ws, ev->code, ev->msg, ev->msg_len,
                                   ev->clean);
        break;
    case EV_WS_ERROR:
        ret = api_ws_deliver_error(ctx, inst->obj, ws, (const char *)ev->msg);
        break;
    default:
        ret = alarm_deliver(inst, ev, ctx);
        break;
    }
    inst->delivering = 0;
    if (JS_IsException(ret)) {
        JSValue e = JS_GetException(ctx);
        if (!rt->js->timed_out) {
            event_t *mine = map_remove(&s->events, &ev->id, sizeof ev->id);
            if (mine)
                settle(s, mine, ctx, e, false);
        }
        JS_FreeValue(ctx, e);
    } else {
        /* Promise.resolve(ret).then(ok, fail): a plain Response works too. */
        JSValue rf[2];
        JSValue p = JS_NewPromiseCapability(ctx, rf);
        JSValue r = JS_Call(ctx, rf[0], JS_UNDEFINED, 1, (JSValueConst *)&ret);
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, rf[0]);
        JS_FreeValue(ctx, rf[1]);
        JS_FreeValue(ctx, ret);
        JSValue idv = JS_NewInt64(ctx, (int64_t)ev->id);
        JSValue fns[2] = {JS_NewCFunctionData(ctx, on_settle, 1, 0, 1, &idv),
                          JS_NewCFunctionData(ctx, on_settle, 1, 1, 1, &idv)};
        JSValue then = JS_GetPropertyStr(ctx, p, "then");
        JSValue p2 = JS_Call(ctx, then, p, 2, (JSValueConst *)fns);
        JS_FreeValue(ctx, p2);
        JS_FreeValue(ctx, then);
        JS_FreeValue(ctx, fns[0]);
        JS_FreeValue(ctx, fns[1]);
        JS_FreeValue(ctx, p);
    }
    if (classrt_leave(rt, inst) < 0)
        inst->reset_requested = true;
}

/* Delivers queued events while the gate is open. */
void instance_run(instance_t *inst)
{
    shard_t *s = inst->shard;
    if (inst->admin_hold)
        return; /* admin.c runs the queue again when it is done */
    if (inst->stale && inst->inflight == 0) {
        /* The app's env changed: the old state goes now, the next event
         * starts a fresh instance with the new env. */
        inst->stale = false;
        instance_reset(inst, 500, "was redeployed");
    }
    while (inst->queue) {
        if (inst->reset_requested || (inst->rt && inst->rt->broken)) {
            char why[300];
            instance_reset(inst, 500, instance_failure(inst, why, sizeof why));
            continue;
        }
        /* Redeploy or delete: a fresh instance of the current code takes the
         * next event, once the old code has finished what it started. */
        actor_class_t *cur = actor_catalog_class(s->catalog, inst->cls->app_id,
                                                 inst->cls->name, strlen(inst->cls->name));
        if (!cur) {
            event_t *ev = inst->queue;
            inst->queue = ev->next;
            if (!inst->queue)
                inst->queue_tail = NULL;
            event_fail(ev, 404, "NOT_FOUND",
                       "the Durable Object class was deleted; deploy it again to use it");
            continue;
        }
        if (cur != inst->cls) {
            /* Every publish brings new class objects; only a new version
             * (code or env) replaces the instance's state. */
            if (!actor_class_same_version(cur, inst->cls)) {
                if (inst->inflight > 0)
                    return;
                drop_js(inst, 1012, "the Durable Object was redeployed");
            }
            if (strcmp(cur->uuid, inst->cls->uuid) != 0) {
                usage_unref(inst->usage);
                inst->usage = usage_get(s, cur);
            }
            actor_class_unref(inst->cls);
            inst->cls = actor_class_ref(cur);
        }
        if (inst->status == INST_COLD && start(inst) < 0) {
            /* Every waiting request learns the constructor failed. */
            while (inst->queue) {
                event_t *ev = inst->queue;
                inst->queue = ev->next;
                if (!inst->queue)
                    inst->queue_tail = NULL;
                event_fail(ev, 500, "DO_CONSTRUCTOR_FAILED",
                           "the Durable Object could not be started: its constructor threw or "
                           "timed out (see the server log)");
            }
            /* Its sockets cannot be served either. */
            sock_close_all(inst, true, 1011, "the Durable Object could not be started");
            return;
        }
        if (inst->api.blocked > 0)
            return;
        event_t *ev = inst->queue;
        inst->queue = ev->next;
        if (!inst->queue)
            inst->queue_tail = NULL;
        if (ev->kind == EV_HTTP && ev->upgrade && inst->api.nsockets >= s->cfg.ws_max_sockets) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "this Durable Object already holds %zu WebSockets, the most one instance "
                     "may have; try again later",
                     s->cfg.ws_max_sockets);
            event_fail(ev, 429, "TOO_MANY_WEBSOCKETS", msg);
            continue;
        }
        deliver(inst, ev);
    }
    if (inst->reset_requested) {
        char why[300];
        instance_reset(inst, 500, instance_failure(inst, why, sizeof why));
    }
}
