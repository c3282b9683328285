// Black-box tests of WebCrypto in a class: JWTs (HS256 and RS256) made by
// the test with node:crypto are verified inside a class with crypto.subtle,
// as the product tells users to do in fetch(); known-answer vectors checked
// in the server; and the slow operations (RSA key generation, PBKDF2), which
// run on the thread pool, working from a class.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServer } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const probeSrc = await readFile(join(root, "tests/e2e/classes/probe.js"), "utf8");

const HS_SECRET = "a shared secret of the app, at least 32 bytes long!";
const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const otherRsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: "spki", format: "pem" });

const b64u = (b) => Buffer.from(b).toString("base64url");
function jwt(header, claims, sign) {
  const head = b64u(JSON.stringify(header));
  const body = b64u(JSON.stringify(claims));
  return `${head}.${body}.${b64u(sign(`${head}.${body}`))}`;
}
const hs256 = (claims, secret = HS_SECRET) =>
  jwt({ alg: "HS256", typ: "JWT" }, claims, (data) => crypto.createHmac("sha256", secret).update(data).digest());
const rs256 = (claims, key = rsa.privateKey) =>
  jwt({ alg: "RS256", typ: "JWT" }, claims, (data) => crypto.sign("sha256", Buffer.from(data), key));

// A class that checks the token of every request itself, the way a WebSocket
// class behind access mode "public" must.
const gateSrc = `
const SECRET = ${JSON.stringify(HS_SECRET)};
const PEM = ${JSON.stringify(rsaPem)};
const enc = new TextEncoder();
function b64url(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}
let keys = null;
async function getKeys() {
  if (keys) return keys;
  const der = b64url(PEM.replace(/-----[^-]+-----|\\s+/g, "").replace(/\\+/g, "-").replace(/\\//g, "_"));
  keys = {
    HS256: await crypto.subtle.importKey("raw", enc.encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]),
    RS256: await crypto.subtle.importKey("spki", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]),
  };
  return keys;
}
async function verify(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a JWT");
  const header = JSON.parse(new TextDecoder().decode(b64url(parts[0])));
  const k = (await getKeys())[header.alg];
  if (!k) throw new Error("unsupported alg " + header.alg);
  const alg = header.alg === "HS256" ? "HMAC" : "RSASSA-PKCS1-v1_5";
  const ok = await crypto.subtle.verify(alg, k, b64url(parts[2]), enc.encode(parts[0] + "." + parts[1]));
  if (!ok) throw new Error("bad signature");
  const claims = JSON.parse(new TextDecoder().decode(b64url(parts[1])));
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) throw new Error("expired");
  return claims;
}
export class JwtGate {
  async fetch(request) {
    const auth = request.headers.get("authorization") ?? "";
    if (!auth.startsWith("Bearer ")) return new Response("no token", { status: 401 });
    try {
      const claims = await verify(auth.slice(7));
      return Response.json({ sub: claims.sub, alg: JSON.parse(atob(auth.slice(7).split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).alg });
    } catch (e) {
      return new Response(e.message, { status: 401 });
    }
  }
}`;

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("jwt-gate", gateSrc);
  await srv.deploy("probe", probeSrc);
});
after(async () => srv && srv.cleanup());

const call = (token) => srv.text("/_do/jwt-gate/u1", token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

test("HS256 tokens made by node:crypto are verified in the class", async () => {
  const ok = await call(hs256({ sub: "ada", exp: inAnHour() }));
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(JSON.parse(ok.text), { sub: "ada", alg: "HS256" });
  const wrongSecret = await call(hs256({ sub: "ada" }, "another secret entirely, also long enough"));
  assert.deepEqual([wrongSecret.status, wrongSecret.text], [401, "bad signature"]);
  const good = hs256({ sub: "ada", exp: inAnHour() });
  const [h, , s] = good.split(".");
  const forged = `${h}.${b64u(JSON.stringify({ sub: "admin", exp: inAnHour() }))}.${s}`;
  assert.deepEqual([(await call(forged)).status, (await call(forged)).text], [401, "bad signature"]);
  const expired = await call(hs256({ sub: "ada", exp: Math.floor(Date.now() / 1000) - 10 }));
  assert.deepEqual([expired.status, expired.text], [401, "expired"]);
  const none = await call(jwt({ alg: "none" }, { sub: "ada" }, () => Buffer.alloc(0)));
  assert.deepEqual([none.status, none.text], [401, "unsupported alg none"]);
  assert.equal((await call()).status, 401);
});

test("RS256 tokens made by node:crypto are verified in the class", async () => {
  const ok = await call(rs256({ sub: "grace", exp: inAnHour() }));
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(JSON.parse(ok.text), { sub: "grace", alg: "RS256" });
  const other = await call(rs256({ sub: "grace" }, otherRsa.privateKey));
  assert.deepEqual([other.status, other.text], [401, "bad signature"]);
  // An HS256 token signed with the RSA public key as the secret: the classic confusion attack.
  const confused = jwt({ alg: "HS256" }, { sub: "eve" }, (d) => crypto.createHmac("sha256", rsaPem).update(d).digest());
  assert.equal((await call(confused)).status, 401);
});

test("known-answer vectors hold inside the server", async () => {
  const r = await srv.json("/_do/probe/kat", {
    method: "POST",
    body: `
      const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
      const unhex = (s) => new Uint8Array(s.match(/../g).map((x) => parseInt(x, 16)));
      const enc = (s) => new TextEncoder().encode(s);
      const hmacKey = await crypto.subtle.importKey("raw", enc("Jefe"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const gcmKey = await crypto.subtle.importKey("raw", unhex("feffe9928665731c6d6a8f9467308308"), "AES-GCM", false, ["encrypt"]);
      const ed = await crypto.subtle.importKey("pkcs8", unhex("302e020100300506032b657004220420" + "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"), "Ed25519", false, ["sign"]);
      return {
        sha256: hex(await crypto.subtle.digest("SHA-256", enc("abc"))),
        hmac: hex(await crypto.subtle.sign("HMAC", hmacKey, enc("what do ya want for nothing?"))),
        gcm: hex(await crypto.subtle.encrypt({ name: "AES-GCM", iv: unhex("cafebabefacedbaddecaf888") }, gcmKey,
          unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"))),
        ed25519: hex(await crypto.subtle.sign("Ed25519", ed, new Uint8Array(0))),
      };`,
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, true, r.body.message);
  const v = r.body.value;
  assert.equal(v.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(v.hmac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assert.equal(v.gcm, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" + "4d5c2af327cd64a62cf35abd2ba6fab4");
  assert.equal(v.ed25519, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
});

test("slow operations run off the loop: RSA key generation and PBKDF2 from a class, while other requests are served", async () => {
  const slow = srv.json("/_do/probe/keygen", {
    method: "POST",
    body: `
      const pair = await crypto.subtle.generateKey({ name: "RSA-PSS", modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
      const sig = await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, pair.privateKey, new TextEncoder().encode("m"));
      const ok = await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pair.publicKey, sig, new TextEncoder().encode("m"));
      const pw = await crypto.subtle.importKey("raw", new TextEncoder().encode("password"), "PBKDF2", false, ["deriveBits"]);
      const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: new TextEncoder().encode("salt"), iterations: 200000 }, pw, 256);
      return [pair.publicKey.algorithm.modulusLength, ok, new Uint8Array(bits).length];`,
  });
  // Another instance on the same server answers meanwhile.
  const quick = await srv.json("/_do/probe/other", { method: "POST", body: "return 1 + 1;" });
  assert.equal(quick.body.value, 2);
  const r = await slow;
  assert.equal(r.body.ok, true, r.body.message);
  assert.deepEqual(r.body.value, [3072, true, 32]);
});

test("errors reach the class as the DOMExceptions WebCrypto names", async () => {
  const r = await srv.json("/_do/probe/errs", {
    method: "POST",
    body: `
      const names = [];
      const tryIt = async (f) => { try { await f(); names.push("no error"); } catch (e) { names.push(e.name + (e instanceof DOMException ? "/DOMException" : "")); } };
      await tryIt(() => crypto.subtle.digest("MD5", new Uint8Array(1)));
      await tryIt(() => crypto.subtle.importKey("raw", new Uint8Array(5), "AES-GCM", false, ["encrypt"]));
      const k = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["decrypt"]);
      await tryIt(() => crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, k, new Uint8Array(32)));
      await tryIt(() => crypto.subtle.exportKey("raw", k));
      return names;`,
  });
  assert.deepEqual(r.body.value, ["NotSupportedError/DOMException", "DataError/DOMException", "OperationError/DOMException", "InvalidAccessError/DOMException"]);
});
