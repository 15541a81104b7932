/* sim_log: the releases file of executor_sim.
 *
 * The file is a snapshot line, {"version":2,"releases":{KEY: RELEASE}},
 * followed by one line per change since, {"put":KEY,"release":{...}} or
 * {"del":KEY}. Changes are appended (one fdatasync per batch), so a
 * deploy costs a few hundred bytes of I/O whatever the number of releases;
 * the file is rewritten as a fresh snapshot (temp file + rename) when the
 * change lines outnumber the releases. A version-1 file (one snapshot
 * object, no newline) loads unchanged. A last line cut short by a crash is
 * a change nobody was told about: it is dropped on load. */
#ifndef SMO_SIM_LOG_H
#define SMO_SIM_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Lines waiting to be written. Owned by the caller's state. */
struct smo__sim_pending {
    char *buf;
    size_t len, cap;
    size_t lines;
};

/* Replay `path` into a new object (caller owns *releases). *records: the
 * change lines replayed; *torn: a cut-short last line was dropped (rewrite
 * the file before appending to it). A missing file is an empty set.
 * Returns 0, or -1 with a message naming the file and line. */
int smo__sim_log_load(const char *path, json_t **releases, size_t *records,
                      bool *torn, char *err, size_t n);

/* Append one change line to `p` (release NULL: a removal). 0 or -1 (no
 * memory). */
int smo__sim_log_change(struct smo__sim_pending *p, const char *key,
                        const json_t *release);

/* The snapshot line of `releases` (malloc'd, newline-terminated). */
char *smo__sim_log_snapshot(const json_t *releases, size_t *len);

/* Write `data` as the whole file, atomically and durably (temp + fsync +
 * rename), or append it and fdatasync. Worker-thread safe. 0 or -1. */
int smo__sim_log_replace(const char *path, const char *data, size_t len,
                         char *err, size_t n);
int smo__sim_log_append(const char *path, const char *data, size_t len,
                        char *err, size_t n);

#endif
