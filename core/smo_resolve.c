/* Descriptor references -> text through the configured sources. */
#include <stdlib.h>
#include <string.h>

#include "smo_rt.h"

struct resolve_job {
    smo__resolve_cb cb;
    void *arg;
};

static void on_text(void *arg, const smo_status *st, const char *text,
                    size_t len, const char *media_type)
{
    (void)media_type;
    struct resolve_job *j = arg;
    j->cb(j->arg, st, text, len);
    free(j);
}

int smo__resolve_descriptor(struct smo_rt *rt, const char *ref,
                            smo__resolve_cb cb, void *arg, smo_status *st)
{
    for (smo_instance *i = smo__rt_first(rt, SMO_KIND_SOURCE); i;
         i = smo__rt_next(i, SMO_KIND_SOURCE)) {
        const struct smo_source_ops *ops = &i->plugin->ops.source;
        smo_status_clear(st);
        int r = ops->accepts(i->state, ref, st);
        if (r == SMO_SKIP)
            continue;
        if (r < 0)
            return r;
        struct resolve_job *j = calloc(1, sizeof *j);
        if (!j)
            return smo_status_set(st, SMO_ENOMEM, "out of memory");
        j->cb = cb;
        j->arg = arg;
        r = ops->resolve(i->state, ref, on_text, j, st);
        if (r) {
            free(j);
            return r;
        }
        return 0;
    }
    return smo_status_set(st, SMO_ENOTSUP,
                          "no configured source accepts \"%.200s\" (sources "
                          "take file paths, oci:// or http(s):// references "
                          "depending on conf.d)",
                          ref);
}
