/* The incremental HTTP/1.1 request parser (see http_parse.h): llhttp plus the
 * limits, validation and framing rules a server needs. Pure: it must not
 * depend on libuv, sockets, clocks or anything outside lib/ and llhttp, so
 * that the fuzzer and the unit tests exercise exactly what the server runs. */
#include "http_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/mem.h"

#define DEFAULT_MAX_HEADER ((size_t)64 * 1024)
#define DEFAULT_MAX_BODY ((size_t)100 * 1024 * 1024)
/* A Content-Length body is reserved up front, but never more than this: a
 * client that announces 100 MiB and sends nothing must not cost 100 MiB. */
#define BODY_PREALLOC_MAX ((size_t)256 * 1024)

static http_parse_t *self(llhttp_t *ll)
{
    return ll->data;
}

/* Records the error the connection will answer with. Returns HPE_USER so
 * that callbacks can `return fail(...)`. */
static int fail(http_parse_t *p, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(http_parse_t *p, int status, const char *code, const char *fmt, ...)
{
    if (p->status == 0) {
        p->status = status;
        p->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->message, sizeof p->message, fmt, ap);
        va_end(ap);
    }
    p->phase = HTTP_PHASE_CLOSED;
    return HPE_USER;
}

static int bad(http_parse_t *p, const char *what)
{
    return fail(p, 400, "BAD_REQUEST", "%s", what);
}

/* RFC 9110 5.6.2: the characters a header name (a token) may hold. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* --- llhttp callbacks ----------------------------------------------------- */

static int on_message_begin(llhttp_t *ll)
{
    http_parse_t *p = self(ll);
    http_request_free(p->req); /* only set here if a request was never taken */
    p->req = xcalloc(1, sizeof *p->req);
    p->headers_cap = 0;
    p->n_host = 0;
    p->n_te = 0;
    p->trailer_bytes = 0;
    p->in_trailers = false;
    p->in_value = false;
    p->expect_continue = false;
    buf_reset(&p->scratch);
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    buf_append(&self(ll)->scratch, at, n);
    return 0;
}

static void take_target(http_parse_t *p)
{
    if (p->req->target)
        return;
    p->req->target = xstrndup(buf_cstr(&p->scratch), p->scratch.len);
    buf_reset(&p->scratch);
}

static int on_url_complete(llhttp_t *ll)
{
    take_target(self(ll));
    return 0;
}

/* Chunk extensions and trailers are parsed and dropped; they only have to be
 * bounded so a client cannot keep the connection busy with them forever. */
static int count_meta(http_parse_t *p, size_t n)
{
    p->trailer_bytes += n;
    if (p->trailer_bytes > p->max_header_bytes)
        return fail(p, 431, "HEADERS_TOO_LARGE",
                    "chunk extensions and trailers exceed %zu bytes", p->max_header_bytes);
    return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
    http_parse_t *p = self(ll);
    if (p->in_trailers)
        return count_meta(p, n);
    take_target(p);
    buf_append(&p->scratch, at, n);
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    http_parse_t *p = self(ll);
    if (p->in_trailers)
        return 0;
    if (p->scratch.len == 0)
        return bad(p, "a header has an empty name");
    for (size_t i = 0; i < p->scratch.len; i++)
        if (!is_tchar(p->scratch.data[i]))
            return bad(p, "a header name holds a character that is not allowed "
                          "(spaces before the colon are not allowed either)");
    p->field_len = p->scratch.len;
    p->in_value = true;
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
    http_parse_t *p = self(ll);
    if (p->in_trailers)
        return count_meta(p, n);
    buf_append(&p->scratch, at, n);
    return 0;
}

static void push_header(http_parse_t *p, const char *name, size_t nlen, const char *value,
                        size_t vlen)
{
    http_request_t *r = p->req;
    if (r->nheaders == p->headers_cap) {
        p->headers_cap = p->headers_cap ? p->headers_cap * 2 : 16;
        r->headers = xrealloc(r->headers, p->headers_cap * sizeof *r->headers);
    }
    /* Name and value share one allocation, as http_headers_addn makes them,
     * so http_headers_free treats parsed and built headers alike. */
    char *mem = xmalloc(nlen + vlen + 2);
    memcpy(mem, name, nlen);
    mem[nlen] = '\0';
    memcpy(mem + nlen + 1, value, vlen);
    mem[nlen + 1 + vlen] = '\0';
    r->headers[r->nheaders++] = (http_header_t){mem, mem + nlen + 1, nlen, vlen};
}

static int on_header_value_complete(llhttp_t *ll)
{
    http_parse_t *p = self(ll);
    if (p->in_trailers)
        return 0;
    if (!p->in_value)
        return bad(p, "a header value without a name");
    const char *name = (const char *)p->scratch.data;
    size_t nlen = p->field_len;
    const char *v = name + nlen;
    size_t vlen = p->scratch.len - nlen;
    while (vlen && is_ows((unsigned char)v[0])) {
        v++;
        vlen--;
    }
    while (vlen && is_ows((unsigned char)v[vlen - 1]))
        vlen--;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(p, "a header value holds a control character");
    }
    if (nlen == 4 && strncasecmp(name, "host", 4) == 0)
        p->n_host++;
    if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
        /* Only "chunked" alone is accepted: any other coding would hand the
         * application a body it cannot read, and a list is where smuggling
         * tricks hide. */
        if (++p->n_te > 1 || vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
            return fail(p, 501, "NOT_IMPLEMENTED",
                        "Transfer-Encoding other than a single \"chunked\" is not supported");
    }
    push_header(p, name, nlen, v, vlen);
    p->in_value = false;
    buf_reset(&p->scratch);
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    http_parse_t *p = self(ll);
    http_request_t *r = p->req;
    take_target(p);
    if (ll->http_major != 1 || ll->http_minor > 1)
        return fail(p, 505, "HTTP_VERSION_NOT_SUPPORTED",
                    "HTTP/%d.%d is not supported; use HTTP/1.1", ll->http_major,
                    ll->http_minor);
    if (ll->method == HTTP_CONNECT)
        return fail(p, 501, "NOT_IMPLEMENTED", "CONNECT is not supported");
    if (p->n_host > 1)
        return bad(p, "more than one Host header");
    /* llhttp already refuses Content-Length with Transfer-Encoding and
     * repeated Content-Length; a Transfer-Encoding without "chunked" was
     * refused by on_header_value_complete. */
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->max_body_bytes)
        return fail(p, 413, "PAYLOAD_TOO_LARGE",
                    "the request body (%llu bytes) exceeds the limit of %zu bytes",
                    (unsigned long long)ll->content_length, p->max_body_bytes);
    bool has_body = (ll->flags & F_CHUNKED) || ll->content_length > 0;
    const char *expect = http_header_get(r->headers, r->nheaders, "expect");
    if (expect && ll->http_minor == 1) {
        /* RFC 9110 10.1.1: 100-continue is the only expectation defined; an
         * HTTP/1.0 client cannot expect anything and is ignored. */
        if (strcasecmp(expect, "100-continue") != 0)
            return fail(p, 417, "EXPECTATION_FAILED",
                        "the only supported expectation is \"Expect: 100-continue\"");
        p->expect_continue = has_body;
    }
    r->method = xstrdup(llhttp_method_name((llhttp_method_t)ll->method));
    r->version_minor = ll->http_minor;
    if (ll->http_minor == 1)
        r->keep_alive = !(ll->flags & F_CONNECTION_CLOSE);
    else
        r->keep_alive = (ll->flags & F_CONNECTION_KEEP_ALIVE) && !(ll->flags & F_CONNECTION_CLOSE);
    r->upgrade = (ll->flags & F_UPGRADE) && (ll->flags & F_CONNECTION_UPGRADE);
    if (ll->flags & F_CONTENT_LENGTH) {
        size_t want = (size_t)ll->content_length;
        buf_reserve(&r->body, want < BODY_PREALLOC_MAX ? want : BODY_PREALLOC_MAX);
    }
    p->in_trailers = true;
    p->headers_done = true;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    http_parse_t *p = self(ll);
    buf_t *b = &p->req->body;
    if (n > p->max_body_bytes - b->len)
        return fail(p, 413, "PAYLOAD_TOO_LARGE", "the request body exceeds the limit of %zu bytes",
                    p->max_body_bytes);
    buf_append(b, at, n);
    return 0;
}

static int on_chunk_ext(llhttp_t *ll, const char *at, size_t n)
{
    return count_meta(self(ll), n);
}

static int on_message_complete(llhttp_t *ll)
{
    self(ll)->message_done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};

/* --- driving llhttp -------------------------------------------------------- */

void http_parse_init(http_parse_t *p, size_t max_header_bytes, size_t max_body_bytes)
{
    memset(p, 0, sizeof *p);
    p->max_header_bytes = max_header_bytes ? max_header_bytes : DEFAULT_MAX_HEADER;
    p->max_body_bytes = max_body_bytes ? max_body_bytes : DEFAULT_MAX_BODY;
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
    buf_init(&p->scratch);
}

void http_parse_deinit(http_parse_t *p)
{
    if (p->req)
        http_request_free(p->req);
    p->req = NULL;
    buf_deinit(&p->scratch);
}

/* llhttp accepts obs-fold (a header line starting with a space or tab that
 * continues the previous value); RFC 9112 5.2 lets a server refuse it, and we
 * do, because intermediaries disagree on how to unfold it. In the header
 * section a line feed followed by SP or HTAB can only be that. Returns the
 * offset of the first such SP/HTAB in s[0..n), or n. The caller stops llhttp
 * right before it, so the refusal comes at the same point however the bytes
 * were split (llhttp would otherwise run the folded header's callbacks). */
static size_t find_obs_fold(const http_parse_t *p, const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    if (p->last_was_lf && is_ows(s[0]))
        return 0;
    const uint8_t *end = s + n;
    for (const uint8_t *q = memchr(s, '\n', n); q && q + 1 < end;
         q = memchr(q + 1, '\n', (size_t)(end - q - 1))) {
        if (is_ows(q[1]))
            return (size_t)(q + 1 - s);
    }
    return n;
}

static void fail_from_llhttp(http_parse_t *p, llhttp_errno_t err)
{
    const char *reason = llhttp_get_error_reason(&p->ll);
    if (!reason)
        reason = llhttp_errno_name(err);
    switch (err) {
    case HPE_INVALID_METHOD:
        bad(p, "the request line does not start with a known HTTP method");
        break;
    case HPE_INVALID_URL:
        bad(p, "the request target holds a character that is not allowed");
        break;
    case HPE_INVALID_VERSION:
        bad(p, "the request line does not end with HTTP/1.0 or HTTP/1.1");
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        bad(p, "Content-Length is not a single decimal number");
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        bad(p, strstr(reason, "Transfer-Encoding")
                   ? "Content-Length and Transfer-Encoding together are refused "
                     "(they would make the body length ambiguous)"
                   : "Content-Length is given more than once");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        fail(p, 501, "NOT_IMPLEMENTED",
             "Transfer-Encoding other than a single \"chunked\" is not supported");
        break;
    case HPE_INVALID_CHUNK_SIZE:
        bad(p, "the chunked body has an invalid chunk size line");
        break;
    case HPE_PAUSED_H2_UPGRADE:
        bad(p, "HTTP/2 is not supported on this port; use HTTP/1.1");
        break;
    default:
        fail(p, 400, "BAD_REQUEST", "malformed request: %s", reason);
        break;
    }
}

http_parse_event_t http_parse_feed(http_parse_t *p, const uint8_t *data, size_t len,
                                   size_t *consumed)
{
    static const uint8_t nothing[1];
    size_t off = 0;
    http_parse_event_t ev = HTTP_PARSE_MORE;
    *consumed = 0;
    if (!data) { /* offsetting NULL, even by 0, is undefined */
        data = nothing;
        len = 0;
    }
    if (p->phase == HTTP_PHASE_READY)
        return HTTP_PARSE_REQUEST;
    if (p->phase == HTTP_PHASE_CLOSED) {
        if (p->status)
            return HTTP_PARSE_ERROR;
        *consumed = len; /* nothing may follow a request that closes */
        return HTTP_PARSE_MORE;
    }
    for (;;) {
        /* A pause is always followed by one more execute, even of zero
         * bytes: llhttp finishes a bodiless request only then. */
        if (p->ll_paused) {
            llhttp_resume(&p->ll);
            p->ll_paused = false;
        } else if (off == len) {
            break;
        }
        if (p->phase == HTTP_PHASE_IDLE) {
            if (off == len)
                break;
            p->phase = HTTP_PHASE_HEADERS;
            p->header_bytes = 0;
            p->last_was_lf = false;
        }
        bool in_headers = p->phase == HTTP_PHASE_HEADERS;
        size_t n = len - off;
        /* Never show llhttp more than one byte past the header limit, so the
         * limit is exact and a huge header costs no more than the limit. */
        if (in_headers && n > p->max_header_bytes - p->header_bytes + 1)
            n = p->max_header_bytes - p->header_bytes + 1;
        bool fold_next = false;
        if (in_headers) {
            size_t k = find_obs_fold(p, data + off, n);
            if (k < n) {
                n = k;
                fold_next = true;
            }
        }
        const char *start = (const char *)data + off;
        llhttp_errno_t err = llhttp_execute(&p->ll, start, n);
        size_t used = n;
        if (err != HPE_OK && llhttp_get_error_pos(&p->ll))
            used = (size_t)(llhttp_get_error_pos(&p->ll) - start);
        if (used > n)
            used = n;
        off += used;
        if (p->status) { /* a callback refused the request */
            ev = HTTP_PARSE_ERROR;
            break;
        }
        if (in_headers) {
            if (used > 0)
                p->last_was_lf = start[used - 1] == '\n';
            p->header_bytes += used;
            if (p->header_bytes > p->max_header_bytes) {
                fail(p, 431, "HEADERS_TOO_LARGE",
                     "the request line and headers exceed the limit of %zu bytes",
                     p->max_header_bytes);
                ev = HTTP_PARSE_ERROR;
                break;
            }
        }
        if (err == HPE_OK) {
            /* Still in the headers with a folded line next. */
            if (fold_next && used == n) {
                bad(p, "obs-fold (a header line starting with whitespace) is not allowed");
                ev = HTTP_PARSE_ERROR;
                break;
            }
            continue;
        }
        if (err == HPE_PAUSED) {
            p->ll_paused = true;
            if (p->headers_done) {
                p->headers_done = false;
                p->phase = HTTP_PHASE_BODY;
                if (p->expect_continue) {
                    p->expect_continue = false;
                    ev = HTTP_PARSE_CONTINUE;
                    break;
                }
                continue;
            }
            if (p->message_done) {
                p->message_done = false;
                p->phase = HTTP_PHASE_READY;
                ev = HTTP_PARSE_REQUEST;
                break;
            }
            continue;
        }
        if (err == HPE_PAUSED_UPGRADE) {
            /* After an Upgrade request llhttp stops, leaving the bytes to
             * the new protocol. The connection decides that: if it goes on
             * with HTTP, so does the parser. */
            llhttp_resume_after_upgrade(&p->ll);
            continue;
        }
        fail_from_llhttp(p, err);
        ev = HTTP_PARSE_ERROR;
        break;
    }
    *consumed = off;
    return ev;
}

http_request_t *http_parse_take(http_parse_t *p)
{
    if (p->phase != HTTP_PHASE_READY)
        return NULL;
    http_request_t *r = p->req;
    p->req = NULL;
    p->phase = r->keep_alive ? HTTP_PHASE_IDLE : HTTP_PHASE_CLOSED;
    return r;
}
