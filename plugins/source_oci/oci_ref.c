/* Artifact references, checked against the distribution spec's grammar
 * before anything reaches a URL or an argv: a reference comes from an API
 * client, so every character that could change the request (query,
 * fragment, user-info, "..", a leading '-') is refused here. */
#include <stdio.h>
#include <string.h>

#include "oci.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component = [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)* */
static bool component_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* a separator run, followed by an alphanumeric (checked above for
         * the end) */
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i >= n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

static bool repo_ok(const char *s, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == '/') {
            if (!component_ok(s + start, i - start))
                return false;
            start = i + 1;
        }
    return true;
}

/* tag = [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool tag_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '_';
        if (!alnum && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

static bool host_ok(const char *s, size_t n)
{
    if (n == 0 || n > 261)
        return false;
    size_t i = 0;
    if (s[0] == '[') { /* [v6]:port */
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return false;
        i = (size_t)(close - s) + 1;
    } else {
        size_t labels = 0;
        while (i < n && s[i] != ':') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return false;
            i++;
            labels++;
        }
        if (!labels || s[0] == '-' || s[0] == '.')
            return false;
    }
    if (i == n)
        return true;
    if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
        return false;
    unsigned port = 0;
    for (size_t j = i + 1; j < n; j++) {
        if (s[j] < '0' || s[j] > '9')
            return false;
        port = port * 10 + (unsigned)(s[j] - '0');
    }
    return port >= 1 && port <= 65535;
}

int smo__oci_ref_parse(const char *ref, bool http_urls,
                       struct smo__oci_ref *out, smo_status *st)
{
    memset(out, 0, sizeof *out);
    if (!ref)
        return SMO_SKIP;
    const char *p;
    if (strncmp(ref, "oci://", 6) == 0) {
        p = ref + 6;
    } else if (http_urls && strncmp(ref, "http://", 7) == 0) {
        p = ref + 7;
        out->plain_http = true;
    } else if (http_urls && strncmp(ref, "https://", 8) == 0) {
        p = ref + 8;
        out->tls = true;
    } else {
        return SMO_SKIP;
    }
    size_t len = strlen(p);
    if (len > 1024)
        return smo_status_set(st, SMO_EINVAL,
                              "reference longer than 1024 "
                              "characters");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f || p[i] == '?' ||
            p[i] == '#' || p[i] == '\\' || p[i] == '%')
            return smo_status_set(
                st, SMO_EINVAL,
                "reference %.200s: characters such as spaces, '?', '#', '%%' "
                "or '\\' are not allowed",
                ref);
    const char *slash = strchr(p, '/');
    if (!slash)
        return smo_status_set(st, SMO_EINVAL,
                              "reference %.200s: expected "
                              "oci://host[:port]/repository[:tag|@digest]",
                              ref);
    size_t hl = (size_t)(slash - p);
    if (memchr(p, '@', hl))
        return smo_status_set(st, SMO_EINVAL,
                              "reference %.200s: user names and passwords do "
                              "not belong in a reference (configure them "
                              "per registry)",
                              ref);
    if (!host_ok(p, hl))
        return smo_status_set(st, SMO_EINVAL,
                              "reference %.200s: invalid registry host "
                              "\"%.*s\"",
                              ref, (int)(hl > 200 ? 200 : hl), p);
    memcpy(out->host, p, hl);
    const char *rest = slash + 1, *end = rest + strlen(rest);
    const char *at = strchr(rest, '@');
    if (at) {
        if (!smo__oci_digest_valid(at + 1))
            return smo_status_set(st, SMO_EINVAL,
                                  "reference %.200s: the digest must be "
                                  "sha256: followed by 64 lower-case hex "
                                  "digits",
                                  ref);
        memcpy(out->digest, at + 1, 71);
        end = at;
    }
    const char *last_slash = NULL;
    for (const char *q = rest; q < end; q++)
        if (*q == '/')
            last_slash = q;
    const char *colon =
        memchr(last_slash ? last_slash : rest, ':',
               (size_t)(end - (last_slash ? last_slash : rest)));
    const char *repo_end = colon ? colon : end;
    if (!repo_ok(rest, (size_t)(repo_end - rest)))
        return smo_status_set(st, SMO_EINVAL,
                              "reference %.200s: invalid repository name "
                              "(lower-case letters, digits and . _ - "
                              "separated by /)",
                              ref);
    memcpy(out->repo, rest, (size_t)(repo_end - rest));
    if (colon) {
        size_t tl = (size_t)(end - colon - 1);
        if (!tag_ok(colon + 1, tl))
            return smo_status_set(st, SMO_EINVAL,
                                  "reference %.200s: invalid tag (letters, "
                                  "digits, _ . -, at most 128, not starting "
                                  "with . or -)",
                                  ref);
        memcpy(out->tag, colon + 1, tl);
    } else if (!at) {
        strcpy(out->tag, "latest");
    }
    return SMO_OK;
}

void smo__oci_ref_str(const struct smo__oci_ref *r, char *buf, size_t n)
{
    if (r->digest[0])
        snprintf(buf, n, "%s/%s@%s", r->host, r->repo, r->digest);
    else
        snprintf(buf, n, "%s/%s:%s", r->host, r->repo, r->tag);
}
