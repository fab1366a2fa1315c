/*
 * tracker_int.h — the tracker server's private state, shared by
 * tracker_srv.c (life cycle, the store, counters), tracker_http.c
 * (libmicrohttpd on the loop), tracker_udp.c (BEP 15) and tracker_web.c
 * (status page, JSON, metrics). Nothing else may include it.
 */
#ifndef SHOAL_IO_TRACKER_INT_H
#define SHOAL_IO_TRACKER_INT_H

#include "io/floodgate.h"
#include "io/tracker_srv.h"

#include <shoal/announce.h>

#define TR_COMPONENT "tracker"
#define TR_RATE_WINDOW 10u /* seconds averaged for announces/s */

typedef enum tr_proto { TR_HTTP = 0, TR_UDP = 1, TR_NPROTO } tr_proto;

/* Why a request got no normal answer (the label of _refused_total). */
typedef enum tr_refusal {
    TR_REF_RATE = 0, /* over the per-address flood limit */
    TR_REF_BAD,      /* malformed request */
    TR_REF_CONN_ID,  /* UDP: forged or expired connection id */
    TR_REF_DENIED,   /* the store refused: not allowed (private) */
    TR_REF_FULL,     /* the store refused: swarm or tracker full */
    TR_NREF
} tr_refusal;

struct MHD_Daemon;

typedef struct tr_http {
    sh_tracker *t;
    struct MHD_Daemon *d;
    int epfd; /* MHD's epoll fd, registered with the loop */
    int lfd;  /* our listening socket, handed to MHD */
    sh_addr bound;
    uint64_t timer; /* pending MHD timeout, 0 if none */
    sh_time timer_at;
} tr_http;

typedef struct tr_udp_bufs tr_udp_bufs; /* recvmmsg/sendmmsg batches (tracker_udp.c) */

typedef struct tr_udp {
    sh_tracker *t;
    int fd;
    sh_addr bound;
    tr_udp_bufs *bufs;
} tr_udp;

struct sh_tracker {
    sh_loop *loop;
    const sh_logger *log;
    sh_tracker_config cfg;
    sh_tstore *store;
    sh_floodgate *flood;
    uint8_t udp_secret[32]; /* keys the stateless BEP 15 connection ids */

    tr_http http[SH_TRACKER_MAX_LISTEN];
    unsigned n_http;
    tr_udp udp[SH_TRACKER_MAX_LISTEN];
    unsigned n_udp;

    uint64_t expire_timer;
    sh_time started;
    int64_t started_wall;

    uint64_t announces[TR_NPROTO];
    uint64_t scrapes[TR_NPROTO];
    uint64_t udp_connects;
    uint64_t refused[TR_NREF];
    uint64_t http_conns; /* open HTTP connections */

    /* Announces per whole second, a ring indexed by second % size. */
    uint64_t ring[TR_RATE_WINDOW + 1];
    uint64_t ring_sec;

    sh_tpeer peers[SH_NUMWANT_MAX]; /* scratch for one announce answer */
};

/* tracker_srv.c: the shared request path. */
bool tr_admit(sh_tracker *t, const sh_addr *from, sh_time now);
/* Records the announce and fills reply (peers point into t->peers). 0, or
 * SH_ETRACKER with reply->failure set (counted as a refusal). */
int tr_announce(sh_tracker *t, tr_proto p, const sh_announce_req *req, sh_time now,
                sh_announce_reply *reply);
void tr_refuse(sh_tracker *t, tr_refusal why);
double tr_announce_rate(sh_tracker *t, sh_time now);
const char *tr_refusal_name(tr_refusal why);

/* tracker_http.c */
int tr_http_start(sh_tracker *t, tr_http *h, const sh_addr *addr, sh_errinfo *ei);
void tr_http_stop(tr_http *h);

/* tracker_udp.c */
int tr_udp_start(sh_tracker *t, tr_udp *u, const sh_addr *addr, sh_errinfo *ei);
void tr_udp_stop(tr_udp *u);

/* tracker_web.c: malloc'd bodies (NULL on OOM). */
char *tr_web_status_html(sh_tracker *t, sh_time now, size_t *len);
char *tr_web_stats_json(sh_tracker *t, sh_time now, size_t *len);
char *tr_web_metrics(sh_tracker *t, sh_time now, size_t *len);

#endif
