/* The deploy rules of DESIGN.md 1.6 that can be checked without running
 * code, and the access-mode checks of 1.7, as pure functions. Each check
 * fills msg with a sentence for the user. Depends on lib/ only. */
#ifndef DORM_CONTROL_VALIDATE_H
#define DORM_CONTROL_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>

#include "../actor/actor.h"

#define DEPLOY_MAX_FILE_BYTES (5u * 1024 * 1024)
#define DEPLOY_MAX_APP_COMPRESSED (10u * 1024 * 1024)
#define DEPLOY_MAX_CLASSES 5

/* "chat-room": lowercase letters and digits in dash-separated words. */
bool validate_name(const char *name, char *msg, size_t msglen);
/* "ChatRoom" -> "chat-room" (HTTPServer -> http-server). out must hold
 * 2*strlen(cls)+1 bytes. */
void validate_kebab(const char *cls, char *out);
/* The exported class's name is PascalCase and matches the deploy name. */
bool validate_class_name(const char *cls, const char *name, char *msg, size_t msglen);
/* "public" | "authenticated" | "service_key". */
bool validate_access_mode(const char *s, enum actor_access *out, char *msg, size_t msglen);
const char *validate_access_str(enum actor_access a);
/* The source's imports name only "cloudflare:workers" (a first check; the
 * module loader enforces it again when the code is evaluated). */
bool validate_imports(const char *src, size_t len, char *msg, size_t msglen);

/* Access (1.7). Returns true when the Authorization header value allows the
 * request; otherwise msg says why (for a 401). */
bool access_check(enum actor_access mode, const char *authorization, const char *service_key,
                  char *msg, size_t msglen);
/* The JWT shape: three base64url parts, the first two JSON objects. */
bool access_jwt_shape(const char *token, size_t len);

#endif
