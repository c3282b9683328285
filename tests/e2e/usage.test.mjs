// Black-box tests of usage: the usage action for a class and for an app,
// counters that move by exactly the requests made, CPU time that is CPU time
// (not time spent waiting), errors, live instances, storage on disk,
// persistence across a restart, and GET /metrics as Prometheus text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitFor } from "./lib/server.mjs";

const work = `export class Work {
  constructor(state) { this.state = state; }
  async fetch(request) {
    const u = new URL(request.url);
    if (u.searchParams.has("burn")) {
      const until = Date.now() + Number(u.searchParams.get("burn"));
      let x = 0;
      while (Date.now() < until) x++;
    }
    if (u.searchParams.has("sleep")) await new Promise((r) => setTimeout(r, Number(u.searchParams.get("sleep"))));
    if (u.searchParams.has("throw")) throw new Error("on purpose");
    if (u.searchParams.has("write")) await this.state.storage.put("k", "v".repeat(1000));
    return new Response("ok");
  }
}`;

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2", "--idle-evict-ms", "3000"] });
  await srv.deploy("work", work);
  await srv.deploy("idle", work.replace("class Work", "class Idle"));
});
after(async () => srv && srv.cleanup());

const usage = async (name, app_id = "default") => {
  const r = await srv.manage({ app_id, action: "usage", ...(name ? { name } : {}) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};

test("the usage action's shape, for a class and for its app", async () => {
  const u = await usage("idle");
  assert.deepEqual(Object.keys(u).sort(), ["alarms_pending", "app_id", "do_cpu_ms", "do_requests", "errors",
    "instances_live", "name", "storage_bytes", "websockets_open"]);
  assert.equal(u.name, "idle");
  assert.equal(u.do_requests, 0);
  assert.equal(u.storage_bytes, 0, "a class that never wrote takes no disk");
  assert.equal(u.websockets_open, 0);
  assert.equal(u.alarms_pending, 0);
  const a = await usage();
  assert.equal(a.app_id, "default");
  assert.deepEqual(a.durable_objects.map((d) => d.name).sort(), ["idle", "work"]);
  const missing = await srv.manage({ action: "usage", name: "nope" });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "NOT_FOUND");
  const bad = await srv.manage({ action: "usage", name: 5 });
  assert.equal(bad.status, 400);
});

test("do_requests moves by exactly the requests made, across shards", async () => {
  const before = (await usage("work")).do_requests;
  const n = 37;
  await Promise.all(Array.from({ length: n }, (_, i) => srv.text(`/_do/work/id-${i % 9}`)));
  const after = await usage("work");
  assert.equal(after.do_requests, before + n);
  // refused requests never reach the class and do not count
  await srv.deploy("work", work, "service_key");
  assert.equal((await srv.text("/_do/work/x")).status, 401);
  assert.equal((await usage("work")).do_requests, before + n);
  await srv.deploy("work", work, "public");
  assert.equal((await usage("idle")).do_requests, 0, "another class's count did not move");
});

test("do_cpu_ms is CPU spent in JS, not time spent waiting", async () => {
  const u0 = await usage("work");
  // The class burns by the wall clock; on a busy machine its thread gets
  // only part of that as CPU, so the burn is long and the bound generous.
  assert.equal((await srv.text("/_do/work/cpu?burn=400")).status, 200);
  const u1 = await usage("work");
  assert.ok(u1.do_cpu_ms - u0.do_cpu_ms >= 90, `burning 400 ms counted ${u1.do_cpu_ms - u0.do_cpu_ms} ms`);
  assert.ok(u1.do_cpu_ms - u0.do_cpu_ms < 4000);
  assert.equal((await srv.text("/_do/work/cpu?sleep=400")).status, 200);
  const u2 = await usage("work");
  assert.ok(u2.do_cpu_ms - u1.do_cpu_ms < 100, `waiting 400 ms counted ${u2.do_cpu_ms - u1.do_cpu_ms} ms of CPU`);
});

test("errors, live instances and storage bytes", async () => {
  const u0 = await usage("work");
  assert.equal((await srv.text("/_do/work/e?throw=1")).status, 500);
  assert.equal((await srv.text("/_do/work/e?throw=1")).status, 500);
  assert.equal((await srv.text("/_do/work/w?write=1")).status, 200);
  const u1 = await usage("work");
  assert.equal(u1.errors, u0.errors + 2);
  assert.ok(u1.instances_live >= 1);
  assert.ok(u1.storage_bytes > 1000, `storage_bytes ${u1.storage_bytes}`);
  // idle instances are evicted, and the gauge follows
  await waitFor(async () => (await usage("work")).instances_live === 0, { timeout: 20000, what: "eviction" });
  await srv.text("/_do/work/one");
  await srv.text("/_do/work/two");
  assert.equal((await usage("work")).instances_live, 2);
  const app = await usage();
  const sum = (k) => app.durable_objects.reduce((s, d) => s + d[k], 0);
  for (const k of ["do_requests", "errors", "instances_live", "storage_bytes"]) assert.equal(app[k], sum(k), k);
});

// A strict reader of the Prometheus text format (version 0.0.4).
function parsePrometheus(text) {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const types = new Map(), samples = [];
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      assert.match(line.slice(7).split(" ")[0], name, line);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [n, t, ...rest] = line.slice(7).split(" ");
      assert.match(n, name);
      assert.ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(t), line);
      assert.equal(rest.length, 0, line);
      assert.ok(!types.has(n), `one TYPE line for ${n}`);
      assert.ok(!samples.some((s) => s.name === n), `TYPE of ${n} comes before its samples`);
      types.set(n, t);
      continue;
    }
    assert.ok(!line.startsWith("#") && line.length > 0, `not a valid line: ${JSON.stringify(line)}`);
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/);
    assert.ok(m, `a sample: ${line}`);
    const labels = {};
    if (m[3] !== undefined) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        assert.ok(l, `labels of ${line}`);
        labels[l[1]] = l[2];
        pos = re.lastIndex;
      }
    }
    assert.ok(/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?Inf$|^NaN$/.test(m[4]), `value of ${line}`);
    assert.ok(types.has(m[1]), `${m[1]} has a TYPE`);
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return { types, samples };
}

test("GET /metrics is Prometheus text that agrees with usage", async () => {
  await srv.text("/_do/work/metrics");
  const r = await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${srv.token}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const { types, samples } = parsePrometheus(await r.text());
  assert.equal(types.get("dorm_do_requests_total"), "counter");
  assert.equal(types.get("dorm_do_instances_live"), "gauge");
  const u = await usage("work");
  const get = (n) => samples.find((s) => s.name === n && s.labels.app === "default" && s.labels.class === "work").value;
  assert.equal(get("dorm_do_requests_total"), u.do_requests);
  assert.equal(get("dorm_do_errors_total"), u.errors);
  assert.ok(Math.abs(get("dorm_do_cpu_seconds_total") * 1000 - u.do_cpu_ms) < 50);
  assert.ok(samples.some((s) => s.name === "dorm_do_storage_bytes" && s.labels.class === "idle" && s.value === 0));
  assert.equal(samples.find((s) => s.name === "dorm_shards").value, 2);
  assert.equal((await fetch(`${srv.url}/metrics`, { method: "POST", headers: { authorization: `Bearer ${srv.token}` } })).status, 405);
});

test("counters survive a restart; deleting a class forgets them", async () => {
  await srv.text("/_do/work/persist");
  const u0 = await usage("work");
  await srv.restart();
  const u1 = await usage("work");
  assert.equal(u1.do_requests, u0.do_requests);
  assert.equal(u1.errors, u0.errors);
  assert.ok(Math.abs(u1.do_cpu_ms - u0.do_cpu_ms) < 1);
  assert.equal(u1.instances_live, 0, "a gauge starts over");
  await srv.text("/_do/work/persist");
  assert.equal((await usage("work")).do_requests, u0.do_requests + 1);
  await srv.manage({ action: "delete", name: "work" });
  await srv.deploy("work", work);
  assert.equal((await usage("work")).do_requests, 0, "a new class starts from zero");
});
