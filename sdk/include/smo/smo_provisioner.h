/**
 * @file smo_provisioner.h
 * @brief `provisioner` plugins: VIMs and new Kubernetes clusters.
 *
 * Records are JSON objects. VIM: {"name", "area", "url", "type",
 * "networks": [...], "mgmt_network", "service_network", "use_floating_ip"}.
 * Cluster: {"id", "area", "vim", "workers", "state", ...}. Secrets (VIM
 * passwords) are passed through to the backend and never returned.
 */
#ifndef SMO_PROVISIONER_H
#define SMO_PROVISIONER_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/** `result` is new or NULL. */
typedef void (*smo_prov_cb)(void *arg, const smo_status *st, json_t *result);

struct smo_provisioner_ops {
    uint32_t size; /**< sizeof(struct smo_provisioner_ops) */
    /** Mandatory. Result: array of VIM records known to the backend. */
    int (*vim_list)(void *state, smo_prov_cb cb, void *arg, smo_status *st);
    /** Mandatory. Register a VIM (request with credentials). */
    int (*vim_register)(void *state, const json_t *req, smo_prov_cb cb,
                        void *arg, smo_status *st);
    /** Mandatory. */
    int (*vim_delete)(void *state, const char *name, smo_prov_cb cb, void *arg,
                      smo_status *st);
    /** Mandatory. Result: the new cluster record (with its backend id). */
    int (*cluster_create)(void *state, const json_t *req, smo_prov_cb cb,
                          void *arg, smo_status *st);
    /** Mandatory. Add worker nodes. */
    int (*cluster_scale_out)(void *state, const char *id, const json_t *req,
                             smo_prov_cb cb, void *arg, smo_status *st);
    /** Mandatory. */
    int (*cluster_delete)(void *state, const char *id, smo_prov_cb cb,
                          void *arg, smo_status *st);
    /** Mandatory. Result: array of cluster records known to the backend. */
    int (*cluster_list)(void *state, smo_prov_cb cb, void *arg, smo_status *st);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_PROVISIONER_H */
