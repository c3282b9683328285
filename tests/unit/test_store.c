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

    catalog_app_t a = {.id = "default", .subdomain = "default", .service_key = "sk1",
                       .created_at = 1700000000123};
    assert_int_equal(catalog_app_put(c, &a, err, sizeof(err)), 0);
    catalog_app_t b = {.id = "beta", .subdomain = "b", .service_key = "sk2", .created_at = 5};
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);
    catalog_app_t clash = {.id = "gamma", .subdomain = "b", .service_key = "x"};
    assert_int_equal(catalog_app_put(c, &clash, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "subdomain 'b'"));
    b.service_key = "sk3"; /* update in place */
    assert_int_equal(catalog_app_put(c, &b, err, sizeof(err)), 0);

    catalog_app_t got;
    assert_int_equal(catalog_app_get(c, "default", &got, err, sizeof(err)), 0);
    assert_string_equal(got.id, "default");
    assert_string_equal(got.subdomain, "default");
    assert_string_equal(got.service_key, "sk1");
    assert_true(got.created_at == 1700000000123);
    catalog_app_clear(&got);
    assert_int_equal(catalog_app_get(c, "missing", &got, err, sizeof(err)), 1);
    catalog_app_t *apps;
    size_t n;
    assert_int_equal(catalog_apps_list(c, &apps, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(apps[0].id, "beta");
    assert_string_equal(apps[0].service_key, "sk3");
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
    assert_int_equal(sqlite3_column_int(q, 0), 1);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
