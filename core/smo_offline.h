/* Offline commands (validate, plan): a runtime restricted to the kinds they
 * need, driven to completion from main(). */
#ifndef SMO__OFFLINE_H
#define SMO__OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

struct smo_rt;
struct smo__hdag;
struct smo__translator_ref;

/** A started runtime with only `kinds` (bit 1 << kind) instantiated; NULL
 *  after printing the configuration problems. */
struct smo_rt *smo__offline_start(const char *conf, uint32_t kinds,
                                  int log_level);
/** Drain and free. */
void smo__offline_stop(struct smo_rt *rt);
/** Resolve a descriptor reference to text (malloc'd) through the sources. */
int smo__offline_fetch(struct smo_rt *rt, const char *ref, char **text,
                       size_t *len, smo_status *st);
/** The active translators, in order. */
size_t smo__offline_translators(struct smo_rt *rt,
                                struct smo__translator_ref *out, size_t max);
/** Translated services as JSON (new). */
json_t *smo__hdag_services_json(const struct smo__hdag *h);

/** `smod validate REF`: 0 valid, 1 invalid, 2 configuration problem. */
int smo__cmd_validate(const char *conf, const char *ref, const char *output,
                      int log_level);

#endif
