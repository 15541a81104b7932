/* The placement and scaling models of solver_cbc (docs/solvers.md). Pure
 * functions of the problem: reentrant, no logging, no global state but the
 * lock inside smo__cbc_solve. */
#ifndef SMO_CBC_MODELS_H
#define SMO_CBC_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include <smo/smo.h>

struct smo__cbc_cfg {
    int64_t time_limit_ms;  /* when the problem sets none */
    double gap;             /* when the problem sets none */
    bool warm_start;        /* start CBC from the heuristic's answer */
    int64_t heuristic_ms;   /* the heuristic's share of the time limit */
    int64_t enumerate_max;  /* enumerate when there are at most this many
                               assignments (0: never) */
    bool exact_scaling;     /* clusters' scaling by dynamic programming */
    int64_t search_threads; /* threads of the placement search (0: 1) */
};

/* What the placement search did (cbc_search.c). */
struct smo__search_stats {
    uint64_t rounds, anneal_steps, lns_iterations, improvements;
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
    struct smo__search_stats search; /* placement: before or instead of CBC */
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

/* The units' connection graph (CSR, both directions, duplicate
 * connections merged into a multiplicity); the arrays are malloc'd and
 * the caller's (also on failure: free them). 0, or -1 out of memory. */
struct smo__unit_graph {
    uint32_t *start; /* n_units + 1 */
    uint32_t *nb;    /* neighbours */
    double *mult;    /* connections to that neighbour */
};
int smo__unit_graph(const struct smo_place_problem *p,
                    const struct smo__units *u, struct smo__unit_graph *g);

/* Large-neighbourhood search: starting from the feasible `assign`,
 * repeatedly frees a few units (a region of the connection graph, the
 * contents of two or three clusters, or units at random), places just
 * those exactly by depth-first branch and bound (cbc_sub.c), everything
 * else fixed, and keeps what improves. Stops at `deadline_ms`
 * (CLOCK_MONOTONIC milliseconds) or after a run of attempts without
 * improvement; `seed` varies the neighbourhoods. `assign` is the best
 * found. */
struct smo__lns_stats {
    int iterations, improvements, subproblems_optimal;
};
void smo__cbc_lns(const struct smo_place_problem *p, int32_t *assign,
                  double deadline_ms, uint64_t seed, struct smo__lns_stats *st);
double smo__now_ms(void);

/* Rounds of annealing then neighbourhood search (cbc_search.c) on
 * `threads` threads, from the feasible `assign`, until `until` (or, when
 * `stop_when_idle`, after a dozen rounds in a row find nothing): `assign`
 * becomes the best found. 0, or -1 out of memory. */
#define SMO__SEARCH_THREADS_MAX 16
int smo__cbc_search(const struct smo_place_problem *p, int32_t *assign,
                    double until, bool stop_when_idle, uint32_t threads,
                    struct smo__search_stats *st);

/* Simulated annealing from the feasible `assign` (moves and swaps of
 * units, moves of connected blocks of units, capacities soft during the walk,
 * only feasible states kept, a step count fixed by the size and cut to the time
 * left; `seed` varies the walk): `assign` becomes the best feasible placement
 * of the walk's cold half, better than the start or not (a new start for the
 * neighbourhood search; `improved` says which). 0, or -1 out of memory. */
struct smo__anneal_stats {
    uint64_t steps, accepted;
    bool improved;
};
int smo__cbc_anneal(const struct smo_place_problem *p, int32_t *assign,
                    double deadline_ms, uint64_t seed,
                    struct smo__anneal_stats *st);

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
