/* libFuzzer target for the multipart/form-data parser (api/multipart.c):
 * the first byte gives the boundary's length, the next bytes the boundary,
 * the rest is the body. Checks that every part the parser hands out lies
 * inside the body, that names unquote into no more bytes than they had, and
 * that an error always comes with a message. Depends only on the parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_multipart: invariant broken: %s\n", what);
        abort();
    }
}

typedef struct span {
    const uint8_t *p;
    size_t n;
    int parts;
} span_t;

static int inside(const span_t *s, const uint8_t *p, size_t n)
{
    return n == 0 || (p >= s->p && p + n <= s->p + s->n);
}

static int on_part(void *arg, const multipart_part_t *part)
{
    span_t *s = arg;
    check(inside(s, part->name, part->name_len), "name inside the body");
    check(inside(s, part->data, part->data_len), "data inside the body");
    check(!part->has_filename || inside(s, part->filename, part->filename_len),
          "filename inside the body");
    check(!part->type || inside(s, part->type, part->type_len), "type inside the body");
    uint8_t tmp[4096];
    if (part->name_len <= sizeof tmp)
        check(multipart_unquote(part->name, part->name_len, tmp) <= part->name_len,
              "unquoting never grows");
    s->parts++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t blen = data[0] % 80;
    if (size < 1 + blen)
        return 0;
    char boundary[80];
    memcpy(boundary, data + 1, blen);
    const uint8_t *body = data + 1 + blen;
    size_t len = size - 1 - blen;
    /* A copy of exactly the body's size, so reading past it is caught. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    span_t s = {copy, len, 0};
    char err[200] = "";
    int rc = multipart_parse(copy, len, boundary, blen, on_part, &s, err, sizeof err);
    check(rc == 0 || rc == -1, "0 or -1");
    check(rc == 0 || err[0] != '\0', "an error says why");
    free(copy);
    return 0;
}
