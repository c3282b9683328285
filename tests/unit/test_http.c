/* Tests of the HTTP/1.1 layer: the pure parser (http_parse) byte by byte,
 * the message helpers, and a real server on a libuv loop in a thread,
 * talked to with plain sockets the way a client would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "net/http.h"
#include "net/http_parse.h"

#define BIG_BODY ((size_t)16 << 20)

/* --- driving the parser like a connection does ---------------------------- */

#define MAX_REQS 16

typedef struct run {
    http_request_t *reqs[MAX_REQS];
    int nreqs;
    int continues;         /* HTTP_PARSE_CONTINUE events */
    int continue_before[MAX_REQS]; /* continues seen when request i completed */
    int status;            /* 0, or the error status */
    char code[64];
    char message[200];
    http_parse_phase_t phase; /* at the end */
} run_t;

static void run_free(run_t *r)
{
    for (int i = 0; i < r->nreqs; i++)
        http_request_free(r->reqs[i]);
    memset(r, 0, sizeof *r);
}

/* Feeds data in pieces cut at the given positions (sorted, may be empty),
 * keeping unconsumed bytes like the connection's pending buffer. */
static void parse_cuts(run_t *r, const char *data, size_t len, const size_t *cuts, size_t ncuts,
                       size_t max_header, size_t max_body)
{
    memset(r, 0, sizeof *r);
    http_parse_t p;
    http_parse_init(&p, max_header, max_body);
    buf_t pending = BUF_INIT;
    buf_reserve(&pending, 64); /* never a NULL data pointer to offset */
    size_t from = 0;
    for (size_t k = 0; k <= ncuts && !r->status; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        buf_append(&pending, data + from, to - from);
        from = to;
        size_t off = 0;
        for (;;) {
            size_t used = 0;
            http_parse_event_t ev = http_parse_feed(&p, pending.data + off, pending.len - off, &used);
            assert_true(used <= pending.len - off);
            off += used;
            if (ev == HTTP_PARSE_REQUEST) {
                assert_true(r->nreqs < MAX_REQS);
                r->continue_before[r->nreqs] = r->continues;
                r->reqs[r->nreqs++] = http_parse_take(&p);
                continue;
            }
            if (ev == HTTP_PARSE_CONTINUE) {
                r->continues++;
                continue;
            }
            if (ev == HTTP_PARSE_ERROR) {
                r->status = http_parse_status(&p);
                snprintf(r->code, sizeof r->code, "%s", http_parse_code(&p));
                snprintf(r->message, sizeof r->message, "%s", http_parse_message(&p));
            }
            break;
        }
        /* Keep only what was not consumed. */
        memmove(pending.data, pending.data + off, pending.len - off);
        pending.len -= off;
    }
    r->phase = http_parse_phase(&p);
    buf_deinit(&pending);
    http_parse_deinit(&p);
}

static void parse_lim(run_t *r, const char *data, size_t len, size_t maxh, size_t maxb)
{
    parse_cuts(r, data, len, NULL, 0, maxh, maxb);
}

static void parse(run_t *r, const char *data)
{
    parse_lim(r, data, strlen(data), 0, 0);
}

static void parse_bytewise(run_t *r, const char *data, size_t len, size_t maxh, size_t maxb)
{
    size_t *cuts = xmalloc(len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    parse_cuts(r, data, len, cuts, len ? len - 1 : 0, maxh, maxb);
    free(cuts);
}

static void assert_header(const http_request_t *q, size_t i, const char *name, const char *value)
{
    assert_true(i < q->nheaders);
    assert_string_equal(q->headers[i].name, name);
    assert_int_equal(q->headers[i].name_len, strlen(name));
    assert_string_equal(q->headers[i].value, value);
    assert_int_equal(q->headers[i].value_len, strlen(value));
}

static void assert_error(const char *data, int status)
{
    run_t r;
    parse(&r, data);
    if (r.status != status)
        fail_msg("expected %d for %s, got %d (%s)", status, data, r.status, r.message);
    assert_int_equal(r.nreqs, 0);
    assert_true(r.message[0] != '\0');
    run_free(&r);
}

/* --- parser tests ---------------------------------------------------------- */

static void test_simple_get(void **state)
{
    run_t r;
    parse(&r, "GET /_do/counter/a?x=1 HTTP/1.1\r\nHost: example.localhost:8787\r\n\r\n");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 1);
    http_request_t *q = r.reqs[0];
    assert_string_equal(q->method, "GET");
    assert_string_equal(q->target, "/_do/counter/a?x=1");
    assert_int_equal(q->version_minor, 1);
    assert_true(q->keep_alive);
    assert_false(q->upgrade);
    assert_int_equal(q->nheaders, 1);
    assert_header(q, 0, "Host", "example.localhost:8787");
    assert_int_equal(q->body.len, 0);
    assert_int_equal(r.phase, HTTP_PHASE_IDLE);
    run_free(&r);
}

static void test_headers_order_case_trim(void **state)
{
    run_t r;
    parse(&r, "POST /x HTTP/1.1\r\n"
              "X-Custom-THING:   padded value \t \r\n"
              "content-type:application/json\r\n"
              "Empty:\r\n"
              "X-Custom-THING: second\r\n"
              "Spaces-Inside: a  b\tc\r\n"
              "Obs-Text: caf\xc3\xa9\r\n"
              "\r\n");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 1);
    http_request_t *q = r.reqs[0];
    assert_int_equal(q->nheaders, 6);
    assert_header(q, 0, "X-Custom-THING", "padded value");
    assert_header(q, 1, "content-type", "application/json");
    assert_header(q, 2, "Empty", "");
    assert_header(q, 3, "X-Custom-THING", "second");
    assert_header(q, 4, "Spaces-Inside", "a  b\tc");
    assert_header(q, 5, "Obs-Text", "caf\xc3\xa9");
    assert_string_equal(http_header_get(q->headers, q->nheaders, "x-custom-thing"), "padded value");
    assert_string_equal(http_header_get(q->headers, q->nheaders, "CONTENT-TYPE"),
                        "application/json");
    assert_null(http_header_get(q->headers, q->nheaders, "missing"));
    run_free(&r);
}

static void test_content_length_body(void **state)
{
    run_t r;
    parse(&r, "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.reqs[0]->body.len, 11);
    assert_memory_equal(r.reqs[0]->body.data, "hello world", 11);
    run_free(&r);

    /* A body with NUL bytes and CRLFs is kept byte for byte. */
    static const char req[] = "PUT / HTTP/1.1\r\nContent-Length: 6\r\n\r\na\0\r\n\0b";
    parse_lim(&r, req, sizeof req - 1, 0, 0);
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.reqs[0]->body.len, 6);
    assert_memory_equal(r.reqs[0]->body.data, "a\0\r\n\0b", 6);
    run_free(&r);

    /* Incomplete body: no request yet, the parser waits in the body phase. */
    parse(&r, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(r.nreqs, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.phase, HTTP_PHASE_BODY);
    run_free(&r);
}

/* llhttp 8.1 accepts one extension per chunk ("5;a=b"), not a list
 * ("5;a=b;c"): such a chunk line is refused with 400. */
static void test_chunked_body(void **state)
{
    static const char req[] = "POST /c HTTP/1.1\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "X-Before: 1\r\n"
                              "\r\n"
                              "5;name=value\r\nhello\r\n"
                              "1;flag\r\n \r\n"
                              "A;q=\"quoted value\"\r\n0123456789\r\n"
                              "0\r\n"
                              "X-Trailer: t\r\n"
                              "Another-Trailer: u\r\n"
                              "\r\n";
    run_t r;
    parse(&r, req);
    if (r.status)
        fail_msg("%d %s", r.status, r.message);
    assert_int_equal(r.nreqs, 1);
    http_request_t *q = r.reqs[0];
    assert_int_equal(q->body.len, 16);
    assert_memory_equal(q->body.data, "hello 0123456789", 16);
    /* Trailers are not headers: the application saw the headers first. */
    assert_int_equal(q->nheaders, 2);
    assert_header(q, 0, "Transfer-Encoding", "chunked");
    assert_header(q, 1, "X-Before", "1");
    assert_null(http_header_get(q->headers, q->nheaders, "X-Trailer"));
    run_free(&r);

    /* The same request split at every byte gives the same result. */
    parse_bytewise(&r, req, sizeof req - 1, 0, 0);
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.reqs[0]->body.len, 16);
    assert_memory_equal(r.reqs[0]->body.data, "hello 0123456789", 16);
    run_free(&r);
}

static const char pipeline[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                               "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirst"
                               "PUT /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
                               "DELETE /four HTTP/1.1\r\nConnection: close\r\n\r\n";

static void check_pipeline(run_t *r, size_t cut)
{
    if (r->status || r->nreqs != 4)
        fail_msg("cut at %zu: status %d, %d requests", cut, r->status, r->nreqs);
    assert_string_equal(r->reqs[0]->method, "GET");
    assert_string_equal(r->reqs[0]->target, "/one");
    assert_int_equal(r->reqs[0]->body.len, 0);
    assert_string_equal(r->reqs[1]->method, "POST");
    assert_string_equal(r->reqs[1]->target, "/two");
    assert_int_equal(r->reqs[1]->body.len, 5);
    assert_memory_equal(r->reqs[1]->body.data, "first", 5);
    assert_string_equal(r->reqs[2]->method, "PUT");
    assert_string_equal(r->reqs[2]->target, "/three");
    assert_int_equal(r->reqs[2]->body.len, 5);
    assert_memory_equal(r->reqs[2]->body.data, "abcde", 5);
    assert_string_equal(r->reqs[3]->method, "DELETE");
    assert_false(r->reqs[3]->keep_alive);
    for (int i = 0; i < 3; i++)
        assert_true(r->reqs[i]->keep_alive);
    assert_int_equal(r->phase, HTTP_PHASE_CLOSED);
}

static void test_pipelined(void **state)
{
    size_t len = sizeof pipeline - 1;
    run_t r;
    parse_lim(&r, pipeline, len, 0, 0);
    check_pipeline(&r, 0);
    run_free(&r);
    for (size_t cut = 1; cut < len; cut++) {
        parse_cuts(&r, pipeline, len, &cut, 1, 0, 0);
        check_pipeline(&r, cut);
        run_free(&r);
    }
    parse_bytewise(&r, pipeline, len, 0, 0);
    check_pipeline(&r, 1);
    run_free(&r);
}

static void test_pipelined_leaves_rest(void **state)
{
    /* Pausing after a request leaves the next one's bytes unconsumed, so the
     * connection can hold them while the first is answered. */
    static const char two[] = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    http_parse_t p;
    http_parse_init(&p, 0, 0);
    size_t used = 0;
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)two, sizeof two - 1, &used),
                     HTTP_PARSE_REQUEST);
    assert_int_equal(used, 19);
    assert_int_equal(http_parse_phase(&p), HTTP_PHASE_READY);
    /* Feeding again before taking changes nothing. */
    size_t again = 99;
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)two + used, 19, &again),
                     HTTP_PARSE_REQUEST);
    assert_int_equal(again, 0);
    http_request_t *a = http_parse_take(&p);
    assert_string_equal(a->target, "/a");
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)two + used, 19, &again),
                     HTTP_PARSE_REQUEST);
    assert_int_equal(again, 19);
    http_request_t *b = http_parse_take(&p);
    assert_string_equal(b->target, "/b");
    http_request_free(a);
    http_request_free(b);
    http_parse_deinit(&p);
}

static void test_expect_continue(void **state)
{
    static const char req[] = "POST /up HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n";
    http_parse_t p;
    http_parse_init(&p, 0, 0);
    size_t used = 0;
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)req, sizeof req - 1, &used),
                     HTTP_PARSE_CONTINUE);
    assert_int_equal(used, sizeof req - 1);
    assert_int_equal(http_parse_phase(&p), HTTP_PHASE_BODY);
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)"abc", 3, &used), HTTP_PARSE_REQUEST);
    http_request_t *q = http_parse_take(&p);
    assert_memory_equal(q->body.data, "abc", 3);
    http_request_free(q);
    http_parse_deinit(&p);

    run_t r;
    /* Continue comes once per request, before it completes, also chunked. */
    parse(&r, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
              "1\r\nx\r\n0\r\n\r\n"
              "POST / HTTP/1.1\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\ny");
    assert_int_equal(r.nreqs, 2);
    assert_int_equal(r.continues, 2);
    assert_int_equal(r.continue_before[0], 1);
    assert_int_equal(r.continue_before[1], 2);
    run_free(&r);
    /* No body expected: nothing to continue. */
    parse(&r, "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.continues, 0);
    run_free(&r);
    /* HTTP/1.0 cannot expect (RFC 9110 10.1.1). */
    parse(&r, "POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nz");
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.continues, 0);
    run_free(&r);
    /* Refusals come instead of the continue. */
    static const char big[] = "POST / HTTP/1.1\r\nContent-Length: 100\r\nExpect: 100-continue"
                              "\r\n\r\n";
    parse_lim(&r, big, sizeof big - 1, 0, 10);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.continues, 0);
    run_free(&r);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 1\r\nExpect: something-else\r\n\r\nx", 417);
}

/* A request whose line + headers are exactly n bytes. */
static char *request_of_size(size_t n)
{
    static const char head[] = "GET / HTTP/1.1\r\nX-Pad: ";
    static const char tail[] = "\r\n\r\n";
    size_t fixed = sizeof head - 1 + sizeof tail - 1;
    assert_true(n > fixed);
    char *s = xmalloc(n + 1);
    memcpy(s, head, sizeof head - 1);
    memset(s + sizeof head - 1, 'p', n - fixed);
    memcpy(s + n - (sizeof tail - 1), tail, sizeof tail - 1);
    s[n] = '\0';
    return s;
}

static void test_header_limit_exact(void **state)
{
    const size_t max = 1024;
    run_t r;
    char *ok = request_of_size(max);
    parse_lim(&r, ok, max, max, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 1);
    run_free(&r);
    parse_bytewise(&r, ok, max, max, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 1);
    run_free(&r);
    free(ok);

    char *big = request_of_size(max + 1);
    parse_lim(&r, big, max + 1, max, 0);
    assert_int_equal(r.status, 431);
    assert_string_equal(r.code, "HEADERS_TOO_LARGE");
    run_free(&r);
    parse_bytewise(&r, big, max + 1, max, 0);
    assert_int_equal(r.status, 431);
    run_free(&r);
    free(big);

    /* A header that never ends is refused once past the limit, without
     * waiting for its end. */
    char *endless = xmalloc(10 * max);
    memcpy(endless, "GET / HTTP/1.1\r\nX: ", 19);
    memset(endless + 19, 'z', 10 * max - 19);
    parse_lim(&r, endless, 10 * max, max, 0);
    assert_int_equal(r.status, 431);
    run_free(&r);
    free(endless);

    /* The limit is per request: two requests of max bytes each are fine. */
    char *one = request_of_size(max);
    char *two = xmalloc(2 * max);
    memcpy(two, one, max);
    memcpy(two + max, one, max);
    parse_lim(&r, two, 2 * max, max, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 2);
    run_free(&r);
    free(one);
    free(two);
}

static void test_body_limit(void **state)
{
    run_t r;
    /* Decided from Content-Length as soon as the headers end: no body byte
     * has to arrive. */
    parse_lim(&r, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 39, 0, 10);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.code, "PAYLOAD_TOO_LARGE");
    run_free(&r);
    parse_lim(&r, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 49, 0, 10);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 1);
    run_free(&r);
    /* Chunked: refused when the decoded body passes the limit. */
    static const char ch[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n";
    parse_lim(&r, ch, sizeof ch - 1, 0, 10);
    assert_int_equal(r.status, 413);
    run_free(&r);
    parse_lim(&r, ch, sizeof ch - 1, 0, 11);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.reqs[0]->body.len, 11);
    run_free(&r);
    parse_bytewise(&r, ch, sizeof ch - 1, 0, 10);
    assert_int_equal(r.status, 413);
    run_free(&r);
}

static void test_bad_requests(void **state)
{
    assert_error("garbage\r\n\r\n", 400);
    assert_error("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400); /* a TLS hello */
    assert_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\n\r\n",
                 400);
    assert_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                 "0\r\n\r\n",
                 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nX(y): x\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\n: x\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_error("GET /a b HTTP/1.1\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\nX: y\n\n", 400);
    assert_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400);
    assert_error("GET / HTTP/1.2\r\n\r\n", 400);
    assert_error("GET / HTTP/2.0\r\n\r\n", 505);
    assert_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    assert_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
    assert_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n0\r\n\r\n",
                 501);
    assert_error("CONNECT example.com:443 HTTP/1.1\r\n\r\n", 501);

    /* The error is sticky and the message says what was wrong. */
    run_t r;
    parse(&r, "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.message, "Transfer-Encoding"));
    assert_int_equal(r.phase, HTTP_PHASE_CLOSED);
    run_free(&r);

    /* An error after good requests: the good ones were delivered first. */
    parse(&r, "GET /ok HTTP/1.1\r\n\r\nBLAH\r\n\r\n");
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.status, 400);
    run_free(&r);
}

static void test_http10_keepalive(void **state)
{
    run_t r;
    parse(&r, "GET / HTTP/1.0\r\n\r\nGET /ignored HTTP/1.0\r\n\r\n");
    assert_int_equal(r.nreqs, 1);
    assert_int_equal(r.reqs[0]->version_minor, 0);
    assert_false(r.reqs[0]->keep_alive);
    assert_int_equal(r.phase, HTTP_PHASE_CLOSED);
    run_free(&r);

    parse(&r, "GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    assert_int_equal(r.nreqs, 2);
    assert_true(r.reqs[0]->keep_alive);
    assert_false(r.reqs[1]->keep_alive);
    run_free(&r);

    parse(&r, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_int_equal(r.nreqs, 1);
    assert_false(r.reqs[0]->keep_alive);
    run_free(&r);

    parse(&r, "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_int_equal(r.nreqs, 1);
    assert_true(r.reqs[0]->keep_alive);
    assert_true(r.reqs[0]->upgrade);
    run_free(&r);

    parse(&r, "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    assert_false(r.reqs[0]->upgrade); /* Upgrade without Connection: upgrade */
    run_free(&r);
}

static void test_upgrade_leaves_bytes(void **state)
{
    /* After an upgrade request the next bytes are the new protocol's: they
     * stay unconsumed until the connection decides. */
    static const char req[] = "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                              "\x81\x85xxxx";
    http_parse_t p;
    http_parse_init(&p, 0, 0);
    size_t used = 0;
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)req, sizeof req - 1, &used),
                     HTTP_PARSE_REQUEST);
    assert_int_equal(used, sizeof req - 1 - 6);
    http_request_t *q = http_parse_take(&p);
    assert_true(q->upgrade);
    http_request_free(q);
    /* Had the application not upgraded, HTTP goes on. */
    static const char next[] = "GET /after HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_feed(&p, (const uint8_t *)next, sizeof next - 1, &used),
                     HTTP_PARSE_REQUEST);
    q = http_parse_take(&p);
    assert_string_equal(q->target, "/after");
    http_request_free(q);
    http_parse_deinit(&p);
}

static void test_head(void **state)
{
    run_t r;
    parse(&r, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
    assert_int_equal(r.nreqs, 2);
    assert_string_equal(r.reqs[0]->method, "HEAD");
    assert_int_equal(r.reqs[0]->body.len, 0);
    assert_string_equal(r.reqs[1]->method, "GET");
    run_free(&r);
}

static void test_leading_crlf_and_methods(void **state)
{
    run_t r;
    /* RFC 9112 2.2: empty lines before a request are ignored. */
    parse(&r, "\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\nPATCH http://h/p HTTP/1.1\r\nContent-Length: 0"
              "\r\n\r\n");
    assert_int_equal(r.nreqs, 2);
    assert_string_equal(r.reqs[0]->method, "OPTIONS");
    assert_string_equal(r.reqs[0]->target, "*");
    assert_string_equal(r.reqs[1]->method, "PATCH");
    assert_string_equal(r.reqs[1]->target, "http://h/p");
    run_free(&r);
}

/* --- message helpers --------------------------------------------------------- */

static void test_helpers(void **state)
{
    http_header_t *h = NULL;
    size_t n = 0;
    http_headers_add(&h, &n, "Content-Type", "text/plain");
    http_headers_addn(&h, &n, "X-Bin", 5, "a\0b", 3);
    assert_int_equal(n, 2);
    assert_string_equal(http_header_get(h, n, "content-type"), "text/plain");
    assert_int_equal(h[1].value_len, 3);
    assert_memory_equal(h[1].value, "a\0b", 3);
    http_headers_free(h, n);

    assert_string_equal(http_status_reason(200), "OK");
    assert_string_equal(http_status_reason(404), "Not Found");
    assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_reason(499), "Client Error");

    http_response_t *res = http_response_error(400, "BAD\"CODE", "line\nbreak \"q\" \\ \x01 "
                                                                 "caf\xc3\xa9 bad\xff\xc0\x80 "
                                                                 "\xed\xa0\x80");
    assert_int_equal(res->status, 400);
    assert_string_equal(http_header_get(res->headers, res->nheaders, "content-type"),
                        "application/json");
    assert_string_equal((const char *)res->body.data,
                        "{\"error\":{\"code\":\"BAD\\\"CODE\",\"message\":\"line\\nbreak "
                        "\\\"q\\\" \\\\ \\u0001 caf\xc3\xa9 bad\\ufffd\\ufffd\\ufffd "
                        "\\ufffd\\ufffd\\ufffd\"}}");
    http_response_free(res);
}

/* --- a real server in a thread ------------------------------------------------- */

typedef struct server_ctx {
    http_limits_t limits;
    uv_loop_t loop;
    uv_async_t stop;
    uv_async_t emfile; /* makes the server act as if it ran out of descriptors */
    http_server_t *srv;
    int port;
    sem_t ready;
    pthread_t thread;
    int closed; /* http_server_close's callback ran */
    atomic_int requests; /* written by the server thread */
    atomic_int bad_data; /* http_conn_data did not give the listen pointer */
    atomic_int late_done; /* deferred answers given */
    atomic_int emfile_done; /* injected accept errors taken */
    bool stopped;
} server_ctx_t;

/* The echo: "METHOD TARGET\n" then the body. Some targets ask for special
 * answers. */
static http_response_t *echo(http_request_t *req)
{
    http_response_t *res = http_response_new(200);
    http_headers_add(&res->headers, &res->nheaders, "Content-Type", "text/plain");
    /* The layer owns framing: these must be dropped, not duplicated. */
    http_headers_add(&res->headers, &res->nheaders, "Content-Length", "999");
    http_headers_add(&res->headers, &res->nheaders, "Date", "yesterday");
    if (strcmp(req->target, "/close") == 0)
        http_headers_add(&res->headers, &res->nheaders, "Connection", "close");
    if (strcmp(req->target, "/nocontent") == 0)
        res->status = 204;
    buf_printf(&res->body, "%s %s\n", req->method, req->target);
    buf_append(&res->body, req->body.data, req->body.len);
    if (strcmp(req->target, "/huge") == 0) {
        buf_reserve(&res->body, BIG_BODY);
        memset(res->body.data + res->body.len, 'x', BIG_BODY);
        res->body.len += BIG_BODY;
    }
    http_request_free(req);
    return res;
}

/* An answer given later, from a timer, as a real handler would. */
typedef struct later {
    uv_timer_t timer;
    server_ctx_t *ctx;
    http_conn_t *conn;
    http_request_t *req;
} later_t;

static void later_free(uv_handle_t *h)
{
    free(h->data);
}

static void later_fire(uv_timer_t *t)
{
    later_t *l = t->data;
    http_conn_respond(l->conn, echo(l->req));
    l->ctx->late_done++;
    uv_close((uv_handle_t *)t, later_free);
}

/* After an upgrade the socket is ours: a raw echo stands in for WebSocket. */
static void raw_closed(uv_handle_t *h)
{
    free(h);
}

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    buf->base = xmalloc(4096);
    buf->len = 4096;
}

static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    if (n > 0) {
        uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
        uv_try_write(st, &b, 1);
    } else if (n < 0) {
        uv_close((uv_handle_t *)st, raw_closed);
    }
    free(buf->base);
}

static void upgraded(uv_tcp_t *tcp, const uint8_t *head, size_t len, void *arg)
{
    server_ctx_t *ctx = arg;
    if (!tcp) {
        ctx->bad_data++; /* the test expects the upgrade to succeed */
        return;
    }
    /* Bytes the client sent right behind the request come first. */
    if (len) {
        uv_buf_t b = uv_buf_init((char *)head, (unsigned)len);
        uv_try_write((uv_stream_t *)tcp, &b, 1);
    }
    uv_read_start((uv_stream_t *)tcp, raw_alloc, raw_read);
}

static void echo_cb(http_conn_t *conn, http_request_t *req, void *data)
{
    server_ctx_t *ctx = data;
    /* No cmocka asserts here: they cannot jump out of another thread. */
    if (http_conn_data(conn) != ctx)
        ctx->bad_data++;
    ctx->requests++;
    if (strcmp(req->target, "/upgrade") == 0 && req->upgrade) {
        http_request_free(req);
        http_response_t *res = http_response_new(101);
        http_headers_add(&res->headers, &res->nheaders, "Connection", "Upgrade");
        http_headers_add(&res->headers, &res->nheaders, "Upgrade", "raw-echo");
        http_conn_upgrade(conn, res, upgraded, ctx);
        return;
    }
    if (strncmp(req->target, "/later", 6) == 0) {
        later_t *l = xcalloc(1, sizeof *l);
        l->ctx = ctx;
        l->conn = conn;
        l->req = req;
        uv_timer_init(&ctx->loop, &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, later_fire, 100, 0);
        return;
    }
    http_conn_respond(conn, echo(req));
}

static void on_server_closed(void *data)
{
    server_ctx_t *ctx = data;
    ctx->closed = 1;
}

static void on_stop(uv_async_t *a)
{
    server_ctx_t *ctx = a->data;
    http_server_close(ctx->srv, on_server_closed, ctx);
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&ctx->emfile, NULL);
}

static void on_emfile(uv_async_t *a)
{
    server_ctx_t *ctx = a->data;
    http_server_test_accept_error(ctx->srv, UV_EMFILE);
    ctx->emfile_done++;
}

static void *server_main(void *arg)
{
    server_ctx_t *ctx = arg;
    char err[256];
    uv_loop_init(&ctx->loop);
    ctx->srv = http_server_listen(&ctx->loop, "127.0.0.1", 0, &ctx->limits, echo_cb, ctx, err,
                                  sizeof err);
    if (!ctx->srv) {
        fprintf(stderr, "listen: %s\n", err);
        abort();
    }
    ctx->port = http_server_port(ctx->srv);
    uv_async_init(&ctx->loop, &ctx->stop, on_stop);
    ctx->stop.data = ctx;
    uv_async_init(&ctx->loop, &ctx->emfile, on_emfile);
    ctx->emfile.data = ctx;
    sem_post(&ctx->ready);
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ctx->loop);
    return NULL;
}

static int server_start(void **state, uint64_t write_timeout_ms)
{
    server_ctx_t *ctx = xcalloc(1, sizeof *ctx);
    http_limits_default(&ctx->limits);
    ctx->limits.header_timeout_ms = 200;
    ctx->limits.body_timeout_ms = 200;
    ctx->limits.keepalive_timeout_ms = 2000;
    ctx->limits.max_body_bytes = 1 << 20;
    ctx->limits.write_timeout_ms = write_timeout_ms;
    sem_init(&ctx->ready, 0, 0);
    pthread_create(&ctx->thread, NULL, server_main, ctx);
    sem_wait(&ctx->ready);
    assert_true(ctx->port > 0);
    *state = ctx;
    return 0;
}

/* A loaded machine may leave a busy test client unread for a while: the
 * write timeout is short only where it is the subject. */
static int server_setup(void **state)
{
    return server_start(state, 10000);
}

static int server_setup_short_write(void **state)
{
    return server_start(state, 300);
}

static int server_teardown(void **state)
{
    server_ctx_t *ctx = *state;
    if (!ctx->stopped)
        uv_async_send(&ctx->stop);
    pthread_join(ctx->thread, NULL);
    /* The loop only ends when every handle is closed: the close callback
     * ran and no connection was left behind. */
    assert_int_equal(ctx->closed, 1);
    assert_int_equal(ctx->bad_data, 0);
    sem_destroy(&ctx->ready);
    free(ctx);
    return 0;
}

static int client_connect(server_ctx_t *ctx)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ctx->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void client_send(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static void client_puts(int fd, const char *s)
{
    client_send(fd, s, strlen(s));
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads into b until `done(b)` or EOF or the deadline. Returns 1 on EOF. */
static int client_read_until(int fd, buf_t *b, bool (*done)(const buf_t *), int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!done || !done(b)) {
        uint64_t now = now_ms();
        if (now >= end)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(end - now)) <= 0)
            return 0;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            return 1;
        buf_append(b, tmp, (size_t)n);
    }
    return 0;
}

/* One parsed response off the front of b. */
typedef struct resp {
    int status;
    char head[2048];
    size_t body_len;
    char body[4096];
    size_t total; /* bytes it took in b */
} resp_t;

/* Parses a response at the front of b; content_length_applies is false for
 * HEAD, where Content-Length says nothing about the bytes that follow. */
static bool take_response(const buf_t *b, resp_t *r, bool content_length_applies)
{
    const char *s = buf_cstr(b);
    const char *end = strstr(s, "\r\n\r\n");
    if (!end)
        return false;
    size_t hlen = (size_t)(end - s) + 4;
    memset(r, 0, sizeof *r);
    snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, s);
    r->status = atoi(s + 9);
    const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    size_t blen = cl && content_length_applies ? strtoul(cl + 18, NULL, 10) : 0;
    if (b->len < hlen + blen)
        return false;
    r->body_len = blen;
    memcpy(r->body, s + hlen, blen < sizeof r->body ? blen : sizeof r->body - 1);
    r->total = hlen + blen;
    return true;
}

static int count_responses(const buf_t *b)
{
    size_t off = 0;
    int n = 0;
    resp_t r;
    for (;;) {
        buf_t view = {b->data + off, b->len - off, 0};
        if (off >= b->len || !take_response(&view, &r, true))
            return n;
        off += r.total;
        n++;
    }
}

static int want_responses;
static bool have_n_responses(const buf_t *b)
{
    return count_responses(b) >= want_responses;
}

static void read_responses(int fd, buf_t *b, int n, resp_t *out)
{
    want_responses = n;
    client_read_until(fd, b, have_n_responses, 3000);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        buf_t view = {b->data + off, b->len - off, 0};
        if (!b->data || !take_response(&view, &out[i], true))
            fail_msg("response %d of %d missing; got: %s", i + 1, n, buf_cstr(b));
        off += out[i].total;
    }
}

static void wait_for(atomic_int *v, int want)
{
    uint64_t end = now_ms() + 3000;
    while (*v < want && now_ms() < end)
        usleep(1000);
    assert_int_equal(*v, want);
}

static void test_sock_keepalive(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    resp_t r[1];
    client_puts(fd, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_int_equal(r[0].status, 200);
    assert_string_equal(r[0].body, "GET /first\n");
    assert_non_null(strstr(r[0].head, "\r\nDate: "));
    assert_null(strstr(r[0].head, "yesterday"));
    assert_null(strstr(r[0].head, "999"));
    assert_null(strstr(r[0].head, "Connection: close"));
    buf_reset(&b);
    client_puts(fd, "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
    read_responses(fd, &b, 1, r);
    assert_string_equal(r[0].body, "POST /second\nbody");
    buf_deinit(&b);
    close(fd);
}

static void test_sock_pipelining(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    resp_t r[3];
    client_puts(fd, "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                    "GET /c HTTP/1.1\r\n\r\n");
    read_responses(fd, &b, 3, r);
    assert_string_equal(r[0].body, "GET /a\n");
    assert_string_equal(r[1].body, "POST /b\nhi");
    assert_string_equal(r[2].body, "GET /c\n");
    buf_deinit(&b);
    close(fd);
}

static bool has_head_then_get(const buf_t *b)
{
    resp_t head, get;
    if (!take_response(b, &head, false))
        return false;
    buf_t rest = {b->data + head.total, b->len - head.total, 0};
    return take_response(&rest, &get, true);
}

static void test_sock_head(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    /* HEAD then GET in one write: if HEAD sent body bytes, the second
     * response would not start right after the first header block. */
    client_puts(fd, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
    client_read_until(fd, &b, has_head_then_get, 3000);
    resp_t head, get;
    assert_true(take_response(&b, &head, false));
    assert_int_equal(head.status, 200);
    assert_non_null(strstr(head.head, "Content-Length: 8\r\n")); /* "HEAD /h\n" */
    buf_t rest = {b.data + head.total, b.len - head.total, 0};
    assert_true(take_response(&rest, &get, true));
    assert_int_equal(get.status, 200);
    assert_string_equal(get.body, "GET /g\n");
    buf_deinit(&b);
    close(fd);
}

static void test_sock_204(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    resp_t r[2];
    client_puts(fd, "GET /nocontent HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
    read_responses(fd, &b, 2, r);
    assert_int_equal(r[0].status, 204);
    assert_null(strstr(r[0].head, "Content-Length"));
    assert_string_equal(r[1].body, "GET /after\n");
    buf_deinit(&b);
    close(fd);
}

static bool has_408(const buf_t *b)
{
    return strstr(buf_cstr(b), "\r\n\r\n") != NULL;
}

static void test_sock_stalled_headers(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    uint64_t t0 = now_ms();
    client_puts(fd, "GET /slow HTTP/1.1\r\nHost: x\r\nX-Half: ");
    client_read_until(fd, &b, has_408, 3000);
    uint64_t waited = now_ms() - t0;
    assert_true(strncmp(buf_cstr(&b), "HTTP/1.1 408 ", 13) == 0);
    assert_non_null(strstr(buf_cstr(&b), "Connection: close"));
    assert_non_null(strstr(buf_cstr(&b), "\"code\":\"REQUEST_TIMEOUT\""));
    assert_true(waited >= 150 && waited < 2000);
    /* Then the server closes. */
    int eof = client_read_until(fd, &b, NULL, 3000);
    assert_int_equal(eof, 1);
    assert_int_equal(ctx->requests, 0);
    buf_deinit(&b);
    close(fd);
}

static void test_sock_stalled_body(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    client_puts(fd, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    client_read_until(fd, &b, has_408, 3000);
    assert_true(strncmp(buf_cstr(&b), "HTTP/1.1 408 ", 13) == 0);
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);
}

static bool has_continue(const buf_t *b)
{
    return b->len >= 25;
}

static void test_sock_continue(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    client_puts(fd, "PUT /up HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    client_read_until(fd, &b, has_continue, 3000);
    assert_true(b.len >= 25);
    assert_memory_equal(b.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    assert_int_equal(ctx->requests, 0);
    client_puts(fd, "12345");
    buf_t rest = BUF_INIT;
    resp_t r[1];
    if (b.len > 25)
        buf_append(&rest, b.data + 25, b.len - 25);
    read_responses(fd, &rest, 1, r);
    assert_int_equal(r[0].status, 200);
    assert_string_equal(r[0].body, "PUT /up\n12345");
    buf_deinit(&b);
    buf_deinit(&rest);
    close(fd);
}

static void test_sock_connection_close(void **state)
{
    server_ctx_t *ctx = *state;
    /* Asked by the client. */
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    resp_t r[1];
    client_puts(fd, "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_non_null(strstr(r[0].head, "Connection: close\r\n"));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    assert_int_equal(count_responses(&b), 1);
    buf_deinit(&b);
    close(fd);

    /* Asked by the application. */
    fd = client_connect(ctx);
    client_puts(fd, "GET /close HTTP/1.1\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_non_null(strstr(r[0].head, "Connection: close\r\n"));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);

    /* HTTP/1.0: closed unless keep-alive is asked for, and then said. */
    fd = client_connect(ctx);
    client_puts(fd, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_non_null(strstr(r[0].head, "Connection: keep-alive\r\n"));
    buf_reset(&b);
    client_puts(fd, "GET /old2 HTTP/1.0\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_string_equal(r[0].body, "GET /old2\n");
    assert_non_null(strstr(r[0].head, "Connection: close\r\n"));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);
}

static void test_sock_errors(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    resp_t r[1];
    /* Refused from the announced length, before any body byte. */
    client_puts(fd, "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_int_equal(r[0].status, 413);
    assert_non_null(strstr(r[0].head, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(r[0].body, "\"code\":\"PAYLOAD_TOO_LARGE\""));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);

    fd = client_connect(ctx);
    client_puts(fd, "BLAH\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_int_equal(r[0].status, 400);
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);
    assert_int_equal(ctx->requests, 0);
}

static void test_sock_big_body_and_peer_gone(void **state)
{
    server_ctx_t *ctx = *state;
    /* A body larger than one read, in many small writes. */
    int fd = client_connect(ctx);
    size_t n = 300000;
    char *body = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    char head[128];
    snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    client_puts(fd, head);
    client_send(fd, body, n);
    buf_t b = BUF_INIT;
    want_responses = 1;
    client_read_until(fd, &b, have_n_responses, 3000);
    const char *s = buf_cstr(&b);
    const char *hend = strstr(s, "\r\n\r\n");
    assert_non_null(hend);
    assert_int_equal(b.len - (size_t)(hend + 4 - s), n + 10); /* "POST /big\n" */
    assert_memory_equal(hend + 4 + 10, body, n);
    free(body);
    buf_deinit(&b);
    close(fd);

    /* A client that goes away mid-request costs nothing and breaks nothing. */
    fd = client_connect(ctx);
    client_puts(fd, "POST /gone HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial");
    close(fd);
    fd = client_connect(ctx);
    resp_t r[1];
    client_puts(fd, "GET /still-here HTTP/1.1\r\n\r\n");
    read_responses(fd, &b, 1, r);
    assert_string_equal(r[0].body, "GET /still-here\n");
    buf_deinit(&b);
    close(fd);
}

static void test_sock_deferred_answers(void **state)
{
    server_ctx_t *ctx = *state;
    buf_t b = BUF_INIT;
    resp_t r[2];
    /* Pipelined requests wait for the slow one and keep their order. */
    int fd = client_connect(ctx);
    client_puts(fd, "GET /later/1 HTTP/1.1\r\n\r\nGET /quick HTTP/1.1\r\n\r\n");
    read_responses(fd, &b, 2, r);
    assert_string_equal(r[0].body, "GET /later/1\n");
    assert_string_equal(r[1].body, "GET /quick\n");
    buf_deinit(&b);
    close(fd);

    /* The peer resets while its request is being handled: the late answer
     * is dropped and the connection freed then (ASan checks both). */
    fd = client_connect(ctx);
    client_puts(fd, "GET /later/2 HTTP/1.1\r\n\r\n");
    wait_for(&ctx->requests, 3);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    wait_for(&ctx->late_done, 2);

    /* A half-closed client still gets its answer, then the close. */
    fd = client_connect(ctx);
    client_puts(fd, "GET /later/3 HTTP/1.1\r\n\r\n");
    shutdown(fd, SHUT_WR);
    read_responses(fd, &b, 1, r);
    assert_string_equal(r[0].body, "GET /later/3\n");
    assert_non_null(strstr(r[0].head, "Connection: close\r\n"));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);

    /* ... also to every request it pipelined before closing its side. */
    fd = client_connect(ctx);
    client_puts(fd, "GET /later/4 HTTP/1.1\r\n\r\nGET /after-eof HTTP/1.1\r\n\r\n");
    shutdown(fd, SHUT_WR);
    read_responses(fd, &b, 2, r);
    assert_string_equal(r[0].body, "GET /later/4\n");
    assert_null(strstr(r[0].head, "Connection: close\r\n"));
    assert_string_equal(r[1].body, "GET /after-eof\n");
    assert_non_null(strstr(r[1].head, "Connection: close\r\n"));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);
}

static void test_sock_close_while_busy(void **state)
{
    server_ctx_t *ctx = *state;
    buf_t b = BUF_INIT;
    resp_t r[1];
    int idle = client_connect(ctx);
    int fd = client_connect(ctx);
    client_puts(fd, "GET /later/x HTTP/1.1\r\n\r\n");
    wait_for(&ctx->requests, 1);
    ctx->stopped = true;
    uv_async_send(&ctx->stop);
    /* The idle connection closes at once; the busy one gets its answer,
     * marked as the last, and then closes. */
    assert_int_equal(client_read_until(idle, &b, NULL, 3000), 1);
    assert_int_equal(b.len, 0);
    read_responses(fd, &b, 1, r);
    assert_string_equal(r[0].body, "GET /later/x\n");
    assert_non_null(strstr(r[0].head, "Connection: close\r\n"));
    assert_int_equal(client_read_until(fd, &b, NULL, 3000), 1);
    buf_deinit(&b);
    close(fd);
    close(idle);
}

/* Out of descriptors, the server stops accepting for a moment instead of
 * spinning on accept(): a connection made meanwhile waits in the backlog
 * and is served once accepting resumes; one open before is served at once. */
static void test_sock_emfile_pause(void **state)
{
    server_ctx_t *ctx = *state;
    buf_t b = BUF_INIT;
    resp_t r[1];
    int before = client_connect(ctx);
    client_puts(before, "GET /warm HTTP/1.1\r\n\r\n");
    read_responses(before, &b, 1, r);
    uv_async_send(&ctx->emfile);
    wait_for(&ctx->emfile_done, 1);
    uint64_t t0 = now_ms();
    int during = client_connect(ctx);
    client_puts(during, "GET /during HTTP/1.1\r\n\r\n");
    buf_reset(&b);
    client_puts(before, "GET /again HTTP/1.1\r\n\r\n");
    read_responses(before, &b, 1, r);
    assert_string_equal(r[0].body, "GET /again\n");
    buf_reset(&b);
    read_responses(during, &b, 1, r);
    assert_string_equal(r[0].body, "GET /during\n");
    assert_true(now_ms() - t0 >= 50); /* it waited for the pause to end */
    buf_deinit(&b);
    close(during);
    close(before);
}

/* Closing while accepting is paused still finishes cleanly (the teardown
 * checks that every handle was closed). */
static void test_sock_emfile_close(void **state)
{
    server_ctx_t *ctx = *state;
    uv_async_send(&ctx->emfile);
    wait_for(&ctx->emfile_done, 1);
}

/* Many pipelined requests behind a slow one: the server stops reading past
 * its buffer limit and resumes, and every answer comes, in order. */
static void test_sock_pipeline_backpressure(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    const int n = 60000;
    buf_t out = BUF_INIT;
    buf_puts(&out, "GET /later/first HTTP/1.1\r\n\r\n");
    for (int i = 0; i < n; i++)
        buf_printf(&out, "GET /p%d HTTP/1.1\r\n\r\n", i);
    assert_true(out.len > ((size_t)1 << 20));
    buf_t in = BUF_INIT;
    size_t sent = 0;
    int got = 0;
    size_t parsed = 0;
    uint64_t end = now_ms() + 20000;
    while (got < n + 1 && now_ms() < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < out.len ? POLLOUT : 0)};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if ((pfd.revents & POLLOUT) && sent < out.len) {
            ssize_t w = send(fd, out.data + sent, out.len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        if (pfd.revents & POLLIN) {
            char tmp[65536];
            ssize_t rn = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
            assert_true(rn > 0);
            buf_append(&in, tmp, (size_t)rn);
            resp_t r;
            for (;;) {
                buf_t view = {in.data + parsed, in.len - parsed, 0};
                if (!take_response(&view, &r, true))
                    break;
                char want[64];
                if (got == 0)
                    snprintf(want, sizeof want, "GET /later/first\n");
                else
                    snprintf(want, sizeof want, "GET /p%d\n", got - 1);
                if (strcmp(r.body, want) != 0)
                    fail_msg("response %d: %s, wanted %s", got, r.body, want);
                parsed += r.total;
                got++;
            }
        }
    }
    assert_int_equal(got, n + 1);
    buf_deinit(&out);
    buf_deinit(&in);
    close(fd);
}

/* A client that does not read a large answer is dropped after the write
 * timeout instead of holding the response forever. */
static void test_sock_write_timeout(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16384;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ctx->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    client_puts(fd, "GET /huge HTTP/1.1\r\n\r\n");
    usleep(1200 * 1000); /* well past the 300 ms write timeout */
    buf_t b = BUF_INIT;
    client_read_until(fd, &b, NULL, 5000);
    assert_true(b.len > 0);
    assert_true(b.len < BIG_BODY);
    buf_deinit(&b);
    close(fd);
}

static bool has_101_and(const buf_t *b, const char *tail)
{
    const char *s = buf_cstr(b);
    const char *e = strstr(s, "\r\n\r\n");
    return e && strcmp(e + 4, tail) == 0;
}

static bool has_early(const buf_t *b)
{
    return has_101_and(b, "early");
}

static bool has_more(const buf_t *b)
{
    return has_101_and(b, "earlymore");
}

static void test_sock_upgrade(void **state)
{
    server_ctx_t *ctx = *state;
    int fd = client_connect(ctx);
    buf_t b = BUF_INIT;
    client_puts(fd, "GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: raw-echo\r\n\r\n"
                    "early");
    client_read_until(fd, &b, has_early, 3000);
    const char *s = buf_cstr(&b);
    assert_true(strncmp(s, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    assert_non_null(strstr(s, "\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(s, "\r\nUpgrade: raw-echo\r\n"));
    assert_null(strstr(s, "Content-Length"));
    assert_null(strstr(s, "close"));
    assert_true(has_early(&b));
    /* The socket now belongs to the new protocol. */
    client_puts(fd, "more");
    client_read_until(fd, &b, has_more, 3000);
    assert_true(has_more(&b));
    buf_deinit(&b);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_headers_order_case_trim),
        cmocka_unit_test(test_content_length_body),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_pipelined_leaves_rest),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_header_limit_exact),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_http10_keepalive),
        cmocka_unit_test(test_upgrade_leaves_bytes),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_leading_crlf_and_methods),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test_setup_teardown(test_sock_keepalive, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_pipelining, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_head, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_204, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_stalled_headers, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_stalled_body, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_continue, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_connection_close, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_errors, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_big_body_and_peer_gone, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_deferred_answers, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_close_while_busy, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_pipeline_backpressure, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_write_timeout, server_setup_short_write,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_upgrade, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_emfile_pause, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sock_emfile_close, server_setup, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
