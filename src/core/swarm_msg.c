/*
 * swarm_msg.c — every message from an established peer is checked against
 * the torrent and the connection's state before it changes anything, and a
 * violation closes that connection only (SH_EPROTO, logged with the rule).
 *
 * Ordering rules (INTEROP.md §4.2): the extension handshake may come first;
 * then at most one of bitfield / have_all / have_none, before any other
 * message; have_all / have_none and the other fast messages need the fast
 * extension on both sides (we always offer it).
 */
#include "swarm_int.h"

static int violation(sh_swarm *s, sh_peer *p, sh_time now, const char *rule)
{
    sw_close(s, p, SH_EPROTO, true, now, rule);
    return SH_EPROTO;
}

void sw_update_interest(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->dead || p->state != SH_PEER_ACTIVE) return;
    bool want = !sw_complete(s) && sh_picker_interesting(s->picker, p->seed ? NULL : &p->have);
    if (want == p->am_interested) return;
    p->am_interested = want;
    sw_send_simple(s, p, want ? SH_MSG_INTERESTED : SH_MSG_NOT_INTERESTED, now);
}

/* Two seeds have nothing to trade. Returns true if p was closed. */
static bool close_if_both_seeds(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!p->seed) return false;
    sw_cand *c = sw_cand_of_conn(s, p->id);
    if (c) c->seed = true;
    if (!sw_complete(s)) return false;
    sw_close(s, p, SH_ECLOSED, true, now, "both sides are seeds");
    return true;
}

static void become_seed(sh_swarm *s, sh_peer *p)
{
    if (p->origin) { /* a plain seed after all */
        p->origin = false;
        s->norigins--;
    }
    if (p->have.count) sh_picker_dec_bits(s->picker, &p->have);
    sh_bitfield_set_all(&p->have);
    sh_picker_inc_seed(s->picker);
    p->seed = true;
}

/* At most one of bitfield / have_all / have_none, before any other message. */
static int bits_window(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->got_bits) return violation(s, p, now, "a second bitfield, have_all or have_none");
    if (p->other_msgs)
        return violation(s, p, now, "bitfield, have_all or have_none after other messages");
    p->got_bits = true;
    return 0;
}

static int on_late_bitfield(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);

static int on_bitfield(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (p->got_bits || p->other_msgs) return on_late_bitfield(s, p, m, now);
    if (bits_window(s, p, now) < 0) return SH_EPROTO;
    if (sh_bitfield_load(&p->have, m->data.ptr, m->data.len) < 0)
        return violation(s, p, now, "bitfield of the wrong size or with spare bits set");
    if (sh_bitfield_full(&p->have)) {
        sh_bitfield_clear_all(&p->have);
        become_seed(s, p);
    } else if (p->have.count) {
        sh_picker_inc_bits(s->picker, &p->have);
    }
    sw_super_on_bits(s, p, now);
    if (close_if_both_seeds(s, p, now)) return 0;
    sw_update_interest(s, p, now);
    return 0;
}

static int on_have(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);

/* A bitfield after the window: aria2 sends its whole bitfield again now and
 * then instead of (or beside) HAVE messages, and libtorrent accepts it. Read
 * it as a batch of HAVEs; a cleared bit never takes a piece away (a peer
 * that lost data answers requests with rejects or not at all, as any peer
 * may). */
static int on_late_bitfield(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    sh_bitfield nb = {0};
    if (sh_bitfield_init(&nb, s->mi->num_pieces) < 0) return 0; /* only an update: skip it */
    if (sh_bitfield_load(&nb, m->data.ptr, m->data.len) < 0) {
        sh_bitfield_free(&nb);
        return violation(s, p, now, "bitfield of the wrong size or with spare bits set");
    }
    int rc = 0;
    for (uint32_t i = 0; i < nb.nbits && rc == 0 && !p->dead && !p->seed; i++)
        if (sh_bitfield_get(&nb, i)) rc = on_have(s, p, &(sh_msg){.id = SH_MSG_HAVE, .piece = i}, now);
    sh_bitfield_free(&nb);
    return rc;
}

static int on_have_all(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!p->fast) return violation(s, p, now, "have_all without the fast extension");
    if (bits_window(s, p, now) < 0) return SH_EPROTO;
    become_seed(s, p);
    sw_super_on_bits(s, p, now);
    if (close_if_both_seeds(s, p, now)) return 0;
    sw_update_interest(s, p, now);
    return 0;
}

static int on_have_none(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!p->fast) return violation(s, p, now, "have_none without the fast extension");
    return bits_window(s, p, now);
}

static int on_have(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (m->piece >= s->mi->num_pieces) return violation(s, p, now, "have index out of range");
    if (p->seed || sh_bitfield_get(&p->have, m->piece)) return 0;
    sh_bitfield_set(&p->have, m->piece);
    if (sh_bitfield_full(&p->have)) {
        sh_bitfield_clear(&p->have, m->piece);
        become_seed(s, p);
        if (close_if_both_seeds(s, p, now)) return 0;
    } else {
        sh_picker_inc(s->picker, m->piece);
        sw_note_have(s, p, m->piece);
    }
    sw_super_on_have(s, p, m->piece, now); /* after the count: the next choice sees it */
    if (!p->am_interested && !sh_picker_have(s->picker, m->piece)) sw_update_interest(s, p, now);
    return 0;
}

static void on_interest(sh_swarm *s, sh_peer *p, bool interested)
{
    if (p->peer_interested == interested) return;
    p->peer_interested = interested;
    s->choke_fill = true;
}

static int on_allowed_fast(sh_swarm *s, sh_peer *p, const sh_msg *m)
{
    if (m->piece >= s->mi->num_pieces) return 0; /* harmless: ignore */
    if (p->allowed.nbits == 0 && sh_bitfield_init(&p->allowed, s->mi->num_pieces) < 0) return 0;
    sh_bitfield_set(&p->allowed, m->piece);
    return 0;
}

static bool is_fast_msg(sh_msg_id id)
{
    return id == SH_MSG_SUGGEST || id == SH_MSG_REJECT || id == SH_MSG_ALLOWED_FAST;
}

/* Messages that end the bitfield window. */
static int on_ordered(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    p->other_msgs = true;
    if (is_fast_msg(m->id) && !p->fast)
        return violation(s, p, now, "fast-extension message without the fast extension");
    switch (m->id) {
    case SH_MSG_CHOKE:
        if (!p->peer_choking) {
            p->peer_choking = true;
            sw_on_choked(s, p, now);
        }
        return 0;
    case SH_MSG_UNCHOKE:
        p->peer_choking = false;
        return 0;
    case SH_MSG_INTERESTED:
        on_interest(s, p, true);
        return 0;
    case SH_MSG_NOT_INTERESTED:
        on_interest(s, p, false);
        return 0;
    case SH_MSG_HAVE:
        return on_have(s, p, m, now);
    case SH_MSG_REQUEST:
        return sw_on_request(s, p, m, now);
    case SH_MSG_PIECE:
        return sw_on_piece(s, p, m, now);
    case SH_MSG_CANCEL:
        return sw_on_cancel(s, p, m, now);
    case SH_MSG_REJECT:
        sw_on_reject(s, p, m, now);
        return 0;
    case SH_MSG_ALLOWED_FAST:
        return on_allowed_fast(s, p, m);
    case SH_MSG_HASH_REQUEST:
        return sw_on_hash_request(s, p, m, now);
    case SH_MSG_HASHES:
    case SH_MSG_HASH_REJECT:
        return sw_ext_on_hash_msg(s, p, m, now);
    default:
        return 0; /* suggest, unknown: ignored */
    }
}

int sw_on_message(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (p->state != SH_PEER_ACTIVE) return 0; /* a self-connection waiting to be closed */
    if (SH_LOG_ON(&s->log, SH_LOG_TRACE))
        sh_log(&s->log, SH_LOG_TRACE, SW_LOG, "conn %llu: <- %s", (unsigned long long)p->id,
               sh_msg_name(m->id));
    if (p->held_bits && !(m->id == SH_MSG_EXTENDED && m->ext_id == 0))
        sw_super_release_bits(s, p, false, now); /* no extension handshake first: not shoal */
    switch (m->id) {
    case SH_MSG_KEEPALIVE:
    case SH_MSG_PORT:
        return 0;
    case SH_MSG_EXTENDED:
        return m->ext_id == 0 ? sw_on_ext_handshake(s, p, m, now) : sw_ext_on_message(s, p, m, now);
    case SH_MSG_BITFIELD:
        return on_bitfield(s, p, m, now);
    case SH_MSG_HAVE_ALL:
        return on_have_all(s, p, now);
    case SH_MSG_HAVE_NONE:
        return on_have_none(s, p, now);
    default:
        return on_ordered(s, p, m, now);
    }
}
