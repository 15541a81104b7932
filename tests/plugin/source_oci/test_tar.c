/* Safe extraction: every hostile archive layout is refused with a message
 * that names the problem, and limits hold for files, bytes and gzip
 * ratios. Archives are built byte by byte (oci_test_util.h). */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "oci.h"
#include "oci_test_util.h"

static const char *HDAG = "hdaGraph:\n  id: g\n";

/* Read one tar (gzip'd when `gzip`) with `l`; returns the code, fills
 * `msg`, and the files when `out` is given. */
static int read_layer(const struct tbuf *tar, bool gzip,
                      const struct smo__oci_limits *l, char *msg, size_t cap,
                      struct smo__oci_files *out)
{
    struct smo__oci_files f = {0};
    smo_status st;
    smo_status_clear(&st);
    const void *blob = tar->p;
    size_t n = tar->n;
    uint8_t *z = NULL;
    if (gzip) {
        z = gz(tar->p, tar->n, &n);
        blob = z;
    }
    int r = smo__oci_layer_read(blob, n, "x.tar.gz", l, &f, &st);
    if (!r)
        r = smo__oci_files_finish(&f, &st);
    snprintf(msg, cap, "%s", st.msg);
    free(z);
    if (out && !r)
        *out = f;
    else
        smo__oci_files_free(&f);
    return r;
}

static void test_good_archive(void **state)
{
    (void)state;
    struct tbuf t = {0};
    tar_entry(&t, "./demo-app/", '5', NULL, NULL, 0);
    tar_file(&t, "./demo-app/hdag.yaml", HDAG);
    tar_file(&t, "./demo-app/charts/values.yaml", "a: 1\n");
    tar_file(&t, "./demo-app//README", "readme");
    /* ustar prefix field joins the name. */
    tar_entry_p(&t, "demo-app/deep", "x.yml", '0', NULL, "b: 2\n", 5);
    tar_end(&t);
    struct smo__oci_limits l = test_limits();
    struct smo__oci_files f = {0};
    char msg[512];
    for (int gzip = 0; gzip < 2; gzip++) {
        assert_int_equal(read_layer(&t, gzip, &l, msg, sizeof msg, &f), 0);
        assert_int_equal(f.n, 4);
        assert_int_equal(f.entries, 5);
        /* Sorted by path; YAML kept, other files only counted. */
        assert_string_equal(f.v[0].path, "demo-app/README");
        assert_null(f.v[0].data);
        assert_string_equal(f.v[1].path, "demo-app/charts/values.yaml");
        assert_string_equal(f.v[2].path, "demo-app/deep/x.yml");
        assert_string_equal(f.v[3].path, "demo-app/hdag.yaml");
        assert_string_equal(f.v[3].data, HDAG);
        assert_true(f.v[3].hdag_hint);
        smo__oci_files_free(&f);
    }
    tb_free(&t);
}

/* A one-member archive whose member is hostile. */
static void expect_refused(char type, const char *name, const char *link,
                           const char *needle)
{
    struct tbuf t = {0};
    tar_file(&t, "ok/hdag.yaml", HDAG);
    tar_entry(&t, name, type, link, type == '0' ? "x" : NULL,
              type == '0' ? 1 : 0);
    tar_end(&t);
    struct smo__oci_limits l = test_limits();
    char msg[512];
    int r = read_layer(&t, true, &l, msg, sizeof msg, NULL);
    if (r != SMO_EINVAL || !strstr(msg, needle))
        fail_msg("%s: rc %d, msg \"%s\"", name, r, msg);
    tb_free(&t);
}

static void test_hostile_members(void **state)
{
    (void)state;
    expect_refused('0', "/etc/passwd.yaml", NULL, "absolute paths");
    expect_refused('0', "../escape.yaml", NULL, "\"..\" is not allowed");
    expect_refused('0', "a/../../escape.yaml", NULL, "\"..\" is not allowed");
    expect_refused('0', "a/..", NULL, "\"..\" is not allowed");
    expect_refused('5', "../d/", NULL, "\"..\" is not allowed");
    expect_refused('2', "a/link.yaml", "/etc/passwd", "links are not allowed");
    expect_refused('2', "a/up", "../../..", "links are not allowed");
    expect_refused('1', "a/hard", "ok/hdag.yaml", "links are not allowed");
    expect_refused('3', "a/tty", NULL, "devices and FIFOs");
    expect_refused('6', "a/fifo", NULL, "devices and FIFOs");
    expect_refused('0', "a\\b.yaml", NULL, "backslash");
    expect_refused('0', "a/b\n.yaml", NULL, "control character");
    expect_refused('S', "a/sparse", NULL, "unsupported tar entry type 'S'");
    /* The same path twice: a later member must not replace an earlier. */
    expect_refused('0', "./ok//hdag.yaml", NULL, "appears more than once");
}

/* pax and GNU long names go through the same rules. */
/* "<len> path=<p>\n" where <len> counts itself. */
static void pax_rec(char *rec, size_t cap, const char *p)
{
    size_t body = strlen(p) + 7; /* ' ' "path=" '\n' */
    size_t len = body + 1;
    while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
        len = body + (size_t)snprintf(NULL, 0, "%zu", len);
    snprintf(rec, cap, "%zu path=%s\n", len, p);
}

static void test_long_names(void **state)
{
    (void)state;
    struct smo__oci_limits l = test_limits();
    char msg[512];
    char rec[400];
    const char *p = "../../etc/cron.d/x.yaml";
    pax_rec(rec, sizeof rec, p);
    assert_int_equal((size_t)atoi(rec), strlen(rec));
    struct tbuf t = {0};
    tar_entry(&t, "PaxHeaders/x", 'x', NULL, rec, strlen(rec));
    tar_file(&t, "innocent.yaml", HDAG);
    tar_end(&t);
    assert_int_equal(read_layer(&t, false, &l, msg, sizeof msg, NULL),
                     SMO_EINVAL);
    assert_non_null(strstr(msg, "\"..\" is not allowed"));
    tb_free(&t);

    struct tbuf g = {0};
    tar_entry(&g, "././@LongLink", 'L', NULL, "/abs/x.yaml", 11);
    tar_file(&g, "innocent.yaml", HDAG);
    tar_end(&g);
    assert_int_equal(read_layer(&g, false, &l, msg, sizeof msg, NULL),
                     SMO_EINVAL);
    assert_non_null(strstr(msg, "absolute paths"));
    tb_free(&g);

    /* A long, harmless pax name is read. */
    char longp[300];
    memset(longp, 'd', 150);
    strcpy(longp + 150, "/hdag.yaml");
    pax_rec(rec, sizeof rec, longp);
    struct tbuf ok = {0};
    tar_entry(&ok, "PaxHeaders/x", 'x', NULL, rec, strlen(rec));
    tar_file(&ok, "short.yaml", HDAG);
    tar_end(&ok);
    struct smo__oci_files f = {0};
    assert_int_equal(read_layer(&ok, false, &l, msg, sizeof msg, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.v[0].path, longp);
    smo__oci_files_free(&f);
    tb_free(&ok);
}

static void test_limits_files_and_bytes(void **state)
{
    (void)state;
    struct smo__oci_limits l = test_limits();
    l.max_files = 10;
    char msg[512];
    struct tbuf t = {0};
    for (int i = 0; i < 11; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%02d.txt", i);
        tar_file(&t, name, "x");
    }
    tar_end(&t);
    assert_int_equal(read_layer(&t, true, &l, msg, sizeof msg, NULL),
                     SMO_ETOOBIG);
    assert_non_null(strstr(msg, "more than 10 files"));
    /* Directories count too. */
    struct tbuf d = {0};
    for (int i = 0; i < 11; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%02d/", i);
        tar_entry(&d, name, '5', NULL, NULL, 0);
    }
    tar_end(&d);
    assert_int_equal(read_layer(&d, false, &l, msg, sizeof msg, NULL),
                     SMO_ETOOBIG);
    tb_free(&d);
    l.max_files = 11;
    assert_int_equal(read_layer(&t, true, &l, msg, sizeof msg, NULL), 0);
    tb_free(&t);

    /* Total bytes: a plain tar larger than max_bytes, and a gzip'd one
     * whose expansion passes it. */
    struct tbuf big = {0};
    char *blob = calloc(1, 200000);
    tar_entry(&big, "big.bin", '0', NULL, blob, 200000);
    tar_end(&big);
    free(blob);
    l = test_limits();
    l.max_bytes = 100000;
    assert_int_equal(read_layer(&big, false, &l, msg, sizeof msg, NULL),
                     SMO_ETOOBIG);
    assert_non_null(strstr(msg, "max_extracted_bytes"));
    assert_int_equal(read_layer(&big, true, &l, msg, sizeof msg, NULL),
                     SMO_ETOOBIG);
    assert_non_null(strstr(msg, "max_extracted_bytes"));
    l.max_bytes = 300000;
    assert_int_equal(read_layer(&big, true, &l, msg, sizeof msg, NULL), 0);
    tb_free(&big);

    /* A YAML file over max_yaml is listed but not kept. */
    l = test_limits();
    l.max_yaml = 4;
    struct tbuf y = {0};
    tar_file(&y, "hdag.yaml", HDAG);
    tar_end(&y);
    struct smo__oci_files f = {0};
    assert_int_equal(read_layer(&y, false, &l, msg, sizeof msg, &f), 0);
    assert_int_equal(f.n, 1);
    assert_null(f.v[0].data);
    smo__oci_files_free(&f);
    tb_free(&y);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    /* 64 MiB of zeros compresses to ~64 KiB: a ratio near 1000. */
    size_t n = 64u << 20;
    uint8_t *zeros = calloc(1, n);
    size_t zn;
    uint8_t *z = gz(zeros, n, &zn);
    free(zeros);
    struct smo__oci_limits l = test_limits();
    l.max_bytes = 1ull << 40; /* only the ratio can stop it */
    struct smo__oci_files f = {0};
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__oci_layer_read(z, zn, "x", &l, &f, &st), SMO_ETOOBIG);
    assert_non_null(strstr(st.msg, "gzip bomb"));
    assert_non_null(strstr(st.msg, "max_gzip_ratio"));
    /* With a bounded total, the absolute limit triggers first. */
    l = test_limits();
    l.max_ratio = 100000;
    l.max_bytes = 8u << 20;
    smo_status_clear(&st);
    assert_int_equal(smo__oci_layer_read(z, zn, "x", &l, &f, &st), SMO_ETOOBIG);
    assert_non_null(strstr(st.msg, "max_extracted_bytes"));
    /* The budget is shared across layers. */
    f.inflated = l.max_bytes - 10;
    uint8_t *out;
    size_t out_len;
    smo_status_clear(&st);
    const char tiny[] = "0123456789abcdef";
    size_t tn;
    uint8_t *tz = gz(tiny, sizeof tiny, &tn);
    assert_int_equal(
        smo__oci_gunzip(tz, tn, &l, f.inflated, &out, &out_len, &st),
        SMO_ETOOBIG);
    assert_int_equal(smo__oci_gunzip(tz, tn, &l, 0, &out, &out_len, &st),
                     SMO_OK);
    assert_int_equal(out_len, sizeof tiny);
    free(out);
    free(tz);
    free(z);
    smo__oci_files_free(&f);
}

static void test_corrupt(void **state)
{
    (void)state;
    struct smo__oci_limits l = test_limits();
    struct tbuf t = {0};
    tar_file(&t, "hdag.yaml", HDAG);
    tar_end(&t);
    /* Bad checksum. */
    struct tbuf c = {0};
    tb_put(&c, t.p, t.n);
    c.p[0] = 'H';
    struct smo__oci_files f = {0};
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__oci_untar(c.p, c.n, &l, &f, &st), SMO_EINVAL);
    assert_non_null(strstr(st.msg, "bad checksum"));
    smo__oci_files_free(&f);
    /* Truncated member data. */
    smo_status_clear(&st);
    assert_int_equal(smo__oci_untar(t.p, 512 + 5, &l, &f, &st), SMO_EINVAL);
    assert_non_null(strstr(st.msg, "truncated"));
    smo__oci_files_free(&f);
    /* Only the last member's padding cut: the digest vouched for it. */
    smo_status_clear(&st);
    assert_int_equal(smo__oci_untar(t.p, 700, &l, &f, &st), SMO_OK);
    smo__oci_files_free(&f);
    struct tbuf big = {0};
    char data[2000];
    memset(data, 'a', sizeof data);
    tar_entry(&big, "a.txt", '0', NULL, data, sizeof data);
    smo_status_clear(&st);
    assert_int_equal(smo__oci_untar(big.p, 1000, &l, &f, &st), SMO_EINVAL);
    assert_non_null(strstr(st.msg, "truncated"));
    smo__oci_files_free(&f);
    tb_free(&big);
    /* Garbage after the end marker. */
    tb_put(&t, "junk", 4);
    tb_put(&t, NULL, 508);
    smo_status_clear(&st);
    assert_int_equal(smo__oci_untar(t.p, t.n, &l, &f, &st), SMO_EINVAL);
    assert_non_null(strstr(st.msg, "after the tar end-of-archive"));
    smo__oci_files_free(&f);
    /* Corrupt gzip, trailing garbage after gzip. */
    size_t zn;
    uint8_t *z = gz(c.p, 1024, &zn);
    uint8_t *z2 = malloc(zn + 8);
    memcpy(z2, z, zn);
    memcpy(z2 + zn, "GARBAGE!", 8);
    smo_status_clear(&st);
    assert_int_equal(smo__oci_layer_read(z2, zn + 8, "x", &l, &f, &st),
                     SMO_EINVAL);
    assert_non_null(strstr(st.msg, "garbage after the gzip"));
    z[zn / 2] ^= 0x55;
    z[zn / 2 + 1] ^= 0x55;
    smo_status_clear(&st);
    assert_int_not_equal(smo__oci_layer_read(z, zn, "x", &l, &f, &st), SMO_OK);
    smo_status_clear(&st);
    assert_int_equal(smo__oci_layer_read(z, zn / 2, "x", &l, &f, &st),
                     SMO_EINVAL);
    smo__oci_files_free(&f);
    free(z);
    free(z2);
    /* Not an archive at all, and no YAML title. */
    smo_status_clear(&st);
    assert_int_equal(smo__oci_layer_read("hello", 5, "x.bin", &l, &f, &st),
                     SMO_EINVAL);
    assert_non_null(strstr(st.msg, "neither a tar"));
    /* A bare YAML file named by its title. */
    smo_status_clear(&st);
    assert_int_equal(
        smo__oci_layer_read(HDAG, strlen(HDAG), "graph.yaml", &l, &f, &st),
        SMO_OK);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.v[0].path, "graph.yaml");
    smo__oci_files_free(&f);
    smo_status_clear(&st);
    assert_int_equal(
        smo__oci_layer_read(HDAG, strlen(HDAG), "../graph.yaml", &l, &f, &st),
        SMO_EINVAL);
    smo__oci_files_free(&f);
    tb_free(&t);
    tb_free(&c);
}

static void test_path_clean(void **state)
{
    (void)state;
    char out[SMO__OCI_MAX_PATH + 1];
    smo_status st;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"a/b", "a/b"},   {"./a//b/", "a/b"},     {"./", ""},
        {"a/./b", "a/b"}, {"..a/b..", "..a/b.."}, {"...", "..."},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        smo_status_clear(&st);
        assert_int_equal(smo__oci_path_clean(ok[i].in, strlen(ok[i].in), out,
                                             sizeof out, &st),
                         SMO_OK);
        assert_string_equal(out, ok[i].out);
    }
    const char *bad[] = {"/a", "..", "a/../b", "a/..", "a\\b", "a\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        smo_status_clear(&st);
        assert_int_equal(
            smo__oci_path_clean(bad[i], strlen(bad[i]), out, sizeof out, &st),
            SMO_EINVAL);
    }
    char *lng = malloc(SMO__OCI_MAX_PATH + 10);
    memset(lng, 'a', SMO__OCI_MAX_PATH + 9);
    lng[SMO__OCI_MAX_PATH + 9] = '\0';
    smo_status_clear(&st);
    assert_int_equal(
        smo__oci_path_clean(lng, strlen(lng), out, sizeof out, &st),
        SMO_EINVAL);
    free(lng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_archive),
        cmocka_unit_test(test_hostile_members),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_limits_files_and_bytes),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_path_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
