/*
 * bench_disk.c — throughput of the disk side of the driver: the hasher
 * (check jobs: pread from the page cache + SHA-1 and/or merkle SHA-256) and
 * sh_storage_sendfile over a loopback TCP connection.
 *
 * Not a test: it prints figures. Build it against a normal build tree:
 *
 *   cmake -S . -B build -G Ninja && ninja -C build
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_disk.c \
 *      build/libshoal_io.a build/libshoal_core.a -lcrypto -lpthread -o /tmp/bench_disk
 *   /tmp/bench_disk [size_mib=1024] [dir=/tmp]
 *
 * The data file is written first and stays in the page cache (the machine
 * needs that much free memory), so the figures are CPU-bound: hashing and
 * copying, not the disk.
 */
#include <shoal/bencode.h>
#include <shoal/metainfo.h>
#include <shoal/mkinfo.h>

#include "io/clock.h"
#include "io/hasher.h"
#include "io/loop.h"
#include "io/storage.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (4u << 20)

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_disk: %s: %s\n", what, rc < 0 ? sh_strerror(rc) : strerror(errno));
    exit(1);
}

/* A file of size bytes of xorshift noise (incompressible, like real data). */
static void make_file(const char *path, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path, 0);
    uint64_t *buf = malloc(CHUNK), x = 88172645463325252ull;
    if (!buf) die("malloc", SH_ENOMEM);
    for (uint64_t off = 0; off < size; off += CHUNK) {
        for (size_t i = 0; i < CHUNK / 8; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = x;
        }
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) die("write", 0);
    }
    free(buf);
    close(fd);
}

/* Builds a torrent of the file with the builder; returns the parsed metainfo. */
static sh_metainfo *make_torrent(const char *path, uint64_t size, unsigned version, uint64_t pl,
                                 double *secs)
{
    sh_mkinfo_opts o = {.version = version, .piece_length = pl, .name = "bench.bin"};
    sh_mkinfo *m;
    int rc;
    if ((rc = sh_mkinfo_new(&o, &m)) || (rc = sh_mkinfo_add_file(m, NULL, size, false)) ||
        (rc = sh_mkinfo_layout(m)))
        die("mkinfo", rc);
    int fd = open(path, O_RDONLY);
    uint8_t *buf = malloc(CHUNK);
    if (fd < 0 || !buf) die(path, 0);
    sh_time t0 = sh_clock_now();
    for (uint64_t off = 0; off < size; off += CHUNK) {
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) die("read", 0);
        if ((rc = sh_mkinfo_feed(m, buf, n))) die("feed", rc);
    }
    sh_bbuf b;
    sh_bbuf_init(&b);
    if ((rc = sh_mkinfo_finish(m, &b))) die("finish", rc);
    *secs = sh_clock_seconds(sh_clock_now() - t0);
    sh_mkinfo_free(m);
    free(buf);
    close(fd);
    sh_metainfo *mi;
    sh_errinfo ei = {0};
    if ((rc = sh_metainfo_parse(b.data, b.len, &mi, &ei))) die(ei.msg, rc);
    sh_bbuf_free(&b);
    return mi;
}

typedef struct hrun {
    sh_loop *loop;
    uint32_t left;
    uint32_t bad;
} hrun;

static void on_hashed(void *ud, uint32_t piece, int result)
{
    (void)piece;
    hrun *r = ud;
    if (result != 0) r->bad++;
    if (--r->left == 0) sh_loop_stop(r->loop);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Seconds to check every piece of the storage with a pool of `threads`;
 * *cpu gets the CPU seconds the process spent meanwhile (the machine may be
 * shared, so wall time alone can hide how much work a thread did).
 */
static double hash_all(const sh_metainfo *mi, sh_storage *st, unsigned threads, double *cpu)
{
    hrun r = {.left = mi->num_pieces};
    sh_hasher *h;
    int rc;
    if ((rc = sh_loop_new(&r.loop))) die("loop", rc);
    if ((rc = sh_hasher_new(r.loop, mi, st, threads, on_hashed, &r, &h))) die("hasher", rc);
    double c0 = cpu_seconds();
    sh_time t0 = sh_clock_now();
    for (uint32_t p = 0; p < mi->num_pieces; p++)
        if ((rc = sh_hasher_submit_check(h, p))) die("submit", rc);
    if ((rc = sh_loop_run(r.loop))) die("run", rc);
    double s = sh_clock_seconds(sh_clock_now() - t0);
    *cpu = cpu_seconds() - c0;
    if (r.bad) die("pieces failed verification", SH_EHASH);
    sh_hasher_free(h);
    sh_loop_free(r.loop);
    return s;
}

typedef struct rx {
    int fd;
    uint64_t want;
    uint64_t got;
} rx;

static void *receive(void *arg)
{
    rx *r = arg;
    uint8_t *buf = malloc(1u << 20);
    while (buf && r->got < r->want) {
        ssize_t k = recv(r->fd, buf, 1u << 20, 0);
        if (k <= 0) break;
        r->got += (uint64_t)k;
    }
    free(buf);
    return NULL;
}

/* A connected loopback TCP pair: *tx non-blocking (the sender), *rxfd blocking. */
static void tcp_pair(int *tx, int *rxfd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        die("listen", 0);
    *tx = socket(AF_INET, SOCK_STREAM, 0);
    if (*tx < 0 || connect(*tx, (struct sockaddr *)&a, sizeof a)) die("connect", 0);
    *rxfd = accept(ls, NULL, NULL);
    if (*rxfd < 0) die("accept", 0);
    close(ls);
    fcntl(*tx, F_SETFL, fcntl(*tx, F_GETFL) | O_NONBLOCK);
}

/* Seconds to push every piece through sh_storage_sendfile in calls of `step` bytes. */
static double send_all(const sh_metainfo *mi, sh_storage *st, uint32_t step)
{
    int tx, rxfd;
    tcp_pair(&tx, &rxfd);
    rx r = {.fd = rxfd, .want = mi->total_size};
    pthread_t th;
    sh_time t0 = sh_clock_now();
    if (pthread_create(&th, NULL, receive, &r)) die("thread", 0);
    for (uint32_t p = 0; p < mi->num_pieces; p++) {
        uint32_t len = sh_metainfo_piece_size(mi, p);
        for (uint32_t off = 0; off < len;) {
            uint32_t n = len - off < step ? len - off : step;
            ssize_t k = sh_storage_sendfile(st, tx, p, off, n);
            if (k < 0) die("sendfile", (int)k);
            if (k == 0) {
                struct pollfd pf = {.fd = tx, .events = POLLOUT};
                poll(&pf, 1, 1000);
            }
            off += (uint32_t)k;
        }
    }
    pthread_join(th, NULL);
    double s = sh_clock_seconds(sh_clock_now() - t0);
    if (r.got != r.want) die("short transfer", SH_EIO);
    close(tx);
    close(rxfd);
    return s;
}

int main(int argc, char **argv)
{
    uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    uint64_t size = mib << 20;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.bin", dir);
    signal(SIGPIPE, SIG_IGN);
    make_file(path, size);
    double mibs = (double)mib;
    printf("data: %s, %llu MiB in the page cache\n\n", path, (unsigned long long)mib);
    printf("MiB/s of wall time (MiB per CPU-second in brackets)\n");
    printf("%-8s %7s %14s %20s %20s\n", "version", "piece", "create x1", "check x1", "check x2");
    const unsigned versions[] = {SH_META_V1, SH_META_HYBRID};
    const uint64_t pls[] = {1u << 20, 4u << 20};
    sh_metainfo *last = NULL;
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < 2; i++) {
            double cs;
            sh_metainfo *mi = make_torrent(path, size, versions[v], pls[i], &cs);
            sh_storage *st;
            sh_errinfo ei = {0};
            int rc = sh_storage_open(mi, path, true, &st, &ei);
            if (rc) die(ei.msg, rc);
            double c1, c2, t1 = hash_all(mi, st, 1, &c1), t2 = hash_all(mi, st, 2, &c2);
            printf("%-8s %3llu MiB %14.0f %12.0f (%5.0f) %12.0f (%5.0f)\n",
                   versions[v] == SH_META_V1 ? "v1" : "hybrid", (unsigned long long)(pls[i] >> 20),
                   mibs / cs, mibs / t1, mibs / c1, mibs / t2, mibs / c2);
            sh_storage_close(st);
            if (last) sh_metainfo_free(last);
            last = mi;
        }
    }
    sh_storage *st;
    sh_errinfo ei = {0};
    int rc = sh_storage_open(last, path, true, &st, &ei);
    if (rc) die(ei.msg, rc);
    printf("\nsendfile over loopback TCP, %llu MiB:\n", (unsigned long long)mib);
    const uint32_t steps[] = {16384, 4u << 20};
    for (int i = 0; i < 2; i++)
        printf("  calls of %7u bytes: %6.0f MiB/s\n", steps[i],
               mibs / send_all(last, st, steps[i]));
    sh_storage_close(st);
    sh_metainfo_free(last);
    unlink(path);
    return 0;
}
