/* A mixed-integer program assembled row by row, and one CBC run over it
 * (shared by the placement and scaling models). */
#ifndef SMO_CBC_LP_H
#define SMO_CBC_LP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMO__LP_INF 1e30

struct smo__lp {
    int ncols, cap_cols;
    double *obj, *clb, *cub;
    char *is_int;
    int nrows, cap_rows;
    double *rlb, *rub;
    int *rbeg; /* nrows + 1 */
    int *rind;
    double *rval;
    size_t nnz, cap_nnz;
    bool oom; /* an allocation failed: the model is incomplete */
};

void smo__lp_init(struct smo__lp *lp);
void smo__lp_free(struct smo__lp *lp);
/** A new column; returns its index (-1 when out of memory). */
int smo__lp_col(struct smo__lp *lp, double lb, double ub, double obj,
                bool integer);
/** A new row lb <= sum val[i] * x[ind[i]] <= ub (SMO__LP_INF: none). */
void smo__lp_row(struct smo__lp *lp, int n, const int *ind, const double *val,
                 double lb, double ub);

enum smo__cbc_outcome {
    SMO__CBC_FINISHED = 1, /* search complete: optimal (to the gap) */
    SMO__CBC_INFEASIBLE,   /* proven */
    SMO__CBC_STOPPED,      /* time limit, with or without a solution */
    SMO__CBC_ERROR
};

struct smo__cbc_run {
    double seconds;      /* time limit */
    double rel_gap;      /* relative gap at which the search stops */
    int max_nodes;       /* branch-and-bound node limit, 0: none */
    bool cuts;           /* cut generation (knapsack rows need it) */
    const double *start; /* values of every column (integers used), or NULL */
    /* out */
    int outcome;    /* enum smo__cbc_outcome */
    double *x;      /* malloc'd ncols values of the best solution, or NULL */
    double obj;     /* objective of x */
    double bound;   /* best lower bound */
    double wait_ms; /* time spent waiting for CBC (one solve at a time) */
    char msg[160];  /* why, on an error */
};

/** Solve `lp` (minimise). CBC's command-line driver keeps global state, so
 *  runs are serialised by a process-wide lock; the wait counts against
 *  `seconds`. Never writes to stdout. */
void smo__cbc_solve(const struct smo__lp *lp, struct smo__cbc_run *run);

#endif
