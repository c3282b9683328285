// Black-box tests of the SSRF guard of fetch(): by default a class cannot
// reach loopback (this server's management API), private, link-local or
// metadata addresses, whether by address or by a name that resolves there,
// directly or through a redirect; the refusal is a TypeError that says why
// and how to allow it, and no connection is made. --allow-fetch HOST|CIDR
// opens exactly what it names.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Server, startServer } from "./lib/server.mjs";
import { startStub } from "./lib/stub.mjs";

const root = new URL("../../", import.meta.url).pathname;
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

let closed, narrow, stub;
before(async () => {
  stub = await startStub();
  closed = await startServer({ args: ["--threads", "1"] });
  // Proxies in the environment are ignored: a proxy would be the address checked and connected to.
  const proxy = "http://127.0.0.1:9";
  narrow = await startServer({ args: ["--threads", "1", "--allow-fetch", "localhost", "--allow-fetch", "127.0.0.1/32"],
    env: { http_proxy: proxy, HTTP_PROXY: proxy, https_proxy: proxy, HTTPS_PROXY: proxy, ALL_PROXY: proxy, all_proxy: proxy } });
  await closed.deploy("probe", probeSrc);
  await narrow.deploy("probe", probeSrc);
});
after(async () => {
  await closed?.cleanup();
  await narrow?.cleanup();
  await stub?.stop();
});

async function attempt(server, url) {
  const r = await server.json("/_do/probe/ssrf", {
    method: "POST",
    body: `try { const r = await fetch(${JSON.stringify(url)}); return { status: r.status, text: await r.text() }; }
           catch (e) { return { name: e.name, message: e.message }; }`,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.value;
}

function refused(v, what) {
  assert.equal(v.name, "TypeError", JSON.stringify(v));
  assert.match(v.message, /was refused: /);
  assert.match(v.message, what);
  assert.match(v.message, /--allow-fetch/);
}

test("loopback is refused by default: the management API and the stub are out of reach", async () => {
  const before = stub.connections;
  refused(await attempt(closed, `http://127.0.0.1:${closed.port}/_api/health`), /127\.0\.0\.1 is a loopback address/);
  refused(await attempt(closed, `${stub.url}/echo`), /loopback/);
  refused(await attempt(closed, `http://127.1.2.3:${stub.port}/`), /127\.1\.2\.3 is a loopback address/);
  refused(await attempt(closed, `http://2130706433:${stub.port}/`), /127\.0\.0\.1 is a loopback/);
  refused(await attempt(closed, `http://[::1]:${stub.port}/`), /::1 is a loopback address/);
  refused(await attempt(closed, `http://[::ffff:127.0.0.1]:${stub.port}/`), /loopback/);
  assert.equal(stub.connections, before, "no connection reached the stub");
});

test("a name that resolves to loopback is refused after DNS", async () => {
  const before = stub.connections;
  const v = await attempt(closed, `http://localhost:${stub.port}/echo`);
  refused(v, /(127\.0\.0\.1|::1) is a loopback address/);
  assert.match(v.message, /fetch to http:\/\/localhost:/);
  assert.equal(stub.connections, before);
});

test("private, link-local, metadata and other non-public ranges are refused", async () => {
  refused(await attempt(closed, "http://10.0.0.1/"), /10\.0\.0\.1 is a private \(10\.0\.0\.0\/8\) address/);
  refused(await attempt(closed, "http://192.168.1.1/"), /private/);
  refused(await attempt(closed, "http://172.20.0.1/"), /private/);
  refused(await attempt(closed, "http://169.254.169.254/latest/meta-data/"), /169\.254\.169\.254 is the cloud metadata address/);
  refused(await attempt(closed, "http://169.254.1.1/"), /link-local/);
  refused(await attempt(closed, "http://100.64.0.1/"), /carrier-grade NAT/);
  refused(await attempt(closed, "http://0.0.0.0/"), /this network/);
  refused(await attempt(closed, "http://[fd00:ec2::254]/"), /unique local/);
  refused(await attempt(closed, "http://[fe80::1]/"), /link-local/);
  refused(await attempt(closed, "http://224.0.0.1/"), /multicast/);
});

test("--allow-fetch opens exactly what it names", async () => {
  const byName = await attempt(narrow, `http://localhost:${stub.port}/echo`);
  assert.equal(byName.status, 200, `the host name rule allows localhost (and no proxy is used): ${JSON.stringify(byName)}`);
  const byAddr = await attempt(narrow, `${stub.url}/echo`);
  assert.equal(byAddr.status, 200, "the /32 rule allows 127.0.0.1");
  refused(await attempt(narrow, `http://127.0.0.2:${stub.port}/echo`), /127\.0\.0\.2 is a loopback address/);
  refused(await attempt(narrow, "http://10.1.2.3/"), /private/);
});

test("a redirect to a refused address is refused too", async () => {
  const v = await attempt(narrow, `${stub.url}/redirect?status=302&to=${encodeURIComponent(`http://127.0.0.2:${stub.port}/echo`)}`);
  refused(v, /127\.0\.0\.2 is a loopback address/);
  const meta = await attempt(narrow, `${stub.url}/redirect?status=307&to=${encodeURIComponent("http://169.254.169.254/")}`);
  refused(meta, /metadata/);
});

test("bad --allow-fetch rules stop the server from starting, saying why", async () => {
  for (const [rule, why] of [["10.0.0.0/40", /prefix length from 0 to 32/], ["not a host!", /neither an address nor a valid host name/], ["", /is empty/]]) {
    const server = new Server({ args: ["--allow-fetch", rule] });
    const e = await server.start().then(() => null, (err) => err);
    await server.cleanup();
    assert.ok(e, `--allow-fetch ${JSON.stringify(rule)} should be refused`);
    assert.match(e.message, why);
  }
});
