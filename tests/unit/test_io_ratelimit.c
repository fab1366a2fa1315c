/* test_io_ratelimit.c — the token bucket with explicit times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/ratelimit.h"

#define T0 SH_SEC(1000)

static void test_unlimited(void **st)
{
    (void)st;
    sh_ratelimit rl;
    sh_ratelimit_init(&rl, 0, T0);
    assert_true(sh_ratelimit_unlimited(&rl));
    assert_int_equal(sh_ratelimit_take(&rl, T0, 1ull << 40), 1ull << 40);
    assert_int_equal(sh_ratelimit_take(&rl, T0, 1ull << 40), 1ull << 40);
    assert_int_equal(sh_ratelimit_wait(&rl, T0, 1ull << 40), 0);
    assert_int_equal(sh_ratelimit_available(&rl, T0), UINT64_MAX);
}

static void test_burst_size(void **st)
{
    (void)st;
    sh_ratelimit rl;
    sh_ratelimit_init(&rl, 1000, T0); /* tiny rate: the 16 KiB floor */
    assert_int_equal(rl.burst, 16384);
    sh_ratelimit_init(&rl, 10000000, T0); /* 10 MB/s: a tenth of a second */
    assert_int_equal(rl.burst, 1000000);
    /* Starts full, grants no more than it holds. */
    assert_int_equal(sh_ratelimit_take(&rl, T0, 3000000), 1000000);
    assert_int_equal(sh_ratelimit_take(&rl, T0, 1), 0);
}

static void test_refill_exact(void **st)
{
    (void)st;
    sh_ratelimit rl;
    sh_ratelimit_init(&rl, 1000000, T0); /* 1 MB/s, burst 100000 */
    assert_int_equal(sh_ratelimit_take(&rl, T0, 100000), 100000);
    /* 10 ms earn 10000 bytes, exactly. */
    assert_int_equal(sh_ratelimit_available(&rl, T0 + SH_MS(10)), 10000);
    assert_int_equal(sh_ratelimit_take(&rl, T0 + SH_MS(10), 4000), 4000);
    assert_int_equal(sh_ratelimit_take(&rl, T0 + SH_MS(10), 10000), 6000);
    /* Fractions carry over: 1.5 us steps earn 1.5 bytes each, 3 bytes per pair. */
    sh_time t = T0 + SH_MS(10);
    uint64_t total = 0;
    for (int i = 0; i < 1000; i++) {
        t += 1500;
        total += sh_ratelimit_take(&rl, t, 1000);
    }
    assert_int_equal(total, 1500);
    /* Never more than the bucket, however long the pause. */
    assert_int_equal(sh_ratelimit_available(&rl, t + SH_SEC(3600)), 100000);
    /* Time going backwards earns nothing and breaks nothing. */
    assert_int_equal(sh_ratelimit_take(&rl, t, 100000), 100000);
    assert_int_equal(sh_ratelimit_take(&rl, t - SH_SEC(1), 10), 0);
}

static void test_wait(void **st)
{
    (void)st;
    sh_ratelimit rl;
    sh_ratelimit_init(&rl, 3000, T0); /* 3000 B/s: 1 byte per 333333.33 ns */
    assert_int_equal(sh_ratelimit_wait(&rl, T0, 100), 0);
    assert_int_equal(sh_ratelimit_take(&rl, T0, 16384), 16384);
    sh_time w = sh_ratelimit_wait(&rl, T0, 1);
    assert_int_equal(w, 333334); /* rounded up, never early */
    assert_int_equal(sh_ratelimit_take(&rl, T0 + w - 1, 1), 0);
    assert_int_equal(sh_ratelimit_take(&rl, T0 + w, 1), 1);
    /* Asking for more than the burst waits for a full bucket, not forever. */
    sh_time full = sh_ratelimit_wait(&rl, T0 + w, 1u << 30);
    assert_true(sh_ratelimit_available(&rl, T0 + w + full - 1) < 16384);
    assert_int_equal(sh_ratelimit_available(&rl, T0 + w + full), 16384);
    /* Partial credit counts toward the wait. */
    sh_ratelimit_init(&rl, 1000000, T0);
    sh_ratelimit_take(&rl, T0, 100000);
    assert_int_equal(sh_ratelimit_wait(&rl, T0 + 500, 10), 10000 - 500);
}

static void test_give_back_and_set_rate(void **st)
{
    (void)st;
    sh_ratelimit rl;
    sh_ratelimit_init(&rl, 1000000, T0);
    assert_int_equal(sh_ratelimit_take(&rl, T0, 60000), 60000);
    sh_ratelimit_give_back(&rl, 50000);
    assert_int_equal(sh_ratelimit_available(&rl, T0), 90000);
    sh_ratelimit_give_back(&rl, 50000); /* capped at the burst */
    assert_int_equal(sh_ratelimit_available(&rl, T0), 100000);
    /* Lowering the rate caps the tokens at the new (floor) burst. */
    sh_ratelimit_set_rate(&rl, 100000, T0);
    assert_int_equal(rl.burst, 16384);
    assert_int_equal(sh_ratelimit_available(&rl, T0), 16384);
    sh_ratelimit_take(&rl, T0, 16384);
    assert_int_equal(sh_ratelimit_available(&rl, T0 + SH_MS(100)), 10000);
    /* To unlimited and back. */
    sh_ratelimit_set_rate(&rl, 0, T0 + SH_MS(100));
    assert_int_equal(sh_ratelimit_take(&rl, T0 + SH_MS(100), 1u << 30), 1u << 30);
}

/* Over a long run the grant rate converges on the configured rate. */
static void test_long_run_rate(void **st)
{
    (void)st;
    sh_ratelimit rl;
    uint64_t rate = 5u << 20;
    sh_ratelimit_init(&rl, rate, T0);
    uint64_t total = 0;
    sh_time t = T0;
    while (t < T0 + SH_SEC(10)) {
        uint64_t got = sh_ratelimit_take(&rl, t, 262144);
        total += got;
        t += got == 262144 ? 1000 : sh_ratelimit_wait(&rl, t, 16384);
    }
    /* 10 s at 5 MiB/s plus the initial burst; never above, barely below. */
    uint64_t max = 10 * rate + rl.burst;
    assert_true(total <= max);
    assert_true(total >= max - 262144);
}

/* Charged bytes beyond the tokens are debt: nothing is available until
 * refills have repaid it, and the wait counts it; so over any interval
 * the bytes sent stay within rate × t + burst. */
static void test_charge_debt(void **st)
{
    (void)st;
    sh_ratelimit rl;
    sh_ratelimit_init(&rl, 100000, T0); /* 100 kB/s, burst 16384 */
    sh_ratelimit_charge(&rl, T0, 20000); /* 16384 from the bucket, 3616 owed */
    assert_int_equal(sh_ratelimit_available(&rl, T0), 0);
    assert_int_equal(rl.debt, 3616);
    /* 10 ms earn 1000 bytes: all go to the debt */
    assert_int_equal(sh_ratelimit_available(&rl, T0 + SH_MS(10)), 0);
    assert_int_equal(rl.debt, 2616);
    /* 1000 tokens are ready once 2616 more bytes have been earned */
    sh_time w = sh_ratelimit_wait(&rl, T0 + SH_MS(10), 1000);
    assert_int_equal(w, 36160000);
    assert_int_equal(sh_ratelimit_take(&rl, T0 + SH_MS(10) + w, 1000), 1000);
    assert_int_equal(rl.debt, 0);
    /* give_back repays debt first */
    sh_ratelimit_charge(&rl, T0 + SH_MS(10) + w, 500);
    sh_ratelimit_give_back(&rl, 800);
    assert_int_equal(rl.debt, 0);
    assert_int_equal(sh_ratelimit_available(&rl, T0 + SH_MS(10) + w), 300);
    /* unlimited: nothing is owed */
    sh_ratelimit_set_rate(&rl, 0, T0 + SH_SEC(1));
    sh_ratelimit_charge(&rl, T0 + SH_SEC(1), 1u << 20);
    assert_int_equal(rl.debt, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited),
        cmocka_unit_test(test_burst_size),
        cmocka_unit_test(test_refill_exact),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_give_back_and_set_rate),
        cmocka_unit_test(test_charge_debt),
        cmocka_unit_test(test_long_run_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
