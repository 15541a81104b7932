#define _GNU_SOURCE
/* system.* methods: what the daemon says about itself (health, readiness,
 * plugins, metrics, events, reload). */
#include <stdlib.h>
#include <string.h>

#include "smo_engine.h"
#include "smo_log.h"
#include "smo_rt.h"

static void m_version(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    (void)rt;
    (void)params;
    char abi[16];
    snprintf(abi, sizeof abi, "%u.%u", SMO_ABI_MAJOR, SMO_ABI_MINOR);
    smo__reply_ok(r,
                  json_pack("{s:s, s:s}", "version", SMO_VERSION, "abi", abi));
}

static void m_health(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    (void)params;
    json_t *d = smo__rt_describe(rt);
    json_object_set_new(d, "status",
                        json_string(rt->shutting_down ? "stopping" : "ok"));
    json_object_set_new(
        d, "uptime_ms",
        json_integer((json_int_t)(uv_now(rt->loop) - rt->start_ms)));
    json_object_set_new(d, "reloads",
                        json_pack("{s:I, s:I, s:s?}", "ok",
                                  (json_int_t)rt->reloads_ok, "failed",
                                  (json_int_t)rt->reloads_failed, "last_error",
                                  rt->last_reload_error));
    /* Load balancers send writes to the leader: "role" says which. */
    json_object_set_new(
        d, "role",
        json_string(smo__engine_follower(rt->engine) ? "follower" : "leader"));
    smo__reply_ok(r, d);
}

static void m_ready(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    (void)params;
    if (!rt->ready || rt->shutting_down)
        smo__reply_err(r, SMO_EUNAVAIL, "%s",
                       rt->shutting_down ? "shutting down" : "starting");
    else
        smo__reply_ok(r,
                      json_pack("{s:b, s:s}", "ready", 1, "role",
                                smo__engine_follower(rt->engine) ? "follower"
                                                                 : "leader"));
}

static void m_plugins(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    (void)params;
    json_t *arr = json_array();
    for (struct smo__plugin *p = rt->loader.loaded; p; p = p->next)
        json_array_append_new(arr, smo__plugin_describe(p));
    smo__reply_ok(r, json_pack("{s:o}", "plugins", arr));
}

static void m_metrics(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    (void)params;
    char *text = smo__metrics_render(rt->metrics);
    /* Plugin health is read at scrape time from the active set, so an
     * instance removed by a reload leaves no stale series behind. */
    size_t len = text ? strlen(text) : 0, cap = len + 256;
    for (smo_instance *i = rt->active; i; i = i->next)
        cap += 96 + strlen(i->name) + strlen(i->plugin->desc.name);
    char *out = malloc(cap);
    if (!out) {
        free(text);
        smo__reply_err(r, SMO_ENOMEM, "out of memory");
        return;
    }
    size_t o = (size_t)snprintf(
        out, cap,
        "%s# HELP smo_instance_up Configured plugin instances (1: "
        "running).\n# TYPE smo_instance_up gauge\n",
        text ? text : "");
    for (smo_instance *i = rt->active; i; i = i->next)
        o += (size_t)snprintf(
            out + o, cap - o,
            "smo_instance_up{kind=\"%s\",instance=\"%s\",plugin=\"%s\"} "
            "%d\n",
            smo__kind_name(i->kind), i->name, i->plugin->desc.name,
            i->phase == SMO__STARTED);
    smo__reply_ok(r, json_pack("{s:s}", "text", out));
    free(out);
    free(text);
}

static void m_events(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    json_int_t after = json_integer_value(json_object_get(params, "after"));
    json_int_t limit = json_integer_value(json_object_get(params, "limit"));
    const char *graph = json_string_value(json_object_get(params, "graph"));
    if (after < 0 || limit < 0) {
        smo__reply_err(r, SMO_EINVAL, "after and limit must be >= 0");
        return;
    }
    smo__reply_ok(r, json_pack("{s:o}", "events",
                               smo__events_list(rt->events, (uint64_t)after,
                                                graph, (size_t)limit)));
}

static void m_reload(struct smo_rt *rt, json_t *params, struct smo__reply *r)
{
    (void)params;
    json_t *report = NULL;
    int rc = smo__rt_reload(rt, &report);
    if (rc) {
        char *msg = json_dumps(json_object_get(report, "errors"), 0);
        smo__reply_err(r, SMO_ECONFIG, "configuration rejected: %s",
                       msg ? msg : "");
        free(msg);
        json_decref(report);
        return;
    }
    smo__reply_ok(r, report);
}

void smo__system_methods_register(struct smo_rt *rt)
{
    smo__method_register(rt, "system.version", m_version);
    smo__method_register(rt, "system.health", m_health);
    smo__method_register(rt, "system.ready", m_ready);
    smo__method_register(rt, "system.plugins", m_plugins);
    smo__method_register(rt, "system.metrics", m_metrics);
    smo__method_register(rt, "system.events", m_events);
    smo__method_register(rt, "system.reload", m_reload);
}
