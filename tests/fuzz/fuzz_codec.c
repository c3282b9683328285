/* libFuzzer target for the storage value decoder (src/js/codec.c). Any input
 * must decode or fail cleanly; whatever decodes must encode again, and that
 * encoding must decode and re-encode to the same bytes. Each input runs
 * twice, and the second run must not leave more live JS objects behind than
 * the first: a leaked reference shows up here rather than only at exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js/codec.h"

static JSRuntime *rt;
static JSContext *ctx;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_codec: %s\n", what);
    abort();
}

/* Encoding a decoded value may only fail by the depth limit: a value can
 * decode within the limit and still nest deeper once re-encoded, because
 * decoding reorders integer keys first, so a shared object can be reached
 * first along a longer path. Anything else is a bug. */
static int tolerable_encode_failure(void)
{
    JSValue ex = JS_GetException(ctx);
    const char *s = JS_ToCString(ctx, ex);
    int ok = s && strstr(s, "RangeError: DataCloneError: the value nests more than");
    if (!ok)
        fprintf(stderr, "fuzz_codec: re-encoding failed: %s\n", s ? s : "?");
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, ex);
    return ok;
}

static void run_once(const uint8_t *data, size_t size)
{
    JSValue v = codec_decode(ctx, data, size);
    if (JS_IsException(v)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return;
    }
    buf_t a = BUF_INIT, b = BUF_INIT;
    if (codec_encode(ctx, v, &a) != 0) {
        if (!tolerable_encode_failure())
            die("a decoded value does not encode");
        goto done;
    }
    JSValue w = codec_decode(ctx, a.data, a.len);
    if (JS_IsException(w))
        die("a re-encoded value does not decode");
    if (codec_encode(ctx, w, &b) != 0)
        die("a twice-decoded value does not encode");
    if (a.len != b.len || memcmp(a.data, b.data, a.len))
        die("encoding is not stable: encode(decode(e)) != e");
    JS_FreeValue(ctx, w);
done:
    JS_FreeValue(ctx, v);
    buf_deinit(&a);
    buf_deinit(&b);
}

static int64_t live_objects(void)
{
    JSMemoryUsage u;
    JS_RunGC(rt);
    JS_ComputeMemoryUsage(rt, &u);
    return u.obj_count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        rt = JS_NewRuntime();
        if (!rt || !(ctx = JS_NewContext(rt)))
            die("cannot create a JS context");
        /* A hostile input must not be able to take the machine. */
        JS_SetMemoryLimit(rt, 64 << 20);
        /* Room for CODEC_MAX_DEPTH levels even in sanitizer builds, whose
         * frames are larger (see test_codec.c). */
        JS_SetMaxStackSize(rt, 4 << 20);
    }
    /* The first run may create lazily-built built-ins; the second must not
     * grow the heap at all. */
    run_once(data, size);
    int64_t before = live_objects();
    run_once(data, size);
    if (live_objects() != before)
        die("an input leaked JS objects");
    return 0;
}
