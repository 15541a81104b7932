/**
 * @file smo_config.h
 * @brief Declarative configuration schema for plugin instances.
 *
 * A plugin never parses YAML. It declares a `{0}`-terminated table of
 * `struct smo_config_field`; the core checks types, ranges and enums,
 * rejects unknown keys, fills defaults into the instance's JSON config and,
 * for fields with an offset, into a zeroed struct of `config_size` bytes that
 * `create()` receives. Strings and JSON values stored into that struct are
 * borrowed from the core and stay valid until the instance is destroyed.
 *
 * Storage per type at `offset` (relative to the plugin's config struct, also
 * for fields of nested objects):
 *   STRING, ENUM, PATH -> const char *       INT      -> int64_t
 *   DOUBLE             -> double             BOOL     -> bool
 *   DURATION           -> int64_t (milliseconds; "250ms", "30s", "5m", "2h",
 *                         "1d" or a plain number of seconds)
 *   SIZE               -> uint64_t (bytes; Kubernetes quantities: "512Mi",
 *                         "10G", "1.5Ki" or a plain number)
 *   OBJECT, ARRAY, MAP, ANY -> const json_t * (borrowed)
 */
#ifndef SMO_CONFIG_H
#define SMO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum smo_cfg_type {
    SMO_CFG_STRING = 1,
    SMO_CFG_INT,
    SMO_CFG_DOUBLE,
    SMO_CFG_BOOL,
    SMO_CFG_DURATION,
    SMO_CFG_SIZE,
    SMO_CFG_ENUM,   /**< string, one of `enum_values` */
    SMO_CFG_PATH,   /**< string, a filesystem path (non-empty, no NUL) */
    SMO_CFG_OBJECT, /**< mapping with the fixed keys of `fields` */
    SMO_CFG_ARRAY,  /**< sequence; every element matches `fields[0]` */
    SMO_CFG_MAP,    /**< mapping with free keys; values match `fields[0]` */
    SMO_CFG_ANY     /**< any JSON value; the plugin's validate() checks it */
};

enum smo_cfg_flags {
    SMO_CFG_REQUIRED = 1u << 0, /**< must be present (no default) */
    SMO_CFG_SECRET = 1u << 1,   /**< never logged or shown by the API */
    SMO_CFG_MIN = 1u << 2,      /**< `min` is set */
    SMO_CFG_MAX = 1u << 3,      /**< `max` is set */
    SMO_CFG_NULLABLE = 1u << 4  /**< an explicit null is accepted */
};

/** Marks a field that is only validated, not copied into the struct. */
#define SMO_CFG_NO_OFFSET ((size_t)-1)

struct smo_config_field {
    /** Key in the mapping; ignored for ARRAY/MAP element descriptors. */
    const char *key;
    uint32_t type;  /**< enum smo_cfg_type */
    uint32_t flags; /**< enum smo_cfg_flags */
    /** Default as a YAML scalar ("30s", "8", "true", "info"); NULL: none.
     *  OBJECT fields without a default are created empty when absent so
     *  the defaults of their members apply. */
    const char *def;
    /** Range, in the unit stored (milliseconds, bytes, count). */
    double min, max;
    /** NULL-terminated list for ENUM. */
    const char *const *enum_values;
    /** OBJECT: `{0}`-terminated members. ARRAY/MAP: one element schema. */
    const struct smo_config_field *fields;
    /** Offset in the plugin's config struct, or SMO_CFG_NO_OFFSET. */
    size_t offset;
    /** One sentence for `smod plugins` and docs/configuration.md. */
    const char *description;
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_CONFIG_H */
