/* WebCrypto's key decoders and its instance-owned slow jobs (crypto.c).
 * The decoders are exposed for the fuzz target: they take untrusted bytes
 * (DER, raw points, JWK components) and give an OpenSSL key or NULL, never
 * anything else. Depends on OpenSSL and api/host.h. */
#ifndef DORM_API_CRYPTO_H
#define DORM_API_CRYPTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include "host.h"

/* A job of an instance on the thread pool (RSA key generation, PBKDF2):
 * linked into api_state_t.crypto_jobs while pending. */
struct api_crypto_job {
    struct api_crypto_job *prev, *next;
};

/* Drops every pending job of st: their results are thrown away and no
 * callback reaches JS. Called when the instance is reset or evicted. */
void api_crypto_cancel_all(api_state_t *st);

/* A DER SubjectPublicKeyInfo (is_private false) or PKCS #8 PrivateKeyInfo,
 * with no trailing bytes. Returns a new key or NULL. */
EVP_PKEY *crypto_key_from_der(bool is_private, const uint8_t *p, size_t len);
/* A raw public key: kind "EC" (curve "P-256", "P-384", "P-521"; an
 * uncompressed point), "ED25519" or "X25519" (32 bytes). */
EVP_PKEY *crypto_key_from_raw(const char *kind, const char *curve, const uint8_t *p, size_t len);

/* A JWK's components, decoded from base64url: RSA uses the BIGNUMs, EC and
 * OKP the byte strings. Borrowed. */
typedef struct crypto_jwk {
    bool has_private;
    BIGNUM *n, *e, *d, *p, *q, *dp, *dq, *qi;
    const uint8_t *x, *y, *dbytes;
    size_t x_len, y_len, d_len;
} crypto_jwk_t;
EVP_PKEY *crypto_key_from_jwk(const char *kind, const char *curve, const crypto_jwk_t *j);

#endif
