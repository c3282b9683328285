/* The CLI's pure front half: argument parsing, and where the server URL, the
 * admin token, a deploy's code and a value from stdin come from. It reads files
 * and the environment but never the network, and includes nothing of the
 * server (no quickjs.h, no sqlite3.h, no src/ module but lib/buf and lib/mem). */
#include "cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------ parsing */

#define BIT(c) (1u << (c))
#define DO_CMDS                                                                                    \
    (BIT(CLI_CMD_DEPLOY) | BIT(CLI_CMD_LIST) | BIT(CLI_CMD_GET) | BIT(CLI_CMD_DELETE) |             \
     BIT(CLI_CMD_USAGE) | BIT(CLI_CMD_LOGS) | BIT(CLI_CMD_ENV_LIST) | BIT(CLI_CMD_ENV_SET) |        \
     BIT(CLI_CMD_ENV_DELETE))
#define APPS_CMDS                                                                                  \
    (BIT(CLI_CMD_APPS_LIST) | BIT(CLI_CMD_APPS_CREATE) | BIT(CLI_CMD_APPS_GET) |                   \
     BIT(CLI_CMD_APPS_DELETE) | BIT(CLI_CMD_APPS_ROTATE) | BIT(CLI_CMD_APPS_SET_AUTH))
#define STORAGE_CMDS                                                                               \
    (BIT(CLI_CMD_STORAGE_LIST) | BIT(CLI_CMD_STORAGE_GET) | BIT(CLI_CMD_STORAGE_SQL) |             \
     BIT(CLI_CMD_STORAGE_DELETE) | BIT(CLI_CMD_STORAGE_BACKUP) | BIT(CLI_CMD_STORAGE_RESTORE))
#define CLIENT_CMDS (DO_CMDS | APPS_CMDS | STORAGE_CMDS)
#define SERVER_CMDS (CLIENT_CMDS | BIT(CLI_CMD_MCP)) /* those that find a server and a token */
#define AUTH BIT(CLI_CMD_APPS_SET_AUTH)

enum flag_id {
    F_APP, F_URL, F_TOKEN, F_DATA, F_JSON, F_ACCESS, F_YES, F_CODE, F_FOLLOW, F_SUBDOMAIN,
    F_JWT_SECRET, F_PUBLIC_KEY, F_JWKS, F_ISSUER, F_AUDIENCE, F_CLEAR, F_LISTEN, F_THREADS,
    F_PREFIX, F_LIMIT, F_OUT, F_NAME, F_ID,
};

/* Every flag is a row: which commands take it and whether it has a value,
 * so the checks below run once for all of them. */
static const struct flag {
    const char *name;
    char short_name; /* 0 when none */
    int takes_value;
    unsigned cmds;
    enum flag_id id;
} flags[] = {
    {"app", 0, 1, DO_CMDS | STORAGE_CMDS, F_APP},
    {"url", 0, 1, SERVER_CMDS, F_URL},
    {"token", 0, 1, SERVER_CMDS, F_TOKEN},
    {"data", 0, 1, SERVER_CMDS | BIT(CLI_CMD_DEV), F_DATA},
    {"json", 0, 0, CLIENT_CMDS, F_JSON},
    {"access", 0, 1, BIT(CLI_CMD_DEPLOY) | BIT(CLI_CMD_DEV), F_ACCESS},
    {"yes", 'y', 0, BIT(CLI_CMD_DELETE) | BIT(CLI_CMD_APPS_DELETE) | BIT(CLI_CMD_STORAGE_DELETE),
     F_YES},
    {"code", 0, 0, BIT(CLI_CMD_GET), F_CODE},
    {"follow", 'f', 0, BIT(CLI_CMD_LOGS), F_FOLLOW},
    {"subdomain", 0, 1, BIT(CLI_CMD_APPS_CREATE), F_SUBDOMAIN},
    {"jwt-secret", 0, 1, AUTH, F_JWT_SECRET},
    {"jwt-public-key", 0, 1, AUTH, F_PUBLIC_KEY},
    {"jwks", 0, 1, AUTH, F_JWKS},
    {"issuer", 0, 1, AUTH, F_ISSUER},
    {"audience", 0, 1, AUTH, F_AUDIENCE},
    {"clear", 0, 0, AUTH, F_CLEAR},
    {"listen", 0, 1, BIT(CLI_CMD_DEV), F_LISTEN},
    {"threads", 0, 1, BIT(CLI_CMD_DEV), F_THREADS},
    {"prefix", 0, 1, BIT(CLI_CMD_STORAGE_GET), F_PREFIX},
    {"limit", 0, 1, BIT(CLI_CMD_STORAGE_GET) | BIT(CLI_CMD_STORAGE_LIST) | BIT(CLI_CMD_STORAGE_SQL),
     F_LIMIT},
    {"out", 'o', 1, BIT(CLI_CMD_STORAGE_BACKUP), F_OUT},
    {"name", 0, 1, BIT(CLI_CMD_STORAGE_RESTORE), F_NAME},
    {"id", 0, 1, BIT(CLI_CMD_STORAGE_RESTORE), F_ID},
};

static const struct {
    const char *name;
    cli_cmd_t cmd;
} commands[] = {
    {"deploy", CLI_CMD_DEPLOY}, {"list", CLI_CMD_LIST}, {"get", CLI_CMD_GET},
    {"delete", CLI_CMD_DELETE}, {"usage", CLI_CMD_USAGE}, {"logs", CLI_CMD_LOGS},
    {"env", CLI_CMD_ENV_LIST},  {"apps", CLI_CMD_APPS_LIST}, {"mcp", CLI_CMD_MCP},
    {"storage", CLI_CMD_STORAGE_LIST},
    {"dev", CLI_CMD_DEV},       {"help", CLI_CMD_HELP},  {"--help", CLI_CMD_HELP},
    {"-h", CLI_CMD_HELP},
};

/* The verbs of env and apps, and the command each one is. */
static const struct {
    const char *group, *verb;
    cli_cmd_t cmd;
} verbs[] = {
    {"env", "list", CLI_CMD_ENV_LIST},          {"env", "set", CLI_CMD_ENV_SET},
    {"env", "delete", CLI_CMD_ENV_DELETE},      {"apps", "list", CLI_CMD_APPS_LIST},
    {"apps", "create", CLI_CMD_APPS_CREATE},    {"apps", "get", CLI_CMD_APPS_GET},
    {"apps", "delete", CLI_CMD_APPS_DELETE},    {"apps", "rotate-key", CLI_CMD_APPS_ROTATE},
    {"apps", "set-auth", CLI_CMD_APPS_SET_AUTH},
    {"storage", "list", CLI_CMD_STORAGE_LIST},  {"storage", "get", CLI_CMD_STORAGE_GET},
    {"storage", "sql", CLI_CMD_STORAGE_SQL},    {"storage", "delete", CLI_CMD_STORAGE_DELETE},
    {"storage", "backup", CLI_CMD_STORAGE_BACKUP}, {"storage", "restore", CLI_CMD_STORAGE_RESTORE},
};

int cli_handles(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return 1;
    return 0;
}

static const struct flag *find_flag(const char *name, size_t len, char short_name)
{
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (short_name ? flags[i].short_name == short_name
                       : strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
    }
    return NULL;
}

static int usage_error(buf_t *err, const cli_args_t *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(buf_t *err, const cli_args_t *a, const char *fmt, ...)
{
    va_list ap;
    buf_printf(err, "dorm %s: ", a->cmd_name);
    va_start(ap, fmt);
    buf_vprintf(err, fmt, ap);
    va_end(ap);
    if (a->cmd == CLI_CMD_HELP)
        buf_puts(err, "; see dorm help");
    else
        buf_printf(err, "; see dorm %s --help", a->topic);
    return -1;
}

static int is_help_flag(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

static int set_flag(cli_args_t *a, const struct flag *f, const char *value)
{
    switch (f->id) {
    case F_APP: a->app = value; a->app_given = 1; break;
    case F_URL: a->url = value; break;
    case F_TOKEN: a->token = value; break;
    case F_DATA: a->data = value; break;
    case F_ACCESS: a->access = value; break;
    case F_JSON: a->json = 1; break;
    case F_YES: a->yes = 1; break;
    case F_CODE: a->code = 1; break;
    case F_FOLLOW: a->follow = 1; break;
    case F_SUBDOMAIN: a->subdomain = value; break;
    case F_JWT_SECRET: a->jwt_secret = value; break;
    case F_PUBLIC_KEY: a->public_key = value; break;
    case F_JWKS: a->jwks = value; break;
    case F_ISSUER: a->issuer = value; break;
    case F_AUDIENCE: a->audience = value; break;
    case F_CLEAR: a->clear = 1; break;
    case F_LISTEN: a->listen = value; break;
    case F_THREADS: a->threads = value; break;
    case F_PREFIX: a->prefix = value; break;
    case F_LIMIT: a->limit = value; break;
    case F_OUT: a->out = value; break;
    case F_NAME: a->to_name = value; break;
    case F_ID: a->id = value; break;
    }
    return 0;
}

/* Handles argv[*i], a flag; may consume the next argument as its value. */
static int parse_flag(int argc, char **argv, int *i, cli_args_t *a, buf_t *err)
{
    const char *arg = argv[*i];
    const char *name, *value = NULL;
    size_t len;
    char short_name = 0;

    if (arg[1] == '-') {
        name = arg + 2;
        const char *eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (eq)
            value = eq + 1;
    } else {
        name = arg + 1;
        len = strlen(name);
        if (len != 1)
            return usage_error(err, a, "unknown flag %s (long flags take two dashes)", arg);
        short_name = name[0];
    }

    const struct flag *f = find_flag(name, len, short_name);
    if (!f)
        return usage_error(err, a, "unknown flag %.*s%.*s", short_name ? 1 : 2, "--", (int)len,
                           name);
    if (!(f->cmds & BIT(a->cmd)))
        return usage_error(err, a, "--%s is not a flag of dorm %s", f->name, a->cmd_name);

    if (!f->takes_value) {
        if (value)
            return usage_error(err, a, "--%s takes no value", f->name);
        return set_flag(a, f, NULL);
    }
    if (!value) {
        /* A following flag is a forgotten value, not the value: `--app --json`. */
        if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
            return usage_error(err, a, "--%s needs a value", f->name);
        value = argv[++*i];
    }
    if (!*value)
        return usage_error(err, a, "--%s needs a value, not an empty one", f->name);
    return set_flag(a, f, value);
}

static int check_access(const cli_args_t *a, buf_t *err)
{
    static const char *modes[] = {"public", "authenticated", "service_key"};
    if (!a->access)
        return 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(a->access, modes[i]) == 0)
            return 0;
    return usage_error(err, a, "--access must be public, authenticated or service_key, not '%s'",
                       a->access);
}

/* For env and apps: the verb is the first word after the group. */
static int pick_verb(int argc, char **argv, cli_args_t *out, buf_t *err, int *verb_at)
{
    const char *group = out->cmd == CLI_CMD_ENV_LIST       ? "env"
                        : out->cmd == CLI_CMD_STORAGE_LIST ? "storage"
                                                           : "apps";
    static char name[32];
    *verb_at = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (argv[i][0] == '-') {
            /* Skip a flag's value given as the next word: `--app shop set`. */
            const struct flag *f = argv[i][1] == '-' && !strchr(argv[i], '=')
                                       ? find_flag(argv[i] + 2, strlen(argv[i] + 2), 0)
                                       : NULL;
            if (f && f->takes_value)
                i++;
            continue;
        }
        for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
            if (strcmp(verbs[v].group, group) == 0 && strcmp(verbs[v].verb, argv[i]) == 0) {
                out->cmd = verbs[v].cmd;
                snprintf(name, sizeof name, "%s %s", group, verbs[v].verb);
                out->cmd_name = name;
                *verb_at = i;
                return 0;
            }
        return usage_error(err, out,
                           strcmp(group, "env") == 0
                               ? "unknown verb '%s': use list, set or delete"
                           : strcmp(group, "storage") == 0
                               ? "unknown verb '%s': use list, get, sql, delete, backup or restore"
                               : "unknown verb '%s': use list, create, get, delete, rotate-key or "
                                 "set-auth",
                           argv[i]);
    }
    return usage_error(err, out,
                       strcmp(group, "env") == 0
                           ? "missing the verb: dorm env list, set KEY [VALUE] or delete KEY%s"
                       : strcmp(group, "storage") == 0
                           ? "missing the verb: dorm storage list, get, sql, delete, backup or "
                             "restore%s"
                           : "missing the verb: dorm apps list, create, get, delete, rotate-key "
                             "or set-auth%s",
                       "");
}

/* How many positional arguments each command takes, and what they are. */
static int take_positionals(cli_args_t *out, const char **pos, int npos, buf_t *err)
{
    int max_pos = 0;
    switch (out->cmd) {
    case CLI_CMD_HELP:
        max_pos = 1;
        out->help_topic = npos > 0 ? pos[0] : NULL;
        break;
    case CLI_CMD_LIST:
    case CLI_CMD_ENV_LIST:
    case CLI_CMD_APPS_LIST:
    case CLI_CMD_MCP:
        break;
    case CLI_CMD_DEPLOY:
        max_pos = 2;
        if (npos < 1)
            return usage_error(err, out,
                               "missing NAME and FILE (the kebab-case name, e.g. chat-room, and "
                               "the .ts or .js file holding the class)");
        if (npos < 2)
            return usage_error(err, out, "missing FILE (the .ts or .js file holding the class)");
        out->name = pos[0];
        out->file = pos[1];
        break;
    case CLI_CMD_USAGE:
        max_pos = 1;
        out->name = npos > 0 ? pos[0] : NULL;
        break;
    case CLI_CMD_GET:
    case CLI_CMD_DELETE:
    case CLI_CMD_LOGS:
        max_pos = 1;
        if (npos < 1)
            return usage_error(err, out,
                               "missing NAME (the class's kebab-case name; dorm list shows them)");
        out->name = pos[0];
        break;
    case CLI_CMD_ENV_SET:
        max_pos = 2;
        if (npos < 1)
            return usage_error(err, out,
                               "missing KEY (and VALUE, or the value on stdin), e.g. API_KEY");
        out->name = pos[0];
        out->value = npos > 1 ? pos[1] : NULL;
        break;
    case CLI_CMD_ENV_DELETE:
        max_pos = 1;
        if (npos < 1)
            return usage_error(err, out, "missing KEY (dorm env list shows them)");
        out->name = pos[0];
        break;
    case CLI_CMD_APPS_CREATE:
    case CLI_CMD_APPS_GET:
    case CLI_CMD_APPS_DELETE:
    case CLI_CMD_APPS_ROTATE:
    case CLI_CMD_APPS_SET_AUTH:
        max_pos = 1;
        if (npos < 1)
            return usage_error(err, out, "missing APP (the app's id; dorm apps list shows them)");
        out->name = pos[0];
        out->app = pos[0];
        break;
    case CLI_CMD_DEV:
        max_pos = CLI_MAX_FILES;
        if (npos < 1)
            return usage_error(err, out, "missing FILE (one or more .ts or .js class files)");
        for (int i = 0; i < npos && i < CLI_MAX_FILES; i++)
            out->files[out->nfiles++] = pos[i];
        break;
    case CLI_CMD_STORAGE_LIST:
        max_pos = 1;
        if (npos < 1)
            return usage_error(err, out,
                               "missing NAME (the class's kebab-case name; dorm list shows them)");
        out->name = pos[0];
        break;
    case CLI_CMD_STORAGE_GET:
    case CLI_CMD_STORAGE_DELETE:
        max_pos = 2;
        if (npos < 2)
            return usage_error(err, out,
                               npos ? "missing ID (the instance's id, as in /_do/NAME/ID; dorm "
                                      "storage list NAME shows them)"
                                    : "missing NAME and ID (the class's name and the instance's "
                                      "id, as in /_do/NAME/ID)");
        out->name = pos[0];
        out->id = pos[1];
        break;
    case CLI_CMD_STORAGE_SQL:
        max_pos = 3;
        if (npos < 3)
            return usage_error(err, out,
                               "needs NAME ID QUERY, e.g. dorm storage sql chat-room lobby "
                               "\"SELECT * FROM messages\"");
        out->name = pos[0];
        out->id = pos[1];
        out->query = pos[2];
        break;
    case CLI_CMD_STORAGE_BACKUP:
        max_pos = 2;
        out->name = npos > 0 ? pos[0] : NULL;
        out->id = npos > 1 ? pos[1] : NULL;
        break;
    case CLI_CMD_STORAGE_RESTORE:
        max_pos = 1;
        if (npos < 1)
            return usage_error(err, out, "missing FILE (a file dorm storage backup wrote)");
        out->file = pos[0];
        if (out->id && !out->to_name)
            return usage_error(err, out, "--id needs --name: the class the instance goes to");
        break;
    case CLI_CMD_COUNT:
        break;
    }
    if (out->id && !*out->id)
        return usage_error(err, out, "ID is empty");
    if (npos > max_pos)
        return usage_error(err, out, "unexpected argument '%s'", pos[max_pos]);
    if (out->name && !*out->name)
        return usage_error(err, out, "%s is empty",
                           out->cmd >= CLI_CMD_APPS_CREATE && out->cmd <= CLI_CMD_APPS_SET_AUTH
                               ? "APP"
                           : out->cmd == CLI_CMD_ENV_SET || out->cmd == CLI_CMD_ENV_DELETE ? "KEY"
                                                                                         : "NAME");
    return 0;
}

static int check_auth_flags(const cli_args_t *a, buf_t *err)
{
    if (a->cmd != CLI_CMD_APPS_SET_AUTH)
        return 0;
    int keys = (a->jwt_secret != NULL) + (a->public_key != NULL) + (a->jwks != NULL) + a->clear;
    if (keys != 1)
        return usage_error(err, a,
                           keys ? "give one of --jwt-secret, --jwt-public-key, --jwks and --clear"
                                : "missing the keys: --jwt-secret SECRET, --jwt-public-key FILE, "
                                  "--jwks FILE, or --clear%s",
                           "");
    if (a->clear && (a->issuer || a->audience))
        return usage_error(err, a, "--clear takes no --issuer or --audience");
    return 0;
}

int cli_parse_args(int argc, char **argv, cli_args_t *out, buf_t *err)
{
    memset(out, 0, sizeof *out);
    out->app = CLI_DEFAULT_APP;
    if (argc < 1 || !argv[0]) {
        buf_puts(err, "dorm: missing command; see dorm help");
        return -1;
    }
    out->cmd_name = argv[0];
    size_t c;
    for (c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(commands[c].name, argv[0]) == 0)
            break;
    if (c == sizeof commands / sizeof commands[0]) {
        buf_printf(err, "dorm: unknown command '%s'; see dorm help", argv[0]);
        return -1;
    }
    out->cmd = commands[c].cmd;
    if (out->cmd == CLI_CMD_HELP)
        out->cmd_name = "help";
    out->topic = out->cmd_name;

    /* --help anywhere (before a `--`) wins, whatever else is wrong. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help_flag(argv[i])) {
            out->help = 1;
            return 0;
        }

    int verb_at = 0;
    if ((out->cmd == CLI_CMD_ENV_LIST || out->cmd == CLI_CMD_APPS_LIST ||
         out->cmd == CLI_CMD_STORAGE_LIST) &&
        pick_verb(argc, argv, out, err, &verb_at) < 0)
        return -1;

    const char *pos[CLI_MAX_FILES + 1];
    int npos = 0, flags_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (i == verb_at)
            continue;
        if (!flags_done && strcmp(arg, "--") == 0) {
            flags_done = 1;
        } else if (!flags_done && arg[0] == '-' && arg[1] != '\0') {
            if (parse_flag(argc, argv, &i, out, err) < 0)
                return -1;
        } else if (npos < CLI_MAX_FILES + 1) {
            pos[npos++] = arg; /* one past the most any command takes, to name it below */
        }
    }
    if (take_positionals(out, pos, npos, err) < 0 || check_auth_flags(out, err) < 0)
        return -1;
    return check_access(out, err);
}

/* ------------------------------------------------------------------ resolving */

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

void cli_env_from_process(cli_env_t *env)
{
    env->url = getenv("DORM_URL");
    env->token = getenv("DORM_TOKEN");
    env->admin_token = getenv("DORM_ADMIN_TOKEN");
    env->data = getenv("DORM_DATA");
}

int cli_resolve_url(const cli_args_t *a, const cli_env_t *env, buf_t *out, buf_t *err)
{
    const char *url = nonempty(a->url), *from = "--url";
    if (!url) {
        url = nonempty(env->url);
        from = "DORM_URL";
    }
    if (!url) {
        url = CLI_DEFAULT_URL;
        from = "the default";
    }
    size_t skip = strncasecmp(url, "http://", 7) == 0    ? 7
                  : strncasecmp(url, "https://", 8) == 0 ? 8
                                                         : 0;
    if (!skip || !url[skip] || url[skip] == '/') {
        buf_printf(err, "%s is '%s', not a server URL; give one like " CLI_DEFAULT_URL, from, url);
        return -1;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            buf_printf(err,
                       "%s holds a space or a control character; give a URL like " CLI_DEFAULT_URL,
                       from);
            return -1;
        }
    size_t len = strlen(url);
    while (len > skip && url[len - 1] == '/')
        len--;
    buf_append(out, url, len);
    return 0;
}

/* A token goes into an HTTP header: only visible ASCII is allowed. */
static int check_token(const char *tok, size_t len, const char *from, buf_t *err)
{
    if (len == 0) {
        buf_printf(err, "the admin token from %s is empty; pass --token or set DORM_TOKEN", from);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] <= ' ' || (unsigned char)tok[i] >= 0x7f) {
            buf_printf(err,
                       "the admin token from %s holds a space, a control character or a non-ASCII "
                       "byte; pass the token the server wrote to DATA/admin.token",
                       from);
            return -1;
        }
    return 0;
}

static int read_token_file(const char *path, buf_t *out, buf_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            buf_printf(err,
                       "no admin token: pass --token, set DORM_TOKEN, or run from the folder "
                       "holding .dorm/admin.token (there is no %s)",
                       path);
        else
            buf_printf(err,
                       "cannot read the admin token in %s: %s; run as the user who started the "
                       "server, or pass --token",
                       path, strerror(errno));
        return -1;
    }
    char tmp[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, tmp + len, sizeof tmp - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_printf(err, "cannot read the admin token in %s: %s; pass --token instead", path,
                       strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0 || (len += (size_t)n) == sizeof tmp)
            break;
    }
    close(fd);
    /* The token is the first line; surrounding whitespace is not part of it. */
    size_t start = 0, end = 0;
    while (start < len && (tmp[start] == ' ' || tmp[start] == '\t'))
        start++;
    end = start;
    while (end < len && tmp[end] != '\n' && tmp[end] != '\r')
        end++;
    while (end > start && (tmp[end - 1] == ' ' || tmp[end - 1] == '\t'))
        end--;
    if (check_token(tmp + start, end - start, path, err) < 0)
        return -1;
    buf_append(out, tmp + start, end - start);
    return 0;
}

int cli_resolve_token(const cli_args_t *a, const cli_env_t *env, buf_t *out, buf_t *err)
{
    const char *tok = NULL, *from = NULL;
    if ((tok = nonempty(a->token)))
        from = "--token";
    else if ((tok = nonempty(env->token)))
        from = "DORM_TOKEN";
    else if ((tok = nonempty(env->admin_token)))
        from = "DORM_ADMIN_TOKEN";
    if (tok) {
        if (check_token(tok, strlen(tok), from, err) < 0)
            return -1;
        buf_puts(out, tok);
        return 0;
    }

    const char *data = nonempty(a->data);
    if (!data)
        data = nonempty(env->data);
    if (!data)
        data = CLI_DEFAULT_DATA;
    buf_t path = BUF_INIT;
    size_t dlen = strlen(data);
    while (dlen > 1 && data[dlen - 1] == '/')
        dlen--;
    buf_append(&path, data, dlen);
    buf_puts(&path, "/admin.token");
    int rc = read_token_file(buf_cstr(&path), out, err);
    buf_deinit(&path);
    return rc;
}

/* ------------------------------------------------------------------ the code */

static void put_thousands(buf_t *b, unsigned long long n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", n);
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf_putc(b, ',');
        buf_putc(b, digits[i]);
    }
}

static void too_large(const char *path, unsigned long long size, int exact, size_t max, buf_t *err)
{
    buf_printf(err, "%s is %s%llu bytes; the limit is %zu MB (", path, exact ? "" : "more than ",
               size, max / (1024 * 1024));
    put_thousands(err, max);
    buf_puts(err, " bytes)");
}

int cli_read_code(const char *path, size_t max, buf_t *out, buf_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        buf_printf(err, "cannot read %s: %s; pass the .ts or .js file that holds the class", path,
                   strerror(errno));
        return CLI_EXIT_USAGE;
    }
    struct stat st;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            buf_printf(err, "%s is a folder; pass the .ts or .js file that holds the class", path);
            close(fd);
            return CLI_EXIT_USAGE;
        }
        if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max) {
            too_large(path, (unsigned long long)st.st_size, 1, max, err);
            close(fd);
            return CLI_EXIT_REFUSED;
        }
    }
    /* Read at most one byte past the limit: a pipe has no size to check first. */
    size_t start = out->len;
    for (;;) {
        buf_reserve(out, 65536);
        size_t room = out->cap - out->len - 1;
        size_t want = max + 1 - (out->len - start);
        ssize_t n = read(fd, out->data + out->len, room < want ? room : want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_printf(err, "cannot read %s: %s; pass the .ts or .js file that holds the class",
                       path, strerror(errno));
            close(fd);
            out->len = start;
            out->data[out->len] = '\0';
            return CLI_EXIT_USAGE;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->data[out->len] = '\0';
        if (out->len - start > max) {
            too_large(path, max, 0, max, err);
            close(fd);
            out->len = start;
            out->data[out->len] = '\0';
            return CLI_EXIT_REFUSED;
        }
    }
    close(fd);
    return CLI_EXIT_OK;
}

int cli_read_stdin_value(size_t max, buf_t *out, buf_t *err)
{
    size_t start = out->len;
    for (;;) {
        buf_reserve(out, 4096);
        ssize_t n = read(STDIN_FILENO, out->data + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_printf(err, "cannot read the value from stdin: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->data[out->len] = '\0';
        if (out->len - start > max) {
            buf_printf(err, "the value on stdin is longer than %zu bytes", max);
            return -1;
        }
    }
    if (out->len > start && out->data[out->len - 1] == '\n')
        out->data[--out->len] = '\0';
    if (out->len > start && out->data[out->len - 1] == '\r')
        out->data[--out->len] = '\0';
    return 0;
}

void cli_dev_name(const char *arg, buf_t *name, const char **path)
{
    const char *eq = strchr(arg, '=');
    const char *slash = strrchr(arg, '/');
    if (eq && (!slash || eq < slash)) {
        buf_append(name, arg, (size_t)(eq - arg));
        *path = eq + 1;
        return;
    }
    *path = arg;
    const char *base = slash ? slash + 1 : arg;
    size_t n = strcspn(base, ".");
    /* ChatRoom -> chat-room; already kebab-case names stay as they are. */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)base[i];
        if (ch >= 'A' && ch <= 'Z') {
            int prev_low = i > 0 && ((base[i - 1] >= 'a' && base[i - 1] <= 'z') ||
                                     (base[i - 1] >= '0' && base[i - 1] <= '9'));
            int acronym_end = i > 0 && base[i - 1] >= 'A' && base[i - 1] <= 'Z' && i + 1 < n &&
                              base[i + 1] >= 'a' && base[i + 1] <= 'z';
            if (prev_low || acronym_end)
                buf_putc(name, '-');
            buf_putc(name, ch - 'A' + 'a');
        } else if (ch == '_') {
            buf_putc(name, '-');
        } else {
            buf_putc(name, ch);
        }
    }
}
