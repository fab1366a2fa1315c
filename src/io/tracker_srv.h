/*
 * tracker_srv.h — the `shoal tracker` server: HTTP (BEP 3/23/48, through
 * libmicrohttpd) and UDP (BEP 15) announce and scrape in front of one
 * sh_tstore, plus a status page, /stats.json and Prometheus /metrics.
 *
 * Everything runs on the caller's sh_loop thread: libmicrohttpd is driven in
 * its external epoll mode from the loop, so the store needs no lock. Every
 * request is hostile: flood control per source address comes first, parsing
 * is bounded by the core codecs, replies never exceed what the protocol
 * needs (no UDP amplification), and memory is bounded by the store's caps,
 * the flood table's size and the HTTP connection limits.
 *
 * It never prints (logging goes through the logger it is given) and never
 * installs signal handlers: the caller owns the process.
 */
#ifndef SHOAL_IO_TRACKER_SRV_H
#define SHOAL_IO_TRACKER_SRV_H

#include "io/loop.h"

#include <shoal/error.h>
#include <shoal/log.h>
#include <shoal/tstore.h>

#define SH_TRACKER_MAX_LISTEN 4

typedef struct sh_tracker_config {
    sh_addr http[SH_TRACKER_MAX_LISTEN]; /* HTTP listeners (port 0: ephemeral) */
    unsigned n_http;
    sh_addr udp[SH_TRACKER_MAX_LISTEN]; /* UDP sockets */
    unsigned n_udp;
    sh_tstore_config store;    /* caps, interval, private mode */
    uint32_t ip_rate;          /* requests/s per source address; 0: unlimited */
    uint32_t ip_burst;         /* 0 → 2 × ip_rate */
    uint32_t flood_slots;      /* addresses remembered; 0 → 65536 */
    uint32_t max_conns;        /* HTTP connections in total; 0 → 4096 */
    uint32_t max_conns_per_ip; /* 0 → 64 */
    uint32_t conn_timeout;     /* seconds an idle HTTP connection lives; 0 → 10 */
    const sh_logger *log;      /* may be NULL */
} sh_tracker_config;

typedef struct sh_tracker sh_tracker;

/* Binds every listener and registers with the loop. On failure nothing is
 * left registered and ei names the address that failed. */
int sh_tracker_new(sh_loop *loop, const sh_tracker_config *cfg, sh_tracker **out, sh_errinfo *ei);
/* Unregisters and frees everything (the loop may keep running). */
void sh_tracker_free(sh_tracker *t);

/* Private mode: lets info_hash be tracked. */
int sh_tracker_allow(sh_tracker *t, const uint8_t info_hash[20]);

/* The addresses actually bound (ports resolved), for the start-up banner. */
unsigned sh_tracker_http_addrs(const sh_tracker *t, sh_addr *out, unsigned max);
unsigned sh_tracker_udp_addrs(const sh_tracker *t, sh_addr *out, unsigned max);

#endif
