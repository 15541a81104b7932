/* One-line-per-event logger. The whole line is formatted into a buffer and
 * written with a single write(2) under a mutex, so lines from the thread
 * pool never interleave. */
#include "smo_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = 6;
static int log_format = SMO__LOG_TEXT;
static int log_fd = -1;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[8] = {
    "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"};

void smo__log_setup(int format, int level)
{
    if (format == SMO__LOG_TEXT || format == SMO__LOG_JSON)
        log_format = format;
    if (level >= 0 && level <= 7)
        log_level = level;
}

int smo__log_level(void)
{
    return log_level;
}

int smo__log_format(void)
{
    return log_format;
}

void smo__log_set_fd(int fd)
{
    log_fd = fd;
}

int smo__log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } tab[] = {{"error", 3},  {"err", 3},  {"warning", 4}, {"warn", 4},
               {"notice", 5}, {"info", 6}, {"debug", 7}};
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].name) == 0)
            return tab[i].level;
    return -1;
}

const char *smo__log_level_name(int level)
{
    if (level < 0 || level > 7)
        return "unknown";
    return level_names[level];
}

int smo__log_format_parse(const char *s)
{
    if (s && strcmp(s, "text") == 0)
        return SMO__LOG_TEXT;
    if (s && strcmp(s, "json") == 0)
        return SMO__LOG_JSON;
    return -1;
}

/* Append `src` escaped for one line (and for JSON when `json`). */
static size_t esc_append(char *dst, size_t off, size_t cap, const char *src,
                         bool json)
{
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char tmp[8];
        const char *rep = NULL;
        size_t rl = 1;
        if (*p == '\n')
            rep = "\\n", rl = 2;
        else if (*p == '\r')
            rep = "\\r", rl = 2;
        else if (*p == '\t')
            rep = "\\t", rl = 2;
        else if (json && *p == '"')
            rep = "\\\"", rl = 2;
        else if (json && *p == '\\')
            rep = "\\\\", rl = 2;
        else if (*p < 0x20 || *p == 0x7f) {
            rl = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *p);
            rep = tmp;
        }
        if (!rep) {
            if (off + 1 >= cap)
                break;
            dst[off++] = (char)*p;
        } else {
            if (off + rl >= cap)
                break;
            memcpy(dst + off, rep, rl);
            off += rl;
        }
    }
    dst[off < cap ? off : cap - 1] = '\0';
    return off;
}

void smo__vlog(int level, const char *tag, const char *fmt, va_list ap)
{
    char msg[4096];
    if (level > log_level)
        return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    smo__log_emit(level, tag, msg);
}

void smo__log_emit(int level, const char *tag, const char *msg)
{
    char line[8192 + 256];
    size_t off = 0;
    int saved = errno;

    if (level < 0)
        level = 0;
    if (level > 7)
        level = 7;

    struct timespec ts;
    struct tm tm;
    char tsbuf[80];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(tsbuf, sizeof tsbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (!tag)
        tag = "core";

    if (log_format == SMO__LOG_JSON) {
        off = (size_t)snprintf(line, sizeof line,
                               "{\"ts\":\"%s\",\"level\":\"%s\",\"source\":\"",
                               tsbuf, level_names[level]);
        off = esc_append(line, off, sizeof line - 8, tag, true);
        off += (size_t)snprintf(line + off, sizeof line - off, "\",\"msg\":\"");
        off = esc_append(line, off, sizeof line - 4, msg, true);
        off += (size_t)snprintf(line + off, sizeof line - off, "\"}\n");
    } else {
        /* journald adds its own timestamp; elsewhere a timestamp helps. */
        if (getenv("JOURNAL_STREAM"))
            off = (size_t)snprintf(line, sizeof line, "<%d>%s [", level,
                                   level_names[level]);
        else
            off = (size_t)snprintf(line, sizeof line, "<%d>%s %s [", level,
                                   tsbuf, level_names[level]);
        off = esc_append(line, off, sizeof line - 8, tag, false);
        off += (size_t)snprintf(line + off, sizeof line - off, "] ");
        off = esc_append(line, off, sizeof line - 2, msg, false);
        line[off++] = '\n';
        line[off] = '\0';
    }

    pthread_mutex_lock(&log_mu);
    int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
    const char *p = line;
    size_t left = off;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    pthread_mutex_unlock(&log_mu);
    errno = saved;
}

void smo__log(int level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    smo__vlog(level, tag, fmt, ap);
    va_end(ap);
}
