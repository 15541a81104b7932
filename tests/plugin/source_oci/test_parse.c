/* source_oci's pure parsers: artifact references, WWW-Authenticate
 * challenges, token answers, manifests and SHA-256 digests. */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "oci.h"

static int ref(const char *s, bool http, struct smo__oci_ref *r, smo_status *st)
{
    smo_status_clear(st);
    return smo__oci_ref_parse(s, http, r, st);
}

static void test_ref_forms(void **state)
{
    (void)state;
    struct smo__oci_ref r;
    smo_status st;
    assert_int_equal(
        ref("oci://127.0.0.1:5000/project/graph:1.0.0", false, &r, &st),
        SMO_OK);
    assert_string_equal(r.host, "127.0.0.1:5000");
    assert_string_equal(r.repo, "project/graph");
    assert_string_equal(r.tag, "1.0.0");
    assert_string_equal(r.digest, "");
    assert_false(r.plain_http);
    assert_false(r.tls);

    /* Default tag. */
    assert_int_equal(ref("oci://reg.example/a/b/c", false, &r, &st), SMO_OK);
    assert_string_equal(r.repo, "a/b/c");
    assert_string_equal(r.tag, "latest");

    /* Digest only: no tag. */
    const char *d = "sha256:"
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                    "7852b855";
    char buf[300];
    snprintf(buf, sizeof buf, "oci://reg:443/p/g@%s", d);
    assert_int_equal(ref(buf, false, &r, &st), SMO_OK);
    assert_string_equal(r.tag, "");
    assert_string_equal(r.digest, d);
    snprintf(buf, sizeof buf, "oci://reg/p/g:v1@%s", d);
    assert_int_equal(ref(buf, false, &r, &st), SMO_OK);
    assert_string_equal(r.tag, "v1");
    assert_string_equal(r.digest, d);
    char s[300];
    smo__oci_ref_str(&r, s, sizeof s);
    assert_string_equal(s + strlen(s) - 71, d);

    /* http(s) forms, only when enabled. */
    assert_int_equal(ref("http://127.0.0.1:5000/proj/graph", true, &r, &st),
                     SMO_OK);
    assert_true(r.plain_http);
    assert_string_equal(r.tag, "latest");
    assert_int_equal(ref("https://reg.example/proj/graph:2", true, &r, &st),
                     SMO_OK);
    assert_true(r.tls);
    assert_string_equal(r.tag, "2");
    assert_int_equal(ref("http://127.0.0.1:5000/proj/graph", false, &r, &st),
                     SMO_SKIP);
    /* Port in the host, ':' in a later component is the tag. */
    assert_int_equal(ref("oci://[::1]:5000/p/g:t", false, &r, &st), SMO_OK);
    assert_string_equal(r.host, "[::1]:5000");
    assert_string_equal(r.tag, "t");
    smo__oci_ref_str(&r, s, sizeof s);
    assert_string_equal(s, "[::1]:5000/p/g:t");
}

static void test_ref_refusals(void **state)
{
    (void)state;
    struct smo__oci_ref r;
    smo_status st;
    assert_int_equal(ref("/tmp/hdag.yaml", true, &r, &st), SMO_SKIP);
    assert_int_equal(ref("file:///x.yaml", true, &r, &st), SMO_SKIP);
    assert_int_equal(ref(NULL, true, &r, &st), SMO_SKIP);
    static const struct {
        const char *ref, *msg;
    } bad[] = {
        {"oci://reg", "expected oci://host"},
        {"oci:///p/g", "invalid registry host"},
        {"oci://user:pw@reg/p/g", "user names and passwords"},
        {"oci://reg/P/g", "invalid repository name"},
        {"oci://reg/p/../g", "invalid repository name"},
        {"oci://reg/p//g", "invalid repository name"},
        {"oci://reg/p/g:", "invalid tag"},
        {"oci://reg/p/g:-x", "invalid tag"},
        {"oci://reg/p/g:.x", "invalid tag"},
        {"oci://reg/p/g@sha256:abc", "the digest must be sha256"},
        {"oci://reg/p/g@md5:0123", "the digest must be sha256"},
        {"oci://reg/p/g?x=1", "are not allowed"},
        {"oci://reg/p/g#f", "are not allowed"},
        {"oci://reg/p/g%2e", "are not allowed"},
        {"oci://reg/p g", "are not allowed"},
        {"oci://reg:99999/p/g", "invalid registry host"},
        {"oci://reg:/p/g", "invalid registry host"},
        {"oci://-reg/p/g", "invalid registry host"},
        {"oci://reg/-p", "invalid repository name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ref(bad[i].ref, true, &r, &st);
        if (rc != SMO_EINVAL || !strstr(st.msg, bad[i].msg))
            fail_msg("%s: rc %d, msg \"%s\"", bad[i].ref, rc, st.msg);
    }
    /* Too long a tag (129 characters). */
    char buf[400];
    memset(buf, 0, sizeof buf);
    strcpy(buf, "oci://reg/p/g:");
    memset(buf + strlen(buf), 'a', 129);
    assert_int_equal(ref(buf, false, &r, &st), SMO_EINVAL);
    buf[strlen(buf) - 1] = '\0';
    assert_int_equal(ref(buf, false, &r, &st), SMO_OK);
}

static void test_challenge(void **state)
{
    (void)state;
    struct smo__oci_challenge c;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(
        smo__oci_challenge_parse(
            "Bearer realm=\"https://auth.example/token\",service=\"registry."
            "example\",scope=\"repository:project/graph:pull\"",
            &c, &st),
        SMO_OK);
    assert_true(c.bearer);
    assert_string_equal(c.realm, "https://auth.example/token");
    assert_string_equal(c.service, "registry.example");
    assert_string_equal(c.scope, "repository:project/graph:pull");

    /* Token (unquoted) values, spaces, escapes, unknown params. */
    assert_int_equal(smo__oci_challenge_parse(
                         "bearer  realm=http://a/t , service=\"s\\\"q\", "
                         "error=\"insufficient_scope\"",
                         &c, &st),
                     SMO_OK);
    assert_string_equal(c.realm, "http://a/t");
    assert_string_equal(c.service, "s\"q");
    assert_string_equal(c.scope, "");

    assert_int_equal(
        smo__oci_challenge_parse("Basic realm=\"Registry Realm\"", &c, &st),
        SMO_OK);
    assert_false(c.bearer);

    assert_int_equal(smo__oci_challenge_parse(NULL, &c, &st), SMO_EPROTO);
    assert_non_null(strstr(st.msg, "without a WWW-Authenticate"));
    assert_int_equal(smo__oci_challenge_parse("Negotiate abc", &c, &st),
                     SMO_EPROTO);
    assert_non_null(strstr(st.msg, "unsupported authentication scheme"));
    assert_int_equal(smo__oci_challenge_parse("Bearer service=x", &c, &st),
                     SMO_EPROTO);
    assert_non_null(strstr(st.msg, "without a realm"));
    assert_int_equal(smo__oci_challenge_parse("Bearer realm=\"x", &c, &st),
                     SMO_EPROTO);
    assert_int_equal(smo__oci_challenge_parse("Bearer realm=x y=z", &c, &st),
                     SMO_EPROTO);
    /* A realm too long for its field is refused, never truncated. */
    char big[1200] = "Bearer realm=\"";
    memset(big + strlen(big), 'a', 1100);
    strcat(big, "\"");
    assert_int_equal(smo__oci_challenge_parse(big, &c, &st), SMO_EPROTO);
}

static void test_token(void **state)
{
    (void)state;
    smo_status st;
    smo_status_clear(&st);
    char *t = NULL;
    const char *a = "{\"token\":\"abc\",\"expires_in\":300}";
    assert_int_equal(smo__oci_token_parse(a, strlen(a), &t, &st), SMO_OK);
    assert_string_equal(t, "abc");
    free(t);
    const char *b = "{\"access_token\":\"xyz\"}";
    assert_int_equal(smo__oci_token_parse(b, strlen(b), &t, &st), SMO_OK);
    assert_string_equal(t, "xyz");
    free(t);
    const char *bad[] = {"{}", "[]", "not json", "{\"token\":\"a\\r\\nX: y\"}",
                         "{\"token\":\"\"}"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(smo__oci_token_parse(bad[i], strlen(bad[i]), &t, &st),
                         SMO_EPROTO);
        assert_null(t);
    }
    char *e = smo__oci_urlencode("repository:a/b:pull x&y");
    assert_string_equal(e, "repository%3Aa%2Fb%3Apull%20x%26y");
    free(e);
}

#define D1                                                                     \
    "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2                                                                     \
    "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static int man(const char *body, const char *ct, struct smo__oci_manifest *m,
               smo_status *st)
{
    smo_status_clear(st);
    return smo__oci_manifest_parse(body, strlen(body), ct, 4, 1000, m, st);
}

static void test_manifest(void **state)
{
    (void)state;
    struct smo__oci_manifest m;
    smo_status st;
    const char *ok =
        "{\"schemaVersion\":2,\"mediaType\":\"" SMO__OCI_MT_OCI_MANIFEST "\","
        "\"config\":{\"digest\":\"" D1 "\",\"size\":2},"
        "\"layers\":[{\"mediaType\":\"application/"
        "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2 "\",\"size\":10,"
        "\"annotations\":{\"org.opencontainers.image.title\":\"a.tar.gz\"}}]}";
    assert_int_equal(man(ok, NULL, &m, &st), SMO_OK);
    assert_false(m.is_index);
    assert_int_equal(m.n_layers, 1);
    assert_string_equal(m.layers[0].digest, D2);
    assert_int_equal(m.layers[0].size, 10);
    assert_string_equal(m.layers[0].title, "a.tar.gz");
    smo__oci_manifest_free(&m);

    /* No mediaType in the body: the Content-Type decides. */
    const char *bare =
        "{\"schemaVersion\":2,\"layers\":[{\"digest\":\"" D2 "\",\"size\":1}]}";
    assert_int_equal(man(bare, SMO__OCI_MT_DOCKER_MANIFEST, &m, &st), SMO_OK);
    smo__oci_manifest_free(&m);

    const char *index =
        "{\"schemaVersion\":2,\"mediaType\":\"" SMO__OCI_MT_OCI_INDEX
        "\",\"manifests\":[{\"digest\":\"" D1 "\"}]}";
    assert_int_equal(man(index, NULL, &m, &st), SMO_OK);
    assert_true(m.is_index);
    assert_string_equal(m.next, D1);
    smo__oci_manifest_free(&m);

    static const struct {
        const char *body;
        int code;
        const char *msg;
    } bad[] = {
        {"[]", SMO_EINVAL, "not a JSON object"},
        {"{\"schemaVersion\":1,\"layers\":[]}", SMO_EINVAL, "schemaVersion"},
        {"{\"schemaVersion\":2,\"mediaType\":\"x/y\"}", SMO_EINVAL,
         "unsupported manifest type x/y"},
        {"{\"schemaVersion\":2,\"layers\":[]}", SMO_EINVAL, "no layers"},
        {"{\"schemaVersion\":2,\"layers\":{}}", SMO_EINVAL, "not a list"},
        {"{\"schemaVersion\":2,\"layers\":[{\"digest\":\"sha256:../x\","
         "\"size\":1}]}",
         SMO_EINVAL, "layers[0].digest"},
        {"{\"schemaVersion\":2,\"layers\":[{\"digest\":\"" D2 "\","
         "\"size\":-1}]}",
         SMO_EINVAL, "layers[0].size"},
        {"{\"schemaVersion\":2,\"layers\":[{\"digest\":\"" D2 "\","
         "\"size\":1001}]}",
         SMO_ETOOBIG, "max_layer_bytes"},
        {"{\"schemaVersion\":2,\"layers\":[{\"digest\":\"" D2 "\",\"size\":1},"
         "{\"digest\":\"" D2 "\",\"size\":1},{\"digest\":\"" D2
         "\",\"size\":1},"
         "{\"digest\":\"" D2 "\",\"size\":1},{\"digest\":\"" D2 "\",\"size\":1}"
         "]}",
         SMO_ETOOBIG, "max_layers"},
        {"{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\"},"
         "{\"digest\":\"" D2 "\"}]}",
         SMO_EINVAL, "image index with 2 manifests"},
        {"{\"schemaVersion\":2,\"manifests\":[]}", SMO_EINVAL,
         "image index with 0 manifests"},
        {"{\"schemaVersion\":2,\"schemaVersion\":2,\"layers\":[]}", SMO_EINVAL,
         "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = man(bad[i].body, NULL, &m, &st);
        if (rc != bad[i].code || !strstr(st.msg, bad[i].msg))
            fail_msg("case %zu: rc %d, msg \"%s\"", i, rc, st.msg);
        assert_null(m.layers);
    }
}

static void test_sha256(void **state)
{
    (void)state;
    char d[72], got[72];
    /* NIST FIPS 180-4 examples. */
    smo__sha256_digest("", 0, d);
    assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649"
                           "b934ca495991b7852b855");
    smo__sha256_digest("abc", 3, d);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a3961"
                           "77a9cb410ff61f20015ad");
    const char *two =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    smo__sha256_digest(two, strlen(two), d);
    assert_string_equal(d, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964f"
                           "f2167f6ecedd419db06c1");
    /* A million 'a', fed in uneven pieces. */
    struct smo__sha256 c;
    smo__sha256_init(&c);
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        smo__sha256_update(&c, chunk, n);
        left -= n;
    }
    uint8_t raw[32];
    smo__sha256_final(&c, raw);
    assert_int_equal(raw[0], 0xcd);
    assert_int_equal(raw[31], 0xd0);

    assert_true(smo__oci_digest_valid(d));
    assert_false(smo__oci_digest_valid(NULL));
    assert_false(smo__oci_digest_valid("sha256:ABC"));
    assert_false(smo__oci_digest_valid("sha512:248d6a61d20638b8e5c026930c3e60"
                                       "39a33ce45964ff2167f6ecedd419db06c1"));
    assert_int_equal(smo__oci_digest_check(d, two, strlen(two), got), SMO_OK);
    assert_int_equal(smo__oci_digest_check(d, "abc", 3, got), SMO_EINVAL);
    assert_string_equal(got, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a39"
                             "6177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_forms), cmocka_unit_test(test_ref_refusals),
        cmocka_unit_test(test_challenge), cmocka_unit_test(test_token),
        cmocka_unit_test(test_manifest),  cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
