/* test_pex.c — the ut_pex (BEP 11) message codec. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/pex.h>

static sh_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    return (sh_addr){.family = 4, .ip = {a, b, c, d}, .port = port};
}

static sh_addr v6(uint8_t last, uint16_t port)
{
    sh_addr x = {.family = 6, .port = port};
    x.ip[0] = 0x20;
    x.ip[1] = 0x01;
    x.ip[15] = last;
    return x;
}

static sh_pex_msg *parse_ok(const void *p, size_t len)
{
    sh_pex_msg *m = calloc(1, sizeof *m);
    sh_errinfo ei = {0};
    int rc = sh_pex_parse(p, len, m, &ei);
    if (rc != 0) fail_msg("rejected: %d %s", rc, ei.msg);
    return m;
}

static void test_round_trip_mixed(void **st)
{
    (void)st;
    sh_pex_peer added[] = {
        {v4(10, 0, 0, 1, 6881), SH_PEX_SEED | SH_PEX_REACHABLE},
        {v6(7, 51413), SH_PEX_UTP},
        {v4(192, 168, 1, 9, 1), 0},
        {v6(8, 2), SH_PEX_ENCRYPT | SH_PEX_HOLEPUNCH},
    };
    sh_addr dropped[] = {v6(9, 9), v4(1, 2, 3, 4, 5)};
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_pex_encode(&b, added, 4, dropped, 2);
    assert_int_equal(b.err, 0);
    sh_pex_msg *m = parse_ok(b.data, b.len);
    /* IPv4 first, then IPv6, each in the order given */
    assert_int_equal(m->nadded, 4);
    assert_true(sh_addr_eq(&m->added[0].addr, &added[0].addr));
    assert_int_equal(m->added[0].flags, SH_PEX_SEED | SH_PEX_REACHABLE);
    assert_true(sh_addr_eq(&m->added[1].addr, &added[2].addr));
    assert_int_equal(m->added[1].flags, 0);
    assert_true(sh_addr_eq(&m->added[2].addr, &added[1].addr));
    assert_int_equal(m->added[2].flags, SH_PEX_UTP);
    assert_true(sh_addr_eq(&m->added[3].addr, &added[3].addr));
    assert_int_equal(m->added[3].flags, SH_PEX_ENCRYPT | SH_PEX_HOLEPUNCH);
    assert_int_equal(m->ndropped, 2);
    assert_true(sh_addr_eq(&m->dropped[0], &dropped[1]));
    assert_true(sh_addr_eq(&m->dropped[1], &dropped[0]));
    assert_int_equal(m->junk, 0);
    free(m);
    sh_bbuf_free(&b);
}

/* The exact bytes: libtorrent ignores "added" without a matching "added.f". */
static void test_encoding_exact(void **st)
{
    (void)st;
    sh_pex_peer added[] = {{v4(127, 0, 0, 2, 6881), SH_PEX_SEED}};
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_pex_encode(&b, added, 1, NULL, 0);
    static const char want[] = "d5:added6:\x7f\x00\x00\x02\x1a\xe1"
                               "7:added.f1:\x02"
                               "7:dropped0:e";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    sh_bbuf_free(&b);

    sh_bbuf_init(&b);
    sh_pex_encode(&b, NULL, 0, NULL, 0);
    assert_int_equal(b.len, strlen("d5:added0:7:added.f0:7:dropped0:e"));
    assert_memory_equal(b.data, "d5:added0:7:added.f0:7:dropped0:e", b.len);
    sh_bbuf_free(&b);
}

static void test_flags_missing_or_mismatched(void **st)
{
    (void)st;
    /* no added.f: the peers still count, with no flags */
    static const char a[] = "d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe2"
                            "e";
    sh_pex_msg *m = parse_ok(a, sizeof a - 1);
    assert_int_equal(m->nadded, 2);
    assert_int_equal(m->added[0].flags, 0);
    assert_int_equal(m->added[1].addr.port, 0x1ae2);
    free(m);
    /* added.f of the wrong length: ignored, not applied shifted */
    static const char b[] = "d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe2"
                            "7:added.f1:\x02"
                            "e";
    m = parse_ok(b, sizeof b - 1);
    assert_int_equal(m->nadded, 2);
    assert_int_equal(m->added[0].flags, 0);
    assert_int_equal(m->added[1].flags, 0);
    free(m);
}

static void test_hostile_lists(void **st)
{
    (void)st;
    /* added of 7 bytes: the whole list is junk; dropped with port 0 and 0.0.0.0 dropped */
    static const char a[] = "d5:added7:\x0a\x00\x00\x01\x1a\xe1\x00"
                            "7:dropped18:\x0a\x00\x00\x01\x00\x00"
                            "\x00\x00\x00\x00\x1a\xe1"
                            "\x0b\x00\x00\x01\x1a\xe1"
                            "e";
    sh_pex_msg *m = parse_ok(a, sizeof a - 1);
    assert_int_equal(m->nadded, 0);
    assert_int_equal(m->ndropped, 1);
    assert_int_equal(m->dropped[0].ip[0], 11);
    assert_int_equal(m->junk, 3);
    free(m);
    /* wrong types are ignored: added as an integer, added6 as a list */
    static const char b[] = "d5:addedi5e6:added6le7:droppedi1ee";
    m = parse_ok(b, sizeof b - 1);
    assert_int_equal(m->nadded + m->ndropped, 0);
    free(m);
    /* added6 of 20 bytes: junk */
    static const char c[] = "d6:added620:aaaaaaaaaaaaaaaaaaaae";
    m = parse_ok(c, sizeof c - 1);
    assert_int_equal(m->nadded, 0);
    assert_int_equal(m->junk, 1);
    free(m);
}

static void test_bounded_to_200(void **st)
{
    (void)st;
    /* 300 IPv4 and 250 IPv6 entries: 200 of each are kept, the rest is junk */
    sh_pex_peer *added = calloc(550, sizeof *added);
    for (uint32_t i = 0; i < 300; i++)
        added[i] = (sh_pex_peer){v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i, 1000), 0};
    for (uint32_t i = 0; i < 250; i++)
        added[300 + i] = (sh_pex_peer){v6((uint8_t)i, (uint16_t)(2000 + i)), 0};
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_pex_encode(&b, added, 550, NULL, 0);
    sh_pex_msg *m = parse_ok(b.data, b.len);
    assert_int_equal(m->nadded, 400);
    assert_int_equal(m->junk, 150);
    assert_true(sh_addr_eq(&m->added[199].addr, &added[199].addr));
    assert_true(sh_addr_eq(&m->added[200].addr, &added[300].addr));
    assert_true(sh_addr_eq(&m->added[399].addr, &added[499].addr));
    free(m);
    free(added);
    sh_bbuf_free(&b);
}

static void test_errors(void **st)
{
    (void)st;
    sh_pex_msg *m = calloc(1, sizeof *m);
    sh_errinfo ei = {0};
    assert_int_equal(sh_pex_parse((const uint8_t *)"le", 2, m, &ei), SH_EPROTO);
    assert_non_null(strstr(ei.msg, "not a dictionary"));
    assert_int_equal(sh_pex_parse((const uint8_t *)"d5:added", 8, m, &ei), SH_EBENCODE);
    assert_int_equal(sh_pex_parse((const uint8_t *)"", 0, m, &ei), SH_EBENCODE);
    uint8_t *big = calloc(1, SH_PEX_MAX_MSG + 1);
    assert_int_equal(sh_pex_parse(big, SH_PEX_MAX_MSG + 1, m, &ei), SH_ELIMIT);
    /* deep nesting is refused by the bencode bounds, not by the stack */
    memset(big, 'l', 1000);
    assert_true(sh_pex_parse(big, 1000, m, &ei) < 0);
    free(big);
    free(m);
}

/* libtorrent's full message form, with an empty dropped6 and unknown keys. */
static void test_libtorrent_form(void **st)
{
    (void)st;
    static const char a[] = "d5:added6:\x7f\x00\x00\x03\x1a\xe1"
                            "7:added.f1:\x12"
                            "6:added60:8:added6.f0:7:dropped0:8:dropped60:"
                            "4:zzzzi1ee";
    sh_pex_msg *m = parse_ok(a, sizeof a - 1);
    assert_int_equal(m->nadded, 1);
    assert_int_equal(m->added[0].flags, SH_PEX_SEED | SH_PEX_REACHABLE);
    assert_int_equal(m->added[0].addr.ip[3], 3);
    assert_int_equal(m->junk, 0);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_mixed),
        cmocka_unit_test(test_encoding_exact),
        cmocka_unit_test(test_flags_missing_or_mismatched),
        cmocka_unit_test(test_hostile_lists),
        cmocka_unit_test(test_bounded_to_200),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_libtorrent_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
