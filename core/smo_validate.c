/* `smod validate REF`: resolve a descriptor through the configured sources,
 * check it, translate its intents, and print the errors and warnings or
 * the translated services. Nothing is deployed or stored. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_hdag.h"
#include "smo_log.h"
#include "smo_offline.h"
#include "smo_rt.h"
#include "smo_units.h"
#include "smo_yaml.h"

struct fetch {
    bool done;
    int code;
    char msg[sizeof(((smo_status *)0)->msg)];
    char *text;
    size_t len;
};

static void on_text(void *arg, const smo_status *st, const char *text,
                    size_t len)
{
    struct fetch *f = arg;
    f->done = true;
    f->code = st->code;
    snprintf(f->msg, sizeof f->msg, "%s", st->msg);
    if (text) {
        f->text = malloc(len + 1);
        memcpy(f->text, text, len);
        f->text[len] = '\0';
        f->len = len;
    }
}

int smo__offline_fetch(struct smo_rt *rt, const char *ref, char **text,
                       size_t *len, smo_status *st)
{
    struct fetch f = {0};
    int r = smo__resolve_descriptor(rt, ref, on_text, &f, st);
    if (r)
        return r;
    /* Bounded: sources have their own timeouts; this is the backstop. */
    uint64_t end = uv_hrtime() + 120ull * 1000000000ull;
    while (!f.done && uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_ONCE);
    if (!f.done)
        return smo_status_set(st, SMO_ETIMEDOUT,
                              "%s: no answer from the "
                              "source in 120 s",
                              ref);
    if (f.code) {
        free(f.text);
        return smo_status_set(st, f.code, "%s", f.msg);
    }
    *text = f.text;
    *len = f.len;
    return 0;
}

size_t smo__offline_translators(struct smo_rt *rt,
                                struct smo__translator_ref *out, size_t max)
{
    size_t n = 0;
    for (smo_instance *i = smo__rt_first(rt, SMO_KIND_TRANSLATOR); i && n < max;
         i = smo__rt_next(i, SMO_KIND_TRANSLATOR)) {
        out[n].ops = &i->plugin->ops.translator;
        out[n].state = i->state;
        out[n].name = i->name;
        n++;
    }
    return n;
}

static bool stopped;
static void on_stopped(struct smo_rt *rt)
{
    (void)rt;
    stopped = true;
}

struct smo_rt *smo__offline_start(const char *conf, uint32_t kinds,
                                  int log_level)
{
    struct smo_rt *rt = smo__rt_new(NULL, conf, ".");
    rt->kind_mask = kinds;
    /* Offline commands print results; the daemon's notices are noise. */
    rt->log_override = log_level >= 0 ? log_level : SMO_LOG_WARN;
    smo__log_setup(-1, rt->log_override);
    struct smo__errlist errs;
    smo__errlist_init(&errs, 100);
    if (smo__rt_apply_config(rt, &errs)) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        fprintf(stderr, "smod: configuration in %s is invalid\n", conf);
        smo__errlist_free(&errs);
        smo__offline_stop(rt);
        return NULL;
    }
    smo__errlist_free(&errs);
    return rt;
}

void smo__offline_stop(struct smo_rt *rt)
{
    if (!rt)
        return;
    stopped = false;
    smo__rt_shutdown(rt, on_stopped);
    uint64_t end = uv_hrtime() + 60ull * 1000000000ull;
    while (!stopped && uv_hrtime() < end)
        uv_run(rt->loop, UV_RUN_ONCE);
    smo__rt_free(rt);
}

static const char *trigger_name(int t)
{
    return t == SMO__TRIGGER_EVENT  ? "event"
           : t == SMO__TRIGGER_AUTO ? "auto"
                                    : "standard";
}

json_t *smo__hdag_services_json(const struct smo__hdag *h)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < h->n_services; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        json_t *cps = json_array();
        for (size_t k = 0; k < s->n_connection_points; k++)
            json_array_append_new(cps, json_string(s->connection_points[k]));
        json_array_append_new(
            arr, json_pack("{s:s, s:f, s:I, s:I, s:i, s:i, s:s, s:o, s:s}",
                           "id", s->id, "cpu", s->res.cpu, "memory",
                           (json_int_t)s->res.memory, "storage",
                           (json_int_t)s->res.storage, "gpu", (int)s->res.gpu,
                           "replicas", (int)s->replicas, "trigger",
                           trigger_name(s->trigger), "connectionPoints", cps,
                           "ociImage", s->oci_image));
    }
    return arr;
}

static void print_table(const struct smo__hdag *h)
{
    printf("graph %s%s%s: %zu service%s%s\n", h->id,
           h->version ? " version " : "", h->version ? h->version : "",
           h->n_services, h->n_services == 1 ? "" : "s",
           h->static_placement ? " (static placement)" : "");
    printf("%-24s %7s %9s %9s %4s %8s %-9s %s\n", "SERVICE", "CPU", "MEMORY",
           "STORAGE", "GPU", "REPLICAS", "TRIGGER", "CONNECTS TO");
    for (size_t i = 0; i < h->n_services; i++) {
        const struct smo__hdag_service *s = &h->services[i];
        char mem[32], sto[32], cps[256] = "";
        smo__format_bytes(s->res.memory, mem, sizeof mem);
        smo__format_bytes(s->res.storage, sto, sizeof sto);
        size_t o = 0;
        for (size_t k = 0; k < s->n_connection_points && o < 200; k++)
            o += (size_t)snprintf(cps + o, sizeof cps - o, "%s%s",
                                  k ? ", " : "", s->connection_points[k]);
        printf("%-24s %7g %9s %9s %4u %8u %-9s %s\n", s->id, s->res.cpu, mem,
               sto, s->res.gpu, s->replicas, trigger_name(s->trigger),
               o ? cps : "-");
    }
}

int smo__cmd_validate(const char *conf, const char *ref, const char *output,
                      int log_level)
{
    struct smo_rt *rt = smo__offline_start(
        conf, (1u << SMO_KIND_SOURCE) | (1u << SMO_KIND_TRANSLATOR), log_level);
    if (!rt)
        return 2;
    char *text = NULL;
    size_t len = 0;
    smo_status st;
    smo_status_clear(&st);
    if (smo__offline_fetch(rt, ref, &text, &len, &st)) {
        fprintf(stderr, "smod: %s\n", st.msg);
        smo__offline_stop(rt);
        return 1;
    }
    struct smo__hdag_opts ho = {0};
    ho.name = ref;
    ho.require_wrapper = true;
    struct smo__hdag_report rep;
    smo__hdag_report_init(&rep);
    struct smo__hdag *h = NULL;
    struct smo__translator_ref tr[32];
    size_t ntr = smo__offline_translators(rt, tr, 32);
    int r;
    if (!ntr) {
        json_array_append_new(
            rep.errors,
            json_pack("{s:s, s:s}", "path", "(configuration)", "message",
                      "no translator is configured in conf.d"));
        r = SMO_ECONFIG;
    } else
        r = smo__hdag_load(text, len, &ho, tr, ntr, &h, &rep);
    free(text);
    bool json = output && strcmp(output, "json") == 0;
    bool yaml = output && strcmp(output, "yaml") == 0;
    if (json) {
        json_t *out = json_pack("{s:b, s:O, s:O}", "valid", r == 0, "errors",
                                rep.errors, "warnings", rep.warnings);
        if (!r) {
            json_object_set_new(out, "graph", json_string(h->id));
            json_object_set_new(out, "services", smo__hdag_services_json(h));
            json_object_set(out, "descriptor", h->doc);
        }
        char *s = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(out);
    } else {
        char *w = smo__hdag_report_text(&rep, true, ref);
        char *e = smo__hdag_report_text(&rep, false, ref);
        /* Warnings are prefixed so that they read apart from errors. */
        for (char *line = strtok(w, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "warning: %s\n", line);
        fputs(e, stderr);
        if (r)
            fprintf(stderr, "smod: %s is invalid (%zu error%s)\n", ref,
                    json_array_size(rep.errors),
                    json_array_size(rep.errors) == 1 ? "" : "s");
        else if (yaml) {
            char *y = NULL;
            size_t n = 0;
            if (smo__yaml_emit(h->doc, &y, &n, &st) == 0)
                fwrite(y, 1, n, stdout);
            free(y);
        } else
            print_table(h);
        free(w);
        free(e);
    }
    smo__hdag_free(h);
    smo__hdag_report_free(&rep);
    smo__offline_stop(rt);
    return r ? 1 : 0;
}
