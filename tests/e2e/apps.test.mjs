// Black-box tests of apps and access control: manage_apps (create, list,
// get, delete, rotate_service_key, set_auth), routing by subdomain, the
// service_key mode, and JWT verification with HS256, RS256 and ES256 keys
// given as a secret, PEM or a JWKS, with the claims a class can trust.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, access } from "node:fs/promises";
import { join } from "node:path";
import { startServer, waitFor } from "./lib/server.mjs";
import { signJwt, now, rsaKeys, ecKeys, jwks } from "./lib/jwt.mjs";

const whoami = `export class Whoami {
  constructor(state) { this.state = state; }
  async fetch(request) {
    await this.state.storage.put("seen", true);
    const h = {};
    for (const [k, v] of request.headers) h[k] = v;
    return Response.json({ headers: h, url: request.url });
  }
}`;
const SECRET = "an-hs256-secret-of-at-least-32-bytes!!";

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
});
after(async () => srv && srv.cleanup());

// A request to an instance of an app through its subdomain.
function call(app, path, headers = {}) {
  return srv.raw("GET", path, { host: `${app}.localhost:${srv.port}`, ...headers })
    .then((r) => ({ ...r, json: (() => { try { return JSON.parse(r.body); } catch { return null; } })() }));
}

test("create returns the service key once; list and get never show it", async () => {
  const c = await srv.apps({ action: "create", app_id: "shop" });
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(Object.keys(c.body).sort(),
    ["app_id", "auth", "created_at", "durable_objects", "env_vars", "service_key", "subdomain"]);
  assert.equal(c.body.app_id, "shop");
  assert.equal(c.body.subdomain, "shop", "the subdomain defaults to the id");
  assert.match(c.body.service_key, /^sk_[0-9a-f]{48}$/);
  assert.equal(c.body.auth, null);
  assert.ok(!Number.isNaN(Date.parse(c.body.created_at)));
  const key = c.body.service_key;

  const l = await srv.apps({ action: "list" });
  assert.equal(l.status, 200);
  assert.deepEqual(l.body.apps.map((a) => a.app_id).sort(), ["default", "shop"]);
  const g = await srv.apps({ action: "get", app_id: "shop" });
  assert.equal(g.status, 200);
  assert.equal(g.body.subdomain, "shop");
  for (const r of [l, g]) {
    assert.ok(!r.text.includes(key), "the key is never shown again");
    assert.ok(!/service_key/.test(r.text));
  }
  // the key is not stored either: control.db holds its hash only
  const db = await readFile(join(srv.dir, "control.db"));
  assert.ok(!db.includes(Buffer.from(key)));

  const sub = await srv.apps({ action: "create", app_id: "blog", subdomain: "news" });
  assert.equal(sub.status, 200);
  assert.equal(sub.body.subdomain, "news");
});

test("manage_apps errors: each is JSON with a code and a message that says what to do", async () => {
  const cases = [
    [{ action: "create" }, 400, "INVALID_ARGUMENT", /app_id/],
    [{ action: "create", app_id: "Bad_App" }, 400, "INVALID_APP_ID", /lowercase/],
    [{ action: "create", app_id: "ok-app", subdomain: "no way" }, 400, "INVALID_SUBDOMAIN", /subdomain/],
    [{ action: "create", app_id: "shop" }, 409, "APP_EXISTS", /already exists/],
    [{ action: "create", app_id: "shop2", subdomain: "shop" }, 409, "SUBDOMAIN_TAKEN", /shop/],
    [{ action: "get", app_id: "nope" }, 404, "APP_NOT_FOUND", /list/],
    [{ action: "get" }, 400, "INVALID_ARGUMENT", /app_id/],
    [{ action: "delete", app_id: "default" }, 400, "CANNOT_DELETE_DEFAULT", /default/],
    [{ action: "rotate_service_key", app_id: "nope" }, 404, "APP_NOT_FOUND", /nope/],
    [{ action: "set_auth", app_id: "shop" }, 400, "INVALID_ARGUMENT", /jwt_secret/],
    [{ action: "set_auth", app_id: "shop", jwt_secret: "short" }, 400, "INVALID_AUTH", /at least 32 bytes/],
    [{ action: "set_auth", app_id: "shop", jwt_public_key: "not a key" }, 400, "INVALID_AUTH", /PEM/],
    [{ action: "set_auth", app_id: "shop", jwks: { keys: [] } }, 400, "INVALID_AUTH", /no RS256 or ES256/],
    [{ action: "set_auth", app_id: "shop", jwt_secret: SECRET, jwks: {} }, 400, "INVALID_ARGUMENT", /not several/],
    [{ action: "fly" }, 400, "INVALID_ACTION", /create, list, get, delete, rotate_service_key or set_auth/],
    [{}, 400, "INVALID_ARGUMENT", /action/],
  ];
  for (const [body, status, code, msg] of cases) {
    const r = await srv.apps(body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.error.code, code, JSON.stringify(body));
    assert.match(r.body.error.message, msg, JSON.stringify(body));
  }
  const bad = await fetch(`${srv.url}/_api/manage_apps`, { method: "POST", headers: { authorization: `Bearer ${srv.token}` }, body: "[" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, "INVALID_JSON");
  const get = await fetch(`${srv.url}/_api/manage_apps`, { headers: { authorization: `Bearer ${srv.token}` } });
  assert.equal(get.status, 405);
  // the class API answers an unknown app with a pointer to manage_apps
  const d = await srv.manage({ app_id: "ghost", action: "list" });
  assert.equal(d.status, 404);
  assert.match(d.body.error.message, /manage_apps/);
});

test("the admin token guards every management API, compared exactly", async () => {
  for (const [path, init] of [
    ["/_api/manage_apps", { method: "POST", body: '{"action":"list"}' }],
    ["/_api/manage_durable_objects", { method: "POST", body: '{"action":"list"}' }],
    ["/metrics", {}],
    ["/_api/logs?name=x", {}],
  ]) {
    for (const auth of [undefined, "Bearer", "Bearer wrong", `Bearer ${srv.token}x`, `Bearer ${srv.token.slice(0, -1)}`, srv.token]) {
      const r = await fetch(`${srv.url}${path}`, { ...init, headers: auth ? { authorization: auth } : {} });
      assert.equal(r.status, 401, `${path} with ${auth}`);
      const e = await r.json();
      assert.equal(e.error.code, "UNAUTHORIZED");
      assert.match(e.error.message, /admin token/);
    }
  }
  assert.equal((await fetch(`${srv.url}/_api/health`)).status, 200, "health needs no token");
});

test("an app's classes are served at its subdomain, and only there", async () => {
  const d = await srv.deploy("whoami", whoami, "public", "shop");
  assert.equal(d.name, "whoami");
  const r = await call("shop", "/_do/whoami/a");
  assert.equal(r.status, 200, r.body);
  assert.match(r.json.url, /^http:\/\/shop\.localhost:\d+\/_do\/whoami\/a$/);
  const def = await srv.text("/_do/whoami/a");
  assert.equal(def.status, 404, "not in the default app");
  assert.match(def.text, /CLASS_NOT_FOUND/);
  const none = await call("nosuch", "/_do/whoami/a");
  assert.equal(none.status, 404);
  assert.equal(none.json.error.code, "APP_NOT_FOUND");
  const g = await srv.apps({ action: "get", app_id: "shop" });
  assert.equal(g.body.durable_objects, 1);
});

test("service_key mode: the app's own key, compared exactly; rotating it retires the old one", async () => {
  await srv.deploy("whoami", whoami, "service_key", "blog");
  const created = await srv.apps({ action: "rotate_service_key", app_id: "blog" });
  assert.equal(created.status, 200);
  assert.deepEqual(Object.keys(created.body).sort(), ["app_id", "service_key"]);
  const key = created.body.service_key;
  const ok = await call("news", "/_do/whoami/k", { authorization: `Bearer ${key}` });
  assert.equal(ok.status, 200, ok.body);
  for (const wrong of [`Bearer ${key}x`, `Bearer ${key.slice(0, -1)}`, "Bearer sk_", `Basic ${key}`, key]) {
    const r = await call("news", "/_do/whoami/k", { authorization: wrong });
    assert.equal(r.status, 401, wrong);
    assert.equal(r.json.error.code, "UNAUTHORIZED");
  }
  // another app's key is not this app's
  const shopKey = (await srv.apps({ action: "rotate_service_key", app_id: "shop" })).body.service_key;
  assert.equal((await call("news", "/_do/whoami/k", { authorization: `Bearer ${shopKey}` })).status, 401);
  const again = await srv.apps({ action: "rotate_service_key", app_id: "blog" });
  assert.notEqual(again.body.service_key, key);
  assert.equal((await call("news", "/_do/whoami/k", { authorization: `Bearer ${key}` })).status, 401, "the old key is dead");
  assert.equal((await call("news", "/_do/whoami/k", { authorization: `Bearer ${again.body.service_key}` })).status, 200);
});

test("the default app's key is in DATA/default.service_key, and rotating rewrites it", async () => {
  await srv.deploy("whoami", whoami, "service_key");
  const key = (await readFile(join(srv.dir, "default.service_key"), "utf8")).trim();
  assert.equal((await srv.text("/_do/whoami/x", { headers: { authorization: `Bearer ${key}` } })).status, 200);
  const r = await srv.apps({ action: "rotate_service_key", app_id: "default" });
  const fresh = (await readFile(join(srv.dir, "default.service_key"), "utf8")).trim();
  assert.equal(fresh, r.body.service_key);
  assert.equal((await srv.text("/_do/whoami/x", { headers: { authorization: `Bearer ${key}` } })).status, 401);
  assert.equal((await srv.text("/_do/whoami/x", { headers: { authorization: `Bearer ${fresh}` } })).status, 200);
});

test("HS256: signature, exp, nbf, issuer and audience are verified; claims reach the class", async () => {
  await srv.deploy("whoami", whoami, "authenticated", "shop");
  // before set_auth: the product's shape-only check, and no trusted claims
  const unsigned = signJwt({ sub: "anyone" }, { key: "whatever-key" });
  const shape = await call("shop", "/_do/whoami/j", { authorization: `Bearer ${unsigned}`, "x-dorm-auth-subject": "forged" });
  assert.equal(shape.status, 200);
  assert.equal(shape.json.headers["x-dorm-auth-subject"], undefined, "a client's header is removed");
  assert.equal(shape.json.headers["x-dorm-auth-claims"], undefined, "an unverified token gives no claims");

  const s = await srv.apps({ action: "set_auth", app_id: "shop", jwt_secret: SECRET, issuer: "https://id.example", audience: "shop" });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.body.auth.algorithms, ["HS256"]);
  assert.equal(s.body.auth.issuer, "https://id.example");
  assert.ok(!s.text.includes(SECRET), "set_auth never echoes the secret");
  assert.ok(!(await srv.apps({ action: "get", app_id: "shop" })).text.includes(SECRET));

  const good = { sub: "user-42", iss: "https://id.example", aud: "shop", exp: now() + 600, role: "admin" };
  const tok = signJwt(good, { key: SECRET });
  const r = await call("shop", "/_do/whoami/j", {
    authorization: `Bearer ${tok}`, "X-Dorm-Auth-Subject": "forged", "x-dorm-auth-claims": '{"sub":"forged"}', "X-Dorm-Auth-Role": "root",
  });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.headers["x-dorm-auth-subject"], "user-42");
  assert.deepEqual(JSON.parse(r.json.headers["x-dorm-auth-claims"]), good);
  assert.equal(r.json.headers["x-dorm-auth-role"], undefined);
  assert.equal(r.json.headers.authorization, `Bearer ${tok}`, "the class still sees the token itself");

  const refused = [
    [undefined, /Bearer <JWT>/],
    ["Bearer not-a-jwt", /not a JWT/],
    ["Bearer e30.e30.e30", /algorithm/],
    [`Bearer ${unsigned}`, /signature/],
    [`Bearer ${signJwt(good, { key: "a-different-secret-that-is-long-enough" })}`, /signature/],
    [`Bearer ${signJwt({ ...good, exp: now() - 3600 }, { key: SECRET })}`, /expired/],
    [`Bearer ${signJwt({ ...good, nbf: now() + 3600 }, { key: SECRET })}`, /not valid before/],
    [`Bearer ${signJwt({ ...good, aud: "other" }, { key: SECRET })}`, /audience/],
    [`Bearer ${signJwt({ ...good, iss: "https://evil.example" }, { key: SECRET })}`, /issuer/],
    [`Bearer ${signJwt(good, { key: SECRET, header: { alg: "none" } })}`, /"none"/],
    [`Bearer ${tok.slice(0, -2)}`, /signature|not a JWT/],
  ];
  for (const [auth, msg] of refused) {
    const x = await call("shop", "/_do/whoami/j", auth ? { authorization: auth } : {});
    assert.equal(x.status, 401, `${auth}: ${x.body}`);
    assert.equal(x.json.error.code, "UNAUTHORIZED");
    assert.match(x.json.error.message, msg, auth);
    assert.equal(x.headers["www-authenticate"], "Bearer");
  }
  // a token 10 seconds past exp is still inside the leeway
  const late = await call("shop", "/_do/whoami/j", { authorization: `Bearer ${signJwt({ ...good, exp: now() - 10 }, { key: SECRET })}` });
  assert.equal(late.status, 200);
});

test("RS256 with a PEM key and ES256 with a JWKS; a token signed with another key is refused", async () => {
  const rsa = rsaKeys(), other = rsaKeys(), ec = ecKeys(), ec2 = ecKeys();
  const pem = rsa.publicKey.export({ type: "spki", format: "pem" });
  let s = await srv.apps({ action: "set_auth", app_id: "shop", jwt_public_key: pem });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.body.auth.algorithms, ["RS256"]);
  assert.equal(s.body.auth.issuer, null, "set_auth replaces the settings as a whole");
  const claims = { sub: "rsa-user", exp: now() + 60 };
  const ok = await call("shop", "/_do/whoami/r", { authorization: `Bearer ${signJwt(claims, { alg: "RS256", key: rsa.privateKey })}` });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.headers["x-dorm-auth-subject"], "rsa-user");
  const forged = await call("shop", "/_do/whoami/r", { authorization: `Bearer ${signJwt(claims, { alg: "RS256", key: other.privateKey })}` });
  assert.equal(forged.status, 401);
  // alg confusion: an HMAC keyed with the public key's PEM is not accepted
  const confused = await call("shop", "/_do/whoami/r", { authorization: `Bearer ${signJwt(claims, { key: pem })}` });
  assert.equal(confused.status, 401);
  assert.match(confused.json.error.message, /HS256/);

  s = await srv.apps({ action: "set_auth", app_id: "shop", jwks: jwks([["k1", ec], ["k2", rsa]]), audience: "shop" });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.body.auth.algorithms.sort(), ["ES256", "RS256"]);
  assert.equal(s.body.auth.keys, 2);
  const ecTok = signJwt({ sub: "ec-user", aud: ["x", "shop"] }, { alg: "ES256", key: ec.privateKey, kid: "k1" });
  const e = await call("shop", "/_do/whoami/e", { authorization: `Bearer ${ecTok}` });
  assert.equal(e.status, 200, e.body);
  assert.equal(e.json.headers["x-dorm-auth-subject"], "ec-user");
  const rsTok = signJwt({ sub: "r", aud: "shop" }, { alg: "RS256", key: rsa.privateKey, kid: "k2" });
  assert.equal((await call("shop", "/_do/whoami/e", { authorization: `Bearer ${rsTok}` })).status, 200);
  const wrongKid = signJwt({ sub: "r", aud: "shop" }, { alg: "ES256", key: ec.privateKey, kid: "k9" });
  const wk = await call("shop", "/_do/whoami/e", { authorization: `Bearer ${wrongKid}` });
  assert.equal(wk.status, 401);
  assert.match(wk.json.error.message, /kid/);
  const otherEc = signJwt({ sub: "r", aud: "shop" }, { alg: "ES256", key: ec2.privateKey, kid: "k1" });
  assert.equal((await call("shop", "/_do/whoami/e", { authorization: `Bearer ${otherEc}` })).status, 401);

  // the shards verify with the same keys at the same time
  const many = await Promise.all(Array.from({ length: 120 }, (_, i) => call("shop", `/_do/whoami/c${i}`, {
    authorization: `Bearer ${i % 2 ? ecTok : rsTok}`,
  })));
  assert.deepEqual([...new Set(many.map((m) => m.status))], [200]);

  // clear: back to the shape check
  const c = await srv.apps({ action: "set_auth", app_id: "shop", clear: true });
  assert.equal(c.status, 200);
  assert.equal(c.body.auth, null);
  assert.equal((await call("shop", "/_do/whoami/e", { authorization: `Bearer ${otherEc}` })).status, 200);
});

test("JWT settings survive a restart", async () => {
  await srv.apps({ action: "set_auth", app_id: "shop", jwt_secret: SECRET });
  await srv.restart();
  const tok = signJwt({ sub: "after-restart" }, { key: SECRET });
  const r = await call("shop", "/_do/whoami/p", { authorization: `Bearer ${tok}` });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.headers["x-dorm-auth-subject"], "after-restart");
  const bad = signJwt({ sub: "x" }, { key: "a-different-secret-that-is-long-enough" });
  assert.equal((await call("shop", "/_do/whoami/p", { authorization: `Bearer ${bad}` })).status, 401);
});

test("delete purges the app: classes, storage, key; the default app is untouched", async () => {
  const dir = join(srv.dir, "apps", "shop");
  await waitFor(() => access(dir).then(() => true, () => false), { what: "the app's storage" });
  const d = await srv.apps({ action: "delete", app_id: "shop" });
  assert.equal(d.status, 200, d.text);
  assert.deepEqual(d.body, { deleted: true });
  await assert.rejects(access(dir), "the app's files are gone");
  assert.equal((await srv.apps({ action: "get", app_id: "shop" })).status, 404);
  const r = await call("shop", "/_do/whoami/a");
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, "APP_NOT_FOUND");
  assert.equal((await srv.manage({ app_id: "shop", action: "list" })).status, 404);
  // it can be made again, empty
  const c = await srv.apps({ action: "create", app_id: "shop" });
  assert.equal(c.status, 200);
  assert.equal(c.body.durable_objects, 0);
  assert.equal((await srv.manage({ app_id: "shop", action: "list" })).body.durable_objects.length, 0);
  assert.equal((await srv.apps({ action: "get", app_id: "default" })).status, 200);
});
