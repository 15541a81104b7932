/* The registry's side of authentication: WWW-Authenticate challenges
 * (RFC 7235 auth-params, as the Docker token specification uses them) and
 * token endpoint answers. Parsing only; oci_registry.c decides what to do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oci.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One auth-param: name=token or name="quoted\"string". Returns the
 * position after it, or NULL when malformed. */
static const char *param(const char *p, char *name, size_t nn, char *val,
                         size_t vn)
{
    size_t i = 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '_' || *p == '-') {
        if (i + 1 >= nn)
            return NULL;
        name[i++] = *p++;
    }
    name[i] = '\0';
    if (!i)
        return NULL;
    p = skip_ws(p);
    if (*p != '=')
        return NULL;
    p = skip_ws(p + 1);
    i = 0;
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (!*p)
                return NULL;
            if (*p == '\\' && p[1])
                p++;
            if (i + 1 >= vn)
                return NULL;
            val[i++] = *p;
        }
        p++;
    } else {
        while (*p && *p != ',' && *p != ' ' && *p != '\t') {
            if (i + 1 >= vn)
                return NULL;
            val[i++] = *p++;
        }
    }
    val[i] = '\0';
    return p;
}

int smo__oci_challenge_parse(const char *h, struct smo__oci_challenge *c,
                             smo_status *st)
{
    memset(c, 0, sizeof *c);
    if (!h)
        return smo_status_set(st, SMO_EPROTO,
                              "the registry answered 401 without a "
                              "WWW-Authenticate challenge");
    const char *p = skip_ws(h);
    if (strncasecmp(p, "Bearer", 6) == 0 && (p[6] == ' ' || !p[6])) {
        c->bearer = true;
        p += 6;
    } else if (strncasecmp(p, "Basic", 5) == 0 && (p[5] == ' ' || !p[5])) {
        p += 5;
    } else {
        return smo_status_set(st, SMO_EPROTO,
                              "unsupported authentication scheme in "
                              "WWW-Authenticate: %.100s",
                              h);
    }
    for (;;) {
        p = skip_ws(p);
        if (!*p)
            break;
        char name[32], val[1024];
        const char *q = param(p, name, sizeof name, val, sizeof val);
        if (!q)
            return smo_status_set(st, SMO_EPROTO,
                                  "malformed WWW-Authenticate challenge: "
                                  "%.200s",
                                  h);
        /* A value too long for its field is refused, not truncated: a cut
         * realm or scope would silently ask for something else. */
        char *dst = NULL;
        size_t cap = 0;
        if (strcasecmp(name, "realm") == 0)
            dst = c->realm, cap = sizeof c->realm;
        else if (strcasecmp(name, "service") == 0)
            dst = c->service, cap = sizeof c->service;
        else if (strcasecmp(name, "scope") == 0)
            dst = c->scope, cap = sizeof c->scope;
        if (dst) {
            size_t vl = strlen(val);
            if (vl >= cap)
                return smo_status_set(st, SMO_EPROTO,
                                      "WWW-Authenticate %s longer than %zu "
                                      "characters",
                                      name, cap - 1);
            memcpy(dst, val, vl + 1);
        }
        p = skip_ws(q);
        if (*p == ',')
            p++;
        else if (*p)
            return smo_status_set(st, SMO_EPROTO,
                                  "malformed WWW-Authenticate challenge: "
                                  "%.200s",
                                  h);
    }
    if (c->bearer && !c->realm[0])
        return smo_status_set(st, SMO_EPROTO,
                              "Bearer challenge without a realm: %.200s", h);
    return SMO_OK;
}

int smo__oci_token_parse(const char *body, size_t len, char **out,
                         smo_status *st)
{
    *out = NULL;
    json_error_t e;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    const char *t = json_string_value(json_object_get(j, "token"));
    if (!t || !*t)
        t = json_string_value(json_object_get(j, "access_token"));
    if (!t || !*t || strpbrk(t, "\r\n")) {
        json_decref(j);
        return smo_status_set(st, SMO_EPROTO,
                              "the token endpoint's answer holds no token");
    }
    *out = strdup(t);
    json_decref(j);
    return *out ? SMO_OK : smo_status_set(st, SMO_ENOMEM, "out of memory");
}

char *smo__oci_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *w = o;
    if (!o)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
            *p == '~') {
            *w++ = (char)*p;
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return o;
}
