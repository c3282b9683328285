/* libFuzzer target for the WebSocket connection (src/net/ws.c with wslay's
 * frame reader): the input is what a client sends after the handshake, fed
 * through a real socket in pieces while the server side answers every
 * message (so reading, writing, close handshakes, failures and the end of
 * the connection all run). Any input must end the connection exactly once,
 * and the frame reader alone must agree on whether the stream is valid. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "net/ws.h"

static uv_loop_t loop;
static int ended;
static int messages;

static void on_message(ws_conn_t *c, bool binary, const uint8_t *data, size_t len, void *arg)
{
    messages++;
    ws_conn_send(c, binary, data, len);
    if (messages == 3)
        ws_conn_close(c, 1000, "enough", 6);
}

static void on_closed(ws_conn_t *c, const ws_end_t *end, void *arg)
{
    if (ended++)
        abort(); /* `closed` must come exactly once */
    if (end->code < 1000 || end->code > 4999)
        abort();
}

static const ws_callbacks_t cbs = {on_message, on_closed};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    if (!inited) {
        uv_loop_init(&loop);
        inited = 1;
    }
    int close_code = 0;
    ws_parse_for_test(data, size, 1 << 20, &close_code);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    ws_limits_t lim;
    ws_limits_default(&lim);
    lim.max_message = 1 << 20;
    lim.max_queued = 1 << 20;
    lim.close_timeout_ms = 50;
    ended = 0;
    messages = 0;
    /* The first bytes arrive with the upgrade request, the rest later. */
    size_t head = size > 16 ? 16 : size;
    ws_conn_t *c = ws_conn_new(&loop, NULL, sv[0], data, head, &lim, &cbs, NULL);
    if (!c)
        abort();
    size_t off = head;
    char sink[65536];
    for (int spins = 0; spins < 100000 && !ended; spins++) {
        if (off < size) {
            size_t n = size - off < 4096 ? size - off : 4096;
            ssize_t w = write(sv[1], data + off, n);
            if (w > 0)
                off += (size_t)w;
        } else if (off == size) {
            shutdown(sv[1], SHUT_WR);
            off++;
        }
        while (read(sv[1], sink, sizeof sink) > 0)
            ;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    if (!ended)
        ws_conn_abort(c, "the fuzz input is over");
    uv_run(&loop, UV_RUN_DEFAULT); /* let the handles close */
    close(sv[1]);
    if (ended != 1)
        abort();
    return 0;
}
