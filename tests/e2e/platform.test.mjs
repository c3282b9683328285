// Black-box tests of the rest of the Web platform a Worker's code touches
// (scheduler.wait, AbortSignal.timeout, EventTarget, Blob, FormData, text
// streams, reportError, navigator), and of how fetches and streams live and
// die with their instance: a pending fetch keeps an instance from being
// evicted, and resetting an instance aborts its fetches and cuts its
// streamed answers short, while the server goes on.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";
import { startStub } from "./lib/stub.mjs";

const root = new URL("../../", import.meta.url).pathname;
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

let srv, stub;
before(async () => {
  stub = await startStub();
  srv = await startServer({ args: ["--threads", "1", "--allow-fetch", "127.0.0.1", "--idle-evict-ms", "300", "--cpu-limit-ms", "400"] });
  await srv.deploy("probe", probeSrc);
});
after(async () => {
  await srv?.cleanup();
  await stub?.stop();
});

async function ok(id, code) {
  const r = await srv.json(`/_do/probe/${encodeURIComponent(id)}`, { method: "POST", body: code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.ok, true, `${r.body.name}: ${r.body.message}`);
  return r.body.value;
}

test("the globals a Worker's code commonly touches are all there", async () => {
  const v = await ok("globals", `
    const names = ["fetch", "Request", "Response", "Headers", "ReadableStream", "WritableStream", "TransformStream",
      "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ByteLengthQueuingStrategy", "CountQueuingStrategy",
      "TextEncoderStream", "TextDecoderStream", "IdentityTransformStream", "FixedLengthStream", "Blob", "File", "FormData",
      "AbortController", "AbortSignal", "Event", "EventTarget", "CustomEvent", "DOMException", "CryptoKey", "SubtleCrypto",
      "setTimeout", "clearTimeout", "setInterval", "clearInterval", "queueMicrotask", "structuredClone", "reportError",
      "scheduler", "navigator", "performance", "crypto", "URL", "URLSearchParams", "TextEncoder", "TextDecoder", "atob", "btoa"];
    return { missing: names.filter((n) => typeof globalThis[n] === "undefined"),
      subtle: typeof crypto.subtle.digest, ua: navigator.userAgent, wait: typeof scheduler.wait };`);
  assert.deepEqual(v.missing, []);
  assert.equal(v.subtle, "function");
  assert.equal(v.wait, "function");
  assert.equal(typeof v.ua, "string");
});

test("scheduler.wait waits, lets other events in, and gives up on its signal", async () => {
  const v = await ok("wait", `
    const t0 = performance.now();
    await scheduler.wait(60);
    const waited = performance.now() - t0;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new RangeError("enough")), 10);
    let reason = null;
    try { await scheduler.wait(60000, { signal: ac.signal }); } catch (e) { reason = e.name + ": " + e.message; }
    const t = AbortSignal.timeout(30);
    const fired = await new Promise((r) => t.addEventListener("abort", () => r(t.reason.name)));
    return { waited, reason, fired };`);
  assert.ok(v.waited >= 60, `waited ${v.waited} ms`);
  assert.equal(v.reason, "RangeError: enough");
  assert.equal(v.fired, "TimeoutError");
});

test("events, blobs, forms and text streams work inside a class", async () => {
  const v = await ok("misc", `
    const t = new EventTarget();
    let got = null;
    t.addEventListener("ping", (e) => (got = e.detail));
    t.dispatchEvent(new CustomEvent("ping", { detail: 42 }));
    const fd = new FormData();
    fd.append("f", new File(["contents"], "c.txt", { type: "text/plain" }));
    const back = await new Response(fd).formData();
    const piped = await new Response(ReadableStream.from(["a", "b"]).pipeThrough(new TextEncoderStream())).text();
    reportError(new Error("reported on purpose"));
    return { got, file: [back.get("f").name, await back.get("f").text()], piped, blob: await new Blob(["x", "y"]).text() };`);
  assert.deepEqual(v, { got: 42, file: ["c.txt", "contents"], piped: "ab", blob: "xy" });
  await waitFor(() => srv.log.includes("Uncaught Error: reported on purpose"), { what: "the reported error in the log" });
});

test("a pending fetch keeps its instance from being evicted", async () => {
  const p = ok("pinned", `
    self.marker = "still here";
    const r = await fetch("${stub.url}/hold?id=pin");
    return [await r.text(), self.marker, self.created];`);
  await waitFor(() => stub.held.has("pin"), { what: "the fetch to be in flight" });
  // Far longer than --idle-evict-ms 300: an idle instance would be gone by now.
  await new Promise((r) => setTimeout(r, 1200));
  stub.release("pin", "late answer");
  const [text, marker] = await p;
  assert.deepEqual([text, marker], ["late answer", "still here"]);
  assert.doesNotMatch(srv.log, /probe\/pinned: evicted/);
  await waitFor(() => /probe\/pinned: evicted after/.test(srv.log), { what: "eviction once the fetch is over" });
});

test("resetting an instance aborts its fetches; the server goes on", async () => {
  const r = await srv.json("/_do/probe/reset1", {
    method: "POST",
    body: `
      fetch("${stub.url}/hold?id=doomed").catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
      const until = Date.now() + 5000;
      while (Date.now() < until); // past the 400 ms CPU limit: the instance is reset
      return "unreachable";`,
  });
  assert.equal(r.status, 500);
  assert.match(JSON.stringify(r.body), /CPU time limit/);
  await waitFor(() => stub.closed.has("doomed"), { what: "the aborted fetch's connection to close" });
  assert.equal(await ok("reset1", "return 'fresh';"), "fresh");
});

test("resetting an instance cuts its streamed answer short", async () => {
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: srv.port, method: "POST", path: "/_do/probe/reset2", agent: false }, resolve);
    req.on("error", reject);
    req.end(`
      const enc = new TextEncoder();
      return new Response(new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("first "));
          await new Promise((r) => setTimeout(r, 100));
          const until = Date.now() + 5000;
          while (Date.now() < until);
          c.enqueue(enc.encode("never"));
        },
      }));`);
  });
  let text = "", aborted = false;
  res.setEncoding("utf8");
  res.on("data", (d) => (text += d));
  res.on("aborted", () => (aborted = true));
  res.on("error", () => (aborted = true));
  await new Promise((r) => res.on("close", r));
  assert.equal(text, "first ");
  assert.equal(aborted, true, "the body ends without its last chunk");
  await waitFor(() => /reset2: its streamed response was cut short/.test(srv.log), { what: "the log line" });
  assert.equal(await ok("reset2", "return 'fresh';"), "fresh");
});

test("a class can compress its answer with CompressionStream", async () => {
  const r = await fetch(`${srv.url}/_do/probe/gz`, {
    method: "POST",
    body: `return new Response(ReadableStream.from([new TextEncoder().encode("zipped ".repeat(50))]).pipeThrough(new CompressionStream("gzip")),
      { headers: { "content-encoding": "gzip", "content-type": "text/plain" } });`,
  });
  assert.equal(r.headers.get("content-encoding"), "gzip");
  assert.equal(await r.text(), "zipped ".repeat(50), "the client decodes what the class compressed");
});

test("a timer never fires before its delay has passed (the loop clock counts whole ms)", async () => {
  const early = await ok("timers-early", `
    const early = [];
    // A 1 ms interval wakes the loop often, so a timer due by a clock that counts whole
    // milliseconds would be seen as due before its delay has really passed.
    const busy = setInterval(() => {}, 1);
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 3));
      const took = performance.now() - t0;
      if (took < 3) early.push(took);
      await scheduler.wait(1);
    }
    clearInterval(busy);
    return early;`);
  assert.deepEqual(early, [], "timers that fired early (ms)");
});
