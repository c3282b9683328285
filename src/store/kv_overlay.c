/* The sorted in-memory overlay of writes not yet in SQLite (see store_int.h):
 * a skiplist with a backward link at level 0 so that it can be walked in both
 * directions. Pure data structure: no SQLite, no I/O, no threads. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"

static store_ov_node_t *node_new(int level, const uint8_t *key, size_t klen)
{
    store_ov_node_t *n =
        xmalloc(sizeof(*n) + (size_t)level * sizeof(store_ov_node_t *) + (klen ? klen : 1));
    n->prev = NULL;
    n->val = NULL;
    n->vlen = 0;
    n->klen = klen;
    n->del = false;
    n->level = (uint8_t)level;
    for (int i = 0; i < level; i++)
        n->next[i] = NULL;
    if (klen)
        memcpy((uint8_t *)&n->next[level], key, klen);
    return n;
}

void store_ov_init(store_ov_t *ov)
{
    ov->head = node_new(STORE_OV_MAX_LEVEL, NULL, 0);
    ov->tail = NULL;
    ov->level = 1;
    ov->count = 0;
    ov->bytes = 0;
    ov->cleared = false;
    ov->rng = 0x9e3779b9u;
}

static void free_entries(store_ov_t *ov)
{
    store_ov_node_t *n = ov->head->next[0];
    while (n) {
        store_ov_node_t *next = n->next[0];
        free(n->val);
        free(n);
        n = next;
    }
    for (int i = 0; i < STORE_OV_MAX_LEVEL; i++)
        ov->head->next[i] = NULL;
    ov->tail = NULL;
    ov->level = 1;
    ov->count = 0;
    ov->bytes = 0;
}

void store_ov_deinit(store_ov_t *ov)
{
    if (!ov->head)
        return;
    free_entries(ov);
    free(ov->head);
    ov->head = NULL;
}

void store_ov_reset(store_ov_t *ov)
{
    free_entries(ov);
    ov->cleared = false;
}

void store_ov_clear(store_ov_t *ov)
{
    free_entries(ov);
    ov->cleared = true;
}

void store_ov_move(store_ov_t *dst, store_ov_t *src)
{
    /* Swapping the structs moves everything in O(1); dst was empty, so src
     * ends up with an empty list and only its flag needs resetting. */
    store_ov_t tmp = *dst;
    *dst = *src;
    *src = tmp;
    store_ov_reset(src);
}

bool store_ov_empty(const store_ov_t *ov)
{
    return ov->count == 0 && !ov->cleared;
}

/* One level per two random bits that are both zero: p = 1/4, which keeps
 * the list short in links while lookups stay logarithmic. */
static int random_level(store_ov_t *ov)
{
    uint32_t x = ov->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ov->rng = x;
    int level = 1;
    while (level < STORE_OV_MAX_LEVEL && (x & 3) == 0) {
        level++;
        x >>= 2;
    }
    return level;
}

/* Fills update[i] with the last node at level i whose key is < key
 * (or <= key when after is set) and returns update[0]. */
static store_ov_node_t *descend(const store_ov_t *ov, const uint8_t *key, size_t klen, bool after,
                                store_ov_node_t **update)
{
    store_ov_node_t *x = ov->head;
    for (int i = ov->level - 1; i >= 0; i--) {
        for (;;) {
            store_ov_node_t *n = x->next[i];
            if (!n)
                break;
            int c = store_key_cmp(store_ov_key(n), n->klen, key, klen);
            if (c < 0 || (after && c == 0))
                x = n;
            else
                break;
        }
        if (update)
            update[i] = x;
    }
    return x;
}

store_ov_node_t *store_ov_find(const store_ov_t *ov, const uint8_t *key, size_t klen)
{
    store_ov_node_t *x = descend(ov, key, klen, false, NULL)->next[0];
    if (x && store_key_cmp(store_ov_key(x), x->klen, key, klen) == 0)
        return x;
    return NULL;
}

store_ov_node_t *store_ov_first(const store_ov_t *ov)
{
    return ov->head->next[0];
}

store_ov_node_t *store_ov_seek_ge(const store_ov_t *ov, const uint8_t *key, size_t klen,
                                  bool after)
{
    return descend(ov, key, klen, after, NULL)->next[0];
}

store_ov_node_t *store_ov_seek_lt(const store_ov_t *ov, const uint8_t *key, size_t klen)
{
    store_ov_node_t *x = descend(ov, key, klen, false, NULL);
    return x == ov->head ? NULL : x;
}

static void set_value(store_ov_t *ov, store_ov_node_t *n, const uint8_t *val, size_t vlen,
                      bool del)
{
    ov->bytes -= n->vlen;
    free(n->val);
    n->val = NULL;
    n->vlen = 0;
    n->del = del;
    if (!del && vlen) {
        n->val = xmemdup(val, vlen);
        n->vlen = vlen;
        ov->bytes += vlen;
    }
}

void store_ov_set(store_ov_t *ov, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, bool del)
{
    store_ov_node_t *update[STORE_OV_MAX_LEVEL];
    store_ov_node_t *x = descend(ov, key, klen, false, update)->next[0];
    if (x && store_key_cmp(store_ov_key(x), x->klen, key, klen) == 0) {
        set_value(ov, x, val, vlen, del);
        return;
    }
    int level = random_level(ov);
    if (level > ov->level) {
        for (int i = ov->level; i < level; i++)
            update[i] = ov->head;
        ov->level = level;
    }
    store_ov_node_t *n = node_new(level, key, klen);
    for (int i = 0; i < level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    n->prev = update[0] == ov->head ? NULL : update[0];
    if (n->next[0])
        n->next[0]->prev = n;
    else
        ov->tail = n;
    ov->count++;
    ov->bytes += klen;
    set_value(ov, n, val, vlen, del);
}
