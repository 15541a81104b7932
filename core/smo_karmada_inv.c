/* Karmada Cluster objects -> inventory entries (see smo_karmada_inv.h). */
#define _GNU_SOURCE
#include "smo_karmada_inv.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "smo_units.h"

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* resourceSummary.<part>.<res> as a number; a missing entry is 0 (Karmada
 * omits zero allocations). 0 on success, else -1 and `why`. */
static int quantity(const json_t *summary, const char *part, const char *res,
                    double *out, char *why, size_t n)
{
    *out = 0;
    const json_t *v = json_object_get(json_object_get(summary, part), res);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    smo_status st;
    smo_status_clear(&st);
    if (!json_is_string(v) ||
        smo__parse_quantity(json_string_value(v), out, &st) || *out < 0) {
        snprintf(why, n, "status.resourceSummary.%s[\"%s\"]: %s", part, res,
                 json_is_string(v) && st.msg[0] ? st.msg : "not a quantity");
        return -1;
    }
    return 0;
}

/* {"allocatable": a, "allocated": b, "allocating": c} for one resource. */
static json_t *resource(const json_t *summary, const char *res, char *why,
                        size_t n, bool *bad)
{
    static const char *const parts[] = {"allocatable", "allocated",
                                        "allocating"};
    json_t *o = json_object();
    for (int i = 0; i < 3; i++) {
        double v;
        if (quantity(summary, parts[i], res, &v, why, n))
            *bad = true;
        json_object_set_new(o, parts[i], json_real(v));
    }
    return o;
}

/* "key=value:Effect" of the first taint that keeps workloads off. */
static bool blocking_taint(const json_t *spec, char *why, size_t n)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(spec, "taints"), i, t)
    {
        const char *effect = str(t, "effect");
        if (!effect ||
            (strcmp(effect, "NoSchedule") && strcmp(effect, "NoExecute")))
            continue;
        const char *k = str(t, "key"), *v = str(t, "value");
        snprintf(why, n, "tainted %s%s%s:%s", k ? k : "", v ? "=" : "",
                 v ? v : "", effect);
        return true;
    }
    return false;
}

json_t *smo__karmada_cluster(const json_t *cluster)
{
    const json_t *meta = json_object_get(cluster, "metadata");
    const json_t *spec = json_object_get(cluster, "spec");
    const json_t *status = json_object_get(cluster, "status");
    const char *name = str(meta, "name");
    if (!name || !*name)
        return NULL;
    /* Ready: the condition of type Ready is True. */
    bool ready = false;
    const char *not_ready = "no Ready condition";
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = str(c, "type");
        if (!type || strcmp(type, "Ready"))
            continue;
        const char *s = str(c, "status");
        ready = s && !strcmp(s, "True");
        not_ready = str(c, "message") && *str(c, "message") ? str(c, "message")
                    : str(c, "reason")                      ? str(c, "reason")
                                       : "Ready condition not True";
        break;
    }
    char why[300] = "";
    bool available = true, bad = false;
    const json_t *summary = json_object_get(status, "resourceSummary");
    json_t *out = json_pack("{s:s, s:b}", "name", name, "ready", ready);
    json_object_set_new(out, "cpu",
                        resource(summary, "cpu", why, sizeof why, &bad));
    json_object_set_new(out, "memory",
                        resource(summary, "memory", why, sizeof why, &bad));
    json_object_set_new(out, "pods",
                        resource(summary, "pods", why, sizeof why, &bad));
    json_object_set_new(
        out, "gpu", resource(summary, SMO__KARMADA_GPU, why, sizeof why, &bad));
    if (!json_is_object(summary) ||
        !json_is_object(json_object_get(summary, "allocatable"))) {
        available = false;
        snprintf(why, sizeof why, "no resource summary");
    } else if (bad)
        available = false;
    else if (str(meta, "deletionTimestamp")) {
        available = false;
        snprintf(why, sizeof why, "being deleted");
    } else if (blocking_taint(spec, why, sizeof why))
        available = false;
    if (!ready && available)
        snprintf(why, sizeof why, "%s", not_ready);
    json_object_set_new(out, "available", json_boolean(available));
    json_object_set_new(out, "reason", json_string(why));
    const json_t *labels = json_object_get(meta, "labels");
    json_object_set_new(out, "labels",
                        json_is_object(labels) ? json_deep_copy(labels)
                                               : json_object());
    json_object_set_new(
        out, "provider",
        json_string(str(spec, "provider") ? str(spec, "provider") : ""));
    json_object_set_new(
        out, "region",
        json_string(str(spec, "region") ? str(spec, "region") : ""));
    const json_t *zones = json_object_get(spec, "zones");
    json_object_set_new(out, "zones",
                        json_is_array(zones) ? json_deep_copy(zones)
                                             : json_array());
    return out;
}

json_t *smo__karmada_inventory(const json_t *doc, smo_status *st)
{
    const json_t *items = NULL;
    if (json_is_array(doc))
        items = doc;
    else if (json_is_array(json_object_get(doc, "items")))
        items = json_object_get(doc, "items");
    else if (json_is_object(json_object_get(doc, "metadata"))) {
        json_t *one = smo__karmada_cluster(doc);
        if (!one) {
            smo_status_set(st, SMO_EINVAL, "the cluster has no metadata.name");
            return NULL;
        }
        json_t *arr = json_array();
        json_array_append_new(arr, one);
        return arr;
    } else {
        smo_status_set(st, SMO_EINVAL,
                       "not a Karmada ClusterList: expected an object with "
                       "\"items\" (kubectl get clusters -o json), a Cluster, "
                       "or an array of Clusters");
        return NULL;
    }
    json_t *arr = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(items, i, c)
    {
        json_t *one = smo__karmada_cluster(c);
        if (!one) {
            smo_status_set(st, SMO_EINVAL, "items[%zu]: no metadata.name", i);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, one);
    }
    return arr;
}
