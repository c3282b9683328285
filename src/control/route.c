/* Request routing (see route.h): pure string functions, no I/O. */
#include "route.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out; returns false on a malformed escape. */
static bool pct_decode(const char *s, size_t n, buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return false;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return false;
            buf_putc(out, h * 16 + l);
            i += 2;
        } else {
            buf_putc(out, (unsigned char)s[i]);
        }
    }
    return true;
}

void route_parse(const char *target, route_t *r)
{
    r->kind = ROUTE_NOT_FOUND;
    r->name = NULL;
    r->name_len = 0;
    r->status = 404;
    r->message = "no such path: Durable Objects are served at /_do/<name>/<instance-id>";
    buf_reset(&r->id);
    size_t plen = strcspn(target, "?#");
    if (plen == strlen("/_api/manage_durable_objects") &&
        strncmp(target, "/_api/manage_durable_objects", plen) == 0) {
        r->kind = ROUTE_MANAGE_DO;
        return;
    }
    static const struct {
        const char *path;
        enum route_kind kind;
    } fixed[] = {
        {"/_api/health", ROUTE_HEALTH},
        {"/_api/manage_apps", ROUTE_MANAGE_APPS},
        {"/_api/logs", ROUTE_LOGS},
        {"/_api/backup", ROUTE_BACKUP},
        {"/_api/restore", ROUTE_RESTORE},
        {"/metrics", ROUTE_METRICS},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (plen == strlen(fixed[i].path) && strncmp(target, fixed[i].path, plen) == 0) {
            r->kind = fixed[i].kind;
            return;
        }
    }
    if (plen < 5 || strncmp(target, "/_do/", 5) != 0)
        return;
    const char *p = target + 5, *end = target + plen;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    r->kind = ROUTE_BAD;
    r->status = 404;
    if (slash == p || p == end) {
        r->message = "missing class name: use /_do/<name>/<instance-id>";
        return;
    }
    r->name = p;
    r->name_len = (size_t)((slash ? slash : end) - p);
    if (!slash || slash + 1 >= end || slash[1] == '/') {
        r->message = "missing instance id: use /_do/<name>/<instance-id>, the id being any "
                     "non-empty string";
        return;
    }
    const char *id = slash + 1;
    const char *id_end = memchr(id, '/', (size_t)(end - id));
    if (!id_end)
        id_end = end;
    if (!pct_decode(id, (size_t)(id_end - id), &r->id)) {
        r->status = 400;
        r->message = "the instance id has a malformed percent-escape";
        return;
    }
    if (r->id.len == 0) {
        r->message = "missing instance id: use /_do/<name>/<instance-id>";
        return;
    }
    if (r->id.len > ROUTE_MAX_ID_BYTES) {
        r->status = 414;
        r->message = "the instance id is longer than 1024 bytes";
        return;
    }
    r->kind = ROUTE_INSTANCE;
    r->status = 200;
    r->message = NULL;
}

static bool is_ip_literal(const char *h, size_t n)
{
    if (n > 0 && h[0] == '[')
        return true;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)h[i]) && h[i] != '.')
            return false;
    return n > 0;
}

bool route_host_app(const char *host, const char *domain, const char **sub, size_t *sub_len)
{
    if (!host || !*host)
        return false;
    size_t n = strlen(host);
    /* Strip the port (not inside an IPv6 literal). */
    if (host[0] == '[') {
        return false;
    }
    const char *colon = memchr(host, ':', n);
    if (colon)
        n = (size_t)(colon - host);
    if (n > 0 && host[n - 1] == '.')
        n--; /* a fully qualified name's trailing dot */
    if (is_ip_literal(host, n))
        return false;
    size_t dl = strlen(domain);
    if (n <= dl + 1 || host[n - dl - 1] != '.' || strncasecmp(host + n - dl, domain, dl) != 0)
        return false;
    *sub = host;
    *sub_len = n - dl - 1;
    return true;
}

bool route_query_param(const char *target, const char *name, buf_t *out)
{
    size_t plen = strcspn(target, "?#");
    if (target[plen] != '?')
        return false;
    const char *q = target + plen + 1;
    const char *end = q + strcspn(q, "#");
    size_t nlen = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0) {
            buf_reset(out);
            const char *v = eq ? eq + 1 : stop;
            for (const char *p = v; p < stop; p++) {
                if (*p == '+') {
                    buf_putc(out, ' ');
                } else if (*p == '%') {
                    if (stop - p < 3)
                        return false;
                    int h = hexval((unsigned char)p[1]), l = hexval((unsigned char)p[2]);
                    if (h < 0 || l < 0)
                        return false;
                    buf_putc(out, h * 16 + l);
                    p += 2;
                } else {
                    buf_putc(out, (unsigned char)*p);
                }
            }
            return true;
        }
        q = amp ? amp + 1 : end;
    }
    return false;
}
