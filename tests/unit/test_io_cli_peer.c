/*
 * test_io_cli_peer.c — the pure parts of `shoal seed` / `shoal get`: option
 * parsing (values, errors, exit codes), the progress line, and the seed
 * mismatch report (which pieces, which file) on real files.
 *
 * The CLI is not a library, so its sources are compiled into this test
 * directly; the io library supplies everything below them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/peeropts.c"
#include "cli/seedcheck.c"
#include "cli/transfer_progress.c"
#include "cli/util.c"

#include <shoal/bencode.h>
#include <shoal/mkinfo.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- options */

static int usage_calls;
static void fake_usage(FILE *f)
{
    (void)f;
    usage_calls++;
}

/* Parses a NULL-terminated list of words; the first is the command name. */
static int parse(bool is_get, peer_opts *o, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, o);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = w;
    va_end(ap);
    argv[argc] = NULL;
    return peer_opts_parse(argc, argv, is_get, fake_usage, o);
}

static void get_all_options(void **st)
{
    (void)st;
    peer_opts o;
    int rc = parse(true, &o, "get", "-o", "/tmp/x", "-l", "127.0.0.3:6881", "--peer",
                   "127.0.0.2:7000", "--peer", "[::1]:9", "--upload-limit", "4M",
                   "--download-limit", "1.5K", "--max-conns", "12", "--seed-for", "2.5",
                   "--timeout", "0", "--json", "t.torrent", NULL);
    assert_int_equal(rc, -1);
    assert_string_equal(o.torrent, "t.torrent");
    assert_null(o.path);
    assert_string_equal(o.out_dir, "/tmp/x");
    assert_int_equal(o.listen.family, 4);
    assert_int_equal(o.listen.port, 6881);
    assert_int_equal(o.num_peers, 2);
    assert_int_equal(o.peers[0].port, 7000);
    assert_int_equal(o.peers[1].family, 6);
    assert_int_equal(o.upload_limit, 4u << 20);
    assert_int_equal(o.download_limit, 1536);
    assert_int_equal(o.max_conns, 12);
    assert_true(o.seed_for == 2.5);
    assert_true(o.timeout == 0);
    assert_true(o.json);
    peer_opts_free(&o);
}

static void get_defaults(void **st)
{
    (void)st;
    peer_opts o;
    assert_int_equal(parse(true, &o, "get", "t.torrent", NULL), -1);
    assert_string_equal(o.out_dir, ".");
    assert_true(o.timeout == 300);
    assert_true(o.seed_for == 0);
    assert_int_equal(o.listen.family, 0);
    assert_int_equal(o.num_peers, 0);
    assert_int_equal(o.upload_limit, 0);
    assert_false(o.json);
    peer_opts_free(&o);
}

static void seed_positionals(void **st)
{
    (void)st;
    peer_opts o;
    assert_int_equal(parse(false, &o, "seed", "t.torrent", "data", NULL), -1);
    assert_string_equal(o.torrent, "t.torrent");
    assert_string_equal(o.path, "data");
    peer_opts_free(&o);
    assert_int_equal(parse(false, &o, "seed", "t.torrent", NULL), EXIT_USAGE);
    assert_int_equal(parse(false, &o, "seed", NULL), EXIT_USAGE);
    assert_int_equal(parse(false, &o, "seed", "a", "b", "c", NULL), EXIT_USAGE);
    assert_int_equal(parse(true, &o, "get", "a", "b", NULL), EXIT_USAGE);
    assert_int_equal(parse(true, &o, "get", NULL), EXIT_USAGE);
}

static void usage_errors(void **st)
{
    (void)st;
    peer_opts o;
    /* get-only options are unknown to seed */
    assert_int_equal(parse(false, &o, "seed", "-o", "d", "t", "p", NULL), EXIT_USAGE);
    assert_int_equal(parse(false, &o, "seed", "--timeout", "5", "t", "p", NULL), EXIT_USAGE);
    assert_int_equal(parse(false, &o, "seed", "--seed-for", "5", "t", "p", NULL), EXIT_USAGE);
    const char *bad[][2] = {
        {"-l", "1.2.3"},         {"-l", "1.2.3.4:65536"},  {"-l", "::1:5"},
        {"--peer", "1.2.3.4"},   {"--peer", "1.2.3.4:0"},  {"--peer", "x:1"},
        {"--upload-limit", "x"}, {"--upload-limit", "-1"}, {"--download-limit", "3Q"},
        {"--max-conns", "0"},    {"--max-conns", "-3"},    {"--max-conns", "100001"},
        {"--max-conns", "7x"},   {"--max-conns", ""},      {"--timeout", "-1"},
        {"--timeout", "soon"},   {"--seed-for", "1e99"},   {"--log-level", "loud"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(true, &o, "get", (char *)bad[i][0], (char *)bad[i][1], "t", NULL);
        if (rc != EXIT_USAGE) fail_msg("%s %s: rc %d", bad[i][0], bad[i][1], rc);
    }
    assert_int_equal(parse(true, &o, "get", "--bogus", "t", NULL), EXIT_USAGE);
    assert_int_equal(parse(true, &o, "get", "t", "--peer", NULL), EXIT_USAGE); /* needs a value */
    cli_set_log_level("warn");
}

static void help_exits_zero(void **st)
{
    (void)st;
    peer_opts o;
    usage_calls = 0;
    assert_int_equal(parse(true, &o, "get", "--help", NULL), EXIT_OK);
    assert_int_equal(parse(false, &o, "seed", "-h", NULL), EXIT_OK);
    assert_int_equal(usage_calls, 2);
}

static void too_many_peers(void **st)
{
    (void)st;
    int n = 2 * PEER_MAX_PEERS + 2;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    argv[0] = "get";
    for (int i = 1; i + 1 < n; i += 2) {
        argv[i] = "--peer";
        argv[i + 1] = "127.0.0.2:1";
    }
    argv[n - 1] = "t";
    peer_opts o;
    assert_int_equal(peer_opts_parse(n, argv, true, fake_usage, &o), -1);
    assert_int_equal(o.num_peers, PEER_MAX_PEERS);
    peer_opts_free(&o);
    argv[n - 1] = "--peer";
    argv[n] = "127.0.0.2:1";
    argv[n + 1] = "t";
    assert_int_equal(peer_opts_parse(n + 2, argv, true, fake_usage, &o), EXIT_USAGE);
    free(argv);
}

/* ---------------------------------------------------------------- progress */

static void progress_lines(void **st)
{
    (void)st;
    char buf[256];
    tp_sample s = {.state = "downloading",
                   .done = 3u << 20,
                   .total = 8u << 20,
                   .down_rate = 1u << 20,
                   .up_rate = 512 * 1024,
                   .peers = 5,
                   .show_eta = true};
    tp_format(buf, sizeof buf, &s);
    assert_string_equal(buf, "downloading   37.5%  3.0 MiB of 8.0 MiB  down 1.0 MiB/s  up 512.0 "
                             "KiB/s  5 peers  ETA 0:05");
    s.down_rate = 0;
    s.peers = 1;
    tp_format(buf, sizeof buf, &s);
    assert_string_equal(
        buf,
        "downloading   37.5%  3.0 MiB of 8.0 MiB  down 0 B/s  up 512.0 KiB/s  1 peer  ETA --:--");
    s.done = 9u << 20; /* more than total: clamped */
    tp_format(buf, sizeof buf, &s);
    assert_non_null(strstr(buf, "100.0%"));
    tp_sample c = {.state = "checking", .done = 1u << 20, .total = 4u << 20};
    tp_format(buf, sizeof buf, &c);
    assert_string_equal(buf, "checking   25.0%  1.0 MiB of 4.0 MiB");
    tp_sample sd = {.state = "seeding",
                    .total = 4u << 20,
                    .up_rate = 2u << 20,
                    .up_total = 10u << 20,
                    .peers = 3};
    tp_format(buf, sizeof buf, &sd);
    assert_string_equal(buf, "seeding  4.0 MiB  up 2.0 MiB/s  3 peers  10.0 MiB uploaded");
    tp_sample z = {.state = "downloading", .total = 0};
    tp_format(buf, sizeof buf, &z);
    assert_non_null(strstr(buf, "100.0%"));
    tp_format(buf, 10, &s); /* truncation is safe */
    assert_int_equal(strlen(buf), 9);
}

/* ---------------------------------------------------------------- seedcheck */

#define PIECE 16384u
static char dir[64];

static int mkdir_tmp(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/shoal-clipeer-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int rm_tmp(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* A torrent of two files "a" (a_len) and "b" (b_len) in dir/t, written to disk too. */
static sh_metainfo *make_tree(unsigned version, size_t a_len, size_t b_len, char *root,
                              size_t rootlen)
{
    uint8_t *a = malloc(a_len), *b = malloc(b_len);
    fill(a, a_len, 1);
    fill(b, b_len, 2);
    snprintf(root, rootlen, "%s/t", dir);
    mkdir(root, 0755);
    char p[128];
    snprintf(p, sizeof p, "%s/a", root);
    write_file(p, a, a_len);
    snprintf(p, sizeof p, "%s/b", root);
    write_file(p, b, b_len);
    sh_mkinfo_opts mo = {.version = version, .piece_length = PIECE, .name = "t"};
    sh_mkinfo *m;
    assert_int_equal(sh_mkinfo_new(&mo, &m), 0);
    assert_int_equal(sh_mkinfo_add_file(m, "a", a_len, false), 0);
    assert_int_equal(sh_mkinfo_add_file(m, "b", b_len, false), 0);
    assert_int_equal(sh_mkinfo_layout(m), 0);
    for (uint32_t k = 0; k < sh_mkinfo_num_files(m); k++) {
        uint64_t len;
        const char *rel = sh_mkinfo_file(m, k, &len);
        assert_int_equal(sh_mkinfo_feed(m, !strcmp(rel, "a") ? a : b, len), 0);
    }
    sh_bbuf out;
    sh_bbuf_init(&out);
    assert_int_equal(sh_mkinfo_finish(m, &out), 0);
    sh_mkinfo_free(m);
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {0};
    assert_int_equal(sh_metainfo_parse(out.data, out.len, &mi, &ei), 0);
    sh_bbuf_free(&out);
    free(a);
    free(b);
    return mi;
}

static void flip(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void seedcheck_finds_pieces(void **st)
{
    (void)st;
    static const unsigned versions[] = {SH_META_V1, SH_META_V2, SH_META_HYBRID};
    for (size_t v = 0; v < 3; v++) {
        char root[96], p[128], sum[160];
        /* a: 10.5 pieces, b: 3 pieces + 1 byte; v2/hybrid align b to a piece boundary */
        sh_metainfo *mi =
            make_tree(versions[v], 10 * PIECE + PIECE / 2, 3 * PIECE + 1, root, sizeof root);
        seedcheck_result r;
        assert_int_equal(seedcheck_run(mi, root, &r), 0);
        assert_int_equal(r.bad, 0);
        assert_string_equal(r.file_problem, "");
        uint32_t b_first = UINT32_MAX;
        for (uint32_t k = 0; k < mi->num_files; k++)
            if (!mi->files[k].pad && !strcmp(mi->files[k].path, "b"))
                b_first = (uint32_t)(mi->files[k].offset / PIECE);
        assert_int_equal(b_first, versions[v] == SH_META_V1 ? 10 : 11);

        snprintf(p, sizeof p, "%s/a", root);
        flip(p, 2 * PIECE + 7);
        flip(p, 9 * PIECE);
        snprintf(p, sizeof p, "%s/b", root);
        flip(p, 3 * PIECE); /* the last byte: b's last piece */
        assert_int_equal(seedcheck_run(mi, root, &r), 0);
        assert_int_equal(r.bad, 3);
        assert_int_equal(r.nfirst, 3);
        assert_int_equal(r.first[0], 2);
        assert_int_equal(r.first[1], 9);
        assert_int_equal(r.first[2], b_first + 3);
        seedcheck_summary(mi, &r, sum, sizeof sum);
        char want[160];
        snprintf(want, sizeof want, "3 of %u pieces missing or wrong (first: 2, 9, %u)",
                 mi->num_pieces, r.first[2]);
        assert_string_equal(sum, want);

        /* b missing: its pieces (and a v1 piece shared with a) are missing */
        unlink(p);
        assert_int_equal(seedcheck_run(mi, root, &r), 0);
        assert_non_null(strstr(r.file_problem, "/t/b: No such file or directory"));
        assert_true(r.bad >= 2 + 4);

        /* a truncated: named with both sizes */
        snprintf(p, sizeof p, "%s/a", root);
        assert_int_equal(truncate(p, PIECE), 0);
        assert_int_equal(seedcheck_run(mi, root, &r), 0);
        char want2[256];
        snprintf(want2, sizeof want2, "%s: 16384 bytes, the torrent says %u", p,
                 10 * PIECE + PIECE / 2);
        assert_string_equal(r.file_problem, want2);
        assert_int_equal(r.bad, mi->num_pieces - 1); /* only piece 0 survives */
        assert_int_equal(r.first[0], 1);
        sh_metainfo_free(mi);
    }
}

static void seedcheck_summary_short(void **st)
{
    (void)st;
    sh_metainfo mi = {.num_pieces = 512};
    seedcheck_result r = {.bad = 1, .first = {7}, .nfirst = 1};
    char sum[160];
    seedcheck_summary(&mi, &r, sum, sizeof sum);
    assert_string_equal(sum, "1 of 512 pieces missing or wrong (first: 7)");
    r.bad = 0;
    r.nfirst = 0;
    seedcheck_summary(&mi, &r, sum, sizeof sum);
    assert_string_equal(sum, "0 of 512 pieces missing or wrong");
    seedcheck_summary(&mi, &r, sum, 8);
    assert_string_equal(sum, "0 of 51");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_all_options),
        cmocka_unit_test(get_defaults),
        cmocka_unit_test(seed_positionals),
        cmocka_unit_test(usage_errors),
        cmocka_unit_test(help_exits_zero),
        cmocka_unit_test(too_many_peers),
        cmocka_unit_test(progress_lines),
        cmocka_unit_test_setup_teardown(seedcheck_finds_pieces, mkdir_tmp, rm_tmp),
        cmocka_unit_test(seedcheck_summary_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
