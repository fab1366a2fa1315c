/* test_io_dht_node.c — the DHT node driver on real loopback sockets: joining,
 * announce and lookup between nodes, the search callback (re-entrant use),
 * the state file (save, restore, corrupt, periodic) and bind errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/clock.h"
#include "io/dht_node.h"
#include "io/net.h"

#include <shoal/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- running the loop until something holds ---- */

typedef bool (*pred_fn)(void *ud);
typedef struct waiter {
    pred_fn pred;
    void *ud;
    sh_time deadline;
    bool ok;
} waiter;

static void poll_pred(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    waiter *w = ud;
    if (w->pred(w->ud)) {
        w->ok = true;
        sh_loop_stop(l);
    } else if (sh_clock_now() > w->deadline) {
        sh_loop_stop(l);
    } else {
        sh_loop_timer(l, sh_loop_now(l) + SH_MS(5), poll_pred, w);
    }
}

static bool run_until(sh_loop *l, pred_fn pred, void *ud, unsigned ms)
{
    waiter w = {pred, ud, sh_clock_now() + SH_MS(ms), false};
    sh_loop_timer(l, sh_loop_now(l), poll_pred, &w);
    assert_int_equal(sh_loop_run(l), 0);
    return w.ok;
}

static sh_dht_node *make_node(sh_loop *l, const char *ip, const char *state)
{
    sh_dht_node_config c = {0};
    assert_int_equal(sh_addr_parse_ip(ip, strlen(ip), &c.bind), 0);
    c.state_path = state;
    sh_dht_node *n = NULL;
    sh_errinfo ei = {{0}, 0};
    assert_int_equal(sh_dht_node_new(l, &c, &n, &ei), 0);
    assert_non_null(n);
    return n;
}

static bool has_good(void *ud)
{
    sh_dht_node_stats st;
    sh_dht_node_stats_get(ud, &st);
    return st.dht.good >= 1;
}

/* ---- search results ---- */

typedef struct found {
    sh_addr peers[16];
    uint32_t npeers;
    uint32_t done;
    uint64_t last_search;
    uint32_t hops;
    /* re-entrancy: on the first DONE, start another search from the callback */
    sh_dht_node *again;
    uint8_t again_hash[20];
    uint64_t again_id;
} found;

static void on_search(sh_dht_node *n, const sh_dht_action *a, void *ud)
{
    found *f = ud;
    if (a->type == SH_DHT_PEERS) {
        for (uint32_t i = 0; i < a->num_peers && f->npeers < 16; i++)
            f->peers[f->npeers++] = a->peers[i];
    } else {
        assert_int_equal(a->type, SH_DHT_SEARCH_DONE);
        f->done++;
        f->last_search = a->search;
        f->hops = a->hops;
        if (f->again && f->done == 1) {
            assert_ptr_equal(n, f->again);
            f->again_id = sh_dht_node_search(n, f->again_hash, 0);
            assert_true(f->again_id > 0);
        }
    }
}

static bool done_once(void *ud)
{
    return ((found *)ud)->done >= 1;
}

static bool done_twice(void *ud)
{
    return ((found *)ud)->done >= 2;
}

static void test_join_announce_lookup(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_dht_node *a = make_node(l, "127.0.0.1", NULL);
    sh_dht_node *b = make_node(l, "127.0.0.1", NULL);
    sh_addr aa = sh_dht_node_addr(a), ba = sh_dht_node_addr(b);
    assert_int_equal(aa.family, 4);
    assert_true(aa.port != 0 && ba.port != aa.port);
    assert_memory_not_equal(sh_dht_node_id(a), sh_dht_node_id(b), 20);

    sh_dht_node_bootstrap(b, &aa);
    assert_true(run_until(l, has_good, b, 3000));
    assert_true(run_until(l, has_good, a, 3000));

    /* b announces port 4321; then a looks the hash up and finds b's IP with that port. */
    uint8_t ih[20];
    memset(ih, 0x42, sizeof ih);
    found fb = {0}, fa = {0};
    sh_dht_node_on_search(b, on_search, &fb);
    sh_dht_node_on_search(a, on_search, &fa);
    uint64_t sb = sh_dht_node_search(b, ih, 4321);
    assert_true(sb > 0);
    assert_true(run_until(l, done_once, &fb, 3000));
    assert_int_equal(fb.last_search, sb);
    assert_int_equal(fb.npeers, 0);

    /* The callback starts a second search from inside the first one's DONE. */
    fa.again = a;
    memset(fa.again_hash, 0x43, 20);
    uint64_t sa = sh_dht_node_search(a, ih, 0);
    assert_true(sa > 0 && sa != sb);
    assert_true(run_until(l, done_twice, &fa, 3000));
    assert_int_equal(fa.npeers, 1);
    sh_addr want = ba;
    want.port = 4321;
    assert_true(sh_addr_eq(&fa.peers[0], &want));
    assert_int_equal(fa.last_search, fa.again_id);

    sh_dht_node_stats s;
    sh_dht_node_stats_get(a, &s);
    assert_true(s.rx_datagrams > 0 && s.tx_datagrams > 0);
    assert_int_equal(s.rx_oversize, 0);
    assert_int_equal(s.tx_errors, 0);
    assert_true(s.dht.in_queries > 0 && s.dht.in_replies > 0);
    assert_int_equal(s.dht.stored_peers, 1); /* the announce reached a, the only other node */

    sh_dht_node_free(a);
    sh_dht_node_free(b);
    sh_loop_free(l);
}

static void stop_loop(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    sh_loop_stop(l);
}

/* An oversized datagram is counted and dropped unread; a normal ping still gets an answer. */
static void test_oversize_and_ping(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_dht_node *a = make_node(l, "127.0.0.1", NULL);
    sh_addr aa = sh_dht_node_addr(a);
    int fd;
    sh_addr me, any = {0};
    assert_int_equal(sh_addr_parse_ip("127.0.0.1", 9, &any), 0);
    assert_int_equal(sh_net_udp_bind(&any, &fd, &me, NULL), 0);
    struct sockaddr_storage ss;
    socklen_t sl;
    assert_int_equal(sh_net_to_sockaddr(&aa, &ss, &sl), 0);
    size_t big = SH_DHT_NODE_MAX_DATAGRAM + 1;
    char *junk = calloc(1, big);
    assert_int_equal(sendto(fd, junk, big, 0, (struct sockaddr *)&ss, sl), (ssize_t)big);
    free(junk);
    const char ping[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    assert_int_equal(sendto(fd, ping, sizeof ping - 1, 0, (struct sockaddr *)&ss, sl),
                     (ssize_t)(sizeof ping - 1));
    /* Run the loop briefly, then read the answer. */
    sh_loop_timer(l, sh_loop_now(l) + SH_MS(100), stop_loop, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    char buf[512];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    assert_true(r > 0);
    assert_non_null(memmem(buf, (size_t)r, "1:t2:aa", 7));
    assert_non_null(memmem(buf, (size_t)r, "1:y1:r", 6));
    assert_non_null(memmem(buf, (size_t)r, sh_dht_node_id(a), 20));
    sh_dht_node_stats s;
    sh_dht_node_stats_get(a, &s);
    assert_int_equal(s.rx_datagrams, 2);
    assert_int_equal(s.rx_oversize, 1);
    assert_int_equal(s.dht.in_queries, 1);
    close(fd);
    sh_dht_node_free(a);
    sh_loop_free(l);
}

/* ---- state file ---- */

static void tmp_path(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/tmp/shoal-test-dht-%ld-%s", (long)getpid(), tag);
    unlink(buf);
}

static void test_state_restore(void **st)
{
    (void)st;
    char path[256];
    tmp_path(path, sizeof path, "state");
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_dht_node *router = make_node(l, "127.0.0.1", NULL);
    sh_addr ra = sh_dht_node_addr(router);

    sh_dht_node *a = make_node(l, "127.0.0.1", path); /* missing file: fine */
    assert_false(sh_dht_node_restored(a));
    uint8_t id[20];
    memcpy(id, sh_dht_node_id(a), 20);
    sh_dht_node_bootstrap(a, &ra);
    assert_true(run_until(l, has_good, a, 3000));
    sh_dht_node_free(a); /* saves */
    assert_int_equal(access(path, F_OK), 0);

    /* Restarted without a bootstrap: same id, and the router becomes good again. */
    a = make_node(l, "127.0.0.1", path);
    assert_true(sh_dht_node_restored(a));
    assert_memory_equal(sh_dht_node_id(a), id, 20);
    assert_true(run_until(l, has_good, a, 3000));
    sh_dht_node_free(a);

    /* Corrupt: a fresh id, not restored; the file is replaced on exit. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("d2:id3:xyz", f);
    fclose(f);
    a = make_node(l, "127.0.0.1", path);
    assert_false(sh_dht_node_restored(a));
    assert_memory_not_equal(sh_dht_node_id(a), id, 20);
    memcpy(id, sh_dht_node_id(a), 20);
    sh_dht_node_free(a);
    a = make_node(l, "127.0.0.1", path);
    assert_true(sh_dht_node_restored(a));
    assert_memory_equal(sh_dht_node_id(a), id, 20);
    sh_dht_node_free(a);

    sh_dht_node_free(router);
    sh_loop_free(l);
    unlink(path);
}

static bool saved_twice(void *ud)
{
    sh_dht_node_stats st;
    sh_dht_node_stats_get(ud, &st);
    return st.saves >= 2;
}

static void test_periodic_save(void **st)
{
    (void)st;
    char path[256];
    tmp_path(path, sizeof path, "periodic");
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_dht_node_config c = {0};
    assert_int_equal(sh_addr_parse_ip("127.0.0.1", 9, &c.bind), 0);
    c.state_path = path;
    c.save_interval = SH_MS(20);
    sh_dht_node *n;
    assert_int_equal(sh_dht_node_new(l, &c, &n, NULL), 0);
    assert_true(run_until(l, saved_twice, n, 2000));
    assert_int_equal(access(path, F_OK), 0);
    sh_dht_node_free(n);
    sh_loop_free(l);
    unlink(path);

    /* No path: saving is refused with a reason. */
    assert_int_equal(sh_loop_new(&l), 0);
    n = make_node(l, "127.0.0.1", NULL);
    sh_errinfo ei = {{0}, 0};
    assert_int_equal(sh_dht_node_save(n, &ei), SH_EINVAL);
    assert_non_null(strstr(ei.msg, "no state file"));
    sh_dht_node_free(n);
    sh_loop_free(l);
}

static void test_bind_errors(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_dht_node *a = make_node(l, "127.0.0.1", NULL);
    sh_dht_node_config c = {.bind = sh_dht_node_addr(a)}; /* taken */
    sh_dht_node *b = NULL;
    sh_errinfo ei = {{0}, 0};
    assert_int_equal(sh_dht_node_new(l, &c, &b, &ei), SH_EEXIST);
    assert_null(b);
    assert_non_null(strstr(ei.msg, "127.0.0.1"));
    /* An address this host does not have. */
    assert_int_equal(sh_addr_parse("192.0.2.1:0", &c.bind), 0);
    assert_int_equal(sh_dht_node_new(l, &c, &b, &ei), SH_EINVAL);
    sh_dht_node_free(a);
    sh_dht_node_free(NULL);
    sh_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_announce_lookup), cmocka_unit_test(test_oversize_and_ping),
        cmocka_unit_test(test_state_restore),        cmocka_unit_test(test_periodic_save),
        cmocka_unit_test(test_bind_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
