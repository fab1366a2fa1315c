/*
 * test_tstore_random.c — the tracker's random policy (SH_TSTORE_RANDOM), the
 * classic one the fleet policy is measured against: a uniform sample of the
 * whole swarm with no seed quota and no class order, but the same
 * exclusions (the asker, stale peers, the other family) and the same
 * determinism. Also: an unknown policy is refused at creation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <shoal/tstore.h>

#define I 30u         /* interval */
#define SIZE 1000000u /* "left" of an empty leecher */

static sh_tstore *mkstore(uint64_t seed, sh_tstore_policy policy, uint32_t handouts)
{
    sh_tstore_config c = {
        .interval = I, .seed = seed, .policy = policy, .origin_handouts = handouts};
    sh_tstore *t = NULL;
    assert_int_equal(sh_tstore_new(&c, &t), 0);
    return t;
}

/* Peer number n lives at 10.(n>>16).(n>>8).n:6881 with a peer id naming n. */
static sh_announce_req mkreq(uint32_t n, uint64_t left, sh_tevent ev, uint32_t numwant)
{
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    r.info_hash[0] = 1;
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

static sh_announce_reply ann(sh_tstore *t, uint32_t n, uint64_t left, sh_tevent ev,
                             uint32_t numwant, sh_time now)
{
    sh_announce_req r = mkreq(n, left, ev, numwant);
    sh_announce_reply rep;
    int rc = sh_tstore_announce(t, &r, now, &rep, buf, SH_NUMWANT_MAX);
    if (rc) fail_msg("announce refused: %d %s", rc, rep.failure);
    return rep;
}

/* No peer twice in one answer, never the asker. */
static void check_answer(const sh_announce_reply *rep, uint32_t asker)
{
    for (uint32_t i = 0; i < rep->num_peers; i++) {
        uint32_t p = peer_no(&rep->peers[i]);
        if (p == asker) fail_msg("peer %u handed itself", asker);
        for (uint32_t j = 0; j < i; j++)
            if (peer_no(&rep->peers[j]) == p) fail_msg("peer %u twice in one answer", p);
    }
}

static void test_unknown_policy_refused(void **st)
{
    (void)st;
    sh_tstore_config c = {.interval = I, .policy = (sh_tstore_policy)2};
    sh_tstore *t = (sh_tstore *)&c; /* must stay untouched */
    assert_int_equal(sh_tstore_new(&c, &t), SH_EINVAL);
    assert_ptr_equal(t, (sh_tstore *)&c);
    c.policy = (sh_tstore_policy)-1;
    assert_int_equal(sh_tstore_new(&c, &t), SH_EINVAL);
    c.policy = SH_TSTORE_RANDOM;
    assert_int_equal(sh_tstore_new(&c, &t), 0);
    sh_tstore_free(t);
}

/* The swarm of test_policy_origin_quota (test_tstore.c): seed 0, holders
 * 1..20, empty 21..100, everyone asking for 10 in window 1. The fleet policy
 * answers holders only and hands the seed out origin_handouts times; the
 * random one mixes every class and ignores the quota. */
static void run_quota_swarm(sh_tstore_policy policy, uint32_t *seed_handouts, uint32_t *empties)
{
    sh_tstore *t = mkstore(9, policy, 1);
    ann(t, 0, 0, SH_TEV_STARTED, 0, 0);
    for (uint32_t n = 21; n <= 100; n++)
        ann(t, n, SIZE, SH_TEV_STARTED, 0, 0);
    for (uint32_t n = 1; n <= 20; n++)
        ann(t, n, SIZE / 2, SH_TEV_STARTED, 0, 0);
    *seed_handouts = *empties = 0;
    for (uint32_t n = 1; n <= 100; n++) {
        sh_announce_reply rep =
            ann(t, n, n <= 20 ? SIZE / 2 : SIZE, SH_TEV_NONE, 10, SH_SEC(I) + SH_MS(100 * n));
        assert_int_equal(rep.num_peers, 10);
        check_answer(&rep, n);
        for (uint32_t i = 0; i < rep.num_peers; i++) {
            uint32_t p = peer_no(&rep.peers[i]);
            *seed_handouts += p == 0;
            *empties += p > 20;
        }
    }
    sh_tstore_free(t);
}

static void test_no_quota_no_order(void **st)
{
    (void)st;
    uint32_t seeds, empties;
    run_quota_swarm(SH_TSTORE_FLEET, &seeds, &empties);
    assert_int_equal(seeds, 1); /* origin_handouts = 1 */
    assert_int_equal(empties, 0);
    run_quota_swarm(SH_TSTORE_RANDOM, &seeds, &empties);
    /* 1000 draws, each peer about 10 times: 80 of 100 others are empty */
    assert_in_range(seeds, 3, 25);
    assert_in_range(empties, 700, 900);
}

/* Every other peer equally often: 101 peers, 20 000 answers of 10. */
static void test_uniform(void **st)
{
    (void)st;
    enum { N = 101, ASKS = 20000, WANT = 10 };
    sh_tstore *t = mkstore(5, SH_TSTORE_RANDOM, 0);
    ann(t, 0, 0, SH_TEV_STARTED, 0, 0); /* a seed, a holder, empties: all alike */
    ann(t, 1, SIZE / 2, SH_TEV_STARTED, 0, 0);
    for (uint32_t n = 2; n < N; n++)
        ann(t, n, SIZE, SH_TEV_STARTED, 0, 0);
    static uint32_t seen[N];
    memset(seen, 0, sizeof seen);
    uint32_t asked_by_0 = 0;
    for (uint32_t k = 0; k < ASKS; k++) {
        uint32_t n = k % N;
        asked_by_0 += n == 0; /* a seed asking gets seeds and leechers alike */
        sh_announce_reply rep = ann(t, n,
                                    n == 0   ? 0
                                    : n == 1 ? SIZE / 2
                                             : SIZE,
                                    SH_TEV_NONE, WANT, SH_SEC(1) + SH_MS(k / 100));
        assert_int_equal(rep.num_peers, WANT);
        check_answer(&rep, n);
        for (uint32_t i = 0; i < rep.num_peers; i++)
            seen[peer_no(&rep.peers[i])]++;
    }
    /* each peer: ASKS * WANT / N = 1980 expected, sd ~ 42; 6 sd either way */
    for (uint32_t n = 0; n < N; n++)
        if (seen[n] < 1730 || seen[n] > 2230) fail_msg("peer %u handed out %u times", n, seen[n]);
    assert_true(asked_by_0 > 0);
    sh_tstore_free(t);
}

/* A seed asking for everyone gets every other peer, the other seed too;
 * stale peers and IPv6 peers (to an IPv4 asker) are left out. */
static void test_exclusions(void **st)
{
    (void)st;
    sh_tstore *t = mkstore(3, SH_TSTORE_RANDOM, 0);
    for (uint32_t n = 1; n <= 5; n++) /* go stale: seen at 0 only */
        ann(t, 100 + n, SIZE, SH_TEV_STARTED, 0, 0);
    sh_announce_req r6 = mkreq(200, SIZE, SH_TEV_STARTED, 0);
    r6.addr.family = 6;
    memset(r6.addr.ip, 0, 16);
    r6.addr.ip[0] = 0xfd;
    r6.addr.ip[15] = 1;
    sh_announce_reply rep;
    sh_time now = SH_SEC(2 * I + 5);
    assert_int_equal(sh_tstore_announce(t, &r6, now, &rep, buf, SH_NUMWANT_MAX), 0);
    ann(t, 0, 0, SH_TEV_STARTED, 0, now);
    ann(t, 1, 0, SH_TEV_STARTED, 0, now);
    for (uint32_t n = 2; n <= 30; n++)
        ann(t, n, n < 10 ? SIZE / 2 : SIZE, SH_TEV_STARTED, 0, now);
    rep = ann(t, 0, 0, SH_TEV_NONE, 200, now);
    assert_int_equal(rep.num_peers, 30); /* 1..30: not 0, not 101..105, not the IPv6 one */
    check_answer(&rep, 0);
    uint32_t sum = 0;
    for (uint32_t i = 0; i < rep.num_peers; i++) {
        assert_int_equal(rep.peers[i].addr.family, 4);
        sum += peer_no(&rep.peers[i]);
    }
    assert_int_equal(sum, 30 * 31 / 2);
    /* an IPv6 asker that wants both families gets the IPv4 peers too */
    r6.event = SH_TEV_NONE;
    r6.numwant = 200;
    r6.want_v6 = true;
    assert_int_equal(sh_tstore_announce(t, &r6, now, &rep, buf, SH_NUMWANT_MAX), 0);
    assert_int_equal(rep.num_peers, 31);
    sh_tstore_free(t);
}

/* One seed, one sequence of answers; another seed, another. */
static void test_deterministic(void **st)
{
    (void)st;
    sh_tpeer out[3][40];
    for (int k = 0; k < 3; k++) {
        sh_tstore *t = mkstore(k < 2 ? 42 : 43, SH_TSTORE_RANDOM, 0);
        for (uint32_t n = 0; n < 300; n++)
            ann(t, n, n % 3 ? SIZE : SIZE / 2, SH_TEV_STARTED, 0, 0);
        sh_announce_req r = mkreq(7, SIZE, SH_TEV_NONE, 40);
        sh_announce_reply rep;
        assert_int_equal(sh_tstore_announce(t, &r, SH_SEC(1), &rep, out[k], 40), 0);
        assert_int_equal(rep.num_peers, 40);
        check_answer(&rep, 7);
        sh_tstore_free(t);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_memory_not_equal(out[0], out[2], sizeof out[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_policy_refused),
        cmocka_unit_test(test_no_quota_no_order),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_exclusions),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
