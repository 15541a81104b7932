/* Simulated annealing over the units' clusters: each round of the
 * placement search (cbc_search.c) walks from the best placement so far and
 * hands where it settled to the neighbourhood search.
 *
 * Why: the heuristic's descent and the neighbourhood search both stop in
 * a local optimum that depends on where they start. Moving or swapping
 * one unit, or moving a connected block of units, is scored here in a few
 * dozen nanoseconds (loads, the units' connections and the three busiest
 * clusters are kept incrementally), and accepting some worse steps lets
 * the walk leave that basin: the rounds took 50 x 8 from 1.9-5.6 % above
 * the best known placement to within 0.2 % (docs/benchmarks.md).
 *
 * Capacities are soft during the walk (excess costs `penalty` per core,
 * GiB or quarter GPU: crossing a full cluster is what swaps alone cannot
 * do) and only states without excess are kept; allowed clusters and
 * latency bounds are never broken. A fixed-seed generator; the step count
 * depends on the problem's size, shortened to fit the time left. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbc_models.h"
#include "greedy.h"

#define EPS 1e-9
#define GIB 1073741824.0

#define STEPS_PER 300      /* steps per unit and cluster */
#define BLOCK_MAX 12       /* units in a block move, at most */
#define STEPS_MAX 40000000 /* at most */
#define CALIBRATE 4096     /* steps timed to fit the rest */

struct sa {
    const struct smo_place_problem *p;
    struct smo__units u;
    uint32_t nu, nc;
    uint32_t *nstart, *nb;  /* unit graph (CSR) */
    double *nmult;          /* connections to that neighbour */
    uint32_t *bstart, *bnd; /* unit -> its latency-bounded edges (CSR) */
    double *lin;            /* unit x cluster: cost and move terms */
    int32_t *at, *best;     /* unit -> cluster */
    double *cpu, *mem, *gpu;
    double excess;  /* sum of over() over the clusters */
    double penalty; /* objective per unit of excess */
    uint32_t top[3];
    double topv[3];
    uint64_t rng;
    uint32_t *blk;         /* scratch: the block being moved */
    uint32_t *mark, stamp; /* unit in the block when mark == stamp */
};

static uint64_t rnd(struct sa *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit01(struct sa *s)
{
    return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

static double util(const struct sa *s, uint32_t k, double extra)
{
    const struct smo_place_cluster *cl = &s->p->clusters[k];
    return cl->cpu_alloc > 0
               ? (cl->cpu_used + s->cpu[k] + extra) / cl->cpu_alloc
               : 0;
}

static void refresh_top(struct sa *s)
{
    for (int i = 0; i < 3; i++) {
        s->top[i] = UINT32_MAX;
        s->topv[i] = 0;
    }
    for (uint32_t k = 0; k < s->nc; k++) {
        double v = util(s, k, 0);
        for (int i = 0; i < 3; i++)
            if (s->top[i] == UINT32_MAX || v > s->topv[i]) {
                for (int j = 2; j > i; j--) {
                    s->top[j] = s->top[j - 1];
                    s->topv[j] = s->topv[j - 1];
                }
                s->top[i] = k;
                s->topv[i] = v;
                break;
            }
    }
}

/* The peak once cluster a gained da cores and b gained db. */
static double peak_with(const struct sa *s, uint32_t a, double da, uint32_t b,
                        double db)
{
    double m = 0;
    for (int i = 0; i < 3; i++)
        if (s->top[i] != UINT32_MAX && s->top[i] != a && s->top[i] != b) {
            m = s->topv[i];
            break;
        }
    double ua = util(s, a, da), ub = util(s, b, db);
    m = ua > m ? ua : m;
    return ub > m ? ub : m;
}

/* How far cluster k would be over its capacity with (cpu, mem, gpu) of
 * ours: cores, plus GiB, plus four per GPU. */
static double over(const struct sa *s, uint32_t k, double cpu, double mem,
                   double gpu)
{
    const struct smo_place_cluster *cl = &s->p->clusters[k];
    double o = 0;
    if (cpu > cl->cpu_free + EPS)
        o += cpu - cl->cpu_free;
    if (mem > (double)cl->memory_free)
        o += (mem - (double)cl->memory_free) / GIB;
    if (gpu > (double)cl->gpu_free)
        o += 4 * (gpu - (double)cl->gpu_free);
    return o;
}

/* The change of k's excess when it gains (dc, dm, dg). */
static double over_delta(const struct sa *s, uint32_t k, double dc, double dm,
                         double dg)
{
    return over(s, k, s->cpu[k] + dc, s->mem[k] + dm, s->gpu[k] + dg) -
           over(s, k, s->cpu[k], s->mem[k], s->gpu[k]);
}

/* Unit x's bounded connections hold with x on k (and unit y, when not
 * UINT32_MAX, on ky). */
static bool latency_ok(const struct sa *s, uint32_t x, uint32_t k, uint32_t y,
                       uint32_t ky)
{
    const struct smo_place_problem *p = s->p;
    for (uint32_t i = s->bstart[x]; i < s->bstart[x + 1]; i++) {
        const struct smo_place_edge *e = &p->edges[s->bnd[i]];
        uint32_t a = s->u.of[e->s], b = s->u.of[e->t];
        uint32_t ca = a == x ? k : a == y ? ky : (uint32_t)s->at[a];
        uint32_t cb = b == x ? k : b == y ? ky : (uint32_t)s->at[b];
        if (p->latency_ms[(size_t)ca * s->nc + cb] > e->max_latency_ms)
            return false;
    }
    return true;
}

/* The change of the split-connection term when x goes from its cluster to
 * k, y (if any) being assumed on ky. */
static double net_delta(const struct sa *s, uint32_t x, uint32_t k, uint32_t y,
                        int32_t ky)
{
    int32_t from = s->at[x];
    double d = 0;
    for (uint32_t i = s->nstart[x]; i < s->nstart[x + 1]; i++) {
        uint32_t g = s->nb[i];
        int32_t cg = g == y ? ky : s->at[g];
        d += s->nmult[i] * ((cg != (int32_t)k) - (s->at[g] != from));
    }
    return d;
}

static void place(struct sa *s, uint32_t x, uint32_t k)
{
    int32_t from = s->at[x];
    s->cpu[from] -= s->u.cpu[x];
    s->mem[from] -= s->u.mem[x];
    s->gpu[from] -= s->u.gpu[x];
    s->at[x] = (int32_t)k;
    s->cpu[k] += s->u.cpu[x];
    s->mem[k] += s->u.mem[x];
    s->gpu[k] += s->u.gpu[x];
}

static void sa_free(struct sa *s)
{
    smo__units_free(&s->u);
    free(s->nstart);
    free(s->nb);
    free(s->nmult);
    free(s->bstart);
    free(s->bnd);
    free(s->lin);
    free(s->at);
    free(s->best);
    free(s->cpu);
    free(s->mem);
    free(s->gpu);
    free(s->blk);
    free(s->mark);
}

static int sa_init(struct sa *s, const struct smo_place_problem *p,
                   const int32_t *assign)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->nc = p->n_clusters;
    s->rng = 0xa11ea1;
    if (smo__units_build(p, &s->u))
        return -1;
    uint32_t nu = s->nu = s->u.n, nc = s->nc;
    size_t ne = p->n_edges;
    s->bstart = calloc(nu + 2, sizeof *s->bstart);
    s->bnd = malloc((2 * ne + 1) * sizeof *s->bnd);
    s->lin = calloc((size_t)nu * nc + 1, sizeof *s->lin);
    s->at = malloc((nu + 1) * sizeof *s->at);
    s->best = malloc((nu + 1) * sizeof *s->best);
    s->cpu = calloc(nc + 1, sizeof *s->cpu);
    s->mem = calloc(nc + 1, sizeof *s->mem);
    s->gpu = calloc(nc + 1, sizeof *s->gpu);
    s->blk = malloc((nu + 1) * sizeof *s->blk);
    s->mark = calloc(nu + 1, sizeof *s->mark);
    if (!s->blk || !s->mark || !s->bstart || !s->bnd || !s->lin || !s->at ||
        !s->best || !s->cpu || !s->mem || !s->gpu)
        return -1;
    /* The unit graph; and each unit's bounded connections to others. */
    struct smo__unit_graph g = {0};
    int r = smo__unit_graph(p, &s->u, &g);
    s->nstart = g.start;
    s->nb = g.nb;
    s->nmult = g.mult;
    if (r)
        return -1;
    for (size_t e = 0; e < ne; e++) {
        uint32_t a = s->u.of[p->edges[e].s], b = s->u.of[p->edges[e].t];
        if (a != b && p->latency_ms && p->edges[e].max_latency_ms >= 0) {
            s->bstart[a + 2]++;
            s->bstart[b + 2]++;
        }
    }
    for (uint32_t a = 0; a < nu; a++)
        s->bstart[a + 2] += s->bstart[a + 1];
    for (size_t e = 0; e < ne; e++) {
        uint32_t a = s->u.of[p->edges[e].s], b = s->u.of[p->edges[e].t];
        if (a == b || !p->latency_ms || p->edges[e].max_latency_ms < 0)
            continue;
        s->bnd[s->bstart[a + 1]++] = (uint32_t)e;
        s->bnd[s->bstart[b + 1]++] = (uint32_t)e;
    }
    /* Cost and move terms per unit and cluster. */
    const struct smo_place_weights *w = &p->weights;
    for (uint32_t i = 0; i < p->n_services; i++) {
        const struct smo_place_service *sv = &p->services[i];
        double *row = s->lin + (size_t)s->u.of[i] * nc;
        for (uint32_t k = 0; k < nc; k++) {
            row[k] += w->cost * p->clusters[k].price * sv->cpu * sv->replicas;
            if (sv->current >= 0 && sv->current != (int32_t)k)
                row[k] += w->move;
        }
    }
    for (uint32_t a = 0; a < nu; a++) {
        int32_t c = assign[s->u.first[a]];
        s->at[a] = s->best[a] = c;
        s->cpu[c] += s->u.cpu[a];
        s->mem[c] += s->u.mem[a];
        s->gpu[c] += s->u.gpu[a];
    }
    for (uint32_t k = 0; k < nc; k++)
        s->excess += over(s, k, s->cpu[k], s->mem[k], s->gpu[k]);
    refresh_top(s);
    return 0;
}

/* After a step was applied: its change of excess `ex` counted, the busiest
 * clusters found again; returns the step's change of the objective `d`. */
static double accepted(struct sa *s, double ex, double d)
{
    s->excess += ex;
    if (s->excess < 1e-9)
        s->excess = 0; /* rounding: feasible again */
    refresh_top(s);
    return d;
}

/* A block of units moved together: from unit x, breadth-first over its
 * connections, the units on its cluster (2 to BLOCK_MAX of them), to
 * cluster k. Why: the best placements differ by whole parts of modules
 * changing clusters, often in a cycle through several clusters; one unit
 * at a time, each step of such a change splits connections and is
 * refused once the walk is cold (this move took 100 x 12 from one run in
 * six within 1 % of the best known placement to nine in ten,
 * docs/benchmarks.md). Returns the change made, 0 when nothing was. */
static double block_move(struct sa *s, double t, uint64_t r)
{
    const struct smo_place_weights *w = &s->p->weights;
    uint32_t nu = s->nu, nc = s->nc;
    uint32_t x = (uint32_t)(r % nu);
    uint32_t from = (uint32_t)s->at[x];
    uint32_t k = (uint32_t)((r >> 24) % nc);
    uint32_t lim = 2 + (uint32_t)((r >> 48) % (BLOCK_MAX - 1));
    if (k == from)
        return 0;
    if (++s->stamp == 0) {
        memset(s->mark, 0, nu * sizeof *s->mark);
        s->stamp = 1;
    }
    uint32_t n = 0, head = 0;
    s->blk[n++] = x;
    s->mark[x] = s->stamp;
    while (head < n && n < lim) {
        uint32_t y = s->blk[head++];
        for (uint32_t i = s->nstart[y]; i < s->nstart[y + 1] && n < lim; i++) {
            uint32_t g = s->nb[i];
            if (s->mark[g] != s->stamp && (uint32_t)s->at[g] == from) {
                s->mark[g] = s->stamp;
                s->blk[n++] = g;
            }
        }
    }
    if (n < 2)
        return 0;
    double dc = 0, dm = 0, dg = 0, lin = 0, net = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t b = s->blk[j];
        if (!s->u.allowed[(size_t)b * nc + k])
            return 0;
        dc += s->u.cpu[b];
        dm += s->u.mem[b];
        dg += s->u.gpu[b];
        lin += s->lin[(size_t)b * nc + k] - s->lin[(size_t)b * nc + from];
        for (uint32_t i = s->nstart[b]; i < s->nstart[b + 1]; i++) {
            uint32_t g = s->nb[i];
            if (s->mark[g] != s->stamp) /* inside the block: unchanged */
                net += s->nmult[i] *
                       ((s->at[g] != (int32_t)k) - (s->at[g] != (int32_t)from));
        }
    }
    double ex =
        over_delta(s, k, dc, dm, dg) + over_delta(s, from, -dc, -dm, -dg);
    double d = lin + s->penalty * ex + w->net * net +
               w->balance * (peak_with(s, from, -dc, k, dc) - s->topv[0]);
    if (d > 0 && unit01(s) >= exp(-d / t))
        return 0;
    /* The bounds, with the whole block on k. */
    bool ok = true;
    for (uint32_t j = 0; j < n; j++)
        s->at[s->blk[j]] = (int32_t)k;
    for (uint32_t j = 0; j < n && ok; j++) {
        uint32_t b = s->blk[j];
        ok = s->bstart[b] == s->bstart[b + 1] ||
             latency_ok(s, b, k, UINT32_MAX, 0);
    }
    for (uint32_t j = 0; j < n; j++)
        s->at[s->blk[j]] = (int32_t)from;
    if (!ok)
        return 0;
    for (uint32_t j = 0; j < n; j++)
        place(s, s->blk[j], k);
    return accepted(s, ex, d);
}

/* One attempt at temperature t: one time in two a block move, else a move
 * of a random unit to a random allowed cluster or (one time in three) a
 * swap of two units on different clusters. Returns the change of the
 * objective made (0 when nothing was done). */
static double attempt(struct sa *s, double t)
{
    const struct smo_place_weights *w = &s->p->weights;
    uint32_t nu = s->nu, nc = s->nc;
    uint64_t r = rnd(s);
    if ((r >> 56) % 2 == 0)
        return block_move(s, t, rnd(s));
    uint32_t x = (uint32_t)(r % nu);
    uint32_t from = (uint32_t)s->at[x];
    double peak0 = s->topv[0];
    double d, ex;
    if ((r >> 32) % 3 != 0 || nu < 2) {
        uint32_t k = (uint32_t)((r >> 40) % nc);
        if (k == from || !s->u.allowed[(size_t)x * nc + k])
            return 0;
        ex = over_delta(s, k, s->u.cpu[x], s->u.mem[x], s->u.gpu[x]) +
             over_delta(s, from, -s->u.cpu[x], -s->u.mem[x], -s->u.gpu[x]);
        d = s->lin[(size_t)x * nc + k] - s->lin[(size_t)x * nc + from] +
            s->penalty * ex + w->net * net_delta(s, x, k, UINT32_MAX, 0) +
            w->balance *
                (peak_with(s, from, -s->u.cpu[x], k, s->u.cpu[x]) - peak0);
        if (d > 0 && unit01(s) >= exp(-d / t))
            return 0;
        if (s->bstart[x] != s->bstart[x + 1] &&
            !latency_ok(s, x, k, UINT32_MAX, 0))
            return 0;
        place(s, x, k);
    } else {
        uint32_t y = (uint32_t)((r >> 40) % nu);
        uint32_t k = (uint32_t)s->at[y];
        if (k == from || !s->u.allowed[(size_t)x * nc + k] ||
            !s->u.allowed[(size_t)y * nc + from])
            return 0;
        double dc = s->u.cpu[x] - s->u.cpu[y];
        double dm = s->u.mem[x] - s->u.mem[y], dg = s->u.gpu[x] - s->u.gpu[y];
        ex = over_delta(s, k, dc, dm, dg) + over_delta(s, from, -dc, -dm, -dg);
        /* y's own term sees x already on k: the x-y connection, if any,
         * stays as it was (both move), and is counted once by each. */
        d = s->lin[(size_t)x * nc + k] - s->lin[(size_t)x * nc + from] +
            s->lin[(size_t)y * nc + from] - s->lin[(size_t)y * nc + k] +
            s->penalty * ex +
            w->net * (net_delta(s, x, k, y, (int32_t)from) +
                      net_delta(s, y, from, x, (int32_t)k)) +
            w->balance * (peak_with(s, from, -dc, k, dc) - peak0);
        if (d > 0 && unit01(s) >= exp(-d / t))
            return 0;
        if ((s->bstart[x] != s->bstart[x + 1] &&
             !latency_ok(s, x, k, y, from)) ||
            (s->bstart[y] != s->bstart[y + 1] && !latency_ok(s, y, from, x, k)))
            return 0;
        place(s, x, k);
        place(s, y, from);
    }
    return accepted(s, ex, d);
}

int smo__cbc_anneal(const struct smo_place_problem *p, int32_t *assign,
                    double deadline_ms, uint64_t seed,
                    struct smo__anneal_stats *st)
{
    memset(st, 0, sizeof *st);
    if (p->n_clusters < 2 || p->n_services < 2)
        return 0;
    struct sa s;
    if (sa_init(&s, p, assign)) {
        sa_free(&s);
        return -1;
    }
    s.rng += seed * 0x632be59bd9b4e019ull;
    /* Steps: STEPS_PER per unit and cluster (a short walk: the
     * neighbourhood search finishes the job), fewer when the time left
     * would not hold them (measured on the first ones); the temperature
     * falls geometrically from about one split connection's weight (odd
     * seeds: a third of it, a walk that stays nearer its start) to a
     * two-hundredth of it. */
    uint64_t steps = (uint64_t)s.nu * s.nc * STEPS_PER;
    if (steps > STEPS_MAX)
        steps = STEPS_MAX;
    double scale = p->weights.net > 0       ? p->weights.net
                   : p->weights.balance > 0 ? p->weights.balance * 0.1
                                            : 1;
    s.penalty = 2 * scale;
    double t0 = (seed % 2 ? 0.3 : 1) * scale, t1 = 0.005 * scale, t = t0;
    double cool = pow(t1 / t0, 1.0 / (double)steps);
    double cur = 0, best = INFINITY, start = smo__now_ms();
    bool have = false;
    for (uint64_t i = 0; i < steps; i++, t *= cool) {
        if (i == CALIBRATE) {
            double now = smo__now_ms(), per = (now - start) / CALIBRATE;
            double fit = per > 0 ? 0.9 * (deadline_ms - now) / per : 0;
            if (fit < (double)(steps - i)) {
                steps = i + (uint64_t)(fit > 0 ? fit : 0);
                cool = pow(t1 / t, 1.0 / (double)(steps - i + 1));
            }
        }
        if ((i & 4095) == 0 && smo__now_ms() >= deadline_ms)
            break;
        double d = attempt(&s, t);
        if (d == 0)
            continue;
        st->accepted++;
        cur += d;
        /* The best feasible state of the cold half: where the walk
         * settled, better than the start or not. */
        if (s.excess == 0 && 2 * i >= steps && cur < best - 1e-9) {
            best = cur;
            have = true;
            memcpy(s.best, s.at, s.nu * sizeof *s.best);
        }
    }
    st->steps = steps;
    int32_t *trial = malloc(p->n_services * sizeof *trial);
    int rc = 0;
    if (!trial)
        rc = -1;
    else if (have) {
        for (uint32_t i = 0; i < p->n_services; i++)
            trial[i] = s.best[s.u.of[i]];
        char why[128];
        if (smo__greedy_check(p, trial, why, sizeof why) == 0) {
            st->improved = smo__greedy_objective(p, trial, NULL) <
                           smo__greedy_objective(p, assign, NULL) - 1e-9;
            memcpy(assign, trial, p->n_services * sizeof *trial);
        }
    }
    free(trial);
    sa_free(&s);
    return rc;
}
