/* Core logging: one line per event on stderr, syslog priority prefix ("<6>")
 * that journald understands, or one JSON object per line. Thread-safe. */
#ifndef SMO__LOG_H
#define SMO__LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum smo__log_format { SMO__LOG_TEXT = 0, SMO__LOG_JSON = 1 };

/** Global settings; the default is text at info level. */
void smo__log_setup(int format, int level);
int smo__log_level(void);
int smo__log_format(void);
/** Parse "error|warning|notice|info|debug" (also "warn", "err"). Returns the
 *  level or -1. */
int smo__log_level_parse(const char *s);
const char *smo__log_level_name(int level);
/** Parse "text|json"; -1 when unknown. */
int smo__log_format_parse(const char *s);

/** Write one event. `tag` names the producer ("core", an instance name).
 *  Newlines and control characters in the message are escaped so that one
 *  call is always one line. */
void smo__log(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void smo__vlog(int level, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/** Write one event whatever the global level (per-instance levels). */
void smo__log_emit(int level, const char *tag, const char *msg);

/** Redirect output to a file descriptor (tests); -1 restores stderr. */
void smo__log_set_fd(int fd);

#define SMO__LOGE(...) smo__log(3, "core", __VA_ARGS__)
#define SMO__LOGW(...) smo__log(4, "core", __VA_ARGS__)
#define SMO__LOGN(...) smo__log(5, "core", __VA_ARGS__)
#define SMO__LOGI(...) smo__log(6, "core", __VA_ARGS__)
#define SMO__LOGD(...)                                                         \
    do {                                                                       \
        if (smo__log_level() >= 7)                                             \
            smo__log(7, "core", __VA_ARGS__);                                  \
    } while (0)

#endif
