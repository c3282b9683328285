// console: the log sink, levels, and formatting like Node's util.inspect (short form).

// Logs one line with console.log and returns what the sink received.
function fmt(...args) {
    takeLogs();
    console.log(...args);
    const logs = takeLogs();
    assertEq(logs.length, 1);
    return logs[0][1];
}

test("levels reach the sink", () => {
    takeLogs();
    console.debug("d");
    console.log("l");
    console.info("i");
    console.warn("w");
    console.error("e");
    assertEq(takeLogs(), [[0, "d"], [1, "l"], [1, "i"], [2, "w"], [3, "e"]]);
});

test("primitives: strings bare at top level, quoted inside", () => {
    assertEq(fmt("plain"), "plain");
    assertEq(fmt("a", "b"), "a b");
    assertEq(fmt(), "");
    assertEq(fmt(""), "");
    assertEq(fmt(1, -0, 1.5, NaN, Infinity), "1 -0 1.5 NaN Infinity");
    assertEq(fmt(10n, true, null, undefined), "10n true null undefined");
    assertEq(fmt(Symbol("s"), Symbol()), "Symbol(s) Symbol()");
    assertEq(fmt(["x"]), "[ 'x' ]");
    assertEq(fmt({ s: "it's" }), `{ s: "it's" }`);
    assertEq(fmt({ s: `it's "q"` }), "{ s: `it's \"q\"` }");
    assertEq(fmt({ s: "a\nb\t\\\x01" }), "{ s: 'a\\nb\\t\\\\\\x01' }");
});

test("objects and arrays", () => {
    assertEq(fmt("a", { b: 1 }), "a { b: 1 }");
    assertEq(fmt({ a: 1, b: "x" }), "{ a: 1, b: 'x' }");
    assertEq(fmt([1, 2]), "[ 1, 2 ]");
    assertEq(fmt([]), "[]");
    assertEq(fmt({}), "{}");
    assertEq(fmt({ "a-b": 1, $ok: 2, _u: 3, "1x": 4, "": 5 }), "{ 'a-b': 1, '$ok': 2, _u: 3, '1x': 4, '': 5 }".replace("'$ok'", "$ok"));
    assertEq(fmt({ [Symbol("k")]: 1 }), "{ [Symbol(k)]: 1 }");
    assertEq(fmt({ get g() { return 1; }, set s(v) {}, get gs() { return 1; }, set gs(v) {} }),
        "{ g: [Getter], s: [Setter], gs: [Getter/Setter] }");
    assertEq(fmt([1, , 3]), "[ 1, <1 empty item>, 3 ]");
    assertEq(fmt([, , ,]), "[ <3 empty items> ]");
    const a = [1, 2];
    a.extra = true;
    assertEq(fmt(a), "[ 1, 2, extra: true ]");
    assertEq(fmt(Object.create(null)), "[Object: null prototype] {}");
    const n = Object.create(null);
    n.x = 1;
    assertEq(fmt(n), "[Object: null prototype] { x: 1 }");
});

test("nesting stops at depth 2", () => {
    assertEq(fmt({ a: { b: { c: { d: 1 } } } }), "{ a: { b: { c: [Object] } } }");
    assertEq(fmt([[[[1]]]]), "[ [ [ [Array] ] ] ]");
    assertEq(fmt({ a: [{ b: { c: 1 } }] }), "{ a: [ { b: [Object] } ] }");
    class Deep { constructor() { this.v = 1; } }
    assertEq(fmt({ a: { b: { c: new Deep() } } }), "{ a: { b: { c: [Deep] } } }");
    assertEq(fmt({ a: { b: { f() {} } } }), "{ a: { b: { f: [Function: f] } } }");
});

test("long objects break over lines with two-space indentation", () => {
    const o = { aaaaaaaaaa: "a".repeat(20), bbbbbbbbbb: "b".repeat(20), cccccccccc: "c".repeat(20) };
    assertEq(fmt(o), "{\n  aaaaaaaaaa: 'aaaaaaaaaaaaaaaaaaaa',\n  bbbbbbbbbb: 'bbbbbbbbbbbbbbbbbbbb',\n  cccccccccc: 'cccccccccccccccccccc'\n}");
    assertEq(fmt({ outer: o }), "{\n  outer: {\n    aaaaaaaaaa: 'aaaaaaaaaaaaaaaaaaaa',\n    bbbbbbbbbb: 'bbbbbbbbbbbbbbbbbbbb',\n    cccccccccc: 'cccccccccccccccccccc'\n  }\n}");
});

test("long arrays of short items are grouped in columns", () => {
    assertEq(fmt([1, 2, 3, 4, 5, 6]), "[ 1, 2, 3, 4, 5, 6 ]");
    assertEq(fmt([1, 2, 3, 4, 5, 6, 7]), "[\n  1, 2, 3, 4,\n  5, 6, 7\n]");
    assertEq(fmt([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), "[\n  1, 2, 3, 4,  5,\n  6, 7, 8, 9, 10\n]");
    assertEq(fmt(["a", "b", "c", "d", "e", "f", "g"]), "[\n  'a', 'b', 'c',\n  'd', 'e', 'f',\n  'g'\n]");
    const big = fmt(Array.from({ length: 101 }, (_, i) => i));
    assert(big.endsWith("\n  ... 1 more item\n]"), big);
    assert(big.startsWith("[\n   0,  1,  2,"), big);
});

test("Map, Set, Date, RegExp, boxed primitives", () => {
    assertEq(fmt(new Map([["a", 1], [{ k: 1 }, [2]]])), "Map(2) { 'a' => 1, { k: 1 } => [ 2 ] }");
    assertEq(fmt(new Map()), "Map(0) {}");
    assertEq(fmt(new Set([1, "two"])), "Set(2) { 1, 'two' }");
    assertEq(fmt(new Set()), "Set(0) {}");
    assertEq(fmt(new Date(0)), "1970-01-01T00:00:00.000Z");
    assertEq(fmt(new Date(NaN)), "Invalid Date");
    assertEq(fmt({ d: new Date(86400000) }), "{ d: 1970-01-02T00:00:00.000Z }");
    assertEq(fmt(/a+b/gi), "/a+b/gi");
    assertEq(fmt(new Number(3), new String("ab"), new Boolean(false)), "[Number: 3] [String: 'ab'] [Boolean: false]");
    assertEq(fmt(new WeakMap(), new WeakSet()), "WeakMap { <items unknown> } WeakSet { <items unknown> }");
    class MyMap extends Map {}
    assertEq(fmt(new MyMap([[1, 2]])), "MyMap(1) [Map] { 1 => 2 }");
});

test("typed arrays and buffers", () => {
    assertEq(fmt(new Uint8Array([1, 2])), "Uint8Array(2) [ 1, 2 ]");
    assertEq(fmt(new Uint8Array(0)), "Uint8Array(0) []");
    assertEq(fmt(new Float64Array([0.5])), "Float64Array(1) [ 0.5 ]");
    assertEq(fmt(new BigInt64Array([1n])), "BigInt64Array(1) [ 1n ]");
    assertEq(fmt(new Uint8Array([1, 255]).buffer), "ArrayBuffer { [Uint8Contents]: <01 ff>, byteLength: 2 }");
});

test("functions and classes", () => {
    function foo() {}
    class Bar {}
    class Baz extends Bar {}
    assertEq(fmt(foo), "[Function: foo]");
    assertEq(fmt(Bar), "[class Bar]");
    assertEq(fmt(Baz), "[class Baz extends Bar]");
    assertEq(fmt(() => {}), "[Function (anonymous)]");
    assertEq(fmt(async function af() {}), "[AsyncFunction: af]");
    assertEq(fmt(function* gen() {}), "[GeneratorFunction: gen]");
    foo.prop = 1;
    assertEq(fmt(foo), "[Function: foo] { prop: 1 }");
    assertEq(fmt({ f: Math.max }), "{ f: [Function: max] }");
});

test("class instances show their class name", () => {
    class Foo { constructor() { this.x = 1; } }
    class Empty {}
    assertEq(fmt(new Foo()), "Foo { x: 1 }");
    assertEq(fmt(new Empty()), "Empty {}");
    class Tagged { get [Symbol.toStringTag]() { return "T"; } }
    assertEq(fmt(new Tagged()), "Tagged [T] {}");
    assertEq(fmt({ [Symbol.toStringTag]: "X" }), "Object [X] { [Symbol(Symbol.toStringTag)]: 'X' }");
});

test("cycles are marked", () => {
    const o = { name: "o" };
    o.self = o;
    assertEq(fmt(o), "<ref *1> { name: 'o', self: [Circular *1] }");
    const a = [1];
    a.push(a);
    assertEq(fmt(a), "<ref *1> [ 1, [Circular *1] ]");
    const x = { y: { } };
    x.y.x = x;
    assertEq(fmt(x), "<ref *1> { y: { x: [Circular *1] } }");
    const shared = { s: 1 };
    assertEq(fmt({ a: shared, b: shared }), "{ a: { s: 1 }, b: { s: 1 } }", "a repeated object is not a cycle");
});

test("errors print their stack", () => {
    const e = new Error("boom");
    const s = fmt(e);
    assert(s.startsWith("Error: boom\n    at "), s);
    e.code = "E_CODE";
    assert(fmt(e).endsWith(" {\n  code: 'E_CODE'\n}"), fmt(e));
    const t = fmt(new TypeError("bad type"));
    assert(t.startsWith("TypeError: bad type\n    at "), t);
    const nested = fmt({ err: new RangeError("r") });
    assert(nested.startsWith("{\n  err: RangeError: r\n      at "), nested);
    const withCause = fmt(new Error("outer", { cause: "inner" }));
    assert(withCause.includes("[cause]: 'inner'"), withCause);
    class MyError extends Error { constructor(m) { super(m); this.name = "MyError"; } }
    assert(fmt(new MyError("mine")).startsWith("MyError: mine\n"));
    assertEq(fmt("msg:", "x"), "msg: x");
    const noStack = new Error("ns");
    Object.defineProperty(noStack, "stack", { value: "" });
    assertEq(fmt(noStack), "[Error: ns]");
});

test("promises show their state", async () => {
    assertEq(fmt(Promise.resolve(1)), "Promise { 1 }");
    assertEq(fmt(new Promise(() => {})), "Promise { <pending> }");
    const r = Promise.reject(new Error("no"));
    r.catch(() => {});
    assert(fmt(r).startsWith("Promise {\n  <rejected> Error: no\n      at "), fmt(r));
    assertEq(fmt({ p: Promise.resolve("s") }), "{ p: Promise { 's' } }");
});

test("platform objects print usefully", () => {
    assertEq(fmt(new Headers({ "Content-Type": "text/plain", a: "1" })), "Headers { 'content-type': 'text/plain', a: '1' }");
    assertEq(fmt(new Headers()), "Headers {}");
    assertEq(fmt(new URLSearchParams("a=1&a=2")), "URLSearchParams { 'a' => '1', 'a' => '2' }");
    assertEq(fmt(new URLSearchParams()), "URLSearchParams {}");
    const u = fmt(new URL("http://h/p?q=1"));
    assert(u.startsWith("URL {\n  href: 'http://h/p?q=1',\n  origin: 'http://h',\n"), u);
    assert(u.includes("searchParams: URLSearchParams { 'q' => '1' },"), u);
    const r = fmt(new Response("x", { status: 201 }));
    assert(r.startsWith("Response {\n  status: 201,"), r);
    assert(r.includes("body: ReadableStream {\n    locked: false,\n    state: 'readable',\n    supportsBYOB: true\n  }"), r);
    const q = fmt(new Request("http://h/"));
    assert(q.includes("method: 'GET'") && q.includes("url: 'http://h/'"), q);
    assertEq(fmt(Headers.prototype), "Headers {}", "a prototype has no private state to show, and does not throw");
    assertEq(fmt(new DOMException("m", "AbortError")).split("\n")[0], "AbortError: m");
});

test("format specifiers", () => {
    assertEq(fmt("%s is %d", "x", 42), "x is 42");
    assertEq(fmt("%s %s", "a"), "a %s");
    assertEq(fmt("%s", "a", "b"), "a b");
    assertEq(fmt("%d%%", 5), "5%");
    assertEq(fmt("100%%"), "100%%", "a lone string is not formatted");
    assertEq(fmt("%i %f %d", 42.9, "1.5", "abc"), "42 1.5 NaN");
    assertEq(fmt("%d %i", 5n, 6n), "5n 6n");
    assertEq(fmt("%j", { a: [1] }), '{"a":[1]}');
    const c = {};
    c.c = c;
    assertEq(fmt("%j", c), "[Circular]");
    assertEq(fmt("%o / %O", [1], { a: 1 }), "[ 1 ] / { a: 1 }");
    assertEq(fmt("%cstyled", "color: red"), "styled");
    assertEq(fmt("%s", { a: { b: 1 } }), "{ a: [Object] }");
    assertEq(fmt("%s", 1.5), "1.5");
    assertEq(fmt("%x", 1), "%x 1");
    assertEq(fmt("a%", 1), "a% 1");
});

test("assert, count, time, group, dir, trace", () => {
    takeLogs();
    console.assert(true, "never");
    console.assert(false, "went %s", "wrong");
    console.assert(0);
    assertEq(takeLogs(), [[2, "Assertion failed: went wrong"], [2, "Assertion failed"]]);
    console.count();
    console.count("x");
    console.count();
    console.countReset();
    console.count();
    assertEq(takeLogs(), [[1, "default: 1"], [1, "x: 1"], [1, "default: 2"], [1, "default: 1"]]);
    console.time("t");
    console.timeLog("t", "mid");
    console.timeEnd("t");
    const times = takeLogs();
    assertEq(times.length, 2);
    assert(/^t: \d+\.\d{3}ms mid$/.test(times[0][1]), times[0][1]);
    assert(/^t: \d+\.\d{3}ms$/.test(times[1][1]), times[1][1]);
    console.timeEnd("t");
    assertEq(takeLogs()[0][0], 2, "an unknown timer is a warning");
    console.group("G");
    console.log("in\nside");
    console.groupEnd();
    console.log("out");
    assertEq(takeLogs(), [[1, "G"], [1, "  in\n  side"], [1, "out"]]);
    console.dir({ a: { b: { c: { d: {} } } } }, { depth: 0 });
    assertEq(takeLogs(), [[1, "{ a: [Object] }"]]);
    console.trace("here %d", 1);
    const tr = takeLogs();
    assert(tr[0][1].startsWith("Trace: here 1\n    at "), tr[0][1]);
    console.table([1]);
    assertEq(takeLogs(), [[1, "[ 1 ]"]]);
});

test("console is a global object with methods", () => {
    const d = Object.getOwnPropertyDescriptor(globalThis, "console");
    assertEq([d.enumerable, d.writable, d.configurable], [false, true, true]);
    for (const m of ["log", "info", "warn", "error", "debug", "trace", "assert", "dir", "table", "count", "time", "timeEnd", "group", "groupEnd"])
        assertEq(typeof console[m], "function", m);
    const log = console.log;
    takeLogs();
    log("detached");
    assertEq(takeLogs(), [[1, "detached"]]);
});

test("a throwing toString or getter does not break logging", () => {
    const o = { get boom() { throw new Error("x"); } };
    assertEq(fmt(o), "{ boom: [Getter] }");
    const p = new Proxy({}, {});
    assertEq(fmt(p), "{}");
});
