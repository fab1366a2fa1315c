/*
 * dht.h — a Kademlia node of the BitTorrent DHT (BEP 5), as a pure core
 * object: the caller owns the UDP socket and the clock (after jech/dht).
 *
 * Feed it every datagram that arrives (sh_dht_recv) and call sh_dht_on_timer
 * at sh_dht_next_deadline; drain its actions: datagrams to send, and peers
 * found by searches. It answers ping / find_node / get_peers /
 * announce_peer, keeps a routing table of k-buckets (k = 8) that splits
 * only around its own id, evicts nodes that stop answering, refreshes idle
 * buckets, issues tokens bound to the asker's IP from a secret that
 * rotates every 5 minutes (the previous one is still honoured), and runs
 * iterative lookups with alpha = 3 parallel queries. Answers name the 8
 * closest good nodes (topped up with questionable nodes that have shown
 * signs of life while the table is young); a get_peers answer carries up to
 * 50 random stored peers in "values" AND the closest "nodes", so a lookup
 * that finds peers early still reaches the closest nodes.
 *
 * Data centers put thousands of nodes in a few /24s or on loopback: unlike
 * libtorrent's defaults (INTEROP.md §4.9), shoal does not limit routing
 * entries per IP or per /24 — only exact (IP, port) duplicates are merged.
 * Every incoming query is rate-limited per source IP; malformed KRPC is
 * dropped (or answered with error 203 when it is a query with a transaction
 * id), never trusted, never crashes.
 */
#ifndef SHOAL_DHT_H
#define SHOAL_DHT_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/log.h>
#include <shoal/types.h>

typedef struct sh_dht_config {
    uint8_t node_id[20];        /* random, from the driver */
    int family;                 /* 4 or 6 (one node per family, BEP 32 style) */
    uint64_t seed;              /* transaction ids, token secrets, tie-breaks */
    uint32_t query_rate;        /* queries per second accepted per source IP; 0 → 50 */
    uint32_t max_peers_stored;  /* announce_peer storage in total; 0 → 100 000 */
    bool read_only;             /* BEP 43: never answer queries */
    sh_logger log;
} sh_dht_config;

typedef struct sh_dht sh_dht;

/*
 * Creates a node. cfg->family must be 4 or 6 (SH_EINVAL otherwise); the
 * node then ignores datagrams and addresses of the other family.
 * cfg->seed must be random: it drives transaction ids and the token key.
 */
int sh_dht_new(const sh_dht_config *cfg, sh_time now, sh_dht **out);
void sh_dht_free(sh_dht *d);

/*
 * A datagram from `from`. Malformed input is counted (in_dropped) and
 * dropped; a malformed query with a readable transaction id is answered
 * with error 203. Responses count only if they match an outstanding query
 * of ours, sent to that very address.
 */
void sh_dht_recv(sh_dht *d, const sh_addr *from, const uint8_t *pkt, size_t len, sh_time now);

/*
 * Pings addr and looks up our own id through it (joining the network);
 * repeated, up to 3 attempts, while we know fewer than 8 good nodes; then
 * refreshes every bucket farther than our neighbours. Later, a node short of
 * 8 good nodes looks for neighbours again every 15 s (through its table, or
 * through the bootstrap addresses when the table has nothing usable).
 */
void sh_dht_bootstrap(sh_dht *d, const sh_addr *addr, sh_time now);

/*
 * Starts an iterative get_peers lookup for info_hash. Peers come as
 * SH_DHT_PEERS actions (each peer once per search; first those announced
 * to this node itself), the end as one SH_DHT_SEARCH_DONE. If
 * announce_port is nonzero, announces us (announce_peer with that port,
 * implied_port 0) to the k closest nodes that gave a token, once the lookup
 * is done. Returns a search id > 0 (never reused), or 0 if too many
 * searches run (limit 64).
 */
uint64_t sh_dht_search(sh_dht *d, const uint8_t info_hash[20], uint16_t announce_port,
                       sh_time now);

void sh_dht_on_timer(sh_dht *d, sh_time now);
sh_time sh_dht_next_deadline(const sh_dht *d);

typedef enum sh_dht_action_type {
    SH_DHT_SEND = 1,         /* send data[len] to addr */
    SH_DHT_PEERS = 2,        /* search `search` found peers for info_hash */
    SH_DHT_SEARCH_DONE = 3,  /* search finished; hops = lookup rounds (the longest chain of
                              * answers that led to the next node asked), nodes = nodes queried */
} sh_dht_action_type;

typedef struct sh_dht_action {
    sh_dht_action_type type;
    sh_addr addr;
    const uint8_t *data;       /* valid until the next call on the node (see below) */
    size_t len;
    uint64_t search;
    uint8_t info_hash[20];
    const sh_addr *peers;      /* valid until the next call on the node (see below) */
    uint32_t num_peers;
    uint32_t hops;
    uint32_t nodes;
} sh_dht_action;

/*
 * Pops the next action. Its data / peers stay valid until the next call of
 * a function taking a non-const sh_dht * on this node (next_action itself,
 * recv, on_timer, search, bootstrap, load, free); const calls (next_deadline,
 * save, stats_get, id) leave them alone. At most 8192 actions are queued:
 * a driver that never drains loses datagrams, not memory.
 */
bool sh_dht_next_action(sh_dht *d, sh_dht_action *a);

/*
 * Routing table persistence, bencoded: our id and every node that has
 * answered us and is not bad. load adopts the saved id (a restarted node
 * keeps its place) and merges the nodes as questionable, pinging them.
 * Errors: SH_EBENCODE / SH_ELIMIT (bad bencode, over 1 MiB), SH_EKRPC (not
 * a saved state).
 */
void sh_dht_save(const sh_dht *d, sh_bbuf *out);
int sh_dht_load(sh_dht *d, const uint8_t *buf, size_t len, sh_time now, sh_errinfo *ei);

typedef struct sh_dht_stats {
    uint32_t good, dubious, buckets; /* dubious: every routing entry that is not good */
    uint32_t searches;               /* user searches running */
    uint32_t stored_hashes, stored_peers;
    uint64_t in_queries, in_replies, in_dropped, out_queries; /* in_replies counts errors too */
} sh_dht_stats;
void sh_dht_stats_get(const sh_dht *d, sh_dht_stats *st);
const uint8_t *sh_dht_id(const sh_dht *d);

#endif
