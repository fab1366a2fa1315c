/*
 * assembly.h — buffers of the pieces being downloaded.
 *
 * A piece gets a buffer of its full size when its first block arrives;
 * blocks are copied in at their offsets. Once complete it is handed to the
 * driver for verification and kept until the verdict. For the ban policy
 * each piece remembers which addresses (IPs) contributed blocks.
 *
 * Pieces are kept sorted by index (binary search), never by pointer. The
 * number of pieces is bounded by the picker's max_partial plus those being
 * verified, so memory is bounded too. No I/O.
 *
 * Buffers of dropped pieces are kept for reuse (at most SH_ASM_SPARE of
 * them, and only while some piece is still being assembled): a fresh
 * buffer costs a page fault per 4 KiB on its first write, which a profile
 * of a 1 GB/s download put at a quarter of the receiving thread's time.
 * Reused buffers are not cleared: a piece is only verified after every
 * one of its blocks was written.
 */
#ifndef SHOAL_ASSEMBLY_H
#define SHOAL_ASSEMBLY_H

#include <shoal/types.h>

#define SH_ASM_MAX_CONTRIB 8u /* beyond this many IPs the piece is "shared" anyway */

typedef struct sh_asm_piece {
    uint32_t piece;
    uint32_t len;
    uint8_t *buf;
    bool verifying;
    uint32_t ncontrib;
    sh_addr contrib[SH_ASM_MAX_CONTRIB]; /* distinct IPs, port 0 */
} sh_asm_piece;

#define SH_ASM_SPARE 8u                 /* buffers kept for reuse, at most */
#define SH_ASM_SPARE_BYTES (64u << 20) /* and at most this many bytes of them */

typedef struct sh_asm_spare {
    uint8_t *buf;
    uint32_t len;
} sh_asm_spare;

typedef struct sh_assembly {
    sh_asm_piece **v; /* sorted by piece */
    uint32_t *keys;   /* keys[i] == v[i]->piece: searched without a miss per step */
    size_t n, cap;
    sh_asm_spare spare[SH_ASM_SPARE]; /* buffers of dropped pieces */
    uint32_t nspare;
    uint64_t spare_bytes;
    bool no_buffers;  /* virtual payload (simulator): pieces get buf == NULL and
                         writes only record their contributor */
} sh_assembly;

void sh_asm_init(sh_assembly *a);
void sh_asm_free(sh_assembly *a);

sh_asm_piece *sh_asm_find(const sh_assembly *a, uint32_t piece);
/* Finds or creates (len bytes, contents undefined until written). NULL on
 * allocation failure. */
sh_asm_piece *sh_asm_get(sh_assembly *a, uint32_t piece, uint32_t len);
/* Copies a block in (bounds checked: SH_ERANGE) and records the sender's IP. */
int sh_asm_write(sh_asm_piece *p, uint32_t offset, const uint8_t *data, size_t len,
                 const sh_addr *from);
void sh_asm_drop(sh_assembly *a, uint32_t piece);
/* Bytes held in buffers of pieces (spare buffers not counted). */
uint64_t sh_asm_bytes(const sh_assembly *a);

#endif
