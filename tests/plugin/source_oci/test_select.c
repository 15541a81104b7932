/* Which file is the descriptor: hdag.yaml/hdag.yml first (shallowest),
 * else the single YAML with a top-level hdaGraph key; ties are errors that
 * name the candidates. */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "oci.h"
#include "oci_test_util.h"

/* Stands in for the host's YAML parser: a top-level key is at column 0. */
static bool fake_is_hdag(void *ctx, const char *text, size_t len)
{
    (*(int *)ctx)++;
    (void)len;
    return strncmp(text, "hdaGraph:", 9) == 0 || strstr(text, "\nhdaGraph:");
}

struct pick {
    int rc;
    char path[256];
    char msg[512];
    int calls;
};

/* Build a file list from "path=content" pairs, NULL-terminated. */
static struct pick pick(const char *const *files, uint64_t max_yaml)
{
    struct smo__oci_files f = {0};
    struct smo__oci_limits l = test_limits();
    l.max_yaml = max_yaml;
    smo_status st;
    smo_status_clear(&st);
    for (const char *const *p = files; *p; p++) {
        const char *eq = strchr(*p, '=');
        char path[256];
        snprintf(path, sizeof path, "%.*s", (int)(eq - *p), *p);
        assert_int_equal(
            smo__oci_files_add(&f, path, eq + 1, strlen(eq + 1), &l, &st), 0);
    }
    assert_int_equal(smo__oci_files_finish(&f, &st), 0);
    struct pick r = {0};
    size_t k = 0;
    r.rc = smo__oci_select(&f, fake_is_hdag, &r.calls, &k, &st);
    if (!r.rc)
        snprintf(r.path, sizeof r.path, "%s", f.v[k].path);
    snprintf(r.msg, sizeof r.msg, "%s", st.msg);
    smo__oci_files_free(&f);
    return r;
}

#define G "hdaGraph:\n  id: g\n"

static void test_named_first(void **state)
{
    (void)state;
    /* hdag.yaml wins over another YAML with hdaGraph, even deeper ones. */
    const char *a[] = {"a/aaa.yaml=" G, "a/hdag.yaml=whatever: 1\n",
                       "a/b/c/hdag.yml=" G, NULL};
    struct pick r = pick(a, 1 << 20);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.path, "a/hdag.yaml");
    assert_int_equal(r.calls, 0); /* the name decides, no parsing */
    /* hdag.yml is equally good. */
    const char *b[] = {"x/hdag.yml=" G, "x/other.yaml=" G, NULL};
    r = pick(b, 1 << 20);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.path, "x/hdag.yml");
    /* Two at the same depth: an error naming both. */
    const char *c[] = {"a/hdag.yaml=" G, "b/hdag.yml=" G, "c/d/hdag.yaml=" G,
                       NULL};
    r = pick(c, 1 << 20);
    assert_int_equal(r.rc, SMO_EINVAL);
    assert_non_null(strstr(r.msg, "a/hdag.yaml, b/hdag.yml"));
    assert_null(strstr(r.msg, "c/d/hdag.yaml"));
    /* Names are exact: HDAG.yaml and hdag.yaml.bak are not it. */
    const char *d[] = {"HDAG.yaml=x: 1\n", "hdag.yaml.bak=" G, "g.yaml=" G,
                       NULL};
    r = pick(d, 1 << 20);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.path, "g.yaml");
}

static void test_by_content(void **state)
{
    (void)state;
    /* Order in the archive is irrelevant; only the key decides. */
    const char *a[] = {"z/values.yaml=image: x\n",
                       "m/graph.yml=# c\nhdaGraph:\n  id: g\n",
                       "a/chart.yaml=name: c\nnot_hdaGraph: 1\n",
                       "a/notes.txt=hdaGraph: x\n", NULL};
    struct pick r = pick(a, 1 << 20);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.path, "m/graph.yml");
    /* Only files mentioning hdaGraph are parsed. */
    assert_int_equal(r.calls, 2);

    const char *b[] = {"one.yaml=" G, "two/other.yml=" G, "three.yaml=a: 1\n",
                       NULL};
    r = pick(b, 1 << 20);
    assert_int_equal(r.rc, SMO_EINVAL);
    assert_non_null(strstr(r.msg, "several YAML files hold an hdaGraph key"));
    assert_non_null(strstr(r.msg, "one.yaml"));
    assert_non_null(strstr(r.msg, "two/other.yml"));
    assert_null(strstr(r.msg, "three.yaml"));

    const char *c[] = {"values.yaml=a: 1\n", "README.md=hdaGraph\n", NULL};
    r = pick(c, 1 << 20);
    assert_int_equal(r.rc, SMO_EINVAL);
    assert_non_null(strstr(r.msg, "no HDAG descriptor"));
    assert_non_null(strstr(r.msg, "README.md, values.yaml"));

    const char *none[] = {NULL};
    r = pick(none, 1 << 20);
    assert_int_equal(r.rc, SMO_EINVAL);
    assert_non_null(strstr(r.msg, "files: none"));
}

static void test_size_limits(void **state)
{
    (void)state;
    /* An hdag.yaml over max_descriptor_bytes is found but refused. */
    const char *a[] = {"hdag.yaml=" G, NULL};
    struct pick r = pick(a, 4);
    assert_int_equal(r.rc, SMO_ETOOBIG);
    assert_non_null(strstr(r.msg, "max_descriptor_bytes"));
    /* Many candidates: the message stays bounded and says how many. */
    struct smo__oci_files f = {0};
    struct smo__oci_limits l = test_limits();
    l.max_files = 1000;
    smo_status st;
    smo_status_clear(&st);
    for (int i = 0; i < 200; i++) {
        char p[64];
        snprintf(p, sizeof p, "dir%03d/a-rather-long-file-name.yaml", i);
        assert_int_equal(smo__oci_files_add(&f, p, G, strlen(G), &l, &st), 0);
    }
    assert_int_equal(smo__oci_files_finish(&f, &st), 0);
    size_t k;
    int calls = 0;
    assert_int_equal(smo__oci_select(&f, fake_is_hdag, &calls, &k, &st),
                     SMO_EINVAL);
    assert_non_null(strstr(st.msg, "more)"));
    smo__oci_files_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_first),
        cmocka_unit_test(test_by_content),
        cmocka_unit_test(test_size_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
