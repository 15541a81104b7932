/* Store conformance: one suite for every store plugin, run through a real
 * runtime that loads the built plugin.
 *
 * usage: test_store sqlite
 *        test_store postgres      (SMO_TEST_PG_CONFIG holds the instance's
 *                                  config as a YAML flow mapping)
 */
#include "../unit/smo_test.h"

#include <signal.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "smo_rt.h"
#include "store_sync.h"

static const char *backend;
static char *dir;
static struct smo_rt *rt;
static smo_instance *S;

static void write_conf(const char *d)
{
    char buf[2048];
    const char *cfg = getenv("SMO_TEST_PG_CONFIG");
    if (strcmp(backend, "sqlite") == 0)
        snprintf(buf, sizeof buf,
                 "engine: {plugin_path: [\"%s\"], log_level: warning}\n"
                 "instances:\n  - {kind: store, plugin: sqlite, name: st, "
                 "config: {path: %s/smo.db}}\n",
                 SMO_TEST_BUILTIN_PLUGIN_DIR, d);
    else
        snprintf(buf, sizeof buf,
                 "engine: {plugin_path: [\"%s\"], log_level: warning}\n"
                 "instances:\n  - {kind: store, plugin: postgres, name: st, "
                 "config: %s}\n",
                 SMO_TEST_BUILTIN_PLUGIN_DIR, cfg ? cfg : "{}");
    t_write(d, "store.yaml", buf);
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
    assert_int_equal(sqlite3_column_int(q, 0), 2);
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

int main(int argc, char **argv)
{
    backend = argc > 1 ? argv[1] : "sqlite";
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
        cmocka_unit_test(test_sqlite_migration),
        cmocka_unit_test(test_sqlite_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
