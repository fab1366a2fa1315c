/*
 * peerd_check.c — the startup check: hash what is already on disk (a window
 * of jobs at a time on the hasher threads), then create the swarm with what
 * passed. Seeding data that fails is fatal (the origin must not serve bad
 * bytes); a download just fetches the rest.
 */
#include "io/peerd_int.h"

#include <stdio.h>
#include <string.h>

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0"
#endif

/* Appends "a" or "a-b" (with a ", " separator). False once out of room. */
static bool append_range(char *out, size_t outlen, size_t *pos, uint32_t a, uint32_t b)
{
    char item[32];
    int n = a == b ? snprintf(item, sizeof item, "%s%u", *pos ? ", " : "", a)
                   : snprintf(item, sizeof item, "%s%u-%u", *pos ? ", " : "", a, b);
    /* keep room for ", ..." */
    if (n < 0 || *pos + (size_t)n + 6 > outlen) return false;
    memcpy(out + *pos, item, (size_t)n + 1);
    *pos += (size_t)n;
    return true;
}

void peerd_format_ranges(const sh_bitfield *bf, char *out, size_t outlen)
{
    size_t pos = 0;
    if (outlen == 0) return;
    out[0] = 0;
    uint32_t i = sh_bitfield_next_clear(bf, 0);
    while (i < bf->nbits) {
        uint32_t end = sh_bitfield_next_set(bf, i);
        if (!append_range(out, outlen, &pos, i, end - 1)) {
            if (pos + 6 <= outlen) memcpy(out + pos, pos ? ", ..." : "...", pos ? 6 : 4);
            return;
        }
        i = end < bf->nbits ? sh_bitfield_next_clear(bf, end) : bf->nbits;
    }
}

static int create_swarm(sh_peerd *p)
{
    sh_swarm_config sc = {0};
    sc.mi = p->cfg.mi;
    sc.mi_layers = p->cfg.mi_layers;
    sc.have = &p->checked_ok;
    memcpy(sc.peer_id, p->peer_id, 20);
    sc.listen_port = p->listen.port;
    sc.client_name = "shoal/" SHOAL_VERSION;
    sc.max_conns = p->cfg.max_conns;
    sc.link_rate = p->cfg.upload_limit;
    sc.max_block = PEERD_MAX_BLOCK;
    sc.rng_seed = p->rng_seed;
    sc.log = p->log;
    return sh_swarm_new(&sc, peerd_now(p), &p->swarm);
}

static void finish(sh_peerd *p)
{
    const sh_metainfo *mi = p->cfg.mi;
    uint32_t bad = mi->num_pieces - p->checked_ok.count;
    p->bad_on_disk = bad;
    if (bad && !p->fresh) {
        char ranges[200];
        peerd_format_ranges(&p->checked_ok, ranges, sizeof ranges);
        if (p->cfg.seeding) {
            peerd_fail(p, SH_EHASH, "%s: %u of %u pieces do not match the torrent (pieces %s)",
                       sh_storage_path(p->st), bad, mi->num_pieces, ranges);
            return;
        }
        sh_log(&p->log, SH_LOG_INFO, "peerd", "%s: pieces %s missing or wrong (%u of %u)",
               sh_storage_path(p->st), ranges, bad, mi->num_pieces);
    } else if (p->fresh) {
        sh_log(&p->log, SH_LOG_INFO, "peerd", "new download into %s: %u pieces to fetch",
               sh_storage_path(p->st), mi->num_pieces);
    }
    int rc = create_swarm(p);
    if (rc) {
        peerd_fail(p, rc, "cannot create the swarm: %s", sh_strerror(rc));
        return;
    }
    for (size_t i = 0; i < p->npending; i++)
        sh_swarm_add_peer(p->swarm, &p->pending[i].addr, p->pending[i].src, peerd_now(p));
    p->npending = 0;
    peerd_listen_enable(p);
    if (bad == 0 && !p->cfg.seeding) {
        sh_errinfo ei = {0};
        rc = sh_storage_finalize(p->st, &ei);
        if (rc) {
            peerd_fail(p, rc, "data complete but not finalized: %s", ei.msg);
            return;
        }
    }
    peerd_set_state(p, bad == 0 ? SH_PEERD_SEEDING : SH_PEERD_DOWNLOADING);
    peerd_pump(p);
}

static void submit_more(sh_peerd *p)
{
    const sh_metainfo *mi = p->cfg.mi;
    while (p->next_check < mi->num_pieces && sh_hasher_pending(p->hasher) < PEERD_CHECK_WINDOW) {
        int rc = sh_hasher_submit_check(p->hasher, p->next_check);
        if (rc) {
            if (sh_hasher_pending(p->hasher) == 0)
                peerd_fail(p, rc, "cannot check piece %u: %s", p->next_check, sh_strerror(rc));
            return; /* try again on the next result */
        }
        p->next_check++;
    }
}

void peerd_check_done(sh_peerd *p, uint32_t piece, int result)
{
    if (p->shut || p->state != SH_PEERD_CHECKING) return;
    p->checked++;
    if (result == 0) {
        sh_bitfield_set(&p->checked_ok, piece);
    } else if (result != SH_EHASH) {
        sh_log(&p->log, SH_LOG_DEBUG, "peerd", "check piece %u: %s", piece, sh_strerror(result));
    }
    if (p->checked == p->cfg.mi->num_pieces) {
        finish(p);
        return;
    }
    submit_more(p);
}

static void on_start(sh_loop *l, uint64_t id, void *ud)
{
    (void)l, (void)id;
    sh_peerd *p = ud;
    p->start_timer = 0;
    if (p->fresh || p->cfg.mi->num_pieces == 0)
        finish(p);
    else
        submit_more(p);
}

int peerd_check_start(sh_peerd *p)
{
    int rc = sh_bitfield_init(&p->checked_ok, p->cfg.mi->num_pieces);
    if (rc) return rc;
    /* From the loop, so the caller can register its event callback first. */
    p->start_timer = sh_loop_timer(p->loop, sh_loop_now(p->loop), on_start, p);
    return p->start_timer ? 0 : SH_ENOMEM;
}
