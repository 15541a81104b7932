/* Alertmanager webhook bodies (POST /alerts): the alerts list, the engine
 * call made for each alert and the alert's entry in the answer; and error
 * messages made fit for JSON. Pure functions, fuzzed
 * (tests/fuzz/fuzz_alerts.c). */
#ifndef SMO_API_ALERTS_H
#define SMO_API_ALERTS_H

#include <stddef.h>

#include <jansson.h>
#include <smo/smo_error.h>

/** The "alerts" array of a webhook body (JSON text, `len` bytes; `body`
 *  may be NULL). NULL when the body is not a JSON object holding an
 *  alerts array. [returns new reference] */
json_t *smo__api_alerts_parse(const char *body, size_t len);

/** Params of the engine's alerts.receive call for `alerts[i]`: {"alerts":
 *  [that alert], "wait_ms": wait}, wait_ms null when `wait` is NULL.
 *  [returns new] */
json_t *smo__api_alert_params(const json_t *alerts, size_t i,
                              const json_t *wait);

/** `s` as a JSON string. Messages are cut to their buffer, possibly
 *  inside a character, and may quote foreign bytes: each byte that is not
 *  part of a UTF-8 character becomes '?', so that the message is never
 *  lost (jansson refuses strings that are not UTF-8). [returns new] */
json_t *smo__api_text(const char *s);

/** The entry of `alert` in the answer: the engine's `result` (taken), or
 *  {"result": "error", "error": message} when `st` holds an error, plus the
 *  alert's service and alertname labels when it has them. [returns new] */
json_t *smo__api_alert_result(const json_t *alert, const smo_status *st,
                              json_t *result);

#endif
