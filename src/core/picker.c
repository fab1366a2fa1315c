/*
 * picker.c — the pick policy and the picker's public entry points.
 *
 * A pick fills the caller's budget in three steps:
 *  1. free blocks of pieces already in progress that the peer has, oldest
 *     piece first. Oldest rather than rarest: the partial set is small (it
 *     was chosen rarest-first when each piece started), and the oldest piece
 *     is the one most likely to be nearly complete, so finishing it first
 *     frees its assembly memory and gives us a verified piece to trade
 *     soonest; it also costs no sort per pick.
 *  2. new pieces, unless max_partial pieces are already in progress: the
 *     first random_first uniformly at random among the eligible ones, then
 *     the first eligible piece of the availability order (rarest, ties in
 *     the picker's random order).
 *  3. endgame, only once the whole download has no free block left (every
 *     missing piece in progress, every block requested) and this call found
 *     nothing: blocks already requested elsewhere, fewest outstanding requests
 *     first, each at most SH_PICKER_MAX_DUP times. Gating on the peer alone
 *     (it has nothing new to offer) made sparse peers duplicate blocks all
 *     through the download — about twice the file in wasted bytes.
 * Within a piece, blocks go out in runs of at most max_run contiguous free
 * blocks; a run never crosses into another piece.
 */
#include "picker_int.h"

#include <stdlib.h>
#include <string.h>

#define RANDOM_FIRST_DEFAULT 4u
#define RANDOM_TRIES 64

static uint32_t blocks_for(uint32_t len)
{
    return len / SH_PICKER_BLOCK + (len % SH_PICKER_BLOCK != 0);
}

int sh_picker_new(const sh_picker_config *cfg, sh_picker **out)
{
    if (!cfg || cfg->num_pieces == 0 || cfg->num_pieces == PK_NONE || cfg->piece_length == 0 ||
        cfg->last_piece_length == 0 || cfg->last_piece_length > cfg->piece_length)
        return SH_EINVAL;
    sh_picker *p = calloc(1, sizeof *p);
    if (!p) return SH_ENOMEM;
    p->cfg = *cfg;
    if (p->cfg.random_first == 0) p->cfg.random_first = RANDOM_FIRST_DEFAULT;
    p->n = cfg->num_pieces;
    p->bpp = blocks_for(cfg->piece_length);
    p->last_blocks = blocks_for(cfg->last_piece_length);
    p->free_slot = p->head = p->tail = PK_NONE;
    sh_rng_seed(&p->rng, cfg->seed);
    int rc = sh_bitfield_init(&p->have, p->n);
    if (rc == 0) rc = pk_avail_init(p);
    if (rc == 0 && !(p->slot = calloc(p->n, sizeof *p->slot))) rc = SH_ENOMEM;
    if (rc != 0) {
        sh_picker_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void sh_picker_free(sh_picker *p)
{
    if (!p) return;
    pk_part_free_all(p);
    pk_avail_free(p);
    free(p->slot);
    sh_bitfield_free(&p->have);
    free(p);
}

/* ---- geometry and our pieces ---- */

uint32_t sh_picker_blocks_in(const sh_picker *p, uint32_t piece)
{
    if (piece >= p->n) return 0;
    return piece == p->n - 1 ? p->last_blocks : p->bpp;
}

uint32_t sh_picker_block_len(const sh_picker *p, uint32_t piece, uint32_t block)
{
    if (block >= sh_picker_blocks_in(p, piece)) return 0;
    uint32_t len = piece == p->n - 1 ? p->cfg.last_piece_length : p->cfg.piece_length;
    uint32_t left = len - block * SH_PICKER_BLOCK;
    return left < SH_PICKER_BLOCK ? left : SH_PICKER_BLOCK;
}

void sh_picker_set_have(sh_picker *p, uint32_t piece)
{
    if (piece >= p->n || sh_bitfield_get(&p->have, piece)) return;
    sh_bitfield_set(&p->have, piece);
    pk_avail_remove(p, piece);
    pk_part_drop(p, piece);
    if (sh_picker_endgame(p)) pk_changed(p, PK_NONE); /* it may just have begun */
}

bool sh_picker_have(const sh_picker *p, uint32_t piece)
{
    return sh_bitfield_get(&p->have, piece);
}

uint32_t sh_picker_num_have(const sh_picker *p)
{
    return p->have.count;
}

const sh_bitfield *sh_picker_have_bits(const sh_picker *p)
{
    return &p->have;
}

bool sh_picker_complete(const sh_picker *p)
{
    return p->have.count == p->n;
}

/* Word-at-a-time peer & ~have (bitfield.c); a bitfield of the wrong size is never interesting. */
bool sh_picker_interesting(const sh_picker *p, const sh_bitfield *peer_bits)
{
    if (!peer_bits) return !sh_picker_complete(p);
    return sh_bitfield_has_missing(peer_bits, &p->have);
}

/* ---- the pick ---- */

typedef struct pick_ctx {
    sh_picker *p;
    const sh_bitfield *peer, *allowed;
    const sh_bitfield *narrow; /* the sparser of peer/allowed: candidates for new pieces */
    uint32_t max_blocks, max_run, blocks;
    sh_pick *out;
    size_t max_out, n;
} pick_ctx;

static bool room(const pick_ctx *c)
{
    return c->n < c->max_out && c->blocks < c->max_blocks;
}

static bool wanted(const pick_ctx *c, uint32_t piece)
{
    return (!c->peer || sh_bitfield_get(c->peer, piece)) &&
           (!c->allowed || sh_bitfield_get(c->allowed, piece));
}

static bool startable(const pick_ctx *c, uint32_t piece)
{
    return c->p->pos[piece] != PK_NONE && c->p->slot[piece] == 0 && wanted(c, piece);
}

/* startable() for a member of the order (its pos is set), the peer's small
 * bitfield tested before slot[], whose loads miss the cache. */
static bool startable_in_order(const pick_ctx *c, uint32_t piece)
{
    return wanted(c, piece) && c->p->slot[piece] == 0;
}

static void emit(pick_ctx *c, pk_part *pt, uint32_t b, uint32_t k, bool dup)
{
    pk_part_request(c->p, pt, b, k);
    c->out[c->n++] = (sh_pick){.piece = pt->piece, .block = b, .count = k, .dup = dup};
    c->blocks += k;
}

/* Blocks from b on in state s, capped by max_run and the block budget. */
static uint32_t run_len(const pick_ctx *c, const pk_part *pt, uint32_t b, uint8_t s)
{
    uint32_t lim = c->max_blocks - c->blocks;
    if (lim > c->max_run) lim = c->max_run;
    uint32_t k = 0;
    while (k < lim && b + k < pt->nblocks && pt->st[b + k] == s)
        k++;
    return k;
}

static void take_free(pick_ctx *c, pk_part *pt)
{
    uint32_t b = pt->hint;
    while (b < pt->nblocks && pt->st[b] != PK_FREE)
        b++;
    pt->hint = b;
    while (room(c) && pt->nfree > 0 && b < pt->nblocks) {
        if (pt->st[b] != PK_FREE) {
            b++;
            continue;
        }
        uint32_t k = run_len(c, pt, b, PK_FREE);
        emit(c, pt, b, k, false);
        b += k;
    }
}

static void take_partials(pick_ctx *c)
{
    sh_picker *p = c->p;
    for (uint32_t s = p->head; s != PK_NONE && room(c) && p->free_total > 0; s = p->parts[s].next)
        if (p->parts[s].nfree > 0 && wanted(c, p->parts[s].piece)) take_free(c, &p->parts[s]);
}

/* Iterates candidates for a new piece: the set bits of `narrow`, else the whole order. */
static uint32_t next_cand(const pick_ctx *c, uint32_t *it)
{
    const sh_picker *p = c->p;
    if (!c->narrow) return *it < p->norder ? p->order[(*it)++] : PK_NONE;
    uint32_t end = c->narrow->nbits < p->n ? c->narrow->nbits : p->n;
    uint32_t i = sh_bitfield_next_set(c->narrow, *it);
    if (i >= end) return PK_NONE;
    *it = i + 1;
    return i;
}

/*
 * The startable piece that comes first in the availability order. Walking the order
 * finds it at once for a seed or a well-stocked peer; for a sparse peer it may walk
 * long, so the walk gets a budget about the cost of the alternative (every set bit of
 * `narrow`, keeping the least order position), which bounds a pick at twice the cheaper.
 */
static uint32_t find_rarest(const pick_ctx *c)
{
    const sh_picker *p = c->p;
    uint32_t budget = p->norder;
    if (c->narrow) budget = 64 + c->narrow->nbits / 64 + c->narrow->count;
    for (uint32_t i = 0; i < p->norder && i < budget; i++)
        if (startable_in_order(c, p->order[i])) return p->order[i];
    if (budget >= p->norder) return PK_NONE;
    uint32_t best = PK_NONE, it = 0;
    for (uint32_t i = next_cand(c, &it); i != PK_NONE; i = next_cand(c, &it))
        if (startable(c, i) && (best == PK_NONE || p->pos[i] < p->pos[best])) best = i;
    return best;
}

/* Uniform among startable pieces: rejection sampling, then reservoir sampling if rare. */
static uint32_t find_random(pick_ctx *c)
{
    sh_picker *p = c->p;
    if (p->norder == 0) return PK_NONE;
    for (int t = 0; t < RANDOM_TRIES; t++) {
        uint32_t piece = p->order[sh_rng_below(&p->rng, p->norder)];
        if (startable(c, piece)) return piece;
    }
    uint64_t seen = 0;
    uint32_t pick = PK_NONE, it = 0;
    for (uint32_t i = next_cand(c, &it); i != PK_NONE; i = next_cand(c, &it))
        if (startable(c, i) && sh_rng_below(&p->rng, ++seen) == 0) pick = i;
    return pick;
}

/* Starts new pieces while there is room. Returns false when the peer has no piece left
 * that could be started (the endgame condition), true otherwise; with max_partial pieces
 * in progress it returns false without searching: the answer only matters when every
 * missing piece is in progress (sh_picker_endgame), and then none is startable. The
 * search it saves scanned the peer's bitfield on most picks of a busy download. */
static bool take_new(pick_ctx *c)
{
    sh_picker *p = c->p;
    while (room(c)) {
        bool full = p->cfg.max_partial && p->nparts >= p->cfg.max_partial;
        if (full) return false;
        bool rnd = p->started < p->cfg.random_first;
        uint32_t piece = rnd ? find_random(c) : find_rarest(c);
        if (piece == PK_NONE) return false;
        pk_part *pt = pk_part_new(p, piece);
        if (!pt) return true;
        p->started++;
        take_free(c, pt);
    }
    return true;
}

/* The fewest outstanding requests on any requested block of a piece the peer has. */
static uint8_t min_level(const pick_ctx *c)
{
    const sh_picker *p = c->p;
    uint8_t m = SH_PICKER_MAX_DUP;
    for (uint32_t s = p->head; s != PK_NONE && m > 1; s = p->parts[s].next) {
        const pk_part *pt = &p->parts[s];
        if (pt->nfree + pt->nrecv == pt->nblocks || !wanted(c, pt->piece)) continue;
        for (uint32_t b = 0; b < pt->nblocks; b++)
            if (pt->st[b] != PK_FREE && pt->st[b] != PK_RECV && pt->st[b] < m) m = pt->st[b];
    }
    return m;
}

/* Only blocks at the lowest level go out in one call, so no block is handed to the same
 * caller twice in one pick. */
static void take_endgame(pick_ctx *c)
{
    sh_picker *p = c->p;
    uint8_t m = min_level(c);
    if (m >= SH_PICKER_MAX_DUP) return;
    for (uint32_t s = p->head; s != PK_NONE && room(c); s = p->parts[s].next) {
        pk_part *pt = &p->parts[s];
        if (!wanted(c, pt->piece)) continue;
        for (uint32_t b = 0; b < pt->nblocks && room(c);) {
            uint32_t k = pt->st[b] == m ? run_len(c, pt, b, m) : 0;
            if (k) emit(c, pt, b, k, true);
            b += k ? k : 1;
        }
    }
}

static const sh_bitfield *narrowest(const sh_bitfield *a, const sh_bitfield *b)
{
    if (a && b) return a->count <= b->count ? a : b;
    return a ? a : b;
}

size_t sh_picker_pick(sh_picker *p, const sh_bitfield *peer_bits, const sh_bitfield *allowed,
                      uint32_t max_blocks, uint32_t max_run, sh_pick *out, size_t max_out)
{
    if (!out || max_out == 0 || max_blocks == 0) return 0;
    pick_ctx c = {.p = p,
                  .peer = peer_bits,
                  .allowed = allowed,
                  .narrow = narrowest(peer_bits, allowed),
                  .max_blocks = max_blocks,
                  .max_run = max_run ? max_run : 1,
                  .out = out,
                  .max_out = max_out};
    take_partials(&c);
    /* Endgame only in a call that found no free block (the blocks just handed out
     * would otherwise go straight back to the same caller as duplicates), and only
     * when no block anywhere is still free. */
    if (room(&c) && !take_new(&c) && c.n == 0 && sh_picker_endgame(p)) take_endgame(&c);
    return c.n;
}

/* ---- block events ---- */

static uint8_t *block_state(sh_picker *p, uint32_t piece, uint32_t block, pk_part **pt)
{
    *pt = pk_part_get(p, piece);
    if (!*pt || block >= (*pt)->nblocks) return NULL;
    return &(*pt)->st[block];
}

void sh_picker_unrequest(sh_picker *p, uint32_t piece, uint32_t block)
{
    pk_part *pt;
    uint8_t *st = block_state(p, piece, block, &pt);
    if (!st || *st == PK_FREE || *st == PK_RECV) return;
    pk_changed(p, piece); /* free again, or (endgame) one request fewer */
    if (--*st != PK_FREE) return;
    pt->nfree++;
    p->free_total++;
    if (block < pt->hint) pt->hint = block;
    if (pt->nfree == pt->nblocks) pk_part_drop(p, piece); /* nothing left in flight */
}

int sh_picker_received(sh_picker *p, uint32_t piece, uint32_t block)
{
    pk_part *pt;
    uint8_t *st = block_state(p, piece, block, &pt);
    if (!st || *st == PK_FREE) return SH_ERANGE;
    if (*st == PK_RECV) return SH_EEXIST;
    *st = PK_RECV;
    pt->nrecv++;
    return pt->nrecv == pt->nblocks ? 1 : 0;
}

/* The piece's state is dropped: it is a missing piece like any other again, picked by
 * the usual policy. Late endgame copies of its blocks then get SH_ERANGE. */
void sh_picker_piece_failed(sh_picker *p, uint32_t piece)
{
    if (pk_part_get(p, piece)) pk_changed(p, piece); /* startable again */
    pk_part_drop(p, piece);
}

uint32_t sh_picker_requests(const sh_picker *p, uint32_t piece, uint32_t block)
{
    const pk_part *pt = pk_part_get(p, piece);
    if (!pt || block >= pt->nblocks) return 0;
    uint8_t s = pt->st[block];
    return s == PK_RECV ? 0 : s;
}

/* ---- skipping empty picks ---- */

bool pk_full(const sh_picker *p)
{
    return p->cfg.max_partial && p->nparts >= p->cfg.max_partial;
}

uint64_t sh_picker_version(const sh_picker *p)
{
    if (p->started < p->cfg.random_first) return 0; /* a failing find_random draws */
    return p->version + 1;
}

bool sh_picker_still_empty(const sh_picker *p, uint64_t since, const sh_bitfield *peer_bits)
{
    uint64_t now = sh_picker_version(p);
    if (since == 0 || now == 0 || since > now || now - since > PK_LOG) return false;
    for (uint64_t v = since - 1; v < now - 1; v++) {
        uint32_t piece = p->log[v % PK_LOG];
        if (piece == PK_NONE || !peer_bits) return false;
        if (piece < peer_bits->nbits && sh_bitfield_get(peer_bits, piece)) return false;
    }
    return true;
}

bool sh_picker_quiet(const sh_picker *p, uint32_t piece)
{
    if (piece >= p->n || sh_bitfield_get(&p->have, piece)) return true;
    const pk_part *pt = pk_part_get(p, piece);
    if (pt) return pt->nfree == 0 && !sh_picker_endgame(p);
    return pk_full(p);
}

bool sh_picker_endgame(const sh_picker *p)
{
    return p->norder > 0 && p->nparts == p->norder && p->free_total == 0;
}
