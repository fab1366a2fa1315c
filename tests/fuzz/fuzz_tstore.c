/*
 * fuzz_tstore.c — the tracker store driven by a fuzzer-chosen sequence of
 * announces (every event), clock steps and expiry sweeps, checked against a
 * plain model of who is in which swarm.
 *
 * After every step the store must agree with the model on swarms, peers and
 * seeds; a refusal must be one the limits explain; an answer must never hold
 * the asker (by address or peer id), a duplicate, a peer the model does not
 * have, or more than numwant peers; and the scrape counts must match.
 */
#include <shoal/tstore.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

enum { SW = 4, PEERS = 64, INTERVAL = 10 };

typedef struct model {
    bool swarm[SW];
    bool in[SW][PEERS];
    uint64_t left[SW][PEERS];
    uint8_t id[SW][PEERS];
    uint32_t seen[SW][PEERS];
} model;

/* Peer p: address 10.0.0.(p/2) or fd00::(p/2), port 1000 + p%2; v6 when p >= 32. */
static sh_addr addr_of(uint32_t p)
{
    sh_addr a = {0};
    a.family = p >= 32 ? 6 : 4;
    a.ip[0] = a.family == 4 ? 10 : 0xfd;
    a.ip[a.family == 4 ? 3 : 15] = (uint8_t)(p / 2);
    a.port = (uint16_t)(1000 + p % 2);
    return a;
}

static uint32_t count_peers(const model *m, uint32_t s, bool seeds_only)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < PEERS; p++)
        n += m->in[s][p] && (!seeds_only || m->left[s][p] == 0);
    return n;
}

static void check_stats(const sh_tstore *t, const model *m)
{
    sh_tstore_stats st;
    sh_tstore_stats_get(t, &st);
    uint32_t swarms = 0;
    uint64_t peers = 0, seeds = 0;
    for (uint32_t s = 0; s < SW; s++) {
        swarms += m->swarm[s];
        peers += count_peers(m, s, false);
        seeds += count_peers(m, s, true);
    }
    CHECK(st.swarms == swarms && st.peers == peers && st.seeders == seeds);
    CHECK(st.leechers == peers - seeds);
}

static uint32_t model_total(const model *m)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < SW; s++)
        n += count_peers(m, s, false);
    return n;
}

static void check_answer(const model *m, uint32_t s, uint32_t asker, const sh_announce_reply *r,
                         uint32_t numwant, uint32_t now)
{
    sh_addr me = addr_of(asker);
    CHECK(r->num_peers <= numwant);
    for (uint32_t i = 0; i < r->num_peers; i++) {
        const sh_tpeer *q = &r->peers[i];
        CHECK(!sh_addr_eq(&q->addr, &me) && q->peer_id[0] != m->id[s][asker]);
        uint32_t p =
            2u * q->addr.ip[q->addr.family == 4 ? 3 : 15] + (uint32_t)(q->addr.port - 1000);
        CHECK(p < PEERS && m->in[s][p]);
        CHECK(now - m->seen[s][p] <= 2 * INTERVAL); /* stale peers are not handed out */
        CHECK(q->addr.family == me.family || me.family == 6);
        for (uint32_t j = 0; j < i; j++)
            CHECK(!sh_addr_eq(&q->addr, &r->peers[j].addr));
    }
}

static void announce(sh_tstore *t, model *m, const sh_tstore_config *c, const uint8_t *op,
                     uint32_t now)
{
    uint32_t s = op[1] % SW, p = op[2] % PEERS;
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    r.info_hash[0] = (uint8_t)s;
    r.peer_id[0] = (uint8_t)(1 + op[3] % 16); /* few ids: clashes across addresses happen */
    r.addr = addr_of(p);
    r.want_v6 = r.addr.family == 6;
    r.left = (op[0] >> 4) % 4 == 0 ? 0 : 1000u * ((op[0] >> 4) % 4);
    r.event = (sh_tevent)(op[3] >> 5 > 4 ? 0 : op[3] >> 5);
    r.numwant = op[0] & 0x0f ? (op[0] & 0x0f) * 3u : 50;
    sh_tpeer buf[SH_NUMWANT_MAX];
    sh_announce_reply rep;
    int rc = sh_tstore_announce(t, &r, (sh_time)now * 1000000000ull, &rep, buf, SH_NUMWANT_MAX);
    if (rc == SH_ETRACKER) {
        CHECK(!m->in[s][p] && r.event != SH_TEV_STOPPED);
        CHECK((!m->swarm[s] && (uint32_t)(m->swarm[0] + m->swarm[1] + m->swarm[2] + m->swarm[3]) >=
                                   c->max_swarms) ||
              model_total(m) >= c->max_peers_total ||
              count_peers(m, s, false) >= c->max_peers_swarm);
        return;
    }
    CHECK(rc == 0);
    if (r.event == SH_TEV_STOPPED) {
        m->in[s][p] = false;
        CHECK(rep.num_peers == 0);
    } else {
        m->swarm[s] = true;
        m->in[s][p] = true;
        m->left[s][p] = r.left;
        m->id[s][p] = r.peer_id[0];
        m->seen[s][p] = now;
        check_answer(m, s, p, &rep, r.numwant, now);
    }
    if (m->swarm[s]) CHECK(rep.complete == count_peers(m, s, true));
}

/* Sweeps until the store has examined everything, and applies the same to the model. */
static void sweep(sh_tstore *t, model *m, uint32_t now)
{
    for (int k = 0; k < 4; k++)
        sh_tstore_expire(t, (sh_time)now * 1000000000ull);
    for (uint32_t s = 0; s < SW; s++) {
        for (uint32_t p = 0; p < PEERS; p++)
            if (m->in[s][p] && now - m->seen[s][p] > 2 * INTERVAL) m->in[s][p] = false;
        if (count_peers(m, s, false) == 0) m->swarm[s] = false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    sh_tstore_config c = {.max_swarms = 1 + data[0] % 4,
                          .max_peers_swarm = 1 + data[1] % 40,
                          .max_peers_total = 1 + data[2] % 100,
                          .interval = INTERVAL,
                          .origin_handouts = 1 + data[3] % 3,
                          .seed = data[3]};
    sh_tstore *t = NULL;
    CHECK(sh_tstore_new(&c, &t) == 0);
    static model m;
    memset(&m, 0, sizeof m);
    uint32_t now = 100;
    for (size_t i = 4; i + 4 <= size && i < 4 * 2000; i += 4) {
        const uint8_t *op = data + i;
        if (op[1] >= 0xf0) {
            now += op[2] % 32; /* time passes */
        } else if (op[1] >= 0xe8) {
            sweep(t, &m, now);
        } else {
            announce(t, &m, &c, op, now);
        }
        check_stats(t, &m);
        sh_scrape_entry e;
        uint8_t ih[20] = {(uint8_t)(op[1] % SW)};
        sh_tstore_scrape(t, ih, &e);
        CHECK(e.complete == count_peers(&m, ih[0], true));
        CHECK(e.complete + e.incomplete == count_peers(&m, ih[0], false));
    }
    sh_tstore_free(t);
    return 0;
}
