/* The API's routes: matching a method and path to a route, capturing path
 * variables, parsing query strings. Pure functions, fuzzed. */
#ifndef SMO_API_ROUTES_H
#define SMO_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum api_role { ROLE_NONE = 0, ROLE_READ, ROLE_ALERTS, ROLE_ADMIN };

/* How a route's request becomes a core call and its answer a response. */
enum api_kind {
    K_CALL = 1,   /* params from path and query; the result as JSON */
    K_DESCRIPTOR, /* body is a descriptor or {"artifact": ...} */
    K_ACTION,     /* lifecycle action: 202 + Location unless finished */
    K_LIST,       /* unwrap {"<key>": [...]} into the array */
    K_CLUSTERS,   /* cluster list in the original's shape too */
    K_ALERTS,     /* Alertmanager webhook body, one call per alert */
    K_METRICS,    /* Prometheus text */
    K_READY,      /* 200 or 503 */
    K_HEALTH,     /* answered by the plugin itself */
    K_OPENAPI,
    K_DOCS,
    K_UI,  /* the web console page */
    K_BODY /* body is a JSON object passed as params */
};

struct api_route {
    const char *methods; /* "GET", "GET|POST" */
    const char *pattern; /* "/graphs/{name}/start" */
    const char *call;    /* core method, NULL for K_HEALTH/K_OPENAPI/K_DOCS */
    int role;            /* enum api_role */
    int kind;            /* enum api_kind */
    const char *action;  /* for K_ACTION: deploy, start, ... (docs) */
};

extern const struct api_route smo__api_routes[];
extern const size_t smo__api_n_routes;

enum match_result { MATCH_OK = 0, MATCH_NO_PATH, MATCH_NO_METHOD };

/** Match `method` and `path` (without query). Path variables go into
 *  `vars` (an object) percent-decoded; a variable must be 1..253 bytes of
 *  printable characters other than '/'. */
int smo__api_match(const char *method, size_t method_len, const char *path,
                   size_t path_len, const struct api_route **out, json_t *vars);

/** Methods allowed on `path` ("GET, POST"), for a 405's Allow header;
 *  returns the length written to `buf`. */
size_t smo__api_allow(const char *path, size_t path_len, char *buf, size_t n);

/** Parse "a=1&b=x%20y" into `out` (strings; last one wins). Returns -1 for
 *  malformed escapes or more than 32 parameters. */
int smo__api_query(const char *q, size_t len, json_t *out);

/** Percent-decode into a new string (NULL when malformed or containing
 *  a NUL or control character). */
char *smo__api_unescape(const char *s, size_t len);

#endif
