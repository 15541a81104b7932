/* Validation of a JSON configuration against a plugin's schema table
 * (sdk/include/smo/smo_config.h): types, ranges, enums, unknown keys,
 * defaults, and filling of the plugin's config struct. */
#ifndef SMO__SCHEMA_H
#define SMO__SCHEMA_H

#include <stdbool.h>

#include <jansson.h>
#include <smo/smo_config.h>

#include "smo_errlist.h"

struct smo__schema_ctx {
    struct smo__errlist *errs; /* every problem is appended here */
    const char *file;          /* for messages; may be NULL */
    const json_t *lines;       /* key path -> line, may be NULL */
    /* Partial mode: check types and unknown keys only; no defaults are
     * inserted and missing required keys are not reported (one file's part
     * of a section that several files merge). */
    bool partial;
};

/** Validate the object `obj` (defaults are inserted into it) against the
 *  `{0}`-terminated `fields`; fill `out` (may be NULL) at the fields'
 *  offsets. `path` is the key path of `obj` ("instances[0].config").
 *  Returns the number of errors added. */
size_t smo__schema_apply(const struct smo_config_field *fields, json_t *obj,
                         void *out, const char *path,
                         const struct smo__schema_ctx *ctx);

/** Name of a type for messages and docs ("duration"). */
const char *smo__schema_type_name(uint32_t type);

/** Self-check of a schema table (keys, types, defaults valid against their
 *  own field); used by the loader so a broken table is rejected at load.
 *  Returns 0 or fills `msg`. */
int smo__schema_check_table(const struct smo_config_field *fields, char *msg,
                            size_t n);

/** Describe the schema as JSON (for `smod plugins` and the docs). */
json_t *smo__schema_describe(const struct smo_config_field *fields);

#endif
