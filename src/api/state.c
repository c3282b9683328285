/* DurableObjectState and DurableObjectId (see state.h). The storage object
 * lives in storage.c; both share one handle per instance so that a reset
 * instance's leftover JS objects fail cleanly. Must not depend on actor/. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "crypto.h"
#include "fetch.h"
#include "web.h"
#include "sql.h"
#include "websocket.h"
#include "state_int.h"

static JSClassID state_class_id, id_class_id;

static void handle_finalizer(JSRuntime *rt, JSValue val)
{
    JSClassID cid = JS_GetClassID(val);
    api_handle_unref(JS_GetOpaque(val, cid));
}

static JSClassDef state_class = {"DurableObjectState", .finalizer = handle_finalizer};
static JSClassDef id_class = {"DurableObjectId", .finalizer = handle_finalizer};

void api_handle_unref(api_handle_t *h)
{
    if (h && --h->refs == 0) {
        free(h->name);
        free(h);
    }
}

api_state_t *api_handle_state(JSContext *ctx, JSValueConst this_val, JSClassID cid)
{
    api_handle_t *h = JS_GetOpaque(this_val, cid);
    if (!h) {
        JS_ThrowTypeError(ctx, "Illegal invocation");
        return NULL;
    }
    if (!h->st) {
        JS_ThrowTypeError(ctx, "this Durable Object instance has been reset; its state and "
                               "storage objects can no longer be used");
        return NULL;
    }
    return h->st;
}

JSValue api_wrap_handle(JSContext *ctx, JSClassID cid, api_handle_t *h)
{
    JSValue o = JS_NewObjectClass(ctx, (int)cid);
    if (JS_IsException(o))
        return o;
    h->refs++;
    JS_SetOpaque(o, h);
    return o;
}

api_state_t *api_state_from(JSContext *ctx, JSValueConst this_val)
{
    return api_handle_state(ctx, this_val, state_class_id);
}

/* ---- DurableObjectId ------------------------------------------------------ */

static JSValue id_to_string(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_handle_t *h = JS_GetOpaque2(ctx, this_val, id_class_id);
    if (!h)
        return JS_EXCEPTION;
    return JS_NewString(ctx, h->idhex);
}

static JSValue id_name(JSContext *ctx, JSValueConst this_val)
{
    api_handle_t *h = JS_GetOpaque2(ctx, this_val, id_class_id);
    if (!h)
        return JS_EXCEPTION;
    return JS_NewStringLen(ctx, h->name, h->name_len);
}

static JSValue id_equals(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_handle_t *a = JS_GetOpaque2(ctx, this_val, id_class_id);
    if (!a)
        return JS_EXCEPTION;
    api_handle_t *b = argc > 0 ? JS_GetOpaque(argv[0], id_class_id) : NULL;
    return JS_NewBool(ctx, b && strcmp(a->idhex, b->idhex) == 0);
}

static const JSCFunctionListEntry id_proto_funcs[] = {
    JS_CFUNC_DEF("toString", 0, id_to_string),
    JS_CFUNC_DEF("toJSON", 0, id_to_string),
    JS_CFUNC_DEF("equals", 1, id_equals),
    JS_CGETSET_DEF("name", id_name, NULL),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "DurableObjectId", JS_PROP_CONFIGURABLE),
};

/* ---- DurableObjectState --------------------------------------------------- */

/* p.then(fn magic 0, fn magic 1), fn getting the state's id object as its
 * data (the handle behind it tells whether the instance is still there).
 * Takes ownership of p; returns the new promise. */
static JSValue then_with_state(JSContext *ctx, JSValue p, JSValueConst state,
                               JSCFunctionData *fn)
{
    JSValue idobj = JS_GetPropertyStr(ctx, state, "id");
    JSValue fns[2] = {JS_NewCFunctionData(ctx, fn, 1, 0, 1, &idobj),
                      JS_NewCFunctionData(ctx, fn, 1, 1, 1, &idobj)};
    JS_FreeValue(ctx, idobj);
    JSValue then = JS_GetPropertyStr(ctx, p, "then");
    JSValue out = JS_Call(ctx, then, p, 2, (JSValueConst *)fns);
    JS_FreeValue(ctx, then);
    JS_FreeValue(ctx, p);
    JS_FreeValue(ctx, fns[0]);
    JS_FreeValue(ctx, fns[1]);
    return out;
}

static JSValue block_settled(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                             int magic, JSValue *data)
{
    api_handle_t *h = JS_GetOpaque(data[0], id_class_id);
    api_state_t *st = h ? h->st : NULL;
    if (st) {
        st->blocked--;
        if (magic)
            st->block_failed = true;
        if (st->unblocked)
            st->unblocked(st);
    }
    if (magic)
        return JS_Throw(ctx, JS_DupValue(ctx, argc > 0 ? argv[0] : JS_UNDEFINED));
    return JS_DupValue(ctx, argc > 0 ? argv[0] : JS_UNDEFINED);
}

void api_state_block(api_state_t *st)
{
    if (st->blocked++ == 0)
        st->blocked_since_ns = uv_hrtime();
}

static JSValue state_block_concurrency_while(JSContext *ctx, JSValueConst this_val, int argc,
                                             JSValueConst *argv)
{
    api_state_t *st = api_handle_state(ctx, this_val, state_class_id);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1 || !JS_IsFunction(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "blockConcurrencyWhile() needs a function");
    /* The gate closes before the callback runs and opens when its promise
     * settles; a rejection resets the object, as on Cloudflare. */
    api_state_block(st);
    JSValue ret = JS_Call(ctx, argv[0], JS_UNDEFINED, 0, NULL);
    JSValue p;
    if (JS_IsException(ret)) {
        JSValue e = JS_GetException(ctx);
        JSValue rf[2];
        p = JS_NewPromiseCapability(ctx, rf);
        JS_Call(ctx, rf[1], JS_UNDEFINED, 1, (JSValueConst *)&e);
        JS_FreeValue(ctx, rf[0]);
        JS_FreeValue(ctx, rf[1]);
        JS_FreeValue(ctx, e);
    } else {
        JSValue rf[2];
        p = JS_NewPromiseCapability(ctx, rf);
        JS_Call(ctx, rf[0], JS_UNDEFINED, 1, (JSValueConst *)&ret);
        JS_FreeValue(ctx, rf[0]);
        JS_FreeValue(ctx, rf[1]);
        JS_FreeValue(ctx, ret);
    }
    return then_with_state(ctx, p, this_val, block_settled);
}

static JSValue wait_settled(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                            int magic, JSValue *data)
{
    api_handle_t *h = JS_GetOpaque(data[0], id_class_id);
    api_state_t *st = h ? h->st : NULL;
    api_host_t *host = api_host(ctx);
    if (magic && st && host && host->log) {
        /* Nobody awaits this promise: its failure would vanish unless logged. */
        char *msg = web_format_error(ctx, argc > 0 ? argv[0] : JS_UNDEFINED);
        buf_t b = BUF_INIT;
        buf_printf(&b, "a promise passed to waitUntil() rejected: %s", msg);
        api_state_t *running = host->current;
        host->current = st; /* attributed to the instance that called waitUntil */
        host->log(host, 3, (const char *)b.data, b.len);
        host->current = running;
        buf_deinit(&b);
        free(msg);
    }
    return JS_UNDEFINED;
}

static JSValue state_wait_until(JSContext *ctx, JSValueConst this_val, int argc,
                                JSValueConst *argv)
{
    api_state_t *st = api_handle_state(ctx, this_val, state_class_id);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1)
        return JS_ThrowTypeError(ctx, "waitUntil() needs a promise");
    /* As on Cloudflare, waitUntil does not extend an object's life (pending
     * timers and I/O already do); it only makes sure a rejection is logged. */
    JSValue rf[2];
    JSValue p = JS_NewPromiseCapability(ctx, rf);
    if (JS_IsException(p))
        return p;
    JSValue r = JS_Call(ctx, rf[0], JS_UNDEFINED, 1, argv);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, rf[0]);
    JS_FreeValue(ctx, rf[1]);
    JSValue out = then_with_state(ctx, p, this_val, wait_settled);
    if (JS_IsException(out))
        return out;
    JS_FreeValue(ctx, out);
    return JS_UNDEFINED;
}

/* state.abort(reason?): resets the object, as on Cloudflare. The error it
 * throws cannot be caught, so the code that called it stops here; the
 * actor fails the instance's events and resets it when the entry ends. */
static JSValue state_abort(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_handle_state(ctx, this_val, state_class_id);
    if (!st)
        return JS_EXCEPTION;
    const char *reason = NULL;
    if (argc > 0 && !JS_IsUndefined(argv[0])) {
        reason = JS_ToCString(ctx, argv[0]);
        if (!reason)
            return JS_EXCEPTION;
    }
    snprintf(st->abort_reason, sizeof st->abort_reason, "%s",
             reason && *reason ? reason : "no reason given");
    JS_FreeCString(ctx, reason);
    st->aborted = true;
    api_host_t *host = api_host(ctx);
    if (host && host->log) {
        buf_t b = BUF_INIT;
        buf_printf(&b, "aborted by its code (state.abort): %s; the instance is reset",
                   st->abort_reason);
        host->log(host, 3, (const char *)b.data, b.len);
        buf_deinit(&b);
    }
    JSValue err = JS_NewError(ctx);
    buf_t m = BUF_INIT;
    buf_printf(&m, "the Durable Object was aborted: %s", st->abort_reason);
    JS_DefinePropertyValueStr(ctx, err, "message", JS_NewStringLen(ctx, (const char *)m.data, m.len),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    buf_deinit(&m);
    JS_SetUncatchableError(ctx, err, true);
    return JS_Throw(ctx, err);
}

static const JSCFunctionListEntry state_proto_funcs[] = {
    JS_CFUNC_DEF("blockConcurrencyWhile", 1, state_block_concurrency_while),
    JS_CFUNC_DEF("waitUntil", 1, state_wait_until),
    JS_CFUNC_DEF("abort", 1, state_abort),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "DurableObjectState", JS_PROP_CONFIGURABLE),
};

int api_state_init_context(JSContext *ctx)
{
    JSRuntime *rt = JS_GetRuntime(ctx);
    if (!state_class_id) {
        /* Class ids are process-wide; the first context to get here under the
         * lock of pthread_once would be nicer, but JS_NewClassID itself is
         * atomic-safe enough for ids allocated before shards start. */
        JS_NewClassID(&state_class_id);
        JS_NewClassID(&id_class_id);
    }
    if (JS_NewClass(rt, state_class_id, &state_class) < 0 ||
        JS_NewClass(rt, id_class_id, &id_class) < 0)
        return -1;
    JSValue proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, state_proto_funcs,
                               sizeof state_proto_funcs / sizeof state_proto_funcs[0]);
    JS_SetClassProto(ctx, state_class_id, proto);
    proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, id_proto_funcs,
                               sizeof id_proto_funcs / sizeof id_proto_funcs[0]);
    JS_SetClassProto(ctx, id_class_id, proto);
    if (api_storage_init_context(ctx) < 0 || api_timers_init_context(ctx) < 0)
        return -1;
    JSValue sp = JS_GetClassProto(ctx, state_class_id);
    int rc = api_ws_init_context(ctx, sp);
    JS_FreeValue(ctx, sp);
    return rc;
}

void api_state_free_context(JSContext *ctx)
{
    api_ws_free_context(ctx);
    api_storage_free_context(ctx);
}

JSValue api_state_new(JSContext *ctx, api_state_t *st)
{
    api_handle_t *h = xcalloc(1, sizeof *h);
    h->st = st;
    h->name = xmemdup(st->name, st->name_len + 1);
    h->name[st->name_len] = '\0';
    h->name_len = st->name_len;
    memcpy(h->idhex, st->idhex, sizeof h->idhex);
    st->handle = h;
    h->refs = 1; /* the instance's reference, dropped by api_state_reset */

    JSValue state = api_wrap_handle(ctx, state_class_id, h);
    JSValue id = api_wrap_handle(ctx, id_class_id, h);
    JSValue storage = api_storage_new(ctx, h);
    JSValue sql = api_sql_new(ctx, h);
    if (!JS_IsException(storage) && !JS_IsException(sql))
        JS_DefinePropertyValueStr(ctx, storage, "sql", sql, JS_PROP_ENUMERABLE);
    else
        JS_FreeValue(ctx, sql);
    if (JS_IsException(state) || JS_IsException(id) || JS_IsException(storage)) {
        JS_FreeValue(ctx, state);
        JS_FreeValue(ctx, id);
        JS_FreeValue(ctx, storage);
        return JS_EXCEPTION;
    }
    JS_DefinePropertyValueStr(ctx, state, "id", id, JS_PROP_ENUMERABLE);
    JS_DefinePropertyValueStr(ctx, state, "storage", storage, JS_PROP_ENUMERABLE);
    return state;
}

void api_state_reset(JSContext *ctx, api_state_t *st)
{
    api_timers_cancel_all(st);
    api_storage_reset(ctx, st);
    api_ws_detach_all(st); /* the sockets themselves stay open */
    api_fetch_cancel_all(st);
    api_crypto_cancel_all(st);
    if (st->handle) {
        st->handle->st = NULL;
        api_handle_unref(st->handle);
        st->handle = NULL;
    }
}
