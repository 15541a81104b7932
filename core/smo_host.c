#define _GNU_SOURCE
/* The host table handed to every plugin: thin wrappers that check the
 * instance handle and delegate to the module owning each service. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_log.h"
#include "smo_rt.h"
#include "smo_units.h"
#include "smo_yaml.h"

static bool ok(const smo_instance *self)
{
    return self && self->magic == SMO__INSTANCE_MAGIC;
}

static bool h_log_enabled(smo_instance *self, int level)
{
    return level <= smo__instance_log_level(ok(self) ? self : NULL);
}

static void h_log(smo_instance *self, int level, const char *file, int line,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void h_log(smo_instance *self, int level, const char *file, int line,
                  const char *fmt, ...)
{
    (void)file;
    (void)line;
    if (level > smo__instance_log_level(ok(self) ? self : NULL))
        return;
    va_list ap;
    va_start(ap, fmt);
    /* The instance's own level filtered above; the global one must not. */
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smo__log_emit(level, ok(self) ? self->name : "plugin", msg);
}

/* Accounted allocation: a header in front of each block records its size. */
struct mem_hdr {
    size_t size;
    uint64_t magic;
    max_align_t align[];
};
#define MEM_MAGIC 0x534d4f4d454d2121ull

static void *h_alloc(smo_instance *self, size_t n)
{
    if (n > SIZE_MAX - sizeof(struct mem_hdr))
        return NULL;
    struct mem_hdr *h = calloc(1, sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    h->magic = MEM_MAGIC;
    if (ok(self))
        self->mem_bytes += n;
    return h->align;
}

static void h_free(smo_instance *self, void *p)
{
    if (!p)
        return;
    struct mem_hdr *h =
        (struct mem_hdr *)((char *)p - offsetof(struct mem_hdr, align));
    if (h->magic != MEM_MAGIC) {
        smo__log(3, ok(self) ? self->name : "plugin",
                 "host->free() of memory not allocated by host->alloc()");
        abort();
    }
    h->magic = 0;
    if (ok(self) && self->mem_bytes >= h->size)
        self->mem_bytes -= h->size;
    free(h);
}

static const char *h_instance_name(smo_instance *self)
{
    return ok(self) ? self->name : "?";
}

static const json_t *h_instance_config(smo_instance *self)
{
    return ok(self) ? self->config : NULL;
}

static const char *h_data_dir(smo_instance *self)
{
    return ok(self) ? self->rt->data_dir : NULL;
}

static void *h_loop(smo_instance *self)
{
    return ok(self) ? self->rt->loop : NULL;
}

static uint64_t h_now_ms(smo_instance *self)
{
    return ok(self) ? uv_now(self->rt->loop) : 0;
}

static smo_timer *h_timer_start(smo_instance *self, uint64_t timeout_ms,
                                uint64_t repeat_ms, smo_cb cb, void *arg)
{
    return ok(self) ? smo__timer_start(self, timeout_ms, repeat_ms, cb, arg)
                    : NULL;
}

static int h_defer(smo_instance *self, smo_cb cb, void *arg)
{
    return ok(self) ? smo__defer(self, cb, arg) : SMO_EINVAL;
}

static int h_queue_work(smo_instance *self, smo_work_fn work,
                        smo_after_fn after, void *arg)
{
    return ok(self) ? smo__queue_work(self, work, after, arg) : SMO_EINVAL;
}

static smo_http_call *h_http_request(smo_instance *self,
                                     const struct smo_http_request *req,
                                     smo_http_cb cb, void *arg, smo_status *st)
{
    if (!ok(self)) {
        smo_status_set(st, SMO_EINVAL, "invalid instance handle");
        return NULL;
    }
    return smo__http_request(self, req, cb, arg, st);
}

static smo_proc *h_spawn(smo_instance *self, const struct smo_spawn_opts *o,
                         smo_spawn_cb cb, void *arg, smo_status *st)
{
    if (!ok(self)) {
        smo_status_set(st, SMO_EINVAL, "invalid instance handle");
        return NULL;
    }
    return smo__spawn(self, o, cb, arg, st);
}

static int h_call(smo_instance *self, const char *method, json_t *params,
                  smo_call_cb cb, void *arg)
{
    if (!ok(self)) {
        json_decref(params);
        return SMO_EINVAL;
    }
    return smo__call(self, method, params, cb, arg);
}

static smo_metric *h_metric_register(smo_instance *self, int type,
                                     const char *name, const char *help,
                                     const char *const *label_names)
{
    if (!ok(self))
        return NULL;
    smo_status st;
    smo_status_clear(&st);
    smo_metric *m = smo__metric_register(self->rt->metrics, type, name, help,
                                         label_names, &st);
    if (!m)
        smo__log(4, self->name, "%s", st.msg);
    return m;
}

static int h_event_emit(smo_instance *self, const char *type,
                        const char *project, const char *graph, json_t *data)
{
    if (!ok(self)) {
        json_decref(data);
        return SMO_EINVAL;
    }
    smo__events_emit(self->rt->events, self->name, type, project, graph, data);
    return 0;
}

static int h_yaml_parse(const char *text, size_t len, json_t **out,
                        smo_status *st)
{
    return smo__yaml_parse(text, len, NULL, out, st);
}

static int h_yaml_emit(smo_instance *self, const json_t *doc, char **out,
                       size_t *len, smo_status *st)
{
    char *tmp = NULL;
    size_t n = 0;
    int r = smo__yaml_emit(doc, &tmp, &n, st);
    if (r)
        return r;
    char *copy = h_alloc(self, n + 1);
    if (!copy) {
        free(tmp);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    memcpy(copy, tmp, n + 1);
    free(tmp);
    *out = copy;
    if (len)
        *len = n;
    return 0;
}

void smo__host_init(struct smo_rt *rt, struct smo_host *h)
{
    (void)rt;
    memset(h, 0, sizeof *h);
    h->size = sizeof *h;
    h->abi_major = SMO_ABI_MAJOR;
    h->abi_minor = SMO_ABI_MINOR;
    h->log_enabled = h_log_enabled;
    h->log = h_log;
    h->alloc = h_alloc;
    h->free = h_free;
    h->instance_name = h_instance_name;
    h->instance_config = h_instance_config;
    h->data_dir = h_data_dir;
    h->loop = h_loop;
    h->now_ms = h_now_ms;
    h->timer_start = h_timer_start;
    h->timer_stop = smo__timer_stop;
    h->defer = h_defer;
    h->queue_work = h_queue_work;
    h->http_request = h_http_request;
    h->http_cancel = smo__http_cancel;
    h->spawn = h_spawn;
    h->proc_kill = smo__proc_kill;
    h->call = h_call;
    h->metric_register = h_metric_register;
    h->metric_add = smo__metric_add;
    h->metric_set = smo__metric_set;
    h->metric_observe = smo__metric_observe;
    h->event_emit = h_event_emit;
    h->yaml_parse = h_yaml_parse;
    h->yaml_emit = h_yaml_emit;
    h->parse_quantity = smo__parse_quantity;
    h->parse_duration = smo__parse_duration;
    h->check_dns_label = smo__check_dns_label;
}
