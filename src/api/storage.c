/* state.storage: the key-value API (get/put/delete/deleteAll/list) on top of
 * the instance's store_kv_t and the value codec. Keys are strings stored as
 * their UTF-8 bytes, so list() orders them by UTF-8 bytes. Every call answers
 * with a promise that is already settled: reads come from memory or SQLite's
 * page cache on this thread, writes go to the pending batch that the actor
 * commits at the end of the turn (DESIGN.md 2.2). Must not depend on actor/. */
#include <stdlib.h>
#include <string.h>

#include "../js/codec.h"
#include "../lib/buf.h"
#include "../lib/mem.h"
#include "state_int.h"

static JSClassID storage_class_id;

static void storage_finalizer(JSRuntime *rt, JSValue val)
{
    api_handle_unref(JS_GetOpaque(val, storage_class_id));
}

static JSClassDef storage_class = {"DurableObjectStorage", .finalizer = storage_finalizer};

/* A promise settled with v (ownership of v taken), or rejected with the
 * pending exception when v is JS_EXCEPTION. */
static JSValue settled(JSContext *ctx, JSValue v)
{
    JSValue rf[2];
    JSValue p = JS_NewPromiseCapability(ctx, rf);
    if (JS_IsException(p)) {
        JS_FreeValue(ctx, v);
        return p;
    }
    if (JS_IsException(v)) {
        JSValue e = JS_GetException(ctx);
        JSValue r = JS_Call(ctx, rf[1], JS_UNDEFINED, 1, (JSValueConst *)&e);
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, e);
    } else {
        JSValue r = JS_Call(ctx, rf[0], JS_UNDEFINED, 1, (JSValueConst *)&v);
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, v);
    }
    JS_FreeValue(ctx, rf[0]);
    JS_FreeValue(ctx, rf[1]);
    return p;
}

typedef struct key {
    const char *s;
    size_t len;
} key_t_;

/* Converts a JS key to its UTF-8 bytes and checks its size. */
static int get_key(JSContext *ctx, JSValueConst v, key_t_ *k)
{
    if (JS_IsSymbol(v)) {
        JS_ThrowTypeError(ctx, "storage keys must be strings, not symbols");
        return -1;
    }
    k->s = JS_ToCStringLen(ctx, &k->len, v);
    if (!k->s)
        return -1;
    if (k->len > API_MAX_KEY_BYTES) {
        JS_ThrowRangeError(ctx,
                           "Keys cannot be larger than %u bytes (128 KiB); this key is %zu bytes "
                           "in UTF-8.",
                           API_MAX_KEY_BYTES, k->len);
        JS_FreeCString(ctx, k->s);
        k->s = NULL;
        return -1;
    }
    return 0;
}

static void free_key(JSContext *ctx, key_t_ *k)
{
    if (k->s)
        JS_FreeCString(ctx, k->s);
    k->s = NULL;
}

/* Reads the array of keys of a multi-key call, checking the count. Returns
 * the count or -1. */
static int64_t get_keys(JSContext *ctx, JSValueConst arr, key_t_ **out)
{
    *out = NULL;
    int64_t n;
    JSValue lenv = JS_GetPropertyStr(ctx, arr, "length");
    int lrc = JS_ToInt64(ctx, &n, lenv);
    JS_FreeValue(ctx, lenv);
    if (lrc < 0)
        return -1;
    if (n > API_MAX_KEYS_PER_CALL) {
        JS_ThrowRangeError(ctx,
                           "A single call can take at most %d keys; this one has %lld. Split it "
                           "into several calls.",
                           API_MAX_KEYS_PER_CALL, (long long)n);
        return -1;
    }
    key_t_ *keys = xcalloc((size_t)n + 1, sizeof *keys);
    for (int64_t i = 0; i < n; i++) {
        JSValue v = JS_GetPropertyUint32(ctx, arr, (uint32_t)i);
        int rc = get_key(ctx, v, &keys[i]);
        JS_FreeValue(ctx, v);
        if (rc < 0) {
            for (int64_t j = 0; j < i; j++)
                free_key(ctx, &keys[j]);
            free(keys);
            return -1;
        }
    }
    *out = keys;
    return n;
}

static void free_keys(JSContext *ctx, key_t_ *keys, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free_key(ctx, &keys[i]);
    free(keys);
}

static int cmp_keys(const void *a, const void *b)
{
    const key_t_ *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static api_state_t *this_state(JSContext *ctx, JSValueConst this_val)
{
    return api_handle_state(ctx, this_val, storage_class_id);
}

/* Reads one key; *found tells whether it exists. Returns the decoded value,
 * JS_UNDEFINED when absent, or JS_EXCEPTION. */
static JSValue read_one(JSContext *ctx, api_state_t *st, const key_t_ *k, bool *found)
{
    buf_t val = BUF_INIT;
    char err[256];
    if (store_kv_get(st->kv, (const uint8_t *)k->s, k->len, &val, found, err, sizeof err) < 0) {
        buf_deinit(&val);
        return JS_ThrowInternalError(ctx, "storage read failed: %s", err);
    }
    JSValue v = *found ? codec_decode(ctx, val.data, val.len) : JS_UNDEFINED;
    buf_deinit(&val);
    return v;
}

static JSValue storage_get(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return settled(ctx, JS_EXCEPTION);
    if (argc < 1)
        return settled(ctx, JS_ThrowTypeError(ctx, "get() needs a key or an array of keys"));
    if (!JS_IsArray(ctx, argv[0])) {
        key_t_ k;
        if (get_key(ctx, argv[0], &k) < 0)
            return settled(ctx, JS_EXCEPTION);
        bool found;
        JSValue v = read_one(ctx, st, &k, &found);
        free_key(ctx, &k);
        return settled(ctx, v);
    }
    key_t_ *keys;
    int64_t n = get_keys(ctx, argv[0], &keys);
    if (n < 0)
        return settled(ctx, JS_EXCEPTION);
    /* The result Map lists found keys in key order, as list() would. */
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue map_ctor = JS_GetPropertyStr(ctx, global, "Map");
    JS_FreeValue(ctx, global);
    JSValue map = JS_CallConstructor(ctx, map_ctor, 0, NULL);
    JS_FreeValue(ctx, map_ctor);
    JSValue set = JS_GetPropertyStr(ctx, map, "set");
    JSValue result = map;
    for (int64_t i = 0; i < n && !JS_IsException(result); i++) {
        if (i > 0 && cmp_keys(&keys[i - 1], &keys[i]) == 0)
            continue;
        bool found;
        JSValue v = read_one(ctx, st, &keys[i], &found);
        if (JS_IsException(v)) {
            JS_FreeValue(ctx, result);
            result = JS_EXCEPTION;
            break;
        }
        if (!found)
            continue;
        JSValue args[2] = {JS_NewStringLen(ctx, keys[i].s, keys[i].len), v};
        JSValue r = JS_Call(ctx, set, map, 2, (JSValueConst *)args);
        JS_FreeValue(ctx, args[0]);
        JS_FreeValue(ctx, args[1]);
        JS_FreeValue(ctx, r);
    }
    JS_FreeValue(ctx, set);
    free_keys(ctx, keys, n);
    return settled(ctx, result);
}

/* Encodes v for key k into the pending batch. */
static int write_one(JSContext *ctx, api_state_t *st, const key_t_ *k, JSValueConst v, buf_t *tmp)
{
    if (JS_IsUndefined(v)) {
        JS_ThrowTypeError(ctx, "put() cannot store undefined (key \"%.*s\"); use delete() to "
                               "remove a key, or store null",
                          (int)(k->len > 64 ? 64 : k->len), k->s);
        return -1;
    }
    buf_reset(tmp);
    if (codec_encode(ctx, v, tmp) < 0)
        return -1;
    if (tmp->len > API_MAX_VALUE_BYTES) {
        JS_ThrowRangeError(ctx,
                           "Values cannot be larger than %u bytes (128 KiB) once serialized; this "
                           "value is %zu bytes.",
                           API_MAX_VALUE_BYTES, tmp->len);
        return -1;
    }
    return 0;
}

static JSValue storage_put(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return settled(ctx, JS_EXCEPTION);
    if (argc < 1)
        return settled(ctx, JS_ThrowTypeError(ctx, "put() needs a key and a value, or an "
                                                   "object of entries"));
    buf_t tmp = BUF_INIT;
    if (JS_IsString(argv[0])) {
        key_t_ k;
        if (get_key(ctx, argv[0], &k) < 0)
            goto fail;
        if (write_one(ctx, st, &k, argc > 1 ? argv[1] : JS_UNDEFINED, &tmp) < 0) {
            free_key(ctx, &k);
            goto fail;
        }
        store_kv_put(st->kv, (const uint8_t *)k.s, k.len, tmp.data, tmp.len);
        st->wrote = true;
        free_key(ctx, &k);
        buf_deinit(&tmp);
        return settled(ctx, JS_UNDEFINED);
    }
    if (!JS_IsObject(argv[0]) || JS_IsArray(ctx, argv[0]))
        return settled(ctx, JS_ThrowTypeError(ctx, "put() needs a string key and a value, or "
                                                   "an object mapping keys to values"));
    /* put(entries): all entries are checked before any is written, so a bad
     * one leaves storage untouched. */
    JSPropertyEnum *props = NULL;
    uint32_t np = 0;
    if (JS_GetOwnPropertyNames(ctx, &props, &np, argv[0], JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) <
        0)
        goto fail;
    if (np > API_MAX_KEYS_PER_CALL) {
        JS_ThrowRangeError(ctx,
                           "A single call can take at most %d keys; this one has %u. Split it "
                           "into several calls.",
                           API_MAX_KEYS_PER_CALL, np);
        goto fail_props;
    }
    key_t_ *keys = xcalloc(np + 1, sizeof *keys);
    buf_t *vals = xcalloc(np + 1, sizeof *vals);
    int ok = 1;
    for (uint32_t i = 0; i < np && ok; i++) {
        JSValue kv = JS_AtomToString(ctx, props[i].atom);
        ok = get_key(ctx, kv, &keys[i]) == 0;
        JS_FreeValue(ctx, kv);
        if (!ok)
            break;
        JSValue v = JS_GetProperty(ctx, argv[0], props[i].atom);
        ok = !JS_IsException(v) && write_one(ctx, st, &keys[i], v, &vals[i]) == 0;
        JS_FreeValue(ctx, v);
    }
    if (ok) {
        for (uint32_t i = 0; i < np; i++)
            store_kv_put(st->kv, (const uint8_t *)keys[i].s, keys[i].len, vals[i].data,
                         vals[i].len);
        if (np)
            st->wrote = true;
    }
    for (uint32_t i = 0; i < np; i++) {
        free_key(ctx, &keys[i]);
        buf_deinit(&vals[i]);
    }
    free(keys);
    free(vals);
    for (uint32_t i = 0; i < np; i++)
        JS_FreeAtom(ctx, props[i].atom);
    js_free(ctx, props);
    buf_deinit(&tmp);
    return settled(ctx, ok ? JS_UNDEFINED : JS_EXCEPTION);
fail_props:
    for (uint32_t i = 0; i < np; i++)
        JS_FreeAtom(ctx, props[i].atom);
    js_free(ctx, props);
fail:
    buf_deinit(&tmp);
    return settled(ctx, JS_EXCEPTION);
}

static int exists(JSContext *ctx, api_state_t *st, const key_t_ *k)
{
    buf_t val = BUF_INIT;
    bool found = false;
    char err[256];
    int rc = store_kv_get(st->kv, (const uint8_t *)k->s, k->len, &val, &found, err, sizeof err);
    buf_deinit(&val);
    if (rc < 0) {
        JS_ThrowInternalError(ctx, "storage read failed: %s", err);
        return -1;
    }
    return found;
}

static JSValue storage_delete(JSContext *ctx, JSValueConst this_val, int argc,
                              JSValueConst *argv)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return settled(ctx, JS_EXCEPTION);
    if (argc < 1)
        return settled(ctx, JS_ThrowTypeError(ctx, "delete() needs a key or an array of keys"));
    if (!JS_IsArray(ctx, argv[0])) {
        key_t_ k;
        if (get_key(ctx, argv[0], &k) < 0)
            return settled(ctx, JS_EXCEPTION);
        int e = exists(ctx, st, &k);
        if (e > 0) {
            store_kv_delete(st->kv, (const uint8_t *)k.s, k.len);
            st->wrote = true;
        }
        free_key(ctx, &k);
        return settled(ctx, e < 0 ? JS_EXCEPTION : JS_NewBool(ctx, e > 0));
    }
    key_t_ *keys;
    int64_t n = get_keys(ctx, argv[0], &keys);
    if (n < 0)
        return settled(ctx, JS_EXCEPTION);
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && cmp_keys(&keys[i - 1], &keys[i]) == 0)
            continue;
        int e = exists(ctx, st, &keys[i]);
        if (e < 0) {
            free_keys(ctx, keys, n);
            return settled(ctx, JS_EXCEPTION);
        }
        if (e > 0) {
            store_kv_delete(st->kv, (const uint8_t *)keys[i].s, keys[i].len);
            st->wrote = true;
            count++;
        }
    }
    free_keys(ctx, keys, n);
    return settled(ctx, JS_NewInt64(ctx, count));
}

static JSValue storage_delete_all(JSContext *ctx, JSValueConst this_val, int argc,
                                  JSValueConst *argv)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return settled(ctx, JS_EXCEPTION);
    store_kv_delete_all(st->kv);
    st->wrote = true;
    return settled(ctx, JS_UNDEFINED);
}

typedef struct list_ctx {
    JSContext *ctx;
    JSValue map, set;
    bool failed;
} list_ctx_t;

static int list_row(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    list_ctx_t *lc = arg;
    JSContext *ctx = lc->ctx;
    JSValue val = codec_decode(ctx, v, vlen);
    if (JS_IsException(val)) {
        lc->failed = true;
        return 1;
    }
    JSValue args[2] = {JS_NewStringLen(ctx, (const char *)k, klen), val};
    JSValue r = JS_Call(ctx, lc->set, lc->map, 2, (JSValueConst *)args);
    JS_FreeValue(ctx, args[0]);
    JS_FreeValue(ctx, args[1]);
    if (JS_IsException(r)) {
        lc->failed = true;
        return 1;
    }
    JS_FreeValue(ctx, r);
    return 0;
}

/* Reads a string option into *k (k->s NULL when absent). */
static int opt_key(JSContext *ctx, JSValueConst opts, const char *name, key_t_ *k)
{
    k->s = NULL;
    k->len = 0;
    JSValue v = JS_GetPropertyStr(ctx, opts, name);
    if (JS_IsException(v))
        return -1;
    if (JS_IsUndefined(v))
        return 0;
    if (!JS_IsString(v)) {
        JS_FreeValue(ctx, v);
        JS_ThrowTypeError(ctx, "list() option \"%s\" must be a string", name);
        return -1;
    }
    int rc = get_key(ctx, v, k);
    JS_FreeValue(ctx, v);
    return rc;
}

static JSValue storage_list(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = this_state(ctx, this_val);
    if (!st)
        return settled(ctx, JS_EXCEPTION);
    store_list_opts_t o;
    memset(&o, 0, sizeof o);
    key_t_ start = {0}, start_after = {0}, end = {0}, prefix = {0};
    JSValue result = JS_EXCEPTION;
    JSValueConst opts = argc > 0 ? argv[0] : JS_UNDEFINED;
    if (!JS_IsUndefined(opts) && !JS_IsNull(opts)) {
        if (!JS_IsObject(opts)) {
            JS_ThrowTypeError(ctx, "list() takes an options object");
            goto done;
        }
        if (opt_key(ctx, opts, "start", &start) < 0 ||
            opt_key(ctx, opts, "startAfter", &start_after) < 0 ||
            opt_key(ctx, opts, "end", &end) < 0 || opt_key(ctx, opts, "prefix", &prefix) < 0)
            goto done;
        if (start.s && start_after.s) {
            JS_ThrowTypeError(ctx, "list() cannot take both \"start\" and \"startAfter\"");
            goto done;
        }
        JSValue rv = JS_GetPropertyStr(ctx, opts, "reverse");
        o.reverse = JS_ToBool(ctx, rv) > 0;
        JS_FreeValue(ctx, rv);
        JSValue lv = JS_GetPropertyStr(ctx, opts, "limit");
        if (!JS_IsUndefined(lv)) {
            double d;
            if (JS_ToFloat64(ctx, &d, lv) < 0) {
                JS_FreeValue(ctx, lv);
                goto done;
            }
            if (!(d >= 1) || d != (double)(int64_t)d) {
                JS_FreeValue(ctx, lv);
                JS_ThrowRangeError(ctx, "list() option \"limit\" must be a positive integer");
                goto done;
            }
            o.limit = d > 1e15 ? (size_t)1e15 : (size_t)d;
        }
        JS_FreeValue(ctx, lv);
    }
    if (start.s) {
        o.start = (const uint8_t *)start.s;
        o.start_len = start.len;
        o.has_start = true;
    } else if (start_after.s) {
        o.start = (const uint8_t *)start_after.s;
        o.start_len = start_after.len;
        o.has_start = true;
        o.start_after = true;
    }
    if (end.s) {
        o.end = (const uint8_t *)end.s;
        o.end_len = end.len;
        o.has_end = true;
    }
    if (prefix.s) {
        o.prefix = (const uint8_t *)prefix.s;
        o.prefix_len = prefix.len;
        o.has_prefix = true;
    }
    {
        JSValue global = JS_GetGlobalObject(ctx);
        JSValue map_ctor = JS_GetPropertyStr(ctx, global, "Map");
        JS_FreeValue(ctx, global);
        list_ctx_t lc = {ctx, JS_CallConstructor(ctx, map_ctor, 0, NULL), JS_UNDEFINED, false};
        JS_FreeValue(ctx, map_ctor);
        lc.set = JS_GetPropertyStr(ctx, lc.map, "set");
        char err[256];
        int rc = store_kv_list(st->kv, &o, list_row, &lc, err, sizeof err);
        JS_FreeValue(ctx, lc.set);
        if (rc < 0 && !lc.failed)
            JS_ThrowInternalError(ctx, "storage list failed: %s", err);
        if (rc < 0 || lc.failed)
            JS_FreeValue(ctx, lc.map);
        else
            result = lc.map;
    }
done:
    free_key(ctx, &start);
    free_key(ctx, &start_after);
    free_key(ctx, &end);
    free_key(ctx, &prefix);
    return settled(ctx, result);
}

static const JSCFunctionListEntry storage_proto_funcs[] = {
    JS_CFUNC_DEF("get", 2, storage_get),
    JS_CFUNC_DEF("put", 3, storage_put),
    JS_CFUNC_DEF("delete", 2, storage_delete),
    JS_CFUNC_DEF("deleteAll", 1, storage_delete_all),
    JS_CFUNC_DEF("list", 1, storage_list),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "DurableObjectStorage", JS_PROP_CONFIGURABLE),
};

int api_storage_init_context(JSContext *ctx)
{
    if (!storage_class_id)
        JS_NewClassID(&storage_class_id);
    if (JS_NewClass(JS_GetRuntime(ctx), storage_class_id, &storage_class) < 0)
        return -1;
    JSValue proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, storage_proto_funcs,
                               sizeof storage_proto_funcs / sizeof storage_proto_funcs[0]);
    JS_SetClassProto(ctx, storage_class_id, proto);
    return 0;
}

JSValue api_storage_new(JSContext *ctx, api_handle_t *h)
{
    return api_wrap_handle(ctx, storage_class_id, h);
}
