/* solver_cbc on the original SMO's test vectors (tests/fixtures/solver/):
 * every placement and scaling vector comes out as the reference lists. */
#include "solver_harness.h"

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

/* Without the heuristic's start the tie-breaking terms alone must pick the
 * listed answers. */
static int setup_cold(void **state)
{
    (void)state;
    h_make(&inst, "{warm_start: false}");
    return 0;
}

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
        h_check_vector(&h, v);
        if (h.r.status != SMO_SOLVE_INFEASIBLE) {
            /* Small enough to be proven optimal, and it is the optimum. */
            assert_int_equal(h.r.status, SMO_SOLVE_OPTIMAL);
            h_assert_valid(&h.p, &h.r);
            assert_true(fabs(h.r.objective - bf_place(&h.p, NULL)) < 1e-9);
        }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_placement_vectors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_placement_vectors, setup_cold,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scaling_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaling_vectors, setup_cold,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
