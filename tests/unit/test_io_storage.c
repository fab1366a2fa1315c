/* test_io_storage.c — torrents on disk: write, read, sendfile, finalize, resume,
 * complete output, seeding checks, symlink refusal and the many-files (LRU) path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/storage.h"
#include "torrent_fixture.h"

#define PL 32768u

static const fx_spec MULTI[] = {
    {"a/x.bin", 100000, false},  {"a/y.bin", 1, false}, {"b.bin", PL, true},
    {"c/d/e.bin", 70001, false}, {"c/empty", 0, false}, {"z.bin", 5000, false},
};
#define NMULTI (sizeof MULTI / sizeof MULTI[0])

/* ---- temp dirs and file helpers ---- */

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(p);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/shoal-storage-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s;
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    return s;
}

static bool exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* The whole content of a regular file. */
static uint8_t *slurp(const char *p, size_t *len)
{
    int fd = open(p, O_RDONLY);
    if (fd < 0) fail_msg("open %s: %s", p, strerror(errno));
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t *buf = malloc((size_t)sb.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
    close(fd);
    *len = (size_t)sb.st_size;
    return buf;
}

/* ---- what the storage must hold ---- */

static void write_pieces(sh_storage *st, const fx *t, uint32_t from, uint32_t to)
{
    for (uint32_t p = from; p < to; p++)
        assert_int_equal(
            sh_storage_write_piece(st, p, fx_piece(t, p), sh_metainfo_piece_size(t->mi, p)), 0);
}

/* Whole pieces, every 16 KiB block, and odd ranges that cross file and pad boundaries. */
static void check_reads(sh_storage *st, const fx *t)
{
    const sh_metainfo *mi = t->mi;
    uint8_t *buf = malloc(mi->piece_length);
    assert_non_null(buf);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(mi, p);
        memset(buf, 0xaa, len);
        assert_int_equal(sh_storage_read(st, p, 0, buf, len), 0);
        assert_memory_equal(buf, fx_piece(t, p), len);
        for (uint32_t off = 0; off < len; off += SH_BLOCK_SIZE) {
            uint32_t n = len - off < SH_BLOCK_SIZE ? len - off : SH_BLOCK_SIZE;
            assert_int_equal(sh_storage_read(st, p, off, buf, n), 0);
            assert_memory_equal(buf, fx_piece(t, p) + off, n);
        }
        if (len > 7) {
            assert_int_equal(sh_storage_read(st, p, 3, buf, len - 7), 0);
            assert_memory_equal(buf, fx_piece(t, p) + 3, len - 7);
        }
        assert_int_equal(sh_storage_read(st, p, 0, buf, len + 1), SH_ERANGE);
        assert_int_equal(sh_storage_read(st, p, len, buf, 1), SH_ERANGE);
        assert_int_equal(sh_storage_read(st, p, len, buf, 0), 0);
    }
    assert_int_equal(sh_storage_read(st, mi->num_pieces, 0, buf, 1), SH_ERANGE);
    free(buf);
}

/* Reads everything available on fd (non-blocking) into out at *got. */
static void drain(int fd, uint8_t *out, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t k = read(fd, out + *got, cap - *got);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        assert_true(k > 0);
        *got += (size_t)k;
        assert_true(*got <= cap);
        if (*got == cap) return;
    }
}

/* Sends (piece, off, len) through a connected pair until all of it arrived at peer. */
static void send_range(sh_storage *st, int s, int peer, uint32_t p, uint32_t off, uint32_t len,
                       uint8_t *out)
{
    size_t got = 0;
    uint32_t sent = 0;
    while (sent < len) {
        ssize_t k = sh_storage_sendfile(st, s, p, off + sent, len - sent);
        assert_true(k >= 0 && k <= (ssize_t)(len - sent));
        sent += (uint32_t)k;
        drain(peer, out, len, &got);
    }
    while (got < len)
        drain(peer, out, len, &got);
}

static void socket_pair(int sv[2], int sndbuf)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    if (sndbuf)
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
}

/* A connected loopback TCP pair, both ends non-blocking. */
static void tcp_pair(int sv[2], int sndbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 1), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sv[0] >= 0);
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    assert_int_equal(connect(sv[0], (struct sockaddr *)&a, sizeof a), 0);
    sv[1] = accept(ls, NULL, NULL);
    assert_true(sv[1] >= 0);
    close(ls);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

/*
 * Every piece, whole, back to back, draining the peer only when the sender
 * would block, so short sends and would-blocks happen. Returns would-blocks.
 */
static unsigned stream_all(sh_storage *st, const fx *t, int s, int peer)
{
    const sh_metainfo *mi = t->mi;
    uint8_t *out = malloc(mi->total_size);
    assert_non_null(out);
    size_t got = 0;
    unsigned blocked = 0;
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(mi, p);
        for (uint32_t sent = 0; sent < len;) {
            ssize_t k = sh_storage_sendfile(st, s, p, sent, len - sent);
            assert_true(k >= 0 && k <= (ssize_t)(len - sent));
            if (k == 0) {
                blocked++;
                drain(peer, out, mi->total_size, &got);
            }
            sent += (uint32_t)k;
        }
    }
    while (got < mi->total_size)
        drain(peer, out, mi->total_size, &got);
    assert_memory_equal(out, t->space, mi->total_size);
    free(out);
    return blocked;
}

static void check_sendfile(sh_storage *st, const fx *t)
{
    const sh_metainfo *mi = t->mi;
    int sv[2];
    socket_pair(sv, 0);
    uint8_t *buf = malloc(mi->piece_length);
    assert_non_null(buf);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(mi, p);
        for (uint32_t off = 0; off < len; off += SH_BLOCK_SIZE) {
            uint32_t n = len - off < SH_BLOCK_SIZE ? len - off : SH_BLOCK_SIZE;
            memset(buf, 0xaa, n);
            send_range(st, sv[0], sv[1], p, off, n, buf);
            assert_memory_equal(buf, fx_piece(t, p) + off, n);
        }
    }
    /* Whole pieces back to back through a small send buffer: short sends and would-block. */
    close(sv[0]), close(sv[1]);
    socket_pair(sv, 4096);
    assert_true(stream_all(st, t, sv[0], sv[1]) > 0);
    close(sv[0]), close(sv[1]);
    tcp_pair(sv, 4096);
    assert_true(stream_all(st, t, sv[0], sv[1]) > 0);
    assert_true(sh_storage_sendfile(st, sv[0], mi->num_pieces, 0, 1) < 0);
    /* A closed TCP peer: the first send may still succeed, then the reset is reported. */
    close(sv[1]);
    ssize_t k = 0;
    for (int i = 0; i < 200 && k >= 0; i++) {
        k = sh_storage_sendfile(st, sv[0], 0, 0, 100);
        if (k >= 0) usleep(1000);
    }
    assert_int_equal(k, SH_ECLOSED);
    close(sv[0]);
    /* A closed local peer: at once, and never as a signal. */
    socket_pair(sv, 0);
    close(sv[1]);
    assert_int_equal(sh_storage_sendfile(st, sv[0], 0, 0, 100), SH_ECLOSED);
    close(sv[0]);
    free(buf);
}

/* Relative paths and sizes of the regular files under root, "path:size\n" sorted. */
static char listing[1 << 18];
static size_t listing_len;
static size_t listing_root;
static int list_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    assert_int_not_equal(type, FTW_SL); /* no symlinks ever */
    if (type == FTW_F)
        listing_len += (size_t)snprintf(listing + listing_len, sizeof listing - listing_len,
                                        "%s:%lld\n", p + listing_root, (long long)sb->st_size);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sort_lines(char *text)
{
    char *lines[4096];
    size_t n = 0;
    for (char *l = strtok(text, "\n"); l && n < 4096; l = strtok(NULL, "\n"))
        lines[n++] = strdup(l);
    qsort(lines, n, sizeof *lines, cmp_str);
    char *end = text;
    *end = '\0';
    for (size_t i = 0; i < n; i++) {
        end = stpcpy(stpcpy(end, lines[i]), "\n");
        free(lines[i]);
    }
}

/* The tree under root holds exactly the torrent's non-pad files with the right bytes. */
static void check_tree(const fx *t, const char *root)
{
    const sh_metainfo *mi = t->mi;
    static char want[1 << 18];
    size_t wl = 0;
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (f->pad) continue;
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "/%s:%llu\n", f->path,
                               (unsigned long long)f->length);
        char *p = pathf("%s/%s", root, f->path);
        size_t n;
        uint8_t *have = slurp(p, &n);
        assert_int_equal(n, f->length);
        if (n) assert_memory_equal(have, t->space + f->offset, n);
        struct stat sb;
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, f->executable ? 0755 : 0644);
        free(have);
        free(p);
    }
    listing_len = 0;
    listing[0] = '\0';
    listing_root = strlen(root);
    assert_int_equal(nftw(root, list_one, 16, FTW_PHYS), 0);
    sort_lines(listing);
    sort_lines(want);
    assert_string_equal(listing, want);
}

/* ---- tests ---- */

static void test_single_file(void **s)
{
    (void)s;
    const unsigned versions[] = {SH_META_V1, SH_META_HYBRID};
    for (int v = 0; v < 2; v++) {
        fx_spec one = {NULL, 5 * PL + 1234, false};
        fx t;
        fx_build(&t, versions[v], PL, "one.bin", &one, 1);
        char *dir = tmpdir();
        sh_storage *st;
        sh_errinfo ei = {0};
        assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), 0);
        char *part = pathf("%s/one.bin.part", dir), *final = pathf("%s/one.bin", dir);
        assert_string_equal(sh_storage_path(st), part);
        assert_string_equal(sh_storage_final_path(st), final);
        assert_false(sh_storage_is_final(st));
        struct stat sb;
        assert_int_equal(stat(part, &sb), 0);
        assert_int_equal(sb.st_size, one.len);       /* full size at once */
        assert_true(sb.st_blocks * 512 < (off_t)PL); /* and sparse */
        write_pieces(st, &t, 0, t.mi->num_pieces);
        check_reads(st, &t);
        check_sendfile(st, &t);
        assert_int_equal(sh_storage_finalize(st, &ei), 0);
        assert_true(sh_storage_is_final(st));
        assert_string_equal(sh_storage_path(st), final);
        assert_false(exists(part));
        check_reads(st, &t); /* descriptors survive the rename */
        size_t n;
        uint8_t *have = slurp(final, &n);
        assert_int_equal(n, one.len);
        assert_memory_equal(have, t.space, n);
        free(have);
        sh_storage_close(st);
        /* Seeding from the file itself. */
        assert_int_equal(sh_storage_open(t.mi, final, true, &st, &ei), 0);
        assert_true(sh_storage_is_final(st));
        check_reads(st, &t);
        assert_int_equal(sh_storage_write_piece(st, 0, t.space, PL), SH_EIO);
        assert_int_equal(sh_storage_finalize(st, &ei), SH_EINVAL);
        sh_storage_close(st);
        rm_rf(dir);
        free(dir), free(part), free(final);
        fx_free(&t);
    }
}

static void test_multi_file(void **s)
{
    (void)s;
    const unsigned versions[] = {SH_META_V1, SH_META_V2, SH_META_HYBRID};
    for (int v = 0; v < 3; v++) {
        fx t;
        fx_build(&t, versions[v], PL, "multi", MULTI, NMULTI);
        char *dir = tmpdir();
        sh_storage *st;
        sh_errinfo ei = {0};
        assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), 0);
        char *part = pathf("%s/multi.part", dir), *final = pathf("%s/multi", dir);
        char *empty = pathf("%s/c/empty", part);
        assert_true(exists(empty)); /* empty files are created up front */
        write_pieces(st, &t, 0, t.mi->num_pieces);
        check_reads(st, &t);
        check_sendfile(st, &t);
        check_tree(&t, part); /* no pad file ever reaches the disk */
        assert_int_equal(sh_storage_finalize(st, &ei), 0);
        assert_false(exists(part));
        check_tree(&t, final);
        check_reads(st, &t);
        assert_int_equal(sh_storage_finalize(st, &ei), 0); /* already final: nothing to do */
        sh_storage_close(st);
        rm_rf(dir);
        free(dir), free(part), free(final), free(empty);
        fx_free(&t);
    }
}

/* Pads read as zeros from storage even though nothing was written there. */
static void test_pads_zero(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, NMULTI);
    const sh_metainfo *mi = t.mi;
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    write_pieces(st, &t, 0, mi->num_pieces);
    unsigned pads = 0;
    uint8_t buf[PL];
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (!f->pad) continue;
        uint32_t p = (uint32_t)(f->offset / PL), off = (uint32_t)(f->offset % PL);
        memset(buf, 0xee, sizeof buf);
        assert_int_equal(sh_storage_read(st, p, off, buf, (uint32_t)f->length), 0);
        for (uint64_t k = 0; k < f->length; k++)
            assert_int_equal(buf[k], 0);
        pads++;
    }
    assert_true(pads >= 3);
    sh_storage_close(st);
    rm_rf(dir);
    free(dir);
    fx_free(&t);
}

/* Close without finalize, reopen: the .part is resumed with what was written. */
static void test_resume(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, NMULTI);
    const sh_metainfo *mi = t.mi;
    uint32_t half = mi->num_pieces / 2;
    char *dir = tmpdir();
    sh_storage *st;
    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    write_pieces(st, &t, 0, half);
    sh_storage_close(st); /* "crash" */

    assert_int_equal(sh_storage_open(mi, dir, false, &st, NULL), 0);
    assert_false(sh_storage_is_final(st));
    uint8_t *buf = malloc(PL);
    assert_non_null(buf);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(mi, p);
        assert_int_equal(sh_storage_read(st, p, 0, buf, len), 0);
        if (p < half) {
            assert_memory_equal(buf, fx_piece(&t, p), len);
        } else {
            for (uint32_t k = 0; k < len; k++)
                assert_int_equal(buf[k], 0);
        }
    }
    write_pieces(st, &t, half, mi->num_pieces);
    sh_errinfo ei = {0};
    assert_int_equal(sh_storage_finalize(st, &ei), 0);
    sh_storage_close(st);

    /* Complete output already there: opened as final, nothing created or renamed. */
    assert_int_equal(sh_storage_open(mi, dir, false, &st, &ei), 0);
    assert_true(sh_storage_is_final(st));
    char *final = pathf("%s/multi", dir), *part = pathf("%s/multi.part", dir);
    assert_string_equal(sh_storage_path(st), final);
    assert_false(exists(part));
    check_reads(st, &t);
    assert_int_equal(sh_storage_finalize(st, &ei), 0);
    sh_storage_close(st);
    check_tree(&t, final);

    /* A complete output of the wrong size is an error naming the file. */
    char *z = pathf("%s/z.bin", final);
    assert_int_equal(truncate(z, 4999), 0);
    assert_int_equal(sh_storage_open(mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, z));
    assert_non_null(strstr(ei.msg, "4999"));
    free(buf), free(final), free(part), free(z);
    rm_rf(dir);
    free(dir);
    fx_free(&t);
}

/* A .part file longer than the torrent says is not ours to truncate. */
static void test_part_too_long(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V1, PL, "multi", MULTI, NMULTI);
    char *dir = tmpdir();
    sh_storage *st;
    sh_errinfo ei = {0};
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, NULL), 0);
    sh_storage_close(st);
    char *p = pathf("%s/multi.part/a/y.bin", dir);
    assert_int_equal(truncate(p, 2), 0);
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, p));
    assert_non_null(strstr(ei.msg, "truncate"));
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 2); /* untouched */
    /* A shorter one is just extended. */
    assert_int_equal(truncate(p, 0), 0);
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), 0);
    sh_storage_close(st);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 1);
    free(p);
    rm_rf(dir);
    free(dir);
    fx_free(&t);
}

static void test_seed_errors(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_HYBRID, PL, "multi", MULTI, NMULTI);
    char *dir = tmpdir();
    sh_storage *st;
    sh_errinfo ei = {0};
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, NULL), 0);
    write_pieces(st, &t, 0, t.mi->num_pieces);
    assert_int_equal(sh_storage_finalize(st, NULL), 0);
    sh_storage_close(st);
    char *root = pathf("%s/multi", dir);

    assert_int_equal(sh_storage_open(t.mi, root, true, &st, &ei), 0);
    check_reads(st, &t);
    check_sendfile(st, &t);
    sh_storage_close(st);

    char *e = pathf("%s/c/d/e.bin", root), *moved = pathf("%s/e.bin", dir);
    assert_int_equal(rename(e, moved), 0);
    memset(&ei, 0, sizeof ei);
    assert_int_equal(sh_storage_open(t.mi, root, true, &st, &ei), SH_ENOTFOUND);
    assert_non_null(strstr(ei.msg, e));
    assert_non_null(strstr(ei.msg, "does not exist"));

    assert_int_equal(rename(moved, e), 0);
    assert_int_equal(truncate(e, 70002), 0);
    assert_int_equal(sh_storage_open(t.mi, root, true, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, e));
    assert_non_null(strstr(ei.msg, "70002"));
    assert_non_null(strstr(ei.msg, "70001"));

    assert_int_equal(truncate(e, 70001), 0);
    char *empty = pathf("%s/c/empty", root);
    assert_int_equal(unlink(empty), 0);
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(sh_storage_open(t.mi, root, true, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, empty));
    assert_non_null(strstr(ei.msg, "regular"));

    char *nowhere = pathf("%s/nowhere", dir);
    assert_int_equal(sh_storage_open(t.mi, nowhere, true, &st, &ei), SH_ENOTFOUND);
    assert_non_null(strstr(ei.msg, nowhere));
    assert_int_equal(sh_storage_open(t.mi, nowhere, false, &st, &ei), SH_ENOTFOUND);
    assert_non_null(strstr(ei.msg, nowhere));
    free(root), free(e), free(moved), free(empty), free(nowhere);
    rm_rf(dir);
    free(dir);
    fx_free(&t);
}

/* Links planted in the output tree never lead a write outside it. */
static void test_symlinks_refused(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V1, PL, "multi", MULTI, NMULTI);
    char *dir = tmpdir(), *outside = tmpdir();
    sh_storage *st;
    sh_errinfo ei = {0};
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, NULL), 0);
    sh_storage_close(st);

    /* A directory of the tree replaced by a link to somewhere else. */
    char *c = pathf("%s/multi.part/c", dir), *cmoved = pathf("%s/c.moved", dir);
    assert_int_equal(rename(c, cmoved), 0);
    assert_int_equal(symlink(outside, c), 0);
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, "symlink"));
    assert_non_null(strstr(ei.msg, "c/d/e.bin"));
    char *leak = pathf("%s/d", outside);
    assert_false(exists(leak)); /* nothing was created through the link */
    assert_int_equal(unlink(c), 0);
    assert_int_equal(rename(cmoved, c), 0);

    /* A file replaced by a link to a file outside. */
    char *victim = pathf("%s/victim", outside), *z = pathf("%s/multi.part/z.bin", dir);
    int fd = open(victim, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(unlink(z), 0);
    assert_int_equal(symlink(victim, z), 0);
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, "symlink"));
    struct stat sb;
    assert_int_equal(stat(victim, &sb), 0);
    assert_int_equal(sb.st_size, 0); /* not extended */
    assert_int_equal(unlink(z), 0);

    /* The .part root itself, and the final name, as links. */
    char *part = pathf("%s/multi.part", dir), *pmoved = pathf("%s/part.moved", dir);
    assert_int_equal(rename(part, pmoved), 0);
    assert_int_equal(symlink(outside, part), 0);
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, "symlink"));
    assert_int_equal(unlink(part), 0);
    char *final = pathf("%s/multi", dir);
    assert_int_equal(symlink(pmoved, final), 0);
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, "symlink"));
    assert_int_equal(unlink(final), 0);

    /* Seeding: a link inside the tree is refused too (create skips them). */
    assert_int_equal(rename(pmoved, final), 0);
    char *zf = pathf("%s/z.bin", final);
    assert_int_equal(symlink(victim, zf), 0);
    assert_int_equal(sh_storage_open(t.mi, final, true, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, zf));
    assert_non_null(strstr(ei.msg, "symlink"));

    /* Single file: <name>.part as a link. */
    fx_spec one = {NULL, 1000, false};
    fx t1;
    fx_build(&t1, SH_META_V1, PL, "one.bin", &one, 1);
    char *p1 = pathf("%s/one.bin.part", dir);
    assert_int_equal(symlink(victim, p1), 0);
    assert_int_equal(sh_storage_open(t1.mi, dir, false, &st, &ei), SH_EIO);
    assert_non_null(strstr(ei.msg, "symlink"));
    assert_int_equal(stat(victim, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    fx_free(&t1);

    free(c), free(cmoved), free(leak), free(victim), free(z), free(part), free(pmoved);
    free(final), free(zf), free(p1);
    rm_rf(dir), rm_rf(outside);
    free(dir), free(outside);
    fx_free(&t);
}

/* finalize refuses to replace an output that appeared meanwhile. */
static void test_finalize_refuses_existing(void **s)
{
    (void)s;
    fx t;
    fx_build(&t, SH_META_V1, PL, "multi", MULTI, NMULTI);
    char *dir = tmpdir();
    sh_storage *st;
    sh_errinfo ei = {0};
    assert_int_equal(sh_storage_open(t.mi, dir, false, &st, NULL), 0);
    write_pieces(st, &t, 0, t.mi->num_pieces);
    char *final = pathf("%s/multi", dir);
    assert_int_equal(mkdir(final, 0755), 0);
    assert_int_equal(sh_storage_finalize(st, &ei), SH_EEXIST);
    assert_non_null(strstr(ei.msg, final));
    assert_false(sh_storage_is_final(st));
    assert_int_equal(rmdir(final), 0);
    assert_int_equal(sh_storage_finalize(st, &ei), 0);
    sh_storage_close(st);
    check_tree(&t, final);
    free(final);
    rm_rf(dir);
    free(dir);
    fx_free(&t);
}

static unsigned count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* 2000 small files: more than are kept open, so descriptors come from the LRU cache. */
static void test_many_files(void **s)
{
    (void)s;
    enum { N = 2000 };
    fx_spec *files = calloc(N, sizeof *files);
    char(*names)[32] = calloc(N, sizeof *names);
    assert_non_null(files);
    assert_non_null(names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "d%02d/f%04d.bin", i % 17, i);
        files[i] = (fx_spec){names[i], (uint64_t)(i * 37 % 301) + 1, i % 5 == 0};
    }
    const unsigned versions[] = {SH_META_V1, SH_META_HYBRID};
    for (int v = 0; v < 2; v++) {
        fx t;
        fx_build(&t, versions[v], 16384, "many", files, N);
        char *dir = tmpdir();
        sh_storage *st;
        sh_errinfo ei = {0};
        unsigned before = count_fds();
        assert_int_equal(sh_storage_open(t.mi, dir, false, &st, &ei), 0);
        write_pieces(st, &t, 0, t.mi->num_pieces);
        check_reads(st, &t);
        assert_true(count_fds() < before + 100); /* bounded, not one per file */
        assert_int_equal(sh_storage_finalize(st, &ei), 0);
        check_reads(st, &t); /* lazily reopened after the rename */
        check_sendfile(st, &t);
        assert_true(count_fds() < before + 100);
        sh_storage_close(st);
        assert_int_equal(count_fds(), before);
        char *final = pathf("%s/many", dir);
        check_tree(&t, final);
        assert_int_equal(sh_storage_open(t.mi, final, true, &st, &ei), 0);
        check_reads(st, &t);
        sh_storage_close(st);
        free(final);
        rm_rf(dir);
        free(dir);
        fx_free(&t);
    }
    free(files);
    free(names);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the driver does: sendfile has no MSG_NOSIGNAL */
    umask(022);               /* the modes checked are 0644 and 0755 */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),      cmocka_unit_test(test_multi_file),
        cmocka_unit_test(test_pads_zero),        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_part_too_long),    cmocka_unit_test(test_seed_errors),
        cmocka_unit_test(test_symlinks_refused), cmocka_unit_test(test_finalize_refuses_existing),
        cmocka_unit_test(test_many_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
