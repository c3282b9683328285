/* The output gate and commits (DESIGN.md 2.2): at the end of each loop turn
 * every instance that wrote commits its transaction (store_kv_commit, on
 * this thread, no disk wait), then its sync job (an fdatasync of the WAL)
 * runs on the libuv pool; the syncs of many instances overlap there, which
 * is group commit. Answers, WebSocket frames and sync() promises that
 * depend on a batch are held until that batch is durable. One sync is in
 * flight per instance at a time: commits made meanwhile are covered by the
 * next one, so a hot instance pays one fsync per round of its events. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "actor_int.h"

typedef struct job_work {
    uv_work_t req;
    instance_t *inst;    /* NULL for a checkpoint, or once the instance is freed */
    shard_t *shard;      /* for a sync: whose commits_in_flight counts it */
    int slow_ms;         /* test hook: wait this long first */
    store_job_t *job;
    uint64_t batch;      /* what a sync makes durable: every batch up to this one */
    int rc;
    char err[256];
} job_work_t;

/* A storage.sync() promise waiting for a batch. */
typedef struct sync_waiter {
    struct sync_waiter *next;
    uint64_t required;
    JSValue resolve, reject;
} sync_waiter_t;

/* ---- what the instance wrote ------------------------------------------------ */

void instance_note_writes(instance_t *inst)
{
    if (inst->api.wrote) {
        inst->api.wrote = false;
        inst->turn_confirmed = true;
        inst->turn_dirty = true;
    }
    if (inst->api.wrote_unconfirmed) {
        inst->api.wrote_unconfirmed = false;
        inst->turn_dirty = true;
    }
    if (inst->turn_dirty)
        shard_mark_dirty(inst);
}

uint64_t instance_output_required(instance_t *inst)
{
    instance_note_writes(inst);
    /* A confirmed write of this turn: the commit at its end. Otherwise the
     * last batch that had one (allowUnconfirmed writes hold nothing). */
    return inst->turn_confirmed ? inst->taken + 1 : inst->confirmed;
}

bool instance_durability_pending(const instance_t *inst)
{
    return inst->syncing != 0 || inst->sync_next != NULL || inst->turn_dirty ||
           inst->api.wrote || inst->api.wrote_unconfirmed;
}

/* ---- sync() promises ---------------------------------------------------------- */

static void settle_waiters(instance_t *inst, bool fail_all)
{
    sync_waiter_t **pp = &inst->sync_waiters;
    while (*pp) {
        sync_waiter_t *w = *pp;
        if (!fail_all && w->required > inst->done) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        classrt_t *rt = inst->rt;
        if (rt && inst->status == INST_ACTIVE) {
            JSContext *ctx = rt->js->ctx;
            classrt_enter(rt, inst);
            JSValue arg = fail_all ? JS_NewError(ctx) : JS_UNDEFINED;
            if (fail_all)
                JS_DefinePropertyValueStr(ctx, arg, "message",
                                          JS_NewString(ctx, "storage.sync(): the write failed "
                                                            "and was not saved"),
                                          JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
            JSValue r = JS_Call(ctx, fail_all ? w->reject : w->resolve, JS_UNDEFINED, 1,
                                (JSValueConst *)&arg);
            JS_FreeValue(ctx, r);
            JS_FreeValue(ctx, arg);
            JS_FreeValue(ctx, w->resolve);
            JS_FreeValue(ctx, w->reject);
            if (classrt_leave(rt, inst) < 0)
                inst->reset_requested = true;
        }
        free(w);
    }
}

/* The JS values of the waiters belong to the runtime: they go with it. */
void instance_drop_sync_waiters(instance_t *inst)
{
    JSContext *ctx = inst->rt ? inst->rt->js->ctx : NULL;
    while (inst->sync_waiters) {
        sync_waiter_t *w = inst->sync_waiters;
        inst->sync_waiters = w->next;
        if (ctx) {
            JS_FreeValue(ctx, w->resolve);
            JS_FreeValue(ctx, w->reject);
        }
        free(w);
    }
}

static void host_storage_sync(api_host_t *h, api_state_t *st, JSValue resolve, JSValue reject)
{
    instance_t *inst = st->owner;
    JSContext *ctx = inst->rt->js->ctx;
    instance_note_writes(inst);
    uint64_t required = inst->turn_dirty ? inst->taken + 1 : inst->taken;
    if (required <= inst->done) {
        JSValue r = JS_Call(ctx, resolve, JS_UNDEFINED, 0, NULL);
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, resolve);
        JS_FreeValue(ctx, reject);
        return;
    }
    sync_waiter_t *w = xcalloc(1, sizeof *w);
    w->required = required;
    w->resolve = resolve;
    w->reject = reject;
    w->next = inst->sync_waiters;
    inst->sync_waiters = w;
}

void commit_host_init(api_host_t *h)
{
    h->storage_sync = host_storage_sync;
}

/* ---- failures ------------------------------------------------------------------ */

/* Everything that waited for a batch after `kept` is dropped, and the
 * instance is reset: its writes are lost, nothing that depended on them may
 * be seen. */
static void writes_lost(instance_t *inst, uint64_t kept, const char *what, const char *err)
{
    shard_class_logf(inst->shard, inst->cls, inst->label, (const char *)inst->id, 3,
                     "%s failed: %s; answers that depended on it are dropped and the instance "
                     "is reset",
                     what, err);
    event_t *keep = NULL, **tail = &keep;
    while (inst->held) {
        event_t *ev = inst->held;
        inst->held = ev->next;
        ev->next = NULL;
        if (ev->required <= kept) {
            *tail = ev;
            tail = &ev->next;
            continue;
        }
        event_fail(ev, 500, "DO_COMMIT_FAILED",
                   "the Durable Object's storage write failed, so this answer was withheld; the "
                   "instance has been reset, retry the request");
    }
    inst->held = keep;
    inst->held_tail = NULL;
    for (event_t *ev = keep; ev; ev = ev->next)
        inst->held_tail = ev;
    sock_drop_held(inst, kept);
    settle_waiters(inst, true);
    inst->turn_dirty = inst->turn_confirmed = false;
    inst->api.wrote = inst->api.wrote_unconfirmed = false;
    if (inst->confirmed > kept)
        inst->confirmed = kept;
    instance_reset(inst, 500, "could not commit its writes");
    /* The alarm is what the file says again (an alarm whose handler had
     * succeeded is due once more). */
    alarm_resync(inst);
}

/* ---- jobs on the pool ------------------------------------------------------------- */

static atomic_int slow_sync_ms;

void actor_slow_syncs(int ms)
{
    atomic_store(&slow_sync_ms, ms);
}

static void job_work_cb(uv_work_t *w)
{
    job_work_t *jw = w->data;
    if (jw->slow_ms > 0) {
        struct timespec ts = {jw->slow_ms / 1000, (long)(jw->slow_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    jw->rc = store_job_run(jw->job, jw->err, sizeof jw->err);
}

static void start_sync(instance_t *inst, store_job_t *job, uint64_t batch);

static void job_after_cb(uv_work_t *w, int status)
{
    job_work_t *jw = w->data;
    instance_t *inst = jw->inst;
    bool ok = status == 0 && jw->rc == 0;
    store_job_free(jw->job);
    if (!inst) {
        /* A checkpoint, or the sync of an instance freed meanwhile (at
         * shutdown, after its last commit was made durable by then): nothing
         * waits for it. */
        if (!ok)
            log_warn("store", "%s", jw->err);
        if (jw->shard)
            jw->shard->commits_in_flight--;
        free(jw);
        return;
    }
    shard_t *s = inst->shard;
    s->commits_in_flight--;
    inst->syncing = 0;
    inst->sync_work = NULL;
    if (ok) {
        if (jw->batch > inst->done)
            inst->done = jw->batch;
        instance_release_held(inst);
        if (inst->sync_next) {
            store_job_t *next = inst->sync_next;
            inst->sync_next = NULL;
            start_sync(inst, next, inst->sync_next_batch);
        }
    } else {
        /* What this sync covered may be on disk or not: nobody can rely
         * on it, nor on what came after. */
        store_job_free(inst->sync_next);
        inst->sync_next = NULL;
        uint64_t kept = inst->done;
        inst->done = inst->taken;
        writes_lost(inst, kept, "sync", jw->err);
    }
    if (inst->queue)
        shard_mark_runnable(inst);
    free(jw);
}

static void queue_job(shard_t *s, instance_t *inst, store_job_t *job, uint64_t batch)
{
    job_work_t *jw = xcalloc(1, sizeof *jw);
    jw->inst = inst;
    jw->job = job;
    jw->batch = batch;
    jw->req.data = jw;
    if (inst) {
        jw->shard = s;
        inst->sync_work = jw;
        s->commits_in_flight++;
        if (s->drained_reported)
            jw->slow_ms = atomic_load(&slow_sync_ms);
    }
    uv_queue_work(&s->loop, &jw->req, job_work_cb, job_after_cb);
}

void commit_queue_job(shard_t *s, store_job_t *job)
{
    queue_job(s, NULL, job, 0);
}

static void start_sync(instance_t *inst, store_job_t *job, uint64_t batch)
{
    inst->syncing = batch;
    queue_job(inst->shard, inst, job, batch);
}

/* ---- the commit at the end of a turn -------------------------------------------------- */

void instance_commit(instance_t *inst)
{
    instance_note_writes(inst);
    if (!inst->turn_dirty && !store_kv_dirty(inst->api.kv))
        return;
    store_job_t *sync = NULL, *ckpt = NULL;
    char err[256];
    int rc = store_kv_commit(inst->api.kv, &sync, &ckpt, err, sizeof err);
    if (rc < 0) {
        writes_lost(inst, inst->taken, "commit", err);
        return;
    }
    if (rc == 0) {
        if (store_kv_dirty(inst->api.kv))
            shard_mark_dirty(inst); /* a transaction of the class is open: later */
        else
            inst->turn_dirty = inst->turn_confirmed = false;
        return;
    }
    uint64_t batch = ++inst->taken;
    if (inst->turn_confirmed)
        inst->confirmed = batch;
    inst->turn_dirty = inst->turn_confirmed = false;
    if (inst->api.alarm_changed) {
        inst->api.alarm_changed = false;
        alarm_committed(inst, sync);
    }
    if (ckpt)
        queue_job(inst->shard, NULL, ckpt, 0);
    if (!sync) {
        /* --durability process: committed is as durable as it gets. */
        if (!inst->syncing && !inst->sync_next)
            inst->done = batch;
        instance_release_held(inst);
        return;
    }
    if (inst->syncing) {
        store_job_free(inst->sync_next);
        inst->sync_next = sync;
        inst->sync_next_batch = batch;
        return;
    }
    start_sync(inst, sync, batch);
}

void instance_release_waiters(instance_t *inst)
{
    settle_waiters(inst, false);
}

void instance_detach_sync(instance_t *inst)
{
    if (inst->sync_work) {
        inst->sync_work->inst = NULL;
        inst->sync_work = NULL;
    }
    store_job_free(inst->sync_next);
    inst->sync_next = NULL;
}

/* At exit: commits and syncs what is left, blocking (the loop has nothing
 * else to do by then). */
void instance_commit_all_sync(instance_t *inst)
{
    instance_note_writes(inst);
    store_job_t *sync = NULL, *ckpt = NULL;
    char err[256];
    int rc = store_kv_commit(inst->api.kv, &sync, &ckpt, err, sizeof err);
    if (rc < 0) {
        log_error(inst->label, "commit at shutdown failed: %s", err);
        return;
    }
    if (rc > 0)
        inst->taken++;
    store_job_t *jobs[3] = {inst->sync_next, sync, ckpt};
    inst->sync_next = NULL;
    for (int i = 0; i < 3; i++) {
        if (jobs[i] && store_job_run(jobs[i], err, sizeof err) < 0)
            log_error(inst->label, "sync at shutdown failed: %s", err);
        store_job_free(jobs[i]);
    }
    inst->done = inst->taken;
    inst->turn_dirty = inst->turn_confirmed = false;
}
