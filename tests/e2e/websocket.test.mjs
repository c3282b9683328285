// Black-box tests of WebSockets: the upgrade on the instance URL, the
// hibernation API, hibernation itself, redeploys, the protocol (RFC 6455)
// at its edges, the output gate, and the limits. Real clients (the `ws`
// package) and hand-written frames for what a good client never sends.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";
import { connect, rawConnect, frame } from "./lib/wsclient.mjs";

const root = new URL("../../", import.meta.url).pathname;
const roomSrc = await readFile(join(root, "tests/e2e/classes/ws_room.js"), "utf8");

// One server for most tests: two shards (so connections move between
// them), a short hibernation delay and a short keep-alive.
let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2", "--hibernate-ms", "300", "--ws-ping-ms", "300"] });
  await srv.deploy("ws-room", roomSrc);
});
after(async () => srv && srv.cleanup());

const wsurl = (s, id, q = "") => `ws://127.0.0.1:${s.port}/_do/ws-room/${id}${q}`;
const info = async (s, id, q = "") => (await s.json(`/_do/ws-room/${id}${q}`)).body;
const hibernated = (s, id) => waitFor(() => new RegExp(`ws-room/${id}: hibernated with`).test(s.log),
  { what: `ws-room/${id} to hibernate` });

test("upgrade on the instance URL: the class's 101 with its headers, a message sent before the socket arrived, echo", async () => {
  const c = await connect(wsurl(srv, "basic", "?hello&name=ada&protocol=chat.v1"), { protocols: ["chat.v1"] });
  assert.equal(c.ws.protocol, "chat.v1", "the subprotocol header of the class's Response reaches the client");
  assert.equal(await c.next(), "hello ada", "sent by the class before it returned the 101");
  c.send("hi");
  assert.equal(await c.next(), "echo:v1:hi");
  assert.equal((await info(srv, "basic")).sockets, 1);
  await c.close(1000);
});

test("an upgrade the class answers with something else gets that answer; bad handshakes are refused before the object runs", async () => {
  const refused = await connect(wsurl(srv, "refuse", "?refuse=403")).catch((e) => e);
  assert.equal(refused.status, 403);
  assert.equal(refused.body, "not here");
  const noKey = await rawConnect(srv.port, "/_do/ws-room/hs", { headers: { "Sec-WebSocket-Key": null } });
  assert.equal(noKey.status, 400);
  const badKey = await rawConnect(srv.port, "/_do/ws-room/hs", { key: "short" });
  assert.equal(badKey.status, 400);
  const v8 = await rawConnect(srv.port, "/_do/ws-room/hs", { headers: { "Sec-WebSocket-Version": "8" } });
  assert.equal(v8.status, 426);
  assert.match(v8.head, /Sec-WebSocket-Version: 13/i);
  for (const r of [noKey, badKey, v8]) r.sock.destroy();
  const ctor = await info(srv, "hs");
  assert.equal(ctor.constructed, 1, "only this GET ran the object; the refused handshakes did not");
});

test("broadcast reaches every socket; tags filter getWebSockets(tag); getTags", async () => {
  const n = 12;
  const clients = await Promise.all(Array.from({ length: n }, (_, i) =>
    connect(wsurl(srv, "fan", `?name=u${i}&tags=${i % 2 ? "odd" : "even"},all`))));
  assert.equal((await info(srv, "fan")).sockets, n);
  assert.equal((await info(srv, "fan", "?tag=odd")).tagged, n / 2);
  clients[0].send(JSON.stringify({ cmd: "broadcast", text: "to all" }));
  assert.deepEqual(await Promise.all(clients.map((c) => c.next())), Array(n).fill("to all"));
  clients[1].send(JSON.stringify({ cmd: "broadcast", text: "to odd", tag: "odd" }));
  const odd = clients.filter((_, i) => i % 2);
  assert.deepEqual(await Promise.all(odd.map((c) => c.next())), Array(n / 2).fill("to odd"));
  const me = await clients[3].ask({ cmd: "whoami" });
  assert.deepEqual(me.tags, ["odd", "all"]);
  assert.equal(me.att.name, "u3");
  // the even ones got nothing more: the next thing they see is this
  clients[0].send(JSON.stringify({ cmd: "broadcast", text: "again", tag: "even" }));
  for (const c of clients.filter((_, i) => !(i % 2))) assert.equal(await c.next(), "again");
  await Promise.all(clients.map((c) => c.close(1000)));
});

test("text and binary messages; fragmented messages with a ping between fragments", async () => {
  const c = await connect(wsurl(srv, "frames"));
  c.send(Buffer.from([1, 2, 3]));
  assert.deepEqual([...(await c.next())], [0xee, 1, 2, 3], "binary arrives as an ArrayBuffer and goes back as bytes");
  c.send("héllo 🌍");
  assert.equal(await c.next(), "echo:v1:héllo 🌍");
  await c.close(1000);

  const r = await rawConnect(srv.port, "/_do/ws-room/frames");
  assert.equal(r.status, 101);
  const raw = r.client;
  raw.write(Buffer.concat([
    frame(1, "frag", { fin: false }),
    frame(9, "are you there"), // a ping between fragments
    frame(0, "ment", { fin: false }),
    frame(0, "ed", { fin: true }),
  ]));
  const pong = await raw.waitFrame((f) => f.opcode === 10);
  assert.equal(pong.payload.toString(), "are you there", "the ping is answered with its payload");
  const echo = await raw.waitFrame((f) => f.opcode === 1);
  assert.equal(echo.payload.toString(), "echo:v1:fragmented");
  raw.write(frame(8, Buffer.from([0x03, 0xe8])));
  assert.equal((await raw.closeFrame()).code, 1000);
  await raw.ended;
});

test("close codes and reasons in both directions", async () => {
  const a = await connect(wsurl(srv, "closing", "?name=a"));
  const closedA = await a.close(4000, "client bye");
  assert.equal(closedA.code, 4000, "the runtime answers the client's close frame with its code");
  await waitFor(async () => (await info(srv, "closing")).closes.length === 1, { what: "webSocketClose" });
  assert.deepEqual((await info(srv, "closing")).closes[0], { name: "a", code: 4000, reason: "client bye", wasClean: true });

  const b = await connect(wsurl(srv, "closing", "?name=b"));
  b.send(JSON.stringify({ cmd: "close", code: 4001, reason: "server bye" }));
  assert.deepEqual(await b.closed, { code: 4001, reason: "server bye" });
  const bad = await connect(wsurl(srv, "closing", "?name=c"));
  bad.send(JSON.stringify({ cmd: "close", code: 1005 }));
  await waitFor(() => /webSocketMessage threw: TypeError: WebSocket close\(\): 1005 is not a code that may be sent/.test(srv.log),
    { what: "the refused close code in the log" });
  bad.send("still open");
  assert.equal(await bad.next(), "echo:v1:still open", "a throwing handler leaves the socket open");
  await bad.close(1000);

  const d = await connect(wsurl(srv, "closing", "?name=d"));
  d.ws.terminate(); // no close frame at all
  await waitFor(async () => (await info(srv, "closing")).closes.some((x) => x.name === "d"), { what: "the abnormal close" });
  const dc = (await info(srv, "closing")).closes.find((x) => x.name === "d");
  assert.deepEqual([dc.code, dc.wasClean], [1006, false]);
});

test("protocol errors: unmasked frames 1002, invalid UTF-8 1007, a message over 32 MiB 1009; the class hears of each", async () => {
  const cases = [
    ["unmasked", frame(1, "plain", { mask: false }), 1002],
    ["utf8", frame(1, Buffer.from([0x68, 0xc3, 0x28])), 1007],
    ["toobig", frame(2, Buffer.alloc(32 * 1024 * 1024 + 1)), 1009],
  ];
  for (const [id, bytes, code] of cases) {
    const r = await rawConnect(srv.port, `/_do/ws-room/proto-${id}`);
    assert.equal(r.status, 101);
    r.client.write(bytes);
    const close = await r.client.closeFrame(20000);
    assert.equal(close?.code, code, id);
    await r.client.ended;
    await waitFor(async () => (await info(srv, `proto-${id}`)).closes.length === 1, { what: `webSocketClose for ${id}` });
    const i = await info(srv, `proto-${id}`);
    assert.equal(i.closes[0].wasClean, false);
    assert.equal(i.errors.length, 1, `webSocketError for ${id}`);
  }
});

test("hibernation: the instance sleeps; the next message re-runs the constructor; tags, attachments and getWebSockets survive", async () => {
  const a = await connect(wsurl(srv, "sleepy", "?name=ann&tags=t1"));
  const b = await connect(wsurl(srv, "sleepy", "?name=bob&tags=t2"));
  await a.ask({ cmd: "whoami" }); // memory is "used" now
  b.send(JSON.stringify({ cmd: "setatt", value: { name: "bob", score: 7 } }));
  assert.equal(await b.next(), "att set");
  const first = await info(srv, "sleepy");
  await hibernated(srv, "sleepy");
  const woke = await a.ask({ cmd: "whoami" });
  assert.ok(woke.constructed > first.constructed, "the constructor ran again (its count in storage went up)");
  assert.equal(woke.memory, "fresh", "in-memory state started over");
  assert.deepEqual(woke.tags, ["t1"]);
  assert.equal(woke.att.name, "ann");
  assert.equal(woke.count, 2, "getWebSockets() after waking returns both");
  b.send(JSON.stringify({ cmd: "whoami" }));
  const bob = await b.json();
  assert.deepEqual(bob.tags, ["t2"]);
  assert.deepEqual(bob.att, { name: "bob", score: 7 });
  await Promise.all([a.close(1000), b.close(1000)]);
});

test("the auto-response is answered while the instance stays hibernated", async () => {
  const c = await connect(wsurl(srv, "auto"));
  c.send(JSON.stringify({ cmd: "autoresponse", req: "ping", res: "pong" }));
  assert.equal(await c.next(), "autoresponse set");
  const ctor = (await info(srv, "auto")).constructed;
  await hibernated(srv, "auto");
  const logBefore = srv.log.length;
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) {
    c.send("ping");
    assert.equal(await c.next(), "pong");
  }
  assert.doesNotMatch(srv.log.slice(logBefore), /ws-room\/auto: hibernated/, "it never woke, so it never hibernated again");
  const ts = await c.ask({ cmd: "autots" }); // this message wakes it
  assert.ok(ts.ts >= t0 - 5 && ts.ts <= Date.now(), "getWebSocketAutoResponseTimestamp is when it last answered");
  assert.equal((await info(srv, "auto")).constructed, ctor + 1, "only the real message re-ran the constructor");
  await c.close(1000);
});

test("a redeploy keeps hibernatable sockets and the next message runs the new code; ws.accept() sockets close with 1012", async () => {
  const s = await startServer({ args: ["--threads", "1"] });
  try {
    await s.deploy("ws-room", roomSrc);
    const h = await connect(wsurl(s, "re", "?name=keep"));
    const classic = await connect(wsurl(s, "re", "?style=classic"));
    classic.send("x");
    assert.equal(await classic.next(), "classic:v1:x");
    h.send("before");
    assert.equal(await h.next(), "echo:v1:before");
    await s.deploy("ws-room", roomSrc.replace('const VERSION = "v1"', 'const VERSION = "v2"'));
    assert.equal((await classic.closed).code, 1012);
    h.send("after");
    assert.equal(await h.next(), "echo:v2:after", "the same socket, the new code");
    const me = await h.ask({ cmd: "whoami" });
    assert.equal(me.att.name, "keep", "the attachment survived the redeploy");
    await h.close(1000);
  } finally {
    await s.cleanup();
  }
});

test("the older style: ws.accept() with addEventListener for message and close", async () => {
  const c = await connect(wsurl(srv, "classic", "?style=classic"));
  c.send(Buffer.alloc(5));
  assert.equal(await c.next(), "classic:v1:5");
  c.send("event?");
  assert.deepEqual(await c.json(), { message: true, event: true, type: "message", target: true },
    "listeners get a MessageEvent, an Event whose target is the socket");
  c.send("close-me");
  assert.deepEqual(await c.closed, { code: 4002, reason: "classic close" });
  await waitFor(async () => (await info(srv, "classic")).classic.length === 1, { what: "the close event" });
  assert.equal((await info(srv, "classic")).classic[0].code, 4002);
  assert.equal((await info(srv, "classic")).classic[0].close, true, "a CloseEvent");
  // A classic socket keeps its instance awake: it never hibernates. A
  // hibernatable socket opened after it, and so idle for less time, is the
  // clock that says the hibernation delay has passed.
  const d = await connect(wsurl(srv, "classic-awake", "?style=classic"));
  d.send("one");
  assert.equal(await d.next(), "classic:v1:one");
  const clock = await connect(wsurl(srv, "classic-clock"));
  await hibernated(srv, "classic-clock");
  assert.doesNotMatch(srv.log, /ws-room\/classic-awake: hibernated/);
  await clock.close(1000);
  d.send("two");
  assert.equal(await d.next(), "classic:v1:two");
  await d.close(1000);
});

test("output gate: a send that follows a write goes out only once the write is durable", async () => {
  const s = await startServer({ args: ["--threads", "1"] });
  try {
    await s.deploy("ws-room", roomSrc);
    const c = await connect(wsurl(s, "gate"));
    c.send(JSON.stringify({ cmd: "putsend", n: 1 }));
    assert.equal(await c.next(), "after put 1");
    assert.equal((await s.manage({ action: "test_fail_commits", count: 1 })).status, 200);
    c.send(JSON.stringify({ cmd: "putsend", n: 2 }));
    await waitFor(() => /commit failed: injected commit failure/.test(s.log), { what: "the failed commit" });
    c.send(JSON.stringify({ cmd: "putsend", n: 3 }));
    // The frame that depended on the failed commit is never seen (the
    // socket stays open, the instance is reset); the next one is.
    assert.equal(await c.next(), "after put 3");
    await c.close(1000);
  } finally {
    await s.cleanup();
  }
});

test("a client that never reads is cut off, and the server's memory does not grow with what it was sent", async () => {
  // Under AddressSanitizer, freed memory waits in a quarantine (256 MiB by
  // default) before reuse, which RSS would count: keep it small here.
  const asan = `quarantine_size_mb=8${process.env.ASAN_OPTIONS ? ":" + process.env.ASAN_OPTIONS : ""}`;
  const s = await startServer({ args: ["--threads", "1"], env: { ASAN_OPTIONS: asan } });
  try {
    await s.deploy("ws-room", roomSrc);
    const rss = async () => Number((await readFile(`/proc/${s.proc.pid}/status`, "utf8")).match(/VmRSS:\s+(\d+)/)[1]);
    const r = await rawConnect(s.port, "/_do/ws-room/slow");
    assert.equal(r.status, 101);
    r.sock.pause(); // never read again
    const base = await rss();
    // 60 rounds of 8 MiB: far more than the 16 MiB the server will hold for one client
    for (let i = 0; i < 60 && !r.sock.destroyed; i++) {
      r.client.write(frame(1, JSON.stringify({ cmd: "flood", n: 8, size: 1 << 20 })));
      if (/does not read its messages/.test(s.log)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    await waitFor(() => /does not read its messages .* closed with 1013/.test(s.log), { what: "the slow reader to be cut off", timeout: 30000 });
    assert.ok((await rss()) - base < 128 * 1024, `RSS grew by ${(await rss()) - base} KiB`);
    r.sock.destroy();
  } finally {
    await s.cleanup();
  }
});

test("keep-alive: a silent client is pinged; one that never answers is dropped", async () => {
  const c = await connect(wsurl(srv, "alive"));
  await waitFor(() => c.pings >= 2, { what: "pings from the server" });
  c.send("still here");
  assert.equal(await c.next(), "echo:v1:still here");
  await c.close(1000);
  // a raw client never answers pings
  const r = await rawConnect(srv.port, "/_do/ws-room/deaf");
  await r.client.waitFrame((f) => f.opcode === 9);
  await r.client.ended;
  await waitFor(() => /did not answer a ping/.test(srv.log), { what: "the drop in the log" });
});

test("limits: WebSockets per instance (429 past it), and the access mode applies to the upgrade", async () => {
  const s = await startServer({ args: ["--threads", "1", "--ws-max-per-instance", "3"] });
  try {
    await s.deploy("ws-room", roomSrc);
    const three = await Promise.all([1, 2, 3].map(() => connect(wsurl(s, "full"))));
    const fourth = await connect(wsurl(s, "full")).catch((e) => e);
    assert.equal(fourth.status, 429);
    assert.match(fourth.body, /3 WebSockets/);
    await three[0].close(1000);
    await waitFor(async () => (await info(s, "full")).sockets === 2, { what: "the socket to go" });
    const again = await connect(wsurl(s, "full"));
    await Promise.all([again, three[1], three[2]].map((c) => c.close(1000)));

    await s.deploy("ws-room", roomSrc, "authenticated");
    const anon = await connect(wsurl(s, "locked")).catch((e) => e);
    assert.equal(anon.status, 401);
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const jwt = `${b64({ alg: "HS256" })}.${b64({ sub: "u" })}.c2ln`;
    const ok = await connect(wsurl(s, "locked"), { headers: { authorization: `Bearer ${jwt}` } });
    await ok.close(1000);
  } finally {
    await s.cleanup();
  }
});

test("deleting the class closes its sockets with 1001; stopping the server closes the rest with 1001 and exits 0", async () => {
  const s = await startServer({ args: ["--threads", "2"] });
  try {
    await s.deploy("ws-room", roomSrc);
    await s.deploy("other-room", roomSrc.replace("class WsRoom", "class OtherRoom"));
    const doomed = await connect(wsurl(s, "d1"));
    const kept = await connect(`ws://127.0.0.1:${s.port}/_do/other-room/k1`);
    kept.send("x");
    assert.equal(await kept.next(), "echo:v1:x");
    assert.equal((await s.manage({ action: "delete", name: "ws-room" })).status, 200);
    const gone = await doomed.closed;
    assert.equal(gone.code, 1001);
    assert.match(gone.reason, /deleted/);
    kept.send("y");
    assert.equal(await kept.next(), "echo:v1:y", "another class's socket is untouched");
    const { code } = await s.stop();
    assert.equal(code, 0);
    const end = await kept.closed;
    assert.equal(end.code, 1001);
    assert.match(end.reason, /shutting down/);
  } finally {
    await s.cleanup();
  }
});

test("getWebSocketAutoResponse gives back the pair that was set; only an exact match is answered", async () => {
  const c = await connect(wsurl(srv, "auto-get"));
  assert.equal(await c.ask({ cmd: "getauto" }), null);
  c.send(JSON.stringify({ cmd: "autoresponse", req: "are you there?", res: "yes" }));
  assert.equal(await c.next(), "autoresponse set");
  c.send("are you there?");
  assert.equal(await c.next(), "yes");
  c.send("are you there");
  assert.equal(await c.next(), "echo:v1:are you there", "only an exact match is answered by the runtime");
  assert.deepEqual(await c.ask({ cmd: "getauto" }), { req: "are you there?", res: "yes" });
  await c.close(1000);
});

test("usage counts open sockets; set_env closes every socket of the app with 1012, of either style", async () => {
  const s = await startServer({ args: ["--threads", "2"] });
  try {
    await s.deploy("ws-room", roomSrc);
    const hib = await connect(wsurl(s, "env1"));
    const classic = await connect(wsurl(s, "env2", "?style=classic"));
    for (const c of [hib, classic]) {
      c.send("x");
      assert.match(await c.next(), /x/);
    }
    const usage = async () => (await s.manage({ action: "usage", name: "ws-room" })).body;
    assert.equal((await usage()).websockets_open, 2);
    assert.equal((await s.manage({ action: "set_env", key: "MODE", value: "new" })).status, 200);
    for (const c of [hib, classic]) {
      const end = await c.closed;
      assert.equal(end.code, 1012);
      assert.match(end.reason, /environment changed/);
    }
    await waitFor(async () => (await usage()).websockets_open === 0, { what: "the closed sockets to leave usage" });
    const again = await connect(wsurl(s, "env1"));
    again.send("y");
    assert.equal(await again.next(), "echo:v1:y", "a new socket is served by the new version");
    await again.close(1000);
  } finally {
    await s.cleanup();
  }
});
