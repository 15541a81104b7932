/* Seeded generator of placement and scaling problems, shared by the solver
 * tests and tests/bench/bench_solver.c (header-only: each includer is one
 * program). The shapes follow what the core builds from an HDAG and a
 * Karmada inventory: per-replica demands from the translator's classes,
 * a prefilter that leaves only the clusters a service fits on alone,
 * connection trees with a few latency bounds, small co-location groups,
 * a few GPU services and pinned services, regions with low latency inside
 * and high latency across. The same seed gives the same problem on every
 * machine (own PRNG, no libc rand). */
#ifndef SMO_TEST_INSTGEN_H
#define SMO_TEST_INSTGEN_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smo/smo.h>

#define IG_GIB 1073741824.0

struct ig_rng {
    uint64_t s;
};

static inline uint64_t ig_next(struct ig_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double ig_unit(struct ig_rng *r)
{
    return (double)(ig_next(r) >> 11) / 9007199254740992.0;
}

static inline uint32_t ig_below(struct ig_rng *r, uint32_t n)
{
    return n ? (uint32_t)(ig_next(r) % n) : 0;
}

struct ig_opts {
    uint32_t ns, nc;
    double load;    /* total cpu demand / total free cpu */
    double p_gpu;   /* share of services needing a GPU */
    double p_coloc; /* share of services co-located with the previous */
    double p_pin;   /* share of services pinned to two clusters */
    double p_bound; /* share of connections with a latency bound */
    double p_extra; /* chance of a second connection per service */
    bool current;   /* every service has a current cluster */
    bool prefilter; /* allowed = clusters the service fits on alone */
    bool repair;    /* shrink a service that fits nowhere until it does */
    struct smo_place_weights w;
};

static inline struct ig_opts ig_defaults(uint32_t ns, uint32_t nc)
{
    struct ig_opts o = {ns,   nc,  0.6,   0.04, 0.05, 0.05,
                        0.15, 0.3, false, true, true, {1, 10, 10, 1}};
    return o;
}

struct ig_inst {
    struct smo_place_problem p;
    struct smo_place_service *svc;
    struct smo_place_cluster *cl;
    struct smo_place_edge *edges;
    uint8_t *allowed;
    double *lat;
    char (*sname)[24];
    char (*cname)[24];
    uint32_t *region;
};

static inline void ig_free(struct ig_inst *in)
{
    free(in->svc);
    free(in->cl);
    free(in->edges);
    free(in->allowed);
    free(in->lat);
    free(in->sname);
    free(in->cname);
    free(in->region);
    memset(in, 0, sizeof *in);
}

/* A random cluster for `s` with room left (weighted by room), preferring
 * `region` when it is not UINT32_MAX; -1 when none has room. */
static inline int32_t ig_fit(struct ig_inst *in, struct ig_rng *r, uint32_t s,
                             double *cpu_left, double *mem_left,
                             uint32_t *gpu_left, uint32_t region)
{
    const struct smo_place_service *sv = &in->svc[s];
    uint32_t nc = in->p.n_clusters;
    for (int pass = 0; pass < 2; pass++) {
        double tot = 0;
        for (uint32_t c = 0; c < nc; c++)
            if ((pass || region == UINT32_MAX || in->region[c] == region) &&
                cpu_left[c] >= sv->cpu * sv->replicas - 1e-9 &&
                mem_left[c] >= (double)sv->memory * sv->replicas &&
                gpu_left[c] >= sv->gpu * sv->replicas)
                tot += cpu_left[c];
        if (tot <= 0)
            continue;
        double x = ig_unit(r) * tot;
        for (uint32_t c = 0; c < nc; c++)
            if ((pass || region == UINT32_MAX || in->region[c] == region) &&
                cpu_left[c] >= sv->cpu * sv->replicas - 1e-9 &&
                mem_left[c] >= (double)sv->memory * sv->replicas &&
                gpu_left[c] >= sv->gpu * sv->replicas) {
                x -= cpu_left[c];
                if (x <= 0 || c == nc - 1)
                    return (int32_t)c;
            }
    }
    return -1;
}

static inline void ig_place(struct ig_inst *in, uint64_t seed,
                            const struct ig_opts *o)
{
    struct ig_rng r = {seed * 0x100000001b3ull + 12345};
    uint32_t ns = o->ns, nc = o->nc;
    memset(in, 0, sizeof *in);
    in->svc = calloc(ns + 1, sizeof *in->svc);
    in->cl = calloc(nc + 1, sizeof *in->cl);
    in->edges = calloc(2 * (size_t)ns + 1, sizeof *in->edges);
    in->allowed = calloc((size_t)ns * nc + 1, 1);
    in->lat = calloc((size_t)nc * nc + 1, sizeof *in->lat);
    in->sname = calloc(ns + 1, sizeof *in->sname);
    in->cname = calloc(nc + 1, sizeof *in->cname);
    in->region = calloc(nc + 1, sizeof *in->region);
    in->p.n_clusters = nc;
    /* Services: the translator's classes, with replicas, in modules of 4
     * to 12 (an application's tiers). */
    static const double cpus[] = {0.5, 0.5, 0.5, 1, 1, 1, 1, 2, 2, 4, 4, 8};
    static const double mems[] = {0.5, 1, 1, 2, 2, 4, 8};
    uint32_t *module = calloc(ns + 1, sizeof *module);
    uint32_t *mstart = calloc(ns + 1, sizeof *mstart);
    double dcpu = 0, dmem = 0, dgpu = 0;
    uint32_t nmod = 0, left = 0;
    for (uint32_t s = 0; s < ns; s++) {
        if (!left) {
            left = 4 + ig_below(&r, 9);
            mstart[nmod++] = s;
        }
        left--;
        module[s] = nmod - 1;
        struct smo_place_service *sv = &in->svc[s];
        snprintf(in->sname[s], sizeof in->sname[s], "svc-%u", s);
        sv->id = in->sname[s];
        sv->cpu = cpus[ig_below(&r, 12)];
        sv->memory = (uint64_t)(mems[ig_below(&r, 7)] * IG_GIB);
        double u = ig_unit(&r);
        sv->replicas = u < 0.7 ? 1 : u < 0.9 ? 2 : 3;
        sv->gpu = ig_unit(&r) < o->p_gpu ? 1 : 0;
        sv->current = -1;
        sv->coloc = -1;
        sv->allowed = in->allowed + (size_t)s * nc;
        dcpu += sv->cpu * sv->replicas;
        dmem += (double)sv->memory * sv->replicas;
        dgpu += (double)sv->gpu * sv->replicas;
    }
    /* Co-location: small groups of neighbours in a module. */
    for (uint32_t s = 1; s < ns; s++)
        if (module[s] == module[s - 1] && ig_unit(&r) < o->p_coloc)
            in->svc[s].coloc = in->svc[s - 1].coloc >= 0 ? in->svc[s - 1].coloc
                                                         : (int32_t)s - 1;
    for (uint32_t s = 1; s < ns; s++)
        if (in->svc[s].coloc >= 0)
            in->svc[in->svc[s].coloc].coloc = in->svc[s].coloc;
    /* Clusters sized so that the demand is `load` of the free cpu, in
     * regions of about four. */
    double *share = calloc(nc + 1, sizeof *share), tot = 0;
    uint32_t nreg = nc >= 8 ? nc / 4 : nc >= 3 ? 2 : 1;
    for (uint32_t c = 0; c < nc; c++) {
        share[c] = 0.5 + ig_unit(&r);
        tot += share[c];
        in->region[c] = c % nreg;
    }
    for (uint32_t c = 0; c < nc; c++) {
        struct smo_place_cluster *cl = &in->cl[c];
        snprintf(in->cname[c], sizeof in->cname[c], "member%u", c + 1);
        cl->name = in->cname[c];
        double f = share[c] / tot;
        double used = 0.05 + 0.45 * ig_unit(&r);
        cl->cpu_free = floor(dcpu / o->load * f * 10 + 0.5) / 10;
        cl->cpu_alloc = ceil(cl->cpu_free / (1 - used));
        cl->cpu_used = cl->cpu_alloc - cl->cpu_free;
        cl->memory_free = (uint64_t)(dmem / (o->load * 0.8) * f);
        cl->gpu_free = 0;
        cl->price = ig_unit(&r) < 0.5 ? 0.01 * (1 + ig_below(&r, 5)) : 0;
    }
    /* GPUs on about a third of the clusters, twice the demand overall. */
    if (dgpu > 0) {
        uint32_t with = nc / 3 ? nc / 3 : 1;
        for (uint32_t i = 0; i < with; i++)
            in->cl[(i * 3) % nc].gpu_free += (uint32_t)ceil(2 * dgpu / with);
    }
    free(share);
    for (uint32_t a = 0; a < nc; a++)
        for (uint32_t b = a; b < nc; b++) {
            double l = a == b                           ? 0
                       : in->region[a] == in->region[b] ? 1 + ig_below(&r, 4)
                                                        : 20 + ig_below(&r, 60);
            in->lat[(size_t)a * nc + b] = l;
            in->lat[(size_t)b * nc + a] = l;
        }
    /* A planted placement (modules kept in one region, capacity
     * respected) that the bounds and pins below keep feasible; services
     * that fit nowhere are shrunk when `repair`. */
    int32_t *plant = calloc(ns + 1, sizeof *plant);
    double *cpu_left = calloc(nc + 1, sizeof *cpu_left);
    double *mem_left = calloc(nc + 1, sizeof *mem_left);
    uint32_t *gpu_left = calloc(nc + 1, sizeof *gpu_left);
    for (uint32_t c = 0; c < nc; c++) {
        cpu_left[c] = in->cl[c].cpu_free;
        mem_left[c] = (double)in->cl[c].memory_free;
        gpu_left[c] = in->cl[c].gpu_free;
    }
    uint32_t region = UINT32_MAX;
    for (uint32_t s = 0; s < ns; s++) {
        struct smo_place_service *sv = &in->svc[s];
        if (s == 0 || module[s] != module[s - 1])
            region = UINT32_MAX;
        int32_t c = -1;
        if (sv->coloc >= 0 && sv->coloc != (int32_t)s)
            c = plant[sv->coloc]; /* with its group, room or not */
        for (int attempt = 0; c < 0 && attempt < 5; attempt++) {
            c = ig_fit(in, &r, s, cpu_left, mem_left, gpu_left, region);
            if (c >= 0 || !o->repair)
                break;
            if (attempt == 0)
                sv->gpu = 0;
            else if (attempt == 1)
                sv->replicas = 1;
            else {
                sv->cpu = 0.5;
                sv->memory = (uint64_t)(0.5 * IG_GIB);
            }
        }
        if (c < 0)
            c = (int32_t)ig_below(&r, nc);
        plant[s] = c;
        region = in->region[c];
        cpu_left[c] -= sv->cpu * sv->replicas;
        mem_left[c] -= (double)sv->memory * sv->replicas;
        gpu_left[c] = gpu_left[c] >= sv->gpu * sv->replicas
                          ? gpu_left[c] - sv->gpu * sv->replicas
                          : 0;
    }
    free(cpu_left);
    free(mem_left);
    free(gpu_left);
    /* Allowed clusters: the prefilter, then a few pins (the planted
     * cluster and another). */
    for (uint32_t s = 0; s < ns; s++) {
        struct smo_place_service *sv = &in->svc[s];
        uint8_t *al = in->allowed + (size_t)s * nc;
        bool pin = nc > 2 && ig_unit(&r) < o->p_pin;
        uint32_t pa = (uint32_t)plant[s];
        uint32_t pb = (pa + 1 + ig_below(&r, nc - 1)) % nc;
        for (uint32_t c = 0; c < nc; c++) {
            const struct smo_place_cluster *cl = &in->cl[c];
            al[c] =
                !o->prefilter ||
                (sv->cpu * sv->replicas <= cl->cpu_free + 1e-9 &&
                 (double)sv->memory * sv->replicas <= (double)cl->memory_free &&
                 sv->gpu * sv->replicas <= cl->gpu_free);
            if (pin && c != pa && c != pb)
                al[c] = 0;
        }
        if (o->current) {
            /* A random cluster it may use (any, if none). */
            uint32_t k = ig_below(&r, nc);
            sv->current = (int32_t)k;
            for (uint32_t i = 0; i < nc; i++)
                if (al[(k + i) % nc]) {
                    sv->current = (int32_t)((k + i) % nc);
                    break;
                }
        }
    }
    /* Connections: a tree inside each module, plus links between modules;
     * bounds no tighter than the planted placement meets when `repair`. */
    uint32_t ne = 0;
    for (uint32_t s = 1; s < ns; s++) {
        uint32_t m0 = mstart[module[s]];
        for (int k = 0; k < 2; k++) {
            if (k && ig_unit(&r) >= o->p_extra)
                break;
            if (!k && s == m0)
                continue; /* a module's first service: links only */
            uint32_t t = k ? ig_below(&r, s) : m0 + ig_below(&r, s - m0);
            bool dup = false;
            for (uint32_t e = 0; e < ne; e++)
                dup = dup || (in->edges[e].s == t && in->edges[e].t == s);
            if (dup)
                continue;
            double bound = -1;
            if (ig_unit(&r) < o->p_bound) {
                static const double b[] = {5, 10, 50};
                bound = b[ig_below(&r, 3)];
                double l = in->lat[(size_t)plant[t] * nc + (uint32_t)plant[s]];
                if (o->repair && l > bound)
                    bound = l > 50 ? -1 : 50;
            }
            in->edges[ne++] = (struct smo_place_edge){t, s, bound};
        }
    }
    free(plant);
    free(module);
    free(mstart);
    in->p.size = sizeof in->p;
    in->p.n_services = ns;
    in->p.n_clusters = nc;
    in->p.n_edges = ne;
    in->p.services = in->svc;
    in->p.clusters = in->cl;
    in->p.edges = in->edges;
    in->p.latency_ms = in->lat;
    in->p.weights = o->w;
    in->p.time_limit_ms = 10000;
    in->p.rel_gap = 0;
    in->p.warm_start = NULL;
}

/* Scaling: services spread over clusters whose cpu holds `load` of the
 * replicas that would serve the demand. */
struct ig_scale {
    struct smo_scale_problem p;
    struct smo_scale_service *svc;
    double *cpu;
    uint32_t *gpu;
    char (*sname)[24];
};

static inline void ig_scale_free(struct ig_scale *in)
{
    free(in->svc);
    free(in->cpu);
    free(in->gpu);
    free(in->sname);
    memset(in, 0, sizeof *in);
}

static inline void ig_scale(struct ig_scale *in, uint64_t seed, uint32_t ns,
                            uint32_t nc, double load, uint32_t max_hi)
{
    struct ig_rng r = {seed * 0x9e3779b97f4a7c15ull + 777};
    memset(in, 0, sizeof *in);
    in->svc = calloc(ns + 1, sizeof *in->svc);
    in->cpu = calloc(nc + 1, sizeof *in->cpu);
    in->gpu = calloc(nc + 1, sizeof *in->gpu);
    in->sname = calloc(ns + 1, sizeof *in->sname);
    static const double cpus[] = {0.25, 0.5, 0.5, 1, 1, 2, 4};
    double *need = calloc(nc + 1, sizeof *need);
    for (uint32_t i = 0; i < ns; i++) {
        struct smo_scale_service *s = &in->svc[i];
        snprintf(in->sname[i], sizeof in->sname[i], "svc-%u", i);
        s->id = in->sname[i];
        s->cluster = ig_below(&r, nc);
        s->cpu = cpus[ig_below(&r, 7)];
        s->gpu = ig_unit(&r) < 0.05 ? 1 : 0;
        s->min_replicas = 1 + (ig_unit(&r) < 0.2);
        s->max_replicas = s->min_replicas + 1 + ig_below(&r, max_hi);
        s->prev = s->min_replicas +
                  ig_below(&r, s->max_replicas - s->min_replicas + 1);
        s->max_step = ig_unit(&r) < 0.3 ? 1 + ig_below(&r, 2) : 0;
        s->alpha = 5 + 45 * ig_unit(&r);
        s->beta = -5 + 10 * ig_unit(&r);
        s->lambda = ig_unit(&r) < 0.1
                        ? 0
                        : s->alpha * (s->min_replicas +
                                      (s->max_replicas + 1 - s->min_replicas) *
                                          ig_unit(&r));
        double want = ceil((s->lambda - s->beta) / s->alpha);
        if (want < s->min_replicas)
            want = s->min_replicas;
        if (want > s->max_replicas)
            want = s->max_replicas;
        need[s->cluster] += want * s->cpu;
        in->gpu[s->cluster] += s->gpu * (uint32_t)want;
    }
    for (uint32_t k = 0; k < nc; k++)
        in->cpu[k] = floor(need[k] * load * 4 + 0.5) / 4;
    free(need);
    in->p.size = sizeof in->p;
    in->p.n_services = ns;
    in->p.n_clusters = nc;
    in->p.services = in->svc;
    in->p.cluster_cpu = in->cpu;
    in->p.cluster_gpu = in->gpu;
    in->p.weights = (struct smo_scale_weights){0.4, 0.4, 1};
    in->p.time_limit_ms = 10000;
}

#endif
