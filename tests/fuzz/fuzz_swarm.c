/*
 * fuzz_swarm.c — a swarm fed arbitrary bytes on up to two connections, with
 * time passing in between.
 *
 * Input: byte 0 chooses the scene (bit 0: we are the seed, bit 1/2: the
 * peers offer fast / extensions, bit 3: a second connection); then records
 * of [control][length][length bytes]: the control byte picks the connection
 * (bit 0) and how many seconds pass first (bits 2..7, 0 = none). Each
 * connection starts with a valid handshake, so the fuzzer explores the
 * message rules, not only the handshake check. The driver side is honest:
 * output is pulled and acknowledged in odd-sized pieces, pieces are
 * verified, closes are confirmed.
 *
 * Besides never crashing: ids are never reused, the deadline is never due
 * right after on_timer, output segments are well-formed, and a leecher
 * never counts more verified pieces than the torrent has.
 */
#include <shoal/bencode.h>
#include <shoal/mkinfo.h>
#include <shoal/swarm.h>
#include <shoal/verify.h>
#include <shoal/wire.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static sh_metainfo *g_mi;

/* A hybrid of two files (v2 hash requests have a layer to answer from). */
static void make_torrent(void)
{
    static const uint64_t lens[2] = {70000, 20000};
    sh_mkinfo_opts o = {.version = SH_META_HYBRID, .piece_length = 16384, .name = "fz"};
    sh_mkinfo *m;
    CHECK(sh_mkinfo_new(&o, &m) == 0);
    CHECK(sh_mkinfo_add_file(m, "a", lens[0], false) == 0);
    CHECK(sh_mkinfo_add_file(m, "b", lens[1], false) == 0);
    CHECK(sh_mkinfo_layout(m) == 0);
    uint8_t *buf = malloc(lens[0]);
    CHECK(buf);
    for (uint32_t k = 0; k < sh_mkinfo_num_files(m); k++) {
        uint64_t len;
        sh_mkinfo_file(m, k, &len);
        for (uint64_t i = 0; i < len; i++)
            buf[i] = (uint8_t)(i * 7 + k);
        CHECK(sh_mkinfo_feed(m, buf, len) == 0);
    }
    free(buf);
    sh_bbuf enc;
    sh_bbuf_init(&enc);
    CHECK(sh_mkinfo_finish(m, &enc) == 0);
    sh_mkinfo_free(m);
    CHECK(sh_metainfo_parse(enc.data, enc.len, &g_mi, NULL) == 0);
    sh_bbuf_free(&enc);
}

typedef struct scene {
    sh_swarm *s;
    sh_conn_id conn[2];
    sh_conn_id last_id;
    sh_time now;
} scene;

static void pull_output(scene *z, sh_conn_id c)
{
    sh_seg segs[8];
    size_t n;
    while ((n = sh_swarm_out(z->s, c, segs, 8)) > 0) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK(segs[i].len > 0);
            CHECK(segs[i].kind == SH_SEG_BYTES ? segs[i].ptr != NULL
                                               : segs[i].kind == SH_SEG_BLOCK);
            if (segs[i].kind == SH_SEG_BLOCK)
                CHECK(segs[i].piece < g_mi->num_pieces &&
                      (uint64_t)segs[i].offset + segs[i].len <=
                          sh_metainfo_piece_size(g_mi, segs[i].piece));
            total += segs[i].len;
        }
        sh_swarm_sent(z->s, c, total > 3 ? total - 3 : total, z->now);
    }
}

static void drain(scene *z)
{
    sh_action a;
    while (sh_swarm_next_action(z->s, &a)) {
        switch (a.type) {
        case SH_ACT_CONNECT:
            CHECK(a.conn > z->last_id);
            z->last_id = a.conn;
            sh_swarm_closed(z->s, a.conn, SH_EIO, z->now);
            break;
        case SH_ACT_CLOSE:
            sh_swarm_closed(z->s, a.conn, a.reason, z->now);
            for (int i = 0; i < 2; i++)
                if (z->conn[i] == a.conn) z->conn[i] = 0;
            break;
        case SH_ACT_SEND:
            pull_output(z, a.conn);
            break;
        case SH_ACT_VERIFY:
            CHECK(a.piece < g_mi->num_pieces && a.len == sh_metainfo_piece_size(g_mi, a.piece));
            sh_swarm_verified(z->s, a.piece, sh_piece_verify(g_mi, a.piece, a.data, a.len) == 0,
                              z->now);
            break;
        case SH_ACT_COMPLETE:
            break;
        default:
            CHECK(0);
        }
    }
}

static void advance(scene *z, unsigned secs)
{
    z->now += (sh_time)secs * 1000000000ull;
    if (z->now >= sh_swarm_next_deadline(z->s)) {
        sh_swarm_on_timer(z->s, z->now);
        CHECK(sh_swarm_next_deadline(z->s) > z->now);
    }
    drain(z);
}

static void open_conn(scene *z, int k, uint8_t flags)
{
    sh_addr a = {.family = 4, .ip = {10, 0, 0, (uint8_t)(k + 1)}, .port = 4000};
    z->conn[k] = sh_swarm_accept(z->s, &a, z->now);
    CHECK(z->conn[k] > z->last_id);
    z->last_id = z->conn[k];
    uint32_t rsv = ((flags & 2) ? SH_RSV_FAST : 0) | ((flags & 4) ? SH_RSV_EXTENSION : 0);
    uint8_t id[20];
    memset(id, 'a' + k, sizeof id);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_handshake(&b, rsv, sh_metainfo_wire_hash(g_mi), id);
    sh_swarm_recv(z->s, z->conn[k], b.data, b.len, z->now);
    sh_bbuf_free(&b);
    drain(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_mi) make_torrent();
    if (size < 1) return 0;
    uint8_t flags = data[0];
    sh_bitfield have;
    CHECK(sh_bitfield_init(&have, g_mi->num_pieces) == 0);
    if (flags & 1) sh_bitfield_set_all(&have);
    scene z = {.now = 1000000000000ull};
    sh_swarm_config cfg = {.mi = g_mi, .have = &have, .max_block = 65536, .rng_seed = flags};
    memset(cfg.peer_id, 'z', sizeof cfg.peer_id);
    CHECK(sh_swarm_new(&cfg, z.now, &z.s) == 0);
    sh_bitfield_free(&have);
    open_conn(&z, 0, flags);
    if (flags & 8) open_conn(&z, 1, flags);
    for (size_t i = 1; i + 2 <= size;) {
        uint8_t ctl = data[i], len = data[i + 1];
        i += 2;
        if (len > size - i) len = (uint8_t)(size - i);
        if (ctl >> 2) advance(&z, ctl >> 2);
        sh_conn_id c = z.conn[ctl & 1];
        if (c) sh_swarm_recv(z.s, c, data + i, len, z.now);
        drain(&z);
        i += len;
    }
    advance(&z, 200); /* every timeout fires */
    sh_swarm_stats st;
    sh_swarm_get_stats(z.s, &st);
    CHECK(st.pieces_have <= st.num_pieces);
    CHECK(st.peers + st.connecting <= 2);
    sh_swarm_free(z.s);
    return 0;
}
