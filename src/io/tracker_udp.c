/*
 * tracker_udp.c — the BEP 15 front of the tracker: one non-blocking UDP
 * socket per address, read and answered in batches (recvmmsg/sendmmsg).
 *
 * UDP sources can be forged, so nothing but a connect is answered before
 * the client has proved its address with a connection id (stateless: a
 * keyed hash of address and time, sh_udp_conn_id). Replies never amplify
 * more than the protocol needs: a connect answers 16 bytes for 16, an error
 * never exceeds its request, a scrape answers only the hashes asked, an
 * announce fits one datagram within a 1500-byte MTU. Anything malformed,
 * truncated or oversize is dropped without a word.
 */
#include "io/tracker_int.h"

#include "io/net.h"

#include <shoal/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define PKT_MAX 2048 /* receive buffer; a datagram that does not fit is dropped */
#define ROUNDS 8     /* batches per wake-up, so HTTP gets its turn under a flood */
/* UDP payload within a 1500-byte MTU after the IP and UDP headers. */
#define PAYLOAD_V4 (1500u - 20u - 8u)
#define PAYLOAD_V6 (1500u - 40u - 8u)
#define ANNOUNCE_HDR 20u

struct tr_udp_bufs {
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    struct sockaddr_storage from[BATCH];
    uint8_t pkt[BATCH][PKT_MAX];
    uint8_t reply[BATCH][PAYLOAD_V4];
};

/* An error reply no longer than the request that caused it. */
static size_t error_reply(uint8_t *out, size_t req_len, uint32_t txid, const char *msg)
{
    char cut[PAYLOAD_V4];
    size_t room = req_len > 8 ? req_len - 8 : 0;
    size_t n = strlen(msg);
    if (n > room) n = room;
    if (n >= sizeof cut) n = sizeof cut - 1;
    memcpy(cut, msg, n);
    cut[n] = '\0';
    return sh_udp_error_reply(out, PAYLOAD_V4, txid, cut);
}

static size_t do_announce(sh_tracker *t, sh_udp_msg *m, const sh_addr *from, size_t req_len,
                          sh_time now, uint8_t *out)
{
    size_t cap = from->family == 6 ? PAYLOAD_V6 : PAYLOAD_V4;
    uint32_t fit = (uint32_t)((cap - ANNOUNCE_HDR) / (from->family == 6 ? 18u : 6u));
    if (m->req.numwant > fit) m->req.numwant = fit;
    sh_announce_reply reply;
    if (tr_announce(t, TR_UDP, &m->req, now, &reply))
        return error_reply(out, req_len, m->txid, reply.failure);
    if (SH_LOG_ON(t->log, SH_LOG_DEBUG)) {
        char a[SH_ADDR_STRLEN], h[41];
        sh_log(t->log, SH_LOG_DEBUG, TR_COMPONENT, "udp announce %s %s event %d: %u peers",
               sh_addr_format(&m->req.addr, a, sizeof a), sh_hex(m->req.info_hash, 20, h),
               (int)m->req.event, reply.num_peers);
    }
    return sh_udp_announce_reply(out, cap, m->txid, &reply, from->family == 6 ? 6 : 4);
}

static size_t do_scrape(sh_tracker *t, const sh_udp_msg *m, uint8_t *out)
{
    sh_scrape_entry e[SH_SCRAPE_MAX];
    uint32_t n = m->num_hashes < SH_SCRAPE_MAX ? m->num_hashes : SH_SCRAPE_MAX;
    for (uint32_t i = 0; i < n; i++)
        sh_tstore_scrape(t->store, m->hashes[i], &e[i]);
    t->scrapes[TR_UDP]++;
    return sh_udp_scrape_reply(out, PAYLOAD_V4, m->txid, e, n);
}

/* One datagram in, at most one out; returns the reply's length (0: none). */
static size_t handle(sh_tracker *t, const uint8_t *pkt, size_t len, const sh_addr *from,
                     sh_time now, uint8_t *out)
{
    if (!tr_admit(t, from, now)) return 0;
    uint8_t hashes[SH_SCRAPE_MAX][20];
    sh_udp_msg m;
    if (sh_udp_request_decode(pkt, len, from, &m, hashes, SH_SCRAPE_MAX)) {
        tr_refuse(t, TR_REF_BAD);
        return 0;
    }
    if (m.action == SH_UDP_CONNECT) {
        t->udp_connects++;
        return sh_udp_connect_reply(out, m.txid, sh_udp_conn_id(t->udp_secret, from, now));
    }
    if (!sh_udp_conn_id_ok(t->udp_secret, from, m.conn_id, now)) {
        tr_refuse(t, TR_REF_CONN_ID);
        return error_reply(out, len, m.txid, "invalid connection id");
    }
    if (m.action == SH_UDP_ANNOUNCE) return do_announce(t, &m, from, len, now, out);
    if (m.action == SH_UDP_SCRAPE) return do_scrape(t, &m, out);
    tr_refuse(t, TR_REF_BAD);
    return 0;
}

static void prepare_in(tr_udp_bufs *b)
{
    for (unsigned i = 0; i < BATCH; i++) {
        b->in_iov[i] = (struct iovec){b->pkt[i], PKT_MAX};
        b->in[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
                                           .msg_namelen = sizeof b->from[i],
                                           .msg_iov = &b->in_iov[i],
                                           .msg_iovlen = 1};
        b->in[i].msg_len = 0;
    }
}

/* Sends what it can; a full socket buffer drops the rest (UDP). */
static void flush(tr_udp *u, unsigned n)
{
    unsigned done = 0;
    while (done < n) {
        int r = sendmmsg(u->fd, u->bufs->out + done, n - done, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            /* Most likely a reply to a vanished or unroutable address: skip it. */
            done++;
            continue;
        }
        done += (unsigned)r;
    }
}

static int one_batch(tr_udp *u, sh_time now)
{
    tr_udp_bufs *b = u->bufs;
    prepare_in(b);
    int n = recvmmsg(u->fd, b->in, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return 0;
    unsigned nout = 0;
    for (int i = 0; i < n; i++) {
        struct msghdr *mh = &b->in[i].msg_hdr;
        sh_addr from;
        if (sh_net_from_sockaddr((struct sockaddr *)mh->msg_name, mh->msg_namelen, &from))
            continue; /* no usable source: nobody to answer */
        if ((mh->msg_flags & MSG_TRUNC) || b->in[i].msg_len > PKT_MAX) {
            tr_refuse(u->t, TR_REF_BAD); /* oversize: no request of ours is this long */
            continue;
        }
        size_t len = handle(u->t, b->pkt[i], b->in[i].msg_len, &from, now, b->reply[nout]);
        if (!len) continue;
        b->out_iov[nout] = (struct iovec){b->reply[nout], len};
        b->out[nout].msg_hdr = (struct msghdr){.msg_name = mh->msg_name,
                                               .msg_namelen = mh->msg_namelen,
                                               .msg_iov = &b->out_iov[nout],
                                               .msg_iovlen = 1};
        nout++;
    }
    flush(u, nout);
    return n;
}

static void on_readable(sh_loop *l, int fd, uint32_t events, void *ud)
{
    tr_udp *u = ud;
    (void)fd;
    (void)events;
    for (int r = 0; r < ROUNDS; r++)
        if (one_batch(u, sh_loop_now(l)) < BATCH) break;
}

int tr_udp_start(sh_tracker *t, tr_udp *u, const sh_addr *addr, sh_errinfo *ei)
{
    memset(u, 0, sizeof *u);
    u->t = t;
    u->fd = -1;
    char a[SH_ADDR_STRLEN];
    u->bufs = malloc(sizeof *u->bufs);
    if (!u->bufs) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    int rc = sh_net_udp_bind(addr, &u->fd, &u->bound, ei);
    if (rc) {
        char why[sizeof ei->msg];
        snprintf(why, sizeof why, "%s", ei ? ei->msg : "");
        free(u->bufs);
        u->bufs = NULL;
        return sh_errinfo_set(ei, rc, 0, "UDP %s: %s", sh_addr_format(addr, a, sizeof a), why);
    }
    /* Room for bursts of announces while the loop serves HTTP. */
    sh_net_bufsize(u->fd, 4 << 20, 4 << 20);
    rc = sh_loop_add(t->loop, u->fd, SH_EV_READ, on_readable, u);
    if (rc) {
        tr_udp_stop(u);
        return sh_errinfo_set(ei, rc, 0, "UDP %s: cannot register with the loop",
                              sh_addr_format(addr, a, sizeof a));
    }
    return 0;
}

void tr_udp_stop(tr_udp *u)
{
    if (u->fd >= 0) {
        sh_loop_del(u->t->loop, u->fd);
        close(u->fd);
    }
    u->fd = -1;
    free(u->bufs);
    u->bufs = NULL;
}
