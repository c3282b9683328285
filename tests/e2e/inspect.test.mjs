// Black-box tests of looking into storage from outside: list_instances,
// get_storage (values as tagged JSON), query (read-only SQL), delete_instance,
// backup and restore (GET /_api/backup, POST /_api/restore) with their
// round trip byte for byte, and `dorm storage ...` in the CLI.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, waitFor, BIN } from "./lib/server.mjs";
import { connect } from "./lib/wsclient.mjs";

// A class with an alarm() handler that also runs posted code, and accepts
// hibernatable WebSockets.
const KEEPER = `
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
export class Keeper {
  constructor(ctx, env) { this.ctx = ctx; this.mem = 0; }
  async fetch(request) {
    if (request.headers.get("Upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server);
      return new Response(null, { status: 101, webSocket: client });
    }
    const code = await request.text();
    try {
      const v = await new AsyncFunction("ctx", "self", code)(this.ctx, this);
      return Response.json({ ok: true, value: v === undefined ? null : v });
    } catch (e) {
      return Response.json({ ok: false, message: String(e && e.message) });
    }
  }
  async alarm() { await this.ctx.storage.put("alarm-ran", Date.now()); }
  webSocketMessage(ws, m) { ws.send("echo:" + m); }
}`;

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("keeper", KEEPER);
  await srv.deploy("other", KEEPER.replace("class Keeper", "class Other"));
});
after(async () => srv && srv.cleanup());

async function run(id, code, cls = "keeper", s = srv) {
  const r = await s.json(`/_do/${cls}/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, true, r.body.message);
  return r.body.value;
}
const manage = (body, s = srv) => s.manage(body);
async function ok(body, s = srv) {
  const r = await s.manage(body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
async function backup(query, s = srv) {
  const r = await s.fetch(`/_api/backup?${new URLSearchParams(query)}`, {
    headers: { authorization: `Bearer ${s.token}` },
  });
  return { status: r.status, headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
}
async function restore(bytes, query = {}, s = srv) {
  const r = await s.fetch(`/_api/restore?${new URLSearchParams(query)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${s.token}` },
    body: bytes,
  });
  return { status: r.status, body: JSON.parse(await r.text()) };
}

// Everything a user can see of an instance: its keys with their stored
// bytes, its SQL tables and rows, its alarm.
async function snapshot(id, cls = "keeper") {
  const kv = await ok({ action: "get_storage", name: cls, id, raw: true, limit: 1000 });
  const tables = await ok({ action: "query", name: cls, id,
    sql: "SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_do\\_%' ESCAPE '\\' ORDER BY name" });
  const rows = {};
  for (const [name] of tables.rows.filter((r) => !String(r[1]).startsWith("CREATE INDEX")))
    rows[name] = (await ok({ action: "query", name: cls, id, sql: `SELECT * FROM "${name}" ORDER BY rowid` })).rows;
  return { entries: kv.entries.map((e) => [e.key, e.raw]), alarm: kv.alarm, tables: tables.rows, rows };
}

test("list_instances: id, name, storage bytes, alarm, live or hibernated; pages with a cursor", async () => {
  const far = Date.now() + 3600_000;
  await run("ann", `await ctx.storage.put("k", 1); await ctx.storage.setAlarm(${far}); return 1`);
  await run("ben", `self.mem = 1; return 1`); // in memory, never wrote
  const ws = await connect(`ws://127.0.0.1:${srv.port}/_do/keeper/cat`);
  ws.send("hi");
  assert.equal(await ws.next(), "echo:hi");
  const list = await ok({ action: "list_instances", name: "keeper" });
  const byName = Object.fromEntries(list.instances.map((i) => [i.name, i]));
  assert.deepEqual(Object.keys(byName).sort(), ["ann", "ben", "cat"]);
  assert.match(byName.ann.id, /^[0-9a-f]{64}$/);
  assert.equal(byName.ann.id, await run("ann", "return ctx.id.toString()"), "the id is state.id.toString()");
  assert.ok(byName.ann.storage_bytes > 0);
  assert.equal(byName.ann.alarm, far);
  assert.equal(byName.ann.live, true);
  assert.equal(byName.ben.storage_bytes, 0);
  assert.equal(byName.ben.alarm, null);
  assert.equal(byName.cat.live, true);
  const sorted = [...list.instances].map((i) => i.id);
  assert.deepEqual(sorted, [...sorted].sort(), "in id order");
  // Pages: two at a time, then the rest, nothing twice or lost.
  const p1 = await ok({ action: "list_instances", name: "keeper", limit: 2 });
  assert.equal(p1.instances.length, 2);
  assert.ok(p1.cursor);
  const p2 = await ok({ action: "list_instances", name: "keeper", limit: 2, cursor: p1.cursor });
  assert.deepEqual([...p1.instances, ...p2.instances].map((i) => i.id), sorted);
  assert.equal(p2.cursor, null);
  await ws.close(1000);
  // Errors say what to send.
  const bad = await manage({ action: "list_instances", name: "keeper", limit: 0 });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /"limit" must be a whole number from 1 to 1000/);
  const none = await manage({ action: "list_instances", name: "nope" });
  assert.equal(none.status, 404);
  const noName = await manage({ action: "list_instances" });
  assert.equal(noName.status, 400);
  assert.match(noName.body.error.message, /needs "name"/);
});

test("get_storage: values as tagged JSON, in key order, with a prefix and a cursor", async () => {
  await run("vals", `
    await ctx.storage.put({
      "n:int": 42, "n:float": 1.5, "n:nan": NaN, "s": "h\\u00e9", "b": true, "u": undefined === 1 ? 0 : null,
      "big": -(2n ** 70n), "date": new Date(86400000), "map": new Map([["a", [1, 2]]]), "set": new Set([1]),
      "obj": { nested: { deep: [1, , 3] } }, "bytes": new Uint8Array([1, 2, 3]), "re": /x+/g,
      "err": Object.assign(new RangeError("out"), { stack: undefined }),
    });
    const o = { name: "loop" }; o.self = o;
    await ctx.storage.put("cycle", o);
    return 1`);
  const all = await ok({ action: "get_storage", name: "keeper", id: "vals" });
  const keys = all.entries.map((e) => e.key);
  assert.deepEqual(keys, [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const v = Object.fromEntries(all.entries.map((e) => [e.key, e.value]));
  assert.equal(v["n:int"], 42);
  assert.equal(v["n:float"], 1.5);
  assert.deepEqual(v["n:nan"], { type: "number", value: "NaN" });
  assert.equal(v.s, "h\u00e9");
  assert.equal(v.b, true);
  assert.equal(v.u, null);
  assert.deepEqual(v.big, { type: "bigint", value: "-1180591620717411303424" });
  assert.deepEqual(v.date, { type: "Date", value: "1970-01-02T00:00:00.000Z" });
  assert.deepEqual(v.map, { type: "Map", value: [["a", { type: "array", length: 2, value: [1, 2] }]] });
  assert.deepEqual(v.set, { type: "Set", value: [1] });
  assert.deepEqual(v.obj.value.nested.value.deep.value, [1, { type: "hole" }, 3]);
  assert.equal(v.bytes.type, "Uint8Array");
  assert.equal(v.bytes.buffer.base64, "AQID");
  assert.deepEqual(v.re, { type: "RegExp", source: "x+", flags: "g" });
  assert.equal(v.err.name, "RangeError");
  assert.equal(v.err.message, "out");
  assert.equal(v.cycle.id, 0);
  assert.deepEqual(v.cycle.value.self, { type: "ref", id: 0 });
  for (const e of all.entries) assert.equal(typeof e.bytes, "number");
  // A prefix, and pages of 2 joined give the same as one read.
  const ns = await ok({ action: "get_storage", name: "keeper", id: "vals", prefix: "n:" });
  assert.deepEqual(ns.entries.map((e) => e.key), ["n:float", "n:int", "n:nan"]);
  let cursor = null, paged = [];
  do {
    const p = await ok({ action: "get_storage", name: "keeper", id: "vals", limit: 2, ...(cursor ? { cursor } : {}) });
    paged.push(...p.entries.map((e) => e.key));
    cursor = p.cursor;
  } while (cursor);
  assert.deepEqual(paged, keys);
  // raw is the stored encoding: the same bytes the class reads.
  const raw = await ok({ action: "get_storage", name: "keeper", id: "vals", prefix: "n:int", raw: true });
  assert.deepEqual([...Buffer.from(raw.entries[0].raw, "base64")], [1, 0x69, 84]);
  // An instance that never wrote has nothing, and says so.
  const empty = await ok({ action: "get_storage", name: "keeper", id: "never" });
  assert.deepEqual(empty.entries, []);
  assert.equal(empty.has_storage, false);
  const bad = await manage({ action: "get_storage", name: "keeper", id: "vals", cursor: "zz" });
  assert.equal(bad.status, 400);
  const noId = await manage({ action: "get_storage", name: "keeper" });
  assert.equal(noId.status, 400);
  assert.match(noId.body.error.message, /needs "id"/);
});

test("query: rows with SQL types, bindings; anything that writes or attaches is refused", async () => {
  await run("sql", `
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n)");
    sql.exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)", 9007199254740993n, 0.25, "x", new Uint8Array([255, 0]).buffer, null);
    sql.exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)", 7, -1e300, "y\\u00e9", new ArrayBuffer(0), null);
    return 1`);
  const q = await ok({ action: "query", name: "keeper", id: "sql", sql: "SELECT * FROM t ORDER BY i DESC" });
  assert.deepEqual(q.columns, ["i", "r", "s", "b", "n"]);
  assert.deepEqual(q.rows[0], [{ type: "bigint", value: "9007199254740993" }, 0.25, "x", { type: "blob", base64: "/wA=" }, null]);
  assert.deepEqual(q.rows[1], [7, -1e300, "y\u00e9", { type: "blob", base64: "" }, null]);
  assert.equal(q.truncated, false);
  const b = await ok({ action: "query", name: "keeper", id: "sql", sql: "SELECT s FROM t WHERE i = ?", bindings: [7] });
  assert.deepEqual(b.rows, [["y\u00e9"]]);
  const cut = await ok({ action: "query", name: "keeper", id: "sql", sql: "SELECT * FROM t", max_rows: 1 });
  assert.equal(cut.rows.length, 1);
  assert.equal(cut.truncated, true);
  for (const sql of ["DELETE FROM t", "INSERT INTO t VALUES (1,2,3,4,5)", "DROP TABLE t", "CREATE TABLE u(x)",
    "ATTACH '/tmp/x.db' AS x", "PRAGMA journal_mode=DELETE", "PRAGMA writable_schema=1"]) {
    const r = await manage({ action: "query", name: "keeper", id: "sql", sql });
    assert.equal(r.status, 400, sql);
    assert.match(r.body.error.message, /not authorized|only queries that read/, sql);
  }
  const two = await manage({ action: "query", name: "keeper", id: "sql", sql: "SELECT 1; SELECT 2" });
  assert.equal(two.status, 400);
  assert.match(two.body.error.message, /one statement at a time/);
  const syntax = await manage({ action: "query", name: "keeper", id: "sql", sql: "SELEC 1" });
  assert.equal(syntax.status, 400);
  assert.match(syntax.body.error.message, /syntax error/, "SQLite's own message");
  const params = await manage({ action: "query", name: "keeper", id: "sql", sql: "SELECT ?", bindings: [] });
  assert.match(params.body.error.message, /1 parameter but 0 bindings/);
  // The data is unchanged after all that.
  assert.equal((await ok({ action: "query", name: "keeper", id: "sql", sql: "SELECT count(*) FROM t" })).rows[0][0], 2);
  const none = await manage({ action: "query", name: "keeper", id: "nosuch", sql: "SELECT 1" });
  assert.equal(none.status, 404);
  assert.equal(none.body.error.code, "NO_STORAGE");
});

test("delete_instance: storage, alarm and memory go, sockets close; other instances never notice", async () => {
  await run("doomed", `self.mem = 7; await ctx.storage.put("k", "v"); ctx.storage.sql.exec("CREATE TABLE z(x)"); await ctx.storage.setAlarm(Date.now() + 3600_000); return 1`);
  await run("bystander", `self.mem = 3; await ctx.storage.put("k", "kept"); return 1`);
  const ws = await connect(`ws://127.0.0.1:${srv.port}/_do/keeper/doomed`);
  const r = await ok({ action: "delete_instance", name: "keeper", id: "doomed" });
  assert.deepEqual(r, { deleted: true, had_storage: true });
  const end = await ws.closed;
  assert.equal(end.code, 1001);
  assert.match(end.reason, /deleted/);
  assert.deepEqual(await run("doomed", `return [self.mem, await ctx.storage.get("k") ?? null, await ctx.storage.getAlarm(),
    [...ctx.storage.sql.exec("SELECT name FROM sqlite_schema WHERE name = 'z'")].length]`), [0, null, null, 0]);
  assert.deepEqual(await run("bystander", `return [self.mem, await ctx.storage.get("k")]`), [3, "kept"]);
  const again = await ok({ action: "delete_instance", name: "keeper", id: "never-was" });
  assert.equal(again.had_storage, false);
  const noId = await manage({ action: "delete_instance", name: "keeper", id_hex: "00".repeat(32) });
  assert.equal(noId.status, 400, "deleting needs the id itself: its shard is found from it");
});

test("delete_instance closes a WebSocket whose connection is still on its way to the instance", async () => {
  // The 101 has reached the client, but the connection reaches the
  // instance's shard only 300 ms later: the close must wait for it, not be lost.
  assert.equal((await manage({ action: "test_delay_ws_attach", ms: 300 })).status, 200);
  try {
    const ws = await connect(`ws://127.0.0.1:${srv.port}/_do/keeper/racer`);
    assert.equal((await ok({ action: "delete_instance", name: "keeper", id: "racer" })).deleted, true);
    const end = await ws.closed;
    assert.equal(end.code, 1001);
    assert.match(end.reason, /deleted/);
  } finally {
    await manage({ action: "test_delay_ws_attach", ms: 0 });
  }
});

test("backup and restore: byte for byte, into the same instance or a new one, while it is in use", async () => {
  await run("src", `
    for (let i = 0; i < 50; i++) await ctx.storage.put("key" + String(i).padStart(3, "0"), { i, s: "x".repeat(i * 10) });
    await ctx.storage.put("bin", new Uint8Array(5000).map((_, i) => i & 255));
    ctx.storage.sql.exec("CREATE TABLE log(id INTEGER PRIMARY KEY, at INTEGER, msg TEXT, data BLOB)");
    ctx.storage.sql.exec("CREATE INDEX log_at ON log(at)");
    for (let i = 0; i < 20; i++) ctx.storage.sql.exec("INSERT INTO log(at, msg, data) VALUES (?, ?, ?)", i * 1000, "m" + i, new Uint8Array([i]).buffer);
    await ctx.storage.setAlarm(Date.now() + 7200_000);
    self.mem = 99;
    return 1`);
  const before = await snapshot("src");
  const b = await backup({ name: "keeper", id: "src" });
  assert.equal(b.status, 200);
  assert.equal(b.headers.get("x-dorm-instances"), "1");
  assert.match(b.headers.get("content-disposition"), /attachment; filename="dorm-default-keeper-src-\d{4}-\d\d-\d\d\.dormbak"/);
  assert.equal(b.bytes.subarray(0, 15).toString(), "SQLite format 3", "a backup is one SQLite file");

  // The source changes after the backup; restoring puts it back exactly.
  await run("src", `await ctx.storage.put("key000", "changed"); await ctx.storage.delete("bin");
    ctx.storage.sql.exec("DELETE FROM log"); await ctx.storage.deleteAlarm(); return 1`);
  const ws = await connect(`ws://127.0.0.1:${srv.port}/_do/keeper/src`);
  const r = await restore(b.bytes);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { restored: 1, instances: [{ app_id: "default", name: "keeper", id: "src" }] });
  assert.deepEqual(await snapshot("src"), before, "every key's bytes, every table and row, the alarm");
  const end = await ws.closed;
  assert.equal(end.code, 1012, "its sockets are closed: they belonged to the old data");
  assert.equal(await run("src", "return self.mem"), 0, "its memory was reset");
  assert.equal(await run("src", `return (await ctx.storage.get("key049")).s.length`), 490, "the class reads what was restored");

  // Into a new instance: same bytes, its own id.
  const n = await restore(b.bytes, { name: "keeper", id: "copy" });
  assert.equal(n.status, 200, JSON.stringify(n.body));
  assert.deepEqual(await snapshot("copy"), before);
  assert.notEqual(await run("copy", "return ctx.id.toString()"), await run("src", "return ctx.id.toString()"));
  const list = await ok({ action: "list_instances", name: "keeper" });
  assert.equal(list.instances.find((i) => i.name === "copy").alarm, before.alarm, "the alarm came along and is scheduled");

  // A second backup of the copy holds the same database, page for page.
  const b2 = await backup({ name: "keeper", id: "copy" });
  const again = await restore(b2.bytes, { name: "keeper", id: "copy2" });
  assert.equal(again.status, 200);
  assert.deepEqual(await snapshot("copy2"), before);
});

test("backup of a class and of an app holds every instance; restore puts each back where it lives", async () => {
  const s = await startServer({ args: ["--threads", "3"] });
  try {
    await s.deploy("keeper", KEEPER);
    await s.deploy("other", KEEPER.replace("class Keeper", "class Other"));
    const ids = Array.from({ length: 12 }, (_, i) => `i${i}`);
    for (const id of ids) await run(id, `await ctx.storage.put("me", ${JSON.stringify(id)}); ctx.storage.sql.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)"); return 1`, "keeper", s);
    await run("o1", `await ctx.storage.put("me", "o1"); return 1`, "other", s);
    const cls = await backup({ name: "keeper" }, s);
    assert.equal(cls.headers.get("x-dorm-instances"), "12");
    const app = await backup({}, s);
    assert.equal(app.headers.get("x-dorm-instances"), "13");
    for (const id of ids) await ok({ action: "delete_instance", name: "keeper", id }, s);
    await ok({ action: "delete_instance", name: "other", id: "o1" }, s);
    const r = await restore(app.bytes, {}, s);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.restored, 13);
    for (const id of ids)
      assert.deepEqual(await run(id, `return [await ctx.storage.get("me"), ctx.storage.sql.exec("SELECT count(*) AS n FROM t").one().n]`, "keeper", s), [id, 1]);
    assert.equal(await run("o1", `return await ctx.storage.get("me")`, "other", s), "o1");
    // A backup of many instances cannot go into one id, nor several classes into one.
    const one = await restore(app.bytes, { name: "keeper", id: "x" }, s);
    assert.equal(one.status, 400);
    assert.match(one.body.error.message, /restores one instance/);
    const many = await restore(app.bytes, { name: "keeper" }, s);
    assert.equal(many.status, 400);
    assert.match(many.body.error.message, /several classes/);
    // The class backup restores into another class of the app.
    const into = await restore(cls.bytes, { name: "other" }, s);
    assert.equal(into.status, 200);
    assert.equal(await run("i3", `return await ctx.storage.get("me")`, "other", s), "i3");
  } finally {
    await s.cleanup();
  }
});

test("restore refuses what is not a backup, and a class that is not deployed; nothing is changed", async () => {
  await run("safe", `await ctx.storage.put("k", "before"); return 1`);
  const junk = await restore(Buffer.from("hello, this is not a backup"));
  assert.equal(junk.status, 400);
  assert.equal(junk.body.error.code, "BAD_BACKUP");
  assert.match(junk.body.error.message, /not a dorm backup file/);
  // A real SQLite file that is not ours.
  const other = await backup({ name: "keeper", id: "safe" });
  const notOurs = Buffer.from(other.bytes);
  notOurs.writeUInt32BE(0x12345678, 68); // the application id
  const r2 = await restore(notOurs);
  assert.equal(r2.status, 400);
  assert.match(r2.body.error.message, /not a dorm backup file/);
  // Cut short.
  const cut = await restore(other.bytes.subarray(0, 1024));
  assert.equal(cut.status, 400);
  const missing = await restore(other.bytes, { name: "not-deployed", id: "x" });
  assert.equal(missing.status, 404);
  assert.match(missing.body.error.message, /not deployed; deploy the class first/);
  assert.equal(await run("safe", `return await ctx.storage.get("k")`), "before");
  const wrongMethod = await srv.fetch("/_api/restore", { headers: { authorization: `Bearer ${srv.token}` } });
  assert.equal(wrongMethod.status, 405);
  const noAuth = await srv.fetch("/_api/backup?name=keeper");
  assert.equal(noAuth.status, 401);
  const noStorage = await backup({ name: "keeper", id: "nothing-here" });
  assert.equal(noStorage.status, 404);
});

test("a backup does not hold up other instances", async () => {
  // A large instance to copy, and requests to another one meanwhile.
  await run("large", `const big = "y".repeat(100000); for (let i = 0; i < 60; i++) await ctx.storage.put("k" + i, big); return 1`);
  const pending = backup({ name: "keeper", id: "large" });
  const answers = [];
  for (let i = 0; i < 20; i++) answers.push(await run("busy", `await ctx.storage.put("n", ${i}); return ${i}`));
  const b = await pending;
  assert.equal(b.status, 200);
  assert.ok(b.bytes.length > 6_000_000);
  assert.deepEqual(answers, Array.from({ length: 20 }, (_, i) => i));
});

// ---- the CLI ------------------------------------------------------------------------------

function dorm(args, s = srv, { input, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, DORM_URL: s.url, DORM_DATA: s.dir };
    delete env.DORM_TOKEN;
    delete env.DORM_ADMIN_TOKEN;
    const p = spawn(BIN, args, { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

test("dorm storage list, get, sql, delete, backup and restore", async () => {
  await run("cli1", `await ctx.storage.put({ a: 1, b: "two", c: new Map([[1, 2n]]) }); ctx.storage.sql.exec("CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 'one')"); return 1`);
  const list = await dorm(["storage", "list", "keeper"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^NAME\tID\tSTORAGE\tALARM\tSTATE\n/);
  assert.match(list.stdout, /\ncli1\t[0-9a-f]{12}\t[\d.]+ KiB\t-\tin memory\n/);
  const get = await dorm(["storage", "get", "keeper", "cli1"]);
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, `"a" = 1\n"b" = "two"\n"c" = Map(1) {1 => 2n}\n`);
  const pre = await dorm(["storage", "get", "keeper", "cli1", "--prefix", "b", "--json"]);
  assert.deepEqual(JSON.parse(pre.stdout).entries.map((e) => e.key), ["b"]);
  const sql = await dorm(["storage", "sql", "keeper", "cli1", "SELECT * FROM t"]);
  assert.equal(sql.code, 0, sql.stderr);
  assert.equal(sql.stdout, "x\ty\n1\tone\n");
  const write = await dorm(["storage", "sql", "keeper", "cli1", "DELETE FROM t"]);
  assert.equal(write.code, 1);
  assert.match(write.stderr, /only queries that read/);

  const dir = await mkdtemp(join(tmpdir(), "dorm-cli-backup-"));
  try {
    const file = join(dir, "k.dormbak");
    const bk = await dorm(["storage", "backup", "keeper", "cli1", "-o", file]);
    assert.equal(bk.code, 0, bk.stderr);
    assert.match(bk.stderr, /backed up keeper\/cli1 to .*k\.dormbak \(\d+ bytes\)/);
    const dflt = await dorm(["storage", "backup", "keeper"], srv, { cwd: dir });
    assert.equal(dflt.code, 0, dflt.stderr);
    assert.match(dflt.stderr, /to dorm-default-keeper-\d{4}-\d\d-\d\d\.dormbak/);
    // Without --yes and without a terminal, delete refuses and deletes nothing.
    const refused = await dorm(["storage", "delete", "keeper", "cli1"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /pass --yes/);
    assert.equal(await run("cli1", `return await ctx.storage.get("a")`), 1);
    const del = await dorm(["storage", "delete", "keeper", "cli1", "--yes"]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /deleted the storage of keeper\/cli1/);
    assert.equal(await run("cli1", `return await ctx.storage.get("a") ?? null`), null);
    const rs = await dorm(["storage", "restore", file]);
    assert.equal(rs.code, 0, rs.stderr);
    assert.match(rs.stdout, /restored 1 instance from/);
    assert.equal(await run("cli1", `return await ctx.storage.get("b")`), "two");
    const into = await dorm(["storage", "restore", file, "--name", "other", "--id", "fromcli"]);
    assert.equal(into.code, 0, into.stderr);
    assert.equal(await run("fromcli", `return await ctx.storage.get("b")`, "other"), "two");
    await writeFile(join(dir, "junk"), "junk");
    const junk = await dorm(["storage", "restore", join(dir, "junk")]);
    assert.equal(junk.code, 1);
    assert.match(junk.stderr, /not a dorm backup file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const usage = await dorm(["storage", "get", "keeper"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing ID/);
  const verb = await dorm(["storage", "frob"]);
  assert.equal(verb.code, 2);
  assert.match(verb.stderr, /use list, get, sql, delete, backup or restore/);
  const idOnly = await dorm(["storage", "restore", "x", "--id", "y"]);
  assert.equal(idOnly.code, 2);
  assert.match(idOnly.stderr, /--id needs --name/);
});
