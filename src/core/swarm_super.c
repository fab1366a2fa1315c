/*
 * swarm_super.c — origin super-seeding between shoal peers (BEP 16-like).
 *
 * A swarm created complete (the origin of a fleet) uploads each piece to
 * one peer before it uploads any piece twice: whatever it sends the fleet
 * has nowhere else to get, so every duplicate it sends while some piece
 * has never left it delays the whole fleet by one piece time. A plain seed
 * cannot achieve that: it announces everything and the leechers, who do
 * not see each other's requests, choose overlapping pieces (measured in
 * shoal-sim: the origin uploaded 15 F to 50 hosts).
 *
 * So towards shoal peers (they sent shoal_block in the extension
 * handshake) the origin sends have_none (or nothing) instead of have_all,
 * then HAVE for a few pieces at a time: those advertised to the fewest
 * peers so far (ties from a random start). A peer holds `ahead` advertised
 * pieces it does not have while we unchoke it and one while we choke it
 * (so it stays interested); each HAVE it sends for an advertised piece
 * frees a place for the next. A peer that closes gives its pending
 * advertisements back.
 *
 * The bitfield must be our first message after the extension handshake,
 * and we learn whether the peer is shoal only from its extension
 * handshake: towards a peer that supports extensions the origin holds its
 * bitfield until that handshake, the peer's first other message, or
 * SW_SUPER_WAIT, whichever comes first. Standard clients get the full
 * bitfield as before. Requests for pieces we did not advertise are served
 * (we have them); nothing here ever refuses a request.
 */
#include "swarm_int.h"

#include <stdlib.h>

void sw_super_init(sh_swarm *s, const sh_swarm_config *cfg)
{
    if (cfg->no_super_seed || !sw_complete(s)) return;
    s->adv_count = calloc(s->mi->num_pieces, sizeof *s->adv_count);
    if (!s->adv_count) return; /* out of memory: a plain seed */
    uint64_t plen = s->mi->piece_length;
    uint64_t k = (SW_SUPER_AHEAD_BYTES + plen - 1) / plen;
    if (k < 2) k = 2;
    if (k > SW_SUPER_MAX) k = SW_SUPER_MAX;
    s->super_ahead = (uint32_t)k;
}

void sw_super_free(sh_swarm *s)
{
    free(s->adv_count);
    s->adv_count = NULL;
}

bool sw_super_hold(const sh_swarm *s, const sh_peer *p)
{
    return s->adv_count && p->ext && sw_complete(s);
}

/* The piece p lacks and was not told about, advertised to the fewest peers. */
static uint32_t choose(sh_swarm *s, const sh_peer *p)
{
    uint32_t n = s->mi->num_pieces, best = UINT32_MAX, start = (uint32_t)sh_rng_below(&s->rng, n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = start + k < n ? start + k : start + k - n;
        if (sh_bitfield_get(&p->have, i)) continue;
        if (best != UINT32_MAX && s->adv_count[i] >= s->adv_count[best]) continue;
        bool told = false;
        for (uint32_t j = 0; j < p->nadv && !told; j++)
            told = p->adv[j] == i;
        if (told) continue;
        best = i;
        if (s->adv_count[i] == 0) break;
    }
    return best;
}

void sw_super_top_up(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!p->super || p->dead || p->state != SH_PEER_ACTIVE) return;
    uint32_t want = p->am_choking ? 1 : s->super_ahead;
    while (p->nadv < want) {
        uint32_t piece = choose(s, p);
        if (piece == UINT32_MAX) return;
        p->adv[p->nadv++] = piece;
        s->adv_count[piece]++;
        size_t mark;
        sh_wire_put_have(sw_out(s, p, &mark), SH_MSG_HAVE, piece);
        sw_out_done(s, p, mark, now);
    }
}

void sw_super_release(sh_swarm *s, sh_peer *p)
{
    p->held_bits = false;
    if (!p->super) return;
    for (uint32_t j = 0; j < p->nadv; j++)
        if (s->adv_count[p->adv[j]]) s->adv_count[p->adv[j]]--;
    p->nadv = 0;
    p->super = false;
}

void sw_super_on_have(sh_swarm *s, sh_peer *p, uint32_t piece, sh_time now)
{
    if (!p->super) return;
    for (uint32_t j = 0; j < p->nadv; j++) {
        if (p->adv[j] != piece) continue;
        p->adv[j] = p->adv[--p->nadv];
        sw_super_top_up(s, p, now);
        return;
    }
}

/* Sends what the held bitfield was waiting for: to a shoal peer nothing but
 * have_none and the first advertisements, to any other the usual state. */
void sw_super_release_bits(sh_swarm *s, sh_peer *p, bool shoal, sh_time now)
{
    if (!p->held_bits) return;
    p->held_bits = false;
    if (!shoal || !s->adv_count) {
        sw_send_have_state(s, p, now);
        return;
    }
    p->super = true;
    p->nadv = 0;
    if (p->fast) sw_send_simple(s, p, SH_MSG_HAVE_NONE, now);
    sw_super_top_up(s, p, now);
}
