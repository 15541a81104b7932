/* translator_intent: abstract intent classes -> concrete resources.
 *
 * compute.cpu, .ram and .storage are either a class name looked up in the
 * configured tables (changing what "medium" means is one edit in conf.d and
 * a SIGHUP: the instance reconfigures in place) or an explicit Kubernetes
 * quantity ("250m", 0.5, "3Gi"). GPUs come from compute.gpu {enabled,
 * count}. Errors name the field relative to the service. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <smo/smo.h>

struct cfg {
    const json_t *cpu;     /* class -> cores (number or quantity) */
    const json_t *ram;     /* class -> bytes */
    const json_t *storage; /* class -> bytes */
    bool allow_quantities;
};

struct state {
    const struct smo_host *host;
    smo_instance *self;
    const struct cfg *cfg;
};

static const struct smo_config_field any_elem[] = {
    {NULL, SMO_CFG_ANY, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "cores: a number or a quantity such as 500m"},
    {0}};
static const struct smo_config_field size_elem[] = {
    {NULL, SMO_CFG_SIZE, 0, NULL, 0, 0, NULL, NULL, SMO_CFG_NO_OFFSET,
     "bytes: a quantity such as 512Mi"},
    {0}};

static const struct smo_config_field fields[] = {
    {"cpu", SMO_CFG_MAP, 0, "{light: 0.5, small: 1, medium: 4, large: 8}", 0, 0,
     NULL, any_elem, offsetof(struct cfg, cpu),
     "cpu classes: cores per replica"},
    {"ram", SMO_CFG_MAP, 0,
     "{light: 500Mi, small: 1Gi, medium: 2Gi, large: 8Gi}", 0, 0, NULL,
     size_elem, offsetof(struct cfg, ram), "ram classes: bytes per replica"},
    {"storage", SMO_CFG_MAP, 0,
     "{none: 0, light: 5G, small: 10G, medium: 20G, large: 40G}", 0, 0, NULL,
     size_elem, offsetof(struct cfg, storage),
     "storage classes: bytes per replica"},
    {"allow_quantities", SMO_CFG_BOOL, 0, "true", 0, 0, NULL, NULL,
     offsetof(struct cfg, allow_quantities),
     "accept explicit quantities (250m, 3Gi) besides class names"},
    {0}};

/* Cores from a class table value or a descriptor value. */
static int cores_of(const struct smo_host *h, const json_t *v, double *out,
                    smo_status *st)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v))
        return h->parse_quantity(json_string_value(v), out, st);
    return smo_status_set(st, SMO_EINVAL, "expected a number of cores");
}

static int bytes_of(const struct smo_host *h, const json_t *v, double *out,
                    smo_status *st)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        int r = h->parse_quantity(json_string_value(v), out, st);
        if (!r)
            *out = ceil(*out);
        return r;
    }
    return smo_status_set(st, SMO_EINVAL, "expected a quantity");
}

static bool class_name_ok(const char *k)
{
    if (!*k || strlen(k) > 32)
        return false;
    for (const char *p = k; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
            *p != '-' && *p != '_')
            return false;
    return true;
}

/* Check a table: class names and values; cpu values need the host's
 * quantity parser, which validate() does not have, so only shapes here. */
static int validate(const json_t *json, const void *cfgp, smo_status *st)
{
    (void)json;
    const struct cfg *c = cfgp;
    const json_t *tabs[] = {c->cpu, c->ram, c->storage};
    const char *names[] = {"cpu", "ram", "storage"};
    for (int t = 0; t < 3; t++) {
        const char *k;
        json_t *v;
        if (json_object_size(tabs[t]) == 0) {
            smo_status_where(st, names[t]);
            return smo_status_set(st, SMO_EINVAL,
                                  "%s: at least one class is needed", names[t]);
        }
        json_object_foreach((json_t *)tabs[t], k, v)
        {
            if (!class_name_ok(k))
                return smo_status_set(st, SMO_EINVAL,
                                      "%s.%s: class names are lower-case "
                                      "letters, digits, '-' and '_'",
                                      names[t], k);
            if (t == 0 && !json_is_number(v) && !json_is_string(v))
                return smo_status_set(st, SMO_EINVAL,
                                      "%s.%s: expected a number of cores or "
                                      "a quantity such as 500m",
                                      names[t], k);
            if (t == 0 && json_is_number(v) &&
                (json_number_value(v) < 0 || json_number_value(v) > 1e6))
                return smo_status_set(st, SMO_EINVAL,
                                      "%s.%s: cores must be from 0 to "
                                      "1000000",
                                      names[t], k);
        }
    }
    return 0;
}

static int create(const struct smo_host *host, smo_instance *self,
                  const void *cfgp, void **out, smo_status *st)
{
    const struct cfg *c = cfgp;
    /* cpu values given as strings must be quantities. */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)c->cpu, k, v)
    {
        double d;
        smo_status q;
        if (json_is_string(v) &&
            host->parse_quantity(json_string_value(v), &d, &q))
            return smo_status_set(st, SMO_EINVAL, "cpu.%s: %s", k, q.msg);
    }
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    s->host = host;
    s->self = self;
    s->cfg = c;
    *out = s;
    return 0;
}

static int reconfigure(void *state, const void *cfgp, smo_status *st)
{
    struct state *s = state;
    const struct cfg *c = cfgp;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)c->cpu, k, v)
    {
        double d;
        smo_status q;
        if (json_is_string(v) &&
            s->host->parse_quantity(json_string_value(v), &d, &q))
            return smo_status_set(st, SMO_EINVAL, "cpu.%s: %s", k, q.msg);
    }
    s->cfg = c;
    SMO_LOG_I(s->host, s->self, "class tables updated");
    return 0;
}

static void destroy(void *state)
{
    free(state);
}

/* "light, small, medium, large" */
static void class_list(const json_t *tab, char *buf, size_t n)
{
    const char *k;
    json_t *v;
    size_t o = 0;
    buf[0] = '\0';
    json_object_foreach((json_t *)tab, k, v)
    {
        if (o + strlen(k) + 3 >= n)
            break;
        o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", k);
    }
}

static const json_t *lookup(const json_t *tab, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tab, k, v)
    {
        if (strcasecmp(k, name) == 0)
            return v;
    }
    return NULL;
}

/* One compute field: a class, or a quantity when allowed. */
static int resolve(struct state *s, const json_t *compute, const char *field,
                   const json_t *tab, bool cores, double *out, smo_status *st)
{
    const json_t *v = json_object_get(compute, field);
    char list[256];
    class_list(tab, list, sizeof list);
    if (json_is_string(v)) {
        const json_t *cv = lookup(tab, json_string_value(v));
        if (cv) {
            smo_status q;
            return cores ? cores_of(s->host, cv, out, &q)
                         : bytes_of(s->host, cv, out, &q);
        }
        if (s->cfg->allow_quantities &&
            (isdigit((unsigned char)json_string_value(v)[0]) ||
             json_string_value(v)[0] == '.')) {
            smo_status q;
            if (s->host->parse_quantity(json_string_value(v), out, &q) == 0) {
                if (*out <= 0 && strcmp(field, "storage") != 0)
                    return smo_status_set(
                        st, SMO_EINVAL,
                        "deployment.intent.compute.%s: must be greater "
                        "than 0, found \"%s\"",
                        field, json_string_value(v));
                if (!cores)
                    *out = ceil(*out);
                return 0;
            }
            return smo_status_set(st, SMO_EINVAL,
                                  "deployment.intent.compute.%s: %s", field,
                                  q.msg);
        }
        char shown[80];
        snprintf(shown, sizeof shown, "%.60s", json_string_value(v));
        return smo_status_set(st, SMO_EINVAL,
                              "deployment.intent.compute.%s: unknown class "
                              "\"%s\" (expected one of %s%s)",
                              field, shown, list,
                              s->cfg->allow_quantities
                                  ? (cores ? ", or a quantity such as 250m"
                                           : ", or a quantity such as 512Mi")
                                  : "");
    }
    if (json_is_number(v) && s->cfg->allow_quantities) {
        *out = json_number_value(v);
        if (*out < 0 || (*out == 0 && strcmp(field, "storage") != 0))
            return smo_status_set(st, SMO_EINVAL,
                                  "deployment.intent.compute.%s: must be "
                                  "greater than 0",
                                  field);
        if (!cores)
            *out = ceil(*out);
        return 0;
    }
    return smo_status_set(st, SMO_EINVAL,
                          "deployment.intent.compute.%s: expected one of %s",
                          field, list);
}

static int translate(void *state, const json_t *service,
                     struct smo_resources *res, smo_status *st)
{
    struct state *s = state;
    const json_t *compute = json_object_get(
        json_object_get(json_object_get(service, "deployment"), "intent"),
        "compute");
    if (!json_is_object(compute))
        return SMO_SKIP;
    double cpu, ram, storage;
    int r = resolve(s, compute, "cpu", s->cfg->cpu, true, &cpu, st);
    if (!r)
        r = resolve(s, compute, "ram", s->cfg->ram, false, &ram, st);
    if (!r)
        r = resolve(s, compute, "storage", s->cfg->storage, false, &storage,
                    st);
    if (r)
        return r;
    if (cpu > 1e6 || ram > 1.8e19 || storage > 1.8e19)
        return smo_status_set(st, SMO_EINVAL,
                              "deployment.intent.compute: out of range");
    const json_t *gpu = json_object_get(compute, "gpu");
    uint32_t g = 0;
    if (json_is_true(json_object_get(gpu, "enabled"))) {
        const json_t *cnt = json_object_get(gpu, "count");
        g = cnt ? (uint32_t)json_integer_value(cnt) : 1;
    }
    res->cpu = cpu;
    res->memory = (uint64_t)ram;
    res->storage = (uint64_t)storage;
    res->gpu = g;
    res->set |= SMO_RES_CPU | SMO_RES_MEMORY | SMO_RES_STORAGE | SMO_RES_GPU;
    return SMO_OK;
}

static const struct smo_translator_ops ops = {
    .size = sizeof(struct smo_translator_ops),
    .translate = translate,
};

SMO_PLUGIN_DEFINE(SMO_KIND_TRANSLATOR, "intent", "1.0.0",
                  "Intent classes (light/small/medium/large) and explicit "
                  "quantities to cpu cores, memory, storage and GPUs.",
                  fields, struct cfg, validate, create, NULL, reconfigure, NULL,
                  destroy, &ops);
