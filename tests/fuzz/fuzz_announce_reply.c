/*
 * fuzz_announce_reply.c — the client's decoder of HTTP tracker answers on
 * arbitrary bytes.
 *
 * The decoder returns a documented code; an accepted answer holds at most
 * 2000 peers, each a usable endpoint, and NUL-terminated texts. Encoding the
 * decoded answer as dictionary peers and decoding it again gives the same
 * answer, peer for peer; encoding it compact keeps every peer too.
 */
#include <shoal/announce.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void check_same(const sh_announce_reply *a, const sh_announce_reply *b, bool ids)
{
    CHECK(a->num_peers == b->num_peers);
    CHECK(a->interval == b->interval && a->min_interval == b->min_interval);
    CHECK(a->complete == b->complete && a->incomplete == b->incomplete);
    CHECK(strcmp(a->failure, b->failure) == 0 && strcmp(a->warning, b->warning) == 0);
    for (uint32_t i = 0; ids && i < a->num_peers; i++) {
        CHECK(sh_addr_eq(&a->peers[i].addr, &b->peers[i].addr));
        CHECK(a->peers[i].has_peer_id == b->peers[i].has_peer_id);
        if (a->peers[i].has_peer_id)
            CHECK(memcmp(a->peers[i].peer_id, b->peers[i].peer_id, 20) == 0);
    }
}

static void reencode(const sh_announce_reply *r, int rc, bool compact)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_announce_encode(&b, r, compact, false);
    CHECK(b.err == 0);
    sh_announce_reply back;
    CHECK(sh_http_announce_decode(b.data, b.len, &back, NULL) == rc);
    check_same(r, &back, !compact);
    sh_announce_reply_free(&back);
    sh_bbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_announce_reply r;
    sh_errinfo ei;
    int rc = sh_http_announce_decode(data, size, &r, &ei);
    if (rc != 0 && rc != SH_ETRACKER) {
        CHECK(rc == SH_EBENCODE || rc == SH_ELIMIT || rc == SH_EPROTO || rc == SH_ENOMEM);
        return 0;
    }
    CHECK(memchr(r.failure, 0, sizeof r.failure) && memchr(r.warning, 0, sizeof r.warning));
    CHECK((rc == SH_ETRACKER) == (r.failure[0] != 0));
    CHECK(r.num_peers <= 2000 && (r.num_peers == 0 || r.peers));
    for (uint32_t i = 0; i < r.num_peers; i++) {
        CHECK(r.peers[i].addr.family == 4 || r.peers[i].addr.family == 6);
        CHECK(r.peers[i].addr.port != 0);
    }
    reencode(&r, rc, false);
    reencode(&r, rc, true);
    sh_announce_reply_free(&r);
    return 0;
}
