/* test_verify.c — sh_piece_verify on v1, v2 and hybrid torrents built in memory:
 * every piece passes, any flipped byte (data or padding) fails, sizes are exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/sha.h>
#include <shoal/verify.h>

#include "torrent_fixture.h"

#define PL 32768u

/* Multi-file: nested dirs, a tiny file, a file of exactly one piece, an empty one, short tail. */
static const fx_spec MULTI[] = {
    {"a/x.bin", 100000, false},  {"a/y.bin", 1, false}, {"b.bin", PL, true},
    {"c/d/e.bin", 70001, false}, {"c/empty", 0, false}, {"z.bin", 5000, false},
};

/* Flips one byte at pos of a copy of piece p and expects SH_EHASH. */
static void expect_flip_fails(const fx *t, uint32_t p, size_t pos)
{
    uint32_t len = sh_metainfo_piece_size(t->mi, p);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, fx_piece(t, p), len);
    buf[pos] ^= 0x01;
    int rc = sh_piece_verify(t->mi, p, buf, len);
    if (rc != SH_EHASH) fail_msg("piece %u byte %zu flipped: got %d", p, pos, rc);
    free(buf);
}

/* Pad bytes inside piece p: first and last of each pad range. Returns how many were tried. */
static unsigned flip_pads(const fx *t, uint32_t p)
{
    const sh_metainfo *mi = t->mi;
    uint64_t start = (uint64_t)p * mi->piece_length;
    uint64_t end = start + sh_metainfo_piece_size(mi, p);
    unsigned n = 0;
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (!f->pad || f->length == 0 || f->offset >= end || f->offset + f->length <= start)
            continue;
        uint64_t a = f->offset > start ? f->offset : start;
        uint64_t b = (f->offset + f->length < end ? f->offset + f->length : end) - 1;
        expect_flip_fails(t, p, (size_t)(a - start));
        expect_flip_fails(t, p, (size_t)(b - start));
        n += 2;
    }
    return n;
}

/* Every piece verifies; flips at first, middle, last byte and in every pad fail. */
static unsigned check_all(const fx *t)
{
    const sh_metainfo *mi = t->mi;
    unsigned pads = 0;
    assert_true(mi->num_pieces > 0);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(mi, p);
        assert_int_equal(sh_piece_verify(mi, p, fx_piece(t, p), len), 0);
        expect_flip_fails(t, p, 0);
        expect_flip_fails(t, p, len / 2);
        expect_flip_fails(t, p, len - 1);
        pads += flip_pads(t, p);
        assert_int_equal(sh_piece_verify(mi, p, fx_piece(t, p), len - 1), SH_ERANGE);
        /* rejected before any byte is read, so the short buffer is never overrun */
        assert_int_equal(sh_piece_verify(mi, p, fx_piece(t, p), len + 1), SH_ERANGE);
    }
    assert_int_equal(sh_piece_verify(mi, mi->num_pieces, t->space, mi->piece_length), SH_ERANGE);
    assert_int_equal(sh_piece_verify(mi, UINT32_MAX, t->space, mi->piece_length), SH_ERANGE);
    return pads;
}

static void test_multi_v1(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V1, PL, "multi", MULTI, sizeof MULTI / sizeof MULTI[0]);
    assert_int_equal(t.mi->total_size, 100000 + 1 + PL + 70001 + 5000);
    assert_true(t.mi->total_size % PL != 0); /* the last piece is short */
    assert_int_equal(check_all(&t), 0);      /* v1 from mkinfo has no pads */
    fx_free(&t);
}

static void test_multi_v2(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V2, PL, "multi", MULTI, sizeof MULTI / sizeof MULTI[0]);
    assert_true(t.mi->has_piece_layers);
    /* Implicit v2 padding is checked although the merkle root never covers it. */
    assert_true(check_all(&t) > 0);
    fx_free(&t);
}

static void test_multi_hybrid(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, sizeof MULTI / sizeof MULTI[0]);
    assert_true(check_all(&t) > 0);
    fx_free(&t);
}

static void test_single_files(void **s)
{
    (void)s;
    const uint64_t sizes[] = {1, 10, PL - 1, PL, PL + 1, 3 * PL, 5 * PL + 123};
    const unsigned versions[] = {SH_META_V1, SH_META_V2, SH_META_HYBRID};
    for (size_t v = 0; v < 3; v++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            fx_spec one = {NULL, sizes[i], false};
            fx t;
            fx_build(&t, versions[v], PL, "one.bin", &one, 1);
            assert_int_equal(t.mi->num_pieces, (sizes[i] + PL - 1) / PL);
            /* Only a v2-only layout pads a single unaligned file (to the piece end). */
            unsigned pads = check_all(&t);
            if (versions[v] == SH_META_V2 && sizes[i] % PL != 0)
                assert_true(pads > 0);
            else
                assert_int_equal(pads, 0);
            fx_free(&t);
        }
    }
}

/* A v1 piece whose SHA-1 covers non-zero padding is still refused: storage serves zeros there. */
static void test_v1_nonzero_pad_refused(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, sizeof MULTI / sizeof MULTI[0]);
    sh_metainfo *mi = t.mi;
    uint32_t pad = UINT32_MAX;
    for (uint32_t i = 0; i < mi->num_files && pad == UINT32_MAX; i++)
        if (mi->files[i].pad && mi->files[i].length > 0) pad = i;
    assert_int_not_equal(pad, UINT32_MAX);
    uint32_t p = (uint32_t)(mi->files[pad].offset / PL);
    uint32_t len = sh_metainfo_piece_size(mi, p);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, fx_piece(&t, p), len);
    buf[mi->files[pad].offset - (uint64_t)p * PL] = 0xff;
    mi->version = SH_META_V1; /* look at the v1 view alone */
    sh_sha1(buf, len, mi->pieces_v1 + (size_t)p * 20);
    assert_int_equal(sh_piece_verify(mi, p, buf, len), SH_EHASH);
    buf[mi->files[pad].offset - (uint64_t)p * PL] = 0;
    sh_sha1(buf, len, mi->pieces_v1 + (size_t)p * 20);
    assert_int_equal(sh_piece_verify(mi, p, buf, len), 0);
    free(buf);
    fx_free(&t);
}

/* The piece index of the first piece of the file called path. */
static uint32_t first_piece_of(const sh_metainfo *mi, const char *path)
{
    for (uint32_t i = 0; i < mi->num_files; i++)
        if (!mi->files[i].pad && strcmp(mi->files[i].path, path) == 0)
            return (uint32_t)(mi->files[i].offset / mi->piece_length);
    fail_msg("no file %s", path);
    return 0;
}

/* From a bare info dict (magnet), v2 layers are unknown until fetched. */
static void test_v2_without_layers(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V2, PL, "multi", MULTI, sizeof MULTI / sizeof MULTI[0]);
    sh_metainfo *bare;
    assert_int_equal(sh_metainfo_parse_info(t.mi->info, t.mi->info_len, &bare, NULL), 0);
    assert_false(bare->has_piece_layers);
    uint32_t big = first_piece_of(bare, "a/x.bin"); /* 100000 bytes: 4 pieces */
    uint32_t small = first_piece_of(bare, "b.bin"); /* exactly one piece: its root is the hash */
    uint32_t tiny = first_piece_of(bare, "a/y.bin");
    for (uint32_t p = big; p < big + 4; p++)
        assert_int_equal(sh_piece_verify(bare, p, fx_piece(&t, p), sh_metainfo_piece_size(bare, p)),
                         SH_ENOTFOUND);
    assert_int_equal(sh_piece_verify(bare, small, fx_piece(&t, small), PL), 0);
    assert_int_equal(sh_piece_verify(bare, tiny, fx_piece(&t, tiny), PL), 0);
    expect_flip_fails(&(fx){bare, t.space}, small, 7);
    sh_metainfo_free(bare);
    fx_free(&t);
}

/* A hybrid from a bare info dict still has its v1 hashes: they decide until the layer arrives. */
static void test_hybrid_without_layers(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, sizeof MULTI / sizeof MULTI[0]);
    sh_metainfo *bare;
    assert_int_equal(sh_metainfo_parse_info(t.mi->info, t.mi->info_len, &bare, NULL), 0);
    uint32_t big = first_piece_of(bare, "a/x.bin");
    assert_int_equal(sh_piece_verify(bare, big, fx_piece(&t, big), PL), 0);
    expect_flip_fails(&(fx){bare, t.space}, big, 100);
    sh_metainfo_free(bare);
    fx_free(&t);
}

static void test_bad_args(void **s)
{
    (void)s;
    fx_spec one = {NULL, 1000, false};
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "one.bin", &one, 1);
    assert_int_equal(sh_piece_verify(t.mi, 0, NULL, 1000), SH_EINVAL);
    assert_int_equal(sh_piece_verify(NULL, 0, t.space, 1000), SH_ERANGE);
    assert_int_equal(sh_piece_verify(t.mi, 0, t.space, 0), SH_ERANGE);
    assert_int_equal(sh_piece_verify(t.mi, 0, t.space, PL), SH_ERANGE);
    fx_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_v1),
        cmocka_unit_test(test_multi_v2),
        cmocka_unit_test(test_multi_hybrid),
        cmocka_unit_test(test_single_files),
        cmocka_unit_test(test_v1_nonzero_pad_refused),
        cmocka_unit_test(test_v2_without_layers),
        cmocka_unit_test(test_hybrid_without_layers),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
