/* `smod run`: the daemon. Loads conf.d, starts the instances, tells systemd
 * READY=1, reloads on SIGHUP (keeping the running set when the new one is
 * rejected), drains and exits on SIGTERM/SIGINT, pings the watchdog. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smo_daemon.h"
#include "smo_engine.h"
#include "smo_log.h"
#include "smo_rt.h"

static void close_noop(uv_handle_t *h)
{
    (void)h;
}

static void shutdown_done(struct smo_rt *rt)
{
    if (rt->signals_on) {
        uv_close((uv_handle_t *)&rt->sig_term, close_noop);
        uv_close((uv_handle_t *)&rt->sig_int, close_noop);
        uv_close((uv_handle_t *)&rt->sig_hup, close_noop);
        rt->signals_on = false;
    }
    if (rt->watchdog_on) {
        uv_close((uv_handle_t *)&rt->watchdog, close_noop);
        rt->watchdog_on = false;
    }
    if (rt->trim_on) {
        uv_close((uv_handle_t *)&rt->trim, close_noop);
        rt->trim_on = false;
    }
    smo__log(5, "core", "all instances stopped; exiting");
}

static void on_term(uv_signal_t *s, int signum)
{
    struct smo_rt *rt = s->data;
    if (rt->shutting_down) {
        smo__log(4, "core", "%s received again while stopping; still draining",
                 strsignal(signum));
        return;
    }
    smo__log(5, "core", "%s received: stopping", strsignal(signum));
    smo__notify("STOPPING=1");
    smo__rt_shutdown(rt, shutdown_done);
}

static void print_banner(struct smo_rt *rt, double ready_ms);

struct ready_ctx {
    struct smo_rt *rt;
    const struct smo__daemon_opts *o;
    uint64_t t0;
};

static void become_ready(void *arg)
{
    struct ready_ctx *c = arg;
    struct smo_rt *rt = c->rt;
    if (rt->shutting_down)
        return;
    rt->ready = true;
    double ready_ms = (double)(uv_hrtime() - c->t0) / 1e6;
    char state[128];
    snprintf(state, sizeof state, "READY=1\nSTATUS=ready\nMAINPID=%ld",
             (long)getpid());
    smo__notify(state);
    print_banner(rt, ready_ms);
    if (c->o->on_ready)
        c->o->on_ready(rt, c->o->on_ready_arg);
}

void smo__daemon_fail(struct smo_rt *rt, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt->exit_code = 1;
    if (rt->shutting_down)
        return;
    smo__log(3, "core", "%s", msg);
    smo__notify("STOPPING=1");
    smo__rt_shutdown(rt, shutdown_done);
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    struct smo_rt *rt = s->data;
    if (rt->shutting_down)
        return;
    smo__rt_reload(rt, NULL);
}

/* glibc gives back to the kernel only the free top of each heap (past
 * the 8 MiB threshold set in smo_main.c); what a large answer freed in
 * the middle (listing thousands of operations builds hundreds of MB of
 * JSON) stays in the process. Every TRIM_EVERY_MS, when more than
 * TRIM_FREE_MIN is free, malloc_trim() returns those pages: the resident
 * size goes back to what is in use (docs/benchmarks.md). */
#define TRIM_EVERY_MS 30000
#define TRIM_FREE_MIN ((size_t)32 << 20)

static void on_trim(uv_timer_t *t)
{
    (void)t;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks >= TRIM_FREE_MIN)
        malloc_trim(0);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    smo__notify("WATCHDOG=1");
}

int smo__ensure_dir(const char *dir, char *msg, size_t n)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
        snprintf(msg, n, "%s: path too long", dir);
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) && errno != EEXIST) {
            snprintf(msg, n, "%s: cannot create: %s", tmp, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0750) && errno != EEXIST) {
        snprintf(msg, n, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (stat(tmp, &sb) || !S_ISDIR(sb.st_mode)) {
        snprintf(msg, n, "%s: not a directory", tmp);
        return -1;
    }
    if (access(tmp, W_OK | X_OK)) {
        snprintf(msg, n, "%s: not writable: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static void print_banner(struct smo_rt *rt, double ready_ms)
{
    json_t *d = smo__rt_describe(rt);
    json_t *insts = json_object_get(d, "instances");
    smo__log(5, "core",
             "smod %s ready in %.1f ms: %zu instances (conf %s, "
             "data %s)",
             SMO_VERSION, ready_ms, json_array_size(insts), rt->conf_dir,
             rt->data_dir);
    size_t i;
    json_t *o;
    json_array_foreach(insts, i, o)
    {
        json_t *ep = json_object_get(o, "endpoint");
        char *eps = ep ? json_dumps(ep, JSON_COMPACT) : NULL;
        smo__log(6, "core", "  %-11s %-16s plugin %s %s%s%s",
                 json_string_value(json_object_get(o, "kind")),
                 json_string_value(json_object_get(o, "name")),
                 json_string_value(json_object_get(o, "plugin")),
                 json_string_value(json_object_get(o, "version")),
                 eps ? " " : "", eps ? eps : "");
        free(eps);
    }
    json_decref(d);
}

int smo__daemon_run(const struct smo__daemon_opts *o)
{
    char msg[512];
    uint64_t t0 = o->start_ns ? o->start_ns : uv_hrtime();
    if (smo__ensure_dir(o->data_dir, msg, sizeof msg)) {
        smo__log(3, "core", "data directory %s", msg);
        return 1;
    }
    /* The thread pool size is read by libuv on first use: set it before
     * any instance can queue work. */
    struct smo__errlist errs;
    smo__errlist_init(&errs, 100);
    struct smo__conf *peek = NULL;
    if (smo__conf_load(o->conf_dir, &peek, &errs) == 0) {
        char n[16];
        snprintf(n, sizeof n, "%lld", (long long)peek->ecfg.threadpool_size);
        setenv("UV_THREADPOOL_SIZE", n, 0);
        smo__log_setup(smo__log_format_parse(peek->ecfg.log_format),
                       smo__log_level_parse(peek->ecfg.log_level));
        if (o->log_level >= 0)
            smo__log_setup(-1, o->log_level);
        smo__conf_free(peek);
    }
    smo__errlist_free(&errs);
    smo__errlist_init(&errs, 100);

    signal(SIGPIPE, SIG_IGN);
    struct smo_rt *rt = smo__rt_new(NULL, o->conf_dir, o->data_dir);
    if (!rt) {
        smo__log(3, "core", "cannot initialise the runtime");
        return 1;
    }
    rt->log_override = o->log_level;
    if (smo__rt_apply_config(rt, &errs)) {
        for (size_t i = 0; i < errs.n; i++)
            smo__log(3, "core", "%s", errs.lines[i]);
        if (errs.dropped)
            smo__log(3, "core", "... and %zu more problems", errs.dropped);
        smo__log(3, "core", "not starting: the configuration in %s is invalid",
                 o->conf_dir);
        smo__errlist_free(&errs);
        /* Instances that did start were stopped by apply_config; let their
         * stop complete. */
        smo__rt_shutdown(rt, NULL);
        uv_run(rt->loop, UV_RUN_DEFAULT);
        smo__rt_free(rt);
        return 1;
    }
    smo__errlist_free(&errs);

    uv_signal_init(rt->loop, &rt->sig_term);
    uv_signal_init(rt->loop, &rt->sig_int);
    uv_signal_init(rt->loop, &rt->sig_hup);
    rt->sig_term.data = rt->sig_int.data = rt->sig_hup.data = rt;
    uv_signal_start(&rt->sig_term, on_term, SIGTERM);
    uv_signal_start(&rt->sig_int, on_term, SIGINT);
    uv_signal_start(&rt->sig_hup, on_hup, SIGHUP);
    rt->signals_on = true;

    uint64_t wd = smo__watchdog_usec();
    if (wd) {
        uv_timer_init(rt->loop, &rt->watchdog);
        uint64_t every = wd / 2000;
        uv_timer_start(&rt->watchdog, on_watchdog, every ? every : 1,
                       every ? every : 1);
        rt->watchdog_on = true;
    }

    uv_timer_init(rt->loop, &rt->trim);
    uv_timer_start(&rt->trim, on_trim, TRIM_EVERY_MS, TRIM_EVERY_MS);
    uv_unref((uv_handle_t *)&rt->trim); /* never keeps the loop alive */
    rt->trim_on = true;

    struct smo__engine *engine = smo__engine_new(rt);
    smo__engine_methods_register(rt);
    smo__engine_start(engine);
    /* Ready once the daemon knows whether it leads: a write accepted
     * before that would be refused a moment later for the same reason. */
    struct ready_ctx rcx = {rt, o, t0};
    smo__engine_when_elected(engine, become_ready, &rcx);

    uv_run(rt->loop, UV_RUN_DEFAULT);
    int rc = rt->exit_code;
    smo__rt_free(rt);
    return rc;
}
