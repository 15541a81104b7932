/* Karmada Cluster objects (cluster.karmada.io/v1alpha1) -> the executor
 * inventory format of smo_executor.h. Used by `smod plan --inventory` and,
 * later, by the Karmada executor on the API server's answer.
 *
 * Per cluster: readiness from the condition of type Ready; free capacity
 * from status.resourceSummary (allocatable, allocated, allocating) for
 * cpu, memory, pods and nvidia.com/gpu, as Kubernetes quantities; labels,
 * provider, region and zones from the metadata and spec. A cluster that
 * cannot be used is kept with "available": false and the reason: no
 * resource summary, an unreadable quantity, a NoSchedule or NoExecute
 * taint, or a pending deletion. One malformed cluster never hides the
 * others (the original SMO's sync failed as a whole). */
#ifndef SMO__KARMADA_INV_H
#define SMO__KARMADA_INV_H

#include <jansson.h>
#include <smo/smo_error.h>

/** The extended resource name Karmada reports GPUs under. */
#define SMO__KARMADA_GPU "nvidia.com/gpu"

/** One Cluster object as an inventory entry (new); NULL when it has no
 *  metadata.name. */
json_t *smo__karmada_cluster(const json_t *cluster);

/** A ClusterList (kind ClusterList, or any object with an "items"
 *  array), a single Cluster, or a JSON array of Clusters -> inventory
 *  array (new), in the input's order. NULL and `st` when `doc` is none of
 *  these or a cluster has no name. */
json_t *smo__karmada_inventory(const json_t *doc, smo_status *st);

#endif
