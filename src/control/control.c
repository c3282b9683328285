/* The control thread (see control.h): start-up, the admin token, the
 * catalog in DATA/control.db, the management API, catalog publishing, and
 * shutdown on SIGINT/SIGTERM. It runs on the main thread's own loop, never
 * on a shard, so compiling a deploy never stalls a request. */
#include "control.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <zlib.h>

#include "../js/compile.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "../store/catalog.h"
#include "validate.h"

struct control {
    control_config_t *cfg;
    uv_loop_t loop;
    mailbox_t *mb;
    uv_signal_t sigint, sigterm;
    catalog_t *db;
    jscompiler_t *compiler;
    actor_catalog_t *snapshot; /* the last one published */
    shard_t **shards;
    front_t front;
    char admin_token[80];
    bool stopping;
    pthread_t stopper;
};

/* A management answer waiting for every shard to apply a new snapshot. */
typedef struct pending_reply {
    mail_t mail;
    control_t *c;
    actor_reply_t reply;
    http_response_t *res;
    char *purge_app;  /* delete: remove these files once shards let go */
    char *purge_class;
    char *method, *target;
    uint64_t started_ns;
} pending_reply_t;

/* ---- snapshots ------------------------------------------------------------------ */

static actor_class_t *class_from_row(const catalog_class_t *k)
{
    actor_class_t *c = xcalloc(1, sizeof *c);
    atomic_store(&c->refs, 1);
    c->app_id = xstrdup(k->app_id);
    c->name = xstrdup(k->name);
    c->class_name = xstrdup(k->class_name);
    c->uuid = xstrdup(k->id);
    enum actor_access a = ACCESS_AUTHENTICATED;
    char msg[8];
    validate_access_mode(k->access_mode, &a, msg, sizeof msg);
    c->access = a;
    c->version = k->version;
    c->bytecode = xmemdup(k->bytecode, k->bytecode_len);
    c->bytecode_len = k->bytecode_len;
    return c;
}

/* Builds a snapshot of everything in control.db. */
static actor_catalog_t *load_snapshot(control_t *c, char *err, size_t errlen)
{
    catalog_app_t *apps = NULL;
    size_t napps = 0;
    catalog_class_t *classes = NULL;
    size_t ncls = 0;
    if (catalog_apps_list(c->db, &apps, &napps, err, errlen) < 0)
        return NULL;
    if (catalog_classes_list(c->db, NULL, &classes, &ncls, err, errlen) < 0) {
        for (size_t i = 0; i < napps; i++)
            catalog_app_clear(&apps[i]);
        free(apps);
        return NULL;
    }
    actor_catalog_t *cat = xcalloc(1, sizeof *cat);
    atomic_store(&cat->refs, 1);
    cat->apps = xcalloc(napps + 1, sizeof *cat->apps);
    cat->napps = napps;
    for (size_t i = 0; i < napps; i++) {
        cat->apps[i].id = xstrdup(apps[i].id);
        cat->apps[i].subdomain = xstrdup(apps[i].subdomain);
        cat->apps[i].service_key = xstrdup(apps[i].service_key);
        catalog_app_clear(&apps[i]);
    }
    free(apps);
    cat->classes = xcalloc(ncls + 1, sizeof *cat->classes);
    for (size_t i = 0; i < ncls; i++) {
        if (classes[i].bytecode_len > 0)
            cat->classes[cat->nclasses++] = class_from_row(&classes[i]);
        catalog_class_clear(&classes[i]);
    }
    free(classes);
    return cat;
}

static void published_cb(void *data)
{
    /* Runs on the last shard to apply: hop back to the control thread. */
    pending_reply_t *p = data;
    mailbox_post(p->c->mb, &p->mail);
}

/* Publishes control.db's state; the reply is sent once every shard has it. */
static void publish(control_t *c, pending_reply_t *p)
{
    char err[256];
    actor_catalog_t *cat = load_snapshot(c, err, sizeof err);
    if (!cat) {
        log_error("control", "cannot read control.db: %s", err);
        abort();
    }
    actor_catalog_unref(c->snapshot);
    c->snapshot = actor_catalog_ref(cat);
    p->mail.kind = CONTROL_PUBLISHED;
    shards_publish(c->shards, c->cfg->threads, cat, published_cb, p);
}

/* ---- JSON helpers ------------------------------------------------------------------- */

static http_response_t *json_response(int status, json_t *j)
{
    http_response_t *res = http_response_new(status);
    http_headers_add(&res->headers, &res->nheaders, "Content-Type", "application/json");
    char *s = json_dumps(j, JSON_COMPACT);
    buf_puts(&res->body, s);
    free(s);
    json_decref(j);
    return res;
}

static json_t *class_json(const catalog_class_t *k, bool full)
{
    char when[32];
    util_iso8601(k->last_deployed_at, when);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", k->id, "name", k->name,
                          "class_name", k->class_name, "status", "READY", "access_mode",
                          k->access_mode, "last_deployed_at", when);
    if (full) {
        json_object_set_new(o, "code", json_string(k->code ? k->code : ""));
        json_object_set_new(o, "error_message",
                            k->error_message ? json_string(k->error_message) : json_null());
    }
    return o;
}

static const char *json_str(json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- actions ------------------------------------------------------------------------------ */

static http_response_t *action_list(control_t *c, const char *app)
{
    catalog_class_t *ks = NULL;
    size_t n = 0;
    char err[256];
    if (catalog_classes_list(c->db, app, &ks, &n, err, sizeof err) < 0)
        return http_response_error(500, "INTERNAL", err);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (ks[i].bytecode_len > 0)
            json_array_append_new(arr, class_json(&ks[i], false));
        catalog_class_clear(&ks[i]);
    }
    free(ks);
    return json_response(200, json_pack("{s:o}", "durable_objects", arr));
}

static http_response_t *not_found(const char *app, const char *name)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "no Durable Object class named \"%.80s\" in app \"%.64s\"; see the names with the "
             "\"list\" action",
             name, app);
    return http_response_error(404, "NOT_FOUND", msg);
}

static http_response_t *action_get(control_t *c, const char *app, const char *name)
{
    catalog_class_t k;
    memset(&k, 0, sizeof k);
    char err[256];
    int rc = catalog_class_get(c->db, app, name, &k, err, sizeof err);
    if (rc < 0)
        return http_response_error(500, "INTERNAL", err);
    if (rc == 1 || k.bytecode_len == 0) {
        catalog_class_clear(&k);
        return not_found(app, name);
    }
    http_response_t *res = json_response(200, class_json(&k, true));
    catalog_class_clear(&k);
    return res;
}

/* Sum of the compressed sizes of an app's classes, the one being deployed
 * counted with its new code. */
static int64_t app_compressed(control_t *c, const char *app, const char *name, int64_t mine,
                              size_t *nclasses, bool *exists)
{
    catalog_class_t *ks = NULL;
    size_t n = 0;
    char err[256];
    int64_t total = mine;
    *nclasses = 0;
    *exists = false;
    if (catalog_classes_list(c->db, app, &ks, &n, err, sizeof err) < 0)
        return total;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ks[i].name, name) == 0)
            *exists = ks[i].bytecode_len > 0;
        else if (ks[i].bytecode_len > 0)
            total += ks[i].code_compressed_len;
        if (ks[i].bytecode_len > 0)
            (*nclasses)++;
        catalog_class_clear(&ks[i]);
    }
    free(ks);
    return total;
}

static http_response_t *deploy_failed(control_t *c, const char *app, const char *name,
                                      int status, const char *code, const char *msg)
{
    char err[256];
    catalog_class_set_error(c->db, app, name, msg, err, sizeof err);
    return http_response_error(status, code, msg);
}

static http_response_t *action_deploy(control_t *c, const char *app, json_t *body,
                                      bool *published)
{
    const char *name = json_str(body, "name");
    const char *code = json_str(body, "code");
    const char *access = json_str(body, "access_mode");
    char msg[600];
    if (!name)
        return http_response_error(400, "INVALID_ARGUMENT",
                                   "deploy needs \"name\": the class's kebab-case name");
    if (!code)
        return http_response_error(400, "INVALID_ARGUMENT",
                                   "deploy needs \"code\": the class's TypeScript or JavaScript "
                                   "source as a string");
    if (!validate_name(name, msg, sizeof msg))
        return http_response_error(400, "INVALID_NAME", msg);
    json_t *am = json_object_get(body, "access_mode");
    if (am && !json_is_null(am) && !json_is_string(am))
        return http_response_error(400, "INVALID_ACCESS_MODE",
                                   "access_mode must be \"public\", \"authenticated\" or "
                                   "\"service_key\"");
    enum actor_access mode;
    if (!validate_access_mode(access, &mode, msg, sizeof msg))
        return http_response_error(400, "INVALID_ACCESS_MODE", msg);
    size_t len = json_string_length(json_object_get(body, "code"));
    if (len > DEPLOY_MAX_FILE_BYTES) {
        snprintf(msg, sizeof msg, "%s is %zu bytes; the limit is 5 MB (5,242,880 bytes)", name,
                 len);
        return http_response_error(413, "FILE_TOO_LARGE", msg);
    }
    if (memchr(code, 0, len)) {
        return http_response_error(400, "INVALID_CODE", "the code contains a NUL character");
    }
    uLongf zlen = compressBound(len);
    uint8_t *z = xmalloc(zlen);
    compress2(z, &zlen, (const Bytef *)code, len, 6);
    free(z);
    size_t nclasses;
    bool exists;
    int64_t total = app_compressed(c, app, name, (int64_t)zlen, &nclasses, &exists);
    if (!exists && nclasses >= DEPLOY_MAX_CLASSES) {
        snprintf(msg, sizeof msg,
                 "app \"%s\" already has %d classes, the most an app may have; delete one "
                 "first",
                 app, DEPLOY_MAX_CLASSES);
        return http_response_error(400, "TOO_MANY_CLASSES", msg);
    }
    if (total > DEPLOY_MAX_APP_COMPRESSED) {
        snprintf(msg, sizeof msg,
                 "the classes of app \"%s\" would take %lld bytes compressed; the limit is 10 MB "
                 "(10,485,760 bytes) per app",
                 app, (long long)total);
        return http_response_error(413, "APP_TOO_LARGE", msg);
    }
    if (!validate_imports(code, len, msg, sizeof msg)) {
        char full[700];
        snprintf(full, sizeof full, "%s.ts: %s", name, msg);
        return deploy_failed(c, app, name, 400, "FORBIDDEN_IMPORT", full);
    }
    /* Compile (TypeScript -> JavaScript -> bytecode), then evaluate it in a
     * scratch runtime built like a shard's. */
    if (!c->compiler)
        c->compiler = jscompiler_new();
    if (!c->compiler)
        return http_response_error(500, "INTERNAL", "the TypeScript compiler failed to load");
    char filename[96];
    snprintf(filename, sizeof filename, "%s.ts", name);
    uint8_t *bc = NULL;
    size_t bc_len = 0;
    buf_t err = BUF_INIT;
    uint64_t t0 = uv_hrtime();
    if (jscompiler_compile(c->compiler, code, len, filename, &bc, &bc_len, &err) < 0) {
        http_response_t *res = deploy_failed(c, app, name, 400, "COMPILE_ERROR", buf_cstr(&err));
        buf_deinit(&err);
        return res;
    }
    char *class_name = NULL, *export_name = NULL;
    if (actor_check_class(&c->loop, bc, bc_len, c->cfg->actor.memory_limit,
                          c->cfg->actor.cpu_limit_ms, &class_name, &export_name, &err) < 0) {
        /* Messages name the module file; the class's own name is more useful. */
        http_response_t *res = deploy_failed(c, app, name, 400, "INVALID_CLASS", buf_cstr(&err));
        buf_deinit(&err);
        free(bc);
        return res;
    }
    if (!validate_class_name(class_name, name, msg, sizeof msg)) {
        http_response_t *res = deploy_failed(c, app, name, 400, "INVALID_CLASS_NAME", msg);
        free(bc);
        free(class_name);
        free(export_name);
        return res;
    }
    free(export_name);
    catalog_class_t old;
    memset(&old, 0, sizeof old);
    char e2[256];
    int had = catalog_class_get(c->db, app, name, &old, e2, sizeof e2) == 0 && old.bytecode_len;
    char uuid[37];
    util_random_uuid(uuid);
    catalog_class_t k = {
        .app_id = (char *)app,
        .name = (char *)name,
        .id = had ? old.id : uuid,
        .class_name = class_name,
        .access_mode = (char *)validate_access_str(mode),
        .code = (char *)code,
        .bytecode = bc,
        .bytecode_len = bc_len,
        .version = (had ? old.version : 0) + 1,
        .last_deployed_at = util_now_ms(),
        .error_message = NULL,
        .code_compressed_len = (int64_t)zlen,
    };
    http_response_t *res;
    if (catalog_class_put(c->db, &k, e2, sizeof e2) < 0) {
        res = http_response_error(500, "INTERNAL", e2);
    } else {
        log_info("deploy", "%s/%s (%s) version %lld, %zu bytes of code, %.1f ms", app, name,
                 class_name, (long long)k.version, len, (double)(uv_hrtime() - t0) / 1e6);
        res = json_response(200, class_json(&k, false));
        *published = true;
    }
    catalog_class_clear(&old);
    free(bc);
    free(class_name);
    buf_deinit(&err);
    return res;
}

static void handle_manage(control_t *c, manage_msg_t *m)
{
    http_request_t *req = m->req;
    pending_reply_t *p = xcalloc(1, sizeof *p);
    p->c = c;
    p->reply = m->reply;
    p->method = xstrdup(req->method);
    p->target = xstrdup(req->target);
    p->started_ns = req->started_ns;
    bool published = false;
    json_error_t jerr;
    json_t *body = json_loadb((const char *)req->body.data, req->body.len, 0, &jerr);
    http_response_t *res = NULL;
    if (!body || !json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the body must be a JSON object like {\"app_id\":\"default\",\"action\":"
                 "\"list\"}%s%s",
                 body ? "" : ": ", body ? "" : jerr.text);
        res = http_response_error(400, "INVALID_JSON", msg);
        goto done;
    }
    const char *app = json_str(body, "app_id");
    const char *action = json_str(body, "action");
    if (!app)
        app = "default";
    if (!action) {
        res = http_response_error(400, "INVALID_ARGUMENT",
                                  "missing \"action\": one of deploy, list, get, delete");
        goto done;
    }
    if (!actor_catalog_app(c->snapshot, app)) {
        char msg[200];
        snprintf(msg, sizeof msg, "no app \"%.64s\" exists on this server", app);
        res = http_response_error(404, "APP_NOT_FOUND", msg);
        goto done;
    }
    const char *name = json_str(body, "name");
    if (strcmp(action, "deploy") == 0) {
        res = action_deploy(c, app, body, &published);
    } else if (strcmp(action, "list") == 0) {
        res = action_list(c, app);
    } else if (strcmp(action, "get") == 0 || strcmp(action, "delete") == 0) {
        if (!name) {
            res = http_response_error(400, "INVALID_ARGUMENT", "this action needs \"name\"");
        } else if (strcmp(action, "get") == 0) {
            res = action_get(c, app, name);
        } else {
            catalog_class_t k;
            memset(&k, 0, sizeof k);
            char err[256];
            int rc = catalog_class_get(c->db, app, name, &k, err, sizeof err);
            bool live = rc == 0 && k.bytecode_len > 0;
            catalog_class_clear(&k);
            if (rc < 0) {
                res = http_response_error(500, "INTERNAL", err);
            } else if (!live) {
                res = not_found(app, name);
            } else if (catalog_class_delete(c->db, app, name, err, sizeof err) < 0) {
                res = http_response_error(500, "INTERNAL", err);
            } else {
                log_info("deploy", "deleted %s/%s and all its instances", app, name);
                res = json_response(200, json_pack("{s:b}", "deleted", 1));
                p->purge_app = xstrdup(app);
                p->purge_class = xstrdup(name);
                published = true;
            }
        }
    } else if (c->cfg->test_hooks && strcmp(action, "test_fail_commits") == 0) {
        json_t *n = json_object_get(body, "count");
        actor_fail_next_commits(json_is_integer(n) ? (int)json_integer_value(n) : 1);
        res = json_response(200, json_pack("{s:b}", "ok", 1));
    } else {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "unknown action \"%.40s\": use deploy, list, get or delete", action);
        res = http_response_error(400, "INVALID_ACTION", msg);
    }
done:
    json_decref(body);
    http_request_free(req);
    p->res = res;
    if (published) {
        publish(c, p);
    } else {
        p->mail.kind = CONTROL_PUBLISHED;
        mailbox_post(c->mb, &p->mail);
    }
}

static void finish_reply(control_t *c, pending_reply_t *p)
{
    if (p->purge_app) {
        char err[256];
        if (store_purge(c->cfg->data_dir, p->purge_app, p->purge_class, err, sizeof err) < 0)
            log_error("deploy", "purging %s/%s: %s", p->purge_app, p->purge_class, err);
    }
    front_log_request(p->method, p->target, p->res->status, p->started_ns);
    actor_reply_send(p->reply, p->res);
    free(p->purge_app);
    free(p->purge_class);
    free(p->method);
    free(p->target);
    free(p);
}

static void on_mail(mailbox_t *mb, mail_t *m, void *data)
{
    control_t *c = data;
    if (m->kind == CONTROL_STOPPED) {
        free(m);
        uv_stop(&c->loop);
        return;
    }
    if (m->kind == CONTROL_MANAGE) {
        handle_manage(c, (manage_msg_t *)m);
        free(m);
    } else {
        finish_reply(c, (pending_reply_t *)m);
    }
}

/* ---- start-up and shutdown ---------------------------------------------------------------- */

/* Stopping waits for every shard to drain, and shards may still need the
 * control loop (a management answer in progress), so the wait happens on a
 * thread of its own and tells the loop when it is over. */
static void *stopper_main(void *arg)
{
    control_t *c = arg;
    shards_stop(c->shards, c->cfg->threads);
    mail_t *m = xcalloc(1, sizeof *m);
    m->kind = CONTROL_STOPPED;
    mailbox_post(c->mb, m);
    return NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    control_t *c = h->data;
    if (c->stopping)
        return;
    c->stopping = true;
    log_info("server", "%s: stopping (finishing in-flight requests, committing writes)",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    pthread_create(&c->stopper, NULL, stopper_main, c);
}

static int admin_token(control_t *c)
{
    const char *env = getenv("DORM_ADMIN_TOKEN");
    if (env && *env) {
        snprintf(c->admin_token, sizeof c->admin_token, "%s", env);
        return 0;
    }
    buf_t path = BUF_INIT, data = BUF_INIT;
    buf_printf(&path, "%s/admin.token", c->cfg->data_dir);
    int rc = util_read_file(buf_cstr(&path), &data);
    if (rc == 0) {
        size_t n = data.len;
        while (n > 0 && (data.data[n - 1] == '\n' || data.data[n - 1] == ' '))
            n--;
        snprintf(c->admin_token, sizeof c->admin_token, "%.*s", (int)n, (char *)data.data);
    } else {
        util_random_hex(24, c->admin_token);
        char line[64];
        int len = snprintf(line, sizeof line, "%s\n", c->admin_token);
        rc = util_write_file(buf_cstr(&path), line, (size_t)len, 0600);
        if (rc < 0)
            log_error("server", "cannot write %s: %s", buf_cstr(&path), strerror(-rc));
        else
            log_info("server", "created the admin token in %s", buf_cstr(&path));
    }
    buf_deinit(&path);
    buf_deinit(&data);
    return rc < 0 ? -1 : 0;
}

static int ensure_default_app(control_t *c)
{
    catalog_app_t a;
    memset(&a, 0, sizeof a);
    char err[256];
    int rc = catalog_app_get(c->db, "default", &a, err, sizeof err);
    if (rc == 0) {
        catalog_app_clear(&a);
        return 0;
    }
    if (rc < 0) {
        log_error("server", "control.db: %s", err);
        return -1;
    }
    char key[80] = "sk_";
    util_random_hex(24, key + 3);
    catalog_app_t d = {"default", "default", key, util_now_ms()};
    if (catalog_app_put(c->db, &d, err, sizeof err) < 0) {
        log_error("server", "control.db: %s", err);
        return -1;
    }
    /* The service key also goes to a file (0600) until the control-plane
     * actions can show it. */
    buf_t path = BUF_INIT;
    buf_printf(&path, "%s/default.service_key", c->cfg->data_dir);
    char line[96];
    int len = snprintf(line, sizeof line, "%s\n", key);
    util_write_file(buf_cstr(&path), line, (size_t)len, 0600);
    buf_deinit(&path);
    return 0;
}

int control_run(control_config_t *cfg)
{
    control_t c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    log_set_json(cfg->log_json);
    char err[256];
    if (http_port_check(cfg->listen_host, cfg->port, err, sizeof err) < 0) {
        log_error("server", "%s", err);
        return 1;
    }
    int rc = util_mkdirs(cfg->data_dir, 0700);
    if (rc < 0) {
        log_error("server", "cannot create the data folder %s: %s", cfg->data_dir, strerror(-rc));
        return 1;
    }
    if (admin_token(&c) < 0)
        return 1;
    buf_t path = BUF_INIT;
    buf_printf(&path, "%s/control.db", cfg->data_dir);
    c.db = catalog_open(buf_cstr(&path), err, sizeof err);
    buf_deinit(&path);
    if (!c.db) {
        log_error("server", "cannot open control.db: %s", err);
        return 1;
    }
    if (ensure_default_app(&c) < 0)
        return 1;
    c.snapshot = load_snapshot(&c, err, sizeof err);
    if (!c.snapshot) {
        log_error("server", "cannot read control.db: %s", err);
        return 1;
    }
    uv_loop_init(&c.loop);
    c.mb = mailbox_new(&c.loop, on_mail, &c);
    c.front.cfg = cfg;
    c.front.admin_token = c.admin_token;
    c.front.control_mb = c.mb;
    shard_hooks_t hooks = front_hooks(&c.front);
    c.shards = shards_start(cfg->threads, &cfg->actor, c.snapshot, &hooks, err, sizeof err);
    if (!c.shards) {
        log_error("server", "cannot start: %s", err);
        return 1;
    }
    uv_signal_init(&c.loop, &c.sigint);
    uv_signal_init(&c.loop, &c.sigterm);
    c.sigint.data = c.sigterm.data = &c;
    uv_signal_start(&c.sigint, on_signal, SIGINT);
    uv_signal_start(&c.sigterm, on_signal, SIGTERM);
    log_info("server",
             "dorm listening on http://%s:%d (data %s, %d shard%s, durability %s, up to %zu "
             "open databases per shard)",
             cfg->listen_host, cfg->port, cfg->data_dir, cfg->threads,
             cfg->threads == 1 ? "" : "s",
             cfg->actor.durability == STORE_DURABILITY_FSYNC ? "fsync" : "process",
             cfg->actor.max_open_handles / 2);
    uv_run(&c.loop, UV_RUN_DEFAULT);

    pthread_join(c.stopper, NULL);
    uv_signal_stop(&c.sigint);
    uv_signal_stop(&c.sigterm);
    uv_close((uv_handle_t *)&c.sigint, NULL);
    uv_close((uv_handle_t *)&c.sigterm, NULL);
    mailbox_close(c.mb, NULL);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    jscompiler_free(c.compiler);
    actor_catalog_unref(c.snapshot);
    catalog_close(c.db);
    log_info("server", "stopped");
    return 0;
}
