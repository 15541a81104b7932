/* The stores' JSON writer against jansson: on seeded random documents
 * (every type, escapes, UTF-8, extreme numbers, deep nesting) the text
 * parses back equal to the document, and is jansson's JSON_COMPACT text
 * byte for byte when the document has no reals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "store_common.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static json_t *rand_string(void)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "\"",
                                         "\\",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "/",
                                         "é",
                                         "日本",
                                         "\xf0\x9f\x98\x80",
                                         " ",
                                         "\b",
                                         "\f",
                                         "\r",
                                         "0",
                                         "{"};
    char s[128];
    size_t n = 0, k = next() % 12;
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[next() % (sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        if (n + l >= sizeof s)
            break;
        memcpy(s + n, p, l);
        n += l;
    }
    return json_stringn(s, n);
}

static json_t *rand_value(int depth, bool reals)
{
    int kind = (int)(next() % (depth > 6 ? 6 : 8));
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(next() & 1);
    case 2: {
        static const json_int_t edge[] = {0,         -1,        1,
                                          INT64_MAX, INT64_MIN, 1795601212478};
        return json_integer(next() & 1
                                ? edge[next() % 6]
                                : (json_int_t)(next() % 2000000) - 1000000);
    }
    case 3: {
        if (!reals)
            return json_integer((json_int_t)(next() % 100));
        static const double edge[] = {0.0,     -0.5, 1.0,           1e300,
                                      -1e-300, 0.1,  123456789.125, 4.0e15};
        return json_real(next() & 1 ? edge[next() % 8]
                                    : (double)(int64_t)next() / 1e9);
    }
    case 4:
    case 5:
        return rand_string();
    case 6: {
        json_t *a = json_array();
        size_t n = next() % 5;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, rand_value(depth + 1, reals));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = next() % 5;
        for (size_t i = 0; i < n; i++) {
            json_t *k = rand_string();
            json_object_setn_new(o, json_string_value(k), json_string_length(k),
                                 rand_value(depth + 1, reals));
            json_decref(k);
        }
        return o;
    }
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 5000; i++) {
        bool reals = i % 2;
        json_t *d = json_object();
        json_object_set_new(d, "v", rand_value(0, reals));
        size_t len;
        char *t = smo__store_json_text(d, &len);
        assert_non_null(t);
        assert_int_equal(strlen(t), len);
        json_error_t e;
        json_t *back = json_loadb(t, len, JSON_ALLOW_NUL, &e);
        if (!back || !json_equal(back, d))
            fail_msg("document %d: %s does not read back (%s)", i, t,
                     back ? "different" : e.text);
        if (!reals) {
            char *j = json_dumps(d, JSON_COMPACT);
            if (strcmp(j, t))
                fail_msg("document %d: ours %s, jansson %s", i, t, j);
            free(j);
        }
        json_decref(back);
        json_decref(d);
        free(t);
    }
}

static void test_reals_stay_reals(void **state)
{
    (void)state;
    json_t *d = json_pack("{s:f, s:f, s:f}", "a", 2.0, "b", -0.0, "c", 1e22);
    char *t = smo__store_json_text(d, NULL);
    json_t *back = json_loads(t, 0, NULL);
    assert_true(json_is_real(json_object_get(back, "a")));
    assert_true(json_is_real(json_object_get(back, "b")));
    assert_true(json_is_real(json_object_get(back, "c")));
    assert_true(json_equal(back, d));
    json_decref(back);
    json_decref(d);
    free(t);
}

static void test_depth_bounded(void **state)
{
    (void)state;
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 300; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    assert_null(smo__store_json_text(root, NULL));
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reals_stay_reals),
        cmocka_unit_test(test_depth_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
