/* solver_greedy: the placement heuristic as a solver of its own (fast,
 * always feasible when it answers, no optimality proof) and a rule-based
 * scaler. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <smo/smo.h>

#include "greedy.h"

struct cfg {
    int64_t time_limit_ms;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    /* A copy: solves read it on worker threads while a reload may replace
     * (and the core free) the configuration struct. */
    pthread_mutex_t lock;
    int64_t time_limit_ms;
};

static const struct smo_config_field fields[] = {
    {"time_limit", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "200ms", 1,
     600000, NULL, NULL, offsetof(struct cfg, time_limit_ms),
     "local search budget when the problem sets none"},
    {0}};

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int place(void *state, const struct smo_place_problem *p,
                 struct smo_place_result *r)
{
    struct state *s = state;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&s->lock);
    int64_t budget = p->time_limit_ms > 0 ? p->time_limit_ms : s->time_limit_ms;
    pthread_mutex_unlock(&s->lock);
    if (smo__greedy_place(p, r->assignment, budget, r->reason,
                          sizeof r->reason)) {
        /* The heuristic finding nothing proves nothing, unless one of the
         * simple certificates holds. */
        r->status = smo__greedy_explain(p, r->reason, sizeof r->reason)
                        ? SMO_SOLVE_INFEASIBLE
                        : SMO_SOLVE_TIMEOUT;
    } else {
        r->status = SMO_SOLVE_FEASIBLE;
        r->objective = smo__greedy_objective(p, r->assignment, &r->terms);
        r->bound = 0;
        r->gap = -1; /* unknown */
    }
    r->solve_ms = ms_since(&t0);
    SMO_LOG_D(s->host, s->self, "placed %u services on %u clusters in %.2f ms",
              p->n_services, p->n_clusters, r->solve_ms);
    return SMO_OK;
}

static int scale(void *state, const struct smo_scale_problem *p,
                 struct smo_scale_result *r)
{
    (void)state;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (smo__greedy_scale(p, r->replicas, r->unmet, &r->objective, r->reason,
                          sizeof r->reason))
        r->status = SMO_SOLVE_INFEASIBLE;
    else {
        r->status = SMO_SOLVE_FEASIBLE;
        smo__scale_unmet_reason(p, r->unmet, r->reason, sizeof r->reason);
    }
    r->solve_ms = ms_since(&t0);
    return SMO_OK;
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfg, void **out, smo_status *st)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    pthread_mutex_init(&s->lock, NULL);
    s->time_limit_ms = ((const struct cfg *)cfg)->time_limit_ms;
    *out = s;
    return 0;
}

static int reconfigure(void *state, const void *cfg, smo_status *st)
{
    (void)st;
    struct state *s = state;
    pthread_mutex_lock(&s->lock);
    s->time_limit_ms = ((const struct cfg *)cfg)->time_limit_ms;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void destroy(void *state)
{
    struct state *s = state;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const struct smo_solver_ops ops = {
    .size = sizeof(struct smo_solver_ops),
    .place = place,
    .scale = scale,
};

SMO_PLUGIN_DEFINE(SMO_KIND_SOLVER, "greedy", "1.0.0",
                  "Fast placement heuristic (construction and local search) "
                  "and rule-based scaling.",
                  fields, struct cfg, NULL, create, NULL, reconfigure, NULL,
                  destroy, &ops);
