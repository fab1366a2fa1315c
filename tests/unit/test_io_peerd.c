/*
 * test_io_peerd.c — the peer driver end to end, in one process on one loop:
 * a seeding peerd on 127.0.0.2 and a downloading one on 127.0.0.3 move a
 * 20 MiB file over real sockets into real files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/clock.h"
#include "io/peerd_int.h"
#include <shoal/mkinfo.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FILE_SIZE /* override to benchmark: -DFILE_SIZE=... */
#define FILE_SIZE (20u << 20)
#endif
#define PIECE (256u << 10)

typedef struct fixture {
    char dir[64];
    char src[256]; /* the seeder's data: <dir>/src/data.bin */
    uint8_t *data;
    sh_metainfo *mi;
} fixture;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(fd);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat sb;
    fstat(fd, &sb);
    uint8_t *p = malloc((size_t)sb.st_size + 1);
    size_t off = 0;
    while (off < (size_t)sb.st_size) {
        ssize_t r = read(fd, p + off, (size_t)sb.st_size - off);
        if (r <= 0) break;
        off += (size_t)r;
    }
    close(fd);
    *n = off;
    return p;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void make_torrent(fixture *f, unsigned version)
{
    sh_mkinfo_opts o = {0};
    o.version = version;
    o.piece_length = PIECE;
    o.name = "data.bin";
    sh_mkinfo *m;
    assert_int_equal(sh_mkinfo_new(&o, &m), 0);
    assert_int_equal(sh_mkinfo_add_file(m, NULL, FILE_SIZE, false), 0);
    assert_int_equal(sh_mkinfo_layout(m), 0);
    assert_int_equal(sh_mkinfo_feed(m, f->data, FILE_SIZE), 0);
    sh_bbuf b;
    sh_bbuf_init(&b);
    assert_int_equal(sh_mkinfo_finish(m, &b), 0);
    size_t len;
    uint8_t *t = sh_bbuf_take(&b, &len);
    sh_errinfo ei = {0};
    if (sh_metainfo_parse(t, len, &f->mi, &ei)) fail_msg("metainfo: %s", ei.msg);
    free(t);
    sh_bbuf_free(&b);
    sh_mkinfo_free(m);
    assert_int_equal(f->mi->num_pieces, FILE_SIZE / PIECE);
}

static void setup_fixture(fixture *f, unsigned version)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/shoal-peerd-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char d[128];
    snprintf(d, sizeof d, "%s/src", f->dir);
    assert_int_equal(mkdir(d, 0755), 0);
    snprintf(f->src, sizeof f->src, "%s/data.bin", d);
    f->data = malloc(FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE / 8; i++) {
        uint64_t v = mix(i);
        memcpy(f->data + 8 * i, &v, 8);
    }
    write_file(f->src, f->data, FILE_SIZE);
    make_torrent(f, version);
}

static void teardown_fixture(fixture *f)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    sh_metainfo_free(f->mi);
    free(f->data);
}

static char *outdir(fixture *f, const char *name)
{
    static char d[128];
    snprintf(d, sizeof d, "%s/%s", f->dir, name);
    mkdir(d, 0755);
    return d;
}

/* ---- one run: a seeder and a downloader until the download ends ---- */

/* SHOAL_TEST_LOG=debug (or info, trace) shows both peers' logs. */
static void log_sink(void *ud, sh_log_level level, const char *component, const char *msg)
{
    fprintf(stderr, "%8.3f %s[%s] %s: %s\n", sh_clock_seconds(sh_clock_now()), (const char *)ud,
            component, sh_log_level_name(level), msg);
}

static sh_logger test_logger(const char *who)
{
    sh_logger lg = {NULL, NULL, SH_LOG_ERROR};
    const char *env = getenv("SHOAL_TEST_LOG");
    if (env && sh_log_level_parse(env, &lg.level) == 0) {
        lg.fn = log_sink;
        lg.ud = (void *)who;
    }
    return lg;
}

typedef struct run {
    sh_peerd_status seed, get;
    double seconds;  /* whole run: checking, connecting, transfer */
    sh_time trading; /* when both had finished checking */
    sh_loop *loop;
    sh_peerd *seedp, *getp;
    /* a look in the middle of a slow run */
    bool probed;
    sh_peerd_status mid;
    sh_peer_info seed_view[4], get_view[4];
    size_t nseed_view, nget_view;
} run;

static void on_probe(sh_loop *l, uint64_t id, void *ud)
{
    (void)l, (void)id;
    run *r = ud;
    r->probed = true;
    sh_peerd_status_get(r->getp, &r->mid);
    r->nseed_view = sh_peerd_peers(r->seedp, r->seed_view, 4);
    r->nget_view = sh_peerd_peers(r->getp, r->get_view, 4);
}

static void on_event(sh_peerd *p, sh_peerd_state st, void *ud)
{
    run *r = ud;
    if (p == r->seedp) { /* the seeder: trading starts when it is ready */
        if (st == SH_PEERD_SEEDING && r->trading) r->trading = sh_clock_now();
        return;
    }
    if (st == SH_PEERD_DOWNLOADING) {
        sh_peerd_status s;
        sh_peerd_status_get(r->seedp, &s);
        r->trading = s.state == SH_PEERD_SEEDING ? sh_clock_now() : 1;
    }
    if (st == SH_PEERD_SEEDING || st == SH_PEERD_FAILED) sh_loop_stop(r->loop);
}

static void on_stop_event(sh_peerd *p, sh_peerd_state st, void *ud)
{
    (void)p;
    if (st == SH_PEERD_SEEDING || st == SH_PEERD_FAILED) sh_loop_stop(ud);
}

static void on_guard(sh_loop *l, uint64_t id, void *ud)
{
    (void)id, (void)ud;
    sh_loop_stop(l);
}

static sh_addr ip(const char *s)
{
    sh_addr a;
    assert_int_equal(sh_addr_parse(s, &a), 0);
    return a;
}

static void do_run(fixture *f, const char *out, uint64_t down_limit, uint64_t up_limit, run *r)
{
    memset(r, 0, sizeof *r);
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_errinfo ei = {0};
    sh_peerd_config sc = {.mi = f->mi,
                          .seeding = true,
                          .data_path = f->src,
                          .listen = ip("127.0.0.2:0"),
                          .hash_threads = 2,
                          .upload_limit = up_limit,
                          .log = test_logger("seed")};
    sh_peerd *seed;
    if (sh_peerd_new(l, &sc, &seed, &ei)) fail_msg("seeder: %s", ei.msg);
    sh_peerd_status_get(seed, &r->seed);
    sh_addr seed_addr = r->seed.listen;
    assert_true(seed_addr.port != 0);

    sh_peerd_config gc = {.mi = f->mi,
                          .out_dir = out,
                          .listen = ip("127.0.0.3:0"),
                          .peers = &seed_addr,
                          .num_peers = 1,
                          .download_limit = down_limit,
                          .hash_threads = 2,
                          .log = test_logger("get")};
    sh_peerd *get;
    if (sh_peerd_new(l, &gc, &get, &ei)) fail_msg("downloader: %s", ei.msg);
    r->loop = l;
    r->seedp = seed;
    r->getp = get;
    sh_peerd_on_event(get, on_event, r);
    sh_peerd_on_event(seed, on_event, r);
    if (down_limit) sh_loop_timer(l, sh_clock_now() + SH_MS(2500), on_probe, r);
    sh_loop_timer(l, sh_clock_now() + SH_SEC(60), on_guard, NULL);
    sh_time t0 = sh_clock_now();
    assert_int_equal(sh_loop_run(l), 0);
    r->seconds = (double)(sh_clock_now() - t0) / 1e9;
    sh_peerd_status_get(seed, &r->seed);
    sh_peerd_status_get(get, &r->get);
    sh_peerd_shutdown(get);
    sh_peerd_shutdown(get); /* idempotent */
    sh_peerd_free(get);
    sh_peerd_free(seed);
    sh_loop_free(l);
}

static void assert_output(fixture *f, const char *out)
{
    char path[256];
    snprintf(path, sizeof path, "%s/data.bin", out);
    size_t n = 0;
    uint8_t *got = read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, FILE_SIZE);
    assert_true(memcmp(got, f->data, FILE_SIZE) == 0);
    free(got);
    snprintf(path, sizeof path, "%s/data.bin.part", out);
    assert_false(exists(path));
}

static void download_then_present(unsigned version, const char *label)
{
    fixture f;
    setup_fixture(&f, version);
    char *out = outdir(&f, "out");
    run r;
    do_run(&f, out, 0, 0, &r);
    if (r.get.state != SH_PEERD_SEEDING)
        fail_msg("downloader ended %d: %s", r.get.state, r.get.error_msg);
    assert_int_equal(r.seed.state, SH_PEERD_SEEDING);
    assert_output(&f, out);
    assert_true(r.get.swarm.complete);
    assert_int_equal(r.get.swarm.pieces_have, FILE_SIZE / PIECE);
    assert_true(r.get.swarm.payload_down >= FILE_SIZE);
    assert_true(r.get.wire_down > r.get.swarm.payload_down); /* headers count too */
    assert_true(r.seed.wire_up >= r.get.wire_down);
    assert_int_equal(r.get.bad_on_disk, FILE_SIZE / PIECE); /* fresh: all missing */
    assert_true(r.get.completed > r.get.started);
    assert_true(r.get.down_rate > 0);
    assert_true(r.seed.up_rate > 0);
    assert_true(r.trading > 0 && r.get.completed > r.trading);
    /* Between shoal peers requests are up to 256 KiB (the extension
     * handshake's shoal_block), so each sendfile carries far more than a
     * BEP 3 block of 16 KiB: a regression to 16 KiB requests, or to many
     * small writes, shows here without timing anything. */
    assert_true(r.seed.sendfile_calls > 0);
    assert_true(r.seed.sendfile_bytes >= FILE_SIZE);
    double per_call = (double)r.seed.sendfile_bytes / (double)r.seed.sendfile_calls;
    if (per_call < 64.0 * 1024)
        fail_msg("%.0f bytes per sendfile call (%llu calls)", per_call,
                 (unsigned long long)r.seed.sendfile_calls);
    assert_true(r.get.verified > 0 && r.get.verified <= r.get.completed);
    double xfer = (double)(r.get.completed - r.trading) / 1e9;
    print_message("%s: %u MiB transferred in %.3f s = %.0f MB/s (whole run %.3f s; wire %.2f MB; "
                  "%.0f KiB per sendfile; final flush %.3f s)\n",
                  label, FILE_SIZE >> 20, xfer, FILE_SIZE / xfer / 1e6, r.seconds,
                  r.get.wire_down / 1e6, per_call / 1024,
                  (double)(r.get.completed - r.get.verified) / 1e9);

    /* Again with the output in place: checked, complete, nothing fetched. */
    do_run(&f, out, 0, 0, &r);
    assert_int_equal(r.get.state, SH_PEERD_SEEDING);
    assert_int_equal(r.get.swarm.payload_down, 0);
    assert_int_equal(r.get.bad_on_disk, 0);
    assert_int_equal(r.get.checked, FILE_SIZE / PIECE);
    assert_output(&f, out);
    teardown_fixture(&f);
}

static void test_download_hybrid(void **st)
{
    (void)st;
    download_then_present(SH_META_HYBRID, "hybrid");
}

static void test_download_v1(void **st)
{
    (void)st;
    download_then_present(SH_META_V1, "v1");
}

static void test_rate_limited(void **st)
{
    (void)st;
    fixture f;
    setup_fixture(&f, SH_META_HYBRID);
    run r;
    do_run(&f, outdir(&f, "slow"), 5u << 20, 0, &r);
    assert_int_equal(r.get.state, SH_PEERD_SEEDING);
    assert_output(&f, outdir(&f, "slow"));
    print_message("5 MiB/s limit: %u MiB in %.2f s\n", FILE_SIZE >> 20, r.seconds);
    /* 20 MiB at 5 MiB/s less the 512 KiB burst is 3.9 s. */
    assert_true(r.seconds >= 3.5);
    assert_true(r.seconds < 30);
    /* Midway: trading at about the limit, and each side sees the other at
     * its own address (outgoing connections leave from the listen IP). */
    assert_true(r.probed);
    assert_int_equal(r.mid.state, SH_PEERD_DOWNLOADING);
    print_message("at 2.5 s: down_rate %.2f MiB/s\n", r.mid.down_rate / (1 << 20));
    assert_true(r.mid.down_rate > 4.0 * (1 << 20) && r.mid.down_rate < 6.0 * (1 << 20));
    assert_true(r.mid.wire_down < (uint64_t)(2.5 * (5 << 20)) + (512 << 10) + (256 << 10));
    assert_int_equal(r.nget_view, 1);
    assert_true(r.get_view[0].outgoing);
    assert_true(sh_addr_eq(&r.get_view[0].addr, &r.seed.listen));
    assert_int_equal(r.nseed_view, 1);
    assert_false(r.seed_view[0].outgoing);
    assert_true(sh_addr_ip_eq(&r.seed_view[0].addr, &r.get.listen));
    assert_true(r.seed_view[0].up > 0);
    teardown_fixture(&f);
}

/* The seeder's upload limit holds too: 20 MiB at 20 MiB/s, less a 2 MiB burst. */
static void test_upload_limited(void **st)
{
    (void)st;
    fixture f;
    setup_fixture(&f, SH_META_V1);
    run r;
    do_run(&f, outdir(&f, "up"), 0, 20u << 20, &r);
    assert_int_equal(r.get.state, SH_PEERD_SEEDING);
    assert_output(&f, outdir(&f, "up"));
    double xfer = (double)(r.get.completed - r.trading) / 1e9;
    print_message("20 MiB/s upload limit: %u MiB in %.2f s\n", FILE_SIZE >> 20, xfer);
    assert_true(xfer >= 0.85);
    assert_true(r.seed.wire_up >= FILE_SIZE);
    teardown_fixture(&f);
}

static void test_resume(void **st)
{
    (void)st;
    fixture f;
    setup_fixture(&f, SH_META_HYBRID);
    char *out = outdir(&f, "resume");
    char part[256];
    snprintf(part, sizeof part, "%s/data.bin.part", out);
    /* First half right, second half garbage (not holes: must be checked). */
    uint8_t *half = malloc(FILE_SIZE);
    memcpy(half, f.data, FILE_SIZE / 2);
    memset(half + FILE_SIZE / 2, 0x5a, FILE_SIZE / 2);
    write_file(part, half, FILE_SIZE);
    free(half);
    run r;
    do_run(&f, out, 0, 0, &r);
    assert_int_equal(r.get.state, SH_PEERD_SEEDING);
    assert_int_equal(r.get.bad_on_disk, FILE_SIZE / PIECE / 2);
    assert_int_equal(r.get.checked, FILE_SIZE / PIECE);
    assert_true(r.get.swarm.payload_down >= FILE_SIZE / 2);
    assert_true(r.get.swarm.payload_down < FILE_SIZE / 2 + FILE_SIZE / 8);
    assert_output(&f, out);
    teardown_fixture(&f);
}

/* ---- a multi-file torrent: pieces span files (v1) or end in pads (hybrid) ---- */

static const struct {
    const char *path;
    uint32_t len;
} tree_files[] = {{"a.bin", (1u << 20) + 3},
                  {"sub/b.bin", 100000},
                  {"c.bin", (3u << 20) + 5},
                  {"sub/deeper/d.bin", 65536},
                  {"empty", 0}};
#define TREE_N (sizeof tree_files / sizeof tree_files[0])

static uint8_t tree_byte(size_t file, size_t i)
{
    return (uint8_t)(mix(file * 1000003u + i / 8) >> (8 * (i % 8)));
}

static void tree_run(unsigned version)
{
    char dir[64] = "/tmp/shoal-peerd-tree-XXXXXX", path[256], out[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "mkdir -p '%s/src/tree/sub/deeper' '%s/out'", dir, dir);
    assert_int_equal(system(path), 0);
    sh_mkinfo_opts o = {.version = version, .piece_length = 65536, .name = "tree"};
    sh_mkinfo *m;
    assert_int_equal(sh_mkinfo_new(&o, &m), 0);
    for (size_t k = 0; k < TREE_N; k++)
        assert_int_equal(sh_mkinfo_add_file(m, tree_files[k].path, tree_files[k].len, false), 0);
    assert_int_equal(sh_mkinfo_layout(m), 0);
    uint8_t *bufs[TREE_N];
    for (size_t k = 0; k < TREE_N; k++) {
        bufs[k] = malloc(tree_files[k].len + 1);
        for (size_t i = 0; i < tree_files[k].len; i++)
            bufs[k][i] = tree_byte(k, i);
        snprintf(path, sizeof path, "%s/src/tree/%s", dir, tree_files[k].path);
        write_file(path, bufs[k], tree_files[k].len);
    }
    /* Feed in the builder's order, not ours. */
    for (uint32_t j = 0; j < sh_mkinfo_num_files(m); j++) {
        uint64_t len;
        const char *rel = sh_mkinfo_file(m, j, &len);
        size_t k = 0;
        while (k < TREE_N && strcmp(tree_files[k].path, rel) != 0)
            k++;
        assert_true(k < TREE_N);
        assert_int_equal(sh_mkinfo_feed(m, bufs[k], len), 0);
    }
    sh_bbuf b;
    sh_bbuf_init(&b);
    assert_int_equal(sh_mkinfo_finish(m, &b), 0);
    size_t tlen;
    uint8_t *t = sh_bbuf_take(&b, &tlen);
    fixture f = {0};
    sh_errinfo ei = {0};
    if (sh_metainfo_parse(t, tlen, &f.mi, &ei)) fail_msg("metainfo: %s", ei.msg);
    free(t);
    sh_bbuf_free(&b);
    sh_mkinfo_free(m);

    snprintf(f.dir, sizeof f.dir, "%s", dir);
    snprintf(f.src, sizeof f.src, "%s/src/tree", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    run r;
    do_run(&f, out, 0, 0, &r);
    if (r.get.state != SH_PEERD_SEEDING)
        fail_msg("downloader ended %d: %s", r.get.state, r.get.error_msg);
    for (size_t k = 0; k < TREE_N; k++) {
        snprintf(path, sizeof path, "%s/tree/%s", out, tree_files[k].path);
        size_t n = 0;
        uint8_t *got = read_file(path, &n);
        if (!got) fail_msg("missing %s", path);
        assert_int_equal(n, tree_files[k].len);
        assert_true(n == 0 || memcmp(got, bufs[k], n) == 0);
        free(got);
        free(bufs[k]);
    }
    snprintf(path, sizeof path, "%s/tree.part", out);
    assert_false(exists(path));
    if (version == SH_META_HYBRID) { /* pads are never written to disk */
        snprintf(path, sizeof path, "%s/tree/.pad", out);
        assert_false(exists(path));
    }
    teardown_fixture(&f);
}

static void test_tree_hybrid(void **st)
{
    (void)st;
    tree_run(SH_META_HYBRID);
}

static void test_tree_v1(void **st)
{
    (void)st;
    tree_run(SH_META_V1);
}

/* The origin must not serve bad bytes: a corrupt seed fails with the pieces named. */
static void test_bad_seed(void **st)
{
    (void)st;
    fixture f;
    setup_fixture(&f, SH_META_HYBRID);
    int fd = open(f.src, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XX", 2, 3 * PIECE + 5), 2);
    assert_int_equal(pwrite(fd, "XX", 2, 12 * PIECE), 2);
    assert_int_equal(pwrite(fd, "XX", 2, 13 * PIECE + 7), 2);
    close(fd);
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_peerd_config sc = {
        .mi = f.mi, .seeding = true, .data_path = f.src, .listen = ip("127.0.0.2:0")};
    sh_peerd *seed;
    sh_errinfo ei = {0};
    assert_int_equal(sh_peerd_new(l, &sc, &seed, &ei), 0);
    sh_peerd_on_event(seed, on_stop_event, l);
    sh_loop_timer(l, sh_clock_now() + SH_SEC(30), on_guard, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    sh_peerd_status s;
    sh_peerd_status_get(seed, &s);
    assert_int_equal(s.state, SH_PEERD_FAILED);
    assert_int_equal(s.error, SH_EHASH);
    assert_int_equal(s.bad_on_disk, 3);
    assert_non_null(strstr(s.error_msg, "3 of 80 pieces"));
    assert_non_null(strstr(s.error_msg, "3, 12-13"));
    sh_peerd_free(seed);

    /* A missing seed file is an error at creation, naming the path. */
    sc.data_path = "/nonexistent/shoal/data.bin";
    assert_true(sh_peerd_new(l, &sc, &seed, &ei) != 0);
    assert_non_null(strstr(ei.msg, "/nonexistent/shoal/data.bin"));
    sh_loop_free(l);
    teardown_fixture(&f);
}

/* A signal registered after the peer (and its hasher threads) exists must
 * still arrive through the loop, not kill the process in a worker. */
static void on_usr1(sh_loop *l, int signo, void *ud)
{
    *(int *)ud = signo;
    sh_loop_stop(l);
}

static void test_signal_after_start(void **st)
{
    (void)st;
    fixture f;
    setup_fixture(&f, SH_META_V1);
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_peerd_config sc = {.mi = f.mi,
                          .seeding = true,
                          .data_path = f.src,
                          .listen = ip("127.0.0.2:0"),
                          .hash_threads = 3};
    sh_peerd *seed;
    sh_errinfo ei = {0};
    assert_int_equal(sh_peerd_new(l, &sc, &seed, &ei), 0);
    int got = 0;
    assert_int_equal(sh_loop_signal(l, SIGUSR1, on_usr1, &got), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    sh_loop_timer(l, sh_clock_now() + SH_SEC(10), on_guard, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(got, SIGUSR1);
    sh_peerd_free(seed);
    sh_loop_free(l);
    teardown_fixture(&f);
}

static void test_ranges(void **st)
{
    (void)st;
    sh_bitfield bf;
    char out[200];
    assert_int_equal(sh_bitfield_init(&bf, 20), 0);
    sh_bitfield_set_all(&bf);
    peerd_format_ranges(&bf, out, sizeof out);
    assert_string_equal(out, "");
    for (uint32_t i = 3; i <= 7; i++)
        sh_bitfield_clear(&bf, i);
    sh_bitfield_clear(&bf, 12);
    sh_bitfield_clear(&bf, 19);
    peerd_format_ranges(&bf, out, sizeof out);
    assert_string_equal(out, "3-7, 12, 19");
    sh_bitfield_clear(&bf, 0);
    peerd_format_ranges(&bf, out, 16); /* bounded, marked as cut */
    assert_string_equal(out, "0, 3-7, 12, ...");
    sh_bitfield_free(&bf);
    /* Every other piece of many: still bounded. */
    assert_int_equal(sh_bitfield_init(&bf, 100000), 0);
    for (uint32_t i = 0; i < 100000; i += 2)
        sh_bitfield_set(&bf, i);
    peerd_format_ranges(&bf, out, sizeof out);
    assert_true(strlen(out) < sizeof out);
    assert_memory_equal(out, "1, 3, 5, ", 9);
    assert_memory_equal(out + strlen(out) - 3, "...", 3);
    sh_bitfield_free(&bf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),         cmocka_unit_test(test_download_hybrid),
        cmocka_unit_test(test_download_v1),    cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_upload_limited), cmocka_unit_test(test_resume),
        cmocka_unit_test(test_tree_hybrid),    cmocka_unit_test(test_tree_v1),
        cmocka_unit_test(test_bad_seed),       cmocka_unit_test(test_signal_after_start),
    };
    /* e.g. SHOAL_TEST_FILTER=test_resume to run one case */
    if (getenv("SHOAL_TEST_FILTER")) cmocka_set_test_filter(getenv("SHOAL_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
