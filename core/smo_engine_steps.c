/* The steps of lifecycle operations. Each one is idempotent: running it
 * again after a crash converges (installs are upgrades, uninstalling what
 * is not installed succeeds, placement is recomputed). A step finishes
 * with smo__step_done(); the runner records it atomically with the graph
 * document the step changed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_engine_int.h"
#include "smo_log.h"

/* How long a recorded cluster snapshot stays good enough (see on_inventory). */
#define CLUSTER_RECORD_MS 5000

/* ----------------------------------------------------------- helpers -- */

static json_t *service_doc(struct smo__op *o, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o->graph, "services"), i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "name")), name))
            return s;
    }
    return NULL;
}

static const char *arg_of(const json_t *step)
{
    const char *name = json_string_value(json_object_get(step, "name"));
    const char *colon = strchr(name, ':');
    return colon ? colon + 1 : NULL;
}

static const char *project_of(struct smo__op *o)
{
    return json_string_value(json_object_get(o->graph, "project"));
}

static const char *graph_name(struct smo__op *o)
{
    return json_string_value(json_object_get(o->graph, "name"));
}

/* The model of the graph's descriptor, translated (built once per run). */
static int ensure_model(struct smo__op *o, smo_status *st)
{
    if (o->model)
        return 0;
    struct smo__hdag_report rep;
    smo__hdag_report_init(&rep);
    struct smo__hdag_opts opts = {0};
    int r = smo__hdag_from_json(json_object_get(o->graph, "descriptor"), &opts,
                                &o->model, &rep);
    if (!r) {
        struct smo__translator_ref tr[16];
        size_t n = 0;
        for (smo_instance *i = smo__rt_first(o->e->rt, SMO_KIND_TRANSLATOR);
             i && n < 16; i = smo__rt_next(i, SMO_KIND_TRANSLATOR)) {
            tr[n].ops = &i->plugin->ops.translator;
            tr[n].state = i->state;
            tr[n].name = i->name;
            n++;
        }
        r = n ? smo__hdag_translate(o->model, tr, n, &rep)
              : smo_status_set(st, SMO_EUNAVAIL, "no translator configured");
    }
    if (r && json_array_size(rep.errors)) {
        char *t = smo__hdag_report_text(&rep, false, NULL);
        size_t l = strlen(t);
        if (l && t[l - 1] == '\n')
            t[l - 1] = '\0';
        smo_status_set(st, SMO_EINVAL,
                       "the stored descriptor no longer "
                       "validates: %s",
                       t);
        free(t);
    }
    smo__hdag_report_free(&rep);
    if (r) {
        smo__hdag_free(o->model);
        o->model = NULL;
        return st->code ? st->code : r;
    }
    return 0;
}

static const struct smo__hdag_service *model_service(struct smo__op *o,
                                                     const char *id)
{
    for (size_t i = 0; o->model && i < o->model->n_services; i++)
        if (!strcmp(o->model->services[i].id, id))
            return &o->model->services[i];
    return NULL;
}

/* ------------------------------------------------------------ prepare -- */

/* Resources as translated now go into the service records. */
static void step_prepare(struct smo__op *o, json_t *step)
{
    (void)step;
    smo_status st;
    smo_status_clear(&st);
    if (ensure_model(o, &st)) {
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        return;
    }
    for (size_t i = 0; i < o->model->n_services; i++) {
        const struct smo__hdag_service *m = &o->model->services[i];
        json_t *s = service_doc(o, m->id);
        if (!s)
            continue;
        json_object_set_new(s, "cpu", json_real(m->res.cpu));
        json_object_set_new(s, "memory",
                            json_integer((json_int_t)m->res.memory));
        json_object_set_new(s, "storage",
                            json_integer((json_int_t)m->res.storage));
        json_object_set_new(s, "gpu", json_integer(m->res.gpu));
        json_object_set_new(s, "replicas", json_integer(m->replicas));
    }
    smo__step_done(o, o->token, 0, NULL, NULL);
}

/* ---------------------------------------------------------- inventory -- */

struct exec_ctx {
    struct smo__op *o;
    uint64_t token;
    char *service;
    bool counts_own;
};

static void on_inventory(void *arg, const smo_status *st, json_t *result)
{
    struct exec_ctx *c = arg;
    struct smo__op *o = c->o;
    uint64_t token = c->token;
    free(c);
    if (st->code) {
        json_decref(result);
        smo__step_done(o, token, st->code, st->msg, NULL);
        return;
    }
    if (!json_is_array(result)) {
        json_decref(result);
        smo__step_done(o, token, SMO_EPROTO,
                       "the executor's inventory is not a list", NULL);
        return;
    }
    json_decref(o->inventory);
    o->inventory = result;
    /* The cluster snapshot is recorded with the step. */
    if (!o->pending_writes)
        o->pending_writes = json_array();
    size_t i, ready = 0;
    json_t *cl;
    int64_t now = smo__now_ms();
    json_array_foreach(result, i, cl)
    {
        const char *name = json_string_value(json_object_get(cl, "name"));
        if (!name)
            continue;
        bool is_ready = json_is_true(json_object_get(cl, "ready"));
        ready += is_ready;
        /* The store's copy serves GET /clusters while the executor is
         * down: a few seconds stale is fine, three writes per deploy are
         * not (a tenth of a deploy's store work). */
        json_t *rec = json_object_get(o->e->cluster_recorded, name);
        if (rec &&
            now - json_integer_value(json_array_get(rec, 0)) <
                CLUSTER_RECORD_MS &&
            json_is_true(json_array_get(rec, 1)) == is_ready)
            continue;
        json_object_set_new(o->e->cluster_recorded, name,
                            json_pack("[I, b]", (json_int_t)now, is_ready));
        json_t *doc = json_deep_copy(cl);
        json_object_set_new(doc, "seen_ms", json_integer(now));
        json_array_append_new(
            o->pending_writes,
            json_pack("[i, s, o]", SMO_COLL_CLUSTER, name, doc));
    }
    smo__step_done(o, token, 0, NULL,
                   json_pack("{s:I, s:I}", "clusters",
                             (json_int_t)json_array_size(result), "ready",
                             (json_int_t)ready));
}

static void step_inventory(struct smo__op *o, json_t *step)
{
    (void)step;
    smo_instance *ex = smo__engine_executor(o->e);
    if (!ex) {
        smo__step_done(o, o->token, SMO_EUNAVAIL,
                       "no executor instance is configured", NULL);
        return;
    }
    struct exec_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    smo_status st;
    smo_status_clear(&st);
    if (ex->plugin->ops.executor.inventory(ex->state, on_inventory, c, &st)) {
        free(c);
        smo__step_done(o, o->token, st.code, st.msg, NULL);
    }
}

/* -------------------------------------------------------------- place -- */

static void place_next(struct smo__engine *e);

struct place_ctx {
    struct smo__op *o;
    uint64_t token;
    char *only;
};

static void on_placed(void *arg, const smo_status *st, json_t *placement,
                      json_t *detail)
{
    struct place_ctx *c = arg;
    struct smo__op *o = c->o;
    struct smo__engine *e = o->e;
    if (!st->code && placement) {
        /* Keep what is not placed now (single-service placement). */
        json_t *pm = json_object_get(o->graph, "placement");
        if (!json_is_object(pm)) {
            pm = json_object();
            json_object_set_new(o->graph, "placement", pm);
        }
        const char *k;
        json_t *v;
        json_object_foreach(placement, k, v)
        {
            if (c->only && strcmp(c->only, k))
                continue;
            json_object_set(pm, k, v);
            json_t *s = service_doc(o, k);
            if (s)
                json_object_set(s, "cluster", v);
            /* Capacity stays reserved until the release is accounted. */
            const struct smo__hdag_service *m = model_service(o, k);
            const char *status =
                json_string_value(json_object_get(s, "status"));
            if (m && status && strcmp(status, "Pending") &&
                strcmp(status, "Deployed"))
                smo__reserve(e, o->id, k, json_string_value(v),
                             m->res.cpu * m->replicas,
                             (double)m->res.memory * m->replicas,
                             (double)m->res.gpu * m->replicas);
        }
    }
    json_decref(placement);
    if (st->code == SMO_EINFEASIBLE && c->token == o->token &&
        smo__provision_on_shortage(o, st->msg)) {
        char note[600];
        snprintf(note, sizeof note, "no placement (%s): provisioning a cluster",
                 st->msg);
        smo__step_done(o, c->token, 0, note, detail);
    } else
        smo__step_done(o, c->token, st->code, st->msg, detail);
    free(c->only);
    free(c);
    e->placing = false;
    place_next(e);
}

static void place_start(struct smo__op *o)
{
    struct smo__engine *e = o->e;
    json_t *step = json_array_get(json_object_get(o->doc, "steps"), o->step);
    const char *only = arg_of(step);
    smo_status st;
    smo_status_clear(&st);
    if (ensure_model(o, &st)) {
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        e->placing = false;
        place_next(e);
        return;
    }
    json_t *current = json_object(), *deployed = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o->graph, "services"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        json_t *cl = json_object_get(s, "cluster");
        if (json_is_string(cl))
            json_object_set(current, name, cl);
        if (!strcmp(json_string_value(json_object_get(s, "status")),
                    "Deployed"))
            json_object_set_new(deployed, name, json_true());
    }
    struct place_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    c->only = only ? strdup(only) : NULL;
    int r = smo__place_graph(e, o->model, o->inventory, current, deployed, only,
                             o->id, on_placed, c, &st);
    json_decref(current);
    json_decref(deployed);
    if (r) {
        free(c->only);
        free(c);
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        e->placing = false;
        place_next(e);
    }
}

/* One placement at a time: each sees the reservations of the previous. */
static void place_next(struct smo__engine *e)
{
    while (!e->placing && e->place_queue_n && !e->stopping) {
        struct smo__op *o = e->place_queue[0];
        memmove(e->place_queue, e->place_queue + 1,
                --e->place_queue_n * sizeof e->place_queue[0]);
        e->placing = true;
        place_start(o);
    }
}

static void step_place(struct smo__op *o, json_t *step)
{
    (void)step;
    struct smo__engine *e = o->e;
    smo_status st;
    smo_status_clear(&st);
    if (ensure_model(o, &st)) {
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        return;
    }
    if (o->model->static_placement) {
        smo__step_done(o, o->token, SMO_SKIP,
                       "static placement: the charts decide", NULL);
        return;
    }
    if (!o->inventory) {
        smo__step_done(o, o->token, SMO_EINVAL,
                       "no inventory (the inventory step did not run)", NULL);
        return;
    }
    if (e->place_queue_n == sizeof e->place_queue / sizeof e->place_queue[0]) {
        smo__step_done(o, o->token, SMO_EBUSY,
                       "too many placements waiting; try again", NULL);
        return;
    }
    e->place_queue[e->place_queue_n++] = o;
    place_next(e);
}

/* ------------------------------------------------------------- values -- */

static void step_values(struct smo__op *o, json_t *step)
{
    (void)step;
    smo_status st;
    smo_status_clear(&st);
    if (ensure_model(o, &st)) {
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        return;
    }
    json_t *values =
        smo__values_for(o->model, json_object_get(o->graph, "placement"));
    const char *k;
    json_t *v;
    json_object_foreach(values, k, v)
    {
        json_t *s = service_doc(o, k);
        if (s)
            json_object_set(s, "values", v);
    }
    json_decref(values);
    smo__step_done(o, o->token, 0, NULL, NULL);
}

/* ---------------------------------------------------- install/upgrade -- */

static void on_installed(void *arg, const smo_status *st, json_t *result)
{
    struct exec_ctx *c = arg;
    struct smo__op *o = c->o;
    if (c->token == o->token && o->busy) {
        json_t *s = service_doc(o, c->service);
        if (s) {
            json_object_set_new(s, "status",
                                json_string(st->code ? "Failed" : "Deployed"));
            if (st->code)
                json_object_set_new(s, "error", json_string(st->msg));
            else
                json_object_del(s, "error");
        }
        if (!st->code) {
            smo__reservation_settle(o->e, o->id, c->service, c->counts_own);
            smo__op_event(o, "service.deployed",
                          json_pack("{s:s, s:O?}", "service", c->service,
                                    "cluster",
                                    s ? json_object_get(s, "cluster") : NULL));
        }
    }
    smo__step_done(o, c->token, st->code, st->msg, result);
    free(c->service);
    free(c);
}

static bool counts_own(struct smo__op *o, const char *cluster)
{
    size_t i;
    json_t *c;
    json_array_foreach(o->inventory, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && cluster && !strcmp(n, cluster))
            return json_is_true(json_object_get(c, "counts_own_releases"));
    }
    return false;
}

static void install_service(struct smo__op *o, const char *svc, bool upgrade)
{
    smo_status st;
    smo_status_clear(&st);
    if (ensure_model(o, &st)) {
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        return;
    }
    json_t *s = service_doc(o, svc);
    const struct smo__hdag_service *m = model_service(o, svc);
    if (!s || !m) {
        smo__step_done(o, o->token, SMO_ENOENT, "no such service", NULL);
        return;
    }
    const char *cluster = json_string_value(json_object_get(s, "cluster"));
    if (upgrade) {
        /* Re-placement: only releases whose cluster changed move. */
        const char *installed_on =
            json_string_value(json_object_get(s, "installed_cluster"));
        if (installed_on && cluster && !strcmp(installed_on, cluster)) {
            smo__step_done(o, o->token, SMO_SKIP, "cluster unchanged", NULL);
            return;
        }
    }
    smo_instance *ex = smo__engine_executor(o->e);
    if (!ex) {
        smo__step_done(o, o->token, SMO_EUNAVAIL,
                       "no executor instance is configured", NULL);
        return;
    }
    struct smo_release rel;
    memset(&rel, 0, sizeof rel);
    rel.size = sizeof rel;
    rel.project = project_of(o);
    rel.graph = graph_name(o);
    rel.name = svc;
    rel.chart = m->oci_image;
    rel.values = json_object_get(s, "values");
    if (!rel.values)
        rel.values = m->values;
    rel.cluster = o->model->static_placement ? NULL : cluster;
    rel.operation = o->id;
    rel.cpu = m->res.cpu;
    rel.memory = m->res.memory;
    rel.gpu = m->res.gpu;
    rel.replicas = m->replicas;
    struct exec_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    c->service = strdup(svc);
    c->counts_own = counts_own(o, cluster);
    json_object_set_new(s, "status", json_string("Deploying"));
    if (cluster)
        json_object_set_new(s, "installed_cluster", json_string(cluster));
    if (ex->plugin->ops.executor.install(ex->state, &rel, on_installed, c,
                                         &st)) {
        free(c->service);
        free(c);
        json_object_set_new(s, "status", json_string("Failed"));
        json_object_set_new(s, "error", json_string(st.msg));
        smo__step_done(o, o->token, st.code, st.msg, NULL);
    }
}

static void step_install(struct smo__op *o, json_t *step)
{
    install_service(o, arg_of(step), false);
}

static void step_upgrade(struct smo__op *o, json_t *step)
{
    install_service(o, arg_of(step), true);
}

/* ---------------------------------------------------------- uninstall -- */

static void on_uninstalled(void *arg, const smo_status *st, json_t *result)
{
    struct exec_ctx *c = arg;
    struct smo__op *o = c->o;
    if (!st->code && c->token == o->token && o->graph) {
        json_t *s = service_doc(o, c->service);
        if (s) {
            json_object_set_new(s, "status", json_string("Not deployed"));
            json_object_del(s, "installed_cluster");
        }
    }
    smo__step_done(o, c->token, st->code, st->msg, result);
    free(c->service);
    free(c);
}

static void step_uninstall(struct smo__op *o, json_t *step)
{
    const char *svc = arg_of(step);
    smo_instance *ex = smo__engine_executor(o->e);
    if (!ex) {
        smo__step_done(o, o->token, SMO_EUNAVAIL,
                       "no executor instance is configured", NULL);
        return;
    }
    const char *project =
        o->graph ? project_of(o)
                 : json_string_value(json_object_get(
                       json_object_get(o->doc, "params"), "project"));
    struct exec_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    c->service = strdup(svc);
    smo_status st;
    smo_status_clear(&st);
    if (ex->plugin->ops.executor.uninstall(ex->state, project, svc,
                                           on_uninstalled, c, &st)) {
        free(c->service);
        free(c);
        smo__step_done(o, o->token, st.code, st.msg, NULL);
    }
}

/* -------------------------------------------------------------- rules -- */

static smo_instance *rules_monitor(struct smo__engine *e)
{
    for (smo_instance *i = smo__rt_first(e->rt, SMO_KIND_MONITOR); i;
         i = smo__rt_next(i, SMO_KIND_MONITOR))
        if (i->plugin->ops.monitor.rules_set)
            return i;
    return NULL;
}

static void on_rules(void *arg, const smo_status *st, json_t *result)
{
    struct exec_ctx *c = arg;
    smo__step_done(c->o, c->token, st->code, st->msg, result);
    free(c);
}

/* Alert rules of the event-triggered services: one per event, named
 * <graph>-<service>-<event>, labelled with graph, project and service. */
static json_t *rules_of(struct smo__op *o)
{
    json_t *rules = json_array();
    for (size_t i = 0; o->model && i < o->model->n_services; i++) {
        const struct smo__hdag_service *s = &o->model->services[i];
        for (size_t k = 0; k < s->n_events; k++) {
            const struct smo__hdag_event *ev = &s->events[k];
            char name[256];
            snprintf(name, sizeof name, "%s-%s-%s", graph_name(o), s->id,
                     ev->id);
            json_array_append_new(
                rules,
                json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, "
                          "s:{s:s, s:s}}",
                          "name", name, "expr", ev->prom_query, "for",
                          ev->grace, "labels", "graph", graph_name(o),
                          "project", project_of(o), "service", s->id, "event",
                          ev->id, "condition", s->trigger_all ? "AND" : "ANY",
                          "annotations", "description",
                          ev->description ? ev->description : "", "summary",
                          ev->description ? ev->description : name));
        }
    }
    return rules;
}

static void rules_apply(struct smo__op *o, json_t *rules)
{
    smo_instance *m = rules_monitor(o->e);
    if (!m) {
        bool any = json_array_size(rules) > 0;
        json_decref(rules);
        smo__step_done(o, o->token, SMO_SKIP,
                       any ? "no monitor with alert rules is configured: "
                             "event-triggered services wait for an alert "
                             "sent to POST /alerts"
                           : "no alert rules",
                       NULL);
        return;
    }
    struct exec_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    smo_status st;
    smo_status_clear(&st);
    const char *project =
        o->graph ? project_of(o)
                 : json_string_value(json_object_get(
                       json_object_get(o->doc, "params"), "project"));
    const char *graph = o->graph
                            ? graph_name(o)
                            : json_string_value(json_object_get(
                                  json_object_get(o->doc, "params"), "name"));
    int r = m->plugin->ops.monitor.rules_set(m->state, project, graph, rules,
                                             on_rules, c, &st);
    json_decref(rules);
    if (r) {
        free(c);
        smo__step_done(o, o->token, st.code, st.msg, NULL);
    }
}

static void step_rules(struct smo__op *o, json_t *step)
{
    (void)step;
    smo_status st;
    smo_status_clear(&st);
    if (ensure_model(o, &st)) {
        smo__step_done(o, o->token, st.code, st.msg, NULL);
        return;
    }
    rules_apply(o, rules_of(o));
}

static void step_rules_remove(struct smo__op *o, json_t *step)
{
    (void)step;
    rules_apply(o, json_array());
}

/* ------------------------------------------------------------- finish -- */

static void step_finish(struct smo__op *o, json_t *step)
{
    (void)step;
    const char *action = json_string_value(json_object_get(o->doc, "action"));
    const char *status = "Running";
    if (!strcmp(action, "stop"))
        status = "Stopped";
    else if (!strcmp(action, "place"))
        status = json_string_value(json_object_get(
            json_object_get(o->doc, "params"), "previous_status"));
    if (!status || !strcmp(status, "Failed"))
        status = "Running";
    json_object_set_new(o->graph, "status", json_string(status));
    json_object_del(o->graph, "last_error");
    json_object_del(o->graph, "installed");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o->graph, "services"), i, s)
    {
        const char *st = json_string_value(json_object_get(s, "status"));
        bool event =
            !strcmp(json_string_value(json_object_get(s, "trigger")), "event");
        if (!strcmp(status, "Stopped"))
            json_object_set_new(s, "status", json_string("Not deployed"));
        else if (event && strcmp(st, "Deployed") != 0)
            json_object_set_new(s, "status", json_string("Pending"));
    }
    smo__op_event(
        o, !strcmp(status, "Stopped") ? "graph.stopped" : "graph.running",
        json_pack("{s:s, s:s}", "operation", o->id, "action", action));
    smo__step_done(o, o->token, 0, NULL, NULL);
}

static void step_delete(struct smo__op *o, json_t *step)
{
    (void)step;
    json_decref(o->graph);
    o->graph = NULL; /* the runner deletes the document with this step */
    smo__op_event(o, "graph.removed", json_pack("{s:s}", "operation", o->id));
    smo__step_done(o, o->token, 0, NULL, NULL);
}

/* ------------------------------------------------------------ tables -- */

static const struct {
    const char *prefix;
    smo__step_fn fn;
} steps[] = {
    {"prepare", step_prepare},
    {"inventory", step_inventory},
    {"place", step_place},
    {"values", step_values},
    {"install", step_install},
    {"upgrade", step_upgrade},
    {"uninstall", step_uninstall},
    {"rules", step_rules},
    {"rules_remove", step_rules_remove},
    {"dashboards", smo__step_dashboards},
    {"dashboards_remove", smo__step_dashboards_remove},
    {"finish", step_finish},
    {"delete", step_delete},
    {"provision", smo__step_provision},
    {"await_cluster", smo__step_await_cluster},
};

smo__step_fn smo__step_lookup(const char *name)
{
    size_t n = strcspn(name, ":");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (strlen(steps[i].prefix) == n && !strncmp(steps[i].prefix, name, n))
            return steps[i].fn;
    return NULL;
}

static void add(json_t *list, const char *name, const char *svc)
{
    char buf[128];
    if (svc)
        snprintf(buf, sizeof buf, "%s:%s", name, svc);
    else
        snprintf(buf, sizeof buf, "%s", name);
    json_array_append_new(list, json_pack("{s:s}", "name", buf));
}

json_t *smo__steps_for(const char *action, const json_t *graph,
                       const char *service)
{
    json_t *l = json_array();
    const json_t *svcs = json_object_get(graph, "services");
    size_t i;
    json_t *s;
    if (!strcmp(action, "deploy") || !strcmp(action, "start")) {
        add(l, "prepare", NULL);
        add(l, "inventory", NULL);
        add(l, "place", NULL);
        add(l, "values", NULL);
        json_array_foreach(svcs, i, s)
        {
            if (strcmp(json_string_value(json_object_get(s, "trigger")),
                       "event"))
                add(l, "install",
                    json_string_value(json_object_get(s, "name")));
        }
        add(l, "rules", NULL);
        add(l, "dashboards", NULL);
        add(l, "finish", NULL);
    } else if (!strcmp(action, "stop") || !strcmp(action, "remove")) {
        /* Every service, installed or not: uninstalling is idempotent and
         * nothing can be left behind. */
        json_array_foreach(svcs, i, s)
            add(l, "uninstall", json_string_value(json_object_get(s, "name")));
        add(l, "rules_remove", NULL);
        if (!strcmp(action, "remove"))
            add(l, "dashboards_remove", NULL);
        add(l, !strcmp(action, "stop") ? "finish" : "delete", NULL);
    } else if (!strcmp(action, "place")) {
        add(l, "prepare", NULL);
        add(l, "inventory", NULL);
        add(l, "place", NULL);
        add(l, "values", NULL);
        json_array_foreach(svcs, i, s)
        {
            if (!strcmp(json_string_value(json_object_get(s, "status")),
                        "Deployed"))
                add(l, "upgrade",
                    json_string_value(json_object_get(s, "name")));
        }
        add(l, "finish", NULL);
    } else if (!strcmp(action, "alert_resolved")) {
        add(l, "uninstall", service);
        add(l, "finish", NULL);
    } else if (!strcmp(action, "alert")) {
        add(l, "prepare", NULL);
        add(l, "inventory", NULL);
        add(l, "place", service);
        add(l, "values", NULL);
        add(l, "install", service);
        add(l, "finish", NULL);
    }
    return l;
}
