/**
 * @file smo_solver.h
 * @brief `solver` plugins: placement and scaling.
 *
 * The core builds the problem (indices instead of names, resources already
 * translated, infeasible pairs already excluded by its prefilter) and runs
 * the solver operations on the thread pool: they must be reentrant, must
 * not block on I/O and may only log. Problems and results are plain arrays;
 * every struct starts with its size.
 */
#ifndef SMO_SOLVER_H
#define SMO_SOLVER_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

enum smo_solve_status {
    SMO_SOLVE_OPTIMAL = 1, /**< proven optimal */
    SMO_SOLVE_FEASIBLE,    /**< feasible, optimality gap in `gap` */
    SMO_SOLVE_INFEASIBLE,  /**< no assignment exists; `reason` says why */
    SMO_SOLVE_TIMEOUT,     /**< no feasible solution within the limit */
    SMO_SOLVE_ERROR        /**< solver failure; `reason` says why */
};

/** Objective weights (see docs/architecture.md for the model). */
struct smo_place_weights {
    double net;     /**< per connection split across clusters */
    double balance; /**< peak cluster cpu utilisation */
    double move;    /**< per service moved on re-placement */
    double cost;    /**< price per core */
};

struct smo_place_service {
    const char *id;
    double cpu;        /**< cores per replica */
    uint64_t memory;   /**< bytes per replica */
    uint32_t gpu;      /**< devices per replica */
    uint32_t replicas; /**< >= 1 */
    int32_t current;   /**< current cluster index, -1 if none */
    /** n_clusters flags, 1 = may run there; NULL = everywhere. */
    const uint8_t *allowed;
    /** Co-location group id, or -1. Services of one group share a
     *  cluster. */
    int32_t coloc;
};

struct smo_place_cluster {
    const char *name;
    double cpu_free;      /**< allocatable - allocated - allocating */
    double cpu_alloc;     /**< allocatable */
    double cpu_used;      /**< allocated + allocating */
    uint64_t memory_free; /**< bytes */
    uint32_t gpu_free;
    double price; /**< per core (cost or carbon intensity) */
};

/** A connection between two services (unordered). */
struct smo_place_edge {
    uint32_t s, t;
    double max_latency_ms; /**< < 0: no bound */
};

struct smo_place_problem {
    uint32_t size; /**< sizeof(struct smo_place_problem) */
    uint32_t n_services, n_clusters, n_edges;
    const struct smo_place_service *services;
    const struct smo_place_cluster *clusters;
    const struct smo_place_edge *edges;
    /** n_clusters^2 latencies in ms (row-major), or NULL. */
    const double *latency_ms;
    struct smo_place_weights weights;
    int64_t time_limit_ms; /**< 0: the solver's configured limit */
    double rel_gap;        /**< < 0: the solver's configured target */
    /** A feasible assignment to start from, or NULL. */
    const int32_t *warm_start;
};

struct smo_place_result {
    uint32_t size;       /**< sizeof(struct smo_place_result) */
    int32_t *assignment; /**< caller-allocated, n_services entries */
    int status;          /**< enum smo_solve_status */
    double objective;
    double bound;                   /**< best lower bound known */
    double gap;                     /**< relative gap, 0 when optimal */
    struct smo_place_weights terms; /**< objective per term (weighted) */
    double solve_ms;
    char reason[512];
};

struct smo_scale_service {
    const char *id;
    uint32_t cluster;                    /**< cluster index */
    double cpu;                          /**< cores per replica */
    uint32_t gpu;                        /**< devices per replica */
    uint32_t min_replicas, max_replicas; /**< hard bounds, min >= 1 */
    uint32_t prev;                       /**< current replicas */
    uint32_t max_step;                   /**< |r - prev| bound; 0: unbounded */
    double alpha, beta; /**< capacity: alpha * r + beta requests/s */
    double lambda;      /**< measured demand, requests/s */
};

struct smo_scale_weights {
    double util, trans, unmet;
};

struct smo_scale_problem {
    uint32_t size; /**< sizeof(struct smo_scale_problem) */
    uint32_t n_services, n_clusters;
    const struct smo_scale_service *services;
    const double *cluster_cpu;   /**< cores available to these services */
    const uint32_t *cluster_gpu; /**< devices available */
    struct smo_scale_weights weights;
    int64_t time_limit_ms;
};

struct smo_scale_result {
    uint32_t size;      /**< sizeof(struct smo_scale_result) */
    uint32_t *replicas; /**< caller-allocated, n_services */
    double *unmet;      /**< caller-allocated, n_services, requests/s */
    int status;         /**< enum smo_solve_status */
    double objective;
    double solve_ms;
    char reason[512];
};

struct smo_solver_ops {
    uint32_t size; /**< sizeof(struct smo_solver_ops) */
    /** Mandatory. Thread pool. Returns SMO_OK when `res->status` is set
     *  (including INFEASIBLE), an error only when the call itself failed. */
    int (*place)(void *state, const struct smo_place_problem *p,
                 struct smo_place_result *res);
    /** Optional. Thread pool. Same conventions. */
    int (*scale)(void *state, const struct smo_scale_problem *p,
                 struct smo_scale_result *res);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_SOLVER_H */
