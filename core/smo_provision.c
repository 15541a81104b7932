/* Core methods of provisioning: VIMs and provisioned Kubernetes clusters,
 * kept in the store (collections VIM and PROVISIONED) and created through
 * the first provisioner plugin (provisioner_nfvcl). The API maps the
 * original SMO's /vims/... and /os_k8s/... routes onto them.
 *
 *   vim.sync, vim.list, vim.get, vim.register, vim.delete
 *   provision.list, provision.get, provision.create, provision.scale_out,
 *   provision.delete, provision.sync
 *
 * Secrets (VIM passwords) travel in the call's params to the plugin only;
 * no document written here ever holds them. Each method is a chain of
 * asynchronous steps sharing one context; every step either continues the
 * chain or replies, and the context is freed exactly once at the reply. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "smo_engine_int.h"
#include "smo_log.h"

/* Called from smo__engine_methods_register (smo_engine_api.c). */
void smo__provision_methods_register(struct smo_rt *rt);

struct pctx {
    struct smo_rt *rt;
    struct smo__reply *reply;
    json_t *params;
    json_t *items;  /* stored records: [{key, rev, doc}] */
    json_t *found;  /* the record acted on (borrowed from items) */
    int64_t rev;    /* its revision */
    json_t *result; /* the provisioner's answer */
    json_t *answer; /* what the method replies on success */
    json_t *writes; /* [[coll, key, doc-or-null, rev]] committed together */
    bool absent_ok; /* a delete: the backend's 404 means done */
    bool gone;      /* the backend no longer had it (delete) */
};

static void ctx_free(struct pctx *c)
{
    json_decref(c->params);
    json_decref(c->items);
    json_decref(c->result);
    json_decref(c->answer);
    json_decref(c->writes);
    free(c);
}

static void done_err(struct pctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void done_err(struct pctx *c, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smo__reply_err(c->reply, code, "%s", msg);
    ctx_free(c);
}

static void done_ok(struct pctx *c)
{
    smo__reply_ok(c->reply, c->answer);
    c->answer = NULL;
    ctx_free(c);
}

static smo_instance *store_of(struct smo_rt *rt)
{
    return rt->engine ? smo__engine_store(rt->engine) : NULL;
}

static smo_instance *prov_of(struct smo_rt *rt)
{
    return smo__rt_first(rt, SMO_KIND_PROVISIONER);
}

static struct pctx *ctx_new(struct smo_rt *rt, json_t *params,
                            struct smo__reply *reply, bool need_prov)
{
    if (!store_of(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL, "no store is configured");
        return NULL;
    }
    if (need_prov && !prov_of(rt)) {
        smo__reply_err(reply, SMO_EUNAVAIL,
                       "no provisioner is configured (see "
                       "conf.d/60-provisioner.yaml)");
        return NULL;
    }
    struct pctx *c = calloc(1, sizeof *c);
    if (!c) {
        smo__reply_err(reply, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    c->rt = rt;
    c->reply = reply;
    c->params = json_incref(params);
    c->writes = json_array();
    return c;
}

typedef void (*step_fn)(struct pctx *c);

/* ------------------------------------------------------ store steps -- */

struct hop {
    struct pctx *c;
    step_fn next;
};

static struct hop *hop_new(struct pctx *c, step_fn next)
{
    struct hop *h = malloc(sizeof *h);
    if (h) {
        h->c = c;
        h->next = next;
    }
    return h;
}

static void on_listed(void *arg, const smo_status *st, json_t *items)
{
    struct hop *h = arg;
    struct pctx *c = h->c;
    step_fn next = h->next;
    free(h);
    if (st->code) {
        json_decref(items);
        done_err(c, st->code, "store: %s", st->msg);
        return;
    }
    json_decref(c->items);
    c->items = items;
    next(c);
}

static void list_then(struct pctx *c, uint32_t coll, step_fn next)
{
    smo_instance *s = store_of(c->rt);
    struct hop *h = s ? hop_new(c, next) : NULL;
    smo_status st;
    smo_status_clear(&st);
    if (!h) {
        done_err(c, SMO_EUNAVAIL, "no store is configured");
        return;
    }
    if (s->plugin->ops.store.list(s->state, coll, NULL, on_listed, h, &st)) {
        free(h);
        done_err(c, st.code, "store: %s", st.msg);
    }
}

static void on_committed(void *arg, const smo_status *st, const int64_t *revs,
                         size_t n)
{
    (void)revs;
    (void)n;
    struct hop *h = arg;
    struct pctx *c = h->c;
    step_fn next = h->next;
    free(h);
    if (st->code == SMO_ECONFLICT)
        done_err(c, SMO_ECONFLICT,
                 "changed meanwhile by another request; try again (%s)",
                 st->msg);
    else if (st->code)
        done_err(c, st->code, "store: %s", st->msg);
    else
        next(c);
}

/* Commit c->writes atomically, then next(c). */
static void commit_then(struct pctx *c, step_fn next)
{
    smo_instance *s = store_of(c->rt);
    size_t n = json_array_size(c->writes);
    if (!n) {
        next(c);
        return;
    }
    struct smo_store_write *w = calloc(n, sizeof *w);
    struct hop *h = s ? hop_new(c, next) : NULL;
    if (!w || !h) {
        free(w);
        free(h);
        done_err(c, s ? SMO_ENOMEM : SMO_EUNAVAIL, "cannot write the store");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(c->writes, i);
        json_t *doc = json_array_get(x, 2);
        w[i] = (struct smo_store_write){
            (uint32_t)json_integer_value(json_array_get(x, 0)),
            json_string_value(json_array_get(x, 1)),
            json_is_null(doc) ? NULL : doc,
            json_integer_value(json_array_get(x, 3))};
    }
    smo_status st;
    smo_status_clear(&st);
    if (s->plugin->ops.store.commit(s->state, w, n, on_committed, h, &st)) {
        free(h);
        done_err(c, st.code, "store: %s", st.msg);
    }
    free(w);
}

static void add_write(struct pctx *c, uint32_t coll, const char *key,
                      json_t *doc, int64_t rev)
{
    json_array_append_new(c->writes,
                          json_pack("[i, s, o, I]", (int)coll, key,
                                    doc ? doc : json_null(), (json_int_t)rev));
}

/* ------------------------------------------------ provisioner steps -- */

static void on_prov(void *arg, const smo_status *st, json_t *result)
{
    struct hop *h = arg;
    struct pctx *c = h->c;
    step_fn next = h->next;
    free(h);
    if (st->code == SMO_ENOENT && c->absent_ok) {
        /* Deleting what the backend no longer has converges. */
        c->gone = true;
        json_decref(result);
        c->result = json_null();
        next(c);
        return;
    }
    if (st->code) {
        json_decref(result);
        done_err(c, st->code, "%s", st->msg);
        return;
    }
    json_decref(c->result);
    c->result = result ? result : json_null();
    next(c);
}

/* ------------------------------------------------------------ helpers -- */

static int64_t now_ms(void)
{
    return smo__now_ms();
}

/* pop_area from params: absent (false), or a valid area; -1 on error. */
static int area_param(const json_t *params, const char *key, int64_t *area)
{
    json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= INT32_MAX) {
        *area = json_integer_value(v);
        return 1;
    }
    if (s && *s && strlen(s) <= 9 && strspn(s, "0123456789") == strlen(s)) {
        *area = strtoll(s, NULL, 10);
        return 1;
    }
    return -1;
}

/* The stored item whose key is `ident`, or whose doc's integer `id` is
 * `ident` (the original's numeric ids). */
static json_t *find_item(const json_t *items, const char *ident)
{
    size_t i;
    json_t *it;
    bool digits = ident && *ident && strlen(ident) < 12 &&
                  strspn(ident, "0123456789") == strlen(ident);
    json_array_foreach(items, i, it)
    {
        const char *k = json_string_value(json_object_get(it, "key"));
        json_t *id = json_object_get(json_object_get(it, "doc"), "id");
        if ((k && ident && !strcmp(k, ident)) ||
            (digits && json_is_integer(id) &&
             json_integer_value(id) == strtoll(ident, NULL, 10)))
            return it;
    }
    return NULL;
}

static json_int_t next_id(const json_t *items)
{
    json_int_t m = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_int_t x = json_integer_value(
            json_object_get(json_object_get(it, "doc"), "id"));
        if (x > m)
            m = x;
    }
    return m + 1;
}

static json_t *docs_of(const json_t *items, bool filter, int64_t area)
{
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *d = json_object_get(it, "doc");
        if (!filter || json_integer_value(json_object_get(d, "area")) == area)
            json_array_append(out, d);
    }
    return out;
}

/* A DNS-1123 id for a provisioned cluster: it may become the cluster's
 * name in the federation. "os-k8s-<area>-<5 letters>" like the original's
 * OS_K8S_<area>_<letters>, lower-cased. */
static void new_smo_id(int64_t area, char *out, size_t n)
{
    unsigned char r[5] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)(now_ms() >> (i * 3));
    char l[6];
    for (size_t i = 0; i < 5; i++)
        l[i] = (char)('a' + r[i] % 26);
    l[5] = '\0';
    snprintf(out, n, "os-k8s-%lld-%s", (long long)area, l);
}

static const char *ident_of(struct pctx *c)
{
    const char *id = json_string_value(json_object_get(c->params, "id"));
    return id;
}

/* Look the record up by the `id` param after list_then(); replies 404. */
static bool locate(struct pctx *c, const char *what)
{
    const char *id = ident_of(c);
    json_t *it = id ? find_item(c->items, id) : NULL;
    if (!it) {
        done_err(c, SMO_ENOENT, "%s \"%s\" not found", what, id ? id : "");
        return false;
    }
    c->found = json_object_get(it, "doc");
    c->rev = json_integer_value(json_object_get(it, "rev"));
    return true;
}

/* =============================================================== VIMs == */

static void vim_list_reply(struct pctx *c)
{
    int64_t area = 0;
    int f = area_param(c->params, "pop_area", &area);
    json_t *list = docs_of(c->items, f == 1, area);
    /* Always a list; the original returned one object with pop_area and a
     * string when empty. "SMO VIMs" is the original's key. */
    c->answer = json_pack("{s:O, s:o}", "SMO VIMs", list, "vims", list);
    done_ok(c);
}

/* A list: the whole collection, then `fn` filters it by the `pop_area`
 * parameter, which is checked before the store is read. */
static void list_in_area(struct smo_rt *rt, json_t *params,
                         struct smo__reply *reply, uint32_t coll, step_fn fn)
{
    int64_t area;
    if (area_param(params, "pop_area", &area) < 0) {
        smo__reply_err(reply, SMO_EINVAL, "pop_area: a non-negative integer");
        return;
    }
    struct pctx *c = ctx_new(rt, params, reply, false);
    if (c)
        list_then(c, coll, fn);
}

static void m_vim_list(struct smo_rt *rt, json_t *params,
                       struct smo__reply *reply)
{
    list_in_area(rt, params, reply, SMO_COLL_VIM, vim_list_reply);
}

static void vim_get_reply(struct pctx *c)
{
    if (!locate(c, "VIM"))
        return;
    c->answer = json_incref(c->found);
    done_ok(c);
}

static void m_vim_get(struct smo_rt *rt, json_t *params,
                      struct smo__reply *reply)
{
    struct pctx *c = ctx_new(rt, params, reply, false);
    if (c)
        list_then(c, SMO_COLL_VIM, vim_get_reply);
}

/* ---- register: stored? -> NFVCL -> store */

static void vim_register_done(struct pctx *c)
{
    json_t *vim = json_array_get(json_array_get(c->writes, 0), 2);
    c->answer =
        json_pack("{s:s, s:O, s:O}", "message", "VIM registered successfully",
                  "vim", vim, "NFVCL_Response",
                  json_object_get(c->result, "response")
                      ? json_object_get(c->result, "response")
                      : json_null());
    smo__log(5, "provision", "VIM %s registered",
             json_string_value(json_object_get(vim, "name")));
    done_ok(c);
}

static void vim_register_store(struct pctx *c)
{
    json_t *vim = json_deep_copy(json_object_get(c->result, "vim"));
    const char *name = json_string_value(json_object_get(vim, "name"));
    if (!json_is_object(vim) || !name) {
        json_decref(vim);
        done_err(c, SMO_EPROTO, "the provisioner returned no VIM record");
        return;
    }
    /* Belt and braces: no credential member reaches the store. */
    json_object_del(vim, "vim_password");
    json_object_del(vim, "password");
    json_object_set_new(vim, "id", json_integer(next_id(c->items)));
    json_object_set_new(vim, "source", json_string("api"));
    json_object_set_new(vim, "created_ms", json_integer(now_ms()));
    add_write(c, SMO_COLL_VIM, name, vim, SMO_REV_ABSENT);
    commit_then(c, vim_register_done);
}

static void vim_register_call(struct pctx *c)
{
    const char *name =
        json_string_value(json_object_get(c->params, "vim_name"));
    json_t *it;
    size_t i;
    bool known = false;
    json_array_foreach(c->items, i, it) known =
        known ||
        (name && !strcmp(json_string_value(json_object_get(it, "key")), name));
    if (known) {
        done_err(c, SMO_EEXIST, "VIM \"%s\" is already registered", name);
        return;
    }
    smo_instance *p = prov_of(c->rt);
    struct hop *h = p ? hop_new(c, vim_register_store) : NULL;
    smo_status st;
    smo_status_clear(&st);
    if (!h) {
        done_err(c, SMO_EUNAVAIL, "no provisioner is configured");
        return;
    }
    if (p->plugin->ops.provisioner.vim_register(p->state, c->params, on_prov, h,
                                                &st)) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

static void m_vim_register(struct smo_rt *rt, json_t *params,
                           struct smo__reply *reply)
{
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (c)
        list_then(c, SMO_COLL_VIM, vim_register_call);
}

/* ---- delete: stored -> NFVCL (absolute URL) -> store */

static void vim_delete_done(struct pctx *c)
{
    const char *name = json_string_value(json_object_get(c->found, "name"));
    char msg[160];
    snprintf(msg, sizeof msg, "VIM %s deleted successfully%s", name,
             c->gone ? " (the NFVCL no longer had it)" : "");
    c->answer = json_pack("{s:s, s:s, s:O}", "message", msg, "name", name,
                          "NFVCL_Response",
                          json_object_get(c->result, "response")
                              ? json_object_get(c->result, "response")
                              : json_null());
    smo__log(5, "provision", "%s", msg);
    done_ok(c);
}

static void vim_delete_store(struct pctx *c)
{
    add_write(c, SMO_COLL_VIM,
              json_string_value(json_object_get(c->found, "name")), NULL,
              c->rev);
    commit_then(c, vim_delete_done);
}

static void vim_delete_call(struct pctx *c)
{
    if (!locate(c, "VIM"))
        return;
    smo_instance *p = prov_of(c->rt);
    struct hop *h = p ? hop_new(c, vim_delete_store) : NULL;
    smo_status st;
    smo_status_clear(&st);
    if (!h) {
        done_err(c, SMO_EUNAVAIL, "no provisioner is configured");
        return;
    }
    c->absent_ok = true;
    if (p->plugin->ops.provisioner.vim_delete(
            p->state, json_string_value(json_object_get(c->found, "name")),
            on_prov, h, &st)) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

static void m_vim_delete(struct smo_rt *rt, json_t *params,
                         struct smo__reply *reply)
{
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (c)
        list_then(c, SMO_COLL_VIM, vim_delete_call);
}

/* ---- sync: NFVCL topology -> stored -> insert new, refresh known */

static void vim_sync_done(struct pctx *c)
{
    json_t *added = json_object_get(c->answer, "added");
    const char *msg = json_array_size(added)
                          ? "VIMs added successfully"
                          : "No new VIMs obtained by the NFVCL";
    json_object_set_new(c->answer, "message", json_string(msg));
    done_ok(c);
}

static void vim_sync_merge(struct pctx *c)
{
    json_t *added = json_array(), *updated = json_array(), *all = json_array();
    json_int_t id = next_id(c->items);
    size_t i;
    json_t *v;
    json_array_foreach(c->result, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *it = find_item(c->items, name);
        json_t *doc = json_deep_copy(v);
        if (!it) {
            json_object_set_new(doc, "id", json_integer(id++));
            json_object_set_new(doc, "source", json_string("nfvcl"));
            json_object_set_new(doc, "created_ms", json_integer(now_ms()));
            json_array_append(added, doc);
            add_write(c, SMO_COLL_VIM, name, json_incref(doc), SMO_REV_ABSENT);
        } else {
            json_t *old = json_object_get(it, "doc");
            const char *keep[] = {"id", "source", "created_ms", "topology"};
            for (size_t k = 0; k < 4; k++)
                if (json_object_get(old, keep[k]))
                    json_object_set(doc, keep[k],
                                    json_object_get(old, keep[k]));
            if (!json_equal(doc, old)) {
                json_array_append(updated, doc);
                add_write(c, SMO_COLL_VIM, name, json_incref(doc),
                          json_integer_value(json_object_get(it, "rev")));
            }
        }
        json_array_append_new(all, doc);
    }
    /* Known VIMs the NFVCL does not list are kept (registered through SMO
     * on another topology, or the NFVCL lost them): deleting is explicit. */
    json_array_foreach(c->items, i, v)
    {
        const char *k = json_string_value(json_object_get(v, "key"));
        bool listed = false;
        size_t j;
        json_t *x;
        json_array_foreach(c->result, j, x) listed =
            listed || !strcmp(json_string_value(json_object_get(x, "name")), k);
        if (!listed)
            json_array_append(all, json_object_get(v, "doc"));
    }
    c->answer = json_pack("{s:O, s:o, s:o, s:o}", "vims",
                          json_array_size(added) ? added : all, "added", added,
                          "updated", updated, "all", all);
    commit_then(c, vim_sync_done);
}

static void vim_sync_list(struct pctx *c)
{
    if (!json_is_array(c->result)) {
        done_err(c, SMO_EPROTO, "the provisioner returned no VIM list");
        return;
    }
    list_then(c, SMO_COLL_VIM, vim_sync_merge);
}

static void m_vim_sync(struct smo_rt *rt, json_t *params,
                       struct smo__reply *reply)
{
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (!c)
        return;
    smo_instance *p = prov_of(rt);
    struct hop *h = hop_new(c, vim_sync_list);
    smo_status st;
    smo_status_clear(&st);
    if (!h)
        done_err(c, SMO_ENOMEM, "out of memory");
    else if (p->plugin->ops.provisioner.vim_list(p->state, on_prov, h, &st)) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

/* ========================================================== clusters == */

static void prov_list_reply(struct pctx *c)
{
    int64_t area = 0;
    int f = area_param(c->params, "pop_area", &area);
    c->answer = json_pack("{s:o}", "clusters", docs_of(c->items, f == 1, area));
    done_ok(c);
}

static void m_prov_list(struct smo_rt *rt, json_t *params,
                        struct smo__reply *reply)
{
    list_in_area(rt, params, reply, SMO_COLL_PROVISIONED, prov_list_reply);
}

static void prov_get_reply(struct pctx *c)
{
    if (!locate(c, "OS_K8S cluster"))
        return;
    c->answer = json_incref(c->found);
    done_ok(c);
}

static void m_prov_get(struct smo_rt *rt, json_t *params,
                       struct smo__reply *reply)
{
    struct pctx *c = ctx_new(rt, params, reply, false);
    if (c)
        list_then(c, SMO_COLL_PROVISIONED, prov_get_reply);
}

/* ---- create: VIM (name, area) -> NFVCL blueprint -> store */

static void prov_create_done(struct pctx *c)
{
    json_t *doc = json_array_get(json_array_get(c->writes, 0), 2);
    c->answer = json_pack("{s:s, s:O, s:O, s:O}", "message",
                          "OS K8S cluster created successfully", "smo_id",
                          json_object_get(doc, "smo_id"), "cluster", doc,
                          "NFVCL_Response",
                          json_object_get(c->result, "response")
                              ? json_object_get(c->result, "response")
                              : json_null());
    smo__log(5, "provision", "cluster %s (blueprint %s) created in area %lld",
             json_string_value(json_object_get(doc, "smo_id")),
             json_string_value(json_object_get(doc, "nfvcl_id")),
             (long long)json_integer_value(json_object_get(doc, "area")));
    done_ok(c);
}

static json_t *cluster_doc(const char *smo_id, const char *nfvcl_id,
                           int64_t area, const char *vim, const char *mgmt,
                           const char *svc, json_t *workers, json_t *flavor,
                           const char *status, const char *source)
{
    int64_t t = now_ms();
    return json_pack("{s:s, s:s, s:I, s:I, s:s?, s:s?, s:s?, s:O?, s:O?, s:b, "
                     "s:s, s:s, s:I, s:I}",
                     "smo_id", smo_id, "nfvcl_id", nfvcl_id, "area",
                     (json_int_t)area, "pop_area", (json_int_t)area, "vim_name",
                     vim, "mgmt_network", mgmt, "service_network", svc,
                     "running_workers", workers, "master_flavor", flavor,
                     "is_master_area", 1, "status", status, "source", source,
                     "created_ms", (json_int_t)t, "updated_ms", (json_int_t)t);
}

static void prov_create_store(struct pctx *c)
{
    const char *bid = json_string_value(json_object_get(c->result, "id"));
    if (!bid) {
        done_err(c, SMO_EPROTO, "the provisioner returned no blueprint id");
        return;
    }
    char smo_id[64];
    new_smo_id(json_integer_value(json_object_get(c->result, "area")), smo_id,
               sizeof smo_id);
    const char *src = json_string_value(json_object_get(c->params, "source"));
    json_t *doc = cluster_doc(
        smo_id, bid, json_integer_value(json_object_get(c->result, "area")),
        json_string_value(json_object_get(c->result, "vim")),
        json_string_value(json_object_get(c->result, "mgmt_network")),
        json_string_value(json_object_get(c->result, "service_network")),
        json_object_get(c->result, "workers"), NULL, "creating",
        src ? src : "api");
    add_write(c, SMO_COLL_PROVISIONED, smo_id, doc, SMO_REV_ABSENT);
    commit_then(c, prov_create_done);
}

static void prov_create_call(struct pctx *c)
{
    int64_t area = 0;
    area_param(c->params, "pop_area", &area);
    const char *vim = json_string_value(json_object_get(c->params, "vim_name"));
    json_t *it = find_item(c->items, vim);
    json_t *doc = json_object_get(it, "doc");
    bool in_area = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(doc, "areas"), i, a) in_area =
        in_area || json_integer_value(a) == area;
    if (!it || !(in_area ||
                 json_integer_value(json_object_get(doc, "area")) == area)) {
        done_err(c, SMO_ENOENT, "VIM not found: no VIM \"%s\" in pop area %lld",
                 vim, (long long)area);
        return;
    }
    json_t *w = json_object_get(c->params, "workers");
    json_t *req = json_pack(
        "{s:I, s:s, s:O?, s:O?, s:I}", "area", (json_int_t)area, "vim", vim,
        "mgmt_network", json_object_get(doc, "mgmt_network"), "service_network",
        json_object_get(doc, "service_network"), "workers",
        w ? json_integer_value(w) : (json_int_t)1);
    smo_instance *p = prov_of(c->rt);
    struct hop *h = p ? hop_new(c, prov_create_store) : NULL;
    smo_status st;
    smo_status_clear(&st);
    if (!h) {
        json_decref(req);
        done_err(c, SMO_EUNAVAIL, "no provisioner is configured");
        return;
    }
    int r = p->plugin->ops.provisioner.cluster_create(p->state, req, on_prov, h,
                                                      &st);
    json_decref(req);
    if (r) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

static int workers_param(const json_t *params, struct smo__reply *reply)
{
    json_t *w = json_object_get(params, "workers");
    const char *s = json_string_value(w);
    if (s && *s && strlen(s) < 5 && strspn(s, "0123456789") == strlen(s)) {
        json_object_set_new((json_t *)params, "workers",
                            json_integer(strtoll(s, NULL, 10)));
        w = json_object_get(params, "workers");
    }
    if (w && (!json_is_integer(w) || json_integer_value(w) < 1)) {
        smo__reply_err(reply, SMO_EINVAL, "workers: a positive integer");
        return -1;
    }
    return 0;
}

static void m_prov_create(struct smo_rt *rt, json_t *params,
                          struct smo__reply *reply)
{
    int64_t area;
    if (area_param(params, "pop_area", &area) != 1) {
        smo__reply_err(reply, SMO_EINVAL,
                       "pop_area: required, a non-negative integer");
        return;
    }
    if (!json_is_string(json_object_get(params, "vim_name"))) {
        smo__reply_err(reply, SMO_EINVAL, "vim_name: required");
        return;
    }
    if (workers_param(params, reply))
        return;
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (c)
        list_then(c, SMO_COLL_VIM, prov_create_call);
}

/* ---- scale out: stored -> NFVCL add_node -> store */

static void prov_scale_done(struct pctx *c)
{
    json_t *doc = json_array_get(json_array_get(c->writes, 0), 2);
    c->answer = json_pack("{s:s, s:O, s:O}", "message",
                          "Node added to k8s cluster successfully", "cluster",
                          doc, "NFVCL_Response",
                          json_object_get(c->result, "response")
                              ? json_object_get(c->result, "response")
                              : json_null());
    done_ok(c);
}

static void prov_scale_store(struct pctx *c)
{
    json_t *doc = json_deep_copy(c->found);
    json_int_t add =
        json_integer_value(json_object_get(c->result, "workers_added"));
    json_int_t cur =
        json_integer_value(json_object_get(doc, "running_workers"));
    json_object_set_new(doc, "running_workers", json_integer(cur + add));
    json_object_set_new(doc, "updated_ms", json_integer(now_ms()));
    add_write(c, SMO_COLL_PROVISIONED,
              json_string_value(json_object_get(doc, "smo_id")), doc, c->rev);
    commit_then(c, prov_scale_done);
}

static void prov_scale_call(struct pctx *c)
{
    if (!locate(c, "OS_K8S cluster"))
        return;
    const char *bid = json_string_value(json_object_get(c->found, "nfvcl_id"));
    if (!bid) {
        done_err(c, SMO_ESTATE, "this cluster has no NFVCL blueprint");
        return;
    }
    json_t *w = json_object_get(c->params, "workers");
    json_t *req = json_pack(
        "{s:O, s:O?, s:O?, s:I}", "area", json_object_get(c->found, "area"),
        "mgmt_network", json_object_get(c->found, "mgmt_network"),
        "service_network", json_object_get(c->found, "service_network"),
        "workers", w ? json_integer_value(w) : (json_int_t)1);
    smo_instance *p = prov_of(c->rt);
    struct hop *h = p ? hop_new(c, prov_scale_store) : NULL;
    smo_status st;
    smo_status_clear(&st);
    if (!h) {
        json_decref(req);
        done_err(c, SMO_EUNAVAIL, "no provisioner is configured");
        return;
    }
    int r = p->plugin->ops.provisioner.cluster_scale_out(p->state, bid, req,
                                                         on_prov, h, &st);
    json_decref(req);
    if (r) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

static void m_prov_scale(struct smo_rt *rt, json_t *params,
                         struct smo__reply *reply)
{
    if (workers_param(params, reply))
        return;
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (c)
        list_then(c, SMO_COLL_PROVISIONED, prov_scale_call);
}

/* ---- delete: stored -> NFVCL (when it has a blueprint) -> store */

static void prov_delete_done(struct pctx *c)
{
    c->answer = json_pack("{s:s, s:O, s:O}", "message",
                          c->gone ? "OS K8S cluster deleted successfully (the "
                                    "NFVCL no longer had it)"
                                  : "OS K8S cluster deleted successfully",
                          "smo_id", json_object_get(c->found, "smo_id"),
                          "NFVCL_Response",
                          json_object_get(c->result, "response")
                              ? json_object_get(c->result, "response")
                              : json_null());
    smo__log(5, "provision", "cluster %s deleted",
             json_string_value(json_object_get(c->found, "smo_id")));
    done_ok(c);
}

static void prov_delete_store(struct pctx *c)
{
    add_write(c, SMO_COLL_PROVISIONED,
              json_string_value(json_object_get(c->found, "smo_id")), NULL,
              c->rev);
    commit_then(c, prov_delete_done);
}

static void prov_delete_call(struct pctx *c)
{
    if (!locate(c, "OS_K8S cluster"))
        return;
    const char *bid = json_string_value(json_object_get(c->found, "nfvcl_id"));
    if (!bid) {
        c->result = json_null();
        prov_delete_store(c);
        return;
    }
    smo_instance *p = prov_of(c->rt);
    struct hop *h = p ? hop_new(c, prov_delete_store) : NULL;
    smo_status st;
    smo_status_clear(&st);
    if (!h) {
        done_err(c, SMO_EUNAVAIL, "no provisioner is configured");
        return;
    }
    c->absent_ok = true;
    if (p->plugin->ops.provisioner.cluster_delete(p->state, bid, on_prov, h,
                                                  &st)) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

static void m_prov_delete(struct smo_rt *rt, json_t *params,
                          struct smo__reply *reply)
{
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (c)
        list_then(c, SMO_COLL_PROVISIONED, prov_delete_call);
}

/* ---- sync: NFVCL blueprints -> stored -> add, update, delete in scope */

static void prov_sync_done(struct pctx *c)
{
    size_t a = json_array_size(json_object_get(c->answer, "added"));
    size_t u = json_array_size(json_object_get(c->answer, "updated"));
    size_t d = json_array_size(json_object_get(c->answer, "deleted"));
    char msg[160];
    if (!a && !u && !d)
        snprintf(msg, sizeof msg, "Openstack k8s are already synced");
    else
        snprintf(msg, sizeof msg, "%zu added, %zu updated, %zu deleted", a, u,
                 d);
    json_object_set_new(c->answer, "message", json_string(msg));
    smo__log(6, "provision", "cluster sync: %s", msg);
    done_ok(c);
}

static const char *bp_str(const json_t *b, const char *k)
{
    return json_string_value(json_object_get(b, k));
}

static void prov_sync_merge(struct pctx *c)
{
    int64_t area = 0;
    bool filter = area_param(c->params, "pop_area", &area) == 1;
    json_t *added = json_array(), *updated = json_array(),
           *deleted = json_array();
    size_t unchanged = 0, i;
    json_t *b;
    json_array_foreach(c->result, i, b)
    {
        json_t *ba = json_object_get(b, "area");
        /* Integers on both sides (the original compared a string with an
         * integer and never matched). */
        if (filter && !(json_is_integer(ba) && json_integer_value(ba) == area))
            continue;
        const char *bid = bp_str(b, "id");
        json_t *it = NULL, *x;
        size_t k;
        json_array_foreach(c->items, k, x)
        {
            const char *n = bp_str(json_object_get(x, "doc"), "nfvcl_id");
            if (n && !strcmp(n, bid))
                it = x;
        }
        if (!it) {
            char smo_id[64];
            new_smo_id(json_integer_value(ba), smo_id, sizeof smo_id);
            json_t *doc = cluster_doc(
                smo_id, bid, json_integer_value(ba), NULL,
                bp_str(b, "mgmt_network"), bp_str(b, "service_network"),
                json_object_get(b, "workers"),
                json_object_get(b, "master_flavor"),
                bp_str(b, "status") ? bp_str(b, "status") : "unknown", "nfvcl");
            json_array_append(added, doc);
            add_write(c, SMO_COLL_PROVISIONED, smo_id, doc, SMO_REV_ABSENT);
            continue;
        }
        json_t *old = json_object_get(it, "doc");
        json_t *doc = json_deep_copy(old);
        if (json_is_integer(ba)) {
            json_object_set(doc, "area", ba);
            json_object_set(doc, "pop_area", ba);
        }
        const char *fk[][2] = {{"mgmt_network", "mgmt_network"},
                               {"service_network", "service_network"},
                               {"running_workers", "workers"},
                               {"master_flavor", "master_flavor"},
                               {"status", "status"}};
        for (size_t f = 0; f < 5; f++)
            if (json_object_get(b, fk[f][1]) &&
                !json_is_null(json_object_get(b, fk[f][1])))
                json_object_set(doc, fk[f][0], json_object_get(b, fk[f][1]));
        if (json_equal(doc, old)) {
            json_decref(doc);
            unchanged++;
            continue;
        }
        json_object_set_new(doc, "updated_ms", json_integer(now_ms()));
        json_array_append(updated, doc);
        add_write(c, SMO_COLL_PROVISIONED,
                  json_string_value(json_object_get(it, "key")), doc,
                  json_integer_value(json_object_get(it, "rev")));
    }
    /* Only rows in the filter's scope whose blueprint the NFVCL does not
     * list at all are deleted: a filter that matches nothing deletes
     * nothing (the original deleted every row). */
    json_t *x;
    json_array_foreach(c->items, i, x)
    {
        json_t *d = json_object_get(x, "doc");
        const char *n = bp_str(d, "nfvcl_id");
        if (!n ||
            (filter && json_integer_value(json_object_get(d, "area")) != area))
            continue;
        bool listed = false;
        size_t k;
        json_array_foreach(c->result, k, b) listed =
            listed || !strcmp(bp_str(b, "id"), n);
        if (listed)
            continue;
        json_array_append(deleted, json_object_get(d, "smo_id"));
        add_write(c, SMO_COLL_PROVISIONED,
                  json_string_value(json_object_get(x, "key")), NULL,
                  json_integer_value(json_object_get(x, "rev")));
    }
    c->answer =
        json_pack("{s:o, s:o, s:o, s:I}", "added", added, "updated", updated,
                  "deleted", deleted, "unchanged", (json_int_t)unchanged);
    commit_then(c, prov_sync_done);
}

static void prov_sync_list(struct pctx *c)
{
    if (!json_is_array(c->result)) {
        done_err(c, SMO_EPROTO, "the provisioner returned no cluster list");
        return;
    }
    list_then(c, SMO_COLL_PROVISIONED, prov_sync_merge);
}

static void m_prov_sync(struct smo_rt *rt, json_t *params,
                        struct smo__reply *reply)
{
    int64_t area;
    if (area_param(params, "pop_area", &area) < 0) {
        smo__reply_err(reply, SMO_EINVAL, "pop_area: a non-negative integer");
        return;
    }
    struct pctx *c = ctx_new(rt, params, reply, true);
    if (!c)
        return;
    smo_instance *p = prov_of(rt);
    struct hop *h = hop_new(c, prov_sync_list);
    smo_status st;
    smo_status_clear(&st);
    if (!h)
        done_err(c, SMO_ENOMEM, "out of memory");
    else if (p->plugin->ops.provisioner.cluster_list(p->state, on_prov, h,
                                                     &st)) {
        free(h);
        done_err(c, st.code, "%s", st.msg);
    }
}

void smo__provision_methods_register(struct smo_rt *rt)
{
    smo__method_register(rt, "vim.list", m_vim_list);
    smo__method_register(rt, "vim.get", m_vim_get);
    smo__method_register(rt, "vim.register", m_vim_register);
    smo__method_register(rt, "vim.delete", m_vim_delete);
    smo__method_register(rt, "vim.sync", m_vim_sync);
    smo__method_register(rt, "provision.list", m_prov_list);
    smo__method_register(rt, "provision.get", m_prov_get);
    smo__method_register(rt, "provision.create", m_prov_create);
    smo__method_register(rt, "provision.scale_out", m_prov_scale);
    smo__method_register(rt, "provision.delete", m_prov_delete);
    smo__method_register(rt, "provision.sync", m_prov_sync);
}
