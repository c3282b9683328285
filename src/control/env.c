/* Env vars of an app (DESIGN.md 1.6): list_env, set_env and delete_env of
 * manage_durable_objects. Values are secrets: they are stored in control.db
 * (0600), handed to the shards inside the catalog snapshot so that classes
 * read them as this.env.KEY, and never returned, logged or echoed in an
 * error. Changing one redeploys every class of the app. Runs on the control
 * thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "control_int.h"
#include "validate.h"

#define ENV_MAX_VALUE_BYTES 5120 /* as Cloudflare: 5 KB per variable */
#define ENV_MAX_VARS 128

http_response_t *env_list(control_t *c, const char *app)
{
    catalog_env_t *env = NULL;
    size_t n = 0;
    char err[256];
    if (catalog_env_list(c->db, app, &env, &n, err, sizeof err) < 0)
        return http_response_error(500, "INTERNAL", err);
    json_t *keys = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(keys, json_string(env[i].key));
    catalog_env_free(env, n);
    return control_json_response(200, json_pack("{s:o}", "keys", keys));
}

/* The key argument, checked; an answer when it is wrong. */
static http_response_t *key_arg(control_t *c, const char *app, json_t *body, const char *action,
                                const char **key)
{
    char msg[400];
    json_t *k = json_object_get(body, "key");
    if (!json_is_string(k)) {
        snprintf(msg, sizeof msg, "%s needs \"key\": the env var's name, e.g. \"API_KEY\"",
                 action);
        return http_response_error(400, "INVALID_ARGUMENT", msg);
    }
    *key = json_string_value(k);
    size_t n = 0;
    char **names = control_class_names(c, app, &n);
    bool ok = validate_env_key(*key, (const char *const *)names, n, msg, sizeof msg);
    control_names_free(names, n);
    if (!ok)
        return http_response_error(400, strstr(msg, "binding") ? "ENV_KEY_RESERVED"
                                                               : "INVALID_ENV_KEY",
                                   msg);
    return NULL;
}

http_response_t *env_set(control_t *c, const char *app, json_t *body, pending_reply_t *p)
{
    const char *key = NULL;
    http_response_t *res = key_arg(c, app, body, "set_env", &key);
    if (res)
        return res;
    json_t *v = json_object_get(body, "value");
    char msg[300];
    if (!json_is_string(v))
        return http_response_error(400, "INVALID_ARGUMENT",
                                   "set_env needs \"value\": a string (numbers and objects are "
                                   "not env values; send them as text)");
    size_t len = json_string_length(v);
    if (memchr(json_string_value(v), 0, len))
        return http_response_error(400, "INVALID_ENV_VALUE",
                                   "the value contains a NUL character, which env values may not");
    if (len > ENV_MAX_VALUE_BYTES) {
        snprintf(msg, sizeof msg, "the value of %s is %zu bytes; an env value may be at most %d",
                 key, len, ENV_MAX_VALUE_BYTES);
        return http_response_error(413, "ENV_VALUE_TOO_LARGE", msg);
    }
    catalog_env_t *env = NULL;
    size_t n = 0;
    bool exists = false;
    if (catalog_env_list(c->db, app, &env, &n, msg, sizeof msg) < 0)
        return http_response_error(500, "INTERNAL", msg);
    for (size_t i = 0; i < n; i++)
        exists = exists || strcmp(env[i].key, key) == 0;
    catalog_env_free(env, n);
    if (!exists && n >= ENV_MAX_VARS) {
        snprintf(msg, sizeof msg, "app \"%s\" already has %d env vars, the most it may have",
                 app, ENV_MAX_VARS);
        return http_response_error(400, "TOO_MANY_ENV_VARS", msg);
    }
    if (catalog_env_put(c->db, app, key, json_string_value(v), msg, sizeof msg) < 0)
        return http_response_error(500, "INTERNAL", msg);
    /* The key is not a secret; the value never appears here. */
    log_info("env", "app %s: set %s; its classes are redeployed", app, key);
    p->publish = true;
    return control_json_response(200, json_pack("{s:b}", "ok", 1));
}

http_response_t *env_delete(control_t *c, const char *app, json_t *body, pending_reply_t *p)
{
    json_t *k = json_object_get(body, "key");
    if (!json_is_string(k))
        return http_response_error(400, "INVALID_ARGUMENT",
                                   "delete_env needs \"key\": the env var's name");
    const char *key = json_string_value(k);
    char msg[300];
    int rc = catalog_env_delete(c->db, app, key, msg, sizeof msg);
    if (rc < 0)
        return http_response_error(500, "INTERNAL", msg);
    if (rc == 1) {
        snprintf(msg, sizeof msg, "app \"%s\" has no env var \"%.80s\"; see the keys with "
                                  "list_env",
                 app, key);
        return http_response_error(404, "ENV_NOT_FOUND", msg);
    }
    log_info("env", "app %s: deleted %s; its classes are redeployed", app, key);
    p->publish = true;
    return control_json_response(200, json_pack("{s:b}", "ok", 1));
}
