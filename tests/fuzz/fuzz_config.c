/* Fuzz one conf.d file: YAML, ${ENV} interpolation, structure and engine
 * schema checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smo_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smo__errlist e;
    smo__errlist_init(&e, 20);
    struct smo__conf *c = NULL;
    smo__conf_parse_text("fuzz.yaml", (const char *)data, size, &c, &e);
    char *joined = smo__errlist_join(&e, "\n");
    free(joined);
    smo__conf_free(c);
    smo__errlist_free(&e);
    char *out = NULL, msg[256];
    if (smo__conf_interpolate((const char *)data, size, &out, msg,
                              sizeof msg) == 0)
        free(out);
    return 0;
}
