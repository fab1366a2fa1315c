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
 * peers so far, then the rarest among our peers (ties from a random start).
 * SW_SUPER_FEED peers are fed at once, in turn (least recently fed first):
 * each gets a batch of `super_ahead` advertised pieces, and when it has all
 * of them (its HAVEs, whether the pieces came from us or not) the next
 * peer's turn begins. A peer we do not feed has nothing to want from us,
 * so it is not interested and holds no upload slot. A peer that closes
 * gives its pending advertisements back.
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
    s->adv_out = calloc(s->mi->num_pieces, sizeof *s->adv_out);
    if (!s->adv_count || !s->adv_out) { /* out of memory: a plain seed */
        sw_super_free(s);
        return;
    }
    uint64_t plen = s->mi->piece_length;
    uint64_t k = (SW_SUPER_AHEAD_BYTES + plen - 1) / plen;
    /* The fed peers' batches together cover the file at most once: with
     * few pieces (1 MiB in 32 KiB pieces, bench/swarm N = 1000) four
     * batches of 16 advertised every piece twice at once, and the origin
     * sent 2.5 F. */
    s->super_feed = SW_SUPER_FEED < s->upload_slots ? SW_SUPER_FEED : s->upload_slots;
    uint64_t cover = s->mi->num_pieces / s->super_feed;
    if (k > cover) k = cover;
    if (k < 2) k = 2;
    if (k > SW_SUPER_MAX) k = SW_SUPER_MAX;
    /* On a link of known rate a batch is SW_SUPER_BATCH_S of our upload (at
     * least 2 pieces: with 1 a lone receiver never gets the wider window of
     * sw_super_on_have and waits a round trip per piece, 2.02 T*): at
     * 16 KiB/s four batches of 8 x 32 KiB held the origin's upload for
     * 64 s, fed peers waited past the snub timeout and turns ended before
     * their pieces had left (docs/scheduling.md §7). */
    if (s->link_rate) {
        double t = (double)s->link_rate * SW_SUPER_BATCH_S / ((double)s->super_feed * (double)plen);
        if (t < (double)k) k = t < 2.0 ? 2 : (uint64_t)t;
    }
    s->super_ahead = (uint32_t)k;
}

void sw_super_free(sh_swarm *s)
{
    free(s->adv_count);
    free(s->adv_out);
    s->adv_count = NULL;
    s->adv_out = NULL;
}

bool sw_super_hold(const sh_swarm *s, const sh_peer *p)
{
    return s->adv_count && p->ext && sw_complete(s);
}

/* Ordering key of a piece for the next advertisement, smaller first: times
 * advertised; then, among pieces advertised as often, one that reached
 * some peer of ours before one still on its way to its first holder (a
 * second copy of that would duplicate what the origin is already sending);
 * then the fewest holders among our peers. */
static uint64_t piece_key(const sh_swarm *s, uint32_t i)
{
    uint64_t av = sh_picker_availability(s->picker, i);
    if (av > 0xffffffu) av = 0xffffffu;
    uint64_t pending = s->adv_out[i] > 0 && av == 0;
    return ((uint64_t)s->adv_count[i] << 32) | (pending << 31) | av;
}

/* Advertised, and on its way to its first holder (or stalled there): a
 * second copy now would take the origin's upload from pieces that have
 * never left it, and while u_origin is the fleet's bottleneck every such
 * duplicate delays every host (shoal-sim, 100 hosts, 1 MiB at 16 KiB/s:
 * the origin sent 3.2 F and the fleet finished at 2.7 T*). */
static bool pending(const sh_swarm *s, uint32_t i)
{
    return s->adv_out[i] > 0 && sh_picker_availability(s->picker, i) == 0;
}

static void adv_add(sh_swarm *s, sh_peer *p, uint32_t piece)
{
    p->adv[p->nadv++] = piece;
    s->adv_count[piece]++;
    s->adv_out[piece]++;
}

/* The peer's j-th advertisement is answered (or void). */
static void adv_drop(sh_swarm *s, sh_peer *p, uint32_t j)
{
    uint32_t piece = p->adv[j];
    if (s->adv_out[piece]) s->adv_out[piece]--;
    p->adv[j] = p->adv[--p->nadv];
}

/* The piece p lacks and was not told about with the smallest key (ties
 * from a random start). */
static uint32_t choose(sh_swarm *s, const sh_peer *p)
{
    uint32_t n = s->mi->num_pieces, best = UINT32_MAX;
    uint64_t best_key = UINT64_MAX;
    uint32_t start = (uint32_t)sh_rng_below(&s->rng, n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = start + k < n ? start + k : start + k - n;
        if (sh_bitfield_get(&p->have, i)) continue;
        uint64_t key = piece_key(s, i);
        if (key >= best_key || pending(s, i)) continue;
        bool told = false;
        for (uint32_t j = 0; j < p->nadv && !told; j++)
            told = p->adv[j] == i;
        if (told) continue;
        best = i;
        best_key = key;
        if (key == 0) break;
    }
    return best;
}

/* Advertises up to `window` pieces to a peer being fed. */
static void top_up(sh_swarm *s, sh_peer *p, uint32_t window, sh_time now)
{
    if (!p->super || !p->feed || p->dead || p->state != SH_PEER_ACTIVE) return;
    if (window > SH_PEER_ADV_MAX) window = SH_PEER_ADV_MAX;
    while (p->nadv < window) {
        uint32_t piece = choose(s, p);
        if (piece == UINT32_MAX) return;
        adv_add(s, p, piece);
        size_t mark;
        sh_wire_put_have(sw_out(s, p, &mark), SH_MSG_HAVE, piece);
        sw_out_done(s, p, mark, now);
    }
}

void sw_super_top_up(sh_swarm *s, sh_peer *p, sh_time now)
{
    top_up(s, p, s->super_ahead, now);
}

static void stop_feeding(sh_swarm *s, sh_peer *p)
{
    if (!p->feed) return;
    p->feed = false;
    s->feeding--;
}

/* The super peer fed least recently that still lacks a piece. */
static sh_peer *next_to_feed(sh_swarm *s)
{
    sh_peer *best = NULL;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = s->peers[i];
        if (!p->super || p->feed || p->dead || p->seed || p->state != SH_PEER_ACTIVE) continue;
        if (p->have.count + p->nadv >= p->have.nbits) continue;
        if (!best || p->fed_at < best->fed_at) best = p;
    }
    return best;
}

/*
 * Keeps SW_SUPER_FEED peers fed. Few at a time, so each gets a large share
 * of our upload and a piece leaves us in a few piece-times at the full
 * link rate instead of trickling to fifty peers at once (shoal-sim, 100
 * hosts: the first piece reached a peer after 0.2 T* when every peer was
 * fed); in turn, so every peer soon has pieces only it can offer.
 */
void sw_super_pump(sh_swarm *s, sh_time now)
{
    if (!s->adv_count) return;
    uint32_t tries = 0;
    while (s->feeding < s->super_feed && tries++ < 4 * s->super_feed) {
        sh_peer *p = next_to_feed(s);
        if (!p) return;
        p->feed = true;
        p->fed_at = now;
        s->feeding++;
        sw_super_top_up(s, p, now);
        if (p->nadv == 0) stop_feeding(s, p);
    }
}

void sw_super_release(sh_swarm *s, sh_peer *p)
{
    p->held_bits = false;
    if (!p->super) return;
    while (p->nadv) {
        uint32_t piece = p->adv[p->nadv - 1];
        if (s->adv_count[piece]) s->adv_count[piece]--;
        adv_drop(s, p, p->nadv - 1);
    }
    p->super = false;
    stop_feeding(s, p);
    s->super_pump = true;
}

void sw_super_on_have(sh_swarm *s, sh_peer *p, uint32_t piece, sh_time now)
{
    if (!p->super) return;
    for (uint32_t j = 0; j < p->nadv; j++) {
        if (p->adv[j] != piece) continue;
        adv_drop(s, p, j);
        if (p->nadv == 0) { /* its batch is done: the next peer's turn */
            stop_feeding(s, p);
            sw_super_pump(s, now);
        } else if (p->feed && !next_to_feed(s)) {
            /* Nobody waits for a turn (a fleet of at most SW_SUPER_FEED
             * peers still lacking pieces): keep a window of twice a batch
             * open, or its link idles for the HAVE -> advertisement ->
             * request round trip at the end of every batch (shoal-sim, one
             * receiver: 1.77 T* instead of 1.06). */
            top_up(s, p, SH_PEER_ADV_MAX, now);
        }
        return;
    }
}

/* The peer's bitfield (or have_all) arrived: what it holds needs no
 * advertisement. Without this a peer resuming a partial download, whose
 * bitfield follows its extension handshake, would hold a batch of pieces
 * it never reports, and its turn would never end. */
void sw_super_on_bits(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!p->super) return;
    for (uint32_t j = 0; j < p->nadv;) {
        if (p->seed || sh_bitfield_get(&p->have, p->adv[j]))
            adv_drop(s, p, j);
        else
            j++;
    }
    if (!p->feed) return;
    sw_super_top_up(s, p, now);
    if (p->nadv == 0) {
        stop_feeding(s, p);
        s->super_pump = true;
    }
}

/* A turn lasts at most SW_SUPER_TURN: a fed peer that stalls (or never
 * requests its pieces) must not hold a feeding place for ever. What it was
 * told about and nobody of ours holds yet is advertised again elsewhere
 * (pending pieces are otherwise never offered twice); the peer may still
 * request it, and is served. */
void sw_super_timer(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!p->feed || now < p->fed_at + SW_SUPER_TURN) return;
    for (uint32_t j = 0; j < p->nadv;) {
        if (!pending(s, p->adv[j])) {
            j++;
            continue;
        }
        if (s->adv_count[p->adv[j]]) s->adv_count[p->adv[j]]--;
        adv_drop(s, p, j);
    }
    stop_feeding(s, p);
    s->super_pump = true;
}

/* Sends what the held bitfield was waiting for: to a shoal peer nothing but
 * have_none (advertisements follow when its turn comes), to any other the
 * usual state. */
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
    sw_super_pump(s, now);
}
