// Black-box tests of alarms: setAlarm/getAlarm/deleteAlarm, one alarm per
// instance, times in the past, getAlarm() while the handler runs, retries
// with their backoff (from a shortened base), transactions, restarts (clean
// and kill -9), waking an evicted instance, deleteAll(), a class without
// alarm(), lateness on an idle server, and usage's alarms_pending.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor, sleep } from "./lib/server.mjs";
import { probeSrc, ok as okOn, fails as failsOn } from "./lib/probe.mjs";

const root = new URL("../../", import.meta.url).pathname;
const alarmSrc = await readFile(join(root, "tests/e2e/classes/alarm.js"), "utf8");
const BASE = 60; // --alarm-retry-ms

const servers = [];
after(async () => Promise.all(servers.map((s) => s.cleanup())));
async function server(opts = {}) {
  const s = await startServer({ ...opts, args: ["--alarm-retry-ms", String(BASE), ...(opts.args ?? [])] });
  servers.push(s);
  await s.deploy("alarmed", alarmSrc);
  await s.deploy("probe", probeSrc);
  return s;
}

let srv;
before(async () => { srv = await server({ args: ["--threads", "2"] }); });

const ok = (id, code, s = srv) => okOn(s, id, code, "alarmed");
const fails = (id, code, s = srv) => failsOn(s, id, code, "alarmed");
const runs = async (id, s = srv) => (await ok(id, `return (await ctx.storage.get("runs")) ?? []`, s));
const waitRuns = (id, n, s = srv, timeout = 15000) =>
  waitFor(async () => { const r = await runs(id, s); return r.length >= n ? r : null; },
    { timeout, what: `${n} alarm run(s) of ${id}` });

test("setAlarm(ms) and setAlarm(Date), getAlarm(), deleteAlarm()", async () => {
  const t = Date.now() + 3600_000;
  const v = await ok("api", `
    const none = await ctx.storage.getAlarm();
    await ctx.storage.setAlarm(${t});
    const asNumber = await ctx.storage.getAlarm();
    await ctx.storage.setAlarm(new Date(${t + 1000}));
    const asDate = await ctx.storage.getAlarm();
    return { none, asNumber, asDate, type: typeof asDate };`);
  assert.deepEqual(v, { none: null, asNumber: t, asDate: t + 1000, type: "number" });
  assert.equal(await ok("api", `return await ctx.storage.getAlarm()`), t + 1000, "committed");
  assert.equal(await ok("api", `await ctx.storage.deleteAlarm(); return await ctx.storage.getAlarm()`), null);
  assert.equal(await ok("api", `return await ctx.storage.getAlarm()`), null);
  for (const bad of ["NaN", "-5", "0", `"soon"`, "undefined", "new Date(NaN)"]) {
    const b = await fails("api", `await ctx.storage.setAlarm(${bad})`);
    assert.equal(b.name, "TypeError", bad);
  }
});

test("one alarm per instance: a second setAlarm replaces the first", async () => {
  const v = await ok("replace", `
    await ctx.storage.setAlarm(Date.now() + 300);
    await ctx.storage.setAlarm(Date.now() + 900);
    return await ctx.storage.getAlarm();`);
  const r = await waitRuns("replace", 1);
  await sleep(400); // the replaced time has long passed
  const all = await runs("replace");
  assert.equal(all.length, 1, "it ran once");
  assert.ok(all[0].at >= v, `ran at ${all[0].at}, not before ${v}`);
  assert.equal(r[0].retryCount, 0);
  assert.equal(r[0].isRetry, false);
});

test("a time in the past fires at once; getAlarm() is null while the handler runs and after", async () => {
  const t0 = Date.now();
  const got = await ok("past", `await ctx.storage.setAlarm(1000); return await ctx.storage.getAlarm()`);
  assert.ok(got >= t0 - 5, `a past time is kept as now, as on Cloudflare (${got} vs ${t0})`);
  const r = await waitRuns("past", 1, srv, 5000);
  assert.ok(r[0].at - t0 < 2000, `ran ${r[0].at - t0} ms after`);
  assert.equal(r[0].during, null);
  assert.equal(await ok("past", `return await ctx.storage.getAlarm()`), null);
});

test("a handler that sets the next alarm runs again, and getAlarm() shows it", async () => {
  await ok("periodic", `await ctx.storage.put("plan", { again: 80, times: 3 }); await ctx.storage.setAlarm(Date.now() + 50)`);
  const r = await waitRuns("periodic", 3);
  for (let i = 1; i < 3; i++) assert.ok(r[i].at - r[i - 1].at >= 75, `gap ${r[i].at - r[i - 1].at}`);
  await sleep(300);
  assert.equal((await runs("periodic")).length, 3);
  assert.equal(await ok("periodic", `return await ctx.storage.getAlarm()`), null);
});

test("a throwing handler is retried with retryCount/isRetry, backoff doubling from the base, 6 retries, then given up", async () => {
  await ok("retry", `await ctx.storage.put("plan", { fail: 100 }); await ctx.storage.setAlarm(Date.now())`);
  const r = await waitRuns("retry", 7, srv, 30000);
  assert.deepEqual(r.map((x) => x.retryCount), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(r.map((x) => x.isRetry), [false, true, true, true, true, true, true]);
  for (let i = 1; i < r.length; i++) {
    const gap = r[i].at - r[i - 1].at, want = BASE * 2 ** (i - 1);
    assert.ok(gap >= want - 2, `retry ${i} came after ${gap} ms, want at least ${want}`);
    assert.ok(gap < want + 1500, `retry ${i} came after ${gap} ms, want about ${want}`);
  }
  await waitFor(() => /alarmed\/retry.*alarm\(\) failed 7 times; it is not retried again/.test(srv.log),
    { what: "the give-up log line" });
  assert.match(srv.log, /alarmed\/retry.*alarm\(\) threw: .*planned failure 1/);
  await sleep(BASE * 2 ** 7);
  assert.equal((await runs("retry")).length, 7, "no eighth run");
  assert.equal(await ok("retry", `return await ctx.storage.getAlarm()`), null);
});

test("after a failure then a success, the next alarm starts again at retryCount 0", async () => {
  await ok("recover", `await ctx.storage.put("plan", { fail: 1 }); await ctx.storage.setAlarm(Date.now())`);
  await waitRuns("recover", 2);
  await ok("recover", `await ctx.storage.setAlarm(Date.now() + 20)`);
  const r = await waitRuns("recover", 3);
  assert.deepEqual(r.map((x) => x.retryCount), [0, 1, 0]);
});

test("setAlarm in a transaction that rolls back is undone; in one that commits it stands", async () => {
  const v = await ok("txn", `
    await ctx.storage.transaction(async (txn) => { await txn.setAlarm(Date.now() + 100); txn.rollback(); });
    const afterRollback = await ctx.storage.getAlarm();
    try {
      await ctx.storage.transaction(async (txn) => { await txn.setAlarm(Date.now() + 100); throw new Error("no"); });
    } catch {}
    const afterThrow = await ctx.storage.getAlarm();
    ctx.storage.transactionSync(() => { ctx.storage.setAlarm(Date.now() + 100); });
    try { ctx.storage.transactionSync(() => { ctx.storage.deleteAlarm(); throw 1; }); } catch {}
    return { afterRollback, afterThrow, kept: (await ctx.storage.getAlarm()) !== null };`);
  assert.deepEqual(v, { afterRollback: null, afterThrow: null, kept: true });
  const r = await waitRuns("txn", 1);
  assert.equal(r.length, 1);
  const rolled = await ok("txn-only-rollback", `
    await ctx.storage.transaction(async (txn) => { await txn.setAlarm(Date.now() + 50); txn.rollback(); });
    return 1`);
  assert.equal(rolled, 1);
  await sleep(500);
  assert.deepEqual(await runs("txn-only-rollback"), [], "the rolled back alarm never fires");
});

test("deleteAll() deletes the alarm too", async () => {
  const v = await ok("deleteall", `
    await ctx.storage.put("k", 1);
    await ctx.storage.setAlarm(Date.now() + 200);
    await ctx.storage.deleteAll();
    return [await ctx.storage.getAlarm(), (await ctx.storage.list()).size];`);
  assert.deepEqual(v, [null, 0]);
  await sleep(600);
  assert.deepEqual(await runs("deleteall"), []);
});

test("setAlarm on a class without alarm() throws a TypeError that says what to add", async () => {
  const b = await failsOn(srv, "no-handler", `await ctx.storage.setAlarm(Date.now() + 1000)`);
  assert.equal(b.name, "TypeError");
  assert.match(b.message, /alarm\(\)/);
  assert.equal(await okOn(srv, "no-handler", `return await ctx.storage.getAlarm()`), null);
});

test("an alarm fires on time on an idle server", async () => {
  const s = await server({ args: ["--threads", "1"] });
  const lates = [];
  for (let i = 0; i < 3; i++) {
    const at = await ok(`ontime-${i}`, `const t = Date.now() + 300; await ctx.storage.setAlarm(t); return t`, s);
    const r = await waitRuns(`ontime-${i}`, 1, s);
    assert.ok(r[0].at >= at, "never early");
    lates.push(r[0].at - at);
  }
  // The benchmark measures the real figure; this bound only catches an
  // alarm that waits for something else (a sweep, a poll).
  assert.ok(Math.min(...lates) < 250, `lateness ${lates.join(", ")} ms`);
});

test("usage counts the alarms pending", async () => {
  const s = await server({ args: ["--threads", "2"] });
  const pending = async () => (await s.manage({ action: "usage", name: "alarmed" })).body.alarms_pending;
  assert.equal(await pending(), 0);
  for (const id of ["u1", "u2", "u3"]) await ok(id, `await ctx.storage.setAlarm(Date.now() + 3600000)`, s);
  assert.equal(await pending(), 3);
  await ok("u2", `await ctx.storage.deleteAlarm()`, s);
  assert.equal(await pending(), 2);
  await ok("u1", `await ctx.storage.setAlarm(Date.now() + 100)`, s);
  await waitRuns("u1", 1, s);
  await waitFor(async () => (await pending()) === 1, { what: "alarms_pending to drop after the alarm ran" });
});

test("alarms survive a clean restart and a kill -9, and fire on time after", async () => {
  const s = await server({ durability: "fsync", args: ["--threads", "2"] });
  const at = await ok("restart-clean", `const t = Date.now() + 1500; await ctx.storage.setAlarm(t); return t`, s);
  const at9 = await ok("restart-kill", `const t = Date.now() + 1500; await ctx.storage.setAlarm(t); return t`, s);
  // An alarm due while the server is down fires as soon as it is back.
  const due = await ok("restart-due", `const t = Date.now() + 200; await ctx.storage.setAlarm(t); return t`, s);
  await s.kill();
  await sleep(400);
  await s.start();
  const back = Date.now();
  const rd = await waitRuns("restart-due", 1, s);
  assert.ok(rd[0].at >= due);
  const r9 = await waitRuns("restart-kill", 1, s);
  const late9 = r9[0].at - Math.max(at9, back);
  assert.ok(r9[0].at >= at9 && late9 < 1000, `fired ${late9} ms late`);
  await waitRuns("restart-clean", 1, s);
  // And across a clean stop.
  const at2 = await ok("restart-clean", `const t = Date.now() + 1200; await ctx.storage.setAlarm(t); return t`, s);
  await s.restart();
  const back2 = Date.now();
  const r = await waitRuns("restart-clean", 2, s);
  const late = r[1].at - Math.max(at2, back2);
  assert.ok(r[1].at >= at2 && late < 1000, `fired ${late} ms late`);
  assert.ok(at > 0);
});

test("an alarm wakes an evicted instance", async () => {
  const s = await server({ args: ["--threads", "1", "--idle-evict-ms", "200"] });
  const born = await ok("sleeper", `await ctx.storage.setAlarm(Date.now() + 1500); return self.bornAt`, s);
  await waitFor(() => /alarmed\/sleeper.*evicted after \d+ ms idle/.test(s.log), { what: "the eviction" });
  // No request may reach the instance before the alarm does: wait on the log.
  await waitFor(() => /alarmed\/sleeper.*alarm run 1 /.test(s.log), { what: "the alarm's log line" });
  assert.ok(s.log.indexOf("evicted after") < s.log.search(/alarmed\/sleeper.*alarm run 1 /));
  const r = await runs("sleeper", s);
  assert.equal(r.length, 1);
  assert.ok(r[0].bornAt > born, "the constructor ran again for the alarm");
});

test("an alarm set by a handler still running fires after it, once", async () => {
  await ok("overlap", `await ctx.storage.put("plan", { again: 10, times: 2, slow: 300 }); await ctx.storage.setAlarm(Date.now())`);
  const r = await waitRuns("overlap", 2);
  assert.ok(r[1].at - r[0].at >= 300, `the second run started ${r[1].at - r[0].at} ms after the first, before it ended`);
  await waitFor(async () => (await ok("overlap", `return await ctx.storage.get("finished")`)) === 2, { what: "both runs to finish" });
  await sleep(200);
  assert.equal((await runs("overlap")).length, 2);
});

test("getAlarm() is null for other requests while the handler runs", async () => {
  await ok("busy", `await ctx.storage.put("plan", { slow: 1500 }); await ctx.storage.setAlarm(Date.now() + 50)`);
  await waitRuns("busy", 1);
  assert.equal(await ok("busy", `return await ctx.storage.getAlarm()`), null);
  await waitFor(async () => (await ok("busy", `return await ctx.storage.get("finished")`)) === 1, { what: "the slow run to finish" });
  assert.equal(await ok("busy", `return await ctx.storage.getAlarm()`), null);
});

test("an alarm whose handler was cut short by kill -9 runs again after the restart (at least once)", async () => {
  const s = await server({ durability: "fsync", args: ["--threads", "1"] });
  await ok("cut", `await ctx.storage.put("plan", { slow: 3000 }); await ctx.storage.setAlarm(Date.now() + 50)`, s);
  await waitRuns("cut", 1, s);
  await s.kill();
  await s.start();
  const r = await waitRuns("cut", 2, s);
  assert.equal(r.length, 2);
  await waitFor(async () => (await ok("cut", `return await ctx.storage.get("finished")`, s)) === 1, { what: "the second run to finish", timeout: 15000 });
  assert.equal(await ok("cut", `return await ctx.storage.getAlarm()`, s), null);
});

test("an alarm whose handler succeeded but whose commit failed runs again", async () => {
  const s = await server({ args: ["--threads", "1"] });
  await ok("lost-commit", `await ctx.storage.setAlarm(Date.now() + 300)`, s);
  // The next commit with writes in the server is the handler's.
  assert.equal((await s.manage({ action: "test_fail_commits", count: 1 })).status, 200);
  await waitFor(() => /alarmed\/lost-commit.*commit failed: injected commit failure/.test(s.log), { what: "the failed commit" });
  const r = await waitRuns("lost-commit", 1, s);
  assert.equal(r.length, 1, "the first run's writes were lost with its commit; the second run's stayed");
  assert.equal(await ok("lost-commit", `return await ctx.storage.getAlarm()`, s), null);
});
