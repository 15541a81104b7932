/* source_hdarctl: HDAG descriptors through the `hdarctl` tool, for sites
 * that require it (credentials in its own store, proxies, audit).
 *
 * resolve() makes a private directory (thread pool), runs
 * `hdarctl pull <ref> --destination <dir> [--untar] [args...]` through the
 * host's spawn service (argv only, bounded time and output), then reads
 * what the tool left with source_oci's rules (thread pool: the archive is
 * extracted in memory, links and ".." refused, limits enforced), removes
 * the directory and picks the descriptor on the loop (oci_select.c). The
 * reference is checked against the OCI grammar first, so nothing that
 * looks like an option or carries a query reaches the tool. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <smo/smo.h>

#include "hdarctl.h"

#define MAX_ARGS 32

struct cfg {
    const char *binary;
    const json_t *args;
    bool untar;
    const char *work_dir;
    int64_t timeout_ms;
    const json_t *allowed_registries;
    bool http_urls;
    uint64_t max_extracted_bytes;
    int64_t max_files;
    int64_t max_gzip_ratio;
    uint64_t max_descriptor_bytes;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    char *work_dir; /* resolved at create: config or <data_dir>/hdarctl */
};

struct job {
    struct state *s;
    char *ref;
    smo_source_cb cb;
    void *arg;
    char dir[4200]; /* the private destination; "" until made */
    smo_status st;  /* first failure, reported at the end */
    struct smo__oci_files files;
    size_t pick; /* the descriptor among files, chosen on the worker */
};

/* ------------------------------------------------------------ schema -- */

static const struct smo_config_field arg_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "One argument."},
    {0}};

static const struct smo_config_field host_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "A registry host[:port]."},
    {0}};

static const struct smo_config_field fields[] = {
    {"binary", SMO_CFG_STRING, 0, "hdarctl", 0, 0, NULL, NULL,
     offsetof(struct cfg, binary),
     "The hdarctl program: a path, or a name searched in PATH."},
    {"args", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, arg_elem,
     offsetof(struct cfg, args),
     "Extra arguments after `pull REF --destination DIR` (for example "
     "--plain-http); passed as argv, never through a shell."},
    {"untar", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     offsetof(struct cfg, untar),
     "Pass --untar so that hdarctl extracts the artifact itself; by default "
     "SMO extracts the downloaded archive in memory with its own checks."},
    {"work_dir", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL,
     offsetof(struct cfg, work_dir),
     "Where the private per-pull directories are made (default: "
     "<data_dir>/hdarctl)."},
    {"timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "120s", 1000,
     3600000, NULL, NULL, offsetof(struct cfg, timeout_ms),
     "Longest time one hdarctl run may take; then it is killed."},
    {"allowed_registries", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, host_elem,
     offsetof(struct cfg, allowed_registries),
     "Registries (host[:port]) references may name; empty allows any."},
    {"http_urls", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     offsetof(struct cfg, http_urls),
     "Also take http(s)://host/repo[:tag] references (the original SMO's "
     "form), as well as oci://."},
    {"max_extracted_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "128Mi",
     4096, 4294967296.0, NULL, NULL, offsetof(struct cfg, max_extracted_bytes),
     "Most bytes the pulled files and their archives may expand to."},
    {"max_files", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "4096", 1, 100000,
     NULL, NULL, offsetof(struct cfg, max_files),
     "Most files and directories in one artifact."},
    {"max_gzip_ratio", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "200", 2, 100000,
     NULL, NULL, offsetof(struct cfg, max_gzip_ratio),
     "Largest expansion ratio of a gzip archive once it passes 1 MiB."},
    {"max_descriptor_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "4Mi",
     1024, 268435456.0, NULL, NULL, offsetof(struct cfg, max_descriptor_bytes),
     "Largest YAML file considered as the descriptor."},
    {0}};

/* ------------------------------------------------------------ policy -- */

static int accepts(void *state, const char *ref, smo_status *st)
{
    struct state *s = state;
    struct smo__oci_ref r;
    int rc = smo__oci_ref_parse(ref, s->cfg->http_urls, &r, st);
    if (rc)
        return rc;
    size_t n = json_array_size(s->cfg->allowed_registries);
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_string_value(
                       json_array_get(s->cfg->allowed_registries, i)),
                   r.host) == 0)
            return SMO_OK;
    if (n)
        return smo_status_set(st, SMO_EPERM,
                              "registry %s is not in this source's "
                              "allowed_registries",
                              r.host);
    return SMO_OK;
}

/* ----------------------------------------------------------- resolve -- */

static void job_free(struct job *j)
{
    smo__oci_files_free(&j->files);
    free(j->ref);
    free(j);
}

static void job_fail(struct job *j, const smo_status *st)
{
    struct state *s = j->s;
    SMO_LOG_I(s->host, s->self, "%s: %s", j->ref, st->msg);
    j->cb(j->arg, st, NULL, 0, NULL);
    job_free(j);
}

/* Thread pool: read what hdarctl left (unless it failed), then remove the
 * directory in every case. */
static void collect(void *arg)
{
    struct job *j = arg;
    const struct cfg *c = j->s->cfg;
    if (!j->st.code) {
        struct smo__oci_limits l = {
            .max_bytes = c->max_extracted_bytes,
            .max_files = (uint64_t)c->max_files,
            .max_ratio = (uint64_t)c->max_gzip_ratio,
            .max_yaml = c->max_descriptor_bytes,
        };
        smo__hdarctl_read_dir(j->dir, &l, &j->files, &j->st);
    }
    if (j->dir[0] && smo__hdarctl_rm_rf(j->dir) && !j->st.code)
        smo_status_set(&j->st, SMO_EIO, "cannot remove %s", j->dir);
    /* Candidates are parsed here, off the loop. */
    if (!j->st.code)
        smo__oci_select(&j->files, smo__oci_is_hdag, (void *)j->s->host,
                        &j->pick, &j->st);
}

static void collected(void *arg, int status)
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
    SMO_LOG_I(s->host, s->self, "%s: descriptor %s (%llu bytes)", j->ref,
              f->path, (unsigned long long)f->size);
    smo_status_clear(&st);
    j->cb(j->arg, &st, f->data, (size_t)f->size, "application/yaml");
    job_free(j);
}

/* The last line of the tool's stderr (or stdout), for the message: that
 * is where hdarctl, like helm, says what went wrong. */
static void last_line(const char *s, size_t n, char *out, size_t cap)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    size_t b = n;
    while (b && s[b - 1] != '\n')
        b--;
    size_t len = n - b < cap - 1 ? n - b : cap - 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[b + i];
        out[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out[len] = '\0';
}

static void pulled(void *arg, const smo_status *st,
                   const struct smo_spawn_result *res)
{
    struct job *j = arg;
    struct state *s = j->s;
    if (st->code) {
        char why[300] = "";
        if (res && res->err_len)
            last_line(res->err, res->err_len, why, sizeof why);
        else if (res && res->out_len)
            last_line(res->out, res->out_len, why, sizeof why);
        if (st->code == SMO_ENOENT)
            smo_status_set(&j->st, SMO_EUNAVAIL,
                           "%s: program not found (set the binary key)",
                           s->cfg->binary);
        else if (st->code == SMO_ETIMEDOUT || (res && res->timed_out))
            smo_status_set(&j->st, SMO_ETIMEDOUT,
                           "hdarctl pull did not finish within %lld ms",
                           (long long)s->cfg->timeout_ms);
        else
            /* EEXTERNAL: the tool ran and said no; the artifact (missing,
             * unauthorised) is the usual cause, so keep its words. */
            smo_status_set(&j->st, SMO_EEXTERNAL, "hdarctl pull failed%s%s",
                           why[0] ? ": " : "", why);
    }
    int r = s->host->queue_work(s->self, collect, collected, j);
    if (r) {
        /* The directory stays; say where, so it can be removed. */
        smo_status qs;
        smo_status_clear(&qs);
        smo_status_set(&qs, r, "cannot queue the extraction (left %s)", j->dir);
        job_fail(j, &qs);
    }
}

/* Thread pool: the private destination (0700, unique). */
static void make_dir(void *arg)
{
    struct job *j = arg;
    const char *base = j->s->work_dir;
    if (mkdir(base, 0700) < 0 && errno != EEXIST) {
        smo_status_set(&j->st, SMO_EIO, "%s: %s", base, strerror(errno));
        return;
    }
    char tmpl[sizeof j->dir];
    int n = snprintf(tmpl, sizeof tmpl, "%s/pull-XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof tmpl || !mkdtemp(tmpl)) {
        smo_status_set(&j->st, SMO_EIO, "%s: cannot make a directory: %s", base,
                       n < 0 || (size_t)n >= sizeof tmpl ? "path too long"
                                                         : strerror(errno));
        return;
    }
    memcpy(j->dir, tmpl, (size_t)n + 1);
}

static void dir_made(void *arg, int status)
{
    struct job *j = arg;
    struct state *s = j->s;
    if (status == SMO_ECANCELED && !j->st.code)
        smo_status_set(&j->st, SMO_ECANCELED, "the pull was canceled");
    if (j->st.code) {
        if (j->dir[0])
            smo__hdarctl_rm_rf(j->dir);
        job_fail(j, &j->st);
        return;
    }
    const char *argv[MAX_ARGS + 8];
    size_t a = 0;
    argv[a++] = s->cfg->binary;
    argv[a++] = "pull";
    argv[a++] = j->ref;
    argv[a++] = "--destination";
    argv[a++] = j->dir;
    if (s->cfg->untar)
        argv[a++] = "--untar";
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)s->cfg->args, i, v) argv[a++] =
        json_string_value(v);
    argv[a] = NULL;
    struct smo_spawn_opts o = {
        .size = sizeof o,
        .argv = argv,
        .timeout_ms = s->cfg->timeout_ms,
        .max_output_bytes = 64 * 1024,
    };
    SMO_LOG_D(s->host, s->self, "%s: %s pull into %s", j->ref, s->cfg->binary,
              j->dir);
    smo_status st;
    smo_status_clear(&st);
    if (!s->host->spawn(s->self, &o, pulled, j, &st)) {
        /* Nothing ran: report why, after the directory is gone. */
        smo_status_set(&j->st, st.code ? st.code : SMO_EIO, "cannot run %s: %s",
                       s->cfg->binary, st.msg);
        int r = s->host->queue_work(s->self, collect, collected, j);
        if (r) {
            smo__hdarctl_rm_rf(j->dir);
            job_fail(j, &j->st);
        }
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
    if (!j || !(j->ref = strdup(ref))) {
        free(j);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    j->s = s;
    j->cb = cb;
    j->arg = arg;
    r = s->host->queue_work(s->self, make_dir, dir_made, j);
    if (r) {
        job_free(j);
        return smo_status_set(st, r, "cannot queue the pull");
    }
    return SMO_OK;
}

/* --------------------------------------------------------- lifecycle -- */

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct cfg *c = cfgp;
    if (!c->binary[0])
        return smo_status_set(st, SMO_ECONFIG, "binary: empty");
    if (json_array_size(c->args) > MAX_ARGS)
        return smo_status_set(st, SMO_ECONFIG, "args: at most %d", MAX_ARGS);
    if (c->work_dir && c->work_dir[0] != '/')
        return smo_status_set(st, SMO_ECONFIG,
                              "work_dir: an absolute path is needed");
    size_t i;
    json_t *v;
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
    if (cfg->work_dir)
        s->work_dir = strdup(cfg->work_dir);
    else if (asprintf(&s->work_dir, "%s/hdarctl", host->data_dir(self)) < 0)
        s->work_dir = NULL;
    if (!s->work_dir) {
        free(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    *out = s;
    return SMO_OK;
}

static void destroy(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    free(s->work_dir);
    free(s);
}

static const struct smo_source_ops ops = {
    .size = sizeof(struct smo_source_ops),
    .accepts = accepts,
    .resolve = resolve,
};

SMO_PLUGIN_DEFINE(SMO_KIND_SOURCE, "hdarctl", "1.0.0",
                  "HDAG descriptors pulled by the hdarctl tool (oci:// and "
                  "http(s):// references), read with source_oci's safe "
                  "extraction.",
                  fields, struct cfg, validate, create, NULL, NULL, NULL,
                  destroy, &ops);
