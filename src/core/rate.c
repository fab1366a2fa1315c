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

static void advance(sh_rate *r, sh_time now)
{
    if (now < r->tick_start || now - r->tick_start < SH_RATE_TICK) return;
    uint64_t n = (now - r->tick_start) / SH_RATE_TICK;
    double secs = (double)SH_RATE_TICK / 1e9;
    fold(r, (double)r->tick_bytes / secs);
    r->tick_bytes = 0;
    uint64_t idle = n - 1;
    for (uint64_t i = 0; i < idle && i < IDLE_FLUSH; i++)
        fold(r, 0.0);
    if (idle >= IDLE_FLUSH) r->rate = 0.0;
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
