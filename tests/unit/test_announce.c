/*
 * test_announce.c — HTTP announce and scrape codecs, both ends: every query
 * rule with hostile cases beside the happy ones, encode → decode round trips,
 * and the client URL escaping all 256 byte values. (UDP: test_announce_udp.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/announce.h>

static const sh_addr remote4 = {.family = 4, .ip = {10, 1, 2, 3}, .port = 40000};

/* A valid query with one parameter appended (or "" for none). */
#define BASEQ                                                                                      \
    "info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13"                       \
    "&peer_id=-SH0001-+abcdefghijk&port=6881&uploaded=1&downloaded=2&left=3"

static int parse(const char *q, sh_announce_req *r, sh_errinfo *ei)
{
    memset(ei, 0, sizeof *ei);
    return sh_http_announce_parse(q, strlen(q), &remote4, r, ei);
}

static sh_announce_req ok(const char *q)
{
    sh_announce_req r;
    sh_errinfo ei;
    int rc = parse(q, &r, &ei);
    if (rc != 0) fail_msg("rejected \"%s\": %s", q, ei.msg);
    return r;
}

/* Expects q to be refused with exactly the failure reason want. */
static void bad(const char *q, const char *want)
{
    sh_announce_req r;
    memset(&r, 0x5a, sizeof r);
    sh_announce_req before = r;
    sh_errinfo ei;
    int rc = parse(q, &r, &ei);
    if (rc != SH_EINVAL) fail_msg("\"%s\": got %d, want SH_EINVAL", q, rc);
    if (strcmp(ei.msg, want) != 0) fail_msg("\"%s\": reason \"%s\", want \"%s\"", q, ei.msg, want);
    assert_memory_equal(&r, &before, sizeof r); /* out untouched */
}

static void with(char *buf, size_t cap, const char *extra)
{
    snprintf(buf, cap, "%s%s", BASEQ, extra);
}

static void test_parse_happy(void **st)
{
    (void)st;
    sh_announce_req r = ok(BASEQ "&ip=6.6.6.6&foo=bar&&=&x");
    for (int i = 0; i < 20; i++)
        assert_int_equal(r.info_hash[i], i);
    assert_memory_equal(r.peer_id, "-SH0001-+abcdefghijk", 20); /* '+' stays '+' */
    assert_int_equal(r.addr.family, 4);
    assert_memory_equal(r.addr.ip, remote4.ip, 4); /* never the ip= parameter */
    assert_int_equal(r.addr.port, 6881);
    assert_true(r.uploaded == 1 && r.downloaded == 2 && r.left == 3);
    assert_int_equal(r.event, SH_TEV_NONE);
    assert_int_equal(r.numwant, SH_NUMWANT_DEFAULT);
    assert_true(r.compact);
    assert_false(r.no_peer_id);
    assert_false(r.want_v6);
    /* escaped keys, %00 and every byte value through escapes */
    r = ok("info%5Fhash=%FF%fe%00%00abcdefghijklmnop&peer_id=%2B%2b%25%26%3D456789012345678&"
           "port=1&left=0&event=&compact=0&no_peer_id=1&key=0A0b0C0d&numwant=0");
    assert_memory_equal(r.info_hash, "\xff\xfe\0\0abcdefghijklmnop", 20);
    assert_memory_equal(r.peer_id, "++%&=456789012345678", 20);
    assert_int_equal(r.addr.port, 1);
    assert_false(r.compact);
    assert_true(r.no_peer_id);
    assert_int_equal(r.key, 0x0a0b0c0d);
    assert_int_equal(r.numwant, 0);
    assert_true(r.uploaded == 0 && r.downloaded == 0 && r.left == 0); /* optional counters */
}

static void test_parse_missing(void **st)
{
    (void)st;
    bad("", "missing info_hash");
    bad("peer_id=-SH0001-+abcdefghijk&port=1&left=0", "missing info_hash");
    bad("info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&left=0", "missing peer_id");
    bad("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&left=0", "missing port");
    bad("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1", "missing left");
    bad("infohash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&left=0",
        "missing info_hash");
}

static void test_parse_ids(void **st)
{
    (void)st;
    const char *tail = "&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&left=0";
    struct {
        const char *ih, *why;
    } cases[] = {
        {"aaaaaaaaaaaaaaaaaaa", "info_hash must be 20 bytes"},   /* 19 */
        {"aaaaaaaaaaaaaaaaaaaaa", "info_hash must be 20 bytes"}, /* 21 */
        {"", "info_hash must be 20 bytes"},
        {"%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00", "info_hash must be 20 bytes"},
        {"aaaaaaaaaaaaaaaaaaa%4", "bad escape in info_hash"}, /* truncated escape */
        {"aaaaaaaaaaaaaaaaaaa%", "bad escape in info_hash"},
        {"aaaaaaaaaaaaaaaaaaa%zz", "bad escape in info_hash"},
        {"aaaaaaaaaaaaaaaaaaa%g0", "bad escape in info_hash"},
        {"aaaaaaaaaaaaaaaaaaa%0", "bad escape in info_hash"},
    };
    char q[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(q, sizeof q, "info_hash=%s%s", cases[i].ih, tail);
        bad(q, cases[i].why);
    }
    bad("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbb&port=1&left=0",
        "peer_id must be 20 bytes");
    bad("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbb%A&port=1&left=0",
        "bad escape in peer_id");
    /* a long info_hash of 100 escaped bytes */
    char big[600] = "info_hash=";
    for (int i = 0; i < 100; i++)
        strcat(big, "%41");
    strcat(big, tail);
    bad(big, "info_hash must be 20 bytes");
}

static void test_parse_numbers(void **st)
{
    (void)st;
    char q[1024];
    const char *bad_ports[] = {
        "0", "65536", "12a", "", "-1", "+1", " 1", "1 ", "0x10", "99999999999999999999999999", "%"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        snprintf(q, sizeof q, "port=%s&%s", bad_ports[i], BASEQ); /* first port wins */
        bad(q, "invalid port");
    }
    snprintf(q, sizeof q, "port=65535&%s", BASEQ);
    assert_int_equal(ok(q).addr.port, 65535);
    snprintf(q, sizeof q, "port=%%36%%38&%s", BASEQ); /* escaped digits are digits */
    assert_int_equal(ok(q).addr.port, 68);

    with(q, sizeof q, "&left=7"); /* repeated: first (3) wins */
    assert_true(ok(q).left == 3);
    snprintf(q, sizeof q, "left=18446744073709551615&%s", BASEQ);
    assert_true(ok(q).left == UINT64_MAX);
    const char *bad_nums[] = {
        "18446744073709551616", "99999999999999999999", "-1", "1e5", "", "1.0"};
    const char *fields[] = {"uploaded", "downloaded", "left"};
    char want[64];
    for (size_t f = 0; f < 3; f++) {
        for (size_t i = 0; i < sizeof bad_nums / sizeof bad_nums[0]; i++) {
            snprintf(q, sizeof q, "%s=%s&%s", fields[f], bad_nums[i], BASEQ);
            snprintf(want, sizeof want, "invalid %s", fields[f]);
            bad(q, want);
        }
    }
}

static void test_parse_numwant_event(void **st)
{
    (void)st;
    char q[1024];
    with(q, sizeof q, "&numwant=1000000000");
    assert_int_equal(ok(q).numwant, SH_NUMWANT_MAX);
    with(q, sizeof q, "&numwant=123456789012345678901234567890");
    assert_int_equal(ok(q).numwant, SH_NUMWANT_MAX);
    with(q, sizeof q, "&numwant=200");
    assert_int_equal(ok(q).numwant, 200);
    with(q, sizeof q, "&numwant=7&numwant=9");
    assert_int_equal(ok(q).numwant, 7);
    with(q, sizeof q, "&numwant=-1");
    bad(q, "invalid numwant");
    with(q, sizeof q, "&numwant=");
    bad(q, "invalid numwant");

    struct {
        const char *s;
        sh_tevent ev;
    } evs[] = {{"started", SH_TEV_STARTED},
               {"completed", SH_TEV_COMPLETED},
               {"stopped", SH_TEV_STOPPED},
               {"paused", SH_TEV_PAUSED},
               {"", SH_TEV_NONE}};
    for (size_t i = 0; i < 5; i++) {
        snprintf(q, sizeof q, "%s&event=%s&event=stopped", BASEQ, evs[i].s);
        assert_int_equal(ok(q).event, evs[i].ev);
    }
    with(q, sizeof q, "&event=Started");
    bad(q, "invalid event");
    with(q, sizeof q, "&event=started%00");
    bad(q, "invalid event");
    with(q, sizeof q, "&key=notahexkey");
    assert_int_not_equal(ok(q).key, 0); /* folded, stable */
    assert_int_equal(ok(q).key, ok(q).key);
}

static void test_parse_limits_and_v6(void **st)
{
    (void)st;
    /* exactly SH_QUERY_MAX is read; one byte more is refused before parsing */
    char *q = malloc(SH_QUERY_MAX + 2);
    size_t n = strlen(BASEQ);
    memcpy(q, BASEQ "&pad=", n + 5);
    memset(q + n + 5, 'x', SH_QUERY_MAX - n - 5);
    q[SH_QUERY_MAX] = 0;
    assert_int_equal(strlen(q), SH_QUERY_MAX);
    ok(q);
    q[SH_QUERY_MAX] = 'x';
    q[SH_QUERY_MAX + 1] = 0;
    bad(q, "query too long");
    free(q);

    sh_announce_req r;
    sh_errinfo ei;
    sh_addr v6 = {.family = 6, .ip = {0x20, 0x01, 0xd, 0xb8, [15] = 1}, .port = 1};
    assert_int_equal(sh_http_announce_parse(BASEQ, strlen(BASEQ), &v6, &r, &ei), 0);
    assert_int_equal(r.addr.family, 6);
    assert_true(r.want_v6);
    assert_memory_equal(r.addr.ip, v6.ip, 16);
    assert_int_equal(r.addr.port, 6881);
    /* an IPv4 client seen through a dual-stack socket is an IPv4 peer */
    sh_addr mapped = {.family = 6, .ip = {[10] = 0xff, [11] = 0xff, 192, 0, 2, 7}};
    assert_int_equal(sh_http_announce_parse(BASEQ, strlen(BASEQ), &mapped, &r, &ei), 0);
    assert_int_equal(r.addr.family, 4);
    assert_false(r.want_v6);
    assert_memory_equal(r.addr.ip, "\xc0\x00\x02\x07", 4);
    sh_addr none = {0};
    assert_int_equal(sh_http_announce_parse(BASEQ, strlen(BASEQ), &none, &r, &ei), SH_EINVAL);
}

/* ---- encode → decode ---- */

static sh_tpeer mkpeer(int family, uint8_t last, uint16_t port)
{
    sh_tpeer p = {0};
    p.addr.family = (uint8_t)family;
    if (family == 4) {
        p.addr.ip[0] = 10;
        p.addr.ip[3] = last;
    } else {
        p.addr.ip[0] = 0xfd;
        p.addr.ip[15] = last;
    }
    p.addr.port = port;
    memset(p.peer_id, last, 20);
    p.has_peer_id = true;
    return p;
}

static sh_announce_reply sample_reply(sh_tpeer *peers, uint32_t n)
{
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    r.interval = 30;
    r.min_interval = 15;
    r.complete = 3;
    r.incomplete = 7;
    r.downloaded = 11;
    r.peers = peers;
    r.num_peers = n;
    return r;
}

static sh_announce_reply roundtrip(const sh_announce_reply *in, bool compact, bool no_peer_id,
                                   int want_rc)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_announce_encode(&b, in, compact, no_peer_id);
    assert_int_equal(b.err, 0);
    sh_announce_reply out;
    sh_errinfo ei = {0};
    int rc = sh_http_announce_decode(b.data, b.len, &out, &ei);
    if (rc != want_rc) fail_msg("decode: %d (%s)", rc, ei.msg);
    sh_bbuf_free(&b);
    return out;
}

static void test_roundtrip_compact(void **st)
{
    (void)st;
    sh_tpeer p[5] = {mkpeer(4, 1, 1000), mkpeer(6, 2, 2000), mkpeer(4, 3, 3000),
                     mkpeer(6, 4, 65535), mkpeer(4, 255, 1)};
    sh_announce_reply in = sample_reply(p, 5);
    sh_announce_reply out = roundtrip(&in, true, false, 0);
    assert_int_equal(out.interval, 30);
    assert_int_equal(out.min_interval, 15);
    assert_int_equal(out.complete, 3);
    assert_int_equal(out.incomplete, 7);
    assert_int_equal(out.downloaded, 11);
    assert_int_equal(out.num_peers, 5);
    const int order[5] = {0, 2, 4, 1, 3}; /* peers (IPv4) first, then peers6 */
    for (int i = 0; i < 5; i++) {
        assert_true(sh_addr_eq(&out.peers[i].addr, &p[order[i]].addr));
        assert_false(out.peers[i].has_peer_id);
    }
    sh_announce_reply_free(&out);
    assert_null(out.peers);

    /* exact bytes: keys sorted, no peers6 without IPv6 peers */
    sh_bbuf b;
    sh_bbuf_init(&b);
    in.num_peers = 1;
    in.min_interval = 0;
    sh_http_announce_encode(&b, &in, true, false);
    const char want[] = "d8:completei3e10:downloadedi11e10:incompletei7e8:intervali30e"
                        "5:peers6:\x0a\x00\x00\x01\x03\xe8"
                        "e";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    sh_bbuf_free(&b);
}

static void test_roundtrip_dict(void **st)
{
    (void)st;
    sh_tpeer p[3] = {mkpeer(4, 9, 6881), mkpeer(6, 8, 6882), mkpeer(4, 7, 6883)};
    sh_announce_reply in = sample_reply(p, 3);
    snprintf(in.warning, sizeof in.warning, "be nice");
    sh_announce_reply out = roundtrip(&in, false, false, 0);
    assert_int_equal(out.num_peers, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(sh_addr_eq(&out.peers[i].addr, &p[i].addr));
        assert_true(out.peers[i].has_peer_id);
        assert_memory_equal(out.peers[i].peer_id, p[i].peer_id, 20);
    }
    assert_string_equal(out.warning, "be nice");
    sh_announce_reply_free(&out);
    out = roundtrip(&in, false, true, 0);
    assert_int_equal(out.num_peers, 3);
    for (int i = 0; i < 3; i++)
        assert_false(out.peers[i].has_peer_id);
    sh_announce_reply_free(&out);

    /* a failure answer: SH_ETRACKER with the reason, no peers */
    snprintf(in.failure, sizeof in.failure, "unregistered torrent");
    out = roundtrip(&in, true, false, SH_ETRACKER);
    assert_string_equal(out.failure, "unregistered torrent");
    assert_int_equal(out.num_peers, 0);
    assert_null(out.peers);
}

static void test_failure_encode(void **st)
{
    (void)st;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_failure_encode(&b, "tracker full", 5);
    const char want[] = "d14:failure reason12:tracker full8:retry ini5ee";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    sh_bbuf_free(&b);
    sh_http_failure_encode(&b, "x", 0);
    assert_int_equal(b.len, strlen("d14:failure reason1:xe"));
    assert_memory_equal(b.data, "d14:failure reason1:xe", b.len);
    sh_bbuf_free(&b);
}

static int decode_s(const char *body, size_t len, sh_announce_reply *out)
{
    sh_errinfo ei;
    return sh_http_announce_decode((const uint8_t *)body, len, out, &ei);
}

static void test_decode_hostile(void **st)
{
    (void)st;
    sh_announce_reply r;
    /* dictionary peers: bad entries are skipped, good ones kept */
    const char body[] = "d8:intervali-5e5:peersl"
                        "d2:ip11:example.com4:porti1ee"           /* not an IP literal */
                        "d2:ip8:10.0.0.14:porti0ee"               /* port 0 */
                        "d2:ip8:10.0.0.14:porti70000ee"           /* port too big */
                        "d4:porti5ee"                             /* no ip */
                        "i5e"                                     /* not a dict */
                        "d2:ip8:10.0.0.27:peer id3:abc4:porti7ee" /* short peer id: kept */
                        "d2:ip7:fe80::14:porti8ee"                /* IPv6 text */
                        "d2:ip9:10.0.0.3x4:porti9ee"              /* junk after the address */
                        "ee";
    assert_int_equal(decode_s(body, sizeof body - 1, &r), 0);
    assert_int_equal(r.interval, 0); /* negative clamped */
    assert_int_equal(r.num_peers, 2);
    assert_int_equal(r.peers[0].addr.family, 4);
    assert_int_equal(r.peers[0].addr.ip[3], 2);
    assert_int_equal(r.peers[0].addr.port, 7);
    assert_false(r.peers[0].has_peer_id);
    assert_int_equal(r.peers[1].addr.family, 6);
    assert_int_equal(r.peers[1].addr.port, 8);
    sh_announce_reply_free(&r);

    memset(&r, 0x77, sizeof r);
    sh_announce_reply before = r;
#define DS(s) decode_s(s, sizeof s - 1, &r)
    assert_int_equal(DS("d5:peers7:abcdefge"), SH_EPROTO); /* 7 bytes */
    assert_int_equal(DS("d5:peers0:6:peers617:aaaaaaaaaaaaaaaaae"), SH_EPROTO);
    assert_int_equal(DS("d5:peersi5ee"), SH_EPROTO);
    assert_int_equal(DS("le"), SH_EPROTO);
    assert_int_equal(DS("d5:peers"), SH_EBENCODE);
    assert_int_equal(DS(""), SH_EBENCODE);
#undef DS
    assert_memory_equal(&r, &before, sizeof r); /* untouched on error */

    /* 2500 compact peers: 2000 kept */
    size_t n = 2500 * 6;
    char *big = malloc(n + 32);
    int k = snprintf(big, 32, "d5:peers%zu:", n);
    memset(big + k, 1, n);
    big[k + n] = 'e';
    assert_int_equal(decode_s(big, (size_t)k + n + 1, &r), 0);
    assert_int_equal(r.num_peers, 2000);
    sh_announce_reply_free(&r);
    free(big);

    /* control bytes in a warning are neutralised */
    const char warn[] = "d15:warning message3:a\nbe";
    assert_int_equal(decode_s(warn, sizeof warn - 1, &r), 0);
    assert_string_equal(r.warning, "a?b");
    assert_int_equal(r.num_peers, 0);
    sh_announce_reply_free(&r);
}

/* ---- scrape ---- */

static void test_scrape(void **st)
{
    (void)st;
    uint8_t h[SH_SCRAPE_MAX][20];
    uint32_t n = 99;
    sh_errinfo ei;
    const char q[] = "info_hash=aaaaaaaaaaaaaaaaaaaa&x=1&info_hash=%62bbbbbbbbbbbbbbbbbbb";
    assert_int_equal(sh_http_scrape_parse(q, strlen(q), h, SH_SCRAPE_MAX, &n, &ei), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(h[0], "aaaaaaaaaaaaaaaaaaaa", 20);
    assert_memory_equal(h[1], "bbbbbbbbbbbbbbbbbbbb", 20);
    assert_int_equal(sh_http_scrape_parse("", 0, h, SH_SCRAPE_MAX, &n, &ei), 0);
    assert_int_equal(n, 0); /* none: all */
    n = 99;
    assert_int_equal(sh_http_scrape_parse(q, strlen(q), h, 1, &n, &ei), SH_EINVAL);
    assert_string_equal(ei.msg, "too many info_hash (at most 1)");
    assert_int_equal(n, 99);
    const char shortq[] = "info_hash=aaaa";
    assert_int_equal(sh_http_scrape_parse(shortq, strlen(shortq), h, 4, &n, &ei), SH_EINVAL);
    assert_string_equal(ei.msg, "info_hash must be 20 bytes");

    /* encode: sorted, unique keys; exact bytes */
    sh_scrape_entry e[3] = {{.complete = 1, .downloaded = 2, .incomplete = 3},
                            {.complete = 4, .downloaded = 5, .incomplete = 6},
                            {.complete = 9}};
    memset(e[0].info_hash, 'b', 20);
    memset(e[1].info_hash, 'a', 20);
    memset(e[2].info_hash, 'b', 20); /* duplicate of e[0] */
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_scrape_encode(&b, e, 3);
    const char want[] = "d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei4e10:downloadedi5e"
                        "10:incompletei6ee20:bbbbbbbbbbbbbbbbbbbbd8:completei1e10:downloadedi2e"
                        "10:incompletei3eeee";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    sh_bbuf_free(&b);
    sh_http_scrape_encode(&b, NULL, 0);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "d5:filesdee", 11);
    sh_bbuf_free(&b);
}

/* ---- the client URL ---- */

static sh_announce_req url_req(void)
{
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, "aaaaaaaaaaaaaaaaaaaa", 20);
    memcpy(r.peer_id, "-SH0001-0123456789ab", 20);
    r.addr.port = 6881;
    r.uploaded = 5;
    r.left = 18446744073709551615ull;
    r.numwant = 50;
    r.key = 0xdeadbeef;
    return r;
}

static void test_url_shapes(void **st)
{
    (void)st;
    sh_announce_req r = url_req();
    char *u = sh_http_announce_url("http://t:1/announce", &r);
    assert_string_equal(u, "http://t:1/announce?info_hash=aaaaaaaaaaaaaaaaaaaa"
                           "&peer_id=-SH0001-0123456789ab&port=6881&uploaded=5&downloaded=0"
                           "&left=18446744073709551615&compact=1&numwant=50&key=DEADBEEF");
    free(u);
    r.event = SH_TEV_STARTED;
    u = sh_http_announce_url("http://t/a?passkey=x", &r);
    assert_non_null(strstr(u, "/a?passkey=x&info_hash=aaaa"));
    assert_non_null(strstr(u, "&event=started&compact=1"));
    free(u);
    const char *bases[] = {"http://t/a?", "http://t/a?k=v&"};
    for (int i = 0; i < 2; i++) {
        u = sh_http_announce_url(bases[i], &r);
        assert_memory_equal(u, bases[i], strlen(bases[i]));
        assert_memory_equal(u + strlen(bases[i]), "info_hash=", 10);
        free(u);
    }
    r.event = SH_TEV_STOPPED;
    u = sh_http_announce_url("", &r);
    assert_non_null(strstr(u, "&event=stopped&"));
    free(u);
}

static bool url_char_ok(const char *u, size_t i)
{
    char c = u[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    if (strchr(".-_~=&?", c)) return true;
    if (c != '%') return false;
    for (int k = 1; k <= 2; k++)
        if (!strchr("0123456789ABCDEF", u[i + (size_t)k]) || !u[i + (size_t)k]) return false;
    return true;
}

static void test_url_all_bytes(void **st)
{
    (void)st;
    /* 7 URLs carry 280 id bytes: every value 0..255 at least once */
    for (int round = 0; round < 7; round++) {
        sh_announce_req r = url_req();
        for (int i = 0; i < 20; i++) {
            r.info_hash[i] = (uint8_t)(round * 40 + i);
            r.peer_id[i] = (uint8_t)(round * 40 + 20 + i);
        }
        char *u = sh_http_announce_url("/announce", &r);
        assert_non_null(u);
        const char *q = strchr(u, '?') + 1;
        for (size_t i = 0; q[i]; i++)
            if (!url_char_ok(q, i)) fail_msg("unescaped byte 0x%02x at %zu", (uint8_t)q[i], i);
        sh_announce_req back;
        sh_errinfo ei;
        assert_int_equal(sh_http_announce_parse(q, strlen(q), &remote4, &back, &ei), 0);
        assert_memory_equal(back.info_hash, r.info_hash, 20);
        assert_memory_equal(back.peer_id, r.peer_id, 20);
        assert_int_equal(back.addr.port, 6881);
        assert_true(back.left == r.left && back.uploaded == 5);
        assert_int_equal(back.numwant, 50);
        assert_int_equal(back.key, 0xdeadbeef);
        free(u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_happy),
        cmocka_unit_test(test_parse_missing),
        cmocka_unit_test(test_parse_ids),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_parse_numwant_event),
        cmocka_unit_test(test_parse_limits_and_v6),
        cmocka_unit_test(test_roundtrip_compact),
        cmocka_unit_test(test_roundtrip_dict),
        cmocka_unit_test(test_failure_encode),
        cmocka_unit_test(test_decode_hostile),
        cmocka_unit_test(test_scrape),
        cmocka_unit_test(test_url_shapes),
        cmocka_unit_test(test_url_all_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
