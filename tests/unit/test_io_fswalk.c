/* test_io_fswalk.c — directory walking: order, sizes, symlinks, special files, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/fswalk.h"

#include <shoal/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void rmtree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **st)
{
    (void)st;
    snprintf(root, sizeof root, "/tmp/shoal-fswalk-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    rmtree();
    return 0;
}

static const char *at(const char *rel)
{
    static char path[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", root, rel);
    return path[k];
}

static void mkfile(const char *rel, size_t n, mode_t mode)
{
    FILE *f = fopen(at(rel), "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc('x', f);
    fclose(f);
    assert_int_equal(chmod(at(rel), mode), 0);
}

static void fresh(void)
{
    rmtree();
    assert_int_equal(mkdir(root, 0755), 0);
}

typedef struct warns {
    int count;
    char last[512];
} warns;

static void on_warn(void *ud, const char *path, const char *why)
{
    warns *w = ud;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s: %s", path, why);
}

static void test_tree_sorted(void **st)
{
    (void)st;
    fresh();
    assert_int_equal(mkdir(at("b"), 0755), 0);
    assert_int_equal(mkdir(at("b/deep"), 0755), 0);
    mkfile("z", 3, 0644);
    mkfile("b/deep/x", 5, 0755);
    mkfile("a.txt", 0, 0644);
    mkfile("b/a", 7, 0644);
    assert_int_equal(mkdir(at("emptydir"), 0755), 0);
    sh_fslist l;
    assert_int_equal(sh_fswalk(root, NULL, &l, NULL, NULL, 0), 0);
    assert_true(l.root_is_dir);
    assert_int_equal(l.count, 4);
    assert_int_equal(l.total, 15);
    assert_string_equal(l.files[0].relpath, "a.txt");
    assert_string_equal(l.files[1].relpath, "b/a");
    assert_string_equal(l.files[2].relpath, "b/deep/x");
    assert_string_equal(l.files[3].relpath, "z");
    assert_int_equal(l.files[0].size, 0);
    assert_int_equal(l.files[2].size, 5);
    assert_true(l.files[2].executable);
    assert_false(l.files[1].executable);
    sh_fslist_free(&l);
}

static void test_single_file(void **st)
{
    (void)st;
    fresh();
    mkfile("one", 42, 0644);
    sh_fslist l;
    assert_int_equal(sh_fswalk(at("one"), NULL, &l, NULL, NULL, 0), 0);
    assert_false(l.root_is_dir);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.files[0].relpath, "");
    assert_int_equal(l.files[0].size, 42);
    sh_fslist_free(&l);
}

static void test_symlinks_skipped(void **st)
{
    (void)st;
    fresh();
    mkfile("real", 4, 0644);
    assert_int_equal(symlink("/etc/passwd", at("out")), 0);
    assert_int_equal(symlink("real", at("in")), 0);
    warns w = {0};
    sh_fswalk_opts o = {.warn = on_warn, .ud = &w};
    sh_fslist l;
    assert_int_equal(sh_fswalk(root, &o, &l, NULL, NULL, 0), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.files[0].relpath, "real");
    assert_int_equal(w.count, 2);
    assert_non_null(strstr(w.last, "symlink skipped"));
    sh_fslist_free(&l);
    /* The root itself may be a symlink: the user named it. */
    sh_fslist l2;
    assert_int_equal(sh_fswalk(at("in"), NULL, &l2, NULL, NULL, 0), 0);
    assert_int_equal(l2.count, 1);
    assert_int_equal(l2.files[0].size, 4);
    sh_fslist_free(&l2);
}

static void test_fifo_refused(void **st)
{
    (void)st;
    fresh();
    mkfile("ok", 1, 0644);
    assert_int_equal(mkfifo(at("pipe"), 0644), 0);
    sh_fslist l;
    char where[512];
    assert_int_equal(sh_fswalk(root, NULL, &l, NULL, where, sizeof where), SH_EUNSUPPORTED);
    assert_non_null(strstr(where, "/pipe"));
    assert_null(l.files);
    assert_int_equal(sh_fswalk(at("pipe"), NULL, &l, NULL, NULL, 0), SH_EUNSUPPORTED);
}

static void test_missing(void **st)
{
    (void)st;
    fresh();
    sh_fslist l;
    int e = 0;
    assert_int_equal(sh_fswalk(at("nope"), NULL, &l, &e, NULL, 0), SH_EIO);
    assert_int_equal(e, ENOENT);
}

static void test_exclude(void **st)
{
    (void)st;
    fresh();
    mkfile("data", 10, 0644);
    mkfile("out.torrent", 10, 0644);
    struct stat s;
    assert_int_equal(stat(at("out.torrent"), &s), 0);
    sh_fswalk_opts o = {.have_exclude = true, .exclude_dev = s.st_dev, .exclude_ino = s.st_ino};
    sh_fslist l;
    assert_int_equal(sh_fswalk(root, &o, &l, NULL, NULL, 0), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.files[0].relpath, "data");
    sh_fslist_free(&l);
}

static void test_empty_tree(void **st)
{
    (void)st;
    fresh();
    assert_int_equal(mkdir(at("d"), 0755), 0);
    sh_fslist l;
    assert_int_equal(sh_fswalk(root, NULL, &l, NULL, NULL, 0), 0);
    assert_int_equal(l.count, 0);
    assert_int_equal(l.total, 0);
    sh_fslist_free(&l);
}

static void test_depth_limit(void **st)
{
    (void)st;
    fresh();
    /* SH_META_MAX_PATH_DEPTH components are fine, one more is not. */
    char rel[512] = "";
    for (unsigned i = 0; i + 1 < SH_META_MAX_PATH_DEPTH; i++) {
        strcat(rel, i ? "/d" : "d");
        assert_int_equal(mkdir(at(rel), 0755), 0);
    }
    char file[600];
    snprintf(file, sizeof file, "%s/f", rel);
    mkfile(file, 1, 0644);
    sh_fslist l;
    assert_int_equal(sh_fswalk(root, NULL, &l, NULL, NULL, 0), 0);
    assert_int_equal(l.count, 1);
    sh_fslist_free(&l);
    strcat(rel, "/d");
    assert_int_equal(mkdir(at(rel), 0755), 0);
    snprintf(file, sizeof file, "%s/g", rel);
    mkfile(file, 1, 0644);
    assert_int_equal(sh_fswalk(root, NULL, &l, NULL, NULL, 0), SH_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_sorted),      cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_symlinks_skipped), cmocka_unit_test(test_fifo_refused),
        cmocka_unit_test(test_missing),          cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_empty_tree),       cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
