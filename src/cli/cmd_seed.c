/*
 * cmd_seed.c — `shoal seed TORRENT PATH`: check that PATH holds the data
 * TORRENT describes, then serve it to every peer until SIGINT/SIGTERM.
 *
 * A seeder that serves wrong data wastes every downloader's time, so a
 * mismatch is an error (exit 2) that names the pieces, never a warning.
 */
#include "cli/cli.h"
#include "cli/peer_session.h"
#include "cli/peeropts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CMD "seed"

static void usage(FILE *f)
{
    fprintf(f, "usage: shoal seed [-l ADDR:PORT] [options] TORRENT PATH\n"
               "\n"
               "Serve the data at PATH (the file or directory TORRENT was made from) to\n"
               "peers. PATH is checked first, piece by piece; if anything is missing or\n"
               "wrong, shoal says which pieces and exits with status 2.\n"
               "Once serving, it prints \"listening on ADDR:PORT\" on stdout, and runs until\n"
               "SIGINT or SIGTERM, which close every connection and exit 0.\n"
               "\n"
               "options:\n");
    peer_opts_usage_common(f);
    fprintf(f, "\n"
               "Progress (check, upload rate, peers) goes to stderr: one line redrawn on a\n"
               "terminal, else a line every 5 s.\n"
               "exit status: 0 stopped by a signal; 1 failed; 2 bad usage or bad input\n"
               "(bad torrent, bad address, PATH does not match TORRENT).\n");
}

int cmd_seed(int argc, char **argv)
{
    peer_opts o;
    int rc = peer_opts_parse(argc, argv, false, usage, &o);
    if (rc >= 0) return rc;
    sh_metainfo *mi = NULL;
    struct stat st;
    if ((rc = peer_load_torrent(CMD, o.torrent, &mi))) goto out;
    if (stat(o.path, &st) != 0) {
        rc = cli_cmd_error(EXIT_USAGE, CMD, "%s: %s (PATH must be the data %s was made from)",
                           o.path, strerror(errno), o.torrent);
        goto out;
    }
    if (mi->single_file && S_ISDIR(st.st_mode)) {
        rc =
            cli_cmd_error(EXIT_USAGE, CMD, "%s is a directory, but %s describes a single file '%s'",
                          o.path, o.torrent, mi->name);
        goto out;
    }
    if (!mi->single_file && !S_ISDIR(st.st_mode)) {
        rc = cli_cmd_error(EXIT_USAGE, CMD,
                           "%s is not a directory, but %s describes a directory '%s'", o.path,
                           o.torrent, mi->name);
        goto out;
    }
    if ((rc = peer_check_listen(CMD, &o.listen))) goto out;
    rc = peer_session_run(&o, mi);
out:
    sh_metainfo_free(mi);
    peer_opts_free(&o);
    return rc;
}
