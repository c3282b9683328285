/* Log lines to stderr (see log.h). Each line is assembled in memory and
 * written with one write(2) so lines from different shards never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

static atomic_bool json_mode;
static atomic_int min_level = LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_json(bool json)
{
    atomic_store(&json_mode, json);
}

void log_set_level(enum log_level min)
{
    atomic_store(&min_level, (int)min);
}

void log_json_string(buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, e, 6);
            } else {
                buf_putc(b, c);
            }
        }
    }
    buf_putc(b, '"');
}

static void emit(enum log_level lvl, const char *subject, const char *msg, size_t len)
{
    if ((int)lvl < atomic_load(&min_level))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    buf_t b = BUF_INIT;
    if (atomic_load(&json_mode)) {
        buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"subject\":", when, level_names[lvl]);
        log_json_string(&b, subject, strlen(subject));
        buf_puts(&b, ",\"msg\":");
        log_json_string(&b, msg, len);
        buf_puts(&b, "}\n");
    } else {
        buf_printf(&b, "%s %-5s %s: ", when, level_names[lvl], subject);
        /* Keep one event on one line: control characters are escaped. */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)msg[i];
            if (c == '\n')
                buf_puts(&b, "\\n");
            else if (c < 0x20 && c != '\t')
                buf_printf(&b, "\\x%02x", c);
            else
                buf_putc(&b, c);
        }
        buf_putc(&b, '\n');
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = write(STDERR_FILENO, b.data + off, b.len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    buf_deinit(&b);
}

void log_raw(enum log_level lvl, const char *subject, const char *msg, size_t len)
{
    emit(lvl, subject, msg, len);
}

void log_msg(enum log_level lvl, const char *subject, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    emit(lvl, subject, buf_cstr(&b), b.len);
    buf_deinit(&b);
}
