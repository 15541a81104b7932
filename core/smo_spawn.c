/* Child processes for tools such as helm: argv only (no shell), stdin fed
 * from memory, stdout/stderr captured with a bound, a timeout that sends
 * SIGTERM and then SIGKILL. The callback runs once the child is reaped and
 * both output pipes are closed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_log.h"
#include "smo_rt.h"

#define DEFAULT_MAX_OUTPUT (1u << 20)
#define DEFAULT_GRACE_MS   5000

struct capture {
    uv_pipe_t pipe; /* first: a stream pointer is the capture */
    char *buf;
    size_t len, cap, max;
    bool truncated;
    bool open;
    struct smo_proc *proc;
};

struct smo_proc {
    struct smo__handle h;
    uv_process_t process;
    struct capture out, err;
    uv_pipe_t in;
    bool in_open;
    uv_write_t wreq;
    char *stdin_copy;
    uv_timer_t timer;
    bool timer_open;
    int open_handles; /* process, pipes and timer not yet closed */
    bool exited, timed_out, killed, canceled, reported;
    int64_t exit_status;
    int term_signal;
    int64_t grace_ms;
    uint64_t start_ms;
    smo_spawn_cb cb;
    void *arg;
    smo_instance *owner; /* its destroy() waits for this process */
    char *prog;
    smo_metric *metric;
};

static void maybe_finish(struct smo_proc *p);

static void handle_closed(uv_handle_t *h)
{
    struct smo_proc *p = h->data;
    p->open_handles--;
    maybe_finish(p);
}

static void report(struct smo_proc *p)
{
    if (p->reported)
        return;
    p->reported = true;
    smo__handle_unlink(&p->h);
    struct smo_spawn_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.exit_status = p->term_signal ? -1 : p->exit_status;
    res.term_signal = p->term_signal;
    res.timed_out = p->timed_out;
    res.out = p->out.buf ? p->out.buf : "";
    res.out_len = p->out.len;
    res.err = p->err.buf ? p->err.buf : "";
    res.err_len = p->err.len;
    res.out_truncated = p->out.truncated;
    res.err_truncated = p->err.truncated;
    res.elapsed_ms = (double)(uv_now(p->process.loop) - p->start_ms);
    smo_status st;
    smo_status_clear(&st);
    const char *result = "ok";
    if (p->canceled) {
        smo_status_set(&st, SMO_ECANCELED, "%s killed: the instance stopped",
                       p->prog);
        result = "canceled";
    } else if (p->timed_out) {
        smo_status_set(&st, SMO_ETIMEDOUT, "%s timed out after %.0f ms",
                       p->prog, res.elapsed_ms);
        result = "timeout";
    } else if (p->term_signal) {
        smo_status_set(&st, SMO_EEXTERNAL, "%s was killed by signal %d",
                       p->prog, p->term_signal);
        result = "failed";
    } else if (p->exit_status != 0) {
        smo_status_set(&st, SMO_EEXTERNAL, "%s exited with status %lld",
                       p->prog, (long long)p->exit_status);
        result = "failed";
    }
    const char *lv[] = {result, NULL};
    smo__metric_add(p->metric, lv, 1);
    p->cb(p->arg, &st, &res);
}

static void maybe_finish(struct smo_proc *p)
{
    if (p->exited && !p->out.open && !p->err.open && !p->reported) {
        report(p);
        if (p->timer_open) {
            p->timer_open = false;
            uv_timer_stop(&p->timer);
            uv_close((uv_handle_t *)&p->timer, handle_closed);
        }
        if (!uv_is_closing((uv_handle_t *)&p->process))
            uv_close((uv_handle_t *)&p->process, handle_closed);
    }
    if (p->reported && p->open_handles == 0) {
        if (p->owner)
            smo__instance_work_done(p->owner);
        free(p->out.buf);
        free(p->err.buf);
        free(p->stdin_copy);
        free(p->prog);
        free(p);
    }
}

static void on_child_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct smo_proc *p = proc->data;
    p->exited = true;
    p->exit_status = status;
    p->term_signal = sig;
    maybe_finish(p);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    static __thread char scratch[65536];
    (void)suggested;
    buf->base = scratch;
    buf->len = sizeof scratch;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct capture *c = (struct capture *)s;
    struct smo_proc *p = c->proc;
    if (n > 0) {
        size_t take = (size_t)n;
        if (c->len + take > c->max) {
            take = c->max > c->len ? c->max - c->len : 0;
            c->truncated = true;
        }
        if (take) {
            if (c->len + take + 1 > c->cap) {
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + take + 1)
                    cap *= 2;
                char *nb = realloc(c->buf, cap);
                if (!nb) {
                    c->truncated = true;
                    return;
                }
                c->buf = nb;
                c->cap = cap;
            }
            memcpy(c->buf + c->len, buf->base, take);
            c->len += take;
            c->buf[c->len] = '\0';
        }
        return;
    }
    if (n < 0) {
        c->open = false;
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, handle_closed);
        maybe_finish(p);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct smo_proc *p = t->data;
    if (p->exited)
        return;
    if (!p->killed) {
        p->timed_out = true;
        p->killed = true;
        uv_process_kill(&p->process, SIGTERM);
        uv_timer_start(&p->timer, on_timer, (uint64_t)p->grace_ms, 0);
    } else
        uv_process_kill(&p->process, SIGKILL);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    struct smo_proc *p = w->data;
    if (p->in_open) {
        p->in_open = false;
        uv_close((uv_handle_t *)&p->in, handle_closed);
    }
}

static void proc_cancel(struct smo__handle *h)
{
    struct smo_proc *p = (struct smo_proc *)h;
    p->canceled = true;
    if (!p->exited)
        uv_process_kill(&p->process, SIGKILL);
}

int smo__proc_kill(smo_proc *p, int signum)
{
    if (!p || p->exited)
        return SMO_ESTATE;
    return uv_process_kill(&p->process, signum) ? SMO_EIO : 0;
}

smo_proc *smo__spawn(smo_instance *self, const struct smo_spawn_opts *o,
                     smo_spawn_cb cb, void *arg, smo_status *st)
{
    if (!smo__instance_live(self) || !o || !o->argv || !o->argv[0] || !cb) {
        smo_status_set(st, SMO_EINVAL, "invalid spawn request");
        return NULL;
    }
    if (o->size < offsetof(struct smo_spawn_opts, max_output_bytes) +
                      sizeof o->max_output_bytes) {
        smo_status_set(st, SMO_EINVAL, "struct smo_spawn_opts too small");
        return NULL;
    }
    uv_loop_t *loop = self->rt->loop;
    struct smo_proc *p = calloc(1, sizeof *p);
    if (!p) {
        smo_status_set(st, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    static const char *const lbl[] = {"result", NULL};
    p->metric = smo__metric_register(self->rt->metrics, SMO_METRIC_COUNTER,
                                     "smo_process_spawns_total",
                                     "Child processes by result.", lbl, NULL);
    p->cb = cb;
    p->arg = arg;
    p->prog = strdup(o->argv[0]);
    p->grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : DEFAULT_GRACE_MS;
    p->h.cancel = proc_cancel;
    p->start_ms = uv_now(loop);
    size_t max = o->max_output_bytes ? o->max_output_bytes : DEFAULT_MAX_OUTPUT;
    struct capture *caps[2] = {&p->out, &p->err};
    for (int i = 0; i < 2; i++) {
        caps[i]->max = max;
        caps[i]->proc = p;
        uv_pipe_init(loop, &caps[i]->pipe, 0);
        caps[i]->pipe.data = p;
    }
    uv_pipe_init(loop, &p->in, 0);
    p->in.data = p;

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out.pipe;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->err.pipe;

    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = o->argv[0];
    po.args = (char **)o->argv;
    po.env = (char **)o->env;
    po.cwd = o->cwd;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_child_exit;
    p->process.data = p;
    int r = uv_spawn(loop, &p->process, &po);
    p->process.data = p;
    if (r) {
        if (r == UV_ENOENT)
            smo_status_set(st, SMO_ENOENT, "cannot run %s: program not found",
                           o->argv[0]);
        else if (r == UV_EACCES)
            smo_status_set(st, SMO_EACCES, "cannot run %s: permission denied",
                           o->argv[0]);
        else
            smo_status_set(st, SMO_EIO, "cannot run %s: %s", o->argv[0],
                           uv_strerror(r));
        /* uv_spawn failed: close what was initialised, free when closed. */
        p->reported = true;
        p->open_handles = 3;
        uv_close((uv_handle_t *)&p->in, handle_closed);
        uv_close((uv_handle_t *)&p->out.pipe, handle_closed);
        uv_close((uv_handle_t *)&p->err.pipe, handle_closed);
        if (!uv_is_closing((uv_handle_t *)&p->process)) {
            p->open_handles++;
            uv_close((uv_handle_t *)&p->process, handle_closed);
        }
        const char *lv[] = {"spawn_error", NULL};
        smo__metric_add(p->metric, lv, 1);
        return NULL;
    }
    p->open_handles = 4; /* process, in, out, err */
    p->out.open = p->err.open = true;
    p->in_open = true;
    uv_read_start((uv_stream_t *)&p->out.pipe, alloc_cb, on_read);
    uv_read_start((uv_stream_t *)&p->err.pipe, alloc_cb, on_read);
    if (o->stdin_data && o->stdin_len) {
        p->stdin_copy = malloc(o->stdin_len);
        if (p->stdin_copy) {
            memcpy(p->stdin_copy, o->stdin_data, o->stdin_len);
            uv_buf_t b = uv_buf_init(p->stdin_copy, (unsigned)o->stdin_len);
            p->wreq.data = p;
            if (uv_write(&p->wreq, (uv_stream_t *)&p->in, &b, 1, on_written))
                on_written(&p->wreq, -1);
        } else
            on_written(&p->wreq, -1);
    } else {
        p->wreq.data = p;
        on_written(&p->wreq, 0);
    }
    if (o->timeout_ms > 0) {
        uv_timer_init(loop, &p->timer);
        p->timer.data = p;
        p->timer_open = true;
        p->open_handles++;
        uv_timer_start(&p->timer, on_timer, (uint64_t)o->timeout_ms, 0);
    }
    p->owner = self;
    self->pending_work++;
    smo__handle_link(self, &p->h);
    return p;
}
