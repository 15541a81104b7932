/* YAML -> JSON conversion: types, anchors, merge keys, limits, errors. */
#include "smo_test.h"

#include "smo_yaml.h"

static json_t *parse_ok(const char *text)
{
    json_t *j = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__yaml_parse(text, strlen(text), NULL, &j, &st);
    if (r)
        fail_msg("parse failed: %s", st.msg);
    return j;
}

static void parse_err(const char *text, const struct smo__yaml_opts *o,
                      int code, const char *msg)
{
    json_t *j = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__yaml_parse(text, strlen(text), o, &j, &st);
    assert_int_equal(r, code);
    assert_null(j);
    assert_string_equal(st.msg, msg);
}

static void test_scalars(void **state)
{
    (void)state;
    json_t *j = parse_ok("a: 1\nb: -2\nc: 1.5\nd: true\ne: False\nf: ~\n"
                         "g: null\nh: hello\ni: '1'\nj: \"true\"\nk: yes\n"
                         "l: 0x1F\nm: 0o17\nn: 1e3\no: .5\np: \nq: +7\n"
                         "r: 12345678901234567890\ns: 250m\nt: .inf\n");
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "b")), -2);
    assert_true(json_real_value(json_object_get(j, "c")) == 1.5);
    assert_true(json_is_true(json_object_get(j, "d")));
    assert_true(json_is_false(json_object_get(j, "e")));
    assert_true(json_is_null(json_object_get(j, "f")));
    assert_true(json_is_null(json_object_get(j, "g")));
    assert_string_equal(json_string_value(json_object_get(j, "h")), "hello");
    assert_string_equal(json_string_value(json_object_get(j, "i")), "1");
    assert_string_equal(json_string_value(json_object_get(j, "j")), "true");
    /* YAML 1.2: yes stays a string (no Norway problem). */
    assert_string_equal(json_string_value(json_object_get(j, "k")), "yes");
    assert_int_equal(json_integer_value(json_object_get(j, "l")), 31);
    assert_int_equal(json_integer_value(json_object_get(j, "m")), 15);
    assert_true(json_real_value(json_object_get(j, "n")) == 1000.0);
    assert_true(json_real_value(json_object_get(j, "o")) == 0.5);
    assert_true(json_is_null(json_object_get(j, "p")));
    assert_int_equal(json_integer_value(json_object_get(j, "q")), 7);
    assert_true(json_is_real(json_object_get(j, "r")));
    assert_string_equal(json_string_value(json_object_get(j, "s")), "250m");
    assert_string_equal(json_string_value(json_object_get(j, "t")), ".inf");
    json_decref(j);
}

static void test_tags(void **state)
{
    (void)state;
    json_t *j = parse_ok("a: !!str 12\nb: !!int \"7\"\nc: !!float 2\n");
    assert_string_equal(json_string_value(json_object_get(j, "a")), "12");
    assert_int_equal(json_integer_value(json_object_get(j, "b")), 7);
    assert_true(json_is_real(json_object_get(j, "c")));
    json_decref(j);
    parse_err("a: !!int abc\n", NULL, SMO_EINVAL,
              "<input>:1:4: value \"abc\" is not a valid !!int");
    parse_err("a: !custom x\n", NULL, SMO_EINVAL,
              "<input>:1:4: a: unsupported tag !custom");
}

static void test_anchors_and_merge(void **state)
{
    (void)state;
    json_t *j = parse_ok("base: &b {x: 1, y: 2}\n"
                         "one:\n  <<: *b\n  y: 3\n"
                         "two: {y: 4, <<: *b}\n"
                         "list: [*b, *b]\n");
    json_t *one = json_object_get(j, "one");
    assert_int_equal(json_integer_value(json_object_get(one, "x")), 1);
    assert_int_equal(json_integer_value(json_object_get(one, "y")), 3);
    json_t *two = json_object_get(j, "two");
    assert_int_equal(json_integer_value(json_object_get(two, "y")), 4);
    assert_int_equal(json_integer_value(json_object_get(two, "x")), 1);
    /* Aliases are copies: editing one must not change the other. */
    json_object_set_new(json_array_get(json_object_get(j, "list"), 0), "x",
                        json_integer(9));
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(j, "list"), 1), "x")),
                     1);
    json_decref(j);
    /* Only a plain << merges; quoted (and JSON) it is an ordinary key. */
    j = parse_ok("\"<<\": false\n");
    assert_true(json_is_false(json_object_get(j, "<<")));
    char *y = NULL;
    size_t n = 0;
    smo_status st;
    assert_int_equal(smo__yaml_emit(j, &y, &n, &st), 0);
    json_t *back = parse_ok(y);
    assert_true(json_equal(j, back));
    json_decref(back);
    free(y);
    json_decref(j);
    parse_err("a: *nope\n", NULL, SMO_EINVAL,
              "<input>:1:4: unknown anchor \"nope\"");
}

static void test_alias_bomb(void **state)
{
    (void)state;
    /* "Billion laughs": 9 levels of 9 aliases. */
    char doc[4096];
    size_t o = 0;
    o += (size_t)snprintf(doc + o, sizeof doc - o,
                          "a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                              "*a%d, *a%d, *a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                              i - 1, i - 1, i - 1);
    json_t *j = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__yaml_parse(doc, strlen(doc), NULL, &j, &st);
    assert_int_equal(r, SMO_ETOOBIG);
    assert_non_null(strstr(st.msg, "nodes after expanding aliases"));
}

static void test_limits(void **state)
{
    (void)state;
    struct smo__yaml_opts o = {0};
    o.max_bytes = 10;
    o.name = "x.yaml";
    parse_err("a: 12345678901\n", &o, SMO_ETOOBIG,
              "x.yaml: document is 15 bytes, the limit is 10");
    char deep[2000];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    parse_err(deep, NULL, SMO_ETOOBIG,
              "<input>: nesting deeper than 64 levels");
    /* The same through the YAML path. */
    char deep2[4000];
    n = 0;
    for (int i = 0; i < 70; i++)
        n +=
            (size_t)snprintf(deep2 + n, sizeof deep2 - n, "%*sk:\n", i * 1, "");
    n += (size_t)snprintf(deep2 + n, sizeof deep2 - n, "%*sv: 1\n", 70, "");
    json_t *j = NULL;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__yaml_parse(deep2, n, NULL, &j, &st), SMO_ETOOBIG);
    assert_non_null(strstr(st.msg, "nesting deeper than 64 levels"));
}

static void test_errors(void **state)
{
    (void)state;
    parse_err("a: 1\na: 2\n", NULL, SMO_EINVAL,
              "<input>:2:4: a: duplicate key \"a\"");
    parse_err("a: [1, 2\n", NULL, SMO_EINVAL,
              "<input>:2:1: did not find expected ',' or ']' while parsing a "
              "flow sequence");
    parse_err("a: 1\n---\nb: 2\n", NULL, SMO_EINVAL,
              "<input>:2:1: more than one YAML document");
    parse_err("a: \"\\xff\xff\"\n", NULL, SMO_EINVAL,
              "<input>: byte 8: invalid leading UTF-8 octet");
    parse_err("? [a]\n: 1\n", NULL, SMO_EINVAL,
              "<input>:1:3: a mapping key must be a scalar, not a sequence");
    parse_err("{\"a\": 1, \"a\": 2}", NULL, SMO_EINVAL,
              "<input>:1:15: a: duplicate key \"a\"");
}

static void test_json_fast_path(void **state)
{
    (void)state;
    json_t *j = parse_ok("  {\"a\": [1, 2.5, \"x\", null, true]}");
    assert_int_equal(json_array_size(json_object_get(j, "a")), 5);
    json_decref(j);
    j = parse_ok("");
    assert_true(json_is_null(j));
    json_decref(j);
}

static void test_lines(void **state)
{
    (void)state;
    struct smo__yaml_opts o = {0};
    o.lines = json_object();
    json_t *j = NULL;
    smo_status st;
    const char *t = "a:\n  b: 1\n  c:\n    - x\n    - y: 2\n";
    assert_int_equal(smo__yaml_parse(t, strlen(t), &o, &j, &st), 0);
    assert_int_equal(json_integer_value(json_object_get(o.lines, "a.b")), 2);
    assert_int_equal(json_integer_value(json_object_get(o.lines, "a.c[1].y")),
                     5);
    json_decref(o.lines);
    json_decref(j);
}

static void test_emit_roundtrip(void **state)
{
    (void)state;
    json_t *j = parse_ok("s: 'true'\nn: '12'\ne: ''\nnull_str: 'null'\n"
                         "i: 3\nf: 2.0\nb: false\nz: ~\nl: [1, 'a b', {k: v}]\n"
                         "m: {}\nq: 'line\\nbreak: # x'\nu: 'héllo'\n");
    char *y = NULL;
    size_t n = 0;
    smo_status st;
    assert_int_equal(smo__yaml_emit(j, &y, &n, &st), 0);
    json_t *back = NULL;
    assert_int_equal(smo__yaml_parse(y, n, NULL, &back, &st), 0);
    assert_true(json_equal(j, back));
    free(y);
    json_decref(back);
    json_decref(j);
}

static void test_paths(void **state)
{
    (void)state;
    char *p = smo__path_key("a", "b-c_1");
    assert_string_equal(p, "a.b-c_1");
    free(p);
    p = smo__path_key("a", "x.y");
    assert_string_equal(p, "a[\"x.y\"]");
    free(p);
    p = smo__path_index("a", 3);
    assert_string_equal(p, "a[3]");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_anchors_and_merge),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json_fast_path),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_emit_roundtrip),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
