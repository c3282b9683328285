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
#include "../store/store.h"

enum actor_access { ACCESS_PUBLIC, ACCESS_AUTHENTICATED, ACCESS_SERVICE_KEY };

/* A deployed class version. Immutable once published; shared by shards
 * through reference counting. */
typedef struct actor_class {
    atomic_int refs;
    char *app_id;
    char *name;        /* "chat-room" */
    char *class_name;  /* "ChatRoom" */
    char *uuid;
    enum actor_access access;
    int64_t version;
    uint8_t *bytecode;
    size_t bytecode_len;
} actor_class_t;

actor_class_t *actor_class_ref(actor_class_t *c);
void actor_class_unref(actor_class_t *c);

typedef struct actor_app {
    char *id;
    char *subdomain;
    char *service_key;
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
    size_t max_open_handles;   /* SQLite handles per shard */
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

/* Hooks the layer above provides, run on each shard's thread. */
typedef struct shard_hooks {
    /* The loop is running: set up listeners. Returns 0 or -1 (startup fails). */
    int (*start)(shard_t *s, void *data);
    /* Stop accepting; call shard_listeners_closed when done. */
    void (*stop)(shard_t *s, void *data);
    void *data;
} shard_hooks_t;

/* Creates and starts n shards. Blocks until each is running its loop (and
 * its start hook returned). Returns NULL and fills err if any failed. */
shard_t **shards_start(int n, const actor_config_t *cfg, actor_catalog_t *catalog,
                       const shard_hooks_t *hooks, char *err, size_t errlen);
/* Asks every shard to stop (finish in-flight events, commit, close) and joins
 * them. */
void shards_stop(shard_t **shards, int n);

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
 * one). done(data) runs on the calling loop's thread... no: from the last
 * shard to apply it; post to your own mailbox from there. */
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

/* Test hook (not reachable by users): the next n commits of the process fail. */
void actor_fail_next_commits(int n);

#endif
