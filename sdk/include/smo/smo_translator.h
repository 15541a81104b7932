/**
 * @file smo_translator.h
 * @brief `translator` plugins: abstract intent -> concrete resources.
 *
 * Translators form a chain in configuration order. Each receives the
 * service's canonical JSON and the resources decided so far, and fills or
 * overrides what it knows; `set` records which fields have a value so that a
 * later translator can tell "0" from "unknown".
 */
#ifndef SMO_TRANSLATOR_H
#define SMO_TRANSLATOR_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

enum smo_res_field {
    SMO_RES_CPU = 1u << 0,
    SMO_RES_MEMORY = 1u << 1,
    SMO_RES_STORAGE = 1u << 2,
    SMO_RES_GPU = 1u << 3
};

/** Per-replica resources of one service. */
struct smo_resources {
    uint32_t size;    /**< sizeof(struct smo_resources) */
    uint32_t set;     /**< enum smo_res_field bits with a value */
    double cpu;       /**< cores */
    uint64_t memory;  /**< bytes */
    uint64_t storage; /**< bytes */
    uint32_t gpu;     /**< devices */
};

struct smo_translator_ops {
    uint32_t size; /**< sizeof(struct smo_translator_ops) */
    /** Mandatory. `service` is one entry of hdaGraph.services in canonical
     *  form (borrowed). Returns SMO_OK (res updated), SMO_SKIP (nothing for
     *  this translator) or an error whose message names the field path
     *  relative to the service ("deployment.intent.compute.cpu: ..."). */
    int (*translate)(void *state, const json_t *service,
                     struct smo_resources *res, smo_status *st);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_TRANSLATOR_H */
