/* Core methods of the engine, called by frontends through host->call:
 * graph.deploy|list|get|start|stop|place|remove|plan, operation.get|list,
 * cluster.list|sync, alerts.receive, events.list. They validate, check the
 * graph's state, and create operations; results use the documented JSON
 * shapes (docs/api.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "smo_engine_int.h"
#include "smo_log.h"
#include "smo_units.h"

#define MAX_WAIT_MS (3600 * 1000)

static struct smo__engine *E(struct smo_rt *rt)
{
    return rt->engine;
}

/* --------------------------------------------------------- shapes -- */

json_t *smo__graph_public(const json_t *g, const json_t *op)
{
    json_t *svcs = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(g, "services"), i, s)
    {
        json_t *o = json_pack(
            "{s:O, s:O, s:O, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, "
            "s:O?, s:O?, s:O?}",
            "name", json_object_get(s, "name"), "status",
            json_object_get(s, "status"), "grafana",
            json_object_get(s, "grafana") ? json_object_get(s, "grafana")
                                          : json_null(),
            "cluster_affinity", json_object_get(s, "cluster"), "cpu",
            json_object_get(s, "cpu"), "memory", json_object_get(s, "memory"),
            "storage", json_object_get(s, "storage"), "gpu",
            json_object_get(s, "gpu"), "replicas",
            json_object_get(s, "replicas"), "trigger",
            json_object_get(s, "trigger"), "values_overwrite",
            json_object_get(s, "values"), "artifact_ref",
            json_object_get(s, "artifact_ref"), "artifact_type",
            json_object_get(s, "artifact_type"), "artifact_implementer",
            json_object_get(s, "artifact_implementer"));
        if (json_object_get(s, "error"))
            json_object_set(o, "error", json_object_get(s, "error"));
        json_array_append_new(svcs, o);
    }
    json_t *out = json_pack(
        "{s:O, s:O, s:O, s:O, s:O?, s:O?, s:o, s:O?, s:O?}", "name",
        json_object_get(g, "name"), "project", json_object_get(g, "project"),
        "status", json_object_get(g, "status"), "grafana",
        json_object_get(g, "grafana") ? json_object_get(g, "grafana")
                                      : json_null(),
        "hdaGraph",
        json_object_get(json_object_get(g, "descriptor"), "hdaGraph"),
        "placement", json_object_get(g, "placement"), "services", svcs,
        "created_ms", json_object_get(g, "created_ms"), "updated_ms",
        json_object_get(g, "updated_ms"));
    if (json_object_get(g, "last_error"))
        json_object_set(out, "last_error", json_object_get(g, "last_error"));
    if (json_object_get(g, "installed"))
        json_object_set(out, "installed", json_object_get(g, "installed"));
    const char *opid = json_string_value(json_object_get(g, "operation"));
    if (op)
        json_object_set_new(out, "operation", smo__op_public(op));
    else if (opid)
        json_object_set_new(out, "operation", json_pack("{s:s}", "id", opid));
    return out;
}

/* ------------------------------------------------------------ params -- */

static int project_ok(const char *p, smo_status *st)
{
    if (!p)
        return smo_status_set(st, SMO_EINVAL, "project: required");
    smo_status s;
    if (smo__check_dns_label(p, 63, &s))
        return smo_status_set(st, SMO_EINVAL, "project: %s", s.msg);
    return 0;
}

static int64_t wait_of(const json_t *params)
{
    json_int_t w = json_integer_value(json_object_get(params, "wait_ms"));
    return w < 0 ? 0 : w > MAX_WAIT_MS ? MAX_WAIT_MS : w;
}

/* ------------------------------------------------ graph lookups -- */

typedef void (*graph_found_cb)(struct smo_rt *rt, json_t *params,
                               struct smo__reply *reply, json_t *graph,
                               int64_t rev);

struct find_ctx {
    struct smo_rt *rt;
    json_t *params;
    struct smo__reply *reply;
    graph_found_cb cb;
    char *name;
};

static void on_found(void *arg, const smo_status *st, json_t *items)
{
    struct find_ctx *c = arg;
    if (st->code) {
        smo__reply_err(c->reply, st->code, "%s", st->msg);
    } else if (json_array_size(items) == 0) {
        const char *p =
            json_string_value(json_object_get(c->params, "project"));
        smo__reply_err(c->reply, SMO_ENOENT, "graph %s%s%s not found", c->name,
                       p ? " in project " : "", p ? p : "");
    } else if (json_array_size(items) > 1) {
        char projects[300] = "";
        size_t o = 0, i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            if (o < 250)
                o += (size_t)snprintf(
                    projects + o, sizeof projects - o, "%s%s", i ? ", " : "",
                    json_string_value(json_object_get(
                        json_object_get(it, "doc"), "project")));
        }
        smo__reply_err(c->reply, SMO_ECONFLICT,
                       "graph %s exists in several projects (%s): give the "
                       "project",
                       c->name, projects);
    } else {
        json_t *it = json_array_get(items, 0);
        c->cb(c->rt, c->params, c->reply,
              json_incref(json_object_get(it, "doc")),
              json_integer_value(json_object_get(it, "rev")));
    }
    json_decref(items);
    json_decref(c->params);
    free(c->name);
    free(c);
}

/* The graph named in params (name, optional project). */
static void find_graph(struct smo_rt *rt, json_t *params,
                       struct smo__reply *reply, graph_found_cb cb)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    const char *project = json_string_value(json_object_get(params, "project"));
    if (!name || !*name) {
        smo__reply_err(reply, SMO_EINVAL, "name: required");
        return;
    }
    smo_instance *st = E(rt) ? smo__engine_store(E(rt)) : NULL;
    if (!st) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    struct find_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->params = json_incref(params);
    c->reply = reply;
    c->cb = cb;
    c->name = strdup(name);
    json_t *f = json_pack("{s:s}", "name", name);
    if (project)
        json_object_set_new(f, "project", json_string(project));
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.list(st->state, SMO_COLL_GRAPH, f, on_found, c,
                                   &s)) {
        smo__reply_err(reply, s.code, "%s", s.msg);
        json_decref(c->params);
        free(c->name);
        free(c);
    }
    json_decref(f);
}

/* ----------------------------------------------------- operations -- */

struct start_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    int64_t wait_ms;
    json_t *graph_public_base;
};

static void on_op_created(void *arg, const smo_status *st, json_t *op)
{
    struct start_ctx *c = arg;
    if (st->code) {
        smo__reply_err(c->reply, st->code, "%s", st->msg);
    } else if (c->wait_ms > 0) {
        smo__op_wait(E(c->rt), json_string_value(json_object_get(op, "id")),
                     c->wait_ms, c->reply);
        json_decref(op);
    } else {
        smo__reply_ok(c->reply, op);
    }
    json_decref(c->graph_public_base);
    free(c);
}

static void start_op(struct smo_rt *rt, struct smo__reply *reply,
                     const char *action, json_t *graph, int64_t rev,
                     json_t *params, int64_t wait_ms, const char *service)
{
    json_t *steps = smo__steps_for(action, graph, service);
    struct start_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    c->wait_ms = wait_ms;
    smo_status st;
    smo_status_clear(&st);
    if (smo__op_create(E(rt), action, graph, rev, steps, params, on_op_created,
                       c, &st)) {
        smo__reply_err(reply, st.code, "%s", st.msg);
        free(c);
    }
}

/* ------------------------------------------------------------ deploy -- */

struct deploy_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    char *project;
    char *artifact;
    int64_t wait_ms;
    struct smo__hdag *h;
};

static void deploy_ctx_free(struct deploy_ctx *d)
{
    free(d->project);
    free(d->artifact);
    smo__hdag_free(d->h);
    free(d);
}

static json_t *new_graph_doc(struct deploy_ctx *d)
{
    json_t *svcs = json_array();
    for (size_t i = 0; i < d->h->n_services; i++) {
        const struct smo__hdag_service *s = &d->h->services[i];
        const char *trig = s->trigger == SMO__TRIGGER_EVENT  ? "event"
                           : s->trigger == SMO__TRIGGER_AUTO ? "auto"
                                                             : "standard";
        json_array_append_new(
            svcs,
            json_pack("{s:s, s:s, s:n, s:f, s:I, s:I, s:i, s:i, s:s, s:O, "
                      "s:s, s:s?, s:s?}",
                      "name", s->id, "status",
                      s->trigger == SMO__TRIGGER_EVENT ? "Pending"
                                                       : "Deploying",
                      "cluster", "cpu", s->res.cpu, "memory",
                      (json_int_t)s->res.memory, "storage",
                      (json_int_t)s->res.storage, "gpu", (int)s->res.gpu,
                      "replicas", (int)s->replicas, "trigger", trig, "values",
                      s->values, "artifact_ref", s->oci_image, "artifact_type",
                      s->oci_type, "artifact_implementer", s->oci_implementer));
        if (s->undeploy_on_resolved)
            json_object_set_new(json_array_get(svcs, json_array_size(svcs) - 1),
                                "undeploy_on_resolved", json_true());
    }
    json_t *g =
        json_pack("{s:s, s:s, s:s, s:O, s:{}, s:o}", "project", d->project,
                  "name", d->h->id, "status", "Deploying", "descriptor",
                  d->h->doc, "placement", "services", svcs);
    if (d->artifact)
        json_object_set_new(g, "artifact", json_string(d->artifact));
    return g;
}

static void deploy_with_existing(void *arg, const smo_status *st, json_t *doc,
                                 int64_t rev)
{
    struct deploy_ctx *d = arg;
    if (st->code && st->code != SMO_ENOENT) {
        smo__reply_err(d->reply, st->code, "%s", st->msg);
        json_decref(doc);
        deploy_ctx_free(d);
        return;
    }
    int64_t expect = SMO_REV_ABSENT;
    json_t *g = new_graph_doc(d);
    if (doc) {
        const char *status = json_string_value(json_object_get(doc, "status"));
        if (strcmp(status, "Failed") != 0) {
            smo__reply_err(d->reply, SMO_EEXIST,
                           "graph %s already exists in project %s (status "
                           "%s); remove it first",
                           d->h->id, d->project, status);
            json_decref(doc);
            json_decref(g);
            deploy_ctx_free(d);
            return;
        }
        /* A failed deploy is deployed again: releases already installed
         * are upgraded in place, so it converges. */
        expect = rev;
        json_t *old = json_object_get(doc, "services");
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(g, "services"), i, s)
        {
            size_t k;
            json_t *o;
            json_array_foreach(old, k, o)
            {
                if (json_equal(json_object_get(o, "name"),
                               json_object_get(s, "name"))) {
                    json_object_set(s, "cluster",
                                    json_object_get(o, "cluster"));
                    if (!strcmp(json_string_value(json_object_get(o, "status")),
                                "Deployed"))
                        json_object_set_new(s, "status",
                                            json_string("Deployed"));
                }
            }
        }
        json_object_set(g, "created_ms", json_object_get(doc, "created_ms"));
        json_decref(doc);
    }
    start_op(d->rt, d->reply, "deploy", g, expect, NULL, d->wait_ms, NULL);
    d->reply = NULL;
    deploy_ctx_free(d);
}

static void deploy_check_project(void *arg, const smo_status *st,
                                 json_t *items);

static void deploy_model(struct deploy_ctx *d)
{
    /* Releases are named after services inside the project's namespace:
     * two graphs of one project cannot both have a service "a". */
    smo_instance *store = smo__engine_store(E(d->rt));
    if (!store) {
        smo__reply_err(d->reply, SMO_EUNAVAIL, "no store is configured");
        deploy_ctx_free(d);
        return;
    }
    json_t *f = json_pack("{s:s}", "project", d->project);
    smo_status s;
    smo_status_clear(&s);
    if (store->plugin->ops.store.list(store->state, SMO_COLL_GRAPH, f,
                                      deploy_check_project, d, &s)) {
        smo__reply_err(d->reply, s.code, "%s", s.msg);
        deploy_ctx_free(d);
    }
    json_decref(f);
}

static void deploy_fetch_existing(struct deploy_ctx *d);

static void deploy_check_project(void *arg, const smo_status *st, json_t *items)
{
    struct deploy_ctx *d = arg;
    if (st->code) {
        smo__reply_err(d->reply, st->code, "%s", st->msg);
        deploy_ctx_free(d);
        json_decref(items);
        return;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *g = json_object_get(it, "doc");
        const char *other = json_string_value(json_object_get(g, "name"));
        if (!strcmp(other, d->h->id))
            continue;
        for (size_t k = 0; k < d->h->n_services; k++) {
            size_t x;
            json_t *s;
            json_array_foreach(json_object_get(g, "services"), x, s)
            {
                if (strcmp(json_string_value(json_object_get(s, "name")),
                           d->h->services[k].id))
                    continue;
                smo__reply_err(d->reply, SMO_EEXIST,
                               "service %s is already deployed by graph %s "
                               "in project %s (Helm releases are named "
                               "after services in the project's namespace)",
                               d->h->services[k].id, other, d->project);
                deploy_ctx_free(d);
                json_decref(items);
                return;
            }
        }
    }
    json_decref(items);
    deploy_fetch_existing(d);
}

static void deploy_fetch_existing(struct deploy_ctx *d)
{
    smo_instance *st = smo__engine_store(E(d->rt));
    if (!st) {
        smo__reply_err(d->reply, SMO_EUNAVAIL, "no store is configured");
        deploy_ctx_free(d);
        return;
    }
    char key[200];
    snprintf(key, sizeof key, "%s/%s", d->project, d->h->id);
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.get(st->state, SMO_COLL_GRAPH, key,
                                  deploy_with_existing, d, &s)) {
        smo__reply_err(d->reply, s.code, "%s", s.msg);
        deploy_ctx_free(d);
    }
}

/* Parse + validate + translate; errors go back with every problem. */
static int load_descriptor(struct smo_rt *rt, const char *text, size_t len,
                           const json_t *obj, const char *name,
                           struct smo__hdag **out, struct smo__reply *reply)
{
    struct smo__translator_ref tr[16];
    size_t n = 0;
    for (smo_instance *i = smo__rt_first(rt, SMO_KIND_TRANSLATOR); i && n < 16;
         i = smo__rt_next(i, SMO_KIND_TRANSLATOR)) {
        tr[n].ops = &i->plugin->ops.translator;
        tr[n].state = i->state;
        tr[n].name = i->name;
        n++;
    }
    if (!n) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no translator is configured");
        return SMO_EUNAVAIL;
    }
    struct smo__hdag_report rep;
    smo__hdag_report_init(&rep);
    struct smo__hdag_opts opts = {0};
    opts.name = name;
    int r;
    if (text)
        r = smo__hdag_load(text, len, &opts, tr, n, out, &rep);
    else {
        r = smo__hdag_from_json(obj, &opts, out, &rep);
        if (!r)
            r = smo__hdag_translate(*out, tr, n, &rep);
        if (r) {
            smo__hdag_free(*out);
            *out = NULL;
        }
    }
    if (r) {
        char *t = smo__hdag_report_text(&rep, false, NULL);
        size_t l = strlen(t);
        while (l && t[l - 1] == '\n')
            t[--l] = '\0';
        for (char *p = t; *p; p++)
            if (*p == '\n')
                *p = ';';
        smo__reply_err_detail(reply, SMO_EINVAL,
                              json_pack("{s:O, s:O}", "errors", rep.errors,
                                        "warnings", rep.warnings),
                              "invalid descriptor: %s", t);
        free(t);
    }
    smo__hdag_report_free(&rep);
    return r;
}

static void on_artifact(void *arg, const smo_status *st, const char *text,
                        size_t len)
{
    struct deploy_ctx *d = arg;
    if (st->code) {
        smo__reply_err(d->reply, st->code == SMO_ENOENT ? SMO_EINVAL : st->code,
                       "artifact %s: %s", d->artifact, st->msg);
        deploy_ctx_free(d);
        return;
    }
    if (load_descriptor(d->rt, text, len, NULL, d->artifact, &d->h, d->reply)) {
        deploy_ctx_free(d);
        return;
    }
    deploy_model(d);
}

static void m_deploy(struct smo_rt *rt, json_t *params,
                     struct smo__reply *reply)
{
    smo_status st;
    const char *project = json_string_value(json_object_get(params, "project"));
    if (project_ok(project, &st)) {
        smo__reply_err(reply, st.code, "%s", st.msg);
        return;
    }
    if (!E(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "the engine is not running");
        return;
    }
    struct deploy_ctx *d = calloc(1, sizeof *d);
    d->rt = rt;
    d->reply = reply;
    d->project = strdup(project);
    d->wait_ms = wait_of(params);
    const json_t *desc = json_object_get(params, "descriptor");
    const char *text = json_string_value(json_object_get(params, "text"));
    const char *artifact =
        json_string_value(json_object_get(params, "artifact"));
    if (artifact) {
        d->artifact = strdup(artifact);
        smo_status_clear(&st);
        if (smo__resolve_descriptor(rt, artifact, on_artifact, d, &st)) {
            smo__reply_err(reply, st.code == SMO_ENOTSUP ? SMO_EINVAL : st.code,
                           "artifact %s: %s", artifact, st.msg);
            deploy_ctx_free(d);
        }
        return;
    }
    if (!desc && !text) {
        smo__reply_err(reply, SMO_EINVAL,
                       "the body must hold a descriptor ({\"hdaGraph\": ...}, "
                       "YAML text) or {\"artifact\": \"oci://...\"}");
        deploy_ctx_free(d);
        return;
    }
    if (load_descriptor(rt, text, text ? strlen(text) : 0, desc, "descriptor",
                        &d->h, reply)) {
        deploy_ctx_free(d);
        return;
    }
    deploy_model(d);
}

/* ------------------------------------------------- graph actions -- */

static bool busy(struct smo__reply *reply, const json_t *g)
{
    const char *op = json_string_value(json_object_get(g, "operation"));
    if (!op)
        return false;
    smo__reply_err(reply, SMO_ESTATE,
                   "graph %s is busy with operation %s; retry when it "
                   "finished",
                   json_string_value(json_object_get(g, "name")), op);
    return true;
}

static void set_statuses(json_t *g, const char *graph_status, const char *from,
                         const char *to)
{
    json_object_set_new(g, "status", json_string(graph_status));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(g, "services"), i, s)
    {
        const char *st = json_string_value(json_object_get(s, "status"));
        if (from && to && st && !strcmp(st, from))
            json_object_set_new(s, "status", json_string(to));
    }
}

static void do_action(struct smo_rt *rt, json_t *params,
                      struct smo__reply *reply, json_t *g, int64_t rev)
{
    const char *action = json_string_value(json_object_get(params, "__action"));
    const char *status = json_string_value(json_object_get(g, "status"));
    const char *name = json_string_value(json_object_get(g, "name"));
    if (busy(reply, g)) {
        json_decref(g);
        return;
    }
    json_t *opparams = NULL;
    if (!strcmp(action, "start")) {
        if (!strcmp(status, "Running")) {
            smo__reply_err(reply, SMO_ESTATE, "graph %s is already running",
                           name);
            json_decref(g);
            return;
        }
        set_statuses(g, "Starting", "Not deployed", "Deploying");
        /* Event-triggered services wait for their alerts again. */
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(g, "services"), i, s)
        {
            if (!strcmp(json_string_value(json_object_get(s, "trigger")),
                        "event") &&
                strcmp(json_string_value(json_object_get(s, "status")),
                       "Deployed"))
                json_object_set_new(s, "status", json_string("Pending"));
        }
    } else if (!strcmp(action, "stop")) {
        if (!strcmp(status, "Stopped")) {
            smo__reply_err(reply, SMO_ESTATE, "graph %s is already stopped",
                           name);
            json_decref(g);
            return;
        }
        set_statuses(g, "Stopping", NULL, NULL);
    } else if (!strcmp(action, "place")) {
        if (json_is_true(json_object_get(
                json_object_get(
                    json_object_get(json_object_get(g, "descriptor"),
                                    "hdaGraph"),
                    "hdaGraphIntent"),
                "useStaticPlacement"))) {
            smo__reply_err(reply, SMO_ESTATE,
                           "graph %s uses static placement: its charts "
                           "decide where services run",
                           name);
            json_decref(g);
            return;
        }
        opparams = json_pack("{s:s}", "previous_status", status);
        set_statuses(g, "Placing", NULL, NULL);
    } else if (!strcmp(action, "remove")) {
        opparams =
            json_pack("{s:O, s:O}", "project", json_object_get(g, "project"),
                      "name", json_object_get(g, "name"));
        set_statuses(g, "Removing", NULL, NULL);
    }
    start_op(rt, reply, action, g, rev, opparams, wait_of(params), NULL);
}

static void action_method(struct smo_rt *rt, json_t *params,
                          struct smo__reply *reply, const char *action)
{
    if (!E(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "the engine is not running");
        return;
    }
    json_object_set_new(params, "__action", json_string(action));
    find_graph(rt, params, reply, do_action);
}

static void m_start(struct smo_rt *rt, json_t *p, struct smo__reply *r)
{
    action_method(rt, p, r, "start");
}
static void m_stop(struct smo_rt *rt, json_t *p, struct smo__reply *r)
{
    action_method(rt, p, r, "stop");
}
static void m_place(struct smo_rt *rt, json_t *p, struct smo__reply *r)
{
    action_method(rt, p, r, "place");
}
static void m_remove(struct smo_rt *rt, json_t *p, struct smo__reply *r)
{
    action_method(rt, p, r, "remove");
}

/* ------------------------------------------------------------ reads -- */

/* ------------------------------------------------------ read cache -- */

/* graph.get and graph.list answers are the hottest reads (dashboards
 * poll them); they are cached while the engine is idle: no operation
 * running or being created (a running one shows its in-memory graph),
 * and emptied by every graph write. The key names the store instance, so
 * a reload that swaps the store never serves the old one's graphs.
 * Cacheable answers carry an entity tag in "_etag"; a caller that gives
 * the current tag as "etag" gets {"not_modified": true} instead of a
 * copy (the API keeps the serialised body). */
static void read_key(struct smo_rt *rt, char *key, size_t n, const char *what,
                     const char *project, const char *name)
{
    snprintf(key, n, "%s|%p|%s|%s", what,
             (void *)(E(rt) ? smo__engine_store(E(rt)) : NULL),
             project ? project : "", name ? name : "");
}

static bool cache_usable(const struct smo__engine *e)
{
    return e && !e->ops && !e->creating && !smo__engine_follower(e);
}

static void etag_of(const struct smo__engine *e, char *buf, size_t n)
{
    snprintf(buf, n, "\"%016llx-%llu\"", (unsigned long long)e->boot,
             (unsigned long long)e->graph_gen);
}

/* Answer from the cache; false when the caller must read the store. */
static bool cache_answer(struct smo__engine *e, const char *key,
                         const json_t *params, struct smo__reply *reply)
{
    json_t *hit = cache_usable(e) ? json_object_get(e->read_cache, key) : NULL;
    if (!hit)
        return false;
    char tag[64];
    etag_of(e, tag, sizeof tag);
    const char *theirs = json_string_value(json_object_get(params, "etag"));
    if (theirs && !strcmp(theirs, tag))
        smo__reply_ok(reply,
                      json_pack("{s:b, s:s}", "not_modified", 1, "_etag", tag));
    else { /* the receiver owns its result: a copy */
        json_t *out = json_deep_copy(hit);
        json_object_set_new(out, "_etag", json_string(tag));
        smo__reply_ok(reply, out);
    }
    return true;
}

/* `gen`: the write count when the read started; a write since then means
 * the answer may predate it. Tags `value` when it was cached. */
static void cache_store(struct smo__engine *e, const char *key, uint64_t gen,
                        json_t *value)
{
    if (!cache_usable(e) || gen != e->graph_gen)
        return;
    if (json_object_size(e->read_cache) >= 4096)
        json_object_clear(e->read_cache);
    json_object_set_new(e->read_cache, key, json_deep_copy(value));
    char tag[64];
    etag_of(e, tag, sizeof tag);
    json_object_set_new(value, "_etag", json_string(tag));
}

static void reply_graph(struct smo_rt *rt, json_t *params,
                        struct smo__reply *reply, json_t *g, int64_t rev)
{
    const char *opid = json_string_value(json_object_get(g, "operation"));
    struct smo__op *o = opid && E(rt) ? smo__op_find(E(rt), opid) : NULL;
    json_t *out =
        smo__graph_public(o && o->graph ? o->graph : g, o ? o->doc : NULL);
    json_object_set_new(out, "revision", json_integer(rev));
    const char *key = json_string_value(json_object_get(params, "__cache_key"));
    if (key && E(rt))
        cache_store(E(rt), key,
                    (uint64_t)json_integer_value(
                        json_object_get(params, "__cache_gen")),
                    out);
    smo__reply_ok(reply, out);
    json_decref(g);
}

static void m_get(struct smo_rt *rt, json_t *params, struct smo__reply *reply)
{
    if (!E(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "the engine is not running");
        return;
    }
    char key[600];
    read_key(rt, key, sizeof key, "get",
             json_string_value(json_object_get(params, "project")),
             json_string_value(json_object_get(params, "name")));
    if (cache_answer(E(rt), key, params, reply))
        return;
    json_t *p = json_deep_copy(params);
    json_object_set_new(p, "__cache_key", json_string(key));
    json_object_set_new(p, "__cache_gen",
                        json_integer((json_int_t)E(rt)->graph_gen));
    find_graph(rt, p, reply, reply_graph);
    json_decref(p);
}

struct list_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
};

/* A graph.list store read and the calls that joined it (each with the
 * entity tag it holds, or NULL). */
struct joiner {
    struct smo__reply *reply;
    char *etag;
};
struct smo__read_flight {
    struct smo_rt *rt;
    struct smo__reply *reply; /* the call that started the read */
    char *cache_key;
    uint64_t gen;          /* the engine's write count when it started */
    struct smo__engine *e; /* the engine it started on */
    struct smo__read_flight *next;
    struct joiner *j;
    size_t nj, capj;
};

static struct smo__read_flight *flight_find(struct smo__engine *e,
                                            const char *key)
{
    /* A follower's graphs change under it (another daemon writes the
     * store) without a write count here: each of its reads is its own. */
    if (smo__engine_follower(e))
        return NULL;
    for (struct smo__read_flight *f = e->flights; f; f = f->next)
        if (f->gen == e->graph_gen && !strcmp(f->cache_key, key))
            return f;
    return NULL;
}

static int flight_join(struct smo__read_flight *f, struct smo__reply *reply,
                       const json_t *params)
{
    if (f->nj == f->capj) {
        size_t cap = f->capj ? 2 * f->capj : 8;
        struct joiner *nj = realloc(f->j, cap * sizeof *nj);
        if (!nj)
            return -1;
        f->j = nj;
        f->capj = cap;
    }
    const char *tag = json_string_value(json_object_get(params, "etag"));
    f->j[f->nj].reply = reply;
    f->j[f->nj].etag = tag ? strdup(tag) : NULL;
    f->nj++;
    return 0;
}

/* The read is over: out of the engine's list (when the engine is still
 * the one it started on), the joiners answered like the first caller
 * (`res` NULL: with the error), then freed. */
static void flight_end(struct smo__read_flight *f, const smo_status *st,
                       const json_t *res)
{
    struct smo__engine *e = E(f->rt);
    if (e == f->e)
        for (struct smo__read_flight **pp = &e->flights; *pp; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
    const char *tag =
        res ? json_string_value(json_object_get(res, "_etag")) : NULL;
    for (size_t i = 0; i < f->nj; i++) {
        struct joiner *j = &f->j[i];
        if (!res)
            smo__reply_err(j->reply, st->code, "%s", st->msg);
        else if (tag && j->etag && !strcmp(tag, j->etag))
            smo__reply_ok(j->reply, json_pack("{s:b, s:s}", "not_modified", 1,
                                              "_etag", tag));
        else
            smo__reply_ok(j->reply, json_deep_copy(res));
        free(j->etag);
    }
    free(f->j);
    free(f->cache_key);
    free(f);
}

static void on_graphs(void *arg, const smo_status *st, json_t *items)
{
    struct smo__read_flight *f = arg;
    if (st->code) {
        smo__reply_err(f->reply, st->code, "%s", st->msg);
        flight_end(f, st, NULL);
    } else {
        json_t *out = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            json_t *g = json_object_get(it, "doc");
            const char *opid =
                json_string_value(json_object_get(g, "operation"));
            struct smo__op *o = opid ? smo__op_find(E(f->rt), opid) : NULL;
            json_array_append_new(
                out, smo__graph_public(o && o->graph ? o->graph : g, NULL));
        }
        json_t *res = json_pack("{s:o}", "graphs", out);
        struct smo__reply *reply = f->reply;
        cache_store(E(f->rt), f->cache_key, f->gen, res);
        flight_end(f, st, res); /* frees f */
        smo__reply_ok(reply, res);
    }
    json_decref(items);
}

static void m_list(struct smo_rt *rt, json_t *params, struct smo__reply *reply)
{
    smo_instance *st = E(rt) ? smo__engine_store(E(rt)) : NULL;
    if (!st) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    const char *project = json_string_value(json_object_get(params, "project"));
    char key[600];
    read_key(rt, key, sizeof key, "list", project, NULL);
    if (cache_answer(E(rt), key, params, reply))
        return;
    struct smo__read_flight *fl = flight_find(E(rt), key);
    if (fl && flight_join(fl, reply, params) == 0)
        return;
    fl = calloc(1, sizeof *fl);
    char *ckey = strdup(key);
    if (!fl || !ckey) {
        free(fl);
        free(ckey);
        smo__reply_err(reply, SMO_ENOMEM, "out of memory");
        return;
    }
    json_t *f = project ? json_pack("{s:s}", "project", project) : NULL;
    fl->rt = rt;
    fl->reply = reply;
    fl->cache_key = ckey;
    fl->gen = E(rt)->graph_gen;
    fl->e = E(rt);
    fl->next = fl->e->flights;
    fl->e->flights = fl;
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.list(st->state, SMO_COLL_GRAPH, f, on_graphs, fl,
                                   &s)) {
        smo__reply_err(reply, s.code, "%s", s.msg);
        flight_end(fl, &s, NULL);
    }
    json_decref(f);
}

static void m_op_get(struct smo_rt *rt, json_t *params,
                     struct smo__reply *reply)
{
    const char *id = json_string_value(json_object_get(params, "id"));
    if (!id) {
        smo__reply_err(reply, SMO_EINVAL, "id: required");
        return;
    }
    if (!E(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "the engine is not running");
        return;
    }
    smo__op_wait(E(rt), id, wait_of(params), reply);
}

static void on_docs(void *arg, const smo_status *st, json_t *items)
{
    struct list_ctx *c = arg;
    if (st->code)
        smo__reply_err(c->reply, st->code, "%s", st->msg);
    else {
        json_t *out = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
            json_array_append(out, json_object_get(it, "doc"));
        smo__reply_ok(c->reply, out);
    }
    json_decref(items);
    free(c);
}

static void list_coll(struct smo_rt *rt, struct smo__reply *reply,
                      uint32_t coll, json_t *filter, const char *wrap)
{
    smo_instance *st = E(rt) ? smo__engine_store(E(rt)) : NULL;
    if (!st) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        json_decref(filter);
        return;
    }
    (void)wrap;
    struct list_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.list(st->state, coll, filter, on_docs, c, &s)) {
        smo__reply_err(reply, s.code, "%s", s.msg);
        free(c);
    }
    json_decref(filter);
}

static void m_op_list(struct smo_rt *rt, json_t *params,
                      struct smo__reply *reply)
{
    json_t *f = json_object();
    if (json_object_get(params, "graph"))
        json_object_set(f, "graph", json_object_get(params, "graph"));
    if (json_is_true(json_object_get(params, "unfinished")))
        json_object_set_new(f, "unfinished", json_true());
    /* Pages in id order: at most `limit`, after the id `start_after`. */
    const char *keys[] = {"limit", "start_after"};
    for (int i = 0; i < 2; i++)
        if (json_object_get(params, keys[i]))
            json_object_set(f, keys[i], json_object_get(params, keys[i]));
    list_coll(rt, reply, SMO_COLL_OPERATION, f, "operations");
}

/* Events: the engine's, from the store (they survive restarts), merged
 * with those plugins reported since start (cluster readiness...), which
 * live in the core's ring only. Oldest first; `limit` keeps the newest. */
struct events_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    char *graph;
    int64_t since;
    size_t limit;
};

static int by_time(const void *a, const void *b)
{
    json_int_t x =
        json_integer_value(json_object_get(*(json_t *const *)a, "time_ms"));
    json_int_t y =
        json_integer_value(json_object_get(*(json_t *const *)b, "time_ms"));
    return (x > y) - (x < y);
}

static void on_events(void *arg, const smo_status *st, json_t *items)
{
    struct events_ctx *c = arg;
    if (st->code) {
        smo__reply_err(c->reply, st->code, "%s", st->msg);
    } else {
        size_t i;
        json_t *it;
        json_t *ring = smo__events_list(c->rt->events, 0, c->graph, 0);
        size_t n = json_array_size(items) + json_array_size(ring), k = 0;
        json_t **all = calloc(n ? n : 1, sizeof *all);
        json_array_foreach(items, i, it) all[k++] = json_object_get(it, "doc");
        json_array_foreach(ring, i, it)
        {
            const char *src = json_string_value(json_object_get(it, "source"));
            if (src && strcmp(src, "engine") &&
                json_integer_value(json_object_get(it, "time_ms")) >= c->since)
                all[k++] = it;
        }
        qsort(all, k, sizeof *all, by_time);
        size_t from = c->limit && k > c->limit ? k - c->limit : 0;
        json_t *out = json_array();
        for (size_t x = from; x < k; x++)
            json_array_append(out, all[x]);
        free(all);
        json_decref(ring);
        smo__reply_ok(c->reply, out);
    }
    json_decref(items);
    free(c->graph);
    free(c);
}

static void m_events(struct smo_rt *rt, json_t *params,
                     struct smo__reply *reply)
{
    smo_instance *st = E(rt) ? smo__engine_store(E(rt)) : NULL;
    if (!st) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    json_t *f = json_object();
    const char *keys[] = {"graph", "since", "after", "limit"};
    for (int i = 0; i < 4; i++)
        if (json_object_get(params, keys[i]))
            json_object_set(f, keys[i], json_object_get(params, keys[i]));
    struct events_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    const char *g = json_string_value(json_object_get(params, "graph"));
    c->graph = g ? strdup(g) : NULL;
    c->since = json_integer_value(json_object_get(params, "since"));
    c->limit = (size_t)json_integer_value(json_object_get(params, "limit"));
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.list(st->state, SMO_COLL_EVENT, f, on_events, c,
                                   &s)) {
        smo__reply_err(reply, s.code, "%s", s.msg);
        free(c->graph);
        free(c);
    }
    json_decref(f);
}

/* ---------------------------------------------------------- sync -- */

struct sync_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply; /* NULL for the start-up sync */
    json_t *inventory;
    bool fallback; /* cluster.list: serve the stored list on failure */
};

static void sync_ok(struct sync_ctx *c, json_t *result)
{
    if (c->reply)
        smo__reply_ok(c->reply, result);
    else {
        smo__log(6, "engine", "cluster inventory: %zu cluster%s",
                 json_array_size(result),
                 json_array_size(result) == 1 ? "" : "s");
        json_decref(result);
    }
}

static void sync_err(struct sync_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sync_err(struct sync_ctx *c, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->reply && c->fallback) {
        /* The executor is unreachable: the last stored view, flagged. */
        smo__log(4, "engine", "cluster inventory: %s; serving the stored list",
                 msg);
        list_coll(c->rt, c->reply, SMO_COLL_CLUSTER, NULL, "clusters");
    } else if (c->reply)
        smo__reply_err(c->reply, code, "%s", msg);
    else
        smo__log(4, "engine", "cluster inventory not refreshed: %s", msg);
}

static void on_synced(void *arg, const smo_status *st, const int64_t *revs,
                      size_t n)
{
    (void)revs;
    (void)n;
    struct sync_ctx *c = arg;
    if (st->code)
        sync_err(c, st->code, "%s", st->msg);
    else
        sync_ok(c, json_incref(c->inventory));
    json_decref(c->inventory);
    free(c);
}

static void sync_known(void *arg, const smo_status *st, json_t *items)
{
    struct sync_ctx *c = arg;
    smo_instance *store = smo__engine_store(E(c->rt));
    if (st->code || !store) {
        sync_err(c, st->code ? st->code : SMO_EUNAVAIL, "%s",
                 st->code ? st->msg : "no store");
        json_decref(items);
        json_decref(c->inventory);
        free(c);
        return;
    }
    /* Present clusters are refreshed; vanished ones are marked gone. */
    size_t n = json_array_size(c->inventory) + json_array_size(items);
    struct smo_store_write *w = calloc(n ? n : 1, sizeof *w);
    json_t *keep = json_array();
    size_t k = 0, i;
    json_t *cl;
    int64_t now = smo__now_ms();
    json_array_foreach(c->inventory, i, cl)
    {
        json_t *doc = json_deep_copy(cl);
        json_object_set_new(doc, "seen_ms", json_integer(now));
        json_object_set_new(doc, "gone", json_false());
        json_array_append_new(keep, doc);
        w[k++] = (struct smo_store_write){
            SMO_COLL_CLUSTER, json_string_value(json_object_get(cl, "name")),
            doc, SMO_REV_ANY};
    }
    json_array_foreach(items, i, cl)
    {
        const char *key = json_string_value(json_object_get(cl, "key"));
        bool present = false;
        size_t x;
        json_t *v;
        json_array_foreach(c->inventory, x, v) present =
            present ||
            !strcmp(json_string_value(json_object_get(v, "name")), key);
        if (present)
            continue;
        json_t *doc = json_deep_copy(json_object_get(cl, "doc"));
        if (json_is_true(json_object_get(doc, "gone"))) {
            json_decref(doc);
            continue;
        }
        json_object_set_new(doc, "gone", json_true());
        json_object_set_new(doc, "ready", json_false());
        json_array_append_new(keep, doc);
        w[k++] =
            (struct smo_store_write){SMO_COLL_CLUSTER, key, doc, SMO_REV_ANY};
    }
    smo_status s;
    smo_status_clear(&s);
    if (!k) {
        sync_ok(c, json_incref(c->inventory));
        json_decref(c->inventory);
        free(c);
    } else if (store->plugin->ops.store.commit(store->state, w, k, on_synced, c,
                                               &s)) {
        sync_err(c, s.code, "%s", s.msg);
        json_decref(c->inventory);
        free(c);
    }
    /* The writes borrow their keys from `items` until the store copied
     * them in commit(). */
    json_decref(items);
    json_decref(keep);
    free(w);
}

static void on_sync_inventory(void *arg, const smo_status *st, json_t *inv)
{
    struct sync_ctx *c = arg;
    smo_instance *store = smo__engine_store(E(c->rt));
    if (st->code || !json_is_array(inv) || !store) {
        sync_err(c, st->code ? st->code : SMO_EPROTO, "%s",
                 st->code ? st->msg : "bad inventory");
        json_decref(inv);
        free(c);
        return;
    }
    c->inventory = inv;
    smo_status s;
    smo_status_clear(&s);
    if (store->plugin->ops.store.list(store->state, SMO_COLL_CLUSTER, NULL,
                                      sync_known, c, &s)) {
        sync_err(c, s.code, "%s", s.msg);
        json_decref(inv);
        free(c);
    }
}

static void cluster_sync(struct smo_rt *rt, struct smo__reply *reply,
                         bool fallback)
{
    smo_instance *ex = E(rt) ? smo__engine_executor(E(rt)) : NULL;
    struct sync_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    c->fallback = fallback;
    smo_status s;
    smo_status_clear(&s);
    if (!ex)
        sync_err(c, SMO_EUNAVAIL, "no executor is configured");
    else if (!ex->plugin->ops.executor.inventory(ex->state, on_sync_inventory,
                                                 c, &s))
        return;
    else
        sync_err(c, s.code, "%s", s.msg);
    free(c);
}

static void m_cluster_sync(struct smo_rt *rt, json_t *params,
                           struct smo__reply *reply)
{
    (void)params;
    cluster_sync(rt, reply, false);
}

/* A live inventory, stored as it is read, so the list shows what the
 * clusters hold now (the original served its start-up snapshot). */
static void m_clusters(struct smo_rt *rt, json_t *params,
                       struct smo__reply *reply)
{
    (void)params;
    cluster_sync(rt, reply, true);
}

void smo__engine_sync_clusters(struct smo_rt *rt)
{
    cluster_sync(rt, NULL, false);
}

/* -------------------------------------------------------- alerts -- */

struct alert_ctx {
    struct smo_rt *rt;
    json_t *alert;
};

static void alert_graph(struct smo_rt *rt, json_t *params,
                        struct smo__reply *reply, json_t *g, int64_t rev)
{
    const char *svc = json_string_value(json_object_get(params, "service"));
    json_t *s = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(g, "services"), i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "name")), svc))
            s = x;
    }
    const char *status =
        s ? json_string_value(json_object_get(s, "status")) : NULL;
    const char *gstatus = json_string_value(json_object_get(g, "status"));
    if (!s) {
        smo__reply_ok(reply, json_pack("{s:s, s:s}", "result", "ignored",
                                       "reason", "no such service"));
        json_decref(g);
    } else if (strcmp(status, "Pending") || strcmp(gstatus, "Running") ||
               json_object_get(g, "operation")) {
        /* Already deployed or deploying, or the graph is not running:
         * repeated notifications change nothing. */
        smo__reply_ok(reply, json_pack("{s:s, s:s, s:s}", "result", "unchanged",
                                       "service_status", status, "graph_status",
                                       gstatus));
        json_decref(g);
    } else {
        json_object_set_new(s, "status", json_string("Deploying"));
        start_op(rt, reply, "alert", g, rev, json_pack("{s:s}", "service", svc),
                 wait_of(params), svc);
    }
}

/* A resolved alert: recorded; with the service's undeployOnResolved, a
 * Deployed service of a Running graph is uninstalled and waits again for
 * its alert (Pending). Anything else changes nothing. */
static void alert_resolved_graph(struct smo_rt *rt, json_t *params,
                                 struct smo__reply *reply, json_t *g,
                                 int64_t rev)
{
    const char *svc = json_string_value(json_object_get(params, "service"));
    json_t *s = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(g, "services"), i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "name")), svc))
            s = x;
    }
    const char *status =
        s ? json_string_value(json_object_get(s, "status")) : NULL;
    const char *gstatus = json_string_value(json_object_get(g, "status"));
    if (!s || !json_is_true(json_object_get(s, "undeploy_on_resolved"))) {
        smo__reply_ok(reply, json_pack("{s:s, s:s}", "result", "recorded",
                                       "reason", "not firing"));
        json_decref(g);
    } else if (strcmp(status, "Deployed") || strcmp(gstatus, "Running") ||
               json_object_get(g, "operation")) {
        smo__reply_ok(reply, json_pack("{s:s, s:s, s:s}", "result", "unchanged",
                                       "service_status", status, "graph_status",
                                       gstatus));
        json_decref(g);
    } else {
        json_object_set_new(s, "status", json_string("Undeploying"));
        start_op(rt, reply, "alert_resolved", g, rev,
                 json_pack("{s:s}", "service", svc), wait_of(params), svc);
    }
}

/* An alert with only a service label (the original's rules carried no
 * more): the one running graph holding that service Pending gets it; when
 * several do, nothing is guessed. */
struct scan_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    char *svc;
    json_t *wait_ms;
};

static void on_scanned(void *arg, const smo_status *st, json_t *items)
{
    struct scan_ctx *c = arg;
    json_t *hit = NULL;
    size_t n = 0, i, j;
    json_t *it, *x;
    json_array_foreach(items, i, it)
    {
        json_t *g = json_object_get(it, "doc");
        json_array_foreach(json_object_get(g, "services"), j, x)
        {
            const char *name = json_string_value(json_object_get(x, "name"));
            const char *sst = json_string_value(json_object_get(x, "status"));
            if (name && sst && !strcmp(name, c->svc) &&
                !strcmp(sst, "Pending")) {
                hit = it;
                n++;
            }
        }
    }
    if (st->code)
        smo__reply_err(c->reply, st->code, "%s", st->msg);
    else if (n == 1) {
        json_t *g = json_object_get(hit, "doc");
        json_t *p = json_pack("{s:s, s:s, s:s, s:O?}", "name",
                              json_string_value(json_object_get(g, "name")),
                              "service", c->svc, "project",
                              json_string_value(json_object_get(g, "project")),
                              "wait_ms", c->wait_ms);
        alert_graph(c->rt, p, c->reply, json_incref(g),
                    json_integer_value(json_object_get(hit, "rev")));
        json_decref(p);
    } else
        smo__reply_ok(c->reply,
                      json_pack("{s:s, s:s}", "result", "ignored", "reason",
                                n ? "several graphs have this service "
                                    "pending: add graph and project labels"
                                  : "no graph has this service pending"));
    json_decref(items);
    json_decref(c->wait_ms);
    free(c->svc);
    free(c);
}

static void scan_pending(struct smo_rt *rt, struct smo__reply *reply,
                         const char *svc, json_t *wait_ms)
{
    smo_instance *st = smo__engine_store(E(rt));
    if (!st) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    struct scan_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    c->svc = strdup(svc);
    c->wait_ms = json_incref(wait_ms);
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.list(st->state, SMO_COLL_GRAPH, NULL, on_scanned,
                                   c, &s)) {
        smo__reply_err(reply, s.code, "%s", s.msg);
        json_decref(c->wait_ms);
        free(c->svc);
        free(c);
    }
}

static void m_alerts(struct smo_rt *rt, json_t *params,
                     struct smo__reply *reply)
{
    if (!E(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "the engine is not running");
        return;
    }
    const json_t *alerts = json_object_get(params, "alerts");
    if (!json_is_array(alerts)) {
        smo__reply_err(reply, SMO_EINVAL,
                       "expected an Alertmanager webhook body with an "
                       "alerts list");
        return;
    }
    /* One firing alert per call does the deploy; the caller (the API)
     * splits the payload and reports per alert. */
    const json_t *a = json_array_get(alerts, 0);
    const json_t *labels = json_object_get(a, "labels");
    const char *status = json_string_value(json_object_get(a, "status"));
    const char *svc = json_string_value(json_object_get(labels, "service"));
    const char *graph = json_string_value(json_object_get(labels, "graph"));
    const char *project = json_string_value(json_object_get(labels, "project"));
    if (!svc) {
        smo__reply_ok(reply, json_pack("{s:s, s:s}", "result", "ignored",
                                       "reason", "no service label"));
        return;
    }
    if (!status || strcmp(status, "firing")) {
        smo__engine_event(
            E(rt), "alert.resolved", NULL,
            json_pack("{s:s, s:s?}", "service", svc, "graph", graph));
        if (status && !strcmp(status, "resolved") && graph) {
            /* The graph decides whether resolving undeploys. */
            json_t *p = json_pack("{s:s, s:s, s:s?, s:O?}", "name", graph,
                                  "service", svc, "project", project, "wait_ms",
                                  json_object_get(params, "wait_ms"));
            find_graph(rt, p, reply, alert_resolved_graph);
            json_decref(p);
            return;
        }
        smo__reply_ok(reply, json_pack("{s:s, s:s}", "result", "recorded",
                                       "reason", "not firing"));
        return;
    }
    if (!graph) {
        scan_pending(rt, reply, svc, json_object_get(params, "wait_ms"));
        return;
    }
    json_t *p = json_pack("{s:s, s:s, s:s?, s:O?}", "name", graph, "service",
                          svc, "project", project, "wait_ms",
                          json_object_get(params, "wait_ms"));
    find_graph(rt, p, reply, alert_graph);
    json_decref(p);
}

/* ---------------------------------------------------------- plan -- */

struct plan_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    struct smo__hdag *h;
    char *artifact;
};

static void plan_ctx_free(struct plan_ctx *c)
{
    smo__hdag_free(c->h);
    free(c->artifact);
    free(c);
}

static void on_planned(void *arg, const smo_status *st, json_t *placement,
                       json_t *detail)
{
    struct plan_ctx *c = arg;
    json_t *out = json_pack("{s:s, s:o, s:o}", "graph", c->h->id, "placement",
                            placement ? placement : json_object(), "detail",
                            detail ? detail : json_object());
    json_object_set_new(out, "feasible", json_boolean(st->code == 0));
    if (st->code)
        json_object_set_new(out, "reason", json_string(st->msg));
    json_object_set_new(
        out, "values",
        smo__values_for(c->h, json_object_get(out, "placement")));
    smo__reply_ok(c->reply, out);
    plan_ctx_free(c);
}

static void plan_inventory(void *arg, const smo_status *st, json_t *inv)
{
    struct plan_ctx *c = arg;
    if (st->code) {
        smo__reply_err(c->reply, st->code, "inventory: %s", st->msg);
        json_decref(inv);
        plan_ctx_free(c);
        return;
    }
    smo_status s;
    smo_status_clear(&s);
    if (smo__place_graph(E(c->rt), c->h, inv, NULL, NULL, NULL, NULL,
                         on_planned, c, &s)) {
        smo__reply_err(c->reply, s.code, "%s", s.msg);
        plan_ctx_free(c);
    }
    json_decref(inv);
}

static void plan_model(struct plan_ctx *c)
{
    smo_instance *ex = smo__engine_executor(E(c->rt));
    if (!ex) {
        smo__reply_err(c->reply, SMO_EUNAVAIL, "no executor is configured");
        plan_ctx_free(c);
        return;
    }
    smo_status s;
    smo_status_clear(&s);
    if (ex->plugin->ops.executor.inventory(ex->state, plan_inventory, c, &s)) {
        smo__reply_err(c->reply, s.code, "%s", s.msg);
        plan_ctx_free(c);
    }
}

static void plan_artifact(void *arg, const smo_status *st, const char *text,
                          size_t len)
{
    struct plan_ctx *c = arg;
    if (st->code) {
        smo__reply_err(c->reply, SMO_EINVAL, "artifact %s: %s", c->artifact,
                       st->msg);
        plan_ctx_free(c);
        return;
    }
    if (load_descriptor(c->rt, text, len, NULL, c->artifact, &c->h, c->reply)) {
        plan_ctx_free(c);
        return;
    }
    plan_model(c);
}

static void m_plan(struct smo_rt *rt, json_t *params, struct smo__reply *reply)
{
    if (!E(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "the engine is not running");
        return;
    }
    struct plan_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    const char *artifact =
        json_string_value(json_object_get(params, "artifact"));
    const char *text = json_string_value(json_object_get(params, "text"));
    const json_t *desc = json_object_get(params, "descriptor");
    if (artifact) {
        c->artifact = strdup(artifact);
        smo_status st;
        smo_status_clear(&st);
        if (smo__resolve_descriptor(rt, artifact, plan_artifact, c, &st)) {
            smo__reply_err(reply, SMO_EINVAL, "artifact %s: %s", artifact,
                           st.msg);
            plan_ctx_free(c);
        }
        return;
    }
    if ((!desc && !text) || load_descriptor(rt, text, text ? strlen(text) : 0,
                                            desc, "descriptor", &c->h, reply)) {
        if (!desc && !text)
            smo__reply_err(reply, SMO_EINVAL,
                           "the body must hold a "
                           "descriptor");
        plan_ctx_free(c);
        return;
    }
    plan_model(c);
}

void smo__provision_methods_register(struct smo_rt *rt); /* smo_provision.c */

void smo__engine_methods_register(struct smo_rt *rt)
{
    smo__provision_methods_register(rt);
    smo__method_register(rt, "graph.deploy", m_deploy);
    smo__method_register(rt, "graph.list", m_list);
    smo__method_register(rt, "graph.get", m_get);
    smo__method_register(rt, "graph.start", m_start);
    smo__method_register(rt, "graph.stop", m_stop);
    smo__method_register(rt, "graph.place", m_place);
    smo__method_register(rt, "graph.remove", m_remove);
    smo__scale_methods_register(rt);
    smo__method_register(rt, "graph.plan", m_plan);
    smo__method_register(rt, "operation.get", m_op_get);
    smo__method_register(rt, "operation.list", m_op_list);
    smo__method_register(rt, "cluster.list", m_clusters);
    smo__method_register(rt, "cluster.sync", m_cluster_sync);
    smo__method_register(rt, "alerts.receive", m_alerts);
    smo__method_register(rt, "events.list", m_events);
}
