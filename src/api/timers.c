/* setTimeout/setInterval/clearTimeout/clearInterval on the shard's libuv
 * loop. A timer belongs to the instance whose code created it: it fires as an
 * entry into JS for that instance, and dies with it (api_timers_cancel_all on
 * reset or eviction). Must not depend on actor/: firing goes through
 * host->run_callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"
#include "state_int.h"

struct api_timer {
    uv_timer_t handle;
    api_timer_t *prev, *next; /* in owner's list */
    api_host_t *host;
    api_state_t *owner;
    JSContext *ctx;
    int id;
    uint64_t repeat_ms; /* 0: one-shot */
    JSValue fn;
    int argc;
    JSValue *argv;
    bool firing;   /* inside run_callback */
    bool cancelled;
};

/* Bound on live timers per instance, so a loop of setTimeout cannot eat the
 * shard's memory. */
#define MAX_TIMERS_PER_INSTANCE 10000

static void key_of(int id, char out[16], size_t *len)
{
    *len = (size_t)snprintf(out, 16, "%d", id);
}

static void close_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Unlinks and releases t (its JS values now, its memory when libuv is done). */
static void timer_destroy(api_timer_t *t)
{
    char k[16];
    size_t kl;
    key_of(t->id, k, &kl);
    map_remove(&t->host->timers, k, kl);
    api_state_t *st = t->owner;
    if (t->prev)
        t->prev->next = t->next;
    else
        st->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    st->ntimers--;
    JS_FreeValue(t->ctx, t->fn);
    for (int i = 0; i < t->argc; i++)
        JS_FreeValue(t->ctx, t->argv[i]);
    free(t->argv);
    t->fn = JS_UNDEFINED;
    t->argc = 0;
    t->argv = NULL;
    uv_timer_stop(&t->handle);
    t->handle.data = t;
    uv_close((uv_handle_t *)&t->handle, close_cb);
}

static void timer_cb(uv_timer_t *h)
{
    api_timer_t *t = h->data;
    JSValue fn = JS_DupValue(t->ctx, t->fn);
    t->firing = true;
    t->host->run_callback(t->host, t->owner, fn, t->argc, (JSValueConst *)t->argv);
    JS_FreeValue(t->ctx, fn);
    t->firing = false;
    /* The callback may have cleared this timer, or its instance may have been
     * reset (which cancels every timer): destroy only once, here. */
    if (t->cancelled || !t->repeat_ms)
        timer_destroy(t);
}

static JSValue set_timer(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                         int repeat)
{
    api_host_t *host = api_host(ctx);
    if (!host || !host->current)
        return JS_ThrowTypeError(ctx, "%s() can only be called while handling an event (a "
                                      "request, message or alarm), not at module load time",
                                 repeat ? "setInterval" : "setTimeout");
    if (argc < 1 || !JS_IsFunction(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "%s() needs a function as its first argument",
                                 repeat ? "setInterval" : "setTimeout");
    api_state_t *st = host->current;
    if (st->ntimers >= MAX_TIMERS_PER_INSTANCE)
        return JS_ThrowRangeError(ctx, "too many timers: an instance may have at most %d",
                                  MAX_TIMERS_PER_INSTANCE);
    double delay = 0;
    if (argc > 1 && JS_ToFloat64(ctx, &delay, argv[1]) < 0)
        return JS_EXCEPTION;
    if (!(delay >= 0))
        delay = 0;
    if (delay > 2147483647.0)
        delay = 2147483647.0;
    api_timer_t *t = xcalloc(1, sizeof *t);
    t->host = host;
    t->owner = st;
    t->ctx = ctx;
    t->id = ++host->next_timer_id;
    if (host->next_timer_id >= 0x7ffffff0)
        host->next_timer_id = 0;
    t->fn = JS_DupValue(ctx, argv[0]);
    t->argc = argc > 2 ? argc - 2 : 0;
    t->argv = t->argc ? xcalloc((size_t)t->argc, sizeof(JSValue)) : NULL;
    for (int i = 0; i < t->argc; i++)
        t->argv[i] = JS_DupValue(ctx, argv[i + 2]);
    uint64_t ms = (uint64_t)delay;
    t->repeat_ms = repeat ? (ms ? ms : 1) : 0;
    uv_timer_init(host->loop, &t->handle);
    t->handle.data = t;
    /* The loop's clock was read when this turn began, and JS may have run
     * for a while since: without this the timer would fire early. */
    uv_update_time(host->loop);
    /* That clock counts whole milliseconds (possibly on the coarse clock),
     * so it lags the precise one performance.now() reads by up to a couple
     * of ms: wait that much more, or the timer could fire before `delay`
     * has passed. */
    if (ms > 0) {
        uint64_t precise = uv_hrtime(), loop_ns = uv_now(host->loop) * 1000000ULL;
        if (precise > loop_ns)
            ms += (precise - loop_ns + 999999) / 1000000;
    }
    uv_timer_start(&t->handle, timer_cb, ms, t->repeat_ms);
    t->next = st->timers;
    if (st->timers)
        st->timers->prev = t;
    st->timers = t;
    st->ntimers++;
    char k[16];
    size_t kl;
    key_of(t->id, k, &kl);
    map_put(&host->timers, k, kl, t);
    return JS_NewInt32(ctx, t->id);
}

static JSValue clear_timer(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_host_t *host = api_host(ctx);
    int32_t id;
    if (!host || argc < 1 || !JS_IsNumber(argv[0]) || JS_ToInt32(ctx, &id, argv[0]) < 0)
        return JS_UNDEFINED;
    char k[16];
    size_t kl;
    key_of(id, k, &kl);
    api_timer_t *t = map_get(&host->timers, k, kl);
    if (!t || t->cancelled)
        return JS_UNDEFINED;
    /* Timers are private to the instance that made them. */
    if (host->current && t->owner != host->current)
        return JS_UNDEFINED;
    t->cancelled = true;
    if (!t->firing)
        timer_destroy(t);
    return JS_UNDEFINED;
}

void api_timers_cancel_all(api_state_t *st)
{
    api_timer_t *t = st->timers;
    while (t) {
        api_timer_t *next = t->next;
        t->cancelled = true;
        if (!t->firing)
            timer_destroy(t);
        t = next;
    }
}

static const JSCFunctionListEntry timer_funcs[] = {
    JS_CFUNC_MAGIC_DEF("setTimeout", 2, set_timer, 0),
    JS_CFUNC_MAGIC_DEF("setInterval", 2, set_timer, 1),
    JS_CFUNC_DEF("clearTimeout", 1, clear_timer),
    JS_CFUNC_DEF("clearInterval", 1, clear_timer),
};

int api_timers_init_context(JSContext *ctx)
{
    JSValue g = JS_GetGlobalObject(ctx);
    JS_SetPropertyFunctionList(ctx, g, timer_funcs, sizeof timer_funcs / sizeof timer_funcs[0]);
    JS_FreeValue(ctx, g);
    return 0;
}

void api_host_attach(JSContext *ctx, api_host_t *h)
{
    JS_SetContextOpaque(ctx, h);
}

api_host_t *api_host(JSContext *ctx)
{
    return JS_GetContextOpaque(ctx);
}
