/* Kubeconfig: pick a context, resolve its cluster and user, the way
 * client-go's clientcmd does for the fields SMO supports. See
 * kubeconfig.h. */
#define _GNU_SOURCE
#include "kubeconfig.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : NULL;
}

static int fail(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

char *smo__base64_decode(const char *in, size_t *out_len)
{
    size_t n = strlen(in);
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=') {
            pad++;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        else {
            free(out);
            return NULL;
        }
        if (pad) { /* data after padding */
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* 6 leftover bits can never come from whole bytes. */
    if (bits >= 6 || pad > 2) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

/* The named entry of a kubeconfig list ("clusters", "users", "contexts"):
 * [{name: N, <field>: {...}}]. */
static const json_t *entry(const json_t *doc, const char *list,
                           const char *field, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, list), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && !strcmp(n, name)) {
            const json_t *v = json_object_get(e, field);
            return json_is_object(v) ? v : NULL;
        }
    }
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A file named in the kubeconfig, absolute: relative to its directory. */
static char *resolve(const char *base, const char *file)
{
    if (!file)
        return NULL;
    if (file[0] == '/' || !base)
        return strdup(file);
    const char *slash = strrchr(base, '/');
    if (!slash)
        return strdup(file);
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)(slash - base), base, file) < 0)
        return NULL;
    return out;
}

/* *-data: base64 PEM, decoded; "" when absent, NULL when invalid. */
static int data_field(const json_t *o, const char *key, char **out,
                      const char *what, const char *owner, char *err, size_t n)
{
    const char *b64 = str(o, key);
    *out = NULL;
    if (!b64)
        return 0;
    *out = smo__base64_decode(b64, NULL);
    if (!*out)
        return fail(err, n, "%s \"%s\": %s is not valid base64", what, owner,
                    key);
    return 0;
}

static bool truthy(const json_t *v)
{
    const char *s = json_string_value(v);
    return json_is_true(v) || (s && !strcmp(s, "true"));
}

static int names_of(const json_t *doc, const char *list, char *buf, size_t n)
{
    size_t i, o = 0;
    json_t *e;
    buf[0] = '\0';
    json_array_foreach(json_object_get(doc, list), i, e)
    {
        const char *nm = json_string_value(json_object_get(e, "name"));
        if (!nm || o >= n)
            continue;
        int w = snprintf(buf + o, n - o, "%s%s", o ? ", " : "", nm);
        if (w > 0)
            o += (size_t)w;
    }
    return (int)o;
}

int smo__kubeconfig_parse(const json_t *doc, const char *path,
                          const char *want_context, struct smo__kubeconfig *kc,
                          char *err, size_t errlen)
{
    memset(kc, 0, sizeof *kc);
    const char *p = path ? path : "kubeconfig";
    if (!json_is_object(doc))
        return fail(err, errlen, "%s: not a kubeconfig (expected a mapping)",
                    p);
    const char *kind = str(doc, "kind");
    if (kind && strcmp(kind, "Config"))
        return fail(err, errlen,
                    "%s: not a kubeconfig (kind \"%.40s\", expected Config)", p,
                    kind);
    const char *ctx_name = want_context && *want_context
                               ? want_context
                               : str(doc, "current-context");
    if (!ctx_name)
        return fail(err, errlen,
                    "%s: no current-context; set `context` in the executor's "
                    "configuration",
                    p);
    const json_t *ctx = entry(doc, "contexts", "context", ctx_name);
    if (!ctx) {
        char names[200];
        names_of(doc, "contexts", names, sizeof names);
        return fail(err, errlen,
                    "%s: context \"%.100s\" not found (contexts: %s)", p,
                    ctx_name, *names ? names : "none");
    }
    const char *cl_name = str(ctx, "cluster");
    const char *user_name = str(ctx, "user");
    if (!cl_name)
        return fail(err, errlen, "%s: context \"%.100s\" names no cluster", p,
                    ctx_name);
    const json_t *cl = entry(doc, "clusters", "cluster", cl_name);
    if (!cl)
        return fail(err, errlen,
                    "%s: context \"%.100s\": cluster \"%.100s\" not found", p,
                    ctx_name, cl_name);
    /* A context without a user is anonymous access: legal, if rare. */
    const json_t *user =
        user_name ? entry(doc, "users", "user", user_name) : NULL;
    if (user_name && !user)
        return fail(err, errlen,
                    "%s: context \"%.100s\": user \"%.100s\" not found", p,
                    ctx_name, user_name);

    const char *server = str(cl, "server");
    if (!server)
        return fail(err, errlen, "%s: cluster \"%.100s\" has no server", p,
                    cl_name);
    if (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))
        return fail(err, errlen,
                    "%s: cluster \"%.100s\": server \"%.100s\" is not an "
                    "http(s):// URL",
                    p, cl_name, server);
    if (user && json_object_get(user, "exec"))
        return fail(
            err, errlen,
            "%s: user \"%.100s\" gets its credentials from an exec plugin "
            "(\"%.60s\"), which SMO does not run: give the user a token, "
            "tokenFile or client certificate (see "
            "docs/operations/karmada.md)",
            p, user_name,
            str(json_object_get(user, "exec"), "command")
                ? str(json_object_get(user, "exec"), "command")
                : "?");
    if (user && json_object_get(user, "auth-provider"))
        return fail(err, errlen,
                    "%s: user \"%.100s\" uses an auth-provider plugin, which "
                    "SMO does not support: give the user a token, tokenFile "
                    "or client certificate",
                    p, user_name);

    kc->path = strdup(p);
    kc->context = strdup(ctx_name);
    kc->cluster = strdup(cl_name);
    kc->user = dup_or_null(user_name);
    kc->namespace = strdup(str(ctx, "namespace") ? str(ctx, "namespace") : "");
    size_t sl = strlen(server);
    while (sl > 0 && server[sl - 1] == '/')
        sl--;
    kc->server = strndup(server, sl);
    kc->insecure = truthy(json_object_get(cl, "insecure-skip-tls-verify"));
    if (data_field(cl, "certificate-authority-data", &kc->ca_pem, "cluster",
                   cl_name, err, errlen))
        goto bad;
    if (!kc->ca_pem)
        kc->ca_file = resolve(path, str(cl, "certificate-authority"));
    if (kc->insecure && (kc->ca_pem || kc->ca_file)) {
        /* client-go refuses the combination; so do we, rather than guess
         * which one was meant. */
        fail(err, errlen,
             "%s: cluster \"%.100s\": certificate-authority and "
             "insecure-skip-tls-verify together are not allowed",
             p, cl_name);
        goto bad;
    }
    if (str(cl, "proxy-url") || str(cl, "tls-server-name"))
        snprintf(kc->warning, sizeof kc->warning,
                 "cluster \"%.100s\": %s is not supported and is ignored",
                 cl_name,
                 str(cl, "proxy-url") ? "proxy-url" : "tls-server-name");
    if (user) {
        if (data_field(user, "client-certificate-data", &kc->cert_pem, "user",
                       user_name, err, errlen) ||
            data_field(user, "client-key-data", &kc->key_pem, "user", user_name,
                       err, errlen))
            goto bad;
        if (!kc->cert_pem)
            kc->cert_file = resolve(path, str(user, "client-certificate"));
        if (!kc->key_pem)
            kc->key_file = resolve(path, str(user, "client-key"));
        if (!!(kc->cert_pem || kc->cert_file) !=
            !!(kc->key_pem || kc->key_file)) {
            fail(err, errlen,
                 "%s: user \"%.100s\": a client certificate needs its key "
                 "(client-certificate and client-key go together)",
                 p, user_name);
            goto bad;
        }
        /* client-go: an inline token wins; tokenFile is read otherwise. */
        kc->token = dup_or_null(str(user, "token"));
        if (!kc->token)
            kc->token_file = resolve(path, str(user, "tokenFile"));
        kc->username = dup_or_null(str(user, "username"));
        kc->password = dup_or_null(str(user, "password"));
        if (!kc->warning[0] &&
            (json_object_get(user, "as") || json_object_get(user, "as-groups")))
            snprintf(kc->warning, sizeof kc->warning,
                     "user \"%.100s\": impersonation (as, as-groups) is not "
                     "supported and is ignored",
                     user_name);
    }
    return 0;
bad:
    smo__kubeconfig_free(kc);
    return -1;
}

void smo__kubeconfig_free(struct smo__kubeconfig *kc)
{
    if (!kc)
        return;
    char *const ptrs[] = {
        kc->path,      kc->context,    kc->cluster,  kc->user,
        kc->namespace, kc->server,     kc->ca_file,  kc->ca_pem,
        kc->cert_file, kc->cert_pem,   kc->key_file, kc->key_pem,
        kc->token,     kc->token_file, kc->username, kc->password};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
        /* Keys, tokens and passwords do not linger in freed memory. */
        if (ptrs[i])
            explicit_bzero(ptrs[i], strlen(ptrs[i]));
        free(ptrs[i]);
    }
    memset(kc, 0, sizeof *kc);
}
