/* Unit tests of routing (control/route.c), of the deploy and env checks
 * (control/validate.c) and of the access checks (control/access.c): pure
 * functions over strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "control/access.h"
#include "control/route.h"
#include "control/validate.h"
#include "lib/util.h"

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
    char msg[256], hash[65];
    access_hash_hex("sk_123", 6, hash);
    const char *jwt = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";
    json_t *claims = (json_t *)1;
#define CHECK(mode, auth) access_check(mode, auth, hash, NULL, 0, &claims, msg, sizeof msg)
    assert_true(CHECK(ACCESS_PUBLIC, NULL));
    assert_null(claims);
    assert_false(CHECK(ACCESS_AUTHENTICATED, NULL));
    assert_non_null(strstr(msg, "Bearer"));
    /* without JWT settings: the shape only, and no claims for the class */
    assert_true(CHECK(ACCESS_AUTHENTICATED, jwt));
    assert_null(claims);
    assert_true(CHECK(ACCESS_AUTHENTICATED, "bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"));
    assert_false(CHECK(ACCESS_AUTHENTICATED, "Bearer a.b.c"));
    assert_false(CHECK(ACCESS_AUTHENTICATED, "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0."));
    assert_false(CHECK(ACCESS_AUTHENTICATED, "Basic eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"));
    /* header and payload must be JSON objects */
    assert_false(CHECK(ACCESS_AUTHENTICATED, "Bearer WzFd.eyJzdWIiOiJ1In0.c2ln"));
    assert_false(CHECK(ACCESS_AUTHENTICATED, "Bearer e30.e30.e30.e30"));
    assert_true(CHECK(ACCESS_AUTHENTICATED, "Bearer e30.e30.sig"));
    /* service keys are compared through their hashes */
    assert_true(CHECK(ACCESS_SERVICE_KEY, "Bearer sk_123"));
    assert_true(CHECK(ACCESS_SERVICE_KEY, "Bearer  sk_123 "));
    assert_false(CHECK(ACCESS_SERVICE_KEY, "Bearer sk_124"));
    assert_false(CHECK(ACCESS_SERVICE_KEY, "Bearer sk_1234"));
    assert_false(CHECK(ACCESS_SERVICE_KEY, "Bearer sk_12"));
    assert_false(CHECK(ACCESS_SERVICE_KEY, NULL));
    assert_false(CHECK(ACCESS_SERVICE_KEY, "Bearer "));
    assert_false(CHECK(ACCESS_SERVICE_KEY, jwt));
    assert_false(access_check(ACCESS_SERVICE_KEY, "Bearer sk_123", "not-a-hash", NULL, 0, &claims,
                              msg, sizeof msg));
    /* an app whose JWT settings could not be loaded accepts no token */
    jwt_keyset_t *none = jwt_keyset_new();
    assert_false(access_check(ACCESS_AUTHENTICATED, jwt, hash, none, 0, &claims, msg, sizeof msg));
    jwt_keyset_free(none);
#undef CHECK
    uint8_t h[32];
    util_sha256("tok", 3, h);
    assert_true(access_token_matches("Bearer tok", h));
    assert_false(access_token_matches("Bearer tok2", h));
    assert_false(access_token_matches("tok", h));
    assert_false(access_token_matches(NULL, h));
}

static void test_trusted_headers(void **state)
{
    http_header_t *h = NULL;
    size_t n = 0;
    http_headers_add(&h, &n, "Host", "x");
    http_headers_add(&h, &n, "x-dorm-auth-subject", "forged");
    http_headers_add(&h, &n, "X-Dorm-Auth-Claims", "{\"sub\":\"forged\"}");
    http_headers_add(&h, &n, "X-DORM-AUTH-Other", "y");
    http_headers_add(&h, &n, "X-Dorm-Authx", "kept: the prefix ends with a dash");
    access_set_headers(&h, &n, NULL);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].name, "Host");
    assert_string_equal(h[1].name, "X-Dorm-Authx");
    json_t *claims = json_pack("{s:s, s:s, s:i}", "sub", "user-1", "name", "Ad\xc3\xa9la", "exp", 5);
    http_headers_add(&h, &n, "X-Dorm-Auth-Subject", "forged again");
    access_set_headers(&h, &n, claims);
    assert_int_equal(n, 4);
    assert_string_equal(http_header_get(h, n, ACCESS_HEADER_SUBJECT), "user-1");
    const char *all = http_header_get(h, n, ACCESS_HEADER_CLAIMS);
    assert_non_null(all);
    /* ASCII only: a header value cannot carry raw UTF-8 safely */
    assert_non_null(strstr(all, "\"name\":\"Ad\\u00E9la\""));
    assert_non_null(strstr(all, "\"exp\":5"));
    json_decref(claims);
    /* a subject that is not printable ASCII stays in the claims only */
    claims = json_pack("{s:s}", "sub", "line\nbreak");
    access_set_headers(&h, &n, claims);
    assert_null(http_header_get(h, n, ACCESS_HEADER_SUBJECT));
    assert_non_null(strstr(http_header_get(h, n, ACCESS_HEADER_CLAIMS), "line\\nbreak"));
    json_decref(claims);
    http_headers_free(h, n);
}

static void test_query_param(void **state)
{
    buf_t v = BUF_INIT;
    assert_true(route_query_param("/_api/logs?app_id=a&name=chat-room&follow=1", "name", &v));
    assert_string_equal(buf_cstr(&v), "chat-room");
    assert_true(route_query_param("/_api/logs?app_id=a&name=chat-room&follow=1", "follow", &v));
    assert_string_equal(buf_cstr(&v), "1");
    assert_true(route_query_param("/x?a=%41b+c&b", "a", &v));
    assert_string_equal(buf_cstr(&v), "Ab c");
    assert_true(route_query_param("/x?a=%41b+c&b", "b", &v));
    assert_string_equal(buf_cstr(&v), "");
    assert_false(route_query_param("/x?ab=1", "a", &v));
    assert_false(route_query_param("/x", "a", &v));
    assert_false(route_query_param("/x?a=%4", "a", &v));
    assert_false(route_query_param("/x?a=%zz", "a", &v));
    assert_false(route_query_param("/x#?a=1", "a", &v));
    assert_true(route_query_param("/x?a=1#frag", "a", &v));
    assert_string_equal(buf_cstr(&v), "1");
    buf_deinit(&v);
    route_t r = {.id = BUF_INIT};
    route_parse("/_api/manage_apps", &r);
    assert_int_equal(r.kind, ROUTE_MANAGE_APPS);
    route_parse("/_api/logs?name=x", &r);
    assert_int_equal(r.kind, ROUTE_LOGS);
    route_parse("/metrics", &r);
    assert_int_equal(r.kind, ROUTE_METRICS);
    route_parse("/metricsx", &r);
    assert_int_equal(r.kind, ROUTE_NOT_FOUND);
    buf_deinit(&r.id);
}

static void test_env_keys(void **state)
{
    char msg[300];
    const char *classes[] = {"chat-room", "counter"};
    assert_true(validate_env_key("API_KEY", classes, 2, msg, sizeof msg));
    assert_true(validate_env_key("_X9", classes, 2, msg, sizeof msg));
    assert_true(validate_env_key("CHAT", classes, 2, msg, sizeof msg));
    assert_false(validate_env_key("CHAT_ROOM", classes, 2, msg, sizeof msg));
    assert_non_null(strstr(msg, "binding"));
    assert_non_null(strstr(msg, "chat-room"));
    assert_false(validate_env_key("COUNTER", classes, 2, msg, sizeof msg));
    const char *bad[] = {"", "api_key", "9LIVES", "A-B", "A B", "Ä"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(validate_env_key(bad[i], classes, 2, msg, sizeof msg));
        assert_non_null(strstr(msg, "^[A-Z_][A-Z0-9_]*$"));
    }
    char longkey[200];
    memset(longkey, 'A', 129);
    longkey[129] = 0;
    assert_false(validate_env_key(longkey, classes, 2, msg, sizeof msg));
    char b[64];
    validate_binding("chat-room", b, sizeof b);
    assert_string_equal(b, "CHAT_ROOM");
    validate_binding("a2-b", b, sizeof b);
    assert_string_equal(b, "A2_B");
}

static void test_labels(void **state)
{
    char msg[300];
    assert_true(validate_label("my-app", "app_id", msg, sizeof msg));
    assert_true(validate_label("a1", "app_id", msg, sizeof msg));
    const char *bad[] = {"", "My-App", "1app", "app-", "a_b", "a.b", "a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(validate_label(bad[i], "subdomain", msg, sizeof msg));
        assert_non_null(strstr(msg, "invalid subdomain"));
    }
    char longl[70];
    memset(longl, 'a', 64);
    longl[64] = 0;
    assert_false(validate_label(longl, "app_id", msg, sizeof msg));
    longl[63] = 0;
    assert_true(validate_label(longl, "app_id", msg, sizeof msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_paths), cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_id_length),      cmocka_unit_test(test_host_app),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_access_modes),
        cmocka_unit_test(test_imports),        cmocka_unit_test(test_access_check),
        cmocka_unit_test(test_trusted_headers), cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_env_keys),       cmocka_unit_test(test_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
