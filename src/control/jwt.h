/* JSON Web Token verification for the `authenticated` access mode
 * (DESIGN.md 1.7): compact JWS tokens signed with HS256 (a shared secret),
 * RS256 or ES256 (public keys given as PEM or as a JWKS document), with
 * exp/nbf checked against a small leeway and iss/aud when the app asks.
 *
 * A keyset is built once per catalog snapshot on the control thread and is
 * then read-only: shards verify tokens against it concurrently. Parsing and
 * verifying are pure functions over bytes (fuzzed by tests/fuzz/fuzz_jwt.c).
 * Depends on lib/, OpenSSL 3 libcrypto and jansson. */
#ifndef DORM_CONTROL_JWT_H
#define DORM_CONTROL_JWT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Seconds a token's exp and nbf may be off, for clocks that disagree a little. */
#define JWT_LEEWAY_SECONDS 30
/* Longest token looked at; anything longer is refused unread. */
#define JWT_MAX_TOKEN_BYTES 16384
/* The shortest HS256 secret accepted: 256 bits (RFC 7518 3.2). */
#define JWT_MIN_SECRET_BYTES 32
/* The smallest RSA key accepted (RFC 7518 3.3). */
#define JWT_MIN_RSA_BITS 2048

typedef struct jwt_keyset jwt_keyset_t;

/* An empty keyset (verifies nothing until keys are added). */
jwt_keyset_t *jwt_keyset_new(void);
void jwt_keyset_free(jwt_keyset_t *ks);
/* Adds an HS256 secret (its bytes as given). 0, or -1 with msg. */
int jwt_keyset_add_secret(jwt_keyset_t *ks, const void *secret, size_t len, char *msg,
                          size_t msglen);
/* Adds every public key of a PEM text ("PUBLIC KEY", "RSA PUBLIC KEY" or
 * "CERTIFICATE" blocks): RSA keys verify RS256, P-256 keys ES256. 0, or -1
 * with msg naming what was wrong (a private key, another curve, a short RSA
 * key, no PEM at all). */
int jwt_keyset_add_pem(jwt_keyset_t *ks, const char *pem, size_t len, char *msg, size_t msglen);
/* Adds the keys of a JWKS document ({"keys":[...]}, or one JWK object):
 * "RSA" keys and "EC" keys on P-256 with "use" absent or "sig"; other key
 * types are skipped. 0, or -1 with msg (not JSON, a malformed key, no usable
 * key). */
int jwt_keyset_add_jwks(jwt_keyset_t *ks, const char *doc, size_t len, char *msg, size_t msglen);
/* The claims to require: NULL for none. Copied. */
void jwt_keyset_require(jwt_keyset_t *ks, const char *issuer, const char *audience);
/* How many keys it holds. */
size_t jwt_keyset_count(const jwt_keyset_t *ks);

/* Builds a keyset from an app's stored settings, the JSON object that
 * set_auth writes: {"secret": s} | {"pem": p} | {"jwks": doc}, each with
 * optional "issuer" and "audience". NULL with msg when they are unusable. */
jwt_keyset_t *jwt_keyset_from_settings(const char *json, size_t len, char *msg, size_t msglen);
/* What the settings say without their secrets, for manage_apps get:
 * {"algorithms":[...], "keys":n, "source":"secret"|"pem"|"jwks",
 *  "issuer":..., "audience":...}. A new reference. */
json_t *jwt_settings_describe(const char *json, size_t len);

typedef enum jwt_result {
    JWT_OK = 0,
    JWT_MALFORMED,       /* not a compact JWS with JSON header and claims */
    JWT_BAD_ALGORITHM,   /* alg none, unknown, or not one the keys can verify */
    JWT_NO_KEY,          /* no key of the right type (and kid) */
    JWT_BAD_SIGNATURE,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,
    JWT_WRONG_ISSUER,
    JWT_WRONG_AUDIENCE,
} jwt_result_t;

/* Verifies token (len bytes, without "Bearer ") against ks at time now
 * (seconds since the epoch). On JWT_OK, *claims (when not NULL) receives
 * the payload object (a new reference). Otherwise msg says what was wrong,
 * in a sentence for the client. */
jwt_result_t jwt_verify(const jwt_keyset_t *ks, const char *token, size_t len, int64_t now,
                        json_t **claims, char *msg, size_t msglen);

/* base64url without padding (RFC 4648 5), strict: returns a malloc'd buffer
 * of *outlen bytes (NUL-terminated for convenience), or NULL on any other
 * character or an impossible length. */
uint8_t *jwt_b64url_decode(const char *s, size_t n, size_t *outlen);

#endif
