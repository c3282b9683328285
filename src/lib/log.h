/* The server's log: one line per event on stderr, as text or JSON lines.
 * Thread-safe (each line is a single write). Depends on nothing but buf. */
#ifndef DORM_LIB_LOG_H
#define DORM_LIB_LOG_H
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_json(bool json);
void log_set_level(enum log_level min);

/* A line with a level, a subject ("http", "deploy", "counter/alice") and a
 * formatted message. In JSON mode: {"ts","level","subject","msg"}. */
void log_msg(enum log_level lvl, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A line whose message is given with its length (console output of a class,
 * which may hold any bytes). */
void log_raw(enum log_level lvl, const char *subject, const char *msg, size_t len);

#define log_info(subj, ...) log_msg(LOG_INFO, subj, __VA_ARGS__)
#define log_warn(subj, ...) log_msg(LOG_WARN, subj, __VA_ARGS__)
#define log_error(subj, ...) log_msg(LOG_ERROR, subj, __VA_ARGS__)
#define log_debug(subj, ...) log_msg(LOG_DEBUG, subj, __VA_ARGS__)

/* Appends s as a JSON string literal (with quotes) to b. */
struct buf;
void log_json_string(struct buf *b, const char *s, size_t len);

#endif
