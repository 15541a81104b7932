/* solver_cbc against enumeration: on many small seeded problems (up to 6
 * services x 3 clusters, every feature of the model mixed in) CBC's
 * optimum equals the best of every assignment, it says infeasible exactly
 * when no assignment is feasible, and the heuristic's answers are always
 * feasible and never better than the optimum. The plugin's own
 * enumeration of small problems (enumerate_max) gives the same optimum
 * and the same verdict. The same for scaling. */
#include "solver_harness.h"

#include "cbc_models.h"

#define N_PLACE 400
#define N_SCALE 200

static struct h_inst warm, cold, enumerating;

static int setup(void **state)
{
    (void)state;
    /* Scaling problems carry no gap: the instance's applies. */
    h_make(&warm, "{gap: 0, enumerate_max: 0, exact_scaling: false}");
    h_make(&cold,
           "{warm_start: false, gap: 0, enumerate_max: 0, exact_scaling: "
           "false}");
    h_make(&enumerating, "{gap: 0}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_drop(&warm);
    h_drop(&cold);
    h_drop(&enumerating);
    return 0;
}

static const struct smo_place_weights weight_sets[] = {
    {1, 10, 10, 1},  /* the defaults */
    {0, 0, 0, 0},    /* feasibility only: tie-breaks decide */
    {5, 0, 0, 0},    /* connections only */
    {0, 10, 0, 0},   /* balance only */
    {0, 0, 1, 3},    /* moves and price */
    {2.5, 1, 0.5, 7} /* arbitrary */
};

static void small_problem(struct ig_inst *in, uint64_t seed)
{
    struct ig_rng r = {seed + 99};
    uint32_t ns = 1 + ig_below(&r, 6), nc = 1 + ig_below(&r, 3);
    struct ig_opts o = ig_defaults(ns, nc);
    o.load = 0.3 + 0.7 * ig_unit(&r);
    o.p_gpu = 0.15;
    o.p_coloc = 0.2;
    o.p_pin = 0.2;
    o.p_bound = 0.35;
    o.current = ig_unit(&r) < 0.5;
    o.prefilter = ig_unit(&r) < 0.7;
    o.repair = false;
    o.w = weight_sets[ig_below(&r, 6)];
    ig_place(in, seed, &o);
    in->p.rel_gap = 0;
    in->p.time_limit_ms = 60000;
}

static void test_placement_matches_enumeration(void **state)
{
    (void)state;
    int infeasible = 0, greedy_found = 0, greedy_optimal = 0;
    for (uint64_t seed = 0; seed < N_PLACE; seed++) {
        struct ig_inst in;
        small_problem(&in, seed);
        int32_t best[8];
        double bf = bf_place(&in.p, best);
        int32_t a[8];
        struct smo_place_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.assignment = a;
        struct h_inst *h = seed % 2 ? &cold : &warm;
        assert_int_equal(SOPS->place(h->state, &in.p, &r), SMO_OK);
        if (isinf(bf)) {
            infeasible++;
            if (r.status != SMO_SOLVE_INFEASIBLE)
                fail_msg("seed %llu: no assignment is feasible, status %d",
                         (unsigned long long)seed, r.status);
            assert_true(strlen(r.reason) > 10);
        } else {
            if (r.status != SMO_SOLVE_OPTIMAL)
                fail_msg("seed %llu: status %d (%s), optimum %g",
                         (unsigned long long)seed, r.status, r.reason, bf);
            h_assert_valid(&in.p, &r);
            /* The tie-breaking terms are worth less than 2e-6. */
            if (fabs(r.objective - bf) > 1e-5)
                fail_msg("seed %llu: objective %.9g, enumeration %.9g",
                         (unsigned long long)seed, r.objective, bf);
            assert_true(r.gap == 0);
        }
        /* The plugin's enumeration: the same optimum. (Not always the same
         * placement among equals: it applies the tie terms exactly, CBC
         * within its tolerances, which are of their size.) */
        int32_t e[8];
        struct smo_place_result re;
        memset(&re, 0, sizeof re);
        re.size = sizeof re;
        re.assignment = e;
        assert_int_equal(SOPS->place(enumerating.state, &in.p, &re), SMO_OK);
        assert_int_equal(re.status, r.status);
        if (r.status == SMO_SOLVE_OPTIMAL) {
            h_assert_valid(&in.p, &re);
            if (fabs(re.objective - bf) > 1e-9)
                fail_msg("seed %llu: enumerated %.12g, optimum %.12g",
                         (unsigned long long)seed, re.objective, bf);
        } else
            assert_true(strlen(re.reason) > 10);
        /* The heuristic: feasible whenever it answers. */
        int32_t g[8];
        char why[256];
        if (smo__greedy_place(&in.p, g, 1000, why, sizeof why) == 0) {
            greedy_found++;
            assert_false(isinf(bf));
            assert_int_equal(smo__greedy_check(&in.p, g, why, sizeof why), 0);
            double go = smo__greedy_objective(&in.p, g, NULL);
            assert_true(go >= bf - 1e-9);
            greedy_optimal += go <= bf + 1e-9;
        } else if (isinf(bf) && smo__greedy_explain(&in.p, why, sizeof why))
            assert_true(strlen(why) > 10);
        ig_free(&in);
    }
    /* The mix covers both outcomes. */
    print_message("%d feasible, %d infeasible; heuristic answered %d, optimal "
                  "in %d\n",
                  N_PLACE - infeasible, infeasible, greedy_found,
                  greedy_optimal);
    assert_true(infeasible > 10);
    assert_true(infeasible < N_PLACE / 2);
}

static void test_scaling_matches_enumeration(void **state)
{
    (void)state;
    int infeasible = 0, with_cbc = 0, by_dp = 0;
    for (uint64_t seed = 0; seed < N_SCALE; seed++) {
        struct ig_rng rg = {seed + 5};
        uint32_t ns = 1 + ig_below(&rg, 4), nc = 1 + ig_below(&rg, 2);
        struct ig_scale in;
        ig_scale(&in, seed, ns, nc, 0.5 + 0.6 * ig_unit(&rg), 3);
        if (seed % 3 == 1)
            in.p.weights = (struct smo_scale_weights){1, 0.1, 0.5};
        if (seed % 3 == 2)
            in.p.weights = (struct smo_scale_weights){0.4, 0.4, 1000};
        double bf = bf_scale(&in.p);
        uint32_t rep[4];
        double unmet[4];
        struct smo_scale_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.replicas = rep;
        r.unmet = unmet;
        struct h_inst *h = seed % 2 ? &cold : &warm;
        assert_int_equal(SOPS->scale(h->state, &in.p, &r), SMO_OK);
        if (isinf(bf)) {
            infeasible++;
            assert_int_equal(r.status, SMO_SOLVE_INFEASIBLE);
            assert_true(strlen(r.reason) > 10);
        } else {
            if (r.status != SMO_SOLVE_OPTIMAL)
                fail_msg("seed %llu: status %d (%s)", (unsigned long long)seed,
                         r.status, r.reason);
            char why[128];
            assert_int_equal(smo__scale_check(&in.p, rep, why, sizeof why), 0);
            if (fabs(r.objective - bf) > 1e-5)
                fail_msg("seed %llu: objective %.9g, enumeration %.9g",
                         (unsigned long long)seed, r.objective, bf);
            uint32_t alone[4];
            bool binds = !smo__scale_best_alone(&in.p, alone);
            with_cbc += binds;
            /* Dynamic programming per cluster (the default): the same
             * optimum. */
            uint32_t drep[4];
            double dun[4];
            struct smo_scale_result d;
            memset(&d, 0, sizeof d);
            d.size = sizeof d;
            d.replicas = drep;
            d.unmet = dun;
            assert_int_equal(SOPS->scale(enumerating.state, &in.p, &d), SMO_OK);
            assert_int_equal(d.status, SMO_SOLVE_OPTIMAL);
            assert_int_equal(smo__scale_check(&in.p, drep, why, sizeof why), 0);
            if (fabs(d.objective - bf) > 1e-9)
                fail_msg("seed %llu: dynamic programming %.12g, optimum %.12g",
                         (unsigned long long)seed, d.objective, bf);
            if (binds) {
                bool all = true;
                for (uint32_t k = 0; k < in.p.n_clusters; k++) {
                    uint32_t one[4];
                    memcpy(one, drep, sizeof one);
                    all = all && smo__scale_cluster_dp(&in.p, k, one) == 1;
                }
                by_dp += all;
            }
            /* The rule-based answer is feasible too. */
            uint32_t g[4];
            double gu[4], go;
            assert_int_equal(
                smo__greedy_scale(&in.p, g, gu, &go, why, sizeof why), 0);
            assert_true(go >= bf - 1e-9);
        }
        ig_scale_free(&in);
    }
    assert_true(infeasible > 0);
    assert_true(with_cbc > 20); /* capacity binds: CBC did the work */
    assert_true(by_dp > 20);    /* and the programming, without CBC */
    print_message("scaling: %d infeasible, %d needed CBC, %d of those solved "
                  "by dynamic programming\n",
                  infeasible, with_cbc, by_dp);
}

/* Past enumeration's reach (24 services, GPUs binding now and then): the
 * dynamic programming's optimum is CBC's proved one (gap 0). */
static void test_scaling_programming_matches_cbc(void **state)
{
    (void)state;
    int gpu_bound = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        struct ig_scale in;
        ig_scale(&in, seed * 7919 + 1, 24, 2, seed % 2 ? 0.8 : 1.3, 8);
        uint32_t a[24], b[24];
        double ua[24], ub[24];
        struct smo_scale_result rc, rd;
        memset(&rc, 0, sizeof rc);
        memset(&rd, 0, sizeof rd);
        rc.size = rd.size = sizeof rc;
        rc.replicas = a;
        rc.unmet = ua;
        rd.replicas = b;
        rd.unmet = ub;
        assert_int_equal(SOPS->scale(warm.state, &in.p, &rc), SMO_OK);
        assert_int_equal(SOPS->scale(enumerating.state, &in.p, &rd), SMO_OK);
        assert_int_equal(rd.status, rc.status);
        if (rc.status == SMO_SOLVE_OPTIMAL &&
            fabs(rd.objective - rc.objective) > 1e-6)
            fail_msg("seed %llu: dynamic programming %.9g, CBC %.9g",
                     (unsigned long long)seed, rd.objective, rc.objective);
        for (uint32_t k = 0; k < 2; k++) {
            double most = 0;
            for (uint32_t i = 0; i < 24; i++)
                if (in.p.services[i].cluster == k)
                    most += (double)in.p.services[i].gpu *
                            in.p.services[i].max_replicas;
            gpu_bound += most > in.p.cluster_gpu[k];
        }
        ig_scale_free(&in);
    }
    assert_true(gpu_bound > 5); /* the GPU combinations were exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_matches_enumeration),
        cmocka_unit_test(test_scaling_matches_enumeration),
        cmocka_unit_test(test_scaling_programming_matches_cbc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
