/*
 * sim.h — the simulator's world and the functions its files share.
 *
 * shoal-sim drives the real core (sh_swarm on every host, sh_tstore in the
 * tracker) in virtual time over a network model; docs/simulator.md
 * describes the model and its limits. Files, one idea each:
 *   evq.c      the event queue (calendar queue, (time, seq) order)
 *   opts.c     command line: sizes, rates, options
 *   torrent.c  the synthetic metainfo (no data is hashed)
 *   world.c    creating and freeing hosts; addresses
 *   host.c     one host's swarm: draining actions, timers, completion, crashes
 *   link.c     connections: connect/accept, close propagation
 *   uplink.c   moving bytes: uplink round robin, chunks, downlink, windows
 *   tracker.c  the tracker host: announces and answers
 *   run.c      the event loop and the trace digest
 *   stats.c    results: T*, percentiles, text and JSON output
 *   main.c     glue
 * The simulator never materialises payload: block bytes are counted
 * against bandwidth and never exist. It must stay deterministic: no
 * pointer order, no wall clock in decisions, randomness only from --seed.
 */
#ifndef SHOAL_SIM_SIM_H
#define SHOAL_SIM_SIM_H

#include <shoal/announce.h>
#include <shoal/log.h>
#include <shoal/metainfo.h>
#include <shoal/rng.h>
#include <shoal/swarm.h>
#include <shoal/tstore.h>

#include "evq.h"

#define SIM_NONE UINT32_MAX
#define SIM_PORT 6881
#define SIM_T0 SH_SEC(1000) /* the origin starts: not zero, so "0 means unset" bugs show */

/* ---- options ---- */

typedef struct sim_opts {
    uint32_t hosts;       /* receivers (the origin is extra) */
    uint64_t size;        /* file size, bytes */
    uint64_t rate;        /* every receiver's upload and download, bytes/s */
    uint64_t origin_rate; /* the origin's upload and download */
    double latency_ms;    /* one way, host to network */
    double jitter_ms;     /* per-host extra latency, uniform in [0, jitter) */
    uint64_t piece_size;  /* 0: sh_mkinfo_auto_piece_length */
    uint32_t block;       /* largest request between shoal peers (shoal_block) */
    uint64_t quantum;     /* bytes a connection sends per uplink turn (whole blocks) */
    uint64_t seed;
    double loss; /* per-chunk probability of an RTO penalty */
    double loss_penalty_ms;
    uint32_t max_conns, upload_slots;
    uint32_t crash_k; /* --crash K@T */
    double crash_at_s;
    bool origin_crash_all; /* --origin-crash-when-all-exist */
    double time_limit_s;   /* virtual seconds before giving up */
    double lead_s;         /* receivers start this long before the origin */
    double have_batch_ms;  /* HAVE-only output waits up to this long for company */
    bool uplink_first;     /* --uplink first: oldest connection first, not round robin */
    uint32_t interval;     /* tracker interval, s; 0: sh_tstore's default */
    uint64_t hash_rate;    /* bytes/s one host verifies; 0: instant */
    bool json, quiet, progress;
    const char *per_host; /* --per-host FILE: one CSV line per host */
    bool log_on;
    sh_log_level log_level;
} sim_opts;

/* 0 and *o filled; 2 on bad usage (message printed); 1 if --help was printed. */
int sim_opts_parse(int argc, char **argv, sim_opts *o);
/* "5G" -> 5 * 2^30; K/M/G/T binary suffixes, optional fraction. 0 or SH_EINVAL. */
int sim_parse_size(const char *s, uint64_t *out);

/* ---- the world ---- */

enum sim_end_state { SIM_CONNECTING = 1, SIM_OPEN = 2, SIM_CLOSED = 3 };

/* One side of a TCP connection. */
typedef struct sim_end {
    uint32_t host;
    uint32_t far_host; /* the host dialed or dialing */
    uint32_t far;      /* the other side, or SIM_NONE (not yet accepted) */
    sh_conn_id conn;
    uint8_t state;
    bool in_rr;        /* in its host's uplink round robin */
    bool blocked;      /* window full: waiting for deliveries */
    bool wake_pending; /* an EV_WAKE is on its way */
    uint32_t rr_next;
    uint32_t need;        /* blocked: bytes of the chunk that did not fit */
    uint32_t window;      /* bytes in flight allowed */
    uint64_t inflight;    /* sent, not yet delivered */
    sh_time last_arrival; /* latest arrival scheduled towards far: keeps the stream in order */
    uint32_t last_chunk;  /* latest chunk in flight towards far, or SIM_NONE */
    uint32_t batch;       /* --have-batch: HAVEs held back, not yet sent, or SIM_NONE */
    sh_time batch_at;     /* when that batch leaves */
} sim_end;

/* Bytes in flight: protocol bytes travel, block payload is only counted. */
#define SIM_CHUNK_INLINE 40u
typedef struct sim_chunk {
    uint32_t from;        /* sending endpoint */
    uint32_t wire;        /* bytes on the wire, payload included */
    uint32_t nbytes, cap; /* protocol bytes held */
    bool control;         /* no block payload: skips the receiver's downlink queue */
    uint8_t *heap;        /* when cap > SIM_CHUNK_INLINE */
    uint8_t inl[SIM_CHUNK_INLINE];
} sim_chunk;

typedef struct sim_host {
    sh_swarm *sw;
    sh_addr addr;
    uint64_t up, down; /* bytes/s */
    sh_time lat;       /* one way to the network */
    sh_time up_free;   /* the uplink is busy until then */
    sh_time down_free;
    sh_time ctl_debt;    /* uplink time of control bytes sent out of turn */
    sh_time ctl_debt_at; /* when ctl_debt was last brought up to date (debt_decay) */
    uint32_t rr_head, rr_tail;
    bool turn_pending;
    bool complete, crashed, origin;
    sh_time timer_at; /* the pending timer event, or SH_TIME_NEVER */
    sh_time complete_at;
    sh_time hash_free; /* the host's hasher is busy until then */
    uint32_t *conns;   /* conn id -> endpoint */
    uint32_t nconns;
    uint16_t next_port;
    uint32_t announces;
} sim_host;

typedef struct sim_stats {
    uint64_t events, chunks, control_chunks, piggybacked, lost_chunks, batched;
    uint64_t connects, refused, closes;
    uint64_t announces;
    uint64_t max_pending;
    uint64_t by_type[16]; /* events popped, by enum sim_ev_type */
} sim_stats;

typedef struct sim_world {
    sim_opts o;
    sh_metainfo *mi;
    sh_rng rng; /* the network's randomness (loss, jitter, crashes) */
    sim_evq q;
    sh_time now;
    sim_host *hosts; /* [0] is the origin */
    uint32_t nhosts;
    sim_end *ends;
    uint32_t nends, capends;
    sim_chunk *chunks;
    uint32_t nchunks, capchunks;
    uint32_t *free_chunks;
    uint32_t nfree_chunks;
    uint64_t trace; /* digest of the ordered event stream */
    uint32_t done;  /* receivers complete */
    uint32_t alive; /* receivers not crashed */
    /* tracker */
    sh_tstore *ts;
    sh_time tracker_lat;
    struct sim_reply *replies; /* answers in flight */
    uint32_t nreplies, capreplies;
    uint32_t *free_replies;
    uint32_t nfree_replies;
    /* --origin-crash-when-all-exist */
    uint32_t *holders; /* per piece: live receivers that have it */
    uint32_t missing;  /* pieces no live receiver has */
    sh_time origin_crashed_at;
    sim_stats st;
    sh_logger log;
    uint32_t log_host; /* host of the swarm call being logged */
} sim_world;

/* Event types (what = type << 24 | host). */
enum sim_ev_type {
    EV_TIMER = 1, /* host: swarm deadline */
    EV_TURN,      /* host: uplink free, next round-robin turn */
    EV_ARRIVE,    /* arg chunk: reaches the receiver's downlink */
    EV_DELIVER,   /* arg chunk: handed to the receiver's swarm */
    EV_SYN,       /* arg endpoint: connect request reaches the listener */
    EV_SYNACK,    /* arg endpoint: connection established at the dialer */
    EV_REFUSED,   /* arg endpoint: connection refused */
    EV_FIN,       /* arg endpoint: the far side closed */
    EV_WAKE,      /* arg endpoint: window open again (ack arrived) */
    EV_ANNOUNCE,  /* host: time to announce; arg: sh_tevent */
    EV_TRACKER,   /* host: announce reaches the tracker; arg: sh_tevent */
    EV_REPLY,     /* host: tracker answer arrives */
    EV_CRASH,     /* --crash */
    EV_VERIFIED,  /* host: --hash-rate, the piece in arg is hashed */
    EV_FLUSH,     /* arg endpoint: --have-batch, its held HAVEs leave */
};

#define SIM_WHAT(type, host) ((uint32_t)(type) << 24 | (host))
#define SIM_HOST_MAX ((1u << 24) - 2)

static inline sh_time sim_max(sh_time a, sh_time b)
{
    return a > b ? a : b;
}

/* Nanoseconds to move len bytes at rate bytes/s, rounded up. */
static inline sh_time sim_xfer(uint64_t len, uint64_t rate)
{
    return (sh_time)((len * 1000000000ull + rate - 1) / rate);
}

/* world.c */
int sim_world_init(sim_world *w, const sim_opts *o);
void sim_world_free(sim_world *w);
uint32_t sim_host_of_addr(const sim_world *w, const sh_addr *a); /* SIM_NONE if unknown */
void sim_peer_id(uint32_t h, uint8_t out[20]);
void sim_push(sim_world *w, sh_time t, int type, uint32_t host, uint32_t arg);

/* torrent.c */
int sim_torrent_make(uint64_t size, uint64_t piece_length, sh_metainfo **out);

/* host.c */
void sim_drain(sim_world *w, uint32_t h);
void sim_on_timer(sim_world *w, uint32_t h, sh_time t);
void sim_crash(sim_world *w, uint32_t h);
void sim_crash_random(sim_world *w, uint32_t k);
void sim_on_verified(sim_world *w, uint32_t h, uint32_t piece);

/* link.c */
uint32_t sim_end_of(const sim_world *w, uint32_t h, sh_conn_id c); /* SIM_NONE if none */
void sim_act_connect(sim_world *w, uint32_t h, const sh_action *a);
void sim_act_close(sim_world *w, uint32_t h, const sh_action *a);
void sim_on_syn(sim_world *w, uint32_t e);
void sim_on_synack(sim_world *w, uint32_t e);
void sim_on_refused(sim_world *w, uint32_t e);
void sim_on_fin(sim_world *w, uint32_t e);
void sim_end_close_far(sim_world *w, uint32_t e); /* tell the far side after latency */

/* uplink.c */
void sim_act_send(sim_world *w, uint32_t h, const sh_action *a);
void sim_on_turn(sim_world *w, uint32_t h);
void sim_on_arrive(sim_world *w, uint32_t c);
void sim_on_deliver(sim_world *w, uint32_t c);
void sim_on_wake(sim_world *w, uint32_t e);
void sim_on_flush(sim_world *w, uint32_t e);
void sim_end_flush(sim_world *w, uint32_t e); /* --have-batch: send held HAVEs now */
void sim_chunk_drop(sim_world *w, uint32_t c);

/* tracker.c */
int sim_tracker_init(sim_world *w);
void sim_tracker_free(sim_world *w);
void sim_on_announce(sim_world *w, uint32_t h, sh_tevent ev);
void sim_on_tracker(sim_world *w, uint32_t h, sh_tevent ev);
void sim_on_reply(sim_world *w, uint32_t h, uint32_t r);

/* run.c */
void sim_trace(sim_world *w, uint64_t a, uint64_t b);
void sim_trace_action(sim_world *w, uint32_t h, const sh_action *a);
/* Runs until every live receiver is complete, the time limit, or no events. */
void sim_run(sim_world *w);

/* stats.c */
typedef struct sim_result {
    double t_star_s, one_by_one_s;
    double p50_s, p90_s, p99_s, max_s;
    uint32_t completed, incomplete, crashed;
    uint64_t origin_upload;
    double wall_s;
} sim_result;
void sim_result_compute(const sim_world *w, double wall_s, sim_result *r);
int sim_result_print(const sim_world *w, const sim_result *r);
/* --per-host: host, role, complete_s, payload and connection counters. */
int sim_per_host_write(const sim_world *w, const char *path);

#endif
