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

/** Scaling by rule: replicas to serve the demand within bounds and step,
 *  reduced where a cluster's cpu or GPUs do not suffice (unmet demand
 *  reported). Always feasible for the bounds (min replicas may exceed a
 *  cluster: then -1 and `why`). */
int smo__greedy_scale(const struct smo_scale_problem *p, uint32_t *replicas,
                      double *unmet, double *objective, char *why, size_t n);

#endif
