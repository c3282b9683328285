/* The head of an HTTP response as libcurl hands it over, one line per call
 * (status line, header lines, the empty line that ends the block): a pure
 * parser, fuzzed by fuzz_fetch_head. Interim blocks (1xx) are reported so
 * the caller can start over. Depends on net/http.h's header type only. */
#ifndef DORM_API_FETCH_HEAD_H
#define DORM_API_FETCH_HEAD_H
#include <stdbool.h>
#include <stddef.h>

#include "../net/http.h"

/* Past this many bytes of headers the response is refused. */
#define FETCH_HEAD_MAX_BYTES ((size_t)256 * 1024)

typedef struct fetch_head {
    int status;            /* 0 until the status line */
    char *reason;          /* malloc'd, may be "" */
    http_header_t *headers; /* in order, names as sent */
    size_t nheaders;
    size_t bytes;          /* seen in this block */
} fetch_head_t;

enum { FETCH_HEAD_MORE = 0, FETCH_HEAD_DONE = 1, FETCH_HEAD_ERROR = -1 };

void fetch_head_init(fetch_head_t *h);
void fetch_head_deinit(fetch_head_t *h); /* and ready for another block */
/* Feeds one line (with or without its CRLF). Returns FETCH_HEAD_MORE,
 * FETCH_HEAD_DONE at the empty line that ends the block (h->status says
 * whether it was interim), or FETCH_HEAD_ERROR with a sentence in err. */
int fetch_head_line(fetch_head_t *h, const char *line, size_t len, char *err, size_t errlen);

#endif
