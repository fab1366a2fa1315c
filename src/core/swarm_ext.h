/*
 * swarm_ext.h — the swarm's extended protocols, kept apart from the core
 * peer protocol: peer exchange (BEP 11, swarm_pex.c), serving metadata
 * (BEP 9, swarm_meta.c) and fetching missing v2 piece layers with BEP 52
 * hash requests (swarm_layers.c); swarm_ext.c holds their shared state,
 * lifecycle and dispatch.
 *
 * All of it hangs off one pointer in the swarm (s->x), with per-connection
 * records kept in the swarm-side table below (sorted by connection id), so
 * the core files only call a handful of hooks. Internal to the swarm.
 */
#ifndef SHOAL_SWARM_EXT_H
#define SHOAL_SWARM_EXT_H

#include <shoal/pex.h>

#include "swarm_int.h"

/* Peer exchange (libtorrent's ut_pex.cpp: one message a minute per peer,
 * at most 100 added; it disconnects a peer that sends 7 within 60 s). */
#define SW_PEX_FIRST SH_SEC(3)     /* first message after the extension handshake */
#define SW_PEX_INTERVAL SH_SEC(60) /* between two messages to one peer */
#define SW_PEX_MAX_ADDED 50u       /* per message */
#define SW_PEX_MAX_DROPPED 50u
#define SW_PEX_IN_WINDOW SH_SEC(60) /* what one peer may inject per window: */
#define SW_PEX_IN_CANDS 200u        /*   new candidates */
#define SW_PEX_IN_MSGS 6u           /*   messages read (more are ignored) */

/* Metadata serving. */
#define SW_MD_WINDOW SH_SEC(60)
#define SW_MD_MAX_REQS 64u /* requests served per peer per window; the rest are rejected */

/* Layer fetching. */
#define SW_LAYER_CHUNK 512u         /* hashes per request (libtorrent's size) */
#define SW_LAYER_PER_PEER 4u        /* hash requests outstanding per peer */
#define SW_LAYER_TIMEOUT SH_SEC(20) /* unanswered: ask someone else */
#define SW_LAYER_SHUN SH_SEC(30)    /* a peer that rejected or timed out is not asked again */

/* What the swarm remembers per established connection for these protocols. */
typedef struct sw_xpeer {
    sh_conn_id conn;
    /* pex, sending */
    sh_time pex_due;       /* next message allowed (0: the peer does not speak ut_pex) */
    uint64_t pex_gen_seen; /* the connection set we last compared against */
    sh_addr *adv;          /* addresses we told it we are connected to, sorted */
    uint32_t nadv, capadv;
    /* pex, receiving */
    sh_time pex_win;
    uint32_t pex_win_cands, pex_win_msgs;
    /* metadata serving */
    sh_time md_win;
    uint32_t md_win_reqs;
    /* layer fetching */
    uint32_t hash_inflight;
    sh_time hash_shun_until;
} sw_xpeer;

typedef struct sw_layers sw_layers; /* swarm_layers.c */

typedef struct sw_x {
    sw_xpeer *xp; /* sorted by conn */
    size_t nxp, capxp;
    bool pex_on;         /* not a private torrent */
    uint64_t pex_gen;    /* bumps when the set of advertisable connections changes */
    sh_time pex_next;    /* earliest time a peer may be due (SH_TIME_NEVER: none) */
    sh_pex_msg *pex_in;  /* scratch for parsing */
    sh_metainfo *mi_mut; /* where fetched layers go (cfg.mi_layers), or NULL */
    sw_layers *layers;   /* NULL when every layer is known */
} sw_x;

/* swarm_ext.c */
int sw_ext_new(sh_swarm *s, const sh_swarm_config *cfg);
void sw_ext_free(sh_swarm *s);
sw_xpeer *sw_xpeer_of(const sh_swarm *s, sh_conn_id c);
/* Our "m": which extended messages we advertise. */
void sw_ext_fill_hs(const sh_swarm *s, sh_ext_hs *h);
/* Hooks from the core files. */
void sw_ext_established(sh_swarm *s, sh_peer *p, sh_time now);
void sw_ext_on_hs(sh_swarm *s, sh_peer *p, sh_time now);
int sw_ext_on_message(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
/* BEP 52 hashes and hash rejects (answers to our layer requests). */
int sw_ext_on_hash_msg(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_ext_closed(sh_swarm *s, sh_peer *p, sh_time now);
void sw_ext_timer(sh_swarm *s, sh_time now);
void sw_ext_after_verify(sh_swarm *s, sh_time now);
/* The pieces the picker may hand out now (NULL: any). */
const sh_bitfield *sw_ext_pickable(const sh_swarm *s);
/* Sends an extended message with the peer's id for it. */
void sw_ext_send(sh_swarm *s, sh_peer *p, uint8_t their_id, const sh_bbuf *payload, sh_time now);

/* swarm_pex.c */
void sw_pex_peer_ready(sh_swarm *s, sh_peer *p, sw_xpeer *xp, sh_time now);
void sw_pex_changed(sh_swarm *s);
void sw_pex_timer(sh_swarm *s, sh_time now);
int sw_pex_on_message(sh_swarm *s, sh_peer *p, sw_xpeer *xp, const sh_msg *m, sh_time now);
/* The address p listens on, if known: the dialed one, or its IP with its "p". */
bool sw_pex_listen_addr(const sh_peer *p, sh_addr *out);

/* swarm_meta.c */
int sw_meta_on_message(sh_swarm *s, sh_peer *p, sw_xpeer *xp, const sh_msg *m, sh_time now);

/* swarm_layers.c */
int sw_layers_new(sh_swarm *s, sw_layers **out);
void sw_layers_free(sw_layers *l);
void sw_layers_pump(sh_swarm *s, sh_time now);
int sw_layers_on_hashes(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_layers_on_reject(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_layers_peer_gone(sh_swarm *s, sh_conn_id c);
void sw_layers_timer(sh_swarm *s, sh_time now);
void sw_layers_install(sh_swarm *s, sh_time now);
const sh_bitfield *sw_layers_pickable(const sw_layers *l);
bool sw_layers_done(const sw_layers *l);

#endif
