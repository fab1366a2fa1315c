/*
 * test_tstore.c — the tracker store: counts, expiry, limits, private mode,
 * and the selection policy (origin quota, holders first, connectivity of the
 * graph it shapes, determinism), plus cost and memory at 200 000 peers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shoal/rng.h>
#include <shoal/tstore.h>

#include "core/tstore_int.h"

#define I 30u         /* interval used throughout */
#define SIZE 1000000u /* "left" of an empty leecher */

static sh_tstore *mkstore(uint64_t seed, sh_tstore_config *over)
{
    sh_tstore_config c = {.interval = I, .seed = seed};
    if (over) {
        c = *over;
        if (!c.interval) c.interval = I;
    }
    c.seed = seed;
    sh_tstore *t = NULL;
    assert_int_equal(sh_tstore_new(&c, &t), 0);
    return t;
}

/* Peer number n lives at 10.(n>>16).(n>>8).n:6881 with a peer id naming n. */
static sh_announce_req mkreq(uint32_t swarm, uint32_t n, uint64_t left, sh_tevent ev,
                             uint32_t numwant)
{
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, &swarm, 4);
    memcpy(r.peer_id, "-TS0001-", 8);
    memcpy(r.peer_id + 8, &n, 4);
    r.addr.family = 4;
    r.addr.ip[0] = 10;
    r.addr.ip[1] = (uint8_t)(n >> 16);
    r.addr.ip[2] = (uint8_t)(n >> 8);
    r.addr.ip[3] = (uint8_t)n;
    r.addr.port = 6881;
    r.left = left;
    r.event = ev;
    r.numwant = numwant;
    r.compact = true;
    return r;
}

static uint32_t peer_no(const sh_tpeer *p)
{
    return (uint32_t)p->addr.ip[1] << 16 | (uint32_t)p->addr.ip[2] << 8 | p->addr.ip[3];
}

static sh_tpeer buf[SH_NUMWANT_MAX];

static sh_announce_reply ann(sh_tstore *t, const sh_announce_req *r, sh_time now)
{
    sh_announce_reply rep;
    int rc = sh_tstore_announce(t, r, now, &rep, buf, SH_NUMWANT_MAX);
    if (rc) fail_msg("announce refused: %d %s", rc, rep.failure);
    return rep;
}

static void join(sh_tstore *t, uint32_t swarm, uint32_t n, uint64_t left, sh_time now)
{
    sh_announce_req r = mkreq(swarm, n, left, SH_TEV_STARTED, 0);
    ann(t, &r, now);
}

static sh_scrape_entry scrape(sh_tstore *t, uint32_t swarm)
{
    uint8_t ih[20] = {0};
    memcpy(ih, &swarm, 4);
    sh_scrape_entry e;
    sh_tstore_scrape(t, ih, &e);
    return e;
}

static sh_tstore_stats stats(const sh_tstore *t)
{
    sh_tstore_stats st;
    sh_tstore_stats_get(t, &st);
    return st;
}

static void test_siphash_vectors(void **st)
{
    (void)st;
    /* the reference vectors: key 00..0f, message 00..(n-1) */
    sh_sipkey k = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    uint8_t m[20];
    for (int i = 0; i < 20; i++)
        m[i] = (uint8_t)i;
    assert_true(sh_siphash(&k, m, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(sh_siphash(&k, m, 15) == 0xa129ca6149be45e5ull);
    assert_true(sh_siphash(&k, m, 16) == 0x3f2acc7f57c29bdbull);
    assert_true(sh_siphash(&k, m, 19) == 0xbb6dc91da77961bdull);
}

static void test_counts(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(1, NULL);
    join(t, 7, 1, 0, 0);
    join(t, 7, 2, 0, 0);
    for (uint32_t n = 3; n <= 5; n++)
        join(t, 7, n, SIZE, 0);
    join(t, 8, 1, SIZE, 0); /* the same host in another swarm */
    sh_announce_req r = mkreq(7, 6, 10, SH_TEV_NONE, 50);
    sh_announce_reply rep = ann(t, &r, SH_SEC(1));
    assert_int_equal(rep.interval, I);
    assert_int_equal(rep.min_interval, I / 2);
    assert_int_equal(rep.complete, 2);
    assert_int_equal(rep.incomplete, 4);
    assert_int_equal(rep.num_peers, 5);
    assert_ptr_equal(rep.peers, buf);
    sh_scrape_entry e = scrape(t, 7);
    assert_int_equal(e.complete, 2);
    assert_int_equal(e.incomplete, 4);
    assert_int_equal(e.downloaded, 0);
    e = scrape(t, 9);
    assert_true(e.complete == 0 && e.incomplete == 0 && e.downloaded == 0);
    sh_tstore_stats s = stats(t);
    assert_int_equal(s.swarms, 2);
    assert_true(s.peers == 7 && s.seeders == 2 && s.leechers == 5);
    assert_true(s.announces == 7 && s.scrapes == 2 && s.refused == 0);

    /* the same ip:port with a new peer id replaces the entry */
    r = mkreq(7, 3, SIZE, SH_TEV_STARTED, 0);
    memset(r.peer_id, 'N', 20);
    ann(t, &r, SH_SEC(2));
    assert_true(stats(t).peers == 7);
    r = mkreq(7, 1, 0, SH_TEV_NONE, 50);
    rep = ann(t, &r, SH_SEC(2));
    bool seen_new = false;
    for (uint32_t i = 0; i < rep.num_peers; i++)
        if (peer_no(&rep.peers[i]) == 3) seen_new = memcmp(rep.peers[i].peer_id, "NNNN", 4) == 0;
    assert_true(seen_new);
    /* another port on the same IP is another peer */
    r = mkreq(7, 3, SIZE, SH_TEV_STARTED, 0);
    r.addr.port = 7000;
    ann(t, &r, SH_SEC(2));
    assert_true(stats(t).peers == 8);
    sh_tstore_free(t);
}

static void test_expiry(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(2, NULL);
    join(t, 1, 1, SIZE, 0);
    join(t, 1, 2, SIZE, 0);
    join(t, 1, 2, SIZE, SH_SEC(I)); /* peer 2 announces again one interval later */
    for (int k = 0; k < 3; k++)
        sh_tstore_expire(t, SH_SEC(2 * I));
    assert_true(stats(t).peers == 2); /* two intervals: not yet */
    for (int k = 0; k < 3; k++)
        sh_tstore_expire(t, SH_SEC(2 * I + 1));
    assert_true(stats(t).peers == 1); /* peer 1 missed two intervals */
    assert_int_equal(scrape(t, 1).incomplete, 1);
    for (int k = 0; k < 3; k++)
        sh_tstore_expire(t, SH_SEC(3 * I + 1));
    assert_int_equal(stats(t).swarms, 0); /* the empty swarm goes too */

    /* bounded work: 5000 stale peers take several calls */
    for (uint32_t n = 0; n < 5000; n++)
        join(t, 2 + n % 3, n, SIZE, SH_SEC(100));
    sh_tstore_expire(t, SH_SEC(1000));
    uint64_t left = stats(t).peers;
    assert_true(left >= 5000 - 1024 && left < 5000);
    int calls = 1;
    while (stats(t).swarms && calls < 100) {
        sh_tstore_expire(t, SH_SEC(1000));
        calls++;
    }
    assert_true(stats(t).peers == 0 && stats(t).swarms == 0);
    assert_true(calls >= 5 && calls <= 8);
    sh_tstore_free(t);
}

static void test_stale_not_handed_out(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(3, NULL);
    join(t, 1, 1, 0, 0);
    join(t, 1, 2, SIZE, SH_SEC(2 * I + 5));
    sh_announce_req r = mkreq(1, 3, SIZE, SH_TEV_STARTED, 50);
    sh_announce_reply rep = ann(t, &r, SH_SEC(2 * I + 5));
    assert_int_equal(rep.num_peers, 1); /* peer 1 is stale though not yet swept */
    assert_int_equal(peer_no(&rep.peers[0]), 2);
    sh_tstore_free(t);
}

static void test_stopped_and_completed(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(4, NULL);
    join(t, 1, 1, SIZE, 0);
    join(t, 1, 2, SIZE, 0);
    sh_announce_req r = mkreq(1, 1, 0, SH_TEV_STOPPED, 50);
    sh_announce_reply rep = ann(t, &r, SH_SEC(1));
    assert_int_equal(rep.num_peers, 0);
    assert_int_equal(rep.incomplete, 1);
    assert_true(stats(t).peers == 1);
    r = mkreq(99, 1, 0, SH_TEV_STOPPED, 50); /* unknown swarm: not created */
    ann(t, &r, SH_SEC(1));
    assert_int_equal(stats(t).swarms, 1);

    r = mkreq(1, 2, 0, SH_TEV_COMPLETED, 0);
    ann(t, &r, SH_SEC(2));
    ann(t, &r, SH_SEC(3)); /* repeated: counted once */
    r.event = SH_TEV_NONE;
    ann(t, &r, SH_SEC(4));
    assert_int_equal(scrape(t, 1).downloaded, 1);
    join(t, 1, 3, SIZE, 0);
    r = mkreq(1, 3, 0, SH_TEV_NONE, 0); /* left > 0 → 0 without the event */
    ann(t, &r, SH_SEC(5));
    r.left = 5; /* back to leeching (data lost), then done again: still once */
    ann(t, &r, SH_SEC(6));
    r.left = 0;
    ann(t, &r, SH_SEC(7));
    join(t, 1, 4, 0, SH_SEC(8)); /* a seed that arrives complete did not download */
    sh_scrape_entry e = scrape(t, 1);
    assert_int_equal(e.downloaded, 2);
    assert_int_equal(e.complete, 3);
    assert_int_equal(e.incomplete, 0);
    assert_true(stats(t).completed == 2 && stats(t).seeders == 3);
    sh_tstore_free(t);
}

static void test_asker_and_numwant(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(5, NULL);
    for (uint32_t n = 1; n <= 5; n++)
        join(t, 1, n, n == 1 ? 0 : SIZE - n, 0);
    /* the same peer id from another port is the asker too */
    sh_announce_req twin = mkreq(1, 3, SIZE, SH_TEV_STARTED, 0);
    twin.addr.port = 9999;
    ann(t, &twin, 0);
    for (uint32_t n = 1; n <= 5; n++) {
        sh_announce_req r = mkreq(1, n, n == 1 ? 0 : SIZE - n, SH_TEV_NONE, 50);
        sh_announce_reply rep = ann(t, &r, SH_SEC(1));
        assert_int_equal(rep.num_peers, n == 3 ? 4 : 5);
        for (uint32_t i = 0; i < rep.num_peers; i++) {
            assert_int_not_equal(peer_no(&rep.peers[i]), n);
            assert_memory_not_equal(rep.peers[i].peer_id, r.peer_id, 20);
        }
    }
    sh_announce_req r = mkreq(1, 2, SIZE, SH_TEV_NONE, 3);
    assert_int_equal(ann(t, &r, SH_SEC(2)).num_peers, 3);
    r.numwant = 0;
    assert_int_equal(ann(t, &r, SH_SEC(2)).num_peers, 0);
    r.numwant = 50;
    sh_announce_reply rep;
    assert_int_equal(sh_tstore_announce(t, &r, SH_SEC(2), &rep, buf, 2), 0);
    assert_int_equal(rep.num_peers, 2);
    r.addr.family = 0;
    assert_int_equal(sh_tstore_announce(t, &r, SH_SEC(2), &rep, buf, 2), SH_EINVAL);
    sh_tstore_free(t);
}

static void test_families(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(6, NULL);
    join(t, 1, 1, SIZE, 0);
    sh_announce_req r6 = mkreq(1, 2, SIZE, SH_TEV_STARTED, 50);
    r6.addr.family = 6;
    r6.addr.ip[0] = 0xfd;
    r6.want_v6 = true;
    assert_int_equal(ann(t, &r6, 0).num_peers, 1); /* an IPv6 asker gets IPv4 peers too */
    sh_announce_req r4 = mkreq(1, 3, SIZE, SH_TEV_STARTED, 50);
    sh_announce_reply rep = ann(t, &r4, 0);
    assert_int_equal(rep.num_peers, 1); /* an IPv4 asker only IPv4 ones */
    assert_int_equal(rep.peers[0].addr.family, 4);
    sh_tstore_free(t);
}

/* Sum of sh_tstore_each counts, and the order check. */
typedef struct walk {
    uint64_t peers;
    uint32_t swarms;
    uint8_t last[20];
    bool sorted;
} walk;

static void visit(void *ud, const sh_scrape_entry *e)
{
    walk *w = ud;
    if (w->swarms && memcmp(w->last, e->info_hash, 20) >= 0) w->sorted = false;
    memcpy(w->last, e->info_hash, 20);
    w->swarms++;
    w->peers += e->complete + e->incomplete;
}

static void check_consistent(const sh_tstore *t)
{
    walk w = {.sorted = true};
    sh_tstore_each(t, visit, &w);
    sh_tstore_stats s = stats(t);
    assert_true(w.sorted);
    assert_int_equal(w.swarms, s.swarms);
    assert_true(w.peers == s.peers);
    assert_true(s.seeders + s.leechers == s.peers);
}

static void refused(sh_tstore *t, const sh_announce_req *r, const char *why)
{
    sh_announce_reply rep;
    sh_tstore_stats before = stats(t);
    assert_int_equal(sh_tstore_announce(t, r, 0, &rep, buf, SH_NUMWANT_MAX), SH_ETRACKER);
    assert_string_equal(rep.failure, why);
    assert_int_equal(rep.num_peers, 0);
    sh_tstore_stats after = stats(t);
    assert_true(after.peers == before.peers && after.swarms == before.swarms);
    assert_true(after.refused == before.refused + 1);
    check_consistent(t);
}

static void test_limits(void **st)
{
    (void)st;
    sh_tstore_config c = {.max_swarms = 2, .max_peers_swarm = 3, .max_peers_total = 5};
    sh_tstore *t = mkstore(7, &c);
    join(t, 1, 1, SIZE, 0);
    join(t, 2, 1, SIZE, 0);
    sh_announce_req r = mkreq(3, 1, SIZE, SH_TEV_STARTED, 50);
    refused(t, &r, "tracker full"); /* a third swarm */
    join(t, 1, 2, SIZE, 0);
    join(t, 1, 3, SIZE, 0);
    r = mkreq(1, 4, SIZE, SH_TEV_STARTED, 50);
    refused(t, &r, "swarm full");
    join(t, 1, 3, 7, SH_SEC(1)); /* established peers still announce */
    join(t, 2, 2, SIZE, 0);
    r = mkreq(2, 3, SIZE, SH_TEV_STARTED, 50);
    refused(t, &r, "tracker full"); /* 5 peers in total */
    r = mkreq(1, 2, SIZE, SH_TEV_STOPPED, 50);
    ann(t, &r, 0);
    join(t, 2, 3, SIZE, 0); /* room again */
    check_consistent(t);
    assert_true(stats(t).peers == 5);
    sh_tstore_free(t);
}

static void test_private(void **st)
{
    (void)st;
    sh_tstore_config c = {.private_mode = true};
    sh_tstore *t = mkstore(8, &c);
    sh_announce_req r = mkreq(1, 1, SIZE, SH_TEV_STARTED, 50);
    refused(t, &r, "unregistered torrent");
    for (uint32_t k = 0; k < 100; k++) { /* grows the allow-list table a few times */
        uint8_t ih[20] = {0};
        memcpy(ih, &k, 4);
        assert_int_equal(sh_tstore_allow(t, ih), 0);
        assert_int_equal(sh_tstore_allow(t, ih), 0);
    }
    ann(t, &r, 0);
    r = mkreq(100, 1, SIZE, SH_TEV_STARTED, 50);
    refused(t, &r, "unregistered torrent");
    sh_tstore_free(t);
}

/* ---- the policy ---- */

static bool is_holder_no(uint32_t n)
{
    return n >= 1 && n <= 20; /* peers 1..20 hold data in the quota tests */
}

static void test_policy_origin_quota(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(9, NULL);
    /* window 0: everyone announces once, so the swarm knows the full size */
    join(t, 1, 0, 0, 0);
    for (uint32_t n = 21; n <= 100; n++)
        join(t, 1, n, SIZE, 0);
    for (uint32_t n = 1; n <= 20; n++)
        join(t, 1, n, SIZE / 2, 0);
    /* window 1: 100 leechers ask for 10 each */
    uint32_t seed_handouts = 0;
    for (uint32_t n = 1; n <= 100; n++) {
        sh_announce_req r = mkreq(1, n, is_holder_no(n) ? SIZE / 2 : SIZE, SH_TEV_NONE, 10);
        sh_announce_reply rep = ann(t, &r, SH_SEC(I) + SH_MS(100 * n));
        assert_int_equal(rep.num_peers, 10);
        uint32_t seeds = 0, holders = 0;
        for (uint32_t i = 0; i < rep.num_peers; i++) {
            uint32_t p = peer_no(&rep.peers[i]);
            seeds += p == 0;
            holders += is_holder_no(p);
        }
        seed_handouts += seeds;
        assert_int_equal(holders, 10 - seeds); /* holders before empty peers */
    }
    assert_int_equal(seed_handouts, 8); /* the default origin_handouts */
    /* a new window resets the quota */
    sh_announce_req r = mkreq(1, 50, SIZE, SH_TEV_NONE, 10);
    sh_announce_reply rep = ann(t, &r, SH_SEC(2 * I));
    assert_int_equal(peer_no(&rep.peers[0]), 0);
    /* a seed asking gets leechers only, holders first */
    join(t, 1, 500, 0, SH_SEC(2 * I));
    r = mkreq(1, 500, 0, SH_TEV_NONE, 25);
    rep = ann(t, &r, SH_SEC(2 * I));
    assert_int_equal(rep.num_peers, 25);
    for (uint32_t i = 0; i < 25; i++) {
        uint32_t p = peer_no(&rep.peers[i]);
        assert_true(p != 0 && p != 500);
        assert_true(i < 20 ? is_holder_no(p) : !is_holder_no(p));
    }
    sh_tstore_free(t);
}

/* A seed at its quota leaves and another arrives in the same window: the new one is handed out. */
static void test_policy_quota_turnover(void **st)
{
    (void)st;
    sh_tstore_config c = {.origin_handouts = 1};
    sh_tstore *t = mkstore(13, &c);
    join(t, 1, 10, SIZE, 0);    /* empty: sets the full size */
    join(t, 1, 1, 0, 0);        /* seed A */
    join(t, 1, 2, SIZE / 2, 0); /* a holder */
    for (uint32_t n = 11; n <= 13; n++)
        join(t, 1, n, SIZE, 0);
    sh_announce_req r = mkreq(1, 11, SIZE, SH_TEV_NONE, 1);
    assert_int_equal(peer_no(&ann(t, &r, SH_SEC(1)).peers[0]), 1);
    r = mkreq(1, 12, SIZE, SH_TEV_NONE, 1);
    assert_int_equal(peer_no(&ann(t, &r, SH_SEC(1)).peers[0]), 2); /* A is at quota */
    r = mkreq(1, 1, 0, SH_TEV_STOPPED, 0);
    ann(t, &r, SH_SEC(2));
    join(t, 1, 3, 0, SH_SEC(2)); /* seed B */
    r = mkreq(1, 13, SIZE, SH_TEV_NONE, 1);
    assert_int_equal(peer_no(&ann(t, &r, SH_SEC(3)).peers[0]), 3);
    r = mkreq(1, 11, SIZE, SH_TEV_NONE, 1);
    assert_int_equal(peer_no(&ann(t, &r, SH_SEC(3)).peers[0]), 2); /* B is at quota */
    sh_tstore_free(t);
}

static void test_policy_no_holders(void **st)
{
    (void)st;
    sh_tstore_config c = {.origin_handouts = 2};
    sh_tstore *t = mkstore(10, &c);
    join(t, 1, 0, 0, 0);
    for (uint32_t n = 1; n <= 100; n++) {
        sh_announce_req r = mkreq(1, n, SIZE, SH_TEV_STARTED, 5);
        sh_announce_reply rep = ann(t, &r, SH_SEC(1));
        assert_int_equal(rep.num_peers, n < 5 ? n : 5);
        assert_int_equal(peer_no(&rep.peers[0]), 0); /* nobody holds data: the seed */
    }
    sh_tstore_free(t);
}

static uint32_t uf_find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

/*
 * 500 peers present; each announces once more and takes 20. Is the graph of
 * who-was-told-about-whom connected, even with the origin's edges left out?
 */
static void check_connected(uint64_t seed, uint32_t holder_pct)
{
    enum { N = 500 };
    sh_tstore *t = mkstore(seed, NULL);
    sh_rng rng;
    sh_rng_seed(&rng, seed * 7 + 1);
    uint64_t left[N + 1];
    left[0] = 0; /* peer 0: the origin */
    join(t, 1, 0, 0, 0);
    for (uint32_t n = 1; n <= N; n++) {
        bool holder = sh_rng_below(&rng, 100) < holder_pct;
        left[n] = holder ? 1 + sh_rng_below(&rng, SIZE - 1) : SIZE;
        join(t, 1, n, SIZE, 0);
    }
    uint32_t parent[N + 1];
    for (uint32_t i = 0; i <= N; i++)
        parent[i] = i;
    for (uint32_t n = 1; n <= N; n++) {
        sh_announce_req r = mkreq(1, n, left[n], SH_TEV_NONE, 20);
        sh_announce_reply rep = ann(t, &r, SH_SEC(I));
        assert_int_equal(rep.num_peers, 20);
        for (uint32_t i = 0; i < rep.num_peers; i++) {
            uint32_t p = peer_no(&rep.peers[i]);
            if (p != 0) parent[uf_find(parent, n)] = uf_find(parent, p);
        }
    }
    uint32_t root = uf_find(parent, 1);
    for (uint32_t n = 1; n <= N; n++)
        if (uf_find(parent, n) != root)
            fail_msg("seed %llu: peer %u cut off", (unsigned long long)seed, n);
    sh_tstore_free(t);
}

static void test_policy_connected(void **st)
{
    (void)st;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        check_connected(seed, 0);
        check_connected(seed, 20);
        check_connected(seed, 90);
    }
}

static void test_determinism(void **st)
{
    (void)st;
    sh_tpeer out[3][40];
    for (int k = 0; k < 3; k++) {
        sh_tstore *t = mkstore(k < 2 ? 42 : 43, NULL);
        for (uint32_t n = 0; n < 300; n++)
            join(t, 1, n, n % 3 ? SIZE : SIZE / 2, 0);
        sh_announce_reply rep;
        sh_announce_req r = mkreq(1, 7, SIZE, SH_TEV_NONE, 40);
        assert_int_equal(sh_tstore_announce(t, &r, SH_SEC(1), &rep, out[k], 40), 0);
        assert_int_equal(rep.num_peers, 40);
        sh_tstore_free(t);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_memory_not_equal(out[0], out[2], sizeof out[0]);
}

/* Churn through the swarm table and the peer index (backward-shift deletes). */
static void test_churn(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(11, NULL);
    sh_rng rng;
    sh_rng_seed(&rng, 5);
    static uint8_t present[64][64];
    memset(present, 0, sizeof present);
    uint64_t count = 0;
    for (int step = 0; step < 20000; step++) {
        uint32_t s = (uint32_t)sh_rng_below(&rng, 64), n = (uint32_t)sh_rng_below(&rng, 64);
        bool stop = sh_rng_below(&rng, 2);
        sh_announce_req r = mkreq(s, n, SIZE, stop ? SH_TEV_STOPPED : SH_TEV_STARTED, 5);
        ann(t, &r, SH_SEC(1));
        if (present[s][n] && stop) count--;
        if (!present[s][n] && !stop) count++;
        present[s][n] = !stop;
        if (step % 1000 == 0) sh_tstore_expire(t, SH_SEC(1)); /* drops empty swarms */
    }
    assert_true(stats(t).peers == count);
    for (uint32_t s = 0; s < 64; s++) {
        uint32_t in = 0;
        for (uint32_t n = 0; n < 64; n++)
            in += present[s][n];
        assert_int_equal(scrape(t, s).incomplete, in);
    }
    check_consistent(t);
    sh_tstore_free(t);
}

static double secs_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) * 1e-9;
}

#if defined(__SANITIZE_ADDRESS__)
#define SLOW 8.0 /* sanitizers: the bound only guards against O(n) per announce */
#else
#define SLOW 1.0
#endif

static void test_big_store(void **st)
{
    (void)st;
    enum { N = 200000, ANN = 100000 };
    sh_tstore_config c = {.max_peers_swarm = N};
    struct mallinfo2 m0 = mallinfo2();
    sh_tstore *t = mkstore(12, &c);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t n = 0; n < N; n++)
        join(t, 1, n, n % 10 == 0 ? 0 : n % 2 ? SIZE : SIZE / 2, SH_SEC(1));
    double fill = secs_since(&t0);
    struct mallinfo2 m1 = mallinfo2();
    sh_rng rng;
    sh_rng_seed(&rng, 3);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t handed = 0;
    for (uint32_t k = 0; k < ANN; k++) {
        uint32_t n = (uint32_t)sh_rng_below(&rng, N);
        sh_announce_req r = mkreq(1, n, n % 10 == 0 ? 0 : n % 2 ? SIZE : SIZE / 2, SH_TEV_NONE, 50);
        handed += ann(t, &r, SH_SEC(2)).num_peers;
    }
    double dt = secs_since(&t0);
    assert_true(handed == (uint64_t)ANN * 50);
    size_t bytes = sh_ts_mem_bytes(t);
    printf(
        "tstore: %u peers inserted in %.3f s; %u announces (numwant 50) in %.3f s = %.2f us each\n",
        N, fill, ANN, dt, dt * 1e6 / ANN);
    printf("tstore: %zu bytes of tables = %.1f bytes/peer (peer entry %zu B, index slot %zu B);"
           " malloc arena grew %.1f bytes/peer\n",
           bytes, (double)bytes / N, sizeof(ts_peer), sizeof(uint32_t),
           (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / N);
    assert_true(dt < 2.0 * SLOW);
    assert_true((double)bytes / N < 160.0);
    sh_tstore_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_stale_not_handed_out),
        cmocka_unit_test(test_stopped_and_completed),
        cmocka_unit_test(test_asker_and_numwant),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_private),
        cmocka_unit_test(test_policy_origin_quota),
        cmocka_unit_test(test_policy_quota_turnover),
        cmocka_unit_test(test_policy_no_holders),
        cmocka_unit_test(test_policy_connected),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_big_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
