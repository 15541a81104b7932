/* Solver benchmark: generated placement problems from 10 services x 3
 * clusters to 400 x 30 and 1,000-service scaling problems, solved by the
 * greedy heuristic and by solver_cbc (their code, called directly), with
 * the figures docs/benchmarks.md reports. Also writes a generated problem
 * as an HDAG and a Karmada ClusterList for `smod plan`.
 *
 *   bench_solver place [--sizes 10x3,30x5,...] [--seeds N] [--long MS]
 *   bench_solver scale [--services N] [--clusters N] [--runs N]
 *   bench_solver emit NS NC DIR [SEED]
 *
 * Figures only: nothing here asserts a time. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cbc_models.h"
#include "greedy.h"
#include "instgen.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *status_name(int s)
{
    static const char *const n[] = {"?",          "optimal", "feasible",
                                    "infeasible", "timeout", "error"};
    return s >= 1 && s <= 5 ? n[s] : n[0];
}

struct run {
    int status;
    double objective, bound, gap, ms;
};

static struct run cbc(const struct smo_place_problem *p, int64_t limit_ms,
                      double gap)
{
    int32_t *a = calloc(p->n_services + 1, sizeof *a);
    struct smo_place_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.assignment = a;
    struct smo_place_problem q = *p;
    q.time_limit_ms = limit_ms;
    q.rel_gap = gap;
    struct smo__cbc_cfg cfg = {limit_ms, gap, true, 100, 4096, true, 2};
    struct smo__cbc_stats st;
    smo__cbc_place(&cfg, &q, &r, &st);
    free(a);
    return (struct run){r.status, r.objective, r.bound, r.gap, r.solve_ms};
}

static double pct(double v, double best)
{
    return best > 0 ? 100 * (v - best) / best : 0;
}

static int cmd_place(const char *sizes, int seeds, int64_t long_ms)
{
    printf("| services x clusters | seed | heuristic ms | heuristic obj | "
           "CBC 1 s obj (status, gap vs bound, ms) | CBC 10 s obj (status, "
           "ms) | long run obj (ms) | best known | heuristic / 1 s / 10 s "
           "above best |\n|---|---|---|---|---|---|---|---|---|\n");
    char *list = strdup(sizes);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        unsigned ns, nc;
        if (sscanf(tok, "%ux%u", &ns, &nc) != 2)
            continue;
        for (int seed = 1; seed <= seeds; seed++) {
            struct ig_inst in;
            struct ig_opts o = ig_defaults(ns, nc);
            ig_place(&in, (uint64_t)seed, &o);
            /* The heuristic: best time of five runs. */
            int32_t *a = calloc(ns + 1, sizeof *a);
            char why[256];
            double hms = 1e300, hobj = NAN;
            for (int k = 0; k < 5; k++) {
                double t0 = now_ms();
                int rc = smo__greedy_place(&in.p, a, 1000, why, sizeof why);
                double t = now_ms() - t0;
                hms = t < hms ? t : hms;
                hobj = rc ? NAN : smo__greedy_objective(&in.p, a, NULL);
            }
            free(a);
            struct run r1 = cbc(&in.p, 1000, 0.005);
            struct run r10 = cbc(&in.p, 10000, 0.005);
            struct run rl = long_ms > 0 ? cbc(&in.p, long_ms, 0)
                                        : (struct run){0, NAN, 0, 0, 0};
            double best = r1.objective;
            if (r10.objective < best)
                best = r10.objective;
            if (rl.objective < best)
                best = rl.objective;
            if (hobj < best)
                best = hobj;
            printf("| %u x %u | %d | %.2f | %.4f | %.4f (%s, %.1f%%, %.0f) | "
                   "%.4f (%s, %.0f) | %.4f (%.0f) | %.4f | %.1f%% / %.2f%% / "
                   "%.2f%% |\n",
                   ns, nc, seed, hms, hobj, r1.objective,
                   status_name(r1.status), 100 * r1.gap, r1.ms, r10.objective,
                   status_name(r10.status), r10.ms, rl.objective, rl.ms, best,
                   pct(hobj, best), pct(r1.objective, best),
                   pct(r10.objective, best));
            fflush(stdout);
            ig_free(&in);
        }
    }
    free(list);
    return 0;
}

static int cmd_scale(uint32_t ns, uint32_t nc, int runs)
{
    printf("| services | clusters | load | CBC needed | rule ms (best / mean) "
           "| CBC ms (best / mean) | status | rule objective | CBC objective "
           "|\n|---|---|---|---|---|---|---|---|---|\n");
    static const double loads[] = {1.5, 0.9, 0.7};
    for (int l = 0; l < 3; l++) {
        struct ig_scale in;
        ig_scale(&in, 7, ns, nc, loads[l], 8);
        uint32_t *rep = calloc(ns, sizeof *rep);
        double *un = calloc(ns, sizeof *un);
        double gbest = 1e300, gsum = 0, cbest = 1e300, csum = 0, gobj = 0;
        struct smo_scale_result r;
        for (int k = 0; k < runs; k++) {
            char why[256];
            double t0 = now_ms();
            smo__greedy_scale(&in.p, rep, un, &gobj, why, sizeof why);
            double t = now_ms() - t0;
            gbest = t < gbest ? t : gbest;
            gsum += t;
            memset(&r, 0, sizeof r);
            r.size = sizeof r;
            r.replicas = rep;
            r.unmet = un;
            struct smo__cbc_cfg cfg = {10000, 0.005, true, 100,
                                       4096,  true,  2}; /* as shipped */
            struct smo__cbc_stats st;
            t0 = now_ms();
            smo__cbc_scale(&cfg, &in.p, &r, &st);
            t = now_ms() - t0;
            cbest = t < cbest ? t : cbest;
            csum += t;
        }
        uint32_t *alone = calloc(ns, sizeof *alone);
        int needed = !smo__scale_best_alone(&in.p, alone);
        free(alone);
        printf("| %u | %u | %.1f | %s | %.2f / %.2f | %.2f / %.2f | %s | "
               "%.6g | %.6g |\n",
               ns, nc, loads[l], needed ? "yes" : "no", gbest, gsum / runs,
               cbest, csum / runs, status_name(r.status), gobj, r.objective);
        fflush(stdout);
        free(rep);
        free(un);
        ig_scale_free(&in);
    }
    return 0;
}

static void fmt_cpu(char *b, size_t n, double cores)
{
    if (fabs(cores - floor(cores)) < 1e-9)
        snprintf(b, n, "\"%.0f\"", cores);
    else
        snprintf(b, n, "\"%.0fm\"", cores * 1000);
}

/* The generated problem as an HDAG and a ClusterList: the core rebuilds
 * the same problem from them (prefilter, pins, bounds, prices). */
static int cmd_emit(uint32_t ns, uint32_t nc, const char *dir, uint64_t seed)
{
    struct ig_inst in;
    struct ig_opts o = ig_defaults(ns, nc);
    ig_place(&in, seed, &o);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/hdag.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f,
            "# bench_solver emit %u %u (seed %llu)\nhdaGraph:\n  id: "
            "bench-%ux%u\n  services:\n",
            ns, nc, (unsigned long long)seed, ns, nc);
    for (uint32_t s = 0; s < ns; s++) {
        const struct smo_place_service *sv = &in.svc[s];
        char cpu[32];
        fmt_cpu(cpu, sizeof cpu, sv->cpu);
        fprintf(f,
                "    - id: %s\n      artifact:\n        ociImage: "
                "oci://registry.example.com/bench/%s:1.0.0\n"
                "        valuesOverwrite: {replicaCount: %u}\n"
                "      deployment:\n        trigger: {type: standard}\n"
                "        intent:\n          compute: {cpu: %s, ram: "
                "%lluMi, storage: none, gpu: {enabled: %s, count: %u}}\n",
                sv->id, sv->id, sv->replicas, cpu,
                (unsigned long long)(sv->memory >> 20),
                sv->gpu ? "true" : "false", sv->gpu ? sv->gpu : 1);
        /* Connections from this service (each edge once), bounds on it. */
        fprintf(f, "          connectionPoints: [");
        int n = 0;
        for (uint32_t e = 0; e < in.p.n_edges; e++)
            if (in.edges[e].s == s)
                fprintf(f, "%s%s", n++ ? ", " : "", in.svc[in.edges[e].t].id);
        fprintf(f, "]\n");
        n = 0;
        for (uint32_t e = 0; e < in.p.n_edges; e++)
            if (in.edges[e].s == s && in.edges[e].max_latency_ms >= 0) {
                if (!n++)
                    fprintf(f, "          network:\n            latencies:\n");
                fprintf(f,
                        "              - {connectionPoint: %s, maxLatency: "
                        "%.0fms}\n",
                        in.svc[in.edges[e].t].id, in.edges[e].max_latency_ms);
            }
        n = 0;
        for (uint32_t t = 0; sv->coloc >= 0 && t < ns; t++)
            if (t != s && in.svc[t].coloc == sv->coloc)
                fprintf(f, "%s%s", n++ ? ", " : "          coLocation: [",
                        in.svc[t].id);
        if (n)
            fprintf(f, "]\n");
        /* Pins: fewer allowed clusters than the prefilter leaves. */
        uint32_t na = 0;
        for (uint32_t c = 0; c < nc; c++)
            na += sv->allowed[c];
        if (na <= 2 && na < nc) {
            fprintf(f, "          clusters: [");
            n = 0;
            for (uint32_t c = 0; c < nc; c++)
                if (sv->allowed[c])
                    fprintf(f, "%s%s", n++ ? ", " : "", in.cl[c].name);
            fprintf(f, "]\n");
        }
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/clusters.json", dir);
    f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "{\"apiVersion\": \"cluster.karmada.io/v1alpha1\", \"kind\": "
               "\"ClusterList\", \"items\": [\n");
    for (uint32_t c = 0; c < nc; c++) {
        const struct smo_place_cluster *cl = &in.cl[c];
        fprintf(f, "  {\"metadata\": {\"name\": \"%s\", \"labels\": {",
                cl->name);
        fprintf(f, "\"smo.io/cost-per-core\": \"%g\"", cl->price);
        for (uint32_t d = 0; d < nc; d++)
            if (d != c)
                fprintf(f, ", \"smo.io/latency-%s\": \"%g\"", in.cl[d].name,
                        in.lat[(size_t)c * nc + d]);
        double mem_alloc = (double)cl->memory_free * 1.25;
        fprintf(f,
                "}},\n   \"spec\": {\"region\": \"region-%u\"},\n"
                "   \"status\": {\"conditions\": [{\"type\": \"Ready\", "
                "\"status\": \"True\"}],\n    \"resourceSummary\": {"
                "\"allocatable\": {\"cpu\": \"%.0fm\", \"memory\": \"%.0f\", "
                "\"nvidia.com/gpu\": \"%u\"}, \"allocated\": {\"cpu\": "
                "\"%.0fm\", \"memory\": \"%.0f\"}, \"allocating\": {}}}}%s\n",
                in.region[c], cl->cpu_alloc * 1000, mem_alloc, cl->gpu_free,
                cl->cpu_used * 1000, mem_alloc - (double)cl->memory_free,
                c + 1 < nc ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
    ig_free(&in);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "place")) {
        const char *sizes = "10x3,30x5,50x8,100x12,200x20,400x30";
        int seeds = 3;
        int64_t long_ms = 120000;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--sizes"))
                sizes = argv[i + 1];
            else if (!strcmp(argv[i], "--seeds"))
                seeds = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--long"))
                long_ms = atoll(argv[i + 1]);
        }
        return cmd_place(sizes, seeds, long_ms);
    }
    if (argc >= 2 && !strcmp(argv[1], "scale")) {
        uint32_t ns = 1000, nc = 20;
        int runs = 20;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--services"))
                ns = (uint32_t)atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--clusters"))
                nc = (uint32_t)atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--runs"))
                runs = atoi(argv[i + 1]);
        }
        return cmd_scale(ns, nc, runs);
    }
    if (argc >= 5 && !strcmp(argv[1], "emit"))
        return cmd_emit((uint32_t)atoi(argv[2]), (uint32_t)atoi(argv[3]),
                        argv[4], argc > 5 ? strtoull(argv[5], NULL, 10) : 1);
    fprintf(stderr, "usage: bench_solver place [--sizes 10x3,...] [--seeds N] "
                    "[--long MS]\n"
                    "       bench_solver scale [--services N] [--clusters N] "
                    "[--runs N]\n"
                    "       bench_solver emit NS NC DIR [SEED]\n");
    return 2;
}
