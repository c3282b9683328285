/* CompressionStream and DecompressionStream's engine (natives.h): zlib in
 * its three framings (gzip, deflate, deflate-raw), one z_stream per stream
 * object, freed by its finalizer. Input is untrusted on decompression:
 * corrupt data is an error, never a crash, and output grows only as far as
 * the data says. Depends on zlib and quickjs.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "natives.h"
#include "web_zlib.h"

static JSValue bytes_out(JSContext *ctx, const buf_t *b)
{
    JSValue ab = JS_NewArrayBufferCopy(ctx, b->len ? b->data : (const uint8_t *)"", b->len);
    if (JS_IsException(ab))
        return ab;
    JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)b->len)};
    JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
    JS_FreeValue(ctx, ab);
    return u8;
}

struct api_zs {
    z_stream z;
    bool compress;
    bool done; /* the end of a compressed stream was seen, or the stream was finished */
};

api_zs_t *api_zs_new(const char *format, bool compress)
{
    int bits = strcmp(format, "gzip") == 0          ? 15 + 16
               : strcmp(format, "deflate") == 0     ? 15
               : strcmp(format, "deflate-raw") == 0 ? -15
                                                    : 0;
    if (bits == 0)
        return NULL;
    api_zs_t *s = xcalloc(1, sizeof *s);
    s->compress = compress;
    int rc = compress ? deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, bits, 8,
                                     Z_DEFAULT_STRATEGY)
                      : inflateInit2(&s->z, bits);
    if (rc != Z_OK) {
        fprintf(stderr, "dorm: zlib could not start (out of memory)\n");
        abort();
    }
    return s;
}

void api_zs_free(api_zs_t *s)
{
    if (!s)
        return;
    if (s->compress)
        deflateEnd(&s->z);
    else
        inflateEnd(&s->z);
    free(s);
}

int api_zs_push(api_zs_t *s, const uint8_t *in, size_t len, bool finish, buf_t *out,
                const char **err)
{
    static const char trailing[] = "there is data after the end of the compressed stream";
    if (s->done) {
        if (!s->compress && len > 0) {
            *err = trailing;
            return -1;
        }
        return 0;
    }
    s->z.next_in = (Bytef *)(len ? in : (const uint8_t *)"");
    s->z.avail_in = (uInt)len;
    for (;;) {
        uint8_t chunk[16384];
        s->z.next_out = chunk;
        s->z.avail_out = sizeof chunk;
        int rc = s->compress ? deflate(&s->z, finish ? Z_FINISH : Z_NO_FLUSH)
                             : inflate(&s->z, Z_NO_FLUSH);
        size_t produced = sizeof chunk - s->z.avail_out;
        buf_append(out, chunk, produced);
        if (rc == Z_STREAM_END) {
            s->done = true;
            if (!s->compress && s->z.avail_in > 0) {
                *err = trailing;
                return -1;
            }
            break;
        }
        if (rc == Z_BUF_ERROR)
            break; /* no progress without more input */
        if (rc != Z_OK) {
            *err = "the data is not valid compressed data in this format";
            return -1;
        }
        if (s->z.avail_in == 0 && produced < sizeof chunk && !(s->compress && finish))
            break;
    }
    if (finish && !s->done) {
        *err = "the compressed data ends before its end";
        return -1;
    }
    if (finish)
        s->done = true;
    return 0;
}

static JSClassID zs_class_id;
static pthread_once_t zs_once = PTHREAD_ONCE_INIT;

static void zs_once_init(void)
{
    JS_NewClassID(&zs_class_id);
}

static void zs_finalizer(JSRuntime *rt, JSValue val)
{
    api_zs_free(JS_GetOpaque(val, zs_class_id));
}

static JSClassDef zs_class = {"ZlibStream", .finalizer = zs_finalizer};

/* native.zNew(format, compress) -> handle; format "gzip", "deflate" or "deflate-raw". */
static JSValue z_new(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *format = JS_ToCString(ctx, argv[0]);
    if (!format)
        return JS_EXCEPTION;
    api_zs_t *s = api_zs_new(format, JS_ToBool(ctx, argv[1]));
    JS_FreeCString(ctx, format);
    if (!s)
        return JS_ThrowTypeError(ctx, "the compression format must be \"gzip\", \"deflate\" or "
                                      "\"deflate-raw\"");
    JSValue o = JS_NewObjectClass(ctx, (int)zs_class_id);
    if (JS_IsException(o)) {
        api_zs_free(s);
        return o;
    }
    JS_SetOpaque(o, s);
    return o;
}

/* native.zPush(handle, bytes|null) -> Uint8Array of output; null ends the
 * input. Corrupt, truncated or overlong input is a TypeError. */
static JSValue z_push(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_zs_t *s = JS_GetOpaque(argv[0], zs_class_id);
    if (!s)
        return JS_ThrowTypeError(ctx, "not a compression stream");
    bool finish = JS_IsNull(argv[1]) || JS_IsUndefined(argv[1]);
    const uint8_t *in = NULL;
    size_t len = 0;
    if (!finish) {
        size_t off = 0, n = 0, bpe = 0, size = 0;
        JSValue ab = JS_GetTypedArrayBuffer(ctx, argv[1], &off, &n, &bpe);
        if (JS_IsException(ab))
            return ab;
        uint8_t *base = JS_GetArrayBuffer(ctx, &size, ab);
        JS_FreeValue(ctx, ab);
        if (!base && JS_HasException(ctx))
            return JS_EXCEPTION;
        if (base) {
            in = base + off;
            len = n;
        }
    }
    buf_t out = BUF_INIT;
    const char *err = NULL;
    if (api_zs_push(s, in, len, finish, &out, &err) < 0) {
        buf_deinit(&out);
        return JS_ThrowTypeError(ctx, "%s: %s", s->compress ? "CompressionStream" : "DecompressionStream",
                                 err);
    }
    JSValue r = bytes_out(ctx, &out);
    buf_deinit(&out);
    return r;
}

static const JSCFunctionListEntry z_funcs[] = {
    JS_CFUNC_DEF("zNew", 2, z_new),
    JS_CFUNC_DEF("zPush", 2, z_push),
};

void api_zlib_natives(JSContext *ctx, JSValueConst native)
{
    pthread_once(&zs_once, zs_once_init);
    JSRuntime *rt = JS_GetRuntime(ctx);
    if (!JS_IsRegisteredClass(rt, zs_class_id))
        JS_NewClass(rt, zs_class_id, &zs_class);
    JS_SetPropertyFunctionList(ctx, native, z_funcs, (int)(sizeof z_funcs / sizeof z_funcs[0]));
}
