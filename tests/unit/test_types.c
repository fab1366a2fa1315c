/* test_types.c — addresses, compact forms, hex. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <shoal/types.h>
#include <shoal/error.h>

static void roundtrip(const char *in, const char *expect)
{
    sh_addr a;
    char buf[SH_ADDR_STRLEN];
    assert_int_equal(sh_addr_parse(in, &a), 0);
    assert_string_equal(sh_addr_format(&a, buf, sizeof buf), expect);
}

static void test_addr_v4(void **st)
{
    (void)st;
    roundtrip("127.0.0.2:6881", "127.0.0.2:6881");
    roundtrip("0.0.0.0:0", "0.0.0.0:0");
    roundtrip("255.255.255.255:65535", "255.255.255.255:65535");
}

static void test_addr_v6(void **st)
{
    (void)st;
    roundtrip("[::1]:80", "[::1]:80");
    roundtrip("[::]:1", "[::]:1");
    roundtrip("[2001:db8:0:0:1:0:0:1]:9", "[2001:db8::1:0:0:1]:9");
    roundtrip("[fe80::1:2]:7", "[fe80::1:2]:7");
    roundtrip("[::ffff:1.2.3.4]:5", "[::ffff:102:304]:5");
}

static void test_addr_bad(void **st)
{
    (void)st;
    const char *bad[] = {"", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3:5", "1.2.3.4.5:6",
                         "256.1.1.1:1", "01.2.3.4:5", "::1:80", "[::1]", "[::1]80", "[1:2:3:4:5:6:7:8:9]:1",
                         "[1::2::3]:1", "a.b.c.d:1", "1.2.3.4:-1", "[:1]:1", "[1:]:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sh_addr a;
        if (sh_addr_parse(bad[i], &a) == 0) fail_msg("accepted %s", bad[i]);
    }
}

static void test_compact(void **st)
{
    (void)st;
    const uint8_t c4[6] = {127, 0, 0, 3, 0x1a, 0xe1};
    sh_addr a;
    assert_int_equal(sh_addr_from_compact(c4, 6, &a), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(a.port, 6881);
    uint8_t out[18];
    assert_int_equal(sh_addr_to_compact(&a, out), 6);
    assert_memory_equal(out, c4, 6);
    assert_int_equal(sh_addr_from_compact(c4, 5, &a), SH_EINVAL);
}

static void test_hex(void **st)
{
    (void)st;
    uint8_t b[3] = {0x00, 0xab, 0xff}, back[3];
    char h[7];
    assert_string_equal(sh_hex(b, 3, h), "00abff");
    assert_int_equal(sh_unhex("00ABff", 6, back, 3), 0);
    assert_memory_equal(b, back, 3);
    assert_int_equal(sh_unhex("00abf", 5, back, 3), SH_EINVAL);
    assert_int_equal(sh_unhex("00abfg", 6, back, 3), SH_EINVAL);
}

static void test_errors(void **st)
{
    (void)st;
    assert_string_equal(sh_errname(SH_EBENCODE), "EBENCODE");
    assert_string_equal(sh_strerror(12345), "unknown error");
    sh_errinfo ei;
    assert_int_equal(sh_errinfo_set(&ei, SH_EPATH, 7, "bad %s", "x"), SH_EPATH);
    assert_string_equal(ei.msg, "bad x");
    assert_int_equal(sh_errinfo_set(NULL, SH_EPATH, 7, "bad"), SH_EPATH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_v4), cmocka_unit_test(test_addr_v6), cmocka_unit_test(test_addr_bad),
        cmocka_unit_test(test_compact), cmocka_unit_test(test_hex),     cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
