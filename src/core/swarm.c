/*
 * swarm.c — the swarm's entry points: creation, the action queue, the
 * connection table, input dispatch, output pulling, observation.
 *
 * Every entry point ends in finish(), which runs the work that events only
 * flag (a choker FILL pass, dialing, refilling requests) and frees the
 * connections closed meanwhile. Closing inside a handler only marks the
 * peer dead, so no pointer held by a caller up the stack ever dangles.
 */
#include "swarm_int.h"

#include <stdlib.h>
#include <string.h>

static uint32_t clamp_block(uint32_t b)
{
    if (b <= SH_WIRE_BLOCK) return SH_WIRE_BLOCK;
    if (b > SW_MAX_BLOCK) b = SW_MAX_BLOCK; /* the piece message limit follows (negotiate_block) */
    return b - b % SH_WIRE_BLOCK;                         /* whole blocks: requests are runs */
}

/*
 * Upload slots for a link of known rate: each unchoked peer should get a
 * piece in about SW_SLOT_S. Sixteen slots on a 16 KiB/s link give each
 * peer 1 KiB/s: a 32 KiB piece then needs half a minute to cross one hop,
 * requests wait longer than the snub timeout, and pieces spread slowly
 * (shoal-sim, 100 hosts, 1 MiB at 16 KiB/s in 32 KiB pieces, p50: 16 slots
 * 3.28 T*, 8 2.38, 4 2.06, 2 2.42; 8 MiB at 64 KiB/s in 16 KiB pieces:
 * 2, 4 and 8 s per piece within noise). An unknown rate (a data-center
 * link without --upload-limit) keeps 16.
 */
static uint32_t link_slots(const sh_swarm *s)
{
    if (s->link_rate == 0) return 16;
    double k = (double)s->link_rate * SW_SLOT_S / (double)s->mi->piece_length;
    if (k >= 16) return 16;
    return k < SW_SLOTS_MIN ? SW_SLOTS_MIN : (uint32_t)k;
}

/*
 * Block bytes moved into a peer's output queue at once: what is there goes
 * out even if the peer cancels it (an endgame duplicate arriving
 * elsewhere). 256 KiB is 16 s of a 16 KiB/s link; with a known rate it is
 * SW_SERVE_AHEAD_S of it (still at least one request: the loop in sw_serve
 * moves one before it checks). shoal-sim, 100 hosts, 8 MiB at 256 KiB/s,
 * mean of 3 seeds: the last host's wasted bytes up to 0.18 F -> 0.07 F,
 * max 1.66 -> 1.47 T*.
 */
static uint64_t link_serve_ahead(const sh_swarm *s)
{
    double a = (double)s->link_rate * SW_SERVE_AHEAD_S;
    return s->link_rate && a < SW_SERVE_AHEAD ? (uint64_t)a : SW_SERVE_AHEAD;
}

/*
 * How long an unchoked peer may leave its slot unused before the slot is
 * handed on (swarm_up.c): a quarter of the time a slot takes to deliver
 * one piece at our link rate (1 s at 16 KiB/s, 32 KiB pieces, 2 slots;
 * 4 ms at 1 GiB/s, 1 MiB pieces, 16 slots). Unknown rate: never.
 */
static sh_time link_slot_idle(const sh_swarm *s)
{
    if (!s->link_rate) return 0;
    double t = (double)s->mi->piece_length * s->upload_slots / (double)s->link_rate * SW_SLOT_IDLE;
    return t < 1e-3 ? SH_MS(1) : (sh_time)(t * 1e9);
}

static void apply_defaults(sh_swarm *s, const sh_swarm_config *cfg)
{
    s->mi = cfg->mi;
    s->log = cfg->log;
    memcpy(s->peer_id, cfg->peer_id, 20);
    s->listen_port = cfg->listen_port;
    const char *name = cfg->client_name ? cfg->client_name : "shoal";
    size_t n = strnlen(name, sizeof s->client_name - 1);
    memcpy(s->client_name, name, n); /* calloc'd: stays NUL-terminated */
    s->max_conns = cfg->max_conns ? cfg->max_conns : 50;
    s->max_half_open = cfg->max_half_open ? cfg->max_half_open : 8;
    s->link_rate = cfg->link_rate;
    s->upload_slots = cfg->upload_slots ? cfg->upload_slots : link_slots(s);
    s->serve_ahead = link_serve_ahead(s);
    s->slot_idle = link_slot_idle(s);
    s->max_block = clamp_block(cfg->max_block);
    s->rsv = SH_RSV_EXTENSION | SH_RSV_FAST;
    if (s->mi->version == SH_META_HYBRID) s->rsv |= SH_RSV_V2;
    /* The decoder starts at 16 KiB blocks; a bitfield may be large. */
    size_t bf = sh_bitfield_bytes(s->mi->num_pieces) + 64;
    s->lim.max_block = SH_WIRE_BLOCK;
    s->lim.max_msg = bf > SH_WIRE_MAX_MSG ? (uint32_t)bf : SH_WIRE_MAX_MSG;
    sh_rng_seed(&s->rng, cfg->rng_seed);
    s->next_id = 1;
    s->deadline = SH_TIME_NEVER;
}

/* Simulator mode: decoders expect piece messages without their block bytes,
 * and assembly keeps no buffers (nothing is copied; VERIFY carries NULL). */
static void apply_virtual(sh_swarm *s, const sh_swarm_config *cfg)
{
    s->lim.virtual_payload = cfg->virtual_payload;
    s->pieces.no_buffers = cfg->virtual_payload;
}

/*
 * Pieces in progress: 64 MiB of them, but up to 64 pieces within 256 MiB.
 * A fleet peer downloads from a dozen uploaders at once, each answering
 * requests for its own pieces; with fewer pieces in progress than that its
 * downlink waits for slots (shoal-sim, 50 hosts, 1280 x 4 MiB: 16 pieces
 * 1.96 T*, 32 1.50 T*, 64 1.36 T*, 128 1.36 T*).
 */
static uint32_t default_partial(uint32_t plen)
{
    uint64_t by_mem = (64ull << 20) / plen, by_count = (256ull << 20) / plen;
    if (by_count > 64) by_count = 64;
    uint64_t n = by_mem > by_count ? by_mem : by_count;
    return n > 8 ? (uint32_t)n : 8;
}

static int make_picker(sh_swarm *s, const sh_swarm_config *cfg)
{
    const sh_metainfo *mi = s->mi;
    uint32_t plen = (uint32_t)mi->piece_length;
    uint32_t max_partial = cfg->max_partial;
    if (!max_partial) max_partial = default_partial(plen);
    sh_picker_config pc = {
        .num_pieces = mi->num_pieces,
        .piece_length = plen,
        .last_piece_length = sh_metainfo_piece_size(mi, mi->num_pieces - 1),
        .random_first = 4,
        .max_partial = max_partial,
        .seed = sh_rng_next(&s->rng),
    };
    int rc = sh_picker_new(&pc, &s->picker);
    if (rc < 0) return rc;
    s->left = mi->total_size;
    for (uint32_t i = 0; cfg->have && i < mi->num_pieces; i++) {
        if (!sh_bitfield_get(cfg->have, i)) continue;
        sh_picker_set_have(s->picker, i);
        s->left -= sh_metainfo_piece_size(mi, i);
    }
    return 0;
}

int sh_swarm_new(const sh_swarm_config *cfg, sh_time now, sh_swarm **out)
{
    if (!cfg || !cfg->mi || !out) return SH_EINVAL;
    const sh_metainfo *mi = cfg->mi;
    if (mi->num_pieces == 0 || mi->piece_length == 0 || mi->piece_length > UINT32_MAX)
        return SH_EINVAL;
    if (cfg->have && cfg->have->nbits != mi->num_pieces) return SH_EINVAL;
    sh_swarm *s = calloc(1, sizeof *s);
    if (!s) return SH_ENOMEM;
    apply_defaults(s, cfg);
    sh_asm_init(&s->pieces);
    apply_virtual(s, cfg);
    sh_choker_init(&s->choker);
    sh_bbuf_init(&s->sink);
    int rc = make_picker(s, cfg);
    if (rc == 0) rc = sw_ext_new(s, cfg);
    if (rc == 0) sw_super_init(s, cfg);
    if (rc < 0) {
        sh_swarm_free(s);
        return rc;
    }
    s->now = now;
    s->choke_next = now + SH_CHOKER_INTERVAL;
    sw_arm(s, s->choke_next);
    *out = s;
    return 0;
}

void sh_swarm_free(sh_swarm *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->npeers; i++)
        sh_peer_free(s->peers[i]);
    free(s->peers);
    free(s->ids);
    free(s->acts);
    sh_asm_free(&s->pieces);
    sh_picker_free(s->picker);
    sh_bbuf_free(&s->sink);
    sw_conn_free(s);
    sw_hash_free(s);
    sw_ext_free(s);
    sw_super_free(s);
    free(s);
}

/* ---- actions ---- */

void sw_push(sh_swarm *s, const sh_action *a)
{
    if (s->act_head > 0 && s->act_head == s->act_len) s->act_head = s->act_len = 0;
    if (s->act_len == s->act_cap) {
        if (s->act_head > 0) {
            memmove(s->acts, s->acts + s->act_head, (s->act_len - s->act_head) * sizeof *s->acts);
            s->act_len -= s->act_head;
            s->act_head = 0;
        } else {
            size_t ncap = s->act_cap ? s->act_cap * 2 : 32;
            sh_action *n = realloc(s->acts, ncap * sizeof *n);
            if (!n) {
                s->act_err = SH_ENOMEM;
                return;
            }
            s->acts = n;
            s->act_cap = ncap;
        }
    }
    s->acts[s->act_len++] = *a;
}

bool sh_swarm_next_action(sh_swarm *s, sh_action *a)
{
    if (s->act_head == s->act_len) return false;
    *a = s->acts[s->act_head++];
    if (s->act_head == s->act_len) s->act_head = s->act_len = 0;
    return true;
}

void sw_arm(sh_swarm *s, sh_time t)
{
    if (t < s->deadline) s->deadline = t;
}

sh_time sh_swarm_next_deadline(const sh_swarm *s)
{
    return s->deadline;
}

/* ---- the connection table ---- */

sh_peer *sw_find(const sh_swarm *s, sh_conn_id c)
{
    size_t lo = 0, hi = s->npeers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ids[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->npeers && s->ids[lo] == c && !s->peers[lo]->dead) return s->peers[lo];
    return NULL;
}

int sw_add_peer_obj(sh_swarm *s, const sh_addr *addr, bool outgoing, sh_time now, sh_peer **out)
{
    if (s->npeers == s->cappeers) {
        size_t ncap = s->cappeers ? s->cappeers * 2 : 16;
        sh_peer **n = realloc(s->peers, ncap * sizeof *n);
        if (!n) return SH_ENOMEM;
        s->peers = n;
        sh_conn_id *ids = realloc(s->ids, ncap * sizeof *ids);
        if (!ids) return SH_ENOMEM; /* peers grew alone: harmless, cappeers still fits both */
        s->ids = ids;
        s->cappeers = ncap;
    }
    sh_peer *p;
    int rc = sh_peer_new(s->next_id, addr, outgoing, s->mi->num_pieces, &s->lim, now, &p);
    if (rc < 0) return rc;
    s->next_id++;
    p->hs_deadline = now + SW_HS_TIMEOUT;
    sw_arm(s, p->hs_deadline);
    s->ids[s->npeers] = p->id;
    s->peers[s->npeers++] = p; /* ids only grow: the array stays sorted */
    *out = p;
    return 0;
}

void sw_close(sh_swarm *s, sh_peer *p, int reason, bool tell_driver, sh_time now, const char *why)
{
    if (p->dead) return;
    char a[SH_ADDR_STRLEN];
    sh_log_level lvl =
        p->state == SH_PEER_ACTIVE && reason != SH_EPROTO ? SH_LOG_INFO : SH_LOG_DEBUG;
    sh_log(&s->log, lvl, SW_LOG, "conn %llu (%s): closing: %s (%s)", (unsigned long long)p->id,
           sh_addr_format(&p->addr, a, sizeof a), why, sh_errname(reason));
    if (p->state == SH_PEER_ACTIVE) {
        sw_give_up_requests(s, p, false, now);
        if (p->seed)
            sh_picker_dec_seed(s->picker);
        else if (p->have.count)
            sh_picker_dec_bits(s->picker, &p->have);
        if (p->peer_interested && !p->am_choking) s->choke_fill = true;
        sw_ext_closed(s, p, now);
        sw_super_release(s, p);
        if (p->origin) s->norigins--;
        p->origin = false;
    }
    p->dead = true;
    s->ndead++;
    if (tell_driver)
        sw_push(s, &(sh_action){.type = SH_ACT_CLOSE, .conn = p->id, .reason = reason});
    sw_cand_closed(s, p, now);
    s->dial_due = true;
}

/* Only when something died: a pass over every peer on every entry point costs a
 * cache miss per peer, which is most of the work of a read that carried a HAVE. */
static void sweep(sh_swarm *s)
{
    if (s->ndead == 0) return;
    s->ndead = 0;
    size_t w = 0;
    for (size_t r = 0; r < s->npeers; r++) {
        if (s->peers[r]->dead) {
            sh_peer_free(s->peers[r]);
        } else {
            s->ids[w] = s->ids[r];
            s->peers[w++] = s->peers[r];
        }
    }
    s->npeers = w;
}

/* Deferred work flagged by handlers, then the sweep. */
static void finish(sh_swarm *s, sh_time now)
{
    s->now = now;
    if (s->refill) { /* snubbed peers last: freed blocks should go elsewhere first */
        s->refill = false;
        for (size_t i = 0; i < s->npeers; i++)
            if (!s->peers[i]->snubbed) sw_fill_requests(s, s->peers[i], now);
        for (size_t i = 0; i < s->npeers; i++)
            if (s->peers[i]->snubbed) sw_fill_requests(s, s->peers[i], now);
    }
    if (s->super_pump) {
        s->super_pump = false;
        sw_super_pump(s, now);
    }
    if (s->choke_fill) {
        s->choke_fill = false;
        sw_run_choker(s, SH_CHOKE_FILL, now);
    }
    if (s->dial_due) {
        s->dial_due = false;
        sw_dial(s, now);
    }
    sweep(s);
}

/* ---- output ---- */

void sw_wrote(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->dead) return;
    if (p->out.err) {
        sw_close(s, p, SH_ENOMEM, true, now, "out of memory for output");
        return;
    }
    p->last_send = now;
    if (!p->send_armed && !sh_outq_empty(&p->out)) {
        p->send_armed = true;
        sw_push(s, &(sh_action){.type = SH_ACT_SEND, .conn = p->id});
    }
}

sh_bbuf *sw_out(sh_swarm *s, sh_peer *p, size_t *mark)
{
    sh_bbuf *b = sh_outq_tail(&p->out, mark);
    if (b) return b;
    s->sink.len = 0; /* encode into the void; sw_out_done closes the peer */
    *mark = SIZE_MAX;
    return &s->sink;
}

void sw_out_done(sh_swarm *s, sh_peer *p, size_t mark, sh_time now)
{
    if (mark != SIZE_MAX)
        sh_outq_commit(&p->out, mark);
    else
        p->out.err = SH_ENOMEM;
    sw_wrote(s, p, now);
}

void sw_send_simple(sh_swarm *s, sh_peer *p, sh_msg_id id, sh_time now)
{
    size_t mark;
    sh_wire_put_simple(sw_out(s, p, &mark), id);
    sw_out_done(s, p, mark, now);
}

void sw_send_req(sh_swarm *s, sh_peer *p, sh_msg_id id, uint32_t piece, uint32_t off, uint32_t len,
                 sh_time now)
{
    size_t mark;
    sh_wire_put_request(sw_out(s, p, &mark), id, piece, off, len);
    sw_out_done(s, p, mark, now);
}

size_t sh_swarm_out(sh_swarm *s, sh_conn_id c, sh_seg *segs, size_t max)
{
    sh_peer *p = sw_find(s, c);
    if (!p) return 0;
    size_t n = sh_outq_peek(&p->out, segs, max);
    if (n == 0) p->send_armed = false;
    return n;
}

void sh_swarm_sent(sh_swarm *s, sh_conn_id c, size_t n, sh_time now)
{
    sh_peer *p = sw_find(s, c);
    if (!p) return;
    uint64_t payload = sh_outq_consume(&p->out, n);
    if (payload) {
        p->up += payload;
        s->payload_up += payload;
        sh_rate_add(&p->up_rate, payload, now);
    }
    sw_serve(s, p, now);
    if (sh_outq_empty(&p->out)) p->send_armed = false;
    finish(s, now);
}

/* ---- input ---- */

static int recv_loop(sh_swarm *s, sh_peer *p, const uint8_t *data, size_t len, sh_time now)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        bool is_hs = false;
        sh_handshake hs;
        sh_msg m;
        sh_errinfo ei = {{0}, 0};
        int r = sh_wire_decode(p->dec, data + off, len - off, &used, &is_hs, &hs, &m, &ei);
        off += used;
        if (r < 0) {
            int reason = r == SH_ENOMEM ? SH_ENOMEM : SH_EPROTO;
            sw_close(s, p, reason, true, now, ei.msg[0] ? ei.msg : "malformed message");
            return reason;
        }
        if (r == 0) return 0;
        int rc = is_hs ? sw_on_handshake(s, p, &hs, now) : sw_on_message(s, p, &m, now);
        if (rc < 0 || p->dead) return rc < 0 ? rc : SH_ECLOSED;
    }
}

int sh_swarm_recv(sh_swarm *s, sh_conn_id c, const uint8_t *data, size_t len, sh_time now)
{
    sh_peer *p = sw_find(s, c);
    if (!p || p->state == SH_PEER_CONNECTING) return SH_ECLOSED;
    p->last_recv = now;
    int rc = recv_loop(s, p, data, len, now);
    if (!p->dead && p->state == SH_PEER_ACTIVE) {
        sw_fill_requests(s, p, now);
        sw_serve(s, p, now);
    }
    finish(s, now);
    return rc;
}

void sh_swarm_add_peer(sh_swarm *s, const sh_addr *a, sh_peer_source src, sh_time now)
{
    sw_cand_add(s, a, src);
    finish(s, now);
}

sh_conn_id sh_swarm_accept(sh_swarm *s, const sh_addr *remote, sh_time now)
{
    uint32_t connecting, half_open;
    uint32_t est = sw_count(s, &connecting, &half_open);
    if (sw_banned(s, remote) || est + connecting >= s->max_conns) {
        sw_debug(s, "refused an incoming connection (%s)",
                 sw_banned(s, remote) ? "banned" : "full");
        return 0;
    }
    sh_peer *p;
    if (sw_add_peer_obj(s, remote, false, now, &p) < 0) return 0;
    sw_debug(s, "conn %llu: incoming", (unsigned long long)p->id);
    return p->id;
}

void sh_swarm_connected(sh_swarm *s, sh_conn_id c, sh_time now)
{
    sh_peer *p = sw_find(s, c);
    if (!p || p->state != SH_PEER_CONNECTING) return;
    sw_connected(s, p, now);
    s->dial_due = true; /* a half-open slot is free */
    finish(s, now);
}

void sh_swarm_closed(sh_swarm *s, sh_conn_id c, int reason, sh_time now)
{
    sh_peer *p = sw_find(s, c);
    if (p) sw_close(s, p, reason, false, now, "closed by the driver");
    finish(s, now);
}

void sh_swarm_verified(sh_swarm *s, uint32_t piece, bool ok, sh_time now)
{
    sw_verified(s, piece, ok, now);
    sw_ext_after_verify(s, now);
    finish(s, now);
}

void sh_swarm_on_timer(sh_swarm *s, sh_time now)
{
    sw_timer(s, now);
    finish(s, now);
}

/* ---- observation ---- */

bool sw_complete(const sh_swarm *s)
{
    return sh_picker_complete(s->picker);
}

void sh_swarm_get_stats(const sh_swarm *s, sh_swarm_stats *st)
{
    memset(st, 0, sizeof *st);
    st->payload_down = s->payload_down;
    st->payload_up = s->payload_up;
    st->wasted = s->wasted;
    st->left = s->left;
    st->pieces_have = sh_picker_num_have(s->picker);
    st->num_pieces = s->mi->num_pieces;
    uint32_t half_open;
    st->peers = sw_count(s, &st->connecting, &half_open);
    st->peers_peak = s->peers_peak > st->peers ? s->peers_peak : st->peers;
    st->known = (uint32_t)s->ncands;
    st->banned = s->banned;
    st->hash_failures = s->hash_failures;
    st->complete = sw_complete(s);
}

const sh_bitfield *sh_swarm_have(const sh_swarm *s)
{
    return sh_picker_have_bits(s->picker);
}

static void peer_info(const sh_peer *p, sh_time now, sh_peer_info *o)
{
    memset(o, 0, sizeof *o);
    o->conn = p->id;
    o->addr = p->addr;
    memcpy(o->client, p->ext_hs.client, sizeof o->client);
    o->client[sizeof o->client - 1] = 0;
    o->outgoing = p->outgoing;
    o->am_choking = p->am_choking;
    o->am_interested = p->am_interested;
    o->peer_choking = p->peer_choking;
    o->peer_interested = p->peer_interested;
    o->seed = p->seed;
    o->pieces = p->have.count;
    o->queue = p->nreqs;
    o->down = p->down;
    o->up = p->up;
    o->down_rate = sh_rate_get(&p->down_rate, now);
    o->up_rate = sh_rate_get(&p->up_rate, now);
}

size_t sh_swarm_peers(const sh_swarm *s, sh_peer_info *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->npeers && n < max; i++) {
        const sh_peer *p = s->peers[i];
        if (p->dead || p->state != SH_PEER_ACTIVE) continue;
        peer_info(p, s->now, &out[n++]);
    }
    return n;
}
