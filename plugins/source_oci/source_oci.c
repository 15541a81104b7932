/* source_oci: HDAG descriptors from OCI registries, pulled natively.
 *
 * A reference (oci://host[:port]/repo[:tag|@digest], or http(s)://... when
 * enabled) is checked against the registry policy in accepts(); resolve()
 * then pulls the manifest and layers over the host's HTTP client
 * (oci_registry.c), verifies every digest and extracts the layers in memory
 * on the thread pool (oci_tar.c), and picks the descriptor on the loop
 * (oci_select.c, which needs the host's YAML parser). Nothing touches the
 * disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <smo/smo.h>

#include "oci.h"

#define MAX_PASSWORD_BYTES 4096

struct cfg {
    const json_t *registries;
    const json_t *allowed_registries;
    bool http_urls;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    uint64_t max_manifest_bytes;
    uint64_t max_layer_bytes;
    int64_t max_layers;
    uint64_t max_extracted_bytes;
    int64_t max_files;
    int64_t max_gzip_ratio;
    uint64_t max_descriptor_bytes;
};

struct reg_entry {
    char *key; /* "host[:port]" */
    struct smo__oci_registry r;
    char *password; /* owned; r.password points here */
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    struct reg_entry *regs;
    size_t n_regs;
    struct smo__oci_registry anon; /* registries without an entry */
};

struct job {
    struct state *s;
    struct smo__oci_ref ref;
    char ref_str[600];
    smo_source_cb cb;
    void *arg;
    struct smo__oci_pulled *pulled;
    /* filled on the worker thread */
    struct smo__oci_files files;
    size_t pick; /* the descriptor among files, chosen on the worker */
    smo_status st;
};

/* ------------------------------------------------------------ schema -- */

static const struct smo_config_field registry_fields[] = {
    {"plain_http", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET,
     "Talk plain HTTP to this registry (oci:// references and http:// URLs); "
     "off by default, https is used."},
    {"username", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "User for Basic auth and for the token endpoint of a Bearer challenge; "
     "unset pulls anonymously."},
    {"password_env", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET,
     "Name of the environment variable holding the password (read when the "
     "instance is created, never logged)."},
    {"password_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET,
     "File holding the password (first line; read when the instance is "
     "created, never logged)."},
    {"ca_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "PEM bundle that verifies the registry's certificate (default: the "
     "system's)."},
    {"client_cert_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "PEM client certificate for mutual TLS."},
    {"client_key_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "PEM key of client_cert_file."},
    {"insecure_skip_verify", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET,
     "Do not verify the registry's certificate (test registries only)."},
    {0}};

static const struct smo_config_field registry_elem[] = {
    {NULL, SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, registry_fields,
     SMO_CFG_NO_OFFSET, "Settings of one registry."},
    {0}};

static const struct smo_config_field host_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "A registry host[:port]."},
    {0}};

static const struct smo_config_field fields[] = {
    {"registries", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, registry_elem,
     offsetof(struct cfg, registries),
     "Per-registry settings keyed by host[:port] exactly as written in "
     "references: plain_http, credentials, TLS."},
    {"allowed_registries", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, host_elem,
     offsetof(struct cfg, allowed_registries),
     "Registries (host[:port]) references may name; empty allows any."},
    {"http_urls", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     offsetof(struct cfg, http_urls),
     "Also take http(s)://host/repo[:tag] references (the original SMO's "
     "hdarctl form); http:// still needs plain_http for that registry."},
    {"timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "60s", 100,
     3600000, NULL, NULL, offsetof(struct cfg, timeout_ms),
     "Longest time for one HTTP request (manifest, layer or token)."},
    {"connect_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100,
     600000, NULL, NULL, offsetof(struct cfg, connect_timeout_ms),
     "Longest time to open a connection to a registry."},
    {"max_manifest_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "1Mi", 1024,
     67108864.0, NULL, NULL, offsetof(struct cfg, max_manifest_bytes),
     "Largest manifest accepted."},
    {"max_layer_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "64Mi", 1024,
     1073741824.0, NULL, NULL, offsetof(struct cfg, max_layer_bytes),
     "Largest layer blob (compressed) accepted."},
    {"max_layers", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "16", 1, 256, NULL,
     NULL, offsetof(struct cfg, max_layers), "Most layers in one artifact."},
    {"max_extracted_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "128Mi",
     4096, 4294967296.0, NULL, NULL, offsetof(struct cfg, max_extracted_bytes),
     "Most bytes all layers may expand to (gzip bombs stop here); also bounds "
     "the sum of the compressed layers."},
    {"max_files", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "4096", 1, 100000,
     NULL, NULL, offsetof(struct cfg, max_files),
     "Most files and directories in one artifact."},
    {"max_gzip_ratio", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "200", 2, 100000,
     NULL, NULL, offsetof(struct cfg, max_gzip_ratio),
     "Largest expansion ratio of a gzip layer once it passes 1 MiB; a higher "
     "ratio is refused as a bomb."},
    {"max_descriptor_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "4Mi",
     1024, 268435456.0, NULL, NULL, offsetof(struct cfg, max_descriptor_bytes),
     "Largest YAML file considered as the descriptor."},
    {0}};

/* ------------------------------------------------------------ policy -- */

static const struct smo__oci_registry *registry_of(const struct state *s,
                                                   const char *host)
{
    for (size_t i = 0; i < s->n_regs; i++)
        if (strcmp(s->regs[i].key, host) == 0)
            return &s->regs[i].r;
    return &s->anon;
}

static int accepts(void *state, const char *ref, smo_status *st)
{
    struct state *s = state;
    struct smo__oci_ref r;
    int rc = smo__oci_ref_parse(ref, s->cfg->http_urls, &r, st);
    if (rc)
        return rc;
    size_t n = json_array_size(s->cfg->allowed_registries);
    if (n) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(json_string_value(
                            json_array_get(s->cfg->allowed_registries, i)),
                        r.host) == 0;
        if (!ok)
            return smo_status_set(st, SMO_EPERM,
                                  "registry %s is not in this source's "
                                  "allowed_registries",
                                  r.host);
    }
    if (r.plain_http && !registry_of(s, r.host)->plain_http)
        return smo_status_set(st, SMO_EPERM,
                              "plain HTTP to %s is not enabled (set "
                              "registries.\"%s\".plain_http: true)",
                              r.host, r.host);
    return SMO_OK;
}

/* ----------------------------------------------------------- resolve -- */

static void job_free(struct job *j)
{
    smo__oci_pulled_free(j->pulled);
    smo__oci_files_free(&j->files);
    free(j);
}

static void job_fail(struct job *j, const smo_status *st)
{
    struct state *s = j->s;
    SMO_LOG_I(s->host, s->self, "%s: %s", j->ref_str, st->msg);
    j->cb(j->arg, st, NULL, 0, NULL);
    job_free(j);
}

/* Thread pool: verify every layer against its digest, then extract. */
static void extract(void *arg)
{
    struct job *j = arg;
    const struct cfg *c = j->s->cfg;
    struct smo__oci_limits l = {
        .max_bytes = c->max_extracted_bytes,
        .max_files = (uint64_t)c->max_files,
        .max_ratio = (uint64_t)c->max_gzip_ratio,
        .max_yaml = c->max_descriptor_bytes,
    };
    smo_status_clear(&j->st);
    for (size_t i = 0; i < j->pulled->n; i++) {
        const struct smo__oci_blob *b = &j->pulled->blobs[i];
        char got[72];
        if (smo__oci_digest_check(b->digest, b->data, b->len, got)) {
            smo_status_set(&j->st, SMO_EINVAL,
                           "layer %s does not match its digest (got %s): the "
                           "registry served altered content",
                           b->digest, got);
            return;
        }
        smo_status ls;
        smo_status_clear(&ls);
        if (smo__oci_layer_read(b->data, b->len, b->title, &l, &j->files,
                                &ls)) {
            smo_status_set(&j->st, ls.code, "layer %.19s...: %s", b->digest,
                           ls.msg);
            return;
        }
        /* The compressed bytes are no longer needed. */
        free(j->pulled->blobs[i].data);
        j->pulled->blobs[i].data = NULL;
    }
    if (!smo__oci_files_finish(&j->files, &j->st))
        smo__oci_select(&j->files, smo__oci_is_hdag, (void *)j->s->host,
                        &j->pick, &j->st);
}

static void extracted(void *arg, int status)
{
    struct job *j = arg;
    struct state *s = j->s;
    if (status == SMO_ECANCELED && !j->st.code)
        smo_status_set(&j->st, SMO_ECANCELED, "the pull was canceled");
    if (j->st.code) {
        job_fail(j, &j->st);
        return;
    }
    smo_status st;
    const struct smo__oci_file *f = &j->files.v[j->pick];
    SMO_LOG_I(s->host, s->self, "%s: manifest %s, descriptor %s (%llu bytes)",
              j->ref_str, j->pulled->manifest_digest, f->path,
              (unsigned long long)f->size);
    smo_status_clear(&st);
    j->cb(j->arg, &st, f->data, (size_t)f->size, "application/yaml");
    job_free(j);
}

static void pulled(void *arg, const smo_status *st, struct smo__oci_pulled *out)
{
    struct job *j = arg;
    if (st->code) {
        job_fail(j, st);
        return;
    }
    j->pulled = out;
    int r = j->s->host->queue_work(j->s->self, extract, extracted, j);
    if (r) {
        smo_status qs;
        smo_status_clear(&qs);
        smo_status_set(&qs, r, "cannot queue the extraction");
        job_fail(j, &qs);
    }
}

static int resolve(void *state, const char *ref, smo_source_cb cb, void *arg,
                   smo_status *st)
{
    struct state *s = state;
    int r = accepts(state, ref, st);
    if (r)
        return r < 0 ? r
                     : smo_status_set(st, SMO_EINVAL, "not an OCI reference");
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    j->s = s;
    smo__oci_ref_parse(ref, s->cfg->http_urls, &j->ref, st);
    smo__oci_ref_str(&j->ref, j->ref_str, sizeof j->ref_str);
    j->cb = cb;
    j->arg = arg;
    const struct cfg *c = s->cfg;
    struct smo__oci_pull_opts o = {
        .timeout_ms = c->timeout_ms,
        .connect_timeout_ms = c->connect_timeout_ms,
        .max_manifest_bytes = c->max_manifest_bytes,
        .max_layer_bytes = c->max_layer_bytes,
        .max_total_bytes = c->max_extracted_bytes,
        .max_layers = (size_t)c->max_layers,
    };
    r = smo__oci_pull(s->host, s->self, &j->ref, registry_of(s, j->ref.host),
                      &o, pulled, j, st);
    if (r) {
        free(j);
        return r;
    }
    return SMO_OK;
}

/* --------------------------------------------------------- lifecycle -- */

/* The first line of a password file. Its permissions are left to the
 * operator (secrets mounted into containers are often 0644); the size is
 * bounded and the stack copy wiped. */
static int read_password_file(const char *path, char **out, smo_status *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return smo_status_set(st, SMO_ECONFIG, "%s: %s", path, strerror(errno));
    char buf[MAX_PASSWORD_BYTES + 1];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return smo_status_set(st, SMO_ECONFIG, "%s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1) {
            close(fd);
            return smo_status_set(st, SMO_ECONFIG, "%s: longer than %d bytes",
                                  path, MAX_PASSWORD_BYTES);
        }
    }
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    *out = strdup(buf);
    explicit_bzero(buf, sizeof buf);
    return *out ? SMO_OK : smo_status_set(st, SMO_ENOMEM, "out of memory");
}

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct cfg *c = cfgp;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)c->registries, key, v)
    {
        char probe[400];
        struct smo__oci_ref r;
        snprintf(probe, sizeof probe, "oci://%s/x", key);
        if (smo__oci_ref_parse(probe, false, &r, NULL) || strcmp(r.host, key))
            return smo_status_set(st, SMO_ECONFIG,
                                  "registries.\"%.100s\": expected host[:port]",
                                  key);
        bool user = json_object_get(v, "username") != NULL;
        bool penv = json_object_get(v, "password_env") != NULL;
        bool pfile = json_object_get(v, "password_file") != NULL;
        if ((penv || pfile) && !user)
            return smo_status_set(st, SMO_ECONFIG,
                                  "registries.\"%.100s\": a password needs a "
                                  "username",
                                  key);
        if (penv && pfile)
            return smo_status_set(st, SMO_ECONFIG,
                                  "registries.\"%.100s\": set password_env or "
                                  "password_file, not both",
                                  key);
        if (!json_object_get(v, "client_cert_file") !=
            !json_object_get(v, "client_key_file"))
            return smo_status_set(st, SMO_ECONFIG,
                                  "registries.\"%.100s\": client_cert_file "
                                  "and client_key_file go together",
                                  key);
    }
    size_t i;
    json_array_foreach((json_t *)c->allowed_registries, i, v)
    {
        char probe[400];
        struct smo__oci_ref r;
        const char *h = json_string_value(v);
        snprintf(probe, sizeof probe, "oci://%s/x", h);
        if (smo__oci_ref_parse(probe, false, &r, NULL) || strcmp(r.host, h))
            return smo_status_set(st, SMO_ECONFIG,
                                  "allowed_registries[%zu]: expected "
                                  "host[:port]",
                                  i);
    }
    return SMO_OK;
}

static void destroy(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->n_regs; i++) {
        free(s->regs[i].key);
        if (s->regs[i].password) {
            explicit_bzero(s->regs[i].password, strlen(s->regs[i].password));
            free(s->regs[i].password);
        }
    }
    free(s->regs);
    free(s);
}

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct cfg *cfg = cfgp;
    int r = validate(NULL, cfgp, st);
    if (r)
        return r;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = cfg;
    size_t n = json_object_size(cfg->registries);
    s->regs = calloc(n ? n : 1, sizeof *s->regs);
    if (!s->regs) {
        free(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg->registries, key, v)
    {
        struct reg_entry *e = &s->regs[s->n_regs++];
        e->key = strdup(key);
        e->r.plain_http = json_is_true(json_object_get(v, "plain_http"));
        e->r.insecure_skip_verify =
            json_is_true(json_object_get(v, "insecure_skip_verify"));
        e->r.username = str_of(v, "username");
        e->r.ca_file = str_of(v, "ca_file");
        e->r.client_cert_file = str_of(v, "client_cert_file");
        e->r.client_key_file = str_of(v, "client_key_file");
        const char *penv = str_of(v, "password_env");
        const char *pfile = str_of(v, "password_file");
        if (penv) {
            const char *pw = getenv(penv);
            if (!pw) {
                destroy(s);
                return smo_status_set(st, SMO_ECONFIG,
                                      "registries.\"%.100s\".password_env: "
                                      "%.100s is not set",
                                      key, penv);
            }
            e->password = strdup(pw);
        } else if (pfile) {
            smo_status ps;
            smo_status_clear(&ps);
            if (read_password_file(pfile, &e->password, &ps)) {
                destroy(s);
                return smo_status_set(st, SMO_ECONFIG,
                                      "registries.\"%.100s\".password_file: "
                                      "%s",
                                      key, ps.msg);
            }
        }
        e->r.password = e->password;
        if (!e->key) {
            destroy(s);
            return smo_status_set(st, SMO_ENOMEM, "out of memory");
        }
    }
    *out = s;
    return SMO_OK;
}

static const struct smo_source_ops ops = {
    .size = sizeof(struct smo_source_ops),
    .accepts = accepts,
    .resolve = resolve,
};

SMO_PLUGIN_DEFINE(SMO_KIND_SOURCE, "oci", "1.0.0",
                  "HDAG descriptors pulled from OCI registries (oci:// and "
                  "http(s):// references), verified and extracted in memory.",
                  fields, struct cfg, validate, create, NULL, NULL, NULL,
                  destroy, &ops);
