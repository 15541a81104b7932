/* Small parsers shared by the core and offered to plugins through the host
 * table: Kubernetes quantities, durations, DNS-1123 names. Pure functions,
 * fuzzed (tests/fuzz/fuzz_units.c). */
#ifndef SMO__UNITS_H
#define SMO__UNITS_H

#include <stddef.h>
#include <stdint.h>

#include <smo/smo_error.h>

/** Kubernetes quantity: [+-]number[suffix], suffix one of the binary SI
 *  (Ki Mi Gi Ti Pi Ei), decimal SI (n u m "" k M G T P E) or an exponent
 *  (e3, E-2). "250m" -> 0.25, "1.5Gi" -> 1610612736. */
int smo__parse_quantity(const char *text, double *value, smo_status *st);

/** Duration: a sequence of number+unit with units ms, s, m, h, d, w
 *  ("1m30s", "1.5h", "250ms"), or a plain non-negative number of seconds.
 *  Result in milliseconds (rounded), at most ~292 million years. */
int smo__parse_duration(const char *text, int64_t *ms, smo_status *st);

/** Format milliseconds as the shortest duration string ("1m30s"). */
void smo__format_duration(int64_t ms, char *buf, size_t n);

/** Bytes as the shortest exact quantity: "2Gi", "10G", "1536" (n >= 16). */
void smo__format_bytes(uint64_t bytes, char *buf, size_t n);

/** DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1..max_len (max_len 0:
 *  63). The message says exactly what is wrong. */
int smo__check_dns_label(const char *name, size_t max_len, smo_status *st);

#endif
