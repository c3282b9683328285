/* libFuzzer target for WebCrypto's key decoders (api/crypto_keys.c): DER
 * SubjectPublicKeyInfo and PKCS #8, raw EC points and Ed25519/X25519 keys,
 * and JWK components for RSA, EC and OKP keys, all from untrusted bytes.
 * The first byte picks the decoder (and curve); JWK components are cut from
 * the rest at lengths taken from the data. A key that decodes is encoded
 * again, which must work and must decode to a key of the same kind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "api/crypto.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_crypto_keys: invariant broken: %s\n", what);
        abort();
    }
}

static const char *const curves[] = {"P-256", "P-384", "P-521"};

/* Takes a length-prefixed piece off the front of *p. */
static const uint8_t *take(const uint8_t **p, size_t *n, size_t *len)
{
    if (*n < 1) {
        *len = 0;
        return NULL;
    }
    size_t want = (*p)[0];
    (*p)++;
    (*n)--;
    if (want > *n)
        want = *n;
    const uint8_t *r = *p;
    *len = want;
    *p += want;
    *n -= want;
    return r;
}

static void reencode(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    check(n > 0, "a decoded key encodes as SPKI");
    EVP_PKEY *again = crypto_key_from_der(false, der, (size_t)n);
    check(again != NULL, "its SPKI decodes again");
    check(EVP_PKEY_get_base_id(again) == EVP_PKEY_get_base_id(k), "as the same kind of key");
    EVP_PKEY_free(again);
    OPENSSL_free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    const char *curve = curves[(mode >> 4) % 3];
    EVP_PKEY *k = NULL;
    switch (mode & 0x0f) {
    case 0:
        k = crypto_key_from_der(false, p, n);
        break;
    case 1:
        k = crypto_key_from_der(true, p, n);
        break;
    case 2:
        k = crypto_key_from_raw("EC", curve, p, n);
        break;
    case 3:
        k = crypto_key_from_raw((mode & 0x10) ? "X25519" : "ED25519", "", p, n);
        break;
    case 4:
    case 5: {
        crypto_jwk_t j;
        memset(&j, 0, sizeof j);
        size_t xl, yl, dl;
        j.x = take(&p, &n, &xl);
        j.y = take(&p, &n, &yl);
        j.dbytes = take(&p, &n, &dl);
        j.x_len = xl;
        j.y_len = yl;
        j.d_len = dl;
        j.has_private = (mode & 0x0f) == 5 && dl > 0;
        if ((mode & 0x80) == 0)
            k = crypto_key_from_jwk("EC", curve, &j);
        else
            k = crypto_key_from_jwk((mode & 0x40) ? "X25519" : "ED25519", "", &j);
        break;
    }
    case 6: {
        crypto_jwk_t j;
        memset(&j, 0, sizeof j);
        BIGNUM **parts[] = {&j.n, &j.e, &j.d, &j.p, &j.q, &j.dp, &j.dq, &j.qi};
        int count = (mode & 0x10) ? 8 : 2;
        for (int i = 0; i < count; i++) {
            size_t len;
            const uint8_t *q = take(&p, &n, &len);
            *parts[i] = BN_bin2bn(q ? q : (const uint8_t *)"", (int)len, NULL);
        }
        j.has_private = count == 8;
        k = crypto_key_from_jwk("RSA", "", &j);
        for (int i = 0; i < 8; i++)
            BN_free(*parts[i]);
        break;
    }
    default:
        return 0;
    }
    if (k) {
        reencode(k);
        EVP_PKEY_free(k);
    }
    ERR_clear_error();
    return 0;
}
