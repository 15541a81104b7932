/* monitor_prometheus internals shared by its files and its unit tests.
 *
 * prom_rules.c holds the pure transformations (engine rules -> Prometheus
 * alerting rules, a graph's group in the rules file, a graph's rules in a
 * PrometheusRule object, PromQL quoting); monitor_prometheus.c the
 * instance, queries and the request plumbing; prom_rulefile.c and
 * prom_crd.c the two ways of publishing rules. */
#ifndef SMO__PROM_H
#define SMO__PROM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

struct smo__prom_cfg {
    const char *url; /* Prometheus base URL ("" : none) */
    const char *bearer_token;
    const char *basic_user;
    const char *basic_password;
    const char *ca_file;
    bool insecure_skip_verify;
    int64_t query_timeout_ms;
    int64_t request_timeout_ms;
    /* rules */
    const char *rules_mode; /* file | prometheusrule | none */
    const char *rules_file;
    bool reload;
    int64_t reload_retry_ms;
    int64_t group_interval_ms;
    const json_t *rule_labels;
    /* rules.mode = prometheusrule */
    const char *k8s_url;
    const char *k8s_token;
    const char *k8s_token_file;
    const char *k8s_ca_file;
    bool k8s_insecure;
    const char *pr_namespace;
    const char *pr_name;
    const char *pr_group;
    const json_t *pr_labels;
    bool pr_create;
    int64_t pr_retries;
};

/* One rules_set call waiting for its turn: they run one at a time so
 * that two graphs never interleave a read-modify-write. */
struct smo__prom_job {
    struct smo__prom *p;
    char *project, *graph;
    json_t *rules; /* Prometheus alerting rules for the graph (owned) */
    smo_monitor_cb cb;
    void *arg;
    int attempt;
    /* file mode */
    char *old_text; /* the file before the write (NULL: absent) */
    size_t old_len;
    bool old_exists;
    char *new_text;
    size_t new_len;
    bool changed;
    bool rolling_back;
    int rc;
    char err[512];
    json_t *detail; /* the result given to the engine (owned) */
    /* prometheusrule mode */
    json_t *obj; /* the object as read (owned) */
    struct smo__prom_job *next;
};

struct smo__prom {
    const struct smo_host *host;
    smo_instance *self;
    const struct smo__prom_cfg *cfg;
    char *rules_path; /* absolute path of the rules file */
    char *k8s_token;  /* the token in use (inline or read from its file) */
    struct smo__prom_job *jobs, **jobs_tail;
    bool job_running;
    size_t inflight;         /* queries, jobs and background reloads */
    smo_timer *reload_timer; /* retry of a reload that could not connect */
    bool reload_pending;
    bool stopping;
    smo_done_cb stop_done;
    void *stop_arg;
    smo_metric *m_queries, *m_query_seconds, *m_rules, *m_reloads;
};

/* ------------------------------------------------------ prom_rules.c -- */

/** PromQL string literal for `value` (double-quoted, escaped): safe to
 *  splice into a label matcher. [returns new, free()] */
char *smo__prom_quote(const char *value);
/** An alert name from a rule name: letters, digits, '_', '-', '.' and ':'
 *  kept, anything else becomes '_'; never empty. */
void smo__prom_sanitize(const char *in, char *out, size_t n);
/** Milliseconds in Prometheus duration syntax ("1m30s", "500ms", "0s"). */
void smo__prom_duration(int64_t ms, char *buf, size_t n);
/** The rules file's group holding one graph's rules. [returns new] */
char *smo__prom_group_name(const char *project, const char *graph);

typedef int (*smo__prom_parse_duration)(const char *text, int64_t *ms,
                                        smo_status *st);
/** The engine's rules of one graph (smo_monitor.h) -> Prometheus alerting
 *  rules, new array in `*out`. Rules of one service whose label condition
 *  is AND and that has several events become one condition rule per event
 *  (no `service` label: they never deploy anything) plus one rule
 *  `<graph>-<service>-all` firing when every condition fires. `extra` are
 *  labels added to every rule (may be NULL). */
int smo__prom_rules_build(const json_t *rules, const char *project,
                          const char *graph, const json_t *extra,
                          smo__prom_parse_duration parse, json_t **out,
                          smo_status *st);
/** Replace group `group` of a rules-file document ({"groups": [...]}) by
 *  `rules` (borrowed; an empty array removes the group). `interval_ms` > 0
 *  sets the group's evaluation interval. `*changed` says whether the
 *  document differs. */
int smo__prom_file_apply(json_t *doc, const char *group, const json_t *rules,
                         int64_t interval_ms, bool *changed, smo_status *st);
/** Replace the rules of (project, graph) - those labelled so - in group
 *  `group` of a PrometheusRule object, creating the group when missing;
 *  rules of other graphs and other groups are kept as they are. */
int smo__prom_crd_apply(json_t *obj, const char *group, const char *project,
                        const char *graph, const json_t *rules, bool *changed,
                        smo_status *st);
/** A Prometheus query answer (the JSON text) -> the monitor result
 *  {"type", "samples": [{"labels", "value"}]} with non-finite values as
 *  null plus "special": "NaN"|"+Inf"|"-Inf". Errors keep Prometheus's
 *  own message; `http_status` maps errorType when the body has none. */
int smo__prom_parse_query(const char *body, size_t len, long http_status,
                          json_t **out, smo_status *st);

/* ---------------------------------------------- monitor_prometheus.c -- */

/** An HTTP request to Prometheus (base URL + path) with its credentials. */
smo_http_call *smo__prom_http(struct smo__prom *p, const char *method,
                              const char *path, const char *ctype,
                              const char *body, int64_t timeout_ms,
                              smo_http_cb cb, void *arg, smo_status *st);
/** POST /-/reload; `cb` as for the HTTP client. */
int smo__prom_reload(struct smo__prom *p, smo_http_cb cb, void *arg,
                     smo_status *st);
/** A reload that could not connect: try again later, in the background. */
void smo__prom_reload_later(struct smo__prom *p);
/** Finish the running job (its callback, then the next job). */
void smo__prom_job_done(struct smo__prom_job *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void smo__prom_count(struct smo__prom *p, smo_metric *m, const char *a,
                     const char *b);
/** Work in flight (requests, thread-pool jobs): stop() waits for it. */
void smo__prom_hold(struct smo__prom *p);
void smo__prom_release(struct smo__prom *p);

/* ---------------------------------------------------- prom_rulefile.c -- */

void smo__prom_file_run(struct smo__prom_job *j);

/* --------------------------------------------------------- prom_crd.c -- */

void smo__prom_crd_run(struct smo__prom_job *j);

#endif
