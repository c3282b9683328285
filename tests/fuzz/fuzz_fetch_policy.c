/* libFuzzer target for the SSRF guard of fetch() (api/fetch_policy.c): the
 * input's lines are --allow-fetch rules, except the last 17 bytes, which are
 * an address to check (a family byte, then 16 bytes). Checks that a refused
 * rule says why, and that a refusal names the address and its kind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fetch_policy.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_fetch_policy: invariant broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 17)
        return 0;
    size_t rules_len = size - 17;
    api_fetch_policy_t *p = api_fetch_policy_new();
    size_t start = 0;
    while (start < rules_len) {
        const uint8_t *nl = memchr(data + start, '\n', rules_len - start);
        size_t end = nl ? (size_t)(nl - data) : rules_len;
        char rule[400];
        size_t n = end - start < sizeof rule - 1 ? end - start : sizeof rule - 1;
        memcpy(rule, data + start, n);
        rule[n] = '\0';
        if (strlen(rule) == n) {
            char err[600] = "";
            if (api_fetch_policy_allow(p, rule, err, sizeof err) != 0)
                check(strstr(err, "--allow-fetch takes") != NULL, "a refused rule says why");
        }
        start = end + 1;
    }
    const uint8_t *a = data + rules_len;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (a[0] & 1) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a + 1, 16);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a + 1, 4);
    }
    char why[200] = "";
    bool ok = api_fetch_policy_check(p, "host.example", (struct sockaddr *)&ss, why, sizeof why);
    check(ok || strstr(why, " address") != NULL, "a refusal names the address and its kind");
    /* Without rules, the verdict is the address's kind alone. */
    char why2[200] = "";
    bool ok2 = api_fetch_policy_check(NULL, "host.example", (struct sockaddr *)&ss, why2, sizeof why2);
    const uint8_t *ip = (a[0] & 1) ? a + 1 : a + 1;
    check(ok2 == (api_fetch_address_kind(ip, (a[0] & 1) ? 16 : 4) == NULL), "the default verdict");
    check(!ok2 || ok, "rules only ever allow more");
    api_fetch_policy_free(p);
    return 0;
}
