// Headers: case-insensitivity, ordering, set-cookie, normalization, validation, iteration.

test("get is case-insensitive and names iterate lowercased", () => {
    const h = new Headers({ "Content-Type": "text/html", "X-Foo": "1" });
    assertEq(h.get("content-type"), "text/html");
    assertEq(h.get("CONTENT-TYPE"), "text/html");
    assertEq(h.has("x-FOO"), true);
    assertEq(h.has("x-bar"), false);
    assertEq(h.get("x-bar"), null);
    assertEq([...h.keys()], ["content-type", "x-foo"]);
});

test("iteration is sorted by name", () => {
    const h = new Headers();
    h.append("Zeta", "z");
    h.append("alpha", "a");
    h.append("Mid", "m");
    assertEq([...h], [["alpha", "a"], ["mid", "m"], ["zeta", "z"]]);
    assertEq([...h.entries()], [["alpha", "a"], ["mid", "m"], ["zeta", "z"]]);
    assertEq([...h.values()], ["a", "m", "z"]);
});

test("append combines with comma-space, set replaces", () => {
    const h = new Headers();
    h.append("Accept", "text/html");
    h.append("accept", "application/json");
    assertEq(h.get("accept"), "text/html, application/json");
    assertEq([...h], [["accept", "text/html, application/json"]]);
    h.set("ACCEPT", "*/*");
    assertEq(h.get("accept"), "*/*");
});

test("delete removes every value of a name", () => {
    const h = new Headers([["a", "1"], ["A", "2"], ["b", "3"]]);
    h.delete("a");
    assertEq(h.has("a"), false);
    assertEq([...h], [["b", "3"]]);
    h.delete("not-there");
    assertEq([...h.keys()], ["b"]);
});

test("set-cookie values stay separate", () => {
    const h = new Headers();
    h.append("Set-Cookie", "a=1; Path=/");
    h.append("set-cookie", "b=2");
    h.append("X-Other", "x");
    assertEq(h.getSetCookie(), ["a=1; Path=/", "b=2"]);
    assertEq(h.get("set-cookie"), "a=1; Path=/, b=2");
    assertEq([...h], [["set-cookie", "a=1; Path=/"], ["set-cookie", "b=2"], ["x-other", "x"]]);
    h.set("set-cookie", "c=3");
    assertEq(h.getSetCookie(), ["c=3"]);
    h.delete("Set-Cookie");
    assertEq(h.getSetCookie(), []);
    assertEq(h.has("set-cookie"), false);
});

test("getSetCookie returns a copy", () => {
    const h = new Headers([["set-cookie", "a=1"]]);
    h.getSetCookie().push("b=2");
    assertEq(h.getSetCookie(), ["a=1"]);
});

test("values are trimmed of HTTP whitespace", () => {
    const h = new Headers({ a: "  x y \t" });
    assertEq(h.get("a"), "x y");
    h.set("b", "\r\n\tz\n");
    assertEq(h.get("b"), "z");
    h.append("c", "");
    assertEq(h.get("c"), "");
    assertEq(h.has("c"), true);
    h.append("d", "   ");
    assertEq(h.get("d"), "");
});

test("values keep inner whitespace and other control characters", () => {
    const h = new Headers({ a: "x\ty  z", b: "\x01\x7f" });
    assertEq(h.get("a"), "x\ty  z");
    assertEq(h.get("b"), "\x01\x7f");
});

test("invalid names throw TypeError", () => {
    for (const bad of ["", "a b", "a:b", "é", "a\n", "(x)", "[", "a/b", "\u0100"]) {
        assertThrows(() => new Headers([[bad, "v"]]), TypeError, /header name/, JSON.stringify(bad));
        assertThrows(() => new Headers().append(bad, "v"), TypeError, undefined, JSON.stringify(bad));
        assertThrows(() => new Headers().get(bad), TypeError, undefined, JSON.stringify(bad));
        assertThrows(() => new Headers().has(bad), TypeError);
        assertThrows(() => new Headers().delete(bad), TypeError);
        assertThrows(() => new Headers().set(bad, "v"), TypeError);
    }
});

test("every token character is a valid name", () => {
    const name = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const h = new Headers([[name, "v"]]);
    assertEq(h.get(name), "v");
    assertEq([...h.keys()], [name.toLowerCase()]);
});

test("invalid values throw TypeError", () => {
    for (const bad of ["a\nb", "a\rb", "a\0b", "\u0100", "snow \u2603"]) {
        assertThrows(() => new Headers({ a: bad }), TypeError, /header value/, JSON.stringify(bad));
        assertThrows(() => new Headers().set("a", bad), TypeError);
        assertThrows(() => new Headers().append("a", bad), TypeError);
    }
});

test("Latin-1 values are allowed", () => {
    const h = new Headers({ a: "caf\u00e9 \u00ff" });
    assertEq(h.get("a"), "caf\u00e9 \u00ff");
});

test("values are converted to strings", () => {
    const h = new Headers();
    h.set("n", 42);
    h.set("b", true);
    h.set("o", { toString: () => "obj" });
    assertEq(h.get("n"), "42");
    assertEq(h.get("b"), "true");
    assertEq(h.get("o"), "obj");
    assertThrows(() => h.set("s", Symbol("x")), TypeError);
});

test("constructor takes pairs, records, Headers, and iterables", () => {
    const a = new Headers([["X", "1"], ["x", "2"]]);
    assertEq(a.get("x"), "1, 2");
    const b = new Headers(a);
    b.set("x", "3");
    assertEq(a.get("x"), "1, 2", "the copy is independent");
    assertEq(b.get("x"), "3");
    const c = new Headers(new Map([["m", "v"]]));
    assertEq(c.get("m"), "v");
    function* gen() { yield ["g", "1"]; yield new Set(["h", "2"]); }
    const d = new Headers(gen());
    assertEq([...d], [["g", "1"], ["h", "2"]]);
    const e = new Headers({ b: "2", a: "1" });
    assertEq([...e], [["a", "1"], ["b", "2"]]);
    assertEq([...new Headers(undefined)], []);
});

test("constructor copies set-cookie from another Headers", () => {
    const a = new Headers();
    a.append("set-cookie", "a=1");
    a.append("set-cookie", "b=2");
    const b = new Headers(a);
    assertEq(b.getSetCookie(), ["a=1", "b=2"]);
});

test("bad constructor arguments throw TypeError", () => {
    assertThrows(() => new Headers([["a"]]), TypeError);
    assertThrows(() => new Headers([["a", "b", "c"]]), TypeError);
    assertThrows(() => new Headers(["ab"]), TypeError);
    assertThrows(() => new Headers(null), TypeError);
    assertThrows(() => new Headers(42), TypeError);
    assertThrows(() => new Headers("a: b"), TypeError);
    assertThrows(() => new Headers({ [Symbol("s")]: "x" }), TypeError);
    assertThrows(() => Headers(), TypeError);
});

test("record constructor ignores inherited and non-enumerable keys", () => {
    const proto = { inherited: "x" };
    const o = Object.create(proto);
    o.own = "y";
    Object.defineProperty(o, "hidden", { value: "z", enumerable: false });
    assertEq([...new Headers(o)], [["own", "y"]]);
});

test("missing arguments throw TypeError", () => {
    const h = new Headers();
    assertThrows(() => h.get(), TypeError);
    assertThrows(() => h.append("a"), TypeError);
    assertThrows(() => h.set("a"), TypeError);
    assertThrows(() => h.has(), TypeError);
    assertThrows(() => h.delete(), TypeError);
});

test("forEach passes value, name, headers in sorted order", () => {
    const h = new Headers({ b: "2", a: "1" });
    const seen = [];
    h.forEach(function (value, name, obj) {
        seen.push([value, name, obj === h, this.tag]);
    }, { tag: "t" });
    assertEq(seen, [["1", "a", true, "t"], ["2", "b", true, "t"]]);
    assertThrows(() => h.forEach("nope"), TypeError);
});

test("iterators are iterable and see a snapshot of the sorted list", () => {
    const h = new Headers({ b: "2" });
    const it = h.entries();
    assertEq(typeof it.next, "function");
    assertEq(it[Symbol.iterator]() === it, true);
    h.append("a", "1");
    assertEq([...h.keys()], ["a", "b"]);
});

test("methods need a real Headers", () => {
    assertThrows(() => Headers.prototype.get.call({}, "a"), TypeError);
    assertThrows(() => Headers.prototype.append.call({}, "a", "b"), TypeError);
});

test("Headers is a well-behaved global class", () => {
    const d = Object.getOwnPropertyDescriptor(globalThis, "Headers");
    assertEq(d.enumerable, false);
    assertEq(d.writable, true);
    assertEq(d.configurable, true);
    assertEq(Object.prototype.toString.call(new Headers()), "[object Headers]");
    assertEq(Headers.prototype[Symbol.iterator] === Headers.prototype.entries, true);
    class MyHeaders extends Headers {}
    const m = new MyHeaders({ a: "1" });
    assertEq(m.get("a"), "1");
    assertEq(m instanceof Headers, true);
});

test("Response.redirect headers are immutable", () => {
    const r = Response.redirect("https://example.com/", 301);
    assertThrows(() => r.headers.set("location", "x"), TypeError, /immutable/);
    assertThrows(() => r.headers.append("x", "y"), TypeError, /immutable/);
    assertThrows(() => r.headers.delete("location"), TypeError, /immutable/);
    assertEq(r.headers.get("location"), "https://example.com/");
});

test("a cached name still validates other spellings", () => {
    const h = new Headers();
    h.set("X-Cache-Me", "1");
    assertEq(h.get("x-cache-me"), "1");
    assertEq(h.get("X-CACHE-ME"), "1");
    assertThrows(() => h.get("x cache"), TypeError);
});
