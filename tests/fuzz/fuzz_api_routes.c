/* Fuzz the API's request-line handling: route matching with path
 * variables, the Allow list, query-string parsing and percent-decoding.
 * Input: "METHOD path?query" (the first space splits method and target). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *sp = memchr(s, ' ', size);
    size_t mlen = sp ? (size_t)(sp - s) : 0;
    const char *target = sp ? sp + 1 : s;
    size_t tlen = size - (size_t)(target - s);
    const char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;

    const struct api_route *r = NULL;
    json_t *vars = json_object();
    int m = smo__api_match(s, mlen, target, plen, &r, vars);
    if (m == MATCH_OK && !r)
        abort();
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        /* Captured variables are decoded, printable and slash-free. */
        const char *str = json_string_value(v);
        if (!str || strchr(str, '/') || !*str)
            abort();
    }
    json_decref(vars);

    char allow[64];
    size_t al = smo__api_allow(target, plen, allow, sizeof allow);
    if (al >= sizeof allow || strlen(allow) != al)
        abort();

    if (q) {
        json_t *params = json_object();
        smo__api_query(q + 1, tlen - plen - 1, params);
        json_decref(params);
    }
    char *u = smo__api_unescape(target, tlen);
    if (u && strlen(u) > tlen)
        abort();
    free(u);
    return 0;
}
