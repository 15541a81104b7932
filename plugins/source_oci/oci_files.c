/* The extracted artifact as a list of files, and the rules for member
 * names. Shared by source_oci (tar members) and source_hdarctl (a directory
 * hdarctl filled), so both refuse the same things. Pure: runs on the thread
 * pool. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oci.h"

#define MAX_PATH_LEN SMO__OCI_MAX_PATH

void smo__oci_files_free(struct smo__oci_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].path);
        free(f->v[i].data);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

bool smo__oci_is_yaml_name(const char *p)
{
    const char *dot = strrchr(p, '.');
    return dot &&
           (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0);
}

int smo__oci_files_count(struct smo__oci_files *f,
                         const struct smo__oci_limits *l, smo_status *st)
{
    if (++f->entries > l->max_files)
        return smo_status_set(st, SMO_ETOOBIG,
                              "the artifact holds more than %llu files and "
                              "directories (max_files)",
                              (unsigned long long)l->max_files);
    return SMO_OK;
}

int smo__oci_files_add(struct smo__oci_files *f, const char *path,
                       const void *data, uint64_t size,
                       const struct smo__oci_limits *l, smo_status *st)
{
    int r = smo__oci_files_count(f, l, st);
    if (r)
        return r;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct smo__oci_file *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return smo_status_set(st, SMO_ENOMEM, "out of memory");
        f->v = v;
        f->cap = cap;
    }
    struct smo__oci_file *e = &f->v[f->n];
    memset(e, 0, sizeof *e);
    e->path = strdup(path);
    if (!e->path)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    e->size = size;
    /* Only YAML can be the descriptor: keep those bytes, count the rest. */
    if (smo__oci_is_yaml_name(path) && size <= l->max_yaml) {
        e->data = malloc((size_t)size + 1);
        if (!e->data) {
            free(e->path);
            return smo_status_set(st, SMO_ENOMEM, "out of memory");
        }
        if (size)
            memcpy(e->data, data, (size_t)size);
        e->data[size] = '\0';
        e->hdag_hint = memmem(e->data, (size_t)size, "hdaGraph", 8) != NULL;
    }
    f->n++;
    return SMO_OK;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct smo__oci_file *)a)->path,
                  ((const struct smo__oci_file *)b)->path);
}

int smo__oci_files_finish(struct smo__oci_files *f, smo_status *st)
{
    if (f->n > 1)
        qsort(f->v, f->n, sizeof *f->v, by_path);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->v[i - 1].path, f->v[i].path) == 0)
            return smo_status_set(st, SMO_EINVAL,
                                  "%.200s appears more than once in the "
                                  "artifact",
                                  f->v[i].path);
    return SMO_OK;
}

int smo__oci_path_clean(const char *name, size_t len, char *out, size_t cap,
                        smo_status *st)
{
    size_t o = 0;
    out[0] = '\0';
    if (len && name[0] == '/')
        return smo_status_set(st, SMO_EINVAL,
                              "%.200s: absolute paths are not allowed in "
                              "an artifact",
                              name);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return smo_status_set(st, SMO_EINVAL,
                                  "a member name contains a control "
                                  "character or a backslash");
    }
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && name[j] != '/')
            j++;
        size_t cl = j - i;
        if (cl == 2 && name[i] == '.' && name[i + 1] == '.')
            return smo_status_set(st, SMO_EINVAL,
                                  "%.*s: \"..\" is not allowed in an "
                                  "artifact path",
                                  (int)(len > 200 ? 200 : len), name);
        if (cl && !(cl == 1 && name[i] == '.')) {
            if (o + (o ? 1 : 0) + cl + 1 > cap || o + cl + 1 > MAX_PATH_LEN)
                return smo_status_set(st, SMO_EINVAL,
                                      "a member name is longer than %d "
                                      "characters",
                                      MAX_PATH_LEN);
            if (o)
                out[o++] = '/';
            memcpy(out + o, name + i, cl);
            o += cl;
        }
        i = j + 1;
    }
    out[o] = '\0';
    return SMO_OK;
}
