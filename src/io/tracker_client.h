/*
 * tracker_client.h — one torrent's trackers, on the event loop: carries
 * out what the core announcer (shoal/announcer.h) decides. HTTP announces
 * go through the libcurl client, UDP announces through one socket per
 * address family bound to the IP we serve on, tracker host names are
 * resolved on helper threads (io/resolver.h) and cached for 5 minutes.
 *
 * It never fails the torrent: a tracker that is down, slow, lying or gone
 * is logged and retried by the announcer's schedule, and the peers the
 * torrent already knows keep trading. It never blocks the loop.
 */
#ifndef SHOAL_IO_TRACKER_CLIENT_H
#define SHOAL_IO_TRACKER_CLIENT_H

#include <shoal/announcer.h>
#include <shoal/log.h>

#include "io/loop.h"

/* Peers a tracker sent (valid during the call). */
typedef void (*sh_tracker_peers_fn)(void *ud, const sh_tpeer *peers, uint32_t n);
/* The totals to announce, asked before every announce. */
typedef void (*sh_tracker_totals_fn)(void *ud, uint64_t *uploaded, uint64_t *downloaded,
                                     uint64_t *left);
/* After sh_tracker_client_stop: every stopped announce is done or given up.
 * None of the callbacks may free the client. */
typedef void (*sh_tracker_idle_fn)(void *ud);

typedef struct sh_tracker_client_config {
    const sh_tier *tiers; /* borrowed during new only */
    uint32_t num_tiers;
    uint8_t info_hash[20]; /* v1 hash, or the v2 hash cut to 20 bytes */
    uint8_t peer_id[20];
    sh_addr listen;   /* where we serve: its port is announced; its IP (unless
                         "any") is the source of every HTTP and UDP announce */
    uint32_t numwant; /* 0: SH_NUMWANT_DEFAULT */
    uint64_t seed;    /* for the announcer's transaction ids */
    sh_logger log;
    sh_tracker_peers_fn on_peers;
    sh_tracker_totals_fn totals;
    sh_tracker_idle_fn on_idle;
    void *ud;
} sh_tracker_client_config;

typedef struct sh_tracker_client sh_tracker_client;

/* Starts announcing (started) at once. Errors only for resources (memory,
 * sockets), with the reason in ei; bad tracker URLs are not errors. */
int sh_tracker_client_new(sh_loop *loop, const sh_tracker_client_config *cfg,
                          sh_tracker_client **out, sh_errinfo *ei);
/* Drops everything at once: no stopped announce (use stop first). */
void sh_tracker_client_free(sh_tracker_client *tc);

/* The download finished: announce completed. */
void sh_tracker_client_completed(sh_tracker_client *tc);
/* Announce stopped (at most ~3 s); on_idle runs when done. */
void sh_tracker_client_stop(sh_tracker_client *tc);
bool sh_tracker_client_idle(const sh_tracker_client *tc);

/* For logs and --json. url pointers live as long as the client. */
size_t sh_tracker_client_status(const sh_tracker_client *tc, sh_tracker_status *out, size_t max);

#endif
