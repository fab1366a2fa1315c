/*
 * tstore.h — the tracker's memory: which peers are in which swarm, and whom
 * to hand each asker. Pure core, so the simulator runs the very policy the
 * `shoal tracker` server runs.
 *
 * Bounded: a cap on swarms, on peers per swarm and on peers in total; when
 * full, new swarms or peers are refused (the announce gets a failure reason)
 * rather than evicting established ones. Peers expire when they miss two
 * intervals; `stopped` removes at once; `completed` is counted once per peer.
 *
 * Selection policy (docs/tracker.md explains it with measurements): the
 * answer never contains the asker; it prefers peers that hold data (seeds
 * and leechers that have made progress) over empty newcomers; it hands out
 * a seed ("origin") to a bounded share of askers once leechers with data
 * exist, so the origin's upload feeds many different peers instead of
 * everyone dialing it; the rest is a uniform random sample, which shapes a
 * well-connected random graph. All randomness comes from the seed.
 * SH_TSTORE_RANDOM swaps the policy for the classic one (a uniform sample of
 * the whole swarm, seeds included, no quota), to measure what the fleet
 * policy is worth.
 */
#ifndef SHOAL_TSTORE_H
#define SHOAL_TSTORE_H

#include <shoal/announce.h>
#include <shoal/error.h>
#include <shoal/types.h>

typedef enum sh_tstore_policy {
    SH_TSTORE_FLEET = 0,  /* seeds under a quota, then holders, then empty peers */
    SH_TSTORE_RANDOM = 1, /* a uniform sample of every other peer, as classic trackers do */
} sh_tstore_policy;

typedef struct sh_tstore_config {
    uint32_t max_swarms;          /* 0 → 100 000 */
    uint32_t max_peers_swarm;     /* 0 → 50 000; at most 4 194 303 */
    uint32_t max_peers_total;     /* 0 → 1 000 000 */
    uint32_t interval;            /* seconds told to clients; 0 → 30 */
    uint32_t min_interval;        /* 0 → interval / 2 */
    uint32_t origin_handouts;     /* per seed per interval once leechers hold data; 0 → 8; at most 255 */
    bool private_mode;            /* only allowed info hashes are tracked */
    bool no_peer_ids;             /* keep no peer ids (20 bytes less per peer): answers carry none */
    sh_tstore_policy policy;      /* whom an asker receives; 0 → SH_TSTORE_FLEET */
    uint64_t seed;
} sh_tstore_config;

typedef struct sh_tstore sh_tstore;

/* SH_EINVAL for a policy that is not one of sh_tstore_policy. */
int sh_tstore_new(const sh_tstore_config *cfg, sh_tstore **out);
void sh_tstore_free(sh_tstore *t);

/* Private mode: adds an info hash to the allow-list. */
int sh_tstore_allow(sh_tstore *t, const uint8_t info_hash[20]);

/*
 * Records an announce and fills *reply (interval, counts, and up to
 * req->numwant peers chosen by the policy into peers_buf of capacity max).
 * reply->peers points at peers_buf. The peers carry their peer ids unless
 * req->no_peer_id is set or the store keeps none (has_peer_id says which).
 * Refusals (not allowed, full) return SH_ETRACKER with reply->failure set.
 */
int sh_tstore_announce(sh_tstore *t, const sh_announce_req *req, sh_time now,
                       sh_announce_reply *reply, sh_tpeer *peers_buf, uint32_t max);

/* Counts for one swarm (zeros if unknown). Not const: it counts the scrape
 * in sh_tstore_stats.scrapes. */
void sh_tstore_scrape(sh_tstore *t, const uint8_t info_hash[20], sh_scrape_entry *out);

/* Drops expired peers and empty swarms; bounded work per call (call often). */
void sh_tstore_expire(sh_tstore *t, sh_time now);

typedef struct sh_tstore_stats {
    uint32_t swarms;
    uint64_t peers, seeders, leechers;
    uint64_t completed;
    uint64_t announces, scrapes, refused;
} sh_tstore_stats;

void sh_tstore_stats_get(const sh_tstore *t, sh_tstore_stats *st);

/* Visits every swarm in info-hash order (status page, /stats.json). */
typedef void (*sh_tstore_visit_fn)(void *ud, const sh_scrape_entry *e);
void sh_tstore_each(const sh_tstore *t, sh_tstore_visit_fn fn, void *ud);

#endif
