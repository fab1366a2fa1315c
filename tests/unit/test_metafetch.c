/*
 * test_metafetch.c — the metadata fetcher against scripted peers (honest,
 * serving wrong bytes, lying about metadata_size, oversized, sending
 * pieces nobody asked for, silent, refusing, without ut_metadata) and
 * against real seeding swarms (v1, v2-only via the truncated v2 hash,
 * hybrid), in virtual time, with no sockets.
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
#include <shoal/metafetch.h>
#include <shoal/sha.h>
#include <shoal/wire.h>

#include "swarm_harness.h"

#define FAKE_MD_ID 7

typedef enum behaviour {
    HONEST,
    WRONG_BYTES,    /* right size, other bytes */
    LIAR_SIZE,      /* claims more than the real size, serves junk of that size */
    OVERSIZE,       /* claims 17 MiB */
    ENDLESS,        /* answers every request with pieces nobody asked for */
    WRONG_LEN,      /* a piece one byte short */
    TOTAL_MISMATCH, /* total_size in data messages differs from metadata_size */
    SILENT,         /* never answers */
    REFUSE,         /* rejects every request */
    NO_UT_METADATA,
    SWARM, /* a real sh_swarm seeding the torrent */
} behaviour;

typedef struct ep {
    sh_addr addr;
    behaviour b;
    bool open, refused_dial;
    sh_conn_id fc; /* the fetcher's id */
    /* scripted */
    sh_wire_dec *dec;
    sh_bbuf tx;
    const uint8_t *meta;
    size_t meta_len;
    int64_t claim;
    uint8_t *junk;
    uint32_t requests, sent_data;
    uint8_t their_md; /* the fetcher's id for ut_metadata, from its "m" */
    /* a real swarm */
    sh_swarm *sw;
    sh_conn_id sc;
} ep;

typedef struct net {
    sh_metafetch *f;
    sh_time now;
    ep eps[8];
    uint32_t neps;
    const uint8_t *wire_hash;
    uint32_t closes[32]; /* CLOSE actions by -reason */
    bool complete;
    sh_logger log;
} net;

static void log_sink(void *ud, sh_log_level level, const char *comp, const char *msg)
{
    net *n = ud;
    fprintf(stderr, "[%10.6f] %s %s: %s\n", (double)n->now / 1e9, sh_log_level_name(level), comp,
            msg);
}

static void net_init(net *n, const sh_metafetch_config *base)
{
    memset(n, 0, sizeof *n);
    n->now = SH_SEC(1000);
    sh_metafetch_config cfg = *base;
    memcpy(cfg.peer_id, "-SH0100-fetcher00001", 20);
    cfg.listen_port = 6881;
    cfg.rng_seed = 9;
    const char *lv = getenv("HN_LOG");
    if (lv && sh_log_level_parse(lv, &n->log.level) == 0) {
        n->log.fn = log_sink;
        n->log.ud = n;
    }
    cfg.log = n->log;
    n->wire_hash = cfg.has_v1 ? base->btih : base->btmh;
    assert_int_equal(sh_metafetch_new(&cfg, n->now, &n->f), 0);
}

static ep *add_ep(net *n, behaviour b, const uint8_t *meta, size_t len)
{
    ep *e = &n->eps[n->neps];
    memset(e, 0, sizeof *e);
    e->addr = (sh_addr){.family = 4, .ip = {127, 0, 0, (uint8_t)(10 + n->neps)}, .port = 6881};
    n->neps++;
    e->b = b;
    e->meta = meta;
    e->meta_len = len;
    e->claim = b == LIAR_SIZE ? (int64_t)len + 5000 : b == OVERSIZE ? 17 << 20 : (int64_t)len;
    e->junk = malloc(len + 5000);
    for (size_t i = 0; i < len + 5000; i++)
        e->junk[i] = (uint8_t)(i * 7 + 1);
    if (b == WRONG_BYTES) memcpy(e->junk, meta, len / 2); /* half right */
    sh_bbuf_init(&e->tx);
    return e;
}

static ep *add_swarm(net *n, const sh_metainfo *mi)
{
    ep *e = add_ep(n, SWARM, mi->info, mi->info_len);
    sh_bitfield have;
    assert_int_equal(sh_bitfield_init(&have, mi->num_pieces), 0);
    sh_bitfield_set_all(&have);
    sh_swarm_config c = {.mi = mi, .have = &have, .listen_port = 6881, .rng_seed = 5};
    memcpy(c.peer_id, "-SH0100-seed00000000", 20);
    c.log = n->log;
    assert_int_equal(sh_swarm_new(&c, n->now, &e->sw), 0);
    sh_bitfield_free(&have);
    return e;
}

static void tell(net *n, const ep *e)
{
    sh_metafetch_add_peer(n->f, &e->addr, SH_SRC_MANUAL, n->now);
}

static void net_free(net *n)
{
    sh_metafetch_free(n->f);
    for (uint32_t i = 0; i < n->neps; i++) {
        sh_wire_dec_free(n->eps[i].dec);
        sh_bbuf_free(&n->eps[i].tx);
        free(n->eps[i].junk);
        sh_swarm_free(n->eps[i].sw);
    }
}

/* ---- the scripted peer ---- */

static void put_ext(ep *e, uint8_t id, const sh_bbuf *pl)
{
    sh_wire_put_extended(&e->tx, id, pl->data, pl->len);
}

static void greet(net *n, ep *e)
{
    sh_wire_put_handshake(&e->tx, SH_RSV_EXTENSION | SH_RSV_FAST, n->wire_hash,
                          (const uint8_t *)"-XX0001-scripted0000");
    e->tx.data[e->tx.len - 1] = (uint8_t)('a' + (e - n->eps)); /* one peer id each */
    sh_ext_hs h;
    memset(&h, 0, sizeof h);
    h.ut_metadata = e->b == NO_UT_METADATA ? 0 : FAKE_MD_ID;
    h.metadata_size = e->claim;
    snprintf(h.client, sizeof h.client, "scripted");
    sh_bbuf pl;
    sh_bbuf_init(&pl);
    sh_ext_hs_encode(&pl, &h);
    put_ext(e, 0, &pl);
    sh_bbuf_free(&pl);
    sh_wire_put_simple(&e->tx, SH_MSG_HAVE_ALL);
}

static void send_data(ep *e, uint32_t piece, const uint8_t *src, size_t size, int64_t total,
                      int cut)
{
    sh_bbuf pl;
    sh_bbuf_init(&pl);
    uint32_t len = sh_md_piece_len(size, piece);
    sh_md_encode(&pl, SH_MD_DATA, piece, total, src + (size_t)piece * SH_MD_PIECE, len - cut);
    put_ext(e, e->their_md, &pl);
    sh_bbuf_free(&pl);
    e->sent_data++;
}

static void answer(ep *e, const sh_md_msg *m)
{
    e->requests++;
    int64_t claim = e->claim;
    switch (e->b) {
    case HONEST:
        send_data(e, m->piece, e->meta, e->meta_len, claim, 0);
        break;
    case WRONG_BYTES:
    case LIAR_SIZE:
        send_data(e, m->piece, e->junk, (size_t)claim, claim, 0);
        break;
    case WRONG_LEN:
        send_data(e, m->piece, e->meta, e->meta_len, claim, 1);
        break;
    case TOTAL_MISMATCH:
        send_data(e, m->piece, e->meta, e->meta_len, claim + 1, 0);
        break;
    case ENDLESS: /* pieces past the end, nobody asked for */
        for (uint32_t k = 0; k < 4; k++) {
            sh_bbuf pl;
            sh_bbuf_init(&pl);
            sh_md_encode(&pl, SH_MD_DATA, sh_md_pieces(e->meta_len) + e->sent_data++, claim,
                         e->junk, SH_MD_PIECE);
            put_ext(e, e->their_md, &pl);
            sh_bbuf_free(&pl);
        }
        break;
    case REFUSE: {
        sh_bbuf pl;
        sh_bbuf_init(&pl);
        sh_md_encode(&pl, SH_MD_REJECT, m->piece, -1, NULL, 0);
        put_ext(e, e->their_md, &pl);
        sh_bbuf_free(&pl);
        break;
    }
    default:
        break;
    }
}

static void scripted_recv(net *n, ep *e, const uint8_t *p, size_t len)
{
    size_t off = 0;
    for (;;) {
        size_t used;
        bool is_hs;
        sh_handshake hs;
        sh_msg m;
        int r = sh_wire_decode(e->dec, p + off, len - off, &used, &is_hs, &hs, &m, NULL);
        off += used;
        assert_true(r >= 0); /* the fetcher only sends well-formed messages */
        if (r == 0) return;
        if (is_hs) {
            assert_memory_equal(hs.info_hash, n->wire_hash, 20);
            assert_true(hs.flags & SH_RSV_EXTENSION);
            greet(n, e);
            continue;
        }
        if (m.id == SH_MSG_BITFIELD) fail_msg("a fetcher without metadata sent a bitfield");
        if (m.id == SH_MSG_EXTENDED && m.ext_id == 0) {
            sh_ext_hs h;
            assert_int_equal(sh_ext_hs_parse(m.data.ptr, m.data.len, &h, NULL), 0);
            assert_int_equal(h.ut_metadata, SH_EXT_ID_METADATA);
            assert_int_equal(h.metadata_size, -1); /* it has none to offer */
            assert_int_equal(h.port, 6881);
            e->their_md = h.ut_metadata;
            continue;
        }
        if (m.id != SH_MSG_EXTENDED || m.ext_id != FAKE_MD_ID) continue;
        sh_md_msg md;
        assert_int_equal(sh_md_parse(m.data.ptr, m.data.len, &md, NULL), 0);
        assert_int_equal(md.type, SH_MD_REQUEST);
        answer(e, &md);
    }
}

/* ---- the loop ---- */

static ep *ep_of_conn(net *n, sh_conn_id c)
{
    for (uint32_t i = 0; i < n->neps; i++)
        if (n->eps[i].open && n->eps[i].fc == c) return &n->eps[i];
    return NULL;
}

static void ep_close(ep *e)
{
    e->open = false;
    if (e->sw) sh_swarm_closed(e->sw, e->sc, SH_ECLOSED, 0);
}

static void connect_ep(net *n, const sh_action *a)
{
    ep *e = NULL;
    for (uint32_t i = 0; i < n->neps; i++)
        if (sh_addr_eq(&n->eps[i].addr, &a->addr) && !n->eps[i].open) e = &n->eps[i];
    if (!e || e->refused_dial) {
        sh_metafetch_closed(n->f, a->conn, SH_ECLOSED, n->now);
        return;
    }
    e->open = true;
    e->fc = a->conn;
    if (e->sw) {
        sh_addr from = {.family = 4, .ip = {127, 0, 0, 1}, .port = 40000};
        e->sc = sh_swarm_accept(e->sw, &from, n->now);
        assert_true(e->sc != 0);
    } else {
        sh_wire_dec_free(e->dec);
        sh_wire_limits lim = {.max_block = SH_WIRE_BLOCK, .max_msg = SH_WIRE_MAX_MSG};
        assert_int_equal(sh_wire_dec_new(&lim, &e->dec), 0);
        e->tx.len = 0;
    }
    sh_metafetch_connected(n->f, a->conn, n->now);
}

static void drain_fetcher(net *n)
{
    sh_action a;
    while (sh_metafetch_next_action(n->f, &a)) {
        if (a.type == SH_ACT_CONNECT) {
            connect_ep(n, &a);
        } else if (a.type == SH_ACT_CLOSE) {
            if (a.reason < 0 && a.reason > -32) n->closes[-a.reason]++;
            ep *e = ep_of_conn(n, a.conn);
            if (e) ep_close(e);
            sh_metafetch_closed(n->f, a.conn, a.reason, n->now);
        } else if (a.type == SH_ACT_COMPLETE) {
            n->complete = true;
        }
    }
}

static void drain_swarm(net *n, ep *e)
{
    sh_action a;
    while (sh_swarm_next_action(e->sw, &a)) {
        if (a.type == SH_ACT_CLOSE && a.conn == e->sc && e->open) {
            e->open = false;
            sh_swarm_closed(e->sw, e->sc, a.reason, n->now);
            sh_metafetch_closed(n->f, e->fc, SH_ECLOSED, n->now);
        }
    }
}

/* Moves every pending byte once in each direction; true if any moved. */
static bool pump(net *n)
{
    bool moved = false;
    for (uint32_t i = 0; i < n->neps; i++) {
        ep *e = &n->eps[i];
        if (!e->open) continue;
        sh_seg segs[8];
        size_t ns;
        while (e->open && (ns = sh_metafetch_out(n->f, e->fc, segs, 8)) > 0) {
            size_t tot = 0;
            for (size_t k = 0; k < ns; k++) {
                assert_int_equal(segs[k].kind, SH_SEG_BYTES);
                if (e->sw)
                    sh_swarm_recv(e->sw, e->sc, segs[k].ptr, segs[k].len, n->now);
                else
                    scripted_recv(n, e, segs[k].ptr, segs[k].len);
                tot += segs[k].len;
            }
            sh_metafetch_sent(n->f, e->fc, tot, n->now);
            moved = true;
            if (e->sw) drain_swarm(n, e);
        }
        if (!e->open) continue;
        if (e->sw) {
            while (e->open && (ns = sh_swarm_out(e->sw, e->sc, segs, 8)) > 0) {
                size_t tot = 0;
                for (size_t k = 0; k < ns; k++) {
                    assert_int_equal(segs[k].kind, SH_SEG_BYTES); /* no payload: no requests */
                    tot += segs[k].len;
                }
                uint8_t *buf = malloc(tot);
                size_t o = 0;
                for (size_t k = 0; k < ns; k++)
                    memcpy(buf + o, segs[k].ptr, segs[k].len), o += segs[k].len;
                sh_swarm_sent(e->sw, e->sc, tot, n->now);
                sh_metafetch_recv(n->f, e->fc, buf, tot, n->now);
                free(buf);
                moved = true;
                drain_swarm(n, e);
            }
        } else if (e->tx.len) {
            size_t len = e->tx.len;
            uint8_t *buf = malloc(len);
            memcpy(buf, e->tx.data, len);
            e->tx.len = 0;
            sh_metafetch_recv(n->f, e->fc, buf, len, n->now);
            free(buf);
            moved = true;
        }
        drain_fetcher(n);
    }
    drain_fetcher(n);
    return moved;
}

/* Runs until the fetch finishes or virtual time passes `secs` more seconds. */
static bool run(net *n, double secs)
{
    sh_time until = n->now + (sh_time)(secs * 1e9);
    drain_fetcher(n);
    for (int guard = 0; guard < 1000000 && !n->complete; guard++) {
        if (pump(n)) continue;
        sh_time d = sh_metafetch_next_deadline(n->f);
        for (uint32_t i = 0; i < n->neps; i++)
            if (n->eps[i].sw && sh_swarm_next_deadline(n->eps[i].sw) < d)
                d = sh_swarm_next_deadline(n->eps[i].sw);
        if (d == SH_TIME_NEVER || d > until) break;
        if (d > n->now) n->now = d;
        sh_metafetch_on_timer(n->f, n->now);
        if (sh_metafetch_next_deadline(n->f) <= n->now)
            fail_msg("fetcher deadline still due right after on_timer");
        for (uint32_t i = 0; i < n->neps; i++)
            if (n->eps[i].sw) {
                sh_swarm_on_timer(n->eps[i].sw, n->now);
                drain_swarm(n, &n->eps[i]);
            }
        drain_fetcher(n);
    }
    return n->complete;
}

static sh_metafetch_stats stats(const net *n)
{
    sh_metafetch_stats st;
    sh_metafetch_get_stats(n->f, &st);
    return st;
}

static void expect_info(const net *n, const uint8_t *meta, size_t len)
{
    sh_metafetch_stats st = stats(n);
    assert_int_equal(st.state, SH_MF_DONE);
    size_t got = 0;
    const uint8_t *info = sh_metafetch_info(n->f, &got);
    assert_non_null(info);
    assert_int_equal(got, len);
    assert_memory_equal(info, meta, len);
}

/* ---- fixtures ---- */

static hn_torrent T; /* 2000 small files: an info dictionary of several 16 KiB pieces */

static int setup(void **st)
{
    (void)st;
    uint64_t *f = malloc(2000 * sizeof *f);
    for (int i = 0; i < 2000; i++)
        f[i] = 100 + (uint64_t)i;
    int rc = hn_torrent_make(&T, SH_META_HYBRID, 16 * 1024, f, 2000, 77);
    free(f);
    return rc;
}

static int teardown(void **st)
{
    (void)st;
    hn_torrent_free(&T);
    return 0;
}

static sh_metafetch_config cfg_v1(const sh_metainfo *mi)
{
    sh_metafetch_config c = {.has_v1 = true};
    memcpy(c.btih, mi->info_hash_v1, 20);
    return c;
}

/* ---- tests ---- */

static void test_honest_peer(void **st)
{
    (void)st;
    const sh_metainfo *mi = T.mi;
    assert_true(sh_md_pieces(mi->info_len) >= 4);
    sh_metafetch_config c = cfg_v1(mi);
    c.has_v2 = true; /* both hashes are checked */
    memcpy(c.btmh, mi->info_hash_v2, 32);
    net n;
    net_init(&n, &c);
    ep *e = add_ep(&n, HONEST, mi->info, mi->info_len);
    tell(&n, e);
    assert_true(run(&n, 30));
    expect_info(&n, mi->info, mi->info_len);
    assert_int_equal(e->requests, sh_md_pieces(mi->info_len));
    sh_metafetch_stats s = stats(&n);
    assert_int_equal(s.pieces_have, s.pieces);
    assert_int_equal(s.size, mi->info_len);
    sh_addr peers[4];
    assert_int_equal(sh_metafetch_peers(n.f, peers, 4), 1);
    assert_true(sh_addr_eq(&peers[0], &e->addr));
    net_free(&n);
}

static void test_wrong_bytes_then_honest(void **st)
{
    (void)st;
    const sh_metainfo *mi = T.mi;
    sh_metafetch_config c = cfg_v1(mi);
    net n;
    net_init(&n, &c);
    ep *bad = add_ep(&n, WRONG_BYTES, mi->info, mi->info_len);
    tell(&n, bad);
    assert_false(run(&n, 5)); /* alone, it cannot deliver */
    sh_metafetch_stats s = stats(&n);
    assert_int_equal(s.banned, 1);
    assert_int_equal(n.closes[-SH_EHASH], 1);
    ep *good = add_ep(&n, HONEST, mi->info, mi->info_len);
    tell(&n, good);
    assert_true(run(&n, 30));
    expect_info(&n, mi->info, mi->info_len);
    sh_addr peers[4];
    size_t np = sh_metafetch_peers(n.f, peers, 4);
    assert_int_equal(np, 1); /* the banned one is not passed on */
    assert_true(sh_addr_eq(&peers[0], &good->addr));
    net_free(&n);
}

/* Both at once: a mixed first attempt cannot say who lied; the careful
 * attempts that follow find out, and the honest peer is never banned. */
static void test_wrong_and_honest_together(void **st)
{
    (void)st;
    const sh_metainfo *mi = T.mi;
    for (int order = 0; order < 2; order++) {
        sh_metafetch_config c = cfg_v1(mi);
        net n;
        net_init(&n, &c);
        ep *bad, *good;
        if (order == 0) {
            bad = add_ep(&n, WRONG_BYTES, mi->info, mi->info_len);
            good = add_ep(&n, HONEST, mi->info, mi->info_len);
        } else {
            good = add_ep(&n, HONEST, mi->info, mi->info_len);
            bad = add_ep(&n, WRONG_BYTES, mi->info, mi->info_len);
        }
        tell(&n, &n.eps[0]);
        tell(&n, &n.eps[1]);
        assert_true(run(&n, 60));
        expect_info(&n, mi->info, mi->info_len);
        sh_addr peers[4];
        size_t np = sh_metafetch_peers(n.f, peers, 4);
        bool good_listed = false;
        for (size_t i = 0; i < np; i++)
            good_listed |= sh_addr_eq(&peers[i], &good->addr);
        assert_true(good_listed);
        assert_true(bad->requests > 0);
        net_free(&n);
    }
}

static void test_lying_size(void **st)
{
    (void)st;
    const sh_metainfo *mi = T.mi;
    sh_metafetch_config c = cfg_v1(mi);
    net n;
    net_init(&n, &c);
    ep *liar = add_ep(&n, LIAR_SIZE, mi->info, mi->info_len);
    ep *good = add_ep(&n, HONEST, mi->info, mi->info_len);
    tell(&n, liar);
    assert_false(run(&n, 1)); /* connects first: its size is tried first */
    tell(&n, good);
    assert_true(run(&n, 30));
    expect_info(&n, mi->info, mi->info_len);
    assert_true(liar->requests > 0);
    assert_int_equal(stats(&n).banned, 1);
    assert_false(good->refused_dial);
    net_free(&n);
}

static void one_bad_one_good(behaviour b, int want_reason, uint32_t want_closes)
{
    const sh_metainfo *mi = T.mi;
    sh_metafetch_config c = cfg_v1(mi);
    net n;
    net_init(&n, &c);
    ep *bad = add_ep(&n, b, mi->info, mi->info_len);
    tell(&n, bad);
    assert_false(run(&n, 25)); /* dropped; redialed 10 s later (back-off), dropped again */
    if (n.closes[-want_reason] != want_closes)
        fail_msg("behaviour %d: %u closes with %s, want %u", b, n.closes[-want_reason],
                 sh_errname(want_reason), want_closes);
    assert_false(bad->open);
    sh_metafetch_stats s = stats(&n);
    assert_int_equal(s.state, SH_MF_RUNNING);
    assert_true(s.size == 0 || s.size == mi->info_len); /* never an oversized buffer */
    ep *good = add_ep(&n, HONEST, mi->info, mi->info_len);
    tell(&n, good);
    assert_true(run(&n, 30));
    expect_info(&n, mi->info, mi->info_len);
    net_free(&n);
}

static void test_oversized(void **st)
{
    (void)st;
    one_bad_one_good(OVERSIZE, SH_EPROTO, 2);
}

static void test_endless_pieces(void **st)
{
    (void)st;
    one_bad_one_good(ENDLESS, SH_EPROTO, 2);
}

static void test_wrong_length(void **st)
{
    (void)st;
    one_bad_one_good(WRONG_LEN, SH_EPROTO, 2);
}

static void test_total_size_mismatch(void **st)
{
    (void)st;
    one_bad_one_good(TOTAL_MISMATCH, SH_EPROTO, 2);
}

static void test_silent(void **st)
{
    (void)st;
    one_bad_one_good(SILENT, SH_ETIMEOUT, 1); /* after 20 s; no redial before 30 s */
}

static void test_refusing(void **st)
{
    (void)st;
    one_bad_one_good(REFUSE, SH_EUNSUPPORTED, 2);
}

static void test_no_ut_metadata(void **st)
{
    (void)st;
    one_bad_one_good(NO_UT_METADATA, SH_EUNSUPPORTED, 2);
}

/* The right hash over bytes that are no info dictionary: nobody can do better. */
static void test_hash_ok_but_not_info(void **st)
{
    (void)st;
    static const char junk[] = "d3:fooi1ee";
    sh_metafetch_config c = {.has_v1 = true};
    sh_sha1(junk, sizeof junk - 1, c.btih);
    net n;
    net_init(&n, &c);
    ep *e = add_ep(&n, HONEST, (const uint8_t *)junk, sizeof junk - 1);
    tell(&n, e);
    assert_true(run(&n, 10));
    sh_metafetch_stats s = stats(&n);
    assert_int_equal(s.state, SH_MF_FAILED);
    assert_non_null(strstr(s.error_msg, "not a valid info dictionary"));
    assert_null(sh_metafetch_info(n.f, NULL));
    net_free(&n);
}

/* The btmh must match too: bytes with the right SHA-1 and a wrong SHA-256 are rejected. */
static void test_both_hashes_checked(void **st)
{
    (void)st;
    const sh_metainfo *mi = T.mi;
    sh_metafetch_config c = cfg_v1(mi);
    c.has_v2 = true;
    memcpy(c.btmh, mi->info_hash_v2, 32);
    c.btmh[5] ^= 1;
    net n;
    net_init(&n, &c);
    ep *e = add_ep(&n, HONEST, mi->info, mi->info_len);
    tell(&n, e);
    assert_false(run(&n, 10));
    assert_int_equal(stats(&n).banned, 1);
    net_free(&n);
}

/* ---- against real swarms ---- */

static void swarm_case(unsigned version, bool v1_hash, bool v2_hash)
{
    static const uint64_t f[] = {3 * 1024 * 1024, 5000};
    hn_torrent t;
    assert_int_equal(hn_torrent_make(&t, version, 16 * 1024, f, 2, 3), 0);
    const sh_metainfo *mi = t.mi;
    sh_metafetch_config c = {.has_v1 = v1_hash, .has_v2 = v2_hash};
    memcpy(c.btih, mi->info_hash_v1, 20);
    memcpy(c.btmh, mi->info_hash_v2, 32);
    net n;
    net_init(&n, &c);
    ep *e = add_swarm(&n, mi);
    tell(&n, e);
    assert_true(run(&n, 30));
    expect_info(&n, mi->info, mi->info_len);
    net_free(&n);
    hn_torrent_free(&t);
}

static void test_from_swarm_v1(void **st)
{
    (void)st;
    swarm_case(SH_META_V1, true, false);
}

static void test_from_swarm_v2_only(void **st)
{
    (void)st;
    swarm_case(SH_META_V2, false, true); /* the truncated v2 hash on the wire */
}

static void test_from_swarm_hybrid(void **st)
{
    (void)st;
    swarm_case(SH_META_HYBRID, true, true);
    swarm_case(SH_META_HYBRID, false, true); /* a hybrid answers to its v2 hash too */
}

/* ---- incoming connections ---- */

static void test_incoming(void **st)
{
    (void)st;
    const sh_metainfo *mi = T.mi;
    sh_metafetch_config c = cfg_v1(mi);
    net n;
    net_init(&n, &c);
    sh_addr from = {.family = 4, .ip = {127, 0, 0, 30}, .port = 50000};
    /* a handshake for another torrent is refused */
    sh_conn_id id = sh_metafetch_accept(n.f, &from, n.now);
    assert_true(id != 0);
    sh_bbuf b;
    sh_bbuf_init(&b);
    uint8_t other[20] = {1};
    sh_wire_put_handshake(&b, SH_RSV_EXTENSION, other, (const uint8_t *)"-XX0001-incoming0000");
    sh_metafetch_recv(n.f, id, b.data, b.len, n.now);
    drain_fetcher(&n);
    assert_int_equal(n.closes[-SH_EPROTO], 1);
    /* ours is accepted and answered; its "p" makes it a good candidate */
    sh_conn_id id2 = sh_metafetch_accept(n.f, &from, n.now);
    assert_true(id2 > id); /* ids are never reused */
    b.len = 0;
    sh_wire_put_handshake(&b, SH_RSV_EXTENSION, mi->info_hash_v1,
                          (const uint8_t *)"-XX0001-incoming0000");
    sh_ext_hs h;
    memset(&h, 0, sizeof h);
    h.ut_metadata = 3;
    h.has_port = true;
    h.port = 7777;
    h.metadata_size = (int64_t)mi->info_len;
    sh_bbuf pl;
    sh_bbuf_init(&pl);
    sh_ext_hs_encode(&pl, &h);
    sh_wire_put_extended(&b, 0, pl.data, pl.len);
    sh_bbuf_free(&pl);
    sh_metafetch_recv(n.f, id2, b.data, b.len, n.now);
    sh_bbuf_free(&b);
    drain_fetcher(&n);
    sh_seg segs[4];
    size_t ns = sh_metafetch_out(n.f, id2, segs, 4);
    assert_true(ns > 0);
    assert_true(segs[0].len >= SH_HANDSHAKE_LEN);
    assert_memory_equal(segs[0].ptr + 28, mi->info_hash_v1, 20);
    sh_metafetch_stats s = stats(&n);
    assert_int_equal(s.peers, 1);
    assert_int_equal(s.with_metadata, 1);
    sh_addr peers[2];
    assert_int_equal(sh_metafetch_peers(n.f, peers, 2), 1);
    assert_int_equal(peers[0].port, 7777);
    assert_int_equal(peers[0].ip[3], 30);
    net_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_peer),
        cmocka_unit_test(test_wrong_bytes_then_honest),
        cmocka_unit_test(test_wrong_and_honest_together),
        cmocka_unit_test(test_lying_size),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_endless_pieces),
        cmocka_unit_test(test_wrong_length),
        cmocka_unit_test(test_total_size_mismatch),
        cmocka_unit_test(test_silent),
        cmocka_unit_test(test_refusing),
        cmocka_unit_test(test_no_ut_metadata),
        cmocka_unit_test(test_hash_ok_but_not_info),
        cmocka_unit_test(test_both_hashes_checked),
        cmocka_unit_test(test_from_swarm_v1),
        cmocka_unit_test(test_from_swarm_v2_only),
        cmocka_unit_test(test_from_swarm_hybrid),
        cmocka_unit_test(test_incoming),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
