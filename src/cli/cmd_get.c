/*
 * cmd_get.c — `shoal get TORRENT`: download into DIR from the given peers,
 * verifying every piece, then optionally seed for a while.
 *
 * The output appears under its final name only when complete; until then
 * it is DIR/<name>.part, and rerunning the same command resumes it. A
 * download that stalls fails loudly (--timeout) rather than hanging.
 */
#include "cli/cli.h"
#include "cli/magnet_get.h"
#include "cli/peer_session.h"
#include "cli/peeropts.h"

#include <shoal/magnet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "get"

static void usage(FILE *f)
{
    fprintf(f, "usage: shoal get [-o DIR] [-l ADDR:PORT] [--peer ADDR:PORT]... [options] TORRENT\n"
               "       shoal get [options] 'magnet:?xt=urn:btih:...'\n"
               "\n"
               "Download what TORRENT describes into DIR, verifying every piece. Data lands\n"
               "in DIR/<name>.part and is renamed to DIR/<name> once complete; an interrupted\n"
               "download resumes when the same command is run again. Prints \"listening on\n"
               "ADDR:PORT\" on stdout once started.\n"
               "\n"
               "TORRENT may be a magnet link (xt=urn:btih: and/or urn:btmh:, tr=, x.pe=):\n"
               "the metadata is first fetched from the peers that --peer, x.pe=, the\n"
               "trackers (tr=, -t) and the DHT (--dht-bootstrap) name, and checked\n"
               "against the link's hashes (\"fetching metadata\" on stderr).\n"
               "\n"
               "options:\n"
               "  -o, --output DIR           where to put the download (default: .; created\n"
               "                             if missing)\n"
               "      --seed-for SECONDS     keep serving others this long after completing\n"
               "                             (default 0)\n"
               "      --timeout SECONDS      fail if no data arrives from any peer for this\n"
               "                             long (default 300; 0 = wait forever)\n");
    peer_opts_usage_common(f);
    fprintf(f, "\n"
               "Progress (percent, rates, peers, ETA) goes to stderr: one line redrawn on a\n"
               "terminal, else a line every 5 s.\n"
               "exit status: 0 complete; 1 failed, timed out or interrupted (rerun to resume);\n"
               "2 bad usage or bad input (bad torrent, bad address, DIR unusable).\n");
}

/* mkdir -p: DIR is created if missing, as a download tool is expected to. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return ENOMEM;
    int err = 0;
    for (char *s = p + 1; !err; s++) {
        bool end = *s == 0;
        if (*s != '/' && !end) continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) err = errno;
        if (end) break;
        *s = '/';
    }
    free(p);
    return err;
}

static int check_out_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        int e = make_dirs(dir);
        if (e)
            return cli_cmd_error(EXIT_USAGE, CMD, "-o %s: cannot create it: %s", dir, strerror(e));
    }
    if (stat(dir, &st) != 0)
        return cli_cmd_error(EXIT_USAGE, CMD, "-o %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return cli_cmd_error(EXIT_USAGE, CMD, "-o %s: not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_cmd_error(EXIT_USAGE, CMD, "-o %s: %s", dir, strerror(errno));
    return 0;
}

/* TORRENT is a magnet link: fetch the metadata, then download as usual from
 * the peers that had it (and every address we were given). */
static int get_magnet(const peer_opts *o)
{
    int rc;
    if ((rc = check_out_dir(o->out_dir))) return rc;
    if ((rc = peer_check_listen(CMD, &o->listen))) return rc;
    sh_metainfo *mi = NULL;
    sh_addr *peers = NULL;
    size_t npeers = 0;
    peer_opts run = *o; /* the fetch may pick the listen port */
    rc = magnet_get_metadata(&run, &mi, &peers, &npeers);
    if (rc == EXIT_OK) {
        run.peers = peers;
        run.num_peers = npeers;
        rc = peer_session_run_magnet(&run, mi);
    }
    free(peers);
    sh_metainfo_free(mi);
    return rc;
}

int cmd_get(int argc, char **argv)
{
    peer_opts o;
    int rc = peer_opts_parse(argc, argv, true, usage, &o);
    if (rc >= 0) return rc;
    sh_metainfo *mi = NULL;
    if (sh_magnet_is_link(o.torrent)) {
        rc = get_magnet(&o);
        goto out;
    }
    if ((rc = peer_load_torrent(CMD, o.torrent, &mi))) goto out;
    if ((rc = check_out_dir(o.out_dir))) goto out;
    if ((rc = peer_check_listen(CMD, &o.listen))) goto out;
    rc = peer_session_run(&o, mi);
out:
    sh_metainfo_free(mi);
    peer_opts_free(&o);
    return rc;
}
