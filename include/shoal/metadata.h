/*
 * metadata.h — the BEP 9 ut_metadata message: a bencoded dictionary
 * (msg_type, piece, total_size) followed, for a data message, by the raw
 * bytes of one 16 KiB piece of the info dictionary (the last piece shorter).
 *
 * Codec only: who may ask how often, and how pieces are assembled and
 * verified, belong to the swarm (serving) and to the metadata fetcher
 * (src/core/metafetch.c). Parsing is bounded (SH_MD_MAX_MSG, a small
 * dictionary) and checks what every reader needs: known message type, a
 * piece index that fits, total_size within (0, SH_MD_MAX_SIZE] when
 * present. It must never read past the input or trust total_size.
 */
#ifndef SHOAL_METADATA_H
#define SHOAL_METADATA_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/types.h>

#define SH_MD_PIECE 16384u                  /* bytes per metadata piece */
#define SH_MD_MAX_SIZE (16u << 20)          /* largest info dictionary we fetch or accept */
#define SH_MD_MAX_MSG (SH_MD_PIECE + 1024u) /* libtorrent closes on > 17 KiB */

typedef enum sh_md_type {
    SH_MD_REQUEST = 0,
    SH_MD_DATA = 1,
    SH_MD_REJECT = 2,
} sh_md_type;

typedef struct sh_md_msg {
    sh_md_type type;
    uint32_t piece;
    int64_t total_size; /* -1 if absent */
    sh_span data;       /* SH_MD_DATA: the bytes after the dictionary (into the input) */
} sh_md_msg;

/* Pieces of a metadata of `size` bytes (0 for size 0). */
static inline uint32_t sh_md_pieces(uint64_t size)
{
    return (uint32_t)((size + SH_MD_PIECE - 1) / SH_MD_PIECE);
}

/* Length of piece i of a metadata of `size` bytes; 0 if i is out of range. */
uint32_t sh_md_piece_len(uint64_t size, uint32_t i);

/*
 * Parses a ut_metadata payload (after the extended-message id). Errors:
 * SH_ELIMIT (longer than SH_MD_MAX_MSG), SH_EBENCODE, SH_EPROTO (not a
 * dictionary, msg_type or piece missing or out of range, total_size out of
 * range), SH_ENOMEM. Bytes after the dictionary of a request or reject are
 * ignored.
 */
int sh_md_parse(const uint8_t *p, size_t len, sh_md_msg *out, sh_errinfo *ei);

/* Encodes a payload: the dictionary (total_size < 0 omits it), then data. */
void sh_md_encode(sh_bbuf *b, sh_md_type type, uint32_t piece, int64_t total_size,
                  const uint8_t *data, size_t len);

#endif
