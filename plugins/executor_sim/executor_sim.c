/* executor_sim: simulated clusters with the full executor interface.
 *
 * Clusters are declared in conf.d; releases are tracked per project/name,
 * consume the capacity they ask for on their cluster (so placement sees
 * what earlier deploys took), and are persisted in a JSON file under the
 * data directory (sim_log.c: a snapshot plus appended changes), written
 * on the thread pool before an install or uninstall completes: after a
 * crash the file holds exactly the releases whose callbacks reported
 * success, plus possibly the one in flight. Latency and failure injection make
 * it a test double for the engine; `releases` lets tests compare it with the
 * store. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <smo/smo.h>

#include "sim_log.h"

struct cfg {
    const json_t *clusters;
    const char *state_file;
    int64_t install_latency_ms;
    int64_t uninstall_latency_ms;
    const json_t *fail_releases;
    int64_t fail_every;
    bool enforce_capacity;
};

struct pending;
struct use;

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    char *path;       /* state file */
    json_t *releases; /* "project/name" -> release object */
    uint64_t calls;   /* install/uninstall calls, for fail_every */
    /* persistence: versions written vs wanted, callbacks waiting */
    uint64_t version, written;
    bool write_busy;
    struct smo__sim_pending pend; /* change lines not yet written */
    size_t records;               /* change lines in the file */
    bool snapshot_next;           /* rewrite the file on the next write */
    struct use *use;              /* capacity used, per cluster */
    size_t nuse;
    struct pending *waiters; /* waiting for a version to be on disk */
    struct pending *timers;  /* latency timers in flight */
    smo_done_cb stop_done;
    void *stop_arg;
    smo_metric *m_ops;
};

/* An operation waiting for latency and/or persistence. */
struct pending {
    struct state *s;
    smo_exec_cb cb;
    void *arg;
    uint64_t need_version;
    int code;
    char msg[256];
    json_t *result;
    smo_timer *timer;
    struct pending *next;
};

static const struct smo_config_field label_elem[] = {
    {NULL, SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "label value"},
    {0}};
static const struct smo_config_field str_elem[] = {{NULL, SMO_CFG_STRING, 0,
                                                    NULL, 0, 0, NULL, NULL,
                                                    SMO_CFG_NO_OFFSET, "name"},
                                                   {0}};
static const struct smo_config_field cluster_fields[] = {
    {"name", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "cluster name (DNS-1123)"},
    {"cpu", SMO_CFG_DOUBLE, SMO_CFG_REQUIRED | SMO_CFG_MIN, NULL, 0, 0, NULL,
     NULL, SMO_CFG_NO_OFFSET, "allocatable cores"},
    {"memory", SMO_CFG_SIZE, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "allocatable memory"},
    {"gpu", SMO_CFG_INT, SMO_CFG_MIN, "0", 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "allocatable GPUs"},
    {"pods", SMO_CFG_INT, SMO_CFG_MIN, "110", 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "allocatable pods"},
    {"allocated_cpu", SMO_CFG_DOUBLE, SMO_CFG_MIN, "0", 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "cores used by workloads SMO does not manage"},
    {"allocated_memory", SMO_CFG_SIZE, 0, "0", 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "memory used by workloads SMO does not manage"},
    {"ready", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "the Ready condition"},
    {"labels", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, label_elem, SMO_CFG_NO_OFFSET,
     "cluster labels (smo.io/cost-per-core, ...)"},
    {"provider", SMO_CFG_STRING, 0, "sim", 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "provider"},
    {"region", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "region"},
    {"zones", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, str_elem, SMO_CFG_NO_OFFSET,
     "zones"},
    {0}};
static const struct smo_config_field cluster_elem[] = {
    {NULL, SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, cluster_fields,
     SMO_CFG_NO_OFFSET, "a simulated cluster"},
    {0}};

#define OFF(m) offsetof(struct cfg, m)
static const struct smo_config_field fields[] = {
    {"clusters", SMO_CFG_ARRAY, SMO_CFG_REQUIRED | SMO_CFG_MIN, NULL, 1, 0,
     NULL, cluster_elem, OFF(clusters), "the simulated clusters"},
    {"state_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(state_file),
     "releases file, relative to the data directory (default "
     "executor-sim-<instance>.json)"},
    {"install_latency", SMO_CFG_DURATION, SMO_CFG_MAX, "0s", 0, 600000, NULL,
     NULL, OFF(install_latency_ms), "simulated time an install takes"},
    {"uninstall_latency", SMO_CFG_DURATION, SMO_CFG_MAX, "0s", 0, 600000, NULL,
     NULL, OFF(uninstall_latency_ms), "simulated time an uninstall takes"},
    {"fail_releases", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, str_elem,
     OFF(fail_releases), "release names whose install fails (injection)"},
    {"fail_every", SMO_CFG_INT, SMO_CFG_MIN, "0", 0, 0, NULL, NULL,
     OFF(fail_every), "every Nth install or uninstall fails (0: never)"},
    {"enforce_capacity", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     OFF(enforce_capacity),
     "refuse an install that does not fit its cluster (exposes "
     "over-commitment)"},
    {0}};
#undef OFF

/* ----------------------------------------------------------- config -- */

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct cfg *c = cfgp;
    size_t i;
    json_t *cl;
    json_t *seen = json_object();
    int r = 0;
    json_array_foreach(c->clusters, i, cl)
    {
        const char *name = json_string_value(json_object_get(cl, "name"));
        if (json_object_get(seen, name)) {
            r = smo_status_set(st, SMO_EINVAL,
                               "clusters[%zu].name: duplicate cluster \"%s\"",
                               i, name);
            break;
        }
        json_object_set_new(seen, name, json_true());
        if (strlen(name) == 0 || strlen(name) > 63 || strpbrk(name, "/ ")) {
            r = smo_status_set(st, SMO_EINVAL,
                               "clusters[%zu].name: \"%s\" is not a valid "
                               "cluster name",
                               i, name);
            break;
        }
    }
    json_decref(seen);
    if (!r && c->state_file && strstr(c->state_file, ".."))
        r = smo_status_set(st, SMO_EINVAL,
                           "state_file: must stay inside the data directory");
    return r;
}

static const json_t *find_cluster(const struct state *s, const char *name)
{
    size_t i;
    json_t *cl;
    json_array_foreach(s->cfg->clusters, i, cl)
    {
        if (name &&
            strcmp(json_string_value(json_object_get(cl, "name")), name) == 0)
            return cl;
    }
    return NULL;
}

/* Memory and sizes arrive as quantities or numbers after validation. */
static double size_of(const struct state *s, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_number(v))
        return json_number_value(v);
    double d = 0;
    smo_status st;
    if (json_is_string(v) &&
        s->host->parse_quantity(json_string_value(v), &d, &st))
        d = 0;
    return d;
}

/* ------------------------------------------------------ persistence -- */

struct write_job {
    struct state *s;
    char *data;
    size_t len;
    bool replace; /* a snapshot replacing the file, else an append */
    uint64_t version;
    int rc;
    char err[256];
};

static void schedule_write(struct state *s);
static void maybe_stopped(struct state *s);

static void write_work(void *arg)
{
    struct write_job *w = arg;
    w->rc = w->replace ? smo__sim_log_replace(w->s->path, w->data, w->len,
                                              w->err, sizeof w->err)
                       : smo__sim_log_append(w->s->path, w->data, w->len,
                                             w->err, sizeof w->err);
}

/* Complete, in order, the operations whose state is now on disk (or fail
 * them when the write failed: nothing they did is acknowledged). */
static void release_waiters(struct state *s, int rc, const char *err)
{
    struct pending **pp = &s->waiters;
    while (*pp) {
        struct pending *p = *pp;
        if (rc == 0 && p->need_version > s->written) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        smo_status st;
        smo_status_clear(&st);
        if (rc) {
            smo_status_set(&st, SMO_EIO, "cannot record the release: %s", err);
            json_decref(p->result);
            p->result = NULL;
        } else if (p->code)
            smo_status_set(&st, p->code, "%s", p->msg);
        p->cb(p->arg, &st, p->result);
        free(p);
    }
}

static void write_done(void *arg, int status)
{
    struct write_job *w = arg;
    struct state *s = w->s;
    s->write_busy = false;
    if (status == 0 && w->rc == 0)
        s->written = w->version;
    else {
        /* An append may have left part of a line: the next write is a
         * whole snapshot, which also carries the lost changes. */
        s->snapshot_next = true;
        SMO_LOG_E(s->host, s->self, "cannot save %s: %s", s->path,
                  w->rc ? w->err : "canceled");
    }
    release_waiters(s, status ? SMO_ECANCELED : w->rc, w->err);
    free(w->data);
    free(w);
    if (s->written < s->version)
        schedule_write(s);
    maybe_stopped(s);
}

/* Appends while the change lines stay fewer than the releases (plus some
 * slack), then one snapshot: O(1) bytes per change, amortised. */
static void schedule_write(struct state *s)
{
    if (s->write_busy)
        return;
    struct write_job *w = calloc(1, sizeof *w);
    w->s = s;
    w->replace =
        s->snapshot_next ||
        s->records + s->pend.lines > 2 * json_object_size(s->releases) + 256;
    if (w->replace) {
        w->data = smo__sim_log_snapshot(s->releases, &w->len);
        s->records = 0;
        s->snapshot_next = false;
    } else {
        w->data = s->pend.buf;
        w->len = s->pend.len;
        s->records += s->pend.lines;
        s->pend.buf = NULL;
        s->pend.cap = 0;
    }
    s->pend.len = s->pend.lines = 0;
    w->version = s->version;
    s->write_busy = true;
    if (!w->data || s->host->queue_work(s->self, write_work, write_done, w)) {
        s->write_busy = false;
        s->snapshot_next = true;
        release_waiters(s, -1, "cannot queue the write");
        free(w->data);
        free(w);
    }
}

/* The operation completes once the current state is on disk. */
static void complete_after_write(struct state *s, struct pending *p)
{
    p->need_version = s->version;
    p->next = s->waiters;
    s->waiters = p;
    if (s->written < s->version)
        schedule_write(s);
    else
        release_waiters(s, 0, NULL);
}

/* ------------------------------------------------------------ usage -- */

/* Capacity used per cluster, kept up to date by every change so that an
 * install or an inventory costs O(clusters), not O(releases). */
struct use {
    char *cluster;
    double cpu, mem, gpu, pods;
};

static struct use *use_of(struct state *s, const char *cluster, bool add)
{
    for (size_t i = 0; i < s->nuse; i++)
        if (strcmp(s->use[i].cluster, cluster) == 0)
            return &s->use[i];
    if (!add)
        return NULL;
    struct use *nu = realloc(s->use, (s->nuse + 1) * sizeof *nu);
    if (!nu)
        return NULL;
    s->use = nu;
    nu = &s->use[s->nuse++];
    memset(nu, 0, sizeof *nu);
    nu->cluster = strdup(cluster);
    return nu->cluster ? nu : (s->nuse--, NULL);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* Add (sign 1) or remove (sign -1) a release's demand. */
static void use_account(struct state *s, const json_t *r, double sign)
{
    const char *c = json_string_value(json_object_get(r, "cluster"));
    struct use *u = c ? use_of(s, c, true) : NULL;
    if (!u)
        return;
    double reps = num(r, "replicas");
    u->cpu += sign * num(r, "cpu") * reps;
    u->mem += sign * num(r, "memory") * reps;
    u->gpu += sign * num(r, "gpu") * reps;
    u->pods += sign * reps;
}

static void use_rebuild(struct state *s)
{
    for (size_t i = 0; i < s->nuse; i++)
        s->use[i].cpu = s->use[i].mem = s->use[i].gpu = s->use[i].pods = 0;
    const char *k;
    json_t *r;
    json_object_foreach(s->releases, k, r) use_account(s, r, 1);
}

/* Record a change (release NULL: removed) in memory, in the usage sums
 * and in the lines to write. Takes a reference to `release`. */
static void change(struct state *s, const char *key, json_t *release)
{
    json_t *prev = json_object_get(s->releases, key);
    if (prev)
        use_account(s, prev, -1);
    if (release) {
        use_account(s, release, 1);
        json_object_set_new(s->releases, key, release);
    } else
        json_object_del(s->releases, key);
    if (smo__sim_log_change(&s->pend, key, release))
        s->snapshot_next = true;
    s->version++;
    /* Sums of doubles drift by ulps; recount now and then. */
    if (s->version % 4096 == 0)
        use_rebuild(s);
}

static int load_state(struct state *s, smo_status *st)
{
    char err[512];
    bool torn;
    if (smo__sim_log_load(s->path, &s->releases, &s->records, &torn, err,
                          sizeof err))
        return smo_status_set(st, SMO_EPROTO, "%s", err);
    use_rebuild(s);
    /* A new (or empty) file gets its snapshot line with the first write. */
    s->snapshot_next = json_object_size(s->releases) == 0 && !s->records;
    if (torn) {
        /* Never append after a cut-short line: start from a snapshot. */
        size_t len;
        char *data = smo__sim_log_snapshot(s->releases, &len);
        int r = data ? smo__sim_log_replace(s->path, data, len, err, sizeof err)
                     : -1;
        free(data);
        if (r)
            return smo_status_set(st, SMO_EIO, "%s",
                                  data ? err : "out of memory");
        s->records = 0;
        SMO_LOG_W(s->host, s->self,
                  "%s: dropped an incomplete last change (a crash during a "
                  "write that was never acknowledged); file rewritten",
                  s->path);
    }
    return 0;
}

/* ------------------------------------------------------- operations -- */

/* Capacity `cluster` gives to releases, without `except_key`'s own. */
static void usage_of(struct state *s, const char *cluster, double *cpu,
                     double *mem, double *gpu, double *pods,
                     const char *except_key)
{
    *cpu = *mem = *gpu = *pods = 0;
    const struct use *u = use_of(s, cluster, false);
    if (u) {
        *cpu = u->cpu;
        *mem = u->mem;
        *gpu = u->gpu;
        *pods = u->pods;
    }
    const json_t *r =
        except_key ? json_object_get(s->releases, except_key) : NULL;
    const char *c = json_string_value(json_object_get(r, "cluster"));
    if (c && strcmp(c, cluster) == 0) {
        double reps = num(r, "replicas");
        *cpu -= num(r, "cpu") * reps;
        *mem -= num(r, "memory") * reps;
        *gpu -= num(r, "gpu") * reps;
        *pods -= reps;
    }
}

static json_t *cluster_json(struct state *s, const json_t *cl)
{
    const char *name = json_string_value(json_object_get(cl, "name"));
    double cpu, mem, gpu, pods;
    usage_of(s, name, &cpu, &mem, &gpu, &pods, NULL);
    json_t *o =
        json_pack("{s:s, s:b, s:b, s:s, s:b}", "name", name, "ready",
                  json_is_true(json_object_get(cl, "ready")), "available", 1,
                  "reason", "", "counts_own_releases", 1);
    json_object_set_new(
        o, "cpu",
        json_pack("{s:f, s:f, s:f}", "allocatable", num(cl, "cpu"), "allocated",
                  num(cl, "allocated_cpu") + cpu, "allocating", 0.0));
    json_object_set_new(o, "memory",
                        json_pack("{s:f, s:f, s:f}", "allocatable",
                                  size_of(s, cl, "memory"), "allocated",
                                  size_of(s, cl, "allocated_memory") + mem,
                                  "allocating", 0.0));
    json_object_set_new(o, "gpu",
                        json_pack("{s:f, s:f, s:f}", "allocatable",
                                  num(cl, "gpu"), "allocated", gpu,
                                  "allocating", 0.0));
    json_object_set_new(o, "pods",
                        json_pack("{s:f, s:f, s:f}", "allocatable",
                                  num(cl, "pods"), "allocated", pods,
                                  "allocating", 0.0));
    json_object_set(o, "labels", json_object_get(cl, "labels"));
    json_object_set(o, "provider", json_object_get(cl, "provider"));
    json_object_set(o, "region", json_object_get(cl, "region"));
    json_object_set(o, "zones", json_object_get(cl, "zones"));
    return o;
}

static void latency_fired(void *arg)
{
    struct pending *p = arg;
    struct state *s = p->s;
    for (struct pending **pp = &s->timers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    p->timer = NULL;
    complete_after_write(s, p);
}

/* Finish an operation after `latency_ms`, then after persistence. */
static int finish(struct state *s, smo_exec_cb cb, void *arg, int code,
                  const char *msg, json_t *result, int64_t latency_ms)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(result);
        return SMO_ENOMEM;
    }
    p->s = s;
    p->cb = cb;
    p->arg = arg;
    p->code = code;
    if (msg)
        snprintf(p->msg, sizeof p->msg, "%s", msg);
    p->result = result;
    if (latency_ms > 0 && !s->stop_done) {
        p->next = s->timers;
        s->timers = p;
        p->timer = s->host->timer_start(s->self, (uint64_t)latency_ms, 0,
                                        latency_fired, p);
    } else
        complete_after_write(s, p);
    return 0;
}

/* fail_every counts installs and uninstalls; fail_releases lists release
 * (service) names or project/name keys whose install fails (NULL name:
 * an uninstall). */
static bool injected(struct state *s, const char *name, const char *key)
{
    s->calls++;
    if (s->cfg->fail_every > 0 && s->calls % (uint64_t)s->cfg->fail_every == 0)
        return true;
    size_t i;
    json_t *v;
    if (!name)
        return false;
    json_array_foreach(s->cfg->fail_releases, i, v)
    {
        const char *f = json_string_value(v);
        if (f && (!strcmp(f, name) || !strcmp(f, key)))
            return true;
    }
    return false;
}

static int inventory(void *state, smo_exec_cb cb, void *arg, smo_status *st)
{
    (void)st;
    struct state *s = state;
    json_t *arr = json_array();
    size_t i;
    json_t *cl;
    json_array_foreach(s->cfg->clusters, i, cl)
        json_array_append_new(arr, cluster_json(s, cl));
    return finish(s, cb, arg, 0, NULL, arr, 0);
}

/* Static placement: the chart's values decide; take clustersAffinity[0]
 * (top level or under voChartOverwrite), else the first ready cluster. */
static const char *static_cluster(const struct state *s, const json_t *values)
{
    const json_t *aff = json_object_get(values, "clustersAffinity");
    if (!aff)
        aff = json_object_get(json_object_get(values, "voChartOverwrite"),
                              "clustersAffinity");
    const char *c = json_string_value(json_array_get(aff, 0));
    if (c && find_cluster(s, c))
        return c;
    size_t i;
    json_t *cl;
    json_array_foreach(s->cfg->clusters, i, cl)
    {
        if (json_is_true(json_object_get(cl, "ready")))
            return json_string_value(json_object_get(cl, "name"));
    }
    return NULL;
}

static int install(void *state, const struct smo_release *rel, smo_exec_cb cb,
                   void *arg, smo_status *st)
{
    struct state *s = state;
    char key[200];
    snprintf(key, sizeof key, "%s/%s", rel->project, rel->name);
    const char *lv[] = {"install", NULL};
    s->host->metric_add(s->m_ops, lv, 1);
    if (injected(s, rel->name, key)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "injected failure installing %s (executor_sim)", key);
        return finish(s, cb, arg, SMO_EEXTERNAL, msg, NULL,
                      s->cfg->install_latency_ms);
    }
    const char *cluster =
        rel->cluster ? rel->cluster : static_cluster(s, rel->values);
    const json_t *cl = find_cluster(s, cluster);
    if (!cl)
        return smo_status_set(st, SMO_ENOENT, "%s: no simulated cluster \"%s\"",
                              key, cluster ? cluster : "(none ready)");
    if (!json_is_true(json_object_get(cl, "ready")))
        return smo_status_set(st, SMO_EUNAVAIL, "%s: cluster %s is not ready",
                              key, cluster);
    uint32_t reps = rel->replicas;
    if (s->cfg->enforce_capacity) {
        double cpu, mem, gpu, pods;
        usage_of(s, cluster, &cpu, &mem, &gpu, &pods, key);
        double fcpu = num(cl, "cpu") - num(cl, "allocated_cpu") - cpu;
        double fmem =
            size_of(s, cl, "memory") - size_of(s, cl, "allocated_memory") - mem;
        double fgpu = num(cl, "gpu") - gpu;
        if (rel->cpu * reps > fcpu + 1e-9 ||
            (double)rel->memory * reps > fmem + 0.5 ||
            (double)rel->gpu * reps > fgpu + 1e-9)
            return smo_status_set(
                st, SMO_ENOSPC,
                "%s: does not fit on %s (needs %.3g cores, %.0f bytes, %u "
                "GPUs; free %.3g cores, %.0f bytes, %.0f GPUs)",
                key, cluster, rel->cpu * reps, (double)rel->memory * reps,
                rel->gpu * reps, fcpu, fmem, fgpu);
    }
    json_t *prev = json_object_get(s->releases, key);
    json_int_t revision =
        prev ? json_integer_value(json_object_get(prev, "revision")) + 1 : 1;
    json_t *values =
        rel->reuse_values && prev
            ? json_deep_copy(json_object_get(prev, "values"))
            : json_deep_copy(rel->values ? rel->values : json_object());
    json_t *r = json_pack(
        "{s:s, s:s, s:s?, s:s, s:s?, s:s, s:o, s:f, s:I, s:i, s:i, s:i, s:I}",
        "project", rel->project, "name", rel->name, "graph", rel->graph,
        "chart", rel->chart, "version", rel->version, "cluster", cluster,
        "values", values, "cpu", rel->cpu, "memory", (json_int_t)rel->memory,
        "gpu", (int)rel->gpu, "replicas", (int)reps, "available", (int)reps,
        "revision", revision);
    change(s, key, r);
    return finish(s, cb, arg, 0, NULL,
                  json_pack("{s:s, s:s, s:I, s:s}", "release", key, "cluster",
                            cluster, "revision", revision, "stdout",
                            prev ? "upgraded" : "installed"),
                  s->cfg->install_latency_ms);
}

static int uninstall(void *state, const char *project, const char *name,
                     smo_exec_cb cb, void *arg, smo_status *st)
{
    (void)st;
    struct state *s = state;
    char key[200];
    snprintf(key, sizeof key, "%s/%s", project, name);
    const char *lv[] = {"uninstall", NULL};
    s->host->metric_add(s->m_ops, lv, 1);
    if (injected(s, NULL, key)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "injected failure uninstalling %s (executor_sim)", key);
        return finish(s, cb, arg, SMO_EEXTERNAL, msg, NULL,
                      s->cfg->uninstall_latency_ms);
    }
    bool existed = json_object_get(s->releases, key) != NULL;
    if (existed)
        change(s, key, NULL);
    return finish(s, cb, arg, 0, NULL,
                  json_pack("{s:s, s:s}", "release", key, "stdout",
                            existed ? "uninstalled" : "not installed"),
                  s->cfg->uninstall_latency_ms);
}

static int replicas_get(void *state, const char *project, const char *name,
                        smo_exec_cb cb, void *arg, smo_status *st)
{
    struct state *s = state;
    char key[200];
    snprintf(key, sizeof key, "%s/%s", project, name);
    json_t *r = json_object_get(s->releases, key);
    if (!r)
        return smo_status_set(st, SMO_ENOENT, "%s: no such release", key);
    return finish(s, cb, arg, 0, NULL,
                  json_pack("{s:O, s:O}", "desired",
                            json_object_get(r, "replicas"), "available",
                            json_object_get(r, "available")),
                  0);
}

static int replicas_set(void *state, const char *project, const char *name,
                        uint32_t replicas, smo_exec_cb cb, void *arg,
                        smo_status *st)
{
    struct state *s = state;
    char key[200];
    snprintf(key, sizeof key, "%s/%s", project, name);
    json_t *r = json_object_get(s->releases, key);
    if (!r)
        return smo_status_set(st, SMO_ENOENT, "%s: no such release", key);
    r = json_deep_copy(r);
    json_object_set_new(r, "replicas", json_integer(replicas));
    json_object_set_new(r, "available", json_integer(replicas));
    change(s, key, r);
    return finish(s, cb, arg, 0, NULL,
                  json_pack("{s:i, s:i}", "desired", (int)replicas, "available",
                            (int)replicas),
                  0);
}

static int network_info(void *state, smo_exec_cb cb, void *arg, smo_status *st)
{
    (void)st;
    struct state *s = state;
    json_t *out = json_object();
    size_t i;
    json_t *cl;
    json_array_foreach(s->cfg->clusters, i, cl)
    {
        char pod[32], svc[32];
        snprintf(pod, sizeof pod, "10.%zu.0.0/16", 100 + i);
        snprintf(svc, sizeof svc, "10.%zu.0.0/16", 200 + i);
        json_object_set_new(
            out, json_string_value(json_object_get(cl, "name")),
            json_pack("{s:s, s:s}", "pod_cidr", pod, "service_cidr", svc));
    }
    return finish(s, cb, arg, 0, NULL, json_pack("{s:o}", "clusters", out), 0);
}

static int releases(void *state, smo_exec_cb cb, void *arg, smo_status *st)
{
    (void)st;
    struct state *s = state;
    json_t *arr = json_array();
    const char *k;
    json_t *r;
    json_object_foreach(s->releases, k, r) json_array_append_new(
        arr, json_pack("{s:O, s:O, s:O, s:O, s:O}", "project",
                       json_object_get(r, "project"), "name",
                       json_object_get(r, "name"), "cluster",
                       json_object_get(r, "cluster"), "chart",
                       json_object_get(r, "chart"), "replicas",
                       json_object_get(r, "replicas")));
    return finish(s, cb, arg, 0, NULL, arr, 0);
}

/* --------------------------------------------------------- lifecycle -- */

static void destroy(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    json_decref(s->releases);
    for (size_t i = 0; i < s->nuse; i++)
        free(s->use[i].cluster);
    free(s->use);
    free(s->pend.buf);
    free(s->path);
    free(s);
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct cfg *c = cfgp;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = c;
    const char *dir = host->data_dir(self);
    int r;
    if (c->state_file && *c->state_file)
        r = asprintf(&s->path, "%s/%s", dir, c->state_file);
    else
        r = asprintf(&s->path, "%s/executor-sim-%s.json", dir,
                     host->instance_name(self));
    if (r < 0) {
        free(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    if (load_state(s, st)) {
        destroy(s);
        return st->code;
    }
    static const char *const lbl[] = {"op", NULL};
    s->m_ops = host->metric_register(self, SMO_METRIC_COUNTER,
                                     "smo_executor_sim_calls_total",
                                     "Simulated executor calls.", lbl);
    *out = s;
    SMO_LOG_I(host, self, "%zu simulated clusters, %zu releases from %s",
              json_array_size(c->clusters), json_object_size(s->releases),
              s->path);
    return 0;
}

static int reconfigure(void *state, const void *cfgp, smo_status *st)
{
    (void)st;
    struct state *s = state;
    s->cfg = cfgp; /* releases stay; clusters and injection change */
    return 0;
}

static void maybe_stopped(struct state *s)
{
    if (s->stop_done && !s->timers && !s->waiters && !s->write_busy) {
        smo_done_cb d = s->stop_done;
        s->stop_done = NULL;
        d(s->stop_arg);
    }
}

/* Drain: pending latencies complete now, the last write lands. */
static void stop(void *state, smo_done_cb done, void *arg)
{
    struct state *s = state;
    s->stop_done = done;
    s->stop_arg = arg;
    while (s->timers) {
        struct pending *p = s->timers;
        s->timers = p->next;
        s->host->timer_stop(p->timer);
        complete_after_write(s, p);
    }
    maybe_stopped(s);
}

static const struct smo_executor_ops ops = {
    .size = sizeof(struct smo_executor_ops),
    .inventory = inventory,
    .install = install,
    .uninstall = uninstall,
    .replicas_get = replicas_get,
    .replicas_set = replicas_set,
    .network_info = network_info,
    .releases = releases,
};

SMO_PLUGIN_DEFINE(SMO_KIND_EXECUTOR, "sim", "1.0.0",
                  "Simulated clusters: releases consume capacity, persisted "
                  "in the data directory; latency and failure injection.",
                  fields, struct cfg, validate, create, NULL, reconfigure, stop,
                  destroy, &ops);
