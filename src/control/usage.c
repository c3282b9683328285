/* Usage (DESIGN.md 1.5): the usage action and GET /metrics. Counters live on
 * the shards (src/actor/observe.c) and are gathered through their mailboxes
 * when asked, so answers are live; what was counted before this process
 * started comes from control.db, where the sums are written every few
 * seconds and at shutdown. storage_bytes is measured on disk. Runs on the
 * control thread. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "control_int.h"

/* Counters of one class: persisted base plus what the shards counted. */
typedef struct usage_sum {
    char *uuid, *app_id, *name;
    uint64_t requests, cpu_us, errors;          /* totals */
    uint64_t instances_live, websockets_open, alarms_pending;
} usage_sum_t;

struct usage_state {
    map_t base; /* uuid -> usage_sum_t (only the three counters are used) */
    bool collecting; /* a persisting gather is on its way */
};

enum usage_purpose { FOR_PERSIST, FOR_ACTION, FOR_METRICS, FOR_FINAL };

typedef struct usage_mail {
    mail_t mail;
    control_t *c;
    enum usage_purpose purpose;
    pending_reply_t *p;
    char *app, *name;
    actor_usage_report_t *reports;
    int n;
} usage_mail_t;

static void sum_free(usage_sum_t *u)
{
    free(u->uuid);
    free(u->app_id);
    free(u->name);
    free(u);
}

int usage_start(control_t *c)
{
    usage_state_t *st = xcalloc(1, sizeof *st);
    map_init(&st->base);
    c->usage = st;
    catalog_usage_t *rows = NULL;
    size_t n = 0;
    char err[256];
    if (catalog_usage_list(c->db, &rows, &n, err, sizeof err) < 0) {
        log_error("usage", "cannot read the usage counters: %s", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        usage_sum_t *u = xcalloc(1, sizeof *u);
        u->uuid = xstrdup(rows[i].class_id);
        u->app_id = xstrdup(rows[i].app_id);
        u->name = xstrdup(rows[i].name);
        u->requests = (uint64_t)rows[i].do_requests;
        u->cpu_us = (uint64_t)rows[i].do_cpu_us;
        u->errors = (uint64_t)rows[i].errors;
        map_put(&st->base, u->uuid, strlen(u->uuid), u);
    }
    catalog_usage_free(rows, n);
    return 0;
}

static void free_sums(map_t *m)
{
    size_t it;
    for (map_entry_t *e = map_first(m, &it); e; e = map_next(m, e, &it))
        sum_free(e->value);
    map_deinit(m);
}

void usage_stop(control_t *c)
{
    if (!c->usage)
        return;
    free_sums(&c->usage->base);
    free(c->usage);
    c->usage = NULL;
}

void usage_forget(control_t *c, const char *app_id, const char *name)
{
    map_t *m = &c->usage->base;
    for (;;) {
        usage_sum_t *hit = NULL;
        size_t it;
        for (map_entry_t *e = map_first(m, &it); e && !hit; e = map_next(m, e, &it)) {
            usage_sum_t *u = e->value;
            if (strcmp(u->app_id, app_id) == 0 && (!name || strcmp(u->name, name) == 0))
                hit = u;
        }
        if (!hit)
            return;
        map_remove(m, hit->uuid, strlen(hit->uuid));
        sum_free(hit);
    }
}

/* ---- gathering ----------------------------------------------------------------------- */

static void gathered_cb(actor_usage_report_t *reports, int n, void *data)
{
    /* On the last shard to answer: hop to the control thread. */
    usage_mail_t *m = data;
    m->reports = reports;
    m->n = n;
    mailbox_post(m->c->mb, &m->mail);
}

static void gather(control_t *c, enum usage_purpose purpose, pending_reply_t *p,
                   const char *app, const char *name)
{
    usage_mail_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = CONTROL_USAGE;
    m->c = c;
    m->purpose = purpose;
    m->p = p;
    m->app = app ? xstrdup(app) : NULL;
    m->name = name ? xstrdup(name) : NULL;
    shards_collect_usage(c->shards, c->cfg->threads, gathered_cb, m);
}

/* Base plus every shard's rows, for the classes in the snapshot. */
static void totals(control_t *c, const usage_mail_t *m, map_t *out)
{
    map_init(out);
    const actor_catalog_t *cat = c->snapshot;
    for (size_t i = 0; i < cat->nclasses; i++) {
        const actor_class_t *k = cat->classes[i];
        usage_sum_t *u = xcalloc(1, sizeof *u);
        u->uuid = xstrdup(k->uuid);
        u->app_id = xstrdup(k->app_id);
        u->name = xstrdup(k->name);
        const usage_sum_t *b = map_get(&c->usage->base, k->uuid, strlen(k->uuid));
        if (b) {
            u->requests = b->requests;
            u->cpu_us = b->cpu_us;
            u->errors = b->errors;
        }
        map_put(out, u->uuid, strlen(u->uuid), u);
    }
    /* CPU is summed in nanoseconds per shard, then rounded once. */
    for (int s = 0; s < m->n; s++)
        for (size_t j = 0; j < m->reports[s].n; j++) {
            const actor_usage_row_t *r = &m->reports[s].rows[j];
            usage_sum_t *u = map_get(out, r->uuid, strlen(r->uuid));
            if (!u)
                continue;
            u->requests += r->requests;
            u->cpu_us += r->cpu_ns / 1000;
            u->errors += r->errors;
            u->instances_live += r->instances_live;
            u->websockets_open += r->websockets_open;
            u->alarms_pending += r->alarms_pending;
        }
}

static void persist(control_t *c, map_t *sums)
{
    size_t n = sums->count, i = 0, it;
    catalog_usage_t *rows = xcalloc(n + 1, sizeof *rows);
    for (map_entry_t *e = map_first(sums, &it); e; e = map_next(sums, e, &it)) {
        usage_sum_t *u = e->value;
        rows[i++] = (catalog_usage_t){u->uuid, u->app_id, u->name, (int64_t)u->requests,
                                      (int64_t)u->cpu_us, (int64_t)u->errors};
    }
    char err[256];
    if (catalog_usage_put(c->db, rows, i, err, sizeof err) < 0)
        log_error("usage", "cannot save the usage counters: %s", err);
    free(rows);
}

/* Bytes on disk under dir, recursively (instance databases and their WALs). */
static uint64_t dir_bytes(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    buf_t p = BUF_INIT;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        buf_reset(&p);
        buf_printf(&p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(buf_cstr(&p), &st) != 0)
            continue;
        if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
        else if (S_ISDIR(st.st_mode) && depth < 4)
            total += dir_bytes(buf_cstr(&p), depth + 1);
    }
    buf_deinit(&p);
    closedir(d);
    return total;
}

static uint64_t storage_bytes(control_t *c, const char *app, const char *name)
{
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s/apps/%s/%s", c->cfg->data_dir, app, name);
    uint64_t n = dir_bytes(buf_cstr(&p), 0);
    buf_deinit(&p);
    return n;
}

static json_t *fields(json_t *o, uint64_t req, uint64_t cpu_us, uint64_t live, uint64_t ws,
                      uint64_t bytes, uint64_t alarms, uint64_t errors)
{
    json_object_set_new(o, "do_requests", json_integer((json_int_t)req));
    json_object_set_new(o, "do_cpu_ms", json_real((double)cpu_us / 1000.0));
    json_object_set_new(o, "instances_live", json_integer((json_int_t)live));
    json_object_set_new(o, "websockets_open", json_integer((json_int_t)ws));
    json_object_set_new(o, "storage_bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "alarms_pending", json_integer((json_int_t)alarms));
    json_object_set_new(o, "errors", json_integer((json_int_t)errors));
    return o;
}

static json_t *class_usage(control_t *c, const usage_sum_t *u)
{
    json_t *o = json_pack("{s:s, s:s}", "name", u->name, "app_id", u->app_id);
    return fields(o, u->requests, u->cpu_us, u->instances_live, u->websockets_open,
                  storage_bytes(c, u->app_id, u->name), u->alarms_pending, u->errors);
}

/* The usage action's answer, from the gathered totals. */
static http_response_t *usage_answer(control_t *c, map_t *sums, const char *app,
                                     const char *name)
{
    size_t it;
    if (name) {
        for (map_entry_t *e = map_first(sums, &it); e; e = map_next(sums, e, &it)) {
            usage_sum_t *u = e->value;
            if (strcmp(u->app_id, app) == 0 && strcmp(u->name, name) == 0)
                return control_json_response(200, class_usage(c, u));
        }
        return control_class_not_found(app, name);
    }
    json_t *list = json_array();
    uint64_t t[7] = {0};
    for (size_t i = 0; i < c->snapshot->nclasses; i++) {
        const actor_class_t *k = c->snapshot->classes[i];
        usage_sum_t *u = strcmp(k->app_id, app) == 0 ? map_get(sums, k->uuid, strlen(k->uuid))
                                                     : NULL;
        if (!u)
            continue;
        json_t *o = class_usage(c, u);
        t[0] += u->requests;
        t[1] += u->cpu_us;
        t[2] += u->instances_live;
        t[3] += u->websockets_open;
        t[4] += (uint64_t)json_integer_value(json_object_get(o, "storage_bytes"));
        t[5] += u->alarms_pending;
        t[6] += u->errors;
        json_array_append_new(list, o);
    }
    json_t *o = json_pack("{s:s}", "app_id", app);
    fields(o, t[0], t[1], t[2], t[3], t[4], t[5], t[6]);
    json_object_set_new(o, "durable_objects", list);
    return control_json_response(200, o);
}

/* Prometheus label values escape backslash, double quote and newline. */
static void label(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(b, '\\');
        if (*s == '\n') {
            buf_puts(b, "\\n");
            continue;
        }
        buf_putc(b, *s);
    }
}

static http_response_t *metrics_answer(control_t *c, map_t *sums)
{
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"dorm_do_requests_total", "counter", "Requests routed to instances of the class."},
        {"dorm_do_cpu_seconds_total", "counter", "CPU time spent in the class's JavaScript."},
        {"dorm_do_errors_total", "counter",
         "Events of the class that failed, and uncaught exceptions."},
        {"dorm_do_instances_live", "gauge", "Instances of the class in memory."},
        {"dorm_do_websockets_open", "gauge", "WebSockets open on instances of the class."},
        {"dorm_do_storage_bytes", "gauge", "Bytes on disk of the class's instance databases."},
        {"dorm_do_alarms_pending", "gauge", "Alarms set on instances of the class."},
    };
    size_t n = c->snapshot->nclasses;
    uint64_t *bytes = xcalloc(n + 1, sizeof *bytes);
    for (size_t i = 0; i < n; i++)
        bytes[i] = storage_bytes(c, c->snapshot->classes[i]->app_id,
                                 c->snapshot->classes[i]->name);
    buf_t b = BUF_INIT;
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
                   series[k].name, series[k].type);
        for (size_t i = 0; i < n; i++) {
            const actor_class_t *cls = c->snapshot->classes[i];
            const usage_sum_t *u = map_get(sums, cls->uuid, strlen(cls->uuid));
            if (!u)
                continue;
            buf_printf(&b, "%s{app=\"", series[k].name);
            label(&b, cls->app_id);
            buf_puts(&b, "\",class=\"");
            label(&b, cls->name);
            buf_puts(&b, "\"} ");
            switch (k) {
            case 0: buf_printf(&b, "%llu", (unsigned long long)u->requests); break;
            case 1: buf_printf(&b, "%.6f", (double)u->cpu_us / 1e6); break;
            case 2: buf_printf(&b, "%llu", (unsigned long long)u->errors); break;
            case 3: buf_printf(&b, "%llu", (unsigned long long)u->instances_live); break;
            case 4: buf_printf(&b, "%llu", (unsigned long long)u->websockets_open); break;
            case 5: buf_printf(&b, "%llu", (unsigned long long)bytes[i]); break;
            default: buf_printf(&b, "%llu", (unsigned long long)u->alarms_pending); break;
            }
            buf_putc(&b, '\n');
        }
    }
    buf_printf(&b, "# HELP dorm_apps Apps on this server.\n# TYPE dorm_apps gauge\ndorm_apps %zu\n",
               c->snapshot->napps);
    buf_printf(&b, "# HELP dorm_shards Shards (threads) serving instances.\n"
                   "# TYPE dorm_shards gauge\ndorm_shards %d\n",
               c->cfg->threads);
    free(bytes);
    http_response_t *res = http_response_new(200);
    http_headers_add(&res->headers, &res->nheaders, "Content-Type",
                     "text/plain; version=0.0.4; charset=utf-8");
    buf_append(&res->body, b.data, b.len);
    buf_deinit(&b);
    return res;
}

void usage_on_mail(control_t *c, mail_t *mail)
{
    usage_mail_t *m = (usage_mail_t *)mail;
    map_t sums;
    totals(c, m, &sums);
    switch (m->purpose) {
    case FOR_PERSIST:
        c->usage->collecting = false;
        /* fall through */
    case FOR_FINAL:
        persist(c, &sums);
        break;
    case FOR_ACTION:
        m->p->res = usage_answer(c, &sums, m->app, m->name);
        control_finish(c, m->p);
        break;
    case FOR_METRICS:
        m->p->res = metrics_answer(c, &sums);
        control_finish(c, m->p);
        break;
    }
    free_sums(&sums);
    actor_usage_reports_free(m->reports, m->n);
    free(m->app);
    free(m->name);
    free(m);
}

http_response_t *usage_action(control_t *c, const char *app, const char *name,
                              pending_reply_t *p)
{
    if (name && !actor_catalog_class(c->snapshot, app, name, strlen(name)))
        return control_class_not_found(app, name);
    gather(c, FOR_ACTION, p, app, name);
    return NULL;
}

void usage_metrics(control_t *c, pending_reply_t *p)
{
    gather(c, FOR_METRICS, p, NULL, NULL);
}

void usage_tick(control_t *c)
{
    if (c->usage->collecting)
        return;
    c->usage->collecting = true;
    gather(c, FOR_PERSIST, NULL, NULL, NULL);
}

void usage_collect_final(control_t *c)
{
    /* From the stopper thread: only reads c->shards and c->mb, which stay
     * put until the loop ends. */
    gather(c, FOR_FINAL, NULL, NULL, NULL);
}
