/*
 * wire.c — the incremental peer-wire decoder.
 *
 * A state machine fed arbitrary slices of a TCP stream: the 68-byte
 * handshake first, then length-prefixed messages. The length and the id are
 * checked the moment they arrive, before any byte of the body is buffered,
 * so a hostile prefix (0xFFFFFFFF, a 1 MiB "have") costs nothing. A body
 * lying whole in the caller's input is returned in place (zero-copy); a split
 * one is assembled in a buffer of exactly its size: an inline array for the
 * small fixed-size messages, else one heap buffer that is kept for reuse up
 * to the size of a piece message, so steady block traffic allocates nothing.
 *
 * Unknown message ids are skipped silently (consumed, never buffered, still
 * bounded by max_msg): BEP 3 peers may speak extensions we do not know, and
 * closing on them would cut us off from future clients.
 */
#include <shoal/wire.h>

#include <stdlib.h>
#include <string.h>

#define INLINE_BODY 64 /* every fixed-size message fits; the largest (hash request) is 49 */

enum state { ST_HANDSHAKE, ST_LEN, ST_ID, ST_BODY, ST_SKIP, ST_DEAD };

struct sh_wire_dec {
    sh_wire_limits lim;
    enum state st;
    uint8_t hs[SH_HANDSHAKE_LEN]; /* handshake bytes received so far */
    uint32_t nhs;
    uint8_t pfx[4]; /* length prefix bytes received so far */
    uint32_t npfx;
    uint32_t msg_len; /* body length (id + payload) of the current message */
    uint32_t have;    /* body bytes buffered (ST_BODY) or left to skip (ST_SKIP) */
    bool recycle;     /* a buffered body was handed out: release it on the next call */
    uint32_t vlen;    /* virtual payload: block length of the piece message being read */
    uint8_t inl[INLINE_BODY];
    uint8_t *heap;
    size_t heap_cap;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static sh_wire_limits fix_limits(const sh_wire_limits *lim)
{
    sh_wire_limits l = {.max_block = SH_WIRE_BLOCK, .max_msg = SH_WIRE_MAX_MSG};
    if (lim && lim->max_block) l.max_block = lim->max_block;
    if (lim && lim->max_msg) l.max_msg = lim->max_msg;
    if (lim) l.virtual_payload = lim->virtual_payload;
    return l;
}

int sh_wire_dec_new(const sh_wire_limits *lim, sh_wire_dec **out)
{
    sh_wire_dec *d = calloc(1, sizeof *d);
    if (!d) return SH_ENOMEM;
    d->lim = fix_limits(lim);
    d->st = ST_HANDSHAKE;
    *out = d;
    return 0;
}

void sh_wire_dec_free(sh_wire_dec *d)
{
    if (!d) return;
    free(d->heap);
    free(d);
}

/* Takes effect from the next message header; one being assembled keeps its checked length. */
void sh_wire_dec_set_limits(sh_wire_dec *d, const sh_wire_limits *lim)
{
    d->lim = fix_limits(lim);
}

size_t sh_wire_dec_buffered(const sh_wire_dec *d)
{
    switch (d->st) {
    case ST_HANDSHAKE:
        return d->nhs;
    case ST_LEN:
        return d->npfx;
    case ST_ID:
        return 4;
    case ST_BODY:
        return 4 + (size_t)d->have;
    default:
        return 0;
    }
}

/* The decoder is dead after any error: the stream position is lost for good. */
static int die(sh_wire_dec *d, int rc)
{
    d->st = ST_DEAD;
    free(d->heap);
    d->heap = NULL;
    d->heap_cap = 0;
    return rc;
}

/* ---- handshake ---- */

static void parse_handshake(const uint8_t *b, sh_handshake *hs)
{
    memcpy(hs->reserved, b + 20, 8);
    memcpy(hs->info_hash, b + 28, 20);
    memcpy(hs->peer_id, b + 48, 20);
    hs->flags = 0;
    if (hs->reserved[5] & 0x10) hs->flags |= SH_RSV_EXTENSION;
    if (hs->reserved[7] & 0x04) hs->flags |= SH_RSV_FAST;
    if (hs->reserved[7] & 0x01) hs->flags |= SH_RSV_DHT;
    if (hs->reserved[7] & 0x10) hs->flags |= SH_RSV_V2;
}

/* Checks the protocol string as soon as its bytes arrive (an MSE stream fails on byte 0).
 * Returns the index of the first wrong byte, or 20 if bytes from..to are right. */
static uint32_t pstr_check(const uint8_t *b, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to && i < 20; i++) {
        uint8_t want = i == 0 ? 19 : (uint8_t)SH_PSTR[i - 1];
        if (b[i] != want) return i;
    }
    return 20;
}

static int feed_handshake(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *pos,
                          sh_handshake *hs, sh_errinfo *ei)
{
    uint32_t old = d->nhs;
    size_t n = SH_HANDSHAKE_LEN - old;
    if (n > len) n = len;
    if (n) memcpy(d->hs + old, in, n); /* in may be NULL when len is 0 */
    d->nhs += (uint32_t)n;
    *pos = n;
    uint32_t bad = pstr_check(d->hs, old, d->nhs);
    if (bad < 20)
        return die(d, sh_errinfo_set(ei, SH_EPROTO, bad - old,
                                     "not a BitTorrent handshake (byte %u is 0x%02x)", bad,
                                     d->hs[bad]));
    if (d->nhs < SH_HANDSHAKE_LEN) return 0;
    parse_handshake(d->hs, hs);
    d->st = ST_LEN;
    return 1;
}

/* ---- message lengths ---- */

/* 1: known and well-sized; 0: unknown id (skip); -1: wrong length for the id. */
static int classify(const sh_wire_limits *lim, uint8_t id, uint32_t n)
{
    switch (id) {
    case SH_MSG_CHOKE:
    case SH_MSG_UNCHOKE:
    case SH_MSG_INTERESTED:
    case SH_MSG_NOT_INTERESTED:
    case SH_MSG_HAVE_ALL:
    case SH_MSG_HAVE_NONE:
        return n == 1 ? 1 : -1;
    case SH_MSG_HAVE:
    case SH_MSG_SUGGEST:
    case SH_MSG_ALLOWED_FAST:
        return n == 5 ? 1 : -1;
    case SH_MSG_REQUEST:
    case SH_MSG_CANCEL:
    case SH_MSG_REJECT:
        return n == 13 ? 1 : -1;
    case SH_MSG_PORT:
        return n == 3 ? 1 : -1;
    case SH_MSG_PIECE:
        return n > 9 && n - 9 <= lim->max_block ? 1 : -1;
    case SH_MSG_BITFIELD:
    case SH_MSG_EXTENDED:
        return n >= 2 ? 1 : -1;
    case SH_MSG_HASH_REQUEST:
    case SH_MSG_HASH_REJECT:
        return n == 49 ? 1 : -1;
    case SH_MSG_HASHES:
        return n >= 49 + 32 && (n - 49) % 32 == 0 ? 1 : -1;
    default:
        return 0;
    }
}

/* ---- message bodies ---- */

static void parse_hashreq(const uint8_t *b, sh_hashreq *h)
{
    memcpy(h->root, b, 32);
    h->base_layer = be32(b + 32);
    h->index = be32(b + 36);
    h->length = be32(b + 40);
    h->proof_layers = be32(b + 44);
}

/* b holds n bytes, already checked by classify(): b[0] is the id. */
static void parse_body(const uint8_t *b, uint32_t n, sh_msg *m)
{
    memset(m, 0, sizeof *m);
    m->id = (sh_msg_id)b[0];
    switch (b[0]) {
    case SH_MSG_HAVE:
    case SH_MSG_SUGGEST:
    case SH_MSG_ALLOWED_FAST:
        m->piece = be32(b + 1);
        break;
    case SH_MSG_REQUEST:
    case SH_MSG_CANCEL:
    case SH_MSG_REJECT:
        m->piece = be32(b + 1);
        m->offset = be32(b + 5);
        m->length = be32(b + 9);
        break;
    case SH_MSG_PIECE:
        m->piece = be32(b + 1);
        m->offset = be32(b + 5);
        m->data = (sh_span){b + 9, n - 9};
        m->length = n - 9;
        break;
    case SH_MSG_PORT:
        m->port = (uint16_t)(b[1] << 8 | b[2]);
        break;
    case SH_MSG_BITFIELD:
        m->data = (sh_span){b + 1, n - 1};
        break;
    case SH_MSG_EXTENDED:
        m->ext_id = b[1];
        m->data = (sh_span){b + 2, n - 2};
        break;
    case SH_MSG_HASH_REQUEST:
    case SH_MSG_HASH_REJECT:
    case SH_MSG_HASHES:
        parse_hashreq(b + 1, &m->hash);
        m->data = (sh_span){b + 49, n - 49};
        break;
    default:
        break;
    }
}

/*
 * Virtual payload (simulator): a piece message's block bytes are not in the
 * stream, only its length prefix says how long the block is. The length was
 * checked by classify(); what is read from the stream is the 9-byte body
 * header, and the message is complete once that is in.
 */
static void virtual_piece_start(sh_wire_dec *d)
{
    d->vlen = d->msg_len - 9;
    d->msg_len = 9;
}

static void virtual_piece_finish(sh_wire_dec *d, sh_msg *m)
{
    m->data = (sh_span){NULL, d->vlen};
    m->length = d->vlen;
    d->vlen = 0;
}

/* A request longer than we serve (or empty) is refused here, as BEP 3 allows closing on it. */
static int finish_body(sh_wire_dec *d, const uint8_t *b, uint32_t n, sh_msg *m, sh_errinfo *ei,
                       size_t off)
{
    parse_body(b, n, m);
    if (d->vlen) virtual_piece_finish(d, m);
    if (m->id == SH_MSG_REQUEST && (m->length == 0 || m->length > d->lim.max_block))
        return die(d, sh_errinfo_set(ei, SH_EPROTO, off, "request for %u bytes (limit %u)",
                                     m->length, d->lim.max_block));
    d->st = ST_LEN;
    d->npfx = 0;
    return 1;
}

/* ---- the message states ---- */

static int step_len(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *pos, sh_msg *m,
                    sh_errinfo *ei)
{
    size_t n = 4 - d->npfx;
    if (n > len - *pos) n = len - *pos;
    memcpy(d->pfx + d->npfx, in + *pos, n);
    d->npfx += (uint32_t)n;
    *pos += n;
    if (d->npfx < 4) return 0;
    d->msg_len = be32(d->pfx);
    if (d->msg_len > d->lim.max_msg)
        return die(d, sh_errinfo_set(ei, SH_EPROTO, *pos - 4,
                                     "message of %u bytes exceeds the limit of %u", d->msg_len,
                                     d->lim.max_msg));
    if (d->msg_len == 0) {
        memset(m, 0, sizeof *m);
        m->id = SH_MSG_KEEPALIVE;
        d->npfx = 0;
        return 1;
    }
    d->st = ST_ID;
    return 0;
}

static int start_buffer(sh_wire_dec *d, uint8_t id, sh_errinfo *ei, size_t off)
{
    if (d->msg_len > INLINE_BODY && d->heap_cap < d->msg_len) {
        free(d->heap);
        d->heap_cap = 0;
        d->heap = malloc(d->msg_len);
        if (!d->heap)
            return die(d, sh_errinfo_set(ei, SH_ENOMEM, off, "no memory for a %u-byte message",
                                         d->msg_len));
        d->heap_cap = d->msg_len;
    }
    uint8_t *body = d->msg_len > INLINE_BODY ? d->heap : d->inl;
    body[0] = id;
    d->have = 1;
    d->st = ST_BODY;
    return 0;
}

static int step_id(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *pos, sh_msg *m,
                   sh_errinfo *ei)
{
    if (*pos == len) return 0;
    uint8_t id = in[*pos];
    int k = classify(&d->lim, id, d->msg_len);
    if (k < 0)
        return die(d,
                   sh_errinfo_set(ei, SH_EPROTO, *pos, "%s message (id %u) with invalid length %u",
                                  sh_msg_name((sh_msg_id)id), id, d->msg_len));
    if (k == 0) {
        d->st = ST_SKIP;
        d->have = d->msg_len;
        return 0;
    }
    if (id == SH_MSG_PIECE && d->lim.virtual_payload) virtual_piece_start(d);
    if (len - *pos >= d->msg_len) { /* whole body in the input: decode in place */
        size_t off = *pos;
        *pos += d->msg_len;
        return finish_body(d, in + off, d->msg_len, m, ei, off);
    }
    *pos += 1;
    return start_buffer(d, id, ei, *pos - 1);
}

static int step_body(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *pos, sh_msg *m,
                     sh_errinfo *ei)
{
    uint8_t *body = d->msg_len > INLINE_BODY ? d->heap : d->inl;
    size_t n = d->msg_len - d->have;
    if (n > len - *pos) n = len - *pos;
    memcpy(body + d->have, in + *pos, n);
    d->have += (uint32_t)n;
    *pos += n;
    if (d->have < d->msg_len) return 0;
    d->recycle = true;
    return finish_body(d, body, d->msg_len, m, ei, *pos);
}

static void step_skip(sh_wire_dec *d, size_t len, size_t *pos)
{
    size_t n = d->have;
    if (n > len - *pos) n = len - *pos;
    d->have -= (uint32_t)n;
    *pos += n;
    if (d->have == 0) {
        d->st = ST_LEN;
        d->npfx = 0;
    }
}

static int feed_messages(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *pos, sh_msg *m,
                         sh_errinfo *ei)
{
    int rc = 0;
    while (rc == 0 && *pos < len) {
        switch (d->st) {
        case ST_LEN:
            rc = step_len(d, in, len, pos, m, ei);
            break;
        case ST_ID:
            rc = step_id(d, in, len, pos, m, ei);
            break;
        case ST_BODY:
            rc = step_body(d, in, len, pos, m, ei);
            break;
        case ST_SKIP:
            step_skip(d, len, pos);
            break;
        default:
            return die(d, sh_errinfo_set(ei, SH_EPROTO, *pos, "decoder in state %u", d->st));
        }
    }
    return rc;
}

/* A body handed out by the previous call is no longer referenced: keep its buffer only
 * if it is no bigger than a piece message, so one huge bitfield does not pin 1 MiB. */
static void recycle(sh_wire_dec *d)
{
    if (!d->recycle) return;
    d->recycle = false;
    if (d->heap_cap > (size_t)d->lim.max_block + 9) {
        free(d->heap);
        d->heap = NULL;
        d->heap_cap = 0;
    }
}

int sh_wire_decode(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *used, bool *is_handshake,
                   sh_handshake *hs, sh_msg *msg, sh_errinfo *ei)
{
    size_t pos = 0;
    int rc;
    *is_handshake = false;
    recycle(d);
    if (d->st == ST_DEAD) {
        rc = sh_errinfo_set(ei, SH_EPROTO, 0, "decoder closed after an earlier error");
    } else if (d->st == ST_HANDSHAKE) {
        rc = feed_handshake(d, in, len, &pos, hs, ei);
        *is_handshake = rc == 1;
    } else {
        rc = feed_messages(d, in, len, &pos, msg, ei);
    }
    *used = pos;
    return rc;
}
