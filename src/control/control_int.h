/* Private to the control thread's files: control.c (start-up, the catalog
 * snapshots, manage_durable_objects), apps.c (manage_apps), env.c (env
 * vars), usage.c (usage, /metrics) and logs.c (class log rings and their
 * followers). Everything here runs on the control thread unless a comment
 * says otherwise. */
#ifndef DORM_CONTROL_CONTROL_INT_H
#define DORM_CONTROL_CONTROL_INT_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../js/compile.h"
#include "../lib/map.h"
#include "../store/catalog.h"
#include "control.h"

/* How often the control thread persists usage and pings log followers. */
#define CONTROL_TICK_MS 5000

typedef struct logs logs_t;
typedef struct usage_state usage_state_t;

struct control {
    control_config_t *cfg;
    uv_loop_t loop;
    mailbox_t *mb;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;         /* every few seconds: persist usage, keep followers alive */
    catalog_t *db;
    jscompiler_t *compiler;
    actor_catalog_t *snapshot; /* the last one published */
    shard_t **shards;
    front_t front;
    char admin_token[80];
    bool stopping;
    bool quiesced;           /* shards are being joined: post nothing to them */
    pthread_t stopper;
    pthread_mutex_t quiesce_lock;
    pthread_cond_t quiesce_cond;
    usage_state_t *usage;
    logs_t *logs;
};

/* An answer to a management request, sent once whatever it waits for is
 * done (every shard has a new snapshot, usage has been gathered). */
typedef struct pending_reply {
    mail_t mail;
    control_t *c;
    actor_reply_t reply;
    http_response_t *res;
    char *purge_app;  /* delete: remove these files once shards let go */
    char *purge_class; /* NULL with purge_app: the whole app */
    char *method, *target;
    uint64_t started_ns;
    bool publish;     /* the action changed control.db: publish before answering */
} pending_reply_t;

/* Control-thread mail kinds (besides those of control.h). */
enum {
    CONTROL_USAGE = 100,
    CONTROL_LOG,
    CONTROL_FOLLOW,
    CONTROL_UNFOLLOW,
    CONTROL_QUIESCE,
    CONTROL_STORAGE,
};

/* ---- control.c ------------------------------------------------------------------ */

http_response_t *control_json_response(int status, json_t *j); /* takes j */
const char *control_json_str(json_t *body, const char *key);
/* A 404 naming the class and the app. */
http_response_t *control_class_not_found(const char *app, const char *name);
/* Sends p's answer now (no publish) or after publishing (p->publish). */
void control_finish(control_t *c, pending_reply_t *p);
/* Builds the catalog snapshot from control.db; NULL with err. */
actor_catalog_t *control_load_snapshot(control_t *c, char *err, size_t errlen);
/* The deploy names of an app's live classes (malloc'd array of malloc'd
 * strings; free with control_names_free). */
char **control_class_names(control_t *c, const char *app, size_t *n);
void control_names_free(char **v, size_t n);

/* ---- apps.c --------------------------------------------------------------------- */

/* manage_apps: returns the answer, or NULL when p will be finished later. */
http_response_t *apps_handle(control_t *c, json_t *body, pending_reply_t *p);
/* Creates the app default at first start. 0 or -1 (logged). */
int apps_ensure_default(control_t *c);

/* ---- env.c ---------------------------------------------------------------------- */

http_response_t *env_list(control_t *c, const char *app);
http_response_t *env_set(control_t *c, const char *app, json_t *body, pending_reply_t *p);
http_response_t *env_delete(control_t *c, const char *app, json_t *body, pending_reply_t *p);

/* ---- usage.c -------------------------------------------------------------------- */

int usage_start(control_t *c);        /* loads the persisted counters */
void usage_tick(control_t *c);        /* gathers and persists the counters */
void usage_stop(control_t *c);        /* writes the last counters, frees everything */
/* The usage action: gathers, then finishes p. name may be NULL (the app). */
http_response_t *usage_action(control_t *c, const char *app, const char *name,
                              pending_reply_t *p);
/* GET /metrics: gathers, then finishes p. */
void usage_metrics(control_t *c, pending_reply_t *p);
void usage_on_mail(control_t *c, mail_t *m);
/* Stopper thread, after the shards drained: gathers a last time (the answer
 * reaches the control thread before CONTROL_STOPPED). */
void usage_collect_final(control_t *c);
/* A class or app was deleted: forget its counters (app_id with name NULL:
 * every class of the app). */
void usage_forget(control_t *c, const char *app_id, const char *name);

/* ---- logs.c --------------------------------------------------------------------- */

logs_t *logs_new(void);
void logs_free(logs_t *l);
/* Runs on a shard (the class_log hook): posts the line to the control thread. */
void logs_hook(shard_t *s, const actor_log_line_t *line, void *data);
void logs_on_mail(control_t *c, mail_t *m);
/* GET /_api/logs?app_id=&name=[&follow=1][&after=SEQ]: answers, or starts a
 * follower stream on the request's shard. */
void logs_request(control_t *c, http_request_t *req, pending_reply_t *p);
/* A class or app was deleted: drop its ring and end its followers. */
void logs_forget(control_t *c, const char *app_id, const char *name);
/* Before the shards are joined: ends every follower. */
void logs_quiesce(control_t *c);
/* Sends a keep-alive comment to every follower, so a vanished one is noticed. */
void logs_tick(control_t *c);

/* ---- storage_admin.c ------------------------------------------------------------ */

/* The storage actions of manage_durable_objects: *handled tells whether
 * action is one of them; the answer, or NULL when p is finished later. */
http_response_t *storage_action(control_t *c, const char *app, const char *action, json_t *body,
                                pending_reply_t *p, bool *handled);
const char *storage_actions_list(void); /* their names, for error messages */
/* GET /_api/backup and POST /_api/restore: take req, finish p. */
void storage_backup_request(control_t *c, http_request_t *req, pending_reply_t *p);
void storage_restore_request(control_t *c, http_request_t *req, pending_reply_t *p);
void storage_on_mail(control_t *c, mail_t *m);

#endif
