// Black-box test of the client commands: starts a real `dorm serve` on a
// free port with a temporary data folder, then runs `dorm deploy|list|get|
// delete` as a user would and checks their output and exit codes
// (0 ok, 1 refused, 2 bad usage, 3 unreachable). Node built-ins only.
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

// Runs `dorm ...args` with stdin not a terminal; resolves {code, stdout, stderr}.
function dorm(args, { env = {}, cwd = dir } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, args, { cwd, env: cleanEnv(env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end();
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
