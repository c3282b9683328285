/* Private to src/actor: shards, class runtimes, instances and events. */
#ifndef DORM_ACTOR_INT_H
#define DORM_ACTOR_INT_H
#include <pthread.h>
#include <quickjs.h>

#include "../api/host.h"
#include "../api/web.h"
#include "../api/websocket.h"
#include "../net/ws.h"
#include "../js/runtime.h"
#include "../lib/map.h"
#include "actor.h"

/* Mail between shards (shard.c dispatches it). */
enum { M_EVENT = 1, M_REPLY, M_CATALOG, M_STOP, M_EXIT, M_WS_REPLY, M_WS_ATTACH, M_CALL };

typedef struct instance instance_t;
typedef struct classrt classrt_t;
typedef struct actor_sock actor_sock_t;
typedef struct actor_stream actor_stream_t;

/* The mailbox message kind of streamed answers (stream.c); the shard's own
 * kinds are below it. */
#define SHARD_M_STREAM 16

enum event_kind {
    EV_HTTP,       /* a request, answered through reply */
    EV_WS_MESSAGE, /* a WebSocket message: webSocketMessage or a "message" event */
    EV_WS_CLOSE,   /* the socket ended: webSocketClose or a "close" event */
    EV_WS_ERROR,   /* it failed (protocol error, slow reader): then a close follows */
    EV_ALARM,      /* the alarm is due: alarm({retryCount, isRetry}) (code: retryCount) */
};

/* One class's counters on one shard (observe.c), found by the class's uuid.
 * Instances and runtimes of the class point at it and hold a reference; the
 * shard's map holds one more until the class leaves the catalog. */
typedef struct actor_usage {
    char *uuid;
    char *app_id;
    char *name;
    uint64_t requests;
    uint64_t cpu_ns;
    uint64_t errors;
    int refs;
    bool listed; /* in shard->usage */
    size_t row;  /* scratch for a usage report */
} actor_usage_t;

/* Something for an instance to handle, from arrival to the end. */
typedef struct event {
    struct event *next;
    uint64_t id;            /* key in shard->events while delivered */
    enum event_kind kind;
    instance_t *inst;
    /* EV_HTTP */
    http_request_t *req;
    char *url;
    char *method;           /* for the request log */
    char *target;
    actor_reply_t reply;
    http_response_t *res;   /* set when settled, waiting for the output gate */
    uint64_t required;      /* batch that must be durable before res is sent */
    uint64_t started_ns;
    bool upgrade;           /* a valid WebSocket upgrade request */
    char ws_key[32];        /* its Sec-WebSocket-Key */
    actor_sock_t *upgrade_sock; /* the socket a 101 answer hands the connection to */
    /* EV_WS_* */
    actor_sock_t *sock;
    uint8_t *msg;           /* message bytes, close reason, or error text */
    size_t msg_len;
    bool binary;
    int code;
    bool clean;
    actor_stream_t *stream; /* res is the head of a streamed answer (stream.c) */
} event_t;

/* A WebSocket message or close waiting for the output gate, or for the
 * connection to arrive. */
typedef struct frame {
    struct frame *next;
    actor_sock_t *sock;
    uint64_t required;      /* batch that must be durable before it goes out */
    bool close;             /* a close frame (code, reason in data) */
    bool binary;
    int code;
    size_t len;
    uint8_t data[];
} frame_t;

/* A WebSocket an instance accepted (sockets.c). The record JS sees is ws;
 * the connection may live longer than the instance's JS (hibernation), and
 * the record longer than the connection (until the close event is handled). */
struct actor_sock {
    api_ws_t ws;            /* first: the API layer's record */
    uint64_t id;            /* key in shard->sockets */
    shard_t *shard;
    instance_t *inst;       /* NULL once its instance is gone */
    ws_conn_t *conn;        /* NULL until the connection arrives, and after it ended */
    frame_t *pending, *pending_tail; /* released by the gate, waiting for conn */
    size_t unread;          /* bytes of messages queued for the instance, not yet delivered */
    uint64_t created_by;    /* the event whose delivery accepted it, 0 if unknown */
    bool upgrading;         /* its 101 was answered; the connection is on its way */
    bool ended;             /* the connection is over */
    bool close_delivered;   /* the close event ran (or there is no instance to run it) */
};

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
    actor_usage_t *usage;  /* the class's counters (ref) */
    int depth;             /* entries into JS in progress (never more than one) */
    uint64_t cpu_started;  /* thread CPU time at the outer entry */
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
    frame_t *held_out, *held_out_tail; /* WebSocket frames waiting for a commit */
    uint64_t delivering;   /* the event whose handler runs now (its synchronous part) */
    uint64_t taken;        /* batches committed (commit.c) */
    uint64_t done;         /* batches durable */
    uint64_t confirmed;    /* the last batch with a write output must wait for */
    bool turn_dirty;       /* the open transaction has writes */
    bool turn_confirmed;   /* ... and some of them hold output (not allowUnconfirmed) */
    int alarm_retries;     /* failed alarm() runs in a row */
    bool alarm_queued;     /* an alarm event is queued or running */
    uint64_t syncing;      /* the batch a sync in flight makes durable, 0: none */
    struct job_work *sync_work; /* that sync's job on the pool (commit.c) */
    store_job_t *sync_next; /* the sync to run once that one is done */
    uint64_t sync_next_batch;
    struct sync_waiter *sync_waiters; /* storage.sync() promises */
    bool listed_runnable;
    bool listed_dirty;
    bool reset_requested;
    bool removed;          /* its class was deleted: purge once idle */
    bool stale;            /* its app's env changed: drop the JS state once no event runs */
    bool admin_hold;       /* its storage is being deleted or restored: deliver nothing */
    actor_usage_t *usage;  /* its class's counters (ref) */
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
    uv_idle_t kick;        /* active while work is listed: the loop must not block
                              in poll before its turn (work listed by a timer) */
    uv_timer_t sweep;
    uv_timer_t stop_timer;
    actor_catalog_t *catalog;
    store_shard_t *store;
    map_t instances;
    map_t runtimes;
    classrt_t *retired;    /* runtimes replaced while instances still used them */
    map_t events;
    map_t usage;           /* class uuid -> actor_usage_t */
    uint64_t next_event_id;
    /* alarms.c */
    struct store_alarm_index *alarm_index;
    uv_timer_t alarm_timer;
    struct heap_ent *alarm_heap;
    size_t alarm_n, alarm_cap;
    map_t alarm_sched;     /* instance key -> int64_t (the time it is due) */
    map_t sockets;         /* id -> actor_sock_t */
    uint64_t next_sock_id;
    size_t nconns;         /* sockets with a live connection */
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
bool instance_idle(const instance_t *inst);
void instance_evict(instance_t *inst);        /* drops JS state, frees the instance */
void instance_hibernate(instance_t *inst);    /* drops JS state, keeps its sockets */
void instance_reset(instance_t *inst, int status, const char *why);
/* Why an instance must be reset after an entry failed ("exceeded its CPU
 * time limit", ...), for instance_reset; written into buf. */
const char *instance_failure(const instance_t *inst, char *buf, size_t len);
/* Its input gate has been closed for longer than the block timeout: the
 * events it holds or runs fail, and a fresh instance takes the next ones. */
void instance_block_timeout(instance_t *inst);
void instance_commit_all_sync(instance_t *inst);
/* The instance is being freed: a sync still on the pool finishes without it. */
void instance_detach_sync(instance_t *inst);
void instance_release_held(instance_t *inst);
void event_answer(event_t *ev, http_response_t *res);
void event_fail(event_t *ev, int status, const char *code, const char *msg);
/* commit.c: the output gate and the commits. */
/* The batch that output produced now must wait for (0: none). */
uint64_t instance_output_required(instance_t *inst);
/* Notes the writes the instance's JS made (state flags) for this turn. */
void instance_note_writes(instance_t *inst);
/* Writes not yet durable, or a sync in flight. */
bool instance_durability_pending(const instance_t *inst);
/* End of a turn: commits the instance's transaction and starts its sync. */
void instance_commit(instance_t *inst);
void instance_release_waiters(instance_t *inst);
void instance_drop_sync_waiters(instance_t *inst);
void commit_host_init(api_host_t *h);
/* A job for the pool that nothing waits for (a checkpoint). */
void commit_queue_job(shard_t *s, store_job_t *job);

/* alarms.c */
/* The alarm of the instance changed in the batch just committed; sync is
 * that batch's sync job (NULL under --durability process). */
void alarm_committed(instance_t *inst, store_job_t *sync);
/* Calls alarm(info) for an alarm event (or nothing, when the alarm moved). */
JSValue alarm_deliver(instance_t *inst, event_t *ev, JSContext *ctx);
/* The alarm event is over: ok, or the handler failed (a retry is set). */
void alarm_done(instance_t *inst, event_t *ev, bool ok);
/* Schedules the instance's alarm from its file (after a failed commit). */
void alarm_resync(instance_t *inst);
void alarms_shard_init(shard_t *s);
void alarms_shard_deinit(shard_t *s);
size_t alarms_pending(const shard_t *s);
void shard_mark_runnable(instance_t *inst);
void shard_mark_dirty(instance_t *inst);

/* sockets.c */
void sock_host_init(api_host_t *h);          /* the ws_* callbacks of a class runtime */
void sock_shard_init(shard_t *s);
void sock_shard_deinit(shard_t *s);
/* The 101 answer of an upgrade is being sent: the connection goes to sock. */
void sock_upgrading(actor_sock_t *sock);
/* On the origin shard: writes the 101 and moves the connection to the owner. */
void sock_reply_upgrade(shard_t *origin, http_conn_t *conn, http_response_t *res,
                        shard_t *owner, uint64_t sock_id);
/* Mail from an origin shard: the connection of sock_id (fd, or -1 when the
 * client went away first; or tcp when the origin is this shard). */
void sock_attach(shard_t *s, uint64_t sock_id, uv_tcp_t *tcp, int fd, uint8_t *head,
                 size_t head_len);
/* Releases held frames whose writes are durable (the output gate). */
void sock_release_held(instance_t *inst);
/* A commit failed: frames that depended on batches after kept are dropped. */
void sock_drop_held(instance_t *inst, uint64_t kept);
/* An event of sock was handled (its close event: the record goes). */
void sock_event_done(event_t *ev);
/* Closes the instance's sockets that cannot hibernate (ws.accept() style),
 * or all when all is set, with code and reason. */
void sock_close_all(instance_t *inst, bool all, int code, const char *reason);
/* The instance goes away: its sockets lose it (their connections close). */
void sock_orphan_all(instance_t *inst);
bool sock_all_hibernatable(const instance_t *inst);
/* At stop: every connection gets a close frame; at exit: aborted. */
void sock_shard_close_all(shard_t *s, int code, const char *reason);
/* Frees the instance's sockets that never got a connection: those accepted
 * by event_id, or all such when event_id is 0. */
void sock_drop_unbound(instance_t *inst, uint64_t event_id);
void sock_mail(shard_t *s, mail_t *m);
/* From the owner shard: the 101 goes to reply's shard, which writes it and
 * sends the connection back for sock_id. */
void sock_post_reply(actor_reply_t reply, http_response_t *res, shard_t *owner,
                     uint64_t sock_id);
/* observe.c: usage counters, class log lines, and the hooks WebSockets
 * (issue 3) and alarms (issue 4) fill in. */
actor_usage_t *usage_get(shard_t *s, const actor_class_t *cls); /* a new reference */
void usage_unref(actor_usage_t *u);
void usage_prune(shard_t *s, const actor_catalog_t *cat); /* forget classes not in cat */
void usage_free_all(shard_t *s);
uint64_t usage_thread_cpu_ns(void);
/* A line for the server log and for the class's log ring (the class_log
 * hook): console output and uncaught errors. subject is the log's subject
 * ("counter/alice"); instance the instance id or NULL for module code. */
void shard_class_log(shard_t *s, const actor_class_t *cls, const char *subject,
                     const char *instance, int level, const char *msg, size_t len);
void shard_class_logf(shard_t *s, const actor_class_t *cls, const char *subject,
                      const char *instance, int level, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Closes every WebSocket held by the app's instances on this shard
 * (hibernatable or not) with code and reason. Setting or deleting an env var
 * calls it with 1012 (DESIGN.md 1.6). */
void actor_app_close_websockets(shard_t *s, const char *app_id, int code, const char *reason);
/* Gauges for usage: WebSockets open and alarms set on the class's instances
 * on this shard. */
uint64_t actor_usage_websockets(shard_t *s, const actor_usage_t *u);
uint64_t actor_usage_alarms(shard_t *s, const actor_usage_t *u);
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
