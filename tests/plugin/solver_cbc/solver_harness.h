/* Shared by the solver plugin tests (solver_cbc and solver_greedy): one
 * plugin instance on the mock host, small problems written by hand, and
 * brute force over every assignment for the exact answer. */
#ifndef SMO_TEST_SOLVER_HARNESS_H
#define SMO_TEST_SOLVER_HARNESS_H

#include "../../unit/smo_test.h"

#include <math.h>

#include <smo/smo.h>

#include "greedy.h"
#include "instgen.h"
#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define SP   smo_plugin_entry
#define SOPS ((const struct smo_solver_ops *)SP.ops)

struct h_inst {
    void *cfg;
    json_t *cfgj;
    void *state;
};

/* The mock host allows one mock at a time: instances share it. */
static struct smo_mock *h_mock;
static int h_mock_users;

/* An instance of the plugin under test with a YAML configuration. */
static inline void h_make(struct h_inst *h, const char *yaml)
{
    smo_status st;
    smo_status_clear(&st);
    if (!h_mock_users++)
        h_mock = smo_mock_new();
    const struct smo_host *host = smo_mock_host(h_mock);
    assert_int_equal(host->yaml_parse(yaml, strlen(yaml), &h->cfgj, &st), 0);
    h->cfg = calloc(1, SP.config_size);
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    struct smo__schema_ctx ctx = {&e, "test", NULL, false};
    size_t n = smo__schema_apply(SP.config, h->cfgj, h->cfg, "config", &ctx);
    if (n)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    assert_int_equal(
        SP.create(host, smo_mock_self(h_mock), h->cfg, &h->state, &st), 0);
}

static inline void h_drop(struct h_inst *h)
{
    SP.destroy(h->state);
    free(h->cfg);
    json_decref(h->cfgj);
    if (!--h_mock_users) {
        smo_mock_free(h_mock);
        h_mock = NULL;
    }
    memset(h, 0, sizeof *h);
}

/* A hand-written problem: up to 8 services and 4 clusters. */
struct h_prob {
    struct smo_place_problem p;
    struct smo_place_service s[8];
    struct smo_place_cluster c[4];
    struct smo_place_edge e[16];
    int32_t a[8];
    struct smo_place_result r;
};

/* Clusters from the original's capacity vectors: cpu free = allocatable,
 * nothing used, memory unbounded, `gpus` devices where acc is set. */
static inline void h_init(struct h_prob *h, uint32_t nc, const double *caps,
                          const int *acc, uint32_t gpus)
{
    memset(h, 0, sizeof *h);
    static const char *const names[] = {"c0", "c1", "c2", "c3"};
    for (uint32_t c = 0; c < nc; c++) {
        h->c[c].name = names[c];
        h->c[c].cpu_free = caps[c];
        h->c[c].cpu_alloc = caps[c];
        h->c[c].memory_free = (uint64_t)1 << 40;
        h->c[c].gpu_free = acc && acc[c] ? gpus : 0;
    }
    h->p.size = sizeof h->p;
    h->p.n_clusters = nc;
    h->p.clusters = h->c;
    h->p.services = h->s;
    h->p.edges = h->e;
    h->p.time_limit_ms = 10000;
    h->p.rel_gap = 0;
    h->r.size = sizeof h->r;
    h->r.assignment = h->a;
}

static inline void h_svc(struct h_prob *h, double cpu, uint32_t gpu,
                         uint32_t replicas, int32_t current)
{
    static const char *const names[] = {"s0", "s1", "s2", "s3",
                                        "s4", "s5", "s6", "s7"};
    struct smo_place_service *s = &h->s[h->p.n_services];
    s->id = names[h->p.n_services++];
    s->cpu = cpu;
    s->gpu = gpu;
    s->replicas = replicas;
    s->current = current;
    s->coloc = -1;
}

static inline int h_place(struct h_inst *hi, struct h_prob *h)
{
    for (uint32_t i = 0; i < 8; i++)
        h->a[i] = -7;
    return SOPS->place(hi->state, &h->p, &h->r);
}

/* Exact optimum by enumeration (nc^ns assignments); INFINITY when none is
 * feasible. */
static inline double bf_place(const struct smo_place_problem *p, int32_t *best)
{
    uint32_t ns = p->n_services, nc = p->n_clusters;
    int32_t *a = calloc(ns + 1, sizeof *a);
    double bv = INFINITY;
    char why[256];
    for (;;) {
        if (smo__greedy_check(p, a, why, sizeof why) == 0) {
            double v = smo__greedy_objective(p, a, NULL);
            if (v < bv) {
                bv = v;
                if (best)
                    memcpy(best, a, ns * sizeof *a);
            }
        }
        uint32_t i = 0;
        while (i < ns && ++a[i] == (int32_t)nc)
            a[i++] = 0;
        if (i == ns)
            break;
    }
    free(a);
    return bv;
}

/* Exact scaling optimum over every replica vector in the windows;
 * INFINITY when none fits. */
static inline double bf_scale(const struct smo_scale_problem *p)
{
    uint32_t ns = p->n_services;
    uint32_t *lo = calloc(ns + 1, sizeof *lo), *hi = calloc(ns + 1, sizeof *hi);
    uint32_t *r = calloc(ns + 1, sizeof *r);
    for (uint32_t i = 0; i < ns; i++) {
        smo__scale_window(&p->services[i], &lo[i], &hi[i]);
        r[i] = lo[i];
    }
    double bv = INFINITY;
    char why[128];
    for (;;) {
        if (smo__scale_check(p, r, why, sizeof why) == 0) {
            double v = smo__scale_objective(p, r, NULL);
            bv = v < bv ? v : bv;
        }
        uint32_t i = 0;
        while (i < ns && ++r[i] > hi[i]) {
            r[i] = lo[i];
            i++;
        }
        if (i == ns)
            break;
    }
    free(lo);
    free(hi);
    free(r);
    return bv;
}

/* The objective terms must add up and the assignment must be valid. */
static inline void h_assert_valid(const struct smo_place_problem *p,
                                  const struct smo_place_result *r)
{
    char why[256];
    if (smo__greedy_check(p, r->assignment, why, sizeof why))
        fail_msg("invalid assignment: %s", why);
    struct smo_place_weights t;
    double o = smo__greedy_objective(p, r->assignment, &t);
    assert_true(fabs(o - r->objective) <= 1e-9 * (1 + fabs(o)));
    assert_true(fabs(t.net + t.balance + t.move + t.cost - r->objective) <=
                1e-9 * (1 + fabs(o)));
    assert_true(r->bound <= r->objective + 1e-9);
}

/* ---- the original's vectors (tests/fixtures/solver/) ---- */

static inline json_t *h_fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/solver/%s", SMO_TEST_SRC_DIR,
             name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("%s:%d: %s", path, err.line, err.text);
    return j;
}

static inline double jnum(const json_t *a, size_t i)
{
    return json_number_value(json_array_get(a, i));
}

/* A placement vector as a problem. */
static inline void h_from_vector(struct h_prob *h, const json_t *v)
{
    const json_t *caps = json_object_get(v, "caps");
    uint32_t nc = (uint32_t)json_array_size(caps);
    double c[4];
    int acc[4];
    for (uint32_t k = 0; k < nc; k++) {
        c[k] = jnum(caps, k);
        acc[k] = (int)jnum(json_object_get(v, "acc"), k);
    }
    h_init(h, nc, c, acc, 8);
    const json_t *cpu = json_object_get(v, "cpu");
    const json_t *cur = json_object_get(v, "current");
    for (size_t s = 0; s < json_array_size(cpu); s++) {
        int32_t current = -1;
        const json_t *row = json_array_get(cur, s);
        for (uint32_t k = 0; row && k < nc; k++)
            if (jnum(row, k) > 0.5)
                current = (int32_t)k;
        h_svc(h, jnum(cpu, s), (uint32_t)jnum(json_object_get(v, "accel"), s),
              (uint32_t)jnum(json_object_get(v, "replicas"), s), current);
    }
    const json_t *w = json_object_get(v, "weights");
    h->p.weights = (struct smo_place_weights){
        json_number_value(json_object_get(w, "net")),
        json_number_value(json_object_get(w, "balance")),
        json_number_value(json_object_get(w, "move")),
        json_number_value(json_object_get(w, "cost"))};
}

/* The result against the vector's expectation. */
static inline void h_check_vector(const struct h_prob *h, const json_t *v)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    const json_t *ex = json_object_get(v, "expect");
    if (json_is_string(ex)) {
        if (h->r.status != SMO_SOLVE_INFEASIBLE)
            fail_msg("%s: expected infeasible, got status %d", name,
                     h->r.status);
        size_t i;
        const json_t *w;
        json_array_foreach(json_object_get(v, "reason"), i, w)
        {
            if (!strstr(h->r.reason, json_string_value(w)))
                fail_msg("%s: reason \"%s\" lacks \"%s\"", name, h->r.reason,
                         json_string_value(w));
        }
        return;
    }
    if (h->r.status != SMO_SOLVE_OPTIMAL && h->r.status != SMO_SOLVE_FEASIBLE)
        fail_msg("%s: status %d (%s)", name, h->r.status, h->r.reason);
    for (uint32_t s = 0; s < h->p.n_services; s++)
        for (uint32_t k = 0; k < h->p.n_clusters; k++)
            if ((jnum(json_array_get(ex, s), k) > 0.5) !=
                (h->a[s] == (int32_t)k))
                fail_msg("%s: service %u on cluster %d, expected row %u of "
                         "the matrix",
                         name, s, h->a[s], s);
}

struct h_scale {
    struct smo_scale_problem p;
    struct smo_scale_service s[4];
    double cpu[1];
    uint32_t gpu[1];
    uint32_t r[4];
    double unmet[4];
    struct smo_scale_result res;
};

static inline void h_scale_from_vector(struct h_scale *h, const json_t *v,
                                       const json_t *w)
{
    static const char *const names[] = {"s0", "s1", "s2", "s3"};
    memset(h, 0, sizeof *h);
    const json_t *lambda = json_object_get(v, "lambda");
    for (size_t i = 0; i < json_array_size(lambda); i++) {
        struct smo_scale_service *s = &h->s[i];
        s->id = names[i];
        s->cluster = 0;
        s->cpu = jnum(json_object_get(v, "cpu"), i);
        s->gpu = (uint32_t)jnum(json_object_get(v, "gpu"), i);
        s->min_replicas = 1;
        s->max_replicas = (uint32_t)jnum(json_object_get(v, "max"), i);
        s->prev = (uint32_t)jnum(json_object_get(v, "prev"), i);
        s->alpha = jnum(json_object_get(v, "alpha"), i);
        s->beta = jnum(json_object_get(v, "beta"), i);
        s->lambda = jnum(lambda, i);
        h->p.n_services++;
    }
    h->cpu[0] = json_number_value(json_object_get(v, "cap"));
    h->gpu[0] = (uint32_t)json_integer_value(json_object_get(v, "cluster_gpu"));
    h->p.size = sizeof h->p;
    h->p.n_clusters = 1;
    h->p.services = h->s;
    h->p.cluster_cpu = h->cpu;
    h->p.cluster_gpu = h->gpu;
    h->p.weights = (struct smo_scale_weights){
        json_number_value(json_object_get(w, "util")),
        json_number_value(json_object_get(w, "trans")),
        json_number_value(json_object_get(w, "unmet"))};
    h->p.time_limit_ms = 10000;
    h->res.size = sizeof h->res;
    h->res.replicas = h->r;
    h->res.unmet = h->unmet;
}

static inline void h_scale_check_vector(const struct h_scale *h,
                                        const json_t *v)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    const json_t *ex = json_object_get(v, "expect");
    const char *word = json_string_value(ex);
    if (word && !strcmp(word, "infeasible")) {
        if (h->res.status != SMO_SOLVE_INFEASIBLE)
            fail_msg("%s: expected infeasible, got %d", name, h->res.status);
        assert_true(h->res.reason[0] != '\0');
        return;
    }
    if (h->res.status != SMO_SOLVE_OPTIMAL &&
        h->res.status != SMO_SOLVE_FEASIBLE)
        fail_msg("%s: status %d (%s)", name, h->res.status, h->res.reason);
    if (word) { /* "unmet" */
        double u = 0;
        for (uint32_t i = 0; i < h->p.n_services; i++)
            u += h->unmet[i];
        if (!(u > 0) || !strstr(h->res.reason, "unmet demand"))
            fail_msg("%s: expected unmet demand, got %g (%s)", name, u,
                     h->res.reason);
        return;
    }
    for (uint32_t i = 0; i < h->p.n_services; i++)
        if (h->r[i] != (uint32_t)jnum(ex, i))
            fail_msg("%s: service %u: %u replicas, expected %g", name, i,
                     h->r[i], jnum(ex, i));
}

#endif
