/* YAML (and JSON) text -> jansson tree, and back.
 *
 * One generic converter with no SMO semantics: YAML 1.2 core schema for plain
 * scalars (true/false, null/~, integers, floats; "yes"/"on" stay strings),
 * merge keys (<<), anchors and aliases expanded with a node budget (alias
 * bombs are rejected), duplicate keys rejected, bounded size and depth.
 * Errors are one line: "NAME:LINE:COL: problem". */
#ifndef SMO__YAML_H
#define SMO__YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <smo/smo_error.h>

#define SMO__YAML_MAX_BYTES_DEFAULT (16u << 20)
#define SMO__YAML_MAX_DEPTH_DEFAULT 64u
#define SMO__YAML_MAX_NODES_DEFAULT 1000000u

/** Rewrites a scalar before its type is resolved. Return 0 and set `*out`
 *  to a malloc'd replacement (or leave it NULL: unchanged), or a negative
 *  code with `st` filled. `path` is the node's key path. */
typedef int (*smo__yaml_scalar_hook)(void *ctx, const char *path,
                                     const char *val, size_t len, char **out,
                                     smo_status *st);

struct smo__yaml_opts {
    size_t max_bytes; /* 0: default */
    size_t max_depth; /* 0: default */
    size_t max_nodes; /* 0: default; counts alias expansions */
    const char *name; /* source name for messages; NULL: "<input>" */
    smo__yaml_scalar_hook scalar_hook;
    void *hook_ctx;
    /* When set (an object), receives key path -> 1-based line per node. */
    json_t *lines;
};

/** Parse one document. An empty stream gives JSON null. `*out` is new. */
int smo__yaml_parse(const char *text, size_t len,
                    const struct smo__yaml_opts *opts, json_t **out,
                    smo_status *st);

/** Emit YAML that smo__yaml_parse reads back to an equal tree. `*out` is
 *  malloc'd and NUL-terminated. */
int smo__yaml_emit(const json_t *doc, char **out, size_t *len, smo_status *st);

/** Resolve a plain scalar the way the parser does (new reference). */
json_t *smo__yaml_resolve_plain(const char *s, size_t len);

/** Append `key` to `path` as ".key" or "[\"k.y\"]" (malloc'd). */
char *smo__path_key(const char *path, const char *key);
/** Append "[i]" to `path` (malloc'd). */
char *smo__path_index(const char *path, size_t i);

#endif
