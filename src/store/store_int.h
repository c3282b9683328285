/* Private to src/store/: the instance's connection and what store.c and
 * sql.c share about it. Users of the store never see this header. */
#ifndef DORM_STORE_STORE_INT_H
#define DORM_STORE_STORE_INT_H
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/map.h"
#include "store.h"

/* Cached statements of an instance's connection. */
enum {
    S_GET,
    S_LIST0, /* + (exclusive lower bound ? 1 : 0) + (upper bound ? 2 : 0) + (reverse ? 4 : 0) */
    S_LIST_LAST = S_LIST0 + 7,
    S_UPSERT,
    S_DELETE,
    S_CLEAR,
    S_ALARM_GET,
    S_ALARM_SET,
    S_ALARM_DEL,
    N_STMT
};

/* Whether the instance file exists, as far as this kv knows. Only its own
 * writes create the file, so "absent" stays true until one does. */
enum { FILE_UNKNOWN, FILE_ABSENT, FILE_PRESENT };

typedef struct cache_ent cache_ent_t;

struct store_kv {
    store_shard_t *shard;
    char *path;
    uint8_t *id;             /* the instance's id, noted in _do_meta when the file is made */
    size_t id_len;
    sqlite3 *db;             /* NULL while closed */
    sqlite3_stmt *st[N_STMT];
    int file_state;
    bool schema;             /* the file has our tables */
    bool schema_new;         /* ... made by the open transaction: gone if it rolls back */
    bool in_txn;             /* BEGIN done, COMMIT not yet */
    bool txn_wrote;          /* a write happened in it */
    bool txn_lost;           /* SQLite rolled it back after an error: the commit fails */
    int savepoints;          /* depth of the class's transactions */
    bool listing;            /* a list is walking: keep the connection */
    bool created;            /* this kv created the file: the next sync also syncs it
                                and the folders that lead to it */
    bool in_lru;
    store_kv_t *lru_prev, *lru_next;
    int wal_frames;          /* frames in the WAL after the last commit (the wal hook) */
    int ckpt_at;             /* wal_frames when a checkpoint was last handed out */
    bool user_sql;           /* the authorizer applies: a class's statement runs */
    bool schema_check;       /* the statement being prepared renames a table or makes a
                                view or virtual table: check the schema after it runs */
    char trigger_table[256]; /* ... or a trigger, on this table */
    bool stmt_reads;         /* the statement reads a table of the class */
    bool stmt_modifies;      /* ... or updates or deletes rows (for rows_read) */
    const char *denied;      /* why the authorizer refused the last statement */
    char denied_buf[320];
    /* Recently read and written keys: reads of them need no connection. */
    map_t cache;             /* key -> cache_ent_t; buckets made on first use */
    cache_ent_t *cache_head, *cache_tail; /* most recently used first */
    size_t cache_bytes;
};

/* Configures and initialises SQLite once per process; every entry point of
 * store/ that opens a database calls it first. */
void store_sqlite_setup(void);

/* store.c, for sql.c: opens the connection (creating the file when create
 * is set). *have=false: no file, and create was not set. */
int store_kv_open(store_kv_t *kv, bool create, bool *have, char *err, size_t errlen);
/* Begins the turn's transaction if none is open (creating the file). */
int store_kv_begin(store_kv_t *kv, char *err, size_t errlen);
/* A statement failed inside the transaction: leaves it usable. */
void store_kv_note_error(store_kv_t *kv);
/* A checkpoint job for any database file of ours. */
store_job_t *store_checkpoint_job(const char *path, store_durability_t durability);
/* Installs sql.c's authorizer on a new connection. */
void store_sql_attach(store_kv_t *kv);

#endif
