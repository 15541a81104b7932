/* Karmada ClusterList -> SMO executor inventory (see smo_executor.h).
 *
 * Pure: jansson and libc only, no host table, no plugin state, so that
 * other code (the fuzz target, tools) can compile cluster_inv.c alone. */
#ifndef SMO_KARMADA_CLUSTER_INV_H
#define SMO_KARMADA_CLUSTER_INV_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/** Kubernetes resource quantity ("250m", "94274980Ki", "1.5Gi", "2e3",
 *  "16") -> value in base units (cores, bytes, count). 0 on success, -1
 *  when `text` is not a quantity (then `*out` is untouched). */
int smo__kinv_quantity(const char *text, double *out);

struct smo__kinv_opts {
    /** Extended resources counted as GPUs, NULL-terminated; NULL means
     *  {"nvidia.com/gpu", NULL}. */
    const char *const *gpu_resources;
};

/**
 * Convert a cluster.karmada.io/v1alpha1 ClusterList (or a bare array of
 * Cluster objects) into the inventory array. Readiness comes from the
 * `Ready` condition; a cluster without `status.resourceSummary` is listed
 * with `available: false` and a reason rather than failing the whole list.
 * Items without a usable metadata.name are skipped (counted in `*skipped`
 * when not NULL).
 *
 * Returns a new array, or NULL with a message in `err` when `list` is not
 * a ClusterList at all.
 */
json_t *smo__kinv_build(const json_t *list, const struct smo__kinv_opts *opts,
                        size_t *skipped, char *err, size_t errlen);

#endif
