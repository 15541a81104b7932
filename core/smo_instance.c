/* Instance lifecycle: prepare (schema + validate) -> create -> start ->
 * stop (asynchronous drain, bounded) -> destroy (after the last thread-pool
 * job of the instance returned). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_log.h"
#include "smo_rt.h"
#include "smo_schema.h"

/* Handed to the plugin's stop(). When the drain times out the token stays
 * with the instance (inst = NULL) and is freed after destroy(), so a late
 * done() before destroy() is harmless. */
struct smo__stop_token {
    smo_instance *inst; /* NULL once the instance went on without it */
};

void smo__handle_link(smo_instance *owner, struct smo__handle *h)
{
    h->owner = owner;
    h->next = owner->handles.next;
    h->prev = &owner->handles;
    owner->handles.next->prev = h;
    owner->handles.next = h;
}

void smo__handle_unlink(struct smo__handle *h)
{
    if (!h->next)
        return;
    h->prev->next = h->next;
    h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

void smo__instance_cancel_all(smo_instance *inst)
{
    while (inst->handles.next != &inst->handles) {
        struct smo__handle *h = inst->handles.next;
        smo__handle_unlink(h);
        h->cancel(h);
    }
}

bool smo__instance_live(const smo_instance *inst)
{
    return inst && inst->magic == SMO__INSTANCE_MAGIC &&
           inst->phase != SMO__STOPPED;
}

int smo__instance_log_level(const smo_instance *inst)
{
    if (inst && inst->log_level >= 0)
        return inst->log_level;
    return smo__log_level();
}

static void init_common(struct smo_rt *rt, smo_instance *inst)
{
    inst->magic = SMO__INSTANCE_MAGIC;
    inst->rt = rt;
    inst->log_level = -1;
    inst->handles.next = inst->handles.prev = &inst->handles;
}

void smo__instance_init_core(struct smo_rt *rt, smo_instance *inst)
{
    memset(inst, 0, sizeof *inst);
    init_common(rt, inst);
    inst->name = strdup("core");
    inst->phase = SMO__STARTED;
    inst->config = json_object();
}

int smo__instance_prepare(struct smo_rt *rt, const struct smo__plugin *p,
                          const struct smo__conf_instance *ci, json_t **norm,
                          void **cfg_struct, struct smo__errlist *errs)
{
    (void)rt;
    *norm = NULL;
    *cfg_struct = NULL;
    json_t *cfg = json_deep_copy(ci->config ? ci->config : json_object());
    void *s = p->desc.config_size ? calloc(1, p->desc.config_size) : NULL;
    char *path = NULL;
    if (asprintf(&path, "%s.config", ci->path) < 0)
        path = NULL;
    struct smo__schema_ctx sc = {errs, ci->file, ci->lines, false};
    size_t before = smo__errlist_count(errs);
    smo__schema_apply(p->desc.config, cfg, s, path ? path : "config", &sc);
    if (smo__errlist_count(errs) == before && p->desc.validate) {
        smo_status st;
        smo_status_clear(&st);
        int r = p->desc.validate(cfg, s, &st);
        if (r < 0)
            smo__errlist_add(errs, "%s: %s: %s", ci->file,
                             st.where[0] ? st.where : (path ? path : "config"),
                             st.msg[0] ? st.msg : smo_strerror(r));
    }
    free(path);
    if (smo__errlist_count(errs) != before) {
        json_decref(cfg);
        free(s);
        return SMO_ECONFIG;
    }
    *norm = cfg;
    *cfg_struct = s;
    return 0;
}

int smo__instance_create(struct smo_rt *rt, const struct smo__plugin *p,
                         const struct smo__conf_instance *ci, json_t *norm,
                         void *cfg_struct, smo_instance **out, smo_status *st)
{
    smo_instance *inst = calloc(1, sizeof *inst);
    if (!inst) {
        json_decref(norm);
        free(cfg_struct);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    init_common(rt, inst);
    inst->plugin = p;
    inst->kind = (int)p->desc.kind;
    inst->name = strdup(ci->name);
    inst->config = norm;
    inst->cfg_struct = cfg_struct;
    inst->log_level = ci->log_level;
    inst->file = strdup(ci->file);
    inst->path = strdup(ci->path);
    inst->phase = SMO__CREATED;

    smo_status pst;
    smo_status_clear(&pst);
    int r = p->desc.create(&rt->host, inst, cfg_struct, &inst->state, &pst);
    if (r < 0) {
        smo_status_set(st, r, "instance \"%s\" (%s %s): create failed: %s",
                       ci->name, smo__kind_name(inst->kind), p->desc.name,
                       pst.msg[0] ? pst.msg : smo_strerror(r));
        /* create() failed: the plugin cleaned up after itself. */
        inst->state = NULL;
        inst->phase = SMO__STOPPED;
        smo__instance_cancel_all(inst);
        if (!inst->pending_work) {
            json_decref(inst->config);
            free(inst->cfg_struct);
            free(inst->name);
            free(inst->file);
            free(inst->path);
            inst->magic = 0;
            free(inst);
        } else {
            inst->destroy_when_idle = true;
            inst->next = rt->retired;
            rt->retired = inst;
        }
        return r;
    }
    *out = inst;
    return 0;
}

int smo__instance_start(smo_instance *inst, smo_status *st)
{
    if (inst->plugin->desc.start) {
        smo_status pst;
        smo_status_clear(&pst);
        int r = inst->plugin->desc.start(inst->state, &pst);
        if (r < 0)
            return smo_status_set(
                st, r, "instance \"%s\" (%s %s): start failed: %s", inst->name,
                smo__kind_name(inst->kind), inst->plugin->desc.name,
                pst.msg[0] ? pst.msg : smo_strerror(r));
    }
    inst->phase = SMO__STARTED;
    return 0;
}

static void retire_unlink(smo_instance *inst)
{
    struct smo_rt *rt = inst->rt;
    for (smo_instance **pp = &rt->retired; *pp; pp = &(*pp)->next)
        if (*pp == inst) {
            *pp = inst->next;
            break;
        }
}

static void finalize(smo_instance *inst)
{
    if (inst->plugin && inst->state)
        inst->plugin->desc.destroy(inst->state);
    if (inst->mem_bytes)
        smo__log(4, inst->name,
                 "instance released with %zu bytes of host memory still "
                 "allocated",
                 inst->mem_bytes);
    free(inst->stop_token); /* only set when a drain timed out */
    inst->stop_token = NULL;
    retire_unlink(inst);
    void (*cb)(smo_instance *, void *) = inst->on_stopped;
    void *arg = inst->on_stopped_arg;
    json_decref(inst->config);
    free(inst->cfg_struct);
    free(inst->file);
    free(inst->path);
    char *name = inst->name;
    inst->magic = 0;
    if (cb)
        cb(inst, arg); /* pointer identity only; must not dereference */
    free(name);
    free(inst);
}

void smo__instance_work_done(smo_instance *inst)
{
    if (inst->pending_work)
        inst->pending_work--;
    if (!inst->pending_work && inst->destroy_when_idle)
        finalize(inst);
}

static void timer_free_cb(uv_handle_t *h)
{
    free(h);
}

static void stop_finished(smo_instance *inst)
{
    if (inst->stop_timer) {
        uv_timer_stop(inst->stop_timer);
        uv_close((uv_handle_t *)inst->stop_timer, timer_free_cb);
        inst->stop_timer = NULL;
    }
    if (inst->stop_token)
        inst->stop_token->inst = NULL; /* timed out; freed in finalize */
    inst->phase = SMO__STOPPED;
    smo__instance_cancel_all(inst);
    smo__log(6, "core", "instance %s stopped", inst->name);
    if (inst->pending_work)
        inst->destroy_when_idle = true; /* finalize in work_done */
    else
        finalize(inst);
}

static void stop_done_cb(void *arg)
{
    struct smo__stop_token *tok = arg;
    smo_instance *inst = tok->inst;
    if (!inst)
        return; /* too late: the core went on; finalize frees the token */
    inst->stop_token = NULL;
    free(tok);
    stop_finished(inst);
}

static void stop_timeout_cb(uv_timer_t *t)
{
    smo_instance *inst = t->data;
    smo__log(4, "core",
             "instance %s did not finish stopping within %lld ms; cutting "
             "it off",
             inst->name, (long long)inst->rt->shutdown_timeout_ms);
    stop_finished(inst);
}

void smo__instance_stop(smo_instance *inst,
                        void (*cb)(smo_instance *inst, void *arg), void *arg)
{
    struct smo_rt *rt = inst->rt;
    inst->on_stopped = cb;
    inst->on_stopped_arg = arg;
    inst->next = rt->retired;
    rt->retired = inst;
    if (inst->phase != SMO__STARTED || !inst->plugin->desc.stop) {
        stop_finished(inst);
        return;
    }
    inst->phase = SMO__STOPPING;
    struct smo__stop_token *tok = calloc(1, sizeof *tok);
    if (!tok) {
        stop_finished(inst);
        return;
    }
    tok->inst = inst;
    inst->stop_token = tok;
    inst->stop_timer = calloc(1, sizeof *inst->stop_timer);
    if (inst->stop_timer) {
        uv_timer_init(rt->loop, inst->stop_timer);
        inst->stop_timer->data = inst;
        uv_timer_start(inst->stop_timer, stop_timeout_cb,
                       (uint64_t)rt->shutdown_timeout_ms, 0);
    }
    inst->plugin->desc.stop(inst->state, stop_done_cb, tok);
}

void smo__instance_destroy_now(smo_instance *inst)
{
    struct smo_rt *rt = inst->rt;
    inst->on_stopped = NULL;
    inst->next = rt->retired;
    rt->retired = inst;
    stop_finished(inst);
}
