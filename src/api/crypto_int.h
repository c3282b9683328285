/* Private to crypto.c and crypto_keys.c: the helpers both use. */
#ifndef DORM_API_CRYPTO_INT_H
#define DORM_API_CRYPTO_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <quickjs.h>

/* The class of key handle objects; their opaque is an EVP_PKEY they own. */
extern JSClassID crypto_key_class_id;

/* The bytes of a typed array, borrowed until the next call into JS. */
int crypto_get_bytes(JSContext *ctx, JSValueConst v, const uint8_t **p, size_t *len);
JSValue crypto_new_bytes(JSContext *ctx, const uint8_t *p, size_t len);
/* Throws an Error whose message is "<name>: <message>"; the prelude makes it
 * a DOMException of that name. */
JSValue crypto_throw_dom(JSContext *ctx, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
JSValue crypto_throw_plain(JSContext *ctx, const char *msg);
char *crypto_cstr(JSContext *ctx, JSValueConst v); /* malloc'd, or NULL with an exception */
const EVP_MD *crypto_md_arg(JSContext *ctx, JSValueConst v);
EVP_PKEY *crypto_key_arg(JSContext *ctx, JSValueConst v);
JSValue crypto_wrap_key(JSContext *ctx, EVP_PKEY *k); /* takes k */
size_t crypto_curve_bytes(const char *curve);
bool crypto_key_curve(EVP_PKEY *k, char *out, size_t n);

/* crypto_keys.c: adds the key functions to the natives' crypto object. */
void crypto_keys_natives(JSContext *ctx, JSValueConst obj);

#endif
