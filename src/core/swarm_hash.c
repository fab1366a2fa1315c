/*
 * swarm_hash.c — answering BEP 52 hash requests from the torrent's piece
 * layers. A file's merkle tree is built on the first request for it, from
 * its piece layer upward, so only requests at or above the piece layer can
 * be answered; anything else (lower layers, unknown roots, v1 torrents,
 * oversized or misaligned ranges) gets a hash reject. Received hashes and
 * rejects are the business of swarm_layers.c (magnet downloads).
 */
#include "swarm_int.h"

#include <stdlib.h>
#include <string.h>

void sw_hash_free(sh_swarm *s)
{
    if (!s->trees) return;
    for (uint32_t i = 0; i < s->mi->num_files; i++)
        sh_mtree_free(s->trees[i]);
    free(s->trees);
}

static uint32_t piece_level(const sh_metainfo *mi)
{
    uint32_t lvl = 0;
    while (((uint64_t)SH_MERKLE_BLOCK << lvl) < mi->piece_length && lvl < 31)
        lvl++;
    return lvl;
}

static const sh_mtree *tree_for(sh_swarm *s, const uint8_t root[32])
{
    const sh_metainfo *mi = s->mi;
    if (!(mi->version & SH_META_V2)) return NULL;
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (f->pad || !f->has_root || !f->layer || memcmp(f->pieces_root, root, 32) != 0) continue;
        if (!s->trees && !(s->trees = calloc(mi->num_files, sizeof *s->trees))) return NULL;
        if (!s->trees[i] &&
            sh_mtree_new(f->layer, f->layer_count, piece_level(mi), &s->trees[i]) < 0)
            return NULL;
        return s->trees[i];
    }
    return NULL;
}

static void hash_reject(sh_swarm *s, sh_peer *p, const sh_hashreq *h, sh_time now, const char *why)
{
    sw_debug(s, "conn %llu: hash reject: %s", (unsigned long long)p->id, why);
    size_t mark;
    sh_wire_put_hashreq(sw_out(s, p, &mark), SH_MSG_HASH_REJECT, h);
    sw_out_done(s, p, mark, now);
}

int sw_on_hash_request(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    const sh_hashreq *h = &m->hash;
    const sh_mtree *t = tree_for(s, h->root);
    if (!t) {
        hash_reject(s, p, h, now, "unknown root");
        return 0;
    }
    uint32_t base = sh_mtree_base_level(t);
    if (h->base_layer < base) {
        hash_reject(s, p, h, now, "base layer below the piece layer");
        return 0;
    }
    if (h->length < 2 || h->length > SW_MAX_HASHES) {
        hash_reject(s, p, h, now, "length out of bounds");
        return 0;
    }
    uint8_t *out = malloc(((size_t)h->length + 64) * 32);
    uint32_t count = 0;
    if (!out || sh_mtree_proof(t, h->base_layer - base, h->index, h->length, h->proof_layers, out,
                               &count) < 0) {
        free(out);
        hash_reject(s, p, h, now, "outside the tree");
        return 0;
    }
    size_t mark;
    sh_wire_put_hashes(sw_out(s, p, &mark), h, out, count);
    sw_out_done(s, p, mark, now);
    free(out);
    return 0;
}
