/*
 * test_metainfo.c — the .torrent loader.
 *
 * Torrents are built here from a small in-test value model (dict keys are
 * sorted at encoding), with piece hashes, merkle roots and piece layers
 * computed by an independent in-test implementation over OpenSSL's SHA-1 and
 * SHA-256 directly, so a shared bug in shoal's merkle code cannot hide. Each
 * happy torrent is then mutated once per rule of the loader, and each
 * mutation must fail with the right code and a message naming the field.
 * Fixtures made by libtorrent (tests/unit/data/) check interoperability.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include <shoal/bencode.h>
#include <shoal/metainfo.h>

/* --- a tiny bencode value model ------------------------------------------ */

typedef struct bv bv;
struct bv {
    sh_btype t;
    int64_t i;
    uint8_t *s;
    size_t slen;
    bv **items;
    uint8_t **keys;
    size_t *klens;
    uint32_t n;
};

static bv *bnew(sh_btype t)
{
    bv *v = calloc(1, sizeof *v);
    v->t = t;
    return v;
}

static bv *bi(int64_t i)
{
    bv *v = bnew(SH_BINT);
    v->i = i;
    return v;
}

static bv *bb(const void *p, size_t n)
{
    bv *v = bnew(SH_BSTR);
    v->s = malloc(n ? n : 1);
    if (n) memcpy(v->s, p, n);
    v->slen = n;
    return v;
}

static bv *bs(const char *s)
{
    return bb(s, strlen(s));
}

static bv *bl(void)
{
    return bnew(SH_BLIST);
}

static bv *bd(void)
{
    return bnew(SH_BDICT);
}

static void bfree(bv *v)
{
    if (!v) return;
    for (uint32_t k = 0; k < v->n; k++) {
        bfree(v->items[k]);
        if (v->keys) free(v->keys[k]);
    }
    free(v->items);
    free(v->keys);
    free(v->klens);
    free(v->s);
    free(v);
}

static bv *ladd(bv *l, bv *item)
{
    l->items = realloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = item;
    return l;
}

static bv **dslot(bv *d, const void *k, size_t klen)
{
    for (uint32_t j = 0; j < d->n; j++)
        if (d->klens[j] == klen && memcmp(d->keys[j], k, klen) == 0) return &d->items[j];
    return NULL;
}

/* Sets d[k] = v (replacing and freeing any old value); v NULL deletes. */
static void dsetk(bv *d, const void *k, size_t klen, bv *v)
{
    bv **slot = dslot(d, k, klen);
    if (slot && v) {
        bfree(*slot);
        *slot = v;
        return;
    }
    if (slot) {
        uint32_t j = (uint32_t)(slot - d->items);
        bfree(d->items[j]);
        free(d->keys[j]);
        memmove(&d->items[j], &d->items[j + 1], (d->n - j - 1) * sizeof *d->items);
        memmove(&d->keys[j], &d->keys[j + 1], (d->n - j - 1) * sizeof *d->keys);
        memmove(&d->klens[j], &d->klens[j + 1], (d->n - j - 1) * sizeof *d->klens);
        d->n--;
        return;
    }
    if (!v) return;
    d->items = realloc(d->items, (d->n + 1) * sizeof *d->items);
    d->keys = realloc(d->keys, (d->n + 1) * sizeof *d->keys);
    d->klens = realloc(d->klens, (d->n + 1) * sizeof *d->klens);
    d->keys[d->n] = malloc(klen ? klen : 1);
    memcpy(d->keys[d->n], k, klen);
    d->klens[d->n] = klen;
    d->items[d->n++] = v;
}

static void dset(bv *d, const char *k, bv *v)
{
    dsetk(d, k, strlen(k), v);
}

static bv *dget(bv *d, const char *k)
{
    bv **slot = dslot(d, k, strlen(k));
    return slot ? *slot : NULL;
}

static int kcmp(const bv *d, uint32_t a, uint32_t b)
{
    size_t m = d->klens[a] < d->klens[b] ? d->klens[a] : d->klens[b];
    int c = memcmp(d->keys[a], d->keys[b], m);
    return c ? c : (d->klens[a] > d->klens[b]) - (d->klens[a] < d->klens[b]);
}

static void benc(sh_bbuf *b, const bv *v)
{
    if (v->t == SH_BINT) sh_benc_int(b, v->i);
    if (v->t == SH_BSTR) sh_benc_str(b, v->s, v->slen);
    if (v->t == SH_BLIST) {
        sh_benc_list_begin(b);
        for (uint32_t k = 0; k < v->n; k++)
            benc(b, v->items[k]);
        sh_benc_end(b);
    }
    if (v->t == SH_BDICT) {
        uint32_t ord[64];
        assert_true(v->n <= 64);
        for (uint32_t k = 0; k < v->n; k++)
            ord[k] = k;
        for (uint32_t k = 1; k < v->n; k++) /* insertion sort by raw key bytes */
            for (uint32_t j = k; j > 0 && kcmp(v, ord[j - 1], ord[j]) > 0; j--) {
                uint32_t t = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = t;
            }
        sh_benc_dict_begin(b);
        for (uint32_t k = 0; k < v->n; k++) {
            sh_benc_str(b, v->keys[ord[k]], v->klens[ord[k]]);
            benc(b, v->items[ord[k]]);
        }
        sh_benc_end(b);
    }
}

/* --- independent hashing -------------------------------------------------- */

#define BLK 16384u

static uint8_t content_byte(uint32_t file, uint64_t off)
{
    return (uint8_t)(file * 31u + off * 7u + off / 251u + 1u);
}

static void hpair(const uint8_t *a, const uint8_t *b, uint8_t *out)
{
    uint8_t buf[64];
    memcpy(buf, a, 32);
    memcpy(buf + 32, b, 32);
    SHA256(buf, 64, out);
}

/* Root over n nodes padded with zero-subtree nodes z to a width of w (power of two). */
static void root_of(const uint8_t *nodes, uint32_t n, uint32_t w, const uint8_t z[32],
                    uint8_t out[32])
{
    uint8_t *lv = calloc(w, 32);
    uint8_t zz[32];
    memcpy(zz, z, 32);
    for (uint32_t k = 0; k < w; k++)
        memcpy(lv + 32 * k, k < n ? nodes + 32 * k : zz, 32);
    for (; w > 1; w /= 2)
        for (uint32_t k = 0; k < w / 2; k++)
            hpair(lv + 64 * k, lv + 64 * k + 32, lv + 32 * k);
    memcpy(out, lv, 32);
    free(lv);
}

static uint32_t pow2(uint64_t n)
{
    uint32_t w = 1;
    while (w < n)
        w *= 2;
    return w;
}

/* Leaf hashes of file f (length len): one SHA-256 per 16 KiB block. */
static uint8_t *leaves(uint32_t f, uint64_t len, uint32_t *nblocks)
{
    uint32_t nb = (uint32_t)((len + BLK - 1) / BLK);
    uint8_t *out = malloc((size_t)nb * 32 + 1);
    uint8_t *blk = malloc(BLK);
    for (uint32_t k = 0; k < nb; k++) {
        uint64_t o = (uint64_t)k * BLK, l = len - o < BLK ? len - o : BLK;
        for (uint64_t x = 0; x < l; x++)
            blk[x] = content_byte(f, o + x);
        SHA256(blk, l, out + 32 * k);
    }
    free(blk);
    *nblocks = nb;
    return out;
}

static const uint8_t ZERO[32];

/* The pieces root from all leaves, and (if len > P) the piece layer. */
static void v2_hashes(uint32_t f, uint64_t len, uint64_t P, uint8_t root[32], uint8_t **layer,
                      uint32_t *nlayer)
{
    uint32_t nb;
    uint8_t *lf = leaves(f, len, &nb);
    root_of(lf, nb, pow2(nb), ZERO, root);
    *layer = NULL;
    *nlayer = 0;
    if (len > P) {
        uint32_t per = (uint32_t)(P / BLK), np = (nb + per - 1) / per;
        *layer = malloc((size_t)np * 32);
        for (uint32_t k = 0; k < np; k++) {
            uint32_t have = nb - k * per < per ? nb - k * per : per;
            root_of(lf + (size_t)32 * k * per, have, per, ZERO, *layer + 32 * k);
        }
        *nlayer = np;
    }
    free(lf);
}

/* --- torrents built from a file list --------------------------------------- */

typedef struct tf {
    const char *path;
    uint64_t len;
    bool pad;
} tf;

/* Builds v1 "pieces" over the piece space: files (pads as zeros) in order. */
static bv *v1_pieces(const tf *files, uint32_t n, uint64_t P, uint32_t *npieces)
{
    uint64_t total = 0;
    for (uint32_t k = 0; k < n; k++)
        total += files[k].len;
    uint8_t *space = calloc(total ? total : 1, 1);
    uint64_t o = 0;
    for (uint32_t k = 0; k < n; k++) {
        for (uint64_t x = 0; x < files[k].len && !files[k].pad; x++)
            space[o + x] = content_byte(k, x);
        o += files[k].len;
    }
    uint32_t np = (uint32_t)((total + P - 1) / P);
    uint8_t *h = malloc((size_t)np * 20 + 1);
    for (uint32_t p = 0; p < np; p++) {
        uint64_t s = (uint64_t)p * P, l = total - s < P ? total - s : P;
        SHA1(space + s, l, h + 20 * p);
    }
    bv *v = bb(h, (size_t)np * 20);
    free(h);
    free(space);
    *npieces = np;
    return v;
}

static bv *path_list(const char *path)
{
    bv *l = bl();
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *save = NULL, *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save))
        ladd(l, bs(c));
    return l;
}

static bv *v1_files(const tf *files, uint32_t n)
{
    bv *l = bl();
    for (uint32_t k = 0; k < n; k++) {
        bv *e = bd();
        dset(e, "length", bi((int64_t)files[k].len));
        dset(e, "path", path_list(files[k].path));
        if (files[k].pad) dset(e, "attr", bs("p"));
        ladd(l, e);
    }
    return l;
}

/* Adds file k of length len at path into the v2 tree, and its layer if any. */
static void tree_add(bv *tree, bv *layers, const char *path, uint32_t k, uint64_t len, uint64_t P)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    bv *dir = tree;
    char *save = NULL, *c = strtok_r(tmp, "/", &save);
    for (char *next; (next = strtok_r(NULL, "/", &save)); c = next) {
        bv *sub = dget(dir, c);
        if (!sub) dset(dir, c, sub = bd());
        dir = sub;
    }
    bv *props = bd();
    dset(props, "length", bi((int64_t)len));
    if (len > 0) {
        uint8_t root[32], *layer;
        uint32_t nl;
        v2_hashes(k, len, P, root, &layer, &nl);
        dset(props, "pieces root", bb(root, 32));
        if (layer) dsetk(layers, root, 32, bb(layer, (size_t)nl * 32));
        free(layer);
    }
    bv *node = bd();
    dset(node, "", props);
    dset(dir, c, node);
}

/* A torrent of version ver; single: files[0] is the only file, named `name`. */
static bv *make_torrent(unsigned ver, const char *name, uint64_t P, const tf *files, uint32_t n,
                        bool single)
{
    bv *root = bd(), *info = bd();
    dset(root, "info", info);
    dset(info, "name", bs(name));
    dset(info, "piece length", bi((int64_t)P));
    if (ver & SH_META_V1) {
        uint32_t np;
        dset(info, "pieces", v1_pieces(files, n, P, &np));
        if (single)
            dset(info, "length", bi((int64_t)files[0].len));
        else
            dset(info, "files", v1_files(files, n));
    }
    if (ver & SH_META_V2) {
        bv *tree = bd(), *layers = bd();
        dset(info, "meta version", bi(2));
        for (uint32_t k = 0; k < n; k++)
            if (!files[k].pad)
                tree_add(tree, layers, single ? name : files[k].path, k, files[k].len, P);
        dset(info, "file tree", tree);
        dset(root, "piece layers", layers);
    }
    dset(root, "announce", bs("http://127.0.0.1:6969/announce"));
    dset(root, "comment", bs("a comment"));
    dset(root, "created by", bs("test_metainfo"));
    dset(root, "creation date", bi(1700000000));
    return root;
}

static uint8_t *encode(const bv *v, size_t *len)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    benc(&b, v);
    assert_int_equal(b.err, 0);
    return sh_bbuf_take(&b, len);
}

static sh_metainfo *load_ok(const bv *root)
{
    size_t len;
    uint8_t *buf = encode(root, &len);
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {0};
    int rc = sh_metainfo_parse(buf, len, &mi, &ei);
    free(buf);
    if (rc) fail_msg("rejected: %d %s", rc, ei.msg);
    return mi;
}

/* root must be rejected with code and a message containing what; frees root. */
static void load_bad(bv *root, int code, const char *what)
{
    size_t len;
    uint8_t *buf = encode(root, &len);
    bfree(root);
    sh_metainfo *mi = (sh_metainfo *)0x1;
    sh_errinfo ei = {0};
    int rc = sh_metainfo_parse(buf, len, &mi, &ei);
    free(buf);
    if (rc != code) fail_msg("want %d (%s), got %d: %s", code, what, rc, ei.msg);
    assert_ptr_equal(mi, (sh_metainfo *)0x1);
    if (!strstr(ei.msg, what)) fail_msg("message \"%s\" lacks \"%s\"", ei.msg, what);
}

static void info_hashes(const bv *info, uint8_t h1[20], uint8_t h2[32])
{
    size_t len;
    uint8_t *buf = encode(info, &len);
    SHA1(buf, len, h1);
    SHA256(buf, len, h2);
    free(buf);
}

/* Every v2 piece: hash the piece's bytes ourselves and compare with what shoal says. */
static void check_v2_pieces(const sh_metainfo *mi, const tf *files, uint32_t n)
{
    for (uint32_t i = 0; i < mi->num_pieces; i++) {
        const uint8_t *h;
        uint32_t leaves_n, dlen;
        assert_int_equal(sh_metainfo_piece_v2(mi, i, &h, &leaves_n, &dlen), 0);
        uint32_t fi = sh_metainfo_file_at(mi, (uint64_t)i * mi->piece_length);
        const sh_file *f = &mi->files[fi];
        uint32_t k = 0; /* index of f in the test's list (pads skipped the same way) */
        for (uint32_t m = 0; m < n; m++)
            if (strcmp(files[m].path, f->path) == 0 || (mi->single_file && !files[m].pad)) k = m;
        uint64_t start = (uint64_t)i * mi->piece_length - f->offset;
        uint32_t nb = (dlen + BLK - 1) / BLK;
        uint8_t *lf = malloc((size_t)nb * 32 + 1), blk[BLK];
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t l = dlen - b * BLK < BLK ? dlen - b * BLK : BLK;
            for (uint32_t x = 0; x < l; x++)
                blk[x] = content_byte(k, start + (uint64_t)b * BLK + x);
            SHA256(blk, l, lf + 32 * b);
        }
        uint8_t r[32];
        root_of(lf, nb, leaves_n, ZERO, r);
        free(lf);
        assert_memory_equal(r, h, 32);
        assert_int_equal(dlen, f->length - start < mi->piece_length ? f->length - start
                                                                    : mi->piece_length);
    }
}

static void check_files(const sh_metainfo *mi, const tf *want, uint32_t n, const uint64_t *offsets)
{
    assert_int_equal(mi->num_files, n);
    for (uint32_t k = 0; k < n; k++) {
        assert_string_equal(mi->files[k].path, want[k].path);
        assert_int_equal(mi->files[k].length, want[k].len);
        assert_int_equal(mi->files[k].pad, want[k].pad);
        assert_int_equal(mi->files[k].offset, offsets[k]);
    }
}

/* --- happy torrents --------------------------------------------------------- */

static const tf SINGLE[] = {{"movie.bin", 100000, false}};
static const tf MULTI_V1[] = {{"a/one", 5000, false}, {"a/two", 0, false}, {"b", 40000, false}};
/* v2 order is tree order (sorted); lengths chosen to need pads after "a" and "c/d". */
static const tf MULTI_V2[] = {
    {"a", 20000, false}, {"c/d", 70000, false}, {"c/e", 0, false}, {"z", 100, false}};
static const tf HYBRID[] = {{"a", 20000, false},   {".pad/12768", 12768, true},
                            {"c/d", 70000, false}, {".pad/28304", 28304, true},
                            {"c/e", 0, false},     {"z", 100, false}};

static void test_v1_single(void **st)
{
    (void)st;
    bv *root = make_torrent(SH_META_V1, "movie.bin", 32768, SINGLE, 1, true);
    bv *al = bl(), *t0 = bl(), *t1 = bl();
    ladd(t0, bs("http://t0/a"));
    ladd(t0, bs("http://t0/b"));
    ladd(t1, bs("udp://t1/"));
    ladd(al, t0);
    ladd(al, bl()); /* an empty tier is skipped */
    ladd(al, t1);
    dset(root, "announce-list", al);
    dset(root, "url-list", bs("http://ws/"));
    dset(dget(root, "info"), "private", bi(1));
    uint8_t h1[20], h2[32];
    info_hashes(dget(root, "info"), h1, h2);
    sh_metainfo *mi = load_ok(root);
    bfree(root);

    assert_int_equal(mi->version, SH_META_V1);
    assert_memory_equal(mi->info_hash_v1, h1, 20);
    assert_string_equal(mi->name, "movie.bin");
    assert_int_equal(mi->piece_length, 32768);
    assert_int_equal(mi->num_pieces, 4);
    assert_int_equal(mi->total_size, 100000);
    assert_int_equal(mi->content_size, 100000);
    assert_true(mi->single_file);
    assert_true(mi->is_private);
    uint64_t off[] = {0};
    check_files(mi, SINGLE, 1, off);
    uint32_t np;
    bv *pieces = v1_pieces(SINGLE, 1, 32768, &np);
    assert_int_equal(np, 4);
    assert_memory_equal(mi->pieces_v1, pieces->s, 80);
    bfree(pieces);
    /* announce-list wins over announce; the empty tier is gone. */
    assert_int_equal(mi->num_tiers, 2);
    assert_int_equal(mi->tiers[0].count, 2);
    assert_string_equal(mi->tiers[0].urls[1], "http://t0/b");
    assert_string_equal(mi->tiers[1].urls[0], "udp://t1/");
    assert_int_equal(mi->num_web_seeds, 1);
    assert_string_equal(mi->web_seeds[0], "http://ws/");
    assert_string_equal(mi->comment, "a comment");
    assert_string_equal(mi->created_by, "test_metainfo");
    assert_int_equal(mi->creation_date, 1700000000);
    assert_false(mi->has_piece_layers);
    assert_ptr_equal(sh_metainfo_wire_hash(mi), mi->info_hash_v1);
    assert_int_equal(sh_metainfo_piece_size(mi, 0), 32768);
    assert_int_equal(sh_metainfo_piece_size(mi, 3), 100000 - 3 * 32768);
    assert_int_equal(sh_metainfo_piece_size(mi, 4), 0);
    assert_int_equal(sh_metainfo_file_at(mi, 99999), 0);
    assert_int_equal(sh_metainfo_file_at(mi, 100000), 1);
    const uint8_t *h;
    assert_int_equal(sh_metainfo_piece_v2(mi, 0, &h, NULL, NULL), SH_ENOTFOUND);
    assert_int_equal(sh_metainfo_piece_v2(mi, 4, &h, NULL, NULL), SH_ERANGE);

    char hex[41], want[256];
    for (int k = 0; k < 20; k++)
        sprintf(hex + 2 * k, "%02x", h1[k]);
    snprintf(want, sizeof want,
             "magnet:?xt=urn:btih:%s&dn=movie.bin&tr=http%%3A%%2F%%2Ft0%%2Fa"
             "&tr=http%%3A%%2F%%2Ft0%%2Fb&tr=udp%%3A%%2F%%2Ft1%%2F",
             hex);
    char *mag = sh_metainfo_magnet(mi);
    assert_string_equal(mag, want);
    free(mag);
    sh_metainfo_free(mi);
}

static void test_v1_multi(void **st)
{
    (void)st;
    bv *root = make_torrent(SH_META_V1, "dir", 16384, MULTI_V1, 3, false);
    dset(root, "url-list", ladd(ladd(ladd(bl(), bs("http://w1/")), bs("")), bs("http://w2/")));
    dset(root, "unknown key", bi(5));
    dset(dget(root, "info"), "private", bi(0));
    dset(dget(root, "info"), "x-unknown", bl());
    uint8_t h1[20], h2[32];
    info_hashes(dget(root, "info"), h1, h2);
    sh_metainfo *mi = load_ok(root);
    bfree(root);
    assert_int_equal(mi->version, SH_META_V1);
    assert_memory_equal(mi->info_hash_v1, h1, 20);
    assert_false(mi->single_file);
    assert_false(mi->is_private);
    uint64_t off[] = {0, 5000, 5000};
    check_files(mi, MULTI_V1, 3, off);
    assert_int_equal(mi->total_size, 45000);
    assert_int_equal(mi->num_pieces, 3);
    /* Offset 5000 is in "b": the empty "a/two" starting there holds nothing. */
    assert_int_equal(sh_metainfo_file_at(mi, 0), 0);
    assert_int_equal(sh_metainfo_file_at(mi, 4999), 0);
    assert_int_equal(sh_metainfo_file_at(mi, 5000), 2);
    assert_int_equal(sh_metainfo_file_at(mi, 44999), 2);
    assert_int_equal(mi->num_tiers, 1); /* the single announce */
    assert_string_equal(mi->tiers[0].urls[0], "http://127.0.0.1:6969/announce");
    assert_int_equal(mi->num_web_seeds, 2);
    assert_string_equal(mi->web_seeds[1], "http://w2/");
    /* The raw info is kept byte for byte. */
    size_t ilen;
    bv *again = make_torrent(SH_META_V1, "dir", 16384, MULTI_V1, 3, false);
    dset(dget(again, "info"), "private", bi(0));
    dset(dget(again, "info"), "x-unknown", bl());
    uint8_t *ibuf = encode(dget(again, "info"), &ilen);
    assert_int_equal(mi->info_len, ilen);
    assert_memory_equal(mi->info, ibuf, ilen);
    free(ibuf);
    bfree(again);
    sh_metainfo_free(mi);
}

static void test_v2_single(void **st)
{
    (void)st;
    bv *root = make_torrent(SH_META_V2, "movie.bin", 32768, SINGLE, 1, true);
    uint8_t h1[20], h2[32];
    info_hashes(dget(root, "info"), h1, h2);
    sh_metainfo *mi = load_ok(root);
    bfree(root);
    assert_int_equal(mi->version, SH_META_V2);
    assert_memory_equal(mi->info_hash_v2, h2, 32);
    assert_ptr_equal(sh_metainfo_wire_hash(mi), mi->info_hash_v2);
    assert_true(mi->single_file);
    assert_null(mi->pieces_v1);
    assert_int_equal(mi->num_pieces, 4);
    /* The last file is padded to the piece end, as libtorrent lays v2 out. */
    static const tf files[] = {{"movie.bin", 100000, false}, {".pad/31072", 31072, true}};
    uint64_t off[] = {0, 100000};
    check_files(mi, files, 2, off);
    assert_int_equal(mi->total_size, 131072);
    assert_int_equal(sh_metainfo_piece_size(mi, 3), 32768);
    assert_true(mi->files[0].has_root);
    assert_true(mi->has_piece_layers);
    assert_int_equal(mi->files[0].layer_count, 4);
    check_v2_pieces(mi, SINGLE, 1);

    char hex[65], want[256];
    for (int k = 0; k < 32; k++)
        sprintf(hex + 2 * k, "%02x", h2[k]);
    snprintf(
        want, sizeof want,
        "magnet:?xt=urn:btmh:1220%s&dn=movie.bin&tr=http%%3A%%2F%%2F127.0.0.1%%3A6969%%2Fannounce",
        hex);
    char *mag = sh_metainfo_magnet(mi);
    assert_string_equal(mag, want);
    free(mag);
    sh_metainfo_free(mi);
}

static void test_v2_multi_pads(void **st)
{
    (void)st;
    bv *root = make_torrent(SH_META_V2, "dir", 32768, MULTI_V2, 4, false);
    uint8_t h1[20], h2[32];
    info_hashes(dget(root, "info"), h1, h2);
    sh_metainfo *mi = load_ok(root);
    assert_int_equal(mi->version, SH_META_V2);
    assert_memory_equal(mi->info_hash_v2, h2, 32);
    assert_false(mi->single_file);
    /* Implicit pads after "a", "c/d" and the last file "z"; the empty "c/e" sits after a pad. */
    static const tf want[] = {{"a", 20000, false},   {".pad/12768", 12768, true},
                              {"c/d", 70000, false}, {".pad/28304", 28304, true},
                              {"c/e", 0, false},     {"z", 100, false},
                              {".pad/32668", 32668, true}};
    uint64_t off[] = {0, 20000, 32768, 102768, 131072, 131072, 131172};
    check_files(mi, want, 7, off);
    assert_int_equal(mi->total_size, 163840);
    assert_int_equal(mi->content_size, 90100);
    assert_int_equal(mi->num_pieces, 5);
    assert_int_equal(sh_metainfo_piece_size(mi, 4), 32768);
    assert_int_equal(sh_metainfo_file_at(mi, 20000), 1);
    assert_int_equal(sh_metainfo_file_at(mi, 131072), 5);
    assert_true(mi->has_piece_layers);
    assert_non_null(mi->files[2].layer);
    assert_int_equal(mi->files[2].layer_count, 3);
    assert_null(mi->files[0].layer); /* not larger than a piece */
    assert_false(mi->files[4].has_root);
    check_v2_pieces(mi, MULTI_V2, 4);
    uint32_t leaves_n, dlen;
    const uint8_t *h;
    assert_int_equal(sh_metainfo_piece_v2(mi, 0, &h, &leaves_n, &dlen), 0);
    assert_int_equal(leaves_n, 2); /* 20000 bytes: 2 blocks */
    assert_int_equal(dlen, 20000);
    assert_ptr_equal(h, mi->files[0].pieces_root);
    assert_int_equal(sh_metainfo_piece_v2(mi, 3, &h, &leaves_n, &dlen), 0);
    assert_int_equal(leaves_n, 2); /* P / 16 KiB */
    assert_int_equal(dlen, 70000 - 65536);
    sh_metainfo_free(mi);

    /* Without piece layers: accepted, marked, and the big file's pieces unknown. */
    dset(root, "piece layers", NULL);
    mi = load_ok(root);
    assert_false(mi->has_piece_layers);
    assert_null(mi->files[2].layer);
    assert_int_equal(sh_metainfo_piece_v2(mi, 1, &h, &leaves_n, &dlen), SH_ENOTFOUND);
    assert_int_equal(sh_metainfo_piece_v2(mi, 0, &h, &leaves_n, &dlen), 0);
    sh_metainfo_free(mi);
    bfree(root);
}

static void test_hybrid(void **st)
{
    (void)st;
    bv *root = make_torrent(SH_META_HYBRID, "dir", 32768, HYBRID, 6, false);
    uint8_t h1[20], h2[32];
    info_hashes(dget(root, "info"), h1, h2);
    sh_metainfo *mi = load_ok(root);
    assert_int_equal(mi->version, SH_META_HYBRID);
    assert_memory_equal(mi->info_hash_v1, h1, 20);
    assert_memory_equal(mi->info_hash_v2, h2, 32);
    assert_ptr_equal(sh_metainfo_wire_hash(mi), mi->info_hash_v1);
    uint64_t off[] = {0, 20000, 32768, 102768, 131072, 131072};
    check_files(mi, HYBRID, 6, off);
    assert_int_equal(mi->num_pieces, 5);
    assert_non_null(mi->pieces_v1);
    assert_true(mi->files[2].has_root);
    assert_true(mi->has_piece_layers);
    check_v2_pieces(mi, HYBRID, 6);
    char *mag = sh_metainfo_magnet(mi);
    char hex1[41], hex2[65], want[300];
    for (int k = 0; k < 20; k++)
        sprintf(hex1 + 2 * k, "%02x", h1[k]);
    for (int k = 0; k < 32; k++)
        sprintf(hex2 + 2 * k, "%02x", h2[k]);
    snprintf(want, sizeof want, "magnet:?xt=urn:btih:%s&xt=urn:btmh:1220%s&dn=dir&tr=", hex1, hex2);
    assert_memory_equal(mag, want, strlen(want));
    free(mag);
    sh_metainfo_free(mi);
    bfree(root);

    /* A tail pad up to the last piece's end, as libtorrent writes, is accepted. */
    tf tail[7];
    memcpy(tail, HYBRID, sizeof HYBRID);
    tail[6] = (tf){".pad/32668", 32668, true};
    root = make_torrent(SH_META_HYBRID, "dir", 32768, tail, 7, false);
    mi = load_ok(root);
    assert_int_equal(mi->num_pieces, 5);
    assert_int_equal(mi->total_size, 5 * 32768);
    assert_int_equal(sh_metainfo_piece_size(mi, 4), 32768);
    uint32_t dlen;
    const uint8_t *h;
    assert_int_equal(sh_metainfo_piece_v2(mi, 4, &h, NULL, &dlen), 0);
    assert_int_equal(dlen, 100);
    sh_metainfo_free(mi);
    bfree(root);
}

static void test_parse_info_and_set_layer(void **st)
{
    (void)st;
    bv *root = make_torrent(SH_META_V2, "dir", 32768, MULTI_V2, 4, false);
    size_t ilen;
    uint8_t *ibuf = encode(dget(root, "info"), &ilen);
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {0};
    assert_int_equal(sh_metainfo_parse_info(ibuf, ilen, &mi, &ei), 0);
    uint8_t h2[32];
    SHA256(ibuf, ilen, h2);
    assert_memory_equal(mi->info_hash_v2, h2, 32);
    assert_false(mi->has_piece_layers);
    assert_int_equal(mi->num_tiers, 0);
    assert_null(mi->comment);

    /* The layer of "c/d" (file 2), from the independent implementation. */
    uint8_t r[32], *layer;
    uint32_t nl;
    v2_hashes(1, 70000, 32768, r, &layer, &nl);
    assert_int_equal(nl, 3);
    assert_memory_equal(r, mi->files[2].pieces_root, 32);
    uint8_t bad[96];
    memcpy(bad, layer, 96);
    bad[40] ^= 1;
    assert_int_equal(sh_metainfo_set_layer(mi, 2, bad, 3), SH_EHASH);
    assert_int_equal(sh_metainfo_set_layer(mi, 2, layer, 2), SH_EHASH);
    assert_int_equal(sh_metainfo_set_layer(mi, 0, layer, 1), SH_EINVAL); /* one piece: no layer */
    assert_int_equal(sh_metainfo_set_layer(mi, 1, layer, 1), SH_EINVAL); /* a pad */
    assert_int_equal(sh_metainfo_set_layer(mi, 99, layer, 3), SH_ERANGE);
    assert_false(mi->has_piece_layers);
    assert_null(mi->files[2].layer);
    assert_int_equal(sh_metainfo_set_layer(mi, 2, layer, 3), 0);
    assert_true(mi->has_piece_layers);
    assert_memory_equal(mi->files[2].layer, layer, 96);
    check_v2_pieces(mi, MULTI_V2, 4);
    free(layer);
    sh_metainfo_free(mi);

    /* A bare info must be the whole input and a dictionary. */
    assert_int_equal(sh_metainfo_parse_info(ibuf, ilen - 1, &mi, &ei), SH_EBENCODE);
    assert_int_equal(sh_metainfo_parse_info((const uint8_t *)"le", 2, &mi, &ei), SH_EMETAINFO);
    assert_non_null(strstr(ei.msg, "info is not a dictionary"));
    free(ibuf);
    bfree(root);
}

/* --- hostile torrents: one per rule ------------------------------------------ */

static bv *good_v1(void)
{
    return make_torrent(SH_META_V1, "dir", 16384, MULTI_V1, 3, false);
}

static bv *good_v2(void)
{
    return make_torrent(SH_META_V2, "dir", 32768, MULTI_V2, 4, false);
}

static bv *good_hybrid(void)
{
    return make_torrent(SH_META_HYBRID, "dir", 32768, HYBRID, 6, false);
}

#define INFO(r) dget((r), "info")

/* Replaces component j of files[i].path of a v1 torrent with bytes p[0..n). */
static bv *v1_with_component(uint32_t i, uint32_t j, const void *p, size_t n)
{
    bv *r = good_v1();
    bv *path = dget(dget(INFO(r), "files")->items[i], "path");
    bfree(path->items[j]);
    path->items[j] = bb(p, n);
    return r;
}

static void test_bad_structure(void **st)
{
    (void)st;
    load_bad(ladd(bl(), bi(1)), SH_EMETAINFO, "torrent is not a dictionary");
    bv *r = good_v1();
    dset(r, "info", NULL);
    load_bad(r, SH_EMETAINFO, "info is missing");
    r = good_v1();
    dset(r, "info", bs("x"));
    load_bad(r, SH_EMETAINFO, "info is not a dictionary");
    r = good_v1();
    dset(INFO(r), "name", NULL);
    load_bad(r, SH_EMETAINFO, "info.name is missing");
    r = good_v1();
    dset(INFO(r), "name", bi(3));
    load_bad(r, SH_EMETAINFO, "info.name is not a string");
    r = good_v1();
    dset(INFO(r), "pieces", NULL);
    load_bad(r, SH_EMETAINFO, "info.pieces is missing");
    r = good_v1();
    dset(INFO(r), "pieces", bi(0));
    load_bad(r, SH_EMETAINFO, "info.pieces is not a string");
    r = good_v1();
    dset(INFO(r), "length", bi(10));
    load_bad(r, SH_EMETAINFO, "info has both length and files");
    r = good_v1();
    dset(INFO(r), "files", NULL);
    load_bad(r, SH_EMETAINFO, "info has neither length nor files");
    r = good_v1();
    dset(INFO(r), "files", bl());
    load_bad(r, SH_EMETAINFO, "info.files is empty");
    r = good_v1();
    dset(INFO(r), "files", bd());
    load_bad(r, SH_EMETAINFO, "info.files is not a list");
    r = good_v1();
    bv *files = dget(INFO(r), "files");
    bfree(files->items[1]);
    files->items[1] = bs("x");
    load_bad(r, SH_EMETAINFO, "info.files[1] is not a dictionary");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "path", NULL);
    load_bad(r, SH_EMETAINFO, "info.files[2].path is missing");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "path", bs("b"));
    load_bad(r, SH_EMETAINFO, "info.files[2].path is not a list");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "attr", bi(1));
    load_bad(r, SH_EMETAINFO, "info.files[2].attr is not a string");
    /* Malformed bencode surfaces as such. */
    size_t len;
    r = good_v1();
    uint8_t *buf = encode(r, &len);
    bfree(r);
    buf[len - 1] = 'x';
    sh_metainfo *mi;
    sh_errinfo ei;
    assert_int_equal(sh_metainfo_parse(buf, len, &mi, &ei), SH_EBENCODE);
    free(buf);
    const char unsorted[] = "d4:infod4:name1:a6:lengthi1eee";
    assert_int_equal(sh_metainfo_parse((const uint8_t *)unsorted, strlen(unsorted), &mi, &ei),
                     SH_EBENCODE);
}

static void test_bad_lengths(void **st)
{
    (void)st;
    bv *r = good_v1();
    dset(INFO(r), "piece length", bi(0));
    load_bad(r, SH_EMETAINFO, "info.piece length is 0");
    r = good_v1();
    dset(INFO(r), "piece length", bi(-16384));
    load_bad(r, SH_EMETAINFO, "info.piece length is negative");
    r = good_v1();
    dset(INFO(r), "piece length", NULL);
    load_bad(r, SH_EMETAINFO, "info.piece length is missing");
    r = good_v1();
    dset(INFO(r), "piece length", bs("16384"));
    load_bad(r, SH_EMETAINFO, "info.piece length is not an integer");
    r = good_v1();
    dset(INFO(r), "piece length", bi((int64_t)SH_META_MAX_PIECE_LENGTH * 2));
    load_bad(r, SH_ELIMIT, "info.piece length is 536870912, more than 268435456");
    r = good_v2();
    dset(INFO(r), "piece length", bi(49152));
    load_bad(r, SH_EMETAINFO, "info.piece length is 49152, v2 needs a power of two");
    r = good_v2();
    dset(INFO(r), "piece length", bi(8192));
    load_bad(r, SH_EMETAINFO, "info.piece length is 8192");

    /* Pieces must be exactly 20 bytes per piece. */
    r = good_v1();
    dset(INFO(r), "pieces", bb("0123456789012345678901234567890123456", 37));
    load_bad(r, SH_EMETAINFO, "info.pieces has 37 bytes, expected 60");
    r = make_torrent(SH_META_V1, "movie.bin", 32768, SINGLE, 1, true);
    uint8_t sixty[100] = {0};
    dset(INFO(r), "pieces", bb(sixty, 100));
    load_bad(r, SH_EMETAINFO, "info.pieces has 100 bytes, expected 80");

    /* File lengths: negative, missing, huge, and sums that would wrap. */
    r = good_v1();
    dset(dget(INFO(r), "files")->items[0], "length", bi(-1));
    load_bad(r, SH_EMETAINFO, "info.files[0].length is negative");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[0], "length", NULL);
    load_bad(r, SH_EMETAINFO, "info.files[0].length is missing");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[0], "length", bs("1"));
    load_bad(r, SH_EMETAINFO, "info.files[0].length is not an integer");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[0], "length", bi(INT64_MAX));
    load_bad(r, SH_ELIMIT, "info.files[0].length is 9223372036854775807");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[0], "length", bi((int64_t)1 << 62));
    load_bad(r, SH_ELIMIT, "info.files[0].length");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[0], "length", bi((int64_t)1 << 51));
    dset(dget(INFO(r), "files")->items[2], "length", bi((int64_t)1 << 52));
    load_bad(r, SH_ELIMIT, "total size of the files is more than 4503599627370496");
    r = make_torrent(SH_META_V1, "movie.bin", 32768, SINGLE, 1, true);
    dset(INFO(r), "length", bi(-5));
    load_bad(r, SH_EMETAINFO, "info.length is negative");
    r = make_torrent(SH_META_V1, "movie.bin", 32768, SINGLE, 1, true);
    dset(INFO(r), "length", bi(0));
    load_bad(r, SH_EMETAINFO, "total size is 0");
    /* Too many pieces is caught before "pieces" is even looked at. */
    r = make_torrent(SH_META_V1, "movie.bin", 32768, SINGLE, 1, true);
    dset(INFO(r), "piece length", bi(1));
    dset(INFO(r), "length", bi((int64_t)SH_META_MAX_PIECES + 1));
    load_bad(r, SH_ELIMIT, "torrent has 16777217 pieces, more than 16777216");
    /* A v2 length near 2^63 too. */
    r = good_v2();
    dset(dget(dget(dget(INFO(r), "file tree"), "z"), ""), "length", bi(INT64_MAX - 5));
    load_bad(r, SH_ELIMIT, "info.file tree \"z\".length");
}

static void test_bad_paths(void **st)
{
    (void)st;
    load_bad(v1_with_component(0, 1, "..", 2), SH_EPATH, "info.files[0].path[1] is \"..\"");
    load_bad(v1_with_component(0, 0, ".", 1), SH_EPATH, "info.files[0].path[0] is \".\"");
    load_bad(v1_with_component(2, 0, "", 0), SH_EPATH, "info.files[2].path[0] is empty");
    load_bad(v1_with_component(1, 1, "x/y", 3), SH_EPATH, "info.files[1].path[1] contains '/'");
    load_bad(v1_with_component(1, 1, "x\0y", 3), SH_EPATH, "info.files[1].path[1] contains NUL");
    char longc[300];
    memset(longc, 'n', sizeof longc);
    load_bad(v1_with_component(1, 1, longc, 256), SH_EPATH,
             "info.files[1].path[1] has 256 bytes, more than 255");
    bv *r = v1_with_component(1, 1, longc, 255);
    sh_metainfo *mi = load_ok(r);
    bfree(r);
    sh_metainfo_free(mi);

    r = good_v1();
    bv *path = dget(dget(INFO(r), "files")->items[2], "path");
    for (int k = 0; k < 64; k++)
        ladd(path, bs("d"));
    load_bad(r, SH_EPATH, "info.files[2].path has 65 components, more than 64");
    r = good_v1();
    path = dget(dget(INFO(r), "files")->items[2], "path");
    for (int k = 0; k < 17; k++)
        ladd(path, bb(longc, 250));
    load_bad(r, SH_EPATH, "info.files[2].path has 4268 bytes, more than 4096");
    r = good_v1();
    ladd(dget(dget(INFO(r), "files")->items[2], "path"), bi(1));
    load_bad(r, SH_EMETAINFO, "info.files[2].path[1] is not a string");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "path", bl());
    load_bad(r, SH_EPATH, "info.files[2].path is empty");

    /* Two files with one path; a file that is also a directory. */
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "path", path_list("a/one"));
    load_bad(r, SH_EPATH, "duplicate file path \"a/one\"");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "path", path_list("a/one/deeper"));
    load_bad(r, SH_EPATH, "file \"a/one\" is also a directory");
    r = good_v1();
    dset(dget(INFO(r), "files")->items[2], "path", path_list("a"));
    load_bad(r, SH_EPATH, "file \"a\" is also a directory");
    /* ... but "a" beside "a-b" and "a/b" is no conflict between "a-b" and "a/b". */
    static const tf ok_names[] = {{"a-b", 1, false}, {"a/b", 1, false}, {"a.c", 1, false}};
    r = make_torrent(SH_META_V1, "dir", 16384, ok_names, 3, false);
    mi = load_ok(r);
    bfree(r);
    sh_metainfo_free(mi);

    /* The name is one safe component. */
    const char *names[][2] = {{"..", "info.name is \"..\""},
                              {"", "info.name is empty"},
                              {"a/b", "info.name contains '/'"}};
    for (int k = 0; k < 3; k++) {
        r = good_v1();
        dset(INFO(r), "name", bs(names[k][0]));
        load_bad(r, SH_EPATH, names[k][1]);
    }
    r = good_v1();
    dset(INFO(r), "name", bb("a\0b", 3));
    load_bad(r, SH_EPATH, "info.name contains NUL");
}

/* {"": {"length": 0}}: an empty file's node in a v2 tree. */
static bv *empty_file_node(void)
{
    bv *props = bd(), *node = bd();
    dset(props, "length", bi(0));
    dset(node, "", props);
    return node;
}

static void test_bad_v2(void **st)
{
    (void)st;
    bv *r = good_v2();
    dset(INFO(r), "meta version", bi(3));
    load_bad(r, SH_EMETAINFO, "info.meta version is 3, expected 2");
    r = good_v2();
    dset(INFO(r), "meta version", bs("2"));
    load_bad(r, SH_EMETAINFO, "info.meta version is not an integer");
    r = good_v2();
    dset(INFO(r), "file tree", NULL);
    load_bad(r, SH_EMETAINFO, "info.file tree is missing");
    r = good_v2();
    dset(INFO(r), "file tree", bl());
    load_bad(r, SH_EMETAINFO, "info.file tree is not a dictionary");
    r = good_v2();
    dset(INFO(r), "file tree", bd());
    load_bad(r, SH_EMETAINFO, "info.file tree has no files");

    bv *tree;
    r = good_v2();
    tree = dget(INFO(r), "file tree");
    dset(dget(tree, "c"), "..", empty_file_node());
    load_bad(r, SH_EPATH, "info.file tree \"c/..\" is \"..\"");
    r = good_v2();
    dset(dget(INFO(r), "file tree"), "", bd());
    load_bad(r, SH_EPATH, "info.file tree \"\" is empty");
    r = good_v2();
    dset(dget(INFO(r), "file tree"), "q", bi(1));
    load_bad(r, SH_EMETAINFO, "info.file tree \"q\" is not a dictionary");
    r = good_v2();
    dset(dget(dget(INFO(r), "file tree"), "z"), "", bi(1));
    load_bad(r, SH_EMETAINFO, "info.file tree \"z\"[\"\"] is not a dictionary");
    r = good_v2();
    dset(dget(dget(INFO(r), "file tree"), "z"), "more", bd());
    load_bad(r, SH_EPATH, "info.file tree \"z\" is both a file and a directory");
    r = good_v2();
    dset(dget(dget(dget(INFO(r), "file tree"), "z"), ""), "pieces root", NULL);
    load_bad(r, SH_EMETAINFO, "info.file tree \"z\".pieces root is missing");
    r = good_v2();
    dset(dget(dget(dget(INFO(r), "file tree"), "z"), ""), "pieces root", bb(ZERO, 31));
    load_bad(r, SH_EMETAINFO, "info.file tree \"z\".pieces root is not a 32-byte string");
    r = good_v2();
    dset(dget(dget(dget(INFO(r), "file tree"), "z"), ""), "attr", bs("p"));
    load_bad(r, SH_EMETAINFO, "info.file tree \"z\" is a pad file");
    r = good_v2();
    dset(dget(INFO(r), "file tree"), "x/y", bd());
    load_bad(r, SH_EPATH, "info.file tree \"x/y\" contains '/'");

    /* 65 nested directories: too deep, rejected without recursion trouble. */
    r = good_v2();
    bv *d = dget(INFO(r), "file tree");
    for (int k = 0; k < 65; k++) {
        bv *sub = bd();
        dset(d, "d", sub);
        d = sub;
    }
    dset(d, "f", bd());
    load_bad(r, SH_EPATH, "is deeper than 64 components");
    /* 64 components exactly are fine. */
    r = good_v2();
    d = dget(INFO(r), "file tree");
    for (int k = 0; k < 63; k++) {
        bv *sub = bd();
        dset(d, "d", sub);
        d = sub;
    }
    dset(d, "f", empty_file_node());
    sh_metainfo *mi = load_ok(r);
    bfree(r);
    /* Tree order: a, (pad), c/d, (pad), c/e, d/d/.../f, z, (pad). */
    assert_int_equal(strlen(mi->files[mi->num_files - 3].path), 63 * 2 + 1);
    assert_string_equal(mi->files[mi->num_files - 3].path + 63 * 2, "f");
    sh_metainfo_free(mi);
}

static void test_bad_layers(void **st)
{
    (void)st;
    bv *r = good_v2();
    dset(r, "piece layers", bl());
    load_bad(r, SH_EMETAINFO, "piece layers is not a dictionary");
    r = good_v2();
    bv *pl = dget(r, "piece layers");
    assert_int_equal(pl->n, 1);
    pl->items[0]->s[5] ^= 1;
    load_bad(r, SH_EMETAINFO, "(file \"c/d\") does not hash to the pieces root");
    r = good_v2();
    pl = dget(r, "piece layers");
    pl->items[0]->slen -= 32;
    load_bad(r, SH_EMETAINFO, "(file \"c/d\") has 64 bytes, expected 96");
    r = good_v2();
    pl = dget(r, "piece layers");
    bfree(pl->items[0]);
    pl->items[0] = bi(0);
    load_bad(r, SH_EMETAINFO, "(file \"c/d\") is not a string");
    r = good_v2();
    dsetk(dget(r, "piece layers"), "short", 5, bs(""));
    load_bad(r, SH_EMETAINFO, "piece layers has a key of 5 bytes, expected 32");
    /* A layer for a root nobody has is ignored, like any unknown key. */
    r = good_v2();
    uint8_t other[32];
    memset(other, 0xee, 32);
    dsetk(dget(r, "piece layers"), other, 32, bs("junk"));
    sh_metainfo *mi = load_ok(r);
    bfree(r);
    assert_true(mi->has_piece_layers);
    sh_metainfo_free(mi);
}

static void test_bad_hybrid(void **st)
{
    (void)st;
    /* v1 without the pad after "a": "c/d" is not where v2 puts it. */
    static const tf nopad[] = {{"a", 20000, false},
                               {"c/d", 70000, false},
                               {".pad/28304", 28304, true},
                               {"c/e", 0, false},
                               {"z", 100, false}};
    bv *r = make_torrent(SH_META_HYBRID, "dir", 32768, nopad, 5, false);
    load_bad(r, SH_EMETAINFO, "hybrid: info.files[1] (\"c/d\") does not start where the v2 layout");

    r = good_hybrid();
    dset(dget(INFO(r), "files")->items[5], "path", path_list("y"));
    load_bad(r, SH_EMETAINFO, "hybrid: info.files[5] (\"y\") differs");
    r = good_hybrid();
    dset(dget(INFO(r), "files")->items[5], "length", bi(99));
    load_bad(r, SH_EMETAINFO, "hybrid: info.files[5] (\"z\") has a different length");
    r = good_hybrid();
    dset(dget(INFO(r), "files")->items[1], "attr", NULL); /* the pad becomes a real file */
    load_bad(r, SH_EMETAINFO, "hybrid: info.files[1] (\".pad/12768\")");
    r = good_hybrid();
    dset(dget(INFO(r), "file tree"), "zz", empty_file_node());
    load_bad(r, SH_EMETAINFO, "hybrid: info.file tree has files not in info.files");
    r = good_hybrid();
    bv *extra = bd();
    dset(extra, "length", bi(0));
    dset(extra, "path", path_list("zzz"));
    ladd(dget(INFO(r), "files"), extra);
    load_bad(r, SH_EMETAINFO, "hybrid: info.files[6] (\"zzz\") is not in info.file tree");

    /* A tail pad longer than the last piece adds a piece v2 does not have. */
    tf tail[7];
    memcpy(tail, HYBRID, sizeof HYBRID);
    tail[6] = (tf){".pad/65436", 32768 + 32668, true};
    r = make_torrent(SH_META_HYBRID, "dir", 32768, tail, 7, false);
    load_bad(r, SH_EMETAINFO, "hybrid: info.files spans 6 pieces, info.file tree 5");

    /* v1 says one file named "other", the tree holds "movie.bin": not one file of that name. */
    r = make_torrent(SH_META_HYBRID, "movie.bin", 32768, SINGLE, 1, true);
    dset(INFO(r), "name", bs("other"));
    load_bad(r, SH_EMETAINFO,
             "hybrid: info.length describes a single file, info.file tree does not");
}

static void test_bad_trackers(void **st)
{
    (void)st;
    bv *r = good_v1();
    dset(r, "announce-list", bs("x"));
    load_bad(r, SH_EMETAINFO, "announce-list is not a list");
    r = good_v1();
    dset(r, "announce-list", ladd(bl(), bs("x")));
    load_bad(r, SH_EMETAINFO, "announce-list[0] is not a list");
    r = good_v1();
    dset(r, "announce-list", ladd(bl(), ladd(ladd(bl(), bs("http://a/")), bi(7))));
    load_bad(r, SH_EMETAINFO, "announce-list[0][1] is not a string");
    r = good_v1();
    dset(r, "announce-list", ladd(bl(), ladd(bl(), bb("http://a\0/", 10))));
    load_bad(r, SH_EMETAINFO, "announce-list[0][0] contains NUL");
    r = good_v1();
    dset(r, "announce", bi(1));
    load_bad(r, SH_EMETAINFO, "announce is not a string");
    r = good_v1();
    dset(r, "url-list", bi(1));
    load_bad(r, SH_EMETAINFO, "url-list is neither a string nor a list");
    r = good_v1();
    dset(r, "url-list", ladd(bl(), bl()));
    load_bad(r, SH_EMETAINFO, "url-list[0] is not a string");
    r = good_v1();
    char *huge = calloc(9000, 1);
    memset(huge, 'u', 8999);
    dset(r, "url-list", bs(huge));
    free(huge);
    load_bad(r, SH_ELIMIT, "url-list has 8999 bytes, more than 8192");
    r = good_v1();
    dset(r, "comment", bi(1));
    load_bad(r, SH_EMETAINFO, "comment is not a string");
    r = good_v1();
    dset(r, "created by", bl());
    load_bad(r, SH_EMETAINFO, "created by is not a string");
    r = good_v1();
    dset(r, "creation date", bs("today"));
    load_bad(r, SH_EMETAINFO, "creation date is not an integer");
    r = good_v1();
    dset(INFO(r), "private", bs("1"));
    load_bad(r, SH_EMETAINFO, "info.private is not an integer");

    /* An announce-list with only empty tiers falls back to announce. */
    r = good_v1();
    dset(r, "announce-list", ladd(ladd(bl(), bl()), ladd(bl(), bs(""))));
    sh_metainfo *mi = load_ok(r);
    bfree(r);
    assert_int_equal(mi->num_tiers, 1);
    assert_string_equal(mi->tiers[0].urls[0], "http://127.0.0.1:6969/announce");
    sh_metainfo_free(mi);
    /* No trackers at all is fine (DHT, magnets, fleets with a fixed tracker). */
    r = good_v1();
    dset(r, "announce", NULL);
    mi = load_ok(r);
    bfree(r);
    assert_int_equal(mi->num_tiers, 0);
    char *mag = sh_metainfo_magnet(mi);
    assert_null(strstr(mag, "&tr="));
    free(mag);
    sh_metainfo_free(mi);
}

static void test_size_limits(void **st)
{
    (void)st;
    size_t len = (size_t)SH_META_MAX_TORRENT + 1;
    uint8_t *big = malloc(len);
    memset(big, 'x', len);
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {0};
    assert_int_equal(sh_metainfo_parse(big, len, &mi, &ei), SH_ELIMIT);
    assert_non_null(strstr(ei.msg, "torrent is 67108865 bytes, more than 67108864"));
    assert_int_equal(sh_metainfo_parse_info(big, len, &mi, &ei), SH_ELIMIT);
    free(big);
    assert_int_equal(sh_metainfo_parse(NULL, 1, &mi, &ei), SH_EINVAL);
    assert_int_equal(sh_metainfo_parse((const uint8_t *)"de", 2, NULL, &ei), SH_EINVAL);
    assert_int_equal(sh_metainfo_parse((const uint8_t *)"", 0, &mi, &ei), SH_EBENCODE);
    sh_metainfo_free(NULL);
}

/* Every proper prefix and every single-byte change of a good hybrid fails cleanly. */
static void test_mutations(void **st)
{
    (void)st;
    bv *r = good_hybrid();
    size_t len;
    uint8_t *buf = encode(r, &len);
    bfree(r);
    for (size_t cut = 0; cut < len; cut += 7) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, buf, cut);
        sh_metainfo *mi = NULL;
        assert_int_equal(sh_metainfo_parse(b, cut, &mi, NULL), SH_EBENCODE);
        assert_null(mi);
        free(b);
    }
    for (size_t k = 0; k < len; k += 3) {
        uint8_t save = buf[k];
        buf[k] ^= 0x5a;
        sh_metainfo *mi = NULL;
        int rc = sh_metainfo_parse(buf, len, &mi, NULL);
        assert_true(rc == 0 || rc == SH_EBENCODE || rc == SH_EMETAINFO || rc == SH_EPATH ||
                    rc == SH_ELIMIT);
        sh_metainfo_free(mi);
        buf[k] = save;
    }
    free(buf);
}

/* --- libtorrent fixtures ------------------------------------------------------ */

static char data_dir[400];

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void check_hex(const uint8_t *h, size_t n, const char *want)
{
    char hex[65];
    for (size_t k = 0; k < n; k++)
        sprintf(hex + 2 * k, "%02x", h[k]);
    assert_string_equal(hex, want);
}

typedef struct lt_file {
    uint64_t off, len;
    int pad;
    char path[256];
} lt_file;

/* Compares one fixture with libtorrent's view, read from fixtures.txt at f. */
static void check_fixture(FILE *f, const char *name)
{
    char line[512], v1[80], v2[80], ltname[256];
    unsigned long long pieces, plen, total;
    lt_file lf[32];
    int n = 0;
    assert_non_null(fgets(line, sizeof line, f) && sscanf(line, "v1 %79s", v1) == 1 ? line : NULL);
    assert_non_null(fgets(line, sizeof line, f) && sscanf(line, "v2 %79s", v2) == 1 ? line : NULL);
    assert_non_null(
        fgets(line, sizeof line, f) && sscanf(line, "pieces %llu", &pieces) == 1 ? line : NULL);
    assert_non_null(
        fgets(line, sizeof line, f) && sscanf(line, "piece_length %llu", &plen) == 1 ? line : NULL);
    assert_non_null(fgets(line, sizeof line, f) && sscanf(line, "total %llu", &total) == 1 ? line
                                                                                           : NULL);
    assert_non_null(fgets(line, sizeof line, f) && sscanf(line, "name %255s", ltname) == 1 ? line
                                                                                           : NULL);
    while (fgets(line, sizeof line, f) && strncmp(line, "end", 3) != 0) {
        unsigned long long o, l;
        assert_true(n < 32);
        assert_int_equal(sscanf(line, "file %llu %llu %d %255s", &o, &l, &lf[n].pad, lf[n].path),
                         4);
        lf[n].off = o;
        lf[n].len = l;
        n++;
    }
    size_t len;
    uint8_t *buf = slurp(name, &len);
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {0};
    int rc = sh_metainfo_parse(buf, len, &mi, &ei);
    if (rc) fail_msg("%s: %d %s", name, rc, ei.msg);
    assert_int_equal(mi->version,
                     (strcmp(v1, "-") ? SH_META_V1 : 0) | (strcmp(v2, "-") ? SH_META_V2 : 0));
    if (mi->version & SH_META_V1) check_hex(mi->info_hash_v1, 20, v1);
    if (mi->version & SH_META_V2) check_hex(mi->info_hash_v2, 32, v2);
    assert_int_equal(mi->num_pieces, pieces);
    assert_int_equal(mi->piece_length, plen);
    assert_string_equal(mi->name, ltname);
    /* libtorrent pads a v2-only torrent's last file too, and so does shoal. */
    assert_int_equal(mi->total_size, total);
    assert_int_equal(mi->num_files, n);
    for (int k = 0; k < n; k++) {
        assert_string_equal(mi->files[k].path, lf[k].path);
        assert_int_equal(mi->files[k].length, lf[k].len);
        assert_int_equal(mi->files[k].offset, lf[k].off);
        assert_int_equal(mi->files[k].pad, lf[k].pad);
    }
    assert_int_equal(mi->has_piece_layers, (mi->version & SH_META_V2) != 0);
    assert_string_equal(mi->tiers[0].urls[0], "http://127.0.0.1:6969/announce");
    assert_string_equal(mi->tiers[1].urls[0], "udp://127.0.0.2:6969/announce");
    assert_string_equal(mi->web_seeds[0], "http://127.0.0.1:8080/seed/");
    assert_string_equal(mi->comment, "shoal test fixture");
    assert_int_equal(mi->creation_date, 1700000000);
    for (uint32_t p = 0; (mi->version & SH_META_V2) && p < mi->num_pieces; p++) {
        const uint8_t *h;
        assert_int_equal(sh_metainfo_piece_v2(mi, p, &h, NULL, NULL), 0);
    }
    /* The bare info dictionary gives the same hashes. */
    sh_metainfo *bare = NULL;
    assert_int_equal(sh_metainfo_parse_info(mi->info, mi->info_len, &bare, &ei), 0);
    assert_memory_equal(bare->info_hash_v1, mi->info_hash_v1, 20);
    assert_memory_equal(bare->info_hash_v2, mi->info_hash_v2, 32);
    assert_int_equal(bare->num_files, mi->num_files);
    sh_metainfo_free(bare);
    sh_metainfo_free(mi);
    free(buf);
}

static void test_libtorrent_fixtures(void **st)
{
    (void)st;
    char path[800];
    snprintf(path, sizeof path, "%s/fixtures.txt", data_dir);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[512], name[256];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "torrent %255s", name) != 1) continue;
        check_fixture(f, name);
        seen++;
    }
    fclose(f);
    assert_int_equal(seen, 6);
}

int main(void)
{
    snprintf(data_dir, sizeof data_dir, "%s", __FILE__);
    char *slash = strrchr(data_dir, '/');
    if (slash)
        snprintf(slash, sizeof data_dir - (size_t)(slash - data_dir), "/data");
    else
        snprintf(data_dir, sizeof data_dir, "data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_single),     cmocka_unit_test(test_v1_multi),
        cmocka_unit_test(test_v2_single),     cmocka_unit_test(test_v2_multi_pads),
        cmocka_unit_test(test_hybrid),        cmocka_unit_test(test_parse_info_and_set_layer),
        cmocka_unit_test(test_bad_structure), cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_paths),     cmocka_unit_test(test_bad_v2),
        cmocka_unit_test(test_bad_layers),    cmocka_unit_test(test_bad_hybrid),
        cmocka_unit_test(test_bad_trackers),  cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_mutations),     cmocka_unit_test(test_libtorrent_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
