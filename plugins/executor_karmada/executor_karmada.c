/* executor_karmada: SMO's plans carried out by a Karmada federation.
 *
 * Releases are installed with helm against the Karmada API server (the
 * charts' PropagationPolicies turn the injected clustersAffinity into
 * placement), the inventory is Karmada's Cluster list, replicas are the
 * Deployments' /scale on the control plane. Everything goes through the
 * host: its HTTP client, its child processes, its timers. This file holds
 * the configuration and the lifecycle; see karmada.h for the others. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "karmada.h"

/* ------------------------------------------------------------ schema -- */

static const struct smo_config_field str_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "a value"},
    {0}};

#define OFF(m) offsetof(struct smo__kcfg, m)
static const struct smo_config_field retry_fields[] = {
    {"attempts", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "4", 1, 10, NULL, NULL,
     OFF(retry_attempts),
     "tries of an API request that failed with 409, 429, 5xx, a timeout or a "
     "refused connection (1: no retry)"},
    {"backoff", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "500ms", 1, 60000,
     NULL, NULL, OFF(retry_backoff_ms),
     "wait before the second try; doubled for each further one"},
    {"max_backoff", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 1,
     600000, NULL, NULL, OFF(retry_max_backoff_ms),
     "longest wait between two tries (also bounds Retry-After)"},
    {0}};

static const struct smo_config_field helm_fields[] = {
    {"binary", SMO_CFG_STRING, 0, "helm", 0, 0, NULL, NULL, OFF(helm_binary),
     "the helm program: a name searched in smod's PATH, or a path"},
    {"timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "5m", 1000,
     3600000, NULL, NULL, OFF(helm_timeout_ms),
     "a helm run taking longer is stopped (SIGTERM, then SIGKILL) and the "
     "step fails; keep it below engine.operations.step_timeout"},
    {"plain_http", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(helm_plain_http),
     "pass --plain-http: pull oci:// charts from a registry over HTTP (the "
     "original's INSECURE_REGISTRY)"},
    {"registry_config", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL,
     OFF(helm_registry_config),
     "pass --registry-config FILE: registry credentials written by `helm "
     "registry login` (default: helm's own, under $HOME)"},
    {"ca_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(helm_ca_file),
     "pass --ca-file FILE: CA bundle of a chart registry with a private CA"},
    {"insecure_skip_tls_verify", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(helm_insecure),
     "pass --insecure-skip-tls-verify: do not verify the chart registry's "
     "certificate"},
    {"env", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, str_elem, OFF(helm_env),
     "extra environment variables for helm (HELM_CACHE_HOME, "
     "HELM_CONFIG_HOME, HTTPS_PROXY...); the rest is inherited from smod"},
    {"max_output", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "1Mi", 4096,
     67108864, NULL, NULL, OFF(helm_max_output),
     "output kept from each of helm's streams (the step detail keeps the "
     "last 4 KiB)"},
    {0}};

static const struct smo_config_field replicas_fields[] = {
    {"deployments", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, str_elem,
     OFF(deployments),
     "Deployment to scale per service: key `project/service` or `service`, "
     "value the Deployment's name; others are found by instance_label"},
    {"instance_label", SMO_CFG_STRING, 0, "app.kubernetes.io/instance", 0, 0,
     NULL, NULL, OFF(instance_label),
     "label whose value is the release name on the release's Deployment "
     "(Helm's convention)"},
    {0}};

static const struct smo_config_field sub_fields[] = {
    {"kubeconfig", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(sub_kubeconfig),
     "kubeconfig of the Submariner broker cluster; empty: no Submariner "
     "(relative paths are under the data directory)"},
    {"context", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(sub_context),
     "context of that kubeconfig (default: its current-context)"},
    {"namespace", SMO_CFG_STRING, 0, "submariner-k8s-broker", 0, 0, NULL, NULL,
     OFF(sub_namespace), "the broker namespace holding the Cluster objects"},
    {0}};

static const struct smo_config_field fields[] = {
    {"kubeconfig", SMO_CFG_PATH, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     OFF(kubeconfig),
     "kubeconfig of the Karmada API server (karmada-apiserver), used for the "
     "API and given to helm; a relative path is under the data directory"},
    {"context", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(context),
     "context to use (default: the kubeconfig's current-context); also "
     "passed to helm as --kube-context"},
    {"request_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s", 100,
     600000, NULL, NULL, OFF(request_timeout_ms), "bound of one API request"},
    {"connect_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100,
     600000, NULL, NULL, OFF(connect_timeout_ms),
     "bound of connecting to the API server"},
    {"retry", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, retry_fields,
     SMO_CFG_NO_OFFSET, "retries of API requests"},
    {"sync_interval", SMO_CFG_DURATION, SMO_CFG_MAX, "60s", 0, 86400000, NULL,
     NULL, OFF(sync_interval_ms),
     "refresh the stored cluster inventory this often (0: only on demand, "
     "POST /clusters/sync); readiness changes become events"},
    {"replace_on_not_ready", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(replace_on_not_ready),
     "when a cluster becomes NotReady, re-place the running graphs that have "
     "services on it (graph.place)"},
    {"gpu_resources", SMO_CFG_ARRAY, 0, "[nvidia.com/gpu]", 0, 0, NULL,
     str_elem, OFF(gpu_resources),
     "extended resources counted as GPUs in the inventory"},
    {"helm", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, helm_fields,
     SMO_CFG_NO_OFFSET, "how helm is run"},
    {"replicas", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, replicas_fields,
     SMO_CFG_NO_OFFSET, "which Deployment holds a service's replicas"},
    {"submariner", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, sub_fields,
     SMO_CFG_NO_OFFSET,
     "optional Submariner broker: pod/service CIDRs per cluster on GET "
     "/clusters"},
    {0}};
#undef OFF

/* ----------------------------------------------------------- validate -- */

static bool dns_label(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > max || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return false;
    return true;
}

/* DNS-1123 subdomain: dot-separated labels (object names). */
static bool dns_subdomain(const char *s)
{
    if (!s || !*s || strlen(s) > 253)
        return false;
    char buf[254];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    size_t parts = 0;
    for (char *t = strtok_r(buf, ".", &save); t;
         t = strtok_r(NULL, ".", &save)) {
        if (!dns_label(t, 63))
            return false;
        parts++;
    }
    return parts > 0 && s[strlen(s) - 1] != '.' && s[0] != '.' &&
           !strstr(s, "..");
}

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct smo__kcfg *c = cfgp;
    if (c->sync_interval_ms > 0 && c->sync_interval_ms < 1000)
        return smo_status_set(st, SMO_EINVAL,
                              "sync_interval: 0 (off) or at least 1s");
    if (!*c->helm_binary || c->helm_binary[0] == '-')
        return smo_status_set(st, SMO_EINVAL,
                              "helm.binary: a program name or path");
    size_t i;
    json_t *v;
    json_array_foreach(c->gpu_resources, i, v)
    {
        if (!*json_string_value(v))
            return smo_status_set(st, SMO_EINVAL, "gpu_resources[%zu]: empty",
                                  i);
    }
    const char *k;
    json_object_foreach((json_t *)c->helm_env, k, v)
    {
        if (!*k || strchr(k, '='))
            return smo_status_set(st, SMO_EINVAL,
                                  "helm.env: \"%s\" is not a variable name", k);
    }
    json_object_foreach((json_t *)c->deployments, k, v)
    {
        const char *slash = strchr(k, '/');
        bool key_ok = slash ? (dns_label(slash + 1, 53) &&
                               strlen(k) - strlen(slash) <= 63 && slash > k &&
                               !strchr(slash + 1, '/'))
                            : dns_label(k, 53);
        if (!key_ok)
            return smo_status_set(st, SMO_EINVAL,
                                  "replicas.deployments: key \"%s\" is not "
                                  "`service` or `project/service`",
                                  k);
        if (!dns_subdomain(json_string_value(v)))
            return smo_status_set(st, SMO_EINVAL,
                                  "replicas.deployments.%s: \"%s\" is not a "
                                  "Deployment name",
                                  k, json_string_value(v));
    }
    const char *l = c->instance_label;
    if (!*l || strspn(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-_./") != strlen(l))
        return smo_status_set(st, SMO_EINVAL,
                              "replicas.instance_label: \"%s\" is not a "
                              "label key",
                              l);
    if (*c->sub_kubeconfig && !dns_label(c->sub_namespace, 63))
        return smo_status_set(st, SMO_EINVAL,
                              "submariner.namespace: \"%s\" is not a "
                              "namespace name",
                              c->sub_namespace);
    return 0;
}

/* --------------------------------------------------------- lifecycle -- */

static char *abs_path(const struct smo_host *host, smo_instance *self,
                      const char *p)
{
    char *out = NULL;
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", host->data_dir(self), p) < 0)
        return NULL;
    return out;
}

/* Read and parse a kubeconfig (create time: a small local file). */
static int load_kubeconfig(struct smo__kstate *s, const char *path,
                           const char *context, struct smo__kubeconfig *kc,
                           smo_status *st)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return smo_status_set(st, SMO_ECONFIG, "kubeconfig %s: %s", path,
                              strerror(errno));
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    len = fread(buf, 1, cap, f);
    bool big = len == cap && fgetc(f) != EOF;
    fclose(f);
    buf[len] = '\0';
    if (big) {
        free(buf);
        return smo_status_set(st, SMO_ECONFIG,
                              "kubeconfig %s: larger than 1 MiB", path);
    }
    json_t *doc = NULL;
    smo_status ps;
    smo_status_clear(&ps);
    int r = s->host->yaml_parse(buf, len, &doc, &ps);
    explicit_bzero(buf, len);
    free(buf);
    if (r)
        return smo_status_set(st, SMO_ECONFIG, "kubeconfig %s: %s", path,
                              ps.msg);
    char err[400];
    r = smo__kubeconfig_parse(doc, path, context, kc, err, sizeof err);
    json_decref(doc);
    if (r)
        return smo_status_set(st, SMO_ECONFIG, "%s", err);
    if (kc->warning[0])
        SMO_LOG_W(s->host, s->self, "%s: %s", path, kc->warning);
    return 0;
}

static const char *auth_kind(const struct smo__kubeconfig *kc)
{
    if (kc->cert_pem || kc->cert_file)
        return kc->token || kc->token_file ? "client certificate and token"
                                           : "client certificate";
    if (kc->token)
        return "token";
    if (kc->token_file)
        return "token file";
    if (kc->username)
        return "basic auth";
    return "no credentials";
}

static struct smo__kube *connect_api(struct smo__kstate *s, const char *file,
                                     const char *context, const char *label,
                                     smo_status *st)
{
    char *path = abs_path(s->host, s->self, file);
    if (!path) {
        smo_status_set(st, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    struct smo__kubeconfig kc;
    if (load_kubeconfig(s, path, context, &kc, st)) {
        free(path);
        return NULL;
    }
    const struct smo__kcfg *c = s->cfg;
    struct smo__kube_opts o = {c->request_timeout_ms, c->connect_timeout_ms,
                               (int)c->retry_attempts, c->retry_backoff_ms,
                               c->retry_max_backoff_ms};
    SMO_LOG_I(s->host, s->self, "%s API %s (kubeconfig %s, context %s, %s)",
              label, kc.server, path, kc.context, auth_kind(&kc));
    free(path);
    struct smo__kube *k = smo__kube_new(s, &kc, label, &o);
    if (!k) {
        smo__kubeconfig_free(&kc);
        smo_status_set(st, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    if (smo__kube_load_token(k, st)) {
        smo__kube_free(k);
        return NULL;
    }
    return k;
}

static void destroy(void *state)
{
    struct smo__kstate *s = state;
    if (!s)
        return;
    smo__kube_free(s->api);
    smo__kube_free(s->sub);
    json_decref(s->last_ready);
    smo__karmada_inventory_free(s);
    free(s->gpu_names);
    free(s->kubeconfig);
    free(s->values_dir);
    free(s);
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct smo__kcfg *c = cfgp;
    struct smo__kstate *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = c;
    s->last_ready = json_object();
    s->kubeconfig = abs_path(host, self, c->kubeconfig);
    size_t n = json_array_size(c->gpu_resources);
    s->gpu_names = calloc(n + 1, sizeof *s->gpu_names);
    if (!s->kubeconfig || !s->gpu_names ||
        asprintf(&s->values_dir, "%s/karmada-%s", host->data_dir(self),
                 host->instance_name(self)) < 0) {
        s->values_dir = NULL;
        destroy(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        s->gpu_names[i] =
            json_string_value(json_array_get(c->gpu_resources, i));
    s->api = connect_api(s, c->kubeconfig, c->context, "Karmada", st);
    if (!s->api) {
        destroy(s);
        return st->code;
    }
    if (*c->sub_kubeconfig) {
        s->sub = connect_api(s, c->sub_kubeconfig, c->sub_context,
                             "Submariner broker", st);
        if (!s->sub) {
            destroy(s);
            return st->code;
        }
    }
    /* Values files may carry secrets: a directory only smod can enter. */
    if ((mkdir(s->values_dir, 0700) && errno != EEXIST) ||
        chmod(s->values_dir, 0700)) {
        smo_status_set(st, SMO_EIO, "%s: %s", s->values_dir, strerror(errno));
        destroy(s);
        return st->code;
    }
    smo__helm_clean_values_dir(s);
    static const char *const l_helm[] = {"executor", "command", "result", NULL};
    static const char *const l_api[] = {"executor", "server", "code", NULL};
    static const char *const l_ready[] = {"executor", "cluster", NULL};
    s->m_helm = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_executor_karmada_helm_runs_total",
        "helm runs by command and result.", l_helm);
    s->m_api = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_executor_karmada_api_requests_total",
        "Kubernetes API requests by answer (HTTP status or error).", l_api);
    s->m_ready = host->metric_register(
        self, SMO_METRIC_GAUGE, "smo_executor_karmada_cluster_ready",
        "1 when the Karmada cluster's Ready condition is True.", l_ready);
    *out = s;
    return 0;
}

static int start(void *state, smo_status *st)
{
    (void)st;
    smo__karmada_sync_start(state);
    return 0;
}

void smo__karmada_maybe_stopped(struct smo__kstate *s)
{
    if (!s->stop_done || s->busy || s->inv_busy || smo__kube_inflight(s->api) ||
        smo__kube_inflight(s->sub))
        return;
    smo_done_cb d = s->stop_done;
    s->stop_done = NULL;
    d(s->stop_arg);
}

/* Drain: helm runs and API requests on the wire finish; retries waiting
 * for their backoff and the periodic sync stop now. */
static void stop(void *state, smo_done_cb done, void *arg)
{
    struct smo__kstate *s = state;
    s->stopping = true;
    s->stop_done = done;
    s->stop_arg = arg;
    smo__karmada_sync_stop(s);
    smo__kube_stop(s->api);
    smo__kube_stop(s->sub);
    smo__karmada_maybe_stopped(s);
}

/* -------------------------------------------------------- operations -- */

static int op_inventory(void *state, smo_exec_cb cb, void *arg, smo_status *st)
{
    return smo__karmada_inventory(state, cb, arg, st);
}

static int op_install(void *state, const struct smo_release *rel,
                      smo_exec_cb cb, void *arg, smo_status *st)
{
    return smo__helm_install(state, rel, cb, arg, st);
}

static int op_uninstall(void *state, const char *project, const char *name,
                        smo_exec_cb cb, void *arg, smo_status *st)
{
    return smo__helm_uninstall(state, project, name, cb, arg, st);
}

static int op_replicas_get(void *state, const char *project, const char *name,
                           smo_exec_cb cb, void *arg, smo_status *st)
{
    return smo__karmada_replicas_get(state, project, name, cb, arg, st);
}

static int op_replicas_set(void *state, const char *project, const char *name,
                           uint32_t replicas, smo_exec_cb cb, void *arg,
                           smo_status *st)
{
    return smo__karmada_replicas_set(state, project, name, replicas, cb, arg,
                                     st);
}

static int op_network_info(void *state, smo_exec_cb cb, void *arg,
                           smo_status *st)
{
    return smo__karmada_network_info(state, cb, arg, st);
}

static const struct smo_executor_ops ops = {
    .size = sizeof(struct smo_executor_ops),
    .inventory = op_inventory,
    .install = op_install,
    .uninstall = op_uninstall,
    .replicas_get = op_replicas_get,
    .replicas_set = op_replicas_set,
    .network_info = op_network_info,
};

SMO_PLUGIN_DEFINE(SMO_KIND_EXECUTOR, "karmada", "1.0.0",
                  "Karmada federation: helm releases on the Karmada control "
                  "plane, cluster inventory, Deployment replicas, optional "
                  "Submariner CIDRs.",
                  fields, struct smo__kcfg, validate, create, start, NULL, stop,
                  destroy, &ops);
