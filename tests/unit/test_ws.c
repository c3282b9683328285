/* Unit tests of the WebSocket connection (net/ws.c): the handshake helpers,
 * and a real connection over a socket pair driven by this thread's loop,
 * with frames written by hand on the client side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "lib/buf.h"
#include "net/ws.h"

static void test_accept_key(void **state)
{
    /* The example of RFC 6455 section 1.3. */
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_key_valid(void **state)
{
    assert_true(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
    assert_true(ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA==", 24));
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));      /* short */
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==x", 25));    /* long */
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZ*==", 24));     /* not base64 */
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZR==", 24));     /* 17 bits set in the tail */
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQQQ", 24));     /* no padding */
}

/* ---- a connection over a socket pair -------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    int client;             /* our end */
    ws_conn_t *conn;
    int ended;
    ws_end_t end;
    char reason[128];
    char error[256];
    buf_t got;              /* the last message the server side received */
    int messages;
    bool echo;
    buf_t in;               /* bytes the server sent us */
} fixture_t;

static void on_message(ws_conn_t *c, bool binary, const uint8_t *data, size_t len, void *arg)
{
    fixture_t *f = arg;
    f->messages++;
    buf_reset(&f->got);
    buf_append(&f->got, data, len);
    if (f->echo)
        ws_conn_send(c, binary, data, len);
}

static void on_closed(ws_conn_t *c, const ws_end_t *end, void *arg)
{
    fixture_t *f = arg;
    f->ended++;
    f->end = *end;
    snprintf(f->reason, sizeof f->reason, "%.*s", (int)end->reason_len,
             end->reason ? (const char *)end->reason : "");
    snprintf(f->error, sizeof f->error, "%s", end->error ? end->error : "");
    f->end.reason = NULL;
    f->end.error = NULL;
    f->conn = NULL;
}

static const ws_callbacks_t cbs = {on_message, on_closed};

static fixture_t *open_pair(const ws_limits_t *lim)
{
    fixture_t *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    f->client = sv[1];
    f->echo = true;
    f->conn = ws_conn_new(&f->loop, NULL, sv[0], NULL, 0, lim, &cbs, f);
    assert_non_null(f->conn);
    return f;
}

static void pump(fixture_t *f)
{
    char tmp[65536];
    ssize_t n;
    while ((n = read(f->client, tmp, sizeof tmp)) > 0)
        buf_append(&f->in, tmp, (size_t)n);
}

/* Runs the loop until cond(f) or about 3 s pass. */
static void run_until(fixture_t *f, bool (*cond)(fixture_t *))
{
    for (int i = 0; i < 3000 && !cond(f); i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        pump(f);
        if (!cond(f))
            usleep(1000);
    }
}

static bool is_ended(fixture_t *f)
{
    return f->ended > 0;
}

static void close_pair(fixture_t *f)
{
    if (f->conn)
        ws_conn_abort(f->conn, NULL);
    close(f->client);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(f->ended, 1);
    buf_deinit(&f->got);
    buf_deinit(&f->in);
    free(f);
}

static void send_frame(fixture_t *f, int opcode, const void *payload, size_t len, bool fin,
                       bool mask)
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        h[n++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        h[n++] = m | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    buf_t b = BUF_INIT;
    buf_append(&b, h, n);
    if (mask)
        buf_append(&b, key, 4);
    for (size_t i = 0; i < len; i++)
        buf_putc(&b, (char)(((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0)));
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(f->client, b.data + off, b.len - off);
        if (w > 0)
            off += (size_t)w;
        else
            uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    buf_deinit(&b);
}

/* The server's frames in f->in: counts those with opcode, and gives the
 * payload of the last one. */
static int frames_with(fixture_t *f, int opcode, buf_t *last)
{
    int count = 0;
    size_t off = 0;
    while (f->in.len - off >= 2) {
        uint8_t b0 = f->in.data[off], b1 = f->in.data[off + 1];
        size_t p = off + 2;
        uint64_t len = b1 & 127;
        if (len == 126) {
            if (f->in.len - p < 2)
                break;
            len = (uint64_t)f->in.data[p] << 8 | f->in.data[p + 1];
            p += 2;
        } else if (len == 127) {
            if (f->in.len - p < 8)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f->in.data[p + (size_t)i];
            p += 8;
        }
        if (f->in.len - p < len)
            break;
        if ((b0 & 15) == opcode) {
            count++;
            if (last) {
                buf_reset(last);
                buf_append(last, f->in.data + p, (size_t)len);
            }
        }
        off = p + (size_t)len;
    }
    return count;
}

static int want_opcode;
static bool has_frame(fixture_t *f)
{
    return frames_with(f, want_opcode, NULL) > 0;
}

static void wait_frame(fixture_t *f, int opcode)
{
    want_opcode = opcode;
    run_until(f, has_frame);
    assert_true(frames_with(f, opcode, NULL) > 0);
}

static void test_echo_and_clean_close(void **state)
{
    fixture_t *f = open_pair(NULL);
    send_frame(f, 1, "hello", 5, true, true);
    wait_frame(f, 1);
    buf_t last = BUF_INIT;
    frames_with(f, 1, &last);
    assert_int_equal(last.len, 5);
    assert_memory_equal(last.data, "hello", 5);
    /* fragmented, with a ping between the fragments */
    send_frame(f, 2, "ab", 2, false, true);
    send_frame(f, 9, "p!", 2, true, true);
    send_frame(f, 0, "cd", 2, true, true);
    wait_frame(f, 2);
    frames_with(f, 2, &last);
    assert_memory_equal(last.data, "abcd", 4);
    assert_int_equal(frames_with(f, 10, &last), 1);
    assert_memory_equal(last.data, "p!", 2);
    /* the client closes: the answer echoes its code, the end is clean */
    uint8_t close_payload[] = {0x0f, 0xa0, 'b', 'y', 'e'};
    send_frame(f, 8, close_payload, sizeof close_payload, true, true);
    run_until(f, is_ended);
    assert_int_equal(f->ended, 1);
    assert_int_equal(f->end.code, 4000);
    assert_string_equal(f->reason, "bye");
    assert_true(f->end.clean);
    assert_int_equal(f->end.sent_code, 4000);
    frames_with(f, 8, &last);
    assert_true(last.len >= 2 && last.data[0] == 0x0f && last.data[1] == 0xa0);
    buf_deinit(&last);
    close_pair(f);
}

static void test_server_close(void **state)
{
    fixture_t *f = open_pair(NULL);
    ws_conn_close(f->conn, 4001, "server bye", 10);
    assert_int_equal(ws_conn_send(f->conn, false, (const uint8_t *)"late", 4), -1);
    wait_frame(f, 8);
    uint8_t answer[] = {0x0f, 0xa1};
    send_frame(f, 8, answer, 2, true, true);
    run_until(f, is_ended);
    assert_int_equal(f->end.code, 4001);
    assert_true(f->end.clean);
    assert_string_equal(f->error, "");
    close_pair(f);
}

static void expect_failure(int opcode, const void *payload, size_t len, bool mask, int code,
                           const char *error_part, const ws_limits_t *given)
{
    ws_limits_t lim;
    if (given)
        lim = *given;
    else
        ws_limits_default(&lim);
    /* After a failure the server sends its close frame and FIN, then
     * waits for the client's EOF this long. */
    lim.close_timeout_ms = 100;
    fixture_t *f = open_pair(&lim);
    send_frame(f, opcode, payload, len, true, mask);
    run_until(f, is_ended);
    buf_t last = BUF_INIT;
    assert_int_equal(frames_with(f, 8, &last), 1);
    assert_true(last.len >= 2 && (last.data[0] << 8 | last.data[1]) == code);
    buf_deinit(&last);
    assert_int_equal(f->ended, 1);
    assert_int_equal(f->end.sent_code, code);
    assert_false(f->end.clean);
    assert_non_null(strstr(f->error, error_part));
    close_pair(f);
}

static void test_protocol_errors(void **state)
{
    expect_failure(1, "plain", 5, false, 1002, "protocol", NULL);
    const uint8_t bad_utf8[] = {0x68, 0xc3, 0x28};
    expect_failure(1, bad_utf8, 3, true, 1007, "UTF-8", NULL);
    ws_limits_t lim;
    ws_limits_default(&lim);
    lim.max_message = 1000;
    uint8_t big[1001] = {0};
    expect_failure(2, big, sizeof big, true, 1009, "size limit", &lim);
}

static void test_peer_vanishes(void **state)
{
    fixture_t *f = open_pair(NULL);
    shutdown(f->client, SHUT_RDWR);
    run_until(f, is_ended);
    assert_int_equal(f->end.code, 1006);
    assert_false(f->end.clean);
    close_pair(f);
}

static void test_slow_reader(void **state)
{
    ws_limits_t lim;
    ws_limits_default(&lim);
    lim.max_queued = 256 * 1024;
    lim.close_timeout_ms = 100;
    fixture_t *f = open_pair(&lim);
    /* never read: the socket buffer fills, then the queue, then it ends */
    static uint8_t chunk[65536];
    int sent = 0;
    for (int i = 0; i < 200 && f->conn; i++) {
        if (ws_conn_send(f->conn, true, chunk, sizeof chunk) == 0)
            sent++;
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_true(sent < 200);
    for (int i = 0; i < 3000 && !f->ended; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(f->ended, 1);
    assert_int_equal(f->end.sent_code, 1013);
    assert_non_null(strstr(f->error, "does not read"));
    close_pair(f);
}

static bool has_two_pings(fixture_t *f)
{
    return frames_with(f, 9, NULL) >= 1 && f->ended;
}

static void test_keepalive(void **state)
{
    ws_limits_t lim;
    ws_limits_default(&lim);
    lim.ping_interval_ms = 30;
    fixture_t *f = open_pair(&lim);
    /* a silent client gets a ping, and without an answer it is dropped */
    run_until(f, has_two_pings);
    assert_true(frames_with(f, 9, NULL) >= 1);
    assert_int_equal(f->ended, 1);
    assert_non_null(strstr(f->error, "did not answer a ping"));
    close_pair(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),      cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_echo_and_clean_close), cmocka_unit_test(test_server_close),
        cmocka_unit_test(test_protocol_errors), cmocka_unit_test(test_peer_vanishes),
        cmocka_unit_test(test_slow_reader),     cmocka_unit_test(test_keepalive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
