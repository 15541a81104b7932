/* A bounded list of one-line error messages, for validators that report
 * every problem in one pass instead of stopping at the first. */
#ifndef SMO__ERRLIST_H
#define SMO__ERRLIST_H

#include <stddef.h>

struct smo__errlist {
    char **lines;
    size_t n, cap;
    size_t max;     /* lines kept; further ones are only counted */
    size_t dropped; /* lines not kept because of `max` */
};

/** `max` 0 means 100. */
void smo__errlist_init(struct smo__errlist *e, size_t max);
void smo__errlist_free(struct smo__errlist *e);
void smo__errlist_add(struct smo__errlist *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Total number of errors added (kept + dropped). */
size_t smo__errlist_count(const struct smo__errlist *e);
/** The lines joined by `sep` (plus "... and N more"); malloc'd. */
char *smo__errlist_join(const struct smo__errlist *e, const char *sep);

#endif
