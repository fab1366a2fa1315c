/*
 * mkinfo_enc.c — bencoding the finished torrent.
 *
 * Every dictionary is written with its keys already in raw byte order, as
 * bencode requires; the order of each literal key list below is that order.
 * Where BEP 3/12/19/47/52 leave a choice, the output matches libtorrent 2.0
 * (announce-list only with more than one tracker, url-list a string when
 * there is one web seed, "piece layers" present even when empty), so the
 * two tools make byte-identical info dictionaries from the same tree.
 */
#include "mkinfo_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {"attr": "x"?, "length": n, "path": [...]} — a v1 file entry. */
static void enc_v1_file(sh_bbuf *b, const mk_file *f)
{
    sh_benc_dict_begin(b);
    if (f->exec) sh_benc_kv_cstr(b, "attr", "x");
    sh_benc_kv_int(b, "length", (int64_t)f->length);
    sh_benc_cstr(b, "path");
    sh_benc_list_begin(b);
    for (uint32_t i = 0; i < f->ncomps; i++)
        sh_benc_cstr(b, f->comps[i]);
    sh_benc_end(b);
    sh_benc_end(b);
}

/* A BEP 47 pad entry: attr "p", path [".pad", "<length>"]. */
static void enc_pad(sh_bbuf *b, uint64_t len)
{
    char name[24];
    snprintf(name, sizeof name, "%" PRIu64, len);
    sh_benc_dict_begin(b);
    sh_benc_kv_cstr(b, "attr", "p");
    sh_benc_kv_int(b, "length", (int64_t)len);
    sh_benc_cstr(b, "path");
    sh_benc_list_begin(b);
    sh_benc_cstr(b, ".pad");
    sh_benc_cstr(b, name);
    sh_benc_end(b);
    sh_benc_end(b);
}

static void enc_files(sh_bbuf *b, const sh_mkinfo *m)
{
    sh_benc_list_begin(b);
    for (uint32_t i = 0; i < m->num_files; i++) {
        enc_v1_file(b, &m->files[i]);
        if (m->files[i].pad_after > 0) enc_pad(b, m->files[i].pad_after);
    }
    sh_benc_end(b);
}

/* name: {"": {"attr": "x"?, "length": n, "pieces root": r (non-empty)}} */
static void enc_v2_leaf(sh_bbuf *b, const char *name, const mk_file *f)
{
    sh_benc_cstr(b, name);
    sh_benc_dict_begin(b);
    sh_benc_str(b, "", 0);
    sh_benc_dict_begin(b);
    if (f->exec) sh_benc_kv_cstr(b, "attr", "x");
    sh_benc_kv_int(b, "length", (int64_t)f->length);
    if (f->has_root) sh_benc_kv_str(b, "pieces root", f->root, 32);
    sh_benc_end(b);
    sh_benc_end(b);
}

/*
 * The v2 file tree from the sorted file list: directories are opened and
 * closed as the path prefix changes; sorting by components makes every
 * dictionary's keys come out in order.
 */
static void enc_file_tree(sh_bbuf *b, const sh_mkinfo *m)
{
    sh_benc_dict_begin(b);
    if (m->single) {
        enc_v2_leaf(b, m->name, &m->files[0]);
        sh_benc_end(b);
        return;
    }
    const mk_file *prev = NULL;
    uint32_t open = 0; /* directories of prev currently open */
    for (uint32_t i = 0; i < m->num_files; i++) {
        const mk_file *f = &m->files[i];
        uint32_t dirs = f->ncomps - 1, common = 0;
        while (prev && common < open && common < dirs &&
               strcmp(prev->comps[common], f->comps[common]) == 0)
            common++;
        for (; open > common; open--)
            sh_benc_end(b);
        for (; open < dirs; open++) {
            sh_benc_cstr(b, f->comps[open]);
            sh_benc_dict_begin(b);
        }
        enc_v2_leaf(b, f->comps[dirs], f);
        prev = f;
    }
    for (; open > 0; open--)
        sh_benc_end(b);
    sh_benc_end(b);
}

static void enc_info(sh_bbuf *b, const sh_mkinfo *m)
{
    bool v1 = m->version & SH_META_V1, v2 = m->version & SH_META_V2;
    sh_benc_dict_begin(b);
    if (v1 && m->single && m->files[0].exec) sh_benc_kv_cstr(b, "attr", "x");
    if (v2) {
        sh_benc_cstr(b, "file tree");
        enc_file_tree(b, m);
    }
    if (v1 && !m->single) {
        sh_benc_cstr(b, "files");
        enc_files(b, m);
    }
    if (v1 && m->single) sh_benc_kv_int(b, "length", (int64_t)m->files[0].length);
    if (v2) sh_benc_kv_int(b, "meta version", 2);
    sh_benc_kv_cstr(b, "name", m->name);
    sh_benc_kv_int(b, "piece length", (int64_t)m->piece_length);
    if (v1) sh_benc_kv_str(b, "pieces", m->pieces_v1, (size_t)m->num_pieces * SH_SHA1_LEN);
    if (m->is_private) sh_benc_kv_int(b, "private", 1);
    sh_benc_end(b);
}

static int cmp_root(const void *pa, const void *pb)
{
    const mk_file *a = *(const mk_file *const *)pa, *b = *(const mk_file *const *)pb;
    return memcmp(a->root, b->root, 32);
}

/* Keyed by pieces root, so sorted by it; identical files share one entry. */
static void enc_piece_layers(sh_bbuf *b, const sh_mkinfo *m)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->num_files; i++)
        n += m->files[i].layer != NULL;
    const mk_file **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && v == NULL) {
        b->err = SH_ENOMEM;
        return;
    }
    n = 0;
    for (uint32_t i = 0; i < m->num_files; i++)
        if (m->files[i].layer != NULL) v[n++] = &m->files[i];
    if (n > 1) qsort(v, n, sizeof *v, cmp_root);
    sh_benc_dict_begin(b);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(v[i]->root, v[i - 1]->root, 32) == 0) continue;
        sh_benc_str(b, v[i]->root, 32);
        sh_benc_str(b, v[i]->layer, (size_t)v[i]->layer_count * 32);
    }
    sh_benc_end(b);
    free(v);
}

static void enc_trackers(sh_bbuf *b, const sh_mkinfo *m)
{
    if (m->num_trackers == 0) return;
    sh_benc_kv_cstr(b, "announce", m->trackers[0]);
    if (m->num_trackers < 2) return;
    sh_benc_cstr(b, "announce-list");
    sh_benc_list_begin(b);
    for (uint32_t i = 0; i < m->num_trackers; i++) {
        sh_benc_list_begin(b);
        sh_benc_cstr(b, m->trackers[i]);
        sh_benc_end(b);
    }
    sh_benc_end(b);
}

static void enc_web_seeds(sh_bbuf *b, const sh_mkinfo *m)
{
    if (m->num_web_seeds == 0) return;
    if (m->num_web_seeds == 1) {
        sh_benc_kv_cstr(b, "url-list", m->web_seeds[0]);
        return;
    }
    sh_benc_cstr(b, "url-list");
    sh_benc_list_begin(b);
    for (uint32_t i = 0; i < m->num_web_seeds; i++)
        sh_benc_cstr(b, m->web_seeds[i]);
    sh_benc_end(b);
}

void sh_mkinfo_encode(const sh_mkinfo *m, sh_bbuf *out)
{
    sh_benc_dict_begin(out);
    enc_trackers(out, m); /* announce, announce-list */
    if (m->comment) sh_benc_kv_cstr(out, "comment", m->comment);
    if (m->created_by) sh_benc_kv_cstr(out, "created by", m->created_by);
    if (m->creation_date != 0) sh_benc_kv_int(out, "creation date", m->creation_date);
    sh_benc_cstr(out, "info");
    enc_info(out, m);
    if (m->version & SH_META_V2) {
        sh_benc_cstr(out, "piece layers");
        enc_piece_layers(out, m);
    }
    enc_web_seeds(out, m);
    sh_benc_end(out);
}
