/* Fuzz api_http's handling of Alertmanager webhook bodies (POST /alerts,
 * foreign input): the alerts list taken from the body, the alerts.receive
 * call made for each alert and the alert's entry in the answer. The whole
 * input is the body. The engine is not run: each alert gets an answer the
 * way the engine gives them, alternately an error whose message quotes the
 * alert's graph label (as "graph ... not found" does, truncated to the
 * status buffer) and a result. The input is also taken as a message
 * that has to become JSON text (problem details, the alert's error).
 * Invariants: a list comes out only from a JSON object holding an alerts
 * array; each call carries exactly its one alert and the wait_ms given;
 * every alert gets one entry, carrying its service and alertname labels;
 * the answer serialises; a message of any bytes becomes a JSON string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"

static void check_params(const json_t *alerts, size_t i, const json_t *wait)
{
    json_t *p = smo__api_alert_params(alerts, i, wait);
    const json_t *one = json_object_get(p, "alerts");
    if (!json_is_object(p) || json_array_size(one) != 1 ||
        json_array_get(one, 0) != json_array_get(alerts, i))
        abort();
    const json_t *w = json_object_get(p, "wait_ms");
    if (json_object_size(p) != 2 || (wait ? w != wait : !json_is_null(w)))
        abort();
    json_decref(p);
}

/* Any message becomes a JSON string of the same length, unchanged when
 * it was UTF-8 already. */
static void check_text(const char *s)
{
    json_t *t = smo__api_text(s);
    json_t *plain = json_string(s);
    if (!json_is_string(t) || json_string_length(t) != strlen(s) ||
        (plain && !json_equal(t, plain)))
        abort();
    json_decref(plain);
    json_decref(t);
}

/* The entry carries the label as it came, or nothing when absent. */
static void same_label(const json_t *r, const json_t *labels, const char *k)
{
    const json_t *want = json_object_get(labels, k);
    const json_t *got = json_object_get(r, k);
    if (want ? !json_equal(want, got) : got != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *msg = malloc(size + 1);
    if (!msg)
        return 0;
    memcpy(msg, data, size);
    msg[size] = '\0';
    check_text(msg);
    free(msg);
    json_t *alerts = smo__api_alerts_parse((const char *)data, size);
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!alerts) {
        if (json_is_array(json_object_get(doc, "alerts")))
            abort(); /* a good body refused */
        json_decref(doc);
        return 0;
    }
    if (!json_is_array(alerts) || !json_is_object(doc))
        abort();
    json_decref(doc);
    json_t *wait = json_integer(1500);
    json_t *results = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        check_params(alerts, i, i % 2 ? wait : NULL);
        const json_t *labels = json_object_get(a, "labels");
        smo_status st;
        smo_status_clear(&st);
        json_t *res = NULL;
        if (i % 2 == 0) {
            const char *g = json_string_value(json_object_get(labels, "graph"));
            smo_status_set(&st, SMO_ENOENT, "graph %s not found", g ? g : "");
        } else
            res = json_pack("{s:s, s:s}", "result", "ignored", "reason",
                            "no graph has this service pending");
        json_t *r = smo__api_alert_result(a, &st, res);
        if (!json_is_object(r) || !json_is_string(json_object_get(r, "result")))
            abort();
        if (st.code && !json_is_string(json_object_get(r, "error")))
            abort();
        same_label(r, labels, "service");
        same_label(r, labels, "alertname");
        json_array_append_new(results, r);
    }
    if (json_array_size(results) != json_array_size(alerts))
        abort();
    json_t *body = json_pack("{s:s, s:O}", "message", "Alert processed",
                             "results", results);
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        abort();
    free(text);
    json_decref(body);
    json_decref(results);
    json_decref(wait);
    json_decref(alerts);
    return 0;
}
