/* test_io_readfile.c — bounded whole-file reads: sizes at and past the bound, non-files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/readfile.h"

#include <shoal/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/shoal-readfile-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *make(const char *name, size_t n)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc((int)(i * 7 % 251), f);
    fclose(f);
    return path;
}

static void test_exact_bound(void **st)
{
    (void)st;
    const char *p = make("a", 1000);
    uint8_t *buf = NULL;
    size_t len = 0;
    int e = -1;
    assert_int_equal(sh_readfile(p, 1000, &buf, &len, &e), 0);
    assert_int_equal(len, 1000);
    assert_int_equal(e, 0);
    assert_int_equal(buf[999], 999 * 7 % 251);
    assert_int_equal(buf[1000], 0);
    free(buf);
}

static void test_one_past_bound(void **st)
{
    (void)st;
    const char *p = make("b", 1001);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sh_readfile(p, 1000, &buf, &len, NULL), SH_ELIMIT);
    assert_null(buf);
}

static void test_empty(void **st)
{
    (void)st;
    const char *p = make("c", 0);
    uint8_t *buf = NULL;
    size_t len = 99;
    assert_int_equal(sh_readfile(p, 10, &buf, &len, NULL), 0);
    assert_int_equal(len, 0);
    assert_non_null(buf);
    free(buf);
}

static void test_large_grows(void **st)
{
    (void)st;
    const char *p = make("d", 300000); /* several doublings from the 4 KiB start */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sh_readfile(p, 1u << 20, &buf, &len, NULL), 0);
    assert_int_equal(len, 300000);
    assert_int_equal(buf[299999], 299999ul * 7 % 251);
    free(buf);
}

static void test_missing_and_dir(void **st)
{
    (void)st;
    char p[128];
    snprintf(p, sizeof p, "%s/nope", dir);
    uint8_t *buf = NULL;
    size_t len;
    int e = 0;
    assert_int_equal(sh_readfile(p, 10, &buf, &len, &e), SH_EIO);
    assert_int_equal(e, ENOENT);
    assert_int_equal(sh_readfile(dir, 10, &buf, &len, &e), SH_EIO);
    assert_int_equal(e, EISDIR);
    assert_null(buf);
}

static void test_unbounded_device(void **st)
{
    (void)st;
    /* /dev/zero never ends and has st_size 0: the bound must hold while reading. */
    uint8_t *buf = NULL;
    size_t len;
    assert_int_equal(sh_readfile("/dev/zero", 100000, &buf, &len, NULL), SH_ELIMIT);
    assert_null(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bound),     cmocka_unit_test(test_one_past_bound),
        cmocka_unit_test(test_empty),           cmocka_unit_test(test_large_grows),
        cmocka_unit_test(test_missing_and_dir), cmocka_unit_test(test_unbounded_device),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
