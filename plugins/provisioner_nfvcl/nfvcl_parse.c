/* NFVCL payloads: parsers of its answers and builders of its request
 * bodies. The answers come from another service and are treated as hostile:
 * every member is type-checked, ids are checked before they reach a URL,
 * and nothing is assumed about order or presence (the original assumed a
 * K8s blueprint, a free-text message holding the id, and `areas[0]`). */
#define _GNU_SOURCE
#include "nfvcl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

bool smo__nfvcl_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (!n || n > SMO__NFVCL_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return false;
    return true;
}

bool smo__nfvcl_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return false;
    return true;
}

bool smo__nfvcl_area(const json_t *v, int64_t *area)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0 || x > INT32_MAX)
            return false;
        *area = x;
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
        return false;
    *area = strtoll(s, NULL, 10);
    return true;
}

/* A short printable string (names of networks, tenants, types). */
static const char *text(const json_t *o, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || !*s || strlen(s) > max)
        return NULL;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    return s;
}

static json_t *load(const char *body, size_t len, char *err, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", body ? len : 0,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail(err, n, "the NFVCL's answer is not JSON (line %d: %s)", je.line,
             je.text);
    return j;
}

/* ------------------------------------------------------------- VIMs -- */

int smo__nfvcl_parse_topology(const char *body, size_t len, json_t **out,
                              size_t *skipped, char *err, size_t n)
{
    *out = NULL;
    if (skipped)
        *skipped = 0;
    json_t *j = load(body, len, err, n);
    if (!j)
        return -1;
    json_t *vims = json_object_get(j, "vims");
    if (!json_is_object(j) || !(json_is_array(vims) || json_is_null(vims) ||
                                !json_object_get(j, "vims"))) {
        json_decref(j);
        return fail(err, n,
                    "the NFVCL's topology is not an object with a \"vims\" "
                    "list");
    }
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(vims, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!json_is_object(v) || !smo__nfvcl_name_ok(name)) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        json_t *areas = json_array(), *nets = json_array();
        size_t k;
        json_t *x;
        json_array_foreach(json_object_get(v, "areas"), k, x)
        {
            int64_t a;
            if (smo__nfvcl_area(x, &a))
                json_array_append_new(areas, json_integer(a));
        }
        json_array_foreach(json_object_get(v, "networks"), k, x)
        {
            const char *nn = json_string_value(x);
            if (nn && *nn && strlen(nn) <= 255)
                json_array_append_new(nets, json_string(nn));
        }
        json_t *cfg = json_object_get(v, "config");
        const char *url = text(v, "vim_url", 2048);
        const char *type = text(v, "vim_type", 64);
        const char *tenant = text(v, "vim_tenant_name", 255);
        json_t *rec = json_pack(
            "{s:s, s:O?, s:O, s:s?, s:s, s:s?, s:O, s:O?, s:O?, s:b}", "name",
            name, "area", json_array_get(areas, 0), "areas", areas, "url", url,
            "type", type ? type : "openstack", "tenant", tenant, "networks",
            nets, "mgmt_network", json_array_get(nets, 0), "service_network",
            json_array_get(nets, 1), "use_floating_ip",
            json_is_true(json_object_get(cfg, "use_floating_ip")));
        json_decref(areas);
        json_decref(nets);
        if (rec)
            json_array_append_new(list, rec);
        else if (skipped)
            (*skipped)++;
    }
    json_decref(j);
    *out = list;
    return 0;
}

/* -------------------------------------------------------- blueprints -- */

int smo__nfvcl_parse_blue_id(const char *body, size_t len, char *id, size_t idn,
                             char *err, size_t n)
{
    if (idn)
        id[0] = '\0';
    json_t *j = load(body, len, err, n);
    if (!j)
        return -1;
    const char *s = json_string_value(json_object_get(j, "id"));
    char word[SMO__NFVCL_ID_MAX + 2] = "";
    if (!s) {
        /* Older NFVCLs answer only {"detail": "Blueprint K8SQX7 created"}. */
        const char *d = json_string_value(json_object_get(j, "detail"));
        const char *p = d ? strstr(d, "Blueprint ") : NULL;
        if (p) {
            p += strlen("Blueprint ");
            size_t w = strcspn(p, " \t\r\n.,;:'\"");
            if (w && w < sizeof word) {
                memcpy(word, p, w);
                word[w] = '\0';
                s = word;
            }
        }
    }
    if (!s) {
        json_decref(j);
        return fail(err, n,
                    "the NFVCL's answer names no blueprint (no \"id\", no "
                    "\"Blueprint ID\" in \"detail\")");
    }
    if (!smo__nfvcl_id_ok(s) || strlen(s) >= idn) {
        int r = fail(err, n,
                     "the NFVCL's answer has an invalid blueprint id "
                     "\"%.80s\"",
                     s);
        json_decref(j);
        return r;
    }
    snprintf(id, idn, "%s", s);
    json_decref(j);
    return 0;
}

/* A blueprint that is a Kubernetes cluster: its type says so, or, when it
 * has none, its state has a master area. */
static bool is_k8s(const json_t *b)
{
    const char *t = json_string_value(json_object_get(b, "type"));
    if (t)
        return !strncasecmp(t, "k8s", 3) || !strcasecmp(t, "kubernetes");
    return json_is_object(
        json_object_get(json_object_get(b, "state"), "master_area"));
}

int smo__nfvcl_parse_blue_list(const char *body, size_t len, json_t **out,
                               size_t *skipped, char *err, size_t n)
{
    *out = NULL;
    if (skipped)
        *skipped = 0;
    json_t *j = load(body, len, err, n);
    if (!j)
        return -1;
    /* Some NFVCL versions wrap the list: {"blueprints": [...]}. */
    json_t *arr = json_is_array(j) ? j : json_object_get(j, "blueprints");
    if (!json_is_array(arr)) {
        json_decref(j);
        return fail(err, n, "the NFVCL's blueprint list is not a list");
    }
    json_t *list = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b)
    {
        const char *id = json_string_value(json_object_get(b, "id"));
        if (!json_is_object(b) || !smo__nfvcl_id_ok(id) || !is_k8s(b)) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        json_t *state = json_object_get(b, "state");
        json_t *ma = json_object_get(state, "master_area");
        int64_t area = 0;
        bool has_area = smo__nfvcl_area(json_object_get(ma, "area_id"), &area);
        json_t *w = json_object_get(state, "progressive_worker_number");
        json_t *flavor = json_object_get(json_object_get(b, "create_config"),
                                         "master_flavors");
        json_t *rec = json_pack(
            "{s:s, s:s?, s:s?, s:o?, s:s?, s:s?, s:o?, s:O?}", "id", id, "type",
            text(b, "type", 64), "status", text(b, "status", 64), "area",
            has_area ? json_integer(area) : NULL, "mgmt_network",
            text(ma, "mgmt_net", 255), "service_network",
            text(ma, "service_net", 255), "workers",
            json_is_integer(w) && json_integer_value(w) >= 0
                ? json_integer(json_integer_value(w))
                : NULL,
            "master_flavor", json_is_object(flavor) ? flavor : NULL);
        if (rec)
            json_array_append_new(list, rec);
        else if (skipped)
            (*skipped)++;
    }
    json_decref(j);
    *out = list;
    return 0;
}

/* ---------------------------------------------------- request bodies -- */

static bool ipv4(const char *s, bool prefix)
{
    int a, b, c, d, p = 0, used = 0;
    if (!s)
        return false;
    if (prefix) {
        if (sscanf(s, "%3d.%3d.%3d.%3d/%2d%n", &a, &b, &c, &d, &p, &used) != 5)
            return false;
    } else if (sscanf(s, "%3d.%3d.%3d.%3d%n", &a, &b, &c, &d, &used) != 4)
        return false;
    return (size_t)used == strlen(s) && a >= 0 && a < 256 && b >= 0 &&
           b < 256 && c >= 0 && c < 256 && d >= 0 && d < 256 && p >= 0 &&
           p <= 32;
}

/* Append "; " + message to the error list. */
static void add(char *err, size_t n, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *err, size_t n, size_t *used, const char *fmt, ...)
{
    if (!err || *used + 1 >= n)
        return;
    if (*used)
        *used += (size_t)snprintf(err + *used, n - *used, "; ");
    if (*used >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(err + *used, n - *used, fmt, ap);
    va_end(ap);
    if (w > 0)
        *used += (size_t)w;
    if (*used >= n)
        *used = n - 1;
}

static json_t *network(const json_t *req, const char *key, char *err, size_t n,
                       size_t *used)
{
    json_t *o = json_object_get(req, key);
    if (!json_is_object(o)) {
        add(err, n, used, "%s: required, {name, cidr, gateway}", key);
        return NULL;
    }
    const char *name = text(o, "name", 255);
    const char *cidr = json_string_value(json_object_get(o, "cidr"));
    const char *gw = json_string_value(json_object_get(o, "gateway"));
    bool ok = true;
    if (!name) {
        add(err, n, used, "%s.name: required", key);
        ok = false;
    }
    if (!ipv4(cidr, true)) {
        add(err, n, used, "%s.cidr: an IPv4 prefix like 192.168.10.0/24", key);
        ok = false;
    }
    if (!ipv4(gw, false)) {
        add(err, n, used, "%s.gateway: an IPv4 address", key);
        ok = false;
    }
    if (!ok)
        return NULL;
    return json_pack("{s:s, s:b, s:s, s:n, s:b, s:s, s:s}", "name", name,
                     "external", 0, "type", "vxlan", "vid", "dhcp", 1, "cidr",
                     cidr, "gateway_ip", gw);
}

int smo__nfvcl_topology_body(const json_t *req, const char *default_topology,
                             json_t **body, json_t **vim, char *err, size_t n)
{
    *body = NULL;
    *vim = NULL;
    size_t used = 0;
    if (err && n)
        err[0] = '\0';
    if (!json_is_object(req))
        return fail(err, n, "the request must be a JSON object");
    const char *name = json_string_value(json_object_get(req, "vim_name"));
    if (!name)
        add(err, n, &used, "vim_name: required");
    else if (!smo__nfvcl_name_ok(name))
        add(err, n, &used,
            "vim_name: \"%.64s\" is not a DNS-1123 label (a-z, 0-9, '-', at "
            "most 63)",
            name);
    int64_t area = 0;
    if (!json_object_get(req, "pop_area"))
        add(err, n, &used, "pop_area: required");
    else if (!smo__nfvcl_area(json_object_get(req, "pop_area"), &area))
        add(err, n, &used, "pop_area: a non-negative integer");
    const char *tenant = text(req, "vim_tenant_name", 255);
    const char *user = text(req, "vim_user", 255);
    const char *pw = json_string_value(json_object_get(req, "vim_password"));
    const char *url = text(req, "vim_url", 2048);
    if (!tenant)
        add(err, n, &used, "vim_tenant_name: required");
    if (!user)
        add(err, n, &used, "vim_user: required");
    if (!pw || !*pw)
        add(err, n, &used, "vim_password: required");
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        add(err, n, &used, "vim_url: an http(s) URL");
    const char *type = json_string_value(json_object_get(req, "vim_type"));
    if (type && strcasecmp(type, "openstack"))
        add(err, n, &used, "vim_type: only openstack is supported");
    json_t *fip = json_object_get(req, "use_floating_ip");
    if (fip && !json_is_boolean(fip))
        add(err, n, &used, "use_floating_ip: a boolean");
    json_t *ins = json_object_get(req, "insecure");
    if (ins && !json_is_boolean(ins))
        add(err, n, &used, "insecure: a boolean");
    const char *topo = json_string_value(json_object_get(req, "topology"));
    if (json_object_get(req, "topology") && (!topo || !*topo))
        add(err, n, &used, "topology: a topology id");
    json_t *mgmt = network(req, "mgmt_network", err, n, &used);
    json_t *svc = network(req, "service_network", err, n, &used);
    if (used) {
        json_decref(mgmt);
        json_decref(svc);
        return -1;
    }
    const char *mname = json_string_value(json_object_get(mgmt, "name"));
    const char *sname = json_string_value(json_object_get(svc, "name"));
    /* The second network of the original's body carries an "ids" list. */
    json_object_set_new(svc, "ids", json_array());
    json_t *b = json_pack(
        "{s:s, s:n, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
        "s:{s:b, s:s, s:b}, s:[s,s], s:[I]}], s:[], s:[o,o], s:[], s:[], "
        "s:[]}",
        "id", topo ? topo : default_topology, "callback", "vims", "name", name,
        "vim_type", "openstack", "schema_version", "1.0", "vim_url", url,
        "vim_tenant_name", tenant, "vim_user", user, "vim_password", pw,
        "config", "insecure", ins ? json_is_true(ins) : 1, "APIversion", "v3.3",
        "use_floating_ip", json_is_true(fip), "networks", mname, sname, "areas",
        (json_int_t)area, "kubernetes", "networks", mgmt, svc, "routers",
        "pdus", "prometheus_srv");
    if (!b)
        return fail(err, n, "cannot build the topology body");
    *vim = json_pack("{s:s, s:I, s:[I], s:s, s:s, s:s, s:[s,s], s:s, s:s, "
                     "s:b, s:s}",
                     "name", name, "area", (json_int_t)area, "areas",
                     (json_int_t)area, "url", url, "type", "openstack",
                     "tenant", tenant, "networks", mname, sname, "mgmt_network",
                     mname, "service_network", sname, "use_floating_ip",
                     json_is_true(fip), "topology",
                     topo ? topo : default_topology);
    *body = b;
    return 0;
}

json_t *smo__nfvcl_k8s_body(int64_t area, const char *mgmt_net,
                            const char *service_net, int64_t workers,
                            int64_t service_ips)
{
    json_t *a = json_pack(
        "{s:I, s:b, s:s, s:[], s:I, s:I}", "area_id", (json_int_t)area,
        "is_master_area", 1, "mgmt_net", mgmt_net, "additional_networks",
        "service_net_required_ip_number", (json_int_t)service_ips,
        "worker_replicas", (json_int_t)workers);
    if (a && service_net)
        json_array_append_new(json_object_get(a, "additional_networks"),
                              json_string(service_net));
    return a ? json_pack("{s:[o]}", "areas", a) : NULL;
}

json_t *smo__nfvcl_add_node_body(int64_t area, const char *mgmt_net,
                                 const char *service_net, int64_t workers)
{
    return json_pack("{s:[{s:I, s:b, s:s, s:s?, s:I}]}", "areas", "area_id",
                     (json_int_t)area, "is_master_area", 0, "mgmt_net",
                     mgmt_net, "service_net", service_net, "worker_replicas",
                     (json_int_t)workers);
}

static bool secret_key(const char *k)
{
    return strcasestr(k, "password") || strcasestr(k, "secret") ||
           strcasestr(k, "token");
}

void smo__nfvcl_scrub(json_t *j)
{
    /* Bounded by the document: each value is visited once. */
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(j, tmp, k, v)
        {
            if (secret_key(k))
                json_object_del(j, k);
            else
                smo__nfvcl_scrub(v);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) smo__nfvcl_scrub(v);
    }
}
