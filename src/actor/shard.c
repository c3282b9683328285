/* Shards (DESIGN.md 2.1-2.2): a thread, its libuv loop, its mailbox, and the
 * turn that runs after every poll: deliver events, drain jobs (inside each
 * delivery), hand writes to the commit pool, release answers whose commits
 * finished (in the commit callbacks), free what died. Also the catalog
 * snapshots and the message kinds shards exchange. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "actor_int.h"

typedef struct msg_call {
    mail_t mail;
    void (*fn)(shard_t *s, void *arg);
    void *arg;
} msg_call_t;

typedef struct msg_event {
    mail_t mail;
    actor_class_t *cls;
    uint8_t *id;
    size_t id_len;
    event_t *ev;
} msg_event_t;

typedef struct msg_reply {
    mail_t mail;
    http_conn_t *conn;
    http_response_t *res;
} msg_reply_t;

typedef struct publish {
    atomic_int remaining;
    void (*done)(void *data);
    void *data;
} publish_t;

typedef struct msg_catalog {
    mail_t mail;
    actor_catalog_t *cat;
    publish_t *pub;
} msg_catalog_t;

/* ---- catalog and classes ---------------------------------------------------- */

actor_class_t *actor_class_ref(actor_class_t *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void actor_class_unref(actor_class_t *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free(c->app_id);
    free(c->name);
    free(c->class_name);
    free(c->uuid);
    free(c->bytecode);
    for (size_t i = 0; i < c->nenv; i++) {
        free(c->env[i].key);
        /* A secret: do not leave it in freed memory. */
        volatile char *p = c->env[i].value;
        while (p && *p)
            *p++ = 0;
        free(c->env[i].value);
    }
    free(c->env);
    free(c);
}

bool actor_class_same_version(const actor_class_t *a, const actor_class_t *b)
{
    return a == b || (a->version == b->version && a->env_version == b->env_version &&
                      strcmp(a->uuid, b->uuid) == 0);
}

actor_catalog_t *actor_catalog_ref(actor_catalog_t *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void actor_catalog_unref(actor_catalog_t *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (size_t i = 0; i < c->napps; i++) {
        free(c->apps[i].id);
        free(c->apps[i].subdomain);
        free(c->apps[i].service_key_hash);
        if (c->apps[i].auth && c->apps[i].auth_free)
            c->apps[i].auth_free(c->apps[i].auth);
    }
    free(c->apps);
    for (size_t i = 0; i < c->nclasses; i++)
        actor_class_unref(c->classes[i]);
    free(c->classes);
    free(c);
}

const actor_app_t *actor_catalog_app(const actor_catalog_t *c, const char *id)
{
    for (size_t i = 0; c && i < c->napps; i++)
        if (strcmp(c->apps[i].id, id) == 0)
            return &c->apps[i];
    return NULL;
}

const actor_app_t *actor_catalog_app_by_subdomain(const actor_catalog_t *c, const char *sub,
                                                  size_t len)
{
    for (size_t i = 0; c && i < c->napps; i++) {
        const char *s = c->apps[i].subdomain;
        if (strlen(s) == len && strncasecmp(s, sub, len) == 0)
            return &c->apps[i];
    }
    return NULL;
}

actor_class_t *actor_catalog_class(const actor_catalog_t *c, const char *app, const char *name,
                                   size_t name_len)
{
    for (size_t i = 0; c && i < c->nclasses; i++) {
        actor_class_t *k = c->classes[i];
        if (strcmp(k->app_id, app) == 0 && strlen(k->name) == name_len &&
            memcmp(k->name, name, name_len) == 0)
            return k;
    }
    return NULL;
}

/* ---- small accessors ----------------------------------------------------------- */

int shard_index(const shard_t *s)
{
    return s->index;
}

int shard_count(const shard_t *s)
{
    return s->n;
}

uv_loop_t *shard_loop(shard_t *s)
{
    return &s->loop;
}

shard_t *shard_peer(shard_t *s, int index)
{
    return s->peers[index];
}

void shard_set_front(shard_t *s, void *front)
{
    s->front = front;
}

void *shard_front(shard_t *s)
{
    return s->front;
}

actor_catalog_t *shard_catalog(shard_t *s)
{
    return s->catalog;
}

int actor_owner(int nshards, const char *app, const char *cls, const uint8_t *id, size_t id_len)
{
    if (nshards <= 1)
        return 0;
    uint64_t h = map_hash(app, strlen(app));
    h ^= map_hash(cls, strlen(cls)) * 31;
    h ^= map_hash(id, id_len) * 131;
    return (int)(h % (uint64_t)nshards);
}

void actor_fail_next_commits(int n)
{
    store_fail_next_commits(n);
}

static void kick_cb(uv_idle_t *h)
{
    (void)h; /* its being active is the point: poll does not wait */
}

/* Work listed outside the turn (by a timer: an alarm, a JS timer's writes)
 * is done in this loop iteration, not when poll next wakes up. */
static void kick(shard_t *s)
{
    if (!uv_is_active((uv_handle_t *)&s->kick))
        uv_idle_start(&s->kick, kick_cb);
}

void shard_mark_runnable(instance_t *inst)
{
    if (inst->listed_runnable)
        return;
    inst->listed_runnable = true;
    inst->next_runnable = inst->shard->runnable;
    inst->shard->runnable = inst;
    kick(inst->shard);
}

void shard_mark_dirty(instance_t *inst)
{
    if (inst->listed_dirty)
        return;
    inst->listed_dirty = true;
    inst->next_dirty = inst->shard->dirty;
    inst->shard->dirty = inst;
    kick(inst->shard);
}

/* ---- requests and answers -------------------------------------------------------- */

void actor_reply_send(actor_reply_t reply, http_response_t *res)
{
    msg_reply_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = M_REPLY;
    m->conn = reply.conn;
    m->res = res;
    mailbox_post(reply.origin->mb, &m->mail);
}

static void enqueue_local(shard_t *s, actor_class_t *cls, const uint8_t *id, size_t id_len,
                          event_t *ev)
{
    if (s->exiting) {
        event_fail(ev, 503, "SHUTTING_DOWN", "the server is shutting down; retry shortly");
        return;
    }
    instance_t *inst = instance_get(s, cls, id, id_len);
    inst->usage->requests++;
    instance_enqueue(inst, ev);
}

void shard_call(shard_t *s, void (*fn)(shard_t *s, void *arg), void *arg)
{
    msg_call_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = M_CALL;
    m->fn = fn;
    m->arg = arg;
    mailbox_post(s->mb, &m->mail);
}

void shard_dispatch(shard_t *s, actor_class_t *cls, const uint8_t *id, size_t id_len,
                    http_request_t *req, const char *url, actor_reply_t reply)
{
    event_t *ev = xcalloc(1, sizeof *ev);
    ev->req = req;
    ev->url = xstrdup(url);
    ev->method = xstrdup(req->method);
    ev->target = xstrdup(req->target);
    ev->reply = reply;
    ev->started_ns = req->started_ns ? req->started_ns : uv_hrtime();
    /* The front checked the handshake: keep what the answer needs. */
    const char *key = http_header_get(req->headers, req->nheaders, "Sec-WebSocket-Key");
    const char *up = http_header_get(req->headers, req->nheaders, "Upgrade");
    if (req->upgrade && key && up && strcasecmp(up, "websocket") == 0 &&
        strlen(key) < sizeof ev->ws_key) {
        ev->upgrade = true;
        snprintf(ev->ws_key, sizeof ev->ws_key, "%s", key);
    }
    int owner = actor_owner(s->n, cls->app_id, cls->name, id, id_len);
    if (owner == s->index) {
        enqueue_local(s, cls, id, id_len, ev);
        return;
    }
    msg_event_t *m = xcalloc(1, sizeof *m);
    m->mail.kind = M_EVENT;
    m->cls = actor_class_ref(cls);
    m->id = xmemdup(id, id_len);
    m->id_len = id_len;
    m->ev = ev;
    mailbox_post(s->peers[owner]->mb, &m->mail);
}

/* ---- the turn ----------------------------------------------------------------------- */

static void evict_removed(shard_t *s);
static void maybe_finish(shard_t *s);

static void turn_cb(uv_check_t *h)
{
    shard_t *s = h->data;
    /* 2-3: deliver events (each delivery drains its jobs). Delivering can
     * make other instances runnable, so loop until the list is empty. */
    while (s->runnable) {
        instance_t *list = s->runnable;
        s->runnable = NULL;
        while (list) {
            instance_t *inst = list;
            list = inst->next_runnable;
            inst->listed_runnable = false;
            instance_run(inst);
        }
    }
    /* 4: commit each instance's writes (one transaction a turn), and hand
     * the syncs to the pool; 5: answers whose writes are durable go out,
     * at once under --durability process, else in the syncs' callbacks. */
    instance_t *d = s->dirty;
    s->dirty = NULL;
    while (d) {
        instance_t *inst = d;
        d = inst->next_dirty;
        inst->listed_dirty = false;
        instance_commit(inst);
    }
    if (!s->runnable && !s->dirty)
        uv_idle_stop(&s->kick);
    /* 6: free what died. */
    evict_removed(s);
    classrt_reap(s);
    if (s->stopping)
        maybe_finish(s);
}

/* Instances whose class is gone are freed once idle. */
static void evict_removed(shard_t *s)
{
    if (s->nremoved == 0)
        return;
    instance_t *dead[128];
    int n = 0;
    size_t it;
    for (map_entry_t *e = map_first(&s->instances, &it); e && n < 128;
         e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        if (!inst->removed)
            continue;
        /* One still on this turn's lists goes at the turn's end. */
        if (inst->queue || inst->inflight || inst->held || instance_durability_pending(inst) ||
            inst->listed_runnable || inst->listed_dirty || inst->admin_hold || inst->nstreams)
            continue;
        dead[n++] = inst;
    }
    for (int i = 0; i < n; i++)
        instance_evict(dead[i]);
}

static void sweep_cb(uv_timer_t *h)
{
    shard_t *s = h->data;
    uint64_t now = uv_hrtime();
    uint64_t idle_ns = s->cfg.idle_evict_ms * 1000000ULL;
    uint64_t hib_ns = s->cfg.hibernate_ms * 1000000ULL;
    uint64_t block_ns = s->cfg.block_timeout_ms * 1000000ULL;
    instance_t *dead[256], *stuck[64];
    int n = 0, nstuck = 0;
    size_t it;
    for (map_entry_t *e = map_first(&s->instances, &it); e && n < 256;
         e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        if (inst->api.blocked > 0 && block_ns && !inst->admin_hold && nstuck < 64 &&
            now - inst->api.blocked_since_ns >= block_ns)
            stuck[nstuck++] = inst;
        if (!instance_idle(inst))
            continue;
        if (inst->api.nsockets == 0) {
            if (now - inst->last_used_ns >= idle_ns)
                dead[n++] = inst;
        } else if (inst->status == INST_ACTIVE && now - inst->last_used_ns >= hib_ns &&
                   sock_all_hibernatable(inst)) {
            /* Its only ties are sockets that can wait in C: free its JS. */
            log_info(inst->label, "hibernated with %zu WebSocket%s", inst->api.nsockets,
                     inst->api.nsockets == 1 ? "" : "s");
            instance_hibernate(inst);
        }
    }
    for (int i = 0; i < nstuck; i++)
        instance_block_timeout(stuck[i]);
    for (int i = 0; i < n; i++) {
        log_info(dead[i]->label, "evicted after %llu ms idle (storage kept)",
                 (unsigned long long)((now - dead[i]->last_used_ns) / 1000000));
        instance_evict(dead[i]);
    }
    classrt_reap(s);
}

/* ---- catalog updates ------------------------------------------------------------------ */

/* An app whose env vars changed is redeployed as a whole (DESIGN.md 1.6): its
 * WebSockets are closed with 1012 and the in-memory state of its instances
 * goes now, or as soon as the events they are running have finished. */
static void env_changed(shard_t *s, const actor_catalog_t *old, const actor_catalog_t *cat)
{
    for (size_t i = 0; i < cat->napps; i++) {
        const actor_app_t *a = &cat->apps[i];
        const actor_app_t *before = actor_catalog_app(old, a->id);
        if (!before || before->env_version == a->env_version)
            continue;
        actor_app_close_websockets(s, a->id, 1012, "the app's environment changed");
        size_t it;
        for (map_entry_t *e = map_first(&s->instances, &it); e;
             e = map_next(&s->instances, e, &it)) {
            instance_t *inst = e->value;
            if (strcmp(inst->cls->app_id, a->id) == 0 && inst->rt) {
                inst->stale = true;
                shard_mark_runnable(inst); /* instance_run drops it when no event runs */
            }
        }
    }
}

static void apply_catalog(shard_t *s, actor_catalog_t *cat)
{
    actor_catalog_t *old = s->catalog;
    s->catalog = cat;
    usage_prune(s, cat);
    env_changed(s, old, cat);
    /* Mark instances of deleted classes; changed classes are handled at the
     * instance's next event (instance_run). */
    size_t it;
    for (map_entry_t *e = map_first(&s->instances, &it); e; e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        actor_class_t *cur = actor_catalog_class(cat, inst->cls->app_id, inst->cls->name,
                                                 strlen(inst->cls->name));
        if (!inst->removed && cur && cur->uuid && strcmp(cur->uuid, inst->cls->uuid) == 0 &&
            cur->version != inst->cls->version)
            sock_close_all(inst, false, 1012, "the Durable Object was redeployed");
        if (!inst->removed &&
            (!cur || cur->uuid == NULL || strcmp(cur->uuid, inst->cls->uuid) != 0)) {
            inst->removed = true;
            s->nremoved++;
            sock_close_all(inst, true, 1001, "the Durable Object class was deleted");
            if (inst->queue)
                shard_mark_runnable(inst);
        }
    }
    actor_catalog_unref(old);
    /* Idle instances of deleted classes close their storage before the
     * control thread hears the publish is done, and purges the files. */
    evict_removed(s);
}

void shards_publish(shard_t **shards, int n, actor_catalog_t *cat, void (*done)(void *data),
                    void *data)
{
    publish_t *pub = xcalloc(1, sizeof *pub);
    atomic_store(&pub->remaining, n);
    pub->done = done;
    pub->data = data;
    for (int i = 0; i < n; i++) {
        msg_catalog_t *m = xcalloc(1, sizeof *m);
        m->mail.kind = M_CATALOG;
        m->cat = actor_catalog_ref(cat);
        m->pub = pub;
        mailbox_post(shards[i]->mb, &m->mail);
    }
    actor_catalog_unref(cat);
}

/* ---- stopping -------------------------------------------------------------------------- */

static bool quiescent(shard_t *s)
{
    size_t it;
    for (map_entry_t *e = map_first(&s->instances, &it); e; e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        if (inst->queue || inst->inflight || inst->held || instance_durability_pending(inst) ||
            inst->nstreams)
            return false;
    }
    return s->commits_in_flight == 0 && s->nconns == 0;
}

static void report_drained(shard_t *s)
{
    if (s->drained_reported)
        return;
    s->drained_reported = true;
    pthread_mutex_lock(&s->stop->lock);
    s->stop->drained++;
    pthread_cond_broadcast(&s->stop->cond);
    pthread_mutex_unlock(&s->stop->lock);
}

static void maybe_finish(shard_t *s)
{
    if (s->listeners_closed && quiescent(s))
        report_drained(s);
}

void shard_listeners_closed(shard_t *s)
{
    s->listeners_closed = true;
    maybe_finish(s);
}

static void stop_timeout_cb(uv_timer_t *h)
{
    /* Events that never finish (a promise that never settles) must not keep
     * the server from stopping: answer them and go on. */
    shard_t *s = h->data;
    size_t it;
    instance_t *list[256];
    int n = 0;
    for (map_entry_t *e = map_first(&s->instances, &it); e && n < 256;
         e = map_next(&s->instances, e, &it)) {
        instance_t *inst = e->value;
        if (inst->inflight || inst->queue || inst->nstreams)
            list[n++] = inst;
    }
    for (int i = 0; i < n; i++) {
        while (list[i]->queue) {
            event_t *ev = list[i]->queue;
            list[i]->queue = ev->next;
            event_fail(ev, 503, "SHUTTING_DOWN", "the server is shutting down; retry shortly");
        }
        list[i]->queue_tail = NULL;
        instance_reset(list[i], 503, "was stopped because the server is shutting down");
    }
    maybe_finish(s);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void teardown(shard_t *s)
{
    s->exiting = true;
    /* Commit what is left, then free every instance and runtime. */
    instance_t **all = xcalloc(s->instances.count + 1, sizeof *all);
    size_t n = 0, it;
    for (map_entry_t *e = map_first(&s->instances, &it); e; e = map_next(&s->instances, e, &it))
        all[n++] = e->value;
    for (size_t i = 0; i < n; i++) {
        instance_commit_all_sync(all[i]);
        instance_release_held(all[i]);
        instance_evict(all[i]);
    }
    free(all);
    /* What this turn had listed is gone with them. */
    s->runnable = NULL;
    s->dirty = NULL;
    classrt_reap(s);
    s->hooks.stop = NULL;
    if (s->hooks.exit)
        s->hooks.exit(s, s->hooks.data);
}

/* ---- the mailbox ------------------------------------------------------------------------ */

static void on_mail(mailbox_t *mb, mail_t *m, void *data)
{
    shard_t *s = data;
    switch (m->kind) {
    case M_EVENT: {
        msg_event_t *e = (msg_event_t *)m;
        enqueue_local(s, e->cls, e->id, e->id_len, e->ev);
        actor_class_unref(e->cls);
        free(e->id);
        break;
    }
    case M_REPLY: {
        msg_reply_t *r = (msg_reply_t *)m;
        http_conn_respond(r->conn, r->res);
        break;
    }
    case M_CATALOG: {
        msg_catalog_t *c = (msg_catalog_t *)m;
        apply_catalog(s, c->cat);
        if (atomic_fetch_sub(&c->pub->remaining, 1) == 1) {
            c->pub->done(c->pub->data);
            free(c->pub);
        }
        break;
    }
    case M_WS_REPLY:
    case M_WS_ATTACH:
        sock_mail(s, m);
        break;
    case M_STOP:
        if (!s->stopping) {
            s->stopping = true;
            sock_shard_close_all(s, 1001, "the server is shutting down");
            uv_timer_start(&s->stop_timer, stop_timeout_cb, 10000, 0);
            if (s->hooks.stop)
                s->hooks.stop(s, s->hooks.data);
            else
                shard_listeners_closed(s);
        }
        break;
    case M_EXIT:
        teardown(s);
        uv_stop(&s->loop);
        break;
    case M_CALL: {
        msg_call_t *c = (msg_call_t *)m;
        c->fn(s, c->arg);
        break;
    }
    case SHARD_M_STREAM:
        actor_stream_on_mail(s, m);
        break;
    }
    free(m);
}

static void *shard_main(void *arg)
{
    shard_t *s = arg;
    uv_loop_init(&s->loop);
    s->mb = mailbox_new(&s->loop, on_mail, s);
    uv_check_init(&s->loop, &s->turn);
    s->turn.data = s;
    uv_check_start(&s->turn, turn_cb);
    uv_idle_init(&s->loop, &s->kick);
    s->kick.data = s;
    uv_timer_init(&s->loop, &s->sweep);
    s->sweep.data = s;
    uint64_t period = s->cfg.idle_evict_ms < s->cfg.hibernate_ms ? s->cfg.idle_evict_ms
                                                                  : s->cfg.hibernate_ms;
    if (s->cfg.block_timeout_ms && s->cfg.block_timeout_ms < period)
        period = s->cfg.block_timeout_ms;
    period /= 4;
    if (period < 10)
        period = 10;
    if (period > 1000)
        period = 1000;
    uv_timer_start(&s->sweep, sweep_cb, period, period);
    uv_unref((uv_handle_t *)&s->sweep);
    uv_timer_init(&s->loop, &s->stop_timer);
    s->stop_timer.data = s;
    s->store = store_shard_new(s->cfg.data_dir, s->cfg.durability, s->cfg.max_open_handles);
    map_init(&s->instances);
    map_init(&s->runtimes);
    map_init(&s->events);
    sock_shard_init(s);
    alarms_shard_init(s);
    map_init(&s->usage);
    map_init(&s->streams);

    int rc = s->hooks.start ? s->hooks.start(s, s->hooks.data) : 0;
    pthread_mutex_lock(&s->lock);
    s->started = rc == 0 ? 1 : -1;
    if (rc != 0 && !s->err[0])
        snprintf(s->err, sizeof s->err, "shard %d failed to start", s->index);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        uv_run(&s->loop, UV_RUN_DEFAULT);
    sock_shard_deinit(s);
    alarms_shard_deinit(s);

    /* Close every handle (listeners, timers, the mailbox) and let libuv finish. */
    mailbox_close(s->mb, NULL);
    uv_walk(&s->loop, close_walk_cb, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    map_deinit(&s->instances);
    map_deinit(&s->runtimes);
    map_deinit(&s->events);
    usage_free_all(s);
    map_deinit(&s->usage);
    map_deinit(&s->streams);
    store_shard_free(s->store);
    actor_catalog_unref(s->catalog);
    return NULL;
}

shard_t **shards_start(int n, const actor_config_t *cfg, actor_catalog_t *catalog,
                       const shard_hooks_t *hooks, char *err, size_t errlen)
{
    shard_t **shards = xcalloc((size_t)n, sizeof *shards);
    struct stop_sync *stop = xcalloc(1, sizeof *stop);
    pthread_mutex_init(&stop->lock, NULL);
    pthread_cond_init(&stop->cond, NULL);
    stop->n = n;
    for (int i = 0; i < n; i++) {
        shard_t *s = xcalloc(1, sizeof *s);
        s->index = i;
        s->n = n;
        s->peers = shards;
        s->cfg = *cfg;
        s->hooks = *hooks;
        s->catalog = actor_catalog_ref(catalog);
        s->stop = stop;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        shards[i] = s;
    }
    for (int i = 0; i < n; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 8u << 20);
        pthread_create(&shards[i]->thread, &attr, shard_main, shards[i]);
        pthread_attr_destroy(&attr);
        shard_t *s = shards[i];
        pthread_mutex_lock(&s->lock);
        while (s->started == 0)
            pthread_cond_wait(&s->cond, &s->lock);
        int ok = s->started == 1;
        pthread_mutex_unlock(&s->lock);
        if (!ok) {
            /* The caller exits the process: nothing is cleaned up here. */
            snprintf(err, errlen, "%s", s->err);
            return NULL;
        }
    }
    return shards;
}

void shard_fail_start(shard_t *s, const char *msg)
{
    snprintf(s->err, sizeof s->err, "%s", msg);
}

void shards_stop(shard_t **shards, int n)
{
    shards_drain(shards, n);
    shards_join(shards, n);
}

void shards_drain(shard_t **shards, int n)
{
    struct stop_sync *stop = shards[0]->stop;
    for (int i = 0; i < n; i++) {
        mail_t *m = xcalloc(1, sizeof *m);
        m->kind = M_STOP;
        mailbox_post(shards[i]->mb, m);
    }
    /* Phase 1: every shard has closed its listeners and finished its events.
     * Only then may any shard tear down, since requests cross shards. */
    pthread_mutex_lock(&stop->lock);
    while (stop->drained < n)
        pthread_cond_wait(&stop->cond, &stop->lock);
    pthread_mutex_unlock(&stop->lock);
}

void shards_join(shard_t **shards, int n)
{
    struct stop_sync *stop = shards[0]->stop;
    for (int i = 0; i < n; i++) {
        mail_t *m = xcalloc(1, sizeof *m);
        m->kind = M_EXIT;
        mailbox_post(shards[i]->mb, m);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(shards[i]->thread, NULL);
        pthread_mutex_destroy(&shards[i]->lock);
        pthread_cond_destroy(&shards[i]->cond);
        free(shards[i]);
    }
    pthread_mutex_destroy(&stop->lock);
    pthread_cond_destroy(&stop->cond);
    free(stop);
    free(shards);
}
