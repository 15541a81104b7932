/* A mock host table for plugin unit tests: a virtual clock, thread-pool
 * jobs run on demand, scripted HTTP responses, process results and core
 * calls, and everything the plugin did recorded as JSON. Completions never
 * run inside the call that started them, as with the real host. One mock
 * at a time (tests are single-threaded). */
#ifndef SMO_MOCK_HOST_H
#define SMO_MOCK_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

struct smo_mock;

struct smo_mock *smo_mock_new(void);
void smo_mock_free(struct smo_mock *m);
const struct smo_host *smo_mock_host(struct smo_mock *m);
smo_instance *smo_mock_self(struct smo_mock *m);
/** Set the data directory reported to the plugin. */
void smo_mock_set_data_dir(struct smo_mock *m, const char *dir);

/** Run every pending completion (jobs, HTTP, processes, calls, deferred
 *  calls), repeatedly until none is left or `max_rounds` passed. Returns
 *  how many ran. */
size_t smo_mock_run(struct smo_mock *m);
/** Advance the virtual clock, firing due timers (then smo_mock_run). */
void smo_mock_advance(struct smo_mock *m, uint64_t ms);

/** Script the next response to a request whose method matches and whose
 *  URL starts with `url_prefix`. `status` 0 with `code` < 0 simulates a
 *  transport failure. Expectations are used in order. */
void smo_mock_http_expect(struct smo_mock *m, const char *method,
                          const char *url_prefix, long status, const char *body,
                          int code);
/** Script a process result for argv[0] == `prog` (basename match). */
void smo_mock_spawn_expect(struct smo_mock *m, const char *prog,
                           int64_t exit_status, const char *out,
                           const char *err);
/** Script a core method's answer; `result` is stolen (may be NULL). */
void smo_mock_call_expect(struct smo_mock *m, const char *method, int code,
                          json_t *result);

/** Recorded activity (borrowed arrays of objects). */
json_t *smo_mock_logs(struct smo_mock *m);   /* {level, msg} */
json_t *smo_mock_events(struct smo_mock *m); /* {type, project, graph, data} */
json_t *
smo_mock_requests(struct smo_mock *m);       /* {method, url, headers, body} */
json_t *smo_mock_spawns(struct smo_mock *m); /* {argv, env, stdin} */
json_t *smo_mock_calls(struct smo_mock *m);  /* {method, params} */
/** True when a log line contains `needle`. */
bool smo_mock_log_contains(struct smo_mock *m, const char *needle);
/** Bytes allocated with host->alloc and not freed. */
size_t smo_mock_mem_in_use(struct smo_mock *m);

#endif
