/* The HDAG descriptor: the example graphs, canonical round trips, defaults
 * and boolean spellings, limits, and a table of malformed descriptors
 * (tests/fixtures/hdag-bad/NNN-name.yaml) each with its exact errors in
 * NNN-name.expect. Intents are translated by the real translator_intent
 * plugin loaded into a runtime. SMO_UPDATE_EXPECT=1 rewrites the .expect
 * files (review the diff before committing). */
#include "smo_test.h"

#include <dirent.h>

#include "smo_hdag.h"
#include "smo_offline.h"
#include "smo_rt.h"
#include "smo_yaml.h"

static char *confdir;
static struct smo_rt *rt;
static struct smo__translator_ref tr[4];
static size_t ntr;

static void write_conf(const char *medium)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "engine: {plugin_path: [\"%s\"]}\n"
             "instances:\n"
             "  - kind: translator\n    plugin: intent\n    name: intent\n"
             "    config: {cpu: {light: 0.5, small: 1, medium: %s, large: "
             "8}}\n",
             SMO_TEST_BUILTIN_PLUGIN_DIR, medium);
    t_write(confdir, "10-t.yaml", buf);
}

static int setup(void **state)
{
    (void)state;
    confdir = t_mkdtemp();
    write_conf("4");
    rt = smo__offline_start(confdir, 1u << SMO_KIND_TRANSLATOR, 4);
    assert_non_null(rt);
    ntr = smo__offline_translators(rt, tr, 4);
    assert_int_equal(ntr, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    smo__offline_stop(rt);
    t_rm_rf(confdir);
    free(confdir);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    if (n < 0) {
        free(buf);
        buf = strdup("");
    }
    return buf;
}

/* Parse and translate; returns the model or NULL with `rep` filled. */
static struct smo__hdag *load(const char *text, size_t len, bool wrapper,
                              struct smo__hdag_report *rep)
{
    struct smo__hdag_opts o = {0};
    o.require_wrapper = wrapper;
    struct smo__hdag *h = NULL;
    smo__hdag_report_init(rep);
    smo__hdag_load(text, len, &o, tr, ntr, &h, rep);
    return h;
}

static struct smo__hdag *load_ok(const char *text)
{
    struct smo__hdag_report rep;
    struct smo__hdag *h = load(text, strlen(text), true, &rep);
    if (!h) {
        char *t = smo__hdag_report_text(&rep, false, NULL);
        fail_msg("unexpected errors:\n%s", t);
    }
    smo__hdag_report_free(&rep);
    return h;
}

static struct smo__hdag *load_example(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/../packaging/examples/hdag/%s",
             SMO_TEST_SRC_DIR, name);
    size_t len = 0;
    char *text = slurp(path, &len);
    assert_non_null(text);
    struct smo__hdag *h = load_ok(text);
    free(text);
    return h;
}

static void test_examples(void **state)
{
    (void)state;
    struct smo__hdag *h = load_example("image-detection.yaml");
    assert_string_equal(h->id, "image-detection-graph");
    assert_string_equal(h->version, "1.0.0");
    assert_false(h->static_placement);
    assert_int_equal(h->n_services, 3);
    struct smo__hdag_service *vo = &h->services[0], *nr = &h->services[1],
                             *det = &h->services[2];
    assert_true(vo->wot);
    assert_int_equal(vo->trigger, SMO__TRIGGER_EVENT);
    assert_false(vo->trigger_all);
    assert_int_equal(vo->n_events, 1);
    assert_string_equal(vo->events[0].id, "camera-online");
    assert_int_equal(vo->events[0].grace_ms, 30000);
    assert_int_equal(vo->n_connection_points, 1);
    assert_string_equal(vo->connection_points[0], "noise-reduction");
    assert_int_equal(vo->n_latencies, 1);
    assert_true(vo->latencies[0].max_ms < 0);
    assert_true(vo->res.cpu == 0.5);
    assert_int_equal(vo->res.memory, 500ull << 20);
    assert_int_equal(vo->res.storage, 10000000000ull);
    assert_int_equal(nr->trigger, SMO__TRIGGER_AUTO);
    assert_true(nr->res.cpu == 1);
    /* gpu.enabled: "True" (a string) means a GPU, as YAML True does. */
    assert_true(det->gpu);
    assert_int_equal(det->res.gpu, 1);
    assert_int_equal(det->replicas, 2);
    assert_true(det->res.cpu == 4);
    assert_int_equal(det->res.memory, 2ull << 30);
    smo__hdag_free(h);

    h = load_example("my-webapp.yaml");
    assert_int_equal(h->services[2].trigger, SMO__TRIGGER_EVENT);
    assert_true(h->services[2].trigger_all);
    assert_int_equal(h->services[2].events[0].grace_ms, 60000);
    assert_int_equal(h->services[0].res.storage, 0); /* storage: none */
    assert_false(h->services[0].wot);
    smo__hdag_free(h);

    h = load_example("hello-world.yaml");
    assert_int_equal(h->n_services, 1);
    assert_int_equal(h->services[0].replicas, 1);
    smo__hdag_free(h);
}

static void test_canonical_roundtrip(void **state)
{
    (void)state;
    const char *names[] = {"image-detection.yaml", "my-webapp.yaml",
                           "hello-world.yaml"};
    for (int i = 0; i < 3; i++) {
        struct smo__hdag *h = load_example(names[i]);
        /* YAML and JSON spellings of the canonical form parse back to the
         * same canonical form. */
        char *y = NULL;
        size_t n = 0;
        smo_status st;
        assert_int_equal(smo__yaml_emit(h->doc, &y, &n, &st), 0);
        struct smo__hdag *h2 = load_ok(y);
        assert_true(json_equal(h->doc, h2->doc));
        char *js = json_dumps(h->doc, JSON_COMPACT);
        struct smo__hdag *h3 = load_ok(js);
        assert_true(json_equal(h->doc, h3->doc));
        /* Stable: the same bytes twice. */
        char *y2 = NULL;
        assert_int_equal(smo__yaml_emit(h2->doc, &y2, &n, &st), 0);
        assert_string_equal(y, y2);
        free(y);
        free(y2);
        free(js);
        smo__hdag_free(h2);
        smo__hdag_free(h3);
        smo__hdag_free(h);
    }
}

static void test_minimal_and_defaults(void **state)
{
    (void)state;
    /* The original SDK's end-to-end test descriptor. */
    struct smo__hdag *h = load_ok(
        "{\"hdaGraph\": {\"id\": \"e2e-graph-abc123\", \"version\": \"1.0\","
        " \"services\": [{\"id\": \"svc\", \"deployment\": {\"trigger\": "
        "{\"type\": \"standard\"}, \"intent\": {\"compute\": {\"cpu\": "
        "\"light\"}}}, \"artifact\": {\"ociImage\": "
        "\"oci://ghcr.io/abilian/hello-world-chart\"}}]}}");
    const json_t *s = h->services[0].json;
    const json_t *compute = json_object_get(
        json_object_get(json_object_get(s, "deployment"), "intent"), "compute");
    assert_true(json_is_false(
        json_object_get(json_object_get(compute, "gpu"), "enabled")));
    assert_string_equal(json_string_value(json_object_get(compute, "ram")),
                        "small");
    const json_t *a = json_object_get(s, "artifact");
    assert_int_equal(json_object_size(json_object_get(a, "valuesOverwrite")),
                     0);
    assert_true(json_is_object(json_object_get(a, "ociConfig")));
    assert_false(h->services[0].gpu);
    assert_int_equal(h->services[0].trigger, SMO__TRIGGER_STANDARD);
    smo__hdag_free(h);

    /* No trigger at all: standard. Version as a number: a string. */
    h = load_ok("hdaGraph:\n  id: g\n  version: 2.5\n  services:\n"
                "    - id: a\n      deployment: {}\n"
                "      artifact: {ociImage: registry.local/p/a:1.0}\n");
    assert_string_equal(h->version, "2.5");
    assert_int_equal(h->services[0].trigger, SMO__TRIGGER_STANDARD);
    smo__hdag_free(h);
}

static void test_bool_spellings(void **state)
{
    (void)state;
    const char *yes[] = {"True", "'True'", "true", "'true'",
                         "TRUE", "yes",    "'on'"};
    const char *no[] = {"False", "'False'", "false", "'false'", "no"};
    for (size_t i = 0;
         i < sizeof yes / sizeof yes[0] + sizeof no / sizeof no[0]; i++) {
        bool want = i < sizeof yes / sizeof yes[0];
        const char *v = want ? yes[i] : no[i - sizeof yes / sizeof yes[0]];
        char doc[512];
        snprintf(doc, sizeof doc,
                 "hdaGraph:\n  id: g\n  hdaGraphIntent: {useStaticPlacement: "
                 "%s}\n  services:\n    - id: a\n      deployment: {intent: "
                 "{compute: {cpu: small, gpu: {enabled: %s}}}}\n"
                 "      artifact: {ociImage: oci://r.local/p/a}\n",
                 v, v);
        struct smo__hdag *h = load_ok(doc);
        assert_int_equal(h->services[0].gpu, want);
        assert_int_equal(h->static_placement, want);
        /* Canonical: a JSON boolean. */
        assert_true(json_is_boolean(json_object_get(
            json_object_get(
                json_object_get(
                    json_object_get(
                        json_object_get(h->services[0].json, "deployment"),
                        "intent"),
                    "compute"),
                "gpu"),
            "enabled")));
        smo__hdag_free(h);
    }
}

static void test_unwrapped_and_warnings(void **state)
{
    (void)state;
    const char *bare = "{\"id\": \"g\", \"services\": [{\"id\": \"a\", "
                       "\"deployment\": {\"intent\": {\"network\": "
                       "{\"connectionPoints\": [\"a\"]}}, \"extra\": 1}, "
                       "\"artifact\": {\"ociImage\": \"oci://r.local/p/a\"}}]}";
    struct smo__hdag_report rep;
    assert_null(load(bare, strlen(bare), true, &rep));
    smo__hdag_report_free(&rep);
    struct smo__hdag *h = load(bare, strlen(bare), false, &rep);
    assert_non_null(h);
    char *w = smo__hdag_report_text(&rep, true, NULL);
    assert_string_equal(
        w, "hdaGraph.services[0].deployment.extra: unknown field (kept, not "
           "used by SMO)\n"
           "hdaGraph.services[0].deployment.intent.compute.cpu: not set: "
           "using the class small\n"
           "hdaGraph.services[0].deployment.intent.network.connectionPoints: "
           "not read here: connection points belong in "
           "deployment.intent.connectionPoints\n"
           "hdaGraph.services[0].deployment.intent.network.connectionPoints: "
           "unknown field (kept, not used by SMO)\n");
    free(w);
    /* Unknown fields are kept in the canonical document. */
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(h->services[0].json, "deployment"), "extra")),
        1);
    assert_non_null(json_object_get(h->doc, "hdaGraph"));
    smo__hdag_free(h);
    smo__hdag_report_free(&rep);
}

static void test_limits(void **state)
{
    (void)state;
    /* 100 MB. */
    size_t big = 100u << 20;
    char *text = malloc(big + 1);
    memset(text, ' ', big);
    memcpy(text, "hdaGraph:", 9);
    text[big] = '\0';
    struct smo__hdag_report rep;
    assert_null(load(text, big, true, &rep));
    char *e = smo__hdag_report_text(&rep, false, "big.yaml");
    assert_string_equal(e, "big.yaml: document is 104857600 bytes, the "
                           "limit is 16777216\n");
    free(e);
    smo__hdag_report_free(&rep);
    free(text);
    /* 10,000 levels of nesting, in JSON and in YAML flow style. */
    size_t depth = 10000;
    text = malloc(depth * 2 + 64);
    size_t o = 0;
    o += (size_t)sprintf(text, "{\"hdaGraph\": ");
    for (size_t i = 0; i < depth; i++)
        text[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        text[o++] = ']';
    text[o++] = '}';
    text[o] = '\0';
    assert_null(load(text, o, true, &rep));
    e = smo__hdag_report_text(&rep, false, NULL);
    assert_non_null(strstr(e, "nesting deeper than 64 levels"));
    free(e);
    smo__hdag_report_free(&rep);
    /* YAML flow style goes through the YAML parser. */
    o = (size_t)sprintf(text, "hdaGraph: ");
    for (size_t i = 0; i < depth; i++)
        text[o++] = '[';
    text[o] = '\0';
    assert_null(load(text, o, true, &rep));
    e = smo__hdag_report_text(&rep, false, NULL);
    assert_non_null(strstr(e, "nesting deeper than 64 levels"));
    free(e);
    smo__hdag_report_free(&rep);
    free(text);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_descriptors(void **state)
{
    (void)state;
    const char *dir = SMO_TEST_SRC_DIR "/fixtures/hdag-bad";
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[512];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 512) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    assert_true(n >= 60);
    bool update = getenv("SMO_UPDATE_EXPECT") != NULL;
    size_t failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024], expect_path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(expect_path, sizeof expect_path, "%.*s.expect",
                 (int)(strlen(path) - 5), path);
        size_t len = 0;
        char *text = slurp(path, &len);
        struct smo__hdag_report rep;
        struct smo__hdag *h = load(text, len, true, &rep);
        char *got = smo__hdag_report_text(&rep, false, NULL);
        if (h) {
            printf("%s: accepted, but it is malformed\n", names[i]);
            failures++;
        } else if (update) {
            FILE *f = fopen(expect_path, "w");
            fputs(got, f);
            fclose(f);
        } else {
            size_t elen;
            char *want = slurp(expect_path, &elen);
            if (!want || strcmp(want, got) != 0) {
                printf("%s:\n  got:  %s  want: %s", names[i], got,
                       want ? want : "(no .expect file)\n");
                failures++;
            }
            free(want);
        }
        free(got);
        smo__hdag_free(h);
        smo__hdag_report_free(&rep);
        free(text);
        free(names[i]);
    }
    assert_int_equal(failures, 0);
}

static void test_class_table_reload(void **state)
{
    (void)state;
    const char *doc = "hdaGraph:\n  id: g\n  services:\n    - id: a\n"
                      "      deployment: {intent: {compute: {cpu: medium}}}\n"
                      "      artifact: {ociImage: oci://r.local/p/a}\n";
    struct smo__hdag *h = load_ok(doc);
    assert_true(h->services[0].res.cpu == 4);
    smo__hdag_free(h);
    smo_instance *before = smo__rt_find(rt, "intent");
    /* What "medium" means is one edit and a reload away. */
    write_conf("6");
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    assert_int_equal(smo__rt_apply_config(rt, &e), 0);
    smo__errlist_free(&e);
    assert_ptr_equal(smo__rt_find(rt, "intent"), before); /* in place */
    h = load_ok(doc);
    assert_true(h->services[0].res.cpu == 6);
    smo__hdag_free(h);
    /* A bad table is rejected and the old one stays. */
    write_conf("lots");
    smo__errlist_init(&e, 10);
    assert_int_not_equal(smo__rt_apply_config(rt, &e), 0);
    assert_non_null(strstr(e.lines[0], "cpu.medium: invalid quantity "
                                       "\"lots\""));
    smo__errlist_free(&e);
    h = load_ok(doc);
    assert_true(h->services[0].res.cpu == 6);
    smo__hdag_free(h);
    write_conf("4");
    smo__errlist_init(&e, 10);
    assert_int_equal(smo__rt_apply_config(rt, &e), 0);
    smo__errlist_free(&e);
}

static void test_quantities(void **state)
{
    (void)state;
    struct smo__hdag *h = load_ok(
        "hdaGraph:\n  id: g\n  services:\n    - id: a\n"
        "      deployment: {intent: {compute: {cpu: 250m, ram: 3Gi, "
        "storage: 1.5G, gpu: {enabled: true, count: 2}}}}\n"
        "      artifact: {ociImage: oci://r.local/p/a}\n"
        "    - id: b\n"
        "      deployment: {intent: {compute: {cpu: 2, ram: 1073741824, "
        "storage: Small}}}\n"
        "      artifact: {ociImage: oci://r.local/p/b}\n");
    assert_true(h->services[0].res.cpu == 0.25);
    assert_int_equal(h->services[0].res.memory, 3ull << 30);
    assert_int_equal(h->services[0].res.storage, 1500000000ull);
    assert_int_equal(h->services[0].res.gpu, 2);
    assert_true(h->services[1].res.cpu == 2);
    assert_int_equal(h->services[1].res.memory, 1ull << 30);
    assert_int_equal(h->services[1].res.storage, 10000000000ull);
    smo__hdag_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_canonical_roundtrip),
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_bool_spellings),
        cmocka_unit_test(test_unwrapped_and_warnings),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_descriptors),
        cmocka_unit_test(test_class_table_reload),
        cmocka_unit_test(test_quantities),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
