/* monitor_grafana internals: the dashboard builder (grafana_dash.c, pure,
 * unit-tested) and what the instance (monitor_grafana.c) needs of it. */
#ifndef SMO__GRAFANA_H
#define SMO__GRAFANA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

/* Grafana's limit on dashboard uids. */
#define SMO__GRAF_UID_MAX 40

struct smo__graf_opts {
    const char *datasource_uid;  /* Prometheus datasource of the panels */
    const char *datasource_type; /* "prometheus" */
    const char *refresh;         /* dashboard auto-refresh ("5s") */
    const char *cluster_label;   /* label naming a member cluster ("source") */
};

/** The dashboard uid of (kind, project, graph, name): a readable prefix and
 *  a 64-bit hash of all four, [a-z0-9-] only, shorter than 40 characters.
 *  Cluster dashboards are shared by every graph: their uid ignores project
 *  and graph. */
void smo__graf_uid(const char *kind, const char *project, const char *graph,
                   const char *name, char out[SMO__GRAF_UID_MAX + 1]);
/** A Grafana dashboard (the `dashboard` member of POST /api/dashboards/db)
 *  for a spec of smo_monitor.h: {"kind": "graph"|"service"|"cluster",
 *  "project", "graph", "name", "services": [...]}. [returns new] or NULL
 *  with `st` filled when the spec is not usable. */
json_t *smo__graf_dashboard(const json_t *spec, const struct smo__graf_opts *o,
                            smo_status *st);
/** `value` as a PromQL string literal (quoted, escaped). [returns new,
 *  free()] */
char *smo__graf_quote(const char *value);
/** `value` with RE2 metacharacters escaped, as a PromQL string literal for
 *  a =~ matcher, followed by `suffix` (raw regex, may be NULL). */
char *smo__graf_quote_re(const char *value, const char *suffix);

#endif
