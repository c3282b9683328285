/* Per-instance storage on SQLite (see store.h): file layout, the instance's
 * one connection and its turn-long transaction, the key-value table, the
 * alarm, the cache of recent keys, the shard's LRU of open connections, and
 * the jobs that make commits durable and checkpoint the WAL. Speaks bytes
 * only: must not depend on JS, libuv or anything outside lib/, sqlite3 and
 * libc. The class's SQL is in sql.c. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/mem.h"
#include "store_int.h"

/* The version of our tables inside an instance file, kept in _do_meta. A
 * file written by a newer dorm is refused rather than misread. */
#define STORE_FORMAT 1
/* A reader of our own (a checkpoint, a backup) can hold a lock for a
 * moment; the shard thread waits at most this long for it. */
#define BUSY_TIMEOUT_MS 100
/* A checkpoint job is handed out each time the WAL grows by this many frames. */
#define CKPT_FRAMES 1000

struct store_shard {
    char *data_dir;
    store_durability_t durability;
    size_t max_open;
    size_t open_handles;
    store_kv_t *lru_head; /* kvs with an open connection, most recent first */
    store_kv_t *lru_tail;
};

enum { JOB_SYNC, JOB_CHECKPOINT };

struct store_job {
    int kind;
    char *path;              /* the database */
    store_durability_t durability;
    bool sync_main;          /* the file is new: sync it and its folder too */
    char *data_dir;          /* where the folders that may be new stop */
    char *also;              /* another file to sync first, or NULL */
};

struct cache_ent {
    cache_ent_t *prev, *next;
    bool absent;          /* the key is known not to exist */
    size_t vlen;
    uint8_t *val;
    size_t klen;
    uint8_t key[];
};

/* Per instance: small values of the keys it uses most (a counter, a
 * config object) stay in memory; big ones are read again when needed. */
#define CACHE_MAX_ENTRIES 64
#define CACHE_MAX_BYTES (32u * 1024)
#define CACHE_MAX_VALUE (8u * 1024)

static void txn_gone(store_kv_t *kv);

static atomic_int fail_commits;
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
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
 * would serialise the shards; nothing of ours reads them. This must run
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

/* ---- folders and their durability ------------------------------------------ */

/* A folder made for a new file is on disk only once its entry in its parent
 * is: these are the folders made whose parent has not been synced since.
 * Any sync job for a file below one of them syncs that parent first. The
 * set is small and touched only when folders are made: one lock for the
 * process is fine. */
#define MAX_UNSYNCED 64
static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static char *unsynced[MAX_UNSYNCED];
static int nunsynced;

static void note_new_dir(const char *dir)
{
    pthread_mutex_lock(&dirs_lock);
    if (nunsynced < MAX_UNSYNCED)
        unsynced[nunsynced++] = xstrdup(dir);
    pthread_mutex_unlock(&dirs_lock);
}

static int fsync_path(const char *path, bool dir, char *err, size_t errlen)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "cannot open %s to sync it: %s", path, strerror(errno));
        return -1;
    }
    int rc = dir ? fsync(fd) : fdatasync(fd);
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
    return slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
}

/* Makes the folders on the way to file durable: its own folder, and the
 * parent of every folder on the way that was made and not synced since. */
static int sync_dirs_for(const char *file, const char *data_dir, char *err, size_t errlen)
{
    char *dir = parent_of(file);
    int rc = fsync_path(dir, true, err, errlen);
    size_t root = strlen(data_dir);
    pthread_mutex_lock(&dirs_lock);
    bool overflow = nunsynced >= MAX_UNSYNCED;
    pthread_mutex_unlock(&dirs_lock);
    char *d = dir;
    while (rc == 0 && strlen(d) > root) {
        pthread_mutex_lock(&dirs_lock);
        int found = -1;
        for (int i = 0; i < nunsynced; i++)
            if (strcmp(unsynced[i], d) == 0)
                found = i;
        pthread_mutex_unlock(&dirs_lock);
        char *up = parent_of(d);
        if (found >= 0 || overflow) {
            rc = fsync_path(up, true, err, errlen);
            if (rc == 0 && found >= 0) {
                pthread_mutex_lock(&dirs_lock);
                for (int i = 0; i < nunsynced; i++) {
                    if (strcmp(unsynced[i], d) == 0) {
                        free(unsynced[i]);
                        unsynced[i] = unsynced[--nunsynced];
                        break;
                    }
                }
                pthread_mutex_unlock(&dirs_lock);
            }
        }
        if (d != dir)
            free(d);
        d = up;
    }
    if (d != dir)
        free(d);
    free(dir);
    return rc;
}

/* mkdir -p of dir (modified in place and restored), noting what it made. */
static int mkdir_p(char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) == 0) {
        note_new_dir(dir);
        return 0;
    }
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
    int rc = mkdir_p(dir, err, errlen);
    *slash = '/';
    if (rc < 0)
        return -1;
    if (mkdir(dir, 0700) == 0) {
        note_new_dir(dir);
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    seterr(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
    return -1;
}

static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
    char *dir = parent_of(path);
    int rc = mkdir_p(dir, err, errlen);
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

/* ---- the shard and its LRU ----------------------------------------------- */

store_shard_t *store_shard_new(const char *data_dir, store_durability_t durability,
                               size_t max_open_handles)
{
    store_sqlite_setup();
    store_shard_t *s = xcalloc(1, sizeof(*s));
    s->data_dir = xstrdup(data_dir);
    s->durability = durability;
    s->max_open = max_open_handles < 1 ? 1 : max_open_handles;
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

static void lru_touch(store_kv_t *kv)
{
    store_shard_t *s = kv->shard;
    if (kv->in_lru && s->lru_head == kv)
        return;
    lru_unlink(kv);
    if (!kv->db)
        return;
    kv->lru_next = s->lru_head;
    if (s->lru_head)
        s->lru_head->lru_prev = kv;
    s->lru_head = kv;
    if (!s->lru_tail)
        s->lru_tail = kv;
    kv->in_lru = true;
}

static void kv_close(store_kv_t *kv)
{
    if (!kv->db)
        return;
    if (kv->in_txn) {
        sqlite3_exec(kv->db, "ROLLBACK", NULL, NULL, NULL);
        txn_gone(kv);
    }
    for (int i = 0; i < N_STMT; i++) {
        if (kv->st[i])
            sqlite3_finalize(kv->st[i]);
        kv->st[i] = NULL;
    }
    sqlite3_close_v2(kv->db);
    kv->db = NULL;
    kv->shard->open_handles--;
    lru_unlink(kv);
}

/* Closes least recently used kvs until the shard is within its bound. Open
 * transactions, lists under way and `keep` stay; if nothing else is left the
 * bound is exceeded for a while rather than waiting. Closing is cheap: no
 * checkpoint, no sync (the connection never does either). */
static void shard_evict(store_shard_t *s, store_kv_t *keep)
{
    store_kv_t *kv = s->lru_tail;
    while (s->open_handles > s->max_open && kv) {
        store_kv_t *prev = kv->lru_prev;
        if (kv != keep && !kv->in_txn && !kv->listing)
            kv_close(kv);
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

static void cache_forget(store_kv_t *kv, const uint8_t *key, size_t klen)
{
    cache_ent_t *old = kv->cache.buckets ? map_get(&kv->cache, key, klen) : NULL;
    if (old)
        cache_drop(kv, old);
}

/* Remembers key's value (val NULL: absent). Values too big to keep only
 * drop what was known. */
static void cache_set(store_kv_t *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen)
{
    cache_forget(kv, key, klen);
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
    kv->id = xmalloc(id_len + 1);
    if (id_len)
        memcpy(kv->id, id, id_len);
    kv->id[id_len] = 0;
    kv->id_len = id_len;
    kv->file_state = FILE_UNKNOWN;
    return kv;
}

void store_kv_free(store_kv_t *kv)
{
    if (!kv)
        return;
    kv_close(kv);
    cache_clear(kv);
    if (kv->cache.buckets)
        map_deinit(&kv->cache);
    free(kv->path);
    free(kv->id);
    free(kv);
}

void store_kv_close(store_kv_t *kv)
{
    kv_close(kv);
    cache_clear(kv);
    kv->file_state = FILE_UNKNOWN;
    kv->schema = false;
}

const char *store_kv_path(const store_kv_t *kv)
{
    return kv->path;
}

/* ---- the connection -------------------------------------------------------- */

static bool no_such_table(sqlite3 *db)
{
    return strncmp(sqlite3_errmsg(db), "no such table", 13) == 0;
}

static int journal_mode_cb(void *arg, int ncol, char **vals, char **names)
{
    char *mode = arg;
    /* Only the first statement's row: later pragmas answer too. */
    if (ncol > 0 && vals[0] && !mode[0])
        snprintf(mode, 16, "%s", vals[0]);
    return 0;
}

static int wal_hook_cb(void *arg, sqlite3 *db, const char *name, int frames)
{
    store_kv_t *kv = arg;
    kv->wal_frames = frames;
    return SQLITE_OK;
}

int store_kv_open(store_kv_t *kv, bool create, bool *have, char *err, size_t errlen)
{
    *have = false;
    if (kv->db) {
        lru_touch(kv);
        *have = true;
        return 0;
    }
    if (kv->file_state == FILE_UNKNOWN)
        kv->file_state = access(kv->path, F_OK) == 0 ? FILE_PRESENT : FILE_ABSENT;
    if (kv->file_state == FILE_ABSENT && !create)
        return 0;
    bool creating = kv->file_state == FILE_ABSENT;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(kv->path, &db, flags, NULL);
    if (rc == SQLITE_CANTOPEN && create) {
        /* Most often the folders do not exist yet: make them and retry
         * once. Checking first would cost a syscall on every open. */
        sqlite3_close_v2(db);
        db = NULL;
        if (make_parent_dirs(kv->path, err, errlen) < 0)
            return -1;
        rc = sqlite3_open_v2(kv->path, &db, flags, NULL);
    }
    if (rc == SQLITE_CANTOPEN && !create && access(kv->path, F_OK) < 0 && errno == ENOENT) {
        sqlite3_close_v2(db);
        kv->file_state = FILE_ABSENT;
        return 0;
    }
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "cannot open storage file %s: %s", kv->path,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return -1;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* This connection never checkpoints and never syncs: jobs do both, on
     * worker threads (see store.h). */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    char mode[16] = "";
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-64; "
                     "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=65536",
                     journal_mode_cb, mode, NULL) != SQLITE_OK) {
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
     * means a new file: the first write creates the tables in its own
     * transaction. */
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
    kv->db = db;
    kv->schema = schema;
    kv->file_state = FILE_PRESENT;
    if (creating)
        kv->created = true;
    sqlite3_wal_hook(db, wal_hook_cb, kv);
    store_sql_attach(kv);
    kv->shard->open_handles++;
    lru_touch(kv);
    shard_evict(kv->shard, kv);
    *have = true;
    return 0;
}

/* The cached statement idx, prepared on first use. NULL on failure, with
 * the reason in sqlite3_errmsg(kv->db). */
static sqlite3_stmt *stmt(store_kv_t *kv, int idx, const char *sql)
{
    if (!kv->st[idx] &&
        sqlite3_prepare_v3(kv->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &kv->st[idx], NULL) !=
            SQLITE_OK)
        kv->st[idx] = NULL;
    return kv->st[idx];
}

static int bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t n)
{
    /* A NULL pointer would bind SQL NULL, not an empty blob. */
    return sqlite3_bind_blob64(st, i, p && n ? (const void *)p : (const void *)empty_bytes, n,
                               SQLITE_STATIC);
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS _do_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO _do_meta(key, value) VALUES('format', 1);"
    "CREATE TABLE IF NOT EXISTS _do_kv(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _do_alarm(id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT "
    "NULL);";

int store_kv_begin(store_kv_t *kv, char *err, size_t errlen)
{
    if (kv->in_txn)
        return 0;
    bool have;
    if (store_kv_open(kv, true, &have, err, errlen) < 0)
        return -1;
    /* Our own statements: the class's authorizer does not apply. */
    bool user = kv->user_sql;
    kv->user_sql = false;
    int rc = sqlite3_exec(kv->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK && !kv->schema) {
        rc = sqlite3_exec(kv->db, schema_sql, NULL, NULL, NULL);
        /* The id as addressed, for people who look at the file later. */
        sqlite3_stmt *st = NULL;
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(kv->db,
                                    "INSERT OR IGNORE INTO _do_meta(key, value) VALUES('id', ?1)",
                                    -1, &st, NULL);
        if (rc == SQLITE_OK) {
            bind_bytes(st, 1, kv->id, kv->id_len);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "cannot write to storage file %s: %s", kv->path,
               sqlite3_errmsg(kv->db));
        if (!sqlite3_get_autocommit(kv->db))
            sqlite3_exec(kv->db, "ROLLBACK", NULL, NULL, NULL);
        kv->user_sql = user;
        return -1;
    }
    kv->user_sql = user;
    kv->in_txn = true;
    kv->txn_wrote = false;
    if (!kv->schema) {
        kv->schema = true;
        kv->schema_new = true;
    }
    return 0;
}

/* The open transaction is gone (rolled back): so are the tables it made. */
static void txn_gone(store_kv_t *kv)
{
    kv->in_txn = false;
    kv->txn_wrote = false;
    kv->savepoints = 0;
    if (kv->schema_new)
        kv->schema = false;
    kv->schema_new = false;
    cache_clear(kv);
}

void store_kv_note_error(store_kv_t *kv)
{
    /* Some errors (a full disk, an I/O error) make SQLite roll the whole
     * transaction back: what the turn wrote before is gone, so the commit
     * must fail and everything that waited for it with it. */
    if (kv->in_txn && sqlite3_get_autocommit(kv->db)) {
        txn_gone(kv);
        kv->txn_lost = true;
    }
}

bool store_kv_dirty(const store_kv_t *kv)
{
    return (kv->in_txn && kv->txn_wrote) || kv->txn_lost;
}

/* ---- reads ------------------------------------------------------------------- */

int store_kv_get(store_kv_t *kv, const uint8_t *key, size_t klen, buf_t *val, bool *found,
                 bool no_cache, char *err, size_t errlen)
{
    buf_reset(val);
    *found = false;
    cache_ent_t *hit = cache_find(kv, key, klen);
    if (hit) {
        *found = !hit->absent;
        if (!hit->absent)
            buf_append(val, hit->val ? hit->val : empty_bytes, hit->vlen);
        if (no_cache)
            cache_drop(kv, hit);
        return 0;
    }
    bool have;
    if (store_kv_open(kv, false, &have, err, errlen) < 0)
        return -1;
    if (!have || !kv->schema) {
        if (!no_cache)
            cache_set(kv, key, klen, NULL, 0);
        return 0;
    }
    sqlite3_stmt *st = stmt(kv, S_GET, "SELECT value FROM _do_kv WHERE key=?1");
    if (!st) {
        seterr(err, errlen, "cannot read storage: %s", sqlite3_errmsg(kv->db));
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
        seterr(err, errlen, "cannot read storage: %s", sqlite3_errmsg(kv->db));
        sqlite3_reset(st);
        store_kv_note_error(kv);
        return -1;
    }
    sqlite3_reset(st);
    if (!no_cache)
        cache_set(kv, key, klen, *found ? (val->data ? val->data : empty_bytes) : NULL,
                  val->len);
    return 0;
}

/* ---- list ----------------------------------------------------------------------- */

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

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

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
        int c = r->has_lo ? key_cmp(o->prefix, o->prefix_len, r->lo, r->lo_len) : 1;
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
            if (!r->has_hi || key_cmp(succ, succ_len, r->hi, r->hi_len) < 0) {
                r->hi = succ;
                r->hi_len = succ_len;
                r->has_hi = true;
            }
        }
    }
    if (r->has_lo && r->has_hi && key_cmp(r->lo, r->lo_len, r->hi, r->hi_len) >= 0)
        return false;
    return true;
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
    bool have;
    if (store_kv_open(kv, false, &have, err, errlen) < 0) {
        free(r.succ);
        return -1;
    }
    if (!have || !kv->schema) {
        free(r.succ);
        return 0;
    }
    /* Every key is a BLOB and x'' is the smallest BLOB, so "no lower bound"
     * is ">= x''" and one family of statements covers every range. */
    int variant = (r.has_lo && r.lo_excl ? 1 : 0) + (r.has_hi ? 2 : 0) + (opts->reverse ? 4 : 0);
    sqlite3_stmt *st = stmt(kv, S_LIST0 + variant, list_sql[variant]);
    if (!st) {
        seterr(err, errlen, "cannot list storage: %s", sqlite3_errmsg(kv->db));
        free(r.succ);
        return -1;
    }
    bind_bytes(st, 1, r.has_lo ? r.lo : empty_bytes, r.has_lo ? r.lo_len : 0);
    if (r.has_hi)
        bind_bytes(st, 2, r.hi, r.hi_len);
    kv->listing = true;
    int rc = 0;
    size_t emitted = 0;
    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            seterr(err, errlen, "cannot list storage: %s", sqlite3_errmsg(kv->db));
            rc = -1;
            break;
        }
        const uint8_t *k = sqlite3_column_blob(st, 0);
        size_t klen = (size_t)sqlite3_column_bytes(st, 0);
        const uint8_t *v = sqlite3_column_blob(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
        if (cb(arg, k ? k : empty_bytes, klen, v ? v : empty_bytes, vlen) != 0)
            break;
        if (opts->limit && ++emitted >= opts->limit)
            break;
    }
    sqlite3_reset(st);
    kv->listing = false;
    if (rc < 0)
        store_kv_note_error(kv);
    free(r.succ);
    return rc;
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Runs a prepared write statement to completion, keeping the transaction
 * usable when it fails. */
static int run_write(store_kv_t *kv, sqlite3_stmt *st, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot write to storage: %s", sqlite3_errmsg(kv->db));
        store_kv_note_error(kv);
        return -1;
    }
    return 0;
}

int store_kv_put(store_kv_t *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                 size_t vlen, bool no_cache, char *err, size_t errlen)
{
    if (store_kv_begin(kv, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = stmt(kv, S_UPSERT,
                            "INSERT INTO _do_kv(key, value) VALUES(?1, ?2) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    if (!st) {
        seterr(err, errlen, "cannot write to storage: %s", sqlite3_errmsg(kv->db));
        return -1;
    }
    bind_bytes(st, 1, key, klen);
    bind_bytes(st, 2, val, vlen);
    if (run_write(kv, st, err, errlen) < 0)
        return -1;
    kv->txn_wrote = true;
    if (no_cache)
        cache_forget(kv, key, klen);
    else
        cache_set(kv, key, klen, val ? val : empty_bytes, vlen);
    return 0;
}

int store_kv_delete(store_kv_t *kv, const uint8_t *key, size_t klen, bool *existed, char *err,
                    size_t errlen)
{
    *existed = false;
    cache_ent_t *hit = cache_find(kv, key, klen);
    if (hit && hit->absent)
        return 0; /* known absent: nothing to write */
    if (!kv->db && kv->file_state != FILE_PRESENT) {
        if (kv->file_state == FILE_UNKNOWN)
            kv->file_state = access(kv->path, F_OK) == 0 ? FILE_PRESENT : FILE_ABSENT;
        if (kv->file_state == FILE_ABSENT)
            return 0; /* an instance that never wrote: no file for a no-op */
    }
    if (store_kv_begin(kv, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = stmt(kv, S_DELETE, "DELETE FROM _do_kv WHERE key=?1");
    if (!st) {
        seterr(err, errlen, "cannot write to storage: %s", sqlite3_errmsg(kv->db));
        return -1;
    }
    bind_bytes(st, 1, key, klen);
    if (run_write(kv, st, err, errlen) < 0)
        return -1;
    *existed = sqlite3_changes(kv->db) > 0;
    if (*existed)
        kv->txn_wrote = true;
    cache_set(kv, key, klen, NULL, 0);
    return 0;
}

int store_kv_delete_all(store_kv_t *kv, char *err, size_t errlen)
{
    cache_clear(kv);
    if (!kv->db && kv->file_state != FILE_PRESENT) {
        if (kv->file_state == FILE_UNKNOWN)
            kv->file_state = access(kv->path, F_OK) == 0 ? FILE_PRESENT : FILE_ABSENT;
        if (kv->file_state == FILE_ABSENT)
            return 0;
    }
    if (store_kv_begin(kv, err, errlen) < 0)
        return -1;
    sqlite3_stmt *a = stmt(kv, S_CLEAR, "DELETE FROM _do_kv");
    sqlite3_stmt *b = stmt(kv, S_ALARM_DEL, "DELETE FROM _do_alarm");
    if (!a || !b) {
        seterr(err, errlen, "cannot write to storage: %s", sqlite3_errmsg(kv->db));
        return -1;
    }
    if (run_write(kv, a, err, errlen) < 0 || run_write(kv, b, err, errlen) < 0)
        return -1;
    kv->txn_wrote = true;
    return 0;
}

/* ---- the alarm ----------------------------------------------------------------------------- */

int store_kv_alarm_get(store_kv_t *kv, int64_t *ms, char *err, size_t errlen)
{
    *ms = -1;
    bool have;
    if (store_kv_open(kv, false, &have, err, errlen) < 0)
        return -1;
    if (!have || !kv->schema)
        return 0;
    sqlite3_stmt *st = stmt(kv, S_ALARM_GET, "SELECT at FROM _do_alarm WHERE id=1");
    if (!st) {
        seterr(err, errlen, "cannot read the alarm: %s", sqlite3_errmsg(kv->db));
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ms = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        seterr(err, errlen, "cannot read the alarm: %s", sqlite3_errmsg(kv->db));
        return -1;
    }
    return 0;
}

int store_kv_alarm_set(store_kv_t *kv, int64_t ms, char *err, size_t errlen)
{
    if (ms < 0 && !kv->db && kv->file_state != FILE_PRESENT) {
        if (kv->file_state == FILE_UNKNOWN)
            kv->file_state = access(kv->path, F_OK) == 0 ? FILE_PRESENT : FILE_ABSENT;
        if (kv->file_state == FILE_ABSENT)
            return 0;
    }
    if (store_kv_begin(kv, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = ms >= 0 ? stmt(kv, S_ALARM_SET,
                                      "INSERT INTO _do_alarm(id, at) VALUES(1, ?1) "
                                      "ON CONFLICT(id) DO UPDATE SET at=excluded.at")
                               : stmt(kv, S_ALARM_DEL, "DELETE FROM _do_alarm");
    if (!st) {
        seterr(err, errlen, "cannot write the alarm: %s", sqlite3_errmsg(kv->db));
        return -1;
    }
    if (ms >= 0)
        sqlite3_bind_int64(st, 1, ms);
    if (run_write(kv, st, err, errlen) < 0)
        return -1;
    kv->txn_wrote = true;
    return 0;
}

/* ---- the class's transactions ------------------------------------------------------------- */

static int savepoint_stmt(store_kv_t *kv, const char *fmt, int depth, char *err, size_t errlen)
{
    char sql[96];
    snprintf(sql, sizeof sql, fmt, depth, depth);
    bool user = kv->user_sql;
    kv->user_sql = false;
    int rc = sqlite3_exec(kv->db, sql, NULL, NULL, NULL);
    kv->user_sql = user;
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "storage transaction failed: %s", sqlite3_errmsg(kv->db));
        store_kv_note_error(kv);
        return -1;
    }
    return 0;
}

int store_kv_savepoint(store_kv_t *kv, char *err, size_t errlen)
{
    if (store_kv_begin(kv, err, errlen) < 0)
        return -1;
    if (savepoint_stmt(kv, "SAVEPOINT dorm_t%d", kv->savepoints, err, errlen) < 0)
        return -1;
    kv->savepoints++;
    return 0;
}

int store_kv_savepoint_depth(const store_kv_t *kv)
{
    return kv->savepoints;
}

int store_kv_release(store_kv_t *kv, char *err, size_t errlen)
{
    if (!kv->in_txn || kv->savepoints == 0) {
        seterr(err, errlen, "storage transaction failed: no transaction is open");
        return -1;
    }
    kv->savepoints--;
    return savepoint_stmt(kv, "RELEASE dorm_t%d", kv->savepoints, err, errlen);
}

int store_kv_rollback(store_kv_t *kv, char *err, size_t errlen)
{
    if (!kv->in_txn || kv->savepoints == 0) {
        seterr(err, errlen, "storage transaction failed: no transaction is open");
        return -1;
    }
    kv->savepoints--;
    /* The cache may hold values the rollback undoes. */
    cache_clear(kv);
    return savepoint_stmt(kv, "ROLLBACK TO dorm_t%d; RELEASE dorm_t%d", kv->savepoints, err,
                          errlen);
}

void store_kv_rollback_all(store_kv_t *kv)
{
    if (!kv->in_txn || kv->savepoints == 0)
        return;
    kv->savepoints = 0;
    cache_clear(kv);
    savepoint_stmt(kv, "ROLLBACK TO dorm_t%d; RELEASE dorm_t%d", 0, NULL, 0);
}

/* ---- the end of a turn --------------------------------------------------------------------- */

static store_job_t *job_new(store_kv_t *kv, int kind)
{
    store_job_t *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->path = xstrdup(kv->path);
    j->durability = kv->shard->durability;
    j->data_dir = xstrdup(kv->shard->data_dir);
    return j;
}

int store_kv_commit(store_kv_t *kv, store_job_t **sync, store_job_t **ckpt, char *err,
                    size_t errlen)
{
    *sync = NULL;
    *ckpt = NULL;
    if (kv->txn_lost) {
        kv->txn_lost = false;
        seterr(err, errlen, "the transaction of %s was rolled back by SQLite after an error",
               kv->path);
        return -1;
    }
    if (!kv->in_txn)
        return 0;
    if (kv->savepoints > 0)
        return 0; /* a transaction of the class is still open: commit later */
    bool wrote = kv->txn_wrote;
    kv->in_txn = false;
    kv->txn_wrote = false;
    bool injected = wrote && take_injected_failure();
    int rc = injected ? SQLITE_ERROR : sqlite3_exec(kv->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (injected)
            seterr(err, errlen, "injected commit failure");
        else
            seterr(err, errlen, "cannot save storage to %s: %s", kv->path,
                   sqlite3_errmsg(kv->db));
        if (!sqlite3_get_autocommit(kv->db))
            sqlite3_exec(kv->db, "ROLLBACK", NULL, NULL, NULL);
        kv->in_txn = true;
        txn_gone(kv);
        return -1;
    }
    kv->schema = true;
    kv->schema_new = false;
    if (!wrote)
        return 0;
    int committed = 1;
    if (kv->shard->durability == STORE_DURABILITY_FSYNC) {
        *sync = job_new(kv, JOB_SYNC);
        (*sync)->sync_main = kv->created;
        kv->created = false;
    }
    if (kv->wal_frames < kv->ckpt_at)
        kv->ckpt_at = 0; /* the WAL restarted */
    if (kv->wal_frames - kv->ckpt_at >= CKPT_FRAMES) {
        *ckpt = job_new(kv, JOB_CHECKPOINT);
        kv->ckpt_at = kv->wal_frames;
    }
    return committed;
}

static int run_checkpoint(store_job_t *j, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(j->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "cannot open %s to checkpoint it: %s", j->path,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 2000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    /* This connection may write the main file: with full syncing it syncs
     * the WAL before and the file after. */
    sqlite3_exec(db,
                 j->durability == STORE_DURABILITY_FSYNC ? "PRAGMA synchronous=FULL"
                                                         : "PRAGMA synchronous=OFF",
                 NULL, NULL, NULL);
    int log = 0, done = 0;
    rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        seterr(err, errlen, "cannot checkpoint %s: %s", j->path, sqlite3_errmsg(db));
    sqlite3_close_v2(db);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : -1;
}

int store_job_run(store_job_t *j, char *err, size_t errlen)
{
    if (j->kind == JOB_CHECKPOINT)
        return run_checkpoint(j, err, errlen);
    /* fsync works on the file, whichever descriptor names it: our own
     * descriptor of the WAL makes what the connection wrote durable. */
    if (j->also && fsync_path(j->also, false, err, errlen) < 0)
        return -1;
    buf_t wal = BUF_INIT;
    buf_printf(&wal, "%s-wal", j->path);
    int rc = fsync_path(buf_cstr(&wal), false, err, errlen);
    buf_deinit(&wal);
    if (rc == 0 && j->sync_main) {
        rc = fsync_path(j->path, false, err, errlen);
        if (rc == 0)
            rc = sync_dirs_for(j->path, j->data_dir, err, errlen);
    }
    return rc;
}

void store_job_free(store_job_t *j)
{
    if (!j)
        return;
    free(j->path);
    free(j->data_dir);
    free(j->also);
    free(j);
}

void store_job_also_sync(store_job_t *j, const char *path)
{
    free(j->also);
    j->also = xstrdup(path);
}

store_job_t *store_checkpoint_job(const char *path, store_durability_t durability)
{
    store_job_t *j = xcalloc(1, sizeof *j);
    j->kind = JOB_CHECKPOINT;
    j->path = xstrdup(path);
    j->durability = durability;
    j->data_dir = xstrdup("");
    return j;
}
