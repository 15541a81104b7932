/* Least-squares fit of a service's capacity model, served = alpha * r +
 * beta, from (replicas, observed rate) samples (smo_scale_fit.c). */
#ifndef SMO__SCALE_FIT_H
#define SMO__SCALE_FIT_H

#include <stddef.h>
#include <stdint.h>

struct smo__scale_fit {
    double alpha, beta; /* the fitted line */
    double r2;          /* coefficient of determination, 1 when exact */
    size_t n;           /* samples used */
};

/** Ordinary least squares of y on x over n points. Returns 0, or
 *  SMO_EINVAL with `msg` saying why no usable model comes out: fewer than
 *  `min_n` samples, a single replica count (the slope is unknown), or a
 *  slope that is not positive (more replicas never serve less). The fit
 *  is still filled (n, and alpha/beta when computable). */
int smo__scale_fit(const double *x, const double *y, size_t n, size_t min_n,
                   struct smo__scale_fit *out, char *msg, size_t msglen);

/** Expand a request-rate query template (smo_engine_scale.c): $service,
 *  $graph and $project become quoted PromQL string literals, $window a
 *  duration, $$ a dollar. NULL with `err` filled on an unknown
 *  placeholder. Returns a malloc'd string. */
char *smo__scale_expand(const char *tmpl, const char *project,
                        const char *graph, const char *service,
                        int64_t window_ms, char *err, size_t errlen);

#endif
