/* Instance files seen from outside their shard: listing, reading an
 * instance's keys and running a read-only query (inspection), and copying
 * instances into one backup file and back (backup and restore).
 *
 * Every function here opens connections of its own and may run on any
 * thread (a worker of the control thread's pool). Reading takes a WAL
 * snapshot: it never blocks the instance's writer, and the writer never
 * blocks it. Replacing or removing an instance's file is not done here: the
 * instance's shard does that while the instance is stopped (actor/admin.c),
 * with a file this module prepared. */
#ifndef DORM_STORE_INSPECT_H
#define DORM_STORE_INSPECT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "store.h"

/* ---- listing ------------------------------------------------------------------ */

/* The hex ids (64 chars) of the instance files of a class, sorted, those
 * after `after` (NULL: from the start), at most limit; *more tells whether
 * there are others past the last. Returns 0 (a class without files has
 * none) or -1 with err. Free the list with store_names_free. */
int store_list_instances(const char *data_dir, const char *app, const char *cls,
                         const char *after, size_t limit, char ***hexes, size_t *n, bool *more,
                         char *err, size_t errlen);
void store_names_free(char **v, size_t n);
/* Bytes the instance takes on disk: its file, WAL and index. 0 if none. */
uint64_t store_file_bytes(const char *path);
/* Removes an instance's file, WAL and index and makes that durable. Only its
 * shard may call it, with the instance's connection closed. */
int store_remove_instance_file(const char *path, char *err, size_t errlen);
/* Moves a file prepared by store_bundle_prepare over an instance's file
 * (same rules as store_remove_instance_file). */
int store_replace_instance_file(const char *prepared, const char *path, char *err,
                                size_t errlen);

/* ---- reading one instance ------------------------------------------------------- */

typedef struct store_reader store_reader_t;

/* Opens an instance's file to read. NULL with *missing set when there is
 * no file (the instance never wrote); NULL with err otherwise. */
store_reader_t *store_reader_open(const char *path, bool *missing, char *err, size_t errlen);
void store_reader_close(store_reader_t *r);
/* The instance's id as it was addressed (the name in its URL), kept when
 * its file was made. 0, or -1 when the file predates the note. */
int store_reader_name(store_reader_t *r, buf_t *out);
/* The alarm: *ms, or -1 when none is set. 0 or -1 with err. */
int store_reader_alarm(store_reader_t *r, int64_t *ms, char *err, size_t errlen);
/* Keys in order, those with the prefix (NULL: all) after `after` (NULL:
 * from the first), at most limit, with their stored (encoded) values, to cb
 * (which returns non-zero to stop). */
int store_reader_list(store_reader_t *r, const uint8_t *prefix, size_t prefix_len,
                      const uint8_t *after, size_t after_len, size_t limit, store_row_cb cb,
                      void *arg, char *err, size_t errlen);

/* Runs one statement that only reads (SELECT, WITH, and the PRAGMAs that
 * read the schema): the connection is query-only and an authorizer refuses
 * anything else, including ATTACH. At most max_rows rows reach the sink
 * (*truncated tells if there were more); past max_ms the query is stopped
 * with an error. Errors carry SQLite's message. */
int store_reader_query(store_reader_t *r, const char *sql, size_t sql_len,
                       const store_value_t *binds, int nbinds, const store_sql_sink_t *sink,
                       uint64_t max_rows, uint64_t max_ms, bool *truncated, char *err,
                       size_t errlen);

/* ---- backup files ------------------------------------------------------------------ */

/* A backup is one SQLite file (format in docs/backup-format.md): a table of
 * instances, each with its whole database as a blob. */
typedef struct store_bundle store_bundle_t;

store_bundle_t *store_bundle_new(const char *scope, char *err, size_t errlen);
/* Copies one instance's database into the bundle: one consistent snapshot,
 * taken without stopping the instance. *missing: it has no file (nothing
 * added). */
int store_bundle_add(store_bundle_t *b, const char *app, const char *cls, const uint8_t *id,
                     size_t id_len, const char *path, bool *missing, char *err, size_t errlen);
size_t store_bundle_count(const store_bundle_t *b);
/* The bundle's bytes. The bundle stays usable. */
int store_bundle_bytes(store_bundle_t *b, buf_t *out, char *err, size_t errlen);

/* Reads a backup file's bytes (copied), checking that it is one. */
store_bundle_t *store_bundle_load(const uint8_t *p, size_t len, char *err, size_t errlen);

typedef struct store_bundle_entry {
    char *app, *cls;  /* where it was taken from */
    uint8_t *id;      /* the instance's id (the name in its URL) */
    size_t id_len;
    char hex[65];
    uint64_t bytes;   /* the size of its database */
} store_bundle_entry_t;

/* The instances in the bundle, in order. Free with store_bundle_entries_free. */
int store_bundle_entries(store_bundle_t *b, store_bundle_entry_t **out, size_t *n, char *err,
                         size_t errlen);
void store_bundle_entries_free(store_bundle_entry_t *e, size_t n);
/* Checks that entry i's database is whole, ours, and in a format this dorm
 * reads (what prepare checks first). 0 or -1 with err. */
int store_bundle_check(store_bundle_t *b, size_t i, char *err, size_t errlen);
/* Writes entry i's database as a new file next to target_path (made durable,
 * in WAL mode, checked to be an instance file dorm can read, noting id as
 * the instance's id), and returns its name in prepared: the shard then
 * moves it into place with store_replace_instance_file. */
int store_bundle_prepare(store_bundle_t *b, size_t i, const char *target_path, const uint8_t *id,
                         size_t id_len, buf_t *prepared, char *err, size_t errlen);
void store_bundle_free(store_bundle_t *b);

#endif
