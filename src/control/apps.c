/* manage_apps (DESIGN.md 1.5): creating, listing, inspecting and deleting
 * apps, rotating their service keys and setting their JWT verification.
 * Secrets never leave here except once: the service key in the answer of
 * create and rotate_service_key. The default app's key is also kept in
 * DATA/default.service_key (0600), the one place a local user finds it.
 * Runs on the control thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "access.h"
#include "control_int.h"
#include "jwt.h"
#include "validate.h"

static const char *const app_actions =
    "create, list, get, delete, rotate_service_key or set_auth";

/* A new service key, and its hash for control.db. */
static void new_service_key(char key[64], char hash[65])
{
    memcpy(key, "sk_", 3);
    util_random_hex(24, key + 3);
    access_hash_hex(key, strlen(key), hash);
}

static void write_default_key(control_t *c, const char *key)
{
    buf_t path = BUF_INIT;
    buf_printf(&path, "%s/default.service_key", c->cfg->data_dir);
    char line[96];
    int len = snprintf(line, sizeof line, "%s\n", key);
    int rc = util_write_file(buf_cstr(&path), line, (size_t)len, 0600);
    if (rc < 0)
        log_error("server", "cannot write %s: %s", buf_cstr(&path), strerror(-rc));
    buf_deinit(&path);
}

int apps_ensure_default(control_t *c)
{
    catalog_app_t a;
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
    char key[64], hash[65];
    new_service_key(key, hash);
    catalog_app_t d = {.id = "default", .subdomain = "default", .service_key_hash = hash,
                       .created_at = util_now_ms()};
    if (catalog_app_put(c->db, &d, err, sizeof err) < 0) {
        log_error("server", "control.db: %s", err);
        return -1;
    }
    write_default_key(c, key);
    memset(key, 0, sizeof key);
    return 0;
}

static json_t *app_json(control_t *c, const catalog_app_t *a)
{
    char when[32];
    util_iso8601(a->created_at, when);
    size_t nclasses = 0, nenv = 0;
    char **names = control_class_names(c, a->id, &nclasses);
    control_names_free(names, nclasses);
    catalog_env_t *env = NULL;
    char err[256];
    catalog_env_list(c->db, a->id, &env, &nenv, err, sizeof err);
    catalog_env_free(env, nenv);
    json_t *auth = a->auth ? jwt_settings_describe(a->auth, strlen(a->auth)) : json_null();
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "app_id", a->id, "subdomain",
                     a->subdomain, "created_at", when, "auth", auth, "durable_objects",
                     (json_int_t)nclasses, "env_vars", (json_int_t)nenv);
}

static http_response_t *app_not_found(const char *id)
{
    char msg[200];
    snprintf(msg, sizeof msg, "no app \"%.64s\" exists on this server; see the apps with the "
                              "\"list\" action",
             id);
    return http_response_error(404, "APP_NOT_FOUND", msg);
}

/* Reads the app named by body's app_id; an answer when that fails. */
static http_response_t *load_app(control_t *c, json_t *body, const char *action,
                                 catalog_app_t *a)
{
    const char *id = control_json_str(body, "app_id");
    char msg[200];
    memset(a, 0, sizeof *a);
    if (!id) {
        snprintf(msg, sizeof msg, "%s needs \"app_id\"", action);
        return http_response_error(400, "INVALID_ARGUMENT", msg);
    }
    int rc = catalog_app_get(c->db, id, a, msg, sizeof msg);
    if (rc < 0)
        return http_response_error(500, "INTERNAL", msg);
    if (rc == 1)
        return app_not_found(id);
    return NULL;
}

static http_response_t *action_create(control_t *c, json_t *body, pending_reply_t *p)
{
    const char *id = control_json_str(body, "app_id");
    json_t *sv = json_object_get(body, "subdomain");
    char msg[400];
    if (!id)
        return http_response_error(400, "INVALID_ARGUMENT",
                                   "create needs \"app_id\": the new app's name, e.g. "
                                   "\"my-app\"");
    if (!validate_label(id, "app_id", msg, sizeof msg))
        return http_response_error(400, "INVALID_APP_ID", msg);
    if (sv && !json_is_null(sv) && !json_is_string(sv))
        return http_response_error(400, "INVALID_SUBDOMAIN", "\"subdomain\" must be a string");
    const char *sub = json_is_string(sv) ? json_string_value(sv) : id;
    if (!validate_label(sub, "subdomain", msg, sizeof msg))
        return http_response_error(400, "INVALID_SUBDOMAIN", msg);
    catalog_app_t old;
    int rc = catalog_app_get(c->db, id, &old, msg, sizeof msg);
    catalog_app_clear(&old);
    if (rc < 0)
        return http_response_error(500, "INTERNAL", msg);
    if (rc == 0) {
        snprintf(msg, sizeof msg, "the app \"%s\" already exists; delete it first or choose "
                                  "another app_id",
                 id);
        return http_response_error(409, "APP_EXISTS", msg);
    }
    for (size_t i = 0; i < c->snapshot->napps; i++)
        if (strcmp(c->snapshot->apps[i].subdomain, sub) == 0) {
            snprintf(msg, sizeof msg,
                     "the subdomain \"%s\" is already the app \"%s\"'s; choose another with "
                     "\"subdomain\"",
                     sub, c->snapshot->apps[i].id);
            return http_response_error(409, "SUBDOMAIN_TAKEN", msg);
        }
    char key[64], hash[65];
    new_service_key(key, hash);
    catalog_app_t a = {.id = (char *)id, .subdomain = (char *)sub, .service_key_hash = hash,
                       .created_at = util_now_ms()};
    if (catalog_app_put(c->db, &a, msg, sizeof msg) < 0)
        return http_response_error(409, "SUBDOMAIN_TAKEN", msg);
    log_info("apps", "created app %s (subdomain %s)", id, sub);
    json_t *j = app_json(c, &a);
    json_object_set_new(j, "service_key", json_string(key));
    memset(key, 0, sizeof key);
    p->publish = true;
    return control_json_response(200, j);
}

static http_response_t *action_list(control_t *c)
{
    catalog_app_t *apps = NULL;
    size_t n = 0;
    char err[256];
    if (catalog_apps_list(c->db, &apps, &n, err, sizeof err) < 0)
        return http_response_error(500, "INTERNAL", err);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, app_json(c, &apps[i]));
    catalog_apps_free(apps, n);
    return control_json_response(200, json_pack("{s:o}", "apps", arr));
}

static http_response_t *action_get(control_t *c, json_t *body)
{
    catalog_app_t a;
    http_response_t *res = load_app(c, body, "get", &a);
    if (res)
        return res;
    res = control_json_response(200, app_json(c, &a));
    catalog_app_clear(&a);
    return res;
}

static http_response_t *action_delete(control_t *c, json_t *body, pending_reply_t *p)
{
    catalog_app_t a;
    http_response_t *res = load_app(c, body, "delete", &a);
    if (res)
        return res;
    char msg[300];
    if (strcmp(a.id, "default") == 0) {
        catalog_app_clear(&a);
        return http_response_error(400, "CANNOT_DELETE_DEFAULT",
                                   "the app default cannot be deleted; delete its classes with "
                                   "manage_durable_objects instead");
    }
    if (catalog_app_delete(c->db, a.id, msg, sizeof msg) < 0) {
        catalog_app_clear(&a);
        return http_response_error(500, "INTERNAL", msg);
    }
    log_info("apps", "deleted app %s with all its classes, instances and env vars", a.id);
    usage_forget(c, a.id, NULL);
    logs_forget(c, a.id, NULL);
    p->purge_app = xstrdup(a.id);
    p->publish = true;
    catalog_app_clear(&a);
    return control_json_response(200, json_pack("{s:b}", "deleted", 1));
}

static http_response_t *action_rotate(control_t *c, json_t *body, pending_reply_t *p)
{
    catalog_app_t a;
    http_response_t *res = load_app(c, body, "rotate_service_key", &a);
    if (res)
        return res;
    char key[64], hash[65], msg[256];
    new_service_key(key, hash);
    free(a.service_key_hash);
    a.service_key_hash = xstrdup(hash);
    if (catalog_app_put(c->db, &a, msg, sizeof msg) < 0) {
        catalog_app_clear(&a);
        return http_response_error(500, "INTERNAL", msg);
    }
    if (strcmp(a.id, "default") == 0)
        write_default_key(c, key);
    log_info("apps", "rotated the service key of app %s; the old one no longer works", a.id);
    res = control_json_response(200, json_pack("{s:s, s:s}", "app_id", a.id, "service_key", key));
    memset(key, 0, sizeof key);
    catalog_app_clear(&a);
    p->publish = true;
    return res;
}

/* The settings set_auth stores, checked by building their keyset. */
static http_response_t *auth_settings(json_t *body, json_t **out)
{
    json_t *secret = json_object_get(body, "jwt_secret");
    json_t *pem = json_object_get(body, "jwt_public_key");
    json_t *jwks = json_object_get(body, "jwks");
    json_t *iss = json_object_get(body, "issuer"), *aud = json_object_get(body, "audience");
    int given = (secret != NULL) + (pem != NULL) + (jwks != NULL);
    *out = NULL;
    if (given != 1)
        return http_response_error(400, "INVALID_ARGUMENT",
                                   given ? "set_auth takes one of jwt_secret, jwt_public_key and "
                                           "jwks, not several"
                                         : "set_auth needs one of \"jwt_secret\" (an HS256 "
                                           "secret), \"jwt_public_key\" (PEM, RS256 or ES256) or "
                                           "\"jwks\" (a JWKS document); \"clear\": true removes "
                                           "verification");
    if ((iss && !json_is_null(iss) && !json_is_string(iss)) ||
        (aud && !json_is_null(aud) && !json_is_string(aud)))
        return http_response_error(400, "INVALID_ARGUMENT",
                                   "\"issuer\" and \"audience\" must be strings");
    json_t *o = json_object();
    if (secret) {
        if (!json_is_string(secret)) {
            json_decref(o);
            return http_response_error(400, "INVALID_ARGUMENT",
                                       "\"jwt_secret\" must be a string");
        }
        json_object_set(o, "secret", secret);
    } else if (pem) {
        if (!json_is_string(pem)) {
            json_decref(o);
            return http_response_error(400, "INVALID_ARGUMENT",
                                       "\"jwt_public_key\" must be a PEM string");
        }
        json_object_set(o, "pem", pem);
    } else {
        if (json_is_object(jwks)) {
            char *doc = json_dumps(jwks, JSON_COMPACT);
            json_object_set_new(o, "jwks", json_string(doc));
            free(doc);
        } else if (json_is_string(jwks)) {
            json_object_set(o, "jwks", jwks);
        } else {
            json_decref(o);
            return http_response_error(400, "INVALID_ARGUMENT",
                                       "\"jwks\" must be a JWKS document (an object, or its JSON "
                                       "text)");
        }
    }
    if (json_is_string(iss) && json_string_length(iss))
        json_object_set(o, "issuer", iss);
    if (json_is_string(aud) && json_string_length(aud))
        json_object_set(o, "audience", aud);
    char *text = json_dumps(o, JSON_COMPACT);
    char msg[400];
    jwt_keyset_t *ks = jwt_keyset_from_settings(text, strlen(text), msg, sizeof msg);
    free(text);
    if (!ks) {
        json_decref(o);
        return http_response_error(400, "INVALID_AUTH", msg);
    }
    jwt_keyset_free(ks);
    *out = o;
    return NULL;
}

static http_response_t *action_set_auth(control_t *c, json_t *body, pending_reply_t *p)
{
    catalog_app_t a;
    http_response_t *res = load_app(c, body, "set_auth", &a);
    if (res)
        return res;
    json_t *settings = NULL;
    if (!json_is_true(json_object_get(body, "clear"))) {
        res = auth_settings(body, &settings);
        if (res) {
            catalog_app_clear(&a);
            return res;
        }
    }
    free(a.auth);
    a.auth = settings ? json_dumps(settings, JSON_COMPACT) : NULL;
    json_decref(settings);
    char msg[256];
    if (catalog_app_put(c->db, &a, msg, sizeof msg) < 0) {
        catalog_app_clear(&a);
        return http_response_error(500, "INTERNAL", msg);
    }
    log_info("apps", "app %s: %s", a.id,
             a.auth ? "JWT verification set" : "JWT verification removed (shape check only)");
    res = control_json_response(200, app_json(c, &a));
    catalog_app_clear(&a);
    p->publish = true;
    return res;
}

http_response_t *apps_handle(control_t *c, json_t *body, pending_reply_t *p)
{
    const char *action = control_json_str(body, "action");
    char msg[200];
    if (!action) {
        snprintf(msg, sizeof msg, "missing \"action\": one of %s", app_actions);
        return http_response_error(400, "INVALID_ARGUMENT", msg);
    }
    if (strcmp(action, "create") == 0)
        return action_create(c, body, p);
    if (strcmp(action, "list") == 0)
        return action_list(c);
    if (strcmp(action, "get") == 0)
        return action_get(c, body);
    if (strcmp(action, "delete") == 0)
        return action_delete(c, body, p);
    if (strcmp(action, "rotate_service_key") == 0)
        return action_rotate(c, body, p);
    if (strcmp(action, "set_auth") == 0)
        return action_set_auth(c, body, p);
    snprintf(msg, sizeof msg, "unknown action \"%.40s\": use %s", action, app_actions);
    return http_response_error(400, "INVALID_ACTION", msg);
}
