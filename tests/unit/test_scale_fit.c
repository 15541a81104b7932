/* Least-squares fit of the scaling loop's capacity model. */
#include "smo_test.h"

#include <math.h>

#include <smo/smo_error.h>

#include "smo_scale_fit.h"

static void test_exact_line(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4, 2};
    double y[5];
    for (int i = 0; i < 5; i++)
        y[i] = 30 * x[i] + 10;
    struct smo__scale_fit f;
    char msg[128];
    assert_int_equal(smo__scale_fit(x, y, 5, 3, &f, msg, sizeof msg), 0);
    assert_true(fabs(f.alpha - 30) < 1e-9);
    assert_true(fabs(f.beta - 10) < 1e-9);
    assert_true(fabs(f.r2 - 1) < 1e-12);
    assert_int_equal(f.n, 5);
}

static void test_noisy_line(void **state)
{
    (void)state;
    /* y = 2x + 1 with symmetric noise: the fit is the line itself. */
    double x[] = {1, 1, 2, 2, 3, 3};
    double y[] = {3.5, 2.5, 5.5, 4.5, 7.5, 6.5};
    struct smo__scale_fit f;
    char msg[128];
    assert_int_equal(smo__scale_fit(x, y, 6, 2, &f, msg, sizeof msg), 0);
    assert_true(fabs(f.alpha - 2) < 1e-9);
    assert_true(fabs(f.beta - 1) < 1e-9);
    assert_true(f.r2 > 0.8 && f.r2 < 1);
}

static void test_negative_intercept(void **state)
{
    (void)state;
    /* The original's image-compression-vo model: 33.33 r - 16.66. */
    double x[] = {1, 2, 3};
    double y[] = {33.33 - 16.66, 66.66 - 16.66, 99.99 - 16.66};
    struct smo__scale_fit f;
    char msg[128];
    assert_int_equal(smo__scale_fit(x, y, 3, 3, &f, msg, sizeof msg), 0);
    assert_true(fabs(f.alpha - 33.33) < 1e-9);
    assert_true(fabs(f.beta + 16.66) < 1e-9);
}

static void test_large_values(void **state)
{
    (void)state;
    /* Centred sums keep precision when rates are large. */
    double x[] = {100, 101, 102};
    double y[] = {1e9 + 500, 1e9 + 505, 1e9 + 510};
    struct smo__scale_fit f;
    char msg[128];
    assert_int_equal(smo__scale_fit(x, y, 3, 2, &f, msg, sizeof msg), 0);
    assert_true(fabs(f.alpha - 5) < 1e-6);
}

static void test_refusals(void **state)
{
    (void)state;
    struct smo__scale_fit f;
    char msg[128];
    double x[] = {2, 2, 2, 2};
    double y[] = {10, 20, 30, 40};
    assert_int_equal(smo__scale_fit(x, y, 1, 1, &f, msg, sizeof msg),
                     SMO_EINVAL);
    assert_string_equal(msg, "1 sample, 2 needed");
    assert_int_equal(smo__scale_fit(x, y, 3, 5, &f, msg, sizeof msg),
                     SMO_EINVAL);
    assert_string_equal(msg, "3 samples, 5 needed");
    assert_int_equal(f.n, 3);
    assert_int_equal(smo__scale_fit(x, y, 4, 2, &f, msg, sizeof msg),
                     SMO_EINVAL);
    assert_non_null(strstr(msg, "every sample has 2 replicas"));
    double x2[] = {1, 2, 3};
    double y2[] = {30, 20, 10};
    assert_int_equal(smo__scale_fit(x2, y2, 3, 2, &f, msg, sizeof msg),
                     SMO_EINVAL);
    assert_non_null(strstr(msg, "does not grow"));
    assert_true(fabs(f.alpha + 10) < 1e-9); /* still reported */
    double y3[] = {10, 10, 10};
    assert_int_equal(smo__scale_fit(x2, y3, 3, 2, &f, msg, sizeof msg),
                     SMO_EINVAL);
    double y4[] = {10, NAN, 10};
    assert_int_equal(smo__scale_fit(x2, y4, 3, 2, &f, msg, sizeof msg),
                     SMO_EINVAL);
    assert_string_equal(msg, "samples are not finite");
}

static void test_expand(void **state)
{
    (void)state;
    char err[200];
    char *q = smo__scale_expand(
        "sum(rate(http_requests_total{service=$service,graph=$graph,"
        "project=$project}[$window])) + $$x",
        "p", "g", "web", 60000, err, sizeof err);
    assert_string_equal(q, "sum(rate(http_requests_total{service=\"web\","
                           "graph=\"g\",project=\"p\"}[1m])) + $x");
    free(q);
    /* A label value can never end the string literal. */
    q = smo__scale_expand("x{s=$service}", "p", "g", "a\"} or vector(1) #\\",
                          1500, err, sizeof err);
    assert_string_equal(q, "x{s=\"a\\\"} or vector(1) #\\\\\"}");
    free(q);
    q = smo__scale_expand("[$window]", "p", "g", "s", 1500, err, sizeof err);
    assert_string_equal(q, "[1500ms]");
    free(q);
    q = smo__scale_expand("[$window]", "p", "g", "s", 7200000, err, sizeof err);
    assert_string_equal(q, "[2h]");
    free(q);
    assert_null(
        smo__scale_expand("x{s=$svc}", "p", "g", "s", 1000, err, sizeof err));
    assert_non_null(strstr(err, "unknown placeholder \"$svc\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_line),
        cmocka_unit_test(test_noisy_line),
        cmocka_unit_test(test_negative_intercept),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_expand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
