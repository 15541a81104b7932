/* `smod run` and helpers shared with the CLI. */
#ifndef SMO__DAEMON_H
#define SMO__DAEMON_H

#include <stddef.h>
#include <stdint.h>

struct smo_rt;

struct smo__daemon_opts {
    const char *conf_dir;
    const char *data_dir;
    int log_level;     /* -1: from the configuration */
    uint64_t start_ns; /* uv_hrtime() at process start, for ready time */
    /* Called once the daemon is ready (tests, the demo). */
    void (*on_ready)(struct smo_rt *rt, void *arg);
    void *on_ready_arg;
};

/** Run until SIGTERM/SIGINT; returns the process exit status. */
int smo__daemon_run(const struct smo__daemon_opts *o);

/** Stop the daemon because it cannot go on safely (`fmt`: why, logged);
 *  the process then exits with status 1 for the service manager to
 *  restart it. */
void smo__daemon_fail(struct smo_rt *rt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** mkdir -p with mode 0750 and a writability check; fills `msg`. */
int smo__ensure_dir(const char *dir, char *msg, size_t n);

#endif
