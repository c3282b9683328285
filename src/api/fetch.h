/* Outbound fetch() for classes, on libcurl's multi interface driven by the
 * shard's libuv loop (sockets through uv_poll, curl's timer through a
 * uv_timer; DNS on curl's threaded resolver), so the loop never blocks.
 *
 * A transfer belongs to the instance whose code started it: its events
 * (the response head, body pieces, the end or an error) enter JS for that
 * instance through host->run_callback, in a later loop turn, so awaiting a
 * fetch lets the instance's other events in (the input gate opens). It dies
 * with the instance (api_fetch_cancel_all on reset or eviction), and keeps
 * it from being idle while it lives. At most API_FETCH_MAX_CONNECTIONS
 * transfers of an instance hold a connection at a time; more wait in line.
 * Every connection is checked against the SSRF guard (fetch_policy.h) on
 * the address actually connected to. Depends on lib/, api/host.h, curl,
 * libuv and quickjs.h; never on actor/. */
#ifndef DORM_API_FETCH_H
#define DORM_API_FETCH_H
#include "host.h"

#define API_FETCH_MAX_CONNECTIONS 6
#define API_FETCH_MAX_PER_INSTANCE 1000

/* Once per process, before the shards start (curl_global_init). */
void api_fetch_global_init(void);
/* Aborts every transfer of st and frees its memory; no event of theirs
 * reaches JS afterwards. Called when the instance is reset or evicted. */
void api_fetch_cancel_all(api_state_t *st);
/* Frees the host's transfer machinery (its uv handles close
 * asynchronously). Call once its instances are gone, before the context. */
void api_fetch_host_deinit(api_host_t *h);

#endif
