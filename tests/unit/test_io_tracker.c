/* test_io_tracker.c — the tracker server in-process: libmicrohttpd and the
 * UDP socket driven by one sh_loop, real sockets on 127.0.0.120. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/clock.h"
#include "io/net.h"
#include "io/tracker_srv.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOST "127.0.0.120"

typedef struct waiter {
    int fd;
    sh_time deadline;
    bool ready;
} waiter;

static void on_tick(sh_loop *l, uint64_t id, void *ud)
{
    waiter *w = ud;
    (void)id;
    struct pollfd p = {w->fd, POLLIN, 0};
    if (poll(&p, 1, 0) == 1) {
        w->ready = true;
        sh_loop_stop(l);
        return;
    }
    if (sh_loop_now(l) > w->deadline) {
        sh_loop_stop(l);
        return;
    }
    sh_loop_timer(l, sh_loop_now(l) + SH_MS(2), on_tick, w);
}

/* Runs the loop until fd is readable (true) or 5 s pass (false). */
static bool run_until_readable(sh_loop *l, int fd)
{
    waiter w = {fd, sh_clock_now() + SH_SEC(5), false};
    sh_loop_timer(l, sh_clock_now(), on_tick, &w);
    assert_int_equal(sh_loop_run(l), 0);
    return w.ready;
}

static sh_addr host_addr(uint16_t port)
{
    sh_addr a;
    assert_int_equal(sh_addr_parse_ip(HOST, strlen(HOST), &a), 0);
    a.port = port;
    return a;
}

static int client(int type, const sh_addr *to)
{
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(sh_net_to_sockaddr(to, &ss, &len), 0);
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

static sh_tracker *start(sh_loop *l, sh_addr *http, sh_addr *udp)
{
    sh_tracker_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.http[0] = host_addr(0);
    cfg.n_http = 1;
    cfg.udp[0] = host_addr(0);
    cfg.n_udp = 1;
    cfg.ip_rate = 200;
    sh_tracker *t = NULL;
    sh_errinfo ei = {{0}, 0};
    assert_int_equal(sh_tracker_new(l, &cfg, &t, &ei), 0);
    assert_int_equal(sh_tracker_http_addrs(t, http, 1), 1);
    assert_int_equal(sh_tracker_udp_addrs(t, udp, 1), 1);
    assert_int_not_equal(http->port, 0);
    assert_int_not_equal(udp->port, 0);
    return t;
}

static void test_http_announce(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_addr http, udp;
    sh_tracker *t = start(l, &http, &udp);
    int fd = client(SOCK_STREAM, &http);
    const char req[] = "GET /announce?info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f"
                       "%10%11%12%00&peer_id=-XX0001-000000000001&port=7000&left=0 HTTP/1.1\r\n"
                       "Host: x\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    assert_true(run_until_readable(l, fd));
    char buf[2048] = {0};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    assert_non_null(strstr(buf, "Content-Type: text/plain"));
    assert_non_null(strstr(buf, "\r\n\r\nd8:completei1e10:downloadedi0e10:incompletei0e"
                                "8:intervali30e12:min intervali15e5:peers0:e"));
    close(fd);
    sh_tracker_free(t);
    sh_loop_free(l);
}

static void test_udp_connect(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_addr http, udp;
    sh_tracker *t = start(l, &http, &udp);
    int fd = client(SOCK_DGRAM, &udp);
    static const uint8_t junk[5] = {1, 2, 3, 4, 5};
    static const uint8_t conn[16] = {0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0,
                                     0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(send(fd, junk, sizeof junk, 0), 5); /* dropped, silently */
    assert_int_equal(send(fd, conn, sizeof conn, 0), 16);
    assert_true(run_until_readable(l, fd));
    uint8_t buf[64];
    assert_int_equal(recv(fd, buf, sizeof buf, 0), 16); /* one answer, to the connect */
    static const uint8_t head[8] = {0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef};
    assert_memory_equal(buf, head, 8);
    assert_int_equal(recv(fd, buf, sizeof buf, MSG_DONTWAIT), -1);
    close(fd);
    sh_tracker_free(t);
    sh_loop_free(l);
}

static void test_bind_conflict_named(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    sh_addr http, udp;
    sh_tracker *t = start(l, &http, &udp);
    sh_tracker_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.http[0] = http; /* taken */
    cfg.n_http = 1;
    sh_tracker *t2 = NULL;
    sh_errinfo ei = {{0}, 0};
    assert_int_equal(sh_tracker_new(l, &cfg, &t2, &ei), SH_EEXIST);
    assert_null(t2);
    char want[64];
    snprintf(want, sizeof want, "HTTP %s:%u", HOST, http.port);
    assert_non_null(strstr(ei.msg, want));
    /* UDP taken too: the HTTP listener made first is undone. */
    cfg.http[0] = host_addr(0);
    cfg.udp[0] = udp;
    cfg.n_udp = 1;
    assert_int_equal(sh_tracker_new(l, &cfg, &t2, &ei), SH_EEXIST);
    assert_non_null(strstr(ei.msg, "UDP"));
    /* No listener at all is a caller's mistake. */
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(sh_tracker_new(l, &cfg, &t2, &ei), SH_EINVAL);
    sh_tracker_free(t);
    sh_tracker_free(NULL);
    sh_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_announce),
        cmocka_unit_test(test_udp_connect),
        cmocka_unit_test(test_bind_conflict_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
