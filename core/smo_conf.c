#define _GNU_SOURCE
#include "smo_conf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <smo/smo_plugin.h>

#include "smo_log.h"
#include "smo_schema.h"
#include "smo_units.h"
#include "smo_yaml.h"

#define CONF_MAX_FILE_BYTES (1u << 20)

static const char *const kind_names[] = {
    NULL,      "source",      "translator", "solver", "executor",
    "monitor", "provisioner", "store",      "api"};

int smo__kind_parse(const char *s)
{
    if (!s)
        return -1;
    for (int k = 1; k <= (int)SMO_KIND_MAX; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    if (strcmp(s, "frontend") == 0)
        return SMO_KIND_API;
    return -1;
}

const char *smo__kind_name(int kind)
{
    if (kind < 1 || kind > (int)SMO_KIND_MAX)
        return "unknown";
    return kind_names[kind];
}

/* ---------------------------------------------------------- schemas -- */

static const char *const level_values[] = {"error", "warning", "notice",
                                           "info",  "debug",   NULL};
static const char *const format_values[] = {"text", "json", NULL};
static const char *const kind_values[] = {
    "source",      "translator", "solver", "executor", "monitor",
    "provisioner", "store",      "api",    "frontend", NULL};

static const struct smo_config_field path_elem[] = {
    {NULL, SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "a directory holding smo_<kind>_<name>.so files"},
    {0}};

#define EOFF(m) offsetof(struct smo__engine_cfg, m)
static const struct smo_config_field weight_fields[] = {
    {"net", SMO_CFG_DOUBLE, SMO_CFG_MIN, "1", 0, 0, NULL, NULL, EOFF(w_net),
     "per connection whose two services are on different clusters"},
    {"balance", SMO_CFG_DOUBLE, SMO_CFG_MIN, "10", 0, 0, NULL, NULL,
     EOFF(w_balance), "times the peak cluster cpu utilisation (0..1)"},
    {"move", SMO_CFG_DOUBLE, SMO_CFG_MIN, "10", 0, 0, NULL, NULL, EOFF(w_move),
     "per service moved away from its cluster on re-placement"},
    {"cost", SMO_CFG_DOUBLE, SMO_CFG_MIN, "1", 0, 0, NULL, NULL, EOFF(w_cost),
     "times price per core (label smo.io/cost-per-core, or "
     "smo.io/carbon-intensity for energyEfficiency graphs)"},
    {0}};
static const struct smo_config_field ms_elem[] = {
    {NULL, SMO_CFG_DOUBLE, SMO_CFG_MIN, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "milliseconds"},
    {0}};
static const struct smo_config_field provision_fields[] = {
    {"enabled", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL, EOFF(prov_enabled),
     "when a placement is infeasible, ask the provisioner for a cluster, "
     "wait for it to join the inventory and place again (once per "
     "operation)"},
    {"vim", SMO_CFG_STRING, 0, "", 0, 0, NULL, NULL, EOFF(prov_vim),
     "VIM (registered with the provisioner) that hosts the new cluster"},
    {"area", SMO_CFG_INT, SMO_CFG_MIN, "0", 0, 0, NULL, NULL, EOFF(prov_area),
     "pop area of the new cluster"},
    {"workers", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "1", 1, 100, NULL, NULL,
     EOFF(prov_workers), "worker nodes of the new cluster"},
    {"wait", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "15m", 1000, 86400000,
     NULL, NULL, EOFF(prov_wait_ms),
     "how long to wait for a new ready cluster in the inventory"},
    {"poll", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10s", 100, 600000,
     NULL, NULL, EOFF(prov_poll_ms), "how often the inventory is read then"},
    {0}};
static const struct smo_config_field placement_fields[] = {
    {"weights", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, weight_fields,
     SMO_CFG_NO_OFFSET, "objective weights"},
    {"time_limit", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "1s", 10,
     600000, NULL, NULL, EOFF(solve_time_limit_ms),
     "solver time limit per placement"},
    {"gap", SMO_CFG_DOUBLE, SMO_CFG_MIN | SMO_CFG_MAX, "0.005", 0, 1, NULL,
     NULL, EOFF(rel_gap), "relative optimality gap accepted"},
    {"solver", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, EOFF(solver),
     "solver instance to use (default: the first configured)"},
    {"latency", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, ms_elem, EOFF(latency),
     "inter-cluster latency in ms, keys \"clusterA|clusterB\""},
    {"provision", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, provision_fields,
     SMO_CFG_NO_OFFSET, "clusters provisioned when capacity lacks"},
    {0}};
static const struct smo_config_field operation_fields[] = {
    {"step_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10m", 100,
     86400000, NULL, NULL, EOFF(step_timeout_ms),
     "a step whose backend never answers fails after this long"},
    {"pending_window", SMO_CFG_DURATION, SMO_CFG_MAX, "60s", 0, 3600000, NULL,
     NULL, EOFF(pending_window_ms),
     "how long capacity stays reserved after an install on an executor "
     "whose inventory lags behind"},
    {"retention", SMO_CFG_DURATION, SMO_CFG_MAX, "30d", 0, 315360000000, NULL,
     NULL, EOFF(op_retention_ms),
     "finished operations older than this are deleted (each graph's "
     "newest is kept); 0 keeps them all"},
    {"prune_interval", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "1h", 1000,
     86400000, NULL, NULL, EOFF(op_prune_every_ms),
     "how often the leader applies the retention"},
    {"resume_on_start", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     EOFF(resume_on_start),
     "resume the operations a previous run left unfinished"},
    {"leader_election", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     EOFF(leader_election),
     "on a store shared by several smod (PostgreSQL), only the elected "
     "leader runs operations, scaling and syncs; the others serve reads"},
    {"executor", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, EOFF(executor),
     "executor instance to use (default: the first configured)"},
    {0}};

/* engine.scaling: the scaling loop (smo_engine_scale.c, docs/monitoring.md
 * "Scaling loop"). Per-service values here are defaults; a descriptor's
 * requestRate metric and `services` entries override them. */
static const struct smo_config_field scale_weight_fields[] = {
    /* The original's 0.4/0.4 never scales down the largest service: a
     * replica saves w_util cpu/U and costs w_trans/max to remove, equal
     * when cpu * max = U (docs/monitoring.md). */
    {"util", SMO_CFG_DOUBLE, SMO_CFG_MIN, "1", 0, 0, NULL, NULL,
     EOFF(scale_w_util), "times the cpu of all replicas / the largest service"},
    {"trans", SMO_CFG_DOUBLE, SMO_CFG_MIN, "0.1", 0, 0, NULL, NULL,
     EOFF(scale_w_trans), "times |replicas - current| / max_replicas"},
    {"unmet", SMO_CFG_DOUBLE, SMO_CFG_MIN, "10", 0, 0, NULL, NULL,
     EOFF(scale_w_unmet), "times unmet requests/s / max(demand, 1)"},
    {0}};
static const struct smo_config_field scale_fit_fields[] = {
    {"enabled", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, EOFF(scale_fit),
     "fit alpha/beta from observed (replicas, rate) samples and report it"},
    {"apply", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL, EOFF(scale_fit_apply),
     "use a usable fit instead of the configured alpha/beta"},
    {"window", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "10m", 1000,
     86400000, NULL, NULL, EOFF(scale_fit_window_ms),
     "age of the oldest sample used (at most 512 per service are kept)"},
    {"min_samples", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "5", 2, 512, NULL,
     NULL, EOFF(scale_fit_min_samples), "samples needed before a fit counts"},
    {0}};
static const struct smo_config_field scale_svc_fields[] = {
    {"query", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "PromQL template of the request rate"},
    {"alpha", SMO_CFG_DOUBLE, SMO_CFG_MIN, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "requests/s per replica"},
    {"beta", SMO_CFG_DOUBLE, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "requests/s offset"},
    {"min_replicas", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, NULL, 1, 10000,
     NULL, NULL, SMO_CFG_NO_OFFSET, "lower bound"},
    {"max_replicas", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, NULL, 1, 10000,
     NULL, NULL, SMO_CFG_NO_OFFSET, "upper bound (hard)"},
    {"max_step", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, NULL, 0, 10000, NULL,
     NULL, SMO_CFG_NO_OFFSET, "largest change per decision, 0: any"},
    {0}};
static const struct smo_config_field scale_svc_elem[] = {
    {NULL, SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, scale_svc_fields,
     SMO_CFG_NO_OFFSET, "a service's scaling settings"},
    {0}};
static const struct smo_config_field scaling_fields[] = {
    {"enabled", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL, EOFF(scale_enabled),
     "scale every running graph (else only graphs whose descriptor sets "
     "hdaGraphIntent.scaling.enabled)"},
    {"interval", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s", 200,
     86400000, NULL, NULL, EOFF(scale_interval_ms), "time between decisions"},
    {"min_change_interval", SMO_CFG_DURATION, SMO_CFG_MAX, "60s", 0, 86400000,
     NULL, NULL, EOFF(scale_min_change_ms),
     "a service's replicas change at most once in this long (no flapping)"},
    {"window", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "1m", 1000,
     86400000, NULL, NULL, EOFF(scale_window_ms),
     "value of $window in query templates (rate window)"},
    {"query_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "5s", 100,
     600000, NULL, NULL, EOFF(scale_query_timeout_ms), "per query"},
    {"time_limit", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "1s", 10,
     600000, NULL, NULL, EOFF(scale_time_limit_ms),
     "solver time limit per decision"},
    {"query", SMO_CFG_STRING, 0,
     "sum(rate(http_requests_total{service=$service}[$window]))", 0, 0, NULL,
     NULL, EOFF(scale_query),
     "PromQL template of a service's request rate: $service, $graph, "
     "$project become quoted string literals, $window a duration; empty: "
     "only services with their own query are scaled"},
    {"monitor", SMO_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, EOFF(scale_monitor),
     "monitor instance to query (default: the first with queries)"},
    {"alpha", SMO_CFG_DOUBLE, SMO_CFG_MIN, "1", 0, 0, NULL, NULL,
     EOFF(scale_alpha), "capacity model: requests/s per replica"},
    {"beta", SMO_CFG_DOUBLE, 0, "0", 0, 0, NULL, NULL, EOFF(scale_beta),
     "capacity model: alpha * replicas + beta requests/s"},
    {"min_replicas", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "1", 1, 10000,
     NULL, NULL, EOFF(scale_min_replicas), "lower bound per service"},
    {"max_replicas", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "5", 1, 10000,
     NULL, NULL, EOFF(scale_max_replicas), "hard upper bound per service"},
    {"max_step", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "0", 0, 10000, NULL,
     NULL, EOFF(scale_max_step), "largest change per decision, 0: any"},
    {"weights", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, scale_weight_fields,
     SMO_CFG_NO_OFFSET, "objective weights of the scaling model"},
    {"replace_on_unmet", SMO_CFG_BOOL, 0, "false", 0, 0, NULL, NULL,
     EOFF(scale_replace),
     "start a re-placement of the graph when demand cannot be met"},
    {"fit", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, scale_fit_fields,
     SMO_CFG_NO_OFFSET, "capacity model fitted from observations"},
    {"services", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, scale_svc_elem,
     EOFF(scale_services), "per service name: overrides of the defaults"},
    {0}};

static const struct smo_config_field engine_fields[] = {
    {"log_level", SMO_CFG_ENUM, 0, "info", 0, 0, level_values, NULL,
     EOFF(log_level),
     "Lowest priority logged by the core and by instances "
     "without their own log_level."},
    {"log_format", SMO_CFG_ENUM, 0, "text", 0, 0, format_values, NULL,
     EOFF(log_format),
     "text: one line per event with a syslog priority "
     "prefix; json: one JSON object per line."},
    {"plugin_path", SMO_CFG_ARRAY, 0, "[]", 0, 0, NULL, path_elem,
     EOFF(plugin_path),
     "Directories searched for plugins before the "
     "built-in plugin directory."},
    {"data_dir", SMO_CFG_PATH, 0, NULL, 0, 0, NULL, NULL, EOFF(data_dir),
     "Data directory; `smod run --data` overrides it."},
    {"shutdown_timeout", SMO_CFG_DURATION, SMO_CFG_MIN | SMO_CFG_MAX, "30s",
     100, 3600e3, NULL, NULL, EOFF(shutdown_timeout_ms),
     "How long stopping instances may drain before they are cut off."},
    {"threadpool_size", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "4", 1, 128,
     NULL, NULL, EOFF(threadpool_size),
     "Worker threads for blocking and CPU-heavy work (read at start only)."},
    {"http_max_connections", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "64", 1,
     4096, NULL, NULL, EOFF(http_max_connections),
     "Upper bound of simultaneous outgoing HTTP connections."},
    {"events_buffer", SMO_CFG_INT, SMO_CFG_MIN | SMO_CFG_MAX, "1000", 10,
     1000000, NULL, NULL, EOFF(events_buffer),
     "Recent events kept in memory for the API."},
    {"placement", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, placement_fields,
     SMO_CFG_NO_OFFSET, "how services are placed"},
    {"operations", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, operation_fields,
     SMO_CFG_NO_OFFSET, "how lifecycle operations run"},
    {"scaling", SMO_CFG_OBJECT, 0, NULL, 0, 0, NULL, scaling_fields,
     SMO_CFG_NO_OFFSET, "the scaling loop"},
    {0}};
#undef EOFF

const struct smo_config_field *smo__engine_schema(void)
{
    return engine_fields;
}

static const struct smo_config_field instance_fields[] = {
    {"kind", SMO_CFG_ENUM, SMO_CFG_REQUIRED, NULL, 0, 0, kind_values, NULL,
     SMO_CFG_NO_OFFSET, "Plugin kind."},
    {"plugin", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "Plugin name: loads smo_<kind>_<plugin>.so."},
    {"name", SMO_CFG_STRING, SMO_CFG_REQUIRED, NULL, 0, 0, NULL, NULL,
     SMO_CFG_NO_OFFSET, "Instance name, unique across conf.d."},
    {"config", SMO_CFG_MAP, 0, "{}", 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "The plugin's settings (see `smod plugins`)."},
    {"log_level", SMO_CFG_ENUM, 0, NULL, 0, 0, level_values, NULL,
     SMO_CFG_NO_OFFSET, "Log level of this instance."},
    {"enabled", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "false keeps the entry but loads nothing."},
    {0}};

/* ---------------------------------------------------- interpolation -- */

int smo__conf_interpolate(const char *in, size_t len, char **out, char *msg,
                          size_t n)
{
    *out = NULL;
    if (!memchr(in, '$', len))
        return 0;
    size_t cap = len + 64, o = 0;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(msg, n, "out of memory");
        return SMO_ENOMEM;
    }
#define PUT(ptr, l)                                                            \
    do {                                                                       \
        size_t l__ = (l);                                                      \
        if (o + l__ + 1 > cap) {                                               \
            while (o + l__ + 1 > cap)                                          \
                cap *= 2;                                                      \
            char *nb__ = realloc(buf, cap);                                    \
            if (!nb__) {                                                       \
                free(buf);                                                     \
                snprintf(msg, n, "out of memory");                             \
                return SMO_ENOMEM;                                             \
            }                                                                  \
            buf = nb__;                                                        \
        }                                                                      \
        memcpy(buf + o, (ptr), l__);                                           \
        o += l__;                                                              \
    } while (0)
    for (size_t i = 0; i < len;) {
        if (in[i] != '$') {
            PUT(in + i, 1);
            i++;
            continue;
        }
        if (i + 1 < len && in[i + 1] == '$') {
            PUT("$", 1);
            i += 2;
            continue;
        }
        if (i + 1 >= len || in[i + 1] != '{') {
            PUT("$", 1);
            i++;
            continue;
        }
        size_t j = i + 2, ns = j;
        while (j < len && (isalnum((unsigned char)in[j]) || in[j] == '_'))
            j++;
        size_t nl = j - ns;
        if (nl == 0 || nl > 128 || isdigit((unsigned char)in[ns])) {
            free(buf);
            snprintf(msg, n,
                     "invalid variable reference (expected ${NAME} or "
                     "${NAME:-default})");
            return SMO_EINVAL;
        }
        char name[130];
        memcpy(name, in + ns, nl);
        name[nl] = '\0';
        const char *def = NULL;
        size_t dl = 0;
        if (j + 1 < len && in[j] == ':' && in[j + 1] == '-') {
            size_t ds = j + 2, k = ds;
            while (k < len && in[k] != '}')
                k++;
            if (k >= len) {
                free(buf);
                snprintf(msg, n, "unterminated ${%s:-...}", name);
                return SMO_EINVAL;
            }
            def = in + ds;
            dl = k - ds;
            j = k;
        }
        if (j >= len || in[j] != '}') {
            free(buf);
            snprintf(msg, n, "unterminated ${%s", name);
            return SMO_EINVAL;
        }
        const char *val = getenv(name);
        if (val && *val)
            PUT(val, strlen(val));
        else if (def)
            PUT(def, dl);
        else if (val)
            ; /* set but empty, and no default: empty */
        else {
            free(buf);
            snprintf(msg, n,
                     "environment variable %s is not set (write ${%s:-default} "
                     "to give a default)",
                     name, name);
            return SMO_EINVAL;
        }
        i = j + 1;
    }
#undef PUT
    buf[o] = '\0';
    *out = buf;
    return 0;
}

static int interp_hook(void *ctx, const char *path, const char *val, size_t len,
                       char **out, smo_status *st)
{
    (void)ctx;
    (void)path;
    char msg[400];
    int r = smo__conf_interpolate(val, len, out, msg, sizeof msg);
    if (r)
        return smo_status_set(st, r, "%s", msg);
    return 0;
}

/* ------------------------------------------------------------ loading -- */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!islower(c) && !isdigit(c) && c != '-' && c != '_')
            return 0;
    }
    return 1;
}

static int plugin_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!islower(c) && !isdigit(c) && c != '_')
            return 0;
    }
    return 1;
}

static long line_of(const json_t *lines, const char *path)
{
    json_t *l = json_object_get(lines, path);
    return l ? (long)json_integer_value(l) : 0;
}

static void err_at(struct smo__errlist *errs, const char *file,
                   const json_t *lines, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void err_at(struct smo__errlist *errs, const char *file,
                   const json_t *lines, const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long line = line_of(lines, path);
    if (line)
        smo__errlist_add(errs, "%s:%ld: %s: %s", file, line, path, msg);
    else
        smo__errlist_add(errs, "%s: %s: %s", file, path, msg);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static char *read_file(const char *path, size_t *len, char *msg, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > CONF_MAX_FILE_BYTES) {
        fclose(f);
        snprintf(msg, n, "file is %lld bytes, the limit is %u",
                 (long long)sb.st_size, CONF_MAX_FILE_BYTES);
        return NULL;
    }
    size_t cap = 4096, o = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (o + 4096 + 1 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + o, 1, 4096, f);
        o += r;
        if (r < 4096)
            break;
        if (o > CONF_MAX_FILE_BYTES) {
            free(buf);
            fclose(f);
            snprintf(msg, n, "file is larger than %u bytes",
                     CONF_MAX_FILE_BYTES);
            return NULL;
        }
    }
    if (!buf || ferror(f)) {
        free(buf);
        fclose(f);
        snprintf(msg, n, "cannot read: %s", strerror(errno ? errno : EIO));
        return NULL;
    }
    fclose(f);
    buf[o] = '\0';
    *len = o;
    return buf;
}

static void deep_merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v)
    {
        json_t *cur = json_object_get(dst, k);
        if (json_is_object(cur) && json_is_object(v))
            deep_merge(cur, v);
        else
            json_object_set(dst, k, v);
    }
}

void smo__conf_free(struct smo__conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_inst; i++) {
        struct smo__conf_instance *in = &c->inst[i];
        free(in->plugin);
        free(in->name);
        free(in->file);
        free(in->path);
        json_decref(in->config);
        json_decref(in->lines);
    }
    free(c->inst);
    json_decref(c->engine);
    json_decref(c->files);
    free(c);
}

static void parse_text(struct smo__conf *c, const char *fpath, const char *text,
                       size_t len, struct smo__errlist *errs);

static void load_file(struct smo__conf *c, const char *fpath,
                      struct smo__errlist *errs)
{
    char msg[400];
    size_t len = 0;
    char *text = read_file(fpath, &len, msg, sizeof msg);
    if (!text) {
        smo__errlist_add(errs, "%s: %s", fpath, msg);
        return;
    }
    parse_text(c, fpath, text, len, errs);
    free(text);
}

static void parse_text(struct smo__conf *c, const char *fpath, const char *text,
                       size_t len, struct smo__errlist *errs)
{
    json_t *lines = json_object();
    struct smo__yaml_opts yo = {0};
    yo.name = fpath;
    yo.scalar_hook = interp_hook;
    yo.lines = lines;
    yo.max_bytes = CONF_MAX_FILE_BYTES;
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__yaml_parse(text, len, &yo, &doc, &st);
    if (r) {
        smo__errlist_add(errs, "%s", st.msg);
        json_decref(lines);
        return;
    }
    json_array_append_new(c->files, json_string(fpath));
    if (json_is_null(doc)) { /* an empty file is fine */
        json_decref(doc);
        json_decref(lines);
        return;
    }
    if (!json_is_object(doc)) {
        smo__errlist_add(errs,
                         "%s:1: expected a mapping with the keys engine "
                         "and/or instances",
                         fpath);
        json_decref(doc);
        json_decref(lines);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (strcmp(k, "engine") != 0 && strcmp(k, "instances") != 0)
            err_at(errs, fpath, lines, k,
                   "unknown key (a conf.d file holds engine and/or "
                   "instances)");
    }
    json_t *eng = json_object_get(doc, "engine");
    if (eng && !json_is_null(eng)) {
        struct smo__schema_ctx sc = {errs, fpath, lines, true};
        if (smo__schema_apply(engine_fields, eng, NULL, "engine", &sc) == 0)
            deep_merge(c->engine, eng);
    }
    json_t *insts = json_object_get(doc, "instances");
    if (insts && !json_is_null(insts) && !json_is_array(insts))
        err_at(errs, fpath, lines, "instances",
               "expected a list of {kind, plugin, name, config}");
    size_t i;
    json_t *e;
    if (json_is_array(insts))
        json_array_foreach(insts, i, e)
        {
            char *p = smo__path_index("instances", i);
            struct smo__schema_ctx sc = {errs, fpath, lines, false};
            if (smo__schema_apply(instance_fields, e, NULL, p, &sc)) {
                free(p);
                continue;
            }
            const char *kind = json_string_value(json_object_get(e, "kind"));
            const char *plugin =
                json_string_value(json_object_get(e, "plugin"));
            const char *name = json_string_value(json_object_get(e, "name"));
            bool bad = false;
            if (!plugin_name_ok(plugin)) {
                char *kp = smo__path_key(p, "plugin");
                err_at(errs, fpath, lines, kp,
                       "invalid plugin name \"%s\" (lower-case letters, "
                       "digits and '_')",
                       plugin);
                free(kp);
                bad = true;
            }
            if (!name_ok(name)) {
                char *kp = smo__path_key(p, "name");
                err_at(errs, fpath, lines, kp,
                       "invalid instance name \"%s\" (1-63 lower-case "
                       "letters, digits, '-' or '_', starting with a letter "
                       "or digit)",
                       name);
                free(kp);
                bad = true;
            }
            for (size_t q = 0; !bad && q < c->n_inst; q++) {
                if (strcmp(c->inst[q].name, name) == 0) {
                    char *kp = smo__path_key(p, "name");
                    char *ip = smo__path_key(c->inst[q].path, "name");
                    long fl = line_of(c->inst[q].lines, ip);
                    err_at(errs, fpath, lines, kp,
                           "duplicate instance name \"%s\" (first declared "
                           "at %s:%ld)",
                           name, c->inst[q].file, fl);
                    free(kp);
                    free(ip);
                    bad = true;
                }
            }
            if (bad || !json_is_true(json_object_get(e, "enabled"))) {
                free(p);
                continue;
            }
            struct smo__conf_instance *ni =
                realloc(c->inst, (c->n_inst + 1) * sizeof *ni);
            if (!ni) {
                free(p);
                smo__errlist_add(errs, "%s: out of memory", fpath);
                break;
            }
            c->inst = ni;
            struct smo__conf_instance *in = &c->inst[c->n_inst++];
            memset(in, 0, sizeof *in);
            in->kind = smo__kind_parse(kind);
            in->plugin = strdup(plugin);
            in->name = strdup(name);
            in->config = json_incref(json_object_get(e, "config"));
            const char *ll = json_string_value(json_object_get(e, "log_level"));
            in->log_level = ll ? smo__log_level_parse(ll) : -1;
            in->file = strdup(fpath);
            in->path = p;
            in->lines = json_incref(lines);
        }
    json_decref(doc);
    json_decref(lines);
}

int smo__conf_parse_text(const char *name, const char *text, size_t len,
                         struct smo__conf **out, struct smo__errlist *errs)
{
    *out = NULL;
    size_t before = smo__errlist_count(errs);
    struct smo__conf *c = calloc(1, sizeof *c);
    if (!c)
        return 1;
    c->engine = json_object();
    c->files = json_array();
    parse_text(c, name, text, len, errs);
    struct smo__schema_ctx sc = {errs, name, NULL, false};
    smo__schema_apply(engine_fields, c->engine, &c->ecfg, "engine", &sc);
    size_t nerr = smo__errlist_count(errs) - before;
    if (nerr) {
        smo__conf_free(c);
        return (int)nerr;
    }
    *out = c;
    return 0;
}

int smo__conf_load(const char *dir, struct smo__conf **out,
                   struct smo__errlist *errs)
{
    *out = NULL;
    size_t before = smo__errlist_count(errs);
    DIR *d = opendir(dir);
    if (!d) {
        smo__errlist_add(errs, "%s: cannot open configuration directory: %s",
                         dir, strerror(errno));
        return (int)(smo__errlist_count(errs) - before);
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (!has_suffix(de->d_name, ".yaml") && !has_suffix(de->d_name, ".yml"))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn)
            break;
        names = nn;
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);

    struct smo__conf *c = calloc(1, sizeof *c);
    c->engine = json_object();
    c->files = json_array();
    for (size_t i = 0; i < n; i++) {
        char *fpath = NULL;
        size_t dl = strlen(dir);
        if (asprintf(&fpath, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/",
                     names[i]) < 0)
            fpath = NULL;
        struct stat sb;
        if (fpath && stat(fpath, &sb) == 0 && S_ISREG(sb.st_mode))
            load_file(c, fpath, errs);
        free(fpath);
        free(names[i]);
    }
    free(names);

    /* Defaults and required keys of the merged engine section. */
    struct smo__schema_ctx sc = {errs, dir, NULL, false};
    smo__schema_apply(engine_fields, c->engine, &c->ecfg, "engine", &sc);

    size_t nerr = smo__errlist_count(errs) - before;
    if (nerr) {
        smo__conf_free(c);
        return (int)nerr;
    }
    *out = c;
    return 0;
}
