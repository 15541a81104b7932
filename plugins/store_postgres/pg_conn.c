/* store_postgres: opening sessions, error mapping and schema migrations.
 * Everything here runs on a worker thread, except the first session,
 * which create() opens so that a wrong address, password or schema stops
 * the daemon at start with the reason. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"

/* Forward migrations; index i brings the schema to version i + 1. They run
 * with search_path set to the configured schema. Never edit a released
 * step: append a new one. Versions match store_sqlite's so that both stores
 * describe the same model at the same version. */
static const char *const migrations[] = {
    /* 1: documents with their filter columns, events. Keys compare
     * bytewise (COLLATE "C") so that lists come in the same order as from
     * SQLite, whatever the database's locale. */
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
    " graph text COLLATE \"C\", time_ms bigint NOT NULL, doc jsonb NOT NULL);"
    "CREATE INDEX events_graph ON events (graph, seq);",
    /* 2: services of a graph as rows (queries by service, names unique per
     * graph), unfinished operations indexed, backfilled. CASE guards the
     * casts: a service field of another type is stored as NULL rather than
     * failing the migration. */
    "CREATE TABLE services ("
    " graph_key text COLLATE \"C\" NOT NULL, name text COLLATE \"C\" NOT NULL,"
    " status text, cluster text, cpu double precision, memory bigint,"
    " gpu bigint, PRIMARY KEY (graph_key, name));"
    "CREATE INDEX docs_unfinished ON docs (coll, state) WHERE state IS NOT "
    " NULL AND state NOT IN ('succeeded', 'failed', 'rolled_back');"
    "CREATE INDEX events_time ON events (time_ms);"
    "INSERT INTO services (graph_key, name, status, cluster, cpu, memory, gpu)"
    " SELECT d.key, s->>'name',"
    " CASE WHEN jsonb_typeof(s->'status') = 'string' THEN s->>'status' END,"
    " CASE WHEN jsonb_typeof(s->'cluster') = 'string' THEN s->>'cluster' END,"
    " CASE WHEN jsonb_typeof(s->'cpu') = 'number' THEN (s->>'cpu')::float8"
    " END,"
    " CASE WHEN jsonb_typeof(s->'memory') <> 'number' THEN NULL"
    "  WHEN abs((s->>'memory')::numeric) < 9e18"
    "  THEN round((s->>'memory')::numeric)::bigint END,"
    " CASE WHEN jsonb_typeof(s->'gpu') <> 'number' THEN NULL"
    "  WHEN abs((s->>'gpu')::numeric) < 9e18"
    "  THEN round((s->>'gpu')::numeric)::bigint END"
    " FROM docs d, jsonb_array_elements(CASE WHEN jsonb_typeof("
    " d.doc->'services') = 'array' THEN d.doc->'services' ELSE '[]' END) s"
    " WHERE d.coll = 1 AND jsonb_typeof(s->'name') = 'string'"
    " ON CONFLICT DO NOTHING;",
    /* 3: a graph looked up by name alone (GET /graphs/{name}). */
    "CREATE INDEX docs_name ON docs (coll, name);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int smo__pg_schema_version(void)
{
    return SCHEMA_VERSION;
}

/* libpq messages span lines ("...failed: FATAL: ...\n\tIs the server
 * running...?"); a log event is one line. */
static void one_line(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    bool space = false;
    for (; in && *in && o + 1 < cap; in++) {
        if (isspace((unsigned char)*in)) {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < cap)
            out[o++] = ' ';
        space = false;
        out[o++] = *in;
    }
    out[o] = '\0';
}

int smo__pg_error(PGconn *pg, const PGresult *r, const char *what,
                  smo_status *st, bool *lost)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *prim =
        r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail =
        r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    char msg[360], full[800];
    snprintf(full, sizeof full, "%s%s%s",
             prim ? prim
             : pg ? PQerrorMessage(pg)
                  : "",
             detail ? ": " : "", detail ? detail : "");
    one_line(msg, sizeof msg, full);
    if (!msg[0])
        snprintf(msg, sizeof msg, "unknown error");
    bool gone =
        !pg || PQstatus(pg) == CONNECTION_BAD ||
        (state && (strncmp(state, "08", 2) == 0 ||
                   strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
                   strcmp(state, "57P03") == 0 || strcmp(state, "53300") == 0 ||
                   /* A primary turned standby (failover): a new session
                    * may reach the new primary (target_session_attrs). */
                   strcmp(state, "25006") == 0));
    int code = SMO_EIO;
    if (gone) {
        *lost = true;
        code = SMO_EUNAVAIL;
    } else if (!state)
        code = SMO_EIO;
    else if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
             !strcmp(state, "55P03"))
        code = SMO_EBUSY; /* serialization, deadlock, lock: retry */
    else if (!strcmp(state, "23505"))
        code = SMO_ECONFLICT;
    else if (!strcmp(state, "57014"))
        code = SMO_ETIMEDOUT; /* statement_timeout */
    else if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
        code = SMO_EINVAL; /* data the server refuses (e.g. \u0000) */
    else if (!strncmp(state, "54", 2))
        code = SMO_ETOOBIG;
    else if (!strcmp(state, "53100"))
        code = SMO_ENOSPC;
    else if (!strcmp(state, "53200"))
        code = SMO_ENOMEM;
    else if (!strcmp(state, "42501") || !strncmp(state, "28", 2))
        code = SMO_EACCES;
    if (state && code == SMO_EIO)
        return smo_status_set(st, code, "%s: %s (SQLSTATE %s)", what, msg,
                              state);
    return smo_status_set(st, code, "%s: %s", what, msg);
}

char *smo__pg_target(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &err);
    PQfreemem(err);
    const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
    for (PQconninfoOption *x = o; x && x->keyword; x++) {
        if (!x->val || !*x->val)
            continue;
        if (!strcmp(x->keyword, "user"))
            user = x->val;
        else if (!strcmp(x->keyword, "host") ||
                 (!host && !strcmp(x->keyword, "hostaddr")))
            host = x->val;
        else if (!strcmp(x->keyword, "port"))
            port = x->val;
        else if (!strcmp(x->keyword, "dbname"))
            db = x->val;
    }
    char *t = NULL;
    if (asprintf(&t, "%s%s%s%s%s/%s", user ? user : "", user ? "@" : "",
                 host ? host : "(default host)", port ? ":" : "",
                 port ? port : "", db ? db : "(default database)") < 0)
        t = NULL;
    PQconninfoFree(o);
    return t;
}

int smo__pg_check_conninfo(const char *conninfo, smo_status *st)
{
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &err);
    if (!o) {
        char m[300];
        one_line(m, sizeof m, err ? err : "out of memory");
        PQfreemem(err);
        return smo_status_set(st, SMO_EINVAL, "conninfo: %s", m);
    }
    int r = 0;
    for (PQconninfoOption *x = o; x->keyword; x++)
        if (!strcmp(x->keyword, "password") && x->val && *x->val)
            r = smo_status_set(st, SMO_EINVAL,
                               "conninfo: contains a password; give it with "
                               "password_env or password_file so that it is "
                               "never shown");
    PQconninfoFree(o);
    return r;
}

/* The first line of password_file, read at every connection so that the
 * password can be rotated without a restart. */
static int read_password(const char *path, char *buf, size_t cap,
                         smo_status *st)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return smo_status_set(st, SMO_EACCES,
                              "password_file: cannot read %s: %s", path,
                              strerror(errno));
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        buf[0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0])
        return smo_status_set(st, SMO_EACCES, "password_file: %s is empty",
                              path);
    return 0;
}

static int exec_ok(PGconn *pg, const char *sql, const char *what,
                   smo_status *st)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType es = PQresultStatus(r);
    bool lost = false;
    int rc = 0;
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
        rc = smo__pg_error(pg, r, what, st, &lost);
    PQclear(r);
    return rc;
}

static int current_version(PGconn *pg, int *v, smo_status *st)
{
    bool lost = false;
    PGresult *r =
        PQexec(pg, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        smo__pg_error(pg, r, "schema version", st, &lost);
        PQclear(r);
        return st->code;
    }
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    *v = 0;
    if (!exists)
        return 0;
    r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        smo__pg_error(pg, r, "schema version", st, &lost);
        PQclear(r);
        return st->code;
    }
    *v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int migrate_locked(struct smo__pg *s, PGconn *pg, smo_status *st)
{
    const char *sch = s->cfg->schema;
    const char *p1[] = {sch};
    bool lost = false;
    /* Two daemons starting together on one database: the second waits here
     * and then finds the work done. */
    PGresult *r =
        PQexecParams(pg,
                     "SELECT pg_advisory_xact_lock(hashtextextended("
                     "'smo schema ' || $1, 0)), EXISTS (SELECT 1 FROM "
                     "pg_namespace WHERE nspname = $1)",
                     1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        smo__pg_error(pg, r, "migration", st, &lost);
        PQclear(r);
        return st->code;
    }
    bool have_schema = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    char sql[256];
    if (!have_schema) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", s->schema_q);
        if (exec_ok(pg, sql, "creating the schema", st))
            return st->code;
    }
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_version (version integer "
                "NOT NULL)",
                "migration", st))
        return st->code;
    int v;
    if (current_version(pg, &v, st))
        return st->code;
    if (v > SCHEMA_VERSION)
        return smo_status_set(st, SMO_ENOTSUP,
                              "schema %s is at version %d, newer than this "
                              "smod knows (%d); use a newer smod",
                              sch, v, SCHEMA_VERSION);
    for (; v < SCHEMA_VERSION; v++) {
        char what[96];
        snprintf(what, sizeof what, "migration of schema %s to version %d", sch,
                 v + 1);
        if (exec_ok(pg, migrations[v], what, st))
            return st->code;
        snprintf(sql, sizeof sql,
                 "DELETE FROM schema_version; INSERT INTO schema_version "
                 "VALUES (%d)",
                 v + 1);
        if (exec_ok(pg, sql, what, st))
            return st->code;
        SMO_LOG_N(s->host, s->self, "schema %s migrated to version %d", sch,
                  v + 1);
    }
    return 0;
}

/* Bring the schema to SCHEMA_VERSION. Checked at every new session (one
 * cheap query when current) so that a database restored from an older
 * dump, or recreated empty, is migrated before it is written. */
static int migrate(struct smo__pg *s, PGconn *pg, smo_status *st)
{
    int v;
    if (current_version(pg, &v, st))
        return st->code;
    if (v == SCHEMA_VERSION)
        return 0;
    if (v > SCHEMA_VERSION)
        return smo_status_set(st, SMO_ENOTSUP,
                              "schema %s is at version %d, newer than this "
                              "smod knows (%d); use a newer smod",
                              s->cfg->schema, v, SCHEMA_VERSION);
    /* DDL is transactional in PostgreSQL: all steps or none. */
    if (exec_ok(pg, "BEGIN", "migration", st))
        return st->code;
    if (migrate_locked(s, pg, st)) {
        PGresult *r = PQexec(pg, "ROLLBACK");
        PQclear(r);
        return st->code;
    }
    return exec_ok(pg, "COMMIT", "migration", st);
}

/* libpq prints server notices on stderr by default; a plugin never writes
 * there. They go to the instance's log instead ("relation ... already
 * exists, skipping" at debug, a server's warnings as warnings). */
static void notice(void *arg, const char *text)
{
    struct smo__pg *s = arg;
    char m[512];
    one_line(m, sizeof m, text);
    int level = strncmp(m, "WARNING", 7) == 0 ? SMO_LOG_WARN : SMO_LOG_DEBUG;
    SMO_LOG(s->host, s->self, level, "PostgreSQL says: %s", m);
}

int smo__pg_open(struct smo__pg *s, PGconn **out, smo_status *st)
{
    *out = NULL;
    const struct smo__pg_cfg *c = s->cfg;
    char pw[1024] = "";
    if (c->password_file && read_password(c->password_file, pw, sizeof pw, st))
        return st->code;
    char ct[24], tut[24];
    /* libpq counts whole seconds (and at least 2). */
    snprintf(ct, sizeof ct, "%lld",
             (long long)((c->connect_timeout_ms + 999) / 1000));
    /* Unacknowledged data for this long means the peer is gone (a pulled
     * cable rather than a stopped server, which resets the connection). */
    snprintf(tut, sizeof tut, "%lld",
             (long long)(c->connect_timeout_ms + 15000));
    /* Later entries win: the conninfo (expanded from dbname) may override
     * the defaults before it, never the encoding or the password after. */
    const char *keys[16], *vals[16];
    int k = 0;
#define KV(a, b) (keys[k] = (a), vals[k++] = (b))
    KV("application_name", "smod");
    KV("connect_timeout", ct);
    KV("keepalives", "1");
    KV("keepalives_idle", "10");
    KV("keepalives_interval", "5");
    KV("keepalives_count", "3");
    KV("tcp_user_timeout", tut);
    KV("dbname", c->conninfo);
    KV("client_encoding", "UTF8");
    if (pw[0])
        KV("password", pw);
    else if (s->password)
        KV("password", s->password);
    KV(NULL, NULL);
#undef KV
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    explicit_bzero(pw, sizeof pw);
    if (!pg)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    if (PQstatus(pg) != CONNECTION_OK) {
        char m[400];
        one_line(m, sizeof m, PQerrorMessage(pg));
        PQfinish(pg);
        return smo_status_set(st, SMO_EUNAVAIL, "cannot connect: %s", m);
    }
    PQsetNoticeProcessor(pg, notice, s);
    /* pg_current_xact_id()/pg_xact_status() settle a COMMIT whose answer
     * was lost: PostgreSQL 13 or newer. */
    int ver = PQserverVersion(pg);
    if (ver < 130000) {
        PQfinish(pg);
        return smo_status_set(st, SMO_ENOTSUP,
                              "PostgreSQL %d.%d is too old: 13 or newer is "
                              "needed",
                              ver / 10000, ver % 10000 / 100);
    }
    const char *enc = PQparameterStatus(pg, "server_encoding");
    if (!enc || strcmp(enc, "UTF8") != 0) {
        smo_status_set(st, SMO_ENOTSUP,
                       "database %s has encoding %s: SMO stores UTF-8 text "
                       "and needs a UTF8 database (CREATE DATABASE ... "
                       "ENCODING 'UTF8' TEMPLATE template0)",
                       PQdb(pg), enc ? enc : "?");
        PQfinish(pg);
        return st->code;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET search_path TO %s; SET statement_timeout = %lld;"
             "SET idle_in_transaction_session_timeout = '5min'",
             s->schema_q, (long long)c->statement_timeout_ms);
    if (exec_ok(pg, sql, "session setup", st)) {
        PQfinish(pg);
        return st->code;
    }
    /* A standby (or a read-only default) would fail every write: not a
     * server the store can use, but maybe one a failover will replace. */
    PGresult *r = PQexec(pg, "SELECT pg_is_in_recovery(), "
                             "current_setting('transaction_read_only')");
    bool lost = false;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        smo__pg_error(pg, r, "session setup", st, &lost);
        PQclear(r);
        PQfinish(pg);
        return st->code;
    }
    bool ro =
        PQgetvalue(r, 0, 0)[0] == 't' || !strcmp(PQgetvalue(r, 0, 1), "on");
    PQclear(r);
    if (ro) {
        smo_status_set(st, SMO_EUNAVAIL,
                       "the server is read-only (a standby, or "
                       "default_transaction_read_only); list every host "
                       "with target_session_attrs=read-write to follow a "
                       "failover");
        PQfinish(pg);
        return st->code;
    }
    if (migrate(s, pg, st)) {
        PQfinish(pg);
        return st->code;
    }
    *out = pg;
    return 0;
}
