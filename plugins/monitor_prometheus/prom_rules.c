/* Pure transformations of monitor_prometheus: no I/O, no host calls, so
 * that the unit tests can pin every case. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

char *smo__prom_quote(const char *value)
{
    size_t n = strlen(value);
    char *out = malloc(n * 4 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        /* PromQL strings use Go's escapes; a label value can hold
         * anything, so every character that could end or bend the literal
         * is escaped, control bytes as \xNN. */
        switch (c) {
        case '"':
        case '\\':
            out[o++] = '\\';
            out[o++] = (char)c;
            break;
        case '\n':
            out[o++] = '\\';
            out[o++] = 'n';
            break;
        case '\r':
            out[o++] = '\\';
            out[o++] = 'r';
            break;
        case '\t':
            out[o++] = '\\';
            out[o++] = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                o += (size_t)sprintf(out + o, "\\x%02x", c);
            } else
                out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

void smo__prom_sanitize(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (const char *c = in; *c && o + 1 < n; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
                  *c == '.' || *c == ':';
        out[o++] = ok ? *c : '_';
    }
    if (o == 0 && n > 1)
        out[o++] = '_';
    if (n)
        out[o] = '\0';
}

void smo__prom_duration(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "0s");
        return;
    }
    /* Prometheus reads y/w/d/h/m/s/ms but no fractions: spell it out. */
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 4 && ms > 0 && o < n; i++)
        if (ms >= units[i].ms) {
            int64_t q = ms / units[i].ms;
            ms -= q * units[i].ms;
            o += (size_t)snprintf(buf + o, n - o, "%lld%s", (long long)q,
                                  units[i].u);
        }
}

char *smo__prom_group_name(const char *project, const char *graph)
{
    char *g = NULL;
    if (asprintf(&g, "smo/%s/%s", project, graph) < 0)
        return NULL;
    return g;
}

/* ------------------------------------------------------------ build -- */

static const char *label(const json_t *rule, const char *k)
{
    return json_string_value(
        json_object_get(json_object_get(rule, "labels"), k));
}

/* A unique alert name within the graph's rules. */
static json_t *unique_name(json_t *seen, const char *want)
{
    char base[256], name[300];
    smo__prom_sanitize(want, base, sizeof base);
    snprintf(name, sizeof name, "%s", base);
    for (int i = 2; json_object_get(seen, name); i++)
        snprintf(name, sizeof name, "%s-%d", base, i);
    json_object_set_new(seen, name, json_true());
    return json_string(name);
}

/* Labels of a generated rule: the extra ones first, then the engine's,
 * which win (ownership relies on graph and project). */
static json_t *labels_of(const json_t *rule, const json_t *extra,
                         const char *project, const char *graph)
{
    json_t *l = json_object();
    if (json_is_object(extra))
        json_object_update(l, (json_t *)extra);
    const json_t *own = json_object_get(rule, "labels");
    if (json_is_object(own))
        json_object_update(l, (json_t *)own);
    json_object_set_new(l, "graph", json_string(graph));
    json_object_set_new(l, "project", json_string(project));
    return l;
}

static int for_of(const json_t *rule, smo__prom_parse_duration parse, char *buf,
                  size_t n, smo_status *st)
{
    const char *f = json_string_value(json_object_get(rule, "for"));
    int64_t ms = 0;
    if (f && *f && parse(f, &ms, st))
        return smo_status_set(st, SMO_EINVAL, "rule %s: for: %s",
                              json_string_value(json_object_get(rule, "name")),
                              st->msg);
    smo__prom_duration(ms, buf, n);
    return 0;
}

static json_t *annotations_of(const json_t *rule)
{
    const json_t *a = json_object_get(rule, "annotations");
    return json_is_object(a) ? json_deep_copy(a) : json_object();
}

static int plain_rule(json_t *out, json_t *seen, const json_t *r,
                      const json_t *extra, const char *project,
                      const char *graph, smo__prom_parse_duration parse,
                      bool condition_only, smo_status *st)
{
    char dur[64];
    if (for_of(r, parse, dur, sizeof dur, st))
        return st->code;
    const char *name = json_string_value(json_object_get(r, "name"));
    const char *expr = json_string_value(json_object_get(r, "expr"));
    if (!name || !expr || !*expr)
        return smo_status_set(st, SMO_EINVAL,
                              "a rule needs a name and an expression");
    json_t *labels = labels_of(r, extra, project, graph);
    if (condition_only) {
        /* One condition of an AND: it must not deploy on its own, and the
         * webhook ignores alerts without a service label. */
        json_object_set(labels, "for_service",
                        json_object_get(labels, "service"));
        json_object_del(labels, "service");
        json_object_set_new(labels, "smo_role", json_string("condition"));
    }
    json_array_append_new(out, json_pack("{s:o, s:s, s:s, s:o, s:o}", "alert",
                                         unique_name(seen, name), "expr", expr,
                                         "for", dur, "labels", labels,
                                         "annotations", annotations_of(r)));
    return 0;
}

/* count(ALERTS{alertname="A", alertstate="firing", graph=..., project=...})
 * for each condition, joined with "and on()": no labels survive, so the
 * combined alert carries only its own. */
static char *all_expr(const json_t *conds, const char *project,
                      const char *graph)
{
    char *qp = smo__prom_quote(project), *qg = smo__prom_quote(graph);
    char *e = strdup("");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        char *qa = smo__prom_quote(json_string_value(c));
        char *n = NULL;
        if (asprintf(&n,
                     "%s%scount(ALERTS{alertname=%s, alertstate=\"firing\", "
                     "graph=%s, project=%s})",
                     e, i ? " and on() " : "", qa, qg, qp) < 0)
            n = NULL;
        free(qa);
        free(e);
        e = n;
        if (!e)
            break;
    }
    free(qp);
    free(qg);
    return e;
}

int smo__prom_rules_build(const json_t *rules, const char *project,
                          const char *graph, const json_t *extra,
                          smo__prom_parse_duration parse, json_t **out,
                          smo_status *st)
{
    *out = NULL;
    if (!json_is_array(rules))
        return smo_status_set(st, SMO_EINVAL, "rules: expected an array");
    json_t *res = json_array();
    json_t *seen = json_object();
    json_t *done = json_object(); /* services handled */
    size_t i, k;
    json_t *r, *x;
    int rc = 0;
    json_array_foreach(rules, i, r)
    {
        const char *svc = label(r, "service");
        if (!json_is_object(r)) {
            rc = smo_status_set(st, SMO_EINVAL, "rules[%zu]: not an object", i);
            break;
        }
        if (svc && json_object_get(done, svc))
            continue;
        /* The rules of this service, in order. */
        json_t *mine = json_array();
        if (svc) {
            json_object_set_new(done, svc, json_true());
            json_array_foreach(rules, k, x)
            {
                const char *s2 = label(x, "service");
                if (s2 && !strcmp(s2, svc))
                    json_array_append(mine, x);
            }
        } else
            json_array_append(mine, r);
        const char *cond = label(r, "condition");
        bool all = svc && cond && !strcasecmp(cond, "AND") &&
                   json_array_size(mine) > 1;
        json_t *names = json_array(); /* alert names of the conditions */
        json_array_foreach(mine, k, x)
        {
            rc =
                plain_rule(res, seen, x, extra, project, graph, parse, all, st);
            if (rc)
                break;
            json_array_append(
                names,
                json_object_get(json_array_get(res, json_array_size(res) - 1),
                                "alert"));
        }
        if (!rc && all) {
            char want[256];
            snprintf(want, sizeof want, "%s-%s-all", graph, svc);
            char *e = all_expr(names, project, graph);
            json_t *labels = labels_of(r, extra, project, graph);
            json_object_del(labels, "event");
            json_object_set_new(labels, "condition", json_string("AND"));
            char summary[512];
            snprintf(summary, sizeof summary,
                     "every event of %s fired: deploy it", svc);
            json_array_append_new(
                res, json_pack("{s:o, s:s, s:s, s:o, s:{s:s, s:s}}", "alert",
                               unique_name(seen, want), "expr", e ? e : "",
                               "for", "0s", "labels", labels, "annotations",
                               "summary", summary, "description", summary));
            free(e);
        }
        json_decref(names);
        json_decref(mine);
        if (rc)
            break;
    }
    json_decref(seen);
    json_decref(done);
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* ------------------------------------------------------------- apply -- */

int smo__prom_file_apply(json_t *doc, const char *group, const json_t *rules,
                         int64_t interval_ms, bool *changed, smo_status *st)
{
    *changed = false;
    if (!json_is_object(doc))
        return smo_status_set(st, SMO_EPROTO,
                              "not a rules file (expected a mapping with "
                              "groups)");
    json_t *groups = json_object_get(doc, "groups");
    if (!groups || json_is_null(groups)) {
        groups = json_array();
        json_object_set_new(doc, "groups", groups);
    }
    if (!json_is_array(groups))
        return smo_status_set(st, SMO_EPROTO,
                              "not a rules file: groups is not a list");
    size_t i, at = (size_t)-1;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        const char *n = json_string_value(json_object_get(g, "name"));
        if (n && !strcmp(n, group)) {
            at = i;
            break;
        }
    }
    if (json_array_size(rules) == 0) {
        if (at != (size_t)-1) {
            json_array_remove(groups, at);
            *changed = true;
        }
        return 0;
    }
    json_t *ng = json_pack("{s:s}", "name", group);
    if (interval_ms > 0) {
        char buf[64];
        smo__prom_duration(interval_ms, buf, sizeof buf);
        json_object_set_new(ng, "interval", json_string(buf));
    }
    json_object_set_new(ng, "rules", json_deep_copy(rules));
    if (at == (size_t)-1) {
        json_array_append_new(groups, ng);
        *changed = true;
    } else {
        *changed = !json_equal(json_array_get(groups, at), ng);
        json_array_set_new(groups, at, ng);
    }
    return 0;
}

static bool owned(const json_t *rule, const char *project, const char *graph)
{
    const char *p = label(rule, "project"), *g = label(rule, "graph");
    return p && g && !strcmp(p, project) && !strcmp(g, graph);
}

int smo__prom_crd_apply(json_t *obj, const char *group, const char *project,
                        const char *graph, const json_t *rules, bool *changed,
                        smo_status *st)
{
    *changed = false;
    if (!json_is_object(obj))
        return smo_status_set(st, SMO_EPROTO, "PrometheusRule: not an object");
    json_t *spec = json_object_get(obj, "spec");
    if (!spec || json_is_null(spec)) {
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    json_t *groups = json_object_get(spec, "groups");
    if (!groups || json_is_null(groups)) {
        groups = json_array();
        json_object_set_new(spec, "groups", groups);
    }
    if (!json_is_object(spec) || !json_is_array(groups))
        return smo_status_set(st, SMO_EPROTO,
                              "PrometheusRule: spec.groups is not a list");
    json_t *g = NULL, *x;
    size_t i;
    json_array_foreach(groups, i, x)
    {
        const char *n = json_string_value(json_object_get(x, "name"));
        if (n && !strcmp(n, group))
            g = x;
    }
    if (!g) {
        if (json_array_size(rules) == 0)
            return 0;
        g = json_pack("{s:s, s:[]}", "name", group, "rules");
        json_array_append_new(groups, g);
    }
    json_t *old = json_object_get(g, "rules");
    json_t *nr = json_array();
    json_array_foreach(old, i, x)
    {
        if (!owned(x, project, graph))
            json_array_append(nr, x);
    }
    json_array_foreach(rules, i, x)
        json_array_append_new(nr, json_deep_copy(x));
    *changed = !json_is_array(old) || !json_equal(old, nr);
    json_object_set_new(g, "rules", nr);
    return 0;
}

/* ------------------------------------------------------------- query -- */

static json_t *sample_value(const json_t *pair, json_t *sample)
{
    /* [timestamp, "value"] */
    const char *v = json_string_value(json_array_get(pair, 1));
    if (!v)
        return NULL;
    char *end = NULL;
    double d = strtod(v, &end);
    if (!end || *end || end == v)
        return NULL;
    if (isfinite(d))
        json_object_set_new(sample, "value", json_real(d));
    else {
        json_object_set_new(sample, "value", json_null());
        json_object_set_new(sample, "special",
                            json_string(isnan(d) ? "NaN"
                                        : d > 0  ? "+Inf"
                                                 : "-Inf"));
    }
    json_object_set_new(sample, "time",
                        json_real(json_number_value(json_array_get(pair, 0))));
    return sample;
}

static int error_code(const char *type, long http)
{
    if (type) {
        if (!strcmp(type, "bad_data"))
            return SMO_EINVAL;
        if (!strcmp(type, "timeout"))
            return SMO_ETIMEDOUT;
        if (!strcmp(type, "unavailable"))
            return SMO_EUNAVAIL;
        if (!strcmp(type, "canceled"))
            return SMO_ECANCELED;
    }
    if (http == 400 || http == 422)
        return SMO_EINVAL;
    if (http == 401)
        return SMO_EAUTH;
    if (http == 403)
        return SMO_EPERM;
    if (http == 503)
        return SMO_EUNAVAIL;
    return SMO_EEXTERNAL;
}

int smo__prom_parse_query(const char *body, size_t len, long http_status,
                          json_t **out, smo_status *st)
{
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (!doc || !status) {
        int code = http_status >= 200 && http_status < 300
                       ? SMO_EPROTO
                       : error_code(NULL, http_status);
        smo_status_set(st, code,
                       "Prometheus answered %ld without a query "
                       "result%s%.200s",
                       http_status, len ? ": " : "", len ? body : "");
        json_decref(doc);
        return code;
    }
    if (strcmp(status, "success")) {
        const char *et = json_string_value(json_object_get(doc, "errorType"));
        const char *em = json_string_value(json_object_get(doc, "error"));
        int code = error_code(et, http_status);
        smo_status_set(st, code, "Prometheus: %s: %s", et ? et : "error",
                       em ? em : "(no message)");
        json_decref(doc);
        return code;
    }
    const json_t *data = json_object_get(doc, "data");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    const json_t *result = json_object_get(data, "result");
    json_t *samples = json_array();
    int rc = 0;
    if (type && !strcmp(type, "vector") && json_is_array(result)) {
        size_t i;
        json_t *x;
        json_array_foreach(result, i, x)
        {
            json_t *m = json_object_get(x, "metric");
            json_t *s = json_object();
            json_object_set_new(s, "labels",
                                json_is_object(m) ? json_incref(m)
                                                  : json_object());
            if (!sample_value(json_object_get(x, "value"), s)) {
                json_decref(s);
                rc = SMO_EPROTO;
                break;
            }
            json_array_append_new(samples, s);
        }
    } else if (type && !strcmp(type, "scalar") && json_is_array(result)) {
        json_t *s = json_pack("{s:{}}", "labels");
        if (sample_value(result, s))
            json_array_append_new(samples, s);
        else {
            json_decref(s);
            rc = SMO_EPROTO;
        }
    } else if (type && !strcmp(type, "matrix")) {
        json_decref(samples);
        json_decref(doc);
        return smo_status_set(st, SMO_EINVAL,
                              "the query returns a range vector; an instant "
                              "query needs an instant vector or a scalar");
    } else
        rc = SMO_EPROTO;
    if (rc) {
        smo_status_set(st, rc, "Prometheus: unexpected %s result",
                       type ? type : "untyped");
        json_decref(samples);
        json_decref(doc);
        return rc;
    }
    *out = json_pack("{s:s, s:o}", "type", type, "samples", samples);
    json_decref(doc);
    return 0;
}
