/* Unit tests for stored values as tagged JSON (src/js/value_json.c): values
 * written by the real codec from JS come out as the documented JSON, and
 * whatever the codec refuses to decode, this decoder refuses too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "js/codec.h"
#include "js/value_json.h"

static JSRuntime *rt;
static JSContext *ctx;

static int setup(void **state)
{
    rt = JS_NewRuntime();
    JS_SetMaxStackSize(rt, 4 << 20);
    ctx = JS_NewContext(rt);
    return 0;
}

static int teardown(void **state)
{
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    return 0;
}

/* Encodes the value of the JS expression with the codec. */
static void encode(const char *expr, buf_t *out)
{
    JSValue v = JS_Eval(ctx, expr, strlen(expr), "<test>", JS_EVAL_TYPE_GLOBAL);
    assert_false(JS_IsException(v));
    buf_reset(out);
    assert_int_equal(codec_encode(ctx, v, out), 0);
    JS_FreeValue(ctx, v);
}

/* The expression's stored value, as compact JSON with sorted keys. */
static void check(const char *expr, const char *want)
{
    buf_t b = BUF_INIT;
    encode(expr, &b);
    char err[128];
    json_t *j = value_json_decode(b.data, b.len, err, sizeof err);
    if (!j)
        fail_msg("%s: %s", expr, err);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (strcmp(s, want) != 0)
        fail_msg("%s\n  got  %s\n  want %s", expr, s, want);
    free(s);
    json_decref(j);
    buf_deinit(&b);
}

static void test_primitives(void **state)
{
    check("null", "null");
    check("undefined", "{\"type\":\"undefined\"}");
    check("true", "true");
    check("false", "false");
    check("42", "42");
    check("-9007199254740992", "-9007199254740992");
    check("1.5", "1.5");
    check("-0", "{\"type\":\"number\",\"value\":\"-0\"}");
    check("NaN", "{\"type\":\"number\",\"value\":\"NaN\"}");
    check("-Infinity", "{\"type\":\"number\",\"value\":\"-Infinity\"}");
    check("2**60", "1.152921504606847e18");
    check("'h\\u00e9llo'", "\"h\u00e9llo\"");
    check("'a\\u0000b'", "\"a\\u0000b\"");
    check("'x\\ud800y'", "{\"lone_surrogates\":true,\"type\":\"string\",\"value\":\"x\ufffdy\"}");
}

static void test_bigints(void **state)
{
    check("0n", "{\"type\":\"bigint\",\"value\":\"0\"}");
    check("-1n", "{\"type\":\"bigint\",\"value\":\"-1\"}");
    check("2n**64n", "{\"type\":\"bigint\",\"value\":\"18446744073709551616\"}");
    check("-(10n**40n) - 7n",
          "{\"type\":\"bigint\",\"value\":\"-10000000000000000000000000000000000000007\"}");
    check("1000000000n", "{\"type\":\"bigint\",\"value\":\"1000000000\"}");
}

static void test_containers(void **state)
{
    check("({a: 1, b: [true, 'x']})",
          "{\"type\":\"object\",\"value\":{\"a\":1,\"b\":{\"length\":2,\"type\":\"array\","
          "\"value\":[true,\"x\"]}}}");
    check("[1, , 3]", "{\"length\":3,\"type\":\"array\",\"value\":[1,{\"type\":\"hole\"},3]}");
    check("(() => { const a = []; a[100] = 'z'; a.tag = 1; return a; })()",
          "{\"length\":101,\"props\":{\"tag\":1},\"sparse\":true,\"type\":\"array\","
          "\"value\":{\"100\":\"z\"}}");
    check("new Map([['k', 1], [2, null]])",
          "{\"type\":\"Map\",\"value\":[[\"k\",1],[2,null]]}");
    check("new Set(['a', 'b'])", "{\"type\":\"Set\",\"value\":[\"a\",\"b\"]}");
}

static void test_builtins(void **state)
{
    check("new Date(0)", "{\"type\":\"Date\",\"value\":\"1970-01-01T00:00:00.000Z\"}");
    check("new Date(-1)", "{\"type\":\"Date\",\"value\":\"1969-12-31T23:59:59.999Z\"}");
    check("new Date(8.64e15)", "{\"type\":\"Date\",\"value\":\"+275760-09-13T00:00:00.000Z\"}");
    check("new Date(NaN)", "{\"type\":\"Date\",\"value\":null}");
    check("/a+b/gi", "{\"flags\":\"gi\",\"source\":\"a+b\",\"type\":\"RegExp\"}");
    check("new Uint8Array([1, 2, 255]).buffer",
          "{\"base64\":\"AQL/\",\"byteLength\":3,\"type\":\"ArrayBuffer\"}");
    check("new Uint16Array([1, 2])",
          "{\"buffer\":{\"base64\":\"AQACAA==\",\"byteLength\":4,\"type\":\"ArrayBuffer\"},"
          "\"byteOffset\":0,\"length\":2,\"type\":\"Uint16Array\"}");
    check("(() => { const e = new TypeError('bad', {cause: 5}); delete e.stack; return e; })()",
          "{\"cause\":5,\"message\":\"bad\",\"name\":\"TypeError\",\"type\":\"Error\"}");
    check("new String('s')", "{\"type\":\"boxed\",\"value\":\"s\"}");
}

static void test_sharing(void **state)
{
    check("(() => { const o = {n: 1}; return [o, o]; })()",
          "{\"length\":2,\"type\":\"array\",\"value\":[{\"id\":1,\"type\":\"object\","
          "\"value\":{\"n\":1}},{\"id\":1,\"type\":\"ref\"}]}");
    check("(() => { const o = {}; o.self = o; return o; })()",
          "{\"id\":0,\"type\":\"object\",\"value\":{\"self\":{\"id\":0,\"type\":\"ref\"}}}");
    check("(() => { const b = new ArrayBuffer(4); return [new Uint8Array(b, 1, 2), new "
          "DataView(b)]; })()",
          "{\"length\":2,\"type\":\"array\",\"value\":[{\"buffer\":{\"base64\":\"AAAAAA==\","
          "\"byteLength\":4,\"id\":2,\"type\":\"ArrayBuffer\"},\"byteOffset\":1,\"length\":2,"
          "\"type\":\"Uint8Array\"},{\"buffer\":{\"id\":2,\"type\":\"ref\"},\"byteOffset\":0,"
          "\"length\":4,\"type\":\"DataView\"}]}");
}

/* Every prefix of a valid encoding and every single-byte corruption: the
 * two decoders agree on whether the bytes are a value. */
static void test_agrees_with_codec(void **state)
{
    const char *exprs[] = {
        "({a: [1, 2.5, 'x', null, undefined, true], m: new Map([[1, new Set([2n])]])})",
        "(() => { const o = {d: new Date(5), r: /x/y}; o.o = o; return [o, o]; })()",
        "(() => { const b = new ArrayBuffer(8); return [new Float64Array(b), new Int8Array(b, "
        "2, 3), new Error('e')]; })()",
        "[, 'h\\ud83d\\ude00', -0, NaN, 123456789012345678901234567890n, new Number(3)]",
    };
    buf_t b = BUF_INIT;
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        encode(exprs[e], &b);
        for (size_t len = 0; len <= b.len; len++) {
            for (int flip = -1; flip < (int)len; flip++) {
                uint8_t *m = malloc(len ? len : 1);
                memcpy(m, b.data, len);
                if (flip >= 0)
                    m[flip] ^= (uint8_t)(0x5a + len);
                JSValue v = codec_decode(ctx, m, len);
                bool codec_ok = !JS_IsException(v);
                bool regexp_syntax = false;
                if (codec_ok) {
                    JS_FreeValue(ctx, v);
                } else {
                    /* Only QuickJS can tell a pattern that does not compile. */
                    JSValue ex = JS_GetException(ctx);
                    const char *msg = JS_ToCString(ctx, ex);
                    regexp_syntax = msg && strstr(msg, "invalid regular expression");
                    JS_FreeCString(ctx, msg);
                    JS_FreeValue(ctx, ex);
                }
                char err[128];
                json_t *j = value_json_decode(m, len, err, sizeof err);
                if (codec_ok != (j != NULL) && !regexp_syntax)
                    fail_msg("expr %zu len %zu flip %d: codec %s, json %s (%s)", e, len, flip,
                             codec_ok ? "ok" : "refused", j ? "ok" : "refused", j ? "" : err);
                json_decref(j);
                free(m);
            }
        }
    }
    buf_deinit(&b);
}

static void test_errors_say_where(void **state)
{
    char err[128];
    const uint8_t wrong_version[] = {2, 'n'};
    assert_null(value_json_decode(wrong_version, sizeof wrong_version, err, sizeof err));
    assert_string_equal(err, "offset 0: unknown format version");
    const uint8_t trailing[] = {1, 'n', 'n'};
    assert_null(value_json_decode(trailing, sizeof trailing, err, sizeof err));
    assert_string_equal(err, "offset 2: trailing bytes");
    const uint8_t bad_tag[] = {1, 'o', 2, 'k', '?'};
    assert_null(value_json_decode(bad_tag, sizeof bad_tag, err, sizeof err));
    assert_string_equal(err, "offset 4: unknown tag");
    assert_null(value_json_decode(NULL, 0, err, sizeof err));
}

static void test_keys(void **state)
{
    json_t *k = value_json_key((const uint8_t *)"plain", 5);
    assert_string_equal(json_string_value(k), "plain");
    json_decref(k);
    const uint8_t lone[] = {'a', 0xed, 0xa0, 0x80};
    k = value_json_key(lone, sizeof lone);
    assert_true(json_is_true(json_object_get(k, "lone_surrogates")));
    json_decref(k);
    const uint8_t bad[] = {0xff};
    assert_null(value_json_key(bad, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitives),    cmocka_unit_test(test_bigints),
        cmocka_unit_test(test_containers),    cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_sharing),       cmocka_unit_test(test_agrees_with_codec),
        cmocka_unit_test(test_errors_say_where), cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
