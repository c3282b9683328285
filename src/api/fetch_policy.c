/* The SSRF guard of outbound fetch() (see fetch_policy.h): which addresses
 * are not public, the operator's allow rules, and extra CA certificates.
 * Pure functions over bytes and strings, fuzzed by fuzz_fetch_policy; must
 * not depend on curl, libuv or JS. */
#include "fetch_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../lib/mem.h"
#include "../lib/util.h"

typedef struct cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t ip[16];
    int prefix;
} cidr_t;

struct api_fetch_policy {
    char **hosts; /* exact names, or "*.suffix" */
    size_t nhosts;
    cidr_t *ranges;
    size_t nranges;
    buf_t ca;     /* system bundle + extra CAs, when extras were added */
    bool has_ca;
};

api_fetch_policy_t *api_fetch_policy_new(void)
{
    return xcalloc(1, sizeof(api_fetch_policy_t));
}

void api_fetch_policy_free(api_fetch_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nhosts; i++)
        free(p->hosts[i]);
    free(p->hosts);
    free(p->ranges);
    buf_deinit(&p->ca);
    free(p);
}

/* ---- what is not public ------------------------------------------------------------ */

typedef struct range {
    uint8_t ip[16];
    int prefix;
    const char *kind;
} range_t;

#define V4(a, b, c, d) {a, b, c, d}

static const range_t v4_ranges[] = {
    {V4(0, 0, 0, 0), 8, "a \"this network\" (0.0.0.0/8)"},
    {V4(10, 0, 0, 0), 8, "a private (10.0.0.0/8)"},
    {V4(100, 64, 0, 0), 10, "a carrier-grade NAT (100.64.0.0/10)"},
    {V4(127, 0, 0, 0), 8, "a loopback"},
    {V4(169, 254, 169, 254), 32, "the cloud metadata"},
    {V4(169, 254, 0, 0), 16, "a link-local"},
    {V4(172, 16, 0, 0), 12, "a private (172.16.0.0/12)"},
    {V4(192, 0, 0, 0), 24, "a reserved (192.0.0.0/24)"},
    {V4(192, 0, 2, 0), 24, "a documentation"},
    {V4(192, 88, 99, 0), 24, "a reserved (6to4 relay)"},
    {V4(192, 168, 0, 0), 16, "a private (192.168.0.0/16)"},
    {V4(198, 18, 0, 0), 15, "a benchmarking (198.18.0.0/15)"},
    {V4(198, 51, 100, 0), 24, "a documentation"},
    {V4(203, 0, 113, 0), 24, "a documentation"},
    {V4(224, 0, 0, 0), 4, "a multicast"},
    {V4(240, 0, 0, 0), 4, "a reserved (240.0.0.0/4)"},
};

static const range_t v6_ranges[] = {
    {{0}, 128, "the unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "a loopback"},
    {{0}, 96, "a reserved (IPv4-compatible)"},
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, "a local NAT64"},
    {{0x01, 0x00}, 64, "a discard-only (100::/64)"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "a Teredo"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation"},
    {{0xfc}, 7, "a unique local (private IPv6)"},
    {{0xfe, 0x80}, 10, "a link-local"},
    {{0xfe, 0xc0}, 10, "a site-local"},
    {{0xff}, 8, "a multicast"},
};

static bool prefix_match(const uint8_t *a, const uint8_t *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static const char *v4_kind(const uint8_t *ip)
{
    for (size_t i = 0; i < sizeof v4_ranges / sizeof v4_ranges[0]; i++)
        if (prefix_match(ip, v4_ranges[i].ip, v4_ranges[i].prefix))
            return v4_ranges[i].kind;
    return NULL;
}

/* An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4): the IPv4
 * address, or NULL. */
static const uint8_t *embedded_v4(const uint8_t *ip, uint8_t out[4])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(ip, mapped, 12) == 0 || memcmp(ip, nat64, 12) == 0) {
        memcpy(out, ip + 12, 4);
        return out;
    }
    if (ip[0] == 0x20 && ip[1] == 0x02) { /* 6to4: 2002:AABB:CCDD::/48 */
        memcpy(out, ip + 2, 4);
        return out;
    }
    return NULL;
}

const char *api_fetch_address_kind(const uint8_t *ip, size_t len)
{
    if (len == 4)
        return v4_kind(ip);
    if (len != 16)
        return "an unknown kind of";
    uint8_t v4[4];
    if (embedded_v4(ip, v4)) {
        const char *k = v4_kind(v4);
        return k;
    }
    for (size_t i = 0; i < sizeof v6_ranges / sizeof v6_ranges[0]; i++)
        if (prefix_match(ip, v6_ranges[i].ip, v6_ranges[i].prefix))
            return v6_ranges[i].kind;
    return NULL;
}

/* ---- rules ------------------------------------------------------------------------------- */

static bool parse_ip(const char *s, int *family, uint8_t ip[16])
{
    char tmp[64];
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 >= sizeof tmp)
            return false;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        s = tmp;
    }
    memset(ip, 0, 16);
    if (inet_pton(AF_INET, s, ip) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, ip) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    if (s[0] == '*') {
        if (n < 3 || s[1] != '.')
            return false;
        s += 2;
    }
    bool label_start = true;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (label_start)
                return false;
            label_start = true;
            continue;
        }
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
        label_start = false;
    }
    return !label_start;
}

static int rule_error(char *err, size_t errlen, const char *rule, const char *why)
{
    snprintf(err, errlen,
             "--allow-fetch takes a host name (api.internal, *.internal), an IP address "
             "(127.0.0.1, ::1) or a CIDR range (10.0.0.0/8, fd00::/8); \"%.100s\" %s",
             rule, why);
    return -1;
}

int api_fetch_policy_allow(api_fetch_policy_t *p, const char *rule, char *err, size_t errlen)
{
    char buf[300];
    size_t n = strlen(rule);
    while (n > 0 && isspace((unsigned char)rule[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*rule)) {
        rule++;
        n--;
    }
    if (n == 0)
        return rule_error(err, errlen, rule, "is empty");
    if (n >= sizeof buf)
        return rule_error(err, errlen, rule, "is too long");
    memcpy(buf, rule, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)buf[i]);

    char *slash = strchr(buf, '/');
    int family;
    uint8_t ip[16];
    if (slash) {
        *slash = '\0';
        char *end;
        long prefix = strtol(slash + 1, &end, 10);
        if (!parse_ip(buf, &family, ip))
            return rule_error(err, errlen, rule, "does not start with an IP address");
        int max = family == AF_INET ? 32 : 128;
        if (slash[1] == '\0' || *end || prefix < 0 || prefix > max) {
            char why[80];
            snprintf(why, sizeof why, "needs a prefix length from 0 to %d after the /", max);
            return rule_error(err, errlen, rule, why);
        }
        cidr_t c = {family, {0}, (int)prefix};
        memcpy(c.ip, ip, 16);
        p->ranges = xrealloc(p->ranges, (p->nranges + 1) * sizeof *p->ranges);
        p->ranges[p->nranges++] = c;
        return 0;
    }
    if (parse_ip(buf, &family, ip)) {
        cidr_t c = {family, {0}, family == AF_INET ? 32 : 128};
        memcpy(c.ip, ip, 16);
        p->ranges = xrealloc(p->ranges, (p->nranges + 1) * sizeof *p->ranges);
        p->ranges[p->nranges++] = c;
        return 0;
    }
    if (!valid_host(buf))
        return rule_error(err, errlen, rule, "is neither an address nor a valid host name");
    p->hosts = xrealloc(p->hosts, (p->nhosts + 1) * sizeof *p->hosts);
    p->hosts[p->nhosts++] = xstrdup(buf);
    return 0;
}

static bool host_allowed(const api_fetch_policy_t *p, const char *host)
{
    size_t hl = strlen(host);
    for (size_t i = 0; i < p->nhosts; i++) {
        const char *r = p->hosts[i];
        if (r[0] == '*') {
            size_t sl = strlen(r + 1); /* ".suffix" */
            if (hl > sl && strcasecmp(host + hl - sl, r + 1) == 0)
                return true;
        } else if (strcasecmp(host, r) == 0) {
            return true;
        }
    }
    return false;
}

static bool range_allowed(const api_fetch_policy_t *p, int family, const uint8_t *ip)
{
    for (size_t i = 0; i < p->nranges; i++) {
        const cidr_t *c = &p->ranges[i];
        if (c->family == family && prefix_match(ip, c->ip, c->prefix))
            return true;
    }
    return false;
}

bool api_fetch_policy_check(const api_fetch_policy_t *p, const char *host,
                            const struct sockaddr *addr, char *why, size_t whylen)
{
    uint8_t ip[16];
    size_t len;
    int family = addr->sa_family;
    if (family == AF_INET) {
        memcpy(ip, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        len = 4;
    } else if (family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        len = 16;
    } else {
        snprintf(why, whylen, "the address is neither IPv4 nor IPv6");
        return false;
    }
    if (p && host && host_allowed(p, host))
        return true;
    if (p && range_allowed(p, family, ip))
        return true;
    /* An IPv4-mapped address is allowed by a rule for its IPv4 form. */
    uint8_t v4[4];
    if (p && len == 16 && embedded_v4(ip, v4) && ip[10] == 0xff && range_allowed(p, AF_INET, v4))
        return true;
    const char *kind = api_fetch_address_kind(ip, len);
    if (!kind)
        return true;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family, ip, text, sizeof text);
    snprintf(why, whylen, "%s is %s address", text, kind);
    return false;
}

/* ---- CA certificates ----------------------------------------------------------------------- */

static int count_certs(const buf_t *pem)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    BIO_free(bio);
    ERR_clear_error(); /* the read that ended the loop left "no start line" */
    return n;
}

int api_fetch_policy_add_ca(api_fetch_policy_t *p, const char *path, char *err, size_t errlen)
{
    buf_t extra = BUF_INIT;
    int rc = util_read_file(path, &extra);
    if (rc < 0) {
        snprintf(err, errlen, "--fetch-ca: cannot read %s: %s", path, strerror(-rc));
        buf_deinit(&extra);
        return -1;
    }
    if (extra.len == 0 || count_certs(&extra) == 0) {
        snprintf(err, errlen,
                 "--fetch-ca: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path);
        buf_deinit(&extra);
        return -1;
    }
    if (!p->has_ca) {
        /* Keep trusting the system's store: start from its bundle. */
        const char *sys = getenv("SSL_CERT_FILE");
        if (!sys || !*sys)
            sys = "/etc/ssl/certs/ca-certificates.crt";
        buf_t system = BUF_INIT;
        if (util_read_file(sys, &system) == 0) {
            buf_append(&p->ca, system.data, system.len);
            buf_putc(&p->ca, '\n');
        }
        buf_deinit(&system);
        p->has_ca = true;
    }
    buf_append(&p->ca, extra.data, extra.len);
    buf_putc(&p->ca, '\n');
    buf_deinit(&extra);
    ERR_clear_error();
    return 0;
}

const buf_t *api_fetch_policy_ca_blob(const api_fetch_policy_t *p)
{
    return p && p->has_ca ? &p->ca : NULL;
}
