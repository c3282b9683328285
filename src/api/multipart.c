/* multipart/form-data parsing (see multipart.h). A pure function over
 * bytes, fuzzed by tests/fuzz/fuzz_multipart.c. Must not depend on anything
 * but libc: no JS, no allocation. */
#include "multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const uint8_t *find(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    return memmem(hay, hlen, needle, nlen);
}

size_t multipart_unquote(const uint8_t *p, size_t len, uint8_t *out)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\\' && i + 1 < len)
            i++;
        out[j++] = p[i];
    }
    return j;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Finds parameter `name` in a Content-Disposition value (after the first
 * ';'): its value as given (inside the quotes for a quoted string). */
static bool param(const uint8_t *v, size_t len, const char *name, const uint8_t **out,
                  size_t *out_len, bool *quoted)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    /* Skip the disposition type. */
    while (i < len && v[i] != ';')
        i++;
    while (i < len) {
        i++; /* the ';' */
        while (i < len && is_ws(v[i]))
            i++;
        size_t k = i;
        while (i < len && v[i] != '=' && v[i] != ';' && !is_ws(v[i]))
            i++;
        size_t klen = i - k;
        while (i < len && is_ws(v[i]))
            i++;
        if (i >= len || v[i] != '=') {
            while (i < len && v[i] != ';')
                i++;
            continue;
        }
        i++;
        while (i < len && is_ws(v[i]))
            i++;
        const uint8_t *val;
        size_t vlen;
        bool q = false;
        if (i < len && v[i] == '"') {
            i++;
            size_t s = i;
            while (i < len && v[i] != '"') {
                if (v[i] == '\\' && i + 1 < len)
                    i++;
                i++;
            }
            val = v + s;
            vlen = (i < len ? i : len) - s;
            if (i < len)
                i++;
            q = true;
        } else {
            size_t s = i;
            while (i < len && v[i] != ';')
                i++;
            size_t e = i;
            while (e > s && is_ws(v[e - 1]))
                e--;
            val = v + s;
            vlen = e - s;
        }
        while (i < len && v[i] != ';')
            i++;
        if (klen == nlen && strncasecmp((const char *)v + k, name, nlen) == 0) {
            *out = val;
            *out_len = vlen;
            *quoted = q;
            return true;
        }
    }
    return false;
}

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

int multipart_parse(const uint8_t *body, size_t len, const char *boundary, size_t boundary_len,
                    multipart_part_cb cb, void *arg, char *err, size_t errlen)
{
    if (boundary_len == 0 || boundary_len > MULTIPART_MAX_BOUNDARY)
        return fail(err, errlen, "the multipart boundary must be 1 to 200 characters long");
    /* "\r\n--" boundary: the delimiter as it appears between parts. */
    uint8_t delim[4 + MULTIPART_MAX_BOUNDARY];
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, boundary_len);
    size_t dlen = 4 + boundary_len;

    /* The first delimiter may open the body or follow a preamble. */
    size_t pos;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        const uint8_t *d = find(body, len, delim, dlen);
        if (!d)
            return fail(err, errlen, "the multipart body does not contain its boundary; check "
                                     "that the Content-Type's boundary matches the body");
        pos = (size_t)(d - body) + dlen;
    }
    for (;;) {
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-')
            return 0; /* the closing delimiter; the epilogue is ignored */
        while (pos < len && is_ws(body[pos]))
            pos++;
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n')
            return fail(err, errlen, "a multipart boundary line is not followed by CRLF, or the "
                                     "body ends without the closing boundary");
        pos += 2;

        multipart_part_t part;
        memset(&part, 0, sizeof part);
        bool have_disposition = false;
        const uint8_t *disp = NULL;
        size_t disp_len = 0;
        /* Header lines up to the empty line. */
        for (;;) {
            const uint8_t *eol = find(body + pos, len - pos, (const uint8_t *)"\r\n", 2);
            if (!eol)
                return fail(err, errlen, "a multipart part's headers do not end with an empty line");
            size_t llen = (size_t)(eol - (body + pos));
            const uint8_t *line = body + pos;
            pos += llen + 2;
            if (llen == 0)
                break;
            const uint8_t *colon = memchr(line, ':', llen);
            if (!colon)
                return fail(err, errlen, "a multipart part has a header line without a colon");
            size_t nlen = (size_t)(colon - line);
            const uint8_t *v = colon + 1;
            size_t vlen = llen - nlen - 1;
            while (vlen > 0 && is_ws(*v)) {
                v++;
                vlen--;
            }
            while (vlen > 0 && is_ws(v[vlen - 1]))
                vlen--;
            if (nlen == 19 && strncasecmp((const char *)line, "content-disposition", 19) == 0) {
                disp = v;
                disp_len = vlen;
                have_disposition = true;
            } else if (nlen == 12 && strncasecmp((const char *)line, "content-type", 12) == 0) {
                part.type = v;
                part.type_len = vlen;
            }
        }
        if (!have_disposition || disp_len < 9 || strncasecmp((const char *)disp, "form-data", 9) != 0 ||
            (disp_len > 9 && disp[9] != ';' && !is_ws(disp[9])))
            return fail(err, errlen, "a multipart part has no \"Content-Disposition: form-data\" header");
        if (!param(disp, disp_len, "name", &part.name, &part.name_len, &part.name_quoted))
            return fail(err, errlen, "a multipart part's Content-Disposition has no name parameter");
        part.has_filename = param(disp, disp_len, "filename", &part.filename, &part.filename_len,
                                  &part.filename_quoted);

        const uint8_t *end = find(body + pos - 2, len - (pos - 2), delim, dlen);
        if (!end)
            return fail(err, errlen, "the multipart body ends without its closing boundary");
        if (end < body + pos) {
            /* The part is empty: its delimiter follows the header's empty line. */
            part.data = body + pos;
            part.data_len = 0;
            pos = (size_t)(end - body) + dlen;
        } else {
            part.data = body + pos;
            part.data_len = (size_t)(end - (body + pos));
            pos = (size_t)(end - body) + dlen;
        }
        int rc = cb(arg, &part);
        if (rc != 0)
            return rc;
    }
}
