/*
 * ratelimit.c — token bucket arithmetic in 128-bit intermediates, so
 * (elapsed ns × bytes/s) never overflows whatever the rate.
 */
#include "io/ratelimit.h"

__extension__ typedef unsigned __int128 u128;

#define NS_PER_S 1000000000u

static uint64_t burst_for(uint64_t rate)
{
    uint64_t b = rate / 10;
    return b < SH_RATELIMIT_MIN_BURST ? SH_RATELIMIT_MIN_BURST : b;
}

void sh_ratelimit_init(sh_ratelimit *rl, uint64_t rate, sh_time now)
{
    rl->rate = rate;
    rl->burst = burst_for(rate);
    rl->tokens = rl->burst;
    rl->debt = 0;
    rl->last = now;
}

/* Credits the tokens earned since last, repaying debt first. last
 * advances only by the time those whole tokens took (rounded up), so
 * fractions carry over. Tokens and debt are never both above zero. */
static void refill(sh_ratelimit *rl, sh_time now)
{
    if (rl->rate == 0 || now <= rl->last) return;
    if (rl->debt == 0 && rl->tokens >= rl->burst) {
        rl->last = now;
        return;
    }
    sh_time elapsed = now - rl->last;
    u128 add = (u128)elapsed * rl->rate / NS_PER_S;
    if (add >= (u128)rl->debt + (rl->burst - rl->tokens)) {
        rl->debt = 0;
        rl->tokens = rl->burst;
        rl->last = now;
        return;
    }
    uint64_t a = (uint64_t)add;
    uint64_t pay = a < rl->debt ? a : rl->debt;
    rl->debt -= pay;
    rl->tokens += a - pay;
    rl->last += (sh_time)(((u128)a * NS_PER_S + rl->rate - 1) / rl->rate);
}

void sh_ratelimit_set_rate(sh_ratelimit *rl, uint64_t rate, sh_time now)
{
    refill(rl, now);
    rl->rate = rate;
    rl->burst = burst_for(rate);
    if (rl->tokens > rl->burst) rl->tokens = rl->burst;
    if (rate == 0) rl->debt = 0;
    if (now > rl->last) rl->last = now;
}

uint64_t sh_ratelimit_available(sh_ratelimit *rl, sh_time now)
{
    if (rl->rate == 0) return UINT64_MAX;
    refill(rl, now);
    return rl->tokens;
}

uint64_t sh_ratelimit_take(sh_ratelimit *rl, sh_time now, uint64_t want)
{
    if (rl->rate == 0) return want;
    refill(rl, now);
    uint64_t got = want < rl->tokens ? want : rl->tokens;
    rl->tokens -= got;
    return got;
}

void sh_ratelimit_charge(sh_ratelimit *rl, sh_time now, uint64_t n)
{
    if (rl->rate == 0) return;
    refill(rl, now);
    uint64_t got = n < rl->tokens ? n : rl->tokens;
    rl->tokens -= got;
    rl->debt += n - got;
}

void sh_ratelimit_give_back(sh_ratelimit *rl, uint64_t n)
{
    if (rl->rate == 0) return;
    uint64_t pay = n < rl->debt ? n : rl->debt;
    rl->debt -= pay;
    n -= pay;
    rl->tokens = n > rl->burst - rl->tokens ? rl->burst : rl->tokens + n;
}

sh_time sh_ratelimit_wait(sh_ratelimit *rl, sh_time now, uint64_t n)
{
    if (rl->rate == 0) return 0;
    refill(rl, now);
    if (n > rl->burst) n = rl->burst;
    if (rl->debt == 0 && rl->tokens >= n) return 0;
    u128 need = (u128)rl->debt + n - rl->tokens; /* tokens is 0 while in debt */
    sh_time t = (sh_time)((need * NS_PER_S + rl->rate - 1) / rl->rate);
    sh_time due = rl->last + t;
    return due > now ? due - now : 0;
}
