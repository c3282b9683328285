/* The command-line client: `dorm deploy|list|get|delete|help`. It talks to a
 * running server over HTTP only (the management API, DESIGN.md 1.5) and
 * shares no code or files with the server except reading DATA/admin.token.
 * Everything it prints goes to stdout (results) or stderr (errors). */
#ifndef DORM_CLI_CLI_H
#define DORM_CLI_CLI_H

/* Runs a client subcommand. argv[0] is the subcommand ("deploy"), the rest
 * its arguments; argv is borrowed. With argc == 0 it prints the overview to
 * stderr and returns 2. An unknown subcommand is a usage error (2).
 * Returns the process exit code: 0 ok, 1 the server refused, 2 bad usage,
 * 3 the server could not be reached. */
int cli_main(int argc, char **argv);

/* True when name is a subcommand cli_main handles ("deploy", "list", "get",
 * "delete", "help", "--help", "-h"). "serve" is not one of them. */
int cli_handles(const char *name);

/* The usage text of one command ("serve", "deploy", ...), or the overview of
 * every command when cmd is NULL. NULL for an unknown command. The string is
 * static; main.c may print it for `dorm serve --help`. */
const char *cli_usage(const char *cmd);

#endif
