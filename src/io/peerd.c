/*
 * peerd.c — the peer driver's lifecycle and its pump: after every event the
 * pump drains the swarm's actions, flushes connections that have output,
 * and keeps exactly one loop timer armed at the swarm's next deadline.
 */
#include "io/peerd_int.h"

#include "io/clock.h"
#include "io/net.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

sh_time peerd_now(sh_peerd *p)
{
    /* The loop's now: never decreasing, which the swarm relies on. */
    return sh_loop_now(p->loop);
}

static const char *state_name(sh_peerd_state s)
{
    switch (s) {
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

void peerd_set_state(sh_peerd *p, sh_peerd_state st)
{
    if (p->state == st || p->state == SH_PEERD_FAILED) return;
    sh_log(&p->log, SH_LOG_INFO, "peerd", "%s -> %s", state_name(p->state), state_name(st));
    sh_peerd_state from = p->state;
    p->state = st;
    peerd_tracker_state(p, from, st);
    if (st == SH_PEERD_SEEDING && !p->cfg.seeding && !p->completed) p->completed = peerd_now(p);
    if (p->on_event) p->on_event(p, st, p->event_ud);
}

void peerd_fail(sh_peerd *p, int code, const char *fmt, ...)
{
    if (p->state == SH_PEERD_FAILED) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error_msg, sizeof p->error_msg, fmt, ap);
    va_end(ap);
    p->error = code;
    sh_log(&p->log, SH_LOG_ERROR, "peerd", "%s", p->error_msg);
    /* A failed peer stops trading: no half-working swarm behind a FAILED state. */
    peerd_conn_close_all(p);
    if (p->lfd >= 0) sh_loop_mod(p->loop, p->lfd, 0);
    peerd_rate_cancel(p);
    peerd_set_state(p, SH_PEERD_FAILED);
}

/* ---- the swarm timer ---- */

static void on_swarm_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    sh_peerd *p = ud;
    p->swarm_timer = 0;
    p->swarm_timer_at = SH_TIME_NEVER;
    if (p->swarm && !peerd_dead(p)) sh_swarm_on_timer(p->swarm, sh_loop_now(l));
    peerd_pump(p);
}

static void rearm_swarm_timer(sh_peerd *p)
{
    sh_time d = p->swarm && !peerd_dead(p) ? sh_swarm_next_deadline(p->swarm) : SH_TIME_NEVER;
    if (d == p->swarm_timer_at && (p->swarm_timer || d == SH_TIME_NEVER)) return;
    if (p->swarm_timer) sh_loop_cancel(p->loop, p->swarm_timer);
    p->swarm_timer = 0;
    p->swarm_timer_at = d;
    if (d != SH_TIME_NEVER) p->swarm_timer = sh_loop_timer(p->loop, d, on_swarm_timer, p);
}

/* ---- actions ---- */

static void complete(sh_peerd *p)
{
    sh_errinfo ei = {0};
    int rc = sh_storage_finalize(p->st, &ei);
    if (rc) {
        peerd_fail(p, rc, "download complete but not finalized: %s", ei.msg);
        return;
    }
    sh_log(&p->log, SH_LOG_INFO, "peerd", "complete: %s", sh_storage_path(p->st));
    peerd_set_state(p, SH_PEERD_SEEDING);
}

static void verify(sh_peerd *p, const sh_action *a)
{
    int rc = sh_hasher_submit_write(p->hasher, a->piece, a->data, (uint32_t)a->len);
    if (rc) {
        /* Cannot check it now: report it bad so the swarm fetches it again. */
        sh_log(&p->log, SH_LOG_WARN, "peerd", "piece %u: cannot queue verification: %s", a->piece,
               sh_strerror(rc));
        sh_swarm_verified(p->swarm, a->piece, false, peerd_now(p));
    }
}

static void do_action(sh_peerd *p, const sh_action *a)
{
    switch (a->type) {
    case SH_ACT_CONNECT:
        peerd_conn_connect(p, a->conn, &a->addr);
        break;
    case SH_ACT_CLOSE:
        peerd_conn_close(p, a->conn, a->reason);
        break;
    case SH_ACT_SEND:
        peerd_conn_mark_dirty(p, a->conn);
        break;
    case SH_ACT_VERIFY:
        verify(p, a);
        break;
    case SH_ACT_COMPLETE:
        complete(p);
        break;
    }
}

static void flush_dirty(sh_peerd *p)
{
    idvec work = p->dirty;
    p->dirty = p->dirty_swap;
    p->dirty.n = 0;
    for (size_t i = 0; i < work.n; i++) {
        pconn *c = connmap_find(&p->conns, work.v[i]);
        if (!c) continue;
        c->dirty = false;
        if (!peerd_dead(p)) peerd_conn_flush(p, c);
    }
    work.n = 0;
    p->dirty_swap = work;
}

void peerd_pump(sh_peerd *p)
{
    if (p->pumping || !p->swarm) return;
    p->pumping = true;
    sh_action a;
    for (;;) {
        while (sh_swarm_next_action(p->swarm, &a)) {
            if (peerd_dead(p)) {
                /* Shut down or failed: connections are gone; tell the swarm
                 * about closes it asked for and ignore the rest. */
                if (a.type == SH_ACT_CONNECT || a.type == SH_ACT_CLOSE)
                    sh_swarm_closed(p->swarm, a.conn, SH_ECLOSED, peerd_now(p));
                continue;
            }
            do_action(p, &a);
        }
        if (p->dirty.n == 0) break;
        flush_dirty(p);
    }
    p->pumping = false;
    sh_swarm_stats s;
    sh_swarm_get_stats(p->swarm, &s);
    sh_time now = peerd_now(p);
    ewma_update(&p->down_rate, s.payload_down, now);
    ewma_update(&p->up_rate, s.payload_up, now);
    rearm_swarm_timer(p);
}

/* ---- lifecycle ---- */

static void on_hash_done(void *ud, uint32_t piece, int result)
{
    sh_peerd *p = ud;
    if (p->state == SH_PEERD_CHECKING) {
        peerd_check_done(p, piece, result);
        return;
    }
    if (!p->swarm || peerd_dead(p)) return;
    if (result != 0 && result != SH_EHASH)
        sh_log(&p->log, SH_LOG_WARN, "peerd", "piece %u: %s", piece, sh_strerror(result));
    sh_swarm_verified(p->swarm, piece, result == 0, peerd_now(p));
    peerd_pump(p);
}

/* The workers inherit a fully blocked signal mask, so SIGINT or SIGTERM
 * always reaches the loop's signalfd, even if the caller registers it with
 * sh_loop_signal only after creating the peer. */
static int start_hasher(sh_peerd *p)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc =
        sh_hasher_new(p->loop, p->cfg.mi, p->st, p->cfg.hash_threads, on_hash_done, p, &p->hasher);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int make_identity(sh_peerd *p)
{
    memcpy(p->peer_id, "-SH0100-", 8);
    uint8_t rnd[12 + 8];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n <= 0) return SH_EIO;
        got += (size_t)n;
    }
    memcpy(p->peer_id + 8, rnd, 12);
    memcpy(&p->rng_seed, rnd + 12, 8);
    return 0;
}

static int add_pending(sh_peerd *p, const sh_addr *a, sh_peer_source src)
{
    if (p->npending == p->cap_pending) {
        size_t cap = p->cap_pending ? p->cap_pending * 2 : 16;
        pending_peer *v = realloc(p->pending, cap * sizeof *v);
        if (!v) return SH_ENOMEM;
        p->pending = v;
        p->cap_pending = cap;
    }
    p->pending[p->npending++] = (pending_peer){*a, src};
    return 0;
}

static int open_storage(sh_peerd *p, sh_errinfo *ei)
{
    const sh_peerd_config *c = &p->cfg;
    const char *path = c->seeding ? c->data_path : c->out_dir;
    if (!path)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "no %s given",
                              c->seeding ? "data path" : "output directory");
    if (!c->seeding) {
        /* Nothing under either name: storage is about to create an empty
         * .part, and checking a file of holes would only waste time. */
        char buf[4096];
        int n1 = snprintf(buf, sizeof buf, "%s/%s", path, c->mi->name);
        bool final_exists = n1 > 0 && (size_t)n1 < sizeof buf && access(buf, F_OK) == 0;
        int n2 = snprintf(buf, sizeof buf, "%s/%s.part", path, c->mi->name);
        bool part_exists = n2 > 0 && (size_t)n2 < sizeof buf && access(buf, F_OK) == 0;
        p->fresh = !final_exists && !part_exists && (size_t)n2 < sizeof buf;
    }
    return sh_storage_open(c->mi, path, c->seeding, &p->st, ei);
}

int sh_peerd_new(sh_loop *loop, const sh_peerd_config *cfg, sh_peerd **out, sh_errinfo *ei)
{
    if (!loop || !cfg || !cfg->mi || !out)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "peerd: bad arguments");
    sh_peerd *p = calloc(1, sizeof *p);
    if (!p) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    p->loop = loop;
    p->cfg = *cfg;
    p->cfg.peers = NULL;
    p->cfg.num_peers = 0;
    p->log = cfg->log;
    p->state = SH_PEERD_CHECKING;
    p->lfd = -1;
    p->swarm_timer_at = SH_TIME_NEVER;
    p->started = sh_clock_now();
    sh_ratelimit_init(&p->down, cfg->download_limit, p->started);
    sh_ratelimit_init(&p->up, cfg->upload_limit, p->started);
    ewma_init(&p->down_rate, p->started);
    ewma_init(&p->up_rate, p->started);
    sh_net_ignore_sigpipe(); /* sendfile(2) cannot be told MSG_NOSIGNAL */

    int rc = make_identity(p);
    if (rc) sh_errinfo_set(ei, rc, 0, "getrandom failed");
    for (size_t i = 0; rc == 0 && i < cfg->num_peers; i++) {
        rc = add_pending(p, &cfg->peers[i], SH_SRC_MANUAL);
        if (rc) sh_errinfo_set(ei, rc, 0, "out of memory");
    }
    if (rc == 0) {
        p->rbuf = malloc(PEERD_RECV_BUF);
        if (!p->rbuf) rc = sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    }
    if (rc == 0) rc = open_storage(p, ei);
    if (rc == 0) {
        rc = start_hasher(p);
        if (rc) sh_errinfo_set(ei, rc, 0, "cannot start the hasher threads");
    }
    if (rc == 0) rc = peerd_listen(p, ei);
    if (rc == 0) rc = peerd_tracker_init(p, cfg, ei);
    if (rc == 0) {
        rc = peerd_check_start(p);
        if (rc) sh_errinfo_set(ei, rc, 0, "cannot start checking");
    }
    if (rc) {
        sh_peerd_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void sh_peerd_shutdown(sh_peerd *p)
{
    if (!p || p->shut) return;
    p->shut = true;
    peerd_conn_close_all(p);
    if (p->lfd >= 0) {
        sh_loop_del(p->loop, p->lfd);
        close(p->lfd);
        p->lfd = -1;
    }
    peerd_rate_cancel(p);
    if (p->swarm_timer) sh_loop_cancel(p->loop, p->swarm_timer);
    p->swarm_timer = 0;
    p->swarm_timer_at = SH_TIME_NEVER;
    if (p->start_timer) sh_loop_cancel(p->loop, p->start_timer);
    p->start_timer = 0;
    if (p->accept_timer) sh_loop_cancel(p->loop, p->accept_timer);
    p->accept_timer = 0;
    /* Joins the workers; jobs not started are dropped, results not yet
     * delivered are discarded by the hasher's registry. */
    sh_hasher_free(p->hasher);
    p->hasher = NULL;
    peerd_tracker_stop(p);
}

void sh_peerd_free(sh_peerd *p)
{
    if (!p) return;
    sh_peerd_shutdown(p);
    peerd_tracker_free(p);
    sh_swarm_free(p->swarm);
    sh_storage_close(p->st);
    connmap_free(&p->conns);
    free(p->dirty.v);
    free(p->dirty_swap.v);
    free(p->pending);
    free(p->rbuf);
    sh_bitfield_free(&p->checked_ok);
    free(p);
}

void sh_peerd_add_peer(sh_peerd *p, const sh_addr *a, sh_peer_source src)
{
    if (!p || !a || peerd_dead(p)) return;
    if (!p->swarm) {
        if (add_pending(p, a, src))
            sh_log(&p->log, SH_LOG_WARN, "peerd", "out of memory: peer dropped");
        return;
    }
    sh_swarm_add_peer(p->swarm, a, src, peerd_now(p));
    peerd_pump(p);
}

void sh_peerd_on_event(sh_peerd *p, sh_peerd_event_fn fn, void *ud)
{
    p->on_event = fn;
    p->event_ud = ud;
}

void sh_peerd_status_get(const sh_peerd *p, sh_peerd_status *st)
{
    memset(st, 0, sizeof *st);
    st->state = p->state;
    if (p->swarm) {
        sh_swarm_get_stats(p->swarm, &st->swarm);
    } else {
        st->swarm.num_pieces = p->cfg.mi->num_pieces;
        st->swarm.left = p->cfg.mi->total_size;
    }
    st->checked = p->checked;
    st->bad_on_disk = p->bad_on_disk;
    st->wire_down = p->wire_down;
    st->wire_up = p->wire_up;
    sh_time now = sh_clock_now();
    st->down_rate = ewma_peek(&p->down_rate, st->swarm.payload_down, now);
    st->up_rate = ewma_peek(&p->up_rate, st->swarm.payload_up, now);
    st->started = p->started;
    st->completed = p->completed;
    st->listen = p->listen;
    st->error = p->error;
    memcpy(st->error_msg, p->error_msg, sizeof st->error_msg);
}

size_t sh_peerd_peers(const sh_peerd *p, sh_peer_info *out, size_t max)
{
    return p && p->swarm ? sh_swarm_peers(p->swarm, out, max) : 0;
}
