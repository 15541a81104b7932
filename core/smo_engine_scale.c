/* The scaling loop (docs/monitoring.md, "Scaling loop"): every
 * engine.scaling.interval, for each Running graph with scaling enabled and
 * no operation in flight, read each managed service's request rate from a
 * monitor, its current replicas and the clusters' capacity from the
 * executor, solve the scaling model on the solver (thread pool), and set
 * the replicas that differ, at most once per min_change_interval per
 * service. Demand that cannot be met is reported and, when configured,
 * starts a re-placement of the graph.
 *
 * Nothing here is hard-coded per service (the original's bug): the query
 * is a template with quoted placeholders, the capacity model and bounds
 * come from the descriptor's requestRate metric, engine.scaling.services
 * or engine.scaling's defaults, and can be fitted from observations.
 *
 * State is in memory only (samples, last change times, last decision):
 * after a restart the loop starts afresh from what the executor reports. */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smo_engine_int.h"
#include "smo_log.h"
#include "smo_scale_fit.h"

#define MAX_SAMPLES 512 /* per service: bounded memory whatever the window */
#define STATIC_CPU  1e9 /* a service without a cluster: no capacity bound */

struct sample {
    int64_t t_ms;
    double replicas, rate;
};

struct sc_svc {
    char *name;
    int64_t last_change_ms; /* 0: never changed by the loop */
    struct sample ring[MAX_SAMPLES];
    size_t n, head; /* head: next slot to write */
    struct sc_svc *next;
};

struct sc_graph {
    char *key; /* project/name */
    bool busy; /* a cycle is in flight */
    bool seen; /* in the last listing */
    bool failing;
    bool unmet;
    char *last_error;
    int64_t last_cycle_ms;
    int64_t last_replace_ms;
    uint64_t cycles;
    json_t *last; /* last decision (owned) */
    struct sc_svc *svcs;
    struct sc_graph *next;
};

struct smo__scaler {
    struct smo__engine *e; /* NULL once the engine is gone */
    smo_timer *timer;
    bool running;
    bool listing;
    size_t inflight; /* cycles and listings not yet called back */
    struct sc_graph *graphs;
    smo_metric *m_queries, *m_qfail, *m_decisions, *m_changes, *m_solve,
        *m_cycles;
};

/* A managed service's settings for one cycle, from the descriptor, then
 * engine.scaling.services, then engine.scaling. */
struct spec {
    const char *name;
    char *query; /* expanded PromQL, NULL when the template is bad */
    char *query_error;
    const char *cluster; /* NULL: static placement */
    double cpu;
    uint32_t gpu;
    uint32_t min, max, step;
    double alpha, beta;
    const char *model; /* where alpha/beta come from */
    bool managed;
    const char *why; /* not managed: why */
    /* filled by the cycle */
    double lambda;
    uint32_t prev;
    bool have_rate, have_prev;
    uint32_t decided;
    double unmet;
    const char *applied;
    int64_t prev_change_ms; /* restored when the change fails */
    struct smo__scale_fit fit;
    bool fit_ok;
    char fit_msg[160];
};

struct cycle {
    struct smo__scaler *sc;
    struct sc_graph *g;
    char *project, *name;
    json_t *doc; /* graph document (owned) */
    struct spec *s;
    size_t n; /* all services; managed ones have s[i].managed */
    size_t pending;
    json_t *errors; /* [{stage, service?, error}] */
    json_t *inventory;
    /* solve */
    smo_instance *solver;
    struct smo_scale_service *ps;
    size_t *idx; /* problem row -> s[] index */
    uint32_t np, nc;
    char **cnames;
    double *ccpu;
    uint32_t *cgpu;
    struct smo_scale_problem p;
    struct smo_scale_result r;
    int rc;
    uint64_t t0;
    size_t sets;
};

struct call {
    struct cycle *c;
    size_t i;
    int kind; /* 0 query, 1 replicas_get, 2 inventory, 3 replicas_set */
    uint32_t to;
};

static void cycle_end(struct cycle *c);

/* ------------------------------------------------------------ config -- */

static const struct smo__engine_cfg *cfg_of(struct smo__scaler *sc)
{
    return smo__engine_cfg(sc->e);
}

static bool truthy(const json_t *v, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (!s)
        return false;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
        *out = true;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
             !strcasecmp(s, "off"))
        *out = false;
    else
        return false;
    return true;
}

/* Descriptors are kept as written: numbers may be strings. */
static bool num(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return false;
    char *end;
    double d = strtod(s, &end);
    if (*end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static const json_t *hdag_of(const json_t *doc)
{
    return json_object_get(json_object_get(doc, "descriptor"), "hdaGraph");
}

/* Enabled by hdaGraphIntent.scaling (`{enabled: b}` or a boolean), else by
 * engine.scaling.enabled. */
static bool graph_enabled(struct smo__scaler *sc, const json_t *doc,
                          const char **by)
{
    const json_t *v = json_object_get(
        json_object_get(hdag_of(doc), "hdaGraphIntent"), "scaling");
    if (json_is_object(v))
        v = json_object_get(v, "enabled");
    bool b;
    if (v && truthy(v, &b)) {
        *by = "descriptor";
        return b;
    }
    *by = "config";
    return cfg_of(sc)->scale_enabled;
}

static const json_t *desc_service(const json_t *doc, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(hdag_of(doc), "services"), i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (id && !strcmp(id, name))
            return s;
    }
    return NULL;
}

/* The service's requestRate entry of deployment.intent.metrics. */
static const json_t *rate_metric(const json_t *dsvc)
{
    const json_t *m = json_object_get(
        json_object_get(json_object_get(dsvc, "deployment"), "intent"),
        "metrics");
    size_t i;
    json_t *x;
    json_array_foreach(m, i, x)
    {
        const char *k = json_string_value(json_object_get(x, "type"));
        if (!k)
            k = json_string_value(json_object_get(x, "name"));
        if (k &&
            (!strcasecmp(k, "requestRate") || !strcasecmp(k, "request_rate")))
            return x;
    }
    return NULL;
}

/* PromQL string literal: what SMO substitutes can never end the string
 * or the expression. */
static void put_quoted(char **buf, size_t *len, size_t *cap, const char *v);

static void put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 128;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void put_quoted(char **buf, size_t *len, size_t *cap, const char *v)
{
    put(buf, len, cap, "\"", 1);
    for (const char *p = v; *p; p++) {
        char esc[8];
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(buf, len, cap, esc, 2);
        } else if (ch == '\n')
            put(buf, len, cap, "\\n", 2);
        else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            put(buf, len, cap, esc, 4);
        } else
            put(buf, len, cap, p, 1);
    }
    put(buf, len, cap, "\"", 1);
}

static void fmt_duration(int64_t ms, char *b, size_t n)
{
    if (ms % 3600000 == 0)
        snprintf(b, n, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0)
        snprintf(b, n, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(b, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(b, n, "%lldms", (long long)ms);
}

/* Expand a query template: $service, $graph, $project (quoted string
 * literals), $window (a duration), $$ (a dollar). */
char *smo__scale_expand(const char *tmpl, const char *project,
                        const char *graph, const char *service,
                        int64_t window_ms, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    put(&buf, &len, &cap, "", 0);
    for (const char *p = tmpl; *p;) {
        if (*p != '$') {
            size_t n = strcspn(p, "$");
            put(&buf, &len, &cap, p, n);
            p += n;
            continue;
        }
        if (p[1] == '$') {
            put(&buf, &len, &cap, "$", 1);
            p += 2;
            continue;
        }
        size_t n = 0;
        while (isalnum((unsigned char)p[1 + n]) || p[1 + n] == '_')
            n++;
        if (n == 7 && !strncmp(p + 1, "service", 7))
            put_quoted(&buf, &len, &cap, service);
        else if (n == 5 && !strncmp(p + 1, "graph", 5))
            put_quoted(&buf, &len, &cap, graph);
        else if (n == 7 && !strncmp(p + 1, "project", 7))
            put_quoted(&buf, &len, &cap, project);
        else if (n == 6 && !strncmp(p + 1, "window", 6)) {
            char d[32];
            fmt_duration(window_ms, d, sizeof d);
            put(&buf, &len, &cap, d, strlen(d));
        } else {
            snprintf(err, errlen,
                     "query template: unknown placeholder \"$%.*s\" (known: "
                     "$service, $graph, $project, $window, $$)",
                     (int)(n > 40 ? 40 : n), p + 1);
            free(buf);
            return NULL;
        }
        p += 1 + n;
    }
    return buf;
}

static uint32_t clampu(double v, uint32_t lo, uint32_t hi)
{
    if (!(v >= lo))
        return lo;
    return v > hi ? hi : (uint32_t)v;
}

/* One service's settings. `gsvc` is the graph document's service. */
static void spec_build(struct smo__scaler *sc, const json_t *doc,
                       const json_t *gsvc, bool enabled, struct spec *s)
{
    const struct smo__engine_cfg *cfg = cfg_of(sc);
    memset(s, 0, sizeof *s);
    s->name = json_string_value(json_object_get(gsvc, "name"));
    s->cpu = json_number_value(json_object_get(gsvc, "cpu"));
    s->gpu = (uint32_t)json_integer_value(json_object_get(gsvc, "gpu"));
    s->cluster = json_string_value(
        json_object_get(json_object_get(doc, "placement"), s->name));
    const json_t *metric = rate_metric(desc_service(doc, s->name));
    const json_t *over = json_object_get(cfg->scale_services, s->name);
    const char *tmpl = json_string_value(json_object_get(metric, "promQuery"));
    if (!tmpl)
        tmpl = json_string_value(json_object_get(metric, "query"));
    if (!tmpl)
        tmpl = json_string_value(json_object_get(over, "query"));
    if (!tmpl)
        tmpl = cfg->scale_query;
    double d;
    s->alpha = cfg->scale_alpha;
    s->beta = cfg->scale_beta;
    s->model = "config";
    double mn = (double)cfg->scale_min_replicas,
           mx = (double)cfg->scale_max_replicas,
           st = (double)cfg->scale_max_step;
    if (over) {
        if (num(json_object_get(over, "alpha"), &d)) {
            s->alpha = d;
            s->model = "config.services";
        }
        if (num(json_object_get(over, "beta"), &d)) {
            s->beta = d;
            s->model = "config.services";
        }
        if (num(json_object_get(over, "min_replicas"), &d))
            mn = d;
        if (num(json_object_get(over, "max_replicas"), &d))
            mx = d;
        if (num(json_object_get(over, "max_step"), &d))
            st = d;
    }
    if (metric) {
        if (num(json_object_get(metric, "alpha"), &d) && d >= 0) {
            s->alpha = d;
            s->model = "descriptor";
        }
        if (num(json_object_get(metric, "beta"), &d)) {
            s->beta = d;
            s->model = "descriptor";
        }
        if (num(json_object_get(metric, "minReplicas"), &d))
            mn = d;
        if (num(json_object_get(metric, "maxReplicas"), &d))
            mx = d;
        if (num(json_object_get(metric, "maxStep"), &d))
            st = d;
    }
    s->min = clampu(mn, 1, 10000);
    s->max = clampu(mx, s->min, 10000);
    s->step = clampu(st, 0, 10000);
    const char *status = json_string_value(json_object_get(gsvc, "status"));
    if (!enabled)
        s->why = "scaling is not enabled for the graph";
    else if (!tmpl || !*tmpl)
        s->why = "no query: neither the descriptor nor engine.scaling has one";
    else if (!status || strcmp(status, "Deployed"))
        s->why = "not deployed";
    else
        s->managed = true;
    if (tmpl && *tmpl) {
        char err[200] = "";
        s->query = smo__scale_expand(
            tmpl, json_string_value(json_object_get(doc, "project")),
            json_string_value(json_object_get(doc, "name")), s->name,
            cfg->scale_window_ms, err, sizeof err);
        if (!s->query) {
            s->query_error = strdup(err);
            s->managed = false;
            s->why = "bad query template";
        }
    }
}

static void spec_free(struct spec *s)
{
    free(s->query);
    free(s->query_error);
}

/* ------------------------------------------------------------- state -- */

static struct sc_graph *graph_state(struct smo__scaler *sc, const char *key,
                                    bool create)
{
    for (struct sc_graph *g = sc->graphs; g; g = g->next)
        if (!strcmp(g->key, key))
            return g;
    if (!create)
        return NULL;
    struct sc_graph *g = calloc(1, sizeof *g);
    g->key = strdup(key);
    g->next = sc->graphs;
    sc->graphs = g;
    return g;
}

static struct sc_svc *svc_state(struct sc_graph *g, const char *name,
                                bool create)
{
    for (struct sc_svc *s = g->svcs; s; s = s->next)
        if (!strcmp(s->name, name))
            return s;
    if (!create)
        return NULL;
    struct sc_svc *s = calloc(1, sizeof *s);
    s->name = strdup(name);
    s->next = g->svcs;
    g->svcs = s;
    return s;
}

static void graph_free(struct sc_graph *g)
{
    while (g->svcs) {
        struct sc_svc *s = g->svcs;
        g->svcs = s->next;
        free(s->name);
        free(s);
    }
    json_decref(g->last);
    free(g->last_error);
    free(g->key);
    free(g);
}

static void add_sample(struct sc_svc *s, int64_t now, double r, double rate)
{
    s->ring[s->head] = (struct sample){now, r, rate};
    s->head = (s->head + 1) % MAX_SAMPLES;
    if (s->n < MAX_SAMPLES)
        s->n++;
}

/* Least squares over the samples younger than the window. */
static void fit_of(struct smo__scaler *sc, struct sc_svc *st, struct spec *s)
{
    const struct smo__engine_cfg *cfg = cfg_of(sc);
    s->fit_ok = false;
    if (!st) {
        snprintf(s->fit_msg, sizeof s->fit_msg, "no samples yet");
        memset(&s->fit, 0, sizeof s->fit);
        return;
    }
    static double x[MAX_SAMPLES], y[MAX_SAMPLES]; /* loop thread only */
    size_t n = 0;
    int64_t oldest = smo__now_ms() - cfg->scale_fit_window_ms;
    for (size_t i = 0; i < st->n; i++) {
        const struct sample *p = &st->ring[i];
        if (p->t_ms >= oldest) {
            x[n] = p->replicas;
            y[n] = p->rate;
            n++;
        }
    }
    s->fit_ok = smo__scale_fit(x, y, n, (size_t)cfg->scale_fit_min_samples,
                               &s->fit, s->fit_msg, sizeof s->fit_msg) == 0;
}

static json_t *fit_json(const struct spec *s)
{
    json_t *f = json_pack("{s:I, s:b}", "samples", (json_int_t)s->fit.n,
                          "usable", s->fit_ok);
    if (s->fit_ok || s->fit.alpha != 0 || s->fit.beta != 0) {
        json_object_set_new(f, "alpha", json_real(s->fit.alpha));
        json_object_set_new(f, "beta", json_real(s->fit.beta));
        json_object_set_new(f, "r2", json_real(s->fit.r2));
    }
    if (!s->fit_ok && s->fit_msg[0])
        json_object_set_new(f, "reason", json_string(s->fit_msg));
    return f;
}

/* --------------------------------------------------------- instances -- */

static smo_instance *monitor_of(struct smo__scaler *sc)
{
    const char *want = cfg_of(sc)->scale_monitor;
    for (smo_instance *i = smo__rt_first(sc->e->rt, SMO_KIND_MONITOR); i;
         i = smo__rt_next(i, SMO_KIND_MONITOR))
        if (i->plugin->ops.monitor.query && (!want || !strcmp(want, i->name)))
            return i;
    return NULL;
}

/* ------------------------------------------------------------ events -- */

static void event(struct smo__scaler *sc, const char *type, const char *key,
                  json_t *data)
{
    smo__engine_event(sc->e, type, key, data);
}

/* A failing cycle is recorded once per outage (an event for every
 * interval would flood the store); the metrics count every failure. */
static void cycle_failed(struct cycle *c, const char *stage, const char *msg)
{
    struct sc_graph *g = c->g;
    const char *lv[] = {"failed", NULL};
    smo__metric_add(c->sc->m_cycles, lv, 1);
    if (!g->failing || !g->last_error || strcmp(g->last_error, msg)) {
        smo__log(4, "scaling", "%s: %s: %s", g->key, stage, msg);
        if (!g->failing)
            event(c->sc, "scaling.failed", g->key,
                  json_pack("{s:s, s:s, s:O}", "stage", stage, "error", msg,
                            "errors", c->errors));
    }
    g->failing = true;
    free(g->last_error);
    g->last_error = strdup(msg);
}

/* ------------------------------------------------------------- cycle -- */

static void cycle_free(struct cycle *c)
{
    for (size_t i = 0; i < c->n; i++)
        spec_free(&c->s[i]);
    free(c->s);
    for (uint32_t k = 0; k < c->nc; k++)
        free(c->cnames[k]);
    free(c->cnames);
    free(c->ccpu);
    free(c->cgpu);
    free(c->ps);
    free(c->idx);
    free(c->r.replicas);
    free(c->r.unmet);
    json_decref(c->doc);
    json_decref(c->errors);
    json_decref(c->inventory);
    free(c->project);
    free(c->name);
    free(c);
}

static void scaler_release(struct smo__scaler *sc)
{
    if (--sc->inflight == 0 && !sc->e) {
        while (sc->graphs) {
            struct sc_graph *g = sc->graphs;
            sc->graphs = g->next;
            graph_free(g);
        }
        free(sc);
    }
}

static void cycle_end(struct cycle *c)
{
    struct smo__scaler *sc = c->sc;
    c->g->busy = false;
    cycle_free(c);
    scaler_release(sc);
}

static void add_error(struct cycle *c, const char *stage, const char *svc,
                      const char *msg)
{
    json_array_append_new(c->errors,
                          json_pack("{s:s, s:s?, s:s}", "stage", stage,
                                    "service", svc, "error", msg));
}

static void gathered(struct cycle *c);
static void applied(struct cycle *c);

static void on_call(void *arg, const smo_status *st, json_t *result)
{
    struct call *k = arg;
    struct cycle *c = k->c;
    struct smo__scaler *sc = c->sc;
    /* The engine is gone or stopping (instances cancel their calls):
     * only count down, record nothing. */
    if (!sc->e || !sc->running) {
        json_decref(result);
        free(k);
        if (--c->pending == 0)
            cycle_end(c);
        return;
    }
    struct spec *s = k->kind == 2 ? NULL : &c->s[k->i];
    if (k->kind == 0) {
        const char *lv[] = {st->code ? "error" : "ok", NULL};
        if (!st->code) {
            double sum = 0;
            bool nan = false;
            size_t i;
            json_t *x;
            json_array_foreach(json_object_get(result, "samples"), i, x)
            {
                json_t *v = json_object_get(x, "value");
                if (json_is_number(v))
                    sum += json_number_value(v);
                else
                    nan = true;
            }
            if (nan) {
                /* No data is not zero demand: decide nothing on it. */
                lv[0] = "nan";
                add_error(c, "query", s->name,
                          "the query's value is NaN or infinite (no data)");
            } else {
                /* An empty vector: no series, no requests. */
                s->lambda = sum;
                s->have_rate = true;
            }
        } else
            add_error(c, "query", s->name, st->msg);
        smo__metric_add(sc->m_queries, lv, 1);
        if (strcmp(lv[0], "ok"))
            smo__metric_add(sc->m_qfail, NULL, 1);
    } else if (k->kind == 1) {
        double d;
        if (st->code)
            add_error(c, "replicas", s->name, st->msg);
        else if (num(json_object_get(result, "desired"), &d) && d >= 0) {
            s->prev = (uint32_t)d;
            s->have_prev = true;
        } else
            add_error(c, "replicas", s->name,
                      "the executor gave no desired replica count");
    } else if (k->kind == 2) {
        if (st->code)
            add_error(c, "inventory", NULL, st->msg);
        else {
            json_decref(c->inventory);
            c->inventory = json_incref(result);
        }
    } else {
        bool up = k->to > s->prev;
        const char *lv[] = {up ? "up" : "down", st->code ? "failed" : "ok",
                            NULL};
        smo__metric_add(sc->m_changes, lv, 1);
        if (st->code) {
            s->applied = "failed";
            struct sc_svc *ss = svc_state(c->g, s->name, false);
            if (ss) /* nothing changed: the next cycle may try again */
                ss->last_change_ms = s->prev_change_ms;
            add_error(c, "replicas_set", s->name, st->msg);
            smo__log(4, "scaling", "%s: %s: cannot set %u replicas: %s",
                     c->g->key, s->name, k->to, st->msg);
        } else
            smo__log(6, "scaling", "%s: %s: %u -> %u replicas", c->g->key,
                     s->name, s->prev, k->to);
    }
    json_decref(result);
    int kind = k->kind;
    free(k);
    if (--c->pending)
        return;
    if (kind == 3)
        applied(c);
    else
        gathered(c);
}

static void issue(struct cycle *c, smo_instance *inst, int kind, size_t i,
                  uint32_t to)
{
    struct call *k = calloc(1, sizeof *k);
    k->c = c;
    k->i = i;
    k->kind = kind;
    k->to = to;
    smo_status st;
    smo_status_clear(&st);
    int r;
    c->pending++;
    const struct smo_executor_ops *x = &inst->plugin->ops.executor;
    switch (kind) {
    case 0:
        r = inst->plugin->ops.monitor.query(
            inst->state, c->s[i].query, cfg_of(c->sc)->scale_query_timeout_ms,
            on_call, k, &st);
        break;
    case 1:
        r = x->replicas_get(inst->state, c->project, c->s[i].name, on_call, k,
                            &st);
        break;
    case 2:
        r = x->inventory(inst->state, on_call, k, &st);
        break;
    default:
        r = x->replicas_set(inst->state, c->project, c->s[i].name, to, on_call,
                            k, &st);
        break;
    }
    if (r) {
        /* Refused at once: answered like a failed call (the issuing
         * holds a count of its own, so the cycle cannot end here). */
        if (!st.msg[0])
            smo_status_set(&st, r, "%s", smo_strerror(r));
        on_call(k, &st, NULL);
    }
}

/* Capacity of a cluster for the managed services on it: its free cpu
 * (minus what operations reserved) plus what those services use now. */
static void cluster_capacity(struct cycle *c, const char *name, double *cpu,
                             uint32_t *gpu)
{
    *cpu = 0;
    *gpu = 0;
    size_t i;
    json_t *cl;
    bool found = false;
    json_array_foreach(c->inventory, i, cl)
    {
        const char *n = json_string_value(json_object_get(cl, "name"));
        if (!n || strcmp(n, name))
            continue;
        found = json_is_true(json_object_get(cl, "ready")) &&
                !json_is_false(json_object_get(cl, "available"));
        if (!found)
            break;
        const json_t *cc = json_object_get(cl, "cpu");
        const json_t *gg = json_object_get(cl, "gpu");
        double f = json_number_value(json_object_get(cc, "allocatable")) -
                   json_number_value(json_object_get(cc, "allocated")) -
                   json_number_value(json_object_get(cc, "allocating"));
        double gf = json_number_value(json_object_get(gg, "allocatable")) -
                    json_number_value(json_object_get(gg, "allocated")) -
                    json_number_value(json_object_get(gg, "allocating"));
        *cpu = f > 0 ? f : 0;
        *gpu = gf > 0 ? (uint32_t)gf : 0;
        break;
    }
    for (struct smo__reservation *r = c->sc->e->reservations; found && r;
         r = r->next)
        if (!strcmp(r->cluster, name))
            *cpu = *cpu > r->cpu ? *cpu - r->cpu : 0;
    /* Unknown or unusable cluster: what runs there may stay or shrink. */
    for (size_t j = 0; j < c->n; j++) {
        const struct spec *s = &c->s[j];
        if (s->managed && s->cluster && !strcmp(s->cluster, name)) {
            *cpu += s->cpu * s->prev;
            *gpu += s->gpu * s->prev;
        }
    }
}

static void solve_work(void *arg)
{
    struct cycle *c = arg;
    c->rc = c->solver->plugin->ops.solver.scale(c->solver->state, &c->p, &c->r);
}

static const char *status_name(int s)
{
    switch (s) {
    case SMO_SOLVE_OPTIMAL:
        return "optimal";
    case SMO_SOLVE_FEASIBLE:
        return "feasible";
    case SMO_SOLVE_INFEASIBLE:
        return "infeasible";
    case SMO_SOLVE_TIMEOUT:
        return "timeout";
    default:
        return "error";
    }
}

static void on_replace(void *arg, const smo_status *st, json_t *result)
{
    char *key = arg;
    if (st->code)
        smo__log(4, "scaling", "%s: re-placement not started: %s", key,
                 st->msg);
    else
        smo__log(5, "scaling", "%s: re-placement started: %s", key,
                 json_string_value(json_object_get(result, "id")));
    json_decref(result);
    free(key);
}

static void maybe_replace(struct cycle *c, const char *why)
{
    struct smo__scaler *sc = c->sc;
    const struct smo__engine_cfg *cfg = cfg_of(sc);
    int64_t now = smo__now_ms();
    int64_t gap = cfg->scale_min_change_ms > cfg->scale_interval_ms
                      ? cfg->scale_min_change_ms
                      : cfg->scale_interval_ms;
    if (!cfg->scale_replace)
        return;
    if (c->g->last_replace_ms && now - c->g->last_replace_ms < gap)
        return;
    c->g->last_replace_ms = now;
    event(sc, "scaling.replace", c->g->key, json_pack("{s:s}", "reason", why));
    smo__call(sc->e->self, "graph.place",
              json_pack("{s:s, s:s}", "project", c->project, "name", c->name),
              on_replace, strdup(c->g->key));
}

/* The decision as the API and the events show it. */
static json_t *decision_json(struct cycle *c, const char *status)
{
    json_t *svcs = json_object();
    double total = 0;
    for (uint32_t j = 0; j < c->np; j++) {
        struct spec *s = &c->s[c->idx[j]];
        total += s->unmet;
        json_object_set_new(
            svcs, s->name,
            json_pack("{s:f, s:i, s:i, s:f, s:s, s:f, s:f, s:s, s:s?}",
                      "lambda", s->lambda, "current", (int)s->prev, "replicas",
                      (int)s->decided, "unmet", s->unmet, "applied",
                      s->applied ? s->applied : "none", "alpha", c->ps[j].alpha,
                      "beta", c->ps[j].beta, "model", s->model, "cluster",
                      s->cluster));
    }
    return json_pack("{s:I, s:s, s:f, s:f, s:f, s:s?, s:o}", "time_ms",
                     (json_int_t)smo__now_ms(), "status", status, "objective",
                     c->r.objective, "solve_ms", c->r.solve_ms, "unmet", total,
                     "reason", c->r.reason[0] ? c->r.reason : NULL, "services",
                     svcs);
}

static void solved(void *arg, int status)
{
    struct cycle *c = arg;
    struct smo__scaler *sc = c->sc;
    if (!sc->e || !sc->running || status == SMO_ECANCELED) {
        cycle_end(c);
        return;
    }
    double secs = (double)(uv_hrtime() - c->t0) / 1e9;
    smo__metric_observe(sc->m_solve, NULL, secs);
    const struct smo__engine_cfg *cfg = cfg_of(sc);
    struct sc_graph *g = c->g;
    char msg[700];
    if (c->rc < 0) {
        snprintf(msg, sizeof msg, "solver %s failed: %s", c->solver->name,
                 c->r.reason[0] ? c->r.reason : smo_strerror(c->rc));
        const char *lv[] = {"error", NULL};
        smo__metric_add(sc->m_decisions, lv, 1);
        cycle_failed(c, "solve", msg);
        cycle_end(c);
        return;
    }
    if (c->r.status != SMO_SOLVE_OPTIMAL && c->r.status != SMO_SOLVE_FEASIBLE) {
        /* Not even min replicas fit the clusters (or the solver gave up):
         * nothing is changed, and the graph may need other clusters. */
        const char *lv[] = {status_name(c->r.status), NULL};
        smo__metric_add(sc->m_decisions, lv, 1);
        for (uint32_t j = 0; j < c->np; j++)
            c->s[c->idx[j]].decided = c->s[c->idx[j]].prev;
        json_t *d = decision_json(c, status_name(c->r.status));
        if (!g->unmet)
            event(sc, "scaling.infeasible", g->key, json_incref(d));
        g->unmet = true;
        json_decref(g->last);
        g->last = d;
        g->failing = false;
        free(g->last_error);
        g->last_error = NULL;
        maybe_replace(c, c->r.reason[0] ? c->r.reason : "no feasible scaling");
        const char *cl[] = {"ok", NULL};
        smo__metric_add(sc->m_cycles, cl, 1);
        cycle_end(c);
        return;
    }
    int64_t now = smo__now_ms();
    smo_instance *ex = smo__engine_executor(sc->e);
    bool changed = false, held = false;
    for (uint32_t j = 0; j < c->np; j++) {
        struct spec *s = &c->s[c->idx[j]];
        /* The bounds are hard whatever the solver answered. */
        uint32_t r = c->r.replicas[j];
        r = r < s->min ? s->min : r > s->max ? s->max : r;
        s->decided = r;
        s->unmet = c->r.unmet[j] > 0 ? c->r.unmet[j] : 0;
        if (r == s->prev) {
            s->applied = "unchanged";
            continue;
        }
        struct sc_svc *st = svc_state(g, s->name, true);
        if (st->last_change_ms &&
            now - st->last_change_ms < cfg->scale_min_change_ms) {
            s->applied = "held";
            held = true;
            continue;
        }
        if (!ex || !ex->plugin->ops.executor.replicas_set) {
            s->applied = "failed";
            continue;
        }
        s->prev_change_ms = st->last_change_ms;
        st->last_change_ms = now;
        s->applied = "changed";
        changed = true;
        c->sets++;
    }
    const char *lv[] = {changed ? "changed"
                        : held  ? "held"
                                : "unchanged",
                        NULL};
    smo__metric_add(sc->m_decisions, lv, 1);
    if (!c->sets) {
        applied(c);
        return;
    }
    /* Set the replicas; applied() records the outcome when all answered. */
    c->pending = 1; /* the issuing itself */
    for (uint32_t j = 0; j < c->np; j++) {
        struct spec *s = &c->s[c->idx[j]];
        if (s->applied && !strcmp(s->applied, "changed"))
            issue(c, ex, 3, c->idx[j], s->decided);
    }
    if (--c->pending == 0)
        applied(c);
}

static bool changed_any(const struct cycle *c)
{
    for (uint32_t j = 0; j < c->np; j++) {
        const char *a = c->s[c->idx[j]].applied;
        if (a && (!strcmp(a, "changed") || !strcmp(a, "failed")))
            return true;
    }
    return false;
}

/* Same replicas decided for the same services as the previous decision. */
static bool same_targets(const json_t *prev, const json_t *d)
{
    const json_t *a = json_object_get(prev, "services"),
                 *b = json_object_get(d, "services");
    if (!a || json_object_size(a) != json_object_size(b))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v)
    {
        json_t *o = json_object_get(a, k);
        if (!o || json_integer_value(json_object_get(o, "replicas")) !=
                      json_integer_value(json_object_get(v, "replicas")))
            return false;
    }
    return true;
}

static void applied(struct cycle *c)
{
    struct smo__scaler *sc = c->sc;
    struct sc_graph *g = c->g;
    json_t *d = decision_json(c, status_name(c->r.status));
    double unmet = json_number_value(json_object_get(d, "unmet"));
    bool acted = false;
    for (uint32_t j = 0; j < c->np; j++) {
        const char *a = c->s[c->idx[j]].applied;
        if (a && strcmp(a, "unchanged"))
            acted = true;
    }
    /* One event per decision that changes (or wants to change)
     * something, a held one only when its targets are new; steady states
     * leave only the metrics. */
    if (acted && (changed_any(c) || !same_targets(g->last, d)))
        event(sc, "scaling.decision", g->key, json_incref(d));
    if (unmet > 0) {
        if (!g->unmet)
            event(sc, "scaling.unmet_demand", g->key,
                  json_pack("{s:f, s:O}", "unmet", unmet, "services",
                            json_object_get(d, "services")));
        g->unmet = true;
        maybe_replace(c, "demand exceeds what the maximum replicas serve");
    } else
        g->unmet = false;
    if (g->failing)
        event(sc, "scaling.recovered", g->key, NULL);
    g->failing = false;
    free(g->last_error);
    g->last_error = NULL;
    json_decref(g->last);
    g->last = d;
    const char *lv[] = {"ok", NULL};
    smo__metric_add(sc->m_cycles, lv, 1);
    cycle_end(c);
}

/* Every answer is in: check, sample, build the problem, solve. */
static void gathered(struct cycle *c)
{
    struct smo__scaler *sc = c->sc;
    struct smo__engine *e = sc->e;
    const struct smo__engine_cfg *cfg = cfg_of(sc);
    if (json_array_size(c->errors)) {
        json_t *first = json_array_get(c->errors, 0);
        char msg[600];
        const char *svc = json_string_value(json_object_get(first, "service"));
        snprintf(msg, sizeof msg, "%s%s%s", svc ? svc : "", svc ? ": " : "",
                 json_string_value(json_object_get(first, "error")));
        cycle_failed(c, json_string_value(json_object_get(first, "stage")),
                     msg);
        cycle_end(c);
        return;
    }
    int64_t now = smo__now_ms();
    c->ps = calloc(c->n ? c->n : 1, sizeof *c->ps);
    c->idx = calloc(c->n ? c->n : 1, sizeof *c->idx);
    c->cnames = calloc(c->n ? c->n : 1, sizeof *c->cnames);
    c->ccpu = calloc(c->n ? c->n : 1, sizeof *c->ccpu);
    c->cgpu = calloc(c->n ? c->n : 1, sizeof *c->cgpu);
    for (size_t i = 0; i < c->n; i++) {
        struct spec *s = &c->s[i];
        if (!s->managed)
            continue;
        struct sc_svc *st = svc_state(c->g, s->name, true);
        if (cfg->scale_fit) {
            add_sample(st, now, s->prev, s->lambda);
            fit_of(sc, st, s);
            if (cfg->scale_fit_apply && s->fit_ok) {
                s->alpha = s->fit.alpha;
                s->beta = s->fit.beta;
                s->model = "fitted";
            }
        }
        /* Clusters by name; "" stands for static placement (no bound). */
        const char *cn = s->cluster ? s->cluster : "";
        uint32_t k = 0;
        while (k < c->nc && strcmp(c->cnames[k], cn))
            k++;
        if (k == c->nc) {
            c->cnames[c->nc] = strdup(cn);
            if (*cn)
                cluster_capacity(c, cn, &c->ccpu[k], &c->cgpu[k]);
            else {
                c->ccpu[k] = STATIC_CPU;
                c->cgpu[k] = UINT32_MAX / 2;
            }
            c->nc++;
        }
        c->idx[c->np] = i;
        c->ps[c->np++] = (struct smo_scale_service){
            .id = s->name,
            .cluster = k,
            .cpu = s->cpu,
            .gpu = s->gpu,
            .min_replicas = s->min,
            .max_replicas = s->max,
            .prev = s->prev,
            .max_step = s->step,
            .alpha = s->alpha,
            .beta = s->beta,
            .lambda = s->lambda,
        };
    }
    c->p = (struct smo_scale_problem){
        .size = sizeof c->p,
        .n_services = c->np,
        .n_clusters = c->nc,
        .services = c->ps,
        .cluster_cpu = c->ccpu,
        .cluster_gpu = c->cgpu,
        .weights = {cfg->scale_w_util, cfg->scale_w_trans, cfg->scale_w_unmet},
        .time_limit_ms = cfg->scale_time_limit_ms,
    };
    c->r.size = sizeof c->r;
    c->r.replicas = calloc(c->np ? c->np : 1, sizeof *c->r.replicas);
    c->r.unmet = calloc(c->np ? c->np : 1, sizeof *c->r.unmet);
    c->solver = NULL;
    for (smo_instance *i = smo__engine_solver(e); i;
         i = smo__rt_next(i, SMO_KIND_SOLVER)) {
        if (i->plugin->ops.solver.scale) {
            c->solver = i;
            break;
        }
        if (cfg->solver) /* a named solver without scale: none */
            break;
    }
    if (!c->solver) {
        add_error(c, "solve", NULL, "no solver with a scale operation");
        cycle_failed(c, "solve", "no configured solver has a scale operation");
        cycle_end(c);
        return;
    }
    c->t0 = uv_hrtime();
    /* Queued as the solver's work, as placement does: a reload that stops
     * the solver waits for it or cancels it (solved() gets ECANCELED). */
    if (smo__queue_work(c->solver, solve_work, solved, c)) {
        cycle_failed(c, "solve", "cannot queue the solver's work");
        cycle_end(c);
    }
}

static void cycle_start(struct smo__scaler *sc, struct sc_graph *g, json_t *doc)
{
    struct smo__engine *e = sc->e;
    smo_instance *mon = monitor_of(sc);
    smo_instance *ex = smo__engine_executor(e);
    struct cycle *c = calloc(1, sizeof *c);
    c->sc = sc;
    c->g = g;
    c->doc = json_incref(doc);
    c->project = strdup(json_string_value(json_object_get(doc, "project")));
    c->name = strdup(json_string_value(json_object_get(doc, "name")));
    c->errors = json_array();
    const char *by;
    bool en = graph_enabled(sc, doc, &by);
    const json_t *svcs = json_object_get(doc, "services");
    c->n = json_array_size(svcs);
    c->s = calloc(c->n ? c->n : 1, sizeof *c->s);
    size_t managed = 0;
    for (size_t i = 0; i < c->n; i++) {
        spec_build(sc, doc, json_array_get(svcs, i), en, &c->s[i]);
        managed += c->s[i].managed;
    }
    g->busy = true;
    g->cycles++;
    g->last_cycle_ms = smo__now_ms();
    sc->inflight++;
    if (!managed) {
        cycle_end(c);
        return;
    }
    if (!mon || !ex || !ex->plugin->ops.executor.replicas_get ||
        !ex->plugin->ops.executor.replicas_set) {
        const char *why = !mon  ? "no monitor with queries is configured"
                          : !ex ? "no executor is configured"
                                : "the executor cannot read or set replicas";
        add_error(c, mon ? "replicas" : "query", NULL, why);
        cycle_failed(c, mon ? "replicas" : "query", why);
        cycle_end(c);
        return;
    }
    /* Everything is issued before any answer is counted (answers may be
     * immediate): pending starts at one for the issuing itself. */
    c->pending = 1;
    for (size_t i = 0; i < c->n; i++)
        if (c->s[i].managed) {
            issue(c, mon, 0, i, 0);
            issue(c, ex, 1, i, 0);
        }
    issue(c, ex, 2, 0, 0);
    if (--c->pending == 0)
        gathered(c);
}

/* ------------------------------------------------------------- ticks -- */

static void arm(struct smo__scaler *sc);

static void on_graphs(void *arg, const smo_status *st, json_t *items)
{
    struct smo__scaler *sc = arg;
    sc->listing = false;
    if (!sc->e) {
        json_decref(items);
        scaler_release(sc);
        return;
    }
    if (st->code) {
        smo__log(4, "scaling", "cannot list graphs: %s", st->msg);
        json_decref(items);
        scaler_release(sc);
        return;
    }
    for (struct sc_graph *g = sc->graphs; g; g = g->next)
        g->seen = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *doc = json_object_get(it, "doc");
        const char *p = json_string_value(json_object_get(doc, "project"));
        const char *n = json_string_value(json_object_get(doc, "name"));
        const char *status = json_string_value(json_object_get(doc, "status"));
        const char *by;
        if (!p || !n)
            continue;
        char key[300];
        snprintf(key, sizeof key, "%s/%s", p, n);
        struct sc_graph *g = graph_state(sc, key, false);
        if (g)
            g->seen = true;
        /* Operations own the graph while they run: never scale under
         * them (a re-placement reinstalls services). */
        if (!status || strcmp(status, "Running") ||
            json_object_get(doc, "operation") || sc->e->stopping ||
            !graph_enabled(sc, doc, &by))
            continue;
        if (!g) {
            g = graph_state(sc, key, true);
            g->seen = true;
        }
        if (!g->busy)
            cycle_start(sc, g, doc);
    }
    /* Graphs removed, stopped or disabled lose their state (samples
     * included); a busy one is kept until its cycle ends. */
    for (struct sc_graph **pp = &sc->graphs; *pp;) {
        struct sc_graph *g = *pp;
        if (!g->seen && !g->busy) {
            *pp = g->next;
            graph_free(g);
        } else
            pp = &g->next;
    }
    json_decref(items);
    scaler_release(sc);
}

static void tick(void *arg)
{
    struct smo__scaler *sc = arg;
    sc->timer = NULL;
    if (!sc->running || !sc->e || sc->e->stopping)
        return;
    arm(sc);
    smo_instance *store = smo__engine_store(sc->e);
    if (!store || sc->listing)
        return;
    sc->listing = true;
    sc->inflight++;
    smo_status st;
    smo_status_clear(&st);
    if (store->plugin->ops.store.list(store->state, SMO_COLL_GRAPH, NULL,
                                      on_graphs, sc, &st)) {
        sc->listing = false;
        sc->inflight--;
        smo__log(4, "scaling", "cannot list graphs: %s", st.msg);
    }
}

/* Re-armed at every tick so that a reload's new interval applies. */
static void arm(struct smo__scaler *sc)
{
    sc->timer = smo__timer_start(
        sc->e->self, (uint64_t)cfg_of(sc)->scale_interval_ms, 0, tick, sc);
}

/* --------------------------------------------------------- lifecycle -- */

void smo__scale_init(struct smo__engine *e)
{
    struct smo__scaler *sc = calloc(1, sizeof *sc);
    if (!sc)
        return;
    sc->e = e;
    struct smo__metrics *m = e->rt->metrics;
    static const char *const l_res[] = {"result", NULL};
    static const char *const l_chg[] = {"direction", "result", NULL};
    sc->m_queries = smo__metric_register(
        m, SMO_METRIC_COUNTER, "smo_scaling_queries_total",
        "Request-rate queries of the scaling loop by result (ok, error, "
        "nan).",
        l_res, NULL);
    sc->m_qfail = smo__metric_register(
        m, SMO_METRIC_COUNTER, "smo_scaling_query_failures_total",
        "Request-rate queries that gave no usable value.", NULL, NULL);
    sc->m_decisions = smo__metric_register(
        m, SMO_METRIC_COUNTER, "smo_scaling_decisions_total",
        "Scaling decisions by outcome (changed, held, unchanged, infeasible, "
        "timeout, error).",
        l_res, NULL);
    sc->m_changes = smo__metric_register(
        m, SMO_METRIC_COUNTER, "smo_scaling_replica_changes_total",
        "Replica changes asked of the executor.", l_chg, NULL);
    sc->m_solve = smo__metric_register(
        m, SMO_METRIC_HISTOGRAM, "smo_scaling_solve_seconds",
        "Time spent in the scaling solver.", NULL, NULL);
    sc->m_cycles = smo__metric_register(
        m, SMO_METRIC_COUNTER, "smo_scaling_cycles_total",
        "Scaling cycles of a graph by result (ok, failed).", l_res, NULL);
    e->scaler = sc;
}

void smo__scale_start(struct smo__engine *e)
{
    struct smo__scaler *sc = e->scaler;
    if (!sc || sc->running)
        return;
    sc->running = true;
    arm(sc);
}

void smo__scale_stop(struct smo__engine *e)
{
    struct smo__scaler *sc = e->scaler;
    if (!sc)
        return;
    sc->running = false;
    smo__timer_stop(sc->timer);
    sc->timer = NULL;
}

void smo__scale_free(struct smo__engine *e)
{
    struct smo__scaler *sc = e->scaler;
    if (!sc)
        return;
    smo__scale_stop(e);
    e->scaler = NULL;
    sc->e = NULL;
    /* Calls in flight still hold it: the last answer frees it. */
    sc->inflight++;
    scaler_release(sc);
}

/* ------------------------------------------------------------- API -- */

struct api_ctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    char *name;
    char *project;
};

static json_t *graph_report(struct smo__scaler *sc, const json_t *doc)
{
    const struct smo__engine_cfg *cfg = cfg_of(sc);
    const char *by;
    bool en = graph_enabled(sc, doc, &by);
    char key[300];
    snprintf(key, sizeof key, "%s/%s",
             json_string_value(json_object_get(doc, "project")),
             json_string_value(json_object_get(doc, "name")));
    struct sc_graph *g = graph_state(sc, key, false);
    json_t *svcs = json_object();
    const json_t *last = g ? json_object_get(g->last, "services") : NULL;
    size_t i;
    json_t *gs;
    json_array_foreach(json_object_get(doc, "services"), i, gs)
    {
        struct spec s;
        spec_build(sc, doc, gs, en, &s);
        if (!s.name) {
            spec_free(&s);
            continue;
        }
        struct sc_svc *st = g ? svc_state(g, s.name, false) : NULL;
        fit_of(sc, st, &s);
        json_t *o = json_pack(
            "{s:b, s:s?, s:s?, s:{s:f, s:f, s:s}, s:i, s:i, s:i, s:o}",
            "managed", s.managed, "reason", s.managed ? NULL : s.why, "query",
            s.query, "model", "alpha", s.alpha, "beta", s.beta, "source",
            s.model, "min_replicas", (int)s.min, "max_replicas", (int)s.max,
            "max_step", (int)s.step, "fit", fit_json(&s));
        if (s.query_error)
            json_object_set_new(o, "query_error", json_string(s.query_error));
        if (cfg->scale_fit_apply && s.fit_ok) {
            json_t *m = json_object_get(o, "model");
            json_object_set_new(m, "alpha", json_real(s.fit.alpha));
            json_object_set_new(m, "beta", json_real(s.fit.beta));
            json_object_set_new(m, "source", json_string("fitted"));
        }
        if (st && st->last_change_ms)
            json_object_set_new(o, "last_change_ms",
                                json_integer(st->last_change_ms));
        json_t *l = json_object_get(last, s.name);
        if (l)
            json_object_set(o, "last", l);
        json_object_set_new(svcs, s.name, o);
        spec_free(&s);
    }
    json_t *out = json_pack(
        "{s:s, s:b, s:s, s:I, s:I, s:b, s:b, s:o}", "graph", key, "enabled", en,
        "enabled_by", by, "interval_ms", (json_int_t)cfg->scale_interval_ms,
        "min_change_interval_ms", (json_int_t)cfg->scale_min_change_ms, "fit",
        cfg->scale_fit, "fit_applied", cfg->scale_fit_apply, "services", svcs);
    json_object_set_new(out, "cycles",
                        json_integer(g ? (json_int_t)g->cycles : 0));
    json_object_set_new(out, "failing", json_boolean(g && g->failing));
    json_object_set_new(out, "unmet_demand", json_boolean(g && g->unmet));
    if (g && g->last_error)
        json_object_set_new(out, "last_error", json_string(g->last_error));
    if (g && g->last_cycle_ms)
        json_object_set_new(out, "last_cycle_ms",
                            json_integer(g->last_cycle_ms));
    json_object_set_new(out, "last_decision",
                        g && g->last ? json_incref(g->last) : json_null());
    return out;
}

static void on_api_found(void *arg, const smo_status *st, json_t *items)
{
    struct api_ctx *c = arg;
    struct smo__engine *e = c->rt->engine;
    if (st->code)
        smo__reply_err(c->reply, st->code, "%s", st->msg);
    else if (!e || !e->scaler)
        smo__reply_err(c->reply, SMO_EUNAVAIL, "the engine is not running");
    else if (json_array_size(items) == 0)
        smo__reply_err(c->reply, SMO_ENOENT, "graph %s%s%s not found", c->name,
                       c->project ? " in project " : "",
                       c->project ? c->project : "");
    else if (json_array_size(items) > 1)
        smo__reply_err(c->reply, SMO_ECONFLICT,
                       "graph %s exists in several projects: give the "
                       "project",
                       c->name);
    else
        smo__reply_ok(
            c->reply,
            graph_report(e->scaler,
                         json_object_get(json_array_get(items, 0), "doc")));
    json_decref(items);
    free(c->name);
    free(c->project);
    free(c);
}

/* graph.scaling {name, project?}: the loop's view of one graph. */
static void m_scaling(struct smo_rt *rt, json_t *params,
                      struct smo__reply *reply)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    const char *project = json_string_value(json_object_get(params, "project"));
    if (!name || !*name) {
        smo__reply_err(reply, SMO_EINVAL, "name: required");
        return;
    }
    smo_instance *st = rt->engine ? smo__engine_store(rt->engine) : NULL;
    if (!st || !rt->engine->scaler) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    struct api_ctx *c = calloc(1, sizeof *c);
    c->rt = rt;
    c->reply = reply;
    c->name = strdup(name);
    c->project = project ? strdup(project) : NULL;
    json_t *f = json_pack("{s:s}", "name", name);
    if (project)
        json_object_set_new(f, "project", json_string(project));
    smo_status s;
    smo_status_clear(&s);
    if (st->plugin->ops.store.list(st->state, SMO_COLL_GRAPH, f, on_api_found,
                                   c, &s)) {
        smo__reply_err(reply, s.code, "%s", s.msg);
        free(c->name);
        free(c->project);
        free(c);
    }
    json_decref(f);
}

void smo__scale_methods_register(struct smo_rt *rt)
{
    smo__method_register(rt, "graph.scaling", m_scaling);
}
