/* What every store plugin does the same way, compiled into each of them:
 * checking and copying a batch of writes (so the caller's documents can be
 * released while the batch runs on the thread pool), extracting the
 * columns filters need, revision checks with their messages, and filter
 * parsing. */
#ifndef SMO_STORE_COMMON_H
#define SMO_STORE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

/* Filterable columns of a document (borrowed from `doc`). */
struct smo__store_index {
    const char *project, *name, *graph, *state;
    int64_t area;
    bool has_area;
    int64_t time_ms; /* events */
};

struct smo__store_write_copy {
    uint32_t coll;
    char *key;   /* NULL for events */
    json_t *doc; /* owned copy of the indexed members and, for graphs, of
                    the service rows' fields; NULL deletes */
    char *text;  /* doc serialised (owned); NULL deletes */
    int64_t expect_rev;
    struct smo__store_index idx;
};

struct smo__store_filter {
    const char *project, *name, *graph;
    const char *start_after; /* documents: keys after this one */
    bool unfinished;
    int64_t since_ms, after, limit, area;
    bool has_area;
};

const char *smo__store_coll_name(uint32_t coll);
/** Collection known, and a key when `need_key` (1..512 bytes). */
int smo__store_check_coll(uint32_t coll, const char *key, bool need_key,
                          smo_status *st);
/** Check a batch and copy it; graph documents must have string `project`
 *  and `name` matching the key "<project>/<name>" and unique service
 *  names. Documents larger than `max_bytes` are refused. */
int smo__store_writes_copy(const struct smo_store_write *w, size_t n,
                           uint64_t max_bytes,
                           struct smo__store_write_copy **out, smo_status *st);
void smo__store_writes_free(struct smo__store_write_copy *w, size_t n);
/** Check a write's expected revision against the current one (0: absent). */
int smo__store_check_rev(const struct smo__store_write_copy *w, int64_t cur,
                         smo_status *st);
/** Compact JSON text of `doc` (malloc'd; *len its length when not NULL),
 *  or NULL when out of memory or nested more than 256 levels deep. */
char *smo__store_json_text(const json_t *doc, size_t *len);
/** Parse a list filter for a collection (strings borrowed from `filter`). */
int smo__store_filter_parse(uint32_t coll, const json_t *filter,
                            struct smo__store_filter *f, smo_status *st);

/* Events retention (the `events_retention` setting of both stores): the
 * events journal is an append-only log, so the store itself bounds it. A
 * commit deletes at most SMO__EVENTS_PRUNE_BATCH events older than the
 * retention, at most once per min(retention, 1 min) across the store's
 * threads. */
#define SMO__EVENTS_PRUNE_BATCH 10000
/** True when a commit at `now_ms` should prune; `*last` is the store's
 *  shared time of the last prune (updated atomically). Always false when
 *  `retention_ms` is 0 (keep every event). */
bool smo__store_events_due(int64_t *last, int64_t retention_ms, int64_t now_ms);
/** After a prune that deleted a full batch: the next commit goes on. */
void smo__store_events_more(int64_t *last);

#endif
