/*
 * swarm_hs.c — from TCP connection to established peer: the BEP 3
 * handshake (torrent check, self and duplicate detection), then our
 * greeting — the BEP 10 extension handshake first (as libtorrent does),
 * then exactly one of have_all / have_none / bitfield (INTEROP.md §4.2) —
 * and the peer's extension handshake, which may raise the request size
 * between two shoal peers (shoal_block, INTEROP.md §4.5).
 */
#include "swarm_int.h"

#include <string.h>

void sw_connected(sh_swarm *s, sh_peer *p, sh_time now)
{
    char a[SH_ADDR_STRLEN];
    sw_info(s, "conn %llu: connected to %s", (unsigned long long)p->id,
            sh_addr_format(&p->addr, a, sizeof a));
    p->state = SH_PEER_HANDSHAKE;
    memcpy(p->info_hash, sh_metainfo_wire_hash(s->mi), 20);
    size_t mark;
    sh_wire_put_handshake(sw_out(s, p, &mark), s->rsv, p->info_hash, s->peer_id);
    sw_out_done(s, p, mark, now);
}

/* A hybrid answers to its v1 hash and to its truncated v2 hash. */
static bool our_torrent(const sh_swarm *s, const uint8_t ih[20])
{
    if (memcmp(ih, sh_metainfo_wire_hash(s->mi), 20) == 0) return true;
    return s->mi->version == SH_META_HYBRID && memcmp(ih, s->mi->info_hash_v2, 20) == 0;
}

static sh_peer *find_dup(const sh_swarm *s, const sh_peer *p)
{
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *q = s->peers[i];
        if (q != p && !q->dead && q->state == SH_PEER_ACTIVE && !memcmp(q->peer_id, p->peer_id, 20))
            return q;
    }
    return NULL;
}

/*
 * Which of two connections to the same peer goes. If both peers dialed each
 * other at once, "close the newer" can make each side close a different
 * one and lose both; so when the directions differ we keep the one opened
 * by the lower peer id, which both sides compute alike.
 */
static sh_peer *dup_loser(const sh_swarm *s, sh_peer *old, sh_peer *p)
{
    if (old->outgoing == p->outgoing) return p;
    bool we_lower = memcmp(s->peer_id, p->peer_id, 20) < 0;
    sh_peer *ours = p->outgoing ? p : old;
    sh_peer *theirs = p->outgoing ? old : p;
    return we_lower ? theirs : ours;
}

/* True if p survives the duplicate check. */
static bool resolve_dup(sh_swarm *s, sh_peer *p, sh_time now)
{
    sh_peer *old = find_dup(s, p);
    if (!old) return true;
    sh_peer *loser = dup_loser(s, old, p);
    sh_peer *winner = loser == p ? old : p;
    sw_cand *c = loser->outgoing ? sw_cand_of_conn(s, loser->id) : NULL;
    sw_close(s, loser, SH_EEXIST, true, now, "duplicate connection to the same peer");
    if (c) { /* the candidate is reached through the winner: do not redial it */
        c->state = SW_CAND_CONNECTED;
        c->conn = winner->id;
    }
    return loser != p;
}

static void send_handshake(sh_swarm *s, sh_peer *p, sh_time now)
{
    size_t mark;
    sh_wire_put_handshake(sw_out(s, p, &mark), s->rsv, p->info_hash, s->peer_id);
    sw_out_done(s, p, mark, now);
}

void sw_send_have_state(sh_swarm *s, sh_peer *p, sh_time now)
{
    uint32_t have = sh_picker_num_have(s->picker);
    if (p->fast && sw_complete(s)) {
        sw_send_simple(s, p, SH_MSG_HAVE_ALL, now);
    } else if (p->fast && have == 0) {
        sw_send_simple(s, p, SH_MSG_HAVE_NONE, now);
    } else if (have > 0) {
        const sh_bitfield *bf = sh_picker_have_bits(s->picker);
        size_t mark;
        sh_wire_put_bitfield(sw_out(s, p, &mark), bf->bits, sh_bitfield_bytes(bf->nbits));
        sw_out_done(s, p, mark, now);
    }
}

static void establish(sh_swarm *s, sh_peer *p, sh_time now)
{
    char a[SH_ADDR_STRLEN], id[41];
    p->state = SH_PEER_ACTIVE;
    uint32_t connecting, half_open, est = sw_count(s, &connecting, &half_open);
    if (est > s->peers_peak) s->peers_peak = est; /* a short-lived peer still counts */
    p->depth = SW_DEPTH_MIN;
    p->slow_start = true;
    p->last_recv = p->last_send = now;
    sh_rate_init(&p->down_rate, now);
    sh_rate_init(&p->up_rate, now);
    sw_arm(s, now + SW_KEEPALIVE);
    sw_info(s, "conn %llu: peer %s (%s) established, fast=%d ext=%d", (unsigned long long)p->id,
            sh_addr_format(&p->addr, a, sizeof a), sh_hex(p->peer_id, 20, id), p->fast, p->ext);
    sw_cand_established(s, p);
    if (p->ext) sw_send_ext_handshake(s, p, now);
    if (sw_super_hold(s, p)) { /* shoal or not: its extension handshake tells */
        p->held_bits = true;
        p->held_until = now + SW_SUPER_WAIT;
        sw_arm(s, p->held_until);
    } else {
        sw_send_have_state(s, p, now);
    }
    sw_ext_established(s, p, now);
}

int sw_on_handshake(sh_swarm *s, sh_peer *p, const sh_handshake *hs, sh_time now)
{
    if (!our_torrent(s, hs->info_hash)) {
        sw_close(s, p, SH_EPROTO, true, now, "handshake for another torrent");
        return SH_EPROTO;
    }
    memcpy(p->info_hash, hs->info_hash, 20);
    memcpy(p->peer_id, hs->peer_id, 20);
    p->fast = hs->flags & SH_RSV_FAST;
    p->ext = hs->flags & SH_RSV_EXTENSION;
    p->v2 = (hs->flags & SH_RSV_V2) && s->mi->version == SH_META_HYBRID;
    bool self = memcmp(hs->peer_id, s->peer_id, 20) == 0;
    if (!p->outgoing) send_handshake(s, p, now);
    if (self && !p->outgoing) {
        /* Stay silent: our own outgoing side reads the handshake we just sent,
         * recognises itself, remembers the address and closes both ends. */
        p->is_self = true;
        return 0;
    }
    if (self) {
        sw_mark_self(s, &p->addr);
        sw_close(s, p, SH_EEXIST, true, now, "connected to ourselves");
        return SH_EEXIST;
    }
    if (!resolve_dup(s, p, now)) return SH_EEXIST;
    establish(s, p, now);
    return 0;
}

void sw_send_ext_handshake(sh_swarm *s, sh_peer *p, sh_time now)
{
    sh_ext_hs h;
    memset(&h, 0, sizeof h);
    h.has_port = s->listen_port != 0;
    h.port = s->listen_port;
    memcpy(h.client, s->client_name, sizeof h.client);
    h.reqq = SW_REQQ;
    h.upload_only = sw_complete(s);
    h.metadata_size = (int64_t)s->mi->info_len;
    h.has_yourip = p->addr.family != 0;
    h.yourip = p->addr;
    h.yourip.port = 0;
    h.shoal_block = s->max_block > SH_WIRE_BLOCK ? s->max_block : 0;
    sw_ext_fill_hs(s, &h);
    sh_bbuf pl;
    sh_bbuf_init(&pl);
    sh_ext_hs_encode(&pl, &h);
    if (pl.err) p->out.err = pl.err;
    size_t mark;
    if (!pl.err)
        sh_wire_put_extended(sw_out(s, p, &mark), 0, pl.data, pl.len);
    else
        mark = SIZE_MAX;
    sh_bbuf_free(&pl);
    sw_out_done(s, p, mark, now);
}

/* Larger requests only when both sides advertised them (INTEROP.md §4.5). */
static void negotiate_block(sh_swarm *s, sh_peer *p)
{
    uint32_t theirs = p->ext_hs.shoal_block;
    if (s->max_block <= SH_WIRE_BLOCK || theirs <= SH_WIRE_BLOCK) return;
    uint32_t lim = theirs < s->max_block ? theirs : s->max_block;
    lim -= lim % SH_WIRE_BLOCK;
    p->max_req = lim;
    p->max_run = lim / SH_WIRE_BLOCK;
    sh_wire_limits l = s->lim;
    l.max_block = lim;
    if (l.max_msg < lim + 9) l.max_msg = lim + 9; /* id, index, begin, block */
    sh_wire_dec_set_limits(p->dec, &l);
}

/* An incoming peer told us its listen port: that candidate is connected. */
static void link_candidate(sh_swarm *s, sh_peer *p)
{
    if (p->outgoing || !p->ext_hs.has_port || p->ext_hs.port == 0) return;
    sh_addr a = p->addr;
    a.port = p->ext_hs.port;
    sw_cand *c = sw_cand_find(s, &a);
    if (c && c->state == SW_CAND_IDLE) {
        c->state = SW_CAND_CONNECTED;
        c->conn = p->id;
    }
}

int sw_on_ext_handshake(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    sh_ext_hs h;
    sh_errinfo ei = {{0}, 0};
    if (sh_ext_hs_parse(m->data.ptr, m->data.len, &h, &ei) < 0) {
        sw_close(s, p, SH_EPROTO, true, now, "extension handshake is not a dictionary");
        return SH_EPROTO;
    }
    bool first = !p->got_ext_hs;
    p->ext_hs = h;
    p->got_ext_hs = true;
    if (!first) return 0; /* an update (e.g. upload_only); limits stay as negotiated */
    negotiate_block(s, p);
    sw_super_release_bits(s, p, h.shoal_block != 0, now); /* before anything else we send */
    if (h.shoal_block && h.upload_only && !p->seed && !sw_complete(s)) {
        p->origin = true; /* have_all, should it follow, clears it (become_seed) */
        s->norigins++;
    }
    link_candidate(s, p); /* (yourip is not trusted to name ourselves: a peer could lie) */
    sw_ext_on_hs(s, p, now);
    sw_debug(s, "conn %llu: extension handshake: v=\"%s\" reqq=%u block=%u",
             (unsigned long long)p->id, h.client, h.reqq, p->max_req);
    return 0;
}
