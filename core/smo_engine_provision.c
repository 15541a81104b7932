/* Clusters provisioned when a placement lacks capacity
 * (engine.placement.provision, docs/provisioning.md "On shortage").
 *
 * An infeasible placement, with the option on, does not fail the
 * operation: the place step records why and inserts, once per operation,
 *   provision -> await_cluster -> inventory -> place (again)
 * so that the journal shows each step and a restart resumes them. The new
 * cluster is recognised by the inventory, not by name: the provisioner
 * (NFVCL) creates a Kubernetes cluster, and whoever joins it to the
 * federation names it; any ready cluster that was not there before
 * counts. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_engine_int.h"
#include "smo_log.h"

bool smo__provision_on_shortage(struct smo__op *o, const char *why)
{
    const struct smo__engine_cfg *cfg = smo__engine_cfg(o->e);
    json_t *params = json_object_get(o->doc, "params");
    if (!cfg->prov_enabled || json_object_get(params, "provision"))
        return false;
    json_t *steps = json_object_get(o->doc, "steps");
    json_t *cur = json_array_get(steps, o->step);
    const char *place = json_string_value(json_object_get(cur, "name"));
    /* The clusters there now: the new one is any other that gets ready. */
    json_t *known = json_array();
    size_t i;
    json_t *cl;
    json_array_foreach(o->inventory, i, cl)
        json_array_append(known, json_object_get(cl, "name"));
    if (!json_is_object(params)) {
        params = json_object();
        json_object_set_new(o->doc, "params", params);
    }
    json_object_set_new(
        params, "provision",
        json_pack("{s:o, s:s}", "known", known, "shortage", why ? why : ""));
    const char *add[] = {"provision", "await_cluster", "inventory", place};
    for (size_t k = 0; k < 4; k++)
        json_array_insert_new(
            steps, o->step + 1 + k,
            json_pack("{s:s, s:s}", "name", add[k], "state", "pending"));
    smo__log(5, "engine",
             "operation %s: no placement (%s); provisioning a cluster", o->id,
             why ? why : "infeasible");
    return true;
}

/* ---------------------------------------------------------- provision -- */

struct prov_ctx {
    struct smo__op *o;
    uint64_t token;
};

static void on_created(void *arg, const smo_status *st, json_t *result)
{
    struct prov_ctx *c = arg;
    struct smo__op *o = c->o;
    json_t *detail = NULL;
    if (!st->code) {
        json_t *cl = json_object_get(result, "cluster");
        detail = json_pack("{s:O?, s:O?, s:O?}", "smo_id",
                           json_object_get(cl, "smo_id"), "nfvcl_id",
                           json_object_get(cl, "nfvcl_id"), "vim_name",
                           json_object_get(cl, "vim_name"));
        json_object_set_new(
            json_object_get(json_object_get(o->doc, "params"), "provision"),
            "started_ms", json_integer(smo__now_ms()));
    }
    json_decref(result);
    smo__step_done(o, c->token, st->code, st->code ? st->msg : NULL, detail);
    free(c);
}

void smo__step_provision(struct smo__op *o, json_t *step)
{
    (void)step;
    const struct smo__engine_cfg *cfg = smo__engine_cfg(o->e);
    if (!cfg->prov_vim || !*cfg->prov_vim) {
        smo__step_done(o, o->token, SMO_ECONFIG,
                       "engine.placement.provision.vim is not set: no VIM "
                       "to provision a cluster in",
                       NULL);
        return;
    }
    struct prov_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    json_t *p = json_pack("{s:I, s:s, s:I, s:s}", "pop_area",
                          (json_int_t)cfg->prov_area, "vim_name", cfg->prov_vim,
                          "workers", (json_int_t)cfg->prov_workers, "source",
                          "shortage");
    if (smo__call(o->e->self, "provision.create", p, on_created, c)) {
        free(c);
        smo__step_done(o, o->token, SMO_EUNAVAIL,
                       "cannot reach the provisioning methods", NULL);
    }
}

/* ------------------------------------------------------ await_cluster -- */

struct await_ctx {
    struct smo__op *o;
    uint64_t token;
};

static void poll_inventory(void *arg);

static const char *new_ready(const json_t *inv, const json_t *known)
{
    size_t i, j;
    json_t *cl, *k;
    json_array_foreach(inv, i, cl)
    {
        const char *name = json_string_value(json_object_get(cl, "name"));
        if (!name || !json_is_true(json_object_get(cl, "ready")))
            continue;
        bool seen = false;
        json_array_foreach(known, j, k) seen =
            seen || (json_is_string(k) && !strcmp(json_string_value(k), name));
        if (!seen)
            return name;
    }
    return NULL;
}

static void on_polled(void *arg, const smo_status *st, json_t *inv)
{
    struct await_ctx *c = arg;
    struct smo__op *o = c->o;
    if (c->token != o->token || !o->busy) { /* the step ended meanwhile */
        json_decref(inv);
        free(c);
        return;
    }
    const struct smo__engine_cfg *cfg = smo__engine_cfg(o->e);
    json_t *prov =
        json_object_get(json_object_get(o->doc, "params"), "provision");
    int64_t since = json_integer_value(json_object_get(prov, "started_ms"));
    int64_t waited = since ? smo__now_ms() - since : 0;
    const char *name =
        st->code ? NULL : new_ready(inv, json_object_get(prov, "known"));
    if (name) {
        json_t *d = json_pack("{s:s, s:I}", "cluster", name, "waited_ms",
                              (json_int_t)waited);
        json_decref(inv);
        free(c);
        smo__step_done(o, o->token, 0, NULL, d);
        return;
    }
    json_decref(inv);
    if (waited >= cfg->prov_wait_ms) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "no new ready cluster joined the inventory within %lld ms",
                 (long long)cfg->prov_wait_ms);
        free(c);
        smo__step_done(o, o->token, SMO_ETIMEDOUT, msg, NULL);
        return;
    }
    /* The op owns the poll timer: freeing the op stops it (and frees c). */
    o->poll_arg = c;
    o->poll = smo__timer_start(o->e->self, (uint64_t)cfg->prov_poll_ms, 0,
                               poll_inventory, c);
}

static void poll_inventory(void *arg)
{
    struct await_ctx *c = arg;
    struct smo__op *o = c->o;
    o->poll = NULL;
    o->poll_arg = NULL;
    if (c->token != o->token || !o->busy) {
        free(c);
        return;
    }
    smo_instance *ex = smo__engine_executor(o->e);
    smo_status st;
    smo_status_clear(&st);
    if (!ex ||
        ex->plugin->ops.executor.inventory(ex->state, on_polled, c, &st)) {
        smo_status_set(&st, st.code ? st.code : SMO_EUNAVAIL, "%s",
                       st.code ? st.msg : "no executor");
        on_polled(c, &st, NULL);
    }
}

void smo__step_await_cluster(struct smo__op *o, json_t *step)
{
    (void)step;
    struct await_ctx *c = calloc(1, sizeof *c);
    c->o = o;
    c->token = o->token;
    poll_inventory(c);
}
