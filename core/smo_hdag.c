/* HDAG parsing, validation and canonicalisation. The input is copied into a
 * canonical document that is normalised in place while it is checked (every
 * problem collected with its path), then a typed model is built over it. */
#define _GNU_SOURCE
#include "smo_hdag.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smo_units.h"
#include "smo_yaml.h"

#define MAX_QUERY_BYTES  8192
#define MAX_STRING_BYTES 4096
#define MAX_REPLICAS     10000

struct vctx {
    struct smo__hdag_report *r;
    const json_t *lines; /* input key path -> line, may be NULL */
    bool wrapped;        /* the input had the hdaGraph wrapper */
    json_t *ids;         /* service id -> index */
    const char *id_list; /* "a, b, c" for messages */
};

/* ------------------------------------------------------------ report -- */

void smo__hdag_report_init(struct smo__hdag_report *r)
{
    r->errors = json_array();
    r->warnings = json_array();
}

void smo__hdag_report_free(struct smo__hdag_report *r)
{
    json_decref(r->errors);
    json_decref(r->warnings);
    r->errors = r->warnings = NULL;
}

static long line_of(const struct vctx *c, const char *path)
{
    if (!c->lines)
        return 0;
    /* Paths are canonical ("hdaGraph.x"); the line map follows the input. */
    const char *p = path;
    if (!c->wrapped && strncmp(p, "hdaGraph", 8) == 0)
        p = p[8] == '.' ? p + 9 : p + 8;
    char *q = strdup(p);
    long line = 0;
    while (q) {
        json_t *l = json_object_get(c->lines, *q ? q : "$");
        if (l) {
            line = (long)json_integer_value(l);
            break;
        }
        if (!*q)
            break;
        char *dot = strrchr(q, '.'), *br = strrchr(q, '[');
        char *cut = br && (!dot || br > dot) ? br : dot;
        if (cut)
            *cut = '\0';
        else
            *q = '\0';
    }
    free(q);
    return line;
}

static void add(struct vctx *c, json_t *list, const char *path, const char *fmt,
                va_list ap) __attribute__((format(printf, 4, 0)));
static void add(struct vctx *c, json_t *list, const char *path, const char *fmt,
                va_list ap)
{
    char msg[700];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *o = json_pack("{s:s, s:s}", "path", path, "message", msg);
    long line = line_of(c, path);
    if (line)
        json_object_set_new(o, "line", json_integer(line));
    json_array_append_new(list, o);
}

static void err(struct vctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err(struct vctx *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(c, c->r->errors, path, fmt, ap);
    va_end(ap);
}

static void warn(struct vctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct vctx *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(c, c->r->warnings, path, fmt, ap);
    va_end(ap);
}

char *smo__hdag_report_text(const struct smo__hdag_report *r, bool warnings,
                            const char *name)
{
    json_t *list = warnings ? r->warnings : r->errors;
    size_t cap = 256, len = 0, i;
    char *out = malloc(cap);
    json_t *e;
    out[0] = '\0';
    json_array_foreach(list, i, e)
    {
        char line[1200];
        json_int_t ln = json_integer_value(json_object_get(e, "line"));
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        json_int_t col = json_integer_value(json_object_get(e, "column"));
        char pos[300] = "";
        /* "name:line[:col]: " as far as known, then the path if any. */
        if (name && ln && col)
            snprintf(pos, sizeof pos, "%s:%lld:%lld: ", name, (long long)ln,
                     (long long)col);
        else if (name && ln)
            snprintf(pos, sizeof pos, "%s:%lld: ", name, (long long)ln);
        else if (name)
            snprintf(pos, sizeof pos, "%s: ", name);
        else if (!*path && ln)
            snprintf(pos, sizeof pos, "%lld:%lld: ", (long long)ln,
                     (long long)col);
        int n = snprintf(line, sizeof line, "%s%s%s%s\n", pos, path,
                         *path ? ": " : "", msg);
        if (n < 0)
            continue;
        if ((size_t)n >= sizeof line)
            n = sizeof line - 1;
        if (len + (size_t)n + 1 > cap) {
            while (len + (size_t)n + 1 > cap)
                cap *= 2;
            out = realloc(out, cap);
        }
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    return out;
}

/* ----------------------------------------------------------- helpers -- */

bool smo__boolish(const json_t *v, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    static const char *const t[] = {"true", "yes", "on"};
    static const char *const f[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static const char *kind_of(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* A value for messages: strings quoted and cut, others by kind. */
static const char *shown(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t l = strlen(s), o = 0;
        buf[o++] = '"';
        for (size_t i = 0; i < l && o + 6 < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (i >= 60) {
                memcpy(buf + o, "...", 3);
                o += 3;
                break;
            }
            if (ch < 0x20 || ch == '"' || ch == '\\')
                o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
            else
                buf[o++] = (char)ch;
        }
        buf[o++] = '"';
        buf[o] = '\0';
        return buf;
    }
    if (json_is_number(v) || json_is_boolean(v) || json_is_null(v)) {
        char *d = json_dumps(v, JSON_ENCODE_ANY);
        snprintf(buf, n, "%s", d ? d : "?");
        free(d);
        return buf;
    }
    snprintf(buf, n, "%s", kind_of(v));
    return buf;
}

static char *kpath(const char *path, const char *key)
{
    return smo__path_key(path, key);
}

static char *ipath(const char *path, size_t i)
{
    return smo__path_index(path, i);
}

/* Report keys of `obj` not in `known` as warnings (they are kept). */
static void unknown_keys(struct vctx *c, const json_t *obj, const char *path,
                         const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool ok = false;
        for (const char *const *p = known; *p && !ok; p++)
            ok = strcmp(*p, k) == 0;
        if (!ok) {
            char *p = kpath(path, k);
            warn(c, p, "unknown field (kept, not used by SMO)");
            free(p);
        }
    }
}

/* Get `key` of `obj` as an object, inserting {} when absent and allowed. */
static json_t *want_object(struct vctx *c, json_t *obj, const char *key,
                           const char *path, bool required)
{
    json_t *v = json_object_get(obj, key);
    char *p = kpath(path, key);
    if (!v || json_is_null(v)) {
        if (required) {
            err(c, p, "required field is missing (expected a mapping)");
            free(p);
            return NULL;
        }
        v = json_object();
        json_object_set_new(obj, key, v);
    } else if (!json_is_object(v)) {
        char sv[128];
        err(c, p, "expected a mapping, found %s", shown(v, sv, sizeof sv));
        v = NULL;
    }
    free(p);
    return v;
}

/* Optional string field; numbers are accepted and turned into strings where
 * `numbers_ok` (version: 1.0). */
static const char *want_string(struct vctx *c, json_t *obj, const char *key,
                               const char *path, bool required, bool numbers_ok)
{
    json_t *v = json_object_get(obj, key);
    char *p = kpath(path, key);
    const char *res = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            err(c, p, "required field is missing (expected a string)");
        if (v)
            json_object_del(obj, key);
    } else if (json_is_string(v)) {
        if (json_string_length(v) > MAX_STRING_BYTES && !required)
            err(c, p, "longer than %d bytes", MAX_STRING_BYTES);
        else
            res = json_string_value(v);
    } else if (numbers_ok && json_is_number(v)) {
        char buf[64];
        if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else
            snprintf(buf, sizeof buf, "%g", json_real_value(v));
        json_object_set_new(obj, key, json_string(buf));
        res = json_string_value(json_object_get(obj, key));
    } else {
        char sv[128];
        err(c, p, "expected a string, found %s", shown(v, sv, sizeof sv));
    }
    free(p);
    return res;
}

/* A boolean flag, normalised to a JSON boolean; absent -> default. */
static bool want_bool(struct vctx *c, json_t *obj, const char *key,
                      const char *path, bool dflt)
{
    json_t *v = json_object_get(obj, key);
    bool b = dflt;
    if (!v || json_is_null(v)) {
        json_object_set_new(obj, key, json_boolean(dflt));
        return dflt;
    }
    if (!smo__boolish(v, &b)) {
        char *p = kpath(path, key);
        char sv[128];
        err(c, p, "expected true or false, found %s", shown(v, sv, sizeof sv));
        free(p);
        return dflt;
    }
    json_object_set_new(obj, key, json_boolean(b));
    return b;
}

/* {enabled: bool} flag objects; a bare boolean is accepted and wrapped. */
static bool want_flag(struct vctx *c, json_t *obj, const char *key,
                      const char *path)
{
    json_t *v = json_object_get(obj, key);
    bool b = false;
    char *p = kpath(path, key);
    if (!v || json_is_null(v)) {
        free(p);
        return false;
    }
    if (smo__boolish(v, &b)) {
        json_object_set_new(obj, key, json_pack("{s:b}", "enabled", b));
    } else if (json_is_object(v)) {
        b = want_bool(c, v, "enabled", p, false);
    } else {
        char sv[128];
        err(c, p, "expected {enabled: true|false}, found %s",
            shown(v, sv, sizeof sv));
    }
    free(p);
    return b;
}

static bool ref_char_ok(unsigned char ch)
{
    return isalnum(ch) || strchr("._~:/@%+-", ch);
}

/* oci://, http(s):// or registry references; never an option. */
static bool check_reference(const char *s, char *why, size_t n)
{
    size_t l = strlen(s);
    if (l == 0) {
        snprintf(why, n, "empty");
        return false;
    }
    if (l > 1024) {
        snprintf(why, n, "longer than 1024 characters");
        return false;
    }
    if (s[0] == '-') {
        snprintf(why, n, "it must not start with '-'");
        return false;
    }
    for (size_t i = 0; i < l; i++)
        if (!ref_char_ok((unsigned char)s[i])) {
            snprintf(why, n, "character %zu is not allowed in a reference",
                     i + 1);
            return false;
        }
    const char *rest = s;
    if (strncmp(s, "oci://", 6) == 0)
        rest = s + 6;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strstr(s, "://")) {
        snprintf(why, n, "only oci://, http:// and https:// are accepted");
        return false;
    }
    if (!isalnum((unsigned char)rest[0])) {
        snprintf(why, n, "the %s must start with a letter or digit",
                 rest == s ? "reference" : "host");
        return false;
    }
    if (strstr(rest, "..") || strstr(rest, "//")) {
        snprintf(why, n, "it must not contain \"..\" or \"//\"");
        return false;
    }
    if (rest != s && !strchr(rest, '/')) {
        snprintf(why, n, "expected %.*shost/repository", (int)(rest - s), s);
        return false;
    }
    return true;
}

/* A list of service ids (connectionPoints, coLocation, dependencies). */
static void want_service_refs(struct vctx *c, json_t *obj, const char *key,
                              const char *path, const char *self)
{
    json_t *v = json_object_get(obj, key);
    char *p = kpath(path, key);
    if (!v || json_is_null(v)) {
        json_object_set_new(obj, key, json_array());
        free(p);
        return;
    }
    if (!json_is_array(v)) {
        char sv[128];
        err(c, p, "expected a list of service ids, found %s",
            shown(v, sv, sizeof sv));
        free(p);
        return;
    }
    size_t i;
    json_t *e;
    json_t *seen = json_object();
    json_array_foreach(v, i, e)
    {
        char *ep = ipath(p, i);
        char sv[128];
        if (!json_is_string(e))
            err(c, ep, "expected a service id, found %s",
                shown(e, sv, sizeof sv));
        else if (strcmp(json_string_value(e), self) == 0)
            err(c, ep, "a service cannot refer to itself");
        else if (!json_object_get(c->ids, json_string_value(e)))
            err(c, ep, "unknown service %s (services of this graph: %s)",
                shown(e, sv, sizeof sv), c->id_list);
        else if (json_object_get(seen, json_string_value(e)))
            warn(c, ep, "%s is listed twice", shown(e, sv, sizeof sv));
        else
            json_object_set_new(seen, json_string_value(e), json_true());
        free(ep);
    }
    json_decref(seen);
    free(p);
}

static void want_cluster_names(struct vctx *c, json_t *obj, const char *key,
                               const char *path)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (v)
            json_object_del(obj, key);
        return;
    }
    char *p = kpath(path, key);
    if (!json_is_array(v)) {
        char sv[128];
        err(c, p, "expected a list of cluster names, found %s",
            shown(v, sv, sizeof sv));
        free(p);
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char *ep = ipath(p, i);
        char sv[128];
        smo_status st;
        if (!json_is_string(e))
            err(c, ep, "expected a cluster name, found %s",
                shown(e, sv, sizeof sv));
        else if (smo__check_dns_label(json_string_value(e), 253, &st))
            err(c, ep, "%s", st.msg);
        free(ep);
    }
    free(p);
}

/* --------------------------------------------------------- sections -- */

static const char *const compute_keys[] = {"cpu", "ram", "storage", "gpu",
                                           NULL};

static void check_size_field(struct vctx *c, json_t *compute, const char *key,
                             const char *path, bool *missing)
{
    json_t *v = json_object_get(compute, key);
    char *p = kpath(path, key);
    *missing = false;
    if (!v || json_is_null(v)) {
        *missing = true;
        json_object_set_new(compute, key, json_string("small"));
    } else if (!json_is_string(v) && !json_is_number(v)) {
        char sv[128];
        err(c, p,
            "expected a class name such as small or a quantity such as "
            "250m, found %s",
            shown(v, sv, sizeof sv));
    } else if (json_is_string(v) && json_string_length(v) == 0) {
        err(c, p,
            "expected a class name such as small or a quantity such "
            "as 250m, found an empty string");
    }
    free(p);
}

static void check_compute(struct vctx *c, json_t *intent, const char *path)
{
    json_t *compute = want_object(c, intent, "compute", path, false);
    if (!compute)
        return;
    char *p = kpath(path, "compute");
    unknown_keys(c, compute, p, compute_keys);
    bool missing;
    check_size_field(c, compute, "cpu", p, &missing);
    if (missing) {
        char *cp = kpath(p, "cpu");
        warn(c, cp, "not set: using the class small");
        free(cp);
    }
    check_size_field(c, compute, "ram", p, &missing);
    check_size_field(c, compute, "storage", p, &missing);
    json_t *gpu = json_object_get(compute, "gpu");
    char *gp = kpath(p, "gpu");
    bool b;
    if (!gpu || json_is_null(gpu))
        json_object_set_new(compute, "gpu", json_pack("{s:b}", "enabled", 0));
    else if (smo__boolish(gpu, &b))
        json_object_set_new(compute, "gpu", json_pack("{s:b}", "enabled", b));
    else if (!json_is_object(gpu)) {
        char sv[128];
        err(c, gp, "expected {enabled: true|false}, found %s",
            shown(gpu, sv, sizeof sv));
    } else {
        static const char *const gk[] = {"enabled", "count", NULL};
        unknown_keys(c, gpu, gp, gk);
        want_bool(c, gpu, "enabled", gp, false);
        json_t *cnt = json_object_get(gpu, "count");
        if (cnt && !json_is_null(cnt) &&
            (!json_is_integer(cnt) || json_integer_value(cnt) < 1 ||
             json_integer_value(cnt) > 64)) {
            char *cp = kpath(gp, "count");
            char sv[128];
            err(c, cp, "expected an integer from 1 to 64, found %s",
                shown(cnt, sv, sizeof sv));
            free(cp);
        }
    }
    free(gp);
    free(p);
}

static void check_network(struct vctx *c, json_t *intent, const char *path,
                          const char *self)
{
    json_t *net = json_object_get(intent, "network");
    if (!net || json_is_null(net)) {
        if (net)
            json_object_del(intent, "network");
        return;
    }
    char *p = kpath(path, "network");
    if (!json_is_object(net)) {
        char sv[128];
        err(c, p, "expected a mapping, found %s", shown(net, sv, sizeof sv));
        free(p);
        return;
    }
    static const char *const nk[] = {"deviceProximity", "latencies", NULL};
    if (json_object_get(net, "connectionPoints")) {
        char *cp = kpath(p, "connectionPoints");
        warn(c, cp,
             "not read here: connection points belong in "
             "deployment.intent.connectionPoints");
        free(cp);
    }
    unknown_keys(c, net, p, nk);
    want_flag(c, net, "deviceProximity", p);
    json_t *lat = json_object_get(net, "latencies");
    char *lp = kpath(p, "latencies");
    if (lat && !json_is_null(lat) && !json_is_array(lat)) {
        char sv[128];
        err(c, lp, "expected a list, found %s", shown(lat, sv, sizeof sv));
    } else if (json_is_array(lat)) {
        size_t i;
        json_t *e;
        json_array_foreach(lat, i, e)
        {
            char *ep = ipath(lp, i);
            if (!json_is_object(e)) {
                char sv[128];
                err(c, ep,
                    "expected {connectionPoint, qos, maxLatency}, "
                    "found %s",
                    shown(e, sv, sizeof sv));
                free(ep);
                continue;
            }
            static const char *const lk[] = {"connectionPoint", "qos",
                                             "maxLatency", NULL};
            unknown_keys(c, e, ep, lk);
            const char *cp =
                want_string(c, e, "connectionPoint", ep, true, false);
            char *cpp = kpath(ep, "connectionPoint");
            if (cp && strcmp(cp, self) == 0)
                err(c, cpp, "a service cannot refer to itself");
            else if (cp && !json_object_get(c->ids, cp)) {
                char sv[128];
                err(c, cpp, "unknown service %s (services of this graph: %s)",
                    shown(json_object_get(e, "connectionPoint"), sv, sizeof sv),
                    c->id_list);
            }
            free(cpp);
            want_string(c, e, "qos", ep, false, false);
            json_t *ml = json_object_get(e, "maxLatency");
            if (ml && !json_is_null(ml)) {
                char *mp = kpath(ep, "maxLatency");
                int64_t ms;
                smo_status st;
                if (json_is_number(ml)) {
                    if (json_number_value(ml) < 0)
                        err(c, mp, "a latency cannot be negative");
                } else if (!json_is_string(ml) ||
                           smo__parse_duration(json_string_value(ml), &ms,
                                               &st)) {
                    char sv[128];
                    err(c, mp, "expected a duration such as 20ms, found %s",
                        shown(ml, sv, sizeof sv));
                }
                free(mp);
            }
            free(ep);
        }
    }
    free(lp);
    free(p);
}

static const char *const event_keys[] = {"id", "source", "condition", NULL};
static const char *const cond_keys[] = {"promQuery", "gracePeriod",
                                        "description", NULL};

static void check_event(struct vctx *c, json_t *ev, const char *ep,
                        json_t *seen)
{
    if (!json_is_object(ev)) {
        char sv[128];
        err(c, ep, "expected {id, source, condition}, found %s",
            shown(ev, sv, sizeof sv));
        return;
    }
    unknown_keys(c, ev, ep, event_keys);
    const char *id = want_string(c, ev, "id", ep, true, false);
    if (id) {
        char *ip = kpath(ep, "id");
        smo_status st;
        if (smo__check_dns_label(id, 63, &st))
            err(c, ip, "%s (event ids name alert rules)", st.msg);
        else if (json_object_get(seen, id))
            err(c, ip, "duplicate event id \"%s\"", id);
        else
            json_object_set_new(seen, id, json_true());
        free(ip);
    }
    json_t *cond = want_object(c, ev, "condition", ep, true);
    if (!cond)
        return;
    char *cp = kpath(ep, "condition");
    unknown_keys(c, cond, cp, cond_keys);
    const char *q = want_string(c, cond, "promQuery", cp, true, false);
    char *qp = kpath(cp, "promQuery");
    if (q && !*q)
        err(c, qp, "empty query");
    else if (q && strlen(q) > MAX_QUERY_BYTES)
        err(c, qp, "longer than %d bytes", MAX_QUERY_BYTES);
    free(qp);
    json_t *g = json_object_get(cond, "gracePeriod");
    char *gp = kpath(cp, "gracePeriod");
    if (!g || json_is_null(g))
        json_object_set_new(cond, "gracePeriod", json_string("0s"));
    else if (json_is_integer(g) && json_integer_value(g) >= 0) {
        char buf[40];
        smo__format_duration(json_integer_value(g) * 1000, buf, sizeof buf);
        json_object_set_new(cond, "gracePeriod", json_string(buf));
    } else {
        int64_t ms;
        smo_status st;
        char sv[128];
        if (!json_is_string(g))
            err(c, gp, "expected a duration such as 30s, 1m or 2h, found %s",
                shown(g, sv, sizeof sv));
        else if (smo__parse_duration(json_string_value(g), &ms, &st))
            err(c, gp, "%s", st.msg);
    }
    free(gp);
    want_string(c, cond, "description", cp, false, false);
    free(cp);
}

static void check_trigger(struct vctx *c, json_t *dep, const char *path,
                          const char *self)
{
    json_t *t = json_object_get(dep, "trigger");
    char *p = kpath(path, "trigger");
    if (!t || json_is_null(t)) {
        json_object_set_new(dep, "trigger",
                            json_pack("{s:s}", "type", "standard"));
        free(p);
        return;
    }
    if (!json_is_object(t)) {
        char sv[128];
        err(c, p, "expected a mapping such as {type: standard}, found %s",
            shown(t, sv, sizeof sv));
        free(p);
        return;
    }
    static const char *const tk[] = {"type", "auto", "event", NULL};
    unknown_keys(c, t, p, tk);
    json_t *type = json_object_get(t, "type");
    json_t *aut = json_object_get(t, "auto");
    json_t *ev = json_object_get(t, "event");
    const char *kind = NULL;
    char *typ = kpath(p, "type");
    if (type && !json_is_null(type)) {
        const char *s = json_string_value(type);
        if (s && strcasecmp(s, "standard") == 0)
            kind = "standard";
        else if (s && strcasecmp(s, "auto") == 0)
            kind = "auto";
        else if (s && strcasecmp(s, "event") == 0)
            kind = "event";
        else {
            char sv[128];
            err(c, typ,
                "unknown trigger type %s (expected standard, auto or "
                "event)",
                shown(type, sv, sizeof sv));
            free(typ);
            free(p);
            return;
        }
    } else
        kind = ev && !json_is_null(ev)     ? "event"
               : aut && !json_is_null(aut) ? "auto"
                                           : "standard";
    json_object_set_new(t, "type", json_string(kind));
    free(typ);

    if (strcmp(kind, "event") != 0 && ev && !json_is_null(ev)) {
        char *e = kpath(p, "event");
        err(c, e, "present but the trigger type is \"%s\"", kind);
        free(e);
    }
    if (aut && !json_is_null(aut)) {
        char *ap = kpath(p, "auto");
        if (!json_is_object(aut)) {
            char sv[128];
            err(c, ap, "expected {dependencies: [...]}, found %s",
                shown(aut, sv, sizeof sv));
        } else {
            static const char *const ak[] = {"dependencies", NULL};
            unknown_keys(c, aut, ap, ak);
            want_service_refs(c, aut, "dependencies", ap, self);
        }
        free(ap);
    }
    if (strcmp(kind, "event") == 0) {
        char *e = kpath(p, "event");
        if (!ev || json_is_null(ev)) {
            err(c, e,
                "required when the trigger type is event (expected "
                "{condition, events})");
        } else if (!json_is_object(ev)) {
            char sv[128];
            err(c, e, "expected {condition, events}, found %s",
                shown(ev, sv, sizeof sv));
        } else {
            static const char *const ek[] = {"condition", "events",
                                             "undeployOnResolved", NULL};
            unknown_keys(c, ev, e, ek);
            /* SMO's own: uninstall the service when its alert resolves
             * (absent: false, and left out of the canonical form). */
            if (json_object_get(ev, "undeployOnResolved"))
                want_bool(c, ev, "undeployOnResolved", e, false);
            json_t *cond = json_object_get(ev, "condition");
            char *cp = kpath(e, "condition");
            if (!cond || json_is_null(cond))
                json_object_set_new(ev, "condition", json_string("ANY"));
            else if (json_is_string(cond) &&
                     (strcasecmp(json_string_value(cond), "ANY") == 0 ||
                      strcasecmp(json_string_value(cond), "AND") == 0 ||
                      strcasecmp(json_string_value(cond), "ALL") == 0)) {
                bool all = strcasecmp(json_string_value(cond), "ANY") != 0;
                json_object_set_new(ev, "condition",
                                    json_string(all ? "AND" : "ANY"));
            } else {
                char sv[128];
                err(c, cp, "expected ANY or AND, found %s",
                    shown(cond, sv, sizeof sv));
            }
            free(cp);
            json_t *events = json_object_get(ev, "events");
            char *evp = kpath(e, "events");
            if (!json_is_array(events) || json_array_size(events) == 0) {
                char sv[128];
                err(c, evp, "expected a non-empty list of events, found %s",
                    !events                 ? "nothing"
                    : json_is_array(events) ? "an empty list"
                                            : shown(events, sv, sizeof sv));
            } else {
                json_t *seen = json_object();
                size_t i;
                json_t *x;
                json_array_foreach(events, i, x)
                {
                    char *xp = ipath(evp, i);
                    check_event(c, x, xp, seen);
                    free(xp);
                }
                json_decref(seen);
            }
            free(evp);
        }
        free(e);
    }
    free(p);
}

static const char *const intent_keys[] = {
    "compute", "connectionPoints", "coLocation", "network",
    "metrics", "clusters",         NULL};

static void check_intent(struct vctx *c, json_t *dep, const char *path,
                         const char *self)
{
    json_t *intent = want_object(c, dep, "intent", path, false);
    if (!intent)
        return;
    char *p = kpath(path, "intent");
    unknown_keys(c, intent, p, intent_keys);
    check_compute(c, intent, p);
    want_service_refs(c, intent, "connectionPoints", p, self);
    want_service_refs(c, intent, "coLocation", p, self);
    check_network(c, intent, p, self);
    json_t *m = json_object_get(intent, "metrics");
    if (!m || json_is_null(m))
        json_object_set_new(intent, "metrics", json_array());
    else if (!json_is_array(m)) {
        char *mp = kpath(p, "metrics");
        char sv[128];
        err(c, mp, "expected a list, found %s", shown(m, sv, sizeof sv));
        free(mp);
    }
    want_cluster_names(c, intent, "clusters", p);
    free(p);
}

static const char *const artifact_keys[] = {"ociImage", "ociConfig", "ociRun",
                                            "valuesOverwrite", NULL};

static void check_artifact(struct vctx *c, json_t *svc, const char *path)
{
    json_t *a = want_object(c, svc, "artifact", path, true);
    if (!a)
        return;
    char *p = kpath(path, "artifact");
    unknown_keys(c, a, p, artifact_keys);
    const char *img = want_string(c, a, "ociImage", p, true, false);
    if (img) {
        char why[200];
        if (!check_reference(img, why, sizeof why)) {
            char *ip = kpath(p, "ociImage");
            char sv[128];
            err(c, ip,
                "%s is not an oci://, http(s):// or registry reference (%s)",
                shown(json_object_get(a, "ociImage"), sv, sizeof sv), why);
            free(ip);
        }
    }
    json_t *oc = want_object(c, a, "ociConfig", p, false);
    if (oc) {
        char *op = kpath(p, "ociConfig");
        static const char *const ok[] = {"type", "implementer", NULL};
        unknown_keys(c, oc, op, ok);
        want_string(c, oc, "type", op, false, false);
        want_string(c, oc, "implementer", op, false, false);
        free(op);
    }
    json_t *run = json_object_get(a, "ociRun");
    if (run && !json_is_null(run) && !json_is_object(run)) {
        char *rp = kpath(p, "ociRun");
        char sv[128];
        err(c, rp,
            "expected a mapping such as {name: HELM, version: v3}, "
            "found %s",
            shown(run, sv, sizeof sv));
        free(rp);
    }
    json_t *vo = want_object(c, a, "valuesOverwrite", p, false);
    if (vo) {
        json_t *rc = json_object_get(vo, "replicaCount");
        if (rc && !(json_is_integer(rc) && json_integer_value(rc) >= 0 &&
                    json_integer_value(rc) <= MAX_REPLICAS)) {
            char *vp = kpath(p, "valuesOverwrite");
            char *rp = kpath(vp, "replicaCount");
            char sv[128];
            err(c, rp, "expected an integer from 0 to %d, found %s",
                MAX_REPLICAS, shown(rc, sv, sizeof sv));
            free(rp);
            free(vp);
        }
    }
    free(p);
}

static const char *const service_keys[] = {"id", "deployment", "artifact",
                                           NULL};

static void check_service(struct vctx *c, json_t *svc, const char *path)
{
    if (!json_is_object(svc)) {
        char sv[128];
        err(c, path,
            "expected a service mapping {id, deployment, artifact}, "
            "found %s",
            shown(svc, sv, sizeof sv));
        return;
    }
    unknown_keys(c, svc, path, service_keys);
    const char *id = json_string_value(json_object_get(svc, "id"));
    check_artifact(c, svc, path);
    json_t *dep = want_object(c, svc, "deployment", path, true);
    if (!dep)
        return;
    char *dp = kpath(path, "deployment");
    static const char *const dk[] = {"trigger", "intent", NULL};
    unknown_keys(c, dep, dp, dk);
    check_trigger(c, dep, dp, id ? id : "");
    check_intent(c, dep, dp, id ? id : "");
    free(dp);
}

static const char *const graph_keys[] = {
    "imVersion",      "id",       "version", "designer", "description",
    "hdaGraphIntent", "services", NULL};
static const char *const intent_flags[] = {"security", "highAvailability",
                                           "highPerformance",
                                           "energyEfficiency", NULL};

static void check_graph(struct vctx *c, json_t *g)
{
    const char *path = "hdaGraph";
    unknown_keys(c, g, path, graph_keys);
    const char *id = want_string(c, g, "id", path, true, false);
    if (id) {
        smo_status st;
        if (smo__check_dns_label(id, SMO__HDAG_GRAPH_ID_MAX, &st))
            err(c, "hdaGraph.id", "%s", st.msg);
    }
    want_string(c, g, "version", path, false, true);
    want_string(c, g, "imVersion", path, false, true);
    want_string(c, g, "designer", path, false, false);
    want_string(c, g, "description", path, false, false);

    json_t *gi = want_object(c, g, "hdaGraphIntent", path, false);
    if (gi) {
        const char *ip = "hdaGraph.hdaGraphIntent";
        static const char *const gk[] = {"useStaticPlacement",
                                         "security",
                                         "highAvailability",
                                         "highPerformance",
                                         "energyEfficiency",
                                         "clusters",
                                         NULL};
        unknown_keys(c, gi, ip, gk);
        want_bool(c, gi, "useStaticPlacement", ip, false);
        for (const char *const *f = intent_flags; *f; f++)
            want_flag(c, gi, *f, ip);
        want_cluster_names(c, gi, "clusters", ip);
    }

    json_t *svcs = json_object_get(g, "services");
    if (!svcs || json_is_null(svcs)) {
        err(c, "hdaGraph.services",
            "required field is missing (expected a "
            "list of services)");
        return;
    }
    if (!json_is_array(svcs)) {
        char sv[128];
        err(c, "hdaGraph.services", "expected a list of services, found %s",
            shown(svcs, sv, sizeof sv));
        return;
    }
    size_t n = json_array_size(svcs);
    if (n == 0) {
        err(c, "hdaGraph.services", "a graph needs at least one service");
        return;
    }
    if (n > SMO__HDAG_MAX_SERVICES) {
        err(c, "hdaGraph.services", "%zu services, at most %d are allowed", n,
            SMO__HDAG_MAX_SERVICES);
        return;
    }
    /* Pass 1: ids, so that references can be checked in pass 2. */
    size_t i;
    json_t *s;
    size_t list_len = 0;
    char *list = calloc(1, 1);
    json_array_foreach(svcs, i, s)
    {
        char *p = ipath("hdaGraph.services", i);
        if (json_is_object(s)) {
            const char *sid = want_string(c, s, "id", p, true, false);
            if (sid) {
                char *idp = kpath(p, "id");
                smo_status st;
                json_t *prev = json_object_get(c->ids, sid);
                if (smo__check_dns_label(sid, SMO__HDAG_SERVICE_ID_MAX, &st))
                    err(c, idp, "%s", st.msg);
                else if (prev)
                    err(c, idp,
                        "duplicate service id \"%s\" (also "
                        "hdaGraph.services[%lld].id)",
                        sid, (long long)json_integer_value(prev));
                else {
                    json_object_set_new(c->ids, sid,
                                        json_integer((json_int_t)i));
                    if (list_len < 300) {
                        size_t l = strlen(sid);
                        list = realloc(list, list_len + l + 3);
                        if (list_len) {
                            memcpy(list + list_len, ", ", 2);
                            list_len += 2;
                        }
                        memcpy(list + list_len, sid, l + 1);
                        list_len += l;
                    }
                }
                free(idp);
            }
        }
        free(p);
    }
    if (list_len >= 300) {
        list = realloc(list, list_len + 8);
        strcat(list, ", ...");
    }
    c->id_list = list;
    json_array_foreach(svcs, i, s)
    {
        char *p = ipath("hdaGraph.services", i);
        check_service(c, s, p);
        free(p);
    }
    free(list);
    c->id_list = NULL;
}

/* ----------------------------------------------------------- the model -- */

static const char **str_array(const json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    const char **v = calloc(*n ? *n : 1, sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = json_string_value(json_array_get(arr, i));
    return v;
}

static void build_service(struct smo__hdag_service *s, const json_t *j)
{
    s->json = j;
    s->id = json_string_value(json_object_get(j, "id"));
    const json_t *a = json_object_get(j, "artifact");
    s->oci_image = json_string_value(json_object_get(a, "ociImage"));
    const json_t *oc = json_object_get(a, "ociConfig");
    s->oci_type = json_string_value(json_object_get(oc, "type"));
    s->oci_implementer = json_string_value(json_object_get(oc, "implementer"));
    s->wot = s->oci_implementer && strcasecmp(s->oci_implementer, "WOT") == 0;
    s->values = json_object_get(a, "valuesOverwrite");
    const json_t *rc = json_object_get(s->values, "replicaCount");
    s->replicas = rc ? (uint32_t)json_integer_value(rc) : 1;
    const json_t *dep = json_object_get(j, "deployment");
    const json_t *in = json_object_get(dep, "intent");
    const json_t *co = json_object_get(in, "compute");
    s->cpu = json_object_get(co, "cpu");
    s->ram = json_object_get(co, "ram");
    s->storage = json_object_get(co, "storage");
    const json_t *gpu = json_object_get(co, "gpu");
    s->gpu = json_is_true(json_object_get(gpu, "enabled"));
    const json_t *cnt = json_object_get(gpu, "count");
    s->gpu_count = s->gpu ? (cnt ? (uint32_t)json_integer_value(cnt) : 1) : 0;
    s->connection_points = str_array(json_object_get(in, "connectionPoints"),
                                     &s->n_connection_points);
    s->coloc = str_array(json_object_get(in, "coLocation"), &s->n_coloc);
    s->clusters = str_array(json_object_get(in, "clusters"), &s->n_clusters);
    const json_t *net = json_object_get(in, "network");
    s->device_proximity = json_is_true(
        json_object_get(json_object_get(net, "deviceProximity"), "enabled"));
    const json_t *lat = json_object_get(net, "latencies");
    s->n_latencies = json_array_size(lat);
    s->latencies =
        calloc(s->n_latencies ? s->n_latencies : 1, sizeof *s->latencies);
    for (size_t i = 0; i < s->n_latencies; i++) {
        const json_t *e = json_array_get(lat, i);
        s->latencies[i].connection_point =
            json_string_value(json_object_get(e, "connectionPoint"));
        s->latencies[i].qos = json_string_value(json_object_get(e, "qos"));
        const json_t *ml = json_object_get(e, "maxLatency");
        int64_t ms = -1;
        smo_status st;
        if (json_is_number(ml))
            s->latencies[i].max_ms = json_number_value(ml);
        else if (json_is_string(ml) &&
                 !smo__parse_duration(json_string_value(ml), &ms, &st))
            s->latencies[i].max_ms = (double)ms;
        else
            s->latencies[i].max_ms = -1;
    }
    s->metrics = json_object_get(in, "metrics");
    const json_t *t = json_object_get(dep, "trigger");
    const char *type = json_string_value(json_object_get(t, "type"));
    s->trigger = strcmp(type, "event") == 0  ? SMO__TRIGGER_EVENT
                 : strcmp(type, "auto") == 0 ? SMO__TRIGGER_AUTO
                                             : SMO__TRIGGER_STANDARD;
    if (s->trigger == SMO__TRIGGER_EVENT) {
        const json_t *ev = json_object_get(t, "event");
        s->trigger_all =
            strcmp(json_string_value(json_object_get(ev, "condition")),
                   "AND") == 0;
        s->undeploy_on_resolved =
            json_is_true(json_object_get(ev, "undeployOnResolved"));
        const json_t *evs = json_object_get(ev, "events");
        s->n_events = json_array_size(evs);
        s->events = calloc(s->n_events ? s->n_events : 1, sizeof *s->events);
        for (size_t i = 0; i < s->n_events; i++) {
            const json_t *e = json_array_get(evs, i);
            const json_t *cond = json_object_get(e, "condition");
            struct smo__hdag_event *x = &s->events[i];
            x->id = json_string_value(json_object_get(e, "id"));
            x->prom_query =
                json_string_value(json_object_get(cond, "promQuery"));
            x->description =
                json_string_value(json_object_get(cond, "description"));
            x->grace = json_string_value(json_object_get(cond, "gracePeriod"));
            smo_status st;
            if (smo__parse_duration(x->grace, &x->grace_ms, &st))
                x->grace_ms = 0;
        }
    }
    s->res.size = sizeof s->res;
}

static struct smo__hdag *build(json_t *doc, json_t *warnings,
                               const json_t *lines, bool wrapped)
{
    struct smo__hdag *h = calloc(1, sizeof *h);
    h->doc = doc;
    h->warnings = json_incref(warnings);
    h->lines = json_incref((json_t *)lines);
    h->wrapped = wrapped;
    const json_t *g = json_object_get(doc, "hdaGraph");
    h->graph = g;
    h->id = json_string_value(json_object_get(g, "id"));
    h->version = json_string_value(json_object_get(g, "version"));
    h->designer = json_string_value(json_object_get(g, "designer"));
    h->description = json_string_value(json_object_get(g, "description"));
    const json_t *gi = json_object_get(g, "hdaGraphIntent");
    h->static_placement =
        json_is_true(json_object_get(gi, "useStaticPlacement"));
#define FLAG(k) json_is_true(json_object_get(json_object_get(gi, k), "enabled"))
    h->energy_efficiency = FLAG("energyEfficiency");
    h->high_availability = FLAG("highAvailability");
    h->high_performance = FLAG("highPerformance");
#undef FLAG
    h->clusters = str_array(json_object_get(gi, "clusters"), &h->n_clusters);
    const json_t *svcs = json_object_get(g, "services");
    h->n_services = json_array_size(svcs);
    h->services = calloc(h->n_services, sizeof *h->services);
    for (size_t i = 0; i < h->n_services; i++)
        build_service(&h->services[i], json_array_get(svcs, i));
    return h;
}

void smo__hdag_free(struct smo__hdag *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_services; i++) {
        struct smo__hdag_service *s = &h->services[i];
        free(s->connection_points);
        free(s->coloc);
        free(s->clusters);
        free(s->latencies);
        free(s->events);
    }
    free(h->services);
    free(h->clusters);
    json_decref(h->warnings);
    json_decref(h->lines);
    json_decref(h->doc);
    free(h);
}

/* ------------------------------------------------------------ entries -- */

/* `steal`: `in` may be reused as the canonical document (saves a copy of
 * a freshly parsed tree); otherwise it is copied. */
static int from_json(json_t *in, bool steal, const struct smo__hdag_opts *opts,
                     const json_t *lines, struct smo__hdag **out,
                     struct smo__hdag_report *r)
{
    struct vctx c = {0};
    c.r = r;
    c.lines = lines;
    *out = NULL;
    if (!json_is_object(in)) {
        char sv[128];
        err(&c, "hdaGraph",
            "expected a mapping with the key hdaGraph, found %s",
            shown(in, sv, sizeof sv));
        return SMO_EINVAL;
    }
    json_t *doc;
    const json_t *g = json_object_get(in, "hdaGraph");
    if (g) {
        c.wrapped = true;
        doc = steal ? json_incref(in) : json_deep_copy(in);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)in, k, v)
        {
            if (strcmp(k, "hdaGraph") != 0) {
                char *p = kpath("", k);
                warn(&c, p, "unknown field (kept, not used by SMO)");
                free(p);
            }
        }
    } else if (opts && opts->require_wrapper) {
        err(&c, "hdaGraph",
            "required field is missing (the descriptor must be a mapping "
            "with the key hdaGraph)");
        return SMO_EINVAL;
    } else {
        doc = json_object();
        json_object_set_new(doc, "hdaGraph",
                            steal ? json_incref(in) : json_deep_copy(in));
    }
    json_t *graph = json_object_get(doc, "hdaGraph");
    if (!json_is_object(graph)) {
        char sv[128];
        err(&c, "hdaGraph", "expected a mapping, found %s",
            shown(graph, sv, sizeof sv));
        json_decref(doc);
        return SMO_EINVAL;
    }
    c.ids = json_object();
    check_graph(&c, graph);
    json_decref(c.ids);
    if (json_array_size(r->errors)) {
        json_decref(doc);
        return SMO_EINVAL;
    }
    *out = build(doc, r->warnings, lines, c.wrapped);
    return 0;
}

int smo__hdag_from_json(const json_t *doc, const struct smo__hdag_opts *opts,
                        struct smo__hdag **out, struct smo__hdag_report *report)
{
    return from_json((json_t *)doc, false, opts, NULL, out, report);
}

static int parse_once(const char *text, size_t len,
                      const struct smo__hdag_opts *opts, bool with_lines,
                      struct smo__hdag **out, struct smo__hdag_report *report)
{
    struct smo__yaml_opts yo = {0};
    yo.max_bytes = opts && opts->max_bytes ? opts->max_bytes : 16u << 20;
    yo.max_depth = opts && opts->max_depth ? opts->max_depth : 64;
    yo.max_nodes = 2000000;
    yo.name = opts && opts->name ? opts->name : "descriptor";
    yo.lines = with_lines ? json_object() : NULL;
    json_t *j = NULL;
    smo_status st;
    smo_status_clear(&st);
    *out = NULL;
    if (smo__yaml_parse(text, len, &yo, &j, &st)) {
        /* Syntax errors carry their own position: "name:line:col: ...";
         * keep it apart so that the report can print it like the rest. */
        const char *msg = st.msg;
        size_t nl = strlen(yo.name);
        if (strncmp(msg, yo.name, nl) == 0 && msg[nl] == ':')
            msg += nl + 1;
        while (*msg == ' ')
            msg++;
        int line = 0, col = 0, used = 0;
        json_t *o;
        if (sscanf(msg, "%d:%d: %n", &line, &col, &used) == 2 && used > 0)
            o = json_pack("{s:s, s:s, s:i, s:i}", "path", "", "message",
                          msg + used, "line", line, "column", col);
        else
            o = json_pack("{s:s, s:s}", "path", "", "message", msg);
        json_array_append_new(report->errors, o);
        json_decref(yo.lines);
        return st.code ? st.code : SMO_EINVAL;
    }
    int r = from_json(j, true, opts, yo.lines, out, report);
    json_decref(j);
    json_decref(yo.lines);
    return r;
}

int smo__hdag_load(const char *text, size_t len,
                   const struct smo__hdag_opts *opts,
                   const struct smo__translator_ref *tr, size_t n,
                   struct smo__hdag **out, struct smo__hdag_report *report)
{
    /* Line numbers cost a map of every key path; only documents with
     * something to report pay for them, with a second pass. */
    int r = parse_once(text, len, opts, false, out, report);
    if (!r && n)
        r = smo__hdag_translate(*out, tr, n, report);
    bool syntax = json_array_size(report->errors) == 1 &&
                  !*json_string_value(json_object_get(
                      json_array_get(report->errors, 0), "path"));
    if (!syntax && (json_array_size(report->errors) ||
                    json_array_size(report->warnings))) {
        smo__hdag_free(*out);
        *out = NULL;
        json_array_clear(report->errors);
        json_array_clear(report->warnings);
        r = parse_once(text, len, opts, true, out, report);
        if (!r && n)
            r = smo__hdag_translate(*out, tr, n, report);
    }
    if (r) {
        smo__hdag_free(*out);
        *out = NULL;
    }
    return r;
}

int smo__hdag_parse(const char *text, size_t len,
                    const struct smo__hdag_opts *opts, struct smo__hdag **out,
                    struct smo__hdag_report *report)
{
    return smo__hdag_load(text, len, opts, NULL, 0, out, report);
}

/* -------------------------------------------------------- translation -- */

int smo__hdag_translate(struct smo__hdag *h,
                        const struct smo__translator_ref *tr, size_t n,
                        struct smo__hdag_report *report)
{
    size_t before = json_array_size(report->errors);
    struct vctx c = {0};
    c.r = report;
    c.lines = h->lines;
    c.wrapped = h->wrapped;
    for (size_t i = 0; i < h->n_services; i++) {
        struct smo__hdag_service *s = &h->services[i];
        memset(&s->res, 0, sizeof s->res);
        s->res.size = sizeof s->res;
        char *sp = ipath("hdaGraph.services", i);
        bool failed = false;
        for (size_t k = 0; k < n && !failed; k++) {
            smo_status st;
            smo_status_clear(&st);
            int r = tr[k].ops->translate(tr[k].state, s->json, &s->res, &st);
            if (r >= 0)
                continue;
            /* Translators name the path relative to the service. */
            const char *msg = st.msg[0] ? st.msg : smo_strerror(r);
            const char *colon = strstr(msg, ": ");
            if (colon && !memchr(msg, ' ', (size_t)(colon - msg))) {
                char rel[256];
                snprintf(rel, sizeof rel, "%.*s", (int)(colon - msg), msg);
                char *full = NULL;
                if (asprintf(&full, "%s.%s", sp, rel) < 0)
                    full = NULL;
                err(&c, full ? full : sp, "%s", colon + 2);
                free(full);
            } else
                err(&c, sp, "translator %s: %s", tr[k].name, msg);
            failed = true;
        }
        if (!failed && !(s->res.set & SMO_RES_CPU))
            err(&c, sp, "no translator gave the service a cpu amount");
        else if (!failed && !(s->res.set & SMO_RES_MEMORY))
            err(&c, sp, "no translator gave the service a memory amount");
        free(sp);
    }
    return json_array_size(report->errors) == before ? 0 : SMO_EINVAL;
}
