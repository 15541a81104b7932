/* Quantities, durations and DNS-1123 names. */
#include "smo_test.h"

#include <math.h>

#include "smo_units.h"

static void q_ok(const char *s, double want)
{
    double v = -1;
    smo_status st;
    smo_status_clear(&st);
    if (smo__parse_quantity(s, &v, &st))
        fail_msg("%s: %s", s, st.msg);
    if (fabs(v - want) > fabs(want) * 1e-12 + 1e-12)
        fail_msg("%s: got %.17g want %.17g", s, v, want);
}

static void q_err(const char *s, const char *msg)
{
    double v;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__parse_quantity(s, &v, &st), SMO_EINVAL);
    assert_string_equal(st.msg, msg);
}

static void test_quantity(void **state)
{
    (void)state;
    q_ok("1", 1);
    q_ok("250m", 0.25);
    q_ok("0.5", 0.5);
    q_ok(".5", 0.5);
    q_ok("1.5Gi", 1610612736.0);
    q_ok("16Gi", 17179869184.0);
    q_ok("500Mi", 524288000.0);
    q_ok("10G", 1e10);
    q_ok("1k", 1000);
    q_ok("1Ki", 1024);
    q_ok("2e3", 2000);
    q_ok("1E-3", 0.001);
    q_ok("100n", 1e-7);
    q_ok("5u", 5e-6);
    q_ok("+3", 3);
    q_ok("-2", -2);
    q_ok("1Ei", 1152921504606846976.0);
    q_err("", "empty quantity");
    q_err("abc", "invalid quantity \"abc\": expected a number such as 250m, "
                 "2, 1.5Gi");
    q_err("1.5.3", "invalid quantity \"1.5.3\": unknown suffix \".3\" "
                   "(expected one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an "
                   "exponent)");
    q_err("12 Gi", "invalid quantity \"12 Gi\": unknown suffix \" Gi\" "
                   "(expected one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an "
                   "exponent)");
    q_err("1GB", "invalid quantity \"1GB\": unknown suffix \"GB\" (expected "
                 "one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an exponent)");
    q_err("9Ei", "invalid quantity \"9Ei\": out of range");
    q_err("--1", "invalid quantity \"--1\": expected a number such as 250m, "
                 "2, 1.5Gi");
}

static void d_ok(const char *s, int64_t want)
{
    int64_t v = -1;
    smo_status st;
    smo_status_clear(&st);
    if (smo__parse_duration(s, &v, &st))
        fail_msg("%s: %s", s, st.msg);
    assert_int_equal(v, want);
}

static void d_err(const char *s, const char *msg)
{
    int64_t v;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__parse_duration(s, &v, &st), SMO_EINVAL);
    assert_string_equal(st.msg, msg);
}

static void test_duration(void **state)
{
    (void)state;
    d_ok("30s", 30000);
    d_ok("1m", 60000);
    d_ok("2h", 7200000);
    d_ok("1m30s", 90000);
    d_ok("250ms", 250);
    d_ok("1.5h", 5400000);
    d_ok("1d", 86400000);
    d_ok("1w", 604800000);
    d_ok("30", 30000);
    d_ok("0.25", 250);
    d_ok("0s", 0);
    d_err("", "empty duration");
    d_err("abc", "invalid duration \"abc\": expected something like 500ms, "
                 "30s, 5m, 1h30m");
    d_err("10x", "invalid duration \"10x\": missing or unknown unit (ms, s, "
                 "m, h, d, w)");
    d_err("-5s", "invalid duration \"-5s\": expected something like 500ms, "
                 "30s, 5m, 1h30m");
    d_err("1m 30s", "invalid duration \"1m 30s\": expected something like "
                    "500ms, 30s, 5m, 1h30m");
    char buf[32];
    smo__format_duration(90000, buf, sizeof buf);
    assert_string_equal(buf, "1m30s");
    smo__format_duration(250, buf, sizeof buf);
    assert_string_equal(buf, "250ms");
}

static void test_dns(void **state)
{
    (void)state;
    smo_status st;
    assert_int_equal(smo__check_dns_label("image-detection", 53, &st), 0);
    assert_int_equal(smo__check_dns_label("a", 53, &st), 0);
    assert_int_equal(smo__check_dns_label("--kubeconfig=/x", 53, &st),
                     SMO_EINVAL);
    assert_string_equal(st.msg, "\"--kubeconfig=/x\" is not a DNS-1123 label: "
                                "character 13 is not a lower-case letter, "
                                "digit or '-'");
    assert_int_equal(smo__check_dns_label("-x", 53, &st), SMO_EINVAL);
    assert_string_equal(st.msg, "\"-x\" is not a DNS-1123 label: it must "
                                "start and end with a letter or digit");
    assert_int_equal(smo__check_dns_label("Upper", 53, &st), SMO_EINVAL);
    assert_int_equal(smo__check_dns_label("", 53, &st), SMO_EINVAL);
    assert_string_equal(st.msg, "empty name");
    char longname[80];
    memset(longname, 'a', 60);
    longname[60] = '\0';
    assert_int_equal(smo__check_dns_label(longname, 53, &st), SMO_EINVAL);
    assert_non_null(strstr(st.msg, "is 60 characters long, at most 53"));
    assert_int_equal(smo__check_dns_label("a/../b", 53, &st), SMO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_dns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
