/* Storage micro-benchmark: single-key upsert commits per second through the
 * store API (put, take_batch, commit_work, commit_done), on one instance and
 * across many, in both durability modes, with commits run serially on the
 * calling thread or on a pool of worker threads fed by one "shard" thread,
 * as the server does. Depends on src/store and src/lib only.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Isrc -o /tmp/store_bench bench/store_bench.c \
 *      src/store/[a-z]*.c src/lib/buf.c src/lib/mem.c -lsqlite3 -lcrypto -lpthread
 *   /tmp/store_bench [seconds-per-run]   (data goes to a temporary directory) */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store.h"

static double run_seconds = 2.0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 ? errno : 0;
}

/* A 100-byte value that differs on every commit: SQLite skips writing an
 * identical value, which would flatter the figures. */
static void put_counter(store_kv_t *kv, unsigned long n)
{
    char v[100];
    memset(v, 'x', sizeof(v));
    snprintf(v, sizeof(v), "%lu", n);
    store_kv_put(kv, (const uint8_t *)"count", 5, (const uint8_t *)v, sizeof(v));
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "store_bench: %s: %s\n", what, err);
    exit(1);
}

typedef struct result {
    double commits_per_s;
    double shard_us_per_commit; /* put + take + commit_done on the shard thread */
    double first_write_per_s;   /* the commit that creates each file */
} result_t;

/* ---- serial: every commit on the calling thread -------------------------- */

static result_t run_serial(const char *dir, store_durability_t d, int ninst, size_t max_open)
{
    store_shard_t *s = store_shard_new(dir, d, max_open);
    store_kv_t **kvs = calloc((size_t)ninst, sizeof(*kvs));
    char err[512], id[32];
    result_t r = {0};
    double t0 = now();
    for (int i = 0; i < ninst; i++) {
        snprintf(id, sizeof(id), "inst-%d", i);
        kvs[i] = store_kv_new(s, "bench", "counter", (const uint8_t *)id, strlen(id));
        put_counter(kvs[i], 0);
        store_kv_take_batch(kvs[i]);
        if (store_kv_commit_work(kvs[i], err, sizeof(err)) < 0)
            die("commit", err);
        store_kv_commit_done(kvs[i], true);
    }
    r.first_write_per_s = ninst / (now() - t0);
    unsigned long n = 0;
    double shard = 0;
    t0 = now();
    double end = t0 + run_seconds;
    for (;;) {
        store_kv_t *kv = kvs[n % (unsigned long)ninst];
        double a = now();
        put_counter(kv, n + 1);
        store_kv_take_batch(kv);
        double b = now();
        if (store_kv_commit_work(kv, err, sizeof(err)) < 0)
            die("commit", err);
        double c = now();
        store_kv_commit_done(kv, true);
        double e = now();
        shard += (b - a) + (e - c);
        n++;
        if ((n & 63) == 0 && e >= end)
            break;
    }
    double el = now() - t0;
    r.commits_per_s = n / el;
    r.shard_us_per_commit = shard / n * 1e6;
    for (int i = 0; i < ninst; i++)
        store_kv_free(kvs[i]);
    free(kvs);
    store_shard_free(s);
    return r;
}

/* ---- pooled: one shard thread, N commit workers -------------------------- */

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    store_kv_t **queue; /* ring of kvs whose batch awaits a worker */
    size_t qhead, qlen, cap;
    store_kv_t **done; /* finished, for the shard thread */
    size_t ndone;
    bool stop;
    int failures;
} pool_t;

static void *worker_main(void *arg)
{
    pool_t *p = arg;
    char err[512];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->qlen == 0 && !p->stop)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->stop)
            break;
        store_kv_t *kv = p->queue[p->qhead];
        p->qhead = (p->qhead + 1) % p->cap;
        p->qlen--;
        pthread_mutex_unlock(&p->mu);
        int rc = store_kv_commit_work(kv, err, sizeof(err));
        pthread_mutex_lock(&p->mu);
        if (rc < 0) {
            fprintf(stderr, "store_bench: commit: %s\n", err);
            p->failures++;
        }
        p->done[p->ndone++] = kv;
        pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void submit(pool_t *p, store_kv_t *kv)
{
    p->queue[(p->qhead + p->qlen) % p->cap] = kv;
    p->qlen++;
    pthread_cond_signal(&p->work_cv);
}

static result_t run_pooled(const char *dir, store_durability_t d, int ninst, size_t max_open,
                           int nthreads)
{
    store_shard_t *s = store_shard_new(dir, d, max_open);
    store_kv_t **kvs = calloc((size_t)ninst, sizeof(*kvs));
    pool_t p = {.cap = (size_t)ninst};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.work_cv, NULL);
    pthread_cond_init(&p.done_cv, NULL);
    p.queue = calloc((size_t)ninst, sizeof(*p.queue));
    p.done = calloc((size_t)ninst, sizeof(*p.done));
    store_kv_t **batch = calloc((size_t)ninst, sizeof(*batch));
    pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker_main, &p);
    char id[32];
    result_t r = {0};

    /* The first round creates the files; every later round is an upsert. */
    unsigned long n = 0, counter = 0;
    double shard = 0;
    double t0 = now();
    pthread_mutex_lock(&p.mu);
    for (int i = 0; i < ninst; i++) {
        snprintf(id, sizeof(id), "inst-%d", i);
        kvs[i] = store_kv_new(s, "bench", "counter", (const uint8_t *)id, strlen(id));
        put_counter(kvs[i], counter++);
        store_kv_take_batch(kvs[i]);
        submit(&p, kvs[i]);
    }
    for (int created = 0; created < ninst;) {
        while (p.ndone == 0)
            pthread_cond_wait(&p.done_cv, &p.mu);
        for (size_t i = 0; i < p.ndone; i++)
            store_kv_commit_done(p.done[i], true);
        created += (int)p.ndone;
        p.ndone = 0;
    }
    double tmeasure = now();
    r.first_write_per_s = ninst / (tmeasure - t0);
    double end = tmeasure + run_seconds;
    for (int i = 0; i < ninst; i++) {
        put_counter(kvs[i], counter++);
        store_kv_take_batch(kvs[i]);
        submit(&p, kvs[i]);
    }
    size_t outstanding = (size_t)ninst;
    for (;;) {
        while (p.ndone == 0)
            pthread_cond_wait(&p.done_cv, &p.mu);
        size_t nb = p.ndone;
        memcpy(batch, p.done, nb * sizeof(*batch));
        p.ndone = 0;
        pthread_mutex_unlock(&p.mu);
        /* What the shard thread does per finished commit: report it, and
         * (in the server: after the next turn) hand over the next batch. */
        double a = now();
        for (size_t i = 0; i < nb; i++)
            store_kv_commit_done(batch[i], true);
        outstanding -= nb;
        n += nb;
        bool more = now() < end;
        if (more) {
            for (size_t i = 0; i < nb; i++) {
                put_counter(batch[i], counter++);
                store_kv_take_batch(batch[i]);
            }
        }
        shard += now() - a;
        pthread_mutex_lock(&p.mu);
        if (more) {
            for (size_t i = 0; i < nb; i++)
                submit(&p, batch[i]);
            outstanding += nb;
        } else if (outstanding == 0) {
            break;
        }
    }
    double el = now() - tmeasure;
    p.stop = true;
    pthread_cond_broadcast(&p.work_cv);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    if (p.failures)
        die("pooled run", "commits failed");
    r.commits_per_s = n / el;
    r.shard_us_per_commit = n ? shard / n * 1e6 : 0;
    for (int i = 0; i < ninst; i++)
        store_kv_free(kvs[i]);
    free(kvs);
    free(p.queue);
    free(p.done);
    free(batch);
    free(th);
    store_shard_free(s);
    return r;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        run_seconds = atof(argv[1]);
    char root[] = "/tmp/dorm-store-bench-XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    static const struct {
        store_durability_t d;
        const char *name;
    } modes[] = {{STORE_DURABILITY_PROCESS, "process (NORMAL)"},
                 {STORE_DURABILITY_FSYNC, "fsync (FULL)"}};
    printf("single-key upsert commits, 100-byte values, %.1f s per run\n", run_seconds);
    printf("%-17s %-32s %12s %14s %14s\n", "durability", "run", "commits/s", "shard us/commit",
           "creates/s");
    int run_id = 0;
    for (int m = 0; m < 2; m++) {
        struct {
            const char *name;
            int ninst, threads;
            size_t max_open;
        } runs[] = {
            {"1 instance, serial", 1, 0, 1024},
            {"1000 instances, serial", 1000, 0, 4096},
            {"1000 instances, 8 threads", 1000, 8, 4096},
            {"1000 inst, 8 thr, max_open 256", 1000, 8, 256},
        };
        for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
            char dir[128];
            snprintf(dir, sizeof(dir), "%s/run%d", root, run_id++);
            mkdir(dir, 0700);
            result_t r = runs[i].threads
                             ? run_pooled(dir, modes[m].d, runs[i].ninst, runs[i].max_open,
                                          runs[i].threads)
                             : run_serial(dir, modes[m].d, runs[i].ninst, runs[i].max_open);
            printf("%-17s %-32s %12.0f %14.1f %14.0f\n", modes[m].name, runs[i].name,
                   r.commits_per_s, r.shard_us_per_commit, r.first_write_per_s);
            fflush(stdout);
            nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
