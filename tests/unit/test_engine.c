/* The engine in-process with real plugins (SQLite store, simulated
 * clusters, greedy solver, intent translator): the whole lifecycle of the
 * example graphs, the Helm values contract, alerts, failures and
 * convergence, capacity accounting across deploys. */
#include "smo_test.h"

#include "smo_engine.h"
#include "smo_rt.h"

static char *dir;
static struct smo_rt *rt;

#define CONF_TMPL                                                              \
    "engine: {plugin_path: [\"%s\"], log_level: warning,\n"                    \
    "         operations: {step_timeout: 20s}}\n"                              \
    "instances:\n"                                                             \
    "  - {kind: source, plugin: file, name: files}\n"                          \
    "  - {kind: translator, plugin: intent, name: intent}\n"                   \
    "  - {kind: store, plugin: sqlite, name: store}\n"                         \
    "  - {kind: solver, plugin: greedy, name: greedy}\n"                       \
    "  - kind: executor\n"                                                     \
    "    plugin: sim\n"                                                        \
    "    name: sim\n"                                                          \
    "    config:\n"                                                            \
    "      fail_releases: [%s]\n"                                              \
    "      clusters:\n"                                                        \
    "        - {name: small, cpu: 4, memory: 8Gi}\n"                           \
    "        - {name: gpu, cpu: 16, memory: 32Gi, gpu: 2}\n"                   \
    "        - {name: big, cpu: 8, memory: 16Gi, ready: %s}\n"

static void write_conf(const char *fail, const char *big_ready)
{
    char buf[2048];
    snprintf(buf, sizeof buf, CONF_TMPL, SMO_TEST_BUILTIN_PLUGIN_DIR, fail,
             big_ready);
    t_write(dir, "conf.yaml", buf);
}

static void start(void)
{
    rt = smo__rt_new(NULL, dir, dir);
    rt->log_override = SMO_LOG_WARN;
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    if (smo__rt_apply_config(rt, &e))
        fail_msg("config: %s", e.lines[0]);
    smo__errlist_free(&e);
    struct smo__engine *eng = smo__engine_new(rt);
    smo__engine_methods_register(rt);
    smo__engine_start(eng);
}

static bool stopped;
static void on_stopped(struct smo_rt *r)
{
    (void)r;
    stopped = true;
}

static void stop(void)
{
    stopped = false;
    smo__rt_shutdown(rt, on_stopped);
    assert_true(t_run_until(rt->loop, &stopped, 30000));
    smo__rt_free(rt);
    rt = NULL;
}

static int setup(void **state)
{
    (void)state;
    dir = t_mkdtemp();
    write_conf("", "true");
    start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (rt)
        stop();
    t_rm_rf(dir);
    free(dir);
    return 0;
}

struct res {
    bool done;
    int code;
    char msg[512];
    json_t *out;
};

static void on_reply(void *arg, const smo_status *st, json_t *result)
{
    struct res *r = arg;
    r->done = true;
    r->code = st->code;
    snprintf(r->msg, sizeof r->msg, "%s", st->msg);
    r->out = result;
}

static struct res call(const char *method, json_t *params)
{
    struct res r;
    memset(&r, 0, sizeof r);
    assert_int_equal(smo__call(&rt->core, method, params, on_reply, &r), 0);
    if (!t_run_until(rt->loop, (volatile bool *)&r.done, 30000))
        fail_msg("%s: no reply in 30 s", method);
    return r;
}

static char *example(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/../packaging/examples/hdag/%s",
             SMO_TEST_SRC_DIR, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0;
    getdelim(&buf, &cap, '\0', f);
    fclose(f);
    return buf;
}

static json_t *svc(json_t *graph, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(graph, "services"), i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "name")), name))
            return s;
    }
    fail_msg("no service %s", name);
    return NULL;
}

static const char *status_of(json_t *graph, const char *name)
{
    return json_string_value(json_object_get(svc(graph, name), "status"));
}

static json_t *get_graph(const char *name)
{
    struct res r = call("graph.get", json_pack("{s:s}", "name", name));
    if (r.code)
        fail_msg("graph.get %s: %s", name, r.msg);
    return r.out;
}

static json_t *releases(void)
{
    smo_instance *ex = smo__rt_first(rt, SMO_KIND_EXECUTOR);
    struct res r;
    memset(&r, 0, sizeof r);
    smo_status st;
    assert_int_equal(ex->plugin->ops.executor.releases(
                         ex->state, (smo_exec_cb)on_reply, &r, &st),
                     0);
    assert_true(t_run_until(rt->loop, (volatile bool *)&r.done, 5000));
    return r.out;
}

static struct res deploy(const char *project, const char *text)
{
    return call("graph.deploy", json_pack("{s:s, s:s, s:i}", "project", project,
                                          "text", text, "wait_ms", 20000));
}

static void test_lifecycle_and_values(void **state)
{
    (void)state;
    char *text = example("image-detection.yaml");
    struct res r = deploy("demo", text);
    assert_int_equal(r.code, 0);
    assert_string_equal(json_string_value(json_object_get(r.out, "state")),
                        "succeeded");
    json_decref(r.out);
    json_t *g = get_graph("image-detection-graph");
    assert_string_equal(json_string_value(json_object_get(g, "status")),
                        "Running");
    assert_string_equal(status_of(g, "image-compression-vo"), "Pending");
    assert_string_equal(status_of(g, "noise-reduction"), "Deployed");
    assert_string_equal(status_of(g, "image-detection"), "Deployed");
    /* The GPU service went where the GPU is. */
    assert_string_equal(json_string_value(json_object_get(
                            svc(g, "image-detection"), "cluster_affinity")),
                        "gpu");
    /* Values: clustersAffinity and serviceImportClusters, nested under
     * voChartOverwrite for the WOT service. */
    json_t *vo =
        json_object_get(svc(g, "image-compression-vo"), "values_overwrite");
    const char *vo_cluster = json_string_value(
        json_array_get(json_object_get(json_object_get(vo, "voChartOverwrite"),
                                       "clustersAffinity"),
                       0));
    assert_non_null(vo_cluster);
    assert_null(json_object_get(vo, "clustersAffinity"));
    json_t *nr = json_object_get(svc(g, "noise-reduction"), "values_overwrite");
    /* image-compression-vo connects to noise-reduction. */
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(nr, "serviceImportClusters"), 0)),
                        vo_cluster);
    assert_int_equal(
        json_array_size(json_object_get(nr, "serviceImportClusters")), 1);
    json_t *det =
        json_object_get(svc(g, "image-detection"), "values_overwrite");
    assert_int_equal(json_integer_value(json_object_get(det, "replicaCount")),
                     2);
    assert_true(
        json_is_number(json_object_get(svc(g, "image-detection"), "cpu")));
    json_decref(g);
    json_t *rel = releases();
    assert_int_equal(json_array_size(rel), 2);
    json_decref(rel);

    /* Stop, start, re-place, alert, remove. */
    r = call("graph.stop",
             json_pack("{s:s, s:i}", "name", "image-detection-graph", "wait_ms",
                       20000));
    assert_int_equal(r.code, 0);
    json_decref(r.out);
    g = get_graph("image-detection-graph");
    assert_string_equal(json_string_value(json_object_get(g, "status")),
                        "Stopped");
    assert_string_equal(status_of(g, "noise-reduction"), "Not deployed");
    json_decref(g);
    rel = releases();
    assert_int_equal(json_array_size(rel), 0);
    json_decref(rel);
    r = call("graph.stop", json_pack("{s:s}", "name", "image-detection-graph"));
    assert_int_equal(r.code, SMO_ESTATE);
    assert_string_equal(r.msg,
                        "graph image-detection-graph is already stopped");
    r = call("graph.start",
             json_pack("{s:s, s:i}", "name", "image-detection-graph", "wait_ms",
                       20000));
    assert_int_equal(r.code, 0);
    json_decref(r.out);
    g = get_graph("image-detection-graph");
    assert_string_equal(json_string_value(json_object_get(g, "status")),
                        "Running");
    assert_string_equal(status_of(g, "image-compression-vo"), "Pending");
    json_decref(g);
    r = call("graph.place",
             json_pack("{s:s, s:i}", "name", "image-detection-graph", "wait_ms",
                       20000));
    assert_int_equal(r.code, 0);
    json_decref(r.out);

    json_t *alert = json_pack("{s:[{s:s, s:{s:s, s:s, s:s, s:s}}]}", "alerts",
                              "status", "firing", "labels", "alertname", "x",
                              "service", "image-compression-vo", "graph",
                              "image-detection-graph", "project", "demo");
    r = call("alerts.receive", json_deep_copy(alert));
    assert_int_equal(r.code, 0);
    const char *opid = json_string_value(json_object_get(r.out, "id"));
    assert_non_null(opid);
    struct res w = call("operation.get",
                        json_pack("{s:s, s:i}", "id", opid, "wait_ms", 20000));
    assert_string_equal(json_string_value(json_object_get(w.out, "state")),
                        "succeeded");
    json_decref(w.out);
    json_decref(r.out);
    g = get_graph("image-detection-graph");
    assert_string_equal(status_of(g, "image-compression-vo"), "Deployed");
    json_decref(g);
    /* The same notification again changes nothing. */
    r = call("alerts.receive", alert);
    assert_int_equal(r.code, 0);
    assert_string_equal(json_string_value(json_object_get(r.out, "result")),
                        "unchanged");
    json_decref(r.out);
    rel = releases();
    assert_int_equal(json_array_size(rel), 3);
    json_decref(rel);

    r = call("graph.remove",
             json_pack("{s:s, s:i}", "name", "image-detection-graph", "wait_ms",
                       20000));
    assert_int_equal(r.code, 0);
    json_decref(r.out);
    r = call("graph.get", json_pack("{s:s}", "name", "image-detection-graph"));
    assert_int_equal(r.code, SMO_ENOENT);
    rel = releases();
    assert_int_equal(json_array_size(rel), 0);
    json_decref(rel);
    free(text);
}

static void test_bad_requests(void **state)
{
    (void)state;
    char *text = example("hello-world.yaml");
    struct res r = deploy("demo", text);
    assert_int_equal(r.code, 0);
    json_decref(r.out);
    r = deploy("demo", text);
    assert_int_equal(r.code, SMO_EEXIST);
    assert_string_equal(r.msg, "graph hello-world-graph already exists in "
                               "project demo (status Running); remove it "
                               "first");
    /* Another project may use the name. */
    r = deploy("other", text);
    assert_int_equal(r.code, 0);
    json_decref(r.out);
    r = call("graph.get", json_pack("{s:s}", "name", "hello-world-graph"));
    assert_int_equal(r.code, SMO_ECONFLICT);
    r = call("graph.get", json_pack("{s:s, s:s}", "name", "hello-world-graph",
                                    "project", "other"));
    assert_int_equal(r.code, 0);
    json_decref(r.out);
    r = deploy("Bad Project", text);
    assert_int_equal(r.code, SMO_EINVAL);
    r = call("graph.deploy",
             json_pack("{s:s, s:s}", "project", "demo", "text",
                       "hdaGraph:\n  id: g\n  services:\n    - id: a\n      "
                       "deployment: {intent: {compute: {cpu: huge}}}\n      "
                       "artifact: {ociImage: oci://r/p/a}\n"));
    assert_int_equal(r.code, SMO_EINVAL);
    assert_non_null(strstr(r.msg, "unknown class \"huge\""));
    assert_int_equal(json_array_size(json_object_get(r.out, "errors")), 1);
    json_decref(r.out);
    r = call("graph.list", json_pack("{s:s}", "project", "demo"));
    assert_int_equal(json_array_size(json_object_get(r.out, "graphs")), 1);
    json_decref(r.out);
    free(text);
}

static void test_failure_and_convergence(void **state)
{
    (void)state;
    stop();
    write_conf("image-detection", "true");
    start();
    char *text = example("image-detection.yaml");
    struct res r = deploy("demo", text);
    assert_int_equal(r.code, 0);
    assert_string_equal(json_string_value(json_object_get(r.out, "state")),
                        "failed");
    assert_non_null(strstr(json_string_value(json_object_get(r.out, "error")),
                           "injected failure"));
    json_decref(r.out);
    json_t *g = get_graph("image-detection-graph");
    assert_string_equal(json_string_value(json_object_get(g, "status")),
                        "Failed");
    assert_string_equal(status_of(g, "noise-reduction"), "Deployed");
    assert_string_equal(status_of(g, "image-detection"), "Failed");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(g, "installed"), 0)),
        "noise-reduction");
    json_decref(g);
    /* Fixed backend, same deploy again: it converges. */
    write_conf("", "true");
    struct smo__errlist e;
    smo__errlist_init(&e, 5);
    assert_int_equal(smo__rt_apply_config(rt, &e), 0);
    smo__errlist_free(&e);
    r = deploy("demo", text);
    assert_int_equal(r.code, 0);
    assert_string_equal(json_string_value(json_object_get(r.out, "state")),
                        "succeeded");
    json_decref(r.out);
    g = get_graph("image-detection-graph");
    assert_string_equal(json_string_value(json_object_get(g, "status")),
                        "Running");
    assert_null(json_object_get(g, "last_error"));
    json_decref(g);
    json_t *rel = releases();
    assert_int_equal(json_array_size(rel), 2);
    json_decref(rel);
    free(text);
}

/* Each deploy counts what the previous ones took: the fourth 4-core graph
 * does not fit (small 4 + gpu 16 + big is not ready = 20 cores). */
static void test_capacity_counted(void **state)
{
    (void)state;
    stop();
    write_conf("", "false");
    start();
    int ok = 0;
    for (int i = 0; i < 6; i++) {
        char doc[512];
        snprintf(doc, sizeof doc,
                 "hdaGraph:\n  id: g%d\n  services:\n    - id: a%d\n"
                 "      deployment: {intent: {compute: {cpu: medium}}}\n"
                 "      artifact: {ociImage: oci://r.local/p/a}\n",
                 i, i);
        struct res r = deploy("cap", doc);
        assert_int_equal(r.code, 0);
        const char *st = json_string_value(json_object_get(r.out, "state"));
        if (!strcmp(st, "succeeded"))
            ok++;
        else
            assert_non_null(
                strstr(json_string_value(json_object_get(r.out, "error")),
                       "no usable cluster has them free"));
        json_decref(r.out);
    }
    assert_int_equal(ok, 5); /* 4 cores each: one on small, four on gpu */
    /* Service names are per graph, but releases live in the project's
     * namespace: a second graph may not reuse one there. */
    struct res r = deploy("cap", "hdaGraph:\n  id: other\n  services:\n"
                                 "    - id: a0\n      deployment: {}\n"
                                 "      artifact: {ociImage: oci://r/p/a}\n");
    assert_int_equal(r.code, SMO_EEXIST);
    assert_string_equal(r.msg, "service a0 is already deployed by graph g0 "
                               "in project cap (Helm releases are named "
                               "after services in the project's namespace)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle_and_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_and_convergence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_capacity_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
