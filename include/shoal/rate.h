/*
 * rate.h — a byte-rate estimator: an exponentially weighted moving average
 * of fixed-length sample intervals, driven by the caller's clock.
 *
 * Bytes are summed into the current interval (SH_RATE_TICK); each finished
 * interval is folded into the average with weight 1/SH_RATE_WINDOW, so the
 * estimate forgets with a time constant of about two seconds. During warm-up
 * (fewer than SH_RATE_WINDOW finished intervals) the weight is 1/k for the
 * k-th interval, i.e. the plain mean, so a fresh estimator is not biased
 * towards zero. Idle intervals count as zero samples: the rate decays when
 * traffic stops, even if nobody adds bytes.
 *
 * Pure arithmetic: no clock, no libm, no allocation. Reading is const and
 * does not disturb the state, so the same inputs give the same outputs.
 */
#ifndef SHOAL_RATE_H
#define SHOAL_RATE_H

#include <shoal/types.h>

#define SH_RATE_TICK SH_MS(500)
#define SH_RATE_WINDOW 4u

typedef struct sh_rate {
    sh_time tick_start;  /* start of the interval being filled */
    uint64_t tick_bytes; /* bytes added in that interval */
    double rate;         /* bytes/s over the finished intervals */
    uint32_t samples;    /* finished intervals, saturating at SH_RATE_WINDOW */
    uint64_t total;      /* every byte ever added */
} sh_rate;

void sh_rate_init(sh_rate *r, sh_time now);
void sh_rate_add(sh_rate *r, uint64_t bytes, sh_time now);
/* Bytes per second as of now (finished intervals only). */
double sh_rate_get(const sh_rate *r, sh_time now);
/* True once SH_RATE_WINDOW intervals have finished: the estimate is steady. */
bool sh_rate_warm(const sh_rate *r, sh_time now);

#endif
