/* Private to the files of api/ that bind JS objects to an instance (state,
 * storage, txn, sql, timers, websocket): the handle shared by an instance
 * and the JS objects bound to it. */
#ifndef DORM_API_STATE_INT_H
#define DORM_API_STATE_INT_H
#include "state.h"

typedef struct api_handle {
    int refs;          /* the instance (until reset) + one per JS object */
    api_state_t *st;   /* NULL once the instance was reset */
    char *name;        /* a copy of the instance's name (ids outlive instances) */
    size_t name_len;
    char idhex[65];
    struct txn *txn_top;     /* txn.c: the open transaction() calls, newest first */
    struct txn *txn_waiting; /* txn.c: those waiting for one of them to end */
    struct txn *txn_running; /* txn.c: the one whose callback runs now */
    int sync_txns;           /* txn.c: transactionSync() callbacks running */
} api_handle_t;

void api_handle_unref(api_handle_t *h);
/* The live state behind this_val, or NULL with a TypeError pending. */
api_state_t *api_handle_state(JSContext *ctx, JSValueConst this_val, JSClassID cid);
JSValue api_wrap_handle(JSContext *ctx, JSClassID cid, api_handle_t *h);

/* The live state behind a DurableObjectState object (this_val), or NULL
 * with a TypeError pending. */
api_state_t *api_state_from(JSContext *ctx, JSValueConst this_val);

int api_storage_init_context(JSContext *ctx);
void api_storage_free_context(JSContext *ctx);
JSValue api_storage_new(JSContext *ctx, api_handle_t *h);
/* txn.c: the instance is reset; its open transactions are rolled back and
 * dropped. */
void api_storage_reset(JSContext *ctx, api_state_t *st);

#endif
