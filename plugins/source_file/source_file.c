/* source_file: descriptor references that are local paths ("/x/hdag.yaml",
 * "./hdag.yaml", "file:///x/hdag.yaml"). Reads happen on the thread pool;
 * a path must resolve (symlinks followed) inside one of `allowed_dirs` when
 * that list is set, so an API client cannot read arbitrary files. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <smo/smo.h>

struct cfg {
    const json_t *allowed_dirs;
    uint64_t max_bytes;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    char **roots; /* realpath of each allowed dir */
    size_t n_roots;
};

struct job {
    struct state *s;
    char *path;
    smo_source_cb cb;
    void *arg;
    /* results, filled on the worker thread */
    char *text;
    size_t len;
    smo_status st;
};

static const struct smo_config_field dir_elem[] = {
    {NULL, SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "a directory"},
    {0}};

static const struct smo_config_field fields[] = {
    {"allowed_dirs", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, dir_elem,
     offsetof(struct cfg, allowed_dirs),
     "Directories descriptors may be read from (symlinks resolved); empty "
     "allows any readable file."},
    {"max_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "16Mi", 1,
     1073741824.0, NULL, NULL, offsetof(struct cfg, max_bytes),
     "Largest descriptor file accepted."},
    {0}};

static const char *strip_scheme(const char *ref)
{
    if (strncmp(ref, "file://", 7) == 0)
        return ref + 7;
    return ref;
}

static int accepts(void *state, const char *ref, smo_status *st)
{
    (void)state;
    if (!ref || !*ref)
        return SMO_SKIP;
    if (strncmp(ref, "file://", 7) == 0) {
        if (ref[7] != '/')
            return smo_status_set(st, SMO_EINVAL,
                                  "file references must be absolute: "
                                  "file:///path");
        return SMO_OK;
    }
    if (strstr(ref, "://"))
        return SMO_SKIP; /* another scheme: oci://, http://... */
    return SMO_OK;
}

static bool under(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/')
        return true;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void work(void *arg)
{
    struct job *j = arg;
    struct state *s = j->s;
    smo_status_clear(&j->st);
    char *real = realpath(j->path, NULL);
    if (!real) {
        smo_status_set(&j->st, errno == ENOENT ? SMO_ENOENT : SMO_EACCES,
                       "%s: %s", j->path, strerror(errno));
        return;
    }
    if (s->n_roots) {
        bool ok = false;
        for (size_t i = 0; i < s->n_roots && !ok; i++)
            ok = under(real, s->roots[i]);
        if (!ok) {
            smo_status_set(&j->st, SMO_EPERM,
                           "%s: outside the allowed directories of this "
                           "source",
                           j->path);
            free(real);
            return;
        }
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    free(real);
    if (fd < 0) {
        smo_status_set(&j->st, SMO_EACCES, "%s: %s", j->path, strerror(errno));
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        smo_status_set(&j->st, SMO_EINVAL, "%s: not a regular file", j->path);
        close(fd);
        return;
    }
    if ((uint64_t)sb.st_size > s->cfg->max_bytes) {
        smo_status_set(&j->st, SMO_ETOOBIG, "%s: %lld bytes, the limit is %llu",
                       j->path, (long long)sb.st_size,
                       (unsigned long long)s->cfg->max_bytes);
        close(fd);
        return;
    }
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            if (cap > s->cfg->max_bytes) { /* grew while we read */
                free(buf);
                buf = NULL;
                smo_status_set(&j->st, SMO_ETOOBIG,
                               "%s: larger than %llu "
                               "bytes",
                               j->path, (unsigned long long)s->cfg->max_bytes);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            smo_status_set(&j->st, SMO_EIO, "%s: %s", j->path, strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf) {
        if (!j->st.code)
            smo_status_set(&j->st, SMO_ENOMEM, "%s: out of memory", j->path);
        return;
    }
    buf[len] = '\0';
    j->text = buf;
    j->len = len;
}

static const char *media_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && strcmp(dot, ".json") == 0)
        return "application/json";
    if (dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0))
        return "application/yaml";
    return NULL;
}

static void after(void *arg, int status)
{
    struct job *j = arg;
    if (status == SMO_ECANCELED && !j->st.code)
        smo_status_set(&j->st, SMO_ECANCELED, "%s: canceled", j->path);
    if (j->text && !j->st.code)
        j->cb(j->arg, &j->st, j->text, j->len, media_type(j->path));
    else
        j->cb(j->arg, &j->st, NULL, 0, NULL);
    free(j->text);
    free(j->path);
    free(j);
}

static int resolve(void *state, const char *ref, smo_source_cb cb, void *arg,
                   smo_status *st)
{
    struct state *s = state;
    int r = accepts(state, ref, st);
    if (r)
        return r < 0 ? r : smo_status_set(st, SMO_EINVAL, "not a file path");
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    j->s = s;
    j->path = strdup(strip_scheme(ref));
    j->cb = cb;
    j->arg = arg;
    r = s->host->queue_work(s->self, work, after, j);
    if (r) {
        free(j->path);
        free(j);
        return smo_status_set(st, r, "cannot queue the read");
    }
    return 0;
}

static void destroy(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->n_roots; i++)
        free(s->roots[i]);
    free(s->roots);
    free(s);
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct cfg *cfg = cfgp;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = cfg;
    size_t n = json_array_size(cfg->allowed_dirs);
    s->roots = calloc(n ? n : 1, sizeof *s->roots);
    for (size_t i = 0; i < n; i++) {
        const char *d = json_string_value(json_array_get(cfg->allowed_dirs, i));
        char *real = realpath(d, NULL);
        if (!real) {
            int e = errno;
            destroy(s);
            return smo_status_set(st, SMO_ECONFIG, "allowed_dirs[%zu]: %s: %s",
                                  i, d, strerror(e));
        }
        s->roots[s->n_roots++] = real;
    }
    *out = s;
    return 0;
}

static const struct smo_source_ops ops = {
    .size = sizeof(struct smo_source_ops),
    .accepts = accepts,
    .resolve = resolve,
};

SMO_PLUGIN_DEFINE(SMO_KIND_SOURCE, "file", "1.0.0",
                  "Descriptors from local files (paths and file:// URLs).",
                  fields, struct cfg, NULL, create, NULL, NULL, NULL, destroy,
                  &ops);
