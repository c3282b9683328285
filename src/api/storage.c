/* state.storage: the key-value API (get/put/delete/deleteAll/list with
 * their options), sync(), the alarm (getAlarm/setAlarm/deleteAlarm) and the
 * sql getter, on the instance's store_kv_t and the value codec (the
 * transactions are in txn.c). Keys are strings stored as
 * their UTF-8 bytes, so list() orders them by UTF-8 bytes.
 *
 * Every KV call answers with a promise that is already settled: reads come
 * from the cache or SQLite's page cache on this thread, and writes go into
 * the turn's transaction, which the actor commits at the end of the turn
 * (DESIGN.md 2.2). So code that awaits only storage runs as one atomic step:
 * the input gate is closed for it by construction. allowConcurrency is
 * accepted and changes nothing for that reason. Must not depend on actor/. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../js/codec.h"
#include "../lib/buf.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "sql.h"
#include "state_int.h"
#include "storage_int.h"

static JSClassID storage_class_id;

static void storage_finalizer(JSRuntime *rt, JSValue val)
{
    api_handle_unref(JS_GetOpaque(val, storage_class_id));
}

static JSClassDef storage_class = {"DurableObjectStorage", .finalizer = storage_finalizer};

/* storage.kv, the synchronous KV API: the same keys as the async calls. */
static JSClassID synckv_class_id;

static void synckv_finalizer(JSRuntime *rt, JSValue val)
{
    api_handle_unref(JS_GetOpaque(val, synckv_class_id));
}

static JSClassDef synckv_class = {"SyncKvStorage", .finalizer = synckv_finalizer};

/* A promise settled with v (ownership of v taken), or rejected with the
 * pending exception when v is JS_EXCEPTION. */
JSValue api_settled(JSContext *ctx, JSValue v)
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

/* Throws a plain Error (not a TypeError), as Cloudflare does for misuse of
 * transactions. */
JSValue api_throw_error(JSContext *ctx, const char *msg)
{
    JSValue e = JS_NewError(ctx);
    JS_DefinePropertyValueStr(ctx, e, "message", JS_NewString(ctx, msg),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    return JS_Throw(ctx, e);
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
                           "Keys cannot be larger than %u bytes. A key of size %zu was provided "
                           "(its UTF-8 bytes).",
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
                           "Maximum number of key value pairs is %d. %lld pairs were provided; "
                           "split the call into several.",
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

/* The instance behind a storage or transaction object (txn.c checks a
 * transaction that is over or rolled back). */
api_state_t *api_storage_state(JSContext *ctx, JSValueConst this_val)
{
    bool is_txn = false;
    api_state_t *st = api_txn_state(ctx, this_val, &is_txn);
    if (is_txn)
        return st;
    if (JS_GetOpaque(this_val, synckv_class_id))
        return api_handle_state(ctx, this_val, synckv_class_id);
    return api_handle_state(ctx, this_val, storage_class_id);
}

/* The options object of a call (or undefined), and the flags it sets. */
typedef struct opts {
    bool no_cache;
    bool allow_unconfirmed;
} opts_t;

static int get_opts(JSContext *ctx, int argc, JSValueConst *argv, int at, opts_t *o)
{
    memset(o, 0, sizeof *o);
    if (argc <= at || JS_IsUndefined(argv[at]) || JS_IsNull(argv[at]))
        return 0;
    if (!JS_IsObject(argv[at])) {
        JS_ThrowTypeError(ctx, "storage options must be an object such as { noCache: true }");
        return -1;
    }
    JSValue v = JS_GetPropertyStr(ctx, argv[at], "noCache");
    o->no_cache = JS_ToBool(ctx, v) > 0;
    JS_FreeValue(ctx, v);
    v = JS_GetPropertyStr(ctx, argv[at], "allowUnconfirmed");
    o->allow_unconfirmed = JS_ToBool(ctx, v) > 0;
    JS_FreeValue(ctx, v);
    return 0;
}

static void note_write(api_state_t *st, const opts_t *o)
{
    if (o->allow_unconfirmed)
        st->wrote_unconfirmed = true;
    else
        st->wrote = true;
}

JSValue api_storage_error(JSContext *ctx, const char *what, const char *err)
{
    return JS_ThrowInternalError(ctx, "storage %s failed: %s", what, err);
}

/* Reads one key; *found tells whether it exists. Returns the decoded value,
 * JS_UNDEFINED when absent, or JS_EXCEPTION. */
static JSValue read_one(JSContext *ctx, api_state_t *st, const key_t_ *k, bool no_cache,
                        bool *found)
{
    buf_t val = BUF_INIT;
    char err[256];
    if (store_kv_get(st->kv, (const uint8_t *)k->s, k->len, &val, found, no_cache, err,
                     sizeof err) < 0) {
        buf_deinit(&val);
        return api_storage_error(ctx, "read", err);
    }
    JSValue v = *found ? codec_decode(ctx, val.data, val.len) : JS_UNDEFINED;
    buf_deinit(&val);
    return v;
}

static JSValue new_map(JSContext *ctx)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue map_ctor = JS_GetPropertyStr(ctx, global, "Map");
    JS_FreeValue(ctx, global);
    JSValue map = JS_CallConstructor(ctx, map_ctor, 0, NULL);
    JS_FreeValue(ctx, map_ctor);
    return map;
}

static JSValue do_get(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1)
        return JS_ThrowTypeError(ctx, "get() needs a key or an array of keys");
    opts_t o;
    if (get_opts(ctx, argc, argv, 1, &o) < 0)
        return JS_EXCEPTION;
    if (!JS_IsArray(ctx, argv[0])) {
        key_t_ k;
        if (get_key(ctx, argv[0], &k) < 0)
            return JS_EXCEPTION;
        bool found;
        JSValue v = read_one(ctx, st, &k, o.no_cache, &found);
        free_key(ctx, &k);
        return v;
    }
    key_t_ *keys;
    int64_t n = get_keys(ctx, argv[0], &keys);
    if (n < 0)
        return JS_EXCEPTION;
    /* The result Map lists found keys in key order, as list() would. */
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
    JSValue map = new_map(ctx);
    JSValue set = JS_GetPropertyStr(ctx, map, "set");
    JSValue result = map;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && cmp_keys(&keys[i - 1], &keys[i]) == 0)
            continue;
        bool found;
        JSValue v = read_one(ctx, st, &keys[i], o.no_cache, &found);
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
    return result;
}

/* Encodes v for key k. */
static int encode_value(JSContext *ctx, const key_t_ *k, JSValueConst v, buf_t *tmp)
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
    if (tmp->len > API_MAX_VALUE_BYTES + API_VALUE_ENCODING_ALLOWANCE) {
        JS_ThrowRangeError(ctx,
                           "Values cannot be larger than %u bytes. A value of size %zu was "
                           "provided (its encoded size; the encoding may add up to %u bytes).",
                           API_MAX_VALUE_BYTES, tmp->len, API_VALUE_ENCODING_ALLOWANCE);
        return -1;
    }
    return 0;
}

static int put_bytes(JSContext *ctx, api_state_t *st, const key_t_ *k, const buf_t *v,
                     const opts_t *o)
{
    char err[256];
    if (store_kv_put(st->kv, (const uint8_t *)k->s, k->len, v->data, v->len, o->no_cache, err,
                     sizeof err) < 0) {
        api_storage_error(ctx, "write", err);
        return -1;
    }
    note_write(st, o);
    return 0;
}

static JSValue do_put(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1)
        return JS_ThrowTypeError(ctx, "put() needs a key and a value, or an object of entries");
    buf_t tmp = BUF_INIT;
    opts_t o;
    if (!JS_IsObject(argv[0]) || JS_IsFunction(ctx, argv[0])) {
        /* put(key, value): a key that is not a string is converted to one,
         * as on Cloudflare (put(1, v) writes "1"). */
        if (get_opts(ctx, argc, argv, 2, &o) < 0)
            return JS_EXCEPTION;
        key_t_ k;
        if (get_key(ctx, argv[0], &k) < 0)
            return JS_EXCEPTION;
        int rc = encode_value(ctx, &k, argc > 1 ? argv[1] : JS_UNDEFINED, &tmp);
        if (rc == 0)
            rc = put_bytes(ctx, st, &k, &tmp, &o);
        free_key(ctx, &k);
        buf_deinit(&tmp);
        return rc < 0 ? JS_EXCEPTION : JS_UNDEFINED;
    }
    if (JS_IsArray(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "put() needs a key and a value, or an object mapping keys "
                                      "to values (not an array)");
    if (get_opts(ctx, argc, argv, 1, &o) < 0)
        return JS_EXCEPTION;
    /* put(entries): every entry is checked and encoded before any is
     * written, so a bad one leaves storage untouched. Entries whose value is
     * undefined are left out, as on Cloudflare. */
    JSPropertyEnum *props = NULL;
    uint32_t np = 0;
    if (JS_GetOwnPropertyNames(ctx, &props, &np, argv[0], JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) <
        0)
        return JS_EXCEPTION;
    int ok = 1;
    JSValue *values = xcalloc(np + 1, sizeof *values);
    key_t_ *keys = xcalloc(np + 1, sizeof *keys);
    buf_t *vals = xcalloc(np + 1, sizeof *vals);
    uint32_t n = 0;
    for (uint32_t i = 0; i < np; i++)
        values[i] = JS_UNDEFINED;
    for (uint32_t i = 0; i < np && ok; i++) {
        values[i] = JS_GetProperty(ctx, argv[0], props[i].atom);
        if (JS_IsException(values[i])) {
            values[i] = JS_UNDEFINED;
            ok = 0;
        } else if (!JS_IsUndefined(values[i])) {
            n++;
        }
    }
    if (ok && n > API_MAX_KEYS_PER_CALL) {
        JS_ThrowRangeError(ctx,
                           "Maximum number of key value pairs is %d. %u pairs were provided; "
                           "split the call into several.",
                           API_MAX_KEYS_PER_CALL, n);
        ok = 0;
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < np && ok; i++) {
        if (JS_IsUndefined(values[i]))
            continue;
        JSValue kv = JS_AtomToString(ctx, props[i].atom);
        ok = get_key(ctx, kv, &keys[m]) == 0;
        JS_FreeValue(ctx, kv);
        if (ok)
            ok = encode_value(ctx, &keys[m], values[i], &vals[m]) == 0;
        m++;
    }
    if (ok && m) {
        /* All or nothing, even if the disk fails half-way. */
        char err[256];
        bool sp = store_kv_savepoint(st->kv, err, sizeof err) == 0;
        if (!sp) {
            api_storage_error(ctx, "write", err);
            ok = 0;
        }
        for (uint32_t i = 0; i < m && ok; i++)
            ok = put_bytes(ctx, st, &keys[i], &vals[i], &o) == 0;
        if (sp) {
            if (ok)
                store_kv_release(st->kv, err, sizeof err);
            else
                store_kv_rollback(st->kv, err, sizeof err);
        }
    }
    for (uint32_t i = 0; i < np; i++) {
        free_key(ctx, &keys[i]);
        buf_deinit(&vals[i]);
        JS_FreeValue(ctx, values[i]);
        JS_FreeAtom(ctx, props[i].atom);
    }
    free(values);
    free(keys);
    free(vals);
    js_free(ctx, props);
    return ok ? JS_UNDEFINED : JS_EXCEPTION;
}

static int delete_one(JSContext *ctx, api_state_t *st, const key_t_ *k, const opts_t *o)
{
    bool existed = false;
    char err[256];
    if (store_kv_delete(st->kv, (const uint8_t *)k->s, k->len, &existed, err, sizeof err) < 0) {
        api_storage_error(ctx, "delete", err);
        return -1;
    }
    if (existed)
        note_write(st, o);
    return existed;
}

static JSValue do_delete(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1)
        return JS_ThrowTypeError(ctx, "delete() needs a key or an array of keys");
    opts_t o;
    if (get_opts(ctx, argc, argv, 1, &o) < 0)
        return JS_EXCEPTION;
    if (!JS_IsArray(ctx, argv[0])) {
        key_t_ k;
        if (get_key(ctx, argv[0], &k) < 0)
            return JS_EXCEPTION;
        int e = delete_one(ctx, st, &k, &o);
        free_key(ctx, &k);
        return e < 0 ? JS_EXCEPTION : JS_NewBool(ctx, e > 0);
    }
    key_t_ *keys;
    int64_t n = get_keys(ctx, argv[0], &keys);
    if (n < 0)
        return JS_EXCEPTION;
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && cmp_keys(&keys[i - 1], &keys[i]) == 0)
            continue;
        int e = delete_one(ctx, st, &keys[i], &o);
        if (e < 0) {
            free_keys(ctx, keys, n);
            return JS_EXCEPTION;
        }
        count += e;
    }
    free_keys(ctx, keys, n);
    return JS_NewInt64(ctx, count);
}

static JSValue do_delete_all(JSContext *ctx, JSValueConst this_val, int argc,
                             JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    opts_t o;
    if (get_opts(ctx, argc, argv, 0, &o) < 0)
        return JS_EXCEPTION;
    char err[256];
    if (store_kv_delete_all(st->kv, err, sizeof err) < 0)
        return api_storage_error(ctx, "deleteAll", err);
    note_write(st, &o);
    st->alarm_changed = true;
    return JS_UNDEFINED;
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
    /* Anything else is converted to a string, as on Cloudflare (a prefix
     * of null lists the keys that start with "null"). */
    int rc = get_key(ctx, v, k);
    JS_FreeValue(ctx, v);
    return rc;
}

static JSValue do_list(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
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
            JS_ThrowTypeError(ctx, "list() cannot be called with both start and startAfter "
                                   "values: give one of them");
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
            /* As on Cloudflare: a number of at least 1 (its whole part counts). */
            if (!(d >= 1) || !isfinite(d)) {
                JS_FreeValue(ctx, lv);
                JS_ThrowTypeError(ctx, "List limit must be positive: give list() a limit of 1 "
                                       "or more, or none");
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
        list_ctx_t lc = {ctx, new_map(ctx), JS_UNDEFINED, false};
        lc.set = JS_GetPropertyStr(ctx, lc.map, "set");
        char err[256];
        int rc = store_kv_list(st->kv, &o, list_row, &lc, err, sizeof err);
        JS_FreeValue(ctx, lc.set);
        if (rc < 0 && !lc.failed)
            api_storage_error(ctx, "list", err);
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
    return result;
}

/* ---- the alarm ------------------------------------------------------------------ */

static JSValue do_get_alarm(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    int64_t ms;
    char err[256];
    if (store_kv_alarm_get(st->kv, &ms, err, sizeof err) < 0)
        return api_storage_error(ctx, "getAlarm", err);
    /* The alarm being handled stays stored until its handler succeeds (so
     * a crash meanwhile runs it again), but the class sees it as gone. */
    if (st->alarm_running > 0 && ms == st->alarm_running)
        ms = -1;
    return ms < 0 ? JS_NULL : JS_NewFloat64(ctx, (double)ms);
}

static JSValue do_set_alarm(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (!st->has_alarm_handler)
        return JS_ThrowTypeError(ctx, "setAlarm(): this class has no alarm() method, so an "
                                      "alarm could never run; add async alarm(info) { ... }");
    if (argc < 1)
        return JS_ThrowTypeError(ctx, "setAlarm() needs a time: a Date or milliseconds since "
                                      "the epoch");
    bool is_date = false;
    if (JS_IsObject(argv[0])) {
        JSValue global = JS_GetGlobalObject(ctx);
        JSValue date = JS_GetPropertyStr(ctx, global, "Date");
        is_date = JS_IsInstanceOf(ctx, argv[0], date) > 0;
        JS_FreeValue(ctx, date);
        JS_FreeValue(ctx, global);
    }
    double t = NAN;
    if ((!JS_IsNumber(argv[0]) && !is_date) || JS_ToFloat64(ctx, &t, argv[0]) < 0 ||
        !isfinite(t) || t > 8.64e15) {
        if (JS_HasException(ctx))
            JS_FreeValue(ctx, JS_GetException(ctx));
        return JS_ThrowTypeError(ctx, "setAlarm() needs a valid Date or a number of "
                                      "milliseconds since the epoch");
    }
    if (t <= 0)
        return JS_ThrowTypeError(ctx, "setAlarm() cannot be called with an alarm time <= 0: "
                                      "give a Date or milliseconds since the epoch, such as "
                                      "Date.now() + 60000");
    /* As on Cloudflare, a time in the past means now: the alarm runs at
     * once, and getAlarm() says when it was set for. */
    double now = (double)util_now_ms();
    if (t < now)
        t = now;
    opts_t o;
    if (get_opts(ctx, argc, argv, 1, &o) < 0)
        return JS_EXCEPTION;
    char err[256];
    if (store_kv_alarm_set(st->kv, (int64_t)t, err, sizeof err) < 0)
        return api_storage_error(ctx, "setAlarm", err);
    note_write(st, &o);
    st->alarm_changed = true;
    return JS_UNDEFINED;
}

static JSValue do_delete_alarm(JSContext *ctx, JSValueConst this_val, int argc,
                               JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    opts_t o;
    if (get_opts(ctx, argc, argv, 0, &o) < 0)
        return JS_EXCEPTION;
    char err[256];
    if (store_kv_alarm_set(st->kv, -1, err, sizeof err) < 0)
        return api_storage_error(ctx, "deleteAlarm", err);
    note_write(st, &o);
    st->alarm_changed = true;
    return JS_UNDEFINED;
}

/* ---- the promise-returning face of every operation above ------------------------------- */

#define ASYNC(name, fn)                                                                      \
    static JSValue name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) \
    {                                                                                        \
        return api_settled(ctx, fn(ctx, this_val, argc, argv));                                  \
    }
ASYNC(storage_get, do_get)
ASYNC(storage_put, do_put)
ASYNC(storage_delete, do_delete)
ASYNC(storage_delete_all, do_delete_all)
ASYNC(storage_list, do_list)
ASYNC(storage_get_alarm, do_get_alarm)
ASYNC(storage_set_alarm, do_set_alarm)
ASYNC(storage_delete_alarm, do_delete_alarm)

/* sync(): settles once every write so far is durable. */
static JSValue storage_sync(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return api_settled(ctx, JS_EXCEPTION);
    api_host_t *host = api_host(ctx);
    if (!host->storage_sync)
        return api_settled(ctx, JS_UNDEFINED);
    JSValue rf[2];
    JSValue p = JS_NewPromiseCapability(ctx, rf);
    if (JS_IsException(p))
        return p;
    host->storage_sync(host, st, rf[0], rf[1]);
    return p;
}

/* ---- storage.kv: the same calls, answered at once ------------------------------------- */

/* A single key, as the synchronous API takes (no array, no options). */
static bool kv_one_key(JSContext *ctx, int argc, JSValueConst *argv, const char *call)
{
    if (argc < 1) {
        JS_ThrowTypeError(ctx, "storage.kv.%s() needs a key", call);
        return false;
    }
    if (JS_IsArray(ctx, argv[0])) {
        JS_ThrowTypeError(ctx, "storage.kv.%s() takes one key, not an array; call it once per "
                               "key (it is synchronous, so that costs nothing extra)",
                          call);
        return false;
    }
    return true;
}

static JSValue kv_get(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return kv_one_key(ctx, argc, argv, "get") ? do_get(ctx, this_val, 1, argv) : JS_EXCEPTION;
}

static JSValue kv_put(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    if (!kv_one_key(ctx, argc, argv, "put"))
        return JS_EXCEPTION;
    if (JS_IsObject(argv[0]) && !JS_IsFunction(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "storage.kv.put() takes a key and a value, not an object "
                                      "of entries; call it once per key");
    JSValueConst args[2] = {argv[0], argc > 1 ? argv[1] : JS_UNDEFINED};
    return do_put(ctx, this_val, 2, args);
}

static JSValue kv_delete(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return kv_one_key(ctx, argc, argv, "delete") ? do_delete(ctx, this_val, 1, argv)
                                                 : JS_EXCEPTION;
}

/* list(options) -> an iterator of [key, value] in key order. */
static JSValue kv_list(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    JSValue map = do_list(ctx, this_val, argc > 0 ? 1 : 0, argv);
    if (JS_IsException(map))
        return map;
    JSValue entries = JS_GetPropertyStr(ctx, map, "entries");
    JSValue it = JS_Call(ctx, entries, map, 0, NULL);
    JS_FreeValue(ctx, entries);
    JS_FreeValue(ctx, map);
    return it;
}

static const JSCFunctionListEntry synckv_proto_funcs[] = {
    JS_CFUNC_DEF("get", 1, kv_get),
    JS_CFUNC_DEF("put", 2, kv_put),
    JS_CFUNC_DEF("delete", 1, kv_delete),
    JS_CFUNC_DEF("list", 1, kv_list),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "SyncKvStorage", JS_PROP_CONFIGURABLE),
};

#define STORAGE_METHODS                                                   \
    JS_CFUNC_DEF("get", 2, storage_get), JS_CFUNC_DEF("put", 3, storage_put), \
        JS_CFUNC_DEF("delete", 2, storage_delete),                        \
        JS_CFUNC_DEF("list", 1, storage_list),                            \
        JS_CFUNC_DEF("getAlarm", 1, storage_get_alarm),                   \
        JS_CFUNC_DEF("setAlarm", 2, storage_set_alarm),                   \
        JS_CFUNC_DEF("deleteAlarm", 1, storage_delete_alarm)

static const JSCFunctionListEntry storage_proto_funcs[] = {
    STORAGE_METHODS,
    JS_CFUNC_DEF("deleteAll", 1, storage_delete_all),
    JS_CFUNC_DEF("transaction", 1, api_storage_transaction),
    JS_CFUNC_DEF("transactionSync", 1, api_storage_transaction_sync),
    JS_CFUNC_DEF("sync", 0, storage_sync),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "DurableObjectStorage", JS_PROP_CONFIGURABLE),
};

/* What a transaction object shares with the storage object (txn.c adds
 * rollback() and its own deleteAll()). */
static const JSCFunctionListEntry txn_shared_funcs[] = {STORAGE_METHODS};

int api_storage_init_context(JSContext *ctx)
{
    JS_NewClassID(&storage_class_id);
    if (JS_NewClass(JS_GetRuntime(ctx), storage_class_id, &storage_class) < 0)
        return -1;
    JSValue proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, storage_proto_funcs,
                               sizeof storage_proto_funcs / sizeof storage_proto_funcs[0]);
    JS_SetClassProto(ctx, storage_class_id, proto);
    if (!synckv_class_id)
        JS_NewClassID(&synckv_class_id);
    if (JS_NewClass(JS_GetRuntime(ctx), synckv_class_id, &synckv_class) < 0)
        return -1;
    proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, synckv_proto_funcs,
                               sizeof synckv_proto_funcs / sizeof synckv_proto_funcs[0]);
    JS_SetClassProto(ctx, synckv_class_id, proto);
    if (api_txn_init_context(ctx, txn_shared_funcs,
                             sizeof txn_shared_funcs / sizeof txn_shared_funcs[0]) < 0)
        return -1;
    return api_sql_init_context(ctx);
}

void api_storage_free_context(JSContext *ctx)
{
    api_sql_free_context(ctx);
}

JSValue api_storage_new(JSContext *ctx, api_handle_t *h)
{
    JSValue storage = api_wrap_handle(ctx, storage_class_id, h);
    if (JS_IsException(storage))
        return storage;
    JSValue kv = api_wrap_handle(ctx, synckv_class_id, h);
    if (JS_IsException(kv)) {
        JS_FreeValue(ctx, storage);
        return kv;
    }
    JS_DefinePropertyValueStr(ctx, storage, "kv", kv, JS_PROP_ENUMERABLE);
    return storage;
}
