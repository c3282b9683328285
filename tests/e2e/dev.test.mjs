// Black-box test of `dorm dev`: it starts a server on its own data folder,
// deploys the files given, and redeploys one when it is saved; an edited
// file's new code answers, a compile error is printed while the previous
// version keeps serving, storage survives, and Ctrl-C stops everything.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile, rename, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, freePort, waitFor } from "./lib/server.mjs";

let dir, port, proc, out = "", err = "", exited;
const url = () => `http://127.0.0.1:${port}`;
const version = (v) => `import { DurableObject } from "cloudflare:workers";
export class Greeter extends DurableObject {
  async fetch(request) {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return new Response("${v} " + n);
  }
}
`;
const get = async (path) => {
  try {
    const r = await fetch(url() + path);
    return { status: r.status, text: await r.text() };
  } catch {
    return { status: 0, text: "" };
  }
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "dorm-dev-"));
  port = await freePort();
  await writeFile(join(dir, "Greeter.ts"), version("v1"));
  await writeFile(join(dir, "impl.js"), "export class Tally { fetch() { return new Response('c'); } }\n");
  const env = { ...process.env };
  delete env.DORM_ADMIN_TOKEN;
  proc = spawn(BIN, ["dev", "Greeter.ts", "tally=impl.js", "--listen", `127.0.0.1:${port}`, "--data", join(dir, "data"), "--threads", "1"],
    { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err += d));
  exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
});
after(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    proc.kill("SIGINT");
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("dev deploys every file, public, under its kebab-case name or the one given", async () => {
  await waitFor(() => /deployed tally/.test(out) && /deployed greeter/.test(out), { timeout: 30000, what: "the deploys" })
    .catch((e) => { throw new Error(`${e.message}\nstdout: ${out}\nstderr: ${err}`); });
  assert.match(out, new RegExp(`deployed greeter \\(Greeter\\) from Greeter\\.ts in \\d+ ms: http://127\\.0\\.0\\.1:${port}/_do/greeter/<id>`));
  assert.equal((await get("/_do/greeter/a")).text, "v1 1");
  assert.equal((await get("/_do/tally/a")).text, "c");
});

test("saving a file redeploys it: the new code answers and storage stays", async () => {
  await writeFile(join(dir, "Greeter.ts"), version("v2"));
  await waitFor(async () => (await get("/_do/greeter/a")).text.startsWith("v2"), { what: "the new code" });
  assert.match(out, /redeployed greeter \(Greeter\) from Greeter\.ts/);
  assert.equal((await get("/_do/greeter/a")).text.split(" ")[0], "v2");
  const n = Number((await get("/_do/greeter/a")).text.split(" ")[1]);
  assert.ok(n >= 3, `storage kept across the redeploy (n=${n})`);
  // editors that save by writing a new file and renaming it over the old one
  await writeFile(join(dir, ".Greeter.ts.swp"), version("v3"));
  await rename(join(dir, ".Greeter.ts.swp"), join(dir, "Greeter.ts"));
  await waitFor(async () => (await get("/_do/greeter/a")).text.startsWith("v3"), { what: "the renamed file" });
});

test("a compile error is printed with its place, and the previous version keeps serving", async () => {
  const before = out.length;
  await writeFile(join(dir, "Greeter.ts"), "export class Greeter {\n  fetch( {\n}\n");
  await waitFor(() => /was not deployed/.test(out.slice(before)), { what: "the error" });
  const said = out.slice(before);
  assert.match(said, /greeter \(from Greeter\.ts\) was not deployed:\ngreeter\.ts:\d+:\d+: .*\(COMPILE_ERROR\)\nthe previous version keeps serving/);
  assert.ok((await get("/_do/greeter/a")).text.startsWith("v3"));
  await writeFile(join(dir, "Greeter.ts"), version("v4"));
  await waitFor(async () => (await get("/_do/greeter/a")).text.startsWith("v4"), { what: "the fixed file" });
});

test("the dev server is an ordinary server: the CLI works against its data folder", async () => {
  const r = await new Promise((resolve) => {
    const p = spawn(BIN, ["list", "--url", url(), "--data", join(dir, "data")], { stdio: ["ignore", "pipe", "pipe"] });
    let o = "";
    p.stdout.on("data", (d) => (o += d));
    p.on("close", (code) => resolve({ code, o }));
  });
  assert.equal(r.code, 0);
  assert.match(r.o, /^greeter\s+Greeter\s+public\s+READY/m);
  assert.ok((await readFile(join(dir, "data", "admin.token"), "utf8")).length > 10);
});

test("Ctrl-C stops the server and dev exits 0", async () => {
  proc.kill("SIGINT");
  const e = await exited;
  assert.equal(e.code, 0, err);
  assert.equal((await get("/_api/health")).status, 0, "nothing listens any more");
  assert.match(err, /server: stopped/);
});

test("bad usage of dev exits 2 with a pointer to its help", async () => {
  const run = (args) => new Promise((resolve) => {
    const p = spawn(BIN, ["dev", ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let e = "";
    p.stderr.on("data", (d) => (e += d));
    p.on("close", (code) => resolve({ code, e }));
  });
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.match(none.e, /missing FILE.*see dorm dev --help/);
  const missing = await run(["Nope.ts"]);
  assert.equal(missing.code, 2);
  assert.match(missing.e, /cannot read Nope\.ts/);
  const twice = await run(["Greeter.ts", "greeter=impl.js"]);
  assert.equal(twice.code, 2);
  assert.match(twice.e, /both deploy as greeter/);
  const listen = await run(["Greeter.ts", "--listen", "nowhere"]);
  assert.equal(listen.code, 2);
});
