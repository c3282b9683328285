/* Private interface of the CLI's own files (cli.c, cli_usage.c, cli_args.c,
 * cli_format.c, cli_http.c, cli_mcp.c, cli_dev.c) and of
 * tests/unit/test_cli.c. Pure pieces (parsing, resolving
 * the URL and token, formatting answers) are separate from the network so
 * they can be tested without a server. Strings in cli_args_t are borrowed
 * from argv; every buf_t is the caller's and is appended to. */
#ifndef DORM_CLI_CLI_INT_H
#define DORM_CLI_CLI_INT_H
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "../lib/buf.h"

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,    /* the server (or a local copy of its rule) said no */
    CLI_EXIT_USAGE = 2,      /* bad arguments, missing token, unreadable file */
    CLI_EXIT_UNREACHABLE = 3 /* no answer from the server */
};

typedef enum cli_cmd {
    CLI_CMD_HELP,
    CLI_CMD_DEPLOY,
    CLI_CMD_LIST,
    CLI_CMD_GET,
    CLI_CMD_DELETE,
    CLI_CMD_USAGE,
    CLI_CMD_LOGS,
    CLI_CMD_ENV_LIST,   /* dorm env list */
    CLI_CMD_ENV_SET,
    CLI_CMD_ENV_DELETE,
    CLI_CMD_APPS_LIST,  /* dorm apps list */
    CLI_CMD_APPS_CREATE,
    CLI_CMD_APPS_GET,
    CLI_CMD_APPS_DELETE,
    CLI_CMD_APPS_ROTATE,
    CLI_CMD_APPS_SET_AUTH,
    CLI_CMD_MCP,
    CLI_CMD_DEV,
    CLI_CMD_STORAGE_LIST, /* dorm storage list */
    CLI_CMD_STORAGE_GET,
    CLI_CMD_STORAGE_SQL,
    CLI_CMD_STORAGE_DELETE,
    CLI_CMD_STORAGE_BACKUP,
    CLI_CMD_STORAGE_RESTORE,
    CLI_CMD_COUNT
} cli_cmd_t;

#define CLI_DEFAULT_URL "http://127.0.0.1:8787"
#define CLI_DEFAULT_DATA "./.dorm"
#define CLI_DEFAULT_APP "default"
#define CLI_DEFAULT_DEV_DATA "./.dorm-dev"
#define CLI_DEFAULT_LISTEN "127.0.0.1:8787"
#define CLI_MAX_FILES 16 /* files of dorm dev */
#define CLI_MAX_CODE_BYTES ((size_t)5 * 1024 * 1024)

typedef struct cli_args {
    cli_cmd_t cmd;
    const char *cmd_name;   /* "deploy" or "env set", as typed */
    const char *topic;      /* the usage text that describes cmd ("env" for "env set") */
    int help;               /* --help or -h was given: print usage, do nothing else */
    const char *help_topic; /* `dorm help TOPIC`: the command to describe, or NULL */
    const char *name;       /* NAME of deploy/get/delete/usage/logs; APP of apps commands;
                               KEY of env set/delete */
    const char *file;       /* FILE of deploy */
    const char *value;      /* VALUE of env set: NULL or "-" reads stdin */
    const char *files[CLI_MAX_FILES]; /* FILE... of dev */
    int nfiles;
    const char *subdomain;  /* --subdomain of apps create */
    const char *jwt_secret; /* apps set-auth: --jwt-secret ("-": stdin) */
    const char *public_key; /*   --jwt-public-key FILE (PEM) */
    const char *jwks;       /*   --jwks FILE */
    const char *issuer;     /*   --issuer */
    const char *audience;   /*   --audience */
    int clear;              /*   --clear */
    int follow;             /* logs --follow */
    const char *listen;     /* dev --listen */
    const char *threads;    /* dev --threads */
    const char *app;        /* --app, CLI_DEFAULT_APP when not given */
    int app_given;          /* --app was on the command line */
    const char *url;        /* --url or NULL */
    const char *token;      /* --token or NULL */
    const char *data;       /* --data or NULL */
    const char *access;     /* --access or NULL (the server's default applies) */
    int json;               /* --json */
    int yes;                /* --yes / -y */
    int code;               /* --code */
    /* dorm storage */
    const char *id;         /* ID of get/sql/delete/backup; restore --id */
    const char *query;      /* QUERY of sql */
    const char *prefix;     /* get --prefix */
    const char *limit;      /* get/list --limit */
    const char *out;        /* backup --out/-o FILE */
    const char *to_name;    /* restore --name */
} cli_args_t;

/* The environment variables the CLI reads, captured once so tests can
 * supply their own. A NULL or empty value counts as unset. */
typedef struct cli_env {
    const char *url;         /* DORM_URL */
    const char *token;       /* DORM_TOKEN */
    const char *admin_token; /* DORM_ADMIN_TOKEN: what the server itself would use */
    const char *data;        /* DORM_DATA */
} cli_env_t;

void cli_env_from_process(cli_env_t *env);

/* Parses argv (argv[0] is the subcommand; for env and apps argv[1] is the
 * verb: "env set"). Flags may come anywhere after the subcommand, as
 * `--flag value` or `--flag=value`; `--` ends the flags. Returns 0, or -1
 * with one line in err (no trailing newline) that ends with "see dorm <cmd>
 * --help". --help wins over any other error. */
int cli_parse_args(int argc, char **argv, cli_args_t *out, buf_t *err);

/* The base URL: --url, else DORM_URL, else CLI_DEFAULT_URL, without trailing
 * slashes. Returns 0, or -1 with a message in err when it is not http(s). */
int cli_resolve_url(const cli_args_t *a, const cli_env_t *env, buf_t *out, buf_t *err);

/* The admin token: --token, else DORM_TOKEN, else DORM_ADMIN_TOKEN, else the
 * first line of DATA/admin.token with DATA from --data, DORM_DATA or
 * CLI_DEFAULT_DATA. Returns 0 with the token in out, or -1 with a message in
 * err (the caller exits with CLI_EXIT_USAGE). */
int cli_resolve_token(const cli_args_t *a, const cli_env_t *env, buf_t *out, buf_t *err);

/* Reads the file of a deploy into out. Returns CLI_EXIT_OK, or an exit code
 * with one line in err: CLI_EXIT_USAGE when the file cannot be read,
 * CLI_EXIT_REFUSED when it is larger than max bytes. */
int cli_read_code(const char *path, size_t max, buf_t *out, buf_t *err);

/* Where instances of class `name` of `app` are served, given the base URL:
 * the URL itself for the default app, else the app's subdomain of its host. */
void cli_served_url(const char *base, const char *app, const char *name, buf_t *out);

/* Formatting of the management API's answers (result is borrowed). Each
 * returns 0, or -1 when the answer lacks what it must hold (the caller then
 * says so and exits with CLI_EXIT_REFUSED). */
int cli_format_deploy(const json_t *result, const char *base, const char *app, buf_t *out);
int cli_format_list(const json_t *result, const char *app, buf_t *out);
int cli_format_get(const json_t *result, const char *base, const char *app, int with_code,
                   buf_t *out);
int cli_format_delete(const json_t *result, const char *name, const char *app, buf_t *out);
/* usage of one class (result has "name") or of an app (a table, a total row). */
int cli_format_usage(const json_t *result, buf_t *out);
int cli_format_env_list(const json_t *result, const char *app, buf_t *out);
int cli_format_apps_list(const json_t *result, buf_t *out);
/* apps get, and the app part of apps create/set-auth. */
int cli_format_app(const json_t *result, const char *base, buf_t *out);
/* One log event's JSON (the data of a server-sent event) as a line. */
int cli_format_log_line(const json_t *event, buf_t *out);

/* The one line (no trailing newline) that explains a refused call, from the
 * HTTP status and body of the answer: "<message> (<CODE>)" for a dorm error,
 * else a description of what came back. Never fails. */
void cli_format_error(long status, const char *body, size_t len, const char *base, buf_t *out);

/* Appends s to out with every control character but newline and tab made
 * visible as '?', so nothing the server sends can drive the terminal. With
 * one_line, newlines and tabs become spaces too. */
void cli_put_safe(buf_t *out, const char *s, int one_line);

/* One POST of the management API. */
typedef struct cli_http_reply {
    long status; /* HTTP status, 0 when no answer came */
    buf_t body;
    buf_t error; /* why no answer came, when status is 0 */
    int timed_out;
} cli_http_reply_t;

void cli_http_reply_init(cli_http_reply_t *r);
void cli_http_reply_deinit(cli_http_reply_t *r);
/* POSTs body to base + "/_api/manage_durable_objects". Returns 0 when an
 * answer came (any status), -1 when none did (reason in r->error). */
int cli_http_post(const char *base, const char *token, const char *body, size_t len,
                  cli_http_reply_t *r);
/* The same to base + path ("/_api/manage_apps"). */
int cli_http_post_to(const char *base, const char *path, const char *token, const char *body,
                     size_t len, cli_http_reply_t *r);
/* GETs base + path and hands every piece of a 2xx body to on_data as it
 * arrives (no time limit: a stream may last); other answers are collected
 * in r->body. on_data returns 0 to go on, -1 to stop. Returns 0 when an
 * answer came, -1 when none did (reason in r->error). */
int cli_http_get_stream(const char *base, const char *path, const char *token,
                        int (*on_data)(const char *p, size_t n, void *arg), void *arg,
                        cli_http_reply_t *r);

/* dorm storage VERB: runs it against the server. Returns the exit code. */
int cli_storage_run(const cli_args_t *a, const char *base, const char *token);
/* A stored value in its tagged JSON form (docs/value-encoding.md, "As JSON")
 * written the way JS would write it: {a: 1, b: [1, 2]}, 5n, Map(1) {...}. */
void cli_format_value(const json_t *v, buf_t *out);

/* Reads all of stdin (for a value given as "-"), without the one trailing
 * newline an echo or a file adds. Returns 0, or -1 with err. */
int cli_read_stdin_value(size_t max, buf_t *out, buf_t *err);

/* The deploy name of a dev file: NAME=FILE gives NAME; otherwise the file's
 * base name without its extension, in kebab-case (ChatRoom.ts: chat-room).
 * *path receives the file part. */
void cli_dev_name(const char *arg, buf_t *name, const char **path);

/* dorm mcp and dorm dev (cli_mcp.c, cli_dev.c): return the exit code. */
int cli_mcp_run(const cli_args_t *a, FILE *in, FILE *out);
int cli_dev_run(const cli_args_t *a);
/* One JSON-RPC message of the MCP server: line is one line of input; the
 * answer (if any, none for a notification) is appended to out with its
 * newline. state is the server's, zeroed before the first call. Exposed
 * for the tests. */
typedef struct cli_mcp_state {
    int initialized;
    char protocol[32];
    const char *base;  /* the server URL */
    const char *token; /* NULL when none was found (token_error says why) */
    const char *token_error;
} cli_mcp_state_t;
void cli_mcp_handle(cli_mcp_state_t *st, const char *line, size_t len, buf_t *out);

/* Asks on out to type name and reads a line from in. Returns 1 when the
 * line is exactly name. app NULL: name is an app to delete. */
int cli_confirm(const char *name, const char *app, FILE *in, FILE *out);

#endif
