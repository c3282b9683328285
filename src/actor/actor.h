/* The actor layer: shards and the instances they own (DESIGN.md 2.1-2.3).
 *
 * A shard is a thread with its own libuv loop, mailbox, class runtimes,
 * instances and store handles; nothing mutable is shared between shards. An
 * instance lives on shard hash(app, class, id) mod N; a request that arrives
 * elsewhere travels to the owner as a message and its answer comes back the
 * same way. The control layer publishes immutable catalog snapshots (apps
 * and deployed classes) to every shard. Depends on lib/, net/, store/, js/,
 * api/. */
#ifndef DORM_ACTOR_ACTOR_H
#define DORM_ACTOR_ACTOR_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../net/http.h"
#include "../net/mailbox.h"
#include "../net/ws.h"
#include "../store/store.h"

enum actor_access { ACCESS_PUBLIC, ACCESS_AUTHENTICATED, ACCESS_SERVICE_KEY };

/* One env var of an app, as this.env shows it. The value is a secret: it is
 * wiped when the class version holding it is freed. */
typedef struct actor_env_var {
    char *key;
    char *value;
} actor_env_var_t;

/* A deployed class version. Immutable once published; shared by shards
 * through reference counting. A class version is what (version,
 * env_version) names: a redeploy raises version, a change of the app's env
 * vars raises env_version, and either starts fresh runtimes and instances. */
typedef struct actor_class {
    atomic_int refs;
    char *app_id;
    char *name;        /* "chat-room" */
    char *class_name;  /* "ChatRoom" */
    char *uuid;        /* stable across redeploys; new after a delete */
    enum actor_access access;
    int64_t version;
    int64_t env_version;
    uint8_t *bytecode;
    size_t bytecode_len;
    actor_env_var_t *env; /* the app's env vars (owned) */
    size_t nenv;
} actor_class_t;

actor_class_t *actor_class_ref(actor_class_t *c);
void actor_class_unref(actor_class_t *c);
/* True when a and b are the same class version (same code, same env). */
bool actor_class_same_version(const actor_class_t *a, const actor_class_t *b);

typedef struct actor_app {
    char *id;
    char *subdomain;
    char *service_key_hash;  /* sha256 of the service key, 64 hex chars */
    int64_t env_version;
    /* The control layer's parsed JWT settings (NULL when the app has none),
     * freed with the snapshot through auth_free, from whichever thread
     * drops the last reference. */
    void *auth;
    void (*auth_free)(void *auth);
} actor_app_t;

/* What every shard knows of apps and classes: an immutable snapshot. */
typedef struct actor_catalog {
    atomic_int refs;
    actor_app_t *apps;
    size_t napps;
    actor_class_t **classes;
    size_t nclasses;
} actor_catalog_t;

actor_catalog_t *actor_catalog_ref(actor_catalog_t *c);
void actor_catalog_unref(actor_catalog_t *c);
const actor_app_t *actor_catalog_app(const actor_catalog_t *c, const char *id);
const actor_app_t *actor_catalog_app_by_subdomain(const actor_catalog_t *c, const char *sub,
                                                  size_t len);
actor_class_t *actor_catalog_class(const actor_catalog_t *c, const char *app, const char *name,
                                   size_t name_len);

typedef struct actor_config {
    const char *data_dir;
    store_durability_t durability;
    uint64_t cpu_limit_ms;     /* per event; 0: none */
    size_t memory_limit;       /* per class runtime per shard */
    uint64_t idle_evict_ms;    /* idle instances are evicted after this */
    uint64_t alarm_retry_ms;   /* the first retry of a failed alarm() (then doubling) */
    uint64_t block_timeout_ms; /* an instance whose input gate a blockConcurrencyWhile()
                                  or transaction() keeps closed this long is reset */
    uint64_t hibernate_ms;     /* idle instances whose only ties are hibernatable
                                  WebSockets are evicted after this; the sockets stay */
    size_t max_open_handles;   /* SQLite handles per shard */
    ws_limits_t ws;            /* WebSocket connections */
    size_t ws_max_sockets;     /* WebSockets one instance may hold */
    /* Who classes may fetch (api/fetch_policy.h); NULL: the defaults. */
    const struct api_fetch_policy *fetch_policy;
} actor_config_t;

typedef struct shard shard_t;

/* Where a finished request's answer goes: the shard and connection the
 * request came in on. */
typedef struct actor_reply {
    shard_t *origin;
    http_conn_t *conn;
} actor_reply_t;

/* A line a class wrote (console.*) or an uncaught error of a class, for the
 * layer above to keep (DESIGN.md: `dorm logs`). level: 0 debug, 1 info,
 * 2 warn, 3 error. The strings are borrowed for the call. */
typedef struct actor_log_line {
    const char *app_id;
    const char *name;      /* the class's deploy name */
    const char *uuid;      /* the class's stable id */
    const char *instance;  /* "counter/alice", or the class for module-level code */
    int level;
    const char *msg;
    size_t len;
} actor_log_line_t;

/* Hooks the layer above provides, run on each shard's thread. */
typedef struct shard_hooks {
    /* The loop is running: set up listeners. Returns 0 or -1 (startup fails). */
    int (*start)(shard_t *s, void *data);
    /* Stop accepting; call shard_listeners_closed when done. */
    void (*stop)(shard_t *s, void *data);
    void *data;
    /* A class's log line (may be NULL). Runs inside the class's entry into
     * JS: it must not block or call back into this layer. */
    void (*class_log)(shard_t *s, const actor_log_line_t *line, void *data);
    /* The shard is about to exit (every instance is gone): free what start
     * made (may be NULL). */
    void (*exit)(shard_t *s, void *data);
} shard_hooks_t;

/* Creates and starts n shards. Blocks until each is running its loop (and
 * its start hook returned). Returns NULL and fills err if any failed. */
shard_t **shards_start(int n, const actor_config_t *cfg, actor_catalog_t *catalog,
                       const shard_hooks_t *hooks, char *err, size_t errlen);
/* Asks every shard to stop (finish in-flight events, commit, close) and joins
 * them: shards_drain, then shards_join. */
void shards_stop(shard_t **shards, int n);
/* Phase 1 of stopping: blocks until every shard has closed its listeners and
 * finished its events. The shards still run their loops (messages, timers). */
void shards_drain(shard_t **shards, int n);
/* Phase 2: every shard commits what is left, frees its instances and exits;
 * joins them and frees the array. Nothing may be posted to a shard after this
 * starts. */
void shards_join(shard_t **shards, int n);

/* Runs fn(s, arg) on shard s's own thread, in the order of posting, from any
 * thread. fn owns arg. Must not be called once shards_join has started. */
void shard_call(shard_t *s, void (*fn)(shard_t *s, void *arg), void *arg);

int shard_index(const shard_t *s);
int shard_count(const shard_t *s);
uv_loop_t *shard_loop(shard_t *s);
shard_t *shard_peer(shard_t *s, int index);
/* The shard's current catalog (borrowed; valid until the next loop turn). */
actor_catalog_t *shard_catalog(shard_t *s);
/* The owner shard index of an instance. */
int actor_owner(int nshards, const char *app, const char *cls, const uint8_t *id, size_t id_len);

/* Hands a request for instance (cls, id) to its owner shard. Takes ownership
 * of req; the answer goes to reply. Call on reply.origin's thread. */
void shard_dispatch(shard_t *s, actor_class_t *cls, const uint8_t *id, size_t id_len,
                    http_request_t *req, const char *url, actor_reply_t reply);
/* Sends an answer to a connection, from any thread. Takes ownership of res. */
void actor_reply_send(actor_reply_t reply, http_response_t *res);

/* Publishes a new catalog to every shard (takes one reference per call).
 * Instances of classes that are gone or changed are evicted (at their next
 * event for a changed class; at once, after their commits, for a removed
 * one). done(data) runs on the thread of the last shard to apply it: post
 * to your own mailbox from there. */
void shards_publish(shard_t **shards, int n, actor_catalog_t *cat, void (*done)(void *data),
                    void *data);

/* The front door's per-shard object (opaque to this layer). */
void shard_set_front(shard_t *s, void *front);
void *shard_front(shard_t *s);
/* For the start hook: the reason it failed. */
void shard_fail_start(shard_t *s, const char *msg);
/* Called by the stop hook when its listeners are closed. */
void shard_listeners_closed(shard_t *s);

/* Deploy-time check on the caller's thread: evaluates the module in a
 * scratch runtime built exactly like a shard's, and returns the exported
 * class's name (class_name, from its `name`) and export name. Returns 0, or
 * -1 with a message in err. */
int actor_check_class(uv_loop_t *loop, const uint8_t *bc, size_t len, size_t memory_limit,
                      uint64_t cpu_limit_ms, char **class_name, char **export_name, buf_t *err);

/* ---- usage (per shard, gathered on request) ------------------------------------------- */

/* What one shard knows of one class (by uuid): counters since the process
 * started, and gauges of now. */
typedef struct actor_usage_row {
    char *uuid;
    char *app_id;
    char *name;
    uint64_t requests;        /* requests routed to an instance of the class */
    uint64_t cpu_ns;          /* CPU time spent in the class's JS */
    uint64_t errors;          /* events that failed, uncaught exceptions */
    uint64_t instances_live;  /* instances in memory now */
    uint64_t websockets_open; /* see actor_usage_websockets */
    uint64_t alarms_pending;  /* see actor_usage_alarms */
} actor_usage_row_t;

typedef struct actor_usage_report {
    actor_usage_row_t *rows;
    size_t n;
} actor_usage_report_t;

/* Gathers every shard's rows. done(reports, n, data) runs on the thread of
 * the last shard to answer, with one report per shard (index = shard); it
 * owns them and frees them with actor_usage_reports_free. */
void shards_collect_usage(shard_t **shards, int n,
                          void (*done)(actor_usage_report_t *reports, int n, void *data),
                          void *data);
void actor_usage_reports_free(actor_usage_report_t *reports, int n);

/* ---- storage administration (admin.c) ---------------------------------------------- */

enum { ACTOR_ADMIN_DELETE = 1, ACTOR_ADMIN_RESTORE };

/* Deletes an instance's storage, or replaces it with a prepared file, on the
 * instance's own shard: new events for it wait, the events it runs finish
 * (or are failed after 10 s), its WebSockets are closed, its in-memory
 * state goes, then the file is removed or moved into place and its alarm
 * follows the new file. done runs on that shard's thread. */
typedef struct actor_admin_op {
    int op;
    char *app, *cls;          /* owned by the caller */
    uint8_t *id;
    size_t id_len;
    const char *prepared;     /* RESTORE: the file to move into place */
    int rc;                   /* 0, or -1 with err */
    bool existed;             /* DELETE: there was a file */
    char err[256];
    void (*done)(struct actor_admin_op *op, void *data);
    void *data;
} actor_admin_op_t;
void actor_admin_run(shard_t **shards, int n, actor_admin_op_t *op);

/* The instances of a class with state in memory on any shard. */
typedef struct actor_live {
    char hex[65];
    uint8_t *id;
    size_t id_len;
    bool hibernated;          /* only its WebSockets are held (no JS state) */
} actor_live_t;
/* Gathers them from every shard; done runs on the last shard to answer and
 * owns v (free with actor_live_free). */
void actor_admin_live(shard_t **shards, int n, const char *app, const char *cls,
                      void (*done)(actor_live_t *v, size_t n, void *data), void *data);
void actor_live_free(actor_live_t *v, size_t n);

/* Test hook (not reachable by users): the next n commits of the process fail. */
void actor_fail_next_commits(int n);
/* Tests only: a WebSocket's connection reaches its instance ms later than
 * its 101 (0: at once), to widen the window in which the socket is on its
 * way. */
void actor_delay_ws_attach(int ms);
/* Tests only: a sync that starts once its shard has finished its part of a
 * stop takes ms longer on the pool (0: not), so that the other shards stop
 * while it runs. */
void actor_slow_syncs(int ms);

#endif
