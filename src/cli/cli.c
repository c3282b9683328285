/* The CLI's entry point: runs one client subcommand from parsed arguments to
 * exit code, calling the management API over HTTP (DESIGN.md 1.5). It is a
 * client: it must not include quickjs.h, sqlite3.h or any server module, and
 * touches no server file but DATA/admin.token. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli_int.h"

int cli_confirm(const char *name, const char *app, FILE *in, FILE *out)
{
    fprintf(out,
            "This deletes %s from app %s, with every instance and all their storage; it cannot "
            "be undone.\nType the name to confirm: ",
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
    const char *topic = a->help ? a->cmd_name : a->help_topic;
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

/* Builds the request body of a command. Returns 0, or an exit code. */
static int build_request(const cli_args_t *a, json_t *req)
{
    static const char *actions[] = {[CLI_CMD_DEPLOY] = "deploy",
                                    [CLI_CMD_LIST] = "list",
                                    [CLI_CMD_GET] = "get",
                                    [CLI_CMD_DELETE] = "delete"};
    if (put_arg(req, "app_id", a->app, "--app") < 0 ||
        put_arg(req, "action", actions[a->cmd], "the action") < 0)
        return CLI_EXIT_USAGE;
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
    if (a->cmd != CLI_CMD_DELETE || a->yes)
        return CLI_EXIT_OK;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "dorm delete: refusing to delete %s from app %s without a confirmation, and "
                "stdin is not a terminal to ask on; pass --yes to delete it\n",
                a->name, a->app);
        return CLI_EXIT_USAGE;
    }
    if (!cli_confirm(a->name, a->app, stdin, stderr)) {
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
    case CLI_CMD_DEPLOY:
        rc = cli_format_deploy(result, base, a->app, &out);
        break;
    case CLI_CMD_LIST:
        rc = cli_format_list(result, a->app, &out);
        break;
    case CLI_CMD_GET:
        rc = cli_format_get(result, base, a->app, a->code, &out);
        break;
    case CLI_CMD_DELETE:
        rc = cli_format_delete(result, a->name, a->app, &out);
        break;
    case CLI_CMD_HELP:
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
    if (cli_http_post(base, token, body, strlen(body), &reply) < 0) {
        if (reply.timed_out)
            fprintf(stderr,
                    "dorm: the server at %s did not answer in time (%s); check that dorm serve "
                    "is running there and is not stuck\n",
                    base, buf_cstr(&reply.error));
        else
            fprintf(stderr,
                    "dorm: cannot reach the server at %s (%s); start it with `make run` or "
                    "`dorm serve`, or point --url or DORM_URL at it\n",
                    base, buf_cstr(&reply.error));
        rc = CLI_EXIT_UNREACHABLE;
        goto done;
    }

    int ok = reply.status >= 200 && reply.status < 300;
    if (ok)
        result = json_loadb((const char *)reply.body.data, reply.body.len, 0, NULL);
    if (!ok || !json_is_object(result)) {
        buf_t msg = BUF_INIT;
        cli_format_error(reply.status, (const char *)reply.body.data, reply.body.len, base, &msg);
        fprintf(stderr, "dorm: %s\n", buf_cstr(&msg));
        buf_deinit(&msg);
        /* A script asked for JSON: it gets the server's error object too. */
        if (a->json && reply.body.len) {
            json_t *err = json_loadb((const char *)reply.body.data, reply.body.len, 0, NULL);
            if (err)
                printf("%s\n", buf_cstr(&reply.body));
            json_decref(err);
        }
        rc = CLI_EXIT_REFUSED;
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
    if ((rc = build_request(a, req)) != CLI_EXIT_OK)
        goto done;
    if ((rc = check_delete_confirmed(a)) != CLI_EXIT_OK)
        goto done;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = call(a, buf_cstr(&base), buf_cstr(&token), req);
    curl_global_cleanup();

done:
    json_decref(req);
    buf_deinit(&base);
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

    int rc = a.help || a.cmd == CLI_CMD_HELP ? run_help(&a) : run_client(&a);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "dorm: cannot write the output: %s\n", strerror(errno));
        rc = CLI_EXIT_REFUSED;
    }
    return rc;
}
