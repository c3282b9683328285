/* libFuzzer target for JWT verification and key parsing (src/control/jwt.c,
 * and the shape check of src/control/access.c). The first byte picks the
 * mode, the rest is the input:
 *   J  a JWKS document        P  PEM text          C  stored JWT settings
 *   T  a token, verified against fixed keys (an HS256 secret and the RSA and
 *      EC keys of tests/fuzz/gen_jwt_corpus.mjs)
 *   S  claims: signed here with the secret, so the signature must verify
 *      and only the claims decide the result.
 * Nothing may crash or leak; a verified token yields a claims object; a
 * token we signed never fails its signature. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "control/access.h"
#include "control/jwt.h"
#include "lib/buf.h"

static const char SECRET[] = "fuzz-secret-0123456789abcdef0123456789";
static const char JWKS[] = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"oIWKPpvK8yaGFySZ7H_78Mm7dQ1PxSGMh_TKZxFpNTFNmph9u-iVvhRjZ2EXjk72NC5W9RIN4SfnRmEVQputVBs0_Ns2vuN3r2qEANHi-kSB8m9w9Sy-rDETGCytWtQOP0H9dcGpZA601xIlt4wl62pKJHVKZ1uOgqGfoTDKL0sWuuVr48pqLVHOMlw8Yczq_ZDp-vz5UODXLxet9dkA_a-G-oXLbY2NZK4YSU6Oj9vhwj_oGWe9C7lYpyPNFygRvRYw-r5YVqPIKXv4e59H4lB7YiDJfaE3NnQT91cBuAnbLSyoeUaykYOURvEdFbZ5KnN3G8W8fnAi9FS8KTscyQ\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"oD8_te2EkJYK75ApBko1oAjHMw6ezcL4TdToOtWoe_A\",\"y\":\"VEP38SuuSiFoNMymxC85uL6ElrPR9DW0eCUIwTcGiyM\"}]}";

static jwt_keyset_t *fixed;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_jwt: %s\n", what);
    abort();
}

static void b64url(buf_t *out, const uint8_t *s, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        buf_putc(out, a[v >> 18]);
        buf_putc(out, a[(v >> 12) & 63]);
        if (i + 1 < n)
            buf_putc(out, a[(v >> 6) & 63]);
        if (i + 2 < n)
            buf_putc(out, a[v & 63]);
    }
}

static void setup(void)
{
    char msg[300];
    fixed = jwt_keyset_new();
    if (jwt_keyset_add_secret(fixed, SECRET, strlen(SECRET), msg, sizeof msg) < 0 ||
        jwt_keyset_add_jwks(fixed, JWKS, strlen(JWKS), msg, sizeof msg) < 0)
        die(msg);
}

static void verify(const jwt_keyset_t *ks, const char *tok, size_t n)
{
    char msg[300];
    json_t *claims = NULL;
    jwt_result_t r = jwt_verify(ks, tok, n, 1800000000, &claims, msg, sizeof msg);
    if (r == JWT_OK && !json_is_object(claims))
        die("a verified token without a claims object");
    if (r != JWT_OK && claims)
        die("claims from a refused token");
    if (r != JWT_OK && !msg[0])
        die("a refusal without a message");
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed)
        setup();
    if (size == 0)
        return 0;
    char mode = (char)data[0];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char msg[300];
    jwt_keyset_t *ks;
    switch (mode) {
    case 'J':
        ks = jwt_keyset_new();
        if (jwt_keyset_add_jwks(ks, in, n, msg, sizeof msg) == 0 && jwt_keyset_count(ks) == 0)
            die("a JWKS accepted with no key");
        verify(ks, "e30.e30.AA", 10);
        jwt_keyset_free(ks);
        break;
    case 'P':
        ks = jwt_keyset_new();
        jwt_keyset_add_pem(ks, in, n, msg, sizeof msg);
        jwt_keyset_free(ks);
        break;
    case 'C': {
        ks = jwt_keyset_from_settings(in, n, msg, sizeof msg);
        jwt_keyset_free(ks);
        json_decref(jwt_settings_describe(in, n));
        break;
    }
    case 'S': {
        buf_t t = BUF_INIT;
        buf_puts(&t, "eyJhbGciOiJIUzI1NiJ9."); /* {"alg":"HS256"} */
        b64url(&t, (const uint8_t *)in, n);
        uint8_t mac[32];
        unsigned int len = 0;
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), t.data, t.len, mac, &len);
        buf_putc(&t, '.');
        b64url(&t, mac, len);
        json_t *claims = NULL;
        jwt_result_t r = jwt_verify(fixed, buf_cstr(&t), t.len, 1800000000, &claims, msg,
                                    sizeof msg);
        if (r == JWT_BAD_SIGNATURE || r == JWT_BAD_ALGORITHM || r == JWT_NO_KEY)
            die("a token signed with the app's own secret was refused for its signature");
        if (t.len <= JWT_MAX_TOKEN_BYTES) {
            json_t *j = json_loadb(in, n, JSON_REJECT_DUPLICATES, NULL);
            if (json_is_object(j) != (r != JWT_MALFORMED || json_object_get(j, "exp") ||
                                      json_object_get(j, "nbf")))
                die("claims that are a JSON object were called malformed, or the reverse");
            json_decref(j);
        }
        json_decref(claims);
        buf_deinit(&t);
        break;
    }
    default:
        verify(fixed, in, n);
        access_jwt_shape(in, n);
        break;
    }
    return 0;
}
