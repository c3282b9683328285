/* The deploy rules of DESIGN.md 1.6 that can be checked without running
 * code, and the env key rules, as pure functions. Each check fills msg with
 * a sentence for the user. Depends on lib/ only (access checks are in
 * access.h). */
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

/* Env keys (1.6): ^[A-Z_][A-Z0-9_]*$, at most 128 characters, and not the
 * binding of one of the app's n classes (their deploy names). */
bool validate_env_key(const char *key, const char *const *class_names, size_t n, char *msg,
                      size_t msglen);
/* An app id or subdomain: one DNS label, lowercase, starting with a letter
 * (what names it in msg: "app_id", "subdomain"). */
bool validate_label(const char *s, const char *what, char *msg, size_t msglen);
/* The binding a class's deploy name reserves: "chat-room" -> "CHAT_ROOM". */
void validate_binding(const char *name, char *out, size_t outlen);

#endif
