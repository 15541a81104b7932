/* Rules mode "prometheusrule": SMO's rules live in one group of one
 * PrometheusRule object (monitoring.coreos.com/v1) whose namespace, name
 * and group are configuration; other groups and other graphs' rules in it
 * are left as they are. A change is a read-modify-write: GET the object,
 * replace the rules labelled with this graph and project, PUT it back with
 * the resourceVersion that was read; a 409 (someone else wrote in between)
 * starts again from the GET, a bounded number of times. The operator's
 * config reloader makes Prometheus load the result. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prom.h"

#define CRD_PATH "/apis/monitoring.coreos.com/v1/namespaces/%s/prometheusrules"

static void do_get(struct smo__prom_job *j);

static smo_http_call *kube(struct smo__prom_job *j, const char *method,
                           const char *path, const char *body, smo_http_cb cb,
                           smo_status *st)
{
    struct smo__prom *p = j->p;
    const struct smo__prom_cfg *c = p->cfg;
    size_t ul = strlen(c->k8s_url);
    while (ul && c->k8s_url[ul - 1] == '/')
        ul--;
    char *url = NULL;
    if (asprintf(&url, "%.*s%s", (int)ul, c->k8s_url, path) < 0) {
        smo_status_set(st, SMO_ENOMEM, "out of memory");
        return NULL;
    }
    const char *hdrs[] = {"Accept: application/json",
                          body ? "Content-Type: application/json" : NULL, NULL};
    const char *tok = p->k8s_token    ? p->k8s_token
                      : *c->k8s_token ? c->k8s_token
                                      : NULL;
    struct smo_http_request req = {
        .size = sizeof req,
        .method = method,
        .url = url,
        .headers = hdrs,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = c->request_timeout_ms,
        .connect_timeout_ms = c->request_timeout_ms,
        .bearer_token = tok,
        .ca_file = *c->k8s_ca_file ? c->k8s_ca_file : NULL,
        .insecure_skip_verify = c->k8s_insecure,
        .max_response_bytes = 16u << 20,
    };
    smo_http_call *call = p->host->http_request(p->self, &req, cb, j, st);
    free(url);
    return call;
}

/* The Kubernetes Status message of an error answer, else the body. */
static void api_error(const struct smo_http_response *r, char *buf, size_t n)
{
    json_t *s = json_loadb(r->body, r->body_len, 0, NULL);
    const char *m = json_string_value(json_object_get(s, "message"));
    if (m)
        snprintf(buf, n, "HTTP %ld: %s", r->status, m);
    else
        snprintf(buf, n, "HTTP %ld: %.200s", r->status, r->body);
    json_decref(s);
}

static int code_of(long status)
{
    switch (status) {
    case 401:
        return SMO_EAUTH;
    case 403:
        return SMO_EPERM;
    case 404:
        return SMO_ENOENT;
    case 409:
        return SMO_ECONFLICT;
    case 400:
    case 422:
        return SMO_EINVAL;
    case 429:
    case 503:
        return SMO_EUNAVAIL;
    default:
        return SMO_EEXTERNAL;
    }
}

static void finish(struct smo__prom_job *j, bool changed)
{
    const struct smo__prom_cfg *c = j->p->cfg;
    char obj[400];
    snprintf(obj, sizeof obj, "%s/%s", c->pr_namespace, c->pr_name);
    j->detail = json_pack("{s:s, s:s, s:s, s:I, s:b, s:i}", "mode",
                          "prometheusrule", "object", obj, "group", c->pr_group,
                          "rules", (json_int_t)json_array_size(j->rules),
                          "changed", changed, "attempts", j->attempt);
    smo__prom_job_done(j, 0, NULL);
}

/* A conflict: someone wrote between our GET and our write. */
static void retry_or_fail(struct smo__prom_job *j, const char *why)
{
    const struct smo__prom_cfg *c = j->p->cfg;
    if (j->attempt <= c->pr_retries) {
        SMO_LOG_I(j->p->host, j->p->self,
                  "PrometheusRule %s/%s changed under us (%s): attempt %d",
                  c->pr_namespace, c->pr_name, why, j->attempt + 1);
        json_decref(j->obj);
        j->obj = NULL;
        do_get(j);
        return;
    }
    smo__prom_job_done(j, SMO_ECONFLICT,
                       "PrometheusRule %s/%s: still conflicting after %d "
                       "attempts (%s)",
                       c->pr_namespace, c->pr_name, j->attempt, why);
}

static void on_written(void *arg, const smo_status *st,
                       const struct smo_http_response *r)
{
    struct smo__prom_job *j = arg;
    const struct smo__prom_cfg *c = j->p->cfg;
    if (st->code) {
        smo__prom_job_done(j, st->code, "Kubernetes API %s: %s", c->k8s_url,
                           st->msg);
        return;
    }
    if (r->status == 200 || r->status == 201) {
        finish(j, true);
        return;
    }
    char msg[400];
    api_error(r, msg, sizeof msg);
    if (r->status == 409) {
        retry_or_fail(j, msg);
        return;
    }
    smo__prom_job_done(j, code_of(r->status), "PrometheusRule %s/%s: %s",
                       c->pr_namespace, c->pr_name, msg);
}

static void write_obj(struct smo__prom_job *j, bool create)
{
    const struct smo__prom_cfg *c = j->p->cfg;
    char path[600];
    if (create)
        snprintf(path, sizeof path, CRD_PATH, c->pr_namespace);
    else
        snprintf(path, sizeof path, CRD_PATH "/%s", c->pr_namespace,
                 c->pr_name);
    char *body = json_dumps(j->obj, JSON_COMPACT);
    smo_status st;
    smo_status_clear(&st);
    smo_http_call *call =
        kube(j, create ? "POST" : "PUT", path, body, on_written, &st);
    free(body);
    if (!call)
        smo__prom_job_done(j, st.code ? st.code : SMO_EIO, "%s", st.msg);
}

static void on_got(void *arg, const smo_status *st,
                   const struct smo_http_response *r)
{
    struct smo__prom_job *j = arg;
    struct smo__prom *p = j->p;
    const struct smo__prom_cfg *c = p->cfg;
    if (st->code) {
        smo__prom_job_done(j, st->code, "Kubernetes API %s: %s", c->k8s_url,
                           st->msg);
        return;
    }
    bool create = false;
    if (r->status == 404) {
        if (json_array_size(j->rules) == 0) {
            finish(j, false); /* nothing to remove from nothing */
            return;
        }
        if (!c->pr_create) {
            smo__prom_job_done(j, SMO_ENOENT,
                               "PrometheusRule %s/%s does not exist (and "
                               "prometheusrule.create is off)",
                               c->pr_namespace, c->pr_name);
            return;
        }
        create = true;
        j->obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:O}, s:{s:[]}}",
                           "apiVersion", "monitoring.coreos.com/v1", "kind",
                           "PrometheusRule", "metadata", "name", c->pr_name,
                           "namespace", c->pr_namespace, "labels", c->pr_labels,
                           "spec", "groups");
    } else if (r->status == 200) {
        j->obj = json_loadb(r->body, r->body_len, 0, NULL);
        if (!json_is_object(j->obj)) {
            smo__prom_job_done(j, SMO_EPROTO,
                               "PrometheusRule %s/%s: the answer is not JSON",
                               c->pr_namespace, c->pr_name);
            return;
        }
    } else {
        char msg[400];
        api_error(r, msg, sizeof msg);
        smo__prom_job_done(j, code_of(r->status), "PrometheusRule %s/%s: %s",
                           c->pr_namespace, c->pr_name, msg);
        return;
    }
    smo_status s;
    smo_status_clear(&s);
    bool changed = false;
    if (smo__prom_crd_apply(j->obj, c->pr_group, j->project, j->graph, j->rules,
                            &changed, &s)) {
        smo__prom_job_done(j, s.code, "%s/%s: %s", c->pr_namespace, c->pr_name,
                           s.msg);
        return;
    }
    if (!changed) {
        finish(j, false);
        return;
    }
    /* The PUT carries metadata.resourceVersion as read: the server
     * refuses it with 409 when the object changed since. A new object has
     * none (POST), and a 409 there means someone created it first. */
    write_obj(j, create);
}

static void do_get(struct smo__prom_job *j)
{
    const struct smo__prom_cfg *c = j->p->cfg;
    j->attempt++;
    char path[600];
    snprintf(path, sizeof path, CRD_PATH "/%s", c->pr_namespace, c->pr_name);
    smo_status st;
    smo_status_clear(&st);
    if (!kube(j, "GET", path, NULL, on_got, &st))
        smo__prom_job_done(j, st.code ? st.code : SMO_EIO, "%s", st.msg);
}

/* token_file is read before each change: service-account tokens rotate. */
static void token_work(void *arg)
{
    struct smo__prom_job *j = arg;
    const char *path = j->p->cfg->k8s_token_file;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->rc = SMO_EIO;
        snprintf(j->err, sizeof j->err, "%s: %s", path, strerror(errno));
        return;
    }
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        j->rc = SMO_EIO;
        snprintf(j->err, sizeof j->err, "%s: %s", path, strerror(errno));
        return;
    }
    buf[n] = '\0';
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        buf[--n] = '\0';
    char *start = buf + strspn(buf, " \t\r\n");
    if (!*start) {
        j->rc = SMO_ECONFIG;
        snprintf(j->err, sizeof j->err, "%s: empty token file", path);
    } else
        j->new_text = strdup(start);
    explicit_bzero(buf, sizeof buf);
}

static void token_done(void *arg, int status)
{
    struct smo__prom_job *j = arg;
    struct smo__prom *p = j->p;
    smo__prom_release(p);
    if (status || j->rc) {
        smo__prom_job_done(j, status ? SMO_ECANCELED : j->rc,
                           "prometheusrule.token_file: %s",
                           status ? "canceled" : j->err);
        return;
    }
    if (p->k8s_token) {
        explicit_bzero(p->k8s_token, strlen(p->k8s_token));
        free(p->k8s_token);
    }
    p->k8s_token = j->new_text;
    j->new_text = NULL;
    do_get(j);
}

void smo__prom_crd_run(struct smo__prom_job *j)
{
    struct smo__prom *p = j->p;
    if (!*p->cfg->k8s_token_file) {
        do_get(j);
        return;
    }
    smo__prom_hold(p);
    if (p->host->queue_work(p->self, token_work, token_done, j)) {
        smo__prom_release(p);
        smo__prom_job_done(j, SMO_EIO, "cannot queue the token read");
    }
}
