/*
 * uplink.c — moving bytes: each host's uplink, the wire, each host's
 * downlink, per-connection flow control.
 *
 * Data. A host's uplink serves its connections round robin; a turn takes
 * the front of one connection's output up to --quantum bytes, never cutting
 * a block (with the 13-byte header that precedes it) apart, so the
 * receiver's decoder — which returns a virtual piece message as soon as its
 * header is read — sees the header only when the whole block has arrived.
 * The chunk occupies the uplink len/up seconds, travels latency(src) +
 * latency(dst), waits for and occupies the receiver's downlink len/down
 * seconds (store and forward at both ends), and then the receiver's swarm
 * gets its protocol bytes. At most `window` bytes are in flight per
 * connection, so a slow receiver pushes back on its sender instead of
 * absorbing its uplink; a blocked connection resumes an ack's latency
 * after deliveries made room.
 *
 * Control. Output that is only protocol messages (requests, haves, chokes)
 * does not wait for a round-robin turn: small packets interleave with bulk
 * data on a real NIC. It leaves at once; its transmission time is charged
 * to the uplink's next data turn; it skips the receiver's downlink queue.
 * If data is still in flight on that connection, the bytes ride with the
 * latest chunk instead, so the stream never reorders (TCP is a stream).
 *
 * Loss (--loss P): each new chunk, with probability P, arrives
 * --loss-penalty later (an RTO-like stall); later chunks of the same
 * connection wait behind it (head-of-line blocking).
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#define PIECE_HDR 13u /* length prefix, id, index, begin: precedes every block */
#define MAX_SEGS 16u

/* ---- the chunk pool ---- */

static uint32_t chunk_new(sim_world *w, uint32_t from)
{
    uint32_t c;
    if (w->nfree_chunks) {
        c = w->free_chunks[--w->nfree_chunks];
    } else {
        if (w->nchunks == w->capchunks) {
            uint32_t n = w->capchunks ? w->capchunks * 2 : 4096;
            sim_chunk *v = realloc(w->chunks, (size_t)n * sizeof *v);
            uint32_t *f = realloc(w->free_chunks, (size_t)n * sizeof *f);
            if (v) w->chunks = v;
            if (f) w->free_chunks = f;
            if (!v || !f) return SIM_NONE;
            w->capchunks = n;
        }
        c = w->nchunks++;
        w->chunks[c].heap = NULL;
    }
    sim_chunk *k = &w->chunks[c];
    uint8_t *keep = k->heap;
    uint32_t cap = keep ? k->cap : SIM_CHUNK_INLINE;
    *k = (sim_chunk){.from = from, .cap = cap, .heap = keep};
    return c;
}

static void chunk_free(sim_world *w, uint32_t c)
{
    sim_chunk *k = &w->chunks[c];
    if (k->heap && k->cap > 4096) { /* keep small buffers for reuse, not big ones */
        free(k->heap);
        k->heap = NULL;
        k->cap = SIM_CHUNK_INLINE;
    }
    w->free_chunks[w->nfree_chunks++] = c;
}

static uint8_t *chunk_bytes(sim_chunk *k)
{
    return k->heap ? k->heap : k->inl;
}

static bool chunk_append(sim_chunk *k, const uint8_t *p, uint32_t n)
{
    if (n > k->cap - k->nbytes) {
        uint32_t cap = k->cap * 2;
        while (cap - k->nbytes < n)
            cap *= 2;
        uint8_t *b = k->heap ? realloc(k->heap, cap) : malloc(cap);
        if (!b) return false;
        if (!k->heap) memcpy(b, k->inl, k->nbytes);
        k->heap = b;
        k->cap = cap;
    }
    memcpy(chunk_bytes(k) + k->nbytes, p, n);
    k->nbytes += n;
    return true;
}

/* ---- the round robin ---- */

static void schedule_turn(sim_world *w, uint32_t h)
{
    sim_host *x = &w->hosts[h];
    if (x->turn_pending || x->rr_head == SIM_NONE) return;
    x->turn_pending = true;
    sim_push(w, sim_max(w->now, x->up_free), EV_TURN, h, 0);
}

/* Round robin appends at the tail. --uplink first keeps the list sorted by
 * connection id instead, so the oldest connection with output always goes
 * next: what shoal's peer driver does under a token bucket, where the rate
 * timer wakes blocked connections in id order and the first one takes every
 * token there is (src/io/peerd_conn.c, peerd_conn_unblock). */
static void rr_add(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    if (E->in_rr) return;
    sim_host *x = &w->hosts[E->host];
    E->in_rr = true;
    E->rr_next = SIM_NONE;
    if (w->o.uplink_first && x->rr_head != SIM_NONE && w->ends[x->rr_head].conn > E->conn) {
        E->rr_next = x->rr_head;
        x->rr_head = e;
    } else if (w->o.uplink_first && x->rr_head != SIM_NONE) {
        uint32_t prev = x->rr_head;
        while (w->ends[prev].rr_next != SIM_NONE && w->ends[w->ends[prev].rr_next].conn < E->conn)
            prev = w->ends[prev].rr_next;
        E->rr_next = w->ends[prev].rr_next;
        w->ends[prev].rr_next = e;
        if (E->rr_next == SIM_NONE) x->rr_tail = e;
    } else if (x->rr_tail == SIM_NONE) {
        x->rr_head = e;
        x->rr_tail = e;
    } else {
        w->ends[x->rr_tail].rr_next = e;
        x->rr_tail = e;
    }
    schedule_turn(w, E->host);
}

static uint32_t rr_pop(sim_world *w, sim_host *x)
{
    uint32_t e = x->rr_head;
    sim_end *E = &w->ends[e];
    x->rr_head = E->rr_next;
    if (x->rr_head == SIM_NONE) x->rr_tail = SIM_NONE;
    E->in_rr = false;
    return e;
}

/* ---- sending ---- */

static sh_time penalty(sim_world *w)
{
    if (w->o.loss <= 0 || sh_rng_unit(&w->rng) >= w->o.loss) return 0;
    w->st.lost_chunks++;
    return (sh_time)(w->o.loss_penalty_ms * 1e6);
}

/* Puts chunk c on the wire from endpoint e; it reaches the far host at `arrive`
 * (later if an earlier chunk of the connection is due later: in order). */
static void launch(sim_world *w, uint32_t e, uint32_t c, sh_time leave)
{
    sim_end *E = &w->ends[e];
    sh_time arrive = leave + w->hosts[E->host].lat + w->hosts[E->far_host].lat + penalty(w);
    arrive = sim_max(arrive, E->last_arrival);
    E->last_arrival = arrive;
    E->last_chunk = c;
    E->inflight += w->chunks[c].wire;
    sim_push(w, arrive, w->chunks[c].control ? EV_DELIVER : EV_ARRIVE, E->far_host, c);
}

/* True if p[0..n) is whole HAVE messages (length 5, id 4) and nothing else. */
static bool only_haves(const uint8_t *p, uint32_t n)
{
    if (n == 0 || n % 9) return false;
    for (uint32_t i = 0; i < n; i += 9)
        if (p[i] | p[i + 1] | p[i + 2] || p[i + 3] != 5 || p[i + 4] != 4) return false;
    return true;
}

void sim_end_flush(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    uint32_t c = E->batch;
    if (c == SIM_NONE) return;
    E->batch = SIM_NONE;
    launch(w, e, c, w->now);
}

void sim_on_flush(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    if (E->batch == SIM_NONE || E->batch_at != w->now) return; /* left earlier */
    if (E->state != SIM_OPEN || w->hosts[E->host].crashed) {
        chunk_free(w, E->batch);
        E->batch = SIM_NONE;
        return;
    }
    sim_end_flush(w, e);
}

/*
 * Brings x's control debt up to now. Control bytes leave at once and their
 * uplink time is charged to the next bulk chunk; but an uplink that was idle
 * since then would have sent them meanwhile. Without this the PEX and
 * extension handshakes a 16 KiB/s host sends before the origin starts
 * (~20 KiB to fifty peers) delayed its first piece by a second.
 */
static void debt_decay(sim_host *x, sh_time now)
{
    sh_time idle_from = sim_max(x->up_free, x->ctl_debt_at);
    if (now > idle_from) {
        sh_time d = now - idle_from;
        x->ctl_debt = x->ctl_debt > d ? x->ctl_debt - d : 0;
    }
    x->ctl_debt_at = now;
}

/* Appends n bytes to chunk k, charging their uplink time. */
static bool ride(sim_world *w, sim_end *E, sim_chunk *k, const uint8_t *p, uint32_t n)
{
    if (!chunk_append(k, p, n)) return false;
    k->wire += n;
    debt_decay(&w->hosts[E->host], w->now);
    w->hosts[E->host].ctl_debt += sim_xfer(n, w->hosts[E->host].up);
    return true;
}

/* Sends n protocol bytes from the front of e's output, outside the round robin.
 * With --have-batch, HAVEs alone wait for company (an RX-coalescing stand-in
 * that saves the receiver a read per HAVE); anything else takes them along. */
static void send_control(sim_world *w, uint32_t e, const uint8_t *p, uint32_t n)
{
    sim_end *E = &w->ends[e];
    sim_host *x = &w->hosts[E->host];
    if (E->batch != SIM_NONE) {
        if (ride(w, E, &w->chunks[E->batch], p, n)) {
            w->st.batched++;
            if (!only_haves(p, n)) sim_end_flush(w, e);
            return;
        }
        sim_end_flush(w, e); /* out of memory: send what is held, then go on */
    }
    if (E->last_chunk != SIM_NONE) { /* data in flight: ride behind it */
        sim_chunk *k = &w->chunks[E->last_chunk];
        if (ride(w, E, k, p, n)) {
            E->inflight += n;
            w->st.piggybacked++;
            return;
        }
    }
    uint32_t c = chunk_new(w, e);
    if (c == SIM_NONE || !chunk_append(&w->chunks[c], p, n)) return; /* out of memory: lost */
    w->chunks[c].wire = n;
    w->chunks[c].control = true;
    w->st.control_chunks++;
    sh_time dur = sim_xfer(n, x->up);
    debt_decay(x, w->now);
    x->ctl_debt += dur;
    if (w->o.have_batch_ms > 0 && only_haves(p, n)) {
        E->batch = c;
        E->batch_at = w->now + (sh_time)(w->o.have_batch_ms * 1e6 + 0.5);
        sim_push(w, E->batch_at, EV_FLUSH, E->host, e);
        return;
    }
    launch(w, e, c, w->now + dur);
}

/* If e's output starts with protocol bytes, sends them (up to the header of a
 * following block). Returns true if output remains. */
static bool front_control(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    sh_swarm *sw = w->hosts[E->host].sw;
    sh_seg segs[2];
    size_t ns = sh_swarm_out(sw, E->conn, segs, 2);
    if (ns == 0) return false;
    if (segs[0].kind != SH_SEG_BYTES) return true;
    uint32_t n = segs[0].len;
    if (ns > 1 && segs[1].kind == SH_SEG_BLOCK) n = n >= PIECE_HDR ? n - PIECE_HDR : 0;
    if (n == 0) return true;
    send_control(w, e, segs[0].ptr, n);
    sh_swarm_sent(sw, E->conn, n, w->now);
    return sh_swarm_out(sw, E->conn, segs, 1) > 0;
}

void sim_act_send(sim_world *w, uint32_t h, const sh_action *a)
{
    uint32_t e = sim_end_of(w, h, a->conn);
    if (e == SIM_NONE || w->ends[e].state != SIM_OPEN || w->ends[e].in_rr) return;
    if (front_control(w, e) && !w->ends[e].blocked) rr_add(w, e);
}

/* How many of segs[0..ns) one turn takes, and their bytes. A BYTES segment
 * followed by a BLOCK ends with that block's header: they go together. */
static size_t take_segments(const sh_seg *segs, size_t ns, uint64_t quantum, uint64_t *total)
{
    size_t k = 0;
    *total = 0;
    while (k < ns) {
        uint64_t unit = segs[k].len;
        size_t uk = 1;
        if (segs[k].kind == SH_SEG_BYTES && k + 1 < ns && segs[k + 1].kind == SH_SEG_BLOCK) {
            unit += segs[k + 1].len;
            uk = 2;
        } else if (segs[k].kind == SH_SEG_BYTES && k + 1 == ns && ns == MAX_SEGS) {
            break; /* a block may follow that we did not peek */
        }
        if (*total > 0 && *total + unit > quantum) break;
        *total += unit;
        k += uk;
    }
    return k;
}

/* One round-robin turn for e. Returns true if a chunk left (the uplink is busy). */
static bool send_turn(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    uint32_t h = E->host;
    sim_host *x = &w->hosts[h];
    sh_seg segs[MAX_SEGS];
    size_t ns = sh_swarm_out(x->sw, E->conn, segs, MAX_SEGS);
    if (ns == 0) return false;
    uint64_t total;
    size_t k = take_segments(segs, ns, w->o.quantum, &total);
    bool block = false;
    for (size_t i = 0; i < k; i++)
        block |= segs[i].kind == SH_SEG_BLOCK;
    if (!block) { /* protocol bytes only: they need no turn */
        if (front_control(w, e) && !w->ends[e].blocked) rr_add(w, e);
        return false;
    }
    if (E->inflight > 0 && E->inflight + total > E->window) {
        E->blocked = true;
        E->need = (uint32_t)total;
        return false;
    }
    sim_end_flush(w, e); /* held HAVEs precede the block in the stream */
    uint32_t c = chunk_new(w, e);
    if (c == SIM_NONE) return false;
    E = &w->ends[e];
    sim_chunk *ck = &w->chunks[c];
    ck->wire = (uint32_t)total;
    for (size_t i = 0; i < k; i++)
        if (segs[i].kind == SH_SEG_BYTES && !chunk_append(ck, segs[i].ptr, segs[i].len)) {
            chunk_free(w, c);
            return false;
        }
    w->st.chunks++;
    debt_decay(x, w->now);
    sh_time dur = sim_xfer(total, x->up) + x->ctl_debt;
    x->ctl_debt = 0;
    x->up_free = w->now + dur;
    launch(w, e, c, x->up_free);
    sh_swarm_sent(x->sw, E->conn, total, w->now);
    if (sh_swarm_out(x->sw, E->conn, segs, 1) > 0) rr_add(w, e);
    sim_drain(w, h);
    return true;
}

void sim_on_turn(sim_world *w, uint32_t h)
{
    sim_host *x = &w->hosts[h];
    x->turn_pending = false;
    if (x->crashed) return;
    if (w->now < x->up_free) {
        schedule_turn(w, h);
        return;
    }
    x->turn_pending = true; /* connections re-added meanwhile wait for the next turn */
    while (x->rr_head != SIM_NONE) {
        uint32_t e = rr_pop(w, x);
        if (w->ends[e].state != SIM_OPEN) continue;
        if (send_turn(w, e)) break;
    }
    x->turn_pending = false;
    schedule_turn(w, h);
}

/* ---- the receiving side ---- */

/* The sender learns about freed window space an ack's latency later. */
static void window_check(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    if (!E->blocked || E->wake_pending || E->state != SIM_OPEN) return;
    if (E->inflight > 0 && E->inflight + E->need > E->window) return;
    E->wake_pending = true;
    sim_push(w, w->now + w->hosts[E->host].lat + w->hosts[E->far_host].lat, EV_WAKE, E->host, e);
}

static void chunk_done(sim_world *w, uint32_t c)
{
    uint32_t e = w->chunks[c].from;
    sim_end *E = &w->ends[e];
    E->inflight -= w->chunks[c].wire;
    if (E->last_chunk == c) E->last_chunk = SIM_NONE;
    chunk_free(w, c);
    window_check(w, e);
}

void sim_chunk_drop(sim_world *w, uint32_t c)
{
    chunk_done(w, c);
}

void sim_on_arrive(sim_world *w, uint32_t c)
{
    const sim_end *E = &w->ends[w->chunks[c].from];
    sim_host *y = &w->hosts[E->far_host];
    if (E->far == SIM_NONE || w->ends[E->far].state != SIM_OPEN || y->crashed) {
        sim_chunk_drop(w, c);
        return;
    }
    /* Cut-through: the receiver's downlink takes the bytes as they come, so
     * it may have begun when the chunk's first byte arrived, one sender
     * serialisation before its last; it ends no earlier than the last byte.
     * Store and forward at both ends made every hop of a piece sent as one
     * chunk cost two piece times: at 16 KiB/s in 16 KiB pieces a fleet's
     * doubling took twice as long as on real TCP (docs/simulator.md). */
    const sim_chunk *k = &w->chunks[c];
    sh_time ser = sim_xfer(k->wire, w->hosts[E->host].up);
    sh_time first = w->now > ser ? w->now - ser : 0;
    sh_time start = sim_max(first, y->down_free);
    y->down_free = sim_max(start + sim_xfer(k->wire, y->down), w->now);
    sim_push(w, y->down_free, EV_DELIVER, E->far_host, c);
}

void sim_on_deliver(sim_world *w, uint32_t c)
{
    const sim_end *E = &w->ends[w->chunks[c].from];
    uint32_t g = E->far_host, f = E->far;
    sim_host *y = &w->hosts[g];
    if (f != SIM_NONE && w->ends[f].state == SIM_OPEN && !y->crashed) {
        sim_chunk *k = &w->chunks[c];
        w->log_host = g;
        if (k->nbytes) sh_swarm_recv(y->sw, w->ends[f].conn, chunk_bytes(k), k->nbytes, w->now);
        chunk_done(w, c);
        sim_drain(w, g);
        return;
    }
    chunk_done(w, c);
}

void sim_on_wake(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    E->wake_pending = false;
    if (E->state != SIM_OPEN || w->hosts[E->host].crashed) return;
    if (E->inflight > 0 && E->inflight + E->need > E->window) return; /* filled up again */
    E->blocked = false;
    rr_add(w, e);
}
