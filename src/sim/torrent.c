/*
 * torrent.c — the simulated torrent: one file of the requested size.
 *
 * Hashing 5 GB to make a torrent would be slow and pointless when no
 * payload exists and verification is simulated, so the info dictionary is
 * written directly (v1, single file) with all-zero piece hashes and then
 * loaded by the ordinary parser: the swarm sees a metainfo exactly like one
 * read from a .torrent, with a real info-hash of that dictionary.
 */
#include "sim.h"

#include <shoal/bencode.h>

#include <stdlib.h>

int sim_torrent_make(uint64_t size, uint64_t piece_length, sh_metainfo **out)
{
    if (size == 0 || piece_length == 0) return SH_EINVAL;
    uint64_t n = size / piece_length + (size % piece_length != 0);
    if (n > SH_META_MAX_PIECES) return SH_ELIMIT;
    uint8_t *zeros = calloc(n, 20);
    if (!zeros) return SH_ENOMEM;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_benc_dict_begin(&b); /* keys in sorted order */
    sh_benc_kv_int(&b, "length", (int64_t)size);
    sh_benc_kv_cstr(&b, "name", "shoal-sim.bin");
    sh_benc_kv_int(&b, "piece length", (int64_t)piece_length);
    sh_benc_kv_str(&b, "pieces", zeros, (size_t)n * 20);
    sh_benc_end(&b);
    free(zeros);
    int rc = b.err ? b.err : sh_metainfo_parse_info(b.data, b.len, out, NULL);
    sh_bbuf_free(&b);
    return rc;
}
