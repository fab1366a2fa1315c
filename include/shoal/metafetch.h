/*
 * metafetch.h — fetching a torrent's info dictionary from peers, for a
 * magnet link (BEP 9 ut_metadata over BEP 10, on BitTorrent connections).
 *
 * Same shape as sh_swarm: a pure core fed events (connection opened, bytes
 * arrived, closed, time passed) that queues actions (sh_action from
 * swarm.h: CONNECT, CLOSE, SEND, and COMPLETE once the metadata is
 * verified) and whose output bytes are pulled and acknowledged. Connection
 * ids start at 1 and are never reused; nothing is ordered by pointer; it
 * performs no I/O.
 *
 * It dials candidates with the swarm's redial back-off, does the BitTorrent
 * handshake with the extension bit and the 20-byte wire hash (the v1 hash,
 * or the truncated v2 one), the extension handshake, and then asks the
 * peers that advertise ut_metadata and a plausible metadata_size (0 <
 * size <= SH_MD_MAX_SIZE) for 16 KiB pieces, a few at a time
 * each. The assembled bytes must hash to the link's btih (SHA-1) and btmh
 * (SHA-256), whichever it gave, and must parse as an info dictionary.
 *
 * Peers are hostile. One that breaks a rule (a piece of the wrong length,
 * a total_size that differs from its metadata_size, pieces nobody asked
 * for, an out-of-range metadata_size, silence) is dropped. Metadata that
 * fails the hash check bans its only contributor by IP; when several
 * contributed, each gets a strike (two ban) and the next attempt takes
 * every piece from one peer, so the next failure names the culprit. Peers
 * that disagree on metadata_size wait until the size being assembled has
 * failed or lost its peers.
 */
#ifndef SHOAL_METAFETCH_H
#define SHOAL_METAFETCH_H

#include <shoal/error.h>
#include <shoal/log.h>
#include <shoal/swarm.h>
#include <shoal/types.h>

typedef struct sh_metafetch_config {
    bool has_v1, has_v2; /* which hashes the link gave (at least one) */
    uint8_t btih[20];
    uint8_t btmh[32];
    uint8_t peer_id[20];
    uint16_t listen_port;    /* advertised as "p"; 0: none */
    const char *client_name; /* "v"; NULL: "shoal" */
    uint32_t max_conns;      /* 0 → 16 */
    uint32_t max_half_open;  /* 0 → 8 */
    uint64_t rng_seed;
    sh_logger log;
} sh_metafetch_config;

typedef struct sh_metafetch sh_metafetch;

/* SH_EINVAL: no hash; SH_ENOMEM. */
int sh_metafetch_new(const sh_metafetch_config *cfg, sh_time now, sh_metafetch **out);
void sh_metafetch_free(sh_metafetch *f);

/* ---- events (as for sh_swarm) ---- */
void sh_metafetch_add_peer(sh_metafetch *f, const sh_addr *a, sh_peer_source src, sh_time now);
sh_conn_id sh_metafetch_accept(sh_metafetch *f, const sh_addr *remote, sh_time now);
void sh_metafetch_connected(sh_metafetch *f, sh_conn_id c, sh_time now);
int sh_metafetch_recv(sh_metafetch *f, sh_conn_id c, const uint8_t *data, size_t len, sh_time now);
void sh_metafetch_closed(sh_metafetch *f, sh_conn_id c, int reason, sh_time now);
void sh_metafetch_on_timer(sh_metafetch *f, sh_time now);
sh_time sh_metafetch_next_deadline(const sh_metafetch *f);

/* ---- output bytes (only SH_SEG_BYTES) ---- */
size_t sh_metafetch_out(sh_metafetch *f, sh_conn_id c, sh_seg *segs, size_t max);
void sh_metafetch_sent(sh_metafetch *f, sh_conn_id c, size_t n, sh_time now);

/* ---- actions: SH_ACT_CONNECT, SH_ACT_CLOSE, SH_ACT_SEND, SH_ACT_COMPLETE (once) ---- */
bool sh_metafetch_next_action(sh_metafetch *f, sh_action *a);

/* ---- results ---- */

typedef enum sh_metafetch_state {
    SH_MF_RUNNING = 1,
    SH_MF_DONE = 2,   /* verified: sh_metafetch_info */
    SH_MF_FAILED = 3, /* the verified metadata is not a valid info dictionary (error_msg) */
} sh_metafetch_state;

typedef struct sh_metafetch_stats {
    sh_metafetch_state state;
    uint32_t known;         /* candidate addresses */
    uint32_t connecting;    /* dials and handshakes in flight */
    uint32_t peers;         /* connections past the handshake */
    uint32_t with_metadata; /* of those, offering ut_metadata with a usable size */
    uint32_t banned;        /* IPs banned for bad metadata */
    uint64_t size;          /* metadata size being assembled (0: none yet) */
    uint32_t pieces, pieces_have;
    int error; /* SH_E* when FAILED */
    char error_msg[256];
} sh_metafetch_stats;

void sh_metafetch_get_stats(const sh_metafetch *f, sh_metafetch_stats *st);

/* Our peer id (for trackers announcing on the fetch's behalf). */
const uint8_t *sh_metafetch_peer_id(const sh_metafetch *f);

/* The verified info dictionary (DONE), owned by f; NULL before. */
const uint8_t *sh_metafetch_info(const sh_metafetch *f, size_t *len);

/*
 * Addresses worth giving to the download that follows, best first: peers
 * that completed the handshake for this torrent (their listen address:
 * the one dialed, or an incoming peer's IP with its "p"), then the other
 * candidates that are not banned. Returns the number written (<= max).
 */
size_t sh_metafetch_peers(const sh_metafetch *f, sh_addr *out, size_t max);

#endif
