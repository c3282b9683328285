/* The CLI's usage texts: the overview (`dorm help`) and one text per command
 * (`dorm help COMMAND`, `dorm COMMAND --help`). Static strings only; no I/O
 * and nothing of the server. */
#include <string.h>

#include "cli.h"
#include "cli_int.h"

/* The texts are laid out by hand, one printed line per source line. */
/* clang-format off */
#define COMMON_FLAGS \
    "flags of the client commands, anywhere after the command (--flag=value too):\n" \
    "  --app APP      the app to act on (default: default)\n" \
    "  --url URL      the server (default: $DORM_URL, else " CLI_DEFAULT_URL ")\n" \
    "  --token TOKEN  the admin token (default: $DORM_TOKEN, else $DORM_ADMIN_TOKEN,\n" \
    "                 else the file DATA/admin.token)\n" \
    "  --data DIR     DATA, the server's data folder (default: $DORM_DATA, else ./.dorm)\n" \
    "  --json         print the server's JSON answer as is (an error too), for scripts\n" \
    "  --help, -h     print the usage of the command\n"

#define EXIT_CODES \
    "exit codes: 0 done, 1 the server refused (the reason is on stderr), 2 bad usage,\n" \
    "            3 the server could not be reached.\n"

/* pad lines the continuation up under the first flag. */
#define SERVE_LINE(pad) \
    "dorm serve [--listen 127.0.0.1:8787] [--data ./.dorm] [--domain localhost] [--threads N]\n" \
    pad "[--log text|json] [--durability fsync|process] [--cpu-limit-ms N]\n" \
    pad "[--memory-limit-mb N] [--idle-evict-ms N] [--max-body-bytes N]\n" \
    pad "[--header-timeout-ms N] [--max-open-dbs N] [--hibernate-ms N]\n" \
    pad "[--ws-ping-ms N] [--ws-max-per-instance N] [--alarm-retry-ms N]\n" \
    pad "[--block-timeout-ms N]\n" \
    pad "[--allow-fetch HOST|CIDR]... [--fetch-ca FILE]\n"

static const char usage_overview[] =
    "dorm: a self-hosted Durable Objects server, and its client.\n"
    "\n"
    "usage:\n"
    "  " SERVE_LINE("             ")
    "  dorm dev FILE... [--listen 127.0.0.1:8787] [--data ./.dorm-dev] [--access MODE]\n"
    "  dorm deploy NAME FILE [--access public|authenticated|service_key]\n"
    "  dorm list\n"
    "  dorm get NAME [--code]\n"
    "  dorm delete NAME [--yes]\n"
    "  dorm usage [NAME]\n"
    "  dorm logs NAME [--follow]\n"
    "  dorm env list | set KEY [VALUE] | delete KEY\n"
    "  dorm apps list | create APP [--subdomain S] | get APP | delete APP [--yes]\n"
    "            | rotate-key APP | set-auth APP (--jwt-secret S | --jwt-public-key FILE\n"
    "              | --jwks FILE | --clear) [--issuer ISS] [--audience AUD]\n"
    "  dorm storage list NAME | get NAME ID [--prefix P] | sql NAME ID QUERY\n"
    "               | delete NAME ID [--yes] | backup [NAME [ID]] [-o FILE]\n"
    "               | restore FILE [--name NAME [--id ID]]\n"
    "  dorm mcp\n"
    "  dorm help [COMMAND]\n"
    "\n"
    "commands:\n"
    "  serve   run the server; all its state lives under --data\n"
    "  dev     run a server for development, deploy FILEs and redeploy them on save\n"
    "  deploy  deploy (or redeploy) the class in FILE as NAME\n"
    "  list    list the classes deployed in an app\n"
    "  get     show one class, and its code with --code\n"
    "  delete  delete a class with every instance and all their storage\n"
    "  usage   requests, CPU time, instances, storage and errors of a class or an app\n"
    "  logs    what a class printed (console.*) and its uncaught errors; --follow streams\n"
    "  env     the env vars of an app (this.env in its classes)\n"
    "  apps    apps: create, inspect and delete them, rotate keys, verify JWTs\n"
    "  storage look into instances' storage, delete one, back up and restore\n"
    "  mcp     a Model Context Protocol server on stdin/stdout, for AI coding agents\n"
    "  help    this text, or the usage of one command\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES "\n"
    "More: dorm help COMMAND, or dorm COMMAND --help.\n";

static const char usage_serve[] =
    "usage: " SERVE_LINE("                  ")
    "\n"
    "Runs the server in the foreground. Every bit of state lives under --data. On\n"
    "first start it writes an admin token to DATA/admin.token (mode 0600), unless\n"
    "DORM_ADMIN_TOKEN is set; the client commands read that file.\n"
    "\n"
    "  --listen HOST:PORT     where to accept HTTP and WebSocket (default 127.0.0.1:8787)\n"
    "  --data DIR             the data folder (default ./.dorm)\n"
    "  --domain DOMAIN        app APP is served at APP.DOMAIN; a host naming no app\n"
    "                         means the app default (default localhost)\n"
    "  --threads N            shards, one thread each (default: one per core)\n"
    "  --log text|json        the format of the log on stderr (default text)\n"
    "  --durability fsync|process\n"
    "                         fsync: an acknowledged write survives power loss (default);\n"
    "                         process: it survives a killed process, not a power loss\n"
    "  --cpu-limit-ms N       CPU time one event may use before it fails (default 30000)\n"
    "  --memory-limit-mb N    JS memory of one class on one shard; past it the class's\n"
    "                         runtime there is reset (default 128)\n"
    "  --idle-evict-ms N      evict an instance idle with nothing open after N ms\n"
    "                         (default 70000)\n"
    "  --max-body-bytes N     the largest request body; past it 413 (default 104857600)\n"
    "  --header-timeout-ms N  time a client has to send a request's headers (default 10000)\n"
    "  --max-open-dbs N       instance databases each shard keeps open (default: from the\n"
    "                         open-file limit, at most 256)\n"
    "  --hibernate-ms N       an instance whose only ties are hibernatable WebSockets\n"
    "                         hibernates after N ms idle; the sockets stay open (default 10000)\n"
    "  --ws-ping-ms N         ping a WebSocket client silent for N ms; drop it after twice\n"
    "                         that (default 30000)\n"
    "  --ws-max-per-instance N  WebSockets one instance may hold; past it an upgrade gets\n"
    "                         429 (default 32768)\n"
    "  --alarm-retry-ms N     wait before the first retry of a failed alarm(); each next\n"
    "                         retry waits twice as long, six at most (default 2000)\n"
    "  --block-timeout-ms N   reset an instance whose blockConcurrencyWhile() or\n"
    "                         transaction() keeps its input gate closed N ms; the\n"
    "                         requests it holds fail with 500 (default 30000)\n"
    "  --allow-fetch HOST|CIDR\n"
    "                         let classes fetch() this host (api.internal, *.internal),\n"
    "                         address or range (10.0.0.0/8); repeatable. Otherwise\n"
    "                         loopback, private, link-local and metadata addresses\n"
    "                         are refused, so classes cannot reach this server's\n"
    "                         management API or the host's other services\n"
    "  --fetch-ca FILE        trust the CA certificates in this PEM file for fetch(),\n"
    "                         besides the system's store\n";

static const char usage_dev[] =
    "usage: dorm dev FILE... [--listen HOST:PORT] [--data DIR] [--access MODE]\n"
    "                        [--threads N]\n"
    "\n"
    "Starts a server for development (its log on stderr), deploys every FILE to the\n"
    "app default, then watches the files and redeploys one when it is saved. A\n"
    "compile error is printed with file:line:column and the previous version keeps\n"
    "serving; storage is kept across redeploys. Ctrl-C stops it all.\n"
    "\n"
    "Each FILE is deployed under the kebab-case form of its base name\n"
    "(ChatRoom.ts and chat-room.ts both as chat-room); NAME=FILE picks the name.\n"
    "\n"
    "  --listen HOST:PORT  where the server listens (default " CLI_DEFAULT_LISTEN ")\n"
    "  --data DIR          its data folder (default " CLI_DEFAULT_DEV_DATA "; kept between runs)\n"
    "  --access MODE       the access mode of the deployed classes (default public)\n"
    "  --threads N         the server's shards (default: one per core)\n"
    "\n"
    "exit codes: 0 stopped with Ctrl-C, 1 the server failed, 2 bad usage.\n"
    "\n"
    "example: dorm dev examples/counter.ts examples/chat-room.ts\n";

static const char usage_deploy[] =
    "usage: dorm deploy NAME FILE [--access MODE] [--app APP] [--url URL] [--token TOKEN]\n"
    "                             [--json]\n"
    "\n"
    "Deploys the class in FILE (.ts or .js, exactly one exported class, at most 5 MB)\n"
    "as NAME, the kebab-case form of its class name: ChatRoom deploys as chat-room.\n"
    "Redeploying a name swaps the code and keeps the storage. When the code does not\n"
    "compile, the server says where (file:line:column) and the previous version keeps\n"
    "serving. Prints where the class is served: URL/_do/NAME/<id>, any <id> being\n"
    "one instance.\n"
    "\n"
    "  --access MODE  who may call it: public (anyone), authenticated (a JWT in\n"
    "                 Authorization: Bearer; the server's default) or service_key\n"
    "                 (the app's service key in Authorization: Bearer)\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES "\n"
    "example: dorm deploy chat-room ChatRoom.ts --access public\n";

static const char usage_list[] =
    "usage: dorm list [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Lists the classes deployed in an app: NAME CLASS ACCESS STATUS DEPLOYED.\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_get[] =
    "usage: dorm get NAME [--code] [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Shows one deployed class: its name, class, id, status, access mode, when it\n"
    "was last deployed, where it is served, and the error of the last failed deploy.\n"
    "\n"
    "  --code         print the deployed code too, after the fields\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_delete[] =
    "usage: dorm delete NAME [--yes] [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Deletes a class with every instance and all their storage. This cannot be\n"
    "undone, so it asks you to type the name first; when stdin is not a terminal\n"
    "(a script), pass --yes instead.\n"
    "\n"
    "  --yes, -y      delete without asking\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_usage[] =
    "usage: dorm usage [NAME] [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Shows what a class has used: requests, CPU time spent in its JavaScript,\n"
    "instances in memory, WebSockets open, bytes of storage on disk, alarms set and\n"
    "errors. Without NAME, every class of the app and their total. The counters are\n"
    "live and survive restarts.\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_logs[] =
    "usage: dorm logs NAME [--follow] [--app APP] [--url URL] [--token TOKEN] [--json]\n"
    "\n"
    "Prints what the class wrote with console.* and its uncaught errors, the last\n"
    "1000 lines kept by the server: time, level, instance, message.\n"
    "\n"
    "  --follow, -f   keep printing lines as they are written (Ctrl-C to stop)\n"
    "  --json         one JSON object per line\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_env[] =
    "usage: dorm env list [--app APP]\n"
    "       dorm env set KEY [VALUE] [--app APP]\n"
    "       dorm env delete KEY [--app APP]\n"
    "\n"
    "The env vars of an app, which its classes read as this.env.KEY. Values are\n"
    "secrets: the server never shows them again, so list prints keys only. Without\n"
    "VALUE (or with -), set reads the value from stdin, which keeps it out of your\n"
    "shell history. Keys match ^[A-Z_][A-Z0-9_]*$ and may not be a class's binding\n"
    "(chat-room takes CHAT_ROOM). Setting or deleting one redeploys every class of\n"
    "the app: instances start over and WebSockets are closed with 1012.\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES "\n"
    "example: printf %s \"$STRIPE_KEY\" | dorm env set STRIPE_KEY\n";

static const char usage_apps[] =
    "usage: dorm apps list\n"
    "       dorm apps create APP [--subdomain SUBDOMAIN]\n"
    "       dorm apps get APP\n"
    "       dorm apps delete APP [--yes]\n"
    "       dorm apps rotate-key APP\n"
    "       dorm apps set-auth APP (--jwt-secret SECRET | --jwt-public-key FILE | --jwks FILE\n"
    "                               | --clear) [--issuer ISS] [--audience AUD]\n"
    "\n"
    "Apps hold classes, env vars, a service key and JWT settings; app APP is served\n"
    "at APP.DOMAIN (its subdomain, the APP by default). create and rotate-key print\n"
    "the app's service key, once: keep it. The default app's key is in\n"
    "DATA/default.service_key. delete removes everything of the app, irreversibly.\n"
    "\n"
    "set-auth makes the authenticated access mode verify tokens: their signature,\n"
    "exp and nbf (30 s of leeway), and iss and aud when given.\n"
    "  --jwt-secret SECRET     HS256 with this secret (at least 32 bytes; - reads stdin)\n"
    "  --jwt-public-key FILE   RS256 or ES256 (P-256) with the PEM public key(s) in FILE\n"
    "  --jwks FILE             RS256 or ES256 with the keys of a JWKS document\n"
    "  --issuer ISS            accept only tokens whose iss is ISS\n"
    "  --audience AUD          accept only tokens whose aud is or holds AUD\n"
    "  --clear                 verify nothing: check the token's shape only\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_storage[] =
    "usage: dorm storage list NAME [--limit N]\n"
    "       dorm storage get NAME ID [--prefix PREFIX] [--limit N]\n"
    "       dorm storage sql NAME ID QUERY [--limit N]\n"
    "       dorm storage delete NAME ID [--yes]\n"
    "       dorm storage backup [NAME [ID]] [--out FILE]\n"
    "       dorm storage restore FILE [--name NAME [--id ID]]\n"
    "\n"
    "What the instances of a class keep (ID is the instance's id, as in /_do/NAME/ID):\n"
    "  list     its instances: id, storage on disk, alarm, whether in memory\n"
    "  get      an instance's keys and values (state.storage), in key order\n"
    "  sql      a query that reads (SELECT, WITH) on an instance's SQL database\n"
    "  delete   an instance's storage and alarm; its state in memory goes too\n"
    "  backup   one instance, a class, or (without NAME) the whole app into one file,\n"
    "           while they keep serving (default FILE: dorm-SCOPE-DATE.dormbak)\n"
    "  restore  put the instances of a backup back where they came from, or one of\n"
    "           them into the class --name as instance --id; an instance that exists\n"
    "           is replaced (its WebSockets closed with 1012, its memory reset)\n"
    "\n"
    "  --limit N      at most N instances, keys or rows (default: all, rows: 1000)\n"
    "  --prefix P     only keys that start with P\n"
    "  --out, -o FILE where backup writes (- for stdout)\n"
    "  --yes, -y      delete without asking\n"
    "\n" COMMON_FLAGS "\n" EXIT_CODES;

static const char usage_mcp[] =
    "usage: dorm mcp [--url URL] [--token TOKEN] [--data DIR]\n"
    "\n"
    "Speaks the Model Context Protocol (JSON-RPC 2.0, one message per line) on stdin\n"
    "and stdout, for AI coding agents. It offers two tools, manage_durable_objects and\n"
    "manage_apps, with the arguments of the management API, and forwards each call\n"
    "to the server at --url. Its own messages go to stderr.\n"
    "\n"
    "Register it with an MCP client as the command `dorm mcp`, with DORM_URL and\n"
    "DORM_TOKEN (or --data DIR) in its environment.\n"
    "\n"
    "exit codes: 0 when stdin ends, 2 bad usage.\n";

static const char usage_help[] =
    "usage: dorm help [COMMAND]\n"
    "\n"
    "Prints the overview of every command, or the usage of COMMAND\n"
    "(serve, dev, deploy, list, get, delete, usage, logs, env, apps, storage, mcp, help).\n";

/* clang-format on */

static const struct {
    const char *name;
    const char *text;
} usages[] = {
    {"serve", usage_serve}, {"dev", usage_dev},     {"deploy", usage_deploy},
    {"list", usage_list},   {"get", usage_get},     {"delete", usage_delete},
    {"usage", usage_usage}, {"logs", usage_logs},   {"env", usage_env},
    {"apps", usage_apps},   {"mcp", usage_mcp},     {"help", usage_help},
    {"storage", usage_storage},
};

const char *cli_usage(const char *cmd)
{
    if (!cmd)
        return usage_overview;
    for (size_t i = 0; i < sizeof usages / sizeof usages[0]; i++)
        if (strcmp(usages[i].name, cmd) == 0)
            return usages[i].text;
    return NULL;
}
