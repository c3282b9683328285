// Black-box tests of storage.sql: exec with bindings, the cursor, the value
// types both ways, several statements in one call, transaction statements
// refused, the reserved tables out of reach whatever the trick, SQLite's own
// error messages, databaseSize, limits, and SQL writes sharing the turn's
// transaction and output gate with KV writes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { probeSrc, ok, fails } from "./lib/probe.mjs";

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("probe", probeSrc);
});
after(async () => srv && srv.cleanup());

test("exec: bindings, and the cursor's rows, next(), toArray(), raw(), columnNames", async () => {
  const v = await ok(srv, "cursor", `
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
    const ins = sql.exec("INSERT INTO people(name, age) VALUES (?, ?), (?, ?), (?, ?)", "ada", 36, "bob", 41, "cy", 29);
    const out = { insRead: ins.rowsRead, insWritten: ins.rowsWritten, insCols: ins.columnNames, insRows: ins.toArray() };
    const c = sql.exec("SELECT name, age FROM people WHERE age > ? ORDER BY age", 30);
    out.cols = c.columnNames;
    out.first = c.next();
    out.rest = c.toArray();
    out.after = c.next();
    out.read = c.rowsRead;
    out.written = c.rowsWritten;
    out.iter = [];
    for (const row of sql.exec("SELECT id, name FROM people ORDER BY id")) out.iter.push(row);
    const raw = sql.exec("SELECT name, age FROM people ORDER BY name").raw();
    out.rawFirst = raw.next().value;
    out.rawRest = [...raw];
    out.rawCols = sql.exec("SELECT 1 AS a, 2 AS b").raw().columnNames;
    out.spread = [...sql.exec("SELECT count(*) AS n FROM people")];
    out.tag = Object.prototype.toString.call(c);
    return out;`);
  assert.deepEqual(v, {
    insRead: 0, insWritten: 3, insCols: [], insRows: [],
    cols: ["name", "age"],
    first: { done: false, value: { name: "ada", age: 36 } },
    rest: [{ name: "bob", age: 41 }], after: { done: true }, read: 3, written: 0,
    iter: [{ id: 1, name: "ada" }, { id: 2, name: "bob" }, { id: 3, name: "cy" }],
    rawFirst: ["ada", 36], rawRest: [["bob", 41], ["cy", 29]], rawCols: ["a", "b"],
    spread: [{ n: 3 }], tag: "[object SqlStorageCursor]",
  });
});

test("rowsRead and rowsWritten count as Cloudflare does (figures taken from workerd)", async () => {
  const v = await ok(srv, "rowcounts", `
    const sql = ctx.storage.sql;
    const st = (c) => { c.toArray(); return [c.rowsRead, c.rowsWritten]; };
    sql.exec("CREATE TABLE r(id INTEGER PRIMARY KEY, v, w)");
    const out = { ins3: st(sql.exec("INSERT INTO r(v) VALUES (1), (2), (3)")) };
    for (let i = 0; i < 97; i++) sql.exec("INSERT INTO r(v) VALUES (?)", i);
    out.count = st(sql.exec("SELECT count(*) FROM r"));
    out.scan = st(sql.exec("SELECT * FROM r WHERE v = 50"));
    out.point = st(sql.exec("SELECT * FROM r WHERE id = 5"));
    out.upd = st(sql.exec("UPDATE r SET w = 1 WHERE v < 10"));
    out.del = st(sql.exec("DELETE FROM r WHERE id > 90"));
    out.sel1 = st(sql.exec("SELECT 1"));
    return out;`);
  // workerd says 100 rows read for the count(*) too; stock SQLite answers
  // it from the b-tree without reading rows, and dorm says 1.
  assert.deepEqual(v.count, [1, 0]);
  delete v.count;
  assert.deepEqual(v, { ins3: [0, 3], scan: [100, 0], point: [1, 0], upd: [100, 13], del: [10, 10], sel1: [0, 0] });
});

test("one(): the row, or Cloudflare's errors for no row and for several", async () => {
  const v = await ok(srv, "one", `
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE t(v)");
    sql.exec("INSERT INTO t VALUES (1), (2)");
    const errs = [];
    for (const q of ["SELECT v FROM t WHERE v > 5", "SELECT v FROM t"]) {
      try { sql.exec(q).one(); errs.push("no error"); } catch (e) { errs.push(e.message); }
    }
    return { row: sql.exec("SELECT v FROM t WHERE v = 2").one(), errs };`);
  assert.deepEqual(v.row, { v: 2 });
  assert.deepEqual(v.errs, ["Expected exactly one result from SQL query, but got no results.",
    "Expected exactly one result from SQL query, but got multiple results."]);
});

test("types: integers (past 2^53 as BigInt, exactly), floats, text, blobs as ArrayBuffer, null, booleans as text", async () => {
  const v = await ok(srv, "types", `
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE v(k TEXT PRIMARY KEY, x)");
    const bytes = new Uint8Array([0, 1, 2, 254, 255]);
    const put = (k, x) => sql.exec("INSERT INTO v VALUES (?, ?)", k, x);
    put("int", 42); put("neg", -7); put("maxsafe", Number.MAX_SAFE_INTEGER);
    put("big", 9007199254740993n); put("minbig", -9223372036854775808n); put("maxbig", 9223372036854775807n);
    put("float", 2.5); put("frac", 0.1); put("hugefloat", 1e300); put("unsafe-number", 2 ** 60);
    put("text", "h\\u00e9llo \\u{1F600}"); put("empty", "");
    put("blob", bytes); put("ab", bytes.buffer.slice(1, 3)); put("emptyblob", new Uint8Array(0));
    put("null", null); put("undef", undefined); put("t", true); put("f", false);
    const out = {};
    for (const r of sql.exec("SELECT k, x, typeof(x) AS ty FROM v")) {
      const x = r.x;
      out[r.k] = { ty: r.ty, js: x instanceof ArrayBuffer ? "ArrayBuffer" : x === null ? "null" : typeof x,
        val: typeof x === "bigint" ? x.toString() : x instanceof ArrayBuffer ? [...new Uint8Array(x)] : x };
    }
    out.computed = sql.exec("SELECT 9007199254740993 + 1 AS big, 2 * 3 AS small").one();
    out.computed.big = out.computed.big.toString();
    out.div = sql.exec("SELECT ? / 2 AS d", 3).one().d;
    sql.exec("CREATE TABLE typed(i INTEGER, r REAL, t TEXT)");
    sql.exec("INSERT INTO typed VALUES (?, ?, ?)", 5, 7, 2);
    out.affinity = sql.exec("SELECT typeof(i) AS i, typeof(r) AS r, t FROM typed").one();
    out.coerced = sql.exec("SELECT ? AS d, ? AS o, length(?) AS dv, typeof(?) AS dvt",
      new Date(0), { a: 1 }, new DataView(new ArrayBuffer(8), 2, 3), new DataView(new ArrayBuffer(1))).one();
    out.coerced.d = typeof out.coerced.d;
    return out;`);
  // A number binds as a REAL, whole or not, as on Cloudflare (checked
  // against workerd); a column with INTEGER affinity makes it an integer.
  assert.deepEqual(v.int, { ty: "real", js: "number", val: 42 });
  assert.deepEqual(v.neg, { ty: "real", js: "number", val: -7 });
  assert.deepEqual(v.maxsafe, { ty: "real", js: "number", val: Number.MAX_SAFE_INTEGER });
  assert.deepEqual(v.big, { ty: "integer", js: "bigint", val: "9007199254740993" });
  assert.deepEqual(v.minbig, { ty: "integer", js: "bigint", val: "-9223372036854775808" });
  assert.deepEqual(v.maxbig, { ty: "integer", js: "bigint", val: "9223372036854775807" });
  assert.deepEqual(v.float, { ty: "real", js: "number", val: 2.5 });
  assert.deepEqual(v.frac, { ty: "real", js: "number", val: 0.1 });
  assert.deepEqual(v.hugefloat, { ty: "real", js: "number", val: 1e300 });
  assert.deepEqual(v["unsafe-number"], { ty: "real", js: "number", val: 2 ** 60 });
  assert.deepEqual(v.text, { ty: "text", js: "string", val: "h\u00e9llo \u{1F600}" });
  assert.deepEqual(v.empty, { ty: "text", js: "string", val: "" });
  assert.deepEqual(v.blob, { ty: "blob", js: "ArrayBuffer", val: [0, 1, 2, 254, 255] });
  assert.deepEqual(v.ab, { ty: "blob", js: "ArrayBuffer", val: [1, 2] });
  assert.deepEqual(v.emptyblob, { ty: "blob", js: "ArrayBuffer", val: [] });
  assert.deepEqual(v.null, { ty: "null", js: "null", val: null });
  assert.deepEqual(v.undef, { ty: "null", js: "null", val: null });
  // As on Cloudflare (checked against workerd): a boolean binds as text.
  assert.deepEqual(v.t, { ty: "text", js: "string", val: "true" });
  assert.deepEqual(v.f, { ty: "text", js: "string", val: "false" });
  assert.deepEqual(v.computed, { big: "9007199254740994", small: 6 });
  assert.equal(v.div, 1.5);
  assert.deepEqual(v.affinity, { i: "integer", r: "real", t: "2.0" });
  assert.deepEqual(v.coerced, { d: "string", o: "[object Object]", dv: 3, dvt: "blob" });
});

test("bindings that cannot be converted are refused with a TypeError or RangeError saying why", async () => {
  const cases = [
    [`Symbol("s")`, "TypeError", /Symbol|symbol/],
    [`({ toString() { throw new TypeError("no string for you"); } })`, "TypeError", /no string for you/],
    [`2n ** 64n`, "RangeError", /64-bit/],
  ];
  for (const [expr, name, re] of cases) {
    const b = await fails(srv, "badbind", `ctx.storage.sql.exec("SELECT ?", ${expr})`);
    assert.equal(b.name, name, expr);
    assert.match(b.message, re, expr);
  }
  const count = await fails(srv, "badbind", `ctx.storage.sql.exec("SELECT ?, ?", 1)`);
  assert.match(count.message, /^Wrong number of parameter bindings for SQL query: the statement has 2 parameters but 1 value was given/);
  for (const q of ["", "  ", ";", "-- nothing", "/* nothing */ ;"]) {
    const none = await fails(srv, "badbind", `ctx.storage.sql.exec(${JSON.stringify(q)})`);
    assert.equal(none.message, "SQL code did not contain a statement.", JSON.stringify(q));
  }
  const multi = await fails(srv, "badbind", `ctx.storage.sql.exec("SELECT ?; SELECT ?", 1, 2)`);
  assert.match(multi.message, /^When executing multiple SQL statements in a single call, only the last statement can have parameters/);
  const nostr = await fails(srv, "badbind", `ctx.storage.sql.exec(42)`);
  assert.equal(nostr.name, "TypeError");
});

test("several statements in one call: all run, the last one's rows come back", async () => {
  const v = await ok(srv, "multi", `
    const c = ctx.storage.sql.exec(\`
      CREATE TABLE a(x); -- a comment; with a semicolon
      INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);
      /* another; comment */
      SELECT sum(x) AS total FROM a;
    \`);
    return { rows: c.toArray(), cols: c.columnNames, written: c.rowsWritten };`);
  assert.deepEqual(v, { rows: [{ total: 3 }], cols: ["total"], written: 2 });
  const half = await fails(srv, "multi", `ctx.storage.sql.exec("INSERT INTO a VALUES (10); INSERT INTO nope VALUES (1)")`);
  assert.match(half.message, /no such table: nope/);
});

test("BEGIN, COMMIT, ROLLBACK, SAVEPOINT and RELEASE are refused, pointing to transaction()/transactionSync()", async () => {
  for (const q of ["BEGIN", "BEGIN IMMEDIATE TRANSACTION", "COMMIT", "END", "ROLLBACK", "SAVEPOINT s",
    "RELEASE s", "ROLLBACK TO s", "  begin /* sneaky */ ;", "SELECT 1; BEGIN"]) {
    const b = await fails(srv, "txn-stmts", `ctx.storage.sql.exec(${JSON.stringify(q)})`);
    assert.match(b.message, /transactionSync\(\)/, q);
    assert.match(b.message, /transaction\(\)/, q);
  }
});

test("the reserved tables cannot be read or written by SQL, whatever the spelling or the trick", async () => {
  await ok(srv, "reserved", `
    await ctx.storage.put("secret", "kv value");
    await ctx.storage.setAlarm(Date.now() + 3600000).catch(() => {});
    ctx.storage.sql.exec("CREATE TABLE mine(v)");
    ctx.storage.sql.exec("INSERT INTO mine VALUES (1)");`);
  const tricks = [
    "SELECT * FROM _do_kv", "SELECT * FROM _DO_KV", 'SELECT * FROM "_do_kv"', "SELECT * FROM [_do_kv]",
    "SELECT * FROM `_do_kv`", "SELECT * FROM main._do_kv", 'SELECT * FROM "main"."_do_kv"',
    "SELECT * FROM /* hi */ _do_kv", "SELECT * FROM\n_do_kv", "SELECT key FROM _do_kv WHERE 1",
    "SELECT (SELECT count(*) FROM _do_kv)", "SELECT * FROM mine WHERE v IN (SELECT 1 FROM _do_kv)",
    "WITH x AS (SELECT * FROM _do_kv) SELECT * FROM x", "SELECT * FROM mine, _do_meta",
    "SELECT * FROM _do_alarm", "SELECT * FROM _do_meta",
    "INSERT INTO _do_kv VALUES (x'00', x'00')", "UPDATE _do_kv SET value = x'00'", "DELETE FROM _do_kv",
    "DELETE FROM _do_alarm", "INSERT INTO _do_alarm VALUES (1, 0)", "UPDATE _do_meta SET value = 99",
    "REPLACE INTO _do_kv VALUES (x'01', x'01')", "INSERT INTO mine SELECT key FROM _do_kv",
    "DROP TABLE _do_kv", "DROP TABLE IF EXISTS _do_alarm", "ALTER TABLE _do_kv RENAME TO stolen",
    "ALTER TABLE _do_kv ADD COLUMN c", "ALTER TABLE mine RENAME TO _do_mine",
    "CREATE TABLE _do_new(v)", "CREATE TABLE _Do_X(v)", "CREATE INDEX ix ON _do_kv(value)",
    "CREATE VIEW v1 AS SELECT * FROM _do_kv", "CREATE TEMP VIEW v2 AS SELECT * FROM _do_kv",
    "CREATE TRIGGER tr1 AFTER INSERT ON _do_kv BEGIN SELECT 1; END",
    "CREATE TEMP TRIGGER tr2 AFTER INSERT ON main._do_kv BEGIN SELECT 1; END",
    "CREATE TRIGGER tr3 AFTER INSERT ON mine BEGIN DELETE FROM _do_kv; END",
    "CREATE TRIGGER tr4 AFTER INSERT ON mine BEGIN UPDATE _do_alarm SET at = 0; END",
    "UPDATE sqlite_master SET sql = ''", "DELETE FROM sqlite_master", "INSERT INTO sqlite_schema VALUES ('table','x','x',0,'')",
    "PRAGMA writable_schema = ON", "PRAGMA journal_mode = DELETE", "PRAGMA synchronous = OFF",
    "PRAGMA main.journal_mode = MEMORY", "PRAGMA wal_checkpoint", "PRAGMA locking_mode = EXCLUSIVE",
    "PRAGMA query_only = 1", "PRAGMA temp_store_directory = '/tmp'", "PRAGMA mmap_size = 1000000",
    "ATTACH DATABASE ':memory:' AS other", "ATTACH '/tmp/dorm-escape.db' AS x", "DETACH main",
    "VACUUM", "VACUUM INTO '/tmp/dorm-escape-copy.db'", "SELECT load_extension('/tmp/x.so')",
    "SELECT fts3_tokenizer('simple')", "SELECT fts3_tokenizer('x', x'0000000000000000')",
    "SELECT * FROM pragma_table_info('_do_kv') JOIN _do_kv",
    "CREATE VIEW v3 AS SELECT * FROM mine UNION ALL SELECT key FROM _do_kv",
    "CREATE VIRTUAL TABLE _do_fts USING fts5(x)",
  ];
  const passed = [];
  for (const q of tricks) {
    const b = await ok(srv, "reserved", `
      try { const c = ctx.storage.sql.exec(${JSON.stringify(q)}); return { ran: true, rows: c.toArray().length }; }
      catch (e) { return { ran: false, name: e.name, message: e.message }; }`);
    if (b.ran) passed.push(q);
    else assert.ok(b.message.length > 10, `${q}: a message that says why (${b.message})`);
  }
  assert.deepEqual(passed, [], "statements that should have been refused");
  // A full-text index over the KV table (its content read by FTS itself)
  // gets nothing either.
  for (const mod of ["fts5(value, content='_do_kv')", "fts4(content='_do_kv', value)", "fts5(at, content='_do_alarm', content_rowid='id')", "fts4(content='_do_alarm', at)"]) {
    const f = await ok(srv, "reserved", `
      const sql = ctx.storage.sql;
      try { sql.exec("DROP TABLE IF EXISTS f"); sql.exec(${JSON.stringify("CREATE VIRTUAL TABLE f USING " + mod)}); }
      catch (e) { return { created: false, message: e.message }; }
      try { sql.exec("INSERT INTO f(f) VALUES ('rebuild')"); } catch {}
      try { return { created: true, rows: sql.exec("SELECT * FROM f").toArray() }; }
      catch (e) { return { created: true, message: e.message }; }`);
    assert.equal(f.rows, undefined, `${mod} read the KV table: ${JSON.stringify(f.rows)}`);
    assert.doesNotMatch(JSON.stringify(f), /secret|kv value/, mod);
  }
  // A view or trigger made before can still not reach them: the refusal is
  // at run time too.
  const v = await ok(srv, "reserved", `
    const sql = ctx.storage.sql;
    const r = {};
    try { sql.exec("INSERT INTO mine VALUES (2)"); r.insert = "ok"; } catch (e) { r.insert = e.message; }
    r.kv = await ctx.storage.get("secret");
    r.alarm = (await ctx.storage.getAlarm()) !== null;
    r.mine = sql.exec("SELECT count(*) AS n FROM mine").one().n;
    r.listed = sql.exec("SELECT name FROM sqlite_master WHERE name LIKE '\\\\_do\\\\_%' ESCAPE '\\\\' ORDER BY name").toArray().map((x) => x.name);
    r.schemaRead = sql.exec("SELECT count(*) AS n FROM pragma_table_info('mine')").one().n;
    return r;`);
  assert.deepEqual(v, { insert: "ok", kv: "kv value", alarm: false, mine: 2, listed: ["_do_alarm", "_do_kv", "_do_meta"], schemaRead: 1 });
});

test("SQLite's own error messages reach the class", async () => {
  const cases = [
    ["SELEC 1", /near "SELEC": syntax error/],
    ["SELECT * FROM missing", /no such table: missing/],
    ["SELECT nope FROM sqlite_master", /no such column: nope/],
    ["CREATE TABLE u(x UNIQUE); INSERT INTO u VALUES (1); INSERT INTO u VALUES (1)", /UNIQUE constraint failed: u\.x/],
    ["CREATE TABLE nn(x NOT NULL); INSERT INTO nn VALUES (NULL)", /NOT NULL constraint failed: nn\.x/],
  ];
  for (const [q, re] of cases) {
    const b = await fails(srv, "errors", `ctx.storage.sql.exec(${JSON.stringify(q)})`);
    assert.equal(b.name, "Error");
    assert.match(b.message, re, q);
  }
  // A failed statement leaves the instance and its earlier writes usable.
  const v = await ok(srv, "errors", `await ctx.storage.put("k", 1); try { ctx.storage.sql.exec("SELEC"); } catch {} return await ctx.storage.get("k")`);
  assert.equal(v, 1);
  assert.equal(await ok(srv, "errors", `return [...ctx.storage.sql.exec("SELECT x FROM u")].length`), 1);
});

test("the class's own schema objects work: triggers, views, FTS5, R-Tree, JSON, math", async () => {
  const v = await ok(srv, "schema", `
    const sql = ctx.storage.sql;
    sql.exec(\`
      CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, meta TEXT);
      CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
      CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
        INSERT INTO docs_fts(rowid, body) VALUES (new.id, new.body);
        INSERT INTO boxes VALUES (new.id, new.id, new.id + 1);
      END;
      CREATE VIRTUAL TABLE boxes USING rtree(id, lo, hi);
      CREATE VIEW recent AS SELECT id, body, json_extract(meta, '$.tag') AS tag FROM docs ORDER BY id DESC;
    \`);
    sql.exec("INSERT INTO docs(body, meta) VALUES (?, ?)", "the quick brown fox", JSON.stringify({ tag: "a" }));
    sql.exec("INSERT INTO docs(body, meta) VALUES (?, ?)", "lazy dogs sleep", JSON.stringify({ tag: "b" }));
    return {
      match: sql.exec("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'fox'").toArray(),
      view: sql.exec("SELECT tag FROM recent").toArray().map((r) => r.tag),
      box: sql.exec("SELECT id FROM boxes WHERE lo <= 2 AND hi >= 2").toArray(),
      math: sql.exec("SELECT round(sqrt(16)) AS r").one().r,
    };`);
  assert.deepEqual(v, { match: [{ rowid: 1 }], view: ["b", "a"], box: [{ id: 1 }, { id: 2 }], math: 4 });
});

test("databaseSize grows with the data and is a number of bytes", async () => {
  const v = await ok(srv, "size", `
    const sql = ctx.storage.sql;
    const empty = sql.databaseSize;
    sql.exec("CREATE TABLE big(b BLOB)");
    for (let i = 0; i < 20; i++) sql.exec("INSERT INTO big VALUES (?)", new Uint8Array(16384));
    return [empty, sql.databaseSize];`);
  assert.equal(v[0], 0, "an instance that never wrote has no database");
  assert.ok(v[1] >= 20 * 16384, `databaseSize ${v[1]}`);
  assert.equal(v[1] % 4096, 0);
  const later = await ok(srv, "size", `return ctx.storage.sql.databaseSize`);
  assert.equal(later, v[1]);
  const shrunk = await ok(srv, "size", `ctx.storage.sql.exec("DELETE FROM big"); return ctx.storage.sql.databaseSize`);
  assert.ok(shrunk < v[1] / 2, `free pages are not counted (${shrunk} after deleting from ${v[1]})`);
});

test("limits: a huge string or blob is refused, and so is a runaway query, without hurting the server", async () => {
  const big = await fails(srv, "limits", `ctx.storage.sql.exec("SELECT zeroblob(50000000)")`);
  assert.match(big.message, /too big/);
  const huge = await fails(srv, "limits", `ctx.storage.sql.exec("SELECT randomblob(900000000)")`);
  assert.match(huge.message, /too big/);
  assert.equal(await ok(srv, "limits", `return ctx.storage.sql.exec("SELECT 1 AS one").one().one`), 1);
});

test("a query that never ends is stopped by the CPU limit: the event fails, the instance is reset, others go on", async () => {
  const s = await startServer({ args: ["--threads", "1", "--cpu-limit-ms", "300"] });
  try {
    await s.deploy("probe", probeSrc);
    assert.equal(await ok(s, "other", `self.mem = 5; return self.mem`), 5);
    const t0 = Date.now();
    const r = await s.text("/_do/probe/looper", { method: "POST", body: `
      ctx.storage.sql.exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")` });
    assert.equal(r.status, 500);
    assert.match(r.text, /CPU/);
    assert.ok(Date.now() - t0 < 10000);
    assert.equal(await ok(s, "other", `return self.mem`), 5, "another instance kept its memory");
    assert.equal(await ok(s, "looper", `return ctx.storage.sql.exec("SELECT 2 AS n").one().n`), 2);
  } finally {
    await s.cleanup();
  }
});

test("SQL and KV writes of one event commit together and survive a restart", async () => {
  await ok(srv, "together", `
    ctx.storage.sql.exec("CREATE TABLE log(n)");
    for (let i = 0; i < 5; i++) { ctx.storage.sql.exec("INSERT INTO log VALUES (?)", i); ctx.storage.put("n", i); }`);
  await srv.restart();
  const v = await ok(srv, "together", `return [ctx.storage.sql.exec("SELECT count(*) AS c FROM log").one().c, await ctx.storage.get("n")]`);
  assert.deepEqual(v, [5, 4]);
});

test("an injected commit failure loses the event's SQL and KV writes alike, and withholds its answer", async () => {
  await ok(srv, "lost", `ctx.storage.sql.exec("CREATE TABLE t(v)"); await ctx.storage.put("k", "before")`);
  const inj = await srv.manage({ action: "test_fail_commits", count: 1 });
  assert.equal(inj.status, 200);
  const r = await srv.text("/_do/probe/lost", { method: "POST", body: `
    ctx.storage.sql.exec("INSERT INTO t VALUES ('lost')");
    ctx.storage.put("k", "lost");
    return "should never be seen";` });
  assert.equal(r.status, 500);
  assert.doesNotMatch(r.text, /should never be seen/);
  const v = await ok(srv, "lost", `return [ctx.storage.sql.exec("SELECT count(*) AS c FROM t").one().c, await ctx.storage.get("k")]`);
  assert.deepEqual(v, [0, "before"]);
});

test("an SQL-only write holds the answer until it is durable (the output gate)", async () => {
  // With --durability fsync a reply that depends on a SQL write must not go
  // out before its sync: a commit failure injected here proves the reply
  // was waiting for the commit.
  await ok(srv, "sqlgate", `ctx.storage.sql.exec("CREATE TABLE t(v)")`);
  await srv.manage({ action: "test_fail_commits", count: 1 });
  const r = await srv.text("/_do/probe/sqlgate", { method: "POST", body: `ctx.storage.sql.exec("INSERT INTO t VALUES (1)"); return "seen"` });
  assert.equal(r.status, 500);
  assert.equal(await ok(srv, "sqlgate", `return ctx.storage.sql.exec("SELECT count(*) AS c FROM t").one().c`), 0);
});
