/* Fuzz the YAML/JSON -> JSON converter; whatever parses must emit and parse
 * back to an equal tree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smo_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smo__yaml_opts o = {0};
    o.max_nodes = 100000;
    json_t *j = NULL;
    smo_status st;
    smo_status_clear(&st);
    if (smo__yaml_parse((const char *)data, size, &o, &j, &st) != 0)
        return 0;
    char *y = NULL;
    size_t n = 0;
    if (smo__yaml_emit(j, &y, &n, &st) == 0) {
        json_t *back = NULL;
        if (smo__yaml_parse(y, n, &o, &back, &st) != 0 || !json_equal(j, back))
            abort(); /* the emitter produced something we cannot read back */
        json_decref(back);
        free(y);
    }
    json_decref(j);
    return 0;
}
