/* From a graph model and the executor's inventory to a placement: usable
 * clusters and their free capacity (minus what in-flight operations have
 * reserved), the solver problem (allowed clusters, connections with latency
 * bounds, co-location groups, prices), a prefilter that explains why a
 * service cannot go anywhere, the solver run on the thread pool, and the
 * Helm values each placed service gets. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_engine_int.h"
#include "smo_log.h"
#include "smo_units.h"

/* ------------------------------------------------------ reservations -- */

void smo__reserve(struct smo__engine *e, const char *op, const char *service,
                  const char *cluster, double cpu, double memory, double gpu)
{
    struct smo__reservation *r = calloc(1, sizeof *r);
    r->op = strdup(op);
    r->service = strdup(service);
    r->cluster = strdup(cluster);
    r->cpu = cpu;
    r->memory = memory;
    r->gpu = gpu;
    r->next = e->reservations;
    e->reservations = r;
}

static void res_free(struct smo__reservation *r)
{
    free(r->op);
    free(r->service);
    free(r->cluster);
    free(r);
}

/* The service is installed: an executor that counts its own releases now
 * reports it in `allocated`; for the others keep it a while longer. */
void smo__reservation_settle(struct smo__engine *e, const char *op,
                             const char *service, bool executor_counts)
{
    uint64_t window = (uint64_t)smo__engine_cfg(e)->pending_window_ms;
    for (struct smo__reservation **pp = &e->reservations; *pp;) {
        struct smo__reservation *r = *pp;
        if (!strcmp(r->op, op) && !strcmp(r->service, service)) {
            if (executor_counts || window == 0) {
                *pp = r->next;
                res_free(r);
                continue;
            }
            r->until_ms = (uint64_t)smo__now_ms() + window;
        }
        pp = &r->next;
    }
}

/* The operation ended: reservations not waiting out a window go. */
void smo__reservations_release(struct smo__engine *e, const char *op)
{
    for (struct smo__reservation **pp = &e->reservations; *pp;) {
        struct smo__reservation *r = *pp;
        if (!strcmp(r->op, op) && r->until_ms == 0) {
            *pp = r->next;
            res_free(r);
        } else
            pp = &r->next;
    }
}

void smo__reservations_free(struct smo__engine *e)
{
    while (e->reservations) {
        struct smo__reservation *r = e->reservations;
        e->reservations = r->next;
        res_free(r);
    }
}

/* --------------------------------------------------------- clusters -- */

void smo__place_input_free(struct smo__place_input *in)
{
    for (size_t i = 0; i < in->n_clusters; i++)
        free(in->names[i]);
    free(in->names);
    free(in->clusters);
    json_decref(in->excluded);
    memset(in, 0, sizeof *in);
}

static double res_val(const json_t *c, const char *res, const char *k)
{
    return json_number_value(json_object_get(json_object_get(c, res), k));
}

static double label_num(const json_t *c, const char *label)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(c, "labels"), label));
    if (!v)
        return 0;
    char *end;
    double d = strtod(v, &end);
    return *end || !isfinite(d) || d < 0 ? 0 : d;
}

int smo__place_input_build(struct smo__engine *e, const json_t *inventory,
                           const char *op, bool energy,
                           struct smo__place_input *in, smo_status *st)
{
    memset(in, 0, sizeof *in);
    in->excluded = json_object();
    size_t n = json_array_size(inventory);
    in->clusters = calloc(n ? n : 1, sizeof *in->clusters);
    in->names = calloc(n ? n : 1, sizeof *in->names);
    uint64_t now = (uint64_t)smo__now_ms();
    size_t i;
    json_t *c;
    json_array_foreach(inventory, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!name)
            continue;
        if (!json_is_true(json_object_get(c, "ready"))) {
            json_object_set_new(in->excluded, name, json_string("not ready"));
            continue;
        }
        if (json_is_false(json_object_get(c, "available"))) {
            const char *why = json_string_value(json_object_get(c, "reason"));
            json_object_set_new(
                in->excluded, name,
                json_string(why && *why ? why : "no resource summary"));
            continue;
        }
        struct smo_place_cluster *pc = &in->clusters[in->n_clusters];
        in->names[in->n_clusters] = strdup(name);
        pc->name = in->names[in->n_clusters];
        double alloc = res_val(c, "cpu", "allocatable");
        double used =
            res_val(c, "cpu", "allocated") + res_val(c, "cpu", "allocating");
        double mem_free = res_val(c, "memory", "allocatable") -
                          res_val(c, "memory", "allocated") -
                          res_val(c, "memory", "allocating");
        double gpu_free = res_val(c, "gpu", "allocatable") -
                          res_val(c, "gpu", "allocated") -
                          res_val(c, "gpu", "allocating");
        for (struct smo__reservation *r = e->reservations; r; r = r->next) {
            if (strcmp(r->cluster, name) || (op && !strcmp(r->op, op)))
                continue;
            if (r->until_ms && r->until_ms < now)
                continue;
            used += r->cpu;
            mem_free -= r->memory;
            gpu_free -= r->gpu;
        }
        pc->cpu_alloc = alloc;
        pc->cpu_used = used;
        pc->cpu_free = alloc - used > 0 ? alloc - used : 0;
        pc->memory_free = mem_free > 0 ? (uint64_t)mem_free : 0;
        pc->gpu_free = gpu_free > 0 ? (uint32_t)gpu_free : 0;
        pc->price = label_num(c, energy ? "smo.io/carbon-intensity"
                                        : "smo.io/cost-per-core");
        in->n_clusters++;
    }
    if (!in->n_clusters) {
        char why[400] = "";
        size_t o = 0;
        const char *k;
        json_t *v;
        json_object_foreach(in->excluded, k, v)
        {
            if (o > 300)
                break;
            o += (size_t)snprintf(why + o, sizeof why - o, "%s%s: %s",
                                  o ? "; " : "", k, json_string_value(v));
        }
        return smo_status_set(st, SMO_EINFEASIBLE,
                              "no usable cluster in the inventory%s%s%s",
                              o ? " (" : "", why, o ? ")" : "");
    }
    return 0;
}

/* ----------------------------------------------------------- problem -- */

struct place_job {
    struct smo__engine *e;
    smo_instance *solver;
    struct smo__place_input in;
    struct smo_place_problem p;
    struct smo_place_service *svcs;
    struct smo_place_edge *edges;
    uint8_t *allowed;
    double *latency;
    int32_t *current;
    int32_t *assignment;
    struct smo_place_result r;
    int rc;
    json_t *explain; /* per service: {chosen, excluded: {cluster: why}} */
    smo__place_cb cb;
    void *arg;
    uint64_t t0;
};

static int32_t cluster_index(const struct smo__place_input *in,
                             const char *name)
{
    for (size_t i = 0; name && i < in->n_clusters; i++)
        if (!strcmp(in->names[i], name))
            return (int32_t)i;
    return -1;
}

static int32_t service_index(const struct smo__hdag *h, const char *id)
{
    for (size_t i = 0; i < h->n_services; i++)
        if (!strcmp(h->services[i].id, id))
            return (int32_t)i;
    return -1;
}

static bool in_list(const char **list, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], x))
            return true;
    return false;
}

static double latency_between(struct smo__engine *e, const json_t *inventory,
                              const char *a, const char *b)
{
    if (!strcmp(a, b))
        return 0;
    const json_t *cfg = smo__engine_cfg(e)->latency;
    char key[300];
    snprintf(key, sizeof key, "%s|%s", a, b);
    const json_t *v = json_object_get(cfg, key);
    if (!v) {
        snprintf(key, sizeof key, "%s|%s", b, a);
        v = json_object_get(cfg, key);
    }
    if (v)
        return json_number_value(v);
    /* A label on either cluster: smo.io/latency-<other>: "20". */
    size_t i;
    json_t *c;
    json_array_foreach(inventory, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *other = !strcmp(name, a) ? b : !strcmp(name, b) ? a : NULL;
        if (!other)
            continue;
        char lab[300];
        snprintf(lab, sizeof lab, "smo.io/latency-%s", other);
        double d = label_num(c, lab);
        if (d > 0)
            return d;
    }
    return -1; /* unknown */
}

static void fmt_cores(char *b, size_t n, double v)
{
    snprintf(b, n, "%.3g", v);
}

/* Why service i cannot use cluster c on its own, or NULL. */
static const char *exclusion(const struct smo__hdag_service *s,
                             const struct smo_place_cluster *c, char *buf,
                             size_t n)
{
    double r = s->replicas ? s->replicas : 1;
    char need[32], have[32];
    if (s->res.gpu * r > c->gpu_free) {
        snprintf(buf, n, "needs %u GPU%s x %u replica%s; %u free", s->res.gpu,
                 s->res.gpu == 1 ? "" : "s", s->replicas,
                 s->replicas == 1 ? "" : "s", c->gpu_free);
        return buf;
    }
    if (s->res.cpu * r > c->cpu_free + 1e-9) {
        fmt_cores(need, sizeof need, s->res.cpu);
        fmt_cores(have, sizeof have, c->cpu_free);
        snprintf(buf, n, "needs %s cores x %u replica%s; %s free", need,
                 s->replicas, s->replicas == 1 ? "" : "s", have);
        return buf;
    }
    if ((double)s->res.memory * r > (double)c->memory_free) {
        smo__format_bytes(s->res.memory, need, sizeof need);
        smo__format_bytes(c->memory_free, have, sizeof have);
        snprintf(buf, n, "needs %s memory x %u replica%s; %s free", need,
                 s->replicas, s->replicas == 1 ? "" : "s", have);
        return buf;
    }
    return NULL;
}

static void job_free(struct place_job *j)
{
    smo__place_input_free(&j->in);
    free(j->svcs);
    free(j->edges);
    free(j->allowed);
    free(j->latency);
    free(j->current);
    free(j->assignment);
    json_decref(j->explain);
    free(j);
}

static void solve_work(void *arg)
{
    struct place_job *j = arg;
    j->rc = j->solver->plugin->ops.solver.place(j->solver->state, &j->p, &j->r);
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

static void solve_done(void *arg, int status)
{
    struct place_job *j = arg;
    struct smo__engine *e = j->e;
    double secs = (double)(uv_hrtime() - j->t0) / 1e9;
    smo__metric_observe(e->m_solve, NULL, secs);
    smo_status st;
    smo_status_clear(&st);
    json_t *placement = NULL, *detail = NULL;
    if (status == SMO_ECANCELED)
        smo_status_set(&st, SMO_ECANCELED, "the solver stopped");
    else if (j->rc < 0)
        smo_status_set(&st, j->rc, "solver %s failed: %s", j->solver->name,
                       j->r.reason[0] ? j->r.reason : smo_strerror(j->rc));
    else if (j->r.status == SMO_SOLVE_INFEASIBLE)
        smo_status_set(&st, SMO_EINFEASIBLE, "no placement exists: %s",
                       j->r.reason[0] ? j->r.reason : "(no reason given)");
    else if (j->r.status == SMO_SOLVE_TIMEOUT)
        smo_status_set(&st, SMO_ETIMEDOUT,
                       "the solver found no placement within %lld ms",
                       (long long)j->p.time_limit_ms);
    else if (j->r.status != SMO_SOLVE_OPTIMAL &&
             j->r.status != SMO_SOLVE_FEASIBLE)
        smo_status_set(&st, SMO_EIO, "solver %s: %s", j->solver->name,
                       j->r.reason[0] ? j->r.reason : "solver error");
    else {
        /* Check what came back: a solver bug must not deploy nonsense. */
        placement = json_object();
        for (uint32_t i = 0; i < j->p.n_services; i++) {
            int32_t c = j->assignment[i];
            if (c < 0 || (uint32_t)c >= j->p.n_clusters ||
                (j->svcs[i].allowed && !j->svcs[i].allowed[c])) {
                smo_status_set(&st, SMO_EIO,
                               "solver %s returned an invalid cluster for %s",
                               j->solver->name, j->svcs[i].id);
                json_decref(placement);
                placement = NULL;
                break;
            }
            json_object_set_new(placement, j->svcs[i].id,
                                json_string(j->in.names[c]));
            json_object_set_new(json_object_get(j->explain, j->svcs[i].id),
                                "chosen", json_string(j->in.names[c]));
        }
    }
    detail = json_pack(
        "{s:s, s:s, s:f, s:f, s:{s:f, s:f, s:f, s:f}, s:f, s:O, s:O}", "solver",
        j->solver->name, "status", status_name(j->r.status), "objective",
        j->r.objective, "gap", j->r.gap, "terms", "net", j->r.terms.net,
        "balance", j->r.terms.balance, "move", j->r.terms.move, "cost",
        j->r.terms.cost, "solve_ms", j->r.solve_ms, "services", j->explain,
        "excluded_clusters", j->in.excluded);
    /* The bound behind the gap, and the solver's note on an answer (why
     * it stopped: time limit, gap target...). */
    json_object_set_new(detail, "bound", json_real(j->r.bound));
    if (!st.code && j->r.reason[0])
        json_object_set_new(detail, "note", json_string(j->r.reason));
    j->cb(j->arg, &st, placement, detail);
    job_free(j);
}

int smo__place_graph(struct smo__engine *e, const struct smo__hdag *h,
                     const json_t *inventory, const json_t *current,
                     const json_t *deployed, const char *only, const char *op,
                     smo__place_cb cb, void *arg, smo_status *st)
{
    smo_instance *solver = smo__engine_solver(e);
    if (!solver)
        return smo_status_set(st, SMO_EUNAVAIL,
                              "no solver instance is configured");
    struct place_job *j = calloc(1, sizeof *j);
    j->e = e;
    j->solver = solver;
    j->cb = cb;
    j->arg = arg;
    if (smo__place_input_build(e, inventory, op, h->energy_efficiency, &j->in,
                               st)) {
        job_free(j);
        return st->code;
    }
    size_t ns = h->n_services, nc = j->in.n_clusters;
    j->svcs = calloc(ns, sizeof *j->svcs);
    j->allowed = calloc(ns * nc, 1);
    j->current = malloc(ns * sizeof *j->current);
    j->assignment = calloc(ns, sizeof *j->assignment);
    j->explain = json_object();
    /* Capacity of this graph's own deployed services comes back to it:
     * they are being placed again. */
    for (size_t i = 0; i < ns; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        const char *cur = json_string_value(json_object_get(current, s->id));
        int32_t ci = cluster_index(&j->in, cur);
        j->current[i] = ci;
        if (ci >= 0 && json_is_true(json_object_get(deployed, s->id))) {
            double r = s->replicas;
            struct smo_place_cluster *c = &j->in.clusters[ci];
            c->cpu_free += s->res.cpu * r;
            c->cpu_used -= s->res.cpu * r;
            c->memory_free += (uint64_t)((double)s->res.memory * r);
            c->gpu_free += (uint32_t)(s->res.gpu * r);
        }
    }
    /* Services, with what each may use and why not. */
    for (size_t i = 0; i < ns; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        struct smo_place_service *ps = &j->svcs[i];
        ps->id = s->id;
        ps->cpu = s->res.cpu;
        ps->memory = s->res.memory;
        ps->gpu = s->res.gpu;
        ps->replicas = s->replicas;
        ps->current = j->current[i];
        ps->allowed = j->allowed + i * nc;
        ps->coloc = -1;
        bool fixed = only && strcmp(only, s->id) != 0;
        if (fixed) {
            /* Others stay where they are; their capacity is already in
             * the inventory, so they weigh nothing here. */
            ps->cpu = 0;
            ps->memory = 0;
            ps->gpu = 0;
        }
        json_t *ex = json_object();
        size_t n_ok = 0;
        for (size_t c = 0; c < nc; c++) {
            const char *cname = j->in.names[c];
            char buf[256];
            const char *why = NULL;
            if (fixed && j->current[i] >= 0 && (int32_t)c != j->current[i])
                why = "stays on its current cluster";
            else if (s->n_clusters &&
                     !in_list(s->clusters, s->n_clusters, cname))
                why = "not in the service's clusters list";
            else if (h->n_clusters &&
                     !in_list(h->clusters, h->n_clusters, cname))
                why = "not in the graph's clusters list";
            else if (!fixed)
                why = exclusion(s, &j->in.clusters[c], buf, sizeof buf);
            if (why)
                json_object_set_new(ex, cname, json_string(why));
            else {
                j->allowed[i * nc + c] = 1;
                n_ok++;
            }
        }
        const char *k;
        json_t *v;
        json_object_foreach(j->in.excluded, k, v) json_object_set(ex, k, v);
        json_object_set_new(j->explain, s->id,
                            json_pack("{s:o}", "excluded", ex));
        if (!n_ok) {
            /* The prefilter answers before any solving. */
            char msg[512];
            if (s->res.gpu)
                snprintf(msg, sizeof msg,
                         "%s needs %u GPU%s (%u per replica x %u); clusters "
                         "with that many free GPUs: none",
                         s->id, s->res.gpu * s->replicas,
                         s->res.gpu * s->replicas == 1 ? "" : "s", s->res.gpu,
                         s->replicas);
            else {
                char c1[32], m1[32];
                fmt_cores(c1, sizeof c1, s->res.cpu * s->replicas);
                smo__format_bytes(
                    (uint64_t)((double)s->res.memory * s->replicas), m1,
                    sizeof m1);
                snprintf(msg, sizeof msg,
                         "%s needs %s cores and %s memory (%u replica%s); no "
                         "usable cluster has them free",
                         s->id, c1, m1, s->replicas,
                         s->replicas == 1 ? "" : "s");
            }
            smo_status_set(st, SMO_EINFEASIBLE, "%s", msg);
            json_t *detail =
                json_pack("{s:s, s:O, s:O}", "status", "infeasible", "services",
                          j->explain, "excluded_clusters", j->in.excluded);
            cb(arg, st, NULL, detail);
            job_free(j);
            return 0;
        }
    }
    /* The whole graph against the total. */
    double dcpu = 0, fcpu = 0, dmem = 0, fmem = 0, dgpu = 0, fgpu = 0;
    for (size_t i = 0; i < ns; i++) {
        dcpu += j->svcs[i].cpu * j->svcs[i].replicas;
        dmem += (double)j->svcs[i].memory * j->svcs[i].replicas;
        dgpu += (double)j->svcs[i].gpu * j->svcs[i].replicas;
    }
    for (size_t c = 0; c < nc; c++) {
        fcpu += j->in.clusters[c].cpu_free;
        fmem += (double)j->in.clusters[c].memory_free;
        fgpu += j->in.clusters[c].gpu_free;
    }
    if (dcpu > fcpu + 1e-9 || dmem > fmem || dgpu > fgpu) {
        char a[32], b[32], c1[32], d1[32];
        fmt_cores(a, sizeof a, dcpu);
        fmt_cores(b, sizeof b, fcpu);
        smo__format_bytes((uint64_t)dmem, c1, sizeof c1);
        smo__format_bytes((uint64_t)fmem, d1, sizeof d1);
        smo_status_set(st, SMO_EINFEASIBLE,
                       "the graph does not fit: it needs %s cores, %s memory "
                       "and %.0f GPUs; the usable clusters have %s cores, %s "
                       "memory and %.0f GPUs free",
                       a, c1, dgpu, b, d1, fgpu);
        json_t *detail =
            json_pack("{s:s, s:O, s:O}", "status", "infeasible", "services",
                      j->explain, "excluded_clusters", j->in.excluded);
        cb(arg, st, NULL, detail);
        job_free(j);
        return 0;
    }
    /* Co-location groups (union-find over the coLocation lists). */
    int32_t *parent = malloc(ns * sizeof *parent);
    for (size_t i = 0; i < ns; i++)
        parent[i] = (int32_t)i;
    for (size_t i = 0; i < ns; i++)
        for (size_t k = 0; k < h->services[i].n_coloc; k++) {
            int32_t t = service_index(h, h->services[i].coloc[k]);
            if (t < 0)
                continue;
            int32_t a = (int32_t)i, b = t;
            while (parent[a] != a)
                a = parent[a];
            while (parent[b] != b)
                b = parent[b];
            if (a != b)
                parent[a > b ? a : b] = a < b ? a : b;
        }
    for (size_t i = 0; i < ns; i++) {
        int32_t a = (int32_t)i;
        while (parent[a] != a)
            a = parent[a];
        bool grouped = a != (int32_t)i;
        for (size_t k = 0; k < ns && !grouped; k++) {
            int32_t b = (int32_t)k;
            while (parent[b] != b)
                b = parent[b];
            grouped = k != i && b == a;
        }
        j->svcs[i].coloc = grouped ? a : -1;
    }
    free(parent);
    /* Connections, each pair once, with the tightest latency bound. */
    j->edges = calloc(1, sizeof *j->edges);
    size_t ne = 0, cap = 1;
    for (size_t i = 0; i < ns; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        for (size_t k = 0; k < s->n_connection_points; k++) {
            int32_t t = service_index(h, s->connection_points[k]);
            if (t < 0 || (size_t)t == i)
                continue;
            uint32_t a = (uint32_t)(i < (size_t)t ? i : (size_t)t);
            uint32_t b = (uint32_t)(i < (size_t)t ? (size_t)t : i);
            size_t x;
            for (x = 0; x < ne; x++)
                if (j->edges[x].s == a && j->edges[x].t == b)
                    break;
            if (x == ne) {
                if (ne == cap)
                    j->edges = realloc(j->edges, (cap *= 2) * sizeof *j->edges);
                j->edges[ne++] = (struct smo_place_edge){a, b, -1};
            }
        }
    }
    for (size_t i = 0; i < ns; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        for (size_t k = 0; k < s->n_latencies; k++) {
            if (s->latencies[k].max_ms < 0)
                continue;
            int32_t t = service_index(h, s->latencies[k].connection_point);
            if (t < 0)
                continue;
            uint32_t a = (uint32_t)(i < (size_t)t ? i : (size_t)t);
            uint32_t b = (uint32_t)(i < (size_t)t ? (size_t)t : i);
            size_t x;
            for (x = 0; x < ne; x++)
                if (j->edges[x].s == a && j->edges[x].t == b)
                    break;
            if (x == ne) {
                if (ne == cap)
                    j->edges = realloc(j->edges, (cap *= 2) * sizeof *j->edges);
                j->edges[ne++] = (struct smo_place_edge){a, b, -1};
            }
            double m = s->latencies[k].max_ms;
            if (j->edges[x].max_latency_ms < 0 ||
                m < j->edges[x].max_latency_ms)
                j->edges[x].max_latency_ms = m;
        }
    }
    /* The latency matrix, only when some connection is bounded. */
    bool bounded = false;
    for (size_t x = 0; x < ne; x++)
        bounded = bounded || j->edges[x].max_latency_ms >= 0;
    if (bounded) {
        j->latency = malloc(nc * nc * sizeof *j->latency);
        for (size_t a = 0; a < nc; a++)
            for (size_t b = 0; b < nc; b++) {
                double l = latency_between(e, inventory, j->in.names[a],
                                           j->in.names[b]);
                j->latency[a * nc + b] = l < 0 ? 0 : l; /* unknown: no bound */
            }
    }
    const struct smo__engine_cfg *cfg = smo__engine_cfg(e);
    j->p.size = sizeof j->p;
    j->p.n_services = (uint32_t)ns;
    j->p.n_clusters = (uint32_t)nc;
    j->p.n_edges = (uint32_t)ne;
    j->p.services = j->svcs;
    j->p.clusters = j->in.clusters;
    j->p.edges = j->edges;
    j->p.latency_ms = j->latency;
    j->p.weights = (struct smo_place_weights){cfg->w_net, cfg->w_balance,
                                              cfg->w_move, cfg->w_cost};
    j->p.time_limit_ms = cfg->solve_time_limit_ms;
    j->p.rel_gap = cfg->rel_gap;
    j->r.size = sizeof j->r;
    j->r.assignment = j->assignment;
    j->t0 = uv_hrtime();
    int r = smo__queue_work(solver, solve_work, solve_done, j);
    if (r) {
        job_free(j);
        return smo_status_set(st, r, "cannot queue the solver");
    }
    return 0;
}

/* ------------------------------------------------------------ values -- */

json_t *smo__values_for(const struct smo__hdag *h, const json_t *placement)
{
    json_t *out = json_object();
    for (size_t i = 0; i < h->n_services; i++) {
        const struct smo__hdag_service *t = &h->services[i];
        json_t *values = json_deep_copy(t->values);
        const char *cluster =
            json_string_value(json_object_get(placement, t->id));
        if (!h->static_placement && cluster) {
            /* Clusters of the services that connect to this one, in
             * descriptor order, once each. */
            json_t *imports = json_array();
            for (size_t k = 0; k < h->n_services; k++) {
                const struct smo__hdag_service *s = &h->services[k];
                if (!in_list(s->connection_points, s->n_connection_points,
                             t->id))
                    continue;
                const char *c =
                    json_string_value(json_object_get(placement, s->id));
                bool dup = false;
                size_t x;
                json_t *v;
                json_array_foreach(imports, x, v) dup =
                    dup || (c && !strcmp(json_string_value(v), c));
                if (c && !dup)
                    json_array_append_new(imports, json_string(c));
            }
            json_t *target = values;
            if (t->wot) {
                target = json_object_get(values, "voChartOverwrite");
                if (!json_is_object(target)) {
                    target = json_object();
                    json_object_set_new(values, "voChartOverwrite", target);
                }
            }
            json_object_set_new(target, "clustersAffinity",
                                json_pack("[s]", cluster));
            json_object_set_new(target, "serviceImportClusters", imports);
        }
        json_object_set_new(out, t->id, values);
    }
    return out;
}
