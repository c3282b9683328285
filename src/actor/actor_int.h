/* Private to src/actor: shards, class runtimes, instances and events. */
#ifndef DORM_ACTOR_INT_H
#define DORM_ACTOR_INT_H
#include <pthread.h>
#include <quickjs.h>

#include "../api/host.h"
#include "../api/web.h"
#include "../js/runtime.h"
#include "../lib/map.h"
#include "actor.h"

typedef struct instance instance_t;
typedef struct classrt classrt_t;
typedef struct actor_stream actor_stream_t;

/* The mailbox message kind of streamed answers (stream.c); the shard's own
 * kinds are below it. */
#define SHARD_M_STREAM 16

/* A request for an instance, from arrival to answer. */
typedef struct event {
    struct event *next;
    uint64_t id;            /* key in shard->events while delivered */
    instance_t *inst;
    http_request_t *req;
    char *url;
    char *method;           /* for the request log */
    char *target;
    actor_reply_t reply;
    http_response_t *res;   /* set when settled, waiting for the output gate */
    uint64_t required;      /* batch that must be durable before res is sent */
    uint64_t started_ns;
    actor_stream_t *stream; /* res is the head of a streamed answer (stream.c) */
} event_t;

/* One class version on this shard: a QuickJS runtime and its instances. */
struct classrt {
    api_host_t host;       /* first: JS_GetContextOpaque gives the host */
    shard_t *shard;
    actor_class_t *cls;
    jsrt_t *js;
    web_t *web;
    JSValue ctor;
    char *key;
    size_t keylen;
    int ninstances;
    bool broken;           /* out of memory: reset when its instances are gone */
    bool oom_logged;
    classrt_t *next_retired; /* in shard->retired: broken, replaced, not yet freed */
    char label[160];
};

enum inst_status { INST_COLD, INST_ACTIVE };

struct instance {
    shard_t *shard;
    actor_class_t *cls;    /* the version it runs or will run (ref) */
    classrt_t *rt;         /* NULL while cold */
    enum inst_status status;
    char *key;             /* app \0 name \0 id */
    size_t keylen;
    uint8_t *id;           /* NUL-terminated copy */
    size_t id_len;
    api_state_t api;
    JSValue obj;
    JSValue state;
    event_t *queue, *queue_tail; /* not yet delivered */
    int inflight;                /* delivered, not settled */
    event_t *held, *held_tail;   /* settled, waiting for a commit */
    uint64_t taken;        /* batches handed to commit */
    uint64_t done;         /* batches durable */
    bool pending;          /* writes not yet taken */
    bool committing;
    bool listed_runnable;
    bool listed_dirty;
    bool reset_requested;
    bool removed;          /* its class was deleted: purge once idle */
    uint64_t last_used_ns;
    actor_stream_t *streams; /* streamed answers still being read (stream.c) */
    int nstreams;
    instance_t *next_runnable, *next_dirty;
    char label[200];       /* "counter/alice" for logs */
};

struct shard {
    int index;
    int n;
    shard_t **peers;
    actor_config_t cfg;
    shard_hooks_t hooks;
    pthread_t thread;
    uv_loop_t loop;
    mailbox_t *mb;
    uv_check_t turn;
    uv_timer_t sweep;
    uv_timer_t stop_timer;
    actor_catalog_t *catalog;
    store_shard_t *store;
    map_t instances;
    map_t runtimes;
    classrt_t *retired;    /* runtimes replaced while instances still used them */
    map_t events;
    uint64_t next_event_id;
    map_t streams;         /* stream id -> actor_stream_t, for promise reactions */
    uint64_t next_stream_id;
    size_t nremoved;       /* instances with removed set, not yet evicted */
    instance_t *runnable;
    instance_t *dirty;
    int commits_in_flight;
    /* start-up handshake with shards_start */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int started;           /* 0 starting, 1 running, -1 failed */
    char err[256];
    /* stopping */
    bool stopping;
    bool listeners_closed;
    bool drained_reported;
    bool exiting;
    struct stop_sync *stop;
    void *front;
};

struct stop_sync {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int drained;
    int n;
};

/* instance.c */
instance_t *instance_get(shard_t *s, actor_class_t *cls, const uint8_t *id, size_t id_len);
void instance_enqueue(instance_t *inst, event_t *ev);
void instance_run(instance_t *inst);
void instance_schedule_commit(instance_t *inst);
bool instance_idle(const instance_t *inst);
void instance_evict(instance_t *inst);        /* drops JS state, frees the instance */
void instance_reset(instance_t *inst, int status, const char *why);
void instance_commit_all_sync(instance_t *inst);
void instance_release_held(instance_t *inst);
void event_answer(event_t *ev, http_response_t *res);
/* The batch an output produced now depends on: every write made so far. */
uint64_t instance_gate_required(instance_t *inst);
void event_fail(event_t *ev, int status, const char *code, const char *msg);
void shard_mark_runnable(instance_t *inst);
void shard_mark_dirty(instance_t *inst);

/* stream.c: streamed answers. A stream belongs to its instance until the
 * body is over; the event holds it until its head is sent. */
actor_stream_t *actor_stream_new(instance_t *inst, event_t *ev, JSValue pump); /* takes pump */
/* The event's answer (res, the head) passed the output gate: sends it, and
 * the chunks that may follow. Returns false (res not taken) when the
 * instance was reset meanwhile and the stream is gone. */
bool actor_stream_send_head(actor_stream_t *st, http_response_t *res);
void actor_stream_discard(actor_stream_t *st);  /* the event failed before its head */
void actor_streams_release(instance_t *inst);   /* a commit finished: send what it allows */
void actor_streams_abort(instance_t *inst);     /* reset or eviction: cut every body short */
void actor_stream_on_mail(shard_t *s, mail_t *m); /* SHARD_M_STREAM; frees not m itself */

/* classrt.c */
classrt_t *classrt_get(shard_t *s, actor_class_t *cls, char *err, size_t errlen);
void classrt_release(classrt_t *rt); /* an instance left it */
void classrt_reap(shard_t *s);        /* frees runtimes nobody needs */
void classrt_free(classrt_t *rt);
void classrt_enter(classrt_t *rt, instance_t *inst);
/* Ends an entry: returns 0, or -1 when the instance must be reset (CPU
 * limit, a failed blockConcurrencyWhile) -- the runtime is marked broken on OOM. */
int classrt_leave(classrt_t *rt, instance_t *inst);

#endif
