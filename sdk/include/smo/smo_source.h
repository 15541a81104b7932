/**
 * @file smo_source.h
 * @brief `source` plugins: resolve a descriptor reference into its text.
 *
 * A reference is what a user gives to deploy: a file path, `oci://...`,
 * `http(s)://...`. The core asks each configured source, in configuration
 * order, whether it accepts the reference; the first that does resolves it.
 */
#ifndef SMO_SOURCE_H
#define SMO_SOURCE_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Descriptor text, borrowed for the callback. `media_type` is a hint
 *  ("application/yaml", "application/json") or NULL. On failure `text` is
 *  NULL and `st` says why (ENOENT, EAUTH, EPROTO, ETOOBIG...). */
typedef void (*smo_source_cb)(void *arg, const smo_status *st, const char *text,
                              size_t len, const char *media_type);

struct smo_source_ops {
    uint32_t size; /**< sizeof(struct smo_source_ops) */
    /** Mandatory. SMO_OK if this instance handles `ref`, SMO_SKIP if not,
     *  or an error when `ref` is for it but malformed. Pure and quick. */
    int (*accepts)(void *state, const char *ref, smo_status *st);
    /** Mandatory. Fetch the descriptor; `cb` runs later, exactly once,
     *  unless the call returns an error (then it never runs). */
    int (*resolve)(void *state, const char *ref, smo_source_cb cb, void *arg,
                   smo_status *st);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_SOURCE_H */
