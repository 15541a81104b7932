/* Exact solution of the neighbourhood search's subproblems by depth-first
 * branch and bound (internal to solver_cbc).
 *
 * A subproblem places a few free units on a few candidate clusters, the
 * rest of the placement fixed. Most have a few dozen units on two or three
 * clusters: a depth-first search with a simple bound finishes them in
 * microseconds, where a CBC call costs milliseconds, so the search tries
 * hundreds of neighbourhoods where it tried a handful. CBC remains for the
 * subproblems this search gives up on (node limit). */
#ifndef SMO_CBC_SUB_H
#define SMO_CBC_SUB_H

#include <stdbool.h>
#include <stdint.h>

struct smo__sub {
    uint32_t nf, nk;
    /* in (owned by the caller) */
    const double *lin;  /* nf x nk: the column's cost, NAN when not allowed */
    const double *need; /* nf x 3: cpu, memory, GPUs */
    const double *cap;  /* nk x 3: what the free units may take */
    /* Connections inside the free set, both directions (CSR over units):
     * the weight when the two are on different clusters. */
    const uint32_t *estart, *eto;
    const double *ew;
    /* Latency-bounded connections inside the set: pairs of units and the
     * nk x nk table of allowed cluster pairs per bound (row = first unit's
     * cluster). */
    uint32_t nbound;
    const uint32_t *bpair;  /* nbound x 2 */
    const uint8_t *bok;     /* nbound x nk x nk */
    double balance;         /* the peak's weight, 0: no peak term */
    double peak_floor;      /* utilisation of the clusters outside K */
    const double *fixed_u;  /* nk: utilisation without the free units */
    const double *per_core; /* nk: utilisation per core (1 / allocatable) */
    const uint32_t *cur;    /* nf: where each free unit is now */
    uint64_t max_nodes;
    /* out */
    uint32_t *best; /* nf: caller-allocated */
    uint64_t nodes;
    bool finished; /* the whole tree searched: best is optimal */
};

/* 1 when an assignment better than `cur` (by more than 1e-9) was found and
 * written to `best`, 0 when none, -1 out of memory. */
int smo__sub_solve(struct smo__sub *s);

#endif
