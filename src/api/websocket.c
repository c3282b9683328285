/* WebSocketPair, WebSocket, WebSocketRequestResponsePair and the
 * hibernation methods of DurableObjectState (see websocket.h). What a
 * socket does on the wire is the actor layer's, reached through the host's
 * ws_* callbacks; this file validates what JS asks, keeps the state JS can
 * see, and turns incoming events into handler calls. Must not depend on
 * actor/ or net/. */
#include "websocket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../js/codec.h"
#include "../lib/buf.h"
#include "../lib/mem.h"
#include "../lib/util.h"
#include "state_int.h"
#include "web.h"

/* One JS WebSocket object's view of its socket. A WebSocketPair makes two:
 * the client end (returned in the 101 Response; its peer is the server end)
 * and the server end (which the class accepts). A record's own object, made
 * when an instance wakes, has ws set from the start. */
typedef struct ws_handle {
    int refs;               /* the JS object, and the record while attached */
    api_ws_t *ws;           /* the record once accepted; NULL before, or detached */
    struct ws_handle *peer; /* the client end's server end (a reference) */
    bool client;
    bool detached;          /* its record dropped it: the instance hibernated or was reset */
} ws_handle_t;

typedef struct ws_pair_data {
    char *req, *res;
    size_t req_len, res_len;
} ws_pair_data_t;

/* Per context: the JS half (event listeners and event objects). */
typedef struct ws_ctx {
    JSValue dispatch; /* dispatch(ws, type, init) -> array of results */
} ws_ctx_t;

static JSClassID ws_class_id, pair_class_id, rr_class_id;

static ws_handle_t *handle_new(void)
{
    ws_handle_t *h = xcalloc(1, sizeof *h);
    h->refs = 1;
    return h;
}

static void handle_unref(ws_handle_t *h)
{
    if (!h || --h->refs > 0)
        return;
    handle_unref(h->peer);
    free(h);
}

static void ws_finalizer(JSRuntime *rt, JSValue val)
{
    handle_unref(JS_GetOpaque(val, ws_class_id));
}

static void rr_finalizer(JSRuntime *rt, JSValue val)
{
    ws_pair_data_t *d = JS_GetOpaque(val, rr_class_id);
    if (d) {
        free(d->req);
        free(d->res);
        free(d);
    }
}

static JSClassDef ws_class = {"WebSocket", .finalizer = ws_finalizer};
static JSClassDef pair_class = {"WebSocketPair", .finalizer = NULL};
static JSClassDef rr_class = {"WebSocketRequestResponsePair", .finalizer = rr_finalizer};

static JSValue new_ws_object(JSContext *ctx, ws_handle_t *h)
{
    JSValue o = JS_NewObjectClass(ctx, (int)ws_class_id);
    if (JS_IsException(o)) {
        handle_unref(h);
        return o;
    }
    JS_SetOpaque(o, h);
    return o;
}

/* The record's JS object (a new reference), made and cached on first use. */
static JSValue ws_object(JSContext *ctx, api_ws_t *ws)
{
    if (!JS_IsUndefined(ws->obj))
        return JS_DupValue(ctx, ws->obj);
    ws_handle_t *h = handle_new();
    h->ws = ws;
    h->refs++; /* the record's reference */
    ws->handle = h;
    JSValue o = new_ws_object(ctx, h);
    if (JS_IsException(o)) {
        ws->handle = NULL;
        handle_unref(h);
        return o;
    }
    ws->obj = JS_DupValue(ctx, o);
    ws->ctx = ctx;
    return o;
}

/* Drops the record's JS object: calls on it throw from now on. */
static void ws_detach(api_ws_t *ws)
{
    if (ws->handle) {
        ws->handle->ws = NULL;
        ws->handle->detached = true;
        handle_unref(ws->handle);
        ws->handle = NULL;
    }
    if (!JS_IsUndefined(ws->obj)) {
        JSValue o = ws->obj;
        ws->obj = JS_UNDEFINED;
        JS_FreeValue(ws->ctx, o);
    }
}

/* ---- records ------------------------------------------------------------- */

void api_ws_init(api_ws_t *ws, api_state_t *st, bool hibernatable)
{
    ws->owner = st;
    ws->ready_state = API_WS_OPEN;
    ws->hibernatable = hibernatable;
    ws->obj = JS_UNDEFINED;
    ws->next = st->sockets;
    if (st->sockets)
        st->sockets->prev = ws;
    st->sockets = ws;
    st->nsockets++;
}

void api_ws_deinit(api_ws_t *ws)
{
    ws_detach(ws);
    api_state_t *st = ws->owner;
    if (st) {
        if (ws->prev)
            ws->prev->next = ws->next;
        else
            st->sockets = ws->next;
        if (ws->next)
            ws->next->prev = ws->prev;
        st->nsockets--;
    }
    ws->owner = NULL;
    ws->prev = ws->next = NULL;
    for (int i = 0; i < ws->ntags; i++)
        free(ws->tags[i]);
    ws->ntags = 0;
    free(ws->attachment);
    ws->attachment = NULL;
    ws->attachment_len = 0;
}

void api_ws_detach_all(api_state_t *st)
{
    for (api_ws_t *ws = st->sockets; ws; ws = ws->next)
        ws_detach(ws);
}

bool api_ws_auto_response(const api_state_t *st, const uint8_t **req, size_t *req_len,
                          const uint8_t **res, size_t *res_len)
{
    if (!st->auto_req)
        return false;
    *req = st->auto_req;
    *req_len = st->auto_req_len;
    *res = st->auto_res;
    *res_len = st->auto_res_len;
    return true;
}

void api_ws_clear_auto_response(api_state_t *st)
{
    free(st->auto_req);
    free(st->auto_res);
    st->auto_req = st->auto_res = NULL;
    st->auto_req_len = st->auto_res_len = 0;
}

/* ---- WebSocket ------------------------------------------------------------ */

static ws_handle_t *this_handle(JSContext *ctx, JSValueConst this_val)
{
    ws_handle_t *h = JS_GetOpaque(this_val, ws_class_id);
    if (!h)
        JS_ThrowTypeError(ctx, "Illegal invocation: not a WebSocket");
    return h;
}

/* The open record behind this_val for an operation, or NULL with a TypeError. */
static api_ws_t *this_record(JSContext *ctx, JSValueConst this_val, const char *what)
{
    ws_handle_t *h = this_handle(ctx, this_val);
    if (!h)
        return NULL;
    if (h->client) {
        JS_ThrowTypeError(ctx,
                          "WebSocket %s(): this is the client end of a WebSocketPair; return it "
                          "in the Response and use the other end (pair[1]) in the object",
                          what);
        return NULL;
    }
    if (h->detached) {
        JS_ThrowTypeError(ctx,
                          "WebSocket %s(): this object belongs to an earlier life of the "
                          "Durable Object (it hibernated or was reset); get the socket again "
                          "with state.getWebSockets() or from the handler's argument",
                          what);
        return NULL;
    }
    if (!h->ws) {
        JS_ThrowTypeError(ctx,
                          "WebSocket %s(): call state.acceptWebSocket(ws) or ws.accept() "
                          "first",
                          what);
        return NULL;
    }
    return h->ws;
}

static api_host_t *host_of(JSContext *ctx)
{
    return api_host(ctx);
}

static JSValue ws_send(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_ws_t *ws = this_record(ctx, this_val, "send");
    if (!ws)
        return JS_EXCEPTION;
    if (ws->ready_state >= API_WS_CLOSING)
        return JS_ThrowTypeError(ctx, "Can't call WebSocket send() after close(): the socket "
                                      "is closing or closed");
    if (argc < 1)
        return JS_ThrowTypeError(ctx, "WebSocket send(): 1 argument required");
    buf_t b = BUF_INIT;
    bool binary;
    uint8_t *p = NULL;
    size_t len = 0;
    if (JS_IsString(argv[0])) {
        if (web_string_to_utf8(ctx, argv[0], &b) < 0)
            return JS_EXCEPTION;
        p = b.data;
        len = b.len;
        binary = false;
    } else if (JS_IsObject(argv[0]) && web_get_bytes(ctx, argv[0], &p, &len) == 0) {
        binary = true;
    } else {
        if (JS_HasException(ctx))
            JS_FreeValue(ctx, JS_GetException(ctx));
        return JS_ThrowTypeError(ctx, "WebSocket send() takes a string, an ArrayBuffer or an "
                                      "ArrayBufferView (such as a Uint8Array)");
    }
    if (len > API_WS_MAX_MESSAGE) {
        buf_deinit(&b);
        return JS_ThrowRangeError(ctx,
                                  "WebSocket send(): the message is %zu bytes; the limit is "
                                  "%u (32 MiB)",
                                  len, API_WS_MAX_MESSAGE);
    }
    api_host_t *host = host_of(ctx);
    if (host->ws_send)
        host->ws_send(host, ws, binary, p ? p : (const uint8_t *)"", len);
    buf_deinit(&b);
    return JS_UNDEFINED;
}

static bool close_code_allowed(int32_t code)
{
    return code >= 1000 && code <= 4999 && code != 1004 && code != 1005 && code != 1006 &&
           code != 1015 && !(code >= 1016 && code <= 2999);
}

static JSValue ws_close(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_ws_t *ws = this_record(ctx, this_val, "close");
    if (!ws)
        return JS_EXCEPTION;
    int32_t code = 0;
    if (argc > 0 && !JS_IsUndefined(argv[0])) {
        if (JS_ToInt32(ctx, &code, argv[0]) < 0)
            return JS_EXCEPTION;
        if (!close_code_allowed(code))
            return JS_ThrowTypeError(ctx,
                                     "WebSocket close(): %d is not a code that may be sent; use "
                                     "1000 (normal), 1001, 1003, 1007-1014, or 3000-4999",
                                     code);
    }
    buf_t reason = BUF_INIT;
    if (argc > 1 && !JS_IsUndefined(argv[1])) {
        JSValue s = JS_ToString(ctx, argv[1]);
        if (JS_IsException(s))
            return s;
        int rc = web_string_to_utf8(ctx, s, &reason);
        JS_FreeValue(ctx, s);
        if (rc < 0)
            return JS_EXCEPTION;
        if (reason.len > 123) {
            size_t n = reason.len;
            buf_deinit(&reason);
            return JS_ThrowTypeError(ctx,
                                     "WebSocket close(): the reason is %zu bytes of UTF-8; the "
                                     "limit is 123",
                                     n);
        }
        if (reason.len && !code)
            code = 1000; /* a reason needs a code */
    }
    if (ws->ready_state >= API_WS_CLOSING) {
        buf_deinit(&reason); /* closing twice is a no-op */
        return JS_UNDEFINED;
    }
    ws->ready_state = API_WS_CLOSING;
    api_host_t *host = host_of(ctx);
    if (host->ws_close)
        host->ws_close(host, ws, code, (const char *)reason.data, reason.len);
    buf_deinit(&reason);
    return JS_UNDEFINED;
}

/* Makes the record for the server end behind this handle. */
static api_ws_t *accept_handle(JSContext *ctx, JSValueConst obj, ws_handle_t *h,
                               api_state_t *st, bool hibernatable, const char *what)
{
    if (h->client) {
        JS_ThrowTypeError(ctx,
                          "%s: this is the client end of the WebSocketPair (pair[0]), which goes "
                          "in the Response; accept the server end (pair[1])",
                          what);
        return NULL;
    }
    if (h->ws || h->detached) {
        JS_ThrowTypeError(ctx, "%s: this WebSocket was already accepted", what);
        return NULL;
    }
    api_host_t *host = host_of(ctx);
    size_t max = host->ws_max_sockets ? host->ws_max_sockets : API_WS_MAX_PER_INSTANCE;
    if (st->nsockets >= max) {
        JS_ThrowRangeError(ctx,
                           "%s: this Durable Object already has %zu WebSockets, the most one "
                           "instance may hold",
                           what, max);
        return NULL;
    }
    if (!host->ws_new) {
        JS_ThrowTypeError(ctx, "%s: WebSockets are not available here", what);
        return NULL;
    }
    api_ws_t *ws = host->ws_new(host, st, hibernatable);
    h->ws = ws;
    h->refs++;
    ws->handle = h;
    ws->obj = JS_DupValue(ctx, obj);
    ws->ctx = ctx;
    return ws;
}

static JSValue ws_accept(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    ws_handle_t *h = this_handle(ctx, this_val);
    if (!h)
        return JS_EXCEPTION;
    api_host_t *host = host_of(ctx);
    if (!host->current)
        return JS_ThrowTypeError(ctx, "WebSocket accept() must be called while a Durable "
                                      "Object handles an event");
    if (!accept_handle(ctx, this_val, h, host->current, false, "WebSocket accept()"))
        return JS_EXCEPTION;
    return JS_UNDEFINED;
}

static JSValue ws_serialize_attachment(JSContext *ctx, JSValueConst this_val, int argc,
                                       JSValueConst *argv)
{
    api_ws_t *ws = this_record(ctx, this_val, "serializeAttachment");
    if (!ws)
        return JS_EXCEPTION;
    buf_t b = BUF_INIT;
    if (codec_encode(ctx, argc > 0 ? argv[0] : JS_UNDEFINED, &b) < 0)
        return JS_EXCEPTION;
    if (b.len > API_WS_MAX_ATTACHMENT) {
        size_t n = b.len;
        buf_deinit(&b);
        return JS_ThrowRangeError(ctx,
                                  "serializeAttachment(): the value is %zu bytes serialized; "
                                  "the limit is %u (16 KiB)",
                                  n, API_WS_MAX_ATTACHMENT);
    }
    free(ws->attachment);
    ws->attachment = buf_steal(&b, &ws->attachment_len);
    return JS_UNDEFINED;
}

static JSValue ws_deserialize_attachment(JSContext *ctx, JSValueConst this_val, int argc,
                                         JSValueConst *argv)
{
    api_ws_t *ws = this_record(ctx, this_val, "deserializeAttachment");
    if (!ws)
        return JS_EXCEPTION;
    if (!ws->attachment)
        return JS_NULL;
    return codec_decode(ctx, ws->attachment, ws->attachment_len);
}

static JSValue ws_ready_state(JSContext *ctx, JSValueConst this_val)
{
    ws_handle_t *h = this_handle(ctx, this_val);
    if (!h)
        return JS_EXCEPTION;
    if (h->client) {
        api_ws_t *peer = h->peer ? h->peer->ws : NULL;
        return JS_NewInt32(ctx, peer ? peer->ready_state : API_WS_OPEN);
    }
    if (h->ws)
        return JS_NewInt32(ctx, h->ws->ready_state);
    return JS_NewInt32(ctx, h->detached ? API_WS_CLOSED : API_WS_OPEN);
}

static JSValue ws_null_getter(JSContext *ctx, JSValueConst this_val)
{
    if (!this_handle(ctx, this_val))
        return JS_EXCEPTION;
    return JS_NULL;
}

static JSValue ws_empty_getter(JSContext *ctx, JSValueConst this_val)
{
    if (!this_handle(ctx, this_val))
        return JS_EXCEPTION;
    return JS_NewString(ctx, "");
}

static JSValue ws_binary_type(JSContext *ctx, JSValueConst this_val)
{
    if (!this_handle(ctx, this_val))
        return JS_EXCEPTION;
    return JS_NewString(ctx, "arraybuffer");
}

static JSValue ws_ctor(JSContext *ctx, JSValueConst new_target, int argc, JSValueConst *argv)
{
    return JS_ThrowTypeError(ctx, "new WebSocket(url): outbound WebSocket connections are not "
                                  "supported; a Durable Object accepts WebSockets with "
                                  "new WebSocketPair()");
}

static const JSCFunctionListEntry ws_proto_funcs[] = {
    JS_CFUNC_DEF("send", 1, ws_send),
    JS_CFUNC_DEF("close", 2, ws_close),
    JS_CFUNC_DEF("accept", 0, ws_accept),
    JS_CFUNC_DEF("serializeAttachment", 1, ws_serialize_attachment),
    JS_CFUNC_DEF("deserializeAttachment", 0, ws_deserialize_attachment),
    JS_CGETSET_DEF("readyState", ws_ready_state, NULL),
    JS_CGETSET_DEF("url", ws_null_getter, NULL),
    JS_CGETSET_DEF("protocol", ws_empty_getter, NULL),
    JS_CGETSET_DEF("extensions", ws_empty_getter, NULL),
    JS_CGETSET_DEF("binaryType", ws_binary_type, NULL),
    JS_PROP_INT32_DEF("CONNECTING", API_WS_CONNECTING, 0),
    JS_PROP_INT32_DEF("OPEN", API_WS_OPEN, 0),
    JS_PROP_INT32_DEF("CLOSING", API_WS_CLOSING, 0),
    JS_PROP_INT32_DEF("CLOSED", API_WS_CLOSED, 0),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "WebSocket", JS_PROP_CONFIGURABLE),
};

static const JSCFunctionListEntry ws_static_funcs[] = {
    JS_PROP_INT32_DEF("CONNECTING", API_WS_CONNECTING, 0),
    JS_PROP_INT32_DEF("OPEN", API_WS_OPEN, 0),
    JS_PROP_INT32_DEF("CLOSING", API_WS_CLOSING, 0),
    JS_PROP_INT32_DEF("CLOSED", API_WS_CLOSED, 0),
};

/* ---- WebSocketPair ----------------------------------------------------------- */

static JSValue pair_ctor(JSContext *ctx, JSValueConst new_target, int argc, JSValueConst *argv)
{
    if (JS_IsUndefined(new_target))
        return JS_ThrowTypeError(ctx, "WebSocketPair must be called with new");
    JSValue proto = JS_GetPropertyStr(ctx, new_target, "prototype");
    JSValue pair = JS_NewObjectProtoClass(ctx, proto, (int)pair_class_id);
    JS_FreeValue(ctx, proto);
    if (JS_IsException(pair))
        return pair;
    ws_handle_t *server = handle_new();
    ws_handle_t *client = handle_new();
    client->client = true;
    client->peer = server;
    server->refs++;
    JSValue s = new_ws_object(ctx, server);
    JSValue c = new_ws_object(ctx, client);
    if (JS_IsException(s) || JS_IsException(c)) {
        JS_FreeValue(ctx, s);
        JS_FreeValue(ctx, c);
        JS_FreeValue(ctx, pair);
        return JS_EXCEPTION;
    }
    JS_DefinePropertyValueUint32(ctx, pair, 0, c, JS_PROP_ENUMERABLE);
    JS_DefinePropertyValueUint32(ctx, pair, 1, s, JS_PROP_ENUMERABLE);
    return pair;
}

/* ---- WebSocketRequestResponsePair ------------------------------------------------- */

#define MAX_AUTO_RESPONSE_CHARS 2048

static int string_arg(JSContext *ctx, JSValueConst v, const char *what, char **out,
                      size_t *len)
{
    if (!JS_IsString(v)) {
        JS_ThrowTypeError(ctx, "WebSocketRequestResponsePair: %s must be a string", what);
        return -1;
    }
    JSValue lv = JS_GetPropertyStr(ctx, v, "length");
    int32_t chars = 0;
    JS_ToInt32(ctx, &chars, lv);
    JS_FreeValue(ctx, lv);
    if (chars > MAX_AUTO_RESPONSE_CHARS) {
        JS_ThrowRangeError(ctx,
                           "WebSocketRequestResponsePair: %s is %d characters; the limit is %d",
                           what, chars, MAX_AUTO_RESPONSE_CHARS);
        return -1;
    }
    buf_t b = BUF_INIT;
    if (web_string_to_utf8(ctx, v, &b) < 0)
        return -1;
    buf_putc(&b, 0);
    *out = (char *)buf_steal(&b, len);
    (*len)--;
    return 0;
}

static JSValue rr_ctor(JSContext *ctx, JSValueConst new_target, int argc, JSValueConst *argv)
{
    if (JS_IsUndefined(new_target))
        return JS_ThrowTypeError(ctx, "WebSocketRequestResponsePair must be called with new");
    if (argc < 2)
        return JS_ThrowTypeError(ctx, "WebSocketRequestResponsePair(request, response): 2 "
                                      "arguments required");
    ws_pair_data_t *d = xcalloc(1, sizeof *d);
    if (string_arg(ctx, argv[0], "request", &d->req, &d->req_len) < 0 ||
        string_arg(ctx, argv[1], "response", &d->res, &d->res_len) < 0) {
        free(d->req);
        free(d);
        return JS_EXCEPTION;
    }
    JSValue proto = JS_GetPropertyStr(ctx, new_target, "prototype");
    JSValue o = JS_NewObjectProtoClass(ctx, proto, (int)rr_class_id);
    JS_FreeValue(ctx, proto);
    if (JS_IsException(o)) {
        free(d->req);
        free(d->res);
        free(d);
        return o;
    }
    JS_SetOpaque(o, d);
    return o;
}

static JSValue rr_get(JSContext *ctx, JSValueConst this_val, int magic)
{
    ws_pair_data_t *d = JS_GetOpaque2(ctx, this_val, rr_class_id);
    if (!d)
        return JS_EXCEPTION;
    return magic ? JS_NewStringLen(ctx, d->res, d->res_len)
                 : JS_NewStringLen(ctx, d->req, d->req_len);
}

static const JSCFunctionListEntry rr_proto_funcs[] = {
    JS_CGETSET_MAGIC_DEF("request", rr_get, NULL, 0),
    JS_CGETSET_MAGIC_DEF("response", rr_get, NULL, 1),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "WebSocketRequestResponsePair",
                       JS_PROP_CONFIGURABLE),
};

/* ---- the hibernation API on DurableObjectState --------------------------------------- */

static JSValue state_accept_websocket(JSContext *ctx, JSValueConst this_val, int argc,
                                      JSValueConst *argv)
{
    api_state_t *st = api_state_from(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    ws_handle_t *h = argc > 0 ? JS_GetOpaque(argv[0], ws_class_id) : NULL;
    if (!h)
        return JS_ThrowTypeError(ctx, "acceptWebSocket(ws, tags?): ws must be a WebSocket (the "
                                      "server end of a WebSocketPair)");
    /* Tags first: a refused call must accept nothing. */
    char *tags[API_WS_MAX_TAGS];
    int ntags = 0;
    if (argc > 1 && !JS_IsUndefined(argv[1])) {
        if (!JS_IsArray(ctx, argv[1]))
            return JS_ThrowTypeError(ctx, "acceptWebSocket(ws, tags): tags must be an array of "
                                          "strings");
        JSValue lv = JS_GetPropertyStr(ctx, argv[1], "length");
        int64_t n = 0;
        JS_ToInt64(ctx, &n, lv);
        JS_FreeValue(ctx, lv);
        if (n > API_WS_MAX_TAGS)
            return JS_ThrowRangeError(ctx,
                                      "acceptWebSocket(): %lld tags given; a WebSocket may have "
                                      "at most %d",
                                      (long long)n, API_WS_MAX_TAGS);
        for (int64_t i = 0; i < n; i++) {
            JSValue t = JS_GetPropertyUint32(ctx, argv[1], (uint32_t)i);
            int32_t chars = -1;
            if (JS_IsString(t)) {
                JSValue tl = JS_GetPropertyStr(ctx, t, "length");
                JS_ToInt32(ctx, &chars, tl);
                JS_FreeValue(ctx, tl);
            }
            buf_t b = BUF_INIT;
            int rc = chars >= 0 && chars <= API_WS_MAX_TAG_CHARS ? web_string_to_utf8(ctx, t, &b)
                                                                 : -1;
            JS_FreeValue(ctx, t);
            if (rc < 0) {
                buf_deinit(&b);
                for (int j = 0; j < ntags; j++)
                    free(tags[j]);
                if (JS_HasException(ctx))
                    return JS_EXCEPTION;
                if (chars < 0)
                    return JS_ThrowTypeError(ctx, "acceptWebSocket(): tag %lld is not a string",
                                             (long long)i);
                return JS_ThrowRangeError(ctx,
                                          "acceptWebSocket(): tag %lld is %d characters; the "
                                          "limit is %d",
                                          (long long)i, chars, API_WS_MAX_TAG_CHARS);
            }
            buf_putc(&b, 0);
            tags[ntags++] = (char *)buf_steal(&b, NULL);
        }
    }
    api_ws_t *ws = accept_handle(ctx, argv[0], h, st, true, "acceptWebSocket()");
    if (!ws) {
        for (int j = 0; j < ntags; j++)
            free(tags[j]);
        return JS_EXCEPTION;
    }
    for (int j = 0; j < ntags; j++)
        ws->tags[j] = tags[j];
    ws->ntags = ntags;
    return JS_UNDEFINED;
}

static bool has_tag(const api_ws_t *ws, const char *tag)
{
    for (int i = 0; i < ws->ntags; i++)
        if (strcmp(ws->tags[i], tag) == 0)
            return true;
    return false;
}

static JSValue state_get_websockets(JSContext *ctx, JSValueConst this_val, int argc,
                                    JSValueConst *argv)
{
    api_state_t *st = api_state_from(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    char *tag = NULL;
    if (argc > 0 && !JS_IsUndefined(argv[0]) && !JS_IsNull(argv[0])) {
        buf_t b = BUF_INIT;
        JSValue s = JS_ToString(ctx, argv[0]);
        if (JS_IsException(s))
            return s;
        int rc = web_string_to_utf8(ctx, s, &b);
        JS_FreeValue(ctx, s);
        if (rc < 0)
            return JS_EXCEPTION;
        buf_putc(&b, 0);
        tag = (char *)buf_steal(&b, NULL);
    }
    JSValue arr = JS_NewArray(ctx);
    if (JS_IsException(arr)) {
        free(tag);
        return arr;
    }
    /* The list is newest first: hand them out oldest first, the order they
     * were accepted in. */
    api_ws_t *last = st->sockets;
    while (last && last->next)
        last = last->next;
    uint32_t i = 0;
    for (api_ws_t *ws = last; ws; ws = ws->prev) {
        if (!ws->hibernatable || ws->ready_state == API_WS_CLOSED || (tag && !has_tag(ws, tag)))
            continue;
        JSValue o = ws_object(ctx, ws);
        if (JS_IsException(o)) {
            free(tag);
            JS_FreeValue(ctx, arr);
            return o;
        }
        JS_DefinePropertyValueUint32(ctx, arr, i++, o, JS_PROP_C_W_E);
    }
    free(tag);
    return arr;
}

/* The record of a WebSocket argument that belongs to st. */
static api_ws_t *arg_record(JSContext *ctx, api_state_t *st, JSValueConst v, const char *what)
{
    ws_handle_t *h = JS_GetOpaque(v, ws_class_id);
    if (!h) {
        JS_ThrowTypeError(ctx, "%s: the argument must be a WebSocket", what);
        return NULL;
    }
    if (!h->ws || h->ws->owner != st || !h->ws->hibernatable) {
        JS_ThrowTypeError(ctx, "%s: this WebSocket was not accepted by this Durable Object "
                               "with state.acceptWebSocket()",
                          what);
        return NULL;
    }
    return h->ws;
}

static JSValue state_get_tags(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_state_from(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    api_ws_t *ws = arg_record(ctx, st, argc > 0 ? argv[0] : JS_UNDEFINED, "getTags(ws)");
    if (!ws)
        return JS_EXCEPTION;
    JSValue arr = JS_NewArray(ctx);
    for (int i = 0; i < ws->ntags; i++)
        JS_DefinePropertyValueUint32(ctx, arr, (uint32_t)i, JS_NewString(ctx, ws->tags[i]),
                                     JS_PROP_C_W_E);
    return arr;
}

static JSValue state_set_auto_response(JSContext *ctx, JSValueConst this_val, int argc,
                                       JSValueConst *argv)
{
    api_state_t *st = api_state_from(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1 || JS_IsUndefined(argv[0]) || JS_IsNull(argv[0])) {
        api_ws_clear_auto_response(st);
        return JS_UNDEFINED;
    }
    ws_pair_data_t *d = JS_GetOpaque(argv[0], rr_class_id);
    if (!d)
        return JS_ThrowTypeError(ctx, "setWebSocketAutoResponse(pair): pair must be a "
                                      "WebSocketRequestResponsePair(request, response)");
    api_ws_clear_auto_response(st);
    st->auto_req = xmemdup(d->req, d->req_len + 1);
    st->auto_req_len = d->req_len;
    st->auto_res = xmemdup(d->res, d->res_len + 1);
    st->auto_res_len = d->res_len;
    return JS_UNDEFINED;
}

static JSValue state_get_auto_response(JSContext *ctx, JSValueConst this_val, int argc,
                                       JSValueConst *argv)
{
    api_state_t *st = api_state_from(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (!st->auto_req)
        return JS_NULL;
    JSValue o = JS_NewObjectClass(ctx, (int)rr_class_id);
    if (JS_IsException(o))
        return o;
    ws_pair_data_t *d = xcalloc(1, sizeof *d);
    d->req = xmemdup(st->auto_req, st->auto_req_len + 1);
    d->req_len = st->auto_req_len;
    d->res = xmemdup(st->auto_res, st->auto_res_len + 1);
    d->res_len = st->auto_res_len;
    JS_SetOpaque(o, d);
    return o;
}

static JSValue state_get_auto_response_ts(JSContext *ctx, JSValueConst this_val, int argc,
                                          JSValueConst *argv)
{
    api_state_t *st = api_state_from(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    api_ws_t *ws = arg_record(ctx, st, argc > 0 ? argv[0] : JS_UNDEFINED,
                              "getWebSocketAutoResponseTimestamp(ws)");
    if (!ws)
        return JS_EXCEPTION;
    if (!ws->auto_response_ms)
        return JS_NULL;
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue date = JS_GetPropertyStr(ctx, global, "Date");
    JSValue ms = JS_NewFloat64(ctx, (double)ws->auto_response_ms);
    JSValue d = JS_CallConstructor(ctx, date, 1, (JSValueConst *)&ms);
    JS_FreeValue(ctx, date);
    JS_FreeValue(ctx, global);
    return d;
}

static const JSCFunctionListEntry state_ws_funcs[] = {
    JS_CFUNC_DEF("acceptWebSocket", 2, state_accept_websocket),
    JS_CFUNC_DEF("getWebSockets", 1, state_get_websockets),
    JS_CFUNC_DEF("getTags", 1, state_get_tags),
    JS_CFUNC_DEF("setWebSocketAutoResponse", 1, state_set_auto_response),
    JS_CFUNC_DEF("getWebSocketAutoResponse", 0, state_get_auto_response),
    JS_CFUNC_DEF("getWebSocketAutoResponseTimestamp", 1, state_get_auto_response_ts),
};

/* ---- events --------------------------------------------------------------------------- */

/* Event listeners and the event objects, in JS: small, and what JS does best. */
static const char events_src[] =
    "(function (WebSocket) {\n"
    "  'use strict';\n"
    "  const listeners = new WeakMap();\n"
    "  // The events are real Events (instanceof Event), of the classes the\n"
    "  // platform names: MessageEvent {data}, CloseEvent {code, reason,\n"
    "  // wasClean}, ErrorEvent {message, error}.\n"
    "  const Base = typeof Event === 'function' ? Event : class { constructor(type) {\n"
    "    Object.defineProperty(this, 'type', { value: String(type), enumerable: true }); } };\n"
    "  const fields = { MessageEvent: ['data'], CloseEvent: ['code', 'reason', 'wasClean'],\n"
    "                   ErrorEvent: ['message', 'error'] };\n"
    "  const made = {};\n"
    "  for (const name of Object.keys(fields)) {\n"
    "    const keys = fields[name];\n"
    "    const C = { [name]: class extends Base {\n"
    "      constructor(type, init = {}) {\n"
    "        super(type, init);\n"
    "        for (const k of keys) Object.defineProperty(this, k,\n"
    "          { value: init[k] ?? (k === 'code' ? 0 : k === 'wasClean' ? false : k === 'data' || k === 'error' ? null : ''),\n"
    "            enumerable: true });\n"
    "      }\n"
    "    } }[name];\n"
    "    made[name] = C;\n"
    "    if (typeof globalThis[name] !== 'function')\n"
    "      Object.defineProperty(globalThis, name, { value: C, writable: true, configurable: true });\n"
    "  }\n"
    "  const kinds = { message: 'MessageEvent', close: 'CloseEvent', error: 'ErrorEvent' };\n"
    "  function WebSocketEvent(type, init, target) {\n"
    "    const C = made[kinds[type]] ?? made.MessageEvent;\n"
    "    const ev = new C(type, init);\n"
    "    for (const k of ['target', 'currentTarget', 'srcElement'])\n"
    "      Object.defineProperty(ev, k, { value: target, enumerable: true });\n"
    "    return ev;\n"
    "  }\n"
    "  const def = (name, value) => Object.defineProperty(WebSocket.prototype, name,\n"
    "    { value, writable: true, configurable: true, enumerable: false });\n"
    "  def('addEventListener', function addEventListener(type, fn, opts) {\n"
    "    if (fn === null || fn === undefined) return;\n"
    "    if (typeof fn !== 'function' && typeof fn.handleEvent !== 'function')\n"
    "      throw new TypeError('addEventListener: the listener must be a function');\n"
    "    let m = listeners.get(this);\n"
    "    if (!m) listeners.set(this, m = new Map());\n"
    "    let list = m.get(String(type));\n"
    "    if (!list) m.set(String(type), list = []);\n"
    "    if (!list.some((l) => l.fn === fn))\n"
    "      list.push({ fn, once: !!(opts && typeof opts === 'object' && opts.once) });\n"
    "  });\n"
    "  def('removeEventListener', function removeEventListener(type, fn) {\n"
    "    const list = listeners.get(this)?.get(String(type));\n"
    "    if (!list) return;\n"
    "    const i = list.findIndex((l) => l.fn === fn);\n"
    "    if (i >= 0) list.splice(i, 1);\n"
    "  });\n"
    "  return function dispatch(ws, type, init) {\n"
    "    const ev = WebSocketEvent(type, init, ws);\n"
    "    const calls = [];\n"
    "    const on = ws['on' + type];\n"
    "    if (typeof on === 'function') calls.push([on, ws]);\n"
    "    const list = listeners.get(ws)?.get(type);\n"
    "    if (list) for (const l of [...list]) {\n"
    "      if (l.once) list.splice(list.indexOf(l), 1);\n"
    "      calls.push(typeof l.fn === 'function' ? [l.fn, ws] : [l.fn.handleEvent, l.fn]);\n"
    "    }\n"
    "    const results = [];\n"
    "    let failed = false, error;\n"
    "    for (const [fn, self] of calls) {\n"
    "      try { results.push(fn.call(self, ev)); }\n"
    "      catch (e) { if (!failed) { failed = true; error = e; } }\n"
    "    }\n"
    "    if (failed) throw error;\n"
    "    return Promise.all(results);\n"
    "  };\n"
    "})";

static ws_ctx_t *ctx_state(JSContext *ctx)
{
    return host_of(ctx)->ws_ctx;
}

int api_ws_init_context(JSContext *ctx, JSValueConst state_proto)
{
    JS_NewClassID(&ws_class_id);
    JS_NewClassID(&pair_class_id);
    JS_NewClassID(&rr_class_id);
    JSRuntime *rt = JS_GetRuntime(ctx);
    if (JS_NewClass(rt, ws_class_id, &ws_class) < 0 ||
        JS_NewClass(rt, pair_class_id, &pair_class) < 0 ||
        JS_NewClass(rt, rr_class_id, &rr_class) < 0)
        return -1;
    JSValue global = JS_GetGlobalObject(ctx);

    JSValue proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, ws_proto_funcs,
                               sizeof ws_proto_funcs / sizeof ws_proto_funcs[0]);
    JSValue ctor = JS_NewCFunction2(ctx, ws_ctor, "WebSocket", 1, JS_CFUNC_constructor, 0);
    JS_SetPropertyFunctionList(ctx, ctor, ws_static_funcs,
                               sizeof ws_static_funcs / sizeof ws_static_funcs[0]);
    JS_SetConstructor(ctx, ctor, proto);
    JS_SetClassProto(ctx, ws_class_id, JS_DupValue(ctx, proto));
    JS_DefinePropertyValueStr(ctx, global, "WebSocket", JS_DupValue(ctx, ctor),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);

    JSValue pproto = JS_NewObject(ctx);
    JS_DefinePropertyValueStr(ctx, pproto, "length", JS_NewInt32(ctx, 2), 0);
    JSValue pctor =
        JS_NewCFunction2(ctx, pair_ctor, "WebSocketPair", 0, JS_CFUNC_constructor, 0);
    JS_SetConstructor(ctx, pctor, pproto);
    JS_SetClassProto(ctx, pair_class_id, pproto);
    JS_DefinePropertyValueStr(ctx, global, "WebSocketPair", pctor,
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);

    JSValue rproto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, rproto, rr_proto_funcs,
                               sizeof rr_proto_funcs / sizeof rr_proto_funcs[0]);
    JSValue rctor = JS_NewCFunction2(ctx, rr_ctor, "WebSocketRequestResponsePair", 2,
                                     JS_CFUNC_constructor, 0);
    JS_SetConstructor(ctx, rctor, rproto);
    JS_SetClassProto(ctx, rr_class_id, rproto);
    JS_DefinePropertyValueStr(ctx, global, "WebSocketRequestResponsePair", rctor,
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);

    JS_SetPropertyFunctionList(ctx, state_proto, state_ws_funcs,
                               sizeof state_ws_funcs / sizeof state_ws_funcs[0]);

    JSValue fn = JS_Eval(ctx, events_src, sizeof events_src - 1, "<websocket>",
                         JS_EVAL_TYPE_GLOBAL);
    JSValue dispatch = JS_IsException(fn) ? JS_EXCEPTION : JS_Call(ctx, fn, JS_UNDEFINED, 1,
                                                                   (JSValueConst *)&ctor);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, ctor);
    JS_FreeValue(ctx, proto);
    JS_FreeValue(ctx, global);
    if (JS_IsException(dispatch))
        return -1;
    api_host_t *host = host_of(ctx);
    ws_ctx_t *wc = xcalloc(1, sizeof *wc);
    wc->dispatch = dispatch;
    host->ws_ctx = wc;
    return 0;
}

void api_ws_free_context(JSContext *ctx)
{
    api_host_t *host = host_of(ctx);
    ws_ctx_t *wc = host ? host->ws_ctx : NULL;
    if (!wc)
        return;
    JS_FreeValue(ctx, wc->dispatch);
    free(wc);
    host->ws_ctx = NULL;
}

/* Calls instance[method](args) if it exists; JS_UNDEFINED otherwise, or a
 * TypeError when the method is required. */
static JSValue call_handler(JSContext *ctx, JSValueConst instance, const char *method, int argc,
                            JSValueConst *argv, bool required)
{
    JSValue fn = JS_GetPropertyStr(ctx, instance, method);
    if (JS_IsException(fn))
        return fn;
    if (!JS_IsFunction(ctx, fn)) {
        JS_FreeValue(ctx, fn);
        if (!required)
            return JS_UNDEFINED;
        return JS_ThrowTypeError(ctx,
                                 "a WebSocket accepted with state.acceptWebSocket() got a "
                                 "message, but the class has no %s(ws, message) method",
                                 method);
    }
    JSValue r = JS_Call(ctx, fn, instance, argc, argv);
    JS_FreeValue(ctx, fn);
    return r;
}

static JSValue dispatch_event(JSContext *ctx, JSValueConst wsobj, const char *type,
                              JSValue init)
{
    ws_ctx_t *wc = ctx_state(ctx);
    if (JS_IsException(init))
        return init;
    JSValue args[3] = {JS_DupValue(ctx, wsobj), JS_NewString(ctx, type), init};
    JSValue r = JS_Call(ctx, wc->dispatch, JS_UNDEFINED, 3, (JSValueConst *)args);
    for (int i = 0; i < 3; i++)
        JS_FreeValue(ctx, args[i]);
    return r;
}

JSValue api_ws_deliver_message(JSContext *ctx, JSValueConst instance, api_ws_t *ws, bool binary,
                               const uint8_t *data, size_t len)
{
    JSValue wsobj = ws_object(ctx, ws);
    if (JS_IsException(wsobj))
        return wsobj;
    JSValue msg = binary ? JS_NewArrayBufferCopy(ctx, data, len)
                         : JS_NewStringLen(ctx, (const char *)data, len);
    JSValue r;
    if (JS_IsException(msg)) {
        r = msg;
    } else if (ws->hibernatable) {
        JSValue args[2] = {wsobj, msg};
        r = call_handler(ctx, instance, "webSocketMessage", 2, (JSValueConst *)args, true);
        JS_FreeValue(ctx, msg);
    } else {
        JSValue init = JS_NewObject(ctx);
        JS_DefinePropertyValueStr(ctx, init, "data", msg, JS_PROP_C_W_E);
        r = dispatch_event(ctx, wsobj, "message", init);
    }
    JS_FreeValue(ctx, wsobj);
    return r;
}

JSValue api_ws_deliver_close(JSContext *ctx, JSValueConst instance, api_ws_t *ws, int code,
                             const uint8_t *reason, size_t reason_len, bool clean)
{
    JSValue wsobj = ws_object(ctx, ws);
    if (JS_IsException(wsobj))
        return wsobj;
    JSValue rs = JS_NewStringLen(ctx, reason ? (const char *)reason : "", reason_len);
    JSValue r;
    if (ws->hibernatable) {
        JSValue args[4] = {wsobj, JS_NewInt32(ctx, code), rs, JS_NewBool(ctx, clean)};
        r = call_handler(ctx, instance, "webSocketClose", 4, (JSValueConst *)args, false);
        JS_FreeValue(ctx, rs);
    } else {
        JSValue init = JS_NewObject(ctx);
        JS_DefinePropertyValueStr(ctx, init, "code", JS_NewInt32(ctx, code), JS_PROP_C_W_E);
        JS_DefinePropertyValueStr(ctx, init, "reason", rs, JS_PROP_C_W_E);
        JS_DefinePropertyValueStr(ctx, init, "wasClean", JS_NewBool(ctx, clean), JS_PROP_C_W_E);
        r = dispatch_event(ctx, wsobj, "close", init);
    }
    JS_FreeValue(ctx, wsobj);
    return r;
}

JSValue api_ws_deliver_error(JSContext *ctx, JSValueConst instance, api_ws_t *ws,
                             const char *message)
{
    JSValue wsobj = ws_object(ctx, ws);
    if (JS_IsException(wsobj))
        return wsobj;
    JSValue err = JS_NewError(ctx);
    JS_DefinePropertyValueStr(ctx, err, "message", JS_NewString(ctx, message),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    JSValue r;
    if (ws->hibernatable) {
        JSValue args[2] = {wsobj, err};
        r = call_handler(ctx, instance, "webSocketError", 2, (JSValueConst *)args, false);
        JS_FreeValue(ctx, err);
    } else {
        JSValue init = JS_NewObject(ctx);
        JS_DefinePropertyValueStr(ctx, init, "message", JS_NewString(ctx, message),
                                  JS_PROP_C_W_E);
        JS_DefinePropertyValueStr(ctx, init, "error", err, JS_PROP_C_W_E);
        r = dispatch_event(ctx, wsobj, "error", init);
    }
    JS_FreeValue(ctx, wsobj);
    return r;
}

/* ---- the Response's webSocket ------------------------------------------------------------- */

api_ws_t *api_ws_from_response(JSContext *ctx, JSValueConst response, const char **err)
{
    *err = NULL;
    JSValue v = JS_GetPropertyStr(ctx, response, "webSocket");
    if (JS_IsException(v)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return NULL;
    }
    if (JS_IsUndefined(v) || JS_IsNull(v))
        return NULL;
    ws_handle_t *h = JS_GetOpaque(v, ws_class_id);
    JS_FreeValue(ctx, v);
    if (!h) {
        *err = "the Response's webSocket is not a WebSocket; pass the client end of a "
               "new WebSocketPair()";
        return NULL;
    }
    if (!h->client) {
        *err = "the Response carries the server end of the WebSocketPair; return the client "
               "end (pair[0]) and accept the server end (pair[1])";
        return NULL;
    }
    api_ws_t *ws = h->peer ? h->peer->ws : NULL;
    if (!ws) {
        *err = "the WebSocket was never accepted: call state.acceptWebSocket(server) or "
               "server.accept() before returning the client end";
        return NULL;
    }
    if (ws->bound) {
        *err = "this WebSocketPair was already returned in a Response";
        return NULL;
    }
    return ws;
}
