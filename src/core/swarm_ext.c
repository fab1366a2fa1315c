/*
 * swarm_ext.c — the shared part of the swarm's extended protocols (see
 * swarm_ext.h): their state's lifecycle, the per-connection table, what we
 * advertise in the extension handshake, and the dispatch of extended
 * messages by OUR local ids (the ones we put in "m").
 *
 * Private torrents (BEP 27): no peer exchange and no metadata exchange,
 * neither advertised nor answered. Peer exchange is what BEP 27 forbids;
 * for metadata we follow libtorrent, which does not load ut_metadata for a
 * private torrent (ut_metadata.cpp): a private torrent's info dictionary is
 * handed out by its tracker's site, not by peers.
 */
#include "swarm_ext.h"

#include <stdlib.h>
#include <string.h>

int sw_ext_new(sh_swarm *s, const sh_swarm_config *cfg)
{
    sw_x *x = calloc(1, sizeof *x);
    if (!x) return SH_ENOMEM;
    s->x = x;
    x->pex_on = !s->mi->is_private;
    x->pex_next = SH_TIME_NEVER;
    if (cfg->mi_layers && cfg->mi_layers != cfg->mi) return SH_EINVAL;
    x->mi_mut = cfg->mi_layers;
    if (x->mi_mut && (s->mi->version & SH_META_V2) && !s->mi->has_piece_layers)
        return sw_layers_new(s, &x->layers);
    return 0;
}

void sw_ext_free(sh_swarm *s)
{
    sw_x *x = s->x;
    if (!x) return;
    for (size_t i = 0; i < x->nxp; i++)
        free(x->xp[i].adv);
    free(x->xp);
    free(x->pex_in);
    sw_layers_free(x->layers);
    free(x);
    s->x = NULL;
}

/* ---- the per-connection table ---- */

static size_t xp_lower(const sw_x *x, sh_conn_id c)
{
    size_t lo = 0, hi = x->nxp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->xp[mid].conn < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

sw_xpeer *sw_xpeer_of(const sh_swarm *s, sh_conn_id c)
{
    size_t i = xp_lower(s->x, c);
    return i < s->x->nxp && s->x->xp[i].conn == c ? &s->x->xp[i] : NULL;
}

/* Ids only grow and a record is made when a connection is established, so appending keeps order. */
static sw_xpeer *xp_add(sw_x *x, sh_conn_id c)
{
    if (x->nxp == x->capxp) {
        size_t ncap = x->capxp ? x->capxp * 2 : 16;
        sw_xpeer *n = realloc(x->xp, ncap * sizeof *n);
        if (!n) return NULL;
        x->xp = n;
        x->capxp = ncap;
    }
    size_t i = xp_lower(x, c);
    memmove(x->xp + i + 1, x->xp + i, (x->nxp - i) * sizeof *x->xp);
    x->nxp++;
    memset(&x->xp[i], 0, sizeof x->xp[i]);
    x->xp[i].conn = c;
    return &x->xp[i];
}

static void xp_remove(sw_x *x, sh_conn_id c)
{
    size_t i = xp_lower(x, c);
    if (i == x->nxp || x->xp[i].conn != c) return;
    free(x->xp[i].adv);
    memmove(x->xp + i, x->xp + i + 1, (x->nxp - i - 1) * sizeof *x->xp);
    x->nxp--;
}

/* ---- hooks ---- */

void sw_ext_fill_hs(const sh_swarm *s, sh_ext_hs *h)
{
    h->ut_pex = s->x->pex_on ? SH_EXT_ID_PEX : 0;
    h->ut_metadata = s->mi->is_private ? 0 : SH_EXT_ID_METADATA;
}

void sw_ext_established(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (!xp_add(s->x, p->id)) {
        sw_close(s, p, SH_ENOMEM, true, now, "out of memory for extension state");
        return;
    }
    if (p->outgoing) sw_pex_changed(s); /* its listen address is known */
    if (s->x->layers) sw_layers_pump(s, now);
}

void sw_ext_on_hs(sh_swarm *s, sh_peer *p, sh_time now)
{
    sw_xpeer *xp = sw_xpeer_of(s, p->id);
    if (!xp) return;
    if (!p->outgoing && p->ext_hs.has_port) sw_pex_changed(s);
    sw_pex_peer_ready(s, p, xp, now);
}

void sw_ext_closed(sh_swarm *s, sh_peer *p, sh_time now)
{
    (void)now;
    if (!s->x || !sw_xpeer_of(s, p->id)) return;
    xp_remove(s->x, p->id);
    sh_addr a;
    if (sw_pex_listen_addr(p, &a)) sw_pex_changed(s);
    if (s->x->layers) sw_layers_peer_gone(s, p->id);
}

int sw_ext_on_message(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    sw_xpeer *xp = sw_xpeer_of(s, p->id);
    if (!xp) return 0;
    switch (m->ext_id) {
    case SH_EXT_ID_PEX:
        return s->x->pex_on ? sw_pex_on_message(s, p, xp, m, now) : 0;
    case SH_EXT_ID_METADATA:
        return s->mi->is_private ? 0 : sw_meta_on_message(s, p, xp, m, now);
    default:
        return 0; /* an id we never advertised: ignored, as BEP 10 lets us */
    }
}

int sw_ext_on_hash_msg(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    if (!s->x->layers) return 0; /* nothing asked: ignored */
    if (m->id == SH_MSG_HASHES) return sw_layers_on_hashes(s, p, m, now);
    sw_layers_on_reject(s, p, m, now);
    return 0;
}

void sw_ext_timer(sh_swarm *s, sh_time now)
{
    if (s->x->pex_on) sw_pex_timer(s, now);
    if (s->x->layers) sw_layers_timer(s, now);
}

void sw_ext_after_verify(sh_swarm *s, sh_time now)
{
    if (s->x->layers) sw_layers_install(s, now);
}

const sh_bitfield *sw_ext_pickable(const sh_swarm *s)
{
    return s->x && s->x->layers ? sw_layers_pickable(s->x->layers) : NULL;
}

void sw_ext_send(sh_swarm *s, sh_peer *p, uint8_t their_id, const sh_bbuf *payload, sh_time now)
{
    size_t mark;
    if (payload->err) {
        p->out.err = payload->err;
        mark = SIZE_MAX;
    } else {
        sh_wire_put_extended(sw_out(s, p, &mark), their_id, payload->data, payload->len);
    }
    sw_out_done(s, p, mark, now);
}
