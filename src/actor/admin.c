/* Storage administration on the shards (actor.h, "storage administration"):
 * deleting or replacing one instance's file while the instance is held
 * still on its own thread, and gathering which instances have state in
 * memory. The files themselves are handled by store/inspect.c; this file
 * only decides when it is safe. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../store/inspect.h"
#include "actor_int.h"

/* How long the events an instance is running may take before they are
 * failed so that its storage can be replaced. */
#define ADMIN_WAIT_MS 10000
#define ADMIN_POLL_MS 5

typedef struct pending {
    actor_admin_op_t *op;
    shard_t *s;
    uv_timer_t timer;
    uint64_t started_ms;
    bool timer_live;
} pending_t;

static void finish(pending_t *p)
{
    actor_admin_op_t *op = p->op;
    if (p->timer_live) {
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, (uv_close_cb)free);
    } else {
        free(p);
    }
    op->done(op, op->data);
}

static void fail(pending_t *p, const char *msg)
{
    p->op->rc = -1;
    snprintf(p->op->err, sizeof p->op->err, "%s", msg);
    finish(p);
}

/* Whether anything still depends on the instance's file as it is. */
static bool busy(const instance_t *inst)
{
    return inst->inflight > 0 || inst->held || inst->held_out ||
           instance_durability_pending(inst) || inst->api.blocked > 0 || inst->listed_dirty ||
           store_kv_savepoint_depth(inst->api.kv) > 0;
}

static void attempt(pending_t *p);

static void on_poll(uv_timer_t *t)
{
    attempt(t->data);
}

static void attempt(pending_t *p)
{
    actor_admin_op_t *op = p->op;
    shard_t *s = p->s;
    if (s->stopping || s->exiting) {
        fail(p, "the server is shutting down; try again once it is back");
        return;
    }
    actor_class_t *cls = actor_catalog_class(s->catalog, op->app, op->cls, strlen(op->cls));
    if (!cls) {
        fail(p, "the class is not deployed (any more)");
        return;
    }
    instance_t *inst = instance_get(s, cls, op->id, op->id_len);
    inst->admin_hold = true;
    if (busy(inst)) {
        uint64_t now = uv_now(&s->loop);
        if (now - p->started_ms >= ADMIN_WAIT_MS && inst->inflight > 0) {
            /* Events that never finish must not hold the restore forever. */
            instance_reset(inst, 503, op->op == ACTOR_ADMIN_RESTORE
                                          ? "was stopped for its storage to be restored"
                                          : "was stopped for its storage to be deleted");
        }
        if (!p->timer_live) {
            uv_timer_init(&s->loop, &p->timer);
            p->timer.data = p;
            p->timer_live = true;
        }
        uv_timer_start(&p->timer, on_poll, ADMIN_POLL_MS, 0);
        return;
    }
    const char *why = op->op == ACTOR_ADMIN_RESTORE
                          ? "the Durable Object's storage was restored from a backup"
                          : "the Durable Object's storage was deleted";
    /* Its sockets and its memory go: they were built on the old data. */
    sock_close_all(inst, true, op->op == ACTOR_ADMIN_RESTORE ? 1012 : 1001, why);
    instance_reset(inst, 500, why);
    store_kv_close(inst->api.kv);
    const char *path = store_kv_path(inst->api.kv);
    char err[256];
    int rc;
    if (op->op == ACTOR_ADMIN_DELETE) {
        op->existed = store_file_bytes(path) > 0;
        rc = store_remove_instance_file(path, err, sizeof err);
    } else {
        rc = store_replace_instance_file(op->prepared, path, err, sizeof err);
    }
    if (rc < 0) {
        op->rc = -1;
        snprintf(op->err, sizeof op->err, "%s", err);
        log_error(inst->label, "%s", err);
    } else {
        log_info(inst->label, "%s", why);
    }
    /* The alarm is the new file's (none after a delete). */
    inst->alarm_retries = 0;
    alarm_committed(inst, NULL);
    inst->admin_hold = false;
    inst->last_used_ns = uv_hrtime();
    if (inst->queue)
        shard_mark_runnable(inst);
    finish(p);
}

static void run_on_owner(shard_t *s, void *arg)
{
    pending_t *p = arg;
    p->s = s;
    p->started_ms = uv_now(&s->loop);
    attempt(p);
}

void actor_admin_run(shard_t **shards, int n, actor_admin_op_t *op)
{
    op->rc = 0;
    op->err[0] = '\0';
    op->existed = false;
    pending_t *p = xcalloc(1, sizeof *p);
    p->op = op;
    int owner = actor_owner(n, op->app, op->cls, op->id, op->id_len);
    shard_call(shards[owner], run_on_owner, p);
}

/* ---- which instances are live -------------------------------------------------------- */

typedef struct gather {
    char *app, *cls;
    atomic_int remaining;
    pthread_mutex_t lock;
    actor_live_t *v;
    size_t n, cap;
    void (*done)(actor_live_t *v, size_t n, void *data);
    void *data;
} gather_t;

static void collect(shard_t *s, void *arg)
{
    gather_t *g = arg;
    size_t it;
    for (map_entry_t *e = map_first(&s->instances, &it); e; e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        bool active = inst->rt != NULL;
        bool hibernated = !active && inst->api.nsockets > 0;
        if ((!active && !hibernated) || strcmp(inst->cls->app_id, g->app) != 0 ||
            strcmp(inst->cls->name, g->cls) != 0)
            continue;
        pthread_mutex_lock(&g->lock);
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 16;
            g->v = xrealloc(g->v, g->cap * sizeof *g->v);
        }
        actor_live_t *l = &g->v[g->n++];
        memcpy(l->hex, inst->api.idhex, sizeof l->hex);
        l->id = xmalloc(inst->id_len + 1);
        memcpy(l->id, inst->id, inst->id_len + 1);
        l->id_len = inst->id_len;
        l->hibernated = hibernated;
        pthread_mutex_unlock(&g->lock);
    }
    if (atomic_fetch_sub(&g->remaining, 1) == 1) {
        g->done(g->v, g->n, g->data);
        pthread_mutex_destroy(&g->lock);
        free(g->app);
        free(g->cls);
        free(g);
    }
}

void actor_admin_live(shard_t **shards, int n, const char *app, const char *cls,
                      void (*done)(actor_live_t *v, size_t n, void *data), void *data)
{
    gather_t *g = xcalloc(1, sizeof *g);
    g->app = xstrdup(app);
    g->cls = xstrdup(cls);
    atomic_init(&g->remaining, n);
    pthread_mutex_init(&g->lock, NULL);
    g->done = done;
    g->data = data;
    for (int i = 0; i < n; i++)
        shard_call(shards[i], collect, g);
}

void actor_live_free(actor_live_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].id);
    free(v);
}
