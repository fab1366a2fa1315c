/*
 * magnet_dht.h — the DHT while `shoal get 'magnet:...'` fetches metadata:
 * one DHT node on the fetch's loop that joins through --dht-bootstrap and
 * looks up the link's wire hash, handing every peer it finds to the
 * metadata fetcher (SH_SRC_DHT). It does not announce: nothing can be
 * served before the metadata is in; the download that follows runs its own
 * node (cli/peer_dht.h) and announces then.
 *
 * Its UDP socket takes the IP of -l and --dht-port, or the TCP listen port
 * (as the download's node will), falling back to an ephemeral port if that
 * one is taken. Lookups start once a node answered (or after 10 s) and
 * repeat every 5 s while the fetch runs.
 */
#ifndef SHOAL_CLI_MAGNET_DHT_H
#define SHOAL_CLI_MAGNET_DHT_H

#include "cli/peeropts.h"
#include "io/loop.h"
#include "io/metafetch_drv.h"

typedef struct magnet_dht magnet_dht;

/* 0 and *out (NULL without --dht-bootstrap / --dht-port), or SH_E* with *ei. */
int magnet_dht_start(sh_loop *loop, const peer_opts *o, const uint8_t hash[20], sh_mfdrv *d,
                     sh_logger log, magnet_dht **out, sh_errinfo *ei);
/* Peers it found so far. */
uint64_t magnet_dht_found(const magnet_dht *m);
void magnet_dht_free(magnet_dht *m);

#endif
