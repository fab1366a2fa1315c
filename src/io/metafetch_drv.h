/*
 * metafetch_drv.h — runs the metadata fetcher (shoal/metafetch.h) on the
 * event loop with real sockets, for `shoal get 'magnet:?...'`.
 *
 * It dials out only (no listener: the download that follows owns the
 * listen address), binding each connection to the IP of `source` so peers
 * see the address the download will serve from, and advertises
 * listen_port as "p". It feeds the core what the sockets say, writes what
 * the core queues, keeps one loop timer at the core's deadline, and calls
 * the done callback (from the loop, never from inside another call into
 * the driver) once the fetch is DONE or FAILED. It never touches files.
 */
#ifndef SHOAL_IO_METAFETCH_DRV_H
#define SHOAL_IO_METAFETCH_DRV_H

#include <shoal/log.h>
#include <shoal/magnet.h>
#include <shoal/metafetch.h>

#include "io/loop.h"

typedef struct sh_mfdrv_config {
    const sh_magnet *link; /* borrowed: its hashes, and its x.pe peers as candidates */
    sh_addr source;        /* IP to dial from (family 0 or any: the system's choice) */
    uint16_t listen_port;  /* the download's port, advertised as "p"; 0: none */
    uint32_t max_conns;    /* 0: the core's default */
    sh_logger log;
} sh_mfdrv_config;

typedef struct sh_mfdrv sh_mfdrv;
typedef void (*sh_mfdrv_done_fn)(sh_mfdrv *d, void *ud);

int sh_mfdrv_new(sh_loop *loop, const sh_mfdrv_config *cfg, sh_mfdrv **out, sh_errinfo *ei);
/* Closes every socket and cancels the timer; the core's results stay readable. */
void sh_mfdrv_stop(sh_mfdrv *d);
void sh_mfdrv_free(sh_mfdrv *d);

void sh_mfdrv_on_done(sh_mfdrv *d, sh_mfdrv_done_fn fn, void *ud);
void sh_mfdrv_add_peer(sh_mfdrv *d, const sh_addr *a, sh_peer_source src);
void sh_mfdrv_stats(const sh_mfdrv *d, sh_metafetch_stats *st);
/* The core, for sh_metafetch_info and sh_metafetch_peers. */
const sh_metafetch *sh_mfdrv_core(const sh_mfdrv *d);

#endif
