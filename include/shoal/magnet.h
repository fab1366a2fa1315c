/*
 * magnet.h — magnet links (BEP 9, BEP 52): what a link names (the v1
 * info-hash "urn:btih", the v2 one "urn:btmh", or both for a hybrid) and
 * where to look for it (tr= trackers, x.pe= peers), plus the display name.
 *
 * A link comes from a user or a web page: it is hostile input. Parsing is
 * bounded (total length, value length, counts), percent-decodes every
 * value, accepts btih as 40 hex or 32 base32 digits and btmh as the
 * SHA-256 multihash "1220" + 64 hex, and names the broken rule on error.
 * Unknown parameters and unknown xt namespaces are ignored, as other
 * clients do. Link generation is sh_metainfo_magnet (metainfo.h).
 */
#ifndef SHOAL_MAGNET_H
#define SHOAL_MAGNET_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/types.h>

#define SH_MAGNET_MAX_LEN (64u << 10) /* the whole link */
#define SH_MAGNET_MAX_VALUE 4096u     /* one decoded value */
#define SH_MAGNET_MAX_TRACKERS 64u    /* tr= kept; more are ignored */
#define SH_MAGNET_MAX_PEERS 256u      /* x.pe= kept; more are ignored */

typedef struct sh_magnet {
    bool has_v1; /* btih given */
    bool has_v2; /* btmh given */
    uint8_t btih[20];
    uint8_t btmh[32];
    char *name;      /* dn=, decoded; NULL if absent */
    char **trackers; /* tr=, decoded, duplicates removed, in link order */
    uint32_t num_trackers;
    sh_addr *peers; /* x.pe= IP:port, duplicates removed */
    uint32_t num_peers;
    uint32_t ignored; /* x.pe= that are not IP:port (host names), and tr=/x.pe= beyond
                         the bounds: the caller may warn */
} sh_magnet;

/* Parses "magnet:?xt=...". len is the length of uri (no NUL needed). On
 * success *out is owned by the caller (sh_magnet_free). Errors: SH_EINVAL
 * (not a magnet link, a bad hash, bad percent-encoding, a NUL byte, two
 * different hashes of one kind, no btih/btmh at all), SH_ELIMIT, SH_ENOMEM. */
int sh_magnet_parse(const char *uri, size_t len, sh_magnet **out, sh_errinfo *ei);
void sh_magnet_free(sh_magnet *m);

/* True if s starts with "magnet:" (any case): the link form of a torrent argument. */
bool sh_magnet_is_link(const char *s);

/* The 20 bytes used on the wire: the v1 hash, else the truncated v2 hash. */
const uint8_t *sh_magnet_wire_hash(const sh_magnet *m);

/*
 * A .torrent for the fetched info dictionary: "announce" and
 * "announce-list" (one tier per tracker, as libtorrent does for magnet
 * links) from the link's trackers, then the info dictionary's exact bytes.
 * sh_metainfo_parse accepts the result; for v2 it has no piece layers.
 */
void sh_magnet_torrent(const sh_magnet *m, const uint8_t *info, size_t len, sh_bbuf *out);

#endif
