/* storage.sql: SqlStorage (exec, databaseSize) and its cursors, on the
 * instance's store (store_sql_exec). SQL writes join the turn's
 * transaction and hold output like KV writes. Depends on lib/, store/,
 * quickjs.h and api/ (state_int.h). */
#ifndef DORM_API_SQL_H
#define DORM_API_SQL_H
#include <quickjs.h>

struct api_handle;

/* Once per context, after the storage classes; and before it is freed. */
int api_sql_init_context(JSContext *ctx);
void api_sql_free_context(JSContext *ctx);
/* The SqlStorage object of an instance (a new reference). */
JSValue api_sql_new(JSContext *ctx, struct api_handle *h);

#endif
