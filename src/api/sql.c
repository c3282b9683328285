/* storage.sql (see sql.h). Values bind as on Cloudflare (to_store_value
 * says how). Back from SQLite, an INTEGER beyond 2^53 comes back as a
 * bigint (never rounded), a BLOB as an ArrayBuffer. The cursor holds its rows already
 * read: a statement never stays open across an await. Must not depend on
 * actor/. */
#include "sql.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../js/runtime.h"
#include "../lib/buf.h"
#include "../lib/mem.h"
#include "state_int.h"
#include "web.h"

static JSClassID sql_class_id;

typedef struct sql_ctx {
    JSValue make_cursor; /* (columnNames, rows, rowsRead, rowsWritten) -> cursor */
} sql_ctx_t;

static void sql_finalizer(JSRuntime *rt, JSValue val)
{
    api_handle_unref(JS_GetOpaque(val, sql_class_id));
}

static JSClassDef sql_class = {"SqlStorage", .finalizer = sql_finalizer};

static const char cursor_src[] =
    "(function () {\n"
    "  'use strict';\n"
    "  const rowObject = (cols, r) => {\n"
    "    const o = {};\n"
    "    for (let c = 0; c < cols.length; c++) o[cols[c]] = r[c];\n"
    "    return o;\n"
    "  };\n"
    "  class SqlStorageCursor {\n"
    "    #cols; #rows; #i = 0; #read; #written;\n"
    "    constructor(cols, rows, read, written) {\n"
    "      this.#cols = cols; this.#rows = rows; this.#read = read; this.#written = written;\n"
    "    }\n"
    "    get columnNames() { return this.#cols.slice(); }\n"
    "    get rowsRead() { return this.#read; }\n"
    "    get rowsWritten() { return this.#written; }\n"
    "    next() {\n"
    "      if (this.#i < this.#rows.length) return { done: false, value: rowObject(this.#cols, this.#rows[this.#i++]) };\n"
    "      return { done: true, value: undefined };\n"
    "    }\n"
    "    toArray() {\n"
    "      const out = [];\n"
    "      while (this.#i < this.#rows.length) out.push(rowObject(this.#cols, this.#rows[this.#i++]));\n"
    "      return out;\n"
    "    }\n"
    "    one() {\n"
    "      const left = this.#rows.length - this.#i;\n"
    "      if (left === 0) throw new Error('Expected exactly one result from SQL query, but got no results.');\n"
    "      if (left > 1) throw new Error('Expected exactly one result from SQL query, but got multiple results.');\n"
    "      return rowObject(this.#cols, this.#rows[this.#i++]);\n"
    "    }\n"
    "    raw() {\n"
    "      const self = this, rows = this.#rows;\n"
    "      const it = {\n"
    "        next: () => self.#i < rows.length ? { done: false, value: rows[self.#i++].slice() } : { done: true, value: undefined },\n"
    "        toArray: () => { const out = []; while (self.#i < rows.length) out.push(rows[self.#i++].slice()); return out; },\n"
    "        [Symbol.iterator]() { return this; },\n"
    "        get columnNames() { return self.columnNames; },\n"
    "        get rowsRead() { return self.rowsRead; },\n"
    "        get rowsWritten() { return self.rowsWritten; },\n"
    "      };\n"
    "      return it;\n"
    "    }\n"
    "    [Symbol.iterator]() { return this; }\n"
    "  }\n"
    "  Object.defineProperty(SqlStorageCursor.prototype, Symbol.toStringTag, { value: 'SqlStorageCursor' });\n"
    "  return (cols, rows, read, written) => new SqlStorageCursor(cols, rows, read, written);\n"
    "})()";

static sql_ctx_t *ctx_state(JSContext *ctx)
{
    return api_host(ctx)->sql_ctx;
}

/* ---- bindings ---------------------------------------------------------------- */

/* The bytes of a DataView (web_get_bytes knows typed arrays and buffers). */
static int dataview_bytes(JSContext *ctx, JSValueConst v, uint8_t **p, size_t *len)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue dv = JS_GetPropertyStr(ctx, global, "DataView");
    JS_FreeValue(ctx, global);
    int is = JS_IsInstanceOf(ctx, v, dv);
    JS_FreeValue(ctx, dv);
    if (is <= 0)
        return -1;
    JSValue buf = JS_GetPropertyStr(ctx, v, "buffer");
    JSValue offv = JS_GetPropertyStr(ctx, v, "byteOffset");
    JSValue lenv = JS_GetPropertyStr(ctx, v, "byteLength");
    int64_t off = 0, n = 0;
    size_t size = 0;
    uint8_t *base = NULL;
    int rc = -1;
    if (JS_ToInt64(ctx, &off, offv) == 0 && JS_ToInt64(ctx, &n, lenv) == 0) {
        base = JS_GetArrayBuffer(ctx, &size, buf);
        if (base && off >= 0 && n >= 0 && (size_t)(off + n) <= size) {
            *p = base + off;
            *len = (size_t)n;
            rc = 0;
        } else if (!base && !JS_HasException(ctx)) {
            *p = NULL; /* detached: empty */
            *len = 0;
            rc = 0;
        }
    }
    JS_FreeValue(ctx, buf);
    JS_FreeValue(ctx, offv);
    JS_FreeValue(ctx, lenv);
    return rc;
}

/* Converts a JS value for binding, as Cloudflare does: a number binds as a
 * REAL (whole or not: `? / 2` with 3 is 1.5), bytes (ArrayBuffer, typed
 * array, DataView) as a BLOB, null and undefined as NULL, and anything else
 * as the TEXT of its string conversion (true gives "true"); a bigint, which
 * Cloudflare refuses, binds as an INTEGER. Bytes it needs stay in *hold. */
static int to_store_value(JSContext *ctx, JSValueConst v, int index, store_value_t *out,
                          buf_t *hold)
{
    memset(out, 0, sizeof *out);
    if (JS_IsNull(v) || JS_IsUndefined(v)) {
        out->type = STORE_NULL;
        return 0;
    }
    if (JS_IsNumber(v)) {
        out->type = STORE_REAL;
        JS_ToFloat64(ctx, &out->d, v);
        return 0;
    }
    if (JS_IsBigInt(ctx, v)) {
        int64_t i;
        if (JS_ToBigInt64(ctx, &i, v) < 0)
            return -1;
        /* JS_ToBigInt64 wraps: make sure the value fits. */
        JSValue back = JS_NewBigInt64(ctx, i);
        int eq = JS_StrictEq(ctx, back, v);
        JS_FreeValue(ctx, back);
        if (!eq) {
            JS_ThrowRangeError(ctx, "sql.exec(): binding %d is a bigint outside the 64-bit range "
                                    "SQLite can store",
                               index + 1);
            return -1;
        }
        out->type = STORE_INTEGER;
        out->i = i;
        return 0;
    }
    uint8_t *p = NULL;
    size_t len = 0;
    int got = -1;
    if (JS_IsObject(v) && !JS_IsFunction(ctx, v)) {
        got = web_get_bytes(ctx, v, &p, &len);
        if (got < 0) {
            if (JS_HasException(ctx))
                JS_FreeValue(ctx, JS_GetException(ctx));
            got = dataview_bytes(ctx, v, &p, &len);
        }
    }
    if (got == 0) {
        buf_reset(hold);
        buf_append(hold, p ? p : (const uint8_t *)"", len);
        out->type = STORE_BLOB;
        out->p = hold->data;
        out->len = hold->len;
        return 0;
    }
    if (JS_HasException(ctx))
        JS_FreeValue(ctx, JS_GetException(ctx));
    JSValue str = JS_IsString(v) ? JS_DupValue(ctx, v) : JS_ToString(ctx, v);
    if (JS_IsException(str))
        return -1; /* a symbol, or a toString() that threw */
    buf_reset(hold);
    int rc = web_string_to_utf8(ctx, str, hold);
    JS_FreeValue(ctx, str);
    if (rc < 0)
        return -1;
    out->type = STORE_TEXT;
    out->p = hold->data;
    out->len = hold->len;
    return 0;
}

/* ---- rows ----------------------------------------------------------------------- */

typedef struct sink_state {
    JSContext *ctx;
    JSValue cols;  /* array of names */
    JSValue rows;  /* array of arrays */
    uint32_t nrows;
    bool failed;
} sink_state_t;

static int sink_columns(void *arg, int n, const char *const *names)
{
    sink_state_t *s = arg;
    JSContext *ctx = s->ctx;
    /* Only the last statement's rows are the result. */
    JS_FreeValue(ctx, s->cols);
    JS_FreeValue(ctx, s->rows);
    s->cols = JS_NewArray(ctx);
    s->rows = JS_NewArray(ctx);
    s->nrows = 0;
    for (int i = 0; i < n; i++)
        JS_DefinePropertyValueUint32(ctx, s->cols, (uint32_t)i, JS_NewString(ctx, names[i]),
                                     JS_PROP_C_W_E);
    return 0;
}

static JSValue from_store_value(JSContext *ctx, const store_value_t *v)
{
    switch (v->type) {
    case STORE_INTEGER:
        if (v->i >= -9007199254740991LL && v->i <= 9007199254740991LL)
            return JS_NewInt64(ctx, v->i);
        return JS_NewBigInt64(ctx, v->i);
    case STORE_REAL:
        return JS_NewFloat64(ctx, v->d);
    case STORE_TEXT:
        return JS_NewStringLen(ctx, v->p ? (const char *)v->p : "", v->len);
    case STORE_BLOB:
        return JS_NewArrayBufferCopy(ctx, v->p ? v->p : (const uint8_t *)"", v->len);
    default:
        return JS_NULL;
    }
}

static int sink_row(void *arg, int n, const store_value_t *vals)
{
    sink_state_t *s = arg;
    JSContext *ctx = s->ctx;
    JSValue row = JS_NewArray(ctx);
    if (JS_IsException(row)) {
        s->failed = true;
        return 1;
    }
    for (int i = 0; i < n; i++) {
        JSValue v = from_store_value(ctx, &vals[i]);
        if (JS_IsException(v)) {
            JS_FreeValue(ctx, row);
            s->failed = true;
            return 1;
        }
        JS_DefinePropertyValueUint32(ctx, row, (uint32_t)i, v, JS_PROP_C_W_E);
    }
    JS_DefinePropertyValueUint32(ctx, s->rows, s->nrows++, row, JS_PROP_C_W_E);
    return 0;
}

/* A statement that runs past the event's CPU deadline is stopped like JS
 * would be: the runtime is marked as timed out, so the event fails and the
 * instance is reset. */
static int sink_interrupted(void *arg)
{
    sink_state_t *s = arg;
    jsrt_t *r = jsrt_from_ctx(s->ctx);
    if (r && r->deadline_ns && uv_hrtime() > r->deadline_ns) {
        r->timed_out = true;
        return 1;
    }
    return 0;
}

/* ---- SqlStorage ------------------------------------------------------------------ */

static api_state_t *this_state(JSContext *ctx, JSValueConst this_val)
{
    return api_handle_state(ctx, this_val, sql_class_id);
}

static JSValue sql_exec(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1 || !JS_IsString(argv[0]))
        return JS_ThrowTypeError(ctx, "sql.exec(query, ...bindings): query must be a string");
    size_t qlen;
    const char *q = JS_ToCStringLen(ctx, &qlen, argv[0]);
    if (!q)
        return JS_EXCEPTION;
    int nb = argc - 1;
    store_value_t *binds = xcalloc((size_t)(nb > 0 ? nb : 1), sizeof *binds);
    buf_t *hold = xcalloc((size_t)(nb > 0 ? nb : 1), sizeof *hold);
    JSValue result = JS_EXCEPTION;
    sink_state_t ss = {ctx, JS_NewArray(ctx), JS_NewArray(ctx), 0, false};
    int i = 0;
    for (; i < nb; i++)
        if (to_store_value(ctx, argv[i + 1], i, &binds[i], &hold[i]) < 0)
            goto done;
    store_sql_sink_t sink = {.columns = sink_columns, .row = sink_row,
                             .interrupted = sink_interrupted, .arg = &ss};
    store_sql_stats_t stats;
    char err[512];
    int rc = store_sql_exec(st->kv, q, qlen, binds, nb, &sink, &stats, err, sizeof err);
    if (store_kv_dirty(st->kv))
        st->wrote = true; /* output waits for SQL writes like for KV ones */
    if (ss.failed)
        goto done;
    if (rc < 0) {
        jsrt_t *r = jsrt_from_ctx(ctx);
        if (r && r->timed_out) {
            /* Out of CPU time: as uncatchable as the interrupt of JS code. */
            JS_ThrowInternalError(ctx, "interrupted");
            JSValue e = JS_GetException(ctx);
            JS_SetUncatchableError(ctx, e, 1);
            JS_Throw(ctx, e);
            goto done;
        }
        JSValue e = JS_NewError(ctx);
        JS_DefinePropertyValueStr(ctx, e, "message", JS_NewString(ctx, err),
                                  JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
        JS_Throw(ctx, e);
        goto done;
    }
    JSValue args[4] = {ss.cols, ss.rows, JS_NewInt64(ctx, (int64_t)stats.rows_read),
                       JS_NewInt64(ctx, (int64_t)stats.rows_written)};
    result = JS_Call(ctx, ctx_state(ctx)->make_cursor, JS_UNDEFINED, 4, (JSValueConst *)args);
done:
    JS_FreeValue(ctx, ss.cols);
    JS_FreeValue(ctx, ss.rows);
    for (int j = 0; j < nb; j++)
        buf_deinit(&hold[j]);
    free(hold);
    free(binds);
    JS_FreeCString(ctx, q);
    return result;
}

static JSValue sql_database_size(JSContext *ctx, JSValueConst this_val)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    return JS_NewInt64(ctx, store_sql_database_size(st->kv));
}

static const JSCFunctionListEntry sql_proto_funcs[] = {
    JS_CFUNC_DEF("exec", 1, sql_exec),
    JS_CGETSET_DEF("databaseSize", sql_database_size, NULL),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "SqlStorage", JS_PROP_CONFIGURABLE),
};

int api_sql_init_context(JSContext *ctx)
{
    JS_NewClassID(&sql_class_id);
    if (JS_NewClass(JS_GetRuntime(ctx), sql_class_id, &sql_class) < 0)
        return -1;
    JSValue proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, sql_proto_funcs,
                               sizeof sql_proto_funcs / sizeof sql_proto_funcs[0]);
    JS_SetClassProto(ctx, sql_class_id, proto);
    JSValue mk = JS_Eval(ctx, cursor_src, sizeof cursor_src - 1, "<sql>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(mk))
        return -1;
    sql_ctx_t *sc = xcalloc(1, sizeof *sc);
    sc->make_cursor = mk;
    api_host(ctx)->sql_ctx = sc;
    return 0;
}

void api_sql_free_context(JSContext *ctx)
{
    api_host_t *h = api_host(ctx);
    sql_ctx_t *sc = h ? h->sql_ctx : NULL;
    if (!sc)
        return;
    JS_FreeValue(ctx, sc->make_cursor);
    free(sc);
    h->sql_ctx = NULL;
}

JSValue api_sql_new(JSContext *ctx, struct api_handle *h)
{
    return api_wrap_handle(ctx, sql_class_id, h);
}
