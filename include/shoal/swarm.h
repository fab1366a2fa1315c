/*
 * swarm.h — one torrent's peer protocol engine: every connection's state
 * machine (handshake, choke/interest, requests, fast extension, extension
 * handshake, v2 hash messages), the picker, the choker, piece assembly,
 * bans, keep-alives and timeouts.
 *
 * It performs no I/O. The driver (src/io or src/sim) feeds it events —
 * bytes arrived, connection opened/closed, piece verified, time passed —
 * and drains the actions it queues: connect, close, "this connection has
 * output", "verify and store this piece", "download complete". Outgoing
 * bytes are pulled as segments and acknowledged, so partial writes need no
 * special handling; a block's payload is a reference (piece, offset,
 * length) that the real driver sends with sendfile(2) and the simulator
 * merely counts.
 *
 * Rules of the road:
 *  - every entry point takes `now`; sh_swarm_next_deadline says when the
 *    driver must call sh_swarm_on_timer next;
 *  - connection ids are assigned by the swarm, start at 1 and are never
 *    reused; after SH_ACT_CLOSE or sh_swarm_closed an id is dead;
 *  - nothing is ordered by pointer address; randomness comes from the seed;
 *  - actions are queued, never delivered by callback, so a close inside a
 *    handler cannot re-enter the driver;
 *  - input from peers is hostile: a protocol violation closes that
 *    connection (SH_ACT_CLOSE with a reason) and never disturbs the others;
 *    a peer whose data fails a hash check is banned by IP.
 */
#ifndef SHOAL_SWARM_H
#define SHOAL_SWARM_H

#include <shoal/bitfield.h>
#include <shoal/error.h>
#include <shoal/log.h>
#include <shoal/metainfo.h>
#include <shoal/types.h>

typedef uint64_t sh_conn_id;  /* 0 is never a valid id */

/* Where a candidate address came from (for logs, stats and PEX policy). */
typedef enum sh_peer_source {
    SH_SRC_MANUAL = 0,  /* --peer */
    SH_SRC_TRACKER = 1,
    SH_SRC_DHT = 2,
    SH_SRC_PEX = 3,
    SH_SRC_INCOMING = 4,
} sh_peer_source;

typedef struct sh_swarm_config {
    const sh_metainfo *mi;      /* borrowed: must outlive the swarm */
    sh_metainfo *mi_layers;     /* magnet downloads of v2 and hybrid torrents: the same object
                                   as mi, writable. The piece layers it lacks are fetched from
                                   peers (BEP 52 hash requests, checked against each file's
                                   pieces root) and installed with sh_metainfo_set_layer, never
                                   while a piece of that file is being verified; a v2-only
                                   file's pieces are requested only once its layer is in.
                                   NULL: mi is never written */
    const sh_bitfield *have;    /* pieces verified before start (copied); NULL: none */
    uint8_t peer_id[20];
    uint16_t listen_port;       /* advertised as "p" in the extension handshake; 0: none */
    const char *client_name;    /* "v"; NULL: "shoal" */
    uint32_t max_conns;         /* established + connecting; 0 → 50 */
    uint32_t max_half_open;     /* outgoing connects in flight; 0 → 8 */
    uint32_t upload_slots;      /* peers unchoked at once; 0 → 16, fewer on a slow link_rate */
    uint64_t link_rate;         /* our upload capacity in bytes/s (`--upload-limit`, the
                                   simulator's link); 0: unknown. With it, upload slots and the
                                   origin's super-seeding batches are sized in time rather
                                   than bytes (docs/scheduling.md) */
    uint32_t max_block;         /* largest request we accept and advertise (shoal_block);
                                   0 → 16 KiB; peers that are not shoal always get 16 KiB.
                                   Rounded down to whole 16 KiB blocks, at most 4 MiB */
    uint32_t max_partial;       /* pieces being assembled at once; 0 → the larger of
                                   64 MiB / piece and min(64, 256 MiB / piece), at least 8 */
    uint64_t rng_seed;
    sh_logger log;
    bool no_super_seed;         /* a swarm created complete advertises pieces to shoal peers
                                   a few at a time, each to the fewest peers first
                                   (super-seeding, docs/scheduling.md); true: the full
                                   bitfield to everyone */
    bool virtual_payload;       /* simulator only: piece messages we receive carry no block
                                   bytes in the stream (sh_wire_limits.virtual_payload), so
                                   every peer must be virtual too; blocks are not copied and
                                   no piece buffers are allocated; SH_ACT_VERIFY carries
                                   data == NULL (len is the piece size). Uploads are
                                   unchanged: a 13-byte header segment, then an
                                   SH_SEG_BLOCK segment whose bytes the driver counts
                                   against bandwidth but never delivers */
} sh_swarm_config;

typedef struct sh_swarm sh_swarm;

/* SH_EINVAL: no metainfo, or `have` of the wrong size; SH_ENOMEM. */
int sh_swarm_new(const sh_swarm_config *cfg, sh_time now, sh_swarm **out);
void sh_swarm_free(sh_swarm *s);

/* ---- events from the driver ---- */

/* A candidate address (deduplicated; the swarm decides when to dial it).
 * Banned addresses and addresses found to be ourselves are ignored. */
void sh_swarm_add_peer(sh_swarm *s, const sh_addr *a, sh_peer_source src, sh_time now);

/* An incoming TCP connection. Returns its new id, or 0 if refused (full, or a
 * banned address): then the driver closes the socket and says nothing more. */
sh_conn_id sh_swarm_accept(sh_swarm *s, const sh_addr *remote, sh_time now);

/* The outgoing connection of an SH_ACT_CONNECT is established. */
void sh_swarm_connected(sh_swarm *s, sh_conn_id c, sh_time now);

/* Bytes arrived on c. Returns 0, or a negative code after which the swarm
 * has already queued SH_ACT_CLOSE for c (the driver need not act on the
 * return value; it is informative). SH_ECLOSED for an unknown or dead id,
 * or one still connecting. */
int sh_swarm_recv(sh_swarm *s, sh_conn_id c, const uint8_t *data, size_t len, sh_time now);

/* The connection is gone: closed by the peer, failed to connect, reset, or
 * closed by the driver after SH_ACT_CLOSE. Safe to call for unknown ids. */
void sh_swarm_closed(sh_swarm *s, sh_conn_id c, int reason, sh_time now);

/* Result of an SH_ACT_VERIFY: ok means the hash matched AND the data is stored. */
void sh_swarm_verified(sh_swarm *s, uint32_t piece, bool ok, sh_time now);

void sh_swarm_on_timer(sh_swarm *s, sh_time now);
/* When sh_swarm_on_timer must next be called (SH_TIME_NEVER if not needed). */
sh_time sh_swarm_next_deadline(const sh_swarm *s);

/* ---- output bytes ---- */

typedef enum sh_seg_kind {
    SH_SEG_BYTES = 1,  /* ptr/len: protocol bytes owned by the swarm */
    SH_SEG_BLOCK = 2,  /* piece payload: `len` bytes of piece `piece` at `offset`,
                          to be read from storage (sendfile) */
} sh_seg_kind;

typedef struct sh_seg {
    sh_seg_kind kind;
    const uint8_t *ptr;
    uint32_t len;
    uint32_t piece;
    uint32_t offset;
} sh_seg;

/* The front of c's pending output, up to max segments, without consuming it.
 * Pointers stay valid until the next call that changes the swarm. After an
 * SH_ACT_SEND the driver keeps pulling and writing until this returns 0 or
 * the socket would block (then again when it is writable); SH_ACT_SEND is
 * queued again only for output that appears after the driver saw the
 * queue empty (this returned 0, or sh_swarm_sent consumed everything). */
size_t sh_swarm_out(sh_swarm *s, sh_conn_id c, sh_seg *segs, size_t max);
/* n bytes from the front of c's output were written to the socket. */
void sh_swarm_sent(sh_swarm *s, sh_conn_id c, size_t n, sh_time now);

/* ---- actions for the driver ---- */

/*
 * Reasons of SH_ACT_CLOSE: SH_EPROTO the peer broke a protocol rule (the
 * debug log names it); SH_ETIMEOUT handshake (10 s) or silence (120 s);
 * SH_EEXIST a connection to ourselves, or a second one to the same peer id
 * (when two peers dial each other at once, both keep the connection opened
 * by the lower peer id, so exactly one survives); SH_ECLOSED both sides are
 * seeds; SH_EHASH the address was banned for corrupt data; SH_ENOMEM.
 */
typedef enum sh_action_type {
    SH_ACT_CONNECT = 1,   /* open TCP to addr; report sh_swarm_connected or _closed for conn */
    SH_ACT_CLOSE = 2,     /* close conn's socket (reason says why); then call sh_swarm_closed */
    SH_ACT_SEND = 3,      /* conn has new output: pull it with sh_swarm_out */
    SH_ACT_VERIFY = 4,    /* piece assembled: check its hash(es), store it, then call
                             sh_swarm_verified. data/len stay valid until then. */
    SH_ACT_COMPLETE = 5,  /* every piece is verified and stored (once) */
} sh_action_type;

typedef struct sh_action {
    sh_action_type type;
    sh_conn_id conn;
    sh_addr addr;
    uint32_t piece;
    const uint8_t *data;
    size_t len;
    int reason;           /* SH_E* for CLOSE */
} sh_action;

/* Pops the next queued action. Returns false when there is none. */
bool sh_swarm_next_action(sh_swarm *s, sh_action *a);

/* ---- observation ---- */

typedef struct sh_swarm_stats {
    uint64_t payload_down;      /* verified-or-pending block bytes received */
    uint64_t payload_up;        /* block bytes acknowledged as sent */
    uint64_t wasted;            /* duplicate or hash-failed bytes */
    uint64_t left;              /* bytes of pieces we still lack */
    uint32_t pieces_have;
    uint32_t num_pieces;
    uint32_t peers;             /* connections past the handshake */
    uint32_t peers_peak;        /* the most there were at once */
    uint32_t connecting;        /* outgoing connects and handshakes in flight */
    uint32_t known;             /* candidate addresses known */
    uint32_t banned;
    uint32_t hash_failures;
    bool complete;
} sh_swarm_stats;

void sh_swarm_get_stats(const sh_swarm *s, sh_swarm_stats *st);
const sh_bitfield *sh_swarm_have(const sh_swarm *s);

typedef struct sh_peer_info {
    sh_conn_id conn;
    sh_addr addr;
    char client[64];
    bool outgoing, am_choking, am_interested, peer_choking, peer_interested, seed;
    uint32_t pieces;           /* pieces the peer has */
    uint32_t queue;            /* our outstanding requests to it */
    uint64_t down, up;         /* payload bytes with this peer */
    double down_rate, up_rate; /* bytes/s, recent */
} sh_peer_info;

/* Fills up to max entries, in connection-id order; returns the number written. */
size_t sh_swarm_peers(const sh_swarm *s, sh_peer_info *out, size_t max);

#endif
