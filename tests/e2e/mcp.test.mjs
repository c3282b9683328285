// Black-box test of `dorm mcp`: a scripted MCP session over stdio, as an AI
// coding agent's client would run it (initialize, notifications/initialized,
// tools/list, tools/call), against a real server: a deploy through the
// tool, then the class answering over HTTP; and the protocol's errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { startServer, BIN, freePort } from "./lib/server.mjs";

let srv;
const children = [];
before(async () => {
  srv = await startServer({ args: ["--threads", "1"] });
});
// A failed assertion leaves its session open: it must not keep the run alive.
after(async () => {
  for (const p of children) if (p.exitCode === null) p.kill("SIGKILL");
  if (srv) await srv.cleanup();
});

// A client session: send(msg) writes one line; next() resolves with the next answer.
function session(args, env = {}) {
  const p = spawn(BIN, ["mcp", ...args], { env: { ...process.env, DORM_TOKEN: "", DORM_URL: "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
  children.push(p);
  let stderr = "";
  p.stderr.on("data", (d) => (stderr += d));
  const lines = [];
  const waiting = [];
  createInterface({ input: p.stdout }).on("line", (l) => {
    const msg = JSON.parse(l); // every line on stdout is one JSON message
    if (waiting.length) waiting.shift()(msg);
    else lines.push(msg);
  });
  const exited = new Promise((r) => p.on("exit", (code) => r(code)));
  return {
    send: (m) => p.stdin.write((typeof m === "string" ? m : JSON.stringify(m)) + "\n"),
    next: () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiting.push(r))),
    end: async () => { p.stdin.end(); return exited; },
    stderr: () => stderr,
  };
}

const code = `export class McpCounter {
  constructor(state) { this.state = state; }
  async fetch() {
    const n = ((await this.state.storage.get("n")) || 0) + 1;
    await this.state.storage.put("n", n);
    return new Response(String(n));
  }
}`;

test("a scripted session: initialize, tools/list, a deploy through tools/call", async () => {
  const s = session(["--url", srv.url, "--data", srv.dir]);
  s.send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "test", version: "1" } } });
  const init = await s.next();
  assert.equal(init.jsonrpc, "2.0");
  assert.equal(init.id, 1);
  assert.equal(init.result.protocolVersion, "2025-06-18");
  assert.deepEqual(init.result.capabilities, { tools: { listChanged: false } });
  assert.equal(init.result.serverInfo.name, "dorm");
  s.send({ jsonrpc: "2.0", method: "notifications/initialized" });

  s.send({ jsonrpc: "2.0", id: "list-1", method: "tools/list" });
  const list = await s.next();
  assert.equal(list.id, "list-1", "the answer to the notification was nothing; this is the next one");
  const tools = Object.fromEntries(list.result.tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(tools).sort(), ["manage_apps", "manage_durable_objects"]);
  const schema = tools.manage_durable_objects.inputSchema;
  assert.equal(schema.type, "object");
  assert.deepEqual(schema.required, ["action"]);
  assert.deepEqual(schema.properties.action.enum, ["deploy", "list", "get", "delete", "usage", "list_env", "set_env", "delete_env",
    "list_instances", "get_storage", "query", "delete_instance"]);
  assert.deepEqual(schema.properties.access_mode.enum, ["public", "authenticated", "service_key"]);
  assert.equal(schema.properties.key.pattern, "^[A-Z_][A-Z0-9_]*$");
  assert.ok(tools.manage_apps.inputSchema.properties.action.enum.includes("set_auth"));
  for (const t of list.result.tools) assert.ok(t.description.length > 20);

  s.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "manage_durable_objects", arguments: { action: "deploy", name: "mcp-counter", code, access_mode: "public" } } });
  const dep = await s.next();
  assert.equal(dep.id, 3);
  assert.equal(dep.result.isError, false);
  const answer = JSON.parse(dep.result.content[0].text);
  assert.equal(dep.result.content[0].type, "text");
  assert.equal(answer.name, "mcp-counter");
  assert.equal(answer.status, "READY");
  assert.deepEqual(dep.result.structuredContent, answer, "2025-06-18 clients get structured content too");
  assert.equal(await (await srv.fetch("/_do/mcp-counter/a")).text(), "1");
  assert.equal(await (await srv.fetch("/_do/mcp-counter/a")).text(), "2");

  // a refusal is a tool result with isError, carrying the server's error
  s.send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "manage_durable_objects", arguments: { action: "deploy", name: "mcp-counter", code: "export class McpCounter {\n  fetch( {\n}\n" } } });
  const bad = await s.next();
  assert.equal(bad.result.isError, true);
  assert.match(JSON.parse(bad.result.content[0].text).error.message, /mcp-counter\.ts:\d+:\d+/);
  // manage_apps goes through too
  s.send({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "manage_apps", arguments: { action: "list" } } });
  const apps = await s.next();
  assert.equal(apps.result.isError, false);
  assert.ok(JSON.parse(apps.result.content[0].text).apps.some((a) => a.app_id === "default"));
  s.send({ jsonrpc: "2.0", id: 6, method: "ping" });
  assert.deepEqual((await s.next()).result, {});
  assert.equal(await s.end(), 0, "stdin's end ends the server");
});

test("protocol errors are JSON-RPC errors, and the session goes on", async () => {
  const s = session(["--url", srv.url, "--token", srv.token]);
  s.send("this is not json");
  const parse = await s.next();
  assert.equal(parse.error.code, -32700);
  assert.equal(parse.id, null);
  s.send({ id: 1, method: "tools/list" });
  assert.equal((await s.next()).error.code, -32600);
  s.send({ jsonrpc: "2.0", id: 2, method: "resources/list" });
  const nf = await s.next();
  assert.equal(nf.error.code, -32601);
  assert.equal(nf.id, 2);
  s.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "rm_rf", arguments: {} } });
  assert.equal((await s.next()).error.code, -32602);
  s.send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "manage_apps", arguments: [1] } });
  assert.equal((await s.next()).error.code, -32602);
  s.send({ jsonrpc: "2.0", id: 5, method: "initialize", params: { protocolVersion: "1999-01-01" } });
  assert.equal((await s.next()).result.protocolVersion, "2025-06-18", "an unknown version gets ours");
  s.send({ jsonrpc: "2.0", id: 6, method: "initialize", params: { protocolVersion: "2024-11-05" } });
  assert.equal((await s.next()).result.protocolVersion, "2024-11-05");
  s.send({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "manage_durable_objects", arguments: { action: "list" } } });
  const old = await s.next();
  assert.equal(old.result.isError, false);
  assert.equal(old.result.structuredContent, undefined, "not for a 2024-11-05 client");
  assert.equal(await s.end(), 0);
});

test("without a token or a server, tool calls say what is wrong", async () => {
  const none = session(["--url", srv.url, "--data", "/nonexistent"]);
  none.send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "manage_apps", arguments: { action: "list" } } });
  const r = await none.next();
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /no admin token/);
  assert.equal(await none.end(), 0);
  assert.match(none.stderr(), /no admin token/);

  const url = `http://127.0.0.1:${await freePort()}`;
  const down = session(["--url", url, "--token", "t"]);
  down.send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "manage_apps", arguments: { action: "list" } } });
  const d = await down.next();
  assert.equal(d.result.isError, true);
  assert.ok(d.result.content[0].text.includes(url));
  await down.end();
  const wrong = session(["--url", srv.url, "--token", "wrong-token"]);
  wrong.send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "manage_apps", arguments: { action: "list" } } });
  const w = await wrong.next();
  assert.equal(w.result.isError, true);
  assert.equal(JSON.parse(w.result.content[0].text).error.code, "UNAUTHORIZED");
  await wrong.end();
});
