/* The transactions of state.storage: transaction() and transactionSync(),
 * the transaction object (its storage methods are storage.c's, plus
 * rollback() and a refused deleteAll()), the stack of an instance's open
 * transactions and the ones waiting to start, and what a reset does to
 * them. Savepoints of the instance's store_kv_t carry them. Must not depend
 * on actor/. */
#include <stdlib.h>
#include <string.h>

#include "../lib/mem.h"
#include "state_int.h"
#include "storage_int.h"

static JSClassID txn_class_id;

/* A transaction's own state, behind its object (the instance's handle is
 * shared with the storage object). Open transactions of an instance form a
 * stack, newest on top (handle->txn_top), as SQLite savepoints nest. A
 * transaction() called from the code of the one on top (its callback, or
 * what the callback awaits) is nested in it; one called beside it (in the
 * same synchronous run that started it, as Promise.all([transaction(a),
 * transaction(b)]) does) waits until it has ended, as on Cloudflare, where
 * each transaction is a critical section. A transaction whose callback has
 * settled ends (its savepoint released or rolled back, its promise
 * settled) once every transaction above it has ended.
 *
 * Owners: the JS object (until its finalizer), and the stack or the list
 * of waiting transactions (until it ends or the instance is reset); the JS
 * values it holds are freed when it leaves them. */
typedef struct txn {
    api_handle_t *h;
    struct txn *below;    /* on the stack: the transaction this one is nested in */
    struct txn *wait_for; /* waiting: it starts once this one has ended */
    struct txn *next_waiting;
    int refs;
    int depth;               /* its savepoint */
    JSValue fn;              /* waiting: the callback */
    JSValue resolve, reject; /* the promise transaction() returned */
    JSValue result;          /* the callback's value or error, once it settled */
    bool on_stack;
    bool waiting;
    bool fresh;       /* it started in the synchronous run that runs now */
    bool settled;     /* the callback's promise settled */
    bool failed;      /* ... by rejecting */
    bool rolled_back; /* txn.rollback() was called */
    bool over;        /* settled: the object no longer works */
} txn_t;

static void txn_unref(txn_t *t)
{
    if (--t->refs == 0) {
        api_handle_unref(t->h);
        free(t);
    }
}

static void txn_finalizer(JSRuntime *rt, JSValue val)
{
    txn_t *t = JS_GetOpaque(val, txn_class_id);
    if (t)
        txn_unref(t);
}

static JSClassDef txn_class = {"DurableObjectTransaction", .finalizer = txn_finalizer};

/* The instance behind a transaction object, or NULL with an exception
 * when the transaction is over or rolled back; *is_txn says whether
 * this_val is one. */
api_state_t *api_txn_state(JSContext *ctx, JSValueConst this_val, bool *is_txn)
{
    txn_t *t = JS_GetOpaque(this_val, txn_class_id);
    *is_txn = t != NULL;
    if (!t)
        return NULL;
    if (t->over) {
        api_throw_error(ctx, "this transaction has already committed or rolled back: its "
                             "object works only inside the callback given to "
                             "transaction(); use the storage object from here on");
        return NULL;
    }
    if (t->rolled_back) {
        api_throw_error(ctx, "this transaction was rolled back: nothing more can be done in it");
        return NULL;
    }
    if (!t->h->st)
        JS_ThrowTypeError(ctx, "this Durable Object instance has been reset; its state and "
                               "storage objects can no longer be used");
    return t->h->st;
}

/* transactionSync(fn): fn runs inside a savepoint; a throw undoes it. */
JSValue api_storage_transaction_sync(JSContext *ctx, JSValueConst this_val, int argc,
                                     JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return JS_EXCEPTION;
    if (argc < 1 || !JS_IsFunction(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "transactionSync() needs a function");
    api_handle_t *h = st->handle;
    char err[256];
    if (store_kv_savepoint(st->kv, err, sizeof err) < 0)
        return api_storage_error(ctx, "transaction", err);
    h->sync_txns++;
    JSValue r = JS_Call(ctx, argv[0], JS_UNDEFINED, 0, NULL);
    h->sync_txns--;
    if (!h->st) { /* the instance was reset meanwhile: its storage went with it */
        JS_FreeValue(ctx, r);
        return api_storage_state(ctx, this_val) ? JS_UNDEFINED : JS_EXCEPTION;
    }
    if (JS_IsException(r)) {
        JSValue e = JS_GetException(ctx);
        store_kv_rollback(st->kv, err, sizeof err);
        return JS_Throw(ctx, e);
    }
    if (store_kv_release(st->kv, err, sizeof err) < 0) {
        JS_FreeValue(ctx, r);
        return api_storage_error(ctx, "transaction", err);
    }
    return r;
}

static JSValue txn_rollback(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    txn_t *t = JS_GetOpaque2(ctx, this_val, txn_class_id);
    if (!t)
        return JS_EXCEPTION;
    if (t->over)
        return api_throw_error(ctx, "this transaction has already committed or rolled back: "
                                    "rollback() works only inside its callback");
    t->rolled_back = true;
    return JS_UNDEFINED;
}

static JSValue txn_delete_all(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return api_throw_error(ctx, "Cannot call deleteAll() within a transaction: call "
                                "storage.deleteAll() outside it");
}

/* Frees what t holds for JS (it is leaving the stack or the waiting list). */
static void txn_release(JSContext *ctx, txn_t *t)
{
    JS_FreeValue(ctx, t->fn);
    JS_FreeValue(ctx, t->resolve);
    JS_FreeValue(ctx, t->reject);
    JS_FreeValue(ctx, t->result);
    t->fn = t->resolve = t->reject = t->result = JS_UNDEFINED;
    txn_unref(t);
}

/* Takes t off the top of the stack. */
static void txn_pop(JSContext *ctx, txn_t *t)
{
    api_handle_t *h = t->h;
    h->txn_top = t->below;
    t->below = NULL;
    t->on_stack = false;
    txn_release(ctx, t);
}

/* Settles the promise of a transaction that ends, with outcome (taken). */
static void txn_settle_promise(JSContext *ctx, txn_t *t, bool ok, JSValue outcome)
{
    JSValue fn = JS_DupValue(ctx, ok ? t->resolve : t->reject);
    JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&outcome);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, outcome);
}

static JSValue txn_settled(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                           int magic, JSValue *data);

/* The synchronous run that started a transaction is over (a microtask
 * queued before its callback ran): from now on a transaction() call comes
 * from code the callback awaited, and is nested in it. data: its object. */
static JSValue txn_marker(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                          int magic, JSValue *data)
{
    txn_t *t = JS_GetOpaque(data[0], txn_class_id);
    if (t)
        t->fresh = false;
    return JS_UNDEFINED;
}

/* p.then(a, b), each a function of magic 0 and 1 with data as its data. */
static void then_data(JSContext *ctx, JSValueConst p, JSCFunctionData *fn, JSValueConst data,
                      bool both)
{
    JSValue fns[2] = {JS_NewCFunctionData(ctx, fn, 1, 0, 1, &data),
                      both ? JS_NewCFunctionData(ctx, fn, 1, 1, 1, &data) : JS_UNDEFINED};
    JSValue then = JS_GetPropertyStr(ctx, p, "then");
    JS_FreeValue(ctx, JS_Call(ctx, then, p, both ? 2 : 1, (JSValueConst *)fns));
    JS_FreeValue(ctx, then);
    JS_FreeValue(ctx, fns[0]);
    JS_FreeValue(ctx, fns[1]);
}

/* A promise resolved with v (taken), or rejected with the pending
 * exception when v is JS_EXCEPTION: Promise.resolve(v). */
static JSValue resolved_with(JSContext *ctx, JSValue v)
{
    JSValue rf[2];
    JSValue p = JS_NewPromiseCapability(ctx, rf);
    if (JS_IsException(v)) {
        JSValue e = JS_GetException(ctx);
        JS_FreeValue(ctx, JS_Call(ctx, rf[1], JS_UNDEFINED, 1, (JSValueConst *)&e));
        JS_FreeValue(ctx, e);
    } else {
        JS_FreeValue(ctx, JS_Call(ctx, rf[0], JS_UNDEFINED, 1, (JSValueConst *)&v));
        JS_FreeValue(ctx, v);
    }
    JS_FreeValue(ctx, rf[0]);
    JS_FreeValue(ctx, rf[1]);
    return p;
}

/* Ends a transaction that never started (its savepoint could not be made,
 * or the instance went away): its promise rejects with the pending error. */
static void txn_fail_start(JSContext *ctx, txn_t *t)
{
    JSValue e = JS_GetException(ctx);
    api_state_t *st = t->h->st;
    txn_settle_promise(ctx, t, false, e);
    txn_release(ctx, t);
    if (st) {
        st->blocked--;
        if (st->unblocked)
            st->unblocked(st);
    }
}

/* Starts t: its savepoint, its object, its callback. */
static void txn_start(JSContext *ctx, txn_t *t)
{
    api_handle_t *h = t->h;
    api_state_t *st = h->st;
    char err[256];
    if (!st) {
        JS_ThrowTypeError(ctx, "this Durable Object instance has been reset; its transaction "
                               "could not start");
        txn_fail_start(ctx, t);
        return;
    }
    if (store_kv_savepoint(st->kv, err, sizeof err) < 0) {
        api_storage_error(ctx, "transaction", err);
        txn_fail_start(ctx, t);
        return;
    }
    JSValue tobj = JS_NewObjectClass(ctx, (int)txn_class_id);
    if (JS_IsException(tobj)) {
        store_kv_rollback(st->kv, err, sizeof err);
        txn_fail_start(ctx, t);
        return;
    }
    JS_SetOpaque(tobj, t);
    t->refs++; /* the object's */
    t->depth = store_kv_savepoint_depth(st->kv) - 1;
    t->on_stack = true;
    t->fresh = true;
    t->below = h->txn_top;
    h->txn_top = t;
    /* Queued before anything the callback queues: it runs once the
     * synchronous run that started the transaction is over. */
    JSValue mark = resolved_with(ctx, JS_UNDEFINED);
    then_data(ctx, mark, txn_marker, tobj, false);
    JS_FreeValue(ctx, mark);
    JSValue fn = t->fn;
    t->fn = JS_UNDEFINED;
    txn_t *running = h->txn_running;
    h->txn_running = t;
    JSValue ret = JS_Call(ctx, fn, JS_UNDEFINED, 1, (JSValueConst *)&tobj);
    h->txn_running = running;
    JS_FreeValue(ctx, fn);
    JSValue cp = resolved_with(ctx, ret);
    then_data(ctx, cp, txn_settled, tobj, true);
    JS_FreeValue(ctx, cp);
    JS_FreeValue(ctx, tobj);
}

/* A transaction() called inside transactionSync() starts now (data: an
 * object that holds it). */
static JSValue txn_deferred_start(JSContext *ctx, JSValueConst this_val, int argc,
                                  JSValueConst *argv, int magic, JSValue *data)
{
    txn_t *t = JS_GetOpaque(data[0], txn_class_id);
    if (!t || !t->waiting || t->wait_for)
        return JS_UNDEFINED; /* the instance was reset meanwhile */
    api_handle_t *h = t->h;
    for (txn_t **pp = &h->txn_waiting; *pp; pp = &(*pp)->next_waiting) {
        if (*pp == t) {
            *pp = t->next_waiting;
            break;
        }
    }
    t->next_waiting = NULL;
    t->waiting = false;
    txn_start(ctx, t);
    return JS_UNDEFINED;
}

/* x has ended: the first transaction waiting for it starts, and the others
 * that waited for x now wait for that one. */
static void txn_start_waiting(JSContext *ctx, api_handle_t *h, txn_t *x)
{
    txn_t *held = NULL; /* the last one started, kept while its pointer is compared */
    for (;;) {
        txn_t **pp = &h->txn_waiting;
        while (*pp && (*pp)->wait_for != x)
            pp = &(*pp)->next_waiting;
        txn_t *next = *pp;
        if (!next)
            break;
        *pp = next->next_waiting;
        next->next_waiting = NULL;
        next->waiting = false;
        for (txn_t *w = h->txn_waiting; w; w = w->next_waiting)
            if (w->wait_for == x)
                w->wait_for = next;
        next->refs++;
        txn_start(ctx, next);
        if (held)
            txn_unref(held);
        held = next;
        if (next->on_stack)
            break;
        x = next; /* it could not start: the next one in line goes */
    }
    if (held)
        txn_unref(held);
}

/* Ends the transactions on top of the stack whose callbacks have settled:
 * each one's savepoint is released (kept in the enclosing transaction, or
 * in the turn's writes) or rolled back, and its promise settles. */
static void txn_finish_ready(JSContext *ctx, api_handle_t *h)
{
    while (h->txn_top && h->txn_top->settled && h->st) {
        txn_t *t = h->txn_top;
        api_state_t *st = h->st;
        char err[256];
        JSValue outcome = JS_DupValue(ctx, t->result);
        bool ok = !t->failed;
        if (store_kv_savepoint_depth(st->kv) != t->depth + 1) {
            /* Cannot happen while every other savepoint user is synchronous;
             * fail loudly rather than release someone else's savepoint. */
            JS_FreeValue(ctx, outcome);
            outcome = JS_NewError(ctx);
            JS_DefinePropertyValueStr(ctx, outcome, "message",
                                      JS_NewString(ctx, "storage transaction failed: its "
                                                        "savepoint was lost"),
                                      JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
            ok = false;
        } else if (t->failed || t->rolled_back) {
            if (store_kv_rollback(st->kv, err, sizeof err) < 0 && ok) {
                JS_FreeValue(ctx, outcome);
                api_storage_error(ctx, "transaction", err);
                outcome = JS_GetException(ctx);
                ok = false;
            }
        } else if (store_kv_release(st->kv, err, sizeof err) < 0) {
            JS_FreeValue(ctx, outcome);
            api_storage_error(ctx, "transaction", err);
            outcome = JS_GetException(ctx);
            ok = false;
        }
        t->refs++; /* kept across the pop for txn_start_waiting */
        txn_settle_promise(ctx, t, ok, outcome);
        txn_pop(ctx, t);
        st->blocked--;
        txn_start_waiting(ctx, h, t);
        txn_unref(t);
        if (st->unblocked)
            st->unblocked(st);
    }
}

/* The callback of transaction(fn) settled: magic 0 when its promise
 * fulfilled, 1 when it rejected. data: the transaction object. */
static JSValue txn_settled(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv,
                           int magic, JSValue *data)
{
    txn_t *t = JS_GetOpaque(data[0], txn_class_id);
    if (!t || t->over || !t->on_stack)
        return JS_UNDEFINED;
    t->over = true;
    t->settled = true;
    t->failed = magic != 0;
    t->result = JS_DupValue(ctx, argc > 0 ? argv[0] : JS_UNDEFINED);
    txn_finish_ready(ctx, t->h);
    return JS_UNDEFINED;
}

/* transaction(async txn => ...): fn runs inside a savepoint with the input
 * gate closed (no other event of the instance runs until it ends), on a
 * transaction object with the storage methods and rollback(). A throw or
 * rollback() undoes everything done meanwhile, KV and SQL alike; its value
 * is the result. See txn_t for nesting and for transactions side by side. */
JSValue api_storage_transaction(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    api_state_t *st = api_storage_state(ctx, this_val);
    if (!st)
        return api_settled(ctx, JS_EXCEPTION);
    if (argc < 1 || !JS_IsFunction(ctx, argv[0]))
        return api_settled(ctx, JS_ThrowTypeError(ctx, "transaction() needs a function"));
    api_handle_t *h = st->handle;
    JSValue rf[2];
    JSValue p = JS_NewPromiseCapability(ctx, rf);
    if (JS_IsException(p))
        return p;
    txn_t *t = xcalloc(1, sizeof *t);
    t->h = h;
    h->refs++;
    t->refs = 1; /* the stack's or the waiting list's */
    t->fn = JS_DupValue(ctx, argv[0]);
    t->resolve = rf[0];
    t->reject = rf[1];
    t->result = JS_UNDEFINED;
    api_state_block(st);
    if (h->sync_txns > 0) {
        /* Inside transactionSync(), which ends before this could: it starts
         * once the synchronous code is over, as on Cloudflare. */
        JSValue carrier = JS_NewObjectClass(ctx, (int)txn_class_id);
        if (JS_IsException(carrier)) {
            txn_fail_start(ctx, t);
            return p;
        }
        JS_SetOpaque(carrier, t);
        t->refs++;
        t->waiting = true;
        t->wait_for = NULL;
        t->next_waiting = h->txn_waiting;
        h->txn_waiting = t;
        JSValue later = resolved_with(ctx, JS_UNDEFINED);
        then_data(ctx, later, txn_deferred_start, carrier, false);
        JS_FreeValue(ctx, later);
        JS_FreeValue(ctx, carrier);
        return p;
    }
    txn_t *top = h->txn_top;
    if (top && top->fresh && h->txn_running != top) {
        /* Beside the open one, not inside it: after it. */
        t->waiting = true;
        t->wait_for = top;
        txn_t **pp = &h->txn_waiting;
        while (*pp)
            pp = &(*pp)->next_waiting;
        *pp = t;
        return p;
    }
    txn_start(ctx, t);
    return p;
}

/* The instance is being reset: its open and waiting transactions end with
 * it. Their savepoints are rolled back (the turn's other writes stay), and
 * their promises never settle (the instance's JS is going away). */
void api_storage_reset(JSContext *ctx, api_state_t *st)
{
    api_handle_t *h = st->handle;
    if (!h)
        return;
    while (h->txn_top) {
        txn_t *t = h->txn_top;
        t->over = true;
        txn_pop(ctx, t);
    }
    while (h->txn_waiting) {
        txn_t *t = h->txn_waiting;
        h->txn_waiting = t->next_waiting;
        t->next_waiting = NULL;
        t->waiting = false;
        txn_release(ctx, t);
    }
    if (st->kv)
        store_kv_rollback_all(st->kv);
    h->sync_txns = 0;
    h->txn_running = NULL;
}

static const JSCFunctionListEntry txn_own_funcs[] = {
    JS_CFUNC_DEF("deleteAll", 0, txn_delete_all),
    JS_CFUNC_DEF("rollback", 0, txn_rollback),
    JS_PROP_STRING_DEF("[Symbol.toStringTag]", "DurableObjectTransaction", JS_PROP_CONFIGURABLE),
};

int api_txn_init_context(JSContext *ctx, const JSCFunctionListEntry *shared, int nshared)
{
    JS_NewClassID(&txn_class_id);
    if (JS_NewClass(JS_GetRuntime(ctx), txn_class_id, &txn_class) < 0)
        return -1;
    JSValue proto = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, proto, shared, nshared);
    JS_SetPropertyFunctionList(ctx, proto, txn_own_funcs,
                               sizeof txn_own_funcs / sizeof txn_own_funcs[0]);
    JS_SetClassProto(ctx, txn_class_id, proto);
    return 0;
}
