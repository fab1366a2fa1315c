/* test_rate.c — the EWMA byte-rate estimator. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shoal/rate.h>

#define T0 SH_SEC(50)

static void test_steady(void **st)
{
    (void)st;
    sh_rate r;
    sh_rate_init(&r, T0);
    assert_true(sh_rate_get(&r, T0) == 0.0);
    /* 100 KB every 100 ms = 1 MB/s */
    for (int i = 0; i < 100; i++)
        sh_rate_add(&r, 100000, T0 + SH_MS(100) * (sh_time)i);
    double v = sh_rate_get(&r, T0 + SH_SEC(10));
    assert_true(v > 0.99e6 && v < 1.01e6);
    assert_int_equal(r.total, 10000000);
}

static void test_warmup_unbiased(void **st)
{
    (void)st;
    sh_rate r;
    sh_rate_init(&r, T0);
    sh_rate_add(&r, 500000, T0 + SH_MS(10)); /* 500 KB in the first 500 ms tick */
    assert_false(sh_rate_warm(&r, T0 + SH_MS(400)));
    assert_true(sh_rate_get(&r, T0 + SH_MS(400)) == 0.0); /* tick not finished */
    double v = sh_rate_get(&r, T0 + SH_MS(500));
    assert_true(v > 0.999e6 && v < 1.001e6); /* the mean, not a quarter of it */
    assert_false(sh_rate_warm(&r, T0 + SH_MS(1900)));
    assert_true(sh_rate_warm(&r, T0 + SH_MS(2000)));
}

static void test_decay_and_const(void **st)
{
    (void)st;
    sh_rate r;
    sh_rate_init(&r, T0);
    for (int i = 0; i < 20; i++)
        sh_rate_add(&r, 50000, T0 + SH_MS(100) * (sh_time)i);
    double a = sh_rate_get(&r, T0 + SH_SEC(2));
    double b = sh_rate_get(&r, T0 + SH_SEC(4));
    assert_true(b < a / 2);                            /* silence pulls it down */
    assert_true(sh_rate_get(&r, T0 + SH_SEC(4)) == b); /* reading changes nothing */
    assert_true(sh_rate_get(&r, T0 + SH_SEC(3600)) == 0.0);
    /* a clock that went backwards is "no time passed": the bytes join the
     * current interval instead of creating a huge unsigned one */
    sh_rate_add(&r, 1000, T0 - SH_SEC(1));
    double c = sh_rate_get(&r, T0 + SH_SEC(2));
    assert_true(c > a && c <= a + 1000 / 0.5 / 4 + 1);
}

/* Idle intervals read at once equal the same intervals read one by one
 * (each keeps 3/4 of a warm average), whether 1, 5 or 63 of them. */
static void test_idle_at_once(void **st)
{
    (void)st;
    for (int k = 1; k < 64; k += 31) {
        sh_rate a, b;
        sh_rate_init(&a, T0);
        for (int i = 0; i < 40; i++)
            sh_rate_add(&a, 10000, T0 + SH_MS(100) * (sh_time)i);
        b = a;
        sh_time end = T0 + SH_SEC(4) + SH_RATE_TICK * (sh_time)k;
        for (sh_time t = T0 + SH_SEC(4); t <= end; t += SH_RATE_TICK)
            sh_rate_add(&b, 0, t); /* one interval at a time */
        double once = sh_rate_get(&a, end), steps = sh_rate_get(&b, end);
        assert_true(once > 0.0);
        assert_true(once > steps * (1 - 1e-12) && once < steps * (1 + 1e-12));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady),
        cmocka_unit_test(test_warmup_unbiased),
        cmocka_unit_test(test_decay_and_const),
        cmocka_unit_test(test_idle_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
