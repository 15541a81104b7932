/* Kubeconfig files: the connection facts of one context.
 *
 * Parsing works on the already-parsed document (YAML -> JSON by the host
 * or the core), so this file needs jansson and libc only and can be
 * compiled into tests and fuzz targets. */
#ifndef SMO_KARMADA_KUBECONFIG_H
#define SMO_KARMADA_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct smo__kubeconfig {
    char *path;    /* the kubeconfig file (for messages and helm) */
    char *context; /* the context used */
    char *cluster; /* its cluster and user entries */
    char *user;
    char *namespace; /* the context's namespace, "" when unset */
    char *server;    /* https://host:port[/prefix], no trailing '/' */
    /* Server verification: a CA file or PEM (decoded *-data), or none
     * (system roots); `insecure` turns verification off. */
    char *ca_file, *ca_pem;
    bool insecure;
    /* Client credentials, each NULL when absent. Files are absolute:
     * relative paths are resolved against the kubeconfig's directory, as
     * kubectl does. *-data entries win over their file counterparts. */
    char *cert_file, *cert_pem, *key_file, *key_pem;
    char *token, *token_file;
    char *username, *password;
    /* Something present but ignored (one line), "" when none. */
    char warning[256];
};

/**
 * Select a context of the kubeconfig `doc` (`want_context`, or
 * current-context when NULL/empty) and fill `kc` (zeroed first; release
 * with smo__kubeconfig_free). `path` is where `doc` came from: it names the
 * file in messages and anchors relative paths. Returns 0, or -1 with one
 * line in `err` (exec and auth-provider credential plugins are refused
 * with an explanation).
 */
int smo__kubeconfig_parse(const json_t *doc, const char *path,
                          const char *want_context, struct smo__kubeconfig *kc,
                          char *err, size_t errlen);

void smo__kubeconfig_free(struct smo__kubeconfig *kc);

/** Standard base64 (padding optional, whitespace ignored) -> new NUL-
 *  terminated buffer; NULL when `in` is not base64. */
char *smo__base64_decode(const char *in, size_t *out_len);

#endif
