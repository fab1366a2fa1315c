/* test_bencode.c — the strict bencode parser, its navigation helpers and the encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shoal/bencode.h>

static int parse_s(const char *s, sh_bdoc **doc, sh_errinfo *ei)
{
    return sh_bencode_parse((const uint8_t *)s, strlen(s), NULL, doc, ei);
}

/* Parses s, expecting success; returns the document (caller frees). */
static sh_bdoc *ok(const char *s)
{
    sh_bdoc *doc = NULL;
    sh_errinfo ei = {0};
    int rc = parse_s(s, &doc, &ei);
    if (rc != 0) fail_msg("rejected \"%s\": %s", s, ei.msg);
    return doc;
}

/* Expects s to be rejected with code; checks the message mentions `what`. */
static void bad(const char *s, int code, const char *what)
{
    sh_bdoc *doc = (sh_bdoc *)0x1;
    sh_errinfo ei = {0};
    int rc = parse_s(s, &doc, &ei);
    if (rc != code) fail_msg("\"%s\": got %d (%s), want %d", s, rc, ei.msg, code);
    assert_ptr_equal(doc, (sh_bdoc *)0x1); /* out untouched on error */
    if (what && !strstr(ei.msg, what))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s, ei.msg, what);
}

static void test_ints(void **st)
{
    (void)st;
    struct {
        const char *s;
        int64_t v;
    } cases[] = {{"i0e", 0},
                 {"i1e", 1},
                 {"i-1e", -1},
                 {"i42e", 42},
                 {"i-42e", -42},
                 {"i9223372036854775807e", INT64_MAX},
                 {"i-9223372036854775808e", INT64_MIN}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sh_bdoc *d = ok(cases[i].s);
        const sh_bnode *r = sh_bdoc_root(d);
        assert_int_equal(r->type, SH_BINT);
        assert_true(r->v.i == cases[i].v);
        assert_int_equal(r->size, 1);
        assert_int_equal(r->raw.len, strlen(cases[i].s));
        assert_memory_equal(r->raw.ptr, cases[i].s, r->raw.len);
        sh_bdoc_free(d);
    }
}

static void test_bad_ints(void **st)
{
    (void)st;
    bad("i-0e", SH_EBENCODE, "negative zero");
    bad("i00e", SH_EBENCODE, "leading zero");
    bad("i01e", SH_EBENCODE, "leading zero");
    bad("i-01e", SH_EBENCODE, "leading zero");
    bad("ie", SH_EBENCODE, "missing digits");
    bad("i-e", SH_EBENCODE, "missing digits");
    bad("i--1e", SH_EBENCODE, "invalid integer");
    bad("i+1e", SH_EBENCODE, "invalid integer");
    bad("i1.5e", SH_EBENCODE, "invalid integer");
    bad("i 1e", SH_EBENCODE, "invalid integer");
    bad("i9223372036854775808e", SH_EBENCODE, "out of range");
    bad("i-9223372036854775809e", SH_EBENCODE, "out of range");
    bad("i99999999999999999999999999e", SH_EBENCODE, "out of range");
    bad("i1", SH_EBENCODE, "end of input");
    bad("i", SH_EBENCODE, "end of input");
    bad("i-", SH_EBENCODE, "end of input");
}

static void test_strings(void **st)
{
    (void)st;
    sh_bdoc *d = ok("4:spam");
    const sh_bnode *r = sh_bdoc_root(d);
    assert_int_equal(r->type, SH_BSTR);
    assert_int_equal(r->v.s.len, 4);
    assert_memory_equal(r->v.s.ptr, "spam", 4);
    assert_int_equal(r->raw.len, 6);
    sh_bdoc_free(d);

    d = ok("0:");
    assert_int_equal(sh_bdoc_root(d)->v.s.len, 0);
    sh_bdoc_free(d);

    /* Binary content, including NUL, is carried as is (zero-copy). */
    const uint8_t bin[] = {'3', ':', 0, 'e', 0xff};
    sh_bdoc *doc;
    assert_int_equal(sh_bencode_parse(bin, sizeof bin, NULL, &doc, NULL), 0);
    assert_ptr_equal(sh_bdoc_root(doc)->v.s.ptr, bin + 2);
    assert_int_equal(sh_bdoc_root(doc)->v.s.len, 3);
    sh_bdoc_free(doc);
}

static void test_bad_strings(void **st)
{
    (void)st;
    bad("04:spam", SH_EBENCODE, "leading zero");
    bad("00:", SH_EBENCODE, "leading zero");
    bad("5:spam", SH_EBENCODE, "longer than the input");
    bad("4spam", SH_EBENCODE, "invalid string length");
    bad("-1:a", SH_EBENCODE, "unexpected byte");
    bad(":a", SH_EBENCODE, "unexpected byte");
    bad("4", SH_EBENCODE, "end of input");
    /* Huge length prefixes: no allocation, no overflow, no over-read. */
    bad("18446744073709551615:a", SH_EBENCODE, "longer than the input");
    bad("18446744073709551616:a", SH_EBENCODE, "out of range");
    bad("99999999999999999999999999999:a", SH_EBENCODE, "out of range");
    bad("9223372036854775807:x", SH_EBENCODE, "longer than the input");
}

static void test_lists_and_dicts(void **st)
{
    (void)st;
    const char *s = "d3:bar4:spam3:fooi42e4:listli1ei2eli3eee3:zzzd0:leee";
    sh_bdoc *d = ok(s);
    const sh_bnode *r = sh_bdoc_root(d);
    assert_int_equal(r->type, SH_BDICT);
    assert_int_equal(r->count, 4);
    /* dict, 4 keys, "spam", 42, list(1,2,list(3)), dict(empty list)... */
    assert_int_equal(r->size, 1 + 4 + 1 + 1 + 5 + 3);
    assert_int_equal(r->raw.len, strlen(s));

    const sh_bnode *bar = sh_bdict_get(r, "bar");
    assert_non_null(bar);
    assert_true(sh_span_eq(bar->v.s, "spam"));
    assert_int_equal(sh_bdict_get_type(r, "foo", SH_BINT)->v.i, 42);
    assert_null(sh_bdict_get_type(r, "foo", SH_BSTR));
    assert_null(sh_bdict_get(r, "missing"));
    assert_null(sh_bdict_get(r, "ba"));
    assert_null(sh_bdict_get(r, "zzzz"));
    assert_null(sh_bdict_get(bar, "x")); /* not a dict */

    const sh_bnode *list = sh_bdict_get_type(r, "list", SH_BLIST);
    assert_non_null(list);
    assert_int_equal(list->count, 3);
    assert_int_equal(list->size, 5);
    assert_int_equal(sh_blist_at(list, 0)->v.i, 1);
    assert_int_equal(sh_blist_at(list, 1)->v.i, 2);
    const sh_bnode *inner = sh_blist_at(list, 2);
    assert_int_equal(inner->type, SH_BLIST);
    assert_int_equal(sh_blist_at(inner, 0)->v.i, 3);
    assert_null(sh_blist_at(list, 3));
    assert_null(sh_blist_at(r, 0)); /* not a list */
    assert_int_equal(inner->raw.len, 5);
    assert_memory_equal(inner->raw.ptr, "li3ee", 5);

    const sh_bnode *zzz = sh_bdict_get_type(r, "zzz", SH_BDICT);
    assert_non_null(zzz);
    assert_int_equal(zzz->count, 1);
    const sh_bnode *el = sh_bdict_get_type(zzz, "", SH_BLIST);
    assert_non_null(el);
    assert_int_equal(el->count, 0);
    assert_null(sh_bnode_first(el));

    /* Iteration over a dict visits key, value, key, value. */
    int n = 0;
    for (const sh_bnode *c = sh_bnode_first(r); c; c = sh_bnode_next(r, c))
        n++;
    assert_int_equal(n, 8);
    n = 0;
    for (const sh_bnode *c = sh_bnode_first(list); c; c = sh_bnode_next(list, c))
        n++;
    assert_int_equal(n, 3);
    assert_null(sh_bnode_first(bar));
    assert_null(sh_bnode_first(NULL));
    assert_null(sh_bdict_get(NULL, "x"));
    sh_bdoc_free(d);
}

static void test_empty_containers(void **st)
{
    (void)st;
    sh_bdoc *d = ok("le");
    assert_int_equal(sh_bdoc_root(d)->count, 0);
    assert_int_equal(sh_bdoc_root(d)->size, 1);
    sh_bdoc_free(d);
    d = ok("de");
    assert_int_equal(sh_bdoc_root(d)->type, SH_BDICT);
    sh_bdoc_free(d);
}

static void test_dict_rules(void **st)
{
    (void)st;
    bad("d1:bi1e1:ai2ee", SH_EBENCODE, "increasing order");
    bad("d1:ai1e1:ai2ee", SH_EBENCODE, "increasing order");
    bad("d2:abi1e1:ai2ee", SH_EBENCODE, "increasing order");
    bad("di1ei2ee", SH_EBENCODE, "not a string");
    bad("dli1eei2ee", SH_EBENCODE, "not a string");
    bad("dlee", SH_EBENCODE, "not a string");
    bad("ddei1ee", SH_EBENCODE, "not a string");
    bad("d1:ae", SH_EBENCODE, "without a value");
    bad("d1:ai1e1:be", SH_EBENCODE, "without a value");
    /* Raw byte order: shorter prefix first, bytes compared unsigned. */
    sh_bdoc *d = ok("d1:ai1e2:aai2e1:\x7fi3e1:\x80i4e1:\xffi5ee");
    assert_int_equal(sh_bdict_get(sh_bdoc_root(d), "\x80")->v.i, 4);
    assert_int_equal(sh_bdict_get(sh_bdoc_root(d), "\xff")->v.i, 5);
    assert_int_equal(sh_bdict_get(sh_bdoc_root(d), "aa")->v.i, 2);
    sh_bdoc_free(d);
    bad("d1:\x80i1e1:\x7fi2ee", SH_EBENCODE, "increasing order");
    d = ok("d0:i1e1:ai2ee");
    assert_int_equal(sh_bdict_get(sh_bdoc_root(d), "")->v.i, 1);
    sh_bdoc_free(d);
}

static void test_top_level(void **st)
{
    (void)st;
    bad("", SH_EBENCODE, "empty input");
    bad("i1ei2e", SH_EBENCODE, "trailing data");
    bad("lee", SH_EBENCODE, "trailing data");
    bad("4:spam ", SH_EBENCODE, "trailing data");
    bad("e", SH_EBENCODE, "unexpected byte");
    bad("x", SH_EBENCODE, "unexpected byte");
    bad("l", SH_EBENCODE, "end of input");
    bad("d", SH_EBENCODE, "end of input");
    bad("li1e", SH_EBENCODE, "end of input");
    bad("lxe", SH_EBENCODE, "unexpected byte");

    sh_errinfo ei = {0};
    sh_bdoc *doc;
    assert_int_equal(parse_s("i1ei2e", &doc, &ei), SH_EBENCODE);
    assert_int_equal(ei.offset, 3);
}

static void test_prefix(void **st)
{
    (void)st;
    const char *s = "d1:ai1ee\x01\x02raw";
    sh_bdoc *doc;
    size_t used = 0;
    assert_int_equal(
        sh_bencode_parse_prefix((const uint8_t *)s, strlen(s), NULL, &doc, &used, NULL), 0);
    assert_int_equal(used, 8);
    assert_int_equal(sh_bdoc_root(doc)->raw.len, 8);
    sh_bdoc_free(doc);
    assert_int_equal(sh_bencode_parse_prefix((const uint8_t *)"i5e", 3, NULL, &doc, &used, NULL),
                     0);
    assert_int_equal(used, 3);
    sh_bdoc_free(doc);
    assert_int_equal(sh_bencode_parse_prefix((const uint8_t *)"d1:a", 4, NULL, &doc, &used, NULL),
                     SH_EBENCODE);
    assert_int_equal(sh_bencode_parse_prefix((const uint8_t *)"", 0, NULL, &doc, &used, NULL),
                     SH_EBENCODE);
}

/* Every proper prefix of a valid document is rejected, none crashes. */
static void test_truncated_everywhere(void **st)
{
    (void)st;
    const char *s = "d8:announce9:http://x/4:infod6:lengthi-123e4:name1:a4:pathl1:b0:ee"
                    "5:otherli0ei9223372036854775807e3:abcdeee";
    size_t n = strlen(s);
    sh_bdoc *d = ok(s);
    sh_bdoc_free(d);
    for (size_t cut = 0; cut < n; cut++) {
        /* A heap copy of exactly `cut` bytes, so ASan catches any over-read. */
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, s, cut);
        sh_bdoc *doc = NULL;
        sh_errinfo ei = {0};
        int rc = sh_bencode_parse(b, cut, NULL, &doc, &ei);
        if (rc != SH_EBENCODE) fail_msg("prefix of %zu bytes: rc %d", cut, rc);
        assert_null(doc);
        assert_true(ei.offset <= cut);
        size_t used;
        rc = sh_bencode_parse_prefix(b, cut, NULL, &doc, &used, NULL);
        assert_int_equal(rc, SH_EBENCODE);
        free(b);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_deep_nesting(void **st)
{
    (void)st;
    const size_t levels = 100000;
    uint8_t *b = malloc(2 * levels);
    memset(b, 'l', levels);
    memset(b + levels, 'e', levels);
    sh_bdoc *doc = NULL;
    sh_errinfo ei = {0};
    double t0 = now_s();
    assert_int_equal(sh_bencode_parse(b, 2 * levels, NULL, &doc, &ei), SH_ELIMIT);
    assert_non_null(strstr(ei.msg, "nesting too deep"));
    assert_int_equal(ei.offset, 64); /* the 65th 'l' */
    /* Dicts nest the same way: "d1:a" repeated. */
    uint8_t *dd = malloc(4 * levels);
    for (size_t i = 0; i < levels; i++)
        memcpy(dd + 4 * i, "d1:a", 4);
    assert_int_equal(sh_bencode_parse(dd, 4 * levels, NULL, &doc, NULL), SH_ELIMIT);
    /* With a limit as deep as the input it parses, still without recursion. */
    sh_bencode_limits lim = {.max_depth = (uint32_t)levels};
    assert_int_equal(sh_bencode_parse(b, 2 * levels, &lim, &doc, NULL), 0);
    assert_int_equal(sh_bdoc_root(doc)->size, levels);
    assert_int_equal(sh_bdoc_root(doc)->raw.len, 2 * levels);
    sh_bdoc_free(doc);
    lim.max_depth = (uint32_t)levels - 1;
    assert_int_equal(sh_bencode_parse(b, 2 * levels, &lim, &doc, NULL), SH_ELIMIT);
    assert_true(now_s() - t0 < 2.0);
    free(b);
    free(dd);

    /* Exactly the default depth is fine, one more is not. */
    char s[200] = {0};
    memset(s, 'l', 64);
    memset(s + 64, 'e', 64);
    sh_bdoc *d = ok(s);
    sh_bdoc_free(d);
    memset(s, 'l', 65);
    memset(s + 65, 'e', 65);
    bad(s, SH_ELIMIT, "nesting");
}

static void test_limits(void **st)
{
    (void)st;
    sh_bdoc *doc;
    sh_bencode_limits lim = {.max_nodes = 3};
    const uint8_t three[] = "li1ei2ee";
    assert_int_equal(sh_bencode_parse(three, 8, &lim, &doc, NULL), 0);
    sh_bdoc_free(doc);
    const uint8_t four[] = "li1ei2ei3ee";
    sh_errinfo ei = {0};
    assert_int_equal(sh_bencode_parse(four, 11, &lim, &doc, &ei), SH_ELIMIT);
    assert_non_null(strstr(ei.msg, "too many values"));
    lim = (sh_bencode_limits){.max_input = 7};
    assert_int_equal(sh_bencode_parse(three, 8, &lim, &doc, &ei), SH_ELIMIT);
    assert_non_null(strstr(ei.msg, "too large"));
    lim.max_input = 8;
    assert_int_equal(sh_bencode_parse(three, 8, &lim, &doc, NULL), 0);
    sh_bdoc_free(doc);
    /* Argument mistakes are EINVAL, not crashes. */
    assert_int_equal(sh_bencode_parse(NULL, 3, NULL, &doc, NULL), SH_EINVAL);
    assert_int_equal(sh_bencode_parse(three, 8, NULL, NULL, NULL), SH_EINVAL);
    assert_int_equal(sh_bencode_parse(NULL, 0, NULL, &doc, NULL), SH_EBENCODE);
}

/* A long flat list exercises node-array growth. */
static void test_many_nodes(void **st)
{
    (void)st;
    const size_t n = 200000;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_benc_list_begin(&b);
    for (size_t i = 0; i < n; i++)
        sh_benc_int(&b, (int64_t)i - 7);
    sh_benc_end(&b);
    assert_int_equal(b.err, 0);
    sh_bdoc *doc;
    assert_int_equal(sh_bencode_parse(b.data, b.len, NULL, &doc, NULL), 0);
    const sh_bnode *r = sh_bdoc_root(doc);
    assert_int_equal(r->count, n);
    assert_int_equal(r->size, n + 1);
    assert_int_equal(sh_blist_at(r, 199999)->v.i, 199999 - 7);
    sh_bdoc_free(doc);
    sh_bbuf_free(&b);
}

static void test_encoder(void **st)
{
    (void)st;
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_benc_dict_begin(&b);
    sh_benc_kv_int(&b, "a", INT64_MIN);
    sh_benc_kv_str(&b, "b", "\0x", 2);
    sh_benc_kv_cstr(&b, "c", "hello");
    sh_benc_cstr(&b, "d");
    sh_benc_list_begin(&b);
    sh_benc_int(&b, 0);
    sh_benc_int(&b, INT64_MAX);
    sh_benc_str(&b, NULL, 0);
    sh_benc_dict_begin(&b);
    sh_benc_end(&b);
    sh_benc_end(&b);
    sh_benc_end(&b);
    assert_int_equal(b.err, 0);
    const char want[] =
        "d1:ai-9223372036854775808e1:b2:\0x1:c5:hello1:dli0ei9223372036854775807e0:deee";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);

    /* Round trip: parse, and each node's raw span re-encodes identically. */
    sh_bdoc *doc;
    assert_int_equal(sh_bencode_parse(b.data, b.len, NULL, &doc, NULL), 0);
    const sh_bnode *r = sh_bdoc_root(doc);
    assert_true(sh_bdict_get(r, "a")->v.i == INT64_MIN);
    assert_int_equal(sh_bdict_get(r, "b")->v.s.len, 2);
    assert_int_equal(r->size, 1 + 4 + 3 + 5); /* dict, keys, 3 scalars, list of 4 */
    sh_bdoc_free(doc);

    size_t len;
    uint8_t *data = sh_bbuf_take(&b, &len);
    assert_int_equal(len, sizeof want - 1);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(data);

    /* take on an empty buffer still hands back a block. */
    data = sh_bbuf_take(&b, &len);
    assert_non_null(data);
    assert_int_equal(len, 0);
    free(data);

    /* Sticky error: nothing is appended after a failure, take returns NULL. */
    sh_bbuf_init(&b);
    sh_benc_int(&b, 1);
    b.err = SH_ENOMEM;
    sh_benc_int(&b, 2);
    assert_int_equal(b.len, 3);
    assert_null(sh_bbuf_take(&b, &len));
    assert_int_equal(len, 0);
    sh_bbuf_free(&b);
    sh_bbuf_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_bad_ints),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_lists_and_dicts),
        cmocka_unit_test(test_empty_containers),
        cmocka_unit_test(test_dict_rules),
        cmocka_unit_test(test_top_level),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_many_nodes),
        cmocka_unit_test(test_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
