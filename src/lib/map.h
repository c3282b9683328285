/* A hash map from byte-string keys to pointers (chained, power-of-two
 * buckets, grows at load 1). The map copies keys; values are borrowed.
 * Single-threaded. Depends on nothing but mem.h. */
#ifndef DORM_LIB_MAP_H
#define DORM_LIB_MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct map_entry {
    struct map_entry *next;
    uint64_t hash;
    size_t klen;
    void *value;
    uint8_t key[]; /* klen bytes, then a NUL */
} map_entry_t;

typedef struct map {
    map_entry_t **buckets;
    size_t nbuckets;
    size_t count;
} map_t;

void map_init(map_t *m);
void map_deinit(map_t *m); /* frees entries, not values */
uint64_t map_hash(const void *key, size_t klen);
void *map_get(const map_t *m, const void *key, size_t klen);
/* Sets key to value; returns the previous value or NULL. */
void *map_put(map_t *m, const void *key, size_t klen, void *value);
/* Removes key; returns its value or NULL. */
void *map_remove(map_t *m, const void *key, size_t klen);

/* Iteration: for (map_entry_t *e = map_first(m, &i); e; e = map_next(m, e, &i)).
 * Removing the current entry during iteration is not allowed; collect first. */
map_entry_t *map_first(const map_t *m, size_t *iter);
map_entry_t *map_next(const map_t *m, map_entry_t *e, size_t *iter);

#endif
