/* The storage value encoding (spec: docs/value-encoding.md): JS values of the
 * structured-clone value space to our own versioned bytes and back.
 * Depends on lib/ and the public QuickJS API only: never on QuickJS's own
 * serialization (JS_WriteObject), on storage, or on the actor layer. */
#include "codec.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"

/* ------------------------------------------------------------------ format */

/* One byte before each value: printable letters, so that a hex dump of a
 * stored value can be read by eye. */
/* clang-format off */
enum {
    TAG_UNDEFINED = 'u', TAG_NULL = 'n', TAG_FALSE = 'f', TAG_TRUE = 't',
    TAG_INT = 'i',    /* zigzag varint, |v| <= 2^53, never -0 */
    TAG_DOUBLE = 'd', /* 8 bytes little-endian IEEE 754 */
    TAG_BIGINT = 'z', TAG_STRING = 's', TAG_OBJECT = 'o',
    TAG_ARRAY = 'a',  /* dense: every slot written, holes as TAG_HOLE */
    TAG_SPARSE = 'A', /* sparse: only the elements present, keyed */
    TAG_HOLE = 'h', TAG_DATE = 'D', TAG_REGEXP = 'R', TAG_MAP = 'M', TAG_SET = 'S',
    TAG_BUFFER = 'B', TAG_VIEW = 'V', TAG_ERROR = 'E', TAG_BOXED = 'P', TAG_REF = 'r',
};
/* clang-format on */
/* The tags that make an object, and so take the next reference id. */
static const char object_tags[] = "oaADRMSBVEP";

/* View kinds as stored: our numbering, independent of QuickJS's enum. */
enum { VK_DATAVIEW = 11, VK_COUNT = 12 };
static const struct {
    const char *ctor;
    JSTypedArrayEnum qjs;
    uint8_t size;
} views[VK_COUNT] = {
    {"Int8Array", JS_TYPED_ARRAY_INT8, 1},
    {"Uint8Array", JS_TYPED_ARRAY_UINT8, 1},
    {"Uint8ClampedArray", JS_TYPED_ARRAY_UINT8C, 1},
    {"Int16Array", JS_TYPED_ARRAY_INT16, 2},
    {"Uint16Array", JS_TYPED_ARRAY_UINT16, 2},
    {"Int32Array", JS_TYPED_ARRAY_INT32, 4},
    {"Uint32Array", JS_TYPED_ARRAY_UINT32, 4},
    {"Float32Array", JS_TYPED_ARRAY_FLOAT32, 4},
    {"Float64Array", JS_TYPED_ARRAY_FLOAT64, 8},
    {"BigInt64Array", JS_TYPED_ARRAY_BIG_INT64, 8},
    {"BigUint64Array", JS_TYPED_ARRAY_BIG_UINT64, 8},
    {"DataView", 0, 1},
};

/* Error names that survive a round trip; any other name is stored as Error.
 * The optional fields follow in this order, flagged by bits 0, 1, 2. */
enum { ERR_COUNT = 7, ERR_FIELDS = 3 };
static const char *const error_names[ERR_COUNT] = {
    "Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
};
static const char *const error_fields[ERR_FIELDS] = {"message", "stack", "cause"};

/* How deep values may nest is bounded by the C stack used per level, so
 * work that does not recurse is kept out of the recursive functions. */
#define NOINLINE __attribute__((noinline))

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */
#define MAX_TIME 8.64e15                /* the range of a Date */
#define CANONICAL_NAN 0x7ff8000000000000ull
/* QuickJS caps a BigInt near 2^20 bits, sign included, and a negative one is
 * rebuilt through a value one bit wider: stay a little below the cap. */
#define MAX_BIGINT_BYTES (131072 - 2)

/* --------------------------------------------------------------- class ids */

/* QuickJS has no JS_IsDate or JS_IsMap, but the class ids of its built-in
 * classes are the same for every runtime of the library, so they are learned
 * once per process from sample objects made in a throwaway runtime. */
static struct {
    JSClassID object, array, error, number, string, boolean, bigint, symbol, date, regexp, map, set,
        buffer, function, view[VK_COUNT];
} cls;
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;

static void learn_classes(void)
{
    /* clang-format off */
    static const char *const samples[] = {
        "({})", "[]", "new Error", "new Number(0)", "new String('')", "new Boolean(false)",
        "Object(0n)", "Object(Symbol())", "new Date(0)", "/a/", "new Map", "new Set",
        "new ArrayBuffer(0)", "(function () {})",
    };
    JSClassID *slots[] = {
        &cls.object, &cls.array, &cls.error, &cls.number, &cls.string, &cls.boolean,
        &cls.bigint, &cls.symbol, &cls.date, &cls.regexp, &cls.map, &cls.set,
        &cls.buffer, &cls.function,
    };
    /* clang-format on */
    enum { NSAMPLES = sizeof samples / sizeof samples[0] };
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = rt ? JS_NewContext(rt) : NULL;
    for (int i = 0; ctx && i < NSAMPLES + VK_COUNT; i++) {
        char src[64];
        if (i < NSAMPLES)
            snprintf(src, sizeof src, "%s", samples[i]);
        else
            snprintf(src, sizeof src, "new %s(new ArrayBuffer(8))", views[i - NSAMPLES].ctor);
        JSValue v = JS_Eval(ctx, src, strlen(src), "<codec>", JS_EVAL_TYPE_GLOBAL);
        JSClassID id = JS_GetClassID(v);
        JS_FreeValue(ctx, v);
        if (id == 0) {
            /* Only a broken build or no memory at start-up gets here. */
            fprintf(stderr, "dorm: codec: cannot learn the class of %s\n", src);
            abort();
        }
        *(i < NSAMPLES ? slots[i] : &cls.view[i - NSAMPLES]) = id;
    }
    if (!ctx)
        abort();
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
}

static int view_kind(JSClassID id)
{
    for (int k = 0; k < VK_COUNT; k++)
        if (cls.view[k] == id)
            return k;
    return -1;
}

/* ---------------------------------------------------------- built-ins */

/* Built-in behaviour is read from the class's own prototype
 * (JS_GetClassProto), never from the value, so an own property named like a
 * method cannot change what is stored. Code that replaces the built-in
 * methods themselves gets what it asked for: no result is trusted for
 * memory safety, every one is checked. */
static JSValue builtin_get(JSContext *ctx, JSClassID id, const char *name, JSValueConst this_val)
{
    JSValue proto = JS_GetClassProto(ctx, id);
    JSAtom atom = JS_NewAtom(ctx, name);
    JSValue r = JS_EXCEPTION;
    if (atom != JS_ATOM_NULL)
        r = JS_GetPropertyInternal(ctx, proto, atom, this_val, 0);
    JS_FreeAtom(ctx, atom);
    JS_FreeValue(ctx, proto);
    return r;
}

static JSValue builtin_call(JSContext *ctx, JSClassID id, const char *name, JSValueConst this_val,
                            int argc, JSValueConst *argv)
{
    JSValue fn = builtin_get(ctx, id, name, JS_UNDEFINED);
    if (JS_IsException(fn))
        return fn;
    JSValue r = JS_Call(ctx, fn, this_val, argc, argv);
    JS_FreeValue(ctx, fn);
    return r;
}

/* ------------------------------------------------------ uncloneable values */

/* Throws the platform's DataCloneError wording: a function shown by its
 * source, a symbol as Symbol(desc), an object as #<Tag>. If describing the
 * value throws, that exception stands instead. */
static NOINLINE int throw_uncloneable(JSContext *ctx, JSValueConst v)
{
    JSValue s;
    bool tag = false;
    if (JS_IsSymbol(v))
        s = builtin_call(ctx, cls.symbol, "toString", v, 0, NULL);
    else if (JS_IsFunction(ctx, v))
        s = builtin_call(ctx, cls.function, "toString", v, 0, NULL);
    else if ((tag = JS_IsObject(v)))
        s = builtin_call(ctx, cls.object, "toString", v, 0, NULL);
    else
        s = JS_ToString(ctx, v);
    size_t len;
    const char *p = JS_IsException(s) ? NULL : JS_ToCStringLen(ctx, &len, s);
    JS_FreeValue(ctx, s);
    if (!p)
        return -1;
    const char *body = p;
    if (tag && len > 9 && !memcmp(p, "[object ", 8) && p[len - 1] == ']') {
        body += 8;
        len -= 9;
    }
    /* A long function source is cut, at a character boundary. */
    bool cut = len > 150;
    if (cut)
        for (len = 150; len > 0 && ((uint8_t)body[len] & 0xc0) == 0x80; len--)
            ;
    JS_ThrowTypeError(ctx, "DataCloneError: %s%.*s%s%s could not be cloned.", tag ? "#<" : "",
                      (int)len, body, cut ? "..." : "", tag ? ">" : "");
    JS_FreeCString(ctx, p);
    return -1;
}

/* QuickJS reports a detached buffer with its own TypeError, the platform
 * with a DataCloneError. The exception replaced is always QuickJS's
 * "detached" error, never one thrown by user code. */
static NOINLINE int throw_detached(JSContext *ctx)
{
    JS_FreeValue(ctx, JS_GetException(ctx));
    JS_ThrowTypeError(ctx, "DataCloneError: An ArrayBuffer is detached and could not be cloned.");
    return -1;
}

/* ---------------------------------------------------------------- encoder */

typedef struct {
    JSValue obj; /* a reference we hold, so the address cannot be reused */
    uint32_t id;
} seen_slot;

typedef struct {
    JSContext *ctx;
    buf_t *out;
    seen_slot *seen; /* open addressing on the object's address */
    size_t seen_cap, seen_count;
    int depth;
} enc_t;

static void put_varint(buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        tmp[n++] = (uint8_t)(v | 0x80);
    tmp[n++] = (uint8_t)v;
    buf_append(b, tmp, n);
}

static void put_double(buf_t *b, double d)
{
    uint64_t bits;
    uint8_t tmp[8];
    memcpy(&bits, &d, 8);
    if (isnan(d))
        bits = CANONICAL_NAN; /* NaN payloads cannot be observed from JS */
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(bits >> (8 * i));
    buf_append(b, tmp, 8);
}

static void put_number(buf_t *b, double d)
{
    if (d == trunc(d) && fabs(d) <= MAX_SAFE_INT && !(d == 0 && signbit(d))) {
        int64_t n = (int64_t)d;
        buf_putc(b, TAG_INT);
        put_varint(b, n < 0 ? ((uint64_t)(-(n + 1)) << 1) | 1 : (uint64_t)n << 1);
    } else {
        buf_putc(b, TAG_DOUBLE);
        put_double(b, d);
    }
}

/* varint(length) and the WTF-8 bytes of a string. QuickJS's non-CESU
 * conversion joins surrogate pairs and keeps lone surrogates as 3-byte
 * sequences: that is WTF-8, which maps back to the same UTF-16 exactly. */
static int put_wtf8(buf_t *out, JSContext *ctx, JSValueConst s, uint64_t bias)
{
    size_t len;
    const char *p = JS_ToCStringLen2(ctx, &len, s, 0);
    if (!p)
        return -1;
    put_varint(out, len + bias);
    buf_append(out, p, len);
    JS_FreeCString(ctx, p);
    return 0;
}

/* No C API reads the digits of a BigInt, so they come from its hex string. */
static NOINLINE int put_bigint(enc_t *e, JSValueConst v)
{
    JSContext *ctx = e->ctx;
    JSValue radix = JS_NewInt32(ctx, 16);
    JSValue s = builtin_call(ctx, cls.bigint, "toString", v, 1, &radix);
    size_t len, n = 0;
    const char *p = JS_IsException(s) ? NULL : JS_ToCStringLen(ctx, &len, s);
    JS_FreeValue(ctx, s);
    if (!p)
        return -1;
    bool neg = len > 0 && p[0] == '-';
    const char *digits = p + neg;
    size_t nd = len - neg;
    bool ok = nd > 0;
    /* Digits from the last, two to a byte; leading zeros are tolerated, as
     * QuickJS 2025-04-26 prints (2n**63n).toString(16) as "08000000000000000". */
    uint8_t *mag = xcalloc(nd / 2 + 1, 1);
    for (size_t i = 0; ok && i < nd; i++) {
        char c = digits[nd - 1 - i];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        ok = x >= 0;
        mag[i / 2] |= (uint8_t)((x & 15) << (4 * (i % 2)));
    }
    JS_FreeCString(ctx, p);
    for (n = (nd + 1) / 2; n > 0 && mag[n - 1] == 0; n--)
        ;
    int r = -1;
    if (!ok || (neg && n == 0))
        JS_ThrowTypeError(ctx, "BigInt.prototype.toString returned an unexpected string");
    else if (n > MAX_BIGINT_BYTES)
        JS_ThrowRangeError(ctx, "a BigInt of more than %d bytes cannot be stored",
                           MAX_BIGINT_BYTES);
    else
        r = 0;
    if (r == 0) {
        buf_putc(e->out, TAG_BIGINT);
        put_varint(e->out, (uint64_t)n * 2 + neg);
        buf_append(e->out, mag, n);
    }
    free(mag);
    return r;
}

static size_t ptr_hash(const void *p, size_t cap)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

/* The id of an object already written, or -1. */
static int64_t seen_find(enc_t *e, JSValueConst v)
{
    void *p = JS_VALUE_GET_PTR(v);
    for (size_t i = ptr_hash(p, e->seen_cap); e->seen_cap; i = (i + 1) & (e->seen_cap - 1)) {
        if (JS_IsUndefined(e->seen[i].obj))
            return -1;
        if (JS_VALUE_GET_PTR(e->seen[i].obj) == p)
            return e->seen[i].id;
    }
    return -1;
}

static void seen_insert(seen_slot *tab, size_t cap, JSValue obj, uint32_t id)
{
    size_t i = ptr_hash(JS_VALUE_GET_PTR(obj), cap);
    while (!JS_IsUndefined(tab[i].obj))
        i = (i + 1) & (cap - 1);
    tab[i].obj = obj;
    tab[i].id = id;
}

/* Gives v the next id: the decoder numbers objects in the same order. */
static void seen_add(enc_t *e, JSValueConst v)
{
    if ((e->seen_count + 1) * 2 > e->seen_cap) {
        size_t cap = e->seen_cap ? e->seen_cap * 2 : 64;
        seen_slot *tab = xmalloc(cap * sizeof *tab);
        for (size_t i = 0; i < cap; i++)
            tab[i].obj = JS_UNDEFINED;
        for (size_t i = 0; i < e->seen_cap; i++)
            if (!JS_IsUndefined(e->seen[i].obj))
                seen_insert(tab, cap, e->seen[i].obj, e->seen[i].id);
        free(e->seen);
        e->seen = tab;
        e->seen_cap = cap;
    }
    seen_insert(e->seen, e->seen_cap, JS_DupValue(e->ctx, v), (uint32_t)e->seen_count++);
}

/* Reads an own property. For a property list (enumerable) it must be
 * enumerable and a getter runs, as structured clone reads with [[Get]];
 * otherwise (error fields) only a data property counts. Returns 1 with *out
 * set, 0 when there is no such property, -1 on an exception. */
static int own_value(JSContext *ctx, JSValueConst obj, JSAtom atom, bool enumerable, JSValue *out)
{
    JSPropertyDescriptor d;
    int r = JS_GetOwnProperty(ctx, &d, obj, atom);
    if (r <= 0)
        return r;
    *out = JS_UNDEFINED;
    if (enumerable && !(d.flags & JS_PROP_ENUMERABLE))
        r = 0;
    else if (!(d.flags & JS_PROP_GETSET))
        *out = JS_DupValue(ctx, d.value);
    else if (!enumerable)
        r = 0;
    else if (!JS_IsUndefined(d.getter))
        *out = JS_Call(ctx, d.getter, obj, 0, NULL);
    if (JS_IsException(*out))
        r = -1;
    JS_FreeValue(ctx, d.value);
    JS_FreeValue(ctx, d.getter);
    JS_FreeValue(ctx, d.setter);
    return r;
}

/* Whether bytes spell a canonical array index: "0", or digits without a
 * leading zero up to 2^32 - 2. */
static bool key_is_index(const char *p, size_t n, uint32_t *idx)
{
    if (n == 0 || n > 10 || (p[0] == '0' && n > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *idx = (uint32_t)v;
    return v <= 0xfffffffeu;
}

/* The key of a property as WTF-8 (free with JS_FreeCString), or NULL. */
static const char *key_wtf8(JSContext *ctx, JSAtom atom, size_t *len)
{
    JSValue key = JS_AtomToString(ctx, atom);
    const char *p = JS_IsException(key) ? NULL : JS_ToCStringLen2(ctx, len, key, 0);
    JS_FreeValue(ctx, key);
    return p;
}

static void free_names(JSContext *ctx, JSPropertyEnum *tab, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        JS_FreeAtom(ctx, tab[i].atom);
    js_free(ctx, tab);
}

static int encode_value(enc_t *e, JSValueConst v);

/* The own enumerable string-keyed properties of obj, in their order. */
static int own_keys(JSContext *ctx, JSValueConst obj, JSPropertyEnum **tab, uint32_t *n)
{
    return JS_GetOwnPropertyNames(ctx, tab, n, obj, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY);
}

/* Writes the properties tab[from..n) of obj, then the end mark. A property
 * that a getter has deleted meanwhile is skipped. */
static int put_props(enc_t *e, JSValueConst obj, JSPropertyEnum *tab, uint32_t from, uint32_t n)
{
    JSContext *ctx = e->ctx;
    for (uint32_t i = from; i < n; i++) {
        size_t klen;
        const char *k = key_wtf8(ctx, tab[i].atom, &klen);
        JSValue val;
        int r = k ? own_value(ctx, obj, tab[i].atom, true, &val) : -1;
        if (r > 0) {
            put_varint(e->out, (uint64_t)klen + 1);
            buf_append(e->out, k, klen);
            r = encode_value(e, val);
            JS_FreeValue(ctx, val);
        }
        JS_FreeCString(ctx, k);
        if (r < 0)
            return -1;
    }
    put_varint(e->out, 0);
    return 0;
}

static int encode_plain(enc_t *e, JSValueConst obj)
{
    JSPropertyEnum *tab;
    uint32_t n;
    if (own_keys(e->ctx, obj, &tab, &n) < 0)
        return -1;
    buf_putc(e->out, TAG_OBJECT);
    int r = put_props(e, obj, tab, 0, n);
    free_names(e->ctx, tab, n);
    return r;
}

static int encode_array(enc_t *e, JSValueConst arr)
{
    JSContext *ctx = e->ctx;
    JSPropertyEnum *tab;
    uint32_t len, n, nidx, idx;
    JSValue lv = JS_GetPropertyStr(ctx, arr, "length");
    int r = JS_IsException(lv) ? -1 : JS_ToUint32(ctx, &len, lv);
    JS_FreeValue(ctx, lv);
    if (r < 0 || own_keys(ctx, arr, &tab, &n) < 0)
        return -1;
    /* Array indices come first in property order, so counting the elements
     * only reads the keys after them: back from the end to the last index. */
    for (nidx = n; nidx > 0; nidx--) {
        size_t klen;
        const char *k = key_wtf8(ctx, tab[nidx - 1].atom, &klen);
        bool is_index = k && key_is_index(k, klen, &idx);
        JS_FreeCString(ctx, k);
        if (!k)
            goto fail;
        if (is_index)
            break;
    }
    /* Every slot with the holes marked, or only the elements present. */
    bool dense = (uint64_t)len <= 2 * (uint64_t)nidx + 8;
    buf_putc(e->out, dense ? TAG_ARRAY : TAG_SPARSE);
    put_varint(e->out, len);
    for (uint32_t i = 0; dense && i < len; i++) {
        JSAtom atom = JS_NewAtomUInt32(ctx, i);
        JSValue val;
        r = atom == JS_ATOM_NULL ? -1 : own_value(ctx, arr, atom, true, &val);
        JS_FreeAtom(ctx, atom);
        if (r > 0) {
            r = encode_value(e, val);
            JS_FreeValue(ctx, val);
        } else if (r == 0) {
            buf_putc(e->out, TAG_HOLE);
        }
        if (r < 0)
            goto fail;
    }
    r = put_props(e, arr, tab, dense ? nidx : 0, n);
    free_names(ctx, tab, n);
    return r;
fail:
    free_names(ctx, tab, n);
    return -1;
}

/* forEach callback that appends (key, value) for a Map or the value for a
 * Set to the array in data[0]. */
static JSValue collect_cb(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                          int is_map, JSValue *data)
{
    uint32_t n;
    JSValue lv = JS_GetPropertyStr(ctx, data[0], "length");
    int r = JS_IsException(lv) ? -1 : JS_ToUint32(ctx, &n, lv);
    JS_FreeValue(ctx, lv);
    if (r < 0)
        return JS_EXCEPTION;
    for (int i = is_map; i >= 0; i--)
        if (JS_DefinePropertyValueUint32(ctx, data[0], n++, JS_DupValue(ctx, argv[i]),
                                         JS_PROP_C_W_E | JS_PROP_THROW) < 0)
            return JS_EXCEPTION;
    return JS_UNDEFINED;
}

/* The entries are copied out before any is written, as structured clone
 * does, so a getter that edits the collection does not change the output. */
static int encode_collection(enc_t *e, JSValueConst v, bool is_map)
{
    JSContext *ctx = e->ctx;
    JSValue list = JS_NewArray(ctx), cb = JS_UNDEFINED, r = JS_UNDEFINED, lv;
    uint32_t n, i;
    int ret = -1;
    if (JS_IsException(list))
        return -1;
    cb = JS_NewCFunctionData(ctx, collect_cb, 2, is_map, 1, &list);
    if (!JS_IsException(cb))
        r = builtin_call(ctx, is_map ? cls.map : cls.set, "forEach", v, 1, &cb);
    if (JS_IsException(cb) || JS_IsException(r))
        goto fail;
    lv = JS_GetPropertyStr(ctx, list, "length");
    if (JS_IsException(lv) || JS_ToUint32(ctx, &n, lv) < 0)
        goto fail; /* lv is a number or the exception: nothing to free */
    buf_putc(e->out, is_map ? TAG_MAP : TAG_SET);
    put_varint(e->out, is_map ? n / 2 : n);
    for (i = 0; i < n; i++) {
        JSValue x = JS_GetPropertyUint32(ctx, list, i);
        int rr = JS_IsException(x) ? -1 : encode_value(e, x);
        JS_FreeValue(ctx, x);
        if (rr < 0)
            goto fail;
    }
    ret = 0;
fail:
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, cb);
    JS_FreeValue(ctx, list);
    return ret;
}

static NOINLINE int encode_view(enc_t *e, JSValueConst v, int kind)
{
    JSContext *ctx = e->ctx;
    JSValue buffer;
    size_t off = 0, blen = 0, size, bpe;
    int r = -1;
    if (kind == VK_DATAVIEW)
        buffer = builtin_get(ctx, cls.view[kind], "buffer", v);
    else if (JS_IsException(buffer = JS_GetTypedArrayBuffer(ctx, v, &off, &blen, &bpe)))
        return throw_detached(ctx);
    if (JS_IsException(buffer))
        return -1;
    if (JS_GetClassID(buffer) != cls.buffer) {
        r = throw_uncloneable(ctx, buffer); /* a SharedArrayBuffer */
        goto done;
    }
    if (!JS_GetArrayBuffer(ctx, &size, buffer) && JS_HasException(ctx)) {
        r = throw_detached(ctx);
        goto done;
    }
    if (kind == VK_DATAVIEW) {
        int64_t x, y;
        JSValue o = builtin_get(ctx, cls.view[kind], "byteOffset", v);
        JSValue l = JS_IsException(o) ? o : builtin_get(ctx, cls.view[kind], "byteLength", v);
        bool ok = !JS_IsException(l) && !JS_ToInt64(ctx, &x, o) && !JS_ToInt64(ctx, &y, l);
        JS_FreeValue(ctx, o);
        JS_FreeValue(ctx, l);
        if (ok && (x < 0 || y < 0))
            JS_ThrowTypeError(ctx, "DataView offset or length is negative");
        if (!ok || x < 0 || y < 0)
            goto done;
        off = (size_t)x;
        blen = (size_t)y;
    }
    /* A view past the end of a shrunk resizable buffer is refused, as the
     * platform does, rather than stored as something unreadable. */
    if (off > size || blen > size - off) {
        r = throw_uncloneable(ctx, v);
        goto done;
    }
    buf_putc(e->out, TAG_VIEW);
    buf_putc(e->out, kind);
    if (encode_value(e, buffer) == 0) {
        put_varint(e->out, off);
        put_varint(e->out, blen / views[kind].size);
        r = 0;
    }
done:
    JS_FreeValue(ctx, buffer);
    return r;
}

static NOINLINE int encode_error(enc_t *e, JSValueConst v)
{
    JSContext *ctx = e->ctx;
    JSValue f[ERR_FIELDS] = {JS_UNDEFINED, JS_UNDEFINED, JS_UNDEFINED};
    int code = 0, flags = 0, r = -1, i;
    JSValue name = JS_GetPropertyStr(ctx, v, "name");
    if (JS_IsException(name))
        return -1;
    const char *s = JS_IsString(name) ? JS_ToCString(ctx, name) : NULL;
    for (i = 0; s && i < ERR_COUNT; i++)
        code = strcmp(s, error_names[i]) ? code : i;
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, name);
    for (i = 0; i < ERR_FIELDS; i++) {
        JSAtom atom = JS_NewAtom(ctx, error_fields[i]);
        int found = atom == JS_ATOM_NULL ? -1 : own_value(ctx, v, atom, false, &f[i]);
        JS_FreeAtom(ctx, atom);
        if (found < 0)
            goto done;
        if (found && i == 0 && !JS_IsString(f[0])) {
            JSValue str = JS_ToString(ctx, f[0]);
            JS_FreeValue(ctx, f[0]);
            if (JS_IsException(f[0] = str))
                goto done;
        }
        /* A stack that is not a string is left out. */
        flags |= found && (i != 1 || JS_IsString(f[1])) ? 1 << i : 0;
    }
    buf_putc(e->out, TAG_ERROR);
    buf_putc(e->out, code);
    buf_putc(e->out, flags);
    for (i = 0; i < ERR_FIELDS; i++)
        if ((flags & (1 << i)) &&
            (i < 2 ? put_wtf8(e->out, ctx, f[i], 0) : encode_value(e, f[i])) < 0)
            goto done;
    r = 0;
done:
    for (i = 0; i < ERR_FIELDS; i++)
        JS_FreeValue(ctx, f[i]);
    return r;
}

/* Dates, regexps, buffers and boxed primitives hold no other objects. */
static NOINLINE int encode_leaf_object(enc_t *e, JSValueConst v, JSClassID id)
{
    JSContext *ctx = e->ctx;
    int r = -1;
    if (id == cls.date) {
        double t;
        JSValue tv = builtin_call(ctx, cls.date, "getTime", v, 0, NULL);
        if (!JS_IsException(tv) && JS_ToFloat64(ctx, &t, tv) == 0) {
            /* TimeClip, so that what is stored is a time a Date can hold. */
            t = isfinite(t) && fabs(t) <= MAX_TIME ? trunc(t) + 0.0 : NAN;
            buf_putc(e->out, TAG_DATE);
            put_double(e->out, t);
            r = 0;
        }
        JS_FreeValue(ctx, tv);
    } else if (id == cls.regexp) {
        JSValue src = builtin_get(ctx, cls.regexp, "source", v);
        JSValue flags = JS_IsException(src) ? src : builtin_get(ctx, cls.regexp, "flags", v);
        if (JS_IsString(src) && JS_IsString(flags)) {
            buf_putc(e->out, TAG_REGEXP);
            r = put_wtf8(e->out, ctx, src, 0) < 0 || put_wtf8(e->out, ctx, flags, 0) < 0 ? -1 : 0;
        } else if (!JS_IsException(flags)) {
            JS_ThrowTypeError(ctx, "RegExp source and flags must be strings");
        }
        JS_FreeValue(ctx, src);
        JS_FreeValue(ctx, flags);
    } else if (id == cls.buffer) {
        size_t size;
        uint8_t *p = JS_GetArrayBuffer(ctx, &size, v);
        if (!p && JS_HasException(ctx))
            return throw_detached(ctx);
        buf_putc(e->out, TAG_BUFFER);
        put_varint(e->out, size);
        buf_append(e->out, p, size);
        r = 0;
    } else {
        JSValue prim = builtin_call(ctx, id, "valueOf", v, 0, NULL);
        if (JS_IsNumber(prim) || JS_IsString(prim) || JS_IsBool(prim) || JS_IsBigInt(ctx, prim)) {
            buf_putc(e->out, TAG_BOXED);
            r = encode_value(e, prim);
        } else if (!JS_IsException(prim)) {
            JS_ThrowTypeError(ctx, "valueOf of a boxed primitive returned a non-primitive");
        }
        JS_FreeValue(ctx, prim);
    }
    return r;
}

static int encode_object(enc_t *e, JSValueConst v)
{
    JSContext *ctx = e->ctx;
    int64_t ref = seen_find(e, v);
    if (ref >= 0) {
        buf_putc(e->out, TAG_REF);
        put_varint(e->out, (uint64_t)ref);
        return 0;
    }
    JSClassID id = JS_GetClassID(v);
    int kind = view_kind(id), r;
    bool leaf = id == cls.number || id == cls.string || id == cls.boolean || id == cls.bigint ||
                id == cls.date || id == cls.regexp || id == cls.buffer;
    if (!leaf && kind < 0 && id != cls.object && id != cls.array && id != cls.error &&
        id != cls.map && id != cls.set)
        return throw_uncloneable(ctx, v);
    if (e->depth >= CODEC_MAX_DEPTH) {
        JS_ThrowRangeError(ctx,
                           "DataCloneError: the value nests more than %d levels deep "
                           "and could not be cloned.",
                           CODEC_MAX_DEPTH);
        return -1;
    }
    e->depth++;
    seen_add(e, v);
    if (leaf) {
        r = encode_leaf_object(e, v, id);
    } else if (id == cls.object) {
        r = encode_plain(e, v);
    } else if (id == cls.array) {
        r = encode_array(e, v);
    } else if (id == cls.error) {
        r = encode_error(e, v);
    } else if (kind >= 0) {
        r = encode_view(e, v, kind);
    } else {
        r = encode_collection(e, v, id == cls.map);
    }
    e->depth--;
    return r;
}

static NOINLINE int encode_primitive(enc_t *e, JSValueConst v)
{
    switch (JS_VALUE_GET_NORM_TAG(v)) {
    case JS_TAG_UNDEFINED:
        buf_putc(e->out, TAG_UNDEFINED);
        return 0;
    case JS_TAG_NULL:
        buf_putc(e->out, TAG_NULL);
        return 0;
    case JS_TAG_BOOL:
        buf_putc(e->out, JS_VALUE_GET_BOOL(v) ? TAG_TRUE : TAG_FALSE);
        return 0;
    case JS_TAG_INT:
        put_number(e->out, JS_VALUE_GET_INT(v));
        return 0;
    case JS_TAG_FLOAT64:
        put_number(e->out, JS_VALUE_GET_FLOAT64(v));
        return 0;
    case JS_TAG_BIG_INT:
    case JS_TAG_SHORT_BIG_INT:
        return put_bigint(e, v);
    case JS_TAG_STRING:
    case JS_TAG_STRING_ROPE:
        buf_putc(e->out, TAG_STRING);
        return put_wtf8(e->out, e->ctx, v, 0);
    default:
        return throw_uncloneable(e->ctx, v);
    }
}

static int encode_value(enc_t *e, JSValueConst v)
{
    return JS_IsObject(v) ? encode_object(e, v) : encode_primitive(e, v);
}

/* ---------------------------------------------------------------- decoder */

typedef struct {
    JSContext *ctx;
    const uint8_t *start, *p, *end;
    JSValue *objs; /* by id; JS_UNINITIALIZED while that object is being built */
    uint32_t nobjs, cap;
    int depth;
} dec_t;

static NOINLINE int bad(dec_t *d, const char *why)
{
    JS_ThrowTypeError(d->ctx, "cannot decode stored value: %s at byte %zu", why,
                      (size_t)(d->p - d->start));
    return -1;
}

static JSValue bad_v(dec_t *d, const char *why)
{
    bad(d, why);
    return JS_EXCEPTION;
}

static size_t left(const dec_t *d)
{
    return (size_t)(d->end - d->p);
}

static int get_u8(dec_t *d, uint8_t *out)
{
    if (d->p >= d->end)
        return bad(d, "unexpected end");
    *out = *d->p++;
    return 0;
}

/* Unsigned LEB128 in its shortest form, at most 64 bits. */
static int get_varint(dec_t *d, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t b = 0;
        if (get_u8(d, &b) < 0)
            return -1;
        if (shift == 63 && b > 1)
            return bad(d, "varint larger than 64 bits");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0)
                return bad(d, "varint not in its shortest form");
            *out = v;
            return 0;
        }
    }
}

/* A count of items that take at least `unit` bytes each: it cannot exceed
 * what is left, so nothing is ever allocated from a lying length. */
static int get_count(dec_t *d, size_t unit, uint64_t *out)
{
    if (get_varint(d, out) < 0)
        return -1;
    return *out > left(d) / unit ? bad(d, "length larger than the input") : 0;
}

static int get_double(dec_t *d, double *out)
{
    uint64_t bits = 0;
    if (left(d) < 8)
        return bad(d, "unexpected end");
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)*d->p++ << (8 * i);
    memcpy(out, &bits, 8);
    return isnan(*out) && bits != CANONICAL_NAN ? bad(d, "NaN not in its canonical form") : 0;
}

/* Strict WTF-8: UTF-8 in shortest form in which surrogate code points may
 * stand alone but never as a high-low pair (a pair is one 4-byte char). */
static bool wtf8_valid(const uint8_t *p, size_t n)
{
    bool prev_high = false;
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        size_t len = b < 0x80                 ? 1
                     : b >= 0xc2 && b <= 0xdf ? 2
                     : b >= 0xe0 && b <= 0xef ? 3
                     : b >= 0xf0 && b <= 0xf4 ? 4
                                              : 0;
        if (len == 0 || n - i < len)
            return false;
        uint32_t cp = len == 1 ? b : b & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        if (prev_high && cp >= 0xdc00 && cp <= 0xdfff)
            return false;
        prev_high = cp >= 0xd800 && cp <= 0xdbff;
        i += len;
    }
    return true;
}

/* Checks and consumes n bytes of WTF-8 at d->p. */
static int take_wtf8(dec_t *d, uint64_t n, const char **out)
{
    if (n > left(d))
        return bad(d, "string longer than the input");
    if (!wtf8_valid(d->p, n))
        return bad(d, "string is not valid WTF-8");
    *out = (const char *)d->p;
    d->p += n;
    return 0;
}

static JSValue get_string(dec_t *d)
{
    uint64_t n;
    const char *s;
    if (get_varint(d, &n) < 0 || take_wtf8(d, n, &s) < 0)
        return JS_EXCEPTION;
    return JS_NewStringLen(d->ctx, s, n);
}

static uint32_t reserve_id(dec_t *d)
{
    if (d->nobjs == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->objs = xrealloc(d->objs, d->cap * sizeof *d->objs);
    }
    d->objs[d->nobjs] = JS_UNINITIALIZED;
    return d->nobjs++;
}

/* Records the object under its id; done before its contents are read, so
 * that they can refer back to it. */
static JSValue define_id(dec_t *d, uint32_t id, JSValue v)
{
    if (!JS_IsException(v))
        d->objs[id] = JS_DupValue(d->ctx, v);
    return v;
}

/* new C(args) for a built-in class, checked to be of that class. */
static JSValue construct(dec_t *d, JSClassID id, int argc, JSValueConst *argv)
{
    JSValue ctor = builtin_get(d->ctx, id, "constructor", JS_UNDEFINED);
    JSValue r = JS_IsException(ctor) ? ctor : JS_CallConstructor(d->ctx, ctor, argc, argv);
    JS_FreeValue(d->ctx, ctor);
    if (!JS_IsException(r) && JS_GetClassID(r) != id) {
        JS_FreeValue(d->ctx, r);
        return JS_ThrowTypeError(d->ctx, "a built-in constructor was replaced");
    }
    return r;
}

static JSValue decode_value(dec_t *d);

static NOINLINE JSValue decode_bigint(dec_t *d)
{
    JSContext *ctx = d->ctx;
    uint64_t h, n;
    if (get_varint(d, &h) < 0)
        return JS_EXCEPTION;
    bool neg = h & 1;
    if ((n = h >> 1) > left(d))
        return bad_v(d, "BigInt longer than the input");
    if (n > MAX_BIGINT_BYTES)
        return bad_v(d, "BigInt too large");
    if (n == 0 ? neg : d->p[n - 1] == 0)
        return bad_v(d, "BigInt not in its shortest form");
    const uint8_t *m = d->p;
    d->p += n;
    uint64_t small = 0;
    for (size_t i = 0; i < n && n <= 8; i++)
        small |= (uint64_t)m[i] << (8 * i);
    if (n <= 8 && small <= (uint64_t)INT64_MAX + neg)
        return JS_NewBigInt64(ctx, neg ? (int64_t)(0 - small) : (int64_t)small);
    /* Larger values go through BigInt("0x..."). The C API cannot negate, so
     * -m is BigInt.asIntN(8n + 1, 2^(8n+1) - m): the hex of ~m + 1 over n
     * bytes, under a top byte 01. */
    size_t nb = n + neg;
    char *hex = xmalloc(2 * nb + 2);
    unsigned carry = 1;
    for (size_t i = 0; i < nb; i++) {
        unsigned b = i == n ? 1 : m[i];
        if (neg && i < n) {
            b = (~b & 0xff) + carry;
            carry = b >> 8;
        }
        hex[2 * (nb - i)] = "0123456789abcdef"[(b >> 4) & 15];
        hex[2 * (nb - i) + 1] = "0123456789abcdef"[b & 15];
    }
    hex[0] = '0';
    hex[1] = 'x';
    JSValue str = JS_NewStringLen(ctx, hex, 2 * nb + 2), fn = JS_UNDEFINED, r = JS_EXCEPTION;
    free(hex);
    JSValue ctor = builtin_get(ctx, cls.bigint, "constructor", JS_UNDEFINED);
    if (!JS_IsException(str) && !JS_IsException(ctor))
        r = JS_Call(ctx, ctor, JS_UNDEFINED, 1, (JSValueConst *)&str);
    if (neg && !JS_IsException(r)) {
        JSValue args[2] = {JS_NewInt64(ctx, (int64_t)n * 8 + 1), r};
        fn = JS_GetPropertyStr(ctx, ctor, "asIntN");
        r = JS_IsException(fn) ? fn : JS_Call(ctx, fn, ctor, 2, args);
        JS_FreeValue(ctx, args[1]);
    }
    if (!JS_IsException(r) && !JS_IsBigInt(ctx, r)) {
        JS_FreeValue(ctx, r);
        r = JS_ThrowTypeError(ctx, "a built-in BigInt function was replaced");
    }
    JS_FreeValue(ctx, str);
    JS_FreeValue(ctx, ctor);
    JS_FreeValue(ctx, fn);
    return r;
}

enum { PROPS_OBJECT, PROPS_DENSE, PROPS_SPARSE };

/* Reads (key, value) pairs up to the end mark and defines them on obj. */
static int decode_props(dec_t *d, JSValueConst obj, int mode, uint32_t len)
{
    JSContext *ctx = d->ctx;
    for (;;) {
        uint64_t k;
        const char *key;
        uint32_t idx = 0;
        if (get_varint(d, &k) < 0)
            return -1;
        if (k-- == 0)
            return 0;
        if (take_wtf8(d, k, &key) < 0)
            return -1;
        bool is_index = key_is_index(key, k, &idx);
        if (mode != PROPS_OBJECT && k == 6 && !memcmp(key, "length", 6))
            return bad(d, "array with a \"length\" key");
        if (mode == PROPS_DENSE && is_index)
            return bad(d, "index key after the elements of a dense array");
        if (mode == PROPS_SPARSE && is_index && idx >= len)
            return bad(d, "array element past the array's length");
        JSAtom atom = is_index ? JS_NewAtomUInt32(ctx, idx) : JS_NewAtomLen(ctx, key, k);
        if (atom == JS_ATOM_NULL)
            return -1;
        JSValue v = decode_value(d);
        int r = JS_IsException(v)
                    ? -1
                    : JS_DefinePropertyValue(ctx, obj, atom, v, JS_PROP_C_W_E | JS_PROP_THROW);
        JS_FreeAtom(ctx, atom);
        if (r < 0)
            return -1;
    }
}

static JSValue decode_array(dec_t *d, bool dense)
{
    JSContext *ctx = d->ctx;
    uint64_t len;
    if (dense ? get_count(d, 1, &len) < 0 : get_varint(d, &len) < 0)
        return JS_EXCEPTION;
    if (len > 0xffffffffu)
        return bad_v(d, "array longer than 2^32 - 1");
    JSValue arr = define_id(d, reserve_id(d), JS_NewArray(ctx));
    if (JS_IsException(arr))
        return arr;
    for (uint32_t i = 0; dense && i < len; i++) {
        if (d->p < d->end && *d->p == TAG_HOLE) {
            d->p++;
            continue;
        }
        JSValue v = decode_value(d);
        if (JS_IsException(v) ||
            JS_DefinePropertyValueUint32(ctx, arr, i, v, JS_PROP_C_W_E | JS_PROP_THROW) < 0)
            goto fail;
    }
    if (decode_props(d, arr, dense ? PROPS_DENSE : PROPS_SPARSE, (uint32_t)len) == 0 &&
        JS_SetPropertyStr(ctx, arr, "length", JS_NewUint32(ctx, (uint32_t)len)) >= 0)
        return arr;
fail:
    JS_FreeValue(ctx, arr);
    return JS_EXCEPTION;
}

static NOINLINE JSValue decode_regexp(dec_t *d)
{
    JSContext *ctx = d->ctx;
    uint32_t id = reserve_id(d);
    JSValue args[2] = {get_string(d), JS_UNDEFINED}, r = JS_EXCEPTION;
    if (JS_IsException(args[0]) || JS_IsException(args[1] = get_string(d)))
        goto done;
    r = define_id(d, id, construct(d, cls.regexp, 2, args));
    if (JS_IsException(r)) {
        /* A pattern that does not compile is a bad encoding; any other error
         * (out of memory, an interrupt) is passed on as it is. */
        JSValue ex = JS_GetException(ctx);
        JSValue name = JS_IsError(ctx, ex) ? JS_GetPropertyStr(ctx, ex, "name") : JS_UNDEFINED;
        const char *s = JS_IsString(name) ? JS_ToCString(ctx, name) : NULL;
        if (s && !strcmp(s, "SyntaxError")) {
            JS_FreeValue(ctx, ex);
            bad(d, "invalid regular expression");
        } else {
            JS_Throw(ctx, ex);
        }
        JS_FreeCString(ctx, s);
        JS_FreeValue(ctx, name);
    }
done:
    JS_FreeValue(ctx, args[0]);
    JS_FreeValue(ctx, args[1]);
    return r;
}

static JSValue decode_collection(dec_t *d, bool is_map)
{
    JSContext *ctx = d->ctx;
    JSClassID id = is_map ? cls.map : cls.set;
    uint64_t n, i = 0;
    if (get_count(d, is_map ? 2 : 1, &n) < 0)
        return JS_EXCEPTION;
    JSValue obj = define_id(d, reserve_id(d), construct(d, id, 0, NULL));
    if (JS_IsException(obj))
        return obj;
    JSValue add = builtin_get(ctx, id, is_map ? "set" : "add", JS_UNDEFINED);
    for (; !JS_IsException(add) && i < n; i++) {
        JSValue kv[2] = {decode_value(d), JS_UNDEFINED};
        if (is_map && !JS_IsException(kv[0]))
            kv[1] = decode_value(d);
        JSValue r = JS_IsException(kv[0]) || JS_IsException(kv[1])
                        ? JS_EXCEPTION
                        : JS_Call(ctx, add, obj, is_map ? 2 : 1, kv);
        JS_FreeValue(ctx, kv[0]);
        JS_FreeValue(ctx, kv[1]);
        if (JS_IsException(r))
            break;
        JS_FreeValue(ctx, r);
    }
    JS_FreeValue(ctx, add);
    if (i == n && !JS_IsException(add))
        return obj;
    JS_FreeValue(ctx, obj);
    return JS_EXCEPTION;
}

static NOINLINE JSValue decode_view(dec_t *d)
{
    JSContext *ctx = d->ctx;
    uint8_t kind = 0;
    uint64_t off, len;
    size_t size;
    if (get_u8(d, &kind) < 0)
        return JS_EXCEPTION;
    if (kind >= VK_COUNT)
        return bad_v(d, "unknown view kind");
    uint32_t id = reserve_id(d);
    if (d->p >= d->end || (*d->p != TAG_BUFFER && *d->p != TAG_REF))
        return bad_v(d, "view without an ArrayBuffer");
    JSValue buffer = decode_value(d), r = JS_EXCEPTION;
    if (JS_IsException(buffer))
        return buffer;
    unsigned esize = views[kind].size;
    if (JS_GetClassID(buffer) != cls.buffer)
        bad(d, "view of something that is not an ArrayBuffer");
    else if (get_varint(d, &off) < 0 || get_varint(d, &len) < 0 ||
             (!JS_GetArrayBuffer(ctx, &size, buffer) && JS_HasException(ctx)))
        ; /* the exception is set */
    else if (off > size || off % esize || len > (size - off) / esize)
        bad(d, "view outside its ArrayBuffer");
    else {
        JSValue args[3] = {buffer, JS_NewInt64(ctx, (int64_t)off), JS_NewInt64(ctx, (int64_t)len)};
        r = define_id(d, id,
                      kind == VK_DATAVIEW ? construct(d, cls.view[kind], 3, args)
                                          : JS_NewTypedArray(ctx, 3, args, views[kind].qjs));
    }
    JS_FreeValue(ctx, buffer);
    return r;
}

static NOINLINE JSValue decode_error(dec_t *d)
{
    JSContext *ctx = d->ctx;
    uint8_t code = 0, flags = 0;
    if (get_u8(d, &code) < 0 || get_u8(d, &flags) < 0)
        return JS_EXCEPTION;
    if (code >= ERR_COUNT || flags >> ERR_FIELDS)
        return bad_v(d, "unknown error name or flags");
    /* The error classes share one class id and differ by prototype only.
     * QuickJS exposes Error's; the others come from the global constructors,
     * with Error.prototype as the fallback if one was removed. */
    JSValue proto = JS_UNDEFINED;
    if (code > 0) {
        JSValue global = JS_GetGlobalObject(ctx);
        JSValue ctor = JS_GetPropertyStr(ctx, global, error_names[code]);
        JS_FreeValue(ctx, global);
        proto = JS_IsObject(ctor) ? JS_GetPropertyStr(ctx, ctor, "prototype") : ctor;
        if (JS_IsObject(ctor))
            JS_FreeValue(ctx, ctor);
        if (JS_IsException(proto))
            return proto;
    }
    if (!JS_IsObject(proto)) {
        JS_FreeValue(ctx, proto);
        proto = JS_GetClassProto(ctx, cls.error);
    }
    JSValue err = define_id(d, reserve_id(d), JS_NewObjectProtoClass(ctx, proto, cls.error));
    JS_FreeValue(ctx, proto);
    for (int i = 0; !JS_IsException(err) && i < ERR_FIELDS; i++) {
        if (!(flags & (1 << i)))
            continue;
        JSValue v = i < 2 ? get_string(d) : decode_value(d);
        if (JS_IsException(v) || JS_DefinePropertyValueStr(ctx, err, error_fields[i], v,
                                                           JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE |
                                                               JS_PROP_THROW) < 0) {
            JS_FreeValue(ctx, err);
            return JS_EXCEPTION;
        }
    }
    return err;
}

static NOINLINE JSValue decode_boxed(dec_t *d)
{
    JSContext *ctx = d->ctx;
    uint32_t id = reserve_id(d);
    if (d->p >= d->end || !memchr("idzstf", *d->p, 6))
        return bad_v(d, "boxed value that is not a number, string, boolean or BigInt");
    JSValue prim = decode_value(d);
    if (JS_IsException(prim))
        return prim;
    /* Object(primitive) makes the wrapper, with the built-in prototype. */
    JSValue ctor = builtin_get(ctx, cls.object, "constructor", JS_UNDEFINED);
    JSValue r = JS_IsException(ctor) ? ctor : JS_Call(ctx, ctor, JS_UNDEFINED, 1, &prim);
    JSClassID got = JS_GetClassID(r);
    JS_FreeValue(ctx, ctor);
    JS_FreeValue(ctx, prim);
    if (!JS_IsException(r) && got != cls.number && got != cls.string && got != cls.boolean &&
        got != cls.bigint) {
        JS_FreeValue(ctx, r);
        r = JS_ThrowTypeError(ctx, "a built-in constructor was replaced");
    }
    return define_id(d, id, r);
}

/* Dates, regexps and buffers hold no other objects. */
static NOINLINE JSValue decode_leaf_object(dec_t *d, uint8_t tag)
{
    JSContext *ctx = d->ctx;
    double t;
    uint64_t n;
    if (tag == TAG_REGEXP)
        return decode_regexp(d);
    if (tag == TAG_DATE) {
        if (get_double(d, &t) < 0)
            return JS_EXCEPTION;
        if (!isnan(t) && (t != trunc(t) || fabs(t) > MAX_TIME || (t == 0 && signbit(t))))
            return bad_v(d, "time value out of range");
        return define_id(d, reserve_id(d), JS_NewDate(ctx, t));
    }
    if (get_count(d, 1, &n) < 0)
        return JS_EXCEPTION;
    d->p += n;
    return define_id(d, reserve_id(d), JS_NewArrayBufferCopy(ctx, d->p - n, n));
}

static JSValue decode_object(dec_t *d, uint8_t tag)
{
    switch (tag) {
    case TAG_OBJECT: {
        JSValue obj = define_id(d, reserve_id(d), JS_NewObject(d->ctx));
        if (JS_IsException(obj) || decode_props(d, obj, PROPS_OBJECT, 0) == 0)
            return obj;
        JS_FreeValue(d->ctx, obj);
        return JS_EXCEPTION;
    }
    case TAG_ARRAY:
    case TAG_SPARSE:
        return decode_array(d, tag == TAG_ARRAY);
    case TAG_MAP:
    case TAG_SET:
        return decode_collection(d, tag == TAG_MAP);
    case TAG_VIEW:
        return decode_view(d);
    case TAG_ERROR:
        return decode_error(d);
    case TAG_BOXED:
        return decode_boxed(d);
    default:
        return decode_leaf_object(d, tag);
    }
}

static NOINLINE JSValue decode_primitive(dec_t *d, uint8_t tag)
{
    uint64_t u;
    double x;
    switch (tag) {
    case TAG_UNDEFINED:
        return JS_UNDEFINED;
    case TAG_NULL:
        return JS_NULL;
    case TAG_FALSE:
        return JS_FALSE;
    case TAG_TRUE:
        return JS_TRUE;
    case TAG_INT:
        if (get_varint(d, &u) < 0)
            return JS_EXCEPTION;
        if ((u >> 1) > (uint64_t)MAX_SAFE_INT - (u & 1))
            return bad_v(d, "integer beyond 2^53");
        return JS_NewInt64(d->ctx, u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1));
    case TAG_DOUBLE:
        if (get_double(d, &x) < 0)
            return JS_EXCEPTION;
        if (x == trunc(x) && fabs(x) <= MAX_SAFE_INT && !(x == 0 && signbit(x)))
            return bad_v(d, "integer stored as a double");
        return JS_NewFloat64(d->ctx, x);
    case TAG_BIGINT:
        return decode_bigint(d);
    case TAG_STRING:
        return get_string(d);
    case TAG_REF:
        if (get_varint(d, &u) < 0)
            return JS_EXCEPTION;
        if (u >= d->nobjs || JS_IsUninitialized(d->objs[u]))
            return bad_v(d, "reference to an object not yet decoded");
        return JS_DupValue(d->ctx, d->objs[u]);
    default:
        d->p--;
        return bad_v(d, "unknown tag");
    }
}

static JSValue decode_value(dec_t *d)
{
    if (d->p >= d->end)
        return bad_v(d, "unexpected end");
    uint8_t tag = *d->p++;
    if (!memchr(object_tags, tag, sizeof object_tags - 1))
        return decode_primitive(d, tag);
    if (d->depth >= CODEC_MAX_DEPTH)
        return bad_v(d, "values nested too deep");
    d->depth++;
    JSValue v = decode_object(d, tag);
    d->depth--;
    return v;
}

/* ----------------------------------------------------------------- public */

int codec_encode(JSContext *ctx, JSValueConst v, buf_t *out)
{
    pthread_once(&cls_once, learn_classes);
    enc_t e = {ctx, out, NULL, 0, 0, 0};
    size_t start = out->len;
    buf_putc(out, CODEC_VERSION);
    int r = encode_value(&e, v);
    for (size_t i = 0; i < e.seen_cap; i++)
        JS_FreeValue(ctx, e.seen[i].obj);
    free(e.seen);
    if (r < 0) {
        out->len = start;
        out->data[start] = '\0';
    }
    return r;
}

JSValue codec_decode(JSContext *ctx, const uint8_t *p, size_t len)
{
    pthread_once(&cls_once, learn_classes);
    if (len == 0)
        return JS_ThrowTypeError(ctx, "cannot decode stored value: no bytes");
    dec_t d = {ctx, p, p + 1, p + len, NULL, 0, 0, 0};
    JSValue v = JS_EXCEPTION;
    if (p[0] != CODEC_VERSION) {
        d.p = p;
        bad(&d, "unknown format version");
        return v;
    }
    v = decode_value(&d);
    if (!JS_IsException(v) && d.p != d.end) {
        JS_FreeValue(ctx, v);
        v = bad_v(&d, "trailing bytes");
    }
    for (uint32_t i = 0; i < d.nobjs; i++)
        JS_FreeValue(ctx, d.objs[i]);
    free(d.objs);
    return v;
}

JSValue codec_clone(JSContext *ctx, JSValueConst v)
{
    buf_t b = BUF_INIT;
    JSValue r = JS_EXCEPTION;
    if (codec_encode(ctx, v, &b) == 0)
        r = codec_decode(ctx, b.data, b.len);
    buf_deinit(&b);
    return r;
}
