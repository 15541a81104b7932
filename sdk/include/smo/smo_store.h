/**
 * @file smo_store.h
 * @brief `store` plugins: transactional persistence of SMO's state.
 *
 * The store keeps JSON documents in collections, each record with a key and
 * a revision (a positive integer that increases on every write). Writes are
 * submitted in batches that commit atomically: either every write applies or
 * none does. Each write carries the revision it expects, which gives
 * optimistic concurrency: a stale writer gets ECONFLICT and nothing changes.
 *
 * Collections, keys and the filters `list` accepts:
 * | collection  | key                 | filter members                     |
 * |-------------|---------------------|------------------------------------|
 * | GRAPH       | "<project>/<name>"  | project, name                      |
 * | CLUSTER     | cluster name        | (none)                             |
 * | VIM         | VIM name            | area                               |
 * | PROVISIONED | provisioned id      | area                               |
 * | OPERATION   | operation id        | graph ("<project>/<name>"),        |
 * |             |                     | unfinished (true)                  |
 * | EVENT       | assigned (sequence) | graph, since (ms), limit           |
 * | META        | free                | (none)                             |
 * Every collection but EVENT also takes `limit` (at most that many, in key
 * order) and `start_after` (only keys after this one, byte order): pages
 * of a large collection.
 * A graph document holds its services (`services` array) so that a graph
 * and its services are always written together. Stores may normalise them
 * into their own tables but must return the document as written.
 */
#ifndef SMO_STORE_H
#define SMO_STORE_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

enum smo_store_coll {
    SMO_COLL_GRAPH = 1,
    SMO_COLL_CLUSTER,
    SMO_COLL_VIM,
    SMO_COLL_PROVISIONED,
    SMO_COLL_OPERATION,
    SMO_COLL_EVENT,
    SMO_COLL_META
};
#define SMO_COLL_MAX SMO_COLL_META

/** Expected revision: any, must not exist, or an exact value (> 0). */
#define SMO_REV_ANY    ((int64_t)-1)
#define SMO_REV_ABSENT ((int64_t)0)

struct smo_store_write {
    uint32_t coll;      /**< enum smo_store_coll */
    const char *key;    /**< NULL for EVENT (assigned) */
    const json_t *doc;  /**< borrowed; NULL deletes the record */
    int64_t expect_rev; /**< SMO_REV_ANY, SMO_REV_ABSENT or a revision */
};

/** `doc` is new (NULL with ENOENT). */
typedef void (*smo_store_get_cb)(void *arg, const smo_status *st, json_t *doc,
                                 int64_t rev);
/** `items` is new: an array of {"key", "rev", "doc"} in key order (EVENT:
 *  sequence order). */
typedef void (*smo_store_list_cb)(void *arg, const smo_status *st,
                                  json_t *items);
/** `revs[i]` is the new revision of write i (0 for deletes). */
typedef void (*smo_store_commit_cb)(void *arg, const smo_status *st,
                                    const int64_t *revs, size_t n);

/** Leadership news: `leader` true when this process became the leader of
 *  the daemons sharing the store, false when it stopped being it; `why`
 *  says what happened (for the log). */
typedef void (*smo_store_leader_cb)(void *arg, bool leader, const char *why);

struct smo_store_ops {
    uint32_t size; /**< sizeof(struct smo_store_ops) */
    /** Mandatory. */
    int (*get)(void *state, uint32_t coll, const char *key, smo_store_get_cb cb,
               void *arg, smo_status *st);
    /** Mandatory. `filter` is borrowed (NULL: everything). */
    int (*list)(void *state, uint32_t coll, const json_t *filter,
                smo_store_list_cb cb, void *arg, smo_status *st);
    /** Mandatory. Atomic batch; ECONFLICT names the first stale key, EUNAVAIL
     *  means the backend is down and nothing was written. */
    int (*commit)(void *state, const struct smo_store_write *writes, size_t n,
                  smo_store_commit_cb cb, void *arg, smo_status *st);
    /** Optional, ABI 1.1. Several daemons on one database: campaign for
     *  leadership until the instance stops, calling `cb` on every change
     *  (first call: when the first answer is known). Leadership must be
     *  exclusive while held (a lock the database releases when the holder
     *  dies). NULL: the store serves one daemon, always the leader. */
    int (*leader_campaign)(void *state, smo_store_leader_cb cb, void *arg,
                           smo_status *st);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_STORE_H */
