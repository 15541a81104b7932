/* monitor_prometheus: instant queries through /api/v1/query and alert rules
 * for event-triggered services, either in a rules file SMO owns (written
 * atomically, then POST /-/reload) or in a PrometheusRule object edited
 * with read-modify-write.
 *
 * rules_set calls run one at a time (a FIFO of jobs): each one reads the
 * current rules, replaces only its own graph's, and writes them back, so
 * two graphs never undo each other's change. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

/* ----------------------------------------------------------- config -- */

#define OFF(m) offsetof(struct smo__prom_cfg, m)
static const char *const modes[] = {"file", "prometheusrule", "none", NULL};
static const struct smo_config_field label_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "label value"},
    {0}};
static const struct smo_config_field rules_fields[] = {
    {"mode", SMO_CFG_ENUM, 0, "file", 0, 0, modes, NULL, OFF(rules_mode),
     "where alert rules go: file (a rules file SMO owns, then POST "
     "/-/reload), prometheusrule (a PrometheusRule object), none"},
    {"file", SMO_CFG_STRING, 0, "prometheus/smo-rules.yml", 0, 0, NULL, NULL,
     OFF(rules_file),
     "the rules file (mode file); relative paths are under the data "
     "directory; Prometheus's rule_files must match it"},
    {"reload", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, OFF(reload),
     "POST {url}/-/reload after writing the file (Prometheus needs "
     "--web.enable-lifecycle)"},
    {"reload_retry", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s", 1000,
     86400000, NULL, NULL, OFF(reload_retry_ms),
     "when Prometheus cannot be reached for a reload, try again this often "
     "in the background (the file is already written)"},
    {"evaluation_interval", SMO_CFG_DURATION, SMO_CFG_MAX, "0s", 0, 86400000,
     NULL, NULL, OFF(group_interval_ms),
     "evaluation interval of each graph's rule group (0: Prometheus's "
     "global one)"},
    {"labels", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, label_elem, OFF(rule_labels),
     "extra labels on every rule (severity...); graph, project, service and "
     "event are SMO's"},
    {0}};
static const struct smo_config_field pr_fields[] = {
    {"api_url", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(k8s_url),
     "Kubernetes API server base URL (https://host:6443), no kubeconfig"},
    {"token", SMO_CFG_STRING, SMO_CFG_SECRET, "", 0, 0, NULL, NULL,
     OFF(k8s_token), "bearer token of the API server"},
    {"token_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(k8s_token_file),
     "file holding the bearer token, read before each change (rotated "
     "service-account tokens)"},
    {"ca_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(k8s_ca_file),
     "PEM bundle to verify the API server"},
    {"insecure_skip_verify", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(k8s_insecure), "do not verify the API server's certificate"},
    {"namespace", SMO_CFG_STRING, 0, "monitoring", 0, 0, NULL, NULL,
     OFF(pr_namespace), "namespace of the PrometheusRule"},
    {"name", SMO_CFG_STRING, 0, "smo-rules", 0, 0, NULL, NULL, OFF(pr_name),
     "name of the PrometheusRule"},
    {"group", SMO_CFG_STRING, 0, "smo-alerts", 0, 0, NULL, NULL, OFF(pr_group),
     "rule group inside it holding SMO's rules (created when missing)"},
    {"labels", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, label_elem, OFF(pr_labels),
     "metadata labels of the object when SMO creates it (the operator's "
     "ruleSelector, e.g. release: kube-prometheus-stack)"},
    {"create", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, OFF(pr_create),
     "create the object when it does not exist"},
    {"conflict_retries", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "5", 0, 100,
     NULL, NULL, OFF(pr_retries),
     "read-modify-write attempts after a resourceVersion conflict"},
    {0}};
static const struct smo_config_field fields[] = {
    {"url", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(url),
     "Prometheus base URL (http://127.0.0.1:9090); queries and reloads"},
    {"bearer_token", SMO_CFG_STRING, SMO_CFG_SECRET, "", 0, 0, NULL, NULL,
     OFF(bearer_token), "bearer token for Prometheus"},
    {"basic_user", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(basic_user),
     "HTTP basic auth user for Prometheus"},
    {"basic_password", SMO_CFG_STRING, SMO_CFG_SECRET, "", 0, 0, NULL, NULL,
     OFF(basic_password), "HTTP basic auth password"},
    {"ca_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(ca_file),
     "PEM bundle to verify Prometheus"},
    {"insecure_skip_verify", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(insecure_skip_verify), "do not verify Prometheus's certificate"},
    {"query_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "5s", 100,
     300000, NULL, NULL, OFF(query_timeout_ms),
     "bound of one query when the caller gives none (also sent to "
     "Prometheus as its timeout)"},
    {"request_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100,
     600000, NULL, NULL, OFF(request_timeout_ms),
     "bound of a reload or Kubernetes API request"},
    {"rules", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, rules_fields,
     SMO_CFG_NO_OFFSET, "alert rules of event-triggered services"},
    {"prometheusrule", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, pr_fields,
     SMO_CFG_NO_OFFSET,
     "the PrometheusRule object (rules.mode: "
     "prometheusrule)"},
    {0}};
#undef OFF

static bool is_http_url(const char *u)
{
    return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) &&
           !strpbrk(u, " \t\r\n?#");
}

static bool label_name_ok(const char *n)
{
    if (!*n || (*n >= '0' && *n <= '9'))
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return strncmp(n, "__", 2) != 0;
}

static bool dns_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!n || n > max || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.'))
            return false;
    return true;
}

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct smo__prom_cfg *c = cfgp;
    if (*c->url && !is_http_url(c->url))
        return smo_status_set(st, SMO_EINVAL,
                              "url: expected http://HOST:PORT or https://..., "
                              "found \"%s\"",
                              c->url);
    if (*c->bearer_token && *c->basic_user)
        return smo_status_set(st, SMO_EINVAL,
                              "bearer_token and basic_user: give one "
                              "credential");
    const char *k;
    json_t *v;
    static const char *const reserved[] = {
        "graph",     "project",  "service",     "event", "condition",
        "alertname", "smo_role", "for_service", NULL};
    json_object_foreach((json_t *)c->rule_labels, k, v)
    {
        if (!label_name_ok(k))
            return smo_status_set(st, SMO_EINVAL,
                                  "rules.labels.%s: not a Prometheus label "
                                  "name ([a-zA-Z_][a-zA-Z0-9_]*)",
                                  k);
        for (size_t i = 0; reserved[i]; i++)
            if (!strcmp(k, reserved[i]))
                return smo_status_set(st, SMO_EINVAL,
                                      "rules.labels.%s: reserved for SMO's "
                                      "own labels",
                                      k);
    }
    if (!strcmp(c->rules_mode, "file")) {
        if (!*c->rules_file || strstr(c->rules_file, ".."))
            return smo_status_set(st, SMO_EINVAL,
                                  "rules.file: a file name without \"..\"");
        if (c->reload && !*c->url)
            return smo_status_set(st, SMO_EINVAL,
                                  "rules.reload needs url (or set "
                                  "rules.reload: false)");
    } else if (!strcmp(c->rules_mode, "prometheusrule")) {
        if (!is_http_url(c->k8s_url))
            return smo_status_set(st, SMO_EINVAL,
                                  "prometheusrule.api_url: required with "
                                  "rules.mode prometheusrule (https://...)");
        if (*c->k8s_token && *c->k8s_token_file)
            return smo_status_set(st, SMO_EINVAL,
                                  "prometheusrule.token and token_file: give "
                                  "one");
        if (!dns_ok(c->pr_namespace, 63) || strchr(c->pr_namespace, '.'))
            return smo_status_set(st, SMO_EINVAL,
                                  "prometheusrule.namespace: \"%s\" is not a "
                                  "DNS-1123 label",
                                  c->pr_namespace);
        if (!dns_ok(c->pr_name, 253))
            return smo_status_set(st, SMO_EINVAL,
                                  "prometheusrule.name: \"%s\" is not a "
                                  "DNS-1123 subdomain",
                                  c->pr_name);
        if (!*c->pr_group)
            return smo_status_set(st, SMO_EINVAL,
                                  "prometheusrule.group: empty");
    }
    return 0;
}

/* ------------------------------------------------------ bookkeeping -- */

void smo__prom_count(struct smo__prom *p, smo_metric *m, const char *a,
                     const char *b)
{
    const char *lv[] = {p->host->instance_name(p->self), a, b, NULL};
    p->host->metric_add(m, lv, 1);
}

void smo__prom_hold(struct smo__prom *p)
{
    p->inflight++;
}

void smo__prom_release(struct smo__prom *p)
{
    if (p->inflight)
        p->inflight--;
    if (p->stopping && p->inflight == 0 && p->stop_done) {
        smo_done_cb d = p->stop_done;
        p->stop_done = NULL;
        d(p->stop_arg);
    }
}

/* ------------------------------------------------------------- HTTP -- */

smo_http_call *smo__prom_http(struct smo__prom *p, const char *method,
                              const char *path, const char *ctype,
                              const char *body, int64_t timeout_ms,
                              smo_http_cb cb, void *arg, smo_status *st)
{
    const struct smo__prom_cfg *c = p->cfg;
    if (!*c->url) {
        smo_status_set(st, SMO_EUNAVAIL, "no Prometheus url is configured");
        return NULL;
    }
    size_t ul = strlen(c->url);
    while (ul && c->url[ul - 1] == '/')
        ul--;
    char *url = NULL;
    if (asprintf(&url, "%.*s%s", (int)ul, c->url, path) < 0) {
        smo_status_set(st, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "");
    const char *hdrs[] = {"Accept: application/json", ctype ? ct : NULL, NULL};
    struct smo_http_request req = {
        .size = sizeof req,
        .method = method,
        .url = url,
        .headers = hdrs,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms < c->request_timeout_ms
                                  ? timeout_ms
                                  : c->request_timeout_ms,
        .bearer_token = *c->bearer_token ? c->bearer_token : NULL,
        .basic_user = *c->basic_user ? c->basic_user : NULL,
        .basic_password = *c->basic_user ? c->basic_password : NULL,
        .ca_file = *c->ca_file ? c->ca_file : NULL,
        .insecure_skip_verify = c->insecure_skip_verify,
        .max_response_bytes = 16u << 20,
    };
    smo_http_call *call = p->host->http_request(p->self, &req, cb, arg, st);
    free(url);
    return call;
}

int smo__prom_reload(struct smo__prom *p, smo_http_cb cb, void *arg,
                     smo_status *st)
{
    if (!smo__prom_http(p, "POST", "/-/reload", NULL, NULL,
                        p->cfg->request_timeout_ms, cb, arg, st))
        return st->code ? st->code : SMO_EIO;
    return 0;
}

static void bg_reloaded(void *arg, const smo_status *st,
                        const struct smo_http_response *resp)
{
    struct smo__prom *p = arg;
    if (st->code == SMO_ECANCELED) {
        smo__prom_release(p);
        return;
    }
    if (st->code) {
        smo__prom_count(p, p->m_reloads, "unreachable", NULL);
        SMO_LOG_D(p->host, p->self, "reload still impossible: %s", st->msg);
        smo__prom_reload_later(p);
    } else if (resp->status >= 200 && resp->status < 300) {
        smo__prom_count(p, p->m_reloads, "ok", NULL);
        p->reload_pending = false;
        SMO_LOG_N(p->host, p->self, "Prometheus reloaded its rules");
    } else {
        smo__prom_count(p, p->m_reloads, "rejected", NULL);
        p->reload_pending = false;
        SMO_LOG_E(p->host, p->self,
                  "Prometheus refused the reload (HTTP %ld): "
                  "%.300s",
                  resp->status, resp->body);
    }
    smo__prom_release(p);
}

static void bg_reload(void *arg)
{
    struct smo__prom *p = arg;
    p->reload_timer = NULL;
    if (p->stopping || !p->reload_pending)
        return;
    smo_status st;
    smo_status_clear(&st);
    smo__prom_hold(p);
    if (smo__prom_reload(p, bg_reloaded, p, &st)) {
        smo__prom_release(p);
        smo__prom_reload_later(p);
    }
}

void smo__prom_reload_later(struct smo__prom *p)
{
    p->reload_pending = true;
    if (p->reload_timer || p->stopping)
        return;
    p->reload_timer = p->host->timer_start(
        p->self, (uint64_t)p->cfg->reload_retry_ms, 0, bg_reload, p);
}

/* ------------------------------------------------------------ query -- */

struct qctx {
    struct smo__prom *p;
    smo_monitor_cb cb;
    void *arg;
    uint64_t t0;
};

static char *form_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~')
            out[o++] = (char)c;
        else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

static void on_query(void *arg, const smo_status *st,
                     const struct smo_http_response *resp)
{
    struct qctx *q = arg;
    struct smo__prom *p = q->p;
    const char *lv[] = {p->host->instance_name(p->self), NULL};
    p->host->metric_observe(p->m_query_seconds, lv,
                            (double)(p->host->now_ms(p->self) - q->t0) / 1e3);
    smo_status s;
    smo_status_clear(&s);
    json_t *result = NULL;
    if (st->code)
        smo_status_set(&s, st->code, "Prometheus %s: %s", p->cfg->url, st->msg);
    else
        smo__prom_parse_query(resp->body, resp->body_len, resp->status, &result,
                              &s);
    const char *what = !s.code                   ? "ok"
                       : s.code == SMO_ETIMEDOUT ? "timeout"
                       : s.code == SMO_EUNAVAIL  ? "unavailable"
                       : s.code == SMO_ECANCELED ? "canceled"
                       : s.code == SMO_EINVAL    ? "bad_query"
                                                 : "error";
    smo__prom_count(p, p->m_queries, what, NULL);
    q->cb(q->arg, &s, result);
    free(q);
    smo__prom_release(p);
}

static int query(void *state, const char *expr, int64_t timeout_ms,
                 smo_monitor_cb cb, void *arg, smo_status *st)
{
    struct smo__prom *p = state;
    if (p->stopping)
        return smo_status_set(st, SMO_EUNAVAIL, "stopping");
    if (!expr || !*expr)
        return smo_status_set(st, SMO_EINVAL, "empty query");
    if (timeout_ms <= 0)
        timeout_ms = p->cfg->query_timeout_ms;
    char *e = form_escape(expr);
    char *body = NULL;
    /* Prometheus stops evaluating at `timeout`; the HTTP bound leaves it a
     * second to say so, so the caller gets its message, not ours. */
    if (!e || asprintf(&body, "query=%s&timeout=%lldms", e,
                       (long long)timeout_ms) < 0) {
        free(e);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    free(e);
    struct qctx *q = calloc(1, sizeof *q);
    q->p = p;
    q->cb = cb;
    q->arg = arg;
    q->t0 = p->host->now_ms(p->self);
    smo__prom_hold(p);
    smo_http_call *c = smo__prom_http(p, "POST", "/api/v1/query",
                                      "application/x-www-form-urlencoded", body,
                                      timeout_ms + 1000, on_query, q, st);
    free(body);
    if (!c) {
        free(q);
        smo__prom_count(p, p->m_queries, "error", NULL);
        p->inflight--;
        return st->code ? st->code : SMO_EIO;
    }
    return 0;
}

/* ------------------------------------------------------------ rules -- */

static void run_next(struct smo__prom *p);

void smo__prom_job_done(struct smo__prom_job *j, int code, const char *fmt, ...)
{
    struct smo__prom *p = j->p;
    smo_status st;
    smo_status_clear(&st);
    if (code) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        smo_status_set(&st, code, "%s", msg);
        SMO_LOG_W(p->host, p->self, "rules of %s/%s: %s", j->project, j->graph,
                  msg);
    }
    smo__prom_count(p, p->m_rules, p->cfg->rules_mode,
                    !code                   ? "ok"
                    : code == SMO_ECONFLICT ? "conflict"
                                            : "error");
    json_t *detail = NULL;
    if (!code) {
        detail = j->detail; /* given to the callback */
        j->detail = NULL;
    }
    j->cb(j->arg, &st, detail);
    json_decref(j->detail);
    json_decref(j->rules);
    json_decref(j->obj);
    free(j->old_text);
    free(j->new_text);
    free(j->project);
    free(j->graph);
    free(j);
    p->job_running = false;
    run_next(p);
    smo__prom_release(p);
}

static void run_next(struct smo__prom *p)
{
    if (p->job_running || !p->jobs)
        return;
    struct smo__prom_job *j = p->jobs;
    p->jobs = j->next;
    if (!p->jobs)
        p->jobs_tail = &p->jobs;
    j->next = NULL;
    p->job_running = true;
    if (!strcmp(p->cfg->rules_mode, "prometheusrule"))
        smo__prom_crd_run(j);
    else
        smo__prom_file_run(j);
}

static int rules_set(void *state, const char *project, const char *graph,
                     const json_t *rules, smo_monitor_cb cb, void *arg,
                     smo_status *st)
{
    struct smo__prom *p = state;
    if (!strcmp(p->cfg->rules_mode, "none"))
        return smo_status_set(st, SMO_SKIP,
                              "alert rules are disabled (rules.mode: none): "
                              "event-triggered services wait for an alert "
                              "sent to POST /alerts");
    if (p->stopping)
        return smo_status_set(st, SMO_EUNAVAIL, "stopping");
    if (!project || !graph)
        return smo_status_set(st, SMO_EINVAL, "rules need a project and graph");
    json_t *prom = NULL;
    if (smo__prom_rules_build(rules, project, graph, p->cfg->rule_labels,
                              p->host->parse_duration, &prom, st))
        return st->code;
    struct smo__prom_job *j = calloc(1, sizeof *j);
    j->p = p;
    j->project = strdup(project);
    j->graph = strdup(graph);
    j->rules = prom;
    j->cb = cb;
    j->arg = arg;
    *p->jobs_tail = j;
    p->jobs_tail = &j->next;
    smo__prom_hold(p);
    run_next(p);
    return 0;
}

/* -------------------------------------------------------- lifecycle -- */

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfg, void **out, smo_status *st)
{
    (void)st;
    struct smo__prom *p = calloc(1, sizeof *p);
    p->host = host;
    p->self = self;
    p->cfg = cfg;
    p->jobs_tail = &p->jobs;
    const char *f = p->cfg->rules_file;
    if (f[0] == '/')
        p->rules_path = strdup(f);
    else if (asprintf(&p->rules_path, "%s/%s", host->data_dir(self), f) < 0)
        p->rules_path = NULL;
    static const char *const l_q[] = {"monitor", "result", NULL};
    static const char *const l_s[] = {"monitor", NULL};
    static const char *const l_r[] = {"monitor", "mode", "result", NULL};
    p->m_queries = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_monitor_queries_total",
        "Prometheus queries by result (ok, bad_query, timeout, unavailable, "
        "error).",
        l_q);
    p->m_query_seconds = host->metric_register(
        self, SMO_METRIC_HISTOGRAM, "smo_monitor_query_duration_seconds",
        "Time to answer a Prometheus query.", l_s);
    p->m_rules = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_monitor_rule_updates_total",
        "Alert rule updates of a graph by mode and result.", l_r);
    p->m_reloads = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_monitor_reloads_total",
        "POST /-/reload by result (ok, rejected, unreachable).", l_q);
    *out = p;
    return 0;
}

static void stop(void *state, smo_done_cb done, void *arg)
{
    struct smo__prom *p = state;
    p->stopping = true;
    if (p->reload_timer) {
        p->host->timer_stop(p->reload_timer);
        p->reload_timer = NULL;
    }
    if (p->reload_pending)
        SMO_LOG_W(p->host, p->self,
                  "stopping before Prometheus could reload %s; it reads it "
                  "at its next start or reload",
                  p->rules_path);
    if (p->inflight == 0) {
        done(arg);
        return;
    }
    p->stop_done = done;
    p->stop_arg = arg;
}

static void destroy(void *state)
{
    struct smo__prom *p = state;
    if (!p)
        return;
    /* After stop, the core completed every request; jobs left only when
     * the instance never started. */
    while (p->jobs) {
        struct smo__prom_job *j = p->jobs;
        p->jobs = j->next;
        json_decref(j->rules);
        free(j->project);
        free(j->graph);
        free(j);
    }
    if (p->k8s_token) {
        explicit_bzero(p->k8s_token, strlen(p->k8s_token));
        free(p->k8s_token);
    }
    free(p->rules_path);
    free(p);
}

static const struct smo_monitor_ops ops = {
    .size = sizeof(struct smo_monitor_ops),
    .query = query,
    .rules_set = rules_set,
};

SMO_PLUGIN_DEFINE(SMO_KIND_MONITOR, "prometheus", "1.0.0",
                  "Prometheus: instant queries, alert rules of "
                  "event-triggered services in a rules file or a "
                  "PrometheusRule object.",
                  fields, struct smo__prom_cfg, validate, create, NULL, NULL,
                  stop, destroy, &ops);
