/*
 * run.c — the event loop, and the trace digest that proves a run
 * reproducible.
 *
 * The digest folds, in order, every event popped (time, type, host,
 * argument) and every action a swarm queued (host, type, connection,
 * piece, length, reason, address). Two runs with one seed give one digest;
 * any change in what the core decides or when shows up in it.
 */
#include "sim.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9e3779b97f4a7c15ull;
    h = (h << 27 | h >> 37) * 0xff51afd7ed558ccdull;
    return h;
}

void sim_trace(sim_world *w, uint64_t a, uint64_t b)
{
    w->trace = mix(mix(w->trace, a), b);
}

void sim_trace_action(sim_world *w, uint32_t h, const sh_action *a)
{
    uint64_t addr = (uint64_t)a->addr.ip[0] << 24 | (uint64_t)a->addr.ip[1] << 16 |
                    (uint64_t)a->addr.ip[2] << 8 | a->addr.ip[3];
    sim_trace(w, (uint64_t)h << 8 | (uint64_t)a->type, a->conn);
    sim_trace(w, (uint64_t)a->piece << 32 | (uint32_t)a->reason,
              (uint64_t)a->len << 32 ^ addr << 16 ^ a->addr.port);
}

static void dispatch(sim_world *w, const sim_ev *e)
{
    uint32_t h = e->what & 0xffffffu;
    switch (e->what >> 24) {
    case EV_TIMER:
        sim_on_timer(w, h, e->t);
        break;
    case EV_TURN:
        sim_on_turn(w, h);
        break;
    case EV_ARRIVE:
        sim_on_arrive(w, e->arg);
        break;
    case EV_DELIVER:
        sim_on_deliver(w, e->arg);
        break;
    case EV_SYN:
        sim_on_syn(w, e->arg);
        break;
    case EV_SYNACK:
        sim_on_synack(w, e->arg);
        break;
    case EV_REFUSED:
        sim_on_refused(w, e->arg);
        break;
    case EV_FIN:
        sim_on_fin(w, e->arg);
        break;
    case EV_WAKE:
        sim_on_wake(w, e->arg);
        break;
    case EV_ANNOUNCE:
        sim_on_announce(w, h, (sh_tevent)e->arg);
        break;
    case EV_TRACKER:
        sim_on_tracker(w, h, (sh_tevent)e->arg);
        break;
    case EV_REPLY:
        sim_on_reply(w, h, e->arg);
        break;
    case EV_CRASH:
        sim_crash_random(w, e->arg);
        break;
    case EV_VERIFIED:
        sim_on_verified(w, h, e->arg);
        break;
    case EV_FLUSH:
        sim_on_flush(w, e->arg);
        break;
    }
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(const sim_world *w, double *last, bool tty)
{
    double t = wall();
    if (t - *last < (tty ? 2.0 : 60.0)) return;
    *last = t;
    fprintf(stderr, "%sshoal-sim: t = %.3f s, %u/%u done, %llu events, %llu pending%s",
            tty ? "\r" : "", (double)(w->now - SIM_T0) / 1e9, w->done, w->alive,
            (unsigned long long)w->st.events, (unsigned long long)sim_evq_size(&w->q),
            tty ? "   " : "\n");
}

void sim_run(sim_world *w)
{
    sh_time limit = SIM_T0 + (sh_time)(w->o.time_limit_s * 1e9);
    bool tty = isatty(STDERR_FILENO);
    bool show = w->o.progress || (!w->o.quiet && tty);
    double last = wall();
    sim_ev e;
    while (w->done < w->alive && sim_evq_pop(&w->q, &e)) {
        if (e.t > limit) break;
        w->now = e.t;
        w->st.events++;
        w->st.by_type[(e.what >> 24) & 15]++;
        sim_trace(w, e.t, (uint64_t)e.what << 32 | e.arg);
        dispatch(w, &e);
        if (show && (w->st.events & 0xfffff) == 0) progress(w, &last, tty);
    }
    if (show && tty) fprintf(stderr, "\r%78s\r", "");
}
