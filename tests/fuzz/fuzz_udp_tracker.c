/*
 * fuzz_udp_tracker.c — both ends of BEP 15 on arbitrary datagrams.
 *
 * Server: a request decodes or is refused with SH_EPROTO; an accepted
 * announce re-encoded by the client codec decodes to the same request, and
 * a scrape never names more hashes than allowed. Client: an answer decodes
 * or is refused with a documented code; accepted peers are capped at 2000,
 * and re-encoding an announce answer gives the same peers back.
 */
#include <shoal/announce.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void server(const uint8_t *data, size_t size, const sh_addr *remote)
{
    uint8_t hashes[16][20];
    sh_udp_msg m;
    int rc = sh_udp_request_decode(data, size, remote, &m, hashes, 16);
    if (rc != 0) {
        CHECK(rc == SH_EPROTO);
        return;
    }
    CHECK(size >= 16 && m.action <= SH_UDP_SCRAPE);
    if (m.action == SH_UDP_SCRAPE) CHECK(m.num_hashes >= 1 && m.num_hashes <= 16);
    if (m.action != SH_UDP_ANNOUNCE) return;
    CHECK(size >= 98 && m.req.numwant <= SH_NUMWANT_MAX && m.req.addr.port != 0);
    uint8_t pkt[98];
    sh_announce_req r = m.req;
    sh_udp_announce_request(pkt, m.conn_id, m.txid, &r);
    sh_udp_msg b;
    CHECK(sh_udp_request_decode(pkt, sizeof pkt, remote, &b, hashes, 16) == 0);
    CHECK(b.conn_id == m.conn_id && b.txid == m.txid);
    CHECK(memcmp(b.req.info_hash, r.info_hash, 20) == 0 && b.req.left == r.left);
    CHECK(b.req.event == r.event && b.req.key == r.key && sh_addr_eq(&b.req.addr, &r.addr));
    CHECK(b.req.numwant == r.numwant);
}

static void client(const uint8_t *data, size_t size, int family)
{
    uint32_t txid = size >= 8 ? (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
                                    (uint32_t)data[6] << 8 | data[7]
                              : 0;
    uint32_t action = 99;
    uint64_t cid = 0;
    sh_announce_reply r;
    int rc = sh_udp_reply_decode(data, size, txid, family, &action, &cid, &r);
    if (rc != 0 && rc != SH_ETRACKER) {
        CHECK(rc == SH_EPROTO || rc == SH_ENOMEM);
        CHECK(action == 99);
        return;
    }
    CHECK(action <= SH_UDP_ERROR && (rc == SH_ETRACKER) == (action == SH_UDP_ERROR));
    if (action == SH_UDP_CONNECT) return;
    CHECK(r.num_peers <= 2000 && memchr(r.failure, 0, sizeof r.failure));
    if (action == SH_UDP_ANNOUNCE) {
        size_t cap = 20 + 18 * (size_t)r.num_peers;
        uint8_t *out = malloc(cap);
        CHECK(out != NULL);
        size_t n = sh_udp_announce_reply(out, cap, txid, &r, family);
        sh_announce_reply b;
        CHECK(sh_udp_reply_decode(out, n, txid, family, &action, &cid, &b) == 0);
        CHECK(b.num_peers == r.num_peers && b.interval == r.interval);
        for (uint32_t i = 0; i < r.num_peers; i++)
            CHECK(sh_addr_eq(&b.peers[i].addr, &r.peers[i].addr));
        sh_announce_reply_free(&b);
        free(out);
    }
    sh_announce_reply_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sh_addr v4 = {.family = 4, .ip = {10, 0, 0, 1}, .port = 9};
    static const sh_addr v6 = {.family = 6, .ip = {0xfd, [15] = 1}, .port = 9};
    server(data, size, &v4);
    server(data, size, &v6);
    client(data, size, 4);
    client(data, size, 6);
    return 0;
}
