/* The alarm index, DATA/alarms.db (see store.h): one row per instance with
 * an alarm. Each shard writes through its own connection, on its own
 * thread; like instance files, the connection never syncs or checkpoints
 * itself (jobs do, on the pool), so noting an alarm costs a WAL write.
 * Depends on lib/ and sqlite3 only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "store_int.h"

#define CKPT_FRAMES 1000

struct store_alarm_index {
    sqlite3 *db;
    sqlite3_stmt *put, *del;
    char *path, *wal;
    store_durability_t durability;
    int frames, ckpt_at;
};

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

static int wal_hook_cb(void *arg, sqlite3 *db, const char *name, int frames)
{
    store_alarm_index_t *x = arg;
    x->frames = frames;
    return SQLITE_OK;
}

store_alarm_index_t *store_alarm_index_open(const char *data_dir, store_durability_t durability,
                                            char *err, size_t errlen)
{
    store_sqlite_setup();
    store_alarm_index_t *x = xcalloc(1, sizeof *x);
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s/alarms.db", data_dir);
    x->path = (char *)buf_steal(&p, NULL);
    buf_printf(&p, "%s-wal", x->path);
    x->wal = (char *)buf_steal(&p, NULL);
    x->durability = durability;
    int rc = sqlite3_open_v2(x->path, &x->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        goto fail;
    /* Shards write one small row at a time; a busy moment is short. */
    sqlite3_busy_timeout(x->db, 1000);
    sqlite3_db_config(x->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    rc = sqlite3_exec(x->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
                      "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=1048576; "
                      "CREATE TABLE IF NOT EXISTS alarms(key BLOB PRIMARY KEY, app TEXT NOT "
                      "NULL, class TEXT NOT NULL, id BLOB NOT NULL, at INTEGER NOT NULL) "
                      "WITHOUT ROWID",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v3(x->db,
                           "INSERT INTO alarms(key, app, class, id, at) VALUES(?1,?2,?3,?4,?5) "
                           "ON CONFLICT(key) DO UPDATE SET at=excluded.at",
                           -1, SQLITE_PREPARE_PERSISTENT, &x->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(x->db, "DELETE FROM alarms WHERE key=?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &x->del, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_wal_hook(x->db, wal_hook_cb, x);
    return x;
fail:
    seterr(err, errlen, "cannot open the alarm index %s: %s", x->path,
           x->db ? sqlite3_errmsg(x->db) : sqlite3_errstr(rc));
    store_alarm_index_close(x);
    return NULL;
}

void store_alarm_index_close(store_alarm_index_t *x)
{
    if (!x)
        return;
    sqlite3_finalize(x->put);
    sqlite3_finalize(x->del);
    sqlite3_close_v2(x->db);
    free(x->path);
    free(x->wal);
    free(x);
}

const char *store_alarm_index_wal(const store_alarm_index_t *x)
{
    return x->wal;
}

int store_alarm_index_put(store_alarm_index_t *x, const uint8_t *key, size_t klen,
                          const char *app, const char *cls, const uint8_t *id, size_t id_len,
                          int64_t at, store_job_t **ckpt, char *err, size_t errlen)
{
    *ckpt = NULL;
    sqlite3_bind_blob64(x->put, 1, key, klen, SQLITE_STATIC);
    sqlite3_bind_text(x->put, 2, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(x->put, 3, cls, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(x->put, 4, id_len ? (const void *)id : (const void *)"", id_len,
                        SQLITE_STATIC);
    sqlite3_bind_int64(x->put, 5, at);
    int rc = sqlite3_step(x->put);
    sqlite3_reset(x->put);
    if (rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot note the alarm in %s: %s", x->path, sqlite3_errmsg(x->db));
        return -1;
    }
    if (x->frames < x->ckpt_at)
        x->ckpt_at = 0;
    if (x->frames - x->ckpt_at >= CKPT_FRAMES) {
        *ckpt = store_checkpoint_job(x->path, x->durability);
        x->ckpt_at = x->frames;
    }
    return 0;
}

int store_alarm_index_delete(store_alarm_index_t *x, const uint8_t *key, size_t klen, char *err,
                             size_t errlen)
{
    sqlite3_bind_blob64(x->del, 1, key, klen, SQLITE_STATIC);
    int rc = sqlite3_step(x->del);
    sqlite3_reset(x->del);
    if (rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot update the alarm index %s: %s", x->path,
               sqlite3_errmsg(x->db));
        return -1;
    }
    return 0;
}

int store_alarm_index_scan(store_alarm_index_t *x, store_alarm_cb cb, void *arg, char *err,
                           size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db, "SELECT app, class, id, at FROM alarms", -1, &st, NULL) !=
        SQLITE_OK) {
        seterr(err, errlen, "cannot read the alarm index: %s", sqlite3_errmsg(x->db));
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(st, 0);
        const char *cls = (const char *)sqlite3_column_text(st, 1);
        const uint8_t *id = sqlite3_column_blob(st, 2);
        size_t id_len = (size_t)sqlite3_column_bytes(st, 2);
        if (cb(arg, app ? app : "", cls ? cls : "", id ? id : (const uint8_t *)"", id_len,
               sqlite3_column_int64(st, 3)) != 0)
            break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        seterr(err, errlen, "cannot read the alarm index: %s", sqlite3_errmsg(x->db));
        return -1;
    }
    return 0;
}
