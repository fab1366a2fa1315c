/*
 * dht_node.h — runs one sh_dht (the pure Kademlia core, shoal/dht.h) on the
 * event loop with its own non-blocking UDP socket.
 *
 * It binds the socket (the family follows the bind address), reads every
 * datagram into sh_dht_recv, sends the core's datagrams with sendto (a
 * datagram that would block is dropped and counted: UDP may lose it
 * anyway, and the core retries what matters), keeps one loop timer at
 * sh_dht_next_deadline, draws the node id and the core's seed from
 * getrandom, and optionally keeps the routing table in a state file: loaded
 * at start (a missing file is fine; a corrupt one is a warning, and the node
 * starts fresh), written atomically (temporary file + rename) every
 * save_interval and when the node is freed.
 *
 * Peers found by searches go to one callback, so the owner (a CLI command
 * next to a peer driver) decides what to do with them; the node itself
 * knows nothing of torrents. It never blocks, never reads the clock other
 * than through the loop, and never lets a hostile datagram do more than be
 * counted and dropped.
 */
#ifndef SHOAL_IO_DHT_NODE_H
#define SHOAL_IO_DHT_NODE_H

#include <shoal/dht.h>
#include <shoal/error.h>
#include <shoal/log.h>
#include "io/loop.h"

#define SH_DHT_NODE_SAVE_INTERVAL SH_SEC(300)
#define SH_DHT_NODE_RCVBUF (1 << 20)   /* socket receive buffer asked for */
#define SH_DHT_NODE_MAX_DATAGRAM 8192u /* longer datagrams are dropped (counted) */

typedef struct sh_dht_node_config {
    sh_addr bind;              /* IP:port; family 0 means 0.0.0.0; port 0 an ephemeral port */
    const char *state_path;    /* NULL: no state file */
    sh_time save_interval;     /* 0: SH_DHT_NODE_SAVE_INTERVAL */
    uint32_t query_rate;       /* see sh_dht_config; 0: the core's default */
    uint32_t max_peers_stored; /* see sh_dht_config; 0: the core's default */
    bool read_only;            /* BEP 43 */
    sh_logger log;
} sh_dht_node_config;

typedef struct sh_dht_node_stats {
    sh_dht_stats dht;      /* the core's counters */
    uint64_t rx_datagrams; /* datagrams read from the socket */
    uint64_t rx_oversize;  /* longer than SH_DHT_NODE_MAX_DATAGRAM: dropped unread */
    uint64_t tx_datagrams; /* sent */
    uint64_t tx_dropped;   /* would have blocked (socket buffer full): dropped */
    uint64_t tx_errors;    /* sendto failed otherwise */
    uint64_t saves, save_failures;
} sh_dht_node_stats;

typedef struct sh_dht_node sh_dht_node;

/*
 * Called for every SH_DHT_PEERS and SH_DHT_SEARCH_DONE action. a->peers is
 * valid until the callback calls into the node; the callback may start
 * searches or bootstraps (they are queued and carried out after it
 * returns), but must not free the node.
 */
typedef void (*sh_dht_node_fn)(sh_dht_node *n, const sh_dht_action *a, void *ud);

/*
 * Binds the socket, creates the core, loads the state file (if any) and
 * registers with the loop. Errors (bind failure, getrandom, OOM) are named
 * in *ei. A state file that cannot be used is logged as a warning.
 */
int sh_dht_node_new(sh_loop *loop, const sh_dht_node_config *cfg, sh_dht_node **out,
                    sh_errinfo *ei);
/* Saves the state (if a path was given), closes the socket, frees. NULL is fine. */
void sh_dht_node_free(sh_dht_node *n);

void sh_dht_node_on_search(sh_dht_node *n, sh_dht_node_fn fn, void *ud);

/*
 * sh_dht_bootstrap / sh_dht_search on this node; datagrams go out at once.
 * The core remembers bootstrap addresses and tries them again while its
 * table is empty (a router that was not up yet is found later).
 */
void sh_dht_node_bootstrap(sh_dht_node *n, const sh_addr *addr);
uint64_t sh_dht_node_search(sh_dht_node *n, const uint8_t info_hash[20], uint16_t announce_port);

/* Writes the state file now. 0, SH_EINVAL (no path), SH_ENOMEM, SH_EIO (named in *ei). */
int sh_dht_node_save(sh_dht_node *n, sh_errinfo *ei);

void sh_dht_node_stats_get(const sh_dht_node *n, sh_dht_node_stats *st);
const uint8_t *sh_dht_node_id(const sh_dht_node *n);
/* The bound address (port resolved). */
sh_addr sh_dht_node_addr(const sh_dht_node *n);
/* True if the state file was loaded at start (the node kept its id). */
bool sh_dht_node_restored(const sh_dht_node *n);

#endif
