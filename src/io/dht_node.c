/*
 * dht_node.c — the DHT node's socket and pump: datagrams in through
 * recvmmsg, the core's actions out after every call into it, and exactly
 * one loop timer at the core's next deadline.
 */
#include "io/dht_node_int.h"

#include "io/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define LOG_TAG "dht"
#define RX_READS_PER_WAKE 4 /* batches per readiness event: other sockets get their turn */

static sh_time now_of(sh_dht_node *n)
{
    return sh_loop_now(n->loop);
}

/* ---- output ---------------------------------------------------------------------- */

static void send_one(sh_dht_node *n, const sh_dht_action *a)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (sh_net_to_sockaddr(&a->addr, &ss, &sl) < 0) {
        n->st.tx_errors++;
        return;
    }
    ssize_t w;
    do {
        w = sendto(n->fd, a->data, a->len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
    } while (w < 0 && errno == EINTR);
    if (w >= 0) {
        n->st.tx_datagrams++;
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        n->st.tx_dropped++;
        return;
    }
    n->st.tx_errors++;
    if (SH_LOG_ON(&n->log, SH_LOG_DEBUG)) {
        char b[SH_ADDR_STRLEN];
        sh_log(&n->log, SH_LOG_DEBUG, LOG_TAG, "sendto %s: %s",
               sh_addr_format(&a->addr, b, sizeof b), strerror(errno));
    }
}

static void on_timer(sh_loop *l, uint64_t id, void *ud);

/* One timer, at the core's deadline; never in the past after a timer run,
 * so a core that failed to move its deadline cannot spin the loop. */
static void arm(sh_dht_node *n, bool after_timer)
{
    sh_time at = sh_dht_next_deadline(n->dht);
    sh_time now = now_of(n);
    if (after_timer && at != SH_TIME_NEVER && at <= now) at = now + SH_MS(1);
    if (n->timer && at == n->timer_at) return;
    if (n->timer) sh_loop_cancel(n->loop, n->timer);
    n->timer = 0;
    n->timer_at = SH_TIME_NEVER;
    if (at == SH_TIME_NEVER) return;
    n->timer = sh_loop_timer(n->loop, at, on_timer, n);
    if (n->timer) n->timer_at = at;
}

/* Drains the core's actions. A callback that calls into the node nests a
 * pump; the nested one returns at once and this loop drains what it queued. */
void dht_node_pump(sh_dht_node *n, bool after_timer)
{
    if (n->pumping) return;
    n->pumping = true;
    sh_dht_action a;
    while (sh_dht_next_action(n->dht, &a)) {
        if (a.type == SH_DHT_SEND)
            send_one(n, &a);
        else if (n->fn)
            n->fn(n, &a, n->fn_ud);
    }
    n->pumping = false;
    arm(n, after_timer);
}

static void on_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)l;
    (void)id;
    sh_dht_node *n = ud;
    n->timer = 0;
    n->timer_at = SH_TIME_NEVER;
    sh_dht_on_timer(n->dht, now_of(n));
    dht_node_pump(n, true);
}

/* ---- input ----------------------------------------------------------------------- */

static void deliver(sh_dht_node *n, const struct mmsghdr *m, const uint8_t *buf)
{
    n->st.rx_datagrams++;
    if (m->msg_hdr.msg_flags & MSG_TRUNC) {
        n->st.rx_oversize++;
        return;
    }
    sh_addr from;
    if (sh_net_from_sockaddr(m->msg_hdr.msg_name, m->msg_hdr.msg_namelen, &from) < 0) return;
    sh_dht_recv(n->dht, &from, buf, m->msg_len, now_of(n));
}

static void on_readable(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)l;
    (void)events;
    sh_dht_node *n = ud;
    for (int round = 0; round < RX_READS_PER_WAKE; round++) {
        for (int i = 0; i < DHT_NODE_RX_BATCH; i++) {
            struct msghdr *h = &n->rx_msg[i].msg_hdr;
            n->rx_iov[i] = (struct iovec){n->rx_buf + (size_t)i * SH_DHT_NODE_MAX_DATAGRAM,
                                          SH_DHT_NODE_MAX_DATAGRAM};
            *h = (struct msghdr){.msg_name = &n->rx_addr[i],
                                 .msg_namelen = sizeof n->rx_addr[i],
                                 .msg_iov = &n->rx_iov[i],
                                 .msg_iovlen = 1};
        }
        int got = recvmmsg(fd, n->rx_msg, DHT_NODE_RX_BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) break; /* EAGAIN, or an error queued by ICMP: nothing to read now */
        for (int i = 0; i < got; i++)
            deliver(n, &n->rx_msg[i], n->rx_buf + (size_t)i * SH_DHT_NODE_MAX_DATAGRAM);
        dht_node_pump(n, false);
        if (got < DHT_NODE_RX_BATCH) break;
    }
}

/* ---- lifecycle ------------------------------------------------------------------- */

static int random_bytes(void *p, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom((uint8_t *)p + got, len - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return SH_EIO;
        got += (size_t)r;
    }
    return 0;
}

static int make_core(sh_dht_node *n, const sh_dht_node_config *cfg, sh_errinfo *ei)
{
    sh_dht_config dc = {0};
    if (random_bytes(dc.node_id, sizeof dc.node_id) || random_bytes(&dc.seed, sizeof dc.seed))
        return sh_errinfo_set(ei, SH_EIO, 0, "getrandom failed: %s", strerror(errno));
    dc.family = n->addr.family;
    dc.query_rate = cfg->query_rate;
    dc.max_peers_stored = cfg->max_peers_stored;
    dc.read_only = cfg->read_only;
    dc.log = cfg->log;
    int rc = sh_dht_new(&dc, now_of(n), &n->dht);
    if (rc) return sh_errinfo_set(ei, rc, 0, "cannot create the DHT node: %s", sh_strerror(rc));
    return 0;
}

static int open_socket(sh_dht_node *n, const sh_dht_node_config *cfg, sh_errinfo *ei)
{
    int rc = sh_net_udp_bind(&cfg->bind, &n->fd, &n->addr, ei);
    if (rc) return rc;
    /* A burst of answers (or a flood) must not overflow the default buffer
     * while the loop is busy elsewhere. The kernel may cap it; that's fine. */
    (void)sh_net_bufsize(n->fd, 0, SH_DHT_NODE_RCVBUF);
    n->rx_buf = malloc((size_t)DHT_NODE_RX_BATCH * SH_DHT_NODE_MAX_DATAGRAM);
    if (!n->rx_buf) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    return 0;
}

int sh_dht_node_new(sh_loop *loop, const sh_dht_node_config *cfg, sh_dht_node **out, sh_errinfo *ei)
{
    if (!loop || !cfg || !out) return sh_errinfo_set(ei, SH_EINVAL, 0, "dht node: bad arguments");
    sh_dht_node *n = calloc(1, sizeof *n);
    if (!n) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    n->loop = loop;
    n->fd = -1;
    n->log = cfg->log;
    n->timer_at = SH_TIME_NEVER;
    n->save_interval = cfg->save_interval ? cfg->save_interval : SH_DHT_NODE_SAVE_INTERVAL;
    int rc = 0;
    if (cfg->state_path && !(n->state_path = strdup(cfg->state_path)))
        rc = sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    if (rc == 0) rc = open_socket(n, cfg, ei);
    if (rc == 0) rc = make_core(n, cfg, ei);
    if (rc == 0) {
        rc = sh_loop_add(loop, n->fd, SH_EV_READ, on_readable, n);
        if (rc)
            sh_errinfo_set(ei, rc, 0, "cannot watch the DHT socket: %s", sh_strerror(rc));
        else
            n->registered = true;
    }
    if (rc) {
        sh_dht_node_free(n);
        return rc;
    }
    dht_node_state_load(n);
    dht_node_state_schedule(n);
    dht_node_pump(n, false);
    *out = n;
    return 0;
}

void sh_dht_node_free(sh_dht_node *n)
{
    if (!n) return;
    if (n->dht && n->state_path) {
        sh_errinfo ei = {{0}, 0};
        if (sh_dht_node_save(n, &ei) < 0) sh_log(&n->log, SH_LOG_WARN, LOG_TAG, "%s", ei.msg);
    }
    if (n->timer) sh_loop_cancel(n->loop, n->timer);
    if (n->save_timer) sh_loop_cancel(n->loop, n->save_timer);
    if (n->registered) sh_loop_del(n->loop, n->fd);
    if (n->fd >= 0) close(n->fd);
    sh_dht_free(n->dht);
    free(n->rx_buf);
    free(n->state_path);
    free(n);
}

void sh_dht_node_on_search(sh_dht_node *n, sh_dht_node_fn fn, void *ud)
{
    n->fn = fn;
    n->fn_ud = ud;
}

void sh_dht_node_bootstrap(sh_dht_node *n, const sh_addr *addr)
{
    sh_dht_bootstrap(n->dht, addr, now_of(n));
    dht_node_pump(n, false);
}

uint64_t sh_dht_node_search(sh_dht_node *n, const uint8_t info_hash[20], uint16_t announce_port)
{
    uint64_t id = sh_dht_search(n->dht, info_hash, announce_port, now_of(n));
    dht_node_pump(n, false);
    return id;
}

void sh_dht_node_stats_get(const sh_dht_node *n, sh_dht_node_stats *st)
{
    *st = n->st;
    sh_dht_stats_get(n->dht, &st->dht);
}

const uint8_t *sh_dht_node_id(const sh_dht_node *n)
{
    return sh_dht_id(n->dht);
}

sh_addr sh_dht_node_addr(const sh_dht_node *n)
{
    return n->addr;
}

bool sh_dht_node_restored(const sh_dht_node *n)
{
    return n->restored;
}
