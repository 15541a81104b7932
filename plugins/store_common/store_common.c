#define _GNU_SOURCE
#include "store_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY 512

const char *smo__store_coll_name(uint32_t coll)
{
    static const char *const names[] = {"?",     "graph",       "cluster",
                                        "vim",   "provisioned", "operation",
                                        "event", "meta"};
    return coll >= 1 && coll <= SMO_COLL_MAX ? names[coll] : "?";
}

int smo__store_check_coll(uint32_t coll, const char *key, bool need_key,
                          smo_status *st)
{
    if (coll < 1 || coll > SMO_COLL_MAX)
        return smo_status_set(st, SMO_EINVAL, "unknown collection %u", coll);
    if (need_key && (!key || !*key))
        return smo_status_set(st, SMO_EINVAL, "%s: a key is required",
                              smo__store_coll_name(coll));
    if (key && strlen(key) > MAX_KEY)
        return smo_status_set(st, SMO_EINVAL, "%s: key longer than %d bytes",
                              smo__store_coll_name(coll), MAX_KEY);
    return 0;
}

static int check_graph(const char *key, const json_t *doc, smo_status *st)
{
    const char *p = json_string_value(json_object_get(doc, "project"));
    const char *n = json_string_value(json_object_get(doc, "name"));
    if (!p || !n || !*p || !*n)
        return smo_status_set(st, SMO_EINVAL,
                              "graph %s: the document needs string fields "
                              "project and name",
                              key);
    size_t pl = strlen(p);
    if (strncmp(key, p, pl) != 0 || key[pl] != '/' ||
        strcmp(key + pl + 1, n) != 0)
        return smo_status_set(st, SMO_EINVAL,
                              "graph %s: key must be \"%s/%s\" (project/name)",
                              key, p, n);
    const json_t *svcs = json_object_get(doc, "services");
    if (svcs && !json_is_array(svcs))
        return smo_status_set(st, SMO_EINVAL,
                              "graph %s: services must be a list", key);
    json_t *seen = json_object();
    size_t i;
    json_t *s;
    int r = 0;
    json_array_foreach(svcs, i, s)
    {
        const char *sn = json_string_value(json_object_get(s, "name"));
        if (!sn || !*sn) {
            r = smo_status_set(st, SMO_EINVAL,
                               "graph %s: services[%zu] needs a string name",
                               key, i);
            break;
        }
        if (json_object_get(seen, sn)) {
            r = smo_status_set(st, SMO_EINVAL,
                               "graph %s: service name \"%s\" appears twice "
                               "(names are unique within a graph)",
                               key, sn);
            break;
        }
        json_object_set_new(seen, sn, json_true());
    }
    json_decref(seen);
    return r;
}

/* True when the JSON text has a NUL character (the escape \u0000): no
 * store can keep it (PostgreSQL text and JSONB refuse it; jansson only
 * reads it back with JSON_ALLOW_NUL), so it is refused for all of them. */
static bool has_nul(const char *t)
{
    for (; *t; t++)
        if (*t == '\\') {
            if (t[1] == 'u' && strncmp(t + 2, "0000", 4) == 0)
                return true;
            if (t[1])
                t++;
        }
    return false;
}

/* A copy of only the members of `doc` the stores read besides its text
 * (index columns, service rows): deep-copying whole graph documents
 * (hdaGraph, values) for the worker was a sixth of a deploy's CPU. */
static json_t *skeleton(uint32_t coll, const json_t *doc)
{
    static const char *const keys[] = {"project", "name",    "status", "graph",
                                       "state",   "time_ms", "area"};
    static const char *const svc_keys[] = {"name", "status", "cluster",
                                           "cpu",  "memory", "gpu"};
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(doc, keys[i]);
        if (v && json_is_string(v))
            json_object_set_new(o, keys[i], json_string(json_string_value(v)));
        else if (v && json_is_integer(v))
            json_object_set_new(o, keys[i],
                                json_integer(json_integer_value(v)));
    }
    const json_t *svcs = json_object_get(doc, "services");
    if (coll == SMO_COLL_GRAPH && json_is_array(svcs)) {
        json_t *arr = json_array();
        size_t i;
        const json_t *sv;
        json_array_foreach(svcs, i, sv)
        {
            json_t *c = json_object();
            for (size_t k = 0; k < sizeof svc_keys / sizeof svc_keys[0]; k++) {
                json_t *v = json_object_get(sv, svc_keys[k]);
                if (v && !json_is_object(v) && !json_is_array(v))
                    json_object_set_new(c, svc_keys[k], json_copy(v));
            }
            json_array_append_new(arr, c);
        }
        json_object_set_new(o, "services", arr);
    }
    return o;
}

static void index_of(struct smo__store_write_copy *c)
{
    const json_t *d = c->doc;
    struct smo__store_index *x = &c->idx;
    switch (c->coll) {
    case SMO_COLL_GRAPH:
        x->project = json_string_value(json_object_get(d, "project"));
        x->name = json_string_value(json_object_get(d, "name"));
        x->state = json_string_value(json_object_get(d, "status"));
        break;
    case SMO_COLL_OPERATION:
        x->graph = json_string_value(json_object_get(d, "graph"));
        x->state = json_string_value(json_object_get(d, "state"));
        break;
    case SMO_COLL_EVENT:
        x->graph = json_string_value(json_object_get(d, "graph"));
        x->time_ms = json_integer_value(json_object_get(d, "time_ms"));
        break;
    case SMO_COLL_VIM:
    case SMO_COLL_PROVISIONED: {
        const json_t *a = json_object_get(d, "area");
        if (json_is_integer(a)) {
            x->area = json_integer_value(a);
            x->has_area = true;
        }
        break;
    }
    default:
        break;
    }
}

void smo__store_writes_free(struct smo__store_write_copy *w, size_t n)
{
    if (!w)
        return;
    for (size_t i = 0; i < n; i++) {
        free(w[i].key);
        free(w[i].text);
        json_decref(w[i].doc);
    }
    free(w);
}

int smo__store_writes_copy(const struct smo_store_write *w, size_t n,
                           uint64_t max_bytes,
                           struct smo__store_write_copy **out, smo_status *st)
{
    *out = NULL;
    if (n == 0)
        return smo_status_set(st, SMO_EINVAL, "empty batch");
    if (n > 10000)
        return smo_status_set(st, SMO_ETOOBIG, "%zu writes in one batch", n);
    struct smo__store_write_copy *c = calloc(n, sizeof *c);
    if (!c)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct smo_store_write *x = &w[i];
        struct smo__store_write_copy *y = &c[i];
        y->coll = x->coll;
        y->expect_rev = x->expect_rev;
        bool event = x->coll == SMO_COLL_EVENT;
        if (smo__store_check_coll(x->coll, x->key, !event, st))
            goto fail;
        if (x->expect_rev < SMO_REV_ANY) {
            smo_status_set(st, SMO_EINVAL,
                           "write %zu: invalid expected "
                           "revision",
                           i);
            goto fail;
        }
        if (event && !x->doc) {
            smo_status_set(st, SMO_EINVAL, "events cannot be deleted");
            goto fail;
        }
        y->key = event || !x->key ? NULL : strdup(x->key);
        if (!x->doc)
            continue;
        if (!json_is_object(x->doc)) {
            smo_status_set(st, SMO_EINVAL,
                           "%s %s: a document is a JSON "
                           "object",
                           smo__store_coll_name(x->coll),
                           x->key ? x->key : "(event)");
            goto fail;
        }
        if (x->coll == SMO_COLL_GRAPH && check_graph(x->key, x->doc, st))
            goto fail;
        y->doc = skeleton(x->coll, x->doc);
        y->text = smo__store_json_text(x->doc, NULL);
        if (!y->doc) {
            smo_status_set(st, SMO_ENOMEM, "out of memory");
            goto fail;
        }
        if (!y->text) {
            smo_status_set(st, SMO_EINVAL,
                           "%s %s: cannot serialise the document (nested "
                           "more than 256 levels deep, or out of memory)",
                           smo__store_coll_name(x->coll),
                           x->key ? x->key : "(event)");
            goto fail;
        }
        if (has_nul(y->text)) {
            smo_status_set(st, SMO_EINVAL,
                           "%s %s: a string contains the NUL character "
                           "(\\u0000), which cannot be stored",
                           smo__store_coll_name(x->coll),
                           x->key ? x->key : "(event)");
            goto fail;
        }
        if (strlen(y->text) > max_bytes) {
            smo_status_set(st, SMO_ETOOBIG,
                           "%s %s: document is %zu bytes, the limit is %llu",
                           smo__store_coll_name(x->coll),
                           x->key ? x->key : "(event)", strlen(y->text),
                           (unsigned long long)max_bytes);
            goto fail;
        }
        index_of(y);
    }
    *out = c;
    return 0;
fail:
    smo__store_writes_free(c, n);
    return st->code;
}

int smo__store_check_rev(const struct smo__store_write_copy *w, int64_t cur,
                         smo_status *st)
{
    const char *cn = smo__store_coll_name(w->coll);
    if (w->expect_rev == SMO_REV_ANY)
        return 0;
    if (w->expect_rev == SMO_REV_ABSENT && cur != 0)
        return smo_status_set(st, SMO_ECONFLICT,
                              "%s %s already exists (revision %lld)", cn,
                              w->key, (long long)cur);
    if (w->expect_rev > 0 && cur == 0)
        return smo_status_set(st, SMO_ECONFLICT,
                              "%s %s: revision %lld expected, but it does "
                              "not exist any more",
                              cn, w->key, (long long)w->expect_rev);
    if (w->expect_rev > 0 && cur != w->expect_rev)
        return smo_status_set(st, SMO_ECONFLICT,
                              "%s %s: revision %lld expected, %lld found "
                              "(changed by someone else)",
                              cn, w->key, (long long)w->expect_rev,
                              (long long)cur);
    return 0;
}

int smo__store_filter_parse(uint32_t coll, const json_t *filter,
                            struct smo__store_filter *f, smo_status *st)
{
    memset(f, 0, sizeof *f);
    if (!filter || json_is_null(filter))
        return 0;
    if (!json_is_object(filter))
        return smo_status_set(st, SMO_EINVAL, "filter: expected an object");
    static const char *const allowed[SMO_COLL_MAX + 1][5] = {
        [SMO_COLL_GRAPH] = {"project", "name", "limit", "start_after"},
        [SMO_COLL_CLUSTER] = {"limit", "start_after"},
        [SMO_COLL_VIM] = {"area", "limit", "start_after"},
        [SMO_COLL_PROVISIONED] = {"area", "limit", "start_after"},
        [SMO_COLL_OPERATION] = {"graph", "unfinished", "limit", "start_after"},
        [SMO_COLL_EVENT] = {"graph", "since", "after", "limit"},
        [SMO_COLL_META] = {"limit", "start_after"},
    };
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)filter, k, v)
    {
        bool ok = false;
        for (int i = 0; i < 5 && allowed[coll][i] && !ok; i++)
            ok = strcmp(allowed[coll][i], k) == 0;
        if (!ok)
            return smo_status_set(st, SMO_EINVAL,
                                  "filter: unknown key \"%s\" for %s", k,
                                  smo__store_coll_name(coll));
        bool is_str = !strcmp(k, "project") || !strcmp(k, "name") ||
                      !strcmp(k, "graph") || !strcmp(k, "start_after");
        if (is_str && !json_is_string(v))
            return smo_status_set(st, SMO_EINVAL, "filter: %s must be a string",
                                  k);
        if (!strcmp(k, "unfinished") && !json_is_boolean(v))
            return smo_status_set(st, SMO_EINVAL,
                                  "filter: unfinished must be true or false");
        if (!is_str && strcmp(k, "unfinished") &&
            (!json_is_integer(v) || json_integer_value(v) < 0))
            return smo_status_set(
                st, SMO_EINVAL, "filter: %s must be a non-negative integer", k);
    }
    f->project = json_string_value(json_object_get(filter, "project"));
    f->name = json_string_value(json_object_get(filter, "name"));
    f->graph = json_string_value(json_object_get(filter, "graph"));
    f->start_after = json_string_value(json_object_get(filter, "start_after"));
    f->unfinished = json_is_true(json_object_get(filter, "unfinished"));
    f->since_ms = json_integer_value(json_object_get(filter, "since"));
    f->after = json_integer_value(json_object_get(filter, "after"));
    f->limit = json_integer_value(json_object_get(filter, "limit"));
    json_t *a = json_object_get(filter, "area");
    if (a) {
        f->area = json_integer_value(a);
        f->has_area = true;
    }
    return 0;
}

bool smo__store_events_due(int64_t *last, int64_t retention_ms, int64_t now_ms)
{
    if (retention_ms <= 0)
        return false;
    int64_t every = retention_ms < 60000 ? retention_ms : 60000;
    int64_t prev = __atomic_load_n(last, __ATOMIC_RELAXED);
    return now_ms - prev >= every &&
           __atomic_compare_exchange_n(last, &prev, now_ms, false,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void smo__store_events_more(int64_t *last)
{
    __atomic_store_n(last, 0, __ATOMIC_RELAXED);
}
