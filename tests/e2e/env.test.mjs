// Black-box tests of env vars: list_env, set_env and delete_env, the key
// rules, this.env in both class shapes, the redeploy a change causes, and
// that a value never comes back out of the server: not in an API answer,
// not in a log line, not readable by other users on the machine.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";

const SECRET_VALUE = "s3cr3t-" + Math.random().toString(36).slice(2) + "-do-not-leak";
const OTHER_VALUE = "other-" + Math.random().toString(36).slice(2) + "-value";

const modern = `import { DurableObject } from "cloudflare:workers";
export class EnvModern extends DurableObject {
  count = 0;
  async fetch(request) {
    this.count++;
    const key = new URL(request.url).searchParams.get("key") || "API_KEY";
    return Response.json({ value: this.env[key] ?? null, keys: Object.keys(this.env).sort(), count: this.count });
  }
}`;
const classic = `export class EnvClassic {
  constructor(state, env) { this.env = env; }
  async fetch() { return new Response(String(this.env.API_KEY)); }
}`;

let srv;
const answers = [];
// Every management answer is kept, to be searched for the secret at the end.
async function manage(body) {
  const r = await srv.manage(body);
  answers.push(JSON.stringify(r.body));
  return r;
}

before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("env-modern", modern);
  await srv.deploy("env-classic", classic);
});
after(async () => srv && srv.cleanup());

// What a class answers (which may well hold the value: the class read it).
const read = async (path) => (await srv.json(path)).body;

test("set_env, list_env and delete_env: shapes, and this.env.KEY reads the value", async () => {
  assert.deepEqual((await manage({ action: "list_env" })).body, { keys: [] });
  assert.equal((await read("/_do/env-modern/a")).value, null);
  const s = await manage({ action: "set_env", key: "API_KEY", value: SECRET_VALUE });
  assert.equal(s.status, 200);
  assert.deepEqual(s.body, { ok: true });
  assert.deepEqual((await manage({ action: "set_env", key: "Z_FLAG", value: "" })).body, { ok: true });
  const l = await manage({ action: "list_env" });
  assert.deepEqual(l.body, { keys: ["API_KEY", "Z_FLAG"] });
  const m = await read("/_do/env-modern/a");
  assert.equal(m.value, SECRET_VALUE, "the modern shape reads this.env");
  assert.deepEqual(m.keys, ["API_KEY", "Z_FLAG"]);
  assert.equal((await srv.text("/_do/env-classic/a")).text, SECRET_VALUE, "the classic shape gets env as its second argument");
  const d = await manage({ action: "delete_env", key: "Z_FLAG" });
  assert.deepEqual(d.body, { ok: true });
  assert.deepEqual((await manage({ action: "list_env" })).body, { keys: ["API_KEY"] });
  assert.deepEqual((await read("/_do/env-modern/a")).keys, ["API_KEY"]);
});

test("a change redeploys the app's classes: memory is reset at once, the new value is seen", async () => {
  await read("/_do/env-modern/mem");
  assert.equal((await read("/_do/env-modern/mem")).count, 2);
  await manage({ action: "set_env", key: "API_KEY", value: OTHER_VALUE });
  const after = await read("/_do/env-modern/mem");
  assert.equal(after.value, OTHER_VALUE, "the next request sees the new value");
  assert.equal(after.count, 1, "in-memory state was evicted");
  await manage({ action: "set_env", key: "API_KEY", value: SECRET_VALUE });
  assert.equal((await read("/_do/env-modern/mem")).value, SECRET_VALUE);
  // the log says what happened, without the value
  await waitFor(() => /env: app default: set API_KEY; its classes are redeployed/.test(srv.log), { what: "the log line" });
});

test("the old state goes at once, not at the next request: its timers stop", async () => {
  // The ticker logs every tick; the log shows when the old instance stops,
  // without sending it a request (which would evict it anyway).
  const ticker = `export class Ticker {
    async fetch() {
      this.timer = setInterval(() => console.log("tick"), 20);
      return new Response("started");
    }
  }`;
  await srv.deploy("ticker", ticker);
  const ticks = async () => {
    const r = await fetch(`${srv.url}/_api/logs?name=ticker`, { headers: { authorization: `Bearer ${srv.token}` } });
    return ((await r.text()).match(/"message":"tick"/g) || []).length;
  };
  await srv.text("/_do/ticker/t");
  await waitFor(async () => (await ticks()) >= 3, { what: "the timer to tick" });
  await manage({ action: "set_env", key: "TICK", value: "1" });
  const atChange = await ticks();
  await new Promise((r) => setTimeout(r, 400));
  const later = await ticks();
  assert.ok(later <= atChange + 2, `the old instance's timer kept running: ${atChange} then ${later}`);
  await manage({ action: "delete_env", key: "TICK" });
  await manage({ action: "delete", name: "ticker" });
});

test("a redeploy of another class does not reset this one's memory", async () => {
  await read("/_do/env-modern/keep");
  assert.equal((await read("/_do/env-modern/keep")).count, 2);
  await srv.deploy("env-classic", classic + "\n// v2\n");
  assert.equal((await read("/_do/env-modern/keep")).count, 3);
});

test("key rules and errors", async () => {
  const cases = [
    [{ action: "set_env", key: "api_key", value: "x" }, 400, "INVALID_ENV_KEY", /\^\[A-Z_\]\[A-Z0-9_\]\*\$/],
    [{ action: "set_env", key: "9LIVES", value: "x" }, 400, "INVALID_ENV_KEY", /upper-case/],
    [{ action: "set_env", key: "A-B", value: "x" }, 400, "INVALID_ENV_KEY", /A-B/],
    [{ action: "set_env", key: "", value: "x" }, 400, "INVALID_ENV_KEY", /invalid env key/],
    [{ action: "set_env", key: "ENV_MODERN", value: "x" }, 400, "ENV_KEY_RESERVED", /binding of the class "env-modern"/],
    [{ action: "set_env", key: "OK_KEY" }, 400, "INVALID_ARGUMENT", /value/],
    [{ action: "set_env", key: "OK_KEY", value: 5 }, 400, "INVALID_ARGUMENT", /string/],
    [{ action: "set_env", key: "OK_KEY", value: "x".repeat(5121) }, 413, "ENV_VALUE_TOO_LARGE", /5120/],
    [{ action: "set_env", value: "x" }, 400, "INVALID_ARGUMENT", /key/],
    [{ action: "delete_env", key: "NOT_THERE" }, 404, "ENV_NOT_FOUND", /list_env/],
    [{ action: "delete_env" }, 400, "INVALID_ARGUMENT", /key/],
    [{ app_id: "nope", action: "list_env" }, 404, "APP_NOT_FOUND", /nope/],
  ];
  for (const [body, status, code, msg] of cases) {
    const r = await manage(body);
    assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, code);
    assert.match(r.body.error.message, msg);
  }
  assert.deepEqual((await manage({ action: "list_env" })).body, { keys: ["API_KEY"] }, "nothing refused was stored");
  // a class may not take a name whose binding is an env key
  await manage({ action: "set_env", key: "PAYMENTS", value: "v" });
  const d = await manage({ action: "deploy", name: "payments", code: "export class Payments {}", access_mode: "public" });
  assert.equal(d.status, 409);
  assert.equal(d.body.error.code, "ENV_KEY_CONFLICT");
  assert.match(d.body.error.message, /PAYMENTS/);
  await manage({ action: "delete_env", key: "PAYMENTS" });
});

test("env vars belong to their app", async () => {
  const c = await srv.apps({ action: "create", app_id: "other" });
  assert.equal(c.status, 200);
  await srv.deploy("env-modern", modern, "public", "other");
  assert.deepEqual((await manage({ app_id: "other", action: "list_env" })).body, { keys: [] });
  const r = await srv.raw("GET", "/_do/env-modern/x", { host: `other.localhost:${srv.port}` });
  assert.equal(JSON.parse(r.body).value, null);
});

test("values survive a restart, are stored for the owner only, and never leak", async () => {
  await srv.restart();
  assert.equal((await read("/_do/env-modern/after")).value, SECRET_VALUE);
  for (const f of await readdir(srv.dir)) {
    if (!f.startsWith("control.db")) continue;
    const st = await stat(join(srv.dir, f));
    assert.equal(st.mode & 0o777, 0o600, `${f} is 0600`);
  }
  assert.equal((await stat(srv.dir)).mode & 0o077, 0, "the data folder is the owner's only");
  // every management answer and the whole server log
  for (const r of [await manage({ action: "list" }), await manage({ action: "get", name: "env-modern" }),
    await manage({ action: "usage", name: "env-modern" }), await manage({ action: "usage" }),
    await srv.apps({ action: "get", app_id: "default" }), await srv.apps({ action: "list" })])
    answers.push(JSON.stringify(r.body));
  const metrics = await (await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${srv.token}` } })).text();
  answers.push(metrics);
  const logs = await (await fetch(`${srv.url}/_api/logs?name=env-modern`, { headers: { authorization: `Bearer ${srv.token}` } })).text();
  answers.push(logs);
  assert.ok(answers.length > 30);
  for (const v of [SECRET_VALUE, OTHER_VALUE]) {
    assert.deepEqual(answers.filter((a) => a.includes(v)), [], "no management answer holds a value");
    assert.ok(!srv.log.includes(v), "no log line holds a value");
    assert.ok(!metrics.includes(v) && !logs.includes(v));
  }
});
