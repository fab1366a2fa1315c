/* test_bitfield.c — wire order, spare bits, counts, scans against a naive model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/bitfield.h>

static const uint32_t SIZES[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000003};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static uint64_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* The naive model: one bool per bit. */
static uint32_t naive_next(const bool *m, uint32_t n, uint32_t from, bool want)
{
    for (uint32_t i = from; i < n; i++)
        if (m[i] == want) return i;
    return n;
}

static uint32_t naive_count(const bool *m, uint32_t n)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += m[i];
    return c;
}

static void check_against(const sh_bitfield *bf, const bool *m, uint32_t n)
{
    assert_int_equal(bf->nbits, n);
    assert_int_equal(bf->count, naive_count(m, n));
    size_t nb = sh_bitfield_bytes(n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(sh_bitfield_get(bf, i), m[i]);
        /* wire order: bit 7 of byte 0 is piece 0 */
        assert_int_equal((bf->bits[i / 8] >> (7 - i % 8)) & 1, m[i]);
    }
    if (n % 8) assert_int_equal(bf->bits[nb - 1] & (0xff >> (n % 8)), 0); /* spare bits zero */
    assert_false(sh_bitfield_get(bf, n));
    assert_false(sh_bitfield_get(bf, UINT32_MAX));
    assert_int_equal(sh_bitfield_full(bf), n == naive_count(m, n));
    assert_int_equal(sh_bitfield_empty(bf), naive_count(m, n) == 0);
}

/* Scans from every start (small sizes) or many random starts (large), against
 * next-set/next-clear tables built backwards in O(n). */
static void check_scans(const sh_bitfield *bf, const bool *m, uint32_t n)
{
    uint32_t *ns = malloc(((size_t)n + 1) * sizeof *ns), *nc = malloc(((size_t)n + 1) * sizeof *nc);
    assert_non_null(ns);
    assert_non_null(nc);
    ns[n] = nc[n] = n;
    for (uint32_t i = n; i-- > 0;) {
        ns[i] = m[i] ? i : ns[i + 1];
        nc[i] = m[i] ? nc[i + 1] : i;
    }
    if (n <= 200) assert_int_equal(ns[0], naive_next(m, n, 0, true));
    uint32_t tries = n <= 200 ? n + 1 : 20000;
    for (uint32_t t = 0; t < tries; t++) {
        uint32_t from = n <= 200 ? t : rng() % (n + 1);
        assert_int_equal(sh_bitfield_next_set(bf, from), ns[from]);
        assert_int_equal(sh_bitfield_next_clear(bf, from), nc[from]);
    }
    assert_int_equal(sh_bitfield_next_set(bf, n + 1), n);
    assert_int_equal(sh_bitfield_next_set(bf, UINT32_MAX), n);
    assert_int_equal(sh_bitfield_next_clear(bf, UINT32_MAX), n);
    free(ns);
    free(nc);
}

static void test_basic_sizes(void **st)
{
    (void)st;
    rng_state = 1;
    for (size_t s = 0; s < NSIZES; s++) {
        uint32_t n = SIZES[s];
        sh_bitfield bf;
        assert_int_equal(sh_bitfield_init(&bf, n), 0);
        bool *m = calloc(n + 1, 1);
        assert_non_null(m);
        check_against(&bf, m, n);
        check_scans(&bf, m, n);

        /* sparse random sets and clears, repeated indices included */
        for (uint32_t k = 0; k < (n < 100 ? 3 * n : 5000); k++) {
            uint32_t i = rng() % (n + 2); /* sometimes out of range: ignored */
            if (rng() % 3) {
                sh_bitfield_set(&bf, i);
                if (i < n) m[i] = true;
            } else {
                sh_bitfield_clear(&bf, i);
                if (i < n) m[i] = false;
            }
        }
        check_against(&bf, m, n);
        check_scans(&bf, m, n);

        sh_bitfield_set_all(&bf);
        for (uint32_t i = 0; i < n; i++)
            m[i] = true;
        check_against(&bf, m, n);
        check_scans(&bf, m, n);
        assert_true(sh_bitfield_full(&bf));

        /* one hole at the very end, then at the very start */
        if (n > 0) {
            sh_bitfield_clear(&bf, n - 1);
            m[n - 1] = false;
            sh_bitfield_clear(&bf, 0);
            m[0] = false;
            check_against(&bf, m, n);
            check_scans(&bf, m, n);
        }

        sh_bitfield_clear_all(&bf);
        memset(m, 0, n);
        check_against(&bf, m, n);
        /* a single bit at the very end */
        if (n > 0) {
            sh_bitfield_set(&bf, n - 1);
            m[n - 1] = true;
            assert_int_equal(sh_bitfield_next_set(&bf, 0), n - 1);
            check_against(&bf, m, n);
        }
        free(m);
        sh_bitfield_free(&bf);
        assert_null(bf.bits);
    }
    sh_bitfield_free(NULL);
}

static void test_load(void **st)
{
    (void)st;
    rng_state = 7;
    for (size_t s = 0; s < NSIZES; s++) {
        uint32_t n = SIZES[s];
        size_t nb = sh_bitfield_bytes(n);
        sh_bitfield bf;
        assert_int_equal(sh_bitfield_init(&bf, n), 0);
        uint8_t *w = calloc(nb + 2, 1);
        bool *m = calloc(n + 1, 1);
        assert_non_null(w);
        assert_non_null(m);
        for (uint32_t i = 0; i < n; i++) {
            m[i] = rng() & 1;
            if (m[i]) w[i / 8] |= (uint8_t)(0x80 >> (i % 8));
        }
        assert_int_equal(sh_bitfield_load(&bf, w, nb), 0);
        check_against(&bf, m, n);
        check_scans(&bf, m, n);
        assert_memory_equal(bf.bits, w, nb);

        /* wrong length: rejected, content unchanged */
        uint8_t *before = malloc(nb + 1);
        assert_non_null(before);
        memcpy(before, bf.bits, nb);
        uint32_t count = bf.count;
        uint8_t *other = calloc(nb + 2, 1);
        assert_non_null(other);
        memset(other, 0xaa, nb + 1);
        assert_int_equal(sh_bitfield_load(&bf, other, nb + 1), SH_EPROTO);
        if (nb > 0) assert_int_equal(sh_bitfield_load(&bf, other, nb - 1), SH_EPROTO);
        assert_memory_equal(bf.bits, before, nb);
        assert_int_equal(bf.count, count);

        /* each spare bit set: rejected, content unchanged */
        for (unsigned r = n % 8; r != 0 && r < 8; r++) {
            memcpy(other, w, nb);
            other[nb - 1] |= (uint8_t)(0x80 >> r);
            assert_int_equal(sh_bitfield_load(&bf, other, nb), SH_EPROTO);
            assert_memory_equal(bf.bits, before, nb);
            assert_int_equal(bf.count, count);
        }

        /* all ones (with spare zero) loads as full */
        if (nb > 0) {
            memset(other, 0xff, nb);
            if (n % 8) other[nb - 1] = (uint8_t)(0xff << (8 - n % 8));
            assert_int_equal(sh_bitfield_load(&bf, other, nb), 0);
            assert_true(sh_bitfield_full(&bf));
            assert_int_equal(sh_bitfield_next_clear(&bf, 0), n);
        }
        free(before);
        free(other);
        free(w);
        free(m);
        sh_bitfield_free(&bf);
    }
}

static void test_exact_wire(void **st)
{
    (void)st;
    sh_bitfield bf;
    assert_int_equal(sh_bitfield_init(&bf, 9), 0);
    sh_bitfield_set(&bf, 0);
    sh_bitfield_set(&bf, 8);
    assert_int_equal(bf.bits[0], 0x80);
    assert_int_equal(bf.bits[1], 0x80);
    sh_bitfield_set_all(&bf);
    assert_int_equal(bf.bits[0], 0xff);
    assert_int_equal(bf.bits[1], 0x80);
    assert_int_equal(bf.count, 9);
    uint8_t bad[2] = {0x00, 0x40};
    assert_int_equal(sh_bitfield_load(&bf, bad, 2), SH_EPROTO);
    assert_int_equal(bf.count, 9);
    uint8_t good[2] = {0x41, 0x00};
    assert_int_equal(sh_bitfield_load(&bf, good, 2), 0);
    assert_int_equal(bf.count, 2);
    assert_int_equal(sh_bitfield_next_set(&bf, 0), 1);
    assert_int_equal(sh_bitfield_next_set(&bf, 2), 7);
    assert_int_equal(sh_bitfield_next_set(&bf, 8), 9);
    assert_int_equal(sh_bitfield_next_clear(&bf, 1), 2);
    sh_bitfield_free(&bf);
}

static void test_has_missing(void **st)
{
    (void)st;
    rng_state = 99;
    for (size_t s = 0; s < NSIZES; s++) {
        uint32_t n = SIZES[s];
        sh_bitfield a, b;
        assert_int_equal(sh_bitfield_init(&a, n), 0);
        assert_int_equal(sh_bitfield_init(&b, n), 0);
        assert_false(sh_bitfield_has_missing(&a, &b));
        if (n == 0) goto done;
        /* b has a superset of a: nothing missing */
        for (uint32_t k = 0; k < 50; k++) {
            uint32_t i = rng() % n;
            sh_bitfield_set(&a, i);
            sh_bitfield_set(&b, i);
            sh_bitfield_set(&b, rng() % n);
        }
        assert_false(sh_bitfield_has_missing(&a, &b));
        assert_int_equal(sh_bitfield_has_missing(&b, &a), b.count > a.count);
        /* one bit of a that b lacks, at the last index */
        sh_bitfield_clear(&b, n - 1);
        sh_bitfield_set(&a, n - 1);
        assert_true(sh_bitfield_has_missing(&a, &b));
        sh_bitfield_set_all(&b);
        assert_false(sh_bitfield_has_missing(&a, &b));
    done:
        sh_bitfield_free(&a);
        sh_bitfield_free(&b);
    }
    /* mismatched sizes answer false rather than reading past the smaller one */
    sh_bitfield a, b;
    assert_int_equal(sh_bitfield_init(&a, 100), 0);
    assert_int_equal(sh_bitfield_init(&b, 8), 0);
    sh_bitfield_set_all(&a);
    assert_false(sh_bitfield_has_missing(&a, &b));
    sh_bitfield_free(&a);
    sh_bitfield_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_sizes),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_exact_wire),
        cmocka_unit_test(test_has_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
