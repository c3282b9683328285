// Black-box tests of the input and output gates: storage calls keep other
// events out, a timer lets them in, the read and write options, replies
// held until their writes are durable (and allowUnconfirmed ones not),
// sync(), and an injected commit failure: its answers are never seen, the
// requests waiting on it fail, the instance starts afresh, and nothing else
// notices.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitFor } from "./lib/server.mjs";
import { probeSrc, probe, ok } from "./lib/probe.mjs";

let srv;
before(async () => {
  srv = await startServer({ durability: "fsync", args: ["--threads", "1"] });
  await srv.deploy("probe", probeSrc);
  await srv.deploy("other", probeSrc.replace("class Probe", "class Other"));
});
after(async () => srv && srv.cleanup());

const usage = async () => (await srv.manage({ action: "usage", name: "probe" })).body;

test("input gate: concurrent read-modify-write through storage alone never loses an update", async () => {
  const n = 40;
  const code = `
    const v = (await ctx.storage.get("n")) ?? 0;
    await ctx.storage.get("unrelated");
    await ctx.storage.put("n", v + 1);
    return v + 1;`;
  const seen = await Promise.all(Array.from({ length: n }, () => ok(srv, "rmw", code)));
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
  assert.equal(await ok(srv, "rmw", `return await ctx.storage.get("n")`), n);
});

test("input gate: no other event runs while an event awaits only storage", async () => {
  const long = ok(srv, "held", `
    self.inside = true; self.interrupted = false;
    for (let i = 0; i < 3000; i++) { await ctx.storage.put("k", i); await ctx.storage.get("k", { allowConcurrency: true }); await ctx.storage.list({ limit: 1 }); }
    self.inside = false;
    return self.interrupted;`);
  const others = Array.from({ length: 10 }, () => ok(srv, "held", `if (self.inside) self.interrupted = true; return 1`));
  assert.equal(await long, false, "another event ran in the middle of a storage-only sequence");
  await Promise.all(others);
});

test("input gate: awaiting a timer lets other events in", async () => {
  const waiting = ok(srv, "timer-gate", `
    self.started = true; self.poked = false;
    for (let i = 0; i < 500 && !self.poked; i++) await new Promise((r) => setTimeout(r, 10));
    return self.poked;`);
  // Each of these requests is itself delivered while the first one waits.
  await waitFor(async () => ok(srv, "timer-gate", `if (self.started) { self.poked = true; return true; } return false;`),
    { what: "a request delivered during the timer wait" });
  assert.equal(await waiting, true);
});

test("read and write options: allowConcurrency, noCache and allowUnconfirmed give the same values", async () => {
  const v = await ok(srv, "opts", `
    const s = ctx.storage;
    await s.put("a", 1, { noCache: true });
    await s.put("b", 2, { allowUnconfirmed: true });
    await s.put({ c: 3, d: 4 }, { noCache: true, allowUnconfirmed: true });
    const got = [await s.get("a", { noCache: true }), await s.get("b", { allowConcurrency: true }),
      [...(await s.get(["c", "d"], { noCache: true, allowConcurrency: true }))]];
    const del = await s.delete("d", { allowUnconfirmed: true, noCache: true });
    const list = [...(await s.list({ allowConcurrency: true, noCache: true })).keys()];
    let bad;
    try { await s.get("a", 5); } catch (e) { bad = e.name; }
    return { got, del, list, bad };`);
  assert.deepEqual(v, { got: [1, 2, [["c", 3], ["d", 4]]], del: true, list: ["a", "b", "c"], bad: "TypeError" });
  assert.deepEqual(await ok(srv, "opts", `return [...(await ctx.storage.list())]`), [["a", 1], ["b", 2], ["c", 3]]);
});

test("output gate: an injected commit failure drops every answer waiting on it; the instance starts afresh; nothing else notices", async () => {
  await srv.deploy("probe", probeSrc); // a fresh runtime: module-level state below is ours
  await ok(srv, "victim", `self.mem = "victim's memory"; await ctx.storage.put("kept", 1)`);
  await ok(srv, "sibling", `self.mem = "sibling's memory"`);
  const o = await srv.json("/_do/other/x", { method: "POST", body: `self.mem = "other class"; return 1` });
  assert.equal(o.body.value, 1);
  // Close the victim's gate until three writers are queued behind it, so
  // that they run in one turn and their writes form one batch.
  assert.equal(await ok(srv, "victim", `
    ctx.blockConcurrencyWhile(async () => { while (!globalThis.release) await new Promise((r) => setTimeout(r, 5)); });
    return "blocked"`), "blocked");
  const before = (await usage()).do_requests;
  const inj = await srv.manage({ action: "test_fail_commits", count: 1 });
  assert.equal(inj.status, 200);
  const writers = [1, 2, 3].map((i) => srv.text("/_do/probe/victim", {
    method: "POST", body: `ctx.storage.put("w${i}", ${i}); return "answer ${i} must not be seen"` }));
  await waitFor(async () => (await usage()).do_requests >= before + 3, { what: "the three writers to be queued" });
  assert.equal(await ok(srv, "sibling", `globalThis.release = true; return self.mem`), "sibling's memory");
  const answers = await Promise.all(writers);
  for (const a of answers) {
    assert.equal(a.status, 500);
    assert.doesNotMatch(a.text, /must not be seen/);
    assert.match(a.text, /DO_COMMIT_FAILED/);
  }
  // The next request reaches a fresh instance: its memory is gone, the
  // failed batch never happened, what was committed before is there.
  const v = await ok(srv, "victim", `return { mem: self.mem, keys: [...(await ctx.storage.list()).keys()] }`);
  assert.deepEqual(v, { mem: 0, keys: ["kept"] });
  assert.equal(await ok(srv, "sibling", `return self.mem`), "sibling's memory", "same class, other instance");
  const o2 = await srv.json("/_do/other/x", { method: "POST", body: `return self.mem` });
  assert.equal(o2.body.value, "other class", "other class");
  assert.match(srv.log, /probe\/victim.*commit failed: injected commit failure/);
});

test("output gate: a reply after an allowUnconfirmed write goes out without waiting for it; sync() does wait", async () => {
  await srv.manage({ action: "test_fail_commits", count: 1 });
  const r = await srv.text("/_do/probe/unconfirmed", { method: "POST", body: `
    ctx.storage.put("u", 1, { allowUnconfirmed: true }); return "sent before the commit"` });
  assert.equal(r.status, 200, "the failed commit did not hold back the reply");
  assert.match(r.text, /sent before the commit/);
  assert.equal(await ok(srv, "unconfirmed", `return (await ctx.storage.get("u")) ?? "lost"`), "lost");

  await srv.manage({ action: "test_fail_commits", count: 1 });
  const s = await srv.text("/_do/probe/unconfirmed", { method: "POST", body: `
    ctx.storage.put("u", 2, { allowUnconfirmed: true });
    await ctx.storage.sync();
    return "synced"` });
  assert.doesNotMatch(s.text, /synced/, "sync() resolved although the write was lost");

  const good = await ok(srv, "unconfirmed", `
    ctx.storage.put("u", 3, { allowUnconfirmed: true }); await ctx.storage.sync(); return "synced"`);
  assert.equal(good, "synced");
  // Acknowledged after sync(): it survives kill -9.
  await srv.kill();
  await srv.start();
  assert.equal(await ok(srv, "unconfirmed", `return await ctx.storage.get("u")`), 3);
});

test("output gate: a reply that read a write still in flight waits for it too", async () => {
  // B writes nothing, but it read what A wrote: its answer must not go out
  // before A's batch, or a failure would show a value that never existed.
  await ok(srv, "reader", `await ctx.storage.put("v", "old")`);
  await srv.manage({ action: "test_fail_commits", count: 1 });
  const [a, b] = await Promise.all([
    srv.text("/_do/probe/reader", { method: "POST", body: `ctx.storage.put("v", "new"); await new Promise((r) => setTimeout(r, 50)); return "A"` }),
    srv.text("/_do/probe/reader", { method: "POST", body: `return "B saw " + (await ctx.storage.get("v"))` }),
  ]);
  assert.equal(a.status, 500);
  assert.doesNotMatch(b.text, /B saw new/);
});
