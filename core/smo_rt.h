/* The runtime: one event loop, the active set of plugin instances, and the
 * services behind the host table. Internal to the core. */
#ifndef SMO__RT_H
#define SMO__RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include <smo/smo.h>

#include "smo_conf.h"
#include "smo_errlist.h"
#include "smo_loader.h"

#define SMO__INSTANCE_MAGIC 0x534d4f49u /* "SMOI" */

struct smo_rt;
struct smo__http;
struct smo__metrics;
struct smo__events;
struct smo__methods;
struct smo__engine;

/* Something an instance owns that must be cancelled when it stops. */
struct smo__handle {
    struct smo__handle *prev, *next;
    smo_instance *owner;
    /* Cancel: after it returns, no plugin callback runs for this handle. */
    void (*cancel)(struct smo__handle *h);
};

enum smo__phase { SMO__CREATED = 1, SMO__STARTED, SMO__STOPPING, SMO__STOPPED };

struct smo_instance {
    uint32_t magic;
    struct smo_rt *rt;
    const struct smo__plugin *plugin; /* NULL for the core itself */
    int kind;
    char *name;
    json_t *config;             /* normalised config (owned) */
    void *cfg_struct;           /* filled by the schema (owned) */
    void *state;                /* the plugin's */
    int log_level;              /* -1: the engine's level */
    int phase;                  /* enum smo__phase */
    struct smo__handle handles; /* list head (sentinel) */
    size_t pending_work;        /* thread-pool jobs not yet completed */
    size_t mem_bytes;           /* host->alloc accounting */
    char *file, *path;          /* where it was declared */
    struct smo__stop_token *stop_token;
    uv_timer_t *stop_timer;
    void (*on_stopped)(smo_instance *inst, void *arg);
    void *on_stopped_arg;
    bool destroy_when_idle;
    struct smo_instance *next; /* in the active set / retired list */
};

struct smo_rt {
    uv_loop_t *loop;
    bool own_loop;
    char *conf_dir;
    char *data_dir;
    struct smo__loader loader;
    struct smo__conf *conf; /* active configuration */
    smo_instance *active;   /* active set, configuration order */
    smo_instance *retired;  /* stopping, not yet destroyed */
    smo_instance core;      /* the core's own "instance" */
    struct smo_host host;
    struct smo__http *http;
    struct smo__metrics *metrics;
    struct smo__events *events;
    struct smo__methods *methods;
    int64_t shutdown_timeout_ms;
    /* Bit (1 << kind) set for the kinds to instantiate; 0: all. Offline
     * commands (validate, plan) only need sources, translators, solvers. */
    uint32_t kind_mask;
    int log_override; /* >= 0: the log level, whatever engine.log_level */
    bool shutting_down;
    bool ready;
    uint64_t start_ms;
    uint64_t reloads_ok, reloads_failed;
    int exit_code; /* of `smod run`, set by smo__daemon_fail() */
    char *last_reload_error;
    /* Signals and systemd integration (smo_daemon.c). */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t watchdog;
    uv_timer_t trim; /* hands freed heap back to the kernel (smo_daemon.c) */
    bool signals_on, watchdog_on, trim_on;
    void (*on_shutdown_done)(struct smo_rt *rt);
    struct smo__engine *engine; /* NULL in offline commands */
    smo_metric *m_reloads;
};

/* ---- runtime (smo_runtime.c) ---- */

/** Create a runtime on `loop` (NULL: a new private loop). */
struct smo_rt *smo__rt_new(uv_loop_t *loop, const char *conf_dir,
                           const char *data_dir);
/** Free a runtime whose instances have all been destroyed. */
void smo__rt_free(struct smo_rt *rt);

/** Load conf.d and make it the active set (first start or reload). All or
 *  nothing: on failure the previous set keeps running, `errs` says why and
 *  the return value is negative. */
int smo__rt_apply_config(struct smo_rt *rt, struct smo__errlist *errs);

/** Reload conf.d (SIGHUP, system.reload): apply_config with logging and
 *  systemd notifications. `report` (new, may be NULL): {ok, duration_ms,
 *  errors[]}. */
int smo__rt_reload(struct smo_rt *rt, json_t **report);

/** Validate a configuration directory completely (plugins loaded, schemas
 *  and validate hooks run) without creating anything. */
int smo__rt_check_config(struct smo_rt *rt, struct smo__errlist *errs);

/** Stop every instance (API first, store last) and call `done` when all
 *  are destroyed. */
void smo__rt_shutdown(struct smo_rt *rt, void (*done)(struct smo_rt *rt));

/** Active instances of a kind, in configuration order. */
smo_instance *smo__rt_first(struct smo_rt *rt, int kind);
smo_instance *smo__rt_next(smo_instance *inst, int kind);
smo_instance *smo__rt_find(struct smo_rt *rt, const char *name);

/** JSON summary of the active set (health, `smod run` banner). */
json_t *smo__rt_describe(struct smo_rt *rt);

/* ---- instances (smo_instance.c) ---- */

void smo__instance_init_core(struct smo_rt *rt, smo_instance *inst);
/** Validate `cfg_in` against the plugin schema and the plugin's validate
 *  hook, returning the normalised config (new) and the filled struct. */
int smo__instance_prepare(struct smo_rt *rt, const struct smo__plugin *p,
                          const struct smo__conf_instance *ci, json_t **norm,
                          void **cfg_struct, struct smo__errlist *errs);
int smo__instance_create(struct smo_rt *rt, const struct smo__plugin *p,
                         const struct smo__conf_instance *ci, json_t *norm,
                         void *cfg_struct, smo_instance **out, smo_status *st);
int smo__instance_start(smo_instance *inst, smo_status *st);
/** Asynchronous stop, bounded by the runtime's shutdown timeout; the
 *  instance is destroyed afterwards and `cb` runs once it is. */
void smo__instance_stop(smo_instance *inst,
                        void (*cb)(smo_instance *inst, void *arg), void *arg);
/** Destroy an instance that was created but never started. */
void smo__instance_destroy_now(smo_instance *inst);
/** A thread-pool job of the instance ended (smo_timer.c). */
void smo__instance_work_done(smo_instance *inst);
/** Track / untrack a handle for cleanup. */
void smo__handle_link(smo_instance *owner, struct smo__handle *h);
void smo__handle_unlink(struct smo__handle *h);
/** Cancel every handle of the instance. */
void smo__instance_cancel_all(smo_instance *inst);
/** True when callbacks may still be delivered to the instance. */
bool smo__instance_live(const smo_instance *inst);
int smo__instance_log_level(const smo_instance *inst);

/* ---- host table (smo_host.c) ---- */

void smo__host_init(struct smo_rt *rt, struct smo_host *h);

/* ---- timers and work (smo_timer.c) ---- */

smo_timer *smo__timer_start(smo_instance *self, uint64_t timeout_ms,
                            uint64_t repeat_ms, smo_cb cb, void *arg);
void smo__timer_stop(smo_timer *t);
int smo__defer(smo_instance *self, smo_cb cb, void *arg);
int smo__queue_work(smo_instance *self, smo_work_fn work, smo_after_fn after,
                    void *arg);

/* ---- HTTP client (smo_http.c) ---- */

struct smo__http *smo__http_new(struct smo_rt *rt, long max_connections);
void smo__http_set_max(struct smo__http *h, long max_connections);
/** Cancel everything and release; closes its libuv handles. */
void smo__http_free(struct smo__http *h);
smo_http_call *smo__http_request(smo_instance *self,
                                 const struct smo_http_request *req,
                                 smo_http_cb cb, void *arg, smo_status *st);
void smo__http_cancel(smo_http_call *c);

/* ---- processes (smo_spawn.c) ---- */

smo_proc *smo__spawn(smo_instance *self, const struct smo_spawn_opts *opts,
                     smo_spawn_cb cb, void *arg, smo_status *st);
int smo__proc_kill(smo_proc *p, int signum);

/* ---- metrics (smo_metrics.c) ---- */

struct smo__metrics *smo__metrics_new(void);
void smo__metrics_free(struct smo__metrics *m);
smo_metric *smo__metric_register(struct smo__metrics *m, int type,
                                 const char *name, const char *help,
                                 const char *const *label_names,
                                 smo_status *st);
void smo__metric_add(smo_metric *m, const char *const *lv, double v);
void smo__metric_set(smo_metric *m, const char *const *lv, double v);
void smo__metric_observe(smo_metric *m, const char *const *lv, double v);
/** Prometheus text exposition format 0.0.4 (malloc'd). */
char *smo__metrics_render(struct smo__metrics *m);

/* ---- events (smo_events.c) ---- */

struct smo__events *smo__events_new(size_t capacity);
void smo__events_free(struct smo__events *e);
void smo__events_set_capacity(struct smo__events *e, size_t capacity);
/** Record an event; `data` is stolen. Returns its sequence number. */
uint64_t smo__events_emit(struct smo__events *e, const char *source,
                          const char *type, const char *project,
                          const char *graph, json_t *data);
/** Events with seq > `after` matching the optional filters (new array). */
json_t *smo__events_list(struct smo__events *e, uint64_t after,
                         const char *graph, size_t limit);

/* ---- core methods (smo_call.c) ---- */

struct smo__reply;
typedef void (*smo__method_fn)(struct smo_rt *rt, json_t *params,
                               struct smo__reply *reply);
struct smo__methods *smo__methods_new(void);
void smo__methods_free(struct smo__methods *m);
int smo__method_register(struct smo_rt *rt, const char *name,
                         smo__method_fn fn);
int smo__call(smo_instance *self, const char *method, json_t *params,
              smo_call_cb cb, void *arg);
/** Complete a call: `result` stolen. Delivery is always deferred. */
void smo__reply_ok(struct smo__reply *r, json_t *result);
void smo__reply_err(struct smo__reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** An error with details (stolen), e.g. {"errors": [...]}: the caller
 *  receives them as `result` beside the failed status. */
void smo__reply_err_detail(struct smo__reply *r, int code, json_t *detail,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Register the system.* methods. */
void smo__system_methods_register(struct smo_rt *rt);

/* ---- descriptor sources (smo_resolve.c) ---- */

/** Text of a descriptor reference, borrowed for the callback; on failure
 *  `text` is NULL and `st` says why. */
typedef void (*smo__resolve_cb)(void *arg, const smo_status *st,
                                const char *text, size_t len);
/** Offer `ref` to each active source in configuration order; the first
 *  that accepts it resolves it. The callback always runs later. */
int smo__resolve_descriptor(struct smo_rt *rt, const char *ref,
                            smo__resolve_cb cb, void *arg, smo_status *st);

/* ---- systemd (smo_notify.c) ---- */

/** Send a state string to $NOTIFY_SOCKET; no-op without it. */
int smo__notify(const char *state);
/** Watchdog interval from $WATCHDOG_USEC (0: disabled). */
uint64_t smo__watchdog_usec(void);

#endif
