/* test_metadata.c — the ut_metadata (BEP 9) message codec. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/metadata.h>

static int parse_s(const char *s, size_t n, sh_md_msg *m, sh_errinfo *ei)
{
    return sh_md_parse((const uint8_t *)s, n, m, ei);
}

static void test_piece_geometry(void **st)
{
    (void)st;
    assert_int_equal(sh_md_pieces(0), 0);
    assert_int_equal(sh_md_pieces(1), 1);
    assert_int_equal(sh_md_pieces(16384), 1);
    assert_int_equal(sh_md_pieces(16385), 2);
    assert_int_equal(sh_md_piece_len(16385, 0), 16384);
    assert_int_equal(sh_md_piece_len(16385, 1), 1);
    assert_int_equal(sh_md_piece_len(16385, 2), 0);
    assert_int_equal(sh_md_piece_len(0, 0), 0);
}

static void test_round_trip(void **st)
{
    (void)st;
    uint8_t data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_md_encode(&b, SH_MD_DATA, 3, 49252, data, sizeof data);
    static const char dict[] = "d8:msg_typei1e5:piecei3e10:total_sizei49252ee";
    assert_memory_equal(b.data, dict, sizeof dict - 1);
    sh_md_msg m;
    assert_int_equal(sh_md_parse(b.data, b.len, &m, NULL), 0);
    assert_int_equal(m.type, SH_MD_DATA);
    assert_int_equal(m.piece, 3);
    assert_int_equal(m.total_size, 49252);
    assert_int_equal(m.data.len, 100);
    assert_memory_equal(m.data.ptr, data, 100);
    sh_bbuf_free(&b);

    sh_bbuf_init(&b);
    sh_md_encode(&b, SH_MD_REQUEST, 0, -1, NULL, 0);
    assert_int_equal(b.len, strlen("d8:msg_typei0e5:piecei0ee"));
    assert_int_equal(sh_md_parse(b.data, b.len, &m, NULL), 0);
    assert_int_equal(m.type, SH_MD_REQUEST);
    assert_int_equal(m.total_size, -1);
    assert_int_equal(m.data.len, 0);
    sh_bbuf_free(&b);
}

static void test_tolerated(void **st)
{
    (void)st;
    sh_md_msg m;
    /* unknown keys, and bytes after a reject (ignored) */
    static const char a[] = "d1:ai1e8:msg_typei2e5:piecei7eexyz";
    assert_int_equal(parse_s(a, sizeof a - 1, &m, NULL), 0);
    assert_int_equal(m.type, SH_MD_REJECT);
    assert_int_equal(m.piece, 7);
    assert_int_equal(m.data.len, 0);
    /* a data message may carry an empty payload (the codec does not judge sizes) */
    static const char b[] = "d8:msg_typei1e5:piecei0ee";
    assert_int_equal(parse_s(b, sizeof b - 1, &m, NULL), 0);
    assert_int_equal(m.data.len, 0);
}

static void test_hostile(void **st)
{
    (void)st;
    sh_md_msg m;
    sh_errinfo ei = {0};
    static const struct {
        const char *s;
        int rc;
        const char *msg;
    } cases[] = {
        {"le", SH_EPROTO, "not a dictionary"},
        {"d5:piecei0ee", SH_EPROTO, "msg_type"},
        {"d8:msg_typei3e5:piecei0ee", SH_EPROTO, "msg_type"},
        {"d8:msg_typei-1e5:piecei0ee", SH_EPROTO, "msg_type"},
        {"d8:msg_type1:05:piecei0ee", SH_EPROTO, "msg_type"},
        {"d8:msg_typei0ee", SH_EPROTO, "piece"},
        {"d8:msg_typei0e5:piecei-1ee", SH_EPROTO, "piece"},
        {"d8:msg_typei0e5:piecei1024ee", SH_EPROTO, "piece"},
        {"d8:msg_typei0e5:piecei99999999999ee", SH_EPROTO, "piece"},
        {"d8:msg_typei1e5:piecei0e10:total_sizei0ee", SH_EPROTO, "total_size"},
        {"d8:msg_typei1e5:piecei0e10:total_sizei16777217ee", SH_EPROTO, "total_size"},
        {"d8:msg_typei1e5:piecei0e", SH_EBENCODE, NULL},
        {"", SH_EBENCODE, NULL},
        {"d5:piecei0e8:msg_typei0ee", SH_EBENCODE, NULL}, /* keys out of order */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memset(&ei, 0, sizeof ei);
        int rc = parse_s(cases[i].s, strlen(cases[i].s), &m, &ei);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): %d, want %d", i, cases[i].s, rc, cases[i].rc);
        if (cases[i].msg && !strstr(ei.msg, cases[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, ei.msg, cases[i].msg);
    }
    /* the biggest index that SH_MD_MAX_SIZE allows is fine */
    static const char top[] = "d8:msg_typei0e5:piecei1023ee";
    assert_int_equal(parse_s(top, sizeof top - 1, &m, NULL), 0);
    /* longer than 17 KiB */
    uint8_t *big = calloc(1, SH_MD_MAX_MSG + 1);
    memcpy(big, "d8:msg_typei1e5:piecei0ee", 25);
    assert_int_equal(sh_md_parse(big, SH_MD_MAX_MSG, &m, NULL), 0);
    assert_int_equal(m.data.len, SH_MD_MAX_MSG - 25);
    assert_int_equal(sh_md_parse(big, SH_MD_MAX_MSG + 1, &m, NULL), SH_ELIMIT);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_piece_geometry),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tolerated),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
