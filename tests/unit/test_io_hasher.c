/* test_io_hasher.c — the hashing pool on a real loop: verify-and-write, check jobs,
 * corrupted pieces, exactly-once results, and teardown with work in flight. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/hasher.h"
#include "torrent_fixture.h"

#define PL 32768u

static const fx_spec MULTI[] = {
    {"a/x.bin", 300000, false},   {"a/y.bin", 1, false}, {"b.bin", PL, true},
    {"c/d/e.bin", 170001, false}, {"c/empty", 0, false}, {"z.bin", 5000, false},
};
#define NMULTI (sizeof MULTI / sizeof MULTI[0])

typedef struct run {
    sh_loop *loop;
    sh_hasher *h;
    uint32_t n;      /* pieces */
    unsigned *calls; /* per piece */
    int *result;     /* per piece */
    unsigned total;  /* callbacks so far */
    unsigned expect; /* stop the loop after this many */
    bool free_in_cb; /* free the hasher from the first callback */
    bool timed_out;
} run;

static void on_done(void *ud, uint32_t piece, int result)
{
    run *r = ud;
    assert_true(piece < r->n);
    r->calls[piece]++;
    r->result[piece] = result;
    r->total++;
    if (r->free_in_cb) {
        sh_hasher_free(r->h);
        r->h = NULL;
        r->free_in_cb = false;
    } else {
        assert_int_equal(sh_hasher_pending(r->h), r->expect - r->total);
    }
    if (r->total == r->expect) sh_loop_stop(r->loop);
}

static void on_timeout(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    ((run *)ud)->timed_out = true;
    sh_loop_stop(l);
}

static void run_init(run *r, uint32_t n)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(sh_loop_new(&r->loop), 0);
    r->n = n;
    r->calls = calloc(n, sizeof *r->calls);
    r->result = calloc(n, sizeof *r->result);
    assert_non_null(r->calls);
    assert_non_null(r->result);
}

/* Runs the loop until `expect` results arrived (or a generous timeout). */
static void run_until(run *r, unsigned expect, unsigned timeout_ms)
{
    r->expect = expect;
    uint64_t t = sh_loop_timer(r->loop, sh_clock_now() + SH_MS(timeout_ms), on_timeout, r);
    assert_true(t > 0);
    assert_int_equal(sh_loop_run(r->loop), 0);
    sh_loop_cancel(r->loop, t);
}

static void run_free(run *r)
{
    sh_hasher_free(r->h);
    sh_loop_free(r->loop);
    free(r->calls);
    free(r->result);
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(p);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/shoal-hasher-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_rf(char *d)
{
    nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static void check_stored(sh_storage *st, const fx *t, uint32_t bad)
{
    uint8_t *buf = malloc(t->mi->piece_length);
    assert_non_null(buf);
    for (uint32_t p = 0; p < t->mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(t->mi, p);
        assert_int_equal(sh_storage_read(st, p, 0, buf, len), 0);
        if (p == bad) { /* never written: the sparse .part still reads zeros */
            for (uint32_t k = 0; k < len; k++)
                assert_int_equal(buf[k], 0);
        } else {
            assert_memory_equal(buf, fx_piece(t, p), len);
        }
    }
    free(buf);
}

static void write_all(unsigned version, unsigned threads)
{
    fx t;
    fx_build(&t, version, PL, "multi", MULTI, NMULTI);
    const sh_metainfo *mi = t.mi;
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    run r;
    run_init(&r, mi->num_pieces);
    assert_int_equal(sh_hasher_new(r.loop, mi, st, threads, on_done, &r, &r.h), 0);

    /* One corrupted piece among good ones. */
    uint32_t bad = mi->num_pieces / 2;
    uint8_t *corrupt = malloc(PL);
    assert_non_null(corrupt);
    memcpy(corrupt, fx_piece(&t, bad), sh_metainfo_piece_size(mi, bad));
    corrupt[100] ^= 0x40;
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        const uint8_t *data = p == bad ? corrupt : fx_piece(&t, p);
        assert_int_equal(sh_hasher_submit_write(r.h, p, data, sh_metainfo_piece_size(mi, p)), 0);
    }
    assert_int_equal(sh_hasher_pending(r.h), mi->num_pieces);
    assert_int_equal(sh_hasher_submit_write(r.h, mi->num_pieces, corrupt, PL), SH_ERANGE);
    assert_int_equal(sh_hasher_submit_write(r.h, 0, corrupt, PL - 1), SH_ERANGE);
    assert_int_equal(sh_hasher_submit_check(r.h, mi->num_pieces), SH_ERANGE);

    run_until(&r, mi->num_pieces, 20000);
    assert_false(r.timed_out);
    assert_int_equal(sh_hasher_pending(r.h), 0);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        assert_int_equal(r.calls[p], 1);
        assert_int_equal(r.result[p], p == bad ? SH_EHASH : 0);
    }
    check_stored(st, &t, bad);
    run_free(&r);
    sh_storage_close(st);
    free(corrupt);
    rm_rf(dir);
    fx_free(&t);
}

static void test_write_1_thread(void **s)
{
    (void)s;
    write_all(SH_META_V1, 1);
    write_all(SH_META_HYBRID, 1);
}

static void test_write_3_threads(void **s)
{
    (void)s;
    write_all(SH_META_HYBRID, 3);
    write_all(SH_META_V2, 3);
    write_all(SH_META_V1, 0); /* the default pool size */
}

/* Many small pieces through 3 threads: every result exactly once, all stored. */
static void test_many_pieces(void **s)
{
    (void)s;
    fx_spec one = {NULL, 3000u * 16384u - 77u, false};
    fx t;
    fx_build(&t, SH_META_HYBRID, 16384, "many.bin", &one, 1);
    const sh_metainfo *mi = t.mi;
    assert_int_equal(mi->num_pieces, 3000);
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    run r;
    run_init(&r, mi->num_pieces);
    assert_int_equal(sh_hasher_new(r.loop, mi, st, 3, on_done, &r, &r.h), 0);
    for (uint32_t p = 0; p < mi->num_pieces; p++)
        assert_int_equal(
            sh_hasher_submit_write(r.h, p, fx_piece(&t, p), sh_metainfo_piece_size(mi, p)), 0);
    run_until(&r, mi->num_pieces, 30000);
    assert_false(r.timed_out);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        assert_int_equal(r.calls[p], 1);
        assert_int_equal(r.result[p], 0);
    }
    check_stored(st, &t, UINT32_MAX);
    run_free(&r);
    sh_storage_close(st);
    rm_rf(dir);
    fx_free(&t);
}

/* Check jobs: a good tree passes; a byte damaged on disk fails exactly its piece. */
static void test_check(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, NMULTI);
    const sh_metainfo *mi = t.mi;
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    for (uint32_t p = 0; p < mi->num_pieces; p++)
        assert_int_equal(
            sh_storage_write_piece(st, p, fx_piece(&t, p), sh_metainfo_piece_size(mi, p)), 0);
    assert_int_equal(sh_storage_finalize(st, NULL), 0);
    sh_storage_close(st);

    char *root = malloc(strlen(dir) + 8);
    assert_non_null(root);
    sprintf(root, "%s/multi", dir);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(sh_storage_open(mi, root, true, &st, NULL), 0);
        run r;
        run_init(&r, mi->num_pieces);
        assert_int_equal(sh_hasher_new(r.loop, mi, st, 2, on_done, &r, &r.h), 0);
        for (uint32_t p = 0; p < mi->num_pieces; p++)
            assert_int_equal(sh_hasher_submit_check(r.h, p), 0);
        run_until(&r, mi->num_pieces, 20000);
        assert_false(r.timed_out);
        uint32_t damaged = UINT32_MAX;
        if (round == 1) {
            /* the byte at offset 150000 of c/d/e.bin was damaged below */
            for (uint32_t i = 0; i < mi->num_files; i++)
                if (strcmp(mi->files[i].path, "c/d/e.bin") == 0)
                    damaged = (uint32_t)((mi->files[i].offset + 150000) / PL);
        }
        for (uint32_t p = 0; p < mi->num_pieces; p++) {
            assert_int_equal(r.calls[p], 1);
            assert_int_equal(r.result[p], p == damaged ? SH_EHASH : 0);
        }
        run_free(&r);
        sh_storage_close(st);
        if (round == 0) {
            char path[512];
            snprintf(path, sizeof path, "%s/c/d/e.bin", root);
            int fd = open(path, O_WRONLY);
            assert_true(fd >= 0);
            assert_int_equal(pwrite(fd, "X", 1, 150000), 1);
            close(fd);
        }
    }
    free(root);
    rm_rf(dir);
    fx_free(&t);
}

/* The writer's failure path: a storage opened for seeding refuses writes, so
 * a piece that verifies comes back SH_EIO (from the writer) and a corrupt
 * one SH_EHASH (from the worker, never reaching the writer). */
static void test_write_fails(void **s)
{
    (void)s;
    fx_spec one = {NULL, 3u * PL, false};
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "one.bin", &one, 1);
    const sh_metainfo *mi = t.mi;
    char *dir = tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/one.bin", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)one.len), 0);
    close(fd);
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, path, true, &st, NULL), 0);
    run r;
    run_init(&r, mi->num_pieces);
    assert_int_equal(sh_hasher_new(r.loop, mi, st, 2, on_done, &r, &r.h), 0);
    uint8_t *corrupt = malloc(PL);
    assert_non_null(corrupt);
    memcpy(corrupt, fx_piece(&t, 1), PL);
    corrupt[PL - 1] ^= 1;
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        const uint8_t *data = p == 1 ? corrupt : fx_piece(&t, p);
        assert_int_equal(sh_hasher_submit_write(r.h, p, data, PL), 0);
    }
    run_until(&r, mi->num_pieces, 20000);
    assert_false(r.timed_out);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        assert_int_equal(r.calls[p], 1);
        assert_int_equal(r.result[p], p == 1 ? SH_EHASH : SH_EIO);
    }
    run_free(&r);
    sh_storage_close(st);
    free(corrupt);
    rm_rf(dir);
    fx_free(&t);
}

/* Freed with work queued: no callback ever runs, nothing leaks (ASan), the loop stays sane. */
static void test_free_pending(void **s)
{
    (void)s;
    fx_spec one = {NULL, 64u << 20, false};
    fx t;
    fx_build(&t, SH_META_V1, 1u << 20, "big.bin", &one, 1);
    const sh_metainfo *mi = t.mi;
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    for (int round = 0; round < 3; round++) {
        run r;
        run_init(&r, mi->num_pieces);
        assert_int_equal(sh_hasher_new(r.loop, mi, st, 2, on_done, &r, &r.h), 0);
        for (uint32_t p = 0; p < mi->num_pieces; p++) {
            if (p % 2)
                assert_int_equal(sh_hasher_submit_check(r.h, p), 0);
            else
                assert_int_equal(sh_hasher_submit_write(r.h, p, fx_piece(&t, p), 1u << 20), 0);
        }
        if (round > 0) usleep(round * 20000); /* let some finish and post */
        sh_hasher_free(r.h);
        r.h = NULL;
        /* Wake-ups posted before the free find nothing to deliver. */
        run_until(&r, 1, 100);
        assert_true(r.timed_out);
        assert_int_equal(r.total, 0);
        run_free(&r);
    }
    sh_storage_close(st);
    rm_rf(dir);
    fx_free(&t);
}

/* A callback may free the hasher; remaining results are dropped, not delivered to freed memory. */
static void test_free_in_callback(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V1, PL, "multi", MULTI, NMULTI);
    const sh_metainfo *mi = t.mi;
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    run r;
    run_init(&r, mi->num_pieces);
    assert_int_equal(sh_hasher_new(r.loop, mi, st, 2, on_done, &r, &r.h), 0);
    for (uint32_t p = 0; p < mi->num_pieces; p++)
        assert_int_equal(
            sh_hasher_submit_write(r.h, p, fx_piece(&t, p), sh_metainfo_piece_size(mi, p)), 0);
    usleep(50000); /* most results wait in the done list behind one wake-up */
    r.free_in_cb = true;
    run_until(&r, mi->num_pieces, 200);
    assert_true(r.timed_out);
    assert_int_equal(r.total, 1);
    assert_null(r.h);
    run_free(&r);
    sh_storage_close(st);
    rm_rf(dir);
    fx_free(&t);
}

static void test_bad_args(void **s)
{
    (void)s;
    fx_spec one = {NULL, 1000, false};
    fx t;
    fx_build(&t, SH_META_V1, PL, "one.bin", &one, 1);
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_hasher *h;
    assert_int_equal(sh_hasher_new(l, t.mi, NULL, 1, on_done, NULL, &h), SH_EINVAL);
    assert_int_equal(sh_hasher_new(NULL, t.mi, NULL, 1, on_done, NULL, &h), SH_EINVAL);
    assert_int_equal(sh_hasher_pending(NULL), 0);
    sh_hasher_free(NULL);
    sh_loop_free(l);
    fx_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_1_thread), cmocka_unit_test(test_write_3_threads),
        cmocka_unit_test(test_many_pieces),    cmocka_unit_test(test_check),
        cmocka_unit_test(test_free_pending),   cmocka_unit_test(test_free_in_callback),
        cmocka_unit_test(test_bad_args),       cmocka_unit_test(test_write_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
