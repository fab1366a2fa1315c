/*
 * metafetch_drv.c — the metadata fetcher on the event loop (see
 * metafetch_drv.h). The same pump as the peer driver, smaller: no
 * listener, no rate limits, no storage. Only the entry points (loop
 * callbacks, public functions) call pump(); everything below queues.
 */
#include "io/metafetch_drv.h"

#include "io/net.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF (64u * 1024u)
#define SEGS 16

typedef struct mconn {
    sh_conn_id id;
    int fd;
    bool connecting;
    uint32_t events;
    struct sh_mfdrv *d;
} mconn;

struct sh_mfdrv {
    sh_loop *loop;
    sh_mfdrv_config cfg;
    sh_logger log;
    sh_metafetch *f;
    mconn **conns;
    size_t nconns, capconns;
    uint8_t *rbuf;
    uint64_t timer;
    sh_time timer_at;
    bool pumping, stopped, done_called;
    uint64_t done_timer;
    sh_mfdrv_done_fn done;
    void *done_ud;
};

static void pump(sh_mfdrv *d);

static sh_time now_of(sh_mfdrv *d)
{
    return sh_loop_now(d->loop);
}

/* ---- connections ---- */

static mconn *find(const sh_mfdrv *d, sh_conn_id id)
{
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i]->id == id) return d->conns[i];
    return NULL;
}

static void set_events(sh_mfdrv *d, mconn *c, uint32_t ev)
{
    if (ev != c->events && sh_loop_mod(d->loop, c->fd, ev) == 0) c->events = ev;
}

static void destroy(sh_mfdrv *d, mconn *c)
{
    sh_loop_del(d->loop, c->fd);
    close(c->fd);
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i] == c) {
            d->conns[i] = d->conns[--d->nconns];
            break;
        }
    free(c);
}

/* Closes the socket (if any) and tells the core. */
static void conn_close(sh_mfdrv *d, sh_conn_id id, int reason)
{
    mconn *c = find(d, id);
    if (c) destroy(d, c);
    sh_metafetch_closed(d->f, id, reason, now_of(d));
}

static void flush(sh_mfdrv *d, mconn *c)
{
    if (c->connecting) return;
    sh_seg segs[SEGS];
    for (;;) {
        size_t n = sh_metafetch_out(d->f, c->id, segs, SEGS);
        if (n == 0) {
            set_events(d, c, SH_EV_READ);
            return;
        }
        struct iovec iov[SEGS];
        size_t total = 0;
        for (size_t k = 0; k < n; k++) {
            iov[k].iov_base = (void *)segs[k].ptr;
            iov[k].iov_len = segs[k].len;
            total += segs[k].len;
        }
        ssize_t w = sh_net_writev(c->fd, iov, (int)n, false);
        if (w < 0) {
            conn_close(d, c->id, (int)w);
            return;
        }
        if (w > 0) sh_metafetch_sent(d->f, c->id, (size_t)w, now_of(d));
        if ((size_t)w < total) { /* the socket is full: wait for it */
            set_events(d, c, SH_EV_READ | SH_EV_WRITE);
            return;
        }
    }
}

static void do_read(sh_mfdrv *d, mconn *c)
{
    for (int i = 0; i < 4; i++) {
        ssize_t n = sh_net_recv(c->fd, d->rbuf, RBUF);
        if (n == SH_EAGAIN) return;
        if (n < 0) {
            conn_close(d, c->id, (int)n);
            return;
        }
        if (sh_metafetch_recv(d->f, c->id, d->rbuf, (size_t)n, now_of(d)) < 0) return;
        if ((size_t)n < RBUF) return;
    }
}

static void finish_connect(sh_mfdrv *d, mconn *c)
{
    sh_errinfo ei = {0};
    int rc = sh_net_connect_result(c->fd, &ei);
    if (rc == SH_EAGAIN) return;
    if (rc) {
        sh_log(&d->log, SH_LOG_DEBUG, "metafetch", "%s", ei.msg);
        conn_close(d, c->id, rc);
        return;
    }
    c->connecting = false;
    sh_net_nodelay(c->fd, true);
    set_events(d, c, SH_EV_READ);
    sh_metafetch_connected(d->f, c->id, now_of(d));
    flush(d, c);
}

static void on_event(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    (void)l, (void)fd;
    mconn *c = ud;
    sh_mfdrv *d = c->d;
    sh_conn_id id = c->id;
    if (c->connecting) {
        finish_connect(d, c);
    } else {
        if (ev & SH_EV_READ) do_read(d, c);
        if ((ev & SH_EV_WRITE) && (c = find(d, id))) flush(d, c);
    }
    pump(d);
}

/* Room for one more connection in the table. */
static bool room(sh_mfdrv *d)
{
    if (d->nconns < d->capconns) return true;
    size_t ncap = d->capconns ? d->capconns * 2 : 16;
    mconn **n = realloc(d->conns, ncap * sizeof *n);
    if (!n) return false;
    d->conns = n;
    d->capconns = ncap;
    return true;
}

static void dial(sh_mfdrv *d, sh_conn_id id, const sh_addr *a)
{
    int fd;
    sh_errinfo ei = {0};
    int rc = sh_net_connect(a, &d->cfg.source, &fd, &ei);
    if (rc) {
        sh_log(&d->log, SH_LOG_DEBUG, "metafetch", "%s", ei.msg);
        sh_metafetch_closed(d->f, id, rc, now_of(d));
        return;
    }
    mconn *c = calloc(1, sizeof *c);
    if (!c || !room(d) || sh_loop_add(d->loop, fd, SH_EV_WRITE, on_event, c) != 0) {
        free(c);
        close(fd);
        sh_metafetch_closed(d->f, id, SH_ENOMEM, now_of(d));
        return;
    }
    *c = (mconn){.id = id, .fd = fd, .connecting = true, .events = SH_EV_WRITE, .d = d};
    d->conns[d->nconns++] = c;
}

/* ---- the pump ---- */

static void on_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    sh_mfdrv *d = ud;
    d->timer = 0;
    d->timer_at = SH_TIME_NEVER;
    if (!d->stopped) sh_metafetch_on_timer(d->f, sh_loop_now(l));
    pump(d);
}

static void rearm(sh_mfdrv *d)
{
    sh_time t = d->stopped ? SH_TIME_NEVER : sh_metafetch_next_deadline(d->f);
    if (t == d->timer_at && (d->timer || t == SH_TIME_NEVER)) return;
    if (d->timer) sh_loop_cancel(d->loop, d->timer);
    d->timer = 0;
    d->timer_at = t;
    if (t != SH_TIME_NEVER) d->timer = sh_loop_timer(d->loop, t, on_timer, d);
}

static void on_done_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)l, (void)id;
    sh_mfdrv *d = ud;
    d->done_timer = 0;
    if (d->done) d->done(d, d->done_ud);
}

static void act(sh_mfdrv *d, const sh_action *a)
{
    switch (a->type) {
    case SH_ACT_CONNECT:
        dial(d, a->conn, &a->addr);
        break;
    case SH_ACT_CLOSE:
        conn_close(d, a->conn, a->reason);
        break;
    case SH_ACT_SEND: {
        mconn *c = find(d, a->conn);
        if (c) flush(d, c);
        break;
    }
    case SH_ACT_COMPLETE:
        /* from the loop, so the callback may stop and free the driver */
        if (!d->done_called) {
            d->done_called = true;
            d->done_timer = sh_loop_timer(d->loop, sh_loop_now(d->loop), on_done_timer, d);
        }
        break;
    default:
        break;
    }
}

static void pump(sh_mfdrv *d)
{
    if (d->pumping) return;
    d->pumping = true;
    sh_action a;
    while (sh_metafetch_next_action(d->f, &a)) {
        if (d->stopped) { /* sockets are gone: confirm closes, refuse connects */
            if (a.type == SH_ACT_CONNECT || a.type == SH_ACT_CLOSE)
                sh_metafetch_closed(d->f, a.conn, SH_ECLOSED, now_of(d));
            continue;
        }
        act(d, &a);
    }
    d->pumping = false;
    rearm(d);
}

/* ---- lifecycle ---- */

static int identity(sh_metafetch_config *fc)
{
    uint8_t rnd[20];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n <= 0) return SH_EIO;
        got += (size_t)n;
    }
    memcpy(fc->peer_id, "-SH0100-", 8);
    memcpy(fc->peer_id + 8, rnd, 12);
    memcpy(&fc->rng_seed, rnd + 12, 8);
    return 0;
}

int sh_mfdrv_new(sh_loop *loop, const sh_mfdrv_config *cfg, sh_mfdrv **out, sh_errinfo *ei)
{
    if (!loop || !cfg || !cfg->link || !out)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "metafetch: bad arguments");
    sh_mfdrv *d = calloc(1, sizeof *d);
    if (!d) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    d->loop = loop;
    d->cfg = *cfg;
    d->log = cfg->log;
    d->timer_at = SH_TIME_NEVER;
    sh_metafetch_config fc = {.has_v1 = cfg->link->has_v1, .has_v2 = cfg->link->has_v2};
    memcpy(fc.btih, cfg->link->btih, 20);
    memcpy(fc.btmh, cfg->link->btmh, 32);
    fc.listen_port = cfg->listen_port;
    fc.client_name = "shoal/" SHOAL_VERSION;
    fc.max_conns = cfg->max_conns;
    fc.log = cfg->log;
    sh_net_ignore_sigpipe();
    int rc = identity(&fc);
    if (rc) sh_errinfo_set(ei, rc, 0, "getrandom failed");
    if (!rc && !(d->rbuf = malloc(RBUF))) rc = sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    if (!rc) {
        rc = sh_metafetch_new(&fc, sh_loop_now(loop), &d->f);
        if (rc) sh_errinfo_set(ei, rc, 0, "cannot start the metadata fetch");
    }
    if (rc) {
        sh_mfdrv_free(d);
        return rc;
    }
    for (uint32_t i = 0; i < cfg->link->num_peers; i++)
        sh_metafetch_add_peer(d->f, &cfg->link->peers[i], SH_SRC_MANUAL, sh_loop_now(loop));
    pump(d);
    *out = d;
    return 0;
}

void sh_mfdrv_stop(sh_mfdrv *d)
{
    if (!d || d->stopped) return;
    d->stopped = true;
    while (d->nconns) {
        sh_conn_id id = d->conns[d->nconns - 1]->id;
        conn_close(d, id, SH_ECLOSED);
    }
    if (d->timer) sh_loop_cancel(d->loop, d->timer);
    d->timer = 0;
    d->timer_at = SH_TIME_NEVER;
    if (d->done_timer) sh_loop_cancel(d->loop, d->done_timer);
    d->done_timer = 0;
    if (d->f) pump(d);
}

void sh_mfdrv_free(sh_mfdrv *d)
{
    if (!d) return;
    sh_mfdrv_stop(d);
    sh_metafetch_free(d->f);
    free(d->conns);
    free(d->rbuf);
    free(d);
}

void sh_mfdrv_on_done(sh_mfdrv *d, sh_mfdrv_done_fn fn, void *ud)
{
    d->done = fn;
    d->done_ud = ud;
}

void sh_mfdrv_add_peer(sh_mfdrv *d, const sh_addr *a, sh_peer_source src)
{
    if (!d || d->stopped) return;
    sh_metafetch_add_peer(d->f, a, src, now_of(d));
    pump(d);
}

void sh_mfdrv_stats(const sh_mfdrv *d, sh_metafetch_stats *st)
{
    sh_metafetch_get_stats(d->f, st);
}

const sh_metafetch *sh_mfdrv_core(const sh_mfdrv *d)
{
    return d->f;
}
