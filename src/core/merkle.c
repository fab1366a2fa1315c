/*
 * merkle.c — BEP 52 roots and proof checking.
 *
 * Roots are computed with a binary-counter stack: each new node is pushed
 * and merged with its left neighbour while both have the same height, so a
 * root over any number of leaves needs O(log n) memory and no allocation
 * besides one SHA-256 context per call. Padding is applied only at the end,
 * along the right edge, where the missing siblings are pad hashes.
 */
#include "merkle_int.h"

#include <shoal/merkle.h>
#include <shoal/sha.h>

#include <string.h>

/* Heights are at most 31 (widths are uint32_t) plus a base level: 64 fits. */
#define MAX_STACK 64

uint32_t sh_merkle_pow2(uint32_t n)
{
    if (n <= 1) return 1;
    if (n > (1u << 31)) return 0; /* no such uint32_t; callers bound n first */
    return 1u << (32 - __builtin_clz(n - 1));
}

static bool is_pow2(uint64_t w)
{
    return w != 0 && (w & (w - 1)) == 0;
}

void sh_merkle_pair_ctx(sh_sha *c, const uint8_t *left, const uint8_t *right, uint8_t *out)
{
    if (right == left + 32) {
        sh_sha_update(c, left, 64);
    } else {
        sh_sha_update(c, left, 32);
        sh_sha_update(c, right, 32);
    }
    sh_sha_final(c, out);
}

uint32_t sh_merkle_reduce(sh_sha *c, const uint8_t *src, uint32_t n, uint32_t level, uint8_t *dst)
{
    uint8_t pad[32];
    uint32_t half = n / 2;
    /* Read before write: dst[i] depends on src[2i], src[2i+1] and i <= 2i. */
    for (uint32_t i = 0; i < half; i++)
        sh_merkle_pair_ctx(c, src + (size_t)64 * i, src + (size_t)64 * i + 32,
                           dst + (size_t)32 * i);
    if (n % 2) {
        sh_merkle_pad(level, pad);
        sh_merkle_pair_ctx(c, src + (size_t)64 * half, pad, dst + (size_t)32 * half);
    }
    return half + n % 2;
}

/*
 * Pad hashes by height above the nodes being combined: either the table
 * (absolute level = base + height) or derived on demand from a given pad.
 */
struct pads {
    sh_sha *c;
    uint32_t base;
    bool derive;
    uint32_t have; /* derived[0 .. have) are valid */
    uint8_t derived[MAX_STACK][32];
    uint8_t tmp[32];
};

static const uint8_t *pad_at(struct pads *p, uint32_t h)
{
    if (!p->derive) {
        sh_merkle_pad(p->base + h, p->tmp);
        return p->tmp;
    }
    while (p->have <= h) {
        sh_merkle_pair_ctx(p->c, p->derived[p->have - 1], p->derived[p->have - 1],
                           p->derived[p->have]);
        p->have++;
    }
    return p->derived[h];
}

static void acc_merge(sh_sha *c, sh_merkle_acc *a)
{
    while (a->top >= 2 && a->height[a->top - 1] == a->height[a->top - 2]) {
        sh_merkle_pair_ctx(c, a->node[a->top - 2], a->node[a->top - 1], a->node[a->top - 2]);
        a->height[a->top - 2]++;
        a->top--;
    }
}

void sh_merkle_acc_push(sh_sha *c, sh_merkle_acc *a, const uint8_t h[32])
{
    memcpy(a->node[a->top], h, 32);
    a->height[a->top] = 0;
    a->top++;
    acc_merge(c, a);
}

/*
 * Completes the tree to height H (2^H >= nodes pushed). The topmost entry is
 * always a left child (the ones below it cover a multiple of its width), so
 * its sibling is padding.
 */
static void acc_finish(sh_sha *c, sh_merkle_acc *a, uint32_t H, struct pads *p, uint8_t out[32])
{
    if (a->top == 0) {
        memcpy(out, pad_at(p, H), 32);
        return;
    }
    while (a->top > 1 || a->height[0] < H) {
        uint32_t t = a->top - 1;
        sh_merkle_pair_ctx(c, a->node[t], pad_at(p, a->height[t]), a->node[t]);
        a->height[t]++;
        acc_merge(c, a);
    }
    memcpy(out, a->node[0], 32);
    a->top = 0;
}

void sh_merkle_acc_root(sh_sha *c, sh_merkle_acc *a, uint32_t level, uint32_t height,
                        uint8_t out[32])
{
    struct pads p = {.c = c, .base = level, .derive = false};
    acc_finish(c, a, height, &p, out);
}

int sh_merkle_data_root(const uint8_t *data, size_t len, uint32_t pad_leaves, uint8_t out[32])
{
    if (!is_pow2(pad_leaves)) return SH_EINVAL;
    size_t nblocks = len / SH_MERKLE_BLOCK + (len % SH_MERKLE_BLOCK != 0);
    if (nblocks > pad_leaves) return SH_EINVAL;
    sh_sha *c = sh_sha256_new();
    if (c == NULL) return SH_ENOMEM;
    sh_merkle_acc a = {0};
    uint8_t leaf[32];
    for (size_t off = 0; off < len; off += SH_MERKLE_BLOCK) {
        size_t n = len - off < SH_MERKLE_BLOCK ? len - off : SH_MERKLE_BLOCK;
        sh_sha_update(c, data + off, n);
        sh_sha_final(c, leaf);
        sh_merkle_acc_push(c, &a, leaf);
    }
    struct pads p = {.c = c, .base = 0, .derive = false};
    acc_finish(c, &a, sh_merkle_log2(pad_leaves), &p, out);
    sh_sha_free(c);
    return 0;
}

/* Root over hashes[0..n) padded to width; pads either from the table at
 * absolute level `level` or derived from `pad`. */
static int root_padded(const uint8_t *hashes, uint32_t n, uint32_t width, uint32_t level,
                       const uint8_t *pad, uint8_t out[32])
{
    if (!is_pow2(width) || n > width) return SH_EINVAL;
    if (n == 1 && width == 1) {
        memmove(out, hashes, 32);
        return 0;
    }
    if (n == 0 && width == 1) {
        if (pad != NULL)
            memmove(out, pad, 32);
        else
            sh_merkle_pad(level, out);
        return 0;
    }
    sh_sha *c = sh_sha256_new();
    if (c == NULL) return SH_ENOMEM;
    struct pads p = {.c = c, .base = level, .derive = pad != NULL, .have = 1};
    if (pad != NULL) memcpy(p.derived[0], pad, 32);
    sh_merkle_acc a = {0};
    for (uint32_t i = 0; i < n; i++)
        sh_merkle_acc_push(c, &a, hashes + (size_t)32 * i);
    acc_finish(c, &a, sh_merkle_log2(width), &p, out);
    sh_sha_free(c);
    return 0;
}

int sh_merkle_root_padded(const uint8_t *hashes, uint32_t n, uint32_t width, const uint8_t pad[32],
                          uint8_t out[32])
{
    return root_padded(hashes, n, width, 0, pad, out);
}

int sh_merkle_verify_proof(const uint8_t root[32], uint32_t level, uint32_t tree_width_at_level,
                           uint32_t index, const uint8_t *hashes, uint32_t length,
                           const uint8_t *uncles, uint32_t nuncles)
{
    uint64_t w = tree_width_at_level;
    if (!is_pow2(w) || level > 63) return SH_ERANGE;
    if (length == 0 || index >= w || length > w - index) return SH_ERANGE;
    uint32_t sub = sh_merkle_pow2(length);
    uint32_t k = sh_merkle_log2(sub);
    if (index % sub != 0) return SH_ERANGE;
    if (nuncles > sh_merkle_log2(w) - k) return SH_ERANGE;

    uint8_t node[32];
    int rc = root_padded(hashes, length, sub, level, NULL, node);
    if (rc != 0) return rc;
    if (nuncles > 0) {
        sh_sha *c = sh_sha256_new();
        if (c == NULL) return SH_ENOMEM;
        uint32_t pos = index >> k;
        for (uint32_t i = 0; i < nuncles; i++, pos >>= 1) {
            const uint8_t *u = uncles + (size_t)32 * i;
            if (pos & 1)
                sh_merkle_pair_ctx(c, u, node, node);
            else
                sh_merkle_pair_ctx(c, node, u, node);
        }
        sh_sha_free(c);
    }
    return memcmp(node, root, 32) == 0 ? 0 : SH_EHASH;
}
