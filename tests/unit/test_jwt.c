/* Unit tests of JWT verification (control/jwt.c): tokens signed here with
 * keys made here (HS256 secrets, RSA 2048 and P-256 keys), given to the
 * keyset as a secret, as PEM and as a JWKS document, and every way a token
 * can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "control/jwt.h"
#include "lib/buf.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-hs256";
static const int64_t NOW = 1800000000;
static EVP_PKEY *rsa_key, *ec_key, *rsa_small, *ec_384;

static void b64url(buf_t *out, const void *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *s = p;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        buf_putc(out, a[v >> 18]);
        buf_putc(out, a[(v >> 12) & 63]);
        buf_putc(out, a[(v >> 6) & 63]);
        buf_putc(out, a[v & 63]);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        buf_putc(out, a[v >> 18]);
        buf_putc(out, a[(v >> 12) & 63]);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        buf_putc(out, a[v >> 18]);
        buf_putc(out, a[(v >> 12) & 63]);
        buf_putc(out, a[(v >> 6) & 63]);
    }
}

/* header.payload signed with alg by key (or SECRET for HS256): a new string. */
static char *sign(const char *header, const char *payload, const char *alg, EVP_PKEY *key)
{
    buf_t t = BUF_INIT;
    b64url(&t, header, strlen(header));
    buf_putc(&t, '.');
    b64url(&t, payload, strlen(payload));
    uint8_t sig[1024];
    size_t siglen = sizeof sig;
    if (strcmp(alg, "HS256") == 0) {
        unsigned int l = 0;
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), t.data, t.len, sig, &l);
        siglen = l;
    } else {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen, t.data, t.len), 1);
        EVP_MD_CTX_free(md);
        if (strcmp(alg, "ES256") == 0) {
            /* DER to the JWS form r || s */
            const uint8_t *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
            assert_non_null(es);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            ECDSA_SIG_free(es);
            siglen = 64;
        }
    }
    buf_putc(&t, '.');
    b64url(&t, sig, siglen);
    size_t len;
    return (char *)buf_steal(&t, &len);
}

static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

static void bn_b64(buf_t *out, EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    uint8_t raw[600];
    int n = pad ? BN_bn2binpad(bn, raw, pad) : BN_bn2bin(bn, raw);
    b64url(out, raw, (size_t)n);
    BN_free(bn);
}

/* A JWKS with the RSA key (kid "r1") and the EC key (kid "e1"). */
static char *jwks_doc(void)
{
    buf_t d = BUF_INIT;
    buf_puts(&d, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"},"
                 "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
                 "{\"kty\":\"RSA\",\"kid\":\"r1\",\"alg\":\"RS256\",\"use\":\"sig\",\"n\":\"");
    bn_b64(&d, rsa_key, OSSL_PKEY_PARAM_RSA_N, 0);
    buf_puts(&d, "\",\"e\":\"");
    bn_b64(&d, rsa_key, OSSL_PKEY_PARAM_RSA_E, 0);
    buf_puts(&d, "\"},{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"");
    bn_b64(&d, ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    buf_puts(&d, "\",\"y\":\"");
    bn_b64(&d, ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    buf_puts(&d, "\"}]}");
    size_t len;
    return (char *)buf_steal(&d, &len);
}

static int setup(void **state)
{
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    ec_384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    return rsa_key && ec_key && rsa_small && ec_384 ? 0 : -1;
}

static int teardown(void **state)
{
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec_384);
    return 0;
}

static jwt_result_t check(jwt_keyset_t *ks, const char *tok, char *msg)
{
    return jwt_verify(ks, tok, strlen(tok), NOW, NULL, msg, 300);
}

static void test_b64url(void **state)
{
    size_t n;
    uint8_t *p = jwt_b64url_decode("aGk", 3, &n);
    assert_non_null(p);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "hi", 2);
    free(p);
    assert_null(jwt_b64url_decode("aGk=", 4, &n)); /* no padding in JWS */
    assert_null(jwt_b64url_decode("aG+k", 4, &n)); /* base64, not base64url */
    assert_null(jwt_b64url_decode("aGl", 3, &n));  /* trailing bits must be zero */
    assert_null(jwt_b64url_decode("a", 1, &n));    /* no whole byte */
    p = jwt_b64url_decode("", 0, &n);
    assert_non_null(p);
    assert_int_equal(n, 0);
    free(p);
}

static void test_hs256(void **state)
{
    char msg[300];
    jwt_keyset_t *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_secret(ks, "short", 5, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "at least 32 bytes"));
    assert_int_equal(jwt_keyset_add_secret(ks, SECRET, strlen(SECRET), msg, sizeof msg), 0);
    char *tok = sign("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"u1\",\"exp\":1800000600}",
                     "HS256", NULL);
    json_t *claims = NULL;
    assert_int_equal(jwt_verify(ks, tok, strlen(tok), NOW, &claims, msg, sizeof msg), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "u1");
    json_decref(claims);
    /* one changed byte of the signature, of the claims, of the header */
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(check(ks, tok, msg), JWT_BAD_SIGNATURE);
    assert_non_null(strstr(msg, "signature"));
    free(tok);
    tok = sign("{\"alg\":\"HS256\"}", "{\"sub\":\"u1\"}", "HS256", NULL);
    char *dot = strchr(tok, '.');
    dot[1] = dot[1] == 'e' ? 'f' : 'e';
    assert_int_not_equal(check(ks, tok, msg), JWT_OK);
    free(tok);
    /* signed with another secret */
    jwt_keyset_t *other = jwt_keyset_new();
    assert_int_equal(
        jwt_keyset_add_secret(other, "another-secret-of-32-bytes-or-more!", 35, msg, sizeof msg),
        0);
    tok = sign("{\"alg\":\"HS256\"}", "{\"sub\":\"u1\"}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_OK);
    assert_int_equal(check(other, tok, msg), JWT_BAD_SIGNATURE);
    free(tok);
    jwt_keyset_free(other);
    /* RS256 and none are refused by a keyset of secrets */
    tok = sign("{\"alg\":\"RS256\"}", "{}", "RS256", rsa_key);
    assert_int_equal(check(ks, tok, msg), JWT_BAD_ALGORITHM);
    free(tok);
    buf_t none = BUF_INIT;
    b64url(&none, "{\"alg\":\"none\"}", 14);
    buf_puts(&none, ".e30.");
    /* the classic unsigned token */
    assert_int_equal(check(ks, buf_cstr(&none), msg), JWT_BAD_ALGORITHM);
    buf_puts(&none, "AA");
    assert_int_equal(check(ks, buf_cstr(&none), msg), JWT_BAD_ALGORITHM);
    assert_non_null(strstr(msg, "\"none\""));
    buf_deinit(&none);
    jwt_keyset_free(ks);
}

static void test_claims(void **state)
{
    char msg[300];
    jwt_keyset_t *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_secret(ks, SECRET, strlen(SECRET), msg, sizeof msg), 0);
    struct {
        const char *claims;
        jwt_result_t want;
        const char *says;
    } cases[] = {
        {"{\"exp\":1800000001}", JWT_OK, NULL},
        {"{\"exp\":1799999990}", JWT_OK, NULL}, /* 10 s ago: inside the leeway */
        {"{\"exp\":1799999970}", JWT_EXPIRED, "expired at 2027-01-15T07:59:30Z"},
        {"{\"exp\":1799999999.5}", JWT_OK, NULL},
        {"{\"exp\":\"tomorrow\"}", JWT_MALFORMED, "exp"},
        {"{\"nbf\":1800000020}", JWT_OK, NULL},
        {"{\"nbf\":1800000100}", JWT_NOT_YET_VALID, "not valid before"},
        {"{\"nbf\":null}", JWT_MALFORMED, "nbf"},
        {"{}", JWT_OK, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = sign("{\"alg\":\"HS256\"}", cases[i].claims, "HS256", NULL);
        msg[0] = 0;
        assert_int_equal(check(ks, tok, msg), cases[i].want);
        if (cases[i].says && !strstr(msg, cases[i].says))
            fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].claims, msg, cases[i].says);
        free(tok);
    }
    jwt_keyset_require(ks, "https://issuer.example", "my-app");
    struct {
        const char *claims;
        jwt_result_t want;
    } req[] = {
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"my-app\"}", JWT_OK},
        {"{\"iss\":\"https://issuer.example\",\"aud\":[\"x\",\"my-app\"]}", JWT_OK},
        {"{\"iss\":\"https://issuer.example\",\"aud\":[\"x\"]}", JWT_WRONG_AUDIENCE},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"my-app2\"}", JWT_WRONG_AUDIENCE},
        {"{\"iss\":\"https://issuer.example\"}", JWT_WRONG_AUDIENCE},
        {"{\"iss\":\"https://other.example\",\"aud\":\"my-app\"}", JWT_WRONG_ISSUER},
        {"{\"aud\":\"my-app\"}", JWT_WRONG_ISSUER},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        char *tok = sign("{\"alg\":\"HS256\"}", req[i].claims, "HS256", NULL);
        assert_int_equal(check(ks, tok, msg), req[i].want);
        free(tok);
    }
    jwt_keyset_free(ks);
}

static void test_malformed(void **state)
{
    char msg[300];
    jwt_keyset_t *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_secret(ks, SECRET, strlen(SECRET), msg, sizeof msg), 0);
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "e30.e30.e30.e30", "..", "W10.e30.AA",
                         "e30.W10.AA", "e30=.e30.AA", "e30.e30.A+A", "bm90IGpzb24.e30.AA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(check(ks, bad[i], msg), JWT_MALFORMED);
    char *tok = sign("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_MALFORMED);
    assert_non_null(strstr(msg, "crit"));
    free(tok);
    tok = sign("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_MALFORMED); /* duplicate members */
    free(tok);
    tok = sign("{\"alg\":\"HS256\",\"kid\":7}", "{}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_MALFORMED);
    free(tok);
    char big[JWT_MAX_TOKEN_BYTES + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(check(ks, big, msg), JWT_MALFORMED);
    jwt_keyset_free(ks);
    /* an empty keyset (settings that could not be loaded) accepts nothing */
    ks = jwt_keyset_new();
    tok = sign("{\"alg\":\"HS256\"}", "{}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_NO_KEY);
    free(tok);
    jwt_keyset_free(ks);
}

static void test_pem(void **state)
{
    char msg[300];
    char *rpem = pem_of(rsa_key), *epem = pem_of(ec_key);
    jwt_keyset_t *ks = jwt_keyset_new();
    buf_t both = BUF_INIT;
    buf_puts(&both, rpem);
    buf_puts(&both, epem);
    assert_int_equal(jwt_keyset_add_pem(ks, buf_cstr(&both), both.len, msg, sizeof msg), 0);
    assert_int_equal(jwt_keyset_count(ks), 2);
    char *tok = sign("{\"alg\":\"RS256\",\"kid\":\"anything\"}", "{\"sub\":\"r\"}", "RS256",
                     rsa_key);
    assert_int_equal(check(ks, tok, msg), JWT_OK); /* keys without a kid match any */
    free(tok);
    tok = sign("{\"alg\":\"ES256\"}", "{\"sub\":\"e\"}", "ES256", ec_key);
    assert_int_equal(check(ks, tok, msg), JWT_OK);
    /* the same signature claimed as RS256, and a token signed by another key */
    free(tok);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    tok = sign("{\"alg\":\"ES256\"}", "{\"sub\":\"e\"}", "ES256", other);
    assert_int_equal(check(ks, tok, msg), JWT_BAD_SIGNATURE);
    free(tok);
    EVP_PKEY_free(other);
    /* alg confusion: HMAC keyed with the public key's PEM text is refused */
    tok = sign("{\"alg\":\"HS256\"}", "{}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_BAD_ALGORITHM);
    free(tok);
    jwt_keyset_free(ks);
    buf_deinit(&both);

    /* what is refused, and says why */
    struct {
        const char *pem;
        const char *says;
    } bad[] = {
        {"not pem at all", "no PEM public key"},
        {"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "\"FOO\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ks = jwt_keyset_new();
        assert_int_equal(jwt_keyset_add_pem(ks, bad[i].pem, strlen(bad[i].pem), msg, sizeof msg),
                         -1);
        if (!strstr(msg, bad[i].says))
            fail_msg("\"%s\" does not say %s", msg, bad[i].says);
        jwt_keyset_free(ks);
    }
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, ec_key, NULL, NULL, 0, NULL, NULL);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_pem(ks, p, (size_t)n, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "private key"));
    jwt_keyset_free(ks);
    BIO_free(b);
    char *small = pem_of(rsa_small), *p384 = pem_of(ec_384);
    ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_pem(ks, small, strlen(small), msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "1024 bits"));
    assert_int_equal(jwt_keyset_add_pem(ks, p384, strlen(p384), msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "P-256"));
    jwt_keyset_free(ks);
    free(small);
    free(p384);
    free(rpem);
    free(epem);
}

static void test_jwks(void **state)
{
    char msg[300];
    char *doc = jwks_doc();
    jwt_keyset_t *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_jwks(ks, doc, strlen(doc), msg, sizeof msg), 0);
    assert_int_equal(jwt_keyset_count(ks), 2); /* OKP and the encryption key are skipped */
    char *tok = sign("{\"alg\":\"RS256\",\"kid\":\"r1\"}", "{\"sub\":\"r\"}", "RS256", rsa_key);
    assert_int_equal(check(ks, tok, msg), JWT_OK);
    free(tok);
    tok = sign("{\"alg\":\"RS256\",\"kid\":\"r2\"}", "{}", "RS256", rsa_key);
    assert_int_equal(check(ks, tok, msg), JWT_NO_KEY);
    assert_non_null(strstr(msg, "r2"));
    free(tok);
    tok = sign("{\"alg\":\"ES256\",\"kid\":\"e1\"}", "{}", "ES256", ec_key);
    assert_int_equal(check(ks, tok, msg), JWT_OK);
    free(tok);
    tok = sign("{\"alg\":\"ES256\"}", "{}", "ES256", ec_key);
    assert_int_equal(check(ks, tok, msg), JWT_OK);
    free(tok);
    jwt_keyset_free(ks);

    const struct {
        const char *doc;
        const char *says;
    } bad[] = {
        {"{not json", "not JSON"},
        {"[]", "\"keys\" array"},
        {"{\"keys\":[]}", "no RS256 or ES256"},
        {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}", "jwt_secret"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}", "P-256"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ\",\"y\":\"AQ\"}]}", "32 bytes"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
         "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
         "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
         "not a point"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}", "\"n\""},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "RSA public key"},
        {"{\"keys\":[7]}", "not a JSON object"},
        {"{\"keys\":[{\"n\":\"x\"}]}", "kty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ks = jwt_keyset_new();
        msg[0] = 0;
        assert_int_equal(jwt_keyset_add_jwks(ks, bad[i].doc, strlen(bad[i].doc), msg, sizeof msg),
                         -1);
        if (!strstr(msg, bad[i].says))
            fail_msg("%s: \"%s\" does not say %s", bad[i].doc, msg, bad[i].says);
        jwt_keyset_free(ks);
    }
    free(doc);
}

static void test_settings(void **state)
{
    char msg[300];
    buf_t s = BUF_INIT;
    buf_printf(&s, "{\"secret\":\"%s\",\"issuer\":\"iss-1\",\"audience\":\"aud-1\"}", SECRET);
    jwt_keyset_t *ks = jwt_keyset_from_settings(buf_cstr(&s), s.len, msg, sizeof msg);
    assert_non_null(ks);
    char *tok = sign("{\"alg\":\"HS256\"}", "{\"iss\":\"iss-1\",\"aud\":\"aud-1\"}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_OK);
    free(tok);
    tok = sign("{\"alg\":\"HS256\"}", "{\"iss\":\"iss-1\"}", "HS256", NULL);
    assert_int_equal(check(ks, tok, msg), JWT_WRONG_AUDIENCE);
    free(tok);
    jwt_keyset_free(ks);
    /* what get shows holds no secret */
    json_t *d = jwt_settings_describe(buf_cstr(&s), s.len);
    char *text = json_dumps(d, JSON_COMPACT);
    assert_null(strstr(text, SECRET));
    assert_non_null(strstr(text, "\"algorithms\":[\"HS256\"]"));
    assert_non_null(strstr(text, "\"source\":\"secret\""));
    assert_non_null(strstr(text, "\"issuer\":\"iss-1\""));
    free(text);
    json_decref(d);
    buf_deinit(&s);
    assert_null(jwt_keyset_from_settings("{}", 2, msg, sizeof msg));
    assert_non_null(strstr(msg, "no key"));
    assert_null(jwt_keyset_from_settings("nope", 4, msg, sizeof msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url), cmocka_unit_test(test_hs256),
        cmocka_unit_test(test_claims), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_pem),    cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
