/* Model assembly and one CBC run. Rows are collected row-major as the
 * models generate them, then transposed once into the column-major arrays
 * Cbc_loadProblem takes: adding rows one by one through the C interface
 * copies the matrix each time. */
#define _GNU_SOURCE
#include "cbc_lp.h"

#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coin/Cbc_C_Interface.h>

void smo__lp_init(struct smo__lp *lp)
{
    memset(lp, 0, sizeof *lp);
    lp->rbeg = calloc(1, sizeof *lp->rbeg);
    if (!lp->rbeg)
        lp->oom = true;
}

void smo__lp_free(struct smo__lp *lp)
{
    free(lp->obj);
    free(lp->clb);
    free(lp->cub);
    free(lp->is_int);
    free(lp->rlb);
    free(lp->rub);
    free(lp->rbeg);
    free(lp->rind);
    free(lp->rval);
    memset(lp, 0, sizeof *lp);
}

/* realloc that keeps the old block when it fails. */
static bool resize(void **p, size_t bytes)
{
    void *q = realloc(*p, bytes ? bytes : 1);
    if (!q)
        return false;
    *p = q;
    return true;
}

int smo__lp_col(struct smo__lp *lp, double lb, double ub, double obj,
                bool integer)
{
    if (lp->oom)
        return -1;
    if (lp->ncols == lp->cap_cols) {
        size_t n = lp->cap_cols ? (size_t)lp->cap_cols * 2 : 64;
        if (!resize((void **)&lp->obj, n * sizeof *lp->obj) ||
            !resize((void **)&lp->clb, n * sizeof *lp->clb) ||
            !resize((void **)&lp->cub, n * sizeof *lp->cub) ||
            !resize((void **)&lp->is_int, n)) {
            lp->oom = true;
            return -1;
        }
        lp->cap_cols = (int)n;
    }
    int j = lp->ncols++;
    lp->obj[j] = obj;
    lp->clb[j] = lb;
    lp->cub[j] = ub;
    lp->is_int[j] = integer;
    return j;
}

void smo__lp_row(struct smo__lp *lp, int n, const int *ind, const double *val,
                 double lb, double ub)
{
    if (lp->oom)
        return;
    if (lp->nnz + (size_t)n > lp->cap_nnz) {
        size_t c = lp->cap_nnz ? lp->cap_nnz : 256;
        while (c < lp->nnz + (size_t)n)
            c *= 2;
        if (!resize((void **)&lp->rind, c * sizeof *lp->rind) ||
            !resize((void **)&lp->rval, c * sizeof *lp->rval)) {
            lp->oom = true;
            return;
        }
        lp->cap_nnz = c;
    }
    if (lp->nrows == lp->cap_rows) {
        size_t c = lp->cap_rows ? (size_t)lp->cap_rows * 2 : 64;
        if (!resize((void **)&lp->rlb, c * sizeof *lp->rlb) ||
            !resize((void **)&lp->rub, c * sizeof *lp->rub) ||
            !resize((void **)&lp->rbeg, (c + 1) * sizeof *lp->rbeg)) {
            lp->oom = true;
            return;
        }
        lp->cap_rows = (int)c;
    }
    if (n > 0) {
        memcpy(lp->rind + lp->nnz, ind, (size_t)n * sizeof *ind);
        memcpy(lp->rval + lp->nnz, val, (size_t)n * sizeof *val);
        lp->nnz += (size_t)n;
    }
    lp->rlb[lp->nrows] = lb;
    lp->rub[lp->nrows] = ub;
    lp->rbeg[++lp->nrows] = (int)lp->nnz;
}

/* CBC's solver driver (CbcMain1, behind Cbc_solve) keeps global state in
 * the 2.10 series, so two solves must never overlap. */
static pthread_mutex_t cbc_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double inf_or(double v)
{
    return v >= SMO__LP_INF ? DBL_MAX : v <= -SMO__LP_INF ? -DBL_MAX : v;
}

static void set_param(Cbc_Model *m, const char *name, double v)
{
    char b[40];
    snprintf(b, sizeof b, "%.10g", v);
    Cbc_setParameter(m, name, b);
}

void smo__cbc_solve(const struct smo__lp *lp, struct smo__cbc_run *run)
{
    run->outcome = SMO__CBC_ERROR;
    run->x = NULL;
    run->obj = run->bound = 0;
    run->msg[0] = '\0';
    if (lp->oom) {
        snprintf(run->msg, sizeof run->msg, "out of memory building the model");
        return;
    }
    int nc = lp->ncols, nr = lp->nrows;
    /* Column-major copy of the rows. */
    CoinBigIndex *start = calloc((size_t)nc + 1, sizeof *start);
    int *index = malloc((lp->nnz ? lp->nnz : 1) * sizeof *index);
    double *value = malloc((lp->nnz ? lp->nnz : 1) * sizeof *value);
    double *clb = malloc(((size_t)nc + 1) * sizeof *clb);
    double *cub = malloc(((size_t)nc + 1) * sizeof *cub);
    double *rlb = malloc(((size_t)nr + 1) * sizeof *rlb);
    double *rub = malloc(((size_t)nr + 1) * sizeof *rub);
    int *ints = malloc(((size_t)nc + 1) * sizeof *ints);
    double *ivals = malloc(((size_t)nc + 1) * sizeof *ivals);
    if (!start || !index || !value || !clb || !cub || !rlb || !rub || !ints ||
        !ivals) {
        snprintf(run->msg, sizeof run->msg, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < lp->nnz; k++)
        start[lp->rind[k] + 1]++;
    for (int j = 0; j < nc; j++)
        start[j + 1] += start[j];
    {
        CoinBigIndex *fill = malloc(((size_t)nc + 1) * sizeof *fill);
        if (!fill) {
            snprintf(run->msg, sizeof run->msg, "out of memory");
            goto out;
        }
        memcpy(fill, start, ((size_t)nc + 1) * sizeof *fill);
        for (int i = 0; i < nr; i++)
            for (int k = lp->rbeg[i]; k < lp->rbeg[i + 1]; k++) {
                CoinBigIndex at = fill[lp->rind[k]]++;
                index[at] = i;
                value[at] = lp->rval[k];
            }
        free(fill);
    }
    for (int j = 0; j < nc; j++) {
        clb[j] = inf_or(lp->clb[j]);
        cub[j] = inf_or(lp->cub[j]);
    }
    for (int i = 0; i < nr; i++) {
        rlb[i] = inf_or(lp->rlb[i]);
        rub[i] = inf_or(lp->rub[i]);
    }

    double t0 = now_ms();
    pthread_mutex_lock(&cbc_lock);
    run->wait_ms = now_ms() - t0;
    double left = run->seconds - run->wait_ms / 1e3;
    if (left < 0.01) {
        pthread_mutex_unlock(&cbc_lock);
        run->outcome = SMO__CBC_STOPPED;
        goto out;
    }
    Cbc_Model *m = Cbc_newModel();
    Cbc_loadProblem(m, nc, nr, start, index, value, clb, cub, lp->obj, rlb,
                    rub);
    int nint = 0;
    for (int j = 0; j < nc; j++)
        if (lp->is_int[j]) {
            Cbc_setInteger(m, j);
            ints[nint] = j;
            ivals[nint++] = run->start ? run->start[j] : 0;
        }
    Cbc_setObjSense(m, 1);
    /* Quiet: the daemon's stdout is not CBC's, and `smod plan -o json`
     * prints nothing but JSON. */
    Cbc_setLogLevel(m, 0);
    Cbc_setParameter(m, "log", "0");
    Cbc_setParameter(m, "slog", "0");
    /* Wall-clock limits (CBC counts CPU time by default). */
    Cbc_setParameter(m, "timeMode", "elapsed");
    set_param(m, "sec", left);
    Cbc_setMaximumSeconds(m, left);
    set_param(m, "ratio", run->rel_gap);
    Cbc_setAllowableFractionGap(m, run->rel_gap);
    /* The tie-breaking terms are far below CBC's default cutoff increment
     * (1e-5): a lower one lets them decide between equal solutions. */
    Cbc_setParameter(m, "increment", "1e-9");
    Cbc_setParameter(m, "threads", "0");
    /* No preprocessing: in CBC 2.10 it loses the MIP start (the start is
     * mapped onto the preprocessed columns by name and comes out
     * different), costs more than it saves on these models, and its
     * postprocessing crashed when the time limit struck during it. */
    Cbc_setParameter(m, "preprocess", "off");
    /* Measured on generated problems (tests/bench/bench_solver.c): cut
     * generation and strong branching cost more time than they save here
     * (the relaxation stays weak whatever the cuts), and the coefficient
     * diving heuristic ignores the time limit for seconds on the full
     * model of a hundred services. */
    if (!run->cuts) {
        Cbc_setParameter(m, "cuts", "off");
        Cbc_setParameter(m, "strong", "0");
    }
    Cbc_setParameter(m, "DivingCoefficient", "off");
    if (run->max_nodes > 0) {
        set_param(m, "maxNodes", run->max_nodes);
        Cbc_setMaximumNodes(m, run->max_nodes);
    }
    if (getenv("SMO_CBC_DUMP"))
        Cbc_writeMps(m, getenv("SMO_CBC_DUMP"));
    if (run->start && nint)
        Cbc_setMIPStartI(m, nint, ints, ivals);
    Cbc_solve(m);
    int status = Cbc_status(m);
    const double *x = Cbc_bestSolution(m);
    if (!x && Cbc_numberSavedSolutions(m) > 0)
        x = Cbc_savedSolution(m, 0);
    if (x) {
        run->x = malloc(((size_t)nc + 1) * sizeof *run->x);
        if (run->x) {
            memcpy(run->x, x, (size_t)nc * sizeof *run->x);
            run->obj = 0;
            for (int j = 0; j < nc; j++)
                run->obj += lp->obj[j] * x[j];
        }
    }
    run->bound = Cbc_getBestPossibleObjValue(m);
    if (Cbc_isProvenInfeasible(m) && !run->x)
        run->outcome = SMO__CBC_INFEASIBLE;
    else if (status == 0 && Cbc_isProvenOptimal(m) && run->x)
        run->outcome = SMO__CBC_FINISHED;
    else if (status == 0 && !run->x)
        run->outcome = SMO__CBC_INFEASIBLE;
    else if (status == 1 || status == 5)
        run->outcome = SMO__CBC_STOPPED;
    else {
        run->outcome = SMO__CBC_ERROR;
        snprintf(run->msg, sizeof run->msg,
                 "CBC stopped with status %d (secondary %d)", status,
                 Cbc_secondaryStatus(m));
    }
    Cbc_deleteModel(m);
    pthread_mutex_unlock(&cbc_lock);
out:
    free(start);
    free(index);
    free(value);
    free(clb);
    free(cub);
    free(rlb);
    free(rub);
    free(ints);
    free(ivals);
}
