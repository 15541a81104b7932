/* Large-neighbourhood search with an exact sub-solver.
 *
 * Why: the full model's LP relaxation is weak (a fractional assignment
 * spreads every service over every cluster, so the connection term counts
 * almost nothing) and, past about a hundred services, slow to solve; the
 * branch and bound then neither proves nor improves much within a second.
 * Subproblems of a few dozen units, everything else fixed, are solved to
 * optimality by a depth-first search (cbc_sub.c) in microseconds, and
 * each one moves whole groups of services at once, which single-unit
 * local search cannot. (CBC as the sub-solver took milliseconds a call:
 * a few dozen attempts a second instead of thousands.)
 *
 * Deterministic for a given seed: a seeded generator picks the
 * neighbourhoods, each subproblem is bounded by a node limit (not by
 * time), and the search ends after a run of attempts without improvement;
 * only the deadline, when it comes first, depends on the machine. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbc_models.h"
#include "cbc_sub.h"
#include "greedy.h"

#define GIB 1073741824.0

#define F_MIN     6 /* free units per subproblem, adaptive */
#define F_MAX     32
#define F_START   8
#define F_PAIR    40    /* free units when clusters exchange their units */
#define K_MAX     3     /* candidate clusters per subproblem */
#define K_BLOCKS  5     /* clusters whose units move in blocks */
#define G_MAX     12    /* units in such a block, at most */
#define SUB_NODES 20000 /* node limit of a subproblem's search */
/* Attempts without improvement before giving up, in units of the base
 * allowance in smo__cbc_lns(). */
#define PATIENCE 1

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
    uint32_t *F, *K;
    uint32_t *ebuf; /* service edges touching F */
    uint32_t *grp;  /* position in F -> its group (moves as one) */
    uint32_t ng;    /* groups; 0: each unit on its own */
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
    free(l->ebuf);
    free(l->grp);
}

static int lns_init(struct lns *l, const struct smo_place_problem *p,
                    const int32_t *assign, uint64_t seed)
{
    memset(l, 0, sizeof *l);
    l->p = p;
    l->nc = p->n_clusters;
    l->rng = 0x5eed + seed * 0x632be59bd9b4e019ull;
    if (smo__units_build(p, &l->u))
        return -1;
    uint32_t nu = l->nu = l->u.n, nc = l->nc;
    size_t ne = p->n_edges;
    struct smo__unit_graph g = {0};
    int r = smo__unit_graph(p, &l->u, &g);
    l->nstart = g.start;
    l->nb = g.nb;
    l->nmult = g.mult;
    l->mstart = calloc(nu + 2, sizeof *l->mstart);
    l->members = malloc((p->n_services + 1) * sizeof *l->members);
    l->at = malloc((nu + 1) * sizeof *l->at);
    l->cpu = calloc(nc + 1, sizeof *l->cpu);
    l->mem = calloc(nc + 1, sizeof *l->mem);
    l->gpu = calloc(nc + 1, sizeof *l->gpu);
    l->fpos = malloc((nu + 1) * sizeof *l->fpos);
    l->kpos = malloc((nc + 1) * sizeof *l->kpos);
    l->F = malloc((nu + 1) * sizeof *l->F);
    l->K = malloc((nc + 1) * sizeof *l->K);
    l->ebuf = malloc((ne + 1) * sizeof *l->ebuf);
    l->grp = malloc((nu + 1) * sizeof *l->grp);
    if (r || !l->grp || !l->mstart || !l->members || !l->at || !l->cpu ||
        !l->mem || !l->gpu || !l->fpos || !l->kpos || !l->F || !l->K ||
        !l->ebuf)
        return -1;
    /* Members of each unit. */
    for (uint32_t s = 0; s < p->n_services; s++)
        l->mstart[l->u.of[s] + 2]++;
    for (uint32_t a = 0; a < nu; a++)
        l->mstart[a + 2] += l->mstart[a + 1];
    for (uint32_t s = 0; s < p->n_services; s++)
        l->members[l->mstart[l->u.of[s] + 1]++] = s;
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

/* Strategy 3: the units of K_BLOCKS clusters joined by split connections,
 * in blocks (connected, on one cluster, up to G_MAX units) that each move
 * as one. Why: the best placements differ from the ones the other
 * strategies stop at by whole parts of modules changing clusters in a
 * cycle through four or five clusters; unit by unit that is far too many
 * units for the exact search, block by block it is a dozen. */
static void blocks(struct lns *l, uint32_t *nf, uint32_t *nk)
{
    add_k(l, nk, (int32_t)below(l, l->nc));
    for (int tries = 0; tries < 256 && *nk < K_BLOCKS; tries++) {
        uint32_t x = below(l, l->nu);
        uint32_t deg = l->nstart[x + 1] - l->nstart[x];
        if (deg && l->kpos[l->at[x]] >= 0)
            add_k(l, nk, l->at[l->nb[l->nstart[x] + below(l, deg)]]);
    }
    while (*nk < K_BLOCKS && *nk < l->nc)
        add_k(l, nk, (int32_t)below(l, l->nc));
    uint32_t off = below(l, l->nu);
    for (uint32_t i = 0; i < l->nu; i++) {
        uint32_t x = (off + i) % l->nu;
        if (l->kpos[l->at[x]] < 0 || l->fpos[x] >= 0)
            continue;
        uint32_t g = l->ng++, head = *nf, lim = *nf + G_MAX;
        l->grp[*nf] = g;
        add_f(l, nf, x);
        while (head < *nf && *nf < lim) {
            uint32_t y = l->F[head++];
            for (uint32_t e = l->nstart[y]; e < l->nstart[y + 1] && *nf < lim;
                 e++) {
                uint32_t z = l->nb[e];
                if (l->fpos[z] < 0 && l->at[z] == l->at[y]) {
                    l->grp[*nf] = g;
                    add_f(l, nf, z);
                }
            }
        }
    }
}

/* Choose the free units F and the clusters K they may go to. */
static void neighbourhood(struct lns *l, int strategy, uint32_t want,
                          uint32_t *nf, uint32_t *nk)
{
    const struct smo_place_problem *p = l->p;
    *nf = *nk = 0;
    l->ng = 0;
    uint32_t a, b;
    if (strategy == 3) {
        blocks(l, nf, nk);
        return;
    }
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
        /* The contents of two or three clusters: the busiest (or a random
         * one), one it shares a split connection with (or a random one),
         * and half the time a third one at random (below). */
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
        /* Half the time a third cluster at random: what the best
         * placements found differ by is often a rotation through three. */
        int32_t cc = -1;
        if (l->nc > 2 && below(l, 2)) {
            cc = (int32_t)((ca + 1 + below(l, l->nc - 1)) % l->nc);
            if (cc == (int32_t)cb)
                cc = -1;
        }
        uint32_t off = below(l, l->nu);
        for (uint32_t i = 0; i < l->nu && *nf < F_PAIR; i++) {
            uint32_t x = (off + i) % l->nu;
            if (l->at[x] == (int32_t)ca || l->at[x] == (int32_t)cb ||
                l->at[x] == cc)
                add_f(l, nf, x);
        }
        add_k(l, nk, (int32_t)ca);
        add_k(l, nk, (int32_t)cb);
        add_k(l, nk, cc);
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

/* Unit f to cluster `to` (nothing when `to` is -1 or where f is). */
static void move_unit(struct lns *l, uint32_t f, int32_t to)
{
    if (to < 0 || to == l->at[f])
        return;
    l->cpu[l->at[f]] -= l->u.cpu[f];
    l->mem[l->at[f]] -= l->u.mem[f];
    l->gpu[l->at[f]] -= l->u.gpu[f];
    l->at[f] = to;
    l->cpu[to] += l->u.cpu[f];
    l->mem[to] += l->u.mem[f];
    l->gpu[to] += l->u.gpu[f];
}

/* The subproblem by depth-first search (cbc_sub.c), over the groups of F
 * (each unit its own group when l->ng is 0): 1 when it found a better
 * placement of F (applied), 0 when not, -1 out of memory. `ulin` is each
 * unit's cost per candidate, NAN where not allowed; the first `nedge` of
 * l->ebuf are the connections touching F. */
static int solve_by_search(struct lns *l, uint32_t nf, uint32_t nk,
                           const double *ulin, uint32_t nedge, bool *optimal)
{
    const struct smo_place_problem *p = l->p;
    uint32_t nc = l->nc;
    if (!l->ng)
        for (uint32_t i = 0; i < nf; i++)
            l->grp[i] = l->ng++;
    uint32_t ng = l->ng;
    size_t nadj = 0;
    for (uint32_t i = 0; i < nf; i++)
        nadj += l->nstart[l->F[i] + 1] - l->nstart[l->F[i]];
    double *lin = calloc((size_t)ng * nk + 1, sizeof *lin);
    double *need = calloc((size_t)ng * 3 + 1, sizeof *need);
    double *cap = malloc(((size_t)nk * 3 + 1) * sizeof *cap);
    double *fu = malloc((nk + 1) * sizeof *fu);
    double *pc = malloc((nk + 1) * sizeof *pc);
    uint32_t *gstart = calloc(ng + 2, sizeof *gstart);
    uint32_t *gmem = malloc((nf + 1) * sizeof *gmem);
    uint32_t *estart = calloc(ng + 1, sizeof *estart);
    uint32_t *eto = malloc((nadj + 1) * sizeof *eto);
    double *ew = malloc((nadj + 1) * sizeof *ew);
    uint32_t *bpair = malloc(((size_t)nedge * 2 + 1) * sizeof *bpair);
    uint8_t *bok = malloc((size_t)nedge * nk * nk + 1);
    uint32_t *curj = malloc((ng + 1) * sizeof *curj);
    uint32_t *best = malloc((ng + 1) * sizeof *best);
    int rc = -1;
    if (!lin || !need || !cap || !fu || !pc || !gstart || !gmem || !estart ||
        !eto || !ew || !bpair || !bok || !curj || !best)
        goto out;
    struct smo__sub s = {.nf = ng,
                         .nk = nk,
                         .lin = lin,
                         .need = need,
                         .cap = cap,
                         .estart = estart,
                         .eto = eto,
                         .ew = ew,
                         .bpair = bpair,
                         .bok = bok,
                         .fixed_u = fu,
                         .per_core = pc,
                         .cur = curj,
                         .best = best,
                         .max_nodes = SUB_NODES};
    /* Members of each group. */
    for (uint32_t i = 0; i < nf; i++)
        gstart[l->grp[i] + 2]++;
    for (uint32_t g = 0; g < ng; g++)
        gstart[g + 2] += gstart[g + 1];
    for (uint32_t i = 0; i < nf; i++)
        gmem[gstart[l->grp[i] + 1]++] = i;
    /* A group's columns, demand and connections to other groups are its
     * members'; nothing to search when no group has a choice. */
    rc = 0;
    bool choice = false;
    for (uint32_t g = 0; g < ng; g++) {
        uint32_t any = 0;
        for (uint32_t j = 0; j < nk; j++) {
            double v = 0;
            for (uint32_t m = gstart[g]; m < gstart[g + 1]; m++)
                v += ulin[(size_t)gmem[m] * nk + j];
            lin[(size_t)g * nk + j] = v;
            any += !isnan(v);
        }
        if (!any)
            goto out;
        choice |= any > 1;
        estart[g + 1] = estart[g];
        for (uint32_t m = gstart[g]; m < gstart[g + 1]; m++) {
            uint32_t f = l->F[gmem[m]];
            need[3 * g] += l->u.cpu[f];
            need[3 * g + 1] += l->u.mem[f] / GIB;
            need[3 * g + 2] += l->u.gpu[f];
            curj[g] = (uint32_t)l->kpos[l->at[f]];
            if (p->weights.net > 0)
                for (uint32_t x = l->nstart[f]; x < l->nstart[f + 1]; x++) {
                    int32_t o = l->fpos[l->nb[x]];
                    if (o >= 0 && l->grp[o] != g) {
                        eto[estart[g + 1]] = l->grp[o];
                        ew[estart[g + 1]++] = p->weights.net * l->nmult[x];
                    }
                }
        }
    }
    if (!choice)
        goto out;
    /* Capacity and utilisation of the candidates once F is taken off. */
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
        cap[3 * j] = cl->cpu_free - fixed[0];
        cap[3 * j + 1] = ((double)cl->memory_free - fixed[1]) / GIB;
        cap[3 * j + 2] = (double)cl->gpu_free - fixed[2];
        pc[j] = cl->cpu_alloc > 0 ? 1 / cl->cpu_alloc : 0;
        fu[j] =
            cl->cpu_alloc > 0 ? (cl->cpu_used + fixed[0]) / cl->cpu_alloc : 0;
    }
    if (p->weights.balance > 0) {
        s.balance = p->weights.balance;
        for (uint32_t c = 0; c < nc; c++)
            if (l->kpos[c] < 0 && util(l, c) > s.peak_floor)
                s.peak_floor = util(l, c);
    }
    /* Bounded connections between groups (inside one, both ends share a
     * cluster: always within the bound). */
    for (uint32_t x = 0; p->latency_ms && x < nedge; x++) {
        const struct smo_place_edge *e = &p->edges[l->ebuf[x]];
        uint32_t a = l->u.of[e->s], b = l->u.of[e->t];
        if (e->max_latency_ms < 0 || l->fpos[a] < 0 || l->fpos[b] < 0 ||
            l->grp[l->fpos[a]] == l->grp[l->fpos[b]])
            continue;
        bpair[2 * s.nbound] = l->grp[l->fpos[a]];
        bpair[2 * s.nbound + 1] = l->grp[l->fpos[b]];
        for (uint32_t ja = 0; ja < nk; ja++)
            for (uint32_t jb = 0; jb < nk; jb++)
                bok[((size_t)s.nbound * nk + ja) * nk + jb] =
                    p->latency_ms[(size_t)l->K[ja] * nc + l->K[jb]] <=
                    e->max_latency_ms;
        s.nbound++;
    }
    rc = smo__sub_solve(&s);
    if (rc > 0)
        for (uint32_t i = 0; i < nf; i++)
            move_unit(l, l->F[i], (int32_t)l->K[best[l->grp[i]]]);
    *optimal = s.finished;
out:
    free(lin);
    free(need);
    free(cap);
    free(fu);
    free(pc);
    free(gstart);
    free(gmem);
    free(estart);
    free(eto);
    free(ew);
    free(bpair);
    free(bok);
    free(curj);
    free(best);
    return rc;
}

/* Solve the subproblem; 1 when it found a better placement of F (applied
 * to l->at and the loads), 0 otherwise; *optimal says whether the
 * subproblem was solved to the end. */
static int solve_sub(struct lns *l, uint32_t nf, uint32_t nk, bool *optimal)
{
    const struct smo_place_problem *p = l->p;
    const struct smo_place_weights *w = &p->weights;
    uint32_t nc = l->nc;
    *optimal = false;
    /* Service edges touching F. */
    uint32_t nedge = 0;
    for (uint32_t e = 0; e < p->n_edges; e++) {
        uint32_t a = l->u.of[p->edges[e].s], b = l->u.of[p->edges[e].t];
        if (a != b && (l->fpos[a] >= 0 || l->fpos[b] >= 0))
            l->ebuf[nedge++] = e;
    }
    /* Each unit's cost on each candidate: allowed, within the bounds to
     * fixed neighbours; the exact change of the objective but for the
     * peak and the connections inside F (the search adds those). */
    double *lin = malloc(((size_t)nf * nk + 1) * sizeof *lin);
    if (!lin)
        return 0;
    int ok = 1, choice = 0;
    for (uint32_t i = 0; i < nf; i++) {
        uint32_t f = l->F[i];
        int any = 0;
        for (uint32_t j = 0; j < nk; j++) {
            uint32_t k = l->K[j];
            size_t at = (size_t)i * nk + j;
            lin[at] = NAN;
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
                    continue; /* inside F: the search's */
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
            lin[at] = obj;
            any++;
        }
        if (!any)
            ok = 0;
        choice += any > 1;
    }
    int r = ok && choice ? solve_by_search(l, nf, nk, lin, nedge, optimal) : 0;
    free(lin);
    return r > 0;
}

void smo__cbc_lns(const struct smo_place_problem *p, int32_t *assign,
                  double deadline_ms, uint64_t seed, struct smo__lns_stats *st)
{
    memset(st, 0, sizeof *st);
    if (p->n_clusters < 2 || p->n_services < 2)
        return;
    struct lns l;
    if (lns_init(&l, p, assign, seed)) {
        lns_free(&l);
        return;
    }
    uint32_t nu = l.nu, want = F_START < nu ? F_START : nu;
    double best = smo__greedy_objective(p, assign, NULL);
    int32_t *trial = malloc(p->n_services * sizeof *trial);
    int32_t *saved = malloc((nu + 1) * sizeof *saved);
    double *sc = malloc((p->n_clusters + 1) * 3 * sizeof *sc);
    /* Patience does not depend on the time left (a longer run does more
     * rounds, cbc_search.c), so that a search that ends by itself gives
     * the same answer on any machine. */
    uint32_t stall = 0,
             stall_max = (uint32_t)(PATIENCE * (40 + 6 * nu / F_START));
    char why[128];
    while (trial && saved && sc && stall < stall_max &&
           smo__now_ms() < deadline_ms) {
        uint32_t nf, nk;
        int strategy = (int)(st->iterations % 4);
        neighbourhood(&l, strategy, want, &nf, &nk);
        st->iterations++;
        memcpy(saved, l.at, nu * sizeof *saved);
        memcpy(sc, l.cpu, p->n_clusters * sizeof *sc);
        memcpy(sc + p->n_clusters, l.mem, p->n_clusters * sizeof *sc);
        memcpy(sc + 2 * p->n_clusters, l.gpu, p->n_clusters * sizeof *sc);
        bool optimal = false;
        int better = nf ? solve_sub(&l, nf, nk, &optimal) : 0;
        clear_sets(&l, nf, nk);
        if (nf && (strategy == 0 || strategy == 2)) {
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
