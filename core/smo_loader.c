#define _GNU_SOURCE
#include "smo_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smo_conf.h"
#include "smo_schema.h"

#ifndef SMO_REL_PLUGINDIR
#define SMO_REL_PLUGINDIR "../lib/smo/plugins"
#endif
#ifndef SMO_PLUGINDIR
#define SMO_PLUGINDIR "/usr/local/lib/smo/plugins"
#endif

/* Per-kind ops contract: the struct size at ABI 1.0 and the mandatory
 * members. Checked by the loader, never by hand in each plugin. */
struct member {
    size_t off;
    const char *name;
};
struct kind_spec {
    size_t min_size;
    struct member mandatory[8];
    struct member any_of[8]; /* at least one of these must be set */
};

#define M(type, field)                                                         \
    {                                                                          \
        offsetof(type, field), #field                                          \
    }
static const struct kind_spec specs[SMO_KIND_MAX + 1] = {
    [SMO_KIND_SOURCE] = {sizeof(struct smo_source_ops),
                         {M(struct smo_source_ops, accepts),
                          M(struct smo_source_ops, resolve)},
                         {{0, NULL}}},
    [SMO_KIND_TRANSLATOR] = {sizeof(struct smo_translator_ops),
                             {M(struct smo_translator_ops, translate)},
                             {{0, NULL}}},
    [SMO_KIND_SOLVER] = {sizeof(struct smo_solver_ops),
                         {M(struct smo_solver_ops, place)},
                         {{0, NULL}}},
    [SMO_KIND_EXECUTOR] = {sizeof(struct smo_executor_ops),
                           {M(struct smo_executor_ops, inventory),
                            M(struct smo_executor_ops, install),
                            M(struct smo_executor_ops, uninstall)},
                           {{0, NULL}}},
    [SMO_KIND_MONITOR] = {sizeof(struct smo_monitor_ops),
                          {{0, NULL}},
                          {M(struct smo_monitor_ops, query),
                           M(struct smo_monitor_ops, rules_set),
                           M(struct smo_monitor_ops, dashboard_publish),
                           M(struct smo_monitor_ops, dashboard_remove)}},
    [SMO_KIND_PROVISIONER] = {sizeof(struct smo_provisioner_ops),
                              {M(struct smo_provisioner_ops, vim_list),
                               M(struct smo_provisioner_ops, vim_register),
                               M(struct smo_provisioner_ops, vim_delete),
                               M(struct smo_provisioner_ops, cluster_create),
                               M(struct smo_provisioner_ops, cluster_scale_out),
                               M(struct smo_provisioner_ops, cluster_delete),
                               M(struct smo_provisioner_ops, cluster_list)},
                              {{0, NULL}}},
    /* ABI 1.1 appended leader_campaign: 1.0 stores stop before it. */
    [SMO_KIND_STORE] = {offsetof(struct smo_store_ops, leader_campaign),
                        {M(struct smo_store_ops, get),
                         M(struct smo_store_ops, list),
                         M(struct smo_store_ops, commit)},
                        {{0, NULL}}},
    [SMO_KIND_API] = {sizeof(struct smo_api_ops), {{0, NULL}}, {{0, NULL}}},
};
#undef M

const char *smo__default_plugin_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(dir, sizeof dir, "%s", SMO_PLUGINDIR);
        return dir;
    }
    exe[n] = '\0';
    char *d = dirname(exe);
    char joined[PATH_MAX + 64];
    snprintf(joined, sizeof joined, "%s/%s", d, SMO_REL_PLUGINDIR);
    char *real = realpath(joined, NULL);
    snprintf(dir, sizeof dir, "%s", real ? real : SMO_PLUGINDIR);
    free(real);
    return dir;
}

static void free_dirs(struct smo__loader *l)
{
    for (size_t i = 0; i < l->n_dirs; i++)
        free(l->dirs[i]);
    free(l->dirs);
    l->dirs = NULL;
    l->n_dirs = 0;
}

static void add_dir(struct smo__loader *l, const char *d)
{
    if (!d || !*d)
        return;
    for (size_t i = 0; i < l->n_dirs; i++)
        if (strcmp(l->dirs[i], d) == 0)
            return;
    char **nd = realloc(l->dirs, (l->n_dirs + 1) * sizeof *nd);
    if (!nd)
        return;
    l->dirs = nd;
    l->dirs[l->n_dirs++] = strdup(d);
}

int smo__loader_set_path(struct smo__loader *l, const json_t *extra)
{
    free_dirs(l);
    const char *env = getenv("SMO_PLUGIN_PATH");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok;
             tok = strtok_r(NULL, ":", &save))
            add_dir(l, tok);
        free(copy);
    }
    size_t i;
    json_t *v;
    if (json_is_array(extra))
        json_array_foreach(extra, i, v) add_dir(l, json_string_value(v));
    add_dir(l, smo__default_plugin_dir());
    add_dir(l, SMO_PLUGINDIR);
    return 0;
}

int smo__loader_init(struct smo__loader *l, const json_t *extra)
{
    memset(l, 0, sizeof *l);
    return smo__loader_set_path(l, extra);
}

void smo__loader_fini(struct smo__loader *l)
{
    free_dirs(l);
    /* Plugins stay mapped for the life of the process; only bookkeeping
     * is released. */
    struct smo__plugin *p = l->loaded;
    while (p) {
        struct smo__plugin *n = p->next;
        free(p->path);
        free(p);
        p = n;
    }
    l->loaded = NULL;
}

static int reject(smo_status *st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(smo_status *st, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return smo_status_set(st, SMO_EABI, "%s: %s", path, msg);
}

/* Check everything that can be checked before any plugin code runs. */
static int check(const char *path, const struct smo_plugin *raw, int kind,
                 const char *name, struct smo__plugin *out, smo_status *st)
{
    const struct smo_abi_header *h = &raw->abi;
    if (h->magic != SMO_PLUGIN_MAGIC)
        return reject(st, path, "magic: expected 0x%08x, found 0x%08x",
                      SMO_PLUGIN_MAGIC, h->magic);
    if (h->abi_major != SMO_ABI_MAJOR)
        return reject(st, path, "abi_major: expected %u, found %u",
                      SMO_ABI_MAJOR, h->abi_major);
    if (h->abi_minor > SMO_ABI_MINOR)
        return reject(st, path,
                      "abi_minor: expected <= %u, found %u (the plugin needs "
                      "a newer smod)",
                      SMO_ABI_MINOR, h->abi_minor);
    /* Every member of ABI 1.0 is required; later minors may append. */
    size_t min = sizeof(struct smo_plugin);
    if (h->struct_size < min)
        return reject(st, path, "struct_size: expected >= %zu, found %u", min,
                      h->struct_size);
    memset(&out->desc, 0, sizeof out->desc);
    memcpy(&out->desc, raw,
           h->struct_size < sizeof out->desc ? h->struct_size
                                             : sizeof out->desc);
    const struct smo_plugin *d = &out->desc;
    if (d->kind < 1 || d->kind > SMO_KIND_MAX)
        return reject(st, path, "kind: expected 1..%u, found %u",
                      (unsigned)SMO_KIND_MAX, d->kind);
    if (kind && (int)d->kind != kind)
        return reject(st, path,
                      "kind: expected %s (from the file name), "
                      "found %s",
                      smo__kind_name(kind), smo__kind_name((int)d->kind));
    if (!d->name || !*d->name)
        return reject(st, path, "name: expected a plugin name, found none");
    if (name && strcmp(d->name, name) != 0)
        return reject(st, path,
                      "name: expected \"%s\" (from the file name), found "
                      "\"%s\"",
                      name, d->name);
    if (!d->version)
        return reject(st, path, "version: expected a version, found none");
    if (!d->create)
        return reject(st, path, "create: mandatory hook missing");
    if (!d->destroy)
        return reject(st, path, "destroy: mandatory hook missing");
    if (d->config_size > (1u << 20))
        return reject(st, path, "config_size: expected <= 1048576, found %u",
                      d->config_size);
    const struct kind_spec *ks = &specs[d->kind];
    if (!d->ops)
        return reject(st, path, "ops: expected struct smo_%s_ops, found NULL",
                      smo__kind_name((int)d->kind));
    if (d->ops_size < ks->min_size)
        return reject(st, path, "ops_size: expected >= %zu for a %s, found %u",
                      ks->min_size, smo__kind_name((int)d->kind), d->ops_size);
    uint32_t own = *(const uint32_t *)d->ops;
    if (own != d->ops_size)
        return reject(st, path, "ops.size: expected %u (ops_size), found %u",
                      d->ops_size, own);
    memset(&out->ops, 0, sizeof out->ops);
    memcpy(&out->ops, d->ops,
           d->ops_size < sizeof out->ops ? d->ops_size : sizeof out->ops);
    out->desc.ops = &out->ops;
    const char *base = (const char *)&out->ops;
    for (const struct member *m = ks->mandatory; m->name; m++) {
        void (*fn)(void);
        memcpy(&fn, base + m->off, sizeof fn);
        if (!fn)
            return reject(st, path, "ops.%s: mandatory operation missing",
                          m->name);
    }
    if (ks->any_of[0].name) {
        bool any = false;
        for (const struct member *m = ks->any_of; m->name; m++) {
            void (*fn)(void);
            memcpy(&fn, base + m->off, sizeof fn);
            any = any || fn;
        }
        if (!any)
            return reject(st, path,
                          "ops: a %s must implement at least one operation",
                          smo__kind_name((int)d->kind));
    }
    char msg[300];
    if (smo__schema_check_table(d->config, msg, sizeof msg))
        return reject(st, path, "%s", msg);
    if (d->config && !d->config_size) {
        for (const struct smo_config_field *f = d->config; f->key; f++)
            if (f->offset != SMO_CFG_NO_OFFSET)
                return reject(st, path,
                              "config_size: 0 but field \"%s\" has an offset",
                              f->key);
    }
    return 0;
}

int smo__loader_open(struct smo__loader *l, const char *path, int kind,
                     const char *name, const struct smo__plugin **out,
                     smo_status *st)
{
    char *real = realpath(path, NULL);
    if (!real)
        return smo_status_set(st, SMO_ENOENT, "%s: %s", path, strerror(errno));
    for (struct smo__plugin *p = l->loaded; p; p = p->next)
        if (strcmp(p->path, real) == 0) {
            free(real);
            if (kind && (int)p->desc.kind != kind)
                return reject(st, path, "kind: expected %s, found %s",
                              smo__kind_name(kind),
                              smo__kind_name((int)p->desc.kind));
            *out = p;
            return 0;
        }
    dlerror();
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        int r = smo_status_set(st, SMO_EABI, "%s: cannot load: %s", path,
                               e ? e : "unknown error");
        free(real);
        return r;
    }
    const struct smo_plugin *raw = dlsym(dl, SMO_PLUGIN_SYMBOL);
    if (!raw) {
        int r = reject(st, path, "symbol %s not found (not an SMO plugin?)",
                       SMO_PLUGIN_SYMBOL);
        dlclose(dl);
        free(real);
        return r;
    }
    struct smo__plugin *p = calloc(1, sizeof *p);
    if (!p) {
        dlclose(dl);
        free(real);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    int r = check(path, raw, kind, name, p, st);
    if (r) {
        /* No plugin code has run, unmapping is safe. */
        dlclose(dl);
        free(real);
        free(p);
        return r;
    }
    p->path = real;
    p->dl = dl;
    p->next = l->loaded;
    l->loaded = p;
    *out = p;
    return 0;
}

int smo__loader_find(struct smo__loader *l, int kind, const char *name,
                     const struct smo__plugin **out, smo_status *st)
{
    char file[256];
    snprintf(file, sizeof file, "smo_%s_%s.so", smo__kind_name(kind), name);
    for (size_t i = 0; i < l->n_dirs; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", l->dirs[i], file);
        if (access(path, F_OK) == 0)
            return smo__loader_open(l, path, kind, name, out, st);
    }
    char dirs[600];
    size_t o = 0;
    dirs[0] = '\0';
    for (size_t i = 0; i < l->n_dirs && o < sizeof dirs - 10; i++)
        o += (size_t)snprintf(dirs + o, sizeof dirs - o, "%s%s", i ? ":" : "",
                              l->dirs[i]);
    return smo_status_set(st, SMO_ENOENT,
                          "plugin %s not found (searched %s); see `smod "
                          "plugins`",
                          file, dirs);
}

json_t *smo__plugin_describe(const struct smo__plugin *p)
{
    const struct smo_plugin *d = &p->desc;
    char abi[32];
    snprintf(abi, sizeof abi, "%u.%u", d->abi.abi_major, d->abi.abi_minor);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:o}", "kind",
                     smo__kind_name((int)d->kind), "name", d->name, "version",
                     d->version, "description", d->description, "abi", abi,
                     "file", p->path, "config",
                     smo__schema_describe(d->config));
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *smo__loader_scan(struct smo__loader *l)
{
    json_t *arr = json_array();
    json_t *seen = json_object();
    for (size_t i = 0; i < l->n_dirs; i++) {
        DIR *d = opendir(l->dirs[i]);
        if (!d)
            continue;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (strncmp(de->d_name, "smo_", 4) != 0 || len < 8 ||
                strcmp(de->d_name + len - 3, ".so") != 0)
                continue;
            char **nn = realloc(names, (n + 1) * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            names[n++] = strdup(de->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, name_cmp);
        for (size_t k = 0; k < n; k++) {
            if (json_object_get(seen, names[k])) {
                free(names[k]);
                continue;
            }
            json_object_set_new(seen, names[k], json_true());
            /* smo_<kind>_<name>.so */
            char kindbuf[64] = "";
            const char *rest = names[k] + 4;
            const char *us = strchr(rest, '_');
            int kind = 0;
            char pname[128] = "";
            if (us && (size_t)(us - rest) < sizeof kindbuf) {
                memcpy(kindbuf, rest, (size_t)(us - rest));
                kindbuf[us - rest] = '\0';
                kind = smo__kind_parse(kindbuf);
                snprintf(pname, sizeof pname, "%.*s", (int)(strlen(us + 1) - 3),
                         us + 1);
            }
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", l->dirs[i], names[k]);
            const struct smo__plugin *p = NULL;
            smo_status st;
            smo_status_clear(&st);
            if (kind <= 0)
                json_array_append_new(
                    arr, json_pack("{s:s, s:s}", "file", path, "error",
                                   "file name is not smo_<kind>_<name>.so"));
            else if (smo__loader_open(l, path, kind, pname, &p, &st) == 0)
                json_array_append_new(arr, smo__plugin_describe(p));
            else
                json_array_append_new(arr, json_pack("{s:s, s:s}", "file", path,
                                                     "error", st.msg));
            free(names[k]);
        }
        free(names);
    }
    json_decref(seen);
    return arr;
}
