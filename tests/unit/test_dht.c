/*
 * test_dht.c — many DHT nodes on an in-memory network (dht_net_harness.c):
 * bootstrapping through one node, announcing and finding each other from
 * every node, with loss and with dead nodes; replaying a run from its seed;
 * persistence of a node's place. SHOAL_DHT_BIG=N also runs an N-node network
 * and prints timings. (One node datagram by datagram: test_dht_node.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shoal/dht.h>
#include <shoal/krpc.h>
#include <shoal/rng.h>

#include "dht_net_harness.h"

#define T0 SH_SEC(100)
#define ANNOUNCE_PORT 7000

typedef struct watch {
    uint32_t n;
    uint64_t *sid;
    bool *found, *done;
    uint32_t *hops, *queried;
    sh_addr want;
} watch;

static void watch_init(watch *w, uint32_t n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->sid = calloc(n, sizeof *w->sid);
    w->found = calloc(n, sizeof *w->found);
    w->done = calloc(n, sizeof *w->done);
    w->hops = calloc(n, sizeof *w->hops);
    w->queried = calloc(n, sizeof *w->queried);
    assert_true(w->sid && w->found && w->done && w->hops && w->queried);
}

static void watch_free(watch *w)
{
    free(w->sid);
    free(w->found);
    free(w->done);
    free(w->hops);
    free(w->queried);
}

static void on_event(void *ud, uint32_t node, const sh_dht_action *a, sh_time now)
{
    (void)now;
    watch *w = ud;
    if (node >= w->n || a->search != w->sid[node]) return;
    if (a->type == SH_DHT_PEERS) {
        for (uint32_t i = 0; i < a->num_peers; i++)
            if (sh_addr_eq(&a->peers[i], &w->want)) w->found[node] = true;
    } else if (a->type == SH_DHT_SEARCH_DONE) {
        assert_false(w->done[node]); /* exactly one end per search */
        w->done[node] = true;
        w->hops[node] = a->hops;
        w->queried[node] = a->nodes;
    }
}

/* n nodes, all bootstrapping through node 0, 20 ms apart, then two minutes of settling. */
static dht_net *build(uint32_t n, double loss, uint64_t seed, watch *w)
{
    dht_net_cfg cfg = {
        .nodes = n, .seed = seed, .latency = SH_MS(10), .jitter = SH_MS(10), .loss = loss};
    dht_net *net = dht_net_new(&cfg, T0);
    assert_non_null(net);
    dht_net_on_event(net, on_event, w);
    for (uint32_t i = 1; i < n; i++) {
        dht_net_run(net, dht_net_now(net) + SH_MS(20));
        dht_net_bootstrap(net, i, 0);
    }
    dht_net_run(net, dht_net_now(net) + SH_SEC(120));
    return net;
}

static bool all_done(const watch *w, uint32_t skip, uint32_t searchers)
{
    for (uint32_t i = 0; i < searchers; i++)
        if (i != skip && !w->done[i]) return false;
    return true;
}

static void run_until_done(dht_net *net, watch *w, uint32_t skip, uint32_t searchers, sh_time limit)
{
    sh_time end = dht_net_now(net) + limit;
    while (!all_done(w, skip, searchers) && dht_net_now(net) < end)
        dht_net_run(net, dht_net_now(net) + SH_MS(100));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct outcome {
    uint32_t searches, found, storers;
    uint32_t hops_min, hops_med, hops_max, queried_med;
} outcome;

/* Node `who` announces ih; then every other node looks it up. */
static outcome announce_and_find_all(dht_net *net, watch *w, uint32_t who, uint32_t searchers,
                                     const char *label)
{
    uint8_t ih[20];
    sh_rng r;
    sh_rng_seed(&r, who);
    for (int i = 0; i < 20; i++)
        ih[i] = (uint8_t)sh_rng_next(&r);
    w->want = dht_net_addr(who);
    w->want.port = ANNOUNCE_PORT;
    dht_net_search(net, who, ih, ANNOUNCE_PORT, &w->sid[who]);
    assert_true(w->sid[who] > 0);
    sh_time end = dht_net_now(net) + SH_SEC(30);
    while (!w->done[who] && dht_net_now(net) < end)
        dht_net_run(net, dht_net_now(net) + SH_MS(50));
    assert_true(w->done[who]);
    dht_net_run(net, dht_net_now(net) + SH_SEC(5)); /* the announces land */

    outcome o = {0};
    for (uint32_t i = 0; i < w->n; i++) {
        sh_dht_stats st;
        sh_dht_stats_get(dht_net_node(net, i), &st);
        if (st.stored_peers) o.storers++;
    }
    for (uint32_t i = 0; i < searchers; i++) {
        if (i == who) continue;
        dht_net_search(net, i, ih, 0, &w->sid[i]);
        assert_true(w->sid[i] > 0);
    }
    run_until_done(net, w, who, searchers, SH_SEC(120));
    uint32_t *hops = calloc(w->n, sizeof *hops), *q = calloc(w->n, sizeof *q);
    assert_true(hops && q);
    for (uint32_t i = 0; i < searchers; i++) {
        if (i == who) continue;
        assert_true(w->done[i]);
        hops[o.searches] = w->hops[i];
        q[o.searches] = w->queried[i];
        o.searches++;
        o.found += w->found[i];
    }
    qsort(hops, o.searches, sizeof *hops, cmp_u32);
    qsort(q, o.searches, sizeof *q, cmp_u32);
    o.hops_min = hops[0];
    o.hops_med = hops[o.searches / 2];
    o.hops_max = hops[o.searches - 1];
    o.queried_med = q[o.searches / 2];
    free(hops);
    free(q);
    dht_net_stats ns;
    dht_net_stats_get(net, &ns);
    printf("# %s: %u/%u lookups found the peer; %u nodes store it; hops min/median/max "
           "%u/%u/%u; nodes queried median %u; datagrams %llu (%llu lost)\n",
           label, o.found, o.searches, o.storers, o.hops_min, o.hops_med, o.hops_max, o.queried_med,
           (unsigned long long)ns.sent, (unsigned long long)ns.lost);
    return o;
}

static void check_tables(dht_net *net, uint32_t n, uint32_t min_good)
{
    uint32_t below = 0;
    for (uint32_t i = 0; i < n; i++) {
        sh_dht_stats st;
        sh_dht_stats_get(dht_net_node(net, i), &st);
        if (st.good < min_good) below++;
    }
    assert_int_equal(below, 0);
}

static void test_200_nodes(void **st)
{
    (void)st;
    watch w;
    watch_init(&w, 200);
    dht_net *net = build(200, 0.0, 11, &w);
    check_tables(net, 200, 8);
    outcome o = announce_and_find_all(net, &w, 123, 200, "200 nodes, no loss");
    assert_int_equal(o.found, 199);
    assert_true(o.storers >= 6 && o.storers <= 10);
    assert_true(o.hops_med <= 5);
    assert_true(o.hops_min >= 1);
    dht_net_free(net);
    watch_free(&w);
}

static void test_200_nodes_lossy(void **st)
{
    (void)st;
    watch w;
    watch_init(&w, 200);
    dht_net *net = build(200, 0.10, 12, &w);
    check_tables(net, 200, 8);
    outcome o = announce_and_find_all(net, &w, 45, 200, "200 nodes, 10% loss");
    assert_int_equal(o.found, 199);
    assert_true(o.hops_med <= 5);
    dht_net_free(net);
    watch_free(&w);
}

/* The same seed replays the same run, datagram for datagram. */
static uint64_t small_run(uint64_t seed, dht_net_stats *ns)
{
    watch w;
    watch_init(&w, 40);
    dht_net *net = build(40, 0.05, seed, &w);
    announce_and_find_all(net, &w, 7, 40, "40 nodes, 5% loss");
    uint64_t dg = dht_net_digest(net);
    dht_net_stats_get(net, ns);
    dht_net_free(net);
    watch_free(&w);
    return dg;
}

static void test_determinism(void **st)
{
    (void)st;
    dht_net_stats a, b, c;
    uint64_t d1 = small_run(5, &a), d2 = small_run(5, &b), d3 = small_run(6, &c);
    assert_true(d1 == d2);
    assert_int_equal(a.sent, b.sent);
    assert_int_equal(a.lost, b.lost);
    assert_true(d1 != d3);
}

/* Nodes that go away: lookups route around them. */
static void test_churn(void **st)
{
    (void)st;
    watch w;
    watch_init(&w, 150);
    dht_net *net = build(150, 0.0, 13, &w);
    for (uint32_t i = 100; i < 150; i++)
        dht_net_kill(net, i);
    outcome o = announce_and_find_all(net, &w, 3, 100, "150 nodes, a third of them dead");
    assert_int_equal(o.searches, 99);
    assert_int_equal(o.found, 99);
    dht_net_free(net);
    watch_free(&w);
}

/* The saved state's compact node entries, into nodes[] (at most max). */
static uint32_t saved_nodes(const sh_bbuf *b, sh_addr *nodes, uint32_t max)
{
    sh_bdoc *doc = NULL;
    assert_int_equal(sh_bencode_parse(b->data, b->len, NULL, &doc, NULL), 0);
    const sh_bnode *list = sh_bdict_get_type(sh_bdoc_root(doc), "nodes", SH_BSTR);
    assert_non_null(list);
    uint32_t n = 0;
    uint8_t id[20];
    while (n < max && sh_krpc_node_at(list->v.s, 4, n, id, &nodes[n]) == 0)
        n++;
    sh_bdoc_free(doc);
    return n;
}

static void test_save_load(void **st)
{
    (void)st;
    watch w;
    watch_init(&w, 30);
    dht_net *net = build(30, 0.0, 14, &w);
    sh_dht *src = dht_net_node(net, 9);
    sh_dht_stats ss;
    sh_dht_stats_get(src, &ss);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_dht_save(src, &b);
    assert_int_equal(b.err, 0);
    sh_addr saved[64];
    uint32_t nsaved = saved_nodes(&b, saved, 64);
    assert_int_equal(nsaved, ss.good); /* all answered lately */

    sh_dht_config c;
    memset(&c, 0, sizeof c);
    memset(c.node_id, 0x99, 20);
    c.family = 4;
    c.seed = 99;
    sh_dht *fresh = NULL;
    assert_int_equal(sh_dht_new(&c, T0, &fresh), 0);
    sh_errinfo ei = {{0}, 0};
    /* hostile states first: nothing changes */
    const char *bad[] = {"d2:id3:abce", "d2:id20:abcdefghij01234567895:nodes5:abcdee", "le",
                         "d2:id20:abcdefghij0123456789", "d2:id20:abcdefghij01234567895:nodesi1ee"};
    int want[] = {SH_EKRPC, SH_EKRPC, SH_EKRPC, SH_EBENCODE, SH_EKRPC};
    for (int i = 0; i < 5; i++) {
        int rc = sh_dht_load(fresh, (const uint8_t *)bad[i], strlen(bad[i]), T0, &ei);
        if (rc != want[i]) fail_msg("bad state %d: rc %d (%s)", i, rc, ei.msg);
    }
    uint8_t *huge = calloc(1, (1u << 20) + 1);
    assert_non_null(huge);
    assert_int_equal(sh_dht_load(fresh, huge, (1u << 20) + 1, T0, &ei), SH_ELIMIT);
    free(huge);
    assert_memory_equal(sh_dht_id(fresh), c.node_id, 20);
    sh_dht_stats fs;
    sh_dht_stats_get(fresh, &fs);
    assert_int_equal(fs.good + fs.dubious, 0);

    assert_int_equal(sh_dht_load(fresh, b.data, b.len, T0, &ei), 0);
    assert_memory_equal(sh_dht_id(fresh), sh_dht_id(src), 20);
    sh_dht_stats_get(fresh, &fs);
    assert_int_equal(fs.good, 0); /* questionable until they answer */
    assert_int_equal(fs.dubious, nsaved);
    assert_int_equal(fs.buckets, ss.buckets);
    /* every loaded node, and only those, is pinged */
    sh_dht_action a;
    uint32_t pings = 0;
    sh_krpc_msg *m = calloc(1, sizeof *m);
    while (sh_dht_next_action(fresh, &a)) {
        assert_int_equal(a.type, SH_DHT_SEND);
        assert_int_equal(sh_krpc_decode(a.data, a.len, m, NULL), 0);
        assert_int_equal(m->method, SH_KRPC_PING);
        bool known = false;
        for (uint32_t i = 0; i < nsaved; i++)
            known |= sh_addr_eq(&saved[i], &a.addr);
        assert_true(known);
        pings++;
    }
    assert_int_equal(pings, nsaved);
    /* saving the loaded node gives back the id and no nodes (none has answered it yet) */
    sh_bbuf b2;
    sh_bbuf_init(&b2);
    sh_dht_save(fresh, &b2);
    const char *head = "d2:id20:";
    assert_memory_equal(b2.data, head, strlen(head));
    assert_memory_equal(b2.data + strlen(head), sh_dht_id(src), 20);
    assert_memory_equal(b2.data + strlen(head) + 20, "5:nodes0:e", 10);
    free(m);
    sh_bbuf_free(&b);
    sh_bbuf_free(&b2);
    sh_dht_free(fresh);
    dht_net_free(net);
    watch_free(&w);
}

static void test_big(void **st)
{
    (void)st;
    const char *env = getenv("SHOAL_DHT_BIG");
    if (!env) {
        skip();
        return;
    }
    uint32_t n = (uint32_t)strtoul(env, NULL, 10);
    if (n < 10) n = 10;
    clock_t c0 = clock();
    watch w;
    watch_init(&w, n);
    dht_net *net = build(n, 0.01, 15, &w);
    clock_t c1 = clock();
    char label[64];
    snprintf(label, sizeof label, "%u nodes, 1%% loss", n);
    outcome o = announce_and_find_all(net, &w, n / 2, n, label);
    clock_t c2 = clock();
    printf("# %u nodes: bootstrap + 2 min settle %.1f s CPU, %u lookups %.1f s CPU\n", n,
           (double)(c1 - c0) / CLOCKS_PER_SEC, o.searches, (double)(c2 - c1) / CLOCKS_PER_SEC);
    assert_true(o.found >= o.searches * 99 / 100);
    dht_net_free(net);
    watch_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_nodes), cmocka_unit_test(test_200_nodes_lossy),
        cmocka_unit_test(test_churn),     cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_save_load), cmocka_unit_test(test_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
