/* What the API layer needs from the layer that runs instances (actor/),
 * without depending on it: the context's host (one per class runtime on a
 * shard), and each instance's API-side state.
 *
 * Attribution: the actor layer enters JS only through its own functions and
 * drains the job queue after every entry, so at any moment it knows which
 * instance's code is running (host->current). Console lines, timers and
 * storage calls are attributed that way. Depends on lib/, store/, quickjs.h. */
#ifndef DORM_API_HOST_H
#define DORM_API_HOST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <quickjs.h>
#include <uv.h>

#include "../lib/map.h"
#include "../store/store.h"

typedef struct api_state api_state_t;
typedef struct api_timer api_timer_t;
typedef struct api_ws api_ws_t;
struct api_fetch_policy;
struct api_fetcher;
struct api_fetch;
struct api_crypto_job;

typedef struct api_host {
    uv_loop_t *loop;
    const char *label;     /* "app/class" for logs */
    api_state_t *current;  /* the instance whose code runs now, or NULL */
    map_t timers;          /* timer id (decimal string) -> api_timer_t */
    int next_timer_id;
    /* Runs fn(args) as an entry into JS for st (deadline, drain, commit
     * scheduling, error reporting). Provided by the actor layer. */
    void (*run_callback)(struct api_host *h, api_state_t *st, JSValueConst fn, int argc,
                         JSValueConst *argv);
    /* A console line (level 0..3) from the current instance. */
    void (*log)(struct api_host *h, int level, const char *msg, size_t len);
    /* WebSockets (api/websocket.h), provided by the actor layer; NULL where
     * sockets cannot exist (the deploy-time check). ws_new returns a record
     * for a socket st accepts, set up with api_ws_init. ws_send queues a
     * message of an open record (sent once the writes before it are
     * durable); ws_close starts the close handshake the same way. */
    api_ws_t *(*ws_new)(struct api_host *h, api_state_t *st, bool hibernatable);
    void (*ws_send)(struct api_host *h, api_ws_t *ws, bool binary, const uint8_t *data,
                    size_t len);
    void (*ws_close)(struct api_host *h, api_ws_t *ws, int code, const char *reason,
                     size_t reason_len);
    void *ws_ctx; /* websocket.c's per-context state */
    /* storage.sync(): settles resolve (or reject, with the reason) once
     * everything st wrote so far is durable. Takes the two functions. */
    void (*storage_sync)(struct api_host *h, api_state_t *st, JSValue resolve, JSValue reject);
    void *sql_ctx; /* sql.c's per-context state */
    size_t ws_max_sockets; /* per instance; 0: API_WS_MAX_PER_INSTANCE */
    /* Outbound fetch() (fetch.c): the operator's rules (NULL: the defaults),
     * and the transfer machinery, made on first use, freed by
     * api_fetch_host_deinit. */
    const struct api_fetch_policy *fetch_policy;
    struct api_fetcher *fetcher;
} api_host_t;

/* Stores the host as the context's opaque; every API function finds it there. */
void api_host_attach(JSContext *ctx, api_host_t *h);
api_host_t *api_host(JSContext *ctx);

/* One instance as the API layer sees it. Embedded in the actor's instance. */
struct api_state {
    api_host_t *host;
    void *owner;            /* the actor's instance */
    const uint8_t *name;    /* the instance id as addressed (idFromName) */
    size_t name_len;
    char idhex[65];         /* state.id.toString() */
    store_kv_t *kv;         /* opened by the actor before the constructor runs */
    bool wrote;             /* a write since the actor last looked (it clears it):
                               output from now on waits for it to be durable */
    bool wrote_unconfirmed; /* a write with allowUnconfirmed: it is committed like
                               the others, but output does not wait for it */
    bool alarm_changed;     /* setAlarm/deleteAlarm/deleteAll since the actor looked */
    bool has_alarm_handler; /* the class has an alarm() method (set by the actor) */
    int64_t alarm_running;  /* the time of the alarm whose handler runs now (0: none);
                               getAlarm() hides it until the handler sets another */
    int blocked;            /* blockConcurrencyWhile and transaction() callbacks not
                               yet settled: the input gate is closed (api_state_block) */
    uint64_t blocked_since_ns; /* when blocked last went from 0 to 1 (uv_hrtime) */
    bool block_failed;      /* one of them rejected: the instance must be reset */
    bool aborted;           /* state.abort(reason) was called: likewise */
    char abort_reason[200];
    api_timer_t *timers;    /* this instance's live timers */
    size_t ntimers;
    struct api_fetch *fetches; /* its outbound fetches: queued, connected, or body unread */
    size_t nfetches;
    int fetches_active;     /* those holding a connection */
    struct api_crypto_job *crypto_jobs; /* slow WebCrypto work on the pool (crypto.c) */
    size_t ncrypto_jobs;
    struct api_handle *handle; /* shared with the JS objects; cleared on reset */
    JSValue env;            /* this.env */
    /* WebSockets it accepted (they outlive its JS: hibernation), newest
     * first, and its auto-response (setWebSocketAutoResponse). */
    api_ws_t *sockets;
    size_t nsockets;
    uint8_t *auto_req, *auto_res;
    size_t auto_req_len, auto_res_len;
    /* Called when a blockConcurrencyWhile promise settles (gate may open). */
    void (*unblocked)(api_state_t *st);
};

#endif
