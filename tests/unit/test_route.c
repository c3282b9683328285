/* Unit tests of routing (control/route.c) and of the deploy and access
 * checks (control/validate.c): pure functions over strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "control/route.h"
#include "control/validate.h"

static void parse(const char *target, route_t *r)
{
    buf_init(&r->id);
    route_parse(target, r);
}

static void test_instance_paths(void **state)
{
    route_t r;
    parse("/_do/counter/alice", &r);
    assert_int_equal(r.kind, ROUTE_INSTANCE);
    assert_int_equal(r.name_len, 7);
    assert_memory_equal(r.name, "counter", 7);
    assert_string_equal(buf_cstr(&r.id), "alice");
    buf_deinit(&r.id);

    parse("/_do/chat-room/lobby/more/path?x=1#frag", &r);
    assert_int_equal(r.kind, ROUTE_INSTANCE);
    assert_memory_equal(r.name, "chat-room", 9);
    assert_string_equal(buf_cstr(&r.id), "lobby");
    buf_deinit(&r.id);

    parse("/_do/c/a%20b%2Fc?q", &r);
    assert_int_equal(r.kind, ROUTE_INSTANCE);
    assert_string_equal(buf_cstr(&r.id), "a b/c");
    buf_deinit(&r.id);

    parse("/_do/c/%F0%9D%99%95", &r);
    assert_int_equal(r.kind, ROUTE_INSTANCE);
    assert_int_equal(r.id.len, 4);
    buf_deinit(&r.id);
}

static void test_bad_paths(void **state)
{
    const char *cases[] = {"/_do/counter/", "/_do/counter", "/_do/", "/_do//x", "/_do/c//x",
                           "/_do/c/?q=1"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route_t r;
        parse(cases[i], &r);
        assert_int_equal(r.kind, ROUTE_BAD);
        assert_int_equal(r.status, 404);
        assert_non_null(r.message);
        buf_deinit(&r.id);
    }
    route_t r;
    parse("/_do/c/%zz", &r);
    assert_int_equal(r.kind, ROUTE_BAD);
    assert_int_equal(r.status, 400);
    buf_deinit(&r.id);
    parse("/_do/c/ab%4", &r);
    assert_int_equal(r.kind, ROUTE_BAD);
    buf_deinit(&r.id);
    parse("/elsewhere", &r);
    assert_int_equal(r.kind, ROUTE_NOT_FOUND);
    buf_deinit(&r.id);
    parse("/_api/manage_durable_objects", &r);
    assert_int_equal(r.kind, ROUTE_MANAGE_DO);
    buf_deinit(&r.id);
    parse("/_api/manage_durable_objectsX", &r);
    assert_int_equal(r.kind, ROUTE_NOT_FOUND);
    buf_deinit(&r.id);
    parse("/_api/health?x", &r);
    assert_int_equal(r.kind, ROUTE_HEALTH);
    buf_deinit(&r.id);
}

static void test_id_length(void **state)
{
    char target[2100] = "/_do/c/";
    memset(target + 7, 'a', 1024);
    target[7 + 1024] = 0;
    route_t r;
    parse(target, &r);
    assert_int_equal(r.kind, ROUTE_INSTANCE);
    assert_int_equal(r.id.len, 1024);
    buf_deinit(&r.id);
    target[7 + 1024] = 'a';
    target[7 + 1025] = 0;
    parse(target, &r);
    assert_int_equal(r.kind, ROUTE_BAD);
    assert_int_equal(r.status, 414);
    buf_deinit(&r.id);
    /* 1024 bytes after decoding: %41 is one byte */
    strcpy(target, "/_do/c/");
    for (int i = 0; i < 1024; i++)
        strcat(target, i % 2 ? "%41" : "a");
    parse(target, &r);
    assert_int_equal(r.kind, ROUTE_INSTANCE);
    buf_deinit(&r.id);
}

static void test_host_app(void **state)
{
    const char *sub;
    size_t n;
    assert_true(route_host_app("myapp.localhost:8787", "localhost", &sub, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(sub, "myapp", 5);
    assert_true(route_host_app("MyApp.LOCALHOST", "localhost", &sub, &n));
    assert_true(route_host_app("a.example.com.", "example.com", &sub, &n));
    assert_memory_equal(sub, "a", 1);
    assert_false(route_host_app("localhost:8787", "localhost", &sub, &n));
    assert_false(route_host_app("127.0.0.1:8787", "localhost", &sub, &n));
    assert_false(route_host_app("[::1]:8787", "localhost", &sub, &n));
    assert_false(route_host_app("", "localhost", &sub, &n));
    assert_false(route_host_app(NULL, "localhost", &sub, &n));
    assert_false(route_host_app("evil.com", "localhost", &sub, &n));
    assert_false(route_host_app("xlocalhost", "localhost", &sub, &n));
    assert_false(route_host_app(".localhost", "localhost", &sub, &n));
    assert_true(route_host_app("a.b.localhost", "localhost", &sub, &n));
    assert_int_equal(n, 3);
}

static void test_names(void **state)
{
    char msg[512];
    assert_true(validate_name("chat-room", msg, sizeof msg));
    assert_true(validate_name("a1", msg, sizeof msg));
    assert_false(validate_name("Chat", msg, sizeof msg));
    assert_false(validate_name("chat--room", msg, sizeof msg));
    assert_false(validate_name("-chat", msg, sizeof msg));
    assert_false(validate_name("chat-", msg, sizeof msg));
    assert_false(validate_name("1chat", msg, sizeof msg));
    assert_false(validate_name("", msg, sizeof msg));
    assert_false(validate_name("chat_room", msg, sizeof msg));
    assert_non_null(strstr(msg, "kebab-case"));

    char k[64];
    validate_kebab("ChatRoom", k);
    assert_string_equal(k, "chat-room");
    validate_kebab("Counter", k);
    assert_string_equal(k, "counter");
    validate_kebab("HTTPServer", k);
    assert_string_equal(k, "http-server");
    validate_kebab("RateLimiter2", k);
    assert_string_equal(k, "rate-limiter2");
    validate_kebab("MyAPI", k);
    assert_string_equal(k, "my-api");

    assert_true(validate_class_name("ChatRoom", "chat-room", msg, sizeof msg));
    assert_false(validate_class_name("chatRoom", "chat-room", msg, sizeof msg));
    assert_non_null(strstr(msg, "PascalCase"));
    assert_false(validate_class_name("ChatRoom", "chatroom", msg, sizeof msg));
    assert_non_null(strstr(msg, "\"chat-room\""));
    assert_false(validate_class_name("Chat_Room", "chat-room", msg, sizeof msg));
}

static void test_access_modes(void **state)
{
    char msg[256];
    enum actor_access a;
    assert_true(validate_access_mode(NULL, &a, msg, sizeof msg));
    assert_int_equal(a, ACCESS_AUTHENTICATED);
    assert_true(validate_access_mode("public", &a, msg, sizeof msg));
    assert_int_equal(a, ACCESS_PUBLIC);
    assert_true(validate_access_mode("service_key", &a, msg, sizeof msg));
    assert_false(validate_access_mode("open", &a, msg, sizeof msg));
    assert_string_equal(validate_access_str(ACCESS_SERVICE_KEY), "service_key");
}

static void test_imports(void **state)
{
    char msg[512];
#define OK(s) assert_true(validate_imports(s, strlen(s), msg, sizeof msg))
#define BAD(s) assert_false(validate_imports(s, strlen(s), msg, sizeof msg))
    OK("import { DurableObject } from \"cloudflare:workers\";\nexport class A {}");
    OK("import {\n  DurableObject,\n} from 'cloudflare:workers'\nexport class A {}");
    OK("// import x from 'fs'\nexport class A { m() { return 'import y from \"z\"'; } }");
    OK("/* import x from 'fs' */ export class A {}");
    OK("export class A { f() { const importer = 1; return importer; } }");
    OK("export { A as B };\nclass A {}");
    BAD("import fs from 'node:fs';\nexport class A {}");
    assert_non_null(strstr(msg, "node:fs"));
    assert_non_null(strstr(msg, "line 1"));
    BAD("export class A {}\nimport './side-effect';");
    assert_non_null(strstr(msg, "line 2"));
    BAD("export { x } from \"./other\";");
    BAD("import * as z from \"zod\"");
#undef OK
#undef BAD
}

static void test_access_check(void **state)
{
    char msg[256];
    const char *jwt = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";
    assert_true(access_check(ACCESS_PUBLIC, NULL, "k", msg, sizeof msg));
    assert_false(access_check(ACCESS_AUTHENTICATED, NULL, "k", msg, sizeof msg));
    assert_non_null(strstr(msg, "Bearer"));
    assert_true(access_check(ACCESS_AUTHENTICATED, jwt, "k", msg, sizeof msg));
    assert_true(access_check(ACCESS_AUTHENTICATED, "bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln", "k", msg, sizeof msg));
    assert_false(access_check(ACCESS_AUTHENTICATED, "Bearer a.b.c", "k", msg, sizeof msg));
    assert_false(access_check(ACCESS_AUTHENTICATED, "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.", "k", msg, sizeof msg));
    assert_false(access_check(ACCESS_AUTHENTICATED, "Basic eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln", "k", msg, sizeof msg));
    /* header and payload must be JSON objects */
    assert_false(access_check(ACCESS_AUTHENTICATED, "Bearer WzFd.eyJzdWIiOiJ1In0.c2ln", "k", msg, sizeof msg));
    assert_false(access_check(ACCESS_AUTHENTICATED, "Bearer e30.e30.e30.e30", "k", msg, sizeof msg));
    assert_true(access_check(ACCESS_AUTHENTICATED, "Bearer e30.e30.sig", "k", msg, sizeof msg));
    assert_true(access_check(ACCESS_SERVICE_KEY, "Bearer sk_123", "sk_123", msg, sizeof msg));
    assert_false(access_check(ACCESS_SERVICE_KEY, "Bearer sk_124", "sk_123", msg, sizeof msg));
    assert_false(access_check(ACCESS_SERVICE_KEY, "Bearer sk_1234", "sk_123", msg, sizeof msg));
    assert_false(access_check(ACCESS_SERVICE_KEY, NULL, "sk_123", msg, sizeof msg));
    assert_false(access_check(ACCESS_SERVICE_KEY, jwt, "sk_123", msg, sizeof msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_paths), cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_id_length),      cmocka_unit_test(test_host_app),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_access_modes),
        cmocka_unit_test(test_imports),        cmocka_unit_test(test_access_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
