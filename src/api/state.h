/* DurableObjectState (`state` / `this.ctx`), DurableObjectId and the KV
 * storage API (`state.storage`), and the timers, as JS objects bound to an
 * api_state_t. The JS objects may outlive their instance (a class can keep
 * them in module-level variables); after api_state_reset every call on them
 * throws instead of touching freed memory. Depends on lib/, store/, js/,
 * quickjs.h, and api/host.h. */
#ifndef DORM_API_STATE_H
#define DORM_API_STATE_H
#include <quickjs.h>

#include "host.h"

/* Once per context: registers the native classes and the global timer
 * functions (setTimeout, setInterval, clearTimeout, clearInterval). */
int api_state_init_context(JSContext *ctx);

/* Makes the `state` object of an instance (with .id and .storage). Returns a
 * new reference or JS_EXCEPTION. st must stay valid until api_state_reset. */
JSValue api_state_new(JSContext *ctx, api_state_t *st);
/* Before the context is freed: what the state classes keep per context. */
void api_state_free_context(JSContext *ctx);
/* Detaches every JS object from st and cancels its timers. */
void api_state_reset(JSContext *ctx, api_state_t *st);

/* Closes the input gate once more (blockConcurrencyWhile, transaction());
 * the callback that settles it decrements st->blocked and calls
 * st->unblocked. The actor resets an instance whose gate stays closed too
 * long (a callback that never settles), as Cloudflare does after 30 s. */
void api_state_block(api_state_t *st);

/* Storage limits (DESIGN.md 1.8). A value is measured encoded, with the
 * same allowance for the encoding's own bytes as Cloudflare gives its
 * serialization (34 bytes), so that a 128 KiB string or ArrayBuffer fits. */
#define API_MAX_KEY_BYTES (128u * 1024)
#define API_MAX_VALUE_BYTES (128u * 1024)
#define API_VALUE_ENCODING_ALLOWANCE 34u
#define API_MAX_KEYS_PER_CALL 128

/* Timers (timers.c). */
int api_timers_init_context(JSContext *ctx);
void api_timers_cancel_all(api_state_t *st);

#endif
