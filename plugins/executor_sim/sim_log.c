/* sim_log: snapshot-plus-changes file of executor_sim (see sim_log.h). */
#define _GNU_SOURCE
#include "sim_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len, char *err, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT)
            snprintf(err, n, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (cap - *len < 65536) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!nb) {
                snprintf(err, n, "%s: out of memory", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + *len, 1, cap - *len, f);
        *len += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    return buf;
}

static int apply_line(json_t *releases, const json_t *line)
{
    const char *put = json_string_value(json_object_get(line, "put"));
    const char *del = json_string_value(json_object_get(line, "del"));
    json_t *rel = json_object_get(line, "release");
    if (put && json_is_object(rel))
        return json_object_set(releases, put, rel);
    if (del) {
        json_object_del(releases, del); /* absent: already gone */
        return 0;
    }
    return -1;
}

int smo__sim_log_load(const char *path, json_t **releases, size_t *records,
                      bool *torn, char *err, size_t n)
{
    *releases = NULL;
    *records = 0;
    *torn = false;
    err[0] = 0;
    size_t len = 0;
    char *buf = slurp(path, &len, err, n);
    if (!buf) {
        if (err[0])
            return -1;
        *releases = json_object(); /* no file yet */
        return 0;
    }
    json_t *rel = NULL;
    size_t off = 0;
    int lineno = 0;
    while (off < len) {
        char *nl = memchr(buf + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - buf) : len;
        lineno++;
        json_error_t je;
        json_t *line =
            json_loadb(buf + off, end - off, JSON_REJECT_DUPLICATES, &je);
        if (!nl) {
            /* No newline: the last write was cut short (or a version-1
             * file, which is one object without one). Either way the
             * file is rewritten before anything is appended to it. */
            *torn = true;
            if (!line && lineno > 1)
                break; /* never acknowledged: drop it */
        }
        if (lineno == 1) {
            json_t *r = json_object_get(line, "releases");
            if (!json_is_object(r)) {
                snprintf(err, n,
                         "%s: not a releases file (line 1: %s); move it "
                         "away to start empty",
                         path, line ? "no \"releases\" object" : je.text);
                json_decref(line);
                free(buf);
                return -1;
            }
            rel = json_incref(r);
        } else if (!line || apply_line(rel, line)) {
            snprintf(err, n,
                     "%s: line %d is not a release change (%s); move the "
                     "file away to start empty",
                     path, lineno, line ? "unknown record" : je.text);
            json_decref(line);
            json_decref(rel);
            free(buf);
            return -1;
        } else
            (*records)++;
        json_decref(line);
        off = nl ? end + 1 : len;
    }
    free(buf);
    *releases = rel ? rel : json_object(); /* empty file */
    return 0;
}

static int pending_add(struct smo__sim_pending *p, const char *s, size_t len)
{
    if (p->cap - p->len < len + 2) {
        size_t cap = p->cap ? p->cap : 1024;
        while (cap - p->len < len + 2)
            cap *= 2;
        char *nb = realloc(p->buf, cap);
        if (!nb)
            return -1;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, len);
    p->len += len;
    p->buf[p->len++] = '\n';
    p->lines++;
    return 0;
}

int smo__sim_log_change(struct smo__sim_pending *p, const char *key,
                        const json_t *release)
{
    json_t *line = release
                       ? json_pack("{s:s, s:O}", "put", key, "release", release)
                       : json_pack("{s:s}", "del", key);
    char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    int r = s ? pending_add(p, s, strlen(s)) : -1;
    free(s);
    return r;
}

char *smo__sim_log_snapshot(const json_t *releases, size_t *len)
{
    json_t *doc = json_pack("{s:i, s:O}", "version", 2, "releases", releases);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s)
        return NULL;
    *len = strlen(s);
    char *out = realloc(s, *len + 2);
    if (!out) {
        free(s);
        return NULL;
    }
    out[(*len)++] = '\n';
    out[*len] = 0;
    return out;
}

static int write_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int smo__sim_log_replace(const char *path, const char *data, size_t len,
                         char *err, size_t n)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (write_all(fd, data, len)) {
        snprintf(err, n, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (fsync(fd) || close(fd) || rename(tmp, path)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int smo__sim_log_append(const char *path, const char *data, size_t len,
                        char *err, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) || fdatasync(fd)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
