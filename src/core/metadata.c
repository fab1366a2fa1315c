/*
 * metadata.c — the ut_metadata message codec (BEP 9). The dictionary is
 * parsed as a prefix of the payload (sh_bencode_parse_prefix): a data
 * message carries raw bytes after it.
 */
#include <shoal/metadata.h>

#include <string.h>

#define MD_MAX_DEPTH 4u
#define MD_MAX_NODES 64u

uint32_t sh_md_piece_len(uint64_t size, uint32_t i)
{
    if (i >= sh_md_pieces(size)) return 0;
    uint64_t left = size - (uint64_t)i * SH_MD_PIECE;
    return left < SH_MD_PIECE ? (uint32_t)left : SH_MD_PIECE;
}

static int check_fields(const sh_bnode *root, sh_md_msg *m, sh_errinfo *ei)
{
    const sh_bnode *t = sh_bdict_get_type(root, "msg_type", SH_BINT);
    const sh_bnode *pc = sh_bdict_get_type(root, "piece", SH_BINT);
    const sh_bnode *ts = sh_bdict_get_type(root, "total_size", SH_BINT);
    if (!t || t->v.i < SH_MD_REQUEST || t->v.i > SH_MD_REJECT)
        return sh_errinfo_set(ei, SH_EPROTO, 0, "ut_metadata: msg_type missing or unknown");
    /* A piece index beyond what SH_MD_MAX_SIZE allows can never be valid. */
    if (!pc || pc->v.i < 0 || pc->v.i >= (int64_t)sh_md_pieces(SH_MD_MAX_SIZE))
        return sh_errinfo_set(ei, SH_EPROTO, 0, "ut_metadata: piece missing or out of range");
    if (ts && (ts->v.i <= 0 || ts->v.i > (int64_t)SH_MD_MAX_SIZE))
        return sh_errinfo_set(ei, SH_EPROTO, 0, "ut_metadata: total_size %lld out of range",
                              (long long)ts->v.i);
    m->type = (sh_md_type)t->v.i;
    m->piece = (uint32_t)pc->v.i;
    m->total_size = ts ? ts->v.i : -1;
    return 0;
}

int sh_md_parse(const uint8_t *p, size_t len, sh_md_msg *out, sh_errinfo *ei)
{
    if (!out || (!p && len)) return SH_EINVAL;
    if (len > SH_MD_MAX_MSG)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "ut_metadata message of %zu bytes (limit %u)", len,
                              SH_MD_MAX_MSG);
    sh_bencode_limits lim = {MD_MAX_DEPTH, MD_MAX_NODES, SH_MD_MAX_MSG};
    sh_bdoc *doc = NULL;
    size_t used = 0;
    int rc = sh_bencode_parse_prefix(p, len, &lim, &doc, &used, ei);
    if (rc < 0) return rc;
    const sh_bnode *root = sh_bdoc_root(doc);
    sh_md_msg m;
    if (root->type != SH_BDICT)
        rc = sh_errinfo_set(ei, SH_EPROTO, 0, "ut_metadata message is not a dictionary");
    else
        rc = check_fields(root, &m, ei);
    sh_bdoc_free(doc);
    if (rc < 0) return rc;
    /* Bytes after a request or reject are ignored, as libtorrent does. */
    m.data = m.type == SH_MD_DATA ? (sh_span){p + used, len - used} : (sh_span){NULL, 0};
    *out = m;
    return 0;
}

/* Keys in byte order: msg_type, piece, total_size. */
void sh_md_encode(sh_bbuf *b, sh_md_type type, uint32_t piece, int64_t total_size,
                  const uint8_t *data, size_t len)
{
    sh_benc_dict_begin(b);
    sh_benc_kv_int(b, "msg_type", (int64_t)type);
    sh_benc_kv_int(b, "piece", piece);
    if (total_size >= 0) sh_benc_kv_int(b, "total_size", total_size);
    sh_benc_end(b);
    if (len) sh_bbuf_raw(b, data, len);
}
