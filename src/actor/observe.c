/* What the layer above can observe of the classes running on a shard: usage
 * counters (requests, CPU time in JS, errors) kept per shard without locks
 * and gathered on request through the shards' mailboxes, the class log lines
 * handed to the class_log hook, and the hooks that WebSockets (issue 3) and
 * alarms (issue 4) fill in. Depends on lib/ and the rest of src/actor. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "actor_int.h"

/* ---- counters ---------------------------------------------------------------------- */

uint64_t usage_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

actor_usage_t *usage_get(shard_t *s, const actor_class_t *cls)
{
    size_t klen = strlen(cls->uuid);
    actor_usage_t *u = map_get(&s->usage, cls->uuid, klen);
    if (!u) {
        u = xcalloc(1, sizeof *u);
        u->uuid = xstrdup(cls->uuid);
        u->app_id = xstrdup(cls->app_id);
        u->name = xstrdup(cls->name);
        u->refs = 1; /* the map's */
        u->listed = true;
        map_put(&s->usage, u->uuid, klen, u);
    }
    u->refs++;
    return u;
}

static void usage_free(actor_usage_t *u)
{
    free(u->uuid);
    free(u->app_id);
    free(u->name);
    free(u);
}

void usage_unref(actor_usage_t *u)
{
    if (u && --u->refs == 0)
        usage_free(u);
}

void usage_prune(shard_t *s, const actor_catalog_t *cat)
{
    actor_usage_t *gone[64];
    for (;;) {
        size_t n = 0, it;
        for (map_entry_t *e = map_first(&s->usage, &it); e && n < 64;
             e = map_next(&s->usage, e, &it)) {
            actor_usage_t *u = e->value;
            bool found = false;
            for (size_t i = 0; cat && i < cat->nclasses && !found; i++)
                found = strcmp(cat->classes[i]->uuid, u->uuid) == 0;
            if (!found)
                gone[n++] = u;
        }
        if (n == 0)
            return;
        for (size_t i = 0; i < n; i++) {
            map_remove(&s->usage, gone[i]->uuid, strlen(gone[i]->uuid));
            gone[i]->listed = false;
            usage_unref(gone[i]);
        }
    }
}

void usage_free_all(shard_t *s)
{
    usage_prune(s, NULL);
}

/* ---- gathering ------------------------------------------------------------------------ */

typedef struct gather {
    atomic_int remaining;
    int n;
    actor_usage_report_t *reports;
    void (*done)(actor_usage_report_t *reports, int n, void *data);
    void *data;
} gather_t;

static void collect_cb(shard_t *s, void *arg)
{
    gather_t *g = arg;
    actor_usage_report_t *r = &g->reports[s->index];
    r->n = s->usage.count;
    r->rows = xcalloc(r->n + 1, sizeof *r->rows);
    size_t i = 0, it;
    for (map_entry_t *e = map_first(&s->usage, &it); e; e = map_next(&s->usage, e, &it)) {
        actor_usage_t *u = e->value;
        actor_usage_row_t *row = &r->rows[i];
        u->row = i++;
        row->uuid = xstrdup(u->uuid);
        row->app_id = xstrdup(u->app_id);
        row->name = xstrdup(u->name);
        row->requests = u->requests;
        row->cpu_ns = u->cpu_ns;
        row->errors = u->errors;
        row->websockets_open = actor_usage_websockets(s, u);
        row->alarms_pending = actor_usage_alarms(s, u);
    }
    for (map_entry_t *e = map_first(&s->instances, &it); e; e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        if (inst->status == INST_ACTIVE && inst->usage && inst->usage->listed)
            r->rows[inst->usage->row].instances_live++;
    }
    if (atomic_fetch_sub(&g->remaining, 1) == 1) {
        g->done(g->reports, g->n, g->data);
        free(g);
    }
}

void shards_collect_usage(shard_t **shards, int n,
                          void (*done)(actor_usage_report_t *reports, int n, void *data),
                          void *data)
{
    gather_t *g = xcalloc(1, sizeof *g);
    atomic_store(&g->remaining, n);
    g->n = n;
    g->reports = xcalloc((size_t)n, sizeof *g->reports);
    g->done = done;
    g->data = data;
    for (int i = 0; i < n; i++)
        shard_call(shards[i], collect_cb, g);
}

void actor_usage_reports_free(actor_usage_report_t *reports, int n)
{
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < reports[i].n; j++) {
            free(reports[i].rows[j].uuid);
            free(reports[i].rows[j].app_id);
            free(reports[i].rows[j].name);
        }
        free(reports[i].rows);
    }
    free(reports);
}

/* ---- class log lines --------------------------------------------------------------------- */

void shard_class_log(shard_t *s, const actor_class_t *cls, const char *subject,
                     const char *instance, int level, const char *msg, size_t len)
{
    static const enum log_level map[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    log_raw(map[level & 3], subject, msg, len);
    if (!s->hooks.class_log || !cls)
        return;
    actor_log_line_t line = {cls->app_id, cls->name, cls->uuid, instance, level & 3, msg, len};
    s->hooks.class_log(s, &line, s->hooks.data);
}

void shard_class_logf(shard_t *s, const actor_class_t *cls, const char *subject,
                      const char *instance, int level, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    shard_class_log(s, cls, subject, instance, level, buf_cstr(&b), b.len);
    buf_deinit(&b);
}

/* ---- what other parts count ------------------------------------------------------------ */

void actor_app_close_websockets(shard_t *s, const char *app_id, int code, const char *reason)
{
    size_t it;
    for (map_entry_t *e = map_first(&s->instances, &it); e; e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        if (strcmp(inst->cls->app_id, app_id) == 0)
            sock_close_all(inst, true, code, reason);
    }
}

uint64_t actor_usage_websockets(shard_t *s, const actor_usage_t *u)
{
    uint64_t n = 0;
    size_t it;
    for (map_entry_t *e = map_first(&s->sockets, &it); e; e = map_next(&s->sockets, e, &it)) {
        const actor_sock_t *k = e->value;
        if (k->inst && k->inst->usage == u && !k->ended)
            n++;
    }
    return n;
}

uint64_t actor_usage_alarms(shard_t *s, const actor_usage_t *u)
{
    /* Scheduled alarms are keyed by "app\0class\0id". */
    size_t alen = strlen(u->app_id), nlen = strlen(u->name);
    uint64_t n = 0;
    size_t it;
    for (map_entry_t *e = map_first(&s->alarm_sched, &it); e;
         e = map_next(&s->alarm_sched, e, &it)) {
        if (e->klen > alen + nlen + 2 && memcmp(e->key, u->app_id, alen) == 0 &&
            e->key[alen] == 0 && memcmp(e->key + alen + 1, u->name, nlen) == 0 &&
            e->key[alen + 1 + nlen] == 0)
            n++;
    }
    return n;
}
