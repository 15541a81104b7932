/* Engine internals shared by smo_engine*.c and smo_placement.c. */
#ifndef SMO__ENGINE_INT_H
#define SMO__ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "smo_engine.h"
#include "smo_hdag.h"
#include "smo_rt.h"

struct smo__op;
struct smo__read_flight;
struct smo__pruner;

/* Capacity set aside on a cluster by an operation between its placement
 * and the moment the executor's inventory accounts for the release. */
struct smo__reservation {
    char *op;
    char *service;
    char *cluster;
    double cpu;
    double memory;
    double gpu;
    uint64_t until_ms; /* 0: until released explicitly */
    struct smo__reservation *next;
};

struct smo__waiter {
    struct smo__reply *reply;
    smo_timer *timer;
    struct smo__op *op;
    struct smo__waiter *next;
};

typedef void (*smo__step_fn)(struct smo__op *o, json_t *step);

struct smo__op {
    struct smo__engine *e;
    char *id;
    char *graph_key;
    json_t *doc;   /* operation document (owned) */
    int64_t rev;   /* its revision, 0 before the first commit */
    json_t *graph; /* graph document (owned); NULL once removed */
    int64_t graph_rev;
    size_t step;      /* index of the step running or next */
    uint64_t token;   /* guards against late callbacks */
    smo_timer *timer; /* step timeout */
    bool busy;        /* a step is in flight */
    bool finished;
    int commit_retries;
    /* Filled by the steps of one run (rebuilt when resuming). */
    struct smo__hdag *model;
    json_t *inventory;
    /* Extra docs for the next commit, [[coll, key, doc]]: cluster
     * snapshots, the operation's events. The first `pending_sent` are in
     * the commit in flight and go once it succeeds. */
    json_t *pending_writes;
    size_t pending_sent;
    struct smo__waiter *waiters;
    /* await_cluster's next inventory read (smo_engine_provision.c) */
    smo_timer *poll;
    void *poll_arg;
    struct smo__op *next;
};

struct smo__engine {
    struct smo_rt *rt;
    smo_instance *self; /* the core's instance: timers, calls */
    struct smo__op *ops;
    struct smo__reservation *reservations;
    bool placing; /* one placement at a time */
    struct smo__op *place_queue[256];
    size_t place_queue_n;
    bool stopping;
    void (*stop_done)(void *);
    void *stop_arg;
    uint64_t seq;
    smo_metric *m_ops, *m_steps, *m_solve;
    /* Read cache of graph.list/graph.get answers (smo_engine_api.c): used
     * only while no operation runs or is being created, emptied by every
     * graph write; `graph_gen` counts writes so that a read that raced
     * with one is not cached. */
    json_t *read_cache;
    /* graph.list store reads in flight (smo_engine_api.c): a read of the
     * same key and write count joins one instead of starting another, so
     * that a burst of clients on a cold cache costs one store read, not
     * one each. Owned by the reads' callbacks. */
    struct smo__read_flight *flights;
    /* Cluster snapshots recorded by inventory steps: name -> [ms, ready].
     * A cluster is recorded again after CLUSTER_RECORD_MS or when its
     * readiness changes, not at every deploy. */
    json_t *cluster_recorded;
    uint64_t graph_gen;
    size_t creating;
    uint64_t boot; /* random: entity tags never repeat across restarts */
    struct smo__scaler *scaler; /* the scaling loop (smo_engine_scale.c) */
    struct smo__pruner *pruner; /* operations retention (smo_engine_prune.c) */
    /* Several daemons on one store: only the leader runs operations,
     * scaling and syncs (docs/operations.md, "High availability"). */
    bool campaign;  /* the store elects a leader */
    bool leader;    /* this daemon leads (always, without a campaign) */
    bool announced; /* the first election news was logged */
    void (*elected_fn)(void *);
    void *elected_arg;
};

/* ---- smo_engine.c ---- */

/** A graph write is about to be submitted: drop cached reads. */
void smo__engine_graph_written(struct smo__engine *e);

/** The engine's settings as currently configured. */
const struct smo__engine_cfg *smo__engine_cfg(struct smo__engine *e);
smo_instance *smo__engine_store(struct smo__engine *e);
smo_instance *smo__engine_executor(struct smo__engine *e);
smo_instance *smo__engine_solver(struct smo__engine *e);
/** Finish the running step: `code` 0 (done), SMO_SKIP (skipped) or an
 *  error; `detail` (stolen, may be NULL) is recorded in the step. */
void smo__step_done(struct smo__op *o, uint64_t token, int code,
                    const char *msg, json_t *detail);
/** A new operation on `graph` (stolen) with the given steps; commits both
 *  documents (graph with `expect_rev`) and starts it. `cb` gets the
 *  operation document or the error. */
typedef void (*smo__op_created_cb)(void *arg, const smo_status *st, json_t *op);
int smo__op_create(struct smo__engine *e, const char *action, json_t *graph,
                   int64_t expect_rev, json_t *steps, json_t *params,
                   smo__op_created_cb cb, void *arg, smo_status *st);
/** The operation document as the API shows it (new). */
json_t *smo__op_public(const json_t *doc);
/** Find an operation in memory. */
struct smo__op *smo__op_find(struct smo__engine *e, const char *id);
/** Wait for an operation to finish (bounded); replies its document. */
void smo__op_wait(struct smo__engine *e, const char *id, int64_t wait_ms,
                  struct smo__reply *reply);
/** Record an event in the store (best effort) and the ring. */
/* An event about operation `o`: published now, stored with the
 * operation's next journal commit (recorded iff what it reports is).
 * Steals `data`. */
void smo__op_event(struct smo__op *o, const char *type, json_t *data);
void smo__engine_event(struct smo__engine *e, const char *type,
                       const char *graph_key, json_t *data);
int64_t smo__now_ms(void);

/* ---- smo_engine_steps.c ---- */

smo__step_fn smo__step_lookup(const char *name);
/** Steps of an action (new array of step objects). */
json_t *smo__steps_for(const char *action, const json_t *graph,
                       const char *service);

/* ---- smo_placement.c ---- */

/** Inventory JSON (executor format) -> usable clusters, minus the
 *  reservations of other operations. */
struct smo__place_input {
    struct smo_place_cluster *clusters;
    size_t n_clusters;
    char **names;     /* owned */
    json_t *excluded; /* clusters left out and why: {name: reason} */
};
void smo__place_input_free(struct smo__place_input *in);
int smo__place_input_build(struct smo__engine *e, const json_t *inventory,
                           const char *op, bool energy,
                           struct smo__place_input *in, smo_status *st);
/** Run the configured solver for a graph model; `current` is the graph's
 *  placement map (may be NULL), `deployed` the services whose releases run
 *  now ({svc: true}; their capacity is theirs again), `only` restricts
 *  moves to one service (others stay fixed). Calls back on the loop with
 *  the placement map {service: cluster} (new) and the details (new), or an
 *  error whose message explains why no placement exists. */
typedef void (*smo__place_cb)(void *arg, const smo_status *st,
                              json_t *placement, json_t *detail);
int smo__place_graph(struct smo__engine *e, const struct smo__hdag *h,
                     const json_t *inventory, const json_t *current,
                     const json_t *deployed, const char *only, const char *op,
                     smo__place_cb cb, void *arg, smo_status *st);
/** Helm values of each service with clustersAffinity and
 *  serviceImportClusters injected (under voChartOverwrite for WOT). */
json_t *smo__values_for(const struct smo__hdag *h, const json_t *placement);
/** Reservations. */
void smo__reserve(struct smo__engine *e, const char *op, const char *service,
                  const char *cluster, double cpu, double memory, double gpu);
void smo__reservation_settle(struct smo__engine *e, const char *op,
                             const char *service, bool executor_counts);
void smo__reservations_release(struct smo__engine *e, const char *op);
void smo__reservations_free(struct smo__engine *e);

/* ---- smo_engine_monitor.c ---- */

void smo__step_dashboards(struct smo__op *o, json_t *step);
/* Provisioning on shortage (smo_engine_provision.c): true when the steps
 * provision, await_cluster, inventory and place were inserted after the
 * current (infeasible) place step. */
bool smo__provision_on_shortage(struct smo__op *o, const char *why);
void smo__step_provision(struct smo__op *o, json_t *step);
void smo__step_await_cluster(struct smo__op *o, json_t *step);
void smo__step_dashboards_remove(struct smo__op *o, json_t *step);

/* ---- smo_engine_scale.c ---- */

/** The scaling loop: metrics (init, with the engine), its timer (start,
 *  stop with the engine), graph.scaling (methods). */
void smo__scale_init(struct smo__engine *e);
/* Operations retention (smo_engine_prune.c): start on leading, stop with
 * the engine, free with it (a store call in flight frees it later). */
void smo__prune_start(struct smo__engine *e);
void smo__prune_stop(struct smo__engine *e);
void smo__prune_free(struct smo__engine *e);
void smo__scale_start(struct smo__engine *e);
void smo__scale_stop(struct smo__engine *e);
void smo__scale_free(struct smo__engine *e);
void smo__scale_methods_register(struct smo_rt *rt);

/* ---- smo_engine_api.c ---- */

json_t *smo__graph_public(const json_t *graph, const json_t *op);

#endif
