/* store_postgres: the store operations as SQL, run on a worker thread with
 * a live session.
 *
 * A commit is one transaction. Each write is one statement whose WHERE
 * clause or ON CONFLICT carries the revision check, so that two writers
 * racing on a record are ordered by the row lock: the second one re-reads
 * the committed row (READ COMMITTED re-check) and finds the revision
 * changed. Only when a statement matched nothing is the current revision
 * read, to say why. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg.h"

#define DOC_COLS                                                               \
    "coll, key, rev, doc, updated_ms, project, name, graph, state, area"
#define DOC_VALS "$1, $2, 1, $3::jsonb, $4, $5, $6, $7, $8, $9"

static const char *const stmt_name[SMO__PG_NSTMT] = {
    "smo_get",        "smo_get_event", "smo_rev",    "smo_insert",
    "smo_upsert",     "smo_update",    "smo_delete", "smo_svc_replace",
    "smo_svc_delete", "smo_event"};

static const char *const stmt_sql[SMO__PG_NSTMT] = {
    [SMO__PG_GET] = "SELECT rev, doc::text FROM docs WHERE coll = $1 AND "
                    "key = $2",
    [SMO__PG_GET_EVENT] = "SELECT seq, doc::text FROM events WHERE seq = $1",
    [SMO__PG_REV] = "SELECT rev FROM docs WHERE coll = $1 AND key = $2",
    [SMO__PG_INSERT] = "INSERT INTO docs (" DOC_COLS ") VALUES (" DOC_VALS
                       ") ON CONFLICT (coll, key) DO NOTHING RETURNING rev",
    [SMO__PG_UPSERT] =
        "INSERT INTO docs (" DOC_COLS ") VALUES (" DOC_VALS
        ") ON CONFLICT (coll, key) DO UPDATE SET rev = docs.rev + 1, "
        "doc = EXCLUDED.doc, updated_ms = EXCLUDED.updated_ms, "
        "project = EXCLUDED.project, name = EXCLUDED.name, "
        "graph = EXCLUDED.graph, state = EXCLUDED.state, "
        "area = EXCLUDED.area RETURNING rev",
    [SMO__PG_UPDATE] =
        "UPDATE docs SET rev = rev + 1, doc = $3::jsonb, updated_ms = $4, "
        "project = $5, name = $6, graph = $7, state = $8, area = $9 "
        "WHERE coll = $1 AND key = $2 AND rev = $10 RETURNING rev",
    [SMO__PG_DELETE] = "DELETE FROM docs WHERE coll = $1 AND key = $2 AND "
                       "($3::bigint < 0 OR rev = $3) RETURNING rev",
    /* Services no longer in the graph go, the others are upserted: one
     * statement, and no key is both deleted and inserted in it. */
    [SMO__PG_SVC_REPLACE] =
        "WITH new AS (SELECT s->>'name' AS name,"
        " CASE WHEN jsonb_typeof(s->'status') = 'string' THEN s->>'status'"
        " END AS status,"
        " CASE WHEN jsonb_typeof(s->'cluster') = 'string' THEN s->>'cluster'"
        " END AS cluster,"
        " CASE WHEN jsonb_typeof(s->'cpu') = 'number' THEN"
        " (s->>'cpu')::float8 END AS cpu,"
        " CASE WHEN jsonb_typeof(s->'memory') <> 'number' THEN NULL"
        "  WHEN abs((s->>'memory')::numeric) < 9e18"
        "  THEN round((s->>'memory')::numeric)::bigint END AS memory,"
        " CASE WHEN jsonb_typeof(s->'gpu') <> 'number' THEN NULL"
        "  WHEN abs((s->>'gpu')::numeric) < 9e18"
        "  THEN round((s->>'gpu')::numeric)::bigint END AS gpu"
        " FROM jsonb_array_elements($2::jsonb) s),"
        " gone AS (DELETE FROM services WHERE graph_key = $1 AND name NOT IN"
        " (SELECT name FROM new))"
        " INSERT INTO services (graph_key, name, status, cluster, cpu, "
        "memory, gpu) SELECT $1, name, status, cluster, cpu, memory, gpu "
        "FROM new ON CONFLICT (graph_key, name) DO UPDATE SET "
        "status = EXCLUDED.status, cluster = EXCLUDED.cluster, "
        "cpu = EXCLUDED.cpu, memory = EXCLUDED.memory, gpu = EXCLUDED.gpu",
    [SMO__PG_SVC_DELETE] = "DELETE FROM services WHERE graph_key = $1",
    [SMO__PG_EVENT] = "INSERT INTO events (graph, time_ms, doc) VALUES ($1, "
                      "$2, $3::jsonb) RETURNING seq",
};

/* Run a prepared statement (preparing it on first use in this session).
 * NULL with `st` set on failure. */
static PGresult *run(struct smo__pg_conn *c, int id, int n,
                     const char *const *vals, const char *what, smo_status *st,
                     bool *lost)
{
    if (!(c->prepared & (1u << id))) {
        PGresult *p = PQprepare(c->pg, stmt_name[id], stmt_sql[id], 0, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            smo__pg_error(c->pg, p, what, st, lost);
            PQclear(p);
            return NULL;
        }
        PQclear(p);
        c->prepared |= 1u << id;
    }
    PGresult *r = PQexecPrepared(c->pg, stmt_name[id], n, vals, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
        smo__pg_error(c->pg, r, what, st, lost);
        PQclear(r);
        return NULL;
    }
    return r;
}

static PGresult *run_sql(PGconn *pg, const char *sql, int n,
                         const char *const *vals, const char *what,
                         smo_status *st, bool *lost)
{
    PGresult *r = n ? PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0)
                    : PQexec(pg, sql);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
        smo__pg_error(pg, r, what, st, lost);
        PQclear(r);
        return NULL;
    }
    return r;
}

static json_t *load_doc(const PGresult *r, int row, int col, smo_status *st)
{
    json_error_t je;
    json_t *d =
        json_loadb(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col),
                   JSON_DECODE_ANY, &je);
    if (!d)
        smo_status_set(st, SMO_EIO, "stored document is not JSON: %s", je.text);
    return d;
}

static int64_t num(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---------------------------------------------------------------- JSON -- */

static bool positive_exponent(const char *a, const char *b)
{
    for (const char *p = a; p < b; p++)
        if (*p == 'e' || *p == 'E')
            return p + 1 < b && p[1] != '-';
    return false;
}

/* jsonb keeps numbers as decimals: jansson's "1e+20" for a real comes back
 * as "100000000000000000000", which jansson then reads as an integer (or
 * rejects as too large). Writing such reals in positional notation with a
 * ".0" keeps them reals. Integers never carry an exponent, and reals with
 * a negative one keep their fractional digits, so only those change.
 * Returns NULL when the text is fine as it is. */
char *smo__pg_json_text(const char *t)
{
    size_t count = 0, len = strlen(t);
    for (int pass = 0; pass < 2; pass++) {
        char *out = NULL;
        size_t o = 0;
        if (pass == 1) {
            if (!count)
                return NULL;
            out = malloc(len + count * 330 + 1);
            if (!out)
                return NULL;
        }
        for (size_t i = 0; i < len;) {
            if (t[i] == '"') {
                size_t j = i + 1;
                while (j < len && t[j] != '"')
                    j += t[j] == '\\' ? 2 : 1;
                j = j < len ? j + 1 : len;
                if (out) {
                    memcpy(out + o, t + i, j - i);
                    o += j - i;
                }
                i = j;
                continue;
            }
            if (t[i] == '-' || isdigit((unsigned char)t[i])) {
                size_t j = i;
                while (j < len && strchr("0123456789+-.eE", t[j]))
                    j++;
                if (positive_exponent(t + i, t + j)) {
                    if (!out)
                        count++;
                    else {
                        char tok[64];
                        size_t tl = j - i < sizeof tok ? j - i : sizeof tok - 1;
                        memcpy(tok, t + i, tl);
                        tok[tl] = '\0';
                        o += (size_t)snprintf(out + o, 330, "%.1f",
                                              strtod(tok, NULL));
                    }
                } else if (out) {
                    memcpy(out + o, t + i, j - i);
                    o += j - i;
                }
                i = j;
                continue;
            }
            if (out)
                out[o++] = t[i];
            i++;
        }
        if (out) {
            out[o] = '\0';
            return out;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- reading -- */

void smo__pg_do_get(struct smo__pg_job *j, struct smo__pg_conn *c, bool *lost)
{
    char coll[16];
    snprintf(coll, sizeof coll, "%u", j->coll);
    PGresult *r;
    if (j->coll == SMO_COLL_EVENT) {
        /* Event keys are sequence numbers; anything else names nothing. */
        char *end;
        long long seq = strtoll(j->key, &end, 10);
        if (*end || end == j->key || seq <= 0) {
            smo_status_set(&j->st, SMO_ENOENT, "event %s not found", j->key);
            return;
        }
        char sq[24];
        snprintf(sq, sizeof sq, "%lld", seq);
        const char *v[] = {sq};
        r = run(c, SMO__PG_GET_EVENT, 1, v, "get", &j->st, lost);
    } else {
        const char *v[] = {coll, j->key};
        r = run(c, SMO__PG_GET, 2, v, "get", &j->st, lost);
    }
    if (!r)
        return;
    if (PQntuples(r) == 0)
        smo_status_set(&j->st, SMO_ENOENT, "%s %s not found",
                       smo__store_coll_name(j->coll), j->key);
    else {
        j->rev = num(r, 0, 0);
        j->doc = load_doc(r, 0, 1, &j->st);
    }
    PQclear(r);
}

void smo__pg_do_list(struct smo__pg_job *j, struct smo__pg_conn *c, bool *lost)
{
    struct smo__store_filter f;
    if (smo__store_filter_parse(j->coll, j->filter, &f, &j->st))
        return;
    /* Only the conditions present, so that the planner sees plain
     * equalities it can match to the indexes; values stay parameters. */
    char sql[640], nb[4][24];
    const char *v[8];
    int n = 0;
    size_t o = 0;
#define ADD(...) (o += (size_t)snprintf(sql + o, sizeof sql - o, __VA_ARGS__))
    if (j->coll == SMO_COLL_EVENT) {
        snprintf(nb[0], sizeof nb[0], "%lld", (long long)f.after);
        snprintf(nb[1], sizeof nb[1], "%lld", (long long)f.since_ms);
        v[n++] = nb[0];
        v[n++] = nb[1];
        ADD("SELECT e.seq::text AS k, e.seq, e.doc FROM (SELECT seq, "
            "doc::text AS doc FROM events WHERE seq > $1 AND time_ms >= $2");
        if (f.graph) {
            v[n++] = f.graph;
            ADD(" AND graph = $%d", n);
        }
        ADD(" ORDER BY seq DESC");
        if (f.limit > 0) {
            snprintf(nb[2], sizeof nb[2], "%lld", (long long)f.limit);
            v[n++] = nb[2];
            ADD(" LIMIT $%d", n);
        }
        ADD(") e ORDER BY e.seq");
    } else {
        snprintf(nb[0], sizeof nb[0], "%u", j->coll);
        v[n++] = nb[0];
        ADD("SELECT key, rev, doc::text FROM docs WHERE coll = $1");
        if (f.project) {
            v[n++] = f.project;
            ADD(" AND project = $%d", n);
        }
        if (f.name) {
            v[n++] = f.name;
            ADD(" AND name = $%d", n);
        }
        if (f.graph) {
            v[n++] = f.graph;
            ADD(" AND graph = $%d", n);
        }
        if (f.has_area) {
            snprintf(nb[1], sizeof nb[1], "%lld", (long long)f.area);
            v[n++] = nb[1];
            ADD(" AND area = $%d", n);
        }
        if (f.unfinished)
            ADD(" AND state IS NOT NULL AND state NOT IN ('succeeded', "
                "'failed', 'rolled_back')");
        if (f.start_after) {
            v[n++] = f.start_after;
            ADD(" AND key > $%d", n);
        }
        ADD(" ORDER BY key");
        if (f.limit > 0) {
            snprintf(nb[2], sizeof nb[2], "%lld", (long long)f.limit);
            v[n++] = nb[2];
            ADD(" LIMIT $%d", n);
        }
    }
#undef ADD
    PGresult *r = run_sql(c->pg, sql, n, v, "list", &j->st, lost);
    if (!r)
        return;
    j->items = json_array();
    for (int i = 0; i < PQntuples(r) && !j->st.code; i++) {
        json_t *doc = load_doc(r, i, 2, &j->st);
        if (doc)
            json_array_append_new(
                j->items,
                json_pack("{s:s, s:I, s:o}", "key", PQgetvalue(r, i, 0), "rev",
                          (json_int_t)num(r, i, 1), "doc", doc));
    }
    PQclear(r);
}

/* ------------------------------------------------------------- writing -- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why a revision-checked statement matched nothing, in the words of
 * smo__store_check_rev (the same messages as every store). */
static int explain_conflict(struct smo__pg_conn *c,
                            const struct smo__store_write_copy *w,
                            smo_status *st, bool *lost)
{
    char coll[16];
    snprintf(coll, sizeof coll, "%u", w->coll);
    const char *v[] = {coll, w->key};
    PGresult *r = run(c, SMO__PG_REV, 2, v, "commit", st, lost);
    if (!r)
        return st->code;
    int64_t cur = PQntuples(r) ? num(r, 0, 0) : 0;
    PQclear(r);
    if (smo__store_check_rev(w, cur, st))
        return st->code;
    /* Changed and changed back between the two statements. */
    return smo_status_set(st, SMO_ECONFLICT,
                          "%s %s: changed by someone else during the write",
                          smo__store_coll_name(w->coll), w->key);
}

/* What a statement of the pipeline means for the batch. */
enum {
    Q_BEGIN,
    Q_XID,
    Q_EVENT,    /* RETURNING seq: the event's revision */
    Q_ABSENT,   /* a row means the record exists: conflict */
    Q_DELETE,   /* no row is a conflict unless any revision was accepted */
    Q_WRITE,    /* RETURNING rev; no row is a conflict */
    Q_SERVICES, /* result ignored */
};

struct query {
    int kind;
    size_t write; /* index of its write */
};

/* Queue one write's statements on the pipeline. */
static int send_write(struct smo__pg_conn *c,
                      const struct smo__store_write_copy *w, size_t i,
                      int64_t ts, struct query *q, size_t *nq)
{
    char tsb[24], coll[16], area[24], exp[24];
    snprintf(tsb, sizeof tsb, "%lld", (long long)ts);
    snprintf(coll, sizeof coll, "%u", w->coll);
    snprintf(exp, sizeof exp, "%lld", (long long)w->expect_rev);
    char *fixed = w->text ? smo__pg_json_text(w->text) : NULL;
    const char *doc = fixed ? fixed : w->text;
    int ok = 1;
#define SEND(id, kind_, n, v)                                                  \
    (ok =                                                                      \
         ok && PQsendQueryPrepared(c->pg, stmt_name[id], n, v, NULL, NULL, 0), \
     q[(*nq)++] = (struct query){kind_, i})
    if (w->coll == SMO_COLL_EVENT) {
        snprintf(tsb, sizeof tsb, "%lld",
                 (long long)(w->idx.time_ms ? w->idx.time_ms : ts));
        const char *v[] = {w->idx.graph, tsb, doc};
        SEND(SMO__PG_EVENT, Q_EVENT, 3, v);
    } else if (!w->text && w->expect_rev == SMO_REV_ABSENT) {
        /* Deleting what must not exist: only a check. */
        const char *v[] = {coll, w->key};
        SEND(SMO__PG_REV, Q_ABSENT, 2, v);
    } else if (!w->text) {
        const char *v[] = {coll, w->key, exp};
        SEND(SMO__PG_DELETE, Q_DELETE, 3, v);
        if (w->coll == SMO_COLL_GRAPH) {
            const char *v2[] = {w->key};
            SEND(SMO__PG_SVC_DELETE, Q_SERVICES, 1, v2);
        }
    } else {
        if (w->idx.has_area)
            snprintf(area, sizeof area, "%lld", (long long)w->idx.area);
        const char *v[] = {
            coll,         w->key,         doc,
            tsb,          w->idx.project, w->idx.name,
            w->idx.graph, w->idx.state,   w->idx.has_area ? area : NULL,
            exp};
        int id = w->expect_rev == SMO_REV_ABSENT ? SMO__PG_INSERT
                 : w->expect_rev == SMO_REV_ANY  ? SMO__PG_UPSERT
                                                 : SMO__PG_UPDATE;
        SEND(id, Q_WRITE, id == SMO__PG_UPDATE ? 10 : 9, v);
        if (w->coll == SMO_COLL_GRAPH) {
            /* Services no longer listed go, the others are upserted. */
            const json_t *svcs = json_object_get(w->doc, "services");
            char *text = svcs ? json_dumps(svcs, JSON_COMPACT) : strdup("[]");
            char *fx = text ? smo__pg_json_text(text) : NULL;
            const char *v2[] = {w->key, fx ? fx : text};
            if (text)
                SEND(SMO__PG_SVC_REPLACE, Q_SERVICES, 2, v2);
            else
                ok = 0;
            free(fx);
            free(text);
        }
    }
#undef SEND
    free(fixed);
    return ok ? 0 : -1;
}

static const int commit_stmts[] = {
    SMO__PG_REV,    SMO__PG_INSERT,      SMO__PG_UPSERT,     SMO__PG_UPDATE,
    SMO__PG_DELETE, SMO__PG_SVC_REPLACE, SMO__PG_SVC_DELETE, SMO__PG_EVENT};

/* Every statement a commit may use, prepared in this session (once). */
static int prepare_all(struct smo__pg_conn *c, smo_status *st, bool *lost)
{
    for (size_t i = 0; i < sizeof commit_stmts / sizeof commit_stmts[0]; i++) {
        int id = commit_stmts[i];
        if (c->prepared & (1u << id))
            continue;
        PGresult *p = PQprepare(c->pg, stmt_name[id], stmt_sql[id], 0, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            smo__pg_error(c->pg, p, "commit", st, lost);
            PQclear(p);
            return st->code;
        }
        PQclear(p);
        c->prepared |= 1u << id;
    }
    return 0;
}

/* The pipeline cannot go on (the session broke, or libpq refused): the
 * session is dropped. COMMIT was not sent, so nothing was written. */
static int broken(struct smo__pg_conn *c, smo_status *st, bool *lost)
{
    if (!st->code)
        smo__pg_error(c->pg, NULL, "commit", st, lost);
    *lost = true;
    st->code = SMO_EUNAVAIL;
    return st->code;
}

/* One transaction in two round trips whatever the batch: BEGIN, the
 * transaction id and every write go out as one pipeline; COMMIT follows
 * once all their results are in (or ROLLBACK, after a conflict or an
 * error). A statement that matches nothing is not an error, so the writes
 * after a conflict still run; they are rolled back with it. */
static int pipeline(struct smo__pg_job *j, struct smo__pg_conn *c, char *xid,
                    size_t xid_len, size_t *conflict, bool *lost)
{
    smo_status *st = &j->st;
    size_t cap = 2 + 2 * j->n, nq = 0;
    struct query *q = calloc(cap, sizeof *q);
    if (!q)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    *conflict = SIZE_MAX;
    int64_t ts = now_ms();
    bool sent = PQenterPipelineMode(c->pg) == 1;
    if (sent) {
        sent =
            PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
            PQsendQueryParams(c->pg, "SELECT pg_current_xact_id()::text", 0,
                              NULL, NULL, NULL, NULL, 0);
        q[nq++] = (struct query){Q_BEGIN, 0};
        q[nq++] = (struct query){Q_XID, 0};
        for (size_t i = 0; i < j->n && sent; i++)
            sent = send_write(c, &j->writes[i], i, ts, q, &nq) == 0;
        sent = sent && PQpipelineSync(c->pg);
    }
    if (!sent) {
        free(q);
        return broken(c, st, lost);
    }
    size_t bad = SIZE_MAX; /* first write with a server error */
    for (size_t k = 0; k < nq; k++) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            free(q);
            return broken(c, st, lost);
        }
        ExecStatusType es = PQresultStatus(r);
        const struct query *x = &q[k];
        if (es == PGRES_PIPELINE_ABORTED)
            ; /* skipped after an earlier error */
        else if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
            if (bad == SIZE_MAX) {
                const struct smo__store_write_copy *w = &j->writes[x->write];
                char what[600] = "commit";
                if (x->kind > Q_XID)
                    snprintf(what, sizeof what, "%s %s",
                             smo__store_coll_name(w->coll),
                             w->key ? w->key : "(event)");
                smo__pg_error(c->pg, r, what, st, lost);
                bad = x->kind <= Q_XID ? 0 : x->write;
            }
        } else if (x->kind == Q_XID)
            snprintf(xid, xid_len, "%s", PQgetvalue(r, 0, 0));
        else if (x->kind == Q_EVENT)
            j->revs[x->write] = num(r, 0, 0);
        else if (x->kind == Q_WRITE || x->kind == Q_DELETE ||
                 x->kind == Q_ABSENT) {
            const struct smo__store_write_copy *w = &j->writes[x->write];
            bool none = PQntuples(r) == 0;
            bool stale = x->kind == Q_ABSENT
                             ? !none
                             : none && !(x->kind == Q_DELETE &&
                                         w->expect_rev == SMO_REV_ANY);
            if (stale && *conflict == SIZE_MAX)
                *conflict = x->write;
            j->revs[x->write] = x->kind == Q_WRITE && !none ? num(r, 0, 0) : 0;
        }
        PQclear(r);
        if (*lost)
            break;
        /* Each statement's results end with a NULL. */
        while ((r = PQgetResult(c->pg)))
            PQclear(r);
    }
    free(q);
    if (*lost)
        return st->code;
    PGresult *r = PQgetResult(c->pg);
    bool synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!synced || PQexitPipelineMode(c->pg) != 1)
        return broken(c, st, lost);
    /* The first problem in batch order is the one reported. */
    if (st->code && (*conflict == SIZE_MAX || bad <= *conflict))
        *conflict = SIZE_MAX;
    else if (*conflict != SIZE_MAX)
        smo_status_clear(st);
    return st->code;
}

/* After a commit: events past the retention, oldest first, a batch at a
 * time, in a statement of their own (the commit's answer does not depend
 * on it). A failure deletes nothing and is tried again at the next
 * interval; a lost session shows at the next call. */
static void prune_events(struct smo__pg *s, struct smo__pg_conn *c)
{
    if (!smo__store_events_due(&s->events_pruned_ms,
                               s->cfg->events_retention_ms, now_ms()))
        return;
    char cut[32], lim[16];
    snprintf(cut, sizeof cut, "%lld",
             (long long)(now_ms() - s->cfg->events_retention_ms));
    snprintf(lim, sizeof lim, "%d", SMO__EVENTS_PRUNE_BATCH);
    const char *v[] = {cut, lim};
    PGresult *r = PQexecParams(c->pg,
                               "DELETE FROM events WHERE seq IN (SELECT seq "
                               "FROM events WHERE time_ms < $1::bigint "
                               "ORDER BY seq LIMIT $2::int)",
                               2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_COMMAND_OK &&
        atoll(PQcmdTuples(r)) >= SMO__EVENTS_PRUNE_BATCH)
        smo__store_events_more(&s->events_pruned_ms);
    PQclear(r);
}

static void rollback(PGconn *pg)
{
    if (PQstatus(pg) == CONNECTION_OK)
        PQclear(PQexec(pg, "ROLLBACK"));
}

void smo__pg_do_commit(struct smo__pg_job *j, struct smo__pg_conn *c,
                       bool *lost, bool *in_doubt, char *xid, size_t xid_len)
{
    *in_doubt = false;
    if (!j->revs)
        j->revs = calloc(j->n, sizeof *j->revs);
    if (!j->revs) {
        smo_status_set(&j->st, SMO_ENOMEM, "out of memory");
        return;
    }
    if (prepare_all(c, &j->st, lost))
        return;
    /* A deadlock between two batches aborts one of them whole; running it
     * again is then safe. */
    for (int attempt = 0; attempt < 3; attempt++) {
        smo_status_clear(&j->st);
        xid[0] = '\0';
        size_t conflict;
        pipeline(j, c, xid, xid_len, &conflict, lost);
        if (*lost)
            return;
        if (conflict != SIZE_MAX) {
            /* Rolled back first: a later write may have failed and left
             * the transaction unusable. The reason is read outside it. */
            rollback(c->pg);
            explain_conflict(c, &j->writes[conflict], &j->st, lost);
            return;
        }
        if (j->st.code) {
            rollback(c->pg);
            if (j->st.code == SMO_EBUSY && attempt < 2) {
                usleep(10000u * (unsigned)(attempt + 1));
                continue;
            }
            return;
        }
        /* The transaction id is known before COMMIT goes out: if its
         * answer is lost, a new session can ask whether it committed. */
        PGresult *r = run_sql(c->pg, "COMMIT", 0, NULL, "commit", &j->st, lost);
        if (r) {
            PQclear(r);
            prune_events(j->s, c);
            return;
        }
        if (*lost) {
            *in_doubt = xid[0] != '\0';
            return;
        }
        if (j->st.code != SMO_EBUSY || attempt == 2)
            return;
    }
}

int smo__pg_xact_committed(PGconn *pg, const char *xid)
{
    /* The old session may still be finishing its COMMIT for a moment. */
    for (int i = 0; i < 30; i++) {
        const char *v[] = {xid};
        PGresult *r = PQexecParams(pg, "SELECT pg_xact_status($1::xid8)", 1,
                                   NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            return -1;
        }
        const char *s = PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0);
        int res = !strcmp(s, "committed")     ? 1
                  : !strcmp(s, "aborted")     ? 0
                  : !strcmp(s, "in progress") ? 2
                                              : -1;
        PQclear(r);
        if (res != 2)
            return res;
        usleep(100000);
    }
    return -1;
}
