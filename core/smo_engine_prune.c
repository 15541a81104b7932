/* Retention of the operations journal (docs/operations.md, "Retention"):
 * every engine.operations.prune_interval the leader lists the stored
 * operations and deletes those that finished (succeeded, failed, rolled
 * back) more than engine.operations.retention ago, in batches of
 * PRUNE_BATCH writes that each expect the revision listed (an operation
 * written meanwhile is kept). Each graph's newest operation is kept
 * whatever its age: the graph's "operation" member names it and
 * `GET /operations/{id}` must keep answering for it.
 *
 * Why: operations were never deleted, so the journal, every full listing
 * and the memory a listing takes grew with the daemon's whole history
 * (38,000 operations after five minutes of the load test). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "smo_engine_int.h"
#include "smo_log.h"

#define PRUNE_BATCH 500

struct smo__pruner {
    struct smo__engine *e; /* NULL once the engine is gone */
    smo_timer *timer;
    bool busy;            /* a listing or a commit in flight */
    json_t *keys;         /* [[key, rev]...] left to delete */
    size_t next, deleted; /* position in keys; deleted so far */
};

static void arm(struct smo__pruner *p);

/* The engine went away while a store call was in flight: the call's
 * answer frees the pruner. */
static bool orphaned(struct smo__pruner *p)
{
    if (p->e)
        return false;
    json_decref(p->keys);
    free(p);
    return true;
}

static void finish(struct smo__pruner *p)
{
    if (p->deleted)
        smo__log(6, "engine",
                 "pruned %zu finished operation%s older than "
                 "the retention",
                 p->deleted, p->deleted == 1 ? "" : "s");
    json_decref(p->keys);
    p->keys = NULL;
    p->busy = false;
    arm(p);
}

static void commit_next(struct smo__pruner *p);

static void on_committed(void *arg, const smo_status *st, const int64_t *revs,
                         size_t n)
{
    (void)revs;
    struct smo__pruner *p = arg;
    if (orphaned(p))
        return;
    if (st->code) {
        /* ECONFLICT: one of them was written since the listing; the next
         * round lists again. Anything else: the store is down. */
        smo__log(st->code == SMO_ECONFLICT ? 6 : 4, "engine",
                 "pruning operations stopped for this round: %s", st->msg);
        finish(p);
        return;
    }
    p->deleted += n;
    commit_next(p);
}

static void commit_next(struct smo__pruner *p)
{
    size_t total = json_array_size(p->keys);
    if (p->next >= total || p->e->stopping) {
        finish(p);
        return;
    }
    size_t n = total - p->next < PRUNE_BATCH ? total - p->next : PRUNE_BATCH;
    struct smo_store_write w[PRUNE_BATCH];
    for (size_t i = 0; i < n; i++) {
        json_t *kr = json_array_get(p->keys, p->next + i);
        w[i].coll = SMO_COLL_OPERATION;
        w[i].key = json_string_value(json_array_get(kr, 0));
        w[i].doc = NULL;
        w[i].expect_rev = json_integer_value(json_array_get(kr, 1));
    }
    p->next += n;
    smo_instance *store = smo__engine_store(p->e);
    smo_status st;
    smo_status_clear(&st);
    if (!store || store->plugin->ops.store.commit(store->state, w, n,
                                                  on_committed, p, &st)) {
        smo__log(4, "engine", "cannot prune operations: %s",
                 store ? st.msg : "no store");
        finish(p);
    }
}

static bool finished(const char *state)
{
    return state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
                     !strcmp(state, "rolled_back"));
}

static json_int_t doc_int(const json_t *item, const char *name)
{
    return json_integer_value(
        json_object_get(json_object_get(item, "doc"), name));
}

/* Item a is a later operation than item b. */
static bool newer(const json_t *a, const json_t *b)
{
    json_int_t ca = doc_int(a, "created_ms"), cb = doc_int(b, "created_ms");
    json_int_t ua = doc_int(a, "updated_ms"), ub = doc_int(b, "updated_ms");
    if (ca != cb)
        return ca > cb;
    if (ua != ub)
        return ua > ub;
    const char *ka = json_string_value(json_object_get(a, "key"));
    const char *kb = json_string_value(json_object_get(b, "key"));
    return ka && kb && strcmp(ka, kb) > 0;
}

static void on_listed(void *arg, const smo_status *st, json_t *items)
{
    struct smo__pruner *p = arg;
    if (orphaned(p)) {
        json_decref(items);
        return;
    }
    if (st->code) {
        smo__log(4, "engine", "cannot list operations to prune: %s", st->msg);
        json_decref(items);
        p->busy = false;
        arm(p);
        return;
    }
    /* Each graph's newest operation: created last, then updated last (one
     * graph has one operation at a time, so ties do not happen in
     * practice; the key makes the choice deterministic if they do). */
    json_t *newest = json_object(); /* graph -> its item (borrowed) */
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *g = json_string_value(
            json_object_get(json_object_get(it, "doc"), "graph"));
        json_t *cur = g ? json_object_get(newest, g) : NULL;
        if (g && (!cur || newer(it, cur)))
            json_object_set(newest, g, it);
    }
    int64_t cutoff = smo__now_ms() - smo__engine_cfg(p->e)->op_retention_ms;
    p->keys = json_array();
    p->next = p->deleted = 0;
    json_array_foreach(items, i, it)
    {
        json_t *doc = json_object_get(it, "doc");
        const char *key = json_string_value(json_object_get(it, "key"));
        const char *g = json_string_value(json_object_get(doc, "graph"));
        json_t *done = json_object_get(doc, "finished_ms");
        if (!key ||
            !finished(json_string_value(json_object_get(doc, "state"))) ||
            !json_is_integer(done) || json_integer_value(done) >= cutoff)
            continue;
        if (g && json_object_get(newest, g) == it)
            continue;
        json_array_append_new(
            p->keys, json_pack("[s,I]", key,
                               json_integer_value(json_object_get(it, "rev"))));
    }
    json_decref(newest);
    json_decref(items);
    commit_next(p);
}

static void tick(void *arg)
{
    struct smo__pruner *p = arg;
    p->timer = NULL;
    struct smo__engine *e = p->e;
    smo_instance *store = smo__engine_store(e);
    if (e->stopping || p->busy)
        return;
    if (!store || smo__engine_follower(e) ||
        smo__engine_cfg(e)->op_retention_ms <= 0) {
        arm(p);
        return;
    }
    p->busy = true;
    json_t *f = json_object(); /* every operation: the filter has no age */
    smo_status st;
    smo_status_clear(&st);
    if (store->plugin->ops.store.list(store->state, SMO_COLL_OPERATION, f,
                                      on_listed, p, &st)) {
        smo__log(4, "engine", "cannot list operations to prune: %s", st.msg);
        p->busy = false;
        arm(p);
    }
    json_decref(f);
}

static void arm(struct smo__pruner *p)
{
    if (!p->e || p->e->stopping || p->timer)
        return;
    p->timer = smo__timer_start(
        p->e->self, (uint64_t)smo__engine_cfg(p->e)->op_prune_every_ms, 0, tick,
        p);
}

void smo__prune_start(struct smo__engine *e)
{
    if (!e->pruner) {
        e->pruner = calloc(1, sizeof *e->pruner);
        if (!e->pruner)
            return;
        e->pruner->e = e;
    }
    arm(e->pruner);
}

void smo__prune_stop(struct smo__engine *e)
{
    struct smo__pruner *p = e->pruner;
    if (!p)
        return;
    smo__timer_stop(p->timer);
    p->timer = NULL;
}

void smo__prune_free(struct smo__engine *e)
{
    struct smo__pruner *p = e->pruner;
    if (!p)
        return;
    smo__prune_stop(e);
    e->pruner = NULL;
    p->e = NULL;
    if (!p->busy) {
        json_decref(p->keys);
        free(p);
    }
}
