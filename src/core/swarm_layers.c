/*
 * swarm_layers.c — fetching the v2 piece layers a torrent from a magnet
 * link lacks (an info dictionary carries only each file's pieces root;
 * the layers live outside it in a .torrent).
 *
 * Each file larger than one piece needs its piece layer: n hashes, padded
 * to width W = pow2(n). It is fetched with BEP 52 hash requests in chunks
 * of SW_LAYER_CHUNK hashes at the piece layer, each with the uncles that
 * lead from the chunk to the file's pieces root (proof_layers = log2(W) -
 * 1), the shape libtorrent asks for (hash_picker.cpp: 512 hashes, a power
 * of two, aligned). Every answer is checked with sh_merkle_verify_proof
 * against the pieces root before a hash of it is kept; a peer whose hashes
 * do not lead to the root is disconnected; one that rejects or does not
 * answer within SW_LAYER_TIMEOUT is not asked again for SW_LAYER_SHUN.
 *
 * A complete layer is installed with sh_metainfo_set_layer, which checks it
 * once more. Hasher threads read the metainfo while they verify pieces, so
 * a file's layer is written only while none of that file's pieces is being
 * verified (the swarm queued every VERIFY, so it knows); otherwise
 * installing waits for the next verify result.
 *
 * For a v2-only torrent a piece cannot be verified without its file's
 * layer, so the picker is handed a mask (sw_layers_pickable) that holds
 * back those files' pieces until their layer is in. A hybrid verifies by
 * its v1 hashes meanwhile, so it downloads freely and fetches layers only
 * to be able to answer v2 peers' hash requests.
 */
#include "swarm_ext.h"

#include <shoal/merkle.h>

#include <stdlib.h>
#include <string.h>

typedef struct lchunk {
    sh_conn_id conn; /* in flight to this connection; 0: not */
    sh_time sent;
    bool have;
} lchunk;

typedef struct lfile {
    uint32_t file;        /* index in mi->files */
    uint32_t first_piece; /* its pieces in piece space */
    uint32_t n;           /* layer hashes (= its pieces) */
    uint32_t width;       /* pow2(n) */
    uint32_t nchunks, nhave;
    lchunk *chunks;
    uint8_t *buf; /* n * 32 once the first chunk arrives */
    bool installed;
} lfile;

typedef struct inflight {
    uint32_t f, c; /* file slot and chunk */
} inflight;

struct sw_layers {
    lfile *files;
    uint32_t nfiles, left; /* left: not installed */
    uint32_t level;        /* the piece layer, counted from the 16 KiB leaves */
    bool use_mask;         /* v2-only: hold back pieces without a layer */
    sh_bitfield pickable;
    inflight *fl; /* requests in flight */
    uint32_t nfl, capfl;
    uint32_t cursor; /* first file slot that may have an unrequested chunk */
    bool kick;       /* a chunk became free outside a pump: pump at the next timer */
};

static uint32_t log2u(uint64_t v)
{
    uint32_t l = 0;
    while (v > 1)
        v >>= 1, l++;
    return l;
}

static bool needs_layer(const sh_metainfo *mi, const sh_file *f)
{
    return f->has_root && !f->pad && f->length > mi->piece_length && !f->layer;
}

static int add_file(sw_layers *l, const sh_metainfo *mi, uint32_t i)
{
    const sh_file *f = &mi->files[i];
    lfile *lf = &l->files[l->nfiles];
    memset(lf, 0, sizeof *lf);
    lf->file = i;
    lf->first_piece = (uint32_t)(f->offset / mi->piece_length);
    lf->n = (uint32_t)((f->length - 1) / mi->piece_length + 1);
    lf->width = sh_merkle_pow2(lf->n);
    lf->nchunks = (lf->n - 1) / SW_LAYER_CHUNK + 1;
    lf->chunks = calloc(lf->nchunks, sizeof *lf->chunks);
    if (!lf->chunks) return SH_ENOMEM;
    l->nfiles++;
    l->left++;
    if (l->use_mask)
        for (uint32_t k = 0; k < lf->n; k++)
            sh_bitfield_clear(&l->pickable, lf->first_piece + k);
    return 0;
}

int sw_layers_new(sh_swarm *s, sw_layers **out)
{
    const sh_metainfo *mi = s->mi;
    sw_layers *l = calloc(1, sizeof *l);
    if (!l) return SH_ENOMEM;
    *out = l; /* freed by the caller's cleanup on error */
    l->level = log2u(mi->piece_length / SH_MERKLE_BLOCK);
    l->use_mask = mi->version == SH_META_V2;
    if (l->use_mask) {
        if (sh_bitfield_init(&l->pickable, mi->num_pieces) < 0) return SH_ENOMEM;
        sh_bitfield_set_all(&l->pickable);
    }
    l->files = calloc(mi->num_files ? mi->num_files : 1, sizeof *l->files);
    if (!l->files) return SH_ENOMEM;
    for (uint32_t i = 0; i < mi->num_files; i++)
        if (needs_layer(mi, &mi->files[i]) && add_file(l, mi, i) < 0) return SH_ENOMEM;
    sw_info(s, "%u file%s need%s a piece layer from peers", l->left, l->left == 1 ? "" : "s",
            l->left == 1 ? "s" : "");
    return 0;
}

void sw_layers_free(sw_layers *l)
{
    if (!l) return;
    for (uint32_t i = 0; i < l->nfiles; i++) {
        free(l->files[i].chunks);
        free(l->files[i].buf);
    }
    free(l->files);
    free(l->fl);
    sh_bitfield_free(&l->pickable);
    free(l);
}

bool sw_layers_done(const sw_layers *l)
{
    return l->left == 0;
}

const sh_bitfield *sw_layers_pickable(const sw_layers *l)
{
    return l->use_mask && l->left > 0 ? &l->pickable : NULL;
}

/* ---- requests ---- */

static void chunk_req(const sh_swarm *s, const sw_layers *l, const lfile *lf, uint32_t c,
                      sh_hashreq *h)
{
    memcpy(h->root, s->mi->files[lf->file].pieces_root, 32);
    h->base_layer = l->level;
    h->index = c * SW_LAYER_CHUNK;
    uint32_t left = sh_merkle_pow2(lf->n - h->index);
    h->length = left < SW_LAYER_CHUNK ? left : SW_LAYER_CHUNK;
    h->proof_layers = log2u(lf->width) - 1;
}

static bool can_ask(const sh_swarm *s, const sh_peer *p, const sw_xpeer *xp, sh_time now)
{
    if (p->dead || p->state != SH_PEER_ACTIVE || !xp) return false;
    if (s->mi->version != SH_META_V2 && !p->v2) return false; /* hybrid: only v2 peers */
    return xp->hash_inflight < SW_LAYER_PER_PEER && xp->hash_shun_until <= now;
}

/* The next chunk nobody has or asks for, from the cursor on; false if none. */
static bool next_free(sw_layers *l, uint32_t *fi, uint32_t *ci)
{
    for (uint32_t i = l->cursor; i < l->nfiles; i++) {
        lfile *lf = &l->files[i];
        if (lf->installed || lf->nhave == lf->nchunks) {
            if (i == l->cursor) l->cursor++;
            continue;
        }
        for (uint32_t c = 0; c < lf->nchunks; c++) {
            if (lf->chunks[c].have || lf->chunks[c].conn) continue;
            *fi = i, *ci = c;
            return true;
        }
    }
    return false;
}

static bool fl_push(sw_layers *l, uint32_t f, uint32_t c)
{
    if (l->nfl == l->capfl) {
        uint32_t ncap = l->capfl ? l->capfl * 2 : 16;
        inflight *n = realloc(l->fl, (size_t)ncap * sizeof *n);
        if (!n) return false;
        l->fl = n;
        l->capfl = ncap;
    }
    l->fl[l->nfl++] = (inflight){f, c};
    return true;
}

static void ask(sh_swarm *s, sw_layers *l, sh_peer *p, sw_xpeer *xp, uint32_t fi, uint32_t ci,
                sh_time now)
{
    if (!fl_push(l, fi, ci)) return;
    lchunk *ch = &l->files[fi].chunks[ci];
    ch->conn = p->id;
    ch->sent = now;
    xp->hash_inflight++;
    sh_hashreq h;
    chunk_req(s, l, &l->files[fi], ci, &h);
    sw_debug(s, "conn %llu: hash request: file %u hashes %u+%u", (unsigned long long)p->id,
             l->files[fi].file, h.index, h.length);
    size_t mark;
    sh_wire_put_hashreq(sw_out(s, p, &mark), SH_MSG_HASH_REQUEST, &h);
    sw_out_done(s, p, mark, now);
    sw_arm(s, now + SW_LAYER_TIMEOUT);
}

void sw_layers_pump(sh_swarm *s, sh_time now)
{
    sw_layers *l = s->x->layers;
    l->kick = false;
    if (l->left == 0) return;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = s->peers[i];
        sw_xpeer *xp = sw_xpeer_of(s, p->id);
        uint32_t fi, ci;
        while (can_ask(s, p, xp, now) && next_free(l, &fi, &ci))
            ask(s, l, p, xp, fi, ci, now);
    }
}

/* Removes in-flight entry k; the chunk is free to ask again. */
static void release(sh_swarm *s, sw_layers *l, uint32_t k)
{
    inflight e = l->fl[k];
    lchunk *ch = &l->files[e.f].chunks[e.c];
    sw_xpeer *xp = sw_xpeer_of(s, ch->conn);
    if (xp && xp->hash_inflight) xp->hash_inflight--;
    ch->conn = 0;
    l->fl[k] = l->fl[--l->nfl];
    if (e.f < l->cursor) l->cursor = e.f;
}

/* The in-flight entry of p that h answers, or -1. */
static long find_inflight(const sh_swarm *s, const sw_layers *l, const sh_peer *p,
                          const sh_hashreq *h)
{
    for (uint32_t k = 0; k < l->nfl; k++) {
        const lfile *lf = &l->files[l->fl[k].f];
        if (lf->chunks[l->fl[k].c].conn != p->id) continue;
        sh_hashreq want;
        chunk_req(s, l, lf, l->fl[k].c, &want);
        if (memcmp(want.root, h->root, 32) == 0 && want.base_layer == h->base_layer &&
            want.index == h->index && want.length == h->length &&
            want.proof_layers == h->proof_layers)
            return (long)k;
    }
    return -1;
}

static int bad_hashes(sh_swarm *s, sh_peer *p, sh_time now, const char *why)
{
    sw_close(s, p, SH_EPROTO, true, now, why);
    return SH_EPROTO;
}

/* Checks the answer and keeps its hashes; 0, or SH_EPROTO after closing p. */
static int take(sh_swarm *s, sw_layers *l, sh_peer *p, lfile *lf, uint32_t c, const sh_msg *m,
                sh_time now)
{
    const sh_hashreq *h = &m->hash;
    uint32_t nuncles = log2u(lf->width) - log2u(h->length);
    if (m->data.len != ((size_t)h->length + nuncles) * 32)
        return bad_hashes(s, p, now, "hashes answer of the wrong length");
    const uint8_t *root = s->mi->files[lf->file].pieces_root;
    int rc = sh_merkle_verify_proof(root, l->level, lf->width, h->index, m->data.ptr, h->length,
                                    m->data.ptr + (size_t)h->length * 32, nuncles);
    if (rc == SH_ENOMEM) return 0; /* the chunk is asked again later */
    if (rc != 0) return bad_hashes(s, p, now, "hashes that do not lead to the file's pieces root");
    if (!lf->buf && !(lf->buf = malloc((size_t)lf->n * 32))) return 0;
    uint32_t real = lf->n - h->index < h->length ? lf->n - h->index : h->length;
    memcpy(lf->buf + (size_t)h->index * 32, m->data.ptr, (size_t)real * 32);
    lf->chunks[c].have = true;
    lf->nhave++;
    return 0;
}

int sw_layers_on_hashes(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    sw_layers *l = s->x->layers;
    long k = l ? find_inflight(s, l, p, &m->hash) : -1;
    if (k < 0) return 0; /* late (timed out) or unasked: not trusted, not needed */
    inflight e = l->fl[k];
    release(s, l, (uint32_t)k);
    lfile *lf = &l->files[e.f];
    int rc = take(s, l, p, lf, e.c, m, now);
    if (rc < 0) return rc;
    if (lf->nhave == lf->nchunks) sw_layers_install(s, now);
    sw_layers_pump(s, now);
    return 0;
}

void sw_layers_on_reject(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    sw_layers *l = s->x->layers;
    long k = l ? find_inflight(s, l, p, &m->hash) : -1;
    if (k < 0) return;
    release(s, l, (uint32_t)k);
    sw_xpeer *xp = sw_xpeer_of(s, p->id);
    if (xp) xp->hash_shun_until = now + SW_LAYER_SHUN;
    sw_debug(s, "conn %llu: hash request rejected", (unsigned long long)p->id);
    sw_layers_pump(s, now);
}

void sw_layers_peer_gone(sh_swarm *s, sh_conn_id c)
{
    sw_layers *l = s->x->layers;
    for (uint32_t k = l->nfl; k-- > 0;) {
        if (l->files[l->fl[k].f].chunks[l->fl[k].c].conn != c) continue;
        release(s, l, k);
        l->kick = true;
    }
    if (l->kick) sw_arm(s, s->now); /* ask others from the next timer, not inside a close */
}

void sw_layers_timer(sh_swarm *s, sh_time now)
{
    sw_layers *l = s->x->layers;
    for (uint32_t k = l->nfl; k-- > 0;) {
        lchunk *ch = &l->files[l->fl[k].f].chunks[l->fl[k].c];
        if (now - ch->sent < SW_LAYER_TIMEOUT) continue;
        sw_xpeer *xp = sw_xpeer_of(s, ch->conn);
        if (xp) xp->hash_shun_until = now + SW_LAYER_SHUN;
        sw_debug(s, "conn %llu: hash request timed out", (unsigned long long)ch->conn);
        release(s, l, k);
        l->kick = true;
    }
    if (l->kick) sw_layers_pump(s, now);
    sh_time t = SH_TIME_NEVER;
    for (uint32_t k = 0; k < l->nfl; k++) {
        sh_time d = l->files[l->fl[k].f].chunks[l->fl[k].c].sent + SW_LAYER_TIMEOUT;
        if (d < t) t = d;
    }
    sw_arm(s, t);
    /* Peers shunned while chunks wait: ask again when the first shun ends. */
    uint32_t fi, ci;
    if (l->left && next_free(l, &fi, &ci)) {
        sh_time u = SH_TIME_NEVER;
        for (size_t i = 0; i < s->x->nxp; i++)
            if (s->x->xp[i].hash_shun_until > now && s->x->xp[i].hash_shun_until < u)
                u = s->x->xp[i].hash_shun_until;
        if (u != SH_TIME_NEVER) {
            l->kick = true;
            sw_arm(s, u);
        }
    }
}

/* ---- installing ---- */

static bool verifying_in(const sh_swarm *s, const lfile *lf)
{
    for (size_t i = 0; i < s->pieces.n; i++) {
        const sh_asm_piece *ap = s->pieces.v[i];
        if (ap->verifying && ap->piece >= lf->first_piece && ap->piece - lf->first_piece < lf->n)
            return true;
    }
    return false;
}

static void install_one(sh_swarm *s, sw_layers *l, lfile *lf)
{
    int rc = sh_metainfo_set_layer(s->x->mi_mut, lf->file, lf->buf, lf->n);
    if (rc != 0) { /* every chunk was checked: only memory can fail here; fetch again */
        sw_info(s, "file %u: piece layer not installed (%s): fetching it again", lf->file,
                sh_strerror(rc));
        for (uint32_t c = 0; c < lf->nchunks; c++)
            lf->chunks[c].have = false;
        lf->nhave = 0;
        return;
    }
    lf->installed = true;
    free(lf->buf);
    lf->buf = NULL;
    l->left--;
    if (l->use_mask)
        for (uint32_t k = 0; k < lf->n; k++)
            sh_bitfield_set(&l->pickable, lf->first_piece + k);
    s->refill = true; /* its pieces may be requested now */
    sw_info(s, "file %u: piece layer of %u hashes installed (%u file%s to go)", lf->file, lf->n,
            l->left, l->left == 1 ? "" : "s");
}

void sw_layers_install(sh_swarm *s, sh_time now)
{
    (void)now;
    sw_layers *l = s->x->layers;
    for (uint32_t i = 0; i < l->nfiles; i++) {
        lfile *lf = &l->files[i];
        if (lf->installed || lf->nhave < lf->nchunks || verifying_in(s, lf)) continue;
        install_one(s, l, lf);
    }
}
