/**
 * @file smo_monitor.h
 * @brief `monitor` plugins: metric queries, alert rules, dashboards.
 *
 * Every operation is optional; an instance implements at least one. A
 * monitor that lacks an operation leaves the member NULL.
 *
 * Rule JSON (array given to rules_set), one object per rule:
 *   {"name": "<graph>-<service>-<event>", "expr": "...", "for": "2m",
 *    "labels": {"graph": ..., "project": ..., "service": ...},
 *    "annotations": {"description": ..., "summary": ...}}
 */
#ifndef SMO_MONITOR_H
#define SMO_MONITOR_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/** `result` is new or NULL. */
typedef void (*smo_monitor_cb)(void *arg, const smo_status *st, json_t *result);

struct smo_monitor_ops {
    uint32_t size; /**< sizeof(struct smo_monitor_ops) */
    /** Instant query. Result: {"type": "vector"|"scalar", "samples":
     *  [{"labels": {...}, "value": 1.5}]} with NaN as JSON null. */
    int (*query)(void *state, const char *expr, int64_t timeout_ms,
                 smo_monitor_cb cb, void *arg, smo_status *st);
    /** Replace the alert rules of one graph (empty array: none). */
    int (*rules_set)(void *state, const char *project, const char *graph,
                     const json_t *rules, smo_monitor_cb cb, void *arg,
                     smo_status *st);
    /** Publish a dashboard. `spec`: {"kind": "graph"|"service"|"cluster",
     *  "project", "graph", "name", "services": [...]}. Result: {"uid",
     *  "url"}. */
    int (*dashboard_publish)(void *state, const json_t *spec, smo_monitor_cb cb,
                             void *arg, smo_status *st);
    /** Remove a dashboard by uid. */
    int (*dashboard_remove)(void *state, const char *uid, smo_monitor_cb cb,
                            void *arg, smo_status *st);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_MONITOR_H */
