/* JWT verification (see jwt.h): strict compact-JWS parsing, HS256 with a
 * constant-time compare, RS256 and ES256 through OpenSSL 3's EVP interface,
 * keys from PEM or JWKS, and the exp/nbf/iss/aud checks of RFC 7519. Pure
 * functions over bytes and an immutable keyset; nothing here knows of HTTP,
 * apps or shards. */
#include "jwt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../lib/mem.h"

#define MAX_KEYS 64

enum key_kind { KEY_HS256, KEY_RS256, KEY_ES256 };

typedef struct jwt_key {
    enum key_kind kind;
    char *kid;           /* NULL when the key has none */
    uint8_t *secret;     /* HS256 */
    size_t secret_len;
    EVP_PKEY *pkey;      /* RS256, ES256 */
} jwt_key_t;

struct jwt_keyset {
    jwt_key_t keys[MAX_KEYS];
    size_t n;
    char *issuer;
    char *audience;
};

static const char *const kind_alg[] = {"HS256", "RS256", "ES256"};

static void say(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* ---- base64url ---------------------------------------------------------------------- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

uint8_t *jwt_b64url_decode(const char *s, size_t n, size_t *outlen)
{
    if (n % 4 == 1)
        return NULL; /* no whole byte ends there */
    uint8_t *o = xmalloc(n * 3 / 4 + 2);
    size_t len = 0;
    uint32_t v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64val((unsigned char)s[i]);
        if (d < 0) {
            free(o);
            return NULL;
        }
        v = (v << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[len++] = (uint8_t)(v >> bits);
        }
    }
    /* Leftover bits must be zero, so one string has one meaning. */
    if (bits > 0 && (v & ((1u << bits) - 1)) != 0) {
        free(o);
        return NULL;
    }
    o[len] = 0;
    *outlen = len;
    return o;
}

/* ---- keysets ------------------------------------------------------------------------ */

jwt_keyset_t *jwt_keyset_new(void)
{
    return xcalloc(1, sizeof(jwt_keyset_t));
}

void jwt_keyset_free(jwt_keyset_t *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->keys[i].kid);
        if (ks->keys[i].secret) {
            OPENSSL_cleanse(ks->keys[i].secret, ks->keys[i].secret_len);
            free(ks->keys[i].secret);
        }
        EVP_PKEY_free(ks->keys[i].pkey);
    }
    free(ks->issuer);
    free(ks->audience);
    free(ks);
}

size_t jwt_keyset_count(const jwt_keyset_t *ks)
{
    return ks ? ks->n : 0;
}

void jwt_keyset_require(jwt_keyset_t *ks, const char *issuer, const char *audience)
{
    free(ks->issuer);
    free(ks->audience);
    ks->issuer = issuer ? xstrdup(issuer) : NULL;
    ks->audience = audience ? xstrdup(audience) : NULL;
}

static jwt_key_t *add_key(jwt_keyset_t *ks, char *msg, size_t msglen)
{
    if (ks->n >= MAX_KEYS) {
        say(msg, msglen, "too many keys: at most %d verification keys per app", MAX_KEYS);
        return NULL;
    }
    jwt_key_t *k = &ks->keys[ks->n];
    memset(k, 0, sizeof *k);
    return k;
}

int jwt_keyset_add_secret(jwt_keyset_t *ks, const void *secret, size_t len, char *msg,
                          size_t msglen)
{
    if (len < JWT_MIN_SECRET_BYTES) {
        say(msg, msglen,
            "the HS256 secret is %zu bytes; it must be at least %d bytes (256 bits, RFC 7518)",
            len, JWT_MIN_SECRET_BYTES);
        return -1;
    }
    jwt_key_t *k = add_key(ks, msg, msglen);
    if (!k)
        return -1;
    k->kind = KEY_HS256;
    k->secret = xmemdup(secret, len);
    k->secret_len = len;
    ks->n++;
    return 0;
}

/* Takes pkey: checks it is an RSA key of 2048 bits or more, or an EC key on
 * P-256, and adds it. */
static int add_pkey(jwt_keyset_t *ks, EVP_PKEY *pkey, const char *kid, const char *where,
                    char *msg, size_t msglen)
{
    enum key_kind kind;
    int type = EVP_PKEY_get_base_id(pkey);
    if (type == EVP_PKEY_RSA) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < JWT_MIN_RSA_BITS) {
            say(msg, msglen, "%s is an RSA key of %d bits; RS256 needs at least %d", where, bits,
                JWT_MIN_RSA_BITS);
            EVP_PKEY_free(pkey);
            return -1;
        }
        kind = KEY_RS256;
    } else if (type == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof group, &glen) ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
            say(msg, msglen, "%s is an EC key on curve %s; ES256 needs P-256 (prime256v1)", where,
                group[0] ? group : "(unknown)");
            EVP_PKEY_free(pkey);
            return -1;
        }
        kind = KEY_ES256;
    } else {
        say(msg, msglen, "%s is neither an RSA nor an EC public key: use RS256 or ES256 keys",
            where);
        EVP_PKEY_free(pkey);
        return -1;
    }
    jwt_key_t *k = add_key(ks, msg, msglen);
    if (!k) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    k->kind = kind;
    k->pkey = pkey;
    k->kid = kid ? xstrdup(kid) : NULL;
    ks->n++;
    return 0;
}

int jwt_keyset_add_pem(jwt_keyset_t *ks, const char *pem, size_t len, char *msg, size_t msglen)
{
    if (len > INT32_MAX) {
        say(msg, msglen, "the PEM text is too large");
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        abort();
    int added = 0, rc = 0;
    for (int block = 1;; block++) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;
        if (!PEM_read_bio(bio, &name, &header, &data, &dlen))
            break;
        char where[64];
        snprintf(where, sizeof where, "PEM block %d", block);
        const unsigned char *p = data;
        EVP_PKEY *pkey = NULL;
        if (strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, dlen);
        } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, dlen);
        } else if (strcmp(name, "CERTIFICATE") == 0) {
            X509 *x = d2i_X509(NULL, &p, dlen);
            if (x) {
                pkey = X509_get_pubkey(x);
                X509_free(x);
            }
        } else if (strstr(name, "PRIVATE KEY")) {
            say(msg, msglen,
                "%s is a private key (%s): give the public key instead, e.g. the output of "
                "`openssl pkey -in key.pem -pubout`",
                where, name);
            rc = -1;
        } else {
            say(msg, msglen,
                "%s is a \"%s\"; expected a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block",
                where, name);
            rc = -1;
        }
        if (rc == 0 && !pkey) {
            say(msg, msglen, "%s (%s) could not be decoded", where, name);
            rc = -1;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc == 0 && add_pkey(ks, pkey, NULL, where, msg, msglen) < 0)
            rc = -1;
        if (rc < 0)
            break;
        added++;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (rc == 0 && added == 0) {
        say(msg, msglen,
            "no PEM public key found: expected text starting with -----BEGIN PUBLIC KEY-----");
        rc = -1;
    }
    return rc;
}

/* A base64url member of a JWK as bytes; NULL with msg when absent or bad. */
static uint8_t *jwk_bytes(json_t *jwk, const char *member, size_t *len, const char *where,
                          char *msg, size_t msglen)
{
    json_t *v = json_object_get(jwk, member);
    if (!json_is_string(v)) {
        say(msg, msglen, "%s has no \"%s\" (a base64url string)", where, member);
        return NULL;
    }
    uint8_t *b = jwt_b64url_decode(json_string_value(v), json_string_length(v), len);
    if (!b || *len == 0) {
        free(b);
        say(msg, msglen, "%s: \"%s\" is not base64url", where, member);
        return NULL;
    }
    return b;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (pkey) {
        /* fromdata trusts what it is given: check the key really is one. */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = check && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!ok) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk, const char *where, char *msg, size_t msglen)
{
    size_t nlen = 0, elen = 0;
    uint8_t *n = jwk_bytes(jwk, "n", &nlen, where, msg, msglen);
    uint8_t *e = n ? jwk_bytes(jwk, "e", &elen, where, msg, msglen) : NULL;
    EVP_PKEY *pkey = NULL;
    if (n && e && nlen <= 2048 && elen <= 16) {
        BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
            pkey = pkey_from_params("RSA", bld);
        OSSL_PARAM_BLD_free(bld);
        BN_free(bn);
        BN_free(be);
        if (!pkey)
            say(msg, msglen, "%s is not a valid RSA public key", where);
    } else if (n && e) {
        say(msg, msglen, "%s: the RSA modulus or exponent is too large", where);
    }
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk, const char *where, char *msg, size_t msglen)
{
    json_t *crv = json_object_get(jwk, "crv");
    if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0) {
        say(msg, msglen, "%s is an EC key on curve %s; ES256 needs \"crv\":\"P-256\"", where,
            json_is_string(crv) ? json_string_value(crv) : "(none)");
        return NULL;
    }
    size_t xlen = 0, ylen = 0;
    uint8_t *x = jwk_bytes(jwk, "x", &xlen, where, msg, msglen);
    uint8_t *y = x ? jwk_bytes(jwk, "y", &ylen, where, msg, msglen) : NULL;
    EVP_PKEY *pkey = NULL;
    if (x && y && xlen == 32 && ylen == 32) {
        uint8_t point[65];
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (bld &&
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point))
            pkey = pkey_from_params("EC", bld);
        OSSL_PARAM_BLD_free(bld);
        if (!pkey)
            say(msg, msglen, "%s is not a point on P-256", where);
    } else if (x && y) {
        say(msg, msglen, "%s: P-256 coordinates are 32 bytes each", where);
    }
    free(x);
    free(y);
    return pkey;
}

/* Adds one JWK: 1 added, 0 skipped (not a signature key we verify), -1 bad. */
static int add_jwk(jwt_keyset_t *ks, json_t *jwk, int index, char *msg, size_t msglen)
{
    char where[48];
    snprintf(where, sizeof where, "key %d of the JWKS", index);
    if (!json_is_object(jwk)) {
        say(msg, msglen, "%s is not a JSON object", where);
        return -1;
    }
    json_t *kty = json_object_get(jwk, "kty"), *use = json_object_get(jwk, "use");
    json_t *alg = json_object_get(jwk, "alg"), *kid = json_object_get(jwk, "kid");
    if (!json_is_string(kty)) {
        say(msg, msglen, "%s has no \"kty\"", where);
        return -1;
    }
    if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        return 0; /* an encryption key */
    if (kid && !json_is_string(kid)) {
        say(msg, msglen, "%s: \"kid\" must be a string", where);
        return -1;
    }
    const char *t = json_string_value(kty);
    const char *a = json_is_string(alg) ? json_string_value(alg) : NULL;
    EVP_PKEY *pkey;
    if (strcmp(t, "RSA") == 0) {
        if (a && strcmp(a, "RS256") != 0)
            return 0; /* for another algorithm */
        pkey = jwk_rsa(jwk, where, msg, msglen);
    } else if (strcmp(t, "EC") == 0) {
        if (a && strcmp(a, "ES256") != 0)
            return 0;
        pkey = jwk_ec(jwk, where, msg, msglen);
    } else if (strcmp(t, "oct") == 0) {
        say(msg, msglen, "%s is a symmetric (\"oct\") key: give an HS256 secret as jwt_secret "
                         "instead of in a JWKS", where);
        return -1;
    } else {
        return 0; /* OKP and others: not verified here */
    }
    if (!pkey)
        return -1;
    return add_pkey(ks, pkey, kid ? json_string_value(kid) : NULL, where, msg, msglen) < 0 ? -1
                                                                                           : 1;
}

int jwt_keyset_add_jwks(jwt_keyset_t *ks, const char *doc, size_t len, char *msg, size_t msglen)
{
    json_error_t je;
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        say(msg, msglen, "the JWKS is not JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    int rc = 0, added = 0;
    json_t *keys = json_object_get(root, "keys");
    if (json_is_array(keys)) {
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
        {
            int r = add_jwk(ks, k, (int)i + 1, msg, msglen);
            if (r < 0) {
                rc = -1;
                break;
            }
            added += r;
        }
    } else if (json_is_object(root) && json_object_get(root, "kty")) {
        rc = add_jwk(ks, root, 1, msg, msglen);
        added = rc > 0;
        rc = rc < 0 ? -1 : 0;
    } else {
        say(msg, msglen, "the JWKS must be an object with a \"keys\" array, like "
                         "{\"keys\":[{\"kty\":\"RSA\",\"n\":...,\"e\":...}]}");
        rc = -1;
    }
    json_decref(root);
    ERR_clear_error();
    if (rc == 0 && added == 0) {
        say(msg, msglen, "the JWKS holds no RS256 or ES256 signature key");
        rc = -1;
    }
    return rc;
}

/* ---- stored settings ------------------------------------------------------------------ */

static const char *opt_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

jwt_keyset_t *jwt_keyset_from_settings(const char *json, size_t len, char *msg, size_t msglen)
{
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        say(msg, msglen, "the JWT settings are not a JSON object");
        return NULL;
    }
    jwt_keyset_t *ks = jwt_keyset_new();
    json_t *secret = json_object_get(o, "secret"), *pem = json_object_get(o, "pem");
    json_t *jwks = json_object_get(o, "jwks");
    int rc;
    if (json_is_string(secret))
        rc = jwt_keyset_add_secret(ks, json_string_value(secret), json_string_length(secret), msg,
                                   msglen);
    else if (json_is_string(pem))
        rc = jwt_keyset_add_pem(ks, json_string_value(pem), json_string_length(pem), msg,
                                msglen);
    else if (json_is_string(jwks))
        rc = jwt_keyset_add_jwks(ks, json_string_value(jwks), json_string_length(jwks), msg,
                                 msglen);
    else {
        say(msg, msglen, "the JWT settings name no key (secret, pem or jwks)");
        rc = -1;
    }
    if (rc == 0)
        jwt_keyset_require(ks, opt_str(o, "issuer"), opt_str(o, "audience"));
    json_decref(o);
    if (rc < 0) {
        jwt_keyset_free(ks);
        return NULL;
    }
    return ks;
}

json_t *jwt_settings_describe(const char *json, size_t len)
{
    char msg[200];
    json_t *o = json_loadb(json, len, 0, NULL);
    jwt_keyset_t *ks = jwt_keyset_from_settings(json, len, msg, sizeof msg);
    json_t *d = json_object();
    const char *source = json_object_get(o, "secret") ? "secret"
                         : json_object_get(o, "pem") ? "pem"
                                                     : "jwks";
    json_object_set_new(d, "source", json_string(source));
    json_t *algs = json_array();
    bool seen[3] = {false, false, false};
    for (size_t i = 0; ks && i < ks->n; i++)
        if (!seen[ks->keys[i].kind]) {
            seen[ks->keys[i].kind] = true;
            json_array_append_new(algs, json_string(kind_alg[ks->keys[i].kind]));
        }
    json_object_set_new(d, "algorithms", algs);
    json_object_set_new(d, "keys", json_integer((json_int_t)jwt_keyset_count(ks)));
    const char *iss = opt_str(o, "issuer"), *aud = opt_str(o, "audience");
    json_object_set_new(d, "issuer", iss ? json_string(iss) : json_null());
    json_object_set_new(d, "audience", aud ? json_string(aud) : json_null());
    json_object_set_new(d, "leeway_seconds", json_integer(JWT_LEEWAY_SECONDS));
    jwt_keyset_free(ks);
    json_decref(o);
    return d;
}

/* ---- verification ----------------------------------------------------------------------- */

static bool verify_hs256(const jwt_key_t *k, const char *input, size_t len, const uint8_t *sig,
                         size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)input, len, mac,
              &maclen))
        return false;
    return siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
}

static bool verify_pkey(EVP_PKEY *pkey, const char *input, size_t len, const uint8_t *sig,
                        size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort();
    bool ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, len) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

/* JWS carries an ES256 signature as r || s (32 bytes each); OpenSSL wants DER. */
static bool verify_es256(const jwt_key_t *k, const char *input, size_t len, const uint8_t *sig,
                         size_t siglen)
{
    if (siglen != 64)
        return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
    }
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    bool ok = dlen > 0 && verify_pkey(k->pkey, input, len, der, (size_t)dlen);
    OPENSSL_free(der);
    return ok;
}

static json_t *decode_json_part(const char *s, size_t n)
{
    size_t len;
    uint8_t *raw = jwt_b64url_decode(s, n, &len);
    if (!raw)
        return NULL;
    json_t *j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void iso_time(int64_t secs, char out[32])
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "%lld", (long long)secs);
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A NumericDate claim: 1 present (in *out), 0 absent, -1 not a number. */
static int numeric_date(json_t *claims, const char *name, int64_t *out)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9.2e18 && d < 9.2e18))
            return -1;
        *out = (int64_t)d;
        return 1;
    }
    return -1;
}

static jwt_result_t check_claims(const jwt_keyset_t *ks, json_t *claims, int64_t now, char *msg,
                                 size_t msglen)
{
    int64_t exp = 0, nbf = 0;
    int has_exp = numeric_date(claims, "exp", &exp), has_nbf = numeric_date(claims, "nbf", &nbf);
    if (has_exp < 0 || has_nbf < 0) {
        say(msg, msglen, "the token's %s claim is not a number of seconds",
            has_exp < 0 ? "exp" : "nbf");
        return JWT_MALFORMED;
    }
    char a[32], b[32];
    if (has_exp && now >= exp && now - exp >= JWT_LEEWAY_SECONDS) {
        iso_time(exp, a);
        iso_time(now, b);
        say(msg, msglen, "the token expired at %s (it is now %s): get a new one", a, b);
        return JWT_EXPIRED;
    }
    if (has_nbf && nbf > now && nbf - now > JWT_LEEWAY_SECONDS) {
        iso_time(nbf, a);
        say(msg, msglen, "the token is not valid before %s", a);
        return JWT_NOT_YET_VALID;
    }
    if (ks->issuer) {
        const char *iss = opt_str(claims, "iss");
        if (!iss || strcmp(iss, ks->issuer) != 0) {
            say(msg, msglen, "the token's issuer (iss) is not the one this app accepts");
            return JWT_WRONG_ISSUER;
        }
    }
    if (ks->audience) {
        json_t *aud = json_object_get(claims, "aud");
        bool ok = json_is_string(aud) && strcmp(json_string_value(aud), ks->audience) == 0;
        if (json_is_array(aud)) {
            size_t i;
            json_t *v;
            json_array_foreach(aud, i, v) ok = ok || (json_is_string(v) &&
                                                      strcmp(json_string_value(v), ks->audience) == 0);
        }
        if (!ok) {
            say(msg, msglen, "the token's audience (aud) does not include this app's");
            return JWT_WRONG_AUDIENCE;
        }
    }
    return JWT_OK;
}

jwt_result_t jwt_verify(const jwt_keyset_t *ks, const char *token, size_t len, int64_t now,
                        json_t **claims, char *msg, size_t msglen)
{
    if (claims)
        *claims = NULL;
    if (ks->n == 0) {
        say(msg, msglen, "this app's JWT settings could not be loaded, so no token is accepted; "
                         "see the server log");
        return JWT_NO_KEY;
    }
    if (len > JWT_MAX_TOKEN_BYTES) {
        say(msg, msglen, "the token is longer than %d bytes", JWT_MAX_TOKEN_BYTES);
        return JWT_MALFORMED;
    }
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(token + len - d1 - 1)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(token + len - d2 - 1))) {
        say(msg, msglen, "the bearer token is not a JWT (three base64url parts separated by "
                         "dots)");
        return JWT_MALFORMED;
    }
    json_t *header = decode_json_part(token, (size_t)(d1 - token));
    json_t *payload = header ? decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
    size_t siglen = 0;
    uint8_t *sig = payload ? jwt_b64url_decode(d2 + 1, (size_t)(token + len - d2 - 1), &siglen)
                           : NULL;
    jwt_result_t rc = JWT_OK;
    if (!header || !payload || !sig) {
        say(msg, msglen, "the bearer token is not a JWT (its header and claims must be "
                         "base64url JSON objects, its signature base64url)");
        rc = JWT_MALFORMED;
        goto done;
    }
    const char *alg = opt_str(header, "alg");
    json_t *kidv = json_object_get(header, "kid");
    if (json_object_get(header, "crit")) {
        say(msg, msglen, "the token has critical header extensions (crit), which dorm does not "
                         "understand");
        rc = JWT_MALFORMED;
        goto done;
    }
    int kind = -1;
    for (int i = 0; alg && i < 3; i++)
        if (strcmp(alg, kind_alg[i]) == 0)
            kind = i;
    if (kind < 0) {
        say(msg, msglen, "the token's algorithm \"%.20s\" is not accepted: use HS256, RS256 or "
                         "ES256",
            alg ? alg : "(none)");
        rc = JWT_BAD_ALGORITHM;
        goto done;
    }
    if (kidv && !json_is_string(kidv)) {
        say(msg, msglen, "the token's kid is not a string");
        rc = JWT_MALFORMED;
        goto done;
    }
    const char *kid = kidv ? json_string_value(kidv) : NULL;
    bool any_kind = false, tried = false, ok = false;
    size_t input_len = (size_t)(d2 - token);
    for (size_t i = 0; i < ks->n && !ok; i++) {
        const jwt_key_t *k = &ks->keys[i];
        if ((int)k->kind != kind)
            continue;
        any_kind = true;
        if (kid && k->kid && strcmp(kid, k->kid) != 0)
            continue;
        tried = true;
        if (k->kind == KEY_HS256)
            ok = verify_hs256(k, token, input_len, sig, siglen);
        else if (k->kind == KEY_RS256)
            ok = verify_pkey(k->pkey, token, input_len, sig, siglen);
        else
            ok = verify_es256(k, token, input_len, sig, siglen);
    }
    if (!any_kind) {
        say(msg, msglen, "the token is signed with %s, but this app verifies tokens with other "
                         "algorithms",
            alg);
        rc = JWT_BAD_ALGORITHM;
    } else if (!tried) {
        say(msg, msglen, "no key of this app has the token's kid \"%.64s\"", kid);
        rc = JWT_NO_KEY;
    } else if (!ok) {
        say(msg, msglen, "the token's signature does not verify with this app's keys");
        rc = JWT_BAD_SIGNATURE;
    } else {
        rc = check_claims(ks, payload, now, msg, msglen);
    }
done:
    if (rc == JWT_OK && claims) {
        *claims = payload;
        payload = NULL;
    }
    json_decref(header);
    json_decref(payload);
    free(sig);
    return rc;
}
