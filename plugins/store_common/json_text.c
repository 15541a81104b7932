/* Compact JSON text of a document, for the stores.
 *
 * json_dumps guards every object and array against cycles by formatting
 * its address with snprintf and keeping it in a hash table: on graph and
 * operation documents (many small objects) that made serialising the
 * journal a fifth of the event loop's time per deploy. Documents are
 * trees by construction, so this writer only bounds the depth. The text
 * is what jansson writes with JSON_COMPACT, up to the digits of reals
 * (both read back equal: tests/plugin/store_sqlite/test_json_text.c). */
#include "store_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static bool grow(struct buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->cap - b->len > more)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len <= more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(struct buf *b, const char *s, size_t n)
{
    if (grow(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void putc_(struct buf *b, char c)
{
    if (grow(b, 1))
        b->p[b->len++] = c;
}

/* Strings are valid UTF-8 (jansson checks on creation): only quotes,
 * backslashes and control characters need escaping. */
static void put_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    putc_(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        put(b, esc, el);
    }
    put(b, s + run, n - run);
    putc_(b, '"');
}

static void put_real(struct buf *b, double v)
{
    char t[40];
    /* 17 significant digits read back to the same double; a real that
     * prints like an integer gets ".0" so that it stays a real. */
    int n = snprintf(t, sizeof t, "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof t - 2) {
        b->failed = true;
        return;
    }
    if (!strpbrk(t, ".eE")) {
        t[n++] = '.';
        t[n++] = '0';
    }
    put(b, t, (size_t)n);
}

static void put_int(struct buf *b, json_int_t v)
{
    char t[24];
    char *e = t + sizeof t, *p = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    put(b, p, (size_t)(e - p));
}

static void put_value(struct buf *b, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        b->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        putc_(b, '{');
        const char *k;
        size_t kl;
        json_t *m;
        bool first = true;
        json_object_keylen_foreach((json_t *)v, k, kl, m)
        {
            if (!first)
                putc_(b, ',');
            first = false;
            put_string(b, k, kl);
            putc_(b, ':');
            put_value(b, m, depth + 1);
        }
        putc_(b, '}');
        break;
    }
    case JSON_ARRAY: {
        putc_(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                putc_(b, ',');
            put_value(b, json_array_get(v, i), depth + 1);
        }
        putc_(b, ']');
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        put_int(b, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    default:
        put(b, "null", 4);
    }
}

char *smo__store_json_text(const json_t *doc, size_t *len)
{
    struct buf b = {0};
    put_value(&b, doc, 0);
    putc_(&b, '\0');
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len - 1;
    return b.p;
}
