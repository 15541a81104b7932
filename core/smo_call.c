/* Core methods invoked by plugins through host->call (the API frontend maps
 * HTTP routes onto them). Replies are always delivered from the loop, never
 * inside the call, so a frontend can rely on one calling convention. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_engine.h"
#include "smo_log.h"
#include "smo_rt.h"

struct method {
    char *name;
    smo__method_fn fn;
};

struct smo__methods {
    struct method *v;
    size_t n, cap;
};

struct smo__reply {
    struct smo__handle h; /* owned by the caller */
    struct smo_rt *rt;
    smo_call_cb cb;
    void *arg;
    bool completed, canceled;
    json_t *result;
    smo_status st;
    uv_timer_t timer;
};

struct smo__methods *smo__methods_new(void)
{
    return calloc(1, sizeof(struct smo__methods));
}

void smo__methods_free(struct smo__methods *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].name);
    free(m->v);
    free(m);
}

int smo__method_register(struct smo_rt *rt, const char *name, smo__method_fn fn)
{
    struct smo__methods *m = rt->methods;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].name, name) == 0) {
            m->v[i].fn = fn;
            return 0;
        }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        struct method *nv = realloc(m->v, cap * sizeof *nv);
        if (!nv)
            return SMO_ENOMEM;
        m->v = nv;
        m->cap = cap;
    }
    m->v[m->n].name = strdup(name);
    m->v[m->n].fn = fn;
    m->n++;
    return 0;
}

static void reply_free_cb(uv_handle_t *h)
{
    struct smo__reply *r = h->data;
    json_decref(r->result);
    free(r);
}

static void deliver(uv_timer_t *t)
{
    struct smo__reply *r = t->data;
    smo__handle_unlink(&r->h);
    if (!r->canceled) {
        json_t *res = r->result;
        r->result = NULL;
        r->cb(r->arg, &r->st, res);
    }
    uv_close((uv_handle_t *)&r->timer, reply_free_cb);
}

static void complete(struct smo__reply *r)
{
    if (r->completed)
        return;
    r->completed = true;
    uv_timer_start(&r->timer, deliver, 0, 0);
}

void smo__reply_ok(struct smo__reply *r, json_t *result)
{
    if (r->completed) {
        json_decref(result);
        return;
    }
    smo_status_clear(&r->st);
    r->result = result ? result : json_object();
    complete(r);
}

void smo__reply_err(struct smo__reply *r, int code, const char *fmt, ...)
{
    if (r->completed)
        return;
    va_list ap;
    va_start(ap, fmt);
    smo_status_vset(&r->st, code < 0 ? code : SMO_EIO, fmt, ap);
    va_end(ap);
    complete(r);
}

void smo__reply_err_detail(struct smo__reply *r, int code, json_t *detail,
                           const char *fmt, ...)
{
    if (r->completed) {
        json_decref(detail);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    smo_status_vset(&r->st, code < 0 ? code : SMO_EIO, fmt, ap);
    va_end(ap);
    r->result = detail;
    complete(r);
}

static void reply_cancel(struct smo__handle *h)
{
    struct smo__reply *r = (struct smo__reply *)h;
    /* Tell the caller now; the method may still complete later and the
     * reply is freed after that, silently. */
    r->canceled = true;
    smo_status st;
    smo_status_set(&st, SMO_ECANCELED, "call canceled: the instance stopped");
    r->cb(r->arg, &st, NULL);
}

/* Methods that change state or start work: on a follower they would race
 * the leader (reads, plans and the daemon's own reload are fine). */
static bool writes(const char *method)
{
    static const char *const w[] = {
        "graph.deploy",     "graph.start",      "graph.stop",
        "graph.place",      "graph.remove",     "cluster.sync",
        "alerts.receive",   "vim.register",     "vim.delete",
        "vim.sync",         "provision.create", "provision.scale_out",
        "provision.delete", "provision.sync"};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        if (!strcmp(method, w[i]))
            return true;
    return false;
}

int smo__call(smo_instance *self, const char *method, json_t *params,
              smo_call_cb cb, void *arg)
{
    if (!smo__instance_live(self) || !method || !cb) {
        json_decref(params);
        return SMO_EINVAL;
    }
    struct smo_rt *rt = self->rt;
    struct smo__reply *r = calloc(1, sizeof *r);
    if (!r) {
        json_decref(params);
        return SMO_ENOMEM;
    }
    r->rt = rt;
    r->cb = cb;
    r->arg = arg;
    r->h.cancel = reply_cancel;
    uv_timer_init(rt->loop, &r->timer);
    r->timer.data = r;
    smo__handle_link(self, &r->h);
    smo__method_fn fn = NULL;
    for (size_t i = 0; i < rt->methods->n; i++)
        if (strcmp(rt->methods->v[i].name, method) == 0) {
            fn = rt->methods->v[i].fn;
            break;
        }
    if (!fn) {
        json_decref(params);
        smo__reply_err(r, SMO_ENOSYS, "unknown method \"%s\"", method);
        return 0;
    }
    if (smo__engine_follower(rt->engine) && writes(method)) {
        json_decref(params);
        smo__reply_err(r, SMO_EUNAVAIL,
                       "this smod is a follower: another smod sharing the "
                       "store is the leader and takes the writes (%s)",
                       method);
        return 0;
    }
    if (!params)
        params = json_object();
    fn(rt, params, r);
    json_decref(params);
    return 0;
}
