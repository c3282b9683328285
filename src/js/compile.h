/* TypeScript/JavaScript source to runnable module bytecode, on the compile
 * thread (never on a shard: sucrase costs about 7 us per input byte). The
 * sucrase bundle is compiled into the binary as bytecode and loaded once per
 * compiler. Depends on lib/, js/runtime.h and quickjs.h. */
#ifndef DORM_JS_COMPILE_H
#define DORM_JS_COMPILE_H
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

typedef struct jscompiler jscompiler_t;

/* NULL only when the embedded sucrase bundle cannot load (a build fault). */
jscompiler_t *jscompiler_new(void);
void jscompiler_free(jscompiler_t *c);

/* Strips TypeScript (a .js file goes through too: sucrase leaves plain JS
 * alone) and compiles the result as an ES module to QuickJS bytecode.
 * Returns 0 with the bytecode in *bc (malloc'd), or -1 with a message in err
 * of the form "file:line:column: what was wrong". */
int jscompiler_compile(jscompiler_t *c, const char *src, size_t len, const char *filename,
                       uint8_t **bc, size_t *bc_len, buf_t *err);

/* Formats the pending exception of ctx as "file:line:column: Name: message"
 * when its stack names a position in filename, else "Name: message". */
struct JSContext;
void jscompiler_describe_exception(struct JSContext *ctx, const char *filename, buf_t *out);

#endif
