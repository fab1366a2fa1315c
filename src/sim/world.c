/*
 * world.c — building the simulated fleet: the torrent, one swarm per host
 * (host 0 is the origin, a seed from the start), their links and addresses,
 * the tracker, and the crash schedule; and tearing it all down.
 *
 * Host i lives at 10.x.y.z:6881 with x.y.z = i + 1, so an address maps back
 * to its host without a table. Each swarm's seed is derived from --seed and
 * the host index, peer ids from the index: one seed, one world.
 */
#include "sim.h"

#include <shoal/mkinfo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void sim_push(sim_world *w, sh_time t, int type, uint32_t host, uint32_t arg)
{
    sim_evq_push(&w->q, t < w->now ? w->now : t, SIM_WHAT(type, host), arg);
}

uint32_t sim_host_of_addr(const sim_world *w, const sh_addr *a)
{
    if (a->family != 4 || a->ip[0] != 10 || a->port != SIM_PORT) return SIM_NONE;
    uint32_t n = (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
    return n >= 1 && n - 1 < w->nhosts ? n - 1 : SIM_NONE;
}

void sim_peer_id(uint32_t h, uint8_t out[20])
{
    char id[21];
    snprintf(id, sizeof id, "-SS0001-%012x", h + 1);
    memcpy(out, id, 20);
}

static void log_sink(void *ud, sh_log_level level, const char *comp, const char *msg)
{
    const sim_world *w = ud;
    fprintf(stderr, "[%12.6f] host %u %s %s: %s\n", (double)(w->now - SIM_T0) / 1e9, w->log_host,
            sh_log_level_name(level), comp, msg);
}

static sh_time ms_to_ns(double ms)
{
    return (sh_time)(ms * 1e6 + 0.5);
}

static int host_init(sim_world *w, uint32_t i)
{
    sim_host *x = &w->hosts[i];
    uint32_t n = i + 1;
    x->addr = (sh_addr){.family = 4,
                        .ip = {10, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n},
                        .port = SIM_PORT};
    x->origin = i == 0;
    x->up = x->down = x->origin ? w->o.origin_rate : w->o.rate;
    x->lat = ms_to_ns(w->o.latency_ms);
    if (w->o.jitter_ms > 0) x->lat += ms_to_ns(w->o.jitter_ms * sh_rng_unit(&w->rng));
    x->rr_head = x->rr_tail = SIM_NONE;
    x->timer_at = SH_TIME_NEVER;
    x->next_port = 40000;
    sh_bitfield have;
    int rc = sh_bitfield_init(&have, w->mi->num_pieces);
    if (rc < 0) return rc;
    if (x->origin) sh_bitfield_set_all(&have);
    sh_swarm_config cfg = {
        .mi = w->mi,
        .have = &have,
        .listen_port = SIM_PORT,
        .client_name = "shoal-sim",
        .max_conns = w->o.max_conns,
        .upload_slots = w->o.upload_slots,
        .link_rate = x->up,
        .max_block = w->o.block,
        .rng_seed = mix64(w->o.seed ^ mix64(i)),
        .log = w->log,
        .virtual_payload = true,
    };
    sim_peer_id(i, cfg.peer_id);
    rc = sh_swarm_new(&cfg, w->now, &x->sw);
    sh_bitfield_free(&have);
    return rc;
}

int sim_world_init(sim_world *w, const sim_opts *o)
{
    memset(w, 0, sizeof *w);
    w->o = *o;
    w->now = SIM_T0 - (sh_time)(o->lead_s * 1e9); /* receivers start; the origin at SIM_T0 */
    w->trace = 0x243f6a8885a308d3ull;
    sh_rng_seed(&w->rng, mix64(o->seed));
    if (o->log_on) w->log = (sh_logger){.fn = log_sink, .ud = w, .level = o->log_level};
    uint64_t plen = o->piece_size ? o->piece_size : sh_mkinfo_auto_piece_length(o->size);
    int rc = sim_torrent_make(o->size, plen, &w->mi);
    if (rc < 0) return rc;
    rc = sim_evq_init(&w->q, 12, 16); /* 4 µs buckets, a 268 ms window */
    if (rc < 0) return rc;
    w->nhosts = o->hosts + 1;
    w->hosts = calloc(w->nhosts, sizeof *w->hosts);
    w->holders = calloc(w->mi->num_pieces, sizeof *w->holders);
    if (!w->hosts || !w->holders) return SH_ENOMEM;
    w->missing = w->mi->num_pieces;
    w->alive = o->hosts;
    for (uint32_t i = 0; i < w->nhosts; i++) {
        rc = host_init(w, i);
        if (rc < 0) return rc;
    }
    rc = sim_tracker_init(w);
    if (rc < 0) return rc;
    for (uint32_t i = 0; i < w->nhosts; i++) {
        sim_push(w, i == 0 ? SIM_T0 : w->now, EV_ANNOUNCE, i, SH_TEV_STARTED);
        w->log_host = i;
        sim_drain(w, i);
    }
    if (o->crash_k) sim_push(w, SIM_T0 + (sh_time)(o->crash_at_s * 1e9), EV_CRASH, 0, o->crash_k);
    return 0;
}

void sim_world_free(sim_world *w)
{
    for (uint32_t i = 0; w->hosts && i < w->nhosts; i++) {
        sh_swarm_free(w->hosts[i].sw);
        free(w->hosts[i].conns);
    }
    free(w->hosts);
    for (uint32_t i = 0; i < w->nchunks; i++)
        free(w->chunks[i].heap);
    free(w->chunks);
    free(w->free_chunks);
    free(w->ends);
    free(w->holders);
    sim_tracker_free(w);
    sim_evq_free(&w->q);
    sh_metainfo_free(w->mi);
    memset(w, 0, sizeof *w);
}
