// URLSearchParams: constructors, the form-urlencoded parser and serializer, and every method.

test("parses a query string", () => {
    const p = new URLSearchParams("?a=1&b=x%20y&c=d+e&a=2&&empty=&novalue&=v");
    assertEq([...p], [["a", "1"], ["b", "x y"], ["c", "d e"], ["a", "2"], ["empty", ""], ["novalue", ""], ["", "v"]]);
    assertEq(p.get("a"), "1");
    assertEq(p.getAll("a"), ["1", "2"]);
    assertEq(p.get("missing"), null);
    assertEq(p.getAll("missing"), []);
    assertEq(p.size, 7);
});

test("only one leading ? is removed", () => {
    assertEq([...new URLSearchParams("??a=1")], [["?a", "1"]]);
    assertEq([...new URLSearchParams("a=b=c")], [["a", "b=c"]]);
});

test("percent-decoding is lenient and replaces bad UTF-8", () => {
    const p = new URLSearchParams("a=%zz&b=%&c=%e2%82%ac&d=%ff&e=%E2%82&f=%2B+");
    assertEq(p.get("a"), "%zz");
    assertEq(p.get("b"), "%");
    assertEq(p.get("c"), "\u20ac");
    assertEq(p.get("d"), "\ufffd");
    assertEq(p.get("e"), "\ufffd");
    assertEq(p.get("f"), "+ ");
    assertEq(new URLSearchParams("%C3%A9=1").get("é"), "1");
});

test("serializes as application/x-www-form-urlencoded", () => {
    const p = new URLSearchParams();
    p.append("a b", "c+d");
    p.append("é", "€");
    p.append("sym", "*-._~!'()&=/?#%");
    assertEq(p.toString(), "a+b=c%2Bd&%C3%A9=%E2%82%AC&sym=*-._%7E%21%27%28%29%26%3D%2F%3F%23%25");
    assertEq(`${p}`, p.toString());
    assertEq(new URLSearchParams("a=%20").toString(), "a=+");
    assertEq(new URLSearchParams().toString(), "");
    assertEq(new URLSearchParams({ k: "\ud800" }).toString(), "k=%EF%BF%BD");
});

test("constructs from a record, pairs, another URLSearchParams", () => {
    assertEq([...new URLSearchParams({ a: "1", b: 2 })], [["a", "1"], ["b", "2"]]);
    assertEq([...new URLSearchParams([["a", "1"], ["a", "2"]])], [["a", "1"], ["a", "2"]]);
    const src = new URLSearchParams("x=1");
    const copy = new URLSearchParams(src);
    copy.append("y", "2");
    assertEq(src.toString(), "x=1");
    assertEq(copy.toString(), "x=1&y=2");
    assertEq([...new URLSearchParams(new Map([["m", "v"]]))], [["m", "v"]]);
    assertThrows(() => new URLSearchParams([["a"]]), TypeError);
    assertThrows(() => new URLSearchParams([["a", "b", "c"]]), TypeError);
    assertThrows(() => new URLSearchParams([1]), TypeError);
    assertEq([...new URLSearchParams(undefined)], []);
    assertEq([...new URLSearchParams(null)], [["null", ""]]);
    assertEq([...new URLSearchParams(12)], [["12", ""]]);
});

test("set replaces the first and removes the rest", () => {
    const p = new URLSearchParams("a=1&b=2&a=3&c=4");
    p.set("a", "x");
    assertEq(p.toString(), "a=x&b=2&c=4");
    p.set("d", "5");
    assertEq(p.toString(), "a=x&b=2&c=4&d=5");
});

test("delete and has with and without a value", () => {
    const p = new URLSearchParams("a=1&a=2&b=1");
    assertEq(p.has("a"), true);
    assertEq(p.has("a", "2"), true);
    assertEq(p.has("a", "3"), false);
    p.delete("a", "2");
    assertEq(p.toString(), "a=1&b=1");
    p.delete("a");
    assertEq(p.toString(), "b=1");
    p.delete("b", undefined);
    assertEq(p.toString(), "");
});

test("sort is stable and by code units", () => {
    const p = new URLSearchParams("z=1&a=2&z=0&a=1&\ud83d\ude00=e&\ufb03=f&B=3");
    p.sort();
    assertEq([...p.keys()], ["B", "a", "a", "z", "z", "\ud83d\ude00", "\ufb03"]);
    assertEq(p.getAll("a"), ["2", "1"]);
    assertEq(p.getAll("z"), ["1", "0"]);
});

test("iteration, forEach, keys, values", () => {
    const p = new URLSearchParams("a=1&b=2");
    assertEq([...p.keys()], ["a", "b"]);
    assertEq([...p.values()], ["1", "2"]);
    assertEq([...p.entries()], [["a", "1"], ["b", "2"]]);
    const seen = [];
    p.forEach((v, k, o) => seen.push([k, v, o === p]));
    assertEq(seen, [["a", "1", true], ["b", "2", true]]);
    assertEq(URLSearchParams.prototype[Symbol.iterator] === URLSearchParams.prototype.entries, true);
});

test("iterators are live", () => {
    const p = new URLSearchParams("a=1&b=2&c=3");
    const seen = [];
    for (const [k] of p) {
        seen.push(k);
        if (k === "a")
            p.delete("b");
    }
    assertEq(seen, ["a", "c"]);
});

test("arguments are required and converted", () => {
    const p = new URLSearchParams();
    assertThrows(() => p.append("a"), TypeError);
    assertThrows(() => p.get(), TypeError);
    assertThrows(() => p.set("a"), TypeError);
    p.append(1, null);
    assertEq(p.get("1"), "null");
    p.append("u", undefined);
    assertEq(p.get("u"), "undefined");
});

test("a URLSearchParams of a URL updates it", () => {
    const u = new URL("https://h/path?x=1");
    u.searchParams.append("y", "a b");
    assertEq(u.href, "https://h/path?x=1&y=a+b");
    u.searchParams.delete("x");
    u.searchParams.delete("y");
    assertEq(u.href, "https://h/path");
});

test("URLSearchParams is a well-behaved global class", () => {
    assertEq(Object.prototype.toString.call(new URLSearchParams()), "[object URLSearchParams]");
    assertEq(Object.getOwnPropertyDescriptor(globalThis, "URLSearchParams").enumerable, false);
});
