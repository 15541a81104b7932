/* Fuzz executor_karmada's two parsers of foreign input: kubeconfig files
 * (YAML -> context, credentials, base64 data) and Karmada ClusterLists
 * (JSON -> inventory, Kubernetes quantities). The first byte picks one:
 * 'k' a kubeconfig, 'c' a ClusterList, 'q' a quantity; others try all. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_inv.h"
#include "kubeconfig.h"
#include "smo_yaml.h"

static void kubeconfig(const char *s, size_t n)
{
    struct smo__yaml_opts o = {0};
    o.max_nodes = 100000;
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    if (smo__yaml_parse(s, n, &o, &doc, &st) != 0)
        return;
    struct smo__kubeconfig kc;
    char err[400];
    const char *ctxs[] = {NULL, "k", "karmada-apiserver"};
    for (size_t i = 0; i < 3; i++) {
        err[0] = '\0';
        if (smo__kubeconfig_parse(doc, "/x/config", ctxs[i], &kc, err,
                                  sizeof err) == 0) {
            /* What reaches the HTTP client is always an http(s) URL and
             * never ends with '/'. */
            if (!kc.server || strncmp(kc.server, "http", 4) ||
                (*kc.server && kc.server[strlen(kc.server) - 1] == '/') ||
                !kc.context || !kc.path)
                abort();
            if (kc.insecure && (kc.ca_file || kc.ca_pem))
                abort();
            smo__kubeconfig_free(&kc);
        } else if (!err[0])
            abort(); /* every refusal says why */
    }
    json_decref(doc);
}

static void clusters(const char *s, size_t n)
{
    json_t *list = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (!list)
        return;
    char err[200] = "";
    size_t skipped = 0;
    json_t *inv = smo__kinv_build(list, NULL, &skipped, err, sizeof err);
    if (!inv && !err[0])
        abort();
    size_t i;
    json_t *c;
    json_array_foreach(inv, i, c)
    {
        static const char *const res[] = {"cpu", "memory", "gpu", "pods"};
        for (int r = 0; r < 4; r++) {
            json_t *o = json_object_get(c, res[r]);
            if (!json_is_number(json_object_get(o, "allocatable")) ||
                !json_is_number(json_object_get(o, "allocated")) ||
                !json_is_number(json_object_get(o, "allocating")))
                abort();
        }
        if (!json_is_string(json_object_get(c, "name")) ||
            !json_is_string(json_object_get(c, "reason")) ||
            !json_is_boolean(json_object_get(c, "ready")))
            abort();
    }
    json_decref(inv);
    json_decref(list);
}

static void quantity(const char *s, size_t n)
{
    char buf[128];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = 0;
    if (smo__kinv_quantity(buf, &v) == 0 && !isfinite(v))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0]) {
    case 'k':
        kubeconfig(s, n);
        break;
    case 'c':
        clusters(s, n);
        break;
    case 'q':
        quantity(s, n);
        break;
    default:
        kubeconfig(s, n);
        clusters(s, n);
        quantity(s, n);
    }
    return 0;
}
