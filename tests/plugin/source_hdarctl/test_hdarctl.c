/* source_hdarctl: reading hdarctl's output directory with source_oci's
 * rules (archives in memory, links refused, limits), and the plugin's
 * spawn sequence against the mock host (argv, failures, clean-up). The
 * real tool is stood in for by tests/fixtures/oci/fake-hdarctl in
 * tests/integration/test_oci.py. */
#include "../../unit/smo_test.h"

#include <dirent.h>

#include <smo/smo.h>

#include "../source_oci/oci_test_util.h"
#include "hdarctl.h"
#include "smo_mock_host.h"
#include "smo_schema.h"

extern const struct smo_plugin smo_plugin_entry;
#define P   smo_plugin_entry
#define OPS ((const struct smo_source_ops *)P.ops)

static const char *HDAG = "hdaGraph:\n  id: g\n";

static void write_bytes(const char *dir, const char *name, const void *p,
                        size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void mkdir_in(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
}

static int read_dir(const char *dir, struct smo__oci_limits *l,
                    struct smo__oci_files *f, char *msg, size_t cap)
{
    smo_status st;
    smo_status_clear(&st);
    memset(f, 0, sizeof *f);
    int r = smo__hdarctl_read_dir(dir, l, f, &st);
    snprintf(msg, cap, "%s", st.msg);
    return r;
}

static void test_read_archive(void **state)
{
    (void)state;
    char *d = t_mkdtemp();
    /* What `hdarctl pull` without --untar leaves: one .tar.gz. */
    struct tbuf t = {0};
    tar_entry(&t, "demo-app/", '5', NULL, NULL, 0);
    tar_file(&t, "demo-app/hdag.yaml", HDAG);
    tar_file(&t, "demo-app/chart/values.yaml", "a: 1\n");
    tar_end(&t);
    size_t zn;
    uint8_t *z = gz(t.p, t.n, &zn);
    write_bytes(d, "oci-demo-graph-1.0.0.tar.gz", z, zn);
    free(z);
    struct smo__oci_limits l = test_limits();
    struct smo__oci_files f;
    char msg[512];
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), 0);
    /* The archive's members; the archive itself is not listed. */
    assert_int_equal(f.n, 2);
    assert_string_equal(f.v[1].path, "demo-app/hdag.yaml");
    assert_string_equal(f.v[1].data, HDAG);
    smo__oci_files_free(&f);

    /* A hostile archive is refused just as source_oci refuses it. */
    struct tbuf e = {0};
    tar_entry(&e, "demo-app/x.yaml", '2', "/etc/passwd", NULL, 0);
    tar_end(&e);
    write_bytes(d, "oci-demo-graph-1.0.0.tar.gz", e.p, e.n);
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_EINVAL);
    assert_non_null(strstr(msg, "links are not allowed"));
    smo__oci_files_free(&f);
    struct tbuf u = {0};
    tar_file(&u, "../../x.yaml", HDAG);
    tar_end(&u);
    z = gz(u.p, u.n, &zn);
    write_bytes(d, "oci-demo-graph-1.0.0.tar.gz", z, zn);
    free(z);
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_EINVAL);
    assert_non_null(strstr(msg, "\"..\" is not allowed"));
    smo__oci_files_free(&f);
    tb_free(&t);
    tb_free(&e);
    tb_free(&u);
    assert_int_equal(smo__hdarctl_rm_rf(d), 0);
    free(d);
}

static void test_read_tree(void **state)
{
    (void)state;
    char *d = t_mkdtemp();
    /* What `hdarctl pull --untar` leaves: the tree itself. */
    mkdir_in(d, "demo-app");
    mkdir_in(d, "demo-app/charts");
    t_write(d, "demo-app/hdag.yaml", HDAG);
    t_write(d, "demo-app/charts/Chart.yaml", "name: c\n");
    t_write(d, "demo-app/charts/blob.bin", "0123456789");
    struct smo__oci_limits l = test_limits();
    struct smo__oci_files f;
    char msg[512];
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), 0);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.entries, 5);
    assert_string_equal(f.v[0].path, "demo-app/charts/Chart.yaml");
    assert_string_equal(f.v[1].path, "demo-app/charts/blob.bin");
    assert_null(f.v[1].data);
    assert_string_equal(f.v[2].data, HDAG);
    smo__oci_files_free(&f);

    /* Limits. */
    l.max_files = 4;
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_ETOOBIG);
    assert_non_null(strstr(msg, "max_files"));
    smo__oci_files_free(&f);
    l = test_limits();
    l.max_bytes = 20;
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_ETOOBIG);
    assert_non_null(strstr(msg, "max_extracted_bytes"));
    smo__oci_files_free(&f);

    /* A symlink, even to a file inside, is refused (never followed). */
    char link[1024];
    snprintf(link, sizeof link, "%s/demo-app/escape.yaml", d);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    l = test_limits();
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_EINVAL);
    assert_non_null(strstr(msg, "links are not allowed"));
    smo__oci_files_free(&f);
    unlink(link);
    snprintf(link, sizeof link, "%s/demo-app/up", d);
    assert_int_equal(symlink("..", link), 0);
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_EINVAL);
    smo__oci_files_free(&f);
    unlink(link);
    snprintf(link, sizeof link, "%s/demo-app/fifo", d);
    assert_int_equal(mkfifo(link, 0600), 0);
    assert_int_equal(read_dir(d, &l, &f, msg, sizeof msg), SMO_EINVAL);
    assert_non_null(strstr(msg, "FIFOs"));
    smo__oci_files_free(&f);
    unlink(link);

    /* The top directory itself must not be a link. */
    char top[1024];
    snprintf(top, sizeof top, "%s/demo-app/charts-link", d);
    assert_int_equal(symlink(d, top), 0);
    assert_int_equal(read_dir(top, &l, &f, msg, sizeof msg), SMO_EIO);
    smo__oci_files_free(&f);

    /* rm_rf removes links, not their targets; unreadable dirs too. */
    char locked[1024];
    snprintf(locked, sizeof locked, "%s/demo-app/locked", d);
    assert_int_equal(mkdir(locked, 0700), 0);
    t_write(locked, "x", "x");
    assert_int_equal(chmod(locked, 0), 0);
    assert_int_equal(smo__hdarctl_rm_rf(d), 0);
    assert_int_not_equal(access(d, F_OK), 0);
    free(d);
}

/* ---------------------------------------------------- the plugin -- */

static struct smo_mock *m;
static void *cfgs;
static json_t *cfgj;
static void *st8;
static char *data;

static int make(const char *yaml_cfg, smo_status *st)
{
    const struct smo_host *h = smo_mock_host(m);
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
    int r = P.validate(cfgj, cfgs, st);
    return r ? r : P.create(h, smo_mock_self(m), cfgs, &st8, st);
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

struct out {
    bool done;
    int code;
    char msg[512];
};

static void on_text(void *arg, const smo_status *st, const char *text,
                    size_t len, const char *media)
{
    (void)text;
    (void)len;
    (void)media;
    struct out *o = arg;
    assert_false(o->done);
    o->done = true;
    o->code = st->code;
    snprintf(o->msg, sizeof o->msg, "%s", st->msg);
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
    assert_false(o->done);
    smo_mock_run(m);
    assert_true(o->done);
}

/* Directories left in <data>/hdarctl. */
static int leftovers(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/hdarctl", data);
    DIR *d = opendir(p);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_plugin(void **state)
{
    (void)state;
    m = smo_mock_new();
    data = t_mkdtemp();
    smo_mock_set_data_dir(m, data);
    smo_status st;
    assert_int_equal(make("{binary: /opt/x/hdarctl, args: [--plain-http],"
                          " allowed_registries: [\"127.0.0.1:5000\"]}",
                          &st),
                     0);
    assert_int_equal(OPS->accepts(st8, "oci://127.0.0.1:5000/p/g:1", &st), 0);
    assert_int_equal(OPS->accepts(st8, "http://127.0.0.1:5000/p/g", &st), 0);
    assert_int_equal(OPS->accepts(st8, "oci://other/p/g", &st), SMO_EPERM);
    assert_int_equal(OPS->accepts(st8, "/x/hdag.yaml", &st), SMO_SKIP);
    /* Nothing option-like or query-like reaches the tool. */
    assert_int_equal(OPS->accepts(st8, "oci://127.0.0.1:5000/-rf", &st),
                     SMO_EINVAL);
    assert_int_equal(OPS->accepts(st8, "oci://127.0.0.1:5000/p?x", &st),
                     SMO_EINVAL);

    /* The tool succeeds but leaves nothing. */
    smo_mock_spawn_expect(m, "hdarctl", 0, "", "");
    struct out o;
    resolve("oci://127.0.0.1:5000/p/g:1", &o);
    assert_int_equal(o.code, SMO_EINVAL);
    assert_non_null(strstr(o.msg, "no HDAG descriptor"));
    json_t *sp = json_object_get(json_array_get(smo_mock_spawns(m), 0), "argv");
    assert_int_equal(json_array_size(sp), 6);
    assert_string_equal(json_string_value(json_array_get(sp, 0)),
                        "/opt/x/hdarctl");
    assert_string_equal(json_string_value(json_array_get(sp, 1)), "pull");
    assert_string_equal(json_string_value(json_array_get(sp, 2)),
                        "oci://127.0.0.1:5000/p/g:1");
    assert_string_equal(json_string_value(json_array_get(sp, 3)),
                        "--destination");
    const char *dest = json_string_value(json_array_get(sp, 4));
    char want[1024];
    snprintf(want, sizeof want, "%s/hdarctl/pull-", data);
    assert_memory_equal(dest, want, strlen(want));
    assert_string_equal(json_string_value(json_array_get(sp, 5)),
                        "--plain-http");
    assert_int_equal(leftovers(), 0);

    /* The tool fails: its last stderr line is the message. */
    smo_mock_spawn_expect(m, "hdarctl", 1, "",
                          "pulling...\nError: manifest unknown\n");
    resolve("oci://127.0.0.1:5000/p/g:2", &o);
    assert_int_equal(o.code, SMO_EEXTERNAL);
    assert_string_equal(o.msg, "hdarctl pull failed: Error: manifest unknown");
    assert_int_equal(leftovers(), 0);

    /* Not even started (the mock answers unexpected programs with an
     * error). */
    resolve("oci://127.0.0.1:5000/p/g:3", &o);
    assert_int_not_equal(o.code, 0);
    assert_int_equal(leftovers(), 0);
    unmake();

    static const char *const bad[] = {"{binary: \"\"}",
                                      "{work_dir: relative/dir}",
                                      "{allowed_registries: [\"a b\"]}"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(make(bad[i], &st), SMO_ECONFIG);
        unmake();
    }
    smo_mock_free(m);
    t_rm_rf(data);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_archive),
        cmocka_unit_test(test_read_tree),
        cmocka_unit_test(test_plugin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
