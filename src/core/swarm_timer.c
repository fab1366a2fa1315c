/*
 * swarm_timer.c — everything that happens because time passed: handshake
 * and idle timeouts, keep-alives, snubs, the periodic choker and redials.
 *
 * s->deadline is kept as a lower bound between timer calls (events only
 * ever pull it earlier, cheaply); each sw_timer pass visits every peer once
 * and makes it exact again.
 */
#include "swarm_int.h"

static sh_time min_t(sh_time a, sh_time b)
{
    return a < b ? a : b;
}

static sh_time peer_deadline(const sh_peer *p)
{
    if (p->state != SH_PEER_ACTIVE) return p->hs_deadline;
    sh_time t = min_t(p->last_send + SW_KEEPALIVE, p->last_recv + SW_IDLE_TIMEOUT);
    if (p->held_bits) t = min_t(t, p->held_until);
    if (p->feed) t = min_t(t, p->fed_at + SW_SUPER_TURN);
    if (p->nreqs) {
        t = min_t(t, p->req_clock + SW_SNUB_TIMEOUT);
        t = min_t(t, p->reqs[0].at + SW_REQ_TIMEOUT);
    }
    return t;
}

static void peer_timer(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->state != SH_PEER_ACTIVE) {
        if (now >= p->hs_deadline) sw_close(s, p, SH_ETIMEOUT, true, now, "handshake timed out");
        return;
    }
    if (now - p->last_recv >= SW_IDLE_TIMEOUT) {
        sw_close(s, p, SH_ETIMEOUT, true, now, "nothing received for 120 s");
        return;
    }
    if (p->held_bits && now >= p->held_until) sw_super_release_bits(s, p, false, now);
    sw_super_timer(s, p, now);
    if (now - p->last_send >= SW_KEEPALIVE) sw_send_simple(s, p, SH_MSG_KEEPALIVE, now);
    sw_check_requests(s, p, now);
}

void sw_timer(sh_swarm *s, sh_time now)
{
    s->deadline = SH_TIME_NEVER;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = s->peers[i];
        if (p->dead) continue;
        peer_timer(s, p, now);
        if (!p->dead) sw_arm(s, peer_deadline(p));
    }
    if (now >= s->choke_next) {
        sw_run_choker(s, SH_CHOKE_FULL, now);
        s->choke_next = now + SH_CHOKER_INTERVAL;
    }
    sw_arm(s, s->choke_next);
    sw_arm(s, sw_check_slots(s, now));
    sw_dial(s, now);
    sw_arm(s, sw_dial_deadline(s, now));
    sw_ext_timer(s, now);
}
