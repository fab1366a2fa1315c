/*
 * magnet_get.h — the first half of `shoal get 'magnet:?...'`: find the
 * torrent's info dictionary among the peers (--peer, the link's x.pe, and
 * those the trackers — tr= and -t — and the DHT name),
 * verify it against the link's hashes, and turn it into a metainfo whose
 * trackers are the link's tr=. The download itself is the ordinary one.
 *
 * Progress ("fetching metadata (n peers)") goes to stderr; errors name the
 * problem. It never writes files and never exits the process.
 */
#ifndef SHOAL_CLI_MAGNET_GET_H
#define SHOAL_CLI_MAGNET_GET_H

#include "cli/peeropts.h"

#include <shoal/metainfo.h>

/*
 * Fetches the metadata for o->torrent (a magnet link). An ephemeral listen
 * port (0) is first resolved to a free port, written to o->listen, so the
 * port announced to trackers and peers during the fetch is the one the
 * download will listen on. On success returns
 * EXIT_OK with *mi owned by the caller and *peers (malloc'd, *npeers
 * entries) the addresses worth dialing for the download: o->peers, the
 * link's x.pe and the peers that took part, without duplicates. Otherwise
 * an exit code after printing why: EXIT_USAGE for a bad link, EXIT_FAIL
 * for a timeout (--timeout without progress), a signal or a broken torrent.
 */
int magnet_get_metadata(peer_opts *o, sh_metainfo **mi, sh_addr **peers, size_t *npeers);

#endif
