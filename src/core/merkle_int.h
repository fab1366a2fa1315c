/*
 * merkle_int.h — merkle helpers shared inside the core (not public API).
 *
 * They take a caller-owned SHA-256 context so that a loop over many nodes
 * pays OpenSSL's algorithm lookup once, not per node (see sha.c).
 */
#ifndef SHOAL_MERKLE_INT_H
#define SHOAL_MERKLE_INT_H

#include <shoal/merkle.h>
#include <shoal/sha.h>

/* out = SHA-256(left || right); out may alias either input. */
void sh_merkle_pair_ctx(sh_sha *c, const uint8_t *left, const uint8_t *right, uint8_t *out);

/*
 * Computes the n' = ceil(n / 2) parents of the n nodes src[] at tree level
 * `level` into dst[] (a missing right sibling is the pad hash of `level`).
 * dst may equal src (reduction in place). Returns n'; n == 0 returns 0.
 */
uint32_t sh_merkle_reduce(sh_sha *c, const uint8_t *src, uint32_t n, uint32_t level, uint8_t *dst);

/*
 * A root under construction, fed one node at a time (a binary counter of
 * complete subtrees): O(log n) memory, no allocation. Zero-initialise it.
 */
#define SH_MERKLE_ACC_MAX 64
typedef struct sh_merkle_acc {
    uint32_t top;
    uint8_t height[SH_MERKLE_ACC_MAX];
    uint8_t node[SH_MERKLE_ACC_MAX][32];
} sh_merkle_acc;

/* Appends the next node (h may not alias the accumulator). */
void sh_merkle_acc_push(sh_sha *c, sh_merkle_acc *a, const uint8_t h[32]);

/*
 * Root of the nodes pushed so far, taken as nodes of tree level `level` and
 * padded with the standard pad hashes to 2^height of them (the caller
 * guarantees 2^height >= nodes pushed). Resets the accumulator.
 */
void sh_merkle_acc_root(sh_sha *c, sh_merkle_acc *a, uint32_t level, uint32_t height,
                        uint8_t out[32]);

/* log2 of a power of two. */
static inline uint32_t sh_merkle_log2(uint64_t pow2)
{
    return pow2 <= 1 ? 0 : (uint32_t)(63 - __builtin_clzll(pow2));
}

#endif
