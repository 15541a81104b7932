/* The source_oci plugin against the mock host: accepts() policy, the pull
 * sequence (manifest, index, layers), digest verification of manifests and
 * blobs, registry errors. The mock serves text bodies only, so layers here
 * are bare YAML files named by their title annotation; tar.gz layers and
 * the auth flows are covered by test_tar.c and tests/integration/
 * test_oci.py against a real registry. */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "oci.h"
#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define P   smo_plugin_entry
#define OPS ((const struct smo_source_ops *)P.ops)

static struct smo_mock *m;
static void *cfgs;
static json_t *cfgj;
static void *st8;

static const char *HDAG = "hdaGraph:\n  id: oci-graph\n";
#define REG "https://reg.example/v2/project/graph"

static int make(const char *yaml_cfg, smo_status *st)
{
    const struct smo_host *h = smo_mock_host(m);
    cfgj = NULL;
    smo_status_clear(st);
    assert_int_equal(h->yaml_parse(yaml_cfg, strlen(yaml_cfg), &cfgj, st), 0);
    cfgs = calloc(1, P.config_size);
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    struct smo__schema_ctx ctx = {&e, "test", NULL, false};
    size_t n = smo__schema_apply(P.config, cfgj, cfgs, "config", &ctx);
    if (n) {
        snprintf(st->msg, sizeof st->msg, "%s", e.lines[0]);
        smo__errlist_free(&e);
        return SMO_ECONFIG;
    }
    smo__errlist_free(&e);
    if (P.validate) {
        int r = P.validate(cfgj, cfgs, st);
        if (r)
            return r;
    }
    return P.create(h, smo_mock_self(m), cfgs, &st8, st);
}

static void unmake(void)
{
    if (st8)
        P.destroy(st8);
    st8 = NULL;
    free(cfgs);
    cfgs = NULL;
    json_decref(cfgj);
    cfgj = NULL;
}

static int setup(void **state)
{
    (void)state;
    m = smo_mock_new();
    setenv("SMO_TEST_OCI_PW", "s3cret", 1);
    smo_status st;
    int r = make("{registries: {\"127.0.0.1:5000\": {plain_http: true},"
                 " \"auth.example\": {username: u, password_env: "
                 "SMO_TEST_OCI_PW}},"
                 " max_layer_bytes: 4Ki}",
                 &st);
    if (r)
        fail_msg("create: %s", st.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unmake();
    smo_mock_free(m);
    return 0;
}

struct out {
    bool done;
    int code;
    char msg[512];
    char text[256];
    char media[64];
};

static void on_text(void *arg, const smo_status *st, const char *text,
                    size_t len, const char *media)
{
    struct out *o = arg;
    assert_false(o->done); /* exactly once */
    o->done = true;
    o->code = st->code;
    snprintf(o->msg, sizeof o->msg, "%s", st->msg);
    if (text)
        snprintf(o->text, sizeof o->text, "%.*s", (int)len, text);
    if (media)
        snprintf(o->media, sizeof o->media, "%s", media);
}

static void resolve(const char *ref, struct out *o)
{
    memset(o, 0, sizeof *o);
    smo_status st;
    smo_status_clear(&st);
    int r = OPS->resolve(st8, ref, on_text, o, &st);
    if (r) {
        o->done = true;
        o->code = r;
        snprintf(o->msg, sizeof o->msg, "%s", st.msg);
        return;
    }
    assert_false(o->done); /* never inside the call */
    smo_mock_run(m);
    assert_true(o->done);
}

/* An OCI manifest with one layer: `blob` as a bare file titled `title`,
 * its digest and size as given (NULL: the true ones). */
static char *manifest_for(const char *blob, const char *title,
                          const char *digest, long size)
{
    char d[72];
    smo__sha256_digest(blob, strlen(blob), d);
    char *s = NULL;
    assert_true(
        asprintf(&s,
                 "{\"schemaVersion\":2,\"mediaType\":\"%s\","
                 "\"config\":{\"mediaType\":\"application/"
                 "vnd.hdag.package.config.v1+json\",\"digest\":\"%s\","
                 "\"size\":2},\"layers\":[{\"mediaType\":\"application/"
                 "yaml\",\"digest\":\"%s\",\"size\":%ld,\"annotations\":"
                 "{\"org.opencontainers.image.title\":\"%s\"}}]}",
                 SMO__OCI_MT_OCI_MANIFEST, d, digest ? digest : d,
                 size >= 0 ? size : (long)strlen(blob), title) > 0);
    return s;
}

static void expect_artifact(const char *base, const char *tag, const char *blob,
                            const char *served)
{
    char *man = manifest_for(blob, "hdag.yaml", NULL, -1);
    char url[600], d[72];
    snprintf(url, sizeof url, "%s/manifests/%s", base, tag);
    smo_mock_http_expect(m, "GET", url, 200, man, 0);
    smo__sha256_digest(blob, strlen(blob), d);
    snprintf(url, sizeof url, "%s/blobs/%s", base, d);
    smo_mock_http_expect(m, "GET", url, 200, served ? served : blob, 0);
    free(man);
}

static void test_accepts(void **state)
{
    (void)state;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(OPS->accepts(st8, "oci://reg.example/p/g:1", &st), 0);
    assert_int_equal(OPS->accepts(st8, "/tmp/hdag.yaml", &st), SMO_SKIP);
    assert_int_equal(OPS->accepts(st8, "file:///x.yaml", &st), SMO_SKIP);
    assert_int_equal(OPS->accepts(st8, "https://reg.example/p/g", &st), 0);
    /* Plain http needs the registry's opt-in. */
    assert_int_equal(OPS->accepts(st8, "http://127.0.0.1:5000/p/g", &st), 0);
    assert_int_equal(OPS->accepts(st8, "http://reg.example/p/g", &st),
                     SMO_EPERM);
    assert_non_null(strstr(st.msg, "plain HTTP to reg.example is not enabled"));
    assert_int_equal(OPS->accepts(st8, "oci://reg.example/P/g", &st),
                     SMO_EINVAL);
}

static void test_pull_ok(void **state)
{
    (void)state;
    expect_artifact(REG, "1.0.0", HDAG, NULL);
    struct out o;
    resolve("oci://reg.example/project/graph:1.0.0", &o);
    assert_int_equal(o.code, 0);
    assert_string_equal(o.text, HDAG);
    assert_string_equal(o.media, "application/yaml");
    /* The manifest request carried the OCI and Docker media types. */
    json_t *reqs = smo_mock_requests(m);
    json_t *first = json_array_get(reqs, json_array_size(reqs) - 2);
    const char *accept =
        json_string_value(json_array_get(json_object_get(first, "headers"), 0));
    assert_non_null(strstr(accept, SMO__OCI_MT_OCI_MANIFEST));
    assert_non_null(strstr(accept, SMO__OCI_MT_DOCKER_MANIFEST));

    /* Default tag, plain http where enabled, https:// URL form. */
    expect_artifact("http://127.0.0.1:5000/v2/p/g", "latest", HDAG, NULL);
    resolve("oci://127.0.0.1:5000/p/g", &o);
    assert_int_equal(o.code, 0);
    expect_artifact("http://127.0.0.1:5000/v2/p/g", "2", HDAG, NULL);
    resolve("http://127.0.0.1:5000/p/g:2", &o);
    assert_int_equal(o.code, 0);
    expect_artifact(REG, "3", HDAG, NULL);
    resolve("https://reg.example/project/graph:3", &o);
    assert_int_equal(o.code, 0);
    assert_int_equal(smo_mock_mem_in_use(m), 0);
}

static void test_pull_by_digest_and_index(void **state)
{
    (void)state;
    char *man = manifest_for(HDAG, "hdag.yaml", NULL, -1);
    char md[72], bd[72], url[600], ref[300];
    smo__sha256_digest(man, strlen(man), md);
    smo__sha256_digest(HDAG, strlen(HDAG), bd);
    /* An index with one entry is followed to that manifest. */
    char *index = NULL;
    assert_true(asprintf(&index,
                         "{\"schemaVersion\":2,\"mediaType\":\"%s\","
                         "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":"
                         "\"%s\",\"size\":%zu}]}",
                         SMO__OCI_MT_OCI_INDEX, SMO__OCI_MT_OCI_MANIFEST, md,
                         strlen(man)) > 0);
    smo_mock_http_expect(m, "GET", REG "/manifests/multi", 200, index, 0);
    snprintf(url, sizeof url, REG "/manifests/%s", md);
    smo_mock_http_expect(m, "GET", url, 200, man, 0);
    snprintf(url, sizeof url, REG "/blobs/%s", bd);
    smo_mock_http_expect(m, "GET", url, 200, HDAG, 0);
    struct out o;
    resolve("oci://reg.example/project/graph:multi", &o);
    assert_int_equal(o.code, 0);
    assert_string_equal(o.text, HDAG);

    /* By digest, and a registry that serves other bytes for it. */
    snprintf(url, sizeof url, REG "/manifests/%s", md);
    smo_mock_http_expect(m, "GET", url, 200, man, 0);
    snprintf(url, sizeof url, REG "/blobs/%s", bd);
    smo_mock_http_expect(m, "GET", url, 200, HDAG, 0);
    snprintf(ref, sizeof ref, "oci://reg.example/project/graph@%s", md);
    resolve(ref, &o);
    assert_int_equal(o.code, 0);

    char *tampered = manifest_for(HDAG, "graph.yaml", NULL, -1);
    snprintf(url, sizeof url, REG "/manifests/%s", md);
    smo_mock_http_expect(m, "GET", url, 200, tampered, 0);
    resolve(ref, &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "the manifest does not match its digest"));
    free(tampered);
    free(index);
    free(man);
}

static void test_tampered_blob(void **state)
{
    (void)state;
    /* Same length, other bytes: only the digest can tell. */
    char evil[64];
    snprintf(evil, sizeof evil, "%s", HDAG);
    evil[strlen(evil) - 2] = 'X';
    expect_artifact(REG, "t", HDAG, evil);
    struct out o;
    resolve("oci://reg.example/project/graph:t", &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "does not match its digest"));
    assert_non_null(strstr(o.msg, "altered content"));
    /* A different length is caught before hashing. */
    expect_artifact(REG, "t2", HDAG, "hdaGraph: {}\n");
    resolve("oci://reg.example/project/graph:t2", &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "the manifest says"));
    assert_int_equal(smo_mock_mem_in_use(m), 0);
}

static void test_registry_errors(void **state)
{
    (void)state;
    struct out o;
    smo_mock_http_expect(m, "GET", REG "/manifests/nope", 404,
                         "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\","
                         "\"message\":\"manifest unknown\"}]}",
                         0);
    resolve("oci://reg.example/project/graph:nope", &o);
    assert_int_equal(o.code, SMO_ENOENT);
    assert_non_null(strstr(o.msg, "tag nope not found in "
                                  "reg.example/project/graph"));
    assert_non_null(strstr(o.msg, "MANIFEST_UNKNOWN"));

    smo_mock_http_expect(m, "GET", REG "/manifests/a", 401, "", 0);
    resolve("oci://reg.example/project/graph:a", &o);
    assert_int_equal(o.code, SMO_EPROTO);
    assert_non_null(strstr(o.msg, "WWW-Authenticate"));

    smo_mock_http_expect(m, "GET", REG "/manifests/f", 403, "", 0);
    resolve("oci://reg.example/project/graph:f", &o);
    assert_int_equal(o.code, SMO_EEXTERNAL);

    smo_mock_http_expect(m, "GET", REG "/manifests/u", 503, "", 0);
    resolve("oci://reg.example/project/graph:u", &o);
    assert_int_equal(o.code, SMO_EUNAVAIL);

    smo_mock_http_expect(m, "GET", REG "/manifests/down", 0, NULL,
                         SMO_EUNAVAIL);
    resolve("oci://reg.example/project/graph:down", &o);
    assert_int_equal(o.code, SMO_EUNAVAIL);
    assert_non_null(strstr(o.msg, "cannot fetch the manifest"));

    smo_mock_http_expect(m, "GET", REG "/manifests/junk", 200, "<html>", 0);
    resolve("oci://reg.example/project/graph:junk", &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "not a JSON object"));

    /* A layer larger than max_layer_bytes is refused from the manifest. */
    char *big = manifest_for(HDAG, "hdag.yaml", NULL, 5000);
    smo_mock_http_expect(m, "GET", REG "/manifests/big", 200, big, 0);
    resolve("oci://reg.example/project/graph:big", &o);
    assert_int_equal(o.code, SMO_ETOOBIG);
    assert_non_null(strstr(o.msg, "max_layer_bytes"));
    free(big);

    /* The blob is gone. */
    char *man = manifest_for(HDAG, "hdag.yaml", NULL, -1);
    smo_mock_http_expect(m, "GET", REG "/manifests/gone", 200, man, 0);
    smo_mock_http_expect(m, "GET", REG "/blobs/", 404, "", 0);
    resolve("oci://reg.example/project/graph:gone", &o);
    assert_int_equal(o.code, SMO_ENOENT);
    assert_non_null(strstr(o.msg, "layer sha256:"));
    free(man);

    /* An artifact without a descriptor. */
    man = manifest_for("a: 1\n", "values.yaml", NULL, -1);
    smo_mock_http_expect(m, "GET", REG "/manifests/nod", 200, man, 0);
    smo_mock_http_expect(m, "GET", REG "/blobs/", 200, "a: 1\n", 0);
    resolve("oci://reg.example/project/graph:nod", &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "no HDAG descriptor"));
    assert_non_null(strstr(o.msg, "values.yaml"));
    free(man);
    assert_int_equal(smo_mock_mem_in_use(m), 0);
}

static void test_config(void **state)
{
    (void)state;
    void *keep_s = st8, *keep_c = cfgs;
    json_t *keep_j = cfgj;
    st8 = NULL;
    smo_status st;
    static const struct {
        const char *cfg, *msg;
    } bad[] = {
        {"{registries: {\"bad host\": {}}}", "expected host[:port]"},
        {"{registries: {r: {password_env: X}}}", "a password needs a username"},
        {"{registries: {r: {username: u, password_env: X, password_file: "
         "/etc/hostname}}}",
         "not both"},
        {"{registries: {r: {username: u, password_env: "
         "SMO_TEST_OCI_UNSET_VAR}}}",
         "is not set"},
        {"{registries: {r: {client_cert_file: /etc/hostname}}}", "go together"},
        {"{allowed_registries: [\"a/b\"]}", "expected host[:port]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = make(bad[i].cfg, &st);
        if (r != SMO_ECONFIG || !strstr(st.msg, bad[i].msg))
            fail_msg("%s: %d %s", bad[i].cfg, r, st.msg);
        unmake();
    }
    /* allowed_registries confines references. */
    assert_int_equal(make("{allowed_registries: [\"reg.example\"]}", &st), 0);
    assert_int_equal(OPS->accepts(st8, "oci://other.example/p/g", &st),
                     SMO_EPERM);
    assert_non_null(strstr(st.msg, "allowed_registries"));
    assert_int_equal(OPS->accepts(st8, "oci://reg.example/p/g", &st), 0);
    /* http(s) URLs can be left to another source. */
    unmake();
    assert_int_equal(make("{http_urls: false}", &st), 0);
    assert_int_equal(OPS->accepts(st8, "https://reg.example/p/g", &st),
                     SMO_SKIP);
    unmake();
    st8 = keep_s;
    cfgs = keep_c;
    cfgj = keep_j;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_pull_ok),
        cmocka_unit_test(test_pull_by_digest_and_index),
        cmocka_unit_test(test_tampered_blob),
        cmocka_unit_test(test_registry_errors),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
