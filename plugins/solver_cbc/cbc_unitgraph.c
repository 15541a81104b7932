/* The units' connection graph, shared by the annealing and the
 * neighbourhood search (cbc_models.h). */
#include <stdlib.h>

#include "cbc_models.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int smo__unit_graph(const struct smo_place_problem *p,
                    const struct smo__units *u, struct smo__unit_graph *g)
{
    size_t ne = p->n_edges;
    uint64_t *pairs = malloc((2 * ne + 1) * sizeof *pairs);
    g->start = calloc(u->n + 1, sizeof *g->start);
    g->nb = malloc((2 * ne + 1) * sizeof *g->nb);
    g->mult = malloc((2 * ne + 1) * sizeof *g->mult);
    if (!pairs || !g->start || !g->nb || !g->mult) {
        free(pairs);
        return -1;
    }
    size_t np = 0;
    for (size_t e = 0; e < ne; e++) {
        uint32_t a = u->of[p->edges[e].s], b = u->of[p->edges[e].t];
        if (a == b)
            continue;
        pairs[np++] = (uint64_t)a << 32 | b;
        pairs[np++] = (uint64_t)b << 32 | a;
    }
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        if (i && pairs[i] == pairs[i - 1]) {
            g->mult[n - 1] += 1;
            continue;
        }
        g->nb[n] = (uint32_t)pairs[i];
        g->mult[n] = 1;
        g->start[(pairs[i] >> 32) + 1]++;
        n++;
    }
    for (uint32_t a = 0; a < u->n; a++)
        g->start[a + 1] += g->start[a];
    free(pairs);
    return 0;
}
