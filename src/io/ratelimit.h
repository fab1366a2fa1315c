/*
 * ratelimit.h — a token bucket for bytes on the wire: `rate` bytes per
 * second, holding at most `burst` = max(16 KiB, rate / 10) bytes, so a
 * limited connection may send a short burst but never more than rate × t +
 * burst over any interval t. Rate 0 means unlimited.
 *
 * The floor was 64 KiB: four seconds of a 16 KiB/s link, so an idle host
 * could pass on four pieces at once and a fleet of them beat the lower
 * bound its links allow (bench/swarm at 16 KiB/s measures against that
 * bound). 16 KiB is one block.
 *
 * Pure arithmetic on explicit times: it never reads a clock, never sleeps
 * and never allocates. Time is integer nanoseconds and refills never credit
 * more than was earned (rounding always favours the limit).
 */
#ifndef SHOAL_IO_RATELIMIT_H
#define SHOAL_IO_RATELIMIT_H

#include <shoal/types.h>

#define SH_RATELIMIT_MIN_BURST (16u * 1024u)

typedef struct sh_ratelimit {
    uint64_t rate;   /* bytes/s; 0 = unlimited */
    uint64_t burst;  /* bucket capacity in bytes */
    uint64_t tokens; /* bytes available as of `last` */
    uint64_t debt;   /* bytes charged beyond the tokens; repaid before tokens accrue */
    sh_time last;    /* refill has been credited up to this time */
} sh_ratelimit;

/* Starts full. */
void sh_ratelimit_init(sh_ratelimit *rl, uint64_t rate, sh_time now);
/* Changes the rate, keeping the tokens earned so far (capped at the new burst). */
void sh_ratelimit_set_rate(sh_ratelimit *rl, uint64_t rate, sh_time now);

static inline bool sh_ratelimit_unlimited(const sh_ratelimit *rl)
{
    return rl->rate == 0;
}

/* Tokens available now (UINT64_MAX when unlimited). */
uint64_t sh_ratelimit_available(sh_ratelimit *rl, sh_time now);
/* Takes up to want tokens; returns how many were granted (want when unlimited). */
uint64_t sh_ratelimit_take(sh_ratelimit *rl, sh_time now, uint64_t want);
/* Charges n bytes already sent: tokens first, the rest as debt that the
 * next refills repay. For small protocol messages that must not wait
 * behind bulk data; the limit still holds over time (rate × t + burst). */
void sh_ratelimit_charge(sh_ratelimit *rl, sh_time now, uint64_t n);
/* Returns unused tokens from a take (e.g. recv read less than granted). */
void sh_ratelimit_give_back(sh_ratelimit *rl, uint64_t n);
/* Nanoseconds from now until n tokens (n capped at burst) are available;
 * 0 if they are now. Waking at now + the result, take(n) succeeds. */
sh_time sh_ratelimit_wait(sh_ratelimit *rl, sh_time now, uint64_t n);

#endif
