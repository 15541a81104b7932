/* store_postgres internals shared by its files.
 *
 * Threading: `struct smo__pg` and the job queue belong to the loop thread.
 * A job runs on the thread pool holding exactly one connection slot, which
 * the loop handed to it and takes back in the job's completion; so a
 * PGconn is only ever used by one thread at a time and needs no lock. What
 * workers read from the state (configuration, password, schema name) is
 * immutable after create(). */
#ifndef SMO__STORE_PG_H
#define SMO__STORE_PG_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <smo/smo.h>

#include "store_common.h"

struct smo__pg_cfg {
    const char *conninfo;
    const char *password_env;
    const char *password_file;
    const char *schema;
    int64_t pool_size;
    int64_t connect_timeout_ms;
    int64_t statement_timeout_ms;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    uint64_t max_document_bytes;
    int64_t leader_interval_ms;
    int64_t events_retention_ms;
};

/* Prepared statements, prepared lazily per connection (bit i of
 * `prepared` set once statement i is known to that session). */
enum smo__pg_stmt {
    SMO__PG_GET,
    SMO__PG_GET_EVENT,
    SMO__PG_REV,
    SMO__PG_INSERT,
    SMO__PG_UPSERT,
    SMO__PG_UPDATE,
    SMO__PG_DELETE,
    SMO__PG_SVC_REPLACE,
    SMO__PG_SVC_DELETE,
    SMO__PG_EVENT,
    SMO__PG_NSTMT
};

struct smo__pg_conn {
    PGconn *pg;        /* NULL: not connected */
    uint64_t gen;      /* server generation it was opened in */
    uint32_t prepared; /* enum smo__pg_stmt bits */
    bool busy;         /* held by a job (loop-side) */
};

enum smo__pg_kind {
    SMO__PG_J_GET = 1,
    SMO__PG_J_LIST,
    SMO__PG_J_COMMIT,
    SMO__PG_J_PROBE
};

struct smo__pg;

struct smo__pg_job {
    struct smo__pg *s;
    struct smo__pg_job *next; /* waiting queue */
    int kind;
    uint32_t coll;
    char *key;
    json_t *filter;
    struct smo__store_write_copy *writes;
    size_t n;
    smo_store_get_cb get_cb;
    smo_store_list_cb list_cb;
    smo_store_commit_cb commit_cb;
    void *arg;
    /* Set by the loop at dispatch. */
    struct smo__pg_conn *conn;
    uint64_t gen;
    uint64_t t0;
    /* Results, set by the worker. */
    smo_status st;
    json_t *doc;
    int64_t rev;
    json_t *items;
    int64_t *revs;
    bool lost;      /* the server could not be reached: mark it down */
    smo_status why; /* and why, when `lost` */
};

struct smo__pg {
    const struct smo_host *host;
    smo_instance *self;
    const struct smo__pg_cfg *cfg;
    char *password; /* from password_env at create; NULL otherwise */
    char *target;   /* "user@host:port/dbname", for messages (no secret) */
    char *schema_q; /* the schema as a quoted identifier */
    struct smo__pg_conn *conns;
    size_t nconns;
    /* Loop side. */
    struct smo__pg_job *qhead, *qtail;
    size_t queued, running;
    uint64_t gen;
    bool down, probe_wanted, probing;
    char down_msg[512];
    uint64_t down_since_ms, next_try_ms, last_warn_ms;
    unsigned attempts;
    int64_t backoff_ms;
    smo_timer *retry_timer;
    smo_done_cb stop_done;
    void *stop_arg;
    bool stopping, leader_stopping;
    struct smo__pg_leader *leader; /* pg_leader.c; NULL: no campaign */
    smo_metric *m_ops, *m_seconds, *m_up, *m_reconnects;
    int64_t events_pruned_ms; /* any thread: smo__store_events_due() */
};

/* pg_conn.c: sessions, errors, migrations (worker thread or create). */

/** Open a session: connect, check the server, set the session up and bring
 *  the schema to the current version. EUNAVAIL when the server cannot be
 *  reached; other codes for what retrying will not fix. */
int smo__pg_open(struct smo__pg *s, PGconn **out, smo_status *st);
/** The error of a failed result (or of the connection when `r` is NULL) as
 *  an SMO code and one line; `*lost` tells that the session is gone. */
int smo__pg_error(PGconn *pg, const PGresult *r, const char *what,
                  smo_status *st, bool *lost);
/** `user@host:port/dbname` of a conninfo (no password), new. */
char *smo__pg_target(const char *conninfo);
/** Check a conninfo: parseable and without a password. */
int smo__pg_check_conninfo(const char *conninfo, smo_status *st);
/** The schema version this build writes. */
int smo__pg_schema_version(void);

/* pg_leader.c: leader election (advisory lock on a session of its own). */

int smo__pg_leader_campaign(struct smo__pg *s, smo_store_leader_cb cb,
                            void *arg, smo_status *st);
/** Stop campaigning; `done` once no round is on a worker. */
void smo__pg_leader_stop(struct smo__pg *s, smo_done_cb done, void *arg);
/** Close the lock's session (releasing it) and free. */
void smo__pg_leader_free(struct smo__pg *s);

/* pg_exec.c: the operations, run on a worker with a live session. */

void smo__pg_do_get(struct smo__pg_job *j, struct smo__pg_conn *c, bool *lost);
void smo__pg_do_list(struct smo__pg_job *j, struct smo__pg_conn *c, bool *lost);
/** `*in_doubt`: the session was lost while COMMIT was in flight. */
void smo__pg_do_commit(struct smo__pg_job *j, struct smo__pg_conn *c,
                       bool *lost, bool *in_doubt, char *xid, size_t xid_len);
/** After a lost COMMIT: ask a new session whether transaction `xid`
 *  committed. 1 committed, 0 not, -1 unknown. */
int smo__pg_xact_committed(PGconn *pg, const char *xid);
/** JSON text for a jsonb parameter (see pg_exec.c), new. */
char *smo__pg_json_text(const char *text);

#endif
