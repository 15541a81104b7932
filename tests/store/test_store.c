/* Store conformance: one suite for every store plugin, run through a real
 * runtime that loads the built plugin.
 *
 * usage: test_store sqlite
 *        test_store postgres
 * PostgreSQL: SMO_TEST_PG is the conninfo of a database the test may
 * fill, SMO_TEST_PG_PASSWORD_FILE holds its password; SMO_TEST_PG_DIR and
 * SMO_TEST_PG_HARNESS let the outage tests stop and start the server.
 * tests/fixtures/pg/pg-harness.sh run -- test_store postgres sets them all.
 * Each test works in a schema of its own.
 */
#include "../unit/smo_test.h"

#include <signal.h>
#include <sys/wait.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "smo_rt.h"
#include "store_sync.h"

static const char *backend;
static bool pg;
static char *dir;
static struct smo_rt *rt;
static smo_instance *S;
static char schema[64] = "smo";

/* A JSON string literal, which is also a YAML flow scalar. */
static char *yq(const char *s)
{
    json_t *j = json_string(s);
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    return t;
}

/* The stores' events_retention: 0 for the contract tests (their events
 * carry made-up times near 1970), set by the retention test. */
static const char *retention = "0";

/* The postgres instance's config for the current schema (reconnection
 * quick enough for the outage tests). */
static void pg_config(char *buf, size_t cap)
{
    char *ci = yq(getenv("SMO_TEST_PG"));
    char *pw = yq(getenv("SMO_TEST_PG_PASSWORD_FILE"));
    snprintf(buf, cap,
             "{conninfo: %s, password_file: %s, schema: %s, "
             "reconnect_min: 50ms, reconnect_max: 1s, connect_timeout: "
             "2s, events_retention: %s}",
             ci, pw, schema, retention);
    free(ci);
    free(pw);
}

static void write_conf_with(const char *d, const char *pg_cfg)
{
    char buf[4096];
    if (!pg)
        snprintf(buf, sizeof buf,
                 "engine: {plugin_path: [\"%s\"], log_level: warning}\n"
                 "instances:\n  - {kind: store, plugin: sqlite, name: st, "
                 "config: {path: %s/smo.db, events_retention: %s}}\n",
                 SMO_TEST_BUILTIN_PLUGIN_DIR, d, retention);
    else
        snprintf(buf, sizeof buf,
                 "engine: {plugin_path: [\"%s\"], log_level: warning}\n"
                 "instances:\n  - {kind: store, plugin: postgres, name: st, "
                 "config: %s}\n",
                 SMO_TEST_BUILTIN_PLUGIN_DIR, pg_cfg);
    t_write(d, "store.yaml", buf);
}

static void write_conf(const char *d)
{
    char cfg[2048] = "";
    if (pg)
        pg_config(cfg, sizeof cfg);
    write_conf_with(d, cfg);
}

/* A session of the test's own, to look behind the store's back. */
static PGconn *pg_admin(void)
{
    char pw[256] = "";
    FILE *f = fopen(getenv("SMO_TEST_PG_PASSWORD_FILE"), "r");
    assert_non_null(f);
    assert_non_null(fgets(pw, sizeof pw, f));
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    const char *k[] = {"dbname", "password", NULL};
    const char *v[] = {getenv("SMO_TEST_PG"), pw, NULL};
    PGconn *c = PQconnectdbParams(k, v, 1);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin session: %s", PQerrorMessage(c));
    return c;
}

static void pg_exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* First column of the first row of `sql` as an integer. */
static long long scalar(const char *sql)
{
    long long v = -1;
    if (pg) {
        PGconn *c = pg_admin();
        char set[128];
        snprintf(set, sizeof set, "SET search_path TO %s", schema);
        pg_exec_ok(c, set);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
    } else {
        char db[600];
        snprintf(db, sizeof db, "%s/smo.db", dir);
        sqlite3 *h;
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        sqlite3_close(h);
    }
    return v;
}

/* Run the harness (stop / start-again the server), bounded. */
static pid_t harness_start(const char *cmd, const char *arg)
{
    const char *h = getenv("SMO_TEST_PG_HARNESS");
    const char *d = getenv("SMO_TEST_PG_DIR");
    if (!h || !d)
        fail_msg("SMO_TEST_PG_HARNESS and SMO_TEST_PG_DIR must be set (run "
                 "through tests/fixtures/pg/pg-harness.sh run)");
    pid_t p = fork();
    if (p == 0) {
        execlp("bash", "bash", h, cmd, d, arg, (char *)NULL);
        _exit(127);
    }
    return p;
}

static int harness_wait(pid_t p, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        int st;
        if (waitpid(p, &st, WNOHANG) == p)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        usleep(10000);
    }
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    return -1;
}

static void harness(const char *cmd, const char *arg)
{
    int rc = harness_wait(harness_start(cmd, arg), 60000);
    if (rc != 0)
        fail_msg("pg-harness.sh %s: exit %d", cmd, rc);
}

static struct smo_rt *start_rt(const char *d, struct smo__errlist *errs)
{
    struct smo_rt *r = smo__rt_new(NULL, d, d);
    r->log_override = SMO_LOG_WARN;
    smo__errlist_init(errs, 20);
    if (smo__rt_apply_config(r, errs)) {
        smo__rt_free(r);
        return NULL;
    }
    return r;
}

static bool stopped;
static void on_stopped(struct smo_rt *r)
{
    (void)r;
    stopped = true;
}

static void stop_rt(struct smo_rt *r)
{
    stopped = false;
    smo__rt_shutdown(r, on_stopped);
    t_run_until(r->loop, &stopped, 30000);
    smo__rt_free(r);
}

/* Remove everything a previous test left (PostgreSQL keeps its data). */
static void wipe(void)
{
    static const uint32_t colls[] = {SMO_COLL_GRAPH,     SMO_COLL_CLUSTER,
                                     SMO_COLL_VIM,       SMO_COLL_PROVISIONED,
                                     SMO_COLL_OPERATION, SMO_COLL_META};
    for (size_t c = 0; c < sizeof colls / sizeof colls[0]; c++) {
        struct ss_result r = ss_list(S, colls[c], NULL);
        assert_int_equal(r.code, 0);
        size_t i;
        json_t *it;
        json_array_foreach(r.items, i, it)
        {
            struct ss_result d = ss_put(
                S, colls[c], json_string_value(json_object_get(it, "key")),
                NULL, SMO_REV_ANY);
            assert_int_equal(d.code, 0);
        }
        json_decref(r.items);
    }
}

static int setup(void **state)
{
    (void)state;
    static int seq;
    snprintf(schema, sizeof schema, "t%d_%d", (int)getpid(), ++seq);
    dir = t_mkdtemp();
    write_conf(dir);
    struct smo__errlist e;
    rt = start_rt(dir, &e);
    if (!rt)
        fail_msg("store did not start: %s", e.n ? e.lines[0] : "?");
    smo__errlist_free(&e);
    S = smo__rt_first(rt, SMO_KIND_STORE);
    assert_non_null(S);
    wipe();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_rt(rt);
    t_rm_rf(dir);
    free(dir);
    return 0;
}

static json_t *graph_doc(const char *project, const char *name, int nsvc)
{
    json_t *svcs = json_array();
    for (int i = 0; i < nsvc; i++) {
        char n[32];
        snprintf(n, sizeof n, "svc-%d", i);
        json_array_append_new(
            svcs, json_pack("{s:s, s:s, s:s, s:f, s:I, s:i}", "name", n,
                            "status", "Deployed", "cluster", "c1", "cpu", 0.5,
                            "memory", (json_int_t)1 << 30, "gpu", 0));
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:s}}", "project", project,
                     "name", name, "status", "Running", "services", svcs,
                     "placement", "svc-0", "c1");
}

static void test_crud(void **state)
{
    (void)state;
    json_t *g = graph_doc("p1", "g1", 3);
    struct ss_result r = ss_put(S, SMO_COLL_GRAPH, "p1/g1", g, SMO_REV_ABSENT);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.revs[0], 1);
    /* Creating it again is a conflict. */
    r = ss_put(S, SMO_COLL_GRAPH, "p1/g1", g, SMO_REV_ABSENT);
    assert_int_equal(r.code, SMO_ECONFLICT);
    assert_string_equal(r.msg, "graph p1/g1 already exists (revision 1)");
    r = ss_get(S, SMO_COLL_GRAPH, "p1/g1");
    assert_int_equal(r.code, 0);
    assert_int_equal(r.rev, 1);
    assert_true(json_equal(r.doc, g));
    /* Numbers stay numbers. */
    json_t *s0 = json_array_get(json_object_get(r.doc, "services"), 0);
    assert_true(json_is_real(json_object_get(s0, "cpu")));
    assert_true(json_is_integer(json_object_get(s0, "memory")));
    json_decref(r.doc);
    /* Update with the right revision, then with a stale one. */
    json_object_set_new(g, "status", json_string("Stopped"));
    r = ss_put(S, SMO_COLL_GRAPH, "p1/g1", g, 1);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.revs[0], 2);
    r = ss_put(S, SMO_COLL_GRAPH, "p1/g1", g, 1);
    assert_int_equal(r.code, SMO_ECONFLICT);
    assert_string_equal(r.msg, "graph p1/g1: revision 1 expected, 2 found "
                               "(changed by someone else)");
    /* Same name in another project is another graph. */
    json_t *g2 = graph_doc("p2", "g1", 1);
    r = ss_put(S, SMO_COLL_GRAPH, "p2/g1", g2, SMO_REV_ABSENT);
    assert_int_equal(r.code, 0);
    json_t *f = json_pack("{s:s}", "project", "p1");
    r = ss_list(S, SMO_COLL_GRAPH, f);
    assert_int_equal(r.code, 0);
    assert_int_equal(json_array_size(r.items), 1);
    json_decref(r.items);
    json_decref(f);
    f = json_pack("{s:s}", "name", "g1");
    r = ss_list(S, SMO_COLL_GRAPH, f);
    assert_int_equal(json_array_size(r.items), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(r.items, 0), "key")),
        "p1/g1");
    json_decref(r.items);
    json_decref(f);
    /* Delete with the revision; then it is gone. */
    r = ss_put(S, SMO_COLL_GRAPH, "p1/g1", NULL, 2);
    assert_int_equal(r.code, 0);
    r = ss_get(S, SMO_COLL_GRAPH, "p1/g1");
    assert_int_equal(r.code, SMO_ENOENT);
    assert_string_equal(r.msg, "graph p1/g1 not found");
    /* Deleting what is not there with "any" is fine (idempotent). */
    r = ss_put(S, SMO_COLL_GRAPH, "p1/g1", NULL, SMO_REV_ANY);
    assert_int_equal(r.code, 0);
    json_decref(g);
    json_decref(g2);
}

static void test_batches_are_atomic(void **state)
{
    (void)state;
    json_t *a = graph_doc("p", "a", 1);
    json_t *b = graph_doc("p", "b", 2);
    /* b has two services with one name: the whole batch is refused. */
    json_object_set_new(json_array_get(json_object_get(b, "services"), 1),
                        "name", json_string("svc-0"));
    struct smo_store_write w[2] = {{SMO_COLL_GRAPH, "p/a", a, SMO_REV_ABSENT},
                                   {SMO_COLL_GRAPH, "p/b", b, SMO_REV_ABSENT}};
    struct ss_result r = ss_commit(S, w, 2);
    assert_int_equal(r.code, SMO_EINVAL);
    assert_string_equal(r.msg, "graph p/b: service name \"svc-0\" appears "
                               "twice (names are unique within a graph)");
    assert_int_equal(ss_get(S, SMO_COLL_GRAPH, "p/a").code, SMO_ENOENT);
    /* A revision conflict in the second write undoes the first. */
    json_object_set_new(json_array_get(json_object_get(b, "services"), 1),
                        "name", json_string("svc-1"));
    w[1].expect_rev = 5;
    r = ss_commit(S, w, 2);
    assert_int_equal(r.code, SMO_ECONFLICT);
    assert_int_equal(ss_get(S, SMO_COLL_GRAPH, "p/a").code, SMO_ENOENT);
    /* Graph, operation and event in one batch. */
    json_t *op = json_pack("{s:s, s:s, s:s, s:[]}", "id", "op-1", "graph",
                           "p/a", "state", "running", "steps");
    json_t *ev = json_pack("{s:s, s:s, s:I}", "type", "graph.deploying",
                           "graph", "p/a", "time_ms", (json_int_t)1000);
    struct smo_store_write w3[3] = {
        {SMO_COLL_GRAPH, "p/a", a, SMO_REV_ABSENT},
        {SMO_COLL_OPERATION, "op-1", op, SMO_REV_ABSENT},
        {SMO_COLL_EVENT, NULL, ev, SMO_REV_ANY}};
    r = ss_commit(S, w3, 3);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.n, 3);
    assert_true(r.revs[2] > 0); /* the event's sequence */
    /* Key and document must agree. */
    struct ss_result bad = ss_put(S, SMO_COLL_GRAPH, "p/zz", a, SMO_REV_ANY);
    assert_int_equal(bad.code, SMO_EINVAL);
    assert_string_equal(bad.msg,
                        "graph p/zz: key must be \"p/a\" (project/name)");
    json_decref(a);
    json_decref(b);
    json_decref(op);
    json_decref(ev);
}

/* A list's keys, comma-separated, are `want` (the filter is taken). */
static void expect_keys(uint32_t coll, json_t *filter, const char *want)
{
    struct ss_result r = ss_list(S, coll, filter);
    assert_int_equal(r.code, 0);
    char got[256] = "";
    size_t i;
    json_t *it;
    json_array_foreach(r.items, i, it)
    {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%s", i ? "," : "",
                 json_string_value(json_object_get(it, "key")));
    }
    assert_string_equal(got, want);
    json_decref(r.items);
    json_decref(filter);
}

static void test_operations_and_events(void **state)
{
    (void)state;
    const char *states[] = {"running", "succeeded", "failed", "pending",
                            "rolled_back"};
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "op-%d", i);
        json_t *op = json_pack("{s:s, s:s, s:s}", "id", id, "graph",
                               i % 2 ? "p/x" : "p/y", "state", states[i]);
        assert_int_equal(
            ss_put(S, SMO_COLL_OPERATION, id, op, SMO_REV_ANY).code, 0);
        json_decref(op);
    }
    json_t *f = json_pack("{s:b}", "unfinished", 1);
    struct ss_result r = ss_list(S, SMO_COLL_OPERATION, f);
    assert_int_equal(r.code, 0);
    assert_int_equal(json_array_size(r.items), 2); /* running, pending */
    json_decref(r.items);
    json_decref(f);
    f = json_pack("{s:s}", "graph", "p/x");
    r = ss_list(S, SMO_COLL_OPERATION, f);
    assert_int_equal(json_array_size(r.items), 2);
    json_decref(r.items);
    json_decref(f);
    /* Pages in key order: limit, then start_after the last key. */
    expect_keys(SMO_COLL_OPERATION, json_pack("{s:i}", "limit", 3),
                "op-0,op-1,op-2");
    expect_keys(SMO_COLL_OPERATION,
                json_pack("{s:i, s:s}", "limit", 3, "start_after", "op-2"),
                "op-3,op-4");
    expect_keys(SMO_COLL_OPERATION,
                json_pack("{s:s, s:s}", "graph", "p/y", "start_after", "op-0"),
                "op-2,op-4");
    f = json_pack("{s:i}", "start_after", 3);
    r = ss_list(S, SMO_COLL_OPERATION, f);
    assert_int_equal(r.code, SMO_EINVAL);
    json_decref(f);

    for (int i = 0; i < 10; i++) {
        json_t *ev = json_pack("{s:s, s:s, s:I, s:i}", "type", "t", "graph",
                               i % 2 ? "p/x" : "p/y", "time_ms",
                               (json_int_t)(1000 + i), "i", i);
        assert_int_equal(ss_put(S, SMO_COLL_EVENT, NULL, ev, SMO_REV_ANY).code,
                         0);
        json_decref(ev);
    }
    f = json_pack("{s:s, s:I}", "graph", "p/x", "since", (json_int_t)1004);
    r = ss_list(S, SMO_COLL_EVENT, f);
    assert_int_equal(json_array_size(r.items), 3); /* 5, 7, 9 */
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_array_get(r.items, 0), "doc"), "i")),
        5);
    json_decref(r.items);
    json_decref(f);
    f = json_pack("{s:i}", "limit", 2);
    r = ss_list(S, SMO_COLL_EVENT, f);
    assert_int_equal(json_array_size(r.items), 2); /* the newest two */
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_array_get(r.items, 1), "doc"), "i")),
        9);
    json_decref(r.items);
    json_decref(f);
    f = json_pack("{s:s}", "colour", "red");
    r = ss_list(S, SMO_COLL_EVENT, f);
    assert_int_equal(r.code, SMO_EINVAL);
    assert_string_equal(r.msg, "filter: unknown key \"colour\" for event");
    json_decref(f);
}

static void test_injection_unicode_and_size(void **state)
{
    (void)state;
    const char *evil[] = {
        "x'); DROP TABLE docs; --",
        "\" OR 1=1 --",
        "Robert'); DELETE FROM services WHERE ('1'='1",
        "$$; SELECT pg_sleep(10); $$",
        "\\'; TRUNCATE docs; --",
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        char key[512];
        snprintf(key, sizeof key, "%s/%s", evil[i], evil[(i + 1) % 5]);
        json_t *g = graph_doc(evil[i], evil[(i + 1) % 5], 1);
        json_object_set_new(json_array_get(json_object_get(g, "services"), 0),
                            "name", json_string(evil[(i + 2) % 5]));
        json_object_set_new(g, "descriptor", json_string(evil[(i + 3) % 5]));
        struct ss_result r = ss_put(S, SMO_COLL_GRAPH, key, g, SMO_REV_ABSENT);
        assert_int_equal(r.code, 0);
        r = ss_get(S, SMO_COLL_GRAPH, key);
        assert_int_equal(r.code, 0);
        assert_true(json_equal(r.doc, g));
        json_decref(r.doc);
        json_t *f = json_pack("{s:s}", "project", evil[i]);
        r = ss_list(S, SMO_COLL_GRAPH, f);
        assert_int_equal(json_array_size(r.items), 1);
        json_decref(r.items);
        json_decref(f);
        json_decref(g);
    }
    /* Unicode in keys and documents. */
    const char *name = "graphé-日本語-🚀-עברית-e\xcc\x81";
    char key[256];
    snprintf(key, sizeof key, "проект/%s", name);
    json_t *g = graph_doc("проект", name, 2);
    struct ss_result r = ss_put(S, SMO_COLL_GRAPH, key, g, SMO_REV_ABSENT);
    assert_int_equal(r.code, 0);
    r = ss_get(S, SMO_COLL_GRAPH, key);
    assert_true(json_equal(r.doc, g));
    json_decref(r.doc);
    json_decref(g);
    /* A 10 MB descriptor. */
    size_t big = 10u << 20;
    char *text = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        text[i] = (char)('a' + i % 26);
    text[big] = '\0';
    g = graph_doc("p", "big", 1);
    json_object_set_new(g, "descriptor", json_pack("{s:s}", "blob", text));
    r = ss_put(S, SMO_COLL_GRAPH, "p/big", g, SMO_REV_ABSENT);
    assert_int_equal(r.code, 0);
    r = ss_get(S, SMO_COLL_GRAPH, "p/big");
    assert_int_equal(r.code, 0);
    assert_true(json_equal(r.doc, g));
    json_decref(r.doc);
    json_decref(g);
    free(text);
    /* The tables survived every attempt. */
    r = ss_list(S, SMO_COLL_GRAPH, NULL);
    assert_int_equal(json_array_size(r.items), 7);
    json_decref(r.items);
}

static void test_restart_persistence(void **state)
{
    (void)state;
    json_t *g = graph_doc("p", "keep", 2);
    assert_int_equal(
        ss_put(S, SMO_COLL_GRAPH, "p/keep", g, SMO_REV_ABSENT).code, 0);
    stop_rt(rt);
    struct smo__errlist e;
    rt = start_rt(dir, &e);
    assert_non_null(rt);
    smo__errlist_free(&e);
    S = smo__rt_first(rt, SMO_KIND_STORE);
    struct ss_result r = ss_get(S, SMO_COLL_GRAPH, "p/keep");
    assert_int_equal(r.code, 0);
    assert_true(json_equal(r.doc, g));
    assert_int_equal(r.rev, 1);
    json_decref(r.doc);
    json_decref(g);
}

/* Two processes increment one counter with read-modify-write and retry on
 * conflict: no increment may be lost. */
static void increment_loop(int n)
{
    struct smo__errlist e;
    struct smo_rt *r2 = start_rt(dir, &e);
    if (!r2)
        _exit(3);
    smo_instance *s2 = smo__rt_first(r2, SMO_KIND_STORE);
    for (int i = 0; i < n; i++) {
        for (int attempt = 0; attempt < 200; attempt++) {
            struct ss_result g = ss_get(s2, SMO_COLL_META, "counter");
            if (g.code)
                _exit(4);
            json_int_t v = json_integer_value(json_object_get(g.doc, "value"));
            json_object_set_new(g.doc, "value", json_integer(v + 1));
            struct ss_result w =
                ss_put(s2, SMO_COLL_META, "counter", g.doc, g.rev);
            json_decref(g.doc);
            if (w.code == 0)
                break;
            if (w.code != SMO_ECONFLICT && w.code != SMO_EBUSY &&
                w.code != SMO_EUNAVAIL)
                _exit(5);
            if (attempt == 199)
                _exit(6);
        }
    }
    stop_rt(r2);
    _exit(0);
}

static void test_concurrent_processes(void **state)
{
    (void)state;
    json_t *c = json_pack("{s:i}", "value", 0);
    assert_int_equal(ss_put(S, SMO_COLL_META, "counter", c, SMO_REV_ANY).code,
                     0);
    json_decref(c);
    enum { PER = 100 };
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0)
            increment_loop(PER);
    }
    for (int k = 0; k < 2; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    struct ss_result r = ss_get(S, SMO_COLL_META, "counter");
    assert_int_equal(json_integer_value(json_object_get(r.doc, "value")),
                     2 * PER);
    json_decref(r.doc);
}

/* ---- SQLite only: migration from an older schema, bad files ---------- */

static void test_sqlite_migration(void **state)
{
    (void)state;
    if (strcmp(backend, "sqlite") != 0)
        skip();
    char *d = t_mkdtemp();
    char db[600];
    snprintf(db, sizeof db, "%s/smo.db", d);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    /* Schema version 1 as released, with one graph in it. */
    const char *v1 =
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE docs ("
        " coll INTEGER NOT NULL, key TEXT NOT NULL, rev INTEGER NOT NULL,"
        " doc TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
        " project TEXT, name TEXT, graph TEXT, state TEXT, area INTEGER,"
        " PRIMARY KEY (coll, key));"
        "CREATE INDEX docs_project ON docs(coll, project, name);"
        "CREATE INDEX docs_graph ON docs(coll, graph);"
        "CREATE TABLE events ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT, graph TEXT,"
        " time_ms INTEGER NOT NULL, doc TEXT NOT NULL);"
        "CREATE INDEX events_graph ON events(graph, seq);"
        "INSERT INTO docs VALUES (1, 'old/g', 3, '{\"project\":\"old\","
        "\"name\":\"g\",\"services\":[{\"name\":\"a\",\"cpu\":1}]}', 0, "
        "'old', 'g', NULL, NULL, NULL);";
    assert_int_equal(sqlite3_exec(h, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    write_conf(d);
    struct smo__errlist e;
    struct smo_rt *r2 = start_rt(d, &e);
    if (!r2)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    smo_instance *s2 = smo__rt_first(r2, SMO_KIND_STORE);
    struct ss_result r = ss_get(s2, SMO_COLL_GRAPH, "old/g");
    assert_int_equal(r.code, 0);
    assert_int_equal(r.rev, 3);
    json_decref(r.doc);
    stop_rt(r2);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(h,
                       "SELECT (SELECT version FROM schema_version), "
                       "(SELECT count(*) FROM services WHERE graph_key = "
                       "'old/g' AND name = 'a')",
                       -1, &q, NULL);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 3);
    assert_int_equal(sqlite3_column_int(q, 1), 1); /* backfilled */
    sqlite3_finalize(q);
    sqlite3_close(h);
    t_rm_rf(d);
    free(d);
}

static void test_sqlite_bad_files(void **state)
{
    (void)state;
    if (strcmp(backend, "sqlite") != 0)
        skip();
    char *d = t_mkdtemp();
    write_conf(d);
    t_write(d, "smo.db",
            "this is not a database, just text that is long "
            "enough to fill a header page............");
    struct smo__errlist e;
    struct smo_rt *r2 = start_rt(d, &e);
    assert_null(r2);
    assert_non_null(strstr(e.lines[0], "file is not a database"));
    assert_non_null(strstr(e.lines[0], "smo.db"));
    smo__errlist_free(&e);
    /* Read-only: the store runs as an unprivileged user here, since root
     * may write anything. */
    char db[600];
    snprintf(db, sizeof db, "%s/smo.db", d);
    unlink(db);
    pid_t pid = fork();
    if (pid == 0) {
        struct smo__errlist e2;
        struct smo_rt *r3 = start_rt(d, &e2); /* creates it, as root */
        if (!r3)
            _exit(2);
        stop_rt(r3);
        chmod(db, 0444);
        chmod(d, 0555);
        if (setgid(65534) || setuid(65534))
            _exit(3);
        r3 = start_rt(d, &e2);
        if (r3)
            _exit(4);
        bool clear = e2.n && strstr(e2.lines[0], "smo.db") &&
                     (strstr(e2.lines[0], "readonly") ||
                      strstr(e2.lines[0], "read-only") ||
                      strstr(e2.lines[0], "unable to open"));
        if (!clear)
            fprintf(stderr, "message: %s\n", e2.n ? e2.lines[0] : "(none)");
        _exit(clear ? 0 : 5);
    }
    int st;
    waitpid(pid, &st, 0);
    chmod(d, 0700);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    t_rm_rf(d);
    free(d);
}

/* ---- both stores: more of the contract ------------------------------- */

/* Services are normalised into rows, replaced whole with the graph. */
static void test_services_rows(void **state)
{
    (void)state;
    json_t *g = graph_doc("p", "svc", 3);
    struct ss_result r = ss_put(S, SMO_COLL_GRAPH, "p/svc", g, SMO_REV_ABSENT);
    assert_int_equal(r.code, 0);
    const char *count = "SELECT count(*) FROM services WHERE graph_key = "
                        "'p/svc'";
    assert_int_equal(scalar(count), 3);
    /* Drop svc-2, rename svc-1: the rows follow. */
    json_t *svcs = json_object_get(g, "services");
    json_array_remove(svcs, 2);
    json_object_set_new(json_array_get(svcs, 1), "name", json_string("new"));
    json_object_set_new(json_array_get(svcs, 0), "cpu", json_real(2.5));
    r = ss_put(S, SMO_COLL_GRAPH, "p/svc", g, 1);
    assert_int_equal(r.code, 0);
    assert_int_equal(scalar(count), 2);
    assert_int_equal(scalar("SELECT count(*) FROM services WHERE graph_key = "
                            "'p/svc' AND name = 'new'"),
                     1);
    assert_int_equal(scalar("SELECT CAST(cpu * 10 AS INTEGER) FROM services "
                            "WHERE graph_key = 'p/svc' AND name = 'svc-0'"),
                     25);
    /* A service field of an unexpected type is kept in the document and
     * left out of the row. */
    json_object_set_new(json_array_get(svcs, 0), "memory", json_string("1Gi"));
    r = ss_put(S, SMO_COLL_GRAPH, "p/svc", g, 2);
    assert_int_equal(r.code, 0);
    r = ss_get(S, SMO_COLL_GRAPH, "p/svc");
    assert_true(json_equal(r.doc, g));
    json_decref(r.doc);
    r = ss_put(S, SMO_COLL_GRAPH, "p/svc", NULL, 3);
    assert_int_equal(r.code, 0);
    assert_int_equal(scalar(count), 0);
    json_decref(g);
}

/* Numbers keep their type and value, including reals that print with an
 * exponent (JSONB keeps decimals, not doubles). */
static void test_numbers(void **state)
{
    (void)state;
    json_t *d =
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:i, s:f, s:[f, I]}",
                  "big", 1e20, "huge", 1.7976931348623157e308, "tiny", 4.9e-324,
                  "neg", -2.5e17, "frac", 0.1, "imax", (json_int_t)INT64_MAX,
                  "imin", (json_int_t)INT64_MIN, "zero", 0, "one", 1.0, "list",
                  3e30, (json_int_t)7);
    struct ss_result r = ss_put(S, SMO_COLL_META, "numbers", d, SMO_REV_ANY);
    assert_int_equal(r.code, 0);
    r = ss_get(S, SMO_COLL_META, "numbers");
    assert_int_equal(r.code, 0);
    if (!json_equal(r.doc, d)) {
        char *a = json_dumps(d, JSON_SORT_KEYS),
             *b = json_dumps(r.doc, JSON_SORT_KEYS);
        fail_msg("wrote %s\nread  %s", a, b);
    }
    assert_true(json_is_real(json_object_get(r.doc, "big")));
    assert_true(json_is_real(json_object_get(r.doc, "one")));
    assert_true(json_is_integer(json_object_get(r.doc, "imax")));
    json_decref(r.doc);
    json_decref(d);
}

/* A NUL character inside a string cannot be kept by any store (PostgreSQL's
 * text and JSONB refuse it, SQLite's JSON could not be read back): it is
 * refused up front, by name, and nothing is written. A backslash followed
 * by "u0000" is ordinary text. */
static void test_nul_character(void **state)
{
    (void)state;
    json_t *d = json_pack("{s:s#}", "s", "a\0b", (int)3);
    struct ss_result r = ss_put(S, SMO_COLL_META, "nul", d, SMO_REV_ANY);
    assert_int_equal(r.code, SMO_EINVAL);
    assert_string_equal(r.msg, "meta nul: a string contains the NUL "
                               "character (\\u0000), which cannot be stored");
    assert_int_equal(ss_get(S, SMO_COLL_META, "nul").code, SMO_ENOENT);
    json_decref(d);
    d = json_pack("{s:s}", "s", "\\u0000 and \\\\u0000");
    r = ss_put(S, SMO_COLL_META, "nul", d, SMO_REV_ANY);
    assert_int_equal(r.code, 0);
    r = ss_get(S, SMO_COLL_META, "nul");
    assert_true(json_equal(r.doc, d));
    json_decref(r.doc);
    json_decref(d);
}

static void test_event_by_key(void **state)
{
    (void)state;
    json_t *ev = json_pack("{s:s, s:I}", "type", "x", "time_ms", (json_int_t)5);
    struct ss_result r = ss_put(S, SMO_COLL_EVENT, NULL, ev, SMO_REV_ANY);
    assert_int_equal(r.code, 0);
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)r.revs[0]);
    r = ss_get(S, SMO_COLL_EVENT, key);
    assert_int_equal(r.code, 0);
    assert_true(json_equal(r.doc, ev));
    json_decref(r.doc);
    assert_int_equal(ss_get(S, SMO_COLL_EVENT, "999999").code, SMO_ENOENT);
    assert_int_equal(ss_get(S, SMO_COLL_EVENT, "x'; --").code, SMO_ENOENT);
    r = ss_put(S, SMO_COLL_EVENT, NULL, NULL, SMO_REV_ANY);
    assert_int_equal(r.code, SMO_EINVAL);
    json_decref(ev);
}

static int setup_retention(void **state)
{
    retention = "1h";
    int r = setup(state);
    retention = "0";
    return r;
}

/* events_retention: a commit deletes the events older than it (the first
 * commit already: no prune has run yet), newer ones stay. */
static void test_events_retention(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_int_t now = (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    json_t *old = json_pack("{s:s, s:s, s:I}", "type", "old", "graph", "p/r",
                            "time_ms", now - 2 * 3600 * 1000);
    json_t *recent = json_pack("{s:s, s:s, s:I}", "type", "new", "graph", "p/r",
                               "time_ms", now);
    struct ss_result r = ss_put(S, SMO_COLL_EVENT, NULL, old, SMO_REV_ANY);
    assert_int_equal(r.code, 0);
    r = ss_put(S, SMO_COLL_EVENT, NULL, recent, SMO_REV_ANY);
    assert_int_equal(r.code, 0);
    json_t *f = json_pack("{s:s}", "graph", "p/r");
    r = ss_list(S, SMO_COLL_EVENT, f);
    assert_int_equal(r.code, 0);
    assert_int_equal(json_array_size(r.items), 1);
    assert_true(
        json_equal(json_object_get(json_array_get(r.items, 0), "doc"), recent));
    json_decref(r.items);
    json_decref(f);
    json_decref(old);
    json_decref(recent);
}

/* Far more calls at once than connections: they queue, all complete. */
struct many {
    int done, failed;
};
static void many_cb(void *arg, const smo_status *st, const int64_t *revs,
                    size_t n)
{
    (void)revs;
    (void)n;
    struct many *m = arg;
    m->done++;
    if (st->code)
        m->failed++;
}

static void test_many_in_flight(void **state)
{
    (void)state;
    enum { N = 60 };
    struct many m = {0, 0};
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "p/m%d", i);
        json_t *g = graph_doc("p", key + 2, 3);
        struct smo_store_write w = {SMO_COLL_GRAPH, key, g, SMO_REV_ABSENT};
        smo_status st;
        assert_int_equal(
            S->plugin->ops.store.commit(S->state, &w, 1, many_cb, &m, &st), 0);
        json_decref(g); /* the store has its copy */
    }
    uint64_t end = uv_hrtime() + 30ull * 1000000000ull;
    while (m.done < N && uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_ONCE);
    assert_int_equal(m.done, N);
    assert_int_equal(m.failed, 0);
    json_t *f = json_pack("{s:s}", "project", "p");
    struct ss_result r = ss_list(S, SMO_COLL_GRAPH, f);
    assert_int_equal(json_array_size(r.items), N);
    json_decref(r.items);
    json_decref(f);
}

/* ---- migrations from the oldest released schema (both stores) -------- */

static void test_pg_migration(void **state)
{
    (void)state;
    if (!pg)
        skip();
    /* Schema version 1 as released, with one graph in it. */
    snprintf(schema, sizeof schema, "mig_%d", (int)getpid());
    PGconn *c = pg_admin();
    char sql[4096];
    snprintf(
        sql, sizeof sql,
        "CREATE SCHEMA %s; SET search_path TO %s;"
        "CREATE TABLE schema_version (version integer NOT NULL);"
        "INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE docs ("
        " coll smallint NOT NULL, key text COLLATE \"C\" NOT NULL,"
        " rev bigint NOT NULL, doc jsonb NOT NULL, updated_ms bigint NOT NULL,"
        " project text COLLATE \"C\", name text COLLATE \"C\","
        " graph text COLLATE \"C\", state text, area bigint,"
        " PRIMARY KEY (coll, key));"
        "CREATE INDEX docs_project ON docs (coll, project, name);"
        "CREATE INDEX docs_graph ON docs (coll, graph);"
        "CREATE TABLE events ("
        " seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " graph text COLLATE \"C\", time_ms bigint NOT NULL, doc jsonb NOT "
        "NULL);"
        "CREATE INDEX events_graph ON events (graph, seq);"
        "INSERT INTO docs VALUES (1, 'old/g', 3, '{\"project\":\"old\","
        "\"name\":\"g\",\"services\":[{\"name\":\"a\",\"cpu\":1,\"memory\":"
        "\"lots\"},{\"name\":\"b\",\"gpu\":2}]}', 0, 'old', 'g', NULL, NULL, "
        "NULL);"
        "INSERT INTO docs VALUES (1, 'old/h', 1, '{\"project\":\"old\","
        "\"name\":\"h\"}', 0, 'old', 'h', NULL, NULL, NULL);",
        schema, schema);
    pg_exec_ok(c, sql);
    PQfinish(c);
    char *d = t_mkdtemp();
    char *keep = dir;
    dir = d;
    write_conf(d);
    struct smo__errlist e;
    struct smo_rt *r2 = start_rt(d, &e);
    if (!r2)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    smo_instance *s2 = smo__rt_first(r2, SMO_KIND_STORE);
    struct ss_result r = ss_get(s2, SMO_COLL_GRAPH, "old/g");
    assert_int_equal(r.code, 0);
    assert_int_equal(r.rev, 3);
    json_decref(r.doc);
    /* Written after the migration, the services table is in use. */
    json_t *g = graph_doc("old", "h", 2);
    assert_int_equal(ss_put(s2, SMO_COLL_GRAPH, "old/h", g, 1).code, 0);
    json_decref(g);
    stop_rt(r2);
    assert_int_equal(scalar("SELECT version FROM schema_version"), 3);
    assert_int_equal(scalar("SELECT count(*) FROM services WHERE graph_key = "
                            "'old/g'"),
                     2); /* backfilled */
    assert_int_equal(scalar("SELECT count(*) FROM services WHERE graph_key = "
                            "'old/g' AND name = 'a' AND memory IS NULL AND "
                            "cpu = 1"),
                     1);
    assert_int_equal(scalar("SELECT gpu FROM services WHERE name = 'b'"), 2);
    assert_int_equal(scalar("SELECT count(*) FROM services WHERE graph_key = "
                            "'old/h'"),
                     2);
    /* A schema newer than this build is refused at start, by name. */
    c = pg_admin();
    snprintf(sql, sizeof sql, "UPDATE %s.schema_version SET version = 99",
             schema);
    pg_exec_ok(c, sql);
    PQfinish(c);
    r2 = start_rt(d, &e);
    assert_null(r2);
    assert_non_null(strstr(e.lines[0], "version 99, newer than this smod"));
    smo__errlist_free(&e);
    dir = keep;
    t_rm_rf(d);
    free(d);
}

/* ---- PostgreSQL only: configuration and connection errors ------------ */

/* Start with `cfg` as the postgres config: it must fail with `expect` in
 * the first message, which is returned (new). */
static char *start_fails(const char *cfg, const char *expect)
{
    char *d = t_mkdtemp();
    write_conf_with(d, cfg);
    struct smo__errlist e;
    struct smo_rt *r2 = start_rt(d, &e);
    if (r2) {
        stop_rt(r2);
        fail_msg("started with %s", cfg);
    }
    if (!strstr(e.lines[0], expect))
        fail_msg("expected \"%s\" in: %s", expect, e.lines[0]);
    char *m = strdup(e.lines[0]);
    smo__errlist_free(&e);
    t_rm_rf(d);
    free(d);
    return m;
}

static void test_pg_config(void **state)
{
    (void)state;
    if (!pg)
        skip();
    char extra[1024];
    char *ci = yq(getenv("SMO_TEST_PG"));
    /* A wrong password: refused at start, the password never echoed. */
    char *d = t_mkdtemp();
    t_write(d, "pw", "Wr0ngSecretValue\n");
    snprintf(extra, sizeof extra, "{conninfo: %s, password_file: %s/pw}", ci,
             d);
    char *m = start_fails(extra, "password authentication failed");
    assert_null(strstr(m, "Wr0ngSecretValue"));
    free(m);
    /* A password in the conninfo is refused before anything runs, and not
     * shown either. */
    snprintf(extra, sizeof extra,
             "{conninfo: \"%s password=Sekr1tValue\", schema: x}",
             getenv("SMO_TEST_PG"));
    m = start_fails(extra, "contains a password; give it with password_env");
    assert_null(strstr(m, "Sekr1tValue"));
    free(m);
    /* password_env: unset, then set. */
    snprintf(extra, sizeof extra,
             "{conninfo: %s, password_env: SMO_TEST_NO_SUCH_VAR}", ci);
    free(start_fails(extra,
                     "environment variable SMO_TEST_NO_SUCH_VAR is not set"));
    char pw[256] = "";
    FILE *f = fopen(getenv("SMO_TEST_PG_PASSWORD_FILE"), "r");
    assert_non_null(fgets(pw, sizeof pw, f));
    fclose(f);
    pw[strcspn(pw, "\n")] = '\0';
    setenv("SMO_TEST_PG_PW", pw, 1);
    snprintf(extra, sizeof extra,
             "{conninfo: %s, password_env: SMO_TEST_PG_PW, schema: cfg_%d, "
             "pool_size: 1}",
             ci, (int)getpid());
    write_conf_with(d, extra);
    struct smo__errlist e;
    struct smo_rt *r2 = start_rt(d, &e);
    if (!r2)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    smo_instance *s2 = smo__rt_first(r2, SMO_KIND_STORE);
    json_t *doc = json_pack("{s:i}", "x", 1);
    assert_int_equal(ss_put(s2, SMO_COLL_META, "env", doc, SMO_REV_ANY).code,
                     0);
    json_decref(doc);
    stop_rt(r2);
    unsetenv("SMO_TEST_PG_PW");
    t_rm_rf(d);
    free(d);
    /* Both password sources, a bad schema name, a bad conninfo. */
    snprintf(extra, sizeof extra,
             "{conninfo: %s, password_env: A, password_file: /dev/null}", ci);
    free(start_fails(extra, "at most one of password_env and password_file"));
    snprintf(extra, sizeof extra, "{conninfo: %s, schema: \"a; DROP\"}", ci);
    free(start_fails(extra, "schema: \"a; DROP\" is not a plain identifier"));
    free(start_fails("{conninfo: \"host=127.0.0.1 nonsense\"}", "conninfo: "));
    /* A read-only server (a standby after a failover, here a read-only
     * default) cannot hold the state: refused with the reason. */
    char ro[600];
    snprintf(ro, sizeof ro, "%s options='-c default_transaction_read_only=on'",
             getenv("SMO_TEST_PG"));
    char *roq = yq(ro), *pwq = yq(getenv("SMO_TEST_PG_PASSWORD_FILE"));
    snprintf(extra, sizeof extra, "{conninfo: %s, password_file: %s}", roq,
             pwq);
    free(start_fails(extra, "the server is read-only"));
    free(roq);
    free(pwq);
    /* Nobody listening: a clear reason, within the connect timeout. */
    uint64_t t0 = uv_hrtime();
    free(start_fails("{conninfo: \"host=127.0.0.1 port=1 dbname=x user=y\", "
                     "connect_timeout: 2s}",
                     "cannot connect"));
    assert_true(uv_hrtime() - t0 < 5000000000ull);
    free(ci);
}

/* ---- PostgreSQL only: the server goes away in the middle of writes ---- */

enum { FAULT_MAX = 4000 };
static int outcome[FAULT_MAX];

static struct ss_result fault_write(smo_instance *s, int i)
{
    char key[32], op[32], name[16];
    snprintf(name, sizeof name, "g%d", i);
    snprintf(key, sizeof key, "fault/g%d", i);
    snprintf(op, sizeof op, "fault-op-%d", i);
    json_t *g = graph_doc("fault", name, 3);
    json_t *o = json_pack("{s:s, s:s, s:s}", "id", op, "graph", key, "state",
                          "running");
    json_t *ev = json_pack("{s:s, s:s, s:I}", "type", "fault", "graph", key,
                           "time_ms", (json_int_t)i);
    struct smo_store_write w[3] = {{SMO_COLL_GRAPH, key, g, SMO_REV_ABSENT},
                                   {SMO_COLL_OPERATION, op, o, SMO_REV_ABSENT},
                                   {SMO_COLL_EVENT, NULL, ev, SMO_REV_ANY}};
    struct ss_result r = ss_commit(s, w, 3);
    json_decref(g);
    json_decref(o);
    json_decref(ev);
    return r;
}

/* Every batch is there whole or not at all, as its result said. */
static void fault_verify(int n)
{
    int present = 0, unknown = 0;
    for (int i = 0; i < n; i++) {
        char key[32], op[32];
        snprintf(key, sizeof key, "fault/g%d", i);
        snprintf(op, sizeof op, "fault-op-%d", i);
        struct ss_result g = ss_get(S, SMO_COLL_GRAPH, key);
        struct ss_result o = ss_get(S, SMO_COLL_OPERATION, op);
        json_t *f = json_pack("{s:s}", "graph", key);
        struct ss_result e = ss_list(S, SMO_COLL_EVENT, f);
        json_decref(f);
        assert_int_equal(e.code, 0);
        bool has_g = g.code == 0, has_o = o.code == 0;
        size_t nev = json_array_size(e.items);
        json_decref(g.doc);
        json_decref(o.doc);
        json_decref(e.items);
        if (g.code && g.code != SMO_ENOENT)
            fail_msg("read back %s: %s", key, g.msg);
        if (has_g != has_o || nev != (has_g ? 1u : 0u))
            fail_msg("batch %d half-written: graph %d, operation %d, %zu "
                     "events",
                     i, has_g, has_o, nev);
        if (outcome[i] == 0 && !has_g)
            fail_msg("batch %d was acknowledged but is not there", i);
        if (outcome[i] == SMO_EUNAVAIL && has_g)
            fail_msg("batch %d failed with EUNAVAIL but was written", i);
        present += has_g;
        unknown += outcome[i] == SMO_EIO;
    }
    print_message("    %d batches, %d written, %d with an unknown outcome "
                  "(all whole)\n",
                  n, present, unknown);
}

static void outage(const char *mode, int *next)
{
    int i = *next;
    /* Writes go on while the server is being stopped. */
    for (int k = 0; k < 20; k++, i++) {
        struct ss_result r = fault_write(S, i);
        assert_int_equal(r.code, 0);
        outcome[i] = 0;
    }
    pid_t stopper = harness_start("stop", mode);
    int unavail = 0, stop_rc = -2;
    uint64_t end = uv_hrtime() + 40ull * 1000000000ull;
    while (i < FAULT_MAX && uv_hrtime() < end) {
        uint64_t t0 = uv_hrtime();
        struct ss_result r = fault_write(S, i);
        outcome[i++] = r.code;
        if (r.code != 0 && r.code != SMO_EUNAVAIL && r.code != SMO_EIO)
            fail_msg("write during the outage: %s (%s)", smo_err_name(r.code),
                     r.msg);
        if (r.code == SMO_EUNAVAIL) {
            unavail++;
            assert_non_null(strstr(r.msg, "is unavailable"));
        }
        if (stop_rc == -2) {
            int st;
            if (waitpid(stopper, &st, WNOHANG) == stopper)
                stop_rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        } else if (unavail >= 5) {
            /* Down: calls are refused at once, not after a timeout. */
            assert_int_equal(r.code, SMO_EUNAVAIL);
            assert_true(uv_hrtime() - t0 < 200000000ull);
            break;
        }
        usleep(2000);
    }
    assert_int_equal(stop_rc, 0);
    assert_true(unavail >= 5);
    /* Reads fail fast too. */
    struct ss_result r = ss_get(S, SMO_COLL_GRAPH, "fault/g0");
    assert_int_equal(r.code, SMO_EUNAVAIL);
    assert_non_null(strstr(r.msg, "reconnecting"));
    r = ss_list(S, SMO_COLL_GRAPH, NULL);
    assert_int_equal(r.code, SMO_EUNAVAIL);
    harness("start-again", "");
    /* The next write succeeds once the store has reconnected (its backoff
     * is capped at 1 s here). */
    end = uv_hrtime() + 20ull * 1000000000ull;
    int tries = 0;
    for (;;) {
        assert_true(i < FAULT_MAX);
        r = fault_write(S, i);
        outcome[i++] = r.code;
        tries++;
        if (r.code == 0)
            break;
        assert_int_equal(r.code, SMO_EUNAVAIL);
        if (uv_hrtime() > end)
            fail_msg("no successful write 20 s after the restart: %s", r.msg);
        /* Let the reconnect timer run. */
        uint64_t until = uv_hrtime() + 50000000ull;
        while (uv_hrtime() < until)
            uv_run(rt->loop, UV_RUN_NOWAIT), usleep(5000);
    }
    print_message("    %s stop: %d calls refused, written again after %d "
                  "tries\n",
                  mode, unavail, tries);
    *next = i;
}

static void test_pg_outage(void **state)
{
    (void)state;
    if (!pg)
        skip();
    int n = 0;
    outage("immediate", &n);
    outage("fast", &n);
    fault_verify(n);
    /* And the store works as before. */
    struct ss_result r = fault_write(S, n);
    assert_int_equal(r.code, 0);
    /* Stopping while the server is away is prompt: the reconnect timer is
     * cancelled, nothing waits for a connect timeout. */
    harness("stop", "fast");
    r = ss_get(S, SMO_COLL_GRAPH, "fault/g0");
    assert_true(r.code == SMO_EUNAVAIL);
    uint64_t t0 = uv_hrtime();
    stop_rt(rt);
    assert_true(uv_hrtime() - t0 < 2000000000ull);
    harness("start-again", "");
    struct smo__errlist e;
    rt = start_rt(dir, &e);
    if (!rt)
        fail_msg("%s", e.lines[0]);
    smo__errlist_free(&e);
    S = smo__rt_first(rt, SMO_KIND_STORE);
    r = ss_get(S, SMO_COLL_GRAPH, "fault/g0");
    assert_int_equal(r.code, 0);
    json_decref(r.doc);
}

/* ---- PostgreSQL only: a session lost in the middle of a commit ------- */

static bool admin_kill(PGconn *a, const char *where)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
             "%s AND usename = current_user AND pid <> pg_backend_pid()",
             where);
    PGresult *q = PQexec(a, sql);
    bool killed = PQresultStatus(q) == PGRES_TUPLES_OK && PQntuples(q) > 0 &&
                  PQgetvalue(q, 0, 0)[0] == 't';
    PQclear(q);
    return killed;
}

/* Run the loop until `where` names a session of the store (bounded). */
static bool admin_wait(PGconn *a, const char *where)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE %s AND usename = "
             "current_user AND pid <> pg_backend_pid()",
             where);
    for (int i = 0; i < 1000; i++) {
        uv_run(rt->loop, UV_RUN_NOWAIT);
        PGresult *q = PQexec(a, sql);
        bool there = PQresultStatus(q) == PGRES_TUPLES_OK &&
                     strcmp(PQgetvalue(q, 0, 0), "0") != 0;
        PQclear(q);
        if (there)
            return true;
        usleep(10000);
    }
    return false;
}

static int teardown_syncrep(void **state)
{
    if (pg) {
        harness("sql", "ALTER SYSTEM RESET synchronous_standby_names");
        harness("sql", "SELECT pg_reload_conf()");
    }
    return teardown(state);
}

/* The answer to COMMIT lost: the server is made to hold every COMMIT (it
 * waits for a synchronous standby that does not exist) and the session
 * waiting there is terminated. The transaction is committed locally, the
 * client only sees its connection drop; the store asks a new session and
 * reports the commit as done. */
static void test_pg_commit_in_doubt(void **state)
{
    (void)state;
    if (!pg)
        skip();
    harness("sql", "ALTER SYSTEM SET synchronous_standby_names = 'smo_nobody'");
    harness("sql", "SELECT pg_reload_conf()");
    PGconn *a = pg_admin();
    /* The setting reaches the server's sessions asynchronously. */
    for (int i = 0; i < 500; i++) {
        PGresult *q = PQexec(a, "SHOW synchronous_standby_names");
        bool on = !strcmp(PQgetvalue(q, 0, 0), "smo_nobody");
        PQclear(q);
        if (on)
            break;
        usleep(10000);
    }
    json_t *g = graph_doc("p", "doubt", 2);
    struct smo_store_write w = {SMO_COLL_GRAPH, "p/doubt", g, SMO_REV_ABSENT};
    struct ss_result r;
    memset(&r, 0, sizeof r);
    smo_status st;
    assert_int_equal(
        S->plugin->ops.store.commit(S->state, &w, 1, ss_commit_cb, &r, &st), 0);
    assert_true(admin_wait(a, "wait_event = 'SyncRep'"));
    assert_true(admin_kill(a, "wait_event = 'SyncRep'"));
    ss_wait(S, &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.revs[0], 1);
    harness("sql", "ALTER SYSTEM RESET synchronous_standby_names");
    harness("sql", "SELECT pg_reload_conf()");
    struct ss_result got = ss_get(S, SMO_COLL_GRAPH, "p/doubt");
    assert_int_equal(got.code, 0);
    assert_int_equal(got.rev, 1);
    assert_true(json_equal(got.doc, g));
    json_decref(got.doc);

    /* Lost before COMMIT: the store's session waits for a row lock and is
     * terminated; the batch runs again on a new session, once. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT rev FROM %s.docs WHERE key = 'p/doubt' FOR "
             "UPDATE",
             schema);
    pg_exec_ok(a, sql);
    /* Another session watches: inside a transaction, pg_stat_activity is
     * a snapshot taken at its first use. */
    PGconn *k = pg_admin();
    json_object_set_new(g, "status", json_string("Stopped"));
    memset(&r, 0, sizeof r);
    w.expect_rev = 1;
    assert_int_equal(
        S->plugin->ops.store.commit(S->state, &w, 1, ss_commit_cb, &r, &st), 0);
    assert_true(admin_wait(k, "wait_event_type = 'Lock'"));
    assert_true(admin_kill(k, "wait_event_type = 'Lock'"));
    /* The retry waits for the same lock; release it. */
    assert_true(admin_wait(k, "wait_event_type = 'Lock'"));
    pg_exec_ok(a, "ROLLBACK");
    ss_wait(S, &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.revs[0], 2); /* applied once */
    PQfinish(k);
    PQfinish(a);
    json_decref(g);
}

int main(int argc, char **argv)
{
    backend = argc > 1 ? argv[1] : "sqlite";
    if (strcmp(backend, "sqlite") != 0 && strcmp(backend, "postgres") != 0) {
        fprintf(stderr, "usage: test_store sqlite|postgres\n");
        return 2;
    }
    pg = strcmp(backend, "postgres") == 0;
    if (pg &&
        (!getenv("SMO_TEST_PG") || !getenv("SMO_TEST_PG_PASSWORD_FILE"))) {
        /* Not a skip: a suite that silently tests nothing would pass. */
        fprintf(stderr,
                "test_store postgres: SMO_TEST_PG and "
                "SMO_TEST_PG_PASSWORD_FILE are not set; run it through "
                "tests/fixtures/pg/pg-harness.sh run -- %s postgres\n",
                argv[0]);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_are_atomic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_operations_and_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_injection_unicode_and_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_persistence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_processes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_services_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_character, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_retention, setup_retention,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
        cmocka_unit_test(test_sqlite_migration),
        cmocka_unit_test(test_sqlite_bad_files),
        cmocka_unit_test(test_pg_migration),
        cmocka_unit_test(test_pg_config),
        cmocka_unit_test_setup_teardown(test_pg_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_commit_in_doubt, setup,
                                        teardown_syncrep),
    };
    return cmocka_run_group_tests_name(backend, tests, NULL, NULL);
}
