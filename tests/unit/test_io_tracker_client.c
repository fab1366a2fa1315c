/*
 * test_io_tracker_client.c — the tracker client on a real loop with real
 * sockets, against fake trackers served by the same loop on 127.0.0.2: an
 * HTTP tracker, a UDP tracker (by IP and by the name "localhost", which
 * goes through the resolver thread), and a dead one. Checks what the
 * trackers see (event, port, source address) and what the client reports
 * (peers, status, idle after stop).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/clock.h"
#include "io/loop.h"
#include "io/net.h"
#include "io/tracker_client.h"
#include <shoal/announce.h>
#include <shoal/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static sh_loop *loop;

/* ---- a fake HTTP tracker on the loop ---- */

typedef struct http_trk {
    int lfd;
    sh_addr addr;
    char reqs[4][1024]; /* request lines seen, in order */
    sh_addr from[4];
    int n;
} http_trk;

typedef struct hconn {
    http_trk *t;
    sh_addr peer;
    char buf[2048];
    size_t len;
} hconn;

static const char peers_body[] = "d8:intervali30e5:peers12:\x0a\x00\x00\x01\x1b\x59"
                                 "\x0a\x00\x00\x02\x1b\x5a"
                                 "e";

static void on_hconn(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    hconn *c = ud;
    ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
    if (n > 0) c->len += (size_t)n;
    c->buf[c->len] = 0;
    if (n > 0 && !strstr(c->buf, "\r\n\r\n")) return;
    if (n > 0) {
        http_trk *t = c->t;
        if (t->n < 4) {
            char *eol = strstr(c->buf, "\r\n");
            *eol = 0;
            snprintf(t->reqs[t->n], sizeof t->reqs[t->n], "%.1000s", c->buf);
            t->from[t->n++] = c->peer;
        }
        char h[256];
        int hl = snprintf(h, sizeof h,
                          "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                          sizeof peers_body - 1);
        send(fd, h, (size_t)hl, MSG_NOSIGNAL);
        send(fd, peers_body, sizeof peers_body - 1, MSG_NOSIGNAL);
    }
    sh_loop_del(l, fd);
    close(fd);
    free(c);
}

static void on_haccept(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    hconn *c = calloc(1, sizeof *c);
    c->t = ud;
    int cfd;
    if (sh_net_accept(fd, &cfd, &c->peer, NULL)) {
        free(c);
        return;
    }
    sh_loop_add(l, cfd, SH_EV_READ, on_hconn, c);
}

static void http_trk_start(http_trk *t)
{
    memset(t, 0, sizeof *t);
    sh_addr b = {.family = 4, .ip = {127, 0, 0, 2}};
    assert_int_equal(sh_net_listen(&b, 8, &t->lfd, &t->addr, NULL), 0);
    sh_loop_add(loop, t->lfd, SH_EV_READ, on_haccept, t);
}

static void http_trk_stop(http_trk *t)
{
    sh_loop_del(loop, t->lfd);
    close(t->lfd);
}

/* ---- a fake UDP tracker on the loop ---- */

typedef struct udp_trk {
    int fd;
    sh_addr addr;
    uint32_t events[8]; /* announce events seen */
    uint16_t ports[8];
    sh_addr from[8];
    int n, connects;
} udp_trk;

static void on_udp_trk(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    udp_trk *t = ud;
    uint8_t pkt[2048];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(fd, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
    if (n <= 0) return;
    sh_addr from;
    sh_net_from_sockaddr((struct sockaddr *)&ss, sl, &from);
    sh_udp_msg m;
    uint8_t hashes[4][20];
    if (sh_udp_request_decode(pkt, (size_t)n, &from, &m, hashes, 4)) return;
    uint8_t out[256];
    size_t len = 0;
    if (m.action == SH_UDP_CONNECT) {
        t->connects++;
        len = sh_udp_connect_reply(out, m.txid, 0xabcdef);
    } else if (m.action == SH_UDP_ANNOUNCE) {
        if (t->n < 8) {
            t->events[t->n] = m.req.event;
            t->ports[t->n] = m.req.addr.port;
            t->from[t->n++] = from;
        }
        sh_tpeer p[1];
        memset(p, 0, sizeof p);
        p[0].addr = (sh_addr){.family = 4, .ip = {10, 0, 0, 9}, .port = 9999};
        sh_announce_reply r;
        memset(&r, 0, sizeof r);
        r.interval = 60;
        r.peers = p;
        r.num_peers = 1;
        len = sh_udp_announce_reply(out, sizeof out, m.txid, &r, 4);
    }
    if (len) sendto(fd, out, len, 0, (struct sockaddr *)&ss, sl);
}

static void udp_trk_start(udp_trk *t, uint8_t last_octet)
{
    memset(t, 0, sizeof *t);
    sh_addr b = {.family = 4, .ip = {127, 0, 0, last_octet}};
    assert_int_equal(sh_net_udp_bind(&b, &t->fd, &t->addr, NULL), 0);
    sh_loop_add(loop, t->fd, SH_EV_READ, on_udp_trk, t);
}

static void udp_trk_stop(udp_trk *t)
{
    sh_loop_del(loop, t->fd);
    close(t->fd);
}

/* ---- the client ---- */

typedef struct obs {
    sh_tpeer peers[16];
    uint32_t npeers;
    int peer_calls;
    bool idle;
    uint32_t want_peer_calls;
} obs;

static void on_peers(void *ud, const sh_tpeer *p, uint32_t n)
{
    obs *o = ud;
    for (uint32_t i = 0; i < n && o->npeers < 16; i++)
        o->peers[o->npeers++] = p[i];
    if (++o->peer_calls >= (int)o->want_peer_calls) sh_loop_stop(loop);
}

static void totals(void *ud, uint64_t *up, uint64_t *down, uint64_t *left)
{
    (void)ud;
    *up = 11;
    *down = 22;
    *left = 33;
}

static void on_idle(void *ud)
{
    obs *o = ud;
    o->idle = true;
    sh_loop_stop(loop);
}

static void stop_cb(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    sh_loop_stop(l);
}

static void run_for(int ms)
{
    uint64_t t = sh_loop_timer(loop, sh_clock_now() + SH_MS(ms), stop_cb, NULL);
    sh_loop_run(loop);
    sh_loop_cancel(loop, t);
}

static sh_tracker_client *client(char **urls, uint32_t n, obs *o)
{
    static sh_tier tier;
    tier.urls = urls;
    tier.count = n;
    sh_tracker_client_config c;
    memset(&c, 0, sizeof c);
    c.tiers = &tier;
    c.num_tiers = 1;
    memset(c.info_hash, 0x11, 20);
    memset(c.peer_id, 0x22, 20);
    c.listen = (sh_addr){.family = 4, .ip = {127, 0, 0, 4}, .port = 6881};
    c.seed = 5;
    c.on_peers = on_peers;
    c.totals = totals;
    c.on_idle = on_idle;
    c.ud = o;
    sh_tracker_client *tc = NULL;
    sh_errinfo ei;
    memset(&ei, 0, sizeof ei);
    int rc = sh_tracker_client_new(loop, &c, &tc, &ei);
    if (rc) fail_msg("tracker client: %s", ei.msg);
    return tc;
}

static int setup(void **st)
{
    (void)st;
    return sh_loop_new(&loop);
}

static int teardown(void **st)
{
    (void)st;
    sh_loop_free(loop);
    return 0;
}

static void test_http(void **st)
{
    (void)st;
    http_trk t;
    http_trk_start(&t);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.2:%u/announce", t.addr.port);
    char *urls[] = {url};
    obs o;
    memset(&o, 0, sizeof o);
    o.want_peer_calls = 1;
    sh_tracker_client *tc = client(urls, 1, &o);
    run_for(3000);
    assert_int_equal(o.peer_calls, 1);
    assert_int_equal(o.npeers, 2);
    assert_int_equal(o.peers[0].addr.ip[3], 1);
    assert_int_equal(o.peers[0].addr.port, 7001);
    assert_int_equal(o.peers[1].addr.port, 7002);
    assert_int_equal(t.n, 1);
    assert_non_null(strstr(t.reqs[0], "GET /announce?info_hash=%11%11"));
    assert_non_null(
        strstr(t.reqs[0], "&port=6881&uploaded=11&downloaded=22&left=33&event=started"));
    assert_int_equal(t.from[0].ip[3], 4); /* sent from the IP we serve on */
    sh_tracker_status s[2];
    assert_int_equal(sh_tracker_client_status(tc, s, 2), 1);
    assert_true(s[0].working);
    assert_int_equal(s[0].last_peers, 2);

    assert_false(sh_tracker_client_idle(tc));
    sh_tracker_client_stop(tc);
    run_for(3000);
    assert_true(o.idle);
    assert_true(sh_tracker_client_idle(tc));
    assert_int_equal(t.n, 2);
    assert_non_null(strstr(t.reqs[1], "&event=stopped"));
    assert_non_null(strstr(t.reqs[1], "&numwant=0"));
    sh_tracker_client_free(tc);
    http_trk_stop(&t);
}

static void test_udp(void **st)
{
    (void)st;
    udp_trk t, named;
    udp_trk_start(&t, 2);
    udp_trk_start(&named, 1); /* "localhost" resolves to 127.0.0.1 */
    char url[128], url2[128];
    snprintf(url, sizeof url, "udp://127.0.0.2:%u/announce", t.addr.port);
    snprintf(url2, sizeof url2, "udp://localhost:%u", named.addr.port);
    char *u1[] = {url}, *u2[] = {url2};
    sh_tier tiers[2] = {{u1, 1}, {u2, 1}};
    obs o;
    memset(&o, 0, sizeof o);
    o.want_peer_calls = 2;
    sh_tracker_client_config c;
    memset(&c, 0, sizeof c);
    c.tiers = tiers;
    c.num_tiers = 2;
    c.listen = (sh_addr){.family = 4, .ip = {127, 0, 0, 4}, .port = 7000};
    c.on_peers = on_peers;
    c.totals = totals;
    c.on_idle = on_idle;
    c.ud = &o;
    sh_tracker_client *tc = NULL;
    assert_int_equal(sh_tracker_client_new(loop, &c, &tc, NULL), 0);
    run_for(3000);
    assert_int_equal(o.peer_calls, 2);
    assert_int_equal(o.peers[0].addr.port, 9999);
    assert_int_equal(t.connects, 1);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.events[0], SH_TEV_STARTED);
    assert_int_equal(t.ports[0], 7000);
    assert_int_equal(t.from[0].ip[3], 4);
    assert_int_equal(named.n, 1);

    sh_tracker_client_stop(tc);
    run_for(3000);
    assert_true(o.idle);
    /* the connection ids are fresh: straight to the stopped announce */
    assert_int_equal(t.connects, 1);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.events[1], SH_TEV_STOPPED);
    assert_int_equal(named.events[1], SH_TEV_STOPPED);
    sh_tracker_client_free(tc);
    udp_trk_stop(&t);
    udp_trk_stop(&named);
}

static void test_dead_trackers(void **st)
{
    (void)st;
    /* a closed TCP port, a silent UDP port, a name that cannot resolve */
    int fd;
    sh_addr b = {.family = 4, .ip = {127, 0, 0, 2}}, freeport;
    assert_int_equal(sh_net_listen(&b, 1, &fd, &freeport, NULL), 0);
    close(fd);
    char u0[96], u1[96];
    snprintf(u0, sizeof u0, "http://127.0.0.2:%u/announce", freeport.port);
    snprintf(u1, sizeof u1, "udp://127.0.0.2:%u", freeport.port);
    char *urls[] = {u0, u1, "udp://no-such-host.invalid:80"};
    sh_tier tiers[3] = {{urls, 1}, {urls + 1, 1}, {urls + 2, 1}};
    obs o;
    memset(&o, 0, sizeof o);
    sh_tracker_client_config c;
    memset(&c, 0, sizeof c);
    c.tiers = tiers;
    c.num_tiers = 3;
    c.listen = (sh_addr){.family = 4, .ip = {127, 0, 0, 4}, .port = 7000};
    c.on_peers = on_peers;
    c.on_idle = on_idle;
    c.ud = &o;
    sh_tracker_client *tc = NULL;
    assert_int_equal(sh_tracker_client_new(loop, &c, &tc, NULL), 0);
    /* the name fails as fast as the system's DNS says so: wait for both, up to 20 s */
    sh_tracker_status s[3];
    for (int i = 0; i < 200; i++) {
        run_for(100);
        assert_int_equal(sh_tracker_client_status(tc, s, 3), 3);
        if (s[0].fails && s[2].fails) break;
    }
    assert_false(s[0].working);
    assert_true(s[0].fails >= 1);
    if (!strstr(s[0].last_error, "connection failed")) fail_msg("%s", s[0].last_error);
    assert_int_equal(s[2].fails, 1);
    assert_string_equal(s[2].last_error, "cannot resolve or reach no-such-host.invalid:80");
    assert_int_equal(o.peer_calls, 0);
    /* none of them ever knew us: stopping is immediate */
    sh_tracker_client_stop(tc);
    assert_true(o.idle);
    sh_tracker_client_free(tc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_trackers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
