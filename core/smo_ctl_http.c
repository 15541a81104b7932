#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "smo_ctl_http.h"

#define MAX_RESPONSE (256u << 20)

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct smo__ctl_resp *r = arg;
    size_t add = size * n;
    if (r->len + add > MAX_RESPONSE)
        return 0;
    char *nb = realloc(r->body, r->len + add + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct smo__ctl_resp *r = arg;
    size_t len = size * n;
    if (len > 9 && !strncasecmp(p, "location:", 9)) {
        const char *v = p + 9;
        while (*v == ' ')
            v++;
        size_t vl = len - (size_t)(v - p);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        free(r->location);
        r->location = strndup(v, vl);
    }
    return len;
}

int smo__ctl_request(const struct smo__ctl *c, const char *method,
                     const char *path, const char *body, size_t len,
                     const char *ctype, struct smo__ctl_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(r->error, sizeof r->error, "cannot initialise libcurl");
        return -1;
    }
    char *url = NULL;
    size_t ul = strlen(c->url);
    if (asprintf(&url, "%.*s%s",
                 (int)(ul && c->url[ul - 1] == '/' ? ul - 1 : ul), c->url,
                 path) < 0) {
        curl_easy_cleanup(e);
        return -1;
    }
    struct curl_slist *h = NULL;
    char auth[600];
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, auth);
    }
    char ct[128];
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT,
                     c->timeout_s > 0 ? c->timeout_s : 3700L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "smoctl/" SMO_VERSION);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK)
        snprintf(r->error, sizeof r->error, "%s: %s", url,
                 err[0] ? err : curl_easy_strerror(rc));
    else {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->body)
            r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    free(url);
    return rc == CURLE_OK ? 0 : -1;
}

void smo__ctl_resp_free(struct smo__ctl_resp *r)
{
    json_decref(r->json);
    free(r->body);
    free(r->location);
    memset(r, 0, sizeof *r);
}
