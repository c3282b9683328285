/* The Web platform a class sees: Request, Response, Headers, URL,
 * URLSearchParams, TextEncoder/TextDecoder, atob/btoa, console,
 * crypto.randomUUID/getRandomValues, structuredClone, queueMicrotask,
 * performance.now. Most of it is JavaScript (the .js files in src/api/web/, compiled to
 * bytecode at build time); the parts that need C (UTF-8, randomness, clocks,
 * logging, structured clone) are native functions handed to that script.
 * Timers live in timers.c; state and storage in state.c/storage.c.
 *
 * Depends on lib/, net/http.h (header and response types), js/codec.h. */
#ifndef DORM_API_WEB_H
#define DORM_API_WEB_H
#include <stddef.h>
#include <stdint.h>
#include <quickjs.h>

#include "../net/http.h"

/* Where console output goes. level: 0 debug, 1 info (log), 2 warn, 3 error.
 * msg is the formatted line (console.log("a", {b:1}) gives "a { b: 1 }"). */
typedef void (*web_log_fn)(void *opaque, int level, const char *msg, size_t len);

typedef struct web web_t; /* per-context state of this module */

/* Installs every global above into ctx. Call once per context, before any
 * class code runs. Returns NULL with an exception pending on failure. */
web_t *web_new(JSContext *ctx, web_log_fn log, void *log_opaque);
/* Releases what web_new made; call before JS_FreeContext(ctx). */
void web_free(web_t *w, JSContext *ctx);

/* new Request(url, {method, headers, body}) as the runtime builds it for an
 * incoming HTTP request. url is absolute ("http://host/_do/x/y?q"). body may
 * be NULL (no body). Returns a new reference or JS_EXCEPTION. */
JSValue web_request_new(web_t *w, JSContext *ctx, const char *method, const char *url,
                        const http_header_t *headers, size_t nheaders,
                        const uint8_t *body, size_t body_len);

/* Reads a value the class returned from fetch(): when it is a Response,
 * fills *out (a new http_response_t: status, statusText, headers in order,
 * body bytes) and returns 0. Otherwise returns -1 with a TypeError pending
 * ("fetch() must return a Response, got ..."). Reading consumes the body as
 * the platform would (a used body cannot be sent). */
int web_response_read(web_t *w, JSContext *ctx, JSValueConst value, http_response_t **out);

/* The bytes of a Uint8Array (or any typed array, or an ArrayBuffer), borrowed
 * until the next call into JS. Returns -1 with an exception pending (a value
 * of another kind). */
int web_get_bytes(JSContext *ctx, JSValueConst v, uint8_t **p, size_t *len);
/* A JS string as UTF-8 appended to out, lone surrogates as U+FFFD. */
int web_string_to_utf8(JSContext *ctx, JSValueConst v, buf_t *out);
/* Like web_response_read, for a Response whose body may be a stream: then
 * *pump is set to a new reference to the prelude's pump object, whose
 * next() gives a promise of the next chunk (a Uint8Array, or null at the
 * end) and cancel(reason) stops it, and *out has the status and headers
 * with an empty body. Otherwise *pump is JS_UNDEFINED and *out is complete.
 * Returns 0, or -1 with an exception pending (then *pump is undefined). */
int web_response_take(web_t *w, JSContext *ctx, JSValueConst value, http_response_t **out,
                      JSValue *pump);

/* Formats an exception value as "Name: message\n    at stack" for logs.
 * Returns a malloc'd string the caller frees. */
char *web_format_error(JSContext *ctx, JSValueConst exc);

#endif
