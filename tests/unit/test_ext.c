/* test_ext.c — the BEP 10 extension handshake codec. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/ext.h>

static int parse_n(const char *s, size_t n, sh_ext_hs *hs)
{
    sh_errinfo ei = {0};
    return sh_ext_hs_parse((const uint8_t *)s, n, hs, &ei);
}

static sh_ext_hs ok(const char *s)
{
    sh_ext_hs hs;
    sh_errinfo ei = {0};
    int rc = sh_ext_hs_parse((const uint8_t *)s, strlen(s), &hs, &ei);
    if (rc != 0) fail_msg("rejected %s: %d %s", s, rc, ei.msg);
    return hs;
}

static void test_libtorrent_like(void **st)
{
    (void)st;
    static const char s[] = "d12:complete_agoi-1e1:md11:lt_donthavei7e11:ut_metadatai2e"
                            "6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi2000e"
                            "11:upload_onlyi1e1:v17:libtorrent/2.0.8 6:yourip4:\x7f\x00\x00\x02"
                            "e";
    sh_ext_hs hs;
    assert_int_equal(parse_n(s, sizeof s - 1, &hs), 0);
    assert_int_equal(hs.ut_metadata, 2);
    assert_int_equal(hs.ut_pex, 1);
    assert_true(hs.has_port);
    assert_int_equal(hs.port, 6881);
    assert_string_equal(hs.client, "libtorrent/2.0.8 ");
    assert_int_equal(hs.reqq, 2000);
    assert_true(hs.upload_only);
    assert_int_equal(hs.metadata_size, 31235);
    assert_true(hs.has_yourip);
    assert_int_equal(hs.yourip.family, 4);
    assert_memory_equal(hs.yourip.ip, "\x7f\x00\x00\x02", 4);
    assert_int_equal(hs.yourip.port, 0);
    assert_int_equal(hs.shoal_block, 0);
}

static void test_minimal_defaults(void **st)
{
    (void)st;
    sh_ext_hs hs = ok("de");
    assert_int_equal(hs.ut_metadata, 0);
    assert_int_equal(hs.ut_pex, 0);
    assert_false(hs.has_port);
    assert_string_equal(hs.client, "");
    assert_int_equal(hs.reqq, 0);
    assert_false(hs.upload_only);
    assert_int_equal(hs.metadata_size, -1);
    assert_false(hs.has_yourip);
    assert_int_equal(hs.shoal_block, 0);
    hs = ok("d1:md6:ut_pexi0eee"); /* 0 disables */
    assert_int_equal(hs.ut_pex, 0);
    hs = ok("d11:upload_onlyi0ee");
    assert_false(hs.upload_only);
}

static void test_wrong_types_ignored(void **st)
{
    (void)st;
    sh_ext_hs hs = ok("d1:mli1ee1:p4:68814:reqq3:abc11:shoal_blocki0e11:upload_only1:1"
                      "1:vi5e6:yourip5:abcdee");
    assert_int_equal(hs.ut_metadata, 0);
    assert_false(hs.has_port);
    assert_int_equal(hs.reqq, 0);
    assert_int_equal(hs.shoal_block, 0);
    assert_false(hs.upload_only);
    assert_string_equal(hs.client, "");
    assert_false(hs.has_yourip);

    hs = ok("d1:md11:ut_metadatai256e6:ut_pexi-1ee13:metadata_sizei-5e1:pi0e4:reqqi-1e"
            "11:shoal_blocki4294967296ee");
    assert_int_equal(hs.ut_metadata, 0);
    assert_int_equal(hs.ut_pex, 0);
    assert_int_equal(hs.metadata_size, -1);
    assert_false(hs.has_port);
    assert_int_equal(hs.reqq, 0);
    assert_int_equal(hs.shoal_block, 0);

    hs = ok("d1:md11:ut_metadata2:xx6:ut_pexi255ee1:pi65536ee");
    assert_int_equal(hs.ut_metadata, 0);
    assert_int_equal(hs.ut_pex, 255);
    assert_false(hs.has_port);

    hs = ok("d1:pi65535e4:reqqi4294967295e11:shoal_blocki1048576ee");
    assert_int_equal(hs.port, 65535);
    assert_int_equal(hs.reqq, UINT32_MAX);
    assert_int_equal(hs.shoal_block, 1048576);
}

static void test_client_and_yourip(void **st)
{
    (void)st;
    static const char s[] = "d1:v7:a\x01\x62\xff\x63\x7f\x7e"
                            "6:yourip16:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
                            "e";
    sh_ext_hs hs;
    assert_int_equal(parse_n(s, sizeof s - 1, &hs), 0);
    assert_string_equal(hs.client, "a?b?c?~");
    assert_true(hs.has_yourip);
    assert_int_equal(hs.yourip.family, 6);
    assert_memory_equal(hs.yourip.ip, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);

    char big[200];
    strcpy(big, "d1:v100:");
    size_t n = strlen(big);
    for (int i = 0; i < 100; i++)
        big[n++] = (char)('A' + i % 26);
    big[n++] = 'e';
    hs = (sh_ext_hs){0};
    assert_int_equal(parse_n(big, n, &hs), 0);
    assert_int_equal(strlen(hs.client), 63);
    assert_memory_equal(hs.client, big + 8, 63);
    /* embedded NUL cannot cut the name short in a way that hides the rest */
    static const char z[] = "d1:v3:a\0be";
    assert_int_equal(parse_n(z, sizeof z - 1, &hs), 0);
    assert_string_equal(hs.client, "a?b");
}

static void test_errors(void **st)
{
    (void)st;
    sh_ext_hs hs, keep;
    memset(&keep, 0x5a, sizeof keep);
    static const struct {
        const char *s;
        int rc;
    } bad[] = {
        {"i1e", SH_EPROTO},         {"le", SH_EPROTO},     {"4:spam", SH_EPROTO},
        {"", SH_EBENCODE},          {"d1:m", SH_EBENCODE}, {"d1:pi1ee1", SH_EBENCODE},
        {"d1:pi01ee", SH_EBENCODE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(&hs, &keep, sizeof hs);
        int rc = parse_n(bad[i].s, strlen(bad[i].s), &hs);
        if (rc != bad[i].rc) fail_msg("%s: got %d want %d", bad[i].s, rc, bad[i].rc);
        assert_memory_equal(&hs, &keep, sizeof hs); /* untouched on error */
    }
    /* nesting: depth 8 passes, 9 is refused */
    char deep[64];
    for (int depth = 8; depth <= 9; depth++) {
        size_t n = 0;
        deep[n++] = 'd';
        memcpy(deep + n, "1:x", 3);
        n += 3;
        for (int i = 1; i < depth; i++)
            deep[n++] = 'l';
        for (int i = 0; i < depth; i++)
            deep[n++] = 'e';
        assert_int_equal(parse_n(deep, n, &hs), depth == 8 ? 0 : SH_ELIMIT);
    }
    /* size: 64 KiB passes, one byte more is refused before parsing */
    size_t big = 65536;
    char *p = malloc(big + 1);
    assert_non_null(p);
    const char *head = "d1:x65525:";
    memcpy(p, head, strlen(head));
    memset(p + strlen(head), 'q', big - strlen(head) - 1);
    p[big - 1] = 'e';
    assert_int_equal(parse_n(p, big, &hs), 0);
    memcpy(p, "d1:x65526:", 10);
    p[big - 1] = 'q';
    p[big] = 'e';
    assert_int_equal(parse_n(p, big + 1, &hs), SH_ELIMIT);
    free(p);
}

static void same(const sh_ext_hs *a, const sh_ext_hs *b)
{
    assert_int_equal(a->ut_metadata, b->ut_metadata);
    assert_int_equal(a->ut_pex, b->ut_pex);
    assert_int_equal(a->has_port, b->has_port);
    assert_int_equal(a->port, b->port);
    assert_string_equal(a->client, b->client);
    assert_int_equal(a->reqq, b->reqq);
    assert_int_equal(a->upload_only, b->upload_only);
    assert_int_equal(a->metadata_size, b->metadata_size);
    assert_int_equal(a->has_yourip, b->has_yourip);
    assert_int_equal(a->yourip.family, b->yourip.family);
    assert_memory_equal(a->yourip.ip, b->yourip.ip, 16);
    assert_int_equal(a->yourip.port, b->yourip.port);
    assert_int_equal(a->shoal_block, b->shoal_block);
}

static void test_encode_exact(void **st)
{
    (void)st;
    sh_ext_hs hs = {.ut_metadata = SH_EXT_ID_METADATA,
                    .ut_pex = SH_EXT_ID_PEX,
                    .has_port = true,
                    .port = 6881,
                    .reqq = 500,
                    .upload_only = true,
                    .metadata_size = 1234,
                    .yourip = {.family = 4, .ip = {10, 0, 0, 7}},
                    .shoal_block = 262144};
    strcpy(hs.client, "shoal 0.1.0");
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_ext_hs_encode(&b, &hs);
    static const char want[] = "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei1234e"
                               "1:pi6881e4:reqqi500e11:shoal_blocki262144e11:upload_onlyi1e"
                               "1:v11:shoal 0.1.06:yourip4:\x0a\x00\x00\x07"
                               "e";
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);

    sh_ext_hs back;
    assert_int_equal(sh_ext_hs_parse(b.data, b.len, &back, NULL), 0);
    hs.has_yourip = true;
    same(&back, &hs);
    sh_bbuf_free(&b);

    /* everything off: only an empty "m" */
    sh_ext_hs none;
    memset(&none, 0, sizeof none);
    none.metadata_size = -1;
    sh_bbuf_init(&b);
    sh_ext_hs_encode(&b, &none);
    assert_int_equal(b.len, strlen("d1:mdee"));
    assert_memory_equal(b.data, "d1:mdee", b.len);
    sh_bbuf_free(&b);

    /* IPv6 yourip and pex only */
    none.ut_pex = 9;
    none.yourip.family = 6;
    none.yourip.ip[15] = 1;
    sh_bbuf_init(&b);
    sh_ext_hs_encode(&b, &none);
    static const char want6[] = "d1:md6:ut_pexi9ee6:yourip16:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"
                                "e";
    assert_int_equal(b.len, sizeof want6 - 1);
    assert_memory_equal(b.data, want6, sizeof want6 - 1);
    sh_bbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libtorrent_like),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_wrong_types_ignored),
        cmocka_unit_test(test_client_and_yourip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_encode_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
