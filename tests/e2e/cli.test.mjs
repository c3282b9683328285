// Black-box test of the client commands: starts a real `dorm serve` on a
// free port with a temporary data folder, then runs `dorm deploy|list|get|
// delete|usage|env|logs|apps` as a user would and checks their output and
// exit codes (0 ok, 1 refused, 2 bad usage, 3 unreachable). Node built-ins only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";

const BIN = process.env.DORM_BIN;
if (!BIN) throw new Error("set DORM_BIN to the path of the built dorm binary (make e2e does)");

let dir, base, server, serverLog = "";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The environment of every run: none of the caller's DORM_* variables leak in.
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of ["DORM_URL", "DORM_TOKEN", "DORM_ADMIN_TOKEN", "DORM_DATA"]) delete env[k];
  return { ...env, ...extra };
}

// Runs `dorm ...args` with stdin not a terminal (holding input, if given);
// resolves {code, stdout, stderr}.
function dorm(args, { env = {}, cwd = dir, input } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, args, { cwd, env: cleanEnv(env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

// A client run against the test server, with its token from --data.
const client = (args, opts) => dorm([...args, "--url", base, "--data", dir], opts);

async function waitForServer(deadlineMs) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`dorm serve exited early:\n${serverLog}`);
    try {
      await fetch(`${base}/_api/health`); // any HTTP answer means it listens
      await access(join(dir, "admin.token"));
      return;
    } catch {
      if (Date.now() > until) throw new Error(`dorm serve did not come up:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "dorm-cli-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ["serve", "--listen", `127.0.0.1:${port}`, "--data", dir], {
    env: cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  await waitForServer(20000);

  await writeFile(
    join(dir, "Counter.js"),
    `export class Counter {
  constructor(state, env) { this.state = state; }
  async fetch(request) {
    const n = ((await this.state.storage.get("n")) || 0) + 1;
    await this.state.storage.put("n", n);
    return new Response(String(n));
  }
}
`,
  );
  await writeFile(join(dir, "Broken.js"), "export class Broken {\n  fetch( {\n}\n");
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    const stuck = setTimeout(() => server.kill("SIGKILL"), 5000); // a hung shutdown must not hang the suite
    await exited;
    clearTimeout(stuck);
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("deploy prints what was deployed and a URL that serves it", async () => {
  const r = await client(["deploy", "counter", join(dir, "Counter.js"), "--access=public"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^deployed counter \(Counter\) to app default, access public, at \d{4}-\d\d-\d\dT/);
  const url = r.stdout.match(/served at (\S+)/)[1];
  assert.equal(url, `${base}/_do/counter/<id>`);
  const res = await fetch(url.replace("<id>", "alice"));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "1");
});

test("list shows a table, and --json the server's answer", async () => {
  const r = await client(["list"]);
  assert.equal(r.code, 0, r.stderr);
  const [head, ...rows] = r.stdout.trimEnd().split("\n");
  assert.match(head, /^NAME\s+CLASS\s+ACCESS\s+STATUS\s+DEPLOYED$/);
  assert.ok(rows.some((l) => /^counter\s+Counter\s+public\s+READY\s+\d{4}-/.test(l)), r.stdout);

  const j = await client(["list", "--json"]);
  assert.equal(j.code, 0, j.stderr);
  const names = JSON.parse(j.stdout).durable_objects.map((d) => d.name);
  assert.ok(names.includes("counter"));

  const other = await client(["list", "--app", "nobody-here"]);
  assert.equal(other.code, 1, "an unknown app is refused by the server");
  assert.match(other.stderr, /no app "nobody-here".*APP_NOT_FOUND/);
});

test("get shows the fields, and the code only with --code", async () => {
  const r = await client(["get", "counter"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^name:\s+counter$/m);
  assert.match(r.stdout, /^class:\s+Counter$/m);
  assert.match(r.stdout, /^access:\s+public$/m);
  assert.doesNotMatch(r.stdout, /this\.state\.storage/);

  const c = await client(["get", "--code", "counter"]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /this\.state\.storage\.put\("n", n\)/);
});

test("a compile error is refused with exit 1 and the server's file:line:column", async () => {
  const r = await client(["deploy", "broken", join(dir, "Broken.js")]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^dorm: .*:\d+:\d+[\s\S]* \([A-Z_]+\)\n$/);
});

test("a wrong token is refused with exit 1 and the error code", async () => {
  const r = await dorm(["list", "--url", base], { env: { DORM_TOKEN: "not-the-token" } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^dorm: .+ \([A-Z_]+\)\n$/);
});

test("bad usage exits 2 and points at the help", async () => {
  const r = await client(["list", "--bogus"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "dorm list: unknown flag --bogus; see dorm list --help\n");

  const m = await client(["deploy", "counter"]);
  assert.equal(m.code, 2);
  assert.match(m.stderr, /missing FILE.*see dorm deploy --help/);

  const h = await dorm(["deploy", "--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /usage: dorm deploy NAME FILE/);
  const all = await dorm(["help"]);
  assert.equal(all.code, 0);
  assert.match(all.stdout, /dorm serve \[--listen 127\.0\.0\.1:8787\]/);
});

test("without a token anywhere, exit 2 says where to find one", async () => {
  const empty = await mkdtemp(join(tmpdir(), "dorm-cli-notoken-"));
  try {
    const r = await dorm(["list", "--url", base], { cwd: empty });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dorm: no admin token: pass --token, set DORM_TOKEN, or run from the folder holding \.dorm\/admin\.token/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test("no server at the URL exits 3 naming it", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const r = await dorm(["list", "--url", url, "--token", "x"]);
  assert.equal(r.code, 3);
  assert.ok(r.stderr.includes(url), r.stderr);
  assert.match(r.stderr, /dorm serve/);
});

test("delete needs --yes without a terminal, then deletes", async () => {
  const r = await client(["delete", "counter"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /pass --yes/);
  assert.equal((await client(["get", "counter"])).code, 0, "a refused delete deleted nothing");

  const d = await client(["delete", "counter", "--yes"]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^deleted counter from app default/);

  const g = await client(["get", "counter"]);
  assert.equal(g.code, 1);
  assert.match(g.stderr, /^dorm: .+ \([A-Z_]+\)\n$/);
});

test("usage shows a class's counters, and an app's with a total", async () => {
  await client(["deploy", "counter", join(dir, "Counter.js"), "--access=public"]);
  for (let i = 0; i < 3; i++) await fetch(`${base}/_do/counter/u${i}`, { method: "POST" });
  const r = await client(["usage", "counter"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^name:\s+counter$/m);
  assert.match(r.stdout, /^requests:\s+3$/m);
  assert.match(r.stdout, /^cpu ms:\s+\d+\.\d{3}$/m);
  assert.match(r.stdout, /^instances live:\s+3$/m);
  const all = await client(["usage"]);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^NAME\s+REQUESTS\s+CPU_MS\s+LIVE\s+WEBSOCKETS\s+STORAGE\s+ALARMS\s+ERRORS$/m);
  assert.match(all.stdout, /^counter\s+3\s/m);
  assert.match(all.stdout, /^TOTAL\s+3\s/m);
  const j = JSON.parse((await client(["usage", "counter", "--json"])).stdout);
  assert.equal(j.do_requests, 3);
  const missing = await client(["usage", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no Durable Object class named "nope".*\(NOT_FOUND\)/);
});

test("env set reads the value from stdin, list shows keys only, delete removes it", async () => {
  const secret = "from-stdin-" + Date.now();
  const s = await client(["env", "set", "API_KEY"], { input: secret + "\n" });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, "set API_KEY in app default; its classes were redeployed\n");
  assert.equal((await client(["env", "set", "OTHER", "inline"])).code, 0);
  const l = await client(["env", "list"]);
  assert.equal(l.code, 0);
  assert.equal(l.stdout, "API_KEY\nOTHER\n");
  assert.ok(!l.stdout.includes(secret));
  // the class sees the value without the newline echo added
  await writeFile(join(dir, "EnvShow.js"), "export class EnvShow { constructor(s, env) { this.env = env; } fetch() { return new Response(this.env.API_KEY); } }\n");
  assert.equal((await client(["deploy", "env-show", join(dir, "EnvShow.js"), "--access", "public"])).code, 0);
  assert.equal(await (await fetch(`${base}/_do/env-show/x`)).text(), secret);
  const bad = await client(["env", "set", "lower", "x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\(INVALID_ENV_KEY\)/);
  const d = await client(["env", "delete", "OTHER"]);
  assert.equal(d.code, 0);
  assert.equal(d.stdout, "deleted OTHER from app default; its classes were redeployed\n");
  assert.equal((await client(["env", "delete", "OTHER"])).code, 1);
  assert.equal((await client(["env", "list"])).stdout, "API_KEY\n");
  assert.equal((await client(["env", "set"])).code, 2);
  assert.equal((await client(["env"])).code, 2);
  await client(["env", "delete", "API_KEY"]);
  assert.match((await client(["env", "list"])).stdout, /^no env vars in app default/);
  assert.ok(!serverLog.includes(secret), "the value is not in the server log");
});

test("apps: create shows the key once, list and get do not; set-auth, rotate-key, delete", async () => {
  const c = await client(["apps", "create", "shop", "--subdomain", "store"]);
  assert.equal(c.code, 0, c.stderr);
  const key = c.stdout.match(/^service key:\s+(sk_[0-9a-f]+)$/m)[1];
  assert.match(c.stdout, /^served at:\s+http:\/\/store\.localhost:\d+\/_do\/NAME\/<id>$/m);
  const l = await client(["apps", "list"]);
  assert.equal(l.code, 0);
  assert.match(l.stdout, /^APP\s+SUBDOMAIN\s+CLASSES\s+ENV\s+JWT\s+CREATED$/m);
  assert.match(l.stdout, /^shop\s+store\s+0\s+0\s+-\s+\d{4}-/m);
  const g = await client(["apps", "get", "shop"]);
  assert.equal(g.code, 0);
  for (const out of [l.stdout, g.stdout]) assert.ok(!out.includes(key));
  await writeFile(join(dir, "jwt.secret"), "0123456789abcdef0123456789abcdef!!\n");
  const a = await client(["apps", "set-auth", "shop", "--jwt-secret", "-", "--issuer", "me"], { input: "0123456789abcdef0123456789abcdef!!\n" });
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /^jwt:\s+HS256 \(1 key from secret\), issuer me$/m);
  const short = await client(["apps", "set-auth", "shop", "--jwt-secret", "short"]);
  assert.equal(short.code, 1);
  assert.match(short.stderr, /at least 32 bytes.*\(INVALID_AUTH\)/);
  const none = await client(["apps", "set-auth", "shop"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--jwt-secret SECRET, --jwt-public-key FILE, --jwks FILE, or --clear/);
  const missingKey = await client(["apps", "set-auth", "shop", "--jwt-public-key", join(dir, "nope.pem")]);
  assert.equal(missingKey.code, 2);
  assert.equal((await client(["apps", "set-auth", "shop", "--clear"])).code, 0);
  const rot = await client(["apps", "rotate-key", "shop"]);
  assert.equal(rot.code, 0);
  assert.notEqual(rot.stdout.match(/service key: (sk_\S+)/)[1], key);
  // apps commands take the app as their argument; --app is not one of their flags
  assert.equal((await client(["apps", "get", "--app", "shop"])).code, 2);
  const del = await client(["apps", "delete", "shop"]);
  assert.equal(del.code, 2);
  assert.match(del.stderr, /pass --yes/);
  const yes = await client(["apps", "delete", "shop", "--yes"]);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /^deleted the app shop/);
  const gone = await client(["apps", "get", "shop"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /\(APP_NOT_FOUND\)/);
  const dflt = await client(["apps", "delete", "default", "--yes"]);
  assert.equal(dflt.code, 1);
  assert.match(dflt.stderr, /CANNOT_DELETE_DEFAULT/);
});

test("logs prints a class's lines; --follow streams new ones until stopped", async () => {
  await writeFile(join(dir, "Talker.js"), "export class Talker { fetch(r) { console.log('said', new URL(r.url).searchParams.get('w')); return new Response('ok'); } }\n");
  assert.equal((await client(["deploy", "talker", join(dir, "Talker.js"), "--access", "public"])).code, 0);
  await fetch(`${base}/_do/talker/ann?w=first`);
  const until = Date.now() + 10000;
  let r;
  do r = await client(["logs", "talker"]); while (!r.stdout.includes("first") && Date.now() < until);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\S+Z info  ann: said first$/m);
  const j = await client(["logs", "talker", "--json"]);
  assert.equal(JSON.parse(j.stdout.trim().split("\n")[0]).message, "said first");

  const p = spawn(BIN, ["logs", "talker", "--follow", "--url", base, "--data", dir], { cwd: dir, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  const exited = new Promise((res) => p.on("exit", (code, sig) => res({ code, sig })));
  try {
    const wait = async (what, cond) => {
      const end = Date.now() + 10000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${out}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    await wait("the backlog", () => out.includes("said first"));
    await fetch(`${base}/_do/talker/bob?w=live`);
    await wait("the live line", () => out.includes("bob: said live"));
  } finally {
    p.kill("SIGINT");
  }
  const e = await exited;
  assert.ok(e.sig === "SIGINT" || e.code !== null);
  const missing = await client(["logs", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\(NOT_FOUND\)/);
  assert.equal((await client(["logs"])).code, 2);
});

test("every command has --help, and dorm help names them all", async () => {
  const all = await dorm(["help"]);
  for (const cmd of ["serve", "dev", "deploy", "list", "get", "delete", "usage", "logs", "env", "apps", "mcp", "help"]) {
    assert.match(all.stdout, new RegExp(`^  ${cmd} `, "m"), `overview lists ${cmd}`);
    const h = await dorm([cmd, "--help"]);
    assert.equal(h.code, 0, cmd);
    assert.match(h.stdout, /^usage: dorm /, cmd);
    const t = await dorm(["help", cmd]);
    assert.equal(t.stdout, h.stdout);
  }
  const v = await dorm(["env", "set", "--help"]);
  assert.match(v.stdout, /^usage: dorm env list/);
  const bad = await dorm(["apps", "fly"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^dorm apps: unknown verb 'fly'.*see dorm apps --help\n$/);
  const flag = await dorm(["env", "set", "K", "v", "--follow"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--follow is not a flag of dorm env set; see dorm env --help/);
});

test("the new commands exit 3 when no server answers", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  for (const args of [["usage"], ["env", "list"], ["logs", "x"], ["apps", "list"], ["env", "set", "K", "v"]]) {
    const r = await dorm([...args, "--url", url, "--token", "t"]);
    assert.equal(r.code, 3, args.join(" "));
    assert.ok(r.stderr.includes(url));
  }
});
