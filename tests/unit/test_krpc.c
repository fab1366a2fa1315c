/* test_krpc.c — the KRPC codec: BEP 5 examples byte for byte, round trips, hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/krpc.h>

static const uint8_t ID_A[20] = "abcdefghij0123456789";
static const uint8_t ID_M[20] = "mnopqrstuvwxyz123456";

static int dec(const char *s, sh_krpc_msg *m, sh_errinfo *ei)
{
    return sh_krpc_decode((const uint8_t *)s, strlen(s), m, ei);
}

static sh_krpc_msg *new_msg(void)
{
    sh_krpc_msg *m = calloc(1, sizeof *m);
    assert_non_null(m);
    return m;
}

/* Encodes m and checks the bytes equal want. */
static void enc_eq(const sh_krpc_msg *m, const char *want)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    assert_int_equal(sh_krpc_encode(&b, m), 0);
    assert_int_equal(b.err, 0);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("encoded \"%.*s\", want \"%s\"", (int)b.len, (const char *)b.data, want);
    sh_bbuf_free(&b);
}

/* Decodes s expecting failure; returns whether it was answerable (203). */
static bool rejected(const char *s, size_t len, const char *why)
{
    sh_krpc_msg *m = new_msg();
    sh_errinfo ei = {{0}, 0};
    int rc = sh_krpc_decode((const uint8_t *)s, len, m, &ei);
    if (rc != SH_EKRPC) fail_msg("accepted \"%.*s\" (rc %d)", (int)len, s, rc);
    if (why && !strstr(ei.msg, why))
        fail_msg("\"%.*s\": message \"%s\" lacks \"%s\"", (int)len, s, ei.msg, why);
    bool ans = m->answerable;
    if (ans) assert_int_equal(m->kind, SH_KRPC_QUERY);
    /* nothing half-decoded leaks out */
    assert_int_equal(m->method, 0);
    assert_int_equal(m->num_values, 0);
    assert_int_equal(m->nodes.len, 0);
    free(m);
    return ans;
}

#define REJECT(s, why) rejected((s), strlen(s), (why))

/* ---- BEP 5's own examples, byte for byte ------------------------------------ */

static void test_bep5_ping(void **st)
{
    (void)st;
    const char *q = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    sh_krpc_msg *m = new_msg();
    assert_int_equal(dec(q, m, NULL), 0);
    assert_int_equal(m->kind, SH_KRPC_QUERY);
    assert_int_equal(m->method, SH_KRPC_PING);
    assert_int_equal(m->tid_len, 2);
    assert_memory_equal(m->tid, "aa", 2);
    assert_memory_equal(m->id, ID_A, 20);
    assert_false(m->read_only);
    enc_eq(m, q);

    const char *r = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
    assert_int_equal(dec(r, m, NULL), 0);
    assert_int_equal(m->kind, SH_KRPC_RESPONSE);
    assert_memory_equal(m->id, ID_M, 20);
    assert_false(m->has_token);
    assert_false(m->has_values);
    enc_eq(m, r);
    free(m);
}

static void test_bep5_find_node_get_peers(void **st)
{
    (void)st;
    const char *fq = "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
                     "1:q9:find_node1:t2:aa1:y1:qe";
    sh_krpc_msg *m = new_msg();
    assert_int_equal(dec(fq, m, NULL), 0);
    assert_int_equal(m->method, SH_KRPC_FIND_NODE);
    assert_memory_equal(m->target, ID_M, 20);
    enc_eq(m, fq);

    const char *gq = "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e"
                     "1:q9:get_peers1:t2:aa1:y1:qe";
    assert_int_equal(dec(gq, m, NULL), 0);
    assert_int_equal(m->method, SH_KRPC_GET_PEERS);
    assert_memory_equal(m->target, ID_M, 20);
    enc_eq(m, gq);

    const char *gr = "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee"
                     "1:t2:aa1:y1:re";
    assert_int_equal(dec(gr, m, NULL), 0);
    assert_int_equal(m->kind, SH_KRPC_RESPONSE);
    assert_true(m->has_token);
    assert_int_equal(m->token_len, 8);
    assert_memory_equal(m->token, "aoeusnth", 8);
    assert_true(m->has_values);
    assert_int_equal(m->num_values, 2);
    assert_int_equal(m->values[0].family, 4);
    assert_memory_equal(m->values[0].ip, "axje", 4);
    assert_int_equal(m->values[0].port, ('.' << 8) | 'u');
    assert_memory_equal(m->values[1].ip, "idht", 4);
    enc_eq(m, gr);
    free(m);
}

static void test_bep5_announce_and_error(void **st)
{
    (void)st;
    const char *aq = "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:"
                     "mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer"
                     "1:t2:aa1:y1:qe";
    sh_krpc_msg *m = new_msg();
    assert_int_equal(dec(aq, m, NULL), 0);
    assert_int_equal(m->method, SH_KRPC_ANNOUNCE_PEER);
    assert_true(m->implied_port);
    assert_int_equal(m->port, 6881);
    assert_memory_equal(m->target, ID_M, 20);
    assert_int_equal(m->token_len, 8);
    enc_eq(m, aq);

    const char *e = "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
    assert_int_equal(dec(e, m, NULL), 0);
    assert_int_equal(m->kind, SH_KRPC_ERROR);
    assert_int_equal(m->err_code, 201);
    assert_int_equal(m->err_msg.len, 23);
    assert_memory_equal(m->err_msg.ptr, "A Generic Error Ocurred", 23);
    enc_eq(m, e);
    free(m);
}

/* ---- round trips of every kind, with binary fields ---------------------------- */

static void round_trip(const sh_krpc_msg *in, sh_krpc_msg *out)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    assert_int_equal(sh_krpc_encode(&b, in), 0);
    assert_int_equal(b.err, 0);
    sh_errinfo ei = {{0}, 0};
    int rc = sh_krpc_decode(b.data, b.len, out, &ei);
    if (rc) fail_msg("re-decoding failed: %s", ei.msg);
    /* spans point into b: copy what the caller compares before freeing */
    static uint8_t keep[4096];
    size_t n = out->nodes.len + out->nodes6.len;
    assert_true(n <= sizeof keep);
    memcpy(keep, out->nodes.ptr ? out->nodes.ptr : keep, out->nodes.len);
    memcpy(keep + out->nodes.len, out->nodes6.ptr ? out->nodes6.ptr : keep, out->nodes6.len);
    out->nodes.ptr = keep;
    out->nodes6.ptr = keep + out->nodes.len;
    out->err_msg = (sh_span){NULL, 0};
    sh_bbuf_free(&b);
}

static void fill_tid(sh_krpc_msg *m, uint8_t len)
{
    for (uint8_t i = 0; i < len; i++)
        m->tid[i] = (uint8_t)(0xF0 + i);
    m->tid_len = len;
}

static void test_round_trip_queries(void **st)
{
    (void)st;
    sh_krpc_msg *q = new_msg(), *r = new_msg();
    for (int method = SH_KRPC_PING; method <= SH_KRPC_ANNOUNCE_PEER; method++) {
        memset(q, 0, sizeof *q);
        q->kind = SH_KRPC_QUERY;
        q->method = (sh_krpc_method)method;
        fill_tid(q, 16);
        q->read_only = method == SH_KRPC_FIND_NODE;
        for (int i = 0; i < 20; i++)
            q->id[i] = (uint8_t)(i * 13), q->target[i] = (uint8_t)(255 - i);
        if (method == SH_KRPC_ANNOUNCE_PEER) {
            q->port = 65535;
            q->has_token = true;
            q->token_len = 64;
            memset(q->token, 0, 64);
        }
        round_trip(q, r);
        assert_int_equal(r->kind, SH_KRPC_QUERY);
        assert_int_equal(r->method, method);
        assert_int_equal(r->tid_len, 16);
        assert_memory_equal(r->tid, q->tid, 16);
        assert_memory_equal(r->id, q->id, 20);
        assert_int_equal(r->read_only, q->read_only);
        if (method != SH_KRPC_PING) assert_memory_equal(r->target, q->target, 20);
        if (method == SH_KRPC_ANNOUNCE_PEER) {
            assert_int_equal(r->port, 65535);
            assert_false(r->implied_port);
            assert_int_equal(r->token_len, 64);
            assert_memory_equal(r->token, q->token, 64);
        }
    }
    free(q);
    free(r);
}

static void test_round_trip_responses(void **st)
{
    (void)st;
    sh_krpc_msg *m = new_msg(), *r = new_msg();
    m->kind = SH_KRPC_RESPONSE;
    fill_tid(m, 4);
    memcpy(m->id, ID_M, 20);
    uint8_t n4[3 * 26], n6[2 * 38];
    sh_addr a4 = {.family = 4, .ip = {10, 0, 0, 1}, .port = 6881};
    sh_addr a6 = {.family = 6, .ip = {0x20, 1, 0xd, 0xb8, [15] = 1}, .port = 1};
    for (int i = 0; i < 3; i++) {
        uint8_t id[20];
        memset(id, i + 1, 20);
        a4.ip[3] = (uint8_t)(i + 1);
        assert_int_equal(sh_krpc_pack_node(n4 + 26 * i, id, &a4), 26);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(sh_krpc_pack_node(n6 + 38 * i, ID_A, &a6), 38);
    m->nodes = (sh_span){n4, sizeof n4};
    m->nodes6 = (sh_span){n6, sizeof n6};
    m->has_token = true;
    m->token_len = 0; /* an empty token is legal */
    m->has_values = true;
    m->num_values = 2;
    m->values[0] = a4;
    m->values[1] = a6;
    round_trip(m, r);
    assert_int_equal(r->kind, SH_KRPC_RESPONSE);
    assert_int_equal(r->nodes.len, sizeof n4);
    assert_memory_equal(r->nodes.ptr, n4, sizeof n4);
    assert_int_equal(r->nodes6.len, sizeof n6);
    assert_true(r->has_token);
    assert_int_equal(r->token_len, 0);
    assert_int_equal(r->num_values, 2);
    assert_true(sh_addr_eq(&r->values[0], &a4));
    assert_true(sh_addr_eq(&r->values[1], &a6));

    uint8_t id[20];
    sh_addr got;
    assert_int_equal(sh_krpc_node_at(r->nodes, 4, 2, id, &got), 0);
    assert_int_equal(id[0], 3);
    assert_int_equal(got.ip[3], 3);
    assert_int_equal(got.port, 6881);
    assert_int_equal(sh_krpc_node_at(r->nodes, 4, 3, id, &got), SH_ERANGE);
    assert_int_equal(sh_krpc_node_at(r->nodes6, 6, 1, id, &got), 0);
    assert_true(sh_addr_eq(&got, &a6));
    assert_int_equal(sh_krpc_node_at(r->nodes6, 5, 0, id, &got), SH_EINVAL);

    /* an empty values list survives as an empty list */
    memset(m, 0, sizeof *m);
    m->kind = SH_KRPC_RESPONSE;
    m->has_values = true;
    memcpy(m->id, ID_M, 20);
    enc_eq(m, "d1:rd2:id20:mnopqrstuvwxyz1234566:valuesle"
              "e1:t0:1:y1:re");
    free(m);
    free(r);
}

static void test_encode_refuses(void **st)
{
    (void)st;
    sh_krpc_msg *m = new_msg();
    sh_bbuf b;
    sh_bbuf_init(&b);
    m->kind = SH_KRPC_QUERY;
    m->method = SH_KRPC_UNKNOWN;
    assert_int_equal(sh_krpc_encode(&b, m), SH_EINVAL);
    m->method = SH_KRPC_PING;
    m->tid_len = 17;
    assert_int_equal(sh_krpc_encode(&b, m), SH_EINVAL);
    m->tid_len = 2;
    m->kind = 0;
    assert_int_equal(sh_krpc_encode(&b, m), SH_EINVAL);
    m->kind = SH_KRPC_RESPONSE;
    m->num_values = 1; /* values[0] has family 0 */
    assert_int_equal(sh_krpc_encode(&b, m), SH_EINVAL);
    assert_int_equal(b.len, 0);
    sh_bbuf_free(&b);
    free(m);
}

/* ---- hostile input ------------------------------------------------------------ */

/* A well-formed query around the arguments dictionary body `a` (without d...e). */
static char *query(const char *method, const char *a)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "d1:ad%se1:q%zu:%s1:t2:xy1:y1:qe", a, strlen(method), method);
    return buf;
}

#define ID20 "2:id20:abcdefghij0123456789"
#define IH20 "9:info_hash20:mnopqrstuvwxyz123456"

static void test_queries_answerable_203(void **st)
{
    (void)st;
    /* wrong types and short ids in the arguments: answerable, so the node sends 203 */
    assert_true(REJECT(query("ping", "2:idi5e"), "a.id"));
    assert_true(REJECT(query("ping", "2:id19:abcdefghij012345678"), "a.id"));
    assert_true(REJECT(query("ping", "2:id21:abcdefghij0123456789x"), "a.id"));
    assert_true(REJECT(query("ping", ""), "a.id"));
    assert_true(REJECT(query("find_node", ID20), "a.target"));
    assert_true(REJECT(query("find_node", ID20 "6:targeti0e"), "a.target"));
    assert_true(REJECT(query("get_peers", ID20 "9:info_hash3:abc"), "a.info_hash"));
    assert_true(REJECT(query("announce_peer", ID20 IH20 "4:porti1e"), "a.token"));
    assert_true(REJECT(query("announce_peer", ID20 IH20 "4:porti1e5:tokeni1e"), "a.token"));
    char tok65[256];
    snprintf(tok65, sizeof tok65, ID20 IH20 "4:porti1e5:token65:%065d", 0);
    assert_true(REJECT(query("announce_peer", tok65), "a.token"));
    assert_true(REJECT(query("announce_peer", ID20 IH20 "5:token1:x"), "a.port"));
    assert_true(REJECT(query("announce_peer", ID20 IH20 "4:porti0e5:token1:x"), "a.port"));
    assert_true(REJECT(query("announce_peer", ID20 IH20 "4:porti65536e5:token1:x"), "a.port"));
    assert_true(REJECT(query("announce_peer", ID20 IH20 "4:port4:68815:token1:x"), "a.port"));
    assert_true(REJECT(query("announce_peer", ID20 "12:implied_port1:1" IH20 "4:porti1e5:token1:x"),
                       "implied_port"));
    /* no "a" at all, or "a" not a dictionary, or no method name */
    assert_true(REJECT("d1:q4:ping1:t2:xy1:y1:qe", "argument"));
    assert_true(REJECT("d1:ai0e1:q4:ping1:t2:xy1:y1:qe", "argument"));
    assert_true(REJECT("d1:ad" ID20 "e1:t2:xy1:y1:qe", "method"));
    assert_true(REJECT("d1:ad" ID20 "e1:qi1e1:t2:xy1:y1:qe", "method"));

    /* the tid survives for the error reply */
    sh_krpc_msg *m = new_msg();
    assert_int_equal(dec(query("ping", "2:idi5e"), m, NULL), SH_EKRPC);
    assert_true(m->answerable);
    assert_int_equal(m->tid_len, 2);
    assert_memory_equal(m->tid, "xy", 2);
    free(m);
}

static void test_queries_accepted_edges(void **st)
{
    (void)st;
    sh_krpc_msg *m = new_msg();
    /* implied_port makes port optional (or 0); unknown keys, "v" and "want" are ignored */
    assert_int_equal(
        dec(query("announce_peer", ID20 "12:implied_porti1e" IH20 "5:token0:"), m, NULL), 0);
    assert_true(m->implied_port);
    assert_int_equal(m->port, 0);
    assert_true(m->has_token);
    assert_int_equal(m->token_len, 0);
    assert_int_equal(
        dec(query("announce_peer", ID20 "12:implied_porti0e" IH20 "4:porti80e5:token1:x"), m, NULL),
        0);
    assert_false(m->implied_port);
    assert_int_equal(m->port, 80);
    assert_int_equal(
        dec("d1:ad2:id20:abcdefghij01234567894:wantl2:n42:n6e5:zzzzzi1ee1:q4:ping2:roi1e1:t0:"
            "1:v4:LT\x01\x02"
            "1:y1:q3:zzzi3ee",
            m, NULL),
        0);
    assert_int_equal(m->method, SH_KRPC_PING);
    assert_true(m->read_only);
    assert_int_equal(m->tid_len, 0); /* an empty tid is legal, and echoed */
    /* "ro" other than 1 is not read-only */
    assert_int_equal(dec("d1:ad" ID20 "e1:q4:ping2:roi2e1:t1:a1:y1:qe", m, NULL), 0);
    assert_false(m->read_only);
    /* an unknown method is a valid query (the node answers 204) */
    assert_int_equal(dec(query("vote", ID20 "6:targeti1e"), m, NULL), 0);
    assert_int_equal(m->method, SH_KRPC_UNKNOWN);
    free(m);
}

static void test_dropped_silently(void **st)
{
    (void)st;
    /* no usable transaction id, unknown y, not a dictionary, not bencode: never answered */
    assert_false(REJECT("d1:ad" ID20 "e1:q4:ping1:y1:qe", "transaction"));
    assert_false(REJECT("d1:ad" ID20 "e1:q4:ping1:ti7e1:y1:qe", "transaction"));
    assert_false(REJECT("d1:ad" ID20 "e1:q4:ping1:t17:01234567890123456"
                        "1:y1:qe",
                        "transaction"));
    assert_false(REJECT("d1:ad" ID20 "e1:q4:ping1:t2:xy1:y1:xe", "type y"));
    assert_false(REJECT("d1:ad" ID20 "e1:q4:ping1:t2:xye", "type y"));
    assert_false(REJECT("d1:ad" ID20 "e1:q4:ping1:t2:xy1:yi1ee", "type y"));
    assert_false(REJECT("l1:t2:xye", "dictionary"));
    assert_false(REJECT("", "bencode"));
    const char *full = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    for (size_t n = 0; n < strlen(full); n++) /* every truncation */
        assert_false(rejected(full, n, NULL));
    assert_false(REJECT("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qeX", "trailing"));
    /* unsorted keys are not canonical bencode */
    assert_false(REJECT("d1:t2:aa1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe", NULL));
    /* a datagram over 64 KiB is refused before parsing */
    size_t big = SH_KRPC_MAX_DATAGRAM + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'd', big);
    assert_false(rejected(huge, big, "too large"));
    free(huge);
}

#define RESP(body) "d1:rd" ID20 body "e1:t2:aa1:y1:re"

static void test_bad_responses(void **st)
{
    (void)st;
    sh_krpc_msg *m = new_msg();
    assert_false(REJECT("d1:t2:aa1:y1:re", "dictionary r"));
    assert_false(REJECT("d1:rd2:id3:abce1:t2:aa1:y1:re", "r.id"));
    assert_false(REJECT(RESP("5:nodes25:0123456789012345678901234"), "r.nodes"));
    assert_false(REJECT(RESP("5:nodesi1e"), "r.nodes"));
    assert_false(REJECT(RESP("6:nodes626:01234567890123456789012345"), "r.nodes6"));
    assert_false(REJECT(RESP("5:tokeni1e"), "r.token"));
    assert_false(REJECT(RESP("6:values6:abcdef"), "values"));
    assert_false(REJECT(RESP("6:valuesl5:abcdee"), "values"));
    assert_false(REJECT(RESP("6:valuesli1ee"), "values"));
    assert_false(REJECT(RESP("6:valuesl6:abcdef7:abcdefge"), "values"));
    assert_false(REJECT("d1:eli201ee1:t2:aa1:y1:ee", "error e"));
    assert_false(REJECT("d1:el3:abci201ee1:t2:aa1:y1:ee", "error e"));
    assert_false(REJECT("d1:e3:abc1:t2:aa1:y1:ee", "error e"));
    /* an empty nodes string is fine; nodes6 is accepted beside nodes */
    assert_int_equal(dec(RESP("5:nodes0:"), m, NULL), 0);
    assert_int_equal(m->nodes.len, 0);
    free(m);
}

/* A response with `count` values, entry `bad` (if < count) of the wrong length. */
static uint8_t *values_resp(uint32_t count, uint32_t bad, size_t *len)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_benc_dict_begin(&b);
    sh_benc_cstr(&b, "r");
    sh_benc_dict_begin(&b);
    sh_benc_kv_str(&b, "id", ID_A, 20);
    sh_benc_cstr(&b, "values");
    sh_benc_list_begin(&b);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t v[6] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i, 0x1A, 0xE1};
        sh_benc_str(&b, v, i == bad ? 5 : 6);
    }
    sh_benc_end(&b);
    sh_benc_end(&b);
    sh_benc_kv_str(&b, "t", "aa", 2);
    sh_benc_kv_str(&b, "y", "r", 1);
    sh_benc_end(&b);
    return sh_bbuf_take(&b, len);
}

static void test_values_bounded(void **st)
{
    (void)st;
    sh_krpc_msg *m = new_msg();
    size_t len;
    uint8_t *p = values_resp(300, UINT32_MAX, &len);
    assert_int_equal(sh_krpc_decode(p, len, m, NULL), 0);
    assert_int_equal(m->num_values, SH_KRPC_MAX_VALUES);
    assert_int_equal(m->values[199].ip[3], 199);
    assert_int_equal(m->values[199].port, 6881);
    free(p);
    /* a bad entry among the kept ones fails the message; beyond them it is never read */
    p = values_resp(300, 150, &len);
    assert_int_equal(sh_krpc_decode(p, len, m, NULL), SH_EKRPC);
    assert_false(m->answerable);
    free(p);
    p = values_resp(300, 250, &len);
    assert_int_equal(sh_krpc_decode(p, len, m, NULL), 0);
    assert_int_equal(m->num_values, 200);
    free(p);
    /* so many values that the bencode itself exceeds the per-datagram value budget */
    p = values_resp(5000, UINT32_MAX, &len);
    sh_errinfo ei = {{0}, 0};
    assert_int_equal(sh_krpc_decode(p, len, m, &ei), SH_EKRPC);
    assert_non_null(strstr(ei.msg, "too many values"));
    free(p);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bep5_ping),
        cmocka_unit_test(test_bep5_find_node_get_peers),
        cmocka_unit_test(test_bep5_announce_and_error),
        cmocka_unit_test(test_round_trip_queries),
        cmocka_unit_test(test_round_trip_responses),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_queries_answerable_203),
        cmocka_unit_test(test_queries_accepted_edges),
        cmocka_unit_test(test_dropped_silently),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_values_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
