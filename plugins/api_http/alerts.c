/* Alertmanager webhook bodies, outside the request plumbing so that the
 * fuzz target can reach them without a loop or an engine. */
#include <stdlib.h>
#include <string.h>

#include "alerts.h"

/* Length of the UTF-8 character at `s` (`n` bytes left), 0 when there is
 * none: bad lead or continuation bytes, overlong forms, surrogates and
 * code points past U+10FFFF, as jansson refuses them. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                    ? 1
                 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                                : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

json_t *smo__api_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return json_string("");
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char((const unsigned char *)s + i, n - i);
        if (k) {
            memcpy(copy + i, s + i, k);
            i += k;
        } else
            copy[i++] = '?';
    }
    copy[n] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *smo__api_alerts_parse(const char *body, size_t len)
{
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, 0, &je) : NULL;
    json_t *alerts = json_incref(json_object_get(doc, "alerts"));
    json_decref(doc);
    if (!json_is_array(alerts)) {
        json_decref(alerts);
        return NULL;
    }
    return alerts;
}

json_t *smo__api_alert_params(const json_t *alerts, size_t i,
                              const json_t *wait)
{
    /* One alert per call: the engine deploys for the first alert only. */
    return json_pack("{s:[O], s:O?}", "alerts", json_array_get(alerts, i),
                     "wait_ms", wait);
}

json_t *smo__api_alert_result(const json_t *alert, const smo_status *st,
                              json_t *result)
{
    json_t *labels = json_object_get(alert, "labels");
    json_t *r = st->code ? json_pack("{s:s, s:o}", "result", "error", "error",
                                     smo__api_text(st->msg))
                         : (result ? result : json_object());
    if (st->code)
        json_decref(result);
    json_object_set(r, "service", json_object_get(labels, "service"));
    json_object_set(r, "alertname", json_object_get(labels, "alertname"));
    return r;
}
