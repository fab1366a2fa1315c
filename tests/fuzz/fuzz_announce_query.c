/*
 * fuzz_announce_query.c — the tracker's HTTP query parsers on arbitrary bytes.
 *
 * Whatever the query, the announce parser returns 0 or SH_EINVAL with a
 * reason. When it accepts, the request obeys its documented bounds, and the
 * client's URL built from it parses back to the very same request: the
 * percent-encoder and the decoder are inverse on every value they carry.
 * The scrape parser never reports more hashes than it was allowed.
 */
#include <shoal/announce.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void check_roundtrip(const sh_announce_req *r, const sh_addr *remote)
{
    char *url = sh_http_announce_url("http://127.0.0.1:1/announce", r);
    CHECK(url != NULL);
    const char *q = strchr(url, '?') + 1;
    sh_announce_req b;
    sh_errinfo ei;
    CHECK(sh_http_announce_parse(q, strlen(q), remote, &b, &ei) == 0);
    CHECK(memcmp(b.info_hash, r->info_hash, 20) == 0);
    CHECK(memcmp(b.peer_id, r->peer_id, 20) == 0);
    CHECK(sh_addr_eq(&b.addr, &r->addr));
    CHECK(b.uploaded == r->uploaded && b.downloaded == r->downloaded && b.left == r->left);
    CHECK(b.event == r->event && b.numwant == r->numwant && b.key == r->key);
    CHECK(b.want_v6 == r->want_v6);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sh_addr v4 = {.family = 4, .ip = {10, 0, 0, 1}, .port = 9};
    static const sh_addr v6 = {.family = 6, .ip = {0xfd, [15] = 1}, .port = 9};
    const sh_addr *remote = size && (data[0] & 1) ? &v6 : &v4;
    const char *q = (const char *)data;
    sh_announce_req r;
    sh_errinfo ei;
    memset(&ei, 0, sizeof ei);
    int rc = sh_http_announce_parse(q, size, remote, &r, &ei);
    if (rc == 0) {
        CHECK(size <= SH_QUERY_MAX);
        CHECK(r.addr.port >= 1 && r.numwant <= SH_NUMWANT_MAX);
        CHECK(r.event <= SH_TEV_PAUSED);
        CHECK(r.addr.family == remote->family && r.want_v6 == (remote->family == 6));
        check_roundtrip(&r, remote);
    } else {
        CHECK(rc == SH_EINVAL && ei.msg[0] != 0);
        CHECK(memchr(ei.msg, 0, sizeof ei.msg) != NULL);
    }
    uint8_t hashes[4][20];
    uint32_t n = 77;
    rc = sh_http_scrape_parse(q, size, hashes, 4, &n, &ei);
    CHECK(rc == 0 ? n <= 4 : (rc == SH_EINVAL && n == 77));
    return 0;
}
