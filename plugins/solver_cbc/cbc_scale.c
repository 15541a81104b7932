/* The scaling MILP (docs/solvers.md, "Scaling model"). Services interact
 * only through their clusters' capacity: when every service's own best
 * replicas fit, they are the optimum and CBC is not needed; otherwise each
 * cluster is solved on its own, by dynamic programming when it can be
 * (cbc_scale_dp.c), else by CBC. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbc_lp.h"
#include "cbc_models.h"
#include "greedy.h"

#define EPS 1e-9
/* Tie-break toward fewer replicas (per replica, normalised). */
#define EPS_REPLICA 1e-7

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void finish(const struct smo_scale_problem *p,
                   struct smo_scale_result *r)
{
    r->objective = smo__scale_objective(p, r->replicas, r->unmet);
    smo__scale_unmet_reason(p, r->unmet, r->reason, sizeof r->reason);
}

struct part {
    const struct smo__cbc_cfg *cfg;
    const struct smo_scale_problem *p;
    struct smo_scale_result *r; /* replicas: the warm start, improved */
    struct smo__cbc_stats *stats;
    double obj;      /* objective of r->replicas */
    double deadline; /* now_ms() value */
    bool all_optimal;
};

/* Cluster k's services as one MILP, started from their current replicas;
 * the answer replaces them only when it is feasible and no worse. */
static int solve_cluster(struct part *pt, uint32_t k)
{
    const struct smo_scale_problem *p = pt->p;
    const struct smo_scale_weights *w = &p->weights;
    struct smo_scale_result *r = pt->r;
    uint32_t ns = p->n_services;
    double U = 0;
    uint32_t n_here = 0;
    for (uint32_t i = 0; i < ns; i++) {
        double v = p->services[i].max_replicas * p->services[i].cpu;
        U = v > U ? v : U; /* the whole problem's, as the objective says */
        n_here += p->services[i].cluster == k;
    }
    if (U <= 0)
        U = 1;
    if (!n_here)
        return SMO_OK;
    if (pt->cfg->exact_scaling) {
        uint32_t *dp = malloc((ns + 1) * sizeof *dp);
        if (!dp)
            return SMO_ENOMEM;
        memcpy(dp, r->replicas, ns * sizeof *dp);
        int e = smo__scale_cluster_dp(p, k, dp);
        char why[128];
        if (e == 1 && smo__scale_check(p, dp, why, sizeof why) == 0) {
            double obj = smo__scale_objective(p, dp, NULL);
            if (obj <= pt->obj + EPS) { /* exact: never worse */
                memcpy(r->replicas, dp, ns * sizeof *dp);
                pt->obj = obj;
            }
            pt->stats->dp_clusters++;
            free(dp);
            return SMO_OK;
        }
        free(dp);
        if (e == -2)
            return SMO_ENOMEM;
    }
    struct smo__lp lp;
    smo__lp_init(&lp);
    int *ri = malloc((ns + 1) * sizeof *ri);
    int *ind = malloc(((size_t)n_here + 3) * sizeof *ind);
    double *val = malloc(((size_t)n_here + 3) * sizeof *val);
    double *start = NULL;
    uint32_t *cand = NULL;
    struct smo__cbc_run run;
    memset(&run, 0, sizeof run);
    int rc = SMO_OK;
    if (!ri || !ind || !val) {
        rc = SMO_ENOMEM;
        goto out;
    }
    /* r_s, a_s >= |r_s - prev_s| and u_s >= lambda_s - alpha r_s - beta. */
    for (uint32_t i = 0; i < ns; i++) {
        const struct smo_scale_service *s = &p->services[i];
        ri[i] = -1;
        if (s->cluster != k)
            continue;
        uint32_t lo, hi;
        smo__scale_window(s, &lo, &hi);
        /* A service with no choice is a constant (see force() in
         * cbc_place.c: CBC must never see only fixed integers). */
        if (lo == hi)
            continue;
        ri[i] = smo__lp_col(
            &lp, lo, hi, w->util * s->cpu / U + EPS_REPLICA / (ns + 1.0), true);
        if (w->trans > 0) {
            int a = smo__lp_col(
                &lp, 0, SMO__LP_INF,
                w->trans / (s->max_replicas ? s->max_replicas : 1), false);
            ind[0] = a;
            val[0] = 1;
            ind[1] = ri[i];
            val[1] = -1;
            smo__lp_row(&lp, 2, ind, val, -(double)s->prev, SMO__LP_INF);
            val[1] = 1;
            smo__lp_row(&lp, 2, ind, val, (double)s->prev, SMO__LP_INF);
        }
        double short_at_lo = s->lambda - s->beta - s->alpha * lo;
        if (w->unmet > 0 && short_at_lo > EPS) {
            int u =
                smo__lp_col(&lp, 0, SMO__LP_INF,
                            w->unmet / (s->lambda > 1 ? s->lambda : 1), false);
            ind[0] = ri[i];
            val[0] = s->alpha;
            ind[1] = u;
            val[1] = 1;
            smo__lp_row(&lp, 2, ind, val, s->lambda - s->beta, SMO__LP_INF);
        }
    }
    /* The cluster's capacity, cpu and GPUs. */
    for (int g = 0; g < 2; g++) {
        if (g && !p->cluster_gpu)
            continue;
        double cap = g ? (double)p->cluster_gpu[k] : p->cluster_cpu[k];
        double most = 0;
        int n = 0;
        for (uint32_t i = 0; i < ns; i++) {
            const struct smo_scale_service *s = &p->services[i];
            double d = g ? (double)s->gpu : s->cpu;
            if (s->cluster != k || d <= 0)
                continue;
            uint32_t lo, hi;
            smo__scale_window(s, &lo, &hi);
            if (ri[i] < 0) {
                cap -= d * lo;
                continue;
            }
            most += d * hi;
            ind[n] = ri[i];
            val[n++] = d;
        }
        if (n && most > cap + EPS)
            smo__lp_row(&lp, n, ind, val, -SMO__LP_INF, cap);
    }
    if (lp.oom) {
        rc = SMO_ENOMEM;
        goto out;
    }
    pt->stats->cols += lp.ncols;
    pt->stats->rows += lp.nrows;
    if (!lp.ncols)
        goto out; /* nothing to choose here */
    start = calloc((size_t)lp.ncols + 1, sizeof *start);
    cand = malloc((ns + 1) * sizeof *cand);
    if (!start || !cand) {
        rc = SMO_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < ns; i++)
        if (ri[i] >= 0)
            start[ri[i]] = r->replicas[i];
    run.seconds = (pt->deadline - now_ms()) / 1e3;
    if (run.seconds < 0.01)
        run.seconds = 0.01;
    /* The configured gap, per cluster: the sum over clusters is then
     * within it too. Proving the last 0.01% of a 50-service knapsack can
     * take CBC seconds for nothing an operator would notice. */
    run.rel_gap = pt->cfg->gap;
    /* Unlike placement, a cluster's scaling problem is one knapsack row:
     * its cover cuts close the gap that branching alone cannot (measured:
     * 1,000 services, 20 clusters, from 10 s unproved to ~0.4-2 s). */
    run.cuts = true;
    run.start = pt->cfg->warm_start ? start : NULL;
    smo__cbc_solve(&lp, &run);
    pt->stats->outcome = run.outcome;
    pt->stats->wait_ms += run.wait_ms;
    if (run.outcome != SMO__CBC_FINISHED)
        pt->all_optimal = false;
    if (!run.x) {
        pt->stats->used_warm = true;
        goto out;
    }
    memcpy(cand, r->replicas, ns * sizeof *cand);
    for (uint32_t i = 0; i < ns; i++) {
        if (p->services[i].cluster != k)
            continue;
        uint32_t lo, hi;
        smo__scale_window(&p->services[i], &lo, &hi);
        double v = ri[i] >= 0 ? floor(run.x[ri[i]] + 0.5) : lo;
        cand[i] = v < 0 ? 0 : (uint32_t)v;
    }
    char why[128];
    double obj = smo__scale_objective(p, cand, NULL);
    if (smo__scale_check(p, cand, why, sizeof why) == 0 &&
        obj <= pt->obj + EPS) {
        memcpy(r->replicas, cand, ns * sizeof *cand);
        pt->obj = obj;
    } else {
        pt->stats->used_warm = true;
        pt->all_optimal = false;
    }
out:
    free(run.x);
    free(start);
    free(cand);
    free(ri);
    free(ind);
    free(val);
    smo__lp_free(&lp);
    return rc;
}

int smo__cbc_scale(const struct smo__cbc_cfg *cfg,
                   const struct smo_scale_problem *p,
                   struct smo_scale_result *r, struct smo__cbc_stats *stats)
{
    double t0 = now_ms();
    uint32_t ns = p->n_services, nc = p->n_clusters;
    memset(stats, 0, sizeof *stats);
    stats->warm_objective = -1;
    r->reason[0] = '\0';
    int64_t limit =
        p->time_limit_ms > 0 ? p->time_limit_ms : cfg->time_limit_ms;
    /* The rule-based answer: feasible whenever anything is, and a proof of
     * infeasibility when the window minima do not fit. */
    double warm_obj = 0;
    if (smo__greedy_scale(p, r->replicas, r->unmet, &warm_obj, r->reason,
                          sizeof r->reason)) {
        r->status = SMO_SOLVE_INFEASIBLE;
        r->solve_ms = now_ms() - t0;
        return SMO_OK;
    }
    stats->warm_objective = warm_obj;
    stats->warm_ms = now_ms() - t0;
    uint32_t *alone = malloc((ns + 1) * sizeof *alone);
    if (!alone)
        return SMO_ENOMEM;
    if (smo__scale_best_alone(p, alone)) {
        memcpy(r->replicas, alone, ns * sizeof *alone);
        free(alone);
        r->status = SMO_SOLVE_OPTIMAL;
        finish(p, r);
        r->solve_ms = now_ms() - t0;
        return SMO_OK;
    }
    free(alone);

    /* Services interact only through their own cluster's capacity: one
     * small MILP per cluster instead of one large one. A 1,000-service
     * problem on 20 clusters is 20 problems of ~50 integers, each proved
     * optimal in milliseconds where the joint model ran out of time. */
    struct part part = {.cfg = cfg,
                        .p = p,
                        .r = r,
                        .stats = stats,
                        .obj = warm_obj,
                        .deadline = t0 + (double)limit,
                        .all_optimal = true};
    int rc = SMO_OK;
    for (uint32_t k = 0; k < nc && rc == SMO_OK; k++)
        rc = solve_cluster(&part, k);
    if (rc == SMO_OK) {
        r->status = part.all_optimal ? SMO_SOLVE_OPTIMAL : SMO_SOLVE_FEASIBLE;
        finish(p, r);
    }
    r->solve_ms = now_ms() - t0;
    return rc;
}
