/*
 * dht_net_harness.c — the in-memory network of dht_net_harness.h: two binary heaps (datagrams
 * in flight by arrival time, node deadlines) ordered by (time, sequence), so
 * equal times resolve in a fixed order and a run replays exactly.
 *
 * Node deadlines are kept lazily: a node's heap entry is valid only if it
 * equals armed[i]; after every call into a node its deadline is read again
 * and a new entry pushed when it changed.
 */
#include "dht_net_harness.h"

#include <shoal/rng.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT 6881

typedef struct hitem {
    sh_time at;
    uint64_t seq;
    uint32_t idx;  /* node (timers) or destination node (datagrams) */
    sh_addr from;  /* datagrams */
    uint8_t *data; /* datagrams */
    size_t len;
} hitem;

typedef struct heap {
    hitem *v;
    size_t n, cap;
} heap;

struct dht_net {
    dht_net_cfg cfg;
    sh_rng rng;
    sh_time now;
    uint64_t seq;
    sh_dht **node;
    sh_time *armed;
    bool *dead;
    heap pkts, timers;
    dht_net_event_fn ev;
    void *ev_ud;
    dht_net_foreign_fn foreign;
    void *foreign_ud;
    dht_net_stats st;
    uint64_t digest;
};

static bool before(const hitem *a, const hitem *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(heap *h, const hitem *it)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
        if (!h->v) abort();
    }
    size_t i = h->n++;
    while (i > 0 && before(it, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = *it;
}

static hitem heap_pop(heap *h)
{
    hitem top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

sh_addr dht_net_addr(uint32_t i)
{
    uint32_t k = i + 1;
    sh_addr a = {
        .family = 4, .ip = {127, (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k}, .port = PORT};
    return a;
}

int64_t dht_net_index(const dht_net *n, const sh_addr *a)
{
    if (a->family != 4 || a->ip[0] != 127 || a->port != PORT) return -1;
    uint32_t k = (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
    if (k == 0 || k > n->cfg.nodes) return -1;
    return (int64_t)k - 1;
}

static void digest_add(dht_net *n, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        n->digest ^= b[i];
        n->digest *= 0x100000001b3ull;
    }
}

static void send_dgram(dht_net *n, uint32_t src, const sh_addr *from, const sh_dht_action *a)
{
    n->st.sent++;
    digest_add(n, &n->now, sizeof n->now);
    digest_add(n, from->ip, 4);
    digest_add(n, a->addr.ip, 16);
    digest_add(n, &a->addr.port, 2);
    digest_add(n, a->data, a->len);
    int64_t dst = dht_net_index(n, &a->addr);
    if (dst < 0) {
        n->st.foreign++;
        if (n->foreign) n->foreign(n->foreign_ud, src, &a->addr, a->data, a->len, n->now);
        return;
    }
    if (n->cfg.loss > 0 && sh_rng_unit(&n->rng) < n->cfg.loss) {
        n->st.lost++;
        return;
    }
    hitem it = {0};
    it.at = n->now + n->cfg.latency + (n->cfg.jitter ? sh_rng_below(&n->rng, n->cfg.jitter) : 0);
    it.seq = n->seq++;
    it.idx = (uint32_t)dst;
    it.from = *from;
    it.data = malloc(a->len ? a->len : 1);
    if (!it.data) abort();
    memcpy(it.data, a->data, a->len);
    it.len = a->len;
    heap_push(&n->pkts, &it);
}

void dht_net_touched(dht_net *n, uint32_t i)
{
    sh_dht *d = n->node[i];
    sh_addr self = dht_net_addr(i);
    sh_dht_action a;
    while (sh_dht_next_action(d, &a)) {
        if (a.type == SH_DHT_SEND) {
            send_dgram(n, i, &self, &a);
        } else {
            n->st.events++;
            if (n->ev) n->ev(n->ev_ud, i, &a, n->now);
        }
    }
    sh_time dl = sh_dht_next_deadline(d);
    if (dl != n->armed[i]) {
        n->armed[i] = dl;
        if (dl != SH_TIME_NEVER) {
            hitem it = {0};
            it.at = dl;
            it.seq = n->seq++;
            it.idx = i;
            heap_push(&n->timers, &it);
        }
    }
}

dht_net *dht_net_new(const dht_net_cfg *cfg, sh_time start)
{
    dht_net *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->cfg = *cfg;
    n->now = start;
    n->digest = 0xcbf29ce484222325ull;
    sh_rng_seed(&n->rng, cfg->seed);
    n->node = calloc(cfg->nodes, sizeof *n->node);
    n->armed = calloc(cfg->nodes, sizeof *n->armed);
    n->dead = calloc(cfg->nodes, sizeof *n->dead);
    if (!n->node || !n->armed || !n->dead) abort();
    for (uint32_t i = 0; i < cfg->nodes; i++) {
        sh_dht_config c;
        memset(&c, 0, sizeof c);
        for (int k = 0; k < 20; k++)
            c.node_id[k] = (uint8_t)sh_rng_next(&n->rng);
        c.family = 4;
        c.seed = cfg->seed * 1000003u + i;
        c.query_rate = cfg->query_rate;
        if (sh_dht_new(&c, start, &n->node[i]) != 0) abort();
        n->armed[i] = SH_TIME_NEVER;
        dht_net_touched(n, i);
    }
    return n;
}

void dht_net_free(dht_net *n)
{
    if (!n) return;
    for (uint32_t i = 0; i < n->cfg.nodes; i++)
        sh_dht_free(n->node[i]);
    for (size_t i = 0; i < n->pkts.n; i++)
        free(n->pkts.v[i].data);
    free(n->pkts.v);
    free(n->timers.v);
    free(n->node);
    free(n->armed);
    free(n->dead);
    free(n);
}

void dht_net_on_event(dht_net *n, dht_net_event_fn fn, void *ud)
{
    n->ev = fn;
    n->ev_ud = ud;
}

void dht_net_on_foreign(dht_net *n, dht_net_foreign_fn fn, void *ud)
{
    n->foreign = fn;
    n->foreign_ud = ud;
}

sh_dht *dht_net_node(dht_net *n, uint32_t i)
{
    return n->node[i];
}

sh_time dht_net_now(const dht_net *n)
{
    return n->now;
}

void dht_net_set_loss(dht_net *n, double loss)
{
    n->cfg.loss = loss;
}

void dht_net_kill(dht_net *n, uint32_t i)
{
    n->dead[i] = true;
}

void dht_net_run(dht_net *n, sh_time until)
{
    for (;;) {
        while (n->timers.n) { /* drop stale timer entries */
            const hitem *t = &n->timers.v[0];
            if (t->at == n->armed[t->idx] && !n->dead[t->idx]) break;
            heap_pop(&n->timers);
        }
        const hitem *p = n->pkts.n ? &n->pkts.v[0] : NULL;
        const hitem *t = n->timers.n ? &n->timers.v[0] : NULL;
        bool take_pkt = p && (!t || before(p, t));
        const hitem *next = take_pkt ? p : t;
        if (!next || next->at > until) break;
        hitem it = heap_pop(take_pkt ? &n->pkts : &n->timers);
        if (it.at > n->now) n->now = it.at;
        if (n->dead[it.idx]) {
            free(it.data);
            continue;
        }
        if (take_pkt) {
            n->st.delivered++;
            sh_dht_recv(n->node[it.idx], &it.from, it.data, it.len, n->now);
            free(it.data);
        } else {
            n->armed[it.idx] = SH_TIME_NEVER; /* consumed */
            sh_dht_on_timer(n->node[it.idx], n->now);
        }
        dht_net_touched(n, it.idx);
    }
    if (until > n->now) n->now = until;
}

void dht_net_inject(dht_net *n, const sh_addr *from, uint32_t to, const uint8_t *p, size_t len)
{
    sh_dht_action a;
    memset(&a, 0, sizeof a);
    a.type = SH_DHT_SEND;
    a.addr = dht_net_addr(to);
    a.data = p;
    a.len = len;
    send_dgram(n, UINT32_MAX, from, &a);
}

void dht_net_bootstrap(dht_net *n, uint32_t i, uint32_t via)
{
    sh_addr a = dht_net_addr(via);
    sh_dht_bootstrap(n->node[i], &a, n->now);
    dht_net_touched(n, i);
}

void dht_net_search(dht_net *n, uint32_t i, const uint8_t ih[20], uint16_t port, uint64_t *sid)
{
    *sid = sh_dht_search(n->node[i], ih, port, n->now);
    dht_net_touched(n, i);
}

void dht_net_stats_get(const dht_net *n, dht_net_stats *st)
{
    *st = n->st;
}

uint64_t dht_net_digest(const dht_net *n)
{
    return n->digest;
}
