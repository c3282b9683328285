/* Byte helpers of the Web prelude (natives.h): moving an ArrayBuffer's
 * contents as the Streams standard's "transfer" does, telling a detached
 * buffer, and multipart/form-data parsing for formData(). Depends on
 * quickjs.h and multipart.c; never on libuv or the actor layer. */
#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"
#include "multipart.h"
#include "natives.h"

/* native.transferBuffer(ab) -> a new ArrayBuffer with ab's bytes; ab is detached. */
static JSValue bytes_transfer(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    uint8_t *p = JS_GetArrayBuffer(ctx, &len, argv[0]);
    if (!p)
        return JS_EXCEPTION;
    JSValue out = JS_NewArrayBufferCopy(ctx, p, len);
    if (JS_IsException(out))
        return out;
    JS_DetachArrayBuffer(ctx, argv[0]);
    return out;
}

/* native.isDetached(ab) -> boolean */
static JSValue bytes_is_detached(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    uint8_t *p = JS_GetArrayBuffer(ctx, &len, argv[0]);
    if (!p && JS_HasException(ctx)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return JS_TRUE;
    }
    return JS_FALSE;
}

static JSValue u8_copy(JSContext *ctx, const uint8_t *p, size_t len)
{
    JSValue ab = JS_NewArrayBufferCopy(ctx, len ? p : (const uint8_t *)"", len);
    if (JS_IsException(ab))
        return ab;
    JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
    JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
    JS_FreeValue(ctx, ab);
    return u8;
}

static JSValue u8_unquoted(JSContext *ctx, const uint8_t *p, size_t len, bool quoted)
{
    if (!quoted || !memchr(p, '\\', len))
        return u8_copy(ctx, p, len);
    uint8_t *tmp = xmalloc(len + 1);
    size_t n = multipart_unquote(p, len, tmp);
    JSValue v = u8_copy(ctx, tmp, n);
    free(tmp);
    return v;
}

typedef struct mp_ctx {
    JSContext *ctx;
    JSValue arr;
    uint32_t n;
} mp_ctx_t;

static int mp_part(void *arg, const multipart_part_t *part)
{
    mp_ctx_t *m = arg;
    JSContext *ctx = m->ctx;
    JSValue v[4];
    v[0] = u8_unquoted(ctx, part->name, part->name_len, part->name_quoted);
    v[1] = part->has_filename ? u8_unquoted(ctx, part->filename, part->filename_len, part->filename_quoted)
                              : JS_NULL;
    v[2] = part->type ? u8_copy(ctx, part->type, part->type_len) : JS_NULL;
    v[3] = u8_copy(ctx, part->data, part->data_len);
    JSValue item = JS_NewArray(ctx);
    int rc = JS_IsException(item) ? -2 : 0;
    for (uint32_t i = 0; i < 4; i++) {
        if (rc == 0 && !JS_IsException(v[i])) {
            /* Defining consumes v[i], even when it fails. */
            if (JS_DefinePropertyValueUint32(ctx, item, i, v[i], JS_PROP_C_W_E) < 0)
                rc = -2;
        } else {
            rc = -2;
            JS_FreeValue(ctx, v[i]); /* a no-op for JS_EXCEPTION and JS_NULL */
        }
    }
    if (rc != 0) {
        JS_FreeValue(ctx, item);
        return -2;
    }
    if (JS_DefinePropertyValueUint32(ctx, m->arr, m->n++, item, JS_PROP_C_W_E) < 0)
        return -2;
    return 0;
}

/* native.parseMultipart(bytes, boundary) -> [[name, filename|null, type|null, data], ...]
 * (each a Uint8Array), or a TypeError saying what is malformed. */
static JSValue bytes_parse_multipart(JSContext *ctx, JSValueConst this_val, int argc,
                                     JSValueConst *argv)
{
    size_t off = 0, len = 0, bpe = 0, size = 0;
    JSValue ab = JS_GetTypedArrayBuffer(ctx, argv[0], &off, &len, &bpe);
    if (JS_IsException(ab))
        return ab;
    uint8_t *base = JS_GetArrayBuffer(ctx, &size, ab);
    JS_FreeValue(ctx, ab);
    if (!base)
        return JS_EXCEPTION;
    size_t blen;
    const char *boundary = JS_ToCStringLen(ctx, &blen, argv[1]);
    if (!boundary)
        return JS_EXCEPTION;
    mp_ctx_t m = {ctx, JS_NewArray(ctx), 0};
    char err[200];
    int rc = JS_IsException(m.arr) ? -2
                                   : multipart_parse(base + off, len, boundary, blen, mp_part, &m,
                                                     err, sizeof err);
    JS_FreeCString(ctx, boundary);
    if (rc == 0)
        return m.arr;
    JS_FreeValue(ctx, m.arr);
    if (rc == -2)
        return JS_EXCEPTION;
    return JS_ThrowTypeError(ctx, "formData(): %s.", err);
}

static const JSCFunctionListEntry bytes_funcs[] = {
    JS_CFUNC_DEF("transferBuffer", 1, bytes_transfer),
    JS_CFUNC_DEF("isDetached", 1, bytes_is_detached),
    JS_CFUNC_DEF("parseMultipart", 2, bytes_parse_multipart),
};

void api_bytes_natives(JSContext *ctx, JSValueConst native)
{
    JS_SetPropertyFunctionList(ctx, native, bytes_funcs,
                               (int)(sizeof bytes_funcs / sizeof bytes_funcs[0]));
}
