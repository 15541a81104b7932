/* monitor_grafana: uids (valid, unique, short, shared for clusters), PromQL
 * quoting in panels, the three dashboard kinds, and the instance against
 * the mock host: the request it sends, answers that never fail the
 * caller, background retries with backoff, supersession, removal. */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "grafana.h"
#include "smo_errlist.h"
#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define P    smo_plugin_entry
#define OPS  ((const struct smo_monitor_ops *)P.ops)
#define GRAF "http://grafana.test:3000"

static const struct smo__graf_opts OPTS = {"prom", "prometheus", "5s",
                                           "source"};

static json_t *J(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        fail_msg("bad JSON in test: %s", text);
    return j;
}

static const char *sval(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* --------------------------------------------------------- pure parts -- */

static void uid_ok(const char *u)
{
    assert_true(strlen(u) > 0 && strlen(u) < SMO__GRAF_UID_MAX);
    assert_int_equal(strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789-"),
                     strlen(u));
}

static void test_uids(void **s)
{
    (void)s;
    char a[41], b[41], c[41], d[41], e[41];
    smo__graf_uid("service", "p", "g", "db", a);
    smo__graf_uid("service", "p", "g", "db", b);
    assert_string_equal(a, b); /* stable: re-publishing overwrites */
    smo__graf_uid("service", "q", "g", "db", c);
    smo__graf_uid("graph", "p", "g", "db", d);
    assert_string_not_equal(a, c); /* per project */
    assert_string_not_equal(a, d); /* per kind */
    /* ("ab", "c") and ("a", "bc") differ. */
    smo__graf_uid("service", "ab", "c", "x", c);
    smo__graf_uid("service", "a", "bc", "x", d);
    assert_string_not_equal(c, d);
    uid_ok(a);
    assert_non_null(strstr(a, "db"));
    /* Cluster dashboards are shared by graphs. */
    smo__graf_uid("cluster", "p", "g", "edge-a", c);
    smo__graf_uid("cluster", "q", "h", "edge-a", d);
    assert_string_equal(c, d);
    /* Long and odd names still make valid, short uids. */
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    smo__graf_uid("graph", longname, longname, longname, e);
    uid_ok(e);
    smo__graf_uid("service", "p", "g", "Ünï Cödé!!", e);
    uid_ok(e);
    smo__graf_uid("service", "p", "g", "---", e);
    uid_ok(e);
}

static void test_quoting(void **s)
{
    (void)s;
    char *q = smo__graf_quote("a\"b\\c\n");
    assert_string_equal(q, "\"a\\\"b\\\\c\\n\"");
    free(q);
    q = smo__graf_quote_re("api.v1+x", ".*");
    /* The regex escapes are themselves escaped in the PromQL string. */
    assert_string_equal(q, "\"api\\\\.v1\\\\+x.*\"");
    free(q);
}

static size_t n_panels(const json_t *d)
{
    return json_array_size(json_object_get(d, "panels"));
}

static void test_dashboards(void **s)
{
    (void)s;
    smo_status st;
    smo_status_clear(&st);
    json_t *spec = J("{\"kind\": \"service\", \"project\": \"p\", \"graph\": "
                     "\"g\", \"name\": \"a.b\", \"services\": [\"a.b\"]}");
    json_t *d = smo__graf_dashboard(spec, &OPTS, &st);
    assert_non_null(d);
    assert_int_equal(n_panels(d), 4);
    json_t *p0 = json_array_get(json_object_get(d, "panels"), 0);
    assert_string_equal(sval(p0, "title"), "a.b pods");
    assert_null(json_object_get(p0, "repeat"));
    assert_string_equal(sval(json_object_get(p0, "datasource"), "uid"), "prom");
    json_t *p1 = json_array_get(json_object_get(d, "panels"), 1);
    const char *e1 =
        sval(json_array_get(json_object_get(p1, "targets"), 0), "expr");
    assert_non_null(strstr(e1, "pod=~\"a\\\\.b.*\""));
    assert_string_equal(sval(d, "title"), "SMO p/g: a.b");
    assert_true(json_is_null(json_object_get(d, "id")));
    json_decref(d);
    json_decref(spec);

    spec = J("{\"kind\": \"graph\", \"project\": \"p\", \"graph\": \"g\", "
             "\"name\": \"g\", \"services\": [\"x\", \"y\"]}");
    d = smo__graf_dashboard(spec, &OPTS, &st);
    assert_int_equal(n_panels(d), 4);
    p0 = json_array_get(json_object_get(d, "panels"), 0);
    assert_string_equal(sval(p0, "repeat"), "service");
    json_t *var = json_array_get(
        json_object_get(json_object_get(d, "templating"), "list"), 0);
    assert_string_equal(sval(var, "query"), "x, y");
    assert_int_equal(json_array_size(json_object_get(var, "options")), 2);
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(var, "options"), 0), "selected")));
    json_decref(d);
    json_decref(spec);

    /* No service: a valid dashboard all the same (the original crashed). */
    spec = J("{\"kind\": \"graph\", \"project\": \"p\", \"graph\": \"g\", "
             "\"name\": \"g\", \"services\": []}");
    d = smo__graf_dashboard(spec, &OPTS, &st);
    assert_non_null(d);
    p0 = json_array_get(json_object_get(d, "panels"), 0);
    assert_null(json_object_get(p0, "repeat"));
    json_decref(d);
    json_decref(spec);

    spec = J("{\"kind\": \"cluster\", \"name\": \"edge \\\"a\\\"\"}");
    d = smo__graf_dashboard(spec, &OPTS, &st);
    assert_int_equal(n_panels(d), 9);
    size_t i, j;
    json_t *p, *t;
    json_t *ids = json_object();
    json_array_foreach(json_object_get(d, "panels"), i, p)
    {
        char k[16];
        snprintf(k, sizeof k, "%lld",
                 (long long)json_integer_value(json_object_get(p, "id")));
        assert_null(json_object_get(ids, k)); /* unique ids */
        json_object_set_new(ids, k, json_true());
        json_array_foreach(json_object_get(p, "targets"), j, t) assert_non_null(
            strstr(sval(t, "expr"), "source=\"edge \\\"a\\\"\""));
    }
    json_decref(ids);
    json_decref(d);
    json_decref(spec);

    const char *bad[] = {
        "{\"kind\": \"graph\", \"name\": \"g\"}",
        "{\"kind\": \"pie\", \"project\": \"p\", \"graph\": \"g\", \"name\": "
        "\"g\"}",
        "{\"kind\": \"service\", \"project\": \"p\", \"graph\": \"g\"}",
        "{\"kind\": \"graph\", \"project\": \"p\", \"graph\": \"g\", "
        "\"name\": \"g\", \"services\": [3]}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        spec = J(bad[k]);
        smo_status_clear(&st);
        assert_null(smo__graf_dashboard(spec, &OPTS, &st));
        assert_int_equal(st.code, SMO_EINVAL);
        json_decref(spec);
    }
}

/* ------------------------------------------------------- the instance -- */

static struct smo_mock *m;
static void *cfgs;
static json_t *cfgj;
static void *st8;

static int make_status(const char *yaml, smo_status *st)
{
    const struct smo_host *h = smo_mock_host(m);
    cfgj = NULL;
    assert_int_equal(h->yaml_parse(yaml, strlen(yaml), &cfgj, st), 0);
    cfgs = calloc(1, P.config_size);
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    struct smo__schema_ctx ctx = {&e, "test", NULL, false};
    size_t n = smo__schema_apply(P.config, cfgj, cfgs, "config", &ctx);
    if (n)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    smo_status_clear(st);
    int r = P.validate(cfgj, cfgs, st);
    if (r)
        return r;
    return P.create(h, smo_mock_self(m), cfgs, &st8, st);
}

static void make(const char *yaml)
{
    smo_status st;
    if (make_status(yaml, &st))
        fail_msg("create: %s", st.msg);
}

static int setup(void **state)
{
    (void)state;
    m = smo_mock_new();
    cfgs = NULL;
    cfgj = NULL;
    st8 = NULL;
    return 0;
}

static void stopped(void *arg)
{
    *(bool *)arg = true;
}

static int teardown(void **state)
{
    (void)state;
    if (st8) {
        bool done = false;
        P.stop(st8, stopped, &done);
        smo_mock_run(m);
        assert_true(done);
        P.destroy(st8);
    }
    free(cfgs);
    json_decref(cfgj);
    smo_mock_free(m);
    return 0;
}

struct out {
    bool done;
    int code;
    json_t *result;
};

static void on_done(void *arg, const smo_status *st, json_t *result)
{
    struct out *o = arg;
    assert_false(o->done);
    o->done = true;
    o->code = st->code;
    o->result = result;
}

static void publish(const char *name, struct out *o)
{
    char text[256];
    snprintf(text, sizeof text,
             "{\"kind\": \"service\", \"project\": \"p\", \"graph\": \"g\", "
             "\"name\": \"%s\", \"services\": [\"%s\"]}",
             name, name);
    json_t *spec = J(text);
    smo_status st;
    smo_status_clear(&st);
    memset(o, 0, sizeof *o);
    assert_int_equal(OPS->dashboard_publish(st8, spec, on_done, o, &st), 0);
    json_decref(spec);
    assert_false(o->done);
    smo_mock_run(m);
    assert_true(o->done);
}

static size_t nreq(void)
{
    return json_array_size(smo_mock_requests(m));
}

static void test_config(void **s)
{
    (void)s;
    const char *bad[] = {
        "{url: grafana:3000}", "{url: " GRAF ", token: t, basic_user: u}",
        "{url: " GRAF ", cluster_label: 'a-b'}",
        "{url: " GRAF ", retry_interval: 10s, retry_max_interval: 1s}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        smo_status st;
        assert_int_equal(make_status(bad[i], &st), SMO_EINVAL);
        free(cfgs);
        json_decref(cfgj);
        cfgs = NULL;
        cfgj = NULL;
    }
    make("{url: " GRAF "}");
}

static void test_publish_and_retry(void **s)
{
    (void)s;
    make("{url: '" GRAF "/', token: tk, folder_uid: smo, public_url: "
         "'https://g.example/x/', retry_interval: 1s, retry_max_interval: "
         "4s}");
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 200,
                         "{\"status\": \"success\", \"url\": \"/d/u/s\"}", 0);
    struct out o;
    publish("db", &o);
    assert_int_equal(o.code, 0);
    assert_true(json_is_true(json_object_get(o.result, "published")));
    const char *uid = sval(o.result, "uid");
    char want[200];
    snprintf(want, sizeof want, "https://g.example/x/d/%s", uid);
    assert_string_equal(sval(o.result, "url"), want);
    json_t *req = json_array_get(smo_mock_requests(m), 0);
    assert_string_equal(sval(req, "bearer"), "tk");
    json_t *body = J(sval(req, "body"));
    assert_true(json_is_true(json_object_get(body, "overwrite")));
    assert_string_equal(sval(body, "folderUid"), "smo");
    assert_string_equal(sval(json_object_get(body, "dashboard"), "uid"), uid);
    json_decref(body);
    json_decref(o.result);

    /* Grafana down: the caller gets success (not published, retrying);
     * retries back off 1 s, 2 s, 4 s, 4 s... until Grafana answers. */
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 0, NULL,
                         SMO_EUNAVAIL);
    publish("web", &o);
    assert_int_equal(o.code, 0);
    assert_false(json_is_true(json_object_get(o.result, "published")));
    assert_true(json_is_true(json_object_get(o.result, "retrying")));
    assert_non_null(sval(o.result, "error"));
    json_decref(o.result);
    size_t n = nreq();
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 503,
                         "{\"message\": \"starting\"}", 0);
    smo_mock_advance(m, 999);
    assert_int_equal(nreq(), n);
    smo_mock_advance(m, 1);
    assert_int_equal(nreq(), n + 1);
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 0, NULL,
                         SMO_EUNAVAIL);
    smo_mock_advance(m, 1999);
    assert_int_equal(nreq(), n + 1);
    smo_mock_advance(m, 1);
    assert_int_equal(nreq(), n + 2);
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 200, "{}", 0);
    smo_mock_advance(m, 4000);
    assert_int_equal(nreq(), n + 3);
    assert_true(smo_mock_log_contains(m, "published after 4 attempts"));
    smo_mock_advance(m, 60000);
    assert_int_equal(nreq(), n + 3);
}

static void test_not_retried_and_removal(void **s)
{
    (void)s;
    make("{url: " GRAF ", basic_user: admin, basic_password: pw, "
         "retry_interval: 1s}");
    /* A refused dashboard is reported, not retried. */
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 400,
                         "{\"message\": \"Dashboard title cannot be empty\"}",
                         0);
    struct out o;
    publish("db", &o);
    assert_int_equal(o.code, 0);
    assert_false(json_is_true(json_object_get(o.result, "retrying")));
    assert_non_null(strstr(sval(o.result, "error"), "title cannot be empty"));
    assert_string_equal(
        sval(json_array_get(smo_mock_requests(m), 0), "basic_user"), "admin");
    json_decref(o.result);
    size_t n = nreq();
    smo_mock_advance(m, 10000);
    assert_int_equal(nreq(), n);

    /* A publish waiting for a retry is dropped by the removal of the same
     * dashboard; removing what is not there succeeds. */
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 502, "", 0);
    publish("web", &o);
    const char *uid = sval(o.result, "uid");
    char path[200];
    snprintf(path, sizeof path, GRAF "/api/dashboards/uid/%s", uid);
    smo_mock_http_expect(m, "DELETE", path, 404,
                         "{\"message\": \"Dashboard not found\"}", 0);
    smo_status st;
    smo_status_clear(&st);
    struct out r = {0};
    assert_int_equal(OPS->dashboard_remove(st8, uid, on_done, &r, &st), 0);
    json_decref(o.result);
    smo_mock_run(m);
    assert_true(r.done);
    assert_int_equal(r.code, 0);
    assert_true(json_is_true(json_object_get(r.result, "removed")));
    json_decref(r.result);
    n = nreq();
    smo_mock_advance(m, 10000);
    assert_int_equal(nreq(), n); /* the superseded publish never runs */

    /* Removal while Grafana is down is retried. */
    memset(&r, 0, sizeof r);
    smo_mock_http_expect(m, "DELETE", GRAF "/api/dashboards/uid/", 0, NULL,
                         SMO_ETIMEDOUT);
    smo_mock_http_expect(m, "DELETE", GRAF "/api/dashboards/uid/", 200, "{}",
                         0);
    assert_int_equal(OPS->dashboard_remove(st8, "s-x-1", on_done, &r, &st), 0);
    smo_mock_run(m);
    assert_true(json_is_true(json_object_get(r.result, "retrying")));
    json_decref(r.result);
    smo_mock_advance(m, 1000);
    assert_int_equal(nreq(), n + 2);
    assert_true(smo_mock_log_contains(m, "s-x-1 removed after 2 attempts"));
    assert_int_equal(OPS->dashboard_remove(st8, "bad/uid", on_done, &r, &st),
                     SMO_EINVAL);
}

static void test_disabled_kind_and_stop(void **s)
{
    (void)s;
    make("{url: " GRAF ", dashboards: {cluster: false}, retry_interval: 1s}");
    json_t *spec = J("{\"kind\": \"cluster\", \"name\": \"edge\"}");
    struct out o = {0};
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(OPS->dashboard_publish(st8, spec, on_done, &o, &st),
                     SMO_SKIP);
    json_decref(spec);
    /* Queued retries are dropped at stop, with a warning. */
    smo_mock_http_expect(m, "POST", GRAF "/api/dashboards/db", 0, NULL,
                         SMO_EUNAVAIL);
    publish("db", &o);
    json_decref(o.result);
    bool done = false;
    P.stop(st8, stopped, &done);
    assert_true(done);
    assert_true(smo_mock_log_contains(m, "1 dashboard change still waiting"));
    size_t n = nreq();
    smo_mock_advance(m, 10000);
    assert_int_equal(nreq(), n);
    P.destroy(st8);
    st8 = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uids),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_dashboards),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_and_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_retried_and_removal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_disabled_kind_and_stop, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
