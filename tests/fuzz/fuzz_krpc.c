/*
 * fuzz_krpc.c — the KRPC codec and a live DHT node on arbitrary bytes.
 *
 * 1. The whole input is decoded as one datagram. A valid message must obey
 *    the codec's bounds, and re-encoding then re-decoding it must give the
 *    same message.
 * 2. The same input is then read as a script for one sh_dht node (seeded, so
 *    a crash replays), a sequence of operations, each an opcode byte:
 *      op & 7 in 0..2  raw datagram: 2-byte length, bytes; from address op >> 3 & 3
 *      3               a well-formed answer to the oldest query the node sent,
 *                      from the right address with the right tid, its id,
 *                      nodes, values and token taken from the input
 *      4               time passes: 1 byte × 10 ms, then the timer if due
 *      5               a search: 20-byte info-hash, announce flag
 *      6               bootstrap through address op >> 3 & 3
 *      7               load: 2-byte length, bytes as a saved state
 *    After every operation all actions are drained, and the node's table,
 *    store and queue must stay within their bounds.
 */
#include <shoal/dht.h>
#include <shoal/krpc.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

#define MAX_STORED 64u

/* ---- 1: the codec ---------------------------------------------------------------- */

static void same_span(sh_span a, sh_span b)
{
    CHECK(a.len == b.len);
    CHECK(a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void same_msg(const sh_krpc_msg *a, const sh_krpc_msg *b)
{
    CHECK(a->kind == b->kind && a->method == b->method);
    CHECK(a->tid_len == b->tid_len && memcmp(a->tid, b->tid, a->tid_len) == 0);
    CHECK(a->read_only == b->read_only);
    CHECK(memcmp(a->id, b->id, 20) == 0 && memcmp(a->target, b->target, 20) == 0);
    CHECK(a->port == b->port && a->implied_port == b->implied_port);
    CHECK(a->has_token == b->has_token && a->token_len == b->token_len);
    CHECK(memcmp(a->token, b->token, a->token_len) == 0);
    same_span(a->nodes, b->nodes);
    same_span(a->nodes6, b->nodes6);
    CHECK(a->has_values == b->has_values && a->num_values == b->num_values);
    for (uint32_t i = 0; i < a->num_values; i++)
        CHECK(sh_addr_eq(&a->values[i], &b->values[i]));
    CHECK(a->err_code == b->err_code);
    same_span(a->err_msg, b->err_msg);
}

static bool inside(sh_span s, const uint8_t *buf, size_t len)
{
    return s.len == 0 || (s.ptr >= buf && s.len <= len && s.ptr - buf <= (ptrdiff_t)(len - s.len));
}

static void codec(const uint8_t *data, size_t size)
{
    static sh_krpc_msg m, again;
    int rc = sh_krpc_decode(data, size, &m, NULL);
    if (rc != 0) {
        CHECK(rc == SH_EKRPC);
        CHECK(m.tid_len <= SH_KRPC_MAX_TID);
        CHECK(!m.answerable || m.kind == SH_KRPC_QUERY);
        return;
    }
    CHECK(m.kind >= SH_KRPC_QUERY && m.kind <= SH_KRPC_ERROR);
    CHECK(m.tid_len <= SH_KRPC_MAX_TID && m.token_len <= SH_KRPC_MAX_TOKEN);
    CHECK(m.num_values <= SH_KRPC_MAX_VALUES);
    CHECK(m.nodes.len % SH_KRPC_NODE4_LEN == 0 && m.nodes6.len % SH_KRPC_NODE6_LEN == 0);
    CHECK(inside(m.nodes, data, size) && inside(m.nodes6, data, size));
    CHECK(inside(m.err_msg, data, size));
    if (m.kind == SH_KRPC_QUERY && m.method == SH_KRPC_ANNOUNCE_PEER && !m.implied_port)
        CHECK(m.port >= 1);
    sh_bbuf b;
    sh_bbuf_init(&b);
    rc = sh_krpc_encode(&b, &m);
    if (m.kind == SH_KRPC_QUERY && m.method == SH_KRPC_UNKNOWN) {
        CHECK(rc == SH_EINVAL); /* we never send methods we do not know */
    } else {
        CHECK(rc == 0 && b.err == 0);
        CHECK(sh_krpc_decode(b.data, b.len, &again, NULL) == 0);
        same_msg(&m, &again);
    }
    sh_bbuf_free(&b);
}

/* ---- 2: a live node --------------------------------------------------------------- */

typedef struct outq {
    sh_addr to;
    uint8_t tid[SH_KRPC_MAX_TID];
    uint8_t tid_len;
} outq;

typedef struct live {
    sh_dht *d;
    sh_time now;
    outq q[64]; /* queries the node sent, oldest first */
    uint32_t nq;
} live;

static sh_addr peer_addr(int k)
{
    sh_addr a = {.family = 4, .ip = {10, 0, 0, (uint8_t)(1 + k)}, .port = (uint16_t)(6881 + k)};
    return a;
}

static void drain(live *L)
{
    sh_dht_action a;
    uint32_t n = 0;
    while (sh_dht_next_action(L->d, &a)) {
        n++;
        CHECK(n <= 8192 + 16);
        if (a.type == SH_DHT_PEERS) {
            CHECK(a.num_peers > 0 && a.peers != NULL);
            for (uint32_t i = 0; i < a.num_peers; i++)
                CHECK(a.peers[i].port != 0);
            continue;
        }
        if (a.type != SH_DHT_SEND) {
            CHECK(a.type == SH_DHT_SEARCH_DONE);
            continue;
        }
        CHECK(a.len > 0 && a.len < 2048 && a.data != NULL);
        static sh_krpc_msg m;
        CHECK(sh_krpc_decode(a.data, a.len, &m, NULL) == 0); /* we only send valid KRPC */
        if (m.kind != SH_KRPC_QUERY) continue;
        if (L->nq == 64) {
            memmove(L->q, L->q + 1, 63 * sizeof L->q[0]);
            L->nq--;
        }
        outq *o = &L->q[L->nq++];
        o->to = a.addr;
        o->tid_len = m.tid_len;
        memcpy(o->tid, m.tid, m.tid_len);
    }
    sh_dht_stats st;
    sh_dht_stats_get(L->d, &st);
    CHECK(st.good + st.dubious <= 160 * 8);
    CHECK(st.buckets >= 1 && st.buckets <= 160);
    CHECK(st.stored_peers <= MAX_STORED);
    CHECK(st.searches <= 64);
}

/* Takes up to n bytes of the script. */
static size_t take(const uint8_t **p, size_t *left, size_t n, const uint8_t **out)
{
    if (n > *left) n = *left;
    *out = *p;
    *p += n;
    *left -= n;
    return n;
}

static size_t take_len(const uint8_t **p, size_t *left)
{
    const uint8_t *b;
    if (take(p, left, 2, &b) < 2) return 0;
    return (size_t)b[0] | (size_t)b[1] << 8;
}

static void answer(live *L, const uint8_t **p, size_t *left)
{
    if (!L->nq) return;
    outq o = L->q[0];
    memmove(L->q, L->q + 1, (L->nq - 1) * sizeof L->q[0]);
    L->nq--;
    const uint8_t *b;
    if (take(p, left, 24, &b) < 24) return;
    static sh_krpc_msg r;
    memset(&r, 0, sizeof r);
    r.kind = SH_KRPC_RESPONSE;
    memcpy(r.tid, o.tid, o.tid_len);
    r.tid_len = o.tid_len;
    memcpy(r.id, b, 20);
    uint8_t nn = b[20] % 9, nv = b[21] % 9, tl = b[22] % 20, flags = b[23];
    uint8_t nodes[8 * SH_KRPC_NODE4_LEN];
    const uint8_t *nb;
    size_t got = take(p, left, (size_t)nn * SH_KRPC_NODE4_LEN, &nb);
    memcpy(nodes, nb, got - got % SH_KRPC_NODE4_LEN);
    r.nodes = (sh_span){nodes, got - got % SH_KRPC_NODE4_LEN};
    for (uint8_t i = 0; i < nv; i++) {
        const uint8_t *v;
        if (take(p, left, 6, &v) < 6) break;
        sh_addr_from_compact(v, 6, &r.values[r.num_values++]);
    }
    r.has_values = flags & 1;
    if (!r.has_values) r.num_values = 0;
    const uint8_t *t;
    r.has_token = flags & 2;
    r.token_len = (uint8_t)take(p, left, tl, &t);
    memcpy(r.token, t, r.token_len);
    sh_bbuf out;
    sh_bbuf_init(&out);
    CHECK(sh_krpc_encode(&out, &r) == 0);
    sh_dht_recv(L->d, &o.to, out.data, out.len, L->now);
    sh_bbuf_free(&out);
}

static void step(live *L, uint8_t op, const uint8_t **p, size_t *left)
{
    const uint8_t *b;
    sh_addr from = peer_addr(op >> 3 & 3);
    switch (op & 7) {
    case 0:
    case 1:
    case 2: {
        size_t n = take(p, left, take_len(p, left), &b);
        uint8_t *copy = malloc(n ? n : 1); /* its own allocation: exact bounds for ASan */
        CHECK(copy != NULL);
        if (n) memcpy(copy, b, n);
        sh_dht_recv(L->d, &from, copy, n, L->now);
        free(copy);
        break;
    }
    case 3:
        answer(L, p, left);
        break;
    case 4:
        if (take(p, left, 1, &b) == 1) L->now += (sh_time)b[0] * SH_MS(10);
        if (L->now >= sh_dht_next_deadline(L->d)) sh_dht_on_timer(L->d, L->now);
        break;
    case 5: {
        uint8_t ih[20] = {0};
        size_t n = take(p, left, 20, &b);
        memcpy(ih, b, n);
        sh_dht_search(L->d, ih, (op & 8) ? 6881 : 0, L->now);
        break;
    }
    case 6:
        sh_dht_bootstrap(L->d, &from, L->now);
        break;
    default: {
        size_t n = take(p, left, take_len(p, left), &b);
        uint8_t *copy = malloc(n ? n : 1);
        CHECK(copy != NULL);
        if (n) memcpy(copy, b, n);
        sh_dht_load(L->d, copy, n, L->now, NULL);
        free(copy);
        break;
    }
    }
    drain(L);
}

static void node_script(const uint8_t *data, size_t size)
{
    sh_dht_config c;
    memset(&c, 0, sizeof c);
    memcpy(c.node_id, "fuzz-node-id-0000001", 20);
    c.family = 4;
    c.seed = 1;
    c.max_peers_stored = MAX_STORED;
    live L;
    memset(&L, 0, sizeof L);
    L.now = SH_SEC(1);
    CHECK(sh_dht_new(&c, L.now, &L.d) == 0);
    const uint8_t *p = data;
    size_t left = size;
    for (int ops = 0; left > 0 && ops < 4096; ops++) {
        const uint8_t *op;
        take(&p, &left, 1, &op);
        step(&L, op[0], &p, &left);
    }
    /* an honest ping is still answered */
    const char ping[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:hh1:y1:qe";
    sh_addr honest = {.family = 4, .ip = {10, 9, 9, 9}, .port = 9};
    L.now += SH_SEC(2);
    sh_dht_recv(L.d, &honest, (const uint8_t *)ping, sizeof ping - 1, L.now);
    sh_dht_action a;
    bool answered = false;
    while (sh_dht_next_action(L.d, &a))
        answered |= a.type == SH_DHT_SEND && sh_addr_eq(&a.addr, &honest);
    CHECK(answered);
    sh_bbuf s;
    sh_bbuf_init(&s);
    sh_dht_save(L.d, &s);
    CHECK(s.err == 0 && sh_dht_load(L.d, s.data, s.len, L.now, NULL) == 0);
    sh_bbuf_free(&s);
    sh_dht_free(L.d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact bounds for ASan */
    CHECK(copy != NULL);
    if (size) memcpy(copy, data, size);
    codec(copy, size);
    free(copy);
    node_script(data, size);
    return 0;
}
