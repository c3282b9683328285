/* Unit tests for the storage value encoding (src/js/codec.c): exact round
 * trips of the whole value space, golden bytes that pin the format, hostile
 * input that must fail cleanly, and values that must refuse to be cloned.
 * Uses only codec.h, lib/ and a QuickJS runtime of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "js/codec.h"

static JSRuntime *rt;
static JSContext *ctx;

/* deepCheck(a, b) throws unless b is an exact structured clone of a: same
 * shape, same primitive values by Object.is (so NaN and -0 count), same
 * holes, and the same sharing: objects shared or cyclic in a are shared or
 * cyclic in b, and distinct objects stay distinct. */
static const char deep_check_js[] =
    "globalThis.deepCheck = function (a, b) {\n"
    "  const tag = (v) => Object.prototype.toString.call(v);\n"
    "  const fwd = new Map(), back = new Map();\n"
    "  const fail = (path, msg) => { throw new Error(path + ': ' + msg); };\n"
    "  const keys = (o) => Object.keys(o).join(',');\n"
    "  const errorNames = ['Error','EvalError','RangeError','ReferenceError',\n"
    "                      'SyntaxError','TypeError','URIError'];\n"
    "  function cmp(x, y, path) {\n"
    "    if (typeof x !== typeof y) fail(path, typeof x + ' vs ' + typeof y);\n"
    "    if (typeof x !== 'object' || x === null) {\n"
    "      if (!Object.is(x, y)) fail(path, String(x) + ' vs ' + String(y));\n"
    "      return;\n"
    "    }\n"
    "    if (y === null) fail(path, 'became null');\n"
    "    if (fwd.has(x)) { if (fwd.get(x) !== y) fail(path, 'sharing lost'); return; }\n"
    "    if (back.has(y)) fail(path, 'two objects became one');\n"
    "    if (x === y) fail(path, 'not copied');\n"
    "    fwd.set(x, y); back.set(y, x);\n"
    "    const t = tag(x);\n"
    "    if (t !== tag(y)) fail(path, t + ' vs ' + tag(y));\n"
    "    if (t === '[object Object]') {\n"
    "      if (Object.getPrototypeOf(y) !== Object.prototype) fail(path, 'prototype');\n"
    "    } else if (t === '[object Error]') {\n"
    "      const n = errorNames.includes(x.name) ? x.name : 'Error';\n"
    "      if (Object.getPrototypeOf(y) !== globalThis[n].prototype) fail(path, 'error class');\n"
    "      for (const f of ['message', 'stack']) {\n"
    "        const hx = Object.hasOwn(x, f), hy = Object.hasOwn(y, f);\n"
    "        if (hx !== hy || (hx && String(x[f]) !== y[f])) fail(path + '.' + f, 'differs');\n"
    "      }\n"
    "      if (Object.hasOwn(x, 'cause') !== Object.hasOwn(y, 'cause')) fail(path, 'cause');\n"
    "      if (Object.hasOwn(x, 'cause')) cmp(x.cause, y.cause, path + '.cause');\n"
    "      if (Object.keys(y).length) fail(path, 'enumerable error fields');\n"
    "      return;\n"
    "    } else if (Object.getPrototypeOf(y) !== Object.getPrototypeOf(x)) {\n"
    "      fail(path, 'prototype');\n"
    "    }\n"
    "    if (x instanceof Date) {\n"
    "      if (!Object.is(x.getTime(), y.getTime())) fail(path, 'time');\n"
    "    } else if (x instanceof RegExp) {\n"
    "      if (x.source !== y.source || x.flags !== y.flags || y.lastIndex !== 0)\n"
    "        fail(path, 'regexp');\n"
    "    } else if (x instanceof Map || x instanceof Set) {\n"
    "      if (x.size !== y.size) fail(path, 'size');\n"
    "      const xe = [...x.entries()], ye = [...y.entries()];\n"
    "      for (let i = 0; i < xe.length; i++) {\n"
    "        cmp(xe[i][0], ye[i][0], path + '.key' + i);\n"
    "        cmp(xe[i][1], ye[i][1], path + '.val' + i);\n"
    "      }\n"
    "    } else if (x instanceof ArrayBuffer) {\n"
    "      if (x.byteLength !== y.byteLength) fail(path, 'byteLength');\n"
    "      const u = new Uint8Array(x), v = new Uint8Array(y);\n"
    "      for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) fail(path, 'byte ' + i);\n"
    "    } else if (ArrayBuffer.isView(x)) {\n"
    "      if (x.byteOffset !== y.byteOffset || x.byteLength !== y.byteLength)\n"
    "        fail(path, 'view window');\n"
    "      cmp(x.buffer, y.buffer, path + '.buffer');\n"
    "    } else if (['[object Number]', '[object String]', '[object Boolean]',\n"
    "                '[object BigInt]'].includes(t)) {\n"
    "      if (!Object.is(x.valueOf(), y.valueOf())) fail(path, 'boxed value');\n"
    "    } else {\n"
    "      if (Array.isArray(x) && x.length !== y.length) fail(path, 'length');\n"
    "      if (keys(x) !== keys(y)) fail(path, 'keys [' + keys(x) + '] vs [' + keys(y) + ']');\n"
    "      for (const k of Object.keys(x)) cmp(x[k], y[k], path + '.' + k);\n"
    "    }\n"
    "  }\n"
    "  cmp(a, b, '$');\n"
    "  return true;\n"
    "};\n";

static int setup(void **state)
{
    rt = JS_NewRuntime();
    /* CODEC_MAX_DEPTH levels of Maps or Sets call into QuickJS at the
     * bottom, and under sanitizers the codec's frames are large enough to
     * pass QuickJS's default 1 MiB stack budget first (a clean "stack
     * overflow" InternalError). Give the depth tests the room a shard
     * thread has, so they test the codec's own limit. */
    JS_SetMaxStackSize(rt, 4 << 20);
    ctx = JS_NewContext(rt);
    JSValue r =
        JS_Eval(ctx, deep_check_js, strlen(deep_check_js), "<deepCheck>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(r))
        return -1;
    JS_FreeValue(ctx, r);
    return 0;
}

/* Freeing the runtime asserts that no object is left: a reference leaked
 * anywhere in the codec aborts the test run here. */
static int teardown(void **state)
{
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    return 0;
}

/* The pending exception as "Name: message" (caller frees). */
static char *take_exception(void)
{
    JSValue ex = JS_GetException(ctx);
    const char *s = JS_ToCString(ctx, ex);
    char *r = strdup(s ? s : "(unprintable exception)");
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, ex);
    return r;
}

static JSValue eval(const char *src)
{
    JSValue v = JS_Eval(ctx, src, strlen(src), "<test>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(v)) {
        char *m = take_exception();
        fail_msg("eval of %s threw %s", src, m);
    }
    return v;
}

static void encode_ok(JSValueConst v, buf_t *b, const char *what)
{
    if (codec_encode(ctx, v, b) != 0) {
        char *m = take_exception();
        fail_msg("encoding %s threw %s", what, m);
    }
}

static JSValue decode_ok(const uint8_t *p, size_t n, const char *what)
{
    JSValue v = codec_decode(ctx, p, n);
    if (JS_IsException(v)) {
        char *m = take_exception();
        fail_msg("decoding %s threw %s", what, m);
    }
    return v;
}

/* Runs deepCheck(a, b) and fails the test with its message. */
static void check_same(JSValueConst a, JSValueConst b, const char *what)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue fn = JS_GetPropertyStr(ctx, global, "deepCheck");
    JSValueConst args[2] = {a, b};
    JSValue r = JS_Call(ctx, fn, global, 2, args);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, global);
    if (JS_IsException(r)) {
        char *m = take_exception();
        fail_msg("%s did not round-trip: %s", what, m);
    }
    JS_FreeValue(ctx, r);
}

/* Encodes the value of src, decodes it, compares deeply, and checks that
 * the copy encodes to the very same bytes. Returns the copy. */
static JSValue roundtrip_value(JSValueConst v, const char *what)
{
    buf_t a = BUF_INIT, b = BUF_INIT;
    encode_ok(v, &a, what);
    JSValue w = decode_ok(a.data, a.len, what);
    check_same(v, w, what);
    encode_ok(w, &b, what);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_deinit(&a);
    buf_deinit(&b);
    return w;
}

static void roundtrip(const char *src)
{
    JSValue v = eval(src);
    JSValue w = roundtrip_value(v, src);
    JS_FreeValue(ctx, v);
    JS_FreeValue(ctx, w);
}

/* Runs a JS predicate on the decoded copy: (copy) => boolean. */
static void roundtrip_then(const char *src, const char *predicate)
{
    JSValue v = eval(src);
    JSValue w = roundtrip_value(v, src);
    JSValue fn = eval(predicate);
    JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&w);
    if (JS_IsException(r)) {
        char *m = take_exception();
        fail_msg("predicate %s threw %s", predicate, m);
    }
    if (!JS_ToBool(ctx, r))
        fail_msg("for %s, predicate %s is false", src, predicate);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, v);
    JS_FreeValue(ctx, w);
}

/* Like roundtrip_then, for values whose copy differs from the original on
 * purpose (class instances, subclasses): no deep comparison. */
static void clone_then(const char *src, const char *predicate)
{
    JSValue v = eval(src);
    JSValue w = codec_clone(ctx, v);
    if (JS_IsException(w)) {
        char *m = take_exception();
        fail_msg("cloning %s threw %s", src, m);
    }
    JSValue fn = eval(predicate);
    JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&w);
    if (!JS_ToBool(ctx, r))
        fail_msg("for %s, predicate %s is false", src, predicate);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, v);
    JS_FreeValue(ctx, w);
}

static void test_primitives(void **state)
{
    static const char *const cases[] = {
        "undefined",
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1",
        "-1",
        "42",
        "2147483647",
        "-2147483648",
        "2147483648",
        "2**53",
        "-(2**53)",
        "2**53 + 2",
        "1.5",
        "-1e-300",
        "NaN",
        "Infinity",
        "-Infinity",
        "Number.MIN_VALUE",
        "Number.MAX_VALUE",
        "1e21",
        "0.1 + 0.2",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(cases[i]);
}

static void test_strings(void **state)
{
    static const char *const cases[] = {
        "''",
        "'hello'",
        "'a\\u0000b'",
        "'caf\\u00e9 \\u00ff'",
        "'\\u20ac \\u4e2d'",
        "'\\ud83d\\ude00 emoji'", /* a valid pair */
        "'\\ud800'",
        "'\\udc00'",                              /* lone surrogates */
        "'x\\ud800y\\udfffz'",                    /* lone ones inside text */
        "'\\udc00\\ud800'",                       /* low then high: not a pair */
        "'\\ud800\\ud800\\udc00'",                /* high, then a real pair */
        "'\\ud83d\\ude00'.repeat(3) + '\\ud83d'", /* a pair cut at the end */
        "'x'.repeat(100000)",
        "'\\u00e9'.repeat(1000) + '\\u4e2d'",
        "['a', 'b'].join('-') + 'c'.repeat(50)", /* a rope string */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(cases[i]);
}

static void test_bigints(void **state)
{
    static const char *const cases[] = {
        "0n",
        "1n",
        "-1n",
        "255n",
        "256n",
        "-256n",
        "2n**63n - 1n",
        "-(2n**63n)",
        "2n**63n",
        "-(2n**63n) - 1n",
        "2n**64n",
        "2n**64n - 1n",
        "-(2n**64n)",
        "2n**1000n + 12345n",
        "-(3n**500n)",
        "-(2n**1024n)",
        "2n**100000n - 1n",
        "-(7n**20000n)",
        "Object(12n)",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(cases[i]);
}

static void test_objects_and_arrays(void **state)
{
    static const char *const cases[] = {
        "({})",
        "({a: 1, b: 'two', c: [3], d: {e: null}, f: undefined})",
        "({z: 1, a: 2, m: 3})", /* insertion order kept */
        "({b: 1, 2: 'x', a: 3, 1: 'y', '-1': 4, '01': 5, 4294967295: 6})",
        "({'': 1, 'a\\u0000b': 2, '\\ud800': 3, ['__proto__']: 4})",
        "Object.assign(Object.create(null), {x: 1})",
        "[]",
        "[1, 2, 3]",
        "[1, , 3]",
        "[, , ,]",
        "new Array(5)",
        "[undefined, null, , NaN, -0]",
        "(() => { const a = [1, 2]; a.extra = 'x'; a[''] = 0; return a; })()",
        "(() => { const a = []; a[1000000] = 1; a[5] = 2; return a; })()",
        "(() => { const a = []; a.length = 4294967295; a[4294967294] = 'last'; return a; })()",
        "(() => { const a = []; a[3000000000] = 1; a[7] = 2; a.k = 3; return a; })()",
        ("(() => { const a = [1, 2, 3]; Object.defineProperty(a, 1, {enumerable: false}); "
         "return a; })()"),
        "[[[[[[[[[[1]]]]]]]]]]",
        "({a: [{b: [{c: new Map([[{d: 1}, new Set([[2]])]])}]}]})",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(cases[i]);
    roundtrip_then("[1, , 3]", "(c) => !(1 in c) && c.length === 3");
    roundtrip_then("new Array(5)", "(c) => c.length === 5 && Object.keys(c).length === 0");
    roundtrip_then("Object.assign(Object.create(null), {x: 1})",
                   "(c) => Object.getPrototypeOf(c) === Object.prototype && c.x === 1");
    roundtrip_then("JSON.parse('{\"__proto__\": 4}')",
                   "(c) => Object.hasOwn(c, '__proto__') && Object.getPrototypeOf(c) === "
                   "Object.prototype");
    /* Class instances become plain objects, as in structured clone. */
    clone_then("class P { constructor() { this.x = 1; } get y() { return 2; } }; new P()",
               "(c) => Object.getPrototypeOf(c) === Object.prototype && c.x === 1 && "
               "!('y' in c)");
}

static void test_builtins(void **state)
{
    static const char *const cases[] = {
        "new Date(0)",
        "new Date(1700000000123)",
        "new Date(-8.64e15)",
        "new Date(8.64e15)",
        "new Date(NaN)",
        "/a/",
        "/a+b*/gimsuy",
        "/x/d",
        "new RegExp('')",
        "/[/]\\//",
        "/\\ud800/u",
        "(() => { const r = /a/g; r.lastIndex = 5; return r; })()",
        "new Map()",
        "new Map([[1, 'a'], ['1', 'b'], [{}, []], [NaN, -0], [null, undefined]])",
        "new Set()",
        "new Set([1, '1', 1n, {}, [], NaN])",
        "new Object(1.5)",
        "new Number(-0)",
        "new String('s\\ud800')",
        "new Boolean(false)",
        "Object(2n**70n)",
        "new ArrayBuffer(0)",
        "new Uint8Array([1, 2, 255]).buffer",
        "new Int8Array([-1, 2])",
        "new Uint8Array(0)",
        "new Uint8ClampedArray([300])",
        "new Int16Array([-2, 3])",
        "new Uint16Array([65535])",
        "new Int32Array([-5])",
        "new Uint32Array([4294967295])",
        "new Float32Array([1.5, NaN])",
        "new Float64Array([-0, Infinity])",
        "new BigInt64Array([-(2n**63n)])",
        "new BigUint64Array([2n**64n - 1n])",
        "new DataView(new ArrayBuffer(8), 2, 4)",
        "new DataView(new ArrayBuffer(3))",
        "new Uint16Array(new ArrayBuffer(16), 4, 3)",
        "new Float64Array(new ArrayBuffer(64), 8)",
        "new Error('boom')",
        "new RangeError('r')",
        "new TypeError()",
        "new EvalError('e')",
        "new URIError('u')",
        "new SyntaxError('s')",
        "new ReferenceError('x')",
        "new Error('with cause', {cause: {code: 7}})",
        "(() => { const e = new Error('m'); e.name = 'CustomName'; return e; })()",
        "(() => { const e = new Error('m'); delete e.stack; return e; })()",
        "(() => { const e = new RangeError('m'); e.stack = 'at nowhere'; return e; })()",
        "(() => { class MyErr extends TypeError {}; return new MyErr('sub'); })()",
        "(() => { const e = new Error('self'); e.cause = e; return e; })()",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(cases[i]);
    roundtrip_then("(() => { const r = /a/g; r.lastIndex = 5; return r; })()",
                   "(c) => c.lastIndex === 0 && c.test('a')");
    roundtrip_then("new Map([[NaN, 1], [-0, 2]])", "(c) => c.get(NaN) === 1 && c.get(0) === 2");
    roundtrip_then("new Date(NaN)", "(c) => c instanceof Date && isNaN(c.getTime())");
    roundtrip_then("new RangeError('r')", "(c) => c instanceof RangeError && c.message === 'r' && "
                                          "String(c).startsWith('RangeError: r')");
    roundtrip_then("(() => { const e = new Error('m'); e.name = 'CustomName'; return e; })()",
                   "(c) => c.name === 'Error' && c.message === 'm'");
    roundtrip_then("new Uint16Array(new ArrayBuffer(16), 4, 3)",
                   "(c) => c.byteOffset === 4 && c.length === 3 && c.buffer.byteLength === 16");
    clone_then("(() => { class M extends Map { extra() {} }; return new M([[1, 2]]); })()",
               "(c) => Object.getPrototypeOf(c) === Map.prototype && c.get(1) === 2");
    roundtrip_then("new Number(-0)", "(c) => typeof c === 'object' && Object.is(c.valueOf(), -0)");
}

static void test_sharing_and_cycles(void **state)
{
    static const char *const cases[] = {
        "(() => { const o = {x: 1}; return {a: o, b: o, c: [o, o]}; })()",
        "(() => { const o = {}; o.self = o; return o; })()",
        "(() => { const a = []; a.push(a, a); return a; })()",
        "(() => { const m = new Map(); m.set(m, m); return m; })()",
        "(() => { const s = new Set(); s.add(s); return s; })()",
        "(() => { const a = {}, b = {a}; a.b = b; return [a, b]; })()",
        "(() => { const buf = new ArrayBuffer(16); return [new Uint8Array(buf, 2, 4), "
        "new DataView(buf, 8), buf, new Float32Array(buf, 4, 2)]; })()",
        "(() => { const buf = new ArrayBuffer(8); const v = new Uint8Array(buf); "
        "return {v, w: v, buf}; })()",
        "(() => { const d = new Date(5); const r = /x/; const e = new Error('e'); "
        "const n = new Number(3); return [d, d, r, r, e, e, n, n]; })()",
        "(() => { const e = new Error('outer'); const o = {e}; e.cause = o; return o; })()",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(cases[i]);
    roundtrip_then("(() => { const o = {}; o.self = o; return o; })()", "(c) => c.self === c");
    roundtrip_then("(() => { const o = {x: 1}; return {a: o, b: o}; })()",
                   "(c) => c.a === c.b && c.a.x === 1");
    roundtrip_then("(() => { const buf = new ArrayBuffer(16); return [new Uint8Array(buf, 2, 4), "
                   "new DataView(buf, 8)]; })()",
                   "(c) => { c[0][0] = 77; return c[0].buffer === c[1].buffer && "
                   "new Uint8Array(c[1].buffer)[2] === 77; }");
    /* {a: o, b: {a: o}} with two separate objects stays two objects. */
    roundtrip_then("({a: {x: 1}, b: {x: 1}})", "(c) => c.a !== c.b");
}

static void test_getters(void **state)
{
    /* Getters run, as structured clone does, and their results are stored. */
    roundtrip_then("({get x() { return 40 + 2; }, y: 1})",
                   "(c) => c.x === 42 && Object.getOwnPropertyDescriptor(c, 'x').value === 42");
    /* A getter that deletes a later key: that key is skipped. */
    clone_then("({get a() { delete this.b; return 1; }, b: 2, c: 3})",
               "(c) => Object.keys(c).join() === 'a,c'");
    /* Getters that grow or shrink the array being written: the length read
     * first stands, removed elements become holes, and the bytes stay a
     * valid encoding (clone_then decodes them). */
    clone_then("(() => { const a = [0, 1, 2]; a.k = 1; Object.defineProperty(a, 0, {enumerable: "
               "true, get() { a.push(7, 8); a.x = 2; return 'g'; }}); return a; })()",
               "(c) => c.length === 3 && c[0] === 'g' && c[2] === 2 && c.k === 1 && !('3' in c)");
    clone_then("(() => { const a = [0, 1, 2]; Object.defineProperty(a, 0, {enumerable: true, "
               "get() { a.length = 1; return 'g'; }}); return a; })()",
               "(c) => c.length === 3 && c[0] === 'g' && !(1 in c) && !(2 in c)");
    clone_then("(() => { const a = []; a[50] = 1; Object.defineProperty(a, 50, {enumerable: true, "
               "get() { a[60] = 2; return 'g'; }}); return a; })()",
               "(c) => c.length === 51 && c[50] === 'g' && Object.keys(c).join() === '50'");
    /* Map and Set entries are copied before any is written. */
    clone_then("(() => { const m = new Map(); m.set('a', {get x() { m.set('b', 2); m.delete('c'); "
               "return 1; }}); m.set('c', 3); return m; })()",
               "(c) => [...c.keys()].join() === 'a,c' && c.get('a').x === 1 && c.get('c') === 3");
    /* Error fields count only as own data properties. */
    clone_then("(() => { const e = new Error(); Object.defineProperty(e, 'message', {get() { "
               "return 'no'; }}); e.cause = undefined; return e; })()",
               "(c) => !Object.hasOwn(c, 'message') && Object.hasOwn(c, 'cause') && "
               "c.cause === undefined");
    clone_then(
        "(() => { const e = new TypeError('m'); e.message = {toString() { return 'made'; }}; "
        "return e; })()",
        "(c) => c.message === 'made' && c instanceof TypeError");
    /* A getter that throws: the exception reaches the caller, out untouched. */
    buf_t b = BUF_INIT;
    buf_puts(&b, "keep");
    JSValue v = eval("({get a() { throw new RangeError('from getter'); }})");
    assert_int_equal(codec_encode(ctx, v, &b), -1);
    char *m = take_exception();
    assert_string_equal(m, "RangeError: from getter");
    free(m);
    assert_int_equal(b.len, 4);
    assert_string_equal(buf_cstr(&b), "keep");
    JS_FreeValue(ctx, v);
    buf_deinit(&b);
}

static void hex(const buf_t *b, char *out)
{
    for (size_t i = 0; i < b->len; i++)
        sprintf(out + 2 * i, "%02x", b->data[i]);
    out[2 * b->len] = '\0';
}

/* Golden bytes: if one of these changes, the stored format changed, and old
 * databases would be misread. Bump CODEC_VERSION and keep a reader for the
 * old version instead of editing these. */
static void test_golden(void **state)
{
    static const struct {
        const char *src, *hex;
    } cases[] = {
        {"undefined", "0175"},
        {"null", "016e"},
        {"true", "0174"},
        {"false", "0166"},
        {"0", "016900"},
        {"-1", "016901"},
        {"300", "0169d804"},
        {"2**53", "01698080808080808020"},
        {"1.5", "01640000000000 00f83f"},
        {"-0", "01640000000000000080"},
        {"NaN", "0164000000000000f87f"},
        {"0/0 * -1", "0164000000000000f87f"},
        {"'hi'", "0173026869"},
        {"'\\u00e9'", "017302c3a9"},
        {"'\\ud800'", "017303eda080"},
        {"'\\ud83d\\ude00'", "017304f09f9880"},
        {"0n", "017a00"},
        {"1n", "017a0201"},
        {"-1n", "017a0301"},
        {"256n", "017a040001"},
        {"({a: 1})", "016f0261690200"},
        {"[1, , 3]", "016103690268690600"},
        {"new Array(20)", "01411400"},
        {"(() => { const o = {}; return [o, o]; })()", "0161026f00720100"},
        {"new Map([[1, 'x']])", "014d0169027301 78"},
        {"new Set([true])", "01530174"},
        {"new Date(0)", "01440000000000000000"},
        {"/a/g", "015201610167"},
        {"new ArrayBuffer(2)", "0142020000"},
        {"new Uint8Array([1, 2])", "015601420201020002"},
        {"new DataView(new ArrayBuffer(1))", "01560b4201000001"},
        {"(() => { const e = new RangeError('x'); delete e.stack; return e; })()", "0145020101 78"},
        {"Object(5)", "0150690a"},
    };
    char got[256], want[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        JSValue v = eval(cases[i].src);
        buf_t b = BUF_INIT;
        encode_ok(v, &b, cases[i].src);
        hex(&b, got);
        size_t k = 0;
        for (const char *p = cases[i].hex; *p; p++)
            if (*p != ' ')
                want[k++] = *p;
        want[k] = '\0';
        if (strcmp(got, want))
            fail_msg("%s encodes to %s, expected %s", cases[i].src, got, want);
        JSValue w = decode_ok(b.data, b.len, cases[i].src);
        JS_FreeValue(ctx, w);
        JS_FreeValue(ctx, v);
        buf_deinit(&b);
    }
}

/* Decoding must fail with a TypeError whose message contains `expect`. */
static void decode_fails(const uint8_t *p, size_t n, const char *expect)
{
    JSValue v = codec_decode(ctx, p, n);
    if (!JS_IsException(v)) {
        JS_FreeValue(ctx, v);
        fail_msg("decoding %zu bytes succeeded; expected \"%s\"", n, expect);
    }
    char *m = take_exception();
    if (strncmp(m, "TypeError: ", 11) || !strstr(m, expect))
        fail_msg("expected a TypeError with \"%s\", got \"%s\"", expect, m);
    free(m);
}

#define FAILS(lit, expect) decode_fails((const uint8_t *)(lit), sizeof(lit) - 1, expect)

static void test_malformed(void **state)
{
    FAILS("", "no bytes");
    FAILS("\x02u", "unknown format version");
    FAILS("\x00u", "unknown format version");
    FAILS("\x01", "unexpected end");
    FAILS("\x01uu", "trailing bytes");
    FAILS("\x01?", "unknown tag");
    FAILS("\x01h", "unknown tag");
    FAILS("\x01i\x80\x00", "shortest form");
    FAILS("\x01i\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "64 bits");
    FAILS("\x01i\x80\x80\x80\x80\x80\x80\x80\x40", "beyond 2^53");
    FAILS("\x01"
          "d\x00\x00\x00\x00\x00\x00\xf0\x3f",
          "integer stored as a double");
    FAILS("\x01"
          "d\x01\x00\x00\x00\x00\x00\xf8\x7f",
          "canonical");
    FAILS("\x01"
          "d\x00\x00",
          "unexpected end");
    FAILS("\x01z\x01", "shortest form");
    FAILS("\x01z\x04\x01\x00", "shortest form");
    FAILS("\x01z\x05\x01", "BigInt longer");
    FAILS("\x01s\x05"
          "abc",
          "longer than the input");
    FAILS("\x01s\x02\xc0\x80", "WTF-8");                 /* overlong NUL */
    FAILS("\x01s\x03\xe0\x80\x80", "WTF-8");             /* overlong */
    FAILS("\x01s\x06\xed\xa0\xbd\xed\xb8\x80", "WTF-8"); /* a pair in 3-byte form */
    FAILS("\x01s\x04\xf4\x90\x80\x80", "WTF-8");         /* past U+10FFFF */
    FAILS("\x01s\x01\x80", "WTF-8");
    FAILS("\x01s\x01\xff", "WTF-8");
    FAILS("\x01o\x02"
          "a",
          "unexpected end");
    FAILS("\x01o\x02"
          "au",
          "unexpected end");
    FAILS("\x01r\x00", "not yet decoded");
    FAILS("\x01o\x02"
          "ar\x01\x00",
          "not yet decoded");
    FAILS("\x01"
          "a\x01h\x00h",
          "trailing");
    FAILS("\x01"
          "a\x02u",
          "length larger than the input");
    FAILS("\x01"
          "a\x01u\x02"
          "0u\x00",
          "index key after");
    FAILS("\x01"
          "a\x00\x07lengthi\x02\x00",
          "\"length\"");
    FAILS("\x01"
          "A\x03\x02"
          "3u\x00",
          "past the array's length");
    FAILS("\x01"
          "A\x80\x80\x80\x80\x10\x00",
          "longer than 2^32 - 1");
    FAILS("\x01"
          "D\x00\x00\x00\x00\x00\x00\xe0\x3f",
          "time value"); /* 0.5 */
    FAILS("\x01"
          "D\x00\x00\x00\x00\x00\x00\x00\x80",
          "time value"); /* -0 */
    FAILS("\x01R\x01(\x00", "invalid regular expression");
    FAILS("\x01R\x01"
          "a\x01q",
          "invalid regular expression");
    FAILS("\x01R\x01"
          "a\x02gg",
          "invalid regular expression");
    FAILS("\x01M\x02u", "length larger than the input");
    FAILS("\x01S\x05uuu", "length larger than the input");
    FAILS("\x01"
          "B\x05\x00",
          "length larger than the input");
    FAILS("\x01V\x0c"
          "B\x00\x00\x00",
          "unknown view kind");
    FAILS("\x01V\x01u\x00\x00", "without an ArrayBuffer");
    FAILS("\x01V\x01r\x00\x00\x00", "not yet decoded"); /* its own id */
    FAILS("\x01"
          "a\x02o\x00V\x01r\x01\x00\x00\x00",
          "not an ArrayBuffer");
    FAILS("\x01V\x01"
          "B\x02\x00\x00\x00\x03",
          "outside its ArrayBuffer");
    FAILS("\x01V\x01"
          "B\x02\x00\x00\x03\x00",
          "outside its ArrayBuffer");
    FAILS("\x01V\x03"
          "B\x04\x00\x00\x00\x00\x01\x01",
          "outside its ArrayBuffer"); /* odd */
    FAILS("\x01V\x08"
          "B\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02",
          "outside its");
    FAILS("\x01V\x01"
          "B\x02\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00",
          "outside its ArrayBuffer");
    FAILS("\x01"
          "E\x07\x00",
          "unknown error name");
    FAILS("\x01"
          "E\x00\x08",
          "unknown error name");
    FAILS("\x01"
          "E\x00\x01\x01\xff",
          "WTF-8");
    FAILS("\x01P\x6f\x00", "boxed value");
    FAILS("\x01PP\x69\x00", "boxed value");
    FAILS("\x01Pu", "boxed value");
    FAILS("\x01P", "boxed value");

    /* Edge encodings that are valid, with what they must decode to. */
#define VALID(lit, pred)                                                                           \
    {                                                                                              \
        lit, sizeof(lit) - 1, pred                                                                 \
    }
    static const struct {
        const char *bytes;
        size_t n;
        const char *predicate;
    } valid[] = {
        VALID("\x01o\x02"
              "ar\x00\x00",
              "(c) => c.a === c"),
        VALID("\x01"
              "A\xff\xff\xff\xff\x0f\x00",
              "(c) => c.length === 4294967295"),
        VALID("\x01"
              "a\x02hh\x00",
              "(c) => c.length === 2 && !(0 in c)"),
        VALID("\x01o\x02"
              "au\x02"
              "5u\x00",
              "(c) => Object.keys(c).join() === '5,a'"),
        VALID("\x01o\x02"
              "ai\x02\x02"
              "ai\x04\x00",
              "(c) => c.a === 2"),
        VALID("\x01"
              "B\x00",
              "(c) => c instanceof ArrayBuffer && c.byteLength === 0"),
        VALID("\x01V\x01"
              "B\x02\x00\x00\x02\x00",
              "(c) => c.byteOffset === 2 && c.length === 0"),
        VALID("\x01M\x02i\x00u\x64\x00\x00\x00\x00\x00\x00\x00\x80u",
              "(c) => c.size === 1 && c.has(0)"), /* keys 0 and -0 are one key */
    };
#undef VALID
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        JSValue w = decode_ok((const uint8_t *)valid[i].bytes, valid[i].n, valid[i].predicate);
        JSValue fn = eval(valid[i].predicate);
        JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&w);
        if (!JS_ToBool(ctx, r))
            fail_msg("predicate %s is false", valid[i].predicate);
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, fn);
        JS_FreeValue(ctx, w);
    }
}

/* Declared lengths far past the input must be refused before anything is
 * allocated for them (ASan would report a huge allocation otherwise). */
static void test_huge_lengths(void **state)
{
    static const char big[] = "\xff\xff\xff\xff\xff\xff\xff\xff\x7f"; /* 2^63 - 1 */
    static const char tags[] = "szBMSa";
    for (const char *t = tags; *t; t++) {
        uint8_t in[16] = {CODEC_VERSION, (uint8_t)*t};
        memcpy(in + 2, big, 9);
        JSValue v = codec_decode(ctx, in, 11);
        assert_true(JS_IsException(v));
        free(take_exception());
    }
    /* A property key that claims 2^63 bytes, a view with a huge offset. */
    FAILS("\x01o\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "longer than the input");
    FAILS("\x01R\xff\xff\xff\xff\x0f", "longer than the input");
    FAILS("\x01"
          "E\x00\x01\xff\xff\xff\xff\x0f",
          "longer than the input");
    FAILS("\x01z\xfe\xff\xff\xff\x0f", "BigInt longer than the input");
}

/* Every strict prefix of a valid encoding is an error, never a crash, and
 * every single-byte corruption either decodes to something re-encodable or
 * is an error. */
static void test_truncations_and_corruptions(void **state)
{
    static const char *const srcs[] = {
        "({a: [1, 'x', 2n**80n, -0, NaN, new Date(3)], b: new Map([[1, new Set([2])]]), "
        "c: /re/gi, d: new Error('e', {cause: 1}), e: new Int16Array([1, 2, 3]), "
        "f: '\\ud800\\u00e9', g: Object('s')})",
        "(() => { const o = {}; o.o = o; const b = new ArrayBuffer(8); "
        "return [o, new Uint8Array(b, 1, 2), new DataView(b), [, , 1], -(2n**64n)]; })()",
    };
    uint32_t seed = 12345;
    for (size_t s = 0; s < sizeof srcs / sizeof srcs[0]; s++) {
        JSValue v = eval(srcs[s]);
        buf_t b = BUF_INIT;
        encode_ok(v, &b, srcs[s]);
        JS_FreeValue(ctx, v);
        for (size_t n = 0; n < b.len; n++) {
            JSValue w = codec_decode(ctx, b.data, n);
            if (!JS_IsException(w))
                fail_msg("prefix of %zu/%zu bytes decoded", n, b.len);
            char *m = take_exception();
            if (strncmp(m, "TypeError: ", 11))
                fail_msg("prefix of %zu bytes: %s", n, m);
            free(m);
        }
        for (size_t i = 1; i < b.len; i++) {
            for (int k = 0; k < 8; k++) {
                uint8_t *copy = malloc(b.len);
                memcpy(copy, b.data, b.len);
                seed = seed * 1103515245 + 12345;
                copy[i] =
                    k < 4 ? (uint8_t)(copy[i] ^ (1u << (seed >> 16) % 8)) : (uint8_t)(seed >> 16);
                JSValue w = codec_decode(ctx, copy, b.len);
                if (JS_IsException(w)) {
                    free(take_exception());
                } else {
                    buf_t again = BUF_INIT;
                    encode_ok(w, &again, "a corrupted value that decoded");
                    JSValue w2 = decode_ok(again.data, again.len, "its re-encoding");
                    JS_FreeValue(ctx, w2);
                    buf_deinit(&again);
                    JS_FreeValue(ctx, w);
                }
                free(copy);
            }
        }
        buf_deinit(&b);
    }
}

static void test_random_bytes(void **state)
{
    /* Bytes drawn mostly from the tag alphabet, so decoding gets past the
     * first byte and into nested values. */
    static const char alphabet[] = "unftidzsoaAhDRMSBVEPr\x00\x01\x02\x03\x7f\x80\xff";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint8_t in[64];
    int decoded = 0;
    for (int iter = 0; iter < 50000; iter++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        size_t n = 1 + seed % sizeof in;
        uint64_t x = seed;
        in[0] = CODEC_VERSION;
        for (size_t i = 1; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            in[i] = (x >> 60) < 12 ? (uint8_t)alphabet[(x >> 33) % (sizeof alphabet - 1)]
                                   : (uint8_t)(x >> 40);
        }
        JSValue w = codec_decode(ctx, in, n);
        if (JS_IsException(w)) {
            free(take_exception());
            continue;
        }
        decoded++;
        buf_t again = BUF_INIT;
        encode_ok(w, &again, "a random input that decoded");
        JSValue w2 = decode_ok(again.data, again.len, "its re-encoding");
        JS_FreeValue(ctx, w2);
        JS_FreeValue(ctx, w);
        buf_deinit(&again);
    }
    print_message("random inputs that decoded: %d of 50000\n", decoded);
    JS_RunGC(rt);
}

static void test_depth(void **state)
{
    /* Exactly CODEC_MAX_DEPTH nested arrays round-trip; one more does not
     * encode (RangeError) nor decode (TypeError). */
    char src[128];
    snprintf(src, sizeof src,
             "(() => { let a = 1; for (let i = 0; i < %d; i++) a = [a]; "
             "return a; })()",
             CODEC_MAX_DEPTH);
    JSValue v = eval(src);
    buf_t b = BUF_INIT;
    encode_ok(v, &b, "the deepest value");
    JS_FreeValue(ctx, v);
    JSValue w = decode_ok(b.data, b.len, "the deepest value");
    snprintf(src, sizeof src,
             "(c) => { let n = 0; while (Array.isArray(c)) { c = c[0]; n++; } "
             "return n === %d && c === 1; }",
             CODEC_MAX_DEPTH);
    JSValue fn = eval(src);
    JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&w);
    assert_true(JS_ToBool(ctx, r));
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, w);
    buf_reset(&b);
    snprintf(src, sizeof src,
             "(() => { let a = 1; for (let i = 0; i < %d; i++) a = [a]; "
             "return a; })()",
             CODEC_MAX_DEPTH + 1);
    v = eval(src);
    assert_int_equal(codec_encode(ctx, v, &b), -1);
    char *m = take_exception();
    assert_non_null(strstr(m, "RangeError: DataCloneError"));
    free(m);
    JS_FreeValue(ctx, v);

    /* A bomb: a million nested one-element arrays, then with maps. */
    size_t n = 1000000;
    uint8_t *bomb = malloc(1 + 2 * n + 1);
    bomb[0] = CODEC_VERSION;
    for (size_t i = 0; i < n; i++) {
        bomb[1 + 2 * i] = 'a';
        bomb[2 + 2 * i] = 1;
    }
    bomb[1 + 2 * n] = 'u';
    decode_fails(bomb, 2 + 2 * n, "nested too deep");
    for (size_t i = 0; i < n; i++)
        bomb[1 + 2 * i] = i % 2 ? 'S' : 'P';
    decode_fails(bomb, 2 + 2 * n, "");
    for (size_t i = 0; i < n; i++)
        bomb[1 + 2 * i] = 'S';
    decode_fails(bomb, 2 + 2 * n, "nested too deep");
    free(bomb);
    buf_deinit(&b);
}

static void expect_uncloneable(const char *src, const char *message)
{
    JSValue v = eval(src);
    buf_t b = BUF_INIT;
    if (codec_encode(ctx, v, &b) != -1)
        fail_msg("%s encoded", src);
    char *m = take_exception();
    if (strcmp(m, message))
        fail_msg("%s: got \"%s\", expected \"%s\"", src, m, message);
    free(m);
    assert_int_equal(b.len, 0);
    JSValue c = codec_clone(ctx, v);
    assert_true(JS_IsException(c));
    free(take_exception());
    JS_FreeValue(ctx, v);
    buf_deinit(&b);
}

static void test_uncloneable(void **state)
{
    expect_uncloneable("(function foo() {})",
                       "TypeError: DataCloneError: function foo() {} could not be cloned.");
    expect_uncloneable("({f: function foo() {}})",
                       "TypeError: DataCloneError: function foo() {} could not be cloned.");
    expect_uncloneable("Symbol('x')", "TypeError: DataCloneError: Symbol(x) could not be cloned.");
    expect_uncloneable("[1, Symbol()]", "TypeError: DataCloneError: Symbol() could not be cloned.");
    expect_uncloneable("new WeakMap()",
                       "TypeError: DataCloneError: #<WeakMap> could not be cloned.");
    expect_uncloneable("new WeakSet()",
                       "TypeError: DataCloneError: #<WeakSet> could not be cloned.");
    expect_uncloneable("Promise.resolve(1)",
                       "TypeError: DataCloneError: #<Promise> could not be cloned.");
    expect_uncloneable("new Map([[1, () => 2]])",
                       "TypeError: DataCloneError: () => 2 could not be cloned.");
    expect_uncloneable("new Proxy({}, {})",
                       "TypeError: DataCloneError: #<Object> could not be cloned.");
    expect_uncloneable("new SharedArrayBuffer(4)",
                       "TypeError: DataCloneError: #<SharedArrayBuffer> could not be cloned.");
    expect_uncloneable("new Uint8Array(new SharedArrayBuffer(4))",
                       "TypeError: DataCloneError: #<SharedArrayBuffer> could not be cloned.");
    expect_uncloneable("Object(Symbol('w'))",
                       "TypeError: DataCloneError: #<Symbol> could not be cloned.");
    expect_uncloneable("(function* gen() {})()",
                       "TypeError: DataCloneError: #<Generator> could not be cloned.");
    expect_uncloneable("new WeakRef({})",
                       "TypeError: DataCloneError: #<WeakRef> could not be cloned.");
    expect_uncloneable("(class Foo {})",
                       "TypeError: DataCloneError: class Foo {} could not be cloned.");
    /* A long function source is shortened in the message. */
    JSValue v = eval("(function () { return '"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'; })");
    buf_t b = BUF_INIT;
    assert_int_equal(codec_encode(ctx, v, &b), -1);
    char *m = take_exception();
    assert_true(strlen(m) < 250);
    assert_non_null(strstr(m, "... could not be cloned."));
    free(m);
    JS_FreeValue(ctx, v);
    /* A detached buffer refuses too. */
    static const char *const detached[] = {
        "[new ArrayBuffer(4)]",
        "(() => { const b = new ArrayBuffer(4); return [b, new Uint8Array(b)]; })()",
        "(() => { const b = new ArrayBuffer(4); return [b, new DataView(b)]; })()",
    };
    for (size_t i = 0; i < sizeof detached / sizeof detached[0]; i++) {
        v = eval(detached[i]);
        JSValue buffer = JS_GetPropertyUint32(ctx, v, 0);
        JS_DetachArrayBuffer(ctx, buffer);
        /* The view alone, then the array holding the buffer first. */
        JSValue view = JS_GetPropertyUint32(ctx, v, 1);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(codec_encode(ctx, k ? v : (i ? view : buffer), &b), -1);
            m = take_exception();
            assert_string_equal(m, "TypeError: DataCloneError: An ArrayBuffer is detached "
                                   "and could not be cloned.");
            free(m);
        }
        JS_FreeValue(ctx, view);
        JS_FreeValue(ctx, buffer);
        JS_FreeValue(ctx, v);
    }
    buf_deinit(&b);
}

static void test_clone(void **state)
{
    JSValue v = eval("(() => { const o = {n: 1, m: new Map([['k', [1, 2]]])}; o.me = o; "
                     "return o; })()");
    JSValue c = codec_clone(ctx, v);
    assert_false(JS_IsException(c));
    check_same(v, c, "codec_clone");
    JS_FreeValue(ctx, c);
    JS_FreeValue(ctx, v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitives),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_bigints),
        cmocka_unit_test(test_objects_and_arrays),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_sharing_and_cycles),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_huge_lengths),
        cmocka_unit_test(test_truncations_and_corruptions),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_uncloneable),
        cmocka_unit_test(test_clone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
