// Black-box tests of outbound fetch() from a class: every body kind both
// ways, redirects, abort and timeout, the response body as a stream that
// arrives before the server has finished, at most six connections per
// instance, the input gate opening while a fetch is awaited, errors, and
// HTTPS trust. Stub servers run on loopback, which dorm refuses by default:
// the server under test is started with --allow-fetch for them (the SSRF
// guard itself is tested in ssrf.test.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";
import { startStub } from "./lib/stub.mjs";

const root = new URL("../../", import.meta.url).pathname;
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

let srv, stub;
before(async () => {
  stub = await startStub();
  srv = await startServer({ args: ["--threads", "2", "--allow-fetch", "127.0.0.1", "--allow-fetch", "localhost"] });
  await srv.deploy("probe", probeSrc);
});
after(async () => {
  await srv?.cleanup();
  await stub?.stop();
});

async function run(id, code, server = srv) {
  const r = await server.json(`/_do/probe/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
async function ok(id, code, server = srv) {
  const b = await run(id, code, server);
  assert.equal(b.ok, true, `${b.name}: ${b.message}`);
  return b.value;
}
async function fails(id, code, server = srv) {
  const b = await run(id, code, server);
  assert.equal(b.ok, false, `expected a failure, got ${JSON.stringify(b.value)}`);
  return b;
}

test("request bodies of every kind reach the server with the right content type", async () => {
  const v = await ok("bodies", `
    const url = "${stub.url}/echo";
    const send = async (body, init = {}) => {
      const r = await fetch(url, { method: "POST", body, ...init });
      const j = await r.json();
      return [j.headers["content-type"] ?? null, j.headers["content-length"] ?? j.headers["transfer-encoding"] ?? null, j.body];
    };
    const fd = new FormData();
    fd.append("name", "ada");
    fd.append("file", new Blob(["file!"], { type: "text/plain" }), "a.txt");
    const mp = await send(fd);
    return {
      string: await send("héllo"),
      arrayBuffer: await send(new Uint8Array([1, 2, 3]).buffer),
      typed: await send(new Uint16Array([0x0201, 0x0403])),
      view: await send(new DataView(new Uint8Array([9, 8, 7]).buffer, 1)),
      params: await send(new URLSearchParams({ a: "1 2", b: "é" })),
      blob: await send(new Blob(["{}"], { type: "application/json" })),
      stream: await send(ReadableStream.from([new Uint8Array([104, 105]), new TextEncoder().encode("!")])),
      custom: await send("x", { headers: { "content-type": "text/x-custom" } }),
      empty: await send(""),
      formType: mp[0], formBody: atob(mp[2]),
      put: await (await fetch(url, { method: "PUT", body: "p" })).json().then((j) => [j.method, j.text]),
      del: await (await fetch(url, { method: "DELETE" })).json().then((j) => [j.method, j.headers["content-length"] ?? null]),
      patch: await (await fetch(url, { method: "patch", body: "q" })).json().then((j) => j.method),
    };`);
  const b64 = (s) => Buffer.from(s).toString("base64");
  assert.deepEqual(v.string, ["text/plain;charset=UTF-8", "6", b64("héllo")]);
  assert.deepEqual(v.arrayBuffer, [null, "3", Buffer.from([1, 2, 3]).toString("base64")]);
  assert.deepEqual(v.typed, [null, "4", Buffer.from([1, 2, 3, 4]).toString("base64")]);
  assert.deepEqual(v.view, [null, "2", Buffer.from([8, 7]).toString("base64")]);
  assert.deepEqual(v.params, ["application/x-www-form-urlencoded;charset=UTF-8", "14", b64("a=1+2&b=%C3%A9")]);
  assert.deepEqual(v.blob, ["application/json", "2", b64("{}")]);
  assert.deepEqual(v.stream, [null, "chunked", b64("hi!")], "a stream goes as it comes, chunked");
  assert.deepEqual(v.custom, ["text/x-custom", "1", b64("x")]);
  assert.deepEqual(v.empty, ["text/plain;charset=UTF-8", "0", ""]);
  assert.match(v.formType, /^multipart\/form-data; boundary=/);
  assert.match(v.formBody, /name="name"\r\n\r\nada\r\n/);
  assert.match(v.formBody, /name="file"; filename="a.txt"\r\nContent-Type: text\/plain\r\n\r\nfile!\r\n/);
  assert.deepEqual(v.put, ["PUT", "p"]);
  assert.deepEqual(v.del, ["DELETE", null]);
  assert.equal(v.patch, "PATCH");
});

test("a request body stream is sent as it is produced, in order, with backpressure", async () => {
  const v = await ok("upload-live", `
    const url = "${stub.url}";
    const enc = new TextEncoder();
    const ts = new TransformStream();
    const w = ts.writable.getWriter();
    const sent = fetch(url + "/upload-live?id=live1", { method: "POST", body: ts.readable });
    await w.write(enc.encode("first;"));
    // The server has the first part while the class has not written the rest.
    let seen = { text: "" };
    for (let i = 0; i < 500 && seen.text === ""; i++) {
      seen = await (await fetch(url + "/live?id=live1")).json();
      if (seen.text === "") await scheduler.wait(10);
    }
    await w.write(enc.encode("second"));
    await w.close();
    const first = await (await sent).json();

    // 4 MiB pulled 64 KiB at a time: the source is pulled as the server takes it.
    let pulls = 0;
    const piece = new Uint8Array(65536).map((_, i) => i % 251);
    const big = new ReadableStream({
      pull(c) {
        if (pulls++ === 64) return c.close();
        c.enqueue(piece.slice());
      },
    }, { highWaterMark: 0 });
    const second = await (await fetch(url + "/upload-live?id=big", { method: "POST", body: big })).json();
    let sum = 0;
    for (let k = 0; k < 64; k++) for (const b of piece) sum = (sum + b) % 65521;
    return { seen, first, second, sum };`);
  assert.equal(v.seen.text, "first;", "the first part arrived before the stream ended");
  assert.equal(v.seen.ended, false);
  assert.deepEqual([v.first.text, v.first.te], ["first;second", "chunked"]);
  assert.equal(v.second.bytes, 64 * 65536);
  assert.equal(v.second.sum, v.sum, "every byte, in order");
});

test("a request body stream that fails, gives no bytes, or is aborted fails the fetch and is cancelled", async () => {
  const v = await ok("upload-errors", `
    const url = "${stub.url}/echo";
    const out = {};
    const broken = new ReadableStream({
      start(c) { c.enqueue(new Uint8Array([1])); },
      pull(c) { c.error(new RangeError("source broke")); },
    });
    try { await fetch(url, { method: "POST", body: broken }); out.broken = "no error"; }
    catch (e) { out.broken = [e.name, e.message]; }
    try { await fetch(url, { method: "POST", body: ReadableStream.from(["text"]) }); out.text = "no error"; }
    catch (e) { out.text = [e.name, e.message]; }
    const ac = new AbortController();
    let n = 0, cancelled = null;
    const stalled = new ReadableStream({
      pull(c) {
        if (n++ === 0) return c.enqueue(new Uint8Array([7]));
        ac.abort(); // once the first piece is taken
        return new Promise(() => {});
      },
      cancel(reason) { cancelled = reason && reason.name; },
    }, { highWaterMark: 0 });
    try { await fetch(url, { method: "POST", body: stalled, signal: ac.signal }); out.aborted = "no error"; }
    catch (e) { out.aborted = [e.name, cancelled]; }
    return out;`);
  assert.deepEqual(v.broken, ["RangeError", "source broke"]);
  assert.equal(v.text[0], "TypeError");
  assert.match(v.text[1], /fetch: the stream gave a string chunk; a body stream must give bytes/);
  assert.deepEqual(v.aborted, ["AbortError", "AbortError"]);
});

test("request headers go as given; curl adds none of its own but Host and Accept", async () => {
  const v = await ok("headers", `
    const r = await fetch("${stub.url}/echo?x=1", { headers: { "X-Thing": "caf\\u00e9", Authorization: "Bearer t", "x-empty": "" } });
    return (await r.json()).headers;`);
  assert.equal(v["x-thing"], Buffer.from("café", "latin1").toString("latin1"), "Latin-1 bytes, as a ByteString is sent");
  assert.equal(v.authorization, "Bearer t");
  assert.equal(v["x-empty"], "");
  assert.equal(v.host, `127.0.0.1:${stub.port}`);
  assert.equal(v.accept, "*/*");
  assert.equal(v["user-agent"], undefined);
  assert.equal(v.expect, undefined);
  assert.equal(v["content-type"], undefined);
});

test("response bodies read every way, with headers, status and statusText", async () => {
  const v = await ok("responses", `
    const url = "${stub.url}/echo";
    const r = await fetch(url + "?q=1#frag");
    const out = {
      status: r.status, statusText: r.statusText, ok: r.ok, type: r.type, url: r.url, redirected: r.redirected,
      ct: r.headers.get("content-type"), cookies: r.headers.getSetCookie(),
      json: (await r.json()).url,
    };
    const raw = await fetch("${stub.url}/rawlatin");
    out.raw = [raw.statusText, raw.headers.get("x-latin"), raw.headers.get("x-folded"), await raw.text()];
    out.text = JSON.parse(await (await fetch(url)).text()).method;
    out.ab = (await (await fetch(url)).arrayBuffer()) instanceof ArrayBuffer;
    out.bytes = (await (await fetch(url)).bytes()).length > 10;
    const blob = await (await fetch(url)).blob();
    out.blob = [blob.type, blob.size > 10];
    const fd = await (await fetch("${stub.url}/multipart")).formData();
    out.form = [fd.get("field"), fd.get("file").name, await fd.get("file").text()];
    const reader = (await fetch(url)).body.getReader();
    let n = 0;
    for (;;) { const { value, done } = await reader.read(); if (done) break; n += value.length; }
    out.streamBytes = n;
    const missing = await fetch("${stub.url}/nothing-here");
    out.missing = [missing.status, missing.ok, await missing.text()];
    const nc = await fetch("${stub.url}/status?code=204");
    out.noContent = [nc.status, nc.body];
    const head = await fetch(url, { method: "HEAD" });
    out.head = [head.status, head.body, head.headers.get("content-type")];
    out.immutable = (() => { try { r.headers.set("a", "b"); return "mutable"; } catch (e) { return e.name; } })();
    out.clone = await (async () => { const c = await fetch(url); const d = c.clone(); return (await c.json()).method + (await d.json()).method; })();
    return out;`);
  assert.equal(v.status, 200);
  assert.equal(v.statusText, "OK");
  assert.equal(v.ok, true);
  assert.equal(v.type, "basic");
  assert.equal(v.url, `${stub.url}/echo?q=1`, "no fragment");
  assert.equal(v.redirected, false);
  assert.equal(v.ct, "application/json");
  assert.deepEqual(v.raw, ["Fine", "café", "one two", "ok"], "Latin-1 header bytes, folded lines joined, the server's reason phrase");
  assert.deepEqual(v.cookies, ["a=1; Path=/", "b=2"]);
  assert.equal(v.json, "/echo?q=1");
  assert.equal(v.text, "GET");
  assert.equal(v.ab, true);
  assert.equal(v.bytes, true);
  assert.deepEqual(v.blob, ["application/json", true]);
  assert.deepEqual(v.form, ["value", "f.txt", "file body"]);
  assert.ok(v.streamBytes > 10);
  assert.deepEqual(v.missing, [404, false, "no route /nothing-here"]);
  assert.deepEqual(v.noContent, [204, null]);
  assert.deepEqual(v.head, [200, null, "application/json"]);
  assert.equal(v.immutable, "TypeError");
  assert.equal(v.clone, "GETGET");
});

test("a response body streams: the first piece is read before the server has sent the rest", async () => {
  const id = "drip1";
  const p = ok("stream-read", `
    const r = await fetch("${stub.url}/drip?n=3&id=${id}");
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    const seen = [];
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      seen.push(value);
      await ctx.storage.put("progress", text);
    }
    return text;`);
  await waitFor(() => stub.held.has(`${id}-0`), { what: "the first piece to be sent" });
  // The class has the first piece (it wrote it down) while the stub still holds the second.
  await waitFor(async () => {
    const r = await run("stream-read", `return await ctx.storage.get("progress") ?? null;`);
    return r.value === "piece 0\n";
  }, { what: "the class to see the first piece" });
  stub.release(`${id}-0`);
  stub.release(`${id}-1`);
  await waitFor(() => stub.held.has(`${id}-2`), { what: "the last piece" });
  stub.release(`${id}-2`);
  assert.equal(await p, "piece 0\npiece 1\npiece 2\n");
});

test("a fetched response can be returned as is: it streams through to the client", async () => {
  const id = "relay";
  const res = fetch(`${srv.url}/_do/probe/relay`, {
    method: "POST",
    body: `return await fetch("${stub.url}/drip?n=2&id=${id}");`,
  });
  await waitFor(() => stub.held.has(`${id}-0`), { what: "the first piece" });
  const r = await res;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("transfer-encoding"), "chunked");
  const reader = r.body.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.equal(first, "piece 0\n", "the client has the first piece while the stub holds the second");
  stub.release(`${id}-0`);
  await waitFor(() => stub.held.has(`${id}-1`), { what: "the second piece" });
  stub.release(`${id}-1`);
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += new TextDecoder().decode(value);
  }
  assert.equal(rest, "piece 1\n");
});

test("a large body is paced: memory stays bounded and every byte arrives", async () => {
  const n = 48 * 1024 * 1024;
  const v = await ok("big", `
    const r = await fetch("${stub.url}/big?bytes=${n}");
    let total = 0, chunks = 0;
    for await (const c of r.body) { total += c.length; chunks++; }
    return [total, chunks > 1];`);
  assert.deepEqual(v, [n, true]);
});

test("redirects: follow (with the method rules), manual, error, too many, cross-origin credentials", async () => {
  const v = await ok("redirects", `
    const to = (path, status) => "${stub.url}/redirect?status=" + status + "&to=" + encodeURIComponent(path);
    const get = async (url, init) => { const r = await fetch(url, init); return [r.status, r.redirected, r.url, (await r.json()).method]; };
    const post = (status) => get(to("/echo", status), { method: "POST", body: "data" });
    const out = {
      s302: await post(302), s301: await post(301), s303: await post(303), s307: await post(307), s308: await post(308),
    };
    const kept = await (await fetch(to("/echo", 307), { method: "POST", body: "kept" })).json();
    out.body307 = kept.text;
    const streamBody = () => ReadableStream.from([new Uint8Array([49])]);
    try { await fetch(to("/echo", 307), { method: "POST", body: streamBody() }); out.stream307 = "no error"; }
    catch (e) { out.stream307 = [e.name, e.message]; }
    out.stream303 = await get(to("/echo", 303), { method: "POST", body: streamBody() });
    const manual = await fetch(to("/echo", 302), { redirect: "manual" });
    out.manual = [manual.status, manual.headers.get("location"), manual.redirected, await manual.text()];
    try { await fetch(to("/echo", 301), { redirect: "error" }); out.error = "no error"; } catch (e) { out.error = [e.name, e.message]; }
    try { await fetch("${stub.url}/loop"); out.loop = "no error"; } catch (e) { out.loop = [e.name, e.message]; }
    const cross = await fetch(to("http://localhost:${stub.port}/echo", 302), { headers: { authorization: "Bearer secret", "x-keep": "1" } });
    const ch = (await cross.json()).headers;
    out.cross = [ch.authorization ?? null, ch["x-keep"]];
    const same = await fetch(to("/echo", 302), { headers: { authorization: "Bearer secret" } });
    out.same = (await same.json()).headers.authorization;
    return out;`);
  assert.deepEqual(v.s302, [200, true, `${stub.url}/echo`, "GET"]);
  assert.deepEqual(v.s301, [200, true, `${stub.url}/echo`, "GET"]);
  assert.deepEqual(v.s303, [200, true, `${stub.url}/echo`, "GET"]);
  assert.deepEqual(v.s307, [200, true, `${stub.url}/echo`, "POST"]);
  assert.deepEqual(v.s308, [200, true, `${stub.url}/echo`, "POST"]);
  assert.equal(v.body307, "kept");
  assert.equal(v.stream307[0], "TypeError", "a sent stream cannot go to the next hop");
  assert.match(v.stream307[1], /needs the request body again, but it was a stream and has been sent/);
  assert.deepEqual(v.stream303, [200, true, `${stub.url}/echo`, "GET"], "303 drops the body, so a stream is fine");
  assert.deepEqual(v.manual, [302, "/echo", false, "moved"]);
  assert.equal(v.error[0], "TypeError");
  assert.match(v.error[1], /redirect mode is "error"/);
  assert.equal(v.loop[0], "TypeError");
  assert.match(v.loop[1], /more than 20 redirects/);
  assert.deepEqual(v.cross, [null, "1"], "Authorization is dropped on a cross-origin redirect");
  assert.equal(v.same, "Bearer secret");
});

test("abort before the answer, abort during the body, and AbortSignal.timeout", async () => {
  const before = await fails("abort1", `
    const ac = new AbortController();
    const p = fetch("${stub.url}/hold?id=ab1", { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await p;`);
  assert.equal(before.name, "AbortError");
  await waitFor(() => stub.closed.has("ab1"), { what: "the stub to see the connection close" });

  const reason = await fails("abort2", `
    const ac = new AbortController();
    setTimeout(() => ac.abort(new RangeError("mine")), 50);
    await fetch("${stub.url}/hold?id=ab2", { signal: ac.signal });`);
  assert.equal(reason.name, "RangeError", "the signal's own reason");

  const during = await ok("abort3", `
    const ac = new AbortController();
    const r = await fetch("${stub.url}/hold?id=ab3&headFirst=1", { signal: ac.signal });
    const reader = r.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    try { await reader.read(); return "read on"; } catch (e) { return [first, r.status, e.name]; }`);
  assert.deepEqual(during, ["head ", 200, "AbortError"]);
  await waitFor(() => stub.closed.has("ab3"), { what: "the stub to see the connection close" });

  const t0 = Date.now();
  const timeout = await fails("timeout", `await fetch("${stub.url}/hold?id=to1", { signal: AbortSignal.timeout(150) });`);
  assert.equal(timeout.name, "TimeoutError");
  assert.ok(Date.now() - t0 >= 150);
  const pre = await ok("preaborted", `try { await fetch("${stub.url}/echo", { signal: AbortSignal.abort("early") }); return "fetched"; } catch (e) { return e; }`);
  assert.equal(pre, "early", "an already aborted signal's reason is thrown as is");
});

test("at most six connections per instance at a time; the rest wait their turn", async () => {
  stub.maxOpen = 0;
  const p = ok("six", `
    const all = [];
    for (let i = 0; i < 10; i++) all.push(fetch("${stub.url}/hold?id=six" + i).then((r) => r.text()));
    return await Promise.all(all);`);
  await waitFor(() => [...stub.held.keys()].filter((k) => k.startsWith("six")).length === 6, { what: "six held requests" });
  // Give a seventh the chance to show up if the limit did not hold.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(stub.maxOpen, 6);
  let released = 0;
  while (released < 10) {
    const keys = [...stub.held.keys()].filter((k) => k.startsWith("six"));
    if (keys.length === 0) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    for (const k of keys) {
      stub.release(k);
      released++;
    }
  }
  const texts = await p;
  assert.equal(texts.length, 10);
  assert.ok(texts.every((t) => t.startsWith("released six")));
  assert.ok(stub.maxOpen <= 6, `at most 6 at once, saw ${stub.maxOpen}`);
});

test("awaiting a fetch opens the input gate: another event runs meanwhile", async () => {
  const slow = run("gate", `
    await ctx.storage.put("before", 1);
    const r = await fetch("${stub.url}/hold?id=gate1");
    return [await r.text(), await ctx.storage.get("during")];`);
  await waitFor(() => stub.held.has("gate1"), { what: "the fetch to be in flight" });
  const quick = await ok("gate", `await ctx.storage.put("during", "set while the fetch waited"); return await ctx.storage.get("before");`);
  assert.equal(quick, 1, "the second event ran while the first awaited its fetch");
  stub.release("gate1");
  const v = (await slow).value;
  assert.deepEqual(v, ["released gate1", "set while the fetch waited"]);
});

test("network errors are TypeErrors that say what happened", async () => {
  const refused = await fails("errors", `await fetch("http://127.0.0.1:1/");`);
  assert.equal(refused.name, "TypeError");
  assert.match(refused.message, /fetch to http:\/\/127\.0\.0\.1:1\/ failed: could not connect/);
  const dns = await fails("errors", `await fetch("http://no-such-host.invalid/");`);
  assert.equal(dns.name, "TypeError");
  assert.match(dns.message, /could not be resolved|refused/);
  const scheme = await fails("errors", `await fetch("ftp://example.com/");`);
  assert.match(scheme.message, /only http: and https:/);
  const bad = await fails("errors", `await fetch("not a url");`);
  assert.equal(bad.name, "TypeError");
  const body = await fails("errors", `await fetch("${stub.url}/echo", { body: "x" });`);
  assert.match(body.message, /GET method cannot have a body/);
});

test("fetch at module load time is refused with a clear error", async () => {
  const r = await srv.manage({
    action: "deploy", name: "eager", access_mode: "public",
    code: `const p = fetch("${stub.url}/echo"); export class Eager { fetch() { return new Response("x"); } }`,
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /fetch\(\) can only be called while handling an event/);
});

test("Accept-Encoding asked by the class: the body comes back decoded", async () => {
  const v = await ok("gzip", `
    const r = await fetch("${stub.url}/gzip", { headers: { "accept-encoding": "gzip" } });
    return [await r.text(), r.headers.get("content-encoding"), r.headers.get("content-length")];`);
  assert.deepEqual(v, ["compressed ".repeat(100), null, null]);
  const plain = await ok("gzip", `return (await (await fetch("${stub.url}/gzip")).text()).length;`);
  assert.equal(plain, 1100);
});

test("HTTPS: an untrusted certificate is refused clearly; --fetch-ca trusts it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dorm-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"),
      "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "ignore" });
    const tls = { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) };
    const tstub = await startStub({ tls });
    try {
      const e = await fails("tls", `await fetch("${tstub.url}/echo");`);
      assert.equal(e.name, "TypeError");
      assert.match(e.message, /TLS certificate is not trusted/);
      assert.match(e.message, /--fetch-ca/);
      const trusting = await startServer({ args: ["--allow-fetch", "127.0.0.1", "--fetch-ca", join(dir, "cert.pem")] });
      try {
        await trusting.deploy("probe", probeSrc);
        const v = await ok("tls", `const r = await fetch("${tstub.url}/echo", { method: "POST", body: "secure" }); return (await r.json()).text;`, trusting);
        assert.equal(v, "secure");
      } finally {
        await trusting.cleanup();
      }
    } finally {
      await tstub.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
