/* Unit tests of the Web platform (src/api/web.c and the prelude in
 * src/api/web/): runs every JavaScript test file in tests/unit/web/ in a
 * fresh context with the platform installed, then tests the C entry points
 * (request and response round trip, error formatting, cost per request).
 * Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/web.h"
#include "lib/buf.h"
#include "lib/mem.h"
#include "net/http.h"

#define WEB_TEST_DIR "tests/unit/web"

typedef struct log_entry {
    int level;
    char *msg;
} log_entry_t;

typedef struct env {
    JSRuntime *rt;
    JSContext *ctx;
    web_t *web;
    log_entry_t *logs;
    size_t nlogs;
} env_t;

/* The environment of the test running now (one at a time). */
static env_t *current_env;

static void capture_log(void *opaque, int level, const char *msg, size_t len)
{
    env_t *e = opaque;
    e->logs = xrealloc(e->logs, (e->nlogs + 1) * sizeof *e->logs);
    e->logs[e->nlogs].level = level;
    e->logs[e->nlogs].msg = xstrndup(msg, len);
    e->nlogs++;
}

static void clear_logs(env_t *e)
{
    for (size_t i = 0; i < e->nlogs; i++)
        free(e->logs[i].msg);
    free(e->logs);
    e->logs = NULL;
    e->nlogs = 0;
}

/* takeLogs() -> [[level, message], ...] captured since the last call. */
static JSValue js_take_logs(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    env_t *e = current_env;
    JSValue arr = JS_NewArray(ctx);
    for (size_t i = 0; i < e->nlogs; i++) {
        JSValue pair = JS_NewArray(ctx);
        JS_SetPropertyUint32(ctx, pair, 0, JS_NewInt32(ctx, e->logs[i].level));
        JS_SetPropertyUint32(ctx, pair, 1, JS_NewString(ctx, e->logs[i].msg));
        JS_SetPropertyUint32(ctx, arr, (uint32_t)i, pair);
    }
    clear_logs(e);
    return arr;
}

/* print(...): for debugging a test file. */
static JSValue js_print(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    for (int i = 0; i < argc; i++) {
        const char *s = JS_ToCString(ctx, argv[i]);
        printf("%s%s", i ? " " : "", s ? s : "?");
        JS_FreeCString(ctx, s);
    }
    printf("\n");
    return JS_UNDEFINED;
}

/* cpuNow(): this thread's CPU time in ms, for benchmarks on a busy machine. */
static JSValue js_cpu_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return JS_NewFloat64(ctx, ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

/* The helpers every test file can use. */
static const char harness_js[] =
    "globalThis.__cases = [];\n"
    "globalThis.test = (name, fn) => { __cases.push([name, fn]); };\n"
    "const show = (v) => { try { return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? v + 'n' :"
    "  v === undefined ? 'undefined' : Object.is(v, -0) ? '-0' : JSON.stringify(v) ?? String(v); } catch { return String(v); } };\n"
    "const deepEq = (a, b) => {\n"
    "  if (Object.is(a, b)) return true;\n"
    "  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;\n"
    "  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;\n"
    "  if (ArrayBuffer.isView(a)) { if (a.length !== b.length) return false;"
    "    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false; return true; }\n"
    "  const ka = Object.keys(a), kb = Object.keys(b);\n"
    "  if (ka.length !== kb.length) return false;\n"
    "  for (const k of ka) if (!deepEq(a[k], b[k])) return false;\n"
    "  return true;\n"
    "};\n"
    "globalThis.assert = (cond, msg) => { if (!cond) throw new Error('assertion failed' + (msg ? ': ' + msg : '')); };\n"
    "globalThis.assertEq = (actual, expected, msg) => {\n"
    "  if (!deepEq(actual, expected))\n"
    "    throw new Error((msg ? msg + ': ' : '') + 'expected ' + show(expected) + ', got ' + show(actual));\n"
    "};\n"
    "const checkError = (e, type, pattern, msg) => {\n"
    "  const name = typeof type === 'string' ? type : type.name;\n"
    "  if (typeof type === 'string' ? e?.name !== type : !(e instanceof type))\n"
    "    throw new Error((msg ? msg + ': ' : '') + 'expected a ' + name + ', got ' + (e?.name ?? typeof e) + ': ' + e?.message);\n"
    "  if (pattern && !pattern.test(String(e.message)))\n"
    "    throw new Error((msg ? msg + ': ' : '') + 'message ' + show(e.message) + ' does not match ' + pattern);\n"
    "  return e;\n"
    "};\n"
    "globalThis.assertThrows = (fn, type = Error, pattern, msg) => {\n"
    "  try { fn(); } catch (e) { return checkError(e, type, pattern, msg); }\n"
    "  throw new Error((msg ? msg + ': ' : '') + 'expected an exception');\n"
    "};\n"
    "globalThis.assertRejects = async (p, type = Error, pattern, msg) => {\n"
    "  try { await (typeof p === 'function' ? p() : p); } catch (e) { return checkError(e, type, pattern, msg); }\n"
    "  throw new Error((msg ? msg + ': ' : '') + 'expected a rejection');\n"
    "};\n"
    "globalThis.__runCases = async (file) => {\n"
    "  const fails = []; let n = 0;\n"
    "  for (const [name, fn] of __cases) {\n"
    "    n++; globalThis.__current = name;\n"
    "    try { await fn(); } catch (e) {\n"
    "      fails.push(file + ': ' + name + ': ' + (e instanceof Error ? e.message + '\\n' + e.stack : show(e)));\n"
    "    }\n"
    "    takeLogs();\n"
    "  }\n"
    "  return [n, fails];\n"
    "};\n";

static void drain(env_t *e)
{
    JSContext *c;
    int r;
    while ((r = JS_ExecutePendingJob(e->rt, &c)) != 0) {
        if (r < 0) {
            JSValue exc = JS_GetException(c);
            char *s = web_format_error(c, exc);
            print_message("uncaught in a job: %s\n", s);
            free(s);
            JS_FreeValue(c, exc);
        }
    }
}

static void fail_with_exception(env_t *e, const char *what)
{
    JSValue exc = JS_GetException(e->ctx);
    char *s = web_format_error(e->ctx, exc);
    JS_FreeValue(e->ctx, exc);
    print_error("%s: %s\n", what, s);
    free(s);
    fail();
}

static env_t *env_new(void)
{
    env_t *e = xcalloc(1, sizeof *e);
    e->rt = JS_NewRuntime();
    e->ctx = JS_NewContext(e->rt);
    /* The context's opaque is the API host in the server; here there is
     * none, so natives that need one (timers, fetch) refuse cleanly. */
    current_env = e;
    e->web = web_new(e->ctx, capture_log, e);
    if (!e->web)
        fail_with_exception(e, "web_new");
    JSValue g = JS_GetGlobalObject(e->ctx);
    JS_SetPropertyStr(e->ctx, g, "takeLogs", JS_NewCFunction(e->ctx, js_take_logs, "takeLogs", 0));
    JS_SetPropertyStr(e->ctx, g, "print", JS_NewCFunction(e->ctx, js_print, "print", 1));
    JS_SetPropertyStr(e->ctx, g, "cpuNow", JS_NewCFunction(e->ctx, js_cpu_now, "cpuNow", 0));
    JS_FreeValue(e->ctx, g);
    JSValue r = JS_Eval(e->ctx, harness_js, sizeof harness_js - 1, "<harness>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(r))
        fail_with_exception(e, "harness");
    JS_FreeValue(e->ctx, r);
    return e;
}

static void env_free(env_t *e)
{
    drain(e);
    web_free(e->web, e->ctx);
    JS_FreeContext(e->ctx);
    JS_FreeRuntime(e->rt);
    clear_logs(e);
    free(e);
}

static JSValue eval(env_t *e, const char *src)
{
    JSValue v = JS_Eval(e->ctx, src, strlen(src), "<test>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(v))
        fail_with_exception(e, src);
    return v;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_putc(&b, '\0');
    b.len--;
    return (char *)buf_steal(&b, len);
}

/* ------------------------------------------------------ JavaScript files */

static void test_js_file(void **state)
{
    const char *name = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", WEB_TEST_DIR, name);
    size_t len;
    char *src = read_file(path, &len);
    assert_non_null(src);

    env_t *e = env_new();
    JSValue r = JS_Eval(e->ctx, src, len, path, JS_EVAL_TYPE_GLOBAL);
    free(src);
    if (JS_IsException(r))
        fail_with_exception(e, path);
    JS_FreeValue(e->ctx, r);

    JSValue g = JS_GetGlobalObject(e->ctx);
    JSValue run = JS_GetPropertyStr(e->ctx, g, "__runCases");
    JSValue arg = JS_NewString(e->ctx, name);
    JSValue p = JS_Call(e->ctx, run, JS_UNDEFINED, 1, &arg);
    JS_FreeValue(e->ctx, arg);
    JS_FreeValue(e->ctx, run);
    JS_FreeValue(e->ctx, g);
    if (JS_IsException(p))
        fail_with_exception(e, path);
    drain(e);
    if (JS_PromiseState(e->ctx, p) == JS_PROMISE_PENDING) {
        /* A case awaits something that never happens: say which one. */
        JSValue cur = eval(e, "globalThis.__current");
        const char *cs = JS_ToCString(e->ctx, cur);
        print_error("FAIL %s: the case \"%s\" never finished\n", name, cs ? cs : "?");
        JS_FreeCString(e->ctx, cs);
        JS_FreeValue(e->ctx, cur);
    }
    assert_int_equal(JS_PromiseState(e->ctx, p), JS_PROMISE_FULFILLED);
    JSValue res = JS_PromiseResult(e->ctx, p);
    JS_FreeValue(e->ctx, p);

    JSValue nv = JS_GetPropertyUint32(e->ctx, res, 0);
    JSValue fails = JS_GetPropertyUint32(e->ctx, res, 1);
    int32_t ncases = 0, nfails = 0;
    JS_ToInt32(e->ctx, &ncases, nv);
    JSValue lv = JS_GetPropertyStr(e->ctx, fails, "length");
    JS_ToInt32(e->ctx, &nfails, lv);
    for (int32_t i = 0; i < nfails; i++) {
        JSValue f = JS_GetPropertyUint32(e->ctx, fails, (uint32_t)i);
        const char *s = JS_ToCString(e->ctx, f);
        print_error("FAIL %s\n", s ? s : "?");
        JS_FreeCString(e->ctx, s);
        JS_FreeValue(e->ctx, f);
    }
    print_message("%s: %d cases, %d failed\n", name, (int)ncases, (int)nfails);
    JS_FreeValue(e->ctx, lv);
    JS_FreeValue(e->ctx, nv);
    JS_FreeValue(e->ctx, fails);
    JS_FreeValue(e->ctx, res);
    env_free(e);
    assert_true(ncases > 0);
    assert_int_equal(nfails, 0);
}

/* ------------------------------------------------------- the C entry points */

/* Calls globalThis[fn](arg), drains the jobs, and returns the settled value. */
static JSValue call_and_settle(env_t *e, const char *fn, JSValueConst arg)
{
    JSValue g = JS_GetGlobalObject(e->ctx);
    JSValue f = JS_GetPropertyStr(e->ctx, g, fn);
    JSValue p = JS_Call(e->ctx, f, JS_UNDEFINED, 1, &arg);
    JS_FreeValue(e->ctx, f);
    JS_FreeValue(e->ctx, g);
    if (JS_IsException(p))
        fail_with_exception(e, fn);
    drain(e);
    if (JS_PromiseState(e->ctx, p) < 0)
        return p;
    assert_int_equal(JS_PromiseState(e->ctx, p), JS_PROMISE_FULFILLED);
    JSValue v = JS_PromiseResult(e->ctx, p);
    JS_FreeValue(e->ctx, p);
    return v;
}

static const char *header(const http_response_t *res, const char *name, int nth)
{
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcmp(res->headers[i].name, name) == 0 && nth-- == 0)
            return res->headers[i].value;
    }
    return NULL;
}

static void test_round_trip(void **state)
{
    env_t *e = env_new();
    JSValue v = eval(e,
        "globalThis.handle = async (req) => {\n"
        "  const body = await req.text();\n"
        "  const h = new Headers({ 'x-method': req.method, 'x-url': req.url,\n"
        "    'x-multi': req.headers.get('x-multi'), 'x-latin': req.headers.get('x-latin'),\n"
        "    'x-used': String(req.bodyUsed) });\n"
        "  h.append('Set-Cookie', 'a=1');\n"
        "  h.append('Set-Cookie', 'b=2');\n"
        "  return new Response('got ' + body + ' \\u00e9\\ud800', { status: 201, statusText: 'Made \\u00e9', headers: h });\n"
        "};\n");
    JS_FreeValue(e->ctx, v);

    http_header_t hs[] = {
        {"Content-Type", "text/plain", 12, 10},
        {"X-Multi", "a", 7, 1},
        {"x-multi", "b", 7, 1},
        {"X-Latin", "caf\xe9", 7, 4},
    };
    const char *body = "hello";
    JSValue req = web_request_new(e->web, e->ctx, "post", "http://app.localhost:8787/_do/x/../y/%7e?q=1 2",
                                  hs, 4, (const uint8_t *)body, 5);
    if (JS_IsException(req))
        fail_with_exception(e, "web_request_new");
    JSValue resv = call_and_settle(e, "handle", req);
    JS_FreeValue(e->ctx, req);

    http_response_t *res = NULL;
    if (web_response_read(e->web, e->ctx, resv, &res) < 0)
        fail_with_exception(e, "web_response_read");
    assert_int_equal(res->status, 201);
    assert_string_equal(res->reason, "Made \xe9");
    assert_string_equal(header(res, "x-method", 0), "POST");
    assert_string_equal(header(res, "x-url", 0), "http://app.localhost:8787/_do/y/%7e?q=1%202");
    assert_string_equal(header(res, "x-multi", 0), "a, b");
    assert_string_equal(header(res, "x-latin", 0), "caf\xe9");
    assert_string_equal(header(res, "x-used", 0), "true");
    assert_string_equal(header(res, "set-cookie", 0), "a=1");
    assert_string_equal(header(res, "set-cookie", 1), "b=2");
    assert_string_equal(header(res, "content-type", 0), "text/plain;charset=UTF-8");
    const char *want = "got hello \xc3\xa9\xef\xbf\xbd";
    assert_int_equal(res->body.len, strlen(want));
    assert_memory_equal(res->body.data, want, strlen(want));
    http_response_free(res);

    /* Reading consumed the body: the same Response cannot be sent twice. */
    assert_int_equal(web_response_read(e->web, e->ctx, resv, &res), -1);
    JSValue exc = JS_GetException(e->ctx);
    char *msg = web_format_error(e->ctx, exc);
    assert_non_null(strstr(msg, "TypeError: fetch() returned a Response whose body has already been used"));
    free(msg);
    JS_FreeValue(e->ctx, exc);
    JS_FreeValue(e->ctx, resv);

    /* A request without a body has body null; bytes bodies pass through. */
    v = eval(e,
        "globalThis.handle2 = async (req) => new Response(req.body === null ? new Uint8Array([0, 255, 1]) : 'x',\n"
        "  { headers: { 'content-type': 'application/octet-stream' } });\n");
    JS_FreeValue(e->ctx, v);
    req = web_request_new(e->web, e->ctx, "GET", "http://localhost/", NULL, 0, NULL, 0);
    resv = call_and_settle(e, "handle2", req);
    JS_FreeValue(e->ctx, req);
    assert_int_equal(web_response_read(e->web, e->ctx, resv, &res), 0);
    assert_int_equal(res->status, 200);
    assert_null(res->reason);
    assert_int_equal(res->body.len, 3);
    assert_memory_equal(res->body.data, "\x00\xff\x01", 3);
    assert_int_equal(res->nheaders, 1);
    http_response_free(res);
    JS_FreeValue(e->ctx, resv);

    /* A null body gives an empty one. */
    v = eval(e, "new Response(null, { status: 204 })");
    assert_int_equal(web_response_read(e->web, e->ctx, v, &res), 0);
    assert_int_equal(res->status, 204);
    assert_int_equal(res->body.len, 0);
    http_response_free(res);
    JS_FreeValue(e->ctx, v);
    env_free(e);
}

static void expect_read_error(env_t *e, const char *src, const char *want)
{
    JSValue v = eval(e, src);
    http_response_t *res = NULL;
    assert_int_equal(web_response_read(e->web, e->ctx, v, &res), -1);
    assert_null(res);
    JSValue exc = JS_GetException(e->ctx);
    char *msg = web_format_error(e->ctx, exc);
    if (!strstr(msg, want))
        print_error("got %s, want %s\n", msg, want);
    assert_non_null(strstr(msg, want));
    free(msg);
    JS_FreeValue(e->ctx, exc);
    JS_FreeValue(e->ctx, v);
}

static void test_response_read_errors(void **state)
{
    env_t *e = env_new();
    expect_read_error(e, "undefined", "TypeError: fetch() must return a Response, got undefined");
    expect_read_error(e, "'text'", "fetch() must return a Response, got string");
    expect_read_error(e, "({ status: 200 })", "got an object of class Object");
    expect_read_error(e, "new (class Foo {})()", "got an object of class Foo");
    expect_read_error(e, "Response.error()", "Response.error()");
    expect_read_error(e, "const r = new Response('a'); r.text(); r", "already been used");
    env_free(e);
}

static void test_format_error(void **state)
{
    env_t *e = env_new();
    JSValue v = JS_Eval(e->ctx, "function boom() { throw new RangeError('too big'); }\nboom();", 52, "f.js",
                        JS_EVAL_TYPE_GLOBAL);
    assert_true(JS_IsException(v));
    JSValue exc = JS_GetException(e->ctx);
    char *s = web_format_error(e->ctx, exc);
    assert_true(strncmp(s, "RangeError: too big\n    at boom (f.js:1", 39) == 0);
    free(s);
    JS_FreeValue(e->ctx, exc);

    v = JS_Eval(e->ctx, "throw 'plain'", 13, "g.js", JS_EVAL_TYPE_GLOBAL);
    exc = JS_GetException(e->ctx);
    s = web_format_error(e->ctx, exc);
    assert_string_equal(s, "plain");
    free(s);
    JS_FreeValue(e->ctx, exc);

    v = JS_Eval(e->ctx, "throw new Error('')", 19, "h.js", JS_EVAL_TYPE_GLOBAL);
    exc = JS_GetException(e->ctx);
    s = web_format_error(e->ctx, exc);
    assert_true(strncmp(s, "Error\n    at <eval> (h.js:1", 27) == 0);
    free(s);
    JS_FreeValue(e->ctx, exc);
    env_free(e);
}

static void test_console_levels(void **state)
{
    env_t *e = env_new();
    JSValue v = eval(e, "console.debug('d'); console.log('l', 1); console.info({a: 1}); console.warn('w');"
                        "console.error(new Error('e'));");
    JS_FreeValue(e->ctx, v);
    assert_int_equal(e->nlogs, 5);
    int levels[] = {0, 1, 1, 2, 3};
    for (int i = 0; i < 5; i++)
        assert_int_equal(e->logs[i].level, levels[i]);
    assert_string_equal(e->logs[1].msg, "l 1");
    assert_string_equal(e->logs[2].msg, "{ a: 1 }");
    assert_true(strncmp(e->logs[4].msg, "Error: e\n    at <eval>", 22) == 0);
    clear_logs(e);

    /* An exception in a microtask reaches the error log instead of vanishing. */
    v = eval(e, "queueMicrotask(() => { throw new TypeError('lost?'); });");
    JS_FreeValue(e->ctx, v);
    drain(e);
    assert_int_equal(e->nlogs, 1);
    assert_int_equal(e->logs[0].level, 3);
    assert_true(strncmp(e->logs[0].msg, "Uncaught TypeError: lost?", 25) == 0);
    env_free(e);
}

/* CPU time, not wall time: the machine running the tests may be busy. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The per-request cost of the platform: build the Request, let a trivial
 * handler answer, read the Response back into C. */
static void test_request_cost(void **state)
{
    env_t *e = env_new();
    JSValue v = eval(e,
        "globalThis.handle = (req) => new Response('ok ' + req.method + ' ' + new URL(req.url).pathname,"
        " { headers: { 'x-a': req.headers.get('user-agent') ?? '' } });");
    JS_FreeValue(e->ctx, v);
    JSValue g = JS_GetGlobalObject(e->ctx);
    JSValue handle = JS_GetPropertyStr(e->ctx, g, "handle");
    JS_FreeValue(e->ctx, g);
    http_header_t hs[] = {
        {"Host", "app.localhost:8787", 4, 18},
        {"User-Agent", "curl/7.88.1", 10, 11},
        {"Accept", "*/*", 6, 3},
        {"Content-Type", "application/json", 12, 16},
    };
    const char *body = "{\"n\":1}";
    const char *env_n = getenv("WEB_BENCH_N");
    int n = env_n ? atoi(env_n) : 100000;
    double t0 = now_ms(), t_make = 0, t_read = 0;
    for (int i = 0; i < n; i++) {
        double a = now_ms();
        JSValue req = web_request_new(e->web, e->ctx, "POST", "http://app.localhost:8787/_do/counter/a?x=1",
                                      hs, 4, (const uint8_t *)body, strlen(body));
        double b = now_ms();
        JSValue resv = JS_Call(e->ctx, handle, JS_UNDEFINED, 1, &req);
        JS_FreeValue(e->ctx, req);
        if (JS_IsException(resv))
            fail_with_exception(e, "handle");
        double c = now_ms();
        http_response_t *res;
        if (web_response_read(e->web, e->ctx, resv, &res) < 0)
            fail_with_exception(e, "read");
        double d = now_ms();
        t_make += b - a;
        t_read += d - c;
        JS_FreeValue(e->ctx, resv);
        assert_int_equal(res->body.len, 22);
        http_response_free(res);
    }
    double total = now_ms() - t0;
    print_message("%d requests: %.2f us each in all; web_request_new %.2f us, web_response_read %.2f us\n", n,
                  total * 1000 / n, t_make * 1000 / n, t_read * 1000 / n);
    JS_FreeValue(e->ctx, handle);
    env_free(e);
}

/* ---------------------------------------------------------------- main */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    char **files = NULL;
    size_t nfiles = 0;
    DIR *d = opendir(WEB_TEST_DIR);
    if (!d) {
        fprintf(stderr, "test_web: cannot open %s (run from the repository root)\n", WEB_TEST_DIR);
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 3 && strcmp(de->d_name + len - 3, ".js") == 0) {
            files = xrealloc(files, (nfiles + 1) * sizeof *files);
            files[nfiles++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    qsort(files, nfiles, sizeof *files, by_name);

    size_t ntests = nfiles + 5;
    struct CMUnitTest *tests = xcalloc(ntests, sizeof *tests);
    for (size_t i = 0; i < nfiles; i++) {
        tests[i].name = files[i];
        tests[i].test_func = test_js_file;
        tests[i].initial_state = files[i];
    }
    tests[nfiles] = (struct CMUnitTest)cmocka_unit_test(test_round_trip);
    tests[nfiles + 1] = (struct CMUnitTest)cmocka_unit_test(test_response_read_errors);
    tests[nfiles + 2] = (struct CMUnitTest)cmocka_unit_test(test_format_error);
    tests[nfiles + 3] = (struct CMUnitTest)cmocka_unit_test(test_console_levels);
    tests[nfiles + 4] = (struct CMUnitTest)cmocka_unit_test(test_request_cost);
    int rc = _cmocka_run_group_tests("web", tests, ntests, NULL, NULL);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    free(tests);
    return rc;
}
