/*
 * metafetch.c — the metadata fetcher's entry points (metafetch.h): the
 * action queue, the connection table, output pulling, candidates and
 * dialing, the per-IP strike record, timers and results.
 *
 * Dialing follows the swarm's rules: candidates deduplicated by address,
 * dialed round-robin while connections stay under max_conns and connects
 * in flight under max_half_open, a closed candidate resting for the shared
 * back-off of dial.h (a connection that delivered metadata counts as
 * useful). As in the swarm, every entry point ends in finish(), which runs
 * deferred work and frees connections closed meanwhile, so no handler ever
 * frees what a caller up the stack still holds.
 */
#include "metafetch_int.h"

#include "dial.h"

#include <stdlib.h>
#include <string.h>

int sh_metafetch_new(const sh_metafetch_config *cfg, sh_time now, sh_metafetch **out)
{
    if (!cfg || !out || (!cfg->has_v1 && !cfg->has_v2)) return SH_EINVAL;
    sh_metafetch *f = calloc(1, sizeof *f);
    if (!f) return SH_ENOMEM;
    f->cfg = *cfg;
    f->cfg.client_name = NULL;
    const char *name = cfg->client_name ? cfg->client_name : "shoal";
    memcpy(f->client_name, name, strnlen(name, sizeof f->client_name - 1));
    if (!f->cfg.max_conns) f->cfg.max_conns = 16;
    if (!f->cfg.max_half_open) f->cfg.max_half_open = 8;
    memcpy(f->wire_hash, cfg->has_v1 ? cfg->btih : cfg->btmh, 20);
    f->log = cfg->log;
    sh_rng_seed(&f->rng, cfg->rng_seed);
    f->lim = (sh_wire_limits){.max_block = SH_WIRE_BLOCK, .max_msg = MF_MAX_MSG};
    f->now = now;
    f->deadline = SH_TIME_NEVER;
    f->next_id = 1;
    f->state = SH_MF_RUNNING;
    *out = f;
    return 0;
}

static void conn_free(mf_conn *c)
{
    if (!c) return;
    sh_wire_dec_free(c->dec);
    sh_outq_free(&c->out);
    free(c);
}

void sh_metafetch_free(sh_metafetch *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->nconns; i++)
        conn_free(f->conns[i]);
    free(f->conns);
    free(f->acts);
    free(f->cands);
    free(f->ips);
    mf_asm_free(&f->a);
    free(f->info);
    free(f->pex_in);
    free(f);
}

/* ---- actions ---- */

void mf_push(sh_metafetch *f, const sh_action *a)
{
    if (f->act_head > 0 && f->act_head == f->act_len) f->act_head = f->act_len = 0;
    if (f->act_len == f->act_cap) {
        size_t ncap = f->act_cap ? f->act_cap * 2 : 32;
        sh_action *n = realloc(f->acts, ncap * sizeof *n);
        if (!n) return; /* a lost SEND is retried by the next output; a lost CLOSE by timeouts */
        f->acts = n;
        f->act_cap = ncap;
    }
    f->acts[f->act_len++] = *a;
}

bool sh_metafetch_next_action(sh_metafetch *f, sh_action *a)
{
    if (f->act_head == f->act_len) return false;
    *a = f->acts[f->act_head++];
    if (f->act_head == f->act_len) f->act_head = f->act_len = 0;
    return true;
}

void mf_arm(sh_metafetch *f, sh_time t)
{
    if (t < f->deadline) f->deadline = t;
}

sh_time sh_metafetch_next_deadline(const sh_metafetch *f)
{
    return f->deadline;
}

/* ---- connections ---- */

mf_conn *mf_find(const sh_metafetch *f, sh_conn_id c)
{
    size_t lo = 0, hi = f->nconns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->conns[mid]->id < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < f->nconns && f->conns[lo]->id == c && !f->conns[lo]->dead) return f->conns[lo];
    return NULL;
}

static mf_conn *conn_new(sh_metafetch *f, const sh_addr *a, bool outgoing)
{
    if (f->nconns == f->capconns) {
        size_t ncap = f->capconns ? f->capconns * 2 : 16;
        mf_conn **n = realloc(f->conns, ncap * sizeof *n);
        if (!n) return NULL;
        f->conns = n;
        f->capconns = ncap;
    }
    mf_conn *c = calloc(1, sizeof *c);
    if (!c || sh_wire_dec_new(&f->lim, &c->dec) < 0) {
        free(c);
        return NULL;
    }
    c->id = f->next_id++;
    c->addr = *a;
    c->outgoing = outgoing;
    c->state = outgoing ? MF_CONNECTING : MF_HANDSHAKE;
    c->size = -1;
    c->hs_deadline = f->now + MF_HS_TIMEOUT;
    c->last_recv = c->last_send = f->now;
    sh_outq_init(&c->out);
    mf_arm(f, c->hs_deadline);
    f->conns[f->nconns++] = c; /* ids only grow: stays sorted */
    return c;
}

static void cand_closed(sh_metafetch *f, mf_conn *c)
{
    mf_cand *k = mf_cand_of_conn(f, c->id);
    if (!k) return;
    k->state = MF_CAND_IDLE;
    k->conn = 0;
    k->fails = sh_dial_next_fails(k->fails, c->delivered > 0);
    k->retry_at = f->now + sh_dial_backoff(k->fails);
    mf_arm(f, k->retry_at);
}

void mf_close(sh_metafetch *f, mf_conn *c, int reason, bool tell_driver, const char *why)
{
    if (c->dead) return;
    char a[SH_ADDR_STRLEN];
    sh_log(&f->log, c->state == MF_ACTIVE ? SH_LOG_INFO : SH_LOG_DEBUG, MF_LOG,
           "conn %llu (%s): closing: %s (%s)", (unsigned long long)c->id,
           sh_addr_format(&c->addr, a, sizeof a), why, sh_errname(reason));
    mf_asm_conn_gone(f, c);
    c->dead = true;
    if (tell_driver)
        mf_push(f, &(sh_action){.type = SH_ACT_CLOSE, .conn = c->id, .reason = reason});
    cand_closed(f, c);
    f->dial_due = f->assign_due = true;
}

sh_bbuf *mf_out(mf_conn *c, size_t *mark)
{
    return sh_outq_tail(&c->out, mark);
}

void mf_out_done(sh_metafetch *f, mf_conn *c, size_t mark)
{
    if (c->out.err || mark == SIZE_MAX) {
        mf_close(f, c, SH_ENOMEM, true, "out of memory for output");
        return;
    }
    sh_outq_commit(&c->out, mark);
    c->last_send = f->now;
    if (!c->send_armed && !sh_outq_empty(&c->out)) {
        c->send_armed = true;
        mf_push(f, &(sh_action){.type = SH_ACT_SEND, .conn = c->id});
    }
}

size_t sh_metafetch_out(sh_metafetch *f, sh_conn_id c, sh_seg *segs, size_t max)
{
    mf_conn *x = mf_find(f, c);
    if (!x) return 0;
    size_t n = sh_outq_peek(&x->out, segs, max);
    if (n == 0) x->send_armed = false;
    return n;
}

/* ---- candidates and dialing ---- */

mf_cand *mf_cand_find(sh_metafetch *f, const sh_addr *a)
{
    for (size_t i = 0; i < f->ncands; i++)
        if (sh_addr_eq(&f->cands[i].addr, a)) return &f->cands[i];
    return NULL;
}

mf_cand *mf_cand_of_conn(sh_metafetch *f, sh_conn_id c)
{
    for (size_t i = 0; i < f->ncands; i++)
        if (f->cands[i].state != MF_CAND_IDLE && f->cands[i].conn == c) return &f->cands[i];
    return NULL;
}

int mf_cand_add(sh_metafetch *f, const sh_addr *a, sh_peer_source src)
{
    if (!a || (a->family != 4 && a->family != 6) || a->port == 0) return SH_EINVAL;
    if (mf_banned(f, a) || mf_cand_find(f, a)) return SH_EEXIST;
    if (f->ncands >= MF_MAX_CANDS) return SH_ELIMIT;
    if (f->ncands == f->capcands) {
        size_t ncap = f->capcands ? f->capcands * 2 : 16;
        mf_cand *n = realloc(f->cands, ncap * sizeof *n);
        if (!n) return SH_ENOMEM;
        f->cands = n;
        f->capcands = ncap;
    }
    f->cands[f->ncands++] = (mf_cand){.addr = *a, .src = src};
    f->dial_due = true;
    return 0;
}

static void count(const sh_metafetch *f, uint32_t *est, uint32_t *connecting, uint32_t *half_open)
{
    *est = *connecting = *half_open = 0;
    for (size_t i = 0; i < f->nconns; i++) {
        const mf_conn *c = f->conns[i];
        if (c->dead) continue;
        if (c->state == MF_ACTIVE)
            (*est)++;
        else
            (*connecting)++;
        if (c->state == MF_CONNECTING) (*half_open)++;
    }
}

static bool dialable(const sh_metafetch *f, const mf_cand *k)
{
    return k->state == MF_CAND_IDLE && !k->self && k->retry_at <= f->now && !mf_banned(f, &k->addr);
}

static void dial(sh_metafetch *f)
{
    if (f->state != SH_MF_RUNNING) return;
    uint32_t est, connecting, half_open;
    count(f, &est, &connecting, &half_open);
    while (half_open < f->cfg.max_half_open && est + connecting < f->cfg.max_conns) {
        size_t i = 0;
        for (; i < f->ncands; i++)
            if (dialable(f, &f->cands[(f->dial_cursor + i) % f->ncands])) break;
        if (i == f->ncands) return;
        mf_cand *k = &f->cands[(f->dial_cursor + i) % f->ncands];
        f->dial_cursor = (f->dial_cursor + i + 1) % f->ncands;
        mf_conn *c = conn_new(f, &k->addr, true);
        if (!c) return;
        k->state = MF_CAND_CONNECTING;
        k->conn = c->id;
        mf_push(f, &(sh_action){.type = SH_ACT_CONNECT, .conn = c->id, .addr = k->addr});
        half_open++, connecting++;
    }
}

static sh_time dial_deadline(const sh_metafetch *f)
{
    sh_time t = SH_TIME_NEVER;
    for (size_t i = 0; i < f->ncands; i++) {
        const mf_cand *k = &f->cands[i];
        if (k->state == MF_CAND_IDLE && !k->self && k->retry_at > f->now && k->retry_at < t)
            t = k->retry_at;
    }
    return t;
}

/* ---- strikes and bans, per IP ---- */

static mf_ip *ip_find(const sh_metafetch *f, const sh_addr *a)
{
    for (size_t i = 0; i < f->nips; i++)
        if (sh_addr_ip_eq(&f->ips[i].ip, a)) return &f->ips[i];
    return NULL;
}

bool mf_banned(const sh_metafetch *f, const sh_addr *a)
{
    const mf_ip *e = ip_find(f, a);
    return e && e->banned;
}

void mf_strike(sh_metafetch *f, const sh_addr *a, bool at_once)
{
    mf_ip *e = ip_find(f, a);
    if (!e) {
        if (f->nips == f->capips) {
            size_t ncap = f->capips ? f->capips * 2 : 8;
            mf_ip *n = realloc(f->ips, ncap * sizeof *n);
            if (!n) return;
            f->ips = n;
            f->capips = ncap;
        }
        e = &f->ips[f->nips++];
        *e = (mf_ip){.ip = *a};
        e->ip.port = 0;
    }
    if (e->banned) return;
    e->strikes = at_once ? MF_BAN_STRIKES : e->strikes + 1;
    if (e->strikes < MF_BAN_STRIKES) return;
    e->banned = true;
    f->banned++;
    char s[SH_ADDR_STRLEN];
    mf_info(f, "banned %s: it served metadata that failed the hash check",
            sh_addr_format(&e->ip, s, sizeof s));
    for (size_t i = 0; i < f->nconns; i++)
        if (!f->conns[i]->dead && sh_addr_ip_eq(&f->conns[i]->addr, &e->ip))
            mf_close(f, f->conns[i], SH_EHASH, true, "banned: served bad metadata");
}

/* ---- timers ---- */

static void timer_pass(sh_metafetch *f, sh_time now)
{
    f->deadline = SH_TIME_NEVER;
    for (size_t i = 0; i < f->nconns; i++) {
        mf_conn *c = f->conns[i];
        if (c->dead) continue;
        mf_conn_timer(f, c, now);
        if (!c->dead && !mf_asm_check(f, c, now)) mf_arm(f, mf_conn_deadline(c));
    }
    f->dial_due = true;
}

/* Deferred work, then the sweep of closed connections. */
static void finish(sh_metafetch *f)
{
    if (f->assign_due) {
        f->assign_due = false;
        mf_assign(f);
    }
    if (f->dial_due) {
        f->dial_due = false;
        dial(f);
    }
    mf_arm(f, dial_deadline(f));
    size_t w = 0;
    for (size_t r = 0; r < f->nconns; r++) {
        if (f->conns[r]->dead)
            conn_free(f->conns[r]);
        else
            f->conns[w++] = f->conns[r];
    }
    f->nconns = w;
}

/* ---- entry points ---- */

void sh_metafetch_add_peer(sh_metafetch *f, const sh_addr *a, sh_peer_source src, sh_time now)
{
    f->now = now;
    mf_cand_add(f, a, src);
    finish(f);
}

sh_conn_id sh_metafetch_accept(sh_metafetch *f, const sh_addr *remote, sh_time now)
{
    f->now = now;
    uint32_t est, connecting, half_open;
    count(f, &est, &connecting, &half_open);
    if (f->state != SH_MF_RUNNING || mf_banned(f, remote) || est + connecting >= f->cfg.max_conns)
        return 0;
    mf_conn *c = conn_new(f, remote, false);
    return c ? c->id : 0;
}

void sh_metafetch_connected(sh_metafetch *f, sh_conn_id id, sh_time now)
{
    f->now = now;
    mf_conn *c = mf_find(f, id);
    if (c && c->state == MF_CONNECTING) mf_conn_connected(f, c);
    f->dial_due = true;
    finish(f);
}

int sh_metafetch_recv(sh_metafetch *f, sh_conn_id id, const uint8_t *data, size_t len, sh_time now)
{
    f->now = now;
    mf_conn *c = mf_find(f, id);
    if (!c || c->state == MF_CONNECTING) return SH_ECLOSED;
    c->last_recv = now;
    int rc = mf_conn_recv(f, c, data, len);
    finish(f);
    return rc;
}

void sh_metafetch_closed(sh_metafetch *f, sh_conn_id id, int reason, sh_time now)
{
    f->now = now;
    mf_conn *c = mf_find(f, id);
    if (c) mf_close(f, c, reason, false, "closed by the driver");
    finish(f);
}

void sh_metafetch_sent(sh_metafetch *f, sh_conn_id id, size_t n, sh_time now)
{
    f->now = now;
    mf_conn *c = mf_find(f, id);
    if (!c) return;
    sh_outq_consume(&c->out, n);
    if (sh_outq_empty(&c->out)) c->send_armed = false;
    finish(f);
}

void sh_metafetch_on_timer(sh_metafetch *f, sh_time now)
{
    f->now = now;
    timer_pass(f, now);
    finish(f);
}

/* ---- results ---- */

void sh_metafetch_get_stats(const sh_metafetch *f, sh_metafetch_stats *st)
{
    memset(st, 0, sizeof *st);
    st->state = f->state;
    st->known = (uint32_t)f->ncands;
    uint32_t half_open;
    count(f, &st->peers, &st->connecting, &half_open);
    for (size_t i = 0; i < f->nconns; i++)
        st->with_metadata += !f->conns[i]->dead && f->conns[i]->size > 0;
    st->banned = f->banned;
    st->size = f->a.size;
    st->pieces = f->a.npieces;
    st->pieces_have = f->a.nhave;
    st->error = f->error;
    memcpy(st->error_msg, f->error_msg, sizeof st->error_msg);
}

const uint8_t *sh_metafetch_peer_id(const sh_metafetch *f)
{
    return f->cfg.peer_id;
}

const uint8_t *sh_metafetch_info(const sh_metafetch *f, size_t *len)
{
    if (f->state != SH_MF_DONE) return NULL;
    if (len) *len = f->info_len;
    return f->info;
}

static bool listed(const sh_addr *out, size_t n, const sh_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (sh_addr_eq(&out[i], a)) return true;
    return false;
}

size_t sh_metafetch_peers(const sh_metafetch *f, sh_addr *out, size_t max)
{
    size_t n = 0;
    /* first: live connections that completed the handshake, by their listen address */
    for (size_t i = 0; i < f->nconns && n < max; i++) {
        sh_addr a;
        const mf_conn *c = f->conns[i];
        if (!c->dead && c->state == MF_ACTIVE && !mf_banned(f, &c->addr) && mf_listen_addr(c, &a) &&
            !listed(out, n, &a))
            out[n++] = a;
    }
    for (int pass = 0; pass < 2; pass++) /* then good candidates, then the rest */
        for (size_t i = 0; i < f->ncands && n < max; i++) {
            const mf_cand *k = &f->cands[i];
            if (k->good != (pass == 0) || k->self || mf_banned(f, &k->addr)) continue;
            if (!listed(out, n, &k->addr)) out[n++] = k->addr;
        }
    return n;
}
