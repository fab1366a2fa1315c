/*
 * picker_part.c — the pieces in progress and the state of their blocks.
 *
 * Only pieces with a requested or received block have state here, so memory
 * follows the number of partial pieces (which max_partial bounds), not the
 * torrent size. Slots live in an arena linked oldest first: the pick walks
 * them in that order, and dropping a finished piece is O(1) whatever the
 * number of partials.
 */
#include "picker_int.h"

#include <stdlib.h>

pk_part *pk_part_get(const sh_picker *p, uint32_t piece)
{
    if (piece >= p->n || p->slot[piece] == 0) return NULL;
    return &p->parts[p->slot[piece] - 1];
}

static uint32_t take_slot(sh_picker *p)
{
    if (p->free_slot != PK_NONE) {
        uint32_t s = p->free_slot;
        p->free_slot = p->parts[s].next;
        return s;
    }
    if (p->parts_used == p->parts_cap) {
        uint32_t cap = p->parts_cap ? p->parts_cap * 2 : 8;
        if (cap < p->parts_cap || cap == PK_NONE) return PK_NONE;
        pk_part *v = realloc(p->parts, (size_t)cap * sizeof *v);
        if (!v) return PK_NONE;
        p->parts = v;
        p->parts_cap = cap;
    }
    return p->parts_used++;
}

pk_part *pk_part_new(sh_picker *p, uint32_t piece)
{
    uint32_t nb = sh_picker_blocks_in(p, piece);
    uint8_t *st = calloc(nb, 1); /* all PK_FREE */
    uint32_t s = st ? take_slot(p) : PK_NONE;
    if (s == PK_NONE) {
        free(st);
        return NULL;
    }
    pk_part *pt = &p->parts[s];
    *pt = (pk_part){
        .prev = p->tail, .next = PK_NONE, .piece = piece, .nblocks = nb, .nfree = nb, .st = st};
    if (p->tail != PK_NONE)
        p->parts[p->tail].next = s;
    else
        p->head = s;
    p->tail = s;
    p->nparts++;
    p->slot[piece] = s + 1;
    p->free_total += nb;
    pk_changed(p, piece); /* its free blocks, for other peers */
    return pt;
}

void pk_part_drop(sh_picker *p, uint32_t piece)
{
    pk_part *pt = pk_part_get(p, piece);
    if (!pt) return;
    if (pk_full(p)) pk_changed(p, PK_NONE); /* new pieces may start again */
    uint32_t s = p->slot[piece] - 1;
    if (pt->prev != PK_NONE)
        p->parts[pt->prev].next = pt->next;
    else
        p->head = pt->next;
    if (pt->next != PK_NONE)
        p->parts[pt->next].prev = pt->prev;
    else
        p->tail = pt->prev;
    p->free_total -= pt->nfree;
    free(pt->st);
    pt->st = NULL;
    pt->next = p->free_slot;
    p->free_slot = s;
    p->nparts--;
    p->slot[piece] = 0;
}

void pk_part_free_all(sh_picker *p)
{
    for (uint32_t s = p->head; s != PK_NONE; s = p->parts[s].next)
        free(p->parts[s].st);
    free(p->parts);
    p->parts = NULL;
}

void pk_part_request(sh_picker *p, pk_part *pt, uint32_t b, uint32_t k)
{
    for (uint32_t i = b; i < b + k; i++) {
        if (pt->st[i] == PK_FREE) {
            pt->nfree--;
            if (--p->free_total == 0 && sh_picker_endgame(p)) pk_changed(p, PK_NONE);
        }
        pt->st[i]++;
    }
}
