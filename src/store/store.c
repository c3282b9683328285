/* Per-instance key-value storage on SQLite (see store.h): file layout, the
 * two connections of an instance (a reader for the shard thread, a writer
 * for commit workers), the merge of unsaved writes with SQLite, and the
 * shard's LRU of open handles. Speaks bytes only: must not depend on JS,
 * libuv or anything outside lib/, sqlite3 and libcrypto. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/mem.h"
#include "../lib/map.h"
#include "store_int.h"

/* The version of our tables inside an instance file, kept in _do_meta. A
 * file written by a newer dorm is refused rather than misread. */
#define STORE_FORMAT 1
#define BUSY_TIMEOUT_MS 1000

/* Cached statements of a connection. A reader uses R_GET and the eight
 * R_LIST variants; a writer uses the W_ ones. */
enum {
    R_GET,
    R_LIST0, /* + (exclusive lower bound ? 1 : 0) + (upper bound ? 2 : 0) + (reverse ? 4 : 0) */
    R_LIST_LAST = R_LIST0 + 7,
    W_BEGIN,
    W_COMMIT,
    W_UPSERT,
    W_DELETE,
    W_CLEAR,
    N_STMT
};

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[N_STMT];
} conn_t;

/* Whether the instance file exists, as far as the shard thread knows. Only
 * our own commits create the file, so "absent" stays true until one succeeds. */
enum { FILE_UNKNOWN, FILE_ABSENT, FILE_PRESENT };

struct store_shard {
    char *data_dir;
    store_durability_t durability;
    size_t max_open;
    size_t open_handles;
    store_kv_t *lru_head; /* kvs holding at least one connection, most recent first */
    store_kv_t *lru_tail;
};

struct store_kv {
    store_shard_t *shard;
    char *path;

    /* The shard thread's alone. */
    store_ov_t pending;
    conn_t reader;
    int file_state;
    bool in_flight;
    bool listing;        /* a list is walking this kv: keep its reader open */
    bool writer_counted; /* the shard has counted writer.db among its open handles */
    bool in_lru;
    store_kv_t *lru_prev, *lru_next;

    /* Changed by the shard thread only while no batch is in flight; while
     * one is, both the shard thread and the worker read it. */
    store_ov_t inflight;

    /* The worker's while a batch is in flight, the shard thread's otherwise
     * (libuv's queue/after-work hand-off orders the two). */
    conn_t writer;
    bool writer_schema; /* the writer's file has our tables */

    /* Recently read and written keys (the shard thread's): reads of them
     * need no SQLite connection at all. Only this kv writes this file, so
     * an entry stays true until this kv changes it. */
    map_t cache;          /* key -> cache_ent_t; buckets made on first use */
    struct cache_ent *cache_head, *cache_tail; /* most recently used first */
    size_t cache_bytes;
};

typedef struct cache_ent {
    struct cache_ent *prev, *next;
    bool absent;          /* the key is known not to exist */
    size_t vlen;
    uint8_t *val;
    size_t klen;
    uint8_t key[];
} cache_ent_t;

/* Per instance: small values of the keys it uses most (a counter, a
 * config object) stay in memory; big ones are read again when needed. */
#define CACHE_MAX_ENTRIES 64
#define CACHE_MAX_BYTES (32u * 1024)
#define CACHE_MAX_VALUE (8u * 1024)

static atomic_int fail_commits;
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mkdir_lock = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t empty_bytes[1] = {0};

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

/* SQLite's memory statistics take a global mutex on every allocation, which
 * serialises every commit worker; nothing of ours reads them. This must run
 * before SQLite initialises, so every entry point of store/ calls it. */
static void sqlite_setup_once(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
}

void store_sqlite_setup(void)
{
    pthread_once(&sqlite_once, sqlite_setup_once);
}

/* ---- names and paths ----------------------------------------------------- */

/* App and class names become directory names: refuse anything that could
 * leave the data directory, whoever validated them before. */
static bool safe_component(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return strchr(s, '/') == NULL;
}

void store_id_hex(const uint8_t *id, size_t id_len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(id_len ? (const void *)id : (const void *)empty_bytes, id_len, md, &mdlen,
                    EVP_sha256(), NULL) ||
        mdlen != 32) {
        /* libcrypto failing to hash is not something we can serve around. */
        fprintf(stderr, "dorm: SHA-256 unavailable in libcrypto\n");
        abort();
    }
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void store_instance_path(const char *data_dir, const char *app, const char *cls,
                         const uint8_t *id, size_t id_len, buf_t *out)
{
    char hex[65];
    store_id_hex(id, id_len, hex);
    buf_reset(out);
    buf_printf(out, "%s/apps/%s/%s/%.2s/%s.sqlite", data_dir, app, cls, hex, hex);
}

/* In FSYNC mode a new directory must itself reach the disk, or a power cut
 * could lose the entry that leads to an acknowledged file. */
static int fsync_parent(const char *dir, char *err, size_t errlen)
{
    const char *slash = strrchr(dir, '/');
    char *parent = slash ? xstrndup(dir, slash == dir ? 1 : (size_t)(slash - dir)) : xstrdup(".");
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) < 0) {
        seterr(err, errlen, "cannot sync directory %s: %s", parent, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    free(parent);
    return rc;
}

/* mkdir -p of dir (modified in place and restored). */
static int mkdir_p(char *dir, bool durable, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) == 0)
        return durable ? fsync_parent(dir, err, errlen) : 0;
    if (errno == EEXIST)
        return 0;
    if (errno != ENOENT) {
        seterr(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        seterr(err, errlen, "cannot create directory %s: %s", dir, strerror(ENOENT));
        return -1;
    }
    *slash = '\0';
    int rc = mkdir_p(dir, durable, err, errlen);
    *slash = '/';
    if (rc < 0)
        return -1;
    if (mkdir(dir, 0700) == 0)
        return durable ? fsync_parent(dir, err, errlen) : 0;
    if (errno == EEXIST)
        return 0;
    seterr(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
    return -1;
}

/* Creates the directories of path. The lock makes a worker that finds a
 * directory just made by another wait until that one has been synced. */
static int make_parent_dirs(const char *path, bool durable, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    char *dir = xstrndup(path, (size_t)(slash - path));
    pthread_mutex_lock(&mkdir_lock);
    int rc = mkdir_p(dir, durable, err, errlen);
    pthread_mutex_unlock(&mkdir_lock);
    free(dir);
    return rc;
}

/* ---- purge --------------------------------------------------------------- */

static int purge_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_DNR || flag == FTW_NS)
        return EACCES;
    if (remove(path) < 0 && errno != ENOENT)
        return errno;
    return 0;
}

int store_purge(const char *data_dir, const char *app, const char *cls, char *err, size_t errlen)
{
    if (!safe_component(app) || (cls && !safe_component(cls))) {
        seterr(err, errlen, "cannot purge storage: invalid app or class name");
        return -1;
    }
    buf_t path = BUF_INIT;
    buf_printf(&path, "%s/apps/%s", data_dir, app);
    if (cls)
        buf_printf(&path, "/%s", cls);
    int rc = nftw(buf_cstr(&path), purge_entry, 16, FTW_DEPTH | FTW_PHYS);
    int e = rc == -1 ? errno : rc;
    if (rc != 0 && !(rc == -1 && e == ENOENT)) {
        seterr(err, errlen, "cannot remove %s: %s", buf_cstr(&path), strerror(e));
        buf_deinit(&path);
        return -1;
    }
    buf_deinit(&path);
    return 0;
}

void store_fail_next_commits(int n)
{
    atomic_store(&fail_commits, n);
}

static bool take_injected_failure(void)
{
    int cur = atomic_load(&fail_commits);
    while (cur > 0) {
        if (atomic_compare_exchange_weak(&fail_commits, &cur, cur - 1))
            return true;
    }
    return false;
}

/* ---- connections --------------------------------------------------------- */

static void conn_close(conn_t *c)
{
    for (int i = 0; i < N_STMT; i++) {
        if (c->st[i])
            sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
}

/* The cached statement idx, prepared on first use. NULL on failure, with
 * the reason in sqlite3_errmsg(c->db). */
static sqlite3_stmt *conn_stmt(conn_t *c, int idx, const char *sql)
{
    if (!c->st[idx] &&
        sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[idx], NULL) !=
            SQLITE_OK)
        c->st[idx] = NULL;
    return c->st[idx];
}

static bool no_such_table(sqlite3 *db)
{
    return strncmp(sqlite3_errmsg(db), "no such table", 13) == 0;
}

static int bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t n)
{
    /* A NULL pointer would bind SQL NULL, not an empty blob. */
    return sqlite3_bind_blob64(st, i, p && n ? (const void *)p : (const void *)empty_bytes, n,
                               SQLITE_STATIC);
}

static int journal_mode_cb(void *arg, int ncol, char **vals, char **names)
{
    char *mode = arg;
    /* Only the first statement's row: later pragmas answer too. */
    if (ncol > 0 && vals[0] && !mode[0])
        snprintf(mode, 16, "%s", vals[0]);
    return 0;
}

static const char *sync_pragma(store_durability_t d)
{
    return d == STORE_DURABILITY_FSYNC ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
}

/* Closing the last connection of a WAL database normally checkpoints it
 * (two fsyncs) and deletes the -wal and -shm files, which the next open
 * creates again. Handles are closed on the shard thread when the LRU drops
 * them, and the loop must never wait on a disk: so no connection of ours
 * checkpoints on close, the files stay, and checkpoints happen only inside
 * commits, on worker threads. */
static void no_checkpoint_on_close(sqlite3 *db)
{
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
}

/* Worker thread: opens (creating if needed) the instance file for writing. */
static int writer_open(store_kv_t *kv, char *err, size_t errlen)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    bool durable = kv->shard->durability == STORE_DURABILITY_FSYNC;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(kv->path, &db, flags, NULL);
    if (rc == SQLITE_CANTOPEN) {
        /* Most often the directories do not exist yet: make them and retry
         * once. Checking first would cost a syscall on every open. */
        sqlite3_close_v2(db);
        db = NULL;
        if (make_parent_dirs(kv->path, durable, err, errlen) < 0)
            return -1;
        rc = sqlite3_open_v2(kv->path, &db, flags, NULL);
    }
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "cannot open storage file %s: %s", kv->path,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return -1;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    no_checkpoint_on_close(db);
    char mode[16] = "";
    char sql[240];
    /* Checkpoints happen here, in commits on a worker thread, every 256
     * pages; after each the WAL shrinks back to at most 64 KiB, so a
     * quiet instance keeps little beside its database. */
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL; %s; PRAGMA cache_size=-64; "
             "PRAGMA wal_autocheckpoint=256; PRAGMA journal_size_limit=65536",
             sync_pragma(kv->shard->durability));
    if (sqlite3_exec(db, sql, journal_mode_cb, mode, NULL) != SQLITE_OK) {
        seterr(err, errlen, "cannot set up storage file %s: %s", kv->path, sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        seterr(err, errlen,
               "cannot use write-ahead logging for %s (journal mode stays '%s'): the data "
               "directory must be on a local filesystem",
               kv->path, mode);
        sqlite3_close_v2(db);
        return -1;
    }
    /* Is the file ours, and of a format we understand? A missing table
     * means a new file: the first commit creates the tables in its own
     * transaction, which saves a sync. */
    sqlite3_stmt *st = NULL;
    bool schema = false;
    if (sqlite3_prepare_v2(db, "SELECT value FROM _do_meta WHERE key='format'", -1, &st, NULL) ==
        SQLITE_OK) {
        rc = sqlite3_step(st);
        sqlite3_int64 fmt = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            seterr(err, errlen, "cannot read storage file %s: %s", kv->path, sqlite3_errmsg(db));
            sqlite3_close_v2(db);
            return -1;
        }
        if (fmt > STORE_FORMAT) {
            seterr(err, errlen,
                   "storage file %s has format %lld, newer than this dorm understands (%d): "
                   "upgrade dorm",
                   kv->path, (long long)fmt, STORE_FORMAT);
            sqlite3_close_v2(db);
            return -1;
        }
        schema = true;
    } else if (!no_such_table(db)) {
        seterr(err, errlen, "cannot read storage file %s: %s", kv->path, sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return -1;
    }
    kv->writer.db = db;
    kv->writer_schema = schema;
    return 0;
}

/* ---- the shard and its LRU ----------------------------------------------- */

store_shard_t *store_shard_new(const char *data_dir, store_durability_t durability,
                               size_t max_open_handles)
{
    store_sqlite_setup();
    store_shard_t *s = xcalloc(1, sizeof(*s));
    s->data_dir = xstrdup(data_dir);
    s->durability = durability;
    /* An active kv may hold two connections; a smaller bound could not be kept. */
    s->max_open = max_open_handles < 2 ? 2 : max_open_handles;
    return s;
}

void store_shard_free(store_shard_t *s)
{
    if (!s)
        return;
    if (s->lru_head) {
        fprintf(stderr, "dorm: store_shard_free with kvs still open\n");
        abort();
    }
    free(s->data_dir);
    free(s);
}

size_t store_shard_open_handles(const store_shard_t *s)
{
    return s->open_handles;
}

static size_t kv_handles(const store_kv_t *kv)
{
    return (kv->reader.db ? 1 : 0) + (kv->writer_counted ? 1 : 0);
}

static void lru_unlink(store_kv_t *kv)
{
    store_shard_t *s = kv->shard;
    if (!kv->in_lru)
        return;
    if (kv->lru_prev)
        kv->lru_prev->lru_next = kv->lru_next;
    else
        s->lru_head = kv->lru_next;
    if (kv->lru_next)
        kv->lru_next->lru_prev = kv->lru_prev;
    else
        s->lru_tail = kv->lru_prev;
    kv->lru_prev = kv->lru_next = NULL;
    kv->in_lru = false;
}

/* Moves kv to the front when it holds a connection, drops it otherwise. */
static void lru_touch(store_kv_t *kv)
{
    store_shard_t *s = kv->shard;
    lru_unlink(kv);
    if (kv_handles(kv) == 0)
        return;
    kv->lru_next = s->lru_head;
    if (s->lru_head)
        s->lru_head->lru_prev = kv;
    s->lru_head = kv;
    if (!s->lru_tail)
        s->lru_tail = kv;
    kv->in_lru = true;
}

/* Shard thread, no batch in flight: closes both connections. The reader
 * goes first so that the writer, the last connection, can checkpoint the
 * WAL into the main file and remove the -wal and -shm files. */
static void kv_close_handles(store_kv_t *kv)
{
    store_shard_t *s = kv->shard;
    if (kv->reader.db) {
        conn_close(&kv->reader);
        s->open_handles--;
    }
    if (kv->writer.db)
        conn_close(&kv->writer);
    if (kv->writer_counted) {
        s->open_handles--;
        kv->writer_counted = false;
    }
    lru_unlink(kv);
}

/* Closes least-recently-used idle kvs until the shard is within its bound.
 * A kv with a batch in flight (its writer is the worker's), one being
 * listed, and `keep` are skipped; if nothing else is left the bound is
 * exceeded for a while rather than waiting. */
static void shard_evict(store_shard_t *s, store_kv_t *keep)
{
    store_kv_t *kv = s->lru_tail;
    while (s->open_handles > s->max_open && kv) {
        store_kv_t *prev = kv->lru_prev;
        if (kv != keep && !kv->in_flight && !kv->listing)
            kv_close_handles(kv);
        kv = prev;
    }
}

/* ---- the cache ------------------------------------------------------------ */

static void cache_unlink(store_kv_t *kv, cache_ent_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        kv->cache_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        kv->cache_tail = e->prev;
    e->prev = e->next = NULL;
}

static void cache_push_front(store_kv_t *kv, cache_ent_t *e)
{
    e->next = kv->cache_head;
    if (kv->cache_head)
        kv->cache_head->prev = e;
    kv->cache_head = e;
    if (!kv->cache_tail)
        kv->cache_tail = e;
}

static void cache_drop(store_kv_t *kv, cache_ent_t *e)
{
    cache_unlink(kv, e);
    map_remove(&kv->cache, e->key, e->klen);
    kv->cache_bytes -= e->klen + e->vlen;
    free(e->val);
    free(e);
}

static void cache_clear(store_kv_t *kv)
{
    while (kv->cache_head)
        cache_drop(kv, kv->cache_head);
}

static cache_ent_t *cache_find(store_kv_t *kv, const uint8_t *key, size_t klen)
{
    if (!kv->cache.buckets)
        return NULL;
    cache_ent_t *e = map_get(&kv->cache, key, klen);
    if (e && e != kv->cache_head) {
        cache_unlink(kv, e);
        cache_push_front(kv, e);
    }
    return e;
}

/* Remembers key's value (val NULL: absent). Values too big to keep only
 * drop what was known. */
static void cache_set(store_kv_t *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen)
{
    cache_ent_t *old = kv->cache.buckets ? map_get(&kv->cache, key, klen) : NULL;
    if (old)
        cache_drop(kv, old);
    if (klen + (val ? vlen : 0) > CACHE_MAX_VALUE)
        return;
    if (!kv->cache.buckets)
        map_init(&kv->cache);
    cache_ent_t *e = xcalloc(1, sizeof *e + klen);
    e->absent = val == NULL;
    e->vlen = val ? vlen : 0;
    e->val = val && vlen ? xmemdup(val, vlen) : NULL;
    e->klen = klen;
    memcpy(e->key, key, klen);
    map_put(&kv->cache, e->key, klen, e);
    cache_push_front(kv, e);
    kv->cache_bytes += klen + e->vlen;
    while (kv->cache.count > CACHE_MAX_ENTRIES || kv->cache_bytes > CACHE_MAX_BYTES)
        cache_drop(kv, kv->cache_tail);
}

/* ---- kv lifecycle -------------------------------------------------------- */

store_kv_t *store_kv_new(store_shard_t *s, const char *app, const char *cls, const uint8_t *id,
                         size_t id_len)
{
    if (!safe_component(app) || !safe_component(cls))
        return NULL;
    store_kv_t *kv = xcalloc(1, sizeof(*kv));
    kv->shard = s;
    buf_t path = BUF_INIT;
    store_instance_path(s->data_dir, app, cls, id, id_len, &path);
    kv->path = (char *)buf_steal(&path, NULL);
    store_ov_init(&kv->pending);
    store_ov_init(&kv->inflight);
    kv->file_state = FILE_UNKNOWN;
    return kv;
}

void store_kv_free(store_kv_t *kv)
{
    if (!kv)
        return;
    if (kv->in_flight) {
        /* The worker may still be using the kv: freeing it would corrupt memory. */
        fprintf(stderr, "dorm: store_kv_free while a commit is in flight\n");
        abort();
    }
    kv_close_handles(kv);
    cache_clear(kv);
    if (kv->cache.buckets)
        map_deinit(&kv->cache);
    store_ov_deinit(&kv->pending);
    store_ov_deinit(&kv->inflight);
    free(kv->path);
    free(kv);
}

size_t store_kv_pending_bytes(const store_kv_t *kv)
{
    return kv->pending.bytes;
}

const char *store_kv_path(const store_kv_t *kv)
{
    return kv->path;
}

/* ---- reads ------------------------------------------------------------- */

/* Makes the reader usable if the file exists. *have=false means SQLite holds
 * nothing for this instance (no file yet), which is not an error. */
static int reader_ready(store_kv_t *kv, bool *have, char *err, size_t errlen)
{
    *have = false;
    if (kv->reader.db) {
        lru_touch(kv);
        *have = true;
        return 0;
    }
    if (kv->file_state == FILE_ABSENT)
        return 0;
    if (kv->file_state == FILE_UNKNOWN) {
        if (access(kv->path, F_OK) < 0) {
            if (errno != ENOENT) {
                seterr(err, errlen, "cannot read storage file %s: %s", kv->path,
                       strerror(errno));
                return -1;
            }
            kv->file_state = FILE_ABSENT;
            return 0;
        }
        kv->file_state = FILE_PRESENT;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(kv->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_CANTOPEN && access(kv->path, F_OK) < 0 && errno == ENOENT) {
        sqlite3_close_v2(db);
        kv->file_state = FILE_ABSENT;
        return 0;
    }
    /* A reader waits only while another connection rebuilds the WAL index
     * (the first open after the WAL was checkpointed away), which is short. */
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        no_checkpoint_on_close(db);
    }
    /* query_only: the reader must never write; the writer is the only one. */
    if (rc != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA cache_size=-64; PRAGMA query_only=1", NULL, NULL, NULL) !=
            SQLITE_OK) {
        seterr(err, errlen, "cannot open storage file %s: %s", kv->path,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return -1;
    }
    kv->reader.db = db;
    kv->shard->open_handles++;
    lru_touch(kv);
    shard_evict(kv->shard, kv);
    *have = true;
    return 0;
}

/* Copies an overlay entry's value. */
static void ov_value(const store_ov_node_t *n, buf_t *val, bool *found)
{
    *found = !n->del;
    if (!n->del)
        buf_append(val, n->val ? n->val : empty_bytes, n->vlen);
}

int store_kv_get(store_kv_t *kv, const uint8_t *key, size_t klen, buf_t *val, bool *found,
                 char *err, size_t errlen)
{
    buf_reset(val);
    *found = false;
    store_ov_node_t *n = store_ov_find(&kv->pending, key, klen);
    if (n) {
        ov_value(n, val, found);
        return 0;
    }
    if (kv->pending.cleared)
        return 0;
    if (kv->in_flight) {
        n = store_ov_find(&kv->inflight, key, klen);
        if (n) {
            ov_value(n, val, found);
            return 0;
        }
        if (kv->inflight.cleared)
            return 0;
    }
    cache_ent_t *hit = cache_find(kv, key, klen);
    if (hit) {
        *found = !hit->absent;
        if (!hit->absent)
            buf_append(val, hit->val ? hit->val : empty_bytes, hit->vlen);
        return 0;
    }
    bool have;
    if (reader_ready(kv, &have, err, errlen) < 0)
        return -1;
    if (!have) {
        if (kv->file_state == FILE_ABSENT)
            cache_set(kv, key, klen, NULL, 0);
        return 0;
    }
    sqlite3_stmt *st = conn_stmt(&kv->reader, R_GET, "SELECT value FROM _do_kv WHERE key=?1");
    if (!st) {
        if (no_such_table(kv->reader.db))
            return 0; /* the file exists but no commit has made the table yet */
        seterr(err, errlen, "cannot read storage: %s", sqlite3_errmsg(kv->reader.db));
        return -1;
    }
    bind_bytes(st, 1, key, klen);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        size_t n_bytes = (size_t)sqlite3_column_bytes(st, 0);
        buf_append(val, p ? p : empty_bytes, n_bytes);
        *found = true;
    } else if (rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot read storage: %s", sqlite3_errmsg(kv->reader.db));
        sqlite3_reset(st);
        return -1;
    }
    cache_set(kv, key, klen, *found ? (val->data ? val->data : empty_bytes) : NULL, val->len);
    /* Reset ends the read transaction, so the next read sees new commits. */
    sqlite3_reset(st);
    return 0;
}

/* ---- list: overlays merged with a SQLite range scan ---------------------- */

/* The requested key range as one lower and one upper bound. */
typedef struct range {
    const uint8_t *lo;
    size_t lo_len;
    bool has_lo, lo_excl;
    const uint8_t *hi; /* exclusive */
    size_t hi_len;
    bool has_hi;
    uint8_t *succ; /* owned: the prefix's successor */
} range_t;

/* The smallest key greater than every key that starts with p: p without its
 * trailing 0xff bytes, last byte plus one. None (false) if p is all 0xff. */
static bool prefix_successor(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len)
{
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return false;
    uint8_t *s = xmemdup(p, n);
    s[n - 1]++;
    *out = s;
    *out_len = n;
    return true;
}

/* Intersects start/startAfter, end and prefix. Returns false when the range
 * is certainly empty. */
static bool range_from_opts(const store_list_opts_t *o, range_t *r)
{
    memset(r, 0, sizeof(*r));
    if (o->has_start) {
        r->lo = o->start;
        r->lo_len = o->start_len;
        r->has_lo = true;
        r->lo_excl = o->start_after;
    }
    if (o->has_end) {
        r->hi = o->end;
        r->hi_len = o->end_len;
        r->has_hi = true;
    }
    if (o->has_prefix && o->prefix_len > 0) {
        int c = r->has_lo ? store_key_cmp(o->prefix, o->prefix_len, r->lo, r->lo_len) : 1;
        if (c > 0) {
            r->lo = o->prefix;
            r->lo_len = o->prefix_len;
            r->has_lo = true;
            r->lo_excl = false;
        }
        uint8_t *succ;
        size_t succ_len;
        if (prefix_successor(o->prefix, o->prefix_len, &succ, &succ_len)) {
            r->succ = succ;
            if (!r->has_hi || store_key_cmp(succ, succ_len, r->hi, r->hi_len) < 0) {
                r->hi = succ;
                r->hi_len = succ_len;
                r->has_hi = true;
            }
        }
    }
    if (r->has_lo && r->has_hi) {
        int c = store_key_cmp(r->lo, r->lo_len, r->hi, r->hi_len);
        if (c >= 0)
            return false;
    }
    return true;
}

static bool below_lo(const range_t *r, const uint8_t *k, size_t klen)
{
    if (!r->has_lo)
        return false;
    int c = store_key_cmp(k, klen, r->lo, r->lo_len);
    return c < 0 || (c == 0 && r->lo_excl);
}

static bool at_or_above_hi(const range_t *r, const uint8_t *k, size_t klen)
{
    return r->has_hi && store_key_cmp(k, klen, r->hi, r->hi_len) >= 0;
}

/* One ordered source of entries: an overlay or the SQLite scan. */
typedef struct source {
    bool has;
    const uint8_t *k, *v;
    size_t klen, vlen;
    bool del;
    store_ov_node_t *node; /* overlay sources */
    sqlite3_stmt *st;      /* the SQLite source */
} source_t;

static void ov_source_load(source_t *src, const range_t *r, bool reverse)
{
    store_ov_node_t *n = src->node;
    if (n && (reverse ? below_lo(r, store_ov_key(n), n->klen)
                      : at_or_above_hi(r, store_ov_key(n), n->klen)))
        n = NULL;
    src->node = n;
    src->has = n != NULL;
    if (!n)
        return;
    src->k = store_ov_key(n);
    src->klen = n->klen;
    src->v = n->val ? n->val : empty_bytes;
    src->vlen = n->vlen;
    src->del = n->del;
}

static void ov_source_start(source_t *src, const store_ov_t *ov, const range_t *r, bool reverse)
{
    memset(src, 0, sizeof(*src));
    if (!reverse)
        src->node = r->has_lo ? store_ov_seek_ge(ov, r->lo, r->lo_len, r->lo_excl)
                              : store_ov_first(ov);
    else
        src->node = r->has_hi ? store_ov_seek_lt(ov, r->hi, r->hi_len) : ov->tail;
    ov_source_load(src, r, reverse);
}

static void ov_source_next(source_t *src, const range_t *r, bool reverse)
{
    src->node = reverse ? src->node->prev : store_ov_next(src->node);
    ov_source_load(src, r, reverse);
}

/* Steps the SQLite scan: 0 with src->has set or cleared, -1 on error. */
static int db_source_next(source_t *src)
{
    int rc = sqlite3_step(src->st);
    if (rc == SQLITE_DONE) {
        src->has = false;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return -1;
    src->k = sqlite3_column_blob(src->st, 0);
    src->klen = (size_t)sqlite3_column_bytes(src->st, 0);
    src->v = sqlite3_column_blob(src->st, 1);
    src->vlen = (size_t)sqlite3_column_bytes(src->st, 1);
    if (!src->k)
        src->k = empty_bytes;
    if (!src->v)
        src->v = empty_bytes;
    src->del = false;
    src->has = true;
    return 0;
}

static const char *const list_sql[8] = {
    "SELECT key, value FROM _do_kv WHERE key >= ?1 ORDER BY key",
    "SELECT key, value FROM _do_kv WHERE key > ?1 ORDER BY key",
    "SELECT key, value FROM _do_kv WHERE key >= ?1 AND key < ?2 ORDER BY key",
    "SELECT key, value FROM _do_kv WHERE key > ?1 AND key < ?2 ORDER BY key",
    "SELECT key, value FROM _do_kv WHERE key >= ?1 ORDER BY key DESC",
    "SELECT key, value FROM _do_kv WHERE key > ?1 ORDER BY key DESC",
    "SELECT key, value FROM _do_kv WHERE key >= ?1 AND key < ?2 ORDER BY key DESC",
    "SELECT key, value FROM _do_kv WHERE key > ?1 AND key < ?2 ORDER BY key DESC",
};

/* Opens the SQLite scan of r; src->st stays NULL when the file or table
 * does not exist. */
static int db_source_start(store_kv_t *kv, source_t *src, const range_t *r, bool reverse,
                           char *err, size_t errlen)
{
    memset(src, 0, sizeof(*src));
    bool have;
    if (reader_ready(kv, &have, err, errlen) < 0)
        return -1;
    if (!have)
        return 0;
    /* Every key is a BLOB and x'' is the smallest BLOB, so "no lower bound"
     * is ">= x''" and one family of statements covers every range. */
    int variant = (r->has_lo && r->lo_excl ? 1 : 0) + (r->has_hi ? 2 : 0) + (reverse ? 4 : 0);
    sqlite3_stmt *st = conn_stmt(&kv->reader, R_LIST0 + variant, list_sql[variant]);
    if (!st) {
        if (no_such_table(kv->reader.db))
            return 0;
        seterr(err, errlen, "cannot list storage: %s", sqlite3_errmsg(kv->reader.db));
        return -1;
    }
    bind_bytes(st, 1, r->has_lo ? r->lo : empty_bytes, r->has_lo ? r->lo_len : 0);
    if (r->has_hi)
        bind_bytes(st, 2, r->hi, r->hi_len);
    src->st = st;
    if (db_source_next(src) < 0) {
        seterr(err, errlen, "cannot list storage: %s", sqlite3_errmsg(kv->reader.db));
        return -1;
    }
    return 0;
}

int store_kv_list(store_kv_t *kv, const store_list_opts_t *opts, store_row_cb cb, void *arg,
                  char *err, size_t errlen)
{
    if (kv->listing) {
        seterr(err, errlen, "storage list called from inside a list callback");
        return -1;
    }
    range_t r;
    if (!range_from_opts(opts, &r)) {
        free(r.succ);
        return 0;
    }
    bool reverse = opts->reverse;
    /* Sources by priority: newest writes win on an equal key. An overlay
     * that starts with delete_all hides everything older than itself. */
    source_t src[3];
    int nsrc = 0;
    bool older_hidden = kv->pending.cleared;
    ov_source_start(&src[nsrc++], &kv->pending, &r, reverse);
    if (!older_hidden && kv->in_flight) {
        ov_source_start(&src[nsrc++], &kv->inflight, &r, reverse);
        older_hidden = kv->inflight.cleared;
    }
    kv->listing = true;
    int rc = 0;
    source_t *db = NULL;
    if (!older_hidden) {
        db = &src[nsrc];
        if (db_source_start(kv, db, &r, reverse, err, errlen) < 0) {
            rc = -1;
            goto done;
        }
        if (db->st)
            nsrc++;
        else
            db = NULL;
    }
    size_t emitted = 0;
    for (;;) {
        /* The next key in walking order, and the newest source that has it. */
        int best = -1;
        for (int i = 0; i < nsrc; i++) {
            if (!src[i].has)
                continue;
            if (best < 0) {
                best = i;
                continue;
            }
            int c = store_key_cmp(src[i].k, src[i].klen, src[best].k, src[best].klen);
            if (reverse ? c > 0 : c < 0)
                best = i;
        }
        if (best < 0)
            break;
        source_t *b = &src[best];
        if (!b->del) {
            emitted++;
            if (cb(arg, b->k, b->klen, b->v, b->vlen) != 0)
                break;
            if (opts->limit && emitted >= opts->limit)
                break;
        }
        /* Advance every source positioned on this key; the SQLite source
         * last, since stepping it invalidates b's bytes when b is it. */
        const uint8_t *bk = b->k;
        size_t bklen = b->klen;
        bool advance_db = false;
        for (int i = 0; i < nsrc; i++) {
            if (!src[i].has || (i != best && store_key_cmp(src[i].k, src[i].klen, bk, bklen)))
                continue;
            if (&src[i] == db)
                advance_db = true;
            else
                ov_source_next(&src[i], &r, reverse);
        }
        if (advance_db && db_source_next(db) < 0) {
            seterr(err, errlen, "cannot list storage: %s", sqlite3_errmsg(kv->reader.db));
            rc = -1;
            break;
        }
    }
done:
    if (db)
        sqlite3_reset(db->st); /* ends the read transaction */
    kv->listing = false;
    free(r.succ);
    return rc;
}

/* ---- writes and commits -------------------------------------------------- */

/* Writes go to the cache too: the overlays answer for them until they are
 * committed, the cache afterwards. A failed commit clears it. */
void store_kv_put(store_kv_t *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen)
{
    store_ov_set(&kv->pending, key, klen, val, vlen, false);
    cache_set(kv, key, klen, val ? val : empty_bytes, vlen);
}

void store_kv_delete(store_kv_t *kv, const uint8_t *key, size_t klen)
{
    store_ov_set(&kv->pending, key, klen, NULL, 0, true);
    cache_set(kv, key, klen, NULL, 0);
}

void store_kv_delete_all(store_kv_t *kv)
{
    store_ov_clear(&kv->pending);
    cache_clear(kv);
}

bool store_kv_ready_to_commit(const store_kv_t *kv)
{
    return !kv->in_flight && !store_ov_empty(&kv->pending);
}

bool store_kv_in_flight(const store_kv_t *kv)
{
    return kv->in_flight;
}

void store_kv_take_batch(store_kv_t *kv)
{
    if (!store_kv_ready_to_commit(kv)) {
        fprintf(stderr, "dorm: store_kv_take_batch without a batch ready\n");
        abort();
    }
    /* Settle whether the file exists before the worker may create it, so
     * that reads during the flight never open a file being created. */
    if (kv->file_state == FILE_UNKNOWN && !kv->reader.db)
        kv->file_state = access(kv->path, F_OK) == 0 ? FILE_PRESENT : FILE_ABSENT;
    store_ov_move(&kv->inflight, &kv->pending);
    kv->in_flight = true;
}

static int step_done(conn_t *w, int idx, const char *sql)
{
    sqlite3_stmt *st = conn_stmt(w, idx, sql);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS _do_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO _do_meta(key, value) VALUES('format', 1);"
    "CREATE TABLE IF NOT EXISTS _do_kv(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;";

int store_kv_commit_work(store_kv_t *kv, char *err, size_t errlen)
{
    if (take_injected_failure()) {
        seterr(err, errlen, "injected commit failure");
        return -1;
    }
    if (!kv->writer.db && writer_open(kv, err, errlen) < 0)
        return -1;
    conn_t *w = &kv->writer;
    const store_ov_t *b = &kv->inflight;
    if (step_done(w, W_BEGIN, "BEGIN IMMEDIATE") < 0)
        goto fail;
    if (!kv->writer_schema && sqlite3_exec(w->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (b->cleared && step_done(w, W_CLEAR, "DELETE FROM _do_kv") < 0)
        goto fail;
    for (store_ov_node_t *n = store_ov_first(b); n; n = store_ov_next(n)) {
        sqlite3_stmt *st;
        if (n->del) {
            st = conn_stmt(w, W_DELETE, "DELETE FROM _do_kv WHERE key=?1");
        } else {
            st = conn_stmt(w, W_UPSERT,
                           "INSERT INTO _do_kv(key, value) VALUES(?1, ?2) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
        }
        if (!st)
            goto fail;
        bind_bytes(st, 1, store_ov_key(n), n->klen);
        if (!n->del)
            bind_bytes(st, 2, n->val, n->vlen);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if (step_done(w, W_COMMIT, "COMMIT") < 0)
        goto fail;
    kv->writer_schema = true;
    return 0;
fail:
    seterr(err, errlen, "cannot save storage to %s: %s", kv->path, sqlite3_errmsg(w->db));
    if (!sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    /* Start over with a fresh connection next time: whatever failed may
     * have left this one in a state we cannot see. */
    conn_close(w);
    return -1;
}

void store_kv_commit_done(store_kv_t *kv, bool ok)
{
    store_shard_t *s = kv->shard;
    store_ov_reset(&kv->inflight);
    kv->in_flight = false;
    if (ok) {
        kv->file_state = FILE_PRESENT;
    } else {
        store_ov_reset(&kv->pending);
        cache_clear(kv); /* it may hold values that never reached the disk */
        if (!kv->reader.db)
            kv->file_state = FILE_UNKNOWN; /* the failed attempt may have created it */
    }
    /* The worker may have opened or closed the writer: account for it here,
     * on the shard thread, which owns the count. */
    if (kv->writer.db && !kv->writer_counted) {
        kv->writer_counted = true;
        s->open_handles++;
    } else if (!kv->writer.db && kv->writer_counted) {
        kv->writer_counted = false;
        s->open_handles--;
    }
    lru_touch(kv);
    shard_evict(s, kv);
}
