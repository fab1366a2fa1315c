/* test_magnet.c — parsing magnet links, and the .torrent a fetched info dictionary becomes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/magnet.h>
#include <shoal/metainfo.h>

#define IH "0123456789abcdef0123456789abcdef01234567"
#define MH                                                                                         \
    "1220"                                                                                         \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static sh_magnet *ok(const char *s)
{
    sh_magnet *m = NULL;
    sh_errinfo ei = {0};
    int rc = sh_magnet_parse(s, strlen(s), &m, &ei);
    if (rc != 0) fail_msg("rejected %s: %d %s", s, rc, ei.msg);
    return m;
}

static int bad(const char *s, const char *msg_part)
{
    sh_magnet *m = NULL;
    sh_errinfo ei = {0};
    int rc = sh_magnet_parse(s, strlen(s), &m, &ei);
    if (rc == 0) fail_msg("accepted %s", s);
    assert_null(m);
    if (msg_part && !strstr(ei.msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", ei.msg, msg_part);
    return rc;
}

static void test_v1_hex(void **st)
{
    (void)st;
    sh_magnet *m = ok("magnet:?xt=urn:btih:" IH "&dn=my%20file+name.iso"
                      "&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://t:1"
                      "&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.2:6881"
                      "&x.pe=[::1]:7000&x.pe=host.example:1&ws=http://x");
    assert_true(m->has_v1);
    assert_false(m->has_v2);
    assert_int_equal(m->btih[0], 0x01);
    assert_int_equal(m->btih[19], 0x67);
    assert_string_equal(m->name, "my file name.iso");
    assert_int_equal(m->num_trackers, 2); /* the duplicate is dropped */
    assert_string_equal(m->trackers[0], "http://127.0.0.1:6969/announce");
    assert_string_equal(m->trackers[1], "udp://t:1");
    assert_int_equal(m->num_peers, 2);
    assert_int_equal(m->peers[0].family, 4);
    assert_int_equal(m->peers[0].ip[3], 2);
    assert_int_equal(m->peers[0].port, 6881);
    assert_int_equal(m->peers[1].family, 6);
    assert_int_equal(m->peers[1].port, 7000);
    assert_int_equal(m->ignored, 1); /* the host name */
    assert_memory_equal(sh_magnet_wire_hash(m), m->btih, 20);
    sh_magnet_free(m);
}

static void test_v1_base32(void **st)
{
    (void)st;
    /* base32 of 0x00 0x44 0x32 0x14 0xc7 ... : check against the hex form */
    uint8_t raw[20];
    for (int i = 0; i < 20; i++)
        raw[i] = (uint8_t)(i * 37 + 5);
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    char b32[33];
    for (int i = 0; i < 32; i++) { /* bits 5i..5i+4 */
        int v = 0;
        for (int k = 0; k < 5; k++) {
            int bit = 5 * i + k;
            v = v << 1 | ((raw[bit / 8] >> (7 - bit % 8)) & 1);
        }
        b32[i] = alpha[v];
    }
    b32[32] = 0;
    char link[128];
    snprintf(link, sizeof link, "MAGNET:?xt=URN:BTIH:%s", b32);
    sh_magnet *m = ok(link);
    assert_memory_equal(m->btih, raw, 20);
    sh_magnet_free(m);
    /* lower case base32 is the same hash */
    for (int i = 0; i < 32; i++)
        if (b32[i] >= 'A') b32[i] = (char)(b32[i] + 32);
    snprintf(link, sizeof link, "magnet:?xt=urn:btih:%s", b32);
    m = ok(link);
    assert_memory_equal(m->btih, raw, 20);
    sh_magnet_free(m);
}

static void test_btmh_and_hybrid(void **st)
{
    (void)st;
    sh_magnet *m = ok("magnet:?xt=urn:btmh:" MH);
    assert_false(m->has_v1);
    assert_true(m->has_v2);
    assert_int_equal(m->btmh[0], 0x00);
    assert_int_equal(m->btmh[31], 0xff);
    assert_memory_equal(sh_magnet_wire_hash(m), m->btmh, 20); /* truncated v2 */
    assert_null(m->name);
    assert_int_equal(m->num_trackers, 0);
    sh_magnet_free(m);
    /* hybrid, with BEP 9's indexed keys and a percent-encoded colon */
    m = ok("magnet:?xt.1=urn%3Abtih%3A" IH "&xt.2=urn:btmh:" MH "&xt=urn:sha1:ABCD");
    assert_true(m->has_v1 && m->has_v2);
    assert_memory_equal(sh_magnet_wire_hash(m), m->btih, 20);
    sh_magnet_free(m);
    /* the same btih twice is fine */
    m = ok("magnet:?xt=urn:btih:" IH "&xt=urn:btih:" IH);
    sh_magnet_free(m);
}

static void test_hostile(void **st)
{
    (void)st;
    bad("http://example.com/?xt=urn:btih:" IH, "not a magnet link");
    bad("magnet:", "not a magnet link");
    bad("magnet:?dn=x", "no xt=urn:btih");
    bad("magnet:?xt=urn:btih:0123", "40 hex or 32 base32");
    bad("magnet:?xt=urn:btih:" IH "0", "40 hex or 32 base32");
    bad("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef0123456g", "40 hex or 32 base32");
    bad("magnet:?xt=urn:btih:ABCDEFGHIJKLMNOPQRSTUVWXYZ234561", "40 hex or 32 base32");
    bad("magnet:?xt=urn:btmh:1114"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "not SHA-256");
    bad("magnet:?xt=urn:btmh:1220abcd", "68-digit");
    bad("magnet:?xt=urn:btih:" IH "&xt=urn:btih:1123456789abcdef0123456789abcdef01234567",
        "two different btih");
    bad("magnet:?xt=urn:btih:" IH "&dn=a%2", "two hex digits");
    bad("magnet:?xt=urn:btih:" IH "&dn=a%zz", "two hex digits");
    bad("magnet:?xt=urn:btih:" IH "&dn=a%00b", "NUL");
    /* a NUL inside the link itself */
    sh_magnet *m = NULL;
    static const char nul[] = "magnet:?xt=urn:btih:" IH "&dn=a\0b";
    assert_int_equal(sh_magnet_parse(nul, sizeof nul - 1, &m, NULL), SH_EINVAL);
    /* a value over 4096 bytes, and a link over 64 KiB */
    size_t n = 8000;
    char *big = malloc(70000);
    int k = snprintf(big, 70000, "magnet:?xt=urn:btih:" IH "&dn=");
    memset(big + k, 'a', n);
    big[k + n] = 0;
    assert_int_equal(bad(big, "longer than 4096"), SH_ELIMIT);
    memset(big + k, 'a', 69000 - (size_t)k);
    big[69000] = 0;
    assert_int_equal(bad(big, "limit"), SH_ELIMIT);
    free(big);
}

static void test_bounds_ignore_extras(void **st)
{
    (void)st;
    char *link = malloc(40000);
    size_t k = (size_t)snprintf(link, 40000, "magnet:?xt=urn:btih:" IH);
    for (int i = 0; i < 70; i++)
        k += (size_t)snprintf(link + k, 40000 - k, "&tr=http://t%d/announce", i);
    for (int i = 0; i < 300; i++)
        k += (size_t)snprintf(link + k, 40000 - k, "&x.pe=10.0.%d.%d:1", i / 256, i % 256);
    k += (size_t)snprintf(link + k, 40000 - k, "&&=&tr=&x.pe=1.2.3.4:0&garbage");
    sh_magnet *m = ok(link);
    assert_int_equal(m->num_trackers, SH_MAGNET_MAX_TRACKERS);
    assert_int_equal(m->num_peers, SH_MAGNET_MAX_PEERS);
    assert_int_equal(m->ignored, 6 + 44 + 1); /* trackers, peers, the port-0 peer */
    assert_string_equal(m->trackers[63], "http://t63/announce");
    sh_magnet_free(m);
    free(link);
}

static void test_is_link(void **st)
{
    (void)st;
    assert_true(sh_magnet_is_link("magnet:?xt=1"));
    assert_true(sh_magnet_is_link("Magnet:"));
    assert_false(sh_magnet_is_link("file.torrent"));
    assert_false(sh_magnet_is_link("magne"));
    assert_false(sh_magnet_is_link(NULL));
}

/* A tiny v1 info dictionary: one file "a" of 5 bytes, one piece. */
static const char INFO[] = "d6:lengthi5e4:name1:a12:piece lengthi16384e"
                           "6:pieces20:aaaaaaaaaaaaaaaaaaaae";

static void test_torrent_from_info(void **st)
{
    (void)st;
    sh_magnet *m = ok("magnet:?xt=urn:btih:" IH "&tr=http://a/announce&tr=udp://b:1");
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_magnet_torrent(m, (const uint8_t *)INFO, sizeof INFO - 1, &b);
    assert_int_equal(b.err, 0);
    sh_metainfo *mi = NULL;
    sh_errinfo ei = {0};
    assert_int_equal(sh_metainfo_parse(b.data, b.len, &mi, &ei), 0);
    assert_int_equal(mi->num_tiers, 2);
    assert_string_equal(mi->tiers[0].urls[0], "http://a/announce");
    assert_string_equal(mi->tiers[1].urls[0], "udp://b:1");
    assert_int_equal(mi->info_len, sizeof INFO - 1);
    assert_memory_equal(mi->info, INFO, sizeof INFO - 1);
    assert_string_equal(mi->name, "a");
    sh_metainfo_free(mi);
    sh_bbuf_free(&b);
    sh_magnet_free(m);
    /* no trackers: just the info */
    m = ok("magnet:?xt=urn:btih:" IH);
    sh_bbuf_init(&b);
    sh_magnet_torrent(m, (const uint8_t *)INFO, sizeof INFO - 1, &b);
    assert_int_equal(sh_metainfo_parse(b.data, b.len, &mi, &ei), 0);
    assert_int_equal(mi->num_tiers, 0);
    sh_metainfo_free(mi);
    sh_bbuf_free(&b);
    sh_magnet_free(m);
}

/* sh_metainfo_magnet's links parse back to the same hashes and trackers. */
static void test_generated_links_parse(void **st)
{
    (void)st;
    sh_metainfo *mi = NULL;
    static const char t[] = "d8:announce21:http://a:1/announce?x4:info"
                            "d6:lengthi5e4:name5:a b&c12:piece lengthi16384e"
                            "6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert_int_equal(sh_metainfo_parse((const uint8_t *)t, sizeof t - 1, &mi, NULL), 0);
    char *link = sh_metainfo_magnet(mi);
    sh_magnet *m = ok(link);
    assert_true(m->has_v1);
    assert_memory_equal(m->btih, mi->info_hash_v1, 20);
    assert_string_equal(m->name, "a b&c");
    assert_int_equal(m->num_trackers, 1);
    assert_string_equal(m->trackers[0], "http://a:1/announce?x");
    sh_magnet_free(m);
    free(link);
    sh_metainfo_free(mi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_hex),
        cmocka_unit_test(test_v1_base32),
        cmocka_unit_test(test_btmh_and_hybrid),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_bounds_ignore_extras),
        cmocka_unit_test(test_is_link),
        cmocka_unit_test(test_torrent_from_info),
        cmocka_unit_test(test_generated_links_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
