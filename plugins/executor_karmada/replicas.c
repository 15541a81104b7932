/* Replicas of a service's workload: its Deployment on the Karmada control
 * plane, in the PROJECT's namespace (where helm installed the release; the
 * original always looked in `default`). The Deployment's name comes from
 * the configuration (replicas.deployments) or from the release's
 * app.kubernetes.io/instance label, never assumed equal to the service id:
 * charts name their objects `<release>-<chart>` by default. Karmada
 * propagates a /scale change of the template to the member clusters and
 * aggregates availableReplicas back. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "karmada.h"

struct rctx {
    struct smo__kstate *s;
    smo_exec_cb cb;
    void *arg;
    char *ns, *release, *deployment;
    bool set;
    uint32_t replicas;
};

static void rctx_free(struct rctx *c)
{
    free(c->ns);
    free(c->release);
    free(c->deployment);
    free(c);
}

static void reply(struct rctx *c, const smo_status *st, json_t *result)
{
    c->cb(c->arg, st, result);
    rctx_free(c);
}

static void reply_err(struct rctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_err(struct rctx *c, int code, const char *fmt, ...)
{
    smo_status st;
    smo_status_clear(&st);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smo_status_set(&st, code, "%s", msg);
    reply(c, &st, NULL);
}

static json_t *counts(const struct rctx *c, const json_t *dep)
{
    const json_t *spec = json_object_get(dep, "spec");
    const json_t *status = json_object_get(dep, "status");
    /* availableReplicas is omitted by the API server when it is 0. */
    return json_pack(
        "{s:I, s:I, s:s, s:s}", "desired",
        json_integer_value(json_object_get(spec, "replicas")), "available",
        json_integer_value(json_object_get(status, "availableReplicas")),
        "deployment", c->deployment, "namespace", c->ns);
}

static void on_scaled(void *arg, const smo_status *st, long http, json_t *body)
{
    struct rctx *c = arg;
    if (st->code) {
        reply(c, st, NULL);
        return;
    }
    /* A Scale has no availableReplicas: status.replicas (pods that exist)
     * is the closest the answer offers; replicas_get reads the truth. */
    json_t *r = json_pack("{s:I, s:I, s:s, s:s}", "desired",
                          json_integer_value(json_object_get(
                              json_object_get(body, "spec"), "replicas")),
                          "available",
                          json_integer_value(json_object_get(
                              json_object_get(body, "status"), "replicas")),
                          "deployment", c->deployment, "namespace", c->ns);
    json_decref(body);
    smo_status ok;
    smo_status_clear(&ok);
    reply(c, &ok, r);
}

static void act(struct rctx *c, const json_t *dep)
{
    smo_status st;
    smo_status_clear(&st);
    if (!c->set) {
        json_t *r = counts(c, dep);
        reply(c, &st, r);
        return;
    }
    char *path = NULL, *body = NULL;
    if (asprintf(&path, "/apis/apps/v1/namespaces/%s/deployments/%s/scale",
                 c->ns, c->deployment) < 0 ||
        asprintf(&body, "{\"spec\":{\"replicas\":%u}}", c->replicas) < 0) {
        free(path);
        reply_err(c, SMO_ENOMEM, "out of memory");
        return;
    }
    SMO_LOG_I(c->s->host, c->s->self, "scaling deployment %s/%s to %u", c->ns,
              c->deployment, c->replicas);
    /* A merge patch of spec.replicas alone: idempotent, so retrying it
     * after a timeout is safe, and no resourceVersion to conflict on. */
    if (smo__kube_request(c->s->api, "PATCH", path,
                          "application/merge-patch+json", body, on_scaled, c,
                          &st))
        reply(c, &st, NULL);
    free(path);
    free(body);
}

static void on_deployment(void *arg, const smo_status *st, long http,
                          json_t *body)
{
    struct rctx *c = arg;
    if (st->code) {
        reply(c, st, NULL);
        return;
    }
    act(c, body);
    json_decref(body);
}

static void on_listed(void *arg, const smo_status *st, long http, json_t *body)
{
    struct rctx *c = arg;
    if (st->code) {
        reply(c, st, NULL);
        return;
    }
    const json_t *items = json_object_get(body, "items");
    const json_t *pick = NULL;
    size_t i;
    json_t *it;
    char names[256] = "";
    json_array_foreach(items, i, it)
    {
        const char *n = json_string_value(
            json_object_get(json_object_get(it, "metadata"), "name"));
        if (!n)
            continue;
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", n);
        /* Several workloads in one release: the one named after it. */
        if (json_array_size(items) == 1 || !strcmp(n, c->release))
            pick = it;
    }
    if (!pick) {
        if (json_array_size(items))
            reply_err(c, SMO_ECONFLICT,
                      "release %s/%s has several Deployments (%s): name the "
                      "one to scale in replicas.deployments",
                      c->ns, c->release, names);
        else
            reply_err(c, SMO_ENOENT,
                      "no Deployment labelled %s=%s in namespace %s (is the "
                      "release installed? else name it in "
                      "replicas.deployments)",
                      c->s->cfg->instance_label, c->release, c->ns);
        json_decref(body);
        return;
    }
    c->deployment = strdup(json_string_value(
        json_object_get(json_object_get(pick, "metadata"), "name")));
    act(c, pick);
    json_decref(body);
}

static const char *configured(const struct smo__kstate *s, const char *ns,
                              const char *name)
{
    char key[200];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    const char *d =
        json_string_value(json_object_get(s->cfg->deployments, key));
    return d ? d
             : json_string_value(json_object_get(s->cfg->deployments, name));
}

static int start(struct smo__kstate *s, const char *project, const char *name,
                 bool set, uint32_t replicas, smo_exec_cb cb, void *arg,
                 smo_status *st)
{
    if (s->stopping)
        return smo_status_set(st, SMO_ECANCELED, "the executor is stopping");
    if (smo__helm_check_name("project (namespace)", project, 63, st) ||
        smo__helm_check_name("release name", name, 53, st))
        return st->code;
    struct rctx *c = calloc(1, sizeof *c);
    if (!c)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    c->set = set;
    c->replicas = replicas;
    c->ns = strdup(project);
    c->release = strdup(name);
    const char *dep = configured(s, project, name);
    char *path = NULL;
    int r;
    if (dep) {
        c->deployment = strdup(dep);
        r = asprintf(&path, "/apis/apps/v1/namespaces/%s/deployments/%s",
                     project, dep);
    } else {
        char *sel = NULL, *esc = NULL;
        r = asprintf(&sel, "%s=%s", s->cfg->instance_label, name);
        esc = r < 0 ? NULL : smo__kube_escape(sel);
        r = esc ? asprintf(&path,
                           "/apis/apps/v1/namespaces/%s/deployments?"
                           "labelSelector=%s",
                           project, esc)
                : -1;
        free(sel);
        free(esc);
    }
    if (r < 0) {
        rctx_free(c);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    r = smo__kube_request(s->api, "GET", path, NULL, NULL,
                          dep ? on_deployment : on_listed, c, st);
    free(path);
    if (r)
        rctx_free(c);
    return r;
}

int smo__karmada_replicas_get(struct smo__kstate *s, const char *project,
                              const char *name, smo_exec_cb cb, void *arg,
                              smo_status *st)
{
    return start(s, project, name, false, 0, cb, arg, st);
}

int smo__karmada_replicas_set(struct smo__kstate *s, const char *project,
                              const char *name, uint32_t replicas,
                              smo_exec_cb cb, void *arg, smo_status *st)
{
    return start(s, project, name, true, replicas, cb, arg, st);
}
