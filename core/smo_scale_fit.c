/* Capacity model fitted from observations: ordinary least squares of the
 * served request rate on the replica count. Kept apart from the loop so
 * that the arithmetic is unit-tested without a daemon. */
#include "smo_scale_fit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <smo/smo_error.h>

int smo__scale_fit(const double *x, const double *y, size_t n, size_t min_n,
                   struct smo__scale_fit *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (msglen)
        msg[0] = '\0';
    if (n < min_n || n < 2) {
        snprintf(msg, msglen, "%zu sample%s, %zu needed", n, n == 1 ? "" : "s",
                 min_n < 2 ? (size_t)2 : min_n);
        return SMO_EINVAL;
    }
    /* Centred sums: the rates can be large and the replica counts small,
     * and the naive sum-of-squares formula loses digits. */
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if (!isfinite(sxx) || !isfinite(sxy) || !isfinite(syy)) {
        snprintf(msg, msglen, "samples are not finite");
        return SMO_EINVAL;
    }
    if (sxx <= 1e-12 * (mx * mx + 1)) {
        snprintf(msg, msglen,
                 "every sample has %g replicas: the rate per replica is "
                 "unknown",
                 mx);
        return SMO_EINVAL;
    }
    out->alpha = sxy / sxx;
    out->beta = my - out->alpha * mx;
    out->r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
    if (!(out->alpha > 0)) {
        snprintf(msg, msglen,
                 "slope %.4g: the rate does not grow with the replicas",
                 out->alpha);
        return SMO_EINVAL;
    }
    return 0;
}
