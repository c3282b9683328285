/* The storage value encoding: JS values in the structured-clone value space
 * to bytes and back. The format is ours, versioned and specified in
 * docs/value-encoding.md; it never depends on QuickJS's internal
 * serialization. Depends on lib/ and quickjs.h only.
 *
 * Both functions borrow their arguments. On failure they leave a JS exception
 * pending in ctx (a DataCloneError-style TypeError for values that cannot be
 * cloned, a TypeError for bytes that are not a valid encoding) and return -1
 * or JS_EXCEPTION. Decoding never trusts its input: any byte string, however
 * malformed or hostile (deep nesting, huge declared lengths), yields an error
 * and never a crash or an unbounded allocation. */
#ifndef DORM_JS_CODEC_H
#define DORM_JS_CODEC_H
#include <stddef.h>
#include <stdint.h>
#include <quickjs.h>

#include "../lib/buf.h"

/* Appends the encoding of v to out. Returns 0, or -1 with an exception. */
int codec_encode(JSContext *ctx, JSValueConst v, buf_t *out);
/* Decodes exactly len bytes (trailing bytes are an error). */
JSValue codec_decode(JSContext *ctx, const uint8_t *p, size_t len);
/* structuredClone(v) built from the two above. */
JSValue codec_clone(JSContext *ctx, JSValueConst v);

#endif
