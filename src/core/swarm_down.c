/*
 * swarm_down.c — what we ask each peer for, and what happens when blocks
 * arrive.
 *
 * Depth: a peer gets `depth` requests outstanding. It starts at
 * SW_DEPTH_MIN and grows by one per block received (slow start) until the
 * rate estimate is warm; then depth = rate × SW_QUEUE_SECONDS / request
 * length, clamped to [SW_DEPTH_MIN, min(peer's reqq or 250, 1000)]. A peer
 * that holds requests and delivers nothing for SW_SNUB_TIMEOUT is snubbed:
 * its requests are cancelled and handed to others, and it gets one request
 * at a time until it delivers again.
 *
 * Every piece message must answer a request we sent, or one we gave up on
 * recently (then it is used if still needed); anything else closes the
 * connection. In endgame (every block we lack is requested somewhere) a
 * peer holds at most SW_ENDGAME_DEPTH requests, so duplicates go only to
 * peers that are about to run dry, and a block that arrives is cancelled at
 * every other peer that has it outstanding.
 */
#include "swarm_int.h"

#include <string.h>

static uint32_t depth_cap(const sh_peer *p)
{
    uint32_t cap = p->ext_hs.reqq ? p->ext_hs.reqq : SW_DEPTH_CAP_DEFAULT;
    return cap > SW_DEPTH_MAX ? SW_DEPTH_MAX : cap;
}

static uint32_t peer_depth(sh_peer *p, sh_time now)
{
    (void)now;
    if (p->snubbed) return 1;
    uint32_t cap = depth_cap(p);
    if (p->depth < SW_DEPTH_MIN) p->depth = SW_DEPTH_MIN;
    return p->depth < cap ? p->depth : cap;
}

static sh_time queue_target(const sh_peer *p)
{
    return 2 * p->rtt_min + SW_QUEUE_SLACK;
}

/*
 * Depth follows the delay a request waits at the peer: a request answered
 * within twice the smallest delay seen plus SW_QUEUE_SLACK adds one to the
 * depth, a later one takes one away. The queue at the peer thus holds
 * about bandwidth x delay plus SW_QUEUE_SLACK of data: enough that its
 * upload never waits for our next request, no more, so pieces are not
 * spread over long queues at many peers (each would then finish late).
 */
static void adjust_depth(sh_peer *p, const sh_req *r, sh_time now)
{
    sh_time lat = now > r->at ? now - r->at : 0;
    if (p->rtt_min == 0 || lat < p->rtt_min) p->rtt_min = lat ? lat : 1;
    if (lat <= queue_target(p)) {
        if (p->depth < SW_DEPTH_MAX) p->depth++;
    } else if (p->depth > SW_DEPTH_MIN) {
        p->depth--;
    }
}

static void unpick(sh_swarm *s, const sh_pick *k)
{
    for (uint32_t i = 0; i < k->count; i++)
        sh_picker_unrequest(s->picker, k->piece, k->block + i);
}

/* An endgame duplicate may name a block this very peer already has outstanding. */
static bool already_asked(const sh_peer *p, const sh_pick *k)
{
    for (uint32_t i = 0; k->dup && i < k->count; i++)
        if (sh_peer_req_covering(p, k->piece, k->block + i) >= 0) return true;
    return false;
}

/* Returns true if a request went out. */
static bool send_request(sh_swarm *s, sh_peer *p, const sh_pick *k, sh_time now)
{
    sh_req r = {.piece = k->piece, .block = k->block, .count = k->count, .at = now};
    for (uint32_t i = 0; i < k->count; i++)
        r.len += sh_picker_block_len(s->picker, k->piece, k->block + i);
    if (already_asked(p, k) || sh_peer_req_add(p, &r) < 0) {
        unpick(s, k);
        return false;
    }
    if (p->nreqs == 1) {
        p->req_clock = now;
        sw_arm(s, now + SW_SNUB_TIMEOUT);
    }
    sw_send_req(s, p, SH_MSG_REQUEST, r.piece, r.block * SH_PICKER_BLOCK, r.len, now);
    return true;
}

/* An origin that super-seeds us (a shoal peer that said upload_only but
 * not have_all) is sending a piece nobody else we know holds. */
static bool origin_busy(const sh_swarm *s)
{
    if (s->norigins == 0) return false;
    for (size_t i = 0; i < s->npeers; i++) {
        const sh_peer *q = s->peers[i];
        if (q->dead || q->state != SH_PEER_ACTIVE || !q->origin || q->peer_choking) continue;
        for (uint32_t j = 0; j < q->nreqs; j++)
            if (sh_picker_availability(s->picker, q->reqs[j].piece) <= 1) return true;
    }
    return false;
}

/* What a pick for p may take besides its bits: allowed-fast pieces while choked. */
static uint32_t allowed_key(const sh_peer *p)
{
    return p->peer_choking ? p->allowed.count + 1 : 0;
}

/* A pick for p found nothing, and nothing since could change that
 * (sh_picker_still_empty): it would find nothing again. Most picks are of
 * this kind, as every HAVE read and every verified piece asks again. */
static bool known_empty(const sh_swarm *s, sh_peer *p)
{
    if (p->nopick_ver == 0 || p->nopick_have != p->have.count || p->nopick_seed != p->seed ||
        p->nopick_allowed != allowed_key(p) || sw_ext_pickable(s))
        return false;
    if (!sh_picker_still_empty(s->picker, p->nopick_ver, p->seed ? NULL : &p->have)) return false;
    p->nopick_ver = sh_picker_version(s->picker); /* checked up to here */
    return true;
}

static void note_empty(const sh_swarm *s, sh_peer *p)
{
    p->nopick_ver = sh_picker_version(s->picker);
    p->nopick_have = p->have.count;
    p->nopick_seed = p->seed;
    p->nopick_allowed = allowed_key(p);
}

void sw_note_have(sh_swarm *s, sh_peer *p, uint32_t piece)
{
    if (p->nopick_ver && p->nopick_have + 1 == p->have.count && sh_picker_quiet(s->picker, piece))
        p->nopick_have++;
}

/*
 * In endgame every pick is a duplicate, and a duplicate already on the
 * wire when its twin arrives is downlink spent twice. Duplicates wait until
 * what is still outstanding would arrive within SW_ENDGAME_S at our
 * current download rate (at least SW_ENDGAME_MIN bytes): then a stalled
 * request is worth a copy. A request that has waited more than twice as
 * long as its peer's rate needs for it (plus a second) counts as stalled
 * and not as outstanding, so a slow or stuck peer is still rescued at
 * once. Without the wait a host that reached endgame with fifty pieces
 * queued at as many peers asked for every one twice (bench/swarm N = 100,
 * 8 MiB: the last hosts wasted 0.6-1.1 MiB; shoal-sim, 100 hosts, 8 MiB
 * at 256 KiB/s, seeds 1-3: max 1.41 -> 1.35 T*).
 */
static bool on_track(const sh_req *r, double rate, sh_time now)
{
    double need = (double)r->len / (rate > 1024.0 ? rate : 1024.0);
    return (double)(now - r->at) < (2.0 * need + 1.0) * 1e9;
}

static bool endgame_wait(const sh_swarm *s, sh_time now)
{
    uint64_t out = 0;
    double rate = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        const sh_peer *q = s->peers[i];
        if (q->dead || q->state != SH_PEER_ACTIVE) continue;
        double qr = sh_rate_get(&q->down_rate, now);
        rate += qr;
        for (uint32_t j = 0; j < q->nreqs; j++)
            if (on_track(&q->reqs[j], qr, now)) out += q->reqs[j].len;
    }
    double budget = rate * SW_ENDGAME_S;
    if (budget < SW_ENDGAME_MIN) budget = SW_ENDGAME_MIN;
    return (double)out > budget;
}

void sw_fill_requests(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->dead || p->state != SH_PEER_ACTIVE || !p->am_interested) return;
    if (known_empty(s, p)) return; /* before origin_busy, which visits every peer */
    /* While the origin sends us a piece only it has, we ask nobody else for
     * more: our downlink is shared by everyone who sends to us, and the
     * origin's share of it is what the whole fleet waits for (T* is the
     * origin's upload time when u_origin <= u). shoal-sim, 50 hosts, 5 GiB:
     * 1.18 -> 1.13 T*; 100 hosts, 8 MiB at 256 KiB/s: 2.09 -> 1.96 T*. */
    if (!p->origin && origin_busy(s)) return;
    const sh_bitfield *allowed = NULL;
    if (p->peer_choking) {
        if (!p->fast || p->allowed.count == 0) return;
        allowed = &p->allowed;
    }
    const sh_bitfield *pickable = sw_ext_pickable(s); /* v2 pieces whose layer is known */
    if (pickable && allowed) return; /* allowed-fast picks wait for the layers */
    if (pickable) allowed = pickable;
    uint32_t depth = peer_depth(p, now);
    if (sh_picker_endgame(s->picker)) {
        if (endgame_wait(s, now)) return;
        if (depth > SW_ENDGAME_DEPTH) depth = SW_ENDGAME_DEPTH;
    }
    sh_pick picks[64];
    while (p->nreqs < depth && !p->dead) {
        uint32_t want = depth - p->nreqs;
        size_t max_out = want < 64 ? want : 64;
        size_t n = sh_picker_pick(s->picker, p->seed ? NULL : &p->have, allowed,
                                  (uint32_t)max_out * p->max_run, p->max_run, picks, max_out);
        if (n == 0 && !pickable) note_empty(s, p);
        size_t sent = 0;
        for (size_t i = 0; i < n; i++)
            sent += send_request(s, p, &picks[i], now);
        if (sent == 0) break; /* only duplicates of our own requests: nothing more here */
    }
}

static void unrequest(sh_swarm *s, const sh_req *r)
{
    for (uint32_t i = 0; i < r->count; i++)
        sh_picker_unrequest(s->picker, r->piece, r->block + i);
}

/* Gives up request i of p (its blocks go back to the picker). */
static void drop_request(sh_swarm *s, sh_peer *p, uint32_t i, bool send_cancel, sh_time now)
{
    sh_req r = p->reqs[i];
    sh_peer_req_remove(p, i);
    if (send_cancel)
        sw_send_req(s, p, SH_MSG_CANCEL, r.piece, r.block * SH_PICKER_BLOCK, r.len, now);
    unrequest(s, &r);
    sh_peer_late_add(p, &r, now);
    s->refill = true;
}

void sw_give_up_requests(sh_swarm *s, sh_peer *p, bool send_cancel, sh_time now)
{
    while (p->nreqs)
        drop_request(s, p, 0, send_cancel, now);
}

void sw_on_choked(sh_swarm *s, sh_peer *p, sh_time now)
{
    /* With fast the peer rejects what it will not serve; without, a choke
     * voids every request (INTEROP.md §4.4) and we ask again after unchoke. */
    if (!p->fast) sw_give_up_requests(s, p, false, now);
}

void sw_on_reject(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    long i = sh_peer_req_find(p, m->piece, m->offset, m->length);
    if (i >= 0) {
        sh_req r = p->reqs[i];
        sh_peer_req_remove(p, (uint32_t)i);
        unrequest(s, &r);
        s->refill = true;
        return;
    }
    /* the answer to a cancel, or to a request we gave up on: nothing to do */
    sh_peer_late_take(p, m->piece, m->offset, m->length, now, NULL);
}

/* Endgame: p delivered this block; nobody else needs to send it. */
static void cancel_elsewhere(sh_swarm *s, const sh_peer *p, uint32_t piece, uint32_t block,
                             sh_time now)
{
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *q = s->peers[i];
        if (q == p || q->dead || q->state != SH_PEER_ACTIVE) continue;
        long j = sh_peer_req_covering(q, piece, block);
        if (j >= 0) drop_request(s, q, (uint32_t)j, true, now);
    }
}

static void take_block(sh_swarm *s, sh_peer *p, uint32_t piece, uint32_t block, const uint8_t *data,
                       uint32_t len, bool scan, sh_time now)
{
    bool existed = sh_asm_find(&s->pieces, piece) != NULL;
    sh_asm_piece *ap = sh_asm_get(&s->pieces, piece, sh_metainfo_piece_size(s->mi, piece));
    if (!ap || ap->verifying) {
        s->wasted += len;
        if (!ap) sh_picker_unrequest(s->picker, piece, block); /* out of memory: ask again */
        return;
    }
    int r = sh_picker_received(s->picker, piece, block);
    if (r < 0) { /* an endgame duplicate, or no longer needed */
        s->wasted += len;
        if (!existed) sh_asm_drop(&s->pieces, piece);
        return;
    }
    sh_asm_write(ap, block * SH_PICKER_BLOCK, data, len, &p->addr);
    s->payload_down += len;
    if (scan) cancel_elsewhere(s, p, piece, block, now);
    if (r == 1) sw_piece_done(s, ap, now);
}

/* Finds the request this piece answers. 1: live, 0: given up but recent,
 * -1: stale (drop), SH_EPROTO: never requested. */
static int match_request(sh_peer *p, const sh_msg *m, sh_time now, sh_req *out)
{
    long i = sh_peer_req_find(p, m->piece, m->offset, m->length);
    if (i >= 0) {
        *out = p->reqs[i];
        sh_peer_req_remove(p, (uint32_t)i);
        return 1;
    }
    int late = sh_peer_late_take(p, m->piece, m->offset, m->length, now, out);
    if (late == 1) return 0;
    return late == 0 ? -1 : SH_EPROTO;
}

int sw_on_piece(sh_swarm *s, sh_peer *p, const sh_msg *m, sh_time now)
{
    sh_req r;
    int k = match_request(p, m, now, &r);
    if (k == SH_EPROTO) {
        sw_close(s, p, SH_EPROTO, true, now, "piece for a block we never requested");
        return SH_EPROTO;
    }
    p->down += m->data.len;
    sh_rate_add(&p->down_rate, m->data.len, now);
    p->req_clock = now;
    p->snubbed = false;
    if (k == 1) adjust_depth(p, &r, now);
    if (k < 0) {
        s->wasted += m->data.len;
        return 0;
    }
    bool scan = k == 0 || sh_picker_endgame(s->picker);
    for (uint32_t i = 0; i < r.count; i++) {
        uint32_t b = r.block + i;
        uint32_t blen = sh_picker_block_len(s->picker, r.piece, b);
        const uint8_t *data = m->data.ptr ? m->data.ptr + (size_t)i * SH_PICKER_BLOCK : NULL;
        take_block(s, p, r.piece, b, data, blen, scan, now);
    }
    return 0;
}

void sw_check_requests(sh_swarm *s, sh_peer *p, sh_time now)
{
    if (p->nreqs == 0) return;
    if (now - p->req_clock >= SW_SNUB_TIMEOUT) {
        char a[SH_ADDR_STRLEN];
        sw_info(s, "conn %llu (%s): snubbed: no block for %u s with %u requests outstanding",
                (unsigned long long)p->id, sh_addr_format(&p->addr, a, sizeof a),
                (unsigned)(SW_SNUB_TIMEOUT / SH_SEC(1)), p->nreqs);
        p->snubbed = true;
        p->slow_start = false;
        sw_give_up_requests(s, p, true, now);
        return;
    }
    /* one request skipped while the others flow: give up on it alone */
    if (now - p->reqs[0].at >= SW_REQ_TIMEOUT) drop_request(s, p, 0, true, now);
}
