/* dorm storage: the instances of a class, their keys, a read-only query,
 * deleting one instance's storage, backup and restore, over the
 * management API (list_instances, get_storage, query, delete_instance,
 * GET /_api/backup, POST /_api/restore). A client only: it includes
 * nothing of the server but lib/buf and lib/mem. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli_int.h"

#define MAX_BACKUP_UPLOAD ((size_t)4 << 30)

/* ---- values as JS writes them ---------------------------------------------------------- */

static void put_quoted(buf_t *out, const char *s)
{
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    buf_t tmp = BUF_INIT;
    buf_puts(&tmp, q ? q : "\"?\"");
    cli_put_safe(out, buf_cstr(&tmp), 1);
    buf_deinit(&tmp);
    free(q);
    json_decref(j);
}

static bool ident(const char *k)
{
    if (!*k || (*k >= '0' && *k <= '9'))
        return false;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '$'))
            return false;
    return true;
}

static void put_key(buf_t *out, const char *k)
{
    if (ident(k))
        buf_puts(out, k);
    else
        put_quoted(out, k);
}

static const char *str_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void put_props(buf_t *out, const json_t *obj, bool *first)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        buf_puts(out, *first ? "" : ", ");
        *first = false;
        put_key(out, k);
        buf_puts(out, ": ");
        cli_format_value(v, out);
    }
}

void cli_format_value(const json_t *v, buf_t *out)
{
    if (!json_is_object(v)) {
        if (json_is_string(v)) {
            put_quoted(out, json_string_value(v));
            return;
        }
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        buf_puts(out, s ? s : "?");
        free(s);
        return;
    }
    const char *type = str_of(v, "type");
    const json_t *value = json_object_get(v, "value");
    const json_t *id = json_object_get(v, "id");
    if (json_is_integer(id) && strcmp(type, "ref") != 0)
        buf_printf(out, "<ref *%lld> ", (long long)json_integer_value(id));
    bool first = true;
    if (strcmp(type, "undefined") == 0) {
        buf_puts(out, "undefined");
    } else if (strcmp(type, "number") == 0 || strcmp(type, "Date") == 0) {
        if (strcmp(type, "Date") == 0)
            buf_puts(out, "Date(");
        buf_puts(out, json_is_string(value) ? json_string_value(value) : "Invalid Date");
        if (strcmp(type, "Date") == 0)
            buf_putc(out, ')');
    } else if (strcmp(type, "bigint") == 0) {
        buf_printf(out, "%sn", str_of(v, "value"));
    } else if (strcmp(type, "string") == 0) {
        put_quoted(out, str_of(v, "value"));
    } else if (strcmp(type, "ref") == 0) {
        buf_printf(out, "[ref *%lld]", (long long)json_integer_value(id));
    } else if (strcmp(type, "object") == 0) {
        buf_puts(out, "{");
        put_props(out, value, &first);
        buf_puts(out, "}");
    } else if (strcmp(type, "array") == 0) {
        buf_puts(out, "[");
        if (json_is_array(value)) {
            size_t i;
            json_t *e;
            json_array_foreach(value, i, e)
            {
                buf_puts(out, first ? "" : ", ");
                first = false;
                if (strcmp(str_of(e, "type"), "hole") == 0)
                    buf_puts(out, "<empty>");
                else
                    cli_format_value(e, out);
            }
        } else {
            buf_printf(out, "<length %lld> ", (long long)json_integer_value(json_object_get(v,
                                                                                        "length")));
            put_props(out, value, &first);
        }
        const json_t *props = json_object_get(v, "props");
        if (props)
            put_props(out, props, &first);
        buf_puts(out, "]");
    } else if (strcmp(type, "Map") == 0 || strcmp(type, "Set") == 0) {
        bool map = type[0] == 'M';
        buf_printf(out, "%s(%zu) {", type, json_array_size(value));
        size_t i;
        json_t *e;
        json_array_foreach(value, i, e)
        {
            buf_puts(out, first ? "" : ", ");
            first = false;
            cli_format_value(map ? json_array_get(e, 0) : e, out);
            if (map) {
                buf_puts(out, " => ");
                cli_format_value(json_array_get(e, 1), out);
            }
        }
        buf_puts(out, "}");
    } else if (strcmp(type, "RegExp") == 0) {
        buf_puts(out, "/");
        cli_put_safe(out, str_of(v, "source"), 1);
        buf_puts(out, "/");
        cli_put_safe(out, str_of(v, "flags"), 1);
    } else if (strcmp(type, "ArrayBuffer") == 0) {
        buf_printf(out, "ArrayBuffer(%lld) base64:%s",
                   (long long)json_integer_value(json_object_get(v, "byteLength")),
                   str_of(v, "base64"));
    } else if (strcmp(type, "Error") == 0) {
        buf_printf(out, "%s: ", str_of(v, "name"));
        cli_put_safe(out, str_of(v, "message"), 1);
    } else if (strcmp(type, "boxed") == 0) {
        buf_puts(out, "[boxed ");
        cli_format_value(value, out);
        buf_puts(out, "]");
    } else if (json_object_get(v, "buffer")) {
        buf_printf(out, "%s(%lld) at %lld of ", type,
                   (long long)json_integer_value(json_object_get(v, "length")),
                   (long long)json_integer_value(json_object_get(v, "byteOffset")));
        cli_format_value(json_object_get(v, "buffer"), out);
    } else {
        char *s = json_dumps(v, JSON_COMPACT);
        buf_puts(out, s ? s : "?");
        free(s);
    }
}

/* ---- calls ------------------------------------------------------------------------------ */

typedef struct ctx {
    const cli_args_t *a;
    const char *base, *token;
} ctx_t;

static int unreachable(const ctx_t *c, const cli_http_reply_t *r)
{
    fprintf(stderr,
            "dorm: cannot reach the server at %s (%s); start it with `make run` or `dorm serve`, "
            "or point --url or DORM_URL at it\n",
            c->base, buf_cstr(&r->error));
    return CLI_EXIT_UNREACHABLE;
}

static int refused(const ctx_t *c, const cli_http_reply_t *r)
{
    buf_t msg = BUF_INIT;
    cli_format_error(r->status, (const char *)r->body.data, r->body.len, c->base, &msg);
    fprintf(stderr, "dorm: %s\n", buf_cstr(&msg));
    buf_deinit(&msg);
    if (c->a->json && r->body.len)
        printf("%s\n", buf_cstr(&r->body));
    return CLI_EXIT_REFUSED;
}

/* One management call; *result is the answer's JSON object. */
static int manage(const ctx_t *c, json_t *req, json_t **result)
{
    *result = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    cli_http_reply_t r;
    cli_http_reply_init(&r);
    int rc = CLI_EXIT_OK;
    if (!body) {
        fprintf(stderr, "dorm: out of memory encoding the request\n");
        rc = CLI_EXIT_REFUSED;
    } else if (cli_http_post(c->base, c->token, body, strlen(body), &r) < 0) {
        rc = unreachable(c, &r);
    } else {
        /* (json_is_object evaluates its argument twice: load first.) */
        if (r.status >= 200 && r.status < 300)
            *result = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
        if (!json_is_object(*result)) {
            json_decref(*result);
            *result = NULL;
            rc = refused(c, &r);
        }
    }
    free(body);
    cli_http_reply_deinit(&r);
    return rc;
}

static json_t *request(const ctx_t *c, const char *action)
{
    json_t *req = json_pack("{s:s,s:s}", "action", action, "app_id", c->a->app);
    if (c->a->name)
        json_object_set_new(req, "name", json_string(c->a->name));
    if (c->a->id)
        json_object_set_new(req, "id", json_string(c->a->id));
    return req;
}

static int parse_limit(const cli_args_t *a, long *out)
{
    *out = 0;
    if (!a->limit)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(a->limit, &end, 10);
    if (errno || *end || v < 1 || v > 100000000) {
        fprintf(stderr, "dorm %s: --limit must be a whole number from 1 up, not '%s'\n",
                a->cmd_name, a->limit);
        return -1;
    }
    *out = v;
    return 0;
}

static void human_bytes(buf_t *out, long long n)
{
    if (n < 1024)
        buf_printf(out, "%lld B", n);
    else if (n < 1024 * 1024)
        buf_printf(out, "%.1f KiB", n / 1024.0);
    else
        buf_printf(out, "%.1f MiB", n / (1024.0 * 1024.0));
}

/* Pages through list_instances or get_storage until the end or the limit;
 * *page is the last page's answer (for what is not paged, like the alarm). */
static int paged(const ctx_t *c, const char *action, const char *items, json_t **all,
                 json_t **page)
{
    long limit;
    *all = json_array();
    *page = NULL;
    if (parse_limit(c->a, &limit) < 0)
        return CLI_EXIT_USAGE;
    json_t *cursor = NULL;
    int rc = CLI_EXIT_OK;
    for (;;) {
        json_t *req = request(c, action);
        long want = limit ? limit - (long)json_array_size(*all) : 1000;
        json_object_set_new(req, "limit", json_integer(want > 1000 ? 1000 : want));
        if (c->a->prefix)
            json_object_set_new(req, "prefix", json_string(c->a->prefix));
        if (cursor)
            json_object_set(req, "cursor", cursor);
        json_t *next = NULL;
        rc = manage(c, req, &next);
        json_decref(req);
        if (rc != CLI_EXIT_OK)
            break;
        json_decref(*page);
        *page = next;
        json_array_extend(*all, json_object_get(next, items));
        cursor = json_object_get(next, "cursor");
        if (!json_is_string(cursor) || (limit && (long)json_array_size(*all) >= limit))
            break;
    }
    return rc;
}

/* {key: all} as one line of JSON. */
static void put_json_line(buf_t *out, const char *key, json_t *all, const char *key2,
                          json_t *v2)
{
    json_t *o = json_object();
    json_object_set(o, key, all);
    if (key2)
        json_object_set(o, key2, v2 ? v2 : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    buf_printf(out, "%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
}

static int run_list(const ctx_t *c)
{
    json_t *all, *page;
    int rc = paged(c, "list_instances", "instances", &all, &page);
    json_decref(page);
    if (rc != CLI_EXIT_OK) {
        json_decref(all);
        return rc;
    }
    buf_t out = BUF_INIT;
    if (c->a->json) {
        put_json_line(&out, "instances", all, NULL, NULL);
    } else if (json_array_size(all) == 0) {
        buf_printf(&out, "%s has no instances with storage or in memory in app %s\n",
                   c->a->name, c->a->app);
    } else {
        buf_puts(&out, "NAME\tID\tSTORAGE\tALARM\tSTATE\n");
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e)
        {
            const json_t *nm = json_object_get(e, "name");
            if (json_is_string(nm))
                cli_put_safe(&out, json_string_value(nm), 1);
            else if (nm && !json_is_null(nm))
                cli_format_value(nm, &out);
            else
                buf_puts(&out, "?");
            buf_printf(&out, "\t%.12s\t", str_of(e, "id"));
            human_bytes(&out, (long long)json_integer_value(json_object_get(e, "storage_bytes")));
            const json_t *al = json_object_get(e, "alarm");
            if (json_is_integer(al)) {
                time_t t = (time_t)(json_integer_value(al) / 1000);
                struct tm tm;
                char when[40];
                gmtime_r(&t, &tm);
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                buf_printf(&out, "\t%s", when);
            } else {
                buf_puts(&out, "\t-");
            }
            buf_printf(&out, "\t%s\n",
                       json_is_true(json_object_get(e, "hibernated")) ? "hibernated"
                       : json_is_true(json_object_get(e, "live"))     ? "in memory"
                                                                      : "on disk");
        }
    }
    fwrite(out.data, 1, out.len, stdout);
    buf_deinit(&out);
    json_decref(all);
    return CLI_EXIT_OK;
}

static int run_get(const ctx_t *c)
{
    json_t *all, *page;
    int rc = paged(c, "get_storage", "entries", &all, &page);
    if (rc != CLI_EXIT_OK) {
        json_decref(all);
        json_decref(page);
        return rc;
    }
    json_t *alarm = json_incref(json_object_get(page, "alarm"));
    json_decref(page);
    buf_t out = BUF_INIT;
    if (c->a->json) {
        put_json_line(&out, "entries", all, "alarm", alarm);
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e)
        {
            cli_format_value(json_object_get(e, "key"), &out);
            buf_puts(&out, " = ");
            if (json_object_get(e, "error")) {
                buf_puts(&out, "<unreadable: ");
                cli_put_safe(&out, str_of(e, "error"), 1);
                buf_puts(&out, ">");
            } else {
                cli_format_value(json_object_get(e, "value"), &out);
            }
            buf_putc(&out, '\n');
        }
        if (json_is_integer(alarm))
            buf_printf(&out, "(alarm set for %lld ms since the epoch)\n",
                       (long long)json_integer_value(alarm));
        if (json_array_size(all) == 0 && !json_is_integer(alarm))
            buf_printf(&out, "%s/%s has no keys%s\n", c->a->name, c->a->id,
                       c->a->prefix ? " with that prefix" : "");
    }
    fwrite(out.data, 1, out.len, stdout);
    buf_deinit(&out);
    json_decref(alarm);
    json_decref(all);
    return CLI_EXIT_OK;
}

static int run_sql(const ctx_t *c)
{
    long limit;
    if (parse_limit(c->a, &limit) < 0)
        return CLI_EXIT_USAGE;
    json_t *req = request(c, "query");
    json_object_set_new(req, "sql", json_string(c->a->query));
    if (limit)
        json_object_set_new(req, "max_rows", json_integer(limit > 10000 ? 10000 : limit));
    json_t *res;
    int rc = manage(c, req, &res);
    json_decref(req);
    if (rc != CLI_EXIT_OK)
        return rc;
    buf_t out = BUF_INIT;
    if (c->a->json) {
        char *s = json_dumps(res, JSON_COMPACT);
        buf_printf(&out, "%s\n", s ? s : "{}");
        free(s);
    } else {
        size_t i, k;
        json_t *e, *row;
        json_array_foreach(json_object_get(res, "columns"), i, e)
        {
            buf_puts(&out, i ? "\t" : "");
            cli_put_safe(&out, json_string_value(e) ? json_string_value(e) : "", 1);
        }
        buf_putc(&out, '\n');
        json_array_foreach(json_object_get(res, "rows"), i, row)
        {
            json_array_foreach(row, k, e)
            {
                buf_puts(&out, k ? "\t" : "");
                if (json_is_null(e))
                    buf_puts(&out, "NULL");
                else if (json_is_string(e))
                    cli_put_safe(&out, json_string_value(e), 1);
                else if (strcmp(str_of(e, "type"), "blob") == 0)
                    buf_printf(&out, "blob:%s", str_of(e, "base64"));
                else
                    cli_format_value(e, &out);
            }
            buf_putc(&out, '\n');
        }
        if (json_is_true(json_object_get(res, "truncated")))
            buf_puts(&out, "(more rows: raise --limit, up to 10000)\n");
    }
    fwrite(out.data, 1, out.len, stdout);
    buf_deinit(&out);
    json_decref(res);
    return CLI_EXIT_OK;
}

static int run_delete(const ctx_t *c)
{
    const cli_args_t *a = c->a;
    if (!a->yes) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "dorm storage delete: refusing to delete the storage of %s/%s without a "
                    "confirmation, and stdin is not a terminal to ask on; pass --yes\n",
                    a->name, a->id);
            return CLI_EXIT_USAGE;
        }
        fprintf(stderr,
                "This deletes every key, SQL table and the alarm of %s/%s in app %s; it cannot "
                "be undone.\nType the instance's id to confirm: ",
                a->name, a->id, a->app);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, stdin);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        bool ok = n >= 0 && strcmp(line, a->id) == 0;
        free(line);
        if (!ok) {
            fprintf(stderr, "dorm: nothing was deleted: what was typed is not %s\n", a->id);
            return CLI_EXIT_REFUSED;
        }
    }
    json_t *req = request(c, "delete_instance");
    json_t *res;
    int rc = manage(c, req, &res);
    json_decref(req);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (a->json) {
        char *s = json_dumps(res, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        printf("%s the storage of %s/%s in app %s\n",
               json_is_true(json_object_get(res, "had_storage")) ? "deleted" : "there was no",
               a->name, a->id, a->app);
    }
    json_decref(res);
    return CLI_EXIT_OK;
}

static void put_query(buf_t *q, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    buf_printf(q, "%c%s=%s", q->len ? '&' : '?', key, esc ? esc : "");
    curl_free(esc);
}

typedef struct sink {
    FILE *f;
    size_t bytes;
} sink_t;

static int to_file(const char *p, size_t n, void *arg)
{
    sink_t *s = arg;
    s->bytes += n;
    return fwrite(p, 1, n, s->f) == n ? 0 : -1;
}

static int run_backup(const ctx_t *c)
{
    const cli_args_t *a = c->a;
    buf_t path = BUF_INIT, q = BUF_INIT, file = BUF_INIT, tmp = BUF_INIT;
    put_query(&q, "app_id", a->app);
    if (a->name)
        put_query(&q, "name", a->name);
    if (a->id)
        put_query(&q, "id", a->id);
    buf_printf(&path, "/_api/backup%s", buf_cstr(&q));
    bool to_stdout = a->out && strcmp(a->out, "-") == 0;
    if (a->out) {
        buf_puts(&file, a->out);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        char date[16];
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        buf_printf(&file, "dorm-%s%s%s%s%s-%s.dormbak", a->app, a->name ? "-" : "",
                   a->name ? a->name : "", a->id ? "-" : "", a->id ? a->id : "", date);
        for (size_t i = 0; i < file.len; i++)
            if (file.data[i] == '/')
                file.data[i] = '-';
    }
    buf_printf(&tmp, "%s.partial", buf_cstr(&file));
    sink_t s = {to_stdout ? stdout : fopen(buf_cstr(&tmp), "wb"), 0};
    int rc = CLI_EXIT_OK;
    cli_http_reply_t r;
    cli_http_reply_init(&r);
    if (!s.f) {
        fprintf(stderr, "dorm: cannot write %s: %s\n", buf_cstr(&tmp), strerror(errno));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (cli_http_get_stream(c->base, buf_cstr(&path), c->token, to_file, &s, &r) < 0)
        rc = unreachable(c, &r);
    else if (r.status < 200 || r.status >= 300)
        rc = refused(c, &r);
    if (!to_stdout) {
        if (fclose(s.f) != 0 && rc == CLI_EXIT_OK) {
            fprintf(stderr, "dorm: cannot write %s: %s\n", buf_cstr(&tmp), strerror(errno));
            rc = CLI_EXIT_REFUSED;
        }
        if (rc == CLI_EXIT_OK && rename(buf_cstr(&tmp), buf_cstr(&file)) != 0) {
            fprintf(stderr, "dorm: cannot write %s: %s\n", buf_cstr(&file), strerror(errno));
            rc = CLI_EXIT_REFUSED;
        }
        if (rc != CLI_EXIT_OK)
            unlink(buf_cstr(&tmp));
        else
            fprintf(stderr, "backed up %s%s%s%s%s to %s (%zu bytes)\n",
                    a->name ? a->name : "app ", a->name ? "" : a->app, a->id ? "/" : "",
                    a->id ? a->id : "", a->name ? "" : "", buf_cstr(&file), s.bytes);
    }
done:
    cli_http_reply_deinit(&r);
    buf_deinit(&path);
    buf_deinit(&q);
    buf_deinit(&file);
    buf_deinit(&tmp);
    return rc;
}

static int run_restore(const ctx_t *c)
{
    const cli_args_t *a = c->a;
    FILE *f = fopen(a->file, "rb");
    if (!f) {
        fprintf(stderr, "dorm: cannot read %s: %s\n", a->file, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    buf_t data = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && data.len <= MAX_BACKUP_UPLOAD)
        buf_append(&data, chunk, n);
    bool err = ferror(f);
    fclose(f);
    if (err || data.len > MAX_BACKUP_UPLOAD) {
        fprintf(stderr, "dorm: cannot read %s: %s\n", a->file,
                err ? strerror(errno) : "larger than 4 GiB");
        buf_deinit(&data);
        return CLI_EXIT_USAGE;
    }
    buf_t path = BUF_INIT, q = BUF_INIT;
    if (a->app_given)
        put_query(&q, "app_id", a->app);
    if (a->to_name)
        put_query(&q, "name", a->to_name);
    if (a->id)
        put_query(&q, "id", a->id);
    buf_printf(&path, "/_api/restore%s", buf_cstr(&q));
    cli_http_reply_t r;
    cli_http_reply_init(&r);
    int rc = CLI_EXIT_OK;
    json_t *res = NULL;
    if (cli_http_post_to(c->base, buf_cstr(&path), c->token, (const char *)data.data, data.len,
                         &r) < 0)
        rc = unreachable(c, &r);
    else if (r.status < 200 || r.status >= 300 ||
             !(res = json_loadb((const char *)r.body.data, r.body.len, 0, NULL)) ||
             !json_is_object(res))
        rc = refused(c, &r);
    else if (a->json)
        printf("%s\n", buf_cstr(&r.body));
    else
        printf("restored %lld instance%s from %s\n",
               (long long)json_integer_value(json_object_get(res, "restored")),
               json_integer_value(json_object_get(res, "restored")) == 1 ? "" : "s", a->file);
    json_decref(res);
    cli_http_reply_deinit(&r);
    buf_deinit(&path);
    buf_deinit(&q);
    buf_deinit(&data);
    return rc;
}

int cli_storage_run(const cli_args_t *a, const char *base, const char *token)
{
    ctx_t c = {a, base, token};
    switch (a->cmd) {
    case CLI_CMD_STORAGE_LIST:
        return run_list(&c);
    case CLI_CMD_STORAGE_GET:
        return run_get(&c);
    case CLI_CMD_STORAGE_SQL:
        return run_sql(&c);
    case CLI_CMD_STORAGE_DELETE:
        return run_delete(&c);
    case CLI_CMD_STORAGE_BACKUP:
        return run_backup(&c);
    case CLI_CMD_STORAGE_RESTORE:
        return run_restore(&c);
    default:
        return CLI_EXIT_USAGE;
    }
}
