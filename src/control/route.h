/* Routing of a request line and Host header (DESIGN.md 1.4), as pure
 * functions over strings so they can be tested and fuzzed alone.
 * Depends on lib/ only. */
#ifndef DORM_CONTROL_ROUTE_H
#define DORM_CONTROL_ROUTE_H
#include <stdbool.h>
#include <stddef.h>

#include "../lib/buf.h"

#define ROUTE_MAX_ID_BYTES 1024

enum route_kind {
    ROUTE_NOT_FOUND,   /* no such path */
    ROUTE_INSTANCE,    /* /_do/<name>/<id>[/rest][?query] */
    ROUTE_MANAGE_DO,   /* /_api/manage_durable_objects */
    ROUTE_MANAGE_APPS, /* /_api/manage_apps */
    ROUTE_LOGS,        /* /_api/logs?app_id=&name=[&follow=1] */
    ROUTE_METRICS,     /* /metrics (Prometheus text) */
    ROUTE_BACKUP,      /* GET /_api/backup?app_id=&name=&id= */
    ROUTE_RESTORE,     /* POST /_api/restore?app_id=&name=&id= with a backup file */
    ROUTE_HEALTH,      /* /_api/health */
    ROUTE_BAD,         /* a /_do/ path that is malformed: message says why */
};

typedef struct route {
    enum route_kind kind;
    const char *name;  /* points into the target; name_len bytes */
    size_t name_len;
    buf_t id;          /* percent-decoded instance id */
    const char *message; /* for ROUTE_BAD and ROUTE_NOT_FOUND */
    int status;        /* the status to answer a ROUTE_BAD with */
} route_t;

/* Parses a request-target. r->id must be initialised (BUF_INIT) and is
 * freed by the caller. */
void route_parse(const char *target, route_t *r);

/* Which app a Host header names, given the server's domain: "myapp" for
 * "myapp.localhost:8787" with domain "localhost". Returns false (app
 * "default") for no Host, an IP literal, the domain itself or any host not
 * under the domain; sub and sub_len receive the subdomain otherwise. */
bool route_host_app(const char *host, const char *domain, const char **sub, size_t *sub_len);

/* The value of query parameter name in target ("/x?a=1&b=2"), percent-
 * decoded ('+' is a space) into out. Returns false when absent or malformed. */
bool route_query_param(const char *target, const char *name, buf_t *out);

#endif
