/* Requests to a Kubernetes API server (Karmada's, or the Submariner
 * broker's) through the host's HTTP client: kubeconfig credentials, one
 * error vocabulary for every caller, retries with exponential backoff for
 * failures that a later try can fix. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "karmada.h"

struct kreq {
    struct smo__kube *k;
    char *method, *path, *ctype, *body;
    int attempt;
    bool token_reloaded;
    smo__kube_cb cb;
    void *arg;
    smo_http_call *call;
    smo_timer *timer;
    int dcode; /* a failure to report from the loop (deferred) */
    char dmsg[300];
    struct kreq *next;
};

struct smo__kube {
    struct smo__kstate *s;
    struct smo__kubeconfig kc;
    char *label;
    struct smo__kube_opts o;
    char *token; /* the bearer token in use (inline or from tokenFile) */
    struct kreq *reqs;
    size_t n;
    bool stopping;
};

static void send_req(struct kreq *r);

struct smo__kube *smo__kube_new(struct smo__kstate *s,
                                struct smo__kubeconfig *kc, const char *label,
                                const struct smo__kube_opts *o)
{
    struct smo__kube *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->s = s;
    k->kc = *kc;
    memset(kc, 0, sizeof *kc);
    k->label = strdup(label);
    k->o = *o;
    if (k->o.attempts < 1)
        k->o.attempts = 1;
    if (k->kc.token)
        k->token = strdup(k->kc.token);
    return k;
}

static void req_free(struct kreq *r)
{
    free(r->method);
    free(r->path);
    free(r->ctype);
    free(r->body);
    free(r);
}

void smo__kube_free(struct smo__kube *k)
{
    if (!k)
        return;
    /* Only after stop: whatever is left never gets a callback. */
    while (k->reqs) {
        struct kreq *r = k->reqs;
        k->reqs = r->next;
        req_free(r);
    }
    if (k->token) {
        explicit_bzero(k->token, strlen(k->token));
        free(k->token);
    }
    smo__kubeconfig_free(&k->kc);
    free(k->label);
    free(k);
}

const struct smo__kubeconfig *smo__kube_config(const struct smo__kube *k)
{
    return &k->kc;
}

size_t smo__kube_inflight(const struct smo__kube *k)
{
    return k ? k->n : 0;
}

/* A token file's content, trimmed (the worker thread may call this). */
static char *read_token(const char *path, char *err, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[16384];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    while (len && strchr(" \t\r\n", buf[len - 1]))
        buf[--len] = '\0';
    char *start = buf + strspn(buf, " \t\r\n");
    char *out = *start ? strdup(start) : NULL;
    if (!*start)
        snprintf(err, n, "%s: empty token file", path);
    explicit_bzero(buf, sizeof buf);
    return out;
}

int smo__kube_load_token(struct smo__kube *k, smo_status *st)
{
    if (!k->kc.token_file)
        return 0;
    char err[300];
    char *t = read_token(k->kc.token_file, err, sizeof err);
    if (!t)
        return smo_status_set(st, SMO_ECONFIG, "%s user \"%s\": tokenFile %s",
                              k->kc.path, k->kc.user ? k->kc.user : "", err);
    free(k->token);
    k->token = t;
    return 0;
}

char *smo__kube_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~')
            out[o++] = (char)c;
        else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

static const char *reason_phrase(long code)
{
    switch (code) {
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
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static void count(struct smo__kube *k, const char *code)
{
    struct smo__kstate *s = k->s;
    if (!s->m_api)
        return;
    const char *lv[] = {s->host->instance_name(s->self), k->label, code, NULL};
    s->host->metric_add(s->m_api, lv, 1);
}

static void finish(struct kreq *r, const smo_status *st, long http,
                   json_t *body)
{
    struct smo__kube *k = r->k;
    for (struct kreq **pp = &k->reqs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    k->n--;
    r->cb(r->arg, st, http, body);
    struct smo__kstate *s = k->s;
    req_free(r);
    smo__karmada_maybe_stopped(s);
}

static void fail(struct kreq *r, int code, long http, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct kreq *r, int code, long http, const char *fmt, ...)
{
    smo_status st;
    smo_status_clear(&st);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smo_status_set(&st, code, "%s API %s: %s %s: %s", r->k->label,
                   r->k->kc.server, r->method, r->path, msg);
    finish(r, &st, http, NULL);
}

static void retry_fired(void *arg)
{
    struct kreq *r = arg;
    r->timer = NULL;
    r->attempt++;
    send_req(r);
}

/* Another try later, or false when the tries are used up. */
static bool retry(struct kreq *r, const json_t *headers)
{
    struct smo__kube *k = r->k;
    if (k->stopping || r->attempt >= k->o.attempts)
        return false;
    int64_t delay = k->o.backoff_ms;
    for (int i = 1; i < r->attempt && delay < k->o.max_backoff_ms; i++)
        delay *= 2;
    /* The server may say when to come back (429, 503). */
    const char *ra = json_string_value(json_object_get(headers, "retry-after"));
    if (ra) {
        long sec = strtol(ra, NULL, 10);
        if (sec > 0 && sec * 1000 > delay)
            delay = sec * 1000;
    }
    if (delay > k->o.max_backoff_ms)
        delay = k->o.max_backoff_ms;
    struct smo__kstate *s = k->s;
    SMO_LOG_D(s->host, s->self, "%s API: %s %s: try %d of %d in %lld ms",
              k->label, r->method, r->path, r->attempt + 1, k->o.attempts,
              (long long)delay);
    r->timer =
        s->host->timer_start(s->self, (uint64_t)delay, 0, retry_fired, r);
    return r->timer != NULL;
}

/* ---------------------------------------------- token file reload -- */

struct token_job {
    struct kreq *r;
    char *path;
    char *token;
    char err[300];
};

static void token_work(void *arg)
{
    struct token_job *j = arg;
    j->token = read_token(j->path, j->err, sizeof j->err);
}

static void token_done(void *arg, int status)
{
    struct token_job *j = arg;
    struct kreq *r = j->r;
    struct smo__kube *k = r->k;
    if (status == 0 && j->token) {
        free(k->token);
        k->token = j->token;
        j->token = NULL;
        send_req(r);
    } else
        fail(r, SMO_EACCES, 401,
             "401 Unauthorized, and the token file could not be re-read: %s",
             status ? "canceled" : j->err);
    free(j->token);
    free(j->path);
    free(j);
}

/* ------------------------------------------------------- responses -- */

/* The message of a metav1.Status answer, else the start of the body. */
static void api_message(const struct smo_http_response *resp, char *out,
                        size_t n)
{
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *m = json_string_value(json_object_get(j, "message"));
    if (m)
        snprintf(out, n, "%s", m);
    else
        snprintf(out, n, "%.200s", resp->body_len ? resp->body : "(no body)");
    json_decref(j);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static void on_response(void *arg, const smo_status *st,
                        const struct smo_http_response *resp)
{
    struct kreq *r = arg;
    struct smo__kube *k = r->k;
    struct smo__kstate *s = k->s;
    r->call = NULL;
    if (st->code) {
        count(k, smo_err_name(st->code));
        if ((st->code == SMO_ETIMEDOUT || st->code == SMO_EUNAVAIL) &&
            retry(r, NULL))
            return;
        if (st->code == SMO_EPROTO)
            fail(r, SMO_EPROTO, 0,
                 "TLS or protocol failure (%s); check the kubeconfig's "
                 "certificate-authority, client certificate and "
                 "insecure-skip-tls-verify",
                 st->msg);
        else
            fail(r, st->code, 0, "%s%s", st->msg,
                 r->attempt > 1 ? " (every try failed)" : "");
        return;
    }
    char code[16];
    snprintf(code, sizeof code, "%ld", resp->status);
    count(k, code);
    long http = resp->status;
    if (http >= 200 && http < 300) {
        json_error_t je;
        json_t *body = json_loadb(resp->body, resp->body_len, 0, &je);
        if (!body) {
            fail(r, SMO_EPROTO, http, "answer is not JSON (%s)", je.text);
            return;
        }
        smo_status ok;
        smo_status_clear(&ok);
        finish(r, &ok, http, body);
        return;
    }
    char msg[300];
    api_message(resp, msg, sizeof msg);
    if (http == 401 && k->kc.token_file && !r->token_reloaded) {
        /* A rotated (projected) token: read the file again, once. */
        r->token_reloaded = true;
        struct token_job *j = calloc(1, sizeof *j);
        if (j) {
            j->r = r;
            j->path = strdup(k->kc.token_file);
            if (!s->host->queue_work(s->self, token_work, token_done, j))
                return;
            free(j->path);
            free(j);
        }
    }
    switch (http) {
    case 401:
        fail(r, SMO_EACCES, http,
             "401 Unauthorized: %s (the credentials of user \"%s\" in %s were "
             "refused)",
             msg, k->kc.user ? k->kc.user : "(none)", k->kc.path);
        return;
    case 403:
        fail(r, SMO_EACCES, http,
             "403 Forbidden: %s (grant the kubeconfig's user the RBAC rules "
             "in docs/operations/karmada.md)",
             msg);
        return;
    case 404:
        fail(r, SMO_ENOENT, http, "404 Not Found: %s", msg);
        return;
    default:
        break;
    }
    bool retryable = http == 409 || http == 429 || http >= 500;
    if (retryable && retry(r, resp->headers))
        return;
    fail(r,
         http == 409                  ? SMO_ECONFLICT
         : http >= 500 || http == 429 ? SMO_EUNAVAIL
                                      : SMO_EPROTO,
         http, "%ld %s: %s%s", http, reason_phrase(http), msg,
         retryable && r->attempt > 1 ? " (every try failed)" : "");
}

static void deferred_fail(void *arg)
{
    struct kreq *r = arg;
    fail(r, r->dcode, 0, "%s", r->dmsg);
}

/* Never report inside the caller's call: a request that cannot even start
 * fails on the next loop iteration. */
static void fail_later(struct kreq *r, int code, const char *msg)
{
    struct smo__kstate *s = r->k->s;
    r->dcode = code;
    snprintf(r->dmsg, sizeof r->dmsg, "%s", msg);
    if (s->host->defer(s->self, deferred_fail, r))
        fail(r, code, 0, "%s", msg);
}

static void send_req(struct kreq *r)
{
    struct smo__kube *k = r->k;
    struct smo__kstate *s = k->s;
    char *url = NULL, *ct = NULL;
    if (asprintf(&url, "%s%s", k->kc.server, r->path) < 0) {
        fail_later(r, SMO_ENOMEM, "out of memory");
        return;
    }
    if (r->ctype && asprintf(&ct, "Content-Type: %s", r->ctype) < 0)
        ct = NULL;
    const char *headers[] = {"Accept: application/json",
                             "User-Agent: smod-executor-karmada/1.0", ct, NULL};
    struct smo_http_request q;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.method = r->method;
    q.url = url;
    q.headers = headers;
    q.body = r->body;
    q.body_len = r->body ? strlen(r->body) : 0;
    q.timeout_ms = k->o.timeout_ms;
    q.connect_timeout_ms = k->o.connect_timeout_ms;
    q.bearer_token = k->token;
    q.basic_user = k->token ? NULL : k->kc.username;
    q.basic_password = k->token ? NULL : k->kc.password;
    q.ca_file = k->kc.ca_file;
    q.ca_pem = k->kc.ca_pem;
    q.client_cert_file = k->kc.cert_file;
    q.client_key_file = k->kc.key_file;
    q.client_cert_pem = k->kc.cert_pem;
    q.client_key_pem = k->kc.key_pem;
    q.insecure_skip_verify = k->kc.insecure;
    smo_status st;
    smo_status_clear(&st);
    r->call = s->host->http_request(s->self, &q, on_response, r, &st);
    free(url);
    free(ct);
    if (!r->call)
        fail_later(r, st.code ? st.code : SMO_EIO, st.msg);
}

int smo__kube_request(struct smo__kube *k, const char *method, const char *path,
                      const char *content_type, const char *body,
                      smo__kube_cb cb, void *arg, smo_status *st)
{
    if (k->stopping)
        return smo_status_set(st, SMO_ECANCELED, "the executor is stopping");
    struct kreq *r = calloc(1, sizeof *r);
    if (!r)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    r->k = k;
    r->method = strdup(method);
    r->path = strdup(path);
    r->ctype = content_type ? strdup(content_type) : NULL;
    r->body = body ? strdup(body) : NULL;
    r->attempt = 1;
    r->cb = cb;
    r->arg = arg;
    r->next = k->reqs;
    k->reqs = r;
    k->n++;
    /* The answer always comes later, even when sending fails at once. */
    send_req(r);
    return 0;
}

void smo__kube_stop(struct smo__kube *k)
{
    if (!k)
        return;
    k->stopping = true;
    for (;;) {
        struct kreq *r = k->reqs;
        while (r && !r->timer)
            r = r->next;
        if (!r)
            break;
        r->k->s->host->timer_stop(r->timer);
        r->timer = NULL;
        fail(r, SMO_ECANCELED, 0, "canceled: the executor is stopping");
    }
}
