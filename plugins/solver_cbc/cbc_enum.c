/* Exact placement of small problems by enumeration.
 *
 * A deploy of a few services on a few clusters has a few hundred possible
 * assignments: trying each costs microseconds, where building and solving
 * the MILP costs milliseconds (a fifth of a 3-service deploy's CPU). The
 * optimum is the one CBC would prove; among equal optima the tie-breaking
 * terms of the model (docs/solvers.md, "Ties") decide, exactly (CBC
 * applies them within its tolerances, which are of their size). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbc_models.h"
#include "greedy.h"

struct walk {
    const struct smo_place_problem *p;
    const struct smo__units *u;
    const double *stay_cpu; /* unit x cluster: cores already there */
    double total_cpu;
    int32_t *unit_at; /* unit -> cluster, being enumerated */
    int32_t *assign;  /* service -> cluster */
    double *used;     /* 3 x n_clusters: cpu, memory, GPUs taken so far */
    int32_t *best;
    double best_score;
    bool found;
};

static double tie_of(const struct walk *w)
{
    uint32_t nc = w->p->n_clusters, nu = w->u->n;
    double t = 0;
    for (uint32_t u = 0; u < nu; u++) {
        uint32_t c = (uint32_t)w->unit_at[u];
        t += -SMO__EPS_MOVE * w->stay_cpu[(size_t)u * nc + c] / w->total_cpu +
             SMO__EPS_LEX * c / ((double)nc * nu);
    }
    return t;
}

/* Depth-first over units; capacity is checked as units are added (the
 * rest of the constraints once an assignment is complete). */
static void walk(struct walk *w, uint32_t u)
{
    const struct smo_place_problem *p = w->p;
    uint32_t nc = p->n_clusters;
    if (u == w->u->n) {
        for (uint32_t s = 0; s < p->n_services; s++)
            w->assign[s] = w->unit_at[w->u->of[s]];
        char why[8];
        if (smo__greedy_check(p, w->assign, why, sizeof why))
            return;
        double score = smo__greedy_objective(p, w->assign, NULL) + tie_of(w);
        if (!w->found || score < w->best_score) {
            w->found = true;
            w->best_score = score;
            memcpy(w->best, w->assign, p->n_services * sizeof *w->best);
        }
        return;
    }
    for (uint32_t c = 0; c < nc; c++) {
        if (!w->u->allowed[(size_t)u * nc + c])
            continue;
        const struct smo_place_cluster *cl = &p->clusters[c];
        double cpu = w->used[c] + w->u->cpu[u];
        double mem = w->used[nc + c] + w->u->mem[u];
        double gpu = w->used[2 * nc + c] + w->u->gpu[u];
        if (cpu > cl->cpu_free + 1e-9 || mem > (double)cl->memory_free + 0.5 ||
            gpu > cl->gpu_free + 1e-9)
            continue;
        w->used[c] = cpu;
        w->used[nc + c] = mem;
        w->used[2 * nc + c] = gpu;
        w->unit_at[u] = (int32_t)c;
        walk(w, u + 1);
        w->used[c] -= w->u->cpu[u];
        w->used[nc + c] -= w->u->mem[u];
        w->used[2 * nc + c] -= w->u->gpu[u];
    }
}

int smo__place_enumerate(const struct smo_place_problem *p,
                         const struct smo__units *u, uint64_t max,
                         int32_t *best)
{
    uint32_t nc = p->n_clusters;
    uint64_t space = 1;
    for (uint32_t k = 0; k < u->n; k++) {
        uint64_t a = 0;
        for (uint32_t c = 0; c < nc; c++)
            a += u->allowed[(size_t)k * nc + c];
        if (a == 0)
            return 0; /* nothing to enumerate: no assignment */
        if (space > max / a)
            return -1;
        space *= a;
    }
    struct walk w = {.p = p, .u = u, .best = best};
    double *stay = calloc((size_t)u->n * nc + 1, sizeof *stay);
    w.unit_at = calloc(u->n + 1, sizeof *w.unit_at);
    w.assign = calloc(p->n_services + 1, sizeof *w.assign);
    w.used = calloc(3 * (size_t)nc + 1, sizeof *w.used);
    int rc = -2;
    if (stay && w.unit_at && w.assign && w.used) {
        for (uint32_t k = 0; k < u->n; k++)
            w.total_cpu += u->cpu[k];
        if (w.total_cpu <= 0)
            w.total_cpu = 1;
        for (uint32_t s = 0; s < p->n_services; s++) {
            const struct smo_place_service *sv = &p->services[s];
            if (sv->current >= 0 && (uint32_t)sv->current < nc)
                stay[(size_t)u->of[s] * nc + (uint32_t)sv->current] +=
                    sv->cpu * sv->replicas;
        }
        w.stay_cpu = stay;
        walk(&w, 0);
        rc = w.found ? 1 : 0;
    }
    free(stay);
    free(w.unit_at);
    free(w.assign);
    free(w.used);
    return rc;
}
