/* The CLI's network calls: a POST of the management API, and a GET whose
 * body streams (the logs), through libcurl's easy interface, with timeouts,
 * no redirects and a bounded answer. It knows nothing of the answer's
 * meaning (cli.c and cli_format.c do) and nothing of the server's code. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 120000L /* a deploy compiles on the server */
/* `get` returns up to 5 MB of code, which JSON escaping can grow six-fold. */
#define MAX_ANSWER_BYTES ((size_t)64 * 1024 * 1024)

void cli_http_reply_init(cli_http_reply_t *r)
{
    r->status = 0;
    r->timed_out = 0;
    buf_init(&r->body);
    buf_init(&r->error);
}

void cli_http_reply_deinit(cli_http_reply_t *r)
{
    buf_deinit(&r->body);
    buf_deinit(&r->error);
}

static size_t write_cb(char *p, size_t size, size_t n, void *data)
{
    buf_t *body = data;
    size_t len = size * n;
    if (body->len + len > MAX_ANSWER_BYTES)
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    buf_append(body, p, len);
    return len;
}

/* The admin token must never go through a proxy on its way to a local
 * server, whatever http_proxy says; the user's own no_proxy still applies. */
static void build_noproxy(buf_t *b)
{
    buf_puts(b, "localhost,127.0.0.1,::1");
    const char *user = getenv("no_proxy");
    if (!user || !*user)
        user = getenv("NO_PROXY");
    if (user && *user) {
        buf_putc(b, ',');
        buf_puts(b, user);
    }
}

/* Streams a 2xx body to the caller, anything else into r->body. */
typedef struct stream {
    CURL *curl;
    cli_http_reply_t *r;
    int (*on_data)(const char *p, size_t n, void *arg);
    void *arg;
} stream_t;

static size_t stream_cb(char *p, size_t size, size_t n, void *data)
{
    stream_t *st = data;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return st->on_data(p, len, st->arg) == 0 ? len : 0;
    return write_cb(p, size, n, &st->r->body);
}

/* One request: POST body when body is not NULL, else a GET streamed to on_data. */
static int perform(const char *base, const char *path, const char *token, const char *body,
                   size_t len, int (*on_data)(const char *p, size_t n, void *arg), void *arg,
                   cli_http_reply_t *r)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    buf_t url = BUF_INIT, auth = BUF_INIT, noproxy = BUF_INIT;
    struct curl_slist *headers = NULL, *h;
    int rc = -1;

    CURL *curl = curl_easy_init();
    if (!curl) {
        buf_puts(&r->error, "libcurl could not start");
        return -1;
    }
    buf_printf(&url, "%s%s", base, path);
    buf_printf(&auth, "Authorization: Bearer %s", token);
    build_noproxy(&noproxy);
    const char *lines[] = {body ? "Content-Type: application/json" : "Accept: text/event-stream",
                           body ? "Accept: application/json" : "Cache-Control: no-cache",
                           "Expect:", /* no 100-continue round trip for big deploys */
                           buf_cstr(&auth)};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(h = curl_slist_append(headers, lines[i]))) {
            buf_puts(&r->error, "out of memory building the request");
            goto fail;
        }
        headers = h;
    }

    stream_t st = {curl, r, on_data, arg};
    curl_easy_setopt(curl, CURLOPT_URL, buf_cstr(&url));
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
    } else {
        /* A followed log has no end: no total timeout, but a dead server is
         * noticed by TCP keep-alive. */
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_cb);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
        curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "dorm-cli");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, buf_cstr(&noproxy));
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode res = curl_easy_perform(curl);
    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && !body && r->body.len == 0 &&
                             (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status),
                              r->status >= 200 && r->status < 300))) {
        r->timed_out = res == CURLE_OPERATION_TIMEDOUT;
        if (res == CURLE_WRITE_ERROR)
            buf_printf(&r->error, "its answer was larger than %zu bytes", MAX_ANSWER_BYTES);
        else
            buf_puts(&r->error, errbuf[0] ? errbuf : curl_easy_strerror(res));
        /* curl's messages may end with a newline; ours are one line. */
        while (r->error.len && r->error.data[r->error.len - 1] == '\n')
            r->error.data[--r->error.len] = '\0';
        r->status = 0;
        goto fail;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    rc = 0;

fail:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    buf_deinit(&url);
    buf_deinit(&noproxy);
    /* The token was in this buffer: wipe it before it goes back to malloc. */
    if (auth.data)
        memset(auth.data, 0, auth.cap);
    buf_deinit(&auth);
    return rc;
}

int cli_http_post(const char *base, const char *token, const char *body, size_t len,
                  cli_http_reply_t *r)
{
    return perform(base, "/_api/manage_durable_objects", token, body, len, NULL, NULL, r);
}

int cli_http_post_to(const char *base, const char *path, const char *token, const char *body,
                     size_t len, cli_http_reply_t *r)
{
    return perform(base, path, token, body, len, NULL, NULL, r);
}

int cli_http_get_stream(const char *base, const char *path, const char *token,
                        int (*on_data)(const char *p, size_t n, void *arg), void *arg,
                        cli_http_reply_t *r)
{
    return perform(base, path, token, NULL, 0, on_data, arg, r);
}
