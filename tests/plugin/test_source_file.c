/* source_file against the mock host: accepted references, reads on the
 * thread pool, allowed directories (symlinks resolved), limits. */
#include "../unit/smo_test.h"

#include <smo/smo.h>

#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define P   smo_plugin_entry
#define OPS ((const struct smo_source_ops *)P.ops)

static struct smo_mock *m;
static char *dir, *outside;
static void *cfgs;
static json_t *cfgj;
static void *st8;

static int make(const char *yaml_cfg)
{
    smo_status st;
    cfgj = NULL;
    const struct smo_host *h = smo_mock_host(m);
    assert_int_equal(h->yaml_parse(yaml_cfg, strlen(yaml_cfg), &cfgj, &st), 0);
    cfgs = calloc(1, P.config_size);
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    struct smo__schema_ctx ctx = {&e, "test", NULL, false};
    size_t n = smo__schema_apply(P.config, cfgj, cfgs, "config", &ctx);
    if (n)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    smo_status_clear(&st);
    return P.create(h, smo_mock_self(m), cfgs, &st8, &st);
}

static int setup(void **state)
{
    (void)state;
    m = smo_mock_new();
    dir = t_mkdtemp();
    outside = t_mkdtemp();
    t_write(dir, "hdag.yaml", "hdaGraph: {id: g}\n");
    t_write(dir, "big.yaml", "0123456789012345678901234567890123456789");
    t_write(outside, "secret.yaml", "secret: 1\n");
    char link[600], target[600];
    snprintf(link, sizeof link, "%s/escape.yaml", dir);
    snprintf(target, sizeof target, "%s/secret.yaml", outside);
    assert_int_equal(symlink(target, link), 0);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "{allowed_dirs: [\"%s\"], max_bytes: 32}", dir);
    assert_int_equal(make(cfg), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    P.destroy(st8);
    free(cfgs);
    json_decref(cfgj);
    smo_mock_free(m);
    t_rm_rf(dir);
    t_rm_rf(outside);
    free(dir);
    free(outside);
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

static void test_accepts(void **state)
{
    (void)state;
    smo_status st;
    assert_int_equal(OPS->accepts(st8, "/x/hdag.yaml", &st), SMO_OK);
    assert_int_equal(OPS->accepts(st8, "./hdag.yaml", &st), SMO_OK);
    assert_int_equal(OPS->accepts(st8, "file:///x/h.yaml", &st), SMO_OK);
    assert_int_equal(OPS->accepts(st8, "file://x/h.yaml", &st), SMO_EINVAL);
    assert_string_equal(st.msg, "file references must be absolute: "
                                "file:///path");
    assert_int_equal(OPS->accepts(st8, "oci://reg/p/g:1", &st), SMO_SKIP);
    assert_int_equal(OPS->accepts(st8, "http://reg/p/g", &st), SMO_SKIP);
    assert_int_equal(OPS->accepts(st8, "", &st), SMO_SKIP);
}

static void test_reads(void **state)
{
    (void)state;
    struct out o;
    char ref[700];
    snprintf(ref, sizeof ref, "%s/hdag.yaml", dir);
    resolve(ref, &o);
    assert_int_equal(o.code, 0);
    assert_string_equal(o.text, "hdaGraph: {id: g}\n");
    assert_string_equal(o.media, "application/yaml");

    snprintf(ref, sizeof ref, "file://%s/hdag.yaml", dir);
    resolve(ref, &o);
    assert_int_equal(o.code, 0);

    snprintf(ref, sizeof ref, "%s/big.yaml", dir);
    resolve(ref, &o);
    assert_int_equal(o.code, SMO_ETOOBIG);
    assert_non_null(strstr(o.msg, "40 bytes, the limit is 32"));

    snprintf(ref, sizeof ref, "%s/none.yaml", dir);
    resolve(ref, &o);
    assert_int_equal(o.code, SMO_ENOENT);

    resolve(dir, &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "not a regular file"));
}

static void test_confinement(void **state)
{
    (void)state;
    struct out o;
    char ref[700];
    snprintf(ref, sizeof ref, "%s/secret.yaml", outside);
    resolve(ref, &o);
    assert_int_equal(o.code, SMO_EPERM);
    assert_non_null(strstr(o.msg, "outside the allowed directories"));
    /* A symlink inside the allowed directory pointing out of it. */
    snprintf(ref, sizeof ref, "%s/escape.yaml", dir);
    resolve(ref, &o);
    assert_int_equal(o.code, SMO_EPERM);
    /* .. components. */
    snprintf(ref, sizeof ref, "%s/../%s/secret.yaml", dir,
             strrchr(outside, '/') + 1);
    resolve(ref, &o);
    assert_int_equal(o.code, SMO_EPERM);
}

static void test_bad_allowed_dir(void **state)
{
    (void)state;
    void *keep_s = st8, *keep_c = cfgs;
    json_t *keep_j = cfgj;
    assert_int_equal(make("{allowed_dirs: [/nonexistent/smo-dir]}"),
                     SMO_ECONFIG);
    free(cfgs);
    json_decref(cfgj);
    st8 = keep_s;
    cfgs = keep_c;
    cfgj = keep_j;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_confinement),
        cmocka_unit_test(test_bad_allowed_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
