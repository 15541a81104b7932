/* store_postgres: the production store, on PostgreSQL through libpq.
 *
 * Same model and semantics as store_sqlite (see smo_store.h): documents as
 * JSONB in one table keyed by collection and key with the columns filters
 * need, services of a graph normalised into their own table, events in
 * sequence, a schema version table with forward migrations applied when a
 * session opens. Every commit is one SQL transaction.
 *
 * Calls run on the host thread pool with blocking libpq, each holding one
 * connection of a small pool; calls beyond the pool wait in a queue on the
 * loop thread, so no worker ever blocks waiting for a connection.
 *
 * Outages: when a call finds the server gone and cannot reconnect at once,
 * the store is marked down: waiting calls and every new call fail at once
 * with EUNAVAIL saying since when and why, and a timer probes the server
 * with exponential backoff. The first successful probe marks it up; the
 * other connections are reopened by the next call that uses them. A call
 * that lost its session before COMMIT is retried once on a new session
 * (the server rolled the transaction back); one that lost it during COMMIT
 * asks a new session whether its transaction committed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#define MAX_QUEUED 10000

static const char *const op_names[] = {"", "get", "list", "commit", "probe"};

#define OFF(m) offsetof(struct smo__pg_cfg, m)
static const struct smo_config_field fields[] = {
    {"conninfo", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     OFF(conninfo),
     "libpq connection string or URI (host, port, dbname, user, sslmode...); "
     "without a password"},
    {"password_env", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL,
     OFF(password_env),
     "name of an environment variable holding the password (read at start)"},
    {"password_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     OFF(password_file),
     "file whose first line is the password (read at every connection, so "
     "it can be rotated)"},
    {"schema", SMO_CFG_STRING, 0, "smo", 0, 0, NULL, NULL, OFF(schema),
     "PostgreSQL schema holding SMO's tables; created if missing"},
    {"pool_size", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "4", 1, 64, NULL,
     NULL, OFF(pool_size),
     "connections kept open; at most this many store calls run at once"},
    {"connect_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "5s", 1000,
     300000, NULL, NULL, OFF(connect_timeout_ms),
     "how long one connection attempt may take (whole seconds, at least 2)"},
    {"statement_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s", 0,
     3600000, NULL, NULL, OFF(statement_timeout_ms),
     "server-side bound on one statement; 0: none"},
    {"reconnect_min", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "250ms", 10,
     60000, NULL, NULL, OFF(reconnect_min_ms),
     "first delay before probing a server that went away; doubled at each "
     "failed probe"},
    {"reconnect_max", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100,
     600000, NULL, NULL, OFF(reconnect_max_ms),
     "longest delay between two probes"},
    {"max_document_bytes", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "64Mi",
     1024, 255.0 * 1024 * 1024, NULL, NULL, OFF(max_document_bytes),
     "largest JSON document accepted (JSONB holds at most 255 MiB)"},
    {"leader_interval", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "1s", 100,
     60000, NULL, NULL, OFF(leader_interval_ms),
     "several smod on this schema: how often the leader checks its lock "
     "and the others try to take it"},
    {"events_retention", SMO_CFG_DURATION, SMO_CFG_MAX, "30d", 0, 315360000000,
     NULL, NULL, OFF(events_retention_ms),
     "events older than this are deleted (GET /events); 0 keeps them all"},
    {0}};
#undef OFF

static bool is_identifier(const char *s)
{
    if (!s || !*s || strlen(s) > 63 || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct smo__pg_cfg *c = cfgp;
    if (smo__pg_check_conninfo(c->conninfo, st))
        return st->code;
    if (c->password_env && c->password_file)
        return smo_status_set(st, SMO_EINVAL,
                              "give at most one of password_env and "
                              "password_file");
    if (c->password_env && !*c->password_env)
        return smo_status_set(st, SMO_EINVAL,
                              "password_env: name an environment variable");
    if (!is_identifier(c->schema))
        return smo_status_set(st, SMO_EINVAL,
                              "schema: \"%s\" is not a plain identifier "
                              "(a-z, 0-9, _, not starting with a digit, at "
                              "most 63 characters)",
                              c->schema);
    if (c->reconnect_min_ms > c->reconnect_max_ms)
        return smo_status_set(st, SMO_EINVAL,
                              "reconnect_min is above reconnect_max");
    return 0;
}

/* --------------------------------------------------------- worker side -- */

static void job_run(void *arg)
{
    struct smo__pg_job *j = arg;
    struct smo__pg *s = j->s;
    struct smo__pg_conn *c = j->conn;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* A session from before an outage is stale even if libpq has not
         * noticed yet: the server may have restarted since. */
        if (c->pg && (c->gen != j->gen || PQstatus(c->pg) != CONNECTION_OK)) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        if (!c->pg) {
            smo_status_clear(&j->st);
            c->prepared = 0;
            if (smo__pg_open(s, &c->pg, &j->st)) {
                j->lost = true;
                j->why = j->st;
                return;
            }
            c->gen = j->gen;
        }
        if (j->kind == SMO__PG_J_PROBE)
            return;
        smo_status_clear(&j->st);
        json_decref(j->doc);
        json_decref(j->items);
        j->doc = j->items = NULL;
        bool lost = false, in_doubt = false;
        char xid[32] = "";
        switch (j->kind) {
        case SMO__PG_J_GET:
            smo__pg_do_get(j, c, &lost);
            break;
        case SMO__PG_J_LIST:
            smo__pg_do_list(j, c, &lost);
            break;
        case SMO__PG_J_COMMIT:
            smo__pg_do_commit(j, c, &lost, &in_doubt, xid, sizeof xid);
            break;
        }
        if (!lost)
            return;
        PQfinish(c->pg);
        c->pg = NULL;
        if (!in_doubt)
            continue; /* nothing was written: once more on a new session */
        smo_status in;
        smo_status_clear(&in);
        if (smo__pg_open(s, &c->pg, &in)) {
            j->lost = true;
            j->why = in;
            smo_status_set(&j->st, SMO_EIO,
                           "the connection was lost while COMMIT was in "
                           "flight and the server cannot be reached to learn "
                           "the outcome: the batch may or may not have been "
                           "written (read it back); %s",
                           in.msg);
            return;
        }
        c->gen = j->gen;
        c->prepared = 0;
        int r = smo__pg_xact_committed(c->pg, xid);
        SMO_LOG_W(s->host, s->self,
                  "connection lost during COMMIT of transaction %s: it %s", xid,
                  r == 1   ? "committed"
                  : r == 0 ? "did not commit; running the batch again"
                           : "has an unknown outcome");
        if (r == 1) {
            smo_status_clear(&j->st);
            return;
        }
        if (r < 0) {
            smo_status_set(&j->st, SMO_EIO,
                           "the connection was lost while COMMIT was in "
                           "flight and the server cannot tell whether "
                           "transaction %s committed: read the batch back",
                           xid);
            return;
        }
    }
    j->lost = true;
    j->why = j->st;
}

/* ----------------------------------------------------------- loop side -- */

static void dispatch(struct smo__pg *s);
static void stopped_check(struct smo__pg *s);

static void job_free(struct smo__pg_job *j)
{
    smo__store_writes_free(j->writes, j->n);
    json_decref(j->filter);
    json_decref(j->doc);
    json_decref(j->items);
    free(j->key);
    free(j->revs);
    free(j);
}

static void deliver(struct smo__pg *s, struct smo__pg_job *j)
{
    const char *lv[] = {op_names[j->kind], j->st.code ? "error" : "ok", NULL};
    s->host->metric_add(s->m_ops, lv, 1);
    s->host->metric_observe(s->m_seconds, NULL,
                            (double)(s->host->now_ms(s->self) - j->t0) /
                                1000.0);
    bool ok = j->st.code == 0;
    switch (j->kind) {
    case SMO__PG_J_GET:
        j->get_cb(j->arg, &j->st, ok ? j->doc : NULL, ok ? j->rev : 0);
        if (ok)
            j->doc = NULL; /* given away */
        break;
    case SMO__PG_J_LIST:
        j->list_cb(j->arg, &j->st, ok ? j->items : NULL);
        if (ok)
            j->items = NULL;
        break;
    case SMO__PG_J_COMMIT:
        j->commit_cb(j->arg, &j->st, ok ? j->revs : NULL, ok ? j->n : 0);
        break;
    }
    job_free(j);
}

static void unavailable(struct smo__pg *s, smo_status *st)
{
    uint64_t now = s->host->now_ms(s->self);
    uint64_t next = s->next_try_ms > now ? s->next_try_ms - now : 0;
    smo_status_set(st, SMO_EUNAVAIL,
                   "PostgreSQL %s is unavailable (for %.1f s: %s); "
                   "reconnecting, next attempt in %.1f s",
                   s->target, (double)(now - s->down_since_ms) / 1000.0,
                   s->down_msg, (double)next / 1000.0);
}

static void probe_fire(void *arg)
{
    struct smo__pg *s = arg;
    s->retry_timer = NULL;
    s->probe_wanted = true;
    dispatch(s);
}

static void schedule_probe(struct smo__pg *s)
{
    if (s->stopping)
        return;
    /* +-20 % so that many daemons do not all knock at the same moment. */
    uint64_t now = s->host->now_ms(s->self);
    int64_t d = s->backoff_ms;
    d += (int64_t)((now * 2654435761u) % (uint64_t)(d / 5 * 2 + 1)) - d / 5;
    if (d < 1)
        d = 1;
    s->next_try_ms = now + (uint64_t)d;
    s->retry_timer =
        s->host->timer_start(s->self, (uint64_t)d, 0, probe_fire, s);
    if (!s->retry_timer) /* cannot arm a timer: probe with the next call */
        s->probe_wanted = true;
}

static void mark_down(struct smo__pg *s, const char *why)
{
    uint64_t now = s->host->now_ms(s->self);
    s->down = true;
    s->gen++;
    s->down_since_ms = s->last_warn_ms = now;
    s->attempts = 0;
    s->backoff_ms = s->cfg->reconnect_min_ms;
    snprintf(s->down_msg, sizeof s->down_msg, "%s", why);
    SMO_LOG_W(s->host, s->self,
              "PostgreSQL %s is unavailable: %s; calls fail until it is "
              "back, reconnecting",
              s->target, why);
    s->host->metric_set(s->m_up, NULL, 0);
    s->host->event_emit(
        s->self, "store.unavailable", NULL, NULL,
        json_pack("{s:s, s:s}", "target", s->target, "reason", why));
    schedule_probe(s);
    /* Nothing waits behind a server that is gone. */
    while (s->qhead) {
        struct smo__pg_job *j = s->qhead;
        s->qhead = j->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->queued--;
        unavailable(s, &j->st);
        deliver(s, j);
    }
}

static void mark_up(struct smo__pg *s)
{
    uint64_t now = s->host->now_ms(s->self);
    s->down = false;
    SMO_LOG_N(s->host, s->self,
              "PostgreSQL %s is back after %.1f s (%u failed attempts)",
              s->target, (double)(now - s->down_since_ms) / 1000.0,
              s->attempts);
    s->host->metric_set(s->m_up, NULL, 1);
    s->host->metric_add(s->m_reconnects, NULL, 1);
    s->host->event_emit(s->self, "store.reconnected", NULL, NULL,
                        json_pack("{s:s, s:I}", "target", s->target, "down_ms",
                                  (json_int_t)(now - s->down_since_ms)));
}

static void probe_done(struct smo__pg *s, struct smo__pg_job *j)
{
    s->probing = false;
    if (!s->down)
        return;
    if (j->st.code == 0) {
        mark_up(s);
        return;
    }
    s->attempts++;
    snprintf(s->down_msg, sizeof s->down_msg, "%s", j->st.msg);
    uint64_t now = s->host->now_ms(s->self);
    /* One warning a minute while it lasts, not one per attempt. */
    if (now - s->last_warn_ms >= 60000) {
        s->last_warn_ms = now;
        SMO_LOG_W(s->host, s->self,
                  "PostgreSQL %s still unavailable after %.0f s and %u "
                  "attempts: %s",
                  s->target, (double)(now - s->down_since_ms) / 1000.0,
                  s->attempts, j->st.msg);
    } else
        SMO_LOG_D(s->host, s->self, "reconnect attempt %u failed: %s",
                  s->attempts, j->st.msg);
    s->backoff_ms *= 2;
    if (s->backoff_ms > s->cfg->reconnect_max_ms)
        s->backoff_ms = s->cfg->reconnect_max_ms;
    schedule_probe(s);
}

static void job_done(void *arg, int status)
{
    struct smo__pg_job *j = arg;
    struct smo__pg *s = j->s;
    j->conn->busy = false;
    s->running--;
    if (status == SMO_ECANCELED && !j->st.code)
        smo_status_set(&j->st, SMO_ECANCELED, "store stopping");
    if (j->kind == SMO__PG_J_PROBE) {
        probe_done(s, j);
        job_free(j);
    } else {
        /* Only news from the current generation: a call that started
         * before an outage and failed after the recovery says nothing
         * about the server now. */
        if (j->lost && j->gen == s->gen && !s->down)
            mark_down(s, j->why.msg);
        if (j->lost && s->down && j->st.code == SMO_EUNAVAIL)
            unavailable(s, &j->st);
        deliver(s, j);
    }
    dispatch(s);
    stopped_check(s);
}

static struct smo__pg_conn *free_conn(struct smo__pg *s)
{
    for (size_t i = 0; i < s->nconns; i++)
        if (!s->conns[i].busy)
            return &s->conns[i];
    return NULL;
}

static int start_job(struct smo__pg *s, struct smo__pg_job *j,
                     struct smo__pg_conn *c)
{
    j->conn = c;
    j->gen = s->gen;
    c->busy = true;
    int r = s->host->queue_work(s->self, job_run, job_done, j);
    if (r) {
        c->busy = false;
        return r;
    }
    s->running++;
    return 0;
}

static void dispatch(struct smo__pg *s)
{
    struct smo__pg_conn *c;
    while ((c = free_conn(s))) {
        if (s->probe_wanted && !s->probing && s->down && !s->stopping) {
            struct smo__pg_job *p = calloc(1, sizeof *p);
            if (!p)
                return;
            p->s = s;
            p->kind = SMO__PG_J_PROBE;
            p->t0 = s->host->now_ms(s->self);
            s->probe_wanted = false;
            if (start_job(s, p, c)) {
                free(p);
                schedule_probe(s);
                return;
            }
            s->probing = true;
            continue;
        }
        if (s->down || !s->qhead)
            return;
        struct smo__pg_job *j = s->qhead;
        s->qhead = j->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->queued--;
        int r = start_job(s, j, c);
        if (r) {
            smo_status_set(&j->st, r, "cannot queue the store call");
            deliver(s, j);
        }
    }
}

static int submit(struct smo__pg *s, struct smo__pg_job *j, smo_status *st)
{
    j->s = s;
    j->t0 = s->host->now_ms(s->self);
    int r = 0;
    if (s->stopping)
        r = smo_status_set(st, SMO_EUNAVAIL, "store is stopping");
    else if (s->down) {
        /* Fail fast: the caller learns now, not after a connect timeout. */
        unavailable(s, st);
        r = st->code;
        const char *lv[] = {op_names[j->kind], "error", NULL};
        s->host->metric_add(s->m_ops, lv, 1);
    } else if (s->queued >= MAX_QUEUED)
        r = smo_status_set(st, SMO_EBUSY,
                           "%zu store calls are already waiting for a "
                           "PostgreSQL connection",
                           s->queued);
    else if (!s->qhead && free_conn(s)) {
        r = start_job(s, j, free_conn(s));
        if (r)
            smo_status_set(st, r, "cannot queue the store call");
        else
            return 0;
    } else {
        if (s->qtail)
            s->qtail->next = j;
        else
            s->qhead = j;
        s->qtail = j;
        s->queued++;
        return 0;
    }
    job_free(j);
    return r;
}

/* ---------------------------------------------------------------- ops -- */

static struct smo__pg_job *job_new(int kind)
{
    struct smo__pg_job *j = calloc(1, sizeof *j);
    if (j)
        j->kind = kind;
    return j;
}

static int get(void *state, uint32_t coll, const char *key, smo_store_get_cb cb,
               void *arg, smo_status *st)
{
    if (smo__store_check_coll(coll, key, true, st))
        return st->code;
    struct smo__pg_job *j = job_new(SMO__PG_J_GET);
    if (!j || !(j->key = strdup(key))) {
        free(j);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    j->coll = coll;
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
    struct smo__pg_job *j = job_new(SMO__PG_J_LIST);
    if (!j)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    j->coll = coll;
    j->filter = filter ? json_deep_copy(filter) : NULL;
    j->list_cb = cb;
    j->arg = arg;
    return submit(state, j, st);
}

static int commit(void *state, const struct smo_store_write *writes, size_t n,
                  smo_store_commit_cb cb, void *arg, smo_status *st)
{
    struct smo__pg *s = state;
    struct smo__store_write_copy *copy = NULL;
    if (smo__store_writes_copy(writes, n, s->cfg->max_document_bytes, &copy,
                               st))
        return st->code;
    struct smo__pg_job *j = job_new(SMO__PG_J_COMMIT);
    if (!j) {
        smo__store_writes_free(copy, n);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    j->writes = copy;
    j->n = n;
    j->commit_cb = cb;
    j->arg = arg;
    return submit(s, j, st);
}

/* ---------------------------------------------------------- lifecycle -- */

static void destroy(void *state)
{
    struct smo__pg *s = state;
    if (!s)
        return;
    /* Calls still waiting here were cut off by the shutdown bound; their
     * callers are gone. */
    while (s->qhead) {
        struct smo__pg_job *j = s->qhead;
        s->qhead = j->next;
        job_free(j);
    }
    smo__pg_leader_free(s);
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i].pg)
            PQfinish(s->conns[i].pg);
    free(s->conns);
    if (s->password) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
    }
    free(s->target);
    free(s->schema_q);
    free(s);
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct smo__pg_cfg *c = cfgp;
    struct smo__pg *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = c;
    s->gen = 1;
    s->nconns = (size_t)c->pool_size;
    s->conns = calloc(s->nconns, sizeof *s->conns);
    s->target = smo__pg_target(c->conninfo);
    if (asprintf(&s->schema_q, "\"%s\"", c->schema) < 0)
        s->schema_q = NULL;
    if (!s->conns || !s->target || !s->schema_q) {
        destroy(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    if (c->password_env) {
        const char *pw = getenv(c->password_env);
        if (!pw || !*pw) {
            destroy(s);
            return smo_status_set(st, SMO_ECONFIG,
                                  "password_env: the environment variable "
                                  "%s is not set",
                                  c->password_env);
        }
        s->password = strdup(pw);
    }
    /* The first session is opened here, on the loop thread and bounded by
     * connect_timeout, because only create() can refuse to start: a wrong
     * address, password or database, or a schema newer than this build,
     * must stop the daemon with the reason rather than fail every call. */
    if (smo__pg_open(s, &s->conns[0].pg, st)) {
        char m[sizeof st->msg];
        snprintf(m, sizeof m, "%s", st->msg);
        smo_status_set(st, st->code, "PostgreSQL %s: %s", s->target, m);
        destroy(s);
        return st->code;
    }
    s->conns[0].gen = s->gen;
    PGconn *pg = s->conns[0].pg;
    free(s->target);
    if (asprintf(&s->target, "%s@%s:%s/%s", PQuser(pg), PQhost(pg), PQport(pg),
                 PQdb(pg)) < 0)
        s->target = NULL;
    if (!s->target) {
        destroy(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    static const char *const lbl[] = {"op", "result", NULL};
    s->m_ops =
        host->metric_register(self, SMO_METRIC_COUNTER, "smo_store_calls_total",
                              "Store calls by operation and result.", lbl);
    s->m_seconds = host->metric_register(self, SMO_METRIC_HISTOGRAM,
                                         "smo_store_call_duration_seconds",
                                         "Store call latency.", NULL);
    s->m_up =
        host->metric_register(self, SMO_METRIC_GAUGE, "smo_store_up",
                              "1 while the store's database answers.", NULL);
    s->m_reconnects = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_store_reconnects_total",
        "Times the store got its database back after an outage.", NULL);
    host->metric_set(s->m_up, NULL, 1);
    int v = PQserverVersion(pg);
    SMO_LOG_I(host, self,
              "PostgreSQL %s (server %d.%d, schema %s at version %d, pool of "
              "%zu)",
              s->target, v / 10000, v % 10000, c->schema,
              smo__pg_schema_version(), s->nconns);
    *out = s;
    return 0;
}

static void stopped_check(struct smo__pg *s)
{
    if (s->stop_done && s->running == 0 && s->queued == 0 &&
        !s->leader_stopping) {
        smo_done_cb d = s->stop_done;
        s->stop_done = NULL;
        d(s->stop_arg);
    }
}

static void leader_stopped(void *arg)
{
    struct smo__pg *s = arg;
    s->leader_stopping = false;
    stopped_check(s);
}

static int leader_campaign(void *state, smo_store_leader_cb cb, void *arg,
                           smo_status *st)
{
    return smo__pg_leader_campaign(state, cb, arg, st);
}

static void stop(void *state, smo_done_cb done, void *arg)
{
    struct smo__pg *s = state;
    s->stopping = true;
    s->leader_stopping = true;
    s->probe_wanted = false;
    if (s->retry_timer) {
        s->host->timer_stop(s->retry_timer);
        s->retry_timer = NULL;
    }
    s->stop_done = done;
    s->stop_arg = arg;
    smo__pg_leader_stop(s, leader_stopped, s);
}

static const struct smo_store_ops ops = {
    .size = sizeof(struct smo_store_ops),
    .get = get,
    .list = list,
    .commit = commit,
    .leader_campaign = leader_campaign,
};

SMO_PLUGIN_DEFINE(SMO_KIND_STORE, "postgres", "1.0.0",
                  "PostgreSQL store: JSONB documents, a connection pool, "
                  "reconnection with backoff.",
                  fields, struct smo__pg_cfg, validate, create, NULL, NULL,
                  stop, destroy, &ops);
