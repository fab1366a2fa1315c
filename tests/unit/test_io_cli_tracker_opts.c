/*
 * test_io_cli_tracker_opts.c — the tracker options of `shoal seed` and
 * `shoal get`: -t/--tracker (repeatable, checked at once, with a message
 * that names the URL and what is wrong with it, capped in number) and
 * --no-tracker. The CLI sources are compiled in, as in test_io_cli_peer.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/peeropts.c"
#include "cli/util.c"

#include <stdlib.h>
#include <unistd.h>

static void fake_usage(FILE *f)
{
    (void)f;
}

static int parse(bool is_get, peer_opts *o, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return peer_opts_parse(argc, argv, is_get, fake_usage, o);
}

/* Runs parse with stderr captured into err. */
static int parse_err(bool is_get, peer_opts *o, char **argv, char *err, size_t cap)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    int rc = parse(is_get, o, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(err, 1, cap - 1, tmp);
    err[n] = 0;
    fclose(tmp);
    return rc;
}

static void trackers_repeatable(void **st)
{
    (void)st;
    peer_opts o;
    char *argv[] = {"get",
                    "-t",
                    "http://10.0.0.1/announce",
                    "--tracker",
                    "udp://t.example:6969",
                    "-t",
                    "https://x.example/a?k=1",
                    "t.torrent",
                    NULL};
    assert_int_equal(parse(true, &o, argv), -1);
    assert_int_equal(o.num_trackers, 3);
    assert_string_equal(o.trackers[0], "http://10.0.0.1/announce");
    assert_string_equal(o.trackers[1], "udp://t.example:6969");
    assert_string_equal(o.trackers[2], "https://x.example/a?k=1");
    assert_false(o.no_tracker);
    peer_opts_free(&o);
    assert_null(o.trackers);
    assert_int_equal(o.num_trackers, 0);

    /* seed has them too, and --no-tracker */
    char *sargv[] = {"seed", "--no-tracker", "-t", "udp://[::1]:80", "t.torrent", "data", NULL};
    assert_int_equal(parse(false, &o, sargv), -1);
    assert_true(o.no_tracker);
    assert_int_equal(o.num_trackers, 1);
    assert_string_equal(o.path, "data");
    peer_opts_free(&o);

    /* none given */
    char *plain[] = {"get", "t.torrent", NULL};
    assert_int_equal(parse(true, &o, plain), -1);
    assert_int_equal(o.num_trackers, 0);
    assert_false(o.no_tracker);
    peer_opts_free(&o);
}

static void trackers_checked(void **st)
{
    (void)st;
    struct {
        const char *url, *msg;
    } bad[] = {
        {"ftp://x/", "shoal get: --tracker: 'ftp://x/' is not a tracker URL: not an http://, "
                     "https:// or udp:// URL"},
        {"udp://x", "shoal get: --tracker: 'udp://x' is not a tracker URL: udp:// needs a port "
                    "(udp://host:port)"},
        {"udp://x:0", "bad port (1-65535)"},
        {"http://", "no host"},
        {"10.0.0.1:6969", "not an http://, https:// or udp:// URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        peer_opts o;
        char err[512];
        char *argv[] = {"get", "-t", (char *)bad[i].url, "t.torrent", NULL};
        int rc = parse_err(true, &o, argv, err, sizeof err);
        if (rc != EXIT_USAGE) fail_msg("%s: rc %d", bad[i].url, rc);
        if (!strstr(err, bad[i].msg)) fail_msg("%s: stderr \"%s\"", bad[i].url, err);
    }
    peer_opts o;
    char err[256];
    char *novalue[] = {"get", "t.torrent", "-t", NULL};
    assert_int_equal(parse_err(true, &o, novalue, err, sizeof err), EXIT_USAGE);
}

static void trackers_capped(void **st)
{
    (void)st;
    char *argv[2 * PEER_MAX_TRACKERS + 8];
    int n = 0;
    argv[n++] = "get";
    for (unsigned i = 0; i <= PEER_MAX_TRACKERS; i++) {
        argv[n++] = "-t";
        argv[n++] = "http://t/announce";
    }
    argv[n++] = "t.torrent";
    argv[n] = NULL;
    peer_opts o;
    char err[256];
    assert_int_equal(parse_err(true, &o, argv, err, sizeof err), EXIT_USAGE);
    assert_non_null(strstr(err, "--tracker given more than 64 times"));
    /* exactly the cap is fine */
    argv[n - 3] = "t.torrent";
    argv[n - 2] = NULL;
    assert_int_equal(parse(true, &o, argv), -1);
    assert_int_equal(o.num_trackers, PEER_MAX_TRACKERS);
    peer_opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trackers_repeatable),
        cmocka_unit_test(trackers_checked),
        cmocka_unit_test(trackers_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
