#define _GNU_SOURCE
#include "smo_units.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Quote at most 40 bytes of user input in messages, escaping the rest. */
static const char *shown(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 5 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 40) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

int smo__parse_quantity(const char *text, double *value, smo_status *st)
{
    char sb[200];
    if (!text || !*text)
        return smo_status_set(st, SMO_EINVAL, "empty quantity");
    const char *p = text;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    const char *num = p;
    size_t digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits++;
    }
    if (!digits)
        return smo_status_set(st, SMO_EINVAL,
                              "invalid quantity \"%s\": expected a number "
                              "such as 250m, 2, 1.5Gi",
                              shown(text, sb, sizeof sb));
    size_t nlen = (size_t)(p - num);
    if (nlen > 64)
        return smo_status_set(st, SMO_EINVAL,
                              "invalid quantity \"%s\": number too long",
                              shown(text, sb, sizeof sb));
    char nb[80];
    memcpy(nb, num, nlen);
    nb[nlen] = '\0';
    double v = strtod(nb, NULL);
    double mult = 1;

    static const struct {
        const char *s;
        double m;
    } suf[] = {{"Ki", 1024.0},
               {"Mi", 1048576.0},
               {"Gi", 1073741824.0},
               {"Ti", 1099511627776.0},
               {"Pi", 1125899906842624.0},
               {"Ei", 1152921504606846976.0},
               {"n", 1e-9},
               {"u", 1e-6},
               {"m", 1e-3},
               {"k", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"P", 1e15},
               {"E", 1e18}};
    if (*p) {
        bool found = false;
        for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++)
            if (strcmp(p, suf[i].s) == 0) {
                mult = suf[i].m;
                found = true;
                break;
            }
        if (!found && (*p == 'e' || *p == 'E')) {
            const char *q = p + 1;
            if (*q == '+' || *q == '-')
                q++;
            const char *ds = q;
            while (isdigit((unsigned char)*q))
                q++;
            if (q > ds && !*q && q - ds <= 4) {
                mult = pow(10.0, (double)strtol(p + 1, NULL, 10));
                found = true;
            }
        }
        if (!found)
            return smo_status_set(st, SMO_EINVAL,
                                  "invalid quantity \"%s\": unknown suffix "
                                  "\"%s\" (expected one of Ki Mi Gi Ti Pi Ei "
                                  "n u m k M G T P E or an exponent)",
                                  shown(text, sb, sizeof sb), p);
    }
    v *= mult;
    if (!isfinite(v) || v > 9.2e18)
        return smo_status_set(st, SMO_EINVAL,
                              "invalid quantity \"%s\": out of range",
                              shown(text, sb, sizeof sb));
    *value = neg ? -v : v;
    return SMO_OK;
}

int smo__parse_duration(const char *text, int64_t *ms, smo_status *st)
{
    char sb[200];
    if (!text || !*text)
        return smo_status_set(st, SMO_EINVAL, "empty duration");
    const char *p = text;
    double total = 0;
    bool any = false;
    /* A bare number means seconds. */
    {
        char *end;
        errno = 0;
        double d = strtod(text, &end);
        if (end != text && !*end && isdigit((unsigned char)text[0]) &&
            !strpbrk(text, "xXpPnN")) {
            if (!isfinite(d) || d < 0 || d > 9.2e15)
                return smo_status_set(st, SMO_EINVAL,
                                      "invalid duration \"%s\": out of range",
                                      shown(text, sb, sizeof sb));
            *ms = (int64_t)llround(d * 1000.0);
            return SMO_OK;
        }
    }
    while (*p) {
        const char *num = p;
        size_t digits = 0;
        while (isdigit((unsigned char)*p))
            p++, digits++;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p))
                p++, digits++;
        }
        if (!digits || p - num > 30)
            return smo_status_set(st, SMO_EINVAL,
                                  "invalid duration \"%s\": expected "
                                  "something like 500ms, 30s, 5m, 1h30m",
                                  shown(text, sb, sizeof sb));
        char nb[40];
        memcpy(nb, num, (size_t)(p - num));
        nb[p - num] = '\0';
        double v = strtod(nb, NULL);
        double unit;
        if (strncmp(p, "ms", 2) == 0)
            unit = 1, p += 2;
        else if (*p == 's')
            unit = 1e3, p++;
        else if (*p == 'm')
            unit = 60e3, p++;
        else if (*p == 'h')
            unit = 3600e3, p++;
        else if (*p == 'd')
            unit = 86400e3, p++;
        else if (*p == 'w')
            unit = 604800e3, p++;
        else
            return smo_status_set(st, SMO_EINVAL,
                                  "invalid duration \"%s\": missing or "
                                  "unknown unit (ms, s, m, h, d, w)",
                                  shown(text, sb, sizeof sb));
        total += v * unit;
        any = true;
        if (total > 9.2e18)
            return smo_status_set(st, SMO_EINVAL,
                                  "invalid duration \"%s\": out of range",
                                  shown(text, sb, sizeof sb));
    }
    if (!any)
        return smo_status_set(st, SMO_EINVAL, "invalid duration \"%s\"",
                              shown(text, sb, sizeof sb));
    *ms = (int64_t)llround(total);
    return SMO_OK;
}

void smo__format_duration(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "0s");
        return;
    }
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 4 && ms > 0 && o < n; i++) {
        if (ms >= units[i].ms) {
            int64_t q = ms / units[i].ms;
            ms -= q * units[i].ms;
            o += (size_t)snprintf(buf + o, n - o, "%lld%s", (long long)q,
                                  units[i].u);
        }
    }
}

void smo__format_bytes(uint64_t b, char *buf, size_t n)
{
    /* The shorter of the best binary and the best decimal spelling. */
    static const char *const bin[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
    static const char *const dec[] = {"E", "P", "T", "G", "M", "k"};
    char a[32], d[32];
    snprintf(a, sizeof a, "%llu", (unsigned long long)b);
    snprintf(d, sizeof d, "%llu", (unsigned long long)b);
    for (int i = 0; b && i < 6; i++) {
        uint64_t m = 1ull << (10 * (6 - i));
        if (b % m == 0) {
            snprintf(a, sizeof a, "%llu%s", (unsigned long long)(b / m),
                     bin[i]);
            break;
        }
    }
    uint64_t m = 1000000000000000000ull;
    for (int i = 0; b && i < 6; i++, m /= 1000) {
        if (b % m == 0) {
            snprintf(d, sizeof d, "%llu%s", (unsigned long long)(b / m),
                     dec[i]);
            break;
        }
    }
    snprintf(buf, n, "%s", strlen(d) < strlen(a) ? d : a);
}

int smo__check_dns_label(const char *name, size_t max_len, smo_status *st)
{
    char sb[200];
    if (!max_len)
        max_len = 63;
    if (!name || !*name)
        return smo_status_set(st, SMO_EINVAL, "empty name");
    size_t n = strlen(name);
    if (n > max_len)
        return smo_status_set(st, SMO_EINVAL,
                              "\"%s\" is %zu characters long, at most %zu "
                              "are allowed",
                              shown(name, sb, sizeof sb), n, max_len);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return smo_status_set(
                st, SMO_EINVAL,
                "\"%s\" is not a DNS-1123 label: character %zu is not a "
                "lower-case letter, digit or '-'",
                shown(name, sb, sizeof sb), i + 1);
    }
    if (name[0] == '-' || name[n - 1] == '-')
        return smo_status_set(st, SMO_EINVAL,
                              "\"%s\" is not a DNS-1123 label: it must start "
                              "and end with a letter or digit",
                              shown(name, sb, sizeof sb));
    return SMO_OK;
}
