/*
 * merkle.h — the BEP 52 merkle hash trees of BitTorrent v2.
 *
 * A file's tree has one SHA-256 leaf per 16 KiB block (the last block may be
 * shorter and is hashed as is). The leaf count is padded up to a power of two
 * with zero leaves (32 zero bytes); interior nodes are SHA-256(left || right).
 * Levels are numbered from the leaves: level 0 = blocks, level k = subtrees
 * of 2^k blocks. The "piece layer" of a torrent with piece length P is level
 * log2(P / 16 KiB).
 *
 * Pure computation, bounded by its arguments; callers validate sizes first.
 */
#ifndef SHOAL_MERKLE_H
#define SHOAL_MERKLE_H

#include <shoal/error.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SH_MERKLE_BLOCK 16384u

/* Smallest power of two >= n (1 for n == 0). n <= 2^31 (larger n gives 0). */
uint32_t sh_merkle_pow2(uint32_t n);

/* Hash of an all-padding subtree with 2^level leaves (level 0: 32 zero bytes). level <= 63. */
void sh_merkle_pad(uint32_t level, uint8_t out[32]);

/*
 * Root over n hashes of one level, padded to width (a power of two >= n,
 * width >= 1) with `pad` (the pad hash of that level). n == 0 gives the pad
 * root of that width. Returns SH_EINVAL on bad width, SH_ENOMEM.
 */
int sh_merkle_root_padded(const uint8_t *hashes, uint32_t n, uint32_t width,
                          const uint8_t pad[32], uint8_t out[32]);

/*
 * Hashes data (len bytes, split into 16 KiB blocks) and returns the root of
 * those leaves padded with zero leaves to pad_leaves (a power of two >=
 * number of blocks). For a full or final piece of a large file pass
 * P / 16 KiB; for a file no larger than one piece pass
 * sh_merkle_pow2(number of blocks) — the result is then the file's pieces root.
 */
int sh_merkle_data_root(const uint8_t *data, size_t len, uint32_t pad_leaves, uint8_t out[32]);

/*
 * The whole of a file's tree from some base level up to its root, kept so a
 * peer can answer BEP 52 hash requests and check received hashes.
 * base: n hashes at level base_level (for a file with a piece layer, the
 * piece layer hashes at log2(P/16K)); padded internally to a power of two.
 */
typedef struct sh_mtree sh_mtree;
int sh_mtree_new(const uint8_t *base, uint32_t n, uint32_t base_level, sh_mtree **out);
void sh_mtree_free(sh_mtree *t);
const uint8_t *sh_mtree_root(const sh_mtree *t);
uint32_t sh_mtree_base_level(const sh_mtree *t);
/* Number of real (unpadded) nodes at base level. */
uint32_t sh_mtree_base_count(const sh_mtree *t);

/*
 * Builds a BEP 52 "hashes" answer, with the request's fields as on the wire
 * except that the level is given as layer_off above the tree's base level:
 * the `length` hashes at level base_level + layer_off starting at index,
 * followed by the uncles. index must be a multiple of sub = pow2(length);
 * length must be a power of two unless it runs to (or past) the end of the
 * real nodes at that level. Proof layer i (1-based) is the sibling needed to
 * compute level base + i; the first log2(sub) - 1 are implied by the hashes
 * and omitted, so max(0, proof_layers + 1 - log2(sub)) uncles follow, from
 * the bottom up. Positions past the real nodes are pad hashes. Writes to out
 * (32-byte hashes) and sets *count. out must hold length + 64 hashes.
 * SH_ERANGE for any request outside the tree: the level is the root's or
 * above, index/length outside it, a misaligned index, or proof_layers
 * reaching the root (proof_layers >= height - layer_off), as libtorrent.
 */
int sh_mtree_proof(const sh_mtree *t, uint32_t layer_off, uint32_t index, uint32_t length,
                   uint32_t proof_layers, uint8_t *out, uint32_t *count);

/*
 * Checks a received "hashes" answer: `hashes` are `length` hashes at tree
 * level `level` starting at index, followed by `nuncles` uncle hashes (as
 * sh_mtree_proof lays them out). A length cut short by the end of the file
 * is padded to pow2(length) with the pad hash of `level`; hashes that stand
 * for padding must equal it, or the root will not match.
 * tree_width_at_level is the padded node count at that level. `root` is the
 * node the uncles lead to: the file's root when the proof runs all the way
 * (nuncles = log2(width / pow2(length))), or an already verified ancestor
 * when the request stopped below it. Returns 0 if they lead to root,
 * SH_EHASH if not, SH_ERANGE if the geometry is impossible, SH_ENOMEM.
 */
int sh_merkle_verify_proof(const uint8_t root[32], uint32_t level, uint32_t tree_width_at_level,
                           uint32_t index, const uint8_t *hashes, uint32_t length,
                           const uint8_t *uncles, uint32_t nuncles);

#endif
