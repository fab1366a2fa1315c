/*
 * peerd_tracker.c — the peer driver's trackers: a tracker client
 * (io/tracker_client.h) started once the startup check is over (so a seed
 * announces left=0, not the size it is still checking), told `completed`
 * when a download finishes, and `stopped` at shutdown, for which the loop
 * runs up to PEERD_STOP_WAIT more. Peers it learns go to the swarm as
 * SH_SRC_TRACKER. Nothing here can fail the torrent: a tracker client that
 * cannot start is logged and the torrent trades with the peers it knows.
 */
#include "io/peerd_int.h"

#include "io/clock.h"
#include "io/tracker_client.h"

#include <stdlib.h>
#include <string.h>

#define PEERD_STOP_WAIT SH_MS(3500) /* the announcer gives up at 3 s */

static void free_tiers(sh_tier *t, uint32_t n)
{
    for (uint32_t i = 0; t && i < n; i++) {
        for (uint32_t j = 0; j < t[i].count; j++)
            free(t[i].urls[j]);
        free(t[i].urls);
    }
    free(t);
}

int peerd_tracker_init(sh_peerd *p, const sh_peerd_config *cfg, sh_errinfo *ei)
{
    if (!cfg->num_tracker_tiers || !cfg->trackers) return 0;
    p->tiers = calloc(cfg->num_tracker_tiers, sizeof *p->tiers);
    if (!p->tiers) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    p->ntiers = cfg->num_tracker_tiers;
    for (uint32_t i = 0; i < p->ntiers; i++) {
        const sh_tier *src = &cfg->trackers[i];
        sh_tier *dst = &p->tiers[i];
        dst->urls = calloc(src->count ? src->count : 1, sizeof *dst->urls);
        if (!dst->urls) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
        for (uint32_t j = 0; j < src->count; j++) {
            dst->urls[j] = strdup(src->urls[j] ? src->urls[j] : "");
            if (!dst->urls[j]) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
            dst->count++;
        }
    }
    return 0;
}

static void on_peers(void *ud, const sh_tpeer *peers, uint32_t n)
{
    sh_peerd *p = ud;
    for (uint32_t i = 0; i < n; i++) {
        /* trackers such as opentracker hand us back to ourselves */
        if (sh_addr_eq(&peers[i].addr, &p->listen)) continue;
        sh_peerd_add_peer(p, &peers[i].addr, SH_SRC_TRACKER);
    }
}

static void totals(void *ud, uint64_t *up, uint64_t *down, uint64_t *left)
{
    sh_peerd *p = ud;
    if (p->swarm) {
        sh_swarm_stats s;
        sh_swarm_get_stats(p->swarm, &s);
        *up = s.payload_up;
        *down = s.payload_down;
        *left = s.left;
    } else {
        *up = *down = 0;
        *left = p->cfg.seeding ? 0 : p->cfg.mi->total_size;
    }
}

static void on_idle(void *ud)
{
    sh_peerd *p = ud;
    if (p->trk_waiting) sh_loop_stop(p->loop);
}

static void start(sh_peerd *p)
{
    const sh_metainfo *mi = p->cfg.mi;
    sh_tracker_client_config c;
    memset(&c, 0, sizeof c);
    c.tiers = p->tiers;
    c.num_tiers = p->ntiers;
    /* a hybrid announces its v1 hash, as every v1 peer and tracker knows it */
    memcpy(c.info_hash, mi->version & SH_META_V1 ? mi->info_hash_v1 : mi->info_hash_v2, 20);
    memcpy(c.peer_id, p->peer_id, 20);
    c.listen = p->listen;
    c.seed = p->rng_seed ^ 0x747261636b6572ull; /* apart from the swarm's stream */
    c.log = p->log;
    c.on_peers = on_peers;
    c.totals = totals;
    c.on_idle = on_idle;
    c.ud = p;
    sh_errinfo ei = {0};
    int rc = sh_tracker_client_new(p->loop, &c, &p->trk, &ei);
    if (rc)
        sh_log(&p->log, SH_LOG_WARN, "peerd", "trackers disabled: %s",
               ei.msg[0] ? ei.msg : sh_strerror(rc));
}

void peerd_tracker_state(sh_peerd *p, sh_peerd_state from, sh_peerd_state to)
{
    if (!p->ntiers || p->shut) return;
    if (!p->trk && from == SH_PEERD_CHECKING &&
        (to == SH_PEERD_DOWNLOADING || to == SH_PEERD_SEEDING))
        start(p);
    if (p->trk && from == SH_PEERD_DOWNLOADING && to == SH_PEERD_SEEDING)
        sh_tracker_client_completed(p->trk);
}

static void on_wait_over(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    sh_loop_stop(l);
}

void peerd_tracker_stop(sh_peerd *p)
{
    if (!p->trk) return;
    sh_tracker_client_stop(p->trk);
    if (sh_tracker_client_idle(p->trk)) return;
    /* the loop keeps running for the stopped announces only: every
     * connection, listener and swarm timer is gone by now */
    uint64_t guard = sh_loop_timer(p->loop, sh_clock_now() + PEERD_STOP_WAIT, on_wait_over, p);
    p->trk_waiting = true;
    if (guard) sh_loop_run(p->loop);
    p->trk_waiting = false;
    if (guard) sh_loop_cancel(p->loop, guard);
}

void peerd_tracker_free(sh_peerd *p)
{
    sh_tracker_client_free(p->trk);
    p->trk = NULL;
    free_tiers(p->tiers, p->ntiers);
    p->tiers = NULL;
    p->ntiers = 0;
}

size_t sh_peerd_trackers(const sh_peerd *p, sh_tracker_status *out, size_t max)
{
    return p && p->trk ? sh_tracker_client_status(p->trk, out, max) : 0;
}
