/* One cluster's scaling problem solved exactly by dynamic programming.
 *
 * With its services' GPUs not binding, a cluster's problem is a knapsack
 * with one row: pick r_s in each window, sum cpu_s r_s <= cpu, minimise
 * the sum of per-service terms (docs/solvers.md, "Scaling model"). Cores
 * come in multiples of a common unit (intent classes are quarters of a
 * core), so the capacity is a few hundred units and the table small:
 * exact in well under a millisecond per cluster, where CBC took 10-160 ms
 * to prove the same. When the GPUs can bind too, the few services using
 * them are tried in every combination over the programmed rest. Larger
 * tables (odd cpu values, huge clusters, many GPU services) are left to
 * CBC. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbc_models.h"
#include "greedy.h"

/* Tie-break toward fewer replicas, as the MILP does. */
#define EPS_REPLICA 1e-7
/* Table cells (services x capacity units) worth filling. */
#define MAX_CELLS 20000000u

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Cores as whole millicores, or -1 when they are not. */
static int64_t millicores(double cpu)
{
    double m = cpu * 1000;
    double r = floor(m + 0.5);
    return fabs(m - r) < 1e-6 && r >= 0 && r < 1e12 ? (int64_t)r : -1;
}

struct item {
    uint32_t i;     /* service index */
    uint32_t lo, m; /* window: lo .. lo + m */
    size_t w;       /* capacity units per replica */
    double *f;      /* f[x]: the service's term with lo + x replicas */
};

static void items_free(struct item *it, uint32_t n)
{
    for (uint32_t t = 0; t < n; t++)
        free(it[t].f);
    free(it);
}

int smo__scale_cluster_dp(const struct smo_scale_problem *p, uint32_t k,
                          uint32_t *replicas)
{
    uint32_t ns = p->n_services;
    struct item *it = calloc(ns + 1, sizeof *it);
    if (!it)
        return -2;
    /* Whole millicores of capacity: a sum of whole millicores fits the
     * cluster exactly when it fits this. */
    double cm = floor(p->cluster_cpu[k] * 1000 + 1e-6);
    int64_t cap_m = cm > 0 ? (cm < 1e15 ? (int64_t)cm : -1) : 0;
    uint64_t q = 0;
    double gpu_most = 0, gpu_min = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ns; i++) {
        const struct smo_scale_service *s = &p->services[i];
        if (s->cluster != k)
            continue;
        uint32_t lo, hi;
        smo__scale_window(s, &lo, &hi);
        int64_t c = millicores(s->cpu);
        if (c < 0 || cap_m < 0 || hi - lo > 65535) {
            items_free(it, n);
            return -1;
        }
        gpu_most += (double)s->gpu * hi;
        gpu_min += (double)s->gpu * lo;
        cap_m -= c * lo;
        if (hi > lo && c > 0)
            q = gcd(q, (uint64_t)c);
        it[n++] = (struct item){i, lo, hi - lo, (size_t)c, NULL};
    }
    double G = p->cluster_gpu ? (double)p->cluster_gpu[k] : INFINITY;
    if (cap_m < 0 || gpu_min > G) {
        items_free(it, n);
        return 0; /* the minima do not fit */
    }
    if (q == 0)
        q = 1;
    uint64_t R = (uint64_t)cap_m / q, need = 0;
    double U = smo__scale_norm(p);
    for (uint32_t t = 0; t < n; t++) {
        it[t].w /= q;
        need += (uint64_t)it[t].w * it[t].m;
        it[t].f = malloc(((size_t)it[t].m + 1) * sizeof *it[t].f);
        if (!it[t].f) {
            items_free(it, n);
            return -2;
        }
        for (uint32_t x = 0; x <= it[t].m; x++)
            it[t].f[x] = smo__scale_term(p, it[t].i, it[t].lo + x, U) +
                         EPS_REPLICA * (it[t].lo + x) / (ns + 1.0);
    }
    if (need < R)
        R = need; /* capacity beyond every maximum changes nothing */
    /* When the GPUs can bind, the (few) services using them are tried in
     * every combination, the others programmed over the cores left. */
    bool gpu_binds = gpu_most > G;
    uint32_t ng = 0;
    uint64_t combos = 1;
    if (gpu_binds)
        for (uint32_t t = 0; t < n; t++)
            if (p->services[it[t].i].gpu > 0) {
                struct item tmp = it[ng];
                it[ng++] = it[t];
                it[t] = tmp;
                combos *= it[ng - 1].m + 1;
                if (combos > 100000) {
                    items_free(it, n);
                    return -1;
                }
            }
    uint32_t nn = n - ng; /* programmed items: it[ng .. n) */
    if ((uint64_t)nn * (R + 1) > MAX_CELLS) {
        items_free(it, n);
        return -1;
    }
    size_t W = (size_t)R + 1;
    double *dp = malloc(W * sizeof *dp), *nx = malloc(W * sizeof *nx);
    uint16_t *pick = malloc(((size_t)nn * W + 1) * sizeof *pick);
    uint32_t *odo = calloc(ng + 1, sizeof *odo), *best = NULL;
    int rc = -2;
    if (!dp || !nx || !pick || !odo)
        goto out;
    for (size_t j = 0; j < W; j++)
        dp[j] = 0;
    for (uint32_t t = 0; t < nn; t++) {
        const struct item *x = &it[ng + t];
        uint16_t *pk = pick + (size_t)t * W;
        for (size_t j = 0; j < W; j++) {
            double bv = INFINITY;
            uint32_t bx = 0;
            for (uint32_t v = 0; v <= x->m && (size_t)v * x->w <= j; v++) {
                double c = dp[j - (size_t)v * x->w] + x->f[v];
                if (c < bv) {
                    bv = c;
                    bx = v;
                }
            }
            nx[j] = bv;
            pk[j] = (uint16_t)bx;
        }
        double *tmp = dp;
        dp = nx;
        nx = tmp;
    }
    /* dp[j]: the programmed items' best within j units. The GPU items'
     * combinations, in odometer order (ties: the first). */
    best = calloc(ng + 1, sizeof *best);
    if (!best)
        goto out;
    double bestv = INFINITY;
    size_t best_j = 0;
    for (uint64_t c = 0; c < combos; c++) {
        size_t used = 0;
        double gpu = gpu_min, v = 0;
        for (uint32_t t = 0; t < ng; t++) {
            used += (size_t)odo[t] * it[t].w;
            gpu += (double)p->services[it[t].i].gpu * odo[t];
            v += it[t].f[odo[t]];
        }
        if (used <= R && gpu <= G) {
            v += dp[R - used];
            if (v < bestv) {
                bestv = v;
                best_j = R - used;
                memcpy(best, odo, ng * sizeof *odo);
            }
        }
        for (uint32_t t = 0; t < ng && ++odo[t] > it[t].m; t++)
            odo[t] = 0;
    }
    if (!(bestv < INFINITY)) {
        rc = 0;
        goto out;
    }
    for (uint32_t t = 0; t < ng; t++)
        replicas[it[t].i] = it[t].lo + best[t];
    size_t j = best_j;
    for (uint32_t t = nn; t-- > 0;) {
        const struct item *x = &it[ng + t];
        uint32_t v = pick[(size_t)t * W + j];
        replicas[x->i] = x->lo + v;
        j -= (size_t)v * x->w;
    }
    rc = 1;
out:
    free(dp);
    free(nx);
    free(pick);
    free(odo);
    free(best);
    items_free(it, n);
    return rc;
}
