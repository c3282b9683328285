/* Unit tests of the control catalog (src/store/catalog.c, DATA/control.db).
 * The per-instance store is tested in test_kv.c. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/buf.h"
#include "store/catalog.h"

/* ---- helpers ------------------------------------------------------------- */

static char tmp_root[64];
static int dir_counter;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 ? errno : 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/dorm-test-store-XXXXXX");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    rm_rf(tmp_root);
    return 0;
}

/* A fresh data directory for one test. */
static char *new_data_dir(void)
{
    char *p = malloc(128);
    snprintf(p, 128, "%s/t%d", tmp_root, ++dir_counter);
    assert_int_equal(mkdir(p, 0700), 0);
    return p;
}

/* ---- catalog ------------------------------------------------------------- */

static void test_catalog(void **state)
{
    char *dir = new_data_dir();
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    catalog_t *c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);

    catalog_app_t a = {.id = "default", .subdomain = "default", .service_key_hash = "sk1",
                       .created_at = 1700000000123};
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    catalog_app_t b = {.id = "beta", .subdomain = "b", .service_key_hash = "sk2", .created_at = 5,
                       .auth = "{\"secret\":\"s\"}"};
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);
    catalog_app_t clash = {.id = "gamma", .subdomain = "b", .service_key_hash = "x"};
    assert_int_equal(catalog_app_put(c, &clash, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "subdomain 'b'"));
    b.service_key_hash = "sk3"; /* update in place */
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);

    catalog_app_t got;
    assert_int_equal(catalog_app_get(c, "default", &got, err, sizeof(err)), 0);
    assert_string_equal(got.id, "default");
    assert_string_equal(got.subdomain, "default");
    assert_string_equal(got.service_key_hash, "sk1");
    assert_true(got.created_at == 1700000000123);
    assert_null(got.auth);
    assert_int_equal(got.env_version, 0);
    catalog_app_clear(&got);
    assert_int_equal(catalog_app_get(c, "missing", &got, err, sizeof(err)), 1);
    catalog_app_t *apps;
    size_t n;
    assert_int_equal(catalog_apps_list(c, &apps, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(apps[0].id, "beta");
    assert_string_equal(apps[0].service_key_hash, "sk3");
    assert_string_equal(apps[0].auth, "{\"secret\":\"s\"}");
    assert_string_equal(apps[1].id, "default");
    catalog_apps_free(apps, n);

    static const uint8_t bc[] = {0x01, 0x00, 0xff, 0x00, 0x7f};
    catalog_class_t k = {.app_id = "default", .name = "chat-room", .id = "uuid-1",
                         .class_name = "ChatRoom", .access_mode = "public",
                         .code = "export class ChatRoom {}", .bytecode = (uint8_t *)bc,
                         .bytecode_len = sizeof(bc), .version = 1, .last_deployed_at = 42,
                         .error_message = NULL, .code_compressed_len = 77};
    assert_int_equal(catalog_class_put(c, &k, err, sizeof(err)), 0);
    catalog_class_t k2 = k;
    k2.name = "counter";
    k2.class_name = "Counter";
    k2.bytecode = NULL;
    k2.bytecode_len = 0;
    assert_int_equal(catalog_class_put(c, &k2, err, sizeof(err)), 0);
    catalog_class_t k3 = k;
    k3.app_id = "beta";
    k3.name = "zeta";
    assert_int_equal(catalog_class_put(c, &k3, err, sizeof(err)), 0);

    catalog_class_t g;
    assert_int_equal(catalog_class_get(c, "default", "chat-room", &g, err, sizeof(err)), 0);
    assert_string_equal(g.app_id, "default");
    assert_string_equal(g.name, "chat-room");
    assert_string_equal(g.id, "uuid-1");
    assert_string_equal(g.class_name, "ChatRoom");
    assert_string_equal(g.access_mode, "public");
    assert_string_equal(g.code, "export class ChatRoom {}");
    assert_int_equal(g.bytecode_len, sizeof(bc));
    assert_memory_equal(g.bytecode, bc, sizeof(bc));
    assert_int_equal(g.version, 1);
    assert_int_equal(g.last_deployed_at, 42);
    assert_null(g.error_message);
    assert_int_equal(g.code_compressed_len, 77);
    catalog_class_clear(&g);
    assert_int_equal(catalog_class_get(c, "default", "counter", &g, err, sizeof(err)), 0);
    assert_null(g.bytecode);
    assert_int_equal(g.bytecode_len, 0);
    catalog_class_clear(&g);
    assert_int_equal(catalog_class_get(c, "default", "nope", &g, err, sizeof(err)), 1);
    assert_int_equal(catalog_class_get(c, "other", "chat-room", &g, err, sizeof(err)), 1);

    /* a failed deploy records its message; the next good deploy clears it */
    assert_int_equal(
        catalog_class_set_error(c, "default", "chat-room", "x.ts:1:2: bad", err, sizeof(err)), 0);
    assert_int_equal(catalog_class_set_error(c, "default", "nope", "m", err, sizeof(err)), 1);
    assert_int_equal(catalog_class_get(c, "default", "chat-room", &g, err, sizeof(err)), 0);
    assert_string_equal(g.error_message, "x.ts:1:2: bad");
    assert_string_equal(g.code, "export class ChatRoom {}");
    catalog_class_clear(&g);
    k.version = 2;
    k.code = "export class ChatRoom { x() {} }";
    assert_int_equal(catalog_class_put(c, &k, err, sizeof(err)), 0);
    assert_int_equal(catalog_class_get(c, "default", "chat-room", &g, err, sizeof(err)), 0);
    assert_null(g.error_message);
    assert_int_equal(g.version, 2);
    catalog_class_clear(&g);

    catalog_class_t *list;
    assert_int_equal(catalog_classes_list(c, NULL, &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].app_id, "beta");
    assert_string_equal(list[1].name, "chat-room");
    assert_string_equal(list[2].name, "counter");
    catalog_classes_free(list, n);
    assert_int_equal(catalog_classes_list(c, "default", &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "chat-room");
    assert_int_equal(list[0].bytecode_len, sizeof(bc));
    catalog_classes_free(list, n);
    assert_int_equal(catalog_classes_list(c, "empty", &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_classes_free(list, n);

    assert_int_equal(catalog_class_delete(c, "default", "counter", err, sizeof(err)), 0);
    assert_int_equal(catalog_class_delete(c, "default", "counter", err, sizeof(err)), 1);
    assert_int_equal(catalog_class_get(c, "default", "counter", &g, err, sizeof(err)), 1);
    catalog_close(c);

    /* reopen: data kept, schema version recorded; a newer file is refused */
    c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(catalog_classes_list(c, NULL, &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    catalog_classes_free(list, n);
    catalog_close(c);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err[0] = '\0';
    assert_null(catalog_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));

    snprintf(path, sizeof(path), "%s/no/such/dir/control.db", dir);
    assert_null(catalog_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "control database"));
    free(dir);
}

/* Env vars, usage rows and deleting an app. */
static void test_catalog_env_usage(void **state)
{
    char *dir = new_data_dir();
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    catalog_t *c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    /* it holds secrets: the file (and its WAL) are the owner's only */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    catalog_app_t a = {.id = "a1", .subdomain = "a1", .service_key_hash = "h"};
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    catalog_app_t b = {.id = "b1", .subdomain = "b1", .service_key_hash = "h2"};
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);

    assert_int_equal(catalog_env_put(c, "a1", "Z_KEY", "zz", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "a1", "API_KEY", "secret-1", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "a1", "API_KEY", "secret-2", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "b1", "API_KEY", "other", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_put(c, "nope", "K", "v", err, sizeof(err)), -1);
    catalog_env_t *env;
    size_t n;
    assert_int_equal(catalog_env_list(c, "a1", &env, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(env[0].key, "API_KEY");
    assert_string_equal(env[0].value, "secret-2");
    assert_string_equal(env[1].key, "Z_KEY");
    catalog_env_free(env, n);
    catalog_app_t got;
    char wal[320];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 0);
    assert_int_equal(got.env_version, 3); /* every change counts */
    catalog_app_clear(&got);
    /* putting the app again keeps its env version */
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 0);
    assert_int_equal(got.env_version, 3);
    catalog_app_clear(&got);
    assert_int_equal(catalog_env_delete(c, "a1", "Z_KEY", err, sizeof(err)), 0);
    assert_int_equal(catalog_env_delete(c, "a1", "Z_KEY", err, sizeof(err)), 1);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 0);
    assert_int_equal(got.env_version, 4);
    catalog_app_clear(&got);

    catalog_class_t k = {.app_id = "a1", .name = "counter", .id = "u-1", .class_name = "Counter",
                         .access_mode = "public", .code = "x", .version = 1};
    assert_int_equal(catalog_class_put(c, &k, err, sizeof(err)), 0);
    catalog_class_t k2 = k;
    k2.name = "room";
    k2.id = "u-2";
    assert_int_equal(catalog_class_put(c, &k2, err, sizeof(err)), 0);
    catalog_usage_t rows[] = {{"u-1", "a1", "counter", 10, 2500, 1},
                              {"u-2", "a1", "room", 3, 7, 0},
                              {"u-gone", "a1", "gone", 99, 99, 99}};
    assert_int_equal(catalog_usage_put(c, rows, 3, err, sizeof(err)), 0);
    rows[0].do_requests = 11;
    assert_int_equal(catalog_usage_put(c, rows, 1, err, sizeof(err)), 0);
    catalog_usage_t *u;
    assert_int_equal(catalog_usage_list(c, &u, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2); /* no row for a class that does not exist */
    assert_string_equal(u[0].class_id, "u-1");
    assert_int_equal(u[0].do_requests, 11);
    assert_int_equal(u[0].do_cpu_us, 2500);
    assert_int_equal(u[0].errors, 1);
    catalog_usage_free(u, n);
    /* deleting a class takes its usage row */
    assert_int_equal(catalog_class_delete(c, "a1", "room", err, sizeof(err)), 0);
    assert_int_equal(catalog_usage_list(c, &u, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    catalog_usage_free(u, n);
    catalog_close(c);

    /* reopening keeps all of it; deleting the app takes everything of it */
    c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(catalog_app_delete(c, "a1", err, sizeof(err)), 0);
    assert_int_equal(catalog_app_delete(c, "a1", err, sizeof(err)), 1);
    assert_int_equal(catalog_app_get(c, "a1", &got, err, sizeof(err)), 1);
    assert_int_equal(catalog_env_list(c, "a1", &env, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_env_free(env, n);
    catalog_class_t *list;
    assert_int_equal(catalog_classes_list(c, "a1", &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_classes_free(list, n);
    assert_int_equal(catalog_usage_list(c, &u, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    catalog_usage_free(u, n);
    assert_int_equal(catalog_env_list(c, "b1", &env, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1); /* the other app keeps its own */
    catalog_env_free(env, n);
    catalog_close(c);
    free(dir);
}

/* A control.db of schema 1 (plain service keys, world-readable) is upgraded. */
static void test_catalog_migration(void **state)
{
    char *dir = new_data_dir();
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE apps(id TEXT PRIMARY KEY NOT NULL, subdomain TEXT UNIQUE,"
                     " service_key TEXT, created_at INTEGER NOT NULL DEFAULT 0);"
                     "CREATE TABLE classes(app_id TEXT NOT NULL, name TEXT NOT NULL, id TEXT,"
                     " class_name TEXT, access_mode TEXT, code TEXT, bytecode BLOB,"
                     " version INTEGER NOT NULL DEFAULT 0, last_deployed_at INTEGER NOT NULL "
                     "DEFAULT 0, error_message TEXT, code_compressed_len INTEGER NOT NULL "
                     "DEFAULT 0, PRIMARY KEY(app_id, name));"
                     "INSERT INTO apps VALUES('default','default','sk_abc',7);"
                     "INSERT INTO classes(app_id,name,id,version) VALUES('default','c','u',3);"
                     "PRAGMA user_version=1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    chmod(path, 0644);
    catalog_t *c = catalog_open(path, err, sizeof(err));
    assert_non_null(c);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    catalog_app_t got;
    assert_int_equal(catalog_app_get(c, "default", &got, err, sizeof(err)), 0);
    /* sha256("sk_abc") */
    assert_string_equal(got.service_key_hash,
                        "7c8d93f8ffb4cdb85b2a4b0c10886a66959da2eb67707b1c54718850a56d158c");
    catalog_app_clear(&got);
    catalog_class_t k;
    assert_int_equal(catalog_class_get(c, "default", "c", &k, err, sizeof(err)), 0);
    assert_int_equal(k.version, 3);
    catalog_class_clear(&k);
    catalog_close(c);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_catalog_env_usage),
        cmocka_unit_test(test_catalog_migration),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
