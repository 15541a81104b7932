#define _GNU_SOURCE
/* Timers, deferred calls and thread-pool jobs for instances. */
#include <stdlib.h>
#include <string.h>

#include "smo_log.h"
#include "smo_rt.h"

struct smo_timer {
    struct smo__handle h;
    uv_timer_t t;
    smo_cb cb;
    void *arg;
    bool repeating;
    bool closing;
};

static void timer_close_cb(uv_handle_t *h)
{
    free(h->data);
}

static void timer_close(smo_timer *t)
{
    if (t->closing)
        return;
    t->closing = true;
    smo__handle_unlink(&t->h);
    uv_timer_stop(&t->t);
    uv_close((uv_handle_t *)&t->t, timer_close_cb);
}

static void timer_cancel(struct smo__handle *h)
{
    timer_close((smo_timer *)h);
}

static void timer_fire(uv_timer_t *ut)
{
    smo_timer *t = ut->data;
    smo_cb cb = t->cb;
    void *arg = t->arg;
    if (!t->repeating)
        timer_close(t); /* freed after this callback; handle invalid */
    cb(arg);
}

smo_timer *smo__timer_start(smo_instance *self, uint64_t timeout_ms,
                            uint64_t repeat_ms, smo_cb cb, void *arg)
{
    if (!smo__instance_live(self) || !cb)
        return NULL;
    smo_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cb = cb;
    t->arg = arg;
    t->repeating = repeat_ms > 0;
    t->h.cancel = timer_cancel;
    uv_timer_init(self->rt->loop, &t->t);
    t->t.data = t;
    smo__handle_link(self, &t->h);
    uv_timer_start(&t->t, timer_fire, timeout_ms, repeat_ms);
    return t;
}

void smo__timer_stop(smo_timer *t)
{
    if (t)
        timer_close(t);
}

int smo__defer(smo_instance *self, smo_cb cb, void *arg)
{
    return smo__timer_start(self, 0, 0, cb, arg) ? 0 : SMO_ENOMEM;
}

/* ------------------------------------------------------------- work -- */

struct work {
    struct smo__handle h;
    uv_work_t req;
    smo_instance *owner;
    smo_work_fn fn;
    smo_after_fn after;
    void *arg;
};

static void work_run(uv_work_t *req)
{
    struct work *w = req->data;
    w->fn(w->arg);
}

static void work_after(uv_work_t *req, int status)
{
    struct work *w = req->data;
    smo_instance *owner = w->owner;
    smo__handle_unlink(&w->h);
    /* Always exactly once, before the owner's destroy(). */
    if (w->after)
        w->after(w->arg, status == UV_ECANCELED ? SMO_ECANCELED : SMO_OK);
    free(w);
    smo__instance_work_done(owner);
}

static void work_cancel(struct smo__handle *h)
{
    struct work *w = (struct work *)h;
    /* Only succeeds if the job has not started; a running job finishes
     * normally. Either way after() runs before the owner is destroyed. */
    uv_cancel((uv_req_t *)&w->req);
}

int smo__queue_work(smo_instance *self, smo_work_fn fn, smo_after_fn after,
                    void *arg)
{
    if (!smo__instance_live(self) || !fn)
        return SMO_EINVAL;
    struct work *w = calloc(1, sizeof *w);
    if (!w)
        return SMO_ENOMEM;
    w->owner = self;
    w->fn = fn;
    w->after = after;
    w->arg = arg;
    w->h.cancel = work_cancel;
    w->req.data = w;
    int r = uv_queue_work(self->rt->loop, &w->req, work_run, work_after);
    if (r) {
        free(w);
        return SMO_EIO;
    }
    smo__handle_link(self, &w->h);
    self->pending_work++;
    return 0;
}
