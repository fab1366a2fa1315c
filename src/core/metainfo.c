/*
 * metainfo.c — loading a .torrent (or a bare info dictionary) into an
 * sh_metainfo, and the small queries over it.
 *
 * Loading is all-or-nothing: every step fills the object being built, and
 * on any error the whole object is freed, so callers never see a partial
 * one. The info-hashes are computed over the raw info bytes exactly as
 * received (the strict parser guarantees they are the canonical encoding).
 *
 * Choices where the BEPs leave room (each tested in test_metainfo.c):
 * - a known key with the wrong type is an error, unknown keys are ignored;
 * - a torrent whose files hold no data at all (total size 0) is rejected;
 * - BEP 47 attr 'l' (symlink) is ignored, the entry is kept as a plain file;
 *   'p' in a v2 file tree is rejected (pads exist only in v1 lists);
 * - an empty directory in a v2 file tree is ignored;
 * - a hybrid's v1 list may pad its last file up to the end of its piece
 *   (libtorrent 2.0 does), so piece counts, not byte totals, must agree;
 * - piece layers for roots no file has are ignored, a wrong one is an error.
 */
#include "metainfo_int.h"

#include <shoal/sha.h>

#include <stdlib.h>
#include <string.h>

/* A v2 tree nests one dict per path component below root, info and file tree. */
static const sh_bencode_limits LIMITS = {
    .max_depth = SH_META_MAX_PATH_DEPTH + 8,
    .max_nodes = 1u << 23,
    .max_input = SH_META_MAX_TORRENT,
};

static int read_name(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    const sh_bnode *n = sh_bdict_get(info, "name");
    if (!n) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.name is missing");
    if (n->type != SH_BSTR) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.name is not a string");
    int rc = sh_mi_check_component(n->v.s, "info.name", ei);
    if (rc) return rc;
    mi->name = sh_mi_strdup(n->v.s);
    return mi->name ? 0 : SH_ENOMEM;
}

static int read_piece_length(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    const sh_bnode *n = sh_bdict_get(info, "piece length");
    if (!n) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.piece length is missing");
    if (n->type != SH_BINT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.piece length is not an integer");
    int64_t v = n->v.i;
    if (v <= 0)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.piece length is %s",
                              v == 0 ? "0" : "negative");
    if ((uint64_t)v > SH_META_MAX_PIECE_LENGTH)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "info.piece length is %lld, more than %llu",
                              (long long)v, (unsigned long long)SH_META_MAX_PIECE_LENGTH);
    bool pow2 = (v & (v - 1)) == 0;
    if ((mi->version & SH_META_V2) && (!pow2 || v < SH_BLOCK_SIZE))
        return sh_errinfo_set(ei, SH_EMETAINFO, 0,
                              "info.piece length is %lld, v2 needs a power of two >= %u",
                              (long long)v, SH_BLOCK_SIZE);
    mi->piece_length = (uint64_t)v;
    return 0;
}

/* v1 if info.pieces is present, v2 if info.meta version is; both: hybrid. */
static int read_version(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    const sh_bnode *mv = sh_bdict_get(info, "meta version");
    const sh_bnode *pieces = sh_bdict_get(info, "pieces");
    if (mv && mv->type != SH_BINT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.meta version is not an integer");
    if (mv && mv->v.i != 2)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.meta version is %lld, expected 2",
                              (long long)mv->v.i);
    if (pieces && pieces->type != SH_BSTR)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.pieces is not a string");
    if (!mv && !pieces)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0,
                              "info.pieces is missing (and no info.meta version)");
    mi->version = (pieces ? SH_META_V1 : 0) | (mv ? SH_META_V2 : 0);
    return 0;
}

static void take_files(sh_metainfo *mi, sh_mi_files *fl, uint64_t total, bool single)
{
    mi->files = fl->v;
    mi->num_files = fl->n;
    mi->total_size = total;
    mi->single_file = single;
    for (uint32_t i = 0; i < fl->n; i++)
        if (!fl->v[i].pad) mi->content_size += fl->v[i].length;
    memset(fl, 0, sizeof *fl);
}

static int load_files_v1(sh_metainfo *mi, const sh_bnode *info, sh_mi_files *f1, uint64_t *t1,
                         bool *s1, sh_errinfo *ei)
{
    int rc = sh_mi_files_v1(info, mi->name, f1, s1, ei);
    return rc ? rc : sh_mi_layout_v1(f1, t1, ei);
}

static int load_files(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    sh_mi_files f1 = {0}, f2 = {0};
    uint64_t t1 = 0, t2 = 0;
    bool s1 = false, s2 = false;
    int rc = 0;
    if (mi->version & SH_META_V1) rc = load_files_v1(mi, info, &f1, &t1, &s1, ei);
    if (!rc && (mi->version & SH_META_V2)) rc = sh_mi_files_v2(info, mi->name, &f2, &s2, ei);
    if (!rc && mi->version == SH_META_HYBRID) {
        if (s1 != s2)
            rc = sh_errinfo_set(ei, SH_EMETAINFO, 0,
                                "hybrid: info.%s describes %s, info.file tree does not",
                                s1 ? "length" : "files", s1 ? "a single file" : "a directory");
        if (!rc) rc = sh_mi_match_hybrid(&f1, t1, &f2, mi->piece_length, ei);
    } else if (!rc && mi->version == SH_META_V2) {
        rc = sh_mi_layout_v2(&f2, mi->piece_length, &t2, ei);
    }
    sh_mi_files *fl = mi->version & SH_META_V1 ? &f1 : &f2;
    if (!rc) rc = sh_mi_check_unique(fl->v, fl->n, ei);
    if (!rc) take_files(mi, fl, fl == &f1 ? t1 : t2, fl == &f1 ? s1 : s2);
    sh_mi_files_free(&f1);
    sh_mi_files_free(&f2);
    return rc;
}

static int count_pieces(sh_metainfo *mi, sh_errinfo *ei)
{
    if (mi->total_size == 0)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "torrent has no data (total size is 0)");
    uint64_t n = (mi->total_size - 1) / mi->piece_length + 1; /* total <= 2^52: no overflow */
    if (n > SH_META_MAX_PIECES)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "torrent has %llu pieces, more than %u",
                              (unsigned long long)n, SH_META_MAX_PIECES);
    mi->num_pieces = (uint32_t)n;
    return 0;
}

static int load_pieces_v1(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    const sh_bnode *p = sh_bdict_get(info, "pieces"); /* a string: see read_version */
    uint64_t want = (uint64_t)mi->num_pieces * 20;
    if (p->v.s.len != want)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.pieces has %zu bytes, expected %llu",
                              p->v.s.len, (unsigned long long)want);
    mi->pieces_v1 = malloc(p->v.s.len);
    if (!mi->pieces_v1) return SH_ENOMEM;
    memcpy(mi->pieces_v1, p->v.s.ptr, p->v.s.len);
    return 0;
}

static int read_private(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    const sh_bnode *p = sh_bdict_get(info, "private");
    if (!p) return 0;
    if (p->type != SH_BINT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.private is not an integer");
    mi->is_private = p->v.i == 1;
    return 0;
}

static int keep_info(sh_metainfo *mi, sh_span raw)
{
    mi->info = malloc(raw.len);
    if (!mi->info) return SH_ENOMEM;
    memcpy(mi->info, raw.ptr, raw.len);
    mi->info_len = raw.len;
    if (mi->version & SH_META_V1) sh_sha1(raw.ptr, raw.len, mi->info_hash_v1);
    if (mi->version & SH_META_V2) sh_sha256(raw.ptr, raw.len, mi->info_hash_v2);
    return 0;
}

static int load_info(sh_metainfo *mi, const sh_bnode *info, sh_errinfo *ei)
{
    int rc = read_version(mi, info, ei);
    if (!rc) rc = read_name(mi, info, ei);
    if (!rc) rc = read_piece_length(mi, info, ei);
    if (!rc) rc = load_files(mi, info, ei);
    if (!rc) rc = count_pieces(mi, ei);
    if (!rc && (mi->version & SH_META_V1)) rc = load_pieces_v1(mi, info, ei);
    if (!rc) rc = read_private(mi, info, ei);
    if (!rc) rc = keep_info(mi, info->raw);
    return rc;
}

/* Parses buf as one bencoded dictionary. */
static int parse_dict(const uint8_t *buf, size_t len, const char *what, sh_bdoc **doc,
                      sh_errinfo *ei)
{
    if (len > SH_META_MAX_TORRENT)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "%s is %zu bytes, more than %u", what, len,
                              SH_META_MAX_TORRENT);
    int rc = sh_bencode_parse(buf, len, &LIMITS, doc, ei);
    if (rc) return rc;
    if (sh_bdoc_root(*doc)->type != SH_BDICT) {
        sh_bdoc_free(*doc);
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s is not a dictionary", what);
    }
    return 0;
}

static int load_torrent(sh_metainfo *mi, const sh_bnode *root, sh_errinfo *ei)
{
    const sh_bnode *info = sh_bdict_get(root, "info");
    if (!info) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info is missing");
    if (info->type != SH_BDICT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info is not a dictionary");
    int rc = load_info(mi, info, ei);
    if (!rc) rc = sh_mi_load_top(mi, root, ei);
    if (!rc && (mi->version & SH_META_V2))
        rc = sh_mi_load_layers(mi, sh_bdict_get(root, "piece layers"), ei);
    return rc;
}

int sh_metainfo_parse(const uint8_t *buf, size_t len, sh_metainfo **out, sh_errinfo *ei)
{
    if (!out || (!buf && len)) return SH_EINVAL;
    sh_bdoc *doc;
    int rc = parse_dict(buf, len, "torrent", &doc, ei);
    if (rc) return rc;
    sh_metainfo *mi = calloc(1, sizeof *mi);
    rc = mi ? load_torrent(mi, sh_bdoc_root(doc), ei) : SH_ENOMEM;
    sh_bdoc_free(doc);
    if (rc) {
        sh_metainfo_free(mi);
        return rc;
    }
    *out = mi;
    return 0;
}

int sh_metainfo_parse_info(const uint8_t *info, size_t len, sh_metainfo **out, sh_errinfo *ei)
{
    if (!out || (!info && len)) return SH_EINVAL;
    sh_bdoc *doc;
    int rc = parse_dict(info, len, "info", &doc, ei);
    if (rc) return rc;
    sh_metainfo *mi = calloc(1, sizeof *mi);
    rc = mi ? load_info(mi, sh_bdoc_root(doc), ei) : SH_ENOMEM;
    sh_bdoc_free(doc);
    if (rc) {
        sh_metainfo_free(mi);
        return rc;
    }
    mi->has_piece_layers = (mi->version & SH_META_V2) && sh_mi_layers_complete(mi);
    *out = mi;
    return 0;
}

void sh_metainfo_free(sh_metainfo *mi)
{
    if (!mi) return;
    for (uint32_t i = 0; i < mi->num_files; i++) {
        free(mi->files[i].path);
        free((void *)mi->files[i].layer);
    }
    free(mi->files);
    sh_mi_free_top(mi);
    free(mi->name);
    free(mi->pieces_v1);
    free(mi->info);
    free(mi);
}

uint32_t sh_metainfo_piece_size(const sh_metainfo *mi, uint32_t piece)
{
    if (!mi || piece >= mi->num_pieces) return 0;
    uint64_t start = (uint64_t)piece * mi->piece_length;
    uint64_t left = mi->total_size - start;
    return (uint32_t)(left < mi->piece_length ? left : mi->piece_length);
}

const uint8_t *sh_metainfo_wire_hash(const sh_metainfo *mi)
{
    return mi->version & SH_META_V1 ? mi->info_hash_v1 : mi->info_hash_v2;
}

/*
 * Files are sorted by offset; for off inside the piece space the last one
 * starting at or before off holds it: an empty file starting there is
 * followed by the holder (files are contiguous), so it is never the last.
 * Returns num_files when off is past the end.
 */
uint32_t sh_metainfo_file_at(const sh_metainfo *mi, uint64_t off)
{
    if (!mi || off >= mi->total_size) return mi ? mi->num_files : 0;
    uint32_t lo = 0, hi = mi->num_files; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (mi->files[mid].offset <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}
