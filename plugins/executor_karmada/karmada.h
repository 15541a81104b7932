/* executor_karmada: internal interfaces between its files.
 *
 *   executor_karmada.c  configuration, lifecycle, the executor operations
 *   kube_api.c          requests to a Kubernetes API server: credentials,
 *                       error mapping, retries with backoff
 *   inventory.c         cluster list (+ Submariner), readiness tracking,
 *                       events, periodic sync, re-placement requests
 *   helm.c              helm argv, values files, the child process
 *   replicas.c          Deployment lookup and /scale
 *   kubeconfig.c, cluster_inv.c  pure parsers (no host dependency) */
#ifndef SMO_KARMADA_H
#define SMO_KARMADA_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

#include "cluster_inv.h"
#include "kubeconfig.h"

/* ------------------------------------------------------------ config -- */

struct smo__kcfg {
    const char *kubeconfig;
    const char *context;
    int64_t request_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t retry_attempts;
    int64_t retry_backoff_ms;
    int64_t retry_max_backoff_ms;
    int64_t sync_interval_ms;
    bool replace_on_not_ready;
    const json_t *gpu_resources;
    /* helm */
    const char *helm_binary;
    int64_t helm_timeout_ms;
    bool helm_plain_http;
    const char *helm_registry_config;
    const char *helm_ca_file;
    bool helm_insecure;
    const json_t *helm_env;
    uint64_t helm_max_output;
    /* replicas */
    const json_t *deployments;
    const char *instance_label;
    /* submariner */
    const char *sub_kubeconfig;
    const char *sub_context;
    const char *sub_namespace;
};

/* ---------------------------------------------------------- kube API -- */

struct smo__kube;
struct smo__kstate;

/** A finished request: `body` is new (the parsed JSON answer) or NULL;
 *  `http` is the last HTTP status (0 when none arrived). On failure `st`
 *  names the server, the status and the API's own message. */
typedef void (*smo__kube_cb)(void *arg, const smo_status *st, long http,
                             json_t *body);

struct smo__kube_opts {
    int64_t timeout_ms, connect_timeout_ms;
    int attempts; /* tries for retryable failures, >= 1 */
    int64_t backoff_ms, max_backoff_ms;
};

/** Takes ownership of `kc`. `label` names the server in messages
 *  ("Karmada", "Submariner broker"). */
struct smo__kube *smo__kube_new(struct smo__kstate *s,
                                struct smo__kubeconfig *kc, const char *label,
                                const struct smo__kube_opts *o);
void smo__kube_free(struct smo__kube *k);
const struct smo__kubeconfig *smo__kube_config(const struct smo__kube *k);
/** Load the token file now (create time; blocking is fine there). */
int smo__kube_load_token(struct smo__kube *k, smo_status *st);
/** GET/PATCH `path` ("/apis/..."); `body` may be NULL. Idempotent requests
 *  only: retryable failures (429, 5xx, 409, timeouts, refused connections)
 *  are tried again with exponential backoff; 401 re-reads a token file
 *  once. Returns 0 (one callback later) or an error in `st`. */
int smo__kube_request(struct smo__kube *k, const char *method, const char *path,
                      const char *content_type, const char *body,
                      smo__kube_cb cb, void *arg, smo_status *st);
/** Stop retrying: requests waiting for a backoff complete now with
 *  ECANCELED; requests on the wire finish normally. */
void smo__kube_stop(struct smo__kube *k);
size_t smo__kube_inflight(const struct smo__kube *k);
/** Percent-encode a query value. */
char *smo__kube_escape(const char *s);

/* ------------------------------------------------------------- state -- */

struct smo__inv_waiter;

struct smo__kstate {
    const struct smo_host *host;
    smo_instance *self;
    const struct smo__kcfg *cfg;
    char *kubeconfig; /* absolute path, also given to helm */
    struct smo__kube *api;
    struct smo__kube *sub; /* Submariner broker, or NULL */
    char *values_dir;      /* 0700, values files live here briefly */
    const char **gpu_names;
    uint64_t seq;
    /* inventory: one request in flight, callers coalesce onto it */
    struct smo__inv_waiter *inv_waiters;
    bool inv_busy;
    int inv_parts;
    json_t *inv_list, *inv_sub;
    smo_status inv_st, sub_st;
    json_t *last_ready; /* cluster name -> true/false as last seen */
    bool seen_once;
    smo_timer *sync_timer;
    bool sync_busy;
    size_t busy; /* processes, jobs and core calls in flight */
    bool stopping;
    smo_done_cb stop_done;
    void *stop_arg;
    smo_metric *m_helm, *m_api, *m_ready;
};

/** Called whenever something in flight finished: completes a pending
 *  stop once nothing is left. */
void smo__karmada_maybe_stopped(struct smo__kstate *s);

/* inventory.c */
int smo__karmada_inventory(struct smo__kstate *s, smo_exec_cb cb, void *arg,
                           smo_status *st);
int smo__karmada_network_info(struct smo__kstate *s, smo_exec_cb cb, void *arg,
                              smo_status *st);
void smo__karmada_sync_start(struct smo__kstate *s);
void smo__karmada_sync_stop(struct smo__kstate *s);
void smo__karmada_inventory_free(struct smo__kstate *s);

/* helm.c */
struct smo__helm_args {
    const char *binary, *kubeconfig, *context; /* context may be NULL */
    const char *registry_config, *ca_file;     /* may be NULL or "" */
    bool plain_http, insecure;
};
/** Check a name that becomes a helm argument: DNS-1123 label (release,
 *  namespace) so that nothing can be read as a flag. */
int smo__helm_check_name(const char *what, const char *name, size_t max,
                         smo_status *st);
/** Check a chart reference / version: no leading '-', no whitespace or
 *  control characters. */
int smo__helm_check_ref(const char *what, const char *ref, smo_status *st);
/** argv for `helm upgrade --install ...` (NULL-terminated, new; free with
 *  smo__argv_free). */
char **smo__helm_install_argv(const struct smo__helm_args *a,
                              const char *release, const char *chart,
                              const char *ns, const char *values_file,
                              const char *version, bool reuse_values);
char **smo__helm_uninstall_argv(const struct smo__helm_args *a,
                                const char *release, const char *ns);
void smo__argv_free(char **argv);
int smo__helm_install(struct smo__kstate *s, const struct smo_release *rel,
                      smo_exec_cb cb, void *arg, smo_status *st);
int smo__helm_uninstall(struct smo__kstate *s, const char *project,
                        const char *name, smo_exec_cb cb, void *arg,
                        smo_status *st);
/** Remove values files a crash left behind (create time). */
void smo__helm_clean_values_dir(struct smo__kstate *s);

/* replicas.c */
int smo__karmada_replicas_get(struct smo__kstate *s, const char *project,
                              const char *name, smo_exec_cb cb, void *arg,
                              smo_status *st);
int smo__karmada_replicas_set(struct smo__kstate *s, const char *project,
                              const char *name, uint32_t replicas,
                              smo_exec_cb cb, void *arg, smo_status *st);

#endif
