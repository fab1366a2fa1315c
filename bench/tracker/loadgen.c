/*
 * loadgen.c — a tracker load generator for bench/tracker/bench.py (not part
 * of the build; the bench script compiles it with cc).
 *
 *   loadgen MODE IP:PORT [-t SECONDS] [-c CONNS] [-s SWARMS] [-n PEERS] [-b SRC_BASE]
 *
 * MODE http     announces over keep-alive HTTP/1.1 connections
 *      close    one announce per TCP connection ("Connection: close")
 *      udp      BEP 15 announces, a window of requests in flight per socket
 *      fill     UDP: announce exactly PEERS distinct peers (CONNS source
 *               addresses × PEERS/CONNS ports each), then stop
 *
 * Each connection or socket binds its own source address SRC_BASE + i
 * (default 127.2.0.1 upward), so per-address limits and peer identities
 * spread like a fleet's. One thread, one epoll loop. Prints one JSON line:
 * {"mode":…, "seconds":…, "ok":…, "failures":…, "errors":…, "rps":…}.
 * Info hash k is (k as 4 big-endian bytes) then bytes 0x5a + 7·i (i = 4..19),
 * so the bench can write opentracker's whitelist.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536
#define WINDOW 8
#define UDP_TIMEOUT_NS 200000000ull

enum { M_HTTP, M_CLOSE, M_UDP, M_FILL };

typedef struct conn {
    int fd;
    int state; /* 0 idle, 1 connecting, 2 sending, 3 reading */
    uint32_t src;
    char req[1024];
    size_t req_len, req_off;
    char *rbuf;
    size_t rlen;
    /* udp */
    uint64_t conn_id;
    int inflight;
    uint64_t last_rx;
    uint32_t next_port, acked;
    uint8_t *acked_map;
} conn;

static int mode, nconns = 64, nswarms = 100, npeers = 10000;
static double seconds = 5;
static struct sockaddr_in target;
static uint32_t src_base;
static uint64_t ok, failures, errors, reconnects;
static int ep;
static conn *conns;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void info_hash(uint32_t k, uint8_t out[20])
{
    out[0] = (uint8_t)(k >> 24), out[1] = (uint8_t)(k >> 16), out[2] = (uint8_t)(k >> 8);
    out[3] = (uint8_t)k;
    for (int i = 4; i < 20; i++) out[i] = (uint8_t)(0x5a + 7 * i);
}

static void peer_id(uint32_t src, uint32_t port, uint8_t out[20])
{
    char tmp[21];
    snprintf(tmp, sizeof tmp, "-LG0001-%06u%06u", src % 1000000u, port % 1000000u);
    memcpy(out, tmp, 20);
}

static int bind_src(int fd, uint32_t i)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src_base + i)};
    return bind(fd, (struct sockaddr *)&s, sizeof s);
}

/* ---------------------------------------------------------------- HTTP */

static void build_http(conn *c)
{
    uint8_t ih[20], pid[20];
    uint32_t port = 1 + rnd() % (uint32_t)(npeers / nconns + 1);
    info_hash(rnd() % (uint32_t)nswarms, ih);
    peer_id(c->src, port, pid);
    char q[256];
    size_t o = 0;
    o += (size_t)snprintf(q + o, sizeof q - o, "info_hash=");
    for (int i = 0; i < 20; i++) o += (size_t)snprintf(q + o, sizeof q - o, "%%%02x", ih[i]);
    o += (size_t)snprintf(q + o, sizeof q - o, "&peer_id=");
    for (int i = 0; i < 20; i++) o += (size_t)snprintf(q + o, sizeof q - o, "%%%02x", pid[i]);
    c->req_len = (size_t)snprintf(c->req, sizeof c->req,
                                  "GET /announce?%s&port=%u&uploaded=0&downloaded=0&left=%u"
                                  "&compact=1&numwant=50 HTTP/1.1\r\nHost: tracker\r\n%s\r\n",
                                  q, port, rnd() % 2 ? 1000u : 0u,
                                  mode == M_CLOSE ? "Connection: close\r\n" : "");
    c->req_off = 0;
}

static void http_open(conn *c, uint32_t i)
{
    c->src = i;
    c->rlen = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bind_src(c->fd, i);
    /* In progress, or failed at once: either way EPOLLOUT/EPOLLERR tells. */
    (void)connect(c->fd, (struct sockaddr *)&target, sizeof target);
    c->state = 2;
    build_http(c);
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void http_close(conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void http_reopen(conn *c)
{
    uint32_t i = (uint32_t)(c - conns);
    http_close(c);
    http_open(c, i);
}

/* A whole response in rbuf? Returns its length, 0 if incomplete. */
static size_t response_len(conn *c, int *keep)
{
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t hdr = (size_t)(end - c->rbuf) + 4;
    *keep = !memmem(c->rbuf, hdr, "onnection: close", 16) && !memmem(c->rbuf, 9, "HTTP/1.0", 8);
    char *cl = NULL;
    for (char *p = c->rbuf; p < c->rbuf + hdr; p++)
        if ((*p == 'C' || *p == 'c') && !strncasecmp(p, "content-length:", 15)) {
            cl = p + 15;
            break;
        }
    if (!cl) return (size_t)-1; /* read until close */
    size_t n = strtoul(cl, NULL, 10);
    return c->rlen >= hdr + n ? hdr + n : 0;
}

static void http_done(conn *c, size_t len, int keep)
{
    int good = c->rlen >= 12 && !memcmp(c->rbuf + 9, "200", 3);
    if (!good) errors++;
    else if (memmem(c->rbuf, len, "failure reason", 14)) failures++;
    else ok++;
    if (!keep || mode == M_CLOSE) {
        http_reopen(c);
        return;
    }
    memmove(c->rbuf, c->rbuf + len, c->rlen - len);
    c->rlen -= len;
    build_http(c);
    c->state = 2;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void http_event(conn *c, uint32_t events)
{
    if (c->state == 2 && (events & EPOLLOUT)) {
        ssize_t w = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
            errors++;
            http_reopen(c);
            return;
        }
        if (w > 0) c->req_off += (size_t)w;
        if (c->req_off == c->req_len) {
            c->state = 3;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) {
            int keep;
            size_t n = response_len(c, &keep);
            if (c->state == 3 && n == (size_t)-1) {
                http_done(c, c->rlen, 0);
            } else {
                /* A server that closes an idle keep-alive connection (the
                 * request was not read yet) costs a reconnect, not an error. */
                if (c->rlen == 0) reconnects++;
                else errors++;
                http_reopen(c);
            }
            return;
        }
        c->rlen += (size_t)r;
        int keep = 1;
        size_t n = response_len(c, &keep);
        if (n && n != (size_t)-1) {
            http_done(c, n, keep);
            return;
        }
        if (c->rlen == RBUF) {
            errors++;
            http_reopen(c);
            return;
        }
    }
}

/* ---------------------------------------------------------------- UDP */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void udp_send_connect(conn *c)
{
    uint8_t p[16];
    put32(p, 0x417), put32(p + 4, 0x27101980), put32(p + 8, 0), put32(p + 12, 0xC0);
    send(c->fd, p, 16, 0);
    c->last_rx = now_ns();
}

static uint32_t ports_per_sock(void)
{
    return (uint32_t)(npeers / nconns);
}

static void udp_send_announce(conn *c, uint32_t port)
{
    uint8_t p[98], ih[20], pid[20];
    uint32_t peer = (uint32_t)(c - conns) * ports_per_sock() + port;
    info_hash(mode == M_FILL ? peer % (uint32_t)nswarms : rnd() % (uint32_t)nswarms, ih);
    peer_id(c->src, port, pid);
    put32(p, (uint32_t)(c->conn_id >> 32)), put32(p + 4, (uint32_t)c->conn_id);
    put32(p + 8, 1), put32(p + 12, port); /* the txid carries the port */
    memcpy(p + 16, ih, 20), memcpy(p + 36, pid, 20);
    memset(p + 56, 0, 24);
    p[71] = (uint8_t)(port & 1); /* left: 0 or 1 */
    put32(p + 80, mode == M_FILL ? 2 : 0);
    put32(p + 84, 0), put32(p + 88, port), put32(p + 92, 50);
    p[96] = (uint8_t)(port >> 8), p[97] = (uint8_t)port;
    send(c->fd, p, sizeof p, 0);
}

static void udp_fill_window(conn *c)
{
    if (mode == M_FILL) {
        while (c->inflight < WINDOW && c->next_port <= ports_per_sock()) {
            udp_send_announce(c, c->next_port++);
            c->inflight++;
        }
        return;
    }
    uint32_t range = (uint32_t)(npeers / nconns + 1);
    while (c->inflight < WINDOW) {
        udp_send_announce(c, 1 + rnd() % range);
        c->inflight++;
    }
}

static void udp_open(conn *c, uint32_t i)
{
    c->src = i;
    c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bind_src(c->fd, i);
    connect(c->fd, (struct sockaddr *)&target, sizeof target);
    if (mode == M_FILL) c->acked_map = calloc(ports_per_sock() + 2, 1);
    c->next_port = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    udp_send_connect(c);
}

static void udp_event(conn *c)
{
    uint8_t p[2048];
    for (;;) {
        ssize_t r = recv(c->fd, p, sizeof p, 0);
        if (r < 0) return;
        if (r < 8) continue;
        c->last_rx = now_ns();
        uint32_t action = get32(p), tx = get32(p + 4);
        if (action == 0 && r >= 16) {
            c->conn_id = (uint64_t)get32(p + 8) << 32 | get32(p + 12);
            c->inflight = 0;
            udp_fill_window(c);
            continue;
        }
        if (c->inflight) c->inflight--;
        if (action == 1) {
            if (mode == M_FILL && tx <= ports_per_sock() && !c->acked_map[tx]) {
                c->acked_map[tx] = 1;
                c->acked++;
                ok++;
            } else if (mode != M_FILL) {
                ok++;
            }
        } else {
            errors++;
        }
        udp_fill_window(c);
    }
}

/* Lost datagrams: resend what is unacknowledged after a quiet spell. */
static void udp_timeouts(void)
{
    uint64_t t = now_ns();
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        if (t - c->last_rx < UDP_TIMEOUT_NS) continue;
        c->last_rx = t;
        if (!c->conn_id) {
            udp_send_connect(c);
            continue;
        }
        c->inflight = 0;
        if (mode == M_FILL) {
            for (uint32_t p = 1; p < c->next_port && c->inflight < WINDOW; p++)
                if (!c->acked_map[p]) {
                    udp_send_announce(c, p);
                    c->inflight++;
                }
        }
        udp_fill_window(c);
    }
}

static int fill_done(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].acked < ports_per_sock()) return 0;
    return 1;
}

/* ---------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "usage: loadgen http|close|udp|fill IP:PORT [-t S] [-c N] [-s K] [-n P] "
                    "[-b SRC]\n");
    return 2;
}

static int parse(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *m = argv[1];
    mode = !strcmp(m, "http") ? M_HTTP : !strcmp(m, "close") ? M_CLOSE
         : !strcmp(m, "udp") ? M_UDP : !strcmp(m, "fill") ? M_FILL : -1;
    if (mode < 0) return usage();
    char host[64];
    unsigned port;
    if (sscanf(argv[2], "%63[^:]:%u", host, &port) != 2) return usage();
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1) return usage();
    struct in_addr b;
    inet_pton(AF_INET, "127.2.0.1", &b);
    src_base = ntohl(b.s_addr);
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "-t")) seconds = atof(v);
        else if (!strcmp(o, "-c")) nconns = atoi(v);
        else if (!strcmp(o, "-s")) nswarms = atoi(v);
        else if (!strcmp(o, "-n")) npeers = atoi(v);
        else if (!strcmp(o, "-b") && inet_pton(AF_INET, v, &b) == 1) src_base = ntohl(b.s_addr);
        else return usage();
    }
    if (nconns < 1 || nswarms < 1 || npeers < nconns) return usage();
    return 0;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv)) return 2;
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ep = epoll_create1(0);
    conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        if (mode == M_HTTP || mode == M_CLOSE) {
            conns[i].rbuf = malloc(RBUF);
            http_open(&conns[i], (uint32_t)i);
        } else {
            udp_open(&conns[i], (uint32_t)i);
        }
    }
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) break;
        if (mode == M_FILL && fill_done()) break;
        int n = epoll_wait(ep, evs, 256, 20);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (mode == M_HTTP || mode == M_CLOSE) http_event(c, evs[i].events);
            else udp_event(c);
        }
        if (mode == M_UDP || mode == M_FILL) udp_timeouts();
    }
    double el = (double)(now_ns() - t0) / 1e9;
    const char *names[] = {"http", "close", "udp", "fill"};
    printf("{\"mode\":\"%s\",\"conns\":%d,\"seconds\":%.3f,\"ok\":%llu,\"failures\":%llu,"
           "\"errors\":%llu,\"reconnects\":%llu,\"rps\":%.0f,\"complete\":%s}\n",
           names[mode], nconns, el, (unsigned long long)ok, (unsigned long long)failures,
           (unsigned long long)errors, (unsigned long long)reconnects, (double)ok / el,
           mode == M_FILL ? (fill_done() ? "true" : "false") : "true");
    return 0;
}
