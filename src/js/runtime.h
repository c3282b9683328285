/* One QuickJS runtime and context for one class version on one shard
 * (DESIGN.md 2.3): memory limit, CPU deadline through the interrupt handler,
 * the `cloudflare:workers` module, loading a deployed module from bytecode and
 * finding its exported class, and draining the job queue.
 *
 * The runtime knows nothing of instances or Web APIs: the actor layer
 * installs the globals (api/) before loading the class, and tells the runtime
 * when an entry into JS starts so the deadline applies to it.
 * Depends on lib/ and quickjs.h only. */
#ifndef DORM_JS_RUNTIME_H
#define DORM_JS_RUNTIME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <quickjs.h>

typedef struct jsrt {
    JSRuntime *rt;
    JSContext *ctx;
    uint64_t deadline_ns;  /* uv_hrtime() past which JS is interrupted; 0: none */
    bool timed_out;        /* the interrupt handler fired since the last jsrt_begin */
    bool oom;              /* an allocation was refused by the memory limit (sticky:
                              the runtime is unusable from then on, even if the
                              class caught the error) */
    size_t memory_limit;   /* 0: none */
    void *owner;           /* the actor layer's object for this runtime */
} jsrt_t;

/* A runtime and context with the memory limit (0: none) and the module
 * loader installed. Returns NULL only if QuickJS cannot allocate. */
jsrt_t *jsrt_new(size_t memory_limit);
/* Frees the context and runtime. Every JSValue the caller holds must have
 * been freed first. */
void jsrt_free(jsrt_t *r);
jsrt_t *jsrt_from_ctx(JSContext *ctx);

/* Starts an entry into JS with a CPU budget (0: unlimited). */
void jsrt_begin(jsrt_t *r, uint64_t cpu_limit_ms);
/* Runs queued promise jobs until none are left. Returns 0, or -1 when a job
 * ended in an uncaught exception (left pending for the caller to take with
 * JS_GetException; timed_out tells whether it was the CPU limit). */
int jsrt_drain(jsrt_t *r);

/* Loads a module from bytecode (as made by jsrt_compile_module), evaluates
 * it, and returns its exported class (a new reference) with the export's name
 * in *export_name (malloc'd). On failure returns JS_EXCEPTION with an
 * exception pending. */
JSValue jsrt_load_class(jsrt_t *r, const uint8_t *bc, size_t len, char **export_name);

/* Compiles module source to bytecode (no evaluation). Returns a malloc'd
 * buffer, or NULL with an exception pending in r's context. */
uint8_t *jsrt_compile_module(jsrt_t *r, const char *src, size_t len, const char *filename,
                             size_t *out_len);

/* True when the pending exception value is QuickJS's out-of-memory error. */
bool jsrt_is_oom(JSContext *ctx, JSValueConst exc);

#endif
