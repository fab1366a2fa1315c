/*
 * picker_int.h — the picker's private state, shared by its three files:
 * picker_avail.c (pieces we lack, ordered by availability), picker_part.c
 * (block state of the pieces in progress) and picker.c (the pick policy and
 * the public entry points). Nothing outside the picker includes this.
 */
#ifndef SHOAL_PICKER_INT_H
#define SHOAL_PICKER_INT_H

#include <shoal/picker.h>
#include <shoal/rng.h>

#define PK_NONE UINT32_MAX /* "no piece" / "not in the order" */
#define PK_LOG 512u        /* changes remembered for sh_picker_still_empty */

/* Block states: 0 free, 1..SH_PICKER_MAX_DUP outstanding requests, PK_RECV arrived. */
#define PK_FREE 0u
#define PK_RECV 0xFFu

/* A piece in progress. Exists only between its first request and set_have/failure. */
typedef struct pk_part {
    uint32_t prev, next; /* creation-order list (next doubles as the free-slot chain) */
    uint32_t piece;
    uint32_t nblocks;
    uint32_t nfree; /* blocks in state PK_FREE */
    uint32_t nrecv; /* blocks in state PK_RECV */
    uint32_t hint;  /* no free block below this index */
    uint8_t *st;    /* nblocks states */
} pk_part;

struct sh_picker {
    sh_picker_config cfg;
    uint32_t n;           /* pieces */
    uint32_t bpp;         /* blocks in every piece but the last */
    uint32_t last_blocks; /* blocks in the last piece */
    sh_bitfield have;
    sh_rng rng;

    /* Availability. count excludes seeds; availability = count + seeds. */
    uint32_t seeds;
    uint32_t *count;
    /* Pieces we lack, sorted by bucket, random order within a bucket. Bucket b holds
     * pieces with count b (the top bucket also every higher count, should growing the
     * edge array ever fail); it spans [b ? edge[b-1] : 0, edge[b]), edge[nb-1] == norder. */
    uint32_t *order;
    uint32_t *pos; /* piece -> index in order, PK_NONE once we have it */
    uint32_t norder;
    uint32_t *edge;
    uint32_t nb;

    /* Pieces in progress: slots in an arena, linked oldest first, so dropping one is O(1). */
    pk_part *parts;
    uint32_t parts_cap, parts_used; /* slots allocated / ever handed out */
    uint32_t free_slot;             /* chain of released slots */
    uint32_t head, tail;            /* oldest, newest */
    uint32_t nparts;                /* live parts */
    uint32_t *slot;                 /* piece -> slot + 1; 0 when not in progress */
    uint64_t free_total;            /* free blocks over all parts */
    uint32_t started;               /* new pieces started so far (for random_first) */

    /* Changes that may let a pick that found nothing find something (picker.h):
     * the piece they concern, or PK_NONE for every peer; entry v % PK_LOG is
     * change number v. */
    uint64_t version;
    uint32_t log[PK_LOG];
};

/* Logs a change that concerns peers with `piece` (PK_NONE: every peer). */
static inline void pk_changed(sh_picker *p, uint32_t piece)
{
    p->log[p->version++ % PK_LOG] = piece;
}

/* picker.c */
bool pk_full(const sh_picker *p);

/* picker_avail.c */
int pk_avail_init(sh_picker *p);
void pk_avail_free(sh_picker *p);
void pk_avail_remove(sh_picker *p, uint32_t piece);

/* picker_part.c */
pk_part *pk_part_get(const sh_picker *p, uint32_t piece);
pk_part *pk_part_new(sh_picker *p, uint32_t piece); /* NULL when out of memory */
void pk_part_drop(sh_picker *p, uint32_t piece);
void pk_part_free_all(sh_picker *p);
/* Marks blocks [b, b+k) of a part requested once more (they must be free or requested). */
void pk_part_request(sh_picker *p, pk_part *pt, uint32_t b, uint32_t k);

#endif
