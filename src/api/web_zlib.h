/* The zlib engine of CompressionStream and DecompressionStream
 * (web_zlib.c), as plain C for its fuzz target: one stream in one of the
 * three framings, fed in pieces. Depends on zlib only. */
#ifndef DORM_API_WEB_ZLIB_H
#define DORM_API_WEB_ZLIB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

typedef struct api_zs api_zs_t;

/* format "gzip", "deflate" or "deflate-raw"; NULL for another format. */
api_zs_t *api_zs_new(const char *format, bool compress);
void api_zs_free(api_zs_t *s);
/* Feeds len bytes (finish: the end of the input) and appends what comes out
 * to out. Returns 0, or -1 with a sentence in *err: corrupt data, data past
 * the end of the compressed stream, or (at the finish) a truncated one. */
int api_zs_push(api_zs_t *s, const uint8_t *in, size_t len, bool finish, buf_t *out,
                const char **err);

#endif
