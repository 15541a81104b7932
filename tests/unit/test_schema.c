/* Schema validation: types, ranges, enums, defaults, unknown keys, nested
 * objects, struct filling. */
#include "smo_test.h"

#include <smo/smo.h>

#include "smo_schema.h"
#include "smo_yaml.h"

struct cfg {
    const char *name;
    int64_t port;
    double ratio;
    bool on;
    int64_t timeout_ms;
    uint64_t size;
    const char *mode;
    const json_t *list;
    const char *ca;
    const json_t *map;
    const char *token;
};

static const char *const modes[] = {"a", "b", NULL};
static const struct smo_config_field str_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET, "s"},
    {0}};
static const struct smo_config_field num_elem[] = {
    {NULL, SMO_CFG_DOUBLE, SMO_CFG_MIN, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "n"},
    {0}};
static const struct smo_config_field tls_fields[] = {
    {"ca_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     offsetof(struct cfg, ca), "CA"},
    {0}};
static const struct smo_config_field fields[] = {
    {"name", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     offsetof(struct cfg, name), "a name"},
    {"port", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "8000", 1, 65535, NULL,
     NULL, offsetof(struct cfg, port), "TCP port"},
    {"ratio", SMO_CFG_DOUBLE, 0, "0.5", 0, 0, NULL, NULL,
     offsetof(struct cfg, ratio), "r"},
    {"on", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, offsetof(struct cfg, on),
     "b"},
    {"timeout", SMO_CFG_DURATION, SMO_CFG_MIN, "30s", 100, 0, NULL, NULL,
     offsetof(struct cfg, timeout_ms), "t"},
    {"size", SMO_CFG_SIZE, 0, "1Mi", 0, 0, NULL, NULL,
     offsetof(struct cfg, size), "s"},
    {"mode", SMO_CFG_ENUM, 0, "a", 0, 0, modes, NULL,
     offsetof(struct cfg, mode), "m"},
    {"list", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, str_elem,
     offsetof(struct cfg, list), "l"},
    {"tls", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, tls_fields, SMO_CFG_NO_OFFSET,
     "tls"},
    {"weights", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, num_elem,
     offsetof(struct cfg, map), "w"},
    {"token", SMO_CFG_STRING, SMO_CFG_SECRET, NULL, 0, 0, NULL, NULL,
     offsetof(struct cfg, token), "secret"},
    {0}};

static size_t apply(const char *yaml, struct cfg *c, struct smo__errlist *e,
                    json_t **outj)
{
    json_t *j = NULL;
    smo_status st;
    assert_int_equal(smo__yaml_parse(yaml, strlen(yaml), NULL, &j, &st), 0);
    if (json_is_null(j)) {
        json_decref(j);
        j = json_object();
    }
    memset(c, 0, sizeof *c);
    smo__errlist_init(e, 50);
    struct smo__schema_ctx ctx = {e, "f.yaml", NULL, false};
    size_t n = smo__schema_apply(fields, j, c, "config", &ctx);
    *outj = j;
    return n;
}

static void test_defaults_and_fill(void **state)
{
    (void)state;
    struct cfg c;
    struct smo__errlist e;
    json_t *j;
    assert_int_equal(apply("name: x\nsize: 2Gi\ntimeout: 1m\nlist: [a, b]\n"
                           "tls: {ca_file: /ca.pem}\nweights: {a: 1, b: 2.5}\n",
                           &c, &e, &j),
                     0);
    assert_string_equal(c.name, "x");
    assert_int_equal(c.port, 8000);
    assert_true(c.ratio == 0.5);
    assert_true(c.on);
    assert_int_equal(c.timeout_ms, 60000);
    assert_int_equal(c.size, 2147483648ull);
    assert_string_equal(c.mode, "a");
    assert_int_equal(json_array_size(c.list), 2);
    assert_string_equal(c.ca, "/ca.pem");
    assert_int_equal(json_object_size(c.map), 2);
    assert_null(c.token);
    /* Defaults are visible in the normalised JSON. */
    assert_int_equal(json_integer_value(json_object_get(j, "port")), 8000);
    assert_string_equal(json_string_value(json_object_get(j, "timeout")), "1m");
    json_decref(j);
    smo__errlist_free(&e);
}

static void test_errors(void **state)
{
    (void)state;
    struct cfg c;
    struct smo__errlist e;
    json_t *j;
    size_t n = apply("port: 70000\nratio: x\non: 'yes'\ntimeout: 5ms\n"
                     "size: -1\nmode: c\nlist: [1]\ntls: 3\n"
                     "weights: {a: -1}\ntoken: 5\nprot: 1\nzzz: 1\n",
                     &c, &e, &j);
    const char *want[] = {
        "f.yaml: config.prot: unknown key (did you mean \"port\"?)",
        ("f.yaml: config.zzz: unknown key (known keys: name, port, ratio, on, "
         "timeout, size, mode, list, tls, weights, token)"),
        "f.yaml: config.name: required key is missing (string: a name)",
        "f.yaml: config.port: 70000 is above the maximum 65535",
        "f.yaml: config.ratio: expected a number, found \"x\"",
        "f.yaml: config.on: expected true or false, found \"yes\"",
        "f.yaml: config.timeout: 5ms is below the minimum 100ms",
        "f.yaml: config.size: a size cannot be negative",
        "f.yaml: config.mode: expected one of a, b, found \"c\"",
        "f.yaml: config.list[0]: expected a string, found 1",
        "f.yaml: config.tls: expected a mapping, found 3",
        "f.yaml: config.weights.a: -1 is below the minimum 0",
        "f.yaml: config.token: expected a string, found (secret)",
    };
    size_t nw = sizeof want / sizeof want[0];
    for (size_t i = 0; i < e.n && i < nw; i++)
        assert_string_equal(e.lines[i], want[i]);
    assert_int_equal(e.n, nw);
    assert_int_equal(n, nw);
    json_decref(j);
    smo__errlist_free(&e);
}

static void test_null_means_default(void **state)
{
    (void)state;
    struct cfg c;
    struct smo__errlist e;
    json_t *j;
    assert_int_equal(apply("name: n\nport:\n", &c, &e, &j), 0);
    assert_int_equal(c.port, 8000);
    json_decref(j);
    smo__errlist_free(&e);
}

static void test_lines_in_messages(void **state)
{
    (void)state;
    const char *t = "a: 1\nconfig:\n  port: x\n";
    struct smo__yaml_opts o = {0};
    o.lines = json_object();
    json_t *j = NULL;
    smo_status st;
    assert_int_equal(smo__yaml_parse(t, strlen(t), &o, &j, &st), 0);
    struct smo__errlist e;
    smo__errlist_init(&e, 10);
    struct smo__schema_ctx ctx = {&e, "f.yaml", o.lines, false};
    json_object_set_new(json_object_get(j, "config"), "name", json_string("n"));
    smo__schema_apply(fields, json_object_get(j, "config"), NULL, "config",
                      &ctx);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.lines[0],
                        "f.yaml:3: config.port: expected an integer, found "
                        "\"x\"");
    smo__errlist_free(&e);
    json_decref(j);
    json_decref(o.lines);
}

static void test_table_check(void **state)
{
    (void)state;
    char msg[200];
    assert_int_equal(smo__schema_check_table(fields, msg, sizeof msg), 0);
    static const struct smo_config_field bad[] = {{"d", SMO_CFG_DURATION, 0,
                                                   "soon", 0, 0, NULL, NULL,
                                                   SMO_CFG_NO_OFFSET, "x"},
                                                  {0}};
    assert_int_equal(smo__schema_check_table(bad, msg, sizeof msg), SMO_EINVAL);
    assert_string_equal(msg, "config field \"d\": invalid default \"soon\": "
                             "default: d: invalid duration \"soon\": expected "
                             "something like 500ms, 30s, 5m, 1h30m");
    json_t *d = smo__schema_describe(fields);
    assert_int_equal(json_array_size(d), 11);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_fill),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_null_means_default),
        cmocka_unit_test(test_lines_in_messages),
        cmocka_unit_test(test_table_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
