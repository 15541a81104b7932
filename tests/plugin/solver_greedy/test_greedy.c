/* solver_greedy: the original's vectors, answers that are always feasible
 * (checked on problems up to 200 services, and against enumeration on
 * small ones), the same answer for the same input, certificates of
 * infeasibility, and the rule-based scaler. */
#include "../solver_cbc/solver_harness.h"

static struct h_inst inst;

static int setup(void **state)
{
    (void)state;
    h_make(&inst, "{time_limit: 2s}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_drop(&inst);
    return 0;
}

/* The original's vectors: infeasible ones with the same reasons; for the
 * others the heuristic (which knows no tie-break, unlike solver_cbc) must
 * find a placement as good as the listed one. */
static void test_placement_vectors(void **state)
{
    (void)state;
    json_t *f = h_fixture("golden-placement.json");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(f, "vectors"), i, v)
    {
        struct h_prob h;
        h_from_vector(&h, v);
        assert_int_equal(h_place(&inst, &h), SMO_OK);
        const json_t *ex = json_object_get(v, "expect");
        if (json_is_string(ex)) {
            h_check_vector(&h, v);
            continue;
        }
        assert_int_equal(h.r.status, SMO_SOLVE_FEASIBLE);
        h_assert_valid(&h.p, &h.r);
        assert_true(h.r.gap < 0); /* unknown */
        int32_t listed[8];
        for (uint32_t s = 0; s < h.p.n_services; s++)
            for (uint32_t k = 0; k < h.p.n_clusters; k++)
                if (jnum(json_array_get(ex, s), k) > 0.5)
                    listed[s] = (int32_t)k;
        double want = smo__greedy_objective(&h.p, listed, NULL);
        if (fabs(h.r.objective - want) > 1e-9)
            fail_msg("%s: objective %g, the listed placement's %g",
                     json_string_value(json_object_get(v, "name")),
                     h.r.objective, want);
    }
    json_decref(f);
}

static void test_scaling_vectors(void **state)
{
    (void)state;
    json_t *f = h_fixture("golden-scaling.json");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(f, "vectors"), i, v)
    {
        struct h_scale h;
        h_scale_from_vector(&h, v, json_object_get(f, "weights"));
        assert_int_equal(SOPS->scale(inst.state, &h.p, &h.res), SMO_OK);
        h_scale_check_vector(&h, v);
    }
    json_decref(f);
}

/* Every answer satisfies every constraint; on small problems it is never
 * better than the optimum (which would mean a wrong objective) and says
 * infeasible only with a certificate that enumeration confirms. */
static void test_always_feasible(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{4, 2},  {6, 3},    {12, 3},  {30, 5},
                                        {60, 8}, {100, 12}, {200, 20}};
    int answered = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (uint64_t seed = 0; seed < (sizes[z][0] <= 6 ? 150 : 8); seed++) {
            struct ig_inst in;
            struct ig_opts o = ig_defaults(sizes[z][0], sizes[z][1]);
            struct ig_rng r = {seed * 31 + z};
            o.load = 0.4 + 0.7 * ig_unit(&r);
            o.p_bound = 0.4 * ig_unit(&r);
            o.p_pin = 0.3 * ig_unit(&r);
            o.p_coloc = 0.3 * ig_unit(&r);
            o.current = ig_unit(&r) < 0.5;
            o.repair = ig_unit(&r) < 0.5;
            ig_place(&in, seed, &o);
            int32_t *a = calloc(sizes[z][0], sizeof *a);
            struct smo_place_result res;
            memset(&res, 0, sizeof res);
            res.size = sizeof res;
            res.assignment = a;
            in.p.time_limit_ms = 0; /* the configured budget */
            assert_int_equal(SOPS->place(inst.state, &in.p, &res), SMO_OK);
            double bf = sizes[z][0] <= 6 ? bf_place(&in.p, NULL) : NAN;
            if (res.status == SMO_SOLVE_FEASIBLE) {
                answered++;
                h_assert_valid(&in.p, &res);
                if (!isnan(bf))
                    assert_true(res.objective >= bf - 1e-9);
            } else if (res.status == SMO_SOLVE_INFEASIBLE) {
                assert_true(strlen(res.reason) > 10);
                if (!isnan(bf))
                    assert_true(isinf(bf));
            } else
                assert_int_equal(res.status, SMO_SOLVE_TIMEOUT);
            free(a);
            ig_free(&in);
        }
    assert_true(answered > 100);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct ig_inst in;
    struct ig_opts o = ig_defaults(80, 10);
    o.current = true;
    ig_place(&in, 5, &o);
    int32_t a[80], b[80];
    for (int run = 0; run < 2; run++) {
        struct smo_place_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        res.assignment = run ? b : a;
        assert_int_equal(SOPS->place(inst.state, &in.p, &res), SMO_OK);
        assert_int_equal(res.status, SMO_SOLVE_FEASIBLE);
    }
    assert_memory_equal(a, b, sizeof a);
    ig_free(&in);
}

static void test_infeasible_certificates(void **state)
{
    (void)state;
    struct h_prob h;
    const double caps[] = {4, 4};
    h_init(&h, 2, caps, NULL, 0);
    for (int i = 0; i < 3; i++)
        h_svc(&h, 3, 0, 1, -1);
    assert_int_equal(h_place(&inst, &h), SMO_OK);
    assert_int_equal(h.r.status, SMO_SOLVE_INFEASIBLE);
    assert_non_null(strstr(h.r.reason, "the services need 9 cores"));
    /* No certificate for a packing problem: the heuristic only says it
     * found nothing. */
    const double five[] = {5, 5};
    h_init(&h, 2, five, NULL, 0);
    for (int i = 0; i < 3; i++)
        h_svc(&h, 3, 0, 1, -1);
    assert_int_equal(h_place(&inst, &h), SMO_OK);
    assert_int_equal(h.r.status, SMO_SOLVE_TIMEOUT);
    assert_non_null(strstr(h.r.reason, "no cluster left for"));
}

/* The scaler: always within the windows and capacities when it answers. */
static void test_scaling_feasible(void **state)
{
    (void)state;
    int answered = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct ig_scale in;
        ig_scale(&in, seed, 2 + seed % 40, 1 + seed % 4,
                 0.4 + (seed % 7) / 10.0, 1 + seed % 6);
        uint32_t *rep = calloc(in.p.n_services, sizeof *rep);
        double *un = calloc(in.p.n_services, sizeof *un);
        struct smo_scale_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.replicas = rep;
        r.unmet = un;
        assert_int_equal(SOPS->scale(inst.state, &in.p, &r), SMO_OK);
        char why[128];
        if (r.status == SMO_SOLVE_FEASIBLE) {
            answered++;
            assert_int_equal(smo__scale_check(&in.p, rep, why, sizeof why), 0);
            assert_true(fabs(r.objective -
                             smo__scale_objective(&in.p, rep, NULL)) < 1e-9);
        } else {
            assert_int_equal(r.status, SMO_SOLVE_INFEASIBLE);
            assert_non_null(strstr(r.reason, "the fewest replicas"));
        }
        free(rep);
        free(un);
        ig_scale_free(&in);
    }
    assert_true(answered > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_vectors),
        cmocka_unit_test(test_scaling_vectors),
        cmocka_unit_test(test_always_feasible),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_infeasible_certificates),
        cmocka_unit_test(test_scaling_feasible),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
