/* test_io_atomicfile.c — all-or-nothing file writes: no partial file, no temp left, no clobber. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/atomicfile.h"

#include <shoal/error.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/shoal-atomic-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *at(const char *name)
{
    static char p[2][128];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_commit(void **st)
{
    (void)st;
    clean();
    sh_atomicfile af;
    assert_int_equal(sh_atomicfile_open(&af, at("out"), NULL), 0);
    assert_int_equal(entries(), 1); /* the temp file, before anything is written */
    assert_int_equal(access(at("out"), F_OK), -1);
    assert_int_equal(sh_atomicfile_commit(&af, "hello", 5, false, NULL), 0);
    sh_atomicfile_abort(&af); /* harmless after commit */
    char buf[32];
    slurp(at("out"), buf, sizeof buf);
    assert_string_equal(buf, "hello");
    assert_int_equal(entries(), 1);
}

static void test_no_clobber(void **st)
{
    (void)st;
    clean();
    FILE *f = fopen(at("out"), "wb");
    fputs("old", f);
    fclose(f);
    sh_atomicfile af;
    assert_int_equal(sh_atomicfile_open(&af, at("out"), NULL), 0);
    assert_int_equal(sh_atomicfile_commit(&af, "new", 3, false, NULL), SH_EEXIST);
    char buf[32];
    slurp(at("out"), buf, sizeof buf);
    assert_string_equal(buf, "old");
    assert_int_equal(entries(), 1); /* temp removed */
    assert_int_equal(sh_atomicfile_open(&af, at("out"), NULL), 0);
    assert_int_equal(sh_atomicfile_commit(&af, "new", 3, true, NULL), 0);
    slurp(at("out"), buf, sizeof buf);
    assert_string_equal(buf, "new");
    assert_int_equal(entries(), 1);
}

static void test_abort(void **st)
{
    (void)st;
    clean();
    sh_atomicfile af;
    assert_int_equal(sh_atomicfile_open(&af, at("out"), NULL), 0);
    sh_atomicfile_abort(&af);
    sh_atomicfile_abort(&af);
    assert_int_equal(entries(), 0);
    assert_int_equal(sh_atomicfile_commit(&af, "x", 1, true, NULL), SH_EINVAL);
}

static void test_missing_dir(void **st)
{
    (void)st;
    clean();
    sh_atomicfile af;
    int e = 0;
    assert_int_equal(sh_atomicfile_open(&af, at("no/such/out"), &e), SH_EIO);
    assert_int_equal(e, ENOENT);
    sh_atomicfile_abort(&af);
    assert_int_equal(entries(), 0);
}

static void test_stale_temp_not_removed(void **st)
{
    (void)st;
    clean();
    /* A file already at our temp name is someone else's: fail, and leave it. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", at("out"), (long)getpid());
    FILE *f = fopen(tmp, "wb");
    fclose(f);
    sh_atomicfile af;
    int e = 0;
    assert_int_equal(sh_atomicfile_open(&af, at("out"), &e), SH_EIO);
    assert_int_equal(e, EEXIST);
    assert_int_equal(access(tmp, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit),
        cmocka_unit_test(test_no_clobber),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_stale_temp_not_removed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
