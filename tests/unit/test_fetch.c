/* Unit tests of the pure parts of outbound fetch(): the SSRF guard
 * (api/fetch_policy.c: which addresses are not public, --allow-fetch rules)
 * and the response-head parser (api/fetch_head.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/fetch_head.h"
#include "api/fetch_policy.h"

static struct sockaddr_storage addr_of(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

/* Whether host/ip may be reached under p; the reason goes to why. */
static bool allowed(const api_fetch_policy_t *p, const char *host, const char *ip, char *why)
{
    struct sockaddr_storage ss = addr_of(ip);
    why[0] = '\0';
    return api_fetch_policy_check(p, host, (struct sockaddr *)&ss, why, 200);
}

static void test_default_refusals(void **state)
{
    static const struct {
        const char *ip;
        const char *why; /* NULL: public */
    } cases[] = {
        {"127.0.0.1", "127.0.0.1 is a loopback address"},
        {"127.255.255.254", "a loopback"},
        {"10.0.0.1", "10.0.0.1 is a private (10.0.0.0/8) address"},
        {"172.16.0.1", "a private (172.16.0.0/12)"},
        {"172.31.255.255", "a private (172.16.0.0/12)"},
        {"192.168.0.10", "a private (192.168.0.0/16)"},
        {"169.254.169.254", "169.254.169.254 is the cloud metadata address"},
        {"169.254.10.1", "a link-local"},
        {"100.64.0.1", "carrier-grade NAT"},
        {"100.127.255.255", "carrier-grade NAT"},
        {"0.0.0.0", "this network"},
        {"224.0.0.251", "a multicast"},
        {"255.255.255.255", "a reserved (240.0.0.0/4)"},
        {"192.0.2.1", "a documentation"},
        {"198.18.0.1", "benchmarking"},
        {"::1", "::1 is a loopback address"},
        {"::", "the unspecified"},
        {"::ffff:127.0.0.1", "::ffff:127.0.0.1 is a loopback address"},
        {"::ffff:10.1.1.1", "a private"},
        {"64:ff9b::a9fe:a9fe", "the cloud metadata"},
        {"2002:7f00:1::", "a loopback"},
        {"fd00:ec2::254", "a unique local"},
        {"fc00::1", "a unique local"},
        {"fe80::1", "a link-local"},
        {"ff02::1", "a multicast"},
        {"2001:db8::1", "a documentation"},
        {"::7f00:1", "IPv4-compatible"},
        /* public */
        {"8.8.8.8", NULL},
        {"1.1.1.1", NULL},
        {"172.32.0.1", NULL},
        {"100.128.0.1", NULL},
        {"169.255.0.1", NULL},
        {"2606:4700:4700::1111", NULL},
        {"::ffff:8.8.4.4", NULL},
        {"2002:808:808::", NULL},
    };
    char why[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ok = allowed(NULL, "example.com", cases[i].ip, why);
        if (cases[i].why == NULL) {
            if (!ok)
                fail_msg("%s should be public, got: %s", cases[i].ip, why);
        } else {
            if (ok)
                fail_msg("%s should be refused", cases[i].ip);
            if (!strstr(why, cases[i].why))
                fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].ip, why, cases[i].why);
        }
    }
}

static void test_allow_rules(void **state)
{
    api_fetch_policy_t *p = api_fetch_policy_new();
    char err[400], why[200];
    assert_int_equal(api_fetch_policy_allow(p, "127.0.0.1", err, sizeof err), 0);
    assert_int_equal(api_fetch_policy_allow(p, " 10.20.0.0/16 ", err, sizeof err), 0);
    assert_int_equal(api_fetch_policy_allow(p, "[::1]", err, sizeof err), 0);
    assert_int_equal(api_fetch_policy_allow(p, "fd00::/8", err, sizeof err), 0);
    assert_int_equal(api_fetch_policy_allow(p, "Internal.Example", err, sizeof err), 0);
    assert_int_equal(api_fetch_policy_allow(p, "*.svc.local", err, sizeof err), 0);

    assert_true(allowed(p, "x", "127.0.0.1", why));
    assert_false(allowed(p, "x", "127.0.0.2", why));
    assert_true(allowed(p, "x", "::ffff:127.0.0.1", why)); /* the mapped form of an allowed address */
    assert_true(allowed(p, "x", "10.20.99.1", why));
    assert_false(allowed(p, "x", "10.21.0.1", why));
    assert_true(allowed(p, "x", "::1", why));
    assert_true(allowed(p, "x", "fd12::3", why));
    assert_false(allowed(p, "x", "fc00::3", why));
    /* A host rule allows whatever the name resolves to, and only that name. */
    assert_true(allowed(p, "internal.example", "192.168.7.7", why));
    assert_false(allowed(p, "other.example", "192.168.7.7", why));
    assert_true(allowed(p, "db.svc.local", "10.99.0.1", why));
    assert_true(allowed(p, "a.b.svc.local", "10.99.0.1", why));
    assert_false(allowed(p, "svc.local", "10.99.0.1", why)); /* *.x matches names under x, not x */
    assert_false(allowed(p, "evilsvc.local", "10.99.0.1", why));
    api_fetch_policy_free(p);
}

static void test_bad_rules(void **state)
{
    api_fetch_policy_t *p = api_fetch_policy_new();
    char err[400];
    static const struct {
        const char *rule, *why;
    } bad[] = {
        {"", "is empty"},
        {"   ", "is empty"},
        {"10.0.0.0/33", "prefix length from 0 to 32"},
        {"::/129", "prefix length from 0 to 128"},
        {"10.0.0.0/", "prefix length"},
        {"10.0.0.0/8x", "prefix length"},
        {"nothost/8", "does not start with an IP address"},
        {"bad host", "neither an address nor a valid host name"},
        {"a..b", "neither an address"},
        {"*.", "neither an address"},
        {"*foo.com", "neither an address"},
        {"http://x", "does not start with an IP address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (api_fetch_policy_allow(p, bad[i].rule, err, sizeof err) != -1)
            fail_msg("\"%s\" should be refused", bad[i].rule);
        if (!strstr(err, bad[i].why) || !strstr(err, "--allow-fetch takes"))
            fail_msg("\"%s\": \"%s\" does not say \"%s\"", bad[i].rule, err, bad[i].why);
    }
    api_fetch_policy_free(p);
}

static void test_ca_file(void **state)
{
    api_fetch_policy_t *p = api_fetch_policy_new();
    char err[400];
    assert_null(api_fetch_policy_ca_blob(p));
    assert_int_equal(api_fetch_policy_add_ca(p, "/nonexistent/ca.pem", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read /nonexistent/ca.pem"));
    char path[] = "/tmp/dorm-test-ca-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    assert_int_equal(api_fetch_policy_add_ca(p, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "holds no PEM certificate"));
    unlink(path);
    assert_null(api_fetch_policy_ca_blob(p));
    api_fetch_policy_free(p);
}

/* ---- response heads ------------------------------------------------------------- */

static int feed(fetch_head_t *h, const char *line)
{
    char err[200];
    return fetch_head_line(h, line, strlen(line), err, sizeof err);
}

static void test_head_basic(void **state)
{
    fetch_head_t h;
    fetch_head_init(&h);
    assert_int_equal(feed(&h, "HTTP/1.1 201 Created Now\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "Content-Type:  text/plain \r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "X-Folded: one\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "   two\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "\tthree\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "Set-Cookie: a=1\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "Set-Cookie: b=2\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "not a header line\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "Bad Name: x\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "Empty:\r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "\r\n"), FETCH_HEAD_DONE);
    assert_int_equal(h.status, 201);
    assert_string_equal(h.reason, "Created Now");
    assert_int_equal(h.nheaders, 5);
    assert_string_equal(h.headers[0].name, "Content-Type");
    assert_string_equal(h.headers[0].value, "text/plain");
    assert_string_equal(h.headers[1].name, "X-Folded");
    assert_string_equal(h.headers[1].value, "one two three");
    assert_string_equal(h.headers[2].value, "a=1");
    assert_string_equal(h.headers[3].value, "b=2");
    assert_string_equal(h.headers[4].name, "Empty");
    assert_string_equal(h.headers[4].value, "");
    fetch_head_deinit(&h);

    /* HTTP/2 as curl writes it: no reason phrase. */
    fetch_head_init(&h);
    assert_int_equal(feed(&h, "HTTP/2 404 \r\n"), FETCH_HEAD_MORE);
    assert_int_equal(feed(&h, "\r\n"), FETCH_HEAD_DONE);
    assert_int_equal(h.status, 404);
    assert_string_equal(h.reason, "");
    fetch_head_deinit(&h);
}

static void test_head_errors(void **state)
{
    fetch_head_t h;
    char err[200];
    static const char *bad_status[] = {"SMTP 200 ok\r\n", "HTTP/1.1 20 x\r\n", "HTTP/1.1 2000 x\r\n",
                                       "HTTP/1.1 abc\r\n", "HTTP/1.1\r\n"};
    for (size_t i = 0; i < sizeof bad_status / sizeof bad_status[0]; i++) {
        fetch_head_init(&h);
        assert_int_equal(fetch_head_line(&h, bad_status[i], strlen(bad_status[i]), err, sizeof err),
                         FETCH_HEAD_ERROR);
        assert_non_null(strstr(err, "status"));
        fetch_head_deinit(&h);
    }
    fetch_head_init(&h);
    feed(&h, "HTTP/1.1 200 OK\r\n");
    assert_int_equal(fetch_head_line(&h, "X: a\0b\r\n", 8, err, sizeof err), FETCH_HEAD_ERROR);
    assert_non_null(strstr(err, "NUL, CR or LF"));
    fetch_head_deinit(&h);

    /* A folded line is checked like any value (found by fuzz_fetch_head). */
    fetch_head_init(&h);
    feed(&h, "HTTP/1.1 200 OK\r\n");
    feed(&h, "X: a\r\n");
    assert_int_equal(fetch_head_line(&h, "  b\0c\r\n", 7, err, sizeof err), FETCH_HEAD_ERROR);
    assert_non_null(strstr(err, "NUL, CR or LF"));
    fetch_head_deinit(&h);

    /* Past 256 KiB of headers the response is refused. */
    fetch_head_init(&h);
    feed(&h, "HTTP/1.1 200 OK\r\n");
    char line[1024];
    memset(line, 'a', sizeof line);
    memcpy(line, "X-Big: ", 7);
    line[1022] = '\r';
    line[1023] = '\n';
    int rc = FETCH_HEAD_MORE;
    for (int i = 0; i < 300 && rc == FETCH_HEAD_MORE; i++)
        rc = fetch_head_line(&h, line, sizeof line, err, sizeof err);
    assert_int_equal(rc, FETCH_HEAD_ERROR);
    assert_non_null(strstr(err, "larger than 256 KiB"));
    fetch_head_deinit(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_refusals), cmocka_unit_test(test_allow_rules),
        cmocka_unit_test(test_bad_rules),        cmocka_unit_test(test_ca_file),
        cmocka_unit_test(test_head_basic),       cmocka_unit_test(test_head_errors),
    };
    return cmocka_run_group_tests_name("fetch", tests, NULL, NULL);
}
