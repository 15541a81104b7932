/* The HDAG descriptor: parsing (YAML or JSON, with or without the hdaGraph
 * wrapper), structural validation with every error collected and named by
 * its path, a canonical JSON document (defaults filled, booleans and
 * triggers normalised, unknown fields kept) and a typed model over it.
 *
 * Intent *semantics* (is "huge" a cpu class?) belong to the translator
 * plugins: smo__hdag_translate() runs the chain and reports their errors
 * under the service's path. */
#ifndef SMO__HDAG_H
#define SMO__HDAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

#define SMO__HDAG_MAX_SERVICES   5000
#define SMO__HDAG_SERVICE_ID_MAX 53 /* helm release names */
#define SMO__HDAG_GRAPH_ID_MAX   63

enum smo__trigger_kind {
    SMO__TRIGGER_STANDARD = 1, /* deploy now */
    SMO__TRIGGER_AUTO,         /* deploy now (dependencies recorded) */
    SMO__TRIGGER_EVENT         /* deploy when an alert fires */
};

struct smo__hdag_event {
    const char *id;
    const char *prom_query;
    int64_t grace_ms;
    const char *grace; /* as written, canonical ("30s") */
    const char *description;
};

struct smo__hdag_latency {
    const char *connection_point;
    const char *qos; /* NULL when absent */
    double max_ms;   /* < 0: no bound */
};

/* All strings point into the canonical document (`doc`); valid as long as
 * the model lives. */
struct smo__hdag_service {
    const char *id;
    const json_t *json; /* canonical service object */
    /* artifact */
    const char *oci_image;
    const char *oci_type;        /* NULL when absent */
    const char *oci_implementer; /* NULL when absent */
    bool wot;                    /* implementer is WOT (any case) */
    const json_t *values;        /* valuesOverwrite (object) */
    uint32_t replicas;           /* valuesOverwrite.replicaCount or 1 */
    /* intent */
    const json_t *cpu, *ram, *storage; /* class name or quantity */
    bool gpu;
    uint32_t gpu_count; /* devices per replica when gpu */
    const char **connection_points;
    size_t n_connection_points;
    const char **coloc;
    size_t n_coloc;
    const char **clusters; /* allowed clusters (SMO extension) */
    size_t n_clusters;
    struct smo__hdag_latency *latencies;
    size_t n_latencies;
    bool device_proximity;
    const json_t *metrics; /* array, kept for the monitoring loop */
    /* trigger */
    int trigger;               /* enum smo__trigger_kind */
    bool trigger_all;          /* event condition AND (else ANY) */
    bool undeploy_on_resolved; /* event: uninstall when the alert resolves */
    struct smo__hdag_event *events;
    size_t n_events;
    /* filled by smo__hdag_translate */
    struct smo_resources res;
};

struct smo__hdag {
    json_t *doc;         /* canonical {"hdaGraph": {...}} (owned) */
    const json_t *graph; /* doc.hdaGraph */
    const char *id;
    const char *version;     /* NULL when absent */
    const char *designer;    /* NULL when absent */
    const char *description; /* NULL when absent */
    bool static_placement;
    bool energy_efficiency;
    bool high_availability;
    bool high_performance;
    const char **clusters; /* graph-wide allowed clusters (extension) */
    size_t n_clusters;
    struct smo__hdag_service *services;
    size_t n_services;
    json_t *warnings; /* array of {path, message} (owned) */
    json_t *lines;    /* input key path -> line, when computed (owned) */
    bool wrapped;     /* the input had the hdaGraph wrapper */
};

/* Problems found in a descriptor: {path, message, line?} objects. */
struct smo__hdag_report {
    json_t *errors;   /* array (owned) */
    json_t *warnings; /* array (owned) */
};

/* A translator instance as the chain sees it. */
struct smo__translator_ref {
    const struct smo_translator_ops *ops;
    void *state;
    const char *name;
};

struct smo__hdag_opts {
    size_t max_bytes; /* 0: 16 MiB */
    size_t max_depth; /* 0: 64 */
    const char *name; /* source name for syntax errors */
    /* The document must be wrapped in "hdaGraph" (files, artifacts);
     * when false a bare graph object is accepted too (API bodies). */
    bool require_wrapper;
};

void smo__hdag_report_init(struct smo__hdag_report *r);
void smo__hdag_report_free(struct smo__hdag_report *r);
/** Errors as text, one per line: "[NAME:LINE: ]PATH: MESSAGE". */
char *smo__hdag_report_text(const struct smo__hdag_report *r, bool warnings,
                            const char *name);

/** Parse text (YAML or JSON) and validate. On success `*out` is a model
 *  and the report holds only warnings; otherwise the report's errors say
 *  why (all of them) and nothing is returned. Lines are recorded when the
 *  input was YAML or JSON text. */
int smo__hdag_parse(const char *text, size_t len,
                    const struct smo__hdag_opts *opts, struct smo__hdag **out,
                    struct smo__hdag_report *report);
/** Parse, validate and translate with `n` translators (0: no translation):
 *  the whole check of a descriptor text. Positions are attached to every
 *  problem reported (a second pass computes them only when needed). */
int smo__hdag_load(const char *text, size_t len,
                   const struct smo__hdag_opts *opts,
                   const struct smo__translator_ref *tr, size_t n,
                   struct smo__hdag **out, struct smo__hdag_report *report);
/** The same from an already parsed JSON value (borrowed; copied). */
int smo__hdag_from_json(const json_t *doc, const struct smo__hdag_opts *opts,
                        struct smo__hdag **out,
                        struct smo__hdag_report *report);
void smo__hdag_free(struct smo__hdag *h);

/** Run each service through `n` translators in order (SMO_SKIP passes).
 *  Errors are added to `report` under the service's path. Returns 0 when
 *  every service has cpu and memory. */
int smo__hdag_translate(struct smo__hdag *h,
                        const struct smo__translator_ref *tr, size_t n,
                        struct smo__hdag_report *report);

/** Strings the model accepts as booleans: JSON booleans and, in any case,
 *  "true"/"false", "yes"/"no", "on"/"off" (YAML 1.1 spellings the original
 *  SMO's PyYAML read as booleans). */
bool smo__boolish(const json_t *v, bool *out);

#endif
