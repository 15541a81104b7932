/* The orchestration engine: graph lifecycle actions as operations with
 * ordered, idempotent steps, persisted in the store's journal and executed
 * asynchronously through the plugins; recovery of unfinished operations at
 * start; the core methods the API calls (graph.*, operation.*, cluster.*,
 * alerts.*).
 *
 * State machine (graph status): Deploying -> Running | Failed;
 * Running -> Stopping -> Stopped; Stopped -> Starting -> Running;
 * Running|Stopped -> Placing -> Running|Stopped; any -> Removing -> (gone).
 * Failed accepts every action again (re-running converges). Services:
 * Deployed, Pending (event trigger, waiting for its alert), Not deployed,
 * Deploying, Failed. See docs/engine.md. */
#ifndef SMO__ENGINE_H
#define SMO__ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct smo_rt;
struct smo__engine;

/* Engine settings (engine.placement and engine.operations in conf.d). */
struct smo__engine_settings {
    double w_net, w_balance, w_move, w_cost;
    int64_t solve_time_limit_ms;
    double rel_gap;
    const char *solver;   /* instance name or NULL: the first solver */
    const char *executor; /* instance name or NULL: the first executor */
    int64_t step_timeout_ms;
    int64_t pending_window_ms; /* reservations on executors that do not
                                  count their own releases */
    const json_t *latency;     /* {"a|b": ms} */
    bool resume_on_start;
};

struct smo__engine *smo__engine_new(struct smo_rt *rt);
/** Resume the unfinished operations found in the store (async). */
void smo__engine_start(struct smo__engine *e);
/** Stop taking work; operations in flight stay "running" in the journal
 *  and resume at the next start. `done` runs when no step is in flight. */
void smo__engine_stop(struct smo__engine *e, void (*done)(void *), void *arg);
void smo__engine_free(struct smo__engine *e);
/** Call `fn` once the first election result is known (now when the
 *  store elects nobody). */
void smo__engine_when_elected(struct smo__engine *e, void (*fn)(void *),
                              void *arg);
/** Another daemon sharing the store leads: refuse writes, cache nothing. */
bool smo__engine_follower(const struct smo__engine *e);
/** Register graph.*, operation.*, cluster.*, alerts.* core methods. */
void smo__engine_methods_register(struct smo_rt *rt);
/** Refresh the stored cluster inventory from the executor (start-up and
 *  reload), logging the outcome instead of replying. */
void smo__engine_sync_clusters(struct smo_rt *rt);

#endif
