/* libFuzzer target for the HTTP/1.1 request parser (net/http_parse): feeds
 * the input in one piece and again cut at positions taken from the data,
 * consuming every request, and checks that the cuts change nothing: the
 * same requests, byte for byte, and the same final error. Depends only on
 * the pure parser, never on sockets or libuv. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "net/http.h"
#include "net/http_parse.h"

#define MAX_HEADER (8 * 1024)
#define MAX_BODY (64 * 1024)

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_http: invariant broken: %s\n", what);
        abort();
    }
}

/* Appends a description of req to t, checking what must always hold. */
static void record(buf_t *t, const http_request_t *q)
{
    check(q->method && q->target, "method and target are set");
    check(q->body.len <= MAX_BODY, "body within the limit");
    check(q->version_minor == 0 || q->version_minor == 1, "HTTP/1.0 or 1.1");
    buf_printf(t, "REQ %s %s v%d ka%d up%d\n", q->method, q->target, q->version_minor,
               q->keep_alive, q->upgrade);
    for (size_t i = 0; i < q->nheaders; i++) {
        const http_header_t *h = &q->headers[i];
        check(h->name_len > 0 && strlen(h->name) == h->name_len, "header name length");
        check(strlen(h->value) == h->value_len, "header value has no NUL");
        check(h->value_len == 0 || (h->value[0] != ' ' && h->value[h->value_len - 1] != ' '),
              "header value trimmed");
        buf_printf(t, "H %s: %s\n", h->name, h->value);
    }
    buf_printf(t, "B %zu\n", q->body.len);
    buf_append(t, q->body.data, q->body.len);
}

/* Feeds data in pieces ending at cuts[] (ascending), like a connection whose
 * reads end there, keeping unconsumed bytes for the next feed. */
static void run(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts, buf_t *t)
{
    http_parse_t p;
    http_parse_init(&p, MAX_HEADER, MAX_BODY);
    buf_t pending = BUF_INIT;
    buf_reserve(&pending, 64); /* never a NULL data pointer to offset */
    size_t from = 0;
    int dead = 0;
    for (size_t k = 0; k <= ncuts && !dead; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        if (to < from)
            to = from;
        buf_append(&pending, data + from, to - from);
        from = to;
        size_t off = 0;
        for (int guard = 0;; guard++) {
            check(guard < 100000, "the parser makes progress");
            size_t used = 0;
            http_parse_event_t ev =
                http_parse_feed(&p, pending.data + off, pending.len - off, &used);
            check(used <= pending.len - off, "consumed within the input");
            off += used;
            if (ev == HTTP_PARSE_REQUEST) {
                http_request_t *q = http_parse_take(&p);
                check(q != NULL, "a request after HTTP_PARSE_REQUEST");
                record(t, q);
                http_request_free(q);
                continue;
            }
            if (ev == HTTP_PARSE_CONTINUE) {
                buf_puts(t, "CONTINUE\n");
                continue;
            }
            if (ev == HTTP_PARSE_ERROR) {
                int st = http_parse_status(&p);
                check(st >= 400 && st < 600, "error status");
                check(http_parse_message(&p)[0] != '\0', "error message");
                buf_printf(t, "ERROR %d\n", st);
                dead = 1;
            } else {
                check(off == pending.len, "MORE means everything was consumed");
            }
            break;
        }
        memmove(pending.data, pending.data + off, pending.len - off);
        pending.len -= off;
    }
    buf_deinit(&pending);
    http_parse_deinit(&p);
}

static int same(const buf_t *a, const buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf_t whole = BUF_INIT, split = BUF_INIT, bytes = BUF_INIT;
    run(data, size, NULL, 0, &whole);

    /* Two cut points derived from the data itself, so the fuzzer can steer
     * them: a hash of the input picks positions. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    size_t cuts[2] = {0, 0};
    if (size > 0) {
        cuts[0] = h % (size + 1);
        cuts[1] = (h >> 16) % (size + 1);
        if (cuts[0] > cuts[1]) {
            size_t tmp = cuts[0];
            cuts[0] = cuts[1];
            cuts[1] = tmp;
        }
    }
    run(data, size, cuts, 2, &split);
    check(same(&whole, &split),
          "cutting the input changes nothing");

    /* Small inputs also go one byte at a time, the hardest split. */
    if (size <= 512) {
        size_t *each = malloc((size ? size : 1) * sizeof *each);
        for (size_t i = 0; i < size; i++)
            each[i] = i + 1;
        run(data, size, each, size ? size - 1 : 0, &bytes);
        free(each);
        check(same(&whole, &bytes),
              "feeding byte by byte changes nothing");
    }
    buf_deinit(&whole);
    buf_deinit(&split);
    buf_deinit(&bytes);
    return 0;
}
