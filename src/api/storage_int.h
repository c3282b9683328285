/* Private to api/storage.c and api/txn.c: what the storage object and the
 * transaction object share. */
#ifndef DORM_API_STORAGE_INT_H
#define DORM_API_STORAGE_INT_H
#include <stdbool.h>
#include <quickjs.h>

#include "host.h"

/* storage.c */
/* The live instance behind a storage or transaction object (this_val), or
 * NULL with an exception pending. */
api_state_t *api_storage_state(JSContext *ctx, JSValueConst this_val);
/* A promise settled with v (taken), or rejected with the pending exception
 * when v is JS_EXCEPTION. */
JSValue api_settled(JSContext *ctx, JSValue v);
/* Throws a plain Error (not a TypeError), as Cloudflare does for misuse of
 * transactions. */
JSValue api_throw_error(JSContext *ctx, const char *msg);
/* Throws "storage <what> failed: <err>". */
JSValue api_storage_error(JSContext *ctx, const char *what, const char *err);

/* txn.c */
/* The instance behind a transaction object (see storage.c's use). */
api_state_t *api_txn_state(JSContext *ctx, JSValueConst this_val, bool *is_txn);
JSValue api_storage_transaction(JSContext *ctx, JSValueConst this_val, int argc,
                                JSValueConst *argv);
JSValue api_storage_transaction_sync(JSContext *ctx, JSValueConst this_val, int argc,
                                     JSValueConst *argv);
/* Registers the transaction class; shared: the storage methods it has too. */
int api_txn_init_context(JSContext *ctx, const JSCFunctionListEntry *shared, int nshared);

#endif
