/**
 * @file smo_plugin.h
 * @brief The plugin ABI: descriptor, kinds, lifecycle and ownership rules.
 *
 * ABI changelog (bump MINOR for members appended at the END of a struct or
 * new enum values; bump MAJOR for anything else):
 *   1.0 (2026-11-25) initial: descriptor, host table, eight plugin kinds.
 *
 * ## Ownership rules (apply to every SDK header)
 * 1. Pointer arguments are *borrowed* for the duration of the call unless the
 *    parameter is documented "stolen" (ownership moves to the callee) or the
 *    function is documented "[returns new]" (the caller must release it).
 *    Pointers handed to a callback are borrowed for the callback only.
 * 2. `json_t` follows jansson's words: "borrowed" (no refcount change),
 *    "stolen" (the callee will json_decref it), "new" (the receiver must
 *    json_decref it). Plugins link libjansson dynamically so that every
 *    json_t is created and released by one jansson copy.
 * 3. The core never calls free() on plugin memory, and a plugin never frees
 *    core memory except through `host->free`. Plugin state may be allocated
 *    with `host->alloc` (accounted per instance) or plain malloc.
 * 4. Handles returned by the host (timers, HTTP requests, processes, jobs,
 *    calls) belong to the instance that created them. Every asynchronous
 *    request gets exactly one callback, unless the plugin cancelled it
 *    itself (http_cancel, timer_stop). When stop() has completed, the core
 *    stops the instance's timers and completes whatever requests are still
 *    outstanding with SMO_ECANCELED (a child process is killed first), all
 *    before destroy(); so destroy() never races a callback, and per-request
 *    memory can always be freed in the callback.
 *
 * ## Threading
 * Every plugin entry point and every host callback runs on the loop thread,
 * except `smo_work_fn` bodies (thread pool) and the solver operations, which
 * the core itself runs on the thread pool. From a worker thread a plugin may
 * only call `host->log`, `host->log_enabled` and the metric functions.
 */
#ifndef SMO_PLUGIN_H
#define SMO_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <smo/smo_error.h>
#include <smo/smo_config.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMO_ABI_MAJOR    1u
#define SMO_ABI_MINOR    1u
#define SMO_PLUGIN_MAGIC 0x534d4f50u /* "SMOP" */

/** The one symbol a plugin exports. */
#define SMO_PLUGIN_SYMBOL "smo_plugin_entry"

#if defined(__GNUC__)
#define SMO_EXPORT __attribute__((visibility("default")))
#else
#define SMO_EXPORT
#endif

/* jansson's type, declared so that SDK users need not include jansson.h. */
struct json_t;
typedef struct json_t json_t;

/** A configured plugin instance; opaque, owned by the core. */
typedef struct smo_instance smo_instance;

struct smo_host;

/** Plugin kinds. One .so implements exactly one kind. */
enum smo_kind {
    SMO_KIND_SOURCE = 1,  /**< descriptor references -> descriptor text */
    SMO_KIND_TRANSLATOR,  /**< abstract intent -> concrete resources */
    SMO_KIND_SOLVER,      /**< placement and scaling problems */
    SMO_KIND_EXECUTOR,    /**< clusters, releases, replicas */
    SMO_KIND_MONITOR,     /**< metrics queries, alert rules, dashboards */
    SMO_KIND_PROVISIONER, /**< VIMs and new clusters */
    SMO_KIND_STORE,       /**< persistent state */
    SMO_KIND_API          /**< network frontend (the HTTP API) */
};
#define SMO_KIND_MAX SMO_KIND_API

/** Written first in every descriptor; protects the rest of the struct. */
struct smo_abi_header {
    uint32_t magic;       /**< SMO_PLUGIN_MAGIC */
    uint32_t abi_major;   /**< must equal the core's */
    uint32_t abi_minor;   /**< must be <= the core's */
    uint32_t struct_size; /**< sizeof(struct smo_plugin) at build time */
};

/** Called by a plugin when an asynchronous stop has drained. */
typedef void (*smo_done_cb)(void *done_arg);

/**
 * The plugin descriptor, exported as `smo_plugin_entry` (use
 * SMO_PLUGIN_DEFINE). The lifecycle of an instance is:
 * validate -> create -> start -> (reconfigure)* -> stop -> destroy.
 */
struct smo_plugin {
    struct smo_abi_header abi;
    uint32_t kind;           /**< enum smo_kind */
    const char *name;        /**< [a-z0-9_]+, unique per kind */
    const char *version;     /**< the plugin's own version ("1.2.0") */
    const char *description; /**< one sentence */
    /** Configuration schema, `{0}`-terminated; NULL means "no keys". */
    const struct smo_config_field *config;
    /** Size of the config struct the core fills (0: none). */
    uint32_t config_size;

    /** Optional. Pure cross-field checks after the schema passed; no side
     *  effects. `cfg` is the filled struct, `json` the normalised config
     *  (borrowed). */
    int (*validate)(const json_t *json, const void *cfg, smo_status *st);
    /** Mandatory. Build the instance. `host` and `self` stay valid until
     *  destroy(); `cfg` until destroy() or a successful reconfigure(). */
    int (*create)(const struct smo_host *host, smo_instance *self,
                  const void *cfg, void **state, smo_status *st);
    /** Optional. Begin work (bind sockets, arm timers). A failure makes the
     *  core destroy the instance without calling stop(). */
    int (*start)(void *state, smo_status *st);
    /** Optional. Apply a changed configuration in place, all or nothing:
     *  on failure the old configuration must remain in force. Without it
     *  the core replaces the instance (create new, start, stop old). */
    int (*reconfigure)(void *state, const void *cfg, smo_status *st);
    /** Optional. Finish in-flight work, then call done(done_arg) exactly
     *  once (possibly synchronously). The core bounds the wait. */
    void (*stop)(void *state, smo_done_cb done, void *done_arg);
    /** Mandatory. Release everything; no host call may follow. */
    void (*destroy)(void *state);

    /** Kind-specific operations: `struct smo_<kind>_ops`, whose first
     *  member is its own size. */
    const void *ops;
    uint32_t ops_size;
};

/** Define the exported descriptor. `desc_` is a string literal, `schema_`
 *  a field table or NULL, `cfgtype_` the config struct type (or char when
 *  there is none), the hooks may be NULL where optional. */
#define SMO_PLUGIN_DEFINE(kind_, name_, version_, desc_, schema_, cfgtype_,    \
                          validate_, create_, start_, reconfigure_, stop_,     \
                          destroy_, ops_)                                      \
    SMO_EXPORT const struct smo_plugin smo_plugin_entry = {                    \
        {SMO_PLUGIN_MAGIC, SMO_ABI_MAJOR, SMO_ABI_MINOR,                       \
         (uint32_t)sizeof(struct smo_plugin)},                                 \
        (kind_),                                                               \
        (name_),                                                               \
        (version_),                                                            \
        (desc_),                                                               \
        (schema_),                                                             \
        (uint32_t)sizeof(cfgtype_),                                            \
        (validate_),                                                           \
        (create_),                                                             \
        (start_),                                                              \
        (reconfigure_),                                                        \
        (stop_),                                                               \
        (destroy_),                                                            \
        (ops_),                                                                \
        (uint32_t)sizeof *(ops_)}

#ifdef __cplusplus
}
#endif

#include <smo/smo_host.h>

#endif /* SMO_PLUGIN_H */
