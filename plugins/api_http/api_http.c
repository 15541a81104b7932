/* api_http: SMO's REST API on h2o (the libuv build, on the core's loop).
 *
 * Routes (routes.c) map onto core methods called with host->call; this
 * plugin holds no orchestration logic. Errors are application/problem+json
 * with the status their code maps to. Bearer tokens carry roles (read,
 * alerts, admin); without tokens only a loopback address may be used.
 * Requests are bounded in body size and time; a response is only written
 * while its request is alive (a client that left is simply not answered). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http2.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <smo/smo.h>
#include <uv.h>

#include "alerts.h"
#include "routes.h"

extern const char smo__api_openapi_json[];
extern const size_t smo__api_openapi_json_len;
extern const char smo__api_docs_html[];
extern const size_t smo__api_docs_html_len;
extern const char smo__api_ui_html[];
extern const size_t smo__api_ui_html_len;

struct cfg {
    const char *listen;
    const json_t *tokens;
    uint64_t max_body;
    int64_t request_timeout_ms;
    int64_t max_wait_ms;
    const char *tls_cert;
    const char *tls_key;
    int64_t backlog;
    uint64_t max_headers;
};

struct token {
    char *name;
    char *secret;
    int role;
};

struct state;

struct conn {
    uv_tcp_t tcp; /* first: h2o hands the handle back on close */
    struct state *s;
};

struct handler {
    h2o_handler_t super;
    struct state *s;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
    uv_loop_t *loop;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    bool ctx_ready;
    uv_tcp_t listener;
    bool listening;
    uv_timer_t reaper;
    SSL_CTX *ssl;
    struct token *tokens;
    size_t n_tokens;
    bool loopback;
    char url[160];
    size_t open_sockets, inflight;
    bool stopping, destroyed;
    smo_done_cb done;
    void *done_arg;
    smo_metric *m_req, *m_dur, *m_joined;
    /* Serialised answers of graph reads by request target:
     * {"etag": tag, "body": text}. The engine says whether a tag is still
     * current, so a hot read costs no copy and no serialisation. */
    json_t *bodies;
    /* Graph reads sent to the engine and not answered yet: a read of the
     * same target that arrives meanwhile waits on it (below). */
    struct pending *flights;
    /* Answers to other requests (writes among them) sent so far: a read
     * joins one in flight only when none was sent since that one left,
     * so that a client never reads older state than an answer it got. */
    uint64_t acks;
};

struct link;

struct pending {
    struct state *s;
    h2o_req_t *req; /* NULL once the client went away */
    struct link *link;
    const struct api_route *route;
    uint64_t t0;
    json_t *alerts; /* K_ALERTS: one call per alert */
    size_t alert_i;
    json_t *alert_results;
    json_t *alert_wait; /* ?wait for each alert's operation, or NULL */
    bool cacheable;     /* a graph read whose body may be kept */
    /* A graph read in s->flights: its target, and the reads of the same
     * target that wait for its answer (each answered from the body it
     * leaves kept). Why: 64 clients asking for a list of 100 graphs at
     * once on a cold cache made the engine copy its answer for each
     * (64 copies of a 1 MB document tree, a quarter of a second of the
     * loop); the answer is now serialised once and sent to all. */
    char *flight_key;
    uint64_t acks; /* s->acks when it was sent */
    struct pending *next_flight, *waiters, *next_waiter;
    /* Kept bodies ({"etag", "body"}): the one held when the read was sent
     * (its tag went to the engine), and the one the answer was sent
     * from. */
    json_t *kept, *served;
};

struct link {
    struct pending *p;
};

/* ----------------------------------------------------------- config -- */

static const char *const roles[] = {"read", "alerts", "admin", NULL};

static const struct smo_config_field token_fields[] = {
    {"name", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "who holds the token (shown in logs)"},
    {"token", SMO_CFG_STRING, SMO_CFG_SECRET, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "the token itself (at least 16 characters)"},
    {"token_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "a file holding the token (instead of token)"},
    {"role", SMO_CFG_ENUM, SMO_CFG_REQUIRED, NULL, 0, 0, roles, NULL,
     SMO_CFG_NO_OFFSET,
     "read: GET routes; alerts: POST /alerts; admin: everything"},
    {0}};
static const struct smo_config_field token_elem[] = {
    {NULL, SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, token_fields, SMO_CFG_NO_OFFSET,
     "a bearer token"},
    {0}};
static const struct smo_config_field tls_fields[] = {
    {"cert_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     offsetof(struct cfg, tls_cert), "PEM certificate chain"},
    {"key_file", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL,
     offsetof(struct cfg, tls_key), "PEM private key"},
    {0}};

#define OFF(m) offsetof(struct cfg, m)
static const struct smo_config_field fields[] = {
    {"listen", SMO_CFG_STRING, 0, "127.0.0.1:8000", 0, 0, NULL, NULL,
     OFF(listen), "address:port (IPv6 as [::1]:8000)"},
    {"tokens", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, token_elem, OFF(tokens),
     "bearer tokens; none: no authentication (loopback addresses only)"},
    {"max_body", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "16Mi", 1024,
     1073741824.0, NULL, NULL, OFF(max_body), "largest request body"},
    {"request_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100,
     600000, NULL, NULL, OFF(request_timeout_ms),
     "a request must arrive whole within this time (slow clients are "
     "dropped)"},
    {"max_wait", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10m", 0, 3600000,
     NULL, NULL, OFF(max_wait_ms), "upper bound of ?wait=SECONDS"},
    {"tls", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, tls_fields, SMO_CFG_NO_OFFSET,
     "serve HTTPS with this certificate"},
    {"backlog", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "511", 1, 65535, NULL,
     NULL, OFF(backlog), "listen backlog"},
    {"max_headers", SMO_CFG_SIZE, SMO_CFG_MIN | SMO_CFG_MAX, "32Ki", 1024,
     1048576, NULL, NULL, OFF(max_headers),
     "largest total size of a request's header fields (431 beyond)"},
    {0}};
#undef OFF

static int parse_listen(const char *listen, struct sockaddr_storage *ss,
                        socklen_t *len, bool *loopback, smo_status *st)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1])
        return smo_status_set(st, SMO_EINVAL,
                              "listen: expected address:port, found \"%s\"",
                              listen);
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return smo_status_set(st, SMO_EINVAL, "listen: address too long");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return smo_status_set(st, SMO_EINVAL, "listen: invalid port \"%s\"",
                              colon + 1);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else
        return smo_status_set(st, SMO_EINVAL,
                              "listen: \"%s\" is not an IP address", host);
    return 0;
}

static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct cfg *c = cfgp;
    struct sockaddr_storage ss;
    socklen_t len;
    bool loop;
    if (parse_listen(c->listen, &ss, &len, &loop, st))
        return st->code;
    size_t i;
    json_t *t;
    json_array_foreach(c->tokens, i, t)
    {
        bool has_token = json_object_get(t, "token") != NULL;
        bool has_file = json_object_get(t, "token_file") != NULL;
        if (has_token == has_file)
            return smo_status_set(st, SMO_EINVAL,
                                  "tokens[%zu]: give exactly one of token and "
                                  "token_file",
                                  i);
        if (has_token && json_string_length(json_object_get(t, "token")) < 16)
            return smo_status_set(
                st, SMO_EINVAL, "tokens[%zu].token: at least 16 characters", i);
    }
    if (!loop && json_array_size(c->tokens) == 0)
        return smo_status_set(st, SMO_EINVAL,
                              "listen: %s is not a loopback address: "
                              "configure tokens before serving beyond this "
                              "machine",
                              c->listen);
    if (!c->tls_cert != !c->tls_key)
        return smo_status_set(st, SMO_EINVAL,
                              "tls: give both cert_file and key_file");
    return 0;
}

/* ----------------------------------------------------------- helpers -- */

static int http_status(int code)
{
    switch (code) {
    case SMO_EINVAL:
    case SMO_ECONFIG:
        return 400;
    case SMO_EAUTH:
        return 401;
    case SMO_EPERM:
    case SMO_EACCES:
        return 403;
    case SMO_ENOENT:
    case SMO_ENOSYS:
        return 404;
    case SMO_EEXIST:
    case SMO_ECONFLICT:
    case SMO_ESTATE:
        return 409;
    case SMO_ETOOBIG:
        return 413;
    case SMO_EINFEASIBLE:
        return 422;
    case SMO_EUNAVAIL:
    case SMO_ECANCELED:
    case SMO_EBUSY:
        return 503;
    case SMO_EEXTERNAL:
        return 502; /* an upstream or tool failed, not SMO itself */
    case SMO_ETIMEDOUT:
        return 504;
    default:
        return 500;
    }
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Internal Server Error";
    }
}

/* dst = the first len bytes of src, cut to fit n (as snprintf "%.*s",
 * which glibc formats on its slow path: this runs several times per
 * request). */
static void copy_text(char *dst, size_t n, const char *src, size_t len)
{
    if (!n)
        return;
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* What a request's metrics need. */
struct obs {
    struct state *s;
    const char *route;
    const char *method;
    uint64_t t0;
};

static void observe(struct obs *x, int status)
{
    char code[8] = "000";
    if (status >= 100 && status <= 999) {
        code[0] = (char)('0' + status / 100);
        code[1] = (char)('0' + status / 10 % 10);
        code[2] = (char)('0' + status % 10);
    } else
        snprintf(code, sizeof code, "%d", status);
    const char *lv[] = {x->route, x->method, code, NULL};
    x->s->host->metric_add(x->s->m_req, lv, 1);
    const char *lr[] = {x->route, NULL};
    x->s->host->metric_observe(
        x->s->m_dur, lr,
        (double)(x->s->host->now_ms(x->s->self) - x->t0) / 1000.0);
}

static void body_headers(h2o_req_t *req, int status, const char *ctype,
                         size_t len, const char *location)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   ctype, strlen(ctype));
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    if (location) {
        char *loc = h2o_mem_alloc_pool(&req->pool, strlen(location) + 1);
        memcpy(loc, location, strlen(location) + 1);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                       loc, strlen(loc));
    }
    /* A known length: no chunked encoding, and h2o keeps the connection
     * alive after an error answer instead of closing it. */
    req->res.content_length = len;
}

static void send_body(h2o_req_t *req, int status, const char *ctype,
                      const char *body, size_t len, const char *location)
{
    body_headers(req, status, ctype, len, location);
    /* h2o_send_inline copies the body into the request's pool. */
    h2o_send_inline(req, body, len);
}

/* A kept body (a JSON string) sent without copying it: the request holds
 * a reference until h2o is done with it (its pool is cleared after the
 * write), so a later cache change cannot free it under the socket. Half
 * of the CPU a cached list read cost in smod was copying its 99 KB. */
struct kept_ref {
    json_t *body;
};

static void kept_dispose(void *p)
{
    json_decref(((struct kept_ref *)p)->body);
}

static void send_kept(h2o_req_t *req, json_t *body)
{
    static h2o_generator_t generator = {NULL, NULL};
    size_t len = json_string_length(body);
    body_headers(req, 200, "application/json", len, NULL);
    struct kept_ref *ref =
        h2o_mem_alloc_shared(&req->pool, sizeof *ref, kept_dispose);
    ref->body = json_incref(body);
    h2o_iovec_t buf = h2o_iovec_init(json_string_value(body), len);
    h2o_start_response(req, &generator);
    if (h2o_memis(req->input.method.base, req->input.method.len,
                  H2O_STRLIT("HEAD")))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static void send_json(h2o_req_t *req, int status, json_t *body,
                      const char *location)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    send_body(req, status, "application/json", text ? text : "null",
              text ? strlen(text) : 4, location);
    free(text);
    json_decref(body);
}

/* RFC 9457 problem details; `extra` (stolen) adds members (errors...). */
static void send_problem(h2o_req_t *req, int status, const char *detail,
                         json_t *extra)
{
    /* The detail is often the core's message, cut to its buffer maybe
     * inside a character: jansson refuses that, leaving nothing to send. */
    json_t *p =
        json_pack("{s:s, s:s, s:i, s:o}", "type", "about:blank", "title",
                  reason_of(status), "status", status, "detail",
                  smo__api_text(detail ? detail : reason_of(status)));
    if (json_is_object(extra))
        json_object_update(p, extra);
    json_decref(extra);
    char *text = json_dumps(p, JSON_COMPACT);
    send_body(req, status, "application/problem+json", text, strlen(text),
              NULL);
    free(text);
    json_decref(p);
}

/* Errors h2o answers by itself (body over the limit, malformed request)
 * come as text/plain: this filter turns them into problem+json, so that
 * clients see one error format whatever layer refused the request. */
struct problem_filter {
    h2o_filter_t super;
    struct state *s;
};

struct problem_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
};

static void problem_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs,
                         size_t n, h2o_send_state_t state)
{
    (void)bufs;
    (void)n;
    struct problem_ostream *o = (struct problem_ostream *)self;
    if (h2o_send_state_is_in_progress(state))
        h2o_ostream_send_next(self, req, NULL, 0, state);
    else
        h2o_ostream_send_next(self, req, &o->body, 1, state);
}

static void problem_setup(h2o_filter_t *self, h2o_req_t *req,
                          h2o_ostream_t **slot)
{
    struct problem_filter *f = (struct problem_filter *)self;
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (req->res.status < 400 || i < 0 ||
        strncmp(req->res.headers.entries[i].value.base, "text/plain", 10)) {
        h2o_setup_next_ostream(req, slot);
        return;
    }
    char detail[160];
    if (req->res.status == 413)
        snprintf(detail, sizeof detail,
                 "the request body is larger than max_body (%lld bytes)",
                 (long long)f->s->cfg->max_body);
    else
        snprintf(detail, sizeof detail,
                 "%s: the request was refused by the "
                 "HTTP layer",
                 reason_of(req->res.status));
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank",
                          "title", reason_of(req->res.status), "status",
                          req->res.status, "detail", detail);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    struct problem_ostream *o =
        (struct problem_ostream *)h2o_add_ostream(req, sizeof *o, slot);
    o->super.do_send = problem_send;
    o->body = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    req->res.headers.entries[i].value =
        h2o_strdup(&req->pool, H2O_STRLIT("application/problem+json"));
    req->res.content_length = o->body.len;
    slot = &o->super.next;
    h2o_setup_next_ostream(req, slot);
}

static bool const_eq(const char *a, size_t al, const char *b, size_t bl)
{
    unsigned char d = al != bl;
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* The role of the request's bearer token; ROLE_ADMIN without tokens. */
static int role_of(struct state *s, h2o_req_t *req, const char **who)
{
    *who = "anonymous";
    if (s->n_tokens == 0)
        return ROLE_ADMIN;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return ROLE_NONE;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0)
        return ROLE_NONE;
    const char *tok = v.base + 7;
    size_t tl = v.len - 7;
    int role = ROLE_NONE;
    for (size_t k = 0; k < s->n_tokens; k++)
        if (const_eq(tok, tl, s->tokens[k].secret,
                     strlen(s->tokens[k].secret))) {
            role = s->tokens[k].role;
            *who = s->tokens[k].name;
        }
    return role;
}

static bool allowed(int have, int need)
{
    if (need == ROLE_NONE)
        return true;
    if (have == ROLE_ADMIN)
        return true;
    if (need == ROLE_READ)
        return have == ROLE_READ;
    if (need == ROLE_ALERTS)
        return have == ROLE_ALERTS;
    return false;
}

/* ------------------------------------------------------- responses -- */

static void link_dispose(void *p)
{
    struct link *l = p;
    if (l->p)
        l->p->req = NULL; /* the client went away; drop the answer */
}

static void pending_free(struct pending *p)
{
    if (p->link)
        p->link->p = NULL;
    free(p->flight_key);
    json_decref(p->kept);
    json_decref(p->served);
    json_decref(p->alerts);
    json_decref(p->alert_results);
    json_decref(p->alert_wait);
    p->s->inflight--;
    struct state *s = p->s;
    free(p);
    if (s->stopping && s->inflight == 0 && s->done) {
        smo_done_cb d = s->done;
        s->done = NULL;
        d(s->done_arg);
    }
}

static json_t *clusters_compat(json_t *list)
{
    /* Each cluster also in the original's shape: available_cpu (cores),
     * available_ram (bytes), availability, acceleration, location. */
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        json_t *o = json_deep_copy(c);
        json_t *cpu = json_object_get(c, "cpu"),
               *mem = json_object_get(c, "memory");
        json_t *gpu = json_object_get(c, "gpu");
#define FREE_OF(r)                                                             \
    (json_number_value(json_object_get(r, "allocatable")) -                    \
     json_number_value(json_object_get(r, "allocated")) -                      \
     json_number_value(json_object_get(r, "allocating")))
        json_object_set_new(o, "available_cpu", json_real(FREE_OF(cpu)));
        json_object_set_new(o, "available_ram", json_real(FREE_OF(mem)));
        json_object_set_new(
            o, "availability",
            json_boolean(json_is_true(json_object_get(c, "ready"))));
        json_object_set_new(o, "acceleration",
                            json_boolean(json_number_value(json_object_get(
                                             gpu, "allocatable")) > 0));
        const char *region = json_string_value(json_object_get(c, "region"));
        json_object_set_new(
            o, "location", json_string(region && *region ? region : "Unknown"));
        json_object_set_new(o, "grafana", json_null());
#undef FREE_OF
        json_array_append_new(out, o);
    }
    json_decref(list);
    return out;
}

/* The request's If-None-Match equals `tag`. */
static bool client_has(h2o_req_t *req, const char *tag)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    return i >= 0 && req->headers.entries[i].value.len == strlen(tag) &&
           !memcmp(req->headers.entries[i].value.base, tag, strlen(tag));
}

/* 304 when the client holds `tag`; else the kept body (a JSON string of
 * the cache, sent without a copy). */
static void send_tagged(h2o_req_t *req, const char *tag, json_t *kept)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL,
                   h2o_strdup(&req->pool, tag, strlen(tag)).base, strlen(tag));
    if (client_has(req, tag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
        return;
    }
    send_kept(req, kept);
}

/* A kept body ({"etag", "body"}, or NULL) carries `tag`. */
static bool has_tag(const json_t *entry, const char *tag)
{
    const char *t = json_string_value(json_object_get(entry, "etag"));
    return t && !strcmp(t, tag);
}

/* A graph read the engine tagged: fresh (serialise and keep) or
 * {"not_modified": true} (the kept body is current). */
static void respond_cached(struct pending *p, json_t *result)
{
    struct state *s = p->s;
    h2o_req_t *req = p->req;
    char key[1024];
    copy_text(key, sizeof key, req->path.base, req->path.len);
    char tag[64];
    const char *rt = json_string_value(json_object_get(result, "_etag"));
    copy_text(tag, sizeof tag, rt ? rt : "", rt ? strlen(rt) : 0);
    /* A kept body with the answer's tag (the one the engine found
     * current, or a full answer's that was kept meanwhile): sent as it
     * is, no new serialisation. The body this call held when it was sent
     * serves when the map has dropped it or holds a newer one since. */
    json_t *kept = json_object_get(s->bodies, key);
    json_t *match = has_tag(kept, tag)      ? kept
                    : has_tag(p->kept, tag) ? p->kept
                                            : NULL;
    if (match) {
        json_decref(p->served);
        p->served = json_incref(match);
        send_tagged(req, tag, json_object_get(match, "body"));
        json_decref(result);
        return;
    }
    if (json_is_true(json_object_get(result, "not_modified"))) {
        /* Cannot be: p->kept holds the body whose tag was sent. */
        json_decref(result);
        send_problem(req, 503, "the kept answer is gone; retry", NULL);
        return;
    }
    json_object_del(result, "_etag");
    json_t *body = p->route->kind == K_LIST
                       ? json_incref(json_object_get(result, p->route->action))
                       : json_incref(result);
    json_decref(result);
    char *text =
        json_dumps(body ? body : json_array(), JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!text) {
        send_problem(req, 500, "cannot serialise the answer", NULL);
        return;
    }
    if (json_object_size(s->bodies) >= 1024)
        json_object_clear(s->bodies);
    json_t *entry = json_pack("{s:s, s:s}", "etag", tag, "body", text);
    free(text);
    if (!entry) {
        send_problem(req, 500, "cannot keep the answer", NULL);
        return;
    }
    json_object_set_new(s->bodies, key, entry);
    json_decref(p->served);
    p->served = json_incref(entry);
    send_tagged(req, tag, json_object_get(entry, "body"));
}

static void observe_done(struct pending *p, int status)
{
    struct obs x = {p->s, p->route->pattern, "", p->t0};
    char m[16];
    copy_text(m, sizeof m, p->req->method.base, p->req->method.len);
    x.method = m;
    observe(&x, status);
}

static void respond(struct pending *p, const smo_status *st, json_t *result)
{
    if (!p->cacheable)
        p->s->acks++;
    h2o_req_t *req = p->req;
    const struct api_route *r = p->route;
    int status = 200;
    if (!st->code && p->cacheable && json_object_get(result, "_etag")) {
        respond_cached(p, result);
        status = req->res.status;
    } else if (st->code) {
        status = http_status(st->code);
        if (r->kind == K_READY)
            status = 503;
        bool details = json_is_object(result); /* send_problem steals it */
        send_problem(req, status, st->msg, details ? result : NULL);
        if (!details)
            json_decref(result);
    } else if (r->kind == K_LIST) {
        json_t *arr = json_incref(json_object_get(result, r->action));
        json_decref(result);
        send_json(req, 200, arr ? arr : json_array(), NULL);
    } else if (r->kind == K_CLUSTERS) {
        send_json(req, 200, clusters_compat(result), NULL);
    } else if (r->kind == K_METRICS) {
        const char *t = json_string_value(json_object_get(result, "text"));
        send_body(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                  t ? t : "", t ? strlen(t) : 0, NULL);
        json_decref(result);
    } else if ((r->kind == K_ACTION ||
                (r->kind == K_DESCRIPTOR && strcmp(r->call, "graph.plan"))) &&
               json_object_get(result, "id")) {
        const char *state = json_string_value(json_object_get(result, "state"));
        char loc[128];
        snprintf(loc, sizeof loc, "/operations/%s",
                 json_string_value(json_object_get(result, "id")));
        status = state && !strcmp(state, "running") ? 202 : 200;
        send_json(req, status, result, loc);
    } else {
        if (r->kind == K_BODY && r->action && !strcmp(r->action, "create"))
            status = 201;
        send_json(req, status, result, NULL);
    }
    observe_done(p, status);
}

static void next_alert(struct pending *p);

static void on_alert(void *arg, const smo_status *st, json_t *result)
{
    struct pending *p = arg;
    json_array_append_new(
        p->alert_results,
        smo__api_alert_result(json_array_get(p->alerts, p->alert_i), st,
                              result));
    p->alert_i++;
    next_alert(p);
}

static void next_alert(struct pending *p)
{
    if (!p->req) {
        pending_free(p);
        return;
    }
    if (p->alert_i >= json_array_size(p->alerts)) {
        smo_status ok;
        smo_status_clear(&ok);
        json_t *body = json_pack("{s:s, s:O}", "message", "Alert processed",
                                 "results", p->alert_results);
        respond(p, &ok, body);
        pending_free(p);
        return;
    }
    json_t *one = smo__api_alert_params(p->alerts, p->alert_i, p->alert_wait);
    if (p->s->host->call(p->s->self, "alerts.receive", one, on_alert, p)) {
        smo_status st;
        smo_status_set(&st, SMO_EUNAVAIL, "cannot reach the engine");
        on_alert(p, &st, NULL);
    }
}

/* The answer of a graph read that others waited on: out of the flights;
 * each waiter gets the body it left kept (304 when the client holds its
 * tag), or, when there is none (an error, a failed serialisation), its
 * own copy of the answer. */
static void answer_waiters(struct pending *p, const smo_status *st,
                           const json_t *result)
{
    struct state *s = p->s;
    for (struct pending **pp = &s->flights; *pp; pp = &(*pp)->next_flight)
        if (*pp == p) {
            *pp = p->next_flight;
            break;
        }
    json_t *served = st->code ? NULL : p->served;
    const char *tag = json_string_value(json_object_get(served, "etag"));
    for (struct pending *w = p->waiters, *next; w; w = next) {
        next = w->next_waiter;
        if (w->req && served && tag) {
            send_tagged(w->req, tag, json_object_get(served, "body"));
            observe_done(w, w->req->res.status);
        } else if (w->req) {
            w->kept = json_incref(p->kept); /* the tag the engine saw */
            respond(w, st, json_deep_copy(result));
        }
        pending_free(w);
    }
    p->waiters = NULL;
}

static void on_reply(void *arg, const smo_status *st, json_t *result)
{
    struct pending *p = arg;
    /* Kept for the waiters until they are answered. */
    json_t *mine = p->waiters ? json_incref(result) : NULL;
    if (p->req)
        respond(p, st, result);
    else
        json_decref(result);
    if (p->flight_key)
        answer_waiters(p, st, mine);
    json_decref(mine);
    pending_free(p);
}

/* ---------------------------------------------------------- requests -- */

static json_t *header_ctype(h2o_req_t *req, char *buf, size_t n)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t l = 0;
    for (; l < v.len && l + 1 < n && v.base[l] != ';'; l++)
        buf[l] = (char)tolower((unsigned char)v.base[l]);
    while (l && buf[l - 1] == ' ')
        l--;
    buf[l] = '\0';
    return json_true();
}

/* Body of a deploy or plan: a descriptor, YAML text or an artifact. */
static int descriptor_params(h2o_req_t *req, json_t *params, char *err,
                             size_t n, int *status)
{
    char ct[128] = "";
    json_t *has = header_ctype(req, ct, sizeof ct);
    json_decref(has);
    const char *body = req->entity.base;
    size_t len = req->entity.len;
    *status = 400;
    if (!body || !len) {
        snprintf(err, n,
                 "the body must hold a descriptor ({\"hdaGraph\": "
                 "...}, YAML text) or {\"artifact\": "
                 "\"oci://...\"}");
        return -1;
    }
    bool yaml = !strcmp(ct, "application/x-yaml") ||
                !strcmp(ct, "application/yaml") || !strcmp(ct, "text/yaml") ||
                !strcmp(ct, "text/x-yaml") || !strcmp(ct, "text/plain");
    bool json = !strcmp(ct, "application/json") || !ct[0];
    if (!yaml && !json) {
        *status = 415;
        snprintf(err, n,
                 "content type %s is not accepted (application/json "
                 "or application/x-yaml)",
                 ct);
        return -1;
    }
    if (yaml) {
        json_t *t = json_stringn(body, len);
        if (!t) {
            snprintf(err, n, "the body is not UTF-8 text");
            return -1;
        }
        json_object_set_new(params, "text", t);
        return 0;
    }
    json_error_t je;
    json_t *j =
        json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (!ct[0]) { /* no content type: YAML is fine too */
            json_t *t = json_stringn(body, len);
            if (!t) {
                snprintf(err, n, "the body is not UTF-8 text");
                return -1;
            }
            json_object_set_new(params, "text", t);
            return 0;
        }
        snprintf(err, n, "invalid JSON at line %d: %s", je.line, je.text);
        return -1;
    }
    if (json_is_string(j)) /* the original clients send JSON strings */
        json_object_set(params, "text", j);
    else if (json_is_object(j) &&
             json_is_string(json_object_get(j, "artifact")))
        json_object_set(params, "artifact", json_object_get(j, "artifact"));
    else if (json_is_object(j))
        json_object_set(params, "descriptor", j);
    else {
        snprintf(err, n,
                 "expected a descriptor object, a YAML string or "
                 "{\"artifact\": ...}");
        json_decref(j);
        return -1;
    }
    json_decref(j);
    return 0;
}

/* Query parameters with their types. */
static int query_params(struct state *s, h2o_req_t *req, json_t *params,
                        char *err, size_t n)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    json_t *q = json_object();
    const char *qs = req->path.base + req->query_at + 1;
    size_t ql = req->path.len - req->query_at - 1;
    if (smo__api_query(qs, ql, q)) {
        json_decref(q);
        snprintf(err, n, "malformed query string");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(q, k, v)
    {
        const char *sv = json_string_value(v);
        if (!strcmp(k, "wait")) {
            char *end;
            double sec = strtod(sv, &end);
            if (*end || sec < 0 || sec * 1000 > (double)s->cfg->max_wait_ms) {
                snprintf(err, n, "wait: seconds from 0 to %lld",
                         (long long)(s->cfg->max_wait_ms / 1000));
                json_decref(q);
                return -1;
            }
            json_object_set_new(params, "wait_ms",
                                json_integer((json_int_t)(sec * 1000)));
        } else if (!strcmp(k, "limit") || !strcmp(k, "since") ||
                   !strcmp(k, "after")) {
            char *end;
            long long x = strtoll(sv, &end, 10);
            if (*end || !*sv || x < 0) {
                snprintf(err, n, "%s: a non-negative integer", k);
                json_decref(q);
                return -1;
            }
            json_object_set_new(params, k, json_integer(x));
        } else if (!strcmp(k, "unfinished"))
            json_object_set_new(
                params, k,
                json_boolean(!strcmp(sv, "true") || !strcmp(sv, "1")));
        else if (!strcmp(k, "project") || !strcmp(k, "graph") ||
                 !strcmp(k, "pop_area") || !strcmp(k, "workers") ||
                 !strcmp(k, "start_after"))
            json_object_set(params, k, v);
        /* Other parameters are ignored, as HTTP servers do. */
    }
    json_decref(q);
    return 0;
}

static int on_req(h2o_handler_t *h, h2o_req_t *req)
{
    struct state *s = ((struct handler *)h)->s;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const struct api_route *r = NULL;
    json_t *params = json_object();
    char method[16];
    copy_text(method, sizeof method, req->method.base, req->method.len);
    struct obs x = {s, "unmatched", method, s->host->now_ms(s->self)};
    size_t hbytes = req->path.len;
    for (size_t i = 0; i < req->headers.size; i++)
        hbytes += req->headers.entries[i].name->len +
                  req->headers.entries[i].value.len;
    if (hbytes > s->cfg->max_headers) {
        json_decref(params);
        send_problem(req, 431, "the request's header fields are too large",
                     NULL);
        observe(&x, 431);
        return 0;
    }
    int m = smo__api_match(req->method.base, req->method.len, req->path.base,
                           plen, &r, params);
    if (m != MATCH_OK) {
        json_decref(params);
        int status = m == MATCH_NO_METHOD ? 405 : 404;
        if (status == 405) {
            char allow[64];
            size_t al =
                smo__api_allow(req->path.base, plen, allow, sizeof allow);
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                           h2o_strdup(&req->pool, allow, al).base, al);
        }
        send_problem(req, status,
                     m == MATCH_NO_METHOD
                         ? "this method is not allowed on this path"
                         : "no such resource; see /openapi.json",
                     NULL);
        observe(&x, status);
        return 0;
    }
    x.route = r->pattern;
    const char *who;
    int role = role_of(s, req, &who);
    if (!allowed(role, r->role)) {
        json_decref(params);
        int status = role == ROLE_NONE ? 401 : 403;
        if (status == 401)
            h2o_add_header(&req->pool, &req->res.headers,
                           H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                           H2O_STRLIT("Bearer realm=\"smo\""));
        send_problem(req, status,
                     status == 401 ? "a bearer token is required"
                                   : "this token's role does not allow it",
                     NULL);
        observe(&x, status);
        return 0;
    }
    if (req->entity.len > s->cfg->max_body) {
        json_decref(params);
        send_problem(req, 413, "request body too large", NULL);
        observe(&x, 413);
        return 0;
    }
    if (r->kind == K_HEALTH) {
        json_decref(params);
        send_json(req, 200, json_pack("{s:s}", "status", "ok"), NULL);
        observe(&x, 200);
        return 0;
    }
    if (r->kind == K_OPENAPI || r->kind == K_DOCS || r->kind == K_UI) {
        json_decref(params);
        if (r->kind == K_OPENAPI)
            send_body(req, 200, "application/json", smo__api_openapi_json,
                      smo__api_openapi_json_len, NULL);
        else if (r->kind == K_DOCS)
            send_body(req, 200, "text/html; charset=utf-8", smo__api_docs_html,
                      smo__api_docs_html_len, NULL);
        else
            send_body(req, 200, "text/html; charset=utf-8", smo__api_ui_html,
                      smo__api_ui_html_len, NULL);
        observe(&x, 200);
        return 0;
    }
    char err[512];
    if (query_params(s, req, params, err, sizeof err)) {
        json_decref(params);
        send_problem(req, 400, err, NULL);
        observe(&x, 400);
        return 0;
    }
    int status = 400;
    if (r->kind == K_DESCRIPTOR &&
        descriptor_params(req, params, err, sizeof err, &status)) {
        json_decref(params);
        send_problem(req, status, err, NULL);
        observe(&x, status);
        return 0;
    }
    if (r->kind == K_BODY && req->entity.len) {
        /* A JSON object whose members join the params; path variables
         * win over members of the same name. */
        json_error_t je;
        json_t *body = json_loadb(req->entity.base, req->entity.len,
                                  JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(body)) {
            json_decref(body);
            json_decref(params);
            send_problem(req, 400, "the body must be a JSON object", NULL);
            observe(&x, 400);
            return 0;
        }
        json_object_update_missing(params, body);
        json_decref(body);
    }
    json_t *alerts = NULL;
    if (r->kind == K_ALERTS) {
        alerts = smo__api_alerts_parse(req->entity.base, req->entity.len);
        if (!alerts) {
            json_decref(params);
            send_problem(req, 400,
                         "expected an Alertmanager webhook body with an "
                         "alerts list",
                         NULL);
            observe(&x, 400);
            return 0;
        }
    }
    if (s->stopping) {
        json_decref(alerts);
        json_decref(params);
        send_problem(req, 503, "smod is shutting down", NULL);
        observe(&x, 503);
        return 0;
    }
    struct pending *p = calloc(1, sizeof *p);
    p->s = s;
    p->req = req;
    p->route = r;
    p->t0 = x.t0;
    p->link = h2o_mem_alloc_shared(&req->pool, sizeof *p->link, link_dispose);
    p->link->p = p;
    s->inflight++;
    if (r->kind == K_ALERTS) {
        p->alert_wait = json_incref(json_object_get(params, "wait_ms"));
        json_decref(params);
        p->alerts = alerts;
        p->alert_results = json_array();
        SMO_LOG_I(s->host, s->self, "%zu alert%s from %s",
                  json_array_size(alerts),
                  json_array_size(alerts) == 1 ? "" : "s", who);
        next_alert(p);
        return 0;
    }
    if (role == ROLE_ADMIN && strcmp(method, "GET"))
        SMO_LOG_I(s->host, s->self, "%s %.*s by %s", method, (int)plen,
                  req->path.base, who);
    if (!strcmp(method, "GET") &&
        (!strcmp(r->call, "graph.get") || !strcmp(r->call, "graph.list"))) {
        /* Ask the engine whether the body kept for this target is still
         * current. */
        char key[1024];
        copy_text(key, sizeof key, req->path.base, req->path.len);
        p->cacheable = true;
        for (struct pending *f = s->flights; f; f = f->next_flight)
            if (f->acks == s->acks && !strcmp(f->flight_key, key)) {
                p->next_waiter = f->waiters;
                f->waiters = p;
                s->host->metric_add(s->m_joined, NULL, 1);
                json_decref(params);
                return 0;
            }
        p->flight_key = strdup(key);
        json_t *kept = json_object_get(s->bodies, key);
        if (kept) {
            json_object_set(params, "etag", json_object_get(kept, "etag"));
            p->kept = json_incref(kept);
        }
    }
    if (p->flight_key) {
        p->acks = s->acks;
        p->next_flight = s->flights;
        s->flights = p;
    }
    if (s->host->call(s->self, r->call, params, on_reply, p)) {
        smo_status st;
        smo_status_set(&st, SMO_EUNAVAIL, "cannot reach the core");
        respond(p, &st, NULL);
        if (p->flight_key)
            answer_waiters(p, &st, NULL);
        pending_free(p);
    }
    return 0;
}

/* --------------------------------------------------------- listening -- */

static void on_sock_closed(uv_handle_t *h);
static void final_free(struct state *s);

static void on_accept(uv_stream_t *listener, int status)
{
    struct state *s = listener->data;
    if (status != 0)
        return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    s->open_sockets++;
    h2o_socket_t *sock =
        h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_sock_closed);
    h2o_accept(&s->accept_ctx, sock);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct state *s = c->s;
    free(c);
    s->open_sockets--;
    if (s->destroyed && s->open_sockets == 0)
        final_free(s);
}

static int open_listener(struct state *s, smo_status *st)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_listen(s->cfg->listen, &ss, &len, &s->loopback, st))
        return st->code;
    int fd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return smo_status_set(st, SMO_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* A replacement instance binds next to the one it replaces (reload). */
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len)) {
        int e = errno;
        close(fd);
        return smo_status_set(st, e == EADDRINUSE ? SMO_EBUSY : SMO_EIO,
                              "cannot listen on %s: %s", s->cfg->listen,
                              strerror(e));
    }
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    if (uv_tcp_open(&s->listener, fd) ||
        uv_listen((uv_stream_t *)&s->listener, (int)s->cfg->backlog,
                  on_accept)) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        return smo_status_set(st, SMO_EIO, "cannot listen on %s",
                              s->cfg->listen);
    }
    s->listening = true;
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    char host[INET6_ADDRSTRLEN] = "";
    int port;
    if (bound.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, host,
                  sizeof host);
        port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        snprintf(s->url, sizeof s->url, "%s://[%s]:%d",
                 s->ssl ? "https" : "http", host, port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, host,
                  sizeof host);
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        snprintf(s->url, sizeof s->url, "%s://%s:%d", s->ssl ? "https" : "http",
                 host, port);
    }
    return 0;
}

static int load_tokens(struct state *s, smo_status *st)
{
    size_t n = json_array_size(s->cfg->tokens);
    s->tokens = calloc(n ? n : 1, sizeof *s->tokens);
    size_t i;
    json_t *t;
    json_array_foreach(s->cfg->tokens, i, t)
    {
        struct token *k = &s->tokens[s->n_tokens];
        const char *secret = json_string_value(json_object_get(t, "token"));
        const char *file = json_string_value(json_object_get(t, "token_file"));
        char *buf = NULL;
        if (file) {
            FILE *f = fopen(file, "r");
            size_t cap = 0;
            ssize_t r = f ? getline(&buf, &cap, f) : -1;
            if (f)
                fclose(f);
            if (r <= 0) {
                free(buf);
                return smo_status_set(st, SMO_ECONFIG,
                                      "tokens[%zu].token_file: cannot read %s",
                                      i, file);
            }
            buf[strcspn(buf, "\r\n")] = '\0';
            if (strlen(buf) < 16) {
                free(buf);
                return smo_status_set(st, SMO_ECONFIG,
                                      "tokens[%zu].token_file: the token "
                                      "must have at least 16 characters",
                                      i);
            }
            k->secret = buf;
        } else
            k->secret = strdup(secret);
        k->name = strdup(json_string_value(json_object_get(t, "name")));
        const char *role = json_string_value(json_object_get(t, "role"));
        k->role = !strcmp(role, "admin")    ? ROLE_ADMIN
                  : !strcmp(role, "alerts") ? ROLE_ALERTS
                                            : ROLE_READ;
        s->n_tokens++;
    }
    return 0;
}

static int setup_tls(struct state *s, smo_status *st)
{
    if (!s->cfg->tls_cert)
        return 0;
    s->ssl = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(s->ssl, s->cfg->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ssl, s->cfg->tls_key,
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ssl) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        return smo_status_set(st, SMO_ECONFIG, "tls: %s", e);
    }
    h2o_ssl_register_alpn_protocols(s->ssl, h2o_http2_alpn_protocols);
    return 0;
}

static void reap_close(uv_handle_t *h)
{
    free(h->data);
}

static void reap(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, reap_close);
}

/* Everything h2o holds goes; memory is freed one loop turn later, after
 * the close callbacks of the handles h2o closed. */
static void final_free(struct state *s)
{
    json_decref(s->bodies);
    if (s->ctx_ready)
        h2o_context_dispose(&s->ctx);
    h2o_config_dispose(&s->config);
    if (s->ssl)
        SSL_CTX_free(s->ssl);
    for (size_t i = 0; i < s->n_tokens; i++) {
        explicit_bzero(s->tokens[i].secret, strlen(s->tokens[i].secret));
        free(s->tokens[i].secret);
        free(s->tokens[i].name);
    }
    free(s->tokens);
    s->reaper.data = s;
    uv_timer_start(&s->reaper, reap, 0, 0);
}

/* --------------------------------------------------------- lifecycle -- */

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = cfgp;
    s->loop = host->loop(self);
    uv_timer_init(s->loop, &s->reaper);
    s->bodies = json_object();
    h2o_config_init(&s->config);
    s->config.max_request_entity_size = (size_t)s->cfg->max_body;
    s->config.http1.req_timeout = (uint64_t)s->cfg->request_timeout_ms;
    s->config.http2.idle_timeout = (uint64_t)s->cfg->request_timeout_ms;
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("smod"));
    h2o_hostconf_t *hc = h2o_config_register_host(
        &s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(hc, "/", 0);
    struct handler *hd = (struct handler *)h2o_create_handler(pc, sizeof *hd);
    hd->super.on_req = on_req;
    hd->s = s;
    /* h2o binds requests it refuses early to the host's fallback path. */
    h2o_pathconf_t *pcs[] = {pc, &hc->fallback_path};
    for (size_t k = 0; k < 2; k++) {
        struct problem_filter *pf =
            (struct problem_filter *)h2o_create_filter(pcs[k], sizeof *pf);
        pf->super.on_setup_ostream = problem_setup;
        pf->s = s;
    }
    static const char *const l_req[] = {"route", "method", "code", NULL};
    static const char *const l_dur[] = {"route", NULL};
    s->m_req = host->metric_register(self, SMO_METRIC_COUNTER,
                                     "smo_api_requests_total",
                                     "API requests by route, method and "
                                     "status code.",
                                     l_req);
    s->m_dur = host->metric_register(self, SMO_METRIC_HISTOGRAM,
                                     "smo_api_request_duration_seconds",
                                     "API request latency by route.", l_dur);
    s->m_joined = host->metric_register(
        self, SMO_METRIC_COUNTER, "smo_api_reads_joined_total",
        "Graph reads answered with another read's answer (same target, "
        "asked while it was in flight).",
        NULL);
    if (load_tokens(s, st) || setup_tls(s, st)) {
        final_free(s);
        return st->code;
    }
    *out = s;
    return 0;
}

static int start(void *state, smo_status *st)
{
    struct state *s = state;
    if (open_listener(s, st))
        return st->code;
    h2o_context_init(&s->ctx, s->loop, &s->config);
    s->ctx_ready = true;
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    s->accept_ctx.ssl_ctx = s->ssl;
    SMO_LOG_N(s->host, s->self, "listening on %s (%s)", s->url,
              s->n_tokens ? "bearer tokens required"
                          : "no authentication: loopback only");
    return 0;
}

static void stop(void *state, smo_done_cb done, void *arg)
{
    struct state *s = state;
    s->stopping = true;
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->listening = false;
    }
    /* No h2o_context_request_shutdown: its graceful-shutdown timer would
     * outlive the context. Idle keep-alive connections close on their own
     * within request_timeout; destroy() waits for them. */
    if (s->inflight == 0)
        done(arg);
    else {
        s->done = done;
        s->done_arg = arg;
    }
}

static void destroy(void *state)
{
    struct state *s = state;
    s->destroyed = true;
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->listening = false;
    }
    /* Connections still open keep the context until they close (they
     * time out after request_timeout); then on_sock_closed frees it. */
    if (s->open_sockets == 0)
        final_free(s);
}

static json_t *describe(void *state)
{
    struct state *s = state;
    return json_pack("{s:[s]}", "urls", s->url);
}

static const struct smo_api_ops ops = {
    .size = sizeof(struct smo_api_ops),
    .describe = describe,
};

SMO_PLUGIN_DEFINE(SMO_KIND_API, "http", "1.0.0",
                  "REST API (original SMO routes, problem+json errors, "
                  "OpenAPI, metrics) on h2o.",
                  fields, struct cfg, validate, create, start, NULL, stop,
                  destroy, &ops);
