/* Releases through helm: argv only (no shell), names validated so that no
 * argument can be read as a flag, values in a private 0600 file that is
 * removed as soon as helm exits, helm's output kept for the operation's
 * record and a non-zero exit reported with helm's own message. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "karmada.h"

extern char **environ;

/* Helm refuses release names longer than 53 characters (the name ends up
 * in labels together with suffixes). */
#define RELEASE_MAX   53
#define NAMESPACE_MAX 63
#define OUTPUT_KEEP   4096

int smo__helm_check_name(const char *what, const char *name, size_t max,
                         smo_status *st)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return smo_status_set(st, SMO_EINVAL, "%s: empty", what);
    if (n > max)
        return smo_status_set(st, SMO_EINVAL,
                              "%s \"%.80s\": longer than %zu characters", what,
                              name, max);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return smo_status_set(st, SMO_EINVAL,
                                  "%s \"%.80s\": not a DNS-1123 label (lower-"
                                  "case letters, digits and '-')",
                                  what, name);
    }
    /* The first character is alphanumeric: never "-x", never a flag. */
    if (name[0] == '-' || name[n - 1] == '-')
        return smo_status_set(st, SMO_EINVAL,
                              "%s \"%.80s\": must start and end with a letter "
                              "or digit",
                              what, name);
    return 0;
}

int smo__helm_check_ref(const char *what, const char *ref, smo_status *st)
{
    size_t n = ref ? strlen(ref) : 0;
    if (n == 0)
        return smo_status_set(st, SMO_EINVAL, "%s: empty", what);
    if (n > 1024)
        return smo_status_set(st, SMO_EINVAL, "%s: longer than 1024 bytes",
                              what);
    if (ref[0] == '-')
        return smo_status_set(
            st, SMO_EINVAL, "%s \"%.80s\": must not start with '-'", what, ref);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ref[i];
        if (c <= ' ' || c == 0x7f)
            return smo_status_set(st, SMO_EINVAL,
                                  "%s \"%.80s\": whitespace or control "
                                  "character",
                                  what, ref);
    }
    return 0;
}

void smo__argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

struct argv_b {
    char **v;
    size_t n;
    bool oom;
};

static void add(struct argv_b *b, const char *s)
{
    char **nv = realloc(b->v, (b->n + 2) * sizeof *nv);
    char *d = strdup(s);
    if (!nv || !d) {
        free(d);
        if (nv)
            b->v = nv;
        b->oom = true;
        return;
    }
    b->v = nv;
    b->v[b->n++] = d;
    b->v[b->n] = NULL;
}

static char **done_argv(struct argv_b *b)
{
    if (b->oom) {
        smo__argv_free(b->v);
        return NULL;
    }
    return b->v;
}

static void common(struct argv_b *b, const char *ns)
{
    add(b, "--namespace");
    add(b, ns);
}

static void kube(struct argv_b *b, const struct smo__helm_args *a)
{
    add(b, "--kubeconfig");
    add(b, a->kubeconfig);
    if (a->context && *a->context) {
        add(b, "--kube-context");
        add(b, a->context);
    }
}

char **smo__helm_install_argv(const struct smo__helm_args *a,
                              const char *release, const char *chart,
                              const char *ns, const char *values_file,
                              const char *version, bool reuse_values)
{
    struct argv_b b = {0};
    add(&b, a->binary);
    add(&b, "upgrade");
    add(&b, "--install");
    add(&b, release);
    add(&b, chart);
    common(&b, ns);
    add(&b, "--create-namespace");
    kube(&b, a);
    add(&b, "--values");
    add(&b, values_file);
    if (a->plain_http)
        add(&b, "--plain-http");
    if (version && *version) {
        add(&b, "--version");
        add(&b, version);
    }
    if (reuse_values)
        add(&b, "--reuse-values");
    if (a->registry_config && *a->registry_config) {
        add(&b, "--registry-config");
        add(&b, a->registry_config);
    }
    if (a->ca_file && *a->ca_file) {
        add(&b, "--ca-file");
        add(&b, a->ca_file);
    }
    if (a->insecure)
        add(&b, "--insecure-skip-tls-verify");
    /* SMO follows the workloads through the API itself; helm returns as
     * soon as the objects are accepted by Karmada. */
    add(&b, "--wait=false");
    return done_argv(&b);
}

char **smo__helm_uninstall_argv(const struct smo__helm_args *a,
                                const char *release, const char *ns)
{
    struct argv_b b = {0};
    add(&b, a->binary);
    add(&b, "uninstall");
    add(&b, release);
    common(&b, ns);
    kube(&b, a);
    return done_argv(&b);
}

static struct smo__helm_args args_of(const struct smo__kstate *s)
{
    const struct smo__kcfg *c = s->cfg;
    struct smo__helm_args a = {
        .binary = c->helm_binary,
        .kubeconfig = s->kubeconfig,
        .context = c->context,
        .registry_config = c->helm_registry_config,
        .ca_file = c->helm_ca_file,
        .plain_http = c->helm_plain_http,
        .insecure = c->helm_insecure,
    };
    return a;
}

/* ------------------------------------------------------ values files -- */

void smo__helm_clean_values_dir(struct smo__kstate *s)
{
    DIR *d = opendir(s->values_dir);
    if (!d)
        return;
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".json") &&
            !unlinkat(dirfd(d), e->d_name, 0))
            n++;
    }
    closedir(d);
    if (n)
        SMO_LOG_N(s->host, s->self,
                  "removed %zu values file%s left by an earlier run", n,
                  n == 1 ? "" : "s");
}

/* ------------------------------------------------------------ a call -- */

struct helm_call {
    struct smo__kstate *s;
    smo_exec_cb cb;
    void *arg;
    bool uninstall;
    char *key; /* project/name */
    char *ns, *release, *chart, *cluster;
    char *values_text, *values_path;
    char **argv;
    int write_rc;
    char write_err[256];
};

static void call_free(struct helm_call *c)
{
    free(c->key);
    free(c->ns);
    free(c->release);
    free(c->chart);
    free(c->cluster);
    free(c->values_text);
    free(c->values_path);
    smo__argv_free(c->argv);
    free(c);
}

static void complete(struct helm_call *c, const smo_status *st, json_t *result)
{
    struct smo__kstate *s = c->s;
    const char *lv[] = {s->host->instance_name(s->self),
                        c->uninstall ? "uninstall" : "upgrade",
                        st->code ? "failed" : "ok", NULL};
    if (s->m_helm)
        s->host->metric_add(s->m_helm, lv, 1);
    c->cb(c->arg, st, result);
    call_free(c);
    s->busy--;
    smo__karmada_maybe_stopped(s);
}

static void fail_now(struct helm_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_now(struct helm_call *c, int code, const char *fmt, ...)
{
    smo_status st;
    smo_status_clear(&st);
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smo_status_set(&st, code, "%s", msg);
    complete(c, &st, NULL);
}

/* The last `keep` bytes of a stream, as a JSON string (helm prints its
 * error last). */
static json_t *tail(const char *s, size_t len, size_t keep)
{
    if (!s)
        return json_string("");
    if (len > keep) {
        s += len - keep;
        len = keep;
    }
    json_t *j = json_stringn(s, len);
    /* Output that is not UTF-8 must not break the journal. */
    if (!j) {
        char *copy = strndup(s, len);
        for (char *p = copy; p && *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        j = json_string(copy ? copy : "");
        free(copy);
    }
    return j;
}

/* helm's own message: its "Error: ..." line, else the last line of
 * stderr, else of stdout; one line, bounded. */
static void helm_message(const struct smo_spawn_result *r, char *out, size_t n)
{
    const char *src = r && r->err_len ? r->err : r && r->out ? r->out : "";
    const char *e = strstr(src, "Error:");
    if (!e) {
        const char *end = src + strlen(src);
        while (end > src && strchr(" \n\r\t", end[-1]))
            end--;
        e = end;
        while (e > src && e[-1] != '\n')
            e--;
        snprintf(out, n, "%.*s", (int)(end - e), e);
    } else
        snprintf(out, n, "%s", e);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t l = strlen(out);
    while (l && out[l - 1] == ' ')
        out[--l] = '\0';
    if (!*out)
        snprintf(out, n, "(no output)");
}

static long revision_of(const char *out)
{
    const char *p = out ? strstr(out, "REVISION:") : NULL;
    return p ? strtol(p + 9, NULL, 10) : 0;
}

static void on_helm(void *arg, const smo_status *st,
                    const struct smo_spawn_result *res)
{
    struct helm_call *c = arg;
    struct smo__kstate *s = c->s;
    /* The values may hold secrets: gone the moment helm has read them.
     * (One unlink in the daemon's own data directory.) */
    if (c->values_path && unlink(c->values_path) && errno != ENOENT)
        SMO_LOG_W(s->host, s->self, "cannot remove %s: %s", c->values_path,
                  strerror(errno));
    const char *cmd =
        c->uninstall ? "helm uninstall" : "helm upgrade --install";
    if (!res) {
        if (st->code == SMO_ENOENT)
            fail_now(c, SMO_EUNAVAIL,
                     "%s %s: cannot run \"%s\": program not found (set "
                     "helm.binary or put helm on smod's PATH)",
                     cmd, c->key, c->argv[0]);
        else
            fail_now(c, st->code ? st->code : SMO_EIO, "%s %s: %s", cmd, c->key,
                     st->msg);
        return;
    }
    json_t *result = json_pack(
        "{s:s, s:s, s:s*, s:s*, s:I, s:f}", "release", c->key, "namespace",
        c->ns, "cluster", c->cluster, "chart", c->chart, "exit_status",
        (json_int_t)res->exit_status, "elapsed_ms", res->elapsed_ms);
    json_t *argv = json_array();
    for (char **a = c->argv; *a; a++)
        json_array_append_new(argv, json_string(*a));
    json_object_set_new(result, "argv", argv);
    json_object_set_new(result, "stdout",
                        tail(res->out, res->out_len, OUTPUT_KEEP));
    json_object_set_new(result, "stderr",
                        tail(res->err, res->err_len, OUTPUT_KEEP));
    char msg[400];
    helm_message(res, msg, sizeof msg);
    smo_status out;
    smo_status_clear(&out);
    if (st->code == 0) {
        long rev = revision_of(res->out);
        if (rev > 0)
            json_object_set_new(result, "revision", json_integer(rev));
        SMO_LOG_I(s->host, s->self, "%s %s: done%s", cmd, c->key,
                  c->cluster ? "" : " (static placement)");
    } else if (res->timed_out) {
        smo_status_set(&out, SMO_ETIMEDOUT,
                       "%s %s (namespace %s) did not finish within %lld s and "
                       "was stopped; last output: %s",
                       cmd, c->key, c->ns,
                       (long long)(s->cfg->helm_timeout_ms / 1000), msg);
    } else if (c->uninstall && res->exit_status > 0 && res->err &&
               strstr(res->err, "not found")) {
        /* Uninstalling what is not there succeeds (idempotent steps). */
        json_object_set_new(result, "note", json_string("not installed"));
    } else if (res->term_signal) {
        smo_status_set(&out, SMO_EEXTERNAL,
                       "%s %s (namespace %s) was killed by signal %d: %s", cmd,
                       c->key, c->ns, res->term_signal, msg);
    } else {
        smo_status_set(&out, SMO_EEXTERNAL,
                       "%s %s (namespace %s) failed (exit status %lld): %s",
                       cmd, c->key, c->ns, (long long)res->exit_status, msg);
    }
    if (out.code)
        SMO_LOG_W(s->host, s->self, "%s", out.msg);
    complete(c, &out, result);
}

/* environ plus helm.env (which wins), or NULL to inherit as is. */
static char **helm_env(const struct smo__kstate *s)
{
    const json_t *extra = s->cfg->helm_env;
    if (!json_object_size(extra))
        return NULL;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + json_object_size(extra) + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strcspn(environ[i], "=");
        bool overridden = false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)extra, k, v)
        {
            if (strlen(k) == kl && !strncmp(k, environ[i], kl))
                overridden = true;
        }
        if (!overridden)
            env[o++] = strdup(environ[i]);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)extra, k, v)
    {
        char *kv = NULL;
        if (asprintf(&kv, "%s=%s", k, json_string_value(v)) >= 0)
            env[o++] = kv;
    }
    return env;
}

static void run(struct helm_call *c)
{
    struct smo__kstate *s = c->s;
    char **env = helm_env(s);
    struct smo_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.argv = (const char *const *)c->argv;
    o.env = (const char *const *)env;
    o.timeout_ms = s->cfg->helm_timeout_ms;
    o.max_output_bytes = (size_t)s->cfg->helm_max_output;
    smo_status st;
    smo_status_clear(&st);
    SMO_LOG_D(s->host, s->self, "running %s %s %s", c->argv[0], c->argv[1],
              c->argv[2]);
    smo_proc *p = s->host->spawn(s->self, &o, on_helm, c, &st);
    smo__argv_free(env);
    if (!p)
        on_helm(c, &st, NULL);
}

static void write_work(void *arg)
{
    struct helm_call *c = arg;
    /* O_EXCL|O_NOFOLLOW: never write through something planted there. */
    int fd = open(c->values_path,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        c->write_rc = -1;
        snprintf(c->write_err, sizeof c->write_err, "%s: %s", c->values_path,
                 strerror(errno));
        return;
    }
    size_t len = strlen(c->values_text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, c->values_text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            c->write_rc = -1;
            snprintf(c->write_err, sizeof c->write_err, "%s: %s",
                     c->values_path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) && !c->write_rc) {
        c->write_rc = -1;
        snprintf(c->write_err, sizeof c->write_err, "%s: %s", c->values_path,
                 strerror(errno));
    }
    if (c->write_rc)
        unlink(c->values_path);
}

static void write_done(void *arg, int status)
{
    struct helm_call *c = arg;
    if (status || c->write_rc) {
        free(c->values_path);
        c->values_path = NULL;
        fail_now(c, status ? SMO_ECANCELED : SMO_EIO,
                 "%s: cannot write the values file: %s", c->key,
                 status ? "canceled" : c->write_err);
        return;
    }
    run(c);
}

int smo__helm_install(struct smo__kstate *s, const struct smo_release *rel,
                      smo_exec_cb cb, void *arg, smo_status *st)
{
    if (s->stopping)
        return smo_status_set(st, SMO_ECANCELED, "the executor is stopping");
    if (smo__helm_check_name("project (namespace)", rel->project, NAMESPACE_MAX,
                             st) ||
        smo__helm_check_name("release name", rel->name, RELEASE_MAX, st) ||
        smo__helm_check_ref("chart reference", rel->chart, st) ||
        (rel->version && *rel->version &&
         smo__helm_check_ref("chart version", rel->version, st)))
        return st->code;
    struct helm_call *c = calloc(1, sizeof *c);
    if (!c)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    c->ns = strdup(rel->project);
    c->release = strdup(rel->name);
    c->chart = strdup(rel->chart);
    c->cluster = rel->cluster ? strdup(rel->cluster) : NULL;
    /* JSON is YAML that every YAML parser reads the same way: helm's
     * YAML 1.1 parser would turn a plain `on` or `no` into a boolean. */
    json_t *empty = json_object();
    c->values_text = json_dumps(rel->values ? rel->values : empty,
                                JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(empty);
    if (asprintf(&c->key, "%s/%s", rel->project, rel->name) < 0 ||
        asprintf(&c->values_path, "%s/%s.%s.%d.%llu.json", s->values_dir,
                 rel->project, rel->name, (int)getpid(),
                 (unsigned long long)++s->seq) < 0 ||
        !c->values_text) {
        call_free(c);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    struct smo__helm_args a = args_of(s);
    c->argv =
        smo__helm_install_argv(&a, rel->name, rel->chart, rel->project,
                               c->values_path, rel->version, rel->reuse_values);
    if (!c->argv) {
        call_free(c);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    if (s->host->queue_work(s->self, write_work, write_done, c)) {
        call_free(c);
        return smo_status_set(st, SMO_EIO, "cannot queue the values file");
    }
    s->busy++;
    return 0;
}

static void start_uninstall(void *arg)
{
    run(arg);
}

int smo__helm_uninstall(struct smo__kstate *s, const char *project,
                        const char *name, smo_exec_cb cb, void *arg,
                        smo_status *st)
{
    if (s->stopping)
        return smo_status_set(st, SMO_ECANCELED, "the executor is stopping");
    if (smo__helm_check_name("project (namespace)", project, NAMESPACE_MAX,
                             st) ||
        smo__helm_check_name("release name", name, RELEASE_MAX, st))
        return st->code;
    struct helm_call *c = calloc(1, sizeof *c);
    if (!c)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    c->uninstall = true;
    c->ns = strdup(project);
    c->release = strdup(name);
    struct smo__helm_args a = args_of(s);
    c->argv = smo__helm_uninstall_argv(&a, name, project);
    if (!c->argv || asprintf(&c->key, "%s/%s", project, name) < 0) {
        call_free(c);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    /* The callback must come later, never inside this call. */
    if (s->host->defer(s->self, start_uninstall, c)) {
        call_free(c);
        return smo_status_set(st, SMO_EIO, "cannot schedule helm");
    }
    s->busy++;
    return 0;
}
