/*
 * metafetch_int.h — the metadata fetcher's internal state, shared by its
 * files: metafetch.c (entry points, actions, output, candidates and
 * dialing, timers), metafetch_conn.c (one connection's protocol:
 * handshakes, messages) and metafetch_asm.c (which size is assembled, who
 * is asked for which piece, verification and punishment). Not an API:
 * include/shoal/metafetch.h is the contract.
 */
#ifndef SHOAL_METAFETCH_INT_H
#define SHOAL_METAFETCH_INT_H

#include <shoal/ext.h>
#include <shoal/metadata.h>
#include <shoal/metafetch.h>
#include <shoal/pex.h>
#include <shoal/rng.h>
#include <shoal/wire.h>

#include "outq.h"

#define MF_LOG "metafetch"
#define MF_HS_TIMEOUT SH_SEC(10)
#define MF_KEEPALIVE SH_SEC(30)
#define MF_IDLE_TIMEOUT SH_SEC(120)
#define MF_REQ_TIMEOUT SH_SEC(20) /* a metadata request unanswered this long drops the peer */
#define MF_REQS 4u                /* metadata requests outstanding per peer */
#define MF_MAX_UNSOLICITED 8u     /* data messages nobody asked for before we drop the peer */
#define MF_MAX_CANDS 1024u
#define MF_PEX_CANDS 200u /* candidates one peer may add per minute */
#define MF_PEX_WINDOW SH_SEC(60)
#define MF_BAN_STRIKES 2u
#define MF_MAX_MSG (SH_WIRE_MAX_MSG + 64u) /* bitfields of any size up to libtorrent's limit */

typedef enum mf_state {
    MF_CONNECTING = 1,
    MF_HANDSHAKE = 2,
    MF_ACTIVE = 3,
} mf_state;

typedef struct mf_conn {
    sh_conn_id id;
    sh_addr addr;
    bool outgoing, dead;
    mf_state state;
    sh_wire_dec *dec;
    sh_outq out;
    bool send_armed;
    uint8_t peer_id[20];
    bool fast, ext;
    bool got_ext_hs;
    sh_ext_hs hs;
    int64_t size;           /* its metadata_size if usable, else -1 */
    bool refused;           /* rejected a request: not asked again */
    uint32_t reqs[MF_REQS]; /* pieces asked of it */
    sh_time req_at[MF_REQS];
    uint32_t req_gen[MF_REQS]; /* the attempt each request belongs to */
    uint32_t nreqs;
    uint32_t unsolicited;
    uint32_t delivered; /* pieces it gave in the current attempt */
    sh_time hs_deadline, last_recv, last_send;
    sh_time pex_win;
    uint32_t pex_cands;
} mf_conn;

typedef enum mf_cand_state {
    MF_CAND_IDLE = 0,
    MF_CAND_CONNECTING = 1,
    MF_CAND_CONNECTED = 2,
} mf_cand_state;

typedef struct mf_cand {
    sh_addr addr;
    sh_peer_source src;
    mf_cand_state state;
    sh_conn_id conn;
    uint32_t fails;
    sh_time retry_at;
    bool good; /* completed a handshake for our torrent */
    bool self;
} mf_cand;

typedef struct mf_ip {
    sh_addr ip; /* port 0 */
    uint32_t strikes;
    bool banned;
} mf_ip;

/* Piece states of the current attempt. */
enum { MF_P_MISSING = 0, MF_P_ASKED = 1, MF_P_HAVE = 2 };

typedef struct mf_asm {
    uint32_t gen;  /* attempt number: answers to older attempts are dropped */
    uint64_t size; /* 0: no attempt */
    uint8_t *buf;
    uint32_t npieces, nhave;
    uint8_t *st;       /* per piece: MF_P_* */
    sh_addr *from;     /* per piece: the IP that delivered it */
    bool careful;      /* after an ambiguous failure: one source per attempt */
    sh_conn_id source; /* careful mode: the one connection asked */
} mf_asm;

struct sh_metafetch {
    sh_metafetch_config cfg;
    char client_name[64];
    uint8_t wire_hash[20];
    sh_logger log;
    sh_rng rng;
    sh_wire_limits lim;
    sh_time now;
    sh_time deadline;

    mf_conn **conns; /* ascending id; dead ones swept at the end of each entry point */
    size_t nconns, capconns;
    sh_conn_id next_id;

    sh_action *acts;
    size_t act_head, act_len, act_cap;

    mf_cand *cands;
    size_t ncands, capcands, dial_cursor;
    mf_ip *ips;
    size_t nips, capips;
    uint32_t banned;
    bool dial_due, assign_due;

    mf_asm a;
    sh_metafetch_state state;
    int error;
    char error_msg[256];
    uint8_t *info; /* verified */
    size_t info_len;
    bool complete_sent;
    sh_pex_msg *pex_in;
};

/* metafetch.c */
void mf_push(sh_metafetch *f, const sh_action *a);
void mf_arm(sh_metafetch *f, sh_time t);
mf_conn *mf_find(const sh_metafetch *f, sh_conn_id c);
void mf_close(sh_metafetch *f, mf_conn *c, int reason, bool tell_driver, const char *why);
sh_bbuf *mf_out(mf_conn *c, size_t *mark);
void mf_out_done(sh_metafetch *f, mf_conn *c, size_t mark);
int mf_cand_add(sh_metafetch *f, const sh_addr *a, sh_peer_source src);
mf_cand *mf_cand_of_conn(sh_metafetch *f, sh_conn_id c);
mf_cand *mf_cand_find(sh_metafetch *f, const sh_addr *a);
bool mf_banned(const sh_metafetch *f, const sh_addr *a);
/* A strike against the IP of a (at_once: banned now). Closes its connections when banned. */
void mf_strike(sh_metafetch *f, const sh_addr *a, bool at_once);
#define mf_debug(f, ...) sh_log(&(f)->log, SH_LOG_DEBUG, MF_LOG, __VA_ARGS__)
#define mf_info(f, ...) sh_log(&(f)->log, SH_LOG_INFO, MF_LOG, __VA_ARGS__)

/* metafetch_conn.c */
void mf_conn_connected(sh_metafetch *f, mf_conn *c);
int mf_conn_recv(sh_metafetch *f, mf_conn *c, const uint8_t *data, size_t len);
void mf_conn_timer(sh_metafetch *f, mf_conn *c, sh_time now);
sh_time mf_conn_deadline(const mf_conn *c);
void mf_send_request(sh_metafetch *f, mf_conn *c, uint32_t piece);
/* The address c listens on, if known. */
bool mf_listen_addr(const mf_conn *c, sh_addr *out);

/* metafetch_asm.c */
void mf_asm_free(mf_asm *a);
/* c finished its extension handshake (or closed): maybe start or switch an attempt. */
void mf_assign(sh_metafetch *f);
int mf_on_data(sh_metafetch *f, mf_conn *c, const sh_md_msg *m);
void mf_on_reject(sh_metafetch *f, mf_conn *c, const sh_md_msg *m);
/* c is going away: its requests go back. */
void mf_asm_conn_gone(sh_metafetch *f, mf_conn *c);
/* Request timeouts of c; true if c was closed. */
bool mf_asm_check(sh_metafetch *f, mf_conn *c, sh_time now);

#endif
