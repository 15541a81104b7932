/* Store throughput: graph commits and get-by-name reads per second.
 *
 * usage: bench_store sqlite|postgres [SECONDS] [THREADS] [POOL]
 * Loads the built store plugin into an in-process runtime (as smod does),
 * seeds 100 graphs of 3 services each, then for 1 and for 8 concurrent
 * clients measures for SECONDS (default 5) each:
 *   commit  each client updates graphs of its own with their expected
 *           revision (one graph document with its 3 services per commit);
 *   get     each client reads a random graph by its key "project/name".
 * A client issues its next call when the previous one has answered, so 8
 * clients keep up to 8 calls in flight. THREADS is the thread pool size
 * (engine.threadpool_size, default 4); POOL the postgres pool_size
 * (default 4; SQLite always keeps 4 connections).
 * postgres reads SMO_TEST_PG and SMO_TEST_PG_PASSWORD_FILE, as set by
 *   tests/fixtures/pg/pg-harness.sh run --durable -- bench_store postgres
 * Figures only; nothing is asserted. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "smo_rt.h"

#define GRAPHS 100

static smo_instance *S;
static struct smo_rt *rt;

struct client {
    int id, kind; /* 0 commit, 1 get */
    uint64_t deadline;
    uint64_t t0;
    long done, errors;
    int64_t revs[GRAPHS];
    int stride, idx, next; /* owns graphs id, id + stride, ... */
    bool finished;
    double *lat;
    size_t nlat, cap;
    unsigned seed;
};

static json_t *graph_doc(int i, int version)
{
    char name[32];
    snprintf(name, sizeof name, "g-%d", i);
    json_t *svcs = json_array();
    for (int k = 0; k < 3; k++) {
        char n[16];
        snprintf(n, sizeof n, "svc-%d", k);
        json_array_append_new(
            svcs, json_pack("{s:s, s:s, s:s, s:f, s:I, s:i, s:i}", "name", n,
                            "status", "Deployed", "cluster", "cluster-a", "cpu",
                            0.5 * (k + 1), "memory", (json_int_t)(k + 1) << 30,
                            "gpu", k == 2, "replicas", 1 + version % 3));
    }
    /* About 1.5 KB in all, like a small application's canonical
     * descriptor. */
    char desc[1024];
    memset(desc, 'x', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    return json_pack("{s:s, s:s, s:s, s:i, s:o, s:{s:s, s:s, s:s}, s:s}",
                     "project", "bench", "name", name, "status", "Running",
                     "version", version, "services", svcs, "placement", "svc-0",
                     "cluster-a", "svc-1", "cluster-a", "svc-2", "cluster-b",
                     "descriptor", desc);
}

static void record(struct client *c)
{
    double ms = (double)(uv_hrtime() - c->t0) / 1e6;
    if (c->nlat == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
    }
    c->lat[c->nlat++] = ms;
}

static void issue(struct client *c);

static void on_commit(void *arg, const smo_status *st, const int64_t *revs,
                      size_t n)
{
    struct client *c = arg;
    record(c);
    if (st->code) {
        c->errors++;
        if (c->errors < 5)
            fprintf(stderr, "commit: %s\n", st->msg);
    } else if (n == 1) {
        c->revs[c->next] = revs[0];
        c->done++;
    }
    issue(c);
}

static void on_get(void *arg, const smo_status *st, json_t *doc, int64_t rev)
{
    (void)rev;
    struct client *c = arg;
    record(c);
    if (st->code)
        c->errors++;
    else
        c->done++;
    json_decref(doc);
    issue(c);
}

static void issue(struct client *c)
{
    if (uv_hrtime() >= c->deadline) {
        c->finished = true;
        return;
    }
    smo_status st;
    smo_status_clear(&st);
    char key[64];
    int r;
    c->t0 = uv_hrtime();
    if (c->kind == 0) {
        /* Each client writes only its own graphs: no conflicts, the figure
         * is the store's, not the retries'. */
        int owned = (GRAPHS - c->id + c->stride - 1) / c->stride;
        c->next = c->id + c->stride * (c->idx++ % owned);
        snprintf(key, sizeof key, "bench/g-%d", c->next);
        json_t *g = graph_doc(c->next, (int)c->revs[c->next]);
        struct smo_store_write w = {SMO_COLL_GRAPH, key, g, c->revs[c->next]};
        r = S->plugin->ops.store.commit(S->state, &w, 1, on_commit, c, &st);
        json_decref(g);
    } else {
        snprintf(key, sizeof key, "bench/g-%d", rand_r(&c->seed) % GRAPHS);
        r = S->plugin->ops.store.get(S->state, SMO_COLL_GRAPH, key, on_get, c,
                                     &st);
    }
    if (r) {
        fprintf(stderr, "call refused: %s\n", st.msg);
        c->errors++;
        c->finished = true;
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int64_t revs_now[GRAPHS];

static void run(const char *what, int kind, int nclients, double seconds)
{
    struct client *cl = calloc((size_t)nclients, sizeof *cl);
    uint64_t start = uv_hrtime();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < nclients; i++) {
        cl[i].id = i;
        cl[i].kind = kind;
        cl[i].deadline = deadline;
        cl[i].seed = 1234u + (unsigned)i;
        memcpy(cl[i].revs, revs_now, sizeof revs_now);
        cl[i].stride = nclients;
    }
    for (int i = 0; i < nclients; i++)
        issue(&cl[i]);
    for (;;) {
        bool all = true;
        for (int i = 0; i < nclients; i++)
            all = all && cl[i].finished;
        if (all)
            break;
        uv_run(rt->loop, UV_RUN_ONCE);
    }
    double el = (double)(uv_hrtime() - start) / 1e9;
    long done = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < nclients; i++) {
        done += cl[i].done;
        errors += cl[i].errors;
        nlat += cl[i].nlat;
    }
    double *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t o = 0;
    for (int i = 0; i < nclients; i++) {
        memcpy(lat + o, cl[i].lat, cl[i].nlat * sizeof *lat);
        o += cl[i].nlat;
        free(cl[i].lat);
        if (kind == 0)
            for (int g = 0; g < GRAPHS; g++)
                if (cl[i].revs[g] != revs_now[g])
                    revs_now[g] = cl[i].revs[g];
    }
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("| %-6s | %2d | %9.0f | %7.2f | %7.2f | %ld |\n", what, nclients,
           (double)done / el, nlat ? lat[nlat / 2] : 0.0,
           nlat ? lat[nlat * 99 / 100] : 0.0, errors);
    fflush(stdout);
    free(lat);
    free(cl);
}

static bool stopped;
static void on_stopped(struct smo_rt *r)
{
    (void)r;
    stopped = true;
}

static void seeded(void *arg, const smo_status *st, const int64_t *revs,
                   size_t n)
{
    int *left = arg;
    if (st->code) {
        fprintf(stderr, "seeding: %s\n", st->msg);
        exit(1);
    }
    (void)n;
    (void)revs;
    (*left)--;
}

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "sqlite";
    double seconds = argc > 2 ? atof(argv[2]) : 5;
    int threads = argc > 3 ? atoi(argv[3]) : 4;
    int pool = argc > 4 ? atoi(argv[4]) : 4;
    char nb[16];
    snprintf(nb, sizeof nb, "%d", threads);
    /* libuv reads it once, at the first job. */
    setenv("UV_THREADPOOL_SIZE", nb, 1);
    char tmpl[] = "/tmp/smo-bench-store-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        return 2;
    char conf[4096], path[600];
    if (strcmp(backend, "sqlite") == 0)
        snprintf(conf, sizeof conf,
                 "engine: {log_level: warning}\n"
                 "instances:\n  - {kind: store, plugin: sqlite, name: st, "
                 "config: {path: %s/smo.db}}\n",
                 dir);
    else if (strcmp(backend, "postgres") == 0) {
        const char *ci = getenv("SMO_TEST_PG");
        const char *pw = getenv("SMO_TEST_PG_PASSWORD_FILE");
        if (!ci || !pw) {
            fprintf(stderr, "bench_store postgres: run it through "
                            "tests/fixtures/pg/pg-harness.sh run --durable "
                            "-- bench_store postgres\n");
            return 2;
        }
        snprintf(conf, sizeof conf,
                 "engine: {log_level: warning}\n"
                 "instances:\n  - {kind: store, plugin: postgres, name: st, "
                 "config: {conninfo: \"%s\", password_file: \"%s\", schema: "
                 "bench_%d, pool_size: %d}}\n",
                 ci, pw, (int)getpid(), pool);
    } else {
        fprintf(stderr, "usage: bench_store sqlite|postgres [SECONDS] "
                        "[THREADS] [POOL]\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/store.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(conf, f);
    fclose(f);
    rt = smo__rt_new(NULL, dir, dir);
    struct smo__errlist errs;
    smo__errlist_init(&errs, 10);
    if (smo__rt_apply_config(rt, &errs)) {
        fprintf(stderr, "store did not start: %s\n",
                errs.n ? errs.lines[0] : "?");
        return 1;
    }
    smo__errlist_free(&errs);
    S = smo__rt_first(rt, SMO_KIND_STORE);
    int left = GRAPHS;
    for (int i = 0; i < GRAPHS; i++) {
        char key[32];
        snprintf(key, sizeof key, "bench/g-%d", i);
        json_t *g = graph_doc(i, 0);
        struct smo_store_write w = {SMO_COLL_GRAPH, key, g, SMO_REV_ANY};
        smo_status st;
        if (S->plugin->ops.store.commit(S->state, &w, 1, seeded, &left, &st)) {
            fprintf(stderr, "seeding: %s\n", st.msg);
            return 1;
        }
        json_decref(g);
    }
    while (left > 0)
        uv_run(rt->loop, UV_RUN_ONCE);
    for (int i = 0; i < GRAPHS; i++)
        revs_now[i] = SMO_REV_ANY;
    printf("%s: %.0f s per figure, thread pool %d, %d connections\n\n", backend,
           seconds, threads, strcmp(backend, "postgres") == 0 ? pool : 4);
    printf("| op     | clients | per second | p50 ms | p99 ms | errors |\n");
    printf("|---|---|---|---|---|---|\n");
    run("commit", 0, 1, seconds);
    run("commit", 0, 8, seconds);
    run("get", 1, 1, seconds);
    run("get", 1, 8, seconds);
    stopped = false;
    smo__rt_shutdown(rt, on_stopped);
    uint64_t end = uv_hrtime() + 30ull * 1000000000ull;
    while (!stopped && uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_ONCE);
    smo__rt_free(rt);
    snprintf(path, sizeof path, "rm -rf -- '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
