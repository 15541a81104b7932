/* Leader election among the daemons sharing one PostgreSQL schema: a
 * session-level advisory lock held by a session of its own (not one of
 * the pool's, which come and go with outages). PostgreSQL releases the
 * lock when that session ends, so a killed leader frees it at once and a
 * live one keeps it exactly as long as its session lives. Every interval
 * the holder checks that its session still answers and a candidate tries
 * the lock again; a lost session means lost leadership, said at once. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

struct smo__pg_leader {
    struct smo__pg *s;
    smo_store_leader_cb cb;
    void *arg;
    smo_timer *timer;
    long long key;
    /* Worker-side while `busy`: */
    PGconn *pg;
    bool result;   /* holds the lock after this round */
    char why[600]; /* when it does not */
    bool busy;     /* a round is on a worker */
    bool leader;   /* as last told */
    bool told;     /* the first answer was given */
    bool stopping;
    smo_done_cb stop_done;
    void *stop_arg;
};

/* FNV-1a, 63 bits: the lock key of a schema, the same in every build. */
static long long lock_key(const char *schema)
{
    unsigned long long h = 1469598103934665603ull;
    for (const char *p = "smo-leader:"; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (const char *p = schema; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (long long)(h >> 1);
}

static void round_run(void *arg)
{
    struct smo__pg_leader *l = arg;
    smo_status st;
    if (l->pg && PQstatus(l->pg) != CONNECTION_OK) {
        PQfinish(l->pg);
        l->pg = NULL;
    }
    if (!l->pg && smo__pg_open(l->s, &l->pg, &st)) {
        l->pg = NULL;
        l->result = false;
        snprintf(l->why, sizeof l->why, "no session for the leader lock: %s",
                 st.msg);
        return;
    }
    char key[32];
    snprintf(key, sizeof key, "%lld", l->key);
    const char *v[] = {key};
    /* The holder asks whether it still holds the lock (its session could
     * have been replaced by a reconnect); a candidate tries to take it. */
    const char *sql =
        l->result ? "SELECT count(*) > 0 FROM pg_locks WHERE locktype = "
                    "'advisory' AND pid = pg_backend_pid() AND granted AND "
                    "((classid::bigint << 32) | objid::bigint) = $1::bigint"
                  : "SELECT pg_try_advisory_lock($1::bigint)";
    PGresult *r = PQexecParams(l->pg, sql, 1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bool lost = false;
        smo__pg_error(l->pg, r, "leader lock", &st, &lost);
        snprintf(l->why, sizeof l->why, "%s", st.msg);
        l->result = false;
        PQclear(r);
        PQfinish(l->pg); /* whatever it held is released with it */
        l->pg = NULL;
        return;
    }
    l->result = PQgetvalue(r, 0, 0)[0] == 't';
    if (!l->result)
        snprintf(l->why, sizeof l->why, "another smod holds the leader lock");
    PQclear(r);
}

static void round_done(void *arg, int status)
{
    struct smo__pg_leader *l = arg;
    l->busy = false;
    if (status == SMO_ECANCELED && !l->result)
        snprintf(l->why, sizeof l->why, "store stopping");
    if (l->stopping) {
        if (l->stop_done) {
            smo_done_cb d = l->stop_done;
            l->stop_done = NULL;
            d(l->stop_arg);
        }
        return;
    }
    if (!l->told || l->result != l->leader) {
        l->told = true;
        l->leader = l->result;
        l->cb(l->arg, l->leader, l->leader ? "holds the leader lock" : l->why);
    }
}

static void tick(void *arg)
{
    struct smo__pg_leader *l = arg;
    if (l->busy || l->stopping)
        return;
    l->busy = true;
    if (l->s->host->queue_work(l->s->self, round_run, round_done, l))
        l->busy = false;
}

int smo__pg_leader_campaign(struct smo__pg *s, smo_store_leader_cb cb,
                            void *arg, smo_status *st)
{
    if (s->leader)
        return smo_status_set(st, SMO_EBUSY, "a campaign is already running");
    struct smo__pg_leader *l = calloc(1, sizeof *l);
    if (!l)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    l->s = s;
    l->cb = cb;
    l->arg = arg;
    l->key = lock_key(s->cfg->schema);
    uint64_t every = (uint64_t)s->cfg->leader_interval_ms;
    l->timer = s->host->timer_start(s->self, every, every, tick, l);
    if (!l->timer) {
        free(l);
        return smo_status_set(st, SMO_ENOMEM, "cannot arm a timer");
    }
    s->leader = l;
    tick(l); /* the first answer now, not after an interval */
    return 0;
}

void smo__pg_leader_stop(struct smo__pg *s, smo_done_cb done, void *arg)
{
    struct smo__pg_leader *l = s->leader;
    if (!l) {
        done(arg);
        return;
    }
    l->stopping = true;
    if (l->timer) {
        s->host->timer_stop(l->timer);
        l->timer = NULL;
    }
    if (!l->busy) {
        done(arg);
        return;
    }
    l->stop_done = done;
    l->stop_arg = arg;
}

void smo__pg_leader_free(struct smo__pg *s)
{
    struct smo__pg_leader *l = s->leader;
    if (!l)
        return;
    if (l->timer)
        s->host->timer_stop(l->timer);
    if (l->pg)
        PQfinish(l->pg); /* releases the lock */
    free(l);
    s->leader = NULL;
}
