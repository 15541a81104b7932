/* The placement and scaling models of solver_cbc (docs/solvers.md). Pure
 * functions of the problem: reentrant, no logging, no global state but the
 * lock inside smo__cbc_solve. */
#ifndef SMO_CBC_MODELS_H
#define SMO_CBC_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include <smo/smo.h>

struct smo__cbc_cfg {
    int64_t time_limit_ms; /* when the problem sets none */
    double gap;            /* when the problem sets none */
    bool warm_start;       /* start CBC from the heuristic's answer */
    int64_t heuristic_ms;  /* the heuristic's share of the time limit */
    int64_t enumerate_max; /* enumerate when there are at most this many
                              assignments (0: never) */
    bool exact_scaling;    /* clusters' scaling by dynamic programming */
};

/* What happened, for the plugin's log line. */
struct smo__cbc_stats {
    int cols, rows;
    double warm_objective; /* -1: no warm start */
    double warm_ms;
    double wait_ms;  /* waiting for another solve to finish */
    int outcome;     /* enum smo__cbc_outcome, 0: CBC not run */
    bool used_warm;  /* the answer is the warm start's */
    bool enumerated; /* solved by enumerating every assignment */
    int dp_clusters; /* scaling: clusters solved by dynamic programming */
    int lns_iterations, lns_improvements;
};

/* Tie-breaking terms (docs/solvers.md, "Ties"): small enough to matter only
 * between solutions whose objectives differ by less than about 1e-6. */
#define SMO__EPS_MOVE 1e-6 /* per core moved, normalised by all cores */
#define SMO__EPS_LEX  1e-7 /* per cluster index, normalised */

/* Co-location groups and services alone, in order of their first
 * service: the units the placement moves. */
struct smo__units {
    uint32_t n;
    uint32_t *of;    /* service -> unit */
    uint32_t *first; /* unit -> its first service */
    double *cpu, *mem, *gpu;
    uint8_t *allowed; /* n x n_clusters, latency inside the unit applied */
};
int smo__units_build(const struct smo_place_problem *p, struct smo__units *u);
void smo__units_free(struct smo__units *u);

/* Large-neighbourhood search: starting from the feasible `assign`,
 * repeatedly frees a few units (a region of the connection graph, the
 * contents of two clusters, or units at random), solves the placement of
 * just those exactly with CBC, everything else fixed, and keeps what
 * improves. Stops at `deadline_ms` (CLOCK_MONOTONIC milliseconds) or after
 * a run of attempts without improvement. `assign` is the best found. */
struct smo__lns_stats {
    int iterations, improvements, subproblems_optimal;
};
void smo__cbc_lns(const struct smo_place_problem *p, int32_t *assign,
                  double deadline_ms, struct smo__lns_stats *st);
double smo__now_ms(void);

/* The best assignment by trying every one (objective, then the tie terms)
 * when the units' allowed clusters
 * multiply to at most `max`: 1 and `best`, 0 when none is feasible, -1
 * when the space is larger than `max`, -2 out of memory. */
int smo__place_enumerate(const struct smo_place_problem *p,
                         const struct smo__units *u, uint64_t max,
                         int32_t *best);

/* Cluster k's scaling problem exactly, by dynamic programming over its
 * cores in units of their greatest common divisor (GPU services, when
 * GPUs can bind, in every combination), when the work is small: 1 and the
 * replicas of k's services written to `replicas`; 0 when even the window minima
 * do not fit; -1 when left to CBC; -2 out of memory. */
int smo__scale_cluster_dp(const struct smo_scale_problem *p, uint32_t k,
                          uint32_t *replicas);

int smo__cbc_place(const struct smo__cbc_cfg *cfg,
                   const struct smo_place_problem *p,
                   struct smo_place_result *r, struct smo__cbc_stats *stats);

int smo__cbc_scale(const struct smo__cbc_cfg *cfg,
                   const struct smo_scale_problem *p,
                   struct smo_scale_result *r, struct smo__cbc_stats *stats);

#endif
