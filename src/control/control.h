/* The server as a whole: the control thread (the main thread's loop) owns
 * DATA/control.db, compiles deploys, answers the management API and
 * publishes catalog snapshots to the shards; front.c is the front door each
 * shard runs for incoming requests. Depends on everything below it. */
#ifndef DORM_CONTROL_CONTROL_H
#define DORM_CONTROL_CONTROL_H
#include <stdbool.h>
#include <stdint.h>

#include "../actor/actor.h"
#include "../net/http.h"

typedef struct control_config {
    const char *listen_host; /* "127.0.0.1" */
    int port;                /* 8787 */
    const char *data_dir;    /* "./.dorm" */
    const char *domain;      /* "localhost" */
    int threads;             /* shards */
    bool log_json;
    actor_config_t actor;
    http_limits_t limits;
    bool test_hooks;         /* DORM_TEST_HOOKS=1: test-only management actions */
} control_config_t;

/* Runs the server until SIGINT/SIGTERM. Returns the process exit code. */
int control_run(control_config_t *cfg);

/* ---- shared between control.c and front.c --------------------------------- */

typedef struct control control_t;

typedef struct front {
    const control_config_t *cfg;
    uint8_t admin_hash[32]; /* SHA-256 of the admin token */
    mailbox_t *control_mb;
    /* Class log lines posted to the control thread and not yet taken, and
     * those dropped because too many were waiting (a class that logs
     * faster than they can be kept must not grow memory without bound). */
    atomic_int log_queued;
    atomic_int log_dropped;
} front_t;

/* Shard hooks that run the front door (listener + routing + access) and
 * hand class log lines to the control thread. */
shard_hooks_t front_hooks(front_t *f);

/* A management request travelling from a shard to the control thread:
 * route is the route_kind (manage_durable_objects, manage_apps, logs,
 * metrics); the admin token has been checked. */
typedef struct manage_msg {
    mail_t mail;
    int route;
    http_request_t *req;
    actor_reply_t reply;
} manage_msg_t;

enum { CONTROL_MANAGE = 1, CONTROL_PUBLISHED, CONTROL_STOPPED };

/* ---- log followers: logs.c (control thread) and front.c (their shard) ---------- */

/* Starts a follower stream on the shard the request came in on (run there
 * with shard_call): answers reply.conn with head (a 200 stream response
 * whose body holds the backlog), then writes what front_follow_send brings.
 * When the client goes away, the shard posts a follow_msg_t with kind
 * CONTROL_UNFOLLOW (id) to control_mb. */
typedef struct follow_start {
    actor_reply_t reply;
    uint64_t id;
    http_response_t *head;
    char *method, *target; /* for the request log line */
    uint64_t started_ns;
} follow_start_t;
void front_follow_start(shard_t *s, void *arg); /* arg: follow_start_t, freed */

/* Bytes for one follower (run on its shard with shard_call); end closes it
 * after the bytes. */
typedef struct follow_send {
    uint64_t id;
    buf_t bytes;
    bool end;
} follow_send_t;
void front_follow_send(shard_t *s, void *arg); /* arg: follow_send_t, freed */

typedef struct follow_msg {
    mail_t mail;
    uint64_t id;
} follow_msg_t;

/* Logs one request line: "POST /_do/counter/a 200 0.4ms". */
void front_log_request(const char *method, const char *target, int status, uint64_t started_ns);

#endif
