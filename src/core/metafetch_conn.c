/*
 * metafetch_conn.c — one connection of the metadata fetcher: the
 * BitTorrent handshake (the wire hash; a hybrid link also answers to the
 * truncated v2 hash), our greeting — the extension handshake with
 * ut_metadata and ut_pex, then have_none when both sides speak the fast
 * extension (BEP 6 wants one of bitfield / have_all / have_none, and a
 * bitfield cannot be sized without the metadata, INTEROP.md §4.2) — and
 * the peer's messages: its extension handshake, ut_metadata answers, and
 * peer exchange (new candidates, bounded per minute). Everything else a
 * peer may send while we have no metadata (bitfield, have, choke, ...) is
 * validated by the wire codec and ignored.
 */
#include "metafetch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mf_listen_addr(const mf_conn *c, sh_addr *out)
{
    *out = c->addr;
    if (c->outgoing) return true;
    if (!c->got_ext_hs || !c->hs.has_port) return false;
    out->port = c->hs.port;
    return true;
}

static void send_handshake(sh_metafetch *f, mf_conn *c)
{
    size_t mark;
    sh_bbuf *b = mf_out(c, &mark);
    if (b) sh_wire_put_handshake(b, SH_RSV_EXTENSION | SH_RSV_FAST, f->wire_hash, f->cfg.peer_id);
    mf_out_done(f, c, b ? mark : SIZE_MAX);
}

void mf_conn_connected(sh_metafetch *f, mf_conn *c)
{
    c->state = MF_HANDSHAKE;
    c->hs_deadline = f->now + MF_HS_TIMEOUT;
    mf_arm(f, c->hs_deadline);
    send_handshake(f, c);
}

static void send_ext(sh_metafetch *f, mf_conn *c, uint8_t id, const sh_bbuf *pl)
{
    size_t mark = SIZE_MAX;
    sh_bbuf *b = pl->err ? NULL : mf_out(c, &mark);
    if (b) sh_wire_put_extended(b, id, pl->data, pl->len);
    mf_out_done(f, c, b ? mark : SIZE_MAX);
}

static void greet(sh_metafetch *f, mf_conn *c)
{
    sh_ext_hs h;
    memset(&h, 0, sizeof h);
    h.ut_metadata = SH_EXT_ID_METADATA;
    h.ut_pex = SH_EXT_ID_PEX;
    h.has_port = f->cfg.listen_port != 0;
    h.port = f->cfg.listen_port;
    memcpy(h.client, f->client_name, sizeof h.client);
    h.reqq = 250;
    h.metadata_size = -1;
    h.yourip = c->addr;
    h.yourip.port = 0;
    sh_bbuf pl;
    sh_bbuf_init(&pl);
    sh_ext_hs_encode(&pl, &h);
    send_ext(f, c, 0, &pl);
    sh_bbuf_free(&pl);
    if (c->dead || !c->fast) return;
    size_t mark;
    sh_bbuf *b = mf_out(c, &mark);
    if (b) sh_wire_put_simple(b, SH_MSG_HAVE_NONE);
    mf_out_done(f, c, b ? mark : SIZE_MAX);
}

static bool ours(const sh_metafetch *f, const uint8_t ih[20])
{
    if (memcmp(ih, f->wire_hash, 20) == 0) return true;
    return f->cfg.has_v1 && f->cfg.has_v2 && memcmp(ih, f->cfg.btmh, 20) == 0;
}

static bool duplicate(const sh_metafetch *f, const mf_conn *c)
{
    for (size_t i = 0; i < f->nconns; i++) {
        const mf_conn *o = f->conns[i];
        if (o != c && !o->dead && o->state == MF_ACTIVE && !memcmp(o->peer_id, c->peer_id, 20))
            return true;
    }
    return false;
}

static int on_handshake(sh_metafetch *f, mf_conn *c, const sh_handshake *hs)
{
    if (!ours(f, hs->info_hash)) {
        mf_close(f, c, SH_EPROTO, true, "handshake for another torrent");
        return SH_EPROTO;
    }
    memcpy(c->peer_id, hs->peer_id, 20);
    c->fast = hs->flags & SH_RSV_FAST;
    c->ext = hs->flags & SH_RSV_EXTENSION;
    if (!c->outgoing) send_handshake(f, c);
    if (memcmp(hs->peer_id, f->cfg.peer_id, 20) == 0) {
        mf_cand *k = mf_cand_of_conn(f, c->id);
        if (k) k->self = true;
        mf_close(f, c, SH_EEXIST, true, "connected to ourselves");
        return SH_EEXIST;
    }
    if (duplicate(f, c)) {
        mf_close(f, c, SH_EEXIST, true, "a second connection to the same peer");
        return SH_EEXIST;
    }
    if (!c->ext) {
        mf_close(f, c, SH_EUNSUPPORTED, true, "no extension protocol: cannot send metadata");
        return SH_EUNSUPPORTED;
    }
    c->state = MF_ACTIVE;
    c->last_recv = c->last_send = f->now;
    mf_cand *k = mf_cand_of_conn(f, c->id);
    if (k) {
        k->state = MF_CAND_CONNECTED;
        k->good = true;
    }
    mf_arm(f, f->now + MF_KEEPALIVE);
    greet(f, c);
    return 0;
}

/* ---- extended messages ---- */

/* An incoming peer that told its listen port is a candidate that worked. */
static void link_candidate(sh_metafetch *f, mf_conn *c)
{
    sh_addr a;
    if (c->outgoing || !mf_listen_addr(c, &a)) return;
    mf_cand_add(f, &a, SH_SRC_INCOMING);
    mf_cand *k = mf_cand_find(f, &a);
    if (!k) return;
    k->good = true;
    if (k->state == MF_CAND_IDLE) {
        k->state = MF_CAND_CONNECTED;
        k->conn = c->id;
    }
}

static int on_ext_handshake(sh_metafetch *f, mf_conn *c, const sh_msg *m)
{
    sh_ext_hs h;
    sh_errinfo ei = {{0}, 0};
    if (sh_ext_hs_parse(m->data.ptr, m->data.len, &h, &ei) < 0) {
        mf_close(f, c, SH_EPROTO, true, "extension handshake is not a dictionary");
        return SH_EPROTO;
    }
    bool first = !c->got_ext_hs;
    c->hs = h;
    c->got_ext_hs = true;
    if (!first) return 0; /* the size a peer claimed stays what it claimed first */
    if (h.ut_metadata == 0) {
        mf_close(f, c, SH_EUNSUPPORTED, true, "does not offer ut_metadata");
        return SH_EUNSUPPORTED;
    }
    if (h.metadata_size <= 0 || h.metadata_size > (int64_t)SH_MD_MAX_SIZE) {
        char why[96];
        snprintf(why, sizeof why, "metadata_size %lld out of bounds", (long long)h.metadata_size);
        mf_close(f, c, SH_EPROTO, true, why);
        return SH_EPROTO;
    }
    c->size = h.metadata_size;
    link_candidate(f, c);
    mf_debug(f, "conn %llu: v=\"%s\" offers %lld bytes of metadata", (unsigned long long)c->id,
             h.client, (long long)c->size);
    f->assign_due = true;
    return 0;
}

static int on_metadata(sh_metafetch *f, mf_conn *c, const sh_msg *m)
{
    sh_md_msg md;
    sh_errinfo ei = {{0}, 0};
    int rc = sh_md_parse(m->data.ptr, m->data.len, &md, &ei);
    if (rc < 0) {
        mf_close(f, c, rc == SH_ENOMEM ? SH_ENOMEM : SH_EPROTO, true,
                 ei.msg[0] ? ei.msg : "malformed ut_metadata message");
        return rc;
    }
    if (md.type == SH_MD_DATA) return mf_on_data(f, c, &md);
    if (md.type == SH_MD_REJECT) mf_on_reject(f, c, &md);
    return 0; /* a request: we have nothing to serve yet (our "m" offered it for later) */
}

static int on_pex(sh_metafetch *f, mf_conn *c, const sh_msg *m)
{
    if (!f->pex_in && !(f->pex_in = malloc(sizeof *f->pex_in))) return 0;
    if (sh_pex_parse(m->data.ptr, m->data.len, f->pex_in, NULL) < 0)
        return 0; /* not worth a fight */
    if (c->pex_cands == 0 || f->now - c->pex_win >= MF_PEX_WINDOW) {
        c->pex_win = f->now;
        c->pex_cands = 0;
    }
    for (uint32_t i = 0; i < f->pex_in->nadded && c->pex_cands < MF_PEX_CANDS; i++)
        if (mf_cand_add(f, &f->pex_in->added[i].addr, SH_SRC_PEX) == 0) c->pex_cands++;
    return 0;
}

static int on_message(sh_metafetch *f, mf_conn *c, const sh_msg *m)
{
    if (m->id != SH_MSG_EXTENDED) return 0;
    if (m->ext_id == 0) return on_ext_handshake(f, c, m);
    if (!c->got_ext_hs) return 0;
    if (m->ext_id == SH_EXT_ID_METADATA) return on_metadata(f, c, m);
    if (m->ext_id == SH_EXT_ID_PEX) return on_pex(f, c, m);
    return 0;
}

int mf_conn_recv(sh_metafetch *f, mf_conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (!c->dead) {
        size_t used = 0;
        bool is_hs = false;
        sh_handshake hs;
        sh_msg m;
        sh_errinfo ei = {{0}, 0};
        int r = sh_wire_decode(c->dec, data + off, len - off, &used, &is_hs, &hs, &m, &ei);
        off += used;
        if (r < 0) {
            mf_close(f, c, SH_EPROTO, true, ei.msg[0] ? ei.msg : "malformed message");
            return SH_EPROTO;
        }
        if (r == 0) return 0;
        int rc = is_hs ? on_handshake(f, c, &hs) : c->state == MF_ACTIVE ? on_message(f, c, &m) : 0;
        if (rc < 0) return rc;
    }
    return SH_ECLOSED;
}

/* ---- requests and time ---- */

void mf_send_request(sh_metafetch *f, mf_conn *c, uint32_t piece)
{
    sh_bbuf pl;
    sh_bbuf_init(&pl);
    sh_md_encode(&pl, SH_MD_REQUEST, piece, -1, NULL, 0);
    c->reqs[c->nreqs] = piece;
    c->req_at[c->nreqs] = f->now;
    c->req_gen[c->nreqs] = f->a.gen;
    c->nreqs++;
    mf_arm(f, f->now + MF_REQ_TIMEOUT);
    send_ext(f, c, c->hs.ut_metadata, &pl);
    sh_bbuf_free(&pl);
}

sh_time mf_conn_deadline(const mf_conn *c)
{
    if (c->state != MF_ACTIVE) return c->hs_deadline;
    sh_time t = c->last_send + MF_KEEPALIVE;
    if (c->last_recv + MF_IDLE_TIMEOUT < t) t = c->last_recv + MF_IDLE_TIMEOUT;
    for (uint32_t i = 0; i < c->nreqs; i++)
        if (c->req_at[i] + MF_REQ_TIMEOUT < t) t = c->req_at[i] + MF_REQ_TIMEOUT;
    return t;
}

void mf_conn_timer(sh_metafetch *f, mf_conn *c, sh_time now)
{
    if (c->state != MF_ACTIVE) {
        if (now >= c->hs_deadline) mf_close(f, c, SH_ETIMEOUT, true, "handshake timed out");
        return;
    }
    if (now - c->last_recv >= MF_IDLE_TIMEOUT) {
        mf_close(f, c, SH_ETIMEOUT, true, "nothing received for 120 s");
        return;
    }
    if (now - c->last_send >= MF_KEEPALIVE) {
        size_t mark;
        sh_bbuf *b = mf_out(c, &mark);
        if (b) sh_wire_put_simple(b, SH_MSG_KEEPALIVE);
        mf_out_done(f, c, b ? mark : SIZE_MAX);
    }
}
