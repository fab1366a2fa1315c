/*
 * picker.h — which blocks to request next, and nothing else.
 *
 * It knows how many connected peers hold each piece (availability), which
 * pieces we have, and the state of every block of the pieces in progress.
 * Policy: a few random pieces first (so a new peer soon has something to
 * trade), then rarest-first with random tie-breaks; pieces already in
 * progress are finished before new ones are started, so partial pieces stay
 * few; when every missing block is already requested, endgame hands out
 * blocks that are requested elsewhere (at most SH_PICKER_MAX_DUP requests
 * per block) so the last pieces do not wait on one slow peer.
 *
 * Complexity matters (the simulator runs 10 000 peers): pieces are kept
 * ordered by availability in buckets, so an availability change is O(1)
 * and a pick inspects pieces from the rarest bucket up, in a random order
 * fixed per picker, until it has enough.
 *
 * Blocks are SH_PICKER_BLOCK (16 KiB) units. A pick is a run of contiguous
 * blocks within one piece, so a caller that may send large requests (shoal
 * to shoal) asks for long runs, and one that may not asks for runs of 1.
 *
 * The picker performs no I/O and never decides who to talk to.
 */
#ifndef SHOAL_PICKER_H
#define SHOAL_PICKER_H

#include <shoal/bitfield.h>
#include <shoal/error.h>
#include <stdbool.h>
#include <stdint.h>

#define SH_PICKER_BLOCK 16384u
#define SH_PICKER_MAX_DUP 2u

typedef struct sh_picker_config {
    uint32_t num_pieces;
    uint32_t piece_length;       /* every piece but the last */
    uint32_t last_piece_length;  /* 1..piece_length */
    uint32_t random_first;       /* pieces picked at random before rarest-first; 0 → 4 */
    uint32_t max_partial;        /* pieces in progress at once; a pick starts no new piece
                                    beyond this (0: unlimited). Bounds assembly memory. */
    uint64_t seed;               /* for the random order and tie-breaks */
} sh_picker_config;

typedef struct sh_pick {
    uint32_t piece;
    uint32_t block;   /* first block index within the piece */
    uint32_t count;   /* contiguous blocks */
    bool dup;         /* endgame: some of these blocks are requested from another peer too */
} sh_pick;

typedef struct sh_picker sh_picker;

int sh_picker_new(const sh_picker_config *cfg, sh_picker **out);
void sh_picker_free(sh_picker *p);

uint32_t sh_picker_blocks_in(const sh_picker *p, uint32_t piece);
/* Byte length of block b of piece (the last block of the last piece may be short). */
uint32_t sh_picker_block_len(const sh_picker *p, uint32_t piece, uint32_t block);

/* Our pieces. set_have marks a verified piece (and drops its block state). */
void sh_picker_set_have(sh_picker *p, uint32_t piece);
bool sh_picker_have(const sh_picker *p, uint32_t piece);
uint32_t sh_picker_num_have(const sh_picker *p);
const sh_bitfield *sh_picker_have_bits(const sh_picker *p);
bool sh_picker_complete(const sh_picker *p);

/* Availability, from peers' bitfields and haves. Seeds are counted apart (O(1)). */
void sh_picker_inc(sh_picker *p, uint32_t piece);
void sh_picker_dec(sh_picker *p, uint32_t piece);
void sh_picker_inc_bits(sh_picker *p, const sh_bitfield *peer);
void sh_picker_dec_bits(sh_picker *p, const sh_bitfield *peer);
void sh_picker_inc_seed(sh_picker *p);
void sh_picker_dec_seed(sh_picker *p);
uint32_t sh_picker_availability(const sh_picker *p, uint32_t piece);  /* incl. seeds */

/* True if the peer (bits == NULL means a seed) has a piece we lack. */
bool sh_picker_interesting(const sh_picker *p, const sh_bitfield *peer_bits);

/*
 * Picks up to max_blocks blocks the peer has (peer_bits == NULL: a seed),
 * in runs of at most max_run blocks, and marks them requested. `allowed`
 * (may be NULL) restricts the choice to those pieces (allowed-fast while
 * choked). Returns the number of sh_pick entries written to out (<= max_out).
 * The picker does not know peers: an endgame pick (dup) may name a block this
 * same peer already has in flight; the caller skips it and unrequests it.
 */
size_t sh_picker_pick(sh_picker *p, const sh_bitfield *peer_bits, const sh_bitfield *allowed,
                      uint32_t max_blocks, uint32_t max_run, sh_pick *out, size_t max_out);

/*
 * Skipping picks that would find nothing (most do: every HAVE and every
 * verified piece asks each peer again). The picker logs every change that
 * could let a pick that found nothing find something: a block of a piece
 * became free or less requested, a piece became startable again (such
 * changes name the piece), the limit on pieces in progress was left, endgame
 * began (those concern every peer). A caller that got 0 from a pick notes
 * sh_picker_version(); while sh_picker_still_empty(since that version, the
 * peer's current bits) holds, the same pick would return 0 again and change
 * nothing, so it may skip it. The version is 0 while a pick may draw random
 * numbers even when it finds nothing (the first random_first pieces): then
 * nothing may be skipped.
 */
uint64_t sh_picker_version(const sh_picker *p);
bool sh_picker_still_empty(const sh_picker *p, uint64_t since, const sh_bitfield *peer_bits);
/* True if a peer that gains this piece still has nothing a pick would take
 * from it, when a pick found nothing before (we have the piece, or it is in
 * progress with no free block before endgame, or no new piece may start). */
bool sh_picker_quiet(const sh_picker *p, uint32_t piece);

/* A request was cancelled, rejected, timed out, or its peer left. */
void sh_picker_unrequest(sh_picker *p, uint32_t piece, uint32_t block);

/*
 * A block's data arrived. Returns 1 if every block of the piece has now
 * arrived (the piece is ready to verify), 0 if not, SH_EEXIST if this block
 * had already arrived (an endgame duplicate: drop the data), SH_ERANGE if
 * the block is unknown or was never requested, or the piece is already ours.
 */
int sh_picker_received(sh_picker *p, uint32_t piece, uint32_t block);

/* The piece failed its hash check: every block of it is missing again. */
void sh_picker_piece_failed(sh_picker *p, uint32_t piece);

/* Outstanding requests on a block (for endgame cancels). */
uint32_t sh_picker_requests(const sh_picker *p, uint32_t piece, uint32_t block);
/* True once every missing block is requested at least once. */
bool sh_picker_endgame(const sh_picker *p);

#endif
