/* The native helpers the Web prelude (src/api/web/) gets beyond those of
 * web.c: each function adds its module's functions to the `native` object
 * web_new hands to the prelude. They find the instance and the loop through
 * api_host(ctx) at call time, and throw a TypeError where there is none (a
 * context without a host, as in unit tests). Depends on quickjs.h. */
#ifndef DORM_API_NATIVES_H
#define DORM_API_NATIVES_H
#include <quickjs.h>

/* web_bytes.c: transferBuffer, isDetached, parseMultipart. */
void api_bytes_natives(JSContext *ctx, JSValueConst native);
/* crypto.c: digest, HMAC, signatures, ciphers, key import/export/generation. */
void api_crypto_natives(JSContext *ctx, JSValueConst native);
/* web_zlib.c: zNew and zPush, for CompressionStream and DecompressionStream. */
void api_zlib_natives(JSContext *ctx, JSValueConst native);
/* fetch.c: fetchStart and the transfer handles. */
void api_fetch_natives(JSContext *ctx, JSValueConst native);

#endif
