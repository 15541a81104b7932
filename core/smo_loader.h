/* Plugin loading: search path, dlopen(RTLD_NOW | RTLD_LOCAL), ABI checks
 * with messages naming the field, the expected and the found value. Loaded
 * objects stay mapped until exit (no dlclose: callbacks may still point
 * into them). */
#ifndef SMO__LOADER_H
#define SMO__LOADER_H

#include <jansson.h>
#include <smo/smo.h>

struct smo__plugin {
    char *path;
    void *dl;
    /* Copies zero-extended to the core's struct sizes, so that members a
     * plugin built against an older minor lacks read as NULL. */
    struct smo_plugin desc;
    union {
        uint32_t size;
        struct smo_source_ops source;
        struct smo_translator_ops translator;
        struct smo_solver_ops solver;
        struct smo_executor_ops executor;
        struct smo_monitor_ops monitor;
        struct smo_provisioner_ops provisioner;
        struct smo_store_ops store;
        struct smo_api_ops api;
    } ops;
    struct smo__plugin *next;
};

struct smo__loader {
    char **dirs;
    size_t n_dirs;
    struct smo__plugin *loaded;
};

/** Search path: $SMO_PLUGIN_PATH (':'-separated), then `extra` (array of
 *  strings, may be NULL), then the built-in directory next to the binary,
 *  then the compiled-in install directory. */
int smo__loader_init(struct smo__loader *l, const json_t *extra);
/** Forget the search path; loaded plugins stay mapped (process lifetime). */
void smo__loader_fini(struct smo__loader *l);
/** Replace the search path (reload), keeping what is loaded. */
int smo__loader_set_path(struct smo__loader *l, const json_t *extra);

/** Find and load smo_<kind>_<name>.so. */
int smo__loader_find(struct smo__loader *l, int kind, const char *name,
                     const struct smo__plugin **out, smo_status *st);
/** Load and check one file; `kind` 0 and `name` NULL accept anything. */
int smo__loader_open(struct smo__loader *l, const char *path, int kind,
                     const char *name, const struct smo__plugin **out,
                     smo_status *st);

/** Every plugin file on the search path, described (or its load error). */
json_t *smo__loader_scan(struct smo__loader *l);
/** One loaded plugin as JSON (name, kind, version, abi, config schema). */
json_t *smo__plugin_describe(const struct smo__plugin *p);

/** The built-in plugin directory (next to the running binary). */
const char *smo__default_plugin_dir(void);

#endif
