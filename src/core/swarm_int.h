/*
 * swarm_int.h — the swarm's internal state and the functions its files
 * share. Not a public API: include/shoal/swarm.h is the contract.
 *
 * Files: swarm.c (entry points, actions, output), swarm_hs.c (handshakes,
 * greeting, duplicates), swarm_msg.c (validation and dispatch of peer
 * messages), swarm_down.c (our requests: depth, endgame, snubs),
 * swarm_up.c (their requests, choking), swarm_piece.c (assembly, verify
 * results, bans, completion), swarm_conn.c (candidates, dialing, IPs),
 * swarm_timer.c (timeouts and deadlines), swarm_hash.c (BEP 52 answers),
 * swarm_super.c (origin super-seeding).
 */
#ifndef SHOAL_SWARM_INT_H
#define SHOAL_SWARM_INT_H

#include <shoal/bencode.h>
#include <shoal/ext.h>
#include <shoal/merkle.h>
#include <shoal/picker.h>
#include <shoal/rng.h>
#include <shoal/swarm.h>
#include <shoal/wire.h>

#include "assembly.h"
#include "choker.h"
#include "peer.h"

#define SW_LOG "swarm"

/* Timers (INTEROP.md §4.6). */
#define SW_HS_TIMEOUT SH_SEC(10)
#define SW_KEEPALIVE SH_SEC(30)
#define SW_IDLE_TIMEOUT SH_SEC(120)
#define SW_SNUB_TIMEOUT SH_SEC(20)
#define SW_REQ_TIMEOUT SH_SEC(60) /* one request unanswered while others are */

/* Requests (INTEROP.md §4.3-4.5). */
#define SW_REQQ 500u        /* requests we queue per peer, advertised as reqq */
#define SW_MAX_INVALID 300u /* requests for pieces we lack before we close */
#define SW_DEPTH_MIN 4u
/* In endgame every block we lack is already requested: a peer takes a
 * duplicate only when its own queue is nearly drained. */
#define SW_ENDGAME_DEPTH 2u
#define SW_ENDGAME_S 0.5               /* duplicates once the rest would arrive this soon */
#define SW_ENDGAME_MIN (64u * 1024u) /* ... or once at most this much is outstanding */
#define SW_DEPTH_CAP_DEFAULT 250u /* peer sent no reqq */
#define SW_DEPTH_MAX 1000u
#define SW_QUEUE_SLACK SH_MS(20)      /* queueing we allow at a peer beyond twice its delay */
#define SW_SERVE_AHEAD (256u * 1024u) /* block bytes moved into an output queue at once */
#define SW_MAX_BLOCK (4u << 20)       /* largest shoal_block we accept */
#define SW_SERVE_AHEAD_S 0.1            /* with a known link rate: at most this long of it */
#define SW_MAX_HASHES 512u            /* BEP 52 hash request length we answer */

/* Super-seeding (swarm_super.c). */
#define SW_SUPER_AHEAD_BYTES (1ull << 20) /* one peer's batch of advertised pieces */
#define SW_SUPER_FEED 4u                  /* peers fed at once */
#define SW_SUPER_TURN SH_SEC(30)          /* longest turn of a fed peer */
#define SW_SUPER_MAX 16u
#define SW_SUPER_BATCH_S 1.0 /* with a known link rate: a fed peer's batch, in seconds of our upload */
#define SW_SLOT_S 4.0        /* with a known link rate: one piece per slot in about this long */
#define SW_SLOTS_MIN 2u
#define SW_SLOT_IDLE 0.25 /* with a known link rate: a slot unused this share of its piece time ... */
#define SW_SLOT_IDLE_UP 0.8 /* ... while our upload is under this share of the link is handed on */
#define SW_SUPER_WAIT SH_SEC(2) /* longest we hold a bitfield for the extension handshake */

/* Dialing. */
/* A peer that completed by downloading (not an origin, which must reach
 * the downloaders that announced before it) dials only while fewer than this many leechers are
 * connected, one address per SW_SEED_DIAL_GAP: leechers come to seeds, and
 * a fleet that completes together otherwise opens O(N^2) connections that
 * die at the handshake (both seeds), a storm that starved the tracker at
 * N = 1000 (bench/swarm.md). */
#define SW_SEED_LEECHERS 4u
#define SW_SEED_DIAL_GAP SH_SEC(1)
#define SW_BACKOFF_MIN SH_SEC(10)
#define SW_BACKOFF_MAX SH_SEC(300)
#define SW_MAX_CANDS 4096u
#define SW_BAN_STRIKES 2u

typedef enum sw_cand_state {
    SW_CAND_IDLE = 0,
    SW_CAND_CONNECTING = 1, /* we dialed it: conn is the id */
    SW_CAND_CONNECTED = 2,  /* an established connection (either way) is conn */
} sw_cand_state;

typedef struct sw_cand {
    sh_addr addr;
    sh_peer_source src;
    sw_cand_state state;
    sh_conn_id conn;
    uint32_t fails;
    sh_time retry_at;
    bool seed; /* a connection showed it has everything */
} sw_cand;

typedef struct sw_ip {
    sh_addr ip; /* port 0 */
    uint32_t strikes;
    bool banned;
} sw_ip;

struct sh_swarm {
    const sh_metainfo *mi;
    sh_logger log;
    uint8_t peer_id[20];
    uint16_t listen_port;
    char client_name[64];
    uint32_t max_conns, max_half_open, upload_slots, max_block;
    uint64_t link_rate;   /* bytes/s; 0: unknown */
    uint64_t serve_ahead; /* SW_SERVE_AHEAD, or less on a slow link */
    uint32_t rsv; /* SH_RSV_* we advertise */
    sh_wire_limits lim;
    sh_rng rng;
    sh_picker *picker;

    sh_peer **peers; /* ascending id; dead ones are swept at the end of each entry point */
    sh_conn_id *ids; /* ids[i] == peers[i]->id: sw_find searches them without a miss per step */
    size_t npeers, cappeers;
    sh_conn_id next_id;

    sh_action *acts;
    size_t act_head, act_len, act_cap;
    int act_err;

    sw_cand *cands; /* insertion order */
    size_t ncands, capcands, dial_cursor;
    sw_ip *ips;
    size_t nips, capips;
    sh_addr self[4]; /* addresses that turned out to be ourselves */
    uint32_t nself;

    sh_assembly pieces;
    sh_choker choker;
    sh_time choke_next;
    sh_time slot_idle;      /* 0: never hand an unused slot on (unknown link rate) */
    sh_time slot_check;     /* next look for unused slots */
    bool choke_fill;      /* interest changed: run a FILL pass at the end of the entry point */
    bool dial_due;        /* try to dial at the end of the entry point */
    bool refill;          /* blocks became free: let every peer request again */
    uint32_t ndead;       /* peers closed since the last sweep */
    uint32_t peers_peak;  /* most connections past the handshake at once */
    sh_time seed_dial_at; /* complete: the next dial allowed (SW_SEED_DIAL_GAP) */
    bool downloaded;      /* a piece was downloaded (not an origin that started complete) */
    sh_time now;          /* the latest time an entry point was given */
    sh_bbuf sink;         /* where messages go when an output queue cannot grow */

    sh_time deadline; /* lower bound of the next deadline (exact after on_timer) */
    bool complete_sent;
    uint64_t payload_down, payload_up, wasted, left;
    uint32_t hash_failures, banned;

    sh_mtree **trees; /* per file, built on the first hash request */
    struct sw_x *x;   /* extended protocols: PEX, metadata, layer fetching (swarm_ext.h) */

    uint32_t *adv_count;  /* super-seeding: per piece, peers it was advertised to; NULL: off */
    uint32_t *adv_out;    /* per piece, advertisements the peer has not answered with a HAVE */
    uint32_t super_ahead; /* advertised pieces in one peer's batch */
    uint32_t super_feed;  /* peers fed at once */
    uint32_t feeding;     /* super peers being fed */
    bool super_pump;      /* a fed peer left: feed another at the end of the entry point */
    uint32_t norigins;    /* live peers that super-seed us (peer.origin) */
};

/* swarm.c */
void sw_push(sh_swarm *s, const sh_action *a);
void sw_arm(sh_swarm *s, sh_time t);
sh_peer *sw_find(const sh_swarm *s, sh_conn_id c);
int sw_add_peer_obj(sh_swarm *s, const sh_addr *addr, bool outgoing, sh_time now, sh_peer **out);
/* Closes p: queues SH_ACT_CLOSE (if tell_driver), releases its picker state. */
void sw_close(sh_swarm *s, sh_peer *p, int reason, bool tell_driver, sh_time now, const char *why);
/* Marks outq growth: queues SH_ACT_SEND when p's output appears. */
void sw_wrote(sh_swarm *s, sh_peer *p, sh_time now);
sh_bbuf *sw_out(sh_swarm *s, sh_peer *p, size_t *mark);
void sw_out_done(sh_swarm *s, sh_peer *p, size_t mark, sh_time now);
void sw_send_simple(sh_swarm *s, sh_peer *p, sh_msg_id id, sh_time now);
void sw_send_req(sh_swarm *s, sh_peer *p, sh_msg_id id, uint32_t piece, uint32_t off, uint32_t len,
                 sh_time now);
bool sw_complete(const sh_swarm *s);
#define sw_debug(s, ...) sh_log(&(s)->log, SH_LOG_DEBUG, SW_LOG, __VA_ARGS__)
#define sw_info(s, ...) sh_log(&(s)->log, SH_LOG_INFO, SW_LOG, __VA_ARGS__)

/* swarm_hs.c */
void sw_connected(sh_swarm *s, sh_peer *p, sh_time now);
int sw_on_handshake(sh_swarm *s, sh_peer *p, const sh_handshake *hs, sh_time now);
int sw_on_ext_handshake(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_send_ext_handshake(sh_swarm *s, sh_peer *p, sh_time now);
void sw_send_have_state(sh_swarm *s, sh_peer *p, sh_time now);

/* swarm_super.c */
void sw_super_init(sh_swarm *s, const sh_swarm_config *cfg);
void sw_super_free(sh_swarm *s);
bool sw_super_hold(const sh_swarm *s, const sh_peer *p);
void sw_super_release_bits(sh_swarm *s, sh_peer *p, bool shoal, sh_time now);
void sw_super_top_up(sh_swarm *s, sh_peer *p, sh_time now);
void sw_super_pump(sh_swarm *s, sh_time now);
void sw_super_on_bits(sh_swarm *s, sh_peer *p, sh_time now);
void sw_super_timer(sh_swarm *s, sh_peer *p, sh_time now);
void sw_super_on_have(sh_swarm *s, sh_peer *p, uint32_t piece, sh_time now);
void sw_super_release(sh_swarm *s, sh_peer *p);

/* swarm_msg.c */
int sw_on_message(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_update_interest(sh_swarm *s, sh_peer *p, sh_time now);

/* swarm_down.c */
void sw_fill_requests(sh_swarm *s, sh_peer *p, sh_time now);
/* p just announced `piece` (its bit is set): keeps an empty pick valid if it stays empty. */
void sw_note_have(sh_swarm *s, sh_peer *p, uint32_t piece);
int sw_on_piece(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_on_reject(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_on_choked(sh_swarm *s, sh_peer *p, sh_time now);
void sw_give_up_requests(sh_swarm *s, sh_peer *p, bool send_cancel, sh_time now);
void sw_check_requests(sh_swarm *s, sh_peer *p, sh_time now);

/* swarm_up.c */
int sw_on_request(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
int sw_on_cancel(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_serve(sh_swarm *s, sh_peer *p, sh_time now);
void sw_run_choker(sh_swarm *s, sh_choke_mode mode, sh_time now);
/* Hands unused upload slots on (SW_SLOT_IDLE); returns when to look again, or NEVER. */
sh_time sw_check_slots(sh_swarm *s, sh_time now);
bool sw_coop(const sh_peer *p); /* a shoal peer of our fleet (sent shoal_block) */
int sw_check_range(const sh_swarm *s, const sh_peer *p, const sh_msg *m);

/* swarm_piece.c */
void sw_piece_done(sh_swarm *s, sh_asm_piece *ap, sh_time now);
void sw_verified(sh_swarm *s, uint32_t piece, bool ok, sh_time now);

/* swarm_conn.c */
sw_cand *sw_cand_find(sh_swarm *s, const sh_addr *a);
sw_cand *sw_cand_of_conn(sh_swarm *s, sh_conn_id c);
void sw_cand_closed(sh_swarm *s, sh_peer *p, sh_time now);
void sw_cand_established(sh_swarm *s, sh_peer *p);
void sw_mark_self(sh_swarm *s, const sh_addr *a);
void sw_dial(sh_swarm *s, sh_time now);
sh_time sw_dial_deadline(const sh_swarm *s, sh_time now);
int sw_cand_add(sh_swarm *s, const sh_addr *a, sh_peer_source src);
bool sw_banned(const sh_swarm *s, const sh_addr *a);
void sw_strike(sh_swarm *s, const sh_addr *ip, bool at_once, sh_time now);
void sw_conn_free(sh_swarm *s);
uint32_t sw_count(const sh_swarm *s, uint32_t *connecting, uint32_t *half_open);

/* swarm_timer.c */
void sw_timer(sh_swarm *s, sh_time now);

/* swarm_hash.c */
int sw_on_hash_request(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now);
void sw_hash_free(sh_swarm *s);

#include "swarm_ext.h"

#endif
