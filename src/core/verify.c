/*
 * verify.c — checks a whole piece against the torrent's hashes.
 *
 * Padding is checked explicitly, not only through the hash: storage never
 * writes pads and always reads them back as zeros, so a piece that hashed
 * correctly with non-zero padding (a hostile or broken torrent) would be
 * served differently from what was verified. Rejecting it keeps "verified"
 * and "what we upload" the same bytes.
 *
 * Reads the metainfo only; no state, so hasher threads call it freely.
 */
#include <shoal/merkle.h>
#include <shoal/sha.h>
#include <shoal/verify.h>

#include <string.h>

/* True if n bytes at p are all zero: compare the buffer with itself shifted by one. */
static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Every byte of the piece that falls in a pad file must be zero. */
static bool pads_zero(const sh_metainfo *mi, uint32_t piece, const uint8_t *data, size_t len)
{
    uint64_t start = (uint64_t)piece * mi->piece_length;
    uint64_t end = start + len;
    for (uint32_t f = sh_metainfo_file_at(mi, start); f < mi->num_files; f++) {
        const sh_file *fl = &mi->files[f];
        if (fl->offset >= end) break;
        uint64_t fend = fl->offset + fl->length;
        if (!fl->pad || fend <= start) continue;
        uint64_t a = fl->offset > start ? fl->offset : start;
        uint64_t b = fend < end ? fend : end;
        if (!all_zero(data + (a - start), (size_t)(b - a))) return false;
    }
    return true;
}

static int verify_v1(const sh_metainfo *mi, uint32_t piece, const uint8_t *data, size_t len)
{
    uint8_t md[SH_SHA1_LEN];
    sh_sha1(data, len, md);
    if (memcmp(md, mi->pieces_v1 + (size_t)piece * SH_SHA1_LEN, SH_SHA1_LEN) != 0) return SH_EHASH;
    return pads_zero(mi, piece, data, len) ? 0 : SH_EHASH;
}

static int verify_v2(const sh_metainfo *mi, uint32_t piece, const uint8_t *data, size_t len)
{
    const uint8_t *want;
    uint32_t pad_leaves, data_len;
    int rc = sh_metainfo_piece_v2(mi, piece, &want, &pad_leaves, &data_len);
    if (rc != 0) return rc;
    if (data_len > len) return SH_EHASH; /* cannot happen with a valid metainfo */
    if (!all_zero(data + data_len, len - data_len)) return SH_EHASH;
    uint8_t root[32];
    rc = sh_merkle_data_root(data, data_len, pad_leaves, root);
    if (rc != 0) return rc == SH_ENOMEM ? rc : SH_EHASH;
    return memcmp(root, want, 32) == 0 ? 0 : SH_EHASH;
}

int sh_piece_verify(const sh_metainfo *mi, uint32_t piece, const uint8_t *data, size_t len)
{
    if (mi == NULL || piece >= mi->num_pieces) return SH_ERANGE;
    if (len != sh_metainfo_piece_size(mi, piece)) return SH_ERANGE;
    if (data == NULL) return SH_EINVAL;
    bool v1 = (mi->version & SH_META_V1) && mi->pieces_v1 != NULL;
    bool v2 = (mi->version & SH_META_V2) != 0;
    if (!v1 && !v2) return SH_EINVAL;
    if (v1) {
        int rc = verify_v1(mi, piece, data, len);
        if (rc != 0) return rc;
    }
    if (v2) {
        int rc = verify_v2(mi, piece, data, len);
        /* A hybrid whose layer is not known yet (metadata from a peer) is
         * still fully checked by its v1 hash; only v2-only must wait. */
        if (rc == SH_ENOTFOUND && v1) return 0;
        return rc;
    }
    return 0;
}
