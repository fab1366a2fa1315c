/* peer_session.c — run one torrent with the peer driver until done (see peer_session.h). */
#include "cli/peer_session.h"

#include "cli/cli.h"
#include "cli/peer_dht.h"
#include "cli/seedcheck.h"
#include "cli/transfer_progress.h"
#include "io/clock.h"
#include "io/loop.h"
#include "io/peerd.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The session's housekeeping tick: progress and --timeout (the --json peer count
 * is the swarm's own peak, so a peer that came and went between ticks counts).
 * A terminal's progress line redraws 4 times a second; without one, once a
 * second is plenty — a fleet runs a thousand of these, and 20 wake-ups a
 * second each cost most of a core for nothing (bench/swarm, N = 1000). */
#define TICK_TTY SH_MS(250)
#define TICK_QUIET SH_SEC(1)
#define TICK(s) ((s)->tp.tty ? TICK_TTY : TICK_QUIET)

typedef enum end_kind {
    END_NONE = 0,
    END_COMPLETE, /* get: complete (and --seed-for served) */
    END_STOPPED,  /* SIGINT/SIGTERM */
    END_TIMEOUT,  /* get: no payload for --timeout seconds */
    END_FAILED,   /* the driver failed */
    END_MISMATCH, /* seed: PATH does not match TORRENT */
} end_kind;

typedef struct session {
    const peer_opts *o;
    const sh_metainfo *mi;
    sh_metainfo *mi_layers; /* magnet: mi, writable */
    sh_loop *loop;
    sh_peerd *pd;
    peer_dht *dht; /* NULL without --dht-bootstrap / --dht-port */
    sh_logger log;
    transfer_progress tp;
    sh_time start, last_data, complete_at;
    uint64_t last_down;
    uint32_t max_peers;
    uint64_t seed_timer;
    bool listening_printed;
    bool complete;
    int signo;
    end_kind end;
    char fail_msg[300];
} session;

/* ---------------------------------------------------------------- helpers */

/* Log lines must not be glued onto a progress line that is being redrawn. */
static void log_sink(void *ud, sh_log_level level, const char *component, const char *msg)
{
    session *s = ud;
    tp_clear(&s->tp);
    if (cli_logger.fn) cli_logger.fn(cli_logger.ud, level, component, msg);
}

static void finish(session *s, end_kind k)
{
    if (s->end == END_NONE) s->end = k;
    sh_loop_stop(s->loop);
}

static const char *state_name(sh_peerd_state st)
{
    switch (st) {
    case SH_PEERD_CHECKING:
        return "checking";
    case SH_PEERD_DOWNLOADING:
        return "downloading";
    case SH_PEERD_SEEDING:
        return "seeding";
    case SH_PEERD_FAILED:
        return "failed";
    }
    return "?";
}

static double secs(sh_time a, sh_time b)
{
    return b > a ? (double)(b - a) / 1e9 : 0.0;
}

static void print_listening(session *s, const sh_peerd_status *st)
{
    if (s->listening_printed) return;
    s->listening_printed = true;
    char a[SH_ADDR_STRLEN];
    sh_addr_format(&st->listen, a, sizeof a);
    sh_log(&s->log, SH_LOG_INFO, s->o->cmd, "listening on %s", a);
    printf("listening on %s\n", a);
    fflush(stdout);
}

static void sample(session *s, sh_peerd_status *st)
{
    sh_peerd_status_get(s->pd, st);
    if (st->swarm.peers_peak > s->max_peers) s->max_peers = st->swarm.peers_peak;
}

/* ---------------------------------------------------------------- events */

static void on_complete(session *s, const sh_peerd_status *st)
{
    s->complete = true;
    /* The clock, not the loop's cached now: the event comes after the driver
     * flushed and renamed the output, which can take a while for big files. */
    s->complete_at = sh_clock_now();
    tp_clear(&s->tp);
    char sz[32], rate[32];
    double t = secs(st->started, s->complete_at);
    cli_fmt_bytes((double)s->mi->content_size, sz, sizeof sz);
    cli_fmt_bytes(t > 0 ? (double)st->swarm.payload_down / t : 0, rate, sizeof rate);
    fprintf(stderr, "shoal get: complete: %s/%s, %s in %.1f s (%s/s)\n", s->o->out_dir, s->mi->name,
            sz, t, rate);
    if (s->o->seed_for <= 0) {
        finish(s, END_COMPLETE);
        return;
    }
    fprintf(stderr, "shoal get: seeding for %g s\n", s->o->seed_for);
}

static void on_seed_for(sh_loop *l, uint64_t id, void *ud)
{
    session *s = ud;
    s->seed_timer = 0;
    finish(s, END_COMPLETE);
}

static void on_event(sh_peerd *pd, sh_peerd_state state, void *ud)
{
    session *s = ud;
    sh_peerd_status st;
    sample(s, &st);
    sh_log(&s->log, SH_LOG_DEBUG, s->o->cmd, "state: %s", state_name(state));
    switch (state) {
    case SH_PEERD_CHECKING:
        return;
    case SH_PEERD_FAILED:
        snprintf(s->fail_msg, sizeof s->fail_msg, "%s",
                 st.error_msg[0] ? st.error_msg : sh_strerror(st.error));
        finish(s, s->o->is_get ? END_FAILED : END_MISMATCH);
        return;
    case SH_PEERD_DOWNLOADING:
        if (!s->o->is_get) {
            finish(s, END_MISMATCH);
            return;
        }
        s->last_data = sh_loop_now(s->loop); /* the timeout counts from here */
        return;
    case SH_PEERD_SEEDING:
        if (!s->o->is_get) {
            if (st.bad_on_disk) {
                finish(s, END_MISMATCH);
                return;
            }
            print_listening(s, &st);
            return;
        }
        if (s->complete) return;
        on_complete(s, &st);
        if (s->end == END_NONE && s->o->seed_for > 0)
            s->seed_timer = sh_loop_timer(
                s->loop, sh_loop_now(s->loop) + (sh_time)(s->o->seed_for * 1e9), on_seed_for, s);
        return;
    }
}

static void on_signal(sh_loop *l, int signo, void *ud)
{
    session *s = ud;
    s->signo = signo;
    finish(s, END_STOPPED);
}

static void check_timeout(session *s, const sh_peerd_status *st, sh_time now)
{
    if (st->swarm.payload_down != s->last_down) {
        s->last_down = st->swarm.payload_down;
        s->last_data = now;
    }
    if (!s->o->is_get || s->complete || s->o->timeout <= 0 || st->state != SH_PEERD_DOWNLOADING)
        return;
    if (secs(s->last_data, now) < s->o->timeout) return;
    uint32_t known = st->swarm.known;
    if (known < s->o->num_peers) known = (uint32_t)s->o->num_peers;
    if (known < st->swarm.peers) known = st->swarm.peers;
    snprintf(s->fail_msg, sizeof s->fail_msg,
             "no data from any peer for %g s; %u of %u peers connected", s->o->timeout,
             st->swarm.peers, known);
    finish(s, END_TIMEOUT);
}

static void show_progress(session *s, const sh_peerd_status *st, sh_time now)
{
    tp_sample smp = {0};
    smp.state = state_name(st->state);
    smp.total = s->mi->total_size;
    if (st->state == SH_PEERD_CHECKING) {
        uint64_t d = (uint64_t)st->checked * s->mi->piece_length;
        smp.done = d;
    } else {
        uint64_t left = st->swarm.left < smp.total ? st->swarm.left : smp.total;
        smp.done = smp.total - left;
    }
    smp.down_rate = st->down_rate;
    smp.up_rate = st->up_rate;
    smp.up_total = st->swarm.payload_up;
    smp.peers = st->swarm.peers;
    smp.show_eta = true;
    /* seed's check is progress worth showing; a seeder's idle line only on a terminal */
    tp_update(&s->tp, &smp, now);
}

static void on_tick(sh_loop *l, uint64_t id, void *ud)
{
    session *s = ud;
    sh_time now = sh_loop_now(l);
    sh_peerd_status st;
    sample(s, &st);
    check_timeout(s, &st, now);
    if (s->end == END_NONE) show_progress(s, &st, now);
    if (s->end == END_NONE && !sh_loop_timer(l, now + TICK(s), on_tick, s)) finish(s, END_FAILED);
}

/* ---------------------------------------------------------------- the end */

static const char *status_word(const session *s)
{
    switch (s->end) {
    case END_COMPLETE:
        return "complete";
    case END_STOPPED:
        return s->o->is_get ? (s->complete ? "complete" : "interrupted") : "stopped";
    case END_TIMEOUT:
        return "timeout";
    case END_MISMATCH:
        return "mismatch";
    case END_FAILED:
    case END_NONE:
        break;
    }
    return "failed";
}

/* [{url, tier, working, fails, peers, last_error}] — what --json says of the trackers. */
static json_t *trackers_json(const session *s)
{
    json_t *arr = json_array();
    sh_tracker_status ts[SH_ANN_MAX_TRACKERS];
    size_t n = s->pd ? sh_peerd_trackers(s->pd, ts, SH_ANN_MAX_TRACKERS) : 0;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *t = json_object();
        if (!t) break;
        json_object_set_new(t, "url", json_string(ts[i].url));
        json_object_set_new(t, "tier", json_integer(ts[i].tier));
        json_object_set_new(t, "working", json_boolean(ts[i].working));
        json_object_set_new(t, "fails", json_integer(ts[i].fails));
        json_object_set_new(t, "peers", json_integer(ts[i].last_peers));
        json_object_set_new(t, "last_error",
                            ts[i].last_error[0] ? json_string(ts[i].last_error) : json_null());
        json_array_append_new(arr, t);
    }
    return arr;
}

/* {nodes, lookups, peers_found, addr} — what --json says of the DHT. */
static json_t *dht_json(const peer_dht *d)
{
    peer_dht_stats ds;
    peer_dht_stats_get(d, &ds);
    char a[SH_ADDR_STRLEN];
    return json_pack("{s:I, s:I, s:I, s:s}", "nodes", (json_int_t)ds.good_nodes, "lookups",
                     (json_int_t)ds.lookups, "peers_found", (json_int_t)ds.peers_found, "addr",
                     sh_addr_format(&ds.addr, a, sizeof a));
}

static void print_json(const session *s, const sh_peerd_status *st, sh_time now)
{
    char h1[41], h2[65];
    const sh_metainfo *mi = s->mi;
    double t = s->complete ? secs(st->started, s->complete_at) : secs(s->start, now);
    json_t *j = json_object();
    if (!j) return;
    json_object_set_new(j, "status", json_string(status_word(s)));
    json_object_set_new(j, "name", json_string(mi->name));
    json_object_set_new(j, "bytes", json_integer((json_int_t)mi->content_size));
    json_object_set_new(j, "seconds", json_real(t));
    json_object_set_new(j, "run_seconds", json_real(secs(s->start, now)));
    /* Of "seconds": the flush of the data to disk before the rename. */
    double flush = s->complete && st->verified ? secs(st->verified, st->completed) : 0.0;
    json_object_set_new(j, "flush_seconds", json_real(flush));
    json_object_set_new(j, "down_bytes", json_integer((json_int_t)st->swarm.payload_down));
    json_object_set_new(j, "up_bytes", json_integer((json_int_t)st->swarm.payload_up));
    json_object_set_new(j, "wasted_bytes", json_integer((json_int_t)st->swarm.wasted));
    json_object_set_new(j, "wire_down", json_integer((json_int_t)st->wire_down));
    json_object_set_new(j, "wire_up", json_integer((json_int_t)st->wire_up));
    json_object_set_new(j, "peers", json_integer(s->max_peers));
    json_object_set_new(j, "hash_failures", json_integer(st->swarm.hash_failures));
    json_object_set_new(j, "banned", json_integer(st->swarm.banned));
    json_object_set_new(j, "pieces", json_integer(mi->num_pieces));
    json_object_set_new(j, "pieces_have", json_integer(st->swarm.pieces_have));
    /* info_hash: the v1 hash when there is one (what v1 trackers and tools
     * show), else the full v2 hash; both spelled out as `shoal info` does. */
    bool v1 = mi->version & SH_META_V1, v2 = mi->version & SH_META_V2;
    if (v1) sh_hex(mi->info_hash_v1, 20, h1);
    if (v2) sh_hex(mi->info_hash_v2, 32, h2);
    json_object_set_new(j, "info_hash", json_string(v1 ? h1 : h2));
    json_object_set_new(j, "info_hash_v1", v1 ? json_string(h1) : json_null());
    json_object_set_new(j, "info_hash_v2", v2 ? json_string(h2) : json_null());
    json_object_set_new(j, "trackers", trackers_json(s));
    if (s->dht) json_object_set_new(j, "dht", dht_json(s->dht));
    if (s->fail_msg[0]) json_object_set_new(j, "error", json_string(s->fail_msg));
    json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(j);
}

/* seed: the data does not match. Says which pieces; always EXIT_USAGE. */
static int report_mismatch(const session *s)
{
    seedcheck_result r;
    if (seedcheck_run(s->mi, s->o->path, &r))
        return cli_cmd_error(EXIT_FAIL, s->o->cmd, "out of memory");
    char sum[160];
    seedcheck_summary(s->mi, &r, sum, sizeof sum);
    if (r.bad == 0 && !r.file_problem[0]) {
        /* our own reading finds nothing wrong: report what the driver said */
        return cli_cmd_error(EXIT_FAIL, s->o->cmd, "%s: %s", s->o->path,
                             s->fail_msg[0] ? s->fail_msg : "the startup check failed");
    }
    cli_cmd_error(EXIT_USAGE, s->o->cmd, "%s does not match %s: %s", s->o->path, s->o->torrent,
                  sum);
    if (r.file_problem[0]) fprintf(stderr, "  %s\n", r.file_problem);
    return EXIT_USAGE;
}

static int conclude(session *s, const sh_peerd_status *st)
{
    const char *cmd = s->o->cmd;
    char done[32], total[32], up[32];
    cli_fmt_bytes(
        (double)(s->mi->total_size -
                 (st->swarm.left < s->mi->total_size ? st->swarm.left : s->mi->total_size)),
        done, sizeof done);
    cli_fmt_bytes((double)s->mi->total_size, total, sizeof total);
    cli_fmt_bytes((double)st->swarm.payload_up, up, sizeof up);
    switch (s->end) {
    case END_COMPLETE:
        return EXIT_OK;
    case END_MISMATCH:
        return report_mismatch(s);
    case END_TIMEOUT:
        cli_cmd_error(EXIT_FAIL, cmd, "%s", s->fail_msg);
        fprintf(stderr, "  %s of %s kept in %s/%s.part; run the same command again to resume\n",
                done, total, s->o->out_dir, s->mi->name);
        return EXIT_FAIL;
    case END_STOPPED:
        if (!s->o->is_get) {
            fprintf(stderr, "shoal seed: stopped by signal %d after %.0f s; uploaded %s\n",
                    s->signo, secs(s->start, sh_loop_now(s->loop)), up);
            return EXIT_OK;
        }
        if (s->complete) return EXIT_OK;
        fprintf(stderr,
                "shoal get: interrupted (signal %d) with %s of %s; the partial data is kept in "
                "%s/%s.part.\n"
                "  Run the same command again to resume: pieces already there are verified, not "
                "fetched again.\n",
                s->signo, done, total, s->o->out_dir, s->mi->name);
        return EXIT_FAIL;
    case END_FAILED:
    case END_NONE:
        break;
    }
    return cli_cmd_error(EXIT_FAIL, cmd, "failed: %s",
                         s->fail_msg[0] ? s->fail_msg : "event loop error");
}

/* ---------------------------------------------------------------- setup */

static int start_driver(session *s, sh_errinfo *ei)
{
    const peer_opts *o = s->o;
    sh_peerd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mi = s->mi;
    cfg.mi_layers = s->mi_layers;
    cfg.seeding = !o->is_get;
    cfg.data_path = o->path;
    cfg.out_dir = o->out_dir;
    cfg.listen = o->listen;
    cfg.peers = o->peers;
    cfg.num_peers = o->num_peers;
    cfg.upload_limit = o->upload_limit;
    cfg.download_limit = o->download_limit;
    cfg.max_conns = o->max_conns;
    cfg.log = s->log;
    /* the torrent's tiers (unless --no-tracker), then each -t URL as a tier
     * of its own, so that every one is announced to; peerd copies them */
    uint32_t own = o->no_tracker ? 0 : s->mi->num_tiers;
    sh_tier *tiers = calloc((size_t)own + o->num_trackers + 1, sizeof *tiers);
    if (!tiers) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    for (uint32_t i = 0; i < own; i++)
        tiers[i] = s->mi->tiers[i];
    for (size_t i = 0; i < o->num_trackers; i++)
        tiers[own + i] = (sh_tier){(char **)&o->trackers[i], 1};
    cfg.trackers = tiers;
    cfg.num_tracker_tiers = own + (uint32_t)o->num_trackers;
    int rc = sh_peerd_new(s->loop, &cfg, &s->pd, ei);
    free(tiers);
    return rc;
}

static int run(session *s)
{
    const peer_opts *o = s->o;
    if (sh_loop_new(&s->loop))
        return cli_cmd_error(EXIT_FAIL, o->cmd, "cannot create the event loop");
    if (sh_loop_signal(s->loop, SIGINT, on_signal, s) ||
        sh_loop_signal(s->loop, SIGTERM, on_signal, s))
        return cli_cmd_error(EXIT_FAIL, o->cmd, "cannot install signal handlers");
    s->start = sh_loop_now(s->loop);
    tp_init(&s->tp, o->is_get ? "shoal get" : "shoal seed", cli_stderr_is_tty(), s->start);

    sh_errinfo ei = {0};
    int rc = start_driver(s, &ei);
    if (rc) {
        snprintf(s->fail_msg, sizeof s->fail_msg, "%s", ei.msg[0] ? ei.msg : sh_strerror(rc));
        s->end = o->is_get ? END_FAILED : END_MISMATCH;
        return -1;
    }
    sh_peerd_on_event(s->pd, on_event, s);
    if (peer_dht_wanted(o) &&
        (rc = peer_dht_start(s->loop, o, s->mi, s->pd, s->log, &s->dht, &ei))) {
        snprintf(s->fail_msg, sizeof s->fail_msg, "DHT: %s", ei.msg[0] ? ei.msg : sh_strerror(rc));
        s->end = END_FAILED;
        return -1;
    }
    sh_peerd_status st;
    sample(s, &st);
    s->last_data = s->start;
    if (o->is_get) print_listening(s, &st);
    if (st.state != SH_PEERD_CHECKING)
        on_event(s->pd, st.state, s); /* changed before we listened */
    if (s->end == END_NONE && !sh_loop_timer(s->loop, s->start + TICK(s), on_tick, s))
        return cli_cmd_error(EXIT_FAIL, o->cmd, "out of memory");
    if (s->end == END_NONE && sh_loop_run(s->loop))
        snprintf(s->fail_msg, sizeof s->fail_msg, "the event loop failed"), s->end = END_FAILED;
    return -1;
}

static int session_run(const peer_opts *o, const sh_metainfo *mi, sh_metainfo *mi_layers)
{
    session s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.mi = mi;
    s.mi_layers = mi_layers;
    s.log = (sh_logger){log_sink, &s, cli_logger.level};
    /* A peer that vanishes mid-sendfile must cost a connection, not the process. */
    signal(SIGPIPE, SIG_IGN);

    int code = run(&s);
    sh_peerd_status st;
    memset(&st, 0, sizeof st);
    if (s.pd) {
        sample(&s, &st);
        sh_peerd_shutdown(s.pd);
    }
    tp_clear(&s.tp);
    if (code < 0) {
        sh_time now = s.loop ? sh_loop_now(s.loop) : sh_clock_now();
        if (o->json) print_json(&s, &st, now);
        code = conclude(&s, &st);
    }
    if (s.seed_timer && s.loop) sh_loop_cancel(s.loop, s.seed_timer);
    peer_dht_free(s.dht); /* before the driver it feeds */
    sh_peerd_free(s.pd);
    sh_loop_free(s.loop);
    return code;
}

int peer_session_run(const peer_opts *o, const sh_metainfo *mi)
{
    return session_run(o, mi, NULL);
}

int peer_session_run_magnet(const peer_opts *o, sh_metainfo *mi)
{
    return session_run(o, mi, mi);
}
