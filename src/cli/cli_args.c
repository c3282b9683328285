/* The CLI's pure front half: the usage texts, argument parsing, and where the
 * server URL, the admin token and a deploy's code come from. It reads files
 * and the environment but never the network, and includes nothing of the
 * server (no quickjs.h, no sqlite3.h, no src/ module but lib/buf and lib/mem). */
#include "cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------ usage */

/* The texts are laid out by hand, one printed line per source line. */
/* clang-format off */
#define COMMON_FLAGS \
    "flags of deploy, list, get and delete, anywhere after the command (--flag=value too):\n" \
    "  --app APP      the app to act on (default: default)\n" \
    "  --url URL      the server (default: $DORM_URL, else " CLI_DEFAULT_URL ")\n" \
    "  --token TOKEN  the admin token (default: $DORM_TOKEN, else $DORM_ADMIN_TOKEN,\n" \
    "                 else the file DATA/admin.token)\n" \
    "  --data DIR     DATA, the server's data folder (default: $DORM_DATA, else ./.dorm)\n" \
    "  --json         print the server's JSON answer as is (an error too), for scripts\n" \
    "  --help, -h     print the usage of the command\n"

#define EXIT_CODES \
    "exit codes: 0 done, 1 the server refused (the reason is on stderr), 2 bad usage,\n" \
    "            3 the server could not be reached.\n"

/* pad lines the continuation up under the first flag. */
#define SERVE_LINE(pad) \
    "dorm serve [--listen 127.0.0.1:8787] [--data ./.dorm] [--domain localhost] [--threads N]\n" \
    pad "[--log text|json] [--durability fsync|process] [--cpu-limit-ms N]\n" \
    pad "[--memory-limit-mb N] [--idle-evict-ms N] [--max-body-bytes N]\n" \
    pad "[--header-timeout-ms N] [--max-open-dbs N]\n" \
    pad "[--allow-fetch HOST|CIDR]... [--fetch-ca FILE]\n"

static const char usage_overview[] =
    "dorm: a self-hosted Durable Objects server, and its client.\n"
    "\n"
    "usage:\n"
    "  " SERVE_LINE("             ")
    "  dorm deploy NAME FILE [--access public|authenticated|service_key]\n"
    "  dorm list\n"
    "  dorm get NAME [--code]\n"
    "  dorm delete NAME [--yes]\n"
    "  dorm help [COMMAND]\n"
    "\n"
    "commands:\n"
    "  serve   run the server; all its state lives under --data\n"
    "  deploy  deploy (or redeploy) the class in FILE as NAME\n"
    "  list    list the classes deployed in an app\n"
    "  get     show one class, and its code with --code\n"
    "  delete  delete a class with every instance and all their storage\n"
    "  help    this text, or the usage of one command\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES "\n"
    "More: dorm help COMMAND, or dorm COMMAND --help.\n";

static const char usage_serve[] =
    "usage: " SERVE_LINE("                  ")
    "\n"
    "Runs the server in the foreground. Every bit of state lives under --data. On\n"
    "first start it writes an admin token to DATA/admin.token (mode 0600), unless\n"
    "DORM_ADMIN_TOKEN is set; the client commands read that file.\n"
    "\n"
    "  --listen HOST:PORT     where to accept HTTP and WebSocket (default 127.0.0.1:8787)\n"
    "  --data DIR             the data folder (default ./.dorm)\n"
    "  --domain DOMAIN        app APP is served at APP.DOMAIN; a host naming no app\n"
    "                         means the app default (default localhost)\n"
    "  --threads N            shards, one thread each (default: one per core)\n"
    "  --log text|json        the format of the log on stderr (default text)\n"
    "  --durability fsync|process\n"
    "                         fsync: an acknowledged write survives power loss (default);\n"
    "                         process: it survives a killed process, not a power loss\n"
    "  --cpu-limit-ms N       CPU time one event may use before it fails (default 30000)\n"
    "  --memory-limit-mb N    JS memory of one class on one shard; past it the class's\n"
    "                         runtime there is reset (default 128)\n"
    "  --idle-evict-ms N      evict an instance idle with nothing open after N ms\n"
    "                         (default 70000)\n"
    "  --max-body-bytes N     the largest request body; past it 413 (default 104857600)\n"
    "  --header-timeout-ms N  time a client has to send a request's headers (default 10000)\n"
    "  --max-open-dbs N       instance databases each shard keeps open (default: from the\n"
    "                         open-file limit, at most 256)\n"
    "  --allow-fetch HOST|CIDR\n"
    "                         let classes fetch() this host (api.internal, *.internal),\n"
    "                         address or range (10.0.0.0/8); repeatable. Otherwise\n"
    "                         loopback, private, link-local and metadata addresses\n"
    "                         are refused, so classes cannot reach this server's\n"
    "                         management API or the host's other services\n"
    "  --fetch-ca FILE        trust the CA certificates in this PEM file for fetch(),\n"
    "                         besides the system's store\n";

static const char usage_deploy[] =
    "usage: dorm deploy NAME FILE [--access MODE] [--app APP] [--url URL] [--token TOKEN]\n"
    "                             [--json]\n"
    "\n"
    "Deploys the class in FILE (.ts or .js, exactly one exported class, at most 5 MB)\n"
    "as NAME, the kebab-case form of its class name: ChatRoom deploys as chat-room.\n"
    "Redeploying a name swaps the code and keeps the storage. When the code does not\n"
    "compile, the server says where (file:line:column) and the previous version keeps\n"
    "serving. Prints where the class is served: URL/_do/NAME/<id>, any <id> being\n"
    "one instance.\n"
    "\n"
    "  --access MODE  who may call it: public (anyone), authenticated (a JWT in\n"
    "                 Authorization: Bearer; the server's default) or service_key\n"
    "                 (the app's service key in Authorization: Bearer)\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES "\n"
    "example: dorm deploy chat-room ChatRoom.ts --access public\n";

static const char usage_list[] =
    "usage: dorm list [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Lists the classes deployed in an app: NAME CLASS ACCESS STATUS DEPLOYED.\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_get[] =
    "usage: dorm get NAME [--code] [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Shows one deployed class: its name, class, id, status, access mode, when it\n"
    "was last deployed, where it is served, and the error of the last failed deploy.\n"
    "\n"
    "  --code         print the deployed code too, after the fields\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_delete[] =
    "usage: dorm delete NAME [--yes] [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Deletes a class with every instance and all their storage. This cannot be\n"
    "undone, so it asks you to type the name first; when stdin is not a terminal\n"
    "(a script), pass --yes instead.\n"
    "\n"
    "  --yes, -y      delete without asking\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_help[] =
    "usage: dorm help [COMMAND]\n"
    "\n"
    "Prints the overview of every command, or the usage of COMMAND\n"
    "(serve, deploy, list, get, delete, help).\n";

/* clang-format on */

static const struct {
    const char *name;
    const char *text;
} usages[] = {
    {"serve", usage_serve}, {"deploy", usage_deploy}, {"list", usage_list},
    {"get", usage_get},     {"delete", usage_delete}, {"help", usage_help},
};

const char *cli_usage(const char *cmd)
{
    if (!cmd)
        return usage_overview;
    for (size_t i = 0; i < sizeof usages / sizeof usages[0]; i++)
        if (strcmp(usages[i].name, cmd) == 0)
            return usages[i].text;
    return NULL;
}

/* ------------------------------------------------------------------ parsing */

#define BIT(c) (1u << (c))
#define CLIENT_CMDS                                                                                \
    (BIT(CLI_CMD_DEPLOY) | BIT(CLI_CMD_LIST) | BIT(CLI_CMD_GET) | BIT(CLI_CMD_DELETE))

enum flag_id { F_APP, F_URL, F_TOKEN, F_DATA, F_JSON, F_ACCESS, F_YES, F_CODE };

/* Every flag is a row: which commands take it and whether it has a value,
 * so the checks below run once for all of them. */
static const struct flag {
    const char *name;
    char short_name; /* 0 when none */
    int takes_value;
    unsigned cmds;
    enum flag_id id;
} flags[] = {
    {"app", 0, 1, CLIENT_CMDS, F_APP},           {"url", 0, 1, CLIENT_CMDS, F_URL},
    {"token", 0, 1, CLIENT_CMDS, F_TOKEN},       {"data", 0, 1, CLIENT_CMDS, F_DATA},
    {"json", 0, 0, CLIENT_CMDS, F_JSON},         {"access", 0, 1, BIT(CLI_CMD_DEPLOY), F_ACCESS},
    {"yes", 'y', 0, BIT(CLI_CMD_DELETE), F_YES}, {"code", 0, 0, BIT(CLI_CMD_GET), F_CODE},
};

static const struct {
    const char *name;
    cli_cmd_t cmd;
} commands[] = {
    {"deploy", CLI_CMD_DEPLOY}, {"list", CLI_CMD_LIST}, {"get", CLI_CMD_GET},
    {"delete", CLI_CMD_DELETE}, {"help", CLI_CMD_HELP}, {"--help", CLI_CMD_HELP},
    {"-h", CLI_CMD_HELP},
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
        buf_printf(err, "; see dorm %s --help", a->cmd_name);
    return -1;
}

static int is_help_flag(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

static int set_flag(cli_args_t *a, const struct flag *f, const char *value)
{
    switch (f->id) {
    case F_APP:
        a->app = value;
        break;
    case F_URL:
        a->url = value;
        break;
    case F_TOKEN:
        a->token = value;
        break;
    case F_DATA:
        a->data = value;
        break;
    case F_ACCESS:
        a->access = value;
        break;
    case F_JSON:
        a->json = 1;
        break;
    case F_YES:
        a->yes = 1;
        break;
    case F_CODE:
        a->code = 1;
        break;
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

    /* --help anywhere (before a `--`) wins, whatever else is wrong. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help_flag(argv[i])) {
            out->help = 1;
            return 0;
        }

    const char *pos[3];
    int npos = 0, flags_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!flags_done && strcmp(arg, "--") == 0) {
            flags_done = 1;
        } else if (!flags_done && arg[0] == '-' && arg[1] != '\0') {
            if (parse_flag(argc, argv, &i, out, err) < 0)
                return -1;
        } else if (npos < 3) {
            pos[npos++] = arg; /* one past the most any command takes, to name it below */
        }
    }

    int max_pos = 0;
    switch (out->cmd) {
    case CLI_CMD_HELP:
        max_pos = 1;
        out->help_topic = npos > 0 ? pos[0] : NULL;
        break;
    case CLI_CMD_LIST:
        max_pos = 0;
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
    case CLI_CMD_GET:
    case CLI_CMD_DELETE:
        max_pos = 1;
        if (npos < 1)
            return usage_error(err, out,
                               "missing NAME (the class's kebab-case name; dorm list shows them)");
        out->name = pos[0];
        break;
    }
    if (npos > max_pos)
        return usage_error(err, out, "unexpected argument '%s'", pos[max_pos]);
    if (out->name && !*out->name)
        return usage_error(err, out, "NAME is empty");
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
