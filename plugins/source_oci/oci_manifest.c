/* Image manifests (OCI and Docker v2) and image indexes. Only what a pull
 * needs is read: the layers' digests, sizes, media types and titles; every
 * value is checked here so that the registry client can put a digest into a
 * URL without further thought. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

static bool type_is(const char *t, const char *want)
{
    size_t n = strlen(want);
    return t && strncmp(t, want, n) == 0 &&
           (t[n] == '\0' || t[n] == ';' || t[n] == ' ');
}

static int parse_index(json_t *j, struct smo__oci_manifest *m, smo_status *st)
{
    json_t *list = json_object_get(j, "manifests");
    if (!json_is_array(list))
        return smo_status_set(st, SMO_EINVAL,
                              "image index: \"manifests\" is not a list");
    size_t n = json_array_size(list);
    if (n != 1) {
        char names[300] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && i < 3; i++) {
            const char *d = json_string_value(
                json_object_get(json_array_get(list, i), "digest"));
            int w = snprintf(names + used, sizeof names - used, "%s%s",
                             i ? ", " : "", d ? d : "?");
            if (w < 0 || (size_t)w >= sizeof names - used)
                break;
            used += (size_t)w;
        }
        return smo_status_set(st, SMO_EINVAL,
                              "the reference is an image index with %zu "
                              "manifests; reference one by digest%s%s%s",
                              n, n ? " (" : "", names,
                              n > 3 ? ", ...)"
                              : n   ? ")"
                                    : "");
    }
    const char *d =
        json_string_value(json_object_get(json_array_get(list, 0), "digest"));
    if (!smo__oci_digest_valid(d))
        return smo_status_set(st, SMO_EINVAL,
                              "image index: manifests[0].digest is not a "
                              "sha256 digest");
    m->is_index = true;
    memcpy(m->next, d, 72);
    return SMO_OK;
}

static int parse_layers(json_t *j, size_t max_layers, uint64_t max_bytes,
                        struct smo__oci_manifest *m, smo_status *st)
{
    json_t *list = json_object_get(j, "layers");
    if (!json_is_array(list))
        return smo_status_set(st, SMO_EINVAL,
                              "manifest: \"layers\" is not a list");
    size_t n = json_array_size(list);
    if (n == 0)
        return smo_status_set(st, SMO_EINVAL, "manifest: no layers");
    if (n > max_layers)
        return smo_status_set(st, SMO_ETOOBIG,
                              "manifest: %zu layers, at most %zu are "
                              "accepted (max_layers)",
                              n, max_layers);
    m->layers = calloc(n, sizeof *m->layers);
    if (!m->layers)
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(list, i);
        struct smo__oci_layer *L = &m->layers[i];
        const char *d = json_string_value(json_object_get(l, "digest"));
        json_t *size = json_object_get(l, "size");
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        if (!smo__oci_digest_valid(d))
            return smo_status_set(st, SMO_EINVAL,
                                  "manifest: layers[%zu].digest is not a "
                                  "sha256 digest",
                                  i);
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return smo_status_set(st, SMO_EINVAL,
                                  "manifest: layers[%zu].size is not a "
                                  "non-negative integer",
                                  i);
        if ((uint64_t)json_integer_value(size) > max_bytes)
            return smo_status_set(st, SMO_ETOOBIG,
                                  "manifest: layers[%zu] is %lld bytes, the "
                                  "limit is %llu (max_layer_bytes)",
                                  i, (long long)json_integer_value(size),
                                  (unsigned long long)max_bytes);
        memcpy(L->digest, d, 72);
        L->size = (uint64_t)json_integer_value(size);
        snprintf(L->media_type, sizeof L->media_type, "%s", mt ? mt : "");
        const char *t = json_string_value(
            json_object_get(json_object_get(l, "annotations"),
                            "org.opencontainers.image.title"));
        snprintf(L->title, sizeof L->title, "%s", t ? t : "");
        m->n_layers = i + 1;
    }
    return SMO_OK;
}

int smo__oci_manifest_parse(const char *body, size_t len,
                            const char *content_type, size_t max_layers,
                            uint64_t max_layer_bytes,
                            struct smo__oci_manifest *m, smo_status *st)
{
    memset(m, 0, sizeof *m);
    json_error_t e;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        return smo_status_set(st, SMO_EINVAL,
                              "the manifest is not a JSON object");
    }
    int r;
    json_t *sv = json_object_get(j, "schemaVersion");
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (!mt)
        mt = content_type;
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        r = smo_status_set(st, SMO_EINVAL,
                           "unsupported manifest schemaVersion (only 2, the "
                           "OCI and Docker v2 formats, is read)");
    } else if (type_is(mt, SMO__OCI_MT_OCI_INDEX) ||
               type_is(mt, SMO__OCI_MT_DOCKER_LIST) ||
               ((!mt || !*mt || type_is(mt, "application/json")) &&
                json_object_get(j, "manifests"))) {
        r = parse_index(j, m, st);
    } else if (type_is(mt, SMO__OCI_MT_OCI_MANIFEST) ||
               type_is(mt, SMO__OCI_MT_DOCKER_MANIFEST) ||
               ((!mt || !*mt || type_is(mt, "application/json")) &&
                json_object_get(j, "layers"))) {
        r = parse_layers(j, max_layers, max_layer_bytes, m, st);
    } else {
        r = smo_status_set(st, SMO_EINVAL, "unsupported manifest type %.100s",
                           mt ? mt : "(none)");
    }
    json_decref(j);
    if (r)
        smo__oci_manifest_free(m);
    return r;
}

void smo__oci_manifest_free(struct smo__oci_manifest *m)
{
    free(m->layers);
    m->layers = NULL;
    m->n_layers = 0;
}
