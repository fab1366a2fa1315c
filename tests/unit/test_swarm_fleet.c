/*
 * test_swarm_fleet.c — fleet scheduling (docs/scheduling.md): the origin's
 * super-seeding towards shoal peers, on the wire (raw peers) and in a
 * small network (every piece leaves the origin once before any twice;
 * standard clients still get the full bitfield), and that the fleet
 * completes with the origin uploading about one copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/ext.h>

#include "swarm_harness.h"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)

static void make(hn_torrent *t, uint64_t plen, uint64_t size)
{
    uint64_t f[1] = {size};
    assert_int_equal(hn_torrent_make(t, SH_META_V1, plen, f, 1, 7), 0);
}

static void send_buf(hn_raw *r, sh_bbuf *b)
{
    assert_int_equal(b->err, 0);
    hn_raw_send(r, b->data, b->len);
    sh_bbuf_free(b);
}

/* Handshake with fast + extensions, then an extension handshake that names
 * shoal_block (a shoal peer) or not, then have_none. */
static hn_raw *raw_peer_bits(hn_net *n, hn_node *x, uint8_t ip, uint32_t shoal_block,
                             const uint8_t *bits, size_t nbytes);

static hn_raw *raw_peer(hn_net *n, hn_node *x, uint8_t ip, uint32_t shoal_block)
{
    return raw_peer_bits(n, x, ip, shoal_block, NULL, 0);
}

/* As raw_peer, with a bitfield instead of have_none when bits != NULL. */
static hn_raw *raw_peer_bits(hn_net *n, hn_node *x, uint8_t ip, uint32_t shoal_block,
                             const uint8_t *bits, size_t nbytes)
{
    hn_raw *r = hn_raw_open(n, x, ip);
    assert_non_null(r);
    hn_raw_handshake(r, SH_RSV_EXTENSION | SH_RSV_FAST, NULL);
    sh_ext_hs h;
    memset(&h, 0, sizeof h);
    h.metadata_size = -1;
    h.reqq = 100;
    h.shoal_block = shoal_block;
    sh_bbuf pl, b;
    sh_bbuf_init(&pl);
    sh_bbuf_init(&b);
    sh_ext_hs_encode(&pl, &h);
    sh_wire_put_extended(&b, 0, pl.data, pl.len);
    sh_bbuf_free(&pl);
    if (bits)
        sh_wire_put_bitfield(&b, bits, nbytes);
    else
        sh_wire_put_simple(&b, SH_MSG_HAVE_NONE);
    send_buf(r, &b);
    return r;
}

typedef struct got {
    uint32_t have_all, have_none, bitfield, haves, first_state; /* first_state: message id + 1 */
    uint32_t have[64];
} got;

static void drain(hn_raw *r, got *g)
{
    bool is_hs;
    sh_handshake hs;
    sh_msg m;
    while (hn_raw_next(r, &is_hs, &hs, &m) == 1) {
        if (is_hs) continue;
        bool state = m.id == SH_MSG_HAVE_ALL || m.id == SH_MSG_HAVE_NONE ||
                     m.id == SH_MSG_BITFIELD || m.id == SH_MSG_HAVE;
        if (state && g->first_state == 0) g->first_state = (uint32_t)m.id + 1;
        if (m.id == SH_MSG_HAVE_ALL) g->have_all++;
        if (m.id == SH_MSG_HAVE_NONE) g->have_none++;
        if (m.id == SH_MSG_BITFIELD) g->bitfield++;
        if (m.id == SH_MSG_HAVE) {
            if (g->haves < 64) g->have[g->haves] = m.piece;
            g->haves++;
        }
    }
}

static void send_haves(hn_raw *r, const got *g)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    for (uint32_t i = 0; i < g->haves && i < 64; i++)
        sh_wire_put_have(&b, SH_MSG_HAVE, g->have[i]);
    send_buf(r, &b);
}

/* 16 pieces of 256 KiB: a batch is 4 pieces (1 MiB), 4 peers are fed at once.
 * Five shoal peers: four get four pieces each, all 16 distinct; the fifth
 * gets none until a fed peer has its batch, then four pieces nobody holds. */
static void test_super_seed_each_piece_once(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 256 * KIB, 4 * MIB);
    hn_net *n = hn_net_new(&t, 3);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_raw *r[5];
    got g[5];
    memset(g, 0, sizeof g);
    for (int i = 0; i < 5; i++)
        r[i] = raw_peer(n, s, (uint8_t)(100 + i), 256 * KIB);
    hn_run_for(n, SH_MS(50));
    uint32_t count[16] = {0}, fed = 0, idle = 5;
    for (int i = 0; i < 5; i++) {
        drain(r[i], &g[i]);
        assert_int_equal(g[i].have_all, 0);
        assert_int_equal(g[i].bitfield, 0);
        assert_int_equal(g[i].have_none, 1);
        assert_int_equal(g[i].first_state, SH_MSG_HAVE_NONE + 1);
        assert_true(g[i].haves == 0 || g[i].haves == 4);
        if (g[i].haves == 0) idle = (uint32_t)i;
        fed += g[i].haves == 4;
        for (uint32_t k = 0; k < g[i].haves; k++)
            count[g[i].have[k]]++;
    }
    assert_int_equal(fed, 4);
    for (int p = 0; p < 16; p++)
        assert_int_equal(count[p], 1); /* every piece once, none twice */
    /* a fed peer reports its batch: the idle one's turn. Every piece has been
     * advertised once; the second copies go to pieces that reached a peer
     * (the reporter's), not to the twelve still on their way to their first
     * holder (a copy of those would duplicate what the origin is sending) */
    int done = idle == 0 ? 1 : 0;
    send_haves(r[done], &g[done]);
    hn_run_for(n, SH_MS(50));
    got later;
    memset(&later, 0, sizeof later);
    drain(r[idle], &later);
    assert_int_equal(later.haves, 4);
    for (uint32_t k = 0; k < 4; k++) {
        bool delivered = false;
        for (uint32_t j = 0; j < 4; j++)
            delivered |= later.have[k] == g[done].have[j];
        assert_true(delivered);
    }
    /* the reporter is not fed again while the others wait their turn */
    got again;
    memset(&again, 0, sizeof again);
    drain(r[done], &again);
    assert_int_equal(again.haves, 0);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* A small file (16 pieces of 32 KiB: 1 MiB would be 32 pieces, capped at
 * 16): the four fed peers' batches together cover it once, 4 pieces each,
 * never every piece to every fed peer at once. */
static void test_super_seed_small_file_batches(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 32 * KIB, 512 * KIB);
    hn_net *n = hn_net_new(&t, 5);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_raw *r[4];
    got g[4];
    memset(g, 0, sizeof g);
    for (int i = 0; i < 4; i++)
        r[i] = raw_peer(n, s, (uint8_t)(110 + i), 256 * KIB);
    hn_run_for(n, SH_MS(50));
    uint32_t count[16] = {0};
    for (int i = 0; i < 4; i++) {
        drain(r[i], &g[i]);
        assert_int_equal(g[i].haves, 4);
        for (uint32_t k = 0; k < g[i].haves; k++)
            count[g[i].have[k]]++;
    }
    for (int p = 0; p < 16; p++)
        assert_int_equal(count[p], 1);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* A shoal peer resuming with pieces 0..11 of 16: its bitfield follows the
 * extension handshake, after the first batch went out. Pieces it turns out
 * to hold are replaced, so it is offered all it lacks (12..15). */
static void test_super_seed_resuming_peer(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 256 * KIB, 4 * MIB);
    hn_net *n = hn_net_new(&t, 5);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    uint8_t bits[2] = {0xff, 0xf0};
    hn_raw *r = raw_peer_bits(n, s, 120, 256 * KIB, bits, sizeof bits);
    hn_run_for(n, SH_MS(50));
    got g = {0};
    drain(r, &g);
    bool lacks[16] = {false};
    for (uint32_t k = 0; k < g.haves && k < 64; k++)
        lacks[g.have[k]] = true;
    for (int p = 12; p < 16; p++)
        assert_true(lacks[p]);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* Standard clients get the usual full state: one without extensions at
 * once, one whose extension handshake has no shoal_block after it, one that
 * never sends an extension handshake after SW_SUPER_WAIT (2 s). And a seed
 * configured with no_super_seed gives shoal peers have_all too. */
static void test_super_seed_standard_clients(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 64 * KIB, 1 * MIB);
    hn_net *n = hn_net_new(&t, 4);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_node *plain =
        hn_node_add(n, &(hn_node_opts){.seed = true, .cfg = {.no_super_seed = true}});

    hn_raw *fast_only = hn_raw_open(n, s, 110);
    assert_non_null(fast_only);
    hn_raw_handshake(fast_only, SH_RSV_FAST, NULL);
    hn_raw *std = raw_peer(n, s, 111, 0);
    hn_raw *silent = hn_raw_open(n, s, 112);
    assert_non_null(silent);
    hn_raw_handshake(silent, SH_RSV_FAST | SH_RSV_EXTENSION, NULL);
    hn_raw *to_plain = raw_peer(n, plain, 113, 256 * KIB);
    hn_run_for(n, SH_MS(100));

    got g1 = {0}, g2 = {0}, g3 = {0}, g4 = {0};
    drain(fast_only, &g1);
    drain(std, &g2);
    drain(silent, &g3);
    drain(to_plain, &g4);
    assert_int_equal(g1.have_all, 1);
    assert_int_equal(g2.have_all, 1);
    assert_int_equal(g2.haves, 0);
    assert_int_equal(g3.first_state, 0); /* still held: it may yet send its extension handshake */
    assert_int_equal(g4.have_all, 1);
    hn_run_for(n, SH_SEC(3));
    drain(silent, &g3);
    assert_int_equal(g3.have_all, 1);
    assert_int_equal(g3.first_state, SH_MSG_HAVE_ALL + 1);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* A piece on its way to its first holder is never advertised twice. Four
 * shoal peers hold all 16 pieces' advertisements (4 each); nobody waits for
 * a turn, so each HAVE tops the reporter's window up. The first report
 * brings nothing new: every piece it lacks is still pending elsewhere. The
 * second reporter is offered exactly the one piece that has arrived. */
static void test_super_seed_pending_not_twice(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 256 * KIB, 4 * MIB);
    hn_net *n = hn_net_new(&t, 11);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_raw *r[4];
    got g[4];
    memset(g, 0, sizeof g);
    for (int i = 0; i < 4; i++)
        r[i] = raw_peer(n, s, (uint8_t)(130 + i), 256 * KIB);
    hn_run_for(n, SH_MS(50));
    for (int i = 0; i < 4; i++) {
        drain(r[i], &g[i]);
        assert_int_equal(g[i].haves, 4);
    }
    got one = {.haves = 1, .have = {g[0].have[0]}};
    send_haves(r[0], &one);
    hn_run_for(n, SH_MS(50));
    got a = {0};
    drain(r[0], &a);
    assert_int_equal(a.haves, 0);
    got other = {.haves = 1, .have = {g[1].have[0]}};
    send_haves(r[1], &other);
    hn_run_for(n, SH_MS(50));
    got b = {0};
    drain(r[1], &b);
    assert_int_equal(b.haves, 1);
    assert_int_equal(b.have[0], g[0].have[0]);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* On a link of known rate a batch is SW_SUPER_BATCH_S (1 s) of upload, at
 * least 2 pieces: 512 KiB/s and 256 KiB pieces give 8 slots, 4 fed peers,
 * 128 KiB each, so 2 pieces (an unknown rate: four each, as in
 * test_super_seed_each_piece_once). */
static void test_super_seed_batch_sized_in_time(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 256 * KIB, 4 * MIB);
    hn_net *n = hn_net_new(&t, 12);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true, .cfg = {.link_rate = 512 * KIB}});
    hn_raw *r[5];
    got g[5];
    memset(g, 0, sizeof g);
    uint32_t fed = 0;
    for (int i = 0; i < 5; i++)
        r[i] = raw_peer(n, s, (uint8_t)(140 + i), 256 * KIB);
    hn_run_for(n, SH_MS(50));
    for (int i = 0; i < 5; i++) {
        drain(r[i], &g[i]);
        assert_true(g[i].haves == 0 || g[i].haves == 2);
        fed += g[i].haves == 2;
    }
    assert_int_equal(fed, 4);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* Reads what r received; *unchoked follows its CHOKE / UNCHOKE messages. */
static void read_choke(hn_raw *r, bool *unchoked)
{
    bool is_hs;
    sh_handshake hs;
    sh_msg m;
    while (hn_raw_next(r, &is_hs, &hs, &m) == 1)
        if (!is_hs && (m.id == SH_MSG_UNCHOKE || m.id == SH_MSG_CHOKE)) *unchoked = m.id == SH_MSG_UNCHOKE;
}

static hn_raw *interested_peer(hn_net *n, hn_node *x, uint8_t ip, uint32_t shoal_block)
{
    hn_raw *r = raw_peer(n, x, ip, shoal_block);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_simple(&b, SH_MSG_INTERESTED);
    send_buf(r, &b);
    return r;
}

/* Upload slots follow a known link rate: a piece per slot in about 4 s.
 * 16 KiB/s and 32 KiB pieces: 2 slots (at least 2), so of four interested
 * peers two are unchoked; unknown rate: 16 slots, all four. */
static uint32_t unchoked_of_four(uint64_t link_rate)
{
    hn_torrent t;
    make(&t, 32 * KIB, 1 * MIB);
    hn_net *n = hn_net_new(&t, 13);
    hn_node *s = hn_node_add(
        n, &(hn_node_opts){.seed = true, .cfg = {.link_rate = link_rate, .no_super_seed = true}});
    hn_raw *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = interested_peer(n, s, (uint8_t)(150 + i), 0);
    hn_run_for(n, SH_MS(100));
    uint32_t unchoked = 0;
    for (int i = 0; i < 4; i++) {
        bool un = false;
        read_choke(r[i], &un);
        unchoked += un;
    }
    hn_net_free(n);
    hn_torrent_free(&t);
    return unchoked;
}

static void test_slots_sized_to_link(void **st)
{
    (void)st;
    assert_int_equal(unchoked_of_four(16 * KIB), 2);
    assert_int_equal(unchoked_of_four(0), 4);
}

/* An unused slot is handed on: three shoal peers are interested in a seed
 * with two slots (16 KiB/s, 32 KiB pieces) and none of them asks for
 * anything. Within a few seconds the one that waited holds a slot and one
 * of the other two lost its own. Before, the first two kept their slots
 * until the optimistic slot rotated (30 s). */
static void test_unused_slot_handed_on(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 32 * KIB, 1 * MIB);
    hn_net *n = hn_net_new(&t, 13);
    hn_node *s = hn_node_add(
        n, &(hn_node_opts){.seed = true, .cfg = {.link_rate = 16 * KIB, .no_super_seed = true}});
    hn_raw *r[3];
    bool un[3] = {false, false, false};
    for (int i = 0; i < 3; i++)
        r[i] = interested_peer(n, s, (uint8_t)(170 + i), 256 * KIB);
    hn_run_for(n, SH_MS(100));
    int waited = -1, held = 0;
    for (int i = 0; i < 3; i++) {
        read_choke(r[i], &un[i]);
        held += un[i];
        if (!un[i]) waited = i;
    }
    assert_int_equal(held, 2);
    hn_run_for(n, SH_SEC(3));
    held = 0;
    for (int i = 0; i < 3; i++) {
        read_choke(r[i], &un[i]);
        held += un[i];
    }
    assert_true(un[waited]);
    assert_int_equal(held, 2);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* What a slow seed has moved into a peer's output queue goes out even if
 * cancelled; with a known link rate that is one request (0.1 s of the
 * link), so cancels of the other three get rejects instead of 48 KiB of
 * unwanted blocks. At 16 KiB/s without link_rate all four were queued at
 * once (256 KiB of room) and all four arrived. */
static void cancels_on_slow_link(uint64_t link_rate, uint32_t *pieces, uint32_t *rejects)
{
    hn_torrent t;
    make(&t, 64 * KIB, 1 * MIB);
    hn_net *n = hn_net_new(&t, 14);
    hn_node *s = hn_node_add(n, &(hn_node_opts){
                                    .seed = true,
                                    .up_bps = 16 * KIB,
                                    .cfg = {.link_rate = link_rate, .no_super_seed = true}});
    hn_raw *r = raw_peer(n, s, 160, 0);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_simple(&b, SH_MSG_INTERESTED);
    send_buf(r, &b);
    hn_run_for(n, SH_MS(100));
    sh_bbuf_init(&b);
    for (uint32_t k = 0; k < 4; k++)
        sh_wire_put_request(&b, SH_MSG_REQUEST, 0, k * 16 * (uint32_t)KIB, 16 * KIB);
    send_buf(r, &b);
    hn_run_for(n, SH_MS(100));
    sh_bbuf_init(&b);
    for (uint32_t k = 1; k < 4; k++)
        sh_wire_put_request(&b, SH_MSG_CANCEL, 0, k * 16 * (uint32_t)KIB, 16 * KIB);
    send_buf(r, &b);
    hn_run_for(n, SH_SEC(8));
    *pieces = *rejects = 0;
    bool is_hs;
    sh_handshake hs;
    sh_msg m;
    while (hn_raw_next(r, &is_hs, &hs, &m) == 1) {
        if (is_hs) continue;
        *pieces += m.id == SH_MSG_PIECE;
        *rejects += m.id == SH_MSG_REJECT;
    }
    hn_net_free(n);
    hn_torrent_free(&t);
}

static void test_serve_ahead_sized_to_link(void **st)
{
    (void)st;
    uint32_t pieces, rejects;
    cancels_on_slow_link(16 * KIB, &pieces, &rejects);
    assert_int_equal(pieces, 1);
    assert_int_equal(rejects, 3);
    cancels_on_slow_link(0, &pieces, &rejects);
    assert_int_equal(pieces, 4);
    assert_int_equal(rejects, 0);
}

/* Origin + 8 shoal leechers that all know each other: everyone completes
 * with correct content, and the origin uploads little more than one copy
 * (a plain seed, no_super_seed, uploads far more in the same network). */
static uint64_t fleet_origin_upload(bool super, uint64_t seed, uint64_t size)
{
    hn_torrent t;
    make(&t, 64 * KIB, size);
    hn_net *n = hn_net_new(&t, seed);
    hn_node *o = hn_node_add(
        n, &(hn_node_opts){.seed = true, .cfg = {.max_block = 64 * KIB, .no_super_seed = !super}});
    hn_node *l[8];
    for (int i = 0; i < 8; i++)
        l[i] = hn_node_add(n, &(hn_node_opts){.cfg = {.max_block = 64 * KIB}});
    for (int i = 0; i < 8; i++) {
        hn_knows(n, l[i], o);
        for (int j = 0; j < i; j++)
            hn_knows(n, l[i], l[j]);
    }
    assert_true(hn_run(n, hn_all_complete, NULL, hn_now(n) + SH_SEC(300)));
    for (int i = 0; i < 8; i++)
        assert_true(hn_content_ok(l[i]));
    sh_swarm_stats ss;
    sh_swarm_get_stats(hn_swarm(o), &ss);
    hn_net_free(n);
    hn_torrent_free(&t);
    return ss.payload_up;
}

static void test_fleet_origin_uploads_once(void **st)
{
    (void)st;
    uint64_t size = 8 * MIB;
    uint64_t sup = fleet_origin_upload(true, 1, size);
    uint64_t plain = fleet_origin_upload(false, 1, size);
    print_message("origin upload: super %.2f F, plain %.2f F\n", (double)sup / (double)size, (double)plain / (double)size);
    assert_true(sup >= size);
    assert_true(sup <= size + size / 4);
    assert_true(plain >= sup + size / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_super_seed_each_piece_once),
        cmocka_unit_test(test_super_seed_small_file_batches),
        cmocka_unit_test(test_super_seed_resuming_peer),
        cmocka_unit_test(test_super_seed_standard_clients),
        cmocka_unit_test(test_super_seed_pending_not_twice),
        cmocka_unit_test(test_super_seed_batch_sized_in_time),
        cmocka_unit_test(test_slots_sized_to_link),
        cmocka_unit_test(test_unused_slot_handed_on),
        cmocka_unit_test(test_serve_ahead_sized_to_link),
        cmocka_unit_test(test_fleet_origin_uploads_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
