/*
 * mkinfo_feed.c — streaming the files' bytes through both hash schemes.
 *
 * Data is taken in steps that never cross a 16 KiB block (v2) or a piece
 * (v1) boundary, and each step is run through SHA-1 and then SHA-256 while
 * it is still in cache. v2 leaves are folded into their piece hash as they
 * arrive (a merkle accumulator), so memory is the piece layers plus
 * O(log) per file, never proportional to the data. Pad bytes exist only
 * for SHA-1: they come from a constant zero block.
 */
#include "mkinfo_int.h"

#include <string.h>

static const uint8_t ZEROS[SH_MERKLE_BLOCK];

static void v1_update(sh_mkinfo *m, const uint8_t *p, size_t n)
{
    sh_sha_update(m->sha1, p, n);
    m->v1_fill += n;
    if (m->v1_fill == m->piece_length) {
        /* Never more than num_pieces: layout counted them. */
        if (m->v1_done < m->num_pieces)
            sh_sha_final(m->sha1, m->pieces_v1 + (size_t)SH_SHA1_LEN * m->v1_done);
        m->v1_done++;
        m->v1_fill = 0;
    }
}

/* Closes the current piece of a large file: one piece-layer entry. */
static void piece_done(sh_mkinfo *m, mk_file *f)
{
    uint8_t h[32];
    sh_merkle_acc_root(m->sha256, &m->piece_acc, 0, m->leaf_height, h);
    if (m->file_pieces_done < f->layer_count)
        memcpy(f->layer + (size_t)32 * m->file_pieces_done, h, 32);
    m->file_pieces_done++;
    sh_merkle_acc_push(m->sha256, &m->file_acc, h);
    m->leaves_in_piece = 0;
}

static void leaf_done(sh_mkinfo *m, mk_file *f)
{
    uint8_t leaf[32];
    sh_sha_final(m->sha256, leaf);
    sh_merkle_acc_push(m->sha256, &m->piece_acc, leaf);
    m->blk_fill = 0;
    m->leaves_in_file++;
    if (++m->leaves_in_piece == (1u << m->leaf_height) && f->layer != NULL) piece_done(m, f);
}

static void v2_update(sh_mkinfo *m, mk_file *f, const uint8_t *p, size_t n)
{
    sh_sha_update(m->sha256, p, n);
    m->blk_fill += (uint32_t)n;
    if (m->blk_fill == SH_MERKLE_BLOCK) leaf_done(m, f);
}

static void v2_end_file(sh_mkinfo *m, mk_file *f)
{
    if (m->blk_fill > 0) leaf_done(m, f);
    if (f->layer != NULL) {
        if (m->leaves_in_piece > 0) piece_done(m, f);
        uint32_t h = sh_merkle_log2(sh_merkle_pow2(m->file_pieces_done));
        sh_merkle_acc_root(m->sha256, &m->file_acc, m->leaf_height, h, f->root);
    } else {
        uint32_t h = sh_merkle_log2(sh_merkle_pow2(m->leaves_in_file));
        sh_merkle_acc_root(m->sha256, &m->piece_acc, 0, h, f->root);
    }
    f->has_root = true;
    m->leaves_in_piece = 0;
    m->leaves_in_file = 0;
    m->file_pieces_done = 0;
}

static void end_file(sh_mkinfo *m, mk_file *f)
{
    if ((m->version & SH_META_V2) && f->length > 0) v2_end_file(m, f);
    for (uint64_t left = f->pad_after; left > 0;) {
        size_t n = left < sizeof ZEROS ? (size_t)left : sizeof ZEROS;
        if (n > m->piece_length - m->v1_fill) n = (size_t)(m->piece_length - m->v1_fill);
        v1_update(m, ZEROS, n);
        left -= n;
    }
}

void sh_mkinfo_settle(sh_mkinfo *m)
{
    while (m->cur < m->num_files && m->cur_off == m->files[m->cur].length) {
        end_file(m, &m->files[m->cur]);
        m->cur++;
        m->cur_off = 0;
    }
}

/* Hashes n bytes of the current file. */
static void hash_span(sh_mkinfo *m, mk_file *f, const uint8_t *p, size_t n)
{
    bool v1 = m->version & SH_META_V1, v2 = m->version & SH_META_V2;
    while (n > 0) {
        size_t step = n;
        if (v2 && step > SH_MERKLE_BLOCK - m->blk_fill) step = SH_MERKLE_BLOCK - m->blk_fill;
        if (v1 && step > m->piece_length - m->v1_fill)
            step = (size_t)(m->piece_length - m->v1_fill);
        if (v1) v1_update(m, p, step);
        if (v2) v2_update(m, f, p, step);
        p += step;
        n -= step;
        m->cur_off += step;
        m->fed += step;
    }
}

int sh_mkinfo_feed(sh_mkinfo *m, const void *data, size_t len)
{
    if (!m->laid_out || m->finished) return SH_EINVAL;
    if (len > m->content_size - m->fed) return SH_ERANGE;
    const uint8_t *p = data;
    for (;;) {
        sh_mkinfo_settle(m);
        if (len == 0) return 0;
        mk_file *f = &m->files[m->cur];
        uint64_t left = f->length - m->cur_off;
        size_t n = len < left ? len : (size_t)left;
        hash_span(m, f, p, n);
        p += n;
        len -= n;
    }
}

int sh_mkinfo_end_feed(sh_mkinfo *m)
{
    sh_mkinfo_settle(m);
    if (m->cur < m->num_files || m->fed != m->content_size) return SH_ERANGE;
    if ((m->version & SH_META_V1) && m->v1_fill > 0 && m->v1_done < m->num_pieces) {
        sh_sha_final(m->sha1, m->pieces_v1 + (size_t)SH_SHA1_LEN * m->v1_done);
        m->v1_done++;
        m->v1_fill = 0;
    }
    /* Layout and feeding disagree only through a bug; refuse to emit then. */
    if ((m->version & SH_META_V1) && m->v1_done != m->num_pieces) return SH_EINVAL;
    return 0;
}
