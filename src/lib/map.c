/* Byte-string hash map (see map.h). FNV-1a 64 hashing: keys here are ids and
 * names chosen by tenants, so the table also caps chain walks by growing. */
#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

void map_init(map_t *m)
{
    m->nbuckets = 16;
    m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
    m->count = 0;
}

void map_deinit(map_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        map_entry_t *e = m->buckets[i];
        while (e) {
            map_entry_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

uint64_t map_hash(const void *key, size_t klen)
{
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < klen; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    /* Final mix so that low bits depend on every byte. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static map_entry_t **slot(const map_t *m, const void *key, size_t klen, uint64_t h)
{
    map_entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp) {
        map_entry_t *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return pp;
        pp = &e->next;
    }
    return pp;
}

static void grow(map_t *m)
{
    size_t n = m->nbuckets * 2;
    map_entry_t **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        map_entry_t *e = m->buckets[i];
        while (e) {
            map_entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *map_get(const map_t *m, const void *key, size_t klen)
{
    map_entry_t *e = *slot(m, key, klen, map_hash(key, klen));
    return e ? e->value : NULL;
}

void *map_put(map_t *m, const void *key, size_t klen, void *value)
{
    uint64_t h = map_hash(key, klen);
    map_entry_t **pp = slot(m, key, klen, h);
    if (*pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    map_entry_t *e = xmalloc(sizeof *e + klen + 1);
    e->next = NULL;
    e->hash = h;
    e->klen = klen;
    e->value = value;
    memcpy(e->key, key, klen);
    e->key[klen] = 0;
    *pp = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return NULL;
}

void *map_remove(map_t *m, const void *key, size_t klen)
{
    map_entry_t **pp = slot(m, key, klen, map_hash(key, klen));
    map_entry_t *e = *pp;
    if (!e)
        return NULL;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

map_entry_t *map_first(const map_t *m, size_t *iter)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        if (m->buckets[i]) {
            *iter = i;
            return m->buckets[i];
        }
    }
    return NULL;
}

map_entry_t *map_next(const map_t *m, map_entry_t *e, size_t *iter)
{
    if (e->next)
        return e->next;
    for (size_t i = *iter + 1; i < m->nbuckets; i++) {
        if (m->buckets[i]) {
            *iter = i;
            return m->buckets[i];
        }
    }
    return NULL;
}
