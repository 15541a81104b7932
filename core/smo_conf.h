/* conf.d loading: every *.yaml / *.yml file of a directory in lexical order,
 * ${ENV} / ${ENV:-default} interpolation in scalar values, `engine` sections
 * deep-merged (later files win), `instances` lists concatenated. Each problem
 * is one line naming the file, the line and the key path. */
#ifndef SMO__CONF_H
#define SMO__CONF_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "smo_errlist.h"

struct smo__conf_instance {
    int kind;       /* enum smo_kind */
    char *plugin;   /* plugin name ("sqlite") */
    char *name;     /* instance name, unique */
    json_t *config; /* the instance's config mapping (owned) */
    int log_level;  /* -1: the engine's */
    char *file;     /* file that declared it */
    char *path;     /* key path inside that file ("instances[0]") */
    json_t *lines;  /* that file's key path -> line map (owned ref) */
};

/* The engine section, filled by the core schema. */
struct smo__engine_cfg {
    const char *log_level;
    const char *log_format;
    const json_t *plugin_path;
    const char *data_dir;
    int64_t shutdown_timeout_ms;
    int64_t threadpool_size;
    int64_t http_max_connections;
    int64_t events_buffer;
    /* engine.placement */
    double w_net, w_balance, w_move, w_cost;
    int64_t solve_time_limit_ms;
    double rel_gap;
    const char *solver;
    const json_t *latency;
    /* engine.placement.provision: a new cluster when capacity lacks */
    bool prov_enabled;
    const char *prov_vim;
    int64_t prov_area, prov_workers, prov_wait_ms, prov_poll_ms;
    /* engine.operations */
    int64_t step_timeout_ms;
    int64_t pending_window_ms;
    int64_t op_retention_ms;   /* 0: operations kept forever */
    int64_t op_prune_every_ms; /* how often the retention is applied */
    bool resume_on_start;
    bool leader_election;
    const char *executor;
    /* engine.scaling (smo_engine_scale.c) */
    bool scale_enabled;
    int64_t scale_interval_ms;
    int64_t scale_min_change_ms;
    int64_t scale_window_ms;
    int64_t scale_query_timeout_ms;
    int64_t scale_time_limit_ms;
    const char *scale_query;
    const char *scale_monitor;
    double scale_alpha, scale_beta;
    int64_t scale_min_replicas, scale_max_replicas, scale_max_step;
    double scale_w_util, scale_w_trans, scale_w_unmet;
    bool scale_replace;
    bool scale_fit, scale_fit_apply;
    int64_t scale_fit_window_ms, scale_fit_min_samples;
    const json_t *scale_services;
};

struct smo__conf {
    json_t *engine;              /* merged and normalised engine section */
    struct smo__engine_cfg ecfg; /* borrows from `engine` */
    struct smo__conf_instance *inst;
    size_t n_inst;
    json_t *files; /* array of loaded file paths */
};

/** Load and check the structure of `dir`. Returns 0, or the number of
 *  problems appended to `errs` (then `*out` is NULL). Plugin configs are not
 *  checked here: that needs the plugins (smo_runtime). */
int smo__conf_load(const char *dir, struct smo__conf **out,
                   struct smo__errlist *errs);
void smo__conf_free(struct smo__conf *c);
/** The same for one file's text (tests, fuzzing). */
int smo__conf_parse_text(const char *name, const char *text, size_t len,
                         struct smo__conf **out, struct smo__errlist *errs);

/** Expand ${VAR} and ${VAR:-default} ("$$" is a literal '$'). Returns 0 and
 *  a malloc'd string in `*out` (NULL when nothing changed), or an error
 *  with `msg` filled. Exposed for tests and the fuzzer. */
int smo__conf_interpolate(const char *in, size_t len, char **out, char *msg,
                          size_t n);

/** Kind from its configuration name ("store", "api" or "frontend"); -1. */
int smo__kind_parse(const char *s);
const char *smo__kind_name(int kind);

/** The engine section schema (for `smod plugins` and docs). */
const struct smo_config_field *smo__engine_schema(void);

#endif
