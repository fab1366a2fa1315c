/* test_wire.c — the peer-wire decoder and encoders. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/bencode.h>
#include <shoal/rng.h>
#include <shoal/wire.h>

/* ---- helpers ---- */

/* One decoded item, with its payload copied out of the decoder's spans. */
typedef struct rec {
    bool hs;
    sh_handshake h;
    sh_msg m;
    uint8_t *data;
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
    int rc; /* first error, or 0 */
} recs;

static void recs_push(recs *r, bool hs, const sh_handshake *h, const sh_msg *m)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    rec *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->hs = hs;
    if (hs) {
        e->h = *h;
        return;
    }
    e->m = *m;
    e->data = malloc(m->data.len + 1);
    assert_non_null(e->data);
    if (m->data.len) memcpy(e->data, m->data.ptr, m->data.len);
    e->m.data.ptr = NULL;
}

static void recs_free(recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].data);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Feeds in[0..len) to d as one call sequence; appends what comes out. */
static int feed(sh_wire_dec *d, const uint8_t *in, size_t len, recs *out)
{
    size_t off = 0;
    for (;;) {
        size_t used = 99999;
        bool ishs = true;
        sh_handshake h;
        sh_msg m;
        sh_errinfo ei = {0};
        int rc = sh_wire_decode(d, in + off, len - off, &used, &ishs, &h, &m, &ei);
        assert_true(used <= len - off);
        off += used;
        if (rc < 0) {
            if (!out->rc) out->rc = rc;
            return rc;
        }
        if (rc == 0) {
            assert_int_equal(off, len);
            assert_false(ishs);
            return 0;
        }
        recs_push(out, ishs, &h, &m);
    }
}

/* Decodes a stream fed in chunks of the given sizes (the rest in one final chunk). */
static recs decode_chunks(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts)
{
    recs r = {0};
    sh_wire_dec *d;
    assert_int_equal(sh_wire_dec_new(NULL, &d), 0);
    size_t off = 0;
    for (size_t i = 0; i <= ncuts && r.rc == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (feed(d, in + off, end - off, &r) < 0) break;
        off = end;
    }
    sh_wire_dec_free(d);
    return r;
}

static void recs_equal(const recs *a, const recs *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const rec *x = &a->v[i], *y = &b->v[i];
        assert_int_equal(x->hs, y->hs);
        if (x->hs) {
            assert_memory_equal(&x->h, &y->h, sizeof x->h);
            continue;
        }
        assert_int_equal(x->m.id, y->m.id);
        assert_int_equal(x->m.piece, y->m.piece);
        assert_int_equal(x->m.offset, y->m.offset);
        assert_int_equal(x->m.length, y->m.length);
        assert_int_equal(x->m.port, y->m.port);
        assert_int_equal(x->m.ext_id, y->m.ext_id);
        assert_memory_equal(&x->m.hash, &y->m.hash, sizeof x->m.hash);
        assert_int_equal(x->m.data.len, y->m.data.len);
        if (x->m.data.len) assert_memory_equal(x->data, y->data, x->m.data.len);
    }
}

static const uint8_t IH[20] = "0123456789abcdefghij";
static const uint8_t PID[20] = "-SH0001-abcdefghijkl";

/* A decoder that has already consumed a handshake. */
static sh_wire_dec *dec_after_hs(const sh_wire_limits *lim)
{
    sh_wire_dec *d;
    assert_int_equal(sh_wire_dec_new(lim, &d), 0);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_handshake(&b, 0, IH, PID);
    recs r = {0};
    assert_int_equal(feed(d, b.data, b.len, &r), 0);
    assert_int_equal(r.n, 1);
    assert_true(r.v[0].hs);
    recs_free(&r);
    sh_bbuf_free(&b);
    return d;
}

/* Decodes exactly one message from buf in one call, expecting success. */
static sh_msg one(sh_wire_dec *d, const sh_bbuf *b)
{
    size_t used;
    bool ishs;
    sh_handshake h;
    sh_msg m;
    sh_errinfo ei = {0};
    int rc = sh_wire_decode(d, b->data, b->len, &used, &ishs, &h, &m, &ei);
    if (rc != 1) fail_msg("decode: rc %d (%s)", rc, ei.msg);
    assert_false(ishs);
    assert_int_equal(used, b->len);
    return m;
}

/* ---- round trips ---- */

static void test_roundtrip_fixed(void **st)
{
    (void)st;
    sh_wire_dec *d = dec_after_hs(NULL);
    sh_bbuf b;
    static const sh_msg_id simple[] = {SH_MSG_CHOKE,          SH_MSG_UNCHOKE,  SH_MSG_INTERESTED,
                                       SH_MSG_NOT_INTERESTED, SH_MSG_HAVE_ALL, SH_MSG_HAVE_NONE,
                                       SH_MSG_KEEPALIVE};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        sh_bbuf_init(&b);
        sh_wire_put_simple(&b, simple[i]);
        assert_int_equal(b.len, simple[i] == SH_MSG_KEEPALIVE ? 4 : 5);
        assert_int_equal(one(d, &b).id, simple[i]);
        sh_bbuf_free(&b);
    }
    static const sh_msg_id haves[] = {SH_MSG_HAVE, SH_MSG_SUGGEST, SH_MSG_ALLOWED_FAST};
    for (size_t i = 0; i < 3; i++) {
        sh_bbuf_init(&b);
        sh_wire_put_have(&b, haves[i], 0xA1B2C3D4u);
        assert_int_equal(b.len, 9);
        assert_int_equal(b.data[3], 5);
        sh_msg m = one(d, &b);
        assert_int_equal(m.id, haves[i]);
        assert_int_equal(m.piece, 0xA1B2C3D4u);
        sh_bbuf_free(&b);
    }
    static const sh_msg_id reqs[] = {SH_MSG_REQUEST, SH_MSG_CANCEL, SH_MSG_REJECT};
    for (size_t i = 0; i < 3; i++) {
        sh_bbuf_init(&b);
        sh_wire_put_request(&b, reqs[i], 7, 0x00FEDC00u, 16384);
        assert_int_equal(b.len, 17);
        sh_msg m = one(d, &b);
        assert_int_equal(m.id, reqs[i]);
        assert_int_equal(m.piece, 7);
        assert_int_equal(m.offset, 0x00FEDC00u);
        assert_int_equal(m.length, 16384);
        sh_bbuf_free(&b);
    }
    sh_bbuf_init(&b);
    sh_wire_put_port(&b, 51413);
    assert_int_equal(b.len, 7);
    sh_msg m = one(d, &b);
    assert_int_equal(m.id, SH_MSG_PORT);
    assert_int_equal(m.port, 51413);
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);
}

static void test_roundtrip_variable(void **st)
{
    (void)st;
    sh_wire_dec *d = dec_after_hs(NULL);
    sh_bbuf b;
    uint8_t block[SH_WIRE_BLOCK];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (uint8_t)(i * 7);

    sh_bbuf_init(&b);
    sh_wire_put_piece_header(&b, 3, 32768, sizeof block);
    assert_int_equal(b.len, 13);
    sh_bbuf_raw(&b, block, sizeof block);
    sh_msg m = one(d, &b);
    assert_int_equal(m.id, SH_MSG_PIECE);
    assert_int_equal(m.piece, 3);
    assert_int_equal(m.offset, 32768);
    assert_int_equal(m.length, sizeof block);
    assert_ptr_equal(m.data.ptr, b.data + 13); /* zero-copy */
    assert_memory_equal(m.data.ptr, block, sizeof block);
    sh_bbuf_free(&b);

    uint8_t bits[3] = {0xff, 0x0f, 0x80};
    sh_bbuf_init(&b);
    sh_wire_put_bitfield(&b, bits, 3);
    m = one(d, &b);
    assert_int_equal(m.id, SH_MSG_BITFIELD);
    assert_int_equal(m.data.len, 3);
    assert_ptr_equal(m.data.ptr, b.data + 5);
    assert_memory_equal(m.data.ptr, bits, 3);
    sh_bbuf_free(&b);

    sh_bbuf_init(&b);
    sh_wire_put_extended(&b, 0, (const uint8_t *)"d1:pi6881ee", 11);
    m = one(d, &b);
    assert_int_equal(m.id, SH_MSG_EXTENDED);
    assert_int_equal(m.ext_id, 0);
    assert_int_equal(m.data.len, 11);
    assert_memory_equal(m.data.ptr, "d1:pi6881ee", 11);
    sh_bbuf_free(&b);

    sh_bbuf_init(&b); /* an extended message with an empty payload is well-framed */
    sh_wire_put_extended(&b, 3, NULL, 0);
    m = one(d, &b);
    assert_int_equal(m.ext_id, 3);
    assert_int_equal(m.data.len, 0);
    sh_bbuf_free(&b);

    sh_hashreq h = {.base_layer = 0x01020304, .index = 5, .length = 512, .proof_layers = 9};
    for (int i = 0; i < 32; i++)
        h.root[i] = (uint8_t)(0xA0 + i);
    static const sh_msg_id hr[] = {SH_MSG_HASH_REQUEST, SH_MSG_HASH_REJECT};
    for (int i = 0; i < 2; i++) {
        sh_bbuf_init(&b);
        sh_wire_put_hashreq(&b, hr[i], &h);
        assert_int_equal(b.len, 53);
        m = one(d, &b);
        assert_int_equal(m.id, hr[i]);
        assert_memory_equal(&m.hash, &h, sizeof h);
        assert_int_equal(m.data.len, 0);
        sh_bbuf_free(&b);
    }
    uint8_t hashes[3 * 32];
    for (size_t i = 0; i < sizeof hashes; i++)
        hashes[i] = (uint8_t)i;
    sh_bbuf_init(&b);
    sh_wire_put_hashes(&b, &h, hashes, 3);
    assert_int_equal(b.len, 4 + 49 + 96);
    m = one(d, &b);
    assert_int_equal(m.id, SH_MSG_HASHES);
    assert_memory_equal(&m.hash, &h, sizeof h);
    assert_int_equal(m.data.len, 96);
    assert_memory_equal(m.data.ptr, hashes, 96);
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);
}

static void test_encoder_bytes(void **st)
{
    (void)st;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_request(&b, SH_MSG_REQUEST, 0x01020304, 0x05060708, 0x4000);
    static const uint8_t want[] = {0, 0, 0, 13, 6, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x40, 0};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    sh_bbuf_free(&b);

    sh_bbuf_init(&b);
    sh_wire_put_piece_header(&b, 1, 2, 16384);
    static const uint8_t want_p[] = {0, 0, 0x40, 9, 7, 0, 0, 0, 1, 0, 0, 0, 2};
    assert_memory_equal(b.data, want_p, sizeof want_p);
    sh_bbuf_free(&b);

    /* impossible sizes set the sticky error instead of writing a wrong prefix */
    sh_bbuf_init(&b);
    sh_hashreq h = {0};
    sh_wire_put_hashes(&b, &h, NULL, UINT32_MAX / 32);
    assert_int_equal(b.err, SH_ELIMIT);
    assert_int_equal(b.len, 0);
    sh_bbuf_free(&b);
    sh_bbuf_init(&b);
    sh_wire_put_piece_header(&b, 0, 0, UINT32_MAX - 8);
    assert_int_equal(b.err, SH_ELIMIT);
    sh_bbuf_free(&b);
}

/* ---- exact lengths ---- */

/* The rule, restated independently of wire.c: is a body of n bytes valid for id? */
static int expect_valid(uint8_t id, uint32_t n)
{
    switch (id) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 14:
    case 15:
        return n == 1;
    case 4:
    case 13:
    case 17:
        return n == 5;
    case 6:
    case 8:
    case 16:
        return n == 13;
    case 9:
        return n == 3;
    case 7:
        return n >= 10 && n <= 9 + SH_WIRE_BLOCK;
    case 5:
    case 20:
        return n >= 2;
    case 21:
    case 23:
        return n == 49;
    case 22:
        return n >= 81 && (n - 49) % 32 == 0;
    default:
        return -1; /* unknown: skipped */
    }
}

/* Frames a body of n bytes with id; request-like bodies get a valid 16 KiB length. */
static void frame(sh_bbuf *b, uint8_t id, uint32_t n)
{
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    sh_bbuf_raw(b, h, 4);
    uint8_t *body = calloc(n, 1);
    assert_non_null(body);
    body[0] = id;
    if (n == 13) body[11] = 0x40; /* request/cancel/reject length 16384 */
    sh_bbuf_raw(b, body, n);
    free(body);
}

static void check_length(uint8_t id, uint32_t n, bool split)
{
    sh_wire_dec *d = dec_after_hs(NULL);
    sh_bbuf b;
    sh_bbuf_init(&b);
    frame(&b, id, n);
    sh_wire_put_have(&b, SH_MSG_HAVE, 42); /* a sentinel after it */
    recs r = {0};
    if (split) { /* byte by byte: the length check must not depend on having the body */
        for (size_t i = 0; i < b.len && r.rc == 0; i++)
            feed(d, b.data + i, 1, &r);
    } else {
        feed(d, b.data, b.len, &r);
    }
    int want = expect_valid(id, n);
    if (want == 0) {
        if (r.rc != SH_EPROTO) fail_msg("id %u len %u accepted (split %d)", id, n, split);
        assert_int_equal(r.n, 0);
    } else {
        if (r.rc != 0) fail_msg("id %u len %u rejected (split %d)", id, n, split);
        assert_int_equal(r.n, want == 1 ? 2 : 1); /* unknown ids vanish */
        if (want == 1) assert_int_equal(r.v[0].m.id, id);
        assert_int_equal(r.v[r.n - 1].m.id, SH_MSG_HAVE);
        assert_int_equal(r.v[r.n - 1].m.piece, 42);
    }
    recs_free(&r);
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);
}

static void test_every_length(void **st)
{
    (void)st;
    for (unsigned id = 0; id < 256; id++) {
        for (uint32_t n = 1; n <= 200; n++)
            check_length((uint8_t)id, n, false);
        static const uint32_t big[] = {
            1000,          9 + SH_WIRE_BLOCK - 1, 9 + SH_WIRE_BLOCK, 9 + SH_WIRE_BLOCK + 1,
            49 + 32 * 100, 49 + 32 * 100 + 1};
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
            check_length((uint8_t)id, big[i], false);
        for (uint32_t n = 1; n <= 60; n++)
            check_length((uint8_t)id, n, true);
    }
}

static void expect_error(sh_wire_dec *d, const uint8_t *in, size_t len)
{
    recs r = {0};
    feed(d, in, len, &r);
    assert_int_equal(r.rc, SH_EPROTO);
    recs_free(&r);
    /* dead for good, even for perfectly valid bytes */
    static const uint8_t ka[4] = {0};
    size_t used = 7;
    bool ishs;
    sh_handshake h;
    sh_msg m;
    sh_errinfo ei = {0};
    assert_int_equal(sh_wire_decode(d, ka, 4, &used, &ishs, &h, &m, &ei), SH_EPROTO);
    assert_int_equal(used, 0);
}

static void test_request_length(void **st)
{
    (void)st;
    static const uint32_t bad[] = {0, SH_WIRE_BLOCK + 1, UINT32_MAX};
    for (size_t i = 0; i < 3; i++) {
        sh_wire_dec *d = dec_after_hs(NULL);
        sh_bbuf b;
        sh_bbuf_init(&b);
        sh_wire_put_request(&b, SH_MSG_REQUEST, 0, 0, bad[i]);
        expect_error(d, b.data, b.len);
        sh_bbuf_free(&b);
        sh_wire_dec_free(d);
    }
    /* cancel and reject echo a request; their length is not the decoder's business */
    sh_wire_dec *d = dec_after_hs(NULL);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_request(&b, SH_MSG_REJECT, 0, 0, SH_WIRE_BLOCK * 4);
    assert_int_equal(one(d, &b).length, SH_WIRE_BLOCK * 4);
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);
}

/* ---- limits ---- */

static void test_oversize_prefix(void **st)
{
    (void)st;
    const uint32_t lens[] = {0xFFFFFFFFu, SH_WIRE_MAX_MSG + 1};
    for (int i = 0; i < 2; i++) {
        uint8_t p[4] = {(uint8_t)(lens[i] >> 24), (uint8_t)(lens[i] >> 16), (uint8_t)(lens[i] >> 8),
                        (uint8_t)lens[i]};
        /* the prefix alone, with no body byte, is refused, however it is split */
        for (size_t cut = 0; cut < 4; cut++) {
            sh_wire_dec *d = dec_after_hs(NULL);
            recs r = {0};
            feed(d, p, cut, &r);
            assert_int_equal(r.rc, 0);
            assert_int_equal(sh_wire_dec_buffered(d), cut);
            feed(d, p + cut, 4 - cut, &r);
            assert_int_equal(r.rc, SH_EPROTO);
            assert_int_equal(sh_wire_dec_buffered(d), 0);
            sh_wire_dec_free(d);
            recs_free(&r);
        }
    }
    /* exactly max_msg is framed fine (an unknown id, skipped without buffering) */
    sh_wire_dec *d = dec_after_hs(NULL);
    uint8_t p[5] = {0, 0x10, 0, 0, 99};
    recs r = {0};
    feed(d, p, 5, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sh_wire_dec_buffered(d), 0);
    recs_free(&r);
    sh_wire_dec_free(d);
}

static void test_piece_limits(void **st)
{
    (void)st;
    sh_wire_dec *d = dec_after_hs(NULL);
    uint8_t *blk = calloc(65536, 1);
    assert_non_null(blk);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_piece_header(&b, 0, 0, SH_WIRE_BLOCK + 1);
    expect_error(d, b.data, b.len); /* refused from its header alone */
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);

    /* set_limits raises max_block: 64 KiB pieces and requests pass, 64 KiB + 1 does not */
    d = dec_after_hs(NULL);
    sh_wire_limits lim = {.max_block = 65536};
    sh_wire_dec_set_limits(d, &lim);
    sh_bbuf_init(&b);
    sh_wire_put_piece_header(&b, 1, 0, 65536);
    sh_bbuf_raw(&b, blk, 65536);
    assert_int_equal(one(d, &b).length, 65536);
    sh_bbuf_free(&b);
    sh_bbuf_init(&b);
    sh_wire_put_request(&b, SH_MSG_REQUEST, 1, 0, 65536);
    assert_int_equal(one(d, &b).length, 65536);
    sh_bbuf_free(&b);
    sh_bbuf_init(&b);
    sh_wire_put_piece_header(&b, 1, 0, 65537);
    expect_error(d, b.data, b.len);
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);

    /* max_msg: a 2 MiB bitfield is refused by default, accepted once raised */
    size_t big = 2u << 20;
    uint8_t *bits = calloc(big, 1);
    assert_non_null(bits);
    sh_bbuf_init(&b);
    sh_wire_put_bitfield(&b, bits, big);
    d = dec_after_hs(NULL);
    expect_error(d, b.data, b.len);
    sh_wire_dec_free(d);
    d = dec_after_hs(NULL);
    lim = (sh_wire_limits){.max_msg = 4u << 20};
    sh_wire_dec_set_limits(d, &lim);
    recs r = {0};
    feed(d, b.data, 1000, &r); /* split: assembled in the decoder's own buffer */
    assert_int_equal(sh_wire_dec_buffered(d), 1000);
    feed(d, b.data + 1000, b.len - 1000, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].m.data.len, big);
    assert_int_equal(sh_wire_dec_buffered(d), 0);
    recs_free(&r);
    sh_wire_dec_free(d);
    sh_bbuf_free(&b);
    free(bits);
    free(blk);
}

static void test_keepalive_and_buffered(void **st)
{
    (void)st;
    sh_wire_dec *d = dec_after_hs(NULL);
    static const uint8_t ka[8] = {0};
    recs r = {0};
    feed(d, ka, 8, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].m.id, SH_MSG_KEEPALIVE);
    assert_int_equal(r.v[1].m.id, SH_MSG_KEEPALIVE);
    recs_free(&r);

    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_have(&b, SH_MSG_HAVE, 9);
    feed(d, b.data, 6, &r); /* prefix, id and one byte of the index */
    assert_int_equal(r.n, 0);
    assert_int_equal(sh_wire_dec_buffered(d), 6);
    feed(d, b.data + 6, 3, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].m.piece, 9);
    assert_int_equal(sh_wire_dec_buffered(d), 0);
    recs_free(&r);
    sh_bbuf_free(&b);
    sh_wire_dec_free(d);
}

/* ---- handshakes ---- */

static void test_handshake_flags(void **st)
{
    (void)st;
    for (uint32_t f = 0; f < 16; f++) {
        sh_bbuf b;
        sh_bbuf_init(&b);
        sh_wire_put_handshake(&b, f, IH, PID);
        assert_int_equal(b.len, SH_HANDSHAKE_LEN);
        assert_int_equal(b.data[0], 19);
        assert_memory_equal(b.data + 1, SH_PSTR, 19);
        uint8_t rsv[8] = {0};
        if (f & SH_RSV_EXTENSION) rsv[5] |= 0x10;
        if (f & SH_RSV_FAST) rsv[7] |= 0x04;
        if (f & SH_RSV_DHT) rsv[7] |= 0x01;
        if (f & SH_RSV_V2) rsv[7] |= 0x10;
        assert_memory_equal(b.data + 20, rsv, 8);
        assert_memory_equal(b.data + 28, IH, 20);
        assert_memory_equal(b.data + 48, PID, 20);
        sh_wire_dec *d;
        assert_int_equal(sh_wire_dec_new(NULL, &d), 0);
        recs r = {0};
        feed(d, b.data, b.len, &r);
        assert_int_equal(r.n, 1);
        assert_true(r.v[0].hs);
        assert_int_equal(r.v[0].h.flags, f);
        assert_memory_equal(r.v[0].h.reserved, rsv, 8);
        assert_memory_equal(r.v[0].h.info_hash, IH, 20);
        assert_memory_equal(r.v[0].h.peer_id, PID, 20);
        recs_free(&r);
        sh_wire_dec_free(d);
        sh_bbuf_free(&b);
    }
}

static void test_handshake_unknown_bits(void **st)
{
    (void)st;
    uint8_t hs[SH_HANDSHAKE_LEN + 5];
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_handshake(&b, 0, IH, PID);
    sh_wire_put_simple(&b, SH_MSG_UNCHOKE); /* a message right behind it */
    memcpy(hs, b.data, sizeof hs);
    sh_bbuf_free(&b);
    /* BitComet-style reserved[0..1] = 0xFF and every bit we do not know */
    static const uint8_t rsv[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff, 0xea};
    memcpy(hs + 20, rsv, 8);
    sh_wire_dec *d;
    assert_int_equal(sh_wire_dec_new(NULL, &d), 0);
    recs r = {0};
    feed(d, hs, sizeof hs, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].h.flags, 0);
    assert_memory_equal(r.v[0].h.reserved, rsv, 8);
    assert_int_equal(r.v[1].m.id, SH_MSG_UNCHOKE);
    recs_free(&r);
    sh_wire_dec_free(d);
}

/* A corrupt byte at index bad is refused as soon as that byte arrives. */
static void check_bad_handshake(size_t bad, uint8_t value)
{
    uint8_t hs[SH_HANDSHAKE_LEN];
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_handshake(&b, 0, IH, PID);
    memcpy(hs, b.data, sizeof hs);
    sh_bbuf_free(&b);
    hs[bad] = value;
    sh_wire_dec *d;
    assert_int_equal(sh_wire_dec_new(NULL, &d), 0);
    for (size_t i = 0; i < SH_HANDSHAKE_LEN; i++) {
        size_t used;
        bool ishs;
        sh_handshake h;
        sh_msg m;
        sh_errinfo ei = {0};
        int rc = sh_wire_decode(d, hs + i, 1, &used, &ishs, &h, &m, &ei);
        if (i < bad) {
            assert_int_equal(rc, 0);
            continue;
        }
        assert_int_equal(rc, SH_EPROTO);
        assert_non_null(strstr(ei.msg, "not a BitTorrent handshake"));
        break;
    }
    sh_wire_dec_free(d);
}

static void test_handshake_bad(void **st)
{
    (void)st;
    check_bad_handshake(0, 18); /* bad pstrlen */
    check_bad_handshake(0, 0);
    check_bad_handshake(0, 0xC7); /* an MSE public key starts with random bytes */
    check_bad_handshake(1, 'b');  /* "bitTorrent" */
    check_bad_handshake(12, 'P');
    check_bad_handshake(19, 'L');
}

/* ---- streams split everywhere ---- */

static void put_random_msg(sh_bbuf *b, sh_rng *g)
{
    uint8_t buf[600];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)sh_rng_next(g);
    sh_hashreq h = {.base_layer = 1, .index = 2, .length = 3, .proof_layers = 4};
    memcpy(h.root, buf, 32);
    uint32_t x = (uint32_t)sh_rng_next(g);
    switch (sh_rng_below(g, 12)) {
    case 0:
        sh_wire_put_simple(b, (sh_msg_id)sh_rng_below(g, 4));
        break;
    case 1:
        sh_wire_put_simple(b, SH_MSG_KEEPALIVE);
        break;
    case 2:
        sh_wire_put_have(b, SH_MSG_HAVE, x);
        break;
    case 3:
        sh_wire_put_request(b, SH_MSG_REQUEST, x, x >> 3, 1 + x % SH_WIRE_BLOCK);
        break;
    case 4:
        sh_wire_put_request(b, SH_MSG_CANCEL, x, 7, x);
        break;
    case 5:
        sh_wire_put_piece_header(b, x, 16384, 1 + x % 500);
        sh_bbuf_raw(b, buf, 1 + x % 500);
        break;
    case 6:
        sh_wire_put_bitfield(b, buf, 1 + x % 300);
        break;
    case 7:
        sh_wire_put_extended(b, (uint8_t)x, buf, x % 200);
        break;
    case 8:
        sh_wire_put_port(b, (uint16_t)x);
        break;
    case 9:
        sh_wire_put_hashreq(b, SH_MSG_HASH_REQUEST, &h);
        break;
    case 10:
        sh_wire_put_hashes(b, &h, buf, 1 + x % 4);
        break;
    default: { /* an unknown id: skipped */
        uint8_t u[8] = {0, 0, 0, 4, 0x42, 1, 2, 3};
        sh_bbuf_raw(b, u, sizeof u);
    }
    }
}

static void test_split_everywhere(void **st)
{
    (void)st;
    sh_rng g;
    sh_rng_seed(&g, 12345);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_handshake(&b, SH_RSV_FAST | SH_RSV_EXTENSION, IH, PID);
    for (int i = 0; i < 50; i++)
        put_random_msg(&b, &g);
    assert_int_equal(b.err, 0);

    recs ref = decode_chunks(b.data, b.len, NULL, 0);
    assert_int_equal(ref.rc, 0);
    assert_true(ref.n > 40);
    for (size_t cut = 0; cut <= b.len; cut++) {
        recs r = decode_chunks(b.data, b.len, &cut, 1);
        recs_equal(&ref, &r);
        recs_free(&r);
    }
    size_t *cuts = malloc(b.len * sizeof *cuts); /* one byte at a time */
    assert_non_null(cuts);
    for (size_t i = 0; i < b.len; i++)
        cuts[i] = i + 1;
    recs r = decode_chunks(b.data, b.len, cuts, b.len);
    recs_equal(&ref, &r);
    recs_free(&r);
    for (int t = 0; t < 200; t++) { /* random multi-way splits */
        size_t n = 0;
        for (size_t pos = 0; pos < b.len; n++) {
            pos += 1 + sh_rng_below(&g, 40);
            cuts[n] = pos < b.len ? pos : b.len;
        }
        r = decode_chunks(b.data, b.len, cuts, n);
        recs_equal(&ref, &r);
        recs_free(&r);
    }
    free(cuts);
    recs_free(&ref);
    sh_bbuf_free(&b);
}

/* An empty call is harmless in every state, even with no buffer at all. */
static void test_empty_input(void **st)
{
    (void)st;
    sh_wire_dec *d;
    assert_int_equal(sh_wire_dec_new(NULL, &d), 0);
    size_t used = 5;
    bool ishs = true;
    sh_handshake h;
    sh_msg m;
    assert_int_equal(sh_wire_decode(d, NULL, 0, &used, &ishs, &h, &m, NULL), 0);
    assert_int_equal(used, 0);
    assert_false(ishs);
    sh_wire_dec_free(d);
    d = dec_after_hs(NULL);
    assert_int_equal(sh_wire_decode(d, NULL, 0, &used, &ishs, &h, &m, NULL), 0);
    assert_int_equal(sh_wire_dec_buffered(d), 0);
    sh_wire_dec_free(d);
}

static void test_names(void **st)
{
    (void)st;
    assert_string_equal(sh_msg_name(SH_MSG_PIECE), "piece");
    assert_string_equal(sh_msg_name(SH_MSG_KEEPALIVE), "keep-alive");
    assert_string_equal(sh_msg_name((sh_msg_id)99), "unknown");
}

/* ---- virtual payload (simulator) ---- */

/* What a virtual stream decodes to: ids and numbers, and whether data was NULL. */
typedef struct vrec {
    sh_msg_id id;
    uint32_t piece, offset, length;
    size_t data_len;
    bool data_null;
} vrec;

/* Feeds in[0..len) at the given cuts; returns the number of messages (or a negative code). */
static int vdecode(sh_wire_dec *d, const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
                   vrec *out, size_t max)
{
    size_t n = 0, off = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        while (off < end) {
            size_t used;
            bool ishs;
            sh_handshake h;
            sh_msg m;
            int rc = sh_wire_decode(d, in + off, end - off, &used, &ishs, &h, &m, NULL);
            off += used;
            if (rc < 0) return rc;
            if (rc == 0) break;
            assert_false(ishs);
            assert_true(n < max);
            out[n++] = (vrec){m.id, m.piece, m.offset, m.length, m.data.len, m.data.ptr == NULL};
        }
        assert_int_equal(off, end);
    }
    return (int)n;
}

static void put_virtual_stream(sh_bbuf *b)
{
    sh_wire_put_have(b, SH_MSG_HAVE, 3);
    sh_wire_put_piece_header(b, 5, 16384, 524288); /* the block itself is not in the stream */
    sh_wire_put_have(b, SH_MSG_HAVE, 4);
    sh_wire_put_piece_header(b, 6, 0, 1); /* a 1-byte block (a short last block) */
    sh_wire_put_request(b, SH_MSG_REQUEST, 7, 32768, 16384);
}

static void check_virtual_stream(const vrec *v, int n)
{
    assert_int_equal(n, 5);
    assert_int_equal(v[0].id, SH_MSG_HAVE);
    assert_int_equal(v[0].piece, 3);
    assert_int_equal(v[1].id, SH_MSG_PIECE);
    assert_int_equal(v[1].piece, 5);
    assert_int_equal(v[1].offset, 16384);
    assert_int_equal(v[1].length, 524288);
    assert_int_equal(v[1].data_len, 524288);
    assert_true(v[1].data_null);
    assert_int_equal(v[2].id, SH_MSG_HAVE);
    assert_int_equal(v[2].piece, 4);
    assert_int_equal(v[3].id, SH_MSG_PIECE);
    assert_int_equal(v[3].piece, 6);
    assert_int_equal(v[3].length, 1);
    assert_true(v[3].data_null);
    assert_int_equal(v[4].id, SH_MSG_REQUEST);
    assert_int_equal(v[4].piece, 7);
    assert_int_equal(v[4].offset, 32768);
    assert_int_equal(v[4].length, 16384);
}

static void test_virtual_payload(void **st)
{
    (void)st;
    const sh_wire_limits vlim = {.max_block = 524288, .virtual_payload = true};
    sh_bbuf b;
    sh_bbuf_init(&b);
    put_virtual_stream(&b);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 9 + 13 + 9 + 13 + 17); /* headers only */
    vrec v[8];

    sh_wire_dec *d = dec_after_hs(&vlim);
    check_virtual_stream(v, vdecode(d, b.data, b.len, NULL, 0, v, 8));
    assert_int_equal(sh_wire_dec_buffered(d), 0);
    sh_wire_dec_free(d);

    /* every split point, and one byte at a time: a piece header is buffered inline */
    for (size_t cut = 0; cut <= b.len; cut++) {
        d = dec_after_hs(&vlim);
        check_virtual_stream(v, vdecode(d, b.data, b.len, &cut, 1, v, 8));
        sh_wire_dec_free(d);
    }
    size_t cuts[64];
    for (size_t i = 0; i < b.len; i++)
        cuts[i] = i + 1;
    d = dec_after_hs(&vlim);
    check_virtual_stream(v, vdecode(d, b.data, b.len, cuts, b.len, v, 8));
    assert_int_equal(sh_wire_dec_buffered(d), 0);
    sh_wire_dec_free(d);

    /* half a piece header: waits, holding only the bytes it was given */
    d = dec_after_hs(&vlim);
    assert_int_equal(vdecode(d, b.data, 9 + 8, NULL, 0, v, 8), 1);
    assert_int_equal(sh_wire_dec_buffered(d), 8);
    sh_wire_dec_free(d);

    /* the same bytes without the flag: the piece swallows what follows as its block */
    sh_wire_limits real = vlim;
    real.virtual_payload = false;
    d = dec_after_hs(&real);
    assert_int_equal(vdecode(d, b.data, b.len, NULL, 0, v, 8), 1);
    assert_int_equal(v[0].id, SH_MSG_HAVE);
    sh_wire_dec_free(d);

    /* set_limits keeps the mode; a raised max_block applies to the declared length */
    d = dec_after_hs(&(sh_wire_limits){.virtual_payload = true});
    sh_bbuf big;
    sh_bbuf_init(&big);
    sh_wire_put_piece_header(&big, 5, 0, 524288);
    assert_int_equal(vdecode(d, big.data, big.len, NULL, 0, v, 8), SH_EPROTO); /* > 16 KiB */
    sh_wire_dec_free(d);
    d = dec_after_hs(&(sh_wire_limits){.virtual_payload = true});
    sh_wire_dec_set_limits(d, &vlim);
    assert_int_equal(vdecode(d, big.data, big.len, NULL, 0, v, 8), 1);
    assert_true(v[0].data_null);
    assert_int_equal(v[0].length, 524288);
    sh_wire_dec_free(d);
    sh_bbuf_free(&big);

    /* hostile lengths are refused from the header alone, as without the flag */
    sh_bbuf bad;
    sh_bbuf_init(&bad);
    sh_wire_put_piece_header(&bad, 5, 0, 524289); /* one byte over max_block */
    d = dec_after_hs(&vlim);
    assert_int_equal(vdecode(d, bad.data, bad.len, NULL, 0, v, 8), SH_EPROTO);
    sh_wire_dec_free(d);
    static const uint8_t empty_piece[13] = {0, 0, 0, 9, SH_MSG_PIECE}; /* no block at all */
    d = dec_after_hs(&vlim);
    assert_int_equal(vdecode(d, empty_piece, sizeof empty_piece, NULL, 0, v, 8), SH_EPROTO);
    sh_wire_dec_free(d);
    sh_bbuf_free(&bad);
    sh_bbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_fixed), cmocka_unit_test(test_roundtrip_variable),
        cmocka_unit_test(test_encoder_bytes),   cmocka_unit_test(test_every_length),
        cmocka_unit_test(test_request_length),  cmocka_unit_test(test_oversize_prefix),
        cmocka_unit_test(test_piece_limits),    cmocka_unit_test(test_keepalive_and_buffered),
        cmocka_unit_test(test_handshake_flags), cmocka_unit_test(test_handshake_unknown_bits),
        cmocka_unit_test(test_handshake_bad),   cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_empty_input),     cmocka_unit_test(test_names),
        cmocka_unit_test(test_virtual_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
