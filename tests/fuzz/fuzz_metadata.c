/*
 * fuzz_metadata.c — the ut_metadata codec and the metadata fetcher on
 * arbitrary bytes.
 *
 * Input: byte 0 chooses the scene (bit 0: the codec alone on the rest;
 * bit 1: the peers offer fast; bit 2: a second connection); then records
 * of [control][length][length bytes]: the control byte picks the
 * connection (bit 0) and how many seconds pass first (bits 2..7). Each
 * connection starts with a valid handshake for the link's hash, so the
 * fuzzer explores extension handshakes and ut_metadata answers. The driver
 * side is honest: output is pulled and acknowledged, closes confirmed.
 *
 * Checks: an accepted message survives a round trip; the fetcher never
 * reuses an id, its deadline is never due right after on_timer, it only
 * outputs bytes, never assembles more than SH_MD_MAX_SIZE or more pieces
 * than the size has, and metadata it calls verified hashes to the link.
 */
#include <shoal/metadata.h>
#include <shoal/metafetch.h>
#include <shoal/sha.h>
#include <shoal/wire.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

/* The link's info dictionary: small enough that a fuzzer can find its bytes in a dictionary. */
static const char INFO[] = "d6:lengthi5e4:name1:a12:piece lengthi16384e"
                           "6:pieces20:aaaaaaaaaaaaaaaaaaaae";

static void codec(const uint8_t *p, size_t n)
{
    sh_md_msg m, back;
    int rc = sh_md_parse(p, n, &m, NULL);
    if (rc != 0) {
        CHECK(rc == SH_EPROTO || rc == SH_EBENCODE || rc == SH_ELIMIT || rc == SH_ENOMEM);
        return;
    }
    CHECK(m.type <= SH_MD_REJECT && m.piece < sh_md_pieces(SH_MD_MAX_SIZE));
    CHECK(m.total_size == -1 || (m.total_size > 0 && m.total_size <= (int64_t)SH_MD_MAX_SIZE));
    CHECK(m.data.len <= n);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_md_encode(&b, m.type, m.piece, m.total_size, m.data.ptr, m.data.len);
    CHECK(b.err == 0);
    if (b.len <= SH_MD_MAX_MSG) {
        CHECK(sh_md_parse(b.data, b.len, &back, NULL) == 0);
        CHECK(back.type == m.type && back.piece == m.piece && back.total_size == m.total_size);
        CHECK(back.data.len == m.data.len);
        if (m.data.len) CHECK(memcmp(back.data.ptr, m.data.ptr, m.data.len) == 0);
    }
    sh_bbuf_free(&b);
}

typedef struct fz {
    sh_metafetch *f;
    sh_time now;
    sh_conn_id conns[2];
    bool open[2];
    sh_conn_id last_id;
    uint8_t hash[20];
} fz;

static void drain(fz *z)
{
    sh_action a;
    while (sh_metafetch_next_action(z->f, &a)) {
        if (a.type == SH_ACT_CONNECT) {
            CHECK(a.conn > z->last_id);
            z->last_id = a.conn;
            for (int i = 0; i < 2; i++)
                if (!z->open[i] && !z->conns[i]) {
                    z->conns[i] = a.conn;
                    z->open[i] = true;
                    sh_metafetch_connected(z->f, a.conn, z->now);
                    goto next;
                }
            sh_metafetch_closed(z->f, a.conn, SH_ECLOSED, z->now);
        } else if (a.type == SH_ACT_CLOSE) {
            for (int i = 0; i < 2; i++)
                if (z->conns[i] == a.conn) z->open[i] = false;
            sh_metafetch_closed(z->f, a.conn, a.reason, z->now);
        }
    next:;
    }
    for (int i = 0; i < 2; i++) {
        if (!z->open[i]) continue;
        sh_seg segs[4];
        size_t n;
        while ((n = sh_metafetch_out(z->f, z->conns[i], segs, 4)) > 0) {
            size_t tot = 0;
            for (size_t k = 0; k < n; k++) {
                CHECK(segs[k].kind == SH_SEG_BYTES && segs[k].len > 0);
                tot += segs[k].len;
            }
            sh_metafetch_sent(z->f, z->conns[i], tot > 7 ? tot - 7 : tot, z->now);
        }
    }
}

static void check_state(fz *z)
{
    sh_metafetch_stats st;
    sh_metafetch_get_stats(z->f, &st);
    CHECK(st.size <= SH_MD_MAX_SIZE);
    CHECK(st.pieces == sh_md_pieces(st.size) && st.pieces_have <= st.pieces);
    size_t len = 0;
    const uint8_t *info = sh_metafetch_info(z->f, &len);
    CHECK((info != NULL) == (st.state == SH_MF_DONE));
    if (info) {
        uint8_t md[20];
        sh_sha1(info, len, md);
        CHECK(memcmp(md, z->hash, 20) == 0);
    }
}

static void fetcher(const uint8_t *data, size_t size)
{
    fz z = {.now = SH_SEC(100)};
    uint8_t scene = data[0];
    sh_metafetch_config cfg = {.has_v1 = true, .listen_port = 6881};
    sh_sha1(INFO, sizeof INFO - 1, cfg.btih);
    memcpy(z.hash, cfg.btih, 20);
    memcpy(cfg.peer_id, "-SH0100-fuzzfuzzfuzz", 20);
    CHECK(sh_metafetch_new(&cfg, z.now, &z.f) == 0);
    int npeers = scene & 4 ? 2 : 1;
    for (int i = 0; i < npeers; i++) {
        sh_addr a = {.family = 4, .ip = {127, 0, 0, (uint8_t)(2 + i)}, .port = 6881};
        sh_metafetch_add_peer(z.f, &a, SH_SRC_MANUAL, z.now);
    }
    drain(&z);
    for (int i = 0; i < 2; i++) {
        if (!z.open[i]) continue;
        sh_bbuf b;
        sh_bbuf_init(&b);
        uint8_t id[20];
        memcpy(id, "-XX0001-fuzzpeer0000", 20);
        id[19] = (uint8_t)('0' + i);
        sh_wire_put_handshake(&b, SH_RSV_EXTENSION | (scene & 2 ? SH_RSV_FAST : 0), cfg.btih, id);
        sh_metafetch_recv(z.f, z.conns[i], b.data, b.len, z.now);
        sh_bbuf_free(&b);
        drain(&z);
    }
    size_t off = 1;
    while (off + 2 <= size) {
        uint8_t ctl = data[off];
        size_t len = data[off + 1];
        off += 2;
        if (len > size - off) len = size - off;
        sh_time dt = SH_SEC(ctl >> 2);
        if (dt) {
            z.now += dt;
            if (sh_metafetch_next_deadline(z.f) <= z.now) {
                sh_metafetch_on_timer(z.f, z.now);
                CHECK(sh_metafetch_next_deadline(z.f) > z.now);
            }
            drain(&z);
        }
        int c = ctl & 1;
        if (z.open[c]) sh_metafetch_recv(z.f, z.conns[c], data + off, len, z.now);
        off += len;
        drain(&z);
        check_state(&z);
    }
    sh_metafetch_free(z.f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (data[0] & 1)
        codec(data + 1, size - 1);
    else
        fetcher(data, size);
    return 0;
}
