/*
 * peerd_int.h — the peer driver's private state, shared by its files:
 *   peerd.c        lifecycle, state changes, the action pump, the swarm timer
 *   peerd_check.c  the startup check and the creation of the swarm
 *   peerd_conn.c   per-connection socket I/O: listen, accept, connect,
 *                  recv, writev/sendfile, close
 *   peerd_connmap.c the connection table (by swarm id)
 *   peerd_rate.c   the rate limiters' wake-up and the EWMA rates
 *
 * Re-entrancy rule: only the entry points (loop callbacks and the public
 * functions) call peerd_pump; everything below it just queues work (dirty
 * connections, swarm actions), so a close in the middle of a write can never
 * free something a caller still holds.
 */
#ifndef SHOAL_IO_PEERD_INT_H
#define SHOAL_IO_PEERD_INT_H

#include "io/hasher.h"
#include "io/peerd.h"
#include "io/ratelimit.h"
#include "io/storage.h"

/* The one shared receive buffer. Large, so that most piece messages (up to
 * 256 KiB between shoal peers) arrive whole in one recv and are copied once,
 * into their piece buffer; a message split across two recvs is assembled in
 * the wire decoder first (a second copy). With 256 KiB here nearly every
 * piece message was split. */
#define PEERD_RECV_BUF (4096u * 1024u)
#define PEERD_MAX_BLOCK (256u * 1024u) /* shoal-to-shoal request size */
#define PEERD_CHECK_WINDOW 64u         /* check jobs in flight */
#define PEERD_RATE_TAU 3.0             /* seconds: EWMA time constant */
#define PEERD_ACCEPT_BATCH 64          /* accepts per listener wake-up */
#define PEERD_READS_PER_EVENT 2        /* recv calls per readable event (fairness) */
#define PEERD_FLUSH_MAX (4u << 20)     /* bytes written per flush (fairness) */
#define PEERD_CTL_MAX 2048u            /* protocol bytes sent ahead of the rate limit at once */

typedef struct pconn {
    sh_peerd *p;
    sh_conn_id id;
    int fd;
    uint32_t events;    /* current loop interest */
    bool connecting;    /* outgoing connect not yet established */
    bool dirty;         /* in p->dirty: has output to try */
    bool write_pending; /* socket was full (or fairness cap hit) with output left */
    bool read_blocked;  /* parked until download tokens return */
    bool write_blocked; /* parked until upload tokens return */
    sh_addr addr;
} pconn;

typedef struct connmap {
    pconn **v; /* sorted by id (ids only grow, so appends keep the order) */
    size_t n, cap;
} connmap;

typedef struct idvec {
    sh_conn_id *v;
    size_t n, cap;
} idvec;

typedef struct pending_peer {
    sh_addr addr;
    sh_peer_source src;
} pending_peer;

typedef struct ewma {
    double rate; /* biased toward the initial 0; see ewma_peek */
    uint64_t last_bytes;
    sh_time last, start;
} ewma;

struct sh_peerd {
    sh_loop *loop;
    sh_peerd_config cfg; /* peers pointer not kept: copied into pending */
    sh_logger log;

    sh_peerd_state state;
    int error;
    char error_msg[256];
    sh_peerd_event_fn on_event;
    void *event_ud;
    bool shut;
    bool pumping;

    sh_storage *st;
    sh_hasher *hasher;
    sh_swarm *swarm;
    uint8_t peer_id[20];
    uint64_t rng_seed;

    /* startup check */
    bool fresh; /* a new .part: nothing on disk to check */
    sh_bitfield checked_ok;
    uint32_t next_check; /* next piece to submit */
    uint32_t checked;
    uint32_t bad_on_disk;
    uint64_t start_timer;

    pending_peer *pending;
    size_t npending, cap_pending;

    /* sockets */
    int lfd;
    sh_addr listen;
    connmap conns;
    idvec dirty, dirty_swap;
    size_t unblock_next; /* where the next rate wake-up starts (peerd_conn_unblock) */
    uint8_t *rbuf;

    /* timers */
    uint64_t swarm_timer;
    sh_time swarm_timer_at;
    uint64_t accept_timer; /* accepting paused after an error (EMFILE) */
    uint64_t rate_timer;
    sh_time rate_timer_at;

    /* accounting */
    sh_ratelimit down, up;
    uint64_t wire_down, wire_up;
    uint64_t sendfile_calls, sendfile_bytes;
    ewma down_rate, up_rate;
    sh_time started, completed, verified;

    /* trackers (peerd_tracker.c) */
    sh_tier *tiers;                /* copy of cfg.trackers */
    uint32_t ntiers;
    struct sh_tracker_client *trk; /* from the end of the check on */
    bool trk_waiting;              /* shutdown runs the loop for the stopped announces */
};

/* Shut down or failed: no more sockets, timers or swarm calls that trade. */
static inline bool peerd_dead(const sh_peerd *p)
{
    return p->shut || p->state == SH_PEERD_FAILED;
}

/* peerd.c */
void peerd_pump(sh_peerd *p);
void peerd_set_state(sh_peerd *p, sh_peerd_state st);
void peerd_fail(sh_peerd *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
sh_time peerd_now(sh_peerd *p);

/* peerd_check.c */
int peerd_check_start(sh_peerd *p);
void peerd_check_done(sh_peerd *p, uint32_t piece, int result);
/* Number of pieces and a "3-7, 12" list of the clear bits of bf, bounded. */
void peerd_format_ranges(const sh_bitfield *bf, char *out, size_t outlen);

/* peerd_conn.c */
int peerd_listen(sh_peerd *p, sh_errinfo *ei);
void peerd_listen_enable(sh_peerd *p);
void peerd_conn_connect(sh_peerd *p, sh_conn_id id, const sh_addr *a);
/* Closes the socket and tells the swarm (reason: SH_E*). Unknown ids: no-op. */
void peerd_conn_close(sh_peerd *p, sh_conn_id id, int reason);
void peerd_conn_mark_dirty(sh_peerd *p, sh_conn_id id);
void peerd_conn_flush(sh_peerd *p, pconn *c);
void peerd_conn_close_all(sh_peerd *p);
/* Rate timer fired: give parked connections another go. */
void peerd_conn_unblock(sh_peerd *p);

/* peerd_connmap.c */
pconn *connmap_find(const connmap *m, sh_conn_id id);
int connmap_add(connmap *m, pconn *c);
void connmap_remove(connmap *m, sh_conn_id id);
void connmap_free(connmap *m);
int idvec_push(idvec *v, sh_conn_id id);

/* peerd_tracker.c */
int peerd_tracker_init(sh_peerd *p, const sh_peerd_config *cfg, sh_errinfo *ei);
void peerd_tracker_state(sh_peerd *p, sh_peerd_state from, sh_peerd_state to);
void peerd_tracker_stop(sh_peerd *p);
void peerd_tracker_free(sh_peerd *p);

/* peerd_rate.c */
/* Arms the one rate timer for when `need` tokens of rl return. */
void peerd_rate_wait(sh_peerd *p, sh_ratelimit *rl, uint64_t need);
void peerd_rate_cancel(sh_peerd *p);
void ewma_init(ewma *e, sh_time now);
void ewma_update(ewma *e, uint64_t bytes, sh_time now);
/* The rate as it would be after an update at now, without changing e. */
double ewma_peek(const ewma *e, uint64_t bytes, sh_time now);

#endif
