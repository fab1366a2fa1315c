/*
 * metainfo_layers.c — BEP 52 piece layers: reading them from a .torrent,
 * accepting them later from peers, and answering "what must piece i hash
 * to" for v2.
 *
 * A file larger than one piece has a layer of ceil(length / P) hashes, one
 * per piece; padded with the pad hash of that level up to a power of two,
 * they must lead to the file's pieces root. A layer that does not is
 * rejected; one that is absent leaves has_piece_layers false. A file of at
 * most one piece needs no layer: its pieces root is the piece hash.
 */
#include "metainfo_int.h"

#include <shoal/merkle.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool needs_layer(const sh_metainfo *mi, const sh_file *f)
{
    return (mi->version & SH_META_V2) && f->has_root && !f->pad && f->length > mi->piece_length;
}

static uint32_t layer_len(const sh_metainfo *mi, const sh_file *f)
{
    /* length <= 2^52 and the piece count is bounded by SH_META_MAX_PIECES */
    return (uint32_t)((f->length - 1) / mi->piece_length + 1);
}

static uint32_t log2u(uint64_t v)
{
    uint32_t l = 0;
    while (v > 1)
        v >>= 1, l++;
    return l;
}

/* 0 if layer leads to f's pieces root, SH_EHASH if not, or SH_ENOMEM. */
static int verify_layer(const sh_metainfo *mi, const sh_file *f, const uint8_t *layer,
                        uint32_t count)
{
    uint8_t pad[32], root[32];
    sh_merkle_pad(log2u(mi->piece_length / SH_MERKLE_BLOCK), pad);
    int rc = sh_merkle_root_padded(layer, count, sh_merkle_pow2(count), pad, root);
    if (rc) return rc;
    return memcmp(root, f->pieces_root, 32) == 0 ? 0 : SH_EHASH;
}

static int keep_layer(sh_file *f, const uint8_t *layer, uint32_t count)
{
    uint8_t *copy = malloc((size_t)count * 32);
    if (!copy) return SH_ENOMEM;
    memcpy(copy, layer, (size_t)count * 32);
    free((void *)f->layer);
    f->layer = copy;
    f->layer_count = count;
    return 0;
}

bool sh_mi_layers_complete(const sh_metainfo *mi)
{
    for (uint32_t i = 0; i < mi->num_files; i++)
        if (needs_layer(mi, &mi->files[i]) && !mi->files[i].layer) return false;
    return true;
}

/* --- loading from the torrent ------------------------------------------- */

typedef struct by_root {
    const uint8_t *root;
    uint32_t file;
} by_root;

static int cmp_root(const void *a, const void *b)
{
    const by_root *x = a, *y = b;
    int c = memcmp(x->root, y->root, 32);
    return c ? c : (x->file > y->file) - (x->file < y->file);
}

static int layer_err(sh_errinfo *ei, const uint8_t *key, const sh_file *f, const char *what)
{
    char hex[17], path[96];
    sh_hex(key, 8, hex);
    sh_mi_escape((sh_span){(const uint8_t *)f->path, strlen(f->path)}, path, sizeof path);
    return sh_errinfo_set(ei, SH_EMETAINFO, 0, "piece layers[%s...] (file \"%s\") %s", hex, path,
                          what);
}

/* The value of piece layers[key], for file f. */
static int take_layer(sh_metainfo *mi, sh_file *f, const sh_bnode *key, sh_errinfo *ei)
{
    const sh_bnode *v = key + 1;
    if (v->type != SH_BSTR) return layer_err(ei, key->v.s.ptr, f, "is not a string");
    uint32_t count = layer_len(mi, f);
    if (v->v.s.len != (uint64_t)count * 32) {
        char what[64];
        snprintf(what, sizeof what, "has %zu bytes, expected %llu", v->v.s.len,
                 (unsigned long long)count * 32);
        return layer_err(ei, key->v.s.ptr, f, what);
    }
    int rc = verify_layer(mi, f, v->v.s.ptr, count);
    if (rc == SH_EHASH) return layer_err(ei, key->v.s.ptr, f, "does not hash to the pieces root");
    return rc ? rc : keep_layer(f, v->v.s.ptr, count);
}

/* Both the dict keys and idx are in byte order of the roots: merge them. */
static int merge_layers(sh_metainfo *mi, const sh_bnode *layers, const by_root *idx, uint32_t n,
                        sh_errinfo *ei)
{
    uint32_t i = 0;
    for (const sh_bnode *k = sh_bnode_first(layers); k; k = sh_bnode_next(layers, k + 1)) {
        if (k->v.s.len != 32)
            return sh_errinfo_set(ei, SH_EMETAINFO, 0,
                                  "piece layers has a key of %zu bytes, expected 32", k->v.s.len);
        while (i < n && memcmp(idx[i].root, k->v.s.ptr, 32) < 0)
            i++;
        for (; i < n && memcmp(idx[i].root, k->v.s.ptr, 32) == 0; i++) {
            int rc = take_layer(mi, &mi->files[idx[i].file], k, ei);
            if (rc) return rc;
        }
        /* A key no file needs is ignored, as unknown keys are. */
    }
    return 0;
}

int sh_mi_load_layers(sh_metainfo *mi, const sh_bnode *layers, sh_errinfo *ei)
{
    int rc = 0;
    if (layers && layers->type != SH_BDICT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "piece layers is not a dictionary");
    if (layers && layers->count > 0) {
        by_root *idx = malloc((size_t)(mi->num_files ? mi->num_files : 1) * sizeof *idx);
        if (!idx) return SH_ENOMEM;
        uint32_t n = 0;
        for (uint32_t i = 0; i < mi->num_files; i++)
            if (needs_layer(mi, &mi->files[i])) idx[n++] = (by_root){mi->files[i].pieces_root, i};
        qsort(idx, n, sizeof *idx, cmp_root);
        rc = merge_layers(mi, layers, idx, n, ei);
        free(idx);
    }
    mi->has_piece_layers = !rc && sh_mi_layers_complete(mi);
    return rc;
}

/* --- public ------------------------------------------------------------- */

int sh_metainfo_set_layer(sh_metainfo *mi, uint32_t file, const uint8_t *layer, uint32_t count)
{
    if (!mi || (!layer && count)) return SH_EINVAL;
    if (file >= mi->num_files) return SH_ERANGE;
    sh_file *f = &mi->files[file];
    if (!needs_layer(mi, f)) return SH_EINVAL;
    if (count != layer_len(mi, f)) return SH_EHASH; /* cannot lead to the root */
    int rc = verify_layer(mi, f, layer, count);
    if (!rc) rc = keep_layer(f, layer, count);
    if (!rc) mi->has_piece_layers = sh_mi_layers_complete(mi);
    return rc;
}

int sh_metainfo_piece_v2(const sh_metainfo *mi, uint32_t i, const uint8_t **hash,
                         uint32_t *pad_leaves, uint32_t *data_len)
{
    if (!mi || i >= mi->num_pieces) return SH_ERANGE;
    if (!(mi->version & SH_META_V2)) return SH_ENOTFOUND;
    uint64_t off = (uint64_t)i * mi->piece_length;
    const sh_file *f = &mi->files[sh_metainfo_file_at(mi, off)];
    if (f->pad || !f->has_root) return SH_ENOTFOUND; /* cannot happen in a checked layout */
    uint64_t j = (off - f->offset) / mi->piece_length;
    uint64_t left = f->length - j * mi->piece_length;
    const uint8_t *h;
    uint32_t leaves;
    if (f->length <= mi->piece_length) {
        h = f->pieces_root;
        leaves = sh_merkle_pow2((uint32_t)((f->length - 1) / SH_MERKLE_BLOCK + 1));
    } else if (f->layer) {
        h = f->layer + 32 * j;
        leaves = (uint32_t)(mi->piece_length / SH_MERKLE_BLOCK);
    } else {
        return SH_ENOTFOUND;
    }
    if (hash) *hash = h;
    if (pad_leaves) *pad_leaves = leaves;
    if (data_len) *data_len = (uint32_t)(left < mi->piece_length ? left : mi->piece_length);
    return 0;
}
