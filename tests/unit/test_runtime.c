/* Instance lifecycle and reload, driven in-process with the probe fixture
 * plugins (they report every lifecycle step as an event). */
#include "smo_test.h"

#include "smo_rt.h"

static char *dir;
static struct smo_rt *rt;
static uint64_t seen;

static void write_conf(const char *solver_extra, const char *monitor_extra,
                       const char *more)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "engine:\n  plugin_path: [%s]\n  shutdown_timeout: 300ms\n"
             "  log_level: warning\n"
             "instances:\n"
             "  - kind: solver\n    plugin: probe\n    name: s1\n"
             "    config: {tag: s1%s}\n"
             "  - kind: monitor\n    plugin: probe\n    name: m1\n"
             "    config: {tag: m1%s}\n%s",
             SMO_TEST_PLUGIN_DIR, solver_extra, monitor_extra, more);
    t_write(dir, "10-probes.yaml", buf);
}

/* Events since the last call, as "type:tag" joined by spaces. */
static char *events(void)
{
    json_t *evs = smo__events_list(rt->events, seen, NULL, 0);
    char *out = calloc(1, 4096);
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        seen = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *tag = json_string_value(
            json_object_get(json_object_get(e, "data"), "tag"));
        if (strncmp(type, "probe.", 6) != 0)
            continue;
        snprintf(out + strlen(out), 4096 - strlen(out), "%s%s:%s",
                 out[0] ? " " : "", type + 6, tag ? tag : "");
    }
    json_decref(evs);
    return out;
}

static void expect_events(const char *want)
{
    char *got = events();
    if (strcmp(got, want) != 0)
        fail_msg("\n got: %s\nwant: %s", got, want);
    free(got);
}

static void settle(uint64_t ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_NOWAIT), usleep(1000);
}

static size_t n_active(void)
{
    size_t n = 0;
    for (smo_instance *i = rt->active; i; i = i->next)
        n++;
    return n;
}

static int setup(void **state)
{
    (void)state;
    unsetenv("SMO_PLUGIN_PATH");
    dir = t_mkdtemp();
    rt = smo__rt_new(NULL, dir, dir);
    seen = 0;
    return 0;
}

static bool shut;
static void shut_done(struct smo_rt *r)
{
    (void)r;
    shut = true;
}

static int teardown(void **state)
{
    (void)state;
    if (!rt->shutting_down) {
        shut = false;
        smo__rt_shutdown(rt, shut_done);
        assert_true(t_run_until(rt->loop, &shut, 5000));
    }
    smo__rt_free(rt);
    t_rm_rf(dir);
    free(dir);
    return 0;
}

static int apply(struct smo__errlist *e)
{
    smo__errlist_init(e, 50);
    return smo__rt_apply_config(rt, e);
}

static void test_start_keep_replace_reconfigure(void **state)
{
    (void)state;
    struct smo__errlist e;
    write_conf("", "", "");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    expect_events("create:s1 start:s1 create:m1 start:m1");
    assert_int_equal(n_active(), 2);
    smo_instance *s1 = smo__rt_find(rt, "s1");
    smo_instance *m1 = smo__rt_find(rt, "m1");

    /* Same configuration: nothing restarts. */
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    expect_events("");
    assert_ptr_equal(smo__rt_find(rt, "s1"), s1);

    /* Changed solver (no reconfigure hook): replaced; changed monitor
     * (has one): reconfigured in place. */
    write_conf(", count: 7", ", count: 8", "");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    settle(50);
    expect_events("create:s1 start:s1 reconfigure:m1 stop:s1 destroy:s1");
    assert_ptr_not_equal(smo__rt_find(rt, "s1"), s1);
    assert_ptr_equal(smo__rt_find(rt, "m1"), m1);
    assert_int_equal(json_integer_value(json_object_get(m1->config, "count")),
                     8);

    /* Removing an instance stops it. */
    t_write(dir, "10-probes.yaml",
            "engine: {plugin_path: [" SMO_TEST_PLUGIN_DIR "]}\ninstances:\n"
            "  - {kind: monitor, plugin: probe, name: m1, config: {tag: m1, "
            "count: 8}}\n");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    settle(20);
    expect_events("stop:s1 destroy:s1");
    assert_int_equal(n_active(), 1);
}

static void test_rejected_reload_keeps_old_set(void **state)
{
    (void)state;
    struct smo__errlist e;
    write_conf("", "", "");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    expect_events("create:s1 start:s1 create:m1 start:m1");
    smo_instance *s1 = smo__rt_find(rt, "s1");

    /* A schema error: nothing is created at all. */
    write_conf(", count: 1000", "", "");
    assert_int_not_equal(apply(&e), 0);
    char want[512];
    snprintf(want, sizeof want,
             "%s/10-probes.yaml:9: instances[0].config.count: 1000 is above "
             "the maximum 100",
             dir);
    assert_string_equal(e.lines[0], want);
    smo__errlist_free(&e);
    expect_events("");
    assert_ptr_equal(smo__rt_find(rt, "s1"), s1);

    /* A new instance failing to start: the ones built are undone. */
    write_conf(", count: 5", ", count: 9, fail_reconfigure: true",
               "  - {kind: solver, plugin: probe, name: s2, config: "
               "{tag: s2, fail_start: true}}\n");
    assert_int_not_equal(apply(&e), 0);
    assert_non_null(strstr(e.lines[0], "instance \"s2\" (solver probe): start "
                                       "failed: told to fail in start"));
    smo__errlist_free(&e);
    settle(50);
    expect_events("create:s1 start:s1 create:s2 destroy:s2 stop:s1 "
                  "destroy:s1");
    assert_ptr_equal(smo__rt_find(rt, "s1"), s1);
    assert_null(smo__rt_find(rt, "s2"));

    /* A failing reconfigure undoes the new instances too. */
    write_conf(", count: 5", ", count: 9, fail_reconfigure: true", "");
    assert_int_not_equal(apply(&e), 0);
    assert_non_null(strstr(e.lines[0], "instance \"m1\": reconfigure failed: "
                                       "told to fail in reconfigure"));
    smo__errlist_free(&e);
    settle(50);
    expect_events("create:s1 start:s1 stop:s1 destroy:s1");
    assert_ptr_equal(smo__rt_find(rt, "s1"), s1);
    assert_int_equal(n_active(), 2);

    /* Unknown plugin and a second store. */
    write_conf("", "",
               "  - {kind: store, plugin: nothere, name: st1}\n"
               "  - {kind: store, plugin: nothere, name: st2}\n");
    assert_int_not_equal(apply(&e), 0);
    snprintf(want, sizeof want,
             "%s/10-probes.yaml:14: instances[2].plugin: plugin "
             "smo_store_nothere.so not found",
             dir);
    assert_true(strncmp(e.lines[0], want, strlen(want)) == 0);
    smo__errlist_free(&e);
}

static void test_create_failure(void **state)
{
    (void)state;
    struct smo__errlist e;
    write_conf(", fail_create: true", "", "");
    assert_int_not_equal(apply(&e), 0);
    assert_non_null(strstr(e.lines[0], "instance \"s1\" (solver probe): "
                                       "create failed: told to fail in "
                                       "create"));
    smo__errlist_free(&e);
    assert_int_equal(n_active(), 0);
}

static void test_drain_and_cutoff(void **state)
{
    (void)state;
    struct smo__errlist e;
    /* s1 drains for 100 ms; m1 never finishes and is cut off at 300 ms. */
    write_conf(", stop_delay: 100ms", ", stop_hang: true", "");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    expect_events("create:s1 start:s1 create:m1 start:m1");
    shut = false;
    /* Timers count from the loop's cached time: refresh it first, so the
     * lower bound below measures the cut-off and not the time apply took
     * (libuv timers never fire early relative to that clock). */
    uv_update_time(rt->loop);
    uint64_t t0 = uv_hrtime();
    smo__rt_shutdown(rt, shut_done);
    assert_true(t_run_until(rt->loop, &shut, 5000));
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    assert_true(ms >= 250);
    expect_events("stop:m1 stop:s1 drained:s1 destroy:s1 destroy:m1");
}

static void test_destroy_waits_for_jobs_and_children(void **state)
{
    (void)state;
    struct smo__errlist e;
    write_conf(", work_on_start: true", ", spawn_on_start: sleep", "");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    expect_events("create:s1 start:s1 create:m1 start:m1");
    shut = false;
    smo__rt_shutdown(rt, shut_done);
    assert_true(t_run_until(rt->loop, &shut, 5000));
    /* The job and the killed child complete before destroy(). */
    char *got = events();
    char want_s[64], want_m[64];
    snprintf(want_m, sizeof want_m, "spawn_done:m1 destroy:m1");
    snprintf(want_s, sizeof want_s, "work_done:s1 destroy:s1");
    if (!strstr(got, want_m) || !strstr(got, want_s))
        fail_msg("got: %s", got);
    free(got);
    json_t *evs = smo__events_list(rt->events, 0, NULL, 0);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")),
                   "probe.spawn_done") == 0)
            assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(ev, "data"), "status")),
                             SMO_ECANCELED);
    }
    json_decref(evs);
}

static void test_normalised_config_defaults(void **state)
{
    (void)state;
    struct smo__errlist e;
    write_conf(", timeout: 1m, limit: 2Gi, mode: slow", "", "");
    assert_int_equal(apply(&e), 0);
    smo__errlist_free(&e);
    json_t *evs = smo__events_list(rt->events, 0, NULL, 1000);
    json_t *first = json_object_get(json_array_get(evs, 0), "data");
    assert_int_equal(json_integer_value(json_object_get(first, "timeout_ms")),
                     60000);
    assert_int_equal(json_integer_value(json_object_get(first, "limit")),
                     2147483648ll);
    assert_string_equal(json_string_value(json_object_get(first, "mode")),
                        "slow");
    assert_int_equal(json_integer_value(json_object_get(first, "nested_a")), 1);
    assert_int_equal(json_integer_value(json_object_get(first, "count")), 3);
    json_decref(evs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_keep_replace_reconfigure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_reload_keeps_old_set,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_and_cutoff, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_destroy_waits_for_jobs_and_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_normalised_config_defaults, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
