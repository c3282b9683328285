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

/* The first byte of every encoding. A decoder refuses versions it does not
 * know, so a future format change is a new number, never a silent reinterpretation. */
#define CODEC_VERSION 1
/* Containers (objects, arrays, maps, sets, errors...) may nest this deep.
 * Deeper values fail to encode with a RangeError and to decode with a
 * TypeError. Both directions recurse once per level: at most about 0.9 KiB
 * of C stack per level (sanitizer builds; about 0.4 KiB optimized), so the
 * calling thread needs about 2 MiB of stack to spare at full depth. */
#define CODEC_MAX_DEPTH 2000

/* Appends the encoding of v to out. Returns 0, or -1 with an exception and
 * out as it was before the call. Getters of plain objects run (as in
 * structured clone), so encoding may run the caller's JS code. */
int codec_encode(JSContext *ctx, JSValueConst v, buf_t *out);
/* Decodes exactly len bytes (trailing bytes are an error). */
JSValue codec_decode(JSContext *ctx, const uint8_t *p, size_t len);
/* structuredClone(v) built from the two above. */
JSValue codec_clone(JSContext *ctx, JSValueConst v);

#endif
