/*
 * test_tstore_entries.c — the tracker store's compact layout: 16-byte
 * entries that widen when an IPv6 peer joins, the optional peer-id array,
 * the tagged address index growing and shrinking under churn, seed
 * handouts counted per window, and the bounds the layout imposes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <shoal/rng.h>
#include <shoal/tstore.h>

#include "core/tstore_int.h"

#define I 30u
#define SIZE 1000000u

static sh_tpeer buf[SH_NUMWANT_MAX];

static sh_tstore *mkstore(const sh_tstore_config *over)
{
    sh_tstore_config c = {.interval = I, .seed = 77};
    if (over) {
        c = *over;
        c.interval = I;
        c.seed = 77;
    }
    sh_tstore *t = NULL;
    assert_int_equal(sh_tstore_new(&c, &t), 0);
    return t;
}

/* Peer n: IPv4 10.0.(n>>8).n or IPv6 fd00::(n>>8):n, port 1000 + n % 7. */
static sh_addr addr_of(uint32_t n, int family)
{
    sh_addr a;
    memset(&a, 0, sizeof a);
    a.family = (uint8_t)family;
    if (family == 4) {
        a.ip[0] = 10;
        a.ip[2] = (uint8_t)(n >> 8);
        a.ip[3] = (uint8_t)n;
    } else {
        a.ip[0] = 0xfd;
        a.ip[5] = 0x11; /* differs from any IPv4 peer beyond the first 4 bytes */
        a.ip[14] = (uint8_t)(n >> 8);
        a.ip[15] = (uint8_t)n;
    }
    a.port = (uint16_t)(1000 + n % 7);
    return a;
}

static sh_announce_req mkreq(uint32_t n, int family, uint64_t left, sh_tevent ev, uint32_t want)
{
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    r.info_hash[0] = 1;
    memcpy(r.peer_id, "-TE0001-", 8);
    memcpy(r.peer_id + 8, &n, 4);
    r.peer_id[12] = (uint8_t)family;
    r.addr = addr_of(n, family);
    r.want_v6 = family == 6;
    r.left = left;
    r.event = ev;
    r.numwant = want;
    r.compact = true;
    return r;
}

static sh_announce_reply ann(sh_tstore *t, const sh_announce_req *r, sh_time now)
{
    sh_announce_reply rep;
    int rc = sh_tstore_announce(t, r, now, &rep, buf, SH_NUMWANT_MAX);
    if (rc) fail_msg("announce refused: %d %s", rc, rep.failure);
    return rep;
}

static uint64_t npeers(const sh_tstore *t)
{
    sh_tstore_stats st;
    sh_tstore_stats_get(t, &st);
    return st.peers;
}

static ts_swarm *the_swarm(const sh_tstore *t)
{
    uint8_t ih[20] = {1};
    ts_swarm *s = sh_ts_swarm_find(t, ih, NULL);
    assert_non_null(s);
    return s;
}

/* Every peer handed out is one that was added, with its exact address. */
static void check_known(const sh_announce_reply *rep, uint32_t n4, uint32_t n6, int asker_family)
{
    for (uint32_t i = 0; i < rep->num_peers; i++) {
        const sh_addr *a = &rep->peers[i].addr;
        if (asker_family == 4) assert_int_equal(a->family, 4);
        uint32_t n = a->family == 4 ? (uint32_t)a->ip[2] << 8 | a->ip[3]
                                    : (uint32_t)a->ip[14] << 8 | a->ip[15];
        assert_true(n < (a->family == 4 ? n4 : n6));
        sh_addr want = addr_of(n, a->family);
        assert_true(sh_addr_eq(a, &want));
    }
}

/* 300 IPv4 peers (a third seeds), then 50 IPv6 ones join: the swarm's
 * entries widen, and every peer is still found at its address, in its
 * class, and handed out with its exact address. */
static void test_widening(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(NULL);
    for (uint32_t n = 0; n < 300; n++) {
        sh_announce_req r = mkreq(n, 4, n % 3 ? SIZE : 0, SH_TEV_STARTED, 0);
        ann(t, &r, 0);
    }
    ts_swarm *s = the_swarm(t);
    assert_int_equal(s->stride, TS_NARROW);
    assert_int_equal(sizeof(ts_peer), 16);
    for (uint32_t n = 0; n < 50; n++) {
        sh_announce_req r = mkreq(n, 6, n % 2 ? SIZE / 2 : SIZE, SH_TEV_STARTED, 0);
        ann(t, &r, 0);
    }
    s = the_swarm(t);
    assert_int_equal(s->stride, TS_WIDE);
    assert_true(npeers(t) == 350);
    /* every address is found again: announcing changes no count */
    for (uint32_t n = 0; n < 300; n++) {
        sh_announce_req r = mkreq(n, 4, n % 3 ? SIZE : 0, SH_TEV_NONE, 0);
        sh_announce_reply rep = ann(t, &r, SH_SEC(1));
        assert_int_equal(rep.complete, 100);
        assert_int_equal(rep.incomplete, 250);
    }
    for (uint32_t n = 0; n < 50; n++) {
        sh_announce_req r = mkreq(n, 6, n % 2 ? SIZE / 2 : SIZE, SH_TEV_NONE, 0);
        ann(t, &r, SH_SEC(1));
        sh_addr a = addr_of(n, 6);
        uint32_t pos = sh_ts_peer_find(t, s, &a);
        assert_int_not_equal(pos, TS_NONE);
        assert_int_equal(sh_ts_class_of(s, pos), n % 2 ? CLS_HOLDER : CLS_EMPTY);
        sh_addr back;
        sh_ts_peer_addr(s, pos, &back);
        assert_true(sh_addr_eq(&back, &a));
    }
    assert_true(npeers(t) == 350);
    /* an IPv6 address whose first 4 bytes and port are an IPv4 peer's is not it */
    sh_addr v6like = addr_of(7, 4);
    v6like.family = 6;
    assert_int_equal(sh_ts_peer_find(t, s, &v6like), TS_NONE);
    /* IPv4 askers get IPv4 peers only, IPv6 askers both, all exact */
    uint32_t v6_seen = 0;
    for (uint32_t k = 0; k < 20; k++) {
        sh_announce_req r = mkreq(k, 4, SIZE, SH_TEV_NONE, 200);
        sh_announce_reply rep = ann(t, &r, SH_SEC(2));
        assert_int_equal(rep.num_peers, 200);
        check_known(&rep, 300, 50, 4);
        r = mkreq(k, 6, SIZE, SH_TEV_NONE, 200);
        rep = ann(t, &r, SH_SEC(2));
        assert_int_equal(rep.num_peers, 200);
        check_known(&rep, 300, 50, 6);
        for (uint32_t i = 0; i < rep.num_peers; i++)
            v6_seen += rep.peers[i].addr.family == 6;
    }
    assert_true(v6_seen > 0);
    /* churn through the wide entries: stop every IPv4 peer and half the IPv6 */
    for (uint32_t n = 0; n < 300; n++) {
        sh_announce_req r = mkreq(n, 4, 0, SH_TEV_STOPPED, 0);
        ann(t, &r, SH_SEC(3));
    }
    for (uint32_t n = 0; n < 50; n += 2) {
        sh_announce_req r = mkreq(n, 6, 0, SH_TEV_STOPPED, 0);
        ann(t, &r, SH_SEC(3));
    }
    assert_true(npeers(t) == 25);
    s = the_swarm(t);
    for (uint32_t n = 0; n < 50; n++) {
        sh_addr a = addr_of(n, 6);
        assert_true((sh_ts_peer_find(t, s, &a) == TS_NONE) == (n % 2 == 0));
    }
    sh_tstore_free(t);
}

/* Peer ids: kept and handed out by default, skipped when the request says
 * no_peer_id, never kept with no_peer_ids (and 20 bytes less per peer);
 * the asker's twin under another address is left out either way. */
static void fill(sh_tstore *t, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        sh_announce_req r = mkreq(k, 4, SIZE, SH_TEV_STARTED, 0);
        ann(t, &r, 0);
    }
}

static void test_peer_ids(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(NULL);
    sh_tstore_config c = {.no_peer_ids = true};
    sh_tstore *bare = mkstore(&c);
    fill(t, 1000);
    fill(bare, 1000);
    assert_int_equal(sh_ts_mem_bytes(t) - sh_ts_mem_bytes(bare), (size_t)the_swarm(t)->cap * 20);
    assert_null(the_swarm(bare)->ids);

    /* twin: peer 3's id at another port */
    sh_announce_req twin = mkreq(3, 4, SIZE, SH_TEV_STARTED, 0);
    twin.addr.port = 9999;
    ann(t, &twin, 0);
    ann(bare, &twin, 0);

    sh_announce_req r = mkreq(3, 4, SIZE, SH_TEV_NONE, 200);
    sh_announce_reply rep = ann(t, &r, SH_SEC(1));
    assert_int_equal(rep.num_peers, 200);
    for (uint32_t i = 0; i < rep.num_peers; i++) {
        const sh_tpeer *p = &rep.peers[i];
        assert_true(p->has_peer_id);
        uint32_t n = (uint32_t)p->addr.ip[2] << 8 | p->addr.ip[3];
        sh_announce_req own = mkreq(n, 4, 0, SH_TEV_NONE, 0);
        assert_memory_equal(p->peer_id, own.peer_id, 20);
        assert_int_not_equal(n, 3);
    }
    r.no_peer_id = true;
    rep = ann(t, &r, SH_SEC(1));
    assert_int_equal(rep.num_peers, 200);
    for (uint32_t i = 0; i < rep.num_peers; i++) {
        assert_false(rep.peers[i].has_peer_id);
        assert_int_not_equal(rep.peers[i].addr.ip[3], 3);
    }
    r.no_peer_id = false;
    rep = ann(bare, &r, SH_SEC(1));
    assert_int_equal(rep.num_peers, 200);
    uint8_t zero[20] = {0};
    for (uint32_t i = 0; i < rep.num_peers; i++) {
        assert_false(rep.peers[i].has_peer_id);
        assert_memory_equal(rep.peers[i].peer_id, zero, 20);
        assert_false(rep.peers[i].addr.ip[2] == 0 && rep.peers[i].addr.ip[3] == 3);
    }
    /* in a tiny swarm the twin is the only other peer: nothing to hand out */
    sh_tstore *tiny = mkstore(&c);
    sh_announce_req a = mkreq(1, 4, SIZE, SH_TEV_STARTED, 0);
    ann(tiny, &a, 0);
    a.addr.port = 4242;
    ann(tiny, &a, 0);
    a.numwant = 50;
    assert_int_equal(ann(tiny, &a, SH_SEC(1)).num_peers, 0);
    sh_tstore_free(tiny);
    sh_tstore_free(t);
    sh_tstore_free(bare);
}

/* The index grows with the swarm, at most three quarters full, and shrinks
 * as it empties; the array follows; every survivor stays findable. */
static void test_index_sizes(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(NULL);
    enum { N = 5000 };
    for (uint32_t n = 0; n < N; n++) {
        sh_announce_req r = mkreq(n, n % 5 ? 4 : 6, n % 4 ? SIZE : 0, SH_TEV_STARTED, 0);
        ann(t, &r, 0);
        ts_swarm *s = the_swarm(t);
        assert_true((uint64_t)s->n * 4 <= (uint64_t)(s->idx_mask + 1) * 3);
        assert_true(s->n <= s->cap);
    }
    ts_swarm *s = the_swarm(t);
    assert_int_equal(s->idx_mask + 1, 8192);
    assert_true(s->cap < N + N / 2);
    /* stop all but 100 (every 50th stays) */
    for (uint32_t n = 0; n < N; n++) {
        if (n % 50 == 0) continue;
        sh_announce_req r = mkreq(n, n % 5 ? 4 : 6, 0, SH_TEV_STOPPED, 0);
        ann(t, &r, SH_SEC(1));
    }
    s = the_swarm(t);
    assert_int_equal(s->n, 100);
    assert_int_equal(s->idx_mask + 1, 512); /* 8192 → 2048 → 512 as it emptied */
    assert_true(s->cap <= 4 * 100 && s->cap >= 100);
    for (uint32_t n = 0; n < N; n++) {
        sh_addr a = addr_of(n, n % 5 ? 4 : 6);
        uint32_t pos = sh_ts_peer_find(t, s, &a);
        assert_true((pos != TS_NONE) == (n % 50 == 0));
        if (pos != TS_NONE) assert_int_equal(sh_ts_class_of(s, pos), n % 4 ? CLS_EMPTY : CLS_SEED);
    }
    sh_tstore_free(t);
}

/* Handouts per seed are counted in the current window, up to the quota,
 * which is at most 255; a new window starts every seed afresh. */
static void test_handouts(void **st)
{
    (void)st;
    sh_tstore_config c = {.origin_handouts = 1000};
    sh_tstore *t = mkstore(&c);
    sh_announce_req seed = mkreq(0, 4, 0, SH_TEV_STARTED, 0);
    ann(t, &seed, 0);
    for (uint32_t n = 400; n >= 1; n--) { /* 400 leechers; peer 1 (last) holds data */
        sh_announce_req r = mkreq(n, 4, n == 1 ? SIZE / 2 : SIZE, SH_TEV_STARTED, 0);
        ann(t, &r, 0);
    }
    uint32_t got = 0;
    for (uint32_t n = 2; n <= 400; n++) {
        sh_announce_req r = mkreq(n, 4, SIZE, SH_TEV_NONE, 1);
        sh_announce_reply rep = ann(t, &r, SH_SEC(I) + n);
        got += rep.num_peers == 1 && rep.peers[0].addr.ip[3] == 0 && rep.peers[0].addr.ip[2] == 0;
    }
    assert_int_equal(got, TS_MAX_HANDOUTS);
    assert_int_equal(the_swarm(t)->qfull, 1);
    sh_announce_req r = mkreq(2, 4, SIZE, SH_TEV_NONE, 1);
    sh_announce_reply rep = ann(t, &r, SH_SEC(I) + 1000);
    assert_int_not_equal(rep.peers[0].addr.ip[3], 0); /* at quota: a holder instead */
    /* leaving the seed class takes it out of the count; coming back starts afresh */
    seed.event = SH_TEV_NONE;
    seed.left = 5;
    ann(t, &seed, SH_SEC(I) + 1001);
    assert_int_equal(the_swarm(t)->qfull, 0);
    seed.left = 0;
    ann(t, &seed, SH_SEC(I) + 1002);
    rep = ann(t, &r, SH_SEC(I) + 1003);
    assert_int_equal(rep.peers[0].addr.ip[3], 0);
    /* a new window starts every seed afresh */
    for (uint32_t k = 0; k < 300; k++)
        ann(t, &r, SH_SEC(I) + 2000 + k);
    assert_int_equal(the_swarm(t)->qfull, 1);
    rep = ann(t, &r, SH_SEC(2 * I)); /* the holder has not announced since 0: still fresh */
    assert_int_equal(rep.peers[0].addr.ip[3], 0);
    assert_int_equal(the_swarm(t)->qfull, 0);
    sh_tstore_free(t);
}

static void test_bounds(void **st)
{
    (void)st;
    sh_tstore_config c = {.max_peers_swarm = 10000000, .origin_handouts = 256};
    sh_tstore *t = mkstore(&c);
    assert_int_equal(t->cfg.max_peers_swarm, TS_MAX_SWARM_PEERS);
    assert_int_equal(t->cfg.origin_handouts, 255);
    sh_tstore_free(t);
    c = (sh_tstore_config){.max_peers_swarm = 3};
    t = mkstore(&c);
    for (uint32_t n = 0; n < 3; n++) {
        sh_announce_req r = mkreq(n, 6, SIZE, SH_TEV_STARTED, 0);
        ann(t, &r, 0);
    }
    sh_announce_req r = mkreq(3, 4, SIZE, SH_TEV_STARTED, 0);
    sh_announce_reply rep;
    assert_int_equal(sh_tstore_announce(t, &r, 0, &rep, buf, SH_NUMWANT_MAX), SH_ETRACKER);
    assert_string_equal(rep.failure, "swarm full");
    assert_int_equal(the_swarm(t)->cap, 3);
    sh_tstore_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widening),    cmocka_unit_test(test_peer_ids),
        cmocka_unit_test(test_index_sizes), cmocka_unit_test(test_handouts),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
