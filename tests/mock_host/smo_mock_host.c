#define _GNU_SOURCE
#include "smo_mock_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_units.h"
#include "smo_yaml.h"

enum pend_kind { P_WORK = 1, P_HTTP, P_SPAWN, P_CALL, P_DEFER };

struct pending {
    int kind;
    /* work */
    smo_work_fn work;
    smo_after_fn after;
    /* http */
    smo_http_cb http_cb;
    long status;
    char *body;
    int code;
    char *url;
    /* spawn */
    smo_spawn_cb spawn_cb;
    int64_t exit_status;
    char *out, *err;
    char *prog;
    /* call */
    smo_call_cb call_cb;
    json_t *result;
    /* defer */
    smo_cb cb;
    void *arg;
    bool canceled;
    struct pending *next;
};

struct smo_timer {
    uint64_t due, repeat;
    smo_cb cb;
    void *arg;
    bool active;
    struct smo_timer *next;
};

struct expect {
    char *method, *prefix, *body, *prog, *out, *err;
    long status;
    int code;
    int64_t exit_status;
    json_t *result;
    bool used;
    struct expect *next;
};

struct smo_mock {
    struct smo_host host;
    char self_tag[8];
    uint64_t now;
    char *data_dir;
    struct pending *pend, **ptail;
    struct smo_timer *timers;
    struct expect *http_exp, *spawn_exp, *call_exp;
    json_t *logs, *events, *requests, *spawns, *calls, *metrics;
    size_t mem;
};

static struct smo_mock *cur;

static void push(struct smo_mock *m, struct pending *p)
{
    p->next = NULL;
    *m->ptail = p;
    m->ptail = &p->next;
}

static bool log_enabled(smo_instance *self, int level)
{
    (void)self;
    (void)level;
    return true;
}

static void mlog(smo_instance *self, int level, const char *file, int line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void mlog(smo_instance *self, int level, const char *file, int line,
                 const char *fmt, ...)
{
    (void)self;
    (void)file;
    (void)line;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(cur->logs,
                          json_pack("{s:i, s:s}", "level", level, "msg", buf));
    if (getenv("SMO_MOCK_VERBOSE"))
        fprintf(stderr, "[mock log %d] %s\n", level, buf);
}

struct mhdr {
    size_t n;
    max_align_t a[];
};

static void *malloc_acc(smo_instance *self, size_t n)
{
    (void)self;
    struct mhdr *h = calloc(1, sizeof *h + n);
    if (!h)
        return NULL;
    h->n = n;
    cur->mem += n;
    return h->a;
}

static void free_acc(smo_instance *self, void *p)
{
    (void)self;
    if (!p)
        return;
    struct mhdr *h = (struct mhdr *)((char *)p - offsetof(struct mhdr, a));
    cur->mem -= h->n;
    free(h);
}

static const char *iname(smo_instance *self)
{
    (void)self;
    return "mock";
}

static const json_t *iconfig(smo_instance *self)
{
    (void)self;
    return NULL;
}

static const char *data_dir(smo_instance *self)
{
    (void)self;
    return cur->data_dir ? cur->data_dir : "/tmp";
}

static void *loop(smo_instance *self)
{
    (void)self;
    return NULL;
}

static uint64_t now_ms(smo_instance *self)
{
    (void)self;
    return cur->now;
}

static smo_timer *timer_start(smo_instance *self, uint64_t t, uint64_t rep,
                              smo_cb cb, void *arg)
{
    (void)self;
    smo_timer *tm = calloc(1, sizeof *tm);
    tm->due = cur->now + t;
    tm->repeat = rep;
    tm->cb = cb;
    tm->arg = arg;
    tm->active = true;
    tm->next = cur->timers;
    cur->timers = tm;
    return tm;
}

static void timer_stop(smo_timer *t)
{
    if (t)
        t->active = false;
}

static int defer(smo_instance *self, smo_cb cb, void *arg)
{
    (void)self;
    struct pending *p = calloc(1, sizeof *p);
    p->kind = P_DEFER;
    p->cb = cb;
    p->arg = arg;
    push(cur, p);
    return 0;
}

static int queue_work(smo_instance *self, smo_work_fn w, smo_after_fn a,
                      void *arg)
{
    (void)self;
    struct pending *p = calloc(1, sizeof *p);
    p->kind = P_WORK;
    p->work = w;
    p->after = a;
    p->arg = arg;
    push(cur, p);
    return 0;
}

static struct expect *take(struct expect *list, const char *method,
                           const char *url)
{
    for (struct expect *e = list; e; e = e->next)
        if (!e->used && strcmp(e->method, method) == 0 &&
            strncmp(url, e->prefix, strlen(e->prefix)) == 0) {
            e->used = true;
            return e;
        }
    return NULL;
}

static smo_http_call *http_request(smo_instance *self,
                                   const struct smo_http_request *req,
                                   smo_http_cb cb, void *arg, smo_status *st)
{
    (void)self;
    const char *method = req->method ? req->method : "GET";
    json_t *hdrs = json_array();
    for (const char *const *h = req->headers; h && *h; h++)
        json_array_append_new(hdrs, json_string(*h));
    json_t *rec = json_pack("{s:s, s:s, s:o}", "method", method, "url",
                            req->url, "headers", hdrs);
    if (req->body)
        json_object_set_new(
            rec, "body", json_stringn((const char *)req->body, req->body_len));
    if (req->bearer_token)
        json_object_set_new(rec, "bearer", json_string(req->bearer_token));
    if (req->basic_user)
        json_object_set_new(rec, "basic_user", json_string(req->basic_user));
    json_array_append_new(cur->requests, rec);
    struct pending *p = calloc(1, sizeof *p);
    p->kind = P_HTTP;
    p->http_cb = cb;
    p->arg = arg;
    p->url = strdup(req->url);
    struct expect *e = take(cur->http_exp, method, req->url);
    if (e) {
        p->status = e->status;
        p->body = strdup(e->body ? e->body : "");
        p->code = e->code;
    } else {
        p->code = SMO_EUNAVAIL;
    }
    push(cur, p);
    (void)st;
    return (smo_http_call *)p;
}

static void http_cancel(smo_http_call *c)
{
    ((struct pending *)c)->canceled = true;
}

static smo_proc *spawn(smo_instance *self, const struct smo_spawn_opts *o,
                       smo_spawn_cb cb, void *arg, smo_status *st)
{
    (void)self;
    json_t *argv = json_array();
    for (const char *const *a = o->argv; *a; a++)
        json_array_append_new(argv, json_string(*a));
    json_t *rec = json_pack("{s:o}", "argv", argv);
    if (o->stdin_data)
        json_object_set_new(
            rec, "stdin",
            json_stringn((const char *)o->stdin_data, o->stdin_len));
    json_array_append_new(cur->spawns, rec);
    const char *base = strrchr(o->argv[0], '/');
    base = base ? base + 1 : o->argv[0];
    struct expect *e = NULL;
    for (struct expect *x = cur->spawn_exp; x && !e; x = x->next)
        if (!x->used && strcmp(x->prog, base) == 0) {
            x->used = true;
            e = x;
        }
    if (!e) {
        smo_status_set(st, SMO_ENOENT, "cannot run %s: program not found",
                       o->argv[0]);
        return NULL;
    }
    struct pending *p = calloc(1, sizeof *p);
    p->kind = P_SPAWN;
    p->spawn_cb = cb;
    p->arg = arg;
    p->exit_status = e->exit_status;
    p->out = strdup(e->out ? e->out : "");
    p->err = strdup(e->err ? e->err : "");
    p->prog = strdup(o->argv[0]);
    push(cur, p);
    return (smo_proc *)p;
}

static int proc_kill(smo_proc *p, int sig)
{
    (void)p;
    (void)sig;
    return 0;
}

static int call(smo_instance *self, const char *method, json_t *params,
                smo_call_cb cb, void *arg)
{
    (void)self;
    json_array_append_new(cur->calls,
                          json_pack("{s:s, s:o}", "method", method, "params",
                                    params ? params : json_null()));
    struct pending *p = calloc(1, sizeof *p);
    p->kind = P_CALL;
    p->call_cb = cb;
    p->arg = arg;
    struct expect *e = NULL;
    for (struct expect *x = cur->call_exp; x && !e; x = x->next)
        if (!x->used && strcmp(x->method, method) == 0) {
            x->used = true;
            e = x;
        }
    if (e) {
        p->code = e->code;
        p->result = json_incref(e->result);
    } else
        p->code = SMO_ENOSYS;
    push(cur, p);
    return 0;
}

static smo_metric *metric_register(smo_instance *self, int type,
                                   const char *name, const char *help,
                                   const char *const *ln)
{
    (void)self;
    (void)type;
    (void)help;
    (void)ln;
    json_object_set_new(cur->metrics, name, json_real(0));
    return (smo_metric *)json_object_get(cur->metrics, name);
}

static void metric_add(smo_metric *mt, const char *const *lv, double v)
{
    (void)lv;
    json_t *j = (json_t *)mt;
    if (j)
        json_real_set(j, json_real_value(j) + v);
}

static void metric_set(smo_metric *mt, const char *const *lv, double v)
{
    (void)lv;
    if (mt)
        json_real_set((json_t *)mt, v);
}

static int event_emit(smo_instance *self, const char *type, const char *project,
                      const char *graph, json_t *data)
{
    (void)self;
    json_array_append_new(cur->events,
                          json_pack("{s:s, s:s?, s:s?, s:o}", "type", type,
                                    "project", project, "graph", graph, "data",
                                    data ? data : json_object()));
    return 0;
}

static int yaml_parse(const char *t, size_t n, json_t **out, smo_status *st)
{
    return smo__yaml_parse(t, n, NULL, out, st);
}

static int yaml_emit(smo_instance *self, const json_t *doc, char **out,
                     size_t *len, smo_status *st)
{
    char *tmp = NULL;
    size_t n = 0;
    int r = smo__yaml_emit(doc, &tmp, &n, st);
    if (r)
        return r;
    *out = malloc_acc(self, n + 1);
    memcpy(*out, tmp, n + 1);
    free(tmp);
    if (len)
        *len = n;
    return 0;
}

struct smo_mock *smo_mock_new(void)
{
    struct smo_mock *m = calloc(1, sizeof *m);
    cur = m;
    m->ptail = &m->pend;
    m->logs = json_array();
    m->events = json_array();
    m->requests = json_array();
    m->spawns = json_array();
    m->calls = json_array();
    m->metrics = json_object();
    struct smo_host *h = &m->host;
    h->size = sizeof *h;
    h->abi_major = SMO_ABI_MAJOR;
    h->abi_minor = SMO_ABI_MINOR;
    h->log_enabled = log_enabled;
    h->log = mlog;
    h->alloc = malloc_acc;
    h->free = free_acc;
    h->instance_name = iname;
    h->instance_config = iconfig;
    h->data_dir = data_dir;
    h->loop = loop;
    h->now_ms = now_ms;
    h->timer_start = timer_start;
    h->timer_stop = timer_stop;
    h->defer = defer;
    h->queue_work = queue_work;
    h->http_request = http_request;
    h->http_cancel = http_cancel;
    h->spawn = spawn;
    h->proc_kill = proc_kill;
    h->call = call;
    h->metric_register = metric_register;
    h->metric_add = metric_add;
    h->metric_set = metric_set;
    h->metric_observe = metric_set;
    h->event_emit = event_emit;
    h->yaml_parse = yaml_parse;
    h->yaml_emit = yaml_emit;
    h->parse_quantity = smo__parse_quantity;
    h->parse_duration = smo__parse_duration;
    h->check_dns_label = smo__check_dns_label;
    return m;
}

static void free_expects(struct expect *e)
{
    while (e) {
        struct expect *n = e->next;
        free(e->method);
        free(e->prefix);
        free(e->body);
        free(e->prog);
        free(e->out);
        free(e->err);
        json_decref(e->result);
        free(e);
        e = n;
    }
}

static void free_pending(struct pending *p)
{
    free(p->body);
    free(p->url);
    free(p->out);
    free(p->err);
    free(p->prog);
    json_decref(p->result);
    free(p);
}

void smo_mock_free(struct smo_mock *m)
{
    if (!m)
        return;
    while (m->pend) {
        struct pending *n = m->pend->next;
        free_pending(m->pend);
        m->pend = n;
    }
    while (m->timers) {
        struct smo_timer *n = m->timers->next;
        free(m->timers);
        m->timers = n;
    }
    free_expects(m->http_exp);
    free_expects(m->spawn_exp);
    free_expects(m->call_exp);
    json_decref(m->logs);
    json_decref(m->events);
    json_decref(m->requests);
    json_decref(m->spawns);
    json_decref(m->calls);
    json_decref(m->metrics);
    free(m->data_dir);
    if (cur == m)
        cur = NULL;
    free(m);
}

const struct smo_host *smo_mock_host(struct smo_mock *m)
{
    return &m->host;
}

smo_instance *smo_mock_self(struct smo_mock *m)
{
    return (smo_instance *)m->self_tag;
}

void smo_mock_set_data_dir(struct smo_mock *m, const char *dir)
{
    free(m->data_dir);
    m->data_dir = strdup(dir);
}

static void run_one(struct pending *p)
{
    smo_status st;
    smo_status_clear(&st);
    switch (p->kind) {
    case P_WORK:
        p->work(p->arg);
        if (p->after)
            p->after(p->arg, SMO_OK);
        break;
    case P_DEFER:
        p->cb(p->arg);
        break;
    case P_HTTP:
        if (p->canceled)
            break;
        if (p->code < 0) {
            smo_status_set(&st, p->code, "%s: mock transport failure", p->url);
            p->http_cb(p->arg, &st, NULL);
        } else {
            struct smo_http_response r;
            memset(&r, 0, sizeof r);
            r.size = sizeof r;
            r.status = p->status;
            json_t *h = json_object();
            r.headers = h;
            r.body = p->body;
            r.body_len = strlen(p->body);
            p->http_cb(p->arg, &st, &r);
            json_decref(h);
        }
        break;
    case P_SPAWN: {
        struct smo_spawn_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        r.exit_status = p->exit_status;
        r.out = p->out;
        r.out_len = strlen(p->out);
        r.err = p->err;
        r.err_len = strlen(p->err);
        if (p->exit_status)
            smo_status_set(&st, SMO_EEXTERNAL, "%s exited with status %lld",
                           p->prog, (long long)p->exit_status);
        p->spawn_cb(p->arg, &st, &r);
        break;
    }
    case P_CALL:
        if (p->code < 0)
            smo_status_set(&st, p->code, "mock call failed");
        p->call_cb(p->arg, &st, p->code < 0 ? NULL : json_incref(p->result));
        break;
    }
}

size_t smo_mock_run(struct smo_mock *m)
{
    size_t n = 0;
    for (int round = 0; round < 1000 && m->pend; round++) {
        struct pending *list = m->pend;
        m->pend = NULL;
        m->ptail = &m->pend;
        while (list) {
            struct pending *next = list->next;
            run_one(list);
            free_pending(list);
            list = next;
            n++;
        }
    }
    return n;
}

void smo_mock_advance(struct smo_mock *m, uint64_t ms)
{
    uint64_t target = m->now + ms;
    for (;;) {
        struct smo_timer *best = NULL;
        for (struct smo_timer *t = m->timers; t; t = t->next)
            if (t->active && t->due <= target && (!best || t->due < best->due))
                best = t;
        if (!best)
            break;
        m->now = best->due;
        if (best->repeat)
            best->due += best->repeat;
        else
            best->active = false;
        best->cb(best->arg);
        smo_mock_run(m);
    }
    m->now = target;
    smo_mock_run(m);
}

void smo_mock_http_expect(struct smo_mock *m, const char *method,
                          const char *url_prefix, long status, const char *body,
                          int code)
{
    struct expect *e = calloc(1, sizeof *e);
    e->method = strdup(method);
    e->prefix = strdup(url_prefix);
    e->status = status;
    e->body = body ? strdup(body) : NULL;
    e->code = code;
    struct expect **pp = &m->http_exp;
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
}

void smo_mock_spawn_expect(struct smo_mock *m, const char *prog,
                           int64_t exit_status, const char *out,
                           const char *err)
{
    struct expect *e = calloc(1, sizeof *e);
    e->prog = strdup(prog);
    e->exit_status = exit_status;
    e->out = out ? strdup(out) : NULL;
    e->err = err ? strdup(err) : NULL;
    struct expect **pp = &m->spawn_exp;
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
}

void smo_mock_call_expect(struct smo_mock *m, const char *method, int code,
                          json_t *result)
{
    struct expect *e = calloc(1, sizeof *e);
    e->method = strdup(method);
    e->code = code;
    e->result = result;
    struct expect **pp = &m->call_exp;
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
}

json_t *smo_mock_logs(struct smo_mock *m)
{
    return m->logs;
}
json_t *smo_mock_events(struct smo_mock *m)
{
    return m->events;
}
json_t *smo_mock_requests(struct smo_mock *m)
{
    return m->requests;
}
json_t *smo_mock_spawns(struct smo_mock *m)
{
    return m->spawns;
}
json_t *smo_mock_calls(struct smo_mock *m)
{
    return m->calls;
}

bool smo_mock_log_contains(struct smo_mock *m, const char *needle)
{
    size_t i;
    json_t *l;
    json_array_foreach(m->logs, i, l)
    {
        const char *s = json_string_value(json_object_get(l, "msg"));
        if (s && strstr(s, needle))
            return true;
    }
    return false;
}

size_t smo_mock_mem_in_use(struct smo_mock *m)
{
    return m->mem;
}
