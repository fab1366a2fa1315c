/* test_dht_parts.c — the DHT's small data structures on their own: tokens, the peer store,
 * the per-IP rate limiter and the transaction table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dht_int.h"

#define T0 SH_SEC(5000)
#define SH_US(x) ((sh_time)(x)*1000ull)

static sh_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    sh_addr x = {.family = 4, .ip = {a, b, c, d}, .port = port};
    return x;
}

static void test_tokens(void **st)
{
    (void)st;
    static const uint8_t id[20] = "tokentokentokentoken";
    dht_tokens tk, other;
    dht_token_init(&tk, 42, id, T0);
    dht_token_init(&other, 43, id, T0);
    sh_addr a = v4(10, 0, 0, 1, 6881), a2 = v4(10, 0, 0, 1, 9999), b = v4(10, 0, 0, 2, 6881);
    uint8_t t[DHT_TOKEN_LEN], t_b[DHT_TOKEN_LEN];
    dht_token_make(&tk, &a, T0 + SH_SEC(10), t);
    dht_token_make(&tk, &b, T0 + SH_SEC(10), t_b);
    assert_memory_not_equal(t, t_b, DHT_TOKEN_LEN);
    assert_true(dht_token_check(&tk, &a, t, sizeof t, T0 + SH_SEC(20)));
    assert_true(dht_token_check(&tk, &a2, t, sizeof t, T0 + SH_SEC(20))); /* bound to the IP */
    assert_false(dht_token_check(&tk, &b, t, sizeof t, T0 + SH_SEC(20)));
    assert_false(dht_token_check(&other, &a, t, sizeof t, T0 + SH_SEC(20)));
    assert_false(dht_token_check(&tk, &a, t, sizeof t - 1, T0 + SH_SEC(20)));
    for (int i = 0; i < DHT_TOKEN_LEN; i++) {
        uint8_t f[DHT_TOKEN_LEN];
        memcpy(f, t, sizeof f);
        f[i] ^= 1;
        assert_false(dht_token_check(&tk, &a, f, sizeof f, T0 + SH_SEC(20)));
    }
    /* the previous period is honoured, the one before is not */
    assert_true(dht_token_check(&tk, &a, t, sizeof t, T0 + DHT_SECRET_TIME));
    assert_true(dht_token_check(&tk, &a, t, sizeof t, T0 + 2 * DHT_SECRET_TIME - 1));
    assert_false(dht_token_check(&tk, &a, t, sizeof t, T0 + 2 * DHT_SECRET_TIME));
    uint8_t t1[DHT_TOKEN_LEN];
    dht_token_make(&tk, &a, T0 + DHT_SECRET_TIME + SH_SEC(1), t1);
    assert_memory_not_equal(t, t1, DHT_TOKEN_LEN);
    assert_true(dht_token_check(&tk, &a, t1, sizeof t1, T0 + 2 * DHT_SECRET_TIME + SH_SEC(1)));
    assert_false(dht_token_check(&tk, &a, t1, sizeof t1, T0 + 3 * DHT_SECRET_TIME));
    /* same inputs, same token: nothing but the key, the period and the IP goes in */
    uint8_t again[DHT_TOKEN_LEN];
    dht_token_make(&tk, &a2, T0 + SH_SEC(299), again);
    assert_memory_equal(again, t, DHT_TOKEN_LEN);
}

static void ih_of(uint32_t i, uint8_t ih[20])
{
    memset(ih, 0, 20);
    ih[0] = (uint8_t)(i >> 24);
    ih[1] = (uint8_t)(i >> 16);
    ih[2] = (uint8_t)(i >> 8);
    ih[3] = (uint8_t)i;
    ih[19] = 0x77;
}

static void test_store_basics(void **st)
{
    (void)st;
    dht_store s;
    dht_store_init(&s, 100000, 99);
    sh_rng r;
    sh_rng_seed(&r, 1);
    uint8_t ih[20], ih2[20];
    ih_of(1, ih);
    ih_of(2, ih2);
    sh_addr out[DHT_STORE_ANSWER];
    assert_int_equal(dht_store_get(&s, ih, 4, T0, &r, out, DHT_STORE_ANSWER), 0);
    sh_addr p1 = v4(10, 0, 0, 1, 7000), p2 = v4(10, 0, 0, 1, 7001);
    sh_addr p6 = {.family = 6, .ip = {0x20, 1, [15] = 5}, .port = 1};
    assert_int_equal(dht_store_add(&s, ih, &p1, T0), 0);
    assert_int_equal(dht_store_add(&s, ih, &p1, T0 + SH_SEC(60)), 0); /* refresh, not a copy */
    assert_int_equal(dht_store_add(&s, ih, &p2, T0), 0);
    assert_int_equal(dht_store_add(&s, ih, &p6, T0), 0);
    assert_int_equal(s.used, 1);
    assert_int_equal(s.peers, 3);
    assert_int_equal(dht_store_get(&s, ih, 4, T0, &r, out, DHT_STORE_ANSWER), 2);
    assert_int_equal(dht_store_get(&s, ih, 6, T0, &r, out, DHT_STORE_ANSWER), 1);
    assert_true(sh_addr_eq(&out[0], &p6));
    assert_int_equal(dht_store_get(&s, ih2, 4, T0, &r, out, DHT_STORE_ANSWER), 0);
    sh_addr bad = {0};
    assert_int_equal(dht_store_add(&s, ih, &bad, T0), SH_EINVAL);
    /* 30 minutes after its last announce a peer is gone; p1 was refreshed a minute later */
    assert_int_equal(dht_store_get(&s, ih, 4, T0 + DHT_STORE_TTL, &r, out, DHT_STORE_ANSWER), 1);
    assert_true(sh_addr_eq(&out[0], &p1));
    assert_int_equal(s.peers, 1);
    dht_store_expire(&s, T0 + DHT_STORE_TTL + SH_SEC(60));
    assert_int_equal(s.peers, 0);
    assert_int_equal(s.used, 0);
    dht_store_free(&s);
}

static void test_store_limits_and_sampling(void **st)
{
    (void)st;
    dht_store s;
    dht_store_init(&s, 1500, 7);
    sh_rng r;
    sh_rng_seed(&r, 2);
    uint8_t ih[20];
    ih_of(5, ih);
    for (uint32_t i = 0; i < DHT_STORE_PER_HASH; i++) {
        sh_addr p = v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i, 6881);
        assert_int_equal(dht_store_add(&s, ih, &p, T0), 0);
    }
    sh_addr extra = v4(10, 2, 0, 0, 6881);
    assert_int_equal(dht_store_add(&s, ih, &extra, T0), SH_ELIMIT);
    /* known peers are still refreshed when the swarm is full */
    sh_addr first = v4(10, 1, 0, 0, 6881);
    assert_int_equal(dht_store_add(&s, ih, &first, T0 + SH_SEC(1)), 0);
    /* a sample of 50 distinct peers, and over many samples every peer shows up */
    static uint32_t hits[DHT_STORE_PER_HASH];
    memset(hits, 0, sizeof hits);
    for (int round = 0; round < 400; round++) {
        sh_addr out[DHT_STORE_ANSWER];
        uint32_t n = dht_store_get(&s, ih, 4, T0 + SH_SEC(2), &r, out, DHT_STORE_ANSWER);
        assert_int_equal(n, DHT_STORE_ANSWER);
        for (uint32_t i = 0; i < n; i++) {
            for (uint32_t j = 0; j < i; j++)
                assert_false(sh_addr_eq(&out[i], &out[j]));
            hits[out[i].ip[2] << 8 | out[i].ip[3]]++;
        }
    }
    for (uint32_t i = 0; i < DHT_STORE_PER_HASH; i++)
        assert_true(hits[i] > 0); /* mean 20 */
    /* the total limit: 500 more peers fit in other swarms, then no more */
    for (uint32_t i = 0; i < 500; i++) {
        uint8_t h[20];
        ih_of(100 + i, h);
        sh_addr p = v4(10, 3, (uint8_t)(i >> 8), (uint8_t)i, 6881);
        assert_int_equal(dht_store_add(&s, h, &p, T0), 0);
    }
    uint8_t h[20];
    ih_of(99999, h);
    assert_int_equal(dht_store_add(&s, h, &extra, T0), SH_ELIMIT);
    assert_int_equal(s.peers, 1500);
    assert_int_equal(s.used, 501);
    dht_store_free(&s);
}

/* Many swarms coming and going: the open-addressing index keeps every survivor reachable. */
static void test_store_churn(void **st)
{
    (void)st;
    dht_store s;
    dht_store_init(&s, 100000, 3);
    sh_rng r;
    sh_rng_seed(&r, 3);
    enum { N = 3000 };
    for (uint32_t i = 0; i < N; i++) {
        uint8_t ih[20];
        ih_of(i, ih);
        sh_addr p = v4(10, 4, (uint8_t)(i >> 8), (uint8_t)i, 6881);
        /* odd swarms are announced 20 minutes later, so they outlive the even ones */
        assert_int_equal(dht_store_add(&s, ih, &p, T0 + (i & 1 ? SH_SEC(1200) : 0)), 0);
    }
    assert_int_equal(s.used, N);
    dht_store_expire(&s, T0 + DHT_STORE_TTL + SH_SEC(1));
    assert_int_equal(s.used, N / 2);
    assert_int_equal(s.peers, N / 2);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t ih[20];
        ih_of(i, ih);
        sh_addr out[1];
        uint32_t n = dht_store_get(&s, ih, 4, T0 + DHT_STORE_TTL + SH_SEC(2), &r, out, 1);
        assert_int_equal(n, i & 1);
        if (n) assert_int_equal(out[0].ip[3], (uint8_t)i);
    }
    dht_store_free(&s);
}

static void test_rate_limit(void **st)
{
    (void)st;
    dht_limiter l;
    assert_int_equal(dht_limit_init(&l, 50, 11), 0);
    sh_addr a = v4(10, 0, 0, 1, 1), a_other_port = v4(10, 0, 0, 1, 2), b = v4(10, 0, 0, 2, 1);
    int ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += dht_limit_allow(&l, i & 1 ? &a : &a_other_port, T0);
    assert_int_equal(ok, 50); /* the burst, shared by every port of the IP */
    assert_true(dht_limit_allow(&l, &b, T0));
    assert_false(dht_limit_allow(&l, &a, T0 + SH_MS(19)));
    assert_true(dht_limit_allow(&l, &a, T0 + SH_MS(20))); /* one every 1/50 s */
    assert_false(dht_limit_allow(&l, &a, T0 + SH_MS(21)));
    /* over one second of flooding: the burst plus one per 20 ms */
    ok = 0;
    for (int i = 0; i < 10000; i++)
        ok += dht_limit_allow(&l, &a, T0 + SH_SEC(10) + SH_US(i * 100));
    assert_true(ok >= 95 && ok <= 101);
    /* thousands of other sources in between do not make the flooder forgotten */
    ok = 0;
    for (int i = 0; i < 5000; i++) {
        sh_addr x = v4(10, 5, (uint8_t)(i >> 8), (uint8_t)i, 1);
        assert_true(dht_limit_allow(&l, &x, T0 + SH_SEC(30) + SH_US(i * 200)));
        ok += dht_limit_allow(&l, &a, T0 + SH_SEC(30) + SH_US(i * 200));
    }
    assert_true(ok >= 95 && ok <= 101);
    assert_true(l.sets > 4);
    dht_limit_free(&l);
}

static void test_transactions(void **st)
{
    (void)st;
    dht_txs t;
    dht_tx_init(&t);
    sh_rng r;
    sh_rng_seed(&r, 5);
    sh_addr a = v4(10, 0, 0, 1, 1), b = v4(10, 0, 0, 2, 1);
    uint8_t t1[4], t2[4], t3[4];
    assert_int_equal(dht_tx_open(&t, &r, DHT_TX_PING, &a, 1, T0 + 10, t1), 0);
    assert_int_equal(dht_tx_open(&t, &r, DHT_TX_SEARCH, &b, 2, T0 + 20, t2), 0);
    assert_int_equal(dht_tx_open(&t, &r, DHT_TX_ANNOUNCE, &a, 3, T0 + 15, t3), 0);
    assert_int_equal(dht_tx_next_deadline(&t), T0 + 10);
    dht_tx x;
    assert_false(dht_tx_close(&t, t2, 4, &a, &x)); /* from the wrong address */
    assert_false(dht_tx_close(&t, t2, 3, &b, &x));
    uint8_t forged[4];
    memcpy(forged, t2, 4);
    forged[3] ^= 0x40;
    assert_false(dht_tx_close(&t, forged, 4, &b, &x));
    uint8_t wild[4] = {0xFF, 0xFF, 1, 1};
    assert_false(dht_tx_close(&t, wild, 4, &b, &x));
    assert_true(dht_tx_close(&t, t2, 4, &b, &x));
    assert_int_equal(x.kind, DHT_TX_SEARCH);
    assert_int_equal(x.ref, 2);
    assert_false(dht_tx_close(&t, t2, 4, &b, &x)); /* only once */
    /* expiry in deadline order, even though t3 was opened after t1 with a later deadline */
    assert_false(dht_tx_expire(&t, T0 + 9, &x));
    assert_true(dht_tx_expire(&t, T0 + 100, &x));
    assert_int_equal(x.ref, 1);
    assert_true(dht_tx_expire(&t, T0 + 100, &x));
    assert_int_equal(x.ref, 3);
    assert_false(dht_tx_expire(&t, T0 + 100, &x));
    assert_int_equal(dht_tx_next_deadline(&t), SH_TIME_NEVER);
    /* fill up: every outstanding id is distinct, the limit holds, slots are reused */
    static uint8_t ids[DHT_MAX_TX][4];
    for (int i = 0; i < DHT_MAX_TX; i++)
        assert_int_equal(dht_tx_open(&t, &r, DHT_TX_PING, &a, (uint64_t)i, T0 + (sh_time)i, ids[i]),
                         0);
    uint8_t more[4];
    assert_int_equal(dht_tx_open(&t, &r, DHT_TX_PING, &a, 0, T0, more), SH_ELIMIT);
    for (int i = 0; i < DHT_MAX_TX; i += 97)
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(ids[i], ids[j], 4);
    assert_true(dht_tx_close(&t, ids[1234], 4, &a, &x));
    assert_int_equal(x.ref, 1234);
    assert_int_equal(dht_tx_open(&t, &r, DHT_TX_PING, &b, 77, T0 + 5000, more), 0);
    assert_int_equal(t.count, DHT_MAX_TX);
    dht_tx_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_store_basics),
        cmocka_unit_test(test_store_limits_and_sampling),
        cmocka_unit_test(test_store_churn),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_transactions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
