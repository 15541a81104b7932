/* Fuzz the HDAG descriptor parser and validator (YAML and JSON input, with
 * and without the hdaGraph wrapper); a valid result must round-trip through
 * its canonical YAML to the same canonical document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smo_hdag.h"
#include "smo_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smo__hdag_opts o = {0};
    o.require_wrapper = size % 2 == 0;
    struct smo__hdag_report rep;
    smo__hdag_report_init(&rep);
    struct smo__hdag *h = NULL;
    if (smo__hdag_parse((const char *)data, size, &o, &h, &rep) == 0) {
        char *y = NULL;
        size_t n = 0;
        smo_status st;
        if (smo__yaml_emit(h->doc, &y, &n, &st) == 0) {
            struct smo__hdag_report rep2;
            smo__hdag_report_init(&rep2);
            struct smo__hdag *h2 = NULL;
            o.require_wrapper = true;
            if (smo__hdag_parse(y, n, &o, &h2, &rep2) != 0 ||
                !json_equal(h->doc, h2->doc))
                abort(); /* canonical output must read back unchanged */
            smo__hdag_free(h2);
            smo__hdag_report_free(&rep2);
            free(y);
        }
    }
    char *t = smo__hdag_report_text(&rep, false, "fuzz");
    free(t);
    smo__hdag_free(h);
    smo__hdag_report_free(&rep);
    return 0;
}
