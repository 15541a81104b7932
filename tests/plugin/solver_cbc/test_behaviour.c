/* solver_cbc beyond the optimum: why a placement is infeasible, what a
 * time limit gives, same input same output, nothing on stdout, solves on
 * several threads at once, the configuration, and the scaling model's
 * hard bounds. No assertion depends on how fast the machine is. */
#include "solver_harness.h"

#include <pthread.h>

#include "cbc_models.h"

static struct h_inst inst;

static int setup(void **state)
{
    (void)state;
    h_make(&inst, "{}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_drop(&inst);
    return 0;
}

static const uint8_t only_c0[4] = {1, 0, 0, 0};
static const uint8_t only_c1[4] = {0, 1, 0, 0};

static void expect_infeasible(struct h_prob *h, const char *words)
{
    assert_int_equal(h_place(&inst, h), SMO_OK);
    if (h->r.status != SMO_SOLVE_INFEASIBLE || !strstr(h->r.reason, words))
        fail_msg("status %d, reason \"%s\", expected \"%s\"", h->r.status,
                 h->r.reason, words);
}

static void test_infeasible_reasons(void **state)
{
    (void)state;
    struct h_prob h;
    const double caps[] = {4, 4, 5};
    const int acc[] = {0, 0, 0};

    /* Co-located services pinned apart. */
    h_init(&h, 2, caps, acc, 0);
    h_svc(&h, 1, 0, 1, -1);
    h_svc(&h, 1, 0, 1, -1);
    h.s[0].coloc = h.s[1].coloc = 0;
    h.s[0].allowed = only_c0;
    h.s[1].allowed = only_c1;
    expect_infeasible(&h, "s0 and s1 must share a cluster, but no cluster is "
                          "allowed for all of them");

    /* A co-located pair too big for every cluster together. */
    h_init(&h, 2, caps, acc, 0);
    h_svc(&h, 3, 0, 1, -1);
    h_svc(&h, 3, 0, 1, -1);
    h.s[0].coloc = h.s[1].coloc = 0;
    expect_infeasible(&h, "s0 and s1 need 6 cores");

    /* A latency bound that no pair of allowed clusters meets. */
    double lat[4] = {0, 20, 20, 0};
    h_init(&h, 2, caps, acc, 0);
    h_svc(&h, 1, 0, 1, -1);
    h_svc(&h, 1, 0, 1, -1);
    h.s[0].allowed = only_c0;
    h.s[1].allowed = only_c1;
    h.e[0] = (struct smo_place_edge){0, 1, 5};
    h.p.n_edges = 1;
    h.p.latency_ms = lat;
    expect_infeasible(&h, "s0 and s1 must be within 5 ms of each other");

    /* Two services that may only use a cluster too small for both. */
    h_init(&h, 2, caps, acc, 0);
    h_svc(&h, 3, 0, 1, -1);
    h_svc(&h, 3, 0, 1, -1);
    h.s[0].allowed = only_c0;
    h.s[1].allowed = only_c0;
    expect_infeasible(&h, "may only run on c0; together they need 6 cores, "
                          "it has 4 free");

    /* More cores than the clusters have. */
    h_init(&h, 2, caps, acc, 0);
    h_svc(&h, 3, 0, 1, -1);
    h_svc(&h, 3, 0, 1, -1);
    h_svc(&h, 3, 0, 1, -1);
    expect_infeasible(&h, "the services need 9 cores; the clusters have 8 "
                          "free");

    /* Enough in total, but three 3-core services do not pack into 5 + 5:
     * no simple certificate; every assignment tried, or (enumeration
     * off) CBC proves it. */
    const double five[] = {5, 5};
    h_init(&h, 2, five, acc, 0);
    h_svc(&h, 3, 0, 1, -1);
    h_svc(&h, 3, 0, 1, -1);
    h_svc(&h, 3, 0, 1, -1);
    expect_infeasible(&h, "(all tried)");
    struct h_inst no_enum;
    h_make(&no_enum, "{enumerate_max: 0}");
    assert_int_equal(h_place(&no_enum, &h), SMO_OK);
    assert_int_equal(h.r.status, SMO_SOLVE_INFEASIBLE);
    assert_non_null(strstr(h.r.reason, "proved by CBC"));
    h_drop(&no_enum);

    /* A GPU nobody has. */
    h_init(&h, 2, caps, acc, 0);
    h_svc(&h, 1, 1, 2, -1);
    expect_infeasible(&h, "s0 needs 2 cores, 0 B memory and 2 GPUs");

    /* No cluster at all. */
    h_init(&h, 0, caps, acc, 0);
    h_svc(&h, 1, 0, 1, -1);
    expect_infeasible(&h, "no usable cluster");
}

static void test_no_services(void **state)
{
    (void)state;
    struct h_prob h;
    const double caps[] = {4, 8};
    h_init(&h, 2, caps, NULL, 0);
    h.c[1].cpu_used = 2;
    h.c[1].cpu_alloc = 10;
    h.p.weights = (struct smo_place_weights){1, 10, 10, 1};
    assert_int_equal(h_place(&inst, &h), SMO_OK);
    assert_int_equal(h.r.status, SMO_SOLVE_OPTIMAL);
    /* The peak utilisation of what runs already. */
    assert_true(fabs(h.r.objective - 2.0) < 1e-12);
}

static void big_problem(struct ig_inst *in, uint64_t seed, uint32_t ns,
                        uint32_t nc)
{
    struct ig_opts o = ig_defaults(ns, nc);
    o.load = 0.7;
    o.current = true;
    ig_place(in, seed, &o);
}

/* A time limit: whatever the machine's speed, the answer is valid, and a
 * search cut short says so. */
static void test_time_limit(void **state)
{
    (void)state;
    struct ig_inst in;
    big_problem(&in, 7, 200, 20);
    int32_t *a = calloc(200, sizeof *a);
    struct smo_place_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.assignment = a;
    in.p.time_limit_ms = 50;
    in.p.rel_gap = 0;
    assert_int_equal(SOPS->place(inst.state, &in.p, &r), SMO_OK);
    assert_true(r.status == SMO_SOLVE_OPTIMAL ||
                r.status == SMO_SOLVE_FEASIBLE);
    h_assert_valid(&in.p, &r);
    assert_true(r.gap >= 0 && r.gap <= 1);
    if (r.status == SMO_SOLVE_FEASIBLE)
        assert_true(r.reason[0] != '\0');
    assert_true(r.solve_ms > 0);

    /* Without the heuristic a short limit may end with nothing. */
    struct h_inst coldi;
    h_make(&coldi, "{warm_start: false}");
    in.p.time_limit_ms = 10;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.assignment = a;
    assert_int_equal(SOPS->place(coldi.state, &in.p, &r), SMO_OK);
    if (r.status == SMO_SOLVE_TIMEOUT)
        assert_non_null(strstr(r.reason, "no feasible placement found "
                                         "within 10 ms"));
    else {
        assert_true(r.status == SMO_SOLVE_OPTIMAL ||
                    r.status == SMO_SOLVE_FEASIBLE);
        h_assert_valid(&in.p, &r);
    }
    h_drop(&coldi);
    free(a);
    ig_free(&in);
}

/* Same input, same output: solved to optimality three times. */
static void test_deterministic(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct ig_inst in;
        struct ig_opts o = ig_defaults(24, 4);
        o.current = seed == 2;
        o.w = seed == 3 ? (struct smo_place_weights){0, 0, 0, 0} : o.w;
        ig_place(&in, seed, &o);
        in.p.time_limit_ms = 120000;
        int32_t first[24], a[24];
        for (int run = 0; run < 3; run++) {
            struct smo_place_result r;
            memset(&r, 0, sizeof r);
            r.size = sizeof r;
            r.assignment = run ? a : first;
            assert_int_equal(SOPS->place(inst.state, &in.p, &r), SMO_OK);
            assert_int_equal(r.status, SMO_SOLVE_OPTIMAL);
            if (run)
                assert_memory_equal(a, first, sizeof a);
        }
        ig_free(&in);
    }
}

/* CBC prints nothing: stdout is the daemon's, and `smod plan -o json`
 * writes only JSON there. */
static void test_silent(void **state)
{
    (void)state;
    fflush(stdout);
    char path[] = "/tmp/smo-cbc-stdout-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(1);
    assert_true(dup2(fd, 1) >= 0);

    struct ig_inst in;
    big_problem(&in, 3, 60, 6);
    int32_t a[60];
    struct smo_place_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.assignment = a;
    SOPS->place(inst.state, &in.p, &r);
    in.p.time_limit_ms = 20; /* a search cut short */
    SOPS->place(inst.state, &in.p, &r);
    ig_free(&in);
    struct h_prob h;
    const double five[] = {5, 5};
    h_init(&h, 2, five, NULL, 0);
    for (int i = 0; i < 3; i++)
        h_svc(&h, 3, 0, 1, -1);
    h_place(&inst, &h); /* proven infeasible */
    struct ig_scale sc;
    ig_scale(&sc, 4, 40, 4, 0.6, 6);
    uint32_t rep[40];
    double un[40];
    struct smo_scale_result sr;
    memset(&sr, 0, sizeof sr);
    sr.size = sizeof sr;
    sr.replicas = rep;
    sr.unmet = un;
    SOPS->scale(inst.state, &sc.p, &sr);
    ig_scale_free(&sc);

    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    close(fd);
    unlink(path);
    assert_int_equal(sb.st_size, 0);
}

struct job {
    struct ig_inst in;
    int32_t a[40];
    struct smo_place_result r;
    int rc;
};

static void *solve_thread(void *arg)
{
    struct job *j = arg;
    struct smo__cbc_cfg cfg = {120000, 0, true, 100, 0, false, 2};
    struct smo__cbc_stats st;
    j->rc = smo__cbc_place(&cfg, &j->in.p, &j->r, &st);
    return NULL;
}

/* Four solves at once (the core runs solvers on its thread pool) give
 * the answers they give one at a time. */
static void test_threads(void **state)
{
    (void)state;
    struct job jobs[4];
    double alone[4];
    for (int i = 0; i < 4; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        struct ig_opts o = ig_defaults(14, 3);
        ig_place(&jobs[i].in, 100 + (uint64_t)i, &o);
        jobs[i].in.p.time_limit_ms = 0;
        jobs[i].in.p.rel_gap = -1;
        jobs[i].r.size = sizeof jobs[i].r;
        jobs[i].r.assignment = jobs[i].a;
        solve_thread(&jobs[i]);
        assert_int_equal(jobs[i].r.status, SMO_SOLVE_OPTIMAL);
        alone[i] = jobs[i].r.objective;
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, solve_thread, &jobs[i]),
                         0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].rc, SMO_OK);
        assert_int_equal(jobs[i].r.status, SMO_SOLVE_OPTIMAL);
        h_assert_valid(&jobs[i].in.p, &jobs[i].r);
        assert_true(fabs(jobs[i].r.objective - alone[i]) < 1e-9);
        ig_free(&jobs[i].in);
    }
}

/* A warm start handed in by the caller is used when it is better. */
static void test_caller_warm_start(void **state)
{
    (void)state;
    struct ig_inst in;
    struct ig_opts o = ig_defaults(6, 3);
    ig_place(&in, 11, &o);
    int32_t best[6], a[6];
    double bf = bf_place(&in.p, best);
    assert_false(isinf(bf));
    in.p.warm_start = best;
    struct smo_place_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.assignment = a;
    assert_int_equal(SOPS->place(inst.state, &in.p, &r), SMO_OK);
    assert_true(r.objective <= bf + 1e-9);
    ig_free(&in);
}

static void test_config(void **state)
{
    (void)state;
    json_t *d = json_object();
    struct {
        int64_t time_limit_ms;
        double gap;
        bool warm_start;
        int64_t heuristic_ms;
        int64_t enumerate_max;
        bool exact_scaling;
        int64_t search_threads;
    } c;
    memset(&c, 0, sizeof c);
    assert_int_equal(SP.config_size, sizeof c);
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    struct smo__schema_ctx ctx = {&e, "test", NULL, false};
    assert_int_equal(smo__schema_apply(SP.config, d, &c, "config", &ctx), 0);
    assert_int_equal(c.time_limit_ms, 1000);
    assert_true(fabs(c.gap - 0.005) < 1e-12);
    assert_true(c.warm_start);
    assert_int_equal(c.heuristic_ms, 100);
    assert_int_equal(c.enumerate_max, 4096);
    assert_true(c.exact_scaling);
    assert_int_equal(c.search_threads, 2);
    json_decref(d);
    d = json_pack("{s:f, s:s}", "gap", 2.0, "time_limt", "1s");
    assert_int_equal(smo__schema_apply(SP.config, d, &c, "config", &ctx), 2);
    json_decref(d);
    smo__errlist_free(&e);
}

static void scale_one(struct smo_scale_service *s, struct h_scale *h)
{
    memset(h, 0, sizeof *h);
    h->s[0] = *s;
    h->p.size = sizeof h->p;
    h->p.n_services = 1;
    h->p.n_clusters = 1;
    h->p.services = h->s;
    h->cpu[0] = 100;
    h->gpu[0] = 10;
    h->p.cluster_cpu = h->cpu;
    h->p.cluster_gpu = h->gpu;
    h->p.weights = (struct smo_scale_weights){0.4, 0.4, 1000};
    h->res.size = sizeof h->res;
    h->res.replicas = h->r;
    h->res.unmet = h->unmet;
}

static void test_scaling_bounds(void **state)
{
    (void)state;
    struct h_scale h;
    /* Demand for 20 replicas; max 5 is hard: 5 and the rest unmet. */
    struct smo_scale_service s = {"web", 0, 1, 0, 1, 5, 3, 0, 10, 0, 200};
    scale_one(&s, &h);
    assert_int_equal(SOPS->scale(inst.state, &h.p, &h.res), SMO_OK);
    assert_int_equal(h.r[0], 5);
    assert_true(fabs(h.unmet[0] - 150) < 1e-9);
    assert_non_null(strstr(h.res.reason, "unmet demand: web 150 req/s"));
    /* The step bounds the change from 3. */
    s.max_step = 1;
    scale_one(&s, &h);
    assert_int_equal(SOPS->scale(inst.state, &h.p, &h.res), SMO_OK);
    assert_int_equal(h.r[0], 4);
    /* Far above the maximum: the maximum wins over the step. */
    s.prev = 10;
    scale_one(&s, &h);
    assert_int_equal(SOPS->scale(inst.state, &h.p, &h.res), SMO_OK);
    assert_int_equal(h.r[0], 5);
    /* The minimum that does not fit: infeasible, with the cluster. */
    s.prev = 3;
    s.max_step = 0;
    s.min_replicas = 4;
    s.cpu = 30;
    scale_one(&s, &h);
    assert_int_equal(SOPS->scale(inst.state, &h.p, &h.res), SMO_OK);
    assert_int_equal(h.res.status, SMO_SOLVE_INFEASIBLE);
    assert_non_null(strstr(h.res.reason, "cluster 0: the fewest replicas its "
                                         "services may run need 120 cores; "
                                         "100 are available"));
}

/* Capacity shared by two services: the one serving more per core wins. */
static void test_scaling_shares_capacity(void **state)
{
    (void)state;
    struct h_scale h;
    struct smo_scale_service a = {"a", 0, 1, 0, 1, 10, 1, 0, 10, 0, 100};
    scale_one(&a, &h);
    h.s[1] = (struct smo_scale_service){"b", 0, 2, 0, 1, 10, 1, 0, 10, 0, 100};
    h.p.n_services = 2;
    h.cpu[0] = 12;
    assert_int_equal(SOPS->scale(inst.state, &h.p, &h.res), SMO_OK);
    assert_int_equal(h.res.status, SMO_SOLVE_OPTIMAL);
    /* b serves 5 req/s per core, a 10: a gets all it needs. */
    assert_int_equal(h.r[0], 10);
    assert_int_equal(h.r[1], 1);
    assert_true(h.cpu[0] >= h.r[0] * 1.0 + h.r[1] * 2.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infeasible_reasons),
        cmocka_unit_test(test_no_services),
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_silent),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_caller_warm_start),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_scaling_bounds),
        cmocka_unit_test(test_scaling_shares_capacity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
