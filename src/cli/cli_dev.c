/* `dorm dev FILE...`: the development loop. Starts `dorm serve` (this same
 * binary) on a data folder of its own, deploys every file, watches them
 * (inotify, through libuv's fs events on their folders) and redeploys a
 * file when it is saved, printing what the server said: where the class is
 * served, or the compile error. Ctrl-C stops the server and the loop. Like
 * every client command it talks to the server over HTTP only. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "cli_int.h"

#define SETTLE_MS 80          /* editors write in steps: wait for the last one */
#define START_TIMEOUT_MS 30000

typedef struct dev devloop_t;

typedef struct dev_file {
    devloop_t *dev;
    buf_t name;        /* the deploy name */
    const char *arg;   /* as given */
    char path[PATH_MAX];
    const char *base;  /* the file name inside its folder */
    buf_t last;        /* the code last deployed (or refused) */
    int deployed;      /* last deploy attempt was accepted */
    uv_timer_t settle;
} dev_file_t;

typedef struct dev_dir {
    devloop_t *dev;
    char path[PATH_MAX];
    uv_fs_event_t watch;
} dev_dir_t;

struct dev {
    const cli_args_t *args;
    uv_loop_t *loop;
    uv_process_t server;
    uv_signal_t sigint, sigterm;
    uv_timer_t wait_up;
    uint64_t started_ms;
    buf_t base;  /* the server's URL */
    buf_t token;
    const char *data;
    const char *access;
    dev_file_t files[CLI_MAX_FILES];
    int nfiles;
    dev_dir_t dirs[CLI_MAX_FILES];
    int ndirs;
    int up;
    int stopping;
    int exit_code;
};

static void stamp(char out[16])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 16, "%H:%M:%S", &tm);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char when[16];
    stamp(when);
    printf("[%s] ", when);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- deploying ------------------------------------------------------------------------ */

static void deploy(devloop_t *d, dev_file_t *f)
{
    buf_t code = BUF_INIT, err = BUF_INIT;
    int rc = cli_read_code(f->path, CLI_MAX_CODE_BYTES, &code, &err);
    if (rc != CLI_EXIT_OK) {
        say("%s: %s\n", f->arg, buf_cstr(&err));
        goto done;
    }
    if (f->last.data && code.len == f->last.len && memcmp(code.data, f->last.data, code.len) == 0)
        goto done; /* saved without a change */
    buf_reset(&f->last);
    buf_append(&f->last, code.data, code.len);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s%}", "app_id", CLI_DEFAULT_APP, "action", "deploy",
                            "name", buf_cstr(&f->name), "code", buf_cstr(&code), code.len);
    if (!req) {
        say("%s is not UTF-8 text; save it as UTF-8\n", f->arg);
        goto done;
    }
    json_object_set_new(req, "access_mode", json_string(d->access));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    cli_http_reply_t reply;
    cli_http_reply_init(&reply);
    uint64_t t0 = uv_hrtime();
    if (cli_http_post(buf_cstr(&d->base), buf_cstr(&d->token), body, strlen(body), &reply) < 0) {
        say("%s: cannot reach the dev server (%s)\n", f->arg, buf_cstr(&reply.error));
    } else if (reply.status >= 200 && reply.status < 300) {
        json_t *res = json_loadb((const char *)reply.body.data, reply.body.len, 0, NULL);
        const char *cls = json_string_value(json_object_get(res, "class_name"));
        buf_t url = BUF_INIT;
        cli_served_url(buf_cstr(&d->base), CLI_DEFAULT_APP, buf_cstr(&f->name), &url);
        say("%s %s (%s) from %s in %.0f ms: %s\n", f->deployed ? "redeployed" : "deployed",
            buf_cstr(&f->name), cls ? cls : "?", f->arg, (double)(uv_hrtime() - t0) / 1e6,
            buf_cstr(&url));
        buf_deinit(&url);
        json_decref(res);
        f->deployed = 1;
    } else {
        buf_t msg = BUF_INIT;
        cli_format_error(reply.status, (const char *)reply.body.data, reply.body.len,
                         buf_cstr(&d->base), &msg);
        say("%s (from %s) was not deployed:\n%s\n%s\n", buf_cstr(&f->name), f->arg,
            buf_cstr(&msg),
            f->deployed ? "the previous version keeps serving; fix the file and save it again"
                        : "fix the file and save it again");
        buf_deinit(&msg);
    }
    cli_http_reply_deinit(&reply);
    free(body);
done:
    buf_deinit(&code);
    buf_deinit(&err);
}

static void settle_cb(uv_timer_t *t)
{
    dev_file_t *f = t->data;
    if (f->dev->up && !f->dev->stopping)
        deploy(f->dev, f);
}

static void fs_event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    dev_dir_t *w = h->data;
    devloop_t *d = w->dev;
    if (status < 0 || !filename)
        return;
    size_t dl = strlen(w->path);
    for (int i = 0; i < d->nfiles; i++) {
        dev_file_t *f = &d->files[i];
        /* a file of this folder (not of a folder of the same name elsewhere) */
        if (strcmp(f->base, filename) == 0 && (size_t)(f->base - f->path) == dl + 1 &&
            strncmp(f->path, w->path, dl) == 0)
            uv_timer_start(&f->settle, settle_cb, SETTLE_MS, 0);
    }
}

/* ---- the server --------------------------------------------------------------------------- */

static void close_all(devloop_t *d);

static void server_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    devloop_t *d = p->data;
    if (!d->stopping) {
        fprintf(stderr, "dorm dev: the server exited (%s %d); see its log above\n",
                sig ? "signal" : "status", sig ? sig : (int)status);
        d->exit_code = 1;
    } else if (status != 0 || sig) {
        fprintf(stderr, "dorm dev: the server stopped with %s %d\n", sig ? "signal" : "status",
                sig ? sig : (int)status);
        d->exit_code = 1;
    }
    close_all(d);
}

static void stop(devloop_t *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    fprintf(stderr, "dorm dev: stopping the server\n");
    uv_process_kill(&d->server, SIGTERM);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    stop(h->data);
}

static int health(devloop_t *d)
{
    CURL *c = curl_easy_init();
    buf_t url = BUF_INIT;
    buf_printf(&url, "%s/_api/health", buf_cstr(&d->base));
    curl_easy_setopt(c, CURLOPT_URL, buf_cstr(&url));
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    buf_deinit(&url);
    return status == 200;
}

static void start_watching(devloop_t *d)
{
    for (int i = 0; i < d->nfiles; i++) {
        dev_file_t *f = &d->files[i];
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(f->base - f->path - 1), f->path);
        int known = 0;
        for (int j = 0; j < d->ndirs; j++)
            known = known || strcmp(d->dirs[j].path, dir) == 0;
        if (known)
            continue;
        dev_dir_t *w = &d->dirs[d->ndirs];
        snprintf(w->path, sizeof w->path, "%s", dir);
        w->dev = d;
        uv_fs_event_init(d->loop, &w->watch);
        w->watch.data = w;
        int rc = uv_fs_event_start(&w->watch, fs_event_cb, w->path, 0);
        if (rc < 0)
            fprintf(stderr, "dorm dev: cannot watch %s: %s; changes there are not seen\n", w->path,
                    uv_strerror(rc));
        d->ndirs++;
    }
}

static void wait_up_cb(uv_timer_t *t)
{
    devloop_t *d = t->data;
    if (d->stopping)
        return;
    if (!health(d)) {
        if (uv_now(d->loop) - d->started_ms > START_TIMEOUT_MS) {
            fprintf(stderr, "dorm dev: the server did not come up in %d s\n",
                    START_TIMEOUT_MS / 1000);
            d->exit_code = 1;
            stop(d);
        }
        return;
    }
    uv_timer_stop(t);
    /* The token: the one it was given, else the one it wrote. */
    cli_args_t ta;
    memset(&ta, 0, sizeof ta);
    ta.data = d->data;
    cli_env_t env = {.admin_token = getenv("DORM_ADMIN_TOKEN")};
    buf_t err = BUF_INIT;
    if (cli_resolve_token(&ta, &env, &d->token, &err) < 0) {
        fprintf(stderr, "dorm dev: %s\n", buf_cstr(&err));
        buf_deinit(&err);
        d->exit_code = 1;
        stop(d);
        return;
    }
    buf_deinit(&err);
    d->up = 1;
    say("dev server on %s (data in %s); watching %d file%s, Ctrl-C to stop\n", buf_cstr(&d->base),
        d->data, d->nfiles, d->nfiles == 1 ? "" : "s");
    start_watching(d);
    for (int i = 0; i < d->nfiles; i++)
        deploy(d, &d->files[i]);
}

static void close_all(devloop_t *d)
{
    uv_close((uv_handle_t *)&d->server, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->wait_up, NULL);
    for (int i = 0; i < d->nfiles; i++)
        uv_close((uv_handle_t *)&d->files[i].settle, NULL);
    for (int i = 0; i < d->ndirs; i++)
        uv_close((uv_handle_t *)&d->dirs[i].watch, NULL);
}

/* "127.0.0.1:8787" -> "http://127.0.0.1:8787"; a wildcard address is reached on loopback. */
static int server_url(const char *listen, buf_t *out)
{
    const char *colon = strrchr(listen, ':');
    const char *port = colon ? colon + 1 : listen;
    if (!*port || strspn(port, "0123456789") != strlen(port))
        return -1;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    buf_puts(out, "http://");
    if (hl == 0 || (hl == 7 && strncmp(listen, "0.0.0.0", 7) == 0))
        buf_puts(out, "127.0.0.1");
    else if (hl == 4 && strncmp(listen, "[::]", 4) == 0)
        buf_puts(out, "[::1]");
    else
        buf_append(out, listen, hl);
    buf_printf(out, ":%s", port);
    return 0;
}

int cli_dev_run(const cli_args_t *a)
{
    devloop_t d;
    memset(&d, 0, sizeof d);
    d.args = a;
    d.data = a->data ? a->data : CLI_DEFAULT_DEV_DATA;
    d.access = a->access ? a->access : "public";
    const char *listen = a->listen ? a->listen : CLI_DEFAULT_LISTEN;
    int rc = CLI_EXIT_OK;
    if (server_url(listen, &d.base) < 0) {
        fprintf(stderr, "dorm dev: --listen takes HOST:PORT, e.g. " CLI_DEFAULT_LISTEN
                        " (got \"%s\"); see dorm dev --help\n",
                listen);
        buf_deinit(&d.base);
        return CLI_EXIT_USAGE;
    }
    for (int i = 0; i < a->nfiles; i++) {
        dev_file_t *f = &d.files[d.nfiles];
        const char *path;
        buf_init(&f->name);
        buf_init(&f->last);
        cli_dev_name(a->files[i], &f->name, &path);
        f->arg = a->files[i];
        f->dev = &d;
        if (!realpath(path, f->path)) {
            fprintf(stderr, "dorm dev: cannot read %s: %s; pass the .ts or .js files of your "
                            "classes\n",
                    path, strerror(errno));
            rc = CLI_EXIT_USAGE;
        }
        f->base = strrchr(f->path, '/') + 1;
        for (int j = 0; j < d.nfiles && rc == CLI_EXIT_OK; j++)
            if (strcmp(buf_cstr(&d.files[j].name), buf_cstr(&f->name)) == 0) {
                fprintf(stderr, "dorm dev: %s and %s would both deploy as %s; name one with "
                                "NAME=FILE\n",
                        d.files[j].arg, f->arg, buf_cstr(&f->name));
                rc = CLI_EXIT_USAGE;
            }
        d.nfiles++;
    }
    if (rc != CLI_EXIT_OK)
        goto done;

    d.loop = uv_default_loop();
    char exe[PATH_MAX];
    size_t exelen = sizeof exe;
    if (uv_exepath(exe, &exelen) < 0) {
        fprintf(stderr, "dorm dev: cannot find its own binary to start the server\n");
        rc = CLI_EXIT_REFUSED;
        goto done;
    }
    char *argv[12];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "serve";
    argv[n++] = "--listen";
    argv[n++] = (char *)listen;
    argv[n++] = "--data";
    argv[n++] = (char *)d.data;
    if (a->threads) {
        argv[n++] = "--threads";
        argv[n++] = (char *)a->threads;
    }
    argv[n] = NULL;
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t opts = {.exit_cb = server_exit_cb, .file = exe, .args = argv,
                                 .stdio_count = 3, .stdio = stdio};
    d.server.data = &d;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int sr = uv_spawn(d.loop, &d.server, &opts);
    if (sr < 0) {
        fprintf(stderr, "dorm dev: cannot start the server: %s\n", uv_strerror(sr));
        rc = CLI_EXIT_REFUSED;
        curl_global_cleanup();
        goto done;
    }
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, signal_cb, SIGINT);
    uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
    for (int i = 0; i < d.nfiles; i++) {
        uv_timer_init(d.loop, &d.files[i].settle);
        d.files[i].settle.data = &d.files[i];
    }
    uv_timer_init(d.loop, &d.wait_up);
    d.wait_up.data = &d;
    d.started_ms = uv_now(d.loop);
    uv_timer_start(&d.wait_up, wait_up_cb, 100, 100);
    uv_run(d.loop, UV_RUN_DEFAULT);
    uv_loop_close(d.loop);
    curl_global_cleanup();
    rc = d.exit_code;
done:
    for (int i = 0; i < d.nfiles; i++) {
        buf_deinit(&d.files[i].name);
        buf_deinit(&d.files[i].last);
    }
    buf_deinit(&d.base);
    if (d.token.data)
        memset(d.token.data, 0, d.token.cap);
    buf_deinit(&d.token);
    return rc;
}
