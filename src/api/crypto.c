/* WebCrypto's primitives on OpenSSL 3 (natives.h): digests, HMAC, RSA
 * (PKCS#1 v1.5, PSS, OAEP), ECDSA and ECDH on P-256/P-384/P-521, Ed25519,
 * X25519, AES (GCM, CBC, CTR, KW), PBKDF2 and HKDF. Keys (import, export,
 * generation) are crypto_keys.c's. The WebCrypto rules (algorithm names,
 * usages, formats) are the prelude's (src/api/web/85_subtle.js); this file
 * does bytes.
 *
 * Asymmetric keys are native objects holding an EVP_PKEY (freed by their
 * finalizer); secret keys are bytes kept in JS. Slow work (RSA key
 * generation, PBKDF2) runs on the thread pool and settles through
 * host->run_callback, so the loop is never blocked by it; without a running
 * event it runs inline. Depends on OpenSSL, libuv, quickjs.h and
 * api/host.h; never on actor/. Errors are thrown as plain Errors whose
 * message starts with the DOMException name the prelude turns them into
 * ("DataError: ..."). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/ec.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "crypto.h"
#include "crypto_int.h"
#include "natives.h"

#define MAX_RSA_BITS 8192
#define MAX_PBKDF2_ITERATIONS 100000000u

JSClassID crypto_key_class_id;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static JSClassID md_class_id;

static void key_once_init(void)
{
    JS_NewClassID(&crypto_key_class_id);
    JS_NewClassID(&md_class_id);
}

static void key_finalizer(JSRuntime *rt, JSValue val)
{
    EVP_PKEY *k = JS_GetOpaque(val, crypto_key_class_id);
    EVP_PKEY_free(k);
}

static JSClassDef key_class = {"CryptoKeyHandle", .finalizer = key_finalizer};

/* ---- helpers ------------------------------------------------------------------------- */

/* Throws a plain Error with the message. */
JSValue crypto_throw_plain(JSContext *ctx, const char *msg)
{
    JSValue e = JS_NewError(ctx);
    if (JS_IsException(e))
        return e;
    JS_DefinePropertyValueStr(ctx, e, "message", JS_NewString(ctx, msg),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    return JS_Throw(ctx, e);
}

/* Throws "<Name>Error: msg" for the prelude to turn into a DOMException. */
JSValue crypto_throw_dom(JSContext *ctx, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
JSValue crypto_throw_dom(JSContext *ctx, const char *name, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    char full[460];
    snprintf(full, sizeof full, "%s: %s", name, msg);
    return crypto_throw_plain(ctx, full);
}

int crypto_get_bytes(JSContext *ctx, JSValueConst v, const uint8_t **p, size_t *len)
{
    size_t off = 0, n = 0, bpe = 0, size = 0;
    JSValue ab = JS_GetTypedArrayBuffer(ctx, v, &off, &n, &bpe);
    if (JS_IsException(ab))
        return -1;
    uint8_t *base = JS_GetArrayBuffer(ctx, &size, ab);
    JS_FreeValue(ctx, ab);
    if (!base) {
        if (JS_HasException(ctx))
            return -1;
        *p = (const uint8_t *)"";
        *len = 0;
        return 0;
    }
    *p = base + off;
    *len = n;
    return 0;
}

JSValue crypto_new_bytes(JSContext *ctx, const uint8_t *p, size_t len)
{
    JSValue ab = JS_NewArrayBufferCopy(ctx, len ? p : (const uint8_t *)"", len);
    if (JS_IsException(ab))
        return ab;
    JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
    JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
    JS_FreeValue(ctx, ab);
    return u8;
}

static const EVP_MD *md_of(const char *name)
{
    if (strcmp(name, "SHA-1") == 0)
        return EVP_sha1();
    if (strcmp(name, "SHA-256") == 0)
        return EVP_sha256();
    if (strcmp(name, "SHA-384") == 0)
        return EVP_sha384();
    if (strcmp(name, "SHA-512") == 0)
        return EVP_sha512();
    return NULL;
}

/* The digest named by argv[i], or NULL with a NotSupportedError pending. */
const EVP_MD *crypto_md_arg(JSContext *ctx, JSValueConst v)
{
    const char *s = JS_ToCString(ctx, v);
    if (!s)
        return NULL;
    const EVP_MD *md = md_of(s);
    if (!md)
        crypto_throw_dom(ctx, "NotSupportedError", "the hash %s is not supported (use SHA-1, SHA-256, "
                                            "SHA-384 or SHA-512)", s);
    JS_FreeCString(ctx, s);
    return md;
}

EVP_PKEY *crypto_key_arg(JSContext *ctx, JSValueConst v)
{
    EVP_PKEY *k = JS_GetOpaque(v, crypto_key_class_id);
    if (!k)
        JS_ThrowTypeError(ctx, "crypto: not a key handle");
    return k;
}

JSValue crypto_wrap_key(JSContext *ctx, EVP_PKEY *k)
{
    JSValue o = JS_NewObjectClass(ctx, (int)crypto_key_class_id);
    if (JS_IsException(o)) {
        EVP_PKEY_free(k);
        return o;
    }
    JS_SetOpaque(o, k);
    return o;
}

char *crypto_cstr(JSContext *ctx, JSValueConst v)
{
    const char *s = JS_ToCString(ctx, v);
    if (!s)
        return NULL;
    char *r = xstrdup(s);
    JS_FreeCString(ctx, s);
    return r;
}

/* ---- digests and MACs ------------------------------------------------------------------ */

/* native.digest(name, bytes) -> Uint8Array */
static JSValue c_digest(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const EVP_MD *md = crypto_md_arg(ctx, argv[0]);
    const uint8_t *p;
    size_t len;
    if (!md || crypto_get_bytes(ctx, argv[1], &p, &len) < 0)
        return JS_EXCEPTION;
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(p, len, out, &n, md, NULL) != 1)
        return crypto_throw_dom(ctx, "OperationError", "the digest failed");
    return crypto_new_bytes(ctx, out, n);
}

/* native.hmac(hash, key, data) -> Uint8Array */
static JSValue c_hmac(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const EVP_MD *md = crypto_md_arg(ctx, argv[0]);
    const uint8_t *k, *d;
    size_t klen, dlen;
    if (!md || crypto_get_bytes(ctx, argv[1], &k, &klen) < 0 || crypto_get_bytes(ctx, argv[2], &d, &dlen) < 0)
        return JS_EXCEPTION;
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(md, k, (int)klen, d, dlen, out, &n))
        return crypto_throw_dom(ctx, "OperationError", "HMAC failed");
    return crypto_new_bytes(ctx, out, n);
}

/* native.timingSafeEqual(a, b) -> boolean (same lengths: the prelude checks) */
static JSValue c_timing_safe_equal(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const uint8_t *a, *b;
    size_t alen, blen;
    if (crypto_get_bytes(ctx, argv[0], &a, &alen) < 0 || crypto_get_bytes(ctx, argv[1], &b, &blen) < 0)
        return JS_EXCEPTION;
    if (alen != blen)
        return JS_FALSE;
    return JS_NewBool(ctx, CRYPTO_memcmp(a, b, alen) == 0);
}

/* Incremental digests for crypto.DigestStream: native.digestNew(name) -> handle,
 * native.digestUpdate(handle, bytes), native.digestFinal(handle) -> Uint8Array. */

static void md_finalizer(JSRuntime *rt, JSValue val)
{
    EVP_MD_CTX_free(JS_GetOpaque(val, md_class_id));
}

static JSClassDef md_class = {"DigestHandle", .finalizer = md_finalizer};

static JSValue c_digest_new(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const EVP_MD *md = crypto_md_arg(ctx, argv[0]);
    if (!md)
        return JS_EXCEPTION;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return crypto_throw_dom(ctx, "OperationError", "the digest could not start");
    }
    JSValue o = JS_NewObjectClass(ctx, (int)md_class_id);
    if (JS_IsException(o)) {
        EVP_MD_CTX_free(c);
        return o;
    }
    JS_SetOpaque(o, c);
    return o;
}

static JSValue c_digest_update(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    EVP_MD_CTX *c = JS_GetOpaque(argv[0], md_class_id);
    const uint8_t *p;
    size_t len;
    if (!c)
        return JS_ThrowTypeError(ctx, "DigestStream: the digest is already finished");
    if (crypto_get_bytes(ctx, argv[1], &p, &len) < 0)
        return JS_EXCEPTION;
    EVP_DigestUpdate(c, p, len);
    return JS_UNDEFINED;
}

static JSValue c_digest_final(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    EVP_MD_CTX *c = JS_GetOpaque(argv[0], md_class_id);
    if (!c)
        return JS_ThrowTypeError(ctx, "DigestStream: the digest is already finished");
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
    JS_SetOpaque(argv[0], NULL);
    return crypto_new_bytes(ctx, out, n);
}

/* ---- AES ----------------------------------------------------------------------------------- */

static const EVP_CIPHER *aes_cipher(const char *mode, size_t klen)
{
    int bits = (int)klen * 8;
    if (strcmp(mode, "GCM") == 0)
        return bits == 128 ? EVP_aes_128_gcm() : bits == 192 ? EVP_aes_192_gcm() : bits == 256 ? EVP_aes_256_gcm() : NULL;
    if (strcmp(mode, "CBC") == 0)
        return bits == 128 ? EVP_aes_128_cbc() : bits == 192 ? EVP_aes_192_cbc() : bits == 256 ? EVP_aes_256_cbc() : NULL;
    if (strcmp(mode, "CTR") == 0)
        return bits == 128 ? EVP_aes_128_ctr() : bits == 192 ? EVP_aes_192_ctr() : bits == 256 ? EVP_aes_256_ctr() : NULL;
    if (strcmp(mode, "KW") == 0)
        return bits == 128 ? EVP_aes_128_wrap() : bits == 192 ? EVP_aes_192_wrap() : bits == 256 ? EVP_aes_256_wrap() : NULL;
    return NULL;
}

/* One pass of cipher over in; out must have room for inlen + a block. */
static int run_cipher(const EVP_CIPHER *c, bool enc, const uint8_t *key, const uint8_t *iv,
                      const uint8_t *in, size_t inlen, buf_t *out)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int ok = x && EVP_CipherInit_ex(x, c, NULL, key, iv, enc ? 1 : 0) == 1;
    buf_reserve(out, inlen + 32);
    int n = 0, m = 0;
    if (ok && inlen)
        ok = EVP_CipherUpdate(x, out->data + out->len, &n, in, (int)inlen) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(x, out->data + out->len + n, &m) == 1;
    if (ok)
        out->len += (size_t)(n + m);
    EVP_CIPHER_CTX_free(x);
    return ok ? 0 : -1;
}

/* native.aes(mode, encrypt, key, iv|null, data, additionalData|null, tagBits, counterBits) */
static JSValue c_aes(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *mode = crypto_cstr(ctx, argv[0]);
    if (!mode)
        return JS_EXCEPTION;
    int enc = JS_ToBool(ctx, argv[1]);
    const uint8_t *key, *iv = NULL, *data, *aad = NULL;
    size_t klen, ivlen = 0, dlen, aadlen = 0;
    int32_t tag_bits = 128, ctr_bits = 64;
    JSValue ret = JS_EXCEPTION;
    buf_t out = BUF_INIT;
    EVP_CIPHER_CTX *x = NULL;
    if (crypto_get_bytes(ctx, argv[2], &key, &klen) < 0 ||
        (!JS_IsNull(argv[3]) && crypto_get_bytes(ctx, argv[3], &iv, &ivlen) < 0) ||
        crypto_get_bytes(ctx, argv[4], &data, &dlen) < 0 ||
        (!JS_IsNull(argv[5]) && crypto_get_bytes(ctx, argv[5], &aad, &aadlen) < 0) ||
        JS_ToInt32(ctx, &tag_bits, argv[6]) < 0 || JS_ToInt32(ctx, &ctr_bits, argv[7]) < 0)
        goto done;
    const EVP_CIPHER *c = aes_cipher(mode, klen);
    if (!c) {
        crypto_throw_dom(ctx, "DataError", "an AES key must be 128, 192 or 256 bits long");
        goto done;
    }
    if (strcmp(mode, "GCM") == 0) {
        size_t tag = (size_t)tag_bits / 8;
        if (ivlen == 0) {
            crypto_throw_dom(ctx, "OperationError", "AES-GCM needs a non-empty iv");
            goto done;
        }
        if (!enc && dlen < tag) {
            crypto_throw_dom(ctx, "OperationError", "the data is shorter than the authentication tag");
            goto done;
        }
        size_t clen = enc ? dlen : dlen - tag;
        x = EVP_CIPHER_CTX_new();
        int n = 0, ok = x && EVP_CipherInit_ex(x, c, NULL, NULL, NULL, enc) == 1 &&
                        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen, NULL) == 1 &&
                        EVP_CipherInit_ex(x, NULL, NULL, key, iv, enc) == 1;
        if (ok && aadlen)
            ok = EVP_CipherUpdate(x, NULL, &n, aad, (int)aadlen) == 1;
        buf_reserve(&out, clen + tag + 16);
        if (ok && clen)
            ok = EVP_CipherUpdate(x, out.data, &n, data, (int)clen) == 1;
        out.len = clen ? (size_t)n : 0;
        if (ok && !enc)
            ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, (int)tag, (void *)(data + clen)) == 1;
        int m = 0;
        if (ok)
            ok = EVP_CipherFinal_ex(x, out.data + out.len, &m) == 1;
        if (!ok) {
            crypto_throw_dom(ctx, "OperationError", enc ? "AES-GCM encryption failed"
                                                 : "AES-GCM decryption failed: the data or its "
                                                   "additional data was altered, or the key or iv "
                                                   "is wrong");
            goto done;
        }
        out.len += (size_t)m;
        if (enc) {
            uint8_t t[16];
            if (EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, (int)tag, t) != 1) {
                crypto_throw_dom(ctx, "OperationError", "AES-GCM could not make its tag");
                goto done;
            }
            buf_append(&out, t, tag);
        }
    } else if (strcmp(mode, "CBC") == 0) {
        if (ivlen != 16) {
            crypto_throw_dom(ctx, "OperationError", "AES-CBC needs a 16-byte iv, got %zu bytes", ivlen);
            goto done;
        }
        if (run_cipher(c, enc, key, iv, data, dlen, &out) < 0) {
            crypto_throw_dom(ctx, "OperationError", enc ? "AES-CBC encryption failed"
                                                 : "AES-CBC decryption failed: bad padding (the "
                                                   "data was altered, or the key or iv is wrong)");
            goto done;
        }
    } else if (strcmp(mode, "CTR") == 0) {
        if (ivlen != 16) {
            crypto_throw_dom(ctx, "OperationError", "AES-CTR needs a 16-byte counter");
            goto done;
        }
        if (ctr_bits < 1 || ctr_bits > 128) {
            crypto_throw_dom(ctx, "OperationError", "AES-CTR's length must be from 1 to 128");
            goto done;
        }
        /* The low ctr_bits bits count and wrap; OpenSSL counts over all 128,
         * so the data is cut where the counter would wrap. */
        uint8_t block[16];
        memcpy(block, iv, 16);
        size_t blocks = (dlen + 15) / 16;
        size_t done_len = 0;
        while (done_len < dlen) {
            /* blocks left before the counter wraps */
            unsigned __int128 ctr = 0, limit;
            for (int i = 0; i < 16; i++)
                ctr = (ctr << 8) | block[i];
            unsigned __int128 mask = ctr_bits == 128 ? ~(unsigned __int128)0
                                                     : (((unsigned __int128)1 << ctr_bits) - 1);
            unsigned __int128 low = ctr & mask;
            limit = mask - low + 1; /* 0 when ctr_bits == 128 and low == 0: no wrap */
            size_t left = (dlen - done_len + 15) / 16;
            size_t now = left;
            if (ctr_bits < 128 && limit < (unsigned __int128)left)
                now = (size_t)limit;
            if (blocks > 0 && ctr_bits < 64 && ((unsigned __int128)1 << ctr_bits) < (unsigned __int128)blocks) {
                crypto_throw_dom(ctx, "OperationError", "AES-CTR: the data is longer than the counter "
                                                 "allows without repeating");
                goto done;
            }
            size_t bytes = now * 16 < dlen - done_len ? now * 16 : dlen - done_len;
            if (run_cipher(c, true, key, block, data + done_len, bytes, &out) < 0) {
                crypto_throw_dom(ctx, "OperationError", "AES-CTR failed");
                goto done;
            }
            done_len += bytes;
            /* The counter part starts over at zero; the rest stays. */
            unsigned __int128 next = (ctr & ~mask) | ((low + now) & mask);
            for (int i = 15; i >= 0; i--) {
                block[i] = (uint8_t)next;
                next >>= 8;
            }
        }
    } else { /* KW */
        if (dlen % 8 != 0 || (enc && dlen < 16) || (!enc && dlen < 24)) {
            crypto_throw_dom(ctx, "OperationError", "AES-KW takes a multiple of 8 bytes, at least %d",
                      enc ? 16 : 24);
            goto done;
        }
        x = EVP_CIPHER_CTX_new();
        EVP_CIPHER_CTX_set_flags(x, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        int n = 0, m = 0;
        buf_reserve(&out, dlen + 16);
        int ok = EVP_CipherInit_ex(x, c, NULL, key, NULL, enc) == 1 &&
                 EVP_CipherUpdate(x, out.data, &n, data, (int)dlen) == 1 &&
                 EVP_CipherFinal_ex(x, out.data + n, &m) == 1;
        if (!ok) {
            crypto_throw_dom(ctx, "OperationError", enc ? "AES-KW wrapping failed"
                                                 : "AES-KW unwrapping failed: the data was altered "
                                                   "or the key is wrong");
            goto done;
        }
        out.len = (size_t)(n + m);
    }
    ret = crypto_new_bytes(ctx, out.data, out.len);
done:
    EVP_CIPHER_CTX_free(x);
    buf_deinit(&out);
    free(mode);
    return ret;
}

/* ---- signatures, encryption, agreement ------------------------------------------------------------- */

/* WebCrypto's ECDSA signatures are r || s, each the curve's size; OpenSSL's are DER. */
static int ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n, uint8_t *out)
{
    const unsigned char *q = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)len);
    if (!sig)
        return -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, out, (int)n) == (int)n && BN_bn2binpad(s, out + n, (int)n) == (int)n;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

static int ecdsa_raw_to_der(const uint8_t *raw, size_t n, unsigned char **der, int *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)n, NULL), *s = BN_bin2bn(raw + n, (int)n, NULL);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return -1;
    }
    *der = NULL;
    *der_len = i2d_ECDSA_SIG(sig, der);
    ECDSA_SIG_free(sig);
    return *der_len > 0 ? 0 : -1;
}

/* Sets up a DigestSign/Verify context for alg. */
static EVP_MD_CTX *sig_ctx(EVP_PKEY *k, const char *alg, const EVP_MD *md, int salt, bool sign)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    const EVP_MD *use = strcmp(alg, "Ed25519") == 0 ? NULL : md;
    int ok = mc && (sign ? EVP_DigestSignInit(mc, &pc, use, NULL, k)
                         : EVP_DigestVerifyInit(mc, &pc, use, NULL, k)) == 1;
    if (ok && strcmp(alg, "RSA-PSS") == 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) == 1;
    else if (ok && strcmp(alg, "RSASSA-PKCS1-v1_5") == 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
    if (!ok) {
        EVP_MD_CTX_free(mc);
        return NULL;
    }
    return mc;
}

/* native.sign(alg, handle, hash|"", data, saltLength) -> signature */
static JSValue c_sign(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *alg = crypto_cstr(ctx, argv[0]);
    EVP_PKEY *k = alg ? crypto_key_arg(ctx, argv[1]) : NULL;
    const EVP_MD *md = NULL;
    const uint8_t *d;
    size_t dlen;
    int32_t salt = 0;
    JSValue ret = JS_EXCEPTION;
    if (!k)
        goto done;
    if (strcmp(alg, "Ed25519") != 0 && !(md = crypto_md_arg(ctx, argv[2])))
        goto done;
    if (crypto_get_bytes(ctx, argv[3], &d, &dlen) < 0 || JS_ToInt32(ctx, &salt, argv[4]) < 0)
        goto done;
    EVP_MD_CTX *mc = sig_ctx(k, alg, md, salt, true);
    size_t n = 0;
    uint8_t *sig = NULL;
    if (mc && EVP_DigestSign(mc, NULL, &n, d, dlen) == 1) {
        sig = xmalloc(n);
        if (EVP_DigestSign(mc, sig, &n, d, dlen) != 1) {
            free(sig);
            sig = NULL;
        }
    }
    EVP_MD_CTX_free(mc);
    if (!sig) {
        crypto_throw_dom(ctx, "OperationError", "%s signing failed%s", alg,
                  strcmp(alg, "RSA-PSS") == 0 ? " (is the salt too long for the key?)" : "");
        goto done;
    }
    if (strcmp(alg, "ECDSA") == 0) {
        char curve[16] = "";
        crypto_key_curve(k, curve, sizeof curve);
        size_t cb = crypto_curve_bytes(curve);
        uint8_t raw[2 * 66];
        if (ecdsa_der_to_raw(sig, n, cb, raw) < 0) {
            free(sig);
            crypto_throw_dom(ctx, "OperationError", "ECDSA signing failed");
            goto done;
        }
        ret = crypto_new_bytes(ctx, raw, 2 * cb);
    } else {
        ret = crypto_new_bytes(ctx, sig, n);
    }
    free(sig);
done:
    ERR_clear_error();
    free(alg);
    return ret;
}

/* native.verify(alg, handle, hash|"", signature, data, saltLength) -> boolean */
static JSValue c_verify(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    char *alg = crypto_cstr(ctx, argv[0]);
    EVP_PKEY *k = alg ? crypto_key_arg(ctx, argv[1]) : NULL;
    const EVP_MD *md = NULL;
    const uint8_t *s, *d;
    size_t slen, dlen;
    int32_t salt = 0;
    JSValue ret = JS_EXCEPTION;
    if (!k)
        goto done;
    if (strcmp(alg, "Ed25519") != 0 && !(md = crypto_md_arg(ctx, argv[2])))
        goto done;
    if (crypto_get_bytes(ctx, argv[3], &s, &slen) < 0 || crypto_get_bytes(ctx, argv[4], &d, &dlen) < 0 ||
        JS_ToInt32(ctx, &salt, argv[5]) < 0)
        goto done;
    unsigned char *der = NULL;
    int der_len = 0;
    if (strcmp(alg, "ECDSA") == 0) {
        char curve[16] = "";
        crypto_key_curve(k, curve, sizeof curve);
        size_t cb = crypto_curve_bytes(curve);
        if (slen != 2 * cb || ecdsa_raw_to_der(s, cb, &der, &der_len) < 0) {
            ret = JS_FALSE;
            goto done;
        }
        s = der;
        slen = (size_t)der_len;
    }
    EVP_MD_CTX *mc = sig_ctx(k, alg, md, salt, false);
    int ok = mc ? EVP_DigestVerify(mc, s, slen, d, dlen) : -1;
    EVP_MD_CTX_free(mc);
    OPENSSL_free(der);
    ret = JS_NewBool(ctx, ok == 1);
done:
    ERR_clear_error();
    free(alg);
    return ret;
}

/* native.rsaOaep(encrypt, handle, hash, label|null, data) -> bytes */
static JSValue c_rsa_oaep(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int enc = JS_ToBool(ctx, argv[0]);
    EVP_PKEY *k = crypto_key_arg(ctx, argv[1]);
    const EVP_MD *md = k ? crypto_md_arg(ctx, argv[2]) : NULL;
    const uint8_t *label = NULL, *d;
    size_t llen = 0, dlen;
    if (!md || (!JS_IsNull(argv[3]) && crypto_get_bytes(ctx, argv[3], &label, &llen) < 0) ||
        crypto_get_bytes(ctx, argv[4], &d, &dlen) < 0)
        return JS_EXCEPTION;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    int ok = pc && (enc ? EVP_PKEY_encrypt_init(pc) : EVP_PKEY_decrypt_init(pc)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(pc, md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) == 1;
    if (ok && llen) {
        unsigned char *l = OPENSSL_memdup(label, llen);
        ok = l && EVP_PKEY_CTX_set0_rsa_oaep_label(pc, l, (int)llen) == 1;
        if (!ok)
            OPENSSL_free(l);
    }
    size_t n = 0;
    if (ok)
        ok = (enc ? EVP_PKEY_encrypt(pc, NULL, &n, d, dlen) : EVP_PKEY_decrypt(pc, NULL, &n, d, dlen)) == 1;
    uint8_t *out = ok ? xmalloc(n ? n : 1) : NULL;
    if (ok)
        ok = (enc ? EVP_PKEY_encrypt(pc, out, &n, d, dlen) : EVP_PKEY_decrypt(pc, out, &n, d, dlen)) == 1;
    EVP_PKEY_CTX_free(pc);
    JSValue ret = ok ? crypto_new_bytes(ctx, out, n)
                     : crypto_throw_dom(ctx, "OperationError", enc ? "RSA-OAEP encryption failed (is the data too long for the key?)"
                                                            : "RSA-OAEP decryption failed");
    free(out);
    ERR_clear_error();
    return ret;
}

/* native.derive(privateHandle, publicHandle) -> the shared secret (ECDH, X25519) */
static JSValue c_derive(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    EVP_PKEY *priv = crypto_key_arg(ctx, argv[0]);
    EVP_PKEY *pub = priv ? crypto_key_arg(ctx, argv[1]) : NULL;
    if (!pub)
        return JS_EXCEPTION;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    size_t n = 0;
    int ok = pc && EVP_PKEY_derive_init(pc) == 1 && EVP_PKEY_derive_set_peer(pc, pub) == 1 &&
             EVP_PKEY_derive(pc, NULL, &n) == 1;
    uint8_t *out = ok ? xmalloc(n ? n : 1) : NULL;
    if (ok)
        ok = EVP_PKEY_derive(pc, out, &n) == 1;
    EVP_PKEY_CTX_free(pc);
    JSValue ret = ok ? crypto_new_bytes(ctx, out, n)
                     : crypto_throw_dom(ctx, "OperationError", "the key agreement failed (are both keys "
                                                        "on the same curve?)");
    if (out)
        OPENSSL_cleanse(out, n);
    free(out);
    ERR_clear_error();
    return ret;
}

/* native.hkdf(hash, key, salt, info, bits) -> bytes */
static JSValue c_hkdf(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const EVP_MD *md = crypto_md_arg(ctx, argv[0]);
    const uint8_t *k, *salt, *info;
    size_t klen, slen, ilen;
    int32_t bits;
    if (!md || crypto_get_bytes(ctx, argv[1], &k, &klen) < 0 || crypto_get_bytes(ctx, argv[2], &salt, &slen) < 0 ||
        crypto_get_bytes(ctx, argv[3], &info, &ilen) < 0 || JS_ToInt32(ctx, &bits, argv[4]) < 0)
        return JS_EXCEPTION;
    size_t n = (size_t)bits / 8;
    if (n == 0 || n > 255 * (size_t)EVP_MD_get_size(md))
        return crypto_throw_dom(ctx, "OperationError", "HKDF can make 8 to %d bits with this hash",
                         255 * EVP_MD_get_size(md) * 8);
    uint8_t zero = 0;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    uint8_t *out = xmalloc(n);
    int ok = pc && EVP_PKEY_derive_init(pc) == 1 && EVP_PKEY_CTX_set_hkdf_md(pc, md) == 1 &&
             EVP_PKEY_CTX_set1_hkdf_salt(pc, slen ? salt : &zero, (int)slen) == 1 &&
             EVP_PKEY_CTX_set1_hkdf_key(pc, klen ? k : &zero, (int)klen) == 1 &&
             (ilen == 0 || EVP_PKEY_CTX_add1_hkdf_info(pc, info, (int)ilen) == 1) &&
             EVP_PKEY_derive(pc, out, &n) == 1;
    EVP_PKEY_CTX_free(pc);
    JSValue ret = ok ? crypto_new_bytes(ctx, out, n) : crypto_throw_dom(ctx, "OperationError", "HKDF failed");
    OPENSSL_cleanse(out, n);
    free(out);
    return ret;
}

/* ---- slow work on the thread pool --------------------------------------------------------------- */

typedef struct job {
    uv_work_t req;
    struct api_crypto_job link; /* in the owner's list (crypto.h) */
    api_host_t *host;
    api_state_t *owner;
    JSContext *ctx;
    JSValue cb;
    bool cancelled;
    int kind; /* JOB_RSA, JOB_PBKDF2 */
    /* inputs */
    int bits;
    BIGNUM *pubexp;
    const EVP_MD *md;
    uint8_t *pass, *salt;
    size_t pass_len, salt_len;
    uint32_t iterations;
    /* outputs */
    EVP_PKEY *key;
    uint8_t *out;
    size_t out_len;
    char err[200];
} job_t;

enum { JOB_RSA = 1, JOB_PBKDF2 };

static void job_run(job_t *j)
{
    if (j->kind == JOB_RSA) {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (!pc || EVP_PKEY_keygen_init(pc) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(pc, j->bits) != 1 ||
            EVP_PKEY_CTX_set1_rsa_keygen_pubexp(pc, j->pubexp) != 1 || EVP_PKEY_keygen(pc, &j->key) != 1)
            snprintf(j->err, sizeof j->err, "OperationError: RSA key generation failed");
        EVP_PKEY_CTX_free(pc);
    } else {
        j->out = xmalloc(j->out_len);
        if (PKCS5_PBKDF2_HMAC((const char *)j->pass, (int)j->pass_len, j->salt, (int)j->salt_len,
                              (int)j->iterations, j->md, (int)j->out_len, j->out) != 1)
            snprintf(j->err, sizeof j->err, "OperationError: PBKDF2 failed");
    }
    ERR_clear_error();
}

static void job_free(job_t *j)
{
    BN_free(j->pubexp);
    EVP_PKEY_free(j->key);
    if (j->pass)
        OPENSSL_cleanse(j->pass, j->pass_len);
    free(j->pass);
    free(j->salt);
    if (j->out)
        OPENSSL_cleanse(j->out, j->out_len);
    free(j->out);
    free(j);
}

/* The job's result as a JS value (consumes the key), or an Error. */
static JSValue job_result(JSContext *ctx, job_t *j, bool *failed)
{
    *failed = j->err[0] != '\0';
    if (*failed)
        return JS_NewError(ctx);
    if (j->kind == JOB_RSA) {
        EVP_PKEY *k = j->key;
        j->key = NULL;
        return crypto_wrap_key(ctx, k);
    }
    return crypto_new_bytes(ctx, j->out, j->out_len);
}

static void unlink_job(job_t *j)
{
    struct api_crypto_job *l = &j->link;
    api_state_t *st = j->owner;
    if (l->prev)
        l->prev->next = l->next;
    else
        st->crypto_jobs = l->next;
    if (l->next)
        l->next->prev = l->prev;
    st->ncrypto_jobs--;
}

static void job_work_cb(uv_work_t *w)
{
    job_run(w->data);
}

static void job_after_cb(uv_work_t *w, int status)
{
    job_t *j = w->data;
    if (j->cancelled) {
        job_free(j);
        return;
    }
    unlink_job(j);
    JSContext *ctx = j->ctx;
    bool failed;
    JSValue v = job_result(ctx, j, &failed);
    JSValue args[2];
    if (failed) {
        JS_FreeValue(ctx, v);
        args[0] = JS_NewString(ctx, j->err);
        args[1] = JS_UNDEFINED;
    } else {
        args[0] = JS_NULL;
        args[1] = v;
    }
    j->host->run_callback(j->host, j->owner, j->cb, 2, args);
    JS_FreeValue(ctx, args[0]);
    JS_FreeValue(ctx, args[1]);
    JS_FreeValue(ctx, j->cb);
    job_free(j);
}

void api_crypto_cancel_all(api_state_t *st)
{
    while (st->crypto_jobs) {
        job_t *j = (job_t *)((char *)st->crypto_jobs - offsetof(job_t, link));
        unlink_job(j);
        JS_FreeValue(j->ctx, j->cb);
        j->cb = JS_UNDEFINED;
        j->cancelled = true; /* freed when the pool hands it back */
    }
}

/* Runs j on the pool when an instance's event is running, else now. Returns
 * the result now (inline), or undefined (cb gets (error, value) later). */
static JSValue job_start(JSContext *ctx, job_t *j, JSValueConst cb)
{
    api_host_t *host = api_host(ctx);
    if (!host || !host->current || !host->loop) {
        job_run(j);
        bool failed;
        JSValue v = job_result(ctx, j, &failed);
        if (failed) {
            JS_FreeValue(ctx, v);
            v = crypto_throw_plain(ctx, j->err);
        }
        job_free(j);
        return v;
    }
    api_state_t *st = host->current;
    j->host = host;
    j->owner = st;
    j->ctx = ctx;
    j->cb = JS_DupValue(ctx, cb);
    j->link.next = st->crypto_jobs;
    j->link.prev = NULL;
    if (st->crypto_jobs)
        st->crypto_jobs->prev = &j->link;
    st->crypto_jobs = &j->link;
    st->ncrypto_jobs++;
    j->req.data = j;
    uv_queue_work(host->loop, &j->req, job_work_cb, job_after_cb);
    return JS_UNDEFINED;
}

/* native.generateRsa(bits, publicExponent, cb) */
static JSValue c_generate_rsa(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int32_t bits;
    const uint8_t *e;
    size_t elen;
    if (JS_ToInt32(ctx, &bits, argv[0]) < 0 || crypto_get_bytes(ctx, argv[1], &e, &elen) < 0)
        return JS_EXCEPTION;
    if (bits < 1024 || bits > MAX_RSA_BITS || bits % 8 != 0)
        return crypto_throw_dom(ctx, "OperationError", "modulusLength must be a multiple of 8 from 1024 "
                                                "to %d, got %d", MAX_RSA_BITS, bits);
    job_t *j = xcalloc(1, sizeof *j);
    j->kind = JOB_RSA;
    j->bits = bits;
    j->pubexp = BN_bin2bn(e, (int)elen, NULL);
    if (!j->pubexp || BN_is_zero(j->pubexp) || !BN_is_odd(j->pubexp) || BN_num_bits(j->pubexp) > 64 ||
        BN_is_one(j->pubexp)) {
        job_free(j);
        return crypto_throw_dom(ctx, "OperationError", "publicExponent must be an odd number above 1 "
                                                "(65537, as new Uint8Array([1, 0, 1]), is usual)");
    }
    return job_start(ctx, j, argv[2]);
}

/* native.pbkdf2(hash, password, salt, iterations, bits, cb) */
static JSValue c_pbkdf2(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const EVP_MD *md = crypto_md_arg(ctx, argv[0]);
    const uint8_t *p, *s;
    size_t plen, slen;
    uint32_t iter;
    int32_t bits;
    if (!md || crypto_get_bytes(ctx, argv[1], &p, &plen) < 0 || crypto_get_bytes(ctx, argv[2], &s, &slen) < 0 ||
        JS_ToUint32(ctx, &iter, argv[3]) < 0 || JS_ToInt32(ctx, &bits, argv[4]) < 0)
        return JS_EXCEPTION;
    if (iter == 0 || iter > MAX_PBKDF2_ITERATIONS)
        return crypto_throw_dom(ctx, "OperationError", "PBKDF2 iterations must be from 1 to %u",
                         MAX_PBKDF2_ITERATIONS);
    if (bits <= 0 || bits % 8 != 0 || bits > (1 << 20))
        return crypto_throw_dom(ctx, "OperationError", "PBKDF2 length must be a positive multiple of 8");
    job_t *j = xcalloc(1, sizeof *j);
    j->kind = JOB_PBKDF2;
    j->md = md;
    j->pass = xmemdup(p, plen ? plen : 1);
    j->pass_len = plen;
    j->salt = xmemdup(s, slen ? slen : 1);
    j->salt_len = slen;
    j->iterations = iter;
    j->out_len = (size_t)bits / 8;
    return job_start(ctx, j, argv[5]);
}

static const JSCFunctionListEntry crypto_funcs[] = {
    JS_CFUNC_DEF("digest", 2, c_digest),
    JS_CFUNC_DEF("digestNew", 1, c_digest_new),
    JS_CFUNC_DEF("digestUpdate", 2, c_digest_update),
    JS_CFUNC_DEF("digestFinal", 1, c_digest_final),
    JS_CFUNC_DEF("hmac", 3, c_hmac),
    JS_CFUNC_DEF("timingSafeEqual", 2, c_timing_safe_equal),
    JS_CFUNC_DEF("aes", 8, c_aes),
    JS_CFUNC_DEF("sign", 5, c_sign),
    JS_CFUNC_DEF("verify", 6, c_verify),
    JS_CFUNC_DEF("rsaOaep", 5, c_rsa_oaep),
    JS_CFUNC_DEF("derive", 2, c_derive),
    JS_CFUNC_DEF("hkdf", 5, c_hkdf),
    JS_CFUNC_DEF("pbkdf2", 6, c_pbkdf2),
    JS_CFUNC_DEF("generateRsa", 3, c_generate_rsa),
};

void api_crypto_natives(JSContext *ctx, JSValueConst native)
{
    pthread_once(&key_once, key_once_init);
    JSRuntime *rt = JS_GetRuntime(ctx);
    if (!JS_IsRegisteredClass(rt, crypto_key_class_id))
        JS_NewClass(rt, crypto_key_class_id, &key_class);
    if (!JS_IsRegisteredClass(rt, md_class_id))
        JS_NewClass(rt, md_class_id, &md_class);
    JSValue obj = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, obj, crypto_funcs,
                               (int)(sizeof crypto_funcs / sizeof crypto_funcs[0]));
    crypto_keys_natives(ctx, obj);
    JS_SetPropertyStr(ctx, native, "crypto", obj);
}
