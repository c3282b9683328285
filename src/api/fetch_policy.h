/* Who outbound fetch() may reach (the SSRF guard). By default a class may
 * connect only to globally routable addresses: loopback, private,
 * link-local (with the cloud metadata address), carrier-grade NAT,
 * multicast, documentation and reserved ranges are refused, for IPv4, IPv6
 * and IPv4 addresses embedded in IPv6 ones. The check runs on the address
 * actually connected to, after DNS and for every redirect, so a name that
 * resolves to loopback is refused like 127.0.0.1 itself. The operator
 * allows more with `dorm serve --allow-fetch HOST|CIDR` (repeatable), and
 * can trust extra CA certificates with `--fetch-ca FILE`.
 *
 * Immutable once the server starts, so every shard reads it without locks.
 * Depends on libc and OpenSSL (to check a CA file) only. */
#ifndef DORM_API_FETCH_POLICY_H
#define DORM_API_FETCH_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../lib/buf.h"

typedef struct api_fetch_policy api_fetch_policy_t;

api_fetch_policy_t *api_fetch_policy_new(void);
void api_fetch_policy_free(api_fetch_policy_t *p);

/* Adds one --allow-fetch rule: a host name as it appears in URLs
 * ("localhost", "api.internal"; "*.internal" for every name under it), an
 * IP address ("127.0.0.1", "::1", "[::1]") or a CIDR range ("10.0.0.0/8",
 * "fd00::/8"). A host name rule allows every address the name resolves to.
 * Returns 0, or -1 with a sentence in err saying what was wrong. */
int api_fetch_policy_allow(api_fetch_policy_t *p, const char *rule, char *err, size_t errlen);

/* Trusts the PEM CA certificates in path as well as the system's store.
 * Returns 0, or -1 with the reason in err (unreadable, or no certificate). */
int api_fetch_policy_add_ca(api_fetch_policy_t *p, const char *path, char *err, size_t errlen);

/* The system bundle plus the extra CAs as one PEM blob, or NULL when no
 * extra CA was added (then the system store is used as is). Borrowed. */
const buf_t *api_fetch_policy_ca_blob(const api_fetch_policy_t *p);

/* Whether a connection to addr (AF_INET or AF_INET6) for a URL whose host
 * is `host` (lowercase, IPv6 without brackets) is allowed. When it is not,
 * why gets the reason: "127.0.0.1 is a loopback address". */
bool api_fetch_policy_check(const api_fetch_policy_t *p, const char *host,
                            const struct sockaddr *addr, char *why, size_t whylen);

/* The kind of a non-public address ("loopback", "private", ...), or NULL
 * when it is globally routable. ip is 4 or 16 bytes in network order. */
const char *api_fetch_address_kind(const uint8_t *ip, size_t len);

#endif
