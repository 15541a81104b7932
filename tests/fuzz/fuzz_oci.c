/* Fuzz source_oci's readers of registry input: image manifests and
 * indexes, WWW-Authenticate challenges, token answers, references, and
 * the gzip/tar extractor with descriptor selection. The first byte picks
 * one: 'm' manifest, 'a' challenge and token, 'r' reference, 't' tar or
 * tar.gz layer; others try all. Beyond "no crash", the invariants that
 * make the output safe are checked: extracted paths are relative and free
 * of "..", limits hold, every refusal says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

static void manifest(const char *s, size_t n)
{
    static const char *const types[] = {NULL, SMO__OCI_MT_OCI_MANIFEST,
                                        SMO__OCI_MT_OCI_INDEX,
                                        "application/json"};
    for (size_t t = 0; t < 4; t++) {
        struct smo__oci_manifest m;
        smo_status st;
        smo_status_clear(&st);
        if (smo__oci_manifest_parse(s, n, types[t], 8, 1u << 20, &m, &st)) {
            if (!st.msg[0] || m.layers)
                abort();
            continue;
        }
        if (m.is_index) {
            if (!smo__oci_digest_valid(m.next))
                abort();
        } else {
            if (!m.n_layers || m.n_layers > 8)
                abort();
            /* Digests go into URLs unescaped: they must be exact. */
            for (size_t i = 0; i < m.n_layers; i++)
                if (!smo__oci_digest_valid(m.layers[i].digest) ||
                    m.layers[i].size > (1u << 20))
                    abort();
        }
        smo__oci_manifest_free(&m);
    }
}

static void auth(const char *s, size_t n)
{
    char *h = strndup(s, n);
    if (!h)
        return;
    struct smo__oci_challenge c;
    smo_status st;
    smo_status_clear(&st);
    if (smo__oci_challenge_parse(h, &c, &st) == SMO_OK) {
        if (c.bearer && !c.realm[0])
            abort();
    } else if (!st.msg[0]) {
        abort();
    }
    char *tok = NULL;
    if (smo__oci_token_parse(s, n, &tok, &st) == SMO_OK) {
        /* The token becomes a header: no line breaks. */
        if (!tok || strpbrk(tok, "\r\n"))
            abort();
        free(tok);
    }
    free(h);
}

static void reference(const char *s, size_t n)
{
    char *r = strndup(s, n);
    if (!r)
        return;
    struct smo__oci_ref ref;
    smo_status st;
    smo_status_clear(&st);
    if (smo__oci_ref_parse(r, true, &ref, &st) == SMO_OK) {
        /* What reaches a URL or an argv. */
        if (!ref.host[0] || !ref.repo[0] || ref.repo[0] == '-' ||
            strstr(ref.repo, "..") || strpbrk(ref.repo, "?#% \\") ||
            (!ref.tag[0] && !ref.digest[0]))
            abort();
        char buf[700];
        smo__oci_ref_str(&ref, buf, sizeof buf);
    }
    free(r);
}

static bool yes(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    (void)len;
    return strncmp(text, "hdaGraph:", 9) == 0;
}

static void layer(const char *s, size_t n)
{
    struct smo__oci_limits l = {
        .max_bytes = 4u << 20,
        .max_files = 256,
        .max_ratio = 200,
        .max_yaml = 64u << 10,
    };
    struct smo__oci_files f = {0};
    smo_status st;
    smo_status_clear(&st);
    int r = smo__oci_layer_read(s, n, "hdag.yaml", &l, &f, &st);
    if (!r)
        r = smo__oci_files_finish(&f, &st);
    if (r) {
        if (!st.msg[0])
            abort();
    } else {
        if (f.inflated > l.max_bytes || f.entries > l.max_files)
            abort();
        for (size_t i = 0; i < f.n; i++) {
            const char *p = f.v[i].path;
            if (!p[0] || p[0] == '/' || strstr(p, "//") ||
                !strncmp(p, "../", 3) || strstr(p, "/../") ||
                !strcmp(p, "..") ||
                (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
                abort();
            if (i && strcmp(f.v[i - 1].path, p) >= 0)
                abort(); /* sorted, no duplicates */
        }
        size_t k;
        smo_status_clear(&st);
        if (smo__oci_select(&f, yes, NULL, &k, &st) == SMO_OK) {
            if (k >= f.n || !f.v[k].data)
                abort();
        } else if (!st.msg[0]) {
            abort();
        }
    }
    smo__oci_files_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0]) {
    case 'm':
        manifest(s, n);
        break;
    case 'a':
        auth(s, n);
        break;
    case 'r':
        reference(s, n);
        break;
    case 't':
        layer(s, n);
        break;
    default:
        manifest(s, n);
        auth(s, n);
        reference(s, n);
        layer(s, n);
    }
    return 0;
}
