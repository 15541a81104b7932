/* Fuzz provisioner_nfvcl's parsers of the NFVCL's answers (foreign input):
 * the topology (VIMs), the create answer (blueprint id) and the detailed
 * blueprint list, plus the scrubber and the registration body builder on
 * whatever JSON the input is. The first byte picks one: 't' topology,
 * 'i' blueprint id, 'b' blueprint list, 'r' registration; others try all.
 * Invariants: ids that come out are URL-safe, VIM names DNS-1123, no record
 * holds a password, every refusal says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfvcl.h"

/* No member name mentions a password, at any depth. */
static void no_secret(const json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (strstr(k, "password"))
                abort();
            no_secret(v);
        }
    } else if (json_is_array(j))
        json_array_foreach(j, i, v) no_secret(v);
}

static void topology(const char *s, size_t n)
{
    json_t *out = NULL;
    char err[300] = "";
    size_t skipped = 0;
    if (smo__nfvcl_parse_topology(s, n, &out, &skipped, err, sizeof err)) {
        if (!err[0] || out)
            abort();
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(out, i, v)
    {
        if (!smo__nfvcl_name_ok(json_string_value(json_object_get(v, "name"))))
            abort();
        json_t *a = json_object_get(v, "area");
        if (a && !json_is_null(a) &&
            (!json_is_integer(a) || json_integer_value(a) < 0))
            abort();
    }
    no_secret(out);
    json_decref(out);
}

static void blue_id(const char *s, size_t n)
{
    char id[SMO__NFVCL_ID_MAX + 1];
    char err[300] = "";
    if (smo__nfvcl_parse_blue_id(s, n, id, sizeof id, err, sizeof err)) {
        if (!err[0])
            abort();
        return;
    }
    if (!smo__nfvcl_id_ok(id))
        abort();
}

static void blue_list(const char *s, size_t n)
{
    json_t *out = NULL;
    char err[300] = "";
    if (smo__nfvcl_parse_blue_list(s, n, &out, NULL, err, sizeof err)) {
        if (!err[0] || out)
            abort();
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(out, i, b)
    {
        if (!smo__nfvcl_id_ok(json_string_value(json_object_get(b, "id"))))
            abort();
    }
    json_decref(out);
}

static void registration(const char *s, size_t n)
{
    json_t *req = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (!req)
        return;
    json_t *body = NULL, *vim = NULL;
    char err[480] = "";
    if (smo__nfvcl_topology_body(req, "topology", &body, &vim, err,
                                 sizeof err)) {
        if (!err[0] || body || vim)
            abort();
    } else {
        no_secret(vim);
        json_decref(body);
        json_decref(vim);
    }
    smo__nfvcl_scrub(req);
    no_secret(req);
    json_decref(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    const char *p = size ? s + 1 : s;
    size_t n = size ? size - 1 : 0;
    switch (size ? s[0] : 0) {
    case 't':
        topology(p, n);
        break;
    case 'i':
        blue_id(p, n);
        break;
    case 'b':
        blue_list(p, n);
        break;
    case 'r':
        registration(p, n);
        break;
    default:
        topology(s, size);
        blue_id(s, size);
        blue_list(s, size);
        registration(s, size);
    }
    free(s);
    return 0;
}
