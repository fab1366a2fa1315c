/*
 * peerd_conn.c — the sockets of the peer driver: the listener, outgoing
 * connects, and each connection's reads and writes.
 *
 * Reads go into one shared buffer and straight into sh_swarm_recv. Writes
 * pull the swarm's pending segments: protocol bytes with writev (MSG_MORE
 * while more follows), block payloads with sendfile from storage. Both
 * directions draw on the peer-wide token buckets; a connection that finds
 * its bucket empty leaves the epoll set for that direction and waits for the
 * rate timer, so a limited peer never spins. EV_WRITE is armed only while a
 * socket is full with output pending.
 */
#include "io/peerd_int.h"

#include "io/net.h"

#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEGS 16
#define RATE_CHUNK 16384u /* wake up when this much budget has returned */

static void set_events(sh_peerd *p, pconn *c)
{
    uint32_t ev;
    if (c->connecting) {
        ev = SH_EV_WRITE;
    } else {
        ev = c->read_blocked ? 0 : SH_EV_READ;
        if (c->write_pending && !c->write_blocked) ev |= SH_EV_WRITE;
    }
    if (ev == c->events) return;
    if (sh_loop_mod(p->loop, c->fd, ev) == 0) c->events = ev;
}

static void on_conn_event(sh_loop *l, int fd, uint32_t ev, void *ud);

static pconn *conn_new(sh_peerd *p, sh_conn_id id, int fd, const sh_addr *a, bool connecting)
{
    pconn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (pconn){.p = p, .id = id, .fd = fd, .connecting = connecting, .addr = *a};
    c->events = connecting ? SH_EV_WRITE : SH_EV_READ;
    if (sh_loop_add(p->loop, fd, c->events, on_conn_event, c) != 0) {
        free(c);
        return NULL;
    }
    if (connmap_add(&p->conns, c) != 0) {
        sh_loop_del(p->loop, fd);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_destroy(sh_peerd *p, pconn *c)
{
    sh_loop_del(p->loop, c->fd);
    close(c->fd);
    connmap_remove(&p->conns, c->id);
    free(c);
}

void peerd_conn_close(sh_peerd *p, sh_conn_id id, int reason)
{
    pconn *c = connmap_find(&p->conns, id);
    if (c) conn_destroy(p, c);
    if (p->swarm) sh_swarm_closed(p->swarm, id, reason, peerd_now(p));
}

void peerd_conn_close_all(sh_peerd *p)
{
    while (p->conns.n)
        peerd_conn_close(p, p->conns.v[p->conns.n - 1]->id, SH_ECLOSED);
}

void peerd_conn_mark_dirty(sh_peerd *p, sh_conn_id id)
{
    pconn *c = connmap_find(&p->conns, id);
    if (!c || c->dirty || c->connecting) return;
    if (idvec_push(&p->dirty, id) == 0) {
        c->dirty = true;
    } else {
        c->write_pending = true; /* out of memory: let EV_WRITE bring us back */
        set_events(p, c);
    }
}

/* ---- writing ---- */

static void block_writes(sh_peerd *p, pconn *c)
{
    c->write_blocked = true;
    set_events(p, c);
    peerd_rate_wait(p, &p->up, RATE_CHUNK);
}

/* Sends leading byte segments with writev, or one block with sendfile.
 * Returns bytes written (>= 0) and sets *want to what was attempted. */
static ssize_t write_some(sh_peerd *p, pconn *c, const sh_seg *segs, size_t n, uint64_t budget,
                          size_t *want)
{
    if (segs[0].kind == SH_SEG_BLOCK) {
        uint32_t len = segs[0].len < budget ? segs[0].len : (uint32_t)budget;
        *want = len;
        ssize_t w = sh_storage_sendfile(p->st, c->fd, segs[0].piece, segs[0].offset, len);
        p->sendfile_calls++;
        if (w > 0) p->sendfile_bytes += (uint64_t)w;
        return w;
    }
    struct iovec iov[SEGS];
    size_t k = 0, total = 0;
    while (k < n && segs[k].kind == SH_SEG_BYTES && total < budget) {
        size_t len = segs[k].len;
        if (len > budget - total) len = (size_t)(budget - total);
        iov[k].iov_base = (void *)segs[k].ptr;
        iov[k].iov_len = len;
        total += len;
        k++;
    }
    *want = total;
    /* Hold the packet back only if we will write again at once. */
    bool more = total < budget && (k < n || n == SEGS);
    return sh_net_writev(c->fd, iov, (int)k, more);
}

/*
 * Leading protocol bytes of a connection's output that are not a piece
 * header: requests, haves, chokes, interest, PEX. Block data always comes
 * as header bytes (the last 13 of a byte run) and a block segment; when the
 * segments end without one, one may follow, so its header is kept back too.
 */
#define PIECE_HEADER 13u
static size_t control_prefix(const sh_seg *segs, size_t n)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        if (segs[k].kind == SH_SEG_BLOCK) return total > PIECE_HEADER ? total - PIECE_HEADER : 0;
        total += segs[k].len;
    }
    if (n == SEGS) return total > PIECE_HEADER ? total - PIECE_HEADER : 0;
    return total;
}

/*
 * Under an upload limit small protocol messages go out at once and are
 * charged as debt that later tokens repay: a request or a HAVE that waited
 * behind bulk data on a busy link delayed the piece it asked for or
 * announced by a token-bucket turn (bench/swarm at 16 KiB/s). At most
 * PEERD_CTL_MAX at a time, so a large bitfield or metadata still waits.
 * Returns false if c was closed.
 */
static bool flush_control(sh_peerd *p, pconn *c, const sh_seg *segs, size_t n, uint64_t budget,
                          sh_time now, bool *full)
{
    size_t ctl = control_prefix(segs, n);
    if (ctl == 0 || ctl <= budget || ctl > PEERD_CTL_MAX) return true;
    size_t want = 0;
    ssize_t w = write_some(p, c, segs, n, ctl, &want);
    if (w < 0) {
        peerd_conn_close(p, c->id, (int)w);
        return false;
    }
    if (w > 0) {
        sh_swarm_sent(p->swarm, c->id, (size_t)w, now);
        p->wire_up += (uint64_t)w;
        sh_ratelimit_charge(&p->up, now, (uint64_t)w);
    }
    *full = (size_t)w < want;
    return true;
}

void peerd_conn_flush(sh_peerd *p, pconn *c)
{
    if (c->connecting || !p->swarm) return;
    sh_time now = peerd_now(p);
    uint64_t avail = sh_ratelimit_available(&p->up, now);
    bool by_rate = avail <= PEERD_FLUSH_MAX;
    uint64_t budget = by_rate ? avail : PEERD_FLUSH_MAX;
    sh_seg segs[SEGS];
    for (;;) {
        size_t n = sh_swarm_out(p->swarm, c->id, segs, SEGS);
        if (n == 0) {
            c->write_pending = false;
            set_events(p, c);
            return;
        }
        if (by_rate) {
            bool full = false;
            if (!flush_control(p, c, segs, n, budget, now, &full)) return;
            if (full) { /* socket full */
                c->write_pending = true;
                set_events(p, c);
                return;
            }
            n = sh_swarm_out(p->swarm, c->id, segs, SEGS);
            if (n == 0) continue;
        }
        if (budget == 0) {
            if (by_rate) {
                block_writes(p, c);
            } else { /* fairness: let the loop serve others, then continue */
                c->write_pending = true;
                set_events(p, c);
            }
            return;
        }
        size_t want = 0;
        ssize_t w = write_some(p, c, segs, n, budget, &want);
        if (w >= 0 && want == 0) { /* an empty segment: nothing can advance */
            c->write_pending = false;
            set_events(p, c);
            return;
        }
        if (w < 0) {
            peerd_conn_close(p, c->id, (int)w);
            return;
        }
        if (w > 0) {
            sh_swarm_sent(p->swarm, c->id, (size_t)w, now);
            p->wire_up += (uint64_t)w;
            sh_ratelimit_take(&p->up, now, (uint64_t)w);
            budget -= (uint64_t)w;
        }
        if ((size_t)w < want) { /* socket full */
            c->write_pending = true;
            set_events(p, c);
            return;
        }
    }
}

/* ---- reading ---- */

/* False if c was closed. */
static bool do_read(sh_peerd *p, pconn *c)
{
    sh_time now = peerd_now(p);
    for (int i = 0; i < PEERD_READS_PER_EVENT; i++) {
        uint64_t avail = sh_ratelimit_available(&p->down, now);
        if (avail == 0) {
            c->read_blocked = true;
            set_events(p, c);
            peerd_rate_wait(p, &p->down, RATE_CHUNK);
            return true;
        }
        size_t want = avail < PEERD_RECV_BUF ? (size_t)avail : PEERD_RECV_BUF;
        ssize_t n = sh_net_recv(c->fd, p->rbuf, want);
        if (n == SH_EAGAIN) return true;
        if (n < 0) {
            peerd_conn_close(p, c->id, (int)n);
            return false;
        }
        sh_ratelimit_take(&p->down, now, (uint64_t)n);
        p->wire_down += (uint64_t)n;
        /* A protocol error has queued SH_ACT_CLOSE: stop feeding it. */
        if (sh_swarm_recv(p->swarm, c->id, p->rbuf, (size_t)n, now) < 0) return true;
        if ((size_t)n < want) return true; /* drained */
    }
    return true;
}

static void finish_connect(sh_peerd *p, pconn *c)
{
    sh_errinfo ei = {0};
    int rc = sh_net_connect_result(c->fd, &ei);
    if (rc == SH_EAGAIN) return;
    if (rc) {
        char a[SH_ADDR_STRLEN];
        sh_log(&p->log, SH_LOG_DEBUG, "peerd", "connect %s: %s",
               sh_addr_format(&c->addr, a, sizeof a), ei.msg);
        peerd_conn_close(p, c->id, rc);
        return;
    }
    c->connecting = false;
    sh_net_nodelay(c->fd, true);
    set_events(p, c);
    sh_swarm_connected(p->swarm, c->id, peerd_now(p));
    /* Output may have been queued while connecting (its SEND was ignored). */
    peerd_conn_mark_dirty(p, c->id);
}

static void on_conn_event(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    (void)l, (void)fd;
    pconn *c = ud;
    sh_peerd *p = c->p;
    if (peerd_dead(p) || !p->swarm) return;
    if (c->connecting) {
        finish_connect(p, c);
    } else {
        bool alive = true;
        if (ev & SH_EV_READ) alive = do_read(p, c);
        if (alive && (ev & SH_EV_WRITE)) peerd_conn_flush(p, c);
    }
    peerd_pump(p);
}

void peerd_conn_connect(sh_peerd *p, sh_conn_id id, const sh_addr *a)
{
    int fd;
    sh_errinfo ei = {0};
    int rc = sh_net_connect(a, &p->listen, &fd, &ei);
    if (rc) {
        sh_log(&p->log, SH_LOG_DEBUG, "peerd", "%s", ei.msg);
        sh_swarm_closed(p->swarm, id, rc, peerd_now(p));
        return;
    }
    if (!conn_new(p, id, fd, a, true)) {
        close(fd);
        sh_swarm_closed(p->swarm, id, SH_ENOMEM, peerd_now(p));
    }
}

/*
 * The rate timer wakes every parked connection; the first to write takes
 * every token there is. Starting one connection further each time shares a
 * limited upload round robin among the connections that have output, as a
 * kernel shares a link among TCP flows. Always starting at the first
 * connection fed it alone: on a 16 KiB/s link the others waited longer
 * than the snub timeout for their first block (bench/swarm N = 1000).
 */
void peerd_conn_unblock(sh_peerd *p)
{
    size_t n = p->conns.n;
    size_t start = n ? p->unblock_next++ % n : 0;
    for (size_t k = 0; k < n; k++) {
        pconn *c = p->conns.v[(start + k) % n];
        if (c->read_blocked) {
            c->read_blocked = false;
            set_events(p, c);
        }
        if (c->write_blocked) {
            c->write_blocked = false;
            peerd_conn_mark_dirty(p, c->id);
        }
    }
}

/* ---- listening ---- */

static void on_accept_retry(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    sh_peerd *p = ud;
    p->accept_timer = 0;
    if (p->lfd >= 0 && !peerd_dead(p)) sh_loop_mod(l, p->lfd, SH_EV_READ);
}

static void on_accept(sh_loop *l, int lfd, uint32_t ev, void *ud)
{
    (void)ev;
    sh_peerd *p = ud;
    if (peerd_dead(p) || !p->swarm) return;
    for (int i = 0; i < PEERD_ACCEPT_BATCH; i++) {
        int fd;
        sh_addr remote;
        sh_errinfo ei = {0};
        int rc = sh_net_accept(lfd, &fd, &remote, &ei);
        if (rc == SH_EAGAIN) break;
        if (rc) {
            /* Out of descriptors or similar: level-triggered epoll would
             * spin, so pause accepting for a second. */
            sh_log(&p->log, SH_LOG_WARN, "peerd", "%s; pausing accepts", ei.msg);
            sh_loop_mod(l, lfd, 0);
            if (!p->accept_timer)
                p->accept_timer = sh_loop_timer(l, sh_loop_now(l) + SH_SEC(1), on_accept_retry, p);
            break;
        }
        sh_conn_id id = sh_swarm_accept(p->swarm, &remote, peerd_now(p));
        if (id == 0) {
            close(fd);
            continue;
        }
        sh_net_nodelay(fd, true);
        if (!conn_new(p, id, fd, &remote, false)) {
            close(fd);
            sh_swarm_closed(p->swarm, id, SH_ENOMEM, peerd_now(p));
        }
    }
    peerd_pump(p);
}

int peerd_listen(sh_peerd *p, sh_errinfo *ei)
{
    int rc = sh_net_listen(&p->cfg.listen, 0, &p->lfd, &p->listen, ei);
    if (rc) return rc;
    /* Parked until the swarm exists: connections wait in the backlog. */
    rc = sh_loop_add(p->loop, p->lfd, 0, on_accept, p);
    if (rc) {
        close(p->lfd);
        p->lfd = -1;
        return sh_errinfo_set(ei, rc, 0, "cannot watch the listening socket");
    }
    return 0;
}

void peerd_listen_enable(sh_peerd *p)
{
    if (p->lfd >= 0) sh_loop_mod(p->loop, p->lfd, SH_EV_READ);
}
