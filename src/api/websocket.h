/* WebSockets as a class sees them: WebSocketPair, WebSocket (send, close,
 * accept, readyState, attachments, addEventListener), the hibernation API on
 * DurableObjectState (acceptWebSocket, getWebSockets, getTags,
 * setWebSocketAutoResponse, getWebSocketAutoResponse,
 * getWebSocketAutoResponseTimestamp) and WebSocketRequestResponsePair.
 *
 * A socket accepted by a class is an api_ws_t record. The actor layer owns
 * the records (api_host_t.ws_new allocates them, usually inside a larger
 * struct of its own) and the connection behind them; this module keeps what
 * JS can see and must survive hibernation: state, tags, attachment, the
 * auto-response timestamp. A record's JS object is cached while its
 * instance's JS lives, so the same object is handed out every time; when
 * the instance hibernates or is reset the object is detached (calls on a
 * stale one throw) and a fresh one is made on waking.
 * Depends on lib/, js/codec, quickjs.h and api/host.h. */
#ifndef DORM_API_WEBSOCKET_H
#define DORM_API_WEBSOCKET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <quickjs.h>

#include "host.h"

#define API_WS_MAX_TAGS 10
#define API_WS_MAX_TAG_CHARS 256
#define API_WS_MAX_ATTACHMENT (16u * 1024)
#define API_WS_MAX_MESSAGE (32u << 20)
#define API_WS_MAX_PER_INSTANCE 32768

enum { API_WS_CONNECTING = 0, API_WS_OPEN = 1, API_WS_CLOSING = 2, API_WS_CLOSED = 3 };

struct ws_handle;

struct api_ws {
    api_state_t *owner;      /* the instance; its list holds the record */
    api_ws_t *prev, *next;   /* in owner->sockets */
    int ready_state;
    bool hibernatable;       /* state.acceptWebSocket (true) or ws.accept() (false) */
    bool bound;              /* its client end went out in a 101 answer */
    char *tags[API_WS_MAX_TAGS]; /* UTF-8 */
    int ntags;
    uint8_t *attachment;     /* codec bytes of serializeAttachment(), or NULL */
    size_t attachment_len;
    int64_t auto_response_ms; /* when the auto-response last answered it; 0: never */
    JSValue obj;             /* its JS object while the instance's JS lives */
    JSContext *ctx;          /* obj's context */
    struct ws_handle *handle; /* shared with obj */
};

/* Once per context (after api_state_init_context): the globals and the
 * state methods above. Returns 0 or -1 with an exception pending. */
int api_ws_init_context(JSContext *ctx, JSValueConst state_proto);
/* Before the context is freed. */
void api_ws_free_context(JSContext *ctx);

/* Initializes a record the actor layer allocated, and links it into st. */
void api_ws_init(api_ws_t *ws, api_state_t *st, bool hibernatable);
/* Unlinks the record and frees what this module gave it (detaching its JS
 * object). The actor layer frees the memory afterwards. */
void api_ws_deinit(api_ws_t *ws);
/* Detaches the JS objects of every socket of st (hibernation, reset): the
 * records stay, with their state, tags and attachments. */
void api_ws_detach_all(api_state_t *st);

/* The record whose client end a Response returned by fetch() carries, or
 * NULL when it carries none. On a misuse (a server end, a socket never
 * accepted, one already used) returns NULL with *err set to a message for
 * the log and the 500 answer. */
api_ws_t *api_ws_from_response(JSContext *ctx, JSValueConst response, const char **err);

/* Delivering events. For a hibernatable socket these call the instance's
 * webSocketMessage / webSocketClose / webSocketError handler with the
 * socket's JS object; for a ws.accept() socket they dispatch "message",
 * "close" or "error" events on it. Each returns the handler's result (a
 * promise or a value, a new reference), JS_UNDEFINED when there was nothing
 * to call, or JS_EXCEPTION. */
JSValue api_ws_deliver_message(JSContext *ctx, JSValueConst instance, api_ws_t *ws, bool binary,
                               const uint8_t *data, size_t len);
JSValue api_ws_deliver_close(JSContext *ctx, JSValueConst instance, api_ws_t *ws, int code,
                             const uint8_t *reason, size_t reason_len, bool clean);
JSValue api_ws_deliver_error(JSContext *ctx, JSValueConst instance, api_ws_t *ws,
                             const char *message);

/* The auto-response of st: when a text message equals *req exactly, the
 * runtime answers *res itself. Returns false when none is set. */
bool api_ws_auto_response(const api_state_t *st, const uint8_t **req, size_t *req_len,
                          const uint8_t **res, size_t *res_len);
/* Frees st's auto-response (when the instance itself goes away). */
void api_ws_clear_auto_response(api_state_t *st);

#endif
