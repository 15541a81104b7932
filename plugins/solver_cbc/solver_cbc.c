/* solver_cbc: placement and scaling as mixed-integer programs solved in
 * process by CBC (COIN-OR branch and cut) through its C interface, started
 * from the greedy heuristic's answer. See docs/solvers.md. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <smo/smo.h>

#include "cbc_lp.h"
#include "cbc_models.h"

struct cfg {
    int64_t time_limit_ms;
    double gap;
    bool warm_start;
    int64_t heuristic_ms;
    int64_t enumerate_max;
    bool exact_scaling;
    int64_t search_threads;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    /* A copy: solves read it on worker threads while a reload may replace
     * (and the core free) the configuration struct. */
    pthread_mutex_t lock;
    struct smo__cbc_cfg cfg;
};

static const struct smo_config_field fields[] = {
    {"time_limit", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "1s", 10,
     600000, NULL, NULL, offsetof(struct cfg, time_limit_ms),
     "time limit of a solve when the problem sets none (the engine passes "
     "engine.placement.time_limit)"},
    {"gap", SMO_CFG_DOUBLE, SMO_CFG_MIN | SMO_CFG_MAX, "0.005", 0, 1, NULL,
     NULL, offsetof(struct cfg, gap),
     "relative optimality gap at which the search stops, when the problem "
     "sets none (the engine passes engine.placement.gap)"},
    {"warm_start", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     offsetof(struct cfg, warm_start),
     "start CBC from the greedy heuristic's placement"},
    {"heuristic_time", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "100ms", 1,
     600000, NULL, NULL, offsetof(struct cfg, heuristic_ms),
     "budget of the heuristic's local search (at most a quarter of the "
     "time limit)"},
    {"enumerate_max", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "4096", 0,
     1000000, NULL, NULL, offsetof(struct cfg, enumerate_max),
     "placements with at most this many possible assignments are solved "
     "exactly by trying each, without CBC (0: always CBC)"},
    {"exact_scaling", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     offsetof(struct cfg, exact_scaling),
     "solve each cluster's scaling problem exactly by dynamic programming "
     "when its GPUs cannot bind and its table is small (false: always "
     "CBC)"},
    {"search_threads", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "2", 1, 16, NULL,
     NULL, offsetof(struct cfg, search_threads),
     "threads of the placement search that runs before (or, on large "
     "problems, instead of) CBC's branch and bound, for the solve's time "
     "limit"},
    {0}};

static const char *outcome_name(int o)
{
    switch (o) {
    case SMO__CBC_FINISHED:
        return "finished";
    case SMO__CBC_INFEASIBLE:
        return "infeasible";
    case SMO__CBC_STOPPED:
        return "stopped";
    case SMO__CBC_ERROR:
        return "error";
    default:
        return "not run";
    }
}

static void model_cfg(struct state *s, struct smo__cbc_cfg *c)
{
    pthread_mutex_lock(&s->lock);
    *c = s->cfg;
    pthread_mutex_unlock(&s->lock);
}

static void set_cfg(struct state *s, const struct cfg *c)
{
    pthread_mutex_lock(&s->lock);
    s->cfg.time_limit_ms = c->time_limit_ms;
    s->cfg.gap = c->gap;
    s->cfg.warm_start = c->warm_start;
    s->cfg.heuristic_ms = c->heuristic_ms;
    s->cfg.enumerate_max = c->enumerate_max;
    s->cfg.exact_scaling = c->exact_scaling;
    s->cfg.search_threads = c->search_threads;
    pthread_mutex_unlock(&s->lock);
}

static int place(void *state, const struct smo_place_problem *p,
                 struct smo_place_result *r)
{
    struct state *s = state;
    struct smo__cbc_cfg c;
    struct smo__cbc_stats st;
    model_cfg(s, &c);
    int rc = smo__cbc_place(&c, p, r, &st);
    SMO_LOG_D(s->host, s->self,
              "placed %u services on %u clusters: %d columns, %d rows, "
              "heuristic %.6g in %.1f ms, search %llu rounds (%llu "
              "subproblems, %llu improvements), CBC %s%s, objective %.6g, "
              "bound %.6g, %.1f ms (%.1f ms waiting)",
              p->n_services, p->n_clusters, st.cols, st.rows, st.warm_objective,
              st.warm_ms, (unsigned long long)st.search.rounds,
              (unsigned long long)st.search.lns_iterations,
              (unsigned long long)st.search.improvements,
              outcome_name(st.outcome),
              st.enumerated  ? " (every assignment tried)"
              : st.used_warm ? " (heuristic kept)"
                             : "",
              r->objective, r->bound, r->solve_ms, st.wait_ms);
    return rc;
}

static int scale(void *state, const struct smo_scale_problem *p,
                 struct smo_scale_result *r)
{
    struct state *s = state;
    struct smo__cbc_cfg c;
    struct smo__cbc_stats st;
    model_cfg(s, &c);
    int rc = smo__cbc_scale(&c, p, r, &st);
    SMO_LOG_D(s->host, s->self,
              "scaled %u services: %d clusters by dynamic programming, %d "
              "columns, %d rows, CBC %s%s, objective %.6g, %.1f ms",
              p->n_services, st.dp_clusters, st.cols, st.rows,
              outcome_name(st.outcome), st.used_warm ? " (rule kept)" : "",
              r->objective, r->solve_ms);
    return rc;
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
    set_cfg(s, cfg);
    *out = s;
    return 0;
}

static int reconfigure(void *state, const void *cfg, smo_status *st)
{
    (void)st;
    set_cfg(state, cfg);
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

SMO_PLUGIN_DEFINE(SMO_KIND_SOLVER, "cbc", "1.0.0",
                  "Placement and scaling as mixed-integer programs, solved "
                  "in process by CBC and started from the greedy heuristic.",
                  fields, struct cfg, NULL, create, NULL, reconfigure, NULL,
                  destroy, &ops);
