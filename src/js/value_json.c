/* Stored values as JSON with type tags (value_json.h): a second decoder of
 * docs/value-encoding.md that builds jansson values instead of JS ones.
 * It checks what the codec checks, so a value it shows is a value a class
 * can read. Depends on lib/ and jansson only; never on QuickJS. */
#include "value_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "../lib/util.h"

#define VERSION 1
#define MAX_DEPTH 2000 /* as CODEC_MAX_DEPTH */
#define MAX_SAFE_INT 9007199254740992.0
#define MAX_TIME 8.64e15
#define CANONICAL_NAN 0x7ff8000000000000ull

static const char object_tags[] = "oaADRMSBVEP";
static const char *const view_names[12] = {
    "Int8Array",    "Uint8Array",   "Uint8ClampedArray", "Int16Array",
    "Uint16Array",  "Int32Array",   "Uint32Array",       "Float32Array",
    "Float64Array", "BigInt64Array", "BigUint64Array",   "DataView",
};
static const uint8_t view_sizes[12] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 1};
static const char *const error_names[7] = {
    "Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
};

typedef struct {
    const uint8_t *start, *p, *end;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
    json_t **objs;    /* by reference id (borrowed: each lives in the tree) */
    size_t *sizes;    /* ArrayBuffer byte lengths by id, SIZE_MAX for others */
    bool *building;   /* an id that cannot be referred to yet (a view's own slot) */
    size_t nobjs, cap;
} dec_t;

static json_t *fail(dec_t *d, const char *what)
{
    if (!d->failed) {
        d->failed = true;
        snprintf(d->err, d->errlen, "offset %zu: %s", (size_t)(d->p - d->start), what);
    }
    return NULL;
}

static int bad(dec_t *d, const char *what)
{
    fail(d, what);
    return -1;
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

/* Strict WTF-8 (see the codec); *lone is set when a surrogate stands alone. */
static bool wtf8_check(const uint8_t *p, size_t n, bool *lone)
{
    bool prev_high = false;
    *lone = false;
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
        if (cp >= 0xd800 && cp <= 0xdfff)
            *lone = true;
        i += len;
    }
    return true;
}

/* The bytes with each surrogate (3 bytes ED A0..BF xx) replaced by U+FFFD. */
static void replace_surrogates(const uint8_t *p, size_t n, buf_t *out)
{
    for (size_t i = 0; i < n;) {
        if (p[i] == 0xed && i + 2 < n && p[i + 1] >= 0xa0) {
            buf_append(out, "\xef\xbf\xbd", 3);
            i += 3;
        } else {
            buf_putc(out, (char)p[i++]);
        }
    }
}

/* A JS string as JSON (see value_json_key). */
static json_t *string_json(const uint8_t *p, size_t n, bool lone)
{
    if (!lone)
        return json_stringn((const char *)p, n);
    buf_t b = BUF_INIT;
    replace_surrogates(p, n, &b);
    json_t *j = json_pack("{s:s,s:s%,s:b}", "type", "string", "value", b.data ? (char *)b.data : "",
                          b.len, "lone_surrogates", 1);
    buf_deinit(&b);
    return j;
}

json_t *value_json_key(const uint8_t *p, size_t len)
{
    bool lone;
    if (!wtf8_check(p, len, &lone))
        return NULL;
    return string_json(p, len, lone);
}

/* Reads a str: its bytes stay in the input. */
static int take_str(dec_t *d, const uint8_t **s, size_t *n, bool *lone)
{
    uint64_t len;
    if (get_varint(d, &len) < 0)
        return -1;
    if (len > left(d))
        return bad(d, "string longer than the input");
    if (!wtf8_check(d->p, len, lone))
        return bad(d, "string is not valid WTF-8");
    *s = d->p;
    *n = len;
    d->p += len;
    return 0;
}

static json_t *get_string(dec_t *d)
{
    const uint8_t *s;
    size_t n;
    bool lone;
    if (take_str(d, &s, &n, &lone) < 0)
        return NULL;
    return string_json(s, n, lone);
}

static json_t *tagged(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

/* A new object under the next reference id. */
static json_t *reserve(dec_t *d, const char *type, size_t *id)
{
    if (d->nobjs == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->objs = xrealloc(d->objs, d->cap * sizeof *d->objs);
        d->sizes = xrealloc(d->sizes, d->cap * sizeof *d->sizes);
        d->building = xrealloc(d->building, d->cap * sizeof *d->building);
    }
    json_t *j = tagged(type);
    *id = d->nobjs;
    d->objs[d->nobjs] = j;
    d->sizes[d->nobjs] = SIZE_MAX;
    d->building[d->nobjs] = false;
    d->nobjs++;
    return j;
}

static json_t *decode_value(dec_t *d);

/* Whole milliseconds since the epoch as an ISO 8601 string, the way
 * Date.prototype.toISOString writes it (six-digit years outside 0..9999). */
static json_t *date_string(double t)
{
    int64_t ms = (int64_t)t;
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs--;
    }
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return json_null();
    long year = (long)tm.tm_year + 1900;
    char ybuf[16];
    if (year >= 0 && year <= 9999)
        snprintf(ybuf, sizeof ybuf, "%04ld", year);
    else
        snprintf(ybuf, sizeof ybuf, "%c%06ld", year < 0 ? '-' : '+', year < 0 ? -year : year);
    char out[64];
    snprintf(out, sizeof out, "%s-%02d-%02dT%02d:%02d:%02d.%03dZ", ybuf, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    return json_string(out);
}

static json_t *number_json(double x)
{
    if (isfinite(x) && !(x == 0 && signbit(x)))
        return json_real(x);
    const char *s = isnan(x) ? "NaN" : x == 0 ? "-0" : x > 0 ? "Infinity" : "-Infinity";
    return json_pack("{s:s,s:s}", "type", "number", "value", s);
}

/* The magnitude (little-endian bytes) in decimal, with its sign. */
static json_t *bigint_json(const uint8_t *m, size_t n, bool neg)
{
    /* Repeated division by 10^9 of a copy, most significant limb first. */
    size_t nl = (n + 3) / 4;
    uint32_t *limbs = xcalloc(nl ? nl : 1, sizeof *limbs);
    for (size_t i = 0; i < n; i++)
        limbs[i / 4] |= (uint32_t)m[i] << (8 * (i % 4));
    buf_t digits = BUF_INIT; /* groups of 9, least significant first */
    size_t top = nl;
    while (top > 0 && limbs[top - 1] == 0)
        top--;
    while (top > 0) {
        uint64_t r = 0;
        for (size_t i = top; i-- > 0;) {
            uint64_t cur = r << 32 | limbs[i];
            limbs[i] = (uint32_t)(cur / 1000000000u);
            r = cur % 1000000000u;
        }
        char g[16];
        snprintf(g, sizeof g, "%09u", (unsigned)r);
        for (int k = 8; k >= 0; k--)
            buf_putc(&digits, g[k]);
        while (top > 0 && limbs[top - 1] == 0)
            top--;
    }
    free(limbs);
    while (digits.len > 1 && digits.data[digits.len - 1] == '0')
        digits.len--;
    buf_t s = BUF_INIT;
    if (neg)
        buf_putc(&s, '-');
    if (digits.len == 0)
        buf_putc(&s, '0');
    for (size_t i = digits.len; i-- > 0;)
        buf_putc(&s, (char)digits.data[i]);
    json_t *j = json_pack("{s:s,s:s%}", "type", "bigint", "value", (char *)s.data, s.len);
    buf_deinit(&s);
    buf_deinit(&digits);
    return j;
}

static json_t *decode_bigint(dec_t *d)
{
    uint64_t h, n;
    if (get_varint(d, &h) < 0)
        return NULL;
    bool neg = h & 1;
    if ((n = h >> 1) > left(d))
        return fail(d, "BigInt longer than the input");
    if (n > 131070)
        return fail(d, "BigInt too large");
    if (n == 0 ? neg : d->p[n - 1] == 0)
        return fail(d, "BigInt not in its shortest form");
    const uint8_t *m = d->p;
    d->p += n;
    return bigint_json(m, n, neg);
}

static bool key_is_index(const uint8_t *k, size_t n, uint32_t *idx)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return false;
        v = v * 10 + (k[i] - '0');
    }
    if (v >= 0xffffffffu)
        return false;
    *idx = (uint32_t)v;
    return true;
}

enum { PROPS_OBJECT, PROPS_DENSE, PROPS_SPARSE };

/* Reads (key, value) pairs up to the end mark into obj (a JSON object). A
 * key with lone surrogates is shown with them replaced. */
static int decode_props(dec_t *d, json_t *obj, int mode, uint64_t len, json_t *elements)
{
    for (;;) {
        uint64_t k;
        if (get_varint(d, &k) < 0)
            return -1;
        if (k-- == 0)
            return 0;
        if (k > left(d))
            return bad(d, "string longer than the input");
        bool lone;
        if (!wtf8_check(d->p, k, &lone))
            return bad(d, "string is not valid WTF-8");
        const uint8_t *key = d->p;
        d->p += k;
        uint32_t idx = 0;
        bool is_index = key_is_index(key, k, &idx);
        if (mode != PROPS_OBJECT && k == 6 && !memcmp(key, "length", 6))
            return bad(d, "array with a \"length\" key");
        if (mode == PROPS_DENSE && is_index)
            return bad(d, "index key after the elements of a dense array");
        if (mode == PROPS_SPARSE && is_index && idx >= len)
            return bad(d, "array element past the array's length");
        json_t *v = decode_value(d);
        if (!v)
            return -1;
        buf_t name = BUF_INIT;
        if (lone)
            replace_surrogates(key, k, &name);
        else
            buf_append(&name, key, k);
        json_object_setn_new(mode == PROPS_SPARSE && is_index ? elements : obj,
                             name.data ? (const char *)name.data : "", name.len, v);
        buf_deinit(&name);
    }
}

static json_t *decode_array(dec_t *d, bool dense)
{
    uint64_t len;
    if (dense ? get_count(d, 1, &len) < 0 : get_varint(d, &len) < 0)
        return NULL;
    if (len > 0xffffffffu)
        return fail(d, "array longer than 2^32 - 1");
    size_t id;
    json_t *arr = reserve(d, "array", &id);
    json_t *props = json_object();
    json_t *value = dense ? json_array() : json_object();
    json_object_set_new(arr, "length", json_integer((json_int_t)len));
    json_object_set_new(arr, "value", value);
    for (uint64_t i = 0; dense && i < len; i++) {
        if (d->p < d->end && *d->p == 'h') {
            d->p++;
            json_array_append_new(value, tagged("hole"));
            continue;
        }
        json_t *v = decode_value(d);
        if (!v)
            goto fail;
        json_array_append_new(value, v);
    }
    if (decode_props(d, props, dense ? PROPS_DENSE : PROPS_SPARSE, len, value) < 0)
        goto fail;
    if (!dense)
        json_object_set_new(arr, "sparse", json_true());
    if (json_object_size(props) > 0)
        json_object_set(arr, "props", props);
    json_decref(props);
    return arr;
fail:
    json_decref(props);
    json_decref(arr);
    return NULL;
}

static json_t *decode_collection(dec_t *d, bool is_map)
{
    uint64_t n;
    if (get_count(d, is_map ? 2 : 1, &n) < 0)
        return NULL;
    size_t id;
    json_t *obj = reserve(d, is_map ? "Map" : "Set", &id);
    json_t *value = json_array();
    json_object_set_new(obj, "value", value);
    for (uint64_t i = 0; i < n; i++) {
        json_t *k = decode_value(d);
        if (!k)
            goto fail;
        if (!is_map) {
            json_array_append_new(value, k);
            continue;
        }
        json_t *v = decode_value(d);
        if (!v) {
            json_decref(k);
            goto fail;
        }
        json_array_append_new(value, json_pack("[oo]", k, v));
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static json_t *decode_view(dec_t *d)
{
    uint8_t kind = 0;
    if (get_u8(d, &kind) < 0)
        return NULL;
    if (kind >= 12)
        return fail(d, "unknown view kind");
    size_t id;
    json_t *view = reserve(d, view_names[kind], &id);
    d->building[id] = true;
    if (d->p >= d->end || (*d->p != 'B' && *d->p != 'r')) {
        json_decref(view);
        return fail(d, "view without an ArrayBuffer");
    }
    /* Which buffer it is: a new one takes the next id, a reference names one. */
    size_t buf_id = *d->p == 'B' ? d->nobjs : SIZE_MAX;
    if (*d->p == 'r') {
        const uint8_t *save = d->p++;
        uint64_t u;
        if (get_varint(d, &u) < 0) {
            json_decref(view);
            return NULL;
        }
        buf_id = u < d->nobjs ? (size_t)u : SIZE_MAX;
        d->p = save;
    }
    json_t *buffer = decode_value(d);
    if (!buffer) {
        json_decref(view);
        return NULL;
    }
    json_object_set_new(view, "buffer", buffer);
    uint64_t off, len;
    size_t size = buf_id < d->nobjs ? d->sizes[buf_id] : SIZE_MAX;
    unsigned esize = view_sizes[kind];
    if (size == SIZE_MAX) {
        json_decref(view);
        return fail(d, "view of something that is not an ArrayBuffer");
    }
    if (get_varint(d, &off) < 0 || get_varint(d, &len) < 0) {
        json_decref(view);
        return NULL;
    }
    if (off > size || off % esize || len > (size - off) / esize) {
        json_decref(view);
        return fail(d, "view outside its ArrayBuffer");
    }
    json_object_set_new(view, "byteOffset", json_integer((json_int_t)off));
    json_object_set_new(view, "length", json_integer((json_int_t)len));
    d->building[id] = false;
    return view;
}

static json_t *decode_error(dec_t *d)
{
    uint8_t code = 0, flags = 0;
    if (get_u8(d, &code) < 0 || get_u8(d, &flags) < 0)
        return NULL;
    if (code >= 7 || flags >> 3)
        return fail(d, "unknown error name or flags");
    size_t id;
    json_t *e = reserve(d, "Error", &id);
    json_object_set_new(e, "name", json_string(error_names[code]));
    static const char *const fields[3] = {"message", "stack", "cause"};
    for (int i = 0; i < 3; i++) {
        if (!(flags & (1 << i)))
            continue;
        json_t *v = i < 2 ? get_string(d) : decode_value(d);
        if (!v) {
            json_decref(e);
            return NULL;
        }
        json_object_set_new(e, fields[i], v);
    }
    return e;
}

static json_t *decode_boxed(dec_t *d)
{
    size_t id;
    json_t *b = reserve(d, "boxed", &id);
    if (d->p >= d->end || !memchr("idzstf", *d->p, 6)) {
        json_decref(b);
        return fail(d, "boxed value that is not a number, string, boolean or BigInt");
    }
    json_t *v = decode_value(d);
    if (!v) {
        json_decref(b);
        return NULL;
    }
    json_object_set_new(b, "value", v);
    return b;
}

static json_t *decode_object(dec_t *d, uint8_t tag)
{
    size_t id;
    switch (tag) {
    case 'o': {
        json_t *obj = reserve(d, "object", &id);
        json_t *value = json_object();
        json_object_set_new(obj, "value", value);
        if (decode_props(d, value, PROPS_OBJECT, 0, NULL) == 0)
            return obj;
        json_decref(obj);
        return NULL;
    }
    case 'a':
    case 'A':
        return decode_array(d, tag == 'a');
    case 'M':
    case 'S':
        return decode_collection(d, tag == 'M');
    case 'V':
        return decode_view(d);
    case 'E':
        return decode_error(d);
    case 'P':
        return decode_boxed(d);
    case 'D': {
        double t;
        if (get_double(d, &t) < 0)
            return NULL;
        if (!isnan(t) && (t != trunc(t) || fabs(t) > MAX_TIME || (t == 0 && signbit(t))))
            return fail(d, "time value out of range");
        json_t *j = reserve(d, "Date", &id);
        json_object_set_new(j, "value", isnan(t) ? json_null() : date_string(t));
        return j;
    }
    case 'R': {
        json_t *j = reserve(d, "RegExp", &id);
        json_t *src = get_string(d), *flags = src ? get_string(d) : NULL;
        if (!flags) {
            json_decref(src);
            json_decref(j);
            return NULL;
        }
        /* The pattern's syntax is QuickJS's to judge; the flags are ours. */
        const char *f = json_is_string(flags) ? json_string_value(flags) : "";
        for (const char *c = f; *c; c++)
            if (!strchr("dgimsuvy", *c) || strchr(c + 1, *c) ||
                (*c == 'u' && strchr(f, 'v'))) {
                json_decref(src);
                json_decref(flags);
                json_decref(j);
                return fail(d, "invalid regular expression flags");
            }
        json_object_set_new(j, "source", src);
        json_object_set_new(j, "flags", flags);
        return j;
    }
    default: { /* 'B' */
        uint64_t n;
        if (get_count(d, 1, &n) < 0)
            return NULL;
        json_t *j = reserve(d, "ArrayBuffer", &id);
        d->sizes[id] = (size_t)n;
        buf_t b64 = BUF_INIT;
        util_base64(d->p, (size_t)n, &b64);
        d->p += n;
        json_object_set_new(j, "byteLength", json_integer((json_int_t)n));
        json_object_set_new(j, "base64", json_stringn(b64.data ? (char *)b64.data : "", b64.len));
        buf_deinit(&b64);
        return j;
    }
    }
}

static json_t *decode_primitive(dec_t *d, uint8_t tag)
{
    uint64_t u;
    double x;
    switch (tag) {
    case 'u':
        return tagged("undefined");
    case 'n':
        return json_null();
    case 'f':
        return json_false();
    case 't':
        return json_true();
    case 'i':
        if (get_varint(d, &u) < 0)
            return NULL;
        if ((u >> 1) > (uint64_t)MAX_SAFE_INT - (u & 1))
            return fail(d, "integer beyond 2^53");
        return json_integer(u & 1 ? -(json_int_t)(u >> 1) - 1 : (json_int_t)(u >> 1));
    case 'd':
        if (get_double(d, &x) < 0)
            return NULL;
        if (x == trunc(x) && fabs(x) <= MAX_SAFE_INT && !(x == 0 && signbit(x)))
            return fail(d, "integer stored as a double");
        return number_json(x);
    case 'z':
        return decode_bigint(d);
    case 's':
        return get_string(d);
    case 'r':
        if (get_varint(d, &u) < 0)
            return NULL;
        if (u >= d->nobjs || d->building[u])
            return fail(d, "reference to an object not yet decoded");
        /* The object it points to says which id it has. */
        json_object_set_new(d->objs[u], "id", json_integer((json_int_t)u));
        return json_pack("{s:s,s:I}", "type", "ref", "id", (json_int_t)u);
    default:
        d->p--;
        return fail(d, "unknown tag");
    }
}

static json_t *decode_value(dec_t *d)
{
    if (d->p >= d->end)
        return fail(d, "unexpected end");
    uint8_t tag = *d->p++;
    if (!memchr(object_tags, tag, sizeof object_tags - 1))
        return decode_primitive(d, tag);
    if (d->depth >= MAX_DEPTH)
        return fail(d, "values nested too deep");
    d->depth++;
    json_t *v = decode_object(d, tag);
    d->depth--;
    return v;
}

json_t *value_json_decode(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    dec_t d = {.start = p, .p = p, .end = p + len, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    if (len == 0)
        return fail(&d, "no bytes");
    if (p[0] != VERSION)
        return fail(&d, "unknown format version");
    d.p++;
    json_t *v = decode_value(&d);
    if (v && d.p != d.end) {
        json_decref(v);
        v = fail(&d, "trailing bytes");
    }
    free(d.objs);
    free(d.sizes);
    free(d.building);
    return v;
}
