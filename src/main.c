/* dorm's entry point: `dorm serve` runs the server (control/), every other
 * subcommand is the client (cli/). Parses serve's flags into the
 * configuration and nothing else. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/fetch.h"
#include "api/fetch_policy.h"
#include "cli/cli.h"
#include "control/control.h"

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dorm serve: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "; see dorm serve --help\n");
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

/* "127.0.0.1:8787", "[::1]:8787", ":8787" or "8787". */
static bool parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    uint64_t v;
    if (!parse_u64(p, &v) || v > 65535)
        return false;
    *port = (int)v;
    if (!colon || colon == s) {
        snprintf(host, hostlen, "127.0.0.1");
        return true;
    }
    size_t n = (size_t)(colon - s);
    if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n >= hostlen)
        return false;
    memcpy(host, s, n);
    host[n] = 0;
    return true;
}

/* How many SQLite connections each shard may keep open (two per open
 * instance database: a reader and a writer). A connection in WAL mode holds
 * up to three descriptors (database, -wal, and its share of -shm), and
 * sockets need theirs: the soft file limit is raised to the hard one, a
 * quarter of it (at least 256) is left for sockets and everything else, and
 * the rest is shared by the shards. By default at most 512 per shard (256
 * databases): measured with 10,000 counters hit at random, more open
 * databases cost memory (about 300 KiB each) and time (SQLite walks a list
 * of every open file on each open) without raising throughput. */
static size_t open_handle_budget(int threads)
{
    struct rlimit rl;
    uint64_t nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
            struct rlimit up = {want, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &up) == 0)
                rl.rlim_cur = want;
        }
        nofile = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (uint64_t)rl.rlim_cur;
    }
    uint64_t reserve = nofile / 4 < 256 ? 256 : nofile / 4;
    uint64_t spare = nofile > reserve ? nofile - reserve : 0;
    uint64_t per_shard = spare / 3 / (uint64_t)(threads > 0 ? threads : 1);
    if (per_shard < 8)
        per_shard = 8;
    return (size_t)per_shard;
}

static int serve(int argc, char **argv)
{
    static char host[256];
    control_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(host, sizeof host, "127.0.0.1");
    cfg.listen_host = host;
    cfg.port = 8787;
    cfg.data_dir = "./.dorm";
    cfg.domain = "localhost";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = cores > 0 ? (int)cores : 1;
    cfg.actor.durability = STORE_DURABILITY_FSYNC;
    cfg.actor.cpu_limit_ms = 30000;
    cfg.actor.memory_limit = 128u << 20;
    cfg.actor.idle_evict_ms = 70000;
    cfg.actor.hibernate_ms = 10000;
    cfg.actor.alarm_retry_ms = 2000;
    cfg.actor.block_timeout_ms = 30000; /* as on Cloudflare */
    cfg.actor.ws_max_sockets = 32768; /* as on Cloudflare */
    ws_limits_default(&cfg.actor.ws);
    cfg.actor.max_open_handles = 0; /* from the file limit, below */
    http_limits_default(&cfg.limits);
    const char *hooks = getenv("DORM_TEST_HOOKS");
    cfg.test_hooks = hooks && strcmp(hooks, "1") == 0;
    /* Read by every shard while the server runs; freed when it has stopped. */
    static api_fetch_policy_t *fetch_policy;
    fetch_policy = api_fetch_policy_new();
    cfg.actor.fetch_policy = fetch_policy;
    char perr[400];

    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        char *val = NULL;
        char flag[64];
        char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof flag) {
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = 0;
            val = eq + 1;
            a = flag;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(cli_usage("serve"), stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            return usage_error("unexpected argument \"%s\"", a);
        if (!val) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            val = argv[++i];
        }
        uint64_t n;
        if (strcmp(a, "--listen") == 0) {
            if (!parse_listen(val, host, sizeof host, &cfg.port))
                return usage_error("--listen takes HOST:PORT, e.g. 127.0.0.1:8787 (got \"%s\")",
                                   val);
        } else if (strcmp(a, "--data") == 0) {
            cfg.data_dir = val;
        } else if (strcmp(a, "--domain") == 0) {
            cfg.domain = val;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_u64(val, &n) || n < 1 || n > 256)
                return usage_error("--threads takes a number from 1 to 256 (got \"%s\")", val);
            cfg.threads = (int)n;
        } else if (strcmp(a, "--log") == 0) {
            if (strcmp(val, "json") == 0)
                cfg.log_json = true;
            else if (strcmp(val, "text") != 0)
                return usage_error("--log takes text or json (got \"%s\")", val);
        } else if (strcmp(a, "--durability") == 0) {
            if (strcmp(val, "fsync") == 0)
                cfg.actor.durability = STORE_DURABILITY_FSYNC;
            else if (strcmp(val, "process") == 0)
                cfg.actor.durability = STORE_DURABILITY_PROCESS;
            else
                return usage_error("--durability takes fsync or process (got \"%s\")", val);
        } else if (strcmp(a, "--cpu-limit-ms") == 0) {
            if (!parse_u64(val, &n))
                return usage_error("--cpu-limit-ms takes milliseconds, 0 for none (got \"%s\")",
                                   val);
            cfg.actor.cpu_limit_ms = n;
        } else if (strcmp(a, "--memory-limit-mb") == 0) {
            if (!parse_u64(val, &n) || n < 8 || n > 65536)
                return usage_error("--memory-limit-mb takes 8 to 65536 (got \"%s\")", val);
            cfg.actor.memory_limit = (size_t)n << 20;
        } else if (strcmp(a, "--idle-evict-ms") == 0) {
            if (!parse_u64(val, &n) || n < 1)
                return usage_error("--idle-evict-ms takes milliseconds (got \"%s\")", val);
            cfg.actor.idle_evict_ms = n;
        } else if (strcmp(a, "--header-timeout-ms") == 0) {
            if (!parse_u64(val, &n) || n < 1)
                return usage_error("--header-timeout-ms takes milliseconds (got \"%s\")", val);
            cfg.limits.header_timeout_ms = n;
        } else if (strcmp(a, "--max-body-bytes") == 0) {
            if (!parse_u64(val, &n) || n < 1)
                return usage_error("--max-body-bytes takes a byte count (got \"%s\")", val);
            cfg.limits.max_body_bytes = (size_t)n;
        } else if (strcmp(a, "--alarm-retry-ms") == 0) {
            if (!parse_u64(val, &n) || n < 1 || n > 3600000)
                return usage_error("--alarm-retry-ms takes 1 to 3600000 (got \"%s\")", val);
            cfg.actor.alarm_retry_ms = n;
        } else if (strcmp(a, "--block-timeout-ms") == 0) {
            if (!parse_u64(val, &n) || n < 1 || n > 3600000)
                return usage_error("--block-timeout-ms takes 1 to 3600000 (got \"%s\")", val);
            cfg.actor.block_timeout_ms = n;
        } else if (strcmp(a, "--hibernate-ms") == 0) {
            if (!parse_u64(val, &n) || n < 1)
                return usage_error("--hibernate-ms takes milliseconds (got \"%s\")", val);
            cfg.actor.hibernate_ms = n;
        } else if (strcmp(a, "--ws-max-per-instance") == 0) {
            if (!parse_u64(val, &n) || n < 1 || n > 1000000)
                return usage_error("--ws-max-per-instance takes 1 to 1000000 (got \"%s\")", val);
            cfg.actor.ws_max_sockets = (size_t)n;
        } else if (strcmp(a, "--ws-ping-ms") == 0) {
            if (!parse_u64(val, &n) || n < 10)
                return usage_error("--ws-ping-ms takes milliseconds, at least 10 (got \"%s\")",
                                   val);
            cfg.actor.ws.ping_interval_ms = n;
        } else if (strcmp(a, "--allow-fetch") == 0) {
            if (api_fetch_policy_allow(fetch_policy, val, perr, sizeof perr) < 0)
                return usage_error("%s", perr);
        } else if (strcmp(a, "--fetch-ca") == 0) {
            if (api_fetch_policy_add_ca(fetch_policy, val, perr, sizeof perr) < 0)
                return usage_error("%s", perr);
        } else if (strcmp(a, "--max-open-dbs") == 0) {
            if (!parse_u64(val, &n) || n < 8 || n > 1000000)
                return usage_error("--max-open-dbs takes 8 to 1000000 (got \"%s\")", val);
            cfg.actor.max_open_handles = (size_t)n * 2;
        } else {
            return usage_error("unknown flag %s", a);
        }
    }
    cfg.actor.data_dir = cfg.data_dir;
    size_t budget = open_handle_budget(cfg.threads);
    if (!cfg.actor.max_open_handles)
        cfg.actor.max_open_handles = budget < 512 ? budget : 512;
    if (cfg.actor.max_open_handles > budget) {
        fprintf(stderr,
                "dorm serve: --max-open-dbs %zu needs more open files than the limit allows; "
                "using %zu (raise it with ulimit -n)\n",
                cfg.actor.max_open_handles / 2, budget / 2);
        cfg.actor.max_open_handles = budget;
    }
    /* Commits run on libuv's pool; their fsyncs overlap, so give it room. */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    api_fetch_global_init();
    int rc = control_run(&cfg);
    api_fetch_policy_free(fetch_policy);
    fetch_policy = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    return cli_main(argc - 1, argv + 1);
}
