/* The placement search before (or instead of) the full model: rounds of
 * annealing then neighbourhood search, on one or more threads.
 *
 * Why rounds: the neighbourhood search ends in a local optimum that
 * depends on where it starts; a walk of annealing from the best placement
 * so far gives it another start nearby (better or not), and the best of
 * all rounds is kept. Why threads: the rounds are independent, pure code
 * (CBC, which is serialised, is not involved), so a second core doubles
 * the starts tried within the same time limit. Each thread has its own
 * seeds; the best answer wins, the lowest thread on a tie, so that the
 * result does not depend on which finished first. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cbc_models.h"
#include "greedy.h"

#define ROUNDS      100 /* per thread */
#define IDLE_ROUNDS 12  /* rounds without improvement before stopping */
#define EPS         1e-9

struct job {
    const struct smo_place_problem *p;
    int32_t *best, *cand;
    double obj, until;
    bool stop_when_idle;
    uint32_t tid, threads;
    struct smo__search_stats st;
    int rc;
};

static void run_rounds(struct job *j)
{
    const struct smo_place_problem *p = j->p;
    size_t bytes = p->n_services * sizeof *j->best;
    char why[128];
    int idle = 0;
    /* Thread 0's first round searches from the start itself; every other
     * round from where an annealing walk from the best settled. */
    for (uint32_t round = 0; round < ROUNDS && smo__now_ms() < j->until;
         round++) {
        uint64_t seed = (uint64_t)round * j->threads + j->tid;
        struct smo__anneal_stats ast;
        struct smo__lns_stats l1;
        memset(&ast, 0, sizeof ast);
        memcpy(j->cand, j->best, bytes);
        if (seed && smo__cbc_anneal(p, j->cand, j->until, seed, &ast)) {
            j->rc = -1;
            return;
        }
        smo__cbc_lns(p, j->cand, j->until, seed, &l1);
        j->st.rounds++;
        j->st.anneal_steps += ast.steps;
        j->st.lns_iterations += (uint64_t)l1.iterations;
        double o = smo__greedy_objective(p, j->cand, NULL);
        bool better = o < j->obj - EPS &&
                      smo__greedy_check(p, j->cand, why, sizeof why) == 0;
        if (better) {
            memcpy(j->best, j->cand, bytes);
            j->obj = o;
            j->st.improvements++;
        }
        idle = better ? 0 : idle + 1;
        if (j->stop_when_idle && idle >= IDLE_ROUNDS)
            break;
    }
}

static void *thread_main(void *arg)
{
    run_rounds(arg);
    return NULL;
}

int smo__cbc_search(const struct smo_place_problem *p, int32_t *assign,
                    double until, bool stop_when_idle, uint32_t threads,
                    struct smo__search_stats *st)
{
    memset(st, 0, sizeof *st);
    if (threads < 1)
        threads = 1;
    if (threads > SMO__SEARCH_THREADS_MAX)
        threads = SMO__SEARCH_THREADS_MAX;
    struct job jobs[SMO__SEARCH_THREADS_MAX];
    pthread_t tids[SMO__SEARCH_THREADS_MAX];
    bool started[SMO__SEARCH_THREADS_MAX] = {false};
    size_t bytes = p->n_services * sizeof *assign;
    double start_obj = smo__greedy_objective(p, assign, NULL);
    int rc = 0;
    uint32_t n = 0;
    for (; n < threads; n++) {
        struct job *j = &jobs[n];
        memset(j, 0, sizeof *j);
        j->p = p;
        j->best = malloc(bytes + 1);
        j->cand = malloc(bytes + 1);
        if (!j->best || !j->cand) {
            free(j->best);
            free(j->cand);
            rc = -1;
            break;
        }
        memcpy(j->best, assign, bytes);
        j->obj = start_obj;
        j->until = until;
        j->stop_when_idle = stop_when_idle;
        j->tid = n;
        j->threads = threads;
    }
    /* Threads 1.. on their own; thread 0 here. A thread that cannot be
     * started leaves its share undone, nothing more. */
    for (uint32_t i = 1; i < n; i++)
        started[i] = pthread_create(&tids[i], NULL, thread_main, &jobs[i]) == 0;
    if (n)
        run_rounds(&jobs[0]);
    for (uint32_t i = 1; i < n; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
    uint32_t win = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (jobs[i].rc)
            rc = -1;
        if (i && !started[i])
            continue;
        if (jobs[i].obj < start_obj - EPS &&
            (win == UINT32_MAX || jobs[i].obj < jobs[win].obj - EPS))
            win = i;
        st->rounds += jobs[i].st.rounds;
        st->anneal_steps += jobs[i].st.anneal_steps;
        st->lns_iterations += jobs[i].st.lns_iterations;
        st->improvements += jobs[i].st.improvements;
    }
    if (win != UINT32_MAX)
        memcpy(assign, jobs[win].best, bytes);
    for (uint32_t i = 0; i < n; i++) {
        free(jobs[i].best);
        free(jobs[i].cand);
    }
    return rc;
}
