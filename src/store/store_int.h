/* Private to src/store/: the in-memory overlay of writes that are not yet in
 * SQLite (a pending batch or an in-flight one). Users of the store never see
 * this header. Depends on nothing but lib/.
 *
 * An overlay is a skiplist ordered by key bytes (memcmp, then shorter first,
 * which is SQLite's BLOB order), so that a lookup is O(log n) and merging it
 * with a SQLite range scan is a linear walk in either direction. Each entry
 * is a put (key, value) or a delete (key). `cleared` records that a
 * delete_all came before the entries: everything older than this overlay is
 * gone. An overlay is used by one thread at a time; while a batch is in
 * flight its overlay is not modified, so the shard thread and the commit
 * worker may both read it. */
#ifndef DORM_STORE_STORE_INT_H
#define DORM_STORE_STORE_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STORE_OV_MAX_LEVEL 24

typedef struct store_ov_node {
    struct store_ov_node *prev; /* level-0 predecessor, NULL for the first entry */
    uint8_t *val;               /* NULL when vlen is 0 or for a delete */
    size_t vlen;
    size_t klen;
    bool del;
    uint8_t level;
    struct store_ov_node *next[]; /* `level` forward links; the key bytes follow them */
} store_ov_node_t;

typedef struct store_ov {
    store_ov_node_t *head; /* sentinel with STORE_OV_MAX_LEVEL links */
    store_ov_node_t *tail; /* last entry, NULL when empty */
    int level;             /* levels in use, >= 1 */
    size_t count;          /* entries (puts and deletes) */
    size_t bytes;          /* key and value bytes held, for callers that bound a batch */
    bool cleared;          /* a delete_all precedes the entries */
    uint32_t rng;          /* level choice; deterministic per overlay */
} store_ov_t;

static inline const uint8_t *store_ov_key(const store_ov_node_t *n)
{
    return (const uint8_t *)&n->next[n->level];
}

/* memcmp order, shorter first on a tie: SQLite's order for BLOBs. */
static inline int store_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

void store_ov_init(store_ov_t *ov);
void store_ov_deinit(store_ov_t *ov);
/* Drops every entry and the cleared flag: the overlay is as after init. */
void store_ov_reset(store_ov_t *ov);
/* Moves src's entries and flag into dst (which must be empty); src is reset. */
void store_ov_move(store_ov_t *dst, store_ov_t *src);
bool store_ov_empty(const store_ov_t *ov); /* no entries and not cleared */

/* Records a put (del=false) or a delete of key, replacing an older entry. */
void store_ov_set(store_ov_t *ov, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, bool del);
/* Records a delete_all: drops the entries and sets cleared. */
void store_ov_clear(store_ov_t *ov);

store_ov_node_t *store_ov_find(const store_ov_t *ov, const uint8_t *key, size_t klen);
store_ov_node_t *store_ov_first(const store_ov_t *ov);
/* The first entry > key (after=true) or >= key (after=false); NULL if none. */
store_ov_node_t *store_ov_seek_ge(const store_ov_t *ov, const uint8_t *key, size_t klen,
                                  bool after);
/* The last entry < key; NULL if none. */
store_ov_node_t *store_ov_seek_lt(const store_ov_t *ov, const uint8_t *key, size_t klen);

/* Configures and initialises SQLite once per process (store.c); every
 * entry point of store/ that opens a database calls it first. */
void store_sqlite_setup(void);

static inline store_ov_node_t *store_ov_next(const store_ov_node_t *n)
{
    return n->next[0];
}

#endif
