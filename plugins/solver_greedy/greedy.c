#define _GNU_SOURCE
/* Constructive placement plus local search, on "units": a co-location
 * group, or a service alone. Every candidate move is checked against the
 * capacities, the allowed clusters and the latency bounds, and scored by
 * the exact change of the objective (kept incrementally: per-cluster load
 * and the edges of the unit), so a pass costs O(units x clusters x
 * degree). */
#include "greedy.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPS 1e-9

struct unit {
    uint32_t *members;
    uint32_t n;
    double cpu;       /* cores x replicas, all members */
    double mem;       /* bytes */
    double gpu;       /* devices */
    uint8_t *allowed; /* n_clusters */
    uint32_t n_allowed;
    int32_t at; /* cluster, -1 unplaced */
};

struct ctx {
    const struct smo_place_problem *p;
    uint32_t ns, nc, nu;
    struct unit *units;
    uint32_t *unit_of;   /* service -> unit */
    uint32_t *adj_start; /* CSR of edges per service */
    uint32_t *adj;
    double *cpu_load, *mem_load, *gpu_load; /* added by our services */
    double base_util_max; /* peak utilisation of clusters ignoring us */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double demand_cpu(const struct smo_place_service *s)
{
    return s->cpu * s->replicas;
}

static double util(const struct ctx *c, uint32_t k, double extra)
{
    const struct smo_place_cluster *cl = &c->p->clusters[k];
    if (cl->cpu_alloc <= 0)
        return 0;
    return (cl->cpu_used + c->cpu_load[k] + extra) / cl->cpu_alloc;
}

/* ------------------------------------------------ objective and check -- */

double smo__greedy_objective(const struct smo_place_problem *p,
                             const int32_t *a, struct smo_place_weights *t)
{
    struct smo_place_weights w = p->weights, tt = {0, 0, 0, 0};
    for (uint32_t e = 0; e < p->n_edges; e++)
        if (a[p->edges[e].s] != a[p->edges[e].t])
            tt.net += w.net;
    double *load = calloc(p->n_clusters ? p->n_clusters : 1, sizeof *load);
    for (uint32_t s = 0; s < p->n_services; s++) {
        const struct smo_place_service *sv = &p->services[s];
        if (a[s] < 0)
            continue;
        load[a[s]] += demand_cpu(sv);
        if (sv->current >= 0 && sv->current != a[s])
            tt.move += w.move;
        tt.cost += w.cost * p->clusters[a[s]].price * demand_cpu(sv);
    }
    double m = 0;
    for (uint32_t k = 0; k < p->n_clusters; k++) {
        const struct smo_place_cluster *cl = &p->clusters[k];
        if (cl->cpu_alloc > 0) {
            double u = (cl->cpu_used + load[k]) / cl->cpu_alloc;
            m = u > m ? u : m;
        }
    }
    tt.balance = w.balance * m;
    free(load);
    if (t)
        *t = tt;
    return tt.net + tt.balance + tt.move + tt.cost;
}

int smo__greedy_check(const struct smo_place_problem *p, const int32_t *a,
                      char *why, size_t n)
{
    uint32_t nc = p->n_clusters;
    double *cpu = calloc(nc ? nc : 1, sizeof *cpu);
    double *mem = calloc(nc ? nc : 1, sizeof *mem);
    double *gpu = calloc(nc ? nc : 1, sizeof *gpu);
    int rc = 0;
    for (uint32_t s = 0; s < p->n_services && !rc; s++) {
        const struct smo_place_service *sv = &p->services[s];
        if (a[s] < 0 || (uint32_t)a[s] >= nc) {
            snprintf(why, n, "%s is not placed", sv->id);
            rc = -1;
        } else if (sv->allowed && !sv->allowed[a[s]]) {
            snprintf(why, n, "%s may not run on %s", sv->id,
                     p->clusters[a[s]].name);
            rc = -1;
        } else {
            cpu[a[s]] += demand_cpu(sv);
            mem[a[s]] += (double)sv->memory * sv->replicas;
            gpu[a[s]] += (double)sv->gpu * sv->replicas;
        }
    }
    for (uint32_t k = 0; k < nc && !rc; k++) {
        const struct smo_place_cluster *cl = &p->clusters[k];
        if (cpu[k] > cl->cpu_free + EPS || mem[k] > (double)cl->memory_free ||
            gpu[k] > (double)cl->gpu_free) {
            snprintf(why, n, "%s is over capacity", cl->name);
            rc = -1;
        }
    }
    for (uint32_t s = 0; s < p->n_services && !rc; s++)
        for (uint32_t t = s + 1; t < p->n_services && !rc; t++)
            if (p->services[s].coloc >= 0 &&
                p->services[s].coloc == p->services[t].coloc && a[s] != a[t]) {
                snprintf(why, n, "%s and %s must share a cluster",
                         p->services[s].id, p->services[t].id);
                rc = -1;
            }
    for (uint32_t e = 0; e < p->n_edges && !rc; e++) {
        const struct smo_place_edge *ed = &p->edges[e];
        if (ed->max_latency_ms >= 0 && p->latency_ms &&
            p->latency_ms[a[ed->s] * nc + a[ed->t]] > ed->max_latency_ms) {
            snprintf(why, n, "%s and %s are further apart than %g ms",
                     p->services[ed->s].id, p->services[ed->t].id,
                     ed->max_latency_ms);
            rc = -1;
        }
    }
    free(cpu);
    free(mem);
    free(gpu);
    return rc;
}

/* ------------------------------------------------------------- setup -- */

static void ctx_free(struct ctx *c)
{
    for (uint32_t u = 0; u < c->nu; u++) {
        free(c->units[u].members);
        free(c->units[u].allowed);
    }
    free(c->units);
    free(c->unit_of);
    free(c->adj_start);
    free(c->adj);
    free(c->cpu_load);
    free(c->mem_load);
    free(c->gpu_load);
}

static void ctx_init(struct ctx *c, const struct smo_place_problem *p)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    c->ns = p->n_services;
    c->nc = p->n_clusters;
    uint32_t ns = c->ns, nc = c->nc;
    c->unit_of = malloc((ns ? ns : 1) * sizeof *c->unit_of);
    c->units = calloc(ns ? ns : 1, sizeof *c->units);
    /* Units: co-location groups in order of their first service. */
    for (uint32_t s = 0; s < ns; s++)
        c->unit_of[s] = UINT32_MAX;
    for (uint32_t s = 0; s < ns; s++) {
        if (c->unit_of[s] != UINT32_MAX)
            continue;
        struct unit *u = &c->units[c->nu];
        u->members = malloc(ns * sizeof *u->members);
        u->allowed = malloc(nc ? nc : 1);
        memset(u->allowed, 1, nc ? nc : 1);
        u->at = -1;
        for (uint32_t t = s; t < ns; t++) {
            bool same =
                t == s || (p->services[s].coloc >= 0 &&
                           p->services[t].coloc == p->services[s].coloc);
            if (!same)
                continue;
            const struct smo_place_service *sv = &p->services[t];
            u->members[u->n++] = t;
            c->unit_of[t] = c->nu;
            u->cpu += demand_cpu(sv);
            u->mem += (double)sv->memory * sv->replicas;
            u->gpu += (double)sv->gpu * sv->replicas;
            if (sv->allowed)
                for (uint32_t k = 0; k < nc; k++)
                    u->allowed[k] &= sv->allowed[k];
        }
        for (uint32_t k = 0; k < nc; k++)
            u->n_allowed += u->allowed[k];
        c->nu++;
    }
    /* Edges by service (CSR). */
    c->adj_start = calloc(ns + 1, sizeof *c->adj_start);
    for (uint32_t e = 0; e < p->n_edges; e++) {
        c->adj_start[p->edges[e].s + 1]++;
        c->adj_start[p->edges[e].t + 1]++;
    }
    for (uint32_t s = 0; s < ns; s++)
        c->adj_start[s + 1] += c->adj_start[s];
    c->adj = malloc((2 * p->n_edges + 1) * sizeof *c->adj);
    uint32_t *fill = calloc(ns + 1, sizeof *fill);
    for (uint32_t e = 0; e < p->n_edges; e++) {
        uint32_t a = p->edges[e].s, b = p->edges[e].t;
        c->adj[c->adj_start[a] + fill[a]++] = e;
        c->adj[c->adj_start[b] + fill[b]++] = e;
    }
    free(fill);
    c->cpu_load = calloc(nc ? nc : 1, sizeof *c->cpu_load);
    c->mem_load = calloc(nc ? nc : 1, sizeof *c->mem_load);
    c->gpu_load = calloc(nc ? nc : 1, sizeof *c->gpu_load);
}

static int32_t cluster_of(const struct ctx *c, uint32_t s)
{
    return c->units[c->unit_of[s]].at;
}

static bool fits(const struct ctx *c, const struct unit *u, uint32_t k)
{
    const struct smo_place_cluster *cl = &c->p->clusters[k];
    return u->allowed[k] && c->cpu_load[k] + u->cpu <= cl->cpu_free + EPS &&
           c->mem_load[k] + u->mem <= (double)cl->memory_free &&
           c->gpu_load[k] + u->gpu <= (double)cl->gpu_free;
}

/* Latency bounds against the placed neighbours if `u` goes to `k`. */
static bool latency_ok(const struct ctx *c, const struct unit *u, uint32_t k)
{
    const struct smo_place_problem *p = c->p;
    if (!p->latency_ms)
        return true;
    for (uint32_t m = 0; m < u->n; m++) {
        uint32_t s = u->members[m];
        for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1]; x++) {
            const struct smo_place_edge *e = &p->edges[c->adj[x]];
            if (e->max_latency_ms < 0)
                continue;
            uint32_t o = e->s == s ? e->t : e->s;
            if (c->unit_of[o] == c->unit_of[s])
                continue;
            int32_t ko = cluster_of(c, o);
            if (ko >= 0 &&
                p->latency_ms[k * c->nc + (uint32_t)ko] > e->max_latency_ms)
                return false;
        }
    }
    return true;
}

/* Peak utilisation if `u` moved from `from` (or -1) to `to` (or -1). */
static double peak_after(const struct ctx *c, const struct unit *u,
                         int32_t from, int32_t to)
{
    double m = 0;
    for (uint32_t k = 0; k < c->nc; k++) {
        double extra = 0;
        if ((int32_t)k == from)
            extra -= u->cpu;
        if ((int32_t)k == to)
            extra += u->cpu;
        double v = util(c, k, extra);
        m = v > m ? v : m;
    }
    return m;
}

/* Objective change if `u` moves from its cluster to `k`, excluding the
 * balance term (computed by the caller from the peak). */
static double delta_linear(const struct ctx *c, const struct unit *u,
                           uint32_t k)
{
    const struct smo_place_problem *p = c->p;
    const struct smo_place_weights *w = &p->weights;
    double d = 0;
    int32_t from = u->at;
    for (uint32_t m = 0; m < u->n; m++) {
        uint32_t s = u->members[m];
        const struct smo_place_service *sv = &p->services[s];
        for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1]; x++) {
            const struct smo_place_edge *e = &p->edges[c->adj[x]];
            uint32_t o = e->s == s ? e->t : e->s;
            if (c->unit_of[o] == c->unit_of[s])
                continue;
            int32_t ko = cluster_of(c, o);
            if (ko < 0)
                continue; /* not placed yet: counted when it is */
            bool before = from >= 0 && from != ko;
            bool after = (int32_t)k != ko;
            d += w->net * ((double)after - (double)before);
        }
        if (sv->current >= 0) {
            bool before = from >= 0 && from != sv->current;
            bool after = (int32_t)k != sv->current;
            d += w->move * ((double)after - (double)before);
        }
        double pk = p->clusters[k].price;
        double pf = from >= 0 ? p->clusters[from].price : 0;
        d += w->cost * (pk - pf) * demand_cpu(sv);
    }
    return d;
}

static void assign_unit(struct ctx *c, struct unit *u, int32_t k)
{
    if (u->at >= 0) {
        c->cpu_load[u->at] -= u->cpu;
        c->mem_load[u->at] -= u->mem;
        c->gpu_load[u->at] -= u->gpu;
    }
    u->at = k;
    if (k >= 0) {
        c->cpu_load[k] += u->cpu;
        c->mem_load[k] += u->mem;
        c->gpu_load[k] += u->gpu;
    }
}

static double peak_now(const struct ctx *c)
{
    double m = 0;
    for (uint32_t k = 0; k < c->nc; k++) {
        double v = util(c, k, 0);
        m = v > m ? v : m;
    }
    return m;
}

/* Best cluster for `u` (lowest score, ties: lowest index), -1 if none. */
static int32_t best_for(const struct ctx *c, const struct unit *u,
                        double *score)
{
    int32_t best = -1;
    double bs = 0;
    double base_peak = peak_now(c);
    for (uint32_t k = 0; k < c->nc; k++) {
        if ((int32_t)k == u->at || !fits(c, u, k) || !latency_ok(c, u, k))
            continue;
        double s = delta_linear(c, u, k) +
                   c->p->weights.balance *
                       (peak_after(c, u, u->at, (int32_t)k) - base_peak);
        if (best < 0 || s < bs - EPS) {
            best = (int32_t)k;
            bs = s;
        }
    }
    if (score)
        *score = bs;
    return best;
}

static int cmp_units(const void *a, const void *b, void *arg)
{
    const struct ctx *c = arg;
    const struct unit *x = &c->units[*(const uint32_t *)a];
    const struct unit *y = &c->units[*(const uint32_t *)b];
    if (x->n_allowed != y->n_allowed)
        return x->n_allowed < y->n_allowed ? -1 : 1;
    double dx = x->cpu + x->gpu * 1000, dy = y->cpu + y->gpu * 1000;
    if (fabs(dx - dy) > EPS)
        return dx > dy ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Make room for `u` by moving one placed unit elsewhere. */
static bool repair(struct ctx *c, struct unit *u)
{
    for (uint32_t v = 0; v < c->nu; v++) {
        struct unit *o = &c->units[v];
        if (o->at < 0 || o == u)
            continue;
        int32_t from = o->at;
        for (uint32_t k = 0; k < c->nc; k++) {
            if ((int32_t)k == from || !fits(c, o, k) || !latency_ok(c, o, k))
                continue;
            assign_unit(c, o, (int32_t)k);
            int32_t t = best_for(c, u, NULL);
            if (t >= 0) {
                assign_unit(c, u, t);
                return true;
            }
            assign_unit(c, o, from);
        }
    }
    return false;
}

/* Can `a` and `b` exchange clusters (capacity, allowed, latency)? */
static bool swap_ok(struct ctx *c, struct unit *a, struct unit *b)
{
    int32_t ka = a->at, kb = b->at;
    if (!a->allowed[kb] || !b->allowed[ka])
        return false;
    assign_unit(c, a, -1);
    assign_unit(c, b, -1);
    bool ok = fits(c, a, (uint32_t)kb) && fits(c, b, (uint32_t)ka);
    if (ok) {
        assign_unit(c, a, kb);
        ok = fits(c, b, (uint32_t)ka);
        if (ok) {
            assign_unit(c, b, ka);
            ok = latency_ok(c, a, (uint32_t)kb) &&
                 latency_ok(c, b, (uint32_t)ka);
            assign_unit(c, b, -1);
        }
        assign_unit(c, a, -1);
    }
    assign_unit(c, a, ka);
    assign_unit(c, b, kb);
    return ok;
}

/* Objective change of exchanging the clusters of `a` and `b`. */
static double swap_delta(const struct ctx *c, const struct unit *a,
                         const struct unit *b)
{
    int32_t ka = a->at, kb = b->at;
    double d =
        delta_linear(c, a, (uint32_t)kb) + delta_linear(c, b, (uint32_t)ka);
    /* Edges between a and b stay split; delta_linear counted each one as
     * joined, once from each side. */
    for (uint32_t m = 0; m < a->n; m++) {
        uint32_t s = a->members[m];
        for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1]; x++) {
            const struct smo_place_edge *e = &c->p->edges[c->adj[x]];
            uint32_t o = e->s == s ? e->t : e->s;
            if (&c->units[c->unit_of[o]] == b)
                d += 2 * c->p->weights.net;
        }
    }
    double m = 0;
    for (uint32_t k = 0; k < c->nc; k++) {
        double extra = 0;
        if ((int32_t)k == ka)
            extra += b->cpu - a->cpu;
        if ((int32_t)k == kb)
            extra += a->cpu - b->cpu;
        double v = util(c, k, extra);
        m = v > m ? v : m;
    }
    return d + c->p->weights.balance * (m - peak_now(c));
}

int smo__greedy_place(const struct smo_place_problem *p, int32_t *assign,
                      int64_t budget_ms, char *why, size_t n)
{
    struct ctx c;
    ctx_init(&c, p);
    uint64_t deadline =
        now_ns() + (uint64_t)(budget_ms > 0 ? budget_ms : 1000) * 1000000ull;
    uint32_t *order = malloc((c.nu ? c.nu : 1) * sizeof *order);
    for (uint32_t u = 0; u < c.nu; u++)
        order[u] = u;
    qsort_r(order, c.nu, sizeof *order, cmp_units, &c);
    int rc = 0;
    for (uint32_t i = 0; i < c.nu && !rc; i++) {
        struct unit *u = &c.units[order[i]];
        int32_t k = best_for(&c, u, NULL);
        if (k >= 0)
            assign_unit(&c, u, k);
        else if (!repair(&c, u)) {
            const struct smo_place_service *sv = &p->services[u->members[0]];
            snprintf(why, n,
                     "no cluster left for %s%s (%.3g cores, %.0f bytes, %.0f "
                     "GPUs with its replicas%s)",
                     sv->id, u->n > 1 ? " and its co-located services" : "",
                     u->cpu, u->mem, u->gpu,
                     p->latency_ms ? ", within its latency bounds" : "");
            rc = -1;
        }
    }
    /* Local search: moves, then swaps, until nothing improves. */
    for (int pass = 0; !rc && pass < 100 && now_ns() < deadline; pass++) {
        bool improved = false;
        for (uint32_t i = 0; i < c.nu; i++) {
            struct unit *u = &c.units[i];
            double s;
            int32_t k = best_for(&c, u, &s);
            if (k >= 0 && s < -EPS) {
                assign_unit(&c, u, k);
                improved = true;
            }
        }
        if (improved)
            continue;
        for (uint32_t i = 0; i < c.nu && now_ns() < deadline; i++) {
            for (uint32_t j = i + 1; j < c.nu; j++) {
                struct unit *a = &c.units[i], *b = &c.units[j];
                double d;
                if (a->at == b->at || !swap_ok(&c, a, b) ||
                    (d = swap_delta(&c, a, b)) >= -EPS)
                    continue;
                int32_t ka = a->at, kb = b->at;
                assign_unit(&c, a, -1);
                assign_unit(&c, b, -1);
                assign_unit(&c, a, kb);
                assign_unit(&c, b, ka);
                improved = true;
            }
        }
        if (!improved)
            break;
    }
    if (!rc)
        for (uint32_t s = 0; s < c.ns; s++)
            assign[s] = cluster_of(&c, s);
    free(order);
    ctx_free(&c);
    if (!rc && smo__greedy_check(p, assign, why, n))
        rc = -1; /* never hand back an infeasible assignment */
    return rc;
}

/* -------------------------------------------------------------- scale -- */

int smo__greedy_scale(const struct smo_scale_problem *p, uint32_t *r,
                      double *unmet, double *objective, char *why, size_t n)
{
    uint32_t ns = p->n_services, nc = p->n_clusters;
    for (uint32_t i = 0; i < ns; i++) {
        const struct smo_scale_service *s = &p->services[i];
        double need = s->alpha > 0
                          ? ceil((s->lambda - s->beta) / s->alpha - EPS)
                          : s->min_replicas;
        if (need < s->min_replicas)
            need = s->min_replicas;
        if (need > s->max_replicas)
            need = s->max_replicas;
        if (s->max_step) {
            double lo = (double)s->prev - s->max_step;
            double hi = (double)s->prev + s->max_step;
            need = need < lo ? lo : need > hi ? hi : need;
            if (need < s->min_replicas)
                need = s->min_replicas;
        }
        r[i] = (uint32_t)need;
    }
    /* Clusters short of cpu or GPUs: take replicas back where the least
     * demand goes unmet per core freed. */
    for (uint32_t k = 0; k < nc; k++) {
        for (int guard = 0; guard < 100000; guard++) {
            double cpu = 0, gpu = 0;
            for (uint32_t i = 0; i < ns; i++)
                if (p->services[i].cluster == k) {
                    cpu += p->services[i].cpu * r[i];
                    gpu += (double)p->services[i].gpu * r[i];
                }
            bool cpu_over = cpu > p->cluster_cpu[k] + EPS;
            bool gpu_over = p->cluster_gpu && gpu > p->cluster_gpu[k] + EPS;
            if (!cpu_over && !gpu_over)
                break;
            int32_t pick = -1;
            double best = 0;
            for (uint32_t i = 0; i < ns; i++) {
                const struct smo_scale_service *s = &p->services[i];
                if (s->cluster != k || r[i] <= s->min_replicas)
                    continue;
                if (s->max_step &&
                    (double)r[i] <= (double)s->prev - s->max_step)
                    continue;
                if (gpu_over && !cpu_over && s->gpu == 0)
                    continue;
                double lost = s->alpha / (s->cpu > 0 ? s->cpu : 1);
                if (pick < 0 || lost < best - EPS) {
                    pick = (int32_t)i;
                    best = lost;
                }
            }
            if (pick < 0) {
                snprintf(why, n,
                         "cluster %u cannot hold even the minimum replicas of "
                         "its services",
                         k);
                return -1;
            }
            r[pick]--;
        }
    }
    double U = 0, obj = 0;
    for (uint32_t i = 0; i < ns; i++) {
        double v = p->services[i].max_replicas * p->services[i].cpu;
        U = v > U ? v : U;
    }
    for (uint32_t i = 0; i < ns; i++) {
        const struct smo_scale_service *s = &p->services[i];
        double served = s->alpha * r[i] + s->beta;
        unmet[i] = s->lambda > served ? s->lambda - served : 0;
        double d = fabs((double)r[i] - (double)s->prev);
        obj += p->weights.util * s->cpu * r[i] / (U > 0 ? U : 1) +
               p->weights.trans * d / (s->max_replicas ? s->max_replicas : 1) +
               p->weights.unmet * unmet[i] / (s->lambda > 1 ? s->lambda : 1);
    }
    *objective = obj;
    return 0;
}
