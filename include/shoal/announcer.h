/*
 * announcer.h — when a peer talks to its trackers, and what it says.
 *
 * Tiers (BEP 12): every tier is announced to (as libtorrent's
 * announce_to_all_tiers does — in a data center, an extra tracker given
 * with -t should be used, not kept as a fallback); within a tier the
 * trackers are tried in order and the one that answers moves to the front.
 * Events: started first, completed once when the download finishes (at
 * once: like libtorrent's, it is not held back by the min interval), stopped
 * on shutdown (best effort, with a short deadline: to every tracker that
 * knows us, after the announce in flight to it, if any, has ended).
 * Intervals: the tracker's interval (30 s if it gives none), never sooner
 * than its min interval nor than 5 s; a failing tracker
 * is retried with exponential backoff (5 s doubling to 5 min) while the
 * swarm keeps trading with the peers it knows — a download never fails
 * because a tracker went away.
 *
 * HTTP trackers: the announcer emits a URL; the driver fetches it (libcurl
 * on the event loop) and hands back the body. UDP trackers (BEP 15): the
 * announcer runs the connect/announce exchange itself (connection ids
 * cached for 60 s, retransmission at 2 s doubling, 4 tries) and emits
 * datagrams for "host:port"; the driver resolves the host, sends, and feeds
 * back what arrives. Pure core: no sockets, no DNS, no clock.
 *
 * Limits: at most SH_ANN_MAX_TRACKERS trackers are used (the rest, and exact
 * duplicates, are ignored with a log line); a URL the announcer cannot use
 * (see sh_announcer_url_check) is listed in the status, never contacted.
 */
#ifndef SHOAL_ANNOUNCER_H
#define SHOAL_ANNOUNCER_H

#include <shoal/announce.h>
#include <shoal/log.h>
#include <shoal/metainfo.h>
#include <shoal/types.h>

#define SH_ANN_MAX_TRACKERS 64u

typedef struct sh_announcer_config {
    const sh_tier *tiers;       /* borrowed; each tier's URLs http://, https:// or udp:// */
    uint32_t num_tiers;
    uint8_t info_hash[20];
    uint8_t peer_id[20];
    uint16_t port;
    uint32_t key;               /* random, from the driver */
    uint32_t numwant;           /* 0 → SH_NUMWANT_DEFAULT */
    uint64_t seed;
    sh_logger log;
} sh_announcer_config;

typedef enum sh_ann_action_type {
    SH_ANN_HTTP_GET = 1,   /* fetch url; answer with sh_announcer_http_done(req) */
    SH_ANN_UDP_SEND = 2,   /* send data to host:port; answers come via sh_announcer_udp_recv */
    SH_ANN_PEERS = 3,      /* peers learned from a tracker */
    SH_ANN_CANCEL = 4,     /* abandon HTTP request req (timed out or superseded) */
} sh_ann_action_type;

typedef struct sh_ann_action {
    sh_ann_action_type type;
    uint64_t req;              /* request id (HTTP) */
    const char *url;           /* HTTP: valid until the next call on the announcer */
    const char *host;          /* UDP: host name or IP literal, valid likewise */
    uint16_t port;             /* UDP */
    const uint8_t *data;       /* UDP datagram */
    size_t len;
    const sh_tpeer *peers;     /* PEERS */
    uint32_t num_peers;
} sh_ann_action;

typedef struct sh_announcer sh_announcer;

int sh_announcer_new(const sh_announcer_config *cfg, sh_time now, sh_announcer **out);
void sh_announcer_free(sh_announcer *a);

/* Transfer totals for the next announce. */
void sh_announcer_set_totals(sh_announcer *a, uint64_t uploaded, uint64_t downloaded,
                             uint64_t left);
/* The download finished: announce `completed` now. */
void sh_announcer_completed(sh_announcer *a, sh_time now);
/* Shutting down: announce `stopped` to every tracker that knew us, giving
 * up after 3 s. Nothing else is announced afterwards. */
void sh_announcer_stop(sh_announcer *a, sh_time now);
/* True when, after stop, every stopped announce was sent or gave up. */
bool sh_announcer_idle(const sh_announcer *a);

/* An HTTP fetch finished: status 0 = transport failure (then body is NULL,
 * or the driver's NUL-free error text of len bytes, used in the log). */
void sh_announcer_http_done(sh_announcer *a, uint64_t req, int http_status, const uint8_t *body,
                            size_t len, sh_time now);
/* A datagram arrived on the announcer's UDP socket from host:port's address. */
void sh_announcer_udp_recv(sh_announcer *a, const sh_addr *from, const uint8_t *pkt, size_t len,
                           sh_time now);
/* The driver could not resolve or reach a UDP tracker host. */
void sh_announcer_udp_failed(sh_announcer *a, const char *host, uint16_t port, sh_time now);
/* The driver resolved host to addr (so answers from addr can be matched). */
void sh_announcer_udp_resolved(sh_announcer *a, const char *host, uint16_t port,
                               const sh_addr *addr);

void sh_announcer_on_timer(sh_announcer *a, sh_time now);
sh_time sh_announcer_next_deadline(const sh_announcer *a);
bool sh_announcer_next_action(sh_announcer *a, sh_ann_action *out);

/* Per-tracker state for logs and status. */
typedef struct sh_tracker_status {
    const char *url;
    uint32_t tier;
    bool working;
    uint32_t fails;
    uint32_t last_peers;
    sh_time next;
    char last_error[128];
} sh_tracker_status;
size_t sh_announcer_trackers(const sh_announcer *a, sh_tracker_status *out, size_t max);

/* Whether url is a tracker the announcer can use: http://..., https://...
 * or udp://host:port[/path] (host a name, an IPv4 literal or [IPv6]).
 * 0, or SH_EINVAL with the reason in ei. For checking -t at the command line. */
int sh_announcer_url_check(const char *url, sh_errinfo *ei);

#endif
