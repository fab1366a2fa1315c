/*
 * merkle_tree.c — a file's stored merkle tree, for answering BEP 52 hash
 * requests.
 *
 * Only real nodes are stored: level j above the base holds ceil(n / 2^j)
 * nodes and everything to their right is the pad hash of that level, so a
 * tree costs at most about twice its base layer whatever its padding.
 *
 * Request semantics follow BEP 52 as libtorrent implements them (what the
 * peers we meet send and expect): `length` hashes at the requested level,
 * then one uncle per proof layer, where proof layer i (1-based) is the
 * sibling needed to compute level base + i, and the first log2(length) - 1
 * of them are implied by the hashes themselves and left out. A length
 * that is not a power of two is allowed only where it is cut short by the
 * end of the real nodes (libtorrent asks for min(512, pieces left)).
 */
#include "merkle_int.h"

#include <shoal/merkle.h>
#include <shoal/sha.h>

#include <stdlib.h>
#include <string.h>

#define MAX_HEIGHT 32

struct sh_mtree {
    uint32_t base_level;
    uint32_t height;          /* levels above the base up to the root */
    uint32_t cnt[MAX_HEIGHT]; /* real nodes per level */
    size_t off[MAX_HEIGHT];   /* first node of each level in nodes[] */
    uint8_t *nodes;
};

int sh_mtree_new(const uint8_t *base, uint32_t n, uint32_t base_level, sh_mtree **out)
{
    if (n == 0 || n > (1u << 31)) return SH_EINVAL;
    uint32_t height = sh_merkle_log2(sh_merkle_pow2(n));
    if (base_level > 63 - height) return SH_EINVAL;

    sh_mtree *t = calloc(1, sizeof *t);
    if (t == NULL) return SH_ENOMEM;
    t->base_level = base_level;
    t->height = height;
    size_t total = 0;
    for (uint32_t j = 0; j <= height; j++) {
        t->off[j] = total;
        t->cnt[j] = (uint32_t)(((uint64_t)n + (1ull << j) - 1) >> j);
        total += t->cnt[j];
    }
    t->nodes = total <= SIZE_MAX / 32 ? malloc(total * 32) : NULL;
    sh_sha *c = sh_sha256_new();
    if (t->nodes == NULL || c == NULL) {
        sh_sha_free(c);
        sh_mtree_free(t);
        return SH_ENOMEM;
    }
    memcpy(t->nodes, base, (size_t)n * 32);
    for (uint32_t j = 1; j <= height; j++)
        sh_merkle_reduce(c, t->nodes + t->off[j - 1] * 32, t->cnt[j - 1], base_level + j - 1,
                         t->nodes + t->off[j] * 32);
    sh_sha_free(c);
    *out = t;
    return 0;
}

void sh_mtree_free(sh_mtree *t)
{
    if (t == NULL) return;
    free(t->nodes);
    free(t);
}

const uint8_t *sh_mtree_root(const sh_mtree *t)
{
    return t->nodes + t->off[t->height] * 32;
}

uint32_t sh_mtree_base_level(const sh_mtree *t)
{
    return t->base_level;
}

uint32_t sh_mtree_base_count(const sh_mtree *t)
{
    return t->cnt[0];
}

/* Node i of level j above the base (i within the padded width). */
static void node_at(const sh_mtree *t, uint32_t j, uint64_t i, uint8_t out[32])
{
    if (i < t->cnt[j])
        memcpy(out, t->nodes + (t->off[j] + i) * 32, 32);
    else
        sh_merkle_pad(t->base_level + j, out);
}

int sh_mtree_proof(const sh_mtree *t, uint32_t layer_off, uint32_t index, uint32_t length,
                   uint32_t proof_layers, uint8_t *out, uint32_t *count)
{
    /* The root level has no sibling to prove against: as libtorrent, refuse. */
    if (layer_off >= t->height) return SH_ERANGE;
    uint32_t j = layer_off;
    uint64_t width = 1ull << (t->height - j);
    if (length == 0 || index >= width || length > width - index) return SH_ERANGE;
    uint32_t sub = sh_merkle_pow2(length);
    uint32_t k = sh_merkle_log2(sub);
    if (index % sub != 0) return SH_ERANGE;
    if (sub != length && (uint64_t)index + length < t->cnt[j]) return SH_ERANGE;
    if (proof_layers >= t->height - j) return SH_ERANGE;

    for (uint32_t i = 0; i < length; i++)
        node_at(t, j, (uint64_t)index + i, out + (size_t)32 * i);
    uint32_t n = length;
    /* Uncles at levels j+k .. j+proof_layers, the first being the sibling of
     * the subtree the hashes span (of the single hash itself when k = 0). */
    for (uint32_t m = j + k; m <= j + proof_layers; m++)
        node_at(t, m, ((uint64_t)index >> (m - j)) ^ 1, out + (size_t)32 * n++);
    *count = n;
    return 0;
}
