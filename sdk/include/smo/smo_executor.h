/**
 * @file smo_executor.h
 * @brief `executor` plugins: clusters, releases and replicas.
 *
 * An executor carries out plans on a federation: it reports the cluster
 * inventory, installs/upgrades/uninstalls one release per service, reads and
 * sets replica counts. All operations are asynchronous; the callback runs
 * exactly once, later, unless the call itself returns an error.
 *
 * Inventory JSON (an array, one object per cluster):
 *   {"name": "member1", "ready": true, "available": true, "reason": "",
 *    "cpu":    {"allocatable": 8.0, "allocated": 2.5, "allocating": 0},
 *    "memory": {"allocatable": 17179869184, "allocated": ..., ...},
 *    "pods":   {...}, "gpu": {...},          (same three keys, numbers)
 *    "labels": {"k": "v"}, "provider": "", "region": "", "zones": []}
 * cpu in cores, memory in bytes, pods and gpu in units. `available` is
 * false when the backend has no resource summary for the cluster. An
 * optional `"counts_own_releases": true` says that `allocated` already
 * includes every release this executor accepted (the core then reserves
 * nothing extra for releases it just installed there).
 */
#ifndef SMO_EXECUTOR_H
#define SMO_EXECUTOR_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One service release to install or upgrade. */
struct smo_release {
    uint32_t size;         /**< sizeof(struct smo_release) */
    const char *project;   /**< namespace (DNS-1123, validated by the core) */
    const char *graph;     /**< graph name */
    const char *name;      /**< release name = service id (DNS-1123) */
    const char *chart;     /**< chart reference, never starting with '-' */
    const char *version;   /**< chart version or NULL */
    const json_t *values;  /**< helm values (borrowed) */
    const char *cluster;   /**< placement target, NULL for static */
    bool reuse_values;     /**< upgrade keeping the release's values */
    const char *operation; /**< operation id, for logs */
    /* What the service asks for, as translated: hints for executors that
     * account capacity themselves (the simulator); a real backend learns
     * it from the workloads. */
    double cpu;        /**< cores per replica */
    uint64_t memory;   /**< bytes per replica */
    uint32_t gpu;      /**< devices per replica */
    uint32_t replicas; /**< replicas to run */
};

/** `result` is new or NULL: details for the operation record, e.g.
 *  {"stdout": ..., "stderr": ...} or the inventory/replicas object. */
typedef void (*smo_exec_cb)(void *arg, const smo_status *st, json_t *result);

struct smo_executor_ops {
    uint32_t size; /**< sizeof(struct smo_executor_ops) */
    /** Mandatory. Result: the inventory array (see above). */
    int (*inventory)(void *state, smo_exec_cb cb, void *arg, smo_status *st);
    /** Mandatory. Install or upgrade (idempotent: an existing release is
     *  upgraded). */
    int (*install)(void *state, const struct smo_release *rel, smo_exec_cb cb,
                   void *arg, smo_status *st);
    /** Mandatory. Uninstall; a missing release is success (idempotent). */
    int (*uninstall)(void *state, const char *project, const char *name,
                     smo_exec_cb cb, void *arg, smo_status *st);
    /** Optional. Result: {"desired": n, "available": m}. */
    int (*replicas_get)(void *state, const char *project, const char *name,
                        smo_exec_cb cb, void *arg, smo_status *st);
    /** Optional. Set the desired replicas of a service's workload. */
    int (*replicas_set)(void *state, const char *project, const char *name,
                        uint32_t replicas, smo_exec_cb cb, void *arg,
                        smo_status *st);
    /** Optional. Result: {"clusters": {"name": {"pod_cidr": ...,
     *  "service_cidr": ...}}}, the cross-cluster network facts. */
    int (*network_info)(void *state, smo_exec_cb cb, void *arg, smo_status *st);
    /** Optional. Result: array of {"project", "name", "cluster", "chart"}
     *  for every release the executor manages (reconciliation). */
    int (*releases)(void *state, smo_exec_cb cb, void *arg, smo_status *st);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_EXECUTOR_H */
