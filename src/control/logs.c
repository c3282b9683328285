/* Class logs (`dorm logs NAME [--follow]`): every console.* line and uncaught
 * error of a class, kept in a bounded ring per class on the control thread,
 * served by GET /_api/logs as server-sent events, and pushed to followers
 * whose sockets live on the shard their request came in on (front.c). Lines
 * come from the shards through the control thread's mailbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "control_int.h"
#include "route.h"

#define RING_LINES 1000               /* lines kept per class */
#define RING_BYTES ((size_t)1 << 20)  /* and at most this many bytes of them */
#define LINE_MAX_BYTES 8192           /* a longer line is cut, and says so */
#define QUEUE_MAX 20000               /* lines on their way to the control thread */

typedef struct log_entry {
    uint64_t seq;
    int64_t ts_ms;
    int level;
    char *instance; /* NULL for module-level code */
    char *msg;
    size_t bytes;
} log_entry_t;

typedef struct ring {
    char *app, *name;
    log_entry_t entries[RING_LINES];
    size_t first, count, bytes;
    uint64_t next_seq;
} ring_t;

typedef struct follower_ref {
    uint64_t id;
    shard_t *shard;
    char *app, *name;
} follower_ref_t;

struct logs {
    map_t rings;     /* app \0 name -> ring_t */
    map_t followers; /* id -> follower_ref_t */
    uint64_t next_id;
};

/* A line on its way from a shard: the strings follow the struct. */
typedef struct log_mail {
    mail_t mail;
    int64_t ts_ms;
    int level;
    char *app, *name, *uuid, *instance, *msg;
    size_t len;
} log_mail_t;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void ring_key(buf_t *k, const char *app, const char *name)
{
    buf_reset(k);
    buf_puts(k, app);
    buf_putc(k, 0);
    buf_puts(k, name);
}

static void entry_clear(log_entry_t *e)
{
    free(e->instance);
    free(e->msg);
    memset(e, 0, sizeof *e);
}

static void ring_free(ring_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        entry_clear(&r->entries[(r->first + i) % RING_LINES]);
    free(r->app);
    free(r->name);
    free(r);
}

logs_t *logs_new(void)
{
    logs_t *l = xcalloc(1, sizeof *l);
    map_init(&l->rings);
    map_init(&l->followers);
    return l;
}

static void ref_free(follower_ref_t *f)
{
    free(f->app);
    free(f->name);
    free(f);
}

void logs_free(logs_t *l)
{
    size_t it;
    for (map_entry_t *e = map_first(&l->rings, &it); e; e = map_next(&l->rings, e, &it))
        ring_free(e->value);
    for (map_entry_t *e = map_first(&l->followers, &it); e; e = map_next(&l->followers, e, &it))
        ref_free(e->value);
    map_deinit(&l->rings);
    map_deinit(&l->followers);
    free(l);
}

/* ---- from the shards -------------------------------------------------------------- */

void logs_hook(shard_t *s, const actor_log_line_t *line, void *data)
{
    front_t *f = data;
    (void)s;
    if (atomic_fetch_add(&f->log_queued, 1) >= QUEUE_MAX) {
        atomic_fetch_sub(&f->log_queued, 1);
        atomic_fetch_add(&f->log_dropped, 1);
        return; /* the server log still has it */
    }
    size_t la = strlen(line->app_id), ln = strlen(line->name), lu = strlen(line->uuid);
    size_t li = line->instance ? strnlen(line->instance, 256) : 0;
    size_t len = line->len > LINE_MAX_BYTES ? LINE_MAX_BYTES : line->len;
    log_mail_t *m = xmalloc(sizeof *m + la + ln + lu + li + len + 5);
    memset(m, 0, sizeof *m);
    m->mail.kind = CONTROL_LOG;
    m->ts_ms = util_now_ms();
    m->level = line->level;
    char *p = (char *)(m + 1);
    m->app = memcpy(p, line->app_id, la + 1);
    p += la + 1;
    m->name = memcpy(p, line->name, ln + 1);
    p += ln + 1;
    m->uuid = memcpy(p, line->uuid, lu + 1);
    p += lu + 1;
    if (line->instance) {
        m->instance = memcpy(p, line->instance, li);
        m->instance[li] = 0;
        p += li + 1;
    }
    m->msg = memcpy(p, line->msg, len);
    m->msg[len] = 0;
    m->len = line->len; /* the length as written, to say it was cut */
    mailbox_post(f->control_mb, &m->mail);
}

/* ---- formatting ----------------------------------------------------------------------- */

/* Copies s[0..n) replacing every byte that is not part of valid UTF-8 with
 * U+FFFD, so that the line can be JSON. */
static void utf8_clean(buf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len > 1) {
            unsigned cp = c & (0xFF >> (len + 1));
            for (size_t k = 1; k < len; k++)
                cp = (cp << 6) | (p[i + k] & 0x3F);
            static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (ok && c != 0) {
            buf_append(out, p + i, len);
            i += len;
        } else {
            buf_puts(out, "\xEF\xBF\xBD");
            i++;
        }
    }
}

static json_t *clean_string(const char *s, size_t n)
{
    buf_t b = BUF_INIT;
    utf8_clean(&b, s, n);
    json_t *j = json_stringn(buf_cstr(&b), b.len);
    buf_deinit(&b);
    return j ? j : json_string("");
}

/* One server-sent event for an entry. */
static void put_event(buf_t *out, const ring_t *r, const log_entry_t *e)
{
    char when[32];
    util_iso8601(e->ts_ms, when);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)e->seq, "time", when,
                          "level", level_names[e->level & 3], "app_id", r->app, "name", r->name);
    json_object_set_new(o, "instance",
                        e->instance ? clean_string(e->instance, strlen(e->instance)) : json_null());
    json_object_set_new(o, "message", clean_string(e->msg, strlen(e->msg)));
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    buf_printf(out, "id: %llu\nevent: log\ndata: %s\n\n", (unsigned long long)e->seq, s);
    free(s);
    json_decref(o);
}

/* ---- rings ----------------------------------------------------------------------------- */

static ring_t *ring_get(logs_t *l, const char *app, const char *name, bool create)
{
    buf_t k = BUF_INIT;
    ring_key(&k, app, name);
    ring_t *r = map_get(&l->rings, k.data, k.len);
    if (!r && create) {
        r = xcalloc(1, sizeof *r);
        r->app = xstrdup(app);
        r->name = xstrdup(name);
        r->next_seq = 1;
        map_put(&l->rings, k.data, k.len, r);
    }
    buf_deinit(&k);
    return r;
}

static void ring_push(ring_t *r, const log_mail_t *m)
{
    size_t bytes = strlen(m->msg) + (m->instance ? strlen(m->instance) : 0) + 64;
    while (r->count > 0 && (r->count == RING_LINES || r->bytes + bytes > RING_BYTES)) {
        log_entry_t *old = &r->entries[r->first];
        r->bytes -= old->bytes;
        entry_clear(old);
        r->first = (r->first + 1) % RING_LINES;
        r->count--;
    }
    log_entry_t *e = &r->entries[(r->first + r->count) % RING_LINES];
    e->seq = r->next_seq++;
    e->ts_ms = m->ts_ms;
    e->level = m->level;
    e->instance = m->instance ? xstrdup(m->instance) : NULL;
    if (m->len > LINE_MAX_BYTES) {
        buf_t b = BUF_INIT;
        buf_append(&b, m->msg, LINE_MAX_BYTES);
        buf_printf(&b, " ... (%zu more bytes cut)", m->len - LINE_MAX_BYTES);
        e->msg = (char *)buf_steal(&b, &bytes);
    } else {
        e->msg = xstrdup(m->msg);
    }
    e->bytes = strlen(e->msg) + (e->instance ? strlen(e->instance) : 0) + 64;
    r->bytes += e->bytes;
    r->count++;
}

/* ---- followers ---------------------------------------------------------------------------- */

static void send_to(control_t *c, follower_ref_t *f, const buf_t *bytes, bool end)
{
    if (c->quiesced)
        return;
    follow_send_t *m = xcalloc(1, sizeof *m);
    m->id = f->id;
    buf_init(&m->bytes);
    if (bytes)
        buf_append(&m->bytes, bytes->data, bytes->len);
    m->end = end;
    shard_call(f->shard, front_follow_send, m);
}

/* Ends followers of app (and name, unless NULL), or every one when app is NULL. */
static void end_followers(control_t *c, const char *app, const char *name)
{
    logs_t *l = c->logs;
    for (;;) {
        follower_ref_t *hit = NULL;
        size_t it;
        for (map_entry_t *e = map_first(&l->followers, &it); e && !hit;
             e = map_next(&l->followers, e, &it)) {
            follower_ref_t *f = e->value;
            if (!app || (strcmp(f->app, app) == 0 && (!name || strcmp(f->name, name) == 0)))
                hit = f;
        }
        if (!hit)
            return;
        buf_t bye = BUF_INIT;
        buf_puts(&bye, app ? "event: end\ndata: {\"reason\":\"the class was deleted\"}\n\n"
                           : "event: end\ndata: {\"reason\":\"the server is stopping\"}\n\n");
        send_to(c, hit, &bye, true);
        buf_deinit(&bye);
        map_remove(&l->followers, &hit->id, sizeof hit->id);
        ref_free(hit);
    }
}

void logs_on_mail(control_t *c, mail_t *mail)
{
    logs_t *l = c->logs;
    if (mail->kind == CONTROL_UNFOLLOW) {
        follow_msg_t *m = (follow_msg_t *)mail;
        follower_ref_t *f = map_remove(&l->followers, &m->id, sizeof m->id);
        if (f)
            ref_free(f);
        free(m);
        return;
    }
    if (mail->kind != CONTROL_LOG) {
        free(mail);
        return;
    }
    log_mail_t *m = (log_mail_t *)mail;
    atomic_fetch_sub(&c->front.log_queued, 1);
    int dropped = atomic_exchange(&c->front.log_dropped, 0);
    const actor_class_t *cls = actor_catalog_class(c->snapshot, m->app, m->name, strlen(m->name));
    if (cls && strcmp(cls->uuid, m->uuid) == 0) {
        ring_t *r = ring_get(l, m->app, m->name, true);
        if (dropped > 0) {
            char note[160];
            log_mail_t gap = *m;
            gap.instance = NULL;
            gap.level = 2;
            gap.len = (size_t)snprintf(note, sizeof note,
                                       "%d lines were not kept: they came faster than the server "
                                       "could keep them (the server log has them)",
                                       dropped);
            gap.msg = note;
            ring_push(r, &gap);
        }
        ring_push(r, m);
        const log_entry_t *e = &r->entries[(r->first + r->count - 1) % RING_LINES];
        buf_t ev = BUF_INIT;
        size_t it;
        for (map_entry_t *x = map_first(&l->followers, &it); x; x = map_next(&l->followers, x, &it)) {
            follower_ref_t *f = x->value;
            if (strcmp(f->app, m->app) != 0 || strcmp(f->name, m->name) != 0)
                continue;
            if (ev.len == 0)
                put_event(&ev, r, e);
            send_to(c, f, &ev, false);
        }
        buf_deinit(&ev);
    }
    free(m);
}

void logs_forget(control_t *c, const char *app_id, const char *name)
{
    end_followers(c, app_id, name);
    logs_t *l = c->logs;
    for (;;) {
        ring_t *hit = NULL;
        size_t it;
        for (map_entry_t *e = map_first(&l->rings, &it); e && !hit; e = map_next(&l->rings, e, &it)) {
            ring_t *r = e->value;
            if (strcmp(r->app, app_id) == 0 && (!name || strcmp(r->name, name) == 0))
                hit = r;
        }
        if (!hit)
            return;
        buf_t k = BUF_INIT;
        ring_key(&k, hit->app, hit->name);
        map_remove(&l->rings, k.data, k.len);
        buf_deinit(&k);
        ring_free(hit);
    }
}

void logs_quiesce(control_t *c)
{
    end_followers(c, NULL, NULL);
}

void logs_tick(control_t *c)
{
    logs_t *l = c->logs;
    buf_t ping = BUF_INIT;
    buf_puts(&ping, ": keep-alive\n\n");
    size_t it;
    for (map_entry_t *e = map_first(&l->followers, &it); e; e = map_next(&l->followers, e, &it))
        send_to(c, e->value, &ping, false);
    buf_deinit(&ping);
}

/* ---- GET /_api/logs ------------------------------------------------------------------------- */

static bool truthy(const buf_t *v)
{
    const char *s = buf_cstr(v);
    return strcmp(s, "1") == 0 || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || !*s;
}

void logs_request(control_t *c, http_request_t *req, pending_reply_t *p)
{
    buf_t app = BUF_INIT, name = BUF_INIT, v = BUF_INIT;
    char msg[300];
    if (!route_query_param(req->target, "app_id", &app))
        buf_puts(&app, "default");
    bool follow = route_query_param(req->target, "follow", &v) && truthy(&v);
    uint64_t after = 0;
    if (route_query_param(req->target, "after", &v))
        after = strtoull(buf_cstr(&v), NULL, 10);
    if (!route_query_param(req->target, "name", &name) || name.len == 0) {
        p->res = http_response_error(400, "INVALID_ARGUMENT",
                                     "/_api/logs needs ?name=<class name> (and &app_id= for an "
                                     "app other than default; &follow=1 to stream)");
    } else if (!actor_catalog_app(c->snapshot, buf_cstr(&app))) {
        snprintf(msg, sizeof msg, "no app \"%.64s\" exists on this server", buf_cstr(&app));
        p->res = http_response_error(404, "APP_NOT_FOUND", msg);
    } else if (!actor_catalog_class(c->snapshot, buf_cstr(&app), buf_cstr(&name), name.len)) {
        p->res = control_class_not_found(buf_cstr(&app), buf_cstr(&name));
    }
    if (p->res) {
        control_finish(c, p);
        goto done;
    }
    http_response_t *res = http_response_new(200);
    http_headers_add(&res->headers, &res->nheaders, "Content-Type", "text/event-stream");
    http_headers_add(&res->headers, &res->nheaders, "Cache-Control", "no-cache");
    ring_t *r = ring_get(c->logs, buf_cstr(&app), buf_cstr(&name), false);
    for (size_t i = 0; r && i < r->count; i++) {
        const log_entry_t *e = &r->entries[(r->first + i) % RING_LINES];
        if (e->seq > after)
            put_event(&res->body, r, e);
    }
    if (!follow) {
        p->res = res;
        control_finish(c, p);
        goto done;
    }
    /* A stream: the shard the request came in on keeps the socket. */
    follower_ref_t *f = xcalloc(1, sizeof *f);
    f->id = ++c->logs->next_id;
    f->shard = p->reply.origin;
    f->app = xstrdup(buf_cstr(&app));
    f->name = xstrdup(buf_cstr(&name));
    map_put(&c->logs->followers, &f->id, sizeof f->id, f);
    follow_start_t *st = xcalloc(1, sizeof *st);
    st->reply = p->reply;
    st->id = f->id;
    st->head = res;
    st->method = p->method;
    st->target = p->target;
    st->started_ns = p->started_ns;
    free(p);
    shard_call(f->shard, front_follow_start, st);
done:
    buf_deinit(&app);
    buf_deinit(&name);
    buf_deinit(&v);
}
