/* test_choker.c — the upload-slot policy on hand-made snapshots. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/choker.h"

#define T0 SH_SEC(100)

static void peers(sh_choke_peer *p, size_t n)
{
    memset(p, 0, n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i].conn = i + 1;
        p[i].interested = true;
    }
}

static uint32_t count(const sh_choke_peer *p, size_t n)
{
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i].unchoke;
    return k;
}

/* Carries decisions into the next snapshot, as the swarm does. */
static void apply(sh_choke_peer *p, size_t n, sh_time now)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].unchoked && !p[i].unchoke) p[i].last_served = now;
        p[i].unchoked = p[i].unchoke;
        if (p[i].unchoked) p[i].last_served = now;
    }
}

static void test_enough_slots(void **st)
{
    (void)st;
    sh_choker c;
    sh_rng r;
    sh_rng_seed(&r, 1);
    sh_choker_init(&c);
    sh_choke_peer p[5];
    peers(p, 5);
    p[2].interested = false;
    p[4].unchoked = true;
    p[4].interested = false;
    sh_choker_run(&c, p, 5, 4, false, SH_CHOKE_FULL, &r, T0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(p[i].unchoke, p[i].interested);
    sh_choker_run(&c, p, 5, 0, false, SH_CHOKE_FULL, &r, T0);
    assert_int_equal(count(p, 5), 0);
}

/* Fleet (cooperative) peers: ahead of tit-for-tat peers while downloading,
 * and among themselves the one served least recently first, whatever it
 * uploads to us. */
static void test_coop_round_robin(void **st)
{
    (void)st;
    sh_choker c;
    sh_rng r;
    sh_rng_seed(&r, 1);
    sh_choker_init(&c);
    sh_choke_peer p[6];
    peers(p, 6);
    p[0].down_rate = 1e6; /* a fast standard client */
    p[1].down_rate = 2e6;
    for (int i = 2; i < 6; i++) {
        p[i].coop = true;
        p[i].down_rate = 10.0 * i;
    }
    p[2].last_served = T0 - SH_SEC(5);
    p[3].last_served = T0 - SH_SEC(50);
    p[4].last_served = T0 - SH_SEC(20);
    p[5].last_served = T0 - SH_SEC(1);
    sh_choker_run(&c, p, 6, 3, false, SH_CHOKE_FULL, &r, T0);
    assert_int_equal(count(p, 6), 3);
    assert_true(p[3].unchoke); /* served 50 s ago */
    assert_true(p[4].unchoke); /* 20 s ago */
    assert_false(p[1].unchoke && p[0].unchoke);
    /* a full run keeps them (sticky: a slot moves when its peer loses
     * interest, so running requests are not voided every 10 s) */
    apply(p, 6, T0);
    sh_choker_run(&c, p, 6, 3, false, SH_CHOKE_FULL, &r, T0 + SH_CHOKER_INTERVAL);
    assert_true(p[3].unchoke);
    assert_true(p[4].unchoke);
    /* p[3] has all our pieces: its slot goes to another fleet peer */
    apply(p, 6, T0 + SH_CHOKER_INTERVAL);
    p[3].interested = false;
    sh_choker_run(&c, p, 6, 3, false, SH_CHOKE_FILL, &r, T0 + SH_CHOKER_INTERVAL + 1);
    assert_false(p[3].unchoke);
    assert_true(p[4].unchoke);
    assert_int_equal(count(p, 6), 3);
    assert_true(p[2].unchoke || p[5].unchoke);
}

static void test_downloading_reciprocates(void **st)
{
    (void)st;
    sh_choker c;
    sh_rng r;
    sh_rng_seed(&r, 1);
    sh_choker_init(&c);
    sh_choke_peer p[6];
    peers(p, 6);
    const double rate[6] = {10, 500, 30, 500, 20, 1};
    for (int i = 0; i < 6; i++)
        p[i].down_rate = rate[i];
    sh_choker_run(&c, p, 6, 3, false, SH_CHOKE_FULL, &r, T0);
    assert_int_equal(count(p, 6), 3);
    assert_true(p[1].unchoke && p[3].unchoke); /* the two fastest: regular slots */
    sh_conn_id opt = c.optimistic;
    assert_true(opt != 0 && opt != 2 && opt != 4);
    assert_true(p[opt - 1].unchoke);
    /* the optimistic peer keeps its slot for 30 s, then it rotates */
    apply(p, 6, T0);
    sh_choker_run(&c, p, 6, 3, false, SH_CHOKE_FULL, &r, T0 + SH_SEC(10));
    assert_int_equal(c.optimistic, opt);
    sh_conn_id seen = 0;
    for (int k = 0; k < 20 && !seen; k++) {
        sh_choker_run(&c, p, 6, 3, false, SH_CHOKE_FULL, &r, T0 + SH_SEC(30 + 30 * k));
        if (c.optimistic != opt) seen = c.optimistic;
    }
    assert_true(seen != 0 && seen != 2 && seen != 4);
}

static void test_seeding_round_robin(void **st)
{
    (void)st;
    sh_choker c;
    sh_rng r;
    sh_rng_seed(&r, 2);
    sh_choker_init(&c);
    sh_choke_peer p[6];
    peers(p, 6);
    uint32_t served[6] = {0};
    for (int round = 0; round < 12; round++) {
        sh_time now = T0 + SH_SEC(10) * (sh_time)round;
        sh_choker_run(&c, p, 6, 3, true, SH_CHOKE_FULL, &r, now);
        assert_int_equal(count(p, 6), 3);
        for (int i = 0; i < 6; i++)
            served[i] += p[i].unchoke;
        apply(p, 6, now);
    }
    /* 2 regular slots rotate over everyone: nobody starves, nobody hogs */
    for (int i = 0; i < 6; i++)
        assert_true(served[i] >= 4 && served[i] <= 8);
}

static void test_fill_keeps_slots(void **st)
{
    (void)st;
    sh_choker c;
    sh_rng r;
    sh_rng_seed(&r, 3);
    sh_choker_init(&c);
    sh_choke_peer p[5];
    peers(p, 5);
    for (int i = 0; i < 5; i++)
        p[i].down_rate = 100.0 * i;       /* 5 is best, 1 worst */
    p[0].unchoked = p[1].unchoked = true; /* the slowest hold slots */
    p[1].interested = false;              /* one lost interest */
    sh_choker_run(&c, p, 5, 3, false, SH_CHOKE_FILL, &r, T0);
    assert_true(p[0].unchoke); /* interested and unchoked: never choked by a fill */
    assert_false(p[1].unchoke);
    assert_int_equal(count(p, 5), 3);
    assert_true(p[4].unchoke && p[3].unchoke); /* free slots go to the best */
    /* a FULL run re-ranks: the slow one loses its slot to the fastest three... */
    apply(p, 5, T0);
    sh_choker_run(&c, p, 5, 3, false, SH_CHOKE_FULL, &r, T0 + SH_SEC(10));
    assert_int_equal(count(p, 5), 3);
    assert_true(p[4].unchoke && p[3].unchoke);
}

static void test_deterministic(void **st)
{
    (void)st;
    sh_choke_peer a[8], b[8];
    sh_choker ca, cb;
    sh_rng ra, rb;
    sh_rng_seed(&ra, 9);
    sh_rng_seed(&rb, 9);
    sh_choker_init(&ca);
    sh_choker_init(&cb);
    peers(a, 8);
    peers(b, 8);
    for (int k = 0; k < 10; k++) {
        sh_time now = T0 + SH_SEC(30) * (sh_time)k;
        sh_choker_run(&ca, a, 8, 4, false, SH_CHOKE_FULL, &ra, now);
        sh_choker_run(&cb, b, 8, 4, false, SH_CHOKE_FULL, &rb, now);
        for (int i = 0; i < 8; i++)
            assert_int_equal(a[i].unchoke, b[i].unchoke);
        assert_int_equal(ca.optimistic, cb.optimistic);
        apply(a, 8, now);
        apply(b, 8, now);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enough_slots),        cmocka_unit_test(test_downloading_reciprocates),
        cmocka_unit_test(test_seeding_round_robin), cmocka_unit_test(test_fill_keeps_slots),
        cmocka_unit_test(test_deterministic),       cmocka_unit_test(test_coop_round_robin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
