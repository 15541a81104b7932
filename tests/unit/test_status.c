/* smo_status_set(): a message longer than the buffer is cut at a
 * character boundary, never inside a UTF-8 sequence (answers and logs
 * carry it as JSON text). */
#include "smo_test.h"

#include <smo/smo_error.h>

static void test_cut_inside_a_character(void **state)
{
    (void)state;
    char big[2 * sizeof(((smo_status *)0)->msg)];
    /* Every width of character, at every offset against the buffer's end. */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80"};
    for (int c = 0; c < 3; c++)
        for (size_t pad = 0; pad < 4; pad++) {
            size_t n = 0;
            for (; n < pad; n++)
                big[n] = 'x';
            while (n + 4 < sizeof big - 1) {
                size_t w = strlen(chars[c]);
                memcpy(big + n, chars[c], w);
                n += w;
            }
            big[n] = '\0';
            smo_status st;
            assert_int_equal(smo_status_set(&st, SMO_EINVAL, "%s", big),
                             SMO_EINVAL);
            size_t len = strlen(st.msg);
            assert_true(len < sizeof st.msg);
            assert_true(len >= sizeof st.msg - 4);
            /* Whole characters only: the rest is the pad, then chars. */
            assert_int_equal((len - pad) % strlen(chars[c]), 0);
        }
}

static void test_short_and_exact_messages_untouched(void **state)
{
    (void)state;
    smo_status st;
    smo_status_set(&st, SMO_ENOENT, "caf\xc3\xa9 %d", 7);
    assert_string_equal(st.msg, "caf\xc3\xa9 7");
    char fill[sizeof st.msg];
    memset(fill, 'a', sizeof fill - 3);
    memcpy(fill + sizeof fill - 3, "\xc3\xa9", 3); /* ends exactly: kept */
    smo_status_set(&st, SMO_EINVAL, "%s", fill);
    assert_string_equal(st.msg, fill);
    smo_status_set(NULL, SMO_EINVAL, "dropped"); /* allowed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_inside_a_character),
        cmocka_unit_test(test_short_and_exact_messages_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
