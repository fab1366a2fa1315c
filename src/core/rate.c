/*
 * rate.c — EWMA of fixed sample intervals. Time before tick_start (a clock
 * that went backwards, or a caller passing an older `now`) is treated as
 * "no time passed", never as a huge unsigned interval.
 */
#include <shoal/rate.h>

/* After this many idle intervals the average is below 1e-8 of its value. */
#define IDLE_FLUSH 64u

static void fold(sh_rate *r, double sample)
{
    if (r->samples < SH_RATE_WINDOW) r->samples++;
    r->rate += (sample - r->rate) / (double)r->samples;
}

/*
 * k intervals without bytes. Once warm, each keeps (W-1)/W of the average,
 * so k of them multiply it by that to the k-th power (by squaring: no
 * libm). It used to fold k zeros one by one: sh_rate_get on the rate of a
 * peer idle for half a minute did 64 divisions, and the swarm reads every
 * peer's rate at each choker pass; that loop was 14 % of shoal's CPU in
 * bench/swarm with 300 hosts at 16 KiB/s.
 */
static void fold_idle(sh_rate *r, uint64_t k)
{
    for (; k && r->samples < SH_RATE_WINDOW; k--)
        fold(r, 0.0);
    if (k >= IDLE_FLUSH) {
        r->rate = 0.0;
        return;
    }
    double keep = 1.0 - 1.0 / (double)SH_RATE_WINDOW, f = 1.0;
    for (; k; k >>= 1, keep *= keep)
        if (k & 1) f *= keep;
    r->rate *= f;
}

static void advance(sh_rate *r, sh_time now)
{
    if (now < r->tick_start || now - r->tick_start < SH_RATE_TICK) return;
    uint64_t n = (now - r->tick_start) / SH_RATE_TICK;
    double secs = (double)SH_RATE_TICK / 1e9;
    fold(r, (double)r->tick_bytes / secs);
    r->tick_bytes = 0;
    fold_idle(r, n - 1);
    r->tick_start += n * SH_RATE_TICK;
}

void sh_rate_init(sh_rate *r, sh_time now)
{
    *r = (sh_rate){.tick_start = now};
}

void sh_rate_add(sh_rate *r, uint64_t bytes, sh_time now)
{
    advance(r, now);
    r->tick_bytes += bytes;
    r->total += bytes;
}

double sh_rate_get(const sh_rate *r, sh_time now)
{
    sh_rate c = *r;
    advance(&c, now);
    return c.rate;
}

bool sh_rate_warm(const sh_rate *r, sh_time now)
{
    sh_rate c = *r;
    advance(&c, now);
    return c.samples >= SH_RATE_WINDOW;
}
