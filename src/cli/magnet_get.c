/*
 * magnet_get.c — fetching a magnet link's metadata before the download (see
 * magnet_get.h). Peers come from --peer, the link's x.pe=, the trackers
 * (the link's tr= unless --no-tracker, and -t, announced to as a leecher
 * for the duration of the fetch) and the DHT (--dht-bootstrap, lookups
 * without announcing: cli/magnet_dht.h).
 */
#include "cli/magnet_get.h"

#include "cli/cli.h"
#include "cli/magnet_dht.h"
#include "io/loop.h"
#include "io/metafetch_drv.h"
#include "io/net.h"
#include "io/tracker_client.h"

#include <shoal/magnet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "get"
#define TICK SH_MS(250)
#define PLAIN_EVERY SH_SEC(5)
#define MAX_PEERS_OUT 4096u

typedef struct fetch {
    const peer_opts *o;
    sh_loop *loop;
    sh_mfdrv *d;
    sh_tracker_client *tc;
    magnet_dht *dht;
    bool tty, drawn, done;
    int signo;
    bool timed_out;
    sh_time last_line, last_progress;
    uint32_t last_have;
    uint64_t tick;
} fetch;

static void clear_line(fetch *f)
{
    if (f->drawn) fputs("\r\033[K", stderr);
    f->drawn = false;
}

static void log_sink(void *ud, sh_log_level level, const char *component, const char *msg)
{
    clear_line(ud);
    if (cli_logger.fn) cli_logger.fn(cli_logger.ud, level, component, msg);
}

static void show(fetch *f, const sh_metafetch_stats *st, sh_time now)
{
    if (now - f->last_line < (f->tty ? TICK : PLAIN_EVERY)) return;
    f->last_line = now;
    char line[160];
    int n = snprintf(line, sizeof line, "shoal get: fetching metadata (%u peer%s", st->peers,
                     st->peers == 1 ? "" : "s");
    if (st->size && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, ", %u of %u pieces)", st->pieces_have,
                 st->pieces);
    else if (n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, ", %u known)", st->known);
    if (f->tty) {
        fprintf(stderr, "\r\033[K%s", line);
        f->drawn = true;
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

static void on_tick(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    fetch *f = ud;
    f->tick = 0;
    sh_time now = sh_loop_now(l);
    sh_metafetch_stats st;
    sh_mfdrv_stats(f->d, &st);
    if (st.pieces_have != f->last_have) {
        f->last_have = st.pieces_have;
        f->last_progress = now;
    }
    if (f->o->timeout > 0 && (double)(now - f->last_progress) / 1e9 >= f->o->timeout) {
        f->timed_out = true;
        sh_loop_stop(l);
        return;
    }
    show(f, &st, now);
    f->tick = sh_loop_timer(l, now + TICK, on_tick, f);
}

static void on_done(sh_mfdrv *d, void *ud)
{
    (void)d;
    fetch *f = ud;
    f->done = true;
    sh_loop_stop(f->loop);
}

static void on_signal(sh_loop *l, int signo, void *ud)
{
    fetch *f = ud;
    f->signo = signo;
    sh_loop_stop(l);
}

/* ---- trackers: the link's tr= (unless --no-tracker), then each -t ---- */

static void on_tracker_peers(void *ud, const sh_tpeer *peers, uint32_t n)
{
    fetch *f = ud;
    for (uint32_t i = 0; i < n; i++) {
        if (sh_addr_eq(&peers[i].addr, &f->o->listen)) continue; /* ourselves */
        sh_mfdrv_add_peer(f->d, &peers[i].addr, SH_SRC_TRACKER);
    }
}

/* Without the metadata the size is unknown; announce a leecher that lacks something. */
static void tracker_totals(void *ud, uint64_t *up, uint64_t *down, uint64_t *left)
{
    (void)ud;
    *up = *down = 0;
    *left = 1;
}

/* A tracker client for the fetch; none without trackers. Failing to start one is
 * not fatal (the --peer / x.pe peers may do). */
static void start_trackers(fetch *f, const sh_magnet *link)
{
    const peer_opts *o = f->o;
    uint32_t own = o->no_tracker ? 0 : link->num_trackers;
    if (own + o->num_trackers == 0) return;
    sh_tier *tiers = calloc((size_t)own + o->num_trackers, sizeof *tiers);
    if (!tiers) return;
    for (uint32_t i = 0; i < own; i++)
        tiers[i] = (sh_tier){&link->trackers[i], 1};
    for (size_t i = 0; i < o->num_trackers; i++)
        tiers[own + i] = (sh_tier){(char **)&o->trackers[i], 1};
    sh_tracker_client_config tc = {.tiers = tiers, .num_tiers = own + (uint32_t)o->num_trackers};
    memcpy(tc.info_hash, sh_magnet_wire_hash(link), 20);
    memcpy(tc.peer_id, sh_metafetch_peer_id(sh_mfdrv_core(f->d)), 20);
    tc.listen = o->listen;
    tc.seed = sh_loop_now(f->loop);
    tc.log = (sh_logger){log_sink, f, cli_logger.level};
    tc.on_peers = on_tracker_peers;
    tc.totals = tracker_totals;
    tc.ud = f;
    sh_errinfo ei = {0};
    if (sh_tracker_client_new(f->loop, &tc, &f->tc, &ei))
        fprintf(stderr, "shoal get: trackers not used for the metadata: %s\n", ei.msg);
    free(tiers);
}

static int parse_link(const peer_opts *o, sh_magnet **link)
{
    sh_errinfo ei = {0};
    int rc = sh_magnet_parse(o->torrent, strlen(o->torrent), link, &ei);
    if (rc == SH_ENOMEM) return cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
    if (rc) return cli_cmd_error(EXIT_USAGE, CMD, "bad magnet link: %s", ei.msg);
    if ((*link)->ignored)
        fprintf(stderr,
                "shoal get: %u tr=/x.pe= value%s of the magnet link ignored (host names "
                "or over the limits)\n",
                (*link)->ignored, (*link)->ignored == 1 ? "" : "s");
    return 0;
}

/* --peer, x.pe, and the fetch's own good peers, without duplicates. */
static int collect_peers(const peer_opts *o, const sh_magnet *link, const sh_metafetch *mf,
                         sh_addr **out, size_t *n)
{
    size_t cap = o->num_peers + link->num_peers + MAX_PEERS_OUT;
    sh_addr *v = malloc(cap * sizeof *v), *found = malloc(MAX_PEERS_OUT * sizeof *found);
    if (!v || !found) {
        free(v);
        free(found);
        return SH_ENOMEM;
    }
    size_t k = 0, nf = sh_metafetch_peers(mf, found, MAX_PEERS_OUT);
    const sh_addr *lists[3] = {found, o->peers, link->peers};
    size_t counts[3] = {nf, o->num_peers, link->num_peers};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            bool dup = false;
            for (size_t j = 0; j < k && !dup; j++)
                dup = sh_addr_eq(&v[j], &lists[l][i]);
            if (!dup) v[k++] = lists[l][i];
        }
    free(found);
    *out = v;
    *n = k;
    return 0;
}

/* The verified info dictionary, with the link's trackers, as a metainfo. */
static int build_metainfo(const sh_magnet *link, const sh_metafetch *mf, sh_metainfo **mi)
{
    size_t len = 0;
    const uint8_t *info = sh_metafetch_info(mf, &len);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_magnet_torrent(link, info, len, &b);
    if (b.err) {
        sh_bbuf_free(&b);
        return cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
    }
    sh_errinfo ei = {0};
    int rc = sh_metainfo_parse(b.data, b.len, mi, &ei);
    sh_bbuf_free(&b);
    if (rc)
        return cli_cmd_error(EXIT_FAIL, CMD, "the fetched metadata is not a valid torrent: %s",
                             ei.msg[0] ? ei.msg : sh_strerror(rc));
    return 0;
}

static int conclude(fetch *f, const sh_magnet *link, sh_metainfo **mi, sh_addr **peers,
                    size_t *npeers)
{
    sh_metafetch_stats st;
    sh_mfdrv_stats(f->d, &st);
    const sh_metafetch *mf = sh_mfdrv_core(f->d);
    if (f->signo)
        return cli_cmd_error(EXIT_FAIL, CMD, "interrupted (signal %d) while fetching metadata",
                             f->signo);
    if (f->timed_out)
        return cli_cmd_error(EXIT_FAIL, CMD,
                             "no metadata from any peer for %g s; %u of %u peers connected, %u "
                             "offering metadata%s",
                             f->o->timeout, st.peers, st.known, st.with_metadata,
                             st.known ? "" : " (give peers with --peer or x.pe=)");
    if (!f->done || st.state != SH_MF_DONE)
        return cli_cmd_error(EXIT_FAIL, CMD, "metadata fetch failed: %s",
                             st.error_msg[0] ? st.error_msg : "the event loop failed");
    int rc = build_metainfo(link, mf, mi);
    if (rc) return rc;
    fprintf(stderr, "shoal get: metadata: %s, %llu bytes from %u peer%s\n", (*mi)->name,
            (unsigned long long)st.size, st.peers, st.peers == 1 ? "" : "s");
    if (collect_peers(f->o, link, mf, peers, npeers)) {
        sh_metainfo_free(*mi);
        *mi = NULL;
        return cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
    }
    return EXIT_OK;
}

static int run(fetch *f, const sh_magnet *link)
{
    const peer_opts *o = f->o;
    if (sh_loop_new(&f->loop)) return cli_cmd_error(EXIT_FAIL, CMD, "cannot create the event loop");
    if (sh_loop_signal(f->loop, SIGINT, on_signal, f) ||
        sh_loop_signal(f->loop, SIGTERM, on_signal, f))
        return cli_cmd_error(EXIT_FAIL, CMD, "cannot install signal handlers");
    sh_mfdrv_config c = {.link = link, .source = o->listen, .listen_port = o->listen.port};
    c.log = (sh_logger){log_sink, f, cli_logger.level};
    sh_errinfo ei = {0};
    int rc = sh_mfdrv_new(f->loop, &c, &f->d, &ei);
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "%s", ei.msg[0] ? ei.msg : sh_strerror(rc));
    sh_mfdrv_on_done(f->d, on_done, f);
    for (size_t i = 0; i < o->num_peers; i++)
        sh_mfdrv_add_peer(f->d, &o->peers[i], SH_SRC_MANUAL);
    start_trackers(f, link);
    sh_logger lg = {log_sink, f, cli_logger.level};
    if (magnet_dht_start(f->loop, o, sh_magnet_wire_hash(link), f->d, lg, &f->dht, &ei))
        fprintf(stderr, "shoal get: the DHT is not used for the metadata: %s\n", ei.msg);
    sh_time now = sh_loop_now(f->loop);
    f->last_progress = now;
    f->last_line = now - SH_SEC(3600);
    f->tick = sh_loop_timer(f->loop, now, on_tick, f);
    if (!f->tick) return cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
    if (sh_loop_run(f->loop)) return cli_cmd_error(EXIT_FAIL, CMD, "the event loop failed");
    return -1;
}

/* Port 0: ask the system for a free one now (bind and release it). */
static int pick_port(peer_opts *o)
{
    if (o->listen.port) return 0;
    int fd;
    sh_addr bound;
    sh_errinfo ei = {0};
    if (sh_net_listen(&o->listen, 1, &fd, &bound, &ei))
        return cli_cmd_error(EXIT_FAIL, CMD, "cannot find a port to listen on: %s", ei.msg);
    close(fd);
    o->listen.port = bound.port;
    if (o->listen.family == 0) o->listen.family = bound.family;
    return 0;
}

int magnet_get_metadata(peer_opts *o, sh_metainfo **mi, sh_addr **peers, size_t *npeers)
{
    sh_magnet *link = NULL;
    int rc = parse_link(o, &link);
    if (!rc) rc = pick_port(o);
    if (rc) {
        sh_magnet_free(link);
        return rc;
    }
    fetch f;
    memset(&f, 0, sizeof f);
    f.o = o;
    f.tty = cli_stderr_is_tty();
    signal(SIGPIPE, SIG_IGN);
    rc = run(&f, link);
    clear_line(&f);
    if (rc < 0) rc = conclude(&f, link, mi, peers, npeers);
    if (f.tick) sh_loop_cancel(f.loop, f.tick);
    magnet_dht_free(f.dht);       /* its port is the download's node's */
    sh_tracker_client_free(f.tc); /* no stopped: the download announces again at once */
    sh_mfdrv_free(f.d);
    sh_loop_free(f.loop);
    sh_magnet_free(link);
    return rc;
}
