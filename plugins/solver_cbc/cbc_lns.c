/* Large-neighbourhood search with CBC as the exact sub-solver.
 *
 * Why: the full model's LP relaxation is weak (a fractional assignment
 * spreads every service over every cluster, so the connection term counts
 * almost nothing) and, past about a hundred services, slow to solve; the
 * branch and bound then neither proves nor improves much within a second.
 * Subproblems of a few dozen units, everything else fixed, are solved to
 * optimality in milliseconds, and each one moves whole groups of services
 * at once, which single-unit local search cannot.
 *
 * Deterministic: a fixed-seed generator picks the neighbourhoods, each
 * subproblem is bounded by a node limit (not by time), and the search ends
 * after a run of attempts without improvement; only the deadline, when it
 * comes first, depends on the machine. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbc_lp.h"
#include "cbc_models.h"
#include "greedy.h"

#define GIB 1073741824.0
#define EPS 1e-9

#define F_MIN     6 /* free units per subproblem, adaptive */
#define F_MAX     32
#define F_START   8
#define F_PAIR    40  /* free units when two clusters exchange their units */
#define K_MAX     3   /* candidate clusters per subproblem */
#define SUB_NODES 400 /* node limit of a subproblem */
#define SUB_SECS  2.0 /* time cap of a subproblem (a safety net) */

struct lns {
    const struct smo_place_problem *p;
    struct smo__units u;
    uint32_t nu, nc;
    uint32_t *mstart, *members; /* unit -> its services (CSR) */
    uint32_t *nstart, *nb;      /* unit graph (CSR), neighbours */
    double *nmult;              /* connections to that neighbour */
    int32_t *at;                /* unit -> cluster */
    double *cpu, *mem, *gpu;    /* our load per cluster */
    double total_cpu;
    uint64_t rng;
    /* scratch */
    int32_t *fpos; /* unit -> position in F, -1 */
    int32_t *kpos; /* cluster -> position in K, -1 */
    uint32_t *F, *K, *queue;
    int *xi; /* |F| x |K| columns */
    int *ind;
    double *val;
    uint32_t *ebuf; /* service edges touching F */
};

static uint64_t rnd(struct lns *l)
{
    uint64_t z = (l->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(struct lns *l, uint32_t n)
{
    return n ? (uint32_t)(rnd(l) % n) : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void lns_free(struct lns *l)
{
    smo__units_free(&l->u);
    free(l->mstart);
    free(l->members);
    free(l->nstart);
    free(l->nb);
    free(l->nmult);
    free(l->at);
    free(l->cpu);
    free(l->mem);
    free(l->gpu);
    free(l->fpos);
    free(l->kpos);
    free(l->F);
    free(l->K);
    free(l->queue);
    free(l->xi);
    free(l->ind);
    free(l->val);
    free(l->ebuf);
}

static int lns_init(struct lns *l, const struct smo_place_problem *p,
                    const int32_t *assign)
{
    memset(l, 0, sizeof *l);
    l->p = p;
    l->nc = p->n_clusters;
    l->rng = 0x5eed;
    if (smo__units_build(p, &l->u))
        return -1;
    uint32_t nu = l->nu = l->u.n, nc = l->nc;
    size_t ne = p->n_edges;
    uint64_t *pairs = malloc((2 * ne + 1) * sizeof *pairs);
    l->mstart = calloc(nu + 2, sizeof *l->mstart);
    l->members = malloc((p->n_services + 1) * sizeof *l->members);
    l->nstart = calloc(nu + 1, sizeof *l->nstart);
    l->nb = malloc((2 * ne + 1) * sizeof *l->nb);
    l->nmult = malloc((2 * ne + 1) * sizeof *l->nmult);
    l->at = malloc((nu + 1) * sizeof *l->at);
    l->cpu = calloc(nc + 1, sizeof *l->cpu);
    l->mem = calloc(nc + 1, sizeof *l->mem);
    l->gpu = calloc(nc + 1, sizeof *l->gpu);
    l->fpos = malloc((nu + 1) * sizeof *l->fpos);
    l->kpos = malloc((nc + 1) * sizeof *l->kpos);
    l->F = malloc((nu + 1) * sizeof *l->F);
    l->K = malloc((nc + 1) * sizeof *l->K);
    l->queue = malloc((nu + 1) * sizeof *l->queue);
    l->xi = malloc(((size_t)F_MAX * (nc + 1) + 1) * sizeof *l->xi);
    size_t wide = (size_t)nu + nc + 8;
    l->ind = malloc(wide * sizeof *l->ind);
    l->val = malloc(wide * sizeof *l->val);
    l->ebuf = malloc((ne + 1) * sizeof *l->ebuf);
    if (!pairs || !l->mstart || !l->members || !l->nstart || !l->nb ||
        !l->nmult || !l->at || !l->cpu || !l->mem || !l->gpu || !l->fpos ||
        !l->kpos || !l->F || !l->K || !l->queue || !l->xi || !l->ind ||
        !l->val || !l->ebuf) {
        free(pairs);
        return -1;
    }
    /* Members of each unit. */
    for (uint32_t s = 0; s < p->n_services; s++)
        l->mstart[l->u.of[s] + 2]++;
    for (uint32_t a = 0; a < nu; a++)
        l->mstart[a + 2] += l->mstart[a + 1];
    for (uint32_t s = 0; s < p->n_services; s++)
        l->members[l->mstart[l->u.of[s] + 1]++] = s;
    /* The unit graph: both directions, duplicates merged. */
    size_t np = 0;
    for (size_t e = 0; e < ne; e++) {
        uint32_t a = l->u.of[p->edges[e].s], b = l->u.of[p->edges[e].t];
        if (a == b)
            continue;
        pairs[np++] = (uint64_t)a << 32 | b;
        pairs[np++] = (uint64_t)b << 32 | a;
    }
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        if (i && pairs[i] == pairs[i - 1]) {
            l->nmult[n - 1] += 1;
            continue;
        }
        l->nb[n] = (uint32_t)pairs[i];
        l->nmult[n] = 1;
        l->nstart[(pairs[i] >> 32) + 1]++;
        n++;
    }
    for (uint32_t a = 0; a < nu; a++)
        l->nstart[a + 1] += l->nstart[a];
    free(pairs);
    for (uint32_t a = 0; a < nu; a++) {
        int32_t c = assign[l->u.first[a]];
        l->at[a] = c;
        l->cpu[c] += l->u.cpu[a];
        l->mem[c] += l->u.mem[a];
        l->gpu[c] += l->u.gpu[a];
        l->total_cpu += l->u.cpu[a];
        l->fpos[a] = -1;
    }
    if (l->total_cpu <= 0)
        l->total_cpu = 1;
    for (uint32_t c = 0; c < nc; c++)
        l->kpos[c] = -1;
    return 0;
}

static double util(const struct lns *l, uint32_t c)
{
    const struct smo_place_cluster *cl = &l->p->clusters[c];
    return cl->cpu_alloc > 0 ? (cl->cpu_used + l->cpu[c]) / cl->cpu_alloc : 0;
}

static void add_f(struct lns *l, uint32_t *nf, uint32_t a)
{
    if (l->fpos[a] >= 0)
        return;
    l->fpos[a] = (int32_t)*nf;
    l->F[(*nf)++] = a;
}

static void add_k(struct lns *l, uint32_t *nk, int32_t c)
{
    if (c < 0 || l->kpos[c] >= 0)
        return;
    l->kpos[c] = (int32_t)*nk;
    l->K[(*nk)++] = (uint32_t)c;
}

/* A split connection, at random; 0 when there is none. */
static int split_edge(struct lns *l, uint32_t *a, uint32_t *b)
{
    for (int tries = 0; tries < 64; tries++) {
        uint32_t x = below(l, l->nu);
        uint32_t deg = l->nstart[x + 1] - l->nstart[x];
        if (!deg)
            continue;
        uint32_t y = l->nb[l->nstart[x] + below(l, deg)];
        if (l->at[x] != l->at[y]) {
            *a = x;
            *b = y;
            return 1;
        }
    }
    return 0;
}

/* Choose the free units F and the clusters K they may go to. */
static void neighbourhood(struct lns *l, int strategy, uint32_t want,
                          uint32_t *nf, uint32_t *nk)
{
    const struct smo_place_problem *p = l->p;
    *nf = *nk = 0;
    uint32_t a, b;
    if (strategy == 0 && split_edge(l, &a, &b)) {
        /* A region of the connection graph around a split connection,
         * between the two clusters it joins: a cut again. */
        int32_t ca = l->at[a], cb = l->at[b];
        add_f(l, nf, a);
        add_f(l, nf, b);
        uint32_t head = 0;
        while (head < *nf && *nf < want) {
            uint32_t x = l->F[head++];
            for (uint32_t i = l->nstart[x]; i < l->nstart[x + 1] && *nf < want;
                 i++) {
                uint32_t y = l->nb[i];
                if (l->at[y] == ca || l->at[y] == cb)
                    add_f(l, nf, y);
            }
        }
        add_k(l, nk, ca);
        add_k(l, nk, cb);
        return;
    } else if (strategy == 1) {
        /* The contents of two clusters: the busiest (or a random one) and
         * one it shares a split connection with (or a random one). */
        uint32_t ca = below(l, l->nc);
        if (p->weights.balance > 0 && below(l, 2)) {
            double best = -1;
            for (uint32_t c = 0; c < l->nc; c++)
                if (util(l, c) > best) {
                    best = util(l, c);
                    ca = c;
                }
        }
        uint32_t cb = (ca + 1 + below(l, l->nc - 1)) % l->nc;
        for (int tries = 0; tries < 32; tries++) {
            uint32_t x = below(l, l->nu);
            if (l->at[x] != (int32_t)ca)
                continue;
            uint32_t deg = l->nstart[x + 1] - l->nstart[x];
            for (uint32_t i = 0; i < deg; i++) {
                int32_t o = l->at[l->nb[l->nstart[x] + i]];
                if (o != (int32_t)ca) {
                    cb = (uint32_t)o;
                    tries = 32;
                    break;
                }
            }
        }
        /* Two clusters only: the relaxation of a split in two is nearly
         * a minimum cut, so these larger subproblems still solve fast. */
        uint32_t off = below(l, l->nu);
        for (uint32_t i = 0; i < l->nu && *nf < F_PAIR; i++) {
            uint32_t x = (off + i) % l->nu;
            if (l->at[x] == (int32_t)ca || l->at[x] == (int32_t)cb)
                add_f(l, nf, x);
        }
        add_k(l, nk, (int32_t)ca);
        add_k(l, nk, (int32_t)cb);
        return;
    } else {
        /* Units at random, each with a neighbour. */
        while (*nf + 1 < want) {
            uint32_t x = below(l, l->nu);
            add_f(l, nf, x);
            uint32_t deg = l->nstart[x + 1] - l->nstart[x];
            if (deg)
                add_f(l, nf, l->nb[l->nstart[x] + below(l, deg)]);
            if (*nf >= l->nu)
                break;
        }
    }
    /* Their clusters, then their neighbours' most common clusters, then
     * one at random. */
    for (uint32_t i = 0; i < *nf; i++)
        add_k(l, nk, l->at[l->F[i]]);
    for (int round = 0; round < 2 && *nk < K_MAX; round++)
        for (uint32_t i = 0; i < *nf && *nk < K_MAX; i++) {
            uint32_t x = l->F[i];
            uint32_t deg = l->nstart[x + 1] - l->nstart[x];
            if (deg)
                add_k(l, nk, l->at[l->nb[l->nstart[x] + below(l, deg)]]);
        }
    if (*nk < K_MAX)
        add_k(l, nk, (int32_t)below(l, l->nc));
}

static void clear_sets(struct lns *l, uint32_t nf, uint32_t nk)
{
    for (uint32_t i = 0; i < nf; i++)
        l->fpos[l->F[i]] = -1;
    for (uint32_t i = 0; i < nk; i++)
        l->kpos[l->K[i]] = -1;
}

/* Latency between the clusters of the two ends of edge e when unit `a`
 * (holding one end) is on `ka` and the other end's unit on `kb`. */
static double edge_latency(const struct lns *l, const struct smo_place_edge *e,
                           uint32_t a, uint32_t ka, uint32_t kb)
{
    bool s_in_a = l->u.of[e->s] == a;
    uint32_t cs = s_in_a ? ka : kb, ct = s_in_a ? kb : ka;
    return l->p->latency_ms[(size_t)cs * l->nc + ct];
}

/* Build and solve the subproblem; 1 when it found a better placement of F
 * (applied to l->at and the loads), 0 otherwise; *optimal says whether the
 * subproblem was solved to the end. */
static int solve_sub(struct lns *l, uint32_t nf, uint32_t nk,
                     double deadline_ms, bool *optimal)
{
    const struct smo_place_problem *p = l->p;
    const struct smo_place_weights *w = &p->weights;
    uint32_t nc = l->nc;
    *optimal = false;
    struct smo__lp lp;
    smo__lp_init(&lp);
    int *ind = l->ind;
    double *val = l->val;
    /* Service edges touching F. */
    uint32_t nedge = 0;
    for (uint32_t e = 0; e < p->n_edges; e++) {
        uint32_t a = l->u.of[p->edges[e].s], b = l->u.of[p->edges[e].t];
        if (a != b && (l->fpos[a] >= 0 || l->fpos[b] >= 0))
            l->ebuf[nedge++] = e;
    }
    /* x[f,k]: allowed, within the bounds to fixed neighbours; the
     * objective is the exact change but for the peak (below). */
    double *cur = calloc((size_t)nf * nk + 1, sizeof *cur);
    int ok = 1, choice = 0;
    for (uint32_t i = 0; i < nf; i++) {
        uint32_t f = l->F[i];
        int any = 0;
        for (uint32_t j = 0; j < nk; j++) {
            uint32_t k = l->K[j];
            size_t at = (size_t)i * nk + j;
            l->xi[at] = -1;
            if (!l->u.allowed[(size_t)f * nc + k])
                continue;
            double obj = w->cost * p->clusters[k].price * l->u.cpu[f] +
                         SMO__EPS_LEX * k / ((double)nc * l->nu);
            bool bad = false;
            for (uint32_t x = 0; x < nedge && !bad; x++) {
                const struct smo_place_edge *e = &p->edges[l->ebuf[x]];
                uint32_t a = l->u.of[e->s], b = l->u.of[e->t];
                if (a != f && b != f)
                    continue;
                uint32_t g = a == f ? b : a;
                if (l->fpos[g] >= 0)
                    continue; /* inside F: z and rows below */
                uint32_t kg = (uint32_t)l->at[g];
                if (kg != k)
                    obj += w->net;
                if (p->latency_ms && e->max_latency_ms >= 0 &&
                    edge_latency(l, e, f, k, kg) > e->max_latency_ms)
                    bad = true;
            }
            if (bad)
                continue;
            for (uint32_t m = l->mstart[f]; m < l->mstart[f + 1]; m++) {
                const struct smo_place_service *sv =
                    &p->services[l->members[m]];
                if (sv->current == (int32_t)k)
                    obj -= w->move + SMO__EPS_MOVE * sv->cpu * sv->replicas /
                                         l->total_cpu;
            }
            l->xi[at] = smo__lp_col(&lp, 0, 1, obj, true);
            cur[at] = l->at[f] == (int32_t)k;
            any++;
        }
        if (!any)
            ok = 0;
        choice += any > 1;
    }
    /* Nothing to choose: CBC 2.10 aborts on models whose every binary is
     * fixed (see force() in cbc_place.c), and there is nothing to gain. */
    if (!ok || !choice) {
        free(cur);
        smo__lp_free(&lp);
        return 0;
    }
    for (uint32_t i = 0; i < nf; i++) {
        int n = 0;
        for (uint32_t j = 0; j < nk; j++)
            if (l->xi[(size_t)i * nk + j] >= 0) {
                ind[n] = l->xi[(size_t)i * nk + j];
                val[n++] = 1;
            }
        smo__lp_row(&lp, n, ind, val, 1, 1);
    }
    /* Capacity left on each candidate once F is taken off. */
    for (uint32_t j = 0; j < nk; j++) {
        uint32_t k = l->K[j];
        const struct smo_place_cluster *cl = &p->clusters[k];
        double fixed[3] = {l->cpu[k], l->mem[k], l->gpu[k]};
        for (uint32_t i = 0; i < nf; i++)
            if (l->at[l->F[i]] == (int32_t)k) {
                fixed[0] -= l->u.cpu[l->F[i]];
                fixed[1] -= l->u.mem[l->F[i]];
                fixed[2] -= l->u.gpu[l->F[i]];
            }
        double cap[3] = {cl->cpu_free - fixed[0],
                         ((double)cl->memory_free - fixed[1]) / GIB,
                         (double)cl->gpu_free - fixed[2]};
        for (int r = 0; r < 3; r++) {
            const double *d = r == 0 ? l->u.cpu : r == 1 ? l->u.mem : l->u.gpu;
            double scale = r == 1 ? GIB : 1, sum = 0;
            int n = 0;
            for (uint32_t i = 0; i < nf; i++) {
                int x = l->xi[(size_t)i * nk + j];
                if (x < 0 || d[l->F[i]] <= 0)
                    continue;
                ind[n] = x;
                val[n++] = d[l->F[i]] / scale;
                sum += d[l->F[i]] / scale;
            }
            if (n && sum > cap[r] + EPS)
                smo__lp_row(&lp, n, ind, val, -SMO__LP_INF, cap[r]);
        }
    }
    /* Connections inside F (their columns start at the end). */
    int zfirst = lp.ncols;
    if (w->net > 0)
        for (uint32_t i = 0; i < nf; i++) {
            uint32_t f = l->F[i];
            for (uint32_t x = l->nstart[f]; x < l->nstart[f + 1]; x++) {
                uint32_t g = l->nb[x];
                if (l->fpos[g] < 0 || g < f)
                    continue;
                uint32_t ig = (uint32_t)l->fpos[g];
                int z = smo__lp_col(&lp, 0, 1, w->net * l->nmult[x], false);
                /* Both directions: z >= |x[f,k] - x[g,k]| is what makes
                 * the two-cluster relaxation a cut. */
                for (uint32_t j = 0; j < nk; j++)
                    for (int dir = 0; dir < 2; dir++) {
                        int xa = l->xi[(size_t)(dir ? ig : i) * nk + j];
                        int xb = l->xi[(size_t)(dir ? i : ig) * nk + j];
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
                        smo__lp_row(&lp, n, ind, val, 0, SMO__LP_INF);
                    }
            }
        }
    /* Latency bounds inside F. */
    for (uint32_t x = 0; p->latency_ms && x < nedge; x++) {
        const struct smo_place_edge *e = &p->edges[l->ebuf[x]];
        uint32_t a = l->u.of[e->s], b = l->u.of[e->t];
        if (e->max_latency_ms < 0 || l->fpos[a] < 0 || l->fpos[b] < 0)
            continue;
        uint32_t ia = (uint32_t)l->fpos[a], ib = (uint32_t)l->fpos[b];
        for (uint32_t j = 0; j < nk; j++) {
            int xa = l->xi[(size_t)ia * nk + j];
            if (xa < 0)
                continue;
            int n = 0;
            ind[n] = xa;
            val[n++] = 1;
            for (uint32_t d = 0; d < nk; d++) {
                int xb = l->xi[(size_t)ib * nk + d];
                if (xb >= 0 && p->latency_ms[(size_t)l->K[j] * nc + l->K[d]] >
                                   e->max_latency_ms) {
                    ind[n] = xb;
                    val[n++] = 1;
                }
            }
            if (n > 1)
                smo__lp_row(&lp, n, ind, val, -SMO__LP_INF, 1);
        }
    }
    /* The peak: clusters outside K keep their utilisation. */
    int mi = -1;
    if (w->balance > 0) {
        double lb = 0;
        for (uint32_t c = 0; c < nc; c++)
            if (l->kpos[c] < 0 && util(l, c) > lb)
                lb = util(l, c);
        mi = smo__lp_col(&lp, lb, SMO__LP_INF, w->balance, false);
        for (uint32_t j = 0; j < nk; j++) {
            uint32_t k = l->K[j];
            const struct smo_place_cluster *cl = &p->clusters[k];
            if (cl->cpu_alloc <= 0)
                continue;
            double fixed = cl->cpu_used + l->cpu[k];
            int n = 0;
            for (uint32_t i = 0; i < nf; i++) {
                if (l->at[l->F[i]] == (int32_t)k)
                    fixed -= l->u.cpu[l->F[i]];
                int x = l->xi[(size_t)i * nk + j];
                if (x < 0 || l->u.cpu[l->F[i]] <= 0)
                    continue;
                ind[n] = x;
                val[n++] = l->u.cpu[l->F[i]] / cl->cpu_alloc;
            }
            ind[n] = mi;
            val[n++] = -1;
            smo__lp_row(&lp, n, ind, val, -SMO__LP_INF, -fixed / cl->cpu_alloc);
        }
    }
    /* Start from where F is now: x, then z in the order they were made,
     * then m. */
    double *start = calloc((size_t)lp.ncols + 1, sizeof *start);
    int improved = 0;
    if (!start || lp.oom)
        goto out;
    for (size_t i = 0; i < (size_t)nf * nk; i++)
        if (l->xi[i] >= 0)
            start[l->xi[i]] = cur[i];
    int zc = zfirst;
    if (w->net > 0)
        for (uint32_t i = 0; i < nf; i++) {
            uint32_t f = l->F[i];
            for (uint32_t x = l->nstart[f]; x < l->nstart[f + 1]; x++) {
                uint32_t g = l->nb[x];
                if (l->fpos[g] >= 0 && g >= f)
                    start[zc++] = l->at[f] != l->at[g];
            }
        }
    if (mi >= 0) {
        double m = lp.clb[mi];
        for (uint32_t j = 0; j < nk; j++)
            m = util(l, l->K[j]) > m ? util(l, l->K[j]) : m;
        start[mi] = m;
    }
    double left = (deadline_ms - smo__now_ms()) / 1e3;
    struct smo__cbc_run run;
    memset(&run, 0, sizeof run);
    run.seconds = left < SUB_SECS ? left : SUB_SECS;
    run.rel_gap = 0;
    run.max_nodes = SUB_NODES;
    run.start = start;
    if (run.seconds < 0.005)
        goto out;
    smo__cbc_solve(&lp, &run);
    *optimal = run.outcome == SMO__CBC_FINISHED;
    if (run.x) {
        /* Compare in the subproblem's own terms: its objective is the
         * exact change of the full one (but for constants). */
        double before = 0, after = run.obj;
        for (int c = 0; c < lp.ncols; c++)
            before += lp.obj[c] * start[c];
        if (after < before - 1e-7) {
            for (uint32_t i = 0; i < nf; i++) {
                uint32_t f = l->F[i];
                int32_t to = -1;
                for (uint32_t j = 0; j < nk; j++) {
                    int x = l->xi[(size_t)i * nk + j];
                    if (x >= 0 && run.x[x] > 0.5)
                        to = (int32_t)l->K[j];
                }
                if (to < 0 || to == l->at[f])
                    continue;
                l->cpu[l->at[f]] -= l->u.cpu[f];
                l->mem[l->at[f]] -= l->u.mem[f];
                l->gpu[l->at[f]] -= l->u.gpu[f];
                l->at[f] = to;
                l->cpu[to] += l->u.cpu[f];
                l->mem[to] += l->u.mem[f];
                l->gpu[to] += l->u.gpu[f];
            }
            improved = 1;
        }
    }
    free(run.x);
out:
    free(start);
    free(cur);
    smo__lp_free(&lp);
    return improved;
}

void smo__cbc_lns(const struct smo_place_problem *p, int32_t *assign,
                  double deadline_ms, struct smo__lns_stats *st)
{
    memset(st, 0, sizeof *st);
    if (p->n_clusters < 2 || p->n_services < 2)
        return;
    struct lns l;
    if (lns_init(&l, p, assign)) {
        lns_free(&l);
        return;
    }
    uint32_t nu = l.nu, want = F_START < nu ? F_START : nu;
    double best = smo__greedy_objective(p, assign, NULL);
    int32_t *trial = malloc(p->n_services * sizeof *trial);
    int32_t *saved = malloc((nu + 1) * sizeof *saved);
    double *sc = malloc((p->n_clusters + 1) * 3 * sizeof *sc);
    /* Patience grows with the time given: a long run searches longer. */
    double budget_s = (deadline_ms - smo__now_ms()) / 1e3;
    uint32_t stall = 0, stall_max = (uint32_t)((40 + 6 * nu / F_START) *
                                               (budget_s > 1 ? budget_s : 1));
    char why[128];
    while (trial && saved && sc && stall < stall_max &&
           smo__now_ms() < deadline_ms) {
        uint32_t nf, nk;
        int strategy = (int)(st->iterations % 3);
        neighbourhood(&l, strategy, want, &nf, &nk);
        st->iterations++;
        memcpy(saved, l.at, nu * sizeof *saved);
        memcpy(sc, l.cpu, p->n_clusters * sizeof *sc);
        memcpy(sc + p->n_clusters, l.mem, p->n_clusters * sizeof *sc);
        memcpy(sc + 2 * p->n_clusters, l.gpu, p->n_clusters * sizeof *sc);
        bool optimal = false;
        int better = nf ? solve_sub(&l, nf, nk, deadline_ms, &optimal) : 0;
        clear_sets(&l, nf, nk);
        if (nf && strategy != 1) {
            st->subproblems_optimal += optimal;
            /* Larger neighbourhoods while they solve to the end. */
            if (optimal && want < F_MAX && want < nu)
                want++;
            else if (!optimal && want > F_MIN)
                want -= 2;
        }
        if (better) {
            for (uint32_t s = 0; s < p->n_services; s++)
                trial[s] = l.at[l.u.of[s]];
            double v = smo__greedy_objective(p, trial, NULL);
            if (v < best - 1e-9 &&
                smo__greedy_check(p, trial, why, sizeof why) == 0) {
                memcpy(assign, trial, p->n_services * sizeof *trial);
                best = v;
                st->improvements++;
                stall = 0;
                continue;
            }
            /* Not better in full (a tie-break) or not valid: undo. */
            memcpy(l.at, saved, nu * sizeof *saved);
            memcpy(l.cpu, sc, p->n_clusters * sizeof *sc);
            memcpy(l.mem, sc + p->n_clusters, p->n_clusters * sizeof *sc);
            memcpy(l.gpu, sc + 2 * p->n_clusters, p->n_clusters * sizeof *sc);
        }
        stall++;
    }
    free(trial);
    free(saved);
    free(sc);
    lns_free(&l);
}
