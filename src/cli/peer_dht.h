/*
 * peer_dht.h — the DHT beside `shoal get` / `shoal seed`: one DHT node
 * (io/dht_node.h) on the peer's loop that joins through --dht-bootstrap,
 * looks up the torrent's wire hash, announces our TCP port, and hands every
 * peer it finds to the peer driver as SH_SRC_DHT.
 *
 * The peer driver learns nothing about the DHT: this module only calls
 * sh_peerd_add_peer and sh_peerd_status_get. Its socket binds the IP of -l
 * and, unless --dht-port says otherwise, the same port number as the TCP
 * listener (as other clients do); if that UDP port is taken it falls back to
 * an ephemeral one with a warning. The first lookup starts as soon as one
 * node has answered; lookups repeat every 60 s while downloading (every 5 s
 * while no peer is connected) and every 5 minutes once seeding (stored
 * announces expire after 30 minutes, so seeds keep re-announcing). Every
 * lookup announces our TCP port. Private torrents (BEP 27) never use the
 * DHT.
 *
 * Not done yet: the BEP 5 PORT message (a peer that sets the DHT reserved
 * bit tells its DHT port; such nodes could be pinged and added).
 */
#ifndef SHOAL_CLI_PEER_DHT_H
#define SHOAL_CLI_PEER_DHT_H

#include "cli/peeropts.h"
#include "io/loop.h"
#include "io/peerd.h"

#include <shoal/metainfo.h>

#define PEER_DHT_INTERVAL_GET SH_SEC(60)
#define PEER_DHT_INTERVAL_SEED SH_SEC(300)

typedef struct peer_dht peer_dht;

typedef struct peer_dht_stats {
    uint32_t good_nodes;  /* in our routing table now */
    uint32_t lookups;     /* finished */
    uint64_t peers_found; /* peers handed to the driver (duplicates included) */
    sh_addr addr;         /* our DHT node's address */
} peer_dht_stats;

/* True if the options ask for the DHT (--dht-bootstrap or --dht-port). */
bool peer_dht_wanted(const peer_opts *o);

/*
 * Starts the node beside a running driver. Returns 0 (and *out, NULL when the
 * torrent is private: nothing to do), or an SH_E* code with *ei naming the
 * problem. log is the session's logger.
 */
int peer_dht_start(sh_loop *loop, const peer_opts *o, const sh_metainfo *mi, sh_peerd *pd,
                   sh_logger log, peer_dht **out, sh_errinfo *ei);
void peer_dht_stats_get(const peer_dht *d, peer_dht_stats *st);
/* Stops and frees (before the driver it feeds). NULL is fine. */
void peer_dht_free(peer_dht *d);

#endif
