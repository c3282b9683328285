// Starts a real `dorm serve` on a free loopback port with a temporary data
// folder, and gives tests what a user's program has: HTTP to the server, the
// management API with the admin token, and the process (stop, kill -9).
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import http from "node:http";

export const BIN = process.env.DORM_BIN;
if (!BIN) throw new Error("set DORM_BIN to the built dorm binary (make e2e does)");

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls cond() until it returns a truthy value or the deadline passes.
export async function waitFor(cond, { timeout = 10000, what = "condition" } = {}) {
  const until = Date.now() + timeout;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export class Server {
  constructor(opts = {}) {
    this.opts = opts;
    this.log = "";
  }

  async start() {
    if (!this.dir) this.dir = await mkdtemp(join(tmpdir(), "dorm-e2e-"));
    if (!this.port) this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const args = ["serve", "--listen", `127.0.0.1:${this.port}`, "--data", this.dir,
      "--durability", this.opts.durability ?? "process", ...(this.opts.args ?? [])];
    const env = { ...process.env, DORM_TEST_HOOKS: "1", ...(this.opts.env ?? {}) };
    delete env.DORM_ADMIN_TOKEN;
    // opts.fileLimit: run under `ulimit -n`, as on a machine with few descriptors.
    this.proc = this.opts.fileLimit
      ? spawn("/bin/sh", ["-c", `ulimit -n ${this.opts.fileLimit} && exec "$0" "$@"`, BIN, ...args],
        { env, stdio: ["ignore", "ignore", "pipe"] })
      : spawn(BIN, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    this.proc.stderr.on("data", (d) => {
      this.log += d;
      if (process.env.DORM_E2E_LOG) process.stderr.write(d);
    });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, sig) => resolve({ code, sig })));
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw new Error(`dorm serve exited:\n${this.log}`);
      try {
        const r = await fetch(`${this.url}/_api/health`);
        return r.ok;
      } catch {
        return false;
      }
    }, { timeout: 20000, what: "the server to listen" });
    this.token = (await readFile(join(this.dir, "admin.token"), "utf8")).trim();
    return this;
  }

  // SIGTERM and wait: a clean stop.
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return { code: this.proc?.exitCode };
    this.proc.kill("SIGTERM");
    return this.exited;
  }

  // kill -9: a crash.
  async kill() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill("SIGKILL");
    return this.exited;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  // A clean stop (so sanitizer builds check for leaks at exit), then the
  // data folder goes. A sanitizer report in the log fails the test.
  async cleanup() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 15000);
      await this.exited;
      clearTimeout(t);
    }
    if (this.dir && !process.env.DORM_E2E_KEEP) await rm(this.dir, { recursive: true, force: true });
    const report = this.log.match(/(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^]*/);
    if (report) throw new Error(`the server's sanitizer reported:\n${report[0].slice(0, 4000)}`);
  }

  async manage(body, { token = this.token } = {}) {
    const r = await fetch(`${this.url}/_api/manage_durable_objects`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
    return { status: r.status, body: json };
  }

  // POST /_api/<tool>: manage_durable_objects (manage) or manage_apps (apps).
  async tool(tool, body, { token = this.token } = {}) {
    const r = await fetch(`${this.url}/_api/${tool}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
    return { status: r.status, body: json, text };
  }

  apps(body, opts) {
    return this.tool("manage_apps", body, opts);
  }

  async deploy(name, code, access_mode = "public", app_id = "default") {
    const r = await this.manage({ app_id, action: "deploy", name, code, access_mode });
    if (r.status !== 200) throw new Error(`deploy ${name} failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  // A request with node:http, for what fetch() does not allow (the Host header).
  raw(method, path, headers = {}, body) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: this.port, method, path, headers, agent: false }, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (data += d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  fetch(path, init) {
    return fetch(`${this.url}${path}`, init);
  }

  async text(path, init) {
    const r = await this.fetch(path, init);
    return { status: r.status, text: await r.text(), headers: r.headers };
  }

  async json(path, init) {
    const r = await this.fetch(path, init);
    const t = await r.text();
    try {
      return { status: r.status, body: JSON.parse(t) };
    } catch {
      throw new Error(`not JSON (${r.status}): ${t}`);
    }
  }
}

export async function startServer(opts) {
  return new Server(opts).start();
}
