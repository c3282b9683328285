/* Writes the committed seed corpus of fuzz_codec: valid encodings of assorted
 * values plus a few malformed inputs, one file each, into the directory given
 * (tests/fuzz/corpus/codec). Run it again after a format change. Depends on
 * codec.h, lib/ and QuickJS only. Build like fuzz_codec, with this file as
 * the main:  gen_codec_corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js/codec.h"

static const char *const values[] = {
    "undefined",
    "[null, true, false, 0, -0, 1.5, NaN, -Infinity, 2**53, -(2**31)]",
    "'plain ascii'",
    "'caf\\u00e9 \\u4e2d \\ud83d\\ude00 lone \\ud800 \\udc00'",
    "[0n, -1n, 2n**64n, -(2n**64n) - 1n, 2n**200n]",
    "({a: 1, b: {c: [1, 2, {d: 'x'}]}, 7: 'seven', '': null})",
    "[1, , 3, , , 6]",
    "(() => { const a = [1, 2]; a.k = 'v'; return a; })()",
    "(() => { const a = []; a[100] = 'far'; a.x = 1; return a; })()",
    "new Date(1700000000000)",
    "[new Date(NaN), /a[bc]+$/gimsuy, /(?<y>\\d{4})/d]",
    "new Map([[1, 'one'], ['k', {v: [1]}], [{}, new Set([1, 2])]])",
    "new Set(['a', 1, 1n, null])",
    "new Uint8Array([1, 2, 3, 250])",
    "(() => { const b = new ArrayBuffer(32); return [new Int16Array(b, 2, 3), new DataView(b, 8, "
    "8), "
    "new Float64Array(b, 16, 2), b]; })()",
    "[new Int8Array(2), new Uint8ClampedArray(2), new Uint16Array(2), new Int32Array(2), "
    "new Uint32Array(2), new Float32Array(2), new BigInt64Array(2), new BigUint64Array(2)]",
    "(() => { const e = new RangeError('out of range', {cause: {code: 42}}); e.stack = 's'; "
    "return e; })()",
    "[new Error('e'), new TypeError('t'), new SyntaxError(), new URIError('u'), new "
    "EvalError('v'), "
    "new ReferenceError('r')]",
    "[Object(1.5), Object('s'), Object(true), Object(7n)]",
    "(() => { const o = {name: 'loop'}; o.self = o; o.list = [o, o]; return o; })()",
    "(() => { const m = new Map(); const s = new Set([m]); m.set(s, m); return [m, s]; })()",
    "(() => { const e = new Error('cyclic'); e.cause = {e}; return e; })()",
    "(() => { let a = 'leaf'; for (let i = 0; i < 50; i++) a = i % 2 ? [a] : {a}; return a; })()",
};

/* Malformed or edge inputs, so the fuzzer starts near the error paths. */
#define RAW(lit)                                                                                   \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
static const struct {
    const char *bytes;
    size_t len;
} raw[] = {
    RAW("\x02u"), /* unknown version */
    RAW("\x01o\x02"
        "ar\x01\x00"), /* forward reference */
    RAW("\x01V\x01"
        "B\x02\x00\x00\x00\x03"),             /* view past its buffer */
    RAW("\x01s\x06\xed\xa0\xbd\xed\xb8\x80"), /* surrogate pair in 3-byte form */
    RAW("\x01"
        "A\xff\xff\xff\xff\x0f\x00"),                 /* empty array of length 2^32 - 1 */
    RAW("\x01M\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), /* huge count */
};

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_codec_corpus DIR\n");
        return 2;
    }
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    char name[64];
    int status = 0;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        JSValue v = JS_Eval(ctx, values[i], strlen(values[i]), "<seed>", JS_EVAL_TYPE_GLOBAL);
        buf_t b = BUF_INIT;
        if (JS_IsException(v) || codec_encode(ctx, v, &b) != 0) {
            fprintf(stderr, "seed %zu failed: %s\n", i, values[i]);
            JS_FreeValue(ctx, JS_GetException(ctx));
            status = 1;
        } else {
            snprintf(name, sizeof name, "value-%02zu", i);
            status |= write_file(argv[1], name, b.data, b.len) != 0;
        }
        JS_FreeValue(ctx, v);
        buf_deinit(&b);
    }
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        snprintf(name, sizeof name, "bad-%02zu", i);
        status |= write_file(argv[1], name, (const uint8_t *)raw[i].bytes, raw[i].len) != 0;
    }
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    return status;
}
