/* Inspection, backup and restore of instances' storage, for the management
 * API: the actions list_instances, get_storage, query and delete_instance,
 * GET /_api/backup and POST /_api/restore. Reading runs on the control
 * loop's worker pool with connections of its own (store/inspect.c), so no
 * instance and no other request waits for it; deleting and restoring go to
 * the instance's shard (actor/admin.c), which holds that one instance still
 * while its file changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../js/value_json.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "../store/inspect.h"
#include "control_int.h"
#include "route.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define QUERY_ROWS_DEFAULT 1000
#define QUERY_ROWS_MAX 10000
#define QUERY_MAX_MS 5000
#define RESTORE_LISTED_MAX 1000

enum { J_LIST, J_GET, J_QUERY, J_DELETE, J_BACKUP, J_RESTORE };

typedef struct sjob {
    mail_t mail;             /* first: posted back from a shard */
    uv_work_t work;
    control_t *c;
    pending_reply_t *p;
    int kind;
    int step;                /* what the mail or the work just finished */
    char *app, *name;        /* NULL name: a whole app (backup) */
    buf_t id;                /* the instance's id, as in its URL */
    bool has_id;
    char hex[65];            /* sha256 of id, or given as id_hex */
    bool has_hex;
    /* get_storage */
    buf_t prefix, after;
    bool has_prefix, has_after, raw;
    size_t limit;
    /* query */
    char *sql;
    json_t *bindings;
    uint64_t max_rows;
    /* list_instances */
    actor_live_t *live;
    size_t nlive;
    /* delete and restore */
    actor_admin_op_t op;
    /* backup */
    char **classes;
    size_t nclasses;
    /* restore */
    buf_t body;
    store_bundle_t *bundle;
    store_bundle_entry_t *entries;
    size_t nentries, next;
    char *to_app, *to_name;  /* where entries go (NULL: where they came from) */
    buf_t to_id;
    bool has_to_id;
    buf_t prepared;
    json_t *restored;
    size_t nrestored;
    http_response_t *res;    /* the answer, once known */
} sjob_t;

static const char do_storage_actions[] = "list_instances, get_storage, query or delete_instance";

static sjob_t *sjob_new(control_t *c, pending_reply_t *p, int kind, const char *app)
{
    sjob_t *j = xcalloc(1, sizeof *j);
    j->c = c;
    j->p = p;
    j->kind = kind;
    j->app = xstrdup(app);
    buf_init(&j->id);
    buf_init(&j->prefix);
    buf_init(&j->after);
    buf_init(&j->body);
    buf_init(&j->to_id);
    buf_init(&j->prepared);
    j->work.data = j;
    return j;
}

static void sjob_free(sjob_t *j)
{
    free(j->app);
    free(j->name);
    buf_deinit(&j->id);
    buf_deinit(&j->prefix);
    buf_deinit(&j->after);
    buf_deinit(&j->body);
    buf_deinit(&j->to_id);
    buf_deinit(&j->prepared);
    free(j->sql);
    json_decref(j->bindings);
    actor_live_free(j->live, j->nlive);
    control_names_free(j->classes, j->nclasses);
    store_bundle_entries_free(j->entries, j->nentries);
    store_bundle_free(j->bundle);
    free(j->to_app);
    free(j->to_name);
    json_decref(j->restored);
    free(j);
}

/* Sends the answer and frees the job. */
static void answer(sjob_t *j)
{
    pending_reply_t *p = j->p;
    p->res = j->res ? j->res : http_response_error(500, "INTERNAL", "no answer was made");
    j->res = NULL;
    control_t *c = j->c;
    sjob_free(j);
    control_finish(c, p);
}

static void instance_path(const sjob_t *j, const char *app, const char *cls, const uint8_t *id,
                          size_t id_len, buf_t *out)
{
    store_instance_path(j->c->cfg->data_dir, app, cls, id, id_len, out);
}

/* The file of the job's instance, found by id or by hex. */
static void job_path(const sjob_t *j, buf_t *out)
{
    if (j->has_id) {
        instance_path(j, j->app, j->name, j->id.data, j->id.len, out);
        return;
    }
    buf_reset(out);
    buf_printf(out, "%s/apps/%s/%s/%.2s/%s.sqlite", j->c->cfg->data_dir, j->app, j->name, j->hex,
               j->hex);
}

static http_response_t *bad_arg(const char *fmt, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, what);
    return http_response_error(400, "INVALID_ARGUMENT", msg);
}

static bool hex_ok(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool hex_decode(const char *s, buf_t *out)
{
    size_t n = strlen(s);
    if (n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = s[i + k];
            int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        buf_putc(out, v);
    }
    return true;
}

/* The class the job names must be deployed. */
static http_response_t *need_class(sjob_t *j, const char *name)
{
    if (!name || !*name)
        return bad_arg("%s needs \"name\": the class's kebab-case name",
                       j->kind == J_LIST     ? "list_instances"
                       : j->kind == J_GET    ? "get_storage"
                       : j->kind == J_QUERY  ? "query"
                                             : "delete_instance");
    if (!actor_catalog_class(j->c->snapshot, j->app, name, strlen(name)))
        return control_class_not_found(j->app, name);
    j->name = xstrdup(name);
    return NULL;
}

/* The instance: "id" (its id as in its URL) or, when allowed, "id_hex". */
static http_response_t *need_instance(sjob_t *j, json_t *id, json_t *id_hex, bool hex_allowed)
{
    if (id && json_is_string(id)) {
        size_t n = json_string_length(id);
        if (n == 0 || n > ROUTE_MAX_ID_BYTES)
            return bad_arg("\"id\" must be the instance's id as in its URL (/_do/<name>/<id>): 1 "
                           "to 1024 bytes%s",
                           "");
        buf_append(&j->id, json_string_value(id), n);
        j->has_id = true;
        store_id_hex(j->id.data, j->id.len, j->hex);
        j->has_hex = true;
        return NULL;
    }
    if (hex_allowed && id_hex && json_is_string(id_hex)) {
        if (!hex_ok(json_string_value(id_hex)))
            return bad_arg("\"id_hex\" must be 64 lowercase hex characters, as list_instances "
                           "shows%s",
                           "");
        memcpy(j->hex, json_string_value(id_hex), 65);
        j->has_hex = true;
        return NULL;
    }
    return bad_arg("this action needs \"id\": the instance's id as in its URL (/_do/<name>/<id>)"
                   "%s",
                   hex_allowed ? ", or \"id_hex\" from list_instances" : "");
}

static http_response_t *get_limit(json_t *body, const char *key, size_t def, size_t max,
                                  size_t *out)
{
    json_t *v = json_object_get(body, key);
    *out = def;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (json_int_t)max) {
        char msg[200];
        snprintf(msg, sizeof msg, "\"%s\" must be a whole number from 1 to %zu", key, max);
        return http_response_error(400, "INVALID_ARGUMENT", msg);
    }
    *out = (size_t)json_integer_value(v);
    return NULL;
}

/* ---- the work, on the pool ----------------------------------------------------------- */

static json_t *name_json(const uint8_t *p, size_t n)
{
    json_t *k = value_json_key(p, n);
    return k ? k : json_null();
}

typedef struct row_list {
    char *hex;
    const actor_live_t *live;
} row_list_t;

static int cmp_rows(const void *a, const void *b)
{
    return strcmp(((const row_list_t *)a)->hex, ((const row_list_t *)b)->hex);
}

static void work_list(sjob_t *j)
{
    char **hexes = NULL;
    size_t n = 0;
    bool more = false;
    char err[256];
    const char *after = j->has_after ? (const char *)j->after.data : NULL;
    if (store_list_instances(j->c->cfg->data_dir, j->app, j->name, after, j->limit, &hexes, &n,
                             &more, err, sizeof err) < 0) {
        j->res = http_response_error(500, "INTERNAL", err);
        return;
    }
    /* Instances in memory that never wrote have no file: they count too. */
    row_list_t *rows = xcalloc(n + j->nlive + 1, sizeof *rows);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        rows[nr++] = (row_list_t){hexes[i], NULL};
    for (size_t i = 0; i < j->nlive; i++) {
        const actor_live_t *l = &j->live[i];
        if (after && strcmp(l->hex, after) <= 0)
            continue;
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            if (strcmp(hexes[k], l->hex) == 0) {
                rows[k].live = l;
                found = true;
            }
        if (!found)
            rows[nr++] = (row_list_t){(char *)l->hex, l};
    }
    qsort(rows, nr, sizeof *rows, cmp_rows);
    /* Past the last file listed there may be live ones: cut where the
     * files stopped, so that the next page starts after it. */
    size_t keep = nr;
    if (more)
        while (keep > 0 && strcmp(rows[keep - 1].hex, hexes[n - 1]) > 0)
            keep--;
    if (keep > j->limit) {
        keep = j->limit;
        more = true;
    } else if (!more && keep < nr) {
        more = true;
    }
    json_t *arr = json_array();
    buf_t path = BUF_INIT, name = BUF_INIT;
    for (size_t i = 0; i < keep; i++) {
        row_list_t *r = &rows[i];
        buf_reset(&path);
        buf_printf(&path, "%s/apps/%s/%s/%.2s/%s.sqlite", j->c->cfg->data_dir, j->app, j->name,
                   r->hex, r->hex);
        json_t *o = json_pack("{s:s}", "id", r->hex);
        int64_t alarm = -1;
        bool missing = false;
        json_t *nm = NULL;
        store_reader_t *rd = store_reader_open(buf_cstr(&path), &missing, err, sizeof err);
        if (rd) {
            if (store_reader_name(rd, &name) == 0)
                nm = name_json(name.data, name.len);
            store_reader_alarm(rd, &alarm, err, sizeof err);
            store_reader_close(rd);
        }
        if (!nm && r->live)
            nm = name_json(r->live->id, r->live->id_len);
        json_object_set_new(o, "name", nm ? nm : json_null());
        json_object_set_new(o, "storage_bytes", json_integer((json_int_t)store_file_bytes(
                                                    buf_cstr(&path))));
        json_object_set_new(o, "alarm", alarm >= 0 ? json_integer(alarm) : json_null());
        json_object_set_new(o, "live", json_boolean(r->live != NULL));
        json_object_set_new(o, "hibernated", json_boolean(r->live && r->live->hibernated));
        json_array_append_new(arr, o);
    }
    json_t *cursor = more && keep > 0 ? json_string(rows[keep - 1].hex) : json_null();
    j->res = control_json_response(200, json_pack("{s:o,s:o}", "instances", arr, "cursor",
                                                  cursor));
    buf_deinit(&path);
    buf_deinit(&name);
    free(rows);
    store_names_free(hexes, n);
}

typedef struct get_ctx {
    json_t *arr;
    bool raw, more;
    size_t n, limit;
    buf_t last;              /* the key of the last row shown */
} get_ctx_t;

static int get_row(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    get_ctx_t *g = arg;
    if (g->n == g->limit) {
        g->more = true; /* the row past the page: there is a next one */
        return 1;
    }
    json_t *key = value_json_key(k, klen);
    char err[160];
    json_t *val = value_json_decode(v, vlen, err, sizeof err);
    json_t *o = json_object();
    json_object_set_new(o, "key", key ? key : json_null());
    if (val) {
        json_object_set_new(o, "value", val);
    } else {
        /* Shown, not hidden: a value the class could not read either. */
        json_object_set_new(o, "value", json_null());
        json_object_set_new(o, "error", json_string(err));
    }
    json_object_set_new(o, "bytes", json_integer((json_int_t)vlen));
    if (g->raw) {
        buf_t b = BUF_INIT;
        util_base64(v, vlen, &b);
        json_object_set_new(o, "raw", json_stringn(b.data ? (char *)b.data : "", b.len));
        buf_deinit(&b);
    }
    json_array_append_new(g->arr, o);
    buf_reset(&g->last);
    buf_append(&g->last, k, klen);
    g->n++;
    return 0;
}

static void work_get(sjob_t *j)
{
    buf_t path = BUF_INIT;
    job_path(j, &path);
    char err[256];
    bool missing = false;
    store_reader_t *rd = store_reader_open(buf_cstr(&path), &missing, err, sizeof err);
    buf_deinit(&path);
    if (!rd && !missing) {
        j->res = http_response_error(500, "INTERNAL", err);
        return;
    }
    get_ctx_t g = {.arr = json_array(), .raw = j->raw, .limit = j->limit};
    buf_init(&g.last);
    int64_t alarm = -1;
    if (rd) {
        int rc = store_reader_list(rd, j->has_prefix ? j->prefix.data : NULL, j->prefix.len,
                                   j->has_after ? j->after.data : NULL, j->after.len,
                                   j->limit + 1, get_row, &g, err, sizeof err);
        if (rc == 0)
            rc = store_reader_alarm(rd, &alarm, err, sizeof err);
        store_reader_close(rd);
        if (rc < 0) {
            json_decref(g.arr);
            buf_deinit(&g.last);
            j->res = http_response_error(500, "INTERNAL", err);
            return;
        }
    }
    json_t *cursor = json_null();
    if (g.more) {
        /* Keys are bytes: the cursor is the last one shown, in hex. */
        char *hex = xmalloc(2 * g.last.len + 1);
        util_hex(g.last.data, g.last.len, hex);
        json_decref(cursor);
        cursor = json_string(hex);
        free(hex);
    }
    buf_deinit(&g.last);
    j->res = control_json_response(
        200, json_pack("{s:o,s:o,s:o,s:b}", "entries", g.arr, "cursor", cursor, "alarm",
                       alarm >= 0 ? json_integer(alarm) : json_null(), "has_storage", !missing));
}

typedef struct query_ctx {
    json_t *columns, *rows;
} query_ctx_t;

static int q_columns(void *arg, int n, const char *const *names)
{
    query_ctx_t *q = arg;
    for (int i = 0; i < n; i++)
        json_array_append_new(q->columns, json_string(names[i] ? names[i] : ""));
    return 0;
}

/* A SQL value as JSON: integers past 2^53 and blobs are tagged, like
 * stored values (docs/value-encoding.md, "As JSON"). */
static json_t *sql_json(const store_value_t *v)
{
    switch (v->type) {
    case STORE_INTEGER:
        if (v->i > 9007199254740992LL || v->i < -9007199254740992LL) {
            char s[32];
            snprintf(s, sizeof s, "%lld", (long long)v->i);
            return json_pack("{s:s,s:s}", "type", "bigint", "value", s);
        }
        return json_integer((json_int_t)v->i);
    case STORE_REAL:
        return json_real(v->d);
    case STORE_TEXT: {
        json_t *s = json_stringn((const char *)v->p, v->len);
        if (s)
            return s;
        /* Not UTF-8: shown as its bytes. */
        buf_t b = BUF_INIT;
        util_base64(v->p, v->len, &b);
        json_t *t = json_pack("{s:s,s:s%}", "type", "text", "base64", b.data ? (char *)b.data : "",
                              b.len);
        buf_deinit(&b);
        return t;
    }
    case STORE_BLOB: {
        buf_t b = BUF_INIT;
        util_base64(v->p, v->len, &b);
        json_t *t = json_pack("{s:s,s:s%}", "type", "blob", "base64", b.data ? (char *)b.data : "",
                              b.len);
        buf_deinit(&b);
        return t;
    }
    default:
        return json_null();
    }
}

static int q_row(void *arg, int n, const store_value_t *values)
{
    query_ctx_t *q = arg;
    json_t *row = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(row, sql_json(&values[i]));
    json_array_append_new(q->rows, row);
    return 0;
}

static void work_query(sjob_t *j)
{
    size_t nb = json_array_size(j->bindings);
    store_value_t *binds = xcalloc(nb + 1, sizeof *binds);
    for (size_t i = 0; i < nb; i++) {
        json_t *b = json_array_get(j->bindings, i);
        store_value_t *v = &binds[i];
        if (json_is_integer(b)) {
            v->type = STORE_INTEGER;
            v->i = json_integer_value(b);
        } else if (json_is_real(b)) {
            v->type = STORE_REAL;
            v->d = json_real_value(b);
        } else if (json_is_boolean(b)) {
            v->type = STORE_INTEGER;
            v->i = json_is_true(b);
        } else if (json_is_string(b)) {
            v->type = STORE_TEXT;
            v->p = (const uint8_t *)json_string_value(b);
            v->len = json_string_length(b);
        } else {
            v->type = STORE_NULL;
        }
    }
    buf_t path = BUF_INIT;
    job_path(j, &path);
    char err[512];
    bool missing = false;
    store_reader_t *rd = store_reader_open(buf_cstr(&path), &missing, err, sizeof err);
    buf_deinit(&path);
    if (!rd) {
        free(binds);
        j->res = missing ? http_response_error(404, "NO_STORAGE",
                                               "this instance has no storage yet: it never "
                                               "wrote, so there is nothing to query")
                         : http_response_error(500, "INTERNAL", err);
        return;
    }
    query_ctx_t q = {json_array(), json_array()};
    store_sql_sink_t sink = {.columns = q_columns, .row = q_row, .arg = &q};
    bool truncated = false;
    int rc = store_reader_query(rd, j->sql, strlen(j->sql), binds, (int)nb, &sink, j->max_rows,
                                QUERY_MAX_MS, &truncated, err, sizeof err);
    store_reader_close(rd);
    free(binds);
    if (rc < 0) {
        json_decref(q.columns);
        json_decref(q.rows);
        j->res = http_response_error(400, "SQL_ERROR", err);
        return;
    }
    j->res = control_json_response(200, json_pack("{s:o,s:o,s:b}", "columns", q.columns, "rows",
                                                  q.rows, "truncated", truncated));
}

/* Adds every instance file of one class to the bundle. */
static int backup_class(sjob_t *j, store_bundle_t *b, const char *cls, size_t *skipped,
                        char *err, size_t errlen)
{
    char **hexes = NULL;
    size_t n = 0;
    bool more = false;
    if (store_list_instances(j->c->cfg->data_dir, j->app, cls, NULL, 0, &hexes, &n, &more, err,
                             errlen) < 0)
        return -1;
    buf_t path = BUF_INIT, name = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        buf_reset(&path);
        buf_printf(&path, "%s/apps/%s/%s/%.2s/%s.sqlite", j->c->cfg->data_dir, j->app, cls,
                   hexes[i], hexes[i]);
        bool missing = false;
        store_reader_t *rd = store_reader_open(buf_cstr(&path), &missing, err, errlen);
        if (!rd) {
            if (!missing)
                rc = -1;
            continue;
        }
        int have = store_reader_name(rd, &name);
        store_reader_close(rd);
        if (have < 0) {
            /* Without its id the instance could not be put back where it lives. */
            (*skipped)++;
            continue;
        }
        rc = store_bundle_add(b, j->app, cls, name.data, name.len, buf_cstr(&path), &missing,
                              err, errlen);
    }
    buf_deinit(&path);
    buf_deinit(&name);
    store_names_free(hexes, n);
    return rc;
}

static void work_backup(sjob_t *j)
{
    char err[512];
    buf_t scope = BUF_INIT;
    buf_printf(&scope, "%s%s%s%s%.*s", j->app, j->name ? "/" : "", j->name ? j->name : "",
               j->has_id ? "/" : "", j->has_id ? (int)j->id.len : 0,
               j->has_id ? (const char *)j->id.data : "");
    store_bundle_t *b = store_bundle_new(buf_cstr(&scope), err, sizeof err);
    size_t skipped = 0;
    int rc = b ? 0 : -1;
    if (rc == 0 && j->has_id) {
        buf_t path = BUF_INIT;
        job_path(j, &path);
        bool missing = false;
        rc = store_bundle_add(b, j->app, j->name, j->id.data, j->id.len, buf_cstr(&path),
                              &missing, err, sizeof err);
        buf_deinit(&path);
        if (rc == 0 && missing) {
            j->res = http_response_error(404, "NO_STORAGE",
                                         "this instance has no storage yet: it never wrote, so "
                                         "there is nothing to back up");
            store_bundle_free(b);
            buf_deinit(&scope);
            return;
        }
    } else if (rc == 0 && j->name) {
        rc = backup_class(j, b, j->name, &skipped, err, sizeof err);
    } else {
        for (size_t i = 0; rc == 0 && i < j->nclasses; i++)
            rc = backup_class(j, b, j->classes[i], &skipped, err, sizeof err);
    }
    http_response_t *res = NULL;
    if (rc == 0) {
        res = http_response_new(200);
        rc = store_bundle_bytes(b, &res->body, err, sizeof err);
    }
    if (rc < 0) {
        if (res)
            http_response_free(res);
        j->res = http_response_error(500, "INTERNAL", err);
    } else {
        char date[32], n[32], disp[400];
        util_iso8601(util_now_ms(), date);
        date[10] = '\0';
        /* The file name: the scope, with what a file name cannot hold replaced. */
        buf_t fname = BUF_INIT;
        for (const char *s = buf_cstr(&scope); *s; s++)
            buf_putc(&fname, (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                     (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'
                                 ? *s
                                 : '-');
        snprintf(disp, sizeof disp, "attachment; filename=\"dorm-%.200s-%s.dormbak\"",
                 buf_cstr(&fname), date);
        buf_deinit(&fname);
        http_headers_add(&res->headers, &res->nheaders, "Content-Type",
                         "application/vnd.dorm.backup+sqlite3");
        http_headers_add(&res->headers, &res->nheaders, "Content-Disposition", disp);
        snprintf(n, sizeof n, "%zu", store_bundle_count(b));
        http_headers_add(&res->headers, &res->nheaders, "X-Dorm-Instances", n);
        snprintf(n, sizeof n, "%zu", skipped);
        http_headers_add(&res->headers, &res->nheaders, "X-Dorm-Skipped", n);
        j->res = res;
    }
    store_bundle_free(b);
    buf_deinit(&scope);
}

/* Restore, on the pool: the next entry's file is written beside its place. */
static void work_restore_prepare(sjob_t *j)
{
    store_bundle_entry_t *e = &j->entries[j->next];
    const char *app = j->to_app ? j->to_app : e->app;
    const char *cls = j->to_name ? j->to_name : e->cls;
    const uint8_t *id = j->has_to_id ? j->to_id.data : e->id;
    size_t id_len = j->has_to_id ? j->to_id.len : e->id_len;
    buf_t path = BUF_INIT;
    instance_path(j, app, cls, id, id_len, &path);
    char err[512];
    if (store_bundle_prepare(j->bundle, j->next, buf_cstr(&path), id, id_len, &j->prepared, err,
                             sizeof err) < 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "cannot restore %s/%s/%.*s: %s", app, cls,
                 (int)(id_len > 100 ? 100 : id_len), (const char *)id, err);
        j->res = http_response_error(400, "BAD_BACKUP", msg);
    }
    buf_deinit(&path);
}

static void work_cb(uv_work_t *w)
{
    sjob_t *j = w->data;
    switch (j->kind) {
    case J_LIST:
        work_list(j);
        break;
    case J_GET:
        work_get(j);
        break;
    case J_QUERY:
        work_query(j);
        break;
    case J_BACKUP:
        work_backup(j);
        break;
    case J_RESTORE:
        work_restore_prepare(j);
        break;
    }
}

static void restore_next(sjob_t *j);

static void after_work_cb(uv_work_t *w, int status)
{
    sjob_t *j = w->data;
    if (j->kind != J_RESTORE || j->res) {
        answer(j);
        return;
    }
    /* The file is ready: the instance's shard moves it into place. */
    if (j->c->quiesced) {
        unlink(buf_cstr(&j->prepared));
        j->res = http_response_error(503, "SHUTTING_DOWN", "the server is shutting down");
        answer(j);
        return;
    }
    store_bundle_entry_t *e = &j->entries[j->next];
    j->op.op = ACTOR_ADMIN_RESTORE;
    j->op.app = j->to_app ? j->to_app : e->app;
    j->op.cls = j->to_name ? j->to_name : e->cls;
    j->op.id = j->has_to_id ? j->to_id.data : e->id;
    j->op.id_len = j->has_to_id ? j->to_id.len : e->id_len;
    j->op.prepared = buf_cstr(&j->prepared);
    j->step = J_RESTORE;
    actor_admin_run(j->c->shards, j->c->cfg->threads, &j->op);
}

static void queue(sjob_t *j)
{
    uv_queue_work(&j->c->loop, &j->work, work_cb, after_work_cb);
}

/* ---- answers from the shards ---------------------------------------------------------- */

static void op_done(actor_admin_op_t *op, void *data)
{
    sjob_t *j = data;
    j->mail.kind = CONTROL_STORAGE;
    mailbox_post(j->c->mb, &j->mail);
}

static void live_done(actor_live_t *v, size_t n, void *data)
{
    sjob_t *j = data;
    j->live = v;
    j->nlive = n;
    j->mail.kind = CONTROL_STORAGE;
    mailbox_post(j->c->mb, &j->mail);
}

static void restore_next(sjob_t *j)
{
    if (j->next == j->nentries) {
        j->res = control_json_response(200, json_pack("{s:I,s:O}", "restored",
                                                      (json_int_t)j->nrestored, "instances",
                                                      j->restored));
        answer(j);
        return;
    }
    queue(j);
}

void storage_on_mail(control_t *c, mail_t *m)
{
    sjob_t *j = (sjob_t *)m;
    switch (j->kind) {
    case J_LIST:
        queue(j); /* the live set is in: now the files */
        return;
    case J_DELETE:
        j->res = j->op.rc == 0
                     ? control_json_response(200, json_pack("{s:b,s:b}", "deleted", 1,
                                                            "had_storage", j->op.existed))
                     : http_response_error(j->op.err[0] && strstr(j->op.err, "shutting down")
                                               ? 503
                                               : 500,
                                           "DELETE_FAILED", j->op.err);
        answer(j);
        return;
    case J_RESTORE:
        if (j->op.rc < 0) {
            unlink(buf_cstr(&j->prepared));
            char msg[400];
            snprintf(msg, sizeof msg, "restored %zu of %zu instances, then: %s", j->nrestored,
                     j->nentries, j->op.err);
            j->res = http_response_error(strstr(j->op.err, "shutting down") ? 503 : 500,
                                         "RESTORE_FAILED", msg);
            answer(j);
            return;
        }
        if (j->nrestored < RESTORE_LISTED_MAX)
            json_array_append_new(j->restored,
                                  json_pack("{s:s,s:s,s:o}", "app_id", j->op.app, "name",
                                            j->op.cls, "id", name_json(j->op.id, j->op.id_len)));
        j->nrestored++;
        j->next++;
        restore_next(j);
        return;
    }
}

/* ---- entry points ------------------------------------------------------------------------ */

static http_response_t *start_list(sjob_t *j, json_t *body)
{
    http_response_t *bad = need_class(j, control_json_str(body, "name"));
    if (!bad)
        bad = get_limit(body, "limit", LIST_DEFAULT, LIST_MAX, &j->limit);
    json_t *cur = json_object_get(body, "cursor");
    if (!bad && cur && !json_is_null(cur)) {
        if (!json_is_string(cur) || !hex_ok(json_string_value(cur)))
            bad = bad_arg("\"cursor\" must be the cursor a previous list_instances gave%s", "");
        else {
            buf_puts(&j->after, json_string_value(cur));
            j->has_after = true;
        }
    }
    if (bad)
        return bad;
    actor_admin_live(j->c->shards, j->c->cfg->threads, j->app, j->name, live_done, j);
    return NULL;
}

static http_response_t *start_get(sjob_t *j, json_t *body)
{
    http_response_t *bad = need_class(j, control_json_str(body, "name"));
    if (!bad)
        bad = need_instance(j, json_object_get(body, "id"), json_object_get(body, "id_hex"), true);
    if (!bad)
        bad = get_limit(body, "limit", LIST_DEFAULT, LIST_MAX, &j->limit);
    json_t *prefix = json_object_get(body, "prefix");
    if (!bad && prefix && !json_is_null(prefix)) {
        if (!json_is_string(prefix))
            bad = bad_arg("\"prefix\" must be a string: the start of the keys to show%s", "");
        else {
            buf_append(&j->prefix, json_string_value(prefix), json_string_length(prefix));
            j->has_prefix = true;
        }
    }
    json_t *cur = json_object_get(body, "cursor");
    if (!bad && cur && !json_is_null(cur)) {
        if (!json_is_string(cur) || !hex_decode(json_string_value(cur), &j->after))
            bad = bad_arg("\"cursor\" must be the cursor a previous get_storage gave%s", "");
        else
            j->has_after = true;
    }
    json_t *raw = json_object_get(body, "raw");
    if (!bad && raw && !json_is_boolean(raw))
        bad = bad_arg("\"raw\" must be true or false%s", "");
    j->raw = raw && json_is_true(raw);
    if (bad)
        return bad;
    queue(j);
    return NULL;
}

static http_response_t *start_query(sjob_t *j, json_t *body)
{
    http_response_t *bad = need_class(j, control_json_str(body, "name"));
    if (!bad)
        bad = need_instance(j, json_object_get(body, "id"), json_object_get(body, "id_hex"), true);
    if (!bad)
        bad = get_limit(body, "max_rows", QUERY_ROWS_DEFAULT, QUERY_ROWS_MAX, &j->max_rows);
    json_t *sql = json_object_get(body, "sql");
    if (!bad && (!sql || !json_is_string(sql) || json_string_length(sql) == 0))
        bad = bad_arg("query needs \"sql\": one SELECT statement, e.g. \"SELECT * FROM "
                      "sqlite_schema\"%s",
                      "");
    if (!bad && strlen(json_string_value(sql)) != json_string_length(sql))
        bad = bad_arg("\"sql\" must not contain NUL characters%s", "");
    json_t *b = json_object_get(body, "bindings");
    if (!bad && b && !json_is_null(b)) {
        if (!json_is_array(b))
            bad = bad_arg("\"bindings\" must be an array of values for the query's ?s%s", "");
        for (size_t i = 0; !bad && i < json_array_size(b); i++) {
            json_t *v = json_array_get(b, i);
            if (!json_is_null(v) && !json_is_number(v) && !json_is_string(v) &&
                !json_is_boolean(v))
                bad = bad_arg("\"bindings\" may hold only null, numbers, strings and booleans%s",
                              "");
        }
    }
    if (bad)
        return bad;
    j->sql = xstrdup(json_string_value(sql));
    j->bindings = b && json_is_array(b) ? json_incref(b) : json_array();
    queue(j);
    return NULL;
}

static http_response_t *start_delete(sjob_t *j, json_t *body)
{
    http_response_t *bad = need_class(j, control_json_str(body, "name"));
    if (!bad)
        bad = need_instance(j, json_object_get(body, "id"), NULL, false);
    if (bad)
        return bad;
    j->op.op = ACTOR_ADMIN_DELETE;
    j->op.app = j->app;
    j->op.cls = j->name;
    j->op.id = j->id.data;
    j->op.id_len = j->id.len;
    j->op.done = op_done;
    j->op.data = j;
    actor_admin_run(j->c->shards, j->c->cfg->threads, &j->op);
    return NULL;
}

http_response_t *storage_action(control_t *c, const char *app, const char *action, json_t *body,
                                pending_reply_t *p, bool *handled)
{
    static const struct {
        const char *name;
        int kind;
        http_response_t *(*start)(sjob_t *j, json_t *body);
    } actions[] = {
        {"list_instances", J_LIST, start_list},
        {"get_storage", J_GET, start_get},
        {"query", J_QUERY, start_query},
        {"delete_instance", J_DELETE, start_delete},
    };
    *handled = false;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strcmp(action, actions[i].name) != 0)
            continue;
        *handled = true;
        if (c->quiesced)
            return http_response_error(503, "SHUTTING_DOWN", "the server is shutting down");
        sjob_t *j = sjob_new(c, p, actions[i].kind, app);
        http_response_t *res = actions[i].start(j, body);
        if (res)
            sjob_free(j);
        return res;
    }
    return NULL;
}

const char *storage_actions_list(void)
{
    return do_storage_actions;
}

/* The app of a /_api/backup or /_api/restore request (?app_id=, else
 * default); NULL with the answer set when it does not exist. */
static const char *query_app(control_t *c, const char *target, buf_t *app, bool *given,
                             http_response_t **res)
{
    *given = route_query_param(target, "app_id", app);
    if (!*given) {
        buf_reset(app);
        buf_puts(app, "default");
    }
    if (!actor_catalog_app(c->snapshot, buf_cstr(app))) {
        char msg[300];
        snprintf(msg, sizeof msg, "no app \"%.64s\" exists on this server", buf_cstr(app));
        *res = http_response_error(404, "APP_NOT_FOUND", msg);
        return NULL;
    }
    return buf_cstr(app);
}

void storage_backup_request(control_t *c, http_request_t *req, pending_reply_t *p)
{
    buf_t app = BUF_INIT, name = BUF_INIT, id = BUF_INIT;
    http_response_t *res = NULL;
    bool given;
    sjob_t *j = NULL;
    if (c->quiesced) {
        res = http_response_error(503, "SHUTTING_DOWN", "the server is shutting down");
        goto done;
    }
    if (!query_app(c, req->target, &app, &given, &res))
        goto done;
    j = sjob_new(c, p, J_BACKUP, buf_cstr(&app));
    bool has_name = route_query_param(req->target, "name", &name) && name.len > 0;
    if (has_name && (res = need_class(j, buf_cstr(&name))))
        goto done;
    if (route_query_param(req->target, "id", &id)) {
        if (!has_name) {
            res = bad_arg("?id= needs ?name=: the class the instance belongs to%s", "");
            goto done;
        }
        if (id.len == 0 || id.len > ROUTE_MAX_ID_BYTES) {
            res = bad_arg("?id= must be the instance's id as in its URL: 1 to 1024 bytes%s", "");
            goto done;
        }
        buf_append(&j->id, id.data, id.len);
        j->has_id = true;
        store_id_hex(j->id.data, j->id.len, j->hex);
        j->has_hex = true;
    }
    if (!has_name)
        j->classes = control_class_names(c, j->app, &j->nclasses);
    queue(j);
    j = NULL;
done:
    if (j)
        sjob_free(j);
    buf_deinit(&app);
    buf_deinit(&name);
    buf_deinit(&id);
    http_request_free(req);
    if (res) {
        p->res = res;
        control_finish(c, p);
    }
}

void storage_restore_request(control_t *c, http_request_t *req, pending_reply_t *p)
{
    buf_t app = BUF_INIT, name = BUF_INIT, id = BUF_INIT;
    http_response_t *res = NULL;
    bool app_given;
    char err[400];
    sjob_t *j = NULL;
    if (c->quiesced) {
        res = http_response_error(503, "SHUTTING_DOWN", "the server is shutting down");
        goto done;
    }
    if (!query_app(c, req->target, &app, &app_given, &res))
        goto done;
    j = sjob_new(c, p, J_RESTORE, buf_cstr(&app));
    j->bundle = store_bundle_load(req->body.data, req->body.len, err, sizeof err);
    if (!j->bundle) {
        res = http_response_error(400, "BAD_BACKUP", err);
        goto done;
    }
    if (store_bundle_entries(j->bundle, &j->entries, &j->nentries, err, sizeof err) < 0) {
        res = http_response_error(400, "BAD_BACKUP", err);
        goto done;
    }
    bool has_name = route_query_param(req->target, "name", &name) && name.len > 0;
    bool has_id = route_query_param(req->target, "id", &id);
    if (has_id && (j->nentries != 1 || !has_name)) {
        res = bad_arg(j->nentries != 1 ? "?id= restores one instance, but the backup holds %s; "
                                         "leave ?id= out to restore them where they came from"
                                       : "?id= needs ?name=: the class the instance goes to%s",
                      j->nentries != 1 ? "several" : "");
        goto done;
    }
    if (has_id && (id.len == 0 || id.len > ROUTE_MAX_ID_BYTES)) {
        res = bad_arg("?id= must be the instance's id as in its URL: 1 to 1024 bytes%s", "");
        goto done;
    }
    if (has_name) {
        for (size_t i = 1; i < j->nentries; i++)
            if (strcmp(j->entries[i].cls, j->entries[0].cls) != 0 ||
                strcmp(j->entries[i].app, j->entries[0].app) != 0) {
                res = bad_arg("?name= puts every instance in one class, but the backup holds "
                              "several classes; leave ?name= out%s",
                              "");
                goto done;
            }
        j->to_name = xstrdup(buf_cstr(&name));
    }
    if (app_given)
        j->to_app = xstrdup(j->app);
    if (has_id) {
        buf_append(&j->to_id, id.data, id.len);
        j->has_to_id = true;
    }
    /* Every class the instances go to must be deployed. */
    for (size_t i = 0; i < j->nentries; i++) {
        const char *a = j->to_app ? j->to_app : j->entries[i].app;
        const char *k = j->to_name ? j->to_name : j->entries[i].cls;
        if (!actor_catalog_class(c->snapshot, a, k, strlen(k))) {
            char msg[400];
            snprintf(msg, sizeof msg,
                     "the backup holds instances of \"%.80s\" in app \"%.64s\", which is not "
                     "deployed; deploy the class first, or restore into another with ?name=",
                     k, a);
            res = http_response_error(404, "NOT_FOUND", msg);
            goto done;
        }
    }
    j->restored = json_array();
    j->op.done = op_done;
    j->op.data = j;
    restore_next(j);
    j = NULL;
done:
    if (j)
        sjob_free(j);
    buf_deinit(&app);
    buf_deinit(&name);
    buf_deinit(&id);
    http_request_free(req);
    if (res) {
        p->res = res;
        control_finish(c, p);
    }
}
