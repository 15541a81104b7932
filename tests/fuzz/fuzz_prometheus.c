/* Fuzz monitor_prometheus's readers of foreign input: the Prometheus HTTP
 * API's query answer (smo__prom_parse_query), a rules file read back and
 * merged as rules mode "file" does (YAML reader, smo__prom_file_apply,
 * written as JSON) and a PrometheusRule object from the Kubernetes API
 * merged as mode "prometheusrule" does (smo__prom_crd_apply). The first
 * byte picks one: 'f' rules file, 'c' PrometheusRule; any other byte is a
 * query answer with HTTP status statuses[byte % 8] ('0'..'7' pick them in
 * order). The rest is the body. Files and objects get both one graph's
 * rules set and removed.
 * Invariants: a query answer is a vector or one scalar sample whose values
 * are finite numbers or null with their spelling; a refusal has a code and
 * a message; a merge touches only the graph's group (or, in an object, the
 * graph's rules), says truly whether it changed anything, and the file
 * written reads back to what was written. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "smo_yaml.h"

#define PROJECT "shop"
#define GRAPH   "my-webapp-graph"
#define FGROUP  "smo/" PROJECT "/" GRAPH /* smo__prom_group_name */
#define CGROUP  "smo-alerts"             /* prometheusrule.group default */
#define NONE    ((size_t)-1)

static const long statuses[8] = {200, 400, 422, 503, 500, 401, 403, 502};

/* What smo__prom_rules_build makes of one event-triggered service (with
 * an extra label), as in the seeds. */
static const char rules_text[] =
    "[{\"alert\": \"my-webapp-graph-api-backend\", \"expr\": "
    "\"sum(rate(http_requests_total{job=\\\"api-backend\\\"}[1m])) > 1\", "
    "\"for\": \"0s\", \"labels\": {\"severity\": \"warning\", \"graph\": "
    "\"" GRAPH "\", \"project\": \"" PROJECT "\", \"service\": "
    "\"api-backend\", \"event\": \"high-rate\", \"condition\": \"ANY\"}, "
    "\"annotations\": {\"summary\": \"api-backend high-rate\", "
    "\"description\": \"rate above threshold\"}}]";

/* json_equal, with two absent values equal too. */
static bool same(const json_t *a, const json_t *b)
{
    return a || b ? json_equal(a, b) : true;
}

static void refused(int rc, const smo_status *st, int want)
{
    if (rc >= 0 || rc != st->code || !st->msg[0] || (want && rc != want))
        abort();
}

/* ------------------------------------------------------------- query -- */

static void check_sample(const json_t *s, bool scalar)
{
    const json_t *labels = json_object_get(s, "labels");
    const json_t *v = json_object_get(s, "value");
    const char *sp = json_string_value(json_object_get(s, "special"));
    if (!json_is_object(labels) || (scalar && json_object_size(labels)) ||
        !json_is_real(json_object_get(s, "time")))
        abort();
    if (json_is_real(v)) {
        if (sp || !isfinite(json_real_value(v)))
            abort();
    } else if (!json_is_null(v) || !sp ||
               (strcmp(sp, "NaN") && strcmp(sp, "+Inf") && strcmp(sp, "-Inf")))
        abort();
}

static void query(const char *body, size_t len, long http)
{
    json_t *out = NULL;
    smo_status st;
    smo_status_clear(&st);
    int rc = smo__prom_parse_query(body, len, http, &out, &st);
    if (rc) {
        refused(rc, &st, 0);
        if (out)
            abort();
        switch (rc) {
        case SMO_EINVAL:
        case SMO_ETIMEDOUT:
        case SMO_EUNAVAIL:
        case SMO_ECANCELED:
        case SMO_EAUTH:
        case SMO_EPERM:
        case SMO_EEXTERNAL:
        case SMO_EPROTO:
            return;
        default:
            abort();
        }
    }
    const char *type = json_string_value(json_object_get(out, "type"));
    const json_t *samples = json_object_get(out, "samples");
    if (st.code || !type || !json_is_array(samples))
        abort();
    bool scalar = !strcmp(type, "scalar");
    if ((!scalar && strcmp(type, "vector")) ||
        (scalar && json_array_size(samples) != 1))
        abort();
    size_t i;
    json_t *s;
    json_array_foreach(samples, i, s) check_sample(s, scalar);
    char *text = json_dumps(out, JSON_COMPACT); /* the engine records it */
    if (!text)
        abort();
    free(text);
    json_decref(out);
}

/* -------------------------------------------------------- rules file -- */

static const char *name_of(const json_t *g)
{
    return json_string_value(json_object_get(g, "name"));
}

static size_t find_group(const json_t *groups, const char *name, bool last)
{
    size_t i, at = NONE;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        const char *n = name_of(g);
        if (n && !strcmp(n, name)) {
            at = i;
            if (!last)
                break;
        }
    }
    return at;
}

/* Every group but `skip` (NONE: all) the same, in the same places. */
static void others_kept(const json_t *now, const json_t *was, size_t skip)
{
    for (size_t j = 0; j < json_array_size(was); j++)
        if (j != skip &&
            !json_equal(json_array_get(now, j), json_array_get(was, j)))
            abort();
}

static void file_apply(json_t *doc, const json_t *rules)
{
    /* As the file was, with the empty groups list a file without one
     * gets: compared with the result, it tells whether anything changed. */
    json_t *was = json_deep_copy(doc);
    json_t *og = json_object_get(was, "groups");
    if (json_is_object(was) && (!og || json_is_null(og))) {
        og = json_array();
        json_object_set_new(was, "groups", og);
    }
    bool changed = true;
    smo_status st;
    smo_status_clear(&st);
    int rc = smo__prom_file_apply(doc, FGROUP, rules, 60000, &changed, &st);
    if (rc) {
        refused(rc, &st, SMO_EPROTO);
        if (changed || (json_is_object(doc) && json_is_array(og)))
            abort();
        json_decref(was);
        return;
    }
    const json_t *groups = json_object_get(doc, "groups");
    if (!json_is_array(groups) || changed == json_equal(doc, was))
        abort();
    size_t at = find_group(og, FGROUP, false);
    size_t nb = json_array_size(og), na = json_array_size(groups);
    if (json_array_size(rules)) {
        size_t k = at == NONE ? nb : at;
        const json_t *g = json_array_get(groups, k);
        const char *n = name_of(g);
        if (na != (at == NONE ? nb + 1 : nb) || !n || strcmp(n, FGROUP) ||
            !json_equal(json_object_get(g, "rules"), rules))
            abort();
        others_kept(groups, og, k);
    } else if (at == NONE) {
        if (!json_equal(groups, og))
            abort();
    } else {
        if (na + 1 != nb)
            abort();
        for (size_t j = 0; j < na; j++)
            if (!json_equal(json_array_get(groups, j),
                            json_array_get(og, j < at ? j : j + 1)))
                abort();
    }
    /* Written as read_done writes it, read back as the next change reads
     * it: what SMO wrote must come back unchanged. */
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        abort();
    size_t tl = strlen(text);
    if (tl <= SMO__YAML_MAX_BYTES_DEFAULT) {
        json_t *back = NULL;
        if (smo__yaml_parse(text, tl, NULL, &back, &st) ||
            !json_equal(back, doc))
            abort();
        json_decref(back);
    }
    free(text);
    json_decref(was);
}

static void rules_file(const char *text, size_t len, const json_t *rules,
                       const json_t *none)
{
    /* A smaller alias budget than the plugin's keeps runs fast; the
     * reader's limits are fuzz_yaml's business. */
    struct smo__yaml_opts o = {0};
    o.max_nodes = 20000;
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    /* As read_done: a blank file is an empty rules file. */
    if (text[strspn(text, " \t\r\n")] == '\0')
        doc = json_pack("{s:[]}", "groups");
    else if (smo__yaml_parse(text, len, &o, &doc, &st)) {
        refused(st.code, &st, 0);
        return;
    }
    json_t *copy = json_deep_copy(doc);
    file_apply(doc, rules);
    file_apply(copy, none);
    json_decref(copy);
    json_decref(doc);
}

/* ---------------------------------------------------- PrometheusRule -- */

static bool owned(const json_t *rule)
{
    const json_t *l = json_object_get(rule, "labels");
    const char *p = json_string_value(json_object_get(l, "project"));
    const char *g = json_string_value(json_object_get(l, "graph"));
    return p && g && !strcmp(p, PROJECT) && !strcmp(g, GRAPH);
}

static void crd_apply(json_t *obj, const json_t *rules)
{
    json_t *was = json_deep_copy(obj);
    bool changed = true;
    smo_status st;
    smo_status_clear(&st);
    int rc =
        smo__prom_crd_apply(obj, CGROUP, PROJECT, GRAPH, rules, &changed, &st);
    if (rc) {
        refused(rc, &st, SMO_EPROTO);
        if (changed)
            abort();
        json_decref(was);
        return;
    }
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *groups = json_object_get(spec, "groups");
    const json_t *os = json_object_get(was, "spec");
    const json_t *og = json_object_get(os, "groups");
    if (!json_is_object(spec) || !json_is_array(groups) ||
        (og && !json_is_null(og) && !json_is_array(og)) ||
        !same(json_object_get(obj, "metadata"),
              json_object_get(was, "metadata")))
        abort();
    size_t at = find_group(og, CGROUP, true);
    size_t nb = json_array_size(og);
    if (at == NONE) {
        /* No group yet: created only to hold rules. */
        const json_t *g = json_array_get(groups, nb);
        if (changed != (json_array_size(rules) > 0) ||
            json_array_size(groups) != nb + changed ||
            (changed && !json_equal(json_object_get(g, "rules"), rules)))
            abort();
        others_kept(groups, og, NONE);
    } else {
        /* Other graphs' rules in the group kept, in order, then ours. */
        json_t *want = json_array();
        size_t i;
        json_t *x;
        const json_t *old = json_object_get(json_array_get(og, at), "rules");
        json_array_foreach(old, i, x)
        {
            if (!owned(x))
                json_array_append(want, x);
        }
        json_array_extend(want, (json_t *)rules);
        const json_t *now =
            json_object_get(json_array_get(groups, at), "rules");
        if (json_array_size(groups) != nb || !json_equal(now, want) ||
            changed == json_equal(old, now))
            abort();
        json_decref(want);
        others_kept(groups, og, at);
    }
    char *body = json_dumps(obj, JSON_COMPACT); /* write_obj PUTs it */
    if (!body)
        abort();
    free(body);
    json_decref(was);
}

static void prometheusrule(const char *body, size_t len, const json_t *rules,
                           const json_t *none)
{
    /* As on_got: anything but an object is refused before the merge. */
    json_t *obj = json_loadb(body, len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return;
    }
    json_t *copy = json_deep_copy(obj);
    crd_apply(obj, rules);
    crd_apply(copy, none);
    json_decref(copy);
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *rules, *none;
    if (!rules) {
        rules = json_loads(rules_text, 0, NULL);
        none = json_array();
        if (!rules)
            abort();
    }
    if (!size || size > 1 << 20)
        return 0;
    /* Bodies reach the parsers NUL-terminated (struct smo_http_response,
     * the rules file reader). */
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0]) {
    case 'f':
        rules_file(s, size - 1, rules, none);
        break;
    case 'c':
        prometheusrule(s, size - 1, rules, none);
        break;
    default:
        query(s, size - 1, statuses[data[0] % 8]);
    }
    free(s);
    return 0;
}
