/* HTTP messages as data: header lists, request and response objects, status
 * phrases and the JSON error body. Shared by the parser and the connection;
 * must not depend on libuv or llhttp, so the parser stays testable alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/mem.h"
#include "http.h"

const char *http_header_get(const http_header_t *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == len && strncasecmp(h[i].name, name, len) == 0)
            return h[i].value;
    return NULL;
}

void http_headers_addn(http_header_t **h, size_t *n, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
    /* Growing by one keeps this correct for arrays built elsewhere with an
     * exact size; realloc usually extends in place, and header lists are short. */
    *h = xrealloc(*h, (*n + 1) * sizeof **h);
    char *mem = xmalloc(nlen + vlen + 2);
    memcpy(mem, name, nlen);
    mem[nlen] = '\0';
    memcpy(mem + nlen + 1, value, vlen);
    mem[nlen + 1 + vlen] = '\0';
    (*h)[(*n)++] = (http_header_t){mem, mem + nlen + 1, nlen, vlen};
}

void http_headers_add(http_header_t **h, size_t *n, const char *name, const char *value)
{
    http_headers_addn(h, n, name, strlen(name), value, strlen(value));
}

void http_headers_free(http_header_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(h[i].name);
    free(h);
}

void http_request_free(http_request_t *req)
{
    if (!req)
        return;
    free(req->method);
    free(req->target);
    http_headers_free(req->headers, req->nheaders);
    buf_deinit(&req->body);
    free(req);
}

http_response_t *http_response_new(int status)
{
    http_response_t *res = xcalloc(1, sizeof *res);
    res->status = status;
    buf_init(&res->body);
    return res;
}

void http_response_free(http_response_t *res)
{
    if (!res)
        return;
    free(res->reason);
    http_headers_free(res->headers, res->nheaders);
    buf_deinit(&res->body);
    free(res);
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 511: return "Network Authentication Required";
    default: break;
    }
    /* An unknown code still gets a phrase from its class (RFC 9110 15). */
    if (status >= 100 && status < 200)
        return "Informational";
    if (status >= 200 && status < 300)
        return "Success";
    if (status >= 300 && status < 400)
        return "Redirection";
    if (status >= 400 && status < 500)
        return "Client Error";
    return "Server Error";
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if the
 * bytes there are not one (overlong forms, surrogates and code points past
 * U+10FFFF are not valid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Appends s as a JSON string literal. Invalid UTF-8 (the message may quote
 * bytes a client sent) becomes U+FFFD, so the body is always valid JSON. */
static void json_string(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_append(b, e, 2);
        } else if (c == '\n') {
            buf_puts(b, "\\n");
        } else if (c == '\r') {
            buf_puts(b, "\\r");
        } else if (c == '\t') {
            buf_puts(b, "\\t");
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 6);
        } else if (c >= 0x80) {
            size_t len = utf8_seq(p + i, n - i);
            if (len == 0) {
                buf_puts(b, "\\ufffd");
                i++;
                continue;
            }
            buf_append(b, p + i, len);
            i += len;
            continue;
        } else {
            buf_putc(b, c);
        }
        i++;
    }
    buf_putc(b, '"');
}

http_response_t *http_response_error(int status, const char *code, const char *message)
{
    http_response_t *res = http_response_new(status);
    http_headers_add(&res->headers, &res->nheaders, "Content-Type", "application/json");
    buf_puts(&res->body, "{\"error\":{\"code\":");
    json_string(&res->body, code ? code : "ERROR");
    buf_puts(&res->body, ",\"message\":");
    json_string(&res->body, message ? message : http_status_reason(status));
    buf_puts(&res->body, "}}");
    return res;
}
