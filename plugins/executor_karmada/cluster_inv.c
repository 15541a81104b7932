/* Karmada ClusterList -> inventory. Pure (jansson and libc): see
 * cluster_inv.h. The shape is exactly executor_sim's, so the engine cannot
 * tell a real federation from the simulated one. */
#define _GNU_SOURCE
#include "cluster_inv.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ quantities -- */

/* Kubernetes' grammar (apimachinery resource.Quantity):
 *   quantity  ::= signedNumber suffix
 *   suffix    ::= binarySI | decimalSI | decimalExponent
 *   binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
 *   decimalSI ::= n | u | m | "" | k | M | G | T | P | E
 *   decimalExponent ::= (e | E) signedNumber
 * "1E" is one exa, "1E3" a thousand: an exponent needs digits after it. */
int smo__kinv_quantity(const char *text, double *out)
{
    if (!text)
        return -1;
    const char *p = text;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    const char *num = p;
    size_t digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits++;
    }
    /* Kubernetes caps numbers far below this; the bound keeps strtod's
     * input on the stack and the value finite. */
    size_t nlen = (size_t)(p - num);
    if (!digits || nlen > 40)
        return -1;
    char nb[48];
    memcpy(nb, num, nlen);
    nb[nlen] = '\0';
    double v = strtod(nb, NULL);
    static const struct {
        const char *s;
        double m;
    } suf[] = {{"", 1},
               {"Ki", 1024.0},
               {"Mi", 1048576.0},
               {"Gi", 1073741824.0},
               {"Ti", 1099511627776.0},
               {"Pi", 1125899906842624.0},
               {"Ei", 1152921504606846976.0},
               {"n", 1e-9},
               {"u", 1e-6},
               {"m", 1e-3},
               {"k", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"P", 1e15},
               {"E", 1e18}};
    double mult = 0;
    for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++)
        if (!strcmp(p, suf[i].s)) {
            mult = suf[i].m;
            break;
        }
    if (mult == 0 && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        bool eneg = false;
        if (*q == '+' || *q == '-')
            eneg = *q++ == '-';
        const char *ds = q;
        long e = 0;
        while (isdigit((unsigned char)*q) && q - ds < 4)
            e = e * 10 + (*q++ - '0');
        if (q == ds || *q)
            return -1;
        mult = pow(10.0, (double)(eneg ? -e : e));
    }
    if (mult == 0)
        return -1;
    v *= mult;
    if (!isfinite(v))
        return -1;
    *out = neg ? -v : v;
    return 0;
}

/* ------------------------------------------------------- inventory -- */

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One resource list value: a quantity string (the API's form) or a plain
 * number; absent is 0. Returns -1 for something else. */
static int qty(const json_t *list, const char *name, double *out)
{
    const json_t *v = json_object_get(list, name);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out) ? 0 : -1;
    }
    return smo__kinv_quantity(json_string_value(v), out);
}

static const char *const default_gpus[] = {"nvidia.com/gpu", NULL};

/* {allocatable, allocated, allocating} of one resource (GPUs: the sum of
 * the configured extended resources). */
static json_t *resource(const json_t *summary, const char *const *names,
                        char *why, size_t whylen)
{
    static const char *const parts[] = {"allocatable", "allocated",
                                        "allocating"};
    double v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        const json_t *list = json_object_get(summary, parts[i]);
        for (const char *const *n = names; *n; n++) {
            double x;
            if (qty(list, *n, &x)) {
                if (why && !*why) {
                    const char *txt =
                        json_string_value(json_object_get(list, *n));
                    snprintf(why, whylen,
                             "resourceSummary.%s[\"%s\"]: invalid quantity "
                             "\"%.40s\"",
                             parts[i], *n, txt ? txt : "(not a string)");
                }
                continue;
            }
            v[i] += x;
        }
    }
    return json_pack("{s:f, s:f, s:f}", "allocatable", v[0], "allocated", v[1],
                     "allocating", v[2]);
}

static json_t *labels_of(const json_t *meta)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(meta, "labels"), k, v)
    {
        if (json_is_string(v))
            json_object_set(out, k, v);
    }
    return out;
}

static json_t *zones_of(const json_t *spec)
{
    json_t *out = json_array();
    size_t i;
    json_t *z;
    /* spec.zones replaced the single spec.zone in Karmada 1.7. */
    json_array_foreach(json_object_get(spec, "zones"), i, z)
    {
        if (json_is_string(z))
            json_array_append(out, z);
    }
    if (!json_array_size(out) && str(spec, "zone") && *str(spec, "zone"))
        json_array_append_new(out, json_string(str(spec, "zone")));
    return out;
}

/* The Ready condition: true only for status "True". `reason` explains a
 * cluster that is not ready. */
static bool ready_of(const json_t *status, char *reason, size_t n)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = str(c, "type");
        if (!type || strcmp(type, "Ready"))
            continue;
        const char *s = str(c, "status");
        if (s && !strcmp(s, "True"))
            return true;
        const char *r = str(c, "reason");
        const char *m = str(c, "message");
        snprintf(reason, n, "Ready=%s%s%s%s%s", s ? s : "Unknown",
                 r && *r ? ": " : "", r ? r : "", m && *m ? ": " : "",
                 m ? m : "");
        return false;
    }
    snprintf(reason, n, "no Ready condition reported yet");
    return false;
}

static bool valid_name(const char *s)
{
    /* Names reach helm values and log lines: anything Karmada accepts
     * (DNS-1123 subdomain) and nothing else. */
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) ||
              c == '-' || c == '.'))
            return false;
    }
    return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

static json_t *cluster(const json_t *item, const struct smo__kinv_opts *opts)
{
    const json_t *meta = json_object_get(item, "metadata");
    const json_t *spec = json_object_get(item, "spec");
    const json_t *status = json_object_get(item, "status");
    const char *name = str(meta, "name");
    char reason[400] = "";
    bool ready = ready_of(status, reason, sizeof reason);
    if (json_object_get(meta, "deletionTimestamp")) {
        ready = false;
        snprintf(reason, sizeof reason, "being removed from the federation");
    }
    const json_t *summary = json_object_get(status, "resourceSummary");
    char why[200] = "";
    bool available = json_is_object(summary) &&
                     json_is_object(json_object_get(summary, "allocatable"));
    if (!available)
        snprintf(why, sizeof why,
                 "no resourceSummary: Karmada has not collected this "
                 "cluster's resources yet");
    const char *const *gpus =
        opts && opts->gpu_resources ? opts->gpu_resources : default_gpus;
    static const char *const cpu_n[] = {"cpu", NULL};
    static const char *const mem_n[] = {"memory", NULL};
    static const char *const pods_n[] = {"pods", NULL};
    json_t *cpu = resource(summary, cpu_n, why, sizeof why);
    json_t *mem = resource(summary, mem_n, why, sizeof why);
    json_t *pods = resource(summary, pods_n, why, sizeof why);
    json_t *gpu = resource(summary, gpus, why, sizeof why);
    if (*why)
        available = false;
    /* Not ready wins: it is what keeps the cluster out of placement. */
    const char *r = !ready ? reason : !available ? why : "";
    const char *provider = str(spec, "provider");
    const char *region = str(spec, "region");
    json_t *o = json_pack("{s:s, s:b, s:b, s:s, s:b}", "name", name, "ready",
                          ready, "available", available, "reason", r,
                          "counts_own_releases", 0);
    json_object_set_new(o, "cpu", cpu);
    json_object_set_new(o, "memory", mem);
    json_object_set_new(o, "gpu", gpu);
    json_object_set_new(o, "pods", pods);
    json_object_set_new(o, "labels", labels_of(meta));
    json_object_set_new(o, "provider", json_string(provider ? provider : ""));
    json_object_set_new(o, "region", json_string(region ? region : ""));
    json_object_set_new(o, "zones", zones_of(spec));
    return o;
}

json_t *smo__kinv_build(const json_t *list, const struct smo__kinv_opts *opts,
                        size_t *skipped, char *err, size_t errlen)
{
    const json_t *items = list;
    if (skipped)
        *skipped = 0;
    if (json_is_object(list)) {
        const char *kind = str(list, "kind");
        items = json_object_get(list, "items");
        if (kind && strcmp(kind, "ClusterList")) {
            snprintf(err, errlen, "expected a ClusterList, got kind \"%.60s\"",
                     kind);
            return NULL;
        }
        /* The API server answers "items": null for an empty list. */
        if (json_is_null(items) || (!items && kind))
            return json_array();
    }
    if (!json_is_array(items)) {
        snprintf(err, errlen, "expected a ClusterList with an items array");
        return NULL;
    }
    json_t *out = json_array();
    json_t *seen = json_object();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *name = str(json_object_get(it, "metadata"), "name");
        if (!json_is_object(it) || !valid_name(name) ||
            json_object_get(seen, name)) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        json_object_set_new(seen, name, json_true());
        json_array_append_new(out, cluster(it, opts));
    }
    json_decref(seen);
    return out;
}
