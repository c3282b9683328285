/* Unit tests of the CLI's pure parts: argument parsing, where the URL and the
 * admin token come from, reading a deploy's file, the formatting of answers
 * and errors, and the exit codes cli_main returns without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"

/* ------------------------------------------------------------------ helpers */

#define ARGV(...) ((char *[]){__VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
/* Parses the words given; err holds the message after a failure. */
#define PARSE(a, err, ...) cli_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (err))

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    strcpy(tmpdir, "/tmp/test_cli.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------------ parsing */

static void test_parse_flags_anywhere(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "deploy", "--app", "shop", "chat-room", "--access=public",
                           "ChatRoom.ts", "--json"),
                     0);
    assert_int_equal(a.cmd, CLI_CMD_DEPLOY);
    assert_string_equal(a.name, "chat-room");
    assert_string_equal(a.file, "ChatRoom.ts");
    assert_string_equal(a.app, "shop");
    assert_string_equal(a.access, "public");
    assert_true(a.json);
    assert_false(a.help);
    buf_deinit(&err);
}

static void test_parse_equals_and_defaults(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "list"), 0);
    assert_string_equal(a.app, "default");
    assert_null(a.url);
    assert_null(a.token);
    assert_null(a.data);
    assert_false(a.json);

    assert_int_equal(PARSE(&a, &err, "get", "--url=http://h:1", "x", "--token=a=b", "--data=/d",
                           "--code", "--app=a1"),
                     0);
    assert_string_equal(a.url, "http://h:1");
    assert_string_equal(a.token, "a=b"); /* only the first '=' splits */
    assert_string_equal(a.data, "/d");
    assert_string_equal(a.app, "a1");
    assert_true(a.code);
    assert_string_equal(a.name, "x");

    assert_int_equal(PARSE(&a, &err, "delete", "-y", "x"), 0);
    assert_true(a.yes);
    assert_int_equal(PARSE(&a, &err, "delete", "x", "--yes"), 0);
    assert_true(a.yes);
    buf_deinit(&err);
}

static void test_parse_unknown_flag(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "list", "--bogus"), -1);
    assert_string_equal(buf_cstr(&err), "dorm list: unknown flag --bogus; see dorm list --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "x", "--bogus=3"), -1);
    assert_string_equal(buf_cstr(&err), "dorm get: unknown flag --bogus; see dorm get --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "x", "-q"), -1);
    assert_string_equal(buf_cstr(&err), "dorm get: unknown flag -q; see dorm get --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "x", "-app", "y"), -1);
    assert_contains(buf_cstr(&err), "long flags take two dashes");

    /* A flag of another command is named as such. */
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "list", "--code"), -1);
    assert_string_equal(buf_cstr(&err),
                        "dorm list: --code is not a flag of dorm list; see dorm list --help");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "x", "--access", "public"), -1);
    assert_contains(buf_cstr(&err), "--access is not a flag of dorm get");
    buf_deinit(&err);
}

static void test_parse_flag_values(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "get", "x", "--app"), -1);
    assert_string_equal(buf_cstr(&err), "dorm get: --app needs a value; see dorm get --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "x", "--app", "--json"), -1);
    assert_contains(buf_cstr(&err), "--app needs a value");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "x", "--app="), -1);
    assert_contains(buf_cstr(&err), "--app needs a value, not an empty one");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "list", "--json=yes"), -1);
    assert_string_equal(buf_cstr(&err), "dorm list: --json takes no value; see dorm list --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "deploy", "n", "f", "--access", "everyone"), -1);
    assert_string_equal(buf_cstr(&err),
                        "dorm deploy: --access must be public, authenticated or service_key, not "
                        "'everyone'; see dorm deploy --help");
    for (int i = 0; i < 3; i++) {
        const char *mode = (const char *[]){"public", "authenticated", "service_key"}[i];
        assert_int_equal(PARSE(&a, &err, "deploy", "n", "f", "--access", (char *)mode), 0);
        assert_string_equal(a.access, mode);
    }
    /* A value that starts with one dash is a value (tokens may). */
    assert_int_equal(PARSE(&a, &err, "list", "--token", "-abc"), 0);
    assert_string_equal(a.token, "-abc");
    buf_deinit(&err);
}

static void test_parse_positionals(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "deploy"), -1);
    assert_contains(buf_cstr(&err), "dorm deploy: missing NAME and FILE");
    assert_contains(buf_cstr(&err), "; see dorm deploy --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "deploy", "chat-room"), -1);
    assert_string_equal(buf_cstr(&err), "dorm deploy: missing FILE (the .ts or .js file holding "
                                        "the class); see dorm deploy --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "--json"), -1);
    assert_contains(buf_cstr(&err), "dorm get: missing NAME");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "delete"), -1);
    assert_contains(buf_cstr(&err), "dorm delete: missing NAME");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "list", "extra"), -1);
    assert_string_equal(buf_cstr(&err),
                        "dorm list: unexpected argument 'extra'; see dorm list --help");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", "a", "b"), -1);
    assert_contains(buf_cstr(&err), "unexpected argument 'b'");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "deploy", "a", "b", "c", "d"), -1);
    assert_contains(buf_cstr(&err), "unexpected argument 'c'");

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "get", ""), -1);
    assert_contains(buf_cstr(&err), "NAME is empty");

    /* `--` ends the flags; a lone `-` is an argument. */
    assert_int_equal(PARSE(&a, &err, "deploy", "--json", "--", "--odd", "-"), 0);
    assert_string_equal(a.name, "--odd");
    assert_string_equal(a.file, "-");
    assert_true(a.json);
    buf_deinit(&err);
}

static void test_parse_commands_and_help(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "frob"), -1);
    assert_string_equal(buf_cstr(&err), "dorm: unknown command 'frob'; see dorm help");

    /* --help wins over anything else that is wrong. */
    assert_int_equal(PARSE(&a, &err, "deploy", "--bogus", "--help"), 0);
    assert_true(a.help);
    assert_int_equal(a.cmd, CLI_CMD_DEPLOY);
    assert_int_equal(PARSE(&a, &err, "delete", "-h"), 0);
    assert_true(a.help);
    /* ...but not after `--`, where it is an argument. */
    assert_int_equal(PARSE(&a, &err, "get", "--", "--help"), 0);
    assert_false(a.help);
    assert_string_equal(a.name, "--help");

    assert_int_equal(PARSE(&a, &err, "help"), 0);
    assert_int_equal(a.cmd, CLI_CMD_HELP);
    assert_null(a.help_topic);
    assert_int_equal(PARSE(&a, &err, "help", "deploy"), 0);
    assert_string_equal(a.help_topic, "deploy");
    assert_int_equal(PARSE(&a, &err, "--help"), 0);
    assert_int_equal(a.cmd, CLI_CMD_HELP);
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "help", "--json"), -1);
    assert_contains(buf_cstr(&err), "; see dorm help");

    assert_true(cli_handles("deploy"));
    assert_true(cli_handles("list"));
    assert_true(cli_handles("get"));
    assert_true(cli_handles("delete"));
    assert_true(cli_handles("help"));
    assert_true(cli_handles("--help"));
    assert_true(cli_handles("-h"));
    assert_false(cli_handles("serve"));
    assert_false(cli_handles("frob"));
    assert_false(cli_handles(NULL));
    buf_deinit(&err);
}

static void test_usage_texts(void **state)
{
    const char *all = cli_usage(NULL);
    assert_contains(all, "dorm serve [--listen 127.0.0.1:8787] [--data ./.dorm] [--domain "
                         "localhost] [--threads N]");
    assert_contains(all, "[--log text|json] [--durability fsync|process] [--cpu-limit-ms N]");
    assert_contains(all, "[--idle-evict-ms N]");
    assert_contains(all, "dorm deploy NAME FILE");
    assert_contains(all, "dorm list");
    assert_contains(all, "dorm get NAME [--code]");
    assert_contains(all, "dorm delete NAME [--yes]");
    assert_contains(all, "--app APP");
    assert_contains(all, "--json");
    assert_contains(all, "DORM_URL");
    assert_contains(all, "DORM_TOKEN");
    const char *cmds[] = {"serve", "deploy", "list", "get", "delete", "help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *u = cli_usage(cmds[i]);
        assert_non_null(u);
        char want[32];
        snprintf(want, sizeof want, "usage: dorm %s", cmds[i]);
        assert_contains(u, want);
    }
    assert_contains(cli_usage("deploy"), "--access MODE");
    assert_contains(cli_usage("get"), "--code");
    assert_contains(cli_usage("delete"), "--yes");
    assert_contains(cli_usage("serve"), "--durability fsync|process");
    assert_null(cli_usage("frob"));
}

/* ------------------------------------------------------------------ resolving */

static void test_resolve_url(void **state)
{
    cli_args_t a;
    cli_env_t env = {0};
    buf_t out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "list"), 0);
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "http://127.0.0.1:8787");

    env.url = "https://dorm.example.com/";
    buf_reset(&out);
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "https://dorm.example.com");

    a.url = "http://localhost:9000//";
    buf_reset(&out);
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "http://localhost:9000");

    env.url = "";
    a.url = NULL;
    buf_reset(&out);
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "http://127.0.0.1:8787");

    a.url = "localhost:8787";
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), -1);
    assert_contains(buf_cstr(&err), "--url is 'localhost:8787', not a server URL");
    buf_reset(&err);
    a.url = NULL;
    env.url = "ftp://x";
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), -1);
    assert_contains(buf_cstr(&err), "DORM_URL is 'ftp://x'");
    buf_reset(&err);
    env.url = "http://";
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), -1);
    buf_reset(&err);
    env.url = "http://a b";
    assert_int_equal(cli_resolve_url(&a, &env, &out, &err), -1);
    assert_contains(buf_cstr(&err), "space or a control character");
    buf_deinit(&out);
    buf_deinit(&err);
}

static void test_resolve_token_order(void **state)
{
    char d1[128], d2[128], path[160];
    snprintf(d1, sizeof d1, "%s/one", tmpdir);
    snprintf(d2, sizeof d2, "%s/two", tmpdir);
    assert_int_equal(mkdir(d1, 0700), 0);
    assert_int_equal(mkdir(d2, 0700), 0);
    snprintf(path, sizeof path, "%s/admin.token", d1);
    write_file(path, "  tok-one \n second line is ignored\n");
    snprintf(path, sizeof path, "%s/admin.token", d2);
    write_file(path, "tok-two");

    cli_args_t a;
    cli_env_t env = {.token = "env-token", .admin_token = "admin-env", .data = d2};
    buf_t out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "list", "--token", "flag-token", "--data", d1), 0);

    /* --token, then DORM_TOKEN, then DORM_ADMIN_TOKEN, then the file. */
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "flag-token");
    a.token = NULL;
    buf_reset(&out);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "env-token");
    env.token = "";
    buf_reset(&out);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "admin-env");
    env.admin_token = NULL;

    /* The file: --data, then DORM_DATA; its first line, trimmed. */
    buf_reset(&out);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "tok-one");
    a.data = NULL;
    buf_reset(&out);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "tok-two");

    /* Then ./.dorm of the working folder. */
    char dot[160], cwd[512];
    snprintf(dot, sizeof dot, "%s/.dorm", tmpdir);
    assert_int_equal(mkdir(dot, 0700), 0);
    snprintf(path, sizeof path, "%s/.dorm/admin.token", tmpdir);
    write_file(path, "tok-dot\r\n");
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    env.data = NULL;
    buf_reset(&out);
    int rc = cli_resolve_token(&a, &env, &out, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_string_equal(buf_cstr(&out), "tok-dot");
    buf_deinit(&out);
    buf_deinit(&err);
}

static void test_resolve_token_errors(void **state)
{
    cli_args_t a;
    cli_env_t env = {0};
    buf_t out = BUF_INIT, err = BUF_INIT;
    char dir[128], path[160];
    snprintf(dir, sizeof dir, "%s/none", tmpdir);
    assert_int_equal(PARSE(&a, &err, "list", "--data", dir), 0);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), -1);
    assert_contains(buf_cstr(&err), "no admin token: pass --token, set DORM_TOKEN, or run from the "
                                    "folder holding .dorm/admin.token (");
    assert_contains(buf_cstr(&err), "/none/admin.token");

    snprintf(dir, sizeof dir, "%s/empty", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/admin.token", dir);
    write_file(path, "\n");
    a.data = dir;
    buf_reset(&err);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), -1);
    assert_contains(buf_cstr(&err), "admin.token is empty");

    a.token = "has space";
    buf_reset(&err);
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), -1);
    assert_contains(buf_cstr(&err), "the admin token from --token holds a space");
    a.token = "line\nbreak";
    assert_int_equal(cli_resolve_token(&a, &env, &out, &err), -1);
    assert_int_equal(out.len, 0);
    buf_deinit(&out);
    buf_deinit(&err);
}

/* ------------------------------------------------------------------ the code */

static void test_read_code(void **state)
{
    char path[160];
    buf_t out = BUF_INIT, err = BUF_INIT;
    snprintf(path, sizeof path, "%s/Counter.ts", tmpdir);
    write_file(path, "export class Counter {}\n");
    assert_int_equal(cli_read_code(path, CLI_MAX_CODE_BYTES, &out, &err), CLI_EXIT_OK);
    assert_string_equal(buf_cstr(&out), "export class Counter {}\n");

    /* Exactly the limit is allowed; one byte more is refused with the server's words. */
    snprintf(path, sizeof path, "%s/big.ts", tmpdir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)CLI_MAX_CODE_BYTES), 0);
    buf_reset(&out);
    assert_int_equal(cli_read_code(path, CLI_MAX_CODE_BYTES, &out, &err), CLI_EXIT_OK);
    assert_int_equal(out.len, CLI_MAX_CODE_BYTES);
    assert_int_equal(ftruncate(fd, (off_t)CLI_MAX_CODE_BYTES + 1), 0);
    close(fd);
    buf_reset(&out);
    assert_int_equal(cli_read_code(path, CLI_MAX_CODE_BYTES, &out, &err), CLI_EXIT_REFUSED);
    char want[256];
    snprintf(want, sizeof want, "%s is 5242881 bytes; the limit is 5 MB (5,242,880 bytes)", path);
    assert_string_equal(buf_cstr(&err), want);
    assert_int_equal(out.len, 0);

    /* A pipe has no size: it is read up to the limit and refused past it. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "0123456789ab", 12), 12);
    close(p[1]);
    char pipe_path[64];
    snprintf(pipe_path, sizeof pipe_path, "/dev/fd/%d", p[0]);
    buf_reset(&err);
    assert_int_equal(cli_read_code(pipe_path, 10, &out, &err), CLI_EXIT_REFUSED);
    assert_contains(buf_cstr(&err), "is more than 10 bytes; the limit is 0 MB (10 bytes)");
    close(p[0]);

    buf_reset(&err);
    snprintf(path, sizeof path, "%s/missing.ts", tmpdir);
    assert_int_equal(cli_read_code(path, CLI_MAX_CODE_BYTES, &out, &err), CLI_EXIT_USAGE);
    assert_contains(buf_cstr(&err), "cannot read ");
    assert_contains(buf_cstr(&err), "missing.ts: No such file or directory");

    buf_reset(&err);
    assert_int_equal(cli_read_code(tmpdir, CLI_MAX_CODE_BYTES, &out, &err), CLI_EXIT_USAGE);
    assert_contains(buf_cstr(&err), "is a folder; pass the .ts or .js file");
    buf_deinit(&out);
    buf_deinit(&err);
}

/* ------------------------------------------------------------------ formatting */

static void test_served_url(void **state)
{
    static const struct {
        const char *base, *app, *want;
    } cases[] = {
        {"http://127.0.0.1:8787", "default", "http://127.0.0.1:8787/_do/chat-room/<id>"},
        {"http://127.0.0.1:8787", "shop", "http://shop.localhost:8787/_do/chat-room/<id>"},
        {"http://localhost:8787", "shop", "http://shop.localhost:8787/_do/chat-room/<id>"},
        {"http://[::1]:8787", "shop", "http://shop.localhost:8787/_do/chat-room/<id>"},
        {"https://dorm.example.com", "shop", "https://shop.dorm.example.com/_do/chat-room/<id>"},
        {"https://dorm.example.com:443/base", "shop",
         "https://shop.dorm.example.com:443/base/_do/chat-room/<id>"},
        {"http://10.0.0.5:8787", "shop", "http://shop.<domain>:8787/_do/chat-room/<id>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t out = BUF_INIT;
        cli_served_url(cases[i].base, cases[i].app, "chat-room", &out);
        assert_string_equal(buf_cstr(&out), cases[i].want);
        buf_deinit(&out);
    }
}

static void test_format_deploy(void **state)
{
    json_t *r = parse_json("{\"id\":\"c0ffee\",\"name\":\"chat-room\",\"class_name\":\"ChatRoom\","
                           "\"status\":\"READY\",\"access_mode\":\"public\","
                           "\"last_deployed_at\":\"2026-01-02T03:04:05.000Z\"}");
    buf_t out = BUF_INIT;
    assert_int_equal(cli_format_deploy(r, "http://127.0.0.1:8787", "default", &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "deployed chat-room (ChatRoom) to app default, access public, at "
                        "2026-01-02T03:04:05.000Z\n"
                        "served at http://127.0.0.1:8787/_do/chat-room/<id> (any <id> you choose "
                        "is one instance)\n");
    json_decref(r);

    r = parse_json("{\"error\":{}}");
    buf_reset(&out);
    assert_int_equal(cli_format_deploy(r, "http://x", "default", &out), -1);
    json_decref(r);
    buf_deinit(&out);
}

static void test_format_list(void **state)
{
    json_t *r = parse_json(
        "{\"durable_objects\":["
        "{\"id\":\"1\",\"name\":\"chat-room\",\"class_name\":\"ChatRoom\",\"status\":\"READY\","
        "\"access_mode\":\"public\",\"last_deployed_at\":\"2026-01-02T03:04:05Z\"},"
        "{\"id\":\"2\",\"name\":\"counter\",\"class_name\":\"Counter\",\"status\":\"READY\","
        "\"access_mode\":\"authenticated\",\"last_deployed_at\":\"2026-01-03T00:00:00Z\"}]}");
    buf_t out = BUF_INIT;
    assert_int_equal(cli_format_list(r, "default", &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "NAME       CLASS     ACCESS         STATUS  DEPLOYED\n"
                        "chat-room  ChatRoom  public         READY   2026-01-02T03:04:05Z\n"
                        "counter    Counter   authenticated  READY   2026-01-03T00:00:00Z\n");
    json_decref(r);

    /* Nothing the server sends can break the table or drive the terminal. */
    r = parse_json("{\"durable_objects\":[{\"name\":\"a\\nb\\u001b[31m\",\"class_name\":1}]}");
    buf_reset(&out);
    assert_int_equal(cli_format_list(r, "default", &out), 0);
    assert_string_equal(buf_cstr(&out), "NAME      CLASS  ACCESS  STATUS  DEPLOYED\n"
                                        "a b?[31m  ?      ?       ?       ?\n");
    json_decref(r);

    r = parse_json("{\"durable_objects\":[]}");
    buf_reset(&out);
    assert_int_equal(cli_format_list(r, "shop", &out), 0);
    assert_string_equal(
        buf_cstr(&out),
        "no classes deployed in app shop; deploy one with: dorm deploy NAME FILE\n");
    json_decref(r);

    r = parse_json("{\"classes\":[]}");
    assert_int_equal(cli_format_list(r, "default", &out), -1);
    json_decref(r);
    buf_deinit(&out);
}

static const char get_json[] =
    "{\"id\":\"c0ffee\",\"name\":\"counter\",\"class_name\":\"Counter\",\"status\":\"READY\","
    "\"access_mode\":\"service_key\",\"last_deployed_at\":\"2026-01-02T03:04:05Z\","
    "\"code\":\"export class Counter {}\",\"error_message\":%s}";

static void test_format_get(void **state)
{
    char text[512];
    snprintf(text, sizeof text, get_json, "null");
    json_t *r = parse_json(text);
    buf_t out = BUF_INIT;
    assert_int_equal(cli_format_get(r, "http://127.0.0.1:8787", "default", 0, &out), 0);
    assert_string_equal(buf_cstr(&out), "name:         counter\n"
                                        "class:        Counter\n"
                                        "id:           c0ffee\n"
                                        "app:          default\n"
                                        "status:       READY\n"
                                        "access:       service_key\n"
                                        "deployed at:  2026-01-02T03:04:05Z\n"
                                        "served at:    http://127.0.0.1:8787/_do/counter/<id>\n"
                                        "code:         23 bytes (add --code to print it)\n");

    buf_reset(&out);
    assert_int_equal(cli_format_get(r, "http://127.0.0.1:8787", "default", 1, &out), 0);
    assert_contains(buf_cstr(&out), "code:         23 bytes, below\n\nexport class Counter {}\n");
    json_decref(r);

    /* The last failed deploy's error shows, its lines kept and indented. */
    snprintf(text, sizeof text, get_json, "\"counter.ts:3:7: SyntaxError\\n  at line 3\"");
    r = parse_json(text);
    buf_reset(&out);
    assert_int_equal(cli_format_get(r, "http://h", "default", 0, &out), 0);
    assert_contains(buf_cstr(&out),
                    "last error:   counter.ts:3:7: SyntaxError\n                at line 3\n");
    assert_null(strstr(buf_cstr(&out), "export class"));
    json_decref(r);

    r = parse_json("[]");
    assert_int_equal(cli_format_get(r, "http://h", "default", 0, &out), -1);
    json_decref(r);
    buf_deinit(&out);
}

static void test_format_delete(void **state)
{
    json_t *r = parse_json("{\"deleted\":true}");
    buf_t out = BUF_INIT;
    assert_int_equal(cli_format_delete(r, "counter", "shop", &out), 0);
    assert_string_equal(
        buf_cstr(&out),
        "deleted counter from app shop, with every instance and all their storage\n");
    json_decref(r);
    r = parse_json("{\"deleted\":false}");
    assert_int_equal(cli_format_delete(r, "counter", "shop", &out), -1);
    json_decref(r);
    buf_deinit(&out);
}

static void check_error(long status, const char *body, const char *want)
{
    buf_t out = BUF_INIT;
    cli_format_error(status, body, body ? strlen(body) : 0, "http://127.0.0.1:8787", &out);
    assert_string_equal(buf_cstr(&out), want);
    buf_deinit(&out);
}

static void test_format_error(void **state)
{
    check_error(404,
                "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no class chat-room in app "
                "default; dorm list shows the deployed ones\"}}",
                "no class chat-room in app default; dorm list shows the deployed ones (NOT_FOUND)");
    check_error(400,
                "{\"error\":{\"code\":\"COMPILE_ERROR\",\"message\":\"chat-room.ts:3:7: "
                "unexpected token\"}}",
                "chat-room.ts:3:7: unexpected token (COMPILE_ERROR)");
    check_error(401, "{\"error\":{\"message\":\"bad token\"}}", "bad token");
    check_error(500, "{\"error\":\"plain\"}", "plain");
    check_error(502, "<html>\n  <body>Bad   Gateway</body>\n</html>",
                "the server at http://127.0.0.1:8787 answered HTTP 502 with no dorm error "
                "(<html> <body>Bad Gateway</body> </html>); check that --url or DORM_URL points "
                "at dorm serve");
    check_error(500, NULL,
                "the server at http://127.0.0.1:8787 answered HTTP 500 with no dorm error and an "
                "empty body; check that --url or DORM_URL points at dorm serve");
    check_error(200, "ok",
                "the server at http://127.0.0.1:8787 answered HTTP 200 but not with dorm's JSON "
                "(ok); check that --url or DORM_URL points at dorm serve");
    check_error(301, "",
                "the server at http://127.0.0.1:8787 answered with a redirect (HTTP 301), which "
                "dorm does not follow; point --url or DORM_URL at the dorm server itself");

    /* A long body is cut. */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_t out = BUF_INIT;
    cli_format_error(503, big, strlen(big), "http://h", &out);
    assert_contains(buf_cstr(&out), "xxx...)");
    assert_true(out.len < 300);
    buf_deinit(&out);
}

/* ------------------------------------------------------------------ cli_main */

/* Runs cli_main with stdin from /dev/null and stdout/stderr discarded. */
static int run_quiet(int argc, char **argv)
{
    int saved[3], null_fd = open("/dev/null", O_RDWR);
    assert_true(null_fd >= 0);
    fflush(stdout);
    fflush(stderr);
    for (int fd = 0; fd < 3; fd++) {
        saved[fd] = dup(fd);
        dup2(null_fd, fd);
    }
    int rc = cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    for (int fd = 0; fd < 3; fd++) {
        dup2(saved[fd], fd);
        close(saved[fd]);
    }
    close(null_fd);
    return rc;
}

#define RUN(...) run_quiet(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

/* A local port where nothing listens: bound, never listening. */
static int closed_port(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

static void test_main_exit_codes(void **state)
{
    unsetenv("DORM_TOKEN");
    unsetenv("DORM_ADMIN_TOKEN");
    unsetenv("DORM_URL");
    unsetenv("DORM_DATA");

    assert_int_equal(run_quiet(0, NULL), CLI_EXIT_USAGE);
    assert_int_equal(RUN("help"), CLI_EXIT_OK);
    assert_int_equal(RUN("--help"), CLI_EXIT_OK);
    assert_int_equal(RUN("help", "serve"), CLI_EXIT_OK);
    assert_int_equal(RUN("help", "frob"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("deploy", "--help"), CLI_EXIT_OK);
    assert_int_equal(RUN("frob"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("list", "--bogus"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("get"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("list", "--url", "nope", "--token", "t"), CLI_EXIT_USAGE);

    /* No token anywhere. */
    char none[128];
    snprintf(none, sizeof none, "%s/no-such-dir", tmpdir);
    assert_int_equal(RUN("list", "--data", none), CLI_EXIT_USAGE);

    /* Deleting with stdin not a terminal and no --yes is refused before any call. */
    assert_int_equal(RUN("delete", "x", "--token", "t", "--url", "http://127.0.0.1:1"),
                     CLI_EXIT_USAGE);

    /* Local refusals of a deploy's file. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.ts", tmpdir);
    assert_int_equal(RUN("deploy", "x", missing, "--token", "t"), CLI_EXIT_USAGE);
    char bad_utf8[160];
    snprintf(bad_utf8, sizeof bad_utf8, "%s/latin1.ts", tmpdir);
    write_file(bad_utf8, "// caf\xe9\n");
    assert_int_equal(RUN("deploy", "x", bad_utf8, "--token", "t"), CLI_EXIT_USAGE);

    /* Nobody listening: exit 3. */
    int fd;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port(&fd));
    assert_int_equal(RUN("list", "--url", url, "--token", "t"), CLI_EXIT_UNREACHABLE);
    assert_int_equal(RUN("delete", "x", "--yes", "--url", url, "--token", "t"),
                     CLI_EXIT_UNREACHABLE);
    close(fd);
}

static void test_confirm(void **state)
{
    char path[160];
    snprintf(path, sizeof path, "%s/answers", tmpdir);
    FILE *out = fopen("/dev/null", "w");
    assert_non_null(out);

    write_file(path, "counter\n");
    FILE *in = fopen(path, "r");
    assert_true(cli_confirm("counter", "default", in, out));
    fclose(in);

    write_file(path, "counter\r\n");
    in = fopen(path, "r");
    assert_true(cli_confirm("counter", "default", in, out));
    fclose(in);

    write_file(path, "count\n");
    in = fopen(path, "r");
    assert_false(cli_confirm("counter", "default", in, out));
    fclose(in);

    write_file(path, "");
    in = fopen(path, "r");
    assert_false(cli_confirm("counter", "default", in, out));
    fclose(in);
    fclose(out);
}

/* ------------------------------------------------------------------ new commands */

static void test_parse_env_and_apps(void **state)
{
    cli_args_t a;
    buf_t err = BUF_INIT;
    assert_int_equal(PARSE(&a, &err, "env", "--app", "shop", "set", "API_KEY", "v"), 0);
    assert_int_equal(a.cmd, CLI_CMD_ENV_SET);
    assert_string_equal(a.cmd_name, "env set");
    assert_string_equal(a.app, "shop");
    assert_string_equal(a.name, "API_KEY");
    assert_string_equal(a.value, "v");
    assert_int_equal(PARSE(&a, &err, "env", "set", "API_KEY"), 0);
    assert_null(a.value); /* from stdin */
    assert_int_equal(PARSE(&a, &err, "env", "list"), 0);
    assert_int_equal(a.cmd, CLI_CMD_ENV_LIST);
    assert_int_equal(PARSE(&a, &err, "env", "delete", "K"), 0);
    assert_int_equal(a.cmd, CLI_CMD_ENV_DELETE);

    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "env"), -1);
    assert_contains(buf_cstr(&err), "missing the verb");
    assert_contains(buf_cstr(&err), "see dorm env --help");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "env", "show"), -1);
    assert_string_equal(buf_cstr(&err),
                        "dorm env: unknown verb 'show': use list, set or delete; see dorm env --help");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "env", "set"), -1);
    assert_contains(buf_cstr(&err), "dorm env set: missing KEY");
    assert_contains(buf_cstr(&err), "see dorm env --help");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "env", "list", "extra"), -1);
    assert_contains(buf_cstr(&err), "unexpected argument 'extra'");

    assert_int_equal(PARSE(&a, &err, "apps", "create", "shop", "--subdomain=store"), 0);
    assert_int_equal(a.cmd, CLI_CMD_APPS_CREATE);
    assert_string_equal(a.name, "shop");
    assert_string_equal(a.subdomain, "store");
    assert_int_equal(PARSE(&a, &err, "apps", "set-auth", "shop", "--jwks", "k.json", "--audience",
                           "a"),
                     0);
    assert_string_equal(a.jwks, "k.json");
    assert_string_equal(a.audience, "a");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "apps", "set-auth", "shop", "--jwks", "k", "--clear"), -1);
    assert_contains(buf_cstr(&err), "give one of");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "apps", "set-auth", "shop", "--clear", "--issuer", "i"), -1);
    assert_contains(buf_cstr(&err), "--clear takes no --issuer");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "apps", "rotate-key"), -1);
    assert_contains(buf_cstr(&err), "missing APP");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "apps", "create", "x", "--jwks", "f"), -1);
    assert_contains(buf_cstr(&err), "--jwks is not a flag of dorm apps create");
    assert_int_equal(PARSE(&a, &err, "apps", "delete", "shop", "-y"), 0);
    assert_true(a.yes);

    assert_int_equal(PARSE(&a, &err, "logs", "chat-room", "-f"), 0);
    assert_int_equal(a.cmd, CLI_CMD_LOGS);
    assert_true(a.follow);
    assert_int_equal(PARSE(&a, &err, "usage"), 0);
    assert_null(a.name);
    assert_int_equal(PARSE(&a, &err, "usage", "counter", "--json"), 0);
    assert_string_equal(a.name, "counter");
    assert_int_equal(PARSE(&a, &err, "dev", "A.ts", "b=B.js", "--listen", "127.0.0.1:9", "--access",
                           "authenticated"),
                     0);
    assert_int_equal(a.nfiles, 2);
    assert_string_equal(a.files[1], "b=B.js");
    assert_string_equal(a.listen, "127.0.0.1:9");
    buf_reset(&err);
    assert_int_equal(PARSE(&a, &err, "dev", "A.ts", "--json"), -1);
    assert_contains(buf_cstr(&err), "--json is not a flag of dorm dev");
    assert_int_equal(PARSE(&a, &err, "mcp", "--url", "http://h:1"), 0);
    assert_int_equal(a.cmd, CLI_CMD_MCP);
    /* --help of a verb describes its group */
    assert_int_equal(PARSE(&a, &err, "apps", "create", "--help"), 0);
    assert_true(a.help);
    assert_string_equal(a.topic, "apps");
    buf_deinit(&err);
}

static void test_dev_names(void **state)
{
    struct {
        const char *arg, *name, *path;
    } cases[] = {
        {"ChatRoom.ts", "chat-room", "ChatRoom.ts"},
        {"examples/chat-room.ts", "chat-room", "examples/chat-room.ts"},
        {"src/HTTPServer.js", "http-server", "src/HTTPServer.js"},
        {"rate_limiter.ts", "rate-limiter", "rate_limiter.ts"},
        {"counter=impl/v2.ts", "counter", "impl/v2.ts"},
        {"dir=x/a.ts", "dir", "x/a.ts"},
        {"a/b=c.ts", "b=c", "a/b=c.ts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t name = BUF_INIT;
        const char *path;
        cli_dev_name(cases[i].arg, &name, &path);
        assert_string_equal(buf_cstr(&name), cases[i].name);
        assert_string_equal(path, cases[i].path);
        buf_deinit(&name);
    }
}

static void test_format_new(void **state)
{
    buf_t out = BUF_INIT;
    json_t *r = parse_json("{\"name\":\"counter\",\"app_id\":\"default\",\"do_requests\":12,"
                           "\"do_cpu_ms\":1.5,\"instances_live\":2,\"websockets_open\":0,"
                           "\"storage_bytes\":4096,\"alarms_pending\":0,\"errors\":1}");
    assert_int_equal(cli_format_usage(r, &out), 0);
    assert_contains(buf_cstr(&out), "requests:         12\n");
    assert_contains(buf_cstr(&out), "cpu ms:           1.500\n");
    json_decref(r);
    buf_reset(&out);
    r = parse_json("{\"app_id\":\"default\",\"do_requests\":3,\"do_cpu_ms\":0.25,"
                   "\"instances_live\":1,\"websockets_open\":0,\"storage_bytes\":10,"
                   "\"alarms_pending\":0,\"errors\":0,\"durable_objects\":[{\"name\":\"a\","
                   "\"do_requests\":3,\"do_cpu_ms\":0.25,\"instances_live\":1,\"websockets_open\":0,"
                   "\"storage_bytes\":10,\"alarms_pending\":0,\"errors\":0}]}");
    assert_int_equal(cli_format_usage(r, &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "NAME   REQUESTS  CPU_MS  LIVE  WEBSOCKETS  STORAGE  ALARMS  ERRORS\n"
                        "a      3         0.250   1     0           10       0       0\n"
                        "TOTAL  3         0.250   1     0           10       0       0\n");
    json_decref(r);
    buf_reset(&out);
    r = parse_json("{\"name\":\"x\"}");
    assert_int_equal(cli_format_usage(r, &out), -1);
    json_decref(r);

    buf_reset(&out);
    r = parse_json("{\"keys\":[\"A\",\"B\\u001b[31m\"]}");
    assert_int_equal(cli_format_env_list(r, "default", &out), 0);
    assert_string_equal(buf_cstr(&out), "A\nB?[31m\n"); /* nothing drives the terminal */
    json_decref(r);

    buf_reset(&out);
    r = parse_json("{\"apps\":[{\"app_id\":\"default\",\"subdomain\":\"default\",\"durable_objects\":2,"
                   "\"env_vars\":1,\"auth\":null,\"created_at\":\"2026-01-01T00:00:00.000Z\"},"
                   "{\"app_id\":\"shop\",\"subdomain\":\"store\",\"durable_objects\":0,\"env_vars\":0,"
                   "\"auth\":{\"algorithms\":[\"ES256\",\"RS256\"],\"keys\":2,\"source\":\"jwks\"},"
                   "\"created_at\":\"2026-01-02T00:00:00.000Z\"}]}");
    assert_int_equal(cli_format_apps_list(r, &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "APP      SUBDOMAIN  CLASSES  ENV  JWT          CREATED\n"
                        "default  default    2        1    -            2026-01-01T00:00:00.000Z\n"
                        "shop     store      0        0    ES256/RS256  2026-01-02T00:00:00.000Z\n");
    buf_reset(&out);
    assert_int_equal(cli_format_app(json_array_get(json_object_get(r, "apps"), 1),
                                    "http://127.0.0.1:8787", &out),
                     0);
    assert_contains(buf_cstr(&out), "jwt:          ES256/RS256 (2 keys from jwks)\n");
    assert_contains(buf_cstr(&out), "served at:    http://store.localhost:8787/_do/NAME/<id>\n");
    json_decref(r);

    buf_reset(&out);
    r = parse_json("{\"seq\":3,\"time\":\"2026-01-01T00:00:00.000Z\",\"level\":\"warn\","
                   "\"instance\":\"alice\",\"message\":\"two\\nlines\"}");
    assert_int_equal(cli_format_log_line(r, &out), 0);
    assert_string_equal(buf_cstr(&out), "2026-01-01T00:00:00.000Z warn  alice: two lines\n");
    json_decref(r);
    buf_deinit(&out);
}

static json_t *mcp(cli_mcp_state_t *st, const char *line)
{
    buf_t out = BUF_INIT;
    cli_mcp_handle(st, line, strlen(line), &out);
    json_t *j = out.len ? parse_json(buf_cstr(&out)) : NULL;
    if (out.len)
        assert_int_equal(out.data[out.len - 1], '\n');
    buf_deinit(&out);
    return j;
}

static void test_mcp_messages(void **state)
{
    cli_mcp_state_t st;
    memset(&st, 0, sizeof st);
    st.base = "http://127.0.0.1:1";
    st.token_error = "no admin token: pass --token";
    json_t *r = mcp(&st, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"initialize\",\"params\":"
                         "{\"protocolVersion\":\"2025-03-26\"}}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
                                                          "protocolVersion")),
                        "2025-03-26");
    json_decref(r);
    assert_null(mcp(&st, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
    assert_true(st.initialized);
    assert_null(mcp(&st, "   \r\n"));
    r = mcp(&st, "{\"jsonrpc\":\"2.0\",\"id\":\"t\",\"method\":\"tools/list\"}");
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    assert_int_equal(json_array_size(tools), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                        "manage_durable_objects");
    json_decref(r);
    /* without a token, a call is a tool error that says so (no network) */
    r = mcp(&st, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"manage_apps\",\"arguments\":{\"action\":\"list\"}}}");
    json_t *res = json_object_get(r, "result");
    assert_true(json_is_true(json_object_get(res, "isError")));
    assert_contains(json_string_value(json_object_get(
                        json_array_get(json_object_get(res, "content"), 0), "text")),
                    "no admin token");
    json_decref(r);
    struct {
        const char *line;
        int code;
    } errors[] = {
        {"nope", -32700},
        {"{\"id\":1,\"method\":\"ping\"}", -32600},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", -32600},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", -32600},
        {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", -32600},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}", -32601},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", -32602},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}", -32602},
        {"[]", -32600},
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        r = mcp(&st, errors[i].line);
        json_t *e = json_is_array(r) ? json_array_get(r, 0) : r;
        if (json_integer_value(json_object_get(json_object_get(e, "error"), "code")) != errors[i].code)
            fail_msg("%s: wanted %d", errors[i].line, errors[i].code);
        json_decref(r);
    }
    /* a batch answers its requests, in order, and not its notifications */
    r = mcp(&st, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\","
                 "\"method\":\"notifications/x\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]");
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 1), "id")), 2);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_flags_anywhere),
        cmocka_unit_test(test_parse_equals_and_defaults),
        cmocka_unit_test(test_parse_unknown_flag),
        cmocka_unit_test(test_parse_flag_values),
        cmocka_unit_test(test_parse_positionals),
        cmocka_unit_test(test_parse_commands_and_help),
        cmocka_unit_test(test_usage_texts),
        cmocka_unit_test(test_resolve_url),
        cmocka_unit_test_setup_teardown(test_resolve_token_order, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_resolve_token_errors, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_read_code, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_served_url),
        cmocka_unit_test(test_format_deploy),
        cmocka_unit_test(test_format_list),
        cmocka_unit_test(test_format_get),
        cmocka_unit_test(test_format_delete),
        cmocka_unit_test(test_format_error),
        cmocka_unit_test_setup_teardown(test_main_exit_codes, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_confirm, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_parse_env_and_apps),
        cmocka_unit_test(test_dev_names),
        cmocka_unit_test(test_format_new),
        cmocka_unit_test(test_mcp_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
