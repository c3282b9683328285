/* Small helpers with no better home: time, random tokens, hex, file I/O.
 * Depends on libc and OpenSSL's libcrypto only. */
#ifndef DORM_LIB_UTIL_H
#define DORM_LIB_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

int64_t util_now_ms(void);                /* wall clock, ms since the epoch */
void util_iso8601(int64_t ms, char out[32]); /* "2026-11-27T23:00:00.000Z" */
/* n random bytes as 2n lowercase hex chars + NUL into out. Aborts if the
 * system's randomness fails. */
void util_random_hex(size_t n, char *out);
void util_random_uuid(char out[37]);
void util_hex(const uint8_t *p, size_t n, char *out); /* 2n chars + NUL */
/* Standard base64 (RFC 4648 section 4, padded), appended to out. */
void util_base64(const uint8_t *p, size_t n, buf_t *out);
void util_sha256(const void *p, size_t n, uint8_t out[32]);
/* Constant-time equality of two byte strings (length leaks, content does not). */
bool util_secure_eq(const void *a, size_t alen, const void *b, size_t blen);
/* True when the comma-separated header value v has tok as one of its
 * elements (case-insensitive, spaces around elements ignored). */
bool util_has_token(const char *v, const char *tok);
/* Reads a whole file into out. Returns 0 or -errno. */
int util_read_file(const char *path, buf_t *out);
/* Writes a file atomically (temp file + rename) with the given mode. 0 or -errno. */
int util_write_file(const char *path, const void *p, size_t n, int mode);
/* mkdir -p with mode. 0 or -errno. */
int util_mkdirs(const char *path, int mode);

#endif
