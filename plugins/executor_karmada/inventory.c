/* The cluster inventory: Karmada's Cluster list (plus the Submariner
 * broker's CIDRs), readiness transitions turned into events and metrics,
 * the periodic sync into the store (through the core's cluster.sync, so
 * vanished clusters are marked gone there) and, when the operator enables
 * it, re-placement of the graphs on a cluster that became NotReady. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "karmada.h"

#define CLUSTERS_PATH "/apis/cluster.karmada.io/v1alpha1/clusters"

struct smo__inv_waiter {
    smo_exec_cb cb;
    void *arg;
    struct smo__inv_waiter *next;
};

/* ------------------------------------------------------ submariner -- */

/* submariner.io/v1 Cluster list -> {cluster_id: {pod_cidr, service_cidr}}
 * (first CIDR of each, as the original did; global_cidr when Globalnet
 * hands out one). */
static json_t *sub_cidrs(const json_t *list)
{
    json_t *out = json_object();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const json_t *spec = json_object_get(it, "spec");
        const char *id = json_string_value(json_object_get(spec, "cluster_id"));
        if (!id)
            id = json_string_value(
                json_object_get(json_object_get(it, "metadata"), "name"));
        if (!id)
            continue;
        json_t *o = json_object();
        static const char *const keys[][2] = {{"cluster_cidr", "pod_cidr"},
                                              {"service_cidr", "service_cidr"},
                                              {"global_cidr", "global_cidr"}};
        for (size_t k = 0; k < 3; k++) {
            const char *v = json_string_value(
                json_array_get(json_object_get(spec, keys[k][0]), 0));
            if (v)
                json_object_set_new(o, keys[k][1], json_string(v));
        }
        json_object_set_new(out, id, o);
    }
    return out;
}

static bool cidr4(const char *s, uint32_t *net, uint32_t *mask)
{
    char buf[64];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || (size_t)(slash - s) >= sizeof buf)
        return false;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    struct in_addr a;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, buf, &a) != 1 || *end || bits < 0 || bits > 32)
        return false;
    *mask = bits ? ~0u << (32 - bits) : 0;
    *net = ntohl(a.s_addr) & *mask;
    return true;
}

static bool overlap(const char *a, const char *b)
{
    uint32_t na, ma, nb, mb;
    if (!cidr4(a, &na, &ma) || !cidr4(b, &nb, &mb))
        return false;
    uint32_t m = ma & mb; /* the shorter prefix */
    return (na & m) == (nb & m);
}

/* Pairs of clusters whose pod or service CIDRs overlap: services exported
 * between them cannot be reached unless Globalnet gives them global CIDRs. */
static json_t *overlaps(const json_t *cidrs)
{
    json_t *out = json_array();
    const char *a, *b;
    json_t *va, *vb;
    json_object_foreach((json_t *)cidrs, a, va)
    {
        bool after = false;
        json_object_foreach((json_t *)cidrs, b, vb)
        {
            if (!strcmp(a, b)) {
                after = true;
                continue;
            }
            if (!after || json_object_get(va, "global_cidr") ||
                json_object_get(vb, "global_cidr"))
                continue;
            static const char *const keys[] = {"pod_cidr", "service_cidr"};
            for (int k = 0; k < 2; k++) {
                const char *x = json_string_value(json_object_get(va, keys[k]));
                const char *y = json_string_value(json_object_get(vb, keys[k]));
                if (overlap(x, y)) {
                    json_array_append_new(
                        out, json_pack("{s:[s,s], s:s, s:s, s:s}", "clusters",
                                       a, b, "kind", keys[k], "a", x, "b", y));
                }
            }
        }
    }
    return out;
}

static char *sub_path(const struct smo__kstate *s)
{
    char *p = NULL;
    if (asprintf(&p, "/apis/submariner.io/v1/namespaces/%s/clusters",
                 s->cfg->sub_namespace) < 0)
        return NULL;
    return p;
}

/* ------------------------------------------------ readiness tracking -- */

struct replace_ctx {
    struct smo__kstate *s;
    json_t *clusters; /* names that just became NotReady */
    char *graph;
};

static void done_busy(struct smo__kstate *s)
{
    s->busy--;
    smo__karmada_maybe_stopped(s);
}

static void on_place(void *arg, const smo_status *st, json_t *result)
{
    struct replace_ctx *c = arg;
    struct smo__kstate *s = c->s;
    if (st->code)
        SMO_LOG_W(s->host, s->self, "re-placement of %s not started: %s",
                  c->graph, st->msg);
    else
        SMO_LOG_N(s->host, s->self, "re-placement of %s started (%s)", c->graph,
                  json_string_value(json_object_get(result, "id"))
                      ? json_string_value(json_object_get(result, "id"))
                      : "operation");
    json_decref(result);
    json_decref(c->clusters);
    free(c->graph);
    free(c);
    done_busy(s);
}

static void on_graphs(void *arg, const smo_status *st, json_t *result)
{
    struct replace_ctx *c = arg;
    struct smo__kstate *s = c->s;
    if (st->code)
        SMO_LOG_W(s->host, s->self, "cannot list graphs to re-place them: %s",
                  st->msg);
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(result, "graphs"), i, g)
    {
        const char *name = json_string_value(json_object_get(g, "name"));
        const char *project = json_string_value(json_object_get(g, "project"));
        const char *status = json_string_value(json_object_get(g, "status"));
        if (!name || !project || !status || strcmp(status, "Running"))
            continue;
        const char *svc, *hit = NULL;
        json_t *cl;
        json_object_foreach(json_object_get(g, "placement"), svc, cl)
        {
            size_t k;
            json_t *n;
            json_array_foreach(c->clusters, k, n)
            {
                if (json_is_string(cl) &&
                    !strcmp(json_string_value(cl), json_string_value(n)))
                    hit = json_string_value(n);
            }
        }
        if (!hit)
            continue;
        struct replace_ctx *p = calloc(1, sizeof *p);
        if (!p)
            break;
        p->s = s;
        if (asprintf(&p->graph, "%s/%s", project, name) < 0) {
            free(p);
            break;
        }
        SMO_LOG_N(s->host, s->self,
                  "cluster %s is NotReady: re-placing graph %s", hit, p->graph);
        s->host->event_emit(s->self, "cluster.replace", project, name,
                            json_pack("{s:s}", "cluster", hit));
        s->busy++;
        if (s->host->call(
                s->self, "graph.place",
                json_pack("{s:s, s:s}", "name", name, "project", project),
                on_place, p)) {
            free(p->graph);
            free(p);
            s->busy--;
        }
    }
    json_decref(result);
    json_decref(c->clusters);
    free(c);
    done_busy(s);
}

static void request_replacement(struct smo__kstate *s, json_t *names)
{
    struct replace_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(names);
        return;
    }
    c->s = s;
    c->clusters = names;
    s->busy++;
    if (s->host->call(s->self, "graph.list", NULL, on_graphs, c)) {
        json_decref(names);
        free(c);
        s->busy--;
    }
}

static void set_ready_metric(struct smo__kstate *s, const char *cluster,
                             double v)
{
    if (!s->m_ready)
        return;
    const char *lv[] = {s->host->instance_name(s->self), cluster, NULL};
    s->host->metric_set(s->m_ready, lv, v);
}

/* Compare with what the previous inventory saw: events for clusters that
 * became NotReady, recovered, appeared or vanished. */
static void track(struct smo__kstate *s, const json_t *inv)
{
    json_t *now = json_object();
    json_t *went_down = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(inv, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        bool ready = json_is_true(json_object_get(c, "ready"));
        const char *reason = json_string_value(json_object_get(c, "reason"));
        const json_t *prev = json_object_get(s->last_ready, name);
        json_object_set_new(now, name, json_boolean(ready));
        set_ready_metric(s, name, ready ? 1 : 0);
        if (!prev && s->seen_once)
            s->host->event_emit(
                s->self, "cluster.added", NULL, NULL,
                json_pack("{s:s, s:b}", "cluster", name, "ready", ready));
        if (!ready && !json_is_false(prev)) {
            SMO_LOG_N(s->host, s->self, "cluster %s is NotReady: %s", name,
                      reason && *reason ? reason : "no reason given");
            s->host->event_emit(s->self, "cluster.not_ready", NULL, NULL,
                                json_pack("{s:s, s:s}", "cluster", name,
                                          "reason", reason ? reason : ""));
            json_array_append_new(went_down, json_string(name));
        } else if (ready && json_is_false(prev)) {
            SMO_LOG_N(s->host, s->self, "cluster %s is Ready again", name);
            s->host->event_emit(s->self, "cluster.ready", NULL, NULL,
                                json_pack("{s:s}", "cluster", name));
        }
    }
    const char *name;
    json_t *v;
    json_object_foreach(s->last_ready, name, v)
    {
        if (json_object_get(now, name))
            continue;
        SMO_LOG_N(s->host, s->self, "cluster %s left the federation", name);
        set_ready_metric(s, name, 0);
        s->host->event_emit(s->self, "cluster.removed", NULL, NULL,
                            json_pack("{s:s}", "cluster", name));
    }
    json_decref(s->last_ready);
    s->last_ready = now;
    s->seen_once = true;
    if (s->cfg->replace_on_not_ready && json_array_size(went_down) &&
        !s->stopping)
        request_replacement(s, went_down);
    else
        json_decref(went_down);
}

/* -------------------------------------------------------- inventory -- */

static void finish_inventory(void *arg)
{
    struct smo__kstate *s = arg;
    smo_status st;
    smo_status_clear(&st);
    json_t *inv = NULL;
    if (s->inv_st.code) {
        st = s->inv_st;
        if (st.code == SMO_ENOENT)
            snprintf(st.msg + strlen(st.msg), sizeof st.msg - strlen(st.msg),
                     " (is this a Karmada API server? cluster.karmada.io/"
                     "v1alpha1 is missing)");
    } else {
        char err[200];
        size_t skipped = 0;
        struct smo__kinv_opts o = {s->gpu_names};
        inv = smo__kinv_build(s->inv_list, &o, &skipped, err, sizeof err);
        if (!inv)
            smo_status_set(&st, SMO_EPROTO, "Karmada API %s: %s",
                           smo__kube_config(s->api)->server, err);
        else if (skipped)
            SMO_LOG_W(s->host, s->self,
                      "%zu Karmada cluster%s without a valid name ignored",
                      skipped, skipped == 1 ? "" : "s");
    }
    if (inv && s->sub) {
        if (s->sub_st.code)
            SMO_LOG_W(s->host, s->self, "cluster CIDRs not refreshed: %s",
                      s->sub_st.msg);
        else {
            json_t *cidrs = sub_cidrs(s->inv_sub);
            size_t i;
            json_t *c;
            json_array_foreach(inv, i, c)
            {
                const json_t *x = json_object_get(
                    cidrs, json_string_value(json_object_get(c, "name")));
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)x, k, v) json_object_set(c, k, v);
            }
            json_decref(cidrs);
        }
    }
    json_decref(s->inv_list);
    json_decref(s->inv_sub);
    s->inv_list = s->inv_sub = NULL;
    if (inv)
        track(s, inv);
    struct smo__inv_waiter *w = s->inv_waiters;
    s->inv_waiters = NULL;
    s->inv_busy = false;
    while (w) {
        struct smo__inv_waiter *next = w->next;
        w->cb(w->arg, &st, inv ? json_deep_copy(inv) : NULL);
        free(w);
        w = next;
    }
    json_decref(inv);
    smo__karmada_maybe_stopped(s);
}

static void part_done(struct smo__kstate *s)
{
    if (--s->inv_parts == 0)
        finish_inventory(s);
}

static void on_list(void *arg, const smo_status *st, long http, json_t *body)
{
    struct smo__kstate *s = arg;
    s->inv_st = *st;
    s->inv_list = body;
    part_done(s);
}

static void on_sub(void *arg, const smo_status *st, long http, json_t *body)
{
    struct smo__kstate *s = arg;
    s->sub_st = *st;
    s->inv_sub = body;
    part_done(s);
}

int smo__karmada_inventory(struct smo__kstate *s, smo_exec_cb cb, void *arg,
                           smo_status *st)
{
    if (s->stopping)
        return smo_status_set(st, SMO_ECANCELED, "the executor is stopping");
    struct smo__inv_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    w->cb = cb;
    w->arg = arg;
    /* Callers that arrive while a list is on the wire share its answer. */
    struct smo__inv_waiter **pp = &s->inv_waiters;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    if (s->inv_busy)
        return 0;
    s->inv_busy = true;
    s->inv_parts = 1 + (s->sub != NULL);
    smo_status_clear(&s->inv_st);
    smo_status_clear(&s->sub_st);
    smo_status e;
    smo_status_clear(&e);
    if (smo__kube_request(s->api, "GET", CLUSTERS_PATH, NULL, NULL, on_list, s,
                          &e)) {
        s->inv_st = e;
        s->inv_parts--;
    }
    if (s->sub) {
        char *p = sub_path(s);
        smo_status_clear(&e);
        if (!p ||
            smo__kube_request(s->sub, "GET", p, NULL, NULL, on_sub, s, &e)) {
            s->sub_st = e;
            s->inv_parts--;
        }
        free(p);
    }
    /* Both refused at once: still answer from the loop, not in here. */
    if (s->inv_parts == 0 && s->host->defer(s->self, finish_inventory, s))
        finish_inventory(s);
    return 0;
}

/* ---------------------------------------------------- network_info -- */

struct net_ctx {
    struct smo__kstate *s;
    smo_exec_cb cb;
    void *arg;
};

static void on_net(void *arg, const smo_status *st, long http, json_t *body)
{
    struct net_ctx *c = arg;
    json_t *result = NULL;
    if (!st->code) {
        json_t *cidrs = sub_cidrs(body);
        result = json_pack("{s:o, s:o}", "overlaps", overlaps(cidrs),
                           "clusters", cidrs);
    }
    json_decref(body);
    c->cb(c->arg, st, result);
    free(c);
}

int smo__karmada_network_info(struct smo__kstate *s, smo_exec_cb cb, void *arg,
                              smo_status *st)
{
    if (!s->sub)
        return smo_status_set(st, SMO_ENOTSUP,
                              "no Submariner broker configured "
                              "(submariner.kubeconfig)");
    struct net_ctx *c = calloc(1, sizeof *c);
    char *p = sub_path(s);
    if (!c || !p) {
        free(c);
        free(p);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    int r = smo__kube_request(s->sub, "GET", p, NULL, NULL, on_net, c, st);
    free(p);
    if (r)
        free(c);
    return r;
}

/* ------------------------------------------------------ periodic sync -- */

static void on_synced(void *arg, const smo_status *st, json_t *result)
{
    struct smo__kstate *s = arg;
    s->sync_busy = false;
    if (st->code)
        SMO_LOG_W(s->host, s->self, "periodic cluster sync: %s", st->msg);
    else
        SMO_LOG_D(s->host, s->self, "periodic cluster sync: %zu clusters",
                  json_array_size(result));
    json_decref(result);
    done_busy(s);
}

static void tick(void *arg)
{
    struct smo__kstate *s = arg;
    if (s->sync_busy || s->stopping)
        return;
    /* Through the core, so the store learns what changed and marks the
     * clusters that disappeared as gone (our inventory feeds it). */
    s->sync_busy = true;
    s->busy++;
    if (s->host->call(s->self, "cluster.sync", NULL, on_synced, s)) {
        s->sync_busy = false;
        s->busy--;
    }
}

void smo__karmada_sync_start(struct smo__kstate *s)
{
    int64_t ms = s->cfg->sync_interval_ms;
    if (ms > 0)
        s->sync_timer =
            s->host->timer_start(s->self, (uint64_t)ms, (uint64_t)ms, tick, s);
}

void smo__karmada_sync_stop(struct smo__kstate *s)
{
    if (s->sync_timer)
        s->host->timer_stop(s->sync_timer);
    s->sync_timer = NULL;
}

void smo__karmada_inventory_free(struct smo__kstate *s)
{
    /* Only when stop was cut short: waiters never hear back. */
    while (s->inv_waiters) {
        struct smo__inv_waiter *w = s->inv_waiters;
        s->inv_waiters = w->next;
        free(w);
    }
    json_decref(s->inv_list);
    json_decref(s->inv_sub);
    s->inv_list = s->inv_sub = NULL;
}
