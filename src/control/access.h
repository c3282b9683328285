/* Access checks (DESIGN.md 1.7), run by the front door before any object
 * runs: the admin token of the management API, the app's service key, and
 * JWTs (verified with the app's keys when it has some, shape-checked when it
 * has none); and the trusted headers that carry a verified token's claims to
 * the class. Secrets are compared through their SHA-256, in constant time,
 * so neither content nor length leaks. Depends on lib/, net/http.h, jwt.h. */
#ifndef DORM_CONTROL_ACCESS_H
#define DORM_CONTROL_ACCESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../actor/actor.h"
#include "../net/http.h"
#include "jwt.h"

/* Headers a class can trust: set only from a verified token, and removed
 * from every request first (any header whose name starts with the prefix). */
#define ACCESS_HEADER_PREFIX "X-Dorm-Auth-"
#define ACCESS_HEADER_SUBJECT "X-Dorm-Auth-Subject" /* the sub claim */
#define ACCESS_HEADER_CLAIMS "X-Dorm-Auth-Claims"   /* every claim, as JSON (ASCII) */

/* The token of "Bearer <token>" (scheme case-insensitive, spaces trimmed),
 * or NULL; *len receives its length. */
const char *access_bearer(const char *authorization, size_t *len);

/* True when the bearer token's SHA-256 equals hash (32 bytes). */
bool access_token_matches(const char *authorization, const uint8_t hash[32]);
/* hash = SHA-256(s) as 64 hex chars, for what control.db keeps. */
void access_hash_hex(const char *s, size_t len, char out[65]);

/* The JWT shape: three base64url parts, the first two JSON objects. */
bool access_jwt_shape(const char *token, size_t len);

/* Returns true when the Authorization header value allows the request, else
 * fills msg (for a 401). service_key_hash is the app's (hex); keys the app's
 * JWT keys or NULL (then an authenticated request needs only a JWT's shape).
 * When a token was verified, *claims receives its payload (a new reference)
 * for access_set_headers; it stays NULL otherwise. now: seconds. */
bool access_check(enum actor_access mode, const char *authorization,
                  const char *service_key_hash, const jwt_keyset_t *keys, int64_t now,
                  json_t **claims, char *msg, size_t msglen);

/* Removes every X-Dorm-Auth-* header, then adds the subject and claims of a
 * verified token (claims may be NULL: only the removal happens). */
void access_set_headers(http_header_t **headers, size_t *n, json_t *claims);

#endif
