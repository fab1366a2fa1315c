/* test_io_seqread.c — sequential file streaming: exact bytes on both paths, truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/seqread.h"

#include <shoal/error.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static int setup(void **st)
{
    (void)st;
    snprintf(path, sizeof path, "/tmp/shoal-seqread-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    unlink(path);
    return 0;
}

/* A sparse file of size bytes with a marker byte (i % 251 + 1) every 1 MiB and at the end. */
static int make_file(uint64_t size)
{
    int fd = open(path, O_RDWR | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    for (uint64_t off = 0; off < size; off += 1u << 20) {
        uint8_t b = (uint8_t)(off % 251 + 1);
        assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    }
    if (size) {
        uint8_t b = 0xee;
        assert_int_equal(pwrite(fd, &b, 1, (off_t)(size - 1)), 1);
    }
    return fd;
}

typedef struct sink {
    uint64_t total;
    uint64_t sum; /* sum of (offset + 1) * byte: order-sensitive */
    size_t max_chunk;
    unsigned calls;
    int stop_after;  /* return 7 on this call (1-based), 0: never */
    int truncate_fd; /* ftruncate this fd to 4096 on the first call, -1: no */
} sink;

static int consume(void *ud, const uint8_t *p, size_t n)
{
    sink *s = ud;
    s->calls++;
    if (n > s->max_chunk) s->max_chunk = n;
    if (s->truncate_fd >= 0 && s->calls == 1) assert_int_equal(ftruncate(s->truncate_fd, 4096), 0);
    for (size_t i = 0; i < n; i++)
        if (p[i]) s->sum += (s->total + i + 1) * p[i];
    s->total += n;
    return s->calls == (unsigned)s->stop_after ? 7 : 0;
}

static uint64_t expected_sum(uint64_t size)
{
    uint64_t sum = 0;
    for (uint64_t off = 0; off < size; off += 1u << 20)
        if (off != size - 1) sum += (off + 1) * (off % 251 + 1);
    return size ? sum + size * 0xee : 0;
}

static void check_size(uint64_t size, size_t chunk, unsigned flags)
{
    int fd = make_file(size);
    sink s = {.truncate_fd = -1};
    int e = -1;
    assert_int_equal(sh_seqread(fd, size, chunk, flags, consume, &s, &e), 0);
    assert_int_equal(e, 0);
    assert_int_equal(s.total, size);
    assert_int_equal(s.sum, expected_sum(size));
    assert_true(s.max_chunk <= chunk);
    close(fd);
}

static void test_exact_bytes(void **st)
{
    (void)st;
    const uint64_t sizes[] = {0, 1, 65535, 65537, 3u << 20, (64u << 20) + 12345};
    for (unsigned flags = 0; flags <= SH_SEQREAD_NO_MMAP; flags++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            check_size(sizes[i], 65536, flags);
}

static void test_stop(void **st)
{
    (void)st;
    for (unsigned flags = 0; flags <= SH_SEQREAD_NO_MMAP; flags++) {
        int fd = make_file(1u << 20);
        sink s = {.truncate_fd = -1, .stop_after = 3};
        assert_int_equal(sh_seqread(fd, 1u << 20, 4096, flags, consume, &s, NULL), 7);
        assert_int_equal(s.calls, 3);
        close(fd);
    }
}

static void test_shorter_than_len(void **st)
{
    (void)st;
    for (unsigned flags = 0; flags <= SH_SEQREAD_NO_MMAP; flags++) {
        int fd = make_file(100000);
        sink s = {.truncate_fd = -1};
        assert_int_equal(sh_seqread(fd, 200000, 65536, flags, consume, &s, NULL), SH_ERANGE);
        close(fd);
    }
}

static void test_truncated_while_reading(void **st)
{
    (void)st;
    /* Mapped: the access past the new end raises SIGBUS, which must come back
     * as SH_ERANGE, not kill the process. Read: pread returns 0. */
    for (unsigned flags = 0; flags <= SH_SEQREAD_NO_MMAP; flags++) {
        int fd = make_file(8u << 20);
        sink s = {.truncate_fd = fd};
        assert_int_equal(sh_seqread(fd, 8u << 20, 65536, flags, consume, &s, NULL), SH_ERANGE);
        assert_true(s.total < (8u << 20));
        close(fd);
    }
    /* And the process still works normally afterwards, SIGBUS handler and all. */
    check_size(70000, 4096, 0);
}

static void test_bad_args(void **st)
{
    (void)st;
    int fd = make_file(10);
    sink s = {.truncate_fd = -1};
    assert_int_equal(sh_seqread(fd, 10, 0, 0, consume, &s, NULL), SH_EINVAL);
    close(fd);
    int e = 0;
    assert_int_equal(sh_seqread(-1, 10, 10, SH_SEQREAD_NO_MMAP, consume, &s, &e), SH_EIO);
    assert_int_equal(e, EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),      cmocka_unit_test(test_stop),
        cmocka_unit_test(test_shorter_than_len), cmocka_unit_test(test_truncated_while_reading),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
