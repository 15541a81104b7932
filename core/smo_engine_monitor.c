/* The dashboards steps: `dashboards` (deploy, start) publishes a graph's
 * dashboards through the first monitor that has dashboard_publish, and
 * records their links in the graph ("grafana" of the graph and of each
 * service, as the original's API returned them); `dashboards_remove`
 * (remove) deletes the graph's and services' dashboards it recorded.
 * Cluster dashboards are shared by the graphs on a cluster and stay.
 *
 * A dashboard is a convenience: whatever the monitor answers, error
 * included, is recorded in the step's detail and the step is done, so
 * Grafana being down never fails an operation (the monitor retries on its
 * own). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_engine_int.h"
#include "smo_log.h"

struct dash_ctx {
    struct smo__engine *e;
    char *op_id;
    char *monitor;
    uint64_t token;
    size_t pending;
    bool issued; /* every request is out: the last answer finishes */
    bool remove;
    json_t *results; /* [{kind, name, uid, url, ...}] */
};

struct dash_one {
    struct dash_ctx *c;
    json_t *rec; /* this dashboard's entry in results (borrowed) */
};

static smo_instance *dash_monitor(struct smo__engine *e, bool remove)
{
    for (smo_instance *i = smo__rt_first(e->rt, SMO_KIND_MONITOR); i;
         i = smo__rt_next(i, SMO_KIND_MONITOR))
        if (remove ? i->plugin->ops.monitor.dashboard_remove != NULL
                   : i->plugin->ops.monitor.dashboard_publish != NULL)
            return i;
    return NULL;
}

static const char *url_of(const json_t *results, const char *kind,
                          const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        const char *k = json_string_value(json_object_get(r, "kind"));
        const char *n = json_string_value(json_object_get(r, "name"));
        if (k && n && !strcmp(k, kind) && !strcmp(n, name))
            return json_string_value(json_object_get(r, "url"));
    }
    return NULL;
}

/* Links into the graph document, committed with the step. */
static void record_links(json_t *g, const json_t *results)
{
    const char *gname = json_string_value(json_object_get(g, "name"));
    const char *gu = gname ? url_of(results, "graph", gname) : NULL;
    json_object_set_new(g, "grafana", gu ? json_string(gu) : json_null());
    size_t i;
    json_t *s, *r;
    json_array_foreach(json_object_get(g, "services"), i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        const char *su = n ? url_of(results, "service", n) : NULL;
        json_object_set_new(s, "grafana", su ? json_string(su) : json_null());
    }
    /* What dashboards_remove deletes: this graph's own dashboards. */
    json_t *uids = json_array();
    json_array_foreach(results, i, r)
    {
        const char *k = json_string_value(json_object_get(r, "kind"));
        json_t *uid = json_object_get(r, "uid");
        if (k && strcmp(k, "cluster") && json_is_string(uid))
            json_array_append(uids, uid);
    }
    json_object_set_new(g, "dashboards", uids);
}

static void forget_links(json_t *g)
{
    json_object_set_new(g, "grafana", json_null());
    json_object_del(g, "dashboards");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(g, "services"), i, s)
        json_object_set_new(s, "grafana", json_null());
}

static void dash_finish(struct dash_ctx *c)
{
    /* The operation may have ended meanwhile (a step timeout): only a
     * live one at the same step is finished. */
    struct smo__op *o = smo__op_find(c->e, c->op_id);
    if (o && o->token == c->token) {
        if (o->graph) {
            if (c->remove)
                forget_links(o->graph);
            else
                record_links(o->graph, c->results);
        }
        smo__step_done(o, c->token, 0, NULL,
                       json_pack("{s:s, s:O}", "monitor", c->monitor,
                                 "dashboards", c->results));
    }
    json_decref(c->results);
    free(c->op_id);
    free(c->monitor);
    free(c);
}

static void on_one(void *arg, const smo_status *st, json_t *result)
{
    struct dash_one *d = arg;
    struct dash_ctx *c = d->c;
    if (st->code)
        json_object_set_new(d->rec, "error", json_string(st->msg));
    else if (json_is_object(result))
        json_object_update(d->rec, result);
    json_decref(result);
    free(d);
    if (--c->pending == 0 && c->issued)
        dash_finish(c);
}

static struct dash_ctx *ctx_new(struct smo__op *o, smo_instance *m, bool remove)
{
    struct dash_ctx *c = calloc(1, sizeof *c);
    c->e = o->e;
    c->op_id = strdup(o->id);
    c->monitor = strdup(m->name);
    c->token = o->token;
    c->remove = remove;
    c->results = json_array();
    return c;
}

/* Issue one request; its record goes into the results either way. */
static void issue(struct dash_ctx *c, smo_instance *m, const char *kind,
                  const char *name, const json_t *spec, const char *uid)
{
    json_t *rec = json_pack("{s:s, s:s}", "kind", kind, "name", name);
    json_array_append_new(c->results, rec);
    struct dash_one *d = calloc(1, sizeof *d);
    d->c = c;
    d->rec = rec;
    smo_status st;
    smo_status_clear(&st);
    c->pending++;
    int r = spec ? m->plugin->ops.monitor.dashboard_publish(m->state, spec,
                                                            on_one, d, &st)
                 : m->plugin->ops.monitor.dashboard_remove(m->state, uid,
                                                           on_one, d, &st);
    if (r) {
        json_object_set_new(rec, r == SMO_SKIP ? "skipped" : "error",
                            json_string(st.msg));
        if (uid)
            json_object_set_new(rec, "uid", json_string(uid));
        c->pending--;
        free(d);
    }
}

static void issued(struct dash_ctx *c)
{
    c->issued = true;
    if (c->pending == 0)
        dash_finish(c);
}

void smo__step_dashboards(struct smo__op *o, json_t *step)
{
    (void)step;
    smo_instance *m = dash_monitor(o->e, false);
    if (!m || !o->graph) {
        smo__step_done(o, o->token, SMO_SKIP,
                       "no monitor with dashboards is configured", NULL);
        return;
    }
    const char *project =
        json_string_value(json_object_get(o->graph, "project"));
    const char *graph = json_string_value(json_object_get(o->graph, "name"));
    json_t *names = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o->graph, "services"), i, s)
        json_array_append(names, json_object_get(s, "name"));
    struct dash_ctx *c = ctx_new(o, m, false);
    json_t *spec =
        json_pack("{s:s, s:s?, s:s?, s:s?, s:O}", "kind", "graph", "project",
                  project, "graph", graph, "name", graph, "services", names);
    issue(c, m, "graph", graph ? graph : "", spec, NULL);
    json_decref(spec);
    json_array_foreach(names, i, s)
    {
        const char *n = json_string_value(s);
        spec = json_pack("{s:s, s:s?, s:s?, s:s, s:[s]}", "kind", "service",
                         "project", project, "graph", graph, "name", n,
                         "services", n);
        issue(c, m, "service", n, spec, NULL);
        json_decref(spec);
    }
    /* The clusters the graph's services are placed on, once each. */
    json_t *seen = json_object();
    const char *k;
    json_t *cl;
    json_object_foreach(json_object_get(o->graph, "placement"), k, cl)
    {
        const char *name = json_string_value(cl);
        if (!name || json_object_get(seen, name))
            continue;
        json_object_set_new(seen, name, json_true());
        spec = json_pack("{s:s, s:s?, s:s?, s:s, s:[]}", "kind", "cluster",
                         "project", project, "graph", graph, "name", name,
                         "services");
        issue(c, m, "cluster", name, spec, NULL);
        json_decref(spec);
    }
    json_decref(seen);
    json_decref(names);
    issued(c);
}

void smo__step_dashboards_remove(struct smo__op *o, json_t *step)
{
    (void)step;
    const json_t *uids =
        o->graph ? json_object_get(o->graph, "dashboards") : NULL;
    smo_instance *m = dash_monitor(o->e, true);
    if (!json_array_size(uids)) {
        smo__step_done(o, o->token, SMO_SKIP, "no dashboards recorded", NULL);
        return;
    }
    if (!m) {
        smo__step_done(o, o->token, SMO_SKIP,
                       "no monitor with dashboards is configured: the "
                       "graph's dashboards stay",
                       NULL);
        return;
    }
    struct dash_ctx *c = ctx_new(o, m, true);
    size_t i;
    json_t *u;
    json_array_foreach(uids, i, u)
    {
        if (json_is_string(u))
            issue(c, m, "dashboard", json_string_value(u), NULL,
                  json_string_value(u));
    }
    issued(c);
}
