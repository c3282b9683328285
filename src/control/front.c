/* The front door, run by every shard for the connections it accepts: route
 * the request (DESIGN.md 1.4), check access (1.7) before any object runs and
 * set the headers a class can trust, then hand it to the owner shard, or to
 * the control thread for the management API (admin token first). It also
 * keeps the log followers' sockets of its shard and posts class log lines to
 * the control thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "../net/ws.h"
#include "access.h"
#include "control_int.h"
#include "route.h"

/* Past this many unsent bytes a follower that does not read is dropped. */
#define FOLLOW_MAX_QUEUED ((size_t)4 << 20)

typedef struct follower follower_t;

typedef struct front_shard {
    front_t *front;
    shard_t *shard;
    http_server_t *server;
    map_t followers; /* id -> follower_t */
    bool stopping;
} front_shard_t;

struct follower {
    front_shard_t *fs;
    uint64_t id;
    uv_tcp_t *tcp;   /* NULL until the head is written */
    buf_t pending;   /* bytes that came before the socket was ours */
    bool end_after;  /* close once pending is written */
    bool closing;
    bool told;       /* the control thread knows it is gone */
};

void front_log_request(const char *method, const char *target, int status, uint64_t started_ns)
{
    double ms = started_ns ? (double)(uv_hrtime() - started_ns) / 1e6 : 0;
    log_info("http", "%s %s %d %.1fms", method, target, status, ms);
}

static void respond_now(http_conn_t *conn, http_request_t *req, http_response_t *res)
{
    front_log_request(req->method, req->target, res->status, req->started_ns);
    http_request_free(req);
    http_conn_respond(conn, res);
}

/* A request that asks for a WebSocket must be a well-formed handshake
 * (RFC 6455 4.2.1) before any object sees it. NULL when it is one, or when
 * it asks for no WebSocket at all; otherwise the error answer. */
static http_response_t *websocket_check(const http_request_t *req)
{
    const char *up = http_header_get(req->headers, req->nheaders, "Upgrade");
    if (!up || !util_has_token(up, "websocket"))
        return NULL;
    if (strcmp(req->method, "GET") != 0)
        return http_response_error(400, "BAD_WEBSOCKET_HANDSHAKE",
                                   "a WebSocket upgrade must be a GET request");
    if (!req->upgrade)
        return http_response_error(400, "BAD_WEBSOCKET_HANDSHAKE",
                                   "a WebSocket upgrade needs \"Connection: Upgrade\"");
    const char *ver = http_header_get(req->headers, req->nheaders, "Sec-WebSocket-Version");
    if (!ver || strcmp(ver, "13") != 0) {
        http_response_t *res = http_response_error(
            426, "UNSUPPORTED_WEBSOCKET_VERSION",
            "this server speaks WebSocket version 13 (RFC 6455): send "
            "\"Sec-WebSocket-Version: 13\"");
        http_headers_add(&res->headers, &res->nheaders, "Sec-WebSocket-Version", "13");
        return res;
    }
    const char *key = http_header_get(req->headers, req->nheaders, "Sec-WebSocket-Key");
    if (!key || !ws_key_valid(key, strlen(key)))
        return http_response_error(400, "BAD_WEBSOCKET_HANDSHAKE",
                                   "Sec-WebSocket-Key must be 16 random bytes in base64 "
                                   "(24 characters)");
    return NULL;
}

static http_response_t *unauthorized_admin(const char *auth)
{
    size_t n;
    return http_response_error(401, "UNAUTHORIZED",
                               access_bearer(auth, &n)
                                   ? "the admin token is wrong: use the one in DATA/admin.token "
                                     "(or DORM_ADMIN_TOKEN)"
                                   : "this API needs the admin token: send \"Authorization: "
                                     "Bearer <token from DATA/admin.token>\"");
}

/* The management API, /metrics and the logs: admin token, then the control thread. */
static void to_control(front_shard_t *fs, http_conn_t *conn, http_request_t *req, int route)
{
    bool get = route == ROUTE_METRICS || route == ROUTE_LOGS || route == ROUTE_BACKUP;
    const char *method = get ? "GET" : "POST";
    if (strcmp(req->method, method) != 0 &&
        !(get && strcmp(req->method, "HEAD") == 0)) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s takes %s%s",
                 route == ROUTE_METRICS   ? "/metrics"
                 : route == ROUTE_LOGS    ? "/_api/logs"
                 : route == ROUTE_BACKUP  ? "/_api/backup"
                 : route == ROUTE_RESTORE ? "/_api/restore"
                                          : "the management API",
                 method,
                 route == ROUTE_RESTORE ? " with a backup file as the body"
                 : get                  ? ""
                                        : " with a JSON body {\"action\": ...}");
        http_response_t *res = http_response_error(405, "METHOD_NOT_ALLOWED", msg);
        http_headers_add(&res->headers, &res->nheaders, "Allow", method);
        respond_now(conn, req, res);
        return;
    }
    const char *auth = http_header_get(req->headers, req->nheaders, "Authorization");
    if (!access_token_matches(auth, fs->front->admin_hash)) {
        http_response_t *res = unauthorized_admin(auth);
        http_headers_add(&res->headers, &res->nheaders, "WWW-Authenticate", "Bearer");
        respond_now(conn, req, res);
        return;
    }
    manage_msg_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = CONTROL_MANAGE;
    m->route = route;
    m->req = req;
    m->reply.origin = fs->shard;
    m->reply.conn = conn;
    mailbox_post(fs->front->control_mb, &m->mail);
}

static void to_instance(front_shard_t *fs, http_conn_t *conn, http_request_t *req, route_t *r)
{
    front_t *f = fs->front;
    shard_t *s = fs->shard;
    const char *host = http_header_get(req->headers, req->nheaders, "Host");
    const char *sub;
    size_t sub_len;
    actor_catalog_t *cat = shard_catalog(s);
    const actor_app_t *app;
    char msg[400];
    if (route_host_app(host, f->cfg->domain, &sub, &sub_len)) {
        app = actor_catalog_app_by_subdomain(cat, sub, sub_len);
        if (!app) {
            snprintf(msg, sizeof msg, "no app has the subdomain \"%.*s\"",
                     (int)(sub_len > 100 ? 100 : sub_len), sub);
            respond_now(conn, req, http_response_error(404, "APP_NOT_FOUND", msg));
            return;
        }
    } else {
        app = actor_catalog_app(cat, "default");
    }
    actor_class_t *cls = app ? actor_catalog_class(cat, app->id, r->name, r->name_len) : NULL;
    if (!cls) {
        int nl = (int)(r->name_len > 80 ? 80 : r->name_len);
        snprintf(msg, sizeof msg,
                 "no Durable Object class \"%.*s\" is deployed in app \"%s\"; deploy it with "
                 "`dorm deploy %.*s FILE%s%s`",
                 nl, r->name, app ? app->id : "default", nl, r->name,
                 app && strcmp(app->id, "default") ? " --app " : "",
                 app && strcmp(app->id, "default") ? app->id : "");
        respond_now(conn, req, http_response_error(404, "CLASS_NOT_FOUND", msg));
        return;
    }
    const char *auth = http_header_get(req->headers, req->nheaders, "Authorization");
    json_t *claims = NULL;
    if (!access_check(cls->access, auth, app->service_key_hash, app->auth,
                      util_now_ms() / 1000, &claims, msg, sizeof msg)) {
        http_response_t *res = http_response_error(401, "UNAUTHORIZED", msg);
        http_headers_add(&res->headers, &res->nheaders, "WWW-Authenticate", "Bearer");
        respond_now(conn, req, res);
        return;
    }
    /* What a class may trust comes from us only. */
    access_set_headers(&req->headers, &req->nheaders, claims);
    json_decref(claims);
    http_response_t *bad = websocket_check(req);
    if (bad) {
        respond_now(conn, req, bad);
        return;
    }
    host = http_header_get(req->headers, req->nheaders, "Host");
    buf_t url = BUF_INIT;
    buf_printf(&url, "http://%s%s", host && *host ? host : "localhost", req->target);
    actor_reply_t reply = {s, conn};
    shard_dispatch(s, cls, r->id.data, r->id.len, req, buf_cstr(&url), reply);
    buf_deinit(&url);
}

static void on_request(http_conn_t *conn, http_request_t *req, void *data)
{
    front_shard_t *fs = data;
    route_t r = {.id = BUF_INIT};
    route_parse(req->target, &r);
    switch (r.kind) {
    case ROUTE_HEALTH: {
        http_response_t *res = http_response_new(200);
        http_headers_add(&res->headers, &res->nheaders, "Content-Type", "application/json");
        buf_puts(&res->body, "{\"ok\":true}");
        respond_now(conn, req, res);
        break;
    }
    case ROUTE_MANAGE_DO:
    case ROUTE_MANAGE_APPS:
    case ROUTE_METRICS:
    case ROUTE_LOGS:
    case ROUTE_BACKUP:
    case ROUTE_RESTORE:
        to_control(fs, conn, req, r.kind);
        break;
    case ROUTE_INSTANCE:
        to_instance(fs, conn, req, &r);
        break;
    default:
        respond_now(conn, req,
                    http_response_error(r.status, r.status == 404 ? "NOT_FOUND" : "BAD_REQUEST",
                                        r.message));
        break;
    }
    buf_deinit(&r.id);
}

/* ---- log followers ------------------------------------------------------------- */

static void tell_control(follower_t *fl)
{
    if (fl->told)
        return;
    fl->told = true;
    follow_msg_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = CONTROL_UNFOLLOW;
    m->id = fl->id;
    mailbox_post(fl->fs->front->control_mb, &m->mail);
}

static void follower_closed_cb(uv_handle_t *h)
{
    follower_t *fl = h->data;
    free(h);
    buf_deinit(&fl->pending);
    free(fl);
}

/* Forgets the follower and frees it once its socket is closed. */
static void follower_close(follower_t *fl)
{
    if (fl->closing)
        return;
    fl->closing = true;
    map_remove(&fl->fs->followers, &fl->id, sizeof fl->id);
    tell_control(fl);
    if (fl->tcp) {
        fl->tcp->data = fl;
        uv_close((uv_handle_t *)fl->tcp, follower_closed_cb);
    } else {
        /* The head is still being written: the upgrade callback frees it. */
    }
}

typedef struct follow_write {
    uv_write_t req;
    follower_t *fl;
    uint8_t *bytes;
    bool end;
} follow_write_t;

static void follow_written_cb(uv_write_t *w, int status)
{
    follow_write_t *fw = w->data;
    follower_t *fl = fw->fl;
    bool end = fw->end;
    free(fw->bytes);
    free(fw);
    if (status == UV_ECANCELED)
        return; /* closing: the close callback frees the follower */
    if (status < 0 || end)
        follower_close(fl);
}

static void follow_write(follower_t *fl, const uint8_t *p, size_t n, bool end)
{
    if (fl->closing)
        return;
    if (!fl->tcp) {
        buf_append(&fl->pending, p, n);
        fl->end_after = fl->end_after || end;
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)fl->tcp) > FOLLOW_MAX_QUEUED) {
        log_warn("logs", "a log follower does not read what it is sent; dropping it");
        follower_close(fl);
        return;
    }
    if (n == 0) {
        if (end)
            follower_close(fl);
        return;
    }
    follow_write_t *fw = xcalloc(1, sizeof *fw);
    fw->fl = fl;
    fw->bytes = xmemdup(p, n);
    fw->end = end;
    fw->req.data = fw;
    uv_buf_t b = uv_buf_init((char *)fw->bytes, (unsigned)n);
    if (uv_write(&fw->req, (uv_stream_t *)fl->tcp, &b, 1, follow_written_cb) < 0) {
        free(fw->bytes);
        free(fw);
        follower_close(fl);
    }
}

static void follow_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char sink[512]; /* what a follower sends is read and ignored */
    (void)h;
    (void)hint;
    *b = uv_buf_init(sink, sizeof sink);
}

static void follow_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n < 0)
        follower_close(st->data); /* the client went away */
}

static void follow_upgraded_cb(uv_tcp_t *tcp, const uint8_t *head, size_t head_len, void *arg)
{
    follower_t *fl = arg;
    (void)head;
    (void)head_len;
    if (!tcp) {
        /* The connection failed before the stream began. */
        if (!fl->closing) {
            map_remove(&fl->fs->followers, &fl->id, sizeof fl->id);
            tell_control(fl);
        }
        buf_deinit(&fl->pending);
        free(fl);
        return;
    }
    fl->tcp = tcp;
    tcp->data = fl;
    if (fl->closing) {
        fl->closing = false; /* close for real now that the socket is ours */
        follower_close(fl);
        return;
    }
    uv_read_start((uv_stream_t *)tcp, follow_alloc_cb, follow_read_cb);
    if (fl->pending.len || fl->end_after) {
        buf_t b = fl->pending;
        buf_init(&fl->pending);
        follow_write(fl, b.data, b.len, fl->end_after);
        buf_deinit(&b);
    }
}

void front_follow_start(shard_t *s, void *arg)
{
    follow_start_t *st = arg;
    front_shard_t *fs = shard_front(s);
    front_log_request(st->method, st->target, st->head->status, st->started_ns);
    if (!fs || fs->stopping) {
        http_response_free(st->head);
        http_conn_respond(st->reply.conn,
                          http_response_error(503, "SHUTTING_DOWN",
                                              "the server is shutting down; retry shortly"));
        if (fs) {
            follower_t tmp = {.fs = fs, .id = st->id};
            tell_control(&tmp);
        }
    } else {
        follower_t *fl = xcalloc(1, sizeof *fl);
        fl->fs = fs;
        fl->id = st->id;
        buf_init(&fl->pending);
        map_put(&fs->followers, &fl->id, sizeof fl->id, fl);
        st->head->stream = true;
        http_conn_upgrade(st->reply.conn, st->head, follow_upgraded_cb, fl);
    }
    free(st->method);
    free(st->target);
    free(st);
}

void front_follow_send(shard_t *s, void *arg)
{
    follow_send_t *m = arg;
    front_shard_t *fs = shard_front(s);
    follower_t *fl = fs ? map_get(&fs->followers, &m->id, sizeof m->id) : NULL;
    if (fl) {
        fl->told = fl->told || m->end; /* the control thread ended it itself */
        follow_write(fl, m->bytes.data, m->bytes.len, m->end);
    }
    buf_deinit(&m->bytes);
    free(m);
}

/* ---- class log lines -------------------------------------------------------------- */

static void class_log(shard_t *s, const actor_log_line_t *line, void *data)
{
    logs_hook(s, line, data);
}

/* ---- start and stop --------------------------------------------------------------- */

static int front_start(shard_t *s, void *data)
{
    front_t *f = data;
    front_shard_t *fs = xcalloc(1, sizeof *fs);
    fs->front = f;
    fs->shard = s;
    map_init(&fs->followers);
    char err[256];
    fs->server = http_server_listen(shard_loop(s), f->cfg->listen_host, f->cfg->port,
                                    &f->cfg->limits, on_request, fs, err, sizeof err);
    if (!fs->server) {
        shard_fail_start(s, err);
        map_deinit(&fs->followers);
        free(fs);
        return -1;
    }
    shard_set_front(s, fs);
    return 0;
}

static void closed_cb(void *data)
{
    front_shard_t *fs = data;
    fs->server = NULL;
    shard_listeners_closed(fs->shard);
}

/* Log lines may still come for followers until the shard exits, so the
 * front's state lives until then. */
static void front_exit(shard_t *s, void *data)
{
    front_shard_t *fs = shard_front(s);
    if (!fs)
        return;
    shard_set_front(s, NULL);
    map_deinit(&fs->followers);
    free(fs);
}

static void front_stop(shard_t *s, void *data)
{
    front_shard_t *fs = shard_front(s);
    fs->stopping = true;
    /* Followers would keep the loop alive: end them now. */
    for (;;) {
        size_t it;
        map_entry_t *e = map_first(&fs->followers, &it);
        if (!e)
            break;
        follower_close(e->value);
    }
    http_server_close(fs->server, closed_cb, fs);
}

shard_hooks_t front_hooks(front_t *f)
{
    shard_hooks_t h = {front_start, front_stop, f, class_log, front_exit};
    return h;
}
