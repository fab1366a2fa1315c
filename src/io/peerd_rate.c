/*
 * peerd_rate.c — time for the peer driver's rates: the single timer that
 * wakes connections parked on an empty token bucket, and the smoothed
 * (EWMA, time constant PEERD_RATE_TAU) payload rates of the status.
 */
#include "io/peerd_int.h"

#include <math.h>

static void on_rate_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)l, (void)id;
    sh_peerd *p = ud;
    p->rate_timer = 0;
    p->rate_timer_at = 0;
    if (peerd_dead(p)) return;
    peerd_conn_unblock(p);
    peerd_pump(p);
}

void peerd_rate_wait(sh_peerd *p, sh_ratelimit *rl, uint64_t need)
{
    sh_time now = peerd_now(p);
    sh_time wait = sh_ratelimit_wait(rl, now, need);
    if (wait == 0) wait = 1; /* never at `now`: that would be a busy loop */
    sh_time at = now + wait;
    /* One timer for both buckets: the earliest wake-up wins; whoever is
     * still short then parks again and re-arms. */
    if (p->rate_timer && p->rate_timer_at <= at) return;
    if (p->rate_timer) sh_loop_cancel(p->loop, p->rate_timer);
    p->rate_timer = sh_loop_timer(p->loop, at, on_rate_timer, p);
    p->rate_timer_at = at;
}

void peerd_rate_cancel(sh_peerd *p)
{
    if (p->rate_timer) sh_loop_cancel(p->loop, p->rate_timer);
    p->rate_timer = 0;
    p->rate_timer_at = 0;
}

void ewma_init(ewma *e, sh_time now)
{
    *e = (ewma){0.0, 0, now, now};
}

static double advance(const ewma *e, uint64_t bytes, sh_time now)
{
    if (now <= e->last || bytes < e->last_bytes) return e->rate;
    double dt = (double)(now - e->last) / 1e9;
    double inst = (double)(bytes - e->last_bytes) / dt;
    double alpha = 1.0 - exp(-dt / PEERD_RATE_TAU);
    return e->rate + alpha * (inst - e->rate);
}

double ewma_peek(const ewma *e, uint64_t bytes, sh_time now)
{
    double r = advance(e, bytes, now);
    /* The average started from 0 and only has weight 1 - exp(-T/tau) of
     * real history after T seconds: divide that out, so a transfer that
     * runs at 5 MB/s reads 5 MB/s after one second, not 1.4. */
    double t = now > e->start ? (double)(now - e->start) / 1e9 : 0.0;
    double w = 1.0 - exp(-t / PEERD_RATE_TAU);
    return w > 1e-3 ? r / w : r;
}

void ewma_update(ewma *e, uint64_t bytes, sh_time now)
{
    /* Samples closer than 100 ms apart would make the instant rate noisy. */
    if (now < e->last + SH_MS(100)) return;
    e->rate = advance(e, bytes, now);
    e->last_bytes = bytes;
    e->last = now;
}
