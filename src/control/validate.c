/* Deploy-rule and access-mode checks (see validate.h): pure functions. */
#include "validate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool validate_name(const char *name, char *msg, size_t msglen)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 63 && islower((unsigned char)name[0]) && name[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        if (c == '-')
            ok = name[i + 1] != '-';
        else
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }
    if (!ok)
        snprintf(msg, msglen,
                 "invalid name \"%.80s\": use kebab-case (lowercase letters and digits in "
                 "dash-separated words, starting with a letter, at most 63 characters), e.g. "
                 "\"chat-room\" for class ChatRoom",
                 name);
    return ok;
}

void validate_kebab(const char *cls, char *out)
{
    size_t n = strlen(cls), o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cls[i];
        if (isupper(c) && i > 0) {
            bool prev_lower = islower((unsigned char)cls[i - 1]) || isdigit((unsigned char)cls[i - 1]);
            bool next_lower = i + 1 < n && islower((unsigned char)cls[i + 1]);
            if (prev_lower || (isupper((unsigned char)cls[i - 1]) && next_lower))
                out[o++] = '-';
        }
        out[o++] = (char)tolower(c);
    }
    out[o] = 0;
}

bool validate_class_name(const char *cls, const char *name, char *msg, size_t msglen)
{
    size_t n = strlen(cls);
    bool pascal = n > 0 && n <= 100 && isupper((unsigned char)cls[0]);
    for (size_t i = 0; pascal && i < n; i++)
        pascal = isalnum((unsigned char)cls[i]);
    if (!pascal) {
        snprintf(msg, msglen,
                 "the exported class \"%.100s\" is not PascalCase: name it like \"ChatRoom\" "
                 "(a capital letter first, then letters and digits)",
                 cls);
        return false;
    }
    char *k = malloc(2 * n + 1);
    if (!k)
        abort();
    validate_kebab(cls, k);
    bool ok = strcmp(k, name) == 0;
    if (!ok)
        snprintf(msg, msglen,
                 "the name \"%.80s\" does not match the exported class %.100s: deploy it as "
                 "\"%.120s\", or rename the class",
                 name, cls, k);
    free(k);
    return ok;
}

bool validate_access_mode(const char *s, enum actor_access *out, char *msg, size_t msglen)
{
    if (!s || strcmp(s, "authenticated") == 0)
        *out = ACCESS_AUTHENTICATED;
    else if (strcmp(s, "public") == 0)
        *out = ACCESS_PUBLIC;
    else if (strcmp(s, "service_key") == 0)
        *out = ACCESS_SERVICE_KEY;
    else {
        snprintf(msg, msglen,
                 "invalid access_mode \"%.40s\": use \"public\", \"authenticated\" or "
                 "\"service_key\"",
                 s);
        return false;
    }
    return true;
}

const char *validate_access_str(enum actor_access a)
{
    switch (a) {
    case ACCESS_PUBLIC: return "public";
    case ACCESS_SERVICE_KEY: return "service_key";
    default: return "authenticated";
    }
}

/* Skips a string, template or comment starting at s[i]; returns the index
 * after it, or i when s[i] starts none of them. */
static size_t skip_literal(const char *s, size_t n, size_t i)
{
    if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
        while (i < n && s[i] != '\n')
            i++;
        return i;
    }
    if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
        const char *e = strstr(s + i + 2, "*/");
        return e ? (size_t)(e - s) + 2 : n;
    }
    if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
        char q = s[i++];
        while (i < n && s[i] != q) {
            if (s[i] == '\\')
                i++;
            i++;
        }
        return i < n ? i + 1 : n;
    }
    return i;
}

bool validate_imports(const char *src, size_t n, char *msg, size_t msglen)
{
    /* Finds `import ... from "x"`, `import "x"` and `export ... from "x"` at
     * statement starts (after a newline or semicolon), outside comments and
     * strings. Dynamic import() is refused by the module loader at run time. */
    int line = 1;
    bool stmt_start = true;
    for (size_t i = 0; i < n;) {
        size_t j = skip_literal(src, n, i);
        if (j != i) {
            for (size_t k = i; k < j; k++)
                line += src[k] == '\n';
            i = j;
            stmt_start = false;
            continue;
        }
        char c = src[i];
        if (c == '\n') {
            line++;
            stmt_start = true;
            i++;
            continue;
        }
        if (c == ';' || c == '}' || c == '{') {
            stmt_start = true;
            i++;
            continue;
        }
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        bool is_import = stmt_start && strncmp(src + i, "import", 6) == 0 &&
                         (i + 6 >= n || !(isalnum((unsigned char)src[i + 6]) || src[i + 6] == '_' ||
                                          src[i + 6] == '$' || src[i + 6] == '(' ||
                                          src[i + 6] == '.'));
        bool is_export = stmt_start && strncmp(src + i, "export", 6) == 0;
        stmt_start = false;
        if (!is_import && !is_export) {
            i++;
            continue;
        }
        /* Find the module specifier. For import: the first string literal
         * of the statement. For export: only `export * from` and
         * `export { ... } from` re-export another module. */
        size_t k = i + 6;
        if (is_export) {
            while (k < n && isspace((unsigned char)src[k]))
                k++;
            if (k < n && src[k] == '{') {
                while (k < n && src[k] != '}')
                    k++;
                k++;
            } else if (k < n && src[k] == '*') {
                k++;
                while (k < n && isspace((unsigned char)src[k]))
                    k++;
                if (k + 2 <= n && strncmp(src + k, "as", 2) == 0) {
                    k += 2;
                    while (k < n && isspace((unsigned char)src[k]))
                        k++;
                    while (k < n && (isalnum((unsigned char)src[k]) || src[k] == '_' || src[k] == '$'))
                        k++;
                }
            } else {
                i += 6;
                continue;
            }
            while (k < n && isspace((unsigned char)src[k]))
                k++;
            if (!(k + 4 <= n && strncmp(src + k, "from", 4) == 0)) {
                i += 6;
                continue;
            }
            k += 4;
            while (k < n && isspace((unsigned char)src[k]))
                k++;
        } else {
            /* multi-line import { a,\n b } from "x" */
            while (k < n && src[k] != ';' && src[k] != '"' && src[k] != '\'')
                k++;
        }
        if (k >= n || (src[k] != '"' && src[k] != '\'')) {
            i += 6;
            continue;
        }
        char q = src[k];
        size_t s0 = k + 1, s1 = s0;
        while (s1 < n && src[s1] != q && src[s1] != '\n')
            s1++;
        if (!(s1 - s0 == 18 && strncmp(src + s0, "cloudflare:workers", 18) == 0)) {
            snprintf(msg, msglen,
                     "line %d: import of \"%.*s\" is not allowed: a class may import only from "
                     "\"cloudflare:workers\" (put everything else in the one file)",
                     line, (int)(s1 - s0 > 100 ? 100 : s1 - s0), src + s0);
            return false;
        }
        i = s1;
    }
    return true;
}

bool validate_env_key(const char *key, const char *const *class_names, size_t n, char *msg,
                       size_t msglen)
{
    size_t len = strlen(key);
    bool ok = len > 0 && len <= 128 && (isupper((unsigned char)key[0]) || key[0] == '_');
    for (size_t i = 1; ok && i < len; i++)
        ok = isupper((unsigned char)key[i]) || isdigit((unsigned char)key[i]) || key[i] == '_';
    if (!ok) {
        snprintf(msg, msglen,
                 "invalid env key \"%.80s\": keys are upper-case letters, digits and underscores, "
                 "not starting with a digit (^[A-Z_][A-Z0-9_]*$, at most 128 characters), e.g. "
                 "\"API_KEY\"",
                 key);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char binding[160];
        validate_binding(class_names[i], binding, sizeof binding);
        if (strcmp(binding, key) == 0) {
            snprintf(msg, msglen,
                     "the env key %s is the binding of the class \"%s\" in this app; choose "
                     "another key",
                     key, class_names[i]);
            return false;
        }
    }
    return true;
}

void validate_binding(const char *name, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; name[i] && o + 1 < outlen; i++)
        out[o++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    out[o] = 0;
}

bool validate_label(const char *s, const char *what, char *msg, size_t msglen)
{
    size_t n = strlen(s);
    bool ok = n > 0 && n <= 63 && islower((unsigned char)s[0]) && s[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
    if (!ok)
        snprintf(msg, msglen,
                 "invalid %s \"%.80s\": use lowercase letters, digits and dashes, starting with "
                 "a letter and not ending with a dash, at most 63 characters (it becomes a host "
                 "name label), e.g. \"my-app\"",
                 what, s);
    return ok;
}
