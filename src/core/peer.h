/*
 * peer.h — one connection's state inside a swarm: handshake facts, what the
 * peer has, choke/interest flags, the requests we sent it, the requests it
 * sent us, timers and byte counters.
 *
 * Plain data plus bounded list helpers; the protocol decisions live in the
 * swarm_*.c files. Internal to the swarm; no I/O.
 */
#ifndef SHOAL_PEER_H
#define SHOAL_PEER_H

#include <shoal/bitfield.h>
#include <shoal/ext.h>
#include <shoal/rate.h>
#include <shoal/swarm.h>
#include <shoal/wire.h>

#include "outq.h"

typedef enum sh_peer_state {
    SH_PEER_CONNECTING = 1, /* outgoing TCP connect in flight */
    SH_PEER_HANDSHAKE = 2,  /* waiting for the peer's handshake */
    SH_PEER_ACTIVE = 3,     /* handshake done */
} sh_peer_state;

/* A request we sent: `count` blocks from `block` of `piece`, `len` bytes. */
typedef struct sh_req {
    uint32_t piece;
    uint32_t block;
    uint32_t count;
    uint32_t len;
    sh_time at; /* when sent (or, in the late list, when given up) */
} sh_req;

/* A request the peer sent us. */
typedef struct sh_inreq {
    uint32_t piece;
    uint32_t offset;
    uint32_t len;
} sh_inreq;

#define SH_PEER_LATE_MAX 1024u /* cancelled / timed-out requests remembered */
#define SH_PEER_LATE_TTL SH_SEC(60)
#define SH_PEER_ADV_MAX 64u /* super-seeding: pieces advertised and not yet had */

typedef struct sh_peer {
    sh_conn_id id;
    sh_addr addr;
    bool outgoing;
    bool dead;    /* closed: waiting to be swept, takes no more input */
    bool is_self; /* incoming connection from ourselves: silent until closed */
    sh_peer_state state;
    sh_wire_dec *dec;
    sh_outq out;
    bool send_armed; /* SH_ACT_SEND queued and the driver has not seen the queue empty */

    /* handshake facts */
    uint8_t peer_id[20];
    uint8_t info_hash[20]; /* as the peer sent it (a hybrid accepts two) */
    bool fast, ext, v2;
    sh_ext_hs ext_hs;
    bool got_ext_hs;
    uint32_t max_req; /* request length limit, both ways */
    uint32_t max_run; /* blocks per request we send */

    /* what it has */
    sh_bitfield have;
    bool seed;           /* has every piece; counted as a seed by the picker, not by bits */
    bool got_bits;       /* bitfield / have_all / have_none seen */
    bool other_msgs;     /* a message that must follow the bitfield was seen */
    sh_bitfield allowed; /* allowed-fast pieces it granted (nbits 0 until the first) */

    bool am_choking, am_interested, peer_choking, peer_interested;
    sh_time last_served; /* choker: when it last held an upload slot */
    sh_time unchoked_at; /* choker: when it got the slot it holds */
    sh_time last_req_at; /* when it last sent us a request */

    /* our requests to it */
    sh_req *reqs;
    uint32_t nreqs, capreqs;
    sh_req *late;
    uint32_t nlate, caplate;
    uint32_t depth;
    sh_time rtt_min; /* smallest request-to-piece delay seen; 0: none yet */
    bool slow_start;
    bool snubbed;
    sh_time req_clock; /* last block, or when requests began to be outstanding */
    /* The last pick for it found nothing, at this picker version (0: no such
     * pick), with these bits (its bits only grow: counts tell a change). */
    uint64_t nopick_ver;
    uint32_t nopick_have, nopick_allowed;
    bool nopick_seed;

    /* its requests to us, oldest first */
    sh_inreq *inq;
    uint32_t inq_head, ninq, capinq;
    uint32_t invalid; /* requests for pieces we lack */

    /* super-seeding (swarm_super.c) */
    bool held_bits;      /* our bitfield waits for its extension handshake */
    bool super;          /* we advertise pieces to it one by one */
    bool feed;           /* it is one of the peers being fed now */
    bool origin;         /* it super-seeds us: a shoal peer, upload_only, not have_all */
    sh_time fed_at;      /* when its last batch began; 0: never */
    sh_time held_until;
    uint32_t nadv;
    uint32_t adv[SH_PEER_ADV_MAX];

    sh_time hs_deadline, last_recv, last_send;
    sh_rate down_rate, up_rate;
    uint64_t down, up;
} sh_peer;

int sh_peer_new(sh_conn_id id, const sh_addr *addr, bool outgoing, uint32_t num_pieces,
                const sh_wire_limits *lim, sh_time now, sh_peer **out);
void sh_peer_free(sh_peer *p);

/* Our outstanding requests. find returns the index or -1. */
int sh_peer_req_add(sh_peer *p, const sh_req *r);
long sh_peer_req_find(const sh_peer *p, uint32_t piece, uint32_t offset, uint32_t len);
/* Index of the outstanding request that covers block b of piece, or -1. */
long sh_peer_req_covering(const sh_peer *p, uint32_t piece, uint32_t block);
void sh_peer_req_remove(sh_peer *p, uint32_t i);

/* Requests given up on (cancelled, timed out, voided by a choke). */
void sh_peer_late_add(sh_peer *p, const sh_req *r, sh_time now);
/* Removes a matching entry: 1 if found and recent, 0 if found but older than
 * SH_PEER_LATE_TTL, SH_ENOTFOUND if none matches. */
int sh_peer_late_take(sh_peer *p, uint32_t piece, uint32_t offset, uint32_t len, sh_time now,
                      sh_req *out);

/* Their requests to us (FIFO). */
int sh_peer_inq_push(sh_peer *p, const sh_inreq *r);
const sh_inreq *sh_peer_inq_front(const sh_peer *p);
void sh_peer_inq_pop(sh_peer *p);
/* Removes the first queued request equal to r; true if found. */
bool sh_peer_inq_remove(sh_peer *p, const sh_inreq *r);

#endif
