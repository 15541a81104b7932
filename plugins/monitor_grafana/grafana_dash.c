/* Dashboards generated from the descriptor: the panel set of the original
 * SMO's Grafana template (service, graph and cluster dashboards), with
 * three things fixed: every name reaching PromQL is quoted (and escaped for
 * regex matchers), uids come from a hash so that two graphs never overwrite
 * each other and long names still fit Grafana's 40 characters, and titles
 * are unique (Grafana refuses, or with overwrite replaces, a dashboard with
 * the title of another in the same folder). Pure: no I/O. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grafana.h"

/* ------------------------------------------------------------- names -- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    /* The terminating NUL is hashed too: ("ab","c") != ("a","bc"). */
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
        if (!*p)
            break;
    }
    return h;
}

void smo__graf_uid(const char *kind, const char *project, const char *graph,
                   const char *name, char out[SMO__GRAF_UID_MAX + 1])
{
    bool cluster = !strcmp(kind, "cluster");
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a(h, kind);
    h = fnv1a(h, cluster ? "" : project);
    h = fnv1a(h, cluster ? "" : graph);
    h = fnv1a(h, name);
    /* kind letter + up to 18 readable characters + 16 hex digits: 37. */
    char readable[19];
    size_t n = 0;
    for (const char *c = name; *c && n < sizeof readable - 1; c++) {
        char x = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        bool ok = (x >= 'a' && x <= 'z') || (x >= '0' && x <= '9');
        if (ok || (n && readable[n - 1] != '-'))
            readable[n++] = ok ? x : '-';
    }
    while (n && readable[n - 1] == '-')
        n--;
    readable[n] = '\0';
    snprintf(out, SMO__GRAF_UID_MAX + 1, "%c-%s%s%016llx", kind[0], readable,
             n ? "-" : "", (unsigned long long)h);
}

char *smo__graf_quote(const char *value)
{
    size_t n = strlen(value);
    char *out = malloc(n * 4 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f)
            o += (size_t)sprintf(out + o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

char *smo__graf_quote_re(const char *value, const char *suffix)
{
    size_t n = strlen(value), sl = suffix ? strlen(suffix) : 0;
    char *re = malloc(n * 2 + sl + 1);
    if (!re)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\.+*?()|[]{}^$", value[i]))
            re[o++] = '\\';
        re[o++] = value[i];
    }
    memcpy(re + o, suffix ? suffix : "", sl + 1);
    char *q = smo__graf_quote(re);
    free(re);
    return q;
}

/* ------------------------------------------------------------ panels -- */

static json_t *datasource(const struct smo__graf_opts *o)
{
    return json_pack("{s:s, s:s}", "type", o->datasource_type, "uid",
                     o->datasource_uid);
}

static json_t *target(const struct smo__graf_opts *o, const char *ref,
                      const char *expr, const char *legend)
{
    json_t *t =
        json_pack("{s:o, s:s, s:s, s:b, s:b}", "datasource", datasource(o),
                  "refId", ref, "expr", expr, "range", 1, "instant", 0);
    if (legend)
        json_object_set_new(t, "legendFormat", json_string(legend));
    return t;
}

static json_t *panel(const struct smo__graf_opts *o, int id, const char *type,
                     const char *title, const char *unit, int h, int w, int x,
                     int y)
{
    json_t *defaults =
        json_pack("{s:{s:s, s:[{s:s, s:n}, {s:s, s:i}]}}", "thresholds", "mode",
                  "absolute", "steps", "color", "green", "value", "color",
                  "red", "value", 80);
    if (unit)
        json_object_set_new(defaults, "unit", json_string(unit));
    json_t *p =
        json_pack("{s:i, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}, "
                  "s:{s:o, s:[]}, s:[]}",
                  "id", id, "type", type, "title", title, "datasource",
                  datasource(o), "gridPos", "h", h, "w", w, "x", x, "y", y,
                  "fieldConfig", "defaults", defaults, "overrides", "targets");
    if (!strcmp(type, "timeseries"))
        json_object_set_new(p, "options",
                            json_pack("{s:{s:s, s:s, s:b}, s:{s:s, s:s}}",
                                      "legend", "displayMode", "list",
                                      "placement", "bottom", "showLegend", 1,
                                      "tooltip", "mode", "multi", "sort",
                                      "none"));
    else
        json_object_set_new(p, "options",
                            json_pack("{s:{s:[s], s:s, s:b}, s:s}",
                                      "reduceOptions", "calcs", "lastNotNull",
                                      "fields", "", "values", 0, "orientation",
                                      "auto"));
    return p;
}

static void add_target(json_t *p, const struct smo__graf_opts *o,
                       const char *ref, const char *expr, const char *legend)
{
    json_array_append_new(json_object_get(p, "targets"),
                          target(o, ref, expr, legend));
}

static void stack(json_t *p, const char *unit, double min, double max)
{
    json_t *d = json_object_get(json_object_get(p, "fieldConfig"), "defaults");
    json_object_set_new(d, "custom",
                        json_pack("{s:{s:s}, s:s, s:i}", "stacking", "mode",
                                  "normal", "drawStyle", "line", "fillOpacity",
                                  30));
    json_object_set_new(d, "unit", json_string(unit));
    json_object_set_new(d, "min", json_real(min));
    json_object_set_new(d, "max", json_real(max));
}

/* The four panels of a service: `dep` is the PromQL literal for the
 * deployment (= matcher) and `pod` for pods (=~ matcher); `shown` the name
 * in titles. The graph dashboard repeats them per $service. */
static void service_panels(json_t *panels, const struct smo__graf_opts *o,
                           const char *shown, const char *dep, const char *pod,
                           bool repeat)
{
    char title[300], expr[2048];
    struct {
        int id;
        const char *suffix, *unit;
    } def[] = {{2, "pods", NULL},
               {11, "CPU utilization", "percent"},
               {10, "RAM usage", "decbytes"},
               {5, "throttling", "percentunit"}};
    for (int i = 0; i < 4; i++) {
        snprintf(title, sizeof title, "%s %s", shown, def[i].suffix);
        json_t *p = panel(o, def[i].id, "timeseries", title, def[i].unit, 8, 24,
                          0, 8 * i);
        switch (def[i].id) {
        case 2:
            snprintf(expr, sizeof expr,
                     "sum(kube_deployment_status_replicas_ready{deployment=%s})"
                     " OR on() vector(0)",
                     dep);
            break;
        case 11: {
            snprintf(expr, sizeof expr,
                     "round(100 * sum(rate(container_cpu_usage_seconds_total{"
                     "pod=~%s, container!=\"\"}[40s])) by (pod) / "
                     "sum(kube_pod_container_resource_limits{pod=~%s, "
                     "resource=\"cpu\"}) by (pod))",
                     pod, pod);
            json_t *d =
                json_object_get(json_object_get(p, "fieldConfig"), "defaults");
            json_object_set_new(
                d, "custom",
                json_pack("{s:i, s:i}", "axisSoftMin", 0, "axisSoftMax", 100));
            break;
        }
        case 10:
            snprintf(expr, sizeof expr,
                     "sum(container_memory_usage_bytes{pod=~%s, "
                     "container!=\"\"}) and on() "
                     "(sum(kube_deployment_status_replicas_ready{"
                     "deployment=%s}) >= 1)",
                     pod, dep);
            break;
        default:
            snprintf(expr, sizeof expr,
                     "sum by (container) (increase("
                     "container_cpu_cfs_throttled_periods_total{pod=~%s, "
                     "container!=\"\"}[40s])) / sum by (container) (increase("
                     "container_cpu_cfs_periods_total{pod=~%s, "
                     "container!=\"\"}[40s]))",
                     pod, pod);
        }
        add_target(p, o, "A", expr, NULL);
        if (repeat) {
            json_object_set_new(p, "repeat", json_string("service"));
            json_object_set_new(p, "repeatDirection", json_string("h"));
        }
        json_array_append_new(panels, p);
    }
}

static void cluster_panels(json_t *panels, const struct smo__graf_opts *o,
                           const char *cluster)
{
    /* Member Prometheus instances remote-write with an external label
     * naming the cluster; every query filters on it. */
    char *q = smo__graf_quote(cluster);
    char sel[512], e[8192];
    snprintf(sel, sizeof sel, "%s=%s", o->cluster_label, q);
    free(q);

    json_t *p =
        panel(o, 3, "timeseries", "CPU usage", "percentunit", 7, 14, 0, 0);
    stack(p, "percentunit", 0, 1);
    static const struct {
        const char *ref, *legend, *mode;
    } modes[] = {
        {"A", "Busy System", "mode=\"system\""},
        {"B", "Busy User", "mode=\"user\""},
        {"C", "Busy Iowait", "mode=\"iowait\""},
        {"D", "Busy IRQs", "mode=~\".*irq\""},
        {"E", "Busy Other", "mode!~\"idle|user|system|iowait|irq|softirq\""},
        {"F", "Idle", "mode=\"idle\""}};
    for (size_t i = 0; i < 6; i++) {
        snprintf(e, sizeof e,
                 "sum(irate(node_cpu_seconds_total{%s, %s}[5m])) / "
                 "scalar(count(count(node_cpu_seconds_total{%s}) by (cpu)))",
                 sel, modes[i].mode, sel);
        add_target(p, o, modes[i].ref, e, modes[i].legend);
    }
    json_array_append_new(panels, p);

    p = panel(o, 12, "stat", "CPU cores", NULL, 7, 4, 14, 0);
    snprintf(e, sizeof e, "sum(machine_cpu_cores{%s})", sel);
    add_target(p, o, "A", e, NULL);
    json_array_append_new(panels, p);

    p = panel(o, 11, "gauge", "CPU busy", "percent", 7, 6, 18, 0);
    snprintf(e, sizeof e,
             "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\", "
             "%s}[1m])))",
             sel);
    add_target(p, o, "A", e, NULL);
    json_array_append_new(panels, p);

    char used[4096];
    snprintf(used, sizeof used,
             "sum(node_memory_MemTotal_bytes{%s}) - "
             "sum(node_memory_MemFree_bytes{%s}) - "
             "sum(node_memory_Buffers_bytes{%s}) - "
             "sum(node_memory_Cached_bytes{%s})",
             sel, sel, sel, sel);
    p = panel(o, 4, "timeseries", "Memory Usage", "bytes", 7, 18, 0, 7);
    add_target(p, o, "A", used, "used");
    snprintf(e, sizeof e, "sum(node_memory_Buffers_bytes{%s})", sel);
    add_target(p, o, "B", e, "buffers");
    snprintf(e, sizeof e, "sum(node_memory_Cached_bytes{%s})", sel);
    add_target(p, o, "C", e, "cached");
    snprintf(e, sizeof e, "sum(node_memory_MemFree_bytes{%s})", sel);
    add_target(p, o, "D", e, "free");
    json_array_append_new(panels, p);

    p = panel(o, 5, "gauge", "Memory Usage", "percent", 7, 6, 18, 7);
    snprintf(e, sizeof e, "(%s) / sum(node_memory_MemTotal_bytes{%s}) * 100",
             used, sel);
    add_target(p, o, "A", e, NULL);
    json_array_append_new(panels, p);

    p = panel(o, 6, "timeseries", "Disk I/O", "Bps", 7, 18, 0, 14);
    snprintf(e, sizeof e,
             "sum by (instance) (rate(node_disk_read_bytes_total{%s}[2m]))",
             sel);
    add_target(p, o, "A", e, "read {{instance}}");
    snprintf(e, sizeof e,
             "sum by (instance) (rate(node_disk_written_bytes_total{%s}[2m]))",
             sel);
    add_target(p, o, "B", e, "written {{instance}}");
    snprintf(e, sizeof e,
             "sum by (instance) (rate(node_disk_io_time_seconds_total{%s}"
             "[2m]))",
             sel);
    add_target(p, o, "C", e, "io time {{instance}}");
    json_array_append_new(
        json_object_get(json_object_get(p, "fieldConfig"), "overrides"),
        json_pack("{s:{s:s, s:s}, s:[{s:s, s:s}]}", "matcher", "id", "byRegexp",
                  "options", "/io time.*/", "properties", "id", "unit", "value",
                  "s"));
    json_array_append_new(panels, p);

    p = panel(o, 7, "gauge", "Disk Space Usage", "percentunit", 7, 6, 18, 14);
    snprintf(e, sizeof e,
             "(sum(node_filesystem_size_bytes{device!=\"rootfs\", %s}) - "
             "sum(node_filesystem_free_bytes{device!=\"rootfs\", %s})) / "
             "sum(node_filesystem_size_bytes{device!=\"rootfs\", %s})",
             sel, sel, sel);
    add_target(p, o, "A", e, NULL);
    json_array_append_new(panels, p);

    p = panel(o, 8, "timeseries", "Network Received", "Bps", 7, 12, 0, 21);
    snprintf(e, sizeof e,
             "rate(node_network_receive_bytes_total{%s, device!~\"lo\"}[5m])",
             sel);
    add_target(p, o, "A", e, "{{device}}");
    json_array_append_new(panels, p);

    p = panel(o, 10, "timeseries", "Network Transmitted", "Bps", 7, 12, 12, 21);
    snprintf(e, sizeof e,
             "rate(node_network_transmit_bytes_total{%s, device!~\"lo\"}[5m])",
             sel);
    add_target(p, o, "A", e, "{{device}}");
    json_array_append_new(panels, p);
}

/* The $service variable of a graph dashboard: every service, all shown. */
static json_t *service_variable(const json_t *services)
{
    json_t *opts = json_array();
    size_t cap = 64, n = 0, i;
    char *query = calloc(1, cap);
    json_t *s;
    json_array_foreach(services, i, s)
    {
        const char *v = json_string_value(s);
        json_array_append_new(opts, json_pack("{s:b, s:s, s:s}", "selected",
                                              i == 0, "text", v, "value", v));
        size_t need = n + strlen(v) + 3;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            query = realloc(query, cap);
        }
        n += (size_t)sprintf(query + n, "%s%s", i ? ", " : "", v);
    }
    const char *first = json_string_value(json_array_get(services, 0));
    json_t *var =
        json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:o}", "name", "service",
                  "label", "service", "type", "custom", "includeAll", 1,
                  "multi", 1, "query", query, "options", opts);
    free(query);
    json_object_set_new(
        var, "current",
        first ? json_pack("{s:s, s:s}", "text", first, "value", first)
              : json_object());
    return var;
}

json_t *smo__graf_dashboard(const json_t *spec, const struct smo__graf_opts *o,
                            smo_status *st)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    const char *project = json_string_value(json_object_get(spec, "project"));
    const char *graph = json_string_value(json_object_get(spec, "graph"));
    const char *name = json_string_value(json_object_get(spec, "name"));
    const json_t *services = json_object_get(spec, "services");
    if (!kind || !name || !*name) {
        smo_status_set(st, SMO_EINVAL, "a dashboard needs a kind and a name");
        return NULL;
    }
    bool cluster = !strcmp(kind, "cluster");
    if (!cluster && strcmp(kind, "graph") && strcmp(kind, "service")) {
        smo_status_set(st, SMO_EINVAL,
                       "dashboard kind \"%s\": expected graph, service or "
                       "cluster",
                       kind);
        return NULL;
    }
    if (!cluster && (!project || !graph)) {
        smo_status_set(st, SMO_EINVAL,
                       "a %s dashboard needs its project and graph", kind);
        return NULL;
    }
    size_t i;
    json_t *s;
    json_array_foreach(services, i, s)
    {
        if (!json_is_string(s) || !*json_string_value(s)) {
            smo_status_set(st, SMO_EINVAL, "services[%zu]: not a name", i);
            return NULL;
        }
    }
    char uid[SMO__GRAF_UID_MAX + 1], title[512];
    smo__graf_uid(kind, project ? project : "", graph ? graph : "", name, uid);
    json_t *panels = json_array();
    json_t *vars = json_array();
    if (cluster) {
        snprintf(title, sizeof title, "SMO cluster %s", name);
        cluster_panels(panels, o, name);
    } else if (!strcmp(kind, "service")) {
        snprintf(title, sizeof title, "SMO %s/%s: %s", project, graph, name);
        char *dep = smo__graf_quote(name),
             *pod = smo__graf_quote_re(name, ".*");
        service_panels(panels, o, name, dep, pod, false);
        free(dep);
        free(pod);
    } else {
        snprintf(title, sizeof title, "SMO %s/%s", project, graph);
        service_panels(panels, o, "$service", "\"$service\"", "\"$service.*\"",
                       json_array_size(services) > 0);
        json_array_append_new(vars, service_variable(services));
    }
    json_t *tags = json_pack("[s, s]", "smo", kind);
    if (!cluster) {
        json_array_append_new(tags, json_string(project));
        json_array_append_new(tags, json_string(graph));
    }
    return json_pack("{s:b, s:n, s:s, s:s, s:o, s:s, s:i, s:i, s:s, "
                     "s:{s:s, s:s}, s:o, s:{s:o}, s:[]}",
                     "editable", 1, "id", "uid", uid, "title", title, "tags",
                     tags, "timezone", "browser", "schemaVersion", 39,
                     "version", 0, "refresh", o->refresh, "time", "from",
                     "now-1h", "to", "now", "panels", panels, "templating",
                     "list", vars, "links");
}
