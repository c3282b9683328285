/* libFuzzer target for the engine of DecompressionStream and
 * CompressionStream (api/web_zlib.c): the first byte picks the format and
 * where to cut the input into pieces; the rest is decompressed as untrusted
 * data (an error must say why), then compressed and decompressed again,
 * which must give it back unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/web_zlib.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_zlib: invariant broken: %s\n", what);
        abort();
    }
}

static const char *const formats[] = {"gzip", "deflate", "deflate-raw"};

/* Pushes data through s in pieces of `piece` bytes, then finishes. */
static int run(api_zs_t *s, const uint8_t *data, size_t len, size_t piece, buf_t *out)
{
    const char *err = NULL;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (api_zs_push(s, data + off, n, false, out, &err) < 0) {
            check(err && *err, "an error says why");
            return -1;
        }
        if (out->len > ((size_t)16 << 20))
            return -1; /* a bomb: stop here, it is not a bug */
    }
    if (api_zs_push(s, NULL, 0, true, out, &err) < 0) {
        check(err && *err, "an error says why");
        return -1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *format = formats[data[0] % 3];
    size_t piece = 1 + (data[0] >> 2);
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    api_zs_t *d = api_zs_new(format, false);
    buf_t out = BUF_INIT;
    run(d, p, n, piece, &out);
    api_zs_free(d);
    buf_deinit(&out);

    api_zs_t *c = api_zs_new(format, true);
    buf_t packed = BUF_INIT;
    check(run(c, p, n, piece, &packed) == 0, "compression never fails");
    api_zs_free(c);
    api_zs_t *u = api_zs_new(format, false);
    buf_t back = BUF_INIT;
    check(run(u, packed.data, packed.len, piece, &back) == 0, "what was compressed decompresses");
    check(back.len == n && (n == 0 || memcmp(back.data, p, n) == 0), "the round trip gives the data back");
    api_zs_free(u);
    buf_deinit(&packed);
    buf_deinit(&back);
    return 0;
}
