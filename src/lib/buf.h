/* A growable byte buffer. The bytes are always followed by a NUL that is not
 * counted in len, so a buffer of text can be used as a C string.
 * Depends on nothing but mem.h. */
#ifndef DORM_LIB_BUF_H
#define DORM_LIB_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf_t *b);
void buf_deinit(buf_t *b);             /* frees the bytes; b is empty after */
void buf_reset(buf_t *b);              /* len = 0, keeps the memory */
void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, int c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Takes the bytes out of b (caller frees them); b is empty after. */
uint8_t *buf_steal(buf_t *b, size_t *len);
const char *buf_cstr(const buf_t *b); /* "" when empty */

#endif
