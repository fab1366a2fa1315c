/*
 * swarm_up.c — the requests peers send us, and who may send them.
 *
 * A request must lie inside the torrent and respect the negotiated length
 * (else the connection is closed: BEP 3 "close connections which request
 * more"); one for a piece we lack is rejected (fast) or ignored and counted
 * (more than SW_MAX_INVALID closes); one while we choke the peer, or beyond
 * our advertised queue (SW_REQQ), is rejected or dropped. With the fast
 * extension every request gets exactly one piece or one reject, including
 * after a cancel or a choke (INTEROP.md §4.4).
 *
 * Accepted requests wait in the peer's FIFO; only serve_ahead bytes of
 * payload at a time move into its output queue, so a choke can still
 * reject what has not started and memory stays bounded.
 */
#include "swarm_int.h"

#include <stdio.h>
#include <stdlib.h>

int sw_check_range(const sh_swarm *s, const sh_peer *p, const sh_msg *m)
{
    if (m->piece >= s->mi->num_pieces) return SH_EPROTO;
    if (m->length == 0 || m->length > p->max_req) return SH_EPROTO;
    uint32_t size = sh_metainfo_piece_size(s->mi, m->piece);
    if (m->offset > size || m->length > size - m->offset) return SH_EPROTO;
    return 0;
}

static void refuse(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (p->fast) sw_send_req(s, p, SH_MSG_REJECT, m->piece, m->offset, m->length, now);
}

static int range_violation(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    char why[128];
    snprintf(why, sizeof why, "%s out of range (piece %u offset %u length %u)",
             m->id == SH_MSG_REQUEST ? "request" : "cancel", m->piece, m->offset, m->length);
    sw_close(s, p, SH_EPROTO, true, now, why);
    return SH_EPROTO;
}

int sw_on_request(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (sw_check_range(s, p, m) < 0) return range_violation(s, p, m, now);
    p->last_req_at = now;
    if (!sh_picker_have(s->picker, m->piece)) {
        if (++p->invalid > SW_MAX_INVALID) {
            sw_close(s, p, SH_EPROTO, true, now, "too many requests for pieces we do not have");
            return SH_EPROTO;
        }
        refuse(s, p, m, now);
        return 0;
    }
    sh_inreq r = {m->piece, m->offset, m->length};
    if (p->am_choking || p->ninq >= SW_REQQ || sh_peer_inq_push(p, &r) < 0) refuse(s, p, m, now);
    return 0;
}

int sw_on_cancel(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (sw_check_range(s, p, m) < 0) return range_violation(s, p, m, now);
    sh_inreq r = {m->piece, m->offset, m->length};
    if (sh_peer_inq_remove(p, &r)) refuse(s, p, m, now);
    /* not queued: already on its way, the piece itself answers the request */
    return 0;
}

void sw_serve(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->dead || p->state != SH_PEER_ACTIVE) return;
    bool wrote = false;
    while (p->ninq && p->out.block_bytes < s->serve_ahead && !p->out.err) {
        sh_inreq r = *sh_peer_inq_front(p);
        sh_peer_inq_pop(p);
        size_t mark;
        sh_wire_put_piece_header(sw_out(s, p, &mark), r.piece, r.offset, r.len);
        wrote = true;
        if (mark == SIZE_MAX) {
            p->out.err = SH_ENOMEM;
            break;
        }
        sh_outq_commit(&p->out, mark);
        if (!p->out.err && sh_outq_block(&p->out, r.piece, r.offset, r.len) < 0) break;
    }
    if (wrote) sw_wrote(s, p, now);
}

static void set_choke(sh_swarm *s, sh_peer *p, bool choke, sh_time now)
{
    if (choke == p->am_choking) return;
    p->am_choking = choke;
    sw_send_simple(s, p, choke ? SH_MSG_CHOKE : SH_MSG_UNCHOKE, now);
    if (!choke) {
        p->unchoked_at = now;
        if (s->slot_idle) sw_arm(s, now + s->slot_idle); /* sw_check_slots */
        return;
    }
    p->last_served = now;
    while (p->ninq) { /* not started: fast peers get a reject for each */
        const sh_inreq *r = sh_peer_inq_front(p);
        if (p->fast) sw_send_req(s, p, SH_MSG_REJECT, r->piece, r->offset, r->len, now);
        sh_peer_inq_pop(p);
    }
}

bool sw_coop(const sh_peer *p)
{
    return p->got_ext_hs && p->ext_hs.shoal_block != 0;
}

/*
 * An unused slot is handed on. With a known link rate, a cooperative peer
 * that holds a slot but has asked us for nothing for slot_idle (a quarter
 * of a slot's piece time), while our upload runs under SW_SLOT_IDLE_UP of
 * the link, counts as not interested for the choker: it loses the slot to
 * a peer that waits for one. It asks nothing because its downlink is full
 * from others, or because every piece we could give it is in progress
 * elsewhere (few pieces). With two slots per host the fleet's links were
 * busy 65 % of the time: a receiver held slots it could not use while
 * others had none (shoal-sim, 300 hosts, 1 MiB in 32 KiB pieces at
 * 16 KiB/s, seeds 1-3: p50 / p99 / max 2.13 / 2.50 / 2.63 -> 1.88 / 1.99
 * / 2.01 T*). Without the upload condition hosts with sixteen slots lost
 * their sources to churn (8 MiB at 256 KiB/s: max 1.32 -> 1.45 T*).
 */
static bool upload_short(const sh_swarm *s, sh_time now)
{
    double up = 0;
    for (size_t i = 0; i < s->npeers; i++)
        if (!s->peers[i]->dead) up += sh_rate_get(&s->peers[i]->up_rate, now);
    return up < SW_SLOT_IDLE_UP * (double)s->link_rate;
}

static uint32_t waiting(const sh_swarm *s)
{
    uint32_t n = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        const sh_peer *p = s->peers[i];
        n += !p->dead && p->state == SH_PEER_ACTIVE && p->am_choking && p->peer_interested;
    }
    return n;
}

static bool slot_unused(const sh_swarm *s, const sh_peer *p, sh_time now)
{
    return !p->dead && p->state == SH_PEER_ACTIVE && !p->am_choking && sw_coop(p) &&
           p->ninq == 0 && p->out.block_bytes == 0 && now - p->last_req_at >= s->slot_idle &&
           now - p->unchoked_at >= s->slot_idle;
}

sh_time sw_check_slots(sh_swarm *s, sh_time now)
{
    if (!s->slot_idle) return SH_TIME_NEVER;
    if (now >= s->slot_check) {
        s->slot_check = now + s->slot_idle / 2;
        uint32_t unused = 0, held = 0;
        for (size_t i = 0; i < s->npeers; i++) {
            unused += slot_unused(s, s->peers[i], now);
            held += !s->peers[i]->dead && !s->peers[i]->am_choking;
        }
        bool hand_on = unused && upload_short(s, now);
        if ((hand_on || held < s->upload_slots) && waiting(s)) sw_run_choker(s, SH_CHOKE_FILL, now);
    }
    for (size_t i = 0; i < s->npeers; i++)
        if (!s->peers[i]->dead && !s->peers[i]->am_choking) return s->slot_check;
    return SH_TIME_NEVER; /* nobody holds a slot: set_choke arms us again */
}

/*
 * Slots: upload_slots, also inside a fleet. Unchoking every interested
 * cooperative peer was tried: a peer's upload then trickles to fifty peers
 * at once, each piece takes fifty piece-times to cross one hop, and pieces
 * spread slowly (shoal-sim, 100 hosts, 256 x 1 MiB: 16 slots 1.39 T*,
 * 32 slots 1.50 T*, every interested peer 1.60 T*, 4 slots 1.96 T*).
 */
void sw_run_choker(sh_swarm *s, sh_choke_mode mode, sh_time now)
{
    size_t n = 0;
    for (size_t i = 0; i < s->npeers; i++)
        n += !s->peers[i]->dead && s->peers[i]->state == SH_PEER_ACTIVE;
    if (n == 0) return;
    sh_choke_peer *cp = calloc(n, sizeof *cp);
    sh_peer **map = calloc(n, sizeof *map);
    if (!cp || !map) goto out;
    size_t k = 0;
    /* at most one slot handed on per peer that waits for one */
    uint32_t hand_on = s->slot_idle && upload_short(s, now) ? waiting(s) : 0;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = s->peers[i];
        if (p->dead || p->state != SH_PEER_ACTIVE) continue;
        map[k] = p;
        cp[k].conn = p->id;
        cp[k].interested = p->peer_interested;
        if (hand_on && p->peer_interested && slot_unused(s, p, now)) {
            cp[k].interested = false;
            hand_on--;
        }
        cp[k].unchoked = !p->am_choking;
        cp[k].down_rate = sh_rate_get(&p->down_rate, now);
        cp[k].last_served = p->am_choking ? p->last_served : now;
        cp[k].coop = sw_coop(p);
        k++;
    }
    sh_choker_run(&s->choker, cp, n, s->upload_slots, sw_complete(s), mode, &s->rng, now);
    for (size_t i = 0; i < n; i++)
        set_choke(s, map[i], !cp[i].unchoke, now);
out:
    free(cp);
    free(map);
}
