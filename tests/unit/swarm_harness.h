/*
 * swarm_harness.h — an in-memory network that runs several sh_swarm nodes
 * in virtual time: the seed of the simulator, kept small and exact.
 *
 * Each node is one swarm plus what a driver owns: a copy of the content in
 * memory (seeds start full, leechers empty), an uplink of limited speed and
 * a clock. The network carries bytes between connections with a fixed
 * latency, writes in chunks of random size (so sh_swarm_sent sees partial
 * writes), serves SH_SEG_BLOCK from the writer's memory, verifies pieces
 * with sh_piece_verify and stores them, and jumps from event to event
 * (deliveries, writes, each swarm's next deadline); a swarm whose deadline
 * is still due right after on_timer fails the test, as it would make a real
 * driver spin. Everything, including
 * chunk sizes, comes from the network seed: a run is reproducible and its
 * action trace has a digest.
 *
 * A "raw" endpoint is a connection whose far side is the test itself: it
 * sends hand-made bytes and reads what the node answers, to check the
 * protocol rules message by message.
 *
 * Tests only; aborts (through the test framework's assertions) are fine
 * here, never in the core.
 */
#ifndef SHOAL_TESTS_SWARM_HARNESS_H
#define SHOAL_TESTS_SWARM_HARNESS_H

#include <shoal/metainfo.h>
#include <shoal/swarm.h>
#include <shoal/wire.h>

/* A torrent made in memory from deterministic random content. */
typedef struct hn_torrent {
    sh_metainfo *mi;
    uint8_t *space; /* the piece space: file bytes at their offsets, pads zero */
    uint64_t size;  /* mi->total_size */
} hn_torrent;

/* version: SH_META_V1 / V2 / HYBRID; files: their lengths (one file: a
 * single-file torrent). Returns 0 or an SH_E* code. */
int hn_torrent_make(hn_torrent *t, unsigned version, uint64_t piece_length, const uint64_t *files,
                    uint32_t nfiles, uint64_t seed);
void hn_torrent_free(hn_torrent *t);

typedef struct hn_net hn_net;
typedef struct hn_node hn_node;
typedef struct hn_raw hn_raw;

typedef struct hn_node_opts {
    bool seed;           /* starts with every piece */
    bool corrupt;        /* serves every block with its bytes inverted */
    uint64_t up_bps;     /* uplink bytes/s; 0: the network default */
    sh_time verify_delay; /* hashing latency: the verify result arrives this much later */
    bool leave_when_complete; /* once complete, close every connection and stop listening,
                                 as a "shoal get" that does not seed exits */
    sh_swarm_config cfg; /* tunables; mi, have, peer_id, rng_seed are set by the harness */
    sh_metainfo *mi;     /* this node's own view of the torrent (e.g. from
                            sh_metainfo_parse_info, without piece layers): passed as
                            cfg.mi and cfg.mi_layers and used to verify its pieces;
                            NULL: the network's torrent */
} hn_node_opts;

#define HN_DEFAULT_BPS (4u << 20)
#define HN_LATENCY SH_MS(1)

hn_net *hn_net_new(const hn_torrent *t, uint64_t seed);
void hn_net_free(hn_net *n);
/* Node k (0-based, in creation order) lives at 127.0.0.(k+2):6881. */
hn_node *hn_node_add(hn_net *n, const hn_node_opts *o);
hn_node *hn_node_at(hn_net *n, uint32_t k);
uint32_t hn_node_count(const hn_net *n);
sh_addr hn_node_addr(const hn_node *x);
sh_swarm *hn_swarm(hn_node *x);
/* x learns y's address (as if from a tracker). */
void hn_knows(hn_net *n, hn_node *x, hn_node *y);
/* x learns an arbitrary address (nobody may listen there). */
void hn_add_peer(hn_net *n, hn_node *x, const sh_addr *a, sh_peer_source src);

sh_time hn_now(const hn_net *n);
typedef bool (*hn_pred)(hn_net *n, void *ud);
/* Runs events until pred holds (checked after each event), nothing is left
 * to do, or virtual time would pass `until`. Returns pred's final value. */
bool hn_run(hn_net *n, hn_pred pred, void *ud, sh_time until);
/* Runs every event up to now + dt; the clock then reads now + dt. */
void hn_run_for(hn_net *n, sh_time dt);
bool hn_all_complete(hn_net *n, void *ud);

bool hn_complete(const hn_node *x); /* SH_ACT_COMPLETE seen */
bool hn_gone(const hn_node *x);     /* left after completing (leave_when_complete) */
sh_time hn_complete_at(const hn_node *x);
bool hn_content_ok(const hn_node *x); /* memory equals the torrent's piece space */
uint32_t hn_verify_failures(const hn_node *x);
/* SH_ACT_CLOSE actions x queued with this reason. */
uint32_t hn_closes(const hn_node *x, int reason);
/* SH_ACT_CONNECTs x queued; *times gets the times of the first 64. */
uint32_t hn_connects(const hn_node *x, const sh_time **times);
uint64_t hn_trace_digest(const hn_net *n);

/* What node x received from node y, decoded (summed over their connections). */
typedef struct hn_tap {
    uint64_t msgs[256]; /* by message id; keep-alives at SH_MSG_KEEPALIVE */
    uint32_t max_request;
    uint64_t bytes;
} hn_tap;
void hn_tap_get(const hn_node *x, const hn_node *y, hn_tap *out);

/* ---- raw endpoints ---- */

/* A connection from 127.0.0.<ip_last>:50000 into node x (sh_swarm_accept).
 * NULL if x refused it. */
hn_raw *hn_raw_open(hn_net *n, hn_node *x, uint8_t ip_last);
sh_conn_id hn_raw_conn(const hn_raw *r);
void hn_raw_send(hn_raw *r, const void *p, size_t len); /* arrives after the latency */
/* Sends a handshake for the torrent with the given SH_RSV_* flags; peer_id
 * NULL: one unique to this endpoint. */
void hn_raw_handshake(hn_raw *r, uint32_t flags, const uint8_t peer_id[20]);
void hn_raw_close(hn_raw *r);
/* The node closed it (SH_ACT_CLOSE): reason. */
bool hn_raw_closed(const hn_raw *r, int *reason);
/* Next message the node sent, decoded; 1, or 0 when none is buffered. */
int hn_raw_next(hn_raw *r, bool *is_hs, sh_handshake *hs, sh_msg *m);

#endif
