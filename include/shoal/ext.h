/*
 * ext.h — the BEP 10 extension handshake: which extended messages a peer
 * speaks and under which ids, plus the facts it volunteers (listen port,
 * client name, request queue depth, upload-only, metadata size, our address
 * as it sees it).
 *
 * shoal adds one key of its own, "shoal_block": the largest request length
 * the sender accepts. Standard clients ignore unknown keys, so between two
 * shoal peers requests may grow past 16 KiB while every other client keeps
 * 16 KiB blocks (INTEROP.md §4.5).
 *
 * Ids are chosen by the receiver: we send a message with the id the PEER put
 * in its "m", and 0 there means "disabled". Parsing is bounded and tolerant
 * of unknown keys and of known keys with wrong types (they are ignored, as
 * clients in the wild send odd values); only a payload that is not a
 * bencoded dictionary is an error.
 */
#ifndef SHOAL_EXT_H
#define SHOAL_EXT_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/types.h>

/* Our local ids for the extended messages we implement (what we put in "m"). */
#define SH_EXT_ID_METADATA 1  /* ut_metadata, BEP 9 */
#define SH_EXT_ID_PEX 2       /* ut_pex, BEP 11 */

typedef struct sh_ext_hs {
    uint8_t ut_metadata;      /* peer's id for ut_metadata, 0 = not supported */
    uint8_t ut_pex;           /* peer's id for ut_pex, 0 = not supported */
    bool has_port;
    uint16_t port;            /* "p": the peer's listen port */
    char client[64];          /* "v", NUL-terminated, non-printables replaced by '?' */
    uint32_t reqq;            /* "reqq", 0 if absent */
    bool upload_only;         /* BEP 21 "upload_only" */
    int64_t metadata_size;    /* "metadata_size", -1 if absent */
    bool has_yourip;
    sh_addr yourip;           /* "yourip" (port 0) */
    uint32_t shoal_block;     /* "shoal_block", 0 if absent (not a shoal peer) */
} sh_ext_hs;

/* Parses an extended-handshake payload (message 20, ext id 0). */
int sh_ext_hs_parse(const uint8_t *p, size_t len, sh_ext_hs *out, sh_errinfo *ei);

/*
 * Encodes our handshake. `hs` describes US: the ids in ut_metadata/ut_pex
 * are our local ids (0 leaves the extension out of "m"); metadata_size < 0
 * omits the key; yourip is the address we see the peer at (family 0 omits).
 */
void sh_ext_hs_encode(sh_bbuf *b, const sh_ext_hs *hs);

#endif
