// Writes the seed corpus of fuzz_jwt (tests/fuzz/corpus/jwt): node tests/fuzz/gen_jwt_corpus.mjs
// The keys below are test keys made for this corpus and nothing else; the
// public halves are built into tests/fuzz/fuzz_jwt.c. The first byte of each
// input picks what the target does with the rest (see fuzz_jwt.c).
import { createHmac, createPrivateKey, sign } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";

const KEYS = {"rsa_priv":{"kty":"RSA","n":"oIWKPpvK8yaGFySZ7H_78Mm7dQ1PxSGMh_TKZxFpNTFNmph9u-iVvhRjZ2EXjk72NC5W9RIN4SfnRmEVQputVBs0_Ns2vuN3r2qEANHi-kSB8m9w9Sy-rDETGCytWtQOP0H9dcGpZA601xIlt4wl62pKJHVKZ1uOgqGfoTDKL0sWuuVr48pqLVHOMlw8Yczq_ZDp-vz5UODXLxet9dkA_a-G-oXLbY2NZK4YSU6Oj9vhwj_oGWe9C7lYpyPNFygRvRYw-r5YVqPIKXv4e59H4lB7YiDJfaE3NnQT91cBuAnbLSyoeUaykYOURvEdFbZ5KnN3G8W8fnAi9FS8KTscyQ","e":"AQAB","d":"zJTTbOIElymbplD0qMqgqdA3JLIX_D_YGZpp5r8LyJ6GRcAMcL2LtMDSVjTZg_cJDMFEYt_sgBu2qld-zBFptdK8hhmMqLzRs3LAws5lbvDSgUogZ0MuUiJWwkHW2sOcIvvA1iQy_V3eK7mobkIzuhsCpV6rVDsz3oPrbqytwJau6viuNphMnC1HRO91ggN8NBu92Z6A6V61DaFcf29k2n602OSJgaBQNeYe0lWD25HHf3ARj4T02lUOb4b_QDn5lPhKNiOCkz3hAjBJvtU3fb2tn62Z6-Nl0CNaC1f9FICBKloDJz-is5q_DEgoX7Bl5vfWkF32SY_uCwJU_Sfj","p":"1zvk0xnP6RrUyQY0valEm1vXunOoMS_zLxZ7cluK8ceCg9TPQEtIZoeGTvmdChOvavxa0xSyr_6X-9RoCQVY2lXpFSB9ZYnoZhiZdfGb71YDUVjZFhUAUvNhGlAJ-JosgzwG0BX2KElqJJU7KpCBVcaUsF4FUVSZsjZ_vKZQkN8","q":"vuzLn_anb7pnuJz2BOb4UNnrLPA4oLSJY7QjTMCyu6WidPlkzE2ZTdHQSbFv581nzvfIkhPK6tdTRL_NnlALkTl8ua1fjeLoSc3Y8K9EJtnx7OWi6-99rkGq1qxTejIdg-rqnMwunpvdnElvSDDswDh8FX4AqKhYOdYUdcctP1c","dp":"FJd4VvH7QDP-85SSayrMk4h_5Si3iK0ruO-Ps-sqKeOKiw5LHb2WGakRonCjI5mqiLPIBLXQOqJC7CbwJRzL2Wequwi2toYxI8Nquyv4XTd_bcLwUfqEY2tBeQD7Uzt80rlldXcEa-pKK2HTnUjh9tDe3NjB7XwIkFJCekv3HUU","dq":"X3YGWfT5wuNw-N2CJPFXNxW-gLmblr6t8yweekHfG_O1Rsdrnrst67r8adxOF5icTt-VaXR8AO-osrc0F_Pt1K7pre0B2e-aNUy3K6B2cvaF_-zRiSY1sOskgDGpi2-DUnIi3EM7DBLiu0H8YhwURAf6AsT9j1acxk5D7J-qAAE","qi":"ImM_8rsHIwheJVZKX37KhFZKNp5KozdI6x83C5nmo2mOuLZAcMJBW839TCA7QL6cbrVIGNSkuN8-_hrFi39JiFMB7m4M9HaG1_L4KRowngplZNhCR7APLAMKA6yJYpnYtEWyDbwz39bHc9loyI8unjEVizOhCeT0bYjFAMVkgg"},"ec_priv":{"kty":"EC","x":"oD8_te2EkJYK75ApBko1oAjHMw6ezcL4TdToOtWoe_A","y":"VEP38SuuSiFoNMymxC85uL6ElrPR9DW0eCUIwTcGiyM","crv":"P-256","d":"KkbaW6T2U4WMZTavH4kiH1CByrtEnY7Sbb-KDo2e7v8"}};
const SECRET = "fuzz-secret-0123456789abcdef0123456789";
const dir = new URL("./corpus/jwt/", import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const b64 = (s) => Buffer.from(s).toString("base64url");
const rsa = createPrivateKey({ key: KEYS.rsa_priv, format: "jwk" });
const ec = createPrivateKey({ key: KEYS.ec_priv, format: "jwk" });

function token(header, claims, alg) {
  const input = b64(JSON.stringify(header)) + "." + b64(JSON.stringify(claims));
  let sig;
  if (alg === "HS256") sig = createHmac("sha256", SECRET).update(input).digest();
  else if (alg === "RS256") sig = sign("sha256", Buffer.from(input), rsa);
  else sig = sign("sha256", Buffer.from(input), { key: ec, dsaEncoding: "ieee-p1363" });
  return input + "." + sig.toString("base64url");
}
const pub = (k) => { const { d, p, q, dp, dq, qi, ...rest } = k; return rest; };
const jwks = { keys: [{ ...pub(KEYS.rsa_priv), kid: "r1", alg: "RS256", use: "sig" }, { ...pub(KEYS.ec_priv), kid: "e1" }] };
const inputs = {
  "jwks-good": "J" + JSON.stringify(jwks),
  "jwks-one-key": "J" + JSON.stringify(pub(KEYS.ec_priv)),
  "jwks-skips": "J" + JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "AA" }, { kty: "oct", k: "AA" }] }),
  "jwks-bad-point": "J" + JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", x: "A".repeat(43), y: "A".repeat(42) + "E" }] }),
  "jwks-garbage": "J{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":7}]}",
  "pem-none": "Pnot a pem",
  "pem-foo": "P-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
  "tok-hs256": "T" + token({ alg: "HS256", typ: "JWT" }, { sub: "u1", exp: 4102444800 }, "HS256"),
  "tok-hs256-expired": "T" + token({ alg: "HS256" }, { sub: "u1", exp: 1 }, "HS256"),
  "tok-rs256": "T" + token({ alg: "RS256", kid: "r1" }, { sub: "u2", aud: ["a", "b"] }, "RS256"),
  "tok-es256": "T" + token({ alg: "ES256", kid: "e1" }, { sub: "u3", nbf: 1 }, "ES256"),
  "tok-none": "T" + b64('{"alg":"none"}') + "." + b64('{"sub":"x"}') + ".",
  "tok-crit": "T" + token({ alg: "HS256", crit: ["x"] }, {}, "HS256"),
  "tok-kid-miss": "T" + token({ alg: "RS256", kid: "zz" }, {}, "RS256"),
  "tok-shape": "Te30.e30.c2ln",
  "claims-object": 'S{"sub":"me","exp":4102444800,"aud":"x","nested":{"a":[1,2,{"b":null}]}}',
  "claims-array": "S[1,2,3]",
  "claims-bad-exp": 'S{"exp":"soon","nbf":1e400}',
  "settings-secret": "C" + JSON.stringify({ secret: SECRET, issuer: "i", audience: "a" }),
  "settings-jwks": "C" + JSON.stringify({ jwks: JSON.stringify(jwks) }),
  "settings-empty": "C{}",
};
for (const [name, data] of Object.entries(inputs)) writeFileSync(dir + name, data);
