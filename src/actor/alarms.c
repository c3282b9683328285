/* Alarms (storage.setAlarm and the alarm() handler). The truth is in each
 * instance's file (store_kv_alarm_*), written in the instance's transaction;
 * DATA/alarms.db (store_alarm_index_*) says when to look, so that alarms
 * survive restarts. Each shard keeps the alarms of its instances in a heap
 * ordered by time and one timer for the earliest; when it fires the
 * instance (woken if it was evicted) gets an alarm event. The alarm stays
 * stored until its handler succeeds, so that it runs at least once even if
 * the process dies meanwhile; getAlarm() is null while the handler runs.
 * A handler that fails is tried again after 2 s (--alarm-retry-ms), 4 s,
 * ... up to 6 more times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "actor_int.h"

#define ALARM_MAX_RETRIES 6

typedef struct heap_ent {
    int64_t at;
    char *key; /* app \0 class \0 id */
    size_t klen;
} heap_ent_t;

/* ---- the heap ------------------------------------------------------------------ */

static void heap_swap(heap_ent_t *a, heap_ent_t *b)
{
    heap_ent_t t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(shard_t *s, int64_t at, const char *key, size_t klen)
{
    if (s->alarm_n == s->alarm_cap) {
        s->alarm_cap = s->alarm_cap ? s->alarm_cap * 2 : 64;
        s->alarm_heap = xrealloc(s->alarm_heap, s->alarm_cap * sizeof *s->alarm_heap);
    }
    size_t i = s->alarm_n++;
    s->alarm_heap[i] = (heap_ent_t){at, xmemdup(key, klen), klen};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->alarm_heap[p].at <= s->alarm_heap[i].at)
            break;
        heap_swap(&s->alarm_heap[p], &s->alarm_heap[i]);
        i = p;
    }
}

static heap_ent_t heap_pop(shard_t *s)
{
    heap_ent_t top = s->alarm_heap[0];
    s->alarm_heap[0] = s->alarm_heap[--s->alarm_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->alarm_n && s->alarm_heap[l].at < s->alarm_heap[m].at)
            m = l;
        if (r < s->alarm_n && s->alarm_heap[r].at < s->alarm_heap[m].at)
            m = r;
        if (m == i)
            break;
        heap_swap(&s->alarm_heap[m], &s->alarm_heap[i]);
        i = m;
    }
    return top;
}

/* The time each key is scheduled for; heap entries that disagree are stale. */
static int64_t *sched_get(shard_t *s, const char *key, size_t klen)
{
    return map_get(&s->alarm_sched, key, klen);
}

static void sched_set(shard_t *s, const char *key, size_t klen, int64_t at)
{
    int64_t *cell = sched_get(s, key, klen);
    if (!cell) {
        cell = xmalloc(sizeof *cell);
        map_put(&s->alarm_sched, key, klen, cell);
    }
    *cell = at;
    heap_push(s, at, key, klen);
}

static void sched_clear(shard_t *s, const char *key, size_t klen)
{
    free(map_remove(&s->alarm_sched, key, klen));
}

static void on_alarm_timer(uv_timer_t *t);

static void arm(shard_t *s)
{
    if (s->alarm_n == 0) {
        uv_timer_stop(&s->alarm_timer);
        return;
    }
    int64_t wait = s->alarm_heap[0].at - util_now_ms();
    uv_update_time(&s->loop);
    uv_timer_start(&s->alarm_timer, on_alarm_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* ---- firing ---------------------------------------------------------------------- */

/* Splits an instance key into its app, class and id. */
static bool split_key(const char *key, size_t klen, const char **app, const char **cls,
                      const uint8_t **id, size_t *id_len)
{
    const char *a = key, *end = key + klen;
    const char *z1 = memchr(a, 0, klen);
    if (!z1)
        return false;
    const char *c = z1 + 1;
    const char *z2 = memchr(c, 0, (size_t)(end - c));
    if (!z2)
        return false;
    *app = a;
    *cls = c;
    *id = (const uint8_t *)(z2 + 1);
    *id_len = (size_t)(end - (z2 + 1));
    return true;
}

static void index_delete(shard_t *s, const char *key, size_t klen)
{
    char err[256];
    if (s->alarm_index &&
        store_alarm_index_delete(s->alarm_index, (const uint8_t *)key, klen, err, sizeof err) < 0)
        log_warn("alarm", "%s", err);
}

static void fire(shard_t *s, const char *key, size_t klen)
{
    const char *app, *name;
    const uint8_t *id;
    size_t id_len;
    if (!split_key(key, klen, &app, &name, &id, &id_len))
        return;
    actor_class_t *cls = actor_catalog_class(s->catalog, app, name, strlen(name));
    if (!cls) {
        /* The class is gone, and its instances' files with it. */
        index_delete(s, key, klen);
        return;
    }
    instance_t *inst = instance_get(s, cls, id, id_len);
    if (inst->alarm_queued)
        return; /* alarm_done looks at the file again */
    inst->alarm_queued = true;
    event_t *ev = xcalloc(1, sizeof *ev);
    ev->kind = EV_ALARM;
    ev->code = inst->alarm_retries;
    ev->started_ns = uv_hrtime();
    instance_enqueue(inst, ev);
}

static void on_alarm_timer(uv_timer_t *t)
{
    shard_t *s = t->data;
    if (s->stopping)
        return; /* they are kept in the files and fire after the next start */
    int64_t now = util_now_ms();
    while (s->alarm_n > 0 && s->alarm_heap[0].at <= now) {
        heap_ent_t e = heap_pop(s);
        int64_t *cur = sched_get(s, e.key, e.klen);
        if (cur && *cur == e.at) {
            sched_clear(s, e.key, e.klen);
            fire(s, e.key, e.klen);
        }
        free(e.key);
    }
    arm(s);
}

/* ---- the handler -------------------------------------------------------------------- */

/* What an alarm event did, in ev->msg_len (alarm events carry no message). */
enum { ALARM_RAN = 0, ALARM_NOT_DUE = 1, ALARM_DROPPED = 2 };

JSValue alarm_deliver(instance_t *inst, event_t *ev, JSContext *ctx)
{
    char err[256];
    int64_t at;
    if (store_kv_alarm_get(inst->api.kv, &at, err, sizeof err) < 0) {
        ev->msg_len = ALARM_NOT_DUE;
        return JS_ThrowInternalError(ctx, "cannot read the alarm: %s", err);
    }
    int64_t now = util_now_ms();
    if (at < 0 || at > now) {
        /* Woken early (an old index entry) or for nothing: alarm_done
         * schedules what the file says. */
        ev->clean = true;
        ev->msg_len = ALARM_NOT_DUE;
        return JS_UNDEFINED;
    }
    JSValue fn = JS_GetPropertyStr(ctx, inst->obj, "alarm");
    if (!JS_IsFunction(ctx, fn)) {
        JS_FreeValue(ctx, fn);
        log_warn(inst->label, "an alarm fired but the class has no alarm() method any more; it "
                              "is dropped");
        ev->clean = true;
        ev->msg_len = ALARM_DROPPED;
        inst->api.alarm_running = at;
        return JS_UNDEFINED;
    }
    /* The alarm stays stored until the handler succeeds, so that a crash
     * meanwhile runs it again (at least once, as on Cloudflare); getAlarm()
     * does not show it, and a setAlarm() in the handler replaces it. */
    inst->api.alarm_running = at;
    JSValue info = JS_NewObject(ctx);
    JS_DefinePropertyValueStr(ctx, info, "retryCount", JS_NewInt32(ctx, ev->code), JS_PROP_C_W_E);
    JS_DefinePropertyValueStr(ctx, info, "isRetry", JS_NewBool(ctx, ev->code > 0), JS_PROP_C_W_E);
    JSValue r = JS_Call(ctx, fn, inst->obj, 1, (JSValueConst *)&info);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, info);
    return r;
}

static void alarm_write(instance_t *inst, int64_t at)
{
    char err[256];
    if (store_kv_alarm_set(inst->api.kv, at, err, sizeof err) < 0) {
        log_error(inst->label, "cannot update the alarm: %s", err);
        return;
    }
    inst->api.wrote = true;
    inst->api.alarm_changed = true;
    instance_note_writes(inst);
}

void alarm_done(instance_t *inst, event_t *ev, bool ok)
{
    int64_t ran_at = inst->api.alarm_running;
    inst->api.alarm_running = 0;
    inst->alarm_queued = false;
    shard_t *s = inst->shard;
    if (!actor_catalog_class(s->catalog, inst->cls->app_id, inst->cls->name,
                             strlen(inst->cls->name)))
        return; /* the class is gone, and its files with it */
    char err[256];
    int64_t at;
    if (store_kv_alarm_get(inst->api.kv, &at, err, sizeof err) < 0) {
        log_error(inst->label, "cannot read the alarm: %s", err);
        return;
    }
    if (ran_at == 0 && !ok && ev->msg_len == ALARM_RAN && at >= 0 && at <= util_now_ms())
        ran_at = at; /* it never reached the handler (say the constructor threw): a failed try */
    if (ev->msg_len != ALARM_NOT_DUE && ran_at > 0) {
        /* The handler left the alarm alone, or it set another (which
         * stands), or deleted it. */
        bool unchanged = at == ran_at;
        if (ok || ev->msg_len == ALARM_DROPPED) {
            inst->alarm_retries = 0;
            if (unchanged)
                alarm_write(inst, -1);
        } else if (!unchanged && at >= 0) {
            inst->alarm_retries = 0;
        } else if (inst->alarm_retries >= ALARM_MAX_RETRIES) {
            log_error(inst->label, "alarm() failed %d times; it is not retried again",
                      inst->alarm_retries + 1);
            inst->alarm_retries = 0;
            if (unchanged)
                alarm_write(inst, -1);
        } else {
            inst->alarm_retries++;
            uint64_t delay = s->cfg.alarm_retry_ms << (inst->alarm_retries - 1);
            log_warn(inst->label, "alarm() failed; retry %d of %d in %llu ms", inst->alarm_retries,
                     ALARM_MAX_RETRIES, (unsigned long long)delay);
            alarm_write(inst, util_now_ms() + (int64_t)delay);
        }
        if (store_kv_alarm_get(inst->api.kv, &at, err, sizeof err) < 0)
            return;
    }
    /* A time that came while the event was queued or running did not fire
     * (one alarm event at a time): schedule what is stored now. */
    if (at >= 0) {
        sched_set(s, inst->key, inst->keylen, at);
        arm(s);
    }
}

void alarm_resync(instance_t *inst)
{
    if (inst->alarm_queued)
        return; /* alarm_done looks at the file when that event ends */
    char err[256];
    int64_t at;
    if (store_kv_alarm_get(inst->api.kv, &at, err, sizeof err) < 0 || at < 0)
        return;
    sched_set(inst->shard, inst->key, inst->keylen, at);
    arm(inst->shard);
}

/* ---- after a commit ------------------------------------------------------------------ */

void alarm_committed(instance_t *inst, store_job_t *sync)
{
    shard_t *s = inst->shard;
    char err[256];
    int64_t at;
    if (store_kv_alarm_get(inst->api.kv, &at, err, sizeof err) < 0) {
        log_error(inst->label, "cannot read the alarm: %s", err);
        return;
    }
    if (at < 0) {
        sched_clear(s, inst->key, inst->keylen);
        index_delete(s, inst->key, inst->keylen);
        return;
    }
    if (s->alarm_index) {
        store_job_t *ckpt = NULL;
        if (store_alarm_index_put(s->alarm_index, (const uint8_t *)inst->key, inst->keylen,
                                  inst->cls->app_id, inst->cls->name, inst->id, inst->id_len, at,
                                  &ckpt, err, sizeof err) < 0)
            log_error(inst->label, "%s", err);
        else if (sync)
            store_job_also_sync(sync, store_alarm_index_wal(s->alarm_index));
        if (ckpt)
            commit_queue_job(s, ckpt);
    }
    sched_set(s, inst->key, inst->keylen, at);
    arm(s);
}

/* ---- the shard ---------------------------------------------------------------------- */

static int load_row(void *arg, const char *app, const char *cls, const uint8_t *id,
                    size_t id_len, int64_t at)
{
    shard_t *s = arg;
    if (actor_owner(s->n, app, cls, id, id_len) != s->index)
        return 0;
    buf_t k = BUF_INIT;
    buf_puts(&k, app);
    buf_putc(&k, 0);
    buf_puts(&k, cls);
    buf_putc(&k, 0);
    buf_append(&k, id, id_len);
    sched_set(s, (const char *)k.data, k.len, at);
    buf_deinit(&k);
    return 0;
}

void alarms_shard_init(shard_t *s)
{
    map_init(&s->alarm_sched);
    uv_timer_init(&s->loop, &s->alarm_timer);
    s->alarm_timer.data = s;
    char err[256];
    s->alarm_index = store_alarm_index_open(s->cfg.data_dir, s->cfg.durability, err, sizeof err);
    if (!s->alarm_index) {
        log_error("alarm", "%s; alarms will not survive a restart", err);
        return;
    }
    if (store_alarm_index_scan(s->alarm_index, load_row, s, err, sizeof err) < 0)
        log_error("alarm", "%s", err);
    if (s->alarm_n)
        log_info("alarm", "shard %d: %zu alarm%s pending", s->index, s->alarm_n,
                 s->alarm_n == 1 ? "" : "s");
    arm(s);
}

void alarms_shard_deinit(shard_t *s)
{
    while (s->alarm_n > 0) {
        heap_ent_t e = heap_pop(s);
        free(e.key);
    }
    free(s->alarm_heap);
    s->alarm_heap = NULL;
    size_t it;
    for (map_entry_t *e = map_first(&s->alarm_sched, &it); e; e = map_next(&s->alarm_sched, e, &it))
        free(e->value);
    map_deinit(&s->alarm_sched);
    store_alarm_index_close(s->alarm_index);
    s->alarm_index = NULL;
}

size_t alarms_pending(const shard_t *s)
{
    return s->alarm_sched.count;
}
