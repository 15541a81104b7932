/* `smod plan HDAG --inventory CLUSTERS.json [--current PLACEMENT.json]
 * [--conf DIR] [-o table|json]`: the whole placement pipeline (source,
 * translate, prefilter, solve) on a Karmada ClusterList, without executing
 * anything. It runs the engine's own placement (smo__place_graph, the code
 * behind graph.plan and every deploy) in an offline runtime holding only
 * sources, translators and solvers, so what it prints is what a deploy
 * would do on that inventory. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "smo_engine.h"
#include "smo_engine_int.h"
#include "smo_hdag.h"
#include "smo_karmada_inv.h"
#include "smo_log.h"
#include "smo_offline.h"
#include "smo_rt.h"
#include "smo_units.h"
#include "smo_yaml.h"

/* Declared here and in smo_main.c (the dispatcher): the core keeps offline
 * command prototypes next to their callers. */
int smo__cmd_plan(int argc, char **argv);

#ifndef SMO_CONFDIR
#define SMO_CONFDIR "/etc/smo/conf.d"
#endif

/* Exit codes: 0 a placement, 1 invalid input, 2 usage or configuration,
 * 3 no placement (infeasible, or none found in time). */
enum { EXIT_PLACED = 0, EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_NONE = 3 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: smod plan HDAG --inventory CLUSTERS.json [--current "
            "PLACEMENT.json]\n"
            "                 [--conf DIR] [--solver NAME] [-o table|json]\n"
            "\n"
            "Place a graph on a Karmada federation without deploying "
            "anything.\n"
            "  HDAG                  descriptor reference (path, oci://, "
            "http(s)://)\n"
            "  -i, --inventory FILE  `kubectl get clusters -o json` output "
            "(ClusterList)\n"
            "  --current FILE        the graph's placement now, {service: "
            "cluster} or a\n"
            "                        graph document with \"placement\"; "
            "those services are\n"
            "                        taken as running there "
            "(re-placement)\n"
            "  -c, --conf DIR        configuration directory (default "
            "$SMO_CONF_DIR or %s)\n"
            "  --solver NAME         solver instance (default "
            "engine.placement.solver,\n"
            "                        else the first configured)\n"
            "  -p, --plugin-dir DIR  search DIR for plugins first\n"
            "  -l, --log-level LVL   error|warning|notice|info|debug\n"
            "  -o, --output FMT      table (default) or json\n"
            "Exit status: 0 placed, 1 invalid input, 2 usage or "
            "configuration, 3 no placement.\n",
            SMO_CONFDIR);
}

/* A JSON or YAML file (new). */
static json_t *load_file(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "smod plan: %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 131072;
            if (cap > SMO__YAML_MAX_BYTES_DEFAULT + 65536) {
                fprintf(stderr, "smod plan: %s %s: larger than %u bytes\n",
                        what, path, SMO__YAML_MAX_BYTES_DEFAULT);
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (!got)
            break;
    }
    fclose(f);
    struct smo__yaml_opts yo = {0};
    yo.name = path;
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    if (smo__yaml_parse(buf, len, &yo, &doc, &st)) {
        fprintf(stderr, "smod plan: %s\n", st.msg);
        doc = NULL;
    }
    free(buf);
    return doc;
}

struct plan {
    bool done;
    int code;
    char msg[512];
    json_t *placement; /* owned */
    json_t *detail;    /* owned */
};

static void on_placed(void *arg, const smo_status *st, json_t *placement,
                      json_t *detail)
{
    struct plan *pl = arg;
    pl->done = true;
    pl->code = st->code;
    snprintf(pl->msg, sizeof pl->msg, "%s", st->msg);
    pl->placement = placement;
    pl->detail = detail;
}

static double dnum(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* The JSON answer (new). */
static json_t *result_json(const struct smo__hdag *h, const struct plan *pl,
                           const json_t *inventory)
{
    const json_t *d = pl->detail;
    const char *status = json_string_value(json_object_get(d, "status"));
    if (!status)
        status = pl->code == SMO_ETIMEDOUT ? "timeout"
                 : pl->code                ? "infeasible"
                                           : "feasible";
    json_t *out = json_pack("{s:s, s:s, s:b}", "graph", h->id, "status", status,
                            "feasible", pl->code == 0);
    json_object_set_new(out, "placement",
                        pl->placement ? json_incref(pl->placement)
                                      : json_object());
    static const char *const keys[] = {"solver", "objective", "terms", "bound",
                                       "gap",    "solve_ms",  "note"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(d, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
    if (pl->code)
        json_object_set_new(out, "reason", json_string(pl->msg));
    /* Explanations: per service the cluster chosen and every cluster left
     * out with the reason; clusters no service could use. */
    json_t *ex = json_object_get(d, "services");
    json_object_set(out, "explanations", ex ? ex : json_object());
    json_t *exc = json_object_get(d, "excluded_clusters");
    json_object_set(out, "excluded_clusters", exc ? exc : json_object());
    json_t *cl = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(inventory, i, c)
    {
        const json_t *cpu = json_object_get(c, "cpu");
        const json_t *mem = json_object_get(c, "memory");
        const json_t *gpu = json_object_get(c, "gpu");
        json_array_append_new(
            cl, json_pack("{s:O, s:O, s:O, s:f, s:f, s:f}", "name",
                          json_object_get(c, "name"), "ready",
                          json_object_get(c, "ready"), "available",
                          json_object_get(c, "available"), "cpu_free",
                          dnum(cpu, "allocatable") - dnum(cpu, "allocated") -
                              dnum(cpu, "allocating"),
                          "memory_free",
                          dnum(mem, "allocatable") - dnum(mem, "allocated") -
                              dnum(mem, "allocating"),
                          "gpu_free",
                          dnum(gpu, "allocatable") - dnum(gpu, "allocated") -
                              dnum(gpu, "allocating")));
    }
    json_object_set_new(out, "clusters", cl);
    return out;
}

static void print_table(const struct smo__hdag *h, const json_t *out)
{
    const char *status = json_string_value(json_object_get(out, "status"));
    const json_t *terms = json_object_get(out, "terms");
    printf("graph %s: %zu service%s, %s", h->id, h->n_services,
           h->n_services == 1 ? "" : "s", status);
    if (json_is_true(json_object_get(out, "feasible")) && terms) {
        char gap[32];
        if (dnum(out, "gap") < 0)
            snprintf(gap, sizeof gap, "unknown");
        else
            snprintf(gap, sizeof gap, "%.3g%%", 100 * dnum(out, "gap"));
        printf(", objective %.6g (net %.6g, balance %.6g, move %.6g, cost "
               "%.6g), gap %s, %.1f ms, solver %s",
               dnum(out, "objective"), dnum(terms, "net"),
               dnum(terms, "balance"), dnum(terms, "move"), dnum(terms, "cost"),
               gap, dnum(out, "solve_ms"),
               json_string_value(json_object_get(out, "solver")));
    }
    printf("\n");
    const char *why = json_string_value(json_object_get(out, "reason"));
    if (why)
        printf("reason: %s\n", why);
    const char *note = json_string_value(json_object_get(out, "note"));
    if (note && *note)
        printf("note: %s\n", note);
    printf("%-24s %-16s %7s %9s %4s %8s  %s\n", "SERVICE", "CLUSTER", "CPU",
           "MEMORY", "GPU", "REPLICAS", "EXCLUDED CLUSTERS");
    const json_t *pl = json_object_get(out, "placement");
    const json_t *ex = json_object_get(out, "explanations");
    for (size_t i = 0; i < h->n_services; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        const char *c = json_string_value(json_object_get(pl, s->id));
        char mem[32];
        smo__format_bytes(s->res.memory, mem, sizeof mem);
        printf("%-24s %-16s %7g %9s %4u %8u  ", s->id, c ? c : "-", s->res.cpu,
               mem, s->res.gpu, s->replicas);
        const json_t *excl =
            json_object_get(json_object_get(ex, s->id), "excluded");
        const char *k;
        const json_t *v;
        size_t n = 0;
        json_object_foreach((json_t *)excl, k, v)
        {
            printf("%s%s: %s", n++ ? "; " : "", k, json_string_value(v));
        }
        printf("%s\n", n ? "" : "-");
    }
}

int smo__cmd_plan(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"inventory", required_argument, NULL, 'i'},
        {"current", required_argument, NULL, 'C'},
        {"conf", required_argument, NULL, 'c'},
        {"solver", required_argument, NULL, 'S'},
        {"plugin-dir", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    const char *inv_path = NULL, *cur_path = NULL, *conf = NULL;
    const char *solver = NULL, *output = "table";
    int log_level = -1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:c:p:l:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inv_path = optarg;
            break;
        case 'C':
            cur_path = optarg;
            break;
        case 'c':
            conf = optarg;
            break;
        case 'S':
            solver = optarg;
            break;
        case 'p': {
            const char *cur = getenv("SMO_PLUGIN_PATH");
            char *v = NULL;
            if (asprintf(&v, "%s%s%s", optarg, cur && *cur ? ":" : "",
                         cur ? cur : "") >= 0)
                setenv("SMO_PLUGIN_PATH", v, 1);
            free(v);
            break;
        }
        case 'l':
            log_level = smo__log_level_parse(optarg);
            if (log_level < 0) {
                fprintf(stderr,
                        "smod plan: --log-level: unknown level "
                        "\"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'o':
            if (strcmp(optarg, "table") && strcmp(optarg, "json")) {
                fprintf(stderr,
                        "smod plan: --output: expected table or json, "
                        "found \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            output = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !inv_path) {
        fprintf(stderr, "smod plan: %s\n",
                optind != argc - 1 ? "expected one descriptor reference"
                                   : "--inventory is required");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *ref = argv[optind];
    if (!conf)
        conf = getenv("SMO_CONF_DIR");
    if (!conf)
        conf = SMO_CONFDIR;
    bool json = !strcmp(output, "json");

    /* The inputs first: no plugin is loaded for a missing file. */
    json_t *list = load_file(inv_path, "inventory");
    if (!list)
        return EXIT_INPUT;
    smo_status st;
    smo_status_clear(&st);
    json_t *inventory = smo__karmada_inventory(list, &st);
    json_decref(list);
    if (!inventory) {
        fprintf(stderr, "smod plan: inventory %s: %s\n", inv_path, st.msg);
        return EXIT_INPUT;
    }
    json_t *current = NULL, *deployed = NULL;
    if (cur_path) {
        json_t *doc = load_file(cur_path, "current placement");
        json_t *map = json_object_get(doc, "placement");
        map = json_is_object(map) ? map : doc;
        const char *k;
        json_t *v;
        bool ok = json_is_object(map);
        json_object_foreach(map, k, v) ok = ok && json_is_string(v);
        if (!ok) {
            fprintf(stderr,
                    "smod plan: current placement %s: expected an object "
                    "{service: cluster} or a graph with \"placement\"\n",
                    cur_path);
            json_decref(doc);
            json_decref(inventory);
            return EXIT_INPUT;
        }
        current = json_deep_copy(map);
        json_decref(doc);
        /* Running where they are: their capacity is theirs again. */
        deployed = json_object();
        json_object_foreach(current, k, v)
            json_object_set_new(deployed, k, json_true());
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = EXIT_INPUT;
    struct smo__hdag *h = NULL;
    struct smo__hdag_report rep;
    smo__hdag_report_init(&rep);
    struct plan pl = {0};
    struct smo_rt *rt = smo__offline_start(conf,
                                           (1u << SMO_KIND_SOURCE) |
                                               (1u << SMO_KIND_TRANSLATOR) |
                                               (1u << SMO_KIND_SOLVER),
                                           log_level);
    if (!rt) {
        rc = EXIT_USAGE;
        goto out;
    }
    char *text = NULL;
    size_t len = 0;
    if (smo__offline_fetch(rt, ref, &text, &len, &st)) {
        fprintf(stderr, "smod plan: %s\n", st.msg);
        goto out;
    }
    struct smo__hdag_opts ho = {0};
    ho.name = ref;
    ho.require_wrapper = true;
    struct smo__translator_ref tr[32];
    size_t ntr = smo__offline_translators(rt, tr, 32);
    if (!ntr) {
        free(text);
        fprintf(stderr, "smod plan: no translator is configured in %s\n", conf);
        rc = EXIT_USAGE;
        goto out;
    }
    int r = smo__hdag_load(text, len, &ho, tr, ntr, &h, &rep);
    free(text);
    if (r) {
        char *e = smo__hdag_report_text(&rep, false, ref);
        fputs(e, stderr);
        free(e);
        fprintf(stderr, "smod plan: %s is invalid\n", ref);
        goto out;
    }
    if (h->static_placement) {
        /* Nothing to solve: the charts' clustersAffinity decides. */
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:{}, s:s}", "graph", h->id, "status",
                      "static", "feasible", 1, "placement", "note",
                      "static placement (useStaticPlacement): the "
                      "charts decide, nothing is solved");
        if (json) {
            char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
            printf("%s\n", s);
            free(s);
        } else
            printf("graph %s: static placement (useStaticPlacement): the "
                   "charts decide, nothing is solved\n",
                   h->id);
        json_decref(o);
        rc = EXIT_PLACED;
        goto out;
    }
    /* The engine's placement, with this runtime's solver and settings. */
    struct smo__engine *e = smo__engine_new(rt);
    if (solver) {
        smo_instance *si = smo__rt_find(rt, solver);
        if (!si || si->kind != SMO_KIND_SOLVER) {
            fprintf(stderr,
                    "smod plan: --solver: no solver instance \"%s\" in %s\n",
                    solver, conf);
            rc = EXIT_USAGE;
            goto out;
        }
        rt->conf->ecfg.solver = si->name;
    }
    if (smo__place_graph(e, h, inventory, current, deployed, NULL, NULL,
                         on_placed, &pl, &st)) {
        fprintf(stderr, "smod plan: %s\n", st.msg);
        rc = st.code == SMO_EUNAVAIL ? EXIT_USAGE : EXIT_NONE;
        goto out;
    }
    /* Bounded by the solver's own limit; this is the backstop. */
    uint64_t end = uv_hrtime() + 3600ull * 1000000000ull;
    while (!pl.done && uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_ONCE);
    if (!pl.done) {
        fprintf(stderr, "smod plan: the solver did not answer\n");
        rc = EXIT_NONE;
        goto out;
    }
    json_t *o = result_json(h, &pl, inventory);
    if (json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        printf("%s\n", s);
        free(s);
    } else
        print_table(h, o);
    json_decref(o);
    rc = pl.code ? EXIT_NONE : EXIT_PLACED;
out:
    json_decref(pl.placement);
    json_decref(pl.detail);
    smo__hdag_free(h);
    smo__hdag_report_free(&rep);
    smo__offline_stop(rt);
    json_decref(inventory);
    json_decref(current);
    json_decref(deployed);
    curl_global_cleanup();
    return rc;
}
