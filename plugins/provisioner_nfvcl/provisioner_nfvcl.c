/* provisioner_nfvcl: VIMs and OpenStack Kubernetes clusters through an
 * NFVCL (https://nextworks-it.github.io/nfvcl-ng/), with the calls of the
 * original SMO (docs/provisioning.md) and without its bugs: absolute URLs
 * everywhere, timeouts, retries with backoff for idempotent requests only,
 * blueprint ids checked before they reach a URL, every answer type-checked.
 *
 * VIM passwords pass through: they are put in the request body and nowhere
 * else. Bodies are never logged, answers are scrubbed of password members,
 * and an error message that would echo the password has it masked. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <smo/smo.h>

#include "nfvcl.h"

/* ------------------------------------------------------------ config -- */

struct ncfg {
    const char *url;
    const char *bearer_token;
    const char *ca_file;
    bool insecure;
    int64_t request_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t retry_attempts;
    int64_t retry_backoff_ms;
    int64_t retry_max_backoff_ms;
    const char *topology;
    int64_t service_ips;
    int64_t max_workers;
};

#define OFF(m) offsetof(struct ncfg, m)
static const struct smo_config_field retry_fields[] = {
    {"attempts", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "3", 1, 10, NULL, NULL,
     OFF(retry_attempts),
     "tries of an idempotent request (GET, DELETE) that failed with 5xx, a "
     "timeout or a refused connection; a POST is retried only when the "
     "connection was refused (1: no retry)"},
    {"backoff", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "500ms", 1, 60000,
     NULL, NULL, OFF(retry_backoff_ms),
     "wait before the second try; doubled for each further one"},
    {"max_backoff", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 1,
     600000, NULL, NULL, OFF(retry_max_backoff_ms),
     "longest wait between two tries"},
    {0}};

static const struct smo_config_field fields[] = {
    {"url", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL, OFF(url),
     "NFVCL base URL (http://192.168.12.64:5002), the original's "
     "NFVCL_BASE_URL"},
    {"bearer_token", SMO_CFG_STRING, SMO_CFG_SECRET, "", 0, 0, NULL, NULL,
     OFF(bearer_token),
     "bearer token, when the NFVCL sits behind a proxy "
     "that wants one"},
    {"ca_file", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, OFF(ca_file),
     "PEM bundle to verify an https NFVCL"},
    {"insecure_skip_verify", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     OFF(insecure), "do not verify the NFVCL's certificate"},
    {"request_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s", 100,
     600000, NULL, NULL, OFF(request_timeout_ms),
     "bound of one request (the original had none)"},
    {"connect_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100,
     600000, NULL, NULL, OFF(connect_timeout_ms),
     "bound of connecting to the NFVCL"},
    {"retry", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, retry_fields,
     SMO_CFG_NO_OFFSET, "retries"},
    {"topology", SMO_CFG_STRING, 0, "topology", 0, 0, NULL, NULL, OFF(topology),
     "topology id sent when a VIM registration names none"},
    {"service_net_ips", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "20", 1, 65536,
     NULL, NULL, OFF(service_ips),
     "service_net_required_ip_number of a new cluster"},
    {"max_workers", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "20", 1, 1000, NULL,
     NULL, OFF(max_workers),
     "most workers one create or scale-out request may ask for"},
    {0}};
#undef OFF

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct ncfg *c = cfgp;
    if (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))
        return smo_status_set(st, SMO_EINVAL, "url: an http(s) URL, not \"%s\"",
                              c->url);
    if (strpbrk(c->url, "?# \t\r\n"))
        return smo_status_set(st, SMO_EINVAL,
                              "url: a base URL without query, fragment or "
                              "spaces");
    if (!*c->topology || strpbrk(c->topology, "/?# "))
        return smo_status_set(st, SMO_EINVAL, "topology: an id");
    return 0;
}

/* ------------------------------------------------------------- state -- */

enum what {
    W_VIM_LIST = 1,
    W_VIM_REGISTER,
    W_VIM_DELETE,
    W_BLUE_CREATE,
    W_BLUE_ADD,
    W_BLUE_DELETE,
    W_BLUE_LIST
};

struct nreq;

struct nstate {
    const struct smo_host *host;
    smo_instance *self;
    const struct ncfg *cfg;
    char *base; /* url without trailing '/' */
    struct nreq *reqs;
    size_t n;
    bool stopping;
    smo_done_cb stop_done;
    void *stop_arg;
    smo_metric *m_req;
};

struct nreq {
    struct nstate *s;
    int what;
    const char *call; /* "vim_list"... (metrics, logs) */
    char *method, *path, *body;
    char *secret; /* masked in messages */
    bool idempotent;
    int attempt;
    json_t *ctx; /* what the result is built from */
    smo_prov_cb cb;
    void *arg;
    smo_http_call *http;
    smo_timer *timer;
    int dcode;
    char dmsg[512];
    struct nreq *next;
};

static void send_req(struct nreq *r);

static void wipe_free(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

static void req_free(struct nreq *r)
{
    free(r->method);
    free(r->path);
    wipe_free(r->body);
    wipe_free(r->secret);
    json_decref(r->ctx);
    free(r);
}

static void maybe_stopped(struct nstate *s)
{
    if (!s->stop_done || s->n)
        return;
    smo_done_cb d = s->stop_done;
    s->stop_done = NULL;
    d(s->stop_arg);
}

/* Replace every occurrence of the secret by "***" (in place, bounded). */
static void mask(char *msg, size_t n, const char *secret)
{
    if (!secret || !*secret)
        return;
    size_t sl = strlen(secret);
    for (int guard = 0; guard < 64; guard++) {
        char *p = strstr(msg, secret);
        if (!p)
            break;
        size_t tail = strlen(p + sl);
        if (sl >= 3) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + sl, tail + 1);
        } else
            memset(p, '*', sl);
    }
    (void)n;
}

static void finish(struct nreq *r, const smo_status *st, json_t *result)
{
    struct nstate *s = r->s;
    for (struct nreq **pp = &s->reqs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    s->n--;
    r->cb(r->arg, st, result);
    req_free(r);
    maybe_stopped(s);
}

static void fail(struct nreq *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct nreq *r, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smo_status st;
    smo_status_clear(&st);
    smo_status_set(&st, code, "NFVCL %s %s: %s", r->method, r->path, msg);
    mask(st.msg, sizeof st.msg, r->secret);
    smo_status_where(&st, r->s->host->instance_name(r->s->self));
    SMO_LOG_W(r->s->host, r->s->self, "%s", st.msg);
    finish(r, &st, NULL);
}

static void count(struct nreq *r, const char *code)
{
    struct nstate *s = r->s;
    if (!s->m_req)
        return;
    const char *lv[] = {s->host->instance_name(s->self), r->call, code, NULL};
    s->host->metric_add(s->m_req, lv, 1);
}

static void retry_fired(void *arg)
{
    struct nreq *r = arg;
    r->timer = NULL;
    r->attempt++;
    send_req(r);
}

static bool retry(struct nreq *r)
{
    struct nstate *s = r->s;
    if (s->stopping || r->attempt >= s->cfg->retry_attempts)
        return false;
    int64_t delay = s->cfg->retry_backoff_ms;
    for (int i = 1; i < r->attempt && delay < s->cfg->retry_max_backoff_ms; i++)
        delay *= 2;
    if (delay > s->cfg->retry_max_backoff_ms)
        delay = s->cfg->retry_max_backoff_ms;
    SMO_LOG_I(s->host, s->self, "NFVCL %s %s: try %d of %d in %lld ms",
              r->method, r->path, r->attempt + 1, (int)s->cfg->retry_attempts,
              (long long)delay);
    r->timer =
        s->host->timer_start(s->self, (uint64_t)delay, 0, retry_fired, r);
    return r->timer != NULL;
}

/* The NFVCL's own words about a failure: FastAPI's {"detail": "..."} or
 * {"detail": [{"msg": ...}]} (never its "input" echo), else the start of
 * the body, on one line. */
static void nfvcl_message(const struct smo_http_response *resp, char *out,
                          size_t n)
{
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *d = json_object_get(j, "detail");
    if (!d)
        d = json_object_get(j, "message");
    if (json_is_string(d))
        snprintf(out, n, "%s", json_string_value(d));
    else if (json_is_array(d)) {
        size_t i, o = 0;
        json_t *x;
        out[0] = '\0';
        json_array_foreach(d, i, x)
        {
            const char *m = json_string_value(json_object_get(x, "msg"));
            if (m && o + 1 < n)
                o += (size_t)snprintf(out + o, n - o, "%s%s", o ? "; " : "", m);
            if (o >= n)
                break;
        }
        if (!out[0])
            snprintf(out, n, "(no message)");
    } else
        snprintf(out, n, "%.200s", resp->body_len ? resp->body : "(no body)");
    json_decref(j);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
}

/* A 2xx answer whose body is optional: JSON (scrubbed) or null. */
static json_t *answer_json(const struct smo_http_response *resp)
{
    json_t *j = resp->body_len ? json_loadb(resp->body, resp->body_len,
                                            JSON_DECODE_ANY, NULL)
                               : NULL;
    smo__nfvcl_scrub(j);
    return j ? j : json_null();
}

static void on_ok(struct nreq *r, const struct smo_http_response *resp)
{
    struct nstate *s = r->s;
    char err[300] = "";
    json_t *result = NULL;
    size_t skipped = 0;
    switch (r->what) {
    case W_VIM_LIST:
        if (smo__nfvcl_parse_topology(resp->body, resp->body_len, &result,
                                      &skipped, err, sizeof err)) {
            fail(r, SMO_EPROTO, "%s", err);
            return;
        }
        if (skipped)
            SMO_LOG_W(s->host, s->self,
                      "NFVCL topology: %zu VIM%s without a DNS-1123 name "
                      "ignored",
                      skipped, skipped == 1 ? "" : "s");
        break;
    case W_BLUE_LIST:
        if (smo__nfvcl_parse_blue_list(resp->body, resp->body_len, &result,
                                       &skipped, err, sizeof err)) {
            fail(r, SMO_EPROTO, "%s", err);
            return;
        }
        if (skipped)
            SMO_LOG_I(s->host, s->self,
                      "NFVCL blueprints: %zu not Kubernetes or without a "
                      "valid id, ignored",
                      skipped);
        break;
    case W_BLUE_CREATE: {
        char id[SMO__NFVCL_ID_MAX + 1];
        if (smo__nfvcl_parse_blue_id(resp->body, resp->body_len, id, sizeof id,
                                     err, sizeof err)) {
            fail(r, SMO_EPROTO, "%s", err);
            return;
        }
        result = json_deep_copy(r->ctx);
        json_object_set_new(result, "id", json_string(id));
        json_object_set_new(result, "response", answer_json(resp));
        break;
    }
    default:
        result = json_deep_copy(r->ctx);
        json_object_set_new(result, "response", answer_json(resp));
        break;
    }
    smo_status ok;
    smo_status_clear(&ok);
    finish(r, &ok, result);
}

static void on_response(void *arg, const smo_status *st,
                        const struct smo_http_response *resp)
{
    struct nreq *r = arg;
    struct nstate *s = r->s;
    r->http = NULL;
    if (st->code) {
        count(r, smo_err_name(st->code));
        /* A refused connection sent nothing: any request may try again. */
        bool again = st->code == SMO_EUNAVAIL ||
                     (st->code == SMO_ETIMEDOUT && r->idempotent);
        if (again && retry(r))
            return;
        fail(r, st->code == SMO_ECANCELED ? SMO_ECANCELED : st->code, "%s%s",
             st->msg, r->attempt > 1 ? " (every try failed)" : "");
        return;
    }
    char code[16];
    snprintf(code, sizeof code, "%ld", resp->status);
    count(r, code);
    long http = resp->status;
    SMO_LOG_D(s->host, s->self, "NFVCL %s %s: %ld in %.0f ms", r->method,
              r->path, http, resp->elapsed_ms);
    if (http >= 200 && http < 300) {
        on_ok(r, resp);
        return;
    }
    char msg[300];
    nfvcl_message(resp, msg, sizeof msg);
    if (http >= 500 && r->idempotent && retry(r))
        return;
    int ec = http == 404                  ? SMO_ENOENT
             : http == 409                ? SMO_EEXIST
             : http == 401                ? SMO_EAUTH
             : http == 403                ? SMO_EACCES
             : http == 400 || http == 422 ? SMO_EINVAL
             : http >= 500                ? SMO_EUNAVAIL
                                          : SMO_EPROTO;
    fail(r, ec, "%ld: %s%s", http, msg,
         http >= 500 && r->attempt > 1 ? " (every try failed)" : "");
}

static void deferred_fail(void *arg)
{
    struct nreq *r = arg;
    fail(r, r->dcode, "%s", r->dmsg);
}

static void send_req(struct nreq *r)
{
    struct nstate *s = r->s;
    const struct ncfg *c = s->cfg;
    char *url = NULL;
    if (asprintf(&url, "%s%s", s->base, r->path) < 0)
        url = NULL;
    const char *headers[] = {"Accept: application/json",
                             "Content-Type: application/json",
                             "User-Agent: smod-provisioner-nfvcl/1.0", NULL};
    struct smo_http_request q;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.method = r->method;
    q.url = url;
    q.headers =
        r->body ? headers : (const char *const[]){headers[0], headers[2], NULL};
    q.body = r->body;
    q.body_len = r->body ? strlen(r->body) : 0;
    q.timeout_ms = c->request_timeout_ms;
    q.connect_timeout_ms = c->connect_timeout_ms;
    q.bearer_token = *c->bearer_token ? c->bearer_token : NULL;
    q.ca_file = *c->ca_file ? c->ca_file : NULL;
    q.insecure_skip_verify = c->insecure;
    q.max_response_bytes = 16u << 20;
    smo_status st;
    smo_status_clear(&st);
    r->http =
        url ? s->host->http_request(s->self, &q, on_response, r, &st) : NULL;
    free(url);
    if (!r->http) {
        /* Never answer inside the caller's call. */
        r->dcode = st.code ? st.code : SMO_ENOMEM;
        snprintf(r->dmsg, sizeof r->dmsg, "%s",
                 st.msg[0] ? st.msg : "cannot send the request");
        if (s->host->defer(s->self, deferred_fail, r))
            fail(r, r->dcode, "%s", r->dmsg);
    }
}

/* Start a request; `body` and `ctx` are stolen. */
static int request(struct nstate *s, int what, const char *call,
                   const char *method, const char *path, json_t *body,
                   const char *secret, json_t *ctx, smo_prov_cb cb, void *arg,
                   smo_status *st)
{
    if (s->stopping) {
        json_decref(body);
        json_decref(ctx);
        return smo_status_set(st, SMO_ECANCELED, "the provisioner is stopping");
    }
    struct nreq *r = calloc(1, sizeof *r);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!r || (body && !text)) {
        free(r);
        wipe_free(text);
        json_decref(ctx);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    r->s = s;
    r->what = what;
    r->call = call;
    r->method = strdup(method);
    r->path = strdup(path);
    r->body = text;
    r->secret = secret ? strdup(secret) : NULL;
    r->idempotent = !strcmp(method, "GET") || !strcmp(method, "DELETE");
    r->attempt = 1;
    r->ctx = ctx ? ctx : json_object();
    r->cb = cb;
    r->arg = arg;
    r->next = s->reqs;
    s->reqs = r;
    s->n++;
    SMO_LOG_I(s->host, s->self, "NFVCL %s %s", method, path);
    send_req(r);
    return 0;
}

/* -------------------------------------------------------- operations -- */

static int op_vim_list(void *state, smo_prov_cb cb, void *arg, smo_status *st)
{
    return request(state, W_VIM_LIST, "vim_list", "GET", "/v1/topology/", NULL,
                   NULL, NULL, cb, arg, st);
}

static int op_vim_register(void *state, const json_t *req, smo_prov_cb cb,
                           void *arg, smo_status *st)
{
    struct nstate *s = state;
    json_t *body = NULL, *vim = NULL;
    char err[480];
    if (smo__nfvcl_topology_body(req, s->cfg->topology, &body, &vim, err,
                                 sizeof err))
        return smo_status_set(st, SMO_EINVAL, "%s", err);
    const char *pw = json_string_value(json_object_get(req, "vim_password"));
    return request(s, W_VIM_REGISTER, "vim_register", "POST", "/v1/topology",
                   body, pw, json_pack("{s:o}", "vim", vim), cb, arg, st);
}

static int op_vim_delete(void *state, const char *name, smo_prov_cb cb,
                         void *arg, smo_status *st)
{
    if (!smo__nfvcl_name_ok(name))
        return smo_status_set(st, SMO_EINVAL,
                              "VIM name \"%.64s\" is not a DNS-1123 label",
                              name ? name : "");
    char path[128];
    snprintf(path, sizeof path, "/v1/topology/vim/%s", name);
    return request(state, W_VIM_DELETE, "vim_delete", "DELETE", path, NULL,
                   NULL, json_pack("{s:s}", "name", name), cb, arg, st);
}

/* Area, networks and worker count of a create or scale-out request. */
static int cluster_args(struct nstate *s, const json_t *req, int64_t *area,
                        const char **mgmt, const char **svc, int64_t *workers,
                        smo_status *st)
{
    if (!smo__nfvcl_area(json_object_get(req, "area"), area))
        return smo_status_set(st, SMO_EINVAL, "area: a non-negative integer");
    *mgmt = json_string_value(json_object_get(req, "mgmt_network"));
    *svc = json_string_value(json_object_get(req, "service_network"));
    if (!*mgmt || !**mgmt || strlen(*mgmt) > 255)
        return smo_status_set(st, SMO_EINVAL, "mgmt_network: required");
    if (*svc && (!**svc || strlen(*svc) > 255))
        return smo_status_set(st, SMO_EINVAL, "service_network: a name");
    json_t *w = json_object_get(req, "workers");
    *workers = w ? json_integer_value(w) : 1;
    if ((w && !json_is_integer(w)) || *workers < 1 ||
        *workers > s->cfg->max_workers)
        return smo_status_set(st, SMO_EINVAL,
                              "workers: an integer from 1 to %lld",
                              (long long)s->cfg->max_workers);
    return 0;
}

static int op_cluster_create(void *state, const json_t *req, smo_prov_cb cb,
                             void *arg, smo_status *st)
{
    struct nstate *s = state;
    int64_t area, workers;
    const char *mgmt, *svc;
    if (cluster_args(s, req, &area, &mgmt, &svc, &workers, st))
        return st->code;
    json_t *body =
        smo__nfvcl_k8s_body(area, mgmt, svc, workers, s->cfg->service_ips);
    json_t *ctx =
        json_pack("{s:I, s:s?, s:s, s:s?, s:I, s:s}", "area", (json_int_t)area,
                  "vim", json_string_value(json_object_get(req, "vim")),
                  "mgmt_network", mgmt, "service_network", svc, "workers",
                  (json_int_t)workers, "state", "creating");
    return request(s, W_BLUE_CREATE, "cluster_create", "POST",
                   "/nfvcl/v2/api/blue/k8s", body, NULL, ctx, cb, arg, st);
}

static int op_cluster_scale_out(void *state, const char *id, const json_t *req,
                                smo_prov_cb cb, void *arg, smo_status *st)
{
    struct nstate *s = state;
    if (!smo__nfvcl_id_ok(id))
        return smo_status_set(st, SMO_EINVAL, "invalid blueprint id \"%.64s\"",
                              id ? id : "");
    int64_t area, workers;
    const char *mgmt, *svc;
    if (cluster_args(s, req, &area, &mgmt, &svc, &workers, st))
        return st->code;
    char path[160];
    snprintf(path, sizeof path, "/nfvcl/v2/api/blue/k8s/add_node?blue_id=%s",
             id);
    return request(
        s, W_BLUE_ADD, "cluster_scale_out", "POST", path,
        smo__nfvcl_add_node_body(area, mgmt, svc, workers), NULL,
        json_pack("{s:s, s:I}", "id", id, "workers_added", (json_int_t)workers),
        cb, arg, st);
}

static int op_cluster_delete(void *state, const char *id, smo_prov_cb cb,
                             void *arg, smo_status *st)
{
    if (!smo__nfvcl_id_ok(id))
        return smo_status_set(st, SMO_EINVAL, "invalid blueprint id \"%.64s\"",
                              id ? id : "");
    char path[128];
    snprintf(path, sizeof path, "/nfvcl/v2/api/blue/%s", id);
    return request(state, W_BLUE_DELETE, "cluster_delete", "DELETE", path, NULL,
                   NULL, json_pack("{s:s}", "id", id), cb, arg, st);
}

static int op_cluster_list(void *state, smo_prov_cb cb, void *arg,
                           smo_status *st)
{
    return request(state, W_BLUE_LIST, "cluster_list", "GET",
                   "/nfvcl/v2/api/blue/?detailed=true", NULL, NULL, NULL, cb,
                   arg, st);
}

/* --------------------------------------------------------- lifecycle -- */

static void destroy(void *state)
{
    struct nstate *s = state;
    if (!s)
        return;
    /* After stop the core completed every request; anything left here
     * never gets a callback. */
    while (s->reqs) {
        struct nreq *r = s->reqs;
        s->reqs = r->next;
        req_free(r);
    }
    free(s->base);
    free(s);
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct ncfg *c = cfgp;
    struct nstate *s = calloc(1, sizeof *s);
    if (!s || !(s->base = strdup(c->url))) {
        free(s);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    s->host = host;
    s->self = self;
    s->cfg = c;
    for (size_t n = strlen(s->base); n && s->base[n - 1] == '/'; n--)
        s->base[n - 1] = '\0';
    static const char *const labels[] = {"provisioner", "call", "code", NULL};
    s->m_req = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_provisioner_nfvcl_requests_total",
        "NFVCL requests by call and answer (HTTP status or error).", labels);
    SMO_LOG_I(host, self, "NFVCL at %s", s->base);
    *out = s;
    return 0;
}

/* Drain: requests on the wire finish; retries waiting for their backoff
 * end now as canceled. */
static void stop(void *state, smo_done_cb done, void *arg)
{
    struct nstate *s = state;
    s->stopping = true;
    s->stop_done = done;
    s->stop_arg = arg;
    for (int guard = 0; guard < 100000; guard++) {
        struct nreq *r = s->reqs;
        while (r && !r->timer)
            r = r->next;
        if (!r)
            break;
        s->host->timer_stop(r->timer);
        r->timer = NULL;
        fail(r, SMO_ECANCELED, "canceled: the provisioner is stopping");
    }
    maybe_stopped(s);
}

static const struct smo_provisioner_ops ops = {
    .size = sizeof(struct smo_provisioner_ops),
    .vim_list = op_vim_list,
    .vim_register = op_vim_register,
    .vim_delete = op_vim_delete,
    .cluster_create = op_cluster_create,
    .cluster_scale_out = op_cluster_scale_out,
    .cluster_delete = op_cluster_delete,
    .cluster_list = op_cluster_list,
};

SMO_PLUGIN_DEFINE(SMO_KIND_PROVISIONER, "nfvcl", "1.0.0",
                  "NFVCL: OpenStack VIMs and Kubernetes clusters (blueprints) "
                  "created, scaled out and deleted on demand.",
                  fields, struct ncfg, validate, create, NULL, NULL, stop,
                  destroy, &ops);
