/* The control database DATA/control.db: apps (with their JWT settings),
 * deployed classes and their code, env vars, and the persisted usage
 * counters. Used from the control thread only. Depends on lib/ and sqlite3.
 * Functions return 0 on success, 1 for "not found" where said, -1 on error
 * with a message in err. Strings in out-structs are malloc'd; free them with
 * the matching _clear function. The file and its WAL are created with mode
 * 0600: env values and JWT secrets live in it. */
#ifndef DORM_STORE_CATALOG_H
#define DORM_STORE_CATALOG_H
#include <stddef.h>
#include <stdint.h>

typedef struct catalog catalog_t;

typedef struct catalog_app {
    char *id;          /* "default" */
    char *subdomain;   /* "default" */
    char *service_key_hash; /* sha256 of the service key, 64 hex chars: the key
                               itself is shown once and never stored */
    int64_t created_at; /* ms since the epoch */
    char *auth;        /* JWT verification settings as JSON, NULL when none */
    int64_t env_version; /* increases with every change of the app's env vars */
} catalog_app_t;

typedef struct catalog_class {
    char *app_id;
    char *name;          /* kebab-case, "chat-room" */
    char *id;            /* stable uuid of the deployed class */
    char *class_name;    /* "ChatRoom" */
    char *access_mode;   /* "public" | "authenticated" | "service_key" */
    char *code;          /* the source as deployed */
    uint8_t *bytecode;   /* QuickJS bytecode of the compiled module */
    size_t bytecode_len;
    int64_t version;     /* increases with every successful deploy of this name */
    int64_t last_deployed_at; /* ms since the epoch */
    char *error_message; /* NULL unless the last deploy attempt failed */
    int64_t code_compressed_len; /* for the 10 MB-per-app rule */
} catalog_class_t;

/* Opens or creates the file (its directory must exist) and creates or
 * upgrades the tables; refuses a file from a newer dorm. */
catalog_t *catalog_open(const char *path, char *err, size_t errlen);
void catalog_close(catalog_t *c);

/* 0: found, 1: no such app. */
int catalog_app_get(catalog_t *c, const char *id, catalog_app_t *out, char *err, size_t errlen);
/* Inserts or updates the app with this id (env_version is not written:
 * only the env functions change it). Fails (-1) when another app already has
 * the subdomain. */
int catalog_app_put(catalog_t *c, const catalog_app_t *app, char *err, size_t errlen);
/* Deletes the app with its classes, env vars and usage, in one transaction.
 * 0: deleted, 1: no such app. */
int catalog_app_delete(catalog_t *c, const char *id, char *err, size_t errlen);
/* All apps ordered by id; *out is a malloc'd array of *n entries (NULL when
 * there are none): free it with catalog_apps_free. */
int catalog_apps_list(catalog_t *c, catalog_app_t **out, size_t *n, char *err, size_t errlen);
void catalog_app_clear(catalog_app_t *a);
void catalog_apps_free(catalog_app_t *v, size_t n); /* clears each entry, frees the array */

/* 0: found, 1: no such class. */
int catalog_class_get(catalog_t *c, const char *app_id, const char *name, catalog_class_t *out,
                      char *err, size_t errlen);
/* Inserts or replaces the row (app_id, name). */
int catalog_class_put(catalog_t *c, const catalog_class_t *cls, char *err, size_t errlen);
/* Records a failed deploy attempt's message on an existing row (1: no row). */
int catalog_class_set_error(catalog_t *c, const char *app_id, const char *name,
                            const char *message, char *err, size_t errlen);
/* All classes, of one app or of every app when app_id is NULL, ordered by
 * app then name (bytewise); free the array with catalog_classes_free. */
int catalog_classes_list(catalog_t *c, const char *app_id, catalog_class_t **out, size_t *n,
                         char *err, size_t errlen);
/* 0: deleted, 1: no such row. The class's usage row goes with it. */
int catalog_class_delete(catalog_t *c, const char *app_id, const char *name, char *err,
                         size_t errlen);
void catalog_class_clear(catalog_class_t *k);
void catalog_classes_free(catalog_class_t *v, size_t n);

/* ---- env vars: secrets, only ever read to build what classes see ---------- */

typedef struct catalog_env {
    char *key;
    char *value;
} catalog_env_t;

/* The app's env vars ordered by key; free with catalog_env_free. */
int catalog_env_list(catalog_t *c, const char *app_id, catalog_env_t **out, size_t *n, char *err,
                     size_t errlen);
/* Sets a var and increases the app's env_version, in one transaction. */
int catalog_env_put(catalog_t *c, const char *app_id, const char *key, const char *value,
                    char *err, size_t errlen);
/* 0: deleted (env_version increased), 1: no such key. */
int catalog_env_delete(catalog_t *c, const char *app_id, const char *key, char *err,
                       size_t errlen);
void catalog_env_free(catalog_env_t *v, size_t n); /* wipes the values before freeing */

/* ---- usage counters that survive a restart ---------------------------------- */

typedef struct catalog_usage {
    char *class_id;      /* the class's stable uuid */
    char *app_id;
    char *name;
    int64_t do_requests;
    int64_t do_cpu_us;   /* CPU time in the class's JS, microseconds */
    int64_t errors;
} catalog_usage_t;

/* Every row; free with catalog_usage_free. */
int catalog_usage_list(catalog_t *c, catalog_usage_t **out, size_t *n, char *err, size_t errlen);
/* Inserts or replaces the rows, in one transaction. Rows whose class no
 * longer exists are skipped. */
int catalog_usage_put(catalog_t *c, const catalog_usage_t *rows, size_t n, char *err,
                      size_t errlen);
void catalog_usage_free(catalog_usage_t *v, size_t n);

#endif
