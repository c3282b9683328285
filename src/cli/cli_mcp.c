/* `dorm mcp`: a Model Context Protocol server on stdin and stdout (JSON-RPC
 * 2.0, one message per line). It offers the management API's two tools,
 * manage_durable_objects and manage_apps, with JSON Schemas of their
 * arguments, and forwards every tools/call to the server over HTTP, so an AI
 * coding agent manages dorm exactly as it would manage the product. stdout
 * carries protocol messages only; anything else goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli_int.h"

#define MCP_LATEST "2025-06-18"
static const char *const mcp_versions[] = {"2024-11-05", "2025-03-26", "2025-06-18"};

/* ---- the tools ----------------------------------------------------------------------- */

static json_t *str_prop(const char *description)
{
    return json_pack("{s:s, s:s}", "type", "string", "description", description);
}

static json_t *enum_prop(const char *description, const char *const *values, size_t n)
{
    json_t *e = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(e, json_string(values[i]));
    return json_pack("{s:s, s:s, s:o}", "type", "string", "description", description, "enum", e);
}

static json_t *tool_do(void)
{
    static const char *const actions[] = {
        "deploy",   "list",    "get",        "delete",         "usage",       "list_env",
        "set_env",  "delete_env", "list_instances", "get_storage", "query", "delete_instance"};
    static const char *const modes[] = {"public", "authenticated", "service_key"};
    json_t *props = json_object();
    json_object_set_new(props, "app_id", str_prop("The app to act on; \"default\" when left out."));
    json_object_set_new(props, "action",
                        enum_prop("deploy: upload and start a class (name, code, access_mode); "
                                  "list: the app's classes; get: one class with its code (name); "
                                  "delete: a class and all its storage, irreversibly (name); "
                                  "usage: requests, CPU, instances, storage and errors (name, or "
                                  "none for the whole app); list_env: the env keys; set_env: set "
                                  "one (key, value); delete_env: remove one (key). Changing env "
                                  "redeploys the app's classes. list_instances: a class's "
                                  "instances (name); get_storage: an instance's keys and values "
                                  "(name, id, prefix); query: a read-only SQL query on an "
                                  "instance (name, id, sql, bindings); delete_instance: wipe one "
                                  "instance's storage (name, id).",
                                  actions, sizeof actions / sizeof actions[0]));
    json_object_set_new(props, "name",
                        str_prop("The class's kebab-case name: class ChatRoom is deployed as "
                                 "\"chat-room\" and served at /_do/chat-room/<instance-id>."));
    json_object_set_new(props, "code",
                        str_prop("deploy: the TypeScript or JavaScript source, exactly one "
                                 "exported class, no imports but \"cloudflare:workers\", at most "
                                 "5 MB."));
    json_object_set_new(props, "access_mode",
                        enum_prop("deploy: who may call the class (default authenticated: a JWT "
                                  "in Authorization: Bearer).",
                                  modes, 3));
    json_t *key = str_prop("set_env, delete_env: the env var's name, read as this.env.KEY.");
    json_object_set_new(key, "pattern", json_string("^[A-Z_][A-Z0-9_]*$"));
    json_object_set_new(props, "key", key);
    json_object_set_new(props, "value",
                        str_prop("set_env: the value, a secret the server never shows again."));
    json_object_set_new(props, "id",
                        str_prop("get_storage, query, delete_instance: the instance's id as in "
                                 "its URL, /_do/<name>/<id>."));
    json_object_set_new(props, "id_hex",
                        str_prop("get_storage, query: the instance's 64-hex id from "
                                 "list_instances, instead of id."));
    json_object_set_new(props, "prefix", str_prop("get_storage: only keys with this prefix."));
    json_object_set_new(props, "cursor",
                        str_prop("list_instances, get_storage: the cursor of the previous page."));
    json_object_set_new(props, "limit",
                        json_pack("{s:s, s:s, s:i, s:i}", "type", "integer", "description",
                                  "list_instances, get_storage: at most this many (default 100).",
                                  "minimum", 1, "maximum", 1000));
    json_object_set_new(props, "sql", str_prop("query: one statement that only reads."));
    json_object_set_new(props, "bindings",
                        json_pack("{s:s, s:s}", "type", "array", "description",
                                  "query: values for the ?s (null, numbers, strings, booleans)."));
    json_object_set_new(props, "max_rows",
                        json_pack("{s:s, s:s, s:i, s:i}", "type", "integer", "description",
                                  "query: at most this many rows (default 1000).", "minimum", 1,
                                  "maximum", 10000));
    json_object_set_new(props, "raw",
                        json_pack("{s:s, s:s}", "type", "boolean", "description",
                                  "get_storage: add each value's stored bytes in base64."));
    json_t *schema = json_pack("{s:s, s:o, s:[s], s:b}", "type", "object", "properties", props,
                               "required", "action", "additionalProperties", 0);
    return json_pack("{s:s, s:s, s:o}", "name", "manage_durable_objects", "description",
                     "Deploy and manage Durable Object classes on this dorm server: their code, "
                     "access mode, env vars and usage. Same actions and answers as the "
                     "product's manage_durable_objects tool.",
                     "inputSchema", schema);
}

static json_t *tool_apps(void)
{
    static const char *const actions[] = {"create", "list",  "get", "delete", "rotate_service_key",
                                          "set_auth"};
    json_t *props = json_object();
    json_object_set_new(props, "action",
                        enum_prop("create: a new app (app_id, subdomain); its service key is in "
                                  "the answer, once. list, get (app_id): never show secrets. "
                                  "delete (app_id): everything of the app, irreversibly. "
                                  "rotate_service_key (app_id): a new key, the old one stops "
                                  "working. set_auth (app_id and one of jwt_secret, "
                                  "jwt_public_key, jwks, or clear): how the authenticated access "
                                  "mode verifies tokens.",
                                  actions, sizeof actions / sizeof actions[0]));
    json_object_set_new(props, "app_id",
                        str_prop("The app's id: lowercase letters, digits and dashes."));
    json_object_set_new(props, "subdomain",
                        str_prop("create: the host name label the app is served at (default: "
                                 "the app_id)."));
    json_object_set_new(props, "jwt_secret",
                        str_prop("set_auth: an HS256 secret of at least 32 bytes."));
    json_object_set_new(props, "jwt_public_key",
                        str_prop("set_auth: PEM public key(s): RSA for RS256, P-256 for ES256."));
    json_object_set_new(props, "jwks",
                        json_pack("{s:[s,s], s:s}", "type", "object", "string", "description",
                                  "set_auth: a JWKS document ({\"keys\":[...]}), or its text."));
    json_object_set_new(props, "issuer", str_prop("set_auth: the iss tokens must carry."));
    json_object_set_new(props, "audience", str_prop("set_auth: the aud tokens must carry."));
    json_object_set_new(props, "clear",
                        json_pack("{s:s, s:s}", "type", "boolean", "description",
                                  "set_auth: true removes verification (shape check only)."));
    json_t *schema = json_pack("{s:s, s:o, s:[s], s:b}", "type", "object", "properties", props,
                               "required", "action", "additionalProperties", 0);
    return json_pack("{s:s, s:s, s:o}", "name", "manage_apps", "description",
                     "Create and manage apps on this dorm server: ids, subdomains, service keys "
                     "and JWT verification settings.",
                     "inputSchema", schema);
}

/* ---- JSON-RPC ------------------------------------------------------------------------- */

static json_t *rpc_error(json_t *id, int code, const char *message)
{
    return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", message);
}

static json_t *rpc_result(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *text_result(const char *text, size_t len, int is_error, json_t *structured)
{
    json_t *r = json_pack("{s:[{s:s, s:s%}], s:b}", "content", "type", "text", "text", text, len,
                          "isError", is_error);
    if (!r) /* not UTF-8: say so rather than pass it on */
        r = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text",
                      "the server's answer was not UTF-8 text", "isError", 1);
    if (structured)
        json_object_set_new(r, "structuredContent", structured);
    return r;
}

static json_t *call_tool(cli_mcp_state_t *st, json_t *id, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    if (!name || (strcmp(name, "manage_durable_objects") != 0 && strcmp(name, "manage_apps") != 0))
        return rpc_error(id, -32602, "unknown tool: use manage_durable_objects or manage_apps");
    if (args && !json_is_object(args))
        return rpc_error(id, -32602, "the tool's arguments must be a JSON object");
    if (!st->token) {
        return rpc_result(id, text_result(st->token_error, strlen(st->token_error), 1, NULL));
    }
    json_t *empty = NULL;
    if (!args)
        args = empty = json_object();
    char *body = json_dumps(args, JSON_COMPACT);
    json_decref(empty);
    char path[64];
    snprintf(path, sizeof path, "/_api/%s", name);
    cli_http_reply_t reply;
    cli_http_reply_init(&reply);
    json_t *result;
    if (cli_http_post_to(st->base, path, st->token, body, strlen(body), &reply) < 0) {
        buf_t msg = BUF_INIT;
        buf_printf(&msg, "cannot reach the dorm server at %s (%s); start it with `dorm serve` or "
                         "point DORM_URL at it",
                   st->base, buf_cstr(&reply.error));
        result = text_result(buf_cstr(&msg), msg.len, 1, NULL);
        buf_deinit(&msg);
    } else {
        int ok = reply.status >= 200 && reply.status < 300;
        json_t *answer = json_loadb((const char *)reply.body.data, reply.body.len, 0, NULL);
        /* structuredContent came with the 2025-06-18 revision. */
        json_t *structured = ok && json_is_object(answer) && strcmp(st->protocol, "2025-06-18") >= 0
                                 ? json_incref(answer)
                                 : NULL;
        result = text_result(buf_cstr(&reply.body), reply.body.len, !ok, structured);
        json_decref(answer);
    }
    memset(body, 0, strlen(body));
    free(body);
    cli_http_reply_deinit(&reply);
    return rpc_result(id, result);
}

/* One message: the answer, or NULL for a notification. */
static json_t *handle_one(cli_mcp_state_t *st, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    const char *version = json_string_value(json_object_get(msg, "jsonrpc"));
    if (!json_is_object(msg) || !method || !version || strcmp(version, "2.0") != 0 ||
        (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)))
        return rpc_error(json_is_string(id) || json_is_integer(id) ? id : NULL, -32600,
                         "not a JSON-RPC 2.0 request: it needs \"jsonrpc\":\"2.0\" and a "
                         "\"method\"");
    if (!id) {
        /* A notification: nothing is answered. */
        if (strcmp(method, "notifications/initialized") == 0)
            st->initialized = 1;
        return NULL;
    }
    json_t *params = json_object_get(msg, "params");
    if (strcmp(method, "initialize") == 0) {
        const char *want = json_string_value(json_object_get(params, "protocolVersion"));
        const char *use = MCP_LATEST;
        for (size_t i = 0; want && i < sizeof mcp_versions / sizeof mcp_versions[0]; i++)
            if (strcmp(want, mcp_versions[i]) == 0)
                use = mcp_versions[i];
        snprintf(st->protocol, sizeof st->protocol, "%s", use);
        return rpc_result(
            id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}", "protocolVersion", use,
                          "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "dorm",
                          "version", "0.1.0", "instructions",
                          "dorm runs Durable Object classes. Deploy a class with "
                          "manage_durable_objects {action:\"deploy\", name, code}; it is served "
                          "at http://<app>.<domain>:<port>/_do/<name>/<instance-id>. Apps, "
                          "service keys and JWT settings are managed with manage_apps."));
    }
    if (strcmp(method, "ping") == 0)
        return rpc_result(id, json_object());
    if (strcmp(method, "tools/list") == 0)
        return rpc_result(id, json_pack("{s:[o,o]}", "tools", tool_do(), tool_apps()));
    if (strcmp(method, "tools/call") == 0) {
        if (!json_is_object(params))
            return rpc_error(id, -32602, "tools/call needs params {name, arguments}");
        return call_tool(st, id, params);
    }
    char text[160];
    snprintf(text, sizeof text, "method not found: %.80s (this server has tools only)", method);
    return rpc_error(id, -32601, text);
}

void cli_mcp_handle(cli_mcp_state_t *st, const char *line, size_t len, buf_t *out)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    json_error_t e;
    json_t *msg = json_loadb(line, len, 0, &e);
    json_t *answer = NULL;
    if (!msg) {
        char text[300];
        snprintf(text, sizeof text, "parse error: %s", e.text);
        answer = rpc_error(NULL, -32700, text);
    } else if (json_is_array(msg)) {
        /* A batch (2025-03-26): one answer array for its requests. */
        answer = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(msg, i, m)
        {
            json_t *a = handle_one(st, m);
            if (a)
                json_array_append_new(answer, a);
        }
        if (json_array_size(msg) == 0)
            json_array_append_new(answer, rpc_error(NULL, -32600, "an empty batch"));
        if (json_array_size(answer) == 0) {
            json_decref(answer);
            answer = NULL;
        }
    } else {
        answer = handle_one(st, msg);
    }
    json_decref(msg);
    if (answer) {
        char *s = json_dumps(answer, JSON_COMPACT);
        buf_puts(out, s);
        buf_putc(out, '\n');
        free(s);
        json_decref(answer);
    }
}

int cli_mcp_run(const cli_args_t *a, FILE *in, FILE *out)
{
    cli_env_t env;
    buf_t base = BUF_INIT, token = BUF_INIT, err = BUF_INIT;
    cli_env_from_process(&env);
    if (cli_resolve_url(a, &env, &base, &err) < 0) {
        fprintf(stderr, "dorm mcp: %s\n", buf_cstr(&err));
        buf_deinit(&err);
        return CLI_EXIT_USAGE;
    }
    cli_mcp_state_t st;
    memset(&st, 0, sizeof st);
    snprintf(st.protocol, sizeof st.protocol, "%s", MCP_LATEST);
    st.base = buf_cstr(&base);
    if (cli_resolve_token(a, &env, &token, &err) < 0) {
        /* Keep serving: every tool call says what is missing. */
        fprintf(stderr, "dorm mcp: %s\n", buf_cstr(&err));
        st.token_error = buf_cstr(&err);
    } else {
        st.token = buf_cstr(&token);
    }
    fprintf(stderr, "dorm mcp: serving the management API of %s on stdin/stdout\n", st.base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    buf_t answer = BUF_INIT;
    int rc = CLI_EXIT_OK;
    while ((n = getline(&line, &cap, in)) >= 0) {
        buf_reset(&answer);
        cli_mcp_handle(&st, line, (size_t)n, &answer);
        if (answer.len && (fwrite(answer.data, 1, answer.len, out) != answer.len || fflush(out))) {
            fprintf(stderr, "dorm mcp: stdout is closed; stopping\n");
            rc = CLI_EXIT_REFUSED;
            break;
        }
    }
    free(line);
    buf_deinit(&answer);
    curl_global_cleanup();
    buf_deinit(&base);
    if (token.data)
        memset(token.data, 0, token.cap);
    buf_deinit(&token);
    buf_deinit(&err);
    return rc;
}
