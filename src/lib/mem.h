/* Allocation that never returns NULL: running out of memory inside the
 * server is not a tenant's fault and has no sane recovery, so it aborts.
 * Depends on nothing. */
#ifndef DORM_LIB_MEM_H
#define DORM_LIB_MEM_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
