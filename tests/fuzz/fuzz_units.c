/* Fuzz the quantity, duration and DNS-label parsers with the same input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smo_units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    smo_status st;
    double q;
    int64_t ms;
    smo__parse_quantity(s, &q, &st);
    smo__parse_duration(s, &ms, &st);
    smo__check_dns_label(s, 53, &st);
    char buf[64];
    if (smo__parse_duration(s, &ms, &st) == 0)
        smo__format_duration(ms, buf, sizeof buf);
    free(s);
    return 0;
}
