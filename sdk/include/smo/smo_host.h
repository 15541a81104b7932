/**
 * @file smo_host.h
 * @brief Services the core offers to plugins: the host table.
 *
 * The table is const, append-only and size-prefixed: new members are added
 * only at the end (ABI minor bump). A plugin built against a newer SDK tests
 * a member with SMO_HOST_HAS() before calling it. Every call takes the
 * caller's `smo_instance *self` first, which tags logs and metrics and ties
 * handles to the instance for cleanup.
 */
#ifndef SMO_HOST_H
#define SMO_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Log levels are syslog priorities. */
enum smo_log_level {
    SMO_LOG_ERR = 3,
    SMO_LOG_WARN = 4,
    SMO_LOG_NOTICE = 5,
    SMO_LOG_INFO = 6,
    SMO_LOG_DEBUG = 7
};

typedef struct smo_timer smo_timer;         /**< armed timer */
typedef struct smo_http_call smo_http_call; /**< HTTP request in flight */
typedef struct smo_proc smo_proc;           /**< child process */
typedef struct smo_metric smo_metric;       /**< registered metric family */

typedef void (*smo_cb)(void *arg);
/** Thread-pool job body (worker thread). */
typedef void (*smo_work_fn)(void *arg);
/** Job completion (loop thread). `status` is SMO_OK, or SMO_ECANCELED when
 *  the job was dropped before it ran. */
typedef void (*smo_after_fn)(void *arg, int status);

/* ---------------------------------------------------------------- HTTP -- */

/** An HTTP request. All pointers are borrowed for the http_request() call:
 *  the core copies what it needs. */
struct smo_http_request {
    uint32_t size;      /**< sizeof(struct smo_http_request) */
    const char *method; /**< "GET", "POST", "PUT", "PATCH", "DELETE"... */
    const char *url;    /**< http:// or https:// */
    const char *const *headers; /**< NULL-terminated "Name: value" list */
    const void *body;
    size_t body_len;
    int64_t timeout_ms;         /**< whole request; 0: 30 s */
    int64_t connect_timeout_ms; /**< 0: 10 s */
    const char *bearer_token;   /**< adds "Authorization: Bearer ..." */
    const char *basic_user;     /**< HTTP basic auth, with basic_password */
    const char *basic_password;
    const char *ca_file;          /**< PEM bundle to verify the server */
    const char *ca_pem;           /**< same, in memory */
    const char *client_cert_file; /**< PEM client certificate */
    const char *client_key_file;  /**< PEM client key */
    const char *client_cert_pem;  /**< same, in memory */
    const char *client_key_pem;
    bool insecure_skip_verify; /**< do not verify the server (explicit) */
    size_t max_response_bytes; /**< 0: 64 MiB; more fails with ETOOBIG */
};

/** A response; everything is borrowed for the callback only. */
struct smo_http_response {
    uint32_t size;
    long status;           /**< HTTP status code */
    const json_t *headers; /**< object: lower-case name -> value */
    const char *body;      /**< NUL-terminated (the NUL is not counted) */
    size_t body_len;
    double elapsed_ms;
};

/** `st->code` is SMO_OK whenever a response arrived, whatever its status;
 *  otherwise ETIMEDOUT, EUNAVAIL (connection refused, DNS), EPROTO (TLS or
 *  protocol failure) or ETOOBIG, and `resp` is NULL. */
typedef void (*smo_http_cb)(void *arg, const smo_status *st,
                            const struct smo_http_response *resp);

/* ------------------------------------------------------------ processes -- */

/** A child process: argv only, never a shell. */
struct smo_spawn_opts {
    uint32_t size;           /**< sizeof(struct smo_spawn_opts) */
    const char *const *argv; /**< NULL-terminated; argv[0] searched in
                                  PATH when it has no '/' */
    const char *const *env;  /**< NULL: inherit; else the exact "K=V" set */
    const char *cwd;         /**< NULL: the daemon's */
    const void *stdin_data;  /**< written then closed; NULL: empty stdin */
    size_t stdin_len;
    int64_t timeout_ms;      /**< 0: none; then SIGTERM, later SIGKILL */
    int64_t kill_grace_ms;   /**< SIGTERM -> SIGKILL delay; 0: 5 s */
    size_t max_output_bytes; /**< per stream; 0: 1 MiB; excess dropped */
};

struct smo_spawn_result {
    uint32_t size;
    int64_t exit_status; /**< -1 when killed by a signal */
    int term_signal;     /**< 0 unless killed by a signal */
    bool timed_out;
    const char *out; /**< captured stdout, NUL-terminated (borrowed) */
    size_t out_len;
    const char *err; /**< captured stderr, NUL-terminated (borrowed) */
    size_t err_len;
    bool out_truncated, err_truncated;
    double elapsed_ms;
};

/** `st->code`: SMO_OK for exit status 0; EEXTERNAL for another status or a
 *  signal; ETIMEDOUT; ENOENT when the program was not found (then `res` is
 *  NULL). */
typedef void (*smo_spawn_cb)(void *arg, const smo_status *st,
                             const struct smo_spawn_result *res);

/* ---------------------------------------------------------------- calls -- */

/** Result of a core method. `result` is new (the receiver owns it): the
 *  answer on success; on failure NULL or details such as {"errors": [...]}.
 *  `st->code` maps onto HTTP statuses in the API frontend. */
typedef void (*smo_call_cb)(void *arg, const smo_status *st, json_t *result);

/* -------------------------------------------------------------- metrics -- */

enum smo_metric_type {
    SMO_METRIC_COUNTER = 1,
    SMO_METRIC_GAUGE,
    SMO_METRIC_HISTOGRAM
};

/* ----------------------------------------------------------- host table -- */

struct smo_host {
    uint32_t size; /**< sizeof(struct smo_host) as built into the core */
    uint16_t abi_major, abi_minor;

    /* Logging: one line per call, tagged with the instance. Thread-safe. */
    bool (*log_enabled)(smo_instance *self, int level);
    void (*log)(smo_instance *self, int level, const char *file, int line,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

    /* Memory accounted per instance; zeroed. Free with host->free. */
    void *(*alloc)(smo_instance *self, size_t n);
    void (*free)(smo_instance *self, void *p);

    /* Instance facts (borrowed, valid until destroy). */
    const char *(*instance_name)(smo_instance *self);
    const json_t *(*instance_config)(smo_instance *self);
    /** The daemon's data directory (exists, writable by the daemon). */
    const char *(*data_dir)(smo_instance *self);
    /** The event loop as `uv_loop_t *`, for plugins that embed a libuv
     *  library (the HTTP server). Everything else uses the calls below. */
    void *(*loop)(smo_instance *self);
    /** Monotonic milliseconds (the loop's cached time). */
    uint64_t (*now_ms)(smo_instance *self);

    /* Timers. A one-shot timer (repeat_ms == 0) is freed after its callback
     * ran; a repeating one by timer_stop(). timer_stop() on a one-shot timer
     * before it fired cancels it. */
    smo_timer *(*timer_start)(smo_instance *self, uint64_t timeout_ms,
                              uint64_t repeat_ms, smo_cb cb, void *arg);
    void (*timer_stop)(smo_timer *t);
    /** Run cb(arg) on the next loop iteration. */
    int (*defer)(smo_instance *self, smo_cb cb, void *arg);

    /** Run work(arg) on the thread pool, then after(arg, status) on the
     *  loop. Blocking or CPU-heavy work goes here, nowhere else. */
    int (*queue_work)(smo_instance *self, smo_work_fn work, smo_after_fn after,
                      void *arg);

    /* Asynchronous HTTP client (libcurl multi on the loop). Returns NULL and
     * fills `st` when the request cannot even start. http_cancel(): the
     * callback will not be called. */
    smo_http_call *(*http_request)(smo_instance *self,
                                   const struct smo_http_request *req,
                                   smo_http_cb cb, void *arg, smo_status *st);
    void (*http_cancel)(smo_http_call *call);

    /* Asynchronous processes. The callback always runs once the child has
     * been reaped; proc_kill() only sends a signal. */
    smo_proc *(*spawn)(smo_instance *self, const struct smo_spawn_opts *opts,
                       smo_spawn_cb cb, void *arg, smo_status *st);
    int (*proc_kill)(smo_proc *p, int signum);

    /** Invoke a core method ("system.health", "graph.deploy"...). `params`
     *  is stolen (may be NULL). The callback runs later, never inside. */
    int (*call)(smo_instance *self, const char *method, json_t *params,
                smo_call_cb cb, void *arg);

    /* Metrics, rendered by the core in Prometheus text format. A family is
     * shared by every instance registering the same name; labels are given
     * as NULL-terminated lists, values in the order of the names. */
    smo_metric *(*metric_register)(smo_instance *self, int type,
                                   const char *name, const char *help,
                                   const char *const *label_names);
    void (*metric_add)(smo_metric *m, const char *const *label_values,
                       double v);
    void (*metric_set)(smo_metric *m, const char *const *label_values,
                       double v);
    void (*metric_observe)(smo_metric *m, const char *const *label_values,
                           double v);

    /** Record an event (type like "cluster.not_ready"); `data` is stolen. */
    int (*event_emit)(smo_instance *self, const char *type, const char *project,
                      const char *graph, json_t *data);

    /* Parsers the core owns, so that plugins need no libyaml. */
    /** YAML or JSON text -> JSON (one document, bounded size and depth,
     *  aliases expanded with a bound). `*out` is new. Pure: callable from
     *  worker threads. */
    int (*yaml_parse)(const char *text, size_t len, json_t **out,
                      smo_status *st);
    /** JSON -> YAML text. `*out` is freed with host->free(self, ...). */
    int (*yaml_emit)(smo_instance *self, const json_t *doc, char **out,
                     size_t *len, smo_status *st);
    /** Kubernetes quantity ("250m", "1.5Gi", "2e3") -> value. */
    int (*parse_quantity)(const char *text, double *value, smo_status *st);
    /** Duration ("500ms", "30s", "1m30s", "2h", plain seconds) -> ms. */
    int (*parse_duration)(const char *text, int64_t *ms, smo_status *st);
    /** DNS-1123 label check (lower-case alphanumerics and '-', starts and
     *  ends alphanumeric, at most `max_len` characters). */
    int (*check_dns_label)(const char *name, size_t max_len, smo_status *st);
};

/** True when the host table has `member` and it is set. */
#define SMO_HOST_HAS(host, member)                                             \
    (offsetof(struct smo_host, member) + sizeof((host)->member) <=             \
         (host)->size &&                                                       \
     (host)->member != NULL)

/** Level-checked logging; arguments are not evaluated when disabled. */
#define SMO_LOG(host, self, level, ...)                                        \
    do {                                                                       \
        if ((host)->log_enabled((self), (level)))                              \
            (host)->log((self), (level), __FILE__, __LINE__, __VA_ARGS__);     \
    } while (0)
#define SMO_LOG_E(h, s, ...) SMO_LOG(h, s, SMO_LOG_ERR, __VA_ARGS__)
#define SMO_LOG_W(h, s, ...) SMO_LOG(h, s, SMO_LOG_WARN, __VA_ARGS__)
#define SMO_LOG_N(h, s, ...) SMO_LOG(h, s, SMO_LOG_NOTICE, __VA_ARGS__)
#define SMO_LOG_I(h, s, ...) SMO_LOG(h, s, SMO_LOG_INFO, __VA_ARGS__)
#define SMO_LOG_D(h, s, ...) SMO_LOG(h, s, SMO_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* SMO_HOST_H */
