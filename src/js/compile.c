/* The deploy compiler (see compile.h): sucrase inside its own QuickJS
 * runtime, then QuickJS's own parser for the module. Must not depend on api/
 * or anything above: evaluating the module is the caller's job. */
#include "compile.h"

#include <stdlib.h>
#include <string.h>
#include <quickjs.h>

#include "../lib/mem.h"
#include "runtime.h"

extern const uint8_t sucrase_bc[];
extern const size_t sucrase_bc_len;

struct jscompiler {
    jsrt_t *rt;
    JSValue transform; /* globalThis.__dormTransform */
};

jscompiler_t *jscompiler_new(void)
{
    jsrt_t *r = jsrt_new(512u * 1024 * 1024);
    if (!r)
        return NULL;
    JSContext *ctx = r->ctx;
    JSValue fn = JS_ReadObject(ctx, sucrase_bc, sucrase_bc_len, JS_READ_OBJ_BYTECODE);
    if (JS_IsException(fn))
        goto fail;
    JSValue ret = JS_EvalFunction(ctx, fn);
    if (JS_IsException(ret))
        goto fail;
    JS_FreeValue(ctx, ret);
    JSValue g = JS_GetGlobalObject(ctx);
    JSValue t = JS_GetPropertyStr(ctx, g, "__dormTransform");
    JS_FreeValue(ctx, g);
    if (!JS_IsFunction(ctx, t)) {
        JS_FreeValue(ctx, t);
        goto fail;
    }
    jscompiler_t *c = xcalloc(1, sizeof *c);
    c->rt = r;
    c->transform = t;
    return c;
fail:
    jsrt_free(r);
    return NULL;
}

void jscompiler_free(jscompiler_t *c)
{
    if (!c)
        return;
    JS_FreeValue(c->rt->ctx, c->transform);
    jsrt_free(c->rt);
    free(c);
}

static void append_prop(JSContext *ctx, JSValueConst obj, const char *name, buf_t *out)
{
    JSValue v = JS_GetPropertyStr(ctx, obj, name);
    const char *s = JS_IsUndefined(v) ? NULL : JS_ToCString(ctx, v);
    if (s)
        buf_puts(out, s);
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, v);
}

void jscompiler_describe_exception(JSContext *ctx, const char *filename, buf_t *out)
{
    JSValue e = JS_GetException(ctx);
    if (!JS_IsObject(e)) {
        const char *s = JS_ToCString(ctx, e);
        buf_printf(out, "uncaught %s", s ? s : "exception");
        JS_FreeCString(ctx, s);
        JS_FreeValue(ctx, e);
        return;
    }
    /* Position: sucrase errors carry loc {line, column} (column 0-based);
     * QuickJS errors name it in the stack as "at file:line:column". */
    JSValue loc = JS_GetPropertyStr(ctx, e, "loc");
    int line = 0, col = 0;
    if (JS_IsObject(loc)) {
        JSValue l = JS_GetPropertyStr(ctx, loc, "line");
        JSValue c = JS_GetPropertyStr(ctx, loc, "column");
        JS_ToInt32(ctx, &line, l);
        JS_ToInt32(ctx, &col, c);
        col += 1;
        JS_FreeValue(ctx, l);
        JS_FreeValue(ctx, c);
    }
    JS_FreeValue(ctx, loc);
    if (line == 0) {
        JSValue st = JS_GetPropertyStr(ctx, e, "stack");
        const char *s = JS_IsString(st) ? JS_ToCString(ctx, st) : NULL;
        if (s) {
            size_t fl = strlen(filename);
            for (const char *p = strstr(s, filename); p; p = strstr(p + 1, filename)) {
                if (p[fl] == ':' && sscanf(p + fl, ":%d:%d", &line, &col) >= 1)
                    break;
            }
        }
        JS_FreeCString(ctx, s);
        JS_FreeValue(ctx, st);
    }
    if (line > 0)
        buf_printf(out, "%s:%d:%d: ", filename, line, col > 0 ? col : 1);
    append_prop(ctx, e, "name", out);
    buf_puts(out, ": ");
    buf_t msg = BUF_INIT;
    append_prop(ctx, e, "message", &msg);
    /* sucrase appends " (line:col)" to its messages; the prefix says it already. */
    if (line > 0 && msg.len > 2 && msg.data[msg.len - 1] == ')') {
        char *open = strrchr((char *)msg.data, '(');
        if (open && open > (char *)msg.data && open[-1] == ' ')
            msg.len = (size_t)(open - 1 - (char *)msg.data);
    }
    buf_append(out, msg.data, msg.len);
    buf_deinit(&msg);
    JS_FreeValue(ctx, e);
}

int jscompiler_compile(jscompiler_t *c, const char *src, size_t len, const char *filename,
                       uint8_t **bc, size_t *bc_len, buf_t *err)
{
    JSContext *ctx = c->rt->ctx;
    *bc = NULL;
    JSValue args[2];
    args[0] = JS_NewStringLen(ctx, src, len);
    args[1] = JS_NewString(ctx, filename);
    jsrt_begin(c->rt, 0);
    JSValue js = JS_Call(ctx, c->transform, JS_UNDEFINED, 2, args);
    JS_FreeValue(ctx, args[0]);
    JS_FreeValue(ctx, args[1]);
    if (JS_IsException(js)) {
        jscompiler_describe_exception(ctx, filename, err);
        return -1;
    }
    size_t jlen;
    const char *jsrc = JS_ToCStringLen(ctx, &jlen, js);
    JS_FreeValue(ctx, js);
    if (!jsrc) {
        jscompiler_describe_exception(ctx, filename, err);
        return -1;
    }
    *bc = jsrt_compile_module(c->rt, jsrc, jlen, filename, bc_len);
    JS_FreeCString(ctx, jsrc);
    if (!*bc) {
        jscompiler_describe_exception(ctx, filename, err);
        return -1;
    }
    JS_RunGC(c->rt->rt);
    return 0;
}
