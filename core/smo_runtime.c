/* The runtime: conf.d -> a set of started instances, swapped as a whole on
 * reload (parse -> validate everything -> build -> swap; the old set keeps
 * running when anything fails), and an ordered shutdown. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smo_engine.h"
#include "smo_log.h"
#include "smo_rt.h"

static const char *const lbl_version[] = {"version", NULL};
static const char *const lbl_result[] = {"result", NULL};

struct smo_rt *smo__rt_new(uv_loop_t *loop, const char *conf_dir,
                           const char *data_dir)
{
    struct smo_rt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    if (loop)
        rt->loop = loop;
    else {
        rt->loop = calloc(1, sizeof *rt->loop);
        if (!rt->loop || uv_loop_init(rt->loop)) {
            free(rt->loop);
            free(rt);
            return NULL;
        }
        rt->own_loop = true;
    }
    rt->conf_dir = strdup(conf_dir ? conf_dir : "conf.d");
    rt->data_dir = strdup(data_dir ? data_dir : ".");
    rt->shutdown_timeout_ms = 30000;
    rt->log_override = -1;
    smo__loader_init(&rt->loader, NULL);
    smo__host_init(rt, &rt->host);
    rt->metrics = smo__metrics_new();
    rt->events = smo__events_new(1000);
    rt->methods = smo__methods_new();
    smo__instance_init_core(rt, &rt->core);
    rt->http = smo__http_new(rt, 64);
    rt->start_ms = uv_now(rt->loop);

    smo_metric *bi = smo__metric_register(
        rt->metrics, SMO_METRIC_GAUGE, "smo_build_info",
        "Version of the running smod (value 1).", lbl_version, NULL);
    const char *lv[] = {SMO_VERSION, NULL};
    smo__metric_set(bi, lv, 1);
    smo_metric *stt = smo__metric_register(
        rt->metrics, SMO_METRIC_GAUGE, "smo_start_time_seconds",
        "Unix time at which smod started.", NULL, NULL);
    smo__metric_set(stt, NULL, (double)time(NULL));
    rt->m_reloads = smo__metric_register(
        rt->metrics, SMO_METRIC_COUNTER, "smo_config_reloads_total",
        "Configuration loads by result.", lbl_result, NULL);
    smo__system_methods_register(rt);
    return rt;
}

static void loop_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void smo__rt_free(struct smo_rt *rt)
{
    if (!rt)
        return;
    smo__engine_free(rt->engine);
    smo__instance_cancel_all(&rt->core);
    if (rt->http) {
        smo__http_free(rt->http);
        rt->http = NULL;
    }
    /* Let close callbacks run. */
    uv_run(rt->loop, UV_RUN_NOWAIT);
    if (rt->own_loop) {
        uv_walk(rt->loop, loop_walk_close, NULL);
        uv_run(rt->loop, UV_RUN_DEFAULT);
        uv_loop_close(rt->loop);
        free(rt->loop);
    }
    smo__conf_free(rt->conf);
    smo__loader_fini(&rt->loader);
    smo__metrics_free(rt->metrics);
    smo__events_free(rt->events);
    smo__methods_free(rt->methods);
    json_decref(rt->core.config);
    free(rt->core.name);
    free(rt->conf_dir);
    free(rt->data_dir);
    free(rt->last_reload_error);
    free(rt);
}

/* ------------------------------------------------------------ planning -- */

enum action { ACT_NEW = 1, ACT_REUSE, ACT_RECONF };

struct plan {
    const struct smo__conf_instance *ci;
    const struct smo__plugin *p;
    json_t *norm;
    void *cfgs;
    smo_instance *old;
    smo_instance *inst;
    int action;
    bool skip; /* kind not wanted (kind_mask) */
    bool started;
    bool reconfigured;
};

static void plans_free(struct plan *pl, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(pl[i].norm);
        free(pl[i].cfgs);
    }
    free(pl);
}

/* Resolve plugins and validate every instance config; all problems go to
 * `errs`. */
static int prepare_all(struct smo_rt *rt, struct smo__conf *conf,
                       struct plan **out, struct smo__errlist *errs)
{
    *out = NULL;
    size_t before = smo__errlist_count(errs);
    struct plan *pl = calloc(conf->n_inst ? conf->n_inst : 1, sizeof *pl);
    if (!pl) {
        smo__errlist_add(errs, "out of memory");
        return SMO_ENOMEM;
    }
    size_t stores = 0;
    const struct smo__conf_instance *first_store = NULL;
    for (size_t i = 0; i < conf->n_inst; i++) {
        const struct smo__conf_instance *ci = &conf->inst[i];
        pl[i].ci = ci;
        if (rt->kind_mask && !(rt->kind_mask & (1u << ci->kind))) {
            pl[i].skip = true;
            continue;
        }
        smo_status st;
        smo_status_clear(&st);
        if (smo__loader_find(&rt->loader, ci->kind, ci->plugin, &pl[i].p,
                             &st)) {
            char *kp = NULL;
            if (asprintf(&kp, "%s.plugin", ci->path) < 0)
                kp = NULL;
            json_t *l = json_object_get(ci->lines, kp ? kp : "");
            if (l)
                smo__errlist_add(errs, "%s:%lld: %s: %s", ci->file,
                                 (long long)json_integer_value(l), kp, st.msg);
            else
                smo__errlist_add(errs, "%s: %s: %s", ci->file,
                                 kp ? kp : ci->path, st.msg);
            free(kp);
            continue;
        }
        smo__instance_prepare(rt, pl[i].p, ci, &pl[i].norm, &pl[i].cfgs, errs);
        if (ci->kind == SMO_KIND_STORE) {
            if (stores++)
                smo__errlist_add(errs,
                                 "%s: %s: a second store instance \"%s\" "
                                 "(only one store may be configured; the "
                                 "first is \"%s\" in %s)",
                                 ci->file, ci->path, ci->name,
                                 first_store->name, first_store->file);
            else
                first_store = ci;
        }
    }
    if (smo__errlist_count(errs) != before) {
        plans_free(pl, conf->n_inst);
        return SMO_ECONFIG;
    }
    *out = pl;
    return 0;
}

int smo__rt_check_config(struct smo_rt *rt, struct smo__errlist *errs)
{
    struct smo__conf *conf = NULL;
    if (smo__conf_load(rt->conf_dir, &conf, errs))
        return SMO_ECONFIG;
    smo__loader_set_path(&rt->loader, conf->ecfg.plugin_path);
    struct plan *pl = NULL;
    int r = prepare_all(rt, conf, &pl, errs);
    if (!r)
        plans_free(pl, conf->n_inst);
    smo__conf_free(conf);
    return r;
}

static void apply_engine(struct smo_rt *rt, const struct smo__engine_cfg *e)
{
    int lvl = rt->log_override >= 0 ? rt->log_override
                                    : smo__log_level_parse(e->log_level);
    int fmt = smo__log_format_parse(e->log_format);
    smo__log_setup(fmt, lvl);
    rt->shutdown_timeout_ms = e->shutdown_timeout_ms;
    smo__http_set_max(rt->http, (long)e->http_max_connections);
    smo__events_set_capacity(rt->events, (size_t)e->events_buffer);
}

static void retire_stopped(smo_instance *inst, void *arg)
{
    (void)inst;
    (void)arg;
}

static void undo_new(struct plan *pl, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        struct plan *p = &pl[i - 1];
        if (p->action != ACT_NEW || !p->inst)
            continue;
        if (p->started)
            smo__instance_stop(p->inst, retire_stopped, NULL);
        else
            smo__instance_destroy_now(p->inst);
        p->inst = NULL;
    }
}

int smo__rt_apply_config(struct smo_rt *rt, struct smo__errlist *errs)
{
    const char *lv_fail[] = {"failure", NULL};
    const char *lv_ok[] = {"success", NULL};
    struct smo__conf *conf = NULL;
    if (smo__conf_load(rt->conf_dir, &conf, errs)) {
        smo__metric_add(rt->m_reloads, lv_fail, 1);
        return SMO_ECONFIG;
    }
    smo__loader_set_path(&rt->loader, conf->ecfg.plugin_path);
    if (!rt->conf) /* first load: instances log at the configured level */
        apply_engine(rt, &conf->ecfg);
    struct plan *pl = NULL;
    if (prepare_all(rt, conf, &pl, errs)) {
        smo__conf_free(conf);
        if (rt->conf)
            smo__loader_set_path(&rt->loader, rt->conf->ecfg.plugin_path);
        smo__metric_add(rt->m_reloads, lv_fail, 1);
        return SMO_ECONFIG;
    }
    size_t n = conf->n_inst;

    /* Decide, per instance, whether the running one can stay. */
    for (size_t i = 0; i < n; i++) {
        if (pl[i].skip)
            continue;
        smo_instance *old = smo__rt_find(rt, pl[i].ci->name);
        pl[i].old = old;
        if (old && old->plugin == pl[i].p &&
            json_equal(old->config, pl[i].norm))
            pl[i].action = ACT_REUSE;
        else if (old && old->plugin == pl[i].p && pl[i].p->desc.reconfigure)
            pl[i].action = ACT_RECONF;
        else
            pl[i].action = ACT_NEW;
    }

    /* Build: create and start every new instance. */
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (pl[i].skip || pl[i].action != ACT_NEW)
            continue;
        smo_status st;
        smo_status_clear(&st);
        json_t *norm = pl[i].norm;
        void *cfgs = pl[i].cfgs;
        pl[i].norm = NULL; /* the instance owns them now */
        pl[i].cfgs = NULL;
        rc = smo__instance_create(rt, pl[i].p, pl[i].ci, norm, cfgs,
                                  &pl[i].inst, &st);
        if (!rc) {
            rc = smo__instance_start(pl[i].inst, &st);
            if (!rc)
                pl[i].started = true;
        }
        if (rc)
            smo__errlist_add(errs, "%s: %s: %s", pl[i].ci->file, pl[i].ci->path,
                             st.msg);
    }
    /* Reconfigure in place, all or nothing. */
    for (size_t i = 0; i < n && !rc; i++) {
        if (pl[i].action != ACT_RECONF)
            continue;
        smo_status st;
        smo_status_clear(&st);
        smo_instance *old = pl[i].old;
        rc = old->plugin->desc.reconfigure(old->state, pl[i].cfgs, &st);
        if (rc) {
            smo__errlist_add(errs,
                             "%s: %s: instance \"%s\": reconfigure "
                             "failed: %s",
                             pl[i].ci->file, pl[i].ci->path, old->name,
                             st.msg[0] ? st.msg : smo_strerror(rc));
            break;
        }
        pl[i].reconfigured = true;
    }
    if (rc) {
        /* Put reconfigured instances back as they were. */
        for (size_t i = 0; i < n; i++)
            if (pl[i].reconfigured) {
                smo_status st;
                smo_instance *old = pl[i].old;
                if (old->plugin->desc.reconfigure(old->state, old->cfg_struct,
                                                  &st))
                    smo__log(3, old->name,
                             "could not restore the previous configuration: "
                             "%s",
                             st.msg);
            }
        undo_new(pl, n);
        plans_free(pl, n);
        smo__conf_free(conf);
        if (rt->conf)
            smo__loader_set_path(&rt->loader, rt->conf->ecfg.plugin_path);
        smo__metric_add(rt->m_reloads, lv_fail, 1);
        return rc < 0 ? rc : SMO_ECONFIG;
    }

    /* Swap. The old set is copied first: relinking the kept instances
     * below rewrites their `next`, which would cut a walk of the old list
     * short and leave later removed instances running. */
    size_t n_old = 0;
    for (smo_instance *o = rt->active; o; o = o->next)
        n_old++;
    smo_instance **old_set = calloc(n_old ? n_old : 1, sizeof *old_set);
    n_old = 0;
    for (smo_instance *o = rt->active; o; o = o->next)
        old_set[n_old++] = o;
    smo_instance *head = NULL, **tail = &head;
    for (size_t i = 0; i < n; i++) {
        smo_instance *inst;
        if (pl[i].skip)
            continue;
        if (pl[i].action == ACT_NEW)
            inst = pl[i].inst;
        else {
            inst = pl[i].old;
            inst->log_level = pl[i].ci->log_level;
            if (pl[i].action == ACT_RECONF) {
                json_decref(inst->config);
                free(inst->cfg_struct);
                inst->config = pl[i].norm;
                inst->cfg_struct = pl[i].cfgs;
                pl[i].norm = NULL;
                pl[i].cfgs = NULL;
                smo__log(6, "core", "instance %s reconfigured", inst->name);
            }
            free(inst->file);
            free(inst->path);
            inst->file = strdup(pl[i].ci->file);
            inst->path = strdup(pl[i].ci->path);
        }
        inst->next = NULL;
        *tail = inst;
        tail = &inst->next;
    }
    rt->active = head;
    /* Stop what is no longer in the set (removed or replaced). */
    for (size_t k = 0; k < n_old; k++) {
        smo_instance *o = old_set[k];
        bool kept = false;
        for (smo_instance *a = rt->active; a && !kept; a = a->next)
            kept = a == o;
        if (!kept) {
            smo__log(6, "core", "stopping instance %s (removed or replaced)",
                     o->name);
            smo__instance_stop(o, retire_stopped, NULL);
        }
    }
    free(old_set);
    size_t created = 0, reused = 0, reconf = 0;
    for (size_t i = 0; i < n; i++) {
        created += pl[i].action == ACT_NEW;
        reused += pl[i].action == ACT_REUSE;
        reconf += pl[i].action == ACT_RECONF;
    }
    plans_free(pl, n);
    smo__conf_free(rt->conf);
    rt->conf = conf;
    apply_engine(rt, &conf->ecfg);
    smo__metric_add(rt->m_reloads, lv_ok, 1);
    smo__log(6, "core",
             "configuration %s applied: %zu instances (%zu new, %zu kept, %zu "
             "reconfigured)",
             rt->conf_dir, n, created, reused, reconf);
    return 0;
}

/* ------------------------------------------------------------ shutdown -- */

struct wave {
    struct smo_rt *rt;
    size_t pending;
    int stage;
};

static void shutdown_stage(struct wave *w);

static void wave_stopped(smo_instance *inst, void *arg)
{
    (void)inst;
    struct wave *w = arg;
    if (--w->pending == 0) {
        w->stage++;
        shutdown_stage(w);
    }
}

/* Stage 0: API frontends (no new requests); 1: everything but the store,
 * in reverse configuration order; 2: the store; 3: done. */
static bool in_stage(const smo_instance *i, int stage)
{
    if (stage == 0)
        return i->kind == SMO_KIND_API;
    if (stage == 1)
        return i->kind != SMO_KIND_API && i->kind != SMO_KIND_STORE;
    return i->kind == SMO_KIND_STORE;
}

static void shutdown_stage(struct wave *w)
{
    struct smo_rt *rt = w->rt;
    while (w->stage <= 2) {
        /* Collect this stage's instances (reverse order) and detach them. */
        smo_instance *sel[256];
        size_t ns = 0;
        smo_instance **pp = &rt->active;
        while (*pp) {
            smo_instance *i = *pp;
            if (in_stage(i, w->stage) && ns < 256) {
                *pp = i->next;
                i->next = NULL;
                sel[ns++] = i;
            } else
                pp = &i->next;
        }
        if (!ns) {
            w->stage++;
            continue;
        }
        w->pending = ns;
        for (size_t k = ns; k > 0; k--)
            smo__instance_stop(sel[k - 1], wave_stopped, w);
        return; /* wave_stopped continues */
    }
    if (rt->active) { /* more than 256 in one stage: go again */
        w->stage = 0;
        shutdown_stage(w);
        return;
    }
    void (*done)(struct smo_rt *) = rt->on_shutdown_done;
    free(w);
    if (done)
        done(rt);
}

static void engine_drained(void *arg)
{
    struct wave *w = arg;
    shutdown_stage(w);
}

void smo__rt_shutdown(struct smo_rt *rt, void (*done)(struct smo_rt *rt))
{
    if (rt->shutting_down)
        return;
    rt->shutting_down = true;
    rt->ready = false;
    rt->on_shutdown_done = done;
    struct wave *w = calloc(1, sizeof *w);
    w->rt = rt;
    /* The engine first: steps in flight finish (or stay in the journal)
     * while the plugins they use still run. */
    if (rt->engine)
        smo__engine_stop(rt->engine, engine_drained, w);
    else
        shutdown_stage(w);
}

/* ------------------------------------------------------------- queries -- */

smo_instance *smo__rt_first(struct smo_rt *rt, int kind)
{
    for (smo_instance *i = rt->active; i; i = i->next)
        if (!kind || i->kind == kind)
            return i;
    return NULL;
}

smo_instance *smo__rt_next(smo_instance *inst, int kind)
{
    for (smo_instance *i = inst ? inst->next : NULL; i; i = i->next)
        if (!kind || i->kind == kind)
            return i;
    return NULL;
}

smo_instance *smo__rt_find(struct smo_rt *rt, const char *name)
{
    for (smo_instance *i = rt->active; i; i = i->next)
        if (strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

json_t *smo__rt_describe(struct smo_rt *rt)
{
    static const char *const phases[] = {"", "created", "started", "stopping",
                                         "stopped"};
    json_t *arr = json_array();
    for (smo_instance *i = rt->active; i; i = i->next) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}", "name", i->name,
                      "kind", smo__kind_name(i->kind), "plugin",
                      i->plugin->desc.name, "version", i->plugin->desc.version,
                      "phase", phases[i->phase], "declared_in", i->file);
        if (i->plugin->desc.kind == SMO_KIND_API &&
            i->plugin->ops.api.describe) {
            json_t *d = i->plugin->ops.api.describe(i->state);
            if (d)
                json_object_set_new(o, "endpoint", d);
        }
        json_array_append_new(arr, o);
    }
    return json_pack("{s:s, s:s, s:b, s:o}", "conf_dir", rt->conf_dir,
                     "data_dir", rt->data_dir, "ready", rt->ready, "instances",
                     arr);
}

/* ---------------------------------------------------------------- reload -- */

int smo__rt_reload(struct smo_rt *rt, json_t **report)
{
    struct smo__errlist errs;
    smo__errlist_init(&errs, 50);
    uint64_t t0 = uv_hrtime();
    char mono[64];
    snprintf(mono, sizeof mono, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)(t0 / 1000));
    smo__notify(mono);
    smo__log(5, "core", "reloading configuration from %s", rt->conf_dir);
    int r = smo__rt_apply_config(rt, &errs);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    json_t *lines = json_array();
    for (size_t i = 0; i < errs.n; i++)
        json_array_append_new(lines, json_string(errs.lines[i]));
    free(rt->last_reload_error);
    rt->last_reload_error = NULL;
    if (r) {
        rt->reloads_failed++;
        for (size_t i = 0; i < errs.n; i++)
            smo__log(3, "core", "%s", errs.lines[i]);
        if (errs.dropped)
            smo__log(3, "core", "... and %zu more problems", errs.dropped);
        smo__log(3, "core",
                 "reload rejected; the previous configuration keeps running");
        rt->last_reload_error = smo__errlist_join(&errs, "; ");
    } else {
        rt->reloads_ok++;
        smo__log(5, "core", "reload done in %.1f ms", ms);
        /* The executor may have changed: refresh what /clusters shows. */
        if (rt->engine)
            smo__engine_sync_clusters(rt);
    }
    smo__notify("READY=1");
    if (report)
        *report = json_pack("{s:b, s:f, s:o}", "ok", r == 0, "duration_ms", ms,
                            "errors", lines);
    else
        json_decref(lines);
    smo__errlist_free(&errs);
    return r;
}
