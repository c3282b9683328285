// Helpers for tests that drive tests/e2e/classes/probe.js: POST the body of
// an async function, run with (ctx, env, self, request) in scope, and get
// its value back as JSON.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const root = new URL("../../../", import.meta.url).pathname;
export const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

// The probe's JSON answer ({ok, value} or {ok:false, name, message}).
export async function probe(srv, id, code, name = "probe") {
  const r = await srv.json(`/_do/${name}/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

// The value of code, which must not throw.
export async function ok(srv, id, code, name = "probe") {
  const b = await probe(srv, id, code, name);
  assert.equal(b.ok, true, `${b.name}: ${b.message}`);
  return b.value;
}

// The error code throws: {name, message}.
export async function fails(srv, id, code, name = "probe") {
  const b = await probe(srv, id, code, name);
  assert.equal(b.ok, false, `expected an error, got ${JSON.stringify(b.value)}`);
  return b;
}
