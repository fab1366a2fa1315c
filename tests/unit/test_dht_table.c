/* test_dht_table.c — the DHT routing table: splitting, capacity, node states, replacement,
 * and no address restrictions beyond exact (IP, port) duplicates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dht_int.h"

#define T0 SH_SEC(1000)

static uint8_t SELF[20];

static void flip(uint8_t id[20], unsigned bit)
{
    id[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
}

/* An id sharing exactly p leading bits with SELF; the bits after p come from r. */
static void id_at(unsigned p, sh_rng *r, uint8_t out[20])
{
    uint8_t rnd[20];
    for (int i = 0; i < 20; i++)
        rnd[i] = (uint8_t)sh_rng_next(r);
    memcpy(out, SELF, 20);
    flip(out, p);
    for (unsigned b = p + 1; b < 160; b++)
        if ((rnd[b / 8] >> (7 - b % 8) & 1) != (out[b / 8] >> (7 - b % 8) & 1)) flip(out, b);
}

static sh_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    sh_addr x = {.family = 4, .ip = {a, b, c, d}, .port = port};
    return x;
}

static uint32_t total(const dht_table *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nb; i++)
        n += t->b[i].count;
    return n;
}

/* Every node sits in the bucket its shared prefix with SELF names. */
static void check_invariants(const dht_table *t)
{
    assert_true(t->nb >= 1 && t->nb <= 160);
    for (uint32_t i = 0; i < t->nb; i++) {
        assert_true(t->b[i].count <= DHT_K);
        for (int j = 0; j < t->b[i].count; j++) {
            unsigned p = dht_id_prefix(t->self, t->b[i].n[j].id);
            if (i < t->nb - 1)
                assert_int_equal(p, i);
            else
                assert_true(p >= i);
        }
    }
}

static int setup(void **st)
{
    (void)st;
    for (int i = 0; i < 20; i++)
        SELF[i] = (uint8_t)(0x5A ^ (i * 29));
    return 0;
}

static void test_id_math(void **st)
{
    (void)st;
    uint8_t a[20] = {0}, b[20] = {0}, t[20] = {0};
    assert_int_equal(dht_id_prefix(a, b), 160);
    b[0] = 0x80;
    assert_int_equal(dht_id_prefix(a, b), 0);
    b[0] = 0;
    b[19] = 1;
    assert_int_equal(dht_id_prefix(a, b), 159);
    b[19] = 0;
    b[2] = 0x10;
    assert_int_equal(dht_id_prefix(a, b), 19);
    /* closeness to t = 0: a = 0 is closest; b (bit 19) is closer than c (bit 3) */
    uint8_t c[20] = {0x10};
    assert_true(dht_id_closer(a, b, t) < 0);
    assert_true(dht_id_closer(b, c, t) < 0);
    assert_true(dht_id_closer(c, b, t) > 0);
    assert_int_equal(dht_id_closer(b, b, t), 0);
    sh_rng r;
    sh_rng_seed(&r, 7);
    for (unsigned bits = 0; bits <= 160; bits += 7) {
        uint8_t out[20];
        dht_id_random(SELF, bits, true, &r, out);
        assert_int_equal(dht_id_prefix(SELF, out), bits > 160 ? 160 : bits);
        dht_id_random(SELF, bits, false, &r, out);
        assert_true(dht_id_prefix(SELF, out) >= bits);
    }
}

static void test_split_only_around_self(void **st)
{
    (void)st;
    dht_table t;
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    sh_rng r;
    sh_rng_seed(&r, 1);
    uint8_t id[20];
    /* 8 far nodes (first bit differs) fill the single bucket without splitting it */
    for (int i = 0; i < 8; i++) {
        id_at(0, &r, id);
        sh_addr a = v4(10, 0, 0, (uint8_t)i, 6881);
        assert_int_equal(dht_table_add(&t, id, &a, DHT_REPLIED, T0, NULL), DHT_ADD_NEW);
    }
    assert_int_equal(t.nb, 1);
    /* the 9th far node splits the bucket (it holds our id) — but all 8 stay in the far half,
     * which never splits again: a hundred more far nodes leave 2 buckets and 8 nodes */
    for (int i = 0; i < 100; i++) {
        id_at(0, &r, id);
        sh_addr a = v4(10, 0, 1, (uint8_t)i, 6881);
        assert_int_equal(dht_table_add(&t, id, &a, DHT_REPLIED, T0, NULL), DHT_ADD_DROPPED);
    }
    assert_int_equal(t.nb, 2);
    assert_int_equal(t.b[0].count, 8);
    assert_int_equal(t.b[1].count, 0);
    /* near nodes (sharing 5 bits) go to the last bucket, which splits down to them */
    for (int i = 0; i < 8; i++) {
        id_at(5, &r, id);
        sh_addr a = v4(10, 0, 2, (uint8_t)i, 6881);
        assert_int_equal(dht_table_add(&t, id, &a, DHT_REPLIED, T0, NULL), DHT_ADD_NEW);
    }
    assert_int_equal(t.nb, 2); /* 8 fit in the last bucket: no split yet */
    id_at(5, &r, id);
    sh_addr a = v4(10, 0, 2, 99, 6881);
    assert_int_equal(dht_table_add(&t, id, &a, DHT_REPLIED, T0, NULL), DHT_ADD_DROPPED);
    /* splitting went on until the 8 sharing exactly 5 bits were alone in bucket 5: buckets
     * 1..4 exist (empty), 5 is full, 6 is the new last one */
    assert_int_equal(t.nb, 7);
    assert_int_equal(t.b[5].count, 8);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(t.b[i].count, 0);
    assert_int_equal(dht_table_bucket_of(&t, id), 5);
    uint8_t deep[20];
    id_at(40, &r, deep);
    assert_int_equal(dht_table_bucket_of(&t, deep), 6);
    check_invariants(&t);
    /* our own id is never added */
    assert_int_equal(dht_table_add(&t, SELF, &a, DHT_REPLIED, T0, NULL), DHT_ADD_DROPPED);
    dht_table_free(&t);
}

/* A table whose far bucket (0) holds 8 nodes; returns their addresses. */
static void fill_far(dht_table *t, sh_rng *r, dht_seen how, sh_time now, sh_addr addrs[8],
                     uint8_t ids[8][20])
{
    assert_int_equal(dht_table_init(t, SELF, now), 0);
    for (int i = 0; i < 8; i++) {
        id_at(0, r, ids[i]);
        addrs[i] = v4(127, 0, 0, 1, (uint16_t)(7000 + i));
        assert_int_equal(dht_table_add(t, ids[i], &addrs[i], how, now, NULL), DHT_ADD_NEW);
    }
    /* force the split, so bucket 0 is a far bucket that never splits */
    uint8_t id[20];
    id_at(0, r, id);
    sh_addr a = v4(127, 0, 0, 2, 1);
    dht_node ping;
    dht_table_add(t, id, &a, DHT_REPLIED, now, &ping);
    assert_int_equal(t->nb, 2);
}

static void test_good_bucket_drops_newcomers(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 2);
    dht_table t;
    sh_addr addrs[8];
    uint8_t ids[8][20], id[20];
    fill_far(&t, &r, DHT_REPLIED, T0, addrs, ids);
    for (int i = 0; i < 50; i++) {
        id_at(0, &r, id);
        sh_addr a = v4(127, 0, 0, 3, (uint16_t)(100 + i));
        dht_node ping;
        assert_int_equal(dht_table_add(&t, id, &a, DHT_REPLIED, T0 + SH_SEC(i), &ping),
                         DHT_ADD_DROPPED);
    }
    assert_int_equal(t.b[0].count, 8);
    for (int i = 0; i < 8; i++)
        assert_memory_equal(t.b[0].n[i].id, ids[i], 20);
    uint32_t good, other;
    dht_table_counts(&t, T0, &good, &other);
    assert_int_equal(good, 8);
    assert_int_equal(other, 0);
    /* 15 minutes later they are questionable */
    dht_table_counts(&t, T0 + DHT_GOOD_TIME, &good, &other);
    assert_int_equal(good, 0);
    assert_int_equal(other, 8);
    /* a node that answered once and keeps querying us stays good */
    dht_table_add(&t, ids[3], &addrs[3], DHT_QUERIED, T0 + DHT_GOOD_TIME - 1, NULL);
    dht_table_counts(&t, T0 + DHT_GOOD_TIME + SH_SEC(60), &good, &other);
    assert_int_equal(good, 1);
    dht_table_free(&t);
}

static void test_bad_node_replaced(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 3);
    dht_table t;
    sh_addr addrs[8];
    uint8_t ids[8][20], id[20];
    fill_far(&t, &r, DHT_REPLIED, T0, addrs, ids);
    /* two failures: questionable, not bad; a good-bucket-with-questionable asks for a ping */
    dht_table_failed(&t, &addrs[4], T0);
    dht_table_failed(&t, &addrs[4], T0);
    assert_false(dht_node_bad(dht_table_find(&t, &addrs[4])));
    assert_false(dht_node_good(dht_table_find(&t, &addrs[4]), T0));
    dht_table_failed(&t, &addrs[4], T0);
    assert_true(dht_node_bad(dht_table_find(&t, &addrs[4])));
    /* a newcomer takes the bad node's place at once */
    id_at(0, &r, id);
    sh_addr a = v4(127, 0, 0, 9, 9);
    assert_int_equal(dht_table_add(&t, id, &a, DHT_HEARD, T0, NULL), DHT_ADD_NEW);
    assert_null(dht_table_find(&t, &addrs[4]));
    assert_non_null(dht_table_find(&t, &a));
    assert_int_equal(t.b[0].count, 8);
    /* an answer resets the failure count */
    dht_table_failed(&t, &addrs[1], T0);
    dht_table_add(&t, ids[1], &addrs[1], DHT_REPLIED, T0 + 1, NULL);
    assert_int_equal(dht_table_find(&t, &addrs[1])->fails, 0);
    assert_true(dht_node_good(dht_table_find(&t, &addrs[1]), T0 + 1));
    dht_table_free(&t);
}

static void test_questionable_pinged_then_replaced(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 4);
    dht_table t;
    sh_addr addrs[8];
    uint8_t ids[8][20], id[20], id2[20];
    fill_far(&t, &r, DHT_REPLIED, T0, addrs, ids);
    sh_time later = T0 + DHT_GOOD_TIME + SH_SEC(1);
    /* refresh all but node 6, so node 6 is the least recently seen questionable node */
    for (int i = 0; i < 8; i++)
        if (i != 6) dht_table_add(&t, ids[i], &addrs[i], DHT_REPLIED, later - SH_SEC(30) + i, NULL);
    /* make 2 others questionable too, but more recently seen than 6 */
    dht_table_failed(&t, &addrs[0], later);
    dht_table_failed(&t, &addrs[1], later);
    id_at(0, &r, id);
    sh_addr a = v4(127, 0, 0, 10, 10);
    dht_node ping;
    memset(&ping, 0, sizeof ping);
    assert_int_equal(dht_table_add(&t, id, &a, DHT_QUERIED, later, &ping), DHT_ADD_PING);
    assert_true(sh_addr_eq(&ping.addr, &addrs[6]));
    assert_memory_equal(ping.id, ids[6], 20);
    assert_null(dht_table_find(&t, &a)); /* only a candidate so far */
    /* while the ping is out, another newcomer is turned away (it becomes the candidate) */
    id_at(0, &r, id2);
    sh_addr a2 = v4(127, 0, 0, 11, 11);
    assert_int_equal(dht_table_add(&t, id2, &a2, DHT_QUERIED, later, &ping), DHT_ADD_DROPPED);
    /* the ping fails: the latest candidate takes node 6's place */
    dht_table_failed(&t, &addrs[6], later + DHT_QUERY_TIMEOUT);
    assert_null(dht_table_find(&t, &addrs[6]));
    assert_non_null(dht_table_find(&t, &a2));
    assert_null(dht_table_find(&t, &a));
    assert_int_equal(t.b[0].count, 8);
    check_invariants(&t);

    /* the other way round: the pinged node answers and keeps its place */
    id_at(0, &r, id);
    sh_addr a3 = v4(127, 0, 0, 12, 12);
    assert_int_equal(dht_table_add(&t, id, &a3, DHT_HEARD, later + SH_SEC(10), &ping),
                     DHT_ADD_PING);
    sh_addr victim = ping.addr;
    dht_table_add(&t, ping.id, &victim, DHT_REPLIED, later + SH_SEC(11), NULL);
    assert_non_null(dht_table_find(&t, &victim));
    assert_null(dht_table_find(&t, &a3));
    /* a mere mention does not displace a verified candidate */
    dht_table_free(&t);
}

static void test_id_at_new_address(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 5);
    dht_table t;
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    uint8_t id[20];
    id_at(3, &r, id);
    sh_addr old = v4(10, 1, 1, 1, 6881), moved = v4(10, 1, 1, 2, 6881);
    assert_int_equal(dht_table_add(&t, id, &old, DHT_REPLIED, T0, NULL), DHT_ADD_NEW);
    /* the same id from elsewhere: the old address is pinged, not replaced */
    dht_node ping;
    assert_int_equal(dht_table_add(&t, id, &moved, DHT_REPLIED, T0 + 1, &ping), DHT_ADD_PING);
    assert_true(sh_addr_eq(&ping.addr, &old));
    assert_non_null(dht_table_find(&t, &old));
    assert_null(dht_table_find(&t, &moved));
    dht_table_failed(&t, &old, T0 + DHT_QUERY_TIMEOUT);
    assert_null(dht_table_find(&t, &old));
    dht_node *n = dht_table_find(&t, &moved);
    assert_non_null(n);
    assert_memory_equal(n->id, id, 20);
    assert_int_equal(total(&t), 1);

    /* an address already known under another id: a mention or a query changes nothing,
     * an answer from that very address does (the node restarted with a new id) */
    uint8_t id2[20];
    id_at(3, &r, id2);
    assert_int_equal(dht_table_add(&t, id2, &moved, DHT_HEARD, T0 + 5, NULL), DHT_ADD_DROPPED);
    assert_int_equal(dht_table_add(&t, id2, &moved, DHT_QUERIED, T0 + 5, NULL), DHT_ADD_DROPPED);
    assert_memory_equal(dht_table_find(&t, &moved)->id, id, 20);
    assert_int_equal(dht_table_add(&t, id2, &moved, DHT_REPLIED, T0 + 6, NULL), DHT_ADD_NEW);
    assert_memory_equal(dht_table_find(&t, &moved)->id, id2, 20);
    assert_int_equal(total(&t), 1);
    /* the exact same (id, address) merges */
    assert_int_equal(dht_table_add(&t, id2, &moved, DHT_HEARD, T0 + 7, NULL), DHT_ADD_UPDATED);
    assert_int_equal(total(&t), 1);
    /* bad addresses are refused */
    sh_addr zero_port = v4(10, 1, 1, 3, 0), nofam = {0};
    assert_int_equal(dht_table_add(&t, id, &zero_port, DHT_HEARD, T0, NULL), DHT_ADD_DROPPED);
    assert_int_equal(dht_table_add(&t, id, &nofam, DHT_HEARD, T0, NULL), DHT_ADD_DROPPED);
    dht_table_free(&t);
}

/* Up to 8 ids in every bucket p (fewer where the id space is smaller), all on one /24. */
static uint32_t fill_all_buckets(dht_table *t, uint8_t net0, uint8_t net1, sh_rng *r)
{
    enum { MAXN = 160 * 8 };
    static uint8_t ids[MAXN][20];
    uint32_t n = 0;
    for (unsigned p = 0; p < 160; p++) {
        unsigned room = p <= 156 ? 8 : 1u << (159 - p);
        for (unsigned j = 0; j < room; j++) {
            memcpy(ids[n], SELF, 20);
            flip(ids[n], p);
            for (unsigned b = 0; b < 3; b++) /* vary the last 3 bits: distinct ids */
                if (j >> b & 1) flip(ids[n], 159 - b);
            if (p > 156) { /* there, only the bits after p may vary */
                memcpy(ids[n], SELF, 20);
                flip(ids[n], p);
                for (unsigned b = 0; b < 159 - p; b++)
                    if (j >> b & 1) flip(ids[n], 159 - b);
            }
            n++;
        }
    }
    /* insert in a random order */
    for (uint32_t i = n; i > 1; i--) {
        uint32_t k = (uint32_t)sh_rng_below(r, i);
        uint8_t tmp[20];
        memcpy(tmp, ids[i - 1], 20);
        memcpy(ids[i - 1], ids[k], 20);
        memcpy(ids[k], tmp, 20);
    }
    uint32_t added = 0;
    for (uint32_t i = 0; i < n; i++) {
        sh_addr a = v4(net0, net1, 0, (uint8_t)(i % 256), (uint16_t)(1024 + i / 256));
        if (dht_table_add(t, ids[i], &a, DHT_REPLIED, T0, NULL) == DHT_ADD_NEW) added++;
    }
    return added;
}

static void test_no_ip_restrictions(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 6);
    /* 157 buckets of 8 plus 4 + 2 + 1 in the last three: 1263 nodes, one /24 each table */
    dht_table t;
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    assert_int_equal(fill_all_buckets(&t, 127, 0, &r), 1263);
    assert_int_equal(total(&t), 1263);
    /* the 4 + 2 + 1 nodes sharing >= 157 bits fit in one last bucket: no need to split it */
    assert_int_equal(t.nb, 158);
    assert_int_equal(t.b[157].count, 7);
    check_invariants(&t);
    dht_table_free(&t);
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    assert_int_equal(fill_all_buckets(&t, 10, 0, &r), 1263);
    check_invariants(&t);
    uint32_t good, other;
    dht_table_counts(&t, T0, &good, &other);
    assert_int_equal(good, 1263);
    dht_table_free(&t);

    /* eight nodes on one IP, different ports: one full bucket */
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    for (int i = 0; i < 8; i++) {
        uint8_t id[20];
        id_at(0, &r, id);
        sh_addr a = v4(127, 0, 0, 1, (uint16_t)(6881 + i));
        assert_int_equal(dht_table_add(&t, id, &a, DHT_REPLIED, T0, NULL), DHT_ADD_NEW);
    }
    assert_int_equal(total(&t), 8);
    dht_table_free(&t);
}

/* Random ids: the table holds exactly the same nodes whether they share a /24 or not. */
static void test_ip_does_not_matter(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 8);
    enum { N = 4000 };
    static uint8_t ids[N][20];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 20; k++)
            ids[i][k] = (uint8_t)sh_rng_next(&r);
    dht_table same, spread;
    assert_int_equal(dht_table_init(&same, SELF, T0), 0);
    assert_int_equal(dht_table_init(&spread, SELF, T0), 0);
    uint32_t new_same = 0, new_spread = 0;
    for (int i = 0; i < N; i++) {
        sh_addr a = v4(127, 0, 0, (uint8_t)(i & 255), (uint16_t)(2000 + i));
        sh_addr b = v4((uint8_t)(1 + i % 200), (uint8_t)(i >> 8), (uint8_t)i, 7, 6881);
        new_same += dht_table_add(&same, ids[i], &a, DHT_REPLIED, T0, NULL) == DHT_ADD_NEW;
        new_spread += dht_table_add(&spread, ids[i], &b, DHT_REPLIED, T0, NULL) == DHT_ADD_NEW;
    }
    assert_int_equal(new_same, new_spread);
    assert_int_equal(same.nb, spread.nb);
    for (uint32_t i = 0; i < same.nb; i++) {
        assert_int_equal(same.b[i].count, spread.b[i].count);
        for (int j = 0; j < same.b[i].count; j++)
            assert_memory_equal(same.b[i].n[j].id, spread.b[i].n[j].id, 20);
    }
    /* and it is a sensible Kademlia table: ~8 per bucket, log2(4000/8) ~ 9 buckets */
    assert_true(same.nb >= 8 && same.nb <= 14);
    assert_true(total(&same) >= 8 * (same.nb - 2));
    check_invariants(&same);
    dht_table_free(&same);
    dht_table_free(&spread);
}

static void test_closest(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 9);
    dht_table t;
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    enum { N = 600 };
    static uint8_t ids[N][20];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 20; k++)
            ids[i][k] = (uint8_t)sh_rng_next(&r);
        sh_addr a = v4(10, 9, (uint8_t)(i >> 8), (uint8_t)i, 6881);
        dht_table_add(&t, ids[i], &a, i % 3 ? DHT_REPLIED : DHT_HEARD, T0, NULL);
    }
    uint8_t target[20];
    for (int k = 0; k < 20; k++)
        target[k] = (uint8_t)sh_rng_next(&r);
    /* brute force over the table's good nodes */
    dht_node best[DHT_SEARCH_NODES];
    uint32_t n = dht_table_closest(&t, target, DHT_PICK_GOOD, NULL, T0, best, 8);
    assert_int_equal(n, 8);
    for (uint32_t i = 1; i < n; i++)
        assert_true(dht_id_closer(best[i - 1].id, best[i].id, target) < 0);
    for (uint32_t i = 0; i < t.nb; i++) {
        for (int j = 0; j < t.b[i].count; j++) {
            const dht_node *x = &t.b[i].n[j];
            if (!dht_node_good(x, T0)) continue;
            bool in = false;
            for (uint32_t k = 0; k < n; k++)
                in |= memcmp(best[k].id, x->id, 20) == 0;
            if (!in) assert_true(dht_id_closer(x->id, best[n - 1].id, target) > 0);
        }
    }
    for (uint32_t k = 0; k < n; k++)
        assert_true(best[k].replied);
    /* "except" leaves one address out */
    dht_node again[8];
    uint32_t m = dht_table_closest(&t, target, DHT_PICK_GOOD, &best[0].addr, T0, again, 8);
    assert_int_equal(m, 8);
    assert_memory_equal(again[0].id, best[1].id, 20);
    /* ANY includes unverified nodes; ANSWER does not (they never replied nor queried) */
    dht_node any[32], ans[32];
    uint32_t na = dht_table_closest(&t, target, DHT_PICK_ANY, NULL, T0, any, 32);
    uint32_t nn = dht_table_closest(&t, target, DHT_PICK_ANSWER, NULL, T0, ans, 32);
    assert_true(na >= nn);
    for (uint32_t k = 0; k < nn; k++)
        assert_true(ans[k].replied || ans[k].queried);
    dht_table_free(&t);
}

static void test_rekey(void **st)
{
    (void)st;
    sh_rng r;
    sh_rng_seed(&r, 10);
    dht_table t;
    assert_int_equal(dht_table_init(&t, SELF, T0), 0);
    for (int i = 0; i < 300; i++) {
        uint8_t id[20];
        for (int k = 0; k < 20; k++)
            id[k] = (uint8_t)sh_rng_next(&r);
        sh_addr a = v4(10, 9, (uint8_t)(i >> 8), (uint8_t)i, 6881);
        dht_table_add(&t, id, &a, DHT_REPLIED, T0, NULL);
    }
    uint32_t before = total(&t);
    uint8_t other[20];
    memcpy(other, SELF, 20);
    other[0] ^= 0x80;
    assert_int_equal(dht_table_rekey(&t, other, T0), 0);
    assert_memory_equal(t.self, other, 20);
    check_invariants(&t);
    assert_true(total(&t) > 0 && total(&t) <= before);
    dht_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_id_math, setup),
        cmocka_unit_test_setup(test_split_only_around_self, setup),
        cmocka_unit_test_setup(test_good_bucket_drops_newcomers, setup),
        cmocka_unit_test_setup(test_bad_node_replaced, setup),
        cmocka_unit_test_setup(test_questionable_pinged_then_replaced, setup),
        cmocka_unit_test_setup(test_id_at_new_address, setup),
        cmocka_unit_test_setup(test_no_ip_restrictions, setup),
        cmocka_unit_test_setup(test_ip_does_not_matter, setup),
        cmocka_unit_test_setup(test_closest, setup),
        cmocka_unit_test_setup(test_rekey, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
