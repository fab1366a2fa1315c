/*
 * choker.h — who gets an upload slot.
 *
 * A pure policy over a snapshot of the connections: the swarm fills one
 * sh_choke_peer per established connection, the choker writes the decision
 * (`unchoke`) and keeps only its own small state (the optimistic slot).
 *
 * Policy: every interested peer is unchoked while there are enough slots.
 * When more are interested, `slots - 1` regular slots go to the best peers
 * and one optimistic slot, rotated every SH_CHOKER_OPTIMISTIC, to a random
 * other interested peer. "Best" depends on our state: while downloading,
 * the peers we download fastest from (reciprocation); when complete, the
 * peers served least recently (round-robin spreads a seed's upload). Peers
 * that are not interested are choked.
 *
 * Cooperative peers (shoal peers of one fleet: nobody needs an incentive to
 * upload) rank ahead of the others and among themselves by need: the peer
 * lacking the most of what we have first, then the one served least
 * recently, so a seed's and a leecher's upload both go where it widens the
 * fleet's set of pieces most, and a peer that uploads little to us (a late
 * joiner, one on a slow link) is not starved as tit-for-tat would starve
 * it. The caller sizes `slots` (swarm_up.c).
 *
 * A FILL run (on interest changes between periodic runs) never chokes an
 * interested unchoked peer: it only releases slots of peers that lost
 * interest and hands free slots out, so interest flapping cannot churn
 * slots. It never performs I/O and never orders by pointer.
 */
#ifndef SHOAL_CHOKER_H
#define SHOAL_CHOKER_H

#include <shoal/rng.h>
#include <shoal/swarm.h>

#define SH_CHOKER_INTERVAL SH_SEC(10)
#define SH_CHOKER_OPTIMISTIC SH_SEC(30)

typedef struct sh_choke_peer {
    sh_conn_id conn;     /* input order must be ascending conn id */
    bool interested;     /* the peer wants data from us */
    bool unchoked;       /* it holds a slot now */
    double down_rate;    /* bytes/s we receive from it */
    sh_time last_served; /* when it last held a slot (now if it holds one); 0: never */
    bool coop;           /* a cooperative (fleet) peer: ranked by need */
    uint32_t need;       /* pieces we have that it lacks */
    bool unchoke;        /* output */
} sh_choke_peer;

typedef struct sh_choker {
    sh_conn_id optimistic; /* 0: none */
    sh_time opt_until;     /* rotate the optimistic slot at this time */
} sh_choker;

typedef enum sh_choke_mode {
    SH_CHOKE_FULL = 1, /* periodic: rank everyone */
    SH_CHOKE_FILL = 2, /* interest changed: only release and fill slots */
} sh_choke_mode;

void sh_choker_init(sh_choker *c);

/* Decides `unchoke` for each of the n peers. */
void sh_choker_run(sh_choker *c, sh_choke_peer *peers, size_t n, uint32_t slots, bool seeding,
                   sh_choke_mode mode, sh_rng *rng, sh_time now);

#endif
