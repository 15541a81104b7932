/* Event-driven YAML -> JSON builder with an explicit stack (no recursion on
 * input depth) and a node budget shared by parsing and alias expansion. */
#define _GNU_SOURCE
#include "smo_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ------------------------------------------------------------- paths -- */

static bool key_is_simple(const char *key)
{
    if (!*key)
        return false;
    for (const char *p = key; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return false;
    return true;
}

char *smo__path_key(const char *path, const char *key)
{
    char *out = NULL;
    int r;
    if (key_is_simple(key))
        r = asprintf(&out, "%s%s%s", path ? path : "", path && *path ? "." : "",
                     key);
    else {
        /* Quote awkward keys; escape quotes and control bytes. */
        size_t kl = strlen(key);
        char *q = malloc(kl * 4 + 1), *w = q;
        if (!q)
            return NULL;
        for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
            if (*p == '"' || *p == '\\') {
                *w++ = '\\';
                *w++ = (char)*p;
            } else if (*p < 0x20) {
                w += sprintf(w, "\\x%02x", *p);
            } else
                *w++ = (char)*p;
        }
        *w = '\0';
        r = asprintf(&out, "%s[\"%s\"]", path ? path : "", q);
        free(q);
    }
    return r < 0 ? NULL : out;
}

char *smo__path_index(const char *path, size_t i)
{
    char *out = NULL;
    if (asprintf(&out, "%s[%zu]", path ? path : "", i) < 0)
        return NULL;
    return out;
}

/* ------------------------------------------------- scalar resolution -- */

static bool match_int(const char *s, size_t n, json_int_t *v)
{
    const char *p = s, *end = s + n;
    int base = 10;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
        if (p != s) /* sign only allowed on decimal in the core schema */
            return false;
        base = p[1] == 'x' ? 16 : 8;
        p += 2;
    }
    if (p == end)
        return false;
    for (const char *q = p; q < end; q++) {
        int c = (unsigned char)*q;
        bool ok = base == 16  ? isxdigit(c)
                  : base == 8 ? (c >= '0' && c <= '7')
                              : isdigit(c);
        if (!ok)
            return false;
    }
    char buf[80];
    if ((size_t)(end - p) >= sizeof buf)
        return false;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    errno = 0;
    unsigned long long u = strtoull(buf, NULL, base);
    if (errno == ERANGE)
        return false;
    if (neg) {
        if (u > (unsigned long long)INT64_MAX + 1ull)
            return false;
        *v = u == (unsigned long long)INT64_MAX + 1ull ? INT64_MIN
                                                       : -(json_int_t)u;
    } else {
        if (u > (unsigned long long)INT64_MAX)
            return false;
        *v = (json_int_t)u;
    }
    return true;
}

static bool match_float(const char *s, size_t n, double *v)
{
    const char *p = s, *end = s + n;
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    size_t digits = 0;
    while (p < end && isdigit((unsigned char)*p))
        p++, digits++;
    if (p < end && *p == '.') {
        p++;
        while (p < end && isdigit((unsigned char)*p))
            p++, digits++;
    }
    if (!digits)
        return false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '-' || *p == '+'))
            p++;
        size_t ed = 0;
        while (p < end && isdigit((unsigned char)*p))
            p++, ed++;
        if (!ed)
            return false;
    }
    if (p != end)
        return false;
    char buf[128];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return false;
    *v = d;
    return true;
}

static bool eq_any(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(s, *words, n) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

json_t *smo__yaml_resolve_plain(const char *s, size_t len)
{
    json_int_t iv;
    double dv;
    if (eq_any(s, len, null_words))
        return json_null();
    if (eq_any(s, len, true_words))
        return json_true();
    if (eq_any(s, len, false_words))
        return json_false();
    if (len && (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' ||
                s[0] == '.')) {
        if (match_int(s, len, &iv))
            return json_integer(iv);
        if (match_float(s, len, &dv))
            return json_real(dv);
    }
    return json_stringn(s, len);
}

/* --------------------------------------------------------- the builder -- */

struct frame {
    json_t *node;          /* object or array */
    char *path;            /* key path of this node */
    char *anchor;          /* anchor to register at the end, or NULL */
    char *key;             /* pending key (objects) */
    json_t *explicit_keys; /* keys set explicitly (merge-key semantics) */
    size_t count;          /* nodes created under this frame (for anchors) */
    int key_line;          /* line of the pending key */
    bool key_plain;        /* the pending key was a plain scalar */
};

struct anchor {
    char *name;
    json_t *node;
    size_t count;
};

struct builder {
    const struct smo__yaml_opts *o;
    const char *name;
    size_t max_depth, max_nodes, nodes;
    struct frame *st;
    size_t depth, cap;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    json_t *root;
    int docs;
    smo_status *status;
};

static int b_err(struct builder *b, const yaml_mark_t *m, int code,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int b_err(struct builder *b, const yaml_mark_t *m, int code,
                 const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m)
        smo_status_set(b->status, code, "%s:%zu:%zu: %s", b->name, m->line + 1,
                       m->column + 1, msg);
    else
        smo_status_set(b->status, code, "%s: %s", b->name, msg);
    return code;
}

static size_t count_nodes(const json_t *j, size_t limit)
{
    /* Iterative-enough: depth is bounded by the parser's max_depth. */
    size_t n = 1;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            n += count_nodes(v, limit);
            if (n > limit)
                return n;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            n += count_nodes(v, limit);
            if (n > limit)
                return n;
        }
    }
    return n;
}

static void note_line(struct builder *b, const char *path, int line)
{
    if (b->o && b->o->lines && path)
        json_object_set_new(b->o->lines, *path ? path : "$",
                            json_integer(line));
}

/* Path of the node about to be added to the current container. */
static char *child_path(struct builder *b)
{
    if (!b->depth)
        return strdup("");
    struct frame *f = &b->st[b->depth - 1];
    if (json_is_array(f->node))
        return smo__path_index(f->path, json_array_size(f->node));
    return smo__path_key(f->path, f->key ? f->key : "");
}

static void add_count(struct builder *b, size_t n)
{
    b->nodes += n;
    for (size_t i = 0; i < b->depth; i++)
        b->st[i].count += n;
}

static int merge_into(struct builder *b, struct frame *f, json_t *src,
                      const yaml_mark_t *m)
{
    const char *k;
    json_t *v;
    if (json_is_array(src)) {
        size_t i;
        json_t *e;
        json_array_foreach(src, i, e)
        {
            if (!json_is_object(e))
                return b_err(b, m, SMO_EINVAL,
                             "%s: merge key '<<' needs mappings",
                             f->path[0] ? f->path : "document");
            int r = merge_into(b, f, e, m);
            if (r)
                return r;
        }
        return 0;
    }
    if (!json_is_object(src))
        return b_err(b, m, SMO_EINVAL, "%s: merge key '<<' needs a mapping",
                     f->path[0] ? f->path : "document");
    json_object_foreach(src, k, v)
    {
        if (json_object_get(f->explicit_keys, k) || json_object_get(f->node, k))
            continue;
        json_object_set(f->node, k, v);
    }
    return 0;
}

/* Attach `val` (stolen) to the current container, or make it the root. */
static int attach(struct builder *b, json_t *val, const yaml_mark_t *m)
{
    if (!b->depth) {
        b->root = val;
        return 0;
    }
    struct frame *f = &b->st[b->depth - 1];
    if (json_is_array(f->node)) {
        json_array_append_new(f->node, val);
        return 0;
    }
    char *key = f->key;
    f->key = NULL;
    int r = 0;
    if (strcmp(key, "<<") == 0 && f->key_plain) {
        r = merge_into(b, f, val, m);
        json_decref(val);
    } else if (json_object_get(f->explicit_keys, key)) {
        char *p = smo__path_key(f->path, key);
        r = b_err(b, m, SMO_EINVAL, "%s: duplicate key \"%s\"", p ? p : key,
                  key);
        free(p);
        json_decref(val);
    } else {
        json_object_set_new(f->explicit_keys, key, json_true());
        json_object_set_new(f->node, key, val);
    }
    free(key);
    return r;
}

static struct anchor *find_anchor(struct builder *b, const char *name)
{
    for (size_t i = b->n_anchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            return &b->anchors[i - 1];
    return NULL;
}

static int register_anchor(struct builder *b, const char *name, json_t *node,
                           size_t count)
{
    if (b->n_anchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 8;
        struct anchor *na = realloc(b->anchors, cap * sizeof *na);
        if (!na)
            return SMO_ENOMEM;
        b->anchors = na;
        b->cap_anchors = cap;
    }
    struct anchor *a = &b->anchors[b->n_anchors++];
    a->name = strdup(name);
    a->node = json_incref(node);
    a->count = count;
    return a->name ? 0 : SMO_ENOMEM;
}

static int resolve_tagged(struct builder *b, const yaml_event_t *ev,
                          const char *path, const char *val, size_t len,
                          json_t **out)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    const yaml_mark_t *m = &ev->start_mark;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

    if (!tag || strcmp(tag, "!") == 0) {
        *out = plain && !tag ? smo__yaml_resolve_plain(val, len)
                             : json_stringn(val, len);
        return 0;
    }
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
        return b_err(b, m, SMO_EINVAL, "%s: unsupported tag %s",
                     path[0] ? path : "document", tag);
    const char *t = tag + strlen(TAG_PREFIX);
    json_t *r = NULL;
    if (strcmp(t, "str") == 0 || strcmp(t, "binary") == 0 ||
        strcmp(t, "timestamp") == 0)
        r = json_stringn(val, len);
    else {
        json_t *p = smo__yaml_resolve_plain(val, len);
        bool ok = (strcmp(t, "int") == 0 && json_is_integer(p)) ||
                  (strcmp(t, "float") == 0 && json_is_number(p)) ||
                  (strcmp(t, "bool") == 0 && json_is_boolean(p)) ||
                  (strcmp(t, "null") == 0 && json_is_null(p));
        if (!ok) {
            json_decref(p);
            return b_err(b, m, SMO_EINVAL, "value \"%.*s\" is not a valid !!%s",
                         (int)(len > 60 ? 60 : len), val, t);
        }
        if (strcmp(t, "float") == 0 && json_is_integer(p)) {
            json_t *f = json_real((double)json_integer_value(p));
            json_decref(p);
            p = f;
        }
        r = p;
    }
    *out = r;
    return 0;
}

static int on_scalar(struct builder *b, yaml_event_t *ev)
{
    const char *val = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_mark_t *m = &ev->start_mark;
    int line = (int)m->line + 1;

    if (memchr(val, '\0', len))
        return b_err(b, m, SMO_EINVAL, "NUL character in a scalar");

    /* A scalar in key position of a mapping becomes the pending key. */
    if (b->depth && json_is_object(b->st[b->depth - 1].node) &&
        !b->st[b->depth - 1].key) {
        struct frame *f = &b->st[b->depth - 1];
        f->key = strndup(val, len);
        f->key_line = line;
        /* Only a plain << is a merge key; "<<" quoted is a literal key. */
        f->key_plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (!f->key)
            return SMO_ENOMEM;
        if (ev->data.scalar.anchor)
            return b_err(b, m, SMO_EINVAL, "anchors on keys are not supported");
        return 0;
    }

    char *path = child_path(b);
    if (!path)
        return SMO_ENOMEM;
    char *rewritten = NULL;
    if (b->o && b->o->scalar_hook) {
        int r = b->o->scalar_hook(b->o->hook_ctx, path, val, len, &rewritten,
                                  b->status);
        if (r) {
            /* Prefix the hook's message with the position. */
            char msg[sizeof b->status->msg];
            snprintf(msg, sizeof msg, "%s", b->status->msg);
            b_err(b, m, r, "%s: %s", path[0] ? path : "document", msg);
            free(path);
            return r;
        }
        if (rewritten) {
            val = rewritten;
            len = strlen(rewritten);
        }
    }
    json_t *j = NULL;
    int r = resolve_tagged(b, ev, path, val, len, &j);
    free(rewritten);
    if (r) {
        free(path);
        return r;
    }
    if (!j) {
        free(path);
        return b_err(b, m, SMO_EINVAL, "invalid scalar");
    }
    note_line(b, path, line);
    free(path);
    add_count(b, 1);
    if (b->nodes > b->max_nodes) {
        json_decref(j);
        return b_err(b, m, SMO_ETOOBIG, "more than %zu nodes", b->max_nodes);
    }
    if (ev->data.scalar.anchor) {
        r = register_anchor(b, (const char *)ev->data.scalar.anchor, j, 1);
        if (r) {
            json_decref(j);
            return r;
        }
    }
    return attach(b, j, m);
}

static int on_start(struct builder *b, yaml_event_t *ev, bool map)
{
    const yaml_mark_t *m = &ev->start_mark;
    const char *anchor = map ? (const char *)ev->data.mapping_start.anchor
                             : (const char *)ev->data.sequence_start.anchor;
    const char *tag = map ? (const char *)ev->data.mapping_start.tag
                          : (const char *)ev->data.sequence_start.tag;
    if (tag && strcmp(tag, map ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0)
        return b_err(b, m, SMO_EINVAL, "unsupported tag %s", tag);
    if (b->depth && json_is_object(b->st[b->depth - 1].node) &&
        !b->st[b->depth - 1].key)
        return b_err(b, m, SMO_EINVAL,
                     "a mapping key must be a scalar, not a %s",
                     map ? "mapping" : "sequence");
    if (b->depth >= b->max_depth)
        return b_err(b, m, SMO_ETOOBIG, "nesting deeper than %zu levels",
                     b->max_depth);
    if (b->depth == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct frame *ns = realloc(b->st, cap * sizeof *ns);
        if (!ns)
            return SMO_ENOMEM;
        b->st = ns;
        b->cap = cap;
    }
    char *path = child_path(b);
    if (!path)
        return SMO_ENOMEM;
    note_line(b, path, (int)m->line + 1);
    add_count(b, 1);
    if (b->nodes > b->max_nodes) {
        free(path);
        return b_err(b, m, SMO_ETOOBIG, "more than %zu nodes", b->max_nodes);
    }
    struct frame *f = &b->st[b->depth++];
    memset(f, 0, sizeof *f);
    f->node = map ? json_object() : json_array();
    f->path = path;
    f->anchor = anchor ? strdup(anchor) : NULL;
    f->explicit_keys = map ? json_object() : NULL;
    f->count = 1;
    return f->node ? 0 : SMO_ENOMEM;
}

static void frame_free(struct frame *f)
{
    json_decref(f->node);
    json_decref(f->explicit_keys);
    free(f->path);
    free(f->anchor);
    free(f->key);
}

static int on_end(struct builder *b, yaml_event_t *ev)
{
    struct frame f = b->st[--b->depth];
    int r = 0;
    if (f.anchor)
        r = register_anchor(b, f.anchor, f.node, f.count);
    json_t *node = json_incref(f.node);
    frame_free(&f);
    if (r) {
        json_decref(node);
        return r;
    }
    return attach(b, node, &ev->start_mark);
}

static int on_alias(struct builder *b, yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    const char *name = (const char *)ev->data.alias.anchor;
    struct anchor *a = find_anchor(b, name);
    if (!a)
        return b_err(b, m, SMO_EINVAL, "unknown anchor \"%s\"", name);
    if (b->depth && json_is_object(b->st[b->depth - 1].node) &&
        !b->st[b->depth - 1].key) {
        if (!json_is_string(a->node))
            return b_err(b, m, SMO_EINVAL, "alias \"%s\" used as a key", name);
        struct frame *f = &b->st[b->depth - 1];
        f->key = strdup(json_string_value(a->node));
        f->key_plain = false;
        return f->key ? 0 : SMO_ENOMEM;
    }
    /* The budget counts expanded nodes: an alias bomb stops here before it
     * allocates anything. */
    if (b->nodes + a->count > b->max_nodes)
        return b_err(b, m, SMO_ETOOBIG,
                     "more than %zu nodes after expanding aliases",
                     b->max_nodes);
    /* Depth of the copy adds to the current depth. */
    json_t *copy = json_deep_copy(a->node);
    if (!copy)
        return SMO_ENOMEM;
    add_count(b, a->count);
    char *path = child_path(b);
    note_line(b, path, (int)m->line + 1);
    free(path);
    return attach(b, copy, m);
}

static size_t json_depth(const json_t *j, size_t limit)
{
    if (limit == 0)
        return 1;
    size_t best = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            size_t d = json_depth(v, limit - 1);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            size_t d = json_depth(v, limit - 1);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    return 0;
}

static int try_json(const char *text, size_t len, struct builder *b,
                    json_t **out)
{
    json_error_t jerr;
    json_t *j =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j)
        return 1; /* not JSON: let the YAML parser report */
    if (json_depth(j, b->max_depth + 1) > b->max_depth) {
        json_decref(j);
        return b_err(b, NULL, SMO_ETOOBIG, "nesting deeper than %zu levels",
                     b->max_depth);
    }
    if (count_nodes(j, b->max_nodes + 1) > b->max_nodes) {
        json_decref(j);
        return b_err(b, NULL, SMO_ETOOBIG, "more than %zu nodes", b->max_nodes);
    }
    *out = j;
    return 0;
}

int smo__yaml_parse(const char *text, size_t len,
                    const struct smo__yaml_opts *opts, json_t **out,
                    smo_status *st)
{
    struct builder b;
    memset(&b, 0, sizeof b);
    b.o = opts;
    b.name = opts && opts->name ? opts->name : "<input>";
    b.max_depth =
        opts && opts->max_depth ? opts->max_depth : SMO__YAML_MAX_DEPTH_DEFAULT;
    b.max_nodes =
        opts && opts->max_nodes ? opts->max_nodes : SMO__YAML_MAX_NODES_DEFAULT;
    size_t max_bytes =
        opts && opts->max_bytes ? opts->max_bytes : SMO__YAML_MAX_BYTES_DEFAULT;
    b.status = st;
    *out = NULL;

    if (len > max_bytes)
        return b_err(&b, NULL, SMO_ETOOBIG,
                     "document is %zu bytes, the limit is %zu", len, max_bytes);

    /* Plain JSON goes through jansson: faster and exact. */
    bool hooks = opts && (opts->scalar_hook || opts->lines);
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (!hooks && i < len && (text[i] == '{' || text[i] == '[')) {
        int r = try_json(text, len, &b, out);
        if (r <= 0)
            return r;
    }

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return b_err(&b, NULL, SMO_ENOMEM, "cannot initialise the parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_READER_ERROR) {
                /* Encoding errors have a byte offset, not a position. */
                rc = b_err(&b, NULL, SMO_EINVAL, "byte %zu: %s",
                           parser.problem_offset,
                           parser.problem ? parser.problem : "invalid input");
                break;
            }
            const yaml_mark_t *m = &parser.problem_mark;
            rc = b_err(&b, m, SMO_EINVAL, "%s%s%s",
                       parser.problem ? parser.problem : "syntax error",
                       parser.context ? " " : "",
                       parser.context ? parser.context : "");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++b.docs > 1)
                rc = b_err(&b, &ev.start_mark, SMO_EINVAL,
                           "more than one YAML document");
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(&b, &ev, true);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(&b, &ev, false);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            rc = on_end(&b, &ev);
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(&b, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);

    while (b.depth)
        frame_free(&b.st[--b.depth]);
    free(b.st);
    for (size_t k = 0; k < b.n_anchors; k++) {
        free(b.anchors[k].name);
        json_decref(b.anchors[k].node);
    }
    free(b.anchors);
    if (rc) {
        json_decref(b.root);
        return rc;
    }
    *out = b.root ? b.root : json_null();
    return 0;
}

/* ------------------------------------------------------------ emitter -- */

struct outbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    struct outbuf *o = data;
    if (o->len + size + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + size + 1)
            cap *= 2;
        char *np = realloc(o->p, cap);
        if (!np) {
            o->oom = true;
            return 0;
        }
        o->p = np;
        o->cap = cap;
    }
    memcpy(o->p + o->len, buffer, size);
    o->len += size;
    o->p[o->len] = '\0';
    return 1;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t n,
                       yaml_scalar_style_t style)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1,
                                 1, style);
    return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int emit_node(yaml_emitter_t *e, const json_t *j)
{
    yaml_event_t ev;
    char buf[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                            YAML_ANY_MAPPING_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return -1;
        json_object_foreach((json_t *)j, k, v)
        {
            json_t *kr = smo__yaml_resolve_plain(k, strlen(k));
            yaml_scalar_style_t ks = json_is_string(kr) && strcmp(k, "<<") != 0
                                         ? YAML_ANY_SCALAR_STYLE
                                         : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            json_decref(kr);
            if (emit_scalar(e, k, strlen(k), ks) || emit_node(e, v))
                return -1;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             YAML_ANY_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return -1;
        json_array_foreach(j, i, v) if (emit_node(e, v)) return -1;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    case JSON_STRING: {
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        /* A string that would read back as another type is quoted. */
        json_t *r = smo__yaml_resolve_plain(s, n);
        bool needs_quotes = !json_is_string(r);
        json_decref(r);
        return emit_scalar(e, s, n,
                           needs_quotes ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                        : YAML_ANY_SCALAR_STYLE);
    }
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(j));
        return emit_scalar(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL: {
        double d = json_real_value(j);
        snprintf(buf, sizeof buf, "%.15g", d);
        if (strtod(buf, NULL) != d)
            snprintf(buf, sizeof buf, "%.17g", d);
        if (!strpbrk(buf, ".eE"))
            strcat(buf, ".0");
        return emit_scalar(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
    }
    case JSON_TRUE:
        return emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE:
        return emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    case JSON_NULL:
    default:
        return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    }
}

int smo__yaml_emit(const json_t *doc, char **out, size_t *len, smo_status *st)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    struct outbuf o = {0};
    int rc = 0;

    *out = NULL;
    if (len)
        *len = 0;
    if (!yaml_emitter_initialize(&e))
        return smo_status_set(st, SMO_ENOMEM, "cannot initialise the emitter");
    yaml_emitter_set_output(&e, write_handler, &o);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_indent(&e, 2);

    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(&e, &ev))
        rc = -1;
    if (!rc) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        if (!yaml_emitter_emit(&e, &ev))
            rc = -1;
    }
    if (!rc)
        rc = emit_node(&e, doc);
    if (!rc) {
        yaml_document_end_event_initialize(&ev, 1);
        if (!yaml_emitter_emit(&e, &ev))
            rc = -1;
    }
    if (!rc) {
        yaml_stream_end_event_initialize(&ev);
        if (!yaml_emitter_emit(&e, &ev))
            rc = -1;
    }
    if (rc) {
        rc = smo_status_set(st, o.oom ? SMO_ENOMEM : SMO_EINVAL,
                            "cannot emit YAML: %s",
                            e.problem ? e.problem : "out of memory");
        free(o.p);
    } else {
        *out = o.p ? o.p : strdup("");
        if (len)
            *len = o.len;
    }
    yaml_emitter_delete(&e);
    return rc;
}
