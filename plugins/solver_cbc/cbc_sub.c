/* Depth-first branch and bound for the neighbourhood search's subproblems
 * (cbc_sub.h). Units are taken in breadth-first order of their
 * connections, so that a split is paid as soon as possible; each unit
 * tries its clusters cheapest first. The bound of a partial assignment is
 * what it already costs (its columns, its split connections, the peak so
 * far: the peak only grows) plus, for every unit left, its cheapest
 * cluster counting the splits from the units already placed (kept
 * incrementally as units are placed and taken back). */
#include "cbc_sub.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct bb {
    struct smo__sub *s;
    uint32_t *order; /* depth -> unit */
    uint32_t *depth; /* unit -> depth */
    double *cost;    /* nf x nk: column plus splits from placed units */
    double *mn;      /* unit -> its cheapest cost */
    double rest;     /* sum of mn over the units left */
    uint32_t *at;    /* unit -> cluster index, UINT32_MAX free */
    double *load;    /* nk x 3 */
    double *util;    /* nk */
    double best_val;
    bool found, stopped;
};

static double peak_of(const struct bb *b)
{
    double m = b->s->peak_floor;
    for (uint32_t j = 0; j < b->s->nk; j++)
        m = b->util[j] > m ? b->util[j] : m;
    return m;
}

static bool bounds_ok(const struct bb *b, uint32_t i, uint32_t j)
{
    const struct smo__sub *s = b->s;
    for (uint32_t x = 0; x < s->nbound; x++) {
        uint32_t p = s->bpair[2 * x], q = s->bpair[2 * x + 1];
        if (p != i && q != i)
            continue;
        uint32_t o = p == i ? q : p;
        if (b->at[o] == UINT32_MAX)
            continue;
        uint32_t jp = p == i ? j : b->at[o], jq = p == i ? b->at[o] : j;
        if (!s->bok[((size_t)x * s->nk + jp) * s->nk + jq])
            return false;
    }
    return true;
}

static double cheapest(const struct bb *b, uint32_t g)
{
    const double *c = b->cost + (size_t)g * b->s->nk;
    double m = INFINITY;
    for (uint32_t j = 0; j < b->s->nk; j++)
        m = c[j] < m ? c[j] : m;
    return m;
}

/* Unit i goes on (sign 1) or comes off (sign -1) cluster j: its free
 * neighbours pay (or stop paying) the split everywhere else. */
static void touch(struct bb *b, uint32_t i, uint32_t j, double sign)
{
    const struct smo__sub *s = b->s;
    uint32_t nk = s->nk;
    for (uint32_t e = s->estart[i]; e < s->estart[i + 1]; e++) {
        uint32_t g = s->eto[e];
        if (b->at[g] != UINT32_MAX)
            continue;
        double *c = b->cost + (size_t)g * nk;
        for (uint32_t k = 0; k < nk; k++)
            if (k != j)
                c[k] += sign * s->ew[e];
        double m = cheapest(b, g);
        b->rest += m - b->mn[g];
        b->mn[g] = m;
    }
}

static void dfs(struct bb *b, uint32_t d, double partial)
{
    struct smo__sub *s = b->s;
    uint32_t nk = s->nk;
    if (b->stopped)
        return;
    if (++s->nodes > s->max_nodes) {
        b->stopped = true;
        return;
    }
    double peak = peak_of(b);
    if (partial + s->balance * peak + b->rest >= b->best_val - 1e-9)
        return;
    if (d == s->nf) {
        b->best_val = partial + s->balance * peak;
        b->found = true;
        for (uint32_t i = 0; i < s->nf; i++)
            s->best[i] = b->at[i];
        return;
    }
    uint32_t i = b->order[d];
    /* Clusters by the cost of the step, cheapest first (nk is small). */
    uint32_t cand[64];
    double cost[64];
    uint32_t n = 0;
    for (uint32_t j = 0; j < nk && n < 64; j++) {
        double c = b->cost[(size_t)i * nk + j];
        if (c == INFINITY)
            continue;
        const double *need = s->need + (size_t)i * 3;
        const double *cap = s->cap + (size_t)j * 3;
        const double *ld = b->load + (size_t)j * 3;
        if (ld[0] + need[0] > cap[0] + 1e-9 || ld[1] + need[1] > cap[1] ||
            ld[2] + need[2] > cap[2] + 1e-9)
            continue;
        uint32_t k = n++;
        while (k > 0 && cost[k - 1] > c) {
            cand[k] = cand[k - 1];
            cost[k] = cost[k - 1];
            k--;
        }
        cand[k] = j;
        cost[k] = c;
    }
    for (uint32_t k = 0; k < n && !b->stopped; k++) {
        uint32_t j = cand[k];
        if (s->nbound && !bounds_ok(b, i, j))
            continue;
        const double *need = s->need + (size_t)i * 3;
        double *ld = b->load + (size_t)j * 3;
        double u0 = b->util[j];
        ld[0] += need[0];
        ld[1] += need[1];
        ld[2] += need[2];
        b->util[j] = s->fixed_u[j] + s->per_core[j] * ld[0];
        b->at[i] = j;
        b->rest -= b->mn[i];
        touch(b, i, j, 1);
        dfs(b, d + 1, partial + cost[k]);
        touch(b, i, j, -1);
        b->rest += b->mn[i];
        b->at[i] = UINT32_MAX;
        b->util[j] = u0;
        ld[0] -= need[0];
        ld[1] -= need[1];
        ld[2] -= need[2];
    }
}

/* The value of an assignment in the subproblem's terms. */
static double value_of(const struct smo__sub *s, const uint32_t *a)
{
    uint32_t nk = s->nk;
    double v = 0, *cpu = calloc(nk + 1, sizeof *cpu);
    if (!cpu)
        return NAN;
    for (uint32_t i = 0; i < s->nf; i++) {
        v += s->lin[(size_t)i * nk + a[i]];
        cpu[a[i]] += s->need[(size_t)i * 3];
        for (uint32_t e = s->estart[i]; e < s->estart[i + 1]; e++)
            if (s->eto[e] > i && a[s->eto[e]] != a[i])
                v += s->ew[e];
    }
    double m = s->peak_floor;
    for (uint32_t j = 0; j < nk; j++) {
        double u = s->fixed_u[j] + s->per_core[j] * cpu[j];
        m = u > m ? u : m;
    }
    free(cpu);
    return v + s->balance * m;
}

int smo__sub_solve(struct smo__sub *s)
{
    uint32_t nf = s->nf, nk = s->nk;
    s->nodes = 0;
    s->finished = false;
    struct bb b = {.s = s};
    b.order = malloc((nf + 1) * sizeof *b.order);
    b.depth = malloc((nf + 1) * sizeof *b.depth);
    b.cost = malloc(((size_t)nf * nk + 1) * sizeof *b.cost);
    b.mn = malloc((nf + 1) * sizeof *b.mn);
    b.at = malloc((nf + 1) * sizeof *b.at);
    b.load = calloc((size_t)nk * 3 + 1, sizeof *b.load);
    b.util = malloc((nk + 1) * sizeof *b.util);
    int rc = -1;
    if (!b.order || !b.depth || !b.cost || !b.mn || !b.at || !b.load || !b.util)
        goto out;
    /* Breadth-first order over the connections inside the set. */
    for (uint32_t i = 0; i < nf; i++) {
        b.depth[i] = UINT32_MAX;
        b.at[i] = UINT32_MAX;
    }
    uint32_t n = 0;
    for (uint32_t root = 0; root < nf; root++) {
        if (b.depth[root] != UINT32_MAX)
            continue;
        b.depth[root] = n;
        b.order[n++] = root;
        for (uint32_t h = n - 1; h < n; h++) {
            uint32_t x = b.order[h];
            for (uint32_t e = s->estart[x]; e < s->estart[x + 1]; e++)
                if (b.depth[s->eto[e]] == UINT32_MAX) {
                    b.depth[s->eto[e]] = n;
                    b.order[n++] = s->eto[e];
                }
        }
    }
    for (uint32_t i = 0; i < nf; i++) {
        for (uint32_t j = 0; j < nk; j++) {
            double c = s->lin[(size_t)i * nk + j];
            b.cost[(size_t)i * nk + j] = isnan(c) ? INFINITY : c;
        }
        b.mn[i] = cheapest(&b, i);
        if (b.mn[i] == INFINITY) { /* a unit with nowhere to go */
            rc = 0;
            s->finished = true;
            goto out;
        }
        b.rest += b.mn[i];
    }
    for (uint32_t j = 0; j < nk; j++)
        b.util[j] = s->fixed_u[j];
    b.best_val = value_of(s, s->cur);
    if (isnan(b.best_val))
        goto out;
    dfs(&b, 0, 0);
    s->finished = !b.stopped;
    rc = b.found ? 1 : 0;
out:
    free(b.order);
    free(b.depth);
    free(b.cost);
    free(b.mn);
    free(b.at);
    free(b.load);
    free(b.util);
    return rc;
}
