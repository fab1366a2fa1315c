/*
 * test_announcer.c — the announcer driven by hand in virtual time: events
 * in order (started, completed once, stopped last), intervals and min
 * intervals, tiers and the in-tier fallback order, backoff after failures,
 * HTTP timeouts, the BEP 15 exchange (connect, announce, retransmission,
 * give-up, connection id reuse and renewal), forged and garbage answers,
 * shutdown, URL checks and determinism.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/announcer.h>

/* ---- harness ---- */

typedef struct rec {
    sh_ann_action_type type;
    uint64_t req;
    char url[1024];
    char host[256];
    uint16_t port;
    uint8_t data[128];
    size_t len;
    sh_tpeer peers[8];
    uint32_t num_peers;
} rec;

#define MAXREC 32
static rec recs[MAXREC];
static size_t nrec;

static char logbuf[8192];
static void log_sink(void *ud, sh_log_level lvl, const char *comp, const char *msg)
{
    (void)ud;
    (void)lvl;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "[%s] %s\n", comp, msg);
}

/* Takes every queued action (copies: the originals die at the next call). */
static size_t drain(sh_announcer *a)
{
    sh_ann_action act;
    nrec = 0;
    while (sh_announcer_next_action(a, &act)) {
        assert_true(nrec < MAXREC);
        rec *r = &recs[nrec++];
        memset(r, 0, sizeof *r);
        r->type = act.type;
        r->req = act.req;
        if (act.url) snprintf(r->url, sizeof r->url, "%s", act.url);
        if (act.host) snprintf(r->host, sizeof r->host, "%s", act.host);
        r->port = act.port;
        assert_true(act.len <= sizeof r->data);
        if (act.data) memcpy(r->data, act.data, act.len);
        r->len = act.len;
        r->num_peers = act.num_peers < 8 ? act.num_peers : 8;
        if (act.peers) memcpy(r->peers, act.peers, r->num_peers * sizeof *r->peers);
    }
    return nrec;
}

/* Runs the timer if due, then drains. */
static size_t tick(sh_announcer *a, sh_time now)
{
    if (sh_announcer_next_deadline(a) <= now) sh_announcer_on_timer(a, now);
    return drain(a);
}

static char *url_a[] = {"http://a.test/announce"};
static sh_tier one_tier[] = {{url_a, 1}};

static sh_announcer *make(const sh_tier *tiers, uint32_t n, uint64_t seed)
{
    sh_announcer_config c;
    memset(&c, 0, sizeof c);
    c.tiers = tiers;
    c.num_tiers = n;
    for (int i = 0; i < 20; i++) {
        c.info_hash[i] = (uint8_t)(0xa0 + i);
        c.peer_id[i] = (uint8_t)('A' + i);
    }
    c.port = 6881;
    c.key = 0x1234abcd;
    c.seed = seed;
    c.log = (sh_logger){log_sink, NULL, SH_LOG_DEBUG};
    logbuf[0] = 0;
    sh_announcer *a = NULL;
    assert_int_equal(sh_announcer_new(&c, 0, &a), 0);
    sh_announcer_set_totals(a, 0, 0, 1000);
    return a;
}

/* "d8:intervali<iv>e[12:min intervali<mi>e]5:peers<6n>:...e" with n peers 10.0.0.k:7000+k. */
static size_t body(uint8_t *out, uint32_t iv, uint32_t mi, int npeers)
{
    char *p = (char *)out;
    int n = sprintf(p, "d");
    if (iv) n += sprintf(p + n, "8:intervali%ue", iv);
    if (mi) n += sprintf(p + n, "12:min intervali%ue", mi);
    n += sprintf(p + n, "5:peers%d:", 6 * npeers);
    for (int k = 1; k <= npeers; k++) {
        uint8_t e[6] = {10, 0, 0, (uint8_t)k, (uint8_t)((7000 + k) >> 8), (uint8_t)(7000 + k)};
        memcpy(p + n, e, 6);
        n += 6;
    }
    p[n++] = 'e';
    return (size_t)n;
}

static void answer(sh_announcer *a, uint64_t req, uint32_t iv, uint32_t mi, int npeers, sh_time now)
{
    uint8_t b[512];
    size_t len = body(b, iv, mi, npeers);
    sh_announcer_http_done(a, req, 200, b, len, now);
}

static void fail_http(sh_announcer *a, uint64_t req, sh_time now)
{
    sh_announcer_http_done(a, req, 503, NULL, 0, now);
}

static const char *event_of(const rec *r)
{
    if (strstr(r->url, "event=started")) return "started";
    if (strstr(r->url, "event=completed")) return "completed";
    if (strstr(r->url, "event=stopped")) return "stopped";
    assert_null(strstr(r->url, "event="));
    return "none";
}

static void expect_get(size_t i, const char *base, const char *event)
{
    assert_true(i < nrec);
    assert_int_equal(recs[i].type, SH_ANN_HTTP_GET);
    if (strncmp(recs[i].url, base, strlen(base)) != 0)
        fail_msg("url %s, want %s", recs[i].url, base);
    assert_string_equal(event_of(&recs[i]), event);
}

static sh_tracker_status status_of(sh_announcer *a, size_t i)
{
    sh_tracker_status st[8];
    size_t n = sh_announcer_trackers(a, st, 8);
    assert_true(i < n);
    return st[i];
}

/* ---- HTTP: events and intervals ---- */

static void test_event_order(void **st)
{
    (void)st;
    sh_announcer *a = make(one_tier, 1, 1);
    assert_int_equal(sh_announcer_next_deadline(a), 0);
    assert_int_equal(tick(a, 0), 1);
    expect_get(0, "http://a.test/announce?info_hash=%A0%A1", "started");
    assert_non_null(strstr(recs[0].url, "&port=6881&uploaded=0&downloaded=0&left=1000"));
    assert_non_null(strstr(recs[0].url, "&numwant=50&key=1234ABCD"));
    uint64_t req = recs[0].req;
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(15)); /* the HTTP timeout */

    answer(a, req, 30, 0, 2, SH_SEC(1));
    assert_int_equal(drain(a), 1);
    assert_int_equal(recs[0].type, SH_ANN_PEERS);
    assert_int_equal(recs[0].num_peers, 2);
    assert_int_equal(recs[0].peers[1].addr.ip[3], 2);
    assert_int_equal(recs[0].peers[1].addr.port, 7002);
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(31));
    sh_tracker_status s = status_of(a, 0);
    assert_true(s.working);
    assert_int_equal(s.last_peers, 2);

    /* completed: at once, even 2 s after started */
    sh_announcer_set_totals(a, 5, 1000, 0);
    sh_announcer_completed(a, SH_SEC(3));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(3));
    assert_int_equal(tick(a, SH_SEC(3)), 1);
    expect_get(0, "http://a.test/announce?", "completed");
    assert_non_null(strstr(recs[0].url, "&uploaded=5&downloaded=1000&left=0"));
    answer(a, recs[0].req, 30, 0, 0, SH_SEC(7));
    assert_int_equal(drain(a), 0); /* no peers, no action */
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(37));

    /* completed only once */
    sh_announcer_completed(a, SH_SEC(8));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(37));
    assert_int_equal(tick(a, SH_SEC(37)), 1);
    expect_get(0, "http://a.test/announce?", "none");
    answer(a, recs[0].req, 30, 0, 0, SH_SEC(38));

    /* stopped last, with numwant 0; then idle and silent */
    assert_false(sh_announcer_idle(a));
    sh_announcer_stop(a, SH_SEC(40));
    assert_int_equal(drain(a), 1);
    expect_get(0, "http://a.test/announce?", "stopped");
    assert_non_null(strstr(recs[0].url, "&numwant=0&"));
    assert_false(sh_announcer_idle(a));
    answer(a, recs[0].req, 30, 0, 3, SH_SEC(41));
    assert_int_equal(drain(a), 0); /* peers in a stopped answer are useless */
    assert_true(sh_announcer_idle(a));
    assert_int_equal(sh_announcer_next_deadline(a), SH_TIME_NEVER);
    sh_announcer_on_timer(a, SH_SEC(1000));
    assert_int_equal(drain(a), 0);
    sh_announcer_completed(a, SH_SEC(1001));
    sh_announcer_on_timer(a, SH_SEC(1002));
    assert_int_equal(drain(a), 0);
    sh_announcer_free(a);
}

static void test_intervals(void **st)
{
    (void)st;
    sh_announcer *a = make(one_tier, 1, 1);
    tick(a, 0);
    /* interval 10 but min interval 20: 20 */
    answer(a, recs[0].req, 10, 20, 0, SH_SEC(1));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(21));
    /* completed is not held back by the min interval */
    sh_announcer_completed(a, SH_SEC(2));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(2));
    assert_int_equal(tick(a, SH_SEC(2)), 1);
    expect_get(0, "http://a.test/", "completed");
    /* the periodic one after it honours the min interval again */
    answer(a, recs[0].req, 10, 20, 0, SH_SEC(7));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(27));
    assert_int_equal(tick(a, SH_SEC(26)), 0);
    assert_int_equal(tick(a, SH_SEC(27)), 1);
    expect_get(0, "http://a.test/", "none");
    /* no interval at all: the default 30 s */
    answer(a, recs[0].req, 0, 0, 0, SH_SEC(28));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(58));
    tick(a, SH_SEC(58));
    expect_get(0, "http://a.test/", "none");
    /* interval 1: never more often than every 5 s */
    answer(a, recs[0].req, 1, 0, 0, SH_SEC(59));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(64));
    tick(a, SH_SEC(64));
    /* absurd interval: capped at 2 h */
    answer(a, recs[0].req, 4000000000u, 0, 0, SH_SEC(66));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(66 + 7200));
    sh_announcer_free(a);
}

/* completed while started is still out: sent right after started's answer. */
static void test_completed_during_started(void **st)
{
    (void)st;
    sh_announcer *a = make(one_tier, 1, 1);
    tick(a, 0);
    uint64_t req = recs[0].req;
    sh_announcer_completed(a, SH_SEC(1));
    assert_int_equal(drain(a), 0);
    answer(a, req, 60, 0, 0, SH_SEC(2));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(2));
    tick(a, SH_SEC(2));
    expect_get(0, "http://a.test/", "completed");
    answer(a, recs[0].req, 60, 0, 0, SH_SEC(3));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(63));
    sh_announcer_free(a);
}

/* ---- failures ---- */

static void test_backoff(void **st)
{
    (void)st;
    sh_announcer *a = make(one_tier, 1, 1);
    const unsigned want[] = {5, 10, 20, 40, 80, 160, 300, 300, 300};
    sh_time now = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(tick(a, now), 1);
        expect_get(0, "http://a.test/", "started"); /* started until it is answered */
        fail_http(a, recs[0].req, now + SH_SEC(1));
        assert_int_equal(drain(a), 0);
        sh_time next = sh_announcer_next_deadline(a);
        assert_int_equal(next, now + SH_SEC(1) + SH_SEC(want[i]));
        sh_tracker_status s = status_of(a, 0);
        assert_false(s.working);
        assert_int_equal(s.fails, i + 1);
        assert_string_equal(s.last_error, "HTTP 503");
        assert_int_equal(tick(a, next - 1), 0); /* not a nanosecond early */
        now = next;
    }
    assert_non_null(strstr(logbuf, "http://a.test/announce: started announce failed: HTTP 503; "
                                   "retry in 300 s (failure 9)"));
    /* one answer resets it */
    tick(a, now);
    answer(a, recs[0].req, 30, 0, 0, now + SH_SEC(1));
    sh_tracker_status s = status_of(a, 0);
    assert_true(s.working);
    assert_int_equal(s.fails, 0);
    tick(a, now + SH_SEC(31));
    expect_get(0, "http://a.test/", "none");
    fail_http(a, recs[0].req, now + SH_SEC(32));
    assert_int_equal(sh_announcer_next_deadline(a), now + SH_SEC(37));
    sh_announcer_free(a);
}

static void test_failure_texts(void **st)
{
    (void)st;
    sh_announcer *a = make(one_tier, 1, 1);
    struct {
        int status;
        const char *body;
        const char *want;
    } cases[] = {
        {200, "d14:failure reason36:Requested download is not authorizede",
         "failure reason \"Requested download is not authorized\""},
        {200, "<html>nope</html>", "bad answer: "},
        {200, "d8:intervali30e5:peers5:abcdee",
         "bad answer: peers length 5 is not a multiple of 6"},
        {200, "", "bad answer: "},
        {404, "d14:failure reason4:gonee", "HTTP 404: failure reason \"gone\""},
        {500, "oops", "HTTP 500"},
        {0, "Couldn't connect to server", "connection failed: Couldn't connect to server"},
        {0, NULL, "connection failed"},
    };
    sh_time now = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        now = sh_announcer_next_deadline(a);
        assert_int_equal(tick(a, now), 1);
        const char *b = cases[i].body;
        sh_announcer_http_done(a, recs[0].req, cases[i].status, (const uint8_t *)b,
                               b ? strlen(b) : 0, now);
        assert_int_equal(drain(a), 0);
        sh_tracker_status s = status_of(a, 0);
        if (strncmp(s.last_error, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, s.last_error, cases[i].want);
        assert_int_equal(s.fails, i + 1);
    }
    assert_non_null(strstr(logbuf, "failure reason \"Requested download is not authorized\""));
    sh_announcer_free(a);
}

static void test_http_timeout(void **st)
{
    (void)st;
    sh_announcer *a = make(one_tier, 1, 1);
    tick(a, 0);
    uint64_t old = recs[0].req;
    assert_int_equal(tick(a, SH_SEC(15) - 1), 0);
    assert_int_equal(tick(a, SH_SEC(15)), 1);
    assert_int_equal(recs[0].type, SH_ANN_CANCEL);
    assert_int_equal(recs[0].req, old);
    sh_tracker_status s = status_of(a, 0);
    assert_string_equal(s.last_error, "timeout: no answer in 15 s");
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(20));
    /* the late answer to the cancelled request changes nothing */
    answer(a, old, 30, 0, 3, SH_SEC(16));
    assert_int_equal(drain(a), 0);
    assert_int_equal(status_of(a, 0).fails, 1);
    assert_int_equal(tick(a, SH_SEC(20)), 1);
    expect_get(0, "http://a.test/", "started");
    assert_true(recs[0].req != old);
    answer(a, recs[0].req, 30, 0, 1, SH_SEC(21));
    assert_int_equal(drain(a), 1);
    assert_int_equal(recs[0].type, SH_ANN_PEERS);
    sh_announcer_free(a);
}

/* ---- tiers ---- */

static char *t0[] = {"http://a.test/announce", "http://b.test/announce"};
static char *t1[] = {"http://c.test/announce"};
static sh_tier two_tiers[] = {{t0, 2}, {t1, 1}};

static size_t find_get(const char *base)
{
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].type == SH_ANN_HTTP_GET && strncmp(recs[i].url, base, strlen(base)) == 0)
            return i;
    fail_msg("no GET to %s", base);
    return 0;
}

static void test_tiers(void **st)
{
    (void)st;
    sh_announcer *a = make(two_tiers, 2, 1);
    /* every tier, but only the first tracker of each */
    assert_int_equal(tick(a, 0), 2);
    uint64_t ra = recs[find_get("http://a.test/")].req;
    uint64_t rc = recs[find_get("http://c.test/")].req;
    /* a fails: b is tried at once, with started */
    fail_http(a, ra, SH_SEC(1));
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(1));
    assert_int_equal(tick(a, SH_SEC(1)), 1);
    expect_get(0, "http://b.test/", "started");
    uint64_t rb = recs[0].req;
    answer(a, rb, 100, 0, 1, SH_SEC(2));
    answer(a, rc, 50, 0, 1, SH_SEC(2));
    assert_int_equal(drain(a), 2); /* peers from both tiers */
    assert_int_equal(recs[0].type, SH_ANN_PEERS);
    assert_int_equal(recs[1].type, SH_ANN_PEERS);
    /* b answered: it moved to the front of tier 0 */
    assert_string_equal(status_of(a, 0).url, "http://b.test/announce");
    assert_string_equal(status_of(a, 1).url, "http://a.test/announce");
    assert_int_equal(status_of(a, 1).fails, 1);
    assert_string_equal(status_of(a, 2).url, "http://c.test/announce");
    assert_int_equal(status_of(a, 2).tier, 1);
    /* each tier on its own interval */
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(52));
    assert_int_equal(tick(a, SH_SEC(52)), 1);
    expect_get(0, "http://c.test/", "none");
    answer(a, recs[0].req, 50, 0, 0, SH_SEC(52));
    assert_int_equal(tick(a, SH_SEC(102)), 2);
    size_t ib = find_get("http://b.test/");
    expect_get(ib, "http://b.test/", "none");
    /* b fails now: a (its backoff long over) gets started, being new to us */
    fail_http(a, recs[ib].req, SH_SEC(103));
    tick(a, SH_SEC(103));
    expect_get(0, "http://a.test/", "started");
    fail_http(a, recs[0].req, SH_SEC(104));
    /* both in backoff: the tier waits for the first to come back (b at 108) */
    assert_int_equal(tick(a, SH_SEC(104)), 0);
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(108));
    assert_int_equal(tick(a, SH_SEC(108)), 1);
    expect_get(0, "http://b.test/", "none");
    sh_announcer_free(a);
}

/* Duplicates, unusable URLs and empty tiers are dropped or parked, not fatal. */
static void test_tier_hygiene(void **st)
{
    (void)st;
    static char *x0[] = {"http://a.test/announce", "ftp://nope/", "udp://h.test"};
    static char *x1[] = {"http://a.test/announce"};
    static char *x2[] = {"udp://127.0.0.5:80/x"};
    sh_tier tiers[] = {{x0, 3}, {x1, 1}, {NULL, 0}, {x2, 1}};
    sh_announcer *a = make(tiers, 4, 1);
    sh_tracker_status s[8];
    assert_int_equal(sh_announcer_trackers(a, s, 8), 4);
    assert_string_equal(s[1].url, "ftp://nope/");
    assert_string_equal(s[1].last_error, "unusable URL: not an http://, https:// or udp:// URL");
    assert_string_equal(s[2].last_error, "unusable URL: udp:// needs a port (udp://host:port)");
    assert_string_equal(s[3].url, "udp://127.0.0.5:80/x");
    assert_int_equal(s[3].tier, 1);
    assert_int_equal(sh_announcer_trackers(a, s, 2), 2);
    assert_int_equal(tick(a, 0), 2);
    assert_int_equal(recs[0].type, SH_ANN_HTTP_GET);
    assert_int_equal(recs[1].type, SH_ANN_UDP_SEND);
    assert_string_equal(recs[1].host, "127.0.0.5");
    assert_int_equal(recs[1].port, 80);
    /* a fails; the tier's other trackers are unusable: it waits for a */
    fail_http(a, recs[0].req, SH_SEC(1));
    assert_int_equal(tick(a, SH_SEC(1)), 0);
    sh_announcer_free(a);

    /* no trackers at all: nothing to do, and stop is idle at once */
    a = make(NULL, 0, 1);
    assert_int_equal(sh_announcer_next_deadline(a), SH_TIME_NEVER);
    sh_announcer_stop(a, 0);
    assert_true(sh_announcer_idle(a));
    sh_announcer_free(a);
}

/* ---- stop ---- */

static void test_stop(void **st)
{
    (void)st;
    sh_announcer *a = make(two_tiers, 2, 1);
    tick(a, 0);
    uint64_t ra = recs[find_get("http://a.test/")].req;
    uint64_t rc = recs[find_get("http://c.test/")].req;
    answer(a, ra, 30, 0, 0, SH_SEC(1));
    /* c's started is still out; b was never contacted */
    sh_announcer_stop(a, SH_SEC(2));
    assert_int_equal(drain(a), 1);
    expect_get(0, "http://a.test/", "stopped");
    assert_non_null(strstr(recs[0].url, "&numwant=0&"));
    answer(a, recs[0].req, 30, 0, 0, SH_SEC(2));
    assert_false(sh_announcer_idle(a)); /* c */
    /* c's started answers: now c hears stopped (its peers are not wanted) */
    answer(a, rc, 30, 0, 4, SH_SEC(3));
    assert_int_equal(drain(a), 1);
    expect_get(0, "http://c.test/", "stopped");
    uint64_t sc = recs[0].req;
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(5));
    /* completed after stop: ignored */
    sh_announcer_completed(a, SH_SEC(4));
    assert_int_equal(tick(a, SH_SEC(4)), 0);
    /* c does not answer the stopped: given up at the deadline */
    assert_int_equal(tick(a, SH_SEC(5)), 1);
    assert_int_equal(recs[0].type, SH_ANN_CANCEL);
    assert_int_equal(recs[0].req, sc);
    assert_true(sh_announcer_idle(a));
    assert_int_equal(sh_announcer_next_deadline(a), SH_TIME_NEVER);
    sh_announcer_stop(a, SH_SEC(6)); /* idempotent */
    assert_int_equal(drain(a), 0);
    sh_announcer_free(a);

    /* completed out when stop comes: completed counts, then stopped */
    a = make(one_tier, 1, 1);
    tick(a, 0);
    answer(a, recs[0].req, 30, 0, 0, 0);
    sh_announcer_completed(a, SH_SEC(1));
    tick(a, SH_SEC(1));
    expect_get(0, "http://a.test/", "completed");
    sh_announcer_stop(a, SH_SEC(1));
    assert_int_equal(drain(a), 0);
    answer(a, recs[0].req, 30, 0, 0, SH_SEC(1));
    assert_int_equal(drain(a), 1);
    expect_get(0, "http://a.test/", "stopped");
    /* a failing stopped announce is not retried */
    fail_http(a, recs[0].req, SH_SEC(2));
    assert_true(sh_announcer_idle(a));
    assert_int_equal(drain(a), 0);
    assert_int_equal(tick(a, SH_SEC(100)), 0);
    sh_announcer_free(a);

    /* a started out at stop that fails: the tracker does not know us, no stopped */
    a = make(one_tier, 1, 1);
    tick(a, 0);
    sh_announcer_stop(a, SH_SEC(1));
    fail_http(a, recs[0].req, SH_SEC(1));
    assert_int_equal(drain(a), 0);
    assert_true(sh_announcer_idle(a));
    sh_announcer_free(a);

    /* a tracker that never answered is not told we stop */
    a = make(one_tier, 1, 1);
    tick(a, 0);
    fail_http(a, recs[0].req, 0);
    sh_announcer_stop(a, SH_SEC(1));
    assert_int_equal(drain(a), 0);
    assert_true(sh_announcer_idle(a));
    sh_announcer_free(a);
}

/* ---- UDP ---- */

static char *u0[] = {"udp://127.0.0.9:6969/announce"};
static sh_tier udp_tier[] = {{u0, 1}};
static const sh_addr tracker9 = {.family = 4, .ip = {127, 0, 0, 9}, .port = 6969};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* The connect request just sent; returns its txid. */
static uint32_t expect_connect(size_t i)
{
    assert_true(i < nrec);
    assert_int_equal(recs[i].type, SH_ANN_UDP_SEND);
    assert_int_equal(recs[i].len, 16);
    assert_true(be64(recs[i].data) == SH_UDP_PROTOCOL_ID);
    assert_int_equal(be32(recs[i].data + 8), SH_UDP_CONNECT);
    return be32(recs[i].data + 12);
}

static uint32_t expect_announce(size_t i, uint64_t conn_id, uint32_t event)
{
    assert_true(i < nrec);
    assert_int_equal(recs[i].type, SH_ANN_UDP_SEND);
    assert_int_equal(recs[i].len, 98);
    assert_true(be64(recs[i].data) == conn_id);
    assert_int_equal(be32(recs[i].data + 8), SH_UDP_ANNOUNCE);
    assert_memory_equal(recs[i].data + 16, "\xa0\xa1\xa2", 3);
    assert_int_equal(be32(recs[i].data + 80), event);
    assert_int_equal(be32(recs[i].data + 88), 0x1234abcd);
    assert_int_equal(recs[i].data[96] << 8 | recs[i].data[97], 6881);
    return be32(recs[i].data + 12);
}

static void udp_connected(sh_announcer *a, uint32_t txid, uint64_t cid, sh_time now)
{
    uint8_t p[16];
    sh_udp_connect_reply(p, txid, cid);
    sh_announcer_udp_recv(a, &tracker9, p, 16, now);
}

static void udp_announced(sh_announcer *a, const sh_addr *from, uint32_t txid, uint32_t iv,
                          int npeers, sh_time now)
{
    sh_tpeer peers[4];
    memset(peers, 0, sizeof peers);
    for (int k = 0; k < npeers; k++) {
        peers[k].addr = (sh_addr){.family = 4, .ip = {10, 9, 9, (uint8_t)(k + 1)}, .port = 7777};
    }
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    r.interval = iv;
    r.peers = peers;
    r.num_peers = (uint32_t)npeers;
    uint8_t p[200];
    size_t len = sh_udp_announce_reply(p, sizeof p, txid, &r, 4);
    assert_true(len > 0);
    sh_announcer_udp_recv(a, from, p, len, now);
}

static void test_udp_exchange(void **st)
{
    (void)st;
    sh_announcer *a = make(udp_tier, 1, 7);
    assert_int_equal(tick(a, 0), 1);
    assert_string_equal(recs[0].host, "127.0.0.9");
    assert_int_equal(recs[0].port, 6969);
    uint32_t tx = expect_connect(0);
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(2));
    udp_connected(a, tx, 0x1122334455667788ull, SH_MS(10));
    assert_int_equal(drain(a), 1);
    tx = expect_announce(0, 0x1122334455667788ull, SH_TEV_STARTED);
    assert_int_equal(be32(recs[0].data + 92), 50); /* numwant */
    udp_announced(a, &tracker9, tx, 20, 3, SH_MS(20));
    assert_int_equal(drain(a), 1);
    assert_int_equal(recs[0].type, SH_ANN_PEERS);
    assert_int_equal(recs[0].num_peers, 3);
    assert_int_equal(recs[0].peers[2].addr.ip[3], 3);
    assert_true(status_of(a, 0).working);

    /* 20 s later the connection id (from 0.01 s) is still good: announce straight away */
    assert_int_equal(sh_announcer_next_deadline(a), SH_MS(20) + SH_SEC(20));
    assert_int_equal(tick(a, SH_MS(20) + SH_SEC(20)), 1);
    tx = expect_announce(0, 0x1122334455667788ull, SH_TEV_NONE);
    udp_announced(a, &tracker9, tx, 50, 0, SH_SEC(21));
    /* at 71 s it has expired (60 s): connect again */
    assert_int_equal(tick(a, SH_SEC(71)), 1);
    tx = expect_connect(0);
    udp_connected(a, tx, 0x99ull, SH_SEC(71));
    drain(a);
    tx = expect_announce(0, 0x99ull, SH_TEV_NONE);

    /* stop with a fresh id: the stopped announce goes out directly */
    udp_announced(a, &tracker9, tx, 50, 0, SH_SEC(72));
    sh_announcer_stop(a, SH_SEC(73));
    assert_int_equal(drain(a), 1);
    tx = expect_announce(0, 0x99ull, SH_TEV_STOPPED);
    assert_int_equal(be32(recs[0].data + 92), 0);
    assert_false(sh_announcer_idle(a));
    udp_announced(a, &tracker9, tx, 50, 0, SH_SEC(74));
    assert_true(sh_announcer_idle(a));
    sh_announcer_free(a);
}

static void test_udp_retransmit(void **st)
{
    (void)st;
    sh_announcer *a = make(udp_tier, 1, 7);
    tick(a, 0);
    uint32_t tx = expect_connect(0);
    /* resent with the same txid at 2, 6 and 14 s; given up at 30 s */
    const unsigned at[] = {2, 6, 14};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tick(a, SH_SEC(at[i]) - 1), 0);
        assert_int_equal(tick(a, SH_SEC(at[i])), 1);
        assert_int_equal(expect_connect(0), tx);
    }
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(30));
    assert_int_equal(tick(a, SH_SEC(30)), 0);
    sh_tracker_status s = status_of(a, 0);
    assert_string_equal(s.last_error, "timeout: no answer to connect after 4 tries");
    assert_int_equal(s.fails, 1);
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(35));
    /* a late answer to the abandoned exchange is ignored */
    udp_connected(a, tx, 5, SH_SEC(31));
    assert_int_equal(drain(a), 0);

    /* the announce phase retransmits on its own: connect answered, announce not */
    assert_int_equal(tick(a, SH_SEC(35)), 1);
    tx = expect_connect(0);
    udp_connected(a, tx, 0x42, SH_SEC(35));
    drain(a);
    uint32_t atx = expect_announce(0, 0x42, SH_TEV_STARTED);
    assert_int_equal(tick(a, SH_SEC(37)), 1);
    assert_int_equal(expect_announce(0, 0x42, SH_TEV_STARTED), atx);
    /* the answer to the first copy still counts */
    udp_announced(a, &tracker9, atx, 30, 1, SH_SEC(38));
    assert_int_equal(drain(a), 1);
    assert_int_equal(status_of(a, 0).fails, 0);
    sh_announcer_free(a);
}

static void test_udp_forged(void **st)
{
    (void)st;
    sh_announcer *a = make(udp_tier, 1, 7);
    tick(a, 0);
    uint32_t tx = expect_connect(0);
    uint8_t p[16];
    sh_udp_connect_reply(p, tx, 0x77);
    sh_addr wrong_port = tracker9, wrong_ip = tracker9;
    wrong_port.port = 6970;
    wrong_ip.ip[3] = 10;
    sh_announcer_udp_recv(a, &wrong_port, p, 16, SH_MS(1));
    sh_announcer_udp_recv(a, &wrong_ip, p, 16, SH_MS(1));
    sh_udp_connect_reply(p, tx + 1, 0x77); /* wrong txid */
    sh_announcer_udp_recv(a, &tracker9, p, 16, SH_MS(1));
    sh_announcer_udp_recv(a, &tracker9, p, 7, SH_MS(1)); /* too short to carry a txid */
    assert_int_equal(drain(a), 0);
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(2)); /* still waiting */
    assert_int_equal(status_of(a, 0).fails, 0);

    udp_connected(a, tx, 0x77, SH_MS(2));
    drain(a);
    tx = expect_announce(0, 0x77, SH_TEV_STARTED);
    /* a connect answer with the announce's txid: a protocol error, counted */
    udp_connected(a, tx, 0x78, SH_MS(3));
    assert_int_equal(drain(a), 0);
    assert_string_equal(status_of(a, 0).last_error, "bad answer: unexpected UDP action 0");
    assert_int_equal(status_of(a, 0).fails, 1);

    /* a matching but truncated announce answer is garbage: a failure */
    sh_time now = sh_announcer_next_deadline(a);
    assert_int_equal(now, SH_MS(3) + SH_SEC(5));
    tick(a, now);
    tx = expect_announce(0, 0x77, SH_TEV_STARTED); /* id still fresh */
    uint8_t bad[27] = {0, 0, 0, 1};
    bad[4] = (uint8_t)(tx >> 24), bad[5] = (uint8_t)(tx >> 16), bad[6] = (uint8_t)(tx >> 8);
    bad[7] = (uint8_t)tx;
    sh_announcer_udp_recv(a, &tracker9, bad, sizeof bad, now);
    assert_string_equal(status_of(a, 0).last_error, "bad answer: malformed UDP packet (27 bytes)");
    assert_int_equal(status_of(a, 0).fails, 2);

    /* an error answer: the tracker's text; the id is dropped */
    now = sh_announcer_next_deadline(a);
    assert_int_equal(now, SH_MS(3) + SH_SEC(15));
    tick(a, now);
    tx = expect_announce(0, 0x77, SH_TEV_STARTED);
    uint8_t e[64];
    size_t el = sh_udp_error_reply(e, sizeof e, tx, "Requested download is not authorized");
    sh_announcer_udp_recv(a, &tracker9, e, el, now);
    assert_string_equal(status_of(a, 0).last_error,
                        "failure reason \"Requested download is not authorized\"");
    assert_int_equal(tick(a, sh_announcer_next_deadline(a)), 1);
    expect_connect(0);
    sh_announcer_free(a);
}

static void test_udp_resolve(void **st)
{
    (void)st;
    static char *n0[] = {"udp://Tracker.Example:6969"};
    sh_tier tiers[] = {{n0, 1}};
    sh_announcer *a = make(tiers, 1, 7);
    tick(a, 0);
    assert_string_equal(recs[0].host, "Tracker.Example");
    uint32_t tx = expect_connect(0);
    /* before the driver says where it lives, no answer is trusted */
    udp_connected(a, tx, 1, SH_MS(1));
    assert_int_equal(drain(a), 0);
    sh_addr resolved = tracker9;
    resolved.port = 0; /* the port comes from the URL */
    sh_announcer_udp_resolved(a, "tracker.example", 6969, &resolved);
    udp_connected(a, tx, 1, SH_MS(2));
    assert_int_equal(drain(a), 1);
    tx = expect_announce(0, 1, SH_TEV_STARTED);
    /* the name stops resolving */
    sh_announcer_udp_failed(a, "tracker.example", 6969, SH_MS(3));
    assert_string_equal(status_of(a, 0).last_error, "cannot resolve or reach Tracker.Example:6969");
    assert_int_equal(sh_announcer_next_deadline(a), SH_MS(3) + SH_SEC(5));
    sh_announcer_udp_failed(a, "tracker.example", 6969, SH_MS(4)); /* nothing in flight */
    assert_int_equal(status_of(a, 0).fails, 1);
    sh_announcer_free(a);
}

/* Stop while only a connect is out: the tracker cannot know us, nothing is sent. */
static void test_udp_stop_connecting(void **st)
{
    (void)st;
    sh_announcer *a = make(udp_tier, 1, 7);
    tick(a, 0);
    expect_connect(0);
    sh_announcer_stop(a, SH_SEC(1));
    assert_int_equal(drain(a), 0);
    assert_true(sh_announcer_idle(a));
    sh_announcer_free(a);

    /* with the announce out, it may: stopped follows its answer */
    a = make(udp_tier, 1, 7);
    tick(a, 0);
    udp_connected(a, expect_connect(0), 8, 0);
    drain(a);
    uint32_t tx = expect_announce(0, 8, SH_TEV_STARTED);
    sh_announcer_stop(a, SH_SEC(1));
    assert_int_equal(drain(a), 0);
    udp_announced(a, &tracker9, tx, 60, 2, SH_SEC(1));
    assert_int_equal(drain(a), 1); /* no PEERS: we are leaving */
    expect_announce(0, 8, SH_TEV_STOPPED);
    sh_announcer_free(a);

    /* a known tracker whose id expired: the pending connect leads to stopped */
    a = make(udp_tier, 1, 7);
    tick(a, 0);
    udp_connected(a, expect_connect(0), 8, 0);
    drain(a);
    udp_announced(a, &tracker9, expect_announce(0, 8, SH_TEV_STARTED), 65, 0, 0);
    assert_int_equal(tick(a, SH_SEC(65)), 1);
    tx = expect_connect(0);
    sh_announcer_stop(a, SH_SEC(65));
    assert_int_equal(drain(a), 0);
    udp_connected(a, tx, 9, SH_SEC(66));
    assert_int_equal(drain(a), 1);
    expect_announce(0, 9, SH_TEV_STOPPED);
    sh_announcer_free(a);
}

/* A UDP stopped announce that needs a connect first, cut off by the deadline. */
static void test_udp_stop_deadline(void **st)
{
    (void)st;
    sh_announcer *a = make(udp_tier, 1, 7);
    tick(a, 0);
    udp_connected(a, expect_connect(0), 3, 0);
    drain(a);
    udp_announced(a, &tracker9, expect_announce(0, 3, SH_TEV_STARTED), 100, 0, 0);
    sh_announcer_stop(a, SH_SEC(90));
    assert_int_equal(drain(a), 1);
    expect_connect(0);                        /* the id is 90 s old */
    assert_int_equal(tick(a, SH_SEC(92)), 1); /* retransmission */
    expect_connect(0);
    assert_int_equal(sh_announcer_next_deadline(a), SH_SEC(93));
    assert_int_equal(tick(a, SH_SEC(93)), 0);
    assert_true(sh_announcer_idle(a));
    sh_announcer_free(a);
}

/* ---- misc ---- */

static void test_url_check(void **st)
{
    (void)st;
    const char *good[] = {"http://t/announce", "HTTPS://t.example:443/a?x=1",
                          "udp://t:1",         "udp://10.0.0.1:6969/announce",
                          "udp://[::1]:80",    "udp://t:65535/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (sh_announcer_url_check(good[i], NULL)) fail_msg("refused %s", good[i]);
    struct {
        const char *url, *why;
    } bad[] = {
        {"ftp://t/", "not an http://, https:// or udp:// URL"},
        {"t:80", "not an http://, https:// or udp:// URL"},
        {"http:///announce", "no host"},
        {"http://t/a b", "space, control or non-ASCII byte in URL"},
        {"udp://t", "udp:// needs a port (udp://host:port)"},
        {"udp://:80", "no host"},
        {"udp://t:0", "bad port (1-65535)"},
        {"udp://t:65536", "bad port (1-65535)"},
        {"udp://t:123456", "bad port (1-65535)"},
        {"udp://t:80x", "unexpected 'x' after the port"},
        {"udp://t:80?a", "unexpected '?' after the port"},
        {"udp://u@t:80", "udp:// needs a port (udp://host:port)"},
        {"udp://[::1:80", "unclosed '[' in host"},
        {"udp://[1.2.3.4]:80", "bad IPv6 address in brackets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sh_errinfo ei;
        memset(&ei, 0, sizeof ei);
        assert_int_equal(sh_announcer_url_check(bad[i].url, &ei), SH_EINVAL);
        if (strcmp(ei.msg, bad[i].why))
            fail_msg("%s: \"%s\" want \"%s\"", bad[i].url, ei.msg, bad[i].why);
    }
    char longurl[3000];
    memset(longurl, 'a', sizeof longurl);
    memcpy(longurl, "http://", 7);
    longurl[sizeof longurl - 1] = 0;
    assert_int_equal(sh_announcer_url_check(longurl, NULL), SH_EINVAL);
}

static void test_determinism(void **st)
{
    (void)st;
    uint8_t first[3][16];
    for (int run = 0; run < 3; run++) {
        sh_announcer *a = make(udp_tier, 1, run < 2 ? 99 : 100);
        tick(a, 0);
        memcpy(first[run], recs[0].data, 16);
        sh_announcer_free(a);
    }
    assert_memory_equal(first[0], first[1], 16);
    assert_memory_not_equal(first[0] + 12, first[2] + 12, 4); /* the txid follows the seed */
}

static void test_too_many_trackers(void **st)
{
    (void)st;
    static char urls[80][40];
    static char *ptrs[80];
    for (int i = 0; i < 80; i++) {
        snprintf(urls[i], sizeof urls[i], "http://t%d.test/announce", i);
        ptrs[i] = urls[i];
    }
    sh_tier tiers[] = {{ptrs, 80}};
    sh_announcer *a = make(tiers, 1, 1);
    static sh_tracker_status s[100];
    assert_int_equal(sh_announcer_trackers(a, s, 100), SH_ANN_MAX_TRACKERS);
    assert_non_null(strstr(logbuf, "more than 64 trackers: ignoring http://t64.test/announce"));
    sh_announcer_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_order),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_completed_during_started),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_failure_texts),
        cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_tier_hygiene),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_udp_exchange),
        cmocka_unit_test(test_udp_retransmit),
        cmocka_unit_test(test_udp_forged),
        cmocka_unit_test(test_udp_resolve),
        cmocka_unit_test(test_udp_stop_connecting),
        cmocka_unit_test(test_udp_stop_deadline),
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_too_many_trackers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
