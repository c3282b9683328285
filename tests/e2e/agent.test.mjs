// Black-box test of examples/agent.ts end to end: the agent sends the
// conversation to a chat-completions API (a stub on loopback, streaming its
// answer as server-sent events), streams the tokens to its caller as they
// come, keeps the conversation in storage, and sends it along next time.
// The stub's URL and key are the app's env vars AI_API_URL and AI_API_KEY,
// as an operator would set them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const agentSrc = await readFile(join(root, "examples/agent.ts"), "utf8");
const KEY = "sk-test-123";

// A chat-completions stub: answers "Echo: <last user message>" one word per
// event; with hold set, it stops after the first word until released.
class ModelStub {
  constructor() {
    this.calls = [];
    this.hold = false;
    this.release = null;
  }
  async start() {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", async () => {
        const call = { method: req.method, url: req.url, auth: req.headers.authorization, body: JSON.parse(body) };
        this.calls.push(call);
        if (call.auth !== `Bearer ${KEY}`) {
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: "Incorrect API key provided" } }));
          return;
        }
        const last = call.body.messages.filter((m) => m.role === "user").pop().content;
        const words = `Echo: ${last}`.split(" ");
        res.writeHead(200, { "content-type": "text/event-stream" });
        const event = (content) => `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`;
        res.write(": keep-alive comment\n\n");
        for (let i = 0; i < words.length; i++) {
          res.write(event((i ? " " : "") + words[i]));
          if (i === 0 && this.hold) await new Promise((r) => (this.release = r));
        }
        res.end("data: [DONE]\n\n");
      });
    });
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${this.server.address().port}/v1/chat/completions`;
    return this;
  }
  stop() {
    return new Promise((r) => this.server.close(r));
  }
}

let srv, model;
before(async () => {
  model = await new ModelStub().start();
  srv = await startServer({ args: ["--allow-fetch", "127.0.0.1"] });
  await srv.deploy("agent", agentSrc);
});
after(async () => {
  await srv?.cleanup();
  await model?.stop();
});

const say = (id, text, headers = {}) => srv.text(`/_do/agent/${id}`, { method: "POST", body: text, headers });
async function configure(url, key) {
  for (const [k, v] of [["AI_API_URL", url], ["AI_API_KEY", key]])
    assert.equal((await srv.manage({ action: "set_env", key: k, value: v })).status, 200);
}

test("without an API it answers with what to configure; the conversation reads empty", async () => {
  const r = await srv.json("/_do/agent/nobody", { method: "POST", body: "hello" });
  assert.equal(r.status, 503);
  assert.equal(r.body.error.code, "AGENT_NOT_CONFIGURED");
  assert.match(r.body.error.message, /AI_API_URL/);
  const h = await srv.json("/_do/agent/nobody");
  assert.deepEqual(h.body, { id: "nobody", messages: [] });
  // A caller cannot point it anywhere: only the operator's env does.
  const sneaky = await srv.json("/_do/agent/nobody", { method: "POST", body: "hello",
    headers: { "x-ai-api-url": model.url, "x-ai-api-key": KEY } });
  assert.equal(sneaky.status, 503);
  assert.equal(model.calls.length, 0);
  await configure(model.url, KEY);
});

test("a conversation: answers stream back, history is kept and sent along", async () => {
  const a = await say("ada", "Hello there");
  assert.equal(a.status, 200);
  assert.equal(a.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(a.text, "Echo: Hello there\n");
  const call = model.calls.at(-1);
  assert.equal(call.method, "POST");
  assert.equal(call.body.stream, true);
  assert.equal(call.body.model, "gpt-4o-mini");
  assert.deepEqual(call.body.messages.map((m) => m.role), ["system", "user"]);

  const b = await say("ada", "And again");
  assert.equal(b.text, "Echo: And again\n");
  assert.deepEqual(model.calls.at(-1).body.messages.slice(1), [
    { role: "user", content: "Hello there" },
    { role: "assistant", content: "Echo: Hello there" },
    { role: "user", content: "And again" },
  ], "the second call carries the conversation so far");

  const h = await srv.json("/_do/agent/ada");
  assert.deepEqual(h.body.messages.map((m) => `${m.role}: ${m.content}`), [
    "user: Hello there", "assistant: Echo: Hello there", "user: And again", "assistant: Echo: And again",
  ]);
  const other = await srv.json("/_do/agent/grace");
  assert.deepEqual(other.body.messages, [], "another id is another conversation");
  await srv.fetch("/_do/agent/ada", { method: "DELETE" });
  assert.deepEqual((await srv.json("/_do/agent/ada")).body.messages, []);
});

test("the first tokens reach the caller while the model is still answering", async () => {
  model.hold = true;
  const body = await new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: srv.port, method: "POST", path: "/_do/agent/streamy", agent: false,
      headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      resolve({ res, text: () => text, ended: new Promise((r) => res.on("end", r)) });
    });
    req.on("error", reject);
    req.end(JSON.stringify({ message: "one two three" }));
  });
  await waitFor(() => body.text().includes("Echo:"), { what: "the first token" });
  assert.equal(body.text(), "Echo:", "only the first token so far: the model holds the rest");
  model.hold = false;
  model.release();
  await body.ended;
  assert.equal(body.text(), "Echo: one two three\n");
  const h = await srv.json("/_do/agent/streamy");
  assert.deepEqual(h.body.messages.at(-1), { role: "assistant", content: "Echo: one two three" });
});

test("an API error is told to the caller, and the turn is not kept", async () => {
  await configure(model.url, "wrong");
  const r = await say("bad", "hi");
  assert.equal(r.status, 200);
  assert.match(r.text, /the model API answered 401: .*Incorrect API key/);
  assert.deepEqual((await srv.json("/_do/agent/bad")).body.messages, []);
  await configure("http://10.1.2.3/v1/chat/completions", KEY);
  const refused = await say("bad", "hi");
  assert.match(refused.text, /conversation broke off: fetch to http:\/\/10\.1\.2\.3\/v1\/chat\/completions was refused/);
  await configure(model.url, KEY);
  assert.equal((await srv.text("/_do/agent/bad", { method: "PUT" })).status, 405);
  assert.equal((await say("bad", "   ")).status, 400);
});
