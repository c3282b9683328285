/* WebCrypto's keys on OpenSSL 3 (natives.h, crypto.h): import from DER
 * (SPKI, PKCS #8), raw public points and JWK components, export to the
 * same, what a key is (kind, curve, size), its public half, and generation
 * of EC, Ed25519 and X25519 pairs. The decoders take untrusted bytes and
 * are fuzzed (tests/fuzz/fuzz_crypto_keys.c). Depends on OpenSSL and
 * quickjs.h; never on libuv or the actor layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "crypto.h"
#include "crypto_int.h"

static const char *curve_group(const char *curve)
{
    if (strcmp(curve, "P-256") == 0)
        return "prime256v1";
    if (strcmp(curve, "P-384") == 0)
        return "secp384r1";
    if (strcmp(curve, "P-521") == 0)
        return "secp521r1";
    return NULL;
}

static const char *group_curve(const char *group)
{
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
        return "P-256";
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
        return "P-384";
    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
        return "P-521";
    return NULL;
}

size_t crypto_curve_bytes(const char *curve)
{
    return strcmp(curve, "P-256") == 0 ? 32 : strcmp(curve, "P-384") == 0 ? 48 : 66;
}

/* "RSA", "EC", "ED25519", "X25519" or NULL */
static const char *key_kind(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_RSA)
        return "RSA";
    if (id == EVP_PKEY_EC)
        return "EC";
    if (id == EVP_PKEY_ED25519)
        return "ED25519";
    if (id == EVP_PKEY_X25519)
        return "X25519";
    return NULL;
}

bool crypto_key_curve(EVP_PKEY *k, char *out, size_t n)
{
    char group[64];
    size_t gl = 0;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &gl) != 1)
        return false;
    const char *c = group_curve(group);
    if (!c)
        return false;
    snprintf(out, n, "%s", c);
    return true;
}

static bool key_is_private(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_X25519) {
        size_t n = 0;
        return EVP_PKEY_get_raw_private_key(k, NULL, &n) == 1 && n > 0;
    }
    BIGNUM *bn = NULL;
    const char *name = id == EVP_PKEY_RSA ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY;
    bool yes = EVP_PKEY_get_bn_param(k, name, &bn) == 1 && bn;
    BN_free(bn);
    return yes;
}

/* Checks an imported key against what the caller expects: its kind and, for
 * EC, its curve. Returns the key, or NULL (key freed) with DataError. */
static EVP_PKEY *expect_kind(JSContext *ctx, EVP_PKEY *k, const char *kind, const char *curve)
{
    const char *got = key_kind(k);
    if (!got || strcmp(got, kind) != 0) {
        EVP_PKEY_free(k);
        crypto_throw_dom(ctx, "DataError", "the key is %s key, not %s key", got ? got : "an unsupported",
                  kind);
        return NULL;
    }
    if (curve && *curve) {
        char c[16];
        if (!crypto_key_curve(k, c, sizeof c) || strcmp(c, curve) != 0) {
            EVP_PKEY_free(k);
            crypto_throw_dom(ctx, "DataError", "the key's curve is not %s", curve);
            return NULL;
        }
    }
    if (strcmp(kind, "EC") == 0 || strcmp(kind, "RSA") == 0) {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        int ok = pc && (key_is_private(k) ? EVP_PKEY_pairwise_check(pc) : EVP_PKEY_public_check(pc)) == 1;
        EVP_PKEY_CTX_free(pc);
        if (!ok) {
            EVP_PKEY_free(k);
            crypto_throw_dom(ctx, "DataError", "the key is not valid (its parts do not fit together)");
            return NULL;
        }
    }
    return k;
}

/* native.keyImportDer("spki"|"pkcs8", bytes, kind, curve|"") -> handle */
static JSValue c_key_import_der(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *format = crypto_cstr(ctx, argv[0]);
    char *kind = format ? crypto_cstr(ctx, argv[2]) : NULL;
    char *curve = kind ? crypto_cstr(ctx, argv[3]) : NULL;
    const uint8_t *p;
    size_t len;
    JSValue ret = JS_EXCEPTION;
    if (!curve || crypto_get_bytes(ctx, argv[1], &p, &len) < 0)
        goto done;
    EVP_PKEY *k = crypto_key_from_der(strcmp(format, "pkcs8") == 0, p, len);
    if (!k) {
        crypto_throw_dom(ctx, "DataError", "the %s data is not a valid DER-encoded %s", format,
                  strcmp(format, "pkcs8") == 0 ? "PrivateKeyInfo (PKCS #8)"
                                               : "SubjectPublicKeyInfo");
        goto done;
    }
    k = expect_kind(ctx, k, kind, curve);
    if (k)
        ret = crypto_wrap_key(ctx, k);
done:
    free(format);
    free(kind);
    free(curve);
    return ret;
}

EVP_PKEY *crypto_key_from_der(bool is_private, const uint8_t *p, size_t len)
{
    const unsigned char *q = p;
    EVP_PKEY *k = NULL;
    if (len == 0 || len > (1u << 20))
        return NULL;
    if (is_private) {
        PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)len);
        if (info && q == p + len)
            k = EVP_PKCS82PKEY(info);
        PKCS8_PRIV_KEY_INFO_free(info);
    } else {
        k = d2i_PUBKEY(NULL, &q, (long)len);
        if (k && q != p + len) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    ERR_clear_error();
    return k;
}

EVP_PKEY *crypto_key_from_raw(const char *kind, const char *curve, const uint8_t *p, size_t len)
{
    EVP_PKEY *k = NULL;
    if (strcmp(kind, "ED25519") == 0 || strcmp(kind, "X25519") == 0) {
        if (len == 32)
            k = EVP_PKEY_new_raw_public_key(strcmp(kind, "ED25519") == 0 ? EVP_PKEY_ED25519
                                                                         : EVP_PKEY_X25519,
                                            NULL, p, len);
    } else if (strcmp(kind, "EC") == 0) {
        const char *group = curve_group(curve);
        if (group && len == 1 + 2 * crypto_curve_bytes(curve) && p[0] == 0x04) {
            OSSL_PARAM params[3] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
                OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)p, len),
                OSSL_PARAM_construct_end(),
            };
            EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
            if (pc && EVP_PKEY_fromdata_init(pc) == 1)
                EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params);
            EVP_PKEY_CTX_free(pc);
        }
    }
    ERR_clear_error();
    return k;
}

/* native.keyImportRaw(kind, curve, bytes) -> public key handle */
static JSValue c_key_import_raw(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *kind = crypto_cstr(ctx, argv[0]);
    char *curve = kind ? crypto_cstr(ctx, argv[1]) : NULL;
    const uint8_t *p;
    size_t len;
    JSValue ret = JS_EXCEPTION;
    if (!curve || crypto_get_bytes(ctx, argv[2], &p, &len) < 0)
        goto done;
    EVP_PKEY *k = crypto_key_from_raw(kind, curve, p, len);
    if (!k) {
        if (strcmp(kind, "EC") == 0)
            crypto_throw_dom(ctx, "DataError", "a raw %s public key is an uncompressed point: 0x04 and "
                                        "then %zu bytes",
                      curve, 2 * crypto_curve_bytes(curve));
        else
            crypto_throw_dom(ctx, "DataError", "a raw %s public key is 32 bytes, got %zu", kind, len);
        goto done;
    }
    k = expect_kind(ctx, k, kind, curve);
    if (k)
        ret = crypto_wrap_key(ctx, k);
done:
    free(kind);
    free(curve);
    return ret;
}

/* A Uint8Array property of a JWK parts object, as a BIGNUM (NULL if absent). */
static int part_bn(JSContext *ctx, JSValueConst parts, const char *name, BIGNUM **out)
{
    *out = NULL;
    JSValue v = JS_GetPropertyStr(ctx, parts, name);
    if (JS_IsUndefined(v) || JS_IsNull(v))
        return 0;
    const uint8_t *p;
    size_t len;
    int rc = crypto_get_bytes(ctx, v, &p, &len);
    if (rc == 0)
        *out = BN_bin2bn(p, (int)len, NULL);
    JS_FreeValue(ctx, v);
    return rc;
}

static int part_bytes(JSContext *ctx, JSValueConst parts, const char *name, buf_t *out)
{
    JSValue v = JS_GetPropertyStr(ctx, parts, name);
    if (JS_IsUndefined(v) || JS_IsNull(v))
        return 0;
    const uint8_t *p;
    size_t len;
    int rc = crypto_get_bytes(ctx, v, &p, &len);
    if (rc == 0) {
        buf_append(out, p, len);
        if (len == 0)
            buf_reserve(out, 1); /* present, but empty */
    }
    JS_FreeValue(ctx, v);
    return rc;
}

EVP_PKEY *crypto_key_from_jwk(const char *kind, const char *curve, const crypto_jwk_t *j)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *pc = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    int selection = j->has_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
    if (strcmp(kind, "RSA") == 0) {
        if (!j->n || !j->e)
            goto done;
        if (j->has_private && (!j->d || !j->p || !j->q || !j->dp || !j->dq || !j->qi))
            goto done;
        bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, j->n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, j->e);
        if (j->has_private) {
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, j->d);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, j->p);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, j->q);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, j->dp);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, j->dq);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, j->qi);
        }
        params = OSSL_PARAM_BLD_to_param(bld);
        pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else if (strcmp(kind, "EC") == 0) {
        const char *group = curve_group(curve);
        size_t n = group ? crypto_curve_bytes(curve) : 0;
        if (!group || j->x_len != n || j->y_len != n || (j->has_private && j->d_len != n))
            goto done;
        uint8_t point[1 + 2 * 66];
        point[0] = 0x04;
        memcpy(point + 1, j->x, n);
        memcpy(point + 1 + n, j->y, n);
        bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * n);
        BIGNUM *d = NULL;
        if (j->has_private) {
            d = BN_bin2bn(j->dbytes, (int)j->d_len, NULL);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d);
        }
        params = OSSL_PARAM_BLD_to_param(bld);
        BN_clear_free(d);
        pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else if (strcmp(kind, "ED25519") == 0 || strcmp(kind, "X25519") == 0) {
        int id = strcmp(kind, "ED25519") == 0 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519;
        if (j->x_len != 32 || (j->has_private && j->d_len != 32))
            goto done;
        if (j->has_private) {
            k = EVP_PKEY_new_raw_private_key(id, NULL, j->dbytes, 32);
            /* The given public part must be the key's own. */
            uint8_t pub[32];
            size_t pl = sizeof pub;
            if (k && (EVP_PKEY_get_raw_public_key(k, pub, &pl) != 1 || pl != 32 ||
                      memcmp(pub, j->x, 32) != 0)) {
                EVP_PKEY_free(k);
                k = NULL;
            }
        } else {
            k = EVP_PKEY_new_raw_public_key(id, NULL, j->x, 32);
        }
        goto done;
    } else {
        goto done;
    }
    if (pc && params && EVP_PKEY_fromdata_init(pc) == 1)
        EVP_PKEY_fromdata(pc, &k, selection, params);
done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    return k;
}

/* native.keyImportJwk(kind, curve, parts) -> handle, parts holding Uint8Arrays:
 * RSA n e [d p q dp dq qi]; EC x y [d]; OKP x [d]. */
static JSValue c_key_import_jwk(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *kind = crypto_cstr(ctx, argv[0]);
    char *curve = kind ? crypto_cstr(ctx, argv[1]) : NULL;
    JSValue ret = JS_EXCEPTION;
    crypto_jwk_t j;
    memset(&j, 0, sizeof j);
    buf_t x = BUF_INIT, y = BUF_INIT, d = BUF_INIT;
    if (!curve)
        goto done;
    JSValueConst parts = argv[2];
    if (strcmp(kind, "RSA") == 0) {
        if (part_bn(ctx, parts, "n", &j.n) < 0 || part_bn(ctx, parts, "e", &j.e) < 0 ||
            part_bn(ctx, parts, "d", &j.d) < 0 || part_bn(ctx, parts, "p", &j.p) < 0 ||
            part_bn(ctx, parts, "q", &j.q) < 0 || part_bn(ctx, parts, "dp", &j.dp) < 0 ||
            part_bn(ctx, parts, "dq", &j.dq) < 0 || part_bn(ctx, parts, "qi", &j.qi) < 0)
            goto done;
        j.has_private = j.d != NULL;
    } else {
        if (part_bytes(ctx, parts, "x", &x) < 0 || part_bytes(ctx, parts, "y", &y) < 0 ||
            part_bytes(ctx, parts, "d", &d) < 0)
            goto done;
        j.x = x.data;
        j.x_len = x.len;
        j.y = y.data;
        j.y_len = y.len;
        j.dbytes = d.data;
        j.d_len = d.len;
        j.has_private = d.data != NULL;
    }
    EVP_PKEY *k = crypto_key_from_jwk(kind, curve, &j);
    if (!k) {
        crypto_throw_dom(ctx, "DataError", "the JWK does not describe a valid %s%s%s %s key", kind,
                  *curve ? " " : "", curve, j.has_private ? "private" : "public");
        goto done;
    }
    k = expect_kind(ctx, k, kind, curve);
    if (k)
        ret = crypto_wrap_key(ctx, k);
done:
    BN_free(j.n);
    BN_free(j.e);
    BN_clear_free(j.d);
    BN_clear_free(j.p);
    BN_clear_free(j.q);
    BN_clear_free(j.dp);
    BN_clear_free(j.dq);
    BN_clear_free(j.qi);
    buf_deinit(&x);
    buf_deinit(&y);
    OPENSSL_cleanse(d.data, d.len);
    buf_deinit(&d);
    free(kind);
    free(curve);
    return ret;
}

static int set_bn_prop(JSContext *ctx, JSValue obj, const char *prop, EVP_PKEY *k,
                       const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1 || !bn)
        return 0;
    size_t n = (size_t)BN_num_bytes(bn);
    if (pad > n)
        n = pad;
    uint8_t *tmp = xmalloc(n ? n : 1);
    BN_bn2binpad(bn, tmp, (int)n);
    BN_clear_free(bn);
    JSValue v = crypto_new_bytes(ctx, tmp, n);
    OPENSSL_cleanse(tmp, n);
    free(tmp);
    if (JS_IsException(v))
        return -1;
    JS_SetPropertyStr(ctx, obj, prop, v);
    return 1;
}

/* The uncompressed public point of an EC key. */
static int ec_point(EVP_PKEY *k, uint8_t *out, size_t cap, size_t *len)
{
    EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                   OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED);
    return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, cap, len) == 1 ? 0 : -1;
}

/* native.keyExport(handle, "spki"|"pkcs8"|"raw"|"jwk") -> bytes, or for jwk
 * an object of Uint8Array parts (as keyImportJwk takes). */
static JSValue c_key_export(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    EVP_PKEY *k = crypto_key_arg(ctx, argv[0]);
    char *format = k ? crypto_cstr(ctx, argv[1]) : NULL;
    if (!format)
        return JS_EXCEPTION;
    JSValue ret = JS_EXCEPTION;
    const char *kind = key_kind(k);
    if (strcmp(format, "spki") == 0 || strcmp(format, "pkcs8") == 0) {
        unsigned char *der = NULL;
        int n;
        if (strcmp(format, "spki") == 0) {
            n = i2d_PUBKEY(k, &der);
        } else {
            PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(k);
            n = info ? i2d_PKCS8_PRIV_KEY_INFO(info, &der) : -1;
            PKCS8_PRIV_KEY_INFO_free(info);
        }
        if (n <= 0) {
            crypto_throw_dom(ctx, "OperationError", "the key could not be encoded as %s", format);
        } else {
            ret = crypto_new_bytes(ctx, der, (size_t)n);
        }
        OPENSSL_free(der);
    } else if (strcmp(format, "raw") == 0) {
        uint8_t buf[200];
        size_t n = sizeof buf;
        int ok;
        if (strcmp(kind, "EC") == 0)
            ok = ec_point(k, buf, sizeof buf, &n) == 0;
        else
            ok = EVP_PKEY_get_raw_public_key(k, buf, &n) == 1;
        if (ok)
            ret = crypto_new_bytes(ctx, buf, n);
        else
            crypto_throw_dom(ctx, "OperationError", "the key has no raw form");
    } else { /* jwk parts */
        JSValue o = JS_NewObject(ctx);
        int rc = 0;
        if (strcmp(kind, "RSA") == 0) {
            rc |= set_bn_prop(ctx, o, "n", k, OSSL_PKEY_PARAM_RSA_N, 0);
            rc |= set_bn_prop(ctx, o, "e", k, OSSL_PKEY_PARAM_RSA_E, 0);
            if (key_is_private(k)) {
                set_bn_prop(ctx, o, "d", k, OSSL_PKEY_PARAM_RSA_D, 0);
                set_bn_prop(ctx, o, "p", k, OSSL_PKEY_PARAM_RSA_FACTOR1, 0);
                set_bn_prop(ctx, o, "q", k, OSSL_PKEY_PARAM_RSA_FACTOR2, 0);
                set_bn_prop(ctx, o, "dp", k, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0);
                set_bn_prop(ctx, o, "dq", k, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0);
                set_bn_prop(ctx, o, "qi", k, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
            }
        } else if (strcmp(kind, "EC") == 0) {
            char curve[16] = "";
            crypto_key_curve(k, curve, sizeof curve);
            size_t cb = crypto_curve_bytes(curve);
            uint8_t pt[200];
            size_t n = 0;
            if (ec_point(k, pt, sizeof pt, &n) == 0 && n == 1 + 2 * cb) {
                JS_SetPropertyStr(ctx, o, "x", crypto_new_bytes(ctx, pt + 1, cb));
                JS_SetPropertyStr(ctx, o, "y", crypto_new_bytes(ctx, pt + 1 + cb, cb));
            }
            if (key_is_private(k))
                set_bn_prop(ctx, o, "d", k, OSSL_PKEY_PARAM_PRIV_KEY, cb);
        } else {
            uint8_t b[64];
            size_t n = sizeof b;
            if (EVP_PKEY_get_raw_public_key(k, b, &n) == 1)
                JS_SetPropertyStr(ctx, o, "x", crypto_new_bytes(ctx, b, n));
            n = sizeof b;
            if (key_is_private(k) && EVP_PKEY_get_raw_private_key(k, b, &n) == 1) {
                JS_SetPropertyStr(ctx, o, "d", crypto_new_bytes(ctx, b, n));
                OPENSSL_cleanse(b, sizeof b);
            }
        }
        if (rc < 0) {
            JS_FreeValue(ctx, o);
        } else {
            ret = o;
        }
    }
    ERR_clear_error();
    free(format);
    return ret;
}

/* native.keyInfo(handle) -> {kind, private, bits?, publicExponent?, curve?} */
static JSValue c_key_info(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    EVP_PKEY *k = crypto_key_arg(ctx, argv[0]);
    if (!k)
        return JS_EXCEPTION;
    JSValue o = JS_NewObject(ctx);
    const char *kind = key_kind(k);
    JS_SetPropertyStr(ctx, o, "kind", JS_NewString(ctx, kind ? kind : "?"));
    JS_SetPropertyStr(ctx, o, "private", JS_NewBool(ctx, key_is_private(k)));
    if (kind && strcmp(kind, "RSA") == 0) {
        JS_SetPropertyStr(ctx, o, "bits", JS_NewInt32(ctx, EVP_PKEY_get_bits(k)));
        set_bn_prop(ctx, o, "publicExponent", k, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (kind && strcmp(kind, "EC") == 0) {
        char curve[16] = "";
        crypto_key_curve(k, curve, sizeof curve);
        JS_SetPropertyStr(ctx, o, "curve", JS_NewString(ctx, curve));
    }
    ERR_clear_error();
    return o;
}

/* native.keyPublic(handle) -> the public half, as a new handle */
static JSValue c_key_public(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    EVP_PKEY *k = crypto_key_arg(ctx, argv[0]);
    if (!k)
        return JS_EXCEPTION;
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    EVP_PKEY *pub = n > 0 ? crypto_key_from_der(false, der, (size_t)n) : NULL;
    OPENSSL_free(der);
    if (!pub)
        return crypto_throw_dom(ctx, "OperationError", "the public key could not be derived");
    return crypto_wrap_key(ctx, pub);
}

/* native.generateKeyPair("EC"|"ED25519"|"X25519", curve) -> private handle */
static JSValue c_generate_pair(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *kind = crypto_cstr(ctx, argv[0]);
    char *curve = kind ? crypto_cstr(ctx, argv[1]) : NULL;
    if (!curve) {
        free(kind);
        return JS_EXCEPTION;
    }
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *pc = NULL;
    if (strcmp(kind, "EC") == 0) {
        const char *group = curve_group(curve);
        pc = group ? EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL) : NULL;
        if (pc && EVP_PKEY_keygen_init(pc) == 1 && EVP_PKEY_CTX_set_group_name(pc, group) == 1)
            EVP_PKEY_keygen(pc, &k);
    } else {
        pc = EVP_PKEY_CTX_new_id(strcmp(kind, "ED25519") == 0 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519, NULL);
        if (pc && EVP_PKEY_keygen_init(pc) == 1)
            EVP_PKEY_keygen(pc, &k);
    }
    EVP_PKEY_CTX_free(pc);
    free(kind);
    free(curve);
    if (!k)
        return crypto_throw_dom(ctx, "OperationError", "key generation failed");
    return crypto_wrap_key(ctx, k);
}

static const JSCFunctionListEntry key_funcs[] = {
    JS_CFUNC_DEF("keyImportDer", 4, c_key_import_der),
    JS_CFUNC_DEF("keyImportRaw", 3, c_key_import_raw),
    JS_CFUNC_DEF("keyImportJwk", 3, c_key_import_jwk),
    JS_CFUNC_DEF("keyExport", 2, c_key_export),
    JS_CFUNC_DEF("keyInfo", 1, c_key_info),
    JS_CFUNC_DEF("keyPublic", 1, c_key_public),
    JS_CFUNC_DEF("generateKeyPair", 2, c_generate_pair),
};

void crypto_keys_natives(JSContext *ctx, JSValueConst obj)
{
    JS_SetPropertyFunctionList(ctx, obj, key_funcs, (int)(sizeof key_funcs / sizeof key_funcs[0]));
}
