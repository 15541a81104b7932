/* smoctl's HTTP client: one blocking request at a time with libcurl (a
 * CLI has nothing else to do meanwhile), JSON in and out. */
#ifndef SMO__CTL_HTTP_H
#define SMO__CTL_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct smo__ctl {
    const char *url;   /* http://127.0.0.1:8000 */
    const char *token; /* bearer token or NULL */
    const char *ca_file;
    bool insecure;
    long timeout_s;
};

struct smo__ctl_resp {
    long status;  /* 0: no response */
    json_t *json; /* parsed body (new) or NULL */
    char *body;   /* raw body (malloc'd) */
    size_t len;
    char *location;
    char error[512]; /* transport failure */
};

/** method, path (with query), optional body and its content type. */
int smo__ctl_request(const struct smo__ctl *c, const char *method,
                     const char *path, const char *body, size_t len,
                     const char *ctype, struct smo__ctl_resp *r);
void smo__ctl_resp_free(struct smo__ctl_resp *r);

#endif
