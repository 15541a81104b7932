/**
 * @file smo_error.h
 * @brief Error codes and the caller-owned status buffer.
 *
 * Every SDK function that can fail returns an `int`: 0 (`SMO_OK`) on
 * success, a negative `SMO_E*` code on failure. Positive values are pipeline
 * decisions, not errors (`SMO_SKIP`: "not mine, ask the next plugin").
 * Messages travel in a `struct smo_status` that the *caller* owns, so the
 * error path allocates nothing.
 */
#ifndef SMO_ERROR_H
#define SMO_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro: name, value, text. Values are stable ABI: never renumber. The
 * errno-like ones use the errno value negated so that a plugin wrapping a
 * system call can return -errno where it fits. */
#define SMO_ERRNO_MAP(X)                                                       \
    X(EPERM, -1, "operation not permitted")                                    \
    X(ENOENT, -2, "not found")                                                 \
    X(EIO, -5, "input/output error")                                           \
    X(ENOMEM, -12, "out of memory")                                            \
    X(EACCES, -13, "permission denied")                                        \
    X(EBUSY, -16, "resource busy")                                             \
    X(EEXIST, -17, "already exists")                                           \
    X(EINVAL, -22, "invalid argument")                                         \
    X(ENOSPC, -28, "no space left")                                            \
    X(ENOSYS, -38, "not implemented")                                          \
    X(EPROTO, -71, "protocol error")                                           \
    X(ENOTSUP, -95, "not supported")                                           \
    X(ETIMEDOUT, -110, "timed out")                                            \
    X(ECANCELED, -125, "canceled")                                             \
    X(ECONFLICT, -1001, "revision conflict")                                   \
    X(ESTATE, -1002, "invalid state for this action")                          \
    X(EUNAVAIL, -1003, "backend unavailable")                                  \
    X(ETOOBIG, -1004, "too large")                                             \
    X(EINFEASIBLE, -1005, "infeasible")                                        \
    X(EABI, -1006, "incompatible plugin ABI")                                  \
    X(ECONFIG, -1007, "invalid configuration")                                 \
    X(EAUTH, -1008, "authentication required")                                 \
    X(EEXTERNAL, -1009, "external command failed")

enum smo_error {
    SMO_OK = 0,
    /** Positive: the plugin declines; the caller asks the next one. */
    SMO_SKIP = 1,
#define SMO__ERR_ENUM(name, val, text) SMO_##name = (val),
    SMO_ERRNO_MAP(SMO__ERR_ENUM)
#undef SMO__ERR_ENUM
};

/** Human text of an error code ("not found"). Never NULL. */
static inline const char *smo_strerror(int code)
{
    switch (code) {
    case SMO_OK:
        return "success";
    case SMO_SKIP:
        return "skipped";
#define SMO__ERR_TEXT(name, val, text)                                         \
    case (val):                                                                \
        return (text);
        SMO_ERRNO_MAP(SMO__ERR_TEXT)
#undef SMO__ERR_TEXT
    default:
        return "unknown error";
    }
}

/** Symbolic name of an error code ("ENOENT"). Never NULL. */
static inline const char *smo_err_name(int code)
{
    switch (code) {
    case SMO_OK:
        return "OK";
    case SMO_SKIP:
        return "SKIP";
#define SMO__ERR_NAME(name, val, text)                                         \
    case (val):                                                                \
        return #name;
        SMO_ERRNO_MAP(SMO__ERR_NAME)
#undef SMO__ERR_NAME
    default:
        return "EUNKNOWN";
    }
}

/**
 * Status filled by a callee that fails. Owned by the caller (usually on its
 * stack). `where` names what produced the message (plugin instance, file,
 * key path); `msg` is one line of text without a trailing newline.
 */
typedef struct smo_status {
    int code;
    char where[128];
    char msg[512];
} smo_status;

/** Reset a status to success. */
static inline void smo_status_clear(smo_status *st)
{
    if (!st)
        return;
    st->code = SMO_OK;
    st->where[0] = '\0';
    st->msg[0] = '\0';
}

/** Drop an incomplete UTF-8 sequence at the end of `s` (a message cut to
 *  fit its buffer), so that what remains is valid UTF-8 if it was. */
static inline void smo_utf8_cut(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && n - i < 3)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > 1 && n - (i - 1) < need)
        s[i - 1] = '\0';
}

/** smo_status_set() with a va_list: the message is cut to the buffer at a
 *  character boundary. */
static inline int smo_status_vset(smo_status *st, int code, const char *fmt,
                                  va_list ap)
    __attribute__((format(printf, 3, 0)));
static inline int smo_status_vset(smo_status *st, int code, const char *fmt,
                                  va_list ap)
{
    if (st) {
        st->code = code;
        int n = vsnprintf(st->msg, sizeof st->msg, fmt, ap);
        if (n >= (int)sizeof st->msg)
            smo_utf8_cut(st->msg);
    }
    return code;
}

/** Set code and a printf-formatted message; returns `code` for tail calls:
 *  `return smo_status_set(st, SMO_EINVAL, "bad %s", x);` A NULL `st` is
 *  allowed (the message is dropped). */
static inline int smo_status_set(smo_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int smo_status_set(smo_status *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    smo_status_vset(st, code, fmt, ap);
    va_end(ap);
    return code;
}

/** Set `where` (what produced the message). */
static inline void smo_status_where(smo_status *st, const char *where)
{
    if (st && where)
        snprintf(st->where, sizeof st->where, "%s", where);
}

#ifdef __cplusplus
}
#endif
#endif /* SMO_ERROR_H */
