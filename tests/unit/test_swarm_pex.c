/*
 * test_swarm_pex.c — the swarm's extended protocols in the in-memory
 * network: peer exchange (a chain of 20 peers where each knows one address
 * completes, and meshes), its rules on the wire (timing, content, no echo,
 * bounds on what a peer may inject, private torrents), serving metadata
 * (BEP 9), and fetching v2 piece layers for a metainfo that lacks them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/bencode.h>
#include <shoal/ext.h>
#include <shoal/metadata.h>
#include <shoal/pex.h>

#include "swarm_harness.h"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)

static void make(hn_torrent *t, unsigned version, uint64_t plen, const uint64_t *files, uint32_t n)
{
    assert_int_equal(hn_torrent_make(t, version, plen, files, n, 42), 0);
}

static uint32_t known(hn_node *x)
{
    sh_swarm_stats st;
    sh_swarm_get_stats(hn_swarm(x), &st);
    return st.known;
}

/* ---- a raw peer that speaks the extension protocol ---- */

static void raw_ext(hn_raw *r, uint8_t id, const sh_bbuf *payload)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_extended(&b, id, payload->data, payload->len);
    hn_raw_send(r, b.data, b.len);
    sh_bbuf_free(&b);
}

/* Handshake, then an extension handshake with ut_metadata 3, ut_pex 4, p 7000. */
static hn_raw *raw_peer(hn_net *n, hn_node *x, uint8_t ip_last)
{
    hn_raw *r = hn_raw_open(n, x, ip_last);
    assert_non_null(r);
    hn_raw_handshake(r, SH_RSV_EXTENSION | SH_RSV_FAST, NULL);
    sh_ext_hs h;
    memset(&h, 0, sizeof h);
    h.ut_metadata = 3;
    h.ut_pex = 4;
    h.has_port = true;
    h.port = 7000;
    h.metadata_size = -1;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_ext_hs_encode(&b, &h);
    raw_ext(r, 0, &b);
    sh_bbuf_free(&b);
    sh_bbuf_init(&b);
    sh_wire_put_simple(&b, SH_MSG_HAVE_NONE);
    hn_raw_send(r, b.data, b.len);
    sh_bbuf_free(&b);
    return r;
}

typedef struct seen {
    sh_ext_hs hs;
    bool got_hs;
    uint32_t pex, md, other_ext;
    sh_pex_msg pexmsg; /* the last one */
    sh_time pex_at[8];
    sh_md_msg md_last;
    uint8_t md_data[SH_MD_PIECE];
    uint32_t md_types[3];
    uint32_t hash_requests;
    sh_hashreq hreq[16];
} seen;

/* Reads everything the node sent to r so far. */
static void drain_raw(hn_net *n, hn_raw *r, seen *sn)
{
    bool is_hs;
    sh_handshake hs;
    sh_msg m;
    while (hn_raw_next(r, &is_hs, &hs, &m) == 1) {
        if (is_hs) continue;
        if (m.id == SH_MSG_HASH_REQUEST && sn->hash_requests < 16)
            sn->hreq[sn->hash_requests++] = m.hash;
        if (m.id != SH_MSG_EXTENDED) continue;
        if (m.ext_id == 0) {
            assert_int_equal(sh_ext_hs_parse(m.data.ptr, m.data.len, &sn->hs, NULL), 0);
            sn->got_hs = true;
        } else if (m.ext_id == 4) {
            if (sn->pex < 8) sn->pex_at[sn->pex] = hn_now(n);
            sn->pex++;
            assert_int_equal(sh_pex_parse(m.data.ptr, m.data.len, &sn->pexmsg, NULL), 0);
        } else if (m.ext_id == 3) {
            sn->md++;
            assert_int_equal(sh_md_parse(m.data.ptr, m.data.len, &sn->md_last, NULL), 0);
            sn->md_types[sn->md_last.type]++;
            if (sn->md_last.type == SH_MD_DATA) {
                assert_true(sn->md_last.data.len <= SH_MD_PIECE);
                memcpy(sn->md_data, sn->md_last.data.ptr, sn->md_last.data.len);
            }
        } else {
            sn->other_ext++;
        }
    }
}

/* ---- gossip in a swarm ---- */

typedef struct chain {
    hn_net *n;
    hn_node *x[20];
} chain;

/* Node 0 seeds; node k knows only node k-1, and leaves once complete (a
 * "shoal get" without seeding exits), so the address it was given soon
 * leads nowhere: without gossip the chain breaks. */
static void build_chain(chain *c, const hn_torrent *t, uint64_t seed)
{
    c->n = hn_net_new(t, seed);
    for (uint32_t k = 0; k < 20; k++) {
        /* a slow seed: the download spans several peer-exchange rounds */
        hn_node_opts o = {
            .seed = k == 0, .up_bps = k == 0 ? 64 * KIB : 1 * MIB, .leave_when_complete = k > 0};
        c->x[k] = hn_node_add(c->n, &o);
    }
    for (uint32_t k = 1; k < 20; k++)
        hn_knows(c->n, c->x[k], c->x[k - 1]);
}

static void test_twenty_peers_one_address_each(void **st)
{
    (void)st;
    static const uint64_t f[] = {4 * MIB};
    hn_torrent t;
    make(&t, SH_META_V1, 64 * KIB, f, 1);
    chain c;
    build_chain(&c, &t, 11); /* seeds 1-13 all complete, in 82-104 s */
    bool all = hn_run(c.n, hn_all_complete, NULL, hn_now(c.n) + SH_SEC(600));
    for (uint32_t k = 0; k < 20 && !all; k++) {
        sh_swarm_stats ss;
        sh_swarm_get_stats(hn_swarm(c.x[k]), &ss);
        print_message("node %u: complete %d gone %d have %u/%u peers %u known %u deadline %llu\n",
                      k, hn_complete(c.x[k]), hn_gone(c.x[k]), ss.pieces_have, ss.num_pieces,
                      ss.peers, ss.known,
                      (unsigned long long)sh_swarm_next_deadline(hn_swarm(c.x[k])));
    }
    assert_true(all);
    uint32_t min_known = UINT32_MAX, total = 0, direct = 0;
    for (uint32_t k = 1; k < 20; k++) {
        assert_true(hn_content_ok(c.x[k]));
        assert_int_equal(hn_verify_failures(c.x[k]), 0);
        uint32_t kn = known(c.x[k]);
        total += kn;
        if (kn < min_known) min_known = kn;
        hn_tap tp;
        hn_tap_get(c.x[k], c.x[0], &tp);
        direct += k >= 2 && tp.bytes > 0;
    }
    /* Each started with one address; peer exchange taught them the others,
     * the seed's included. */
    print_message("pex chain: fewest known %u, mean %.1f, %u reached the seed, all complete "
                  "after %.1f s\n",
                  min_known, total / 19.0, direct, (double)(hn_now(c.n) - SH_SEC(1000)) / 1e9);
    assert_true(min_known >= 2);
    assert_true(total >= 8 * 19);
    assert_true(direct >= 10);
    hn_net_free(c.n);
    hn_torrent_free(&t);
}

/* The same chain on a private torrent: no gossip, nobody learns anything,
 * and the peers behind one that left are stranded. */
static void test_private_chain_learns_nothing(void **st)
{
    (void)st;
    static const uint64_t f[] = {4 * MIB};
    hn_torrent t;
    make(&t, SH_META_V1, 64 * KIB, f, 1);
    t.mi->is_private = true; /* what the swarm reads; the hash does not matter here */
    chain c;
    build_chain(&c, &t, 11);
    assert_false(hn_run(c.n, hn_all_complete, NULL, hn_now(c.n) + SH_SEC(600)));
    uint32_t done = 0;
    for (uint32_t k = 1; k < 20; k++) {
        assert_int_equal(known(c.x[k]), 1);
        done += hn_complete(c.x[k]);
        hn_tap tp;
        if (k < 2) continue;
        hn_tap_get(c.x[k], c.x[0], &tp);
        assert_int_equal(tp.bytes, 0);
    }
    print_message("private chain: %u of 19 complete\n", done);
    assert_true(done < 19);
    hn_net_free(c.n);
    hn_torrent_free(&t);
}

/* ---- the rules on the wire ---- */

static void test_pex_timing_content_and_no_echo(void **st)
{
    (void)st;
    static const uint64_t f[] = {4 * MIB};
    hn_torrent t;
    make(&t, SH_META_V1, 32 * KIB, f, 1);
    hn_net *n = hn_net_new(&t, 3);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true, .up_bps = 512 * KIB});
    hn_node *a = hn_node_add(n, &(hn_node_opts){0});
    hn_node *b = hn_node_add(n, &(hn_node_opts){0});
    hn_knows(n, a, s); /* a dials s; b dials a */
    hn_knows(n, b, a);
    hn_run_for(n, SH_SEC(1));
    sh_time t0 = hn_now(n);
    hn_raw *r = raw_peer(n, a, 99);
    seen *sn = calloc(1, sizeof *sn);
    hn_run_for(n, SH_SEC(2));
    drain_raw(n, r, sn);
    assert_true(sn->got_hs);
    assert_int_equal(sn->hs.ut_pex, SH_EXT_ID_PEX);
    assert_int_equal(sn->hs.ut_metadata, SH_EXT_ID_METADATA);
    assert_int_equal(sn->hs.metadata_size, (int64_t)t.mi->info_len);
    assert_int_equal(sn->pex, 0); /* not yet: 3 s after the handshake */
    hn_run_for(n, SH_SEC(2));
    drain_raw(n, r, sn);
    assert_int_equal(sn->pex, 1);
    assert_true(sn->pex_at[0] - t0 <= SH_SEC(4));
    /* a is connected to s (dialed: reachable, seed) and b (incoming, told p=6881) */
    const sh_pex_msg *pm = &sn->pexmsg;
    assert_int_equal(pm->nadded, 2);
    assert_int_equal(pm->ndropped, 0);
    sh_addr sa = hn_node_addr(s), ba = hn_node_addr(b);
    uint32_t found = 0;
    for (uint32_t i = 0; i < pm->nadded; i++) {
        sh_addr x = pm->added[i].addr;
        assert_int_not_equal(x.ip[3], 99); /* never the recipient */
        if (sh_addr_eq(&x, &sa)) {
            found++;
            assert_int_equal(pm->added[i].flags, SH_PEX_SEED | SH_PEX_REACHABLE);
        }
        if (sh_addr_eq(&x, &ba)) {
            found++;
            assert_int_equal(pm->added[i].flags, 0); /* it dialed a; it is still leeching */
        }
    }
    assert_int_equal(found, 2);
    /* b completes and leaves; nothing else is sent before a minute has passed */
    hn_run_for(n, SH_SEC(30));
    drain_raw(n, r, sn);
    assert_int_equal(sn->pex, 1);
    hn_run_for(n, SH_SEC(60));
    drain_raw(n, r, sn);
    /* s and b are both seeds once a completes: a drops them (two seeds do not trade) */
    assert_true(hn_complete(a));
    assert_int_equal(sn->pex, 2);
    assert_true(sn->pex_at[1] - sn->pex_at[0] >= SH_SEC(60));
    assert_int_equal(sn->pexmsg.nadded, 0);
    assert_int_equal(sn->pexmsg.ndropped, 2);
    free(sn);
    hn_net_free(n);
    hn_torrent_free(&t);
}

static void send_pex(hn_raw *r, uint32_t first, uint32_t count)
{
    sh_pex_peer *pp = calloc(count ? count : 1, sizeof *pp);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t v = first + i;
        pp[i] = (sh_pex_peer){{.family = 4,
                               .ip = {10, (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v},
                               .port = 6881},
                              i % 2 ? SH_PEX_SEED : 0};
    }
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_pex_encode(&b, pp, count, NULL, 0);
    raw_ext(r, SH_EXT_ID_PEX, &b);
    sh_bbuf_free(&b);
    free(pp);
}

static void test_pex_injection_bounded(void **st)
{
    (void)st;
    static const uint64_t f[] = {256 * KIB};
    hn_torrent t;
    make(&t, SH_META_V1, 32 * KIB, f, 1);
    hn_net *n = hn_net_new(&t, 4);
    /* few connection slots: the test is about candidates, not about dialing them */
    hn_node *a = hn_node_add(n, &(hn_node_opts){.cfg = {.max_conns = 4, .max_half_open = 1}});
    hn_raw *r = raw_peer(n, a, 50);
    hn_run_for(n, SH_SEC(1));
    uint32_t k0 = known(a);
    send_pex(r, 1, 150);
    hn_run_for(n, SH_SEC(1));
    assert_int_equal(known(a), k0 + 150);
    send_pex(r, 1000, 150); /* only 50 more fit in this minute */
    hn_run_for(n, SH_SEC(1));
    assert_int_equal(known(a), k0 + 200);
    for (int i = 0; i < 6; i++) /* and the 7th message of a minute is not even read */
        send_pex(r, 5000 + 10 * (uint32_t)i, 1);
    hn_run_for(n, SH_SEC(1));
    assert_int_equal(known(a), k0 + 200);
    hn_run_for(n, SH_SEC(60)); /* a new minute */
    send_pex(r, 9000, 10);
    hn_run_for(n, SH_SEC(1));
    assert_int_equal(known(a), k0 + 210);
    int reason;
    assert_false(hn_raw_closed(r, &reason));
    /* a PEX message that is not a dictionary closes the connection */
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_bbuf_raw(&b, "li1ee", 5);
    raw_ext(r, SH_EXT_ID_PEX, &b);
    sh_bbuf_free(&b);
    hn_run_for(n, SH_SEC(1));
    assert_true(hn_raw_closed(r, &reason));
    assert_int_equal(reason, SH_EPROTO);
    hn_net_free(n);
    hn_torrent_free(&t);
}

static void test_private_no_pex_no_metadata(void **st)
{
    (void)st;
    static const uint64_t f[] = {256 * KIB};
    hn_torrent t;
    make(&t, SH_META_V1, 32 * KIB, f, 1);
    t.mi->is_private = true;
    hn_net *n = hn_net_new(&t, 5);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_node *a = hn_node_add(n, &(hn_node_opts){0});
    hn_knows(n, a, s);
    hn_run_for(n, SH_SEC(1));
    hn_raw *r = raw_peer(n, a, 60);
    hn_run_for(n, SH_SEC(1));
    uint32_t k0 = known(a);
    send_pex(r, 1, 20);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_md_encode(&b, SH_MD_REQUEST, 0, -1, NULL, 0);
    raw_ext(r, SH_EXT_ID_METADATA, &b);
    sh_bbuf_free(&b);
    hn_run_for(n, SH_SEC(120));
    seen *sn = calloc(1, sizeof *sn);
    drain_raw(n, r, sn);
    assert_true(sn->got_hs);
    assert_int_equal(sn->hs.ut_pex, 0);
    assert_int_equal(sn->hs.ut_metadata, 0);
    assert_int_equal(sn->pex + sn->md + sn->other_ext, 0);
    assert_int_equal(known(a), k0);
    free(sn);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* ---- metadata serving ---- */

static void md_request(hn_raw *r, uint32_t piece)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_md_encode(&b, SH_MD_REQUEST, piece, -1, NULL, 0);
    raw_ext(r, SH_EXT_ID_METADATA, &b);
    sh_bbuf_free(&b);
}

static void test_metadata_served(void **st)
{
    (void)st;
    /* enough files for an info dictionary of more than one 16 KiB piece */
    uint64_t f[700];
    for (int i = 0; i < 700; i++)
        f[i] = 1000 + (uint64_t)i;
    hn_torrent t;
    make(&t, SH_META_V1, 32 * KIB, f, 700);
    assert_true(t.mi->info_len > SH_MD_PIECE);
    uint32_t np = sh_md_pieces(t.mi->info_len);
    hn_net *n = hn_net_new(&t, 6);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true});
    hn_raw *r = raw_peer(n, s, 70);
    hn_run_for(n, SH_SEC(1));
    seen *sn = calloc(1, sizeof *sn);
    drain_raw(n, r, sn);
    assert_int_equal(sn->hs.metadata_size, (int64_t)t.mi->info_len);
    for (uint32_t i = 0; i < np; i++) {
        md_request(r, i);
        hn_run_for(n, SH_MS(100));
        drain_raw(n, r, sn);
        assert_int_equal(sn->md_last.type, SH_MD_DATA);
        assert_int_equal(sn->md_last.piece, i);
        assert_int_equal(sn->md_last.total_size, (int64_t)t.mi->info_len);
        assert_int_equal(sn->md_last.data.len, sh_md_piece_len(t.mi->info_len, i));
        assert_memory_equal(sn->md_data, t.mi->info + (size_t)i * SH_MD_PIECE,
                            sn->md_last.data.len);
    }
    md_request(r, np); /* past the end */
    hn_run_for(n, SH_MS(100));
    drain_raw(n, r, sn);
    assert_int_equal(sn->md_last.type, SH_MD_REJECT);
    assert_int_equal(sn->md_last.piece, np);
    /* 64 requests a minute are served, the rest rejected */
    uint32_t served0 = sn->md_types[SH_MD_DATA];
    for (uint32_t i = 0; i < 70; i++)
        md_request(r, 0);
    hn_run_for(n, SH_SEC(1));
    drain_raw(n, r, sn);
    assert_int_equal(sn->md_types[SH_MD_DATA] - served0, 64 - (np + 1));
    assert_int_equal(sn->md_types[SH_MD_REJECT], 1 + 70 - (64 - (np + 1)));
    int reason;
    assert_false(hn_raw_closed(r, &reason));
    /* garbage closes */
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_bbuf_raw(&b, "d8:msg_typei9e5:piecei0ee", 25);
    raw_ext(r, SH_EXT_ID_METADATA, &b);
    sh_bbuf_free(&b);
    hn_run_for(n, SH_SEC(1));
    assert_true(hn_raw_closed(r, &reason));
    assert_int_equal(reason, SH_EPROTO);
    free(sn);
    hn_net_free(n);
    hn_torrent_free(&t);
}

/* ---- v2 piece layers ---- */

static sh_metainfo *bare(const hn_torrent *t)
{
    sh_metainfo *mi = NULL;
    assert_int_equal(sh_metainfo_parse_info(t->mi->info, t->mi->info_len, &mi, NULL), 0);
    return mi;
}

static void layers_case(unsigned version, uint64_t seed)
{
    /* 9 MiB in 16 KiB pieces: 576 hashes, two requests (512 + 64 of a 1024-wide layer);
     * 300 KiB: one request of 32; 10 KiB: one piece, no layer needed */
    static const uint64_t f[] = {9 * MIB + 1000, 300 * KIB, 10 * KIB};
    hn_torrent t;
    make(&t, version, 16 * KIB, f, 3);
    sh_metainfo *mi = bare(&t);
    assert_false(mi->has_piece_layers);
    hn_net *n = hn_net_new(&t, seed);
    hn_node *s1 = hn_node_add(n, &(hn_node_opts){.seed = true, .up_bps = 16 * MIB});
    hn_node *s2 = hn_node_add(n, &(hn_node_opts){.seed = true, .up_bps = 16 * MIB});
    hn_node *l = hn_node_add(n, &(hn_node_opts){.mi = mi});
    hn_knows(n, l, s1);
    hn_knows(n, l, s2);
    assert_true(hn_run(n, hn_all_complete, NULL, hn_now(n) + SH_SEC(120)));
    assert_true(hn_content_ok(l));
    assert_int_equal(hn_verify_failures(l), 0); /* no piece was fetched before its layer */
    assert_true(mi->has_piece_layers);
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *a = &mi->files[i], *b = &t.mi->files[i];
        assert_int_equal(a->layer_count, b->layer_count);
        if (b->layer) assert_memory_equal(a->layer, b->layer, (size_t)b->layer_count * 32);
    }
    hn_net_free(n);
    sh_metainfo_free(mi);
    hn_torrent_free(&t);
}

static void test_v2_layers_fetched(void **st)
{
    (void)st;
    layers_case(SH_META_V2, 21);
}

static void test_hybrid_layers_fetched(void **st)
{
    (void)st;
    layers_case(SH_META_HYBRID, 22);
}

/* A leecher that learned its layers serves them on: a second magnet leecher
 * that only knows the first completes too. */
static void test_layers_passed_on(void **st)
{
    (void)st;
    static const uint64_t f[] = {2 * MIB};
    hn_torrent t;
    make(&t, SH_META_V2, 16 * KIB, f, 1);
    sh_metainfo *m1 = bare(&t), *m2 = bare(&t);
    hn_net *n = hn_net_new(&t, 23);
    hn_node *s = hn_node_add(n, &(hn_node_opts){.seed = true, .up_bps = 16 * MIB});
    hn_node *l1 = hn_node_add(n, &(hn_node_opts){.mi = m1});
    hn_knows(n, l1, s);
    assert_true(hn_run(n, hn_all_complete, NULL, hn_now(n) + SH_SEC(60)));
    hn_node *l2 = hn_node_add(n, &(hn_node_opts){.mi = m2});
    hn_knows(n, l2, l1);
    assert_true(hn_run(n, hn_all_complete, NULL, hn_now(n) + SH_SEC(60)));
    assert_true(hn_content_ok(l2));
    assert_true(m2->has_piece_layers);
    hn_net_free(n);
    sh_metainfo_free(m1);
    sh_metainfo_free(m2);
    hn_torrent_free(&t);
}

/* A peer that answers hash requests with hashes that do not lead to the root is dropped. */
static void test_bad_hashes_close(void **st)
{
    (void)st;
    static const uint64_t f[] = {2 * MIB};
    hn_torrent t;
    make(&t, SH_META_V2, 16 * KIB, f, 1);
    sh_metainfo *mi = bare(&t);
    hn_net *n = hn_net_new(&t, 24);
    hn_node *l = hn_node_add(n, &(hn_node_opts){.mi = mi});
    hn_raw *r = hn_raw_open(n, l, 80);
    hn_raw_handshake(r, SH_RSV_EXTENSION | SH_RSV_FAST, NULL);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_simple(&b, SH_MSG_HAVE_ALL);
    hn_raw_send(r, b.data, b.len);
    sh_bbuf_free(&b);
    hn_run_for(n, SH_SEC(1));
    seen *sn = calloc(1, sizeof *sn);
    drain_raw(n, r, sn);
    assert_int_equal(sn->hash_requests, 1); /* 128 pieces: one request */
    sh_hashreq h = sn->hreq[0];
    assert_memory_equal(h.root, t.mi->files[0].pieces_root, 32);
    assert_int_equal(h.base_layer, 0);
    assert_int_equal(h.index, 0);
    assert_int_equal(h.length, 128);
    assert_int_equal(h.proof_layers, 6);
    /* answer with the right geometry and wrong contents */
    uint8_t *hashes = calloc(128, 32);
    sh_bbuf_init(&b);
    sh_wire_put_hashes(&b, &h, hashes, 128);
    hn_raw_send(r, b.data, b.len);
    sh_bbuf_free(&b);
    hn_run_for(n, SH_SEC(1));
    int reason;
    assert_true(hn_raw_closed(r, &reason));
    assert_int_equal(reason, SH_EPROTO);
    assert_false(mi->has_piece_layers);
    free(hashes);
    free(sn);
    hn_net_free(n);
    sh_metainfo_free(mi);
    hn_torrent_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twenty_peers_one_address_each),
        cmocka_unit_test(test_private_chain_learns_nothing),
        cmocka_unit_test(test_pex_timing_content_and_no_echo),
        cmocka_unit_test(test_pex_injection_bounded),
        cmocka_unit_test(test_private_no_pex_no_metadata),
        cmocka_unit_test(test_metadata_served),
        cmocka_unit_test(test_v2_layers_fetched),
        cmocka_unit_test(test_hybrid_layers_fetched),
        cmocka_unit_test(test_layers_passed_on),
        cmocka_unit_test(test_bad_hashes_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
