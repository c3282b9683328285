/* Class runtimes on a shard (DESIGN.md 2.3): one QuickJS runtime and context
 * per deployed class version, shared by every instance of that version on
 * this shard. Builds the context (Web APIs, state/storage classes, timers),
 * loads the module from bytecode, and brackets every entry into JS so that
 * limits and attribution apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/fetch.h"
#include "../api/state.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "actor_int.h"

static void rt_log(api_host_t *h, int level, const char *msg, size_t len)
{
    classrt_t *rt = (classrt_t *)h;
    const char *subject = rt->label, *id = NULL;
    if (h->current) {
        instance_t *inst = h->current->owner;
        subject = inst->label;
        id = (const char *)inst->id;
    }
    shard_class_log(rt->shard, rt->cls, subject, id, level, msg, len);
}

static void web_log(void *opaque, int level, const char *msg, size_t len)
{
    rt_log(opaque, level, msg, len);
}

/* A timer fired: an entry into JS for its instance. */
static void rt_run_callback(api_host_t *h, api_state_t *st, JSValueConst fn, int argc,
                            JSValueConst *argv)
{
    classrt_t *rt = (classrt_t *)h;
    instance_t *inst = st->owner;
    if (inst->rt != rt || inst->status != INST_ACTIVE)
        return;
    classrt_enter(rt, inst);
    JSValue r = JS_Call(rt->js->ctx, fn, JS_UNDEFINED, argc, argv);
    if (JS_IsException(r)) {
        JSValue e = JS_GetException(rt->js->ctx);
        if (!rt->js->timed_out && !jsrt_is_oom(rt->js->ctx, e)) {
            char *s = web_format_error(rt->js->ctx, e);
            shard_class_logf(rt->shard, inst->cls, inst->label, (const char *)inst->id, 3,
                             "uncaught exception in a timer callback: %s", s);
            free(s);
            rt->usage->errors++;
        }
        JS_Throw(rt->js->ctx, e);
    }
    JS_FreeValue(rt->js->ctx, r);
    if (classrt_leave(rt, inst) < 0) {
        char why[300];
        instance_reset(inst, 500, instance_failure(inst, why, sizeof why));
    }
}

void classrt_enter(classrt_t *rt, instance_t *inst)
{
    rt->host.current = inst ? &inst->api : NULL;
    if (rt->depth++ == 0)
        rt->cpu_started = usage_thread_cpu_ns();
    jsrt_begin(rt->js, rt->shard->cfg.cpu_limit_ms);
}

/* CPU time of the entry that ends now, for usage's do_cpu_ms. */
static void account_cpu(classrt_t *rt)
{
    if (rt->depth > 0 && --rt->depth == 0) {
        uint64_t now = usage_thread_cpu_ns();
        if (now > rt->cpu_started)
            rt->usage->cpu_ns += now - rt->cpu_started;
    }
}

int classrt_leave(classrt_t *rt, instance_t *inst)
{
    JSContext *ctx = rt->js->ctx;
    int rc = 0;
    /* Run the promise jobs this entry started, still attributed to inst. */
    while (jsrt_drain(rt->js) < 0) {
        JSValue e = JS_GetException(ctx);
        if (rt->js->timed_out) {
            JS_FreeValue(ctx, e);
            break;
        }
        if (jsrt_is_oom(ctx, e))
            rt->broken = true;
        JS_FreeValue(ctx, e);
    }
    /* An exception the caller left pending (from a direct call). */
    if (JS_HasException(ctx)) {
        JSValue e = JS_GetException(ctx);
        if (jsrt_is_oom(ctx, e))
            rt->broken = true;
        JS_FreeValue(ctx, e);
    }
    account_cpu(rt);
    if (rt->js->timed_out) {
        shard_class_logf(rt->shard, rt->cls, inst ? inst->label : rt->label,
                         inst ? (const char *)inst->id : NULL, 3,
                         "exceeded the CPU limit of %llu ms for one event; the instance is reset",
                         (unsigned long long)rt->shard->cfg.cpu_limit_ms);
        rc = -1;
    }
    if (rt->js->oom)
        rt->broken = true;
    if (rt->broken) {
        if (!rt->oom_logged)
            shard_class_logf(rt->shard, rt->cls, rt->label, NULL, 3,
                             "ran out of memory (limit %zu MiB per class on a shard); the class "
                             "runtime and its instances on this shard are reset",
                             rt->shard->cfg.memory_limit >> 20);
        rt->oom_logged = true;
        rc = -1;
    }
    if (inst && (inst->api.block_failed || inst->api.aborted))
        rc = -1;
    rt->host.current = NULL;
    rt->js->deadline_ns = 0;
    if (inst)
        instance_note_writes(inst);
    return rc;
}

static char *make_key(const actor_class_t *cls, size_t *len)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, cls->app_id);
    buf_putc(&b, 0);
    buf_puts(&b, cls->name);
    buf_putc(&b, 0);
    buf_printf(&b, "%lld", (long long)cls->version);
    buf_putc(&b, 0);
    buf_printf(&b, "%lld", (long long)cls->env_version);
    return (char *)buf_steal(&b, len);
}

classrt_t *classrt_get(shard_t *s, actor_class_t *cls, char *err, size_t errlen)
{
    size_t klen;
    char *key = make_key(cls, &klen);
    classrt_t *rt = map_get(&s->runtimes, key, klen);
    if (rt && !rt->broken) {
        free(key);
        return rt;
    }
    if (rt) {
        /* A broken runtime still has instances being torn down: retire it
         * (freed once they are gone) and start afresh under the same key. */
        map_remove(&s->runtimes, key, klen);
        rt->next_retired = s->retired;
        s->retired = rt;
    }
    rt = xcalloc(1, sizeof *rt);
    rt->shard = s;
    rt->cls = actor_class_ref(cls);
    rt->usage = usage_get(s, cls);
    rt->key = key;
    rt->keylen = klen;
    rt->ctor = JS_UNDEFINED;
    snprintf(rt->label, sizeof rt->label, "%s/%s", cls->app_id, cls->name);
    rt->js = jsrt_new(s->cfg.memory_limit);
    if (!rt->js) {
        snprintf(err, errlen, "cannot create a JavaScript runtime");
        goto fail;
    }
    rt->js->owner = rt;
    rt->host.loop = &s->loop;
    rt->host.label = rt->label;
    map_init(&rt->host.timers);
    rt->host.run_callback = rt_run_callback;
    rt->host.log = rt_log;
    sock_host_init(&rt->host);
    commit_host_init(&rt->host);
    rt->host.ws_max_sockets = s->cfg.ws_max_sockets;
    rt->host.fetch_policy = s->cfg.fetch_policy;
    JSContext *ctx = rt->js->ctx;
    api_host_attach(ctx, &rt->host);
    rt->web = web_new(ctx, web_log, &rt->host);
    if (!rt->web || api_state_init_context(ctx) < 0)
        goto fail_js;
    char *export_name = NULL;
    jsrt_begin(rt->js, s->cfg.cpu_limit_ms);
    uint64_t cpu0 = usage_thread_cpu_ns();
    rt->ctor = jsrt_load_class(rt->js, cls->bytecode, cls->bytecode_len, &export_name);
    uint64_t cpu1 = usage_thread_cpu_ns();
    rt->usage->cpu_ns += cpu1 > cpu0 ? cpu1 - cpu0 : 0;
    rt->js->deadline_ns = 0;
    free(export_name);
    if (JS_IsException(rt->ctor))
        goto fail_js;
    map_put(&s->runtimes, rt->key, rt->keylen, rt);
    return rt;
fail_js: {
    JSValue e = JS_GetException(ctx);
    char *msg = rt->web ? web_format_error(ctx, e) : NULL;
    snprintf(err, errlen, "the class failed to load: %s", msg ? msg : "unknown error");
    free(msg);
    JS_FreeValue(ctx, e);
}
fail:
    rt->ctor = JS_UNDEFINED;
    classrt_free(rt);
    return NULL;
}

void classrt_free(classrt_t *rt)
{
    if (rt->js) {
        JSContext *ctx = rt->js->ctx;
        JS_FreeValue(ctx, rt->ctor);
        api_fetch_host_deinit(&rt->host);
        api_state_free_context(ctx);
        if (rt->web)
            web_free(rt->web, ctx);
        map_deinit(&rt->host.timers);
        jsrt_free(rt->js);
    }
    usage_unref(rt->usage);
    actor_class_unref(rt->cls);
    free(rt->key);
    free(rt);
}

void classrt_release(classrt_t *rt)
{
    rt->ninstances--;
}

/* Resets every instance of a runtime that ran out of memory, as an isolate
 * is torn down with all its objects: the memory comes back now, not when
 * each instance happens to get its next event. */
static void reset_instances_of(shard_t *s, classrt_t *rt)
{
    while (rt->ninstances > 0) {
        instance_t *batch[128];
        int n = 0;
        size_t it;
        for (map_entry_t *e = map_first(&s->instances, &it); e && n < 128;
             e = map_next(&s->instances, e, &it)) {
            instance_t *inst = e->value;
            if (inst->rt == rt)
                batch[n++] = inst;
        }
        if (n == 0)
            break;
        for (int i = 0; i < n; i++)
            instance_reset(batch[i], 500, "ran out of memory");
    }
}

/* Frees runtimes without instances that are broken or no longer the class's
 * current version; resets the instances of broken ones first. Runs at a safe
 * point of the turn, never inside an entry into JS. */
void classrt_reap(shard_t *s)
{
    classrt_t *dead[64];
    int nd = 0;
    size_t it;
    for (map_entry_t *e = map_first(&s->runtimes, &it); e; e = map_next(&s->runtimes, e, &it)) {
        classrt_t *rt = e->value;
        if (rt->broken && rt->ninstances > 0)
            reset_instances_of(s, rt); /* instance_reset leaves the map of runtimes as is */
    }
    for (classrt_t *rt = s->retired; rt; rt = rt->next_retired)
        if (rt->ninstances > 0)
            reset_instances_of(s, rt);
    for (map_entry_t *e = map_first(&s->runtimes, &it); e && nd < 64;
         e = map_next(&s->runtimes, e, &it)) {
        classrt_t *rt = e->value;
        if (rt->ninstances > 0)
            continue;
        actor_class_t *cur = actor_catalog_class(s->catalog, rt->cls->app_id, rt->cls->name,
                                                 strlen(rt->cls->name));
        if (rt->broken || !cur || !actor_class_same_version(cur, rt->cls) || s->exiting)
            dead[nd++] = rt;
    }
    for (int i = 0; i < nd; i++) {
        map_remove(&s->runtimes, dead[i]->key, dead[i]->keylen);
        classrt_free(dead[i]);
    }
    for (classrt_t **pp = &s->retired; *pp;) {
        classrt_t *rt = *pp;
        if (rt->ninstances > 0) {
            pp = &rt->next_retired;
            continue;
        }
        *pp = rt->next_retired;
        classrt_free(rt);
    }
}

/* ---- deploy-time check ----------------------------------------------------------- */

static void check_log(api_host_t *h, int level, const char *msg, size_t len)
{
    log_raw(level >= 3 ? LOG_ERROR : LOG_INFO, h->label, msg, len);
}

static void check_web_log(void *opaque, int level, const char *msg, size_t len)
{
    check_log(opaque, level, msg, len);
}

static void check_run_callback(api_host_t *h, api_state_t *st, JSValueConst fn, int argc,
                               JSValueConst *argv)
{
}

int actor_check_class(uv_loop_t *loop, const uint8_t *bc, size_t len, size_t memory_limit,
                      uint64_t cpu_limit_ms, char **class_name, char **export_name, buf_t *err)
{
    *class_name = NULL;
    *export_name = NULL;
    api_host_t host;
    memset(&host, 0, sizeof host);
    host.loop = loop;
    host.label = "deploy";
    map_init(&host.timers);
    host.run_callback = check_run_callback;
    host.log = check_log;
    jsrt_t *js = jsrt_new(memory_limit);
    if (!js) {
        buf_puts(err, "cannot create a JavaScript runtime");
        map_deinit(&host.timers);
        return -1;
    }
    JSContext *ctx = js->ctx;
    int rc = -1;
    api_host_attach(ctx, &host);
    web_t *web = web_new(ctx, check_web_log, &host);
    JSValue cls = JS_EXCEPTION;
    if (web && api_state_init_context(ctx) == 0) {
        jsrt_begin(js, cpu_limit_ms);
        cls = jsrt_load_class(js, bc, len, export_name);
        js->deadline_ns = 0;
    }
    if (JS_IsException(cls)) {
        JSValue e = JS_GetException(ctx);
        if (js->timed_out) {
            buf_printf(err, "evaluating the module took longer than %llu ms",
                       (unsigned long long)cpu_limit_ms);
        } else {
            JS_Throw(ctx, e);
            e = JS_UNDEFINED;
            extern void jscompiler_describe_exception(JSContext * c, const char *f, buf_t *o);
            buf_puts(err, "the module failed to evaluate: ");
            jscompiler_describe_exception(ctx, host.label, err);
        }
        JS_FreeValue(ctx, e);
    } else {
        JSValue n = JS_GetPropertyStr(ctx, cls, "name");
        const char *s = JS_ToCString(ctx, n);
        *class_name = xstrdup(s ? s : "");
        JS_FreeCString(ctx, s);
        JS_FreeValue(ctx, n);
        JS_FreeValue(ctx, cls);
        rc = 0;
    }
    api_state_free_context(ctx);
    if (web)
        web_free(web, ctx);
    map_deinit(&host.timers);
    jsrt_free(js);
    return rc;
}
