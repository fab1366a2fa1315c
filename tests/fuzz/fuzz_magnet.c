/*
 * fuzz_magnet.c — the magnet link parser on arbitrary bytes.
 *
 * Besides never crashing: an accepted link names at least one hash, keeps
 * within its bounds, holds NUL-terminated strings without NUL inside,
 * peers with a family and a port, no duplicate trackers; and the .torrent
 * built around a tiny info dictionary with its trackers parses back with
 * the same trackers.
 */
#include <shoal/magnet.h>
#include <shoal/metainfo.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static const char INFO[] = "d6:lengthi5e4:name1:a12:piece lengthi16384e"
                           "6:pieces20:aaaaaaaaaaaaaaaaaaaae";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_magnet *m = NULL;
    sh_errinfo ei;
    int rc = sh_magnet_parse((const char *)data, size, &m, &ei);
    if (rc != 0) {
        CHECK(m == NULL);
        CHECK(rc == SH_EINVAL || rc == SH_ELIMIT || rc == SH_ENOMEM);
        CHECK(ei.msg[0] != 0);
        return 0;
    }
    CHECK(m->has_v1 || m->has_v2);
    CHECK(m->num_trackers <= SH_MAGNET_MAX_TRACKERS && m->num_peers <= SH_MAGNET_MAX_PEERS);
    if (m->name) CHECK(strlen(m->name) <= SH_MAGNET_MAX_VALUE);
    for (uint32_t i = 0; i < m->num_trackers; i++) {
        size_t n = strlen(m->trackers[i]);
        CHECK(n > 0 && n <= SH_MAGNET_MAX_VALUE);
        for (uint32_t j = 0; j < i; j++)
            CHECK(strcmp(m->trackers[i], m->trackers[j]) != 0);
    }
    for (uint32_t i = 0; i < m->num_peers; i++)
        CHECK((m->peers[i].family == 4 || m->peers[i].family == 6) && m->peers[i].port != 0);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_magnet_torrent(m, (const uint8_t *)INFO, sizeof INFO - 1, &b);
    CHECK(b.err == 0);
    sh_metainfo *mi = NULL;
    rc = sh_metainfo_parse(b.data, b.len, &mi, NULL);
    CHECK(rc == 0);
    CHECK(mi->num_tiers == m->num_trackers);
    for (uint32_t i = 0; i < mi->num_tiers; i++)
        CHECK(mi->tiers[i].count == 1 && strcmp(mi->tiers[i].urls[0], m->trackers[i]) == 0);
    sh_metainfo_free(mi);
    sh_bbuf_free(&b);
    sh_magnet_free(m);
    return 0;
}
