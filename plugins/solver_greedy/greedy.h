/* The placement heuristic, shared by solver_greedy and solver_cbc (its
 * warm start): objective evaluation, feasibility check with a reason, and
 * a constructive placement improved by local search (moves and swaps).
 * Co-located services move together as one unit. Deterministic: ties
 * break towards lower service and cluster indices. */
#ifndef SMO_GREEDY_H
#define SMO_GREEDY_H

#include <stddef.h>
#include <stdint.h>

#include <smo/smo.h>

/** Objective of a complete assignment, per term (weighted) and total. */
double smo__greedy_objective(const struct smo_place_problem *p,
                             const int32_t *assign,
                             struct smo_place_weights *terms);

/** 0 when `assign` satisfies every constraint, else -1 and `why` says
 *  which. */
int smo__greedy_check(const struct smo_place_problem *p, const int32_t *assign,
                      char *why, size_t n);

/** Place: 0 and a feasible `assign`, or -1 when no feasible assignment was
 *  found (`why` says what blocked). `budget_ms` bounds the local search. */
int smo__greedy_place(const struct smo_place_problem *p, int32_t *assign,
                      int64_t budget_ms, char *why, size_t n);

/** A certificate that no assignment exists: 1 and `why` when one of the
 *  simple ones holds (a co-location group with no cluster in common, or
 *  too big for each of them; a latency bound that no pair of allowed
 *  clusters meets; clusters that some services can only use holding less
 *  than those need; a resource whose total demand exceeds the total free).
 *  0 when none holds, which proves nothing. */
int smo__greedy_explain(const struct smo_place_problem *p, char *why, size_t n);

/** Scaling by rule: replicas to serve the demand within bounds and step,
 *  reduced where a cluster's cpu or GPUs do not suffice (unmet demand
 *  reported), then single-replica moves while the objective improves.
 *  -1 and `why` when the minimum replicas cannot fit a cluster. */
int smo__greedy_scale(const struct smo_scale_problem *p, uint32_t *replicas,
                      double *unmet, double *objective, char *why, size_t n);

/** The replicas a scaled service may have: [min, max] intersected with
 *  prev +- max_step; when the two do not meet, the hard bound nearest to
 *  prev (the bounds win over the step). */
void smo__scale_window(const struct smo_scale_service *s, uint32_t *lo,
                       uint32_t *hi);

/** Every service's best replicas on its own (capacity ignored): 1 when
 *  they fit the clusters, and are then optimal, else 0. */
int smo__scale_best_alone(const struct smo_scale_problem *p,
                          uint32_t *replicas);

/** Objective of `replicas` (weighted, as in docs/solvers.md); the unmet
 *  demand per service goes to `unmet` when not NULL. */
double smo__scale_objective(const struct smo_scale_problem *p,
                            const uint32_t *replicas, double *unmet);

/** The objective's normalisation U (largest max_replicas x cpu), and
 *  service i's share of the objective with r replicas given U (the
 *  objective is the sum of the shares). */
double smo__scale_norm(const struct smo_scale_problem *p);
double smo__scale_term(const struct smo_scale_problem *p, uint32_t i,
                       uint32_t r, double U);

/** 0 when `replicas` respect every window and cluster capacity, else -1
 *  and `why` says which not. */
int smo__scale_check(const struct smo_scale_problem *p,
                     const uint32_t *replicas, char *why, size_t n);

/** "unmet demand: a 12.5 req/s, b 3 req/s" when some demand goes unmet
 *  (the engine re-places then), else an empty string. */
void smo__scale_unmet_reason(const struct smo_scale_problem *p,
                             const double *unmet, char *why, size_t n);

#endif
