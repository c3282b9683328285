/* The class's SQL (storage.sql.exec) on the instance's connection: an
 * authorizer that keeps the reserved tables and transaction control out of
 * reach of the class's statements, running the statements of a query one
 * by one inside the turn's transaction, bindings, and rows to a sink.
 * Depends on lib/ and sqlite3 only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store_int.h"

static void deny(store_kv_t *kv, const char *fmt, const char *what)
{
    snprintf(kv->denied_buf, sizeof kv->denied_buf, fmt, what ? what : "");
    kv->denied = kv->denied_buf;
}

/* Tables of the runtime: state.storage's keys, the alarm, our metadata. */
static bool reserved(const char *table)
{
    return table && strncasecmp(table, "_do_", 4) == 0;
}

/* PRAGMAs a class may use: they read the schema or change only what its own
 * statements see. The others could defeat durability or the WAL. */
static bool pragma_allowed(const char *name)
{
    static const char *const ok[] = {
        "table_info",        "table_xinfo",         "table_list",    "index_list",
        "index_info",        "index_xinfo",         "foreign_key_list", "foreign_key_check",
        "foreign_keys",      "defer_foreign_keys",  "case_sensitive_like", "recursive_triggers",
        "quick_check",       "integrity_check",     "optimize",      "data_version",
        "page_count",        "page_size",           "freelist_count", "function_list",
        "collation_list",    "pragma_list",         "database_list", "ignore_check_constraints",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcasecmp(name, ok[i]) == 0)
            return true;
    return false;
}

static int authorize(void *arg, int action, const char *a, const char *b, const char *dbname,
                     const char *inner)
{
    store_kv_t *kv = arg;
    if (!kv->user_sql)
        return SQLITE_OK;
    if (action == SQLITE_READ && !reserved(a) && a && strncasecmp(a, "sqlite_", 7) != 0)
        kv->stmt_reads = true;
    if (action == SQLITE_UPDATE || action == SQLITE_DELETE)
        kv->stmt_modifies = true;
    switch (action) {
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        deny(kv,
             "%sBEGIN, COMMIT, ROLLBACK and SAVEPOINT cannot be used in storage.sql.exec(): "
             "the writes of an event are committed together by the runtime; use "
             "storage.transactionSync() or storage.transaction() for a transaction",
             NULL);
        return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        deny(kv, "%sATTACH and DETACH cannot be used in storage.sql.exec()", NULL);
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (pragma_allowed(a))
            return SQLITE_OK;
        deny(kv, "PRAGMA %s cannot be used in storage.sql.exec()", a);
        return SQLITE_DENY;
    case SQLITE_READ:
    case SQLITE_UPDATE:
    case SQLITE_INSERT:
    case SQLITE_DELETE:
    case SQLITE_CREATE_TABLE:
    case SQLITE_DROP_TABLE:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_VIEW:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
        if (action == SQLITE_CREATE_VIEW || action == SQLITE_CREATE_TEMP_VIEW ||
            action == SQLITE_CREATE_VTABLE)
            kv->schema_check = true;
        if (reserved(a)) {
            deny(kv,
                 "the table %s is reserved for the runtime (state.storage's keys, the alarm): "
                 "use the storage API for those",
                 a);
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_CREATE_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER:
        if (reserved(a) || reserved(b)) {
            deny(kv, "the table %s is reserved for the runtime: use the storage API for it",
                 reserved(b) ? b : a);
            return SQLITE_DENY;
        }
        if ((action == SQLITE_CREATE_TRIGGER || action == SQLITE_CREATE_TEMP_TRIGGER) && b) {
            /* Its body is checked when a statement fires it; the schema
             * check after it is made tries that at once. */
            kv->schema_check = true;
            snprintf(kv->trigger_table, sizeof kv->trigger_table, "%s", b);
        }
        return SQLITE_OK;
    case SQLITE_ALTER_TABLE:
        kv->schema_check = true; /* the new name is not given here */
        if (reserved(b)) {
            deny(kv, "the table %s is reserved for the runtime: use the storage API for it", b);
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        /* fts3_tokenizer() can install a tokenizer from a raw pointer (the
         * library is built with SQLITE_ENABLE_FTS3_TOKENIZER); extensions
         * would run native code in the server. */
        if (b && (strcasecmp(b, "fts3_tokenizer") == 0 || strcasecmp(b, "load_extension") == 0)) {
            deny(kv, "the SQL function %s() cannot be used in storage.sql.exec()", b);
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

/* Limits on what one statement may build, as Cloudflare documents them for
 * SQLite-backed Durable Objects. They bound the memory a class can make
 * SQLite allocate (a zeroblob(1e9) would otherwise be allocated in full);
 * the storage API's own keys and values are far below them. */
static const struct {
    int id, value;
} sql_limits[] = {
    {SQLITE_LIMIT_LENGTH, STORE_SQL_MAX_VALUE_BYTES},
    {SQLITE_LIMIT_SQL_LENGTH, STORE_SQL_MAX_STATEMENT_BYTES},
    {SQLITE_LIMIT_COLUMN, STORE_SQL_MAX_COLUMNS},
    {SQLITE_LIMIT_VARIABLE_NUMBER, STORE_SQL_MAX_BINDINGS},
    {SQLITE_LIMIT_FUNCTION_ARG, STORE_SQL_MAX_FUNCTION_ARGS},
    {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, STORE_SQL_MAX_LIKE_PATTERN},
    {SQLITE_LIMIT_ATTACHED, 0},
};

void store_sql_attach(store_kv_t *kv)
{
    sqlite3_set_authorizer(kv->db, authorize, kv);
    for (size_t i = 0; i < sizeof sql_limits / sizeof sql_limits[0]; i++)
        sqlite3_limit(kv->db, sql_limits[i].id, sql_limits[i].value);
    /* SQL that would corrupt the file on purpose (writable_schema, writes
     * to shadow tables) is refused outright. The schema stays trusted: it
     * is the class's own, and the authorizer checks what its triggers and
     * views do when they run. */
    sqlite3_db_config(kv->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
}

/* Every few thousand steps of a class's statement: the sink may stop it
 * (the event ran out of CPU time). */
static int progress_cb(void *arg)
{
    const store_sql_sink_t *sink = arg;
    return sink->interrupted && sink->interrupted(sink->arg) ? 1 : 0;
}

static void seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* True when only white space, semicolons and comments are left. */
static bool only_trivia(const char *p, const char *end)
{
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';' || *p == '\f') {
            p++;
        } else if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            p += 2;
            while (end - p >= 2 && !(p[0] == '*' && p[1] == '/'))
                p++;
            p = end - p >= 2 ? p + 2 : end;
        } else {
            return false;
        }
    }
    return true;
}

static int bind_value(sqlite3_stmt *st, int i, const store_value_t *v)
{
    switch (v->type) {
    case STORE_INTEGER:
        return sqlite3_bind_int64(st, i, v->i);
    case STORE_REAL:
        return sqlite3_bind_double(st, i, v->d);
    case STORE_TEXT:
        return sqlite3_bind_text64(st, i, v->p ? (const char *)v->p : "", v->len, SQLITE_STATIC,
                                   SQLITE_UTF8);
    case STORE_BLOB:
        return sqlite3_bind_blob64(st, i, v->p ? (const void *)v->p : (const void *)"", v->len,
                                   SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, i);
    }
}

/* One prepared statement of the class, run to the end. */
static int run_statement(store_kv_t *kv, sqlite3_stmt *st, const store_sql_sink_t *sink,
                         store_sql_stats_t *stats, char *err, size_t errlen)
{
    int ncols = sqlite3_column_count(st);
    if (ncols > 0 && sink && sink->columns) {
        const char *names[ncols > 0 ? ncols : 1];
        for (int c = 0; c < ncols; c++) {
            const char *n = sqlite3_column_name(st, c);
            names[c] = n ? n : "";
        }
        if (sink->columns(sink->arg, ncols, names) != 0)
            return -1;
    }
    sqlite3_int64 before = sqlite3_total_changes64(kv->db);
    uint64_t returned = 0;
    store_value_t vals[ncols > 0 ? ncols : 1];
    for (;;) {
        kv->user_sql = true;
        int rc = sqlite3_step(st);
        kv->user_sql = false;
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            seterr(err, errlen, kv->denied ? kv->denied : sqlite3_errmsg(kv->db));
            store_kv_note_error(kv);
            return -1;
        }
        returned++;
        for (int c = 0; c < ncols; c++) {
            store_value_t *v = &vals[c];
            memset(v, 0, sizeof *v);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                v->type = STORE_INTEGER;
                v->i = sqlite3_column_int64(st, c);
                break;
            case SQLITE_FLOAT:
                v->type = STORE_REAL;
                v->d = sqlite3_column_double(st, c);
                break;
            case SQLITE_TEXT:
                v->type = STORE_TEXT;
                v->p = sqlite3_column_text(st, c);
                v->len = (size_t)sqlite3_column_bytes(st, c);
                break;
            case SQLITE_BLOB:
                v->type = STORE_BLOB;
                v->p = sqlite3_column_blob(st, c);
                v->len = (size_t)sqlite3_column_bytes(st, c);
                break;
            default:
                v->type = STORE_NULL;
            }
        }
        if (sink && sink->row && sink->row(sink->arg, ncols, vals) != 0)
            return -1;
    }
    /* Rows read as Cloudflare counts them, as near as stock SQLite can
     * tell: the rows a full scan stepped over, or those a lookup returned,
     * or those an UPDATE or DELETE touched, whichever is more; a SELECT of
     * constants reads none, an INSERT reads none of its own rows. (A bare
     * count(*) reads no rows here: SQLite counts the b-tree's pages.) */
    uint64_t changed = (uint64_t)(sqlite3_total_changes64(kv->db) - before);
    uint64_t read = (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    if (read > 0)
        read++; /* n rows take n - 1 steps */
    if (kv->stmt_reads && returned > read)
        read = returned;
    if (kv->stmt_modifies && changed > read)
        read = changed;
    stats->rows_read += read;
    stats->rows_written += changed;
    return 0;
}

/* Runs one of our own statements on the class's connection. */
static int own_exec(store_kv_t *kv, const char *q)
{
    bool user = kv->user_sql;
    kv->user_sql = false;
    int rc = sqlite3_exec(kv->db, q, NULL, NULL, NULL);
    kv->user_sql = user;
    return rc;
}

/* Prepares q as the class's statement: -1 with err when the authorizer
 * refuses it (other failures do not count: the probe may not apply). */
static int probe_statement(store_kv_t *kv, const char *q, const char *what, char *err,
                           size_t errlen)
{
    sqlite3_stmt *probe = NULL;
    kv->denied = NULL;
    kv->user_sql = true;
    int prc = sqlite3_prepare_v2(kv->db, q, -1, &probe, NULL);
    kv->user_sql = false;
    sqlite3_finalize(probe);
    if (prc != SQLITE_OK && kv->denied) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s cannot be made: %s", what, kv->denied);
        seterr(err, errlen, msg);
        return -1;
    }
    return 0;
}

/* A trigger was made on kv->trigger_table: statements that would fire it
 * (an insert, a delete, an update of every column) must pass the
 * authorizer with its body compiled into them. */
static int check_trigger_table(store_kv_t *kv, char *err, size_t errlen)
{
    const char *t = kv->trigger_table;
    char *q = sqlite3_mprintf("SELECT name FROM pragma_table_info(%Q)", t);
    sqlite3_stmt *cols = NULL;
    char *set = sqlite3_mprintf("");
    if (sqlite3_prepare_v2(kv->db, q, -1, &cols, NULL) == SQLITE_OK) {
        while (sqlite3_step(cols) == SQLITE_ROW) {
            char *more = sqlite3_mprintf("%s%s\"%w\" = \"%w\"", set, set[0] ? ", " : "",
                                         (const char *)sqlite3_column_text(cols, 0),
                                         (const char *)sqlite3_column_text(cols, 0));
            sqlite3_free(set);
            set = more;
        }
    }
    sqlite3_finalize(cols);
    sqlite3_free(q);
    char what[160];
    snprintf(what, sizeof what, "a trigger on %.100s", t);
    char *probes[3] = {sqlite3_mprintf("INSERT INTO \"%w\" DEFAULT VALUES", t),
                       sqlite3_mprintf("DELETE FROM \"%w\"", t),
                       set[0] ? sqlite3_mprintf("UPDATE \"%w\" SET %s", t, set) : NULL};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        if (rc == 0 && probes[i])
            rc = probe_statement(kv, probes[i], what, err, errlen);
        sqlite3_free(probes[i]);
    }
    sqlite3_free(set);
    return rc;
}

/* After a statement that renamed a table or made a view or a virtual
 * table: no object of the class may carry a reserved name, and every view
 * must pass the authorizer (a view is checked when it is read too, but
 * refusing it when it is made says so where the mistake is). */
static int check_schema(store_kv_t *kv, char *err, size_t errlen)
{
    static const char names_sql[] =
        "SELECT name FROM main.sqlite_master WHERE substr(lower(name), 1, 4) = '_do_' AND "
        "name NOT IN ('_do_kv', '_do_meta', '_do_alarm') UNION ALL "
        "SELECT name FROM temp.sqlite_master WHERE substr(lower(name), 1, 4) = '_do_'";
    static const char views_sql[] =
        "SELECT 'main', name FROM main.sqlite_master WHERE type = 'view' UNION ALL "
        "SELECT 'temp', name FROM temp.sqlite_master WHERE type = 'view'";
    bool user = kv->user_sql;
    kv->user_sql = false;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(kv->db, names_sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        snprintf(kv->denied_buf, sizeof kv->denied_buf,
                 "the name %.100s is reserved for the runtime (names that start with _do_ are "
                 "its tables): pick another name",
                 (const char *)sqlite3_column_text(st, 0));
        seterr(err, errlen, kv->denied_buf);
        rc = -1;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == 0 && sqlite3_prepare_v2(kv->db, views_sql, -1, &st, NULL) == SQLITE_OK) {
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            const char *db = (const char *)sqlite3_column_text(st, 0);
            const char *name = (const char *)sqlite3_column_text(st, 1);
            char *q = sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\"", db ? db : "main",
                                      name ? name : "");
            char what[160];
            snprintf(what, sizeof what, "the view %.100s", name ? name : "");
            rc = probe_statement(kv, q, what, err, errlen);
            sqlite3_free(q);
        }
    }
    sqlite3_finalize(st);
    if (rc == 0 && kv->trigger_table[0])
        rc = check_trigger_table(kv, err, errlen);
    kv->trigger_table[0] = '\0';
    kv->denied = NULL;
    kv->user_sql = user;
    return rc;
}

/* Prepares and runs the statements of [*pp, end) one by one. */
static int exec_statements(store_kv_t *kv, const char **pp, const char *end,
                           const store_value_t *binds, int nbinds, const store_sql_sink_t *sink,
                           store_sql_stats_t *stats, int *used, char *err, size_t errlen)
{
    const char *p = *pp;
    while (p < end && !only_trivia(p, end)) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        kv->denied = NULL;
        kv->schema_check = false;
        kv->stmt_reads = kv->stmt_modifies = false;
        kv->user_sql = true;
        int rc = sqlite3_prepare_v3(kv->db, p, (int)(end - p), 0, &st, &tail);
        kv->user_sql = false;
        bool check = kv->schema_check;
        if (rc != SQLITE_OK) {
            seterr(err, errlen, kv->denied ? kv->denied : sqlite3_errmsg(kv->db));
            sqlite3_finalize(st);
            return -1;
        }
        if (!tail)
            tail = end;
        if (!st) { /* only a comment */
            p = tail;
            continue;
        }
        int nparams = sqlite3_bind_parameter_count(st);
        bool last = only_trivia(tail, end);
        if (nparams > 0 && !last) {
            seterr(err, errlen,
                   "When executing multiple SQL statements in a single call, only the last "
                   "statement can have parameters: run the others in exec() calls of their own");
            sqlite3_finalize(st);
            return -1;
        }
        if (last && nparams != nbinds) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "Wrong number of parameter bindings for SQL query: the statement has %d "
                     "parameter%s but %d value%s given to bind",
                     nparams, nparams == 1 ? "" : "s", nbinds, nbinds == 1 ? " was" : "s were");
            seterr(err, errlen, msg);
            sqlite3_finalize(st);
            return -1;
        }
        if (last)
            *used = nparams;
        for (int i = 0; i < nparams; i++) {
            if (bind_value(st, i + 1, &binds[i]) != SQLITE_OK) {
                seterr(err, errlen, sqlite3_errmsg(kv->db));
                sqlite3_finalize(st);
                return -1;
            }
        }
        /* A write joins the turn's transaction (begun here if needed). */
        bool writes = check || !sqlite3_stmt_readonly(st);
        if (writes && store_kv_begin(kv, err, errlen) < 0) {
            sqlite3_finalize(st);
            return -1;
        }
        /* A schema change that must be checked can be undone on its own. */
        if (check && own_exec(kv, "SAVEPOINT dorm_schema") != SQLITE_OK)
            check = false;
        rc = run_statement(kv, st, sink, stats, err, errlen);
        sqlite3_finalize(st);
        if (check) {
            if (rc == 0 && check_schema(kv, err, errlen) < 0) {
                own_exec(kv, "ROLLBACK TO dorm_schema");
                rc = -1;
            }
            if (!sqlite3_get_autocommit(kv->db))
                own_exec(kv, "RELEASE dorm_schema");
        }
        if (rc < 0)
            return -1;
        if (writes)
            kv->txn_wrote = true;
        p = tail;
        *pp = p;
    }
    return 0;
}

int store_sql_exec(store_kv_t *kv, const char *sql, size_t sql_len, const store_value_t *binds,
                   int nbinds, const store_sql_sink_t *sink, store_sql_stats_t *stats, char *err,
                   size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    bool have;
    if (store_kv_open(kv, true, &have, err, errlen) < 0)
        return -1;
    if (sql_len > STORE_SQL_MAX_STATEMENT_BYTES) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the query is %zu bytes, more than the %d a query may have; bind large values "
                 "as parameters (?) instead of writing them into the SQL",
                 sql_len, STORE_SQL_MAX_STATEMENT_BYTES);
        seterr(err, errlen, msg);
        return -1;
    }
    const char *p = sql, *end = sql + sql_len;
    int used = -1; /* the bindings were given to a statement */
    if (sink && sink->interrupted)
        sqlite3_progress_handler(kv->db, 4000, progress_cb, (void *)sink);
    int rc = exec_statements(kv, &p, end, binds, nbinds, sink, stats, &used, err, errlen);
    if (sink && sink->interrupted)
        sqlite3_progress_handler(kv->db, 0, NULL, NULL);
    if (rc < 0)
        return -1;
    if (used < 0) {
        /* Nothing but white space, semicolons and comments. */
        seterr(err, errlen, "SQL code did not contain a statement.");
        return -1;
    }
    return 0;
}

int64_t store_sql_database_size(store_kv_t *kv)
{
    bool have;
    char err[16];
    if (store_kv_open(kv, false, &have, err, sizeof err) < 0 || !have)
        return 0;
    sqlite3_stmt *st = NULL;
    int64_t size = 0;
    if (sqlite3_prepare_v2(kv->db,
                           "SELECT (page_count - freelist_count) * page_size FROM "
                           "pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        size = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return size;
}
