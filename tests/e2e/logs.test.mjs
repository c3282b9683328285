// Black-box tests of class logs: console output and uncaught errors kept per
// class, read back with GET /_api/logs as server-sent events, followed live
// (&follow=1) across shards, bounded, and ended when the class goes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitFor } from "./lib/server.mjs";

const talker = `export class Talker {
  async fetch(request) {
    const u = new URL(request.url);
    const n = Number(u.searchParams.get("n") || 1);
    for (let i = 0; i < n; i++) console.log("line", u.searchParams.get("say"), i, { deep: [1, 2] });
    if (u.searchParams.has("warn")) console.warn("careful");
    if (u.searchParams.has("throw")) throw new TypeError("bad thing " + u.searchParams.get("throw"));
    if (u.searchParams.has("later")) setTimeout(() => { throw new RangeError("in a timer"); }, 1);
    return new Response("said");
  }
}`;

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("talker", talker);
  await srv.deploy("quiet", talker.replace("class Talker", "class Quiet"));
});
after(async () => srv && srv.cleanup());

const auth = () => ({ authorization: `Bearer ${srv.token}` });

function parseEvents(text) {
  const out = [];
  for (const block of text.split("\n\n")) {
    if (!block.trim() || block.startsWith(":")) continue;
    const ev = { event: "message" };
    for (const line of block.split("\n")) {
      const i = line.indexOf(": ");
      if (i > 0) ev[line.slice(0, i)] = line.slice(i + 2);
    }
    if (ev.data) ev.json = JSON.parse(ev.data);
    out.push(ev);
  }
  return out;
}

async function logs(query) {
  const r = await fetch(`${srv.url}/_api/logs?${query}`, { headers: auth() });
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

test("console output and uncaught errors are kept per class and read back as events", async () => {
  await srv.text("/_do/talker/alice?say=hello&n=2");
  await srv.text("/_do/talker/bob?say=world&warn=1");
  assert.equal((await srv.text("/_do/talker/carol?throw=42")).status, 500);
  await waitFor(async () => parseEvents((await logs("name=talker")).text).length >= 5, { what: "the lines" });
  const r = await logs("name=talker");
  assert.equal(r.status, 200);
  assert.equal(r.type, "text/event-stream");
  const ev = parseEvents(r.text);
  const lines = ev.map((e) => e.json);
  assert.deepEqual(Object.keys(lines[0]).sort(), ["app_id", "instance", "level", "message", "name", "seq", "time"]);
  const hello = lines.filter((l) => l.instance === "alice");
  assert.deepEqual(hello.map((l) => l.message), ["line hello 0 { deep: [ 1, 2 ] }", "line hello 1 { deep: [ 1, 2 ] }"]);
  assert.equal(hello[0].level, "info");
  assert.ok(lines.some((l) => l.instance === "bob" && l.level === "warn" && l.message === "careful"));
  const err = lines.find((l) => l.instance === "carol" && /bad thing/.test(l.message));
  assert.equal(err.level, "error");
  assert.match(err.message, /TypeError: bad thing 42/);
  // an exception thrown by a timer, after the answer was sent
  await srv.text("/_do/talker/dave?later=1");
  await waitFor(async () => /RangeError: in a timer/.test((await logs("name=talker")).text), { what: "the timer's error" });
  const t = parseEvents((await logs("name=talker")).text).map((e) => e.json).find((l) => /in a timer/.test(l.message));
  assert.equal(t.level, "error");
  assert.equal(t.instance, "dave");
  assert.match(t.message, /uncaught exception in a timer callback/);
  // ids increase, events carry them, and after= skips what was seen
  for (let i = 1; i < ev.length; i++) assert.ok(lines[i].seq > lines[i - 1].seq);
  assert.equal(ev[0].id, String(lines[0].seq));
  const later = parseEvents((await logs(`name=talker&after=${lines[2].seq}`)).text);
  assert.equal(later[0].json.seq, lines[3].seq);
  // each class has its own
  assert.deepEqual(parseEvents((await logs("name=quiet")).text), []);
});

test("errors of /_api/logs", async () => {
  const none = await logs("");
  assert.equal(none.status, 400);
  assert.match(JSON.parse(none.text).error.message, /name=/);
  const missing = await logs("name=nobody");
  assert.equal(missing.status, 404);
  const app = await logs("name=talker&app_id=ghost");
  assert.equal(app.status, 404);
  assert.equal(JSON.parse(app.text).error.code, "APP_NOT_FOUND");
});

test("a ring holds the last 1000 lines", async () => {
  await srv.text("/_do/talker/many?say=bulk&n=1100");
  await waitFor(async () => (await logs("name=talker")).text.includes("line bulk 1099"), { what: "the last line" });
  const lines = parseEvents((await logs("name=talker")).text).map((e) => e.json);
  assert.equal(lines.length, 1000);
  assert.equal(lines.at(-1).message, "line bulk 1099 { deep: [ 1, 2 ] }");
  assert.equal(lines[0].message, "line bulk 100 { deep: [ 1, 2 ] }");
});

// Reads a streaming response, collecting events until cond(events) holds.
async function follow(query) {
  const ac = new AbortController();
  const r = await fetch(`${srv.url}/_api/logs?${query}&follow=1`, { headers: auth(), signal: ac.signal });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/event-stream");
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  const state = { text: "", done: false };
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        state.text += dec.decode(value, { stream: true });
      }
    } catch {}
    state.done = true;
  })();
  return { state, events: () => parseEvents(state.text), close: () => ac.abort() };
}

test("follow streams new lines as they are written, from every shard", async () => {
  const f = await follow("name=quiet");
  const ids = ["s1", "s2", "s3", "s4", "s5", "s6"]; // with two shards, some land on each
  for (const id of ids) await srv.text(`/_do/quiet/${id}?say=${id}`);
  await waitFor(() => ids.every((id) => f.events().some((e) => e.json?.instance === id)), { what: "every line" });
  const seen = f.events().map((e) => e.json.message);
  assert.ok(seen.includes("line s1 0 { deep: [ 1, 2 ] }"));
  f.close();
  // the server notices the follower left, and keeps serving
  await srv.text("/_do/quiet/after?say=x");
  assert.equal((await srv.text("/_do/quiet/after2")).status, 200);
});

test("a follower sees the backlog first, and an end event when the class is deleted", async () => {
  await srv.deploy("doomed", talker.replace("class Talker", "class Doomed"));
  await srv.text("/_do/doomed/a?say=before");
  await waitFor(async () => (await logs("name=doomed")).text.includes("before"), { what: "the line" });
  const f = await follow("name=doomed");
  await waitFor(() => f.events().some((e) => e.json?.message?.includes("before")), { what: "the backlog" });
  const d = await srv.manage({ action: "delete", name: "doomed" });
  assert.equal(d.status, 200);
  await waitFor(() => f.state.done, { what: "the stream to end" });
  const last = f.events().at(-1);
  assert.equal(last.event, "end");
  assert.match(last.json.reason, /deleted/);
});

test("a server with followers stops cleanly", async () => {
  const f = await follow("name=talker");
  await waitFor(() => f.state.text.length > 0, { what: "the backlog" });
  const { code } = await srv.stop();
  assert.equal(code, 0);
  await waitFor(() => f.state.done, { what: "the stream to end" });
  await srv.start();
});
