/*
 * picker_avail.c — availability: how many connected peers hold each piece,
 * and the pieces we lack kept sorted by it.
 *
 * The order array is bucketed by availability (libtorrent's layout): bucket
 * b is one contiguous range, its upper edge stored in edge[b]. A change of
 * one piece's availability by one swaps it with the element at the shared
 * edge of two neighbouring buckets and moves that edge: O(1). The piece is
 * then swapped with a random member of its new bucket, so entering a bucket
 * is an inside-out Fisher–Yates step and each bucket stays in uniformly
 * random order; without it, fresh arrivals would cluster at one end and
 * every picker would favour them. Seeds hold every piece and are counted
 * apart, so a seed arriving or leaving costs O(1) and moves nothing.
 */
#include "picker_int.h"

#include <stdlib.h>

#define EDGE_INIT 16u

static void swap_at(sh_picker *p, uint32_t i, uint32_t j)
{
    uint32_t a = p->order[i], b = p->order[j];
    p->order[i] = b;
    p->order[j] = a;
    p->pos[b] = i;
    p->pos[a] = j;
}

static uint32_t bucket_lo(const sh_picker *p, uint32_t b)
{
    return b ? p->edge[b - 1] : 0;
}

/* Counts past the last bucket share it (only after a failed growth). */
static uint32_t bucket_of(const sh_picker *p, uint32_t c)
{
    return c < p->nb ? c : p->nb - 1;
}

static void settle(sh_picker *p, uint32_t i, uint32_t b)
{
    uint32_t lo = bucket_lo(p, b), hi = p->edge[b];
    swap_at(p, i, lo + (uint32_t)sh_rng_below(&p->rng, hi - lo));
}

/* Makes bucket b exist. On allocation failure the top bucket simply absorbs higher counts. */
static void grow(sh_picker *p, uint32_t b)
{
    if (b < p->nb || b == UINT32_MAX) return;
    uint32_t nb = p->nb * 2 > b ? p->nb * 2 : b + 1;
    if (nb < p->nb) nb = b + 1; /* doubling overflowed */
    uint32_t *e = realloc(p->edge, (size_t)nb * sizeof *e);
    if (!e) return;
    for (uint32_t i = p->nb; i < nb; i++)
        e[i] = p->norder;
    p->edge = e;
    p->nb = nb;
}

int pk_avail_init(sh_picker *p)
{
    size_t n = p->n;
    p->count = calloc(n, sizeof *p->count);
    p->order = malloc(n * sizeof *p->order);
    p->pos = malloc(n * sizeof *p->pos);
    p->edge = malloc(EDGE_INIT * sizeof *p->edge);
    if (!p->count || !p->order || !p->pos || !p->edge) return SH_ENOMEM;
    for (uint32_t i = 0; i < p->n; i++)
        p->order[i] = i;
    for (uint32_t i = p->n; i > 1; i--) { /* Fisher–Yates: the per-picker random order */
        uint32_t j = (uint32_t)sh_rng_below(&p->rng, i);
        uint32_t t = p->order[i - 1];
        p->order[i - 1] = p->order[j];
        p->order[j] = t;
    }
    for (uint32_t i = 0; i < p->n; i++)
        p->pos[p->order[i]] = i;
    p->norder = p->n;
    p->nb = EDGE_INIT;
    for (uint32_t b = 0; b < p->nb; b++)
        p->edge[b] = p->n;
    return 0;
}

void pk_avail_free(sh_picker *p)
{
    free(p->count);
    free(p->order);
    free(p->pos);
    free(p->edge);
}

/* Walks the piece up through every bucket edge to the end of the order, then cuts it off:
 * O(buckets), paid once per piece we complete. */
void pk_avail_remove(sh_picker *p, uint32_t piece)
{
    uint32_t i = p->pos[piece];
    if (i == PK_NONE) return;
    for (uint32_t b = bucket_of(p, p->count[piece]); b < p->nb; b++) {
        swap_at(p, i, p->edge[b] - 1);
        i = --p->edge[b];
    }
    p->norder--;
    p->pos[piece] = PK_NONE;
}

void sh_picker_inc(sh_picker *p, uint32_t piece)
{
    if (piece >= p->n || p->count[piece] == UINT32_MAX) return;
    uint32_t c = p->count[piece]++;
    if (p->pos[piece] == PK_NONE) return;
    grow(p, c + 1);
    uint32_t b = bucket_of(p, c);
    if (bucket_of(p, c + 1) == b) return;
    swap_at(p, p->pos[piece], p->edge[b] - 1); /* to the top of bucket b ... */
    p->edge[b]--;                              /* ... which is now the bottom of b + 1 */
    settle(p, p->edge[b], b + 1);
}

void sh_picker_dec(sh_picker *p, uint32_t piece)
{
    if (piece >= p->n || p->count[piece] == 0) return;
    uint32_t c = p->count[piece]--;
    if (p->pos[piece] == PK_NONE) return;
    uint32_t b = bucket_of(p, c);
    if (bucket_of(p, c - 1) == b) return;
    uint32_t lo = bucket_lo(p, b);
    swap_at(p, p->pos[piece], lo); /* to the bottom of bucket b ... */
    p->edge[b - 1]++;              /* ... which is now the top of b - 1 */
    settle(p, lo, b - 1);
}

/* Bits past our piece count (a caller's size mismatch) are ignored. */
void sh_picker_inc_bits(sh_picker *p, const sh_bitfield *peer)
{
    uint32_t end = peer->nbits < p->n ? peer->nbits : p->n;
    for (uint32_t i = sh_bitfield_next_set(peer, 0); i < end; i = sh_bitfield_next_set(peer, i + 1))
        sh_picker_inc(p, i);
}

void sh_picker_dec_bits(sh_picker *p, const sh_bitfield *peer)
{
    uint32_t end = peer->nbits < p->n ? peer->nbits : p->n;
    for (uint32_t i = sh_bitfield_next_set(peer, 0); i < end; i = sh_bitfield_next_set(peer, i + 1))
        sh_picker_dec(p, i);
}

void sh_picker_inc_seed(sh_picker *p)
{
    if (p->seeds < UINT32_MAX) p->seeds++;
}

void sh_picker_dec_seed(sh_picker *p)
{
    if (p->seeds > 0) p->seeds--;
}

uint32_t sh_picker_availability(const sh_picker *p, uint32_t piece)
{
    if (piece >= p->n) return 0;
    uint32_t c = p->count[piece];
    return c > UINT32_MAX - p->seeds ? UINT32_MAX : c + p->seeds;
}
