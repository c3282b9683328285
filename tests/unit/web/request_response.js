// Request and Response: constructors, every body kind, reading once, clone, statuses, the static helpers.

const u8 = (...b) => new Uint8Array(b);

test("Response from a string", async () => {
    const r = new Response("héllo");
    assertEq([r.status, r.statusText, r.ok, r.type, r.url, r.redirected], [200, "", true, "default", "", false]);
    assertEq(r.headers.get("content-type"), "text/plain;charset=UTF-8");
    assertEq(r.bodyUsed, false);
    assertEq(await r.text(), "héllo");
    assertEq(r.bodyUsed, true);
});

test("Response body kinds and their content types", async () => {
    assertEq(await new Response(u8(1, 2, 3)).bytes(), u8(1, 2, 3));
    assertEq(new Response(u8(1)).headers.get("content-type"), null);
    assertEq(await new Response(u8(1, 2, 3, 4).buffer).bytes(), u8(1, 2, 3, 4));
    assertEq(await new Response(new Uint16Array([0x6968])).text(), "hi");
    assertEq(await new Response(new DataView(u8(0x61, 0x62, 0x63).buffer, 1)).text(), "bc");
    const p = new Response(new URLSearchParams({ a: "1 2", b: "é" }));
    assertEq(p.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
    assertEq(await p.text(), "a=1+2&b=%C3%A9");
    assertEq(await new Response(12).text(), "12");
    assertEq(await new Response({}).text(), "[object Object]");
    assertEq(await new Response(null).text(), "");
    assertEq(await new Response(undefined).text(), "");
    assertEq(await new Response().text(), "");
    assertEq(await new Response("\ud800").text(), "\ufffd");
});

test("a body is copied at construction", async () => {
    const src = u8(1, 2, 3);
    const r = new Response(src);
    src[0] = 9;
    assertEq(await r.bytes(), u8(1, 2, 3));
    const buf = new ArrayBuffer(2);
    const r2 = new Response(buf);
    new Uint8Array(buf)[0] = 7;
    assertEq(await r2.bytes(), u8(0, 0));
});

test("an explicit content-type wins", async () => {
    const r = new Response("x", { headers: { "Content-Type": "text/html" } });
    assertEq(r.headers.get("content-type"), "text/html");
    const q = new Request("http://h/", { method: "POST", body: "x", headers: [["content-type", "a/b"]] });
    assertEq(q.headers.get("content-type"), "a/b");
});

test("reading methods", async () => {
    assertEq(await new Response('{"a":[1,2]}').json(), { a: [1, 2] });
    const ab = await new Response("abc").arrayBuffer();
    assert(ab instanceof ArrayBuffer);
    assertEq(new Uint8Array(ab), u8(0x61, 0x62, 0x63));
    const b = await new Response("é").bytes();
    assert(b instanceof Uint8Array);
    assertEq(b, u8(0xc3, 0xa9));
    assertEq(await new Response(u8(0xef, 0xbb, 0xbf, 0x68, 0x69)).text(), "hi", "text() drops a BOM");
    assertEq(await new Response(u8(0xff, 0x41)).text(), "\ufffdA");
    await assertRejects(new Response("{bad").json(), SyntaxError);
    await assertRejects(new Response("a=1").formData(), TypeError, /must be multipart\/form-data or application\/x-www-form-urlencoded/);
    assertEq(await new Response().json().catch((e) => e.name), "SyntaxError");
});

test("a body can be read only once", async () => {
    const r = new Response("x");
    await r.text();
    await assertRejects(r.text(), TypeError, /Body has already been used/);
    await assertRejects(r.json(), TypeError, /already been used/);
    await assertRejects(r.arrayBuffer(), TypeError);
    await assertRejects(r.bytes(), TypeError);
    assertThrows(() => r.clone(), TypeError);
    const q = new Request("http://h/", { method: "PUT", body: "y" });
    assertEq(await q.text(), "y");
    await assertRejects(q.text(), TypeError, /already been used/);
});

test("a null body can be read again and is never used", async () => {
    const r = new Response(null);
    assertEq(r.body, null);
    assertEq(await r.text(), "");
    assertEq(await r.text(), "");
    assertEq(r.bodyUsed, false);
    assertEq((await r.arrayBuffer()).byteLength, 0);
});

test("reading methods reject, they do not throw", async () => {
    const p = Response.prototype.text.call({});
    assert(p instanceof Promise);
    await assertRejects(p, TypeError);
});

test("clone gives two independent bodies", async () => {
    const r = new Response(u8(1, 2), { status: 201, statusText: "Made", headers: { a: "1" } });
    const c = r.clone();
    assertEq([c.status, c.statusText, c.headers.get("a")], [201, "Made", "1"]);
    c.headers.set("a", "2");
    assertEq(r.headers.get("a"), "1");
    const cb = await c.bytes();
    cb[0] = 9;
    assertEq(await r.bytes(), u8(1, 2));
    const q = new Request("http://h/x", { method: "POST", body: "b", headers: { k: "v" }, redirect: "manual" });
    const qc = q.clone();
    assertEq([qc.method, qc.url, qc.redirect, qc.headers.get("k")], ["POST", "http://h/x", "manual", "v"]);
    assertEq(await qc.text(), "b");
    assertEq(await q.text(), "b");
});

test("status range", () => {
    for (const s of [200, 201, 299, 300, 404, 599])
        assertEq(new Response(null, { status: s }).status, s);
    for (const s of [0, 100, 101, 199, 600, 1000, -1])
        assertThrows(() => new Response(null, { status: s }), RangeError, undefined, String(s));
    assertEq(new Response(null, { status: "404" }).status, 404);
    assertEq(new Response(null, { status: 65736 }).status, 200, "unsigned short wraps");
    assertThrows(() => new Response(null, { status: NaN }), RangeError);
    assertEq(new Response(null, { status: 299 }).ok, true);
    assertEq(new Response(null, { status: 300 }).ok, false);
});

test("101 is allowed only with a webSocket", () => {
    const ws = { fake: "socket" };
    const r = new Response(null, { status: 101, webSocket: ws });
    assertEq(r.status, 101);
    assertEq(r.webSocket, ws);
    assertEq(new Response().webSocket, null);
    assertThrows(() => r.clone(), TypeError);
});

test("null body statuses refuse a body", () => {
    for (const s of [204, 205, 304]) {
        assertThrows(() => new Response("x", { status: s }), TypeError, /cannot have a body/, String(s));
        assertEq(new Response(null, { status: s }).status, s);
        assertThrows(() => new Response("", { status: s }), TypeError);
    }
});

test("statusText must be a reason phrase", () => {
    assertEq(new Response(null, { statusText: "All Good\t\u00ff" }).statusText, "All Good\t\u00ff");
    assertThrows(() => new Response(null, { statusText: "a\nb" }), TypeError);
    assertThrows(() => new Response(null, { statusText: "a\rb" }), TypeError);
    assertThrows(() => new Response(null, { statusText: "\u0100" }), TypeError);
});

test("init must be an object", () => {
    assertThrows(() => new Response("x", 5), TypeError);
    assertThrows(() => new Response("x", "str"), TypeError);
    assertEq(new Response("x", null).status, 200);
    assertThrows(() => new Response("x", { headers: 5 }), TypeError);
    assertThrows(() => new Response("x", { headers: null }), TypeError);
});

test("Response.json", async () => {
    const r = Response.json({ a: 1, b: "é" });
    assertEq(r.headers.get("content-type"), "application/json");
    assertEq(r.status, 200);
    assertEq(await r.text(), '{"a":1,"b":"é"}');
    const s = Response.json([1], { status: 418, headers: { "content-type": "application/x+json", x: "y" } });
    assertEq([s.status, s.headers.get("content-type"), s.headers.get("x")], [418, "application/x+json", "y"]);
    assertEq(await Response.json(null).text(), "null");
    assertEq(await Response.json("s").json(), "s");
    assertThrows(() => Response.json(undefined), TypeError);
    assertThrows(() => Response.json(() => 1), TypeError);
    assertThrows(() => Response.json(1n), TypeError);
    assertThrows(() => Response.json({}, { status: 204 }), TypeError);
    const cyc = {};
    cyc.self = cyc;
    assertThrows(() => Response.json(cyc), TypeError);
    assertThrows(() => Response.json(), TypeError);
});

test("Response.redirect", () => {
    const r = Response.redirect("https://example.com/a b");
    assertEq(r.status, 302);
    assertEq(r.headers.get("location"), "https://example.com/a%20b");
    assertEq(r.body, null);
    for (const s of [301, 302, 303, 307, 308])
        assertEq(Response.redirect("http://h/", s).status, s);
    for (const s of [200, 300, 304, 309])
        assertThrows(() => Response.redirect("http://h/", s), RangeError, undefined, String(s));
    assertThrows(() => Response.redirect("/relative"), TypeError, /Invalid URL/);
    assertEq(Response.redirect(new URL("http://h/x"), 307).headers.get("location"), "http://h/x");
});

test("Response.error", () => {
    const r = Response.error();
    assertEq([r.type, r.status, r.ok, r.statusText, r.body], ["error", 0, false, "", null]);
    assertThrows(() => r.headers.set("a", "b"), TypeError);
    assertEq(r.clone().type, "error");
});

test("body is null only without a body and is an object otherwise", async () => {
    assertEq(new Response().body, null);
    assertEq(new Response(null).body, null);
    const r = new Response("");
    assert(r.body !== null && typeof r.body === "object", "an empty string is still a body");
    assertEq(r.body === r.body, true);
    assertEq(r.body.locked, false);
    assertEq(new Request("http://h/").body, null);
});

test("a body can be read with a reader", async () => {
    const r = new Response("chunk");
    const reader = r.body.getReader();
    assertEq(r.body.locked, true);
    await assertRejects(r.text(), TypeError, /locked/);
    const first = await reader.read();
    assertEq([first.done, new TextDecoder().decode(first.value)], [false, "chunk"]);
    assertEq(await reader.read(), { value: undefined, done: true });
    assertEq(r.bodyUsed, true);
    reader.releaseLock();
    assertEq(r.body.locked, false);
    const chunks = [];
    for await (const c of new Response(u8(1, 2)).body)
        chunks.push(c);
    assertEq(chunks, [u8(1, 2)]);
    const byob = new Response("xyz").body.getReader({ mode: "byob" });
    const got = await byob.read(new Uint8Array(2));
    assertEq([got.done, [...got.value]], [false, [0x78, 0x79]], "a body is a byte stream: a BYOB read fills the given view");
});

test("a body stream can be passed on without copying", async () => {
    const a = new Response("pass me");
    const b = new Response(a.body, { status: 202 });
    assertEq(a.bodyUsed, true);
    assertEq(await b.text(), "pass me");
    assertThrows(() => new Response(a.body), TypeError, /already been read/);
    const q = new Request("http://h/", { method: "POST", body: new Response("up").body });
    assertEq(await q.text(), "up");
});

test("Request basics", async () => {
    const q = new Request("https://example.com/a?b#c");
    assertEq([q.method, q.url, q.redirect, q.bodyUsed, q.body], ["GET", "https://example.com/a?b#c", "follow", false, null]);
    assert(q.headers instanceof Headers);
    assertEq(await q.text(), "");
    assertEq(new Request("HTTP://EXAMPLE.com:80/x/../y").url, "http://example.com/y");
    assertEq(new Request(new URL("http://h/u")).url, "http://h/u");
});

test("Request URL must be absolute and without credentials", () => {
    assertThrows(() => new Request("/relative"), TypeError, /Invalid URL/);
    assertThrows(() => new Request("nope"), TypeError);
    assertThrows(() => new Request("http://u:p@h/"), TypeError, /credentials/);
    assertThrows(() => new Request(), TypeError);
});

test("Request methods are validated and normalized", () => {
    const m = (method) => new Request("http://h/", { method }).method;
    assertEq(m("get"), "GET");
    assertEq(m("Post"), "POST");
    assertEq(m("delete"), "DELETE");
    assertEq(m("head"), "HEAD");
    assertEq(m("options"), "OPTIONS");
    assertEq(m("put"), "PUT");
    assertEq(m("patch"), "PATCH");
    assertEq(m("PROPFIND"), "PROPFIND");
    assertEq(m("propfind"), "propfind", "other methods keep their case");
    for (const bad of ["CONNECT", "trace", "Track"])
        assertThrows(() => m(bad), TypeError, /not allowed/, bad);
    for (const bad of ["", "GE T", "a/b", "\u00e9"])
        assertThrows(() => m(bad), TypeError, undefined, JSON.stringify(bad));
});

test("GET and HEAD cannot have a body", () => {
    assertThrows(() => new Request("http://h/", { body: "x" }), TypeError, /GET/);
    assertThrows(() => new Request("http://h/", { method: "HEAD", body: "x" }), TypeError, /HEAD/);
    assertEq(new Request("http://h/", { body: null }).body, null);
    assertEq(new Request("http://h/", { body: undefined }).body, null);
    const post = new Request("http://h/", { method: "POST", body: "x" });
    assertThrows(() => new Request(post, { method: "GET" }), TypeError);
});

test("Request bodies of every kind", async () => {
    const mk = (body) => new Request("http://h/", { method: "POST", body });
    assertEq(await mk("s").text(), "s");
    assertEq(mk("s").headers.get("content-type"), "text/plain;charset=UTF-8");
    assertEq(await mk(u8(1, 2)).bytes(), u8(1, 2));
    assertEq(mk(u8(1)).headers.get("content-type"), null);
    assertEq(await mk(new URLSearchParams("a=b")).text(), "a=b");
    assertEq(await mk('{"j":1}').json(), { j: 1 });
    assertEq((await mk("abc").arrayBuffer()).byteLength, 3);
});

test("redirect mode", () => {
    assertEq(new Request("http://h/", { redirect: "manual" }).redirect, "manual");
    assertEq(new Request("http://h/", { redirect: "error" }).redirect, "error");
    assertThrows(() => new Request("http://h/", { redirect: "nope" }), TypeError);
});

test("new Request(request) copies it and takes its body", async () => {
    const a = new Request("http://h/a", { method: "POST", body: "data", headers: { x: "1" }, redirect: "manual" });
    const b = new Request(a);
    assertEq([b.method, b.url, b.redirect, b.headers.get("x")], ["POST", "http://h/a", "manual", "1"]);
    assertEq(a.bodyUsed, true);
    assertEq(await b.text(), "data");
    assertThrows(() => new Request(a), TypeError, /already been used/);
    const c = new Request(new Request("http://h/c", { headers: { y: "2" } }), { method: "PUT", headers: { z: "3" }, body: "new" });
    assertEq([c.method, c.headers.get("y"), c.headers.get("z")], ["PUT", null, "3"]);
    assertEq(await c.text(), "new");
    const d = new Request(new Request("http://h/", { method: "POST", body: "keep" }), { body: null });
    assertEq(await d.text(), "keep", "a null init body keeps the input's");
    const e = new Request("http://h/", { headers: { k: "v" } });
    const f = new Request(e);
    f.headers.set("k", "changed");
    assertEq(e.headers.get("k"), "v");
});

test("incoming-style requests normalize the URL lazily", async () => {
    // The runtime's own path is tested from C; a user-made Request always has a parsed URL.
    const q = new Request("http://h/%7e/./a");
    assertEq(q.url, "http://h/%7e/a");
});

test("Request and Response are well-behaved global classes", () => {
    for (const C of [Request, Response]) {
        const d = Object.getOwnPropertyDescriptor(globalThis, C.name);
        assertEq([d.enumerable, d.writable, d.configurable], [false, true, true]);
        assertThrows(() => C("http://h/"), TypeError);
    }
    assertEq(Object.prototype.toString.call(new Response()), "[object Response]");
    assertEq(Object.prototype.toString.call(new Request("http://h/")), "[object Request]");
    class MyResponse extends Response {
        constructor() { super("sub", { status: 203 }); }
    }
    const m = new MyResponse();
    assertEq([m.status, m instanceof Response], [203, true]);
    assertThrows(() => Object.getOwnPropertyDescriptor(Response.prototype, "status").get.call({}), TypeError);
});
