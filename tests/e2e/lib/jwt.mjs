// Signs JWTs the way an identity provider would, with node's own crypto, so
// the server's verification is checked against another implementation.
import { createHmac, generateKeyPairSync, sign } from "node:crypto";

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

// alg HS256 with key = the secret string; RS256/ES256 with key = a KeyObject.
export function signJwt(claims, { alg = "HS256", key, kid, header = {} } = {}) {
  const input = `${b64({ alg, typ: "JWT", ...(kid ? { kid } : {}), ...header })}.${b64(claims)}`;
  let sig;
  if (alg === "HS256") sig = createHmac("sha256", key).update(input).digest();
  else if (alg === "RS256") sig = sign("sha256", Buffer.from(input), key);
  else if (alg === "ES256") sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  else throw new Error(`no signer for ${alg}`);
  return `${input}.${sig.toString("base64url")}`;
}

export const now = () => Math.floor(Date.now() / 1000);

export function rsaKeys() {
  return generateKeyPairSync("rsa", { modulusLength: 2048 });
}

export function ecKeys() {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

// A JWKS document holding the public halves, with kids.
export function jwks(entries) {
  return { keys: entries.map(([kid, pair]) => ({ ...pair.publicKey.export({ format: "jwk" }), kid, use: "sig" })) };
}
