/* Tests of streamed answers in the HTTP/1.1 layer (http_conn_stream_*): a
 * real server on a libuv loop in a thread, whose handler starts a stream
 * and then writes the pieces the test tells it to, and plain sockets on the
 * client side. Covers chunked framing, HTTP/1.0, HEAD, a vanished client,
 * cutting a body short, pipelining behind a stream, and back-pressure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
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

enum cmd_kind { CMD_WRITE, CMD_END_OK, CMD_END_ABORT, CMD_WRITE_BIG };

typedef struct cmd {
    struct cmd *next;
    enum cmd_kind kind;
    char *data;
    size_t len;
} cmd_t;

typedef struct ctx {
    uv_loop_t loop;
    uv_async_t stop, cmd;
    http_server_t *srv;
    int port;
    sem_t ready;
    pthread_t thread;
    int closed;
    pthread_mutex_t lock;
    cmd_t *cmds, *cmds_tail;
    http_conn_t *conn;          /* the stream being answered (server thread only) */
    atomic_int streams;         /* streams begun */
    atomic_int finished;        /* finished callbacks */
    atomic_int how;             /* the last finished's argument */
    atomic_size_t written;      /* body bytes reported written */
    atomic_int requests;
} ctx_t;

static void on_written(void *arg, size_t n)
{
    ctx_t *c = arg;
    c->written += n;
}

static void on_finished(void *arg, http_stream_end_t how)
{
    ctx_t *c = arg;
    c->how = (int)how;
    c->finished++;
}

static const http_stream_cbs_t cbs = {on_written, on_finished};

static void handler(http_conn_t *conn, http_request_t *req, void *data)
{
    ctx_t *c = data;
    c->requests++;
    if (strncmp(req->target, "/stream", 7) == 0) {
        http_response_t *res = http_response_new(200);
        http_headers_add(&res->headers, &res->nheaders, "X-Kind", "stream");
        /* Framing is the layer's: these must not reach the client. */
        http_headers_add(&res->headers, &res->nheaders, "Content-Length", "12345");
        http_headers_add(&res->headers, &res->nheaders, "Transfer-Encoding", "gzip");
        http_request_free(req);
        c->conn = conn;
        if (http_conn_stream_begin(conn, res, &cbs, c) == 0)
            c->streams++;
        return;
    }
    http_response_t *res = http_response_new(200);
    buf_printf(&res->body, "plain %s", req->target);
    http_request_free(req);
    http_conn_respond(conn, res);
}

static void on_cmd(uv_async_t *a)
{
    ctx_t *c = a->data;
    pthread_mutex_lock(&c->lock);
    cmd_t *list = c->cmds;
    c->cmds = c->cmds_tail = NULL;
    pthread_mutex_unlock(&c->lock);
    while (list) {
        cmd_t *m = list;
        list = m->next;
        if (m->kind == CMD_WRITE) {
            http_conn_stream_write(c->conn, (const uint8_t *)m->data, m->len);
        } else if (m->kind == CMD_WRITE_BIG) {
            uint8_t *p = xmalloc(256 * 1024);
            memset(p, 'b', 256 * 1024);
            for (size_t i = 0; i < m->len; i++)
                http_conn_stream_write(c->conn, p, 256 * 1024);
            free(p);
        } else {
            http_conn_stream_end(c->conn, m->kind == CMD_END_OK);
            c->conn = NULL;
        }
        free(m->data);
        free(m);
    }
}

static void closed_cb(void *data)
{
    ((ctx_t *)data)->closed = 1;
}

static void on_stop(uv_async_t *a)
{
    ctx_t *c = a->data;
    on_cmd(&c->cmd); /* commands sent before the stop still count */
    http_server_close(c->srv, closed_cb, c);
    uv_close((uv_handle_t *)&c->stop, NULL);
    uv_close((uv_handle_t *)&c->cmd, NULL);
}

static void *server_main(void *arg)
{
    ctx_t *c = arg;
    char err[256];
    uv_loop_init(&c->loop);
    http_limits_t lim;
    http_limits_default(&lim);
    c->srv = http_server_listen(&c->loop, "127.0.0.1", 0, &lim, handler, c, err, sizeof err);
    if (!c->srv)
        abort();
    c->port = http_server_port(c->srv);
    uv_async_init(&c->loop, &c->stop, on_stop);
    c->stop.data = c;
    uv_async_init(&c->loop, &c->cmd, on_cmd);
    c->cmd.data = c;
    sem_post(&c->ready);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    return NULL;
}

static int setup(void **state)
{
    ctx_t *c = xcalloc(1, sizeof *c);
    sem_init(&c->ready, 0, 0);
    pthread_mutex_init(&c->lock, NULL);
    pthread_create(&c->thread, NULL, server_main, c);
    sem_wait(&c->ready);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx_t *c = *state;
    uv_async_send(&c->stop);
    pthread_join(c->thread, NULL);
    /* The loop ends only when every connection is freed. */
    assert_int_equal(c->closed, 1);
    pthread_mutex_destroy(&c->lock);
    sem_destroy(&c->ready);
    free(c);
    return 0;
}

static void send_cmd(ctx_t *c, enum cmd_kind kind, const char *data, size_t len)
{
    cmd_t *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->data = data ? xmemdup(data, len) : NULL;
    m->len = len;
    pthread_mutex_lock(&c->lock);
    if (c->cmds_tail)
        c->cmds_tail->next = m;
    else
        c->cmds = m;
    c->cmds_tail = m;
    pthread_mutex_unlock(&c->lock);
    uv_async_send(&c->cmd);
}

static void piece(ctx_t *c, const char *s)
{
    send_cmd(c, CMD_WRITE, s, strlen(s));
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_to(ctx_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void say(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads until b holds `want` (or EOF, or 5 s). Returns 1 on EOF. */
static int read_until(int fd, buf_t *b, const char *want)
{
    uint64_t end = now_ms() + 5000;
    while (!want || !b->data || !strstr(buf_cstr(b), want)) {
        uint64_t now = now_ms();
        if (now >= end)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            return 0;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            return 1;
        buf_append(b, tmp, (size_t)n);
    }
    return 0;
}

#define wait_int(v, want) wait_int_at(v, want, #v, __LINE__)
static void wait_int_at(atomic_int *v, int want, const char *what, int line)
{
    uint64_t end = now_ms() + 5000;
    while (*v < want && now_ms() < end)
        usleep(1000);
    if (*v != want)
        fail_msg("line %d: %s is %d, want %d", line, what, (int)*v, want);
}

static void test_chunked_pieces_arrive_before_the_end(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    const char *s = buf_cstr(&b);
    assert_true(strncmp(s, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(s, "\r\nX-Kind: stream\r\n"));
    assert_non_null(strstr(s, "\r\nTransfer-Encoding: chunked\r\n"));
    assert_null(strstr(s, "Content-Length"));
    assert_null(strstr(s, "gzip"));
    assert_null(strstr(s, "Connection: close"));
    wait_int(&c->streams, 1);

    piece(c, "hello");
    read_until(fd, &b, "5\r\nhello\r\n");
    assert_non_null(strstr(buf_cstr(&b), "\r\n\r\n5\r\nhello\r\n"));
    assert_int_equal(c->finished, 0);
    piece(c, ""); /* an empty piece would end the body: it is dropped */
    piece(c, "world, and more");
    read_until(fd, &b, "f\r\nworld, and more\r\n");
    assert_null(strstr(buf_cstr(&b), "0\r\n\r\n"));
    send_cmd(c, CMD_END_OK, NULL, 0);
    read_until(fd, &b, "more\r\n0\r\n\r\n");
    assert_non_null(strstr(buf_cstr(&b), "5\r\nhello\r\nf\r\nworld, and more\r\n0\r\n\r\n"));
    wait_int(&c->finished, 1);
    assert_int_equal(c->how, HTTP_STREAM_DONE);
    assert_int_equal(c->written, 20);

    /* The connection goes on. */
    buf_reset(&b);
    say(fd, "GET /next HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "plain /next");
    assert_non_null(strstr(buf_cstr(&b), "Content-Length: 11\r\n"));
    buf_deinit(&b);
    close(fd);
}

static void test_http10_body_ends_with_the_connection(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "GET /stream HTTP/1.0\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    assert_null(strstr(buf_cstr(&b), "chunked"));
    assert_non_null(strstr(buf_cstr(&b), "Connection: close\r\n"));
    wait_int(&c->streams, 1);
    piece(c, "raw bytes");
    read_until(fd, &b, "raw bytes");
    send_cmd(c, CMD_END_OK, NULL, 0);
    assert_int_equal(read_until(fd, &b, NULL), 1);
    assert_non_null(strstr(buf_cstr(&b), "\r\n\r\nraw bytes"));
    assert_null(strstr(buf_cstr(&b), "\r\n0\r\n"));
    wait_int(&c->finished, 1);
    assert_int_equal(c->how, HTTP_STREAM_DONE);
    buf_deinit(&b);
    close(fd);
}

static void test_head_sends_only_the_head(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "HEAD /stream HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    wait_int(&c->finished, 1);
    assert_int_equal(c->how, HTTP_STREAM_NO_BODY);
    piece(c, "never sent");
    send_cmd(c, CMD_END_OK, NULL, 0);
    say(fd, "GET /after HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "plain /after");
    assert_null(strstr(buf_cstr(&b), "never sent"));
    assert_int_equal(c->finished, 1);
    buf_deinit(&b);
    close(fd);
}

static void test_client_going_away_is_reported(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "GET /stream HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    wait_int(&c->streams, 1);
    close(fd);
    /* Noticed without the server having to write anything. */
    wait_int(&c->finished, 1);
    assert_int_equal(c->how, HTTP_STREAM_GONE);
    piece(c, "into the void");
    send_cmd(c, CMD_END_OK, NULL, 0);
    buf_deinit(&b);
    /* teardown checks that the connection was freed */
}

static void test_cut_short(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "GET /stream HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    wait_int(&c->streams, 1);
    piece(c, "partial");
    send_cmd(c, CMD_END_ABORT, NULL, 0);
    assert_int_equal(read_until(fd, &b, NULL), 1);
    assert_non_null(strstr(buf_cstr(&b), "7\r\npartial\r\n"));
    assert_null(strstr(buf_cstr(&b), "0\r\n\r\n"));
    wait_int(&c->finished, 1);
    assert_int_equal(c->how, HTTP_STREAM_GONE);
    buf_deinit(&b);
    close(fd);
}

static void test_pipelined_request_waits_for_the_stream(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "GET /stream HTTP/1.1\r\n\r\nGET /second HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    wait_int(&c->streams, 1);
    piece(c, "first");
    read_until(fd, &b, "first\r\n");
    assert_int_equal(c->requests, 1);
    send_cmd(c, CMD_END_OK, NULL, 0);
    read_until(fd, &b, "plain /second");
    const char *s = buf_cstr(&b);
    assert_true(strstr(s, "0\r\n\r\n") < strstr(s, "plain /second"));
    assert_int_equal(c->requests, 2);
    buf_deinit(&b);
    close(fd);
}

static void test_written_follows_a_slow_reader(void **state)
{
    ctx_t *c = *state;
    int fd = connect_to(c);
    buf_t b = BUF_INIT;
    say(fd, "GET /stream HTTP/1.1\r\n\r\n");
    read_until(fd, &b, "\r\n\r\n");
    wait_int(&c->streams, 1);
    size_t total = (size_t)128 * 256 * 1024; /* 32 MiB, more than any socket buffers */
    send_cmd(c, CMD_WRITE_BIG, NULL, 128);
    /* Without a reader the written count stops short of the total. */
    size_t last = (size_t)-1;
    for (int stable = 0; stable < 5;) {
        usleep(100 * 1000);
        size_t now = c->written;
        stable = now == last ? stable + 1 : 0;
        last = now;
    }
    assert_true(c->written < total);
    send_cmd(c, CMD_END_OK, NULL, 0);
    size_t got = 0;
    char tmp[65536];
    uint64_t end = now_ms() + 20000;
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0 || now_ms() > end)
            break;
        got += (size_t)n;
        if (got >= total && c->finished)
            break;
    }
    if (!c->finished)
        fail_msg("got %zu of %zu bytes, written %zu", got, total, (size_t)c->written);
    assert_int_equal(c->how, HTTP_STREAM_DONE);
    assert_int_equal(c->written, total);
    assert_true(got >= total);
    buf_deinit(&b);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chunked_pieces_arrive_before_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_body_ends_with_the_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_sends_only_the_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_going_away_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_request_waits_for_the_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_follows_a_slow_reader, setup, teardown),
    };
    return cmocka_run_group_tests_name("http_stream", tests, NULL, NULL);
}
