// Black-box tests of state.storage: every list() option against a reference
// model, UTF-8 key order, the structured-clone value space across a restart,
// the limits at their exact boundaries, and the argument errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("probe", probeSrc);
});
after(async () => srv && srv.cleanup());

async function probe(id, code) {
  const r = await srv.json(`/_do/probe/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200);
  return r.body;
}
async function ok(id, code) {
  const b = await probe(id, code);
  assert.equal(b.ok, true, `${b.name}: ${b.message}`);
  return b.value;
}

// Keys chosen to make byte order and UTF-16 order disagree, with prefixes of
// each other, empty-ish and multibyte ones.
const KEYS = ["", "a", "ab", "abc", "abd", "b", "ba", "Z", "\uFF3A", "\u{1D655}", "\u00e9", "e\u0301",
  "key:1", "key:10", "key:2", "key;", "x\u0000y", "zz", "~"];

const utf8Cmp = (a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

function reference(keys, o) {
  let ks = [...new Set(keys)].sort(utf8Cmp);
  if (o.start !== undefined) ks = ks.filter((k) => utf8Cmp(k, o.start) >= 0);
  if (o.startAfter !== undefined) ks = ks.filter((k) => utf8Cmp(k, o.startAfter) > 0);
  if (o.end !== undefined) ks = ks.filter((k) => utf8Cmp(k, o.end) < 0);
  if (o.prefix !== undefined) ks = ks.filter((k) => Buffer.from(k).subarray(0, Buffer.byteLength(o.prefix)).equals(Buffer.from(o.prefix)));
  if (o.reverse) ks.reverse();
  if (o.limit !== undefined) ks = ks.slice(0, o.limit);
  return ks;
}

function optionCombos() {
  const starts = [undefined, "", "a", "abc", "b", "Z", "\uFF3A", "zzz"];
  const ends = [undefined, "ab", "b", "\u{1D655}", "~"];
  const prefixes = [undefined, "", "a", "ab", "key:", "\uFF3A", "nothing"];
  const combos = [];
  for (const s of starts)
    for (const useAfter of [false, true])
      for (const e of ends)
        for (const p of prefixes)
          for (const reverse of [false, true])
            for (const limit of [undefined, 1, 3]) {
              if (useAfter && s === undefined) continue;
              const o = {};
              if (s !== undefined) o[useAfter ? "startAfter" : "start"] = s;
              if (e !== undefined) o.end = e;
              if (p !== undefined) o.prefix = p;
              if (reverse) o.reverse = true;
              if (limit !== undefined) o.limit = limit;
              combos.push(o);
            }
  return combos;
}

const listAll = (combos) => `
  const combos = ${JSON.stringify(combos)};
  const out = [];
  for (const o of combos) out.push([...(await ctx.storage.list(o)).keys()]);
  return out;`;

test("list(): every option combination matches the model, pending and committed", async () => {
  const combos = optionCombos();
  assert.ok(combos.length > 1000);
  const put = `for (const k of ${JSON.stringify(KEYS)}) await ctx.storage.put(k, k.length);`;
  // 1. writes and lists in one event: everything still pending in memory
  const pending = await ok("list-1", put + listAll(combos));
  combos.forEach((o, i) => assert.deepEqual(pending[i], reference(KEYS, o), JSON.stringify(o)));
  // 2. a later event: committed (or in flight)
  const later = await ok("list-1", listAll(combos));
  combos.forEach((o, i) => assert.deepEqual(later[i], reference(KEYS, o), JSON.stringify(o)));
  // 3. deletes and new puts layered over committed data
  const removed = ["a", "abc", "\uFF3A", "zz"], added = ["aa", "abcd", "\uFF3B"];
  const keys2 = KEYS.filter((k) => !removed.includes(k)).concat(added);
  const mixed = await ok("list-1", `
    for (const k of ${JSON.stringify(removed)}) await ctx.storage.delete(k);
    for (const k of ${JSON.stringify(added)}) await ctx.storage.put(k, 1);` + listAll(combos));
  combos.forEach((o, i) => assert.deepEqual(mixed[i], reference(keys2, o), JSON.stringify(o)));
  // 4. after a restart: straight from SQLite
  await srv.restart();
  const cold = await ok("list-1", listAll(combos));
  combos.forEach((o, i) => assert.deepEqual(cold[i], reference(keys2, o), JSON.stringify(o)));
});

test("list(): keys are ordered by UTF-8 bytes: Z < \\uFF3A < \\u{1D655}", async () => {
  const v = await ok("utf8", `
    await ctx.storage.put({ "\u{1D655}": 3, "Z": 1, "\uFF3A": 2 });
    return [...(await ctx.storage.list()).entries()];`);
  assert.deepEqual(v, [["Z", 1], ["\uFF3A", 2], ["\u{1D655}", 3]]);
});

test("values: the structured-clone value space survives a restart", async () => {
  const writer = `
    const shared = { s: 1 };
    const cyc = { name: "cyc" }; cyc.self = cyc;
    const buf = new ArrayBuffer(8); new Uint8Array(buf).set([1,2,3,4,5,6,7,8]);
    const err = new RangeError("bad range");
    const values = {
      undef: undefined === undefined ? null : 0, nul: null, t: true, f: false,
      num: 3.25, nan: NaN, negz: -0, inf: -Infinity, big: 2n ** 100n, nbig: -(2n ** 64n) + 1n,
      str: "héllo \u{1F600} \uD800", empty: "",
      date: new Date(1700000000123), bad: new Date(NaN), re: /a+b/giu,
      map: new Map([[1, "one"], ["k", { deep: [1, 2] }]]), set: new Set(["x", 2, null]),
      arr: [1, , 3], nested: { a: [{ b: { c: "d" } }] },
      ab: buf, u8: new Uint8Array(buf, 2, 4), f64: new Float64Array([1.5, -2]),
      bi64: new BigInt64Array([-5n]), dv: new DataView(buf, 1, 3), err,
      shared: [shared, shared], cyc,
    };
    await ctx.storage.put(values);
    return Object.keys(values).length;`;
  const n = await ok("types", writer);
  await srv.restart();
  const checks = await ok("types", `
    const m = await ctx.storage.get(${JSON.stringify(["undef","nul","t","f","num","nan","negz","inf","big","nbig","str","empty","date","bad","re","map","set","arr","nested","ab","u8","f64","bi64","dv","err","shared","cyc"])});
    const v = Object.fromEntries(m);
    const r = {};
    r.count = m.size;
    r.nul = v.nul === null; r.t = v.t === true; r.f = v.f === false;
    r.num = v.num === 3.25; r.nan = Number.isNaN(v.nan); r.negz = Object.is(v.negz, -0); r.inf = v.inf === -Infinity;
    r.big = v.big === 2n ** 100n; r.nbig = v.nbig === -(2n ** 64n) + 1n;
    r.str = v.str === "héllo \u{1F600} \uD800"; r.empty = v.empty === "";
    r.date = v.date instanceof Date && v.date.getTime() === 1700000000123;
    r.bad = v.bad instanceof Date && Number.isNaN(v.bad.getTime());
    r.re = v.re instanceof RegExp && v.re.source === "a+b" && v.re.flags === "giu";
    r.map = v.map instanceof Map && v.map.get(1) === "one" && v.map.get("k").deep[1] === 2;
    r.set = v.set instanceof Set && [...v.set].join() === "x,2,";
    r.arr = v.arr.length === 3 && !(1 in v.arr) && v.arr[2] === 3;
    r.nested = v.nested.a[0].b.c === "d";
    r.ab = v.ab instanceof ArrayBuffer && new Uint8Array(v.ab).join() === "1,2,3,4,5,6,7,8";
    r.u8 = v.u8 instanceof Uint8Array && v.u8.join() === "3,4,5,6" && v.u8.byteOffset === 2;
    r.f64 = v.f64 instanceof Float64Array && v.f64[0] === 1.5 && v.f64[1] === -2;
    r.bi64 = v.bi64 instanceof BigInt64Array && v.bi64[0] === -5n;
    r.dv = v.dv instanceof DataView && v.dv.byteOffset === 1 && v.dv.byteLength === 3 && v.dv.getUint8(0) === 2;
    r.err = v.err instanceof RangeError && v.err.message === "bad range";
    r.shared = v.shared[0] === v.shared[1] && v.shared[0].s === 1;
    r.cyc = v.cyc.self === v.cyc && v.cyc.name === "cyc";
    return r;`);
  assert.equal(checks.count, n);
  for (const [k, good] of Object.entries(checks)) if (k !== "count") assert.equal(good, true, k);
});

test("values that cannot be cloned are refused with a DataCloneError-like TypeError", async () => {
  const v = await probe("clone", `await ctx.storage.put("f", () => 1)`);
  assert.equal(v.ok, false);
  assert.match(v.message, /could not be cloned/);
  const s = await probe("clone", `await ctx.storage.put("s", Symbol("x"))`);
  assert.equal(s.ok, false);
  const nothing = await ok("clone", `return (await ctx.storage.list()).size`);
  assert.equal(nothing, 0);
});

test("put(key, undefined) is a TypeError; get of a missing key is undefined", async () => {
  const v = await probe("undef", `await ctx.storage.put("k", undefined)`);
  assert.equal(v.ok, false);
  assert.equal(v.name, "TypeError");
  assert.equal(await ok("undef", `return (await ctx.storage.get("missing")) === undefined`), true);
});

test("multi-key get/put/delete, deleteAll", async () => {
  const v = await ok("multi", `
    await ctx.storage.put({ a: 1, b: 2, c: 3 });
    const got = await ctx.storage.get(["c", "a", "zz"]);
    const d1 = await ctx.storage.delete("a");
    const d2 = await ctx.storage.delete("a");
    const dn = await ctx.storage.delete(["b", "c", "nope"]);
    await ctx.storage.put("x", 1);
    await ctx.storage.deleteAll();
    const after = await ctx.storage.list();
    return { got: [...got.entries()], d1, d2, dn, after: after.size };`);
  assert.deepEqual(v.got, [["a", 1], ["c", 3]]);
  assert.equal(v.d1, true);
  assert.equal(v.d2, false);
  assert.equal(v.dn, 2);
  assert.equal(v.after, 0);
  assert.equal(await ok("multi", `return (await ctx.storage.list()).size`), 0);
});

test("at most 128 keys per multi-key call", async () => {
  const fine = await ok("keys128", `
    const keys = Array.from({ length: 128 }, (_, i) => "k" + i);
    await ctx.storage.put(Object.fromEntries(keys.map((k) => [k, 1])));
    return [(await ctx.storage.get(keys)).size, await ctx.storage.delete(keys)];`);
  assert.deepEqual(fine, [128, 128]);
  for (const op of ["get", "delete"]) {
    const v = await probe("keys128", `await ctx.storage.${op}(Array.from({ length: 129 }, (_, i) => "k" + i))`);
    assert.equal(v.ok, false, op);
    assert.equal(v.name, "RangeError");
    assert.match(v.message, /^Maximum number of key value pairs is 128\. 129 pairs were provided/);
  }
  const p = await probe("keys128", `await ctx.storage.put(Object.fromEntries(Array.from({ length: 129 }, (_, i) => ["k" + i, 1])))`);
  assert.equal(p.name, "RangeError");
  assert.match(p.message, /^Maximum number of key value pairs is 128\. 129 pairs were provided/);
  assert.equal(await ok("keys128", `return (await ctx.storage.list()).size`), 0, "a refused put writes nothing");
});

test("keys: 128 KiB accepted, one byte more refused with a RangeError", async () => {
  const v = await ok("keysize", `
    await ctx.storage.put("k".repeat(131072), 1);
    return (await ctx.storage.get("k".repeat(131072)));`);
  assert.equal(v, 1);
  const multibyte = await ok("keysize", `await ctx.storage.put("é".repeat(65536), 2); return 1`);
  assert.equal(multibyte, 1, "65536 two-byte characters are exactly 128 KiB");
  for (const k of [`"k".repeat(131073)`, `"é".repeat(65536) + "k"`]) {
    for (const op of ["put(K, 1)", "get(K)", "delete(K)", "get([K])", "delete([K])", "put({ [K]: 1 })"]) {
      const r = await probe("keysize", `const K = ${k}; await ctx.storage.${op}`);
      assert.equal(r.ok, false, op);
      assert.equal(r.name, "RangeError", op);
      assert.match(r.message, /^Keys cannot be larger than 131072 bytes\. A key of size 131073 was provided/, op);
    }
  }
});

test("values: a 128 KiB string, ArrayBuffer or typed array fits, as on Cloudflare; a batch of 128 of them too", async () => {
  const v = await ok("val128", `
    const s = "x".repeat(131072), ab = new ArrayBuffer(131072), u8 = new Uint8Array(131072).fill(7);
    await ctx.storage.put({ s, ab, u8 });
    const m = await ctx.storage.get(["s", "ab", "u8"]);
    return [m.get("s").length, m.get("ab").byteLength, m.get("u8").length, m.get("u8")[131071]];`);
  assert.deepEqual(v, [131072, 131072, 131072, 7]);
  const many = await ok("val128", `
    const big = "y".repeat(131072);
    const entries = Object.fromEntries(Array.from({ length: 128 }, (_, i) => ["b" + i, big]));
    await ctx.storage.put(entries);
    return (await ctx.storage.list({ prefix: "b" })).size;`);
  assert.equal(many, 128);
  const over = await probe("val128", `await ctx.storage.put("o", new Uint8Array(131200))`);
  assert.equal(over.name, "RangeError");
  assert.match(over.message, /^Values cannot be larger than 131072 bytes\. A value of size \d+ was provided/);
});

// Checked against workerd with the same calls.
test("arguments are converted as on Cloudflare: keys and list options to strings, undefined entries dropped, limit", async () => {
  const v = await ok("convert", `
    const s = ctx.storage;
    await s.put({ a: undefined, b: 1 });
    const afterUndef = [...(await s.list())];
    await s.put(123, "num");
    await s.put(null, "nul");
    await s.put(true, "yes");
    const got = [await s.get(123), await s.get("123"), await s.get(null), [...(await s.get([true, 123]))]];
    const prefixNull = [...(await s.list({ prefix: null })).keys()];
    const prefixNum = [...(await s.list({ prefix: 12 })).keys()];
    const limits = [];
    for (const l of [1.5, "2", 0, -1, 0.5, NaN, Infinity, null]) {
      try { limits.push((await s.list({ limit: l })).size); } catch (e) { limits.push(e.name); }
    }
    let both;
    try { await s.list({ start: "a", startAfter: "b" }); } catch (e) { both = e.name; }
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => ["u" + i, i < 3 ? i : undefined]));
    await s.put(many);
    const manyKept = (await s.list({ prefix: "u" })).size;
    return { afterUndef, got, prefixNull, prefixNum, limits, both, manyKept, deleted: await s.delete(123) };`);
  assert.deepEqual(v, {
    afterUndef: [["b", 1]], got: ["num", "num", "nul", [["123", "num"], ["true", "yes"]]],
    prefixNull: ["null"], prefixNum: ["123"],
    limits: [1, 2, "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError"],
    both: "TypeError", manyKept: 3, deleted: true,
  });
  const lim = await probe("convert", `await ctx.storage.list({ limit: 0 })`);
  assert.match(lim.message, /^List limit must be positive/);
});

test("storage.kv: the synchronous KV API shares its keys with the async one, with the same limits, and survives a restart", async () => {
  const v = await ok("synckv", `
    const kv = ctx.storage.kv;
    kv.put("a", { n: 1 });
    kv.put("ab", { n: 2 });
    kv.put("b", new Map([[1, 2]]));
    await ctx.storage.put("c", "from async");
    const out = {
      tag: Object.prototype.toString.call(kv),
      putReturns: kv.put("d", 4) === undefined,
      a: kv.get("a"), missing: kv.get("nope") === undefined,
      asyncSeesSync: (await ctx.storage.get("a")).n,
      syncSeesAsync: kv.get("c"),
      mapBack: kv.get("b") instanceof Map,
      list: [...kv.list()].map(([k]) => k),
      prefix: Array.from(kv.list({ prefix: "a" }), ([k, val]) => [k, val.n]),
      reverse: [...kv.list({ reverse: true, limit: 2 })].map(([k]) => k),
      range: [...kv.list({ startAfter: "a", end: "c" })].map(([k]) => k),
      delYes: kv.delete("d"), delNo: kv.delete("d"),
    };
    const errs = {};
    const tries = {
      arrayGet: () => kv.get(["a"]), entriesPut: () => kv.put({ a: 1 }), undef: () => kv.put("u", undefined),
      bigValue: () => kv.put("big", "x".repeat(131102)), bigKey: () => kv.put("k".repeat(131073), 1),
      fits: () => kv.put("fits", "x".repeat(131101)),
    };
    for (const [name, f] of Object.entries(tries)) {
      try { f(); errs[name] = "no error"; } catch (e) { errs[name] = e.name + ": " + e.message; }
    }
    out.errs = errs;
    // In transactionSync(), a throw undoes the synchronous writes as well.
    try { ctx.storage.transactionSync(() => { kv.put("t", 1); throw new Error("undo"); }); } catch {}
    out.rolledBack = kv.get("t") === undefined;
    kv.delete("fits");
    return out;`);
  assert.equal(v.tag, "[object SyncKvStorage]");
  assert.equal(v.putReturns, true);
  assert.deepEqual(v.a, { n: 1 });
  assert.equal(v.missing, true);
  assert.equal(v.asyncSeesSync, 1);
  assert.equal(v.syncSeesAsync, "from async");
  assert.equal(v.mapBack, true);
  assert.deepEqual(v.list, ["a", "ab", "b", "c", "d"]);
  assert.deepEqual(v.prefix, [["a", 1], ["ab", 2]]);
  assert.deepEqual(v.reverse, ["d", "c"]);
  assert.deepEqual(v.range, ["ab", "b"]);
  assert.deepEqual([v.delYes, v.delNo], [true, false]);
  assert.match(v.errs.arrayGet, /^TypeError: storage\.kv\.get\(\) takes one key, not an array/);
  assert.match(v.errs.entriesPut, /^TypeError: storage\.kv\.put\(\) takes a key and a value/);
  assert.match(v.errs.undef, /^TypeError: put\(\) cannot store undefined/);
  assert.match(v.errs.bigValue, /^RangeError: Values cannot be larger than 131072 bytes/);
  assert.match(v.errs.bigKey, /^RangeError: Keys cannot be larger than 131072 bytes/);
  assert.equal(v.errs.fits, "no error");
  assert.equal(v.rolledBack, true);
  // The answer went out after the writes were durable (the output gate), so
  // they are there after a restart.
  await srv.restart();
  assert.deepEqual(await ok("synckv", `return [...ctx.storage.kv.list()].map(([k]) => k)`), ["a", "ab", "b", "c"]);
});
