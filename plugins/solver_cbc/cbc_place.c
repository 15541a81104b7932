/* The placement MILP (docs/solvers.md, "Placement model").
 *
 * A co-location group shares one set of assignment variables: x[s,c] =
 * x[g,c] for every member s of group g is substituted rather than stated,
 * which removes the equality rows and the symmetric copies the branching
 * would otherwise explore. "Unit" below is a group or a service alone. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbc_lp.h"
#include "cbc_models.h"
#include "greedy.h"

#define GIB 1073741824.0
#define EPS 1e-9

void smo__units_free(struct smo__units *u)
{
    free(u->of);
    free(u->first);
    free(u->cpu);
    free(u->mem);
    free(u->gpu);
    free(u->allowed);
}

/* Units in order of their first service; co-location ids may be any int. */
int smo__units_build(const struct smo_place_problem *p, struct smo__units *u)
{
    uint32_t ns = p->n_services, nc = p->n_clusters;
    size_t hn = 1;
    while (hn < 2 * (size_t)ns + 2)
        hn *= 2;
    memset(u, 0, sizeof *u);
    u->of = malloc((ns + 1) * sizeof *u->of);
    u->first = malloc((ns + 1) * sizeof *u->first);
    u->cpu = calloc(ns + 1, sizeof *u->cpu);
    u->mem = calloc(ns + 1, sizeof *u->mem);
    u->gpu = calloc(ns + 1, sizeof *u->gpu);
    u->allowed = malloc(((size_t)ns + 1) * (nc + 1));
    int32_t *hkey = malloc(hn * sizeof *hkey);
    uint32_t *hval = malloc(hn * sizeof *hval);
    if (!u->of || !u->first || !u->cpu || !u->mem || !u->gpu || !u->allowed ||
        !hkey || !hval) {
        free(hkey);
        free(hval);
        return -1;
    }
    for (size_t i = 0; i < hn; i++)
        hkey[i] = -1;
    for (uint32_t s = 0; s < ns; s++) {
        const struct smo_place_service *sv = &p->services[s];
        uint32_t id = UINT32_MAX;
        size_t h = 0;
        if (sv->coloc >= 0) {
            h = ((uint32_t)sv->coloc * 2654435761u) & (hn - 1);
            while (hkey[h] >= 0 && hkey[h] != sv->coloc)
                h = (h + 1) & (hn - 1);
            if (hkey[h] == sv->coloc)
                id = hval[h];
        }
        if (id == UINT32_MAX) {
            id = u->n++;
            u->first[id] = s;
            memset(u->allowed + (size_t)id * nc, 1, nc);
            if (sv->coloc >= 0) {
                hkey[h] = sv->coloc;
                hval[h] = id;
            }
        }
        u->of[s] = id;
        u->cpu[id] += sv->cpu * sv->replicas;
        u->mem[id] += (double)sv->memory * sv->replicas;
        u->gpu[id] += (double)sv->gpu * sv->replicas;
        if (sv->allowed)
            for (uint32_t c = 0; c < nc; c++)
                u->allowed[(size_t)id * nc + c] &= sv->allowed[c] ? 1 : 0;
    }
    free(hkey);
    free(hval);
    /* A bounded connection inside a unit: its cluster's own latency must
     * meet the bound (0 in every matrix the core builds). */
    for (uint32_t e = 0; p->latency_ms && e < p->n_edges; e++) {
        const struct smo_place_edge *ed = &p->edges[e];
        if (ed->max_latency_ms < 0 || u->of[ed->s] != u->of[ed->t])
            continue;
        for (uint32_t c = 0; c < nc; c++)
            if (p->latency_ms[(size_t)c * nc + c] > ed->max_latency_ms)
                u->allowed[(size_t)u->of[ed->s] * nc + c] = 0;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

double smo__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Peak utilisation of an assignment (the m the model would compute). */
static double peak_of(const struct smo_place_problem *p, const int32_t *a)
{
    struct smo_place_weights t;
    struct smo_place_problem q = *p;
    q.weights = (struct smo_place_weights){0, 1, 0, 0};
    smo__greedy_objective(&q, a, &t);
    return t.balance;
}

struct model {
    struct smo__lp lp;
    struct smo__units u;
    int *xi;         /* unit x cluster -> column, -1 when not allowed */
    int32_t *forced; /* unit -> its only possible cluster, -1: free */
    uint32_t nfree;  /* units with a choice */
    bool infeasible; /* the forced units alone break a constraint */
    uint64_t *pairs; /* unit pairs (a << 32 | b, a < b), sorted, unique */
    uint32_t *mult;  /* connections per pair */
    int *zi;         /* pair -> z column, -1 unless both are free */
    size_t npairs;
    int mi;          /* m column, -1 without the balance term */
    double constant; /* objective part that does not depend on x */
};

static void model_free(struct model *m)
{
    smo__lp_free(&m->lp);
    smo__units_free(&m->u);
    free(m->xi);
    free(m->forced);
    free(m->pairs);
    free(m->mult);
    free(m->zi);
}

static uint32_t n_allowed(const struct model *m, uint32_t u, uint32_t nc,
                          int32_t *last)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < nc; c++)
        if (m->u.allowed[(size_t)u * nc + c]) {
            n++;
            *last = (int32_t)c;
        }
    return n;
}

/* Units with a single possible cluster are constants, not variables:
 * fewer columns, and CBC 2.10 (as packaged, with its assertions) aborts
 * on a model whose every binary is fixed by its equality row. A bound to
 * a forced unit narrows its neighbour's clusters, which can force it in
 * turn: repeated until nothing changes. */
static void force(const struct smo_place_problem *p, struct model *m)
{
    uint32_t nc = p->n_clusters, nu = m->u.n;
    for (uint32_t u = 0; u < nu; u++) {
        int32_t c = -1;
        uint32_t n = n_allowed(m, u, nc, &c);
        m->forced[u] = n == 1 ? c : -1;
        if (!n)
            m->infeasible = true;
    }
    bool changed = true;
    for (uint32_t round = 0; changed && round <= nu && p->latency_ms; round++) {
        changed = false;
        for (uint32_t e = 0; e < p->n_edges; e++) {
            const struct smo_place_edge *ed = &p->edges[e];
            uint32_t a = m->u.of[ed->s], b = m->u.of[ed->t];
            if (ed->max_latency_ms < 0 || a == b)
                continue;
            int32_t fa = m->forced[a], fb = m->forced[b];
            if (fa >= 0 && fb >= 0) {
                if (p->latency_ms[(size_t)fa * nc + (uint32_t)fb] >
                    ed->max_latency_ms)
                    m->infeasible = true;
                continue;
            }
            if (fa < 0 && fb < 0)
                continue;
            /* Narrow the free side: lat[cluster of s][cluster of t]. */
            uint32_t f = fa >= 0 ? b : a;
            for (uint32_t d = 0; d < nc; d++) {
                size_t k = (size_t)f * nc + d;
                double l = fa >= 0 ? p->latency_ms[(size_t)fa * nc + d]
                                   : p->latency_ms[(size_t)d * nc + fb];
                if (m->u.allowed[k] && l > ed->max_latency_ms) {
                    m->u.allowed[k] = 0;
                    changed = true;
                }
            }
            int32_t c = -1;
            uint32_t n = n_allowed(m, f, nc, &c);
            if (!n)
                m->infeasible = true;
            else if (n == 1)
                m->forced[f] = c;
        }
    }
    m->nfree = 0;
    for (uint32_t u = 0; u < nu; u++)
        m->nfree += m->forced[u] < 0;
}

static int build(const struct smo_place_problem *p, struct model *m)
{
    uint32_t ns = p->n_services, nc = p->n_clusters;
    const struct smo_place_weights *w = &p->weights;
    memset(m, 0, sizeof *m);
    m->mi = -1;
    smo__lp_init(&m->lp);
    if (smo__units_build(p, &m->u))
        return -1;
    uint32_t nu = m->u.n;
    size_t nx = (size_t)nu * nc;
    m->xi = malloc((nx + 1) * sizeof *m->xi);
    m->forced = malloc((nu + 1) * sizeof *m->forced);
    double *stay_n = calloc(nx + 1, sizeof *stay_n);
    double *stay_cpu = calloc(nx + 1, sizeof *stay_cpu);
    double *fixed = calloc(3 * (size_t)nc + 1, sizeof *fixed);
    int *ind = malloc(((size_t)nu + nc + 2) * sizeof *ind);
    double *val = malloc(((size_t)nu + nc + 2) * sizeof *val);
    int rc = -1;
    if (!m->xi || !m->forced || !stay_n || !stay_cpu || !fixed || !ind || !val)
        goto out;
    force(p, m);
    /* Moves: w_move per service off its current cluster, i.e. a constant
     * minus w_move for each x[u, current]. */
    double total_cpu = 0;
    for (uint32_t u = 0; u < nu; u++)
        total_cpu += m->u.cpu[u];
    if (total_cpu <= 0)
        total_cpu = 1;
    for (uint32_t s = 0; s < ns; s++) {
        const struct smo_place_service *sv = &p->services[s];
        if (sv->current < 0 || (uint32_t)sv->current >= nc)
            continue;
        m->constant += w->move;
        size_t k = (size_t)m->u.of[s] * nc + (uint32_t)sv->current;
        stay_n[k] += 1;
        stay_cpu[k] += sv->cpu * sv->replicas;
    }
    /* Forced units: their load, cost and moves are constants. */
    for (uint32_t u = 0; u < nu; u++) {
        int32_t f = m->forced[u];
        for (uint32_t c = 0; c < nc; c++)
            m->xi[(size_t)u * nc + c] = -1;
        if (f < 0)
            continue;
        fixed[f] += m->u.cpu[u];
        fixed[nc + f] += m->u.mem[u];
        fixed[2 * nc + f] += m->u.gpu[u];
        m->constant += w->cost * p->clusters[f].price * m->u.cpu[u] -
                       w->move * stay_n[(size_t)u * nc + (uint32_t)f];
    }
    /* x[u,c] with its cost, move and tie-breaking coefficients. */
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t c = 0; c < nc; c++) {
            size_t k = (size_t)u * nc + c;
            if (m->forced[u] >= 0 || !m->u.allowed[k])
                continue;
            double obj = w->cost * p->clusters[c].price * m->u.cpu[u] -
                         w->move * stay_n[k] -
                         SMO__EPS_MOVE * stay_cpu[k] / total_cpu +
                         SMO__EPS_LEX * c / ((double)nc * nu);
            m->xi[k] = smo__lp_col(&m->lp, 0, 1, obj, true);
        }
    /* Each free unit on exactly one cluster. */
    for (uint32_t u = 0; u < nu; u++) {
        if (m->forced[u] >= 0)
            continue;
        int n = 0;
        for (uint32_t c = 0; c < nc; c++)
            if (m->xi[(size_t)u * nc + c] >= 0) {
                ind[n] = m->xi[(size_t)u * nc + c];
                val[n++] = 1;
            }
        smo__lp_row(&m->lp, n, ind, val, 1, 1);
    }
    /* Capacity per cluster and resource, less what forced units take;
     * rows that cannot bind are left out. Memory in GiB keeps the
     * coefficients near the others. */
    for (uint32_t c = 0; c < nc; c++) {
        const struct smo_place_cluster *cl = &p->clusters[c];
        for (int r = 0; r < 3; r++) {
            const double *d = r == 0 ? m->u.cpu : r == 1 ? m->u.mem : m->u.gpu;
            double scale = r == 1 ? GIB : 1;
            double cap = (r == 0   ? cl->cpu_free
                          : r == 1 ? (double)cl->memory_free
                                   : (double)cl->gpu_free) -
                         fixed[(size_t)r * nc + c];
            double sum = 0;
            int n = 0;
            if (cap < -EPS * scale)
                m->infeasible = true;
            cap /= scale;
            for (uint32_t u = 0; u < nu; u++) {
                int j = m->xi[(size_t)u * nc + c];
                if (j < 0 || d[u] <= 0)
                    continue;
                ind[n] = j;
                val[n++] = d[u] / scale;
                sum += d[u] / scale;
            }
            if (n && sum > cap + EPS)
                smo__lp_row(&m->lp, n, ind, val, -SMO__LP_INF, cap);
        }
    }
    /* Split connections: z[a,b] >= x[a,c] - x[b,c] for every cluster c
     * where a may run, and the same from b's side (implied at integer x,
     * but it tightens the relaxation: proofs at 30 x 5 took a third of
     * the time). Several connections between the same two units share one
     * z, weighted by their number. With one side forced the split is
     * linear: 1 - x[free, forced's cluster]. */
    size_t nraw = 0;
    m->pairs = malloc(((size_t)p->n_edges + 1) * sizeof *m->pairs);
    if (!m->pairs)
        goto out;
    for (uint32_t e = 0; e < p->n_edges; e++) {
        uint32_t a = m->u.of[p->edges[e].s], b = m->u.of[p->edges[e].t];
        if (a != b)
            m->pairs[nraw++] =
                (uint64_t)(a < b ? a : b) << 32 | (uint64_t)(a < b ? b : a);
    }
    qsort(m->pairs, nraw, sizeof *m->pairs, cmp_u64);
    m->mult = calloc(nraw + 1, sizeof *m->mult);
    m->zi = malloc((nraw + 1) * sizeof *m->zi);
    if (!m->mult || !m->zi)
        goto out;
    for (size_t i = 0; i < nraw; i++) {
        if (m->npairs && m->pairs[m->npairs - 1] == m->pairs[i])
            m->mult[m->npairs - 1]++;
        else {
            m->pairs[m->npairs] = m->pairs[i];
            m->mult[m->npairs++] = 1;
        }
    }
    for (size_t i = 0; i < m->npairs; i++) {
        m->zi[i] = -1;
        if (w->net <= 0)
            continue;
        uint32_t a = (uint32_t)(m->pairs[i] >> 32), b = (uint32_t)m->pairs[i];
        double wm = w->net * m->mult[i];
        int32_t fa = m->forced[a], fb = m->forced[b];
        if (fa >= 0 && fb >= 0) {
            m->constant += fa != fb ? wm : 0;
            continue;
        }
        if (fa >= 0 || fb >= 0) {
            uint32_t f = fa >= 0 ? b : a;
            int32_t at = fa >= 0 ? fa : fb;
            int j = m->xi[(size_t)f * nc + (uint32_t)at];
            m->constant += wm;
            if (j >= 0)
                m->lp.obj[j] -= wm;
            continue;
        }
        /* Continuous is enough: at integer x the rows force z to 0 or 1. */
        int z = smo__lp_col(&m->lp, 0, 1, wm, false);
        m->zi[i] = z;
        for (uint32_t c = 0; c < nc; c++)
            for (int dir = 0; dir < 2; dir++) {
                int xa = m->xi[(size_t)(dir ? b : a) * nc + c];
                int xb = m->xi[(size_t)(dir ? a : b) * nc + c];
                if (xa < 0)
                    continue;
                int n = 0;
                ind[n] = z;
                val[n++] = 1;
                ind[n] = xa;
                val[n++] = -1;
                if (xb >= 0) {
                    ind[n] = xb;
                    val[n++] = 1;
                }
                smo__lp_row(&m->lp, n, ind, val, 0, SMO__LP_INF);
            }
    }
    /* Peak utilisation: m >= (used_c + forced + sum cpu_u x[u,c]) /
     * alloc_c. Clusters no free unit may use only raise m's lower bound. */
    if (w->balance > 0 && m->nfree) {
        double lb = 0;
        for (uint32_t c = 0; c < nc; c++) {
            const struct smo_place_cluster *cl = &p->clusters[c];
            double v = cl->cpu_alloc > 0
                           ? (cl->cpu_used + fixed[c]) / cl->cpu_alloc
                           : 0;
            lb = v > lb ? v : lb;
        }
        m->mi = smo__lp_col(&m->lp, lb, SMO__LP_INF, w->balance, false);
        for (uint32_t c = 0; c < nc; c++) {
            const struct smo_place_cluster *cl = &p->clusters[c];
            if (cl->cpu_alloc <= 0)
                continue;
            int n = 0;
            for (uint32_t u = 0; u < nu; u++) {
                int j = m->xi[(size_t)u * nc + c];
                if (j < 0 || m->u.cpu[u] <= 0)
                    continue;
                ind[n] = j;
                val[n++] = m->u.cpu[u] / cl->cpu_alloc;
            }
            if (!n)
                continue;
            ind[n] = m->mi;
            val[n++] = -1;
            smo__lp_row(&m->lp, n, ind, val, -SMO__LP_INF,
                        -(cl->cpu_used + fixed[c]) / cl->cpu_alloc);
        }
    }
    /* Latency bounds between free units: with s on c, t may not be on any
     * cluster d farther than the bound (one row per c; t is on one
     * cluster at most). Bounds to forced units narrowed the clusters. */
    for (uint32_t e = 0; p->latency_ms && e < p->n_edges; e++) {
        const struct smo_place_edge *ed = &p->edges[e];
        uint32_t a = m->u.of[ed->s], b = m->u.of[ed->t];
        if (ed->max_latency_ms < 0 || a == b || m->forced[a] >= 0 ||
            m->forced[b] >= 0)
            continue;
        for (uint32_t c = 0; c < nc; c++) {
            int xa = m->xi[(size_t)a * nc + c];
            if (xa < 0)
                continue;
            int n = 0;
            ind[n] = xa;
            val[n++] = 1;
            for (uint32_t d = 0; d < nc; d++) {
                int xb = m->xi[(size_t)b * nc + d];
                if (xb >= 0 &&
                    p->latency_ms[(size_t)c * nc + d] > ed->max_latency_ms) {
                    ind[n] = xb;
                    val[n++] = 1;
                }
            }
            if (n > 1)
                smo__lp_row(&m->lp, n, ind, val, -SMO__LP_INF, 1);
        }
    }
    rc = m->lp.oom ? -1 : 0;
out:
    free(stay_n);
    free(stay_cpu);
    free(fixed);
    free(ind);
    free(val);
    return rc;
}

/* Column values of an assignment (the MIP start). */
static double *start_of(const struct smo_place_problem *p,
                        const struct model *m, const int32_t *a)
{
    uint32_t nc = p->n_clusters;
    double *x = calloc((size_t)m->lp.ncols + 1, sizeof *x);
    if (!x)
        return NULL;
    for (uint32_t u = 0; u < m->u.n; u++) {
        int32_t c = a[m->u.first[u]];
        int j = c >= 0 ? m->xi[(size_t)u * nc + (uint32_t)c] : -1;
        if (j >= 0)
            x[j] = 1;
    }
    for (size_t i = 0; i < m->npairs; i++)
        if (m->zi[i] >= 0) {
            uint32_t ua = (uint32_t)(m->pairs[i] >> 32);
            uint32_t ub = (uint32_t)m->pairs[i];
            x[m->zi[i]] = a[m->u.first[ua]] != a[m->u.first[ub]];
        }
    if (m->mi >= 0)
        x[m->mi] = peak_of(p, a);
    return x;
}

/* The assignment a solution vector encodes: each free unit on its
 * largest x, forced units where they must be (x may be NULL when no unit
 * is free). */
static void decode(const struct smo_place_problem *p, const struct model *m,
                   const double *x, int32_t *a)
{
    uint32_t nc = p->n_clusters;
    for (uint32_t s = 0; s < p->n_services; s++) {
        uint32_t u = m->u.of[s];
        int32_t best = m->forced[u];
        double bv = 0.5;
        for (uint32_t c = 0; x && m->forced[u] < 0 && c < nc; c++) {
            int j = m->xi[(size_t)u * nc + c];
            if (j >= 0 && x[j] > bv) {
                bv = x[j];
                best = (int32_t)c;
            }
        }
        a[s] = best;
    }
}

static void infeasible_reason(const struct smo_place_problem *p, char *why,
                              size_t n, const char *by)
{
    if (smo__greedy_explain(p, why, n))
        return;
    double d[3] = {0, 0, 0}, f[3] = {0, 0, 0};
    for (uint32_t s = 0; s < p->n_services; s++) {
        const struct smo_place_service *sv = &p->services[s];
        d[0] += sv->cpu * sv->replicas;
        d[1] += (double)sv->memory * sv->replicas / GIB;
        d[2] += (double)sv->gpu * sv->replicas;
    }
    for (uint32_t c = 0; c < p->n_clusters; c++) {
        f[0] += p->clusters[c].cpu_free;
        f[1] += (double)p->clusters[c].memory_free / GIB;
        f[2] += p->clusters[c].gpu_free;
    }
    snprintf(why, n,
             "the services (%.3g cores, %.3g GiB, %.0f GPUs with their "
             "replicas) do not pack into the clusters' free capacity (%.3g "
             "cores, %.3g GiB, %.0f GPUs) under the allowed-cluster, "
             "co-location and latency constraints (%s)",
             d[0], d[1], d[2], f[0], f[1], f[2], by);
}

/* A lower bound without solving anything, term by term: the peak is at
 * least the even spread of all the load, each unit pays at least its
 * cheapest allowed price, a service whose cluster it may no longer use
 * moves, and units that share no allowed cluster are split. */
static double cheap_bound(const struct smo_place_problem *p,
                          const struct smo__units *u)
{
    const struct smo_place_weights *w = &p->weights;
    uint32_t nc = p->n_clusters;
    double used = 0, alloc = 0, demand = 0, peak = 0, cost = 0, moves = 0;
    double net = 0;
    for (uint32_t c = 0; c < nc; c++) {
        const struct smo_place_cluster *cl = &p->clusters[c];
        if (cl->cpu_alloc <= 0)
            continue;
        used += cl->cpu_used;
        alloc += cl->cpu_alloc;
        if (cl->cpu_used / cl->cpu_alloc > peak)
            peak = cl->cpu_used / cl->cpu_alloc;
    }
    for (uint32_t a = 0; a < u->n; a++) {
        demand += u->cpu[a];
        double pmin = -1;
        for (uint32_t c = 0; c < nc; c++)
            if (u->allowed[(size_t)a * nc + c] &&
                (pmin < 0 || p->clusters[c].price < pmin))
                pmin = p->clusters[c].price;
        cost += u->cpu[a] * (pmin > 0 ? pmin : 0);
    }
    if (alloc > 0 && (used + demand) / alloc > peak)
        peak = (used + demand) / alloc;
    for (uint32_t s = 0; s < p->n_services; s++) {
        int32_t c = p->services[s].current;
        if (c >= 0 && (uint32_t)c < nc &&
            !u->allowed[(size_t)u->of[s] * nc + (uint32_t)c])
            moves += 1;
    }
    for (uint32_t e = 0; e < p->n_edges; e++) {
        uint32_t a = u->of[p->edges[e].s], b = u->of[p->edges[e].t];
        bool common = a == b;
        for (uint32_t c = 0; c < nc && !common; c++)
            common = u->allowed[(size_t)a * nc + c] &&
                     u->allowed[(size_t)b * nc + c];
        net += !common;
    }
    return w->net * net + w->balance * peak + w->move * moves + w->cost * cost;
}

/* Columns above which the full model is not even built (its relaxation
 * alone would take minutes), and below which CBC gets it straight away. */
#define FULL_MAX_X    20000
#define FULL_DIRECT_X 300

/* r->assignment is a proved optimum: its objective is also the bound. */
static void proved_optimal(const struct smo_place_problem *p,
                           struct smo_place_result *r)
{
    r->status = SMO_SOLVE_OPTIMAL;
    r->objective = smo__greedy_objective(p, r->assignment, &r->terms);
    r->bound = r->objective;
}

int smo__cbc_place(const struct smo__cbc_cfg *cfg,
                   const struct smo_place_problem *p,
                   struct smo_place_result *r, struct smo__cbc_stats *stats)
{
    double t0 = smo__now_ms();
    uint32_t ns = p->n_services, nc = p->n_clusters;
    memset(stats, 0, sizeof *stats);
    stats->warm_objective = -1;
    r->reason[0] = '\0';
    r->gap = 0;
    r->bound = 0;
    int64_t limit =
        p->time_limit_ms > 0 ? p->time_limit_ms : cfg->time_limit_ms;
    double deadline = t0 + (double)limit;
    double gap = p->rel_gap >= 0 ? p->rel_gap : cfg->gap;
    if (ns == 0) {
        r->status = SMO_SOLVE_OPTIMAL;
        r->objective = smo__greedy_objective(p, r->assignment, &r->terms);
        r->bound = r->objective;
        r->solve_ms = smo__now_ms() - t0;
        return SMO_OK;
    }
    if (nc == 0) {
        r->status = SMO_SOLVE_INFEASIBLE;
        snprintf(r->reason, sizeof r->reason, "no usable cluster");
        r->solve_ms = smo__now_ms() - t0;
        return SMO_OK;
    }
    int32_t *warm = malloc(ns * sizeof *warm);
    int32_t *cand = malloc(ns * sizeof *cand);
    struct model m;
    memset(&m, 0, sizeof m);
    struct smo__units units;
    memset(&units, 0, sizeof units);
    struct smo__cbc_run run;
    memset(&run, 0, sizeof run);
    int rc = SMO_OK;
    if (!warm || !cand || smo__units_build(p, &units)) {
        rc = SMO_ENOMEM;
        goto out;
    }
    /* Small enough to try every assignment: exact, and far cheaper than
     * building the model. */
    if (cfg->enumerate_max > 0) {
        int e = smo__place_enumerate(p, &units, (uint64_t)cfg->enumerate_max,
                                     r->assignment);
        if (e == -2) {
            rc = SMO_ENOMEM;
            goto out;
        }
        if (e >= 0) {
            stats->enumerated = true;
            if (e == 1)
                proved_optimal(p, r);
            else {
                r->status = SMO_SOLVE_INFEASIBLE;
                if (!smo__greedy_explain(p, r->reason, sizeof r->reason))
                    infeasible_reason(p, r->reason, sizeof r->reason,
                                      "no assignment of the services to "
                                      "the clusters meets every constraint "
                                      "(all tried)");
            }
            goto out;
        }
    }
    /* The heuristic first: CBC's warm start, and the answer if CBC has
     * nothing better in time. */
    bool have_warm = false;
    double warm_obj = 0;
    char why[256] = "";
    if (cfg->warm_start) {
        int64_t hb =
            cfg->heuristic_ms < limit / 4 ? cfg->heuristic_ms : limit / 4;
        double th = smo__now_ms();
        if (smo__greedy_place(p, warm, hb > 0 ? hb : 1, why, sizeof why) == 0) {
            have_warm = true;
            warm_obj = smo__greedy_objective(p, warm, NULL);
        }
        stats->warm_ms = smo__now_ms() - th;
    }
    if (p->warm_start &&
        smo__greedy_check(p, p->warm_start, why, sizeof why) == 0) {
        double o = smo__greedy_objective(p, p->warm_start, NULL);
        if (!have_warm || o < warm_obj - EPS) {
            memcpy(warm, p->warm_start, ns * sizeof *warm);
            warm_obj = o;
            have_warm = true;
        }
    }
    if (have_warm)
        stats->warm_objective = warm_obj;
    /* A definite reason needs no search. */
    if (!have_warm && smo__greedy_explain(p, r->reason, sizeof r->reason)) {
        r->status = SMO_SOLVE_INFEASIBLE;
        goto out;
    }
    size_t nx = 0;
    for (size_t k = 0; k < (size_t)units.n * nc; k++)
        nx += units.allowed[k];
    /* The full model is worth solving when CBC can get through its root
     * relaxation (and the start's completion, as costly) well within the
     * time: that takes about 3e-5 ms x (columns + rows)^2 on a 2 GHz
     * core, 0.4 s at 100 x 12. Otherwise the neighbourhood search gets
     * all the time. */
    bool full = !have_warm, built = false;
    if (have_warm && nx <= FULL_MAX_X) {
        built = true;
        if (build(p, &m)) {
            rc = SMO_ENOMEM;
            goto out;
        }
        double size = (double)m.lp.ncols + m.lp.nrows;
        full = 3e-5 * size * size < 0.3 * (deadline - smo__now_ms());
    }
    /* Improve the start by rounds of annealing then neighbourhood search,
     * each round from the best so far with other random choices: until
     * the deadline when that is the whole search; for four fifths of the
     * time before the full model on mid-sized problems (CBC's own search
     * needs a good start there); for a tenth on small ones, which CBC
     * then often proves optimal at once (its start decides how fast). */
    struct smo__search_stats *sst = &stats->search;
    if (have_warm) {
        double until = !full                ? deadline - (double)limit * 0.02
                       : nx > FULL_DIRECT_X ? t0 + 0.8 * (double)limit
                                            : t0 + 0.1 * (double)limit;
        if (smo__cbc_search(p, warm, until, full && nx <= FULL_DIRECT_X,
                            (uint32_t)cfg->search_threads, sst)) {
            rc = SMO_ENOMEM;
            goto out;
        }
        warm_obj = smo__greedy_objective(p, warm, NULL);
    }
    bool have_cbc = false;
    if (full) {
        /* Once only: a model of no columns (everything forced) is built
         * all the same, and building again would drop it unfreed. */
        if (!built && (built = true, build(p, &m))) {
            rc = SMO_ENOMEM;
            goto out;
        }
        stats->cols = m.lp.ncols;
        stats->rows = m.lp.nrows;
        if (m.infeasible || !m.nfree) {
            /* Nothing to choose: the forced placement, if it holds. */
            decode(p, &m, NULL, cand);
            if (!m.infeasible &&
                smo__greedy_check(p, cand, why, sizeof why) == 0) {
                memcpy(r->assignment, cand, ns * sizeof *cand);
                proved_optimal(p, r);
            } else {
                r->status = SMO_SOLVE_INFEASIBLE;
                infeasible_reason(p, r->reason, sizeof r->reason,
                                  "services with a single possible cluster "
                                  "leave no room");
            }
            goto out;
        }
        double *start = have_warm ? start_of(p, &m, warm) : NULL;
        /* CBC finishes what it is doing when the limit strikes: keep a
         * margin. */
        run.seconds = (deadline - smo__now_ms()) * 0.9 / 1e3;
        run.rel_gap = gap;
        run.start = start;
        smo__cbc_solve(&m.lp, &run);
        free(start);
        stats->outcome = run.outcome;
        stats->wait_ms = run.wait_ms;
        /* CBC's answer, if it is valid and no worse than the start. */
        if (run.x) {
            decode(p, &m, run.x, cand);
            have_cbc = smo__greedy_check(p, cand, why, sizeof why) == 0 &&
                       (!have_warm ||
                        smo__greedy_objective(p, cand, NULL) <= warm_obj + EPS);
        }
    }
    if (have_cbc)
        memcpy(r->assignment, cand, ns * sizeof *cand);
    else if (have_warm) {
        memcpy(r->assignment, warm, ns * sizeof *warm);
        stats->used_warm = true;
    } else {
        if (run.outcome == SMO__CBC_INFEASIBLE) {
            r->status = SMO_SOLVE_INFEASIBLE;
            infeasible_reason(p, r->reason, sizeof r->reason, "proved by CBC");
        } else if (run.outcome == SMO__CBC_ERROR) {
            r->status = SMO_SOLVE_ERROR;
            snprintf(r->reason, sizeof r->reason, "%s", run.msg);
        } else {
            r->status = SMO_SOLVE_TIMEOUT;
            snprintf(r->reason, sizeof r->reason,
                     "no feasible placement found within %lld ms%s%s",
                     (long long)limit, why[0] ? "; the heuristic: " : "", why);
        }
        goto out;
    }
    r->objective = smo__greedy_objective(p, r->assignment, &r->terms);
    /* The bound in the problem's terms: CBC's bound plus the constant,
     * less what the tie-breaking terms can have added; without a full
     * solve, the term-by-term bound. */
    double bound = cheap_bound(p, &units);
    if (full &&
        (run.outcome == SMO__CBC_FINISHED || run.outcome == SMO__CBC_STOPPED)) {
        double cb = run.bound;
        /* A finished search proves its gap target, whatever bound CBC
         * reports (without cuts it keeps the root's). */
        if (run.outcome == SMO__CBC_FINISHED && run.x) {
            double t = run.obj - gap * fabs(run.obj) - 1e-9;
            cb = t > cb ? t : cb;
        }
        double b = cb + m.constant - SMO__EPS_LEX;
        if (b > bound) /* also false for NaN and CBC's "none yet" */
            bound = b;
    }
    if (!(bound > 0))
        bound = 0;
    if (bound > r->objective)
        bound = r->objective;
    r->bound = bound;
    double diff = r->objective - bound;
    r->gap = r->objective > EPS ? diff / r->objective : 0;
    if (diff <= 1e-5 || r->gap <= 1e-6) {
        r->status = SMO_SOLVE_OPTIMAL;
        r->gap = 0;
    } else {
        r->status = SMO_SOLVE_FEASIBLE;
        if (!full)
            snprintf(r->reason, sizeof r->reason,
                     "annealing and neighbourhood search (%llu rounds, %llu "
                     "subproblems, %llu improvements) %s; gap against a "
                     "simple bound",
                     (unsigned long long)sst->rounds,
                     (unsigned long long)sst->lns_iterations,
                     (unsigned long long)sst->improvements,
                     smo__now_ms() >= deadline - (double)limit * 0.02
                         ? "stopped at the time limit"
                         : "found nothing better");
        else if (run.outcome == SMO__CBC_FINISHED)
            snprintf(r->reason, sizeof r->reason,
                     "stopped at the gap target (%g)", gap);
        else if (run.outcome == SMO__CBC_STOPPED)
            snprintf(r->reason, sizeof r->reason,
                     "time limit (%lld ms) reached", (long long)limit);
        else if (run.outcome == SMO__CBC_ERROR)
            snprintf(r->reason, sizeof r->reason,
                     "CBC failed (%s); the heuristic's placement", run.msg);
        else if (run.outcome == SMO__CBC_INFEASIBLE)
            /* Cannot be: the start is checked feasible. Keep it. */
            snprintf(r->reason, sizeof r->reason,
                     "CBC reported the model infeasible; the heuristic's "
                     "placement");
    }
out:
    r->solve_ms = smo__now_ms() - t0;
    free(run.x);
    model_free(&m);
    smo__units_free(&units);
    free(warm);
    free(cand);
    return rc;
}
