/* Operation runner: every lifecycle action is an operation document with
 * ordered steps. A step's side effect (install, uninstall, placement...)
 * happens first, then one atomic commit records the step's outcome, the
 * graph document it changed and any other document (clusters, events).
 * Steps are idempotent, so after a crash an operation resumes at the first
 * step not recorded as done and re-running a step converges. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

#include "smo_daemon.h"
#include "smo_engine_int.h"
#include "smo_log.h"

#define COMMIT_RETRY_MS  500
#define COMMIT_RETRY_MAX 120 /* about a minute of store outage per step */

int64_t smo__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct smo__engine_cfg *smo__engine_cfg(struct smo__engine *e)
{
    return &e->rt->conf->ecfg;
}

static smo_instance *pick(struct smo__engine *e, int kind, const char *name)
{
    if (name) {
        smo_instance *i = smo__rt_find(e->rt, name);
        return i && i->kind == kind ? i : NULL;
    }
    return smo__rt_first(e->rt, kind);
}

smo_instance *smo__engine_store(struct smo__engine *e)
{
    return pick(e, SMO_KIND_STORE, NULL);
}

smo_instance *smo__engine_executor(struct smo__engine *e)
{
    return pick(e, SMO_KIND_EXECUTOR, smo__engine_cfg(e)->executor);
}

smo_instance *smo__engine_solver(struct smo__engine *e)
{
    return pick(e, SMO_KIND_SOLVER, smo__engine_cfg(e)->solver);
}

struct smo__engine *smo__engine_new(struct smo_rt *rt)
{
    struct smo__engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->rt = rt;
    e->self = &rt->core;
    e->read_cache = json_object();
    e->cluster_recorded = json_object();
    if (getrandom(&e->boot, sizeof e->boot, 0) != (ssize_t)sizeof e->boot)
        e->boot = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    static const char *const l_op[] = {"action", "result", NULL};
    static const char *const l_step[] = {"step", "result", NULL};
    e->m_ops = smo__metric_register(rt->metrics, SMO_METRIC_COUNTER,
                                    "smo_operations_total",
                                    "Lifecycle operations by action and "
                                    "result.",
                                    l_op, NULL);
    e->m_steps = smo__metric_register(
        rt->metrics, SMO_METRIC_COUNTER, "smo_operation_steps_total",
        "Operation steps by kind and result.", l_step, NULL);
    e->m_solve = smo__metric_register(
        rt->metrics, SMO_METRIC_HISTOGRAM, "smo_placement_solve_seconds",
        "Time spent in the placement solver.", NULL, NULL);
    rt->engine = e;
    smo__scale_init(e);
    return e;
}

/* ------------------------------------------------------------ events -- */

static void event_written(void *arg, const smo_status *st, const int64_t *revs,
                          size_t n)
{
    (void)revs;
    (void)n;
    (void)arg;
    if (st->code)
        smo__log(4, "engine", "event not stored: %s", st->msg);
}

void smo__engine_event(struct smo__engine *e, const char *type,
                       const char *graph_key, json_t *data)
{
    json_t *ev =
        json_pack("{s:s, s:s?, s:I, s:O?}", "type", type, "graph", graph_key,
                  "time_ms", (json_int_t)smo__now_ms(), "data", data);
    smo__events_emit(e->rt->events, "engine", type, NULL, graph_key, data);
    smo_instance *st = smo__engine_store(e);
    if (st && ev) {
        struct smo_store_write w = {SMO_COLL_EVENT, NULL, ev, SMO_REV_ANY};
        smo_status s;
        if (st->plugin->ops.store.commit(st->state, &w, 1, event_written, NULL,
                                         &s))
            smo__log(4, "engine", "event not stored: %s", s.msg);
    }
    json_decref(ev);
}

void smo__op_event(struct smo__op *o, const char *type, json_t *data)
{
    struct smo__engine *e = o->e;
    json_t *ev =
        json_pack("{s:s, s:s?, s:I, s:O?}", "type", type, "graph", o->graph_key,
                  "time_ms", (json_int_t)smo__now_ms(), "data", data);
    smo__events_emit(e->rt->events, "engine", type, NULL, o->graph_key, data);
    if (!ev)
        return;
    if (!o->pending_writes)
        o->pending_writes = json_array();
    json_array_append_new(o->pending_writes,
                          json_pack("[i, n, o]", SMO_COLL_EVENT, ev));
}

/* -------------------------------------------------------------- ops -- */

static void op_free(struct smo__op *o)
{
    if (o->poll) {
        smo__timer_stop(o->poll);
        free(o->poll_arg);
    }
    json_decref(o->doc);
    json_decref(o->graph);
    json_decref(o->inventory);
    json_decref(o->pending_writes);
    smo__hdag_free(o->model);
    free(o->id);
    free(o->graph_key);
    free(o);
}

static void op_unlink(struct smo__op *o)
{
    for (struct smo__op **pp = &o->e->ops; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            return;
        }
}

struct smo__op *smo__op_find(struct smo__engine *e, const char *id)
{
    for (struct smo__op *o = e->ops; o; o = o->next)
        if (strcmp(o->id, id) == 0)
            return o;
    return NULL;
}

json_t *smo__op_public(const json_t *doc)
{
    json_t *o = json_deep_copy(doc);
    json_object_del(o, "params");
    /* Progress in one glance: steps done out of total. */
    size_t done = 0, i;
    json_t *s;
    json_array_foreach(json_object_get(o, "steps"), i, s)
    {
        const char *st = json_string_value(json_object_get(s, "state"));
        if (st && (!strcmp(st, "done") || !strcmp(st, "skipped")))
            done++;
    }
    json_object_set_new(
        o, "progress",
        json_pack("{s:I, s:I}", "done", (json_int_t)done, "total",
                  (json_int_t)json_array_size(json_object_get(o, "steps"))));
    return o;
}

static void waiters_reply(struct smo__op *o)
{
    while (o->waiters) {
        struct smo__waiter *w = o->waiters;
        o->waiters = w->next;
        smo__timer_stop(w->timer);
        smo__reply_ok(w->reply, smo__op_public(o->doc));
        free(w);
    }
}

/* An operation whose final commit is not yet acknowledged is not over for
 * readers: its graph still names it and a new action would get 409.
 * Waiters are answered after that commit, with the final state. */
static json_t *op_public_in_flight(const struct smo__op *o)
{
    json_t *pub = smo__op_public(o->doc);
    const char *state = json_string_value(json_object_get(pub, "state"));
    if (state && strcmp(state, "running"))
        json_object_set_new(pub, "state", json_string("running"));
    return pub;
}

static void waiter_timeout(void *arg)
{
    struct smo__waiter *w = arg;
    struct smo__op *o = w->op;
    for (struct smo__waiter **pp = &o->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    smo__reply_ok(w->reply, op_public_in_flight(o));
    free(w);
}

static void run(struct smo__op *o);
static void commit_step(struct smo__op *o);

static void check_engine_stopped(struct smo__engine *e)
{
    if (!e->stopping || !e->stop_done)
        return;
    for (struct smo__op *o = e->ops; o; o = o->next)
        if (o->busy)
            return;
    void (*d)(void *) = e->stop_done;
    e->stop_done = NULL;
    d(e->stop_arg);
}

static void finish_op(struct smo__op *o)
{
    struct smo__engine *e = o->e;
    const char *state = json_string_value(json_object_get(o->doc, "state"));
    const char *action = json_string_value(json_object_get(o->doc, "action"));
    const char *lv[] = {action, state, NULL};
    smo__metric_add(e->m_ops, lv, 1);
    smo__log(strcmp(state, "succeeded") == 0 ? 6 : 4, "engine",
             "operation %s (%s %s) %s%s%s", o->id, action, o->graph_key, state,
             json_object_get(o->doc, "error") ? ": " : "",
             json_object_get(o->doc, "error")
                 ? json_string_value(json_object_get(o->doc, "error"))
                 : "");
    smo__reservations_release(e, o->id);
    waiters_reply(o);
    op_unlink(o);
    op_free(o);
    check_engine_stopped(e);
}

static void on_committed(void *arg, const smo_status *st, const int64_t *revs,
                         size_t n)
{
    struct smo__op *o = arg;
    struct smo__engine *e = o->e;
    if (st->code) {
        bool transient = st->code == SMO_EUNAVAIL || st->code == SMO_EBUSY ||
                         st->code == SMO_ECANCELED || st->code == SMO_EIO ||
                         st->code == SMO_ETIMEDOUT;
        if (transient && o->commit_retries++ < COMMIT_RETRY_MAX &&
            !(e->stopping && st->code == SMO_ECANCELED)) {
            smo__log(4, "engine",
                     "operation %s: cannot record step %zu (%s); retrying",
                     o->id, o->step + 1, st->msg);
            o->timer = smo__timer_start(e->self, COMMIT_RETRY_MS, 0,
                                        (smo_cb)commit_step, o);
            return;
        }
        /* The journal keeps the previous state: the operation resumes
         * from there at the next start. */
        smo__log(3, "engine",
                 "operation %s: cannot record step %zu: %s; it stays "
                 "unfinished and resumes at the next start",
                 o->id, o->step + 1, st->msg);
        o->busy = false;
        o->finished = true;
        waiters_reply(o);
        smo__reservations_release(e, o->id);
        op_unlink(o);
        op_free(o);
        check_engine_stopped(e);
        return;
    }
    o->commit_retries = 0;
    for (; o->pending_sent > 0; o->pending_sent--)
        json_array_remove(o->pending_writes, 0);
    size_t k = 0;
    if (o->graph) { /* graph write first, then the operation */
        o->graph_rev = revs[k++];
    } else if (o->graph_rev >= 0) { /* deleted: nothing more to write */
        k++;
        o->graph_rev = -1;
    }
    if (k < n)
        o->rev = revs[k];
    o->busy = false;
    const char *state = json_string_value(json_object_get(o->doc, "state"));
    if (strcmp(state, "running") != 0) {
        finish_op(o);
        return;
    }
    o->step++;
    if (e->stopping) {
        check_engine_stopped(e);
        return;
    }
    run(o);
}

void smo__engine_graph_written(struct smo__engine *e)
{
    e->graph_gen++;
    json_object_clear(e->read_cache);
}

static void commit_step(struct smo__op *o)
{
    o->timer = NULL;
    smo__engine_graph_written(o->e);
    smo_instance *store = smo__engine_store(o->e);
    size_t extra = json_array_size(o->pending_writes);
    struct smo_store_write *w = calloc(2 + extra, sizeof *w);
    size_t n = 0;
    int64_t now = smo__now_ms();
    json_object_set_new(o->doc, "updated_ms", json_integer(now));
    if (o->graph) {
        json_object_set_new(o->graph, "updated_ms", json_integer(now));
        w[n++] = (struct smo_store_write){SMO_COLL_GRAPH, o->graph_key,
                                          o->graph, o->graph_rev};
    } else if (o->graph_rev >= 0)
        w[n++] = (struct smo_store_write){SMO_COLL_GRAPH, o->graph_key, NULL,
                                          o->graph_rev > 0 ? o->graph_rev
                                                           : SMO_REV_ANY};
    w[n++] = (struct smo_store_write){SMO_COLL_OPERATION, o->id, o->doc,
                                      o->rev ? o->rev : SMO_REV_ABSENT};
    size_t i;
    json_t *x;
    json_array_foreach(o->pending_writes, i, x)
    {
        w[n++] = (struct smo_store_write){
            (uint32_t)json_integer_value(json_array_get(x, 0)),
            json_string_value(json_array_get(x, 1)), json_array_get(x, 2),
            SMO_REV_ANY};
    }
    o->pending_sent = extra; /* dropped when the commit succeeds */
    smo_status st;
    smo_status_clear(&st);
    int r = store ? store->plugin->ops.store.commit(store->state, w, n,
                                                    on_committed, o, &st)
                  : smo_status_set(&st, SMO_EUNAVAIL, "no store configured");
    free(w);
    if (r) {
        /* Report through the same path as an asynchronous failure. */
        on_committed(o, &st, NULL, 0);
    }
}

static void step_timeout(void *arg)
{
    struct smo__op *o = arg;
    o->timer = NULL;
    json_t *step = json_array_get(json_object_get(o->doc, "steps"), o->step);
    char msg[256];
    snprintf(msg, sizeof msg, "step %s: no answer within %lld ms",
             json_string_value(json_object_get(step, "name")),
             (long long)smo__engine_cfg(o->e)->step_timeout_ms);
    smo__step_done(o, o->token, SMO_ETIMEDOUT, msg, NULL);
}

/* Translate, inventory, place and values only compute: they write
 * nothing outside the engine's own documents. */
static bool pure_step(const char *name)
{
    return name && (!strcmp(name, "prepare") || !strcmp(name, "inventory") ||
                    !strcmp(name, "place") || !strncmp(name, "place:", 6) ||
                    !strcmp(name, "values"));
}

void smo__step_done(struct smo__op *o, uint64_t token, int code,
                    const char *msg, json_t *detail)
{
    if (token != o->token || !o->busy) { /* late or duplicate callback */
        json_decref(detail);
        return;
    }
    o->token++;
    if (o->timer) {
        smo__timer_stop(o->timer);
        o->timer = NULL;
    }
    struct smo__engine *e = o->e;
    json_t *steps = json_object_get(o->doc, "steps");
    json_t *step = json_array_get(steps, o->step);
    const char *name = json_string_value(json_object_get(step, "name"));
    int64_t now = smo__now_ms();
    json_object_set_new(step, "finished_ms", json_integer(now));
    if (detail)
        json_object_set_new(step, "detail", detail);
    const char *lv[] = {name, code < 0 ? "failed" : "done", NULL};
    char sname[64];
    snprintf(sname, sizeof sname, "%.*s", (int)strcspn(name, ":"), name);
    lv[0] = sname;
    smo__metric_add(e->m_steps, lv, 1);

    if (code == SMO_ECANCELED && e->stopping) {
        /* An instance went away under us during shutdown: leave the step
         * unrecorded; it runs again at the next start. */
        o->busy = false;
        check_engine_stopped(e);
        return;
    }
    if (code >= 0) {
        json_object_set_new(step, "state",
                            json_string(code == SMO_SKIP ? "skipped" : "done"));
        if (msg && *msg)
            json_object_set_new(step, "note", json_string(msg));
        if (o->step + 1 == json_array_size(steps)) {
            json_object_set_new(o->doc, "state", json_string("succeeded"));
            json_object_set_new(o->doc, "finished_ms", json_integer(now));
            if (o->graph)
                json_object_del(o->graph, "operation");
        }
    } else {
        char full[700];
        snprintf(full, sizeof full, "%s: %s", name,
                 msg && *msg ? msg : smo_strerror(code));
        json_object_set_new(step, "state", json_string("failed"));
        json_object_set_new(step, "error", json_string(full));
        json_object_set_new(o->doc, "state", json_string("failed"));
        json_object_set_new(o->doc, "error", json_string(full));
        json_object_set_new(o->doc, "finished_ms", json_integer(now));
        if (o->graph) {
            /* What is installed stays visible in the graph: services keep
             * their own status. */
            json_t *installed = json_array();
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(o->graph, "services"), i, s)
            {
                if (!strcmp(json_string_value(json_object_get(s, "status")),
                            "Deployed"))
                    json_array_append(installed, json_object_get(s, "name"));
            }
            json_object_set_new(o->graph, "status", json_string("Failed"));
            json_object_set_new(o->graph, "last_error", json_string(full));
            json_object_set_new(o->graph, "installed", installed);
            json_object_del(o->graph, "operation");
        }
        smo__op_event(
            o, "operation.failed",
            json_pack("{s:s, s:s}", "operation", o->id, "error", full));
    }
    /* Steps with no effect outside the engine run again after a crash, so
     * consecutive ones share one journal commit (a deploy needs a third
     * fewer synchronous writes). A pure step's decisions (the placement)
     * are recorded before any step acts on them; a skipped step decided
     * and did nothing, so it shares the next step's commit whatever that
     * step does (no monitoring configured: rules and dashboards cost no
     * commit of their own). */
    bool last = o->step + 1 >= json_array_size(steps);
    bool next_pure = !last && pure_step(json_string_value(json_object_get(
                                  json_array_get(steps, o->step + 1), "name")));
    if (code >= 0 && !e->stopping && !last &&
        (pure_step(name) ? next_pure : code == SMO_SKIP)) {
        o->busy = false;
        o->step++;
        run(o);
        return;
    }
    commit_step(o);
}

static void run(struct smo__op *o)
{
    json_t *steps = json_object_get(o->doc, "steps");
    while (o->step < json_array_size(steps)) {
        json_t *s = json_array_get(steps, o->step);
        const char *state = json_string_value(json_object_get(s, "state"));
        if (strcmp(state, "done") && strcmp(state, "skipped"))
            break;
        o->step++;
    }
    if (o->step >= json_array_size(steps)) {
        /* Nothing left (resumed after the last step was recorded). */
        json_object_set_new(o->doc, "state", json_string("succeeded"));
        o->busy = true;
        o->step = json_array_size(steps) - 1;
        commit_step(o);
        return;
    }
    json_t *step = json_array_get(steps, o->step);
    const char *name = json_string_value(json_object_get(step, "name"));
    smo__step_fn fn = smo__step_lookup(name);
    o->busy = true;
    json_object_set_new(step, "state", json_string("running"));
    json_object_set_new(step, "started_ms", json_integer(smo__now_ms()));
    json_object_del(step, "error");
    if (!fn) {
        smo__step_done(o, o->token, SMO_ENOSYS, "unknown step", NULL);
        return;
    }
    o->timer = smo__timer_start(
        o->e->self, (uint64_t)smo__engine_cfg(o->e)->step_timeout_ms, 0,
        step_timeout, o);
    fn(o, step);
}

/* -------------------------------------------------------- creation -- */

static char *new_id(void)
{
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    char *id = malloc(20);
    snprintf(id, 20, "op-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7]);
    return id;
}

struct create_ctx {
    struct smo__op *o;
    smo__op_created_cb cb;
    void *arg;
};

static void on_created(void *arg, const smo_status *st, const int64_t *revs,
                       size_t n)
{
    struct create_ctx *c = arg;
    struct smo__op *o = c->o;
    o->e->creating--;
    smo__engine_graph_written(o->e);
    if (st->code) {
        smo_status s2 = *st;
        if (st->code == SMO_ECONFLICT)
            smo_status_set(&s2, SMO_ECONFLICT,
                           "graph %s was changed by another request: %s",
                           o->graph_key, st->msg);
        c->cb(c->arg, &s2, NULL);
        op_free(o);
        free(c);
        return;
    }
    o->graph_rev = revs[0];
    o->rev = n > 1 ? revs[1] : 1;
    o->next = o->e->ops;
    o->e->ops = o;
    smo_status ok;
    smo_status_clear(&ok);
    c->cb(c->arg, &ok, smo__op_public(o->doc));
    free(c);
    smo__op_event(o, "operation.started",
                  json_pack("{s:s, s:O}", "operation", o->id, "action",
                            json_object_get(o->doc, "action")));
    run(o);
}

int smo__op_create(struct smo__engine *e, const char *action, json_t *graph,
                   int64_t expect_rev, json_t *steps, json_t *params,
                   smo__op_created_cb cb, void *arg, smo_status *st)
{
    if (e->stopping) {
        json_decref(graph);
        json_decref(steps);
        json_decref(params);
        return smo_status_set(st, SMO_EUNAVAIL, "smod is shutting down");
    }
    smo_instance *store = smo__engine_store(e);
    if (!store) {
        json_decref(graph);
        json_decref(steps);
        json_decref(params);
        return smo_status_set(st, SMO_EUNAVAIL, "no store is configured");
    }
    if (!smo__engine_executor(e)) {
        json_decref(graph);
        json_decref(steps);
        json_decref(params);
        return smo_status_set(st, SMO_EUNAVAIL,
                              "no executor is configured: nothing can be "
                              "deployed (see conf.d/40-executor.yaml)");
    }
    struct smo__op *o = calloc(1, sizeof *o);
    o->e = e;
    o->id = new_id();
    o->graph_key = NULL;
    if (asprintf(&o->graph_key, "%s/%s",
                 json_string_value(json_object_get(graph, "project")),
                 json_string_value(json_object_get(graph, "name"))) < 0)
        o->graph_key = NULL;
    o->graph = graph;
    o->graph_rev = expect_rev;
    int64_t now = smo__now_ms();
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s)
        json_object_set_new(s, "state", json_string("pending"));
    o->doc =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "id", o->id,
                  "graph", o->graph_key, "action", action, "state", "running",
                  "steps", steps, "params", params ? params : json_object(),
                  "created_ms", (json_int_t)now, "updated_ms", (json_int_t)now);
    json_object_set_new(graph, "operation", json_string(o->id));
    json_object_set_new(graph, "updated_ms", json_integer(now));
    if (!json_object_get(graph, "created_ms"))
        json_object_set_new(graph, "created_ms", json_integer(now));
    struct smo_store_write w[2] = {
        {SMO_COLL_GRAPH, o->graph_key, graph, expect_rev},
        {SMO_COLL_OPERATION, o->id, o->doc, SMO_REV_ABSENT}};
    struct create_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->cb = cb;
    c->arg = arg;
    smo__engine_graph_written(e);
    e->creating++;
    int r =
        store->plugin->ops.store.commit(store->state, w, 2, on_created, c, st);
    if (r) {
        e->creating--;
        op_free(o);
        free(c);
    }
    return r;
}

/* ------------------------------------------------------------- waits -- */

struct wait_ctx {
    struct smo__reply *reply;
};

static void on_op_loaded(void *arg, const smo_status *st, json_t *doc,
                         int64_t rev)
{
    (void)rev;
    struct wait_ctx *w = arg;
    if (st->code == SMO_ENOENT)
        smo__reply_err(w->reply, SMO_ENOENT, "no operation %s",
                       strrchr(st->msg, ' ') ? "with this id" : "");
    else if (st->code)
        smo__reply_err(w->reply, st->code, "%s", st->msg);
    else
        smo__reply_ok(w->reply, smo__op_public(doc));
    json_decref(doc);
    free(w);
}

void smo__op_wait(struct smo__engine *e, const char *id, int64_t wait_ms,
                  struct smo__reply *reply)
{
    struct smo__op *o = smo__op_find(e, id);
    if (o && wait_ms > 0) {
        struct smo__waiter *w = calloc(1, sizeof *w);
        w->reply = reply;
        w->op = o;
        w->next = o->waiters;
        o->waiters = w;
        w->timer =
            smo__timer_start(e->self, (uint64_t)wait_ms, 0, waiter_timeout, w);
        return;
    }
    if (o) {
        smo__reply_ok(reply, op_public_in_flight(o));
        return;
    }
    smo_instance *store = smo__engine_store(e);
    if (!store) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    struct wait_ctx *w = calloc(1, sizeof *w);
    w->reply = reply;
    smo_status st;
    if (store->plugin->ops.store.get(store->state, SMO_COLL_OPERATION, id,
                                     on_op_loaded, w, &st)) {
        smo__reply_err(reply, st.code, "%s", st.msg);
        free(w);
    }
}

/* ---------------------------------------------------------- recovery -- */

struct resume_ctx {
    struct smo__engine *e;
    json_t *op;
    int64_t rev;
};

static void on_resume_graph(void *arg, const smo_status *st, json_t *graph,
                            int64_t rev)
{
    struct resume_ctx *c = arg;
    struct smo__engine *e = c->e;
    struct smo__op *o = calloc(1, sizeof *o);
    o->e = e;
    o->doc = c->op;
    o->rev = c->rev;
    o->id = strdup(json_string_value(json_object_get(o->doc, "id")));
    o->graph_key = strdup(json_string_value(json_object_get(o->doc, "graph")));
    if (st->code == 0) {
        o->graph = graph;
        o->graph_rev = rev;
    } else {
        o->graph = NULL;
        o->graph_rev = -1; /* nothing to write for the graph */
    }
    /* A step recorded as running was cut short: it runs again. */
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o->doc, "steps"), i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "state")), "running"))
            json_object_set_new(s, "state", json_string("pending"));
    }
    o->next = e->ops;
    e->ops = o;
    const char *action = json_string_value(json_object_get(o->doc, "action"));
    smo__log(5, "engine", "resuming operation %s (%s %s)", o->id, action,
             o->graph_key);
    smo__op_event(o, "operation.resumed",
                  json_pack("{s:s}", "operation", o->id));
    free(c);
    if (!o->graph && strcmp(action, "remove") != 0) {
        o->busy = true;
        smo__step_done(o, o->token, SMO_ENOENT,
                       "the graph document is gone; nothing to resume", NULL);
        return;
    }
    run(o);
}

static void on_unfinished(void *arg, const smo_status *st, json_t *items)
{
    struct smo__engine *e = arg;
    if (st->code) {
        smo__log(3, "engine", "cannot list unfinished operations: %s", st->msg);
        return;
    }
    smo_instance *store = smo__engine_store(e);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *doc = json_object_get(it, "doc");
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (smo__op_find(e, id))
            continue;
        struct resume_ctx *c = calloc(1, sizeof *c);
        c->e = e;
        c->op = json_incref(doc);
        c->rev = json_integer_value(json_object_get(it, "rev"));
        smo_status s;
        if (store->plugin->ops.store.get(
                store->state, SMO_COLL_GRAPH,
                json_string_value(json_object_get(doc, "graph")),
                on_resume_graph, c, &s)) {
            smo__log(3, "engine", "cannot resume %s: %s", id, s.msg);
            json_decref(c->op);
            free(c);
        }
    }
    if (json_array_size(items))
        smo__log(5, "engine", "%zu unfinished operation%s found",
                 json_array_size(items),
                 json_array_size(items) == 1 ? "" : "s");
    json_decref(items);
}

/* Everything only the leader does: syncs, scaling, resuming the journal. */
static void lead(struct smo__engine *e)
{
    smo_instance *store = smo__engine_store(e);
    smo__engine_sync_clusters(e->rt);
    smo__scale_start(e);
    smo__prune_start(e);
    if (!smo__engine_cfg(e)->resume_on_start)
        return;
    json_t *f = json_pack("{s:b}", "unfinished", 1);
    smo_status st;
    if (store->plugin->ops.store.list(store->state, SMO_COLL_OPERATION, f,
                                      on_unfinished, e, &st))
        smo__log(3, "engine", "cannot list unfinished operations: %s", st.msg);
    json_decref(f);
}

static void on_leader(void *arg, bool leader, const char *why)
{
    struct smo__engine *e = arg;
    if (e->stopping)
        return;
    if (leader && !e->leader) {
        smo__log(5, "engine", "leader of the daemons sharing the store (%s)",
                 why);
        e->leader = true;
        json_object_clear(e->read_cache);
        smo__engine_event(e, "leader.acquired", NULL, NULL);
        lead(e);
    } else if (!leader && e->leader) {
        /* Fail fast: another daemon may take the lock from now on and
         * resume our operations; carrying on here would run them twice.
         * The service manager restarts this one as a candidate. */
        smo__daemon_fail(e->rt,
                         "leadership lost (%s): stopping so that "
                         "another smod can take over",
                         why);
    } else if (!leader && !e->announced) {
        smo__log(5, "engine",
                 "follower: %s; serving reads, refusing writes until it "
                 "becomes the leader",
                 why);
    }
    if (!e->announced) {
        e->announced = true;
        if (e->elected_fn)
            e->elected_fn(e->elected_arg);
        e->elected_fn = NULL;
    }
}

void smo__engine_when_elected(struct smo__engine *e, void (*fn)(void *),
                              void *arg)
{
    if (!e->campaign || e->announced) {
        fn(arg);
        return;
    }
    e->elected_fn = fn;
    e->elected_arg = arg;
}

void smo__engine_start(struct smo__engine *e)
{
    smo_instance *store = smo__engine_store(e);
    if (!store) {
        smo__log(4, "engine",
                 "no store configured: graphs cannot be "
                 "deployed");
        return;
    }
    const struct smo_store_ops *so = &store->plugin->ops.store;
    if (!smo__engine_cfg(e)->leader_election || !so->leader_campaign) {
        e->leader = true;
        lead(e);
        return;
    }
    e->campaign = true;
    smo_status st;
    if (so->leader_campaign(store->state, on_leader, e, &st)) {
        smo__log(3, "engine",
                 "cannot campaign for leadership: %s; running as the only "
                 "daemon on this store",
                 st.msg);
        e->campaign = false;
        e->leader = true;
        lead(e);
    }
}

bool smo__engine_follower(const struct smo__engine *e)
{
    return e && e->campaign && !e->leader;
}

void smo__engine_stop(struct smo__engine *e, void (*done)(void *), void *arg)
{
    e->stopping = true;
    smo__scale_stop(e);
    smo__prune_stop(e);
    e->stop_done = done;
    e->stop_arg = arg;
    /* Operations waiting in the placement queue have no step in flight. */
    for (struct smo__op *o = e->ops; o; o = o->next)
        for (size_t i = 0; i < e->place_queue_n; i++)
            if (e->place_queue[i] == o) {
                o->busy = false;
                smo__timer_stop(o->timer);
                o->timer = NULL;
            }
    e->place_queue_n = 0;
    check_engine_stopped(e);
}

void smo__engine_free(struct smo__engine *e)
{
    if (!e)
        return;
    while (e->ops) {
        struct smo__op *o = e->ops;
        e->ops = o->next;
        while (o->waiters) {
            struct smo__waiter *w = o->waiters;
            o->waiters = w->next;
            smo__reply_err(w->reply, SMO_EUNAVAIL, "smod is shutting down");
            free(w);
        }
        op_free(o);
    }
    smo__reservations_free(e);
    smo__scale_free(e);
    smo__prune_free(e);
    json_decref(e->read_cache);
    json_decref(e->cluster_recorded);
    if (e->rt->engine == e)
        e->rt->engine = NULL;
    free(e);
}
