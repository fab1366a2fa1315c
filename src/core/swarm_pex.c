/*
 * swarm_pex.c — peer exchange policy (BEP 11).
 *
 * Sending. We tell each peer that speaks ut_pex whom we are connected to:
 * the listen address of every established connection (the address we
 * dialed, or an incoming peer's IP with the "p" of its extension
 * handshake; an incoming peer that gave no port is not advertised, as in
 * libtorrent), never the recipient itself. The first message goes out
 * SW_PEX_FIRST after the peer's extension handshake, then at most one per
 * SW_PEX_INTERVAL, each carrying the difference from what that peer was
 * last told: at most SW_PEX_MAX_ADDED added and SW_PEX_MAX_DROPPED
 * dropped; the rest waits for the next message. The interval is
 * libtorrent's rule (src/ut_pex.cpp: a peer plugin sends when
 * "now - seconds(60) >= m_last_msg", and on receipt it disconnects with
 * too_frequent_pex a peer whose 7th message arrives within 60 s of the
 * 1st), so once a minute keeps us welcome. When nothing changed nothing is
 * sent; a change of the connection set (a generation counter) makes a
 * peer whose interval has passed due at once.
 *
 * Receiving. Every added address becomes a dial candidate
 * (SH_SRC_PEX), a seed flag is remembered so a complete swarm does not
 * dial it; "dropped" is ignored (a dead candidate backs off by itself).
 * What one peer can inject is bounded per SW_PEX_IN_WINDOW: SW_PEX_IN_MSGS
 * messages read and SW_PEX_IN_CANDS new candidates; the excess is ignored
 * rather than punished. A message that is not a dictionary closes the
 * connection, as in libtorrent (invalid_pex_message).
 *
 * Flags we send: SH_PEX_SEED for a peer that has everything or said
 * upload_only, SH_PEX_REACHABLE for one we dialed ourselves.
 */
#include "swarm_ext.h"

#include <stdlib.h>
#include <string.h>

#define GEN_UNSEEN UINT64_MAX

bool sw_pex_listen_addr(const sh_peer *p, sh_addr *out)
{
    if (p->dead || p->state != SH_PEER_ACTIVE) return false;
    *out = p->addr;
    if (p->outgoing) return true;
    if (!p->got_ext_hs || !p->ext_hs.has_port || p->ext_hs.port == 0) return false;
    out->port = p->ext_hs.port;
    return true;
}

static bool waiting(const sw_x *x, const sw_xpeer *xp)
{
    return xp->pex_due != 0 && xp->pex_gen_seen != x->pex_gen;
}

static void recompute_next(sh_swarm *s)
{
    sw_x *x = s->x;
    sh_time t = SH_TIME_NEVER;
    for (size_t i = 0; i < x->nxp; i++)
        if (waiting(x, &x->xp[i]) && x->xp[i].pex_due < t) t = x->xp[i].pex_due;
    x->pex_next = t;
    sw_arm(s, t);
}

void sw_pex_changed(sh_swarm *s)
{
    if (!s->x || !s->x->pex_on) return;
    s->x->pex_gen++;
    recompute_next(s);
}

void sw_pex_peer_ready(sh_swarm *s, sh_peer *p, sw_xpeer *xp, sh_time now)
{
    if (!s->x->pex_on || p->ext_hs.ut_pex == 0 || xp->pex_due != 0) return;
    xp->pex_due = now + SW_PEX_FIRST;
    xp->pex_gen_seen = GEN_UNSEEN;
    if (xp->pex_due < s->x->pex_next) s->x->pex_next = xp->pex_due;
    sw_arm(s, xp->pex_due);
}

/* ---- sending ---- */

typedef struct pex_entry {
    sh_pex_peer pp;
    sh_conn_id conn;
} pex_entry;

static int cmp_entry(const void *a, const void *b)
{
    return sh_addr_cmp(&((const pex_entry *)a)->pp.addr, &((const pex_entry *)b)->pp.addr);
}

/* Every advertisable connection, sorted by address, duplicates removed. */
static pex_entry *collect(const sh_swarm *s, size_t *n)
{
    pex_entry *v = malloc((s->npeers ? s->npeers : 1) * sizeof *v);
    if (!v) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        const sh_peer *p = s->peers[i];
        sh_addr a;
        if (!sw_pex_listen_addr(p, &a)) continue;
        uint8_t f = (p->seed || p->ext_hs.upload_only ? SH_PEX_SEED : 0) |
                    (p->outgoing ? SH_PEX_REACHABLE : 0);
        v[k++] = (pex_entry){{a, f}, p->id};
    }
    qsort(v, k, sizeof *v, cmp_entry);
    size_t w = 0;
    for (size_t r = 0; r < k; r++)
        if (w == 0 || !sh_addr_eq(&v[w - 1].pp.addr, &v[r].pp.addr)) v[w++] = v[r];
    *n = w;
    return v;
}

typedef struct pex_diff {
    sh_pex_peer added[SW_PEX_MAX_ADDED];
    uint32_t nadded;
    sh_addr dropped[SW_PEX_MAX_DROPPED];
    uint32_t ndropped;
    sh_addr *adv; /* what the peer will know after this message, sorted */
    uint32_t nadv;
    bool more; /* the limits left something for the next message */
} pex_diff;

static bool is_recipient(const sh_peer *r, const pex_entry *e)
{
    sh_addr la;
    if (e->conn == r->id || sh_addr_eq(&e->pp.addr, &r->addr)) return true;
    return sw_pex_listen_addr(r, &la) && sh_addr_eq(&e->pp.addr, &la);
}

/* Merges the sorted connection list with the sorted list the peer was told. */
static void diff(const sh_peer *r, const sw_xpeer *xp, const pex_entry *cur, size_t ncur,
                 pex_diff *d)
{
    size_t i = 0, j = 0;
    while (i < ncur || j < xp->nadv) {
        int c = i == ncur ? 1 : j == xp->nadv ? -1 : sh_addr_cmp(&cur[i].pp.addr, &xp->adv[j]);
        if (c == 0) {
            d->adv[d->nadv++] = xp->adv[j];
            i++, j++;
        } else if (c < 0) { /* connected, not yet told */
            if (!is_recipient(r, &cur[i])) {
                if (d->nadded < SW_PEX_MAX_ADDED) {
                    d->added[d->nadded++] = cur[i].pp;
                    d->adv[d->nadv++] = cur[i].pp.addr;
                } else {
                    d->more = true;
                }
            }
            i++;
        } else { /* told, no longer connected */
            if (d->ndropped < SW_PEX_MAX_DROPPED)
                d->dropped[d->ndropped++] = xp->adv[j];
            else
                d->adv[d->nadv++] = xp->adv[j], d->more = true;
            j++;
        }
    }
}

static void send_diff(sh_swarm *s, sh_peer *r, sw_xpeer *xp, const pex_entry *cur, size_t ncur,
                      sh_time now)
{
    uint8_t id = r->ext_hs.ut_pex;
    if (id == 0) { /* switched off by a later handshake */
        xp->pex_due = 0;
        return;
    }
    size_t cap = ncur + xp->nadv + 1; /* the merge never yields more */
    pex_diff *d = calloc(1, sizeof *d);
    sh_addr *adv = malloc(cap * sizeof *adv);
    if (!d || !adv) {
        free(d);
        free(adv);
        return; /* try again at the next change */
    }
    d->adv = adv;
    diff(r, xp, cur, ncur, d);
    if (d->nadded + d->ndropped > 0) {
        sh_bbuf b;
        sh_bbuf_init(&b);
        sh_pex_encode(&b, d->added, d->nadded, d->dropped, d->ndropped);
        sw_ext_send(s, r, id, &b, now);
        sh_bbuf_free(&b);
        sw_debug(s, "conn %llu: pex: sent %u added, %u dropped", (unsigned long long)r->id,
                 d->nadded, d->ndropped);
        free(xp->adv);
        xp->adv = adv;
        xp->nadv = d->nadv;
        xp->capadv = (uint32_t)cap;
        xp->pex_due = now + SW_PEX_INTERVAL;
        adv = NULL;
    }
    xp->pex_gen_seen = d->more ? GEN_UNSEEN : s->x->pex_gen;
    free(adv);
    free(d);
}

void sw_pex_timer(sh_swarm *s, sh_time now)
{
    sw_x *x = s->x;
    if (x->pex_next > now) {
        sw_arm(s, x->pex_next);
        return;
    }
    size_t ncur = 0;
    pex_entry *cur = collect(s, &ncur);
    for (size_t i = 0; cur && i < x->nxp; i++) {
        sw_xpeer *xp = &x->xp[i];
        if (!waiting(x, xp) || xp->pex_due > now) continue;
        sh_peer *r = sw_find(s, xp->conn);
        if (!r) continue;
        send_diff(s, r, xp, cur, ncur, now);
    }
    if (!cur) { /* out of memory: look again in a while rather than spin */
        for (size_t i = 0; i < x->nxp; i++)
            if (waiting(x, &x->xp[i]) && x->xp[i].pex_due <= now)
                x->xp[i].pex_due = now + SW_PEX_INTERVAL;
    }
    free(cur);
    recompute_next(s);
}

/* ---- receiving ---- */

/* True if a is the listen address of a connection we have. */
static bool connected_to(const sh_swarm *s, const sh_addr *a)
{
    for (size_t i = 0; i < s->npeers; i++) {
        sh_addr la;
        if (sw_pex_listen_addr(s->peers[i], &la) && sh_addr_eq(&la, a)) return true;
    }
    return false;
}

static uint32_t take_added(sh_swarm *s, sw_xpeer *xp, const sh_pex_msg *m)
{
    uint32_t fresh = 0;
    for (uint32_t i = 0; i < m->nadded; i++) {
        const sh_pex_peer *pp = &m->added[i];
        if (connected_to(s, &pp->addr)) continue;
        if (xp->pex_win_cands >= SW_PEX_IN_CANDS) break;
        if (sw_cand_add(s, &pp->addr, SH_SRC_PEX) == 0) {
            xp->pex_win_cands++;
            fresh++;
        }
        if (pp->flags & SH_PEX_SEED) {
            sw_cand *c = sw_cand_find(s, &pp->addr);
            if (c) c->seed = true;
        }
    }
    return fresh;
}

int sw_pex_on_message(sh_swarm *s, sh_peer *p, sw_xpeer *xp, const sh_msg *m, sh_time now)
{
    if (xp->pex_win_msgs == 0 || now - xp->pex_win >= SW_PEX_IN_WINDOW) {
        xp->pex_win = now;
        xp->pex_win_msgs = xp->pex_win_cands = 0;
    }
    if (++xp->pex_win_msgs > SW_PEX_IN_MSGS) {
        sw_debug(s, "conn %llu: pex: more than %u messages in %u s: ignored",
                 (unsigned long long)p->id, SW_PEX_IN_MSGS,
                 (unsigned)(SW_PEX_IN_WINDOW / SH_SEC(1)));
        return 0;
    }
    if (!s->x->pex_in && !(s->x->pex_in = malloc(sizeof *s->x->pex_in))) return 0;
    sh_errinfo ei = {{0}, 0};
    int rc = sh_pex_parse(m->data.ptr, m->data.len, s->x->pex_in, &ei);
    if (rc == SH_ENOMEM) return 0;
    if (rc < 0) {
        sw_close(s, p, SH_EPROTO, true, now, ei.msg[0] ? ei.msg : "malformed ut_pex message");
        return SH_EPROTO;
    }
    const sh_pex_msg *pm = s->x->pex_in;
    uint32_t fresh = take_added(s, xp, pm);
    sw_debug(s, "conn %llu: pex: %u added (%u new), %u dropped, %u junk", (unsigned long long)p->id,
             pm->nadded, fresh, pm->ndropped, pm->junk);
    return 0;
}
