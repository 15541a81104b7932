/* conf.d loading: lexical order, engine merge, instances, interpolation and
 * one-line errors naming file, line and key. */
#include "smo_test.h"

#include <smo/smo.h>

#include "smo_conf.h"

static struct smo__conf *load(const char *dir, struct smo__errlist *e)
{
    smo__errlist_init(e, 50);
    struct smo__conf *c = NULL;
    smo__conf_load(dir, &c, e);
    return c;
}

static void test_merge_and_order(void **state)
{
    (void)state;
    char *d = t_mkdtemp();
    t_write(d, "00-engine.yaml",
            "engine:\n  log_level: debug\n"
            "  shutdown_timeout: 5s\n");
    t_write(d, "10-a.yaml",
            "instances:\n  - {kind: source, plugin: file, "
            "name: files}\n");
    t_write(d, "20-b.yml",
            "engine: {log_level: warning}\ninstances:\n"
            "  - kind: frontend\n    plugin: http\n"
            "    name: api\n    config: {port: 8000}\n"
            "  - kind: solver\n    plugin: cbc\n"
            "    name: off\n    enabled: false\n");
    t_write(d, ".hidden.yaml", "garbage: [");
    t_write(d, "notes.txt", "ignored");
    t_write(d, "30-empty.yaml", "");
    struct smo__errlist e;
    struct smo__conf *c = load(d, &e);
    assert_int_equal(e.n, 0);
    assert_non_null(c);
    assert_string_equal(c->ecfg.log_level, "warning");
    assert_int_equal(c->ecfg.shutdown_timeout_ms, 5000);
    assert_int_equal(c->ecfg.threadpool_size, 4);
    assert_int_equal(c->n_inst, 2);
    assert_string_equal(c->inst[0].name, "files");
    assert_int_equal(c->inst[0].kind, SMO_KIND_SOURCE);
    assert_string_equal(c->inst[1].name, "api");
    assert_int_equal(c->inst[1].kind, SMO_KIND_API);
    assert_int_equal(
        json_integer_value(json_object_get(c->inst[1].config, "port")), 8000);
    assert_int_equal(json_array_size(c->files), 4);
    smo__conf_free(c);
    smo__errlist_free(&e);
    t_rm_rf(d);
    free(d);
}

static void test_interpolation(void **state)
{
    (void)state;
    setenv("SMO_T_PORT", "9090", 1);
    setenv("SMO_T_EMPTY", "", 1);
    unsetenv("SMO_T_UNSET");
    char *d = t_mkdtemp();
    t_write(d, "a.yaml",
            "instances:\n  - kind: api\n    plugin: http\n    name: api\n"
            "    config:\n      port: ${SMO_T_PORT}\n"
            "      host: \"${SMO_T_UNSET:-127.0.0.1}\"\n"
            "      price: $$5 and ${SMO_T_EMPTY:-dflt}\n"
            "      quoted: '${SMO_T_PORT}'\n");
    struct smo__errlist e;
    struct smo__conf *c = load(d, &e);
    assert_int_equal(e.n, 0);
    json_t *cfg = c->inst[0].config;
    /* Plain scalars are typed after interpolation, quoted ones stay
     * strings. */
    assert_int_equal(json_integer_value(json_object_get(cfg, "port")), 9090);
    assert_string_equal(json_string_value(json_object_get(cfg, "host")),
                        "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(cfg, "price")),
                        "$5 and dflt");
    assert_string_equal(json_string_value(json_object_get(cfg, "quoted")),
                        "9090");
    smo__conf_free(c);
    smo__errlist_free(&e);

    t_write(d, "a.yaml", "engine:\n  log_level: ${SMO_T_UNSET}\n");
    c = load(d, &e);
    assert_null(c);
    assert_int_equal(e.n, 1);
    char want[512];
    snprintf(want, sizeof want,
             "%s/a.yaml:2:14: engine.log_level: environment variable "
             "SMO_T_UNSET is not set (write ${SMO_T_UNSET:-default} to give a "
             "default)",
             d);
    assert_string_equal(e.lines[0], want);
    smo__errlist_free(&e);
    t_rm_rf(d);
    free(d);

    char *out = NULL, msg[200];
    assert_int_equal(smo__conf_interpolate("${1X}", 5, &out, msg, sizeof msg),
                     SMO_EINVAL);
    assert_int_equal(smo__conf_interpolate("${X", 3, &out, msg, sizeof msg),
                     SMO_EINVAL);
    assert_string_equal(msg, "unterminated ${X");
    assert_int_equal(smo__conf_interpolate("no vars", 7, &out, msg, sizeof msg),
                     0);
    assert_null(out);
}

struct bad_case {
    const char *file;
    const char *text;
    const char *want; /* after "<dir>/" */
};

static void test_bad_input(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"a.yaml", "engine: [1\n",
         "a.yaml:2:1: did not find expected ',' or ']' while parsing a flow "
         "sequence"},
        {"a.yaml", "engine:\n  log_level: loud\n",
         "a.yaml:2: engine.log_level: expected one of error, warning, notice, "
         "info, debug, found \"loud\""},
        {"a.yaml", "engine:\n  shutdown_timeout: forever\n",
         "a.yaml:2: engine.shutdown_timeout: invalid duration \"forever\": "
         "expected something like 500ms, 30s, 5m, 1h30m"},
        {"a.yaml", "engine:\n  threadpool_size: \"4\"\n",
         "a.yaml:2: engine.threadpool_size: expected an integer, found \"4\""},
        {"a.yaml", "engine:\n  log_levle: info\n",
         "a.yaml:2: engine.log_levle: unknown key (did you mean "
         "\"log_level\"?)"},
        {"a.yaml", "engnie: {}\n",
         "a.yaml:1: engnie: unknown key (a conf.d file holds engine and/or "
         "instances)"},
        {"a.yaml", "- 1\n",
         "a.yaml:1: expected a mapping with the keys engine and/or instances"},
        {"a.yaml", "instances: {kind: store}\n",
         "a.yaml:1: instances: expected a list of {kind, plugin, name, "
         "config}"},
        {"a.yaml", "instances:\n  - kind: store\n    plugin: sqlite\n",
         "a.yaml:2: instances[0].name: required key is missing (string: "
         "Instance name, unique across conf.d.)"},
        {"a.yaml",
         "instances:\n  - kind: storage\n    plugin: x\n    name: y\n",
         "a.yaml:2: instances[0].kind: expected one of source, translator, "
         "solver, executor, monitor, provisioner, store, api, frontend, found "
         "\"storage\""},
        {"a.yaml",
         "instances:\n  - kind: store\n    plugin: x\n    name: y\n"
         "    confg: {}\n",
         "a.yaml:5: instances[0].confg: unknown key (did you mean "
         "\"config\"?)"},
        {"a.yaml",
         "instances:\n  - kind: store\n    plugin: Bad-Name\n    name: y\n",
         "a.yaml:3: instances[0].plugin: invalid plugin name \"Bad-Name\" "
         "(lower-case letters, digits and '_')"},
        {"a.yaml",
         "instances:\n  - kind: store\n    plugin: x\n    name: \"-y\"\n",
         "a.yaml:4: instances[0].name: invalid instance name \"-y\" (1-63 "
         "lower-case letters, digits, '-' or '_', starting with a letter or "
         "digit)"},
        {"a.yaml",
         "instances:\n  - kind: store\n    plugin: x\n    name: y\n"
         "    config: [1]\n",
         "a.yaml:5: instances[0].config: expected a mapping, found a list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = t_mkdtemp();
        t_write(d, cases[i].file, cases[i].text);
        struct smo__errlist e;
        struct smo__conf *c = load(d, &e);
        assert_null(c);
        char want[1024];
        snprintf(want, sizeof want, "%s/%s", d, cases[i].want);
        if (e.n < 1 || strcmp(e.lines[0], want) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i,
                     e.n ? e.lines[0] : "(no error)", want);
        smo__errlist_free(&e);
        t_rm_rf(d);
        free(d);
    }
}

static void test_duplicate_names(void **state)
{
    (void)state;
    char *d = t_mkdtemp();
    t_write(d, "10-a.yaml",
            "instances:\n  - {kind: store, plugin: sqlite, "
            "name: store}\n");
    t_write(d, "20-b.yaml",
            "\ninstances:\n  - kind: store\n    plugin: pg\n"
            "    name: store\n");
    struct smo__errlist e;
    struct smo__conf *c = load(d, &e);
    assert_null(c);
    char want[512];
    snprintf(want, sizeof want,
             "%s/20-b.yaml:5: instances[0].name: duplicate instance name "
             "\"store\" (first declared at %s/10-a.yaml:2)",
             d, d);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.lines[0], want);
    smo__errlist_free(&e);
    t_rm_rf(d);
    free(d);
}

static void test_missing_dir(void **state)
{
    (void)state;
    struct smo__errlist e;
    struct smo__conf *c = load("/nonexistent/smo-conf", &e);
    assert_null(c);
    assert_string_equal(e.lines[0], "/nonexistent/smo-conf: cannot open "
                                    "configuration directory: No such file "
                                    "or directory");
    smo__errlist_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_and_order),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_missing_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
