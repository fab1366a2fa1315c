/* test_picker.c — the piece picker: policy, block accounting, availability, speed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shoal/picker.h>
#include <shoal/rng.h>

#define B SH_PICKER_BLOCK

static sh_picker *mk(uint32_t n, uint32_t plen, uint32_t last, uint32_t rnd, uint32_t maxp,
                     uint64_t seed)
{
    sh_picker_config cfg = {.num_pieces = n,
                            .piece_length = plen,
                            .last_piece_length = last,
                            .random_first = rnd,
                            .max_partial = maxp,
                            .seed = seed};
    sh_picker *p = NULL;
    assert_int_equal(sh_picker_new(&cfg, &p), 0);
    return p;
}

static sh_bitfield bits(uint32_t n, const uint32_t *set, size_t k)
{
    sh_bitfield bf;
    assert_int_equal(sh_bitfield_init(&bf, n), 0);
    for (size_t i = 0; i < k; i++)
        sh_bitfield_set(&bf, set[i]);
    return bf;
}

/* One pick of a single block; returns the piece or UINT32_MAX if nothing. */
static uint32_t pick1(sh_picker *p, const sh_bitfield *peer)
{
    sh_pick pk;
    size_t n = sh_picker_pick(p, peer, NULL, 1, 1, &pk, 1);
    if (n == 0) return UINT32_MAX;
    assert_int_equal(n, 1);
    assert_int_equal(pk.count, 1);
    return pk.piece;
}

/* ---- configuration and geometry ---- */

static void test_config(void **st)
{
    (void)st;
    sh_picker *p = NULL;
    sh_picker_config bad[] = {
        {.num_pieces = 0, .piece_length = B, .last_piece_length = B},
        {.num_pieces = 1, .piece_length = 0, .last_piece_length = 0},
        {.num_pieces = 2, .piece_length = B, .last_piece_length = 0},
        {.num_pieces = 2, .piece_length = B, .last_piece_length = B + 1},
        {.num_pieces = UINT32_MAX, .piece_length = B, .last_piece_length = B},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sh_picker_new(&bad[i], &p), SH_EINVAL);
    assert_null(p);
    assert_int_equal(sh_picker_new(NULL, &p), SH_EINVAL);
    sh_picker_free(NULL);
}

static void test_geometry(void **st)
{
    (void)st;
    sh_picker *p = mk(3, 40000, 5000, 0, 0, 1);
    assert_int_equal(sh_picker_blocks_in(p, 0), 3);
    assert_int_equal(sh_picker_blocks_in(p, 2), 1);
    assert_int_equal(sh_picker_blocks_in(p, 3), 0);
    assert_int_equal(sh_picker_block_len(p, 0, 0), B);
    assert_int_equal(sh_picker_block_len(p, 1, 2), 40000 - 2 * B);
    assert_int_equal(sh_picker_block_len(p, 1, 3), 0);
    assert_int_equal(sh_picker_block_len(p, 2, 0), 5000);
    assert_int_equal(sh_picker_block_len(p, 2, 1), 0);
    assert_int_equal(sh_picker_block_len(p, 7, 0), 0);
    sh_picker_free(p);
    p = mk(1, UINT32_MAX, UINT32_MAX, 0, 0, 1); /* no overflow at the extreme */
    assert_int_equal(sh_picker_blocks_in(p, 0), UINT32_MAX / B + 1);
    assert_int_equal(sh_picker_block_len(p, 0, UINT32_MAX / B), UINT32_MAX % B);
    sh_picker_free(p);
}

/* ---- rarest first ---- */

/* availability of piece i = 1 + i % 7 (plus the seeds); returns the picker. */
static sh_picker *skewed(uint32_t n, uint32_t rnd, uint64_t seed)
{
    sh_picker *p = mk(n, B, B, rnd, 0, seed);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k <= i % 7; k++)
            sh_picker_inc(p, i);
    return p;
}

static void test_rarest_first(void **st)
{
    (void)st;
    uint32_t n = 70;
    sh_picker *p = skewed(n, 1, 5);
    sh_picker_inc_seed(p);
    assert_int_equal(sh_picker_availability(p, 13), 1 + 13 % 7 + 1);
    pick1(p, NULL); /* the one random-first piece */
    bool taken[70] = {0};
    for (uint32_t i = 0; i < n; i++)
        if (sh_picker_requests(p, i, 0)) taken[i] = true;
    /* then every pick is of the lowest availability among the pieces not yet taken */
    for (uint32_t k = 1; k < n; k++) {
        uint32_t min = UINT32_MAX;
        for (uint32_t i = 0; i < n; i++)
            if (!taken[i] && sh_picker_availability(p, i) < min) min = sh_picker_availability(p, i);
        uint32_t got = pick1(p, NULL);
        assert_true(got < n && !taken[got]);
        assert_int_equal(sh_picker_availability(p, got), min);
        taken[got] = true;
    }
    sh_pick pk;
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 1, 1, &pk, 1), 1); /* all taken: endgame */
    assert_true(pk.dup);
    sh_picker_free(p);

    /* a peer without the rarest pieces gets the rarest of what it has */
    p = skewed(n, 1, 6);
    uint32_t have_set[] = {3, 10, 12, 20, 26, 27, 55};
    sh_bitfield peer = bits(n, have_set, 7); /* availabilities 4, 4, 6, 7, 6, 7, 7 */
    sh_picker_set_have(p, 3);
    pick1(p, &peer); /* random first */
    uint32_t a = pick1(p, &peer);
    assert_true(a == 10 || a == 12 || a == 26);
    sh_bitfield_free(&peer);
    sh_picker_free(p);
}

/* Many pickers with equal availability everywhere spread their first picks. */
static void test_ties_spread(void **st)
{
    (void)st;
    enum { N = 64, SEEDS = 400 };
    uint32_t hits_random[N] = {0}, hits_rarest[N] = {0}, hits_moved[N] = {0};
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        sh_picker *p = mk(N, B, B, 1, 0, seed);
        hits_random[pick1(p, NULL)]++;
        hits_rarest[pick1(p, NULL)]++;
        sh_picker_free(p);
        /* every piece moved to the next bucket in index order: must not bias the ties */
        p = mk(N, B, B, 1, 0, seed);
        for (uint32_t i = 0; i < N; i++)
            sh_picker_inc(p, i);
        for (uint32_t i = 0; i < N; i++)
            sh_picker_inc(p, i);
        for (uint32_t i = N; i-- > 0;)
            sh_picker_dec(p, i);
        pick1(p, NULL);
        hits_moved[pick1(p, NULL)]++;
        sh_picker_free(p);
    }
    uint32_t *h[] = {hits_random, hits_rarest, hits_moved};
    for (int k = 0; k < 3; k++) {
        uint32_t distinct = 0, max = 0;
        for (uint32_t i = 0; i < N; i++) {
            distinct += h[k][i] > 0;
            if (h[k][i] > max) max = h[k][i];
        }
        if (distinct < 55 || max > 25) /* expectation: ~64 distinct, ~6 per piece */
            fail_msg("set %d: %u distinct, max %u", k, distinct, max);
    }
    /* same seed, same picks */
    sh_picker *a = skewed(200, 3, 77), *b = skewed(200, 3, 77);
    for (int i = 0; i < 150; i++) {
        uint32_t x = pick1(a, NULL);
        assert_int_equal(x, pick1(b, NULL));
        if (i % 3 == 0) {
            sh_picker_dec(a, x);
            sh_picker_dec(b, x);
        }
    }
    sh_picker_free(a);
    sh_picker_free(b);
}

static void test_random_first(void **st)
{
    (void)st;
    enum { N = 100, SEEDS = 1000 };
    uint32_t hits[N] = {0};
    uint32_t not_rare = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        sh_picker *p = mk(N, B, B, 3, 0, seed);
        for (uint32_t i = 10; i < N; i++) /* pieces 0..9 are the rarest */
            for (int k = 0; k < 5; k++)
                sh_picker_inc(p, i);
        for (int k = 0; k < 3; k++) {
            uint32_t x = pick1(p, NULL);
            if (k == 0) hits[x]++;
            not_rare += x >= 10;
        }
        uint32_t fourth = pick1(p, NULL);
        if (fourth >= 10)
            fail_msg("seed %llu: 4th piece %u is not rarest", (unsigned long long)seed, fourth);
        sh_picker_free(p);
    }
    /* random picks ignore rarity: 90% of them land on common pieces */
    assert_true(not_rare > 3 * SEEDS * 8 / 10);
    for (uint32_t i = 0; i < N; i++)
        if (hits[i] < 1 || hits[i] > 30)
            fail_msg("piece %u chosen %u times of %d", i, hits[i], SEEDS);

    /* default: 0 means 4 random pieces; a sparse peer's random pick is among its pieces */
    sh_picker *p = mk(1000, B, B, 0, 0, 9);
    uint32_t set[] = {5, 500, 999};
    sh_bitfield peer = bits(1000, set, 3);
    for (int k = 0; k < 3; k++) {
        uint32_t x = pick1(p, &peer);
        assert_true(x == 5 || x == 500 || x == 999);
    }
    sh_pick pk;
    /* everything the peer has is requested, but 997 pieces are untouched: no
     * duplicates yet (that would be endgame in the middle of the download) */
    assert_int_equal(sh_picker_pick(p, &peer, NULL, 1, 1, &pk, 1), 0);
    assert_false(sh_picker_endgame(p));
    sh_bitfield_free(&peer);
    sh_picker_free(p);
}

/* ---- partial pieces, max_partial, runs ---- */

static void test_partial_preferred(void **st)
{
    (void)st;
    sh_picker *p = mk(10, 4 * B, 4 * B, 1, 0, 3);
    sh_pick pk[8];
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 2, 8, pk, 8), 1);
    uint32_t a = pk[0].piece;
    assert_int_equal(pk[0].block, 0);
    assert_int_equal(pk[0].count, 2);
    uint32_t others[9], k = 0;
    for (uint32_t i = 0; i < 10; i++)
        if (i != a) others[k++] = i;
    sh_bitfield lacks_a = bits(10, others, 9);
    assert_int_equal(sh_picker_pick(p, &lacks_a, NULL, 2, 8, pk, 8), 1);
    uint32_t b = pk[0].piece;
    assert_int_not_equal(a, b);
    /* a seed continues the oldest partial first, then the next */
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 3, 8, pk, 8), 2);
    assert_int_equal(pk[0].piece, a);
    assert_int_equal(pk[0].block, 2);
    assert_int_equal(pk[0].count, 2);
    assert_int_equal(pk[1].piece, b);
    assert_int_equal(pk[1].block, 2);
    assert_int_equal(pk[1].count, 1);
    assert_false(pk[0].dup || pk[1].dup);
    sh_bitfield_free(&lacks_a);
    sh_picker_free(p);
}

static void test_max_partial(void **st)
{
    (void)st;
    sh_picker *p = mk(10, 2 * B, 2 * B, 1, 2, 4);
    sh_pick pk[16];
    size_t n = sh_picker_pick(p, NULL, NULL, 100, 100, pk, 16);
    assert_int_equal(n, 2); /* two whole pieces, then the limit */
    assert_int_not_equal(pk[0].piece, pk[1].piece);
    assert_int_equal(pk[0].count + pk[1].count, 4);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 100, 100, pk, 16), 0); /* no dup either */
    assert_false(sh_picker_endgame(p));
    /* a block given back is handed out again even at the limit */
    sh_picker_unrequest(p, pk[0].piece, 1);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 100, 100, pk + 2, 14), 1);
    assert_int_equal(pk[2].piece, pk[0].piece);
    assert_int_equal(pk[2].block, 1);
    /* finishing a piece frees a slot */
    assert_int_equal(sh_picker_received(p, pk[0].piece, 0), 0);
    assert_int_equal(sh_picker_received(p, pk[0].piece, 1), 1);
    sh_picker_set_have(p, pk[0].piece);
    n = sh_picker_pick(p, NULL, NULL, 100, 100, pk + 3, 13);
    assert_int_equal(n, 1);
    assert_int_not_equal(pk[3].piece, pk[0].piece);
    assert_int_not_equal(pk[3].piece, pk[1].piece);
    sh_picker_free(p);
}

static void test_runs(void **st)
{
    (void)st;
    sh_picker *p = mk(4, 10 * B, 3 * B, 1, 0, 8);
    sh_pick pk[32];
    size_t n = sh_picker_pick(p, NULL, NULL, 1000, 4, pk, 32);
    uint32_t total = 0;
    bool seen[4] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_true(pk[i].count >= 1 && pk[i].count <= 4);
        assert_true(pk[i].block + pk[i].count <= sh_picker_blocks_in(p, pk[i].piece));
        total += pk[i].count;
        seen[pk[i].piece] = true;
    }
    assert_int_equal(total, 33); /* everything, never a run across pieces */
    assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
    assert_true(sh_picker_endgame(p));
    sh_picker_free(p);

    /* holes: runs stop at requested blocks; max_out and max_blocks bound the answer */
    p = mk(1, 10 * B, 10 * B, 1, 0, 8);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 10, 10, pk, 32), 1);
    assert_int_equal(pk[0].count, 10);
    sh_picker_unrequest(p, 0, 1);
    sh_picker_unrequest(p, 0, 2);
    sh_picker_unrequest(p, 0, 5);
    sh_picker_unrequest(p, 0, 9);
    n = sh_picker_pick(p, NULL, NULL, 10, 10, pk, 2);
    assert_int_equal(n, 2);
    assert_int_equal(pk[0].block, 1);
    assert_int_equal(pk[0].count, 2);
    assert_int_equal(pk[1].block, 5);
    assert_int_equal(pk[1].count, 1);
    n = sh_picker_pick(p, NULL, NULL, 10, 0, pk, 8); /* max_run 0 acts as 1 */
    assert_int_equal(n, 1);
    assert_int_equal(pk[0].block, 9);
    assert_int_equal(pk[0].count, 1);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 0, 10, pk, 8), 0);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 10, 10, pk, 0), 0);
    sh_picker_free(p);
}

static void test_last_piece(void **st)
{
    (void)st;
    sh_picker *p = mk(3, 4 * B, 20000, 1, 0, 2);
    assert_int_equal(sh_picker_blocks_in(p, 2), 2);
    assert_int_equal(sh_picker_block_len(p, 2, 1), 20000 - B);
    sh_pick pk[16];
    size_t n = sh_picker_pick(p, NULL, NULL, 100, 1, pk, 16);
    assert_int_equal(n, 10);
    uint32_t bytes = 0, done = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += sh_picker_block_len(p, pk[i].piece, pk[i].block);
        int rc = sh_picker_received(p, pk[i].piece, pk[i].block);
        assert_true(rc == 0 || rc == 1);
        done += rc == 1;
        if (rc == 1) /* exactly at the last block of its piece */
            for (uint32_t b = 0; b < sh_picker_blocks_in(p, pk[i].piece); b++)
                assert_int_equal(sh_picker_received(p, pk[i].piece, b), SH_EEXIST);
    }
    assert_int_equal(bytes, 2 * 4 * B + 20000);
    assert_int_equal(done, 3);
    for (uint32_t i = 0; i < 3; i++)
        sh_picker_set_have(p, i);
    assert_true(sh_picker_complete(p));
    assert_int_equal(sh_picker_num_have(p), 3);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 100, 1, pk, 16), 0);
    assert_false(sh_picker_endgame(p));
    assert_false(sh_picker_interesting(p, NULL));
    sh_picker_free(p);
}

/* ---- endgame, received, failures ---- */

static void test_endgame(void **st)
{
    (void)st;
    sh_picker *p = mk(2, 2 * B, 2 * B, 1, 0, 11);
    sh_pick pk[16];
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 100, 1, pk, 16), 4);
    for (int i = 0; i < 4; i++)
        assert_false(pk[i].dup);
    assert_true(sh_picker_endgame(p));
    /* each further pick hands out the least-requested blocks once, up to MAX_DUP */
    for (uint32_t level = 2; level <= SH_PICKER_MAX_DUP; level++) {
        size_t n = sh_picker_pick(p, NULL, NULL, 100, 1, pk, 16);
        assert_int_equal(n, 4);
        for (size_t i = 0; i < n; i++) {
            assert_true(pk[i].dup);
            assert_int_equal(sh_picker_requests(p, pk[i].piece, pk[i].block), level);
        }
    }
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 100, 1, pk, 16), 0);
    /* fewest outstanding first: a block with fewer requests goes out alone */
    for (uint32_t k = 1; k < SH_PICKER_MAX_DUP; k++)
        sh_picker_unrequest(p, 1, 0);
    assert_int_equal(sh_picker_requests(p, 1, 0), 1);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 100, 4, pk, 16), 1);
    assert_int_equal(pk[0].piece, 1);
    assert_int_equal(pk[0].block, 0);
    assert_int_equal(pk[0].count, 1);
    assert_true(pk[0].dup);
    /* the first copy counts, later ones are duplicates */
    assert_int_equal(sh_picker_received(p, 0, 0), 0);
    assert_int_equal(sh_picker_received(p, 0, 0), SH_EEXIST);
    assert_int_equal(sh_picker_requests(p, 0, 0), 0);
    assert_int_equal(sh_picker_received(p, 0, 1), 1);
    assert_int_equal(sh_picker_received(p, 0, 1), SH_EEXIST);
    sh_picker_set_have(p, 0);
    assert_int_equal(sh_picker_received(p, 0, 1), SH_ERANGE); /* the piece is ours now */
    sh_picker_free(p);

    /* endgame is global: a peer with nothing startable gets no duplicates while
     * other pieces are untouched, and neither does one whose startable piece is
     * blocked by max_partial */
    p = mk(4, 2 * B, 2 * B, 1, 1, 12);
    uint32_t s0[] = {0}, s1[] = {1};
    sh_bitfield only0 = bits(4, s0, 1), only1 = bits(4, s1, 1);
    assert_int_equal(sh_picker_pick(p, &only0, NULL, 100, 2, pk, 16), 1);
    assert_false(pk[0].dup);
    assert_int_equal(sh_picker_pick(p, &only1, NULL, 100, 2, pk, 16), 0);
    assert_int_equal(sh_picker_pick(p, &only0, NULL, 100, 2, pk, 16), 0);
    assert_false(sh_picker_endgame(p)); /* pieces 1..3 were never requested */
    /* allowed restricts every step, endgame included */
    uint32_t s2[] = {2};
    sh_bitfield allow2 = bits(4, s2, 1);
    assert_int_equal(sh_picker_pick(p, NULL, &allow2, 100, 2, pk, 16), 0);
    sh_bitfield_free(&only0);
    sh_bitfield_free(&only1);
    sh_bitfield_free(&allow2);
    sh_picker_free(p);
}

static void test_received_errors(void **st)
{
    (void)st;
    sh_picker *p = mk(3, 2 * B, B, 1, 0, 13);
    assert_int_equal(sh_picker_received(p, 0, 0), SH_ERANGE); /* never requested */
    assert_int_equal(sh_picker_received(p, 9, 0), SH_ERANGE); /* no such piece */
    sh_pick pk[4];
    uint32_t s1[] = {1};
    sh_bitfield only1 = bits(3, s1, 1);
    assert_int_equal(sh_picker_pick(p, &only1, NULL, 1, 1, pk, 4), 1);
    assert_int_equal(pk[0].piece, 1);
    assert_int_equal(pk[0].block, 0);
    assert_int_equal(sh_picker_received(p, 1, 1), SH_ERANGE); /* free block of a partial */
    assert_int_equal(sh_picker_received(p, 1, 2), SH_ERANGE); /* past the piece */
    assert_int_equal(sh_picker_received(p, 1, 0), 0);
    /* unrequest of received/free blocks changes nothing */
    sh_picker_unrequest(p, 1, 0);
    sh_picker_unrequest(p, 1, 1);
    sh_picker_unrequest(p, 7, 0);
    assert_int_equal(sh_picker_received(p, 1, 0), SH_EEXIST);
    sh_bitfield_free(&only1);
    sh_picker_free(p);
}

static void test_piece_failed(void **st)
{
    (void)st;
    sh_picker *p = mk(1, 3 * B, 3 * B, 1, 0, 14);
    sh_pick pk[4];
    for (int round = 0; round < 2; round++) {
        assert_int_equal(sh_picker_pick(p, NULL, NULL, 10, 10, pk, 4), 1);
        assert_int_equal(pk[0].block, 0);
        assert_int_equal(pk[0].count, 3);
        assert_false(pk[0].dup);
        assert_int_equal(sh_picker_received(p, 0, 0), 0);
        assert_int_equal(sh_picker_received(p, 0, 1), 0);
        assert_int_equal(sh_picker_received(p, 0, 2), 1);
        sh_picker_piece_failed(p, 0);
        for (uint32_t b = 0; b < 3; b++) {
            assert_int_equal(sh_picker_requests(p, 0, b), 0);
            assert_int_equal(sh_picker_received(p, 0, b), SH_ERANGE);
        }
        assert_false(sh_picker_have(p, 0));
    }
    /* all blocks given back: the piece's state goes too */
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 10, 10, pk, 4), 1);
    for (uint32_t b = 0; b < 3; b++)
        sh_picker_unrequest(p, 0, b);
    assert_int_equal(sh_picker_received(p, 0, 0), SH_ERANGE);
    assert_int_equal(sh_picker_pick(p, NULL, NULL, 10, 10, pk, 4), 1);
    assert_int_equal(pk[0].count, 3);
    sh_picker_free(p);
}

static void test_interesting(void **st)
{
    (void)st;
    enum { N = 300 };
    sh_picker *p = mk(N, B, B, 1, 0, 15);
    uint32_t s[] = {0, 64, 130, 299};
    sh_bitfield peer = bits(N, s, 4), empty = bits(N, NULL, 0), wrong = bits(N + 1, s, 4);
    assert_true(sh_picker_interesting(p, NULL));
    assert_true(sh_picker_interesting(p, &peer));
    assert_false(sh_picker_interesting(p, &empty));
    assert_false(sh_picker_interesting(p, &wrong));
    for (int i = 0; i < 3; i++)
        sh_picker_set_have(p, s[i]);
    assert_true(sh_picker_interesting(p, &peer));
    sh_picker_set_have(p, 299);
    assert_false(sh_picker_interesting(p, &peer));
    assert_true(sh_picker_interesting(p, NULL));
    for (uint32_t i = 0; i < N; i++)
        sh_picker_set_have(p, i);
    assert_false(sh_picker_interesting(p, NULL));
    assert_int_equal(sh_picker_have_bits(p)->count, N);
    sh_bitfield_free(&peer);
    sh_bitfield_free(&empty);
    sh_bitfield_free(&wrong);
    sh_picker_free(p);
}

/* ---- random operations against a naive model ---- */

typedef struct model {
    uint32_t n, seeds;
    uint32_t *count;
    bool *have;
} model;

static void random_bits(sh_bitfield *bf, sh_rng *g, uint32_t per_mille)
{
    sh_bitfield_clear_all(bf);
    for (uint32_t i = 0; i < bf->nbits; i++)
        if (sh_rng_below(g, 1000) < per_mille) sh_bitfield_set(bf, i);
}

static void model_bits(model *m, const sh_bitfield *bf, int d)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (sh_bitfield_get(bf, i)) m->count[i] += (uint32_t)d;
}

/* Checks one single-block pick against the model: the least available startable piece.
 * Returns whether a piece was picked. */
static bool model_pick(sh_picker *p, const model *m, const sh_bitfield *peer, bool check_rarest)
{
    uint32_t min = UINT32_MAX;
    for (uint32_t i = 0; i < m->n; i++)
        if (!m->have[i] && (!peer || sh_bitfield_get(peer, i)) && m->count[i] < min)
            min = m->count[i];
    uint32_t got = pick1(p, peer);
    if (min == UINT32_MAX) {
        assert_int_equal(got, UINT32_MAX);
        return false;
    }
    assert_true(got < m->n);
    assert_false(m->have[got]);
    if (peer) assert_true(sh_bitfield_get(peer, got));
    if (check_rarest && m->count[got] != min)
        fail_msg("picked %u with count %u, minimum is %u", got, m->count[got], min);
    return true;
}

static void stress_step(sh_picker *p, model *m, sh_rng *g, sh_bitfield *tmp, bool *first)
{
    uint32_t i = (uint32_t)sh_rng_below(g, m->n);
    switch (sh_rng_below(g, 10)) {
    case 0:
    case 1:
    case 2:
        sh_picker_inc(p, i);
        m->count[i]++;
        break;
    case 3:
    case 4:
        if (m->count[i]) m->count[i]--;
        sh_picker_dec(p, i); /* below zero is ignored */
        break;
    case 5:
        random_bits(tmp, g, (uint32_t)sh_rng_below(g, 1000));
        sh_picker_inc_bits(p, tmp);
        model_bits(m, tmp, 1);
        if (sh_rng_below(g, 2)) {
            sh_picker_dec_bits(p, tmp);
            model_bits(m, tmp, -1);
        }
        break;
    case 6:
        if (sh_rng_below(g, 2)) {
            sh_picker_inc_seed(p);
            m->seeds++;
        } else if (m->seeds) {
            sh_picker_dec_seed(p);
            m->seeds--;
        }
        break;
    case 7:
        if (sh_rng_below(g, 8) == 0) {
            sh_picker_set_have(p, i);
            m->have[i] = true;
        }
        break;
    default: {
        random_bits(tmp, g, (uint32_t)sh_rng_below(g, 300));
        bool seed = sh_rng_below(g, 4) == 0;
        if (model_pick(p, m, seed ? NULL : tmp, !*first)) *first = false;
        for (uint32_t k = 0; k < m->n; k++) /* give every request back: no partials remain */
            if (sh_picker_requests(p, k, 0)) sh_picker_unrequest(p, k, 0);
    }
    }
}

static void test_model_stress(void **st)
{
    (void)st;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        model m = {.n = 150 + (uint32_t)seed * 13};
        m.count = calloc(m.n, sizeof *m.count);
        m.have = calloc(m.n, sizeof *m.have);
        assert_true(m.count && m.have);
        sh_picker *p = mk(m.n, B, B, 1, 0, seed);
        sh_rng g;
        sh_rng_seed(&g, seed * 1000);
        sh_bitfield tmp = bits(m.n, NULL, 0);
        bool first = true;
        for (int step = 0; step < 3000; step++) {
            stress_step(p, &m, &g, &tmp, &first);
            for (uint32_t i = 0; i < m.n; i++)
                if (sh_picker_availability(p, i) != m.count[i] + m.seeds)
                    fail_msg("seed %llu step %d piece %u: %u != %u", (unsigned long long)seed, step,
                             i, sh_picker_availability(p, i), m.count[i] + m.seeds);
        }
        sh_bitfield_free(&tmp);
        sh_picker_free(p);
        free(m.count);
        free(m.have);
    }
}

/* ---- speed ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* sh_picker_version / still_empty / quiet: when an empty pick may be skipped. */
static void test_empty_pick_memo(void **st)
{
    (void)st;
    sh_picker *p = mk(8, 2 * B, 2 * B, 1, 0, 5);
    sh_pick pk[16];
    sh_bitfield a = bits(8, (uint32_t[]){0}, 1), b = bits(8, (uint32_t[]){1}, 1);
    assert_int_equal(sh_picker_version(p), 0); /* a random pick may still draw */
    assert_int_equal(sh_picker_pick(p, &a, NULL, 100, 2, pk, 16), 1);
    assert_int_equal(pk[0].piece, 0);
    assert_int_equal(pk[0].count, 2);
    assert_int_equal(sh_picker_pick(p, &a, NULL, 100, 2, pk, 16), 0);
    uint64_t v = sh_picker_version(p);
    assert_true(v != 0);
    assert_true(sh_picker_still_empty(p, v, &a));
    assert_false(sh_picker_still_empty(p, 0, &a));
    assert_true(sh_picker_quiet(p, 0));  /* in progress, every block requested */
    assert_false(sh_picker_quiet(p, 1)); /* startable */
    /* a block of piece 0 is free again: only peers with piece 0 are concerned */
    sh_picker_unrequest(p, 0, 1);
    assert_false(sh_picker_still_empty(p, v, &a));
    assert_true(sh_picker_still_empty(p, v, &b));
    assert_false(sh_picker_still_empty(p, v, NULL)); /* a seed has every piece */
    assert_false(sh_picker_quiet(p, 0));
    assert_int_equal(sh_picker_pick(p, &a, NULL, 100, 2, pk, 16), 1); /* and it was right */
    sh_picker_free(p);

    /* leaving max_partial concerns every peer */
    p = mk(8, 2 * B, 2 * B, 1, 1, 5);
    sh_bitfield c = bits(8, (uint32_t[]){2, 3}, 2);
    assert_int_equal(sh_picker_pick(p, &c, NULL, 100, 2, pk, 16), 1);
    uint32_t started = pk[0].piece;
    assert_int_equal(sh_picker_pick(p, &c, NULL, 100, 2, pk, 16), 0); /* full */
    v = sh_picker_version(p);
    assert_true(sh_picker_quiet(p, 5 - started)); /* 2 <-> 3: cannot start while full */
    assert_true(sh_picker_still_empty(p, v, &b));
    assert_int_equal(sh_picker_received(p, started, 0), 0);
    assert_int_equal(sh_picker_received(p, started, 1), 1);
    assert_true(sh_picker_still_empty(p, v, &c)); /* arrivals open nothing */
    sh_picker_set_have(p, started);
    assert_false(sh_picker_still_empty(p, v, &b));
    assert_false(sh_picker_quiet(p, 5 - started));
    assert_int_equal(sh_picker_pick(p, &c, NULL, 100, 2, pk, 16), 1);
    assert_int_equal(pk[0].piece, 5 - started);
    sh_picker_free(p);
    sh_bitfield_free(&a);
    sh_bitfield_free(&b);
    sh_bitfield_free(&c);
}

static void test_performance(void **st)
{
    (void)st;
    enum { N = 100000, PEERS = 8, OPS = 10000 };
    sh_rng g;
    sh_rng_seed(&g, 99);
    sh_bitfield peers[PEERS];
    for (int k = 0; k < PEERS; k++) {
        peers[k] = bits(N, NULL, 0);
        random_bits(&peers[k], &g, 500);
    }
    double t0 = now_s();
    sh_picker *p = mk(N, 16 * B, 16 * B, 4, 64, 1);
    for (int k = 0; k < PEERS; k++)
        sh_picker_inc_bits(p, &peers[k]);
    double t1 = now_s();
    sh_pick pk[64];
    uint64_t blocks = 0;
    for (int op = 0; op < OPS; op++) {
        uint32_t i = (uint32_t)sh_rng_below(&g, N);
        if (op % 2)
            sh_picker_inc(p, i);
        else
            sh_picker_dec(p, i);
        const sh_bitfield *peer = &peers[op % PEERS];
        size_t n = sh_picker_pick(p, peer, NULL, 16, 16, pk, 64);
        for (size_t k = 0; k < n; k++) {
            blocks += pk[k].count;
            int done = 0;
            for (uint32_t b = pk[k].block; b < pk[k].block + pk[k].count; b++)
                done = sh_picker_received(p, pk[k].piece, b);
            if (done == 1) sh_picker_set_have(p, pk[k].piece);
        }
        assert_true(sh_picker_interesting(p, peer) || n == 0);
    }
    double t2 = now_s();
    printf("# picker: %d pieces, %d peers' bitfields in %.1f ms; %d updates + picks (%llu blocks, "
           "%u pieces done) in %.1f ms\n",
           N, PEERS, (t1 - t0) * 1e3, OPS, (unsigned long long)blocks, sh_picker_num_have(p),
           (t2 - t1) * 1e3);
    assert_true(blocks >= (uint64_t)OPS * 15);
#if defined(__SANITIZE_ADDRESS__)
    double limit = 10.0;
#else
    double limit = 1.0;
#endif
    assert_true(t2 - t0 < limit);
    sh_picker_free(p);
    for (int k = 0; k < PEERS; k++)
        sh_bitfield_free(&peers[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),          cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_rarest_first),    cmocka_unit_test(test_ties_spread),
        cmocka_unit_test(test_random_first),    cmocka_unit_test(test_partial_preferred),
        cmocka_unit_test(test_max_partial),     cmocka_unit_test(test_runs),
        cmocka_unit_test(test_last_piece),      cmocka_unit_test(test_endgame),
        cmocka_unit_test(test_received_errors), cmocka_unit_test(test_piece_failed),
        cmocka_unit_test(test_interesting),     cmocka_unit_test(test_model_stress),
        cmocka_unit_test(test_empty_pick_memo), cmocka_unit_test(test_performance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
