/*
 * wire_enc.c — peer-wire encoders: each appends one complete framed message
 * (big-endian length prefix, id, big-endian fields) to an sh_bbuf.
 *
 * Fixed-size messages are built in a stack array and appended with one call.
 * A variable message too long for the 32-bit prefix is a caller's mistake; it
 * appends nothing and sets the buffer's sticky error to SH_ELIMIT, so it is
 * caught by the same single check as an allocation failure.
 */
#include <shoal/bencode.h>
#include <shoal/wire.h>

#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends the 5-byte frame header (prefix + id) of a body of n bytes after the id. */
static bool put_head(sh_bbuf *b, uint8_t id, size_t n)
{
    if (n > UINT32_MAX - 1) {
        if (!b->err) b->err = SH_ELIMIT;
        return false;
    }
    uint8_t h[5];
    put32(h, (uint32_t)n + 1);
    h[4] = id;
    sh_bbuf_raw(b, h, 5);
    return b->err == 0;
}

void sh_wire_put_handshake(sh_bbuf *b, uint32_t flags, const uint8_t info_hash[20],
                           const uint8_t peer_id[20])
{
    uint8_t h[SH_HANDSHAKE_LEN] = {19};
    memcpy(h + 1, SH_PSTR, 19);
    if (flags & SH_RSV_EXTENSION) h[20 + 5] |= 0x10;
    if (flags & SH_RSV_FAST) h[20 + 7] |= 0x04;
    if (flags & SH_RSV_DHT) h[20 + 7] |= 0x01;
    if (flags & SH_RSV_V2) h[20 + 7] |= 0x10;
    memcpy(h + 28, info_hash, 20);
    memcpy(h + 48, peer_id, 20);
    sh_bbuf_raw(b, h, sizeof h);
}

void sh_wire_put_simple(sh_bbuf *b, sh_msg_id id)
{
    if (id == SH_MSG_KEEPALIVE) {
        static const uint8_t zero[4];
        sh_bbuf_raw(b, zero, 4);
        return;
    }
    put_head(b, (uint8_t)id, 0);
}

void sh_wire_put_have(sh_bbuf *b, sh_msg_id id, uint32_t piece)
{
    uint8_t m[9];
    put32(m, 5);
    m[4] = (uint8_t)id;
    put32(m + 5, piece);
    sh_bbuf_raw(b, m, sizeof m);
}

void sh_wire_put_bitfield(sh_bbuf *b, const uint8_t *bits, size_t len)
{
    if (put_head(b, SH_MSG_BITFIELD, len)) sh_bbuf_raw(b, bits, len);
}

static void put_triple(sh_bbuf *b, uint32_t len, uint8_t id, uint32_t x, uint32_t y, uint32_t z)
{
    uint8_t m[17];
    put32(m, len);
    m[4] = id;
    put32(m + 5, x);
    put32(m + 9, y);
    put32(m + 13, z);
    sh_bbuf_raw(b, m, sizeof m);
}

void sh_wire_put_request(sh_bbuf *b, sh_msg_id id, uint32_t piece, uint32_t offset, uint32_t length)
{
    put_triple(b, 13, (uint8_t)id, piece, offset, length);
}

/* The third field is the prefix's payload share: the block bytes follow by sendfile. */
void sh_wire_put_piece_header(sh_bbuf *b, uint32_t piece, uint32_t offset, uint32_t length)
{
    if (length > UINT32_MAX - 9) {
        if (!b->err) b->err = SH_ELIMIT;
        return;
    }
    uint8_t m[13];
    put32(m, 9 + length);
    m[4] = SH_MSG_PIECE;
    put32(m + 5, piece);
    put32(m + 9, offset);
    sh_bbuf_raw(b, m, sizeof m);
}

void sh_wire_put_port(sh_bbuf *b, uint16_t port)
{
    uint8_t m[7] = {0, 0, 0, 3, SH_MSG_PORT, (uint8_t)(port >> 8), (uint8_t)port};
    sh_bbuf_raw(b, m, sizeof m);
}

void sh_wire_put_extended(sh_bbuf *b, uint8_t ext_id, const uint8_t *payload, size_t len)
{
    if (len > UINT32_MAX - 2) {
        if (!b->err) b->err = SH_ELIMIT;
        return;
    }
    if (!put_head(b, SH_MSG_EXTENDED, len + 1)) return;
    sh_bbuf_raw(b, &ext_id, 1);
    sh_bbuf_raw(b, payload, len);
}

static void put_hashreq_fields(uint8_t *m, const sh_hashreq *h)
{
    memcpy(m, h->root, 32);
    put32(m + 32, h->base_layer);
    put32(m + 36, h->index);
    put32(m + 40, h->length);
    put32(m + 44, h->proof_layers);
}

void sh_wire_put_hashreq(sh_bbuf *b, sh_msg_id id, const sh_hashreq *h)
{
    uint8_t m[4 + 49];
    put32(m, 49);
    m[4] = (uint8_t)id;
    put_hashreq_fields(m + 5, h);
    sh_bbuf_raw(b, m, sizeof m);
}

void sh_wire_put_hashes(sh_bbuf *b, const sh_hashreq *h, const uint8_t *hashes, uint32_t n)
{
    if (n > (UINT32_MAX - 49) / 32) {
        if (!b->err) b->err = SH_ELIMIT;
        return;
    }
    uint8_t m[4 + 49];
    put32(m, 49 + 32 * n);
    m[4] = SH_MSG_HASHES;
    put_hashreq_fields(m + 5, h);
    sh_bbuf_raw(b, m, sizeof m);
    sh_bbuf_raw(b, hashes, (size_t)32 * n);
}

const char *sh_msg_name(sh_msg_id id)
{
    switch (id) {
    case SH_MSG_CHOKE:
        return "choke";
    case SH_MSG_UNCHOKE:
        return "unchoke";
    case SH_MSG_INTERESTED:
        return "interested";
    case SH_MSG_NOT_INTERESTED:
        return "not interested";
    case SH_MSG_HAVE:
        return "have";
    case SH_MSG_BITFIELD:
        return "bitfield";
    case SH_MSG_REQUEST:
        return "request";
    case SH_MSG_PIECE:
        return "piece";
    case SH_MSG_CANCEL:
        return "cancel";
    case SH_MSG_PORT:
        return "port";
    case SH_MSG_SUGGEST:
        return "suggest";
    case SH_MSG_HAVE_ALL:
        return "have all";
    case SH_MSG_HAVE_NONE:
        return "have none";
    case SH_MSG_REJECT:
        return "reject";
    case SH_MSG_ALLOWED_FAST:
        return "allowed fast";
    case SH_MSG_EXTENDED:
        return "extended";
    case SH_MSG_HASH_REQUEST:
        return "hash request";
    case SH_MSG_HASHES:
        return "hashes";
    case SH_MSG_HASH_REJECT:
        return "hash reject";
    case SH_MSG_KEEPALIVE:
        return "keep-alive";
    }
    return "unknown";
}
