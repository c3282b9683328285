/* libFuzzer target for the response-head parser of fetch()
 * (api/fetch_head.c): feeds the input line by line, as curl hands a head
 * over, starting a new block after each one that ends. Checks that headers
 * hold no CR, LF or NUL, that names are never empty, that a finished block
 * has a status from 100 to 999, and that an error says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fetch_head.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_fetch_head: invariant broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fetch_head_t h;
    fetch_head_init(&h);
    size_t start = 0;
    while (start < size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) + 1 : size;
        /* An exact-size copy, so a read past the line is caught. */
        size_t len = end - start;
        char *line = malloc(len ? len : 1);
        memcpy(line, data + start, len);
        char err[200] = "";
        int rc = fetch_head_line(&h, line, len, err, sizeof err);
        free(line);
        start = end;
        if (rc == FETCH_HEAD_ERROR) {
            check(err[0] != '\0', "an error says why");
            break;
        }
        for (size_t i = 0; i < h.nheaders; i++) {
            check(h.headers[i].name_len > 0, "names are not empty");
            check(strlen(h.headers[i].name) == h.headers[i].name_len, "name length");
            check(strlen(h.headers[i].value) == h.headers[i].value_len, "no NUL in values");
            check(!strpbrk(h.headers[i].value, "\r\n"), "no CR or LF in values");
        }
        check(!h.reason || !strpbrk(h.reason, "\r\n"), "no CR or LF in the reason");
        if (rc == FETCH_HEAD_DONE) {
            check(h.status >= 100 && h.status <= 999, "a status once the block ends");
            fetch_head_deinit(&h);
        }
    }
    fetch_head_deinit(&h);
    return 0;
}
