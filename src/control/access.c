/* Access checks and trusted headers (see access.h): pure functions over the
 * request's header values and the app's settings from the catalog snapshot. */
#include "access.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "../lib/util.h"

const char *access_bearer(const char *auth, size_t *len)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    const char *t = auth + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return t;
}

bool access_token_matches(const char *authorization, const uint8_t hash[32])
{
    size_t n = 0;
    const char *tok = access_bearer(authorization, &n);
    if (!tok)
        return false;
    uint8_t h[32];
    util_sha256(tok, n, h);
    return CRYPTO_memcmp(h, hash, 32) == 0;
}

void access_hash_hex(const char *s, size_t len, char out[65])
{
    uint8_t h[32];
    util_sha256(s, len, h);
    util_hex(h, 32, out);
}

static bool json_object_part(const char *s, size_t n)
{
    size_t len;
    uint8_t *raw = n ? jwt_b64url_decode(s, n, &len) : NULL;
    if (!raw)
        return false;
    json_error_t e;
    json_t *j = json_loadb((const char *)raw, len, 0, &e);
    free(raw);
    bool ok = j && json_is_object(j);
    json_decref(j);
    return ok;
}

bool access_jwt_shape(const char *t, size_t n)
{
    const char *d1 = memchr(t, '.', n);
    if (!d1)
        return false;
    const char *d2 = memchr(d1 + 1, '.', (size_t)(t + n - d1 - 1));
    if (!d2 || memchr(d2 + 1, '.', (size_t)(t + n - d2 - 1)))
        return false;
    if (d2 + 1 == t + n)
        return false; /* the signature part may not be empty */
    for (const char *p = d2 + 1; p < t + n; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '='))
            return false;
    return json_object_part(t, (size_t)(d1 - t)) &&
           json_object_part(d1 + 1, (size_t)(d2 - d1 - 1));
}

static bool hex_to_hash(const char *hex, uint8_t out[32])
{
    if (!hex || strlen(hex) != 64)
        return false;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

bool access_check(enum actor_access mode, const char *authorization,
                  const char *service_key_hash, const jwt_keyset_t *keys, int64_t now,
                  json_t **claims, char *msg, size_t msglen)
{
    if (claims)
        *claims = NULL;
    if (mode == ACCESS_PUBLIC)
        return true;
    size_t n = 0;
    const char *tok = access_bearer(authorization, &n);
    if (mode == ACCESS_SERVICE_KEY) {
        if (!tok) {
            snprintf(msg, msglen, "this Durable Object requires the app's service key: send "
                                  "\"Authorization: Bearer <service key>\"");
            return false;
        }
        uint8_t want[32];
        if (!hex_to_hash(service_key_hash, want) || !access_token_matches(authorization, want)) {
            snprintf(msg, msglen, "the bearer token is not this app's service key");
            return false;
        }
        return true;
    }
    if (!tok) {
        snprintf(msg, msglen, "this Durable Object requires a signed-in user: send "
                              "\"Authorization: Bearer <JWT>\"");
        return false;
    }
    if (!keys) {
        /* No JWT settings: the product's shape-only check. */
        if (!access_jwt_shape(tok, n)) {
            snprintf(msg, msglen, "the bearer token is not a JWT (three base64url parts "
                                  "separated by dots, the first two JSON objects)");
            return false;
        }
        return true;
    }
    return jwt_verify(keys, tok, n, now, claims, msg, msglen) == JWT_OK;
}

/* A header value must be visible ASCII: anything else is left out. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

void access_set_headers(http_header_t **headers, size_t *n, json_t *claims)
{
    size_t plen = strlen(ACCESS_HEADER_PREFIX), o = 0;
    for (size_t i = 0; i < *n; i++) {
        http_header_t *h = &(*headers)[i];
        if (h->name_len >= plen && strncasecmp(h->name, ACCESS_HEADER_PREFIX, plen) == 0) {
            free(h->name); /* name and value are one allocation */
            continue;
        }
        (*headers)[o++] = *h;
    }
    *n = o;
    if (!claims)
        return;
    json_t *sub = json_object_get(claims, "sub");
    if (json_is_string(sub) && printable(json_string_value(sub)))
        http_headers_add(headers, n, ACCESS_HEADER_SUBJECT, json_string_value(sub));
    char *all = json_dumps(claims, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (all) {
        http_headers_add(headers, n, ACCESS_HEADER_CLAIMS, all);
        free(all);
    }
}
