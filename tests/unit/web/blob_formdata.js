// Blob, File, FormData, and multipart/form-data bodies both ways.

const u8 = (...b) => new Uint8Array(b);
const enc = (s) => new TextEncoder().encode(s);

test("Blob from parts, size, type, slice, readers", async () => {
    const b = new Blob(["h\u00e9", u8(0x21), new Blob(["?"]), new Uint16Array([0x4241]).buffer], { type: "Text/Plain" });
    assertEq([b.size, b.type], [7, "text/plain"]);
    assertEq(await b.text(), "h\u00e9!?AB");
    assertEq(await b.bytes(), u8(0x68, 0xc3, 0xa9, 0x21, 0x3f, 0x41, 0x42));
    assert((await b.arrayBuffer()) instanceof ArrayBuffer);
    assertEq(await b.slice(1, 3).bytes(), u8(0xc3, 0xa9));
    assertEq(await b.slice(-2).text(), "AB");
    assertEq(await b.slice(5, 2).text(), "");
    assertEq(b.slice(0, 1, "a/b").type, "a/b");
    assertEq(new Blob([], { type: "caf\u00e9" }).type, "", "a type with non-ASCII is dropped");
    assertEq(new Blob().size, 0);
    const chunks = [];
    for await (const c of b.stream())
        chunks.push(...c);
    assertEq(chunks.length, 7);
    assertThrows(() => new Blob("not iterable parts".length), TypeError, /iterable/);
    const src = u8(1, 2);
    const copy = new Blob([src]);
    src[0] = 9;
    assertEq(await copy.bytes(), u8(1, 2), "parts are copied");
});

test("File", async () => {
    const f = new File(["abc"], "a.txt", { type: "text/plain", lastModified: 42 });
    assertEq([f.name, f.size, f.type, f.lastModified, f instanceof Blob], ["a.txt", 3, "text/plain", 42, true]);
    assert(Math.abs(new File([], "x").lastModified - Date.now()) < 60000);
    assertThrows(() => new File(["a"]), TypeError);
});

test("FormData: append, set, get, getAll, has, delete, iteration", () => {
    const fd = new FormData();
    fd.append("a", "1");
    fd.append("a", "2");
    fd.append("b", new Blob(["x"]));
    fd.append("c", new Blob(["y"], { type: "text/csv" }), "data.csv");
    assertEq(fd.get("a"), "1");
    assertEq(fd.getAll("a"), ["1", "2"]);
    assertEq(fd.get("zz"), null);
    assert(fd.get("b") instanceof File);
    assertEq([fd.get("b").name, fd.get("c").name, fd.get("c").type], ["blob", "data.csv", "text/csv"]);
    fd.set("a", "3");
    assertEq(fd.getAll("a"), ["3"]);
    assertEq([...fd.keys()], ["a", "b", "c"], "set keeps the first position");
    fd.delete("b");
    assertEq([fd.has("b"), fd.has("c")], [false, true]);
    const seen = [];
    fd.forEach((v, k) => seen.push(k));
    assertEq(seen, ["a", "c"]);
    assertEq([...fd].length, 2);
    assertThrows(() => fd.append("x", "y", "name.txt"), TypeError, /filename/);
    fd.append(1, 2);
    assertEq(fd.get("1"), "2");
});

test("a FormData body is multipart/form-data and reads back", async () => {
    const fd = new FormData();
    fd.append("name", "ada \u00e9");
    fd.append("multi\nline", "a\nb");
    fd.append("file", new File([u8(0, 255, 10)], 'we"ird.bin', { type: "application/x-thing" }));
    const r = new Response(fd);
    const ct = r.headers.get("content-type");
    assert(/^multipart\/form-data; boundary=----formdata-dorm-[0-9a-f]{32}$/.test(ct), ct);
    const body = await r.clone().text();
    assert(body.includes('Content-Disposition: form-data; name="multi%0Aline"\r\n\r\na\r\nb\r\n'), body);
    assert(body.includes('filename="we%22ird.bin"\r\nContent-Type: application/x-thing\r\n\r\n'), body);
    const back = await r.formData();
    assertEq(back.get("name"), "ada \u00e9");
    assertEq(back.get("multi%0Aline"), "a\r\nb");
    const file = back.get("file");
    assert(file instanceof File);
    assertEq([file.name, file.type, file.size], ["we%22ird.bin", "application/x-thing", 3]);
    assertEq(await file.bytes(), u8(0, 255, 10));
});

test("formData() parses multipart written by someone else, and urlencoded", async () => {
    const body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue one\r\n" +
        "--XyZ\r\ncontent-disposition: form-data; name=\"up\"; filename=\"a\\\"b.txt\"\r\ncontent-type: text/plain\r\n\r\n" +
        "line1\r\nline2\r\n--XyZ\r\nContent-Disposition: form-data; name=empty\r\n\r\n\r\n--XyZ--\r\nepilogue";
    const q = new Request("http://h/", { method: "POST", body, headers: { "content-type": 'multipart/form-data; boundary="XyZ"' } });
    const fd = await q.formData();
    assertEq([...fd.keys()], ["field", "up", "empty"]);
    assertEq(fd.get("field"), "value one");
    assertEq(fd.get("empty"), "");
    const up = fd.get("up");
    assertEq([up.name, up.type, await up.text()], ['a"b.txt', "text/plain", "line1\r\nline2"]);

    const form = new Response("a=1&b=x+y&a=%C3%A9", { headers: { "content-type": "application/x-www-form-urlencoded" } });
    const f2 = await form.formData();
    assertEq([f2.getAll("a"), f2.get("b")], [["1", "\u00e9"], "x y"]);
    const f3 = await new Response(new URLSearchParams({ k: "v" })).formData();
    assertEq(f3.get("k"), "v", "the content type URLSearchParams sets has a charset parameter");
});

test("formData() says what is wrong with a malformed body", async () => {
    const mk = (body, ct = "multipart/form-data; boundary=B") =>
        new Response(body, { headers: { "content-type": ct } }).formData();
    await assertRejects(mk("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"), TypeError, /closing boundary/);
    await assertRejects(mk("nothing here"), TypeError, /does not contain its boundary/);
    await assertRejects(mk("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--"), TypeError, /Content-Disposition: form-data/);
    await assertRejects(mk("--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--"), TypeError, /no name/);
    await assertRejects(mk("x", "multipart/form-data"), TypeError, /no boundary/);
    await assertRejects(mk("x", "text/plain"), TypeError, /must be multipart\/form-data/);
});

test("Blob and File bodies take their type", async () => {
    const r = new Response(new Blob(["{}"], { type: "application/json" }));
    assertEq(r.headers.get("content-type"), "application/json");
    assertEq(await r.json(), {});
    assertEq(new Response(new Blob(["x"])).headers.get("content-type"), null);
    const b = await new Response("hi", { headers: { "content-type": "text/x-hi" } }).blob();
    assertEq([b.type, await b.text()], ["text/x-hi", "hi"]);
    const q = new Request("http://h/", { method: "POST", body: new File([enc("f")], "f.txt", { type: "text/plain" }) });
    assertEq([q.headers.get("content-type"), await q.text()], ["text/plain", "f"]);
});
