/* libFuzzer target for stored values as tagged JSON (src/js/value_json.c).
 * Any input must decode or fail cleanly, and the JSON decoder must accept
 * exactly what the codec accepts (except a RegExp pattern only QuickJS can
 * judge): a value shown by the inspection API is a value a class can read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js/codec.h"
#include "js/value_json.h"

static JSRuntime *rt;
static JSContext *ctx;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_value_json: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        rt = JS_NewRuntime();
        if (!rt || !(ctx = JS_NewContext(rt)))
            die("cannot create a JS context");
        JS_SetMemoryLimit(rt, 64 << 20);
        JS_SetMaxStackSize(rt, 4 << 20);
    }
    char err[160];
    json_t *j = value_json_decode(data, size, err, sizeof err);
    if (!j && !err[0])
        die("a refusal without a reason");
    if (j) {
        /* It must print: every string in it is valid UTF-8. */
        char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!s)
            die("the JSON does not print");
        free(s);
    }
    JSValue v = codec_decode(ctx, data, size);
    bool codec_ok = !JS_IsException(v);
    bool pattern = false, resources = false;
    if (codec_ok) {
        JS_FreeValue(ctx, v);
    } else {
        JSValue ex = JS_GetException(ctx);
        const char *m = JS_ToCString(ctx, ex);
        pattern = m && strstr(m, "invalid regular expression");
        /* Limits of the JS heap or stack are the runtime's, not the format's. */
        resources = !m || strstr(m, "out of memory") || strstr(m, "stack overflow");
        JS_FreeCString(ctx, m);
        JS_FreeValue(ctx, ex);
    }
    if (codec_ok && !j)
        die("the codec reads a value the JSON decoder refuses");
    if (!codec_ok && j && !pattern && !resources)
        die("the JSON decoder shows a value the codec refuses");
    json_decref(j);
    return 0;
}
