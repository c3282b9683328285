/* The Web platform classes see (web.h). Loads the prelude compiled from
 * the files in src/api/web/, hands it the few native helpers that need C (UTF-8,
 * randomness, clocks, the log sink, structured clone), and converts requests
 * and responses between http.h types and JS objects.
 * Depends on lib/, net/http.h's types and helpers, js/codec.h and QuickJS; never on libuv or the actor layer. */
#include "web.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "../js/codec.h"
#include "../lib/buf.h"
#include "../lib/mem.h"
#include "natives.h"

/* The prelude as bytecode, generated at build time by tools/jsc. */
extern const uint8_t web_prelude_bc[];
extern const size_t web_prelude_bc_len;

struct web {
    JSValue native;        /* the object given to the prelude; its opaque is this */
    JSValue make_request;  /* internal.makeRequest */
    JSValue read_response; /* internal.readResponse */
    web_log_fn log;
    void *log_opaque;
    uint64_t origin_ns;    /* CLOCK_MONOTONIC at web_new: performance.now()'s zero */
    double time_origin_ms; /* the same instant in Unix time, for performance.timeOrigin */
};

static JSClassID web_native_class_id;
static pthread_once_t web_class_once = PTHREAD_ONCE_INIT;

static void web_class_id_init(void)
{
    JS_NewClassID(&web_native_class_id);
}

static uint64_t web_clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ bytes */

int web_get_bytes(JSContext *ctx, JSValueConst v, uint8_t **p, size_t *len)
{
    size_t off = 0, n = 0, size = 0, bpe = 0;
    JSValue ab = JS_GetTypedArrayBuffer(ctx, v, &off, &n, &bpe);
    if (JS_IsException(ab)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        uint8_t *q = JS_GetArrayBuffer(ctx, &size, v);
        if (!q && JS_HasException(ctx))
            return -1;
        *p = q;
        *len = size;
        return 0;
    }
    uint8_t *base = JS_GetArrayBuffer(ctx, &size, ab);
    JS_FreeValue(ctx, ab);
    if (!base) {
        if (JS_HasException(ctx))
            return -1;
        *p = NULL; /* a detached buffer reads as empty */
        *len = 0;
        return 0;
    }
    *p = base + off;
    *len = n;
    return 0;
}

static JSValue web_new_uint8array(JSContext *ctx, const uint8_t *p, size_t len)
{
    JSValue ab = JS_NewArrayBufferCopy(ctx, p, len);
    if (JS_IsException(ab))
        return ab;
    /* All three arguments: QuickJS reads the offset and length slots even when argc is 1. */
    JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
    JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
    JS_FreeValue(ctx, ab);
    return u8;
}

/* QuickJS writes a lone surrogate as its three-byte (WTF-8) form ED A0..BF xx;
 * TextEncoder writes U+FFFD (EF BF BD) instead, which has the same length. */
static void web_fix_lone_surrogates(uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (p[i] == 0xED && p[i + 1] >= 0xA0) {
            p[i] = 0xEF;
            p[i + 1] = 0xBF;
            p[i + 2] = 0xBD;
            i += 2;
        }
    }
}

int web_string_to_utf8(JSContext *ctx, JSValueConst v, buf_t *out)
{
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, v);
    if (!s)
        return -1;
    size_t at = out->len;
    buf_append(out, s, len);
    JS_FreeCString(ctx, s);
    web_fix_lone_surrogates(out->data + at, len);
    return 0;
}

/* The WHATWG UTF-8 decoder's state for one sequence. */
typedef struct utf8_state {
    uint32_t cp;
    int needed, seen;
    uint8_t lower, upper;
} utf8_state_t;

enum { UTF8_MORE = -1, UTF8_ERROR = -2, UTF8_ERROR_AGAIN = -3 };

/* Feeds one byte. Returns a code point, UTF8_MORE, UTF8_ERROR, or
 * UTF8_ERROR_AGAIN (an error, and the byte must be fed again). */
static int32_t utf8_step(utf8_state_t *st, uint8_t b)
{
    if (st->needed == 0) {
        st->lower = 0x80;
        st->upper = 0xBF;
        if (b < 0x80)
            return b;
        if (b >= 0xC2 && b <= 0xDF) {
            st->needed = 1;
            st->cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            if (b == 0xE0)
                st->lower = 0xA0;
            if (b == 0xED)
                st->upper = 0x9F;
            st->needed = 2;
            st->cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            if (b == 0xF0)
                st->lower = 0x90;
            if (b == 0xF4)
                st->upper = 0x8F;
            st->needed = 3;
            st->cp = b & 0x07;
        } else {
            return UTF8_ERROR;
        }
        st->seen = 0;
        return UTF8_MORE;
    }
    if (b < st->lower || b > st->upper) {
        st->needed = 0;
        return UTF8_ERROR_AGAIN;
    }
    st->lower = 0x80;
    st->upper = 0xBF;
    st->cp = (st->cp << 6) | (b & 0x3F);
    if (++st->seen < st->needed)
        return UTF8_MORE;
    st->needed = 0;
    return (int32_t)st->cp;
}

static void utf8_put(buf_t *b, uint32_t cp)
{
    uint8_t s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (uint8_t)(0xC0 | (cp >> 6));
        s[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (uint8_t)(0xE0 | (cp >> 12));
        s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        s[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        s[0] = (uint8_t)(0xF0 | (cp >> 18));
        s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        s[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, s, n);
}

/* Decodes p as UTF-8 the way the WHATWG decoder does. Valid input is passed
 * to QuickJS as is; otherwise each error becomes U+FFFD, or, when fatal, a
 * TypeError. */
static JSValue web_utf8_decode(JSContext *ctx, const uint8_t *p, size_t len, bool fatal)
{
    utf8_state_t st = {0};
    size_t i = 0;
    for (; i < len; i++) {
        if (p[i] < 0x80 && st.needed == 0)
            continue;
        if (utf8_step(&st, p[i]) < UTF8_MORE)
            break;
    }
    if (i == len && st.needed == 0)
        return JS_NewStringLen(ctx, (const char *)p, len);
    if (fatal)
        return JS_ThrowTypeError(ctx, "The encoded data was not valid UTF-8.");

    buf_t out = BUF_INIT;
    buf_reserve(&out, len + 16);
    memset(&st, 0, sizeof st);
    for (i = 0; i < len; i++) {
        int32_t r = utf8_step(&st, p[i]);
        if (r >= 0) {
            utf8_put(&out, (uint32_t)r);
        } else if (r == UTF8_ERROR) {
            utf8_put(&out, 0xFFFD);
        } else if (r == UTF8_ERROR_AGAIN) {
            utf8_put(&out, 0xFFFD);
            i--;
        }
    }
    if (st.needed != 0)
        utf8_put(&out, 0xFFFD);
    JSValue s = JS_NewStringLen(ctx, (const char *)out.data, out.len);
    buf_deinit(&out);
    return s;
}

/* How many bytes at the end of p start a sequence that is valid so far but
 * not finished: TextDecoder holds them back when streaming. Cutting before
 * the last byte that is not a continuation byte is safe, because the decoder
 * is always at the start of a sequence after such a byte. */
static size_t web_utf8_tail(const uint8_t *p, size_t len)
{
    size_t start = len;
    while (start > 0 && len - start < 4) {
        start--;
        if ((p[start] & 0xC0) != 0x80)
            break;
    }
    if (start == len || p[start] < 0x80 || (p[start] & 0xC0) == 0x80)
        return 0;
    utf8_state_t st = {0};
    for (size_t i = start; i < len; i++) {
        if (utf8_step(&st, p[i]) != UTF8_MORE)
            return 0;
    }
    return st.needed != 0 ? len - start : 0;
}

/* Latin-1 text (one char per byte, as HTTP header bytes map to a JS
 * ByteString) to a JS string. */
static JSValue web_new_latin1(JSContext *ctx, const char *s, size_t len)
{
    size_t high = 0;
    for (size_t i = 0; i < len; i++)
        high += (unsigned char)s[i] >> 7;
    if (high == 0)
        return JS_NewStringLen(ctx, s, len);
    char *u = xmalloc(len + high);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            u[j++] = (char)c;
        } else {
            u[j++] = (char)(0xC0 | (c >> 6));
            u[j++] = (char)(0x80 | (c & 0x3F));
        }
    }
    JSValue v = JS_NewStringLen(ctx, u, j);
    free(u);
    return v;
}

/* A JS ByteString back to its bytes: QuickJS gives each char up to U+00FF
 * as one or two UTF-8 bytes. Wider chars (the prelude rejects them in
 * header values) become '?'. The result is malloc'd and NUL-terminated. */
static char *web_to_latin1(JSContext *ctx, JSValueConst v, size_t *out_len)
{
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, v);
    if (!s)
        return NULL;
    char *r = xmalloc(len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            r[j++] = (char)c;
            i++;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < len) {
            uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3F);
            r[j++] = cp <= 0xFF ? (char)cp : '?';
            i += 2;
        } else {
            size_t n = (c & 0xF0) == 0xE0 ? 3 : 4;
            r[j++] = '?';
            i += n < len - i ? n : len - i;
        }
    }
    r[j] = '\0';
    JS_FreeCString(ctx, s);
    *out_len = j;
    return r;
}

/* --------------------------------------------------------- native helpers */

static web_t *web_from_this(JSContext *ctx, JSValueConst this_val)
{
    web_t *w = JS_GetOpaque(this_val, web_native_class_id);
    if (!w)
        JS_ThrowTypeError(ctx, "web: native helper called without its object");
    return w;
}

/* native.encode(string) -> Uint8Array */
static JSValue web_native_encode(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!s)
        return JS_EXCEPTION;
    JSValue u8 = web_new_uint8array(ctx, (const uint8_t *)s, len);
    JS_FreeCString(ctx, s);
    if (JS_IsException(u8))
        return u8;
    uint8_t *p;
    size_t n;
    if (web_get_bytes(ctx, u8, &p, &n) < 0) {
        JS_FreeValue(ctx, u8);
        return JS_EXCEPTION;
    }
    web_fix_lone_surrogates(p, n);
    return u8;
}

/* native.encodeInto(string, Uint8Array) -> {read, written} */
static JSValue web_native_encode_into(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    buf_t b = BUF_INIT;
    if (web_string_to_utf8(ctx, argv[0], &b) < 0)
        return JS_EXCEPTION;
    uint8_t *dst;
    size_t cap;
    if (web_get_bytes(ctx, argv[1], &dst, &cap) < 0) {
        buf_deinit(&b);
        return JS_EXCEPTION;
    }
    size_t i = 0;
    uint32_t read = 0;
    while (i < b.len) {
        uint8_t c = b.data[i];
        size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + n > cap)
            break;
        memcpy(dst + i, b.data + i, n);
        i += n;
        read += n == 4 ? 2 : 1;
    }
    buf_deinit(&b);
    JSValue r = JS_NewObject(ctx);
    if (JS_IsException(r))
        return r;
    JS_DefinePropertyValueStr(ctx, r, "read", JS_NewUint32(ctx, read), JS_PROP_C_W_E);
    JS_DefinePropertyValueStr(ctx, r, "written", JS_NewInt64(ctx, (int64_t)i), JS_PROP_C_W_E);
    return r;
}

/* native.decode(bytes, fatal) -> string */
static JSValue web_native_decode(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint8_t *p;
    size_t len;
    if (web_get_bytes(ctx, argv[0], &p, &len) < 0)
        return JS_EXCEPTION;
    int fatal = JS_ToBool(ctx, argv[1]);
    if (fatal < 0)
        return JS_EXCEPTION;
    return web_utf8_decode(ctx, p, len, fatal);
}

/* native.utf8Tail(bytes) -> number of bytes to hold back */
static JSValue web_native_utf8_tail(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint8_t *p;
    size_t len;
    if (web_get_bytes(ctx, argv[0], &p, &len) < 0)
        return JS_EXCEPTION;
    return JS_NewInt32(ctx, (int32_t)web_utf8_tail(p, len));
}

/* native.randomFill(typedArray): cryptographically strong bytes. */
static JSValue web_native_random_fill(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint8_t *p;
    size_t len;
    if (web_get_bytes(ctx, argv[0], &p, &len) < 0)
        return JS_EXCEPTION;
    if (len > 0 && RAND_bytes(p, (int)len) != 1)
        return JS_ThrowInternalError(ctx, "crypto: the system's random number generator failed");
    return JS_UNDEFINED;
}

/* native.now() -> milliseconds since web_new, with sub-millisecond precision */
static JSValue web_native_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    web_t *w = web_from_this(ctx, this_val);
    if (!w)
        return JS_EXCEPTION;
    return JS_NewFloat64(ctx, (double)(web_clock_ns(CLOCK_MONOTONIC) - w->origin_ns) / 1e6);
}

/* native.clone(value) -> structuredClone(value) */
static JSValue web_native_clone(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return codec_clone(ctx, argv[0]);
}

/* native.log(level, line) */
static JSValue web_native_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    web_t *w = web_from_this(ctx, this_val);
    if (!w)
        return JS_EXCEPTION;
    int32_t level;
    if (JS_ToInt32(ctx, &level, argv[0]) < 0)
        return JS_EXCEPTION;
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, argv[1]);
    if (!s)
        return JS_EXCEPTION;
    if (w->log)
        w->log(w->log_opaque, level < 0 ? 0 : level > 3 ? 3 : level, s, len);
    JS_FreeCString(ctx, s);
    return JS_UNDEFINED;
}

/* native.promiseState(value) -> -1 (not a promise), 0 pending, 1 fulfilled, 2 rejected */
static JSValue web_native_promise_state(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    if (!JS_IsObject(argv[0]))
        return JS_NewInt32(ctx, -1);
    return JS_NewInt32(ctx, (int32_t)JS_PromiseState(ctx, argv[0]));
}

/* native.promiseResult(promise) -> its value or reason */
static JSValue web_native_promise_result(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return JS_PromiseResult(ctx, argv[0]);
}

static const JSCFunctionListEntry web_native_funcs[] = {
    JS_CFUNC_DEF("encode", 1, web_native_encode),
    JS_CFUNC_DEF("encodeInto", 2, web_native_encode_into),
    JS_CFUNC_DEF("decode", 2, web_native_decode),
    JS_CFUNC_DEF("utf8Tail", 1, web_native_utf8_tail),
    JS_CFUNC_DEF("randomFill", 1, web_native_random_fill),
    JS_CFUNC_DEF("now", 0, web_native_now),
    JS_CFUNC_DEF("clone", 1, web_native_clone),
    JS_CFUNC_DEF("log", 2, web_native_log),
    JS_CFUNC_DEF("promiseState", 1, web_native_promise_state),
    JS_CFUNC_DEF("promiseResult", 1, web_native_promise_result),
};

/* ------------------------------------------------------------- lifecycle */

web_t *web_new(JSContext *ctx, web_log_fn log, void *log_opaque)
{
    JSRuntime *rt = JS_GetRuntime(ctx);
    pthread_once(&web_class_once, web_class_id_init);
    if (!JS_IsRegisteredClass(rt, web_native_class_id)) {
        JSClassDef def = {.class_name = "WebNative"};
        if (JS_NewClass(rt, web_native_class_id, &def) < 0)
            return NULL;
    }

    web_t *w = xcalloc(1, sizeof *w);
    w->native = JS_UNDEFINED;
    w->make_request = JS_UNDEFINED;
    w->read_response = JS_UNDEFINED;
    w->log = log;
    w->log_opaque = log_opaque;
    w->origin_ns = web_clock_ns(CLOCK_MONOTONIC);
    w->time_origin_ms = (double)web_clock_ns(CLOCK_REALTIME) / 1e6;

    JSValue fn = JS_UNDEFINED, internal = JS_UNDEFINED;
    JSValue obj = JS_ReadObject(ctx, web_prelude_bc, web_prelude_bc_len, JS_READ_OBJ_BYTECODE);
    if (JS_IsException(obj))
        goto fail;
    fn = JS_EvalFunction(ctx, obj); /* takes obj; the script's value is the function */
    if (JS_IsException(fn))
        goto fail;

    w->native = JS_NewObjectClass(ctx, (int)web_native_class_id);
    if (JS_IsException(w->native))
        goto fail;
    JS_SetOpaque(w->native, w);
    JS_SetPropertyFunctionList(ctx, w->native, web_native_funcs,
                               (int)(sizeof web_native_funcs / sizeof web_native_funcs[0]));
    JS_DefinePropertyValueStr(ctx, w->native, "timeOrigin", JS_NewFloat64(ctx, w->time_origin_ms), 0);
    api_bytes_natives(ctx, w->native);
    api_zlib_natives(ctx, w->native);
    api_fetch_natives(ctx, w->native);
    api_crypto_natives(ctx, w->native);

    internal = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&w->native);
    if (JS_IsException(internal))
        goto fail;
    w->make_request = JS_GetPropertyStr(ctx, internal, "makeRequest");
    w->read_response = JS_GetPropertyStr(ctx, internal, "readResponse");
    if (!JS_IsFunction(ctx, w->make_request) || !JS_IsFunction(ctx, w->read_response)) {
        JS_ThrowInternalError(ctx, "web: the prelude did not return its entry points");
        goto fail;
    }
    JS_FreeValue(ctx, internal);
    JS_FreeValue(ctx, fn);
    return w;

fail:
    JS_FreeValue(ctx, internal);
    JS_FreeValue(ctx, fn);
    web_free(w, ctx);
    return NULL;
}

void web_free(web_t *w, JSContext *ctx)
{
    if (!w)
        return;
    if (JS_IsObject(w->native))
        JS_SetOpaque(w->native, NULL);
    JS_FreeValue(ctx, w->native);
    JS_FreeValue(ctx, w->make_request);
    JS_FreeValue(ctx, w->read_response);
    free(w);
}

/* ---------------------------------------------------- requests, responses */

JSValue web_request_new(web_t *w, JSContext *ctx, const char *method, const char *url,
                        const http_header_t *headers, size_t nheaders,
                        const uint8_t *body, size_t body_len)
{
    JSValue args[4] = {JS_UNDEFINED, JS_UNDEFINED, JS_UNDEFINED, JS_NULL};
    JSValue ret = JS_EXCEPTION;
    args[0] = JS_NewString(ctx, method);
    if (JS_IsException(args[0]))
        goto fail;
    args[1] = JS_NewString(ctx, url);
    if (JS_IsException(args[1]))
        goto fail;
    args[2] = JS_NewArray(ctx);
    if (JS_IsException(args[2]))
        goto fail;
    for (size_t i = 0; i < nheaders; i++) {
        /* Names are lowercased here, where it costs nothing. */
        char small[128];
        size_t nlen = headers[i].name_len;
        char *lower = nlen <= sizeof small ? small : xmalloc(nlen);
        for (size_t k = 0; k < nlen; k++) {
            char ch = headers[i].name[k];
            lower[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        JSValue n = JS_NewStringLen(ctx, lower, nlen);
        if (lower != small)
            free(lower);
        if (JS_IsException(n) || JS_DefinePropertyValueUint32(ctx, args[2], (uint32_t)(2 * i), n, JS_PROP_C_W_E) < 0)
            goto fail;
        JSValue v = web_new_latin1(ctx, headers[i].value, headers[i].value_len);
        if (JS_IsException(v) || JS_DefinePropertyValueUint32(ctx, args[2], (uint32_t)(2 * i + 1), v, JS_PROP_C_W_E) < 0)
            goto fail;
    }
    if (body) {
        args[3] = web_new_uint8array(ctx, body, body_len);
        if (JS_IsException(args[3]))
            goto fail;
    }
    ret = JS_Call(ctx, w->make_request, JS_UNDEFINED, 4, (JSValueConst *)args);
fail:
    for (int i = 0; i < 4; i++)
        JS_FreeValue(ctx, args[i]);
    return ret;
}

int web_response_read(web_t *w, JSContext *ctx, JSValueConst value, http_response_t **out)
{
    JSValue pump = JS_UNDEFINED;
    if (web_response_take(w, ctx, value, out, &pump) < 0)
        return -1;
    if (JS_IsUndefined(pump))
        return 0;
    JS_FreeValue(ctx, pump);
    http_response_free(*out);
    *out = NULL;
    JS_ThrowTypeError(ctx, "this Response's body is a stream, which cannot be read here");
    return -1;
}

int web_response_take(web_t *w, JSContext *ctx, JSValueConst value, http_response_t **out,
                      JSValue *pump)
{
    http_response_t *res = NULL;
    *pump = JS_UNDEFINED;
    JSValue parts = JS_Call(ctx, w->read_response, JS_UNDEFINED, 1, &value);
    JSValue text = JS_UNDEFINED, hdrs = JS_UNDEFINED, body = JS_UNDEFINED;
    if (JS_IsException(parts))
        return -1;

    JSValue sv = JS_GetPropertyUint32(ctx, parts, 0);
    int32_t status = 0;
    if (JS_ToInt32(ctx, &status, sv) < 0) {
        JS_FreeValue(ctx, sv);
        goto fail;
    }
    JS_FreeValue(ctx, sv);
    res = http_response_new(status);

    text = JS_GetPropertyUint32(ctx, parts, 1);
    if (JS_IsString(text)) {
        size_t len;
        char *reason = web_to_latin1(ctx, text, &len);
        if (!reason)
            goto fail;
        if (len > 0)
            res->reason = reason;
        else
            free(reason);
    }

    hdrs = JS_GetPropertyUint32(ctx, parts, 2);
    int64_t n = 0;
    JSValue lv = JS_GetPropertyStr(ctx, hdrs, "length");
    if (JS_ToInt64(ctx, &n, lv) < 0) {
        JS_FreeValue(ctx, lv);
        goto fail;
    }
    JS_FreeValue(ctx, lv);
    for (int64_t i = 0; i + 1 < n; i += 2) {
        JSValue nv = JS_GetPropertyUint32(ctx, hdrs, (uint32_t)i);
        JSValue vv = JS_GetPropertyUint32(ctx, hdrs, (uint32_t)i + 1);
        size_t nlen = 0, vlen = 0;
        char *name = web_to_latin1(ctx, nv, &nlen);
        char *val = name ? web_to_latin1(ctx, vv, &vlen) : NULL;
        JS_FreeValue(ctx, nv);
        JS_FreeValue(ctx, vv);
        if (!val) {
            free(name);
            goto fail;
        }
        http_headers_addn(&res->headers, &res->nheaders, name, nlen, val, vlen);
        free(name);
        free(val);
    }

    body = JS_GetPropertyUint32(ctx, parts, 3);
    if (JS_IsString(body)) {
        if (web_string_to_utf8(ctx, body, &res->body) < 0)
            goto fail;
    } else if (JS_IsObject(body)) {
        uint8_t *p;
        size_t len;
        if (web_get_bytes(ctx, body, &p, &len) < 0)
            goto fail;
        if (len > 0)
            buf_append(&res->body, p, len);
    }

    /* A streamed body comes as a pump over the stream (streamPump in the prelude). */
    JSValue pv = JS_GetPropertyUint32(ctx, parts, 4);
    if (JS_IsObject(pv))
        *pump = pv;
    else
        JS_FreeValue(ctx, pv);

    JS_FreeValue(ctx, body);
    JS_FreeValue(ctx, hdrs);
    JS_FreeValue(ctx, text);
    JS_FreeValue(ctx, parts);
    *out = res;
    return 0;

fail:
    if (res)
        http_response_free(res);
    JS_FreeValue(ctx, body);
    JS_FreeValue(ctx, hdrs);
    JS_FreeValue(ctx, text);
    JS_FreeValue(ctx, parts);
    return -1;
}

/* ----------------------------------------------------------------- errors */

/* A property as a malloc'd C string, or NULL when it is missing, not a
 * string, or throws (the exception is dropped: formatting must not fail). */
static char *web_prop_string(JSContext *ctx, JSValueConst obj, const char *name)
{
    JSValue v = JS_GetPropertyStr(ctx, obj, name);
    if (JS_IsException(v)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return NULL;
    }
    char *r = NULL;
    if (JS_IsString(v)) {
        const char *s = JS_ToCString(ctx, v);
        if (s) {
            r = xstrdup(s);
            JS_FreeCString(ctx, s);
        }
    }
    JS_FreeValue(ctx, v);
    return r;
}

char *web_format_error(JSContext *ctx, JSValueConst exc)
{
    if (JS_IsObject(exc)) {
        char *stack = web_prop_string(ctx, exc, "stack");
        if (stack) {
            char *name = web_prop_string(ctx, exc, "name");
            char *message = web_prop_string(ctx, exc, "message");
            buf_t b = BUF_INIT;
            buf_puts(&b, name ? name : "Error");
            if (message && *message)
                buf_printf(&b, ": %s", message);
            size_t slen = strlen(stack);
            while (slen > 0 && stack[slen - 1] == '\n')
                stack[--slen] = '\0';
            /* V8-style stacks already start with the head line; QuickJS's hold only frames. */
            if (slen > 0 && strncmp(stack, (const char *)b.data, b.len) == 0) {
                buf_reset(&b);
                buf_append(&b, stack, slen);
            } else if (slen > 0) {
                buf_putc(&b, '\n');
                buf_append(&b, stack, slen);
            }
            free(stack);
            free(name);
            free(message);
            size_t len;
            return (char *)buf_steal(&b, &len);
        }
    }
    const char *s = JS_ToCString(ctx, exc);
    if (!s) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return xstrdup("(an exception that cannot be printed)");
    }
    char *r = xstrdup(s);
    JS_FreeCString(ctx, s);
    return r;
}
