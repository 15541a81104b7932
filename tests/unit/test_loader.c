/* Plugin loading: ABI checks with exact messages for each broken fixture. */
#include "smo_test.h"

#include <limits.h>

#include "smo_loader.h"

static struct smo__loader L;

static int setup(void **state)
{
    (void)state;
    unsetenv("SMO_PLUGIN_PATH");
    json_t *dirs =
        json_pack("[s, s]", SMO_TEST_BROKEN_DIR, SMO_TEST_PLUGIN_DIR);
    smo__loader_init(&L, dirs);
    json_decref(dirs);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    smo__loader_fini(&L);
    return 0;
}

static void expect_reject(const char *name, const char *tail)
{
    const struct smo__plugin *p = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__loader_find(&L, SMO_KIND_SOLVER, name, &p, &st);
    assert_int_equal(r, SMO_EABI);
    assert_null(p);
    char want[PATH_MAX + 1024];
    snprintf(want, sizeof want, "%s/smo_solver_%s.so: %s", SMO_TEST_BROKEN_DIR,
             name, tail);
    if (strcmp(st.msg, want) != 0)
        fail_msg("\n got: %s\nwant: %s", st.msg, want);
}

static void test_rejections(void **state)
{
    (void)state;
    char buf[PATH_MAX + 256];
    expect_reject("badmajor", "abi_major: expected 1, found 2");
    expect_reject("newminor", "abi_minor: expected <= 1, found 2 (the plugin "
                              "needs a newer smod)");
    snprintf(buf, sizeof buf, "struct_size: expected >= %zu, found 16",
             sizeof(struct smo_plugin));
    expect_reject("short", buf);
    expect_reject("noplace", "ops.place: mandatory operation missing");
    expect_reject("nomagic", "magic: expected 0x534d4f50, found 0x12345678");
    expect_reject("wrongkind",
                  "kind: expected solver (from the file name), found executor");
    expect_reject("wrongname", "name: expected \"wrongname\" (from the file "
                               "name), found \"other\"");
    expect_reject("nocreate", "create: mandatory hook missing");
    expect_reject("badschema",
                  "config field \"speed\": invalid default \"fast\": default: "
                  "speed: invalid duration \"fast\": expected something like "
                  "500ms, 30s, 5m, 1h30m");
    snprintf(buf, sizeof buf, "ops_size: expected >= %zu for a solver, found 4",
             sizeof(struct smo_solver_ops));
    expect_reject("opssize", buf);
    expect_reject("nosym", "symbol smo_plugin_entry not found (not an SMO "
                           "plugin?)");
    char real[PATH_MAX];
    assert_non_null(realpath(SMO_TEST_BROKEN_DIR "/smo_solver_undef.so", real));
    snprintf(buf, sizeof buf,
             "cannot load: %s: undefined symbol: smo_fixture_missing_function",
             real);
    expect_reject("undef", buf);
}

static void test_not_found(void **state)
{
    (void)state;
    const struct smo__plugin *p = NULL;
    smo_status st;
    int r = smo__loader_find(&L, SMO_KIND_STORE, "nothere", &p, &st);
    assert_int_equal(r, SMO_ENOENT);
    assert_non_null(strstr(st.msg, "plugin smo_store_nothere.so not found "
                                   "(searched " SMO_TEST_BROKEN_DIR
                                   ":" SMO_TEST_PLUGIN_DIR));
}

static void test_good(void **state)
{
    (void)state;
    const struct smo__plugin *p = NULL, *p2 = NULL;
    smo_status st;
    assert_int_equal(smo__loader_find(&L, SMO_KIND_SOLVER, "probe", &p, &st),
                     0);
    assert_string_equal(p->desc.name, "probe");
    assert_non_null(p->ops.solver.place);
    /* Loaded once, reused. */
    assert_int_equal(smo__loader_find(&L, SMO_KIND_SOLVER, "probe", &p2, &st),
                     0);
    assert_ptr_equal(p, p2);
    json_t *d = smo__plugin_describe(p);
    assert_string_equal(json_string_value(json_object_get(d, "kind")),
                        "solver");
    assert_string_equal(json_string_value(json_object_get(d, "abi")), "1.1");
    assert_true(json_array_size(json_object_get(d, "config")) > 10);
    json_decref(d);
    /* A monitor named probe is a different file. */
    assert_int_equal(smo__loader_find(&L, SMO_KIND_MONITOR, "probe", &p2, &st),
                     0);
    assert_ptr_not_equal(p, p2);
    assert_non_null(p2->desc.reconfigure);
}

static void test_scan(void **state)
{
    (void)state;
    json_t *all = smo__loader_scan(&L);
    size_t i, errors = 0, ok = 0;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        if (json_object_get(e, "error"))
            errors++;
        else
            ok++;
    }
    assert_int_equal(errors, 12);
    assert_true(ok >= 2);
    json_decref(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_scan),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
