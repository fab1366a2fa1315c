/*
 * fuzz_wire.c — the peer-wire decoder on arbitrary streams, split arbitrarily.
 *
 * Input layout: byte 0 holds options (bits 0-3: number of chunk sizes k,
 * bit 4: prepend a valid handshake, bit 5: small limits), the next k bytes
 * are chunk sizes (cycled; 0 means 1), the rest is the stream. The stream is
 * decoded once in one chunk and once in those chunks; both must produce the
 * same items (ids, fields, payload bytes) and end in the same state. Every
 * call must consume what it says and keep its spans inside readable memory.
 */
#include <shoal/bencode.h>
#include <shoal/wire.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

typedef struct out {
    sh_bbuf log; /* a canonical serialisation of every item */
    int rc;
} out;

static void log_msg(sh_bbuf *b, bool hs, const sh_handshake *h, const sh_msg *m)
{
    if (hs) {
        sh_bbuf_raw(b, "H", 1);
        sh_bbuf_raw(b, h, sizeof *h);
        return;
    }
    /* field by field: struct padding must not take part in the comparison */
    uint32_t f[9] = {(uint32_t)m->id, m->piece,           m->offset,     m->length,     m->port,
                     m->ext_id,       m->hash.base_layer, m->hash.index, m->hash.length};
    uint64_t dlen = m->data.len;
    sh_bbuf_raw(b, "M", 1);
    sh_bbuf_raw(b, f, sizeof f);
    sh_bbuf_raw(b, &m->hash.proof_layers, 4);
    sh_bbuf_raw(b, m->hash.root, 32);
    sh_bbuf_raw(b, &dlen, sizeof dlen);
    if (m->data.len) sh_bbuf_raw(b, m->data.ptr, m->data.len);
}

static int feed(sh_wire_dec *d, const uint8_t *in, size_t len, out *o)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        bool ishs = false;
        sh_handshake h;
        sh_msg m;
        memset(&h, 0, sizeof h);
        memset(&m, 0, sizeof m);
        int rc = sh_wire_decode(d, in + off, len - off, &used, &ishs, &h, &m, NULL);
        CHECK(used <= len - off);
        off += used;
        if (rc < 0) {
            CHECK(rc == SH_EPROTO || rc == SH_ENOMEM);
            return o->rc = rc;
        }
        if (rc == 0) {
            CHECK(off == len && !ishs);
            return 0;
        }
        CHECK(rc == 1);
        if (!ishs && m.id == SH_MSG_PIECE) CHECK(m.data.len == m.length && m.length > 0);
        log_msg(&o->log, ishs, &h, &m);
    }
}

static void run(const uint8_t *s, size_t n, const uint8_t *sizes, size_t k, bool small, out *o)
{
    sh_wire_limits lim = {0};
    if (small) lim = (sh_wire_limits){.max_block = 100, .max_msg = 1000};
    sh_wire_dec *d;
    CHECK(sh_wire_dec_new(&lim, &d) == 0);
    size_t off = 0;
    for (size_t i = 0; off < n || i == 0; i++) {
        size_t c = k ? (sizes[i % k] ? sizes[i % k] : 1) : n;
        if (c > n - off) c = n - off;
        if (feed(d, s + off, c, o) < 0) break;
        CHECK(sh_wire_dec_buffered(d) <= (small ? 1004u : SH_WIRE_MAX_MSG + 4u));
        off += c;
        if (n == 0) break;
    }
    sh_wire_dec_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t k = data[0] & 15;
    if (size < 1 + k) return 0;
    bool with_hs = data[0] & 16, small = data[0] & 32;
    const uint8_t *sizes = data + 1, *body = data + 1 + k;
    size_t blen = size - 1 - k;

    uint8_t *s = malloc(SH_HANDSHAKE_LEN + blen + 1); /* its own buffer: exact bounds for ASan */
    CHECK(s != NULL);
    size_t n = 0;
    if (with_hs) {
        static const uint8_t id[20] = "fuzz-fuzz-fuzz-fuzz-";
        sh_bbuf hb;
        sh_bbuf_init(&hb);
        sh_wire_put_handshake(&hb, SH_RSV_FAST | SH_RSV_EXTENSION, id, id);
        CHECK(hb.err == 0 && hb.len == SH_HANDSHAKE_LEN);
        memcpy(s, hb.data, hb.len);
        n = hb.len;
        sh_bbuf_free(&hb);
    }
    if (blen) memcpy(s + n, body, blen);
    n += blen;

    out whole = {0}, split = {0};
    sh_bbuf_init(&whole.log);
    sh_bbuf_init(&split.log);
    run(s, n, NULL, 0, small, &whole);
    run(s, n, sizes, k, small, &split);
    CHECK(whole.log.err == 0 && split.log.err == 0);
    CHECK(whole.rc == split.rc);
    CHECK(whole.log.len == split.log.len);
    CHECK(whole.log.len == 0 || memcmp(whole.log.data, split.log.data, whole.log.len) == 0);
    sh_bbuf_free(&whole.log);
    sh_bbuf_free(&split.log);
    free(s);
    return 0;
}
