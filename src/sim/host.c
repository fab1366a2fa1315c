/*
 * host.c — one host's swarm seen from the driver: draining its actions,
 * its timer, simulated verification, completion and crashes.
 *
 * Verification is instant and always succeeds (no payload exists to be
 * wrong). A crashed host stops: its swarm is never called again, its
 * connections close at the far ends after the latency, its pieces no
 * longer count as present anywhere.
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

static void schedule_timer(sim_world *w, uint32_t h)
{
    sim_host *x = &w->hosts[h];
    sh_time d = sh_swarm_next_deadline(x->sw);
    if (d == SH_TIME_NEVER) return;
    if (d < w->now) d = w->now;
    if (d >= x->timer_at) return;
    x->timer_at = d;
    sim_push(w, d, EV_TIMER, h, 0);
}

static void piece_gained(sim_world *w, uint32_t piece)
{
    if (w->holders[piece]++ == 0) w->missing--;
    if (w->missing == 0 && w->o.origin_crash_all && !w->hosts[0].crashed) {
        w->origin_crashed_at = w->now;
        sim_crash(w, 0);
    }
}

/* With --hash-rate the host's hasher checks pieces one after the other at that
 * rate (a real host hashes more slowly than a 40 Gbit/s link delivers); else
 * verification is instant. It always succeeds: there is no payload to be wrong. */
static void on_verify(sim_world *w, uint32_t h, const sh_action *a)
{
    sim_host *x = &w->hosts[h];
    if (w->o.hash_rate) {
        x->hash_free = sim_max(x->hash_free, w->now) + sim_xfer(a->len, w->o.hash_rate);
        sim_push(w, x->hash_free, EV_VERIFIED, h, a->piece);
        return;
    }
    sh_swarm_verified(x->sw, a->piece, true, w->now);
    if (!x->origin) piece_gained(w, a->piece);
}

void sim_on_verified(sim_world *w, uint32_t h, uint32_t piece)
{
    sim_host *x = &w->hosts[h];
    if (x->crashed) return;
    w->log_host = h;
    sh_swarm_verified(x->sw, piece, true, w->now);
    if (!x->origin) piece_gained(w, piece);
    sim_drain(w, h);
}

static void on_complete(sim_world *w, uint32_t h)
{
    sim_host *x = &w->hosts[h];
    if (x->complete) return;
    x->complete = true;
    x->complete_at = w->now;
    if (!x->origin) w->done++;
    sim_on_announce(w, h, SH_TEV_COMPLETED);
}

void sim_drain(sim_world *w, uint32_t h)
{
    sim_host *x = &w->hosts[h];
    sh_action a;
    w->log_host = h;
    while (sh_swarm_next_action(x->sw, &a)) {
        sim_trace_action(w, h, &a);
        switch (a.type) {
        case SH_ACT_CONNECT:
            sim_act_connect(w, h, &a);
            break;
        case SH_ACT_CLOSE:
            sim_act_close(w, h, &a);
            break;
        case SH_ACT_SEND:
            sim_act_send(w, h, &a);
            break;
        case SH_ACT_VERIFY:
            on_verify(w, h, &a);
            break;
        case SH_ACT_COMPLETE:
            on_complete(w, h);
            break;
        }
    }
    schedule_timer(w, h);
}

void sim_on_timer(sim_world *w, uint32_t h, sh_time t)
{
    sim_host *x = &w->hosts[h];
    if (x->crashed || t != x->timer_at) return; /* superseded by an earlier one */
    x->timer_at = SH_TIME_NEVER;
    if (w->now < sh_swarm_next_deadline(x->sw)) {
        sim_drain(w, h);
        return;
    }
    w->log_host = h;
    sh_swarm_on_timer(x->sw, w->now);
    if (sh_swarm_next_deadline(x->sw) <= w->now) { /* would spin: a core bug, never hide it */
        fprintf(stderr, "shoal-sim: host %u: deadline still due right after on_timer\n", h);
        x->timer_at = w->now + SH_MS(1);
        sim_push(w, x->timer_at, EV_TIMER, h, 0);
    }
    sim_drain(w, h);
}

void sim_crash(sim_world *w, uint32_t h)
{
    sim_host *x = &w->hosts[h];
    if (x->crashed) return;
    x->crashed = true;
    if (!x->origin) {
        w->alive--;
        if (x->complete) w->done--;
        const sh_bitfield *have = sh_swarm_have(x->sw);
        for (uint32_t p = 0; p < w->mi->num_pieces; p++)
            if (sh_bitfield_get(have, p) && --w->holders[p] == 0) w->missing++;
    }
    for (uint32_t c = 1; c < x->nconns; c++) {
        uint32_t e = x->conns[c];
        if (e == SIM_NONE || w->ends[e].state == SIM_CLOSED) continue;
        if (w->ends[e].state == SIM_OPEN) sim_end_close_far(w, e);
        w->ends[e].state = SIM_CLOSED;
    }
    x->rr_head = x->rr_tail = SIM_NONE;
}

/* K distinct live receivers, chosen with the network's generator. */
void sim_crash_random(sim_world *w, uint32_t k)
{
    uint32_t n = 0;
    uint32_t *cand = malloc((size_t)w->nhosts * sizeof *cand);
    if (!cand) return;
    for (uint32_t i = 1; i < w->nhosts; i++)
        if (!w->hosts[i].crashed) cand[n++] = i;
    for (uint32_t i = 0; i < k && i < n; i++) {
        uint32_t j = i + (uint32_t)sh_rng_below(&w->rng, n - i);
        uint32_t t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
        sim_crash(w, cand[i]);
    }
    free(cand);
}
