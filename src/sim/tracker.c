/*
 * tracker.c — the tracker host: the very sh_tstore (store and selection
 * policy) that `shoal tracker` runs, reached over the simulated network.
 *
 * Every host announces `started` when it starts (receivers --lead seconds
 * before the origin), again every interval the
 * tracker asks for, and `completed` when it finishes. A request reaches the
 * tracker after the latencies of both ends and the answer takes as long to
 * come back; the tracker itself has no bandwidth limit (its messages are a
 * few hundred bytes). Peers from an answer go to the swarm as
 * SH_SRC_TRACKER candidates.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

typedef struct sim_reply {
    sh_tpeer *peers;
    uint32_t n;
    uint32_t interval;
    sh_tevent ev;
} sim_reply;

int sim_tracker_init(sim_world *w)
{
    sh_tstore_config c = {
        .max_peers_swarm = w->nhosts + 16,
        .max_peers_total = w->nhosts + 16,
        .seed = w->o.seed ^ 0x747261636b6572ull, /* "tracker" */
        .interval = w->o.interval,
    };
    if (c.max_peers_swarm < 50000) c.max_peers_swarm = 50000;
    if (c.max_peers_total < 1000000) c.max_peers_total = 1000000;
    w->tracker_lat = (sh_time)(w->o.latency_ms * 1e6 + 0.5);
    return sh_tstore_new(&c, &w->ts);
}

void sim_tracker_free(sim_world *w)
{
    for (uint32_t i = 0; i < w->nreplies; i++)
        free(w->replies[i].peers);
    free(w->replies);
    free(w->free_replies);
    sh_tstore_free(w->ts);
}

static uint32_t numwant(const sim_world *w)
{
    uint32_t n = w->o.max_conns > SH_NUMWANT_DEFAULT ? w->o.max_conns : SH_NUMWANT_DEFAULT;
    return n > SH_NUMWANT_MAX ? SH_NUMWANT_MAX : n;
}

static uint32_t reply_new(sim_world *w)
{
    if (w->nfree_replies) return w->free_replies[--w->nfree_replies];
    if (w->nreplies == w->capreplies) {
        uint32_t n = w->capreplies ? w->capreplies * 2 : 256;
        sim_reply *v = realloc(w->replies, (size_t)n * sizeof *v);
        uint32_t *f = realloc(w->free_replies, (size_t)n * sizeof *f);
        if (v) w->replies = v;
        if (f) w->free_replies = f;
        if (!v || !f) return SIM_NONE;
        w->capreplies = n;
    }
    w->replies[w->nreplies].peers = malloc(SH_NUMWANT_MAX * sizeof(sh_tpeer));
    if (!w->replies[w->nreplies].peers) return SIM_NONE;
    return w->nreplies++;
}

void sim_on_announce(sim_world *w, uint32_t h, sh_tevent ev)
{
    sim_host *x = &w->hosts[h];
    if (x->crashed) return;
    x->announces++;
    w->st.announces++;
    sim_push(w, w->now + x->lat + w->tracker_lat, EV_TRACKER, h, ev);
}

void sim_on_tracker(sim_world *w, uint32_t h, sh_tevent ev)
{
    sim_host *x = &w->hosts[h];
    if (x->crashed) return;
    sh_swarm_stats st;
    sh_swarm_get_stats(x->sw, &st);
    sh_announce_req req = {
        .addr = x->addr,
        .uploaded = st.payload_up,
        .downloaded = st.payload_down,
        .left = st.left,
        .event = ev,
        .numwant = numwant(w),
        .compact = true,
    };
    memcpy(req.info_hash, sh_metainfo_wire_hash(w->mi), 20);
    sim_peer_id(h, req.peer_id);
    sh_tstore_expire(w->ts, w->now);
    uint32_t r = reply_new(w);
    if (r == SIM_NONE) return;
    sim_reply *rp = &w->replies[r];
    sh_announce_reply rep;
    int rc = sh_tstore_announce(w->ts, &req, w->now, &rep, rp->peers, SH_NUMWANT_MAX);
    rp->n = rc == 0 ? rep.num_peers : 0;
    rp->interval = rc == 0 && rep.interval ? rep.interval : 30;
    rp->ev = ev;
    sim_push(w, w->now + w->tracker_lat + x->lat, EV_REPLY, h, r);
}

void sim_on_reply(sim_world *w, uint32_t h, uint32_t r)
{
    sim_host *x = &w->hosts[h];
    sim_reply *rp = &w->replies[r];
    if (!x->crashed) {
        w->log_host = h;
        for (uint32_t i = 0; i < rp->n; i++)
            sh_swarm_add_peer(x->sw, &rp->peers[i].addr, SH_SRC_TRACKER, w->now);
        if (rp->ev != SH_TEV_COMPLETED) /* the periodic chain: started, then none */
            sim_push(w, w->now + SH_SEC(rp->interval), EV_ANNOUNCE, h, SH_TEV_NONE);
        sim_drain(w, h);
    }
    w->free_replies[w->nfree_replies++] = r;
}
