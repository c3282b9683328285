/* Per-instance durable storage: one SQLite database per Durable Object
 * instance, with the key-value table, the alarm, and the class's own SQL
 * tables in it. The store knows nothing about JS: keys and values are bytes.
 *
 * One connection per instance, used only on its shard's thread. The writes
 * of a loop turn (KV and SQL alike) form one SQLite transaction, begun by
 * the first write and committed at the end of the turn (store_kv_commit).
 * Committing writes the WAL but never waits for the disk (the connection
 * runs with synchronous=OFF and never checkpoints): durability is a job,
 * an fdatasync of the WAL run on a worker thread, and nothing that depends
 * on the commit may be seen before that job is done. Checkpoints are jobs
 * too, on a connection of their own with full syncing, so the main file
 * only ever receives pages that are safely in the synced WAL.
 *
 *   - store_shard_t: a shard's configuration and its bounded LRU of open
 *     connections, so tens of thousands of instances do not mean tens of
 *     thousands of open files.
 *   - store_kv_t: one instance. Reads see its open transaction. A small
 *     cache of recently read and written keys answers without SQLite.
 *   - store_job_t: a sync or a checkpoint, for any thread.
 *   - the file layout of DESIGN.md 2.4:
 *     DATA/apps/<app>/<class>/<2 hex>/<sha256(id) hex>.sqlite, created by
 *     the instance's first write; reading an instance that never wrote
 *     touches no file.
 *
 * Keys order by their bytes (memcmp, shorter first on a tie), which is UTF-8
 * order for UTF-8 keys. Errors: functions return 0 or -1 and write a message
 * for users into err (errlen bytes) when err is not NULL.
 * Depends on lib/ and sqlite3 only. */
#ifndef DORM_STORE_STORE_H
#define DORM_STORE_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

typedef enum store_durability {
    STORE_DURABILITY_FSYNC,   /* an acknowledged write survives power loss */
    STORE_DURABILITY_PROCESS, /* it survives a killed process */
} store_durability_t;

typedef struct store_shard store_shard_t;
typedef struct store_kv store_kv_t;
typedef struct store_job store_job_t;

store_shard_t *store_shard_new(const char *data_dir, store_durability_t durability,
                               size_t max_open_handles);
void store_shard_free(store_shard_t *s); /* every kv of the shard must be freed first */
/* Connections the shard holds open now. It exceeds max_open_handles only
 * while every other one has a transaction open or a list under way. */
size_t store_shard_open_handles(const store_shard_t *s);

/* The path of an instance's database (whether or not it exists); replaces
 * the contents of out. */
void store_instance_path(const char *data_dir, const char *app, const char *cls,
                         const uint8_t *id, size_t id_len, buf_t *out);
/* sha256(id) as 64 lowercase hex chars + NUL: the instance id's hex form. */
void store_id_hex(const uint8_t *id, size_t id_len, char out[65]);

/* Removes every instance database of a class (DATA/apps/<app>/<class>), or
 * of an app when cls is NULL. Returns 0 or -1. Safe from any thread as long
 * as no kv of that class is open. */
int store_purge(const char *data_dir, const char *app, const char *cls, char *err, size_t errlen);

/* One instance. Does not touch the disk. Returns NULL when app or cls
 * cannot be a directory name (empty, ".", "..", containing '/', or over 255
 * bytes): the control layer validates names first, this is the last guard. */
store_kv_t *store_kv_new(store_shard_t *s, const char *app, const char *cls, const uint8_t *id,
                         size_t id_len);
/* Frees the kv; an open transaction is rolled back. Jobs it gave out stay
 * valid (they own what they need). */
void store_kv_free(store_kv_t *kv);
/* Closes the connection and forgets what the kv knew of the file (its
 * cache too), so that the next use opens the file anew: for when the
 * file is replaced or removed under it. No transaction may be open. */
void store_kv_close(store_kv_t *kv);
/* The instance file's path (it may not exist yet). */
const char *store_kv_path(const store_kv_t *kv);

/* ---- key-value --------------------------------------------------------------- */

/* Reads one key: found=false when absent. val is emptied, then receives the
 * value bytes. no_cache: the answer is not kept in the cache. */
int store_kv_get(store_kv_t *kv, const uint8_t *key, size_t klen, buf_t *val, bool *found,
                 bool no_cache, char *err, size_t errlen);

typedef struct store_list_opts {
    const uint8_t *start; size_t start_len; bool has_start; /* first key >= start */
    bool start_after;      /* when set, start is exclusive (the startAfter option) */
    const uint8_t *end; size_t end_len; bool has_end;       /* keys < end */
    const uint8_t *prefix; size_t prefix_len; bool has_prefix;
    bool reverse;          /* descending order; limit counts from the high end */
    size_t limit;          /* 0: no limit */
} store_list_opts_t;

/* Calls cb for each matching entry in order. cb returns 0 to go on,
 * non-zero to stop. The bytes passed to cb are valid only during the call.
 * cb may read this kv with store_kv_get, but must not write to it or list
 * it again (a nested list fails). */
typedef int (*store_row_cb)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                            size_t vlen);
int store_kv_list(store_kv_t *kv, const store_list_opts_t *opts, store_row_cb cb, void *arg,
                  char *err, size_t errlen);

/* Writes join the open transaction (the first write of a turn begins it,
 * and the first write of an instance creates its file). A failed write
 * changed nothing. *existed: whether the key was there. */
int store_kv_put(store_kv_t *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                 size_t vlen, bool no_cache, char *err, size_t errlen);
int store_kv_delete(store_kv_t *kv, const uint8_t *key, size_t klen, bool *existed, char *err,
                    size_t errlen);
/* Deletes every key and the alarm. The class's SQL tables stay. */
int store_kv_delete_all(store_kv_t *kv, char *err, size_t errlen);

/* ---- the alarm ------------------------------------------------------------------ */

/* The instance's alarm time in ms since the epoch, or -1 when none. */
int store_kv_alarm_get(store_kv_t *kv, int64_t *ms, char *err, size_t errlen);
/* Sets it (ms >= 0) or deletes it (ms < 0), in the open transaction. */
int store_kv_alarm_set(store_kv_t *kv, int64_t ms, char *err, size_t errlen);

/* ---- the class's SQL ----------------------------------------------------------------- */

enum { STORE_NULL, STORE_INTEGER, STORE_REAL, STORE_TEXT, STORE_BLOB };

typedef struct store_value {
    int type;
    int64_t i;
    double d;
    const uint8_t *p; /* TEXT (UTF-8) and BLOB */
    size_t len;
} store_value_t;

/* Where the rows of the last statement go. columns is called once, before
 * any row; both return 0 to go on (non-zero fails the exec with err as the
 * callee set it). interrupted (may be NULL) is asked every few thousand
 * steps of SQLite's machine whether to stop: non-zero fails the statement
 * with "interrupted" (the caller's CPU budget ran out). */
typedef struct store_sql_sink {
    int (*columns)(void *arg, int n, const char *const *names);
    int (*row)(void *arg, int n, const store_value_t *values);
    int (*interrupted)(void *arg);
    void *arg;
} store_sql_sink_t;

/* Limits of the class's SQL, as Cloudflare documents them for SQLite-backed
 * Durable Objects (past them the statement fails with SQLite's message). */
#define STORE_SQL_MAX_VALUE_BYTES 2000000   /* a string, BLOB or row */
#define STORE_SQL_MAX_STATEMENT_BYTES 100000 /* the SQL text of one exec() */
#define STORE_SQL_MAX_COLUMNS 100
#define STORE_SQL_MAX_BINDINGS 100
#define STORE_SQL_MAX_FUNCTION_ARGS 32
#define STORE_SQL_MAX_LIKE_PATTERN 50

typedef struct store_sql_stats {
    uint64_t rows_read;    /* rows a scan stepped over, a lookup returned, or an update
                              or delete touched (as near Cloudflare's count as SQLite
                              tells) */
    uint64_t rows_written; /* rows inserted, updated or deleted */
} store_sql_stats_t;

/* Runs the statements of sql (one or more, separated by ';') inside the
 * instance's transaction. Only the last may have parameters, and binds
 * fills exactly those; its rows go to sink. BEGIN, COMMIT, SAVEPOINT and
 * the like are refused (the class's transactions are store_kv_savepoint),
 * and so is any use of the reserved tables (_do_*), through an authorizer.
 * Errors carry SQLite's own message. */
int store_sql_exec(store_kv_t *kv, const char *sql, size_t sql_len, const store_value_t *binds,
                   int nbinds, const store_sql_sink_t *sink, store_sql_stats_t *stats, char *err,
                   size_t errlen);
/* The database's size in bytes, free pages not counted, as Cloudflare
 * counts it (0 before the file exists). */
int64_t store_sql_database_size(store_kv_t *kv);

/* ---- the class's transactions ---------------------------------------------------------- */

/* A savepoint in the open transaction (one is begun if needed). They nest:
 * release keeps what was done since the matching savepoint, rollback undoes
 * it; either ends that savepoint. */
int store_kv_savepoint(store_kv_t *kv, char *err, size_t errlen);
int store_kv_release(store_kv_t *kv, char *err, size_t errlen);
int store_kv_rollback(store_kv_t *kv, char *err, size_t errlen);
/* Rolls back every open savepoint (the class's transactions are abandoned,
 * say by a reset); the turn's other writes stay. */
void store_kv_rollback_all(store_kv_t *kv);
/* How many savepoints are open. */
int store_kv_savepoint_depth(const store_kv_t *kv);

/* ---- the end of a turn ------------------------------------------------------------------- */

/* A transaction with writes is open. */
bool store_kv_dirty(const store_kv_t *kv);
/* Commits the open transaction, on this thread and without waiting for the
 * disk. Returns 1 when writes were committed, 0 when there was nothing to
 * commit (or a transaction of the class is still open: then later). *sync
 * (NULL under --durability process) must run before anything that depends
 * on the commit is seen; *ckpt (often NULL) is a checkpoint to run whenever
 * convenient. On failure everything written since the last commit is
 * gone: -1 and err. */
int store_kv_commit(store_kv_t *kv, store_job_t **sync, store_job_t **ckpt, char *err,
                    size_t errlen);
/* Runs a job, on any thread (usually a worker). 0 or -1 with err. */
int store_job_run(store_job_t *job, char *err, size_t errlen);
void store_job_free(store_job_t *job);

/* A sync job also makes path durable (fdatasync), before anything else it
 * syncs: a file whose writes the job's commit depends on. */
void store_job_also_sync(store_job_t *job, const char *path);

/* ---- the alarm index ---------------------------------------------------------------- */

/* Where every instance's alarm is noted, so that alarms survive restarts
 * without opening every instance's file: DATA/alarms.db. Each shard has its
 * own connection. An instance's file is the truth; the index only says
 * when to look. The invariant: an instance whose file holds an alarm has an
 * entry no later than that time, which holds because an alarm's entry is
 * written in the same turn as the alarm and synced with it. */
typedef struct store_alarm_index store_alarm_index_t;

store_alarm_index_t *store_alarm_index_open(const char *data_dir, store_durability_t durability,
                                            char *err, size_t errlen);
void store_alarm_index_close(store_alarm_index_t *x);
/* Notes instance key's alarm at `at` (ms). *ckpt: a checkpoint job for the
 * index, now and then (may be NULL). */
int store_alarm_index_put(store_alarm_index_t *x, const uint8_t *key, size_t klen,
                          const char *app, const char *cls, const uint8_t *id, size_t id_len,
                          int64_t at, store_job_t **ckpt, char *err, size_t errlen);
int store_alarm_index_delete(store_alarm_index_t *x, const uint8_t *key, size_t klen, char *err,
                             size_t errlen);
typedef int (*store_alarm_cb)(void *arg, const char *app, const char *cls, const uint8_t *id,
                              size_t id_len, int64_t at);
/* Every entry, in no particular order. */
int store_alarm_index_scan(store_alarm_index_t *x, store_alarm_cb cb, void *arg, char *err,
                           size_t errlen);
/* The index's WAL, for store_job_also_sync. */
const char *store_alarm_index_wal(const store_alarm_index_t *x);

/* Test hook: the next n commits of this process fail (not reachable by
 * users: the server wires it to a test-only management action). */
void store_fail_next_commits(int n);

#endif
