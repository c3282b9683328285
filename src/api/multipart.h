/* A multipart/form-data parser (RFC 7578 over RFC 2046), for Request and
 * Response formData(). Pure: bytes in, parts out, no allocation of its own;
 * every pointer it hands out points into the input. Depends on nothing. */
#ifndef DORM_API_MULTIPART_H
#define DORM_API_MULTIPART_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct multipart_part {
    const uint8_t *name; /* the name parameter of Content-Disposition (inside the quotes) */
    size_t name_len;
    bool name_quoted;    /* it was a quoted string: unquote it with multipart_unquote */
    bool has_filename;   /* a filename parameter was there (the part is a file) */
    const uint8_t *filename;
    size_t filename_len;
    bool filename_quoted;
    const uint8_t *type; /* the Content-Type value, or NULL */
    size_t type_len;
    const uint8_t *data; /* the part's body */
    size_t data_len;
} multipart_part_t;

/* Called for each part in order; a nonzero return stops the parse (and
 * multipart_parse returns it). */
typedef int (*multipart_part_cb)(void *arg, const multipart_part_t *part);

#define MULTIPART_MAX_BOUNDARY 200

/* Parses body against boundary (without the leading "--"). Returns 0 when
 * every part up to the closing delimiter was given to cb, cb's nonzero value
 * if it stopped, or -1 with a sentence in err saying what is malformed. */
int multipart_parse(const uint8_t *body, size_t len, const char *boundary, size_t boundary_len,
                    multipart_part_cb cb, void *arg, char *err, size_t errlen);

/* Copies a quoted-string's content (between the quotes) without its
 * backslash escapes into out (at least len bytes); returns the new length. */
size_t multipart_unquote(const uint8_t *p, size_t len, uint8_t *out);

#endif
