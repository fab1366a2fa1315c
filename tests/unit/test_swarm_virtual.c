/*
 * test_swarm_virtual.c — swarms in virtual-payload mode (the simulator's
 * mode): piece messages travel without their block bytes, downloads copy
 * nothing and allocate no piece buffers, SH_ACT_VERIFY carries NULL.
 *
 * A tiny network of its own moves bytes instantly: SH_SEG_BYTES segments
 * are delivered, SH_SEG_BLOCK segments are only counted (exactly what
 * shoal-sim does, minus bandwidth and latency). When nothing moves, the
 * clock jumps to the earliest swarm deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/bencode.h>
#include <shoal/swarm.h>
#include <shoal/wire.h>

#include "core/assembly.h"
#include "swarm_harness.h"

#define KIB 1024u
#define MAXN 6
#define MAXC 64

typedef struct vend {
    int node; /* far side */
    sh_conn_id far;
    bool open;
    uint8_t *in; /* bytes waiting to be delivered to this side */
    size_t in_len, in_cap;
} vend;

typedef struct vnode {
    sh_swarm *sw;
    sh_addr addr;
    vend ends[MAXC]; /* by conn id */
    bool complete;
    uint32_t verifies, null_verifies, fail_next; /* fail_next: piece index + 1 */
    uint64_t block_bytes_sent, wire_bytes_sent;
} vnode;

typedef struct vnet {
    vnode n[MAXN];
    int count;
    sh_time now;
    const sh_metainfo *mi;
} vnet;

static int node_of(vnet *v, const sh_addr *a)
{
    for (int i = 0; i < v->count; i++)
        if (sh_addr_eq(&v->n[i].addr, a)) return i;
    return -1;
}

static void append(vend *e, const uint8_t *p, size_t len)
{
    if (e->in_len + len > e->in_cap) {
        e->in_cap = (e->in_len + len) * 2;
        e->in = realloc(e->in, e->in_cap);
        assert_non_null(e->in);
    }
    memcpy(e->in + e->in_len, p, len);
    e->in_len += len;
}

static void drain(vnet *v, int i);

static void do_connect(vnet *v, int i, const sh_action *a)
{
    assert_true(a->conn < MAXC);
    int j = node_of(v, &a->addr);
    sh_addr src = v->n[i].addr;
    src.port = (uint16_t)(40000 + a->conn);
    sh_conn_id cj = j >= 0 ? sh_swarm_accept(v->n[j].sw, &src, v->now) : 0;
    if (!cj) {
        sh_swarm_closed(v->n[i].sw, a->conn, SH_ECLOSED, v->now);
        return;
    }
    assert_true(cj < MAXC);
    v->n[i].ends[a->conn] = (vend){.node = j, .far = cj, .open = true};
    v->n[j].ends[cj] = (vend){.node = i, .far = a->conn, .open = true};
    sh_swarm_connected(v->n[i].sw, a->conn, v->now);
    drain(v, j);
}

static void do_close(vnet *v, int i, const sh_action *a)
{
    vend *e = &v->n[i].ends[a->conn];
    sh_swarm_closed(v->n[i].sw, a->conn, a->reason, v->now);
    if (!e->open) return;
    e->open = false;
    vend *f = &v->n[e->node].ends[e->far];
    if (!f->open) return;
    f->open = false;
    sh_swarm_closed(v->n[e->node].sw, e->far, SH_ECLOSED, v->now);
    drain(v, e->node);
}

static void do_verify(vnet *v, int i, const sh_action *a)
{
    vnode *x = &v->n[i];
    x->verifies++;
    x->null_verifies += a->data == NULL;
    assert_int_equal(a->len, sh_metainfo_piece_size(v->mi, a->piece));
    bool ok = x->fail_next != a->piece + 1;
    if (!ok) x->fail_next = 0;
    sh_swarm_verified(x->sw, a->piece, ok, v->now);
}

static void drain(vnet *v, int i)
{
    sh_action a;
    while (sh_swarm_next_action(v->n[i].sw, &a)) {
        switch (a.type) {
        case SH_ACT_CONNECT:
            do_connect(v, i, &a);
            break;
        case SH_ACT_CLOSE:
            do_close(v, i, &a);
            break;
        case SH_ACT_VERIFY:
            do_verify(v, i, &a);
            break;
        case SH_ACT_COMPLETE:
            v->n[i].complete = true;
            break;
        default: /* SEND: the pump pulls every open connection anyway */
            break;
        }
    }
}

/* Moves node i's pending output on conn c to the far side's inbox. */
static bool pull(vnet *v, int i, sh_conn_id c)
{
    vnode *x = &v->n[i];
    vend *e = &x->ends[c];
    sh_seg segs[8];
    size_t ns = sh_swarm_out(x->sw, c, segs, 8), total = 0;
    if (ns == 0 || !e->open) return false;
    vend *f = &v->n[e->node].ends[e->far];
    for (size_t k = 0; k < ns; k++) {
        if (segs[k].kind == SH_SEG_BYTES)
            append(f, segs[k].ptr, segs[k].len);
        else
            x->block_bytes_sent += segs[k].len; /* counted, never delivered */
        total += segs[k].len;
    }
    x->wire_bytes_sent += total;
    sh_swarm_sent(x->sw, c, total, v->now);
    drain(v, i);
    return true;
}

static bool push_in(vnet *v, int i, sh_conn_id c)
{
    vend *e = &v->n[i].ends[c];
    if (!e->open || e->in_len == 0) return false;
    size_t len = e->in_len;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, e->in, len);
    e->in_len = 0;
    sh_swarm_recv(v->n[i].sw, c, buf, len, v->now);
    free(buf);
    drain(v, i);
    return true;
}

static bool step(vnet *v)
{
    bool moved = false;
    for (int i = 0; i < v->count; i++)
        for (sh_conn_id c = 1; c < MAXC; c++)
            moved |= pull(v, i, c) | push_in(v, i, c);
    return moved;
}

static bool all_complete(const vnet *v, int from)
{
    for (int i = from; i < v->count; i++)
        if (!v->n[i].complete) return false;
    return true;
}

static void run(vnet *v, sh_time until)
{
    while (!all_complete(v, 1) && v->now < until) {
        if (step(v)) continue;
        sh_time t = SH_TIME_NEVER;
        for (int i = 0; i < v->count; i++) {
            sh_time d = sh_swarm_next_deadline(v->n[i].sw);
            if (d < t) t = d;
        }
        if (t == SH_TIME_NEVER) return;
        v->now = t > v->now ? t : v->now + 1;
        for (int i = 0; i < v->count; i++) {
            if (sh_swarm_next_deadline(v->n[i].sw) > v->now) continue;
            sh_swarm_on_timer(v->n[i].sw, v->now);
            drain(v, i);
        }
    }
}

static void add_node(vnet *v, const hn_torrent *t, bool seed)
{
    int i = v->count++;
    v->mi = t->mi;
    vnode *x = &v->n[i];
    memset(x, 0, sizeof *x);
    x->addr = (sh_addr){.family = 4, .ip = {10, 0, 0, (uint8_t)(i + 1)}, .port = 6881};
    sh_bitfield have;
    assert_int_equal(sh_bitfield_init(&have, t->mi->num_pieces), 0);
    if (seed) sh_bitfield_set_all(&have);
    sh_swarm_config cfg = {
        .mi = t->mi,
        .have = &have,
        .listen_port = 6881,
        .max_block = 64 * KIB,
        .rng_seed = 100u + (uint64_t)i,
        .virtual_payload = true,
    };
    memcpy(cfg.peer_id, "-SH0001-virtual00000", 20);
    cfg.peer_id[19] = (uint8_t)('a' + i);
    assert_int_equal(sh_swarm_new(&cfg, v->now, &x->sw), 0);
    sh_bitfield_free(&have);
    drain(v, i);
}

static void net_free(vnet *v)
{
    for (int i = 0; i < v->count; i++) {
        sh_swarm_free(v->n[i].sw);
        for (int c = 0; c < MAXC; c++)
            free(v->n[i].ends[c].in);
    }
}

static void make(hn_torrent *t, uint64_t size, uint64_t plen)
{
    uint64_t files[1] = {size};
    assert_int_equal(hn_torrent_make(t, SH_META_V1, plen, files, 1, 9), 0);
}

/* One seed, one leecher: every block crosses exactly once, as a reference. */
static void test_virtual_seed_to_leecher(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 300 * KIB + 123, 64 * KIB);
    vnet *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->now = SH_SEC(1000);
    add_node(v, &t, true);
    add_node(v, &t, false);
    sh_swarm_add_peer(v->n[1].sw, &v->n[0].addr, SH_SRC_TRACKER, v->now);
    drain(v, 1);
    run(v, v->now + SH_SEC(60));
    assert_true(v->n[1].complete);
    assert_int_equal(v->n[1].verifies, t.mi->num_pieces);
    assert_int_equal(v->n[1].null_verifies, t.mi->num_pieces);
    assert_int_equal(v->n[0].block_bytes_sent, t.size);
    sh_swarm_stats s;
    sh_swarm_get_stats(v->n[1].sw, &s);
    assert_true(s.complete);
    assert_int_equal(s.payload_down, t.size);
    assert_int_equal(s.wasted, 0);
    assert_int_equal(s.left, 0);
    sh_swarm_get_stats(v->n[0].sw, &s);
    assert_int_equal(s.payload_up, t.size);
    /* protocol bytes only on the wire: far less than the payload */
    assert_true(v->n[0].wire_bytes_sent - v->n[0].block_bytes_sent < 2 * KIB);
    net_free(v);
    free(v);
    hn_torrent_free(&t);
}

/* A seed and four leechers trade; leecher 1's first check of piece 2 fails
 * (a simulated corruption): it bans the seed, the only contributor, and
 * still completes from the other leechers. */
static void test_virtual_trade_and_corruption(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 1024 * KIB + 5, 32 * KIB);
    vnet *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->now = SH_SEC(1000);
    for (int i = 0; i < 5; i++)
        add_node(v, &t, i == 0);
    v->n[1].fail_next = 2 + 1;
    for (int i = 1; i < 5; i++)
        for (int j = 0; j < i; j++) {
            sh_swarm_add_peer(v->n[i].sw, &v->n[j].addr, SH_SRC_TRACKER, v->now);
            drain(v, i);
        }
    run(v, v->now + SH_SEC(600));
    assert_true(all_complete(v, 1));
    uint64_t up = 0;
    for (int i = 1; i < 5; i++) {
        sh_swarm_stats s;
        sh_swarm_get_stats(v->n[i].sw, &s);
        assert_int_equal(v->n[i].verifies, t.mi->num_pieces + (i == 1));
        assert_int_equal(v->n[i].null_verifies, v->n[i].verifies);
        assert_int_equal(s.hash_failures, i == 1);
        assert_int_equal(s.banned, i == 1);
        assert_int_equal(s.left, 0);
        up += s.payload_up;
    }
    assert_true(up > 0); /* the leechers served each other */
    net_free(v);
    free(v);
    hn_torrent_free(&t);
}

/* Hostile: a virtual piece message for a block never requested still closes. */
static void test_virtual_unrequested_piece(void **st)
{
    (void)st;
    hn_torrent t;
    make(&t, 100 * KIB, 32 * KIB);
    vnet *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->now = SH_SEC(1000);
    add_node(v, &t, false);
    sh_addr from = {.family = 4, .ip = {10, 9, 9, 9}, .port = 50000};
    sh_conn_id c = sh_swarm_accept(v->n[0].sw, &from, v->now);
    assert_true(c > 0);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_wire_put_handshake(&b, SH_RSV_FAST, sh_metainfo_wire_hash(t.mi),
                          (const uint8_t *)"-XX0001-hostile00000");
    sh_wire_put_simple(&b, SH_MSG_HAVE_ALL);
    sh_wire_put_piece_header(&b, 0, 0, 16 * KIB); /* no block bytes: virtual */
    assert_int_equal(sh_swarm_recv(v->n[0].sw, c, b.data, b.len, v->now), SH_EPROTO);
    sh_action a;
    bool closed = false;
    while (sh_swarm_next_action(v->n[0].sw, &a))
        if (a.type == SH_ACT_CLOSE && a.conn == c) closed = a.reason == SH_EPROTO;
    assert_true(closed);
    sh_swarm_stats s;
    sh_swarm_get_stats(v->n[0].sw, &s);
    assert_int_equal(s.payload_down, 0);
    sh_bbuf_free(&b);
    net_free(v);
    free(v);
    hn_torrent_free(&t);
}

/* The assembly of a virtual swarm holds no buffers: a block "write" records
 * only who sent it; bounds are still checked. */
static void test_virtual_assembly_has_no_buffers(void **st)
{
    (void)st;
    sh_assembly a;
    sh_asm_init(&a);
    a.no_buffers = true;
    sh_asm_piece *p = sh_asm_get(&a, 7, 4u << 20);
    assert_non_null(p);
    assert_null(p->buf);
    assert_int_equal(p->len, 4u << 20);
    sh_addr from = {.family = 4, .ip = {10, 0, 0, 9}, .port = 1};
    assert_int_equal(sh_asm_write(p, 0, NULL, 512 * KIB, &from), 0);
    assert_int_equal(sh_asm_write(p, (4u << 20) - 1, NULL, 2, &from), SH_ERANGE);
    assert_int_equal(p->ncontrib, 1);
    assert_ptr_equal(sh_asm_get(&a, 7, 4u << 20), p); /* found again, still no buffer */
    sh_asm_drop(&a, 7);
    assert_null(sh_asm_find(&a, 7));
    sh_asm_free(&a);

    sh_asm_init(&a); /* the ordinary mode still copies */
    p = sh_asm_get(&a, 1, 8);
    assert_non_null(p->buf);
    assert_int_equal(sh_asm_write(p, 2, (const uint8_t *)"abc", 3, NULL), 0);
    assert_memory_equal(p->buf + 2, "abc", 3);
    sh_asm_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtual_seed_to_leecher),
        cmocka_unit_test(test_virtual_trade_and_corruption),
        cmocka_unit_test(test_virtual_unrequested_piece),
        cmocka_unit_test(test_virtual_assembly_has_no_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
