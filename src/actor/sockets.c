/* WebSockets of instances: the records behind state.acceptWebSocket and
 * ws.accept(), the output gate for their frames (a frame that follows a
 * write goes out once the write is durable, like an HTTP answer), moving an
 * upgraded connection to the shard that owns the instance, turning what the
 * connection does into events for the instance, and what becomes of sockets
 * when an instance hibernates, is reset, is redeployed or goes away. The
 * wire protocol is net/ws.c's; the JS side is api/websocket.c's. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "actor_int.h"

typedef struct msg_ws_reply {
    mail_t mail;
    http_conn_t *conn;
    http_response_t *res;
    shard_t *owner;
    uint64_t sock_id;
} msg_ws_reply_t;

typedef struct msg_ws_attach {
    mail_t mail;
    uint64_t sock_id;
    int fd;
    uint8_t *head;
    size_t head_len;
} msg_ws_attach_t;

/* An instance stops taking a socket's messages while this many bytes of
 * them wait to be delivered; reading resumes once they are. */
#define MAX_UNREAD (1u << 20)

static actor_sock_t *sock_of(api_ws_t *ws)
{
    return (actor_sock_t *)ws;
}

static void sock_free(actor_sock_t *k)
{
    shard_t *s = k->shard;
    for (frame_t *f = k->pending; f;) {
        frame_t *n = f->next;
        free(f);
        f = n;
    }
    k->pending = k->pending_tail = NULL;
    map_remove(&s->sockets, &k->id, sizeof k->id);
    api_ws_deinit(&k->ws);
    free(k);
}

/* ---- the host's callbacks (JS calls them) ------------------------------------ */

static api_ws_t *host_ws_new(api_host_t *h, api_state_t *st, bool hibernatable)
{
    instance_t *inst = st->owner;
    shard_t *s = inst->shard;
    actor_sock_t *k = xcalloc(1, sizeof *k);
    k->id = ++s->next_sock_id;
    k->shard = s;
    k->inst = inst;
    k->created_by = inst->delivering;
    api_ws_init(&k->ws, st, hibernatable);
    map_put(&s->sockets, &k->id, sizeof k->id, k);
    return &k->ws;
}

static frame_t *frame_new(const uint8_t *data, size_t len);

/* A frame has passed the output gate. */
static void frame_out(frame_t *f)
{
    actor_sock_t *k = f->sock;
    if (k->conn) {
        if (f->close)
            ws_conn_close(k->conn, f->code, (const char *)f->data, f->len);
        else
            ws_conn_send(k->conn, f->binary, f->data, f->len);
        free(f);
        return;
    }
    if (k->ended) {
        free(f);
        return;
    }
    /* The connection has not arrived yet (the 101 is on its way). */
    f->next = NULL;
    if (k->pending_tail)
        k->pending_tail->next = f;
    else
        k->pending = f;
    k->pending_tail = f;
}

static void queue_frame(actor_sock_t *k, frame_t *f)
{
    instance_t *inst = k->inst;
    f->sock = k;
    if (!inst) {
        frame_out(f);
        return;
    }
    f->required = instance_output_required(inst);
    if (f->required <= inst->done && !inst->held_out) {
        frame_out(f);
        return;
    }
    f->next = NULL;
    if (inst->held_out_tail)
        inst->held_out_tail->next = f;
    else
        inst->held_out = f;
    inst->held_out_tail = f;
}

static frame_t *frame_new(const uint8_t *data, size_t len)
{
    frame_t *f = xmalloc(sizeof *f + len + 1);
    memset(f, 0, sizeof *f);
    f->len = len;
    if (len)
        memcpy(f->data, data, len);
    f->data[len] = 0;
    return f;
}

static void host_ws_send(api_host_t *h, api_ws_t *ws, bool binary, const uint8_t *data,
                         size_t len)
{
    frame_t *f = frame_new(data, len);
    f->binary = binary;
    queue_frame(sock_of(ws), f);
}

static void host_ws_close(api_host_t *h, api_ws_t *ws, int code, const char *reason,
                          size_t reason_len)
{
    frame_t *f = frame_new((const uint8_t *)reason, reason_len);
    f->close = true;
    f->code = code;
    queue_frame(sock_of(ws), f);
}

void sock_host_init(api_host_t *h)
{
    h->ws_new = host_ws_new;
    h->ws_send = host_ws_send;
    h->ws_close = host_ws_close;
}

/* ---- the output gate ----------------------------------------------------------- */

void sock_release_held(instance_t *inst)
{
    while (inst->held_out && inst->held_out->required <= inst->done) {
        frame_t *f = inst->held_out;
        inst->held_out = f->next;
        if (!inst->held_out)
            inst->held_out_tail = NULL;
        frame_out(f);
    }
}

void sock_drop_held(instance_t *inst, uint64_t kept)
{
    frame_t *keep = NULL, **tail = &keep;
    inst->held_out_tail = NULL;
    for (frame_t *f = inst->held_out; f;) {
        frame_t *n = f->next;
        f->next = NULL;
        if (f->required <= kept) {
            *tail = f;
            tail = &f->next;
            inst->held_out_tail = f;
        } else {
            free(f);
        }
        f = n;
    }
    inst->held_out = keep;
}

/* ---- connection events --------------------------------------------------------------- */

static event_t *sock_event(actor_sock_t *k, enum event_kind kind, const uint8_t *data,
                           size_t len)
{
    event_t *ev = xcalloc(1, sizeof *ev);
    ev->kind = kind;
    ev->sock = k;
    ev->started_ns = uv_hrtime();
    ev->msg = xmalloc(len + 1);
    if (len)
        memcpy(ev->msg, data, len);
    ev->msg[len] = 0;
    ev->msg_len = len;
    return ev;
}

static void on_ws_message(ws_conn_t *c, bool binary, const uint8_t *data, size_t len, void *arg)
{
    actor_sock_t *k = arg;
    instance_t *inst = k->inst;
    if (!inst || k->ws.ready_state != API_WS_OPEN)
        return;
    /* The auto-response is answered here, without waking the object. */
    const uint8_t *req, *res;
    size_t req_len, res_len;
    if (!binary && api_ws_auto_response(&inst->api, &req, &req_len, &res, &res_len) &&
        req_len == len && memcmp(req, data, len) == 0) {
        ws_conn_send(c, false, res, res_len);
        k->ws.auto_response_ms = util_now_ms();
        return;
    }
    event_t *ev = sock_event(k, EV_WS_MESSAGE, data, len);
    ev->binary = binary;
    instance_enqueue(inst, ev);
    k->unread += len;
    if (k->unread > MAX_UNREAD)
        ws_conn_set_reading(c, false);
}

static void sock_ended(actor_sock_t *k, const ws_end_t *end)
{
    k->ended = true;
    k->ws.ready_state = API_WS_CLOSED;
    for (frame_t *f = k->pending; f;) {
        frame_t *n = f->next;
        free(f);
        f = n;
    }
    k->pending = k->pending_tail = NULL;
    if (k->inst) {
        log_info(k->inst->label, "WebSocket closed: code %d%s%.*s%s%s", end->code,
                 end->reason_len ? ", reason \"" : "", (int)(end->reason_len > 123 ? 123 : end->reason_len),
                 end->reason ? (const char *)end->reason : "", end->reason_len ? "\"" : "",
                 end->error ? "" : (end->clean ? " (clean)" : " (not clean)"));
        if (end->error) {
            log_warn(k->inst->label, "WebSocket failed: %s", end->error);
            instance_enqueue(k->inst, sock_event(k, EV_WS_ERROR, (const uint8_t *)end->error,
                                                 strlen(end->error)));
        }
        event_t *ev = sock_event(k, EV_WS_CLOSE, end->reason, end->reason_len);
        ev->code = end->code;
        ev->clean = end->clean;
        instance_enqueue(k->inst, ev);
    } else {
        k->close_delivered = true;
        sock_free(k);
    }
}

static void on_ws_closed(ws_conn_t *c, const ws_end_t *end, void *arg)
{
    actor_sock_t *k = arg;
    k->conn = NULL;
    k->shard->nconns--;
    sock_ended(k, end);
}

static const ws_callbacks_t sock_callbacks = {on_ws_message, on_ws_closed};

void sock_event_done(event_t *ev)
{
    actor_sock_t *k = ev->sock;
    if (!k)
        return;
    if (ev->kind == EV_WS_MESSAGE) {
        k->unread = k->unread > ev->msg_len ? k->unread - ev->msg_len : 0;
        if (k->conn && k->unread <= MAX_UNREAD / 2)
            ws_conn_set_reading(k->conn, true);
    } else if (ev->kind == EV_WS_CLOSE) {
        k->close_delivered = true;
        sock_free(k);
    }
}

/* ---- the upgrade ------------------------------------------------------------------------ */

void sock_upgrading(actor_sock_t *k)
{
    k->upgrading = true;
    k->ws.bound = true;
}

/* Runs on the owner shard: the connection has arrived (or will never). */
void sock_attach(shard_t *s, uint64_t sock_id, uv_tcp_t *tcp, int fd, uint8_t *head,
                 size_t head_len)
{
    actor_sock_t *k = map_get(&s->sockets, &sock_id, sizeof sock_id);
    if (!k || k->ended || (!tcp && fd < 0)) {
        if (tcp)
            uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
        else if (fd >= 0)
            close(fd);
        if (k && !k->ended) {
            ws_end_t end = {.code = 1006, .error = NULL};
            sock_ended(k, &end);
        }
        return;
    }
    k->upgrading = false;
    k->conn = ws_conn_new(&s->loop, tcp, fd, head, head_len, &s->cfg.ws, &sock_callbacks, k);
    if (!k->conn) {
        ws_end_t end = {.code = 1006, .error = NULL};
        sock_ended(k, &end);
        return;
    }
    s->nconns++;
    /* What the class sent before the connection was here goes out now. */
    frame_t *f = k->pending;
    k->pending = k->pending_tail = NULL;
    while (f && k->conn) {
        frame_t *n = f->next;
        frame_out(f);
        f = n;
    }
    while (f) {
        frame_t *n = f->next;
        free(f);
        f = n;
    }
}

typedef struct upgrade_ctx {
    shard_t *origin;
    shard_t *owner;
    uint64_t sock_id;
} upgrade_ctx_t;

static atomic_int attach_delay_ms;

void actor_delay_ws_attach(int ms)
{
    atomic_store(&attach_delay_ms, ms);
}

static void upgraded(upgrade_ctx_t *u, uv_tcp_t *tcp, const uint8_t *head, size_t head_len);

typedef struct delayed_attach {
    uv_timer_t timer;
    upgrade_ctx_t *u;
    uv_tcp_t *tcp;
    uint8_t *head;
    size_t head_len;
} delayed_attach_t;

static void delayed_attach_cb(uv_timer_t *t)
{
    delayed_attach_t *d = t->data;
    upgraded(d->u, d->tcp, d->head, d->head_len);
    free(d->head);
    uv_close((uv_handle_t *)&d->timer, (uv_close_cb)free);
}

static void on_upgraded(uv_tcp_t *tcp, const uint8_t *head, size_t head_len, void *arg)
{
    upgrade_ctx_t *u = arg;
    int delay = atomic_load(&attach_delay_ms);
    if (delay > 0 && tcp) {
        delayed_attach_t *d = xcalloc(1, sizeof *d);
        d->u = u;
        d->tcp = tcp;
        d->head = head_len ? xmemdup(head, head_len) : NULL;
        d->head_len = head_len;
        uv_timer_init(&u->origin->loop, &d->timer);
        d->timer.data = d;
        uv_timer_start(&d->timer, delayed_attach_cb, (uint64_t)delay, 0);
        return;
    }
    upgraded(u, tcp, head, head_len);
}

static void upgraded(upgrade_ctx_t *u, uv_tcp_t *tcp, const uint8_t *head, size_t head_len)
{
    if (u->owner == u->origin) {
        sock_attach(u->owner, u->sock_id, tcp, -1, (uint8_t *)head, head_len);
        free(u);
        return;
    }
    /* Another shard's loop owns the instance: the socket moves there as a
     * descriptor (a dup, since closing this loop's handle closes its own). */
    msg_ws_attach_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = M_WS_ATTACH;
    m->sock_id = u->sock_id;
    m->fd = -1;
    if (tcp) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)tcp, &fd) == 0)
            m->fd = dup(fd);
        uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
        if (head_len) {
            m->head = xmemdup(head, head_len);
            m->head_len = head_len;
        }
    }
    mailbox_post(u->owner->mb, &m->mail);
    free(u);
}

void sock_reply_upgrade(shard_t *origin, http_conn_t *conn, http_response_t *res,
                        shard_t *owner, uint64_t sock_id)
{
    upgrade_ctx_t *u = xcalloc(1, sizeof *u);
    u->origin = origin;
    u->owner = owner;
    u->sock_id = sock_id;
    http_conn_upgrade(conn, res, on_upgraded, u);
}

/* Mail handlers (shard.c calls them from its mailbox). */
void sock_mail(shard_t *s, mail_t *m)
{
    if (m->kind == M_WS_REPLY) {
        msg_ws_reply_t *r = (msg_ws_reply_t *)m;
        sock_reply_upgrade(s, r->conn, r->res, r->owner, r->sock_id);
    } else if (m->kind == M_WS_ATTACH) {
        msg_ws_attach_t *a = (msg_ws_attach_t *)m;
        sock_attach(s, a->sock_id, NULL, a->fd, a->head, a->head_len);
        free(a->head);
    }
}

void sock_post_reply(actor_reply_t reply, http_response_t *res, shard_t *owner, uint64_t sock_id)
{
    msg_ws_reply_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = M_WS_REPLY;
    m->conn = reply.conn;
    m->res = res;
    m->owner = owner;
    m->sock_id = sock_id;
    mailbox_post(reply.origin->mb, &m->mail);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

bool sock_all_hibernatable(const instance_t *inst)
{
    for (api_ws_t *ws = inst->api.sockets; ws; ws = ws->next)
        if (!ws->hibernatable)
            return false;
    return true;
}

/* Closes k's connection, or, while its 101 is on its way, queues the close
 * to go out as soon as the connection arrives (sock_attach). */
static void close_conn(actor_sock_t *k, int code, const char *reason)
{
    if (k->conn) {
        ws_conn_close(k->conn, code, reason, strlen(reason));
        return;
    }
    frame_t *f = frame_new((const uint8_t *)reason, strlen(reason));
    f->close = true;
    f->code = code;
    f->sock = k;
    frame_out(f);
}

void sock_close_all(instance_t *inst, bool all, int code, const char *reason)
{
    for (api_ws_t *ws = inst->api.sockets; ws; ws = ws->next) {
        actor_sock_t *k = sock_of(ws);
        if ((!all && ws->hibernatable) || k->ended || ws->ready_state >= API_WS_CLOSING)
            continue;
        ws->ready_state = API_WS_CLOSING;
        if (k->conn || k->upgrading)
            close_conn(k, code, reason);
        else
            k->ended = true; /* no connection will come */
    }
}

/* Sockets that were never handed a connection (their client end was not
 * returned in a 101) end with the event that accepted them. */
void sock_drop_unbound(instance_t *inst, uint64_t event_id)
{
    api_ws_t *ws = inst->api.sockets;
    while (ws) {
        api_ws_t *next = ws->next;
        actor_sock_t *k = sock_of(ws);
        if (!ws->bound && (event_id == 0 || k->created_by == event_id)) {
            ws->ready_state = API_WS_CLOSED;
            sock_free(k);
        }
        ws = next;
    }
}

void sock_orphan_all(instance_t *inst)
{
    api_ws_t *ws = inst->api.sockets;
    while (ws) {
        api_ws_t *next = ws->next;
        actor_sock_t *k = sock_of(ws);
        api_ws_deinit(ws); /* unlinks it from the instance */
        k->inst = NULL;
        if (k->conn || k->upgrading)
            close_conn(k, 1001, "the Durable Object went away");
        else
            sock_free(k);
        ws = next;
    }
    sock_drop_held(inst, 0);
    api_ws_clear_auto_response(&inst->api);
}

void sock_shard_init(shard_t *s)
{
    map_init(&s->sockets);
}

void sock_shard_close_all(shard_t *s, int code, const char *reason)
{
    size_t it;
    for (map_entry_t *e = map_first(&s->sockets, &it); e; e = map_next(&s->sockets, e, &it)) {
        actor_sock_t *k = e->value;
        if (k->conn) {
            k->ws.ready_state = API_WS_CLOSING;
            if (code)
                ws_conn_close(k->conn, code, reason, strlen(reason));
            else
                ws_conn_abort(k->conn, NULL);
        }
    }
}

void sock_shard_deinit(shard_t *s)
{
    /* Every instance is gone by now: only records without one are left. */
    size_t it;
    actor_sock_t *batch[256];
    for (;;) {
        int n = 0;
        for (map_entry_t *e = map_first(&s->sockets, &it); e && n < 256;
             e = map_next(&s->sockets, e, &it))
            batch[n++] = e->value;
        if (n == 0)
            break;
        for (int i = 0; i < n; i++) {
            uint64_t id = batch[i]->id;
            if (batch[i]->conn)
                ws_conn_abort(batch[i]->conn, NULL); /* its closed callback may free it */
            actor_sock_t *k = map_get(&s->sockets, &id, sizeof id);
            if (k)
                sock_free(k);
        }
    }
    map_deinit(&s->sockets);
}
