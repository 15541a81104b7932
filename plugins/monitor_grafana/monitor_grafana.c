/* monitor_grafana: graph, service and cluster dashboards generated from
 * the descriptor, published with POST /api/dashboards/db and removed with
 * DELETE /api/dashboards/uid/<uid>.
 *
 * Grafana being down must never fail a deploy: every publish and removal
 * answers the engine after one attempt (bounded by request_timeout) with
 * what happened, and a failed attempt that a later one can fix (no
 * connection, 5xx, 429) is kept in a queue and retried in the background
 * with a growing delay, newest content first: a later publish or a removal
 * of the same uid replaces what was waiting. The link of a dashboard is
 * known before it is published (the uid is a hash), so the graph records
 * it either way. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grafana.h"

struct cfg {
    const char *url;
    const char *public_url;
    const char *token;
    const char *basic_user;
    const char *basic_password;
    const char *ca_file;
    bool insecure;
    const char *folder_uid;
    const char *datasource_uid;
    const char *datasource_type;
    const char *refresh;
    const char *cluster_label;
    int64_t request_timeout_ms;
    int64_t retry_ms;
    int64_t retry_max_ms;
    bool graph, service, cluster;
};

/* A publish or removal waiting to be retried. */
struct entry {
    char uid[SMO__GRAF_UID_MAX + 1];
    bool remove;
    char *body; /* the POST body (publish) */
    int attempts;
    uint64_t due;
    bool sending;
    bool superseded; /* replaced while its request was in flight */
    struct entry *next;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    struct smo__graf_opts opts;
    struct entry *queue;
    smo_timer *timer;
    uint64_t timer_due;
    size_t inflight;
    bool stopping;
    smo_done_cb stop_done;
    void *stop_arg;
    smo_metric *m_req, *m_pending;
};

/* One request to Grafana: the engine's (cb set) or a retry's (e set). */
struct req {
    struct state *s;
    char uid[SMO__GRAF_UID_MAX + 1];
    bool remove;
    char *body;
    smo_monitor_cb cb;
    void *arg;
    struct entry *e;
    smo_status fail; /* why the request could not start */
};

/* ----------------------------------------------------------- config -- */

#define OFF(m) offsetof(struct cfg, m)
static const struct smo_config_field dash_fields[] = {
    {"graph", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, OFF(graph),
     "one dashboard per graph (every service, repeated per $service)"},
    {"service", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, OFF(service),
     "one dashboard per service"},
    {"cluster", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, OFF(cluster),
     "one dashboard per cluster a graph runs on (shared by graphs, never "
     "removed by SMO)"},
    {0}};
static const struct smo_config_field fields[] = {
    {"url", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL, OFF(url),
     "Grafana base URL (http://127.0.0.1:3000)"},
    {"public_url", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(public_url),
     "base of the links stored in graphs (default: url)"},
    {"token", SMO_CFG_STRING, SMO_CFG_SECRET, "", 0, 0, NULL, NULL, OFF(token),
     "service account token (Authorization: Bearer)"},
    {"basic_user", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(basic_user),
     "HTTP basic auth user, instead of a token"},
    {"basic_password", SMO_CFG_STRING, SMO_CFG_SECRET, "", 0, 0, NULL, NULL,
     OFF(basic_password), "HTTP basic auth password"},
    {"ca_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(ca_file),
     "PEM bundle to verify Grafana"},
    {"insecure_skip_verify", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(insecure), "do not verify Grafana's certificate"},
    {"folder_uid", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(folder_uid),
     "folder of the dashboards (default: General)"},
    {"datasource_uid", SMO_CFG_STRING, 0, "prometheus", 0, 0, NULL, NULL,
     OFF(datasource_uid), "uid of the Prometheus datasource the panels query"},
    {"datasource_type", SMO_CFG_STRING, 0, "prometheus", 0, 0, NULL, NULL,
     OFF(datasource_type), "type of that datasource"},
    {"refresh", SMO_CFG_STRING, 0, "5s", 0, 0, NULL, NULL, OFF(refresh),
     "dashboard auto-refresh"},
    {"cluster_label", SMO_CFG_STRING, 0, "source", 0, 0, NULL, NULL,
     OFF(cluster_label),
     "label naming the member cluster on node metrics (member Prometheus "
     "instances remote-write with it as an external label)"},
    {"request_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "5s", 100,
     120000, NULL, NULL, OFF(request_timeout_ms),
     "bound of one request; a deploy waits at most this long for Grafana"},
    {"retry_interval", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s", 100,
     3600000, NULL, NULL, OFF(retry_ms),
     "first delay before retrying a publish or removal Grafana could not "
     "take; doubled at each failure"},
    {"retry_max_interval", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10m",
     100, 86400000, NULL, NULL, OFF(retry_max_ms),
     "longest delay between two retries"},
    {"dashboards", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, dash_fields,
     SMO_CFG_NO_OFFSET, "which dashboards to publish"},
    {0}};
#undef OFF

static bool is_http_url(const char *u)
{
    return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) &&
           !strpbrk(u, " \t\r\n?#");
}

static bool label_name_ok(const char *n)
{
    if (!*n || (*n >= '0' && *n <= '9'))
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct cfg *c = cfgp;
    if (!is_http_url(c->url))
        return smo_status_set(st, SMO_EINVAL,
                              "url: expected http://HOST:PORT or https://..., "
                              "found \"%s\"",
                              c->url);
    if (*c->public_url && !is_http_url(c->public_url))
        return smo_status_set(st, SMO_EINVAL, "public_url: not an http(s) URL");
    if (*c->token && *c->basic_user)
        return smo_status_set(st, SMO_EINVAL,
                              "token and basic_user: give one credential");
    if (!label_name_ok(c->cluster_label))
        return smo_status_set(st, SMO_EINVAL,
                              "cluster_label: not a Prometheus label name");
    if (!*c->datasource_uid)
        return smo_status_set(st, SMO_EINVAL, "datasource_uid: empty");
    if (c->retry_max_ms < c->retry_ms)
        return smo_status_set(st, SMO_EINVAL,
                              "retry_max_interval: shorter than "
                              "retry_interval");
    return 0;
}

/* ------------------------------------------------------ bookkeeping -- */

static void count(struct state *s, const char *op, const char *result)
{
    const char *lv[] = {s->host->instance_name(s->self), op, result, NULL};
    s->host->metric_add(s->m_req, lv, 1);
}

static void pending_gauge(struct state *s)
{
    size_t n = 0;
    for (struct entry *e = s->queue; e; e = e->next)
        n++;
    const char *lv[] = {s->host->instance_name(s->self), NULL};
    s->host->metric_set(s->m_pending, lv, (double)n);
}

static void release(struct state *s)
{
    if (s->inflight)
        s->inflight--;
    if (s->stopping && !s->inflight && s->stop_done) {
        smo_done_cb d = s->stop_done;
        s->stop_done = NULL;
        d(s->stop_arg);
    }
}

static char *link_of(struct state *s, const char *uid)
{
    const char *base = *s->cfg->public_url ? s->cfg->public_url : s->cfg->url;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    char *l = NULL;
    if (asprintf(&l, "%.*s/d/%s", (int)n, base, uid) < 0)
        return NULL;
    return l;
}

static void entry_free(struct entry *e)
{
    free(e->body);
    free(e);
}

/* ------------------------------------------------------------ queue -- */

static void send_req(struct state *s, struct req *r);
static void arm(struct state *s);

static void fire(void *arg)
{
    struct state *s = arg;
    s->timer = NULL;
    uint64_t now = s->host->now_ms(s->self);
    for (struct entry *e = s->queue; e && !s->stopping; e = e->next) {
        if (e->sending || e->due > now)
            continue;
        struct req *r = calloc(1, sizeof *r);
        r->s = s;
        memcpy(r->uid, e->uid, sizeof r->uid);
        r->remove = e->remove;
        r->e = e;
        e->sending = true;
        send_req(s, r);
    }
    arm(s);
}

static void arm(struct state *s)
{
    uint64_t due = 0;
    for (struct entry *e = s->queue; e; e = e->next)
        if (!e->sending && (!due || e->due < due))
            due = e->due;
    if (s->stopping || !due)
        return;
    if (s->timer && s->timer_due <= due)
        return;
    if (s->timer)
        s->host->timer_stop(s->timer);
    uint64_t now = s->host->now_ms(s->self);
    s->timer_due = due;
    s->timer =
        s->host->timer_start(s->self, due > now ? due - now : 0, 0, fire, s);
}

static uint64_t backoff(struct state *s, int attempts)
{
    uint64_t d = (uint64_t)s->cfg->retry_ms;
    for (int i = 1; i < attempts && d < (uint64_t)s->cfg->retry_max_ms; i++)
        d *= 2;
    return d < (uint64_t)s->cfg->retry_max_ms ? d
                                              : (uint64_t)s->cfg->retry_max_ms;
}

/* Drop whatever waits for `uid`: newer content or a removal replaces it. */
static void supersede(struct state *s, const char *uid)
{
    for (struct entry **pp = &s->queue; *pp;) {
        struct entry *e = *pp;
        if (strcmp(e->uid, uid)) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        if (e->sending)
            e->superseded = true; /* its request frees it */
        else
            entry_free(e);
    }
    pending_gauge(s);
}

static void enqueue(struct state *s, const struct req *r, int attempts)
{
    struct entry *e = calloc(1, sizeof *e);
    memcpy(e->uid, r->uid, sizeof e->uid);
    e->remove = r->remove;
    e->body = r->body ? strdup(r->body) : NULL;
    e->attempts = attempts;
    e->due = s->host->now_ms(s->self) + backoff(s, attempts);
    e->next = s->queue;
    s->queue = e;
    pending_gauge(s);
    arm(s);
}

static void unlink_entry(struct state *s, struct entry *e)
{
    for (struct entry **pp = &s->queue; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    pending_gauge(s);
}

/* ------------------------------------------------------------- HTTP -- */

static bool retryable(const smo_status *st, long status)
{
    if (st->code)
        return st->code != SMO_ECANCELED && st->code != SMO_ETOOBIG;
    return status >= 500 || status == 429 || status == 408;
}

static void message_of(const smo_status *st,
                       const struct smo_http_response *resp, char *buf,
                       size_t n)
{
    if (st->code) {
        snprintf(buf, n, "%s", st->msg);
        return;
    }
    json_t *b = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *m = json_string_value(json_object_get(b, "message"));
    if (m)
        snprintf(buf, n, "HTTP %ld: %s", resp->status, m);
    else
        snprintf(buf, n, "HTTP %ld: %.200s", resp->status, resp->body);
    json_decref(b);
}

static void on_answer(void *arg, const smo_status *st,
                      const struct smo_http_response *resp)
{
    struct req *r = arg;
    struct state *s = r->s;
    const char *op = r->remove ? "remove" : "publish";
    bool ok = !st->code && ((resp->status >= 200 && resp->status < 300) ||
                            (r->remove && resp->status == 404));
    /* A 2xx publish answer that is not Grafana's JSON object (a proxy's
     * page, a truncated body) did not publish anything we can trust:
     * retried like a 5xx. */
    bool garbage = false;
    if (ok && !r->remove) {
        json_t *b = json_loadb(resp->body, resp->body_len, 0, NULL);
        garbage = !json_is_object(b);
        json_decref(b);
        ok = !garbage;
    }
    bool again = !ok &&
                 (garbage || retryable(st, st->code ? 0 : resp->status)) &&
                 !s->stopping;
    char msg[sizeof st->msg + 32] = "";
    if (garbage)
        snprintf(msg, sizeof msg,
                 "HTTP %ld, but the body is not Grafana's JSON answer",
                 resp->status);
    else if (!ok)
        message_of(st, resp, msg, sizeof msg);
    count(s, op, ok ? "ok" : again ? "retry" : "failed");
    if (r->e) {
        /* A background retry. */
        struct entry *e = r->e;
        e->sending = false;
        if (e->superseded) {
            entry_free(e);
        } else if (ok || !again) {
            unlink_entry(s, e);
            if (ok)
                SMO_LOG_N(s->host, s->self,
                          "dashboard %s %s after %d "
                          "attempts",
                          e->uid, r->remove ? "removed" : "published",
                          e->attempts + 1);
            else
                SMO_LOG_E(s->host, s->self, "dashboard %s: giving up: %s",
                          e->uid, msg);
            s->host->event_emit(s->self,
                                ok ? (r->remove ? "monitor.dashboard_removed"
                                                : "monitor.dashboard_published")
                                   : "monitor.dashboard_failed",
                                NULL, NULL,
                                json_pack("{s:s, s:i, s:s?}", "uid", e->uid,
                                          "attempts", e->attempts + 1, "error",
                                          ok ? NULL : msg));
            entry_free(e);
        } else {
            e->attempts++;
            e->due = s->host->now_ms(s->self) + backoff(s, e->attempts);
            SMO_LOG_D(s->host, s->self, "dashboard %s: %s; retry %d", e->uid,
                      msg, e->attempts);
        }
        arm(s);
    } else {
        /* The engine's request: answered now, whatever happened. */
        char *url = link_of(s, r->uid);
        json_t *res = json_pack("{s:s, s:s?, s:b}", "uid", r->uid, "url", url,
                                r->remove ? "removed" : "published", ok);
        free(url);
        if (!ok) {
            json_object_set_new(res, "error", json_string(msg));
            json_object_set_new(res, "retrying", json_boolean(again));
            SMO_LOG_W(s->host, s->self, "dashboard %s: %s%s", r->uid, msg,
                      again ? "; retrying in the background" : "");
            s->host->event_emit(s->self, "monitor.dashboard_failed", NULL, NULL,
                                json_pack("{s:s, s:s, s:s, s:b}", "uid", r->uid,
                                          "op", op, "error", msg, "retrying",
                                          again));
            if (again)
                enqueue(s, r, 1);
        }
        smo_status okst;
        smo_status_clear(&okst);
        if (st->code == SMO_ECANCELED)
            smo_status_set(&okst, SMO_ECANCELED, "%s", st->msg);
        r->cb(r->arg, &okst, okst.code ? (json_decref(res), NULL) : res);
    }
    free(r->body);
    free(r);
    release(s);
}

static void failed_later(void *arg)
{
    struct req *r = arg;
    on_answer(r, &r->fail, NULL);
}

static void send_req(struct state *s, struct req *r)
{
    const struct cfg *c = s->cfg;
    size_t n = strlen(c->url);
    while (n && c->url[n - 1] == '/')
        n--;
    char *url = NULL;
    const char *body = r->body;
    if (r->e)
        body = r->e->body;
    if (r->remove) {
        if (asprintf(&url, "%.*s/api/dashboards/uid/%s", (int)n, c->url,
                     r->uid) < 0)
            url = NULL;
    } else if (asprintf(&url, "%.*s/api/dashboards/db", (int)n, c->url) < 0)
        url = NULL;
    const char *hdrs[] = {"Accept: application/json",
                          "Content-Type: application/json", NULL};
    struct smo_http_request req = {
        .size = sizeof req,
        .method = r->remove ? "DELETE" : "POST",
        .url = url,
        .headers = hdrs,
        .body = r->remove ? NULL : body,
        .body_len = r->remove || !body ? 0 : strlen(body),
        .timeout_ms = c->request_timeout_ms,
        .connect_timeout_ms = c->request_timeout_ms,
        .bearer_token = *c->token ? c->token : NULL,
        .basic_user = *c->basic_user ? c->basic_user : NULL,
        .basic_password = *c->basic_user ? c->basic_password : NULL,
        .ca_file = *c->ca_file ? c->ca_file : NULL,
        .insecure_skip_verify = c->insecure,
        .max_response_bytes = 1u << 20,
    };
    smo_status st;
    smo_status_clear(&st);
    s->inflight++;
    if (!url || !s->host->http_request(s->self, &req, on_answer, r, &st)) {
        /* Could not even start: the same path as a failed attempt, from
         * the loop so that the caller never gets its answer inside. */
        if (!st.code)
            smo_status_set(&st, SMO_ENOMEM, "out of memory");
        r->fail = st;
        if (s->host->defer(s->self, failed_later, r))
            on_answer(r, &r->fail, NULL);
    }
    free(url);
}

/* ------------------------------------------------------- operations -- */

static bool wanted(const struct cfg *c, const char *kind)
{
    return !kind || (!strcmp(kind, "graph") && c->graph) ||
           (!strcmp(kind, "service") && c->service) ||
           (!strcmp(kind, "cluster") && c->cluster);
}

static int publish(void *state, const json_t *spec, smo_monitor_cb cb,
                   void *arg, smo_status *st)
{
    struct state *s = state;
    if (s->stopping)
        return smo_status_set(st, SMO_EUNAVAIL, "stopping");
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    if (!wanted(s->cfg, kind))
        return smo_status_set(
            st, SMO_SKIP, "%s dashboards are off (dashboards.%s)", kind, kind);
    json_t *d = smo__graf_dashboard(spec, &s->opts, st);
    if (!d)
        return st->code;
    struct req *r = calloc(1, sizeof *r);
    r->s = s;
    snprintf(r->uid, sizeof r->uid, "%s",
             json_string_value(json_object_get(d, "uid")));
    json_t *body = json_pack("{s:o, s:b, s:s}", "dashboard", d, "overwrite", 1,
                             "message", "published by SMO");
    if (*s->cfg->folder_uid)
        json_object_set_new(body, "folderUid", json_string(s->cfg->folder_uid));
    r->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    r->cb = cb;
    r->arg = arg;
    supersede(s, r->uid);
    send_req(s, r);
    return 0;
}

static int remove_dash(void *state, const char *uid, smo_monitor_cb cb,
                       void *arg, smo_status *st)
{
    struct state *s = state;
    if (s->stopping)
        return smo_status_set(st, SMO_EUNAVAIL, "stopping");
    size_t n = uid ? strlen(uid) : 0;
    if (!n || n > SMO__GRAF_UID_MAX ||
        strspn(uid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789-_") != n)
        return smo_status_set(st, SMO_EINVAL, "\"%s\" is not a dashboard uid",
                              uid ? uid : "");
    struct req *r = calloc(1, sizeof *r);
    r->s = s;
    memcpy(r->uid, uid, n + 1);
    r->remove = true;
    r->cb = cb;
    r->arg = arg;
    supersede(s, r->uid);
    send_req(s, r);
    return 0;
}

/* -------------------------------------------------------- lifecycle -- */

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfg, void **out, smo_status *st)
{
    (void)st;
    struct state *s = calloc(1, sizeof *s);
    s->host = host;
    s->self = self;
    s->cfg = cfg;
    s->opts.datasource_uid = s->cfg->datasource_uid;
    s->opts.datasource_type = s->cfg->datasource_type;
    s->opts.refresh = s->cfg->refresh;
    s->opts.cluster_label = s->cfg->cluster_label;
    static const char *const l_req[] = {"monitor", "op", "result", NULL};
    static const char *const l_pend[] = {"monitor", NULL};
    s->m_req = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_monitor_dashboard_requests_total",
        "Grafana dashboard publications and removals by result (ok, retry, "
        "failed).",
        l_req);
    s->m_pending = host->metric_register(
        self, SMO_METRIC_GAUGE, "smo_monitor_dashboards_pending",
        "Dashboard publications or removals waiting for Grafana.", l_pend);
    *out = s;
    return 0;
}

static void stop(void *state, smo_done_cb done, void *arg)
{
    struct state *s = state;
    s->stopping = true;
    if (s->timer) {
        s->host->timer_stop(s->timer);
        s->timer = NULL;
    }
    size_t n = 0;
    for (struct entry *e = s->queue; e; e = e->next)
        n += !e->sending;
    if (n)
        SMO_LOG_W(s->host, s->self,
                  "%zu dashboard change%s still waiting for Grafana are "
                  "dropped; the next deploy or start publishes again",
                  n, n == 1 ? "" : "s");
    if (!s->inflight) {
        done(arg);
        return;
    }
    s->stop_done = done;
    s->stop_arg = arg;
}

static void destroy(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    while (s->queue) {
        struct entry *e = s->queue;
        s->queue = e->next;
        entry_free(e);
    }
    free(s);
}

static const struct smo_monitor_ops ops = {
    .size = sizeof(struct smo_monitor_ops),
    .dashboard_publish = publish,
    .dashboard_remove = remove_dash,
};

SMO_PLUGIN_DEFINE(SMO_KIND_MONITOR, "grafana", "1.0.0",
                  "Grafana: graph, service and cluster dashboards generated "
                  "from the descriptor; publication retried while Grafana is "
                  "down.",
                  fields, struct cfg, validate, create, NULL, NULL, stop,
                  destroy, &ops);
