/* Unit tests of src/store/: the per-instance key-value store (overlay,
 * commits, list merging against a brute-force model, file layout, LRU,
 * failure injection, a real worker thread) and the control catalog.
 * Self-contained: builds against src/store, src/lib, sqlite3 and libcrypto. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/buf.h"
#include "store/catalog.h"
#include "store/store.h"
#include "store/store_int.h"

/* ---- helpers ------------------------------------------------------------- */

static char tmp_root[64];
static int dir_counter;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 ? errno : 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/dorm-test-store-XXXXXX");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    rm_rf(tmp_root);
    return 0;
}

/* A fresh data directory for one test. */
static char *new_data_dir(void)
{
    char *p = malloc(128);
    snprintf(p, 128, "%s/t%d", tmp_root, ++dir_counter);
    assert_int_equal(mkdir(p, 0700), 0);
    return p;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static store_kv_t *kv_str(store_shard_t *s, const char *id)
{
    store_kv_t *kv = store_kv_new(s, "app", "counter", (const uint8_t *)id, strlen(id));
    assert_non_null(kv);
    return kv;
}

static void put_s(store_kv_t *kv, const char *k, const char *v)
{
    store_kv_put(kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
}

static void del_s(store_kv_t *kv, const char *k)
{
    store_kv_delete(kv, (const uint8_t *)k, strlen(k));
}

/* Asserts the value of k (NULL: absent). */
static void expect_s(store_kv_t *kv, const char *k, const char *want)
{
    buf_t v = BUF_INIT;
    bool found = true;
    char err[256] = "";
    int rc = store_kv_get(kv, (const uint8_t *)k, strlen(k), &v, &found, err, sizeof(err));
    if (rc != 0)
        fail_msg("get %s: %s", k, err);
    if (!want) {
        if (found)
            fail_msg("key '%s' should be absent, has '%s'", k, buf_cstr(&v));
    } else {
        if (!found)
            fail_msg("key '%s' should be '%s', is absent", k, want);
        assert_int_equal(v.len, strlen(want));
        assert_memory_equal(v.data, want, v.len);
    }
    buf_deinit(&v);
}

static void commit(store_kv_t *kv)
{
    char err[256] = "";
    assert_true(store_kv_ready_to_commit(kv));
    store_kv_take_batch(kv);
    int rc = store_kv_commit_work(kv, err, sizeof(err));
    if (rc != 0)
        fail_msg("commit: %s", err);
    store_kv_commit_done(kv, true);
}

/* ---- overlay ------------------------------------------------------------- */

static void test_overlay_order(void **state)
{
    store_ov_t ov;
    store_ov_init(&ov);
    const char *keys[] = {"b", "a", "ab", "", "b\xff", "\xff", "aa", "a"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        store_ov_set(&ov, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)"v", 1,
                     i == 3);
    assert_int_equal(ov.count, 7); /* "a" replaced */
    const char *want[] = {"", "a", "aa", "ab", "b", "b\xff", "\xff"};
    size_t i = 0;
    for (store_ov_node_t *n = store_ov_first(&ov); n; n = store_ov_next(n), i++) {
        assert_int_equal(n->klen, strlen(want[i]));
        assert_memory_equal(store_ov_key(n), want[i], n->klen);
    }
    assert_int_equal(i, 7);
    i = 7;
    for (store_ov_node_t *n = ov.tail; n; n = n->prev) {
        i--;
        assert_int_equal(n->klen, strlen(want[i]));
    }
    assert_int_equal(i, 0);
    store_ov_node_t *n = store_ov_seek_ge(&ov, (const uint8_t *)"ab", 2, true);
    assert_memory_equal(store_ov_key(n), "b", 1);
    n = store_ov_seek_ge(&ov, (const uint8_t *)"ab", 2, false);
    assert_memory_equal(store_ov_key(n), "ab", 2);
    n = store_ov_seek_lt(&ov, (const uint8_t *)"a", 1);
    assert_int_equal(n->klen, 0);
    assert_null(store_ov_seek_lt(&ov, (const uint8_t *)"", 0));
    assert_true(store_ov_find(&ov, (const uint8_t *)"", 0)->del);
    store_ov_clear(&ov);
    assert_true(ov.cleared);
    assert_null(store_ov_first(&ov));
    assert_false(store_ov_empty(&ov));
    store_ov_deinit(&ov);
}

/* ---- get/put/delete through pending, in-flight and committed ------------- */

static void test_states(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "alice");
    char err[256];

    expect_s(kv, "a", NULL);
    assert_false(store_kv_ready_to_commit(kv));
    put_s(kv, "a", "1");
    expect_s(kv, "a", "1"); /* pending */
    assert_true(store_kv_ready_to_commit(kv));
    store_kv_take_batch(kv);
    assert_true(store_kv_in_flight(kv));
    assert_false(store_kv_ready_to_commit(kv));
    expect_s(kv, "a", "1"); /* in flight */
    put_s(kv, "a", "2");
    expect_s(kv, "a", "2"); /* pending over in-flight */
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), 0);
    expect_s(kv, "a", "2");
    store_kv_commit_done(kv, true);
    expect_s(kv, "a", "2");
    commit(kv);
    expect_s(kv, "a", "2"); /* committed, read from SQLite */
    assert_true(exists(store_kv_path(kv)));

    /* delete in each state */
    del_s(kv, "a");
    expect_s(kv, "a", NULL);
    store_kv_take_batch(kv);
    expect_s(kv, "a", NULL);
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), 0);
    store_kv_commit_done(kv, true);
    expect_s(kv, "a", NULL);

    /* delete_all hides everything older, pending and in flight */
    put_s(kv, "b", "B");
    put_s(kv, "c", "C");
    commit(kv);
    store_kv_delete_all(kv);
    expect_s(kv, "b", NULL);
    put_s(kv, "d", "D");
    expect_s(kv, "d", "D");
    assert_true(store_kv_ready_to_commit(kv));
    store_kv_take_batch(kv);
    expect_s(kv, "b", NULL);
    expect_s(kv, "d", "D");
    put_s(kv, "e", "E");
    put_s(kv, "c", "C2");
    expect_s(kv, "c", "C2");
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), 0);
    expect_s(kv, "b", NULL);
    store_kv_commit_done(kv, true);
    expect_s(kv, "b", NULL);
    expect_s(kv, "c", "C2");
    commit(kv);
    expect_s(kv, "b", NULL);
    expect_s(kv, "c", "C2");
    expect_s(kv, "d", "D");
    expect_s(kv, "e", "E");

    /* a delete_all alone is a batch */
    store_kv_delete_all(kv);
    commit(kv);
    expect_s(kv, "c", NULL);
    expect_s(kv, "d", NULL);

    /* empty key and empty value are ordinary */
    store_kv_put(kv, (const uint8_t *)"", 0, (const uint8_t *)"", 0);
    commit(kv);
    buf_t v = BUF_INIT;
    bool found = false;
    assert_int_equal(store_kv_get(kv, (const uint8_t *)"", 0, &v, &found, err, sizeof(err)), 0);
    assert_true(found);
    assert_int_equal(v.len, 0);
    buf_deinit(&v);

    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* Take a batch, write more and read, then commit and read again. */
static void test_interleave(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = kv_str(s, "bob");
    char err[256];
    put_s(kv, "x", "1");
    put_s(kv, "y", "1");
    commit(kv);

    put_s(kv, "x", "2");
    del_s(kv, "y");
    store_kv_take_batch(kv);
    put_s(kv, "z", "3");
    del_s(kv, "x");
    expect_s(kv, "x", NULL);
    expect_s(kv, "y", NULL);
    expect_s(kv, "z", "3");
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), 0);
    expect_s(kv, "x", NULL);
    expect_s(kv, "z", "3");
    store_kv_commit_done(kv, true);
    expect_s(kv, "x", NULL);
    expect_s(kv, "y", NULL);
    expect_s(kv, "z", "3");
    assert_true(store_kv_ready_to_commit(kv));
    commit(kv);
    expect_s(kv, "x", NULL);
    expect_s(kv, "y", NULL);
    expect_s(kv, "z", "3");
    assert_int_equal(store_kv_pending_bytes(kv), 0);
    put_s(kv, "k", "vv");
    assert_int_equal(store_kv_pending_bytes(kv), 3);
    store_kv_free(kv); /* pending writes are discarded */

    kv = kv_str(s, "bob");
    expect_s(kv, "k", NULL);
    expect_s(kv, "z", "3");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- list against a brute-force model ------------------------------------ */

typedef struct entry {
    uint8_t *k, *v;
    size_t klen, vlen;
} entry_t;

typedef struct model {
    entry_t *e;
    size_t n, cap;
} model_t;

static int ecmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    /* Written independently of store_key_cmp on purpose. */
    for (size_t i = 0; i < alen && i < blen; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return alen == blen ? 0 : alen < blen ? -1 : 1;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    if (n)
        memcpy(q, p, n);
    return q;
}

static void model_set(model_t *m, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    size_t i = 0;
    while (i < m->n && ecmp(m->e[i].k, m->e[i].klen, k, klen) < 0)
        i++;
    if (i < m->n && ecmp(m->e[i].k, m->e[i].klen, k, klen) == 0) {
        free(m->e[i].v);
        m->e[i].v = dup_bytes(v, vlen);
        m->e[i].vlen = vlen;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->e = realloc(m->e, m->cap * sizeof(entry_t));
    }
    memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof(entry_t));
    m->e[i] = (entry_t){dup_bytes(k, klen), dup_bytes(v, vlen), klen, vlen};
    m->n++;
}

static void model_del(model_t *m, const uint8_t *k, size_t klen)
{
    for (size_t i = 0; i < m->n; i++) {
        if (ecmp(m->e[i].k, m->e[i].klen, k, klen) == 0) {
            free(m->e[i].k);
            free(m->e[i].v);
            memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(entry_t));
            m->n--;
            return;
        }
    }
}

static void model_clear(model_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    m->n = 0;
}

static void model_copy(model_t *dst, const model_t *src)
{
    model_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        model_set(dst, src->e[i].k, src->e[i].klen, src->e[i].v, src->e[i].vlen);
}

static void model_free(model_t *m)
{
    model_clear(m);
    free(m->e);
    memset(m, 0, sizeof(*m));
}

static bool model_match(const store_list_opts_t *o, const entry_t *e)
{
    if (o->has_start) {
        int c = ecmp(e->k, e->klen, o->start, o->start_len);
        if (o->start_after ? c <= 0 : c < 0)
            return false;
    }
    if (o->has_end && ecmp(e->k, e->klen, o->end, o->end_len) >= 0)
        return false;
    if (o->has_prefix &&
        (e->klen < o->prefix_len || (o->prefix_len && memcmp(e->k, o->prefix, o->prefix_len))))
        return false;
    return true;
}

/* The expected list result, into out (a model used as an ordered array). */
static void model_list(const model_t *m, const store_list_opts_t *o, model_t *out)
{
    model_clear(out);
    size_t taken = 0;
    for (size_t j = 0; j < m->n; j++) {
        size_t i = o->reverse ? m->n - 1 - j : j;
        if (!model_match(o, &m->e[i]))
            continue;
        /* append in walk order (not sorted) */
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->e = realloc(out->e, out->cap * sizeof(entry_t));
        }
        out->e[out->n++] = (entry_t){dup_bytes(m->e[i].k, m->e[i].klen),
                                     dup_bytes(m->e[i].v, m->e[i].vlen), m->e[i].klen,
                                     m->e[i].vlen};
        if (o->limit && ++taken >= o->limit)
            break;
    }
}

static int collect_cb(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    model_t *out = arg;
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->e = realloc(out->e, out->cap * sizeof(entry_t));
    }
    out->e[out->n++] = (entry_t){dup_bytes(k, klen), dup_bytes(v, vlen), klen, vlen};
    return 0;
}

static void print_bytes(const char *label, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s'", label);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x", p[i]);
    fprintf(stderr, "'");
}

static void check_list(store_kv_t *kv, const model_t *m, const store_list_opts_t *o)
{
    model_t want = {0}, got = {0};
    char err[256] = "";
    model_list(m, o, &want);
    if (store_kv_list(kv, o, collect_cb, &got, err, sizeof(err)) != 0)
        fail_msg("list: %s", err);
    bool same = want.n == got.n;
    for (size_t i = 0; same && i < want.n; i++)
        same = ecmp(want.e[i].k, want.e[i].klen, got.e[i].k, got.e[i].klen) == 0 &&
               ecmp(want.e[i].v, want.e[i].vlen, got.e[i].v, got.e[i].vlen) == 0;
    if (!same) {
        fprintf(stderr, "list mismatch: reverse=%d limit=%zu", o->reverse, o->limit);
        if (o->has_start)
            print_bytes(o->start_after ? " startAfter=" : " start=", o->start, o->start_len);
        if (o->has_end)
            print_bytes(" end=", o->end, o->end_len);
        if (o->has_prefix)
            print_bytes(" prefix=", o->prefix, o->prefix_len);
        fprintf(stderr, "\n want %zu:", want.n);
        for (size_t i = 0; i < want.n; i++)
            print_bytes(" ", want.e[i].k, want.e[i].klen);
        fprintf(stderr, "\n got %zu:", got.n);
        for (size_t i = 0; i < got.n; i++)
            print_bytes(" ", got.e[i].k, got.e[i].klen);
        fprintf(stderr, "\n");
    }
    model_free(&want);
    model_free(&got);
    assert_true(same);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

/* Pieces whose concatenations give keys that are prefixes of each other,
 * multibyte UTF-8, NUL and 0xff bytes. */
static const char *const pieces[] = {"a", "b", "ab", "z", "\xc3\xa9", "\xe6\x97\xa5",
                                     "\xf0\x9f\x98\x80", "\xff", "\x00", "A", "~"};
#define NPIECES (sizeof(pieces) / sizeof(pieces[0]))

static size_t piece_len(size_t i)
{
    return strcmp(pieces[i], "") == 0 ? 1 : strlen(pieces[i]); /* "\x00" is one byte */
}

static void random_key(uint8_t *out, size_t *len)
{
    size_t n = 0, parts = rnd(4); /* 0..3 pieces: the empty key is possible */
    for (size_t i = 0; i < parts; i++) {
        size_t p = rnd(NPIECES);
        memcpy(out + n, pieces[p], piece_len(p));
        n += piece_len(p);
    }
    *len = n;
}

/* Random options over keys from the pool and random cuts of them. */
static void random_opts(store_list_opts_t *o, uint8_t bufs[3][16])
{
    memset(o, 0, sizeof(*o));
    size_t len;
    if (rnd(2)) {
        random_key(bufs[0], &len);
        o->start = bufs[0];
        o->start_len = len;
        o->has_start = true;
        o->start_after = rnd(2);
    }
    if (rnd(2)) {
        random_key(bufs[1], &len);
        o->end = bufs[1];
        o->end_len = len;
        o->has_end = true;
    }
    if (rnd(2)) {
        random_key(bufs[2], &len);
        if (len && rnd(3) == 0)
            len = rnd((uint32_t)len); /* cut inside a multibyte character */
        o->prefix = bufs[2];
        o->prefix_len = len;
        o->has_prefix = true;
    }
    o->reverse = rnd(2);
    static const size_t limits[] = {0, 0, 1, 2, 3, 5, 100};
    o->limit = limits[rnd(7)];
}

/* Random writes, batches taken and committed (or failed) at random points,
 * kvs closed and reopened, and an LRU of two handles that keeps closing the
 * kv's connections: after each step every list variant tried must equal
 * the model. */
static void test_list_property(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 2);
    store_kv_t *kv = kv_str(s, "prop");
    store_kv_t *other = kv_str(s, "other");
    model_t logical = {0}, committed = {0}, at_take = {0};
    enum { IDLE, TAKEN, WORKED } phase = IDLE;
    int work_rc = 0;
    char err[256];
    uint8_t kb[16], vb[8];
    size_t klen;
    rng_state = 0x2545F4914F6CDD1Dull;

    for (int step = 0; step < 3000; step++) {
        uint32_t op = rnd(100);
        if (op < 45) {
            random_key(kb, &klen);
            size_t vlen = rnd(6);
            for (size_t i = 0; i < vlen; i++)
                vb[i] = (uint8_t)rnd(256);
            store_kv_put(kv, kb, klen, vb, vlen);
            model_set(&logical, kb, klen, vb, vlen);
        } else if (op < 62) {
            random_key(kb, &klen);
            store_kv_delete(kv, kb, klen);
            model_del(&logical, kb, klen);
        } else if (op < 64) {
            store_kv_delete_all(kv);
            model_clear(&logical);
        } else if (op < 76) {
            if (phase == IDLE && store_kv_ready_to_commit(kv)) {
                store_kv_take_batch(kv);
                model_copy(&at_take, &logical);
                phase = TAKEN;
            }
        } else if (op < 86) {
            if (phase == TAKEN) {
                bool fail = rnd(10) == 0;
                if (fail)
                    store_fail_next_commits(1);
                work_rc = store_kv_commit_work(kv, err, sizeof(err));
                assert_int_equal(work_rc, fail ? -1 : 0);
                phase = WORKED;
            }
        } else if (op < 96) {
            if (phase == WORKED) {
                store_kv_commit_done(kv, work_rc == 0);
                if (work_rc == 0)
                    model_copy(&committed, &at_take);
                else
                    model_copy(&logical, &committed); /* pending dropped too */
                phase = IDLE;
            }
        } else if (op < 98) {
            /* Another instance's reads and commits push this kv's handles
             * out of the LRU of two. */
            put_s(other, "k", step % 2 ? "odd" : "even");
            if (!store_kv_in_flight(other))
                commit(other);
            expect_s(other, "k", step % 2 ? "odd" : "even");
            assert_true(store_shard_open_handles(s) <= 2 || store_kv_in_flight(kv));
        } else if (phase == IDLE) {
            store_kv_free(kv);
            kv = kv_str(s, "prop");
            model_copy(&logical, &committed);
        }
        int checks = 1 + (int)rnd(3);
        for (int c = 0; c < checks; c++) {
            uint8_t bufs[3][16];
            store_list_opts_t o;
            random_opts(&o, bufs);
            check_list(kv, &logical, &o);
        }
        /* and a full list, and a point read */
        store_list_opts_t all = {0};
        check_list(kv, &logical, &all);
        random_key(kb, &klen);
        buf_t v = BUF_INIT;
        bool found;
        assert_int_equal(store_kv_get(kv, kb, klen, &v, &found, err, sizeof(err)), 0);
        bool want_found = false;
        for (size_t i = 0; i < logical.n; i++) {
            if (ecmp(logical.e[i].k, logical.e[i].klen, kb, klen) == 0) {
                want_found = true;
                assert_int_equal(v.len, logical.e[i].vlen);
                if (v.len)
                    assert_memory_equal(v.data, logical.e[i].v, v.len);
            }
        }
        assert_int_equal(found, want_found);
        buf_deinit(&v);
    }
    if (phase == TAKEN)
        work_rc = store_kv_commit_work(kv, err, sizeof(err));
    if (phase != IDLE)
        store_kv_commit_done(kv, work_rc == 0);
    store_fail_next_commits(0);
    store_kv_free(kv);
    store_kv_free(other);
    store_shard_free(s);
    model_free(&logical);
    model_free(&committed);
    model_free(&at_take);
    free(dir);
}

static void list_s(store_kv_t *kv, const store_list_opts_t *o, const char *want)
{
    model_t got = {0};
    char err[256] = "";
    if (store_kv_list(kv, o, collect_cb, &got, err, sizeof(err)) != 0)
        fail_msg("list: %s", err);
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < got.n; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_append(&b, got.e[i].k, got.e[i].klen);
    }
    if (strcmp(buf_cstr(&b), want) != 0)
        fail_msg("list gave '%s', want '%s'", buf_cstr(&b), want);
    buf_deinit(&b);
    model_free(&got);
}

static int stop_after_two(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                          size_t vlen)
{
    int *n = arg;
    return ++*n == 2;
}

static void test_list_cases(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "cases");
    const char *keys[] = {"a", "ab", "abc", "abd", "b", "ba", "c", "d", "e"};
    for (size_t i = 0; i < 9; i++)
        put_s(kv, keys[i], "v");
    commit(kv);
    /* Unsaved deletes must not use up the limit, in either direction. */
    del_s(kv, "ab");
    del_s(kv, "abc");
    del_s(kv, "d");
    put_s(kv, "bb", "v");
    store_list_opts_t o = {0};
    o.limit = 3;
    list_s(kv, &o, "a,abd,b");
    o.reverse = true;
    list_s(kv, &o, "e,c,bb");
    /* start_after, reverse + limit */
    o = (store_list_opts_t){.start = (const uint8_t *)"ab", .start_len = 2, .has_start = true,
                            .start_after = true, .limit = 2};
    list_s(kv, &o, "abd,b");
    o.reverse = true;
    o.limit = 2;
    list_s(kv, &o, "e,c");
    /* prefix with end, and prefix with start past it */
    o = (store_list_opts_t){.prefix = (const uint8_t *)"b", .prefix_len = 1, .has_prefix = true,
                            .end = (const uint8_t *)"bb", .end_len = 2, .has_end = true};
    list_s(kv, &o, "b,ba");
    o.end_len = 1;
    list_s(kv, &o, "");
    o = (store_list_opts_t){.prefix = (const uint8_t *)"a", .prefix_len = 1, .has_prefix = true,
                            .start = (const uint8_t *)"abd", .start_len = 3, .has_start = true,
                            .reverse = true};
    list_s(kv, &o, "abd");
    /* start after end: nothing */
    o = (store_list_opts_t){.start = (const uint8_t *)"d", .start_len = 1, .has_start = true,
                            .end = (const uint8_t *)"b", .end_len = 1, .has_end = true};
    list_s(kv, &o, "");
    /* the callback can stop the walk */
    int n = 0;
    char err[256];
    o = (store_list_opts_t){0};
    assert_int_equal(store_kv_list(kv, &o, stop_after_two, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    /* prefixes of 0xff bytes have no successor */
    store_kv_put(kv, (const uint8_t *)"\xff\xff", 2, (const uint8_t *)"v", 1);
    store_kv_put(kv, (const uint8_t *)"\xff\xff\x01", 3, (const uint8_t *)"v", 1);
    commit(kv);
    o = (store_list_opts_t){.prefix = (const uint8_t *)"\xff", .prefix_len = 1,
                            .has_prefix = true};
    list_s(kv, &o, "\xff\xff,\xff\xff\x01");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- files --------------------------------------------------------------- */

static void test_no_file_on_read(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = kv_str(s, "ghost");
    expect_s(kv, "a", NULL);
    store_list_opts_t o = {0};
    list_s(kv, &o, "");
    char apps[160];
    snprintf(apps, sizeof(apps), "%s/apps", dir);
    assert_false(exists(apps));
    /* a failed first commit leaves nothing behind either */
    put_s(kv, "a", "1");
    store_fail_next_commits(1);
    store_kv_take_batch(kv);
    char err[256];
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), -1);
    store_kv_commit_done(kv, false);
    assert_false(exists(apps));
    assert_int_equal(store_shard_open_handles(s), 0);
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

static void test_path_layout(void **state)
{
    char hex[65];
    store_id_hex((const uint8_t *)"abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char *dir = new_data_dir();
    buf_t p = BUF_INIT;
    buf_puts(&p, "old contents");
    store_instance_path(dir, "myapp", "chat-room", (const uint8_t *)"abc", 3, &p);
    char want[300];
    snprintf(want, sizeof(want), "%s/apps/myapp/chat-room/ba/%s.sqlite", dir, hex);
    assert_string_equal(buf_cstr(&p), want);

    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = store_kv_new(s, "myapp", "chat-room", (const uint8_t *)"abc", 3);
    assert_string_equal(store_kv_path(kv), want);
    put_s(kv, "k", "v");
    commit(kv);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    char d[300];
    snprintf(d, sizeof(d), "%s/apps/myapp/chat-room/ba", dir);
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* the file is WAL-mode SQLite with our tables and format version */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(want, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT value FROM _do_meta WHERE "
                                            "key='format'), (SELECT count(*) FROM _do_kv)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    assert_int_equal(sqlite3_column_int(q, 1), 1);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
    store_kv_free(kv);

    /* ids never become paths; names that would leave the directory are refused */
    kv = store_kv_new(s, "myapp", "chat-room", (const uint8_t *)"../../etc/passwd", 16);
    assert_null(strstr(store_kv_path(kv), "etc"));
    store_kv_free(kv);
    assert_null(store_kv_new(s, "..", "x", (const uint8_t *)"a", 1));
    assert_null(store_kv_new(s, "a", "b/c", (const uint8_t *)"a", 1));
    assert_null(store_kv_new(s, "", "c", (const uint8_t *)"a", 1));
    store_shard_free(s);
    buf_deinit(&p);
    free(dir);
}

static void test_reopen(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = kv_str(s, "persist");
    put_s(kv, "a", "1");
    put_s(kv, "b", "2");
    commit(kv);
    del_s(kv, "a");
    commit(kv);
    store_kv_free(kv);
    store_shard_free(s);
    /* Closing does no checkpoint (that would sync on the shard thread): the
     * WAL stays, and a new shard reads the commits from it. */
    buf_t p = BUF_INIT;
    store_instance_path(dir, "app", "counter", (const uint8_t *)"persist", 7, &p);
    buf_puts(&p, "-wal");
    assert_true(exists(buf_cstr(&p)));
    buf_deinit(&p);

    s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    kv = kv_str(s, "persist");
    expect_s(kv, "a", NULL);
    expect_s(kv, "b", "2");
    put_s(kv, "c", "3");
    commit(kv);
    store_list_opts_t o = {0};
    list_s(kv, &o, "b,c");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* A file that exists without our table yet (as left by a first commit that
 * failed after creating it) reads as empty, and the table appears to the
 * same reader once a commit makes it. */
static void test_reader_before_table(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "early");
    char d[300];
    snprintf(d, sizeof(d), "%s/apps/app/counter", dir);
    mkdir(dir, 0700);
    snprintf(d, sizeof(d), "%s/apps", dir);
    mkdir(d, 0700);
    snprintf(d, sizeof(d), "%s/apps/app", dir);
    mkdir(d, 0700);
    snprintf(d, sizeof(d), "%s/apps/app/counter", dir);
    mkdir(d, 0700);
    const char *path = store_kv_path(kv);
    snprintf(d, sizeof(d), "%.*s", (int)(strrchr(path, '/') - path), path);
    mkdir(d, 0700);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    expect_s(kv, "a", NULL);
    store_list_opts_t o = {0};
    list_s(kv, &o, "");
    assert_int_equal(store_shard_open_handles(s), 1);
    put_s(kv, "a", "1");
    commit(kv);
    expect_s(kv, "a", "1");
    list_s(kv, &o, "a");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- LRU ----------------------------------------------------------------- */

static void test_lru(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 8);
    store_kv_t *kvs[100];
    char id[32], val[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "kv%d", i);
        kvs[i] = kv_str(s, id);
        expect_s(kvs[i], "n", NULL); /* no file: no handle */
        assert_int_equal(store_shard_open_handles(s), 0);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(val, sizeof(val), "%d-%d", i, round);
            put_s(kvs[i], "n", val);
            commit(kvs[i]);
            assert_true(store_shard_open_handles(s) <= 8);
            expect_s(kvs[i], "n", val);
            assert_true(store_shard_open_handles(s) <= 8);
        }
        for (int i = 99; i >= 0; i--) {
            snprintf(val, sizeof(val), "%d-%d", i, round);
            expect_s(kvs[i], "n", val);
            assert_true(store_shard_open_handles(s) <= 8);
        }
    }
    /* Batches in flight keep their handles: the bound is exceeded while
     * nothing else can be closed, and restored when they finish. */
    char err[256];
    for (int i = 0; i < 10; i++) {
        put_s(kvs[i], "n", "flight");
        store_kv_take_batch(kvs[i]);
        assert_int_equal(store_kv_commit_work(kvs[i], err, sizeof(err)), 0);
    }
    for (int i = 0; i < 10; i++) {
        expect_s(kvs[i], "n", "flight");  /* from the in-flight batch */
        expect_s(kvs[i], "other", NULL); /* from SQLite: opens a reader */
    }
    if (store_shard_open_handles(s) <= 8)
        fail_msg("%zu handles open with 10 batches in flight", store_shard_open_handles(s));
    for (int i = 0; i < 10; i++)
        store_kv_commit_done(kvs[i], true);
    assert_true(store_shard_open_handles(s) <= 8);
    for (int i = 0; i < 100; i++)
        store_kv_free(kvs[i]);
    assert_int_equal(store_shard_open_handles(s), 0);
    store_shard_free(s);
    free(dir);
}

/* ---- failures ------------------------------------------------------------ */

static void test_fail_injection(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "flaky");
    char err[256];
    put_s(kv, "a", "1");
    commit(kv);

    store_fail_next_commits(2);
    put_s(kv, "a", "2");
    store_kv_take_batch(kv);
    put_s(kv, "b", "pending");
    err[0] = '\0';
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), -1);
    assert_string_equal(err, "injected commit failure");
    store_kv_commit_done(kv, false);
    expect_s(kv, "a", "1"); /* in-flight dropped */
    expect_s(kv, "b", NULL); /* pending dropped too */
    assert_false(store_kv_ready_to_commit(kv));

    put_s(kv, "a", "3");
    store_kv_take_batch(kv);
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), -1);
    store_kv_commit_done(kv, false);
    expect_s(kv, "a", "1");

    put_s(kv, "a", "4"); /* the counter is used up */
    commit(kv);
    expect_s(kv, "a", "4");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* A real commit error from SQLite: the file is not a database. */
static void test_commit_error(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "broken");
    const char *path = store_kv_path(kv);
    char d[300];
    snprintf(d, sizeof(d), "%s", path);
    for (char *p = d + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(d, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    fputs("this is not an SQLite database, not at all, really not; padding padding padding "
          "padding padding padding padding padding",
          f);
    fclose(f);
    put_s(kv, "a", "1");
    store_kv_take_batch(kv);
    char err[256] = "";
    assert_int_equal(store_kv_commit_work(kv, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a database"));
    store_kv_commit_done(kv, false);
    assert_int_equal(store_shard_open_handles(s), 0);
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- threads ------------------------------------------------------------- */

typedef struct work {
    store_kv_t *kv;
    int rc;
    atomic_bool done;
    char err[256];
} work_t;

static void *work_main(void *arg)
{
    work_t *w = arg;
    w->rc = store_kv_commit_work(w->kv, w->err, sizeof(w->err));
    atomic_store(&w->done, true);
    return NULL;
}

/* Commits run on real threads while the main thread keeps reading, listing
 * and writing the same kvs, with an LRU small enough to close handles of
 * idle kvs meanwhile. Run it under -fsanitize=thread to check the hand-off. */
static void test_threads(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 4);
    enum { NKV = 4, ROUNDS = 60 };
    store_kv_t *kvs[NKV];
    work_t w[NKV];
    pthread_t th[NKV];
    char id[32], key[32], val[32];
    for (int i = 0; i < NKV; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        kvs[i] = kv_str(s, id);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < NKV; i++) {
            for (int k = 0; k < 5; k++) {
                snprintf(key, sizeof(key), "k%d", (r + k) % 7);
                snprintf(val, sizeof(val), "%d/%d", r, k);
                put_s(kvs[i], key, val);
            }
            if (r % 10 == 9)
                store_kv_delete_all(kvs[i]);
            store_kv_take_batch(kvs[i]);
            w[i] = (work_t){.kv = kvs[i]};
            atomic_init(&w[i].done, false);
            assert_int_equal(pthread_create(&th[i], NULL, work_main, &w[i]), 0);
        }
        /* Reads during the commits: what the batch wrote, always. */
        bool all_done;
        int spins = 0;
        do {
            all_done = true;
            for (int i = 0; i < NKV; i++) {
                all_done &= atomic_load(&w[i].done);
                snprintf(key, sizeof(key), "k%d", (r + 4) % 7);
                snprintf(val, sizeof(val), "%d/4", r);
                if (r % 10 != 9)
                    expect_s(kvs[i], key, val);
                store_list_opts_t o = {.limit = 3};
                model_t got = {0};
                char err[256];
                if (store_kv_list(kvs[i], &o, collect_cb, &got, err, sizeof(err)) != 0)
                    fail_msg("list: %s", err);
                /* after a delete_all only the side key written below can show */
                if (r % 10 == 9)
                    assert_true(got.n <= 1);
                else
                    assert_int_equal(got.n, 3);
                model_free(&got);
                put_s(kvs[i], "side", val); /* the next batch */
            }
        } while (!all_done || spins++ < 2);
        for (int i = 0; i < NKV; i++) {
            pthread_join(th[i], NULL);
            if (w[i].rc != 0)
                fail_msg("commit: %s", w[i].err);
            store_kv_commit_done(kvs[i], true);
            assert_true(store_shard_open_handles(s) <= 4 + NKV);
        }
    }
    for (int i = 0; i < NKV; i++) {
        snprintf(val, sizeof(val), "%d/4", ROUNDS - 1);
        expect_s(kvs[i], "side", val);
        store_kv_free(kvs[i]);
    }
    store_shard_free(s);
    free(dir);
}

/* ---- purge --------------------------------------------------------------- */

static void test_purge(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    const char *classes[] = {"room", "counter"};
    for (int a = 0; a < 2; a++) {
        for (int c = 0; c < 2; c++) {
            for (int i = 0; i < 5; i++) {
                char id[16];
                snprintf(id, sizeof(id), "i%d", i);
                store_kv_t *kv = store_kv_new(s, a ? "app2" : "app1", classes[c],
                                              (const uint8_t *)id, strlen(id));
                put_s(kv, "k", "v");
                commit(kv);
                store_kv_free(kv);
            }
        }
    }
    char p[300], err[256];
    assert_int_equal(store_purge(dir, "app1", "room", err, sizeof(err)), 0);
    snprintf(p, sizeof(p), "%s/apps/app1/room", dir);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/apps/app1/counter", dir);
    assert_true(exists(p));
    store_kv_t *kv = store_kv_new(s, "app1", "room", (const uint8_t *)"i1", 2);
    expect_s(kv, "k", NULL);
    store_kv_free(kv);
    kv = store_kv_new(s, "app1", "counter", (const uint8_t *)"i1", 2);
    expect_s(kv, "k", "v");
    store_kv_free(kv);

    assert_int_equal(store_purge(dir, "app2", NULL, err, sizeof(err)), 0);
    snprintf(p, sizeof(p), "%s/apps/app2", dir);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/apps/app1", dir);
    assert_true(exists(p));
    /* purging what does not exist is fine; unsafe names are refused */
    assert_int_equal(store_purge(dir, "nope", "nothing", err, sizeof(err)), 0);
    assert_int_equal(store_purge(dir, "..", NULL, err, sizeof(err)), -1);
    assert_int_equal(store_purge(dir, "app1", "../app1", err, sizeof(err)), -1);
    assert_true(exists(p));
    store_shard_free(s);
    free(dir);
}

/* ---- catalog ------------------------------------------------------------- */

static void test_catalog(void **state)
{
    char *dir = new_data_dir();
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    catalog_t *c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);

    catalog_app_t a = {.id = "default", .subdomain = "default", .service_key_hash = "sk1",
                       .created_at = 1700000000123};
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    catalog_app_t b = {.id = "beta", .subdomain = "b", .service_key_hash = "sk2", .created_at = 5,
                       .auth = "{\"secret\":\"s\"}"};
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);
    catalog_app_t clash = {.id = "gamma", .subdomain = "b", .service_key_hash = "x"};
    assert_int_equal(catalog_app_put(c, &clash, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "subdomain 'b'"));
    b.service_key_hash = "sk3"; /* update in place */
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);

    catalog_app_t got;
    assert_int_equal(catalog_app_get(c, "default", &got, err, sizeof(err)), 0);
    assert_string_equal(got.id, "default");
    assert_string_equal(got.subdomain, "default");
    assert_string_equal(got.service_key_hash, "sk1");
    assert_true(got.created_at == 1700000000123);
    assert_null(got.auth);
    assert_int_equal(got.env_version, 0);
    catalog_app_clear(&got);
    assert_int_equal(catalog_app_get(c, "missing", &got, err, sizeof(err)), 1);
    catalog_app_t *apps;
    size_t n;
    assert_int_equal(catalog_apps_list(c, &apps, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(apps[0].id, "beta");
    assert_string_equal(apps[0].service_key_hash, "sk3");
    assert_string_equal(apps[0].auth, "{\"secret\":\"s\"}");
    assert_string_equal(apps[1].id, "default");
    catalog_apps_free(apps, n);

    static const uint8_t bc[] = {0x01, 0x00, 0xff, 0x00, 0x7f};
    catalog_class_t k = {.app_id = "default", .name = "chat-room", .id = "uuid-1",
                         .class_name = "ChatRoom", .access_mode = "public",
                         .code = "export class ChatRoom {}", .bytecode = (uint8_t *)bc,
                         .bytecode_len = sizeof(bc), .version = 1, .last_deployed_at = 42,
                         .error_message = NULL, .code_compressed_len = 77};
    assert_int_equal(catalog_class_put(c, &k, err, sizeof(err)), 0);
    catalog_class_t k2 = k;
    k2.name = "counter";
    k2.class_name = "Counter";
    k2.bytecode = NULL;
    k2.bytecode_len = 0;
    assert_int_equal(catalog_class_put(c, &k2, err, sizeof(err)), 0);
    catalog_class_t k3 = k;
    k3.app_id = "beta";
    k3.name = "zeta";
    assert_int_equal(catalog_class_put(c, &k3, err, sizeof(err)), 0);

    catalog_class_t g;
    assert_int_equal(catalog_class_get(c, "default", "chat-room", &g, err, sizeof(err)), 0);
    assert_string_equal(g.app_id, "default");
    assert_string_equal(g.name, "chat-room");
    assert_string_equal(g.id, "uuid-1");
    assert_string_equal(g.class_name, "ChatRoom");
    assert_string_equal(g.access_mode, "public");
    assert_string_equal(g.code, "export class ChatRoom {}");
    assert_int_equal(g.bytecode_len, sizeof(bc));
    assert_memory_equal(g.bytecode, bc, sizeof(bc));
    assert_int_equal(g.version, 1);
    assert_int_equal(g.last_deployed_at, 42);
    assert_null(g.error_message);
    assert_int_equal(g.code_compressed_len, 77);
    catalog_class_clear(&g);
    assert_int_equal(catalog_class_get(c, "default", "counter", &g, err, sizeof(err)), 0);
    assert_null(g.bytecode);
    assert_int_equal(g.bytecode_len, 0);
    catalog_class_clear(&g);
    assert_int_equal(catalog_class_get(c, "default", "nope", &g, err, sizeof(err)), 1);
    assert_int_equal(catalog_class_get(c, "other", "chat-room", &g, err, sizeof(err)), 1);

    /* a failed deploy records its message; the next good deploy clears it */
    assert_int_equal(
        catalog_class_set_error(c, "default", "chat-room", "x.ts:1:2: bad", err, sizeof(err)), 0);
    assert_int_equal(catalog_class_set_error(c, "default", "nope", "m", err, sizeof(err)), 1);
    assert_int_equal(catalog_class_get(c, "default", "chat-room", &g, err, sizeof(err)), 0);
    assert_string_equal(g.error_message, "x.ts:1:2: bad");
    assert_string_equal(g.code, "export class ChatRoom {}");
    catalog_class_clear(&g);
    k.version = 2;
    k.code = "export class ChatRoom { x() {} }";
    assert_int_equal(catalog_class_put(c, &k, err, sizeof(err)), 0);
    assert_int_equal(catalog_class_get(c, "default", "chat-room", &g, err, sizeof(err)), 0);
    assert_null(g.error_message);
    assert_int_equal(g.version, 2);
    catalog_class_clear(&g);

    catalog_class_t *list;
    assert_int_equal(catalog_classes_list(c, NULL, &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].app_id, "beta");
    assert_string_equal(list[1].name, "chat-room");
    assert_string_equal(list[2].name, "counter");
    catalog_classes_free(list, n);
    assert_int_equal(catalog_classes_list(c, "default", &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "chat-room");
    assert_int_equal(list[0].bytecode_len, sizeof(bc));
    catalog_classes_free(list, n);
    assert_int_equal(catalog_classes_list(c, "empty", &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_classes_free(list, n);

    assert_int_equal(catalog_class_delete(c, "default", "counter", err, sizeof(err)), 0);
    assert_int_equal(catalog_class_delete(c, "default", "counter", err, sizeof(err)), 1);
    assert_int_equal(catalog_class_get(c, "default", "counter", &g, err, sizeof(err)), 1);
    catalog_close(c);

    /* reopen: data kept, schema version recorded; a newer file is refused */
    c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(catalog_classes_list(c, NULL, &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    catalog_classes_free(list, n);
    catalog_close(c);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err[0] = '\0';
    assert_null(catalog_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));

    snprintf(path, sizeof(path), "%s/no/such/dir/control.db", dir);
    assert_null(catalog_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "control database"));
    free(dir);
}

/* Env vars, usage rows and deleting an app. */
static void test_catalog_env_usage(void **state)
{
    char *dir = new_data_dir();
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    catalog_t *c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    /* it holds secrets: the file (and its WAL) are the owner's only */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    catalog_app_t a = {.id = "a1", .subdomain = "a1", .service_key_hash = "h"};
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    catalog_app_t b = {.id = "b1", .subdomain = "b1", .service_key_hash = "h2"};
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);

    assert_int_equal(catalog_env_put(c, "a1", "Z_KEY", "zz", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "a1", "API_KEY", "secret-1", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "a1", "API_KEY", "secret-2", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "b1", "API_KEY", "other", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "nope", "K", "v", err, sizeof(err)), -1);
    catalog_env_t *env;
    size_t n;
    assert_int_equal(catalog_env_list(c, "a1", &env, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(env[0].key, "API_KEY");
    assert_string_equal(env[0].value, "secret-2");
    assert_string_equal(env[1].key, "Z_KEY");
    catalog_env_free(env, n);
    catalog_app_t got;
    char wal[320];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 0);
    assert_int_equal(got.env_version, 3); /* every change counts */
    catalog_app_clear(&got);
    /* putting the app again keeps its env version */
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 0);
    assert_int_equal(got.env_version, 3);
    catalog_app_clear(&got);
    assert_int_equal(catalog_env_delete(c, "a1", "Z_KEY", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_delete(c, "a1", "Z_KEY", err, sizeof(err)), 1);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 0);
    assert_int_equal(got.env_version, 4);
    catalog_app_clear(&got);

    catalog_class_t k = {.app_id = "a1", .name = "counter", .id = "u-1", .class_name = "Counter",
                         .access_mode = "public", .code = "x", .version = 1};
    assert_int_equal(catalog_class_put(c, &k, err, sizeof(err)), 0);
    catalog_class_t k2 = k;
    k2.name = "room";
    k2.id = "u-2";
    assert_int_equal(catalog_class_put(c, &k2, err, sizeof(err)), 0);
    catalog_usage_t rows[] = {{"u-1", "a1", "counter", 10, 2500, 1},
                              {"u-2", "a1", "room", 3, 7, 0},
                              {"u-gone", "a1", "gone", 99, 99, 99}};
    assert_int_equal(catalog_usage_put(c, rows, 3, err, sizeof(err)), 0);
    rows[0].do_requests = 11;
    assert_int_equal(catalog_usage_put(c, rows, 1, err, sizeof(err)), 0);
    catalog_usage_t *u;
    assert_int_equal(catalog_usage_list(c, &u, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2); /* no row for a class that does not exist */
    assert_string_equal(u[0].class_id, "u-1");
    assert_int_equal(u[0].do_requests, 11);
    assert_int_equal(u[0].do_cpu_us, 2500);
    assert_int_equal(u[0].errors, 1);
    catalog_usage_free(u, n);
    /* deleting a class takes its usage row */
    assert_int_equal(catalog_class_delete(c, "a1", "room", err, sizeof(err)), 0);
    assert_int_equal(catalog_usage_list(c, &u, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    catalog_usage_free(u, n);
    catalog_close(c);

    /* reopening keeps all of it; deleting the app takes everything of it */
    c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(catalog_app_delete(c, "a1", err, sizeof(err)), 0);
    assert_int_equal(catalog_app_delete(c, "a1", err, sizeof(err)), 1);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 1);
    assert_int_equal(catalog_env_list(c, "a1", &env, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_env_free(env, n);
    catalog_class_t *list;
    assert_int_equal(catalog_classes_list(c, "a1", &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_classes_free(list, n);
    assert_int_equal(catalog_usage_list(c, &u, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_usage_free(u, n);
    assert_int_equal(catalog_env_list(c, "b1", &env, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1); /* the other app keeps its own */
    catalog_env_free(env, n);
    catalog_close(c);
    free(dir);
}

/* A control.db of schema 1 (plain service keys, world-readable) is upgraded. */
static void test_catalog_migration(void **state)
{
    char *dir = new_data_dir();
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE apps(id TEXT PRIMARY KEY NOT NULL, subdomain TEXT UNIQUE,"
                     " service_key TEXT, created_at INTEGER NOT NULL DEFAULT 0);"
                     "CREATE TABLE classes(app_id TEXT NOT NULL, name TEXT NOT NULL, id TEXT,"
                     " class_name TEXT, access_mode TEXT, code TEXT, bytecode BLOB,"
                     " version INTEGER NOT NULL DEFAULT 0, last_deployed_at INTEGER NOT NULL "
                     "DEFAULT 0, error_message TEXT, code_compressed_len INTEGER NOT NULL "
                     "DEFAULT 0, PRIMARY KEY(app_id, name));"
                     "INSERT INTO apps VALUES('default','default','sk_abc',7);"
                     "INSERT INTO classes(app_id,name,id,version) VALUES('default','c','u',3);"
                     "PRAGMA user_version=1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    chmod(path, 0644);
    catalog_t *c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    catalog_app_t got;
    assert_int_equal(catalog_app_get(c, "default", &got, err, sizeof(err)), 0);
    /* sha256("sk_abc") */
    assert_string_equal(got.service_key_hash,
                        "7c8d93f8ffb4cdb85b2a4b0c10886a66959da2eb67707b1c54718850a56d158c");
    catalog_app_clear(&got);
    catalog_class_t k;
    assert_int_equal(catalog_class_get(c, "default", "c", &k, err, sizeof(err)), 0);
    assert_int_equal(k.version, 3);
    catalog_class_clear(&k);
    catalog_close(c);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlay_order),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_interleave),
        cmocka_unit_test(test_list_cases),
        cmocka_unit_test(test_list_property),
        cmocka_unit_test(test_no_file_on_read),
        cmocka_unit_test(test_path_layout),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_reader_before_table),
        cmocka_unit_test(test_lru),
        cmocka_unit_test(test_fail_injection),
        cmocka_unit_test(test_commit_error),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_catalog_env_usage),
        cmocka_unit_test(test_catalog_migration),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
