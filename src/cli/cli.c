/* The CLI's entry point: runs one client subcommand from parsed arguments to
 * exit code, calling the management API over HTTP (DESIGN.md 1.5): the
 * class actions, usage, env vars, logs and apps; dev and mcp have files of
 * their own. It is a client: it must not include quickjs.h, sqlite3.h or any
 * server module, and touches no server file but DATA/admin.token. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli_int.h"

#define MAX_STDIN_VALUE ((size_t)64 * 1024)
#define MAX_KEY_FILE ((size_t)1024 * 1024)

int cli_confirm(const char *name, const char *app, FILE *in, FILE *out)
{
    if (!app)
        fprintf(out,
                "This deletes the app %s with every class, instance, env var and all their "
                "storage; it cannot be undone.\nType the app's name to confirm: ",
                name);
    else
        fprintf(out,
                "This deletes %s from app %s, with every instance and all their storage; it "
                "cannot be undone.\nType the name to confirm: ",
                name, app);
    fflush(out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, in);
    int ok = 0;
    if (n >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        ok = strcmp(line, name) == 0;
    } else {
        fputc('\n', out);
    }
    free(line);
    return ok;
}

/* Prints what --help or `dorm help [TOPIC]` asks for. */
static int run_help(const cli_args_t *a)
{
    /* `dorm deploy --help` and `dorm help --help` describe their command;
     * `dorm help deploy` describes its topic, `dorm help` everything. */
    const char *topic = a->help ? a->topic : a->help_topic;
    const char *text = cli_usage(topic);
    if (!text) {
        fprintf(stderr, "dorm help: there is no command '%s'; see dorm help\n", topic);
        return CLI_EXIT_USAGE;
    }
    fputs(text, stdout);
    return CLI_EXIT_OK;
}

/* Adds key: value to the request; fails when value is not UTF-8 (jansson
 * refuses to hold it). */
static int put_arg(json_t *req, const char *key, const char *value, const char *what)
{
    if (json_object_set_new(req, key, json_string(value)) == 0)
        return 0;
    fprintf(stderr, "dorm: %s is not valid UTF-8; use plain ASCII or UTF-8\n", what);
    return -1;
}

/* A value from the command line, or from stdin when it is "-" or absent. */
static int value_arg(json_t *req, const char *key, const char *value, const char *what)
{
    if (value && strcmp(value, "-") != 0)
        return put_arg(req, key, value, what) < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "dorm: type the %s, then Ctrl-D:\n", what);
    buf_t v = BUF_INIT, err = BUF_INIT;
    int rc = CLI_EXIT_OK;
    if (cli_read_stdin_value(MAX_STDIN_VALUE, &v, &err) < 0) {
        fprintf(stderr, "dorm: %s\n", buf_cstr(&err));
        rc = CLI_EXIT_USAGE;
    } else if (put_arg(req, key, buf_cstr(&v), what) < 0) {
        rc = CLI_EXIT_USAGE;
    }
    if (v.data)
        memset(v.data, 0, v.cap); /* a secret */
    buf_deinit(&v);
    buf_deinit(&err);
    return rc;
}

/* The text of a file named by a flag (a PEM key, a JWKS). */
static int file_arg(json_t *req, const char *key, const char *path, const char *flag)
{
    buf_t text = BUF_INIT, err = BUF_INIT;
    int rc = cli_read_code(path, MAX_KEY_FILE, &text, &err);
    if (rc != CLI_EXIT_OK) {
        /* cli_read_code speaks of classes; say what this file was for. */
        fprintf(stderr, "dorm: %s: cannot use %s (%s)\n", flag, path, buf_cstr(&err));
    } else if (json_object_set_new(req, key, json_stringn(buf_cstr(&text), text.len)) < 0) {
        fprintf(stderr, "dorm: %s: %s is not UTF-8 text\n", flag, path);
        rc = CLI_EXIT_USAGE;
    }
    buf_deinit(&text);
    buf_deinit(&err);
    return rc == CLI_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

static const char *action_of(cli_cmd_t cmd)
{
    switch (cmd) {
    case CLI_CMD_DEPLOY: return "deploy";
    case CLI_CMD_LIST: return "list";
    case CLI_CMD_GET: return "get";
    case CLI_CMD_DELETE: return "delete";
    case CLI_CMD_USAGE: return "usage";
    case CLI_CMD_ENV_LIST: return "list_env";
    case CLI_CMD_ENV_SET: return "set_env";
    case CLI_CMD_ENV_DELETE: return "delete_env";
    case CLI_CMD_APPS_LIST: return "list";
    case CLI_CMD_APPS_CREATE: return "create";
    case CLI_CMD_APPS_GET: return "get";
    case CLI_CMD_APPS_DELETE: return "delete";
    case CLI_CMD_APPS_ROTATE: return "rotate_service_key";
    case CLI_CMD_APPS_SET_AUTH: return "set_auth";
    default: return NULL;
    }
}

static int is_apps(cli_cmd_t cmd)
{
    return cmd >= CLI_CMD_APPS_LIST && cmd <= CLI_CMD_APPS_SET_AUTH;
}

/* Builds the request body of a command. Returns 0, or an exit code. */
static int build_request(const cli_args_t *a, json_t *req)
{
    if (!is_apps(a->cmd) && put_arg(req, "app_id", a->app, "--app") < 0)
        return CLI_EXIT_USAGE;
    if (put_arg(req, "action", action_of(a->cmd), "the action") < 0)
        return CLI_EXIT_USAGE;
    switch (a->cmd) {
    case CLI_CMD_ENV_SET:
        if (put_arg(req, "key", a->name, "KEY") < 0)
            return CLI_EXIT_USAGE;
        return value_arg(req, "value", a->value, "value");
    case CLI_CMD_ENV_DELETE:
        return put_arg(req, "key", a->name, "KEY") < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    case CLI_CMD_APPS_LIST:
        return CLI_EXIT_OK;
    case CLI_CMD_APPS_CREATE:
    case CLI_CMD_APPS_GET:
    case CLI_CMD_APPS_DELETE:
    case CLI_CMD_APPS_ROTATE:
    case CLI_CMD_APPS_SET_AUTH:
        if (put_arg(req, "app_id", a->name, "APP") < 0)
            return CLI_EXIT_USAGE;
        if (a->subdomain && put_arg(req, "subdomain", a->subdomain, "--subdomain") < 0)
            return CLI_EXIT_USAGE;
        if (a->cmd != CLI_CMD_APPS_SET_AUTH)
            return CLI_EXIT_OK;
        if (a->clear)
            return json_object_set_new(req, "clear", json_true()) == 0 ? CLI_EXIT_OK
                                                                       : CLI_EXIT_USAGE;
        if ((a->issuer && put_arg(req, "issuer", a->issuer, "--issuer") < 0) ||
            (a->audience && put_arg(req, "audience", a->audience, "--audience") < 0))
            return CLI_EXIT_USAGE;
        if (a->jwt_secret)
            return value_arg(req, "jwt_secret", a->jwt_secret, "JWT secret");
        if (a->public_key)
            return file_arg(req, "jwt_public_key", a->public_key, "--jwt-public-key");
        return file_arg(req, "jwks", a->jwks, "--jwks");
    default:
        break;
    }
    if (a->name && put_arg(req, "name", a->name, "NAME") < 0)
        return CLI_EXIT_USAGE;
    if (a->access && put_arg(req, "access_mode", a->access, "--access") < 0)
        return CLI_EXIT_USAGE;
    if (a->cmd != CLI_CMD_DEPLOY)
        return CLI_EXIT_OK;

    buf_t code = BUF_INIT, err = BUF_INIT;
    int rc = cli_read_code(a->file, CLI_MAX_CODE_BYTES, &code, &err);
    if (rc != CLI_EXIT_OK) {
        fprintf(stderr, "dorm: %s\n", buf_cstr(&err));
    } else if (json_object_set_new(req, "code", json_stringn(buf_cstr(&code), code.len)) < 0) {
        fprintf(stderr, "dorm: %s is not UTF-8 text; save it as UTF-8 and deploy again\n", a->file);
        rc = CLI_EXIT_USAGE;
    }
    buf_deinit(&code);
    buf_deinit(&err);
    return rc;
}

/* Deleting cannot be undone: a person types the name, a script says --yes. */
static int check_delete_confirmed(const cli_args_t *a)
{
    if ((a->cmd != CLI_CMD_DELETE && a->cmd != CLI_CMD_APPS_DELETE) || a->yes)
        return CLI_EXIT_OK;
    const char *app = a->cmd == CLI_CMD_APPS_DELETE ? NULL : a->app;
    if (!isatty(STDIN_FILENO)) {
        if (a->cmd == CLI_CMD_APPS_DELETE)
            fprintf(stderr,
                    "dorm apps delete: refusing to delete the app %s without a confirmation, and "
                    "stdin is not a terminal to ask on; pass --yes to delete it\n",
                    a->name);
        else
            fprintf(stderr,
                    "dorm delete: refusing to delete %s from app %s without a confirmation, and "
                    "stdin is not a terminal to ask on; pass --yes to delete it\n",
                    a->name, app);
        return CLI_EXIT_USAGE;
    }
    if (!cli_confirm(a->name, app, stdin, stderr)) {
        fprintf(stderr, "dorm: nothing was deleted: what was typed is not %s\n", a->name);
        return CLI_EXIT_REFUSED;
    }
    return CLI_EXIT_OK;
}

static int print_result(const cli_args_t *a, const char *base, const json_t *result)
{
    buf_t out = BUF_INIT;
    int rc = -1;
    switch (a->cmd) {
    case CLI_CMD_DEPLOY: rc = cli_format_deploy(result, base, a->app, &out); break;
    case CLI_CMD_LIST: rc = cli_format_list(result, a->app, &out); break;
    case CLI_CMD_GET: rc = cli_format_get(result, base, a->app, a->code, &out); break;
    case CLI_CMD_DELETE: rc = cli_format_delete(result, a->name, a->app, &out); break;
    case CLI_CMD_USAGE: rc = cli_format_usage(result, &out); break;
    case CLI_CMD_ENV_LIST: rc = cli_format_env_list(result, a->app, &out); break;
    case CLI_CMD_ENV_SET:
    case CLI_CMD_ENV_DELETE:
        if (json_is_true(json_object_get(result, "ok"))) {
            buf_printf(&out, "%s ", a->cmd == CLI_CMD_ENV_SET ? "set" : "deleted");
            cli_put_safe(&out, a->name, 1);
            buf_puts(&out, a->cmd == CLI_CMD_ENV_SET ? " in app " : " from app ");
            cli_put_safe(&out, a->app, 1);
            buf_puts(&out, "; its classes were redeployed\n");
            rc = 0;
        }
        break;
    case CLI_CMD_APPS_LIST: rc = cli_format_apps_list(result, &out); break;
    case CLI_CMD_APPS_GET:
    case CLI_CMD_APPS_CREATE:
    case CLI_CMD_APPS_SET_AUTH:
        if (a->cmd == CLI_CMD_APPS_CREATE)
            buf_puts(&out, "created the app\n");
        rc = cli_format_app(result, base, &out);
        break;
    case CLI_CMD_APPS_ROTATE: {
        json_t *key = json_object_get(result, "service_key");
        if (json_is_string(key)) {
            buf_puts(&out, "service key: ");
            cli_put_safe(&out, json_string_value(key), 1);
            buf_puts(&out, "\n(shown this once: keep it now; the old key no longer works)\n");
            rc = 0;
        }
        break;
    }
    case CLI_CMD_APPS_DELETE:
        if (json_is_true(json_object_get(result, "deleted"))) {
            buf_puts(&out, "deleted the app ");
            cli_put_safe(&out, a->name, 1);
            buf_puts(&out, " with every class, instance, env var and all their storage\n");
            rc = 0;
        }
        break;
    default:
        break;
    }
    if (rc < 0) {
        fprintf(stderr,
                "dorm: the server at %s answered %s in a shape this dorm does not know; check "
                "that it runs the same version (pass --json to see the answer)\n",
                base, a->cmd_name);
        buf_deinit(&out);
        return CLI_EXIT_REFUSED;
    }
    fwrite(out.data, 1, out.len, stdout);
    buf_deinit(&out);
    return CLI_EXIT_OK;
}

static void say_unreachable(const char *base, const cli_http_reply_t *reply)
{
    if (reply->timed_out)
        fprintf(stderr,
                "dorm: the server at %s did not answer in time (%s); check that dorm serve "
                "is running there and is not stuck\n",
                base, buf_cstr(&reply->error));
    else
        fprintf(stderr,
                "dorm: cannot reach the server at %s (%s); start it with `make run` or "
                "`dorm serve`, or point --url or DORM_URL at it\n",
                base, buf_cstr(&reply->error));
}

/* A refusal: the server's message on stderr (and its JSON with --json). */
static int say_refused(const cli_args_t *a, const char *base, const cli_http_reply_t *reply)
{
    buf_t msg = BUF_INIT;
    cli_format_error(reply->status, (const char *)reply->body.data, reply->body.len, base, &msg);
    fprintf(stderr, "dorm: %s\n", buf_cstr(&msg));
    buf_deinit(&msg);
    /* A script asked for JSON: it gets the server's error object too. */
    if (a->json && reply->body.len) {
        json_t *err = json_loadb((const char *)reply->body.data, reply->body.len, 0, NULL);
        if (err)
            printf("%s\n", buf_cstr(&reply->body));
        json_decref(err);
    }
    return CLI_EXIT_REFUSED;
}

/* Sends the request and reports the answer. Returns the exit code. */
static int call(const cli_args_t *a, const char *base, const char *token, const json_t *req)
{
    char *body = json_dumps(req, JSON_COMPACT);
    if (!body) {
        fprintf(stderr, "dorm: out of memory encoding the request\n");
        return CLI_EXIT_REFUSED;
    }
    cli_http_reply_t reply;
    cli_http_reply_init(&reply);
    int rc;
    json_t *result = NULL;
    const char *path = is_apps(a->cmd) ? "/_api/manage_apps" : "/_api/manage_durable_objects";
    int sent = cli_http_post_to(base, path, token, body, strlen(body), &reply);
    memset(body, 0, strlen(body)); /* it may hold a secret */
    if (sent < 0) {
        say_unreachable(base, &reply);
        rc = CLI_EXIT_UNREACHABLE;
        goto done;
    }
    int ok = reply.status >= 200 && reply.status < 300;
    if (ok)
        result = json_loadb((const char *)reply.body.data, reply.body.len, 0, NULL);
    if (!ok || !json_is_object(result)) {
        rc = say_refused(a, base, &reply);
        goto done;
    }
    if (a->json) {
        fwrite(reply.body.data, 1, reply.body.len, stdout);
        if (reply.body.data[reply.body.len - 1] != '\n')
            putchar('\n');
        rc = CLI_EXIT_OK;
    } else {
        rc = print_result(a, base, result);
    }

done:
    json_decref(result);
    cli_http_reply_deinit(&reply);
    free(body);
    return rc;
}

/* ---- dorm logs: server-sent events to lines -------------------------------------- */

typedef struct sse {
    buf_t pending; /* bytes of an event not yet complete */
    int json;
    int ended;     /* an "end" event came */
} sse_t;

static void sse_event(sse_t *st, const char *block, size_t n)
{
    buf_t data = BUF_INIT;
    const char *event = "message";
    size_t elen = 7;
    for (const char *p = block, *end = block + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if ((size_t)(le - p) >= 6 && strncmp(p, "data: ", 6) == 0)
            buf_append(&data, p + 6, (size_t)(le - p - 6));
        else if ((size_t)(le - p) >= 7 && strncmp(p, "event: ", 7) == 0) {
            event = p + 7;
            elen = (size_t)(le - p - 7);
        }
        p = nl ? nl + 1 : end;
    }
    if (elen == 3 && strncmp(event, "end", 3) == 0) {
        json_t *j = json_loadb((const char *)data.data, data.len, 0, NULL);
        json_t *why = json_object_get(j, "reason");
        fprintf(stderr, "dorm: the log stream ended: %s\n",
                json_is_string(why) ? json_string_value(why) : "the server closed it");
        json_decref(j);
        st->ended = 1;
    } else if (data.len) {
        if (st->json) {
            fwrite(data.data, 1, data.len, stdout);
            putchar('\n');
        } else {
            json_t *j = json_loadb((const char *)data.data, data.len, 0, NULL);
            buf_t line = BUF_INIT;
            if (j && cli_format_log_line(j, &line) == 0)
                fwrite(line.data, 1, line.len, stdout);
            buf_deinit(&line);
            json_decref(j);
        }
        fflush(stdout);
    }
    buf_deinit(&data);
}

static int sse_data(const char *p, size_t n, void *arg)
{
    sse_t *st = arg;
    buf_append(&st->pending, p, n);
    for (;;) {
        const char *s = buf_cstr(&st->pending);
        const char *sep = strstr(s, "\n\n");
        if (!sep)
            break;
        size_t blen = (size_t)(sep - s);
        if (blen && s[0] != ':') /* ": keep-alive" comments are skipped */
            sse_event(st, s, blen);
        size_t used = blen + 2;
        memmove(st->pending.data, st->pending.data + used, st->pending.len - used + 1);
        st->pending.len -= used;
    }
    return 0;
}

static void put_query(buf_t *q, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    buf_printf(q, "%c%s=%s", q->len ? '&' : '?', key, esc ? esc : "");
    curl_free(esc);
}

static int run_logs(const cli_args_t *a, const char *base, const char *token)
{
    buf_t path = BUF_INIT;
    buf_t q = BUF_INIT;
    put_query(&q, "app_id", a->app);
    put_query(&q, "name", a->name);
    if (a->follow)
        put_query(&q, "follow", "1");
    buf_printf(&path, "/_api/logs%s", buf_cstr(&q));
    sse_t st = {BUF_INIT, a->json, 0};
    cli_http_reply_t reply;
    cli_http_reply_init(&reply);
    int rc = CLI_EXIT_OK;
    if (cli_http_get_stream(base, buf_cstr(&path), token, sse_data, &st, &reply) < 0) {
        say_unreachable(base, &reply);
        rc = CLI_EXIT_UNREACHABLE;
    } else if (reply.status < 200 || reply.status >= 300) {
        rc = say_refused(a, base, &reply);
    } else if (a->follow && !st.ended) {
        fprintf(stderr, "dorm: the server at %s closed the log stream\n", base);
    }
    buf_deinit(&st.pending);
    cli_http_reply_deinit(&reply);
    buf_deinit(&path);
    buf_deinit(&q);
    return rc;
}

/* ---- running ------------------------------------------------------------------------ */

static int run_client(const cli_args_t *a)
{
    cli_env_t env;
    buf_t base = BUF_INIT, token = BUF_INIT, err = BUF_INIT;
    json_t *req = json_object();
    int rc;

    cli_env_from_process(&env);
    if (cli_resolve_url(a, &env, &base, &err) < 0 || cli_resolve_token(a, &env, &token, &err) < 0) {
        fprintf(stderr, "dorm: %s\n", buf_cstr(&err));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (a->cmd == CLI_CMD_LOGS) {
        rc = run_logs(a, buf_cstr(&base), buf_cstr(&token));
    } else if (a->cmd >= CLI_CMD_STORAGE_LIST && a->cmd <= CLI_CMD_STORAGE_RESTORE) {
        rc = cli_storage_run(a, buf_cstr(&base), buf_cstr(&token));
    } else if ((rc = build_request(a, req)) == CLI_EXIT_OK &&
               (rc = check_delete_confirmed(a)) == CLI_EXIT_OK) {
        rc = call(a, buf_cstr(&base), buf_cstr(&token), req);
    }
    curl_global_cleanup();

done:
    json_decref(req);
    buf_deinit(&base);
    if (token.data)
        memset(token.data, 0, token.cap);
    buf_deinit(&token);
    buf_deinit(&err);
    return rc;
}

int cli_main(int argc, char **argv)
{
    if (argc < 1) {
        fputs(cli_usage(NULL), stderr);
        fputs("dorm: missing command; see dorm help\n", stderr);
        return CLI_EXIT_USAGE;
    }
    cli_args_t a;
    buf_t err = BUF_INIT;
    if (cli_parse_args(argc, argv, &a, &err) < 0) {
        fprintf(stderr, "%s\n", buf_cstr(&err));
        buf_deinit(&err);
        return CLI_EXIT_USAGE;
    }
    buf_deinit(&err);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error to report, not a death */

    int rc;
    if (a.help || a.cmd == CLI_CMD_HELP)
        rc = run_help(&a);
    else if (a.cmd == CLI_CMD_MCP)
        rc = cli_mcp_run(&a, stdin, stdout);
    else if (a.cmd == CLI_CMD_DEV)
        rc = cli_dev_run(&a);
    else
        rc = run_client(&a);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "dorm: cannot write the output: %s\n", strerror(errno));
        rc = CLI_EXIT_REFUSED;
    }
    return rc;
}
