/* Parse + validate + translate time and memory for large descriptors.
 *
 * usage: bench_hdag [SERVICES] [RUNS] [CONF_DIR]
 * Generates a descriptor with SERVICES services (each with a connection
 * point, an event trigger on every 10th, mixed classes and quantities),
 * then times parse+validate and translation over RUNS runs and reports the
 * resident memory the model takes. Figures only; nothing is asserted. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "smo_hdag.h"
#include "smo_offline.h"
#include "smo_rt.h"

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static char *generate(size_t n, size_t *len)
{
    static const char *const cls[] = {"light", "small", "medium", "large"};
    size_t cap = n * 700 + 256, o = 0;
    char *t = malloc(cap);
    o += (size_t)snprintf(t + o, cap - o,
                          "hdaGraph:\n  id: bench-graph\n  version: \"1.0\"\n"
                          "  services:\n");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(
            t + o, cap - o,
            "    - id: svc-%zu\n      deployment:\n        trigger: %s\n"
            "        intent:\n          compute: {cpu: %s, ram: %s, storage: "
            "small, gpu: {enabled: %s}}\n"
            "          connectionPoints: [svc-%zu]\n"
            "      artifact:\n        ociImage: oci://registry.local/bench/"
            "svc-%zu:1.0.%zu\n        ociConfig: {type: App, implementer: "
            "HELM}\n        valuesOverwrite: {replicaCount: %zu, image: "
            "{tag: v1}}\n",
            i,
            i % 10 == 0 ? "{event: {condition: ANY, events: [{id: load, "
                          "condition: {promQuery: 'sum(rate(x[1m])) > 1', "
                          "gracePeriod: 1m}}]}}"
                        : "{type: standard}",
            i % 7 == 0 ? "250m" : cls[i % 4], i % 5 == 0 ? "3Gi" : cls[i % 3],
            i % 13 == 0 ? "true" : "false", (i + 1) % n, i, i, 1 + i % 3);
    }
    *len = o;
    return t;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000;
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    const char *conf = argc > 3 ? argv[3] : "conf.d";
    struct smo_rt *rt =
        smo__offline_start(conf, 1u << SMO_KIND_TRANSLATOR, SMO_LOG_WARN);
    if (!rt)
        return 2;
    struct smo__translator_ref tr[8];
    size_t ntr = smo__offline_translators(rt, tr, 8);
    size_t len;
    char *text = generate(n, &len);
    double best_parse = 1e9, best_tr = 1e9, sum_parse = 0, sum_tr = 0;
    long rss_model = 0;
    for (int r = 0; r < runs; r++) {
        struct smo__hdag_report rep;
        smo__hdag_report_init(&rep);
        struct smo__hdag_opts o = {0};
        o.require_wrapper = true;
        struct smo__hdag *h = NULL;
        long before = rss_kb();
        uint64_t t0 = uv_hrtime();
        if (smo__hdag_parse(text, len, &o, &h, &rep)) {
            char *e = smo__hdag_report_text(&rep, false, NULL);
            fprintf(stderr, "invalid: %s\n", e);
            return 1;
        }
        uint64_t t1 = uv_hrtime();
        if (smo__hdag_translate(h, tr, ntr, &rep)) {
            char *e = smo__hdag_report_text(&rep, false, NULL);
            fprintf(stderr, "translation failed: %s\n", e);
            return 1;
        }
        uint64_t t2 = uv_hrtime();
        if (r == 0)
            rss_model = rss_kb() - before;
        double p = (double)(t1 - t0) / 1e6, t = (double)(t2 - t1) / 1e6;
        best_parse = p < best_parse ? p : best_parse;
        best_tr = t < best_tr ? t : best_tr;
        sum_parse += p;
        sum_tr += t;
        smo__hdag_free(h);
        smo__hdag_report_free(&rep);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("descriptor: %zu services, %zu bytes of YAML, %d runs\n", n, len,
           runs);
    printf("parse + validate:  best %8.2f ms   mean %8.2f ms\n", best_parse,
           sum_parse / runs);
    printf("translate:         best %8.2f ms   mean %8.2f ms\n", best_tr,
           sum_tr / runs);
    printf("memory: first run grew RSS by %ld KiB; peak RSS %ld KiB\n",
           rss_model, ru.ru_maxrss);
    free(text);
    smo__offline_stop(rt);
    return 0;
}
