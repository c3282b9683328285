// Black-box tests of streamed responses and request bodies as streams: a
// Response whose body is a ReadableStream goes out chunked as the class
// produces it (server-sent events, relayed tokens), each chunk waits for the
// writes made before it, a client that goes away cancels the stream, a slow
// client slows the producer down, and HEAD sends only the head.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, waitFor } from "./lib/server.mjs";

const streamer = `
export class Streamer {
  constructor(ctx) {
    this.ctx = ctx;
    this.release = null;
    this.cancelled = null;
    this.pulls = 0;
  }
  async fetch(request) {
    const url = new URL(request.url);
    const what = url.pathname.split("/").pop();
    const enc = new TextEncoder();
    if (what === "held") {
      // One chunk now, the rest once another request says so.
      const gate = new Promise((r) => (this.release = r));
      const body = new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("first\\n"));
          await gate;
          c.enqueue(enc.encode("second\\n"));
          c.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/plain", "x-streamed": "yes" } });
    }
    if (what === "release") {
      const had = this.release !== null;
      if (had) this.release();
      return Response.json({ released: had });
    }
    if (what === "sse") {
      const self = this;
      let n = 0;
      const body = new ReadableStream({
        async pull(c) {
          if (n > 0) await new Promise((r) => setTimeout(r, 20));
          c.enqueue("data: tick " + n++ + "\\n\\n");
        },
        cancel(reason) {
          self.cancelled = String(reason);
        },
      }).pipeThrough(new TextEncoderStream());
      return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    }
    if (what === "status") {
      return Response.json({ cancelled: this.cancelled, pulls: this.pulls });
    }
    if (what === "gated") {
      // a; once released, a write, then b: b may only leave once the write is durable.
      const storage = this.ctx.storage;
      const gate = new Promise((r) => (this.release = r));
      const body = new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("a"));
          await gate;
          await storage.put("k", Date.now());
          c.enqueue(enc.encode("b"));
          c.close();
        },
      });
      return new Response(body);
    }
    if (what === "big") {
      const self = this;
      const chunk = new Uint8Array(65536).fill(120);
      const total = Number(url.searchParams.get("chunks"));
      return new Response(new ReadableStream({
        pull(c) {
          self.pulls++;
          c.enqueue(chunk.slice());
          if (self.pulls >= total) c.close();
        },
      }, { highWaterMark: 0 }));
    }
    if (what === "upper") {
      const up = new TransformStream({
        transform(chunk, c) {
          c.enqueue(enc.encode(new TextDecoder().decode(chunk).toUpperCase()));
        },
      });
      return new Response(request.body.pipeThrough(up));
    }
    if (what === "count") {
      const reader = request.body.getReader();
      let bytes = 0, reads = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        reads++;
      }
      return Response.json({ bytes, reads, used: request.bodyUsed });
    }
    if (what === "echo") {
      return new Response(request.body, { headers: { "content-type": request.headers.get("content-type") ?? "x/y" } });
    }
    if (what === "broken") {
      return new Response(new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("part"));
          await new Promise((r) => setTimeout(r, 10));
          c.error(new Error("producer failed"));
        },
      }));
    }
    if (what === "text-chunk") {
      return new Response(new ReadableStream({ start(c) { c.enqueue("not bytes"); c.close(); } }));
    }
    return new Response("unknown " + what, { status: 404 });
  }
}
`;

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("streamer", streamer);
});
after(async () => srv && srv.cleanup());

// A GET whose body is read piece by piece: returns the response and an async
// function giving the text received so far once it contains `want`.
function open(path, method = "GET") {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: srv.port, method, path, agent: false }, (res) => {
      let text = "";
      let ended = false, aborted = false;
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => (ended = true));
      res.on("aborted", () => (aborted = true));
      res.on("error", () => (aborted = true));
      resolve({
        res, req,
        text: () => text,
        ended: () => ended,
        aborted: () => aborted,
        until: (want) => waitFor(() => text.includes(want) && text, { what: `"${want}" in ${JSON.stringify(text)}` }),
        done: () => waitFor(() => ended || aborted, { what: "the end of the response" }),
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test("a streamed body arrives in pieces, before the class has finished", async () => {
  const s = await open("/_do/streamer/one/held");
  assert.equal(s.res.statusCode, 200);
  assert.equal(s.res.headers["transfer-encoding"], "chunked");
  assert.equal(s.res.headers["content-length"], undefined);
  assert.equal(s.res.headers["x-streamed"], "yes");
  await s.until("first\n");
  assert.equal(s.ended(), false, "the body is not over: the class still holds the rest");
  // The instance takes other requests meanwhile (the event that returned the stream is done).
  const r = await srv.json("/_do/streamer/one/release");
  assert.deepEqual(r.body, { released: true });
  await s.done();
  assert.equal(s.text(), "first\nsecond\n");
  assert.equal(s.ended(), true);
});

test("server-sent events stream until the client goes away, which cancels the stream", async () => {
  const s = await open("/_do/streamer/sse1/sse");
  assert.equal(s.res.headers["content-type"], "text/event-stream");
  await s.until("data: tick 2\n\n");
  assert.match(s.text(), /^data: tick 0\n\ndata: tick 1\n\ndata: tick 2\n\n/);
  s.req.destroy();
  const st = await waitFor(async () => {
    const r = await srv.json("/_do/streamer/sse1/status");
    return r.body.cancelled !== null && r.body;
  }, { what: "the stream to be cancelled" });
  assert.match(st.cancelled, /client went away/);
});

test("HEAD on a streamed response sends the head only and stops the stream", async () => {
  const s = await open("/_do/streamer/head1/sse", "HEAD");
  assert.equal(s.res.statusCode, 200);
  assert.equal(s.res.headers["content-type"], "text/event-stream");
  await s.done();
  assert.equal(s.text(), "");
  const st = await waitFor(async () => {
    const r = await srv.json("/_do/streamer/head1/status");
    return r.body.cancelled !== null && r.body;
  }, { what: "the stream to be cancelled" });
  assert.ok(st.cancelled);
});

test("a chunk made after a write waits for it: when the commit fails, the rest never goes out", async () => {
  const ok = await open("/_do/streamer/gate-ok/gated");
  await ok.until("a");
  await srv.fetch("/_do/streamer/gate-ok/release");
  await ok.done();
  assert.deepEqual([ok.text(), ok.ended()], ["ab", true]);

  const s = await open("/_do/streamer/gate-fail/gated");
  await s.until("a");
  const inj = await srv.manage({ action: "test_fail_commits", count: 1 });
  assert.equal(inj.status, 200);
  // Its own answer depends on the failing write too, so it may fail: only the stream matters here.
  await srv.fetch("/_do/streamer/gate-fail/release");
  await s.done();
  assert.equal(s.text(), "a", "the chunk after the failed write was withheld");
  assert.equal(s.aborted(), true, "the body was cut short, not ended cleanly");
  assert.match(srv.log, /commit failed/);
});

test("a slow client slows the producer down; everything arrives once it reads", async () => {
  const chunks = 1600; // 100 MiB
  const s = await new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: srv.port, path: `/_do/streamer/slow/big?chunks=${chunks}`, agent: false }, resolve);
    req.on("error", reject);
    req.end();
  });
  s.pause();
  let last = -1, stable = 0, pulls = 0;
  await waitFor(async () => {
    pulls = (await srv.json("/_do/streamer/slow/status")).body.pulls;
    stable = pulls === last ? stable + 1 : 0;
    last = pulls;
    return stable >= 5;
  }, { timeout: 30000, what: "the producer to stop" });
  assert.ok(pulls > 0 && pulls < chunks / 2, `the producer was pulled ${pulls} times while nobody read`);
  let got = 0;
  s.on("data", (d) => (got += d.length));
  const ended = new Promise((r) => s.on("end", r));
  s.resume();
  await ended;
  assert.equal(got, chunks * 65536);
});

test("request.body is a stream: piped through a transform, counted with a reader, passed back", async () => {
  const body = "hello streams ".repeat(5000);
  const up = await srv.text("/_do/streamer/b/upper", { method: "POST", body });
  assert.equal(up.status, 200);
  assert.equal(up.text, body.toUpperCase());
  assert.equal(up.headers.get("transfer-encoding"), "chunked");
  const c = await srv.json("/_do/streamer/b/count", { method: "POST", body: new Uint8Array(300000) });
  assert.deepEqual([c.body.bytes, c.body.used], [300000, true]);
  assert.ok(c.body.reads >= 1);
  const e = await srv.text("/_do/streamer/b/echo", { method: "PUT", body: "as is", headers: { "content-type": "a/b" } });
  assert.deepEqual([e.text, e.headers.get("content-type"), e.headers.get("content-length")], ["as is", "a/b", "5"],
    "a body passed on untouched keeps its length");
});

test("a stream that errors cuts the body short and says why in the log", async () => {
  const s = await open("/_do/streamer/err/broken");
  await s.done();
  assert.equal(s.text(), "part");
  assert.equal(s.aborted(), true);
  await waitFor(() => /response body stream failed.*producer failed/.test(srv.log), { what: "the log line" });
  const t = await open("/_do/streamer/err/text-chunk");
  await t.done();
  assert.equal(t.aborted(), true);
  await waitFor(() => /must give bytes/.test(srv.log), { what: "the log line about a text chunk" });
  // The instance keeps serving.
  const r = await srv.json("/_do/streamer/err/status");
  assert.equal(r.status, 200);
});
