/*
 * fuzz_announcer.c — the announcer driven by a fuzzer-chosen sequence of
 * events: clock steps, HTTP answers (hostile bodies and statuses) to the
 * requests it made, UDP datagrams (hostile, or forged with a transaction id
 * it used), resolutions, completed and stop.
 *
 * Checked after every step: no timer spin (after on_timer(now) the next
 * deadline is later than now), every CANCEL names a request that is out,
 * request ids are never reused, nothing but stopped is announced after
 * stop (bar retransmissions of a UDP announce already out), and 3 s after
 * stop the announcer is idle and asks for nothing more.
 */
#include <shoal/announcer.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

#define MAXREQ 64

typedef struct st {
    sh_announcer *a;
    sh_time now;
    uint64_t out[MAXREQ]; /* HTTP requests out */
    size_t nout;
    uint64_t last_req;
    uint32_t txids[8]; /* recent UDP transaction ids */
    size_t ntx;
    uint32_t early[64]; /* txids of announces sent before stop (may be resent after) */
    size_t nearly;
    bool stopped;
    sh_time stop_at;
} st;

static const sh_addr udp_lit = {.family = 4, .ip = {10, 0, 0, 1}, .port = 80};
static const sh_addr udp_named = {.family = 4, .ip = {10, 0, 0, 2}, .port = 80};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_get(st *s, const sh_ann_action *a)
{
    CHECK(a->req > s->last_req); /* ids only grow: never reused */
    s->last_req = a->req;
    CHECK(a->url && strstr(a->url, "info_hash="));
    if (s->stopped) CHECK(strstr(a->url, "event=stopped") != NULL);
    if (s->nout < MAXREQ) s->out[s->nout++] = a->req;
}

static void on_cancel(st *s, uint64_t req)
{
    for (size_t i = 0; i < s->nout; i++) {
        if (s->out[i] == req) {
            s->out[i] = s->out[--s->nout];
            return;
        }
    }
    CHECK(s->nout == MAXREQ); /* only untracked (overflowed) requests may be unknown */
}

static void on_udp(st *s, const sh_ann_action *a)
{
    CHECK(a->len == 16 || a->len == 98);
    CHECK(a->port == 80);
    uint32_t tx = be32(a->data + 12);
    s->txids[s->ntx++ % 8] = tx;
    if (a->len != 98 || be32(a->data + 80) == SH_TEV_STOPPED) return;
    if (!s->stopped) {
        if (s->nearly < 64) s->early[s->nearly++] = tx;
        return;
    }
    /* after stop: only a retransmission of an announce that was already out */
    bool resend = s->nearly == 64;
    for (size_t i = 0; i < s->nearly; i++)
        resend = resend || s->early[i] == tx;
    CHECK(resend);
}

static void drain(st *s)
{
    sh_ann_action a;
    while (sh_announcer_next_action(s->a, &a)) {
        switch (a.type) {
        case SH_ANN_HTTP_GET:
            on_get(s, &a);
            break;
        case SH_ANN_CANCEL:
            on_cancel(s, a.req);
            break;
        case SH_ANN_UDP_SEND:
            on_udp(s, &a);
            break;
        case SH_ANN_PEERS:
            CHECK(a.num_peers > 0 && a.peers);
            CHECK(!s->stopped);
            break;
        default:
            CHECK(0);
        }
    }
}

static void tick(st *s)
{
    if (sh_announcer_next_deadline(s->a) <= s->now) {
        sh_announcer_on_timer(s->a, s->now);
        CHECK(sh_announcer_next_deadline(s->a) > s->now);
    }
    drain(s);
}

/* A request that is out, chosen by k (and forgotten: one answer each). */
static bool take_req(st *s, uint8_t k, uint64_t *req)
{
    if (s->nout == 0) return false;
    size_t i = k % s->nout;
    *req = s->out[i];
    s->out[i] = s->out[--s->nout];
    return true;
}

static const char good_body[] = "d8:intervali7e12:min intervali3e5:peers6:\x0a\x00\x00\x09\x1a\xe1"
                                "e";

static void step(st *s, const uint8_t *p, size_t n)
{
    uint8_t op = p[0], k = n > 1 ? p[1] : 0;
    const uint8_t *body = n > 2 ? p + 2 : NULL;
    size_t blen = n > 2 ? n - 2 : 0;
    uint64_t req;
    switch (op % 9) {
    case 0:
        s->now += SH_MS(100) * (uint64_t)(k + 1);
        break;
    case 1:
        if (take_req(s, k, &req)) {
            static const int statuses[] = {0, 200, 200, 404, 500};
            sh_announcer_http_done(s->a, req, statuses[(op >> 4) % 5], body, blen, s->now);
        }
        break;
    case 2:
        if (take_req(s, k, &req))
            sh_announcer_http_done(s->a, req, 200, (const uint8_t *)good_body, sizeof good_body - 1,
                                   s->now);
        break;
    case 3: {
        /* a datagram from a tracker's address, its txid one we used (or not) */
        uint8_t pkt[256];
        size_t len = blen < sizeof pkt ? blen : sizeof pkt;
        if (body) memcpy(pkt, body, len);
        if (len >= 8 && s->ntx && (op & 0x10)) {
            uint32_t tx = s->txids[k % (s->ntx < 8 ? s->ntx : 8)];
            pkt[4] = (uint8_t)(tx >> 24), pkt[5] = (uint8_t)(tx >> 16);
            pkt[6] = (uint8_t)(tx >> 8), pkt[7] = (uint8_t)tx;
        }
        if (len >= 4 && (op & 0x20)) pkt[0] = pkt[1] = pkt[2] = 0, pkt[3] = (uint8_t)(k & 3);
        sh_announcer_udp_recv(s->a, (op & 0x40) ? &udp_named : &udp_lit, pkt, len, s->now);
        break;
    }
    case 4:
        sh_announcer_completed(s->a, s->now);
        break;
    case 5:
        if (!s->stopped) s->stop_at = s->now;
        s->stopped = true;
        sh_announcer_stop(s->a, s->now);
        break;
    case 6:
        sh_announcer_udp_resolved(s->a, "tracker.test", 80, &udp_named);
        break;
    case 7:
        sh_announcer_udp_failed(s->a, "tracker.test", 80, s->now);
        break;
    case 8:
        sh_announcer_set_totals(s->a, k, (uint64_t)k << 20, 1000u - k);
        break;
    }
    drain(s);
    tick(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *t0[] = {"http://a.test/announce", "udp://10.0.0.1:80"};
    static char *t1[] = {"udp://tracker.test:80/announce"};
    static char *t2[] = {"http://c.test/x?k=1", "udp://bad"};
    static const sh_tier tiers[] = {{t0, 2}, {t1, 1}, {t2, 2}};
    sh_announcer_config c;
    memset(&c, 0, sizeof c);
    c.tiers = tiers;
    c.num_tiers = 3;
    c.port = 6881;
    c.seed = 1;
    st s;
    memset(&s, 0, sizeof s);
    s.now = SH_SEC(1);
    if (sh_announcer_new(&c, s.now, &s.a)) return 0;
    tick(&s);
    /* records: [len][op k body...], the length byte bounding the step */
    size_t i = 0;
    while (i < size) {
        size_t n = data[i++] % 40 + 1;
        if (n > size - i) n = size - i;
        if (n == 0) break;
        step(&s, data + i, n);
        i += n;
    }
    /* the end: stop, and 3 s later nothing is left to do */
    if (!s.stopped) s.stop_at = s.now;
    s.stopped = true;
    sh_announcer_stop(s.a, s.now);
    drain(&s);
    if (s.now < s.stop_at + SH_SEC(3)) s.now = s.stop_at + SH_SEC(3);
    tick(&s);
    CHECK(sh_announcer_idle(s.a));
    CHECK(sh_announcer_next_deadline(s.a) == SH_TIME_NEVER);
    sh_announcer_free(s.a);
    return 0;
}
