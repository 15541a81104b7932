/* provisioner_nfvcl's payload parsers and builders on the fixtures of
 * tests/fixtures/nfvcl/ (the shapes the original SMO exchanged with the
 * NFVCL) and on the malformed answers the original mishandled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nfvcl.h"

static char *fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fixtures/nfvcl/%s", SMO_TEST_SRC_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

static json_t *fixture_json(const char *name)
{
    size_t n;
    char *t = fixture(name, &n);
    json_t *j = json_loadb(t, n, 0, NULL);
    free(t);
    assert_non_null(j);
    return j;
}

static void topology_fixture(void **unused)
{
    (void)unused;
    size_t n, skipped = 9;
    char *t = fixture("topology-get.json", &n), err[200];
    json_t *out = NULL;
    assert_int_equal(
        smo__nfvcl_parse_topology(t, n, &out, &skipped, err, sizeof err), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(json_array_size(out), 1);
    json_t *v = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(v, "name")),
                        "os-lab");
    assert_int_equal(json_integer_value(json_object_get(v, "area")), 3);
    assert_string_equal(
        json_string_value(json_object_get(v, "service_network")), "svc-net");
    char *s = json_dumps(out, 0);
    assert_null(strstr(s, "password"));
    assert_null(strstr(s, "****"));
    free(s);
    json_decref(out);
    free(t);
}

static void topology_malformed(void **unused)
{
    (void)unused;
    char err[200];
    json_t *out = NULL;
    size_t skipped = 0;
    const char *bad[] = {"", "{", "[]", "{\"vims\": 3}", "\"x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(smo__nfvcl_parse_topology(bad[i], strlen(bad[i]), &out,
                                                   &skipped, err, sizeof err),
                         -1);
        assert_null(out);
        assert_true(err[0] != '\0');
    }
    const char *odd = "{\"vims\": [{\"name\": \"Bad Name\"}, 7, {\"name\": "
                      "\"ok\", \"areas\": [\"4\", -1]}]}";
    assert_int_equal(smo__nfvcl_parse_topology(odd, strlen(odd), &out, &skipped,
                                               err, sizeof err),
                     0);
    assert_int_equal(skipped, 2);
    assert_int_equal(json_array_size(out), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(out, 0), "area")), 4);
    json_decref(out);
}

static void blue_ids(void **unused)
{
    (void)unused;
    char id[SMO__NFVCL_ID_MAX + 1], err[200];
    size_t n;
    char *t = fixture("blue-k8s-create-response.json", &n);
    assert_int_equal(
        smo__nfvcl_parse_blue_id(t, n, id, sizeof id, err, sizeof err), 0);
    assert_string_equal(id, "K8SQX7");
    free(t);
    const char *d = "{\"detail\": \"Blueprint AB_12-x created\"}";
    assert_int_equal(
        smo__nfvcl_parse_blue_id(d, strlen(d), id, sizeof id, err, sizeof err),
        0);
    assert_string_equal(id, "AB_12-x");
    const char *bad[] = {"{\"detail\": \"created\"}", "{\"id\": \"../etc\"}",
                         "{\"id\": 5}",
                         "{\"detail\": \"Blueprint a/b created\"}", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(smo__nfvcl_parse_blue_id(bad[i], strlen(bad[i]), id,
                                                  sizeof id, err, sizeof err),
                         -1);
        assert_true(err[0] != '\0');
    }
}

static void blue_list(void **unused)
{
    (void)unused;
    size_t n, skipped = 9;
    char *t = fixture("blue-list-detailed.json", &n), err[200];
    json_t *out = NULL;
    assert_int_equal(
        smo__nfvcl_parse_blue_list(t, n, &out, &skipped, err, sizeof err), 0);
    assert_int_equal(skipped, 0);
    json_t *b = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(b, "id")), "K8SQX7");
    assert_int_equal(json_integer_value(json_object_get(b, "area")), 3);
    assert_int_equal(json_integer_value(json_object_get(b, "workers")), 2);
    assert_string_equal(json_string_value(json_object_get(b, "mgmt_network")),
                        "mgmt-net");
    json_decref(out);
    free(t);
    const char *mixed = "[{\"id\": \"V1\", \"type\": \"VyOS\"}, {\"id\": "
                        "\"U1\", \"state\": {}}, {\"id\": \"U2\", \"state\": "
                        "{\"master_area\": {\"area_id\": \"7\"}}}]";
    assert_int_equal(smo__nfvcl_parse_blue_list(mixed, strlen(mixed), &out,
                                                &skipped, err, sizeof err),
                     0);
    assert_int_equal(skipped, 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(out, 0), "area")), 7);
    json_decref(out);
}

static void bodies_match_fixtures(void **unused)
{
    (void)unused;
    json_t *want = fixture_json("topology-post-request.json");
    json_t *req = json_pack(
        "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, "
        "s:s}, s:b}",
        "topology", "topology", "pop_area", 3, "vim_name", "os-lab",
        "vim_tenant_name", "smo", "vim_user", "smo", "vim_password", "secret",
        "vim_url", "http://10.20.0.5:5000/v3", "mgmt_network", "name",
        "mgmt-net", "cidr", "192.168.10.0/24", "gateway", "192.168.10.1",
        "service_network", "name", "svc-net", "cidr", "192.168.20.0/24",
        "gateway", "192.168.20.1", "use_floating_ip", 0);
    json_t *body = NULL, *vim = NULL;
    char err[480];
    assert_int_equal(
        smo__nfvcl_topology_body(req, "topology", &body, &vim, err, sizeof err),
        0);
    assert_true(json_equal(body, want));
    char *s = json_dumps(vim, 0);
    assert_null(strstr(s, "secret"));
    free(s);
    json_decref(body);
    json_decref(vim);
    json_decref(want);
    /* Every problem at once. */
    json_object_del(req, "vim_user");
    json_object_set_new(req, "vim_name", json_string("Bad_Name"));
    json_object_set_new(json_object_get(req, "service_network"), "gateway",
                        json_string("300.1.1.1"));
    assert_int_equal(
        smo__nfvcl_topology_body(req, "topology", &body, &vim, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "vim_name"));
    assert_non_null(strstr(err, "vim_user"));
    assert_non_null(strstr(err, "service_network.gateway"));
    json_decref(req);

    want = fixture_json("blue-k8s-create-request.json");
    body = smo__nfvcl_k8s_body(3, "mgmt-net", "svc-net", 1, 20);
    assert_true(json_equal(body, want));
    json_decref(body);
    json_decref(want);
    want = fixture_json("blue-add-node-request.json");
    body = smo__nfvcl_add_node_body(3, "mgmt-net", "svc-net", 1);
    assert_true(json_equal(body, want));
    json_decref(body);
    json_decref(want);
}

static void scrub(void **unused)
{
    (void)unused;
    json_t *j = json_loads("{\"a\": {\"vim_password\": \"x\", \"b\": "
                           "[{\"Secret\": 1, \"token_x\": 2, \"c\": 3}]}}",
                           0, NULL);
    smo__nfvcl_scrub(j);
    json_t *want = json_loads("{\"a\": {\"b\": [{\"c\": 3}]}}", 0, NULL);
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topology_fixture),
        cmocka_unit_test(topology_malformed),
        cmocka_unit_test(blue_ids),
        cmocka_unit_test(blue_list),
        cmocka_unit_test(bodies_match_fixtures),
        cmocka_unit_test(scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
