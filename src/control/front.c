/* The front door, run by every shard for the connections it accepts: route
 * the request (DESIGN.md 1.4), check access (1.7) before any object runs,
 * then hand it to the owner shard, or to the control thread for the
 * management API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "../net/ws.h"
#include "control.h"
#include "route.h"
#include "validate.h"

typedef struct front_shard {
    front_t *front;
    shard_t *shard;
    http_server_t *server;
} front_shard_t;

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

static void on_request(http_conn_t *conn, http_request_t *req, void *data)
{
    front_shard_t *fs = data;
    front_t *f = fs->front;
    shard_t *s = fs->shard;
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
    case ROUTE_MANAGE_DO: {
        if (strcmp(req->method, "POST") != 0) {
            http_response_t *res = http_response_error(
                405, "METHOD_NOT_ALLOWED",
                "the management API takes POST with a JSON body {\"action\": ...}");
            http_headers_add(&res->headers, &res->nheaders, "Allow", "POST");
            respond_now(conn, req, res);
            break;
        }
        const char *auth = http_header_get(req->headers, req->nheaders, "Authorization");
        const char *tok = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
        if (!tok || !util_secure_eq(tok, strlen(tok), f->admin_token, strlen(f->admin_token))) {
            respond_now(conn, req,
                        http_response_error(401, "UNAUTHORIZED",
                                            tok ? "the admin token is wrong: use the one in "
                                                  "DATA/admin.token (or DORM_ADMIN_TOKEN)"
                                                : "the management API needs the admin token: "
                                                  "send \"Authorization: Bearer <token from "
                                                  "DATA/admin.token>\""));
            break;
        }
        manage_msg_t *m = xcalloc(1, sizeof *m);
        m->mail.kind = CONTROL_MANAGE;
        m->req = req;
        m->reply.origin = s;
        m->reply.conn = conn;
        mailbox_post(f->control_mb, &m->mail);
        break;
    }
    case ROUTE_INSTANCE: {
        const char *host = http_header_get(req->headers, req->nheaders, "Host");
        const char *sub;
        size_t sub_len;
        const char *app_id = "default";
        actor_catalog_t *cat = shard_catalog(s);
        const actor_app_t *app;
        if (route_host_app(host, f->cfg->domain, &sub, &sub_len)) {
            app = actor_catalog_app_by_subdomain(cat, sub, sub_len);
            if (!app) {
                char msg[300];
                snprintf(msg, sizeof msg, "no app has the subdomain \"%.*s\"", (int)(sub_len > 100 ? 100 : sub_len), sub);
                respond_now(conn, req, http_response_error(404, "APP_NOT_FOUND", msg));
                break;
            }
        } else {
            app = actor_catalog_app(cat, app_id);
        }
        actor_class_t *cls = app ? actor_catalog_class(cat, app->id, r.name, r.name_len) : NULL;
        if (!cls) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "no Durable Object class \"%.*s\" is deployed in app \"%s\"; deploy it with "
                     "`dorm deploy %.*s FILE`",
                     (int)(r.name_len > 80 ? 80 : r.name_len), r.name, app ? app->id : app_id,
                     (int)(r.name_len > 80 ? 80 : r.name_len), r.name);
            respond_now(conn, req, http_response_error(404, "CLASS_NOT_FOUND", msg));
            break;
        }
        char msg[300];
        const char *auth = http_header_get(req->headers, req->nheaders, "Authorization");
        if (!access_check(cls->access, auth, app->service_key, msg, sizeof msg)) {
            http_response_t *res = http_response_error(401, "UNAUTHORIZED", msg);
            http_headers_add(&res->headers, &res->nheaders, "WWW-Authenticate", "Bearer");
            respond_now(conn, req, res);
            break;
        }
        http_response_t *bad = websocket_check(req);
        if (bad) {
            respond_now(conn, req, bad);
            break;
        }
        buf_t url = BUF_INIT;
        buf_printf(&url, "http://%s%s", host && *host ? host : "localhost", req->target);
        actor_reply_t reply = {s, conn};
        shard_dispatch(s, cls, r.id.data, r.id.len, req, buf_cstr(&url), reply);
        buf_deinit(&url);
        break;
    }
    default:
        respond_now(conn, req,
                    http_response_error(r.status, r.status == 404 ? "NOT_FOUND" : "BAD_REQUEST",
                                        r.message));
        break;
    }
    buf_deinit(&r.id);
}

static int front_start(shard_t *s, void *data)
{
    front_t *f = data;
    front_shard_t *fs = xcalloc(1, sizeof *fs);
    fs->front = f;
    fs->shard = s;
    char err[256];
    fs->server = http_server_listen(shard_loop(s), f->cfg->listen_host, f->cfg->port,
                                    &f->cfg->limits, on_request, fs, err, sizeof err);
    if (!fs->server) {
        shard_fail_start(s, err);
        free(fs);
        return -1;
    }
    shard_set_front(s, fs);
    return 0;
}

static void closed_cb(void *data)
{
    front_shard_t *fs = data;
    shard_t *s = fs->shard;
    free(fs);
    shard_listeners_closed(s);
}

static void front_stop(shard_t *s, void *data)
{
    front_shard_t *fs = shard_front(s);
    http_server_close(fs->server, closed_cb, fs);
}

shard_hooks_t front_hooks(front_t *f)
{
    shard_hooks_t h = {front_start, front_stop, f};
    return h;
}
