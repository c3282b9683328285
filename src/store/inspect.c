/* Instance files from outside their shard (inspect.h): listing them,
 * reading keys and running read-only queries on a connection of our own,
 * and backup files (one SQLite file holding whole instance databases).
 * Depends on lib/ and sqlite3 only; never on the instance's own
 * connection, which lives on its shard. */
#include "inspect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/mem.h"
#include "../lib/util.h"
#include "store_int.h"

/* A backup file says what it is in the SQLite header: "dorm". */
#define BUNDLE_APP_ID 0x646f726d
#define BUNDLE_FORMAT 1
#define INSTANCE_FORMAT 1 /* the newest instance file format we read (store.c) */

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

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* ---- listing ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list_instances(const char *data_dir, const char *app, const char *cls,
                         const char *after, size_t limit, char ***hexes, size_t *n, bool *more,
                         char *err, size_t errlen)
{
    *hexes = NULL;
    *n = 0;
    *more = false;
    buf_t dir = BUF_INIT, sub = BUF_INIT;
    buf_printf(&dir, "%s/apps/%s/%s", data_dir, app, cls);
    DIR *d = opendir(buf_cstr(&dir));
    if (!d) {
        int e = errno;
        buf_deinit(&dir);
        if (e == ENOENT)
            return 0;
        seterr(err, errlen, "cannot read the folder of %s/%s: %s", app, cls, strerror(e));
        return -1;
    }
    char **all = NULL;
    size_t nall = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 2 || !is_hex(e->d_name, 2))
            continue;
        buf_reset(&sub);
        buf_printf(&sub, "%s/%s", buf_cstr(&dir), e->d_name);
        DIR *d2 = opendir(buf_cstr(&sub));
        if (!d2)
            continue;
        struct dirent *f;
        while ((f = readdir(d2))) {
            /* <64 hex>.sqlite, in the folder named by its first two chars */
            if (strlen(f->d_name) != 71 || strcmp(f->d_name + 64, ".sqlite") != 0 ||
                !is_hex(f->d_name, 64) || memcmp(f->d_name, e->d_name, 2) != 0)
                continue;
            if (after && strncmp(f->d_name, after, 64) <= 0)
                continue;
            if (nall == cap) {
                cap = cap ? cap * 2 : 64;
                all = xrealloc(all, cap * sizeof *all);
            }
            all[nall++] = xstrndup(f->d_name, 64);
        }
        closedir(d2);
    }
    closedir(d);
    buf_deinit(&dir);
    buf_deinit(&sub);
    if (nall)
        qsort(all, nall, sizeof *all, cmp_str);
    size_t keep = limit && nall > limit ? limit : nall;
    for (size_t i = keep; i < nall; i++)
        free(all[i]);
    *more = keep < nall;
    *hexes = all;
    *n = keep;
    return 0;
}

void store_names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

uint64_t store_file_bytes(const char *path)
{
    static const char *const ext[] = {"", "-wal", "-shm"};
    uint64_t total = 0;
    buf_t p = BUF_INIT;
    for (int i = 0; i < 3; i++) {
        buf_reset(&p);
        buf_printf(&p, "%s%s", path, ext[i]);
        struct stat st;
        if (stat(buf_cstr(&p), &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    buf_deinit(&p);
    return total;
}

/* ---- durability of what we write ---------------------------------------------------- */

static int fsync_fd_path(const char *path, bool dir, char *err, size_t errlen)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "cannot open %s to sync it: %s", path, strerror(errno));
        return -1;
    }
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc < 0) {
        seterr(err, errlen, "cannot sync %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
}

/* mkdir -p of path's folder; each folder made is made durable in its parent. */
static int make_parents(const char *path, char *err, size_t errlen)
{
    char *dir = parent_of(path);
    struct stat st;
    int rc = 0;
    if (stat(dir, &st) != 0) {
        if ((rc = make_parents(dir, err, errlen)) == 0) {
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                seterr(err, errlen, "cannot create the folder %s: %s", dir, strerror(errno));
                rc = -1;
            } else {
                char *up = parent_of(dir);
                rc = fsync_fd_path(up, true, err, errlen);
                free(up);
            }
        }
    }
    free(dir);
    return rc;
}

static int unlink_quiet(const char *path, char *err, size_t errlen)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        seterr(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The WAL and its index go first: a main file must never meet a WAL that
 * is not its own. */
static int remove_wal(const char *path, char *err, size_t errlen)
{
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s-wal", path);
    int rc = unlink_quiet(buf_cstr(&p), err, errlen);
    buf_reset(&p);
    buf_printf(&p, "%s-shm", path);
    if (rc == 0)
        rc = unlink_quiet(buf_cstr(&p), err, errlen);
    buf_deinit(&p);
    return rc;
}

int store_remove_instance_file(const char *path, char *err, size_t errlen)
{
    if (remove_wal(path, err, errlen) < 0 || unlink_quiet(path, err, errlen) < 0)
        return -1;
    char *dir = parent_of(path);
    struct stat st;
    int rc = stat(dir, &st) == 0 ? fsync_fd_path(dir, true, err, errlen) : 0;
    free(dir);
    return rc;
}

int store_replace_instance_file(const char *prepared, const char *path, char *err,
                                size_t errlen)
{
    if (remove_wal(path, err, errlen) < 0)
        return -1;
    if (rename(prepared, path) != 0) {
        seterr(err, errlen, "cannot move the restored file into place: %s", strerror(errno));
        return -1;
    }
    char *dir = parent_of(path);
    int rc = fsync_fd_path(dir, true, err, errlen);
    free(dir);
    return rc;
}

/* ---- reading one instance ---------------------------------------------------------- */

struct store_reader {
    sqlite3 *db;
    uint64_t deadline_ns; /* for the running query, 0: none */
    bool timed_out;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int progress_cb(void *arg)
{
    store_reader_t *r = arg;
    if (r->deadline_ns && now_ns() > r->deadline_ns) {
        r->timed_out = true;
        return 1;
    }
    return 0;
}

/* Only what reads. PRAGMAs as in sql.c's list, minus those that set
 * anything; ATTACH could open any file, so it is out. */
static int reader_authorize(void *arg, int action, const char *a, const char *b,
                            const char *dbname, const char *inner)
{
    static const char *const pragmas[] = {
        "table_info",  "table_xinfo",   "table_list",  "index_list",       "index_info",
        "index_xinfo", "foreign_key_list", "foreign_key_check", "quick_check",
        "integrity_check", "page_count", "page_size", "freelist_count",    "user_version",
        "schema_version", "data_version", "function_list", "collation_list", "pragma_list",
    };
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        if (b)
            return SQLITE_DENY;
        for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++)
            if (a && strcasecmp(a, pragmas[i]) == 0)
                return SQLITE_OK;
        return SQLITE_DENY;
    default:
        return SQLITE_DENY;
    }
}

store_reader_t *store_reader_open(const char *path, bool *missing, char *err, size_t errlen)
{
    store_sqlite_setup();
    *missing = false;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        *missing = true;
        return NULL;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_CANTOPEN && stat(path, &st) != 0)
            *missing = true;
        else
            seterr(err, errlen, "cannot open %s: %s", path,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return NULL;
    }
    /* Like every connection of ours but the instance's: it never
     * checkpoints on close (a checkpoint job does that) and waits a little
     * for a lock a checkpoint holds. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    sqlite3_busy_timeout(db, 1000);
    sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
    store_reader_t *r = xcalloc(1, sizeof *r);
    r->db = db;
    sqlite3_progress_handler(db, 1000, progress_cb, r);
    return r;
}

void store_reader_close(store_reader_t *r)
{
    if (!r)
        return;
    sqlite3_close_v2(r->db);
    free(r);
}

int store_reader_name(store_reader_t *r, buf_t *out)
{
    sqlite3_stmt *st = NULL;
    int found = -1;
    buf_reset(out);
    if (sqlite3_prepare_v2(r->db, "SELECT value FROM _do_meta WHERE key='id'", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
            buf_append(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
            found = 0;
        }
    }
    sqlite3_finalize(st);
    return found;
}

int store_reader_alarm(store_reader_t *r, int64_t *ms, char *err, size_t errlen)
{
    *ms = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT at FROM _do_alarm WHERE id=1", -1, &st, NULL) !=
        SQLITE_OK) {
        /* A file made by SQL before any of our tables: no alarm. */
        bool none = strstr(sqlite3_errmsg(r->db), "no such table") != NULL;
        if (!none)
            seterr(err, errlen, "cannot read the alarm: %s", sqlite3_errmsg(r->db));
        sqlite3_finalize(st);
        return none ? 0 : -1;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ms = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        seterr(err, errlen, "cannot read the alarm: %s", sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The smallest byte string greater than every one with prefix p; false
 * when there is none (p is all 0xff). */
static bool successor(const uint8_t *p, size_t n, buf_t *out)
{
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return false;
    buf_append(out, p, n);
    out->data[n - 1]++;
    return true;
}

int store_reader_list(store_reader_t *r, const uint8_t *prefix, size_t prefix_len,
                      const uint8_t *after, size_t after_len, size_t limit, store_row_cb cb,
                      void *arg, char *err, size_t errlen)
{
    static const uint8_t empty[1] = {0};
    buf_t hi = BUF_INIT;
    bool has_hi = prefix && successor(prefix, prefix_len, &hi);
    /* The lower bound: after the cursor, or from the prefix. */
    const uint8_t *lo = empty;
    size_t lo_len = 0;
    bool excl = false;
    if (prefix) {
        lo = prefix;
        lo_len = prefix_len;
    }
    if (after && (!prefix || memcmp(after, prefix, after_len < prefix_len ? after_len
                                                                          : prefix_len) >= 0)) {
        lo = after;
        lo_len = after_len;
        excl = true;
    }
    const char *sql = excl ? (has_hi ? "SELECT key, value FROM _do_kv WHERE key > ?1 AND key < ?2 "
                                       "ORDER BY key LIMIT ?3"
                                     : "SELECT key, value FROM _do_kv WHERE key > ?1 ORDER BY key "
                                       "LIMIT ?3")
                           : (has_hi ? "SELECT key, value FROM _do_kv WHERE key >= ?1 AND key < "
                                       "?2 ORDER BY key LIMIT ?3"
                                     : "SELECT key, value FROM _do_kv WHERE key >= ?1 ORDER BY "
                                       "key LIMIT ?3");
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        bool none = strstr(sqlite3_errmsg(r->db), "no such table") != NULL;
        if (!none) {
            seterr(err, errlen, "cannot read the keys: %s", sqlite3_errmsg(r->db));
            rc = -1;
        }
        goto done;
    }
    sqlite3_bind_blob64(st, 1, lo_len ? (const void *)lo : (const void *)empty, lo_len,
                        SQLITE_STATIC);
    if (has_hi)
        sqlite3_bind_blob64(st, 2, hi.data, hi.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            seterr(err, errlen, "cannot read the keys: %s", sqlite3_errmsg(r->db));
            rc = -1;
            break;
        }
        const uint8_t *k = sqlite3_column_blob(st, 0);
        size_t klen = (size_t)sqlite3_column_bytes(st, 0);
        const uint8_t *v = sqlite3_column_blob(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
        if (cb(arg, k ? k : empty, klen, v ? v : empty, vlen) != 0)
            break;
    }
done:
    sqlite3_finalize(st);
    buf_deinit(&hi);
    return rc;
}

int store_reader_query(store_reader_t *r, const char *sql, size_t sql_len,
                       const store_value_t *binds, int nbinds, const store_sql_sink_t *sink,
                       uint64_t max_rows, uint64_t max_ms, bool *truncated, char *err,
                       size_t errlen)
{
    *truncated = false;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    sqlite3_set_authorizer(r->db, reader_authorize, r);
    int rc = sqlite3_prepare_v3(r->db, sql, (int)sql_len, 0, &st, &tail);
    sqlite3_set_authorizer(r->db, NULL, NULL);
    if (rc != SQLITE_OK) {
        const char *m = sqlite3_errmsg(r->db);
        seterr(err, errlen, "%s%s", m,
               strstr(m, "not authorized") ? ": only queries that read are allowed here (SELECT, "
                                             "WITH, and PRAGMAs that read the schema)"
                                           : "");
        return -1;
    }
    if (!st) {
        seterr(err, errlen, "the query is empty: give one SELECT statement");
        return -1;
    }
    for (const char *t = tail; t && t < sql + sql_len; t++) {
        if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r' && *t != ';') {
            sqlite3_finalize(st);
            seterr(err, errlen, "run one statement at a time: the query has more after its "
                                "first ';'");
            return -1;
        }
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        seterr(err, errlen, "only queries that read are allowed here");
        return -1;
    }
    int want = sqlite3_bind_parameter_count(st);
    if (want != nbinds) {
        sqlite3_finalize(st);
        seterr(err, errlen, "the query has %d parameter%s but %d binding%s %s given", want,
               want == 1 ? "" : "s", nbinds, nbinds == 1 ? "" : "s", nbinds == 1 ? "was" : "were");
        return -1;
    }
    for (int i = 0; i < nbinds; i++) {
        const store_value_t *v = &binds[i];
        switch (v->type) {
        case STORE_NULL:
            sqlite3_bind_null(st, i + 1);
            break;
        case STORE_INTEGER:
            sqlite3_bind_int64(st, i + 1, v->i);
            break;
        case STORE_REAL:
            sqlite3_bind_double(st, i + 1, v->d);
            break;
        case STORE_TEXT:
            sqlite3_bind_text64(st, i + 1, (const char *)v->p, v->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        default:
            sqlite3_bind_blob64(st, i + 1, v->p ? (const void *)v->p : (const void *)"", v->len,
                                SQLITE_STATIC);
            break;
        }
    }
    int ncol = sqlite3_column_count(st);
    const char **names = xcalloc((size_t)ncol + 1, sizeof *names);
    store_value_t *vals = xcalloc((size_t)ncol + 1, sizeof *vals);
    for (int i = 0; i < ncol; i++)
        names[i] = sqlite3_column_name(st, i);
    int out = sink->columns ? sink->columns(sink->arg, ncol, names) : 0;
    r->deadline_ns = max_ms ? now_ns() + max_ms * 1000000u : 0;
    r->timed_out = false;
    uint64_t rows = 0;
    while (out == 0) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            if (r->timed_out)
                seterr(err, errlen, "the query ran longer than %llu ms and was stopped",
                       (unsigned long long)max_ms);
            else
                seterr(err, errlen, "%s", sqlite3_errmsg(r->db));
            out = -1;
            break;
        }
        if (max_rows && rows == max_rows) {
            *truncated = true;
            break;
        }
        for (int i = 0; i < ncol; i++) {
            store_value_t *v = &vals[i];
            memset(v, 0, sizeof *v);
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                v->type = STORE_INTEGER;
                v->i = sqlite3_column_int64(st, i);
                break;
            case SQLITE_FLOAT:
                v->type = STORE_REAL;
                v->d = sqlite3_column_double(st, i);
                break;
            case SQLITE_TEXT:
                v->type = STORE_TEXT;
                v->p = sqlite3_column_text(st, i);
                v->len = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_BLOB:
                v->type = STORE_BLOB;
                v->p = sqlite3_column_blob(st, i);
                v->len = (size_t)sqlite3_column_bytes(st, i);
                break;
            default:
                v->type = STORE_NULL;
            }
        }
        rows++;
        out = sink->row ? sink->row(sink->arg, ncol, vals) : 0;
    }
    r->deadline_ns = 0;
    free(names);
    free(vals);
    sqlite3_finalize(st);
    return out == 0 ? 0 : -1;
}

/* ---- backup files ------------------------------------------------------------------ */

struct store_bundle {
    sqlite3 *db; /* in memory */
};

static const char bundle_schema[] =
    "PRAGMA application_id=1685025389;" /* BUNDLE_APP_ID */
    "CREATE TABLE dorm_backup(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE instances(app TEXT NOT NULL, class TEXT NOT NULL, id BLOB NOT NULL, "
    "id_hex TEXT NOT NULL, db BLOB NOT NULL, PRIMARY KEY(app, class, id_hex));";

store_bundle_t *store_bundle_new(const char *scope, char *err, size_t errlen)
{
    store_sqlite_setup();
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(db, bundle_schema, NULL, NULL, NULL) != SQLITE_OK) {
        seterr(err, errlen, "cannot make a backup file: %s", sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "INSERT INTO dorm_backup(key, value) VALUES('format', ?1), "
                       "('created_ms', ?2), ('scope', ?3)",
                       -1, &st, NULL);
    sqlite3_bind_int(st, 1, BUNDLE_FORMAT);
    sqlite3_bind_int64(st, 2, util_now_ms());
    sqlite3_bind_text(st, 3, scope ? scope : "", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot make a backup file: %s", sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return NULL;
    }
    store_bundle_t *b = xcalloc(1, sizeof *b);
    b->db = db;
    return b;
}

/* Bytes 18 and 19 of a database header are its read and write versions: 2
 * means WAL. A database kept as a blob is in rollback mode (1), so that it
 * opens anywhere, in memory too. */
static void header_rollback_mode(uint8_t *img, size_t n)
{
    if (n >= 100 && img[18] == 2 && img[19] == 2)
        img[18] = img[19] = 1;
}

int store_bundle_add(store_bundle_t *b, const char *app, const char *cls, const uint8_t *id,
                     size_t id_len, const char *path, bool *missing, char *err, size_t errlen)
{
    store_reader_t *r = store_reader_open(path, missing, err, errlen);
    if (!r)
        return *missing ? 0 : -1;
    /* One read transaction for the whole copy: a snapshot of one commit. */
    sqlite3_int64 size = 0;
    int rc = sqlite3_exec(r->db, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    unsigned char *img = rc == SQLITE_OK ? sqlite3_serialize(r->db, "main", &size, 0) : NULL;
    if (!img) {
        seterr(err, errlen, "cannot copy %s: %s", path, sqlite3_errmsg(r->db));
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        store_reader_close(r);
        return -1;
    }
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    store_reader_close(r);
    header_rollback_mode(img, (size_t)size);
    char hex[65];
    store_id_hex(id, id_len, hex);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(b->db,
                       "INSERT OR REPLACE INTO instances(app, class, id, id_hex, db) "
                       "VALUES(?1, ?2, ?3, ?4, ?5)",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cls, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, id_len ? (const void *)id : (const void *)"", id_len,
                        SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hex, 64, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 5, img, (sqlite3_uint64)size, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3_free(img);
    if (rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot add %s to the backup: %s", path, sqlite3_errmsg(b->db));
        return -1;
    }
    return 0;
}

size_t store_bundle_count(const store_bundle_t *b)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(b->db, "SELECT count(*) FROM instances", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int store_bundle_bytes(store_bundle_t *b, buf_t *out, char *err, size_t errlen)
{
    sqlite3_int64 size = 0;
    unsigned char *img = sqlite3_serialize(b->db, "main", &size, 0);
    if (!img) {
        seterr(err, errlen, "cannot write the backup file: out of memory");
        return -1;
    }
    buf_reset(out);
    buf_append(out, img, (size_t)size);
    sqlite3_free(img);
    return 0;
}

/* Opens an image as a read-only in-memory database (a copy of the bytes). */
static sqlite3 *open_image(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    store_sqlite_setup();
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        seterr(err, errlen, "out of memory");
        sqlite3_close_v2(db);
        return NULL;
    }
    unsigned char *copy = sqlite3_malloc64(len ? len : 1);
    if (!copy) {
        seterr(err, errlen, "out of memory");
        sqlite3_close_v2(db);
        return NULL;
    }
    memcpy(copy, p, len);
    header_rollback_mode(copy, len);
    if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
        SQLITE_OK) {
        seterr(err, errlen, "%s", sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return NULL;
    }
    return db;
}

/* The result of a one-row, one-column query as an integer; -1 on any error. */
static sqlite3_int64 one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

store_bundle_t *store_bundle_load(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    static const char not_one[] =
        "this is not a dorm backup file (make one with `dorm storage backup` or GET /_api/backup)";
    if (len < 512 || memcmp(p, "SQLite format 3", 16) != 0) {
        seterr(err, errlen, "%s", not_one);
        return NULL;
    }
    char why[256];
    sqlite3 *db = open_image(p, len, why, sizeof why);
    if (!db) {
        seterr(err, errlen, "%s: %s", not_one, why);
        return NULL;
    }
    if (one_int(db, "PRAGMA application_id") != BUNDLE_APP_ID) {
        seterr(err, errlen, "%s", not_one);
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_int64 fmt = one_int(db, "SELECT value FROM dorm_backup WHERE key='format'");
    if (fmt != BUNDLE_FORMAT) {
        if (fmt > BUNDLE_FORMAT)
            seterr(err, errlen, "the backup file has format %lld, newer than this dorm reads (%d): "
                   "upgrade dorm", (long long)fmt, BUNDLE_FORMAT);
        else
            seterr(err, errlen, "%s: its format is missing", not_one);
        sqlite3_close_v2(db);
        return NULL;
    }
    char *q = NULL;
    if (sqlite3_exec(db, "PRAGMA quick_check", NULL, NULL, &q) != SQLITE_OK ||
        one_int(db, "SELECT count(*) FROM instances") < 0) {
        seterr(err, errlen, "the backup file is damaged: %s", q ? q : sqlite3_errmsg(db));
        sqlite3_free(q);
        sqlite3_close_v2(db);
        return NULL;
    }
    store_bundle_t *b = xcalloc(1, sizeof *b);
    b->db = db;
    return b;
}

static bool safe_name(const char *s, size_t n)
{
    if (n == 0 || n > 255 || (n == 1 && s[0] == '.') || (n == 2 && !memcmp(s, "..", 2)))
        return false;
    return memchr(s, '/', n) == NULL && memchr(s, 0, n) == NULL;
}

int store_bundle_entries(store_bundle_t *b, store_bundle_entry_t **out, size_t *n, char *err,
                         size_t errlen)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT app, class, id, id_hex, length(db), typeof(app), "
                           "typeof(class), typeof(id), typeof(db) FROM instances "
                           "ORDER BY app, class, id_hex",
                           -1, &st, NULL) != SQLITE_OK) {
        seterr(err, errlen, "the backup file is damaged: %s", sqlite3_errmsg(b->db));
        return -1;
    }
    store_bundle_entry_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(st, 0);
        size_t alen = (size_t)sqlite3_column_bytes(st, 0);
        const char *cls = (const char *)sqlite3_column_text(st, 1);
        size_t clen = (size_t)sqlite3_column_bytes(st, 1);
        const uint8_t *id = sqlite3_column_blob(st, 2);
        size_t idlen = (size_t)sqlite3_column_bytes(st, 2);
        const char *hex = (const char *)sqlite3_column_text(st, 3);
        char want[65];
        store_id_hex(id, idlen, want);
        if (strcmp((const char *)sqlite3_column_text(st, 5), "text") != 0 ||
            strcmp((const char *)sqlite3_column_text(st, 6), "text") != 0 ||
            strcmp((const char *)sqlite3_column_text(st, 7), "blob") != 0 ||
            strcmp((const char *)sqlite3_column_text(st, 8), "blob") != 0 ||
            !safe_name(app, alen) || !safe_name(cls, clen) || !hex ||
            strcmp(hex, want) != 0) {
            seterr(err, errlen, "the backup file is damaged: an instance row is not what dorm "
                                "writes");
            rc = -1;
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        store_bundle_entry_t *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->app = xstrndup(app, alen);
        e->cls = xstrndup(cls, clen);
        e->id = xmalloc(idlen + 1);
        memcpy(e->id, id ? id : (const uint8_t *)"", idlen);
        e->id[idlen] = 0;
        e->id_len = idlen;
        memcpy(e->hex, want, 65);
        e->bytes = (uint64_t)sqlite3_column_int64(st, 4);
    }
    if (rc == 0 && s != SQLITE_DONE) {
        seterr(err, errlen, "the backup file is damaged: %s", sqlite3_errmsg(b->db));
        rc = -1;
    }
    sqlite3_finalize(st);
    if (rc < 0) {
        store_bundle_entries_free(v, cnt);
        return -1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

void store_bundle_entries_free(store_bundle_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].app);
        free(e[i].cls);
        free(e[i].id);
    }
    free(e);
}

/* An instance database must be whole and ours, in a format we read. */
static int check_instance_image(sqlite3 *db, char *err, size_t errlen)
{
    char *q = NULL;
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    sqlite3_free(q);
    if (!ok) {
        seterr(err, errlen, "an instance in the backup file is damaged (quick_check: %s)",
               sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_int64 fmt = one_int(db, "SELECT value FROM _do_meta WHERE key='format'");
    if (fmt < 1 || fmt > INSTANCE_FORMAT) {
        seterr(err, errlen, fmt < 1 ? "an instance in the backup file is not a dorm instance "
                                      "database"
                                    : "an instance in the backup file has a newer format than "
                                      "this dorm reads: upgrade dorm");
        return -1;
    }
    return 0;
}

/* Entry i's database opened in memory and checked; NULL with err. *st
 * holds the row its bytes live in (finalize it after closing the result). */
static sqlite3 *entry_image(store_bundle_t *b, size_t i, sqlite3_stmt **stp, char *err,
                            size_t errlen)
{
    sqlite3_stmt *st = NULL;
    *stp = NULL;
    if (sqlite3_prepare_v2(b->db, "SELECT db FROM instances ORDER BY app, class, id_hex "
                                  "LIMIT 1 OFFSET ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        seterr(err, errlen, "the backup file is damaged: %s", sqlite3_errmsg(b->db));
        return NULL;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        seterr(err, errlen, "the backup file has no instance %zu", i);
        return NULL;
    }
    const uint8_t *img = sqlite3_column_blob(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    sqlite3 *src = img ? open_image(img, len, err, errlen) : NULL;
    if (!img)
        seterr(err, errlen, "an instance in the backup file is empty");
    if (!src || check_instance_image(src, err, errlen) < 0) {
        sqlite3_close_v2(src);
        sqlite3_finalize(st);
        return NULL;
    }
    *stp = st;
    return src;
}

int store_bundle_check(store_bundle_t *b, size_t i, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    sqlite3 *src = entry_image(b, i, &st, err, errlen);
    if (!src)
        return -1;
    /* Every row of our tables must be readable. */
    int rc = 0;
    static const char *const reads[] = {"SELECT count(*) FROM _do_kv WHERE length(key) >= 0",
                                        "SELECT count(*) FROM _do_alarm"};
    for (int k = 0; k < 2 && rc == 0; k++)
        if (one_int(src, reads[k]) < 0) {
            seterr(err, errlen, "an instance in the backup file is damaged: %s",
                   sqlite3_errmsg(src));
            rc = -1;
        }
    sqlite3_close_v2(src);
    sqlite3_finalize(st);
    return rc;
}

int store_bundle_prepare(store_bundle_t *b, size_t i, const char *target_path, const uint8_t *id,
                         size_t id_len, buf_t *prepared, char *err, size_t errlen)
{
    if (store_bundle_check(b, i, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st;
    sqlite3 *src = entry_image(b, i, &st, err, errlen);
    if (!src)
        return -1;
    buf_reset(prepared);
    char rnd[17];
    util_random_hex(8, rnd);
    buf_printf(prepared, "%s.restore-%s", target_path, rnd);
    const char *tmp = buf_cstr(prepared);
    int rc = -1;
    sqlite3 *dst = NULL;
    sqlite3_backup *bk = NULL;
    if (make_parents(tmp, err, errlen) < 0)
        goto done;
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        seterr(err, errlen, "cannot create %s: %s", tmp, sqlite3_errmsg(dst));
        goto done;
    }
    sqlite3_db_config(dst, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL);
    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (!bk || sqlite3_backup_step(bk, -1) != SQLITE_DONE) {
        seterr(err, errlen, "cannot write %s: %s", tmp, sqlite3_errmsg(dst));
        goto done;
    }
    sqlite3_backup_finish(bk);
    bk = NULL;
    /* It may go to another instance than the one it was taken from. */
    sqlite3_stmt *meta = NULL;
    int mrc = sqlite3_prepare_v2(dst, "INSERT OR REPLACE INTO _do_meta(key, value) VALUES('id', ?1)",
                                 -1, &meta, NULL);
    if (mrc == SQLITE_OK) {
        sqlite3_bind_blob64(meta, 1, id_len ? (const void *)id : (const void *)"", id_len,
                            SQLITE_STATIC);
        mrc = sqlite3_step(meta) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(meta);
    if (mrc != SQLITE_OK) {
        seterr(err, errlen, "cannot write %s: %s", tmp, sqlite3_errmsg(dst));
        goto done;
    }
    /* The instance's connection expects WAL; turning it on here checkpoints
     * nothing (the WAL is empty) and leaves the file durable once synced. */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        seterr(err, errlen, "cannot write %s: %s", tmp, sqlite3_errmsg(dst));
        goto done;
    }
    rc = 0;
done:
    if (bk)
        sqlite3_backup_finish(bk);
    sqlite3_close_v2(dst);
    sqlite3_close_v2(src);
    sqlite3_finalize(st);
    if (rc == 0) {
        /* Closing the last connection removed the empty WAL; the file must
         * be on disk before it replaces anything. */
        rc = fsync_fd_path(tmp, false, err, errlen);
    }
    /* What the connection left beside it is of no use to anyone. */
    buf_t side = BUF_INIT;
    for (int k = 0; k < 2; k++) {
        buf_reset(&side);
        buf_printf(&side, "%s%s", tmp, k ? "-shm" : "-wal");
        unlink(buf_cstr(&side));
    }
    buf_deinit(&side);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

void store_bundle_free(store_bundle_t *b)
{
    if (!b)
        return;
    sqlite3_close_v2(b->db);
    free(b);
}
