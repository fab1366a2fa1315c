/*
 * test_dht_node.c — one DHT node driven datagram by datagram: tokens, the
 * per-IP rate limit, hostile input, response matching, read-only mode, an
 * IPv6 node, search limits and configuration. (Many nodes together:
 * test_dht.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/dht.h>
#include <shoal/krpc.h>
#include <shoal/rng.h>

#define T0 SH_SEC(100)
#define ANNOUNCE_PORT 7000

static sh_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    sh_addr x = {.family = 4, .ip = {a, b, c, d}, .port = port};
    return x;
}

static sh_dht *node(uint64_t seed, uint32_t rate, bool ro)
{
    sh_dht_config c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 20; i++)
        c.node_id[i] = (uint8_t)(seed * 31 + (uint64_t)i * 7);
    c.family = 4;
    c.seed = seed;
    c.query_rate = rate;
    c.read_only = ro;
    sh_dht *d = NULL;
    assert_int_equal(sh_dht_new(&c, T0, &d), 0);
    return d;
}

/* What a node sent: the datagrams, copied. */
typedef struct sent {
    uint32_t n;
    sh_addr to[64];
    uint8_t *p[64];
    size_t len[64];
    uint32_t other; /* non-send actions */
    uint64_t total;
} sent;

static void sent_clear(sent *s)
{
    for (uint32_t i = 0; i < s->n && i < 64; i++)
        free(s->p[i]);
    memset(s, 0, sizeof *s);
}

static void drain(sh_dht *d, sent *s)
{
    sent_clear(s);
    sh_dht_action a;
    while (sh_dht_next_action(d, &a)) {
        if (a.type != SH_DHT_SEND) {
            s->other++;
            continue;
        }
        s->total++;
        if (s->n < 64) {
            s->to[s->n] = a.addr;
            s->p[s->n] = malloc(a.len);
            assert_non_null(s->p[s->n]);
            memcpy(s->p[s->n], a.data, a.len);
            s->len[s->n] = a.len;
        }
        s->n++;
    }
}

static void send_msg(sh_dht *d, const sh_addr *from, const sh_krpc_msg *m, sh_time now)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    assert_int_equal(sh_krpc_encode(&b, m), 0);
    sh_dht_recv(d, from, b.data, b.len, now);
    sh_bbuf_free(&b);
}

/* Sends q from `from`; returns the single answer decoded into *r (its spans into *keep). */
static bool ask(sh_dht *d, const sh_addr *from, const sh_krpc_msg *q, sh_time now, sh_krpc_msg *r,
                sent *keep)
{
    send_msg(d, from, q, now);
    drain(d, keep);
    for (uint32_t i = 0; i < keep->n && i < 64; i++) {
        if (!sh_addr_eq(&keep->to[i], from)) continue;
        assert_int_equal(sh_krpc_decode(keep->p[i], keep->len[i], r, NULL), 0);
        assert_int_equal(r->tid_len, q->tid_len);
        assert_memory_equal(r->tid, q->tid, q->tid_len);
        return true;
    }
    return false;
}

static sh_krpc_msg *query(sh_krpc_method m, const char *tid)
{
    sh_krpc_msg *q = calloc(1, sizeof *q);
    assert_non_null(q);
    q->kind = SH_KRPC_QUERY;
    q->method = m;
    q->tid_len = (uint8_t)strlen(tid);
    memcpy(q->tid, tid, q->tid_len);
    memset(q->id, 0xAB, 20);
    memset(q->target, 0x42, 20);
    return q;
}

static void test_tokens(void **st)
{
    (void)st;
    sh_dht *d = node(1, 0, false);
    sh_krpc_msg *r = calloc(1, sizeof *r), *gp = query(SH_KRPC_GET_PEERS, "g1"),
                *an = query(SH_KRPC_ANNOUNCE_PEER, "a1");
    sent s = {0};
    sh_addr c1 = v4(10, 0, 0, 1, 5000), c2 = v4(10, 0, 0, 2, 5000);
    assert_true(ask(d, &c1, gp, T0, r, &s));
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    assert_memory_equal(r->id, sh_dht_id(d), 20);
    assert_true(r->has_token);
    assert_false(r->has_values);
    uint8_t tok[SH_KRPC_MAX_TOKEN];
    uint8_t tlen = r->token_len;
    assert_true(tlen > 0);
    memcpy(tok, r->token, tlen);

    an->port = ANNOUNCE_PORT;
    an->has_token = true;
    an->token_len = tlen;
    memcpy(an->token, tok, tlen);
    an->token[0] ^= 1; /* forged */
    assert_true(ask(d, &c1, an, T0 + SH_SEC(1), r, &s));
    assert_int_equal(r->kind, SH_KRPC_ERROR);
    assert_int_equal(r->err_code, 203);
    an->token[0] ^= 1;
    assert_true(ask(d, &c2, an, T0 + SH_SEC(1), r, &s)); /* another IP's token */
    assert_int_equal(r->kind, SH_KRPC_ERROR);
    assert_int_equal(r->err_code, 203);
    sh_dht_stats stt;
    sh_dht_stats_get(d, &stt);
    assert_int_equal(stt.stored_peers, 0);
    assert_true(ask(d, &c1, an, T0 + SH_SEC(2), r, &s));
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    assert_memory_equal(r->id, sh_dht_id(d), 20);
    sh_dht_stats_get(d, &stt);
    assert_int_equal(stt.stored_peers, 1);
    assert_int_equal(stt.stored_hashes, 1);
    /* anyone asking now gets the peer, with the announced port */
    assert_true(ask(d, &c2, gp, T0 + SH_SEC(3), r, &s));
    assert_int_equal(r->num_values, 1);
    sh_addr want = v4(10, 0, 0, 1, ANNOUNCE_PORT);
    assert_true(sh_addr_eq(&r->values[0], &want));

    /* the next 5-minute period still honours the token; the one after does not */
    an->port = 7001;
    assert_true(ask(d, &c1, an, T0 + SH_SEC(301), r, &s));
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    assert_true(ask(d, &c1, an, T0 + SH_SEC(601), r, &s));
    assert_int_equal(r->kind, SH_KRPC_ERROR);
    /* a fresh token (period 2) and implied_port: the source port is stored */
    assert_true(ask(d, &c1, gp, T0 + SH_SEC(602), r, &s));
    memcpy(an->token, r->token, r->token_len);
    an->token_len = r->token_len;
    an->implied_port = true;
    an->port = 1;
    assert_true(ask(d, &c1, an, T0 + SH_SEC(603), r, &s));
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    assert_true(ask(d, &c2, gp, T0 + SH_SEC(604), r, &s));
    bool implied = false;
    for (uint32_t i = 0; i < r->num_values; i++)
        implied |= sh_addr_eq(&r->values[i], &c1);
    assert_true(implied);
    sent_clear(&s);
    free(r);
    free(gp);
    free(an);
    sh_dht_free(d);
}

/* Many announcers: an answer carries 50 random ones and stays well inside one datagram. */
static void test_values_answer(void **st)
{
    (void)st;
    sh_dht *d = node(8, 0, false);
    sh_krpc_msg *gp = query(SH_KRPC_GET_PEERS, "g1"), *an = query(SH_KRPC_ANNOUNCE_PEER, "a1");
    sh_krpc_msg *r = calloc(1, sizeof *r);
    sent s = {0};
    for (int i = 0; i < 120; i++) {
        sh_addr c = v4(10, 8, 0, (uint8_t)(i + 1), 6000);
        assert_true(ask(d, &c, gp, T0, r, &s));
        an->has_token = true;
        an->token_len = r->token_len;
        memcpy(an->token, r->token, r->token_len);
        an->port = (uint16_t)(7000 + i);
        assert_true(ask(d, &c, an, T0, r, &s));
        assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    }
    sh_addr asker = v4(10, 8, 1, 1, 6000);
    assert_true(ask(d, &asker, gp, T0 + 1, r, &s));
    assert_int_equal(r->num_values, 50);
    assert_true(s.len[0] < 1000);
    for (uint32_t i = 0; i < r->num_values; i++) {
        assert_int_equal(r->values[i].ip[1], 8);
        assert_int_equal(r->values[i].port, 7000 + r->values[i].ip[3] - 1);
        for (uint32_t j = 0; j < i; j++)
            assert_false(sh_addr_eq(&r->values[i], &r->values[j]));
    }
    /* the announcers also landed in the table, so nodes come along with the values */
    assert_true(r->nodes.len > 0 && r->nodes.len % 26 == 0);
    sent_clear(&s);
    free(gp);
    free(an);
    free(r);
    sh_dht_free(d);
}

static void test_rate_limit(void **st)
{
    (void)st;
    sh_dht *d = node(2, 0, false);
    sh_krpc_msg *ping = query(SH_KRPC_PING, "pp"), *r = calloc(1, sizeof *r);
    sent s = {0};
    sh_addr x = v4(10, 9, 9, 9, 1234), y = v4(10, 9, 9, 10, 1234);
    uint32_t to_x = 0;
    bool y_answered = false;
    for (int i = 0; i < 10000; i++) {
        sh_time t = T0 + (sh_time)i * 100000; /* every 100 us: 10 000 in one second */
        send_msg(d, &x, ping, t);
        drain(d, &s);
        to_x += s.n;
        if (i == 5000) y_answered = ask(d, &y, ping, t, r, &s);
    }
    printf("# flood: %u of 10000 pings from one address answered\n", to_x);
    assert_true(to_x >= 50 && to_x <= 101); /* the burst of 50, then 50 per second */
    assert_true(y_answered);
    sh_dht_stats stt;
    sh_dht_stats_get(d, &stt);
    assert_true(stt.in_dropped >= 9899);
    assert_int_equal(stt.in_queries, to_x + 1);
    /* the flooder is welcome again a second later */
    assert_true(ask(d, &x, ping, T0 + SH_SEC(3), r, &s));
    sent_clear(&s);
    free(ping);
    free(r);
    sh_dht_free(d);
}

/* An honest ping still gets its answer. */
static void still_answers(sh_dht *d, sh_time now)
{
    sh_krpc_msg *ping = query(SH_KRPC_PING, "ok"), *r = calloc(1, sizeof *r);
    sent s = {0};
    sh_addr h = v4(10, 7, 7, 7, 7777);
    assert_true(ask(d, &h, ping, now, r, &s));
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    sent_clear(&s);
    free(ping);
    free(r);
}

static void feed(sh_dht *d, const sh_addr *from, const void *p, size_t len, sh_time now, sent *s)
{
    sh_dht_recv(d, from, p, len, now);
    drain(d, s);
}

#define FEED_S(d, from, str, now, s) feed((d), (from), (str), strlen(str), (now), (s))

static void test_hostile_input(void **st)
{
    (void)st;
    sh_dht *d = node(3, 1000000, false);
    sent s = {0};
    sh_addr a = v4(10, 6, 6, 6, 666);
    sh_time now = T0;
    sh_krpc_msg *r = calloc(1, sizeof *r);

    /* a query with a wrong-typed argument: error 203 under its own tid */
    FEED_S(d, &a, "d1:ad2:idi5ee1:q4:ping1:t2:zz1:y1:qe", now, &s);
    assert_int_equal(s.n, 1);
    assert_true(sh_addr_eq(&s.to[0], &a));
    assert_int_equal(sh_krpc_decode(s.p[0], s.len[0], r, NULL), 0);
    assert_int_equal(r->kind, SH_KRPC_ERROR);
    assert_int_equal(r->err_code, 203);
    assert_memory_equal(r->tid, "zz", 2);
    /* an unknown method: 204 */
    FEED_S(d, &a, "d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:zy1:y1:qe", now, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(sh_krpc_decode(s.p[0], s.len[0], r, NULL), 0);
    assert_int_equal(r->err_code, 204);
    /* a "query" with neither method nor arguments is still a query: 203 */
    FEED_S(d, &a, "d1:t2:aa1:y1:qe", now, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(sh_krpc_decode(s.p[0], s.len[0], r, NULL), 0);
    assert_int_equal(r->err_code, 203);
    /* no tid, unknown y, responses nobody asked for, errors nobody asked for: silence */
    const char *silent[] = {
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe",
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:ze",
        "d1:rd2:id20:mnopqrstuvwxyz123456e1:t4:\x00\x00\x12\x34"
        "1:y1:re",
        "d1:eli201e3:bade1:t2:aa1:y1:ee",
        "d1:rd2:id20:mnopqrstuvwxyz1234565:nodes25:0123456789012345678901234e1:t2:aa1:y1:re",
        "i42e",
        "",
        "d",
        "de",
        "le",
    };
    sh_dht_stats before, after;
    sh_dht_stats_get(d, &before);
    for (size_t i = 0; i < sizeof silent / sizeof silent[0]; i++) {
        size_t len = strlen(silent[i]);
        if (i == 2) len = 50; /* it contains NULs */
        feed(d, &a, silent[i], len, now, &s);
        if (s.n) fail_msg("answered silent case %zu", i);
    }
    sh_dht_stats_get(d, &after);
    assert_int_equal(after.in_dropped - before.in_dropped, sizeof silent / sizeof silent[0]);
    assert_int_equal(after.good + after.dubious, before.good + before.dubious); /* nobody new */
    still_answers(d, now);

    /* an enormous values list, and datagrams from a wrong family or port 0 */
    size_t big = 60000;
    uint8_t *p = malloc(big);
    assert_non_null(p);
    size_t o = (size_t)sprintf((char *)p, "d1:rd2:id20:mnopqrstuvwxyz1234566:valuesl");
    while (o + 40 < big)
        o += (size_t)sprintf((char *)p + o, "6:abcdef");
    o += (size_t)sprintf((char *)p + o, "ee1:t2:aa1:y1:re");
    feed(d, &a, p, o, now, &s);
    assert_int_equal(s.n, 0);
    sh_addr v6 = {.family = 6, .ip = {0xfe, 0x80, [15] = 1}, .port = 1};
    sh_addr port0 = v4(10, 6, 6, 7, 0);
    FEED_S(d, &v6, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", now, &s);
    assert_int_equal(s.n, 0);
    FEED_S(d, &port0, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", now, &s);
    assert_int_equal(s.n, 0);
    sh_dht_recv(d, &a, NULL, 5, now); /* a NULL buffer with a length */
    drain(d, &s);
    assert_int_equal(s.n, 0);

    /* random garbage and mutated real messages from a few addresses */
    sh_rng rng;
    sh_rng_seed(&rng, 77);
    const char *real[] = {
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:"
        "qe",
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:"
        "y1:qe",
        "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:"
        "porti6881e"
        "5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    };
    for (int i = 0; i < 20000; i++) {
        uint8_t buf[400];
        size_t len;
        if (i % 2) {
            len = (size_t)sh_rng_below(&rng, sizeof buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)sh_rng_next(&rng);
        } else {
            const char *m = real[sh_rng_below(&rng, 4)];
            len = strlen(m);
            memcpy(buf, m, len);
            for (int k = 0; k < 3; k++)
                buf[sh_rng_below(&rng, len)] = (uint8_t)sh_rng_next(&rng);
        }
        sh_addr from = v4(10, 6, 6, (uint8_t)(i % 5), (uint16_t)(1000 + i % 3));
        now += SH_MS(1);
        feed(d, &from, buf, len, now, &s);
        assert_true(s.n <= 2); /* an answer, and perhaps a ping to check a table entry */
        if (i % 1000 == 0) {
            sh_dht_on_timer(d, now);
            drain(d, &s);
        }
    }
    still_answers(d, now);
    sh_dht_stats_get(d, &after);
    assert_true(after.good + after.dubious <= 160 * 8);
    free(p);
    free(r);
    sent_clear(&s);
    sh_dht_free(d);
}

/* Finds the query of the given method among what was sent to `to`. */
static bool find_query(sent *s, const sh_addr *to, sh_krpc_method m, sh_krpc_msg *out)
{
    for (uint32_t i = 0; i < s->n && i < 64; i++) {
        if (!sh_addr_eq(&s->to[i], to)) continue;
        if (sh_krpc_decode(s->p[i], s->len[i], out, NULL) == 0 && out->kind == SH_KRPC_QUERY &&
            out->method == m)
            return true;
    }
    return false;
}

static void test_response_matching(void **st)
{
    (void)st;
    sh_dht *d = node(4, 0, false);
    sent s = {0};
    sh_addr boot = v4(10, 1, 1, 1, 6881), other = v4(10, 1, 1, 2, 6881);
    sh_dht_bootstrap(d, &boot, T0);
    drain(d, &s);
    assert_int_equal(s.n, 2);
    sh_krpc_msg *fq = calloc(1, sizeof *fq), *resp = calloc(1, sizeof *resp);
    assert_true(find_query(&s, &boot, SH_KRPC_PING, fq));
    assert_true(find_query(&s, &boot, SH_KRPC_FIND_NODE, fq));
    assert_memory_equal(fq->target, sh_dht_id(d), 20);
    assert_memory_equal(fq->id, sh_dht_id(d), 20);
    assert_int_equal(fq->tid_len, 4);
    assert_false(fq->read_only);

    /* an answer with two nodes in it */
    uint8_t nodes[2 * 26];
    sh_addr n1 = v4(10, 2, 0, 1, 6881), n2 = v4(10, 2, 0, 2, 6881);
    uint8_t id1[20], id2[20], bid[20];
    memset(id1, 0x11, 20);
    memset(id2, 0x22, 20);
    memset(bid, 0x33, 20);
    sh_krpc_pack_node(nodes, id1, &n1);
    sh_krpc_pack_node(nodes + 26, id2, &n2);
    resp->kind = SH_KRPC_RESPONSE;
    memcpy(resp->tid, fq->tid, 4);
    resp->tid_len = 4;
    memcpy(resp->id, bid, 20);
    resp->nodes = (sh_span){nodes, sizeof nodes};

    sh_dht_stats a, b;
    sh_dht_stats_get(d, &a);
    send_msg(d, &other, resp, T0 + SH_MS(5)); /* right tid, wrong address */
    resp->tid[3] ^= 1;
    send_msg(d, &boot, resp, T0 + SH_MS(5)); /* right address, wrong tid */
    resp->tid[3] ^= 1;
    drain(d, &s);
    assert_int_equal(s.n, 0);
    sh_dht_stats_get(d, &b);
    assert_int_equal(b.in_dropped - a.in_dropped, 2);
    assert_int_equal(b.good + b.dubious, 0);
    send_msg(d, &boot, resp, T0 + SH_MS(10));
    drain(d, &s);
    sh_dht_stats_get(d, &b);
    assert_int_equal(b.in_replies - a.in_replies, 1);
    assert_int_equal(b.good, 1);    /* the bootstrap node answered */
    assert_int_equal(b.dubious, 2); /* the two it named are unverified */
    /* a lookup of our own id went out to the three of them */
    uint32_t finds = 0;
    for (uint32_t i = 0; i < s.n; i++) {
        sh_krpc_msg m;
        if (sh_krpc_decode(s.p[i], s.len[i], &m, NULL) == 0 && m.method == SH_KRPC_FIND_NODE)
            finds++;
    }
    assert_int_equal(finds, 3);
    /* the same answer again is not accepted twice */
    send_msg(d, &boot, resp, T0 + SH_MS(20));
    drain(d, &s);
    sh_dht_stats_get(d, &a);
    assert_int_equal(a.in_dropped - b.in_dropped, 1);
    /* nothing answers: after the timeout the lookup and the bootstrap retry run out */
    sh_time t = T0 + SH_MS(20);
    for (int i = 0; i < 40; i++) {
        t += SH_SEC(1);
        sh_dht_on_timer(d, t);
        drain(d, &s);
    }
    assert_true(sh_dht_next_deadline(d) > t);
    free(fq);
    free(resp);
    sent_clear(&s);
    sh_dht_free(d);
}

static void test_read_only(void **st)
{
    (void)st;
    sh_dht *ro = node(5, 0, true), *d = node(6, 0, false);
    sent s = {0};
    sh_krpc_msg *ping = query(SH_KRPC_PING, "pp"), *r = calloc(1, sizeof *r);
    sh_addr x = v4(10, 3, 3, 3, 3), ro_addr = v4(10, 3, 3, 4, 4);
    /* a read-only node never answers */
    send_msg(ro, &x, ping, T0);
    drain(ro, &s);
    assert_int_equal(s.n, 0);
    /* ... and flags its own queries */
    sh_dht_bootstrap(ro, &x, T0);
    drain(ro, &s);
    assert_true(s.n >= 1);
    assert_int_equal(sh_krpc_decode(s.p[0], s.len[0], r, NULL), 0);
    assert_true(r->read_only);
    /* a normal node answers a read-only asker but keeps it out of its table */
    ping->read_only = true;
    assert_true(ask(d, &ro_addr, ping, T0, r, &s));
    sh_dht_stats stt;
    sh_dht_stats_get(d, &stt);
    assert_int_equal(stt.good + stt.dubious, 0);
    ping->read_only = false;
    assert_true(ask(d, &ro_addr, ping, T0, r, &s));
    sh_dht_stats_get(d, &stt);
    assert_int_equal(stt.dubious, 1);
    sent_clear(&s);
    free(ping);
    free(r);
    sh_dht_free(ro);
    sh_dht_free(d);
}

static void test_ipv6_node(void **st)
{
    (void)st;
    sh_dht_config c;
    memset(&c, 0, sizeof c);
    memset(c.node_id, 0x66, 20);
    c.family = 6;
    c.seed = 66;
    sh_dht *d = NULL;
    assert_int_equal(sh_dht_new(&c, T0, &d), 0);
    sent s = {0};
    sh_krpc_msg *q = query(SH_KRPC_PING, "p6"), *r = calloc(1, sizeof *r);
    for (int i = 0; i < 5; i++) { /* five IPv6 nodes introduce themselves */
        sh_addr a = {
            .family = 6, .ip = {0x20, 1, 0xd, 0xb8, [15] = (uint8_t)(i + 1)}, .port = 6881};
        memset(q->id, 0x10 + i, 20);
        assert_true(ask(d, &a, q, T0, r, &s));
    }
    sh_addr asker = {.family = 6, .ip = {0x20, 1, 0xd, 0xb8, [14] = 1}, .port = 5000};
    q->method = SH_KRPC_FIND_NODE;
    assert_true(ask(d, &asker, q, T0 + 1, r, &s));
    assert_int_equal(r->nodes.len, 0);
    assert_int_equal(r->nodes6.len, 5 * SH_KRPC_NODE6_LEN);
    uint8_t id[20];
    sh_addr got;
    assert_int_equal(sh_krpc_node_at(r->nodes6, 6, 0, id, &got), 0);
    assert_int_equal(got.family, 6);
    /* announce and get it back as an 18-byte value */
    q->method = SH_KRPC_GET_PEERS;
    assert_true(ask(d, &asker, q, T0 + 2, r, &s));
    sh_krpc_msg *an = query(SH_KRPC_ANNOUNCE_PEER, "a6");
    an->has_token = true;
    an->token_len = r->token_len;
    memcpy(an->token, r->token, r->token_len);
    an->port = 7000;
    assert_true(ask(d, &asker, an, T0 + 3, r, &s));
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    assert_true(ask(d, &asker, q, T0 + 4, r, &s));
    assert_int_equal(r->num_values, 1);
    assert_int_equal(r->values[0].family, 6);
    assert_int_equal(r->values[0].port, 7000);
    /* an IPv4 datagram is dropped */
    sh_addr v4a = v4(10, 0, 0, 1, 1);
    q->method = SH_KRPC_PING;
    assert_false(ask(d, &v4a, q, T0 + 5, r, &s));
    sent_clear(&s);
    free(q);
    free(an);
    free(r);
    sh_dht_free(d);
}

static void test_search_limits(void **st)
{
    (void)st;
    sh_dht *d = node(7, 0, false);
    uint8_t ih[20] = {1};
    uint64_t last = 0;
    sent s = {0};
    /* with an empty table a lookup ends at once, with nothing queried */
    uint64_t sid = sh_dht_search(d, ih, 0, T0);
    assert_true(sid > 0);
    sh_dht_action a;
    assert_true(sh_dht_next_action(d, &a));
    assert_int_equal(a.type, SH_DHT_SEARCH_DONE);
    assert_int_equal(a.search, sid);
    assert_int_equal(a.nodes, 0);
    assert_int_equal(a.hops, 0);
    assert_false(sh_dht_next_action(d, &a));
    /* with one (unanswering) node known, lookups stay open: at most 64 at once */
    sh_addr n = v4(10, 4, 4, 4, 4);
    sh_krpc_msg *ping = query(SH_KRPC_PING, "pp"), *r = calloc(1, sizeof *r);
    assert_true(ask(d, &n, ping, T0, r, &s));
    for (int i = 0; i < 64; i++) {
        ih[1] = (uint8_t)i;
        uint64_t x = sh_dht_search(d, ih, 0, T0);
        assert_true(x > last);
        last = x;
    }
    assert_int_equal(sh_dht_search(d, ih, 0, T0), 0);
    sh_dht_stats stt;
    sh_dht_stats_get(d, &stt);
    assert_int_equal(stt.searches, 64);
    drain(d, &s);
    assert_int_equal(s.total, 64);
    /* they all time out and end */
    sh_dht_on_timer(d, T0 + SH_SEC(3));
    drain(d, &s);
    assert_int_equal(s.other, 64);
    sh_dht_stats_get(d, &stt);
    assert_int_equal(stt.searches, 0);
    assert_true(sh_dht_search(d, ih, 0, T0 + SH_SEC(3)) > last);
    sent_clear(&s);
    free(ping);
    free(r);
    sh_dht_free(d);
}

static void test_config(void **st)
{
    (void)st;
    sh_dht_config c;
    memset(&c, 0, sizeof c);
    sh_dht *d = (sh_dht *)0x1;
    c.family = 5;
    assert_int_equal(sh_dht_new(&c, T0, &d), SH_EINVAL);
    assert_ptr_equal(d, (sh_dht *)0x1);
    assert_int_equal(sh_dht_new(NULL, T0, &d), SH_EINVAL);
    sh_dht_free(NULL);
}

/* SHOAL_DHT_BIG=N: an N-node network, timed (not part of the default run). */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_values_answer), cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_hostile_input), cmocka_unit_test(test_response_matching),
        cmocka_unit_test(test_read_only),     cmocka_unit_test(test_ipv6_node),
        cmocka_unit_test(test_search_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
