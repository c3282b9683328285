// Black-box tests of the runtime a class runs in: the Web APIs it can reach,
// timers and the input gate, blockConcurrencyWhile, waitUntil, console
// output in the server log, idle eviction, the memory limit, and the value
// size limit at its exact boundary.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "1", "--block-timeout-ms", "1500"] });
  await srv.deploy("probe", probeSrc);
});
after(async () => srv && srv.cleanup());

async function probeOn(server, id, code) {
  const r = await server.json(`/_do/probe/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
async function ok(id, code, server = srv) {
  const b = await probeOn(server, id, code);
  assert.equal(b.ok, true, `${b.name}: ${b.message}`);
  return b.value;
}

test("the Web APIs a class commonly touches are there and behave", async () => {
  const v = await ok("web", `
    const uuid = crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    // Busy first, so a timer that counted from the start of the loop's
    // turn rather than from the call would fire early.
    const busy = performance.now();
    while (performance.now() - busy < 30);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 20));
    const t1 = performance.now();
    const order = [];
    queueMicrotask(() => order.push("micro"));
    order.push("sync");
    await null;
    const src = { d: new Date(5), m: new Map([["k", new Set([1n])]]), u8: new Uint8Array([1, 2]) };
    src.self = src;
    const c = structuredClone(src);
    let cloneErr = null;
    try { structuredClone({ f() {} }); } catch (e) { cloneErr = e.name; }
    const h = new Headers([["B", "2"], ["a", "1"]]);
    h.append("b", "3");
    const u = new URL("/p/q?x=1#h", "https://example.com:8443");
    u.searchParams.append("y", "two words");
    const enc = new TextEncoder().encode("h\\u00e9");
    return {
      uuid, uuid2: crypto.randomUUID(), nonZero: bytes.some((b) => b !== 0),
      elapsed: t1 - t0, order,
      clone: [c !== src, c.self === c, c.d instanceof Date && c.d.getTime(), c.m.get("k").has(1n),
              c.u8 instanceof Uint8Array && [...c.u8].join()],
      cloneErr,
      headers: [...h], b: h.get("B"),
      url: u.href,
      b64: [btoa("hi!"), atob("aGkh")],
      enc: [...enc], dec: new TextDecoder().decode(enc),
      ua: typeof navigator.userAgent,
    };`);
  assert.match(v.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(v.uuid, v.uuid2);
  assert.equal(v.nonZero, true);
  assert.ok(v.elapsed >= 20, `a 20 ms timer fired after ${v.elapsed} ms`);
  assert.deepEqual(v.order, ["sync", "micro"]);
  assert.deepEqual(v.clone, [true, true, 5, true, "1,2"]);
  assert.equal(v.cloneErr, "DataCloneError");
  assert.deepEqual(v.headers, [["a", "1"], ["b", "2, 3"]], "names lower-cased, sorted, values combined");
  assert.equal(v.b, "2, 3");
  assert.equal(v.url, "https://example.com:8443/p/q?x=1&y=two+words#h");
  assert.deepEqual(v.b64, ["aGkh", "hi!"]);
  assert.deepEqual(v.enc, [104, 195, 169]);
  assert.equal(v.dec, "h\u00e9");
  assert.equal(v.ua, "string");
});

test("timers: setTimeout with arguments, clearTimeout, setInterval until cleared", async () => {
  const v = await ok("timers", `
    const got = [];
    await new Promise((r) => setTimeout((a, b) => { got.push(a + b); r(); }, 5, "x", "y"));
    const t = setTimeout(() => got.push("cancelled timer fired"), 5);
    clearTimeout(t);
    let n = 0;
    await new Promise((r) => { const i = setInterval(() => { if (++n === 3) { clearInterval(i); r(); } }, 5); });
    await new Promise((r) => setTimeout(r, 30));
    return { got, n };`);
  assert.deepEqual(v, { got: ["xy"], n: 3 });
});

test("awaiting a timer opens the input gate; awaiting only storage does not", async () => {
  // A waits on a timer: B, sent meanwhile, runs in between and A sees its write.
  const a = ok("gate", `self.mark = "A"; await new Promise((r) => setTimeout(r, 300)); return self.mark`);
  await waitFor(async () => (await ok("gate", "return self.mark ?? null")) !== null, { what: "A to start" });
  assert.equal(await ok("gate", `self.mark = "B"; return 1`), 1);
  assert.equal(await a, "B");
  // C awaits storage many times; D cannot slip in between its reads and writes.
  const c = ok("gate", `self.mark = "C"; for (let i = 0; i < 200; i++) await ctx.storage.put("i", i); return self.mark`);
  const d = ok("gate", `self.mark = "D"; return 1`);
  assert.equal(await c, "C");
  await d;
});

test("blockConcurrencyWhile holds other events until its promise settles; a rejection resets the instance", async () => {
  const first = await ok("bcw", `
    ctx.blockConcurrencyWhile(async () => {
      await new Promise((r) => setTimeout(r, 300));
      self.ready = "loaded";
    });
    return self.created`);
  // Sent after the first answered, but delivered only once the callback is done.
  assert.equal(await ok("bcw", "return self.ready ?? 'not yet'"), "loaded");
  const r = await ok("bcw", `
    await ctx.blockConcurrencyWhile(async () => 7).then((v) => { self.seven = v; });
    return self.seven`);
  assert.equal(r, 7, "its value is the callback's");
  const failing = await srv.text("/_do/probe/bcw", {
    method: "POST",
    body: `ctx.blockConcurrencyWhile(async () => { throw new Error("init failed"); }); return 1`,
  });
  assert.ok(failing.status === 200 || failing.status === 500, `status ${failing.status}`);
  const after = await ok("bcw", "return [self.created, self.ready ?? null]");
  assert.ok(after[0] > first, "a fresh instance was constructed");
  assert.equal(after[1], null, "its memory starts over");
});

test("a blockConcurrencyWhile() or transaction() that never settles resets the instance after the block timeout", async () => {
  const born = await ok("stuck", "return self.created");
  // The request that starts the callback does not await it, so it answers.
  assert.equal(await ok("stuck", "ctx.blockConcurrencyWhile(() => new Promise(() => {})); return 1"), 1);
  const t0 = Date.now();
  const held = await srv.json("/_do/probe/stuck", { method: "POST", body: "return 'ran'" });
  assert.equal(held.status, 500, JSON.stringify(held.body));
  assert.equal(held.body.error.code, "DO_RESET");
  assert.match(held.body.error.message, /kept its input gate closed for more than 1500 ms \(a blockConcurrencyWhile\(\) or transaction\(\) callback that never settled\)/);
  assert.ok(Date.now() - t0 >= 1000, `held ${Date.now() - t0} ms, not until the timeout`);
  await waitFor(() => /probe\/stuck.*kept its input gate closed.*it has been reset/.test(srv.log), { what: "the log line" });
  const fresh = await ok("stuck", "return self.created");
  assert.ok(fresh > born, "a fresh instance answers the next request");

  // A transaction that never ends: its writes are rolled back with the
  // reset. The answer of the request that started it waits for those writes
  // (the output gate), and goes out once they are gone.
  const starter = ok("stuck-txn", `
    ctx.storage.transaction(async (txn) => {
      await txn.put("half", 1);
      console.log("transaction started");
      await new Promise(() => {});
    });
    return 1`);
  await waitFor(() => /probe\/stuck-txn.*transaction started/.test(srv.log), { what: "the transaction to start" });
  const heldTxn = await srv.json("/_do/probe/stuck-txn", { method: "POST", body: "return 'ran'" });
  assert.equal(heldTxn.status, 500, JSON.stringify(heldTxn.body));
  assert.equal(heldTxn.body.error.code, "DO_RESET");
  assert.equal(await starter, 1);
  assert.equal(await ok("stuck-txn", `return (await ctx.storage.get("half")) ?? "rolled back"`), "rolled back");
});

test("state.abort(reason) resets the instance: it cannot be caught, the requests fail with the reason, the next one meets a fresh instance", async () => {
  const born = await ok("aborter", "self.note = 'kept'; return self.created");
  // A request in flight (awaiting a timer) when another one aborts.
  const waiting = srv.json("/_do/probe/aborter", {
    method: "POST", body: "self.waiting = true; await new Promise((r) => setTimeout(r, 60000)); return 'late'",
  });
  await waitFor(async () => (await ok("aborter", "return self.waiting ?? false")) === true, { what: "the first request to wait" });
  const r = await srv.json("/_do/probe/aborter", {
    method: "POST", body: `try { ctx.abort("time to go"); } catch (e) { return "caught " + e.message; } return "went on"`,
  });
  assert.equal(r.status, 500, JSON.stringify(r.body));
  assert.equal(r.body.error.code, "DO_ABORTED");
  assert.match(r.body.error.message, /probe\/aborter was aborted by its code \(state\.abort\): time to go/);
  const w = await waiting;
  assert.equal(w.status, 500, JSON.stringify(w.body));
  assert.equal(w.body.error.code, "DO_RESET");
  assert.match(w.body.error.message, /was aborted by its code \(state\.abort\): time to go; it has been reset/);
  await waitFor(() => /probe\/aborter.*aborted by its code \(state\.abort\): time to go/.test(srv.log), { what: "the log line" });
  const after = await ok("aborter", "return [self.created, self.note ?? null]");
  assert.ok(after[0] > born, "a fresh instance");
  assert.equal(after[1], null, "its memory starts over");
});

test("response headers: 128 KiB in all are sent, one byte more is refused with a 500 that says why", async () => {
  // A client that accepts large heads (fetch() stops at 16 KiB).
  const post = (id, body) => new Promise((resolve, reject) => {
    const req = http.request(`${srv.url}/_do/probe/${id}`, { method: "POST", maxHeaderSize: 1 << 20 }, (res) => {
      const parts = [];
      res.on("data", (c) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
  // One header counts its name, its value and 4 bytes (": " and CRLF): 5 + 131063 + 4 = 131072.
  const fits = await post("bighead", "return new Response(null, { headers: { 'x-big': 'a'.repeat(131063) } })");
  assert.equal(fits.status, 200, fits.body);
  assert.equal(fits.headers["x-big"].length, 131063);
  const over = await post("bighead", "return new Response(null, { headers: { 'x-big': 'a'.repeat(131064) } })");
  assert.equal(over.status, 500, over.body);
  const err = JSON.parse(over.body).error;
  assert.equal(err.code, "DO_BAD_RESPONSE");
  assert.match(err.message, /response has 131073 bytes of headers, more than the 131072 allowed/);
  // A streamed response is held to it too, and its source is cancelled.
  const streamed = await post("bighead", `
    return new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(1)); }, cancel() { self.cancelled = true; } }),
      { headers: { 'x-big': 'a'.repeat(200000) } })`);
  assert.equal(streamed.status, 500, streamed.body);
  await waitFor(async () => (await ok("bighead", "return self.cancelled ?? false")) === true, { what: "the stream to be cancelled" });
});

test("waitUntil: the answer goes out at once, the work finishes, a rejection is logged", async () => {
  const t0 = Date.now();
  assert.equal(await ok("wu", `
    ctx.waitUntil(new Promise((r) => setTimeout(r, 200)).then(() => ctx.storage.put("late", "done")));
    return "answered"`), "answered");
  assert.ok(Date.now() - t0 < 200, "the answer did not wait for the promise");
  await waitFor(async () => (await ok("wu", `return await ctx.storage.get("late") ?? null`)) === "done",
    { what: "the waitUntil work" });
  await ok("wu", `ctx.waitUntil(Promise.reject(new RangeError("background job broke"))); return 1`);
  await waitFor(() => /probe\/wu.*waitUntil\(\) rejected: RangeError: background job broke/.test(srv.log),
    { what: "the rejection in the log" });
});

test("console output reaches the server log tagged with class and instance; requests are logged", async () => {
  await ok("talker", `console.log("hello from", { n: 1 }); console.warn("careful"); console.error(new Error("bad")); return 1`);
  await waitFor(() => /probe\/talker.*hello from \{ n: 1 \}/.test(srv.log), { what: "console.log" });
  assert.match(srv.log, /probe\/talker.*careful/);
  assert.match(srv.log, /probe\/talker.*Error: bad/);
  await waitFor(() => /POST \/_do\/probe\/talker 200/.test(srv.log), { what: "the request log line" });
});

test("values: 128 KiB + 34 bytes encoded accepted, one byte more refused with a RangeError", async () => {
  // A string of n ASCII characters encodes as 1 version byte, 1 tag byte, a
  // 3-byte length and the n bytes (docs/value-encoding.md): 131101 + 5 =
  // 131106, the 128 KiB limit plus the 34 bytes allowed for the encoding.
  assert.equal(await ok("valsize", `
    await ctx.storage.put("v", "x".repeat(131101));
    return (await ctx.storage.get("v")).length`), 131101);
  const over = await probeOn(srv, "valsize", `await ctx.storage.put("w", "x".repeat(131102))`);
  assert.equal(over.ok, false);
  assert.equal(over.name, "RangeError");
  assert.match(over.message, /^Values cannot be larger than 131072 bytes\. A value of size 131107 was provided/);
  const batch = await probeOn(srv, "valsize", `await ctx.storage.put({ a: 1, b: "x".repeat(131102) })`);
  assert.equal(batch.name, "RangeError");
  assert.deepEqual(await ok("valsize", `return [...(await ctx.storage.list()).keys()]`), ["v"],
    "a refused put writes nothing");
});

test("an idle instance is evicted (memory freed, storage kept) and re-created by the next request", async () => {
  const s = await startServer({ args: ["--threads", "1", "--idle-evict-ms", "300"] });
  try {
    await s.deploy("probe", probeSrc);
    const first = await ok("sleepy", `self.mem = 41; await ctx.storage.put("k", "kept"); return self.created`, s);
    assert.equal(await ok("sleepy", "return ++self.mem", s), 42);
    await waitFor(() => /probe\/sleepy.*evicted after \d+ ms idle/.test(s.log), { what: "the eviction" });
    const v = await ok("sleepy", `return [self.created, self.mem, await ctx.storage.get("k")]`, s);
    assert.ok(v[0] > first, "the constructor ran again");
    assert.deepEqual(v.slice(1), [0, "kept"]);
    // An instance with a timer pending past the idle limit is not idle: the
    // timer still fires (eviction would have cancelled it).
    await ok("busy", `setTimeout(() => ctx.storage.put("fired", true), 700); return 1`, s);
    await waitFor(async () => (await ok("busy", `return await ctx.storage.get("fired") ?? false`, s)) === true,
      { what: "the timer of the busy instance" });
  } finally {
    await s.cleanup();
  }
});

test("past the memory limit the class's runtime is reset; other classes and later requests are served", async () => {
  const s = await startServer({ args: ["--threads", "1", "--memory-limit-mb", "32"] });
  try {
    await s.deploy("probe", probeSrc);
    await s.deploy("other", probeSrc.replace("class Probe", "class Other"));
    assert.equal(await ok("sibling", "self.mem = 5; return self.mem", s), 5);
    const o = await s.json("/_do/other/x", { method: "POST", body: "self.mem = 9; return self.mem" });
    assert.equal(o.body.value, 9);
    const hog = await s.text("/_do/probe/hog", {
      method: "POST",
      body: `const keep = []; for (;;) keep.push(new Array(100000).fill(keep.length)); `,
    });
    assert.equal(hog.status, 500);
    assert.match(hog.text, /memory/);
    await waitFor(() => /ran out of memory \(limit 32 MiB per class on a shard\)/.test(s.log), { what: "the log line" });
    assert.equal(await ok("sibling", "return self.mem", s), 0, "the sibling instance was reset with its runtime");
    assert.equal(await ok("hog", "return 'alive'", s), "alive");
    const o2 = await s.json("/_do/other/x", { method: "POST", body: "return self.mem" });
    assert.equal(o2.body.value, 9, "another class on the same shard kept its memory");
  } finally {
    await s.cleanup();
  }
});
