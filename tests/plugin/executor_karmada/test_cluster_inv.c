/* cluster_inv.c: Kubernetes quantities and the ClusterList -> inventory
 * conversion, on the realistic fixture and on the awkward cases. */
#include "../../unit/smo_test.h"

#include <math.h>

#include <smo/smo.h>

#include "cluster_inv.h"
#include "smo_units.h"

static double q(const char *s)
{
    double v = -12345;
    assert_int_equal(smo__kinv_quantity(s, &v), 0);
    return v;
}

/* Relative comparison: decimal suffixes are not exact in binary. */
static bool near(double a, double b)
{
    return fabs(a - b) <= fabs(b) * 1e-12;
}

static void test_quantities(void **state)
{
    (void)state;
    assert_true(q("24") == 24);
    assert_true(fabs(q("7350m") - 7.35) < 1e-12);
    assert_true(fabs(q("500m") - 0.5) < 1e-12);
    assert_true(q("94274980Ki") == 94274980.0 * 1024);
    assert_true(q("14848Mi") == 14848.0 * 1048576);
    assert_true(q("40Gi") == 40.0 * 1073741824);
    assert_true(q("1.5Gi") == 1.5 * 1073741824);
    assert_true(q("2Ti") == 2.0 * 1099511627776.0);
    assert_true(q("10G") == 1e10);
    assert_true(q("3k") == 3000);
    assert_true(near(q("100u"), 100e-6));
    assert_true(near(q("5n"), 5e-9));
    assert_true(q("2e3") == 2000);
    assert_true(q("2E3") == 2000);
    assert_true(q("1E") == 1e18); /* exa, not an exponent */
    assert_true(q("+4") == 4);
    assert_true(q("-4") == -4);
    assert_true(q(".5") == 0.5);
    assert_true(q("0") == 0);
    double v = 7;
    const char *bad[] = {"",    "m",    "1.2.3", "12x",     "1Ki ", " 1", "1e",
                         "1e+", "0x10", "1KiB",  "1e12345", "--1",  "Gi", NULL};
    for (const char **b = bad; *b; b++) {
        if (smo__kinv_quantity(*b, &v) == 0)
            fail_msg("accepted \"%s\"", *b);
        assert_true(v == 7);
    }
    assert_int_equal(smo__kinv_quantity(NULL, &v), -1);
    /* Same answers as the core's parser wherever both accept. */
    const char *same[] = {"250m", "1.5Gi", "94274980Ki", "2e3", "16",
                          "3M",   "0.25",  "128974848",  "1Ei", NULL};
    for (const char **s = same; *s; s++) {
        double a = 0, b = 0;
        smo_status st;
        assert_int_equal(smo__parse_quantity(*s, &b, &st), 0);
        assert_int_equal(smo__kinv_quantity(*s, &a), 0);
        assert_true(fabs(a - b) <= fabs(b) * 1e-15);
    }
}

static json_t *load_fixture(void)
{
    json_error_t je;
    json_t *d = json_load_file(
        SMO_TEST_SRC_DIR "/fixtures/karmada/clusters.json", 0, &je);
    if (!d)
        fail_msg("fixture: %s", je.text);
    return d;
}

static double num(const json_t *c, const char *res, const char *part)
{
    return json_number_value(json_object_get(json_object_get(c, res), part));
}

static void test_fixture(void **state)
{
    (void)state;
    json_t *list = load_fixture();
    char err[200];
    size_t skipped = 9;
    json_t *inv = smo__kinv_build(list, NULL, &skipped, err, sizeof err);
    assert_non_null(inv);
    assert_int_equal(skipped, 0);
    assert_int_equal(json_array_size(inv), 4);

    json_t *m1 = json_array_get(inv, 0);
    /* Exactly executor_sim's keys: the engine cannot tell them apart. */
    const char *keys[] = {
        "name",     "ready",  "available", "reason", "counts_own_releases",
        "cpu",      "memory", "gpu",       "pods",   "labels",
        "provider", "region", "zones",     NULL};
    size_t nk = 0;
    for (const char **k = keys; *k; k++, nk++)
        if (!json_object_get(m1, *k))
            fail_msg("missing %s", *k);
    assert_int_equal(json_object_size(m1), nk);
    assert_string_equal(json_string_value(json_object_get(m1, "name")),
                        "member1");
    assert_true(json_is_true(json_object_get(m1, "ready")));
    assert_true(json_is_true(json_object_get(m1, "available")));
    assert_string_equal(json_string_value(json_object_get(m1, "reason")), "");
    /* Karmada's summary lags behind installs: the engine keeps its own
     * reservations for a while. */
    assert_true(json_is_false(json_object_get(m1, "counts_own_releases")));
    assert_true(num(m1, "cpu", "allocatable") == 24);
    assert_true(fabs(num(m1, "cpu", "allocated") - 7.35) < 1e-9);
    assert_true(fabs(num(m1, "cpu", "allocating") - 0.5) < 1e-9);
    assert_true(num(m1, "memory", "allocatable") == 94274980.0 * 1024);
    assert_true(num(m1, "memory", "allocated") == 14848.0 * 1048576);
    assert_true(num(m1, "memory", "allocating") == 1073741824.0);
    assert_true(num(m1, "pods", "allocatable") == 330);
    assert_true(num(m1, "pods", "allocated") == 41);
    assert_true(num(m1, "gpu", "allocatable") == 0);
    assert_string_equal(json_string_value(json_object_get(m1, "provider")),
                        "aws");
    assert_string_equal(json_string_value(json_object_get(m1, "region")),
                        "eu-west-1");
    assert_int_equal(json_array_size(json_object_get(m1, "zones")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m1, "labels"),
                                          "smo.io/cost-per-core")),
        "1.5");

    json_t *m3 = json_array_get(inv, 2);
    assert_true(num(m3, "gpu", "allocatable") == 4);
    assert_true(num(m3, "gpu", "allocated") == 1);
    assert_true(num(m3, "gpu", "allocating") == 0);
    assert_true(num(m3, "memory", "allocatable") == 131072.0 * 1048576);

    /* Newly joined: no resourceSummary yet -> listed, unavailable. */
    json_t *m4 = json_array_get(inv, 3);
    assert_string_equal(json_string_value(json_object_get(m4, "name")),
                        "member4");
    assert_true(json_is_true(json_object_get(m4, "ready")));
    assert_true(json_is_false(json_object_get(m4, "available")));
    assert_non_null(strstr(json_string_value(json_object_get(m4, "reason")),
                           "no resourceSummary"));
    assert_true(num(m4, "cpu", "allocatable") == 0);
    assert_string_equal(json_string_value(json_object_get(m4, "provider")), "");
    assert_int_equal(json_array_size(json_object_get(m4, "zones")), 0);
    json_decref(inv);
    json_decref(list);
}

static json_t *one(const char *item_json, const struct smo__kinv_opts *o)
{
    char *text = NULL;
    assert_true(asprintf(&text, "{\"kind\":\"ClusterList\",\"items\":[%s]}",
                         item_json) > 0);
    json_t *list = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(list);
    char err[200];
    json_t *inv = smo__kinv_build(list, o, NULL, err, sizeof err);
    json_decref(list);
    assert_non_null(inv);
    json_t *c = json_incref(json_array_get(inv, 0));
    json_decref(inv);
    return c;
}

static void test_readiness_and_oddities(void **state)
{
    (void)state;
    json_t *c = one(
        "{\"metadata\":{\"name\":\"edge\"},\"spec\":{\"zone\":\"z1\"},"
        "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
        "\"False\",\"reason\":\"ClusterNotReachable\",\"message\":\"cluster "
        "is not reachable\"}],\"resourceSummary\":{\"allocatable\":{\"cpu\":"
        "\"4\",\"memory\":\"8Gi\",\"amd.com/gpu\":\"2\"}}}}",
        NULL);
    assert_true(json_is_false(json_object_get(c, "ready")));
    assert_true(json_is_true(json_object_get(c, "available")));
    assert_string_equal(json_string_value(json_object_get(c, "reason")),
                        "Ready=False: ClusterNotReachable: cluster is not "
                        "reachable");
    /* Karmada before 1.7 had one spec.zone. */
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(c, "zones"), 0)),
        "z1");
    assert_true(num(c, "gpu", "allocatable") == 0); /* not nvidia */
    json_decref(c);

    const char *const amd[] = {"nvidia.com/gpu", "amd.com/gpu", NULL};
    struct smo__kinv_opts o = {amd};
    c = one("{\"metadata\":{\"name\":\"edge\"},\"status\":{\"conditions\":"
            "[{\"type\":\"Ready\",\"status\":\"True\"}],\"resourceSummary\":"
            "{\"allocatable\":{\"amd.com/gpu\":\"2\",\"nvidia.com/gpu\":1}}}}",
            &o);
    assert_true(num(c, "gpu", "allocatable") == 3);
    json_decref(c);

    /* No conditions at all: not ready, said so. */
    c = one("{\"metadata\":{\"name\":\"new\"},\"status\":{}}", NULL);
    assert_true(json_is_false(json_object_get(c, "ready")));
    assert_string_equal(json_string_value(json_object_get(c, "reason")),
                        "no Ready condition reported yet");
    json_decref(c);

    /* Being deleted: never a placement target. */
    c = one("{\"metadata\":{\"name\":\"old\",\"deletionTimestamp\":\"2026-"
            "01-01T00:00:00Z\"},\"status\":{\"conditions\":[{\"type\":"
            "\"Ready\",\"status\":\"True\"}],\"resourceSummary\":{"
            "\"allocatable\":{\"cpu\":\"1\"}}}}",
            NULL);
    assert_true(json_is_false(json_object_get(c, "ready")));
    assert_string_equal(json_string_value(json_object_get(c, "reason")),
                        "being removed from the federation");
    json_decref(c);

    /* A garbage quantity makes the cluster unavailable, with the reason. */
    c = one("{\"metadata\":{\"name\":\"odd\"},\"status\":{\"conditions\":"
            "[{\"type\":\"Ready\",\"status\":\"True\"}],\"resourceSummary\":"
            "{\"allocatable\":{\"cpu\":\"lots\"}}}}",
            NULL);
    assert_true(json_is_false(json_object_get(c, "available")));
    assert_string_equal(json_string_value(json_object_get(c, "reason")),
                        "resourceSummary.allocatable[\"cpu\"]: invalid "
                        "quantity \"lots\"");
    json_decref(c);
}

static void test_list_shapes(void **state)
{
    (void)state;
    char err[200];
    size_t skipped;
    json_t *l =
        json_loads("{\"kind\":\"ClusterList\",\"items\":null}", 0, NULL);
    json_t *inv = smo__kinv_build(l, NULL, &skipped, err, sizeof err);
    assert_int_equal(json_array_size(inv), 0);
    json_decref(inv);
    json_decref(l);

    l = json_loads("{\"kind\":\"DeploymentList\",\"items\":[]}", 0, NULL);
    assert_null(smo__kinv_build(l, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "expected a ClusterList, got kind "
                             "\"DeploymentList\"");
    json_decref(l);

    l = json_loads("\"x\"", JSON_DECODE_ANY, NULL);
    assert_null(smo__kinv_build(l, NULL, NULL, err, sizeof err));
    json_decref(l);

    /* A bare array works; bad names and duplicates are skipped. */
    l = json_loads("[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{}},"
                   "{\"metadata\":{\"name\":\"Bad Name\"}},"
                   "{\"metadata\":{\"name\":\"a\"}},7]",
                   0, NULL);
    inv = smo__kinv_build(l, NULL, &skipped, err, sizeof err);
    assert_int_equal(json_array_size(inv), 1);
    assert_int_equal(skipped, 4);
    json_decref(inv);
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_readiness_and_oddities),
        cmocka_unit_test(test_list_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
