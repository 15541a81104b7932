/* kubeconfig.c: context selection, credentials in every form kubectl
 * accepts, relative paths, and the refusals (exec plugins, conflicting
 * settings) with messages that say what to do. */
#include "../../unit/smo_test.h"

#include <smo/smo.h>

#include "kubeconfig.h"
#include "smo_yaml.h"

/* base64 of "PEM-CA\n", "PEM-CERT\n", "PEM-KEY\n" */
#define CA64   "UEVNLUNBCg=="
#define CERT64 "UEVNLUNFUlQK"
#define KEY64  "UEVNLUtFWQo="

static const char *const full =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: karmada-apiserver\n"
    "clusters:\n"
    "- name: karmada\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:5443/\n"
    "    certificate-authority-data: " CA64 "\n"
    "- name: other\n"
    "  cluster:\n"
    "    server: https://other:6443\n"
    "    certificate-authority: pki/ca.crt\n"
    "- name: lab\n"
    "  cluster:\n"
    "    server: http://127.0.0.1:8080\n"
    "    insecure-skip-tls-verify: true\n"
    "    proxy-url: http://proxy:3128\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate-data: " CERT64 "\n"
    "    client-key-data: " KEY64 "\n"
    "    client-certificate: ignored.crt\n"
    "- name: files\n"
    "  user:\n"
    "    client-certificate: pki/admin.crt\n"
    "    client-key: /abs/admin.key\n"
    "    token: inline-wins\n"
    "    tokenFile: tok\n"
    "- name: sa\n"
    "  user:\n"
    "    tokenFile: sa.token\n"
    "- name: aws\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
    "      command: aws\n"
    "      args: [eks, get-token]\n"
    "- name: gcp\n"
    "  user:\n"
    "    auth-provider: {name: gcp}\n"
    "- name: halfcert\n"
    "  user:\n"
    "    client-certificate: a.crt\n"
    "- name: badb64\n"
    "  user:\n"
    "    client-key-data: '***'\n"
    "- name: basic\n"
    "  user: {username: u, password: p}\n"
    "contexts:\n"
    "- name: karmada-apiserver\n"
    "  context: {cluster: karmada, user: admin}\n"
    "- name: files\n"
    "  context: {cluster: other, user: files, namespace: team}\n"
    "- name: sa\n"
    "  context: {cluster: lab, user: sa}\n"
    "- name: aws\n"
    "  context: {cluster: karmada, user: aws}\n"
    "- name: gcp\n"
    "  context: {cluster: karmada, user: gcp}\n"
    "- name: halfcert\n"
    "  context: {cluster: karmada, user: halfcert}\n"
    "- name: badb64\n"
    "  context: {cluster: karmada, user: badb64}\n"
    "- name: nouser\n"
    "  context: {cluster: karmada, user: ghost}\n"
    "- name: nocluster\n"
    "  context: {cluster: ghost, user: admin}\n"
    "- name: anonymous\n"
    "  context: {cluster: karmada}\n"
    "- name: basic\n"
    "  context: {cluster: lab, user: basic}\n";

static json_t *doc_of(const char *text)
{
    json_t *d = NULL;
    smo_status st;
    smo_status_clear(&st);
    assert_int_equal(smo__yaml_parse(text, strlen(text), NULL, &d, &st), 0);
    return d;
}

static int parse(const char *text, const char *ctx, struct smo__kubeconfig *kc,
                 char *err)
{
    json_t *d = doc_of(text);
    err[0] = '\0';
    int r =
        smo__kubeconfig_parse(d, "/etc/smo/karmada.config", ctx, kc, err, 400);
    json_decref(d);
    return r;
}

static void test_current_context_inline_data(void **state)
{
    (void)state;
    struct smo__kubeconfig kc;
    char err[400];
    assert_int_equal(parse(full, NULL, &kc, err), 0);
    assert_string_equal(kc.context, "karmada-apiserver");
    assert_string_equal(kc.cluster, "karmada");
    assert_string_equal(kc.user, "admin");
    assert_string_equal(kc.server, "https://10.0.0.1:5443"); /* no '/' */
    assert_string_equal(kc.ca_pem, "PEM-CA\n");
    assert_null(kc.ca_file);
    /* *-data wins over the file next to it. */
    assert_string_equal(kc.cert_pem, "PEM-CERT\n");
    assert_null(kc.cert_file);
    assert_string_equal(kc.key_pem, "PEM-KEY\n");
    assert_null(kc.token);
    assert_false(kc.insecure);
    assert_string_equal(kc.namespace, "");
    assert_string_equal(kc.warning, "");
    smo__kubeconfig_free(&kc);
}

static void test_named_context_files_relative(void **state)
{
    (void)state;
    struct smo__kubeconfig kc;
    char err[400];
    assert_int_equal(parse(full, "files", &kc, err), 0);
    /* Relative to the kubeconfig's directory, as kubectl resolves them. */
    assert_string_equal(kc.ca_file, "/etc/smo/pki/ca.crt");
    assert_string_equal(kc.cert_file, "/etc/smo/pki/admin.crt");
    assert_string_equal(kc.key_file, "/abs/admin.key");
    /* An inline token wins; the file is not read then. */
    assert_string_equal(kc.token, "inline-wins");
    assert_null(kc.token_file);
    assert_string_equal(kc.namespace, "team");
    smo__kubeconfig_free(&kc);

    assert_int_equal(parse(full, "sa", &kc, err), 0);
    assert_null(kc.token);
    assert_string_equal(kc.token_file, "/etc/smo/sa.token");
    assert_true(kc.insecure);
    assert_string_equal(kc.server, "http://127.0.0.1:8080");
    assert_non_null(strstr(kc.warning, "proxy-url is not supported"));
    smo__kubeconfig_free(&kc);

    assert_int_equal(parse(full, "basic", &kc, err), 0);
    assert_string_equal(kc.username, "u");
    assert_string_equal(kc.password, "p");
    smo__kubeconfig_free(&kc);

    assert_int_equal(parse(full, "anonymous", &kc, err), 0);
    assert_null(kc.user);
    assert_null(kc.token);
    smo__kubeconfig_free(&kc);
}

static void expect_err(const char *text, const char *ctx, const char *needle)
{
    struct smo__kubeconfig kc;
    char err[400];
    assert_int_equal(parse(text, ctx, &kc, err), -1);
    if (!strstr(err, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, err);
    /* Nothing half-filled is left behind. */
    assert_null(kc.server);
    assert_null(kc.path);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_err(full, "aws",
               "user \"aws\" gets its credentials from an exec plugin "
               "(\"aws\"), which SMO does not run: give the user a token, "
               "tokenFile or client certificate");
    expect_err(full, "gcp", "auth-provider plugin");
    expect_err(full, "halfcert", "a client certificate needs its key");
    expect_err(full, "badb64",
               "user \"badb64\": client-key-data is not valid base64");
    expect_err(full, "nouser", "context \"nouser\": user \"ghost\" not found");
    expect_err(full, "nocluster",
               "context \"nocluster\": cluster \"ghost\" not found");
    expect_err(full, "missing",
               "/etc/smo/karmada.config: context \"missing\" not found "
               "(contexts: karmada-apiserver, files, sa, aws, gcp");
    expect_err("apiVersion: v1\nkind: Config\nclusters: []\n", NULL,
               "no current-context; set `context`");
    expect_err("kind: Pod\n", NULL, "not a kubeconfig (kind \"Pod\"");
    expect_err("[1, 2]\n", NULL, "not a kubeconfig (expected a mapping)");
    expect_err("current-context: c\n"
               "contexts: [{name: c, context: {cluster: k}}]\n"
               "clusters: [{name: k, cluster: {server: 'ftp://x'}}]\n",
               NULL, "server \"ftp://x\" is not an http(s):// URL");
    expect_err("current-context: c\n"
               "contexts: [{name: c, context: {cluster: k}}]\n"
               "clusters: [{name: k, cluster: {}}]\n",
               NULL, "cluster \"k\" has no server");
    expect_err("current-context: c\n"
               "contexts: [{name: c, context: {cluster: k}}]\n"
               "clusters: [{name: k, cluster: {server: 'https://a', "
               "insecure-skip-tls-verify: true, "
               "certificate-authority: ca.pem}}]\n",
               NULL,
               "certificate-authority and insecure-skip-tls-verify together "
               "are not allowed");
    expect_err("current-context: c\ncontexts: [{name: c, context: {}}]\n", NULL,
               "context \"c\" names no cluster");
}

static void test_base64(void **state)
{
    (void)state;
    size_t n;
    char *s = smo__base64_decode("aGVs\nbG8=", &n);
    assert_string_equal(s, "hello");
    assert_int_equal(n, 5);
    free(s);
    s = smo__base64_decode("aGVsbG8", &n); /* padding optional */
    assert_string_equal(s, "hello");
    free(s);
    s = smo__base64_decode("", &n);
    assert_string_equal(s, "");
    free(s);
    assert_null(smo__base64_decode("aGVs!G8=", &n));
    assert_null(smo__base64_decode("aGVsbG8=x", &n)); /* data after '=' */
    assert_null(smo__base64_decode("a", &n));         /* 6 bits: no byte */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context_inline_data),
        cmocka_unit_test(test_named_context_files_relative),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
