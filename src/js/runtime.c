/* Class runtimes (see runtime.h): one QuickJS runtime+context per class
 * version per shard. Must not depend on api/, actor/ or anything that knows
 * about instances: it only runs code and enforces the runtime's limits. */
#include "runtime.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/mem.h"

/* The module every class may import. DurableObject sets this.ctx and this.env
 * as Cloudflare's base class does; WorkerEntrypoint is there so code written
 * for both shapes at least loads. */
static const char workers_module_src[] =
    "export class DurableObject {\n"
    "  constructor(ctx, env) { this.ctx = ctx; this.env = env; }\n"
    "}\n"
    "export class WorkerEntrypoint {\n"
    "  constructor(ctx, env) { this.ctx = ctx; this.env = env; }\n"
    "}\n";

static int interrupt_cb(JSRuntime *rt, void *opaque)
{
    jsrt_t *r = opaque;
    if (r->deadline_ns && uv_hrtime() > r->deadline_ns) {
        r->timed_out = true;
        return 1;
    }
    return 0;
}

static JSModuleDef *module_loader(JSContext *ctx, const char *name, void *opaque)
{
    if (strcmp(name, "cloudflare:workers") != 0) {
        JS_ThrowReferenceError(ctx,
                               "import of '%s' is not allowed: a class may import only from "
                               "\"cloudflare:workers\"",
                               name);
        return NULL;
    }
    JSValue m = JS_Eval(ctx, workers_module_src, sizeof workers_module_src - 1, name,
                        JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(m))
        return NULL;
    JSModuleDef *def = JS_VALUE_GET_PTR(m);
    JS_FreeValue(ctx, m);
    return def;
}

/* The allocator: QuickJS's own accounting, plus a flag when the limit
 * refuses an allocation. A class can catch the resulting "out of memory"
 * error, so the flag, not the exception, is what tells the actor layer that
 * the runtime must be reset. */
#define ALLOC_OVERHEAD 8

static size_t rt_usable_size(const void *p)
{
    return malloc_usable_size((void *)p);
}

static bool over_limit(JSMallocState *s, size_t more)
{
    jsrt_t *r = s->opaque;
    if (r->memory_limit && s->malloc_size + more > r->memory_limit) {
        r->oom = true;
        return true;
    }
    return false;
}

static void *rt_malloc(JSMallocState *s, size_t size)
{
    if (over_limit(s, size))
        return NULL;
    void *p = malloc(size);
    if (!p)
        return NULL;
    s->malloc_count++;
    s->malloc_size += rt_usable_size(p) + ALLOC_OVERHEAD;
    return p;
}

static void rt_free(JSMallocState *s, void *p)
{
    if (!p)
        return;
    s->malloc_count--;
    s->malloc_size -= rt_usable_size(p) + ALLOC_OVERHEAD;
    free(p);
}

static void *rt_realloc(JSMallocState *s, void *p, size_t size)
{
    if (!p)
        return size ? rt_malloc(s, size) : NULL;
    size_t old = rt_usable_size(p);
    if (size == 0) {
        rt_free(s, p);
        return NULL;
    }
    if (size > old && over_limit(s, size - old))
        return NULL;
    void *q = realloc(p, size);
    if (!q)
        return NULL;
    s->malloc_size += rt_usable_size(q);
    s->malloc_size -= old;
    return q;
}

static const JSMallocFunctions rt_malloc_functions = {rt_malloc, rt_free, rt_realloc,
                                                      rt_usable_size};

jsrt_t *jsrt_new(size_t memory_limit)
{
    jsrt_t *r = xcalloc(1, sizeof *r);
    r->memory_limit = memory_limit;
    r->rt = JS_NewRuntime2(&rt_malloc_functions, r);
    if (!r->rt) {
        free(r);
        return NULL;
    }
    JS_SetMaxStackSize(r->rt, 1024 * 1024);
    JS_SetRuntimeOpaque(r->rt, r);
    JS_SetInterruptHandler(r->rt, interrupt_cb, r);
    JS_SetModuleLoaderFunc(r->rt, NULL, module_loader, r);
    r->ctx = JS_NewContext(r->rt);
    if (!r->ctx) {
        JS_FreeRuntime(r->rt);
        free(r);
        return NULL;
    }
    return r;
}

void jsrt_free(jsrt_t *r)
{
    if (!r)
        return;
    JS_FreeContext(r->ctx);
    JS_FreeRuntime(r->rt);
    free(r);
}

jsrt_t *jsrt_from_ctx(JSContext *ctx)
{
    return JS_GetRuntimeOpaque(JS_GetRuntime(ctx));
}

void jsrt_begin(jsrt_t *r, uint64_t cpu_limit_ms)
{
    r->timed_out = false;
    r->deadline_ns = cpu_limit_ms ? uv_hrtime() + cpu_limit_ms * 1000000ULL : 0;
}

int jsrt_drain(jsrt_t *r)
{
    JSContext *c;
    for (;;) {
        int rc = JS_ExecutePendingJob(r->rt, &c);
        if (rc == 0)
            return 0;
        if (rc < 0)
            return -1;
    }
}

static JSValue settle_module(jsrt_t *r, JSValue ret)
{
    /* Evaluating a module gives a promise in this QuickJS: run the jobs and
     * read its outcome. */
    if (JS_IsException(ret))
        return ret;
    if (jsrt_drain(r) < 0) {
        JS_FreeValue(r->ctx, ret);
        return JS_EXCEPTION;
    }
    if (JS_IsObject(ret)) {
        JSPromiseStateEnum st = JS_PromiseState(r->ctx, ret);
        if (st == JS_PROMISE_REJECTED) {
            JSValue e = JS_PromiseResult(r->ctx, ret);
            JS_FreeValue(r->ctx, ret);
            return JS_Throw(r->ctx, e);
        }
        if (st == JS_PROMISE_PENDING) {
            JS_FreeValue(r->ctx, ret);
            return JS_ThrowTypeError(r->ctx, "the module's top-level await never finished");
        }
    }
    JS_FreeValue(r->ctx, ret);
    return JS_UNDEFINED;
}

JSValue jsrt_load_class(jsrt_t *r, const uint8_t *bc, size_t len, char **export_name)
{
    JSContext *ctx = r->ctx;
    JSValue cls = JS_EXCEPTION;
    JSPropertyEnum *props = NULL;
    uint32_t nprops = 0;
    *export_name = NULL;

    JSValue mod = JS_ReadObject(ctx, bc, len, JS_READ_OBJ_BYTECODE);
    if (JS_IsException(mod))
        return JS_EXCEPTION;
    if (JS_VALUE_GET_TAG(mod) != JS_TAG_MODULE) {
        JS_FreeValue(ctx, mod);
        return JS_ThrowTypeError(ctx, "deployed bytecode is not a module");
    }
    JSModuleDef *def = JS_VALUE_GET_PTR(mod);
    if (JS_ResolveModule(ctx, mod) < 0) {
        JS_FreeValue(ctx, mod);
        return JS_EXCEPTION;
    }
    /* JS_EvalFunction takes ownership of mod. */
    JSValue st = settle_module(r, JS_EvalFunction(ctx, mod));
    if (JS_IsException(st))
        return JS_EXCEPTION;
    JSValue ns = JS_GetModuleNamespace(ctx, def);
    if (JS_IsException(ns))
        return JS_EXCEPTION;
    if (JS_GetOwnPropertyNames(ctx, &props, &nprops, ns, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) <
        0)
        goto done;
    int found = 0;
    for (uint32_t i = 0; i < nprops; i++) {
        JSValue v = JS_GetProperty(ctx, ns, props[i].atom);
        if (JS_IsException(v))
            goto done;
        if (JS_IsConstructor(ctx, v)) {
            found++;
            if (found == 1) {
                cls = v;
                const char *n = JS_AtomToCString(ctx, props[i].atom);
                *export_name = xstrdup(n ? n : "");
                JS_FreeCString(ctx, n);
                continue;
            }
        }
        JS_FreeValue(ctx, v);
    }
    if (found != 1) {
        JS_FreeValue(ctx, cls);
        cls = JS_EXCEPTION;
        free(*export_name);
        *export_name = NULL;
        JS_ThrowTypeError(ctx,
                          found == 0 ? "the module exports no class: export exactly one class, "
                                       "e.g. `export class Counter { ... }`"
                                     : "the module exports %d classes: export exactly one class",
                          found);
    }
done:
    if (props) {
        for (uint32_t i = 0; i < nprops; i++)
            JS_FreeAtom(ctx, props[i].atom);
        js_free(ctx, props);
    }
    JS_FreeValue(ctx, ns);
    return cls;
}

uint8_t *jsrt_compile_module(jsrt_t *r, const char *src, size_t len, const char *filename,
                             size_t *out_len)
{
    JSValue m = JS_Eval(r->ctx, src, len, filename,
                        JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY | JS_EVAL_FLAG_STRICT);
    if (JS_IsException(m))
        return NULL;
    size_t n;
    uint8_t *bc = JS_WriteObject(r->ctx, &n, m, JS_WRITE_OBJ_BYTECODE);
    JS_FreeValue(r->ctx, m);
    if (!bc)
        return NULL;
    uint8_t *out = xmemdup(bc, n);
    js_free(r->ctx, bc);
    *out_len = n;
    return out;
}

bool jsrt_is_oom(JSContext *ctx, JSValueConst exc)
{
    if (!JS_IsObject(exc))
        return false;
    JSValue msg = JS_GetPropertyStr(ctx, exc, "message");
    const char *s = JS_ToCString(ctx, msg);
    bool oom = s && strcmp(s, "out of memory") == 0;
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, msg);
    return oom;
}
