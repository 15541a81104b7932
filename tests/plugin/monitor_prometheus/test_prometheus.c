/* monitor_prometheus against the mock host: configuration checks, the
 * query request and its answers, the rules file (atomic write, reload,
 * rollback when Prometheus refuses, background retry when it is away,
 * one graph at a time) and the PrometheusRule read-modify-write
 * (creation, resourceVersion conflicts, token file). */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "prom.h"
#include "smo_errlist.h"
#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define P   smo_plugin_entry
#define OPS ((const struct smo_monitor_ops *)P.ops)

#define PROM "http://prom.test:9090"
#define KAPI "https://kube.test:6443"
#define OBJ                                                                    \
    KAPI "/apis/monitoring.coreos.com/v1/namespaces/monitoring/"               \
         "prometheusrules/smo-rules"

static struct smo_mock *m;
static char *dir;
static void *cfgs;
static json_t *cfgj;
static struct smo__prom *st8;

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
    void *s = NULL;
    r = P.create(h, smo_mock_self(m), cfgs, &s, st);
    st8 = s;
    return r;
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
    dir = t_mkdtemp();
    smo_mock_set_data_dir(m, dir);
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
    t_rm_rf(dir);
    free(dir);
    return 0;
}

struct out {
    bool done;
    int code;
    char msg[512];
    json_t *result;
};

static void on_done(void *arg, const smo_status *st, json_t *result)
{
    struct out *o = arg;
    assert_false(o->done); /* exactly one callback */
    o->done = true;
    o->code = st->code;
    snprintf(o->msg, sizeof o->msg, "%s", st->msg);
    o->result = result;
}

static void out_clear(struct out *o)
{
    json_decref(o->result);
    memset(o, 0, sizeof *o);
}

static json_t *last_request(void)
{
    json_t *r = smo_mock_requests(m);
    return json_array_get(r, json_array_size(r) - 1);
}

static const char *sval(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static double metric(smo_metric *mt)
{
    return json_real_value((json_t *)mt); /* the mock's representation */
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* ---------------------------------------------------------- config -- */

static void test_config_checks(void **s)
{
    (void)s;
    struct {
        const char *yaml, *needle;
    } bad[] = {
        {"{url: ftp://x}", "url"},
        {"{url: 'http://a b'}", "url"},
        {"{rules: {reload: true}}", "rules.reload needs url"},
        {"{url: " PROM ", rules: {labels: {graph: x}}}", "reserved"},
        {"{url: " PROM ", rules: {labels: {'1x': y}}}", "label name"},
        {"{url: " PROM ", rules: {file: ../../etc/x}}", "rules.file"},
        {"{rules: {mode: prometheusrule}}", "api_url"},
        {"{rules: {mode: prometheusrule}, prometheusrule: {api_url: " KAPI
         ", namespace: Bad_NS}}",
         "namespace"},
        {"{rules: {mode: prometheusrule}, prometheusrule: {api_url: " KAPI
         ", token: a, token_file: b}}",
         "give one"},
        {"{url: " PROM ", bearer_token: a, basic_user: b}", "one credential"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        smo_status st;
        int r = make_status(bad[i].yaml, &st);
        if (r != SMO_EINVAL || !strstr(st.msg, bad[i].needle))
            fail_msg("case %zu (%s): %d %s", i, bad[i].yaml, r, st.msg);
        free(cfgs);
        json_decref(cfgj);
        cfgs = NULL;
        cfgj = NULL;
    }
    /* Queries only, no rules: valid. */
    make("{url: " PROM ", rules: {mode: none}}");
}

/* ----------------------------------------------------------- query -- */

static void run_query(const char *expr, int64_t timeout, struct out *o)
{
    smo_status st;
    smo_status_clear(&st);
    memset(o, 0, sizeof *o);
    assert_int_equal(OPS->query(st8, expr, timeout, on_done, o, &st), 0);
    assert_false(o->done); /* never inside the call */
    smo_mock_run(m);
    assert_true(o->done);
}

static void test_query(void **s)
{
    (void)s;
    make("{url: '" PROM "/', bearer_token: sekret, query_timeout: 3s}");
    smo_mock_http_expect(
        m, "POST", PROM "/api/v1/query", 200,
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
        "\"result\":[{\"metric\":{\"service\":\"a b\"},\"value\":[1,"
        "\"12.5\"]}]}}",
        0);
    struct out o;
    run_query("sum(rate(x{service=\"a b\"}[30s])) by (service)", 0, &o);
    assert_int_equal(o.code, 0);
    json_t *r = last_request();
    assert_string_equal(sval(r, "url"), PROM "/api/v1/query");
    assert_string_equal(sval(r, "bearer"), "sekret");
    /* Form-encoded, with the timeout Prometheus applies itself. */
    assert_string_equal(sval(r, "body"),
                        "query=sum%28rate%28x%7Bservice%3D%22a%20b%22%7D%5B"
                        "30s%5D%29%29%20by%20%28service%29&timeout=3000ms");
    json_t *sm = json_array_get(json_object_get(o.result, "samples"), 0);
    assert_true(json_real_value(json_object_get(sm, "value")) == 12.5);
    out_clear(&o);
    assert_true(metric(st8->m_queries) == 1);

    /* Empty, NaN, errors, unreachable. */
    smo_mock_http_expect(m, "POST", PROM "/api/v1/query", 200,
                         "{\"status\":\"success\",\"data\":{\"resultType\":"
                         "\"vector\",\"result\":[]}}",
                         0);
    run_query("absent_metric", 250, &o);
    assert_int_equal(o.code, 0);
    assert_int_equal(json_array_size(json_object_get(o.result, "samples")), 0);
    assert_non_null(strstr(sval(last_request(), "body"), "timeout=250ms"));
    out_clear(&o);
    smo_mock_http_expect(m, "POST", PROM "/api/v1/query", 200,
                         "{\"status\":\"success\",\"data\":{\"resultType\":"
                         "\"scalar\",\"result\":[1,\"NaN\"]}}",
                         0);
    run_query("0/0", 0, &o);
    sm = json_array_get(json_object_get(o.result, "samples"), 0);
    assert_true(json_is_null(json_object_get(sm, "value")));
    assert_string_equal(sval(sm, "special"), "NaN");
    out_clear(&o);
    smo_mock_http_expect(m, "POST", PROM "/api/v1/query", 400,
                         "{\"status\":\"error\",\"errorType\":\"bad_data\","
                         "\"error\":\"1:5: parse error\"}",
                         0);
    run_query("sum(", 0, &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "parse error"));
    assert_null(o.result);
    out_clear(&o);
    smo_mock_http_expect(m, "POST", PROM "/api/v1/query", 0, NULL,
                         SMO_ETIMEDOUT);
    run_query("up", 0, &o);
    assert_int_equal(o.code, SMO_ETIMEDOUT);
    assert_non_null(strstr(o.msg, PROM));
    out_clear(&o);
    assert_true(metric(st8->m_queries) == 5);
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(OPS->query(st8, "", 0, on_done, &o, &st), SMO_EINVAL);
}

static void test_query_without_url(void **s)
{
    (void)s;
    make("{rules: {mode: none}}");
    smo_status st;
    smo_status_clear(&st);
    struct out o = {0};
    assert_int_equal(OPS->query(st8, "up", 0, on_done, &o, &st), SMO_EUNAVAIL);
    assert_false(o.done);
    /* rules disabled: the step is skipped with a reason. */
    json_t *rules = json_array();
    assert_int_equal(OPS->rules_set(st8, "p", "g", rules, on_done, &o, &st),
                     SMO_SKIP);
    assert_non_null(strstr(st.msg, "POST /alerts"));
    json_decref(rules);
}

/* ------------------------------------------------------ rules file -- */

static json_t *engine_rules(const char *graph, const char *svc,
                            const char *expr)
{
    char name[256];
    snprintf(name, sizeof name, "%s-%s-hot", graph, svc);
    return json_pack("[{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, "
                     "s:{s:s, s:s}}]",
                     "name", name, "expr", expr, "for", "1m", "labels", "graph",
                     graph, "project", "p", "service", svc, "event", "hot",
                     "condition", "ANY", "annotations", "summary", "s",
                     "description", "d");
}

static void set_rules(const char *graph, json_t *rules, struct out *o)
{
    smo_status st;
    smo_status_clear(&st);
    memset(o, 0, sizeof *o);
    int r = OPS->rules_set(st8, "p", graph, rules, on_done, o, &st);
    json_decref(rules);
    if (r)
        fail_msg("rules_set: %s", st.msg);
    assert_false(o->done);
}

static char *rules_path(void)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/prom/rules.yml", dir) > 0);
    return p;
}

static json_t *file_groups(void)
{
    char *p = rules_path();
    char *text = slurp(p);
    free(p);
    assert_non_null(text);
    json_t *d = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(d);
    json_t *g = json_incref(json_object_get(d, "groups"));
    json_decref(d);
    return g;
}

#define FILE_CFG                                                               \
    "{url: " PROM ", basic_user: u, basic_password: pw, "                      \
    "rules: {file: prom/rules.yml, reload_retry: 5s, labels: {severity: x}}}"

static void test_file_write_and_reload(void **s)
{
    (void)s;
    make(FILE_CFG);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    struct out a, b;
    /* Two graphs at once: their read-modify-writes do not interleave. */
    set_rules("ga", engine_rules("ga", "db", "up > 1"), &a);
    set_rules("gb", engine_rules("gb", "db", "up > 2"), &b);
    smo_mock_run(m);
    assert_true(a.done && b.done);
    assert_int_equal(a.code, 0);
    assert_int_equal(b.code, 0);
    assert_true(json_is_true(json_object_get(a.result, "reloaded")));
    assert_string_equal(sval(a.result, "group"), "smo/p/ga");
    json_t *g = file_groups();
    assert_int_equal(json_array_size(g), 2);
    json_t *r0 =
        json_array_get(json_object_get(json_array_get(g, 0), "rules"), 0);
    assert_string_equal(sval(r0, "alert"), "ga-db-hot");
    assert_string_equal(sval(json_object_get(r0, "labels"), "severity"), "x");
    json_decref(g);
    json_t *req = last_request();
    assert_string_equal(sval(req, "basic_user"), "u");
    out_clear(&a);
    out_clear(&b);

    /* The same rules again: nothing written, no reload. */
    size_t nreq = json_array_size(smo_mock_requests(m));
    set_rules("ga", engine_rules("ga", "db", "up > 1"), &a);
    smo_mock_run(m);
    assert_int_equal(a.code, 0);
    assert_false(json_is_true(json_object_get(a.result, "changed")));
    assert_int_equal(json_array_size(smo_mock_requests(m)), nreq);
    out_clear(&a);

    /* Removal touches only that graph's group. */
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    set_rules("ga", json_array(), &a);
    smo_mock_run(m);
    assert_int_equal(a.code, 0);
    g = file_groups();
    assert_int_equal(json_array_size(g), 1);
    assert_string_equal(sval(json_array_get(g, 0), "name"), "smo/p/gb");
    json_decref(g);
    out_clear(&a);
    assert_true(metric(st8->m_reloads) == 3);
}

static void test_file_rollback_when_refused(void **s)
{
    (void)s;
    make(FILE_CFG);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    struct out o;
    set_rules("ga", engine_rules("ga", "db", "up > 1"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    out_clear(&o);
    char *p = rules_path();
    char *before = slurp(p);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 500,
                         "failed to reload config: one or more errors "
                         "occurred while applying the new configuration\n",
                         0);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    set_rules("gb", engine_rules("gb", "db", "sum(rate("), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "refused"));
    assert_non_null(strstr(o.msg, "HTTP 500"));
    assert_non_null(strstr(o.msg, "restored"));
    char *after = slurp(p);
    assert_string_equal(before, after);
    free(before);
    free(after);
    out_clear(&o);

    /* A first write that is refused leaves no file behind. */
    t_rm_rf(dir);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 403,
                         "Lifecycle API is not enabled.", 0);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 403, "", 0);
    set_rules("gc", engine_rules("gc", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "Lifecycle API"));
    assert_null(slurp(p));
    free(p);
    out_clear(&o);
}

static void test_file_prometheus_away(void **s)
{
    (void)s;
    make(FILE_CFG);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 0, NULL, SMO_EUNAVAIL);
    struct out o;
    set_rules("ga", engine_rules("ga", "db", "up > 1"), &o);
    smo_mock_run(m);
    /* Written; Prometheus reads it when it comes back. */
    assert_int_equal(o.code, 0);
    assert_false(json_is_true(json_object_get(o.result, "reloaded")));
    assert_non_null(strstr(sval(o.result, "note"), "unreachable"));
    json_t *g = file_groups();
    assert_int_equal(json_array_size(g), 1);
    json_decref(g);
    out_clear(&o);
    assert_int_equal(json_array_size(smo_mock_events(m)), 1);
    /* Retried in the background until it answers. */
    size_t n = json_array_size(smo_mock_requests(m));
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 0, NULL, SMO_EUNAVAIL);
    smo_mock_advance(m, 5000);
    assert_int_equal(json_array_size(smo_mock_requests(m)), n + 1);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    smo_mock_advance(m, 5000);
    assert_int_equal(json_array_size(smo_mock_requests(m)), n + 2);
    assert_false(st8->reload_pending);
    smo_mock_advance(m, 60000);
    assert_int_equal(json_array_size(smo_mock_requests(m)), n + 2);
}

static void test_file_not_ours(void **s)
{
    (void)s;
    make(FILE_CFG);
    char *sub = NULL;
    assert_true(asprintf(&sub, "%s/prom", dir) > 0);
    mkdir(sub, 0755);
    t_write(sub, "rules.yml", "groups: [unclosed\n");
    free(sub);
    struct out o;
    set_rules("ga", engine_rules("ga", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_EPROTO);
    assert_non_null(strstr(o.msg, "fix or remove it"));
    out_clear(&o);
    /* A hand-written YAML file is read and kept (other groups too). */
    sub = NULL;
    assert_true(asprintf(&sub, "%s/prom", dir) > 0);
    t_write(sub, "rules.yml",
            "groups:\n  - name: mine\n    rules:\n      - alert: X\n"
            "        expr: up == 0\n");
    free(sub);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    set_rules("ga", engine_rules("ga", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    json_t *g = file_groups();
    assert_int_equal(json_array_size(g), 2);
    assert_string_equal(sval(json_array_get(g, 0), "name"), "mine");
    json_decref(g);
    out_clear(&o);
}

/* -------------------------------------------------- PrometheusRule -- */

static void write_token(const char *t)
{
    t_write(dir, "tok", t);
}

static void make_crd(void)
{
    write_token("tok-1\n");
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{rules: {mode: prometheusrule}, prometheusrule: {api_url: " KAPI
             ", token_file: %s/tok, conflict_retries: 1, labels: {release: "
             "kps}}}",
             dir);
    make(cfg);
}

static void test_crd_create_and_update(void **s)
{
    (void)s;
    make_crd();
    smo_mock_http_expect(m, "GET", OBJ, 404,
                         "{\"kind\":\"Status\",\"code\":404,\"reason\":"
                         "\"NotFound\"}",
                         0);
    smo_mock_http_expect(m, "POST",
                         KAPI
                         "/apis/monitoring.coreos.com/v1/namespaces/monitoring/"
                         "prometheusrules",
                         201, "{}", 0);
    struct out o;
    set_rules("ga", engine_rules("ga", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    json_t *req = last_request();
    assert_string_equal(sval(req, "bearer"), "tok-1");
    json_t *body = json_loads(sval(req, "body"), 0, NULL);
    assert_string_equal(sval(body, "kind"), "PrometheusRule");
    assert_string_equal(
        sval(json_object_get(json_object_get(body, "metadata"), "labels"),
             "release"),
        "kps");
    json_t *grp = json_array_get(
        json_object_get(json_object_get(body, "spec"), "groups"), 0);
    assert_string_equal(sval(grp, "name"), "smo-alerts");
    assert_string_equal(
        sval(json_array_get(json_object_get(grp, "rules"), 0), "alert"),
        "ga-db-hot");
    json_decref(body);
    out_clear(&o);

    /* Update: the PUT carries the resourceVersion that was read; a
     * conflict reads again; the token file is read again (rotated). */
    write_token("tok-2");
#define OBJ_AT(rv)                                                             \
    "{\"apiVersion\":\"monitoring.coreos.com/v1\",\"kind\":"                   \
    "\"PrometheusRule\",\"metadata\":{\"name\":\"smo-rules\","                 \
    "\"namespace\":\"monitoring\",\"resourceVersion\":\"" rv "\"},"            \
    "\"spec\":{\"groups\":[{\"name\":\"smo-alerts\",\"rules\":[{\"alert\":"    \
    "\"foreign\",\"expr\":\"up\"}]}]}}"
    const char *b1 = OBJ_AT("7"), *b2 = OBJ_AT("9");
    smo_mock_http_expect(m, "GET", OBJ, 200, b1, 0);
    smo_mock_http_expect(m, "PUT", OBJ, 409,
                         "{\"kind\":\"Status\",\"code\":409,\"reason\":"
                         "\"Conflict\",\"message\":\"the object has been "
                         "modified\"}",
                         0);
    smo_mock_http_expect(m, "GET", OBJ, 200, b2, 0);
    smo_mock_http_expect(m, "PUT", OBJ, 200, "{}", 0);
    set_rules("gb", engine_rules("gb", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    assert_int_equal(json_integer_value(json_object_get(o.result, "attempts")),
                     2);
    req = last_request();
    assert_string_equal(sval(req, "method"), "PUT");
    assert_string_equal(sval(req, "bearer"), "tok-2");
    body = json_loads(sval(req, "body"), 0, NULL);
    assert_string_equal(
        sval(json_object_get(body, "metadata"), "resourceVersion"), "9");
    json_t *rules = json_object_get(
        json_array_get(json_object_get(json_object_get(body, "spec"), "groups"),
                       0),
        "rules");
    assert_int_equal(json_array_size(rules), 2);
    assert_string_equal(sval(json_array_get(rules, 0), "alert"), "foreign");
    json_decref(body);
    out_clear(&o);

    /* Conflicts beyond conflict_retries fail the step. */
    smo_mock_http_expect(m, "GET", OBJ, 200, b1, 0);
    smo_mock_http_expect(m, "PUT", OBJ, 409, "{\"message\":\"modified\"}", 0);
    smo_mock_http_expect(m, "GET", OBJ, 200, b1, 0);
    smo_mock_http_expect(m, "PUT", OBJ, 409, "{\"message\":\"modified\"}", 0);
    set_rules("gc", engine_rules("gc", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_ECONFLICT);
    assert_non_null(strstr(o.msg, "2 attempts"));
    out_clear(&o);

    /* Permission problems say which object and why. */
    smo_mock_http_expect(m, "GET", OBJ, 403,
                         "{\"kind\":\"Status\",\"message\":\"prometheusrules "
                         "is forbidden: User cannot get\"}",
                         0);
    set_rules("gd", engine_rules("gd", "db", "up"), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_EPERM);
    assert_non_null(strstr(o.msg, "monitoring/smo-rules"));
    assert_non_null(strstr(o.msg, "forbidden"));
    out_clear(&o);

    /* Removing from an object that does not exist is done. */
    smo_mock_http_expect(m, "GET", OBJ, 404, "{}", 0);
    set_rules("gd", json_array(), &o);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    out_clear(&o);
}

static void test_stop_drains(void **s)
{
    (void)s;
    make(FILE_CFG);
    smo_mock_http_expect(m, "POST", PROM "/-/reload", 200, "", 0);
    struct out o;
    set_rules("ga", engine_rules("ga", "db", "up"), &o);
    bool done = false;
    P.stop(st8, stopped, &done);
    assert_false(done); /* a change is in flight */
    smo_mock_run(m);
    assert_true(done);
    assert_true(o.done);
    assert_int_equal(o.code, 0);
    out_clear(&o);
    smo_status st;
    smo_status_clear(&st);
    json_t *r = json_array();
    assert_int_equal(OPS->rules_set(st8, "p", "g", r, on_done, &o, &st),
                     SMO_EUNAVAIL);
    json_decref(r);
    P.destroy(st8);
    st8 = NULL;
    assert_int_equal(smo_mock_mem_in_use(m), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_without_url, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_write_and_reload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_rollback_when_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_prometheus_away, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_not_ours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crd_create_and_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_drains, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
