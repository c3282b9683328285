/* Turns the management API's JSON answers into what a person reads: the
 * deploy line, the list table, the fields of one class, and the one-line
 * explanation of a refusal. Pure functions over jansson values and buffers;
 * no I/O, nothing of the server. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/mem.h"

void cli_put_safe(buf_t *out, const char *s, int one_line)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n' || *p == '\t')
            buf_putc(out, one_line ? ' ' : *p);
        else if (*p == '\r' && p[1] == '\n' && !one_line)
            continue; /* CRLF reads as a newline */
        else if (*p < ' ' || *p == 0x7f)
            buf_putc(out, '?');
        else
            buf_putc(out, *p);
    }
}

/* A string member of an object, or NULL. */
static const char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *or_unknown(const char *s)
{
    return s ? s : "?";
}

/* --------------------------------------------------------------- served url */

static int is_loopback(const char *host, size_t len)
{
    static const char *names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], host, len) == 0)
            return 1;
    return 0;
}

static int is_ip_literal(const char *host, size_t len)
{
    if (len > 0 && host[0] == '[')
        return 1;
    for (size_t i = 0; i < len; i++)
        if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
            return 0;
    return len > 0;
}

void cli_served_url(const char *base, const char *app, const char *name, buf_t *out)
{
    const char *scheme_end = strstr(base, "://");
    if (strcmp(app, CLI_DEFAULT_APP) == 0 || !scheme_end) {
        /* A host that names no app means the app default (DESIGN.md 1.4). */
        buf_puts(out, base);
    } else {
        /* Any other app is chosen by the Host: its name is a subdomain. */
        const char *host = scheme_end + 3;
        size_t host_len = strcspn(host, "/");
        const char *port = NULL;
        if (host[0] == '[') {
            const char *close = memchr(host, ']', host_len);
            if (close && (size_t)(close - host) + 1 < host_len && close[1] == ':')
                port = close + 1;
        } else {
            port = memchr(host, ':', host_len);
        }
        size_t name_len = port ? (size_t)(port - host) : host_len;
        buf_append(out, base, (size_t)(host - base));
        buf_puts(out, app);
        buf_putc(out, '.');
        if (is_loopback(host, name_len))
            buf_puts(out, "localhost"); /* *.localhost resolves to loopback */
        else if (is_ip_literal(host, name_len))
            buf_puts(out, "<domain>"); /* an address has no subdomains: the server's --domain */
        else
            buf_append(out, host, name_len);
        buf_puts(out, port ? port : host + host_len); /* the port and path, as given */
    }
    buf_puts(out, "/_do/");
    buf_puts(out, name);
    buf_puts(out, "/<id>");
}

static void put_served_line(buf_t *out, const char *base, const char *app, const char *name)
{
    buf_t url = BUF_INIT;
    cli_served_url(base, app, name, &url);
    cli_put_safe(out, buf_cstr(&url), 1);
    buf_deinit(&url);
}

/* --------------------------------------------------------------- results */

int cli_format_deploy(const json_t *result, const char *base, const char *app, buf_t *out)
{
    const char *name = str_field(result, "name");
    if (!name)
        return -1;
    buf_puts(out, "deployed ");
    cli_put_safe(out, name, 1);
    buf_puts(out, " (");
    cli_put_safe(out, or_unknown(str_field(result, "class_name")), 1);
    buf_puts(out, ") to app ");
    cli_put_safe(out, app, 1);
    buf_puts(out, ", access ");
    cli_put_safe(out, or_unknown(str_field(result, "access_mode")), 1);
    buf_puts(out, ", at ");
    cli_put_safe(out, or_unknown(str_field(result, "last_deployed_at")), 1);
    buf_puts(out, "\nserved at ");
    put_served_line(out, base, app, name);
    buf_puts(out, " (any <id> you choose is one instance)\n");
    return 0;
}

#define LIST_COLS 5

int cli_format_list(const json_t *result, const char *app, buf_t *out)
{
    static const char *heads[LIST_COLS] = {"NAME", "CLASS", "ACCESS", "STATUS", "DEPLOYED"};
    static const char *keys[LIST_COLS] = {"name", "class_name", "access_mode", "status",
                                          "last_deployed_at"};
    const json_t *list = json_object_get(result, "durable_objects");
    if (!json_is_array(list))
        return -1;
    size_t rows = json_array_size(list);
    if (rows == 0) {
        buf_puts(out, "no classes deployed in app ");
        cli_put_safe(out, app, 1);
        buf_puts(out, "; deploy one with: dorm deploy NAME FILE\n");
        return 0;
    }

    /* Every cell is made safe first, so the widths are those printed. */
    buf_t *cells = xcalloc((rows + 1) * LIST_COLS, sizeof *cells);
    size_t width[LIST_COLS] = {0};
    for (size_t r = 0; r <= rows; r++) {
        const json_t *entry = r ? json_array_get(list, r - 1) : NULL;
        for (int c = 0; c < LIST_COLS; c++) {
            buf_t *cell = &cells[r * LIST_COLS + c];
            cli_put_safe(cell, r ? or_unknown(str_field(entry, keys[c])) : heads[c], 1);
            if (cell->len > width[c])
                width[c] = cell->len;
        }
    }
    for (size_t r = 0; r <= rows; r++) {
        for (int c = 0; c < LIST_COLS; c++) {
            const buf_t *cell = &cells[r * LIST_COLS + c];
            buf_append(out, buf_cstr(cell), cell->len);
            if (c < LIST_COLS - 1)
                buf_printf(out, "%*s", (int)(width[c] - cell->len + 2), "");
        }
        buf_putc(out, '\n');
    }
    for (size_t i = 0; i < (rows + 1) * LIST_COLS; i++)
        buf_deinit(&cells[i]);
    free(cells);
    return 0;
}

static void put_field(buf_t *out, const char *label, const char *value)
{
    buf_printf(out, "%-13s ", label);
    /* A multi-line value (a compile error) keeps its lines, indented under the first. */
    buf_t safe = BUF_INIT;
    cli_put_safe(&safe, value, 0);
    for (const char *p = buf_cstr(&safe); *p; p++) {
        buf_putc(out, *p);
        if (*p == '\n' && p[1])
            buf_printf(out, "%14s", "");
    }
    buf_deinit(&safe);
    buf_putc(out, '\n');
}

int cli_format_get(const json_t *result, const char *base, const char *app, int with_code,
                   buf_t *out)
{
    const char *name = str_field(result, "name");
    if (!name)
        return -1;
    put_field(out, "name:", name);
    put_field(out, "class:", or_unknown(str_field(result, "class_name")));
    put_field(out, "id:", or_unknown(str_field(result, "id")));
    put_field(out, "app:", app);
    put_field(out, "status:", or_unknown(str_field(result, "status")));
    put_field(out, "access:", or_unknown(str_field(result, "access_mode")));
    put_field(out, "deployed at:", or_unknown(str_field(result, "last_deployed_at")));
    buf_printf(out, "%-13s ", "served at:");
    put_served_line(out, base, app, name);
    buf_putc(out, '\n');
    const char *error = str_field(result, "error_message");
    if (error)
        put_field(out, "last error:", error);

    const json_t *code = json_object_get(result, "code");
    if (!json_is_string(code)) {
        put_field(out, "code:", "(not in the answer)");
        return 0;
    }
    size_t code_len = json_string_length(code);
    buf_printf(out, "%-13s %zu bytes%s\n", "code:", code_len,
               with_code ? ", below" : " (add --code to print it)");
    if (with_code) {
        /* The code is printed as deployed; it is the user's own text. */
        buf_putc(out, '\n');
        buf_append(out, json_string_value(code), code_len);
        if (code_len && json_string_value(code)[code_len - 1] != '\n')
            buf_putc(out, '\n');
    }
    return 0;
}

int cli_format_delete(const json_t *result, const char *name, const char *app, buf_t *out)
{
    if (!json_is_true(json_object_get(result, "deleted")))
        return -1;
    buf_puts(out, "deleted ");
    cli_put_safe(out, name, 1);
    buf_puts(out, " from app ");
    cli_put_safe(out, app, 1);
    buf_puts(out, ", with every instance and all their storage\n");
    return 0;
}

/* --------------------------------------------------------------- errors */

/* The start of a body that is not a dorm error, on one line. */
static void put_snippet(buf_t *out, const char *body, size_t len)
{
    enum { MAX = 160 };
    size_t n = len < MAX ? len : MAX;
    char *copy = xstrndup(body, n); /* stops at a NUL byte too */
    buf_t one = BUF_INIT;
    cli_put_safe(&one, copy, 1);
    free(copy);
    /* Collapse runs of spaces that were newlines and indentation in HTML. */
    int space = 0;
    for (const char *p = buf_cstr(&one); *p; p++) {
        if (*p == ' ' && space)
            continue;
        space = *p == ' ';
        buf_putc(out, *p);
    }
    buf_deinit(&one);
    if (len > n)
        buf_puts(out, "...");
}

void cli_format_error(long status, const char *body, size_t len, const char *base, buf_t *out)
{
    json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *error = json_object_get(root, "error");
    const char *message = json_is_object(error)   ? str_field(error, "message")
                          : json_is_string(error) ? json_string_value(error)
                                                  : NULL;
    if (message && *message) {
        /* The server's message as is (a compile error keeps its file:line:column). */
        cli_put_safe(out, message, 0);
        const char *code = json_is_object(error) ? str_field(error, "code") : NULL;
        if (code && *code) {
            buf_puts(out, " (");
            cli_put_safe(out, code, 1);
            buf_putc(out, ')');
        }
    } else if (status >= 300 && status < 400) {
        buf_printf(out,
                   "the server at %s answered with a redirect (HTTP %ld), which dorm does not "
                   "follow; point --url or DORM_URL at the dorm server itself",
                   base, status);
    } else {
        if (status >= 200 && status < 300)
            buf_printf(out, "the server at %s answered HTTP %ld but not with dorm's JSON", base,
                       status);
        else
            buf_printf(out, "the server at %s answered HTTP %ld with no dorm error", base, status);
        if (len) {
            buf_puts(out, " (");
            put_snippet(out, body, len);
            buf_putc(out, ')');
        } else {
            buf_puts(out, " and an empty body");
        }
        buf_puts(out, "; check that --url or DORM_URL points at dorm serve");
    }
    json_decref(root);
}

/* --------------------------------------------------------------- tables */

/* Prints cells (rows x cols, the first row the heads) in columns two spaces
 * apart; each cell is made safe first so the widths are those printed. */
static void put_table(buf_t *out, const char *const *cells, size_t rows, size_t cols)
{
    buf_t *safe = xcalloc(rows * cols + 1, sizeof *safe);
    size_t *width = xcalloc(cols, sizeof *width);
    for (size_t i = 0; i < rows * cols; i++) {
        cli_put_safe(&safe[i], cells[i] ? cells[i] : "?", 1);
        if (safe[i].len > width[i % cols])
            width[i % cols] = safe[i].len;
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            const buf_t *cell = &safe[r * cols + c];
            buf_append(out, buf_cstr(cell), cell->len);
            if (c < cols - 1)
                buf_printf(out, "%*s", (int)(width[c] - cell->len + 2), "");
        }
        buf_putc(out, '\n');
    }
    for (size_t i = 0; i < rows * cols; i++)
        buf_deinit(&safe[i]);
    free(safe);
    free(width);
}

/* A number member as text into tmp (integers as is, reals with 3 decimals). */
static const char *num_field(const json_t *o, const char *key, char tmp[32])
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        snprintf(tmp, 32, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(tmp, 32, "%.3f", json_real_value(v));
    else
        return NULL;
    return tmp;
}

/* --------------------------------------------------------------- usage */

#define USAGE_COLS 8
static const char *const usage_keys[USAGE_COLS] = {
    "name", "do_requests", "do_cpu_ms", "instances_live", "websockets_open", "storage_bytes",
    "alarms_pending", "errors"};

int cli_format_usage(const json_t *result, buf_t *out)
{
    static const char *const labels[USAGE_COLS] = {
        "name:", "requests:", "cpu ms:", "instances live:", "websockets open:",
        "storage bytes:", "alarms pending:", "errors:"};
    char tmp[USAGE_COLS][32];
    const json_t *list = json_object_get(result, "durable_objects");
    if (str_field(result, "name")) {
        for (int i = 0; i < USAGE_COLS; i++) {
            const char *v = i == 0 ? str_field(result, "name") : num_field(result, usage_keys[i], tmp[i]);
            if (!v)
                return -1;
            buf_printf(out, "%-17s ", labels[i]);
            cli_put_safe(out, v, 1);
            buf_putc(out, '\n');
        }
        return 0;
    }
    if (!json_is_array(list))
        return -1;
    static const char *const heads[USAGE_COLS] = {"NAME", "REQUESTS", "CPU_MS", "LIVE",
                                                  "WEBSOCKETS", "STORAGE", "ALARMS", "ERRORS"};
    size_t rows = json_array_size(list) + 2;
    char(*nums)[USAGE_COLS][32] = xcalloc(rows, sizeof *nums);
    const char **cells = xcalloc(rows * USAGE_COLS, sizeof *cells);
    for (int c = 0; c < USAGE_COLS; c++)
        cells[c] = heads[c];
    for (size_t r = 1; r < rows; r++) {
        const json_t *o = r < rows - 1 ? json_array_get(list, r - 1) : result;
        for (int c = 0; c < USAGE_COLS; c++)
            cells[r * USAGE_COLS + c] = c == 0 ? (r < rows - 1 ? str_field(o, "name") : "TOTAL")
                                               : num_field(o, usage_keys[c], nums[r][c]);
    }
    put_table(out, cells, rows, USAGE_COLS);
    free(cells);
    free(nums);
    return 0;
}

/* --------------------------------------------------------------- env */

int cli_format_env_list(const json_t *result, const char *app, buf_t *out)
{
    const json_t *keys = json_object_get(result, "keys");
    if (!json_is_array(keys))
        return -1;
    if (json_array_size(keys) == 0) {
        buf_puts(out, "no env vars in app ");
        cli_put_safe(out, app, 1);
        buf_puts(out, "; set one with: dorm env set KEY VALUE\n");
        return 0;
    }
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        cli_put_safe(out, json_is_string(k) ? json_string_value(k) : "?", 1);
        buf_putc(out, '\n');
    }
    return 0;
}

/* --------------------------------------------------------------- apps */

static void auth_summary(const json_t *auth, buf_t *out)
{
    if (!json_is_object(auth)) {
        buf_puts(out, "none (authenticated classes check the token's shape only)");
        return;
    }
    const json_t *algs = json_object_get(auth, "algorithms");
    size_t i;
    const json_t *a;
    json_array_foreach(algs, i, a)
    {
        if (i)
            buf_putc(out, '/');
        cli_put_safe(out, json_is_string(a) ? json_string_value(a) : "?", 1);
    }
    char tmp[32];
    const char *keys = num_field(auth, "keys", tmp);
    buf_printf(out, " (%s key%s from ", keys ? keys : "?", keys && strcmp(keys, "1") == 0 ? "" : "s");
    cli_put_safe(out, or_unknown(str_field(auth, "source")), 1);
    buf_putc(out, ')');
    if (str_field(auth, "issuer")) {
        buf_puts(out, ", issuer ");
        cli_put_safe(out, str_field(auth, "issuer"), 1);
    }
    if (str_field(auth, "audience")) {
        buf_puts(out, ", audience ");
        cli_put_safe(out, str_field(auth, "audience"), 1);
    }
}

int cli_format_apps_list(const json_t *result, buf_t *out)
{
    const json_t *apps = json_object_get(result, "apps");
    if (!json_is_array(apps))
        return -1;
    enum { COLS = 6 };
    static const char *const heads[COLS] = {"APP", "SUBDOMAIN", "CLASSES", "ENV", "JWT", "CREATED"};
    size_t rows = json_array_size(apps) + 1;
    const char **cells = xcalloc(rows * COLS, sizeof *cells);
    char(*nums)[2][32] = xcalloc(rows, sizeof *nums);
    buf_t *auth = xcalloc(rows, sizeof *auth);
    for (int c = 0; c < COLS; c++)
        cells[c] = heads[c];
    for (size_t r = 1; r < rows; r++) {
        const json_t *o = json_array_get(apps, r - 1);
        const json_t *au = json_object_get(o, "auth");
        if (json_is_object(au)) {
            size_t i;
            const json_t *a;
            json_array_foreach(json_object_get(au, "algorithms"), i, a)
            {
                if (i)
                    buf_putc(&auth[r], '/');
                buf_puts(&auth[r], json_is_string(a) ? json_string_value(a) : "?");
            }
        } else {
            buf_puts(&auth[r], "-");
        }
        const char *row[COLS] = {str_field(o, "app_id"), str_field(o, "subdomain"),
                                 num_field(o, "durable_objects", nums[r][0]),
                                 num_field(o, "env_vars", nums[r][1]), buf_cstr(&auth[r]),
                                 str_field(o, "created_at")};
        memcpy(&cells[r * COLS], row, sizeof row);
    }
    put_table(out, cells, rows, COLS);
    for (size_t r = 0; r < rows; r++)
        buf_deinit(&auth[r]);
    free(auth);
    free(nums);
    free(cells);
    return 0;
}

int cli_format_app(const json_t *result, const char *base, buf_t *out)
{
    const char *id = str_field(result, "app_id");
    if (!id)
        return -1;
    char tmp[32];
    put_field(out, "app:", id);
    put_field(out, "subdomain:", or_unknown(str_field(result, "subdomain")));
    put_field(out, "created at:", or_unknown(str_field(result, "created_at")));
    const char *n = num_field(result, "durable_objects", tmp);
    put_field(out, "classes:", n ? n : "?");
    n = num_field(result, "env_vars", tmp);
    put_field(out, "env vars:", n ? n : "?");
    buf_t a = BUF_INIT;
    auth_summary(json_object_get(result, "auth"), &a);
    put_field(out, "jwt:", buf_cstr(&a));
    buf_deinit(&a);
    buf_printf(out, "%-13s ", "served at:");
    put_served_line(out, base, or_unknown(str_field(result, "subdomain")), "NAME");
    buf_putc(out, '\n');
    const char *key = str_field(result, "service_key");
    if (key) {
        put_field(out, "service key:", key);
        buf_puts(out, "(shown this once: keep it now; `dorm apps rotate-key` makes a new one)\n");
    }
    return 0;
}

/* --------------------------------------------------------------- logs */

int cli_format_log_line(const json_t *event, buf_t *out)
{
    const char *msg = str_field(event, "message");
    if (!msg)
        return -1;
    cli_put_safe(out, or_unknown(str_field(event, "time")), 1);
    buf_printf(out, " %-5s ", or_unknown(str_field(event, "level")));
    const char *inst = str_field(event, "instance");
    if (inst) {
        cli_put_safe(out, inst, 1);
        buf_puts(out, ": ");
    }
    cli_put_safe(out, msg, 1);
    buf_putc(out, '\n');
    return 0;
}
