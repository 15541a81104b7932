/* hello_solver: an example `solver` plugin built outside the SMO tree.
 *
 * Places each service on the first (or the tightest) cluster where its
 * cpu, memory and GPUs fit, in service order. It shows the parts every
 * plugin has: a config struct and its schema, create/destroy, the ops table
 * of its kind, logging through the host, and the exported descriptor.
 *
 * Build:  cc -O2 -Wall $(pkg-config --cflags smo-sdk) -o smo_solver_hello.so \
 *           hello_solver.c $(pkg-config --libs smo-sdk)
 * Install: cp smo_solver_hello.so "$(pkg-config --variable=plugindir smo-sdk)"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smo/smo.h>

struct cfg {
    const char *strategy; /* "first-fit" or "best-fit" */
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
};

static const char *const strategies[] = {"first-fit", "best-fit", NULL};
static const struct smo_config_field fields[] = {
    {"strategy", SMO_CFG_ENUM, 0, "first-fit", 0, 0, strategies, NULL,
     offsetof(struct cfg, strategy),
     "first-fit: the first cluster that fits; best-fit: the one left with "
     "the least free cpu."},
    {0}};

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfg, void **state, smo_status *st)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = cfg;
    *state = s;
    return SMO_OK;
}

static void destroy(void *state)
{
    free(state);
}

/* Runs on the thread pool: no host call but logging. */
static int place(void *state, const struct smo_place_problem *p,
                 struct smo_place_result *r)
{
    struct state *s = state;
    bool best = strcmp(s->cfg->strategy, "best-fit") == 0;
    double *cpu = calloc(p->n_clusters ? p->n_clusters : 1, sizeof *cpu);
    uint64_t *mem = calloc(p->n_clusters ? p->n_clusters : 1, sizeof *mem);
    uint32_t *gpu = calloc(p->n_clusters ? p->n_clusters : 1, sizeof *gpu);
    if (!cpu || !mem || !gpu) {
        free(cpu), free(mem), free(gpu);
        return SMO_ENOMEM;
    }
    for (uint32_t c = 0; c < p->n_clusters; c++) {
        cpu[c] = p->clusters[c].cpu_free;
        mem[c] = p->clusters[c].memory_free;
        gpu[c] = p->clusters[c].gpu_free;
    }
    r->status = SMO_SOLVE_FEASIBLE;
    for (uint32_t i = 0; i < p->n_services; i++) {
        const struct smo_place_service *sv = &p->services[i];
        double need_cpu = sv->cpu * sv->replicas;
        uint64_t need_mem = sv->memory * sv->replicas;
        uint32_t need_gpu = sv->gpu * sv->replicas;
        int32_t pick = -1;
        for (uint32_t c = 0; c < p->n_clusters; c++) {
            if (sv->allowed && !sv->allowed[c])
                continue;
            if (cpu[c] < need_cpu || mem[c] < need_mem || gpu[c] < need_gpu)
                continue;
            if (pick < 0 || (best && cpu[c] < cpu[pick]))
                pick = (int32_t)c;
            if (!best)
                break;
        }
        if (pick < 0) {
            r->status = SMO_SOLVE_INFEASIBLE;
            snprintf(r->reason, sizeof r->reason,
                     "%s needs %.2f cores, %llu bytes and %u GPUs: no cluster "
                     "has them left",
                     sv->id, need_cpu, (unsigned long long)need_mem, need_gpu);
            break;
        }
        r->assignment[i] = pick;
        cpu[pick] -= need_cpu;
        mem[pick] -= need_mem;
        gpu[pick] -= need_gpu;
    }
    SMO_LOG_I(s->host, s->self, "placed %u services (%s): %s", p->n_services,
              s->cfg->strategy,
              r->status == SMO_SOLVE_INFEASIBLE ? r->reason : "ok");
    free(cpu), free(mem), free(gpu);
    return SMO_OK;
}

static const struct smo_solver_ops ops = {
    .size = sizeof(struct smo_solver_ops),
    .place = place,
    .scale = NULL, /* optional: this example only places */
};

SMO_PLUGIN_DEFINE(SMO_KIND_SOLVER, "hello", "1.0.0",
                  "Example: first-fit or best-fit placement.", fields,
                  struct cfg, NULL, create, NULL, NULL, NULL, destroy, &ops);
