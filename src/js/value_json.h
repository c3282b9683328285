/* Stored values (docs/value-encoding.md) as JSON with type tags, for people
 * and tools that read an instance's storage from outside (the inspection
 * actions, the CLI). Pure C over jansson: no QuickJS, so the control thread
 * can use it. The mapping is in docs/value-encoding.md, "As JSON". */
#ifndef DORM_JS_VALUE_JSON_H
#define DORM_JS_VALUE_JSON_H
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Decodes one stored value (version byte included). Returns a new JSON
 * value, or NULL with err set ("offset 7: unknown tag") when the bytes are
 * not a valid encoding. As strict as the codec: what it refuses, this
 * refuses. */
json_t *value_json_decode(const uint8_t *p, size_t len, char *err, size_t errlen);

/* A key (raw UTF-8 bytes of a JS string) as JSON: a string, or
 * {"type":"string","value":..,"lone_surrogates":true} when it holds
 * WTF-8 surrogates that JSON cannot carry. NULL only when p is not WTF-8. */
json_t *value_json_key(const uint8_t *p, size_t len);

#endif
