// Black-box tests of storage.transaction(), transactionSync() and sync():
// commit, rollback() and a throw undo everything (KV and SQL alike), the
// callback's value comes back, the transaction sees its own writes, nesting,
// concurrent transactions on one instance, and sync() settling only once
// the writes are durable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitFor } from "./lib/server.mjs";
import { probeSrc, probe, ok, fails } from "./lib/probe.mjs";

let srv;
before(async () => {
  srv = await startServer({ durability: "fsync", args: ["--threads", "2"] });
  await srv.deploy("probe", probeSrc);
});
after(async () => srv && srv.cleanup());

const dump = (id) => ok(srv, id, `return Object.fromEntries(await ctx.storage.list())`);

test("transaction(): the writes commit together and the callback's value is the result", async () => {
  const v = await ok(srv, "t-commit", `
    const r = await ctx.storage.transaction(async (txn) => {
      await txn.put("a", 1);
      txn.put({ b: 2, c: 3 });
      await txn.delete("c");
      return { answer: 42, seen: await txn.get(["a", "b", "c"]) };
    });
    return { answer: r.answer, seen: [...r.seen] };`);
  assert.deepEqual(v, { answer: 42, seen: [["a", 1], ["b", 2]] });
  assert.deepEqual(await dump("t-commit"), { a: 1, b: 2 });
});

test("transaction(): rollback() undoes every write, including ones over committed data", async () => {
  await ok(srv, "t-rollback", `await ctx.storage.put({ x: "old", y: "kept" })`);
  const v = await ok(srv, "t-rollback", `
    const r = await ctx.storage.transaction(async (txn) => {
      await txn.put("x", "new");
      await txn.delete("y");
      await txn.put("z", 1);
      txn.rollback();
      return "rolled back";
    });
    return [r, Object.fromEntries(await ctx.storage.list())];`);
  assert.deepEqual(v, ["rolled back", { x: "old", y: "kept" }]);
  assert.deepEqual(await dump("t-rollback"), { x: "old", y: "kept" });
});

test("transaction(): after rollback() the transaction refuses more work", async () => {
  const v = await ok(srv, "t-after-rollback", `
    let err;
    await ctx.storage.transaction(async (txn) => {
      txn.rollback();
      txn.rollback(); // a second call does nothing, as on Cloudflare
      try { await txn.put("late", 1); } catch (e) { err = [e.name, e.message]; }
    });
    return [err, await ctx.storage.get("late") ?? null];`);
  assert.equal(v[0][0], "Error");
  assert.match(v[0][1], /rolled back/);
  assert.equal(v[1], null);
});

test("transaction(): a throw undoes everything and rejects with the very error thrown", async () => {
  await ok(srv, "t-throw", `await ctx.storage.put("x", "old")`);
  const v = await ok(srv, "t-throw", `
    class MyError extends Error {}
    const thrown = new MyError("boom");
    thrown.extra = 7;
    let caught;
    try {
      await ctx.storage.transaction(async (txn) => {
        await txn.put("x", "new");
        await txn.put("other", 1);
        ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t(v)");
        ctx.storage.sql.exec("INSERT INTO t VALUES (1)");
        throw thrown;
      });
    } catch (e) { caught = e; }
    return { same: caught === thrown, cls: caught instanceof MyError, extra: caught.extra,
      x: await ctx.storage.get("x"), other: await ctx.storage.get("other") ?? null,
      tables: ctx.storage.sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").one().n };`);
  assert.deepEqual(v, { same: true, cls: true, extra: 7, x: "old", other: null, tables: 0 });
  assert.deepEqual(await dump("t-throw"), { x: "old" });
});

test("transaction(): a callback that throws synchronously gives a rejected promise, not a throw", async () => {
  const v = await ok(srv, "t-sync-throw", `
    let p;
    try { p = ctx.storage.transaction(() => { ctx.storage.put("k", 1); throw new TypeError("sync"); }); }
    catch (e) { return "threw synchronously"; }
    const r = await p.then(() => "resolved", (e) => e.message);
    return [r, await ctx.storage.get("k") ?? null];`);
  assert.deepEqual(v, ["sync", null]);
});

test("transaction(): get, list and delete inside see the transaction's own writes", async () => {
  await ok(srv, "t-own", `await ctx.storage.put({ "p:1": 1, "p:2": 2, q: 0 })`);
  const v = await ok(srv, "t-own", `
    return await ctx.storage.transaction(async (txn) => {
      await txn.put("p:3", 3);
      const deleted = await txn.delete("p:1");
      const again = await txn.delete("p:1");
      return { got: await txn.get("p:3"), gone: (await txn.get("p:1")) ?? null, deleted, again,
        list: [...(await txn.list({ prefix: "p:" })).keys()],
        outside: await ctx.storage.get("p:3") };
    });`);
  assert.deepEqual(v, { got: 3, gone: null, deleted: true, again: false, list: ["p:2", "p:3"], outside: 3 });
});

test("transaction(): the transaction object is dead once the callback is over", async () => {
  const v = await ok(srv, "t-escape", `
    let kept;
    await ctx.storage.transaction(async (txn) => { kept = txn; await txn.put("a", 1); });
    try { await kept.put("b", 2); return "worked"; } catch (e) { return [e.name, e.message]; }`);
  assert.equal(v[0], "Error");
  assert.match(v[1], /already committed|over/);
});

test("transaction(): deleteAll() is refused inside a transaction, as on Cloudflare", async () => {
  const b = await fails(srv, "t-deleteall", `
    await ctx.storage.put("keep", 1);
    await ctx.storage.transaction(async (txn) => { await txn.deleteAll(); });`);
  assert.match(b.message, /Cannot call deleteAll\(\) within a transaction/);
  assert.deepEqual(await dump("t-deleteall"), { keep: 1 });
});

test("transaction(): nested transactions roll back on their own, and with their parent", async () => {
  const v = await ok(srv, "t-nested", `
    await ctx.storage.transaction(async (outer) => {
      await outer.put("outer", 1);
      await ctx.storage.transaction(async (inner) => { await inner.put("inner-ok", 1); });
      await ctx.storage.transaction(async (inner) => { await inner.put("inner-rolled", 1); inner.rollback(); });
      try {
        await ctx.storage.transaction(async (inner) => { await inner.put("inner-threw", 1); throw new Error("x"); });
      } catch {}
    });
    try {
      await ctx.storage.transaction(async (outer) => {
        await outer.put("outer2", 1);
        await ctx.storage.transaction(async (inner) => { await inner.put("inner2", 1); });
        throw new Error("undo both");
      });
    } catch {}
    return [...(await ctx.storage.list()).keys()];`);
  assert.deepEqual(v, ["inner-ok", "outer"]);
});

test("transaction(): two concurrent transactions in one event both commit", async () => {
  const v = await ok(srv, "t-concurrent", `
    const [a, b] = await Promise.all([
      ctx.storage.transaction(async (txn) => { await txn.put("a", 1); await txn.put("a2", 1); return "a"; }),
      ctx.storage.transaction(async (txn) => { await txn.put("b", 2); await txn.get("a"); await txn.put("b2", 2); return "b"; }),
    ]);
    return [a, b];`);
  assert.deepEqual(v, ["a", "b"]);
  assert.deepEqual(await dump("t-concurrent"), { a: 1, a2: 1, b: 2, b2: 2 });
});

test("transaction(): transactions of concurrent requests on one instance are serialised and all commit", async () => {
  // Each request reads a counter in a transaction, waits on a timer (which
  // would let other events in, were it not for the transaction), then writes
  // it back: none may lose another's increment.
  const n = 6;
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => ok(srv, "t-serial", `
    return await ctx.storage.transaction(async (txn) => {
      const v = (await txn.get("n")) ?? 0;
      await new Promise((r) => setTimeout(r, 15));
      await txn.put("n", v + 1);
      await txn.put("by-${i}", v + 1);
      return v + 1;
    });`)));
  assert.deepEqual([...answers].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i + 1));
  const d = await dump("t-serial");
  assert.equal(d.n, n);
  assert.equal(Object.keys(d).length, n + 1);
});

test("transactionSync(): commits with SQL inside, a throw undoes it all, the value comes back", async () => {
  const v = await ok(srv, "ts", `
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE items(name TEXT)");
    const r = ctx.storage.transactionSync(() => {
      sql.exec("INSERT INTO items VALUES (?)", "kept");
      ctx.storage.put("kv", "kept");
      return { n: sql.exec("SELECT count(*) AS n FROM items").one().n };
    });
    let err;
    try {
      ctx.storage.transactionSync(() => {
        sql.exec("INSERT INTO items VALUES (?)", "lost");
        ctx.storage.put("kv", "lost");
        ctx.storage.put("kv2", "lost");
        throw new RangeError("nope");
      });
    } catch (e) { err = e.name + ": " + e.message; }
    const nested = ctx.storage.transactionSync(() => {
      sql.exec("INSERT INTO items VALUES ('outer')");
      try { ctx.storage.transactionSync(() => { sql.exec("INSERT INTO items VALUES ('inner')"); throw 1; }); } catch {}
      return "nested";
    });
    return { r, err, nested, rows: sql.exec("SELECT name FROM items ORDER BY name").toArray().map((x) => x.name),
      kv: await ctx.storage.get("kv"), kv2: (await ctx.storage.get("kv2")) ?? null };`);
  assert.deepEqual(v, { r: { n: 1 }, err: "RangeError: nope", nested: "nested", rows: ["kept", "outer"], kv: "kept", kv2: null });
  const later = await ok(srv, "ts", `return ctx.storage.sql.exec("SELECT name FROM items ORDER BY name").toArray().map((x) => x.name)`);
  assert.deepEqual(later, ["kept", "outer"]);
  const bad = await fails(srv, "ts", `ctx.storage.transactionSync("not a function")`);
  assert.equal(bad.name, "TypeError");
  // transaction() inside transactionSync() starts after it, as on Cloudflare.
  const inner = await ok(srv, "ts-inner", `
    let p;
    const r = ctx.storage.transactionSync(() => {
      p = ctx.storage.transaction(async (txn) => { await txn.put("later", 1); return "async done"; });
      ctx.storage.put("sync", 1);
      return "sync done";
    });
    return [r, await p, [...(await ctx.storage.list()).keys()]];`);
  assert.deepEqual(inner, ["sync done", "async done", ["later", "sync"]]);
});

test("sync(): settles only after the turn's writes are committed and durable", async () => {
  const v = await ok(srv, "sync", `
    const idle = await ctx.storage.sync().then(() => "resolved");
    ctx.storage.put("k", 1);
    let done = false;
    const p = ctx.storage.sync().then(() => { done = true; });
    for (let i = 0; i < 20; i++) await null; // microtasks only: the turn has not ended
    const before = done;
    await p;
    return { idle, before, after: done };`);
  assert.deepEqual(v, { idle: "resolved", before: false, after: true });
});

test("an instance reset while a transaction is open rolls it back and keeps committing", async () => {
  const s = await startServer({ args: ["--threads", "1", "--cpu-limit-ms", "300"] });
  try {
    await s.deploy("probe", probeSrc);
    await ok(s, "reset-in-txn", `await ctx.storage.put("before", 1)`);
    // The transaction waits on a timer; meanwhile another timer runs past the
    // CPU limit and the instance is reset with the transaction still open.
    const r = await s.text("/_do/probe/reset-in-txn", { method: "POST", signal: AbortSignal.timeout(15000), body: `
      ctx.storage.transaction(async (txn) => {
        await txn.put("inside", 1);
        await new Promise((r) => setTimeout(r, 100));
        await txn.put("inside-later", 1);
      });
      setTimeout(() => { for (;;) {} }, 10);
      return "started";` });
    assert.ok([200, 500].includes(r.status), `answered ${r.status}`);
    await waitFor(() => /probe\/reset-in-txn.*exceeded the CPU limit/.test(s.log), { what: "the reset" });
    // The abandoned transaction must not keep later writes from committing.
    assert.equal(await ok(s, "reset-in-txn", `await ctx.storage.put("after", 2); return 1`), 1);
    await s.restart();
    assert.deepEqual(await ok(s, "reset-in-txn", `return Object.fromEntries(await ctx.storage.list())`),
      { before: 1, after: 2 });
  } finally {
    await s.cleanup();
  }
});

// The three cases below were checked against workerd (Cloudflare's runtime)
// with the same code: a transaction started beside an open one waits for it.
test("transaction(): one started beside a failing one is not undone with it", async () => {
  const v = await ok(srv, "t-beside-fail", `
    const r = await Promise.allSettled([
      ctx.storage.transaction(async (txn) => { await txn.put("a", 1); await new Promise((r) => setTimeout(r, 20)); throw new Error("a fails"); }),
      ctx.storage.transaction(async (txn) => { await txn.put("b", 2); return "b"; }),
    ]);
    return [r.map((x) => x.status + ":" + (x.value ?? x.reason.message)), [...(await ctx.storage.list())]];`);
  assert.deepEqual(v, [["rejected:a fails", "fulfilled:b"], [["b", 2]]]);
});

test("transaction(): one started beside another may await it", async () => {
  const v = await ok(srv, "t-beside-await", `
    const pa = ctx.storage.transaction(async (txn) => { await txn.put("x", 1); return "a"; });
    const pb = ctx.storage.transaction(async (txn) => { await pa; await txn.put("y", 1); return "b"; });
    const r = await Promise.race([Promise.all([pa, pb]), new Promise((res) => setTimeout(() => res("deadlock"), 3000))]);
    return [r, [...(await ctx.storage.list())]];`);
  assert.deepEqual(v, [["a", "b"], [["x", 1], ["y", 1]]]);
});

test("transaction(): side by side inside a transaction, each nested in it and one after the other", async () => {
  const v = await ok(srv, "t-beside-inner", `
    const order = [];
    await ctx.storage.transaction(async (outer) => {
      await outer.put("outer", 1);
      await Promise.all([
        ctx.storage.transaction(async (t) => { order.push("x start"); await new Promise((r) => setTimeout(r, 10)); await t.put("x", 1); order.push("x end"); }),
        ctx.storage.transaction(async (t) => { order.push("y start"); await t.put("y", 1); t.rollback(); order.push("y end"); }),
      ]);
    });
    return [order, [...(await ctx.storage.list()).keys()]];`);
  assert.deepEqual(v, [["x start", "x end", "y start", "y end"], ["outer", "x"]]);
});
