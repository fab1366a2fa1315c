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
 * Cooperative peers (shoal peers of one fleet: nobody needs an incentive
 * to upload) rank ahead of the others and among themselves round robin
 * (served least recently first), while downloading too: tit-for-tat would
 * starve a peer that uploads little to us (a late joiner, a slow link)
 * although it needs our pieces. Ranking them by need instead (most missing
 * first) was measured worse: every uploader picks the same neediest peers,
 * their downlinks saturate while other peers' links idle (shoal-sim, 50
 * hosts, 5 GiB: 1.36 T* by need, 1.18 T* round robin).
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
    bool coop;           /* a cooperative (fleet) peer: ranked round robin */
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
