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
    /* The three most utilised clusters, recomputed after a change: the
     * peak after moving one unit is then found in constant time. */
    bool top_dirty;
    uint32_t ntop, top[3];
    double topv[3];
    /* Each unit's linear change per cluster (delta_linear), computed on
     * demand and valid until any unit moves: the swap pass asks for the
     * same rows over and over. */
    double *rows;    /* nu x nc */
    uint64_t *stamp; /* unit -> epoch + 1 its row was computed at (0: none) */
    uint64_t epoch;  /* bumped by every move */
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
    free(c->rows);
    free(c->stamp);
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
    c->rows = malloc(((size_t)c->nu * nc + 1) * sizeof *c->rows);
    c->stamp = calloc(c->nu + 1, sizeof *c->stamp);
    c->top_dirty = true;
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

static void refresh_top(const struct ctx *cc)
{
    struct ctx *c = (struct ctx *)cc; /* a cache, not the state */
    if (!c->top_dirty)
        return;
    c->ntop = 0;
    for (uint32_t k = 0; k < c->nc; k++) {
        double v = util(c, k, 0);
        uint32_t i = c->ntop < 3 ? c->ntop++ : 3;
        while (i > 0 && c->topv[i - 1] < v) {
            if (i < 3) {
                c->top[i] = c->top[i - 1];
                c->topv[i] = c->topv[i - 1];
            }
            i--;
        }
        if (i < 3) {
            c->top[i] = k;
            c->topv[i] = v;
        }
    }
    c->top_dirty = false;
}

/* Peak utilisation with `da` more cores on cluster `a` and `db` more on
 * `b` (either may be -1). */
static double peak_with(const struct ctx *c, int32_t a, double da, int32_t b,
                        double db)
{
    refresh_top(c);
    double m = 0;
    for (uint32_t i = 0; i < c->ntop; i++)
        if ((int32_t)c->top[i] != a && (int32_t)c->top[i] != b) {
            m = c->topv[i];
            break;
        }
    if (a >= 0) {
        double v = util(c, (uint32_t)a, a == b ? da + db : da);
        m = v > m ? v : m;
    }
    if (b >= 0 && b != a) {
        double v = util(c, (uint32_t)b, db);
        m = v > m ? v : m;
    }
    return m;
}

/* Peak utilisation if `u` moved from `from` (or -1) to `to` (or -1). */
static double peak_after(const struct ctx *c, const struct unit *u,
                         int32_t from, int32_t to)
{
    return peak_with(c, from, -u->cpu, to, u->cpu);
}

/* Objective change if `u` moves from its cluster to each cluster,
 * excluding the balance term (computed by the caller from the peak). */
static const double *row_of(const struct ctx *cc, const struct unit *u)
{
    struct ctx *c = (struct ctx *)cc; /* a cache, not the state */
    uint32_t nc = c->nc, i = (uint32_t)(u - c->units);
    double *row = c->rows + (size_t)i * nc;
    if (c->stamp[i] == c->epoch + 1)
        return row;
    const struct smo_place_problem *p = c->p;
    const struct smo_place_weights *w = &p->weights;
    int32_t from = u->at;
    /* Every cluster but one gains or loses the same: a common part, and a
     * correction at the cluster of the neighbour (or current cluster). */
    double base = 0;
    for (uint32_t k = 0; k < nc; k++)
        row[k] =
            w->cost *
            (p->clusters[k].price - (from >= 0 ? p->clusters[from].price : 0)) *
            u->cpu;
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
            base += w->net * (1.0 - (double)before);
            row[ko] -= w->net;
        }
        if (sv->current >= 0) {
            bool before = from >= 0 && from != sv->current;
            base += w->move * (1.0 - (double)before);
            row[sv->current] -= w->move;
        }
    }
    for (uint32_t k = 0; k < nc; k++)
        row[k] += base;
    c->stamp[i] = c->epoch + 1;
    return row;
}

static double delta_linear(const struct ctx *c, const struct unit *u,
                           uint32_t k)
{
    return row_of(c, u)[k];
}

static void assign_unit(struct ctx *c, struct unit *u, int32_t k)
{
    c->epoch++;
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
    c->top_dirty = true;
}

static double peak_now(const struct ctx *c)
{
    refresh_top(c);
    return c->ntop ? c->topv[0] : 0;
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

static bool adjacent(const struct ctx *c, const struct unit *a,
                     const struct unit *b)
{
    for (uint32_t m = 0; m < a->n; m++) {
        uint32_t s = a->members[m];
        for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1]; x++) {
            const struct smo_place_edge *e = &c->p->edges[c->adj[x]];
            if (&c->units[c->unit_of[e->s == s ? e->t : e->s]] == b)
                return true;
        }
    }
    return false;
}

/* Does `u` fit on `k` once `out` has left it? */
static bool fits_instead(const struct ctx *c, const struct unit *u,
                         const struct unit *out, uint32_t k)
{
    const struct smo_place_cluster *cl = &c->p->clusters[k];
    return u->allowed[k] &&
           c->cpu_load[k] - out->cpu + u->cpu <= cl->cpu_free + EPS &&
           c->mem_load[k] - out->mem + u->mem <= (double)cl->memory_free &&
           c->gpu_load[k] - out->gpu + u->gpu <= (double)cl->gpu_free;
}

/* Can `a` and `b` exchange clusters (capacity, allowed, latency)? */
static bool swap_ok(struct ctx *c, struct unit *a, struct unit *b)
{
    int32_t ka = a->at, kb = b->at;
    if (!fits_instead(c, a, b, (uint32_t)kb) ||
        !fits_instead(c, b, a, (uint32_t)ka))
        return false;
    if (!c->p->latency_ms)
        return true;
    if (!adjacent(c, a, b))
        return latency_ok(c, a, (uint32_t)kb) && latency_ok(c, b, (uint32_t)ka);
    /* Neighbours: check from the swapped positions. */
    assign_unit(c, a, kb);
    assign_unit(c, b, ka);
    bool ok = latency_ok(c, a, (uint32_t)kb) && latency_ok(c, b, (uint32_t)ka);
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
    double m = peak_with(c, ka, b->cpu - a->cpu, kb, a->cpu - b->cpu);
    return d + c->p->weights.balance * (m - peak_now(c));
}

/* Units in connection order: from each not yet visited unit, taken in
 * `order` (hardest first), a breadth-first walk over the connections, so
 * that connected services are placed one after the other and can join
 * their neighbours while those still have room. */
static void bfs_order(const struct ctx *c, const uint32_t *order, uint32_t *out)
{
    const struct smo_place_problem *p = c->p;
    uint8_t *seen = calloc(c->nu ? c->nu : 1, 1);
    uint32_t head = 0, tail = 0;
    for (uint32_t i = 0; i < c->nu; i++) {
        if (seen[order[i]])
            continue;
        seen[order[i]] = 1;
        out[tail++] = order[i];
        while (head < tail) {
            const struct unit *u = &c->units[out[head++]];
            for (uint32_t m = 0; m < u->n; m++) {
                uint32_t s = u->members[m];
                for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1];
                     x++) {
                    const struct smo_place_edge *e = &p->edges[c->adj[x]];
                    uint32_t o = c->unit_of[e->s == s ? e->t : e->s];
                    if (!seen[o]) {
                        seen[o] = 1;
                        out[tail++] = o;
                    }
                }
            }
        }
    }
    free(seen);
}

/* Place every unit in `order`; 0, or -1 and `why`. */
static int construct(struct ctx *c, const uint32_t *order, char *why, size_t n)
{
    const struct smo_place_problem *p = c->p;
    for (uint32_t u = 0; u < c->nu; u++)
        assign_unit(c, &c->units[u], -1);
    for (uint32_t i = 0; i < c->nu; i++) {
        struct unit *u = &c->units[order[i]];
        int32_t k = best_for(c, u, NULL);
        if (k >= 0)
            assign_unit(c, u, k);
        else if (!repair(c, u)) {
            const struct smo_place_service *sv = &p->services[u->members[0]];
            snprintf(why, n,
                     "no cluster left for %s%s (%.3g cores, %.0f bytes, %.0f "
                     "GPUs with its replicas%s)",
                     sv->id, u->n > 1 ? " and its co-located services" : "",
                     u->cpu, u->mem, u->gpu,
                     p->latency_ms ? ", within its latency bounds" : "");
            return -1;
        }
    }
    return 0;
}

/* Graph growing: clusters are filled one after the other up to the level
 * of utilisation that spreads the whole load evenly, each time with the
 * unplaced unit most connected to what the cluster already holds, so that
 * connected services end up together. Units that fit no cluster's share
 * are placed last by best_for. The hardest units (few allowed clusters,
 * GPUs) go first, by best_for, so that they keep their few options. */
static int construct_grow(struct ctx *c, const uint32_t *order, char *why,
                          size_t n)
{
    const struct smo_place_problem *p = c->p;
    uint32_t nu = c->nu, nc = c->nc;
    for (uint32_t u = 0; u < nu; u++)
        assign_unit(c, &c->units[u], -1);
    double used = 0, alloc = 0, demand = 0;
    for (uint32_t k = 0; k < nc; k++) {
        used += p->clusters[k].cpu_used;
        alloc += p->clusters[k].cpu_alloc;
    }
    for (uint32_t u = 0; u < nu; u++)
        demand += c->units[u].cpu;
    double level = alloc > 0 ? (used + demand) / alloc : 1;
    uint32_t *place = malloc((nu ? nu : 1) * sizeof *place);
    double *conn = calloc(nu ? nu : 1, sizeof *conn);
    uint32_t np = 0;
    /* The hardest first, where best_for puts them. */
    for (uint32_t i = 0; i < nu; i++) {
        struct unit *u = &c->units[order[i]];
        if (u->n_allowed * 4 <= nc || u->gpu > 0)
            place[np++] = order[i];
    }
    int rc = 0;
    for (uint32_t i = 0; i < np && !rc; i++) {
        struct unit *u = &c->units[place[i]];
        int32_t k = best_for(c, u, NULL);
        if (k >= 0)
            assign_unit(c, u, k);
        else
            rc = -1;
    }
    /* Grow each cluster, largest first. */
    uint32_t *ks = malloc((nc ? nc : 1) * sizeof *ks);
    for (uint32_t k = 0; k < nc; k++)
        ks[k] = k;
    for (uint32_t i = 1; i < nc; i++)
        for (uint32_t j = i; j > 0 && p->clusters[ks[j]].cpu_alloc >
                                          p->clusters[ks[j - 1]].cpu_alloc;
             j--) {
            uint32_t t = ks[j];
            ks[j] = ks[j - 1];
            ks[j - 1] = t;
        }
    for (uint32_t ki = 0; ki < nc && !rc; ki++) {
        uint32_t k = ks[ki];
        const struct smo_place_cluster *cl = &p->clusters[k];
        double share = level * cl->cpu_alloc - cl->cpu_used;
        memset(conn, 0, nu * sizeof *conn);
        /* What is there already attracts its neighbours. */
        for (uint32_t u = 0; u < nu; u++) {
            if (c->units[u].at != (int32_t)k)
                continue;
            const struct unit *w = &c->units[u];
            for (uint32_t m = 0; m < w->n; m++) {
                uint32_t s = w->members[m];
                for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1];
                     x++) {
                    const struct smo_place_edge *e = &p->edges[c->adj[x]];
                    conn[c->unit_of[e->s == s ? e->t : e->s]] += 1;
                }
            }
        }
        for (;;) {
            int32_t pick = -1;
            for (uint32_t i = 0; i < nu; i++) {
                struct unit *u = &c->units[order[i]];
                if (u->at >= 0 || c->cpu_load[k] + u->cpu > share + EPS ||
                    !fits(c, u, k) || !latency_ok(c, u, k))
                    continue;
                if (pick < 0 || conn[order[i]] > conn[pick] + EPS)
                    pick = (int32_t)order[i];
            }
            if (pick < 0)
                break;
            struct unit *u = &c->units[pick];
            assign_unit(c, u, (int32_t)k);
            for (uint32_t m = 0; m < u->n; m++) {
                uint32_t s = u->members[m];
                for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1];
                     x++) {
                    const struct smo_place_edge *e = &p->edges[c->adj[x]];
                    conn[c->unit_of[e->s == s ? e->t : e->s]] += 1;
                }
            }
        }
    }
    free(ks);
    /* What is left, where it fits best. */
    for (uint32_t i = 0; i < nu && !rc; i++) {
        struct unit *u = &c->units[order[i]];
        if (u->at >= 0)
            continue;
        int32_t k = best_for(c, u, NULL);
        if (k >= 0)
            assign_unit(c, u, k);
        else if (!repair(c, u))
            rc = -1;
    }
    if (rc)
        snprintf(why, n, "graph growing left a service without a cluster");
    free(place);
    free(conn);
    return rc;
}

/* ---------------------------------------------- moves of connected sets -- */

#define GROUP_MAX 24

/* Units reachable from `u` through connections that stay inside its
 * cluster (a piece of an application), at most GROUP_MAX; 0 when the piece
 * is larger. `mark` is all zero on entry and on return. */
static uint32_t piece(const struct ctx *c, uint32_t u, uint32_t *out,
                      uint8_t *mark)
{
    const struct smo_place_problem *p = c->p;
    int32_t k = c->units[u].at;
    uint32_t n = 0, head = 0;
    bool big = false;
    out[n++] = u;
    mark[u] = 1;
    while (head < n && !big) {
        const struct unit *w = &c->units[out[head++]];
        for (uint32_t m = 0; m < w->n && !big; m++) {
            uint32_t s = w->members[m];
            for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1]; x++) {
                const struct smo_place_edge *e = &p->edges[c->adj[x]];
                uint32_t o = c->unit_of[e->s == s ? e->t : e->s];
                if (mark[o] || c->units[o].at != k)
                    continue;
                if (n == GROUP_MAX) {
                    big = true;
                    break;
                }
                mark[o] = 1;
                out[n++] = o;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++)
        mark[out[i]] = 0;
    return big ? 0 : n;
}

/* Objective change of moving the piece `set` (all on one cluster) to
 * `to`, or a positive infinity-like value when it may not go there. */
static double piece_delta(struct ctx *c, const uint32_t *set, uint32_t n,
                          uint32_t to, uint8_t *mark)
{
    const struct smo_place_problem *p = c->p;
    const struct smo_place_weights *w = &p->weights;
    const struct smo_place_cluster *cl = &p->clusters[to];
    int32_t from = c->units[set[0]].at;
    double cpu = 0, mem = 0, gpu = 0, d = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct unit *u = &c->units[set[i]];
        if (!u->allowed[to])
            d = 1e300;
        cpu += u->cpu;
        mem += u->mem;
        gpu += u->gpu;
        mark[set[i]] = 1;
    }
    if (d >= 1e300 || c->cpu_load[to] + cpu > cl->cpu_free + EPS ||
        c->mem_load[to] + mem > (double)cl->memory_free ||
        c->gpu_load[to] + gpu > (double)cl->gpu_free)
        d = 1e300;
    for (uint32_t i = 0; i < n && d < 1e300; i++) {
        const struct unit *u = &c->units[set[i]];
        for (uint32_t m = 0; m < u->n && d < 1e300; m++) {
            uint32_t s = u->members[m];
            const struct smo_place_service *sv = &p->services[s];
            if (sv->current >= 0)
                d += w->move * ((double)(sv->current != (int32_t)to) -
                                (double)(sv->current != from));
            d += w->cost * (p->clusters[to].price - p->clusters[from].price) *
                 demand_cpu(sv);
            for (uint32_t x = c->adj_start[s]; x < c->adj_start[s + 1]; x++) {
                const struct smo_place_edge *e = &p->edges[c->adj[x]];
                uint32_t o = c->unit_of[e->s == s ? e->t : e->s];
                if (mark[o])
                    continue; /* inside the piece: moves along */
                int32_t ko = c->units[o].at;
                d += w->net *
                     ((double)(ko != (int32_t)to) - (double)(ko != from));
                if (p->latency_ms && e->max_latency_ms >= 0) {
                    uint32_t cs = e->s == s ? to : (uint32_t)ko;
                    uint32_t ct = e->s == s ? (uint32_t)ko : to;
                    if (p->latency_ms[(size_t)cs * c->nc + ct] >
                        e->max_latency_ms)
                        d = 1e300;
                }
            }
        }
    }
    for (uint32_t i = 0; i < n; i++)
        mark[set[i]] = 0;
    if (d >= 1e300)
        return d;
    return d + w->balance *
                   (peak_with(c, from, -cpu, (int32_t)to, cpu) - peak_now(c));
}

/* For every split connection, try moving the piece on either side over to
 * the other side's cluster; apply the best improvement per seed. */
static bool piece_moves(struct ctx *c, uint64_t deadline)
{
    const struct smo_place_problem *p = c->p;
    uint32_t *set = malloc(GROUP_MAX * sizeof *set);
    uint8_t *mark = calloc(c->nu ? c->nu : 1, 1);
    bool improved = false;
    for (uint32_t e = 0; e < p->n_edges; e++) {
        if (e % 64 == 0 && now_ns() >= deadline)
            break;
        for (int side = 0; side < 2; side++) {
            uint32_t a = c->unit_of[side ? p->edges[e].t : p->edges[e].s];
            uint32_t b = c->unit_of[side ? p->edges[e].s : p->edges[e].t];
            if (c->units[a].at == c->units[b].at)
                break;
            uint32_t n = piece(c, a, set, mark);
            if (!n)
                continue;
            uint32_t to = (uint32_t)c->units[b].at;
            if (piece_delta(c, set, n, to, mark) < -EPS) {
                for (uint32_t i = 0; i < n; i++)
                    assign_unit(c, &c->units[set[i]], (int32_t)to);
                improved = true;
            }
        }
    }
    free(set);
    free(mark);
    return improved;
}

/* Moves, then swaps, until nothing improves or the deadline. */
static void local_search(struct ctx *c, uint64_t deadline)
{
    for (int pass = 0; pass < 100 && now_ns() < deadline; pass++) {
        bool improved = false;
        for (uint32_t i = 0; i < c->nu; i++) {
            struct unit *u = &c->units[i];
            double s;
            int32_t k = best_for(c, u, &s);
            if (k >= 0 && s < -EPS) {
                assign_unit(c, u, k);
                improved = true;
            }
        }
        if (improved)
            continue;
        for (uint32_t i = 0; i < c->nu; i++) {
            /* The clock is a system call on some virtual machines. */
            if (i % 32 == 0 && now_ns() >= deadline)
                break;
            for (uint32_t j = i + 1; j < c->nu; j++) {
                struct unit *a = &c->units[i], *b = &c->units[j];
                if (a->at == b->at || swap_delta(c, a, b) >= -EPS ||
                    !swap_ok(c, a, b))
                    continue;
                int32_t ka = a->at, kb = b->at;
                assign_unit(c, a, -1);
                assign_unit(c, b, -1);
                assign_unit(c, a, kb);
                assign_unit(c, b, ka);
                improved = true;
            }
        }
        if (improved)
            continue;
        if (!piece_moves(c, deadline))
            break;
    }
}

int smo__greedy_place(const struct smo_place_problem *p, int32_t *assign,
                      int64_t budget_ms, char *why, size_t n)
{
    struct ctx c;
    ctx_init(&c, p);
    uint64_t deadline =
        now_ns() + (uint64_t)(budget_ms > 0 ? budget_ms : 1000) * 1000000ull;
    uint32_t *order = malloc((c.nu ? c.nu : 1) * sizeof *order);
    uint32_t *walk = malloc((c.nu ? c.nu : 1) * sizeof *walk);
    int32_t *cand = malloc((c.ns ? c.ns : 1) * sizeof *cand);
    for (uint32_t u = 0; u < c.nu; u++)
        order[u] = u;
    qsort_r(order, c.nu, sizeof *order, cmp_units, &c);
    bfs_order(&c, order, walk);
    /* Three constructions, each improved by local search; the best wins
     * (the first on a tie). Graph growing keeps connected services
     * together at an even load; connection order keeps neighbours
     * within their latency bounds; hardest-first packs best. */
    const uint32_t *orders[3] = {order, walk, order};
    double best = 0;
    int rc = -1;
    for (int o = 0; o < 3; o++) {
        if (o && rc == 0 && now_ns() >= deadline)
            break;
        int built = o == 0 ? construct_grow(&c, order, why, n)
                           : construct(&c, orders[o], why, n);
        if (built)
            continue;
        local_search(&c, deadline);
        for (uint32_t s = 0; s < c.ns; s++)
            cand[s] = cluster_of(&c, s);
        double v = smo__greedy_objective(p, cand, NULL);
        if (rc || v < best - EPS) {
            memcpy(assign, cand, c.ns * sizeof *cand);
            best = v;
            rc = 0;
        }
    }
    free(order);
    free(walk);
    free(cand);
    ctx_free(&c);
    if (!rc && smo__greedy_check(p, assign, why, n))
        rc = -1; /* never hand back an infeasible assignment */
    return rc;
}

/* ------------------------------------------------------------ explain -- */

static void fmt_mem(char *b, size_t n, double bytes)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(b, n, "%.3g %s", bytes, unit[u]);
}

/* "a", "a and b", "a, b and 2 more": the services of a unit. */
static void unit_names(const struct ctx *c, const struct unit *u, char *b,
                       size_t n)
{
    const struct smo_place_service *sv = c->p->services;
    if (u->n == 1)
        snprintf(b, n, "%s", sv[u->members[0]].id);
    else if (u->n == 2)
        snprintf(b, n, "%s and %s", sv[u->members[0]].id, sv[u->members[1]].id);
    else
        snprintf(b, n, "%s, %s and %u more (co-located)", sv[u->members[0]].id,
                 sv[u->members[1]].id, u->n - 2);
}

static bool unit_fits_alone(const struct ctx *c, const struct unit *u,
                            uint32_t k)
{
    const struct smo_place_cluster *cl = &c->p->clusters[k];
    return u->cpu <= cl->cpu_free + EPS && u->mem <= (double)cl->memory_free &&
           u->gpu <= (double)cl->gpu_free;
}

static int explain_units(const struct ctx *c, char *why, size_t n)
{
    char names[200], mem[32];
    for (uint32_t i = 0; i < c->nu; i++) {
        const struct unit *u = &c->units[i];
        unit_names(c, u, names, sizeof names);
        if (!u->n_allowed) {
            if (u->n == 1)
                snprintf(why, n, "%s may run on none of the clusters", names);
            else
                snprintf(why, n,
                         "%s must share a cluster, but no cluster is allowed "
                         "for all of them",
                         names);
            return 1;
        }
        bool any = false;
        for (uint32_t k = 0; k < c->nc && !any; k++)
            any = u->allowed[k] && unit_fits_alone(c, u, k);
        if (!any) {
            char gpus[40] = "";
            fmt_mem(mem, sizeof mem, u->mem);
            if (u->gpu > 0)
                snprintf(gpus, sizeof gpus, " and %.0f GPU%s", u->gpu,
                         u->gpu == 1 ? "" : "s");
            snprintf(why, n,
                     "%s need%s %.3g cores, %s memory%s on one cluster (with "
                     "replicas); no cluster allowed for %s has that free",
                     names, u->n == 1 ? "s" : "", u->cpu, mem, gpus,
                     u->n == 1 ? "it" : "them");
            return 1;
        }
    }
    return 0;
}

static int explain_latency(const struct ctx *c, char *why, size_t n)
{
    const struct smo_place_problem *p = c->p;
    if (!p->latency_ms)
        return 0;
    for (uint32_t e = 0; e < p->n_edges; e++) {
        const struct smo_place_edge *ed = &p->edges[e];
        if (ed->max_latency_ms < 0)
            continue;
        const struct unit *a = &c->units[c->unit_of[ed->s]];
        const struct unit *b = &c->units[c->unit_of[ed->t]];
        bool ok = false;
        for (uint32_t k = 0; k < c->nc && !ok; k++)
            for (uint32_t l = 0; l < c->nc && !ok; l++)
                ok = a->allowed[k] && b->allowed[l] && (a != b || k == l) &&
                     p->latency_ms[k * c->nc + l] <= ed->max_latency_ms;
        if (!ok) {
            snprintf(why, n,
                     "%s and %s must be within %g ms of each other; no pair "
                     "of clusters allowed for them is that close",
                     p->services[ed->s].id, p->services[ed->t].id,
                     ed->max_latency_ms);
            return 1;
        }
    }
    return 0;
}

/* Services with a single allowed cluster all land there. */
static int explain_forced(const struct ctx *c, char *why, size_t n)
{
    for (uint32_t k = 0; k < c->nc; k++) {
        double cpu = 0, mem = 0, gpu = 0;
        uint32_t cnt = 0, first = 0;
        for (uint32_t i = 0; i < c->nu; i++) {
            const struct unit *u = &c->units[i];
            if (u->n_allowed != 1 || !u->allowed[k])
                continue;
            if (!cnt)
                first = i;
            cnt++;
            cpu += u->cpu;
            mem += u->mem;
            gpu += u->gpu;
        }
        const struct smo_place_cluster *cl = &c->p->clusters[k];
        const char *res = cpu > cl->cpu_free + EPS        ? "cores"
                          : mem > (double)cl->memory_free ? "memory"
                          : gpu > (double)cl->gpu_free    ? "GPUs"
                                                          : NULL;
        if (cnt < 2 || !res)
            continue;
        char names[200], need[32], have[32];
        unit_names(c, &c->units[first], names, sizeof names);
        if (res[0] == 'm') {
            fmt_mem(need, sizeof need, mem);
            fmt_mem(have, sizeof have, (double)cl->memory_free);
        } else {
            snprintf(need, sizeof need, "%.3g", res[0] == 'c' ? cpu : gpu);
            snprintf(have, sizeof have, "%.3g",
                     res[0] == 'c' ? cl->cpu_free : (double)cl->gpu_free);
        }
        snprintf(why, n,
                 "%u services (%s%s) may only run on %s; together they need "
                 "%s %s, it has %s free",
                 cnt, names, cnt > 1 ? ", ..." : "", cl->name, need, res, have);
        return 1;
    }
    return 0;
}

static int explain_totals(const struct ctx *c, char *why, size_t n)
{
    double d[3] = {0, 0, 0}, f[3] = {0, 0, 0};
    for (uint32_t i = 0; i < c->nu; i++) {
        d[0] += c->units[i].cpu;
        d[1] += c->units[i].mem;
        d[2] += c->units[i].gpu;
    }
    for (uint32_t k = 0; k < c->nc; k++) {
        f[0] += c->p->clusters[k].cpu_free;
        f[1] += (double)c->p->clusters[k].memory_free;
        f[2] += c->p->clusters[k].gpu_free;
    }
    if (d[0] > f[0] + EPS)
        snprintf(why, n,
                 "the services need %.3g cores; the clusters have %.3g "
                 "free",
                 d[0], f[0]);
    else if (d[1] > f[1]) {
        char a[32], b[32];
        fmt_mem(a, sizeof a, d[1]);
        fmt_mem(b, sizeof b, f[1]);
        snprintf(why, n,
                 "the services need %s memory; the clusters have %s free", a,
                 b);
    } else if (d[2] > f[2])
        snprintf(why, n,
                 "the services need %.0f GPUs; the clusters have %.0f "
                 "free",
                 d[2], f[2]);
    else
        return 0;
    return 1;
}

int smo__greedy_explain(const struct smo_place_problem *p, char *why, size_t n)
{
    struct ctx c;
    ctx_init(&c, p);
    int r = explain_units(&c, why, n) || explain_latency(&c, why, n) ||
            explain_forced(&c, why, n) || explain_totals(&c, why, n);
    ctx_free(&c);
    return r;
}

/* -------------------------------------------------------------- scale -- */

void smo__scale_window(const struct smo_scale_service *s, uint32_t *lo,
                       uint32_t *hi)
{
    int64_t a = s->min_replicas, b = s->max_replicas;
    if (s->max_step) {
        int64_t pa = (int64_t)s->prev - s->max_step;
        int64_t pb = (int64_t)s->prev + s->max_step;
        if (pb < a)
            b = a; /* far below the minimum: the minimum */
        else if (pa > b)
            a = b; /* far above the maximum: the maximum */
        else {
            a = pa > a ? pa : a;
            b = pb < b ? pb : b;
        }
    }
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
}

static double scale_norm_u(const struct smo_scale_problem *p)
{
    double U = 0;
    for (uint32_t i = 0; i < p->n_services; i++) {
        double v = p->services[i].max_replicas * p->services[i].cpu;
        U = v > U ? v : U;
    }
    return U > 0 ? U : 1;
}

/* One service's share of the objective with r replicas. */
static double scale_term(const struct smo_scale_problem *p, uint32_t i,
                         double r, double U, double *unmet)
{
    const struct smo_scale_service *s = &p->services[i];
    double served = s->alpha * r + s->beta;
    double u = s->lambda > served ? s->lambda - served : 0;
    if (unmet)
        *unmet = u;
    return p->weights.util * s->cpu * r / U +
           p->weights.trans * fabs(r - (double)s->prev) /
               (s->max_replicas ? s->max_replicas : 1) +
           p->weights.unmet * u / (s->lambda > 1 ? s->lambda : 1);
}

double smo__scale_norm(const struct smo_scale_problem *p)
{
    return scale_norm_u(p);
}

double smo__scale_term(const struct smo_scale_problem *p, uint32_t i,
                       uint32_t r, double U)
{
    return scale_term(p, i, r, U, NULL);
}

double smo__scale_objective(const struct smo_scale_problem *p,
                            const uint32_t *r, double *unmet)
{
    double U = scale_norm_u(p), obj = 0;
    for (uint32_t i = 0; i < p->n_services; i++)
        obj += scale_term(p, i, r[i], U, unmet ? &unmet[i] : NULL);
    return obj;
}

static void cluster_load(const struct smo_scale_problem *p, const uint32_t *r,
                         uint32_t k, double *cpu, double *gpu)
{
    *cpu = *gpu = 0;
    for (uint32_t i = 0; i < p->n_services; i++)
        if (p->services[i].cluster == k) {
            *cpu += p->services[i].cpu * r[i];
            *gpu += (double)p->services[i].gpu * r[i];
        }
}

int smo__scale_check(const struct smo_scale_problem *p, const uint32_t *r,
                     char *why, size_t n)
{
    for (uint32_t i = 0; i < p->n_services; i++) {
        uint32_t lo, hi;
        smo__scale_window(&p->services[i], &lo, &hi);
        if (r[i] < lo || r[i] > hi || p->services[i].cluster >= p->n_clusters) {
            snprintf(why, n, "%s: %u replicas outside [%u, %u]",
                     p->services[i].id, r[i], lo, hi);
            return -1;
        }
    }
    for (uint32_t k = 0; k < p->n_clusters; k++) {
        double cpu, gpu;
        cluster_load(p, r, k, &cpu, &gpu);
        if (cpu > p->cluster_cpu[k] + EPS ||
            (p->cluster_gpu && gpu > (double)p->cluster_gpu[k])) {
            snprintf(why, n, "cluster %u is over capacity", k);
            return -1;
        }
    }
    return 0;
}

/* The minimum replicas of every cluster's services must fit it. */
static int scale_min_fits(const struct smo_scale_problem *p, char *why,
                          size_t n)
{
    uint32_t *lo = malloc((p->n_services ? p->n_services : 1) * sizeof *lo);
    int rc = 0;
    for (uint32_t i = 0; i < p->n_services; i++) {
        uint32_t hi;
        smo__scale_window(&p->services[i], &lo[i], &hi);
        if (p->services[i].cluster >= p->n_clusters) {
            snprintf(why, n, "%s: cluster index %u out of range",
                     p->services[i].id, p->services[i].cluster);
            rc = -1;
        }
    }
    for (uint32_t k = 0; k < p->n_clusters && !rc; k++) {
        double cpu, gpu;
        cluster_load(p, lo, k, &cpu, &gpu);
        if (cpu > p->cluster_cpu[k] + EPS) {
            snprintf(why, n,
                     "cluster %u: the fewest replicas its services may run "
                     "need %.3g cores; %.3g are available",
                     k, cpu, p->cluster_cpu[k]);
            rc = -1;
        } else if (p->cluster_gpu && gpu > (double)p->cluster_gpu[k]) {
            snprintf(why, n,
                     "cluster %u: the fewest replicas its services may run "
                     "need %.0f GPUs; %u are available",
                     k, gpu, p->cluster_gpu[k]);
            rc = -1;
        }
    }
    free(lo);
    return rc;
}

/* Each service's best replicas ignoring the clusters' capacity: its
 * objective share is convex and piecewise linear in r, with kinks at prev
 * and at the replicas that serve the demand exactly, so the integer
 * minimum is next to a kink or at a bound. Ties: fewer replicas. */
static uint32_t best_alone(const struct smo_scale_problem *p, uint32_t i,
                           double U)
{
    const struct smo_scale_service *s = &p->services[i];
    uint32_t lo, hi;
    smo__scale_window(s, &lo, &hi);
    double cand[6] = {lo, hi, s->prev, lo, lo, lo};
    if (s->alpha > 0) {
        double q = (s->lambda - s->beta) / s->alpha;
        cand[3] = floor(q);
        cand[4] = ceil(q - EPS);
        cand[5] = ceil(q);
    }
    uint32_t best = lo;
    double bv = scale_term(p, i, lo, U, NULL);
    for (int k = 1; k < 6; k++) {
        double c = cand[k] < lo ? lo : cand[k] > hi ? hi : cand[k];
        uint32_t r = (uint32_t)c;
        double v = scale_term(p, i, r, U, NULL);
        if (v < bv - EPS || (v <= bv + EPS && r < best)) {
            best = r;
            bv = v;
        }
    }
    return best;
}

int smo__scale_best_alone(const struct smo_scale_problem *p, uint32_t *r)
{
    double U = scale_norm_u(p);
    for (uint32_t i = 0; i < p->n_services; i++)
        r[i] = best_alone(p, i, U);
    char why[8];
    return smo__scale_check(p, r, why, sizeof why) == 0;
}

int smo__greedy_scale(const struct smo_scale_problem *p, uint32_t *r,
                      double *unmet, double *objective, char *why, size_t n)
{
    uint32_t ns = p->n_services, nc = p->n_clusters;
    for (uint32_t i = 0; i < ns; i++)
        if (p->services[i].min_replicas > p->services[i].max_replicas) {
            snprintf(why, n, "%s: min replicas %u above max %u",
                     p->services[i].id, p->services[i].min_replicas,
                     p->services[i].max_replicas);
            return -1;
        }
    if (scale_min_fits(p, why, n))
        return -1;
    double U = scale_norm_u(p);
    smo__scale_best_alone(p, r);
    /* Clusters short of cpu or GPUs: take back the replica whose loss
     * costs least per unit freed. Bounded: every round removes one replica
     * and the window minima fit. */
    double *cpu = calloc(nc ? nc : 1, sizeof *cpu);
    double *gpu = calloc(nc ? nc : 1, sizeof *gpu);
    for (uint32_t k = 0; k < nc; k++)
        cluster_load(p, r, k, &cpu[k], &gpu[k]);
    for (uint32_t k = 0; k < nc; k++) {
        for (;;) {
            bool cpu_over = cpu[k] > p->cluster_cpu[k] + EPS;
            bool gpu_over = p->cluster_gpu && gpu[k] > p->cluster_gpu[k] + EPS;
            if (!cpu_over && !gpu_over)
                break;
            int32_t pick = -1;
            double best = 0;
            for (uint32_t i = 0; i < ns; i++) {
                const struct smo_scale_service *s = &p->services[i];
                uint32_t lo, hi;
                smo__scale_window(s, &lo, &hi);
                double freed = gpu_over && !cpu_over ? s->gpu : s->cpu;
                if (s->cluster != k || r[i] <= lo || freed <= 0)
                    continue;
                double cost = (scale_term(p, i, r[i] - 1, U, NULL) -
                               scale_term(p, i, r[i], U, NULL)) /
                              freed;
                if (pick < 0 || cost < best - EPS) {
                    pick = (int32_t)i;
                    best = cost;
                }
            }
            if (pick < 0)
                break; /* cannot happen: the minima fit */
            r[pick]--;
            cpu[k] -= p->services[pick].cpu;
            gpu[k] -= p->services[pick].gpu;
        }
    }
    /* Single-replica moves and exchanges of one replica between two
     * services of a cluster, while they pay. */
    for (int pass = 0; pass < 64; pass++) {
        bool improved = false;
        for (uint32_t i = 0; i < ns; i++) {
            const struct smo_scale_service *s = &p->services[i];
            uint32_t lo, hi;
            smo__scale_window(s, &lo, &hi);
            uint32_t k = s->cluster;
            double now = scale_term(p, i, r[i], U, NULL);
            if (r[i] > lo && scale_term(p, i, r[i] - 1, U, NULL) < now - EPS) {
                r[i]--;
                cpu[k] -= s->cpu;
                gpu[k] -= s->gpu;
                improved = true;
                continue;
            }
            if (r[i] >= hi)
                continue;
            double up = scale_term(p, i, r[i] + 1, U, NULL) - now;
            if (up >= -EPS)
                continue;
            if (cpu[k] + s->cpu <= p->cluster_cpu[k] + EPS &&
                (!p->cluster_gpu ||
                 gpu[k] + s->gpu <= (double)p->cluster_gpu[k] + EPS)) {
                r[i]++;
                cpu[k] += s->cpu;
                gpu[k] += s->gpu;
                improved = true;
                continue;
            }
            /* Make room: one replica less for another service there. */
            for (uint32_t j = 0; j < ns; j++) {
                const struct smo_scale_service *t = &p->services[j];
                uint32_t lo2, hi2;
                smo__scale_window(t, &lo2, &hi2);
                if (j == i || t->cluster != k || r[j] <= lo2)
                    continue;
                if (cpu[k] - t->cpu + s->cpu > p->cluster_cpu[k] + EPS ||
                    (p->cluster_gpu && gpu[k] - t->gpu + s->gpu >
                                           (double)p->cluster_gpu[k] + EPS))
                    continue;
                double down = scale_term(p, j, r[j] - 1, U, NULL) -
                              scale_term(p, j, r[j], U, NULL);
                if (up + down < -EPS) {
                    r[i]++;
                    r[j]--;
                    cpu[k] += s->cpu - t->cpu;
                    gpu[k] += (double)s->gpu - t->gpu;
                    improved = true;
                    break;
                }
            }
        }
        if (!improved)
            break;
    }
    free(cpu);
    free(gpu);
    *objective = smo__scale_objective(p, r, unmet);
    /* Never hand back a violation (guards the arithmetic above). */
    return smo__scale_check(p, r, why, n);
}

void smo__scale_unmet_reason(const struct smo_scale_problem *p,
                             const double *unmet, char *why, size_t n)
{
    size_t o = 0;
    why[0] = '\0';
    for (uint32_t i = 0; i < p->n_services && o + 40 < n; i++) {
        if (unmet[i] <= 1e-6)
            continue;
        int w =
            snprintf(why + o, n - o, "%s%s %.4g req/s",
                     o ? ", " : "unmet demand: ", p->services[i].id, unmet[i]);
        if (w < 0)
            break;
        o += (size_t)w < n - o ? (size_t)w : n - o - 1;
    }
}
