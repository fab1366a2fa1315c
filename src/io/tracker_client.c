/*
 * tracker_client.c — the announcer's driver (see tracker_client.h).
 *
 * Every entry (loop timer, HTTP completion, UDP datagram, resolver answer,
 * public call) refreshes the totals, feeds the announcer, then pumps: drains
 * its actions, carries them out, re-arms the one timer at its deadline and
 * tells the owner once when a stop has finished. The pump is not re-entered:
 * anything that happens while it runs is queued by the announcer and picked
 * up by the same drain loop.
 */
#include "io/tracker_client.h"

#include "io/clock.h"
#include "io/http_client.h"
#include "io/net.h"
#include "io/resolver.h"
#include <shoal/error.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define COMPONENT "tracker"
#define DNS_TTL SH_SEC(300)
#define UDP_BUF 8192            /* 200 IPv6 peers fit (20 + 18 * 200 bytes) */
#define UDP_READS 64            /* datagrams per wake-up */
#define HTTP_TIMEOUT SH_SEC(20) /* a backstop: the announcer cancels at 15 s */

typedef struct hmap {
    uint64_t ann_req;
    uint64_t http_id;
} hmap;

typedef enum dns_state { DNS_NONE = 0, DNS_PENDING, DNS_OK, DNS_FAILED } dns_state;

typedef struct dns_entry {
    char host[256];
    uint16_t port;
    dns_state state;
    sh_addr addr;
    sh_time at;
    uint8_t pkt[98]; /* the datagram waiting for the answer (the latest) */
    size_t pkt_len;
} dns_entry;

struct sh_tracker_client {
    sh_loop *loop;
    sh_tracker_client_config cfg;
    sh_announcer *ann;
    sh_http_client *http;
    sh_resolver *res;
    int ufd;
    int family;
    hmap *reqs;
    size_t nreqs, capreqs;
    dns_entry *dns;
    size_t ndns, capdns;
    uint64_t timer;
    sh_time timer_at;
    bool pumping;
    bool stopping;
    bool idle_told;
    uint8_t *ubuf;
};

static void pump(sh_tracker_client *tc);

static sh_time now_ns(void)
{
    return sh_clock_now();
}

static void refresh_totals(sh_tracker_client *tc)
{
    uint64_t up = 0, down = 0, left = 0;
    if (tc->cfg.totals) tc->cfg.totals(tc->cfg.ud, &up, &down, &left);
    sh_announcer_set_totals(tc->ann, up, down, left);
}

/* ---- HTTP ---- */

static hmap *find_http(sh_tracker_client *tc, uint64_t http_id, uint64_t ann_req)
{
    for (size_t i = 0; i < tc->nreqs; i++)
        if ((http_id && tc->reqs[i].http_id == http_id) ||
            (ann_req && tc->reqs[i].ann_req == ann_req))
            return &tc->reqs[i];
    return NULL;
}

static void drop_http(sh_tracker_client *tc, hmap *m)
{
    *m = tc->reqs[--tc->nreqs];
}

static void on_http_done(void *ud, uint64_t id, int status, const uint8_t *body, size_t len,
                         const char *err)
{
    sh_tracker_client *tc = ud;
    hmap *m = find_http(tc, id, 0);
    if (!m) return;
    uint64_t req = m->ann_req;
    drop_http(tc, m);
    refresh_totals(tc);
    if (status == 0)
        sh_announcer_http_done(tc->ann, req, 0, (const uint8_t *)err, err ? strlen(err) : 0,
                               now_ns());
    else
        sh_announcer_http_done(tc->ann, req, status, body, len, now_ns());
    pump(tc);
}

static void http_get(sh_tracker_client *tc, const sh_ann_action *a)
{
    if (tc->nreqs == tc->capreqs) {
        size_t cap = tc->capreqs ? tc->capreqs * 2 : 8;
        hmap *v = realloc(tc->reqs, cap * sizeof *v);
        if (!v) {
            static const char oom[] = "out of memory";
            sh_announcer_http_done(tc->ann, a->req, 0, (const uint8_t *)oom, sizeof oom - 1,
                                   now_ns());
            return;
        }
        tc->reqs = v;
        tc->capreqs = cap;
    }
    uint64_t id = 0;
    int rc = sh_http_get(tc->http, a->url, on_http_done, tc, &id);
    if (rc) {
        const char *why = sh_strerror(rc);
        sh_announcer_http_done(tc->ann, a->req, 0, (const uint8_t *)why, strlen(why), now_ns());
        return;
    }
    tc->reqs[tc->nreqs++] = (hmap){a->req, id};
}

static void http_cancel(sh_tracker_client *tc, uint64_t req)
{
    hmap *m = find_http(tc, 0, req);
    if (!m) return;
    sh_http_cancel(tc->http, m->http_id);
    drop_http(tc, m);
}

/* ---- UDP ---- */

static void on_udp(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)l;
    (void)events;
    sh_tracker_client *tc = ud;
    for (int i = 0; i < UDP_READS; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t n = recvfrom(fd, tc->ubuf, UDP_BUF, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
        if (n < 0) break; /* EAGAIN, or an ICMP error: the retransmission timer copes */
        sh_addr from;
        if (sh_net_from_sockaddr((struct sockaddr *)&ss, sl, &from)) continue;
        refresh_totals(tc);
        sh_announcer_udp_recv(tc->ann, &from, tc->ubuf, (size_t)n, now_ns());
    }
    pump(tc);
}

static int open_udp(sh_tracker_client *tc, sh_errinfo *ei)
{
    sh_addr bind = tc->cfg.listen;
    if (bind.family == 0) bind.family = 4; /* 0.0.0.0 */
    bind.port = 0;
    tc->family = bind.family;
    sh_addr bound;
    int rc = sh_net_udp_bind(&bind, &tc->ufd, &bound, ei);
    if (rc) return rc;
    rc = sh_loop_add(tc->loop, tc->ufd, SH_EV_READ, on_udp, tc);
    if (rc) sh_errinfo_set(ei, rc, 0, "cannot watch the tracker UDP socket");
    return rc;
}

static void udp_send_to(sh_tracker_client *tc, const char *host, const sh_addr *to,
                        const uint8_t *data, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = SH_EINVAL;
    if (to->family == tc->family && sh_net_to_sockaddr(to, &ss, &sl) == 0) {
        ssize_t n = sendto(tc->ufd, data, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
        /* a full socket buffer is a lost datagram: retransmitted later */
        rc = n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK ? 0 : sh_net_code(errno);
    }
    if (rc == 0) return;
    char as[SH_ADDR_STRLEN];
    sh_log(&tc->cfg.log, SH_LOG_INFO, COMPONENT, "UDP send to %s (%s) failed: %s", host,
           sh_addr_format(to, as, sizeof as),
           to->family == tc->family ? sh_strerror(rc) : "address family differs from ours");
    sh_announcer_udp_failed(tc->ann, host, to->port, now_ns());
}

static dns_entry *dns_find(sh_tracker_client *tc, const char *host, uint16_t port)
{
    for (size_t i = 0; i < tc->ndns; i++)
        if (tc->dns[i].port == port && strcmp(tc->dns[i].host, host) == 0) return &tc->dns[i];
    if (tc->ndns == tc->capdns) {
        size_t cap = tc->capdns ? tc->capdns * 2 : 4;
        dns_entry *v = realloc(tc->dns, cap * sizeof *v);
        if (!v) return NULL;
        tc->dns = v;
        tc->capdns = cap;
    }
    dns_entry *e = &tc->dns[tc->ndns++];
    memset(e, 0, sizeof *e);
    snprintf(e->host, sizeof e->host, "%s", host);
    e->port = port;
    return e;
}

static void on_resolved(void *ud, const char *host, uint16_t port, int rc, const sh_addr *addr,
                        const char *err)
{
    sh_tracker_client *tc = ud;
    dns_entry *e = dns_find(tc, host, port);
    if (!e) return;
    if (rc) {
        e->state = DNS_FAILED;
        sh_log(&tc->cfg.log, SH_LOG_WARN, COMPONENT, "cannot resolve %s: %s", host, err);
        sh_announcer_udp_failed(tc->ann, host, port, now_ns());
    } else {
        e->state = DNS_OK;
        e->addr = *addr;
        e->at = now_ns();
        sh_announcer_udp_resolved(tc->ann, host, port, addr);
        if (e->pkt_len) udp_send_to(tc, host, &e->addr, e->pkt, e->pkt_len);
    }
    e->pkt_len = 0;
    pump(tc);
}

static void udp_send(sh_tracker_client *tc, const sh_ann_action *a)
{
    sh_addr to;
    if (sh_addr_parse_ip(a->host, strlen(a->host), &to) == 0) {
        to.port = a->port;
        udp_send_to(tc, a->host, &to, a->data, a->len);
        return;
    }
    dns_entry *e = dns_find(tc, a->host, a->port);
    if (!e) {
        sh_announcer_udp_failed(tc->ann, a->host, a->port, now_ns());
        return;
    }
    if (e->state == DNS_OK && now_ns() - e->at < DNS_TTL) {
        udp_send_to(tc, a->host, &e->addr, a->data, a->len);
        return;
    }
    if (a->len <= sizeof e->pkt) {
        memcpy(e->pkt, a->data, a->len);
        e->pkt_len = a->len;
    }
    if (e->state == DNS_PENDING) return;
    int rc = sh_resolver_lookup(tc->res, a->host, a->port, tc->family);
    if (rc) {
        e->state = DNS_FAILED;
        e->pkt_len = 0;
        sh_log(&tc->cfg.log, SH_LOG_WARN, COMPONENT, "cannot resolve %s: %s", a->host,
               sh_strerror(rc));
        sh_announcer_udp_failed(tc->ann, a->host, a->port, now_ns());
        return;
    }
    e->state = DNS_PENDING;
}

/* ---- the pump ---- */

static void on_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)l;
    (void)id;
    sh_tracker_client *tc = ud;
    tc->timer = 0;
    tc->timer_at = SH_TIME_NEVER;
    refresh_totals(tc);
    sh_announcer_on_timer(tc->ann, now_ns());
    pump(tc);
}

static void rearm(sh_tracker_client *tc)
{
    sh_time d = sh_announcer_next_deadline(tc->ann);
    if (d == tc->timer_at && (tc->timer || d == SH_TIME_NEVER)) return;
    if (tc->timer) sh_loop_cancel(tc->loop, tc->timer);
    tc->timer = 0;
    tc->timer_at = d;
    if (d != SH_TIME_NEVER) tc->timer = sh_loop_timer(tc->loop, d, on_timer, tc);
}

static void act(sh_tracker_client *tc, const sh_ann_action *a)
{
    switch (a->type) {
    case SH_ANN_HTTP_GET:
        http_get(tc, a);
        break;
    case SH_ANN_CANCEL:
        http_cancel(tc, a->req);
        break;
    case SH_ANN_UDP_SEND:
        udp_send(tc, a);
        break;
    case SH_ANN_PEERS:
        if (tc->cfg.on_peers) tc->cfg.on_peers(tc->cfg.ud, a->peers, a->num_peers);
        break;
    }
}

static void pump(sh_tracker_client *tc)
{
    if (tc->pumping) return;
    tc->pumping = true;
    sh_time now = now_ns();
    if (sh_announcer_next_deadline(tc->ann) <= now) sh_announcer_on_timer(tc->ann, now);
    sh_ann_action a;
    while (sh_announcer_next_action(tc->ann, &a))
        act(tc, &a);
    rearm(tc);
    tc->pumping = false;
    if (tc->stopping && !tc->idle_told && sh_announcer_idle(tc->ann)) {
        tc->idle_told = true;
        if (tc->cfg.on_idle) tc->cfg.on_idle(tc->cfg.ud);
    }
}

/* ---- lifetime ---- */

/* The listen IP as text for curl, or "" for any. */
static void source_ip(const sh_addr *listen, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    out[0] = 0;
    if (!listen->family || sh_net_is_any(listen) || sh_net_to_sockaddr(listen, &ss, &sl)) return;
    const void *ip = listen->family == 4 ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                         : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!inet_ntop(listen->family == 4 ? AF_INET : AF_INET6, ip, out, (socklen_t)cap)) out[0] = 0;
}

static int make_parts(sh_tracker_client *tc, const sh_tracker_client_config *cfg, sh_errinfo *ei)
{
    uint32_t key = 0;
    if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key) key = (uint32_t)cfg->seed;
    sh_announcer_config ac = {.tiers = cfg->tiers,
                              .num_tiers = cfg->num_tiers,
                              .port = cfg->listen.port,
                              .key = key,
                              .numwant = cfg->numwant,
                              .seed = cfg->seed,
                              .log = cfg->log};
    memcpy(ac.info_hash, cfg->info_hash, 20);
    memcpy(ac.peer_id, cfg->peer_id, 20);
    int rc = sh_announcer_new(&ac, now_ns(), &tc->ann);
    if (rc) return sh_errinfo_set(ei, rc, 0, "tracker announcer: %s", sh_strerror(rc));
    char ip[INET6_ADDRSTRLEN] = "";
    source_ip(&cfg->listen, ip, sizeof ip);
    sh_http_config hc = {.source_ip = ip, .timeout = HTTP_TIMEOUT};
    rc = sh_http_client_new(tc->loop, &hc, &tc->http);
    if (rc) return sh_errinfo_set(ei, rc, 0, "HTTP client: %s", sh_strerror(rc));
    rc = sh_resolver_new(tc->loop, on_resolved, tc, &tc->res);
    if (rc) return sh_errinfo_set(ei, rc, 0, "resolver: %s", sh_strerror(rc));
    tc->ubuf = malloc(UDP_BUF);
    if (!tc->ubuf) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    return open_udp(tc, ei);
}

int sh_tracker_client_new(sh_loop *loop, const sh_tracker_client_config *cfg,
                          sh_tracker_client **out, sh_errinfo *ei)
{
    if (!loop || !cfg || !out)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "tracker client: bad arguments");
    sh_tracker_client *tc = calloc(1, sizeof *tc);
    if (!tc) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    tc->loop = loop;
    tc->cfg = *cfg;
    tc->cfg.tiers = NULL;
    tc->ufd = -1;
    tc->timer_at = SH_TIME_NEVER;
    int rc = make_parts(tc, cfg, ei);
    if (rc) {
        sh_tracker_client_free(tc);
        return rc;
    }
    refresh_totals(tc);
    pump(tc);
    *out = tc;
    return 0;
}

void sh_tracker_client_free(sh_tracker_client *tc)
{
    if (!tc) return;
    if (tc->timer) sh_loop_cancel(tc->loop, tc->timer);
    sh_http_client_free(tc->http);
    sh_resolver_free(tc->res);
    if (tc->ufd >= 0) {
        sh_loop_del(tc->loop, tc->ufd);
        close(tc->ufd);
    }
    sh_announcer_free(tc->ann);
    free(tc->reqs);
    free(tc->dns);
    free(tc->ubuf);
    free(tc);
}

void sh_tracker_client_completed(sh_tracker_client *tc)
{
    if (!tc) return;
    refresh_totals(tc);
    sh_announcer_completed(tc->ann, now_ns());
    pump(tc);
}

void sh_tracker_client_stop(sh_tracker_client *tc)
{
    if (!tc || tc->stopping) return;
    tc->stopping = true;
    refresh_totals(tc);
    sh_announcer_stop(tc->ann, now_ns());
    pump(tc);
}

bool sh_tracker_client_idle(const sh_tracker_client *tc)
{
    return !tc || sh_announcer_idle(tc->ann);
}

size_t sh_tracker_client_status(const sh_tracker_client *tc, sh_tracker_status *out, size_t max)
{
    return tc ? sh_announcer_trackers(tc->ann, out, max) : 0;
}
