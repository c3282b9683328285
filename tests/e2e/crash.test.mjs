// Black-box tests of what must survive failure: un-awaited writes are all or
// nothing across kill -9, acknowledged counts are never lost, a runaway
// instance is stopped without stopping the others, an injected commit
// failure withholds the answer, and 20 rounds of kill -9 under mixed KV, SQL
// and alarm load keep every instance's invariants.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor, sleep } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const counterSrc = await readFile(join(root, "examples/counter.ts"), "utf8");
const servers = [];
after(async () => Promise.all(servers.map((s) => s.cleanup())));
async function server(opts) {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

test("four un-awaited puts then a crash leave all or none", async () => {
  const srv = await server({ durability: "fsync" });
  await srv.deploy("four", `export class Four {
    constructor(state) { this.state = state; }
    async fetch(req) {
      const n = new URL(req.url).searchParams.get("n");
      const s = this.state.storage;
      s.put("a", n); s.put("b", n); s.put("c", n); s.put("d", n);
      return new Response("ok");
    }
  }`);
  const ids = Array.from({ length: 40 }, (_, i) => `i${i}`);
  // Fire requests and kill the server while they are in flight.
  const inflight = ids.map((id, i) => srv.fetch(`/_do/four/${id}?n=${i}`, { method: "POST" }).then(
    (r) => r.status, () => "dropped"));
  await sleep(15);
  await srv.kill();
  const statuses = await Promise.all(inflight);
  await srv.start();
  let acknowledged = 0;
  // Inspect storage: redeploy Four as a reader that reports the four keys.
  await srv.deploy("four", `export class Four {
    constructor(state) { this.state = state; }
    async fetch() { const m = await this.state.storage.get(["a","b","c","d"]); return Response.json([...m.values()]); }
  }`);
  for (const [i, id] of ids.entries()) {
    const r = await srv.json(`/_do/four/${id}`);
    const vals = r.body;
    assert.ok(vals.length === 0 || vals.length === 4, `instance ${id} has ${vals.length} of 4 keys`);
    if (vals.length === 4) assert.ok(vals.every((v) => v === vals[0]), `one batch for ${id}`);
    if (statuses[i] === 200) {
      acknowledged++;
      assert.equal(vals.length, 4, `acknowledged write of ${id} survived`);
    }
  }
});

test("kill -9 while clients hammer the counter: the count is >= every value seen", async () => {
  const srv = await server({ durability: "fsync", args: ["--threads", "2"] });
  await srv.deploy("counter", counterSrc);
  let maxSeen = 0, stop = false;
  const client = async () => {
    while (!stop) {
      try {
        const r = await srv.fetch("/_do/counter/hammer", { method: "POST" });
        if (r.status !== 200) continue;
        const v = Number(await r.text());
        if (v > maxSeen) maxSeen = v;
      } catch {
        return;
      }
    }
  };
  const clients = Array.from({ length: 8 }, client);
  await waitFor(() => maxSeen >= 200, { timeout: 20000, what: "200 increments" });
  await srv.kill();
  stop = true;
  await Promise.all(clients);
  await srv.start();
  const after = Number((await srv.text("/_do/counter/hammer")).text);
  assert.ok(after >= maxSeen, `count after restart ${after} >= max acknowledged ${maxSeen}`);
});

test("an infinite loop in one instance does not stop another from answering", async () => {
  const srv = await server({ args: ["--cpu-limit-ms", "300", "--threads", "1"] });
  await srv.deploy("spin", `export class Spin {
    constructor(state) { this.state = state; this.n = 0; }
    async fetch(req) {
      this.n++;
      if (new URL(req.url).searchParams.has("loop")) { while (true) {} }
      return new Response("n=" + this.n);
    }
  }`);
  assert.equal((await srv.text("/_do/spin/other")).text, "n=1");
  assert.equal((await srv.text("/_do/spin/looper")).text, "n=1");
  const t0 = Date.now();
  const looping = srv.text("/_do/spin/looper?loop");
  const other = await srv.text("/_do/spin/other");
  assert.equal(other.status, 200);
  assert.equal(other.text, "n=2", "the other instance kept its memory");
  const l = await looping;
  assert.equal(l.status, 500);
  assert.match(l.text, /CPU/);
  assert.ok(Date.now() - t0 < 10000);
  const again = await srv.text("/_do/spin/looper");
  assert.equal(again.text, "n=1", "the looping instance was reset and re-created");
  assert.match(srv.log, /exceeded the CPU limit/);
});

test("an injected commit failure: the answer is never seen, a fresh instance takes the next request", async () => {
  const srv = await server({ args: ["--threads", "1"] });
  await srv.deploy("counter", counterSrc);
  assert.equal((await srv.text("/_do/counter/c", { method: "POST" })).text, "1\n");
  assert.equal((await srv.text("/_do/counter/other", { method: "POST" })).text, "1\n");
  const inj = await srv.manage({ action: "test_fail_commits", count: 1 });
  assert.equal(inj.status, 200);
  const failed = await srv.text("/_do/counter/c", { method: "POST" });
  assert.equal(failed.status, 500);
  assert.doesNotMatch(failed.text, /^2/);
  assert.equal((await srv.text("/_do/counter/c")).text, "1\n", "the failed write is not visible");
  assert.equal((await srv.text("/_do/counter/c", { method: "POST" })).text, "2\n");
  assert.equal((await srv.text("/_do/counter/other", { method: "POST" })).text, "2\n", "others never noticed");
});

test("few file descriptors: many instances still read and write, the open databases stay within the limit", async () => {
  // Each open instance database holds several descriptors; the server must
  // size its pool of open databases by the limit instead of failing.
  const srv = await server({ fileLimit: 320, args: ["--threads", "2"] });
  await srv.deploy("counter", counterSrc);
  assert.match(srv.log, /up to \d+ open databases per shard/);
  const ids = Array.from({ length: 300 }, (_, i) => `fd${i}`);
  for (let round = 1; round <= 2; round++) {
    for (let i = 0; i < ids.length; i += 30) {
      const answers = await Promise.all(ids.slice(i, i + 30).map((id) =>
        srv.text(`/_do/counter/${id}`, { method: "POST" })));
      for (const a of answers) assert.deepEqual([a.status, a.text], [200, `${round}\n`]);
    }
  }
  assert.doesNotMatch(srv.log, /cannot open storage file|commit failed/);
});

// A class whose every write turn keeps invariants across KV, SQL and the
// alarm: the counter, its SQL log row and the alarm are written in one turn;
// the alarm handler notes what it fired for in SQL and KV in one turn.
const mixedSrc = `export class Mixed {
  constructor(ctx) {
    this.ctx = ctx;
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS log(n INTEGER PRIMARY KEY, pad BLOB)");
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS fired(n INTEGER)");
  }
  async fetch(request) {
    const s = this.ctx.storage, sql = s.sql;
    if (request.method === "POST") {
      const n = ((await s.get("count")) ?? 0) + 1;
      await s.put("count", n);
      sql.exec("INSERT INTO log(n, pad) VALUES (?, ?)", n, new Uint8Array(200 + (n % 7) * 300));
      await s.put("alarmFor", n);
      await s.setAlarm(Date.now() + 20 + (n % 5) * 40);
      return new Response(String(n));
    }
    const one = (q) => sql.exec(q).one();
    return Response.json({
      count: (await s.get("count")) ?? 0,
      rows: one("SELECT count(*) AS c FROM log").c,
      maxRow: one("SELECT coalesce(max(n), 0) AS m FROM log").m,
      alarmFor: (await s.get("alarmFor")) ?? 0,
      alarm: await s.getAlarm(),
      firedFor: (await s.get("firedFor")) ?? 0,
      firedMax: one("SELECT coalesce(max(n), 0) AS m FROM fired").m,
      firedFor0: one("SELECT count(*) AS c FROM fired WHERE n = " + ((await s.get("alarmFor")) ?? -1)).c,
    });
  }
  async alarm() {
    const s = this.ctx.storage;
    const n = (await s.get("alarmFor")) ?? 0;
    s.sql.exec("INSERT INTO fired(n) VALUES (?)", n);
    await s.put("firedFor", n);
  }
}`;

test("kill -9 at random points under mixed KV, SQL and alarm load, 20 rounds: invariants hold, no acknowledged write is lost", async () => {
  const srv = await server({ durability: "fsync", args: ["--threads", "2"] });
  await srv.deploy("mixed", mixedSrc);
  const ids = ["m0", "m1", "m2", "m3", "m4", "m5"];
  const acked = Object.fromEntries(ids.map((id) => [id, 0]));
  const fired = Object.fromEntries(ids.map((id) => [id, 0]));
  let rng = 12345;
  const rand = (n) => ((rng = (rng * 1103515245 + 12345) % 2147483648) % n);
  for (let round = 0; round < 20; round++) {
    let stop = false;
    const client = async (k) => {
      while (!stop) {
        const id = ids[(k + rand(ids.length)) % ids.length];
        try {
          const r = await srv.fetch(`/_do/mixed/${id}`, { method: "POST" });
          if (r.status !== 200) continue;
          const n = Number(await r.text());
          if (n > acked[id]) acked[id] = n;
        } catch {
          return; // the server died under us
        }
      }
    };
    const clients = Array.from({ length: 6 }, (_, k) => client(k));
    // Load for a random while (wait for at least one answer first, so that
    // every round writes something), then kill.
    const start = Object.values(acked).reduce((a, b) => a + b, 0);
    await waitFor(() => Object.values(acked).reduce((a, b) => a + b, 0) > start, { what: `writes in round ${round}` });
    await sleep(30 + rand(250));
    await srv.kill();
    stop = true;
    await Promise.all(clients);
    await srv.start();
    for (const id of ids) {
      const r = await srv.json(`/_do/mixed/${id}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const v = r.body;
      const where = `round ${round}, ${id}: ${JSON.stringify(v)}`;
      assert.equal(v.rows, v.count, `KV counter and SQL rows agree (${where})`);
      assert.equal(v.maxRow, v.count, where);
      assert.equal(v.alarmFor, v.count, `the alarm was noted in the same turn (${where})`);
      assert.ok(v.count >= acked[id], `acknowledged ${acked[id]} is not lost (${where})`);
      assert.equal(v.firedFor, v.firedMax, `the alarm handler's KV and SQL agree (${where})`);
      assert.ok(v.firedMax <= v.count, where);
      if (v.count > 0)
        assert.ok(v.alarm !== null || v.firedFor0 > 0, `the last alarm is pending or has fired (${where})`);
      fired[id] = Math.max(fired[id], v.firedMax);
    }
  }
  assert.ok(Object.values(acked).every((n) => n > 0), `every instance took writes: ${JSON.stringify(acked)}`);
  assert.ok(Object.values(fired).some((n) => n > 0), `alarms fired during the load: ${JSON.stringify(fired)}`);
  assert.doesNotMatch(srv.log, /database disk image is malformed|cannot open storage file/);
});
