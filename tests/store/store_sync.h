/* Synchronous wrappers over a store instance for tests: each call runs the
 * loop until its callback arrived (bounded). */
#ifndef SMO_STORE_SYNC_H
#define SMO_STORE_SYNC_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "smo_rt.h"

struct ss_result {
    bool done;
    int code;
    char msg[512];
    json_t *doc;
    int64_t rev;
    json_t *items;
    int64_t revs[64];
    size_t n;
};

static inline void ss_wait(smo_instance *st, struct ss_result *r)
{
    uint64_t end = uv_hrtime() + 30ull * 1000000000ull;
    while (!r->done && uv_hrtime() < end)
        uv_run(st->rt->loop, UV_RUN_ONCE);
    if (!r->done) {
        r->code = SMO_ETIMEDOUT;
        snprintf(r->msg, sizeof r->msg, "store call timed out (30 s)");
    }
}

static inline void ss_get_cb(void *arg, const smo_status *st, json_t *doc,
                             int64_t rev)
{
    struct ss_result *r = arg;
    r->done = true;
    r->code = st->code;
    snprintf(r->msg, sizeof r->msg, "%s", st->msg);
    r->doc = doc;
    r->rev = rev;
}

static inline void ss_list_cb(void *arg, const smo_status *st, json_t *items)
{
    struct ss_result *r = arg;
    r->done = true;
    r->code = st->code;
    snprintf(r->msg, sizeof r->msg, "%s", st->msg);
    r->items = items;
}

static inline void ss_commit_cb(void *arg, const smo_status *st,
                                const int64_t *revs, size_t n)
{
    struct ss_result *r = arg;
    r->done = true;
    r->code = st->code;
    snprintf(r->msg, sizeof r->msg, "%s", st->msg);
    r->n = n;
    for (size_t i = 0; i < n && i < 64; i++)
        r->revs[i] = revs[i];
}

static inline struct ss_result ss_get(smo_instance *st, uint32_t coll,
                                      const char *key)
{
    struct ss_result r;
    memset(&r, 0, sizeof r);
    smo_status s;
    smo_status_clear(&s);
    int rc = st->plugin->ops.store.get(st->state, coll, key, ss_get_cb, &r, &s);
    if (rc) {
        r.code = rc;
        snprintf(r.msg, sizeof r.msg, "%s", s.msg);
        return r;
    }
    ss_wait(st, &r);
    return r;
}

static inline struct ss_result ss_list(smo_instance *st, uint32_t coll,
                                       const json_t *filter)
{
    struct ss_result r;
    memset(&r, 0, sizeof r);
    smo_status s;
    smo_status_clear(&s);
    int rc =
        st->plugin->ops.store.list(st->state, coll, filter, ss_list_cb, &r, &s);
    if (rc) {
        r.code = rc;
        snprintf(r.msg, sizeof r.msg, "%s", s.msg);
        return r;
    }
    ss_wait(st, &r);
    return r;
}

static inline struct ss_result
ss_commit(smo_instance *st, const struct smo_store_write *w, size_t n)
{
    struct ss_result r;
    memset(&r, 0, sizeof r);
    smo_status s;
    smo_status_clear(&s);
    int rc =
        st->plugin->ops.store.commit(st->state, w, n, ss_commit_cb, &r, &s);
    if (rc) {
        r.code = rc;
        snprintf(r.msg, sizeof r.msg, "%s", s.msg);
        return r;
    }
    ss_wait(st, &r);
    return r;
}

static inline struct ss_result ss_put(smo_instance *st, uint32_t coll,
                                      const char *key, const json_t *doc,
                                      int64_t expect)
{
    struct smo_store_write w = {coll, key, doc, expect};
    return ss_commit(st, &w, 1);
}

#endif
