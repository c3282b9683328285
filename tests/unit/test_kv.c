/* Unit tests of the per-instance store (src/store/store.c, sql.c,
 * alarm_index.c): the turn's transaction and what reads see of it, commits
 * and their failures, list against a brute-force model, the cache, the LRU
 * of connections, file layout, sync and checkpoint jobs, savepoints, the
 * alarm, the class's SQL and its authorizer, the alarm index. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "store/store.h"

/* ---- helpers ------------------------------------------------------------- */

static char tmp_root[64];
static int dir_counter;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 ? errno : 0;
}

static int group_setup(void **state)
{
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/dorm-test-kv-XXXXXX");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

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
    char err[256] = "";
    if (store_kv_put(kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v), false, err,
                     sizeof err) != 0)
        fail_msg("put %s: %s", k, err);
}

static bool del_s(store_kv_t *kv, const char *k)
{
    char err[256] = "";
    bool existed = false;
    if (store_kv_delete(kv, (const uint8_t *)k, strlen(k), &existed, err, sizeof err) != 0)
        fail_msg("delete %s: %s", k, err);
    return existed;
}

/* Asserts the value of k (NULL: absent). */
static void expect_s(store_kv_t *kv, const char *k, const char *want)
{
    buf_t v = BUF_INIT;
    bool found = true;
    char err[256] = "";
    int rc = store_kv_get(kv, (const uint8_t *)k, strlen(k), &v, &found, false, err, sizeof(err));
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

/* Commits and runs the jobs on this thread; returns store_kv_commit's result. */
static int commit_rc(store_kv_t *kv, char *err, size_t errlen)
{
    store_job_t *sync = NULL, *ckpt = NULL;
    int rc = store_kv_commit(kv, &sync, &ckpt, err, errlen);
    char jerr[256];
    if (sync && store_job_run(sync, jerr, sizeof jerr) != 0)
        fail_msg("sync job: %s", jerr);
    if (ckpt && store_job_run(ckpt, jerr, sizeof jerr) != 0)
        fail_msg("checkpoint job: %s", jerr);
    store_job_free(sync);
    store_job_free(ckpt);
    return rc;
}

static void commit(store_kv_t *kv)
{
    char err[256] = "";
    if (commit_rc(kv, err, sizeof err) < 0)
        fail_msg("commit: %s", err);
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

/* ---- reads see the open transaction; commits ------------------------------ */

static void test_transaction(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "txn");
    assert_false(store_kv_dirty(kv));
    put_s(kv, "a", "1");
    put_s(kv, "b", "2");
    assert_true(store_kv_dirty(kv));
    expect_s(kv, "a", "1"); /* read your writes, before the commit */
    assert_true(del_s(kv, "b"));
    assert_false(del_s(kv, "b"));
    expect_s(kv, "b", NULL);
    char err[256];
    assert_int_equal(commit_rc(kv, err, sizeof err), 1);
    assert_false(store_kv_dirty(kv));
    assert_int_equal(commit_rc(kv, err, sizeof err), 0); /* nothing to commit */
    /* a fresh kv (a new instance object) reads what was committed */
    store_kv_free(kv);
    kv = kv_str(s, "txn");
    expect_s(kv, "a", "1");
    expect_s(kv, "b", NULL);
    /* a kv freed with a transaction open loses it */
    put_s(kv, "a", "uncommitted");
    store_kv_free(kv);
    kv = kv_str(s, "txn");
    expect_s(kv, "a", "1");
    /* deleteAll */
    put_s(kv, "c", "3");
    assert_int_equal(store_kv_delete_all(kv, err, sizeof err), 0);
    expect_s(kv, "a", NULL);
    expect_s(kv, "c", NULL);
    put_s(kv, "d", "4");
    commit(kv);
    store_list_opts_t all = {0};
    model_t got = {0};
    assert_int_equal(store_kv_list(kv, &all, collect_cb, &got, err, sizeof err), 0);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.e[0].k, "d", 1);
    model_free(&got);
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* Random writes and commits (some failing), kvs closed and reopened, and an
 * LRU of one connection that another kv keeps taking: after each step every
 * list variant tried must equal the model. */
static void test_list_property(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 1);
    store_kv_t *kv = kv_str(s, "prop");
    store_kv_t *other = kv_str(s, "other");
    model_t logical = {0}, committed = {0};
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
            assert_int_equal(store_kv_put(kv, kb, klen, vb, vlen, rnd(4) == 0, err, sizeof err), 0);
            model_set(&logical, kb, klen, vb, vlen);
        } else if (op < 62) {
            random_key(kb, &klen);
            bool existed;
            assert_int_equal(store_kv_delete(kv, kb, klen, &existed, err, sizeof err), 0);
            model_del(&logical, kb, klen);
        } else if (op < 64) {
            assert_int_equal(store_kv_delete_all(kv, err, sizeof err), 0);
            model_clear(&logical);
        } else if (op < 86) {
            bool fail = rnd(10) == 0;
            if (fail)
                store_fail_next_commits(1);
            int rc = commit_rc(kv, err, sizeof err);
            if (fail && store_kv_dirty(kv) == false && rc < 0) {
                model_copy(&logical, &committed); /* the whole turn is gone */
            } else {
                store_fail_next_commits(0);
                assert_true(rc >= 0);
                model_copy(&committed, &logical);
            }
        } else if (op < 96) {
            /* Another instance's writes push this kv's connection out of the LRU. */
            put_s(other, "k", step % 2 ? "odd" : "even");
            commit(other);
            expect_s(other, "k", step % 2 ? "odd" : "even");
        } else if (!store_kv_dirty(kv)) {
            store_kv_free(kv);
            kv = kv_str(s, "prop");
        }
        int checks = 1 + (int)rnd(3);
        for (int c = 0; c < checks; c++) {
            uint8_t bufs[3][16];
            store_list_opts_t o;
            random_opts(&o, bufs);
            check_list(kv, &logical, &o);
        }
        store_list_opts_t all = {0};
        check_list(kv, &logical, &all);
        random_key(kb, &klen);
        buf_t v = BUF_INIT;
        bool found;
        assert_int_equal(store_kv_get(kv, kb, klen, &v, &found, false, err, sizeof(err)), 0);
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
    store_fail_next_commits(0);
    store_kv_free(kv);
    store_kv_free(other);
    store_shard_free(s);
    model_free(&logical);
    model_free(&committed);
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
    del_s(kv, "ab");
    del_s(kv, "abc");
    del_s(kv, "d");
    put_s(kv, "bb", "v");
    store_list_opts_t o = {0};
    o.limit = 3;
    list_s(kv, &o, "a,abd,b");
    o.reverse = true;
    list_s(kv, &o, "e,c,bb");
    o = (store_list_opts_t){.start = (const uint8_t *)"ab", .start_len = 2, .has_start = true,
                            .start_after = true, .limit = 2};
    list_s(kv, &o, "abd,b");
    o.reverse = true;
    o.limit = 2;
    list_s(kv, &o, "e,c");
    o = (store_list_opts_t){.prefix = (const uint8_t *)"b", .prefix_len = 1, .has_prefix = true,
                            .end = (const uint8_t *)"bb", .end_len = 2, .has_end = true};
    list_s(kv, &o, "b,ba");
    o.end_len = 1;
    list_s(kv, &o, "");
    o = (store_list_opts_t){.prefix = (const uint8_t *)"a", .prefix_len = 1, .has_prefix = true,
                            .start = (const uint8_t *)"abd", .start_len = 3, .has_start = true,
                            .reverse = true};
    list_s(kv, &o, "abd");
    o = (store_list_opts_t){.start = (const uint8_t *)"d", .start_len = 1, .has_start = true,
                            .end = (const uint8_t *)"b", .end_len = 1, .has_end = true};
    list_s(kv, &o, "");
    int n = 0;
    char err[256];
    o = (store_list_opts_t){0};
    assert_int_equal(store_kv_list(kv, &o, stop_after_two, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_kv_put(kv, (const uint8_t *)"\xff\xff", 2, (const uint8_t *)"v", 1,
                                  false, err, sizeof err), 0);
    assert_int_equal(store_kv_put(kv, (const uint8_t *)"\xff\xff\x01", 3, (const uint8_t *)"v",
                                  1, false, err, sizeof err), 0);
    commit(kv);
    o = (store_list_opts_t){.prefix = (const uint8_t *)"\xff", .prefix_len = 1,
                            .has_prefix = true};
    list_s(kv, &o, "\xff\xff,\xff\xff\x01");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- files --------------------------------------------------------------- */

static void test_no_file_until_written(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = kv_str(s, "ghost");
    expect_s(kv, "a", NULL);
    store_list_opts_t o = {0};
    list_s(kv, &o, "");
    assert_false(del_s(kv, "a"));
    char err[256];
    assert_int_equal(store_kv_delete_all(kv, err, sizeof err), 0);
    int64_t at;
    assert_int_equal(store_kv_alarm_get(kv, &at, err, sizeof err), 0);
    assert_int_equal(at, -1);
    assert_int_equal(store_kv_alarm_set(kv, -1, err, sizeof err), 0);
    assert_false(store_kv_dirty(kv));
    assert_false(exists(store_kv_path(kv)));
    assert_int_equal(store_shard_open_handles(s), 0);
    put_s(kv, "a", "1");
    assert_true(exists(store_kv_path(kv)));
    commit(kv);
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

static void test_path_layout(void **state)
{
    buf_t p = BUF_INIT;
    store_instance_path("/data", "app", "chat-room", (const uint8_t *)"lobby", 5, &p);
    char hex[65];
    store_id_hex((const uint8_t *)"lobby", 5, hex);
    char want[200];
    snprintf(want, sizeof want, "/data/apps/app/chat-room/%.2s/%s.sqlite", hex, hex);
    assert_string_equal(buf_cstr(&p), want);
    /* sha256("") */
    store_id_hex((const uint8_t *)"", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    buf_deinit(&p);
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 4);
    assert_null(store_kv_new(s, "..", "c", (const uint8_t *)"x", 1));
    assert_null(store_kv_new(s, "a", "b/c", (const uint8_t *)"x", 1));
    assert_null(store_kv_new(s, "", "c", (const uint8_t *)"x", 1));
    /* ids with slashes or NULs never leave the folder: they are hashed */
    store_kv_t *kv = store_kv_new(s, "a", "c", (const uint8_t *)"../../x\0y", 9);
    assert_non_null(kv);
    assert_non_null(strstr(store_kv_path(kv), "/apps/a/c/"));
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* Everything committed is there after the kv and the shard are gone, and
 * the new file is synced with its folders under fsync durability. */
static void test_reopen(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = kv_str(s, "persist");
    put_s(kv, "a", "1");
    put_s(kv, "b", "2");
    store_job_t *sync = NULL, *ckpt = NULL;
    char err[256];
    assert_int_equal(store_kv_commit(kv, &sync, &ckpt, err, sizeof err), 1);
    assert_non_null(sync); /* fsync durability: a sync to run before answers */
    assert_int_equal(store_job_run(sync, err, sizeof err), 0);
    store_job_free(sync);
    store_job_free(ckpt);
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
    sync = ckpt = NULL;
    assert_int_equal(store_kv_commit(kv, &sync, &ckpt, err, sizeof err), 1);
    assert_null(sync); /* process durability: nothing to wait for */
    store_list_opts_t o = {0};
    list_s(kv, &o, "b,c");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

static void test_lru(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 8);
    store_kv_t *kvs[100];
    char id[32], val[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "kv%d", i);
        kvs[i] = kv_str(s, id);
        expect_s(kvs[i], "n", NULL); /* no file: no connection */
        assert_int_equal(store_shard_open_handles(s), 0);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(val, sizeof(val), "%d-%d", i, round);
            put_s(kvs[i], "n", val);
            commit(kvs[i]);
            assert_true(store_shard_open_handles(s) <= 8);
        }
        for (int i = 99; i >= 0; i--) {
            snprintf(val, sizeof(val), "%d-%d", i, round);
            expect_s(kvs[i], "n", val);
            expect_s(kvs[i], "unknown", NULL); /* not cached: opens a connection */
            assert_true(store_shard_open_handles(s) <= 8);
        }
    }
    /* Open transactions keep their connections: the bound is exceeded while
     * nothing else can be closed, and restored when they are committed. */
    for (int i = 0; i < 10; i++)
        put_s(kvs[i], "n", "open");
    if (store_shard_open_handles(s) <= 8)
        fail_msg("%zu connections open with 10 transactions open", store_shard_open_handles(s));
    for (int i = 0; i < 10; i++)
        commit(kvs[i]);
    expect_s(kvs[50], "never read before", NULL); /* opens one: the bound is kept again */
    assert_true(store_shard_open_handles(s) <= 8);
    for (int i = 0; i < 100; i++)
        store_kv_free(kvs[i]);
    assert_int_equal(store_shard_open_handles(s), 0);
    store_shard_free(s);
    free(dir);
}

/* Recently read and written keys are answered from memory: no connection is
 * opened for them, even after the LRU closed the kv's. Big values and
 * unknown keys still go to SQLite; noCache keeps a key out. */
static void test_cache(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 1);
    store_kv_t *a = kv_str(s, "cached-a"), *b = kv_str(s, "cached-b");
    char big[9000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char err[256];
    put_s(a, "n", "1");
    put_s(a, "gone", "soon");
    put_s(a, "big", big);
    assert_int_equal(store_kv_put(a, (const uint8_t *)"nc", 2, (const uint8_t *)"v", 1, true, err,
                                  sizeof err), 0);
    commit(a);
    del_s(a, "gone");
    commit(a);
    put_s(b, "n", "2");
    commit(b); /* two kvs for a bound of one: a's connection is closed */
    assert_int_equal(store_shard_open_handles(s), 1);
    expect_s(a, "n", "1");
    expect_s(a, "gone", NULL);
    expect_s(b, "n", "2");
    assert_int_equal(store_shard_open_handles(s), 1);
    expect_s(a, "big", big); /* too big to keep: read from SQLite */
    expect_s(b, "n", "2");
    expect_s(a, "nc", "v"); /* noCache: read from SQLite too */
    store_kv_free(a);
    store_kv_free(b);
    store_shard_free(s);
    free(dir);
}

/* Writes key=val straight into the instance's file through a connection of
 * its own, behind the store's back: a read the store answers from memory
 * does not see it, one that goes to SQLite does. */
static void write_behind(store_kv_t *kv, const char *k, const char *v)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(store_kv_path(kv), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO _do_kv(key, value) VALUES(?, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, k, (int)strlen(k), SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, v, (int)strlen(v), SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Hot keys are answered from memory (a change made behind the store's back
 * is not seen), and the cache is bounded: past 64 keys, or 32 KiB of
 * values, the least recently used go, and reading them goes to SQLite. */
static void test_cache_bounded(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 4);
    store_kv_t *kv = kv_str(s, "bounded");
    put_s(kv, "hot", "from memory");
    put_s(kv, "cold", "v1");
    commit(kv);
    expect_s(kv, "hot", "from memory");
    write_behind(kv, "hot", "from sqlite");
    for (int i = 0; i < 100; i++)
        expect_s(kv, "hot", "from memory"); /* repeated reads never touch SQLite */
    /* 70 other keys read once each push "hot" out (64 entries at most) */
    for (int i = 0; i < 70; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        put_s(kv, k, "x");
    }
    commit(kv);
    expect_s(kv, "hot", "from sqlite");
    /* and so do a few big values (32 KiB in all) */
    expect_s(kv, "hot", "from sqlite");
    write_behind(kv, "hot", "from sqlite 2");
    expect_s(kv, "hot", "from sqlite"); /* cached again */
    char big[6001];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 6; i++) {
        char k[16];
        snprintf(k, sizeof k, "big%d", i);
        put_s(kv, k, big);
    }
    commit(kv);
    expect_s(kv, "hot", "from sqlite 2");
    /* a value over 8 KiB is never kept */
    char huge[9001];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    put_s(kv, "huge", huge);
    commit(kv);
    write_behind(kv, "huge", "small now");
    expect_s(kv, "huge", "small now");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- failures ------------------------------------------------------------ */

static void test_commit_failure(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "flaky");
    char err[256];
    put_s(kv, "a", "1");
    commit(kv);
    store_fail_next_commits(1);
    put_s(kv, "a", "2");
    put_s(kv, "b", "new");
    expect_s(kv, "a", "2");
    err[0] = 0;
    assert_int_equal(commit_rc(kv, err, sizeof err), -1);
    assert_string_equal(err, "injected commit failure");
    expect_s(kv, "a", "1"); /* the whole turn is gone, and the cache knows it */
    expect_s(kv, "b", NULL);
    assert_false(store_kv_dirty(kv));
    put_s(kv, "a", "3");
    commit(kv);
    expect_s(kv, "a", "3");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* A real error from SQLite: the file is not a database. */
static void test_not_a_database(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "broken");
    put_s(kv, "a", "1");
    commit(kv);
    store_kv_free(kv);
    kv = kv_str(s, "broken");
    FILE *f = fopen(store_kv_path(kv), "w");
    assert_non_null(f);
    fputs("this is not a database, it is plain text that goes on and on", f);
    fclose(f);
    buf_t wal = BUF_INIT;
    buf_printf(&wal, "%s-wal", store_kv_path(kv));
    unlink(buf_cstr(&wal));
    buf_deinit(&wal);
    char err[256] = "";
    assert_int_equal(store_kv_put(kv, (const uint8_t *)"a", 1, (const uint8_t *)"2", 1, false, err,
                                  sizeof err), -1);
    assert_non_null(strstr(err, "not a database"));
    assert_false(store_kv_dirty(kv));
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- jobs ------------------------------------------------------------------ */

/* A checkpoint job is handed out as the WAL grows; running it moves the
 * pages into the main file and the data stays. */
static void test_checkpoint(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 16);
    store_kv_t *kv = kv_str(s, "wal");
    char err[256], key[16], val[64];
    int ckpts = 0;
    for (int i = 0; i < 1500; i++) {
        snprintf(key, sizeof key, "k%d", i % 50);
        snprintf(val, sizeof val, "value %d of many", i);
        put_s(kv, key, val);
        store_job_t *sync = NULL, *ckpt = NULL;
        assert_int_equal(store_kv_commit(kv, &sync, &ckpt, err, sizeof err), 1);
        assert_non_null(sync);
        assert_int_equal(store_job_run(sync, err, sizeof err), 0);
        if (ckpt) {
            ckpts++;
            assert_int_equal(store_job_run(ckpt, err, sizeof err), 0);
        }
        store_job_free(sync);
        store_job_free(ckpt);
    }
    assert_true(ckpts >= 1);
    struct stat st;
    assert_int_equal(stat(store_kv_path(kv), &st), 0);
    assert_true(st.st_size > 4096); /* pages reached the main file */
    for (int i = 1450; i < 1500; i++) {
        snprintf(key, sizeof key, "k%d", i % 50);
        snprintf(val, sizeof val, "value %d of many", i);
        expect_s(kv, key, val);
    }
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* Sync jobs run on other threads while the kv goes on writing. */
typedef struct sync_thread {
    store_job_t *job;
    int rc;
} sync_thread_t;

static void *run_job(void *arg)
{
    sync_thread_t *t = arg;
    char err[256];
    t->rc = store_job_run(t->job, err, sizeof err);
    return NULL;
}

static void test_jobs_on_threads(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_FSYNC, 64);
    enum { N = 16 };
    store_kv_t *kvs[N];
    pthread_t th[N];
    sync_thread_t jobs[N];
    char err[256], id[16];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            if (round == 0) {
                snprintf(id, sizeof id, "t%d", i);
                kvs[i] = kv_str(s, id);
            }
            char v[16];
            snprintf(v, sizeof v, "%d", round);
            put_s(kvs[i], "round", v);
            store_job_t *ckpt = NULL;
            jobs[i].job = NULL;
            assert_int_equal(store_kv_commit(kvs[i], &jobs[i].job, &ckpt, err, sizeof err), 1);
            store_job_free(ckpt);
            pthread_create(&th[i], NULL, run_job, &jobs[i]);
            put_s(kvs[i], "during", v); /* the next turn writes meanwhile */
        }
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(jobs[i].rc, 0);
            store_job_free(jobs[i].job);
            commit(kvs[i]);
        }
    }
    for (int i = 0; i < N; i++) {
        expect_s(kvs[i], "round", "4");
        store_kv_free(kvs[i]);
    }
    store_shard_free(s);
    free(dir);
}

/* ---- savepoints -------------------------------------------------------------- */

static void test_savepoints(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "sp");
    char err[256];
    put_s(kv, "base", "0");
    assert_int_equal(store_kv_savepoint(kv, err, sizeof err), 0);
    put_s(kv, "a", "1");
    assert_int_equal(store_kv_savepoint(kv, err, sizeof err), 0);
    put_s(kv, "a", "2");
    put_s(kv, "b", "2");
    assert_int_equal(store_kv_savepoint_depth(kv), 2);
    /* while a savepoint is open the turn's commit waits */
    assert_int_equal(commit_rc(kv, err, sizeof err), 0);
    assert_true(store_kv_dirty(kv));
    assert_int_equal(store_kv_rollback(kv, err, sizeof err), 0);
    expect_s(kv, "a", "1");
    expect_s(kv, "b", NULL);
    assert_int_equal(store_kv_release(kv, err, sizeof err), 0);
    assert_int_equal(store_kv_savepoint_depth(kv), 0);
    assert_int_equal(store_kv_release(kv, err, sizeof err), -1);
    assert_non_null(strstr(err, "no transaction"));
    commit(kv);
    store_kv_free(kv);
    kv = kv_str(s, "sp");
    expect_s(kv, "base", "0");
    expect_s(kv, "a", "1");
    expect_s(kv, "b", NULL);
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- the alarm --------------------------------------------------------------- */

static void test_alarm(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "alarm");
    char err[256];
    int64_t at;
    assert_int_equal(store_kv_alarm_set(kv, 1234567, err, sizeof err), 0);
    assert_int_equal(store_kv_alarm_get(kv, &at, err, sizeof err), 0);
    assert_int_equal(at, 1234567);
    assert_int_equal(store_kv_alarm_set(kv, 7654321, err, sizeof err), 0);
    commit(kv);
    store_kv_free(kv);
    kv = kv_str(s, "alarm");
    assert_int_equal(store_kv_alarm_get(kv, &at, err, sizeof err), 0);
    assert_int_equal(at, 7654321);
    /* a failed commit takes the alarm change with it */
    store_fail_next_commits(1);
    assert_int_equal(store_kv_alarm_set(kv, -1, err, sizeof err), 0);
    assert_int_equal(commit_rc(kv, err, sizeof err), -1);
    assert_int_equal(store_kv_alarm_get(kv, &at, err, sizeof err), 0);
    assert_int_equal(at, 7654321);
    /* deleteAll removes it */
    put_s(kv, "k", "v");
    assert_int_equal(store_kv_delete_all(kv, err, sizeof err), 0);
    assert_int_equal(store_kv_alarm_get(kv, &at, err, sizeof err), 0);
    assert_int_equal(at, -1);
    commit(kv);
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- SQL ------------------------------------------------------------------------- */

typedef struct rows {
    int ncols;
    char cols[8][32];
    int nrows;
    store_value_t v[32][8];
    char text[32][8][64];
} rows_t;

static int rows_columns(void *arg, int n, const char *const *names)
{
    rows_t *r = arg;
    r->ncols = n;
    r->nrows = 0;
    for (int i = 0; i < n && i < 8; i++)
        snprintf(r->cols[i], sizeof r->cols[i], "%s", names[i]);
    return 0;
}

static int rows_row(void *arg, int n, const store_value_t *vals)
{
    rows_t *r = arg;
    if (r->nrows >= 32)
        return 0;
    for (int i = 0; i < n && i < 8; i++) {
        r->v[r->nrows][i] = vals[i];
        if (vals[i].type == STORE_TEXT || vals[i].type == STORE_BLOB) {
            size_t len = vals[i].len < 63 ? vals[i].len : 63;
            memcpy(r->text[r->nrows][i], vals[i].p, len);
            r->text[r->nrows][i][len] = 0;
        }
    }
    r->nrows++;
    return 0;
}

static int sql(store_kv_t *kv, const char *q, const store_value_t *b, int nb, rows_t *r,
               store_sql_stats_t *stats, char *err)
{
    store_sql_sink_t sink = {.columns = rows_columns, .row = rows_row, .arg = r};
    store_sql_stats_t st;
    memset(r, 0, sizeof *r);
    err[0] = 0;
    return store_sql_exec(kv, q, strlen(q), b, nb, &sink, stats ? stats : &st, err, 256);
}

static int interrupt_asked;

static int stop_after_ten(void *arg)
{
    return ++interrupt_asked >= 10;
}

static void test_sql(void **state)
{
    char *dir = new_data_dir();
    store_shard_t *s = store_shard_new(dir, STORE_DURABILITY_PROCESS, 16);
    store_kv_t *kv = kv_str(s, "sql");
    rows_t r;
    char err[256];
    store_sql_stats_t stats;
    assert_int_equal(sql(kv,
                         "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);"
                         "INSERT INTO t(name, score) VALUES ('ada', 1.5); -- a comment\n",
                         NULL, 0, &r, &stats, err), 0);
    assert_int_equal(stats.rows_written, 1);
    store_value_t b[4] = {{.type = STORE_TEXT, .p = (const uint8_t *)"bob", .len = 3},
                          {.type = STORE_REAL, .d = 2.25},
                          {.type = STORE_BLOB, .p = (const uint8_t *)"\x00\x01\x02", .len = 3},
                          {.type = STORE_INTEGER, .i = 9007199254740993LL}};
    assert_int_equal(sql(kv, "INSERT INTO t(name, score, data, id) VALUES (?, ?, ?, ?)", b, 4, &r,
                         &stats, err), 0);
    assert_int_equal(sql(kv, "SELECT id, name, score, data FROM t ORDER BY name", NULL, 0, &r,
                         &stats, err), 0);
    assert_int_equal(r.ncols, 4);
    assert_string_equal(r.cols[1], "name");
    assert_int_equal(r.nrows, 2);
    assert_int_equal(stats.rows_read, 2);
    assert_string_equal(r.text[0][1], "ada");
    assert_int_equal(r.v[0][3].type, STORE_NULL);
    assert_int_equal(r.v[1][0].type, STORE_INTEGER);
    assert_true(r.v[1][0].i == 9007199254740993LL); /* past 2^53, exact */
    assert_int_equal(r.v[1][3].type, STORE_BLOB);
    assert_int_equal(r.v[1][3].len, 3);
    assert_true(r.v[1][2].d == 2.25);
    /* only the last statement's rows; only the last may take parameters */
    assert_int_equal(sql(kv, "SELECT 1; SELECT 2 AS two", NULL, 0, &r, NULL, err), 0);
    assert_string_equal(r.cols[0], "two");
    assert_int_equal(r.v[0][0].i, 2);
    assert_int_equal(sql(kv, "SELECT ?; SELECT 2", b, 1, &r, NULL, err), -1);
    assert_non_null(strstr(err, "only the last statement can have parameters"));
    assert_int_equal(sql(kv, "SELECT ?, ?", b, 1, &r, NULL, err), -1);
    assert_non_null(strstr(err, "2 parameters but 1 value was given"));
    assert_int_equal(sql(kv, "SELECT 1", b, 1, &r, NULL, err), -1);
    assert_non_null(strstr(err, "0 parameters but 1 value"));
    assert_int_equal(sql(kv, "-- only a comment", b, 1, &r, NULL, err), -1);
    assert_non_null(strstr(err, "did not contain a statement"));
    assert_int_equal(sql(kv, " ; /* */ ", NULL, 0, &r, NULL, err), -1);
    assert_non_null(strstr(err, "did not contain a statement"));
    /* SQLite's own messages */
    assert_int_equal(sql(kv, "SELECT * FROM nope", NULL, 0, &r, NULL, err), -1);
    assert_non_null(strstr(err, "no such table: nope"));
    assert_int_equal(sql(kv, "INSERT INTO t(id) VALUES (1); INSERT INTO t(id) VALUES (1)", NULL, 0,
                         &r, NULL, err), -1);
    assert_non_null(strstr(err, "UNIQUE constraint failed"));
    /* the authorizer: transactions, reserved tables, pragmas */
    const char *refused[] = {"BEGIN", "COMMIT", "SAVEPOINT x", "SELECT * FROM _do_kv",
                             "DELETE FROM _do_alarm", "DROP TABLE _do_meta",
                             "CREATE INDEX i ON _do_kv(value)", "PRAGMA journal_mode=DELETE",
                             "ATTACH DATABASE '/tmp/x' AS x", "PRAGMA synchronous=OFF"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (sql(kv, refused[i], NULL, 0, &r, NULL, err) != -1)
            fail_msg("'%s' should be refused", refused[i]);
        if (!strstr(err, "cannot be used") && !strstr(err, "reserved"))
            fail_msg("'%s': unexpected message '%s'", refused[i], err);
    }
    /* the limits, and a statement the caller's budget stops */
    assert_int_equal(sql(kv, "SELECT zeroblob(2000001)", NULL, 0, &r, NULL, err), -1);
    assert_non_null(strstr(err, "too big"));
    assert_int_equal(sql(kv, "SELECT fts3_tokenizer('simple')", NULL, 0, &r, NULL, err), -1);
    assert_non_null(strstr(err, "fts3_tokenizer"));
    interrupt_asked = 0;
    store_sql_sink_t stop = {.columns = rows_columns, .row = rows_row,
                             .interrupted = stop_after_ten, .arg = &r};
    const char *forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                          "SELECT count(*) FROM c";
    assert_int_equal(store_sql_exec(kv, forever, strlen(forever), NULL, 0, &stop, &stats, err,
                                    sizeof err),
                     -1);
    assert_non_null(strstr(err, "interrupted"));
    assert_int_equal(interrupt_asked, 10);
    assert_int_equal(sql(kv, "PRAGMA table_info(t)", NULL, 0, &r, NULL, err), 0);
    assert_int_equal(r.nrows, 4);
    assert_int_equal(sql(kv, "SELECT count(*) FROM sqlite_master WHERE name LIKE '_do_%'", NULL,
                         0, &r, NULL, err), 0);
    assert_true(r.v[0][0].i >= 3); /* listed, as on Cloudflare, though not readable */
    /* KV writes still work through the store while SQL runs */
    put_s(kv, "k", "v");
    commit(kv);
    assert_true(store_sql_database_size(kv) >= 4096);
    /* SQL writes are part of the turn: a failed commit takes them too */
    store_fail_next_commits(1);
    assert_int_equal(sql(kv, "INSERT INTO t(name) VALUES ('lost')", NULL, 0, &r, NULL, err), 0);
    assert_true(store_kv_dirty(kv));
    assert_int_equal(commit_rc(kv, err, sizeof err), -1);
    assert_int_equal(sql(kv, "SELECT count(*) FROM t WHERE name = 'lost'", NULL, 0, &r, NULL, err),
                     0);
    assert_int_equal(r.v[0][0].i, 0);
    /* and after a restart the committed rows are there */
    store_kv_free(kv);
    kv = kv_str(s, "sql");
    assert_int_equal(sql(kv, "SELECT count(*) AS n FROM t", NULL, 0, &r, NULL, err), 0);
    assert_int_equal(r.v[0][0].i, 2);
    expect_s(kv, "k", "v");
    store_kv_free(kv);
    store_shard_free(s);
    free(dir);
}

/* ---- the alarm index -------------------------------------------------------------- */

typedef struct found {
    int n;
    int64_t at[8];
    char id[8][16];
} found_t;

static int found_cb(void *arg, const char *app, const char *cls, const uint8_t *id,
                    size_t id_len, int64_t at)
{
    found_t *f = arg;
    if (f->n < 8) {
        f->at[f->n] = at;
        snprintf(f->id[f->n], sizeof f->id[0], "%.*s", (int)id_len, (const char *)id);
        f->n++;
    }
    return 0;
}

static void test_alarm_index(void **state)
{
    char *dir = new_data_dir();
    char err[256];
    store_alarm_index_t *x = store_alarm_index_open(dir, STORE_DURABILITY_FSYNC, err, sizeof err);
    assert_non_null(x);
    store_job_t *ckpt = NULL;
    assert_int_equal(store_alarm_index_put(x, (const uint8_t *)"a\0c\0one", 7, "a", "c",
                                           (const uint8_t *)"one", 3, 100, &ckpt, err, sizeof err),
                     0);
    store_job_free(ckpt);
    assert_int_equal(store_alarm_index_put(x, (const uint8_t *)"a\0c\0two", 7, "a", "c",
                                           (const uint8_t *)"two", 3, 200, &ckpt, err, sizeof err),
                     0);
    store_job_free(ckpt);
    assert_int_equal(store_alarm_index_put(x, (const uint8_t *)"a\0c\0one", 7, "a", "c",
                                           (const uint8_t *)"one", 3, 150, &ckpt, err, sizeof err),
                     0);
    store_job_free(ckpt);
    assert_int_equal(store_alarm_index_delete(x, (const uint8_t *)"a\0c\0two", 7, err, sizeof err),
                     0);
    store_alarm_index_close(x);
    x = store_alarm_index_open(dir, STORE_DURABILITY_FSYNC, err, sizeof err);
    found_t f = {0};
    assert_int_equal(store_alarm_index_scan(x, found_cb, &f, err, sizeof err), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.id[0], "one");
    assert_int_equal(f.at[0], 150);
    assert_non_null(strstr(store_alarm_index_wal(x), "alarms.db-wal"));
    store_alarm_index_close(x);
    free(dir);
}

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
    assert_int_equal(store_purge(dir, "nope", "nothing", err, sizeof(err)), 0);
    assert_int_equal(store_purge(dir, "..", NULL, err, sizeof(err)), -1);
    assert_int_equal(store_purge(dir, "app1", "../app1", err, sizeof(err)), -1);
    assert_true(exists(p));
    store_shard_free(s);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transaction),  cmocka_unit_test(test_list_property),
        cmocka_unit_test(test_list_cases),   cmocka_unit_test(test_no_file_until_written),
        cmocka_unit_test(test_path_layout),  cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_lru),          cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_commit_failure), cmocka_unit_test(test_not_a_database),
        cmocka_unit_test(test_checkpoint),   cmocka_unit_test(test_jobs_on_threads),
        cmocka_unit_test(test_savepoints),   cmocka_unit_test(test_alarm),
        cmocka_unit_test(test_sql),          cmocka_unit_test(test_alarm_index),
        cmocka_unit_test(test_purge),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
