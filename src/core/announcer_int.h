/*
 * announcer_int.h — the announcer's state, shared by its files:
 * announcer.c (tiers, schedule, results), announcer_http.c (HTTP requests),
 * announcer_udp.c (the BEP 15 exchange), announcer_queue.c (the action
 * queue) and announcer_url.c (which URLs are usable). Not a public API.
 */
#ifndef SHOAL_ANNOUNCER_INT_H
#define SHOAL_ANNOUNCER_INT_H

#include <shoal/announcer.h>
#include <shoal/rng.h>

#define ANN_COMPONENT "tracker"
#define ANN_URL_MAX 2048u        /* longer tracker URLs are refused */
#define ANN_HOST_MAX 256u        /* a DNS name is at most 253 characters */
#define ANN_MIN_GAP SH_SEC(5)    /* never announce to a tier more often */
#define ANN_DEFAULT_INTERVAL 30u /* seconds, when a tracker gives none */
#define ANN_MAX_INTERVAL 7200u   /* a tracker asking for more gets this */
#define ANN_BACKOFF_FIRST SH_SEC(5)
#define ANN_BACKOFF_MAX SH_SEC(300)
#define ANN_HTTP_TIMEOUT SH_SEC(15)
#define ANN_UDP_RTO SH_SEC(2) /* first retransmission; doubles */
#define ANN_UDP_TRIES 4u
#define ANN_UDP_CONN_TTL SH_SEC(60) /* BEP 15: a connection id lasts a minute */
#define ANN_STOP_DEADLINE SH_SEC(3)

typedef enum ann_kind { KIND_BAD = 0, KIND_HTTP = 1, KIND_UDP = 2 } ann_kind;

/* What a tracker is doing right now. */
typedef enum ann_phase {
    PH_IDLE = 0,
    PH_HTTP = 1,         /* GET issued, waiting for http_done */
    PH_UDP_CONNECT = 2,  /* connect request out */
    PH_UDP_ANNOUNCE = 3, /* announce request out */
} ann_phase;

typedef struct ann_tracker {
    char *url;
    uint32_t tier;
    ann_kind kind;

    /* UDP: where, and the cached connection id */
    char host[ANN_HOST_MAX];
    uint16_t port;
    bool resolved; /* addr is known: answers are accepted only from it */
    sh_addr addr;
    bool has_conn;
    uint64_t conn_id;
    sh_time conn_at;

    /* the request in flight */
    ann_phase phase;
    sh_tevent event;
    bool final;       /* the request is the stopped announce of shutdown */
    bool stop_next;   /* stopping: announce stopped once this request ends */
    uint64_t req;     /* HTTP request id */
    uint32_t txid;    /* UDP transaction id (kept across retransmissions) */
    uint32_t tries;   /* UDP sends of the current packet */
    sh_time deadline; /* HTTP timeout or UDP retransmission */
    uint8_t pkt[98];  /* UDP packet in flight, resent as is */
    size_t pkt_len;

    /* history */
    bool started_ok;  /* answered a started announce: it knows us */
    bool working;     /* the last announce succeeded */
    uint32_t fails;   /* consecutive failures */
    sh_time retry_at; /* backoff: not contacted before */
    uint32_t last_peers;
    char last_error[128];
} ann_tracker;

typedef struct ann_tier {
    uint32_t *order; /* tracker indices, the one that last answered first */
    uint32_t count;
    uint32_t active;        /* tracker in flight for this tier, or UINT32_MAX */
    sh_time next;           /* next announce due (SH_TIME_NEVER: nothing usable) */
    sh_time min_gap;        /* max(min interval, ANN_MIN_GAP) from the last answer */
    bool completed_pending; /* completed still to be told to this tier */
} ann_tier;

typedef struct ann_qitem {
    sh_ann_action act;
    void *own[2]; /* storage the action points into, freed once consumed */
} ann_qitem;

struct sh_announcer {
    sh_announcer_config cfg;
    sh_rng rng;
    ann_tracker *trk;
    uint32_t ntrk;
    ann_tier *tiers;
    uint32_t ntiers;
    uint32_t tier_slots; /* tiers allocated (>= ntiers) */
    uint64_t uploaded, downloaded, left;
    uint64_t next_req;
    bool completed; /* sh_announcer_completed was called */
    bool stopping;
    sh_time stop_deadline;

    ann_qitem *q; /* FIFO of pending actions */
    size_t qhead, qlen, qcap;
    ann_qitem cur; /* the action last handed out, alive until the next one */
};

/* announcer_queue.c: pushes take ownership of own0/own1 (freed even on failure). */
int ann_push(sh_announcer *a, const sh_ann_action *act, void *own0, void *own1);
void ann_queue_free(sh_announcer *a);

/* announcer_url.c */
int ann_parse_url(const char *url, ann_kind *kind, char *host, uint16_t *port, sh_errinfo *ei);

/* announcer.c: outcomes of a request, from either protocol. reply may be NULL
 * on failure; on success its peers are taken. */
void ann_success(sh_announcer *a, ann_tracker *t, sh_announce_reply *reply, sh_time now);
void ann_failure(sh_announcer *a, ann_tracker *t, const char *why, sh_time now);
void ann_build_req(const sh_announcer *a, sh_tevent ev, sh_announce_req *r);

/* announcer_http.c */
void ann_http_start(sh_announcer *a, ann_tracker *t, sh_time now);
void ann_http_timer(sh_announcer *a, ann_tracker *t, sh_time now);
void ann_http_cancel(sh_announcer *a, ann_tracker *t);

/* announcer_udp.c */
void ann_udp_start(sh_announcer *a, ann_tracker *t, sh_time now);
void ann_udp_timer(sh_announcer *a, ann_tracker *t, sh_time now);

#endif
