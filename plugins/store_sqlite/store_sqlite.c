/* store_sqlite: the embedded default store.
 *
 * One database file under the data directory, WAL mode, a busy timeout, a
 * small pool of connections used only from the thread pool (never from the
 * loop thread). Documents are JSON text in one table keyed by collection
 * and key, with the columns the filters need extracted at write time and
 * indexed; graph services are also normalised into their own table (names
 * unique per graph). Every commit is one IMMEDIATE transaction that checks
 * each write's expected revision first, so a batch applies whole or not at
 * all. Schema versions are applied forward at start. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <smo/smo.h>
#include <sqlite3.h>

#include "store_common.h"

#define POOL 4

struct cfg {
    const char *path;
    int64_t busy_timeout_ms;
    const char *synchronous;
    uint64_t max_document_bytes;
    int64_t events_retention_ms;
};

struct conn {
    sqlite3 *db;
    bool busy;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    char *path;
    struct conn pool[POOL];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Group commit: commits queued while another is being written join
     * the next transaction (one fsync for all), each in its own savepoint
     * so that one's conflict does not undo the others. */
    pthread_mutex_t cq_mu;
    pthread_cond_t cq_cv;
    struct job *cq_head, *cq_tail;
    bool cq_leader;
    size_t jobs; /* in flight */
    smo_done_cb stop_done;
    void *stop_arg;
    bool checkpointing;
    smo_metric *m_ops, *m_seconds;
    int64_t events_pruned_ms; /* smo__store_events_due() */
};

static const char *const sync_values[] = {"normal", "full", NULL};

#define OFF(m) offsetof(struct cfg, m)
static const struct smo_config_field fields[] = {
    {"path", SMO_CFG_STRING, 0, "smo.db", 0, 0, NULL, NULL, OFF(path),
     "database file; a relative path is under the data directory"},
    {"busy_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "5s", 0,
     600000, NULL, NULL, OFF(busy_timeout_ms),
     "how long a writer waits for another process's lock"},
    {"synchronous", SMO_CFG_ENUM, 0, "full", 0, 0, sync_values, NULL,
     OFF(synchronous),
     "full: every commit survives a power loss; normal: faster, may lose "
     "the last commits on power loss (never on a crash of smod)"},
    {"max_document_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "64Mi",
     1024, 1073741824.0, NULL, NULL, OFF(max_document_bytes),
     "largest JSON document accepted"},
    {"events_retention", SMO_CFG_DURATION, SMO_CFG_MAX, "30d", 0, 315360000000,
     NULL, NULL, OFF(events_retention_ms),
     "events older than this are deleted (GET /events); 0 keeps them all"},
    {0}};
#undef OFF

/* ------------------------------------------------------------ schema -- */

/* Forward migrations; index i brings the schema to version i + 1. Never
 * edit a released step: append a new one. */
static const char *const migrations[] = {
    /* 1: documents with their filter columns. */
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
    "CREATE INDEX events_graph ON events(graph, seq);",
    /* 2: services of a graph as rows (queries by service, names unique per
     * graph), unfinished operations indexed, backfilled. */
    "CREATE TABLE services ("
    " graph_key TEXT NOT NULL, name TEXT NOT NULL, status TEXT,"
    " cluster TEXT, cpu REAL, memory INTEGER, gpu INTEGER,"
    " PRIMARY KEY (graph_key, name));"
    "CREATE INDEX docs_unfinished ON docs(coll, state) WHERE state IS NOT "
    " NULL AND state NOT IN ('succeeded', 'failed', 'rolled_back');"
    "CREATE INDEX events_time ON events(time_ms);"
    "INSERT INTO services (graph_key, name, status, cluster, cpu, memory, "
    " gpu) SELECT d.key, json_extract(s.value, '$.name'),"
    " json_extract(s.value, '$.status'), json_extract(s.value, '$.cluster'),"
    " json_extract(s.value, '$.cpu'), json_extract(s.value, '$.memory'),"
    " json_extract(s.value, '$.gpu')"
    " FROM docs d, json_each(d.doc, '$.services') s WHERE d.coll = 1;",
    /* 3: a graph looked up by name alone (GET /graphs/{name}). */
    "CREATE INDEX docs_name ON docs(coll, name);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SMO_EBUSY;
    case SQLITE_FULL:
        return SMO_ENOSPC;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH:
        return SMO_EACCES;
    case SQLITE_CONSTRAINT:
        return SMO_ECONFLICT;
    case SQLITE_NOMEM:
        return SMO_ENOMEM;
    case SQLITE_TOOBIG:
        return SMO_ETOOBIG;
    default:
        return SMO_EIO;
    }
}

static int fail(sqlite3 *db, int rc, smo_status *st, const char *what)
{
    return smo_status_set(st, map_rc(rc), "%s: %s", what,
                          db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int exec(sqlite3 *db, const char *sql, smo_status *st, const char *what)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        int r = smo_status_set(st, map_rc(rc), "%s: %s", what,
                               err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return r;
    }
    return 0;
}

/* Statements are prepared once per connection and kept: parsing SQL was a
 * tenth of a commit's CPU. A cached statement is found by its text among
 * the connection's (a dozen at most) and handed out reset; `stmt_done` resets
 * it instead of finalising it. */
static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **q)
{
    for (sqlite3_stmt *c = sqlite3_next_stmt(db, NULL); c;
         c = sqlite3_next_stmt(db, c))
        if (!sqlite3_stmt_busy(c) && strcmp(sqlite3_sql(c), sql) == 0) {
            sqlite3_reset(c);
            sqlite3_clear_bindings(c);
            *q = c;
            return SQLITE_OK;
        }
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL);
}

static void stmt_done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
}

/* A statement without results (BEGIN, COMMIT, SAVEPOINT...), cached. */
static int run_sql(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    int rc = prep(db, sql, &q);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(q);
    stmt_done(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void close_conn(sqlite3 *db)
{
    sqlite3_stmt *q;
    while ((q = sqlite3_next_stmt(db, NULL)))
        sqlite3_finalize(q);
    sqlite3_close(db);
}

static int open_conn(struct state *s, sqlite3 **out, smo_status *st)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        s->path, &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int r = fail(db, rc, st, s->path);
        sqlite3_close(db);
        return r;
    }
    sqlite3_busy_timeout(db, (int)s->cfg->busy_timeout_ms);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             "PRAGMA foreign_keys=ON;",
             strcmp(s->cfg->synchronous, "full") == 0 ? "FULL" : "NORMAL");
    if (exec(db, pragmas, st, s->path)) {
        sqlite3_close(db);
        return st->code;
    }
    *out = db;
    return 0;
}

static int migrate(struct state *s, sqlite3 *db, smo_status *st)
{
    if (exec(db,
             "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER "
             "NOT NULL);",
             st, s->path))
        return st->code;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return fail(db, rc, st, s->path);
    int version = 0;
    if (sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > SCHEMA_VERSION)
        return smo_status_set(st, SMO_ENOTSUP,
                              "%s: schema version %d is newer than this "
                              "smod knows (%d); use a newer smod",
                              s->path, version, SCHEMA_VERSION);
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char what[512];
        snprintf(what, sizeof what, "%s: migration to schema %d", s->path,
                 v + 1);
        if (exec(db, "BEGIN IMMEDIATE;", st, what))
            return st->code;
        char upd[128];
        snprintf(upd, sizeof upd,
                 "DELETE FROM schema_version; INSERT INTO schema_version "
                 "VALUES (%d);",
                 v + 1);
        if (exec(db, migrations[v], st, what) || exec(db, upd, st, what)) {
            int r = st->code;
            sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
            return r;
        }
        if (exec(db, "COMMIT;", st, what))
            return st->code;
        SMO_LOG_N(s->host, s->self, "%s: schema migrated to version %d",
                  s->path, v + 1);
    }
    return 0;
}

/* ------------------------------------------------------- connections -- */

static struct conn *take(struct state *s)
{
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < POOL; i++)
            if (!s->pool[i].busy && s->pool[i].db) {
                s->pool[i].busy = true;
                pthread_mutex_unlock(&s->mu);
                return &s->pool[i];
            }
        pthread_cond_wait(&s->cv, &s->mu);
    }
}

static void give(struct state *s, struct conn *c)
{
    pthread_mutex_lock(&s->mu);
    c->busy = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- jobs -- */

enum job_kind { J_GET = 1, J_LIST, J_COMMIT };

struct job {
    struct state *s;
    int kind;
    uint32_t coll;
    char *key;
    json_t *filter;
    struct smo__store_write_copy *writes;
    size_t n;
    /* callbacks */
    smo_store_get_cb get_cb;
    smo_store_list_cb list_cb;
    smo_store_commit_cb commit_cb;
    void *arg;
    /* results */
    smo_status st;
    json_t *doc;
    int64_t rev;
    json_t *items;
    int64_t *revs;
    uint64_t t0;
    struct job *cq_next;
    bool cq_done;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *load_doc(const char *text, smo_status *st)
{
    json_error_t je;
    json_t *d = json_loads(text, JSON_DECODE_ANY, &je);
    if (!d)
        smo_status_set(st, SMO_EIO, "stored document is not JSON: %s", je.text);
    return d;
}

static void do_get(struct job *j, sqlite3 *db)
{
    sqlite3_stmt *q;
    int rc;
    if (j->coll == SMO_COLL_EVENT) {
        rc = prep(db, "SELECT seq, doc FROM events WHERE seq = ?", &q);
        if (rc == SQLITE_OK)
            sqlite3_bind_int64(q, 1, strtoll(j->key, NULL, 10));
    } else {
        rc = prep(db,
                  "SELECT rev, doc FROM docs WHERE coll = ? AND "
                  "key = ?",
                  &q);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int(q, 1, (int)j->coll);
            sqlite3_bind_text(q, 2, j->key, -1, SQLITE_STATIC);
        }
    }
    if (rc != SQLITE_OK) {
        fail(db, rc, &j->st, "get");
        return;
    }
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        j->rev = sqlite3_column_int64(q, 0);
        j->doc = load_doc((const char *)sqlite3_column_text(q, 1), &j->st);
    } else if (rc == SQLITE_DONE)
        smo_status_set(&j->st, SMO_ENOENT, "%s %s not found",
                       smo__store_coll_name(j->coll), j->key);
    else
        fail(db, rc, &j->st, "get");
    stmt_done(q);
}

static void append_row(json_t *items, sqlite3_stmt *q, smo_status *st)
{
    const char *key = (const char *)sqlite3_column_text(q, 0);
    json_t *doc = load_doc((const char *)sqlite3_column_text(q, 2), st);
    if (!doc)
        return;
    json_array_append_new(
        items, json_pack("{s:s, s:I, s:o}", "key", key, "rev",
                         (json_int_t)sqlite3_column_int64(q, 1), "doc", doc));
}

static void do_list(struct job *j, sqlite3 *db)
{
    struct smo__store_filter f;
    if (smo__store_filter_parse(j->coll, j->filter, &f, &j->st))
        return;
    j->items = json_array();
    sqlite3_stmt *q;
    int rc;
    if (j->coll == SMO_COLL_EVENT) {
        /* The newest `limit` matching events, returned oldest first. */
        rc = prep(
            db,
            "SELECT * FROM (SELECT CAST(seq AS TEXT), seq, doc FROM events "
            "WHERE (?1 IS NULL OR graph = ?1) AND time_ms >= ?2 AND seq > ?3 "
            "ORDER BY seq DESC LIMIT ?4) ORDER BY 2",
            &q);
        if (rc == SQLITE_OK) {
            if (f.graph)
                sqlite3_bind_text(q, 1, f.graph, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, f.since_ms);
            sqlite3_bind_int64(q, 3, f.after);
            sqlite3_bind_int64(q, 4, f.limit > 0 ? f.limit : -1);
        }
    } else {
        /* Only the filters given appear in the WHERE clause: "(?2 IS NULL
         * OR project = ?2)" would keep SQLite from using the indexes and
         * scan the collection on every call. Fixed text, bound values. */
        char sql[512] = "SELECT key, rev, doc FROM docs WHERE coll = ?1";
        if (f.project)
            strcat(sql, " AND project = ?2");
        if (f.name)
            strcat(sql, " AND name = ?3");
        if (f.graph)
            strcat(sql, " AND graph = ?4");
        if (f.has_area)
            strcat(sql, " AND area = ?5");
        if (f.unfinished)
            strcat(sql, " AND state IS NOT NULL AND state NOT IN "
                        "('succeeded', 'failed', 'rolled_back')");
        if (f.start_after)
            strcat(sql, " AND key > ?7");
        /* With a filter, "+key" keeps the planner from walking the whole
         * collection in key order instead of using the filter's index. */
        strcat(sql, f.project || f.name || f.graph || f.has_area || f.unfinished
                        ? " ORDER BY +key LIMIT ?6"
                        : " ORDER BY key LIMIT ?6");
        rc = prep(db, sql, &q);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int(q, 1, (int)j->coll);
            if (f.project)
                sqlite3_bind_text(q, 2, f.project, -1, SQLITE_STATIC);
            if (f.name)
                sqlite3_bind_text(q, 3, f.name, -1, SQLITE_STATIC);
            if (f.graph)
                sqlite3_bind_text(q, 4, f.graph, -1, SQLITE_STATIC);
            if (f.has_area)
                sqlite3_bind_int64(q, 5, f.area);
            sqlite3_bind_int64(q, 6, f.limit > 0 ? f.limit : -1);
            if (f.start_after)
                sqlite3_bind_text(q, 7, f.start_after, -1, SQLITE_STATIC);
        }
    }
    if (rc != SQLITE_OK) {
        fail(db, rc, &j->st, "list");
        return;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && !j->st.code)
        append_row(j->items, q, &j->st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        fail(db, rc, &j->st, "list");
    stmt_done(q);
}

static int current_rev(sqlite3 *db, uint32_t coll, const char *key,
                       int64_t *rev, smo_status *st)
{
    sqlite3_stmt *q;
    int rc = prep(db, "SELECT rev FROM docs WHERE coll = ? AND key = ?", &q);
    if (rc != SQLITE_OK)
        return fail(db, rc, st, "commit");
    sqlite3_bind_int(q, 1, (int)coll);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    *rev = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    stmt_done(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(db, rc, st, "commit");
    return 0;
}

static int write_services(sqlite3 *db, const char *key, const json_t *doc,
                          smo_status *st)
{
    sqlite3_stmt *d, *q;
    int rc = prep(db, "DELETE FROM services WHERE graph_key = ?", &d);
    if (rc != SQLITE_OK)
        return fail(db, rc, st, "commit");
    sqlite3_bind_text(d, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(d);
    stmt_done(d);
    if (rc != SQLITE_DONE)
        return fail(db, rc, st, "commit");
    if (!doc)
        return 0;
    rc = prep(db,
              "INSERT INTO services (graph_key, name, status, "
              "cluster, cpu, memory, gpu) VALUES (?, ?, ?, ?, "
              "?, ?, ?)",
              &q);
    if (rc != SQLITE_OK)
        return fail(db, rc, st, "commit");
    size_t i;
    json_t *sv;
    json_array_foreach(json_object_get(doc, "services"), i, sv)
    {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, json_string_value(json_object_get(sv, "name")),
                          -1, SQLITE_STATIC);
        const char *status = json_string_value(json_object_get(sv, "status"));
        const char *cluster = json_string_value(json_object_get(sv, "cluster"));
        if (status)
            sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 3);
        if (cluster)
            sqlite3_bind_text(q, 4, cluster, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 4);
        sqlite3_bind_double(q, 5,
                            json_number_value(json_object_get(sv, "cpu")));
        sqlite3_bind_int64(q, 6,
                           json_integer_value(json_object_get(sv, "memory")));
        sqlite3_bind_int64(q, 7,
                           json_integer_value(json_object_get(sv, "gpu")));
        rc = sqlite3_step(q);
        if (rc != SQLITE_DONE) {
            fail(db, rc, st, "commit");
            break;
        }
    }
    stmt_done(q);
    return st->code;
}

static int apply_write(struct job *j, sqlite3 *db,
                       const struct smo__store_write_copy *w, int64_t *newrev)
{
    smo_status *st = &j->st;
    int64_t ts = now_ms();
    if (w->coll == SMO_COLL_EVENT) {
        sqlite3_stmt *q;
        int rc = prep(
            db, "INSERT INTO events (graph, time_ms, doc) VALUES (?, ?, ?)",
            &q);
        if (rc != SQLITE_OK)
            return fail(db, rc, st, "commit");
        if (w->idx.graph)
            sqlite3_bind_text(q, 1, w->idx.graph, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, w->idx.time_ms ? w->idx.time_ms : ts);
        sqlite3_bind_text(q, 3, w->text, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        stmt_done(q);
        if (rc != SQLITE_DONE)
            return fail(db, rc, st, "commit");
        *newrev = sqlite3_last_insert_rowid(db);
        return 0;
    }
    int64_t cur;
    if (current_rev(db, w->coll, w->key, &cur, st))
        return st->code;
    if (smo__store_check_rev(w, cur, st))
        return st->code;
    sqlite3_stmt *q;
    int rc;
    if (!w->text) {
        rc = prep(db,
                  "DELETE FROM docs WHERE coll = ? AND "
                  "key = ?",
                  &q);
        if (rc != SQLITE_OK)
            return fail(db, rc, st, "commit");
        sqlite3_bind_int(q, 1, (int)w->coll);
        sqlite3_bind_text(q, 2, w->key, -1, SQLITE_STATIC);
        *newrev = 0;
    } else {
        rc = prep(
            db,
            "INSERT INTO docs (coll, key, rev, doc, updated_ms, project, "
            "name, graph, state, area) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
            "?8, ?9, ?10) ON CONFLICT (coll, key) DO UPDATE SET rev = ?3, "
            "doc = ?4, updated_ms = ?5, project = ?6, name = ?7, graph = ?8, "
            "state = ?9, area = ?10",
            &q);
        if (rc != SQLITE_OK)
            return fail(db, rc, st, "commit");
        *newrev = cur + 1;
        sqlite3_bind_int(q, 1, (int)w->coll);
        sqlite3_bind_text(q, 2, w->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, *newrev);
        sqlite3_bind_text(q, 4, w->text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, ts);
#define BIND_OPT(i, v)                                                         \
    do {                                                                       \
        if (v)                                                                 \
            sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);                     \
    } while (0)
        BIND_OPT(6, w->idx.project);
        BIND_OPT(7, w->idx.name);
        BIND_OPT(8, w->idx.graph);
        BIND_OPT(9, w->idx.state);
#undef BIND_OPT
        if (w->idx.has_area)
            sqlite3_bind_int64(q, 10, w->idx.area);
    }
    rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return fail(db, rc, st, "commit");
    if (w->coll == SMO_COLL_GRAPH)
        return write_services(db, w->key, w->text ? w->doc : NULL, st);
    return 0;
}

#define CQ_MAX 64

/* Events past the retention, oldest first, a batch at a time: inside the
 * commit's transaction (no fsync of its own). A failure deletes nothing
 * and is tried again at the next interval. */
static void prune_events(struct state *s, sqlite3 *db)
{
    sqlite3_stmt *q;
    if (prep(db,
             "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
             "WHERE time_ms < ? ORDER BY seq LIMIT ?)",
             &q) != SQLITE_OK)
        return;
    sqlite3_bind_int64(q, 1, now_ms() - s->cfg->events_retention_ms);
    sqlite3_bind_int(q, 2, SMO__EVENTS_PRUNE_BATCH);
    int rc = sqlite3_step(q);
    stmt_done(q);
    if (rc == SQLITE_DONE && sqlite3_changes(db) >= SMO__EVENTS_PRUNE_BATCH)
        smo__store_events_more(&s->events_pruned_ms);
}

/* One transaction for a batch of commits; each is all or nothing on its
 * own (savepoint), the batch is durable with a single COMMIT. */
static void commit_batch(struct job **batch, size_t n, sqlite3 *db)
{
    int rc = run_sql(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        for (size_t b = 0; b < n; b++)
            fail(db, rc, &batch[b]->st, "commit");
        return;
    }
    for (size_t b = 0; b < n; b++) {
        struct job *j = batch[b];
        j->revs = calloc(j->n ? j->n : 1, sizeof *j->revs);
        rc = run_sql(db, "SAVEPOINT w");
        if (rc != SQLITE_OK) {
            fail(db, rc, &j->st, "commit");
            continue;
        }
        for (size_t i = 0; i < j->n; i++)
            if (apply_write(j, db, &j->writes[i], &j->revs[i]))
                break;
        if (j->st.code)
            run_sql(db, "ROLLBACK TO w");
        run_sql(db, "RELEASE w");
    }
    struct state *s = batch[0]->s;
    if (smo__store_events_due(&s->events_pruned_ms, s->cfg->events_retention_ms,
                              now_ms()))
        prune_events(s, db);
    rc = run_sql(db, "COMMIT");
    if (rc != SQLITE_OK) {
        for (size_t b = 0; b < n; b++)
            if (!batch[b]->st.code)
                fail(db, rc, &batch[b]->st, "commit");
        run_sql(db, "ROLLBACK");
    }
}

/* Runs on a worker: queue the commit; the first worker without a leader
 * writes everything queued, the others wait for their result. */
static void group_commit(struct job *j)
{
    struct state *s = j->s;
    pthread_mutex_lock(&s->cq_mu);
    if (s->cq_tail)
        s->cq_tail->cq_next = j;
    else
        s->cq_head = j;
    s->cq_tail = j;
    while (!j->cq_done) {
        if (s->cq_leader) {
            pthread_cond_wait(&s->cq_cv, &s->cq_mu);
            continue;
        }
        s->cq_leader = true;
        struct job *batch[CQ_MAX];
        size_t n = 0;
        while (s->cq_head && n < CQ_MAX) {
            batch[n++] = s->cq_head;
            s->cq_head = s->cq_head->cq_next;
        }
        if (!s->cq_head)
            s->cq_tail = NULL;
        pthread_mutex_unlock(&s->cq_mu);
        struct conn *c = take(s);
        commit_batch(batch, n, c->db);
        give(s, c);
        pthread_mutex_lock(&s->cq_mu);
        for (size_t b = 0; b < n; b++)
            batch[b]->cq_done = true;
        s->cq_leader = false;
        pthread_cond_broadcast(&s->cq_cv);
    }
    pthread_mutex_unlock(&s->cq_mu);
}

static void job_run(void *arg)
{
    struct job *j = arg;
    if (j->kind == J_COMMIT) {
        group_commit(j);
        return;
    }
    struct conn *c = take(j->s);
    if (j->kind == J_GET)
        do_get(j, c->db);
    else
        do_list(j, c->db);
    give(j->s, c);
}

static void stopped_check(struct state *s);

static void job_done(void *arg, int status)
{
    struct job *j = arg;
    struct state *s = j->s;
    if (status == SMO_ECANCELED && !j->st.code)
        smo_status_set(&j->st, SMO_ECANCELED, "store stopping");
    static const char *const names[] = {"", "get", "list", "commit"};
    const char *lv[] = {names[j->kind], j->st.code ? "error" : "ok", NULL};
    s->host->metric_add(s->m_ops, lv, 1);
    s->host->metric_observe(s->m_seconds, NULL,
                            (double)(s->host->now_ms(s->self) - j->t0) /
                                1000.0);
    switch (j->kind) {
    case J_GET:
        j->get_cb(j->arg, &j->st, j->st.code ? NULL : j->doc,
                  j->st.code ? 0 : j->rev);
        if (j->st.code)
            json_decref(j->doc);
        break;
    case J_LIST:
        j->list_cb(j->arg, &j->st, j->st.code ? NULL : j->items);
        if (j->st.code)
            json_decref(j->items);
        break;
    case J_COMMIT:
        j->commit_cb(j->arg, &j->st, j->st.code ? NULL : j->revs,
                     j->st.code ? 0 : j->n);
        break;
    }
    smo__store_writes_free(j->writes, j->n);
    json_decref(j->filter);
    free(j->key);
    free(j->revs);
    free(j);
    s->jobs--;
    stopped_check(s);
}

static int submit(struct state *s, struct job *j, smo_status *st)
{
    j->s = s;
    j->t0 = s->host->now_ms(s->self);
    if (s->stop_done) {
        smo__store_writes_free(j->writes, j->n);
        json_decref(j->filter);
        free(j->key);
        free(j);
        return smo_status_set(st, SMO_EUNAVAIL, "store is stopping");
    }
    int r = s->host->queue_work(s->self, job_run, job_done, j);
    if (r) {
        smo__store_writes_free(j->writes, j->n);
        json_decref(j->filter);
        free(j->key);
        free(j);
        return smo_status_set(st, r, "cannot queue the store call");
    }
    s->jobs++;
    return 0;
}

/* ---------------------------------------------------------------- ops -- */

static int get(void *state, uint32_t coll, const char *key, smo_store_get_cb cb,
               void *arg, smo_status *st)
{
    if (smo__store_check_coll(coll, key, true, st))
        return st->code;
    struct job *j = calloc(1, sizeof *j);
    j->kind = J_GET;
    j->coll = coll;
    j->key = strdup(key);
    j->get_cb = cb;
    j->arg = arg;
    return submit(state, j, st);
}

static int list(void *state, uint32_t coll, const json_t *filter,
                smo_store_list_cb cb, void *arg, smo_status *st)
{
    if (smo__store_check_coll(coll, NULL, false, st))
        return st->code;
    struct smo__store_filter f;
    if (smo__store_filter_parse(coll, filter, &f, st))
        return st->code;
    struct job *j = calloc(1, sizeof *j);
    j->kind = J_LIST;
    j->coll = coll;
    j->filter = filter ? json_deep_copy(filter) : NULL;
    j->list_cb = cb;
    j->arg = arg;
    return submit(state, j, st);
}

static int commit(void *state, const struct smo_store_write *writes, size_t n,
                  smo_store_commit_cb cb, void *arg, smo_status *st)
{
    struct state *s = state;
    struct smo__store_write_copy *copy = NULL;
    if (smo__store_writes_copy(writes, n, s->cfg->max_document_bytes, &copy,
                               st))
        return st->code;
    struct job *j = calloc(1, sizeof *j);
    j->kind = J_COMMIT;
    j->writes = copy;
    j->n = n;
    j->commit_cb = cb;
    j->arg = arg;
    return submit(s, j, st);
}

/* ---------------------------------------------------------- lifecycle -- */

static void destroy(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    for (int i = 0; i < POOL; i++)
        if (s->pool[i].db)
            close_conn(s->pool[i].db);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->cq_mu);
    pthread_cond_destroy(&s->cq_cv);
    free(s->path);
    free(s);
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct cfg *c = cfgp;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = c;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->cq_mu, NULL);
    pthread_cond_init(&s->cq_cv, NULL);
    int r = c->path[0] == '/'
                ? asprintf(&s->path, "%s", c->path)
                : asprintf(&s->path, "%s/%s", host->data_dir(self), c->path);
    if (r < 0) {
        destroy(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    /* Open, check and migrate at create time: a corrupt or read-only file
     * stops the daemon from starting, with the reason. */
    for (int i = 0; i < POOL; i++) {
        if (open_conn(s, &s->pool[i].db, st)) {
            destroy(s);
            return st->code;
        }
        if (i == 0 && migrate(s, s->pool[0].db, st)) {
            destroy(s);
            return st->code;
        }
    }
    static const char *const lbl[] = {"op", "result", NULL};
    s->m_ops =
        host->metric_register(self, SMO_METRIC_COUNTER, "smo_store_calls_total",
                              "Store calls by operation and result.", lbl);
    s->m_seconds = host->metric_register(self, SMO_METRIC_HISTOGRAM,
                                         "smo_store_call_duration_seconds",
                                         "Store call latency.", NULL);
    SMO_LOG_I(host, self, "%s (SQLite %s, schema %d)", s->path,
              sqlite3_libversion(), SCHEMA_VERSION);
    *out = s;
    return 0;
}

/* Fold the WAL into the database so that the file is complete alone (a
 * plain copy is then a backup); on the thread pool like all file I/O. */
static void checkpoint(void *arg)
{
    struct state *s = arg;
    sqlite3_wal_checkpoint_v2(s->pool[0].db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                              NULL, NULL);
}

static void checkpointed(void *arg, int status)
{
    (void)status;
    struct state *s = arg;
    smo_done_cb d = s->stop_done;
    s->stop_done = NULL;
    d(s->stop_arg);
}

static void stopped_check(struct state *s)
{
    if (s->stop_done && s->jobs == 0 && !s->checkpointing) {
        s->checkpointing = true;
        if (s->host->queue_work(s->self, checkpoint, checkpointed, s))
            checkpointed(s, 0);
    }
}

static void stop(void *state, smo_done_cb done, void *arg)
{
    struct state *s = state;
    s->stop_done = done;
    s->stop_arg = arg;
    stopped_check(s);
}

static const struct smo_store_ops ops = {
    .size = sizeof(struct smo_store_ops),
    .get = get,
    .list = list,
    .commit = commit,
};

SMO_PLUGIN_DEFINE(SMO_KIND_STORE, "sqlite", "1.0.0",
                  "Embedded store: one SQLite file in WAL mode.", fields,
                  struct cfg, NULL, create, NULL, NULL, stop, destroy, &ops);
