/* Asynchronous HTTP client: libcurl's multi-socket API driven by the libuv
 * loop (one uv_poll_t per socket curl asks about, one uv_timer_t for curl's
 * timeout). Only http and https are allowed; redirects are not followed. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "smo_log.h"
#include "smo_rt.h"

#define DEFAULT_TIMEOUT_MS         30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE       (64u << 20)

struct smo__http {
    struct smo_rt *rt;
    CURLM *multi;
    uv_timer_t timer;
    size_t active;
    bool closing;
    smo_metric *m_requests, *m_duration;
};

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct smo__http *http;
};

struct smo_http_call {
    struct smo__handle h;
    struct smo__http *http;
    CURL *easy;
    struct curl_slist *headers;
    char *body_copy;
    char *buf;
    size_t len, cap, max;
    bool too_big;
    json_t *resp_headers;
    smo_http_cb cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    uint64_t start_ms;
};

static void check_done(struct smo__http *http);

static void poll_close_cb(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *sc = p->data;
    struct smo__http *http = sc->http;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running = 0;
    curl_multi_socket_action(http->multi, sc->fd, flags, &running);
    check_done(http);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    (void)easy;
    struct smo__http *http = userp;
    struct sock_ctx *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            uv_poll_stop(&sc->poll);
            uv_close((uv_handle_t *)&sc->poll, poll_close_cb);
            curl_multi_assign(http->multi, s, NULL);
        }
        return 0;
    }
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (!sc)
            return -1;
        sc->fd = s;
        sc->http = http;
        if (uv_poll_init_socket(http->rt->loop, &sc->poll, s)) {
            free(sc);
            return -1;
        }
        sc->poll.data = sc;
        curl_multi_assign(http->multi, s, sc);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sc->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct smo__http *http = t->data;
    int running = 0;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct smo__http *http = userp;
    if (http->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&http->timer);
    else
        /* 0 means "now": still go through the loop, never recurse. */
        uv_timer_start(&http->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

struct smo__http *smo__http_new(struct smo_rt *rt, long max_connections)
{
    struct smo__http *http = calloc(1, sizeof *http);
    if (!http)
        return NULL;
    http->rt = rt;
    http->multi = curl_multi_init();
    if (!http->multi) {
        free(http);
        return NULL;
    }
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    smo__http_set_max(http, max_connections);
    uv_timer_init(rt->loop, &http->timer);
    http->timer.data = http;
    static const char *const lbl_code[] = {"code", NULL};
    http->m_requests = smo__metric_register(
        rt->metrics, SMO_METRIC_COUNTER, "smo_http_client_requests_total",
        "Outgoing HTTP requests by status code (0: no response).", lbl_code,
        NULL);
    http->m_duration =
        smo__metric_register(rt->metrics, SMO_METRIC_HISTOGRAM,
                             "smo_http_client_request_duration_seconds",
                             "Duration of outgoing HTTP requests.", NULL, NULL);
    return http;
}

void smo__http_set_max(struct smo__http *http, long max_connections)
{
    if (max_connections > 0)
        curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          max_connections);
}

static void call_free(smo_http_call *c)
{
    if (c->easy) {
        curl_multi_remove_handle(c->http->multi, c->easy);
        curl_easy_cleanup(c->easy);
        c->http->active--;
    }
    curl_slist_free_all(c->headers);
    free(c->body_copy);
    free(c->buf);
    json_decref(c->resp_headers);
    free(c);
}

static void http_timer_close_cb(uv_handle_t *h)
{
    struct smo__http *http = h->data;
    free(http);
}

void smo__http_free(struct smo__http *http)
{
    if (!http)
        return;
    http->closing = true;
    /* Calls are owned by instances, which cancelled them on stop; the core
     * instance's are cancelled by the runtime before this. */
    curl_multi_cleanup(http->multi);
    uv_timer_stop(&http->timer);
    uv_close((uv_handle_t *)&http->timer, http_timer_close_cb);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    smo_http_call *c = userdata;
    size_t n = size * nmemb;
    if (c->len + n > c->max) {
        c->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *nb = realloc(c->buf, cap);
        if (!nb)
            return 0;
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, ptr, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    smo_http_call *c = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        json_object_clear(c->resp_headers); /* a new response (100, ...) */
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon || colon == ptr || colon - ptr > 200)
        return n;
    char name[201];
    size_t nl = (size_t)(colon - ptr);
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)tolower((unsigned char)ptr[i]);
    name[nl] = '\0';
    const char *v = colon + 1, *end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    json_t *val = json_stringn(v, (size_t)(end - v));
    if (!val) /* not UTF-8: dropped */
        return n;
    json_object_set_new(c->resp_headers, name, val);
    return n;
}

static int map_curl_error(CURLcode rc, bool too_big)
{
    if (too_big)
        return SMO_ETOOBIG;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return SMO_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return SMO_EUNAVAIL;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_WEIRD_SERVER_REPLY:
        return SMO_EPROTO;
    default:
        return SMO_EIO;
    }
}

static void complete(smo_http_call *c, CURLcode rc)
{
    struct smo__http *http = c->http;
    smo__handle_unlink(&c->h);
    smo_status st;
    smo_status_clear(&st);
    double ms = (double)(uv_now(http->rt->loop) - c->start_ms);
    long code = 0;
    char codebuf[16];
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
        struct smo_http_response resp;
        memset(&resp, 0, sizeof resp);
        resp.size = sizeof resp;
        resp.status = code;
        resp.headers = c->resp_headers;
        resp.body = c->buf ? c->buf : "";
        resp.body_len = c->len;
        resp.elapsed_ms = ms;
        snprintf(codebuf, sizeof codebuf, "%ld", code);
        const char *lv[] = {codebuf, NULL};
        smo__metric_add(http->m_requests, lv, 1);
        smo__metric_observe(http->m_duration, NULL, ms / 1000.0);
        c->cb(c->arg, &st, &resp);
    } else {
        char *url = NULL;
        curl_easy_getinfo(c->easy, CURLINFO_EFFECTIVE_URL, &url);
        int code_e = map_curl_error(rc, c->too_big);
        if (c->too_big)
            smo_status_set(&st, code_e, "%s: response larger than %zu bytes",
                           url ? url : "request", c->max);
        else
            smo_status_set(&st, code_e, "%s: %s", url ? url : "request",
                           c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        const char *lv[] = {"0", NULL};
        smo__metric_add(http->m_requests, lv, 1);
        c->cb(c->arg, &st, NULL);
    }
    call_free(c);
}

static void check_done(struct smo__http *http)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        smo_http_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode rc = msg->data.result;
        if (c)
            complete(c, rc);
    }
}

/* The owner stopped: complete with ECANCELED, then release. */
static void http_cancel_handle(struct smo__handle *h)
{
    smo_http_call *c = (smo_http_call *)h;
    smo_status st;
    smo_status_set(&st, SMO_ECANCELED,
                   "request canceled: the instance "
                   "stopped");
    smo_http_cb cb = c->cb;
    void *arg = c->arg;
    call_free(c);
    cb(arg, &st, NULL);
}

void smo__http_cancel(smo_http_call *c)
{
    if (!c)
        return;
    smo__handle_unlink(&c->h);
    call_free(c);
}

#define SETOPT(opt, val)                                                       \
    do {                                                                       \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                       \
            smo_status_set(st, SMO_EINVAL, "HTTP option %s not supported",     \
                           #opt);                                              \
            goto fail;                                                         \
        }                                                                      \
    } while (0)

smo_http_call *smo__http_request(smo_instance *self,
                                 const struct smo_http_request *req,
                                 smo_http_cb cb, void *arg, smo_status *st)
{
    struct smo__http *http = self->rt->http;
    if (!smo__instance_live(self) || !req || !req->url || !cb) {
        smo_status_set(st, SMO_EINVAL, "invalid HTTP request");
        return NULL;
    }
    if (req->size < offsetof(struct smo_http_request, max_response_bytes) +
                        sizeof req->max_response_bytes) {
        smo_status_set(st, SMO_EINVAL, "struct smo_http_request too small");
        return NULL;
    }
    if (strncmp(req->url, "http://", 7) != 0 &&
        strncmp(req->url, "https://", 8) != 0) {
        smo_status_set(st, SMO_EINVAL,
                       "URL must start with http:// or https://");
        return NULL;
    }
    smo_http_call *c = calloc(1, sizeof *c);
    if (!c) {
        smo_status_set(st, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    c->http = http;
    c->cb = cb;
    c->arg = arg;
    c->max = req->max_response_bytes ? req->max_response_bytes
                                     : DEFAULT_MAX_RESPONSE;
    c->resp_headers = json_object();
    c->h.cancel = http_cancel_handle;
    c->start_ms = uv_now(http->rt->loop);
    CURL *e = curl_easy_init();
    if (!e) {
        smo_status_set(st, SMO_ENOMEM, "cannot create an HTTP handle");
        json_decref(c->resp_headers);
        free(c);
        return NULL;
    }
    c->easy = e;
    http->active++;
    const char *method = req->method ? req->method : "GET";

    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_PRIVATE, (char *)c);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
    SETOPT(CURLOPT_WRITEDATA, c);
    SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
    SETOPT(CURLOPT_HEADERDATA, c);
    SETOPT(CURLOPT_TIMEOUT_MS,
           (long)(req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS));
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
           (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                              : DEFAULT_CONNECT_TIMEOUT_MS));
    SETOPT(CURLOPT_USERAGENT, "smod/" SMO_VERSION);
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(method, "GET") == 0)
        SETOPT(CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        SETOPT(CURLOPT_NOBODY, 1L);
    else
        SETOPT(CURLOPT_CUSTOMREQUEST, method);
    if (req->body || (strcmp(method, "GET") && strcmp(method, "HEAD") &&
                      strcmp(method, "DELETE"))) {
        c->body_copy = malloc(req->body_len + 1);
        if (!c->body_copy) {
            smo_status_set(st, SMO_ENOMEM, "out of memory");
            goto fail;
        }
        if (req->body_len)
            memcpy(c->body_copy, req->body, req->body_len);
        c->body_copy[req->body_len] = '\0';
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SETOPT(CURLOPT_POSTFIELDS, c->body_copy);
    }
    /* Headers: the caller's, then auth; "Expect:" off (no 1 s stalls). */
    c->headers = curl_slist_append(c->headers, "Expect:");
    if (req->headers)
        for (const char *const *h = req->headers; *h; h++) {
            if (strpbrk(*h, "\r\n")) {
                smo_status_set(st, SMO_EINVAL,
                               "HTTP header contains a line break");
                goto fail;
            }
            c->headers = curl_slist_append(c->headers, *h);
        }
    if (req->bearer_token) {
        if (strpbrk(req->bearer_token, "\r\n")) {
            smo_status_set(st, SMO_EINVAL,
                           "bearer token contains a line break");
            goto fail;
        }
        char *auth = NULL;
        if (asprintf(&auth, "Authorization: Bearer %s", req->bearer_token) <
            0) {
            smo_status_set(st, SMO_ENOMEM, "out of memory");
            goto fail;
        }
        c->headers = curl_slist_append(c->headers, auth);
        free(auth);
    }
    SETOPT(CURLOPT_HTTPHEADER, c->headers);
    if (req->basic_user) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, req->basic_user);
        SETOPT(CURLOPT_PASSWORD,
               req->basic_password ? req->basic_password : "");
    }
    if (req->ca_file)
        SETOPT(CURLOPT_CAINFO, req->ca_file);
    if (req->ca_pem) {
        struct curl_blob b = {(void *)req->ca_pem, strlen(req->ca_pem),
                              CURL_BLOB_COPY};
        SETOPT(CURLOPT_CAINFO_BLOB, &b);
    }
    if (req->client_cert_file)
        SETOPT(CURLOPT_SSLCERT, req->client_cert_file);
    if (req->client_key_file)
        SETOPT(CURLOPT_SSLKEY, req->client_key_file);
    if (req->client_cert_pem) {
        struct curl_blob b = {(void *)req->client_cert_pem,
                              strlen(req->client_cert_pem), CURL_BLOB_COPY};
        SETOPT(CURLOPT_SSLCERT_BLOB, &b);
        SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (req->client_key_pem) {
        struct curl_blob b = {(void *)req->client_key_pem,
                              strlen(req->client_key_pem), CURL_BLOB_COPY};
        SETOPT(CURLOPT_SSLKEY_BLOB, &b);
        SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (req->insecure_skip_verify) {
        SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_multi_add_handle(http->multi, e) != CURLM_OK) {
        smo_status_set(st, SMO_EIO, "cannot start the HTTP request");
        goto fail;
    }
    smo__handle_link(self, &c->h);
    return c;
fail:
    curl_easy_cleanup(c->easy);
    c->easy = NULL;
    http->active--;
    curl_slist_free_all(c->headers);
    free(c->body_copy);
    json_decref(c->resp_headers);
    free(c);
    return NULL;
}
