/*
 * announce_udp.c — the UDP tracker protocol (BEP 15) as a codec for both
 * ends, and stateless connection ids.
 *
 * Packets are hostile: every read is preceded by a length check, numbers are
 * big-endian, an announce request may be longer than 98 bytes (BEP 41
 * options follow) and the extra bytes are ignored, the "ip" field is never
 * trusted (the datagram's source address is used). Answers carry peers of
 * one family only: 6-byte entries to IPv4 askers, 18-byte to IPv6 askers,
 * as BEP 15 says for trackers listening on both.
 *
 * Connection ids: BEP 15 wants an id that the client cannot forge for an
 * address it does not receive at, so a spoofed source cannot make the
 * tracker reflect big answers at a victim. Instead of a table of issued ids,
 * the id is SipHash-2-4 keyed by the server's secret over (client family,
 * ip, port, window number), with 60-second windows; the current and the
 * previous window are accepted, so an id lives between one and two minutes
 * and the server keeps nothing.
 */
#include "announce_int.h"

#include "siphash.h"

#include <stdlib.h>
#include <string.h>

#define HDR 8u /* action + transaction id */
#define CONNECT_LEN 16u
#define ANNOUNCE_LEN 98u
#define ANNOUNCE_REPLY_HDR 20u
#define WINDOW SH_SEC(60)

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- server: requests in ---- */

/* BEP 15 announce body after the 16-byte header; len >= 98 checked by the caller. */
static int decode_announce(const uint8_t *pkt, const sh_addr *remote, sh_announce_req *r)
{
    memcpy(r->info_hash, pkt + 16, 20);
    memcpy(r->peer_id, pkt + 36, 20);
    r->downloaded = get64(pkt + 56);
    r->left = get64(pkt + 64);
    r->uploaded = get64(pkt + 72);
    uint32_t ev = get32(pkt + 80);
    /* pkt + 84: the "ip" field, deliberately ignored */
    r->key = get32(pkt + 88);
    int32_t numwant = (int32_t)get32(pkt + 92);
    uint16_t port = (uint16_t)(pkt[96] << 8 | pkt[97]);
    if (ev > SH_TEV_STOPPED || port == 0) return SH_EPROTO;
    r->event = (sh_tevent)ev;
    if (numwant < 0)
        r->numwant = SH_NUMWANT_DEFAULT; /* -1 means "default" */
    else
        r->numwant = (uint32_t)numwant > SH_NUMWANT_MAX ? SH_NUMWANT_MAX : (uint32_t)numwant;
    sh_ann_unmap(remote, &r->addr);
    r->addr.port = port;
    r->compact = true;
    r->no_peer_id = true; /* a UDP answer has no room for them: the store need not copy them */
    r->want_v6 = r->addr.family == 6;
    return 0;
}

static int decode_scrape(const uint8_t *pkt, size_t len, sh_udp_msg *m, uint8_t (*buf)[20],
                         uint32_t max)
{
    size_t body = len - 16;
    if (body == 0 || body % 20) return SH_EPROTO;
    if (body / 20 > max) return SH_EPROTO;
    m->num_hashes = (uint32_t)(body / 20);
    if (m->num_hashes) memcpy(buf, pkt + 16, body);
    m->hashes = buf;
    return 0;
}

int sh_udp_request_decode(const uint8_t *pkt, size_t len, const sh_addr *remote, sh_udp_msg *out,
                          uint8_t (*hash_buf)[20], uint32_t hash_max)
{
    if (!remote || (remote->family != 4 && remote->family != 6)) return SH_EINVAL;
    if (!pkt || len < CONNECT_LEN) return SH_EPROTO;
    sh_udp_msg m;
    memset(&m, 0, sizeof m);
    m.conn_id = get64(pkt);
    m.action = get32(pkt + 8);
    m.txid = get32(pkt + 12);
    int rc = SH_EPROTO;
    if (m.action == SH_UDP_CONNECT) {
        rc = m.conn_id == SH_UDP_PROTOCOL_ID ? 0 : SH_EPROTO;
    } else if (m.action == SH_UDP_ANNOUNCE) {
        rc = len >= ANNOUNCE_LEN ? decode_announce(pkt, remote, &m.req) : SH_EPROTO;
    } else if (m.action == SH_UDP_SCRAPE) {
        rc = hash_buf ? decode_scrape(pkt, len, &m, hash_buf, hash_max) : SH_EINVAL;
    }
    if (rc) return rc;
    *out = m;
    return 0;
}

/* ---- server: answers out ---- */

size_t sh_udp_connect_reply(uint8_t *out, uint32_t txid, uint64_t conn_id)
{
    put32(out, SH_UDP_CONNECT);
    put32(out + 4, txid);
    put64(out + 8, conn_id);
    return CONNECT_LEN;
}

size_t sh_udp_announce_reply(uint8_t *out, size_t cap, uint32_t txid, const sh_announce_reply *r,
                             int family)
{
    if (cap < ANNOUNCE_REPLY_HDR || (family != 4 && family != 6)) return 0;
    put32(out, SH_UDP_ANNOUNCE);
    put32(out + 4, txid);
    put32(out + 8, r->interval);
    put32(out + 12, r->incomplete);
    put32(out + 16, r->complete);
    size_t o = ANNOUNCE_REPLY_HDR;
    /* BEP 23 compact entries written in place; one loop per family keeps
     * every copy a fixed size */
    for (uint32_t i = 0; family == 4 && i < r->num_peers && cap - o >= 6; i++) {
        const sh_addr *a = &r->peers[i].addr;
        if (a->family != 4) continue;
        memcpy(out + o, a->ip, 4);
        out[o + 4] = (uint8_t)(a->port >> 8);
        out[o + 5] = (uint8_t)a->port;
        o += 6;
    }
    for (uint32_t i = 0; family == 6 && i < r->num_peers && cap - o >= 18; i++) {
        const sh_addr *a = &r->peers[i].addr;
        if (a->family != 6) continue;
        memcpy(out + o, a->ip, 16);
        out[o + 16] = (uint8_t)(a->port >> 8);
        out[o + 17] = (uint8_t)a->port;
        o += 18;
    }
    return o;
}

size_t sh_udp_scrape_reply(uint8_t *out, size_t cap, uint32_t txid, const sh_scrape_entry *e,
                           uint32_t n)
{
    /* all or nothing: a client pairs the answers with its hashes by position */
    if (cap < HDR || (cap - HDR) / 12 < n) return 0;
    put32(out, SH_UDP_SCRAPE);
    put32(out + 4, txid);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *p = out + HDR + 12 * (size_t)i;
        put32(p, e[i].complete);
        put32(p + 4, e[i].downloaded);
        put32(p + 8, e[i].incomplete);
    }
    return HDR + 12 * (size_t)n;
}

size_t sh_udp_error_reply(uint8_t *out, size_t cap, uint32_t txid, const char *msg)
{
    if (cap < HDR) return 0;
    put32(out, SH_UDP_ERROR);
    put32(out + 4, txid);
    size_t n = strlen(msg);
    if (n > cap - HDR) n = cap - HDR;
    memcpy(out + HDR, msg, n);
    return HDR + n;
}

/* ---- client: requests out ---- */

size_t sh_udp_connect_request(uint8_t out[16], uint32_t txid)
{
    put64(out, SH_UDP_PROTOCOL_ID);
    put32(out + 8, SH_UDP_CONNECT);
    put32(out + 12, txid);
    return CONNECT_LEN;
}

size_t sh_udp_announce_request(uint8_t out[98], uint64_t conn_id, uint32_t txid,
                               const sh_announce_req *r)
{
    put64(out, conn_id);
    put32(out + 8, SH_UDP_ANNOUNCE);
    put32(out + 12, txid);
    memcpy(out + 16, r->info_hash, 20);
    memcpy(out + 36, r->peer_id, 20);
    put64(out + 56, r->downloaded);
    put64(out + 64, r->left);
    put64(out + 72, r->uploaded);
    /* BEP 21 "paused" has no UDP code: it travels as "none" */
    put32(out + 80, r->event <= SH_TEV_STOPPED ? (uint32_t)r->event : 0);
    put32(out + 84, 0); /* ip: let the tracker use the source address */
    put32(out + 88, r->key);
    put32(out + 92, r->numwant);
    out[96] = (uint8_t)(r->addr.port >> 8);
    out[97] = (uint8_t)r->addr.port;
    return ANNOUNCE_LEN;
}

/* ---- client: answers in ---- */

static int decode_peers(const uint8_t *p, size_t len, int family, sh_announce_reply *r)
{
    size_t each = family == 4 ? 6 : 18;
    if (len % each) return SH_EPROTO;
    size_t n = len / each;
    if (n > SH_ANN_MAX_PEERS) n = SH_ANN_MAX_PEERS;
    if (n == 0) return 0;
    r->peers = malloc(n * sizeof *r->peers);
    if (!r->peers) return SH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        sh_tpeer *t = &r->peers[r->num_peers];
        memset(t, 0, sizeof *t);
        if (sh_addr_from_compact(p + i * each, each, &t->addr) == 0 && t->addr.port) r->num_peers++;
    }
    return 0;
}

static int decode_answer(const uint8_t *pkt, size_t len, uint32_t action, int family,
                         uint64_t *conn_id, sh_announce_reply *r)
{
    switch (action) {
    case SH_UDP_CONNECT:
        if (len < CONNECT_LEN) return SH_EPROTO;
        *conn_id = get64(pkt + 8);
        return 0;
    case SH_UDP_ANNOUNCE:
        if (len < ANNOUNCE_REPLY_HDR) return SH_EPROTO;
        r->interval = get32(pkt + 8);
        r->incomplete = get32(pkt + 12);
        r->complete = get32(pkt + 16);
        return decode_peers(pkt + ANNOUNCE_REPLY_HDR, len - ANNOUNCE_REPLY_HDR, family, r);
    case SH_UDP_SCRAPE: /* the first torrent's counts, for a one-hash scrape */
        if (len < HDR + 12) return SH_EPROTO;
        r->complete = get32(pkt + 8);
        r->downloaded = get32(pkt + 12);
        r->incomplete = get32(pkt + 16);
        return 0;
    case SH_UDP_ERROR:
        sh_ann_copy_text(r->failure, sizeof r->failure, pkt + HDR, len - HDR);
        if (!r->failure[0]) memcpy(r->failure, "error", 6);
        return SH_ETRACKER;
    default:
        return SH_EPROTO;
    }
}

int sh_udp_reply_decode(const uint8_t *pkt, size_t len, uint32_t txid, int family, uint32_t *action,
                        uint64_t *conn_id, sh_announce_reply *out)
{
    if (!pkt || len < HDR || (family != 4 && family != 6)) return SH_EPROTO;
    uint32_t act = get32(pkt);
    if (get32(pkt + 4) != txid) return SH_EPROTO;
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    uint64_t cid = 0;
    int rc = decode_answer(pkt, len, act, family, &cid, &r);
    if (rc != 0 && rc != SH_ETRACKER) return rc;
    *action = act;
    if (act == SH_UDP_CONNECT && conn_id) *conn_id = cid;
    if (out && act != SH_UDP_CONNECT)
        *out = r;
    else
        sh_announce_reply_free(&r);
    return rc;
}

/* ---- stateless connection ids ---- */

/* Key material only: the byte order need not be fixed, just the same. */
static uint64_t word64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* SipHash-2-4 is a pseudo-random function under its 128-bit key: without
 * the key an id cannot be predicted for another address or window, which is
 * all BEP 15 asks, at about a twentieth of a SHA-256's cost. The 32-byte
 * secret is folded into the key, so every byte of it counts. */
static uint64_t conn_id_at(const uint8_t secret[32], const sh_addr *client, uint64_t window)
{
    sh_sipkey k = {word64(secret) ^ word64(secret + 16), word64(secret + 8) ^ word64(secret + 24)};
    uint8_t in[1 + 16 + 2 + 8] = {client->family};
    memcpy(in + 1, client->ip, client->family == 4 ? 4 : 16);
    in[17] = (uint8_t)(client->port >> 8);
    in[18] = (uint8_t)client->port;
    put64(in + 19, window);
    return sh_siphash(&k, in, sizeof in);
}

uint64_t sh_udp_conn_id(const uint8_t secret[32], const sh_addr *client, sh_time now)
{
    return conn_id_at(secret, client, now / WINDOW);
}

bool sh_udp_conn_id_ok(const uint8_t secret[32], const sh_addr *client, uint64_t id, sh_time now)
{
    uint64_t w = now / WINDOW;
    /* no early exit on the first window: both are always computed */
    uint64_t a = conn_id_at(secret, client, w) ^ id;
    uint64_t b = w > 0 ? conn_id_at(secret, client, w - 1) ^ id : ~0ull;
    return a == 0 || b == 0;
}
