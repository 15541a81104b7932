/* Host services on a real loop: timers, deferred calls, thread-pool jobs,
 * child processes, core calls, metrics, events, accounted memory. */
#include "smo_test.h"

#include <pthread.h>
#include <signal.h>

#include "smo_rt.h"

static struct smo_rt *rt;
static const struct smo_host *H;
static smo_instance *self;

static int setup(void **state)
{
    (void)state;
    rt = smo__rt_new(NULL, "/nonexistent", "/tmp");
    H = &rt->host;
    self = &rt->core;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    smo__rt_free(rt);
    return 0;
}

static int fired;
static void on_timer(void *arg)
{
    (void)arg;
    fired++;
}

static void test_timers(void **state)
{
    (void)state;
    fired = 0;
    H->timer_start(self, 10, 0, on_timer, NULL);
    smo_timer *rep = H->timer_start(self, 5, 5, on_timer, NULL);
    smo_timer *never = H->timer_start(self, 50, 0, on_timer, NULL);
    H->timer_stop(never);
    uint64_t end = uv_hrtime() + 200 * 1000000ull;
    while (fired < 5 && uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_ONCE);
    H->timer_stop(rep);
    int before = fired;
    end = uv_hrtime() + 80 * 1000000ull;
    while (uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_NOWAIT);
    assert_true(before >= 5);
    assert_int_equal(fired, before); /* stopped: no more, "never" never */
}

static bool deferred;
static void on_defer(void *arg)
{
    (void)arg;
    deferred = true;
}

static void test_defer(void **state)
{
    (void)state;
    deferred = false;
    assert_int_equal(H->defer(self, on_defer, NULL), 0);
    assert_false(deferred); /* never inside the call */
    assert_true(t_run_until(rt->loop, &deferred, 1000));
}

static pthread_t loop_thread, work_thread;
static bool work_done;
static int work_status = -99;
static void work_fn(void *arg)
{
    (void)arg;
    work_thread = pthread_self();
}
static void work_after(void *arg, int status)
{
    (void)arg;
    assert_true(pthread_equal(pthread_self(), loop_thread));
    work_status = status;
    work_done = true;
}

static void test_queue_work(void **state)
{
    (void)state;
    loop_thread = pthread_self();
    work_done = false;
    assert_int_equal(H->queue_work(self, work_fn, work_after, NULL), 0);
    assert_true(t_run_until(rt->loop, &work_done, 2000));
    assert_false(pthread_equal(work_thread, loop_thread));
    assert_int_equal(work_status, SMO_OK);
}

struct spawn_out {
    bool done;
    int code;
    int64_t exit_status;
    int sig;
    bool timed_out, truncated;
    char out[256], err[256];
    size_t out_len;
};

static void on_spawn(void *arg, const smo_status *st,
                     const struct smo_spawn_result *r)
{
    struct spawn_out *o = arg;
    o->code = st->code;
    o->exit_status = r->exit_status;
    o->sig = r->term_signal;
    o->timed_out = r->timed_out;
    o->truncated = r->out_truncated;
    o->out_len = r->out_len;
    snprintf(o->out, sizeof o->out, "%.*s", (int)r->out_len, r->out);
    snprintf(o->err, sizeof o->err, "%.*s", (int)r->err_len, r->err);
    o->done = true;
}

static void run_proc(const char *const *argv, const char *const *env,
                     const char *in, int64_t timeout, size_t max,
                     struct spawn_out *o)
{
    memset(o, 0, sizeof *o);
    struct smo_spawn_opts so;
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.argv = argv;
    so.env = env;
    so.stdin_data = in;
    so.stdin_len = in ? strlen(in) : 0;
    so.timeout_ms = timeout;
    so.kill_grace_ms = 200;
    so.max_output_bytes = max;
    smo_status st;
    smo_proc *p = H->spawn(self, &so, on_spawn, o, &st);
    assert_non_null(p);
    assert_true(t_run_until(rt->loop, &o->done, 10000));
}

static void test_spawn(void **state)
{
    (void)state;
    struct spawn_out o;
    const char *a1[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    run_proc(a1, NULL, NULL, 0, 0, &o);
    assert_int_equal(o.code, SMO_EEXTERNAL);
    assert_int_equal(o.exit_status, 3);
    assert_string_equal(o.out, "out\n");
    assert_string_equal(o.err, "err\n");

    const char *a2[] = {"cat", NULL};
    run_proc(a2, NULL, "hello stdin", 0, 0, &o);
    assert_int_equal(o.code, 0);
    assert_string_equal(o.out, "hello stdin");

    const char *a3[] = {"sleep", "10", NULL};
    run_proc(a3, NULL, NULL, 100, 0, &o);
    assert_int_equal(o.code, SMO_ETIMEDOUT);
    assert_true(o.timed_out);
    assert_int_equal(o.sig, SIGTERM);

    const char *a4[] = {"head", "-c", "100000", "/dev/zero", NULL};
    run_proc(a4, NULL, NULL, 0, 1000, &o);
    assert_int_equal(o.code, 0);
    assert_true(o.truncated);
    assert_int_equal(o.out_len, 1000);

    const char *a5[] = {"/usr/bin/env", NULL};
    const char *env[] = {"FOO=bar", NULL};
    run_proc(a5, env, NULL, 0, 0, &o);
    assert_string_equal(o.out, "FOO=bar\n");

    /* argv is never given to a shell. */
    const char *a6[] = {"echo", "$(id); `id` && id", NULL};
    run_proc(a6, NULL, NULL, 0, 0, &o);
    assert_string_equal(o.out, "$(id); `id` && id\n");

    struct smo_spawn_opts so;
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    const char *bad[] = {"smo-no-such-program-xyz", NULL};
    so.argv = bad;
    smo_status st;
    assert_null(H->spawn(self, &so, on_spawn, &o, &st));
    assert_int_equal(st.code, SMO_ENOENT);
    assert_string_equal(st.msg, "cannot run smo-no-such-program-xyz: program "
                                "not found");
}

struct call_out {
    bool done;
    int code;
    json_t *res;
    char msg[sizeof(((smo_status *)0)->msg)];
};

static void on_call(void *arg, const smo_status *st, json_t *res)
{
    struct call_out *o = arg;
    o->code = st->code;
    snprintf(o->msg, sizeof o->msg, "%s", st->msg);
    o->res = res;
    o->done = true;
}

static void test_calls(void **state)
{
    (void)state;
    struct call_out o = {0};
    assert_int_equal(H->call(self, "system.version", NULL, on_call, &o), 0);
    assert_false(o.done);
    assert_true(t_run_until(rt->loop, &o.done, 1000));
    assert_int_equal(o.code, 0);
    assert_string_equal(json_string_value(json_object_get(o.res, "version")),
                        SMO_VERSION);
    json_decref(o.res);

    memset(&o, 0, sizeof o);
    H->call(self, "no.such", json_object(), on_call, &o);
    assert_true(t_run_until(rt->loop, &o.done, 1000));
    assert_int_equal(o.code, SMO_ENOSYS);
    assert_string_equal(o.msg, "unknown method \"no.such\"");

    memset(&o, 0, sizeof o);
    H->call(self, "system.ready", NULL, on_call, &o);
    assert_true(t_run_until(rt->loop, &o.done, 1000));
    assert_int_equal(o.code, SMO_EUNAVAIL);

    memset(&o, 0, sizeof o);
    H->call(self, "system.metrics", NULL, on_call, &o);
    assert_true(t_run_until(rt->loop, &o.done, 1000));
    assert_non_null(strstr(json_string_value(json_object_get(o.res, "text")),
                           "smo_build_info{version=\"" SMO_VERSION "\"} 1"));
    json_decref(o.res);
}

static void test_metrics(void **state)
{
    (void)state;
    const char *ln[] = {"route", "code", NULL};
    smo_metric *c =
        H->metric_register(self, SMO_METRIC_COUNTER, "smo_test_requests_total",
                           "Requests.\nSecond line", ln);
    assert_non_null(c);
    assert_ptr_equal(c, H->metric_register(self, SMO_METRIC_COUNTER,
                                           "smo_test_requests_total", "x", ln));
    assert_null(H->metric_register(self, SMO_METRIC_GAUGE,
                                   "smo_test_requests_total", "x", ln));
    assert_null(
        H->metric_register(self, SMO_METRIC_GAUGE, "bad name", "x", NULL));
    const char *lv[] = {"/graphs/\"x\"", "200", NULL};
    H->metric_add(c, lv, 2);
    H->metric_add(c, lv, 1);
    smo_metric *h = H->metric_register(self, SMO_METRIC_HISTOGRAM,
                                       "smo_test_seconds", "Latency.", NULL);
    H->metric_observe(h, NULL, 0.003);
    H->metric_observe(h, NULL, 7);
    char *text = smo__metrics_render(rt->metrics);
    assert_non_null(strstr(text, "# HELP smo_test_requests_total Requests.\\n"
                                 "Second line\n# TYPE smo_test_requests_total "
                                 "counter\n"));
    assert_non_null(strstr(text, "smo_test_requests_total{route=\"/graphs/"
                                 "\\\"x\\\"\",code=\"200\"} 3\n"));
    assert_non_null(strstr(text, "smo_test_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "smo_test_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "smo_test_seconds_count 2\n"));
    free(text);
}

static void test_events(void **state)
{
    (void)state;
    smo__events_set_capacity(rt->events, 10);
    for (int i = 0; i < 15; i++)
        H->event_emit(self, "t.x", "p", i % 2 ? "g1" : "g2",
                      json_pack("{s:i}", "i", i));
    json_t *all = smo__events_list(rt->events, 0, NULL, 0);
    assert_int_equal(json_array_size(all), 10);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(all, 0), "data"), "i")),
                     5);
    json_decref(all);
    json_t *g1 = smo__events_list(rt->events, 0, "g1", 2);
    assert_int_equal(json_array_size(g1), 2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(g1, 1), "data"), "i")),
                     13);
    json_decref(g1);
}

static void test_memory_and_parsers(void **state)
{
    (void)state;
    size_t before = self->mem_bytes;
    void *p = H->alloc(self, 100);
    assert_int_equal(self->mem_bytes, before + 100);
    H->free(self, p);
    assert_int_equal(self->mem_bytes, before);

    json_t *doc =
        json_pack("{s:s, s:[i,i]}", "clustersAffinity", "true", "n", 1, 2);
    char *y = NULL;
    size_t n = 0;
    smo_status st;
    assert_int_equal(H->yaml_emit(self, doc, &y, &n, &st), 0);
    json_t *back = NULL;
    assert_int_equal(H->yaml_parse(y, n, &back, &st), 0);
    assert_true(json_equal(doc, back));
    H->free(self, y);
    json_decref(back);
    json_decref(doc);

    double q;
    assert_int_equal(H->parse_quantity("500Mi", &q, &st), 0);
    assert_true(q == 524288000.0);
    int64_t ms;
    assert_int_equal(H->parse_duration("2m", &ms, &st), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(H->check_dns_label("ok-name", 53, &st), 0);
    assert_true(SMO_HOST_HAS(H, check_dns_label));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_defer),
        cmocka_unit_test(test_queue_work),
        cmocka_unit_test(test_spawn),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_memory_and_parsers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
