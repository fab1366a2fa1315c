/* test_io_floodgate.c — per-address request buckets with explicit times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/floodgate.h"

#include <shoal/error.h>
#include <string.h>

#define T0 SH_SEC(1000)

static const uint8_t KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static sh_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    sh_addr x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
    x.port = 6881;
    return x;
}

static unsigned admit_n(sh_floodgate *f, const sh_addr *a, sh_time now, unsigned n)
{
    unsigned ok = 0;
    for (unsigned i = 0; i < n; i++)
        ok += sh_floodgate_admit(f, a, now);
    return ok;
}

static void test_burst_then_rate(void **st)
{
    (void)st;
    sh_floodgate *f;
    assert_int_equal(sh_floodgate_new(100, 0, 0, KEY, &f), 0); /* burst 200 */
    sh_addr a = v4(127, 0, 0, 2);
    /* A full bucket: exactly the burst at one instant. */
    assert_int_equal(admit_n(f, &a, T0, 1000), 200);
    assert_int_equal(sh_floodgate_refused(f), 800);
    /* 10 ms at 100/s earn exactly one request. */
    assert_int_equal(admit_n(f, &a, T0 + SH_MS(10), 5), 1);
    assert_int_equal(admit_n(f, &a, T0 + SH_MS(19), 5), 0);
    assert_int_equal(admit_n(f, &a, T0 + SH_MS(20), 5), 1);
    /* Over one second at most rate more. */
    unsigned ok = 0;
    for (unsigned ms = 21; ms <= 1020; ms++)
        ok += admit_n(f, &a, T0 + SH_MS(ms), 3);
    assert_int_equal(ok, 100);
    /* Idle long enough: full again, never more than the burst. */
    assert_int_equal(admit_n(f, &a, T0 + SH_SEC(60), 1000), 200);
    sh_floodgate_free(f);
}

static void test_addresses_independent(void **st)
{
    (void)st;
    sh_floodgate *f;
    assert_int_equal(sh_floodgate_new(10, 20, 0, KEY, &f), 0);
    sh_addr a = v4(127, 0, 0, 2), b = v4(127, 0, 0, 3), a2 = a;
    a2.port = 1; /* same host, other port: same bucket */
    assert_int_equal(admit_n(f, &a, T0, 50), 20);
    assert_int_equal(admit_n(f, &a2, T0, 5), 0);
    assert_int_equal(admit_n(f, &b, T0, 50), 20);
    sh_floodgate_free(f);
}

static void test_ipv6_by_prefix(void **st)
{
    (void)st;
    sh_floodgate *f;
    assert_int_equal(sh_floodgate_new(10, 20, 0, KEY, &f), 0);
    sh_addr a = {0}, b, c;
    a.family = 6;
    a.ip[0] = 0x20, a.ip[1] = 0x01, a.ip[15] = 1;
    b = a;
    b.ip[15] = 2; /* same /64 */
    c = a;
    c.ip[7] = 1; /* another /64 */
    assert_int_equal(admit_n(f, &a, T0, 20), 20);
    assert_int_equal(admit_n(f, &b, T0, 5), 0);
    assert_int_equal(admit_n(f, &c, T0, 5), 5);
    /* An IPv4 address whose bytes match the v6 prefix is another key. */
    sh_addr d = v4(0x20, 0x01, 0, 0);
    assert_int_equal(admit_n(f, &d, T0, 5), 5);
    sh_floodgate_free(f);
}

static void test_table_bounded(void **st)
{
    (void)st;
    sh_floodgate *f;
    /* 8 slots: one set, so every address competes for the same 8 ways. */
    assert_int_equal(sh_floodgate_new(1, 1, 8, KEY, &f), 0);
    for (uint8_t i = 1; i <= 7; i++) {
        sh_addr x = v4(10, 0, 0, i);
        assert_true(sh_floodgate_admit(f, &x, T0));
    }
    sh_addr flood = v4(10, 0, 1, 1);
    assert_int_equal(admit_n(f, &flood, T0 + SH_SEC(5), 3), 1);
    /* Newcomers take the idle ways, never the throttled address's. */
    for (uint8_t i = 1; i <= 100; i++) {
        sh_addr y = v4(10, 0, 2, i);
        assert_true(sh_floodgate_admit(f, &y, T0 + SH_SEC(5)));
        assert_false(sh_floodgate_admit(f, &flood, T0 + SH_SEC(5)));
    }
    /* Forgotten idle addresses start over with a full bucket (one request). */
    sh_addr x1 = v4(10, 0, 0, 1);
    assert_int_equal(admit_n(f, &x1, T0 + SH_SEC(5), 3), 1);
    sh_floodgate_free(f);
}

static void test_disabled_and_bad(void **st)
{
    (void)st;
    sh_floodgate *f;
    assert_int_equal(sh_floodgate_new(0, 0, 0, KEY, &f), 0);
    sh_addr a = v4(127, 0, 0, 2);
    assert_int_equal(admit_n(f, &a, T0, 100000), 100000);
    assert_int_equal(sh_floodgate_refused(f), 0);
    sh_floodgate_free(f);
    assert_int_equal(sh_floodgate_new(10, 0, (1u << 24) + 1, KEY, &f), SH_EINVAL);
    sh_floodgate_free(NULL);
}

static void test_huge_rate(void **st)
{
    (void)st;
    sh_floodgate *f;
    /* Faster than one per ns: the period floors at 1 ns, never 0 (= off). */
    assert_int_equal(sh_floodgate_new(2000000000u, 4, 0, KEY, &f), 0);
    sh_addr a = v4(127, 0, 0, 2);
    assert_int_equal(admit_n(f, &a, T0, 10), 4);
    sh_floodgate_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),  cmocka_unit_test(test_addresses_independent),
        cmocka_unit_test(test_ipv6_by_prefix),   cmocka_unit_test(test_table_bounded),
        cmocka_unit_test(test_disabled_and_bad), cmocka_unit_test(test_huge_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
