#define _GNU_SOURCE
#include "smo_schema.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smo_units.h"
#include "smo_yaml.h"

const char *smo__schema_type_name(uint32_t type)
{
    switch (type) {
    case SMO_CFG_STRING:
        return "string";
    case SMO_CFG_INT:
        return "integer";
    case SMO_CFG_DOUBLE:
        return "number";
    case SMO_CFG_BOOL:
        return "boolean";
    case SMO_CFG_DURATION:
        return "duration";
    case SMO_CFG_SIZE:
        return "size";
    case SMO_CFG_ENUM:
        return "enum";
    case SMO_CFG_PATH:
        return "path";
    case SMO_CFG_OBJECT:
        return "object";
    case SMO_CFG_ARRAY:
        return "array";
    case SMO_CFG_MAP:
        return "map";
    case SMO_CFG_ANY:
        return "any";
    default:
        return "?";
    }
}

static const char *json_kind(const json_t *j)
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

/* Show a value in messages: strings quoted and cut, secrets hidden. */
static void show_value(const json_t *v, bool secret, char *buf, size_t n)
{
    if (secret) {
        snprintf(buf, n, "(secret)");
        return;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t l = strlen(s);
        snprintf(buf, n, "\"%.*s%s\"", (int)(l > 60 ? 60 : l), s,
                 l > 60 ? "..." : "");
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        return;
    }
    if (json_is_object(v) || json_is_array(v)) {
        snprintf(buf, n, "%s", json_kind(v));
        return;
    }
    char *d = json_dumps(v, JSON_ENCODE_ANY);
    snprintf(buf, n, "%s", d ? d : "?");
    free(d);
}

static void add_err(const struct smo__schema_ctx *ctx, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_err(const struct smo__schema_ctx *ctx, const char *path,
                    const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long line = 0;
    if (ctx->lines) {
        /* The nearest ancestor with a known line. */
        char *p = strdup(path ? path : "");
        while (p) {
            json_t *l = json_object_get(ctx->lines, *p ? p : "$");
            if (l) {
                line = (long)json_integer_value(l);
                break;
            }
            char *cut = strrchr(p, '.');
            char *br = strrchr(p, '[');
            if (br && (!cut || br > cut))
                cut = br;
            if (!cut) {
                if (!*p)
                    break;
                *p = '\0';
                continue;
            }
            *cut = '\0';
        }
        free(p);
    }
    const char *file = ctx->file ? ctx->file : "config";
    if (line)
        smo__errlist_add(ctx->errs, "%s:%ld: %s: %s", file, line, path, msg);
    else
        smo__errlist_add(ctx->errs, "%s: %s: %s", file, path, msg);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c)
                c = prev[j] + 1;
            if (cur[j - 1] + 1 < c)
                c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, sizeof(size_t) * (lb + 1));
    }
    return prev[lb];
}

static void store_ptr(void *out, size_t off, const void *p)
{
    if (out && off != SMO_CFG_NO_OFFSET)
        memcpy((char *)out + off, &p, sizeof p);
}

#define STORE(out, off, type, val)                                             \
    do {                                                                       \
        if ((out) && (off) != SMO_CFG_NO_OFFSET) {                             \
            type v__ = (val);                                                  \
            memcpy((char *)(out) + (off), &v__, sizeof v__);                   \
        }                                                                      \
    } while (0)

static size_t check_value(const struct smo_config_field *f, json_t *parent,
                          const char *key, size_t index, json_t *v, void *out,
                          const char *path, const struct smo__schema_ctx *ctx);

static bool in_range(const struct smo_config_field *f, double x,
                     const struct smo__schema_ctx *ctx, const char *path,
                     const char *unit)
{
    if ((f->flags & SMO_CFG_MIN) && x < f->min) {
        add_err(ctx, path, "%g%s is below the minimum %g%s", x, unit, f->min,
                unit);
        return false;
    }
    if ((f->flags & SMO_CFG_MAX) && x > f->max) {
        add_err(ctx, path, "%g%s is above the maximum %g%s", x, unit, f->max,
                unit);
        return false;
    }
    return true;
}

static size_t expected(const struct smo__schema_ctx *ctx, const char *path,
                       const char *what, const json_t *v, bool secret)
{
    char sv[128];
    show_value(v, secret, sv, sizeof sv);
    add_err(ctx, path, "expected %s, found %s", what, sv);
    return 1;
}

/* Validate one value against `f`; store into `out` when it is a direct
 * field (not an array/map element). */
static size_t check_value(const struct smo_config_field *f, json_t *parent,
                          const char *key, size_t index, json_t *v, void *out,
                          const char *path, const struct smo__schema_ctx *ctx)
{
    bool secret = f->flags & SMO_CFG_SECRET;
    size_t off = f->offset;
    char msg[512];
    smo_status st;
    (void)parent;
    (void)key;
    (void)index;

    if (json_is_null(v) && (f->flags & SMO_CFG_NULLABLE))
        return 0;

    switch (f->type) {
    case SMO_CFG_STRING:
    case SMO_CFG_PATH:
        if (!json_is_string(v))
            return expected(ctx, path, "a string", v, secret);
        if (f->type == SMO_CFG_PATH && json_string_length(v) == 0) {
            add_err(ctx, path, "expected a path, found an empty string");
            return 1;
        }
        store_ptr(out, off, json_string_value(v));
        return 0;
    case SMO_CFG_ENUM: {
        if (!json_is_string(v) && !json_is_boolean(v) && !json_is_number(v))
            return expected(ctx, path, "a string", v, secret);
        const char *s = json_string_value(v);
        if (s && f->enum_values)
            for (const char *const *e = f->enum_values; *e; e++)
                if (strcmp(*e, s) == 0) {
                    store_ptr(out, off, *e);
                    return 0;
                }
        size_t o = 0;
        msg[0] = '\0';
        if (f->enum_values)
            for (const char *const *e = f->enum_values; *e && o < 400; e++)
                o += (size_t)snprintf(msg + o, sizeof msg - o, "%s%s",
                                      e == f->enum_values ? "" : ", ", *e);
        char sv[128];
        show_value(v, secret, sv, sizeof sv);
        add_err(ctx, path, "expected one of %s, found %s", msg, sv);
        return 1;
    }
    case SMO_CFG_INT: {
        if (!json_is_integer(v))
            return expected(ctx, path, "an integer", v, secret);
        json_int_t x = json_integer_value(v);
        if (!in_range(f, (double)x, ctx, path, ""))
            return 1;
        STORE(out, off, int64_t, (int64_t)x);
        return 0;
    }
    case SMO_CFG_DOUBLE: {
        if (!json_is_number(v))
            return expected(ctx, path, "a number", v, secret);
        double x = json_number_value(v);
        if (!in_range(f, x, ctx, path, ""))
            return 1;
        STORE(out, off, double, x);
        return 0;
    }
    case SMO_CFG_BOOL:
        if (!json_is_boolean(v))
            return expected(ctx, path, "true or false", v, secret);
        STORE(out, off, bool, json_is_true(v));
        return 0;
    case SMO_CFG_DURATION: {
        int64_t ms = 0;
        if (json_is_number(v)) {
            double s = json_number_value(v);
            if (s < 0 || s > 9.2e15)
                return expected(ctx, path, "a duration such as 30s", v, secret);
            ms = (int64_t)llround(s * 1000);
        } else if (json_is_string(v)) {
            if (smo__parse_duration(json_string_value(v), &ms, &st)) {
                add_err(ctx, path, "%s", st.msg);
                return 1;
            }
        } else
            return expected(ctx, path, "a duration such as 30s", v, secret);
        if (!in_range(f, (double)ms, ctx, path, "ms"))
            return 1;
        STORE(out, off, int64_t, ms);
        return 0;
    }
    case SMO_CFG_SIZE: {
        double q = 0;
        if (json_is_number(v))
            q = json_number_value(v);
        else if (json_is_string(v)) {
            if (smo__parse_quantity(json_string_value(v), &q, &st)) {
                add_err(ctx, path, "%s", st.msg);
                return 1;
            }
        } else
            return expected(ctx, path, "a size such as 512Mi", v, secret);
        if (q < 0 || q > 1.8e19) {
            add_err(ctx, path, "a size cannot be negative");
            return 1;
        }
        if (!in_range(f, q, ctx, path, " bytes"))
            return 1;
        STORE(out, off, uint64_t, (uint64_t)ceil(q));
        return 0;
    }
    case SMO_CFG_OBJECT:
        if (!json_is_object(v))
            return expected(ctx, path, "a mapping", v, secret);
        store_ptr(out, off, v);
        return smo__schema_apply(f->fields, v, out, path, ctx);
    case SMO_CFG_ARRAY: {
        if (!json_is_array(v))
            return expected(ctx, path, "a list", v, secret);
        size_t errs = 0, i;
        json_t *e;
        if ((f->flags & SMO_CFG_MIN) && json_array_size(v) < (size_t)f->min) {
            add_err(ctx, path, "expected at least %g entries, found %zu",
                    f->min, json_array_size(v));
            errs++;
        }
        if ((f->flags & SMO_CFG_MAX) && json_array_size(v) > (size_t)f->max) {
            add_err(ctx, path, "expected at most %g entries, found %zu", f->max,
                    json_array_size(v));
            errs++;
        }
        store_ptr(out, off, v);
        if (f->fields)
            json_array_foreach(v, i, e)
            {
                char *p = smo__path_index(path, i);
                errs += check_value(&f->fields[0], v, NULL, i, e, NULL, p, ctx);
                free(p);
            }
        return errs;
    }
    case SMO_CFG_MAP: {
        if (!json_is_object(v))
            return expected(ctx, path, "a mapping", v, secret);
        size_t errs = 0;
        const char *k;
        json_t *e;
        store_ptr(out, off, v);
        if (f->fields)
            json_object_foreach(v, k, e)
            {
                char *p = smo__path_key(path, k);
                errs += check_value(&f->fields[0], v, k, 0, e, NULL, p, ctx);
                free(p);
            }
        return errs;
    }
    case SMO_CFG_ANY:
    default:
        store_ptr(out, off, v);
        return 0;
    }
}

static json_t *default_value(const struct smo_config_field *f)
{
    if (!f->def)
        return NULL;
    /* A default for a string-typed field is the literal text, even when it
     * looks like a number or is empty. */
    if (f->type == SMO_CFG_STRING || f->type == SMO_CFG_PATH ||
        f->type == SMO_CFG_ENUM || f->type == SMO_CFG_DURATION ||
        f->type == SMO_CFG_SIZE)
        return json_string(f->def);
    json_t *j = NULL;
    smo_status st;
    if (smo__yaml_parse(f->def, strlen(f->def), NULL, &j, &st))
        return NULL;
    return j;
}

size_t smo__schema_apply(const struct smo_config_field *fields, json_t *obj,
                         void *out, const char *path,
                         const struct smo__schema_ctx *ctx)
{
    size_t errs = 0;
    if (!json_is_object(obj)) {
        add_err(ctx, path, "expected a mapping, found %s", json_kind(obj));
        return 1;
    }
    /* Unknown keys first, with a suggestion. */
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool known = false;
        const char *best = NULL;
        size_t bestd = 99;
        for (const struct smo_config_field *f = fields; f && f->key; f++) {
            if (strcmp(f->key, k) == 0) {
                known = true;
                break;
            }
            size_t d = edit_distance(f->key, k);
            if (d < bestd) {
                bestd = d;
                best = f->key;
            }
        }
        if (known)
            continue;
        char *p = smo__path_key(path, k);
        if (best && bestd <= 2)
            add_err(ctx, p ? p : k, "unknown key (did you mean \"%s\"?)", best);
        else {
            char list[400];
            size_t o = 0;
            list[0] = '\0';
            for (const struct smo_config_field *f = fields;
                 f && f->key && o < sizeof list - 80; f++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                                      f == fields ? "" : ", ", f->key);
            if (o)
                add_err(ctx, p ? p : k, "unknown key (known keys: %s)", list);
            else
                add_err(ctx, p ? p : k,
                        "unknown key (this section takes no keys)");
        }
        free(p);
        errs++;
    }
    for (const struct smo_config_field *f = fields; f && f->key; f++) {
        char *p = smo__path_key(path, f->key);
        json_t *cur = json_object_get(obj, f->key);
        if (json_is_null(cur) && !(f->flags & SMO_CFG_NULLABLE))
            cur = NULL; /* "key:" with no value means "use the default" */
        if (!cur && ctx->partial) {
            free(p);
            continue;
        }
        if (!cur) {
            json_t *d = default_value(f);
            if (!d && f->type == SMO_CFG_OBJECT)
                d = json_object();
            if (!d) {
                if (f->flags & SMO_CFG_REQUIRED) {
                    add_err(ctx, p, "required key is missing (%s%s%s)",
                            smo__schema_type_name(f->type),
                            f->description ? ": " : "",
                            f->description ? f->description : "");
                    errs++;
                } else
                    json_object_del(obj, f->key);
                free(p);
                continue;
            }
            json_object_set_new(obj, f->key, d);
            cur = d;
        }
        errs += check_value(f, obj, f->key, 0, cur, out, p, ctx);
        free(p);
    }
    return errs;
}

int smo__schema_check_table(const struct smo_config_field *fields, char *msg,
                            size_t n)
{
    for (const struct smo_config_field *f = fields; f && f->key; f++) {
        if (f->type < SMO_CFG_STRING || f->type > SMO_CFG_ANY) {
            snprintf(msg, n, "config field \"%s\": unknown type %u", f->key,
                     f->type);
            return SMO_EINVAL;
        }
        if (f->type == SMO_CFG_ENUM && !f->enum_values) {
            snprintf(msg, n, "config field \"%s\": enum without values",
                     f->key);
            return SMO_EINVAL;
        }
        if (f->type == SMO_CFG_OBJECT && f->fields) {
            int r = smo__schema_check_table(f->fields, msg, n);
            if (r)
                return r;
        }
        if (f->def) {
            struct smo__errlist errs;
            smo__errlist_init(&errs, 1);
            struct smo__schema_ctx ctx = {&errs, "default", NULL, false};
            json_t *d = default_value(f);
            size_t e =
                d ? check_value(f, NULL, f->key, 0, d, NULL, f->key, &ctx) : 1;
            json_decref(d);
            if (e) {
                snprintf(msg, n,
                         "config field \"%s\": invalid default \"%s\"%s%s",
                         f->key, f->def, errs.n ? ": " : "",
                         errs.n ? errs.lines[0] : "");
                smo__errlist_free(&errs);
                return SMO_EINVAL;
            }
            smo__errlist_free(&errs);
        }
    }
    return 0;
}

json_t *smo__schema_describe(const struct smo_config_field *fields)
{
    json_t *arr = json_array();
    for (const struct smo_config_field *f = fields; f && f->key; f++) {
        json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "key", f->key, "type",
                              smo__schema_type_name(f->type), "required",
                              (f->flags & SMO_CFG_REQUIRED) != 0, "secret",
                              (f->flags & SMO_CFG_SECRET) != 0);
        if (f->def)
            json_object_set_new(o, "default", json_string(f->def));
        if (f->flags & SMO_CFG_MIN)
            json_object_set_new(o, "min", json_real(f->min));
        if (f->flags & SMO_CFG_MAX)
            json_object_set_new(o, "max", json_real(f->max));
        if (f->enum_values) {
            json_t *e = json_array();
            for (const char *const *p = f->enum_values; *p; p++)
                json_array_append_new(e, json_string(*p));
            json_object_set_new(o, "values", e);
        }
        if (f->description)
            json_object_set_new(o, "description", json_string(f->description));
        if (f->fields && f->type == SMO_CFG_OBJECT)
            json_object_set_new(o, "fields", smo__schema_describe(f->fields));
        else if (f->fields) {
            struct smo_config_field one[2];
            memset(one, 0, sizeof one);
            one[0] = f->fields[0];
            one[0].key = "(element)";
            json_object_set_new(o, "element", smo__schema_describe(one));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}
