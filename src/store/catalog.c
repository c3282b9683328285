/* The control database DATA/control.db (see catalog.h): apps and deployed
 * classes, one SQLite file in WAL mode with every commit synced. Used from
 * one thread. Depends on lib/ and sqlite3 only; knows nothing of HTTP, JSON
 * or JS, and does not validate names or codes (control/ does). */
#include "catalog.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"
#include "store_int.h"

/* PRAGMA user_version of the schema below. Bump it with a migration step in
 * catalog_migrate when a table changes. */
#define CATALOG_SCHEMA_VERSION 1

enum {
    Q_APP_GET,
    Q_APP_PUT,
    Q_APPS_LIST,
    Q_CLASS_GET,
    Q_CLASS_PUT,
    Q_CLASS_SET_ERROR,
    Q_CLASSES_ALL,
    Q_CLASSES_OF_APP,
    Q_CLASS_DELETE,
    Q_COUNT
};

struct catalog {
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];
};

static const char *const query_sql[Q_COUNT] = {
    [Q_APP_GET] = "SELECT id, subdomain, service_key, created_at FROM apps WHERE id=?1",
    [Q_APP_PUT] = "INSERT INTO apps(id, subdomain, service_key, created_at) VALUES(?1, ?2, ?3, ?4) "
                  "ON CONFLICT(id) DO UPDATE SET subdomain=excluded.subdomain, "
                  "service_key=excluded.service_key, created_at=excluded.created_at",
    [Q_APPS_LIST] = "SELECT id, subdomain, service_key, created_at FROM apps ORDER BY id",
    [Q_CLASS_GET] = "SELECT app_id, name, id, class_name, access_mode, code, bytecode, version, "
                    "last_deployed_at, error_message, code_compressed_len FROM classes "
                    "WHERE app_id=?1 AND name=?2",
    [Q_CLASS_PUT] =
        "INSERT INTO classes(app_id, name, id, class_name, access_mode, code, bytecode, version, "
        "last_deployed_at, error_message, code_compressed_len) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT(app_id, name) DO UPDATE SET id=excluded.id, class_name=excluded.class_name, "
        "access_mode=excluded.access_mode, code=excluded.code, bytecode=excluded.bytecode, "
        "version=excluded.version, last_deployed_at=excluded.last_deployed_at, "
        "error_message=excluded.error_message, code_compressed_len=excluded.code_compressed_len",
    [Q_CLASS_SET_ERROR] = "UPDATE classes SET error_message=?3 WHERE app_id=?1 AND name=?2",
    [Q_CLASSES_ALL] = "SELECT app_id, name, id, class_name, access_mode, code, bytecode, version, "
                      "last_deployed_at, error_message, code_compressed_len FROM classes "
                      "ORDER BY app_id, name",
    [Q_CLASSES_OF_APP] = "SELECT app_id, name, id, class_name, access_mode, code, bytecode, "
                         "version, last_deployed_at, error_message, code_compressed_len "
                         "FROM classes WHERE app_id=?1 ORDER BY name",
    [Q_CLASS_DELETE] = "DELETE FROM classes WHERE app_id=?1 AND name=?2",
};

static const char schema_v1[] =
    "CREATE TABLE apps("
    " id TEXT PRIMARY KEY NOT NULL,"
    " subdomain TEXT UNIQUE,"
    " service_key TEXT,"
    " created_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE classes("
    " app_id TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " id TEXT,"
    " class_name TEXT,"
    " access_mode TEXT,"
    " code TEXT,"
    " bytecode BLOB,"
    " version INTEGER NOT NULL DEFAULT 0,"
    " last_deployed_at INTEGER NOT NULL DEFAULT 0,"
    " error_message TEXT,"
    " code_compressed_len INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(app_id, name));"
    "PRAGMA user_version=1;";

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void db_err(catalog_t *c, const char *what, char *err, size_t errlen)
{
    seterr(err, errlen, "control database: cannot %s: %s", what, sqlite3_errmsg(c->db));
}

/* Brings an older file up to CATALOG_SCHEMA_VERSION in one transaction. */
static int catalog_migrate(catalog_t *c, const char *path, char *err, size_t errlen)
{
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(c, "start the schema set-up", err, errlen);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int rc = 0;
    if (version < 0) {
        db_err(c, "read the schema version", err, errlen);
        rc = -1;
    } else if (version > CATALOG_SCHEMA_VERSION) {
        seterr(err, errlen,
               "control database %s has schema version %d, newer than this dorm understands "
               "(%d): upgrade dorm or use another data directory",
               path, version, CATALOG_SCHEMA_VERSION);
        rc = -1;
    } else if (version == 0 && sqlite3_exec(c->db, schema_v1, NULL, NULL, NULL) != SQLITE_OK) {
        db_err(c, "create the tables", err, errlen);
        rc = -1;
    }
    if (rc == 0 && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(c, "save the schema", err, errlen);
        rc = -1;
    }
    if (rc < 0 && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

catalog_t *catalog_open(const char *path, char *err, size_t errlen)
{
    store_sqlite_setup();
    catalog_t *c = xcalloc(1, sizeof(*c));
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "cannot open control database %s: %s (does its directory exist?)",
               path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        catalog_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 5000);
    /* FULL: a deploy that was acknowledged must survive a power cut. */
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL,
                     NULL) != SQLITE_OK) {
        seterr(err, errlen, "cannot set up control database %s: %s", path,
               sqlite3_errmsg(c->db));
        catalog_close(c);
        return NULL;
    }
    if (catalog_migrate(c, path, err, errlen) < 0) {
        catalog_close(c);
        return NULL;
    }
    return c;
}

void catalog_close(catalog_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

/* The cached statement q, reset and with no bindings; NULL on failure. */
static sqlite3_stmt *query(catalog_t *c, int q, char *err, size_t errlen)
{
    if (!c->st[q] && sqlite3_prepare_v3(c->db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
                                        &c->st[q], NULL) != SQLITE_OK) {
        c->st[q] = NULL;
        db_err(c, "prepare a query", err, errlen);
        return NULL;
    }
    sqlite3_reset(c->st[q]);
    sqlite3_clear_bindings(c->st[q]);
    return c->st[q];
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    return p ? xstrndup((const char *)p, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

/* Runs a statement that returns no rows. */
static int run(catalog_t *c, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        db_err(c, what, err, errlen);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

/* ---- apps ---------------------------------------------------------------- */

static void read_app(sqlite3_stmt *st, catalog_app_t *a)
{
    a->id = col_text(st, 0);
    a->subdomain = col_text(st, 1);
    a->service_key = col_text(st, 2);
    a->created_at = sqlite3_column_int64(st, 3);
}

void catalog_app_clear(catalog_app_t *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->subdomain);
    free(a->service_key);
    memset(a, 0, sizeof(*a));
}

void catalog_apps_free(catalog_app_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        catalog_app_clear(&v[i]);
    free(v);
}

int catalog_app_get(catalog_t *c, const char *id, catalog_app_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = query(c, Q_APP_GET, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_app(st, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 1;
    } else {
        db_err(c, "read an app", err, errlen);
        rc = -1;
    }
    sqlite3_reset(st);
    return rc;
}

int catalog_app_put(catalog_t *c, const catalog_app_t *app, char *err, size_t errlen)
{
    sqlite3_stmt *st = query(c, Q_APP_PUT, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, app->id);
    bind_text(st, 2, app->subdomain);
    bind_text(st, 3, app->service_key);
    sqlite3_bind_int64(st, 4, app->created_at);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE)
        seterr(err, errlen, "the subdomain '%s' is already used by another app: choose another",
               app->subdomain ? app->subdomain : "");
    else if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_NOTNULL)
        seterr(err, errlen, "an app needs an id");
    else
        db_err(c, "save an app", err, errlen);
    sqlite3_reset(st);
    return -1;
}

int catalog_apps_list(catalog_t *c, catalog_app_t **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = query(c, Q_APPS_LIST, err, errlen);
    if (!st)
        return -1;
    catalog_app_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        read_app(st, &v[len++]);
    }
    if (rc != SQLITE_DONE) {
        db_err(c, "list apps", err, errlen);
        sqlite3_reset(st);
        catalog_apps_free(v, len);
        return -1;
    }
    sqlite3_reset(st);
    *out = v;
    *n = len;
    return 0;
}

/* ---- classes ------------------------------------------------------------- */

static void read_class(sqlite3_stmt *st, catalog_class_t *k)
{
    k->app_id = col_text(st, 0);
    k->name = col_text(st, 1);
    k->id = col_text(st, 2);
    k->class_name = col_text(st, 3);
    k->access_mode = col_text(st, 4);
    k->code = col_text(st, 5);
    const void *bc = sqlite3_column_blob(st, 6);
    size_t bclen = (size_t)sqlite3_column_bytes(st, 6);
    k->bytecode = bc && bclen ? xmemdup(bc, bclen) : NULL;
    k->bytecode_len = k->bytecode ? bclen : 0;
    k->version = sqlite3_column_int64(st, 7);
    k->last_deployed_at = sqlite3_column_int64(st, 8);
    k->error_message = col_text(st, 9);
    k->code_compressed_len = sqlite3_column_int64(st, 10);
}

void catalog_class_clear(catalog_class_t *k)
{
    if (!k)
        return;
    free(k->app_id);
    free(k->name);
    free(k->id);
    free(k->class_name);
    free(k->access_mode);
    free(k->code);
    free(k->bytecode);
    free(k->error_message);
    memset(k, 0, sizeof(*k));
}

void catalog_classes_free(catalog_class_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        catalog_class_clear(&v[i]);
    free(v);
}

int catalog_class_get(catalog_t *c, const char *app_id, const char *name, catalog_class_t *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = query(c, Q_CLASS_GET, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, app_id);
    bind_text(st, 2, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_class(st, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 1;
    } else {
        db_err(c, "read a class", err, errlen);
        rc = -1;
    }
    sqlite3_reset(st);
    return rc;
}

int catalog_class_put(catalog_t *c, const catalog_class_t *k, char *err, size_t errlen)
{
    sqlite3_stmt *st = query(c, Q_CLASS_PUT, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, k->app_id);
    bind_text(st, 2, k->name);
    bind_text(st, 3, k->id);
    bind_text(st, 4, k->class_name);
    bind_text(st, 5, k->access_mode);
    bind_text(st, 6, k->code);
    if (k->bytecode)
        sqlite3_bind_blob64(st, 7, k->bytecode, k->bytecode_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int64(st, 8, k->version);
    sqlite3_bind_int64(st, 9, k->last_deployed_at);
    bind_text(st, 10, k->error_message);
    sqlite3_bind_int64(st, 11, k->code_compressed_len);
    if (sqlite3_step(st) == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_NOTNULL)
        seterr(err, errlen, "a class needs an app id and a name");
    else
        db_err(c, "save a class", err, errlen);
    sqlite3_reset(st);
    return -1;
}

int catalog_class_set_error(catalog_t *c, const char *app_id, const char *name,
                            const char *message, char *err, size_t errlen)
{
    sqlite3_stmt *st = query(c, Q_CLASS_SET_ERROR, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, app_id);
    bind_text(st, 2, name);
    bind_text(st, 3, message);
    if (run(c, st, "record a deploy error", err, errlen) < 0)
        return -1;
    return sqlite3_changes(c->db) ? 0 : 1;
}

int catalog_classes_list(catalog_t *c, const char *app_id, catalog_class_t **out, size_t *n,
                         char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = query(c, app_id ? Q_CLASSES_OF_APP : Q_CLASSES_ALL, err, errlen);
    if (!st)
        return -1;
    if (app_id)
        bind_text(st, 1, app_id);
    catalog_class_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        read_class(st, &v[len++]);
    }
    if (rc != SQLITE_DONE) {
        db_err(c, "list classes", err, errlen);
        sqlite3_reset(st);
        catalog_classes_free(v, len);
        return -1;
    }
    sqlite3_reset(st);
    *out = v;
    *n = len;
    return 0;
}

int catalog_class_delete(catalog_t *c, const char *app_id, const char *name, char *err,
                         size_t errlen)
{
    sqlite3_stmt *st = query(c, Q_CLASS_DELETE, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, app_id);
    bind_text(st, 2, name);
    if (run(c, st, "delete a class", err, errlen) < 0)
        return -1;
    return sqlite3_changes(c->db) ? 0 : 1;
}
