/*
 * test_swarm.c — the swarm engine, driven through the in-memory network of
 * swarm_harness.c: whole downloads between several swarms (v1, v2,
 * hybrid), trading between leechers, determinism, bans, and the protocol
 * rules checked message by message against raw endpoints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/bencode.h>
#include <shoal/merkle.h>
#include <shoal/swarm.h>
#include <shoal/wire.h>

#include "swarm_harness.h"

#define MIB (1024u * 1024u)
#define KIB 1024u

static const uint64_t one_file[] = {MIB + 12345};
static const uint64_t three_files[] = {300 * KIB + 17, 5000, 520 * KIB};

static void make(hn_torrent *t, unsigned version, uint64_t plen, const uint64_t *files, uint32_t n)
{
    assert_int_equal(hn_torrent_make(t, version, plen, files, n, 42), 0);
}

static void seed_and_leecher(unsigned version, const uint64_t *files, uint32_t nfiles)
{
    hn_torrent t;
    make(&t, version, 32 * KIB, files, nfiles);
    hn_net *n = hn_net_new(&t, 7);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_node *l = hn_node_add(n, &(hn_node_opts){0});
    hn_knows(n, l, s);
    assert_true(hn_run(n, hn_all_complete, NULL, hn_now(n) + SH_SEC(60)));
    assert_true(hn_complete(l));
    assert_false(hn_complete(s)); /* a seed from the start never "completes" */
    assert_true(hn_content_ok(l));
    sh_swarm_stats st;
    sh_swarm_get_stats(hn_swarm(l), &st);
    assert_true(st.complete);
    assert_int_equal(st.left, 0);
    assert_int_equal(st.pieces_have, t.mi->num_pieces);
    assert_int_equal(st.hash_failures, 0);
    assert_true(st.payload_down >= t.size);
    sh_swarm_get_stats(hn_swarm(s), &st);
    assert_true(st.payload_up >= t.size);
    assert_int_equal(hn_spins(n), 0);
    hn_net_free(n);
    hn_torrent_free(&t);
}

static void test_v1_single(void **st)
{
    (void)st;
    seed_and_leecher(SH_META_V1, one_file, 1);
}

static void test_v1_multi(void **st)
{
    (void)st;
    seed_and_leecher(SH_META_V1, three_files, 3);
}

static void test_v2_multi(void **st)
{
    (void)st;
    seed_and_leecher(SH_META_V2, three_files, 3);
}

static void test_hybrid_multi(void **st)
{
    (void)st;
    seed_and_leecher(SH_META_HYBRID, three_files, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_single),
        cmocka_unit_test(test_v1_multi),
        cmocka_unit_test(test_v2_multi),
        cmocka_unit_test(test_hybrid_multi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
