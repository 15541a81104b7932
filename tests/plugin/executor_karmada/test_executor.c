/* executor_karmada against the mock host: the requests it sends (URLs,
 * credentials, bodies), helm's argv and how helm's results become step
 * results, replicas in the project's namespace, retries and error
 * mapping, readiness events, re-placement, periodic sync, draining. */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "karmada.h"
#include "smo_errlist.h"
#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define P   smo_plugin_entry
#define OPS ((const struct smo_executor_ops *)P.ops)

#define CLUSTERS                                                               \
    "https://karmada.test:5443/apis/cluster.karmada.io/v1alpha1/clusters"
#define API "https://karmada.test:5443"

static struct smo_mock *m;
static char *dir;
static void *cfgs;
static json_t *cfgj;
static void *st8;
static char *fixture;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void write_kubeconfig(const char *name, const char *user_yaml)
{
    char text[2048];
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
             "clusters:\n- name: karmada\n  cluster:\n"
             "    server: https://karmada.test:5443\n"
             "    certificate-authority: ca.pem\n"
             "users:\n- name: smo\n  user:\n%s\n"
             "contexts:\n- name: k\n  context: {cluster: karmada, user: smo}\n",
             user_yaml);
    t_write(dir, name, text);
}

static int make_status(const char *extra, smo_status *st)
{
    const struct smo_host *h = smo_mock_host(m);
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "{kubeconfig: %s/kc.yaml%s%s}", dir,
             extra && *extra ? ", " : "", extra ? extra : "");
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
    st8 = NULL;
    r = P.create(h, smo_mock_self(m), cfgs, &st8, st);
    if (!r)
        r = P.start(st8, st);
    return r;
}

static void make(const char *extra)
{
    smo_status st;
    int r = make_status(extra, &st);
    if (r)
        fail_msg("create: %s", st.msg);
}

static int setup(void **state)
{
    (void)state;
    m = smo_mock_new();
    dir = t_mkdtemp();
    smo_mock_set_data_dir(m, dir);
    t_write(dir, "token", "tok-1\n");
    write_kubeconfig("kc.yaml", "    tokenFile: token");
    if (!fixture)
        fixture = slurp(SMO_TEST_SRC_DIR "/fixtures/karmada/clusters.json");
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

static json_t *last(json_t *arr)
{
    return json_array_get(arr, json_array_size(arr) - 1);
}

static const char *sval(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ------------------------------------------------------- inventory -- */

/* The fixture with one cluster's Ready condition replaced. */
static char *with_ready(const char *cluster, bool ready)
{
    json_t *d = json_loads(fixture, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(d, "items"), i, it)
    {
        if (strcmp(sval(json_object_get(it, "metadata"), "name"), cluster))
            continue;
        json_t *c = json_array_get(
            json_object_get(json_object_get(it, "status"), "conditions"), 0);
        json_object_set_new(c, "status", json_string(ready ? "True" : "False"));
        json_object_set_new(c, "reason", json_string("ClusterNotReachable"));
        json_object_set_new(c, "message",
                            json_string("cluster is not reachable"));
    }
    char *s = json_dumps(d, 0);
    json_decref(d);
    return s;
}

static void inventory(struct out *o)
{
    smo_status st;
    smo_status_clear(&st);
    memset(o, 0, sizeof *o);
    assert_int_equal(OPS->inventory(st8, on_done, o, &st), 0);
    assert_false(o->done); /* never inside the call */
    smo_mock_run(m);
    assert_true(o->done);
}

static size_t events_of(const char *type)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(smo_mock_events(m), i, e) n +=
        !strcmp(sval(e, "type"), type);
    return n;
}

static void test_inventory_and_events(void **state)
{
    (void)state;
    make(NULL);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    smo_status st;
    struct out a = {0}, b = {0};
    /* Two callers while the list is on the wire: one request. */
    assert_int_equal(OPS->inventory(st8, on_done, &a, &st), 0);
    assert_int_equal(OPS->inventory(st8, on_done, &b, &st), 0);
    smo_mock_run(m);
    assert_true(a.done && b.done);
    assert_int_equal(a.code, 0);
    assert_int_equal(json_array_size(smo_mock_requests(m)), 1);
    json_t *req = last(smo_mock_requests(m));
    assert_string_equal(sval(req, "url"), CLUSTERS);
    assert_string_equal(sval(req, "bearer"), "tok-1"); /* from tokenFile */
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(req, "headers"), 0)),
        "Accept: application/json");
    assert_int_equal(json_array_size(a.result), 4);
    assert_int_equal(json_array_size(b.result), 4);
    assert_true(a.result != b.result); /* each caller owns its copy */
    assert_int_equal(json_array_size(smo_mock_events(m)), 0);
    out_clear(&a);
    out_clear(&b);

    char *down = with_ready("member2", false);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, down, 0);
    inventory(&a);
    assert_int_equal(a.code, 0);
    assert_int_equal(events_of("cluster.not_ready"), 1);
    json_t *ev = last(smo_mock_events(m));
    assert_string_equal(sval(json_object_get(ev, "data"), "cluster"),
                        "member2");
    assert_string_equal(sval(json_object_get(ev, "data"), "reason"),
                        "Ready=False: ClusterNotReachable: cluster is not "
                        "reachable");
    assert_true(smo_mock_log_contains(m, "cluster member2 is NotReady"));
    out_clear(&a);
    /* Still down: no new event. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, down, 0);
    inventory(&a);
    assert_int_equal(events_of("cluster.not_ready"), 1);
    out_clear(&a);
    free(down);

    /* Back, and one cluster gone. */
    json_t *d = json_loads(fixture, 0, NULL);
    json_array_remove(json_object_get(d, "items"), 0);
    char *less = json_dumps(d, 0);
    json_decref(d);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, less, 0);
    inventory(&a);
    free(less);
    assert_int_equal(events_of("cluster.ready"), 1);
    assert_int_equal(events_of("cluster.removed"), 1);
    assert_int_equal(json_array_size(a.result), 3);
    out_clear(&a);
}

static void test_api_errors(void **state)
{
    (void)state;
    make("retry: {attempts: 3, backoff: 500ms}");
    struct out o;
    /* 503 twice, then an answer: the backoff doubles between tries. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 503,
                         "{\"kind\":\"Status\",\"message\":\"etcd leader "
                         "changed\"}",
                         0);
    smo_mock_http_expect(m, "GET", CLUSTERS, 503, "", 0);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    smo_status st;
    memset(&o, 0, sizeof o);
    assert_int_equal(OPS->inventory(st8, on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_false(o.done);
    assert_int_equal(json_array_size(smo_mock_requests(m)), 1);
    smo_mock_advance(m, 499);
    assert_int_equal(json_array_size(smo_mock_requests(m)), 1);
    smo_mock_advance(m, 1);
    assert_int_equal(json_array_size(smo_mock_requests(m)), 2);
    smo_mock_advance(m, 999);
    assert_false(o.done);
    smo_mock_advance(m, 1);
    assert_true(o.done);
    assert_int_equal(o.code, 0);
    out_clear(&o);

    /* Every try fails: the last answer, the API's message. */
    for (int i = 0; i < 3; i++)
        smo_mock_http_expect(m, "GET", CLUSTERS, 503,
                             "{\"kind\":\"Status\",\"message\":\"etcd leader "
                             "changed\"}",
                             0);
    memset(&o, 0, sizeof o);
    assert_int_equal(OPS->inventory(st8, on_done, &o, &st), 0);
    smo_mock_run(m);
    smo_mock_advance(m, 10000);
    assert_true(o.done);
    assert_int_equal(o.code, SMO_EUNAVAIL);
    assert_string_equal(o.msg,
                        "Karmada API https://karmada.test:5443: GET "
                        "/apis/cluster.karmada.io/v1alpha1/clusters: 503 "
                        "Service Unavailable: etcd leader changed (every try "
                        "failed)");
    out_clear(&o);

    /* Not retried: 403 (RBAC), 404 (not Karmada), TLS. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 403,
                         "{\"kind\":\"Status\",\"message\":\"clusters.cluster."
                         "karmada.io is forbidden: User \\\"smo\\\" cannot "
                         "list resource\"}",
                         0);
    inventory(&o);
    assert_int_equal(o.code, SMO_EACCES);
    assert_non_null(strstr(o.msg, "403 Forbidden: clusters.cluster.karmada.io "
                                  "is forbidden: User \"smo\" cannot list"));
    assert_non_null(strstr(o.msg, "docs/operations/karmada.md"));
    out_clear(&o);
    smo_mock_http_expect(m, "GET", CLUSTERS, 404,
                         "{\"kind\":\"Status\",\"message\":\"the server could "
                         "not find the requested resource\"}",
                         0);
    inventory(&o);
    assert_int_equal(o.code, SMO_ENOENT);
    assert_non_null(strstr(o.msg, "is this a Karmada API server?"));
    out_clear(&o);
    smo_mock_http_expect(m, "GET", CLUSTERS, 0, NULL, SMO_EPROTO);
    inventory(&o);
    assert_int_equal(o.code, SMO_EPROTO);
    assert_non_null(strstr(o.msg, "TLS or protocol failure"));
    assert_non_null(strstr(o.msg, "certificate-authority"));
    out_clear(&o);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, "<html>", 0);
    inventory(&o);
    assert_int_equal(o.code, SMO_EPROTO);
    assert_non_null(strstr(o.msg, "answer is not JSON"));
    out_clear(&o);
    /* A timeout is retried like a 503. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 0, NULL, SMO_ETIMEDOUT);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    memset(&o, 0, sizeof o);
    assert_int_equal(OPS->inventory(st8, on_done, &o, &st), 0);
    smo_mock_run(m);
    smo_mock_advance(m, 500);
    assert_true(o.done);
    assert_int_equal(o.code, 0);
    out_clear(&o);
}

static void test_token_file_reread_on_401(void **state)
{
    (void)state;
    make(NULL);
    smo_mock_http_expect(m, "GET", CLUSTERS, 401,
                         "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}",
                         0);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    t_write(dir, "token", "tok-2\n"); /* rotated after create */
    struct out o;
    inventory(&o);
    assert_int_equal(o.code, 0);
    assert_string_equal(sval(json_array_get(smo_mock_requests(m), 0), "bearer"),
                        "tok-1");
    assert_string_equal(sval(json_array_get(smo_mock_requests(m), 1), "bearer"),
                        "tok-2");
    out_clear(&o);
    /* Refused again after the re-read: a clear failure, once. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 401,
                         "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}",
                         0);
    smo_mock_http_expect(m, "GET", CLUSTERS, 401,
                         "{\"kind\":\"Status\",\"message\":\"Unauthorized\"}",
                         0);
    inventory(&o);
    assert_int_equal(o.code, SMO_EACCES);
    assert_non_null(strstr(o.msg, "401 Unauthorized: Unauthorized (the "
                                  "credentials of user \"smo\""));
    out_clear(&o);
}

/* ------------------------------------------------------------ helm -- */

static const char *arg(const json_t *argv, size_t i)
{
    return json_string_value(json_array_get(argv, i));
}

static void install(const char *chart, const char *version, struct out *o)
{
    json_t *values =
        json_pack("{s:i, s:[s], s:[]}", "replicaCount", 2, "clustersAffinity",
                  "member1", "serviceImportClusters");
    struct smo_release rel = {.size = sizeof rel,
                              .project = "demo",
                              .graph = "g",
                              .name = "noise-reduction",
                              .chart = chart,
                              .version = version,
                              .values = values,
                              .cluster = "member1",
                              .replicas = 2};
    smo_status st;
    smo_status_clear(&st);
    memset(o, 0, sizeof *o);
    int r = OPS->install(st8, &rel, on_done, o, &st);
    json_decref(values);
    if (r) {
        o->done = true;
        o->code = r;
        snprintf(o->msg, sizeof o->msg, "%s", st.msg);
        return;
    }
    assert_false(o->done);
    smo_mock_run(m);
    assert_true(o->done);
}

static void test_helm_install_argv_and_result(void **state)
{
    (void)state;
    make("context: k, helm: {plain_http: true, registry_config: /etc/smo/"
         "registry.json}");
    smo_mock_spawn_expect(m, "helm", 0,
                          "Release \"noise-reduction\" does not exist. "
                          "Installing it now.\nNAME: noise-reduction\n"
                          "STATUS: deployed\nREVISION: 1\n",
                          "");
    struct out o;
    install("oci://127.0.0.1:5000/demo/noise-reduction", "1.2.0", &o);
    assert_int_equal(o.code, 0);
    json_t *argv = json_object_get(last(smo_mock_spawns(m)), "argv");
    char kc[600], values[600];
    snprintf(kc, sizeof kc, "%s/kc.yaml", dir);
    snprintf(values, sizeof values, "%s/karmada-mock/", dir);
    const char *want[] = {"helm",
                          "upgrade",
                          "--install",
                          "noise-reduction",
                          "oci://127.0.0.1:5000/demo/noise-reduction",
                          "--namespace",
                          "demo",
                          "--create-namespace",
                          "--kubeconfig",
                          kc,
                          "--kube-context",
                          "k",
                          "--values",
                          NULL /* the file */,
                          "--plain-http",
                          "--version",
                          "1.2.0",
                          "--registry-config",
                          "/etc/smo/registry.json",
                          "--wait=false"};
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(json_array_size(argv), n);
    for (size_t i = 0; i < n; i++)
        if (want[i])
            assert_string_equal(arg(argv, i), want[i]);
    /* A private file in the data directory, gone once helm is done. */
    const char *vf = arg(argv, 13);
    assert_int_equal(strncmp(vf, values, strlen(values)), 0);
    assert_int_not_equal(access(vf, F_OK), 0);
    struct stat sb;
    assert_int_equal(stat(values, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* The step's record: helm's output and the revision. */
    assert_string_equal(sval(o.result, "release"), "demo/noise-reduction");
    assert_string_equal(sval(o.result, "cluster"), "member1");
    assert_int_equal(json_integer_value(json_object_get(o.result, "revision")),
                     1);
    assert_non_null(strstr(sval(o.result, "stdout"), "STATUS: deployed"));
    out_clear(&o);

    /* Static placement: no cluster, no values; the chart decides. */
    smo_mock_spawn_expect(m, "helm", 0, "REVISION: 2\n", "");
    struct smo_release rel = {.size = sizeof rel,
                              .project = "demo",
                              .name = "noise-reduction",
                              .chart = "oci://r/noise-reduction"};
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(OPS->install(st8, &rel, on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    assert_null(json_object_get(o.result, "cluster"));
    assert_int_equal(json_integer_value(json_object_get(o.result, "revision")),
                     2);
    out_clear(&o);
}

static void test_helm_failures(void **state)
{
    (void)state;
    make(NULL);
    struct out o;
    smo_mock_spawn_expect(m, "helm", 1, "",
                          "Error: INSTALLATION FAILED: failed to do request: "
                          "Head \"https://127.0.0.1:5000/v2/demo/"
                          "noise-reduction/manifests/latest\": http: server "
                          "gave HTTP response to HTTPS client\n");
    install("oci://127.0.0.1:5000/demo/noise-reduction", NULL, &o);
    assert_int_equal(o.code, SMO_EEXTERNAL);
    assert_string_equal(
        o.msg, "helm upgrade --install demo/noise-reduction (namespace demo) "
               "failed (exit status 1): Error: INSTALLATION FAILED: failed to "
               "do request: Head \"https://127.0.0.1:5000/v2/demo/"
               "noise-reduction/manifests/latest\": http: server gave HTTP "
               "response to HTTPS client");
    assert_non_null(strstr(sval(o.result, "stderr"), "INSTALLATION FAILED"));
    assert_int_equal(
        json_integer_value(json_object_get(o.result, "exit_status")), 1);
    json_t *argv = json_object_get(last(smo_mock_spawns(m)), "argv");
    /* No --version, no --plain-http unless configured. */
    assert_string_equal(arg(argv, json_array_size(argv) - 1), "--wait=false");
    assert_int_not_equal(access(arg(argv, 11), F_OK), 0);
    out_clear(&o);

    /* helm is not installed. */
    install("oci://r/c", NULL, &o);
    assert_int_equal(o.code, SMO_EUNAVAIL);
    assert_non_null(strstr(o.msg, "cannot run \"helm\": program not found"));
    out_clear(&o);

    /* Nothing that could be read as a flag ever reaches helm. */
    size_t spawns = json_array_size(smo_mock_spawns(m));
    install("--set=image=evil", NULL, &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "must not start with '-'"));
    install("oci://r/c x", NULL, &o);
    assert_int_equal(o.code, SMO_EINVAL);
    install("oci://r/c", "-1", &o);
    assert_int_equal(o.code, SMO_EINVAL);
    smo_status st;
    assert_int_equal(OPS->uninstall(st8, "demo", "-rf", on_done, &o, &st),
                     SMO_EINVAL);
    assert_int_equal(OPS->uninstall(st8, "Demo", "x", on_done, &o, &st),
                     SMO_EINVAL);
    assert_int_equal(OPS->uninstall(st8, "demo",
                                    "a23456789012345678901234567890"
                                    "123456789012345678901234",
                                    on_done, &o, &st),
                     SMO_EINVAL);
    assert_non_null(strstr(st.msg, "longer than 53"));
    assert_int_equal(json_array_size(smo_mock_spawns(m)), spawns);
}

static void test_uninstall(void **state)
{
    (void)state;
    make(NULL);
    smo_status st;
    struct out o = {0};
    smo_mock_spawn_expect(m, "helm", 0, "release \"x\" uninstalled\n", "");
    assert_int_equal(OPS->uninstall(st8, "demo", "x", on_done, &o, &st), 0);
    assert_false(o.done);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    json_t *argv = json_object_get(last(smo_mock_spawns(m)), "argv");
    char kc[600];
    snprintf(kc, sizeof kc, "%s/kc.yaml", dir);
    const char *want[] = {"helm", "uninstall",    "x", "--namespace",
                          "demo", "--kubeconfig", kc};
    assert_int_equal(json_array_size(argv), 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(arg(argv, i), want[i]);
    out_clear(&o);
    /* Not there: success (idempotent), said so. */
    smo_mock_spawn_expect(m, "helm", 1, "",
                          "Error: uninstall: Release not loaded: x: release: "
                          "not found\n");
    assert_int_equal(OPS->uninstall(st8, "demo", "x", on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    assert_string_equal(sval(o.result, "note"), "not installed");
    out_clear(&o);
    smo_mock_spawn_expect(m, "helm", 1, "",
                          "Error: Kubernetes cluster unreachable: Get "
                          "\"https://k/version\": dial tcp: refused\n");
    assert_int_equal(OPS->uninstall(st8, "demo", "x", on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_EEXTERNAL);
    assert_non_null(strstr(o.msg, "helm uninstall demo/x (namespace demo) "
                                  "failed (exit status 1): Error: Kubernetes "
                                  "cluster unreachable"));
    out_clear(&o);
}

/* -------------------------------------------------------- replicas -- */

static void test_replicas(void **state)
{
    (void)state;
    make("replicas: {deployments: {shop/api-backend: backend-main}}");
    smo_status st;
    struct out o = {0};
    /* Found by its release label, in the project's namespace. */
    smo_mock_http_expect(
        m, "GET",
        API "/apis/apps/v1/namespaces/shop/deployments?labelSelector="
            "app.kubernetes.io%2Finstance%3Dweb-frontend",
        200,
        "{\"kind\":\"DeploymentList\",\"items\":[{\"metadata\":{\"name\":"
        "\"web-frontend-frontend-chart\"},\"spec\":{\"replicas\":1},"
        "\"status\":{\"availableReplicas\":1}}]}",
        0);
    smo_mock_http_expect(
        m, "PATCH",
        API "/apis/apps/v1/namespaces/shop/deployments/"
            "web-frontend-frontend-chart/scale",
        200,
        "{\"kind\":\"Scale\",\"spec\":{\"replicas\":3},\"status\":"
        "{\"replicas\":1}}",
        0);
    assert_int_equal(
        OPS->replicas_set(st8, "shop", "web-frontend", 3, on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    json_t *patch = last(smo_mock_requests(m));
    assert_string_equal(sval(patch, "method"), "PATCH");
    assert_string_equal(sval(patch, "body"), "{\"spec\":{\"replicas\":3}}");
    bool ctype = false;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(patch, "headers"), i, h) ctype =
        ctype || !strcmp(json_string_value(h),
                         "Content-Type: application/merge-patch+json");
    assert_true(ctype);
    assert_int_equal(json_integer_value(json_object_get(o.result, "desired")),
                     3);
    assert_string_equal(sval(o.result, "deployment"),
                        "web-frontend-frontend-chart");
    assert_string_equal(sval(o.result, "namespace"), "shop");
    out_clear(&o);

    /* Named in the configuration: read directly. */
    smo_mock_http_expect(
        m, "GET", API "/apis/apps/v1/namespaces/shop/deployments/backend-main",
        200,
        "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"backend-main\"},"
        "\"spec\":{\"replicas\":4},\"status\":{\"availableReplicas\":2}}",
        0);
    assert_int_equal(
        OPS->replicas_get(st8, "shop", "api-backend", on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    assert_int_equal(json_integer_value(json_object_get(o.result, "desired")),
                     4);
    assert_int_equal(json_integer_value(json_object_get(o.result, "available")),
                     2);
    out_clear(&o);

    /* None, or several without one named after the release. */
    smo_mock_http_expect(m, "GET", API "/apis/apps/v1/namespaces/shop/", 200,
                         "{\"kind\":\"DeploymentList\",\"items\":[]}", 0);
    assert_int_equal(OPS->replicas_get(st8, "shop", "db", on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_ENOENT);
    assert_string_equal(o.msg, "no Deployment labelled "
                               "app.kubernetes.io/instance=db in namespace "
                               "shop (is the release installed? else name it "
                               "in replicas.deployments)");
    out_clear(&o);
    smo_mock_http_expect(m, "GET", API "/apis/apps/v1/namespaces/shop/", 200,
                         "{\"items\":[{\"metadata\":{\"name\":\"a\"}},"
                         "{\"metadata\":{\"name\":\"b\"}}]}",
                         0);
    assert_int_equal(OPS->replicas_get(st8, "shop", "db", on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, SMO_ECONFLICT);
    assert_non_null(strstr(o.msg, "several Deployments (a, b)"));
    out_clear(&o);
    smo_mock_http_expect(m, "GET", API "/apis/apps/v1/namespaces/shop/", 200,
                         "{\"items\":[{\"metadata\":{\"name\":\"a\"}},"
                         "{\"metadata\":{\"name\":\"db\"},\"spec\":"
                         "{\"replicas\":2}}]}",
                         0);
    assert_int_equal(OPS->replicas_get(st8, "shop", "db", on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    assert_string_equal(sval(o.result, "deployment"), "db");
    assert_int_equal(json_integer_value(json_object_get(o.result, "available")),
                     0);
    out_clear(&o);
}

/* ------------------------------------------- sync, re-place, stop -- */

static void test_replace_on_not_ready(void **state)
{
    (void)state;
    make("replace_on_not_ready: true, sync_interval: 10s");
    struct out o;
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    inventory(&o);
    out_clear(&o);
    assert_int_equal(json_array_size(smo_mock_calls(m)), 0);
    smo_mock_call_expect(
        m, "graph.list", 0,
        json_pack("{s:[{s:s, s:s, s:s, s:{s:s, s:s}}, {s:s, s:s, s:s, "
                  "s:{s:s}}, {s:s, s:s, s:s, s:{s:s}}]}",
                  "graphs", "name", "g1", "project", "p", "status", "Running",
                  "placement", "a", "member1", "b", "member2", "name", "g2",
                  "project", "p", "status", "Running", "placement", "c",
                  "member1", "name", "g3", "project", "q", "status", "Stopped",
                  "placement", "d", "member2"));
    smo_mock_call_expect(m, "graph.place", 0, json_pack("{s:s}", "id", "op-1"));
    char *down = with_ready("member2", false);
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, down, 0);
    free(down);
    inventory(&o);
    out_clear(&o);
    json_t *calls = smo_mock_calls(m);
    assert_int_equal(json_array_size(calls), 2);
    assert_string_equal(sval(json_array_get(calls, 0), "method"), "graph.list");
    json_t *place = json_array_get(calls, 1);
    assert_string_equal(sval(place, "method"), "graph.place");
    assert_string_equal(sval(json_object_get(place, "params"), "name"), "g1");
    assert_string_equal(sval(json_object_get(place, "params"), "project"), "p");
    assert_int_equal(events_of("cluster.replace"), 1);

    /* The periodic sync goes through the core (the store marks gone
     * clusters). */
    smo_mock_call_expect(m, "cluster.sync", 0, json_array());
    smo_mock_call_expect(m, "cluster.sync", SMO_EUNAVAIL, NULL);
    smo_mock_advance(m, 10000);
    assert_string_equal(sval(last(calls), "method"), "cluster.sync");
    smo_mock_advance(m, 10000);
    assert_int_equal(json_array_size(calls), 4);
    assert_true(smo_mock_log_contains(m, "periodic cluster sync: mock call "
                                         "failed"));
}

static void test_stop_drains(void **state)
{
    (void)state;
    make(NULL);
    struct out o = {0};
    smo_status st;
    smo_mock_http_expect(m, "GET", CLUSTERS, 503, "", 0);
    assert_int_equal(OPS->inventory(st8, on_done, &o, &st), 0);
    smo_mock_run(m); /* now waiting for its backoff */
    assert_false(o.done);
    bool done = false;
    P.stop(st8, stopped, &done);
    smo_mock_run(m);
    assert_true(o.done);
    assert_int_equal(o.code, SMO_ECANCELED);
    assert_true(done);
    /* Nothing new once stopping. */
    struct out o2 = {0};
    assert_int_equal(OPS->inventory(st8, on_done, &o2, &st), SMO_ECANCELED);
    P.destroy(st8);
    st8 = NULL;
}

static void test_network_info(void **state)
{
    (void)state;
    write_kubeconfig("broker.yaml", "    token: broker-token");
    char extra[700];
    snprintf(extra, sizeof extra, "submariner: {kubeconfig: %s/broker.yaml}",
             dir);
    make(extra);
    const char *sub =
        "{\"kind\":\"ClusterList\",\"items\":["
        "{\"spec\":{\"cluster_id\":\"member1\",\"cluster_cidr\":[\"10.244.0."
        "0/16\"],\"service_cidr\":[\"10.96.0.0/16\"]}},"
        "{\"spec\":{\"cluster_id\":\"member2\",\"cluster_cidr\":[\"10.244.128"
        ".0/17\"],\"service_cidr\":[\"10.97.0.0/16\"]}},"
        "{\"spec\":{\"cluster_id\":\"member3\",\"cluster_cidr\":[\"10.244.0."
        "0/16\"],\"service_cidr\":[\"10.98.0.0/16\"],\"global_cidr\":[\"242."
        "0.0.0/16\"]}}]}";
    smo_mock_http_expect(m, "GET",
                         API "/apis/submariner.io/v1/namespaces/"
                             "submariner-k8s-broker/clusters",
                         200, sub, 0);
    struct out o = {0};
    smo_status st;
    assert_int_equal(OPS->network_info(st8, on_done, &o, &st), 0);
    smo_mock_run(m);
    assert_int_equal(o.code, 0);
    assert_string_equal(
        sval(json_object_get(json_object_get(o.result, "clusters"), "member2"),
             "pod_cidr"),
        "10.244.128.0/17");
    /* member1 and member2 overlap; member3 has Globalnet. */
    json_t *ov = json_object_get(o.result, "overlaps");
    assert_int_equal(json_array_size(ov), 1);
    assert_string_equal(sval(json_array_get(ov, 0), "kind"), "pod_cidr");
    assert_string_equal(sval(last(smo_mock_requests(m)), "bearer"),
                        "broker-token");
    out_clear(&o);

    /* The inventory carries each cluster's CIDRs. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    smo_mock_http_expect(m, "GET", API "/apis/submariner.io/", 200, sub, 0);
    inventory(&o);
    assert_int_equal(o.code, 0);
    assert_string_equal(sval(json_array_get(o.result, 0), "pod_cidr"),
                        "10.244.0.0/16");
    assert_string_equal(sval(json_array_get(o.result, 1), "service_cidr"),
                        "10.97.0.0/16");
    assert_null(json_object_get(json_array_get(o.result, 3), "pod_cidr"));
    out_clear(&o);
    /* The broker down: the inventory still answers, with a warning. */
    smo_mock_http_expect(m, "GET", CLUSTERS, 200, fixture, 0);
    for (int i = 0; i < 4; i++)
        smo_mock_http_expect(m, "GET", API "/apis/submariner.io/", 0, NULL,
                             SMO_EPROTO);
    inventory(&o);
    assert_int_equal(o.code, 0);
    assert_true(smo_mock_log_contains(m, "cluster CIDRs not refreshed"));
    out_clear(&o);
}

static void test_create_errors(void **state)
{
    (void)state;
    smo_status st;
    write_kubeconfig("kc.yaml", "    exec: {command: kubelogin}");
    assert_int_equal(make_status(NULL, &st), SMO_ECONFIG);
    assert_non_null(strstr(st.msg, "exec plugin (\"kubelogin\"), which SMO "
                                   "does not run"));
    free(cfgs);
    json_decref(cfgj);
    write_kubeconfig("kc.yaml", "    tokenFile: missing-token");
    assert_int_equal(make_status(NULL, &st), SMO_ECONFIG);
    assert_non_null(strstr(st.msg, "missing-token: No such file"));
    free(cfgs);
    json_decref(cfgj);
    assert_int_equal(make_status("sync_interval: 100ms", &st), SMO_EINVAL);
    assert_string_equal(st.msg, "sync_interval: 0 (off) or at least 1s");
    free(cfgs);
    json_decref(cfgj);
    assert_int_equal(make_status("replicas: {deployments: {a/b/c: x}}", &st),
                     SMO_EINVAL);
    free(cfgs);
    json_decref(cfgj);
    assert_int_equal(
        make_status("replicas: {deployments: {svc: 'x/../y'}}", &st),
        SMO_EINVAL);
    assert_non_null(strstr(st.msg, "is not a Deployment name"));
    /* teardown frees the last configuration */
    assert_int_equal(smo_mock_mem_in_use(m), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inventory_and_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_reread_on_401, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_helm_install_argv_and_result,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_helm_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uninstall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_on_not_ready, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    free(fixture);
    return r;
}
