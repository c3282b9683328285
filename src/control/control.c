/* The control thread (see control.h): start-up, the admin token, the
 * catalog in DATA/control.db, manage_durable_objects, catalog publishing,
 * and shutdown on SIGINT/SIGTERM. It runs on the main thread's own loop,
 * never on a shard, so compiling a deploy never stalls a request. Apps, env
 * vars, usage and logs have files of their own (control_int.h). */
#include "control.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <zlib.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "access.h"
#include "control_int.h"
#include "jwt.h"
#include "route.h"
#include "validate.h"

/* ---- snapshots ------------------------------------------------------------------ */

static actor_class_t *class_from_row(const catalog_class_t *k, const catalog_env_t *env,
                                     size_t nenv, int64_t env_version)
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
    c->env_version = env_version;
    c->nenv = nenv;
    c->env = xcalloc(nenv + 1, sizeof *c->env);
    for (size_t i = 0; i < nenv; i++) {
        c->env[i].key = xstrdup(env[i].key);
        c->env[i].value = xstrdup(env[i].value);
    }
    return c;
}

static void auth_free(void *auth)
{
    jwt_keyset_free(auth);
}

/* Builds a snapshot of everything in control.db. */
actor_catalog_t *control_load_snapshot(control_t *c, char *err, size_t errlen)
{
    catalog_app_t *apps = NULL;
    size_t napps = 0;
    catalog_class_t *classes = NULL;
    size_t ncls = 0;
    if (catalog_apps_list(c->db, &apps, &napps, err, errlen) < 0)
        return NULL;
    if (catalog_classes_list(c->db, NULL, &classes, &ncls, err, errlen) < 0) {
        catalog_apps_free(apps, napps);
        return NULL;
    }
    actor_catalog_t *cat = xcalloc(1, sizeof *cat);
    atomic_store(&cat->refs, 1);
    cat->apps = xcalloc(napps + 1, sizeof *cat->apps);
    cat->napps = napps;
    cat->classes = xcalloc(ncls + 1, sizeof *cat->classes);
    for (size_t i = 0; i < napps; i++) {
        actor_app_t *a = &cat->apps[i];
        a->id = xstrdup(apps[i].id);
        a->subdomain = xstrdup(apps[i].subdomain);
        a->service_key_hash = xstrdup(apps[i].service_key_hash ? apps[i].service_key_hash : "");
        a->env_version = apps[i].env_version;
        if (apps[i].auth) {
            char msg[300];
            jwt_keyset_t *ks = jwt_keyset_from_settings(apps[i].auth, strlen(apps[i].auth), msg,
                                                        sizeof msg);
            if (!ks) {
                /* Fail closed: an app whose keys cannot be read accepts no token. */
                log_error("auth", "app %s: its JWT settings cannot be used (%s); tokens are "
                                  "refused until set_auth fixes them",
                          a->id, msg);
                ks = jwt_keyset_new();
            }
            a->auth = ks;
            a->auth_free = auth_free;
        }
        catalog_env_t *env = NULL;
        size_t nenv = 0;
        if (catalog_env_list(c->db, a->id, &env, &nenv, err, errlen) < 0) {
            catalog_env_free(env, nenv);
            catalog_apps_free(apps, napps);
            catalog_classes_free(classes, ncls);
            actor_catalog_unref(cat);
            return NULL;
        }
        for (size_t j = 0; j < ncls; j++)
            if (classes[j].bytecode_len > 0 && strcmp(classes[j].app_id, a->id) == 0)
                cat->classes[cat->nclasses++] =
                    class_from_row(&classes[j], env, nenv, apps[i].env_version);
        catalog_env_free(env, nenv);
    }
    catalog_apps_free(apps, napps);
    catalog_classes_free(classes, ncls);
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
    actor_catalog_t *cat = control_load_snapshot(c, err, sizeof err);
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

http_response_t *control_json_response(int status, json_t *j)
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

const char *control_json_str(json_t *body, const char *key)
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
    return control_json_response(200, json_pack("{s:o}", "durable_objects", arr));
}

http_response_t *control_class_not_found(const char *app, const char *name)
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
        return control_class_not_found(app, name);
    }
    http_response_t *res = control_json_response(200, class_json(&k, true));
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
    const char *name = control_json_str(body, "name");
    const char *code = control_json_str(body, "code");
    const char *access = control_json_str(body, "access_mode");
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
    /* The class's binding (chat-room: CHAT_ROOM) may not be an env key. */
    char binding[160];
    validate_binding(name, binding, sizeof binding);
    catalog_env_t *env = NULL;
    size_t nenv = 0;
    bool clash = false;
    if (catalog_env_list(c->db, app, &env, &nenv, msg, sizeof msg) == 0)
        for (size_t i = 0; i < nenv; i++)
            clash = clash || strcmp(env[i].key, binding) == 0;
    catalog_env_free(env, nenv);
    if (clash) {
        snprintf(msg, sizeof msg,
                 "app \"%s\" has an env var %s, the binding a class named \"%s\" would take; "
                 "delete the env var (delete_env) or choose another name",
                 app, binding, name);
        return http_response_error(409, "ENV_KEY_CONFLICT", msg);
    }
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
        res = control_json_response(200, class_json(&k, false));
        *published = true;
    }
    catalog_class_clear(&old);
    free(bc);
    free(class_name);
    buf_deinit(&err);
    return res;
}

char **control_class_names(control_t *c, const char *app, size_t *n)
{
    catalog_class_t *ks = NULL;
    size_t nk = 0;
    char err[256];
    *n = 0;
    if (catalog_classes_list(c->db, app, &ks, &nk, err, sizeof err) < 0)
        return xcalloc(1, sizeof(char *));
    char **v = xcalloc(nk + 1, sizeof *v);
    for (size_t i = 0; i < nk; i++)
        if (ks[i].bytecode_len > 0)
            v[(*n)++] = xstrdup(ks[i].name);
    catalog_classes_free(ks, nk);
    return v;
}

void control_names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static http_response_t *action_delete(control_t *c, const char *app, const char *name,
                                      pending_reply_t *p)
{
    catalog_class_t k;
    memset(&k, 0, sizeof k);
    char err[256];
    int rc = catalog_class_get(c->db, app, name, &k, err, sizeof err);
    bool live = rc == 0 && k.bytecode_len > 0;
    catalog_class_clear(&k);
    if (rc < 0)
        return http_response_error(500, "INTERNAL", err);
    if (!live)
        return control_class_not_found(app, name);
    if (catalog_class_delete(c->db, app, name, err, sizeof err) < 0)
        return http_response_error(500, "INTERNAL", err);
    log_info("deploy", "deleted %s/%s and all its instances", app, name);
    usage_forget(c, app, name);
    logs_forget(c, app, name);
    p->purge_app = xstrdup(app);
    p->purge_class = xstrdup(name);
    p->publish = true;
    return control_json_response(200, json_pack("{s:b}", "deleted", 1));
}

static const char *const do_actions =
    "deploy, list, get, delete, usage, list_env, set_env or delete_env";

/* POST /_api/manage_durable_objects. Returns the answer, or NULL when p is
 * finished later. */
static http_response_t *manage_do(control_t *c, json_t *body, pending_reply_t *p)
{
    const char *app = control_json_str(body, "app_id");
    const char *action = control_json_str(body, "action");
    char msg[300];
    if (!app)
        app = "default";
    if (!action) {
        snprintf(msg, sizeof msg, "missing \"action\": one of %s", do_actions);
        return http_response_error(400, "INVALID_ARGUMENT", msg);
    }
    if (!actor_catalog_app(c->snapshot, app)) {
        snprintf(msg, sizeof msg,
                 "no app \"%.64s\" exists on this server; create it with manage_apps "
                 "{\"action\":\"create\",\"app_id\":\"%.64s\"}",
                 app, app);
        return http_response_error(404, "APP_NOT_FOUND", msg);
    }
    const char *name = control_json_str(body, "name");
    if (strcmp(action, "deploy") == 0) {
        bool published = false;
        http_response_t *res = action_deploy(c, app, body, &published);
        p->publish = published;
        return res;
    }
    if (strcmp(action, "list") == 0)
        return action_list(c, app);
    if (strcmp(action, "list_env") == 0)
        return env_list(c, app);
    if (strcmp(action, "set_env") == 0)
        return env_set(c, app, body, p);
    if (strcmp(action, "delete_env") == 0)
        return env_delete(c, app, body, p);
    if (strcmp(action, "usage") == 0) {
        json_t *n = json_object_get(body, "name");
        if (n && !json_is_null(n) && !json_is_string(n))
            return http_response_error(400, "INVALID_ARGUMENT",
                                       "\"name\" must be a class's name, or left out for the "
                                       "whole app");
        return usage_action(c, app, name, p);
    }
    if (strcmp(action, "get") == 0 || strcmp(action, "delete") == 0) {
        if (!name) {
            snprintf(msg, sizeof msg, "%s needs \"name\": the class's kebab-case name", action);
            return http_response_error(400, "INVALID_ARGUMENT", msg);
        }
        return strcmp(action, "get") == 0 ? action_get(c, app, name)
                                          : action_delete(c, app, name, p);
    }
    bool handled;
    http_response_t *res = storage_action(c, app, action, body, p, &handled);
    if (handled)
        return res;
    if (c->cfg->test_hooks && strcmp(action, "test_fail_commits") == 0) {
        json_t *n = json_object_get(body, "count");
        actor_fail_next_commits(json_is_integer(n) ? (int)json_integer_value(n) : 1);
        return control_json_response(200, json_pack("{s:b}", "ok", 1));
    }
    if (c->cfg->test_hooks && strcmp(action, "test_slow_syncs") == 0) {
        json_t *ms = json_object_get(body, "ms");
        actor_slow_syncs(json_is_integer(ms) ? (int)json_integer_value(ms) : 0);
        return control_json_response(200, json_pack("{s:b}", "ok", 1));
    }
    if (c->cfg->test_hooks && strcmp(action, "test_delay_ws_attach") == 0) {
        json_t *ms = json_object_get(body, "ms");
        actor_delay_ws_attach(json_is_integer(ms) ? (int)json_integer_value(ms) : 0);
        return control_json_response(200, json_pack("{s:b}", "ok", 1));
    }
    snprintf(msg, sizeof msg, "unknown action \"%.40s\": use %s, or for storage %s", action,
             do_actions, storage_actions_list());
    return http_response_error(400, "INVALID_ACTION", msg);
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
    if (m->route == ROUTE_METRICS) {
        http_request_free(req);
        usage_metrics(c, p);
        return;
    }
    if (m->route == ROUTE_LOGS) {
        logs_request(c, req, p);
        http_request_free(req);
        return;
    }
    if (m->route == ROUTE_BACKUP) {
        storage_backup_request(c, req, p);
        return;
    }
    if (m->route == ROUTE_RESTORE) {
        storage_restore_request(c, req, p);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb((const char *)req->body.data, req->body.len, 0, &jerr);
    http_request_free(req);
    http_response_t *res;
    if (!body || !json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the body must be a JSON object like {\"app_id\":\"default\",\"action\":"
                 "\"list\"}%s%s",
                 body ? "" : ": ", body ? "" : jerr.text);
        res = http_response_error(400, "INVALID_JSON", msg);
    } else if (m->route == ROUTE_MANAGE_APPS) {
        res = apps_handle(c, body, p);
    } else {
        res = manage_do(c, body, p);
    }
    json_decref(body);
    if (res) {
        p->res = res;
        control_finish(c, p);
    }
}

void control_finish(control_t *c, pending_reply_t *p)
{
    if (p->publish) {
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
            log_error("deploy", "purging %s/%s: %s", p->purge_app,
                      p->purge_class ? p->purge_class : "*", err);
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
    switch (m->kind) {
    case CONTROL_STOPPED:
        free(m);
        uv_stop(&c->loop);
        return;
    case CONTROL_MANAGE:
        handle_manage(c, (manage_msg_t *)m);
        free(m);
        return;
    case CONTROL_PUBLISHED:
        finish_reply(c, (pending_reply_t *)m);
        return;
    case CONTROL_USAGE:
        usage_on_mail(c, m);
        return;
    case CONTROL_STORAGE:
        storage_on_mail(c, m);
        return;
    case CONTROL_LOG:
    case CONTROL_FOLLOW:
    case CONTROL_UNFOLLOW:
        logs_on_mail(c, m);
        return;
    case CONTROL_QUIESCE:
        /* The stopper thread is about to join the shards: nothing may be
         * posted to them from now on. */
        logs_quiesce(c);
        pthread_mutex_lock(&c->quiesce_lock);
        c->quiesced = true;
        pthread_cond_broadcast(&c->quiesce_cond);
        pthread_mutex_unlock(&c->quiesce_lock);
        free(m);
        return;
    default:
        free(m);
    }
}

/* ---- start-up and shutdown ---------------------------------------------------------------- */

/* Stopping waits for every shard to drain, and shards may still need the
 * control loop (a management answer in progress), so the wait happens on a
 * thread of its own and tells the loop when it is over. Between draining and
 * joining, the control thread is told to post nothing more to the shards,
 * and the usage counters are gathered one last time. */
static void *stopper_main(void *arg)
{
    control_t *c = arg;
    shards_drain(c->shards, c->cfg->threads);
    mail_t *q = xcalloc(1, sizeof *q);
    q->kind = CONTROL_QUIESCE;
    mailbox_post(c->mb, q);
    pthread_mutex_lock(&c->quiesce_lock);
    while (!c->quiesced)
        pthread_cond_wait(&c->quiesce_cond, &c->quiesce_lock);
    pthread_mutex_unlock(&c->quiesce_lock);
    usage_collect_final(c);
    shards_join(c->shards, c->cfg->threads);
    mail_t *m = xcalloc(1, sizeof *m);
    m->kind = CONTROL_STOPPED;
    mailbox_post(c->mb, m);
    return NULL;
}

static void tick_cb(uv_timer_t *t)
{
    control_t *c = t->data;
    if (c->stopping)
        return;
    usage_tick(c);
    logs_tick(c);
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
    int rc = 0;
    if (env && *env) {
        snprintf(c->admin_token, sizeof c->admin_token, "%s", env);
    } else {
        buf_t path = BUF_INIT, data = BUF_INIT;
        buf_printf(&path, "%s/admin.token", c->cfg->data_dir);
        rc = util_read_file(buf_cstr(&path), &data);
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
    }
    util_sha256(c->admin_token, strlen(c->admin_token), c->front.admin_hash);
    return rc < 0 ? -1 : 0;
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
    if (apps_ensure_default(&c) < 0)
        return 1;
    c.snapshot = control_load_snapshot(&c, err, sizeof err);
    if (!c.snapshot) {
        log_error("server", "cannot read control.db: %s", err);
        return 1;
    }
    uv_loop_init(&c.loop);
    pthread_mutex_init(&c.quiesce_lock, NULL);
    pthread_cond_init(&c.quiesce_cond, NULL);
    c.mb = mailbox_new(&c.loop, on_mail, &c);
    c.logs = logs_new();
    c.usage = NULL;
    c.front.cfg = cfg;
    c.front.control_mb = c.mb;
    shard_hooks_t hooks = front_hooks(&c.front);
    c.shards = shards_start(cfg->threads, &cfg->actor, c.snapshot, &hooks, err, sizeof err);
    if (!c.shards) {
        log_error("server", "cannot start: %s", err);
        return 1;
    }
    if (usage_start(&c) < 0)
        return 1;
    uv_timer_init(&c.loop, &c.tick);
    c.tick.data = &c;
    uv_timer_start(&c.tick, tick_cb, CONTROL_TICK_MS, CONTROL_TICK_MS);
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
    usage_stop(&c);
    uv_signal_stop(&c.sigint);
    uv_signal_stop(&c.sigterm);
    uv_close((uv_handle_t *)&c.sigint, NULL);
    uv_close((uv_handle_t *)&c.sigterm, NULL);
    uv_close((uv_handle_t *)&c.tick, NULL);
    mailbox_close(c.mb, NULL);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    logs_free(c.logs);
    jscompiler_free(c.compiler);
    actor_catalog_unref(c.snapshot);
    catalog_close(c.db);
    pthread_mutex_destroy(&c.quiesce_lock);
    pthread_cond_destroy(&c.quiesce_cond);
    memset(c.admin_token, 0, sizeof c.admin_token);
    log_info("server", "stopped");
    return 0;
}
