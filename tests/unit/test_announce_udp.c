/*
 * test_announce_udp.c — the BEP 15 codec both ways (requests and answers
 * round trip, every truncation is refused) and stateless connection ids.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/announce.h>
#include <shoal/rng.h>

static const sh_addr remote4 = {.family = 4, .ip = {192, 0, 2, 1}, .port = 5555};
static const sh_addr remote6 = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 9}, .port = 1};

static sh_announce_req client_req(void)
{
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 20; i++) {
        r.info_hash[i] = (uint8_t)(0xf0 + i);
        r.peer_id[i] = (uint8_t)i;
    }
    r.addr.port = 6881;
    r.uploaded = 0x0102030405060708ull;
    r.downloaded = 77;
    r.left = UINT64_MAX - 1;
    r.event = SH_TEV_COMPLETED;
    r.numwant = 30;
    r.key = 0xcafef00d;
    return r;
}

static int srv_decode(const uint8_t *p, size_t len, const sh_addr *from, sh_udp_msg *m)
{
    static uint8_t hashes[8][20];
    return sh_udp_request_decode(p, len, from, m, hashes, 8);
}

static void test_connect(void **st)
{
    (void)st;
    uint8_t pkt[16];
    assert_int_equal(sh_udp_connect_request(pkt, 0x11223344), 16);
    sh_udp_msg m;
    assert_int_equal(srv_decode(pkt, 16, &remote4, &m), 0);
    assert_int_equal(m.action, SH_UDP_CONNECT);
    assert_int_equal(m.txid, 0x11223344);
    for (size_t len = 0; len < 16; len++)
        assert_int_equal(srv_decode(pkt, len, &remote4, &m), SH_EPROTO);
    pkt[0] ^= 1; /* wrong protocol id */
    assert_int_equal(srv_decode(pkt, 16, &remote4, &m), SH_EPROTO);

    uint8_t ans[16];
    assert_int_equal(sh_udp_connect_reply(ans, 0x11223344, 0xa1b2c3d4e5f60718ull), 16);
    uint32_t action = 99;
    uint64_t cid = 0;
    assert_int_equal(sh_udp_reply_decode(ans, 16, 0x11223344, 4, &action, &cid, NULL), 0);
    assert_int_equal(action, SH_UDP_CONNECT);
    assert_true(cid == 0xa1b2c3d4e5f60718ull);
    for (size_t len = 0; len < 16; len++) {
        cid = 5;
        assert_int_equal(sh_udp_reply_decode(ans, len, 0x11223344, 4, &action, &cid, NULL),
                         SH_EPROTO);
        assert_true(cid == 5);
    }
    assert_int_equal(sh_udp_reply_decode(ans, 16, 0x11223345, 4, &action, &cid, NULL), SH_EPROTO);
}

static void test_announce_request(void **st)
{
    (void)st;
    sh_announce_req r = client_req();
    uint8_t pkt[120];
    assert_int_equal(sh_udp_announce_request(pkt, 0x0badc0de0badc0deull, 7, &r), 98);
    sh_udp_msg m;
    assert_int_equal(srv_decode(pkt, 98, &remote4, &m), 0);
    assert_int_equal(m.action, SH_UDP_ANNOUNCE);
    assert_int_equal(m.txid, 7);
    assert_true(m.conn_id == 0x0badc0de0badc0deull);
    assert_memory_equal(m.req.info_hash, r.info_hash, 20);
    assert_memory_equal(m.req.peer_id, r.peer_id, 20);
    assert_true(m.req.uploaded == r.uploaded && m.req.downloaded == 77);
    assert_true(m.req.left == UINT64_MAX - 1);
    assert_int_equal(m.req.event, SH_TEV_COMPLETED);
    assert_int_equal(m.req.numwant, 30);
    assert_int_equal(m.req.key, 0xcafef00d);
    assert_int_equal(m.req.addr.family, 4);
    assert_memory_equal(m.req.addr.ip, remote4.ip, 4);
    assert_int_equal(m.req.addr.port, 6881);
    assert_true(m.req.compact);
    assert_false(m.req.want_v6);

    /* an "ip" field is ignored; BEP 41 options after byte 98 are ignored */
    memcpy(pkt + 84, "\x06\x06\x06\x06", 4);
    memcpy(pkt + 98, "\x02\x05/anno", 7);
    assert_int_equal(srv_decode(pkt, 105, &remote6, &m), 0);
    assert_int_equal(m.req.addr.family, 6);
    assert_true(m.req.want_v6);
    assert_memory_equal(m.req.addr.ip, remote6.ip, 16);
    for (size_t len = 0; len < 98; len++)
        assert_int_equal(srv_decode(pkt, len, &remote4, &m), SH_EPROTO);

    /* numwant: -1 → default, huge → capped, 0 stays 0 */
    struct {
        uint32_t wire, want;
    } nw[] = {{0xffffffffu, SH_NUMWANT_DEFAULT},
              {0x80000000u, SH_NUMWANT_DEFAULT},
              {1000000000u, SH_NUMWANT_MAX},
              {0, 0},
              {200, 200}};
    for (size_t i = 0; i < sizeof nw / sizeof nw[0]; i++) {
        r.numwant = nw[i].wire;
        sh_udp_announce_request(pkt, 1, 7, &r);
        assert_int_equal(srv_decode(pkt, 98, &remote4, &m), 0);
        assert_int_equal(m.req.numwant, nw[i].want);
    }
    r = client_req();
    sh_udp_announce_request(pkt, 1, 7, &r);
    pkt[83] = 4; /* event 4 does not exist in BEP 15 */
    assert_int_equal(srv_decode(pkt, 98, &remote4, &m), SH_EPROTO);
    r.addr.port = 0;
    sh_udp_announce_request(pkt, 1, 7, &r);
    assert_int_equal(srv_decode(pkt, 98, &remote4, &m), SH_EPROTO);
    r = client_req();
    r.event = SH_TEV_PAUSED; /* no UDP code: sent as none */
    sh_udp_announce_request(pkt, 1, 7, &r);
    assert_int_equal(srv_decode(pkt, 98, &remote4, &m), 0);
    assert_int_equal(m.req.event, SH_TEV_NONE);
    pkt[11] = 9; /* unknown action */
    assert_int_equal(srv_decode(pkt, 98, &remote4, &m), SH_EPROTO);
    assert_int_equal(sh_udp_request_decode(pkt, 98, NULL, &m, NULL, 0), SH_EINVAL);
}

static void test_scrape_request(void **st)
{
    (void)st;
    uint8_t pkt[16 + 9 * 20];
    memset(pkt, 0, sizeof pkt);
    pkt[11] = SH_UDP_SCRAPE;
    for (int i = 0; i < 9 * 20; i++)
        pkt[16 + i] = (uint8_t)i;
    sh_udp_msg m;
    assert_int_equal(srv_decode(pkt, 16 + 2 * 20, &remote4, &m), 0);
    assert_int_equal(m.num_hashes, 2);
    assert_memory_equal(m.hashes[1], pkt + 36, 20);
    assert_int_equal(srv_decode(pkt, 16 + 8 * 20, &remote4, &m), 0);
    assert_int_equal(m.num_hashes, 8);
    assert_int_equal(srv_decode(pkt, 16 + 9 * 20, &remote4, &m), SH_EPROTO); /* > hash_max */
    assert_int_equal(srv_decode(pkt, 16, &remote4, &m), SH_EPROTO);          /* none */
    for (size_t len = 17; len < 36; len++)
        assert_int_equal(srv_decode(pkt, len, &remote4, &m), SH_EPROTO);

    sh_scrape_entry e[2] = {{.complete = 1, .downloaded = 2, .incomplete = 3},
                            {.complete = 4, .downloaded = 5, .incomplete = 6}};
    uint8_t ans[64];
    assert_int_equal(sh_udp_scrape_reply(ans, sizeof ans, 3, e, 2), 32);
    assert_int_equal(sh_udp_scrape_reply(ans, 31, 3, e, 2), 0); /* all or nothing */
    sh_announce_reply r;
    uint32_t action;
    assert_int_equal(sh_udp_reply_decode(ans, 32, 3, 4, &action, NULL, &r), 0);
    assert_int_equal(action, SH_UDP_SCRAPE);
    assert_int_equal(r.complete, 1);
    assert_int_equal(r.downloaded, 2);
    assert_int_equal(r.incomplete, 3);
    for (size_t len = 0; len < 20; len++)
        assert_int_equal(sh_udp_reply_decode(ans, len, 3, 4, &action, NULL, &r), SH_EPROTO);
}

static void test_announce_reply(void **st)
{
    (void)st;
    sh_tpeer p[4];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 4; i++) {
        p[i].addr.family = i % 2 ? 6 : 4;
        p[i].addr.ip[0] = (uint8_t)(10 + i);
        p[i].addr.ip[3] = (uint8_t)i;
        p[i].addr.port = (uint16_t)(1000 + i);
    }
    sh_announce_reply in;
    memset(&in, 0, sizeof in);
    in.interval = 30;
    in.complete = 5;
    in.incomplete = 6;
    in.peers = p;
    in.num_peers = 4;
    for (int fam = 4; fam <= 6; fam += 2) {
        uint8_t ans[256];
        size_t n = sh_udp_announce_reply(ans, sizeof ans, 42, &in, fam);
        size_t each = fam == 4 ? 6 : 18;
        assert_int_equal(n, 20 + 2 * each);
        sh_announce_reply out;
        uint32_t action;
        assert_int_equal(sh_udp_reply_decode(ans, n, 42, fam, &action, NULL, &out), 0);
        assert_int_equal(action, SH_UDP_ANNOUNCE);
        assert_int_equal(out.interval, 30);
        assert_int_equal(out.complete, 5);
        assert_int_equal(out.incomplete, 6);
        assert_int_equal(out.num_peers, 2);
        int first = fam == 4 ? 0 : 1;
        assert_true(sh_addr_eq(&out.peers[0].addr, &p[first].addr));
        assert_true(sh_addr_eq(&out.peers[1].addr, &p[first + 2].addr));
        sh_announce_reply_free(&out);
        /* every truncation of the header, and every misaligned tail, is refused */
        memset(&out, 0x33, sizeof out);
        for (size_t len = 0; len < n; len++) {
            int rc = sh_udp_reply_decode(ans, len, 42, fam, &action, NULL, &out);
            bool aligned = len >= 20 && (len - 20) % each == 0;
            if (aligned) {
                assert_int_equal(rc, 0);
                sh_announce_reply_free(&out);
                memset(&out, 0x33, sizeof out);
            } else {
                assert_int_equal(rc, SH_EPROTO);
            }
        }
        /* cap too small for every peer: the ones that fit */
        assert_int_equal(sh_udp_announce_reply(ans, 20 + each + 1, 42, &in, fam), 20 + each);
        assert_int_equal(sh_udp_announce_reply(ans, 19, 42, &in, fam), 0);
    }
}

static void test_error_reply(void **st)
{
    (void)st;
    uint8_t ans[64];
    size_t n = sh_udp_error_reply(ans, sizeof ans, 9, "bad\nconnection id");
    assert_int_equal(n, 8 + 17);
    sh_announce_reply out;
    uint32_t action = 0;
    assert_int_equal(sh_udp_reply_decode(ans, n, 9, 4, &action, NULL, &out), SH_ETRACKER);
    assert_int_equal(action, SH_UDP_ERROR);
    assert_string_equal(out.failure, "bad?connection id");
    assert_int_equal(out.num_peers, 0);
    assert_int_equal(sh_udp_error_reply(ans, 12, 9, "truncated"), 12);
    assert_int_equal(sh_udp_reply_decode(ans, 8, 9, 4, &action, NULL, &out), SH_ETRACKER);
    assert_string_equal(out.failure, "error");
    assert_int_equal(sh_udp_error_reply(ans, 7, 9, "x"), 0);
}

/* An answer stops at the last whole entry that fits cap, for either family. */
static void test_announce_reply_fits(void **st)
{
    (void)st;
    sh_tpeer p[8];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 8; i++) {
        p[i].addr.family = i < 4 ? 4 : 6;
        p[i].addr.ip[0] = (uint8_t)(10 + i);
        p[i].addr.ip[15] = (uint8_t)i;
        p[i].addr.port = (uint16_t)(0x1234 + i);
    }
    sh_announce_reply in;
    memset(&in, 0, sizeof in);
    in.peers = p;
    in.num_peers = 8;
    uint8_t ans[256];
    assert_int_equal(sh_udp_announce_reply(ans, 20 + 3 * 6 + 5, 1, &in, 4), 20 + 3 * 6);
    assert_int_equal(ans[20 + 2 * 6], 12);       /* the third IPv4 peer, */
    assert_int_equal(ans[20 + 2 * 6 + 4], 0x12); /* its port big-endian */
    assert_int_equal(ans[20 + 2 * 6 + 5], 0x36);
    assert_int_equal(sh_udp_announce_reply(ans, 20 + 2 * 18 + 17, 1, &in, 6), 20 + 2 * 18);
    assert_int_equal(ans[20 + 18], 15);     /* the second IPv6 peer, */
    assert_int_equal(ans[20 + 18 + 15], 5); /* its last address byte */
    assert_int_equal(ans[20 + 18 + 17], 0x39);
    assert_int_equal(sh_udp_announce_reply(ans, 19, 1, &in, 4), 0);
    assert_int_equal(sh_udp_announce_reply(ans, 20, 1, &in, 6), 20);
}

static void test_many_peers_capped(void **st)
{
    (void)st;
    size_t n = 20 + 3000 * 6;
    uint8_t *ans = calloc(1, n);
    ans[3] = SH_UDP_ANNOUNCE;
    for (size_t i = 20; i < n; i += 6)
        ans[i + 5] = 1; /* port 1 */
    sh_announce_reply out;
    uint32_t action;
    assert_int_equal(sh_udp_reply_decode(ans, n, 0, 4, &action, NULL, &out), 0);
    assert_int_equal(out.num_peers, 2000);
    sh_announce_reply_free(&out);
    free(ans);
}

static void test_conn_ids(void **st)
{
    (void)st;
    uint8_t secret[32], other[32];
    for (int i = 0; i < 32; i++) {
        secret[i] = (uint8_t)(i * 7 + 1);
        other[i] = secret[i];
    }
    other[31] ^= 1;
    sh_time t0 = SH_SEC(1000000);
    uint64_t id = sh_udp_conn_id(secret, &remote4, t0);
    assert_true(sh_udp_conn_id_ok(secret, &remote4, id, t0));
    assert_true(sh_udp_conn_id_ok(secret, &remote4, id, t0 + SH_SEC(61)));
    assert_false(sh_udp_conn_id_ok(secret, &remote4, id, t0 + SH_SEC(121)));
    assert_false(sh_udp_conn_id_ok(secret, &remote4, id, t0 - SH_SEC(60))); /* not yet issued */
    assert_false(sh_udp_conn_id_ok(other, &remote4, id, t0));
    sh_addr a = remote4;
    a.ip[3] ^= 1;
    assert_false(sh_udp_conn_id_ok(secret, &a, id, t0));
    a = remote4;
    a.port++;
    assert_false(sh_udp_conn_id_ok(secret, &a, id, t0));
    assert_false(sh_udp_conn_id_ok(secret, &remote6, id, t0));
    assert_true(sh_udp_conn_id(secret, &remote4, t0) == sh_udp_conn_id(secret, &remote4, t0 + 1));
    /* forged ids: random guesses never pass */
    sh_rng rng;
    sh_rng_seed(&rng, 1);
    for (int i = 0; i < 10000; i++)
        assert_false(sh_udp_conn_id_ok(secret, &remote4, sh_rng_next(&rng), t0));
    /* at time zero there is no previous window */
    uint64_t id0 = sh_udp_conn_id(secret, &remote6, 0);
    assert_true(sh_udp_conn_id_ok(secret, &remote6, id0, SH_SEC(59)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect),        cmocka_unit_test(test_announce_request),
        cmocka_unit_test(test_scrape_request), cmocka_unit_test(test_announce_reply),
        cmocka_unit_test(test_error_reply),    cmocka_unit_test(test_many_peers_capped),
        cmocka_unit_test(test_conn_ids),       cmocka_unit_test(test_announce_reply_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
