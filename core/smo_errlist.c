#define _GNU_SOURCE
#include "smo_errlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void smo__errlist_init(struct smo__errlist *e, size_t max)
{
    memset(e, 0, sizeof *e);
    e->max = max ? max : 100;
}

void smo__errlist_free(struct smo__errlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->lines[i]);
    free(e->lines);
    memset(e, 0, sizeof *e);
}

void smo__errlist_add(struct smo__errlist *e, const char *fmt, ...)
{
    if (e->n >= e->max) {
        e->dropped++;
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        char **nl = realloc(e->lines, cap * sizeof *nl);
        if (!nl) {
            e->dropped++;
            return;
        }
        e->lines = nl;
        e->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) < 0)
        line = NULL;
    va_end(ap);
    if (!line) {
        e->dropped++;
        return;
    }
    e->lines[e->n++] = line;
}

size_t smo__errlist_count(const struct smo__errlist *e)
{
    return e->n + e->dropped;
}

char *smo__errlist_join(const struct smo__errlist *e, const char *sep)
{
    size_t total = 1, sl = strlen(sep);
    for (size_t i = 0; i < e->n; i++)
        total += strlen(e->lines[i]) + sl;
    total += 64;
    char *out = malloc(total);
    if (!out)
        return NULL;
    size_t off = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (i) {
            memcpy(out + off, sep, sl);
            off += sl;
        }
        size_t l = strlen(e->lines[i]);
        memcpy(out + off, e->lines[i], l);
        off += l;
    }
    out[off] = '\0';
    if (e->dropped)
        snprintf(out + off, total - off, "%s... and %zu more", e->n ? sep : "",
                 e->dropped);
    return out;
}
