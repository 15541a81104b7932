/* Which file of an artifact is the HDAG descriptor. The original took "the
 * first YAML found", which depends on archive order; here the choice is a
 * rule: the shallowest file named hdag.yaml or hdag.yml, else the one YAML
 * file with a top-level hdaGraph key. A tie is an error that names the
 * candidates, so the artifact's author can fix it. Shared with
 * source_hdarctl. */
#include <stdio.h>
#include <string.h>

#include "oci.h"

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static size_t depth(const char *p)
{
    size_t d = 0;
    for (; *p; p++)
        d += *p == '/';
    return d;
}

/* "a, b, c (and 4 more)" within the status message's room. */
static void list_names(char *buf, size_t cap, const struct smo__oci_files *f,
                       const size_t *idx, size_t n)
{
    size_t used = 0, shown = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = f->v[idx ? idx[i] : i].path;
        size_t need = strlen(p) + 2;
        if (used + need + 24 >= cap)
            break;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                 shown ? ", " : "", p);
        shown++;
    }
    if (shown < n)
        snprintf(buf + used, cap - used, "%s(and %zu more)", shown ? " " : "",
                 n - shown);
}

int smo__oci_select(const struct smo__oci_files *f, smo__oci_is_hdag_fn fn,
                    void *ctx, size_t *chosen, smo_status *st)
{
    enum { MAX_CAND = 64 };
    size_t cand[MAX_CAND], nc = 0, min_depth = (size_t)-1;
    char names[400];
    /* Rule 1: the shallowest hdag.yaml / hdag.yml. */
    for (size_t i = 0; i < f->n; i++) {
        const char *b = base_name(f->v[i].path);
        if (strcmp(b, "hdag.yaml") && strcmp(b, "hdag.yml"))
            continue;
        size_t d = depth(f->v[i].path);
        if (d < min_depth) {
            min_depth = d;
            nc = 0;
        }
        if (d == min_depth && nc < MAX_CAND)
            cand[nc++] = i;
    }
    if (nc > 1) {
        list_names(names, sizeof names, f, cand, nc);
        return smo_status_set(st, SMO_EINVAL,
                              "several descriptors named hdag.yaml/hdag.yml "
                              "at the same depth: %s",
                              names);
    }
    if (nc == 0) {
        /* Rule 2: the single YAML with a top-level hdaGraph key. */
        for (size_t i = 0; i < f->n; i++)
            if (f->v[i].data && f->v[i].hdag_hint &&
                fn(ctx, f->v[i].data, (size_t)f->v[i].size) && nc < MAX_CAND)
                cand[nc++] = i;
        if (nc > 1) {
            list_names(names, sizeof names, f, cand, nc);
            return smo_status_set(st, SMO_EINVAL,
                                  "several YAML files hold an hdaGraph key: "
                                  "%s (name the descriptor hdag.yaml)",
                                  names);
        }
        if (nc == 0) {
            list_names(names, sizeof names, f, NULL, f->n);
            return smo_status_set(st, SMO_EINVAL,
                                  "no HDAG descriptor in the artifact: no "
                                  "hdag.yaml and no YAML file with an "
                                  "hdaGraph key (files: %s)",
                                  f->n ? names : "none");
        }
    }
    const struct smo__oci_file *c = &f->v[cand[0]];
    if (!c->data)
        return smo_status_set(st, SMO_ETOOBIG,
                              "%.200s: %llu bytes, larger than the descriptor "
                              "limit (max_descriptor_bytes)",
                              c->path, (unsigned long long)c->size);
    *chosen = cand[0];
    return SMO_OK;
}

bool smo__oci_is_hdag(void *ctx, const char *text, size_t len)
{
    const struct smo_host *host = ctx;
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    if (host->yaml_parse(text, len, &doc, &st))
        return false;
    bool yes = json_is_object(doc) && json_object_get(doc, "hdaGraph");
    json_decref(doc);
    return yes;
}
