/*
 * ext.c — the BEP 10 extension handshake: parse what a peer volunteers, and
 * encode what we volunteer.
 *
 * Parsing is bounded (64 KiB, depth 8, a few thousand values) and forgiving
 * in the way clients in the wild need: unknown keys and known keys of the
 * wrong type or range are ignored, only a payload that is not a bencoded
 * dictionary is refused. Sources of the keys: BEP 10 (m, p, v, reqq,
 * yourip), BEP 9 (metadata_size), BEP 21 (upload_only), and shoal's own
 * shoal_block (ext.h).
 */
#include <shoal/ext.h>

#include <string.h>

#define EXT_MAX_LEN 65536u
#define EXT_MAX_DEPTH 8u
#define EXT_MAX_NODES 4096u

/* An integer value of key k within [lo, hi]; false if absent, not an integer or out of range. */
static bool get_int(const sh_bnode *d, const char *k, int64_t lo, int64_t hi, int64_t *v)
{
    const sh_bnode *n = sh_bdict_get_type(d, k, SH_BINT);
    if (!n || n->v.i < lo || n->v.i > hi) return false;
    *v = n->v.i;
    return true;
}

static void read_m(const sh_bnode *root, sh_ext_hs *hs)
{
    const sh_bnode *m = sh_bdict_get_type(root, "m", SH_BDICT);
    if (!m) return;
    int64_t v;
    if (get_int(m, "ut_metadata", 0, 255, &v)) hs->ut_metadata = (uint8_t)v;
    if (get_int(m, "ut_pex", 0, 255, &v)) hs->ut_pex = (uint8_t)v;
}

/* The client name as printable ASCII: it ends up in logs and terminals. */
static void read_client(const sh_bnode *root, sh_ext_hs *hs)
{
    const sh_bnode *v = sh_bdict_get_type(root, "v", SH_BSTR);
    if (!v) return;
    size_t n = v->v.s.len < sizeof hs->client - 1 ? v->v.s.len : sizeof hs->client - 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = v->v.s.ptr[i];
        hs->client[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    hs->client[n] = '\0';
}

static void read_yourip(const sh_bnode *root, sh_ext_hs *hs)
{
    const sh_bnode *y = sh_bdict_get_type(root, "yourip", SH_BSTR);
    if (!y || (y->v.s.len != 4 && y->v.s.len != 16)) return;
    hs->has_yourip = true;
    hs->yourip.family = y->v.s.len == 4 ? 4 : 6;
    memcpy(hs->yourip.ip, y->v.s.ptr, y->v.s.len);
}

static void read_scalars(const sh_bnode *root, sh_ext_hs *hs)
{
    int64_t v;
    if (get_int(root, "p", 1, 65535, &v)) {
        hs->has_port = true;
        hs->port = (uint16_t)v;
    }
    if (get_int(root, "reqq", 1, UINT32_MAX, &v)) hs->reqq = (uint32_t)v;
    if (get_int(root, "upload_only", INT64_MIN, INT64_MAX, &v)) hs->upload_only = v != 0;
    if (get_int(root, "metadata_size", 0, INT64_MAX, &v)) hs->metadata_size = v;
    if (get_int(root, "shoal_block", 1, UINT32_MAX, &v)) hs->shoal_block = (uint32_t)v;
}

int sh_ext_hs_parse(const uint8_t *p, size_t len, sh_ext_hs *out, sh_errinfo *ei)
{
    if (len > EXT_MAX_LEN)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "extension handshake of %zu bytes (limit %u)", len,
                              EXT_MAX_LEN);
    sh_bencode_limits lim = {EXT_MAX_DEPTH, EXT_MAX_NODES, EXT_MAX_LEN};
    sh_bdoc *doc = NULL;
    int rc = sh_bencode_parse(p, len, &lim, &doc, ei);
    if (rc < 0) return rc;
    const sh_bnode *root = sh_bdoc_root(doc);
    if (root->type != SH_BDICT) {
        sh_bdoc_free(doc);
        return sh_errinfo_set(ei, SH_EPROTO, 0, "extension handshake is not a dictionary");
    }
    sh_ext_hs hs;
    memset(&hs, 0, sizeof hs);
    hs.metadata_size = -1;
    read_m(root, &hs);
    read_client(root, &hs);
    read_yourip(root, &hs);
    read_scalars(root, &hs);
    sh_bdoc_free(doc);
    *out = hs;
    return 0;
}

/* Keys in raw byte order, as bencode requires: m, metadata_size, p, reqq, shoal_block,
 * upload_only, v, yourip. "m" is always sent: BEP 10 peers look for it. */
void sh_ext_hs_encode(sh_bbuf *b, const sh_ext_hs *hs)
{
    sh_benc_dict_begin(b);
    sh_benc_cstr(b, "m");
    sh_benc_dict_begin(b);
    if (hs->ut_metadata) sh_benc_kv_int(b, "ut_metadata", hs->ut_metadata);
    if (hs->ut_pex) sh_benc_kv_int(b, "ut_pex", hs->ut_pex);
    sh_benc_end(b);
    if (hs->metadata_size >= 0) sh_benc_kv_int(b, "metadata_size", hs->metadata_size);
    if (hs->has_port && hs->port) sh_benc_kv_int(b, "p", hs->port);
    if (hs->reqq) sh_benc_kv_int(b, "reqq", hs->reqq);
    if (hs->shoal_block) sh_benc_kv_int(b, "shoal_block", hs->shoal_block);
    if (hs->upload_only) sh_benc_kv_int(b, "upload_only", 1);
    size_t vlen = strnlen(hs->client, sizeof hs->client);
    if (vlen) sh_benc_kv_str(b, "v", hs->client, vlen);
    if (hs->yourip.family == 4) sh_benc_kv_str(b, "yourip", hs->yourip.ip, 4);
    if (hs->yourip.family == 6) sh_benc_kv_str(b, "yourip", hs->yourip.ip, 16);
    sh_benc_end(b);
}
