/* monitor_prometheus's pure parts: PromQL quoting, alert names,
 * durations, the engine's rules turned into Prometheus rules (ANY, AND,
 * extra labels), a graph's group in the rules file, a graph's rules in a
 * PrometheusRule object, and query answers (vector, scalar, empty, NaN,
 * errors). */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "prom.h"
#include "smo_units.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

static void test_quote(void **s)
{
    (void)s;
    struct {
        const char *in, *out;
    } cases[] = {
        {"user-db", "\"user-db\""},
        {"a\"b", "\"a\\\"b\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"x\"} or vector(1) #", "\"x\\\"} or vector(1) #\""},
        {"line\nbreak\ttab", "\"line\\nbreak\\ttab\""},
        {"\x01", "\"\\x01\""},
        {"", "\"\""},
        {"ünï", "\"ünï\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = smo__prom_quote(cases[i].in);
        assert_string_equal(q, cases[i].out);
        free(q);
    }
}

static void test_names_and_durations(void **s)
{
    (void)s;
    char buf[64];
    smo__prom_sanitize("g-svc-ev", buf, sizeof buf);
    assert_string_equal(buf, "g-svc-ev");
    smo__prom_sanitize("a b/c{d}", buf, sizeof buf);
    assert_string_equal(buf, "a_b_c_d_");
    smo__prom_sanitize("", buf, sizeof buf);
    assert_string_equal(buf, "_");
    smo__prom_sanitize("abcdefgh", buf, 5);
    assert_string_equal(buf, "abcd");
    smo__prom_duration(0, buf, sizeof buf);
    assert_string_equal(buf, "0s");
    smo__prom_duration(90000, buf, sizeof buf);
    assert_string_equal(buf, "1m30s");
    smo__prom_duration(5400000, buf, sizeof buf);
    assert_string_equal(buf, "1h30m");
    smo__prom_duration(1500, buf, sizeof buf);
    assert_string_equal(buf, "1s500ms");
    char *g = smo__prom_group_name("shop", "my-webapp-graph");
    assert_string_equal(g, "smo/shop/my-webapp-graph");
    free(g);
}

#define RULE(name, svc, ev, cond, expr, f)                                     \
    "{\"name\": \"" name "\", \"expr\": \"" expr "\", \"for\": \"" f "\", "    \
    "\"labels\": {\"graph\": \"g\", \"project\": \"p\", \"service\": \"" svc   \
    "\", \"event\": \"" ev "\", \"condition\": \"" cond "\"}, "                \
    "\"annotations\": {\"summary\": \"s\", \"description\": \"d\"}}"

static void test_build_any(void **s)
{
    (void)s;
    json_t *in =
        J("[" RULE("g-db-hot", "db", "hot", "ANY", "up > 1", "1.5m") "," RULE(
            "g-db-cold", "db", "cold", "ANY", "up < 1", "30s") "]");
    json_t *extra = J("{\"severity\": \"critical\", \"graph\": \"spoof\"}");
    json_t *out = NULL;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__prom_rules_build(in, "p", "g", extra,
                                           smo__parse_duration, &out, &st),
                     0);
    assert_int_equal(json_array_size(out), 2);
    json_t *r = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(r, "alert")),
                        "g-db-hot");
    assert_string_equal(json_string_value(json_object_get(r, "expr")),
                        "up > 1");
    /* Prometheus has no fractions: 1.5m is 1m30s. */
    assert_string_equal(json_string_value(json_object_get(r, "for")), "1m30s");
    json_t *l = json_object_get(r, "labels");
    assert_string_equal(json_string_value(json_object_get(l, "graph")), "g");
    assert_string_equal(json_string_value(json_object_get(l, "project")), "p");
    assert_string_equal(json_string_value(json_object_get(l, "service")), "db");
    assert_string_equal(json_string_value(json_object_get(l, "severity")),
                        "critical");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(r, "annotations"), "summary")),
                        "s");
    json_decref(out);
    json_decref(extra);
    json_decref(in);
}

static void test_build_and(void **s)
{
    (void)s;
    json_t *in =
        J("[" RULE("g-db-hot", "db", "hot", "AND", "up > 1",
                   "10s") "," RULE("g-db-cold", "db", "cold", "AND", "up < 1",
                                   "0s") "," RULE("g-web-x", "web", "x", "AND",
                                                  "vector(1)", "0s") "]");
    json_t *out = NULL;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__prom_rules_build(in, "p\"q", "g", NULL,
                                           smo__parse_duration, &out, &st),
                     0);
    /* db: two conditions and the combination; web: one event, no AND. */
    assert_int_equal(json_array_size(out), 4);
    json_t *c1 = json_array_get(out, 0), *all = json_array_get(out, 2),
           *web = json_array_get(out, 3);
    json_t *l1 = json_object_get(c1, "labels");
    assert_null(json_object_get(l1, "service"));
    assert_string_equal(json_string_value(json_object_get(l1, "for_service")),
                        "db");
    assert_string_equal(json_string_value(json_object_get(l1, "smo_role")),
                        "condition");
    assert_string_equal(json_string_value(json_object_get(all, "alert")),
                        "g-db-all");
    assert_string_equal(json_string_value(json_object_get(all, "for")), "0s");
    assert_string_equal(
        json_string_value(json_object_get(all, "expr")),
        "count(ALERTS{alertname=\"g-db-hot\", alertstate=\"firing\", "
        "graph=\"g\", project=\"p\\\"q\"}) and on() "
        "count(ALERTS{alertname=\"g-db-cold\", alertstate=\"firing\", "
        "graph=\"g\", project=\"p\\\"q\"})");
    json_t *la = json_object_get(all, "labels");
    assert_string_equal(json_string_value(json_object_get(la, "service")),
                        "db");
    assert_null(json_object_get(la, "event"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(web, "labels"), "service")),
                        "web");
    json_decref(out);
    json_decref(in);
}

static void test_build_errors_and_dedup(void **s)
{
    (void)s;
    json_t *out = NULL;
    smo_status st;
    smo_status_clear(&st);
    json_t *bad = J("[" RULE("g-a-b", "a", "b", "ANY", "up", "soon") "]");
    assert_int_equal(smo__prom_rules_build(bad, "p", "g", NULL,
                                           smo__parse_duration, &out, &st),
                     SMO_EINVAL);
    assert_non_null(strstr(st.msg, "g-a-b"));
    assert_null(out);
    json_decref(bad);
    /* Two rule names that sanitise alike stay distinct. */
    json_t *two = J("[" RULE("g-a-b c", "a", "b", "ANY", "up", "0s") "," RULE(
        "g-a-b_c", "c", "d", "ANY", "up", "0s") "]");
    assert_int_equal(smo__prom_rules_build(two, "p", "g", NULL,
                                           smo__parse_duration, &out, &st),
                     0);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(out, 0), "alert")),
        "g-a-b_c");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(out, 1), "alert")),
        "g-a-b_c-2");
    json_decref(out);
    json_decref(two);
    smo_status_clear(&st);
    json_t *obj = J("{}");
    assert_int_equal(smo__prom_rules_build(obj, "p", "g", NULL,
                                           smo__parse_duration, &out, &st),
                     SMO_EINVAL);
    json_decref(obj);
}

static void test_file_apply(void **s)
{
    (void)s;
    json_t *doc = J("{\"groups\": [{\"name\": \"smo/p/a\", \"rules\": "
                    "[{\"alert\": \"a1\", \"expr\": \"up\"}]}]}");
    json_t *rules = J("[{\"alert\": \"b1\", \"expr\": \"up\"}]");
    json_t *none = J("[]");
    bool changed = false;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(
        smo__prom_file_apply(doc, "smo/p/b", rules, 2000, &changed, &st), 0);
    assert_true(changed);
    json_t *g = json_object_get(doc, "groups");
    assert_int_equal(json_array_size(g), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(g, 1), "interval")),
        "2s");
    /* The same again: unchanged. */
    assert_int_equal(
        smo__prom_file_apply(doc, "smo/p/b", rules, 2000, &changed, &st), 0);
    assert_false(changed);
    /* Removing a group touches no other. */
    assert_int_equal(
        smo__prom_file_apply(doc, "smo/p/a", none, 0, &changed, &st), 0);
    assert_true(changed);
    assert_int_equal(json_array_size(g), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(g, 0), "name")),
        "smo/p/b");
    assert_int_equal(
        smo__prom_file_apply(doc, "smo/p/a", none, 0, &changed, &st), 0);
    assert_false(changed);
    json_t *broken = J("{\"groups\": 3}");
    assert_int_equal(smo__prom_file_apply(broken, "x", rules, 0, &changed, &st),
                     SMO_EPROTO);
    json_t *empty = J("{}");
    assert_int_equal(smo__prom_file_apply(empty, "x", rules, 0, &changed, &st),
                     0);
    assert_true(changed);
    json_decref(empty);
    json_decref(broken);
    json_decref(none);
    json_decref(rules);
    json_decref(doc);
}

static void test_crd_apply(void **s)
{
    (void)s;
    json_t *obj =
        J("{\"metadata\": {\"resourceVersion\": \"7\"}, \"spec\": {\"groups\": "
          "[{\"name\": \"other\", \"rules\": [{\"alert\": \"o\", \"expr\": "
          "\"up\", \"labels\": {\"graph\": \"g\", \"project\": \"p\"}}]}, "
          "{\"name\": \"smo\", \"rules\": ["
          "{\"alert\": \"foreign\", \"expr\": \"up\"},"
          "{\"alert\": \"old\", \"expr\": \"up\", \"labels\": {\"graph\": "
          "\"g\", \"project\": \"p\"}},"
          "{\"alert\": \"same-graph-other-project\", \"expr\": \"up\", "
          "\"labels\": {\"graph\": \"g\", \"project\": \"q\"}}]}]}}");
    json_t *rules = J("[{\"alert\": \"new\", \"expr\": \"up\", \"labels\": "
                      "{\"graph\": \"g\", \"project\": \"p\"}}]");
    bool changed;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(
        smo__prom_crd_apply(obj, "smo", "p", "g", rules, &changed, &st), 0);
    assert_true(changed);
    json_t *want = J(
        "[{\"alert\": \"foreign\", \"expr\": \"up\"},"
        "{\"alert\": \"same-graph-other-project\", \"expr\": \"up\", "
        "\"labels\": {\"graph\": \"g\", \"project\": \"q\"}},"
        "{\"alert\": \"new\", \"expr\": \"up\", \"labels\": {\"graph\": \"g\", "
        "\"project\": \"p\"}}]");
    json_t *groups = json_object_get(json_object_get(obj, "spec"), "groups");
    assert_true(
        json_equal(json_object_get(json_array_get(groups, 1), "rules"), want));
    /* Other groups are never looked into. */
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(groups, 0), "rules")),
        1);
    assert_int_equal(
        smo__prom_crd_apply(obj, "smo", "p", "g", rules, &changed, &st), 0);
    assert_false(changed);
    /* A missing group is created; removing from a missing one is a no-op. */
    json_t *empty = J("{\"spec\": {}}");
    json_t *none = J("[]");
    assert_int_equal(
        smo__prom_crd_apply(empty, "smo", "p", "g", none, &changed, &st), 0);
    assert_false(changed);
    assert_int_equal(
        smo__prom_crd_apply(empty, "smo", "p", "g", rules, &changed, &st), 0);
    assert_true(changed);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(empty, "spec"), "groups")),
                     1);
    json_decref(none);
    json_decref(empty);
    json_decref(want);
    json_decref(rules);
    json_decref(obj);
}

static json_t *parse_ok(const char *body)
{
    json_t *out = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__prom_parse_query(body, strlen(body), 200, &out, &st);
    if (r)
        fail_msg("%s", st.msg);
    return out;
}

static void test_parse_query(void **s)
{
    (void)s;
    json_t *v = parse_ok(
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
        "\"result\":[{\"metric\":{\"service\":\"a\"},\"value\":[1700000000.5,"
        "\"2.5\"]},{\"metric\":{\"service\":\"b\"},\"value\":[1700000000.5,"
        "\"NaN\"]},{\"metric\":{},\"value\":[1,\"+Inf\"]},{\"metric\":{},"
        "\"value\":[1,\"-Inf\"]}]}}");
    assert_string_equal(json_string_value(json_object_get(v, "type")),
                        "vector");
    json_t *sm = json_object_get(v, "samples");
    assert_int_equal(json_array_size(sm), 4);
    json_t *a = json_array_get(sm, 0), *b = json_array_get(sm, 1);
    assert_true(json_real_value(json_object_get(a, "value")) == 2.5);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(a, "labels"), "service")),
                        "a");
    assert_null(json_object_get(a, "special"));
    /* NaN is explicit: null with its spelling. */
    assert_true(json_is_null(json_object_get(b, "value")));
    assert_string_equal(json_string_value(json_object_get(b, "special")),
                        "NaN");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(sm, 2), "special")),
        "+Inf");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(sm, 3), "special")),
        "-Inf");
    json_decref(v);

    v = parse_ok("{\"status\":\"success\",\"data\":{\"resultType\":"
                 "\"vector\",\"result\":[]}}");
    assert_int_equal(json_array_size(json_object_get(v, "samples")), 0);
    json_decref(v);

    v = parse_ok("{\"status\":\"success\",\"data\":{\"resultType\":"
                 "\"scalar\",\"result\":[1700000000,\"42\"]}}");
    assert_string_equal(json_string_value(json_object_get(v, "type")),
                        "scalar");
    assert_true(
        json_real_value(json_object_get(
            json_array_get(json_object_get(v, "samples"), 0), "value")) == 42);
    json_decref(v);

    struct {
        const char *body;
        long http;
        int code;
        const char *needle;
    } bad[] = {
        {"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
         "\"parse error at char 5\"}",
         400, SMO_EINVAL, "parse error at char 5"},
        {"{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":"
         "\"query timed out in expression evaluation\"}",
         503, SMO_ETIMEDOUT, "timed out"},
        {"{\"status\":\"error\",\"errorType\":\"execution\",\"error\":"
         "\"x\"}",
         422, SMO_EINVAL, "execution"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
         "\"result\":[]}}",
         200, SMO_EINVAL, "range vector"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
         "\"result\":[{\"metric\":{},\"value\":[1,\"abc\"]}]}}",
         200, SMO_EPROTO, "unexpected"},
        {"<html>bad gateway</html>", 502, SMO_EEXTERNAL, "502"},
        {"not json", 200, SMO_EPROTO, "without a query result"},
        {"Unauthorized", 401, SMO_EAUTH, "401"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *out = NULL;
        smo_status st;
        smo_status_clear(&st);
        int r = smo__prom_parse_query(bad[i].body, strlen(bad[i].body),
                                      bad[i].http, &out, &st);
        if (r != bad[i].code || !strstr(st.msg, bad[i].needle))
            fail_msg("case %zu: %d %s", i, r, st.msg);
        assert_null(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_names_and_durations),
        cmocka_unit_test(test_build_any),
        cmocka_unit_test(test_build_and),
        cmocka_unit_test(test_build_errors_and_dedup),
        cmocka_unit_test(test_file_apply),
        cmocka_unit_test(test_crd_apply),
        cmocka_unit_test(test_parse_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
