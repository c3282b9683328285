/* Per-instance durable storage: one SQLite database per Durable Object
 * instance, keys and values as bytes (the store knows nothing about JS).
 *
 * Three pieces, all per shard and used from the shard's thread except where
 * said otherwise:
 *   - store_shard_t: the shard's configuration and its bounded LRU of open
 *     SQLite handles (a small page cache each), so tens of thousands of
 *     instances do not mean tens of thousands of open files.
 *   - store_kv_t: one instance's key-value storage. Writes go into an
 *     in-memory pending batch and are visible to reads at once; the actor
 *     layer takes the batch at the end of a loop turn, commits it on a worker
 *     thread (store_commit, one SQLite transaction), and reports the result.
 *     While a batch is in flight, reads see it too, and new writes form the
 *     next batch. Reads never wait for an in-flight commit.
 *   - the file layout of DESIGN.md 2.4:
 *     DATA/apps/<app>/<class>/<2 hex>/<sha256(id) hex>.sqlite. The file is
 *     created on the first commit; reading an instance that never wrote
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
    STORE_DURABILITY_FSYNC,   /* synchronous=FULL: an acknowledged write survives power loss */
    STORE_DURABILITY_PROCESS, /* synchronous=NORMAL: survives a killed process */
} store_durability_t;

typedef struct store_shard store_shard_t;
typedef struct store_kv store_kv_t;

store_shard_t *store_shard_new(const char *data_dir, store_durability_t durability,
                               size_t max_open_handles);
void store_shard_free(store_shard_t *s); /* every kv of the shard must be freed first */
/* SQLite connections the shard holds open now (readers and writers). It
 * exceeds max_open_handles only while every other handle belongs to a kv
 * with a batch in flight or a list under way. */
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
/* Frees the kv. Must not be called while a batch is in flight. Pending
 * (untaken) writes are discarded. */
void store_kv_free(store_kv_t *kv);

/* Reads one key: found=false when absent. val is emptied, then receives the
 * value bytes. */
int store_kv_get(store_kv_t *kv, const uint8_t *key, size_t klen, buf_t *val, bool *found,
                 char *err, size_t errlen);

typedef struct store_list_opts {
    const uint8_t *start; size_t start_len; bool has_start; /* first key >= start */
    bool start_after;      /* when set, start is exclusive (the startAfter option) */
    const uint8_t *end; size_t end_len; bool has_end;       /* keys < end */
    const uint8_t *prefix; size_t prefix_len; bool has_prefix;
    bool reverse;          /* descending order; limit counts from the high end */
    size_t limit;          /* 0: no limit */
} store_list_opts_t;

/* Calls cb for each matching entry in order, with pending and in-flight
 * writes merged in. cb returns 0 to go on, non-zero to stop. The bytes
 * passed to cb are valid only during the call. cb may read this kv with
 * store_kv_get and use other kvs, but must not write to this kv or list it
 * again (a nested list fails). Keys deleted by unsaved writes do not count
 * toward limit. */
typedef int (*store_row_cb)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                            size_t vlen);
int store_kv_list(store_kv_t *kv, const store_list_opts_t *opts, store_row_cb cb, void *arg,
                  char *err, size_t errlen);

/* Writes (recorded in the pending batch; never fail). */
void store_kv_put(store_kv_t *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen);
void store_kv_delete(store_kv_t *kv, const uint8_t *key, size_t klen);
void store_kv_delete_all(store_kv_t *kv);

/* Key and value bytes held by the pending batch (for callers that bound it). */
size_t store_kv_pending_bytes(const store_kv_t *kv);
/* The instance file's path (it may not exist yet). */
const char *store_kv_path(const store_kv_t *kv);

/* True when writes are pending and no batch is in flight (so a commit can start). */
bool store_kv_ready_to_commit(const store_kv_t *kv);
bool store_kv_in_flight(const store_kv_t *kv);
/* Moves the pending writes into the in-flight batch (requires
 * store_kv_ready_to_commit). Then run store_kv_commit_work on a worker thread,
 * then store_kv_commit_done on the shard thread with its result. */
void store_kv_take_batch(store_kv_t *kv);
/* Worker thread: applies the in-flight batch in one transaction, creating the
 * file and its directories on first use. Touches nothing else of the kv that
 * the shard thread uses meanwhile. Returns 0 or -1 with err filled. */
int store_kv_commit_work(store_kv_t *kv, char *err, size_t errlen);
/* Shard thread, after the work finished. ok=false: the in-flight writes are
 * dropped and so are the pending ones (the caller resets the instance). */
void store_kv_commit_done(store_kv_t *kv, bool ok);

/* Test hook: the next n commits of this process fail (DORM_TEST builds and
 * tests only; not reachable by users). */
void store_fail_next_commits(int n);

#endif
