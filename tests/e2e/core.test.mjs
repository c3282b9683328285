// Black-box tests of the first vertical slice: deploy real classes through
// the management API, then talk HTTP to their instances as a user would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, access, readdir, mkdtemp, rm } from "node:fs/promises";
import { spawn } from "node:child_process";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, waitFor, BIN } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const counterSrc = await readFile(join(root, "examples/counter.ts"), "utf8");
const chatSrc = await readFile(join(root, "examples/chat-room.ts"), "utf8");
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("counter", counterSrc);
  await srv.deploy("chat-room", chatSrc);
  await srv.deploy("probe", probeSrc);
});
after(async () => srv && srv.cleanup());

// An app holds at most 5 classes: tests remove the ones they add.
async function remove(name) {
  const r = await srv.manage({ app_id: "default", action: "delete", name });
  assert.equal(r.status, 200, `delete ${name}`);
}
const post = (path, body, headers) => srv.text(path, { method: "POST", body, headers });
const probe = async (id, code) => {
  const r = await srv.json(`/_do/probe/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200);
  return r.body;
};

test("modern class shape: the counter example counts per id", async () => {
  assert.equal((await post("/_do/counter/alice")).text, "1\n");
  assert.equal((await post("/_do/counter/alice")).text, "2\n");
  assert.equal((await srv.text("/_do/counter/alice")).text, "2\n");
});

test("two ids never share state", async () => {
  await post("/_do/counter/ann");
  await post("/_do/counter/ann");
  assert.equal((await post("/_do/counter/bob")).text, "1\n");
  assert.equal((await srv.text("/_do/counter/ann")).text, "2\n");
  // ids that differ only by case, encoding or a trailing path are distinct or the same as a user expects
  assert.equal((await srv.text("/_do/counter/Ann")).text, "0\n");
  assert.equal((await srv.text("/_do/counter/a%6En")).text, "2\n", "percent-decoded id is the same instance");
  assert.equal((await srv.text("/_do/counter/ann/some/path?x=1")).text, "2\n");
});

test("classic class shape with parameter properties: the chat-room skeleton", async () => {
  const r = await srv.json("/_do/chat-room/lobby", {
    method: "POST",
    body: JSON.stringify({ name: "ada", text: "hello" }),
  });
  assert.equal(r.status, 201);
  const g = await srv.json("/_do/chat-room/lobby");
  assert.equal(g.status, 200);
  assert.equal(g.body.messages.length, 1);
  assert.equal(g.body.messages[0].name, "ada");
  assert.equal(g.body.messages[0].text, "hello");
  const bad = await srv.json("/_do/chat-room/lobby", { method: "POST", body: "not json" });
  assert.equal(bad.status, 400);
});

test("the object receives the original method, URL, headers and body", async () => {
  const r = await srv.json("/_do/probe/echo/extra/path?q=1&r=two", {
    method: "POST",
    headers: { "X-Custom": "Value 1", "content-type": "text/plain" },
    body: `const u = new URL(request.url);
      return { method: request.method, path: u.pathname, q: u.searchParams.get("r"),
               custom: request.headers.get("x-custom"), host: u.host,
               idName: ctx.id.name, idHex: ctx.id.toString() };`,
  });
  assert.equal(r.status, 200);
  const v = r.body.value;
  assert.equal(v.method, "POST");
  assert.equal(v.path, "/_do/probe/echo/extra/path");
  assert.equal(v.q, "two");
  assert.equal(v.custom, "Value 1");
  assert.equal(v.host, new URL(srv.url).host);
  assert.equal(v.idName, "echo");
  assert.match(v.idHex, /^[0-9a-f]{64}$/);
});

test("state.id: 64 hex chars, name, equals", async () => {
  const a = await probe("same", "return ctx.id.toString()");
  const b = await probe("same", "return ctx.id.toString()");
  const c = await probe("other", "return ctx.id.toString()");
  assert.equal(a.value, b.value);
  assert.notEqual(a.value, c.value);
  const e = await probe("same", "return [ctx.id.equals(ctx.id), ctx.id.name]");
  assert.deepEqual(e.value, [true, "same"]);
});

test("concurrent get-then-put increments never lose an update", async () => {
  const n = 60;
  const results = await Promise.all(
    Array.from({ length: n }, () => post("/_do/counter/concurrent").then((r) => Number(r.text))),
  );
  assert.deepEqual(results.sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
  assert.equal((await srv.text("/_do/counter/concurrent")).text, `${n}\n`);
});

test("an exception in fetch gives 500 with the message, and is logged with its stack", async () => {
  const r = await srv.json("/_do/probe/thrower", {
    method: "POST",
    body: `return new Response(null, { status: 200, get headers() { throw new Error("boom in getter"); } })`,
  });
  // the probe catches its own errors; use a class that really throws
  const code = `export class Thrower { async fetch() { throw new TypeError("kaboom " + 42); } }`;
  await srv.deploy("thrower", code);
  const t = await srv.text("/_do/thrower/x");
  assert.equal(t.status, 500);
  assert.match(t.text, /kaboom 42/);
  await waitFor(() => /thrower\/x.*TypeError: kaboom 42/.test(srv.log), { what: "the log line" });
  assert.ok(r.status === 200 || r.status === 500);
  await remove("thrower");
});

test("fetch returning something other than a Response is a 500 that says so", async () => {
  await srv.deploy("not-response", `export class NotResponse { fetch() { return "hi"; } }`);
  const t = await srv.text("/_do/not-response/x");
  assert.equal(t.status, 500);
  assert.match(t.text, /Response/);
  await remove("not-response");
});

test("redeploy keeps storage and resets memory", async () => {
  const a = await probe("redeploy", `self.mem++; await ctx.storage.put("k", "stored"); return self.mem`);
  assert.equal(a.value, 1);
  assert.equal((await probe("redeploy", "return ++self.mem")).value, 2);
  await srv.deploy("probe", probeSrc + "\n// v2\n");
  const b = await probe("redeploy", `return [++self.mem, await ctx.storage.get("k")]`);
  assert.deepEqual(b.value, [1, "stored"]);
});

test("delete purges every instance and its files; a new deploy starts empty", async () => {
  const code = counterSrc.replace("class Counter", "class Doomed");
  await srv.deploy("doomed", code);
  assert.equal((await post("/_do/doomed/a")).text, "1\n");
  assert.equal((await post("/_do/doomed/b")).text, "1\n");
  const dir = join(srv.dir, "apps", "default", "doomed");
  await waitFor(async () => access(dir).then(() => true, () => false), { what: "files" });
  const d = await srv.manage({ app_id: "default", action: "delete", name: "doomed" });
  assert.equal(d.status, 200);
  assert.deepEqual(d.body, { deleted: true });
  assert.equal((await srv.text("/_do/doomed/a")).status, 404);
  await assert.rejects(access(dir), "the class's storage folder is gone");
  await srv.deploy("doomed", code);
  assert.equal((await post("/_do/doomed/a")).text, "1\n", "storage starts empty");
  const again = await srv.manage({ app_id: "default", action: "delete", name: "nothing-here" });
  assert.equal(again.status, 404);
  await remove("doomed");
});

test("management API: result shapes of deploy, list, get", async () => {
  const d = await srv.manage({ app_id: "default", action: "deploy", name: "shapes", code: counterSrc.replace("class Counter", "class Shapes") });
  assert.equal(d.status, 200);
  assert.deepEqual(Object.keys(d.body).sort(), ["access_mode", "class_name", "id", "last_deployed_at", "name", "status"]);
  assert.equal(d.body.name, "shapes");
  assert.equal(d.body.class_name, "Shapes");
  assert.equal(d.body.status, "READY");
  assert.equal(d.body.access_mode, "authenticated", "the default access mode");
  assert.ok(!Number.isNaN(Date.parse(d.body.last_deployed_at)));
  const l = await srv.manage({ app_id: "default", action: "list" });
  assert.equal(l.status, 200);
  const entry = l.body.durable_objects.find((x) => x.name === "shapes");
  assert.deepEqual(entry, d.body);
  const g = await srv.manage({ app_id: "default", action: "get", name: "shapes" });
  assert.equal(g.status, 200);
  assert.equal(g.body.code, counterSrc.replace("class Counter", "class Shapes"));
  assert.equal(g.body.error_message, null);
  assert.equal(g.body.id, d.body.id);
  // a redeploy keeps the id
  const d2 = await srv.manage({ app_id: "default", action: "deploy", name: "shapes", code: counterSrc.replace("class Counter", "class Shapes") + "\n" });
  assert.equal(d2.body.id, d.body.id);
  await remove("shapes");
});

test("management API: errors are JSON with a code and a message", async () => {
  const noTok = await srv.manage({ action: "list" }, { token: null });
  assert.equal(noTok.status, 401);
  assert.equal(noTok.body.error.code, "UNAUTHORIZED");
  const bad = await srv.manage({ action: "list" }, { token: "wrong" });
  assert.equal(bad.status, 401);
  const act = await srv.manage({ action: "explode" });
  assert.equal(act.status, 400);
  assert.match(act.body.error.message, /deploy, list, get, delete, usage, list_env, set_env or delete_env/);
  const app = await srv.manage({ app_id: "nope", action: "list" });
  assert.equal(app.status, 404);
  const get = await srv.manage({ action: "get", name: "missing" });
  assert.equal(get.status, 404);
  const r = await fetch(`${srv.url}/_api/manage_durable_objects`, { method: "POST", headers: { authorization: `Bearer ${srv.token}` }, body: "{not json" });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, "INVALID_JSON");
});

test("bad deploys are refused with a clear error and the old version keeps serving", async () => {
  await srv.deploy("keeper", counterSrc.replace("class Counter", "class Keeper"));
  assert.equal((await post("/_do/keeper/k")).text, "1\n");
  const cases = [
    { code: "export class Keeper {\n  fetch() {\n    return new Response(;\n  }\n}\n", status: 400, match: /keeper\.ts:3:\d+/ },
    { code: "export class Keeper { fetch() { return new Response('a'); } }\nexport class Other {}\n", match: /exactly one class/ },
    { code: "import { x } from \"node:fs\";\nexport class Keeper { fetch() { return new Response('a'); } }\n", match: /node:fs.*not allowed|not allowed.*node:fs/ },
    { code: "export class keeper { fetch() { return new Response('a'); } }\n", match: /PascalCase/ },
    { code: "export class Wrong { fetch() { return new Response('a'); } }\n", match: /does not match/ },
    { code: "export const x = 1;\n", match: /exports no class/ },
    { code: "throw new Error('at load');\nexport class Keeper {}\n", match: /at load/ },
    { code: "export class Keeper { fetch(): Response { return new Response('a') } }\nlet x: number = ;\n", match: /keeper\.ts:2:\d+/ },
  ];
  for (const c of cases) {
    const r = await srv.manage({ app_id: "default", action: "deploy", name: "keeper", code: c.code, access_mode: "public" });
    assert.equal(r.status, 400, `refused: ${c.code}`);
    assert.match(r.body.error.message, c.match, `message for: ${c.code}`);
    assert.equal((await post("/_do/keeper/k")).text.trim().length > 0, true);
  }
  assert.equal((await post("/_do/keeper/k")).text, `${cases.length + 2}\n`, "old version kept serving with its state");
  const g = await srv.manage({ app_id: "default", action: "get", name: "keeper" });
  assert.match(g.body.error_message, /does not match|keeper\.ts/);
  const name = await srv.manage({ app_id: "default", action: "deploy", name: "Bad_Name", code: counterSrc });
  assert.equal(name.status, 400);
  assert.match(name.body.error.message, /kebab-case/);
  const mode = await srv.manage({ app_id: "default", action: "deploy", name: "counter", code: counterSrc, access_mode: "open" });
  assert.equal(mode.status, 400);
  await remove("keeper");
});

test("deploy limits: 5 MB per file, 5 classes per app", async () => {
  const big = "export class Big {}\n//" + "x".repeat(5 * 1024 * 1024);
  const r = await srv.manage({ app_id: "default", action: "deploy", name: "big", code: big });
  assert.equal(r.status, 413);
  assert.match(r.body.error.message, /5 MB/);
  const l = await srv.manage({ app_id: "default", action: "list" });
  const have = l.body.durable_objects.length;
  for (let i = have; i < 5; i++) {
    const cls = `Extra${String.fromCharCode(65 + i)}`;
    await srv.deploy(`extra${"-" + String.fromCharCode(97 + i)}`, `export class ${cls} { fetch() { return new Response("x"); } }`);
  }
  const sixth = await srv.manage({ app_id: "default", action: "deploy", name: "sixth", code: "export class Sixth {}" });
  assert.equal(sixth.status, 400);
  assert.equal(sixth.body.error.code, "TOO_MANY_CLASSES");
  // clean up so other tests in this file keep room
  for (const d of (await srv.manage({ action: "list" })).body.durable_objects)
    if (d.name.startsWith("extra-")) await srv.manage({ action: "delete", name: d.name });
});

test("routing: unknown class, empty id, unknown app are 404 with a JSON error", async () => {
  const a = await srv.json("/_do/nope/x");
  assert.equal(a.status, 404);
  assert.equal(a.body.error.code, "CLASS_NOT_FOUND");
  const b = await srv.json("/_do/counter/");
  assert.equal(b.status, 404);
  assert.match(b.body.error.message, /instance id/);
  const c = await srv.json("/_do/counter");
  assert.equal(c.status, 404);
  const d = await srv.json("/somewhere");
  assert.equal(d.status, 404);
  const e = await srv.raw("GET", "/_do/counter/x", { host: "nope.localhost" });
  assert.equal(e.status, 404);
  assert.equal(JSON.parse(e.body).error.code, "APP_NOT_FOUND");
  const f = await srv.raw("GET", "/_do/counter/viahost", { host: "default.localhost:8787" });
  assert.equal(f.status, 200, "the default app by its subdomain");
  const g = await srv.raw("GET", "/_do/counter/viahost", { host: "localhost:8787" });
  assert.equal(g.status, 200, "a Host naming no app means default");
  const long = await srv.json("/_do/counter/" + "x".repeat(1025));
  assert.equal(long.status, 414);
  const ok = await srv.text("/_do/counter/" + "x".repeat(1024));
  assert.equal(ok.status, 200);
});

test("access modes are enforced before the object runs", async () => {
  const code = `export class Guarded { async fetch() { await this.state.storage.put("ran", true); return new Response("in"); }
    constructor(state) { this.state = state; } }`;
  await srv.deploy("guarded", code, "authenticated");
  const none = await srv.json("/_do/guarded/a");
  assert.equal(none.status, 401);
  assert.match(none.body.error.message, /Bearer/);
  const garbage = await srv.json("/_do/guarded/a", { headers: { authorization: "Bearer not-a-jwt" } });
  assert.equal(garbage.status, 401);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const jwt = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "u1" })}.c2ln`;
  const ok = await srv.text("/_do/guarded/a", { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(ok.status, 200);
  assert.equal(ok.text, "in");

  await srv.deploy("keyed", code.replace("Guarded", "Keyed"), "service_key");
  const key = (await readFile(join(srv.dir, "default.service_key"), "utf8")).trim();
  assert.equal((await srv.text("/_do/keyed/a", { headers: { authorization: `Bearer ${jwt}` } })).status, 401);
  assert.equal((await srv.text("/_do/keyed/a", { headers: { authorization: `Bearer ${key}x` } })).status, 401);
  assert.equal((await srv.text("/_do/keyed/a", { headers: { authorization: `Bearer ${key}` } })).status, 200);
  // the refused requests never ran the object: only the accepted one wrote
  const files = await readdir(join(srv.dir, "apps", "default", "guarded")).catch(() => []);
  assert.equal(files.length, 1);
  await remove("guarded");
  await remove("keyed");
});

test("a stop while writes from timers are still being synced: they survive, and the server exits cleanly", async () => {
  const s = await startServer({ args: ["--threads", "2"], durability: "fsync" });
  try {
    await s.deploy("probe", probeSrc);
    const ids = Array.from({ length: 8 }, (_, i) => "late" + i); // on both shards
    for (const id of ids) assert.equal((await s.json(`/_do/probe/${id}`, { method: "POST", body: "return 1" })).status, 200);
    assert.equal((await s.manage({ action: "test_slow_syncs", ms: 2000 })).status, 200);
    for (const id of ids) {
      const r = await s.json(`/_do/probe/${id}`, { method: "POST", body: `
        setTimeout(() => { ctx.storage.put("late", "written"); console.log("timer wrote"); }, 300);
        return 1` });
      assert.equal(r.status, 200);
    }
    // A response that streams until the client goes keeps one shard from
    // finishing its part of the stop, so the timers fire, and the syncs of
    // those on the other shard, which has finished, are slow (the hook):
    // every shard stops while they are still on the pool.
    let stream;
    await new Promise((resolve, reject) => {
      stream = http.request(`${s.url}/_do/probe/streamer`, { method: "POST" }, (res) => res.once("data", resolve));
      stream.on("error", reject);
      stream.end(`return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("x")); } }))`);
    });
    stream.on("error", () => {});
    const exited = s.stop();
    await waitFor(() => (s.log.match(/timer wrote/g) ?? []).length === ids.length, { what: "the timers to write" });
    stream.destroy(); // now every shard may stop, while the syncs still run
    const { code } = await exited;
    assert.equal(code, 0);
    assert.doesNotMatch(s.log, /AddressSanitizer|runtime error/);
    await s.start();
    for (const id of ids)
      assert.equal((await s.json(`/_do/probe/${id}`, { method: "POST", body: `return await ctx.storage.get("late")` })).body.value, "written");
  } finally {
    await s.cleanup();
  }
});

test("a second server on a port in use refuses to start and says why", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dorm-e2e-second-"));
  try {
    const p = spawn(BIN, ["serve", "--listen", `127.0.0.1:${srv.port}`, "--data", dir],
      { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => (err += d));
    // If it wrongly starts, it is killed rather than left to hang the run.
    const guard = setTimeout(() => p.kill("SIGKILL"), 15000);
    const code = await new Promise((resolve) => p.on("exit", resolve));
    clearTimeout(guard);
    assert.equal(code, 1);
    assert.match(err, /Address already in use.*--listen/);
    // the first server still has every connection
    for (let i = 0; i < 8; i++) assert.equal((await srv.text("/_do/counter/alice")).status, 200);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the counter persists across a restart", async () => {
  await post("/_do/counter/restart");
  await post("/_do/counter/restart");
  const { code } = await srv.stop();
  assert.equal(code, 0, "SIGTERM stops the server with exit code 0");
  assert.match(srv.log, /SIGTERM: stopping/);
  await srv.start();
  assert.equal((await post("/_do/counter/restart")).text, "3\n");
  assert.equal((await srv.text("/_do/counter/alice")).text, "2\n");
});
