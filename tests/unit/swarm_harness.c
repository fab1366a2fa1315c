/*
 * swarm_harness.c — the in-memory network (see swarm_harness.h).
 *
 * One binary heap of events ordered by (time, sequence number) drives
 * everything; the sequence number makes simultaneous events run in the
 * order they were scheduled, so a run depends on nothing but its seed.
 */
#include "swarm_harness.h"

#include <shoal/bencode.h>
#include <shoal/mkinfo.h>
#include <shoal/rng.h>
#include <shoal/verify.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- torrents ---- */

static void fill_random(uint8_t *p, uint64_t n, sh_rng *r)
{
    for (uint64_t i = 0; i < n; i++)
        p[i] = (uint8_t)sh_rng_next(r);
}

static int feed_files(sh_mkinfo *m, uint8_t **data, const uint64_t *files, uint32_t nfiles)
{
    char path[32];
    for (uint32_t k = 0; k < sh_mkinfo_num_files(m); k++) {
        uint64_t len;
        const char *rel = sh_mkinfo_file(m, k, &len);
        uint32_t idx = 0;
        if (rel) sscanf(rel, "dir/f%u", &idx);
        snprintf(path, sizeof path, "dir/f%u", idx);
        if (idx >= nfiles || files[idx] != len || (rel && strcmp(rel, path) != 0)) return SH_EINVAL;
        int rc = sh_mkinfo_feed(m, data[idx], len);
        if (rc < 0) return rc;
    }
    return 0;
}

static int build(const sh_mkinfo_opts *o, uint8_t **data, const uint64_t *files, uint32_t nfiles,
                 sh_bbuf *out)
{
    sh_mkinfo *m;
    int rc = sh_mkinfo_new(o, &m);
    char path[32];
    for (uint32_t i = 0; rc == 0 && i < nfiles; i++) {
        snprintf(path, sizeof path, "dir/f%u", i);
        rc = sh_mkinfo_add_file(m, nfiles == 1 ? NULL : path, files[i], false);
    }
    if (rc == 0) rc = sh_mkinfo_layout(m);
    if (rc == 0) rc = feed_files(m, data, files, nfiles);
    if (rc == 0) rc = sh_mkinfo_finish(m, out);
    sh_mkinfo_free(m);
    return rc;
}

static void lay_out(hn_torrent *t, uint8_t **data, uint32_t nfiles)
{
    const sh_metainfo *mi = t->mi;
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (f->pad || f->length == 0) continue;
        uint32_t idx = 0;
        if (nfiles > 1) sscanf(f->path, "dir/f%u", &idx);
        memcpy(t->space + f->offset, data[idx], f->length);
    }
}

int hn_torrent_make(hn_torrent *t, unsigned version, uint64_t piece_length, const uint64_t *files,
                    uint32_t nfiles, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    sh_rng r;
    sh_rng_seed(&r, seed);
    uint8_t **data = calloc(nfiles, sizeof *data);
    for (uint32_t i = 0; i < nfiles; i++) {
        data[i] = malloc(files[i] ? files[i] : 1);
        fill_random(data[i], files[i], &r);
    }
    sh_mkinfo_opts o = {.version = version, .piece_length = piece_length, .name = "hn"};
    sh_bbuf enc;
    sh_bbuf_init(&enc);
    int rc = build(&o, data, files, nfiles, &enc);
    if (rc == 0) rc = sh_metainfo_parse(enc.data, enc.len, &t->mi, NULL);
    if (rc == 0) {
        t->size = t->mi->total_size;
        t->space = calloc(1, t->size);
        lay_out(t, data, nfiles);
    }
    sh_bbuf_free(&enc);
    for (uint32_t i = 0; i < nfiles; i++)
        free(data[i]);
    free(data);
    return rc;
}

void hn_torrent_free(hn_torrent *t)
{
    sh_metainfo_free(t->mi);
    free(t->space);
    memset(t, 0, sizeof *t);
}

/* ---- the network ---- */

typedef struct hn_end {
    bool used, open, writing;
    hn_node *peer; /* the far side, or raw */
    sh_conn_id peer_conn;
    hn_raw *raw;
    sh_time last_arrival; /* latest delivery scheduled towards the far side */
    sh_wire_dec *tapdec;  /* decodes what this side receives */
    hn_tap tap;
} hn_end;

struct hn_node {
    hn_net *net;
    uint32_t idx;
    sh_addr addr;
    sh_swarm *sw;
    const sh_metainfo *mi; /* what it verifies with */
    uint8_t *mem;
    bool corrupt;
    uint64_t up_bps;
    sh_time verify_delay;
    sh_time up_free;
    hn_end *ends; /* by conn id */
    size_t nends;
    sh_time timer_at;
    bool complete;
    sh_time complete_at;
    bool leave, gone;
    uint32_t vfail;
    uint32_t closes[32];  /* by -reason */
    sh_time connects[64]; /* times of the first SH_ACT_CONNECTs */
    uint32_t nconnects;
    uint16_t next_port;
};

struct hn_raw {
    hn_net *net;
    hn_node *node;
    sh_conn_id conn;
    sh_addr addr;
    uint8_t *in;
    size_t in_len, in_cap, in_pos;
    sh_wire_dec *dec;
    sh_time last_arrival;
    bool closed;
    int reason;
};

enum { EV_TIMER, EV_CONNECT, EV_WRITE, EV_DELIVER, EV_CLOSED, EV_VERIFIED };

typedef struct hn_ev {
    sh_time t;
    uint64_t seq;
    int type;
    hn_node *node;
    sh_conn_id conn;
    hn_raw *raw;
    sh_addr addr;
    uint8_t *data;
    size_t len;
    int reason;
} hn_ev;

struct hn_net {
    const hn_torrent *t;
    uint64_t seed;
    sh_rng rng;
    sh_time now;
    uint64_t seq;
    hn_node *nodes[250];
    uint32_t nnodes;
    hn_raw *raws[64];
    uint32_t nraws;
    hn_ev *heap;
    size_t nheap, capheap;
    uint64_t trace;
    sh_logger log;
};

static bool ev_less(const hn_ev *a, const hn_ev *b)
{
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static void ev_push(hn_net *n, hn_ev e)
{
    if (n->nheap == n->capheap) {
        n->capheap = n->capheap ? n->capheap * 2 : 256;
        n->heap = realloc(n->heap, n->capheap * sizeof *n->heap);
        assert_non_null(n->heap);
    }
    e.seq = n->seq++;
    size_t i = n->nheap++;
    while (i > 0 && ev_less(&e, &n->heap[(i - 1) / 2])) {
        n->heap[i] = n->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    n->heap[i] = e;
}

static hn_ev ev_pop(hn_net *n)
{
    hn_ev top = n->heap[0], last = n->heap[--n->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n->nheap) break;
        if (c + 1 < n->nheap && ev_less(&n->heap[c + 1], &n->heap[c])) c++;
        if (!ev_less(&n->heap[c], &last)) break;
        n->heap[i] = n->heap[c];
        i = c;
    }
    if (n->nheap) n->heap[i] = last;
    return top;
}

static void log_sink(void *ud, sh_log_level level, const char *comp, const char *msg)
{
    hn_node *x = ud;
    fprintf(stderr, "[%10.6f] node %u %s %s: %s\n", (double)x->net->now / 1e9, x->idx,
            sh_log_level_name(level), comp, msg);
}

hn_net *hn_net_new(const hn_torrent *t, uint64_t seed)
{
    hn_net *n = calloc(1, sizeof *n);
    assert_non_null(n);
    n->t = t;
    n->seed = seed;
    sh_rng_seed(&n->rng, seed);
    n->trace = 1469598103934665603ull;
    n->now = SH_SEC(1000); /* not zero: catches "0 means unset" mistakes */
    const char *lv = getenv("HN_LOG");
    if (lv && sh_log_level_parse(lv, &n->log.level) == 0) n->log.fn = log_sink;
    return n;
}

static hn_end *end_of(hn_node *x, sh_conn_id c)
{
    if (c >= x->nends) {
        size_t nn = c + 16;
        x->ends = realloc(x->ends, nn * sizeof *x->ends);
        assert_non_null(x->ends);
        memset(x->ends + x->nends, 0, (nn - x->nends) * sizeof *x->ends);
        x->nends = nn;
    }
    return &x->ends[c];
}

void hn_net_free(hn_net *n)
{
    if (!n) return;
    for (uint32_t i = 0; i < n->nnodes; i++) {
        hn_node *x = n->nodes[i];
        sh_swarm_free(x->sw);
        for (size_t c = 0; c < x->nends; c++)
            sh_wire_dec_free(x->ends[c].tapdec);
        free(x->ends);
        free(x->mem);
        free(x);
    }
    for (uint32_t i = 0; i < n->nraws; i++) {
        sh_wire_dec_free(n->raws[i]->dec);
        free(n->raws[i]->in);
        free(n->raws[i]);
    }
    for (size_t i = 0; i < n->nheap; i++)
        free(n->heap[i].data);
    free(n->heap);
    free(n);
}

static void drain(hn_net *n, hn_node *x);

hn_node *hn_node_add(hn_net *n, const hn_node_opts *o)
{
    assert_true(n->nnodes < 250);
    hn_node *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->net = n;
    x->idx = n->nnodes;
    x->addr = (sh_addr){.family = 4, .ip = {127, 0, 0, (uint8_t)(x->idx + 2)}, .port = 6881};
    x->corrupt = o->corrupt;
    x->up_bps = o->up_bps ? o->up_bps : HN_DEFAULT_BPS;
    x->verify_delay = o->verify_delay;
    x->leave = o->leave_when_complete;
    x->timer_at = SH_TIME_NEVER;
    x->next_port = 40000;
    x->mem = calloc(1, n->t->size);
    sh_bitfield have;
    assert_int_equal(sh_bitfield_init(&have, n->t->mi->num_pieces), 0);
    if (o->seed) {
        memcpy(x->mem, n->t->space, n->t->size);
        sh_bitfield_set_all(&have);
    }
    sh_swarm_config cfg = o->cfg;
    cfg.mi = o->mi ? o->mi : n->t->mi;
    cfg.mi_layers = o->mi;
    x->mi = cfg.mi;
    cfg.have = &have;
    memcpy(cfg.peer_id, "-SH0001-", 8);
    for (int i = 8; i < 20; i++)
        cfg.peer_id[i] = (uint8_t)sh_rng_next(&n->rng);
    cfg.rng_seed = n->seed * 1000003u + x->idx;
    if (!cfg.listen_port) cfg.listen_port = 6881;
    cfg.log = n->log;
    cfg.log.ud = x;
    assert_int_equal(sh_swarm_new(&cfg, n->now, &x->sw), 0);
    sh_bitfield_free(&have);
    n->nodes[n->nnodes++] = x;
    drain(n, x);
    return x;
}

hn_node *hn_node_at(hn_net *n, uint32_t k)
{
    return k < n->nnodes ? n->nodes[k] : NULL;
}

uint32_t hn_node_count(const hn_net *n)
{
    return n->nnodes;
}

sh_addr hn_node_addr(const hn_node *x)
{
    return x->addr;
}

sh_swarm *hn_swarm(hn_node *x)
{
    return x->sw;
}

void hn_knows(hn_net *n, hn_node *x, hn_node *y)
{
    sh_swarm_add_peer(x->sw, &y->addr, SH_SRC_MANUAL, n->now);
    drain(n, x);
}

void hn_add_peer(hn_net *n, hn_node *x, const sh_addr *a, sh_peer_source src)
{
    sh_swarm_add_peer(x->sw, a, src, n->now);
    drain(n, x);
}

sh_time hn_now(const hn_net *n)
{
    return n->now;
}

static hn_node *node_by_addr(hn_net *n, const sh_addr *a)
{
    for (uint32_t i = 0; i < n->nnodes; i++)
        if (sh_addr_eq(&n->nodes[i]->addr, a)) return n->nodes[i];
    return NULL;
}

/* ---- actions ---- */

static void trace(hn_net *n, const hn_node *x, const sh_action *a)
{
    uint64_t v[8] = {x->idx,
                     n->now,
                     (uint64_t)a->type,
                     a->conn,
                     a->piece,
                     (uint64_t)a->len,
                     (uint64_t)(int64_t)a->reason,
                     0};
    memcpy(&v[7], a->addr.ip, 4);
    v[7] ^= (uint64_t)a->addr.port << 32;
    const uint8_t *p = (const uint8_t *)v;
    for (size_t i = 0; i < sizeof v; i++) {
        n->trace ^= p[i];
        n->trace *= 1099511628211ull;
    }
}

static void schedule_write(hn_net *n, hn_node *x, sh_conn_id c)
{
    hn_end *e = end_of(x, c);
    if (!e->open || e->writing) return;
    e->writing = true;
    ev_push(n, (hn_ev){.t = x->up_free > n->now ? x->up_free : n->now,
                       .type = EV_WRITE,
                       .node = x,
                       .conn = c});
}

static void act_close(hn_net *n, hn_node *x, const sh_action *a)
{
    hn_end *e = end_of(x, a->conn);
    int r = a->reason < 0 && a->reason > -32 ? -a->reason : 0;
    x->closes[r]++;
    bool was_open = e->open;
    e->open = false;
    sh_swarm_closed(x->sw, a->conn, a->reason, n->now);
    if (!was_open) return;
    if (e->raw) {
        e->raw->closed = true;
        e->raw->reason = a->reason;
    } else if (e->peer) {
        sh_time t = n->now + HN_LATENCY;
        if (e->last_arrival >= t) t = e->last_arrival + 1;
        ev_push(n, (hn_ev){.t = t,
                           .type = EV_CLOSED,
                           .node = e->peer,
                           .conn = e->peer_conn,
                           .reason = SH_ECLOSED});
    }
}

static void act_verify(hn_net *n, hn_node *x, const sh_action *a)
{
    const sh_metainfo *mi = x->mi;
    int rc = sh_piece_verify(mi, a->piece, a->data, a->len);
    if (rc == 0)
        memcpy(x->mem + (uint64_t)a->piece * mi->piece_length, a->data, a->len);
    else
        x->vfail++;
    if (x->verify_delay) { /* like a hasher thread that lags behind the network */
        ev_push(n, (hn_ev){.t = n->now + x->verify_delay,
                           .type = EV_VERIFIED,
                           .node = x,
                           .conn = a->piece,
                           .reason = rc});
        return;
    }
    sh_swarm_verified(x->sw, a->piece, rc == 0, n->now);
}

static void schedule_timer(hn_net *n, hn_node *x)
{
    sh_time d = sh_swarm_next_deadline(x->sw);
    if (d == SH_TIME_NEVER) return;
    if (d < n->now) d = n->now;
    if (d >= x->timer_at) return;
    x->timer_at = d;
    ev_push(n, (hn_ev){.t = d, .type = EV_TIMER, .node = x});
}

/* The node's process exits: every far side sees its connection close. */
static void leave(hn_net *n, hn_node *x)
{
    x->gone = true;
    for (size_t c = 0; c < x->nends; c++) {
        hn_end *e = &x->ends[c];
        if (!e->open) continue;
        e->open = false;
        if (e->raw) {
            e->raw->closed = true;
            e->raw->reason = SH_ECLOSED;
        } else if (e->peer) {
            sh_time t = n->now + HN_LATENCY;
            if (e->last_arrival >= t) t = e->last_arrival + 1;
            ev_push(n, (hn_ev){.t = t,
                               .type = EV_CLOSED,
                               .node = e->peer,
                               .conn = e->peer_conn,
                               .reason = SH_ECLOSED});
        }
    }
}

static void drain(hn_net *n, hn_node *x)
{
    sh_action a;
    if (x->gone) {
        while (sh_swarm_next_action(x->sw, &a)) {
        }
        return;
    }
    while (sh_swarm_next_action(x->sw, &a)) {
        trace(n, x, &a);
        switch (a.type) {
        case SH_ACT_CONNECT:
            if (x->nconnects < 64) x->connects[x->nconnects] = n->now;
            x->nconnects++;
            *end_of(x, a.conn) = (hn_end){.used = true, .open = true};
            ev_push(n, (hn_ev){.t = n->now + HN_LATENCY,
                               .type = EV_CONNECT,
                               .node = x,
                               .conn = a.conn,
                               .addr = a.addr});
            break;
        case SH_ACT_CLOSE:
            act_close(n, x, &a);
            break;
        case SH_ACT_SEND:
            schedule_write(n, x, a.conn);
            break;
        case SH_ACT_VERIFY:
            act_verify(n, x, &a);
            break;
        case SH_ACT_COMPLETE:
            x->complete = true;
            x->complete_at = n->now;
            break;
        default:
            fail_msg("unknown action %d", a.type);
        }
    }
    if (x->complete && x->leave) {
        leave(n, x);
        return;
    }
    schedule_timer(n, x);
}

/* ---- events ---- */

static void link_ends(hn_node *a, sh_conn_id ca, hn_node *b, sh_conn_id cb)
{
    hn_end *ea = end_of(a, ca);
    hn_end *eb = end_of(b, cb);
    ea->peer = b;
    ea->peer_conn = cb;
    *eb = (hn_end){.used = true, .open = true, .peer = a, .peer_conn = ca};
    sh_wire_limits lim = {.max_block = 1u << 20, .max_msg = 8u << 20};
    sh_wire_dec_new(&lim, &ea->tapdec);
    sh_wire_dec_new(&lim, &eb->tapdec);
}

static void ev_connect(hn_net *n, hn_ev *e)
{
    hn_node *x = e->node;
    if (!end_of(x, e->conn)->open) return;
    hn_node *y = node_by_addr(n, &e->addr);
    if (y && y->gone) y = NULL; /* nobody listens there any more */
    sh_addr src = x->addr;
    src.port = x->next_port++;
    sh_conn_id cy = y ? sh_swarm_accept(y->sw, &src, n->now) : 0;
    if (y) drain(n, y);
    if (!cy) {
        ev_push(n, (hn_ev){.t = n->now + HN_LATENCY,
                           .type = EV_CLOSED,
                           .node = x,
                           .conn = e->conn,
                           .reason = SH_ECLOSED});
        return;
    }
    link_ends(x, e->conn, y, cy);
    sh_swarm_connected(x->sw, e->conn, n->now);
    drain(n, x);
}

static size_t chunk_size(hn_net *n, size_t avail)
{
    size_t cap = sh_rng_below(&n->rng, 8) == 0 ? 100 : 65536;
    if (cap > avail) cap = avail;
    return 1 + (size_t)sh_rng_below(&n->rng, cap);
}

static void materialize(hn_net *n, hn_node *x, const sh_seg *segs, size_t ns, uint8_t *out,
                        size_t want)
{
    size_t got = 0;
    for (size_t i = 0; i < ns && got < want; i++) {
        size_t take = segs[i].len < want - got ? segs[i].len : want - got;
        if (segs[i].kind == SH_SEG_BYTES) {
            memcpy(out + got, segs[i].ptr, take);
        } else {
            uint64_t off = (uint64_t)segs[i].piece * n->t->mi->piece_length + segs[i].offset;
            assert_true(off + take <= n->t->size);
            memcpy(out + got, x->mem + off, take);
            for (size_t k = 0; x->corrupt && k < take; k++)
                out[got + k] ^= 0xff;
        }
        got += take;
    }
}

static void deliver_later(hn_net *n, hn_end *e, sh_time t, uint8_t *buf, size_t len)
{
    if (t < e->last_arrival) t = e->last_arrival;
    e->last_arrival = t;
    ev_push(n, (hn_ev){.t = t,
                       .type = EV_DELIVER,
                       .node = e->peer,
                       .conn = e->peer_conn,
                       .raw = e->raw,
                       .data = buf,
                       .len = len});
}

static void ev_write(hn_net *n, hn_ev *ev)
{
    hn_node *x = ev->node;
    hn_end *e = end_of(x, ev->conn);
    if (!e->open) {
        e->writing = false;
        return;
    }
    if (n->now < x->up_free) {
        ev_push(n, (hn_ev){.t = x->up_free, .type = EV_WRITE, .node = x, .conn = ev->conn});
        return;
    }
    sh_seg segs[16];
    size_t ns = sh_swarm_out(x->sw, ev->conn, segs, 16), avail = 0;
    for (size_t i = 0; i < ns; i++)
        avail += segs[i].len;
    if (avail == 0) {
        e->writing = false;
        return;
    }
    size_t len = chunk_size(n, avail);
    uint8_t *buf = malloc(len);
    materialize(n, x, segs, ns, buf, len);
    sh_swarm_sent(x->sw, ev->conn, len, n->now);
    sh_time dur = (sh_time)((double)len * 1e9 / (double)x->up_bps) + 1;
    x->up_free = n->now + dur;
    deliver_later(n, e, x->up_free + HN_LATENCY, buf, len);
    ev_push(n, (hn_ev){.t = x->up_free, .type = EV_WRITE, .node = x, .conn = ev->conn});
    drain(n, x);
}

static void tap(hn_end *e, const uint8_t *p, size_t len)
{
    e->tap.bytes += len;
    size_t off = 0;
    while (e->tapdec) {
        size_t used;
        bool is_hs;
        sh_handshake hs;
        sh_msg m;
        int r = sh_wire_decode(e->tapdec, p + off, len - off, &used, &is_hs, &hs, &m, NULL);
        off += used;
        if (r < 0) {
            sh_wire_dec_free(e->tapdec);
            e->tapdec = NULL;
        }
        if (r <= 0) break;
        if (is_hs) continue;
        e->tap.msgs[m.id & 0xff]++;
        if (m.id == SH_MSG_REQUEST && m.length > e->tap.max_request) e->tap.max_request = m.length;
    }
}

static void raw_append(hn_raw *r, const uint8_t *p, size_t len)
{
    if (r->in_len + len > r->in_cap) {
        r->in_cap = (r->in_len + len) * 2;
        r->in = realloc(r->in, r->in_cap);
        assert_non_null(r->in);
    }
    memcpy(r->in + r->in_len, p, len);
    r->in_len += len;
}

static void ev_deliver(hn_net *n, hn_ev *e)
{
    if (!e->node) { /* towards a raw endpoint */
        raw_append(e->raw, e->data, e->len);
        return;
    }
    hn_end *en = end_of(e->node, e->conn);
    if (!en->open) return;
    tap(en, e->data, e->len);
    sh_swarm_recv(e->node->sw, e->conn, e->data, e->len, n->now);
    drain(n, e->node);
}

static void ev_closed(hn_net *n, hn_ev *e)
{
    hn_end *en = end_of(e->node, e->conn);
    if (!en->open) return;
    en->open = false;
    sh_swarm_closed(e->node->sw, e->conn, e->reason, n->now);
    drain(n, e->node);
}

static void ev_timer(hn_net *n, hn_ev *e)
{
    hn_node *x = e->node;
    if (e->t != x->timer_at || x->gone) return; /* superseded, or exited */
    x->timer_at = SH_TIME_NEVER;
    if (n->now >= sh_swarm_next_deadline(x->sw)) {
        sh_swarm_on_timer(x->sw, n->now);
        if (sh_swarm_next_deadline(x->sw) <= n->now) /* a real driver would busy-loop */
            fail_msg("node %u: deadline still due right after on_timer", x->idx);
    }
    drain(n, x);
}

static void dispatch(hn_net *n, hn_ev *e)
{
    switch (e->type) {
    case EV_TIMER:
        ev_timer(n, e);
        break;
    case EV_CONNECT:
        ev_connect(n, e);
        break;
    case EV_WRITE:
        ev_write(n, e);
        break;
    case EV_DELIVER:
        ev_deliver(n, e);
        break;
    case EV_CLOSED:
        ev_closed(n, e);
        break;
    case EV_VERIFIED:
        if (e->node->gone) break;
        sh_swarm_verified(e->node->sw, (uint32_t)e->conn, e->reason == 0, n->now);
        drain(n, e->node);
        break;
    }
    free(e->data);
}

bool hn_run(hn_net *n, hn_pred pred, void *ud, sh_time until)
{
    while (!(pred && pred(n, ud))) {
        if (n->nheap == 0 || n->heap[0].t > until) return pred ? pred(n, ud) : false;
        hn_ev e = ev_pop(n);
        n->now = e.t;
        dispatch(n, &e);
    }
    return true;
}

void hn_run_for(hn_net *n, sh_time dt)
{
    sh_time until = n->now + dt;
    hn_run(n, NULL, NULL, until);
    n->now = until;
}

bool hn_all_complete(hn_net *n, void *ud)
{
    (void)ud;
    for (uint32_t i = 0; i < n->nnodes; i++)
        if (!n->nodes[i]->complete && !sh_bitfield_full(sh_swarm_have(n->nodes[i]->sw)))
            return false;
    return true;
}

bool hn_complete(const hn_node *x)
{
    return x->complete;
}

bool hn_gone(const hn_node *x)
{
    return x->gone;
}

sh_time hn_complete_at(const hn_node *x)
{
    return x->complete_at;
}

bool hn_content_ok(const hn_node *x)
{
    return memcmp(x->mem, x->net->t->space, x->net->t->size) == 0;
}

uint32_t hn_verify_failures(const hn_node *x)
{
    return x->vfail;
}

uint32_t hn_closes(const hn_node *x, int reason)
{
    return reason < 0 && reason > -32 ? x->closes[-reason] : 0;
}

uint32_t hn_connects(const hn_node *x, const sh_time **times)
{
    if (times) *times = x->connects;
    return x->nconnects;
}

uint64_t hn_trace_digest(const hn_net *n)
{
    return n->trace;
}

void hn_tap_get(const hn_node *x, const hn_node *y, hn_tap *out)
{
    memset(out, 0, sizeof *out);
    for (size_t c = 0; c < x->nends; c++) {
        const hn_end *e = &x->ends[c];
        if (!e->used || e->peer != y) continue;
        for (int i = 0; i < 256; i++)
            out->msgs[i] += e->tap.msgs[i];
        if (e->tap.max_request > out->max_request) out->max_request = e->tap.max_request;
        out->bytes += e->tap.bytes;
    }
}

/* ---- raw endpoints ---- */

hn_raw *hn_raw_open(hn_net *n, hn_node *x, uint8_t ip_last)
{
    assert_true(n->nraws < 64);
    hn_raw *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->net = n;
    r->node = x;
    r->addr = (sh_addr){.family = 4, .ip = {127, 0, 0, ip_last}, .port = 50000};
    r->conn = sh_swarm_accept(x->sw, &r->addr, n->now);
    drain(n, x);
    if (!r->conn) {
        free(r);
        return NULL;
    }
    *end_of(x, r->conn) = (hn_end){.used = true, .open = true, .raw = r};
    sh_wire_limits lim = {.max_block = 1u << 20, .max_msg = 8u << 20};
    sh_wire_dec_new(&lim, &r->dec);
    n->raws[n->nraws++] = r;
    return r;
}

sh_conn_id hn_raw_conn(const hn_raw *r)
{
    return r->conn;
}

void hn_raw_send(hn_raw *r, const void *p, size_t len)
{
    hn_net *n = r->net;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, p, len);
    sh_time t = n->now + HN_LATENCY;
    if (t < r->last_arrival) t = r->last_arrival;
    r->last_arrival = t;
    ev_push(
        n,
        (hn_ev){
            .t = t, .type = EV_DELIVER, .node = r->node, .conn = r->conn, .data = buf, .len = len});
}

void hn_raw_handshake(hn_raw *r, uint32_t flags, const uint8_t peer_id[20])
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    uint8_t id[20];
    if (!peer_id) { /* one per endpoint: the node must not see two raws as one peer */
        snprintf((char *)id, sizeof id, "-XX0001-raw%03u%05u", r->addr.ip[3], (unsigned)r->conn);
        id[19] = 'r';
        peer_id = id;
    }
    sh_wire_put_handshake(&b, flags, sh_metainfo_wire_hash(r->net->t->mi), peer_id);
    hn_raw_send(r, b.data, b.len);
    sh_bbuf_free(&b);
}

void hn_raw_close(hn_raw *r)
{
    ev_push(r->net, (hn_ev){.t = r->net->now + HN_LATENCY,
                            .type = EV_CLOSED,
                            .node = r->node,
                            .conn = r->conn,
                            .reason = SH_ECLOSED});
}

bool hn_raw_closed(const hn_raw *r, int *reason)
{
    if (r->closed && reason) *reason = r->reason;
    return r->closed;
}

int hn_raw_next(hn_raw *r, bool *is_hs, sh_handshake *hs, sh_msg *m)
{
    if (r->in_pos == r->in_len) return 0;
    size_t used;
    int rc =
        sh_wire_decode(r->dec, r->in + r->in_pos, r->in_len - r->in_pos, &used, is_hs, hs, m, NULL);
    r->in_pos += used;
    assert_true(rc >= 0);
    return rc;
}
