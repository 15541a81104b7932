/* Metric registry rendered in the Prometheus text format. A mutex guards
 * it because solvers observe from the thread pool. */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_rt.h"

static const double default_buckets[] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BUCKETS (sizeof default_buckets / sizeof default_buckets[0])

struct series {
    char **lv;
    double value;
    uint64_t counts[N_BUCKETS];
    double sum;
    uint64_t count;
    struct series *next;
};

struct smo_metric {
    char *name, *help;
    int type;
    char **ln;
    size_t nl;
    struct series *series, **tail;
    struct smo__metrics *reg;
    struct smo_metric *next;
};

struct smo__metrics {
    pthread_mutex_t mu;
    struct smo_metric *fams, **tail;
};

struct smo__metrics *smo__metrics_new(void)
{
    struct smo__metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->tail = &m->fams;
    return m;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void smo__metrics_free(struct smo__metrics *m)
{
    if (!m)
        return;
    struct smo_metric *f = m->fams;
    while (f) {
        struct smo_metric *nf = f->next;
        struct series *s = f->series;
        while (s) {
            struct series *ns = s->next;
            free_strv(s->lv, f->nl);
            free(s);
            s = ns;
        }
        free_strv(f->ln, f->nl);
        free(f->name);
        free(f->help);
        free(f);
        f = nf;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_' ||
          (colon && s[0] == ':')))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || (colon && *p == ':')))
            return false;
    return true;
}

smo_metric *smo__metric_register(struct smo__metrics *m, int type,
                                 const char *name, const char *help,
                                 const char *const *label_names, smo_status *st)
{
    if (!m)
        return NULL;
    if (type < SMO_METRIC_COUNTER || type > SMO_METRIC_HISTOGRAM) {
        smo_status_set(st, SMO_EINVAL, "metric %s: unknown type %d",
                       name ? name : "?", type);
        return NULL;
    }
    if (!valid_name(name, true)) {
        smo_status_set(st, SMO_EINVAL, "invalid metric name \"%s\"",
                       name ? name : "");
        return NULL;
    }
    size_t nl = 0;
    if (label_names)
        for (; label_names[nl]; nl++)
            if (!valid_name(label_names[nl], false) ||
                strncmp(label_names[nl], "__", 2) == 0 ||
                (type == SMO_METRIC_HISTOGRAM &&
                 strcmp(label_names[nl], "le") == 0)) {
                smo_status_set(st, SMO_EINVAL,
                               "metric %s: invalid label name \"%s\"", name,
                               label_names[nl]);
                return NULL;
            }
    pthread_mutex_lock(&m->mu);
    for (struct smo_metric *f = m->fams; f; f = f->next) {
        if (strcmp(f->name, name) != 0)
            continue;
        bool same = f->type == type && f->nl == nl;
        for (size_t i = 0; same && i < nl; i++)
            same = strcmp(f->ln[i], label_names[i]) == 0;
        pthread_mutex_unlock(&m->mu);
        if (!same) {
            smo_status_set(st, SMO_EEXIST,
                           "metric %s already registered with another type or "
                           "labels",
                           name);
            return NULL;
        }
        return f;
    }
    struct smo_metric *f = calloc(1, sizeof *f);
    if (f) {
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        f->type = type;
        f->nl = nl;
        f->ln = calloc(nl + 1, sizeof *f->ln);
        for (size_t i = 0; i < nl; i++)
            f->ln[i] = strdup(label_names[i]);
        f->tail = &f->series;
        f->reg = m;
        *m->tail = f;
        m->tail = &f->next;
    }
    pthread_mutex_unlock(&m->mu);
    return f;
}

/* Caller holds the lock. */
static struct series *get_series(struct smo_metric *f, const char *const *lv)
{
    for (struct series *s = f->series; s; s = s->next) {
        bool same = true;
        for (size_t i = 0; same && i < f->nl; i++)
            same = strcmp(s->lv[i], lv && lv[i] ? lv[i] : "") == 0;
        if (same)
            return s;
    }
    struct series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->lv = calloc(f->nl + 1, sizeof *s->lv);
    for (size_t i = 0; i < f->nl; i++)
        s->lv[i] = strdup(lv && lv[i] ? lv[i] : "");
    *f->tail = s;
    f->tail = &s->next;
    return s;
}

void smo__metric_add(smo_metric *f, const char *const *lv, double v)
{
    if (!f || !(v >= 0 || f->type == SMO_METRIC_GAUGE))
        return;
    pthread_mutex_lock(&f->reg->mu);
    struct series *s = get_series(f, lv);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&f->reg->mu);
}

void smo__metric_set(smo_metric *f, const char *const *lv, double v)
{
    if (!f || f->type != SMO_METRIC_GAUGE)
        return;
    pthread_mutex_lock(&f->reg->mu);
    struct series *s = get_series(f, lv);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&f->reg->mu);
}

void smo__metric_observe(smo_metric *f, const char *const *lv, double v)
{
    if (!f || f->type != SMO_METRIC_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&f->reg->mu);
    struct series *s = get_series(f, lv);
    if (s) {
        for (size_t i = 0; i < N_BUCKETS; i++)
            if (v <= default_buckets[i])
                s->counts[i]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&f->reg->mu);
}

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n =
            vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return;
        b->p = np;
        b->cap = cap;
    }
}

static void sb_escaped(struct sbuf *b, const char *s, bool help)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_printf(b, "\\\\");
        else if (*s == '\n')
            sb_printf(b, "\\n");
        else if (*s == '"' && !help)
            sb_printf(b, "\\\"");
        else
            sb_printf(b, "%c", *s);
    }
}

static void sb_labels(struct sbuf *b, const struct smo_metric *f,
                      const struct series *s, const char *le)
{
    if (!f->nl && !le)
        return;
    sb_printf(b, "{");
    for (size_t i = 0; i < f->nl; i++) {
        sb_printf(b, "%s%s=\"", i ? "," : "", f->ln[i]);
        sb_escaped(b, s->lv[i], false);
        sb_printf(b, "\"");
    }
    if (le)
        sb_printf(b, "%sle=\"%s\"", f->nl ? "," : "", le);
    sb_printf(b, "}");
}

static void sb_value(struct sbuf *b, double v)
{
    if (isnan(v))
        sb_printf(b, " NaN\n");
    else if (isinf(v))
        sb_printf(b, " %s\n", v > 0 ? "+Inf" : "-Inf");
    else
        sb_printf(b, " %.17g\n", v);
}

char *smo__metrics_render(struct smo__metrics *m)
{
    struct sbuf b = {0};
    sb_printf(&b, "%s", "");
    pthread_mutex_lock(&m->mu);
    for (struct smo_metric *f = m->fams; f; f = f->next) {
        static const char *const tn[] = {"", "counter", "gauge", "histogram"};
        sb_printf(&b, "# HELP %s ", f->name);
        sb_escaped(&b, f->help, true);
        sb_printf(&b, "\n# TYPE %s %s\n", f->name, tn[f->type]);
        for (struct series *s = f->series; s; s = s->next) {
            if (f->type != SMO_METRIC_HISTOGRAM) {
                sb_printf(&b, "%s", f->name);
                sb_labels(&b, f, s, NULL);
                sb_value(&b, s->value);
                continue;
            }
            for (size_t i = 0; i < N_BUCKETS; i++) {
                char le[32];
                snprintf(le, sizeof le, "%g", default_buckets[i]);
                sb_printf(&b, "%s_bucket", f->name);
                sb_labels(&b, f, s, le);
                sb_value(&b, (double)s->counts[i]);
            }
            sb_printf(&b, "%s_bucket", f->name);
            sb_labels(&b, f, s, "+Inf");
            sb_value(&b, (double)s->count);
            sb_printf(&b, "%s_sum", f->name);
            sb_labels(&b, f, s, NULL);
            sb_value(&b, s->sum);
            sb_printf(&b, "%s_count", f->name);
            sb_labels(&b, f, s, NULL);
            sb_value(&b, (double)s->count);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return b.p;
}
