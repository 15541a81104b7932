#define _GNU_SOURCE
#include "routes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The original SMO's routes (both API generations: GET actions of V2, POST
 * of V3) and SMO's own. Order matters only for documentation. */
const struct api_route smo__api_routes[] = {
    {"GET", "/healthz", NULL, ROLE_NONE, K_HEALTH, NULL},
    {"GET", "/readyz", "system.ready", ROLE_NONE, K_READY, NULL},
    {"GET", "/metrics", "system.metrics", ROLE_READ, K_METRICS, NULL},
    {"GET", "/openapi.json", NULL, ROLE_NONE, K_OPENAPI, NULL},
    {"GET", "/docs", NULL, ROLE_NONE, K_DOCS, NULL},
    {"GET", "/ui", NULL, ROLE_NONE, K_UI, NULL},
    {"GET", "/version", "system.version", ROLE_READ, K_CALL, NULL},
    {"GET", "/project/{project}/graphs", "graph.list", ROLE_READ, K_LIST,
     "graphs"},
    {"POST", "/project/{project}/graphs", "graph.deploy", ROLE_ADMIN,
     K_DESCRIPTOR, "deploy"},
    {"GET", "/graphs", "graph.list", ROLE_READ, K_LIST, "graphs"},
    {"POST", "/graphs/plan", "graph.plan", ROLE_READ, K_DESCRIPTOR, "plan"},
    {"GET", "/graphs/{name}", "graph.get", ROLE_READ, K_CALL, NULL},
    {"DELETE", "/graphs/{name}", "graph.remove", ROLE_ADMIN, K_ACTION,
     "remove"},
    {"GET|POST", "/graphs/{name}/start", "graph.start", ROLE_ADMIN, K_ACTION,
     "start"},
    {"GET|POST", "/graphs/{name}/stop", "graph.stop", ROLE_ADMIN, K_ACTION,
     "stop"},
    {"GET|POST", "/graphs/{name}/placement", "graph.place", ROLE_ADMIN,
     K_ACTION, "place"},
    {"GET", "/graphs/{name}/scaling", "graph.scaling", ROLE_READ, K_CALL, NULL},
    {"GET", "/operations", "operation.list", ROLE_READ, K_CALL, NULL},
    {"GET", "/operations/{id}", "operation.get", ROLE_READ, K_CALL, NULL},
    {"GET", "/events", "events.list", ROLE_READ, K_CALL, NULL},
    {"POST", "/alerts", "alerts.receive", ROLE_ALERTS, K_ALERTS, NULL},
    {"GET", "/clusters", "cluster.list", ROLE_READ, K_CLUSTERS, NULL},
    {"GET", "/clusters/", "cluster.list", ROLE_READ, K_CLUSTERS, NULL},
    {"POST", "/clusters/sync", "cluster.sync", ROLE_ADMIN, K_CLUSTERS, NULL},
    {"POST", "/v1/reload", "system.reload", ROLE_ADMIN, K_CALL, NULL},
    /* NFVCL provisioning (the original's V2 routes; docs/provisioning.md).
     * The VIM sync is a GET in the original but writes: admin. */
    {"GET|POST", "/vims/sync/nfvcl_vims", "vim.sync", ROLE_ADMIN, K_CALL, NULL},
    {"GET", "/vims/smo_vims", "vim.list", ROLE_READ, K_CALL, NULL},
    {"POST", "/vims/smo_vims", "vim.register", ROLE_ADMIN, K_BODY, "create"},
    {"GET", "/vims/smo_vims/{id}", "vim.get", ROLE_READ, K_CALL, NULL},
    {"DELETE", "/vims/smo_vims/{id}", "vim.delete", ROLE_ADMIN, K_CALL, NULL},
    {"GET", "/os_k8s/clusters", "provision.list", ROLE_READ, K_LIST,
     "clusters"},
    {"POST", "/os_k8s/clusters", "provision.create", ROLE_ADMIN, K_BODY,
     "create"},
    {"GET", "/os_k8s/cluster/{id}", "provision.get", ROLE_READ, K_CALL, NULL},
    {"DELETE", "/os_k8s/cluster/{id}", "provision.delete", ROLE_ADMIN, K_CALL,
     NULL},
    {"POST", "/os_k8s/scale-out/{id}", "provision.scale_out", ROLE_ADMIN,
     K_BODY, NULL},
    {"POST", "/os_k8s/sync/nfvcl_k8s", "provision.sync", ROLE_ADMIN, K_CALL,
     NULL},
};
const size_t smo__api_n_routes =
    sizeof smo__api_routes / sizeof smo__api_routes[0];

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *smo__api_unescape(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int l = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                free(out);
                return NULL;
            }
            c = h * 16 + l;
            i += 2;
        } else if (c == '+')
            c = ' ';
        if (c < 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

static bool method_in(const char *list, const char *m, size_t ml)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, "|");
        if (n == ml && !strncmp(p, m, ml))
            return true;
        p += n;
        if (*p == '|')
            p++;
    }
    return false;
}

/* A variable's segment decoded (non-empty, no '/', UTF-8) and set in
 * `into` under the name between `name` and `name_end`. */
static bool capture(json_t *into, const char *name, const char *name_end,
                    const char *seg, size_t n)
{
    char *val = smo__api_unescape(seg, n);
    if (!val || !*val || strchr(val, '/')) {
        free(val);
        return false;
    }
    char key[32];
    snprintf(key, sizeof key, "%.*s", (int)(name_end - name), name);
    json_t *js = json_string(val);
    free(val);
    if (!js) /* not UTF-8 */
        return false;
    json_object_set_new(into, key, js);
    return true;
}

/* Match one pattern: its literal parts, and a segment of 1 to 253 bytes
 * for each variable. With `vars` (a fresh object, the caller's to drop on
 * failure) each variable is also decoded and captured; without, only the
 * shape is tested and nothing is allocated. Why both: a request is tried
 * against every route in turn, and allocating for each route tried was a
 * sixth of the list read's work on the loop; only a route whose shape
 * fits is matched in full. */
static bool match_pattern(const char *pat, const char *path, size_t len,
                          json_t *vars)
{
    size_t i = 0;
    bool ok = true;
    for (const char *p = pat; *p && ok;) {
        if (*p != '{') {
            ok = i < len && path[i] == *p;
            i++;
            p++;
            continue;
        }
        const char *end = strchr(p, '}');
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        ok = end && i > start && i - start <= 253 &&
             (!vars || capture(vars, p + 1, end, path + start, i - start));
        p = end ? end + 1 : p + 1;
    }
    return ok && i == len;
}

int smo__api_match(const char *method, size_t method_len, const char *path,
                   size_t path_len, const struct api_route **out, json_t *vars)
{
    bool path_seen = false;
    *out = NULL;
    for (size_t r = 0; r < smo__api_n_routes; r++) {
        const struct api_route *rt = &smo__api_routes[r];
        if (!match_pattern(rt->pattern, path, path_len, NULL))
            continue;
        json_t *v = json_object();
        if (!match_pattern(rt->pattern, path, path_len, v)) {
            json_decref(v);
            continue;
        }
        path_seen = true;
        if (method_in(rt->methods, method, method_len)) {
            json_object_update(vars, v);
            json_decref(v);
            *out = rt;
            return MATCH_OK;
        }
        json_decref(v);
    }
    return path_seen ? MATCH_NO_METHOD : MATCH_NO_PATH;
}

size_t smo__api_allow(const char *path, size_t path_len, char *buf, size_t n)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    size_t o = 0;
    if (n)
        buf[0] = '\0';
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        bool hit = false;
        for (size_t r = 0; r < smo__api_n_routes && !hit; r++) {
            const struct api_route *rt = &smo__api_routes[r];
            if (!method_in(rt->methods, methods[m], strlen(methods[m])) ||
                !match_pattern(rt->pattern, path, path_len, NULL))
                continue;
            json_t *v = json_object();
            hit = match_pattern(rt->pattern, path, path_len, v);
            json_decref(v);
        }
        if (hit && o + strlen(methods[m]) + 3 < n)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "",
                                  methods[m]);
    }
    return o;
}

int smo__api_query(const char *q, size_t len, json_t *out)
{
    size_t i = 0, count = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        if (j > i) {
            if (++count > 32)
                return -1;
            const char *eq = memchr(q + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
            char *k = smo__api_unescape(q + i, kl);
            char *v =
                eq ? smo__api_unescape(eq + 1, j - i - kl - 1) : strdup("");
            json_t *js = v ? json_string(v) : NULL;
            if (!k || !v || !js || !*k) {
                free(k);
                free(v);
                json_decref(js);
                return -1;
            }
            json_object_set_new(out, k, js);
            free(k);
            free(v);
        }
        i = j + 1;
    }
    return 0;
}
