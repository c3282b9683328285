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
    const char *admin_token;
    mailbox_t *control_mb;
} front_t;

/* Shard hooks that run the front door (listener + routing + access). */
shard_hooks_t front_hooks(front_t *f);

/* A management request travelling from a shard to the control thread. */
typedef struct manage_msg {
    mail_t mail;
    http_request_t *req;
    actor_reply_t reply;
} manage_msg_t;

enum { CONTROL_MANAGE = 1, CONTROL_PUBLISHED, CONTROL_STOPPED };

/* Logs one request line: "POST /_do/counter/a 200 0.4ms". */
void front_log_request(const char *method, const char *target, int status, uint64_t started_ns);

#endif
