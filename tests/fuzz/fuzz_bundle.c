/* libFuzzer target for backup files (src/store/inspect.c): POST
 * /_api/restore hands untrusted bytes to store_bundle_load. Any input must
 * load or be refused with a reason; a loaded one must list its entries and
 * check each without crashing, leaking or touching the disk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    store_bundle_t *b = store_bundle_load(data, size, err, sizeof err);
    if (!b) {
        if (!err[0])
            abort(); /* a refusal must say why */
        return 0;
    }
    store_bundle_entry_t *e = NULL;
    size_t n = 0;
    if (store_bundle_entries(b, &e, &n, err, sizeof err) == 0) {
        for (size_t i = 0; i < n && i < 8; i++) {
            if (strlen(e[i].hex) != 64 || !e[i].app[0] || !e[i].cls[0])
                abort(); /* entries are checked before they are listed */
            store_bundle_check(b, i, err, sizeof err);
        }
        store_bundle_entries_free(e, n);
    } else if (!err[0]) {
        abort();
    }
    store_bundle_free(b);
    return 0;
}
