/* Response heads for outbound fetch() (see fetch_head.h). Pure: lines in,
 * status and headers out. Must not depend on curl, libuv or JS. */
#include "fetch_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"

void fetch_head_init(fetch_head_t *h)
{
    memset(h, 0, sizeof *h);
}

void fetch_head_deinit(fetch_head_t *h)
{
    free(h->reason);
    http_headers_free(h->headers, h->nheaders);
    memset(h, 0, sizeof *h);
}

static bool is_tchar(unsigned char c)
{
    return c > ' ' && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return FETCH_HEAD_ERROR;
}

/* "HTTP/1.1 200 OK", "HTTP/2 200", "HTTP/1.0 404 Not Found". */
static int status_line(fetch_head_t *h, const char *s, size_t n, char *err, size_t errlen)
{
    if (n < 5 || memcmp(s, "HTTP/", 5) != 0)
        return fail(err, errlen, "the server did not answer with an HTTP status line");
    size_t i = 5;
    while (i < n && s[i] != ' ')
        i++;
    while (i < n && s[i] == ' ')
        i++;
    if (n - i < 3 || s[i] < '1' || s[i] > '9' || s[i + 1] < '0' || s[i + 1] > '9' || s[i + 2] < '0' ||
        s[i + 2] > '9' || (n - i > 3 && s[i + 3] != ' '))
        return fail(err, errlen, "the server's status line has no valid three-digit status code");
    h->status = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    i += 3;
    while (i < n && s[i] == ' ')
        i++;
    size_t e = n;
    while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    h->reason = xstrndup(s + i, e - i);
    for (char *p = h->reason; *p; p++)
        if ((unsigned char)*p < ' ' && *p != '\t')
            *p = ' ';
    return FETCH_HEAD_MORE;
}

int fetch_head_line(fetch_head_t *h, const char *line, size_t len, char *err, size_t errlen)
{
    size_t n = len;
    if (n > 0 && line[n - 1] == '\n')
        n--;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    h->bytes += len;
    if (h->bytes > FETCH_HEAD_MAX_BYTES)
        return fail(err, errlen, "the server's response headers are larger than 256 KiB");
    if (h->status == 0) {
        if (n == 0)
            return FETCH_HEAD_MORE; /* stray empty line before the status line */
        return status_line(h, line, n, err, errlen);
    }
    if (n == 0)
        return FETCH_HEAD_DONE;
    if ((line[0] == ' ' || line[0] == '\t') && h->nheaders > 0) {
        /* obs-fold: the line continues the previous value, joined by a space. */
        size_t i = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        size_t e = n;
        while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
            e--;
        if (memchr(line + i, '\0', e - i) || memchr(line + i, '\r', e - i) ||
            memchr(line + i, '\n', e - i))
            return fail(err, errlen, "a response header value holds a NUL, CR or LF byte");
        http_header_t *last = &h->headers[h->nheaders - 1];
        buf_t v = BUF_INIT;
        buf_append(&v, last->value, last->value_len);
        if (e > i) {
            if (v.len)
                buf_putc(&v, ' ');
            buf_append(&v, line + i, e - i);
        }
        char *name = xstrndup(last->name, last->name_len);
        size_t name_len = last->name_len;
        /* The header's name and value are one allocation; its slot is reused. */
        free(last->name);
        h->nheaders--;
        http_headers_addn(&h->headers, &h->nheaders, name, name_len, buf_cstr(&v), v.len);
        free(name);
        buf_deinit(&v);
        return FETCH_HEAD_MORE;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return FETCH_HEAD_MORE; /* not a header: ignored, as browsers do */
    size_t nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)line[i]))
            return FETCH_HEAD_MORE; /* an invalid name: the header is dropped */
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    for (size_t i = 0; i < vlen; i++)
        if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
            return fail(err, errlen, "a response header value holds a NUL, CR or LF byte");
    http_headers_addn(&h->headers, &h->nheaders, line, nlen, v, vlen);
    return FETCH_HEAD_MORE;
}
