/* The control database DATA/control.db (see catalog.h): apps, deployed
 * classes, env vars and usage, one SQLite file in WAL mode with every commit
 * synced. Used from one thread. Depends on lib/ and sqlite3 only; knows
 * nothing of HTTP, JSON or JS, and does not validate names or codes
 * (control/ does). */
#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "store_int.h"

/* PRAGMA user_version of the schema below. Bump it with a migration step in
 * catalog_migrate when a table changes. */
#define CATALOG_SCHEMA_VERSION 2

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
    Q_CLASS_USAGE_DELETE,
    Q_APP_DELETE,
    Q_APP_CLASSES_DELETE,
    Q_APP_ENV_DELETE,
    Q_APP_USAGE_DELETE,
    Q_ENV_LIST,
    Q_ENV_PUT,
    Q_ENV_DELETE,
    Q_ENV_BUMP,
    Q_USAGE_LIST,
    Q_USAGE_PUT,
    Q_COUNT
};

struct catalog {
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];
};

static const char *const query_sql[Q_COUNT] = {
    [Q_APP_GET] = "SELECT id, subdomain, service_key_hash, created_at, auth, env_version "
                  "FROM apps WHERE id=?1",
    [Q_APP_PUT] = "INSERT INTO apps(id, subdomain, service_key_hash, created_at, auth) "
                  "VALUES(?1, ?2, ?3, ?4, ?5) "
                  "ON CONFLICT(id) DO UPDATE SET subdomain=excluded.subdomain, "
                  "service_key_hash=excluded.service_key_hash, created_at=excluded.created_at, "
                  "auth=excluded.auth",
    [Q_APPS_LIST] = "SELECT id, subdomain, service_key_hash, created_at, auth, env_version "
                    "FROM apps ORDER BY id",
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
    [Q_CLASS_USAGE_DELETE] = "DELETE FROM usage WHERE class_id IN "
                             "(SELECT id FROM classes WHERE app_id=?1 AND name=?2)",
    [Q_APP_DELETE] = "DELETE FROM apps WHERE id=?1",
    [Q_APP_CLASSES_DELETE] = "DELETE FROM classes WHERE app_id=?1",
    [Q_APP_ENV_DELETE] = "DELETE FROM env WHERE app_id=?1",
    [Q_APP_USAGE_DELETE] = "DELETE FROM usage WHERE app_id=?1",
    [Q_ENV_LIST] = "SELECT key, value FROM env WHERE app_id=?1 ORDER BY key",
    [Q_ENV_PUT] = "INSERT INTO env(app_id, key, value, updated_at) VALUES(?1, ?2, ?3, ?4) "
                  "ON CONFLICT(app_id, key) DO UPDATE SET value=excluded.value, "
                  "updated_at=excluded.updated_at",
    [Q_ENV_DELETE] = "DELETE FROM env WHERE app_id=?1 AND key=?2",
    [Q_ENV_BUMP] = "UPDATE apps SET env_version=env_version+1 WHERE id=?1",
    [Q_USAGE_LIST] = "SELECT class_id, app_id, name, do_requests, do_cpu_us, errors FROM usage "
                     "ORDER BY app_id, name",
    [Q_USAGE_PUT] = "INSERT INTO usage(class_id, app_id, name, do_requests, do_cpu_us, errors, "
                    "updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 "
                    "WHERE EXISTS (SELECT 1 FROM classes WHERE id=?1) "
                    "ON CONFLICT(class_id) DO UPDATE SET do_requests=excluded.do_requests, "
                    "do_cpu_us=excluded.do_cpu_us, errors=excluded.errors, "
                    "updated_at=excluded.updated_at",
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

/* v2: service keys are kept only as their sha256 (the key is shown once);
 * apps get JWT settings and an env version; env vars and usage get tables. */
static const char schema_v2[] =
    "ALTER TABLE apps ADD COLUMN service_key_hash TEXT;"
    "ALTER TABLE apps ADD COLUMN auth TEXT;"
    "ALTER TABLE apps ADD COLUMN env_version INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE env("
    " app_id TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(app_id, key));"
    "CREATE TABLE usage("
    " class_id TEXT PRIMARY KEY NOT NULL,"
    " app_id TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " do_requests INTEGER NOT NULL DEFAULT 0,"
    " do_cpu_us INTEGER NOT NULL DEFAULT 0,"
    " errors INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT 0);";

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

/* v1 -> v2 inside the migration's transaction: the plain service keys of v1
 * are replaced by their hashes. */
static int migrate_v2(catalog_t *c, char *err, size_t errlen)
{
    if (sqlite3_exec(c->db, schema_v2, NULL, NULL, NULL) != SQLITE_OK) {
        db_err(c, "upgrade the tables", err, errlen);
        return -1;
    }
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT id, service_key FROM apps WHERE service_key IS NOT NULL",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "UPDATE apps SET service_key_hash=?2 WHERE id=?1", -1, &upd,
                           NULL) != SQLITE_OK) {
        db_err(c, "upgrade the service keys", err, errlen);
        goto done;
    }
    int step;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(sel, 1);
        uint8_t h[32];
        char hex[65];
        util_sha256(key, (size_t)sqlite3_column_bytes(sel, 1), h);
        util_hex(h, 32, hex);
        sqlite3_reset(upd);
        sqlite3_bind_text(upd, 1, (const char *)sqlite3_column_text(sel, 0), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(upd, 2, hex, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(upd) != SQLITE_DONE) {
            db_err(c, "upgrade the service keys", err, errlen);
            goto done;
        }
    }
    if (step != SQLITE_DONE ||
        sqlite3_exec(c->db, "ALTER TABLE apps DROP COLUMN service_key; PRAGMA user_version=2",
                     NULL, NULL, NULL) != SQLITE_OK) {
        db_err(c, "upgrade the service keys", err, errlen);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
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
    } else if (version < 2 && migrate_v2(c, err, errlen) < 0) {
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

/* The file holds secrets: create it 0600 before SQLite does (its WAL and
 * shared-memory files take the database file's mode), and tighten the files
 * of an older dorm that made them 0644. */
static void private_files(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    buf_t p = BUF_INIT;
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        buf_reset(&p);
        buf_printf(&p, "%s%s", path, suffix[i]);
        struct stat st;
        if (stat(buf_cstr(&p), &st) == 0 && (st.st_mode & 077))
            chmod(buf_cstr(&p), 0600);
    }
    buf_deinit(&p);
}

catalog_t *catalog_open(const char *path, char *err, size_t errlen)
{
    store_sqlite_setup();
    private_files(path);
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
    a->service_key_hash = col_text(st, 2);
    a->created_at = sqlite3_column_int64(st, 3);
    a->auth = col_text(st, 4);
    a->env_version = sqlite3_column_int64(st, 5);
}

void catalog_app_clear(catalog_app_t *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->subdomain);
    free(a->service_key_hash);
    free(a->auth);
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
    bind_text(st, 3, app->service_key_hash);
    sqlite3_bind_int64(st, 4, app->created_at);
    bind_text(st, 5, app->auth);
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

/* ---- transactions ------------------------------------------------------------ */

static int begin(catalog_t *c, char *err, size_t errlen)
{
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    db_err(c, "start a transaction", err, errlen);
    return -1;
}

/* Commits when rc >= 0, else rolls back; returns rc, or -1 when the commit fails. */
static int end(catalog_t *c, int rc, char *err, size_t errlen)
{
    if (rc >= 0 && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(c, "commit", err, errlen);
        rc = -1;
    }
    if (rc < 0 && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Runs cached statement q with up to two text parameters; returns the rows changed or -1. */
static int exec2(catalog_t *c, int q, const char *a, const char *b, const char *what, char *err,
                 size_t errlen)
{
    sqlite3_stmt *st = query(c, q, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, a);
    if (b)
        bind_text(st, 2, b);
    if (run(c, st, what, err, errlen) < 0)
        return -1;
    return sqlite3_changes(c->db);
}

int catalog_class_delete(catalog_t *c, const char *app_id, const char *name, char *err,
                         size_t errlen)
{
    if (begin(c, err, errlen) < 0)
        return -1;
    int rc = exec2(c, Q_CLASS_USAGE_DELETE, app_id, name, "delete a class's usage", err, errlen);
    if (rc >= 0)
        rc = exec2(c, Q_CLASS_DELETE, app_id, name, "delete a class", err, errlen);
    if (rc >= 0)
        rc = rc ? 0 : 1;
    return end(c, rc, err, errlen);
}

/* ---- apps, continued ------------------------------------------------------------- */

int catalog_app_delete(catalog_t *c, const char *id, char *err, size_t errlen)
{
    if (begin(c, err, errlen) < 0)
        return -1;
    int rc = exec2(c, Q_APP_USAGE_DELETE, id, NULL, "delete an app's usage", err, errlen);
    if (rc >= 0)
        rc = exec2(c, Q_APP_ENV_DELETE, id, NULL, "delete an app's env vars", err, errlen);
    if (rc >= 0)
        rc = exec2(c, Q_APP_CLASSES_DELETE, id, NULL, "delete an app's classes", err, errlen);
    if (rc >= 0)
        rc = exec2(c, Q_APP_DELETE, id, NULL, "delete an app", err, errlen);
    if (rc >= 0)
        rc = rc ? 0 : 1;
    return end(c, rc, err, errlen);
}

/* ---- env vars ------------------------------------------------------------------------ */

void catalog_env_free(catalog_env_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        if (v[i].value) {
            /* A secret: do not leave it in freed memory. */
            volatile char *p = v[i].value;
            while (*p)
                *p++ = 0;
            free(v[i].value);
        }
    }
    free(v);
}

int catalog_env_list(catalog_t *c, const char *app_id, catalog_env_t **out, size_t *n, char *err,
                     size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = query(c, Q_ENV_LIST, err, errlen);
    if (!st)
        return -1;
    bind_text(st, 1, app_id);
    catalog_env_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[len].key = col_text(st, 0);
        v[len].value = col_text(st, 1);
        if (!v[len].value)
            v[len].value = xstrdup("");
        len++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db_err(c, "list env vars", err, errlen);
        catalog_env_free(v, len);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}

int catalog_env_put(catalog_t *c, const char *app_id, const char *key, const char *value,
                    char *err, size_t errlen)
{
    if (begin(c, err, errlen) < 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *st = query(c, Q_ENV_PUT, err, errlen);
    if (st) {
        bind_text(st, 1, app_id);
        bind_text(st, 2, key);
        bind_text(st, 3, value);
        sqlite3_bind_int64(st, 4, util_now_ms());
        rc = run(c, st, "save an env var", err, errlen);
    }
    if (rc >= 0)
        rc = exec2(c, Q_ENV_BUMP, app_id, NULL, "save an env var", err, errlen);
    if (rc == 0) {
        seterr(err, errlen, "no app '%s'", app_id);
        rc = -1;
    }
    return end(c, rc < 0 ? -1 : 0, err, errlen);
}

int catalog_env_delete(catalog_t *c, const char *app_id, const char *key, char *err,
                       size_t errlen)
{
    if (begin(c, err, errlen) < 0)
        return -1;
    int rc = exec2(c, Q_ENV_DELETE, app_id, key, "delete an env var", err, errlen);
    if (rc > 0)
        rc = exec2(c, Q_ENV_BUMP, app_id, NULL, "delete an env var", err, errlen) < 0 ? -1 : 0;
    else if (rc == 0)
        rc = 1;
    return end(c, rc, err, errlen);
}

/* ---- usage ------------------------------------------------------------------------------ */

void catalog_usage_free(catalog_usage_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].class_id);
        free(v[i].app_id);
        free(v[i].name);
    }
    free(v);
}

int catalog_usage_list(catalog_t *c, catalog_usage_t **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = query(c, Q_USAGE_LIST, err, errlen);
    if (!st)
        return -1;
    catalog_usage_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        catalog_usage_t *u = &v[len++];
        u->class_id = col_text(st, 0);
        u->app_id = col_text(st, 1);
        u->name = col_text(st, 2);
        u->do_requests = sqlite3_column_int64(st, 3);
        u->do_cpu_us = sqlite3_column_int64(st, 4);
        u->errors = sqlite3_column_int64(st, 5);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db_err(c, "read the usage counters", err, errlen);
        catalog_usage_free(v, len);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}

int catalog_usage_put(catalog_t *c, const catalog_usage_t *rows, size_t n, char *err,
                      size_t errlen)
{
    if (n == 0)
        return 0;
    if (begin(c, err, errlen) < 0)
        return -1;
    int rc = 0;
    int64_t now = util_now_ms();
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *st = query(c, Q_USAGE_PUT, err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        bind_text(st, 1, rows[i].class_id);
        bind_text(st, 2, rows[i].app_id);
        bind_text(st, 3, rows[i].name);
        sqlite3_bind_int64(st, 4, rows[i].do_requests);
        sqlite3_bind_int64(st, 5, rows[i].do_cpu_us);
        sqlite3_bind_int64(st, 6, rows[i].errors);
        sqlite3_bind_int64(st, 7, now);
        rc = run(c, st, "save the usage counters", err, errlen);
    }
    return end(c, rc, err, errlen);
}
