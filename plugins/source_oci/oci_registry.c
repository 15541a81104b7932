/* The OCI distribution API, pull side, on the host's asynchronous HTTP
 * client: one manifest (following an index with a single entry), then each
 * layer in turn. A 401 is answered once per request with the challenge's
 * scheme: Bearer (token from the realm, with the configured credentials if
 * any) or Basic (the configured credentials). Redirects are followed by
 * hand (the host client never follows them) so that credentials are only
 * sent to the registry's own origin and https never drops to http. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

#define MAX_REDIRECTS   3
#define MAX_TOKEN_BYTES (1024u * 1024u)

enum phase { PH_MANIFEST = 1, PH_BLOB, PH_TOKEN };

struct pull {
    const struct smo_host *host;
    smo_instance *self;
    struct smo__oci_ref ref;
    const struct smo__oci_registry *reg;
    struct smo__oci_pull_opts o;
    smo__oci_pull_cb cb;
    void *arg;

    char origin[300]; /* "https://host:port" */
    char *token;      /* from the realm; never logged */
    bool use_basic;   /* the registry asked for Basic */
    int phase;        /* what the current request is */
    int resume;       /* after a token: the phase to retry */
    bool authed;      /* the current request already answered a 401 */
    int redirects;
    char url[2048];         /* the current request */
    bool cross_origin;      /* a redirect left the registry: no credentials */
    char manifest_ref[130]; /* tag or digest being fetched */
    bool followed_index;
    struct smo__oci_manifest m;
    size_t layer;
    struct smo__oci_pulled *out;
};

void smo__oci_pulled_free(struct smo__oci_pulled *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->blobs[i].data);
    free(p->blobs);
    free(p);
}

static void pull_free(struct pull *p)
{
    free(p->token);
    smo__oci_manifest_free(&p->m);
    smo__oci_pulled_free(p->out);
    free(p);
}

static void finish(struct pull *p, const smo_status *st)
{
    struct smo__oci_pulled *out = st->code ? NULL : p->out;
    if (!st->code)
        p->out = NULL;
    p->cb(p->arg, st, out);
    pull_free(p);
}

static void fail(struct pull *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct pull *p, int code, const char *fmt, ...)
{
    smo_status st;
    smo_status_clear(&st);
    st.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.msg, sizeof st.msg, fmt, ap);
    va_end(ap);
    finish(p, &st);
}

/* "CODE: message" from a distribution error body, or "". */
static void registry_error(const struct smo_http_response *r, char *buf,
                           size_t n)
{
    buf[0] = '\0';
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code)
        snprintf(buf, n, " (%.60s%s%.160s)", code, msg ? ": " : "",
                 msg ? msg : "");
    json_decref(j);
}

static const char *header(const struct smo_http_response *r, const char *name)
{
    return json_string_value(json_object_get(r->headers, name));
}

static void send_current(struct pull *p);

static void set_url_manifest(struct pull *p)
{
    snprintf(p->url, sizeof p->url, "%s/v2/%s/manifests/%s", p->origin,
             p->ref.repo, p->manifest_ref);
    p->cross_origin = false;
    p->redirects = 0;
    p->authed = false;
}

static void set_url_blob(struct pull *p)
{
    snprintf(p->url, sizeof p->url, "%s/v2/%s/blobs/%s", p->origin, p->ref.repo,
             p->m.layers[p->layer].digest);
    p->cross_origin = false;
    p->redirects = 0;
    p->authed = false;
}

static void next_blob_or_done(struct pull *p)
{
    if (p->layer < p->m.n_layers) {
        set_url_blob(p);
        p->phase = PH_BLOB;
        send_current(p);
        return;
    }
    smo_status ok;
    smo_status_clear(&ok);
    finish(p, &ok);
}

static void on_manifest(struct pull *p, const struct smo_http_response *r)
{
    char got[72];
    smo__sha256_digest(r->body, r->body_len, got);
    /* A digest reference (or an index entry) names the exact bytes. */
    if (strncmp(p->manifest_ref, "sha256:", 7) == 0 &&
        strcmp(p->manifest_ref, got) != 0) {
        fail(p, SMO_EINVAL,
             "the manifest does not match its digest %s (got %s): the "
             "registry served altered content",
             p->manifest_ref, got);
        return;
    }
    const char *hd = header(r, "docker-content-digest");
    if (hd && strncmp(hd, "sha256:", 7) == 0 && strcmp(hd, got) != 0) {
        fail(p, SMO_EINVAL,
             "the manifest does not match the registry's "
             "Docker-Content-Digest %.80s (got %s)",
             hd, got);
        return;
    }
    smo_status st;
    smo_status_clear(&st);
    smo__oci_manifest_free(&p->m);
    if (smo__oci_manifest_parse(r->body, r->body_len, header(r, "content-type"),
                                p->o.max_layers, p->o.max_layer_bytes, &p->m,
                                &st)) {
        fail(p, st.code, "%s", st.msg);
        return;
    }
    if (p->m.is_index) {
        if (p->followed_index) {
            fail(p, SMO_EINVAL, "an image index points to another index");
            return;
        }
        p->followed_index = true;
        snprintf(p->manifest_ref, sizeof p->manifest_ref, "%s", p->m.next);
        set_url_manifest(p);
        send_current(p);
        return;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < p->m.n_layers; i++)
        total += p->m.layers[i].size;
    if (total > p->o.max_total_bytes) {
        fail(p, SMO_ETOOBIG,
             "the layers add up to %llu bytes, more than %llu "
             "(max_extracted_bytes)",
             (unsigned long long)total,
             (unsigned long long)p->o.max_total_bytes);
        return;
    }
    memcpy(p->out->manifest_digest, got, sizeof got);
    p->out->blobs = calloc(p->m.n_layers, sizeof *p->out->blobs);
    if (!p->out->blobs) {
        fail(p, SMO_ENOMEM, "out of memory");
        return;
    }
    SMO_LOG_D(p->host, p->self, "%s/%s: manifest %s, %zu layer(s)", p->ref.host,
              p->ref.repo, got, p->m.n_layers);
    p->layer = 0;
    next_blob_or_done(p);
}

static void on_blob(struct pull *p, const struct smo_http_response *r)
{
    const struct smo__oci_layer *L = &p->m.layers[p->layer];
    if ((uint64_t)r->body_len != L->size) {
        fail(p, SMO_EINVAL,
             "layer %s is %zu bytes, the manifest says %llu: the registry "
             "served altered content",
             L->digest, r->body_len, (unsigned long long)L->size);
        return;
    }
    struct smo__oci_blob *b = &p->out->blobs[p->out->n];
    b->data = malloc(r->body_len ? r->body_len : 1);
    if (!b->data) {
        fail(p, SMO_ENOMEM, "out of memory");
        return;
    }
    memcpy(b->data, r->body, r->body_len);
    b->len = r->body_len;
    memcpy(b->digest, L->digest, sizeof b->digest);
    memcpy(b->title, L->title, sizeof b->title);
    p->out->n++;
    p->layer++;
    next_blob_or_done(p);
}

/* A 3xx: follow Location by hand (blob storage may live elsewhere). */
static void on_redirect(struct pull *p, const struct smo_http_response *r)
{
    const char *loc = header(r, "location");
    if (!loc || !*loc || strpbrk(loc, " \r\n")) {
        fail(p, SMO_EPROTO, "HTTP %ld without a usable Location", r->status);
        return;
    }
    if (++p->redirects > MAX_REDIRECTS) {
        fail(p, SMO_EPROTO, "more than %d redirects", MAX_REDIRECTS);
        return;
    }
    char next[sizeof p->url];
    if (loc[0] == '/' && loc[1] != '/') {
        /* Relative to the current request's origin. */
        const char *s = strstr(p->url, "://");
        const char *path = s ? strchr(s + 3, '/') : NULL;
        int n = path ? (int)(path - p->url) : (int)strlen(p->url);
        snprintf(next, sizeof next, "%.*s%s", n, p->url, loc);
    } else if (strncmp(loc, "https://", 8) == 0 ||
               strncmp(loc, "http://", 7) == 0) {
        snprintf(next, sizeof next, "%s", loc);
    } else {
        fail(p, SMO_EPROTO, "unsupported redirect target %.100s", loc);
        return;
    }
    if (strncmp(p->url, "https://", 8) == 0 &&
        strncmp(next, "http://", 7) == 0) {
        fail(p, SMO_EPERM,
             "the registry redirected from https to plain http: refused");
        return;
    }
    size_t ol = strlen(p->origin);
    p->cross_origin = !(strncmp(next, p->origin, ol) == 0 &&
                        (next[ol] == '/' || next[ol] == '\0'));
    snprintf(p->url, sizeof p->url, "%s", next);
    send_current(p);
}

static void on_token(struct pull *p, const smo_status *st,
                     const struct smo_http_response *r)
{
    if (st->code) {
        fail(p, st->code == SMO_ETOOBIG ? SMO_EPROTO : st->code,
             "token endpoint: %s", st->msg);
        return;
    }
    if (r->status == 401 || r->status == 403) {
        fail(p, SMO_EEXTERNAL,
             "the registry's token endpoint refused %s (HTTP %ld)",
             p->reg->username ? "the configured credentials"
                              : "anonymous access; configure a username "
                                "and password for this registry",
             r->status);
        return;
    }
    if (r->status != 200) {
        fail(p, SMO_EPROTO, "the registry's token endpoint answered HTTP %ld",
             r->status);
        return;
    }
    smo_status ts;
    smo_status_clear(&ts);
    free(p->token);
    p->token = NULL;
    if (smo__oci_token_parse(r->body, r->body_len, &p->token, &ts)) {
        fail(p, ts.code, "%s", ts.msg);
        return;
    }
    /* Retry the request that was challenged, now with the token. */
    p->phase = p->resume;
    if (p->phase == PH_MANIFEST)
        set_url_manifest(p);
    else
        set_url_blob(p);
    p->authed = true;
    send_current(p);
}

static void http_done(void *arg, const smo_status *st,
                      const struct smo_http_response *r);

static void request_token(struct pull *p, const struct smo__oci_challenge *c)
{
    bool https = strncmp(c->realm, "https://", 8) == 0;
    if (!https && !(strncmp(c->realm, "http://", 7) == 0 &&
                    strncmp(p->origin, "http://", 7) == 0)) {
        fail(p, SMO_EPERM,
             "token realm %.200s: only https (or http for a plain-http "
             "registry) is accepted",
             c->realm);
        return;
    }
    char scope_buf[600];
    const char *scope = c->scope;
    if (!*scope) {
        snprintf(scope_buf, sizeof scope_buf, "repository:%s:pull",
                 p->ref.repo);
        scope = scope_buf;
    }
    char *svc = smo__oci_urlencode(c->service);
    char *sc = smo__oci_urlencode(scope);
    if (!svc || !sc) {
        free(svc);
        free(sc);
        fail(p, SMO_ENOMEM, "out of memory");
        return;
    }
    char url[2048];
    int n = snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", c->realm,
                     strchr(c->realm, '?') ? "&" : "?", svc, sc);
    free(svc);
    free(sc);
    if (n < 0 || (size_t)n >= sizeof url) {
        fail(p, SMO_EPROTO, "token realm URL too long");
        return;
    }
    p->resume = p->phase;
    p->phase = PH_TOKEN;
    struct smo_http_request req = {
        .size = sizeof req,
        .method = "GET",
        .url = url,
        .timeout_ms = p->o.timeout_ms,
        .connect_timeout_ms = p->o.connect_timeout_ms,
        .basic_user = p->reg->username,
        .basic_password = p->reg->username ? p->reg->password : NULL,
        .ca_file = p->reg->ca_file,
        .client_cert_file = p->reg->client_cert_file,
        .client_key_file = p->reg->client_key_file,
        .insecure_skip_verify = p->reg->insecure_skip_verify,
        .max_response_bytes = MAX_TOKEN_BYTES,
    };
    SMO_LOG_D(p->host, p->self, "token: GET %s", url);
    smo_status st;
    smo_status_clear(&st);
    if (!p->host->http_request(p->self, &req, http_done, p, &st))
        fail(p, st.code ? st.code : SMO_EIO, "token endpoint: %s", st.msg);
}

static void on_unauthorized(struct pull *p, const struct smo_http_response *r)
{
    if (p->authed || p->cross_origin) {
        fail(p, SMO_EEXTERNAL, "the registry refused %s (HTTP 401)%s",
             p->reg->username ? "the configured credentials"
                              : "anonymous access",
             p->reg->username ? ""
                              : "; configure a username and password for "
                                "this registry");
        return;
    }
    struct smo__oci_challenge c;
    smo_status st;
    smo_status_clear(&st);
    if (smo__oci_challenge_parse(header(r, "www-authenticate"), &c, &st)) {
        fail(p, st.code, "%s", st.msg);
        return;
    }
    if (c.bearer) {
        request_token(p, &c);
        return;
    }
    if (!p->reg->username) {
        fail(p, SMO_EEXTERNAL,
             "the registry requires authentication (Basic); configure a "
             "username and password for %s",
             p->ref.host);
        return;
    }
    p->use_basic = true;
    p->authed = true;
    send_current(p);
}

static void http_done(void *arg, const smo_status *st,
                      const struct smo_http_response *r)
{
    struct pull *p = arg;
    if (p->phase == PH_TOKEN) {
        on_token(p, st, r);
        return;
    }
    const char *what = p->phase == PH_MANIFEST ? "manifest" : "layer";
    if (st->code) {
        if (st->code == SMO_ETOOBIG)
            fail(p, SMO_ETOOBIG,
                 p->phase == PH_MANIFEST
                     ? "the manifest is larger than %llu bytes "
                       "(max_manifest_bytes)"
                     : "a layer is larger than its manifest says (%llu "
                       "bytes)",
                 p->phase == PH_MANIFEST
                     ? (unsigned long long)p->o.max_manifest_bytes
                     : (unsigned long long)p->m.layers[p->layer].size);
        else if (st->code == SMO_ECANCELED)
            fail(p, st->code, "the pull was canceled");
        else
            fail(p, st->code == SMO_EPROTO ? SMO_EUNAVAIL : st->code,
                 "cannot fetch the %s from %s: %s", what, p->ref.host, st->msg);
        return;
    }
    char err[240];
    switch (r->status) {
    case 200:
        if (p->phase == PH_MANIFEST)
            on_manifest(p, r);
        else
            on_blob(p, r);
        return;
    case 301:
    case 302:
    case 303:
    case 307:
    case 308:
        on_redirect(p, r);
        return;
    case 401:
        on_unauthorized(p, r);
        return;
    case 403:
        registry_error(r, err, sizeof err);
        fail(p, SMO_EEXTERNAL, "the registry denied access to %s%s",
             p->ref.repo, err);
        return;
    case 404:
        registry_error(r, err, sizeof err);
        if (p->phase == PH_MANIFEST)
            fail(p, SMO_ENOENT, "%s %s not found in %s/%s%s",
                 strncmp(p->manifest_ref, "sha256:", 7) ? "tag" : "manifest",
                 p->manifest_ref, p->ref.host, p->ref.repo, err);
        else
            fail(p, SMO_ENOENT, "layer %s not found in %s/%s%s",
                 p->m.layers[p->layer].digest, p->ref.host, p->ref.repo, err);
        return;
    default:
        registry_error(r, err, sizeof err);
        fail(p,
             r->status == 429 || r->status >= 500 ? SMO_EUNAVAIL : SMO_EPROTO,
             "the registry answered HTTP %ld for the %s%s", r->status, what,
             err);
        return;
    }
}

static void send_current(struct pull *p)
{
    const char *hdrs[] = {SMO__OCI_ACCEPT, NULL};
    bool creds = !p->cross_origin;
    struct smo_http_request req = {
        .size = sizeof req,
        .method = "GET",
        .url = p->url,
        .headers = p->phase == PH_MANIFEST ? hdrs : NULL,
        .timeout_ms = p->o.timeout_ms,
        .connect_timeout_ms = p->o.connect_timeout_ms,
        .bearer_token = creds ? p->token : NULL,
        .basic_user =
            creds && !p->token && p->use_basic ? p->reg->username : NULL,
        .basic_password =
            creds && !p->token && p->use_basic ? p->reg->password : NULL,
        .ca_file = creds ? p->reg->ca_file : NULL,
        .client_cert_file = creds ? p->reg->client_cert_file : NULL,
        .client_key_file = creds ? p->reg->client_key_file : NULL,
        .insecure_skip_verify = creds && p->reg->insecure_skip_verify,
        .max_response_bytes = p->phase == PH_MANIFEST
                                  ? (size_t)p->o.max_manifest_bytes
                                  : (size_t)(p->m.layers[p->layer].size
                                                 ? p->m.layers[p->layer].size
                                                 : 1),
    };
    SMO_LOG_D(p->host, p->self, "GET %s", p->url);
    smo_status st;
    smo_status_clear(&st);
    if (!p->host->http_request(p->self, &req, http_done, p, &st))
        fail(p, st.code ? st.code : SMO_EIO, "%s", st.msg);
}

int smo__oci_pull(const struct smo_host *host, smo_instance *self,
                  const struct smo__oci_ref *ref,
                  const struct smo__oci_registry *reg,
                  const struct smo__oci_pull_opts *opts, smo__oci_pull_cb cb,
                  void *arg, smo_status *st)
{
    struct pull *p = calloc(1, sizeof *p);
    if (!p)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    p->out = calloc(1, sizeof *p->out);
    if (!p->out) {
        free(p);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    p->host = host;
    p->self = self;
    p->ref = *ref;
    p->reg = reg;
    p->o = *opts;
    p->cb = cb;
    p->arg = arg;
    bool plain = ref->plain_http || (!ref->tls && reg->plain_http);
    snprintf(p->origin, sizeof p->origin, "%s://%s", plain ? "http" : "https",
             ref->host);
    snprintf(p->manifest_ref, sizeof p->manifest_ref, "%s",
             ref->digest[0] ? ref->digest : ref->tag);
    p->phase = PH_MANIFEST;
    set_url_manifest(p);
    /* Sent here rather than through send_current(): when the very first
     * request cannot start, the caller must get an error return and no
     * callback. */
    const char *hdrs[] = {SMO__OCI_ACCEPT, NULL};
    struct smo_http_request req = {
        .size = sizeof req,
        .method = "GET",
        .url = p->url,
        .headers = hdrs,
        .timeout_ms = opts->timeout_ms,
        .connect_timeout_ms = opts->connect_timeout_ms,
        .ca_file = reg->ca_file,
        .client_cert_file = reg->client_cert_file,
        .client_key_file = reg->client_key_file,
        .insecure_skip_verify = reg->insecure_skip_verify,
        .max_response_bytes = (size_t)opts->max_manifest_bytes,
    };
    SMO_LOG_D(host, self, "GET %s", p->url);
    if (!host->http_request(self, &req, http_done, p, st)) {
        pull_free(p);
        if (!st->code)
            smo_status_set(st, SMO_EIO, "cannot start the request");
        return st->code;
    }
    return SMO_OK;
}
