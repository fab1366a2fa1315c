/* test_io_net.c — sockets on loopback, each side on its own 127.0.0.x address. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

static sh_addr addr(const char *s)
{
    sh_addr a;
    assert_int_equal(sh_addr_parse(s, &a), 0);
    return a;
}

static void wait_for(int fd, short ev)
{
    struct pollfd p = {fd, ev, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
}

static bool fcntl_flags_ok(int fd)
{
    return (fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void test_sockaddr_roundtrip(void **st)
{
    (void)st;
    const char *in[] = {"127.0.0.2:6881", "0.0.0.0:0", "[::1]:80", "[2001:db8::7]:65535"};
    for (size_t i = 0; i < 4; i++) {
        sh_addr a = addr(in[i]), b;
        struct sockaddr_storage ss;
        socklen_t len;
        assert_int_equal(sh_net_to_sockaddr(&a, &ss, &len), 0);
        assert_int_equal(sh_net_from_sockaddr((struct sockaddr *)&ss, len, &b), 0);
        assert_true(sh_addr_eq(&a, &b));
    }
    /* A v4-mapped IPv6 peer is reported as plain IPv4. */
    sh_addr m = addr("[::ffff:127.0.0.9]:7"), out;
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(sh_net_to_sockaddr(&m, &ss, &len), 0);
    assert_int_equal(sh_net_from_sockaddr((struct sockaddr *)&ss, len, &out), 0);
    assert_int_equal(out.family, 4);
    assert_true(sh_addr_eq(&out, &(sh_addr){.family = 4, .ip = {127, 0, 0, 9}, .port = 7}));
    /* Unset family, short length, unknown family. */
    sh_addr none = {0};
    assert_int_equal(sh_net_to_sockaddr(&none, &ss, &len), SH_EINVAL);
    sh_addr v4 = addr("1.2.3.4:5");
    sh_net_to_sockaddr(&v4, &ss, &len);
    assert_int_equal(sh_net_from_sockaddr((struct sockaddr *)&ss, len - 1, &out), SH_EINVAL);
    ss.ss_family = AF_UNIX;
    assert_int_equal(sh_net_from_sockaddr((struct sockaddr *)&ss, sizeof ss, &out), SH_EINVAL);
}

static void test_is_any(void **st)
{
    (void)st;
    sh_addr a = addr("0.0.0.0:5"), b = addr("[::]:1"), c = addr("127.0.0.2:0"), d = {0};
    assert_true(sh_net_is_any(&a));
    assert_true(sh_net_is_any(&b));
    assert_true(sh_net_is_any(&d));
    assert_true(sh_net_is_any(NULL));
    assert_false(sh_net_is_any(&c));
}

static void test_listen_connect_accept(void **st)
{
    (void)st;
    sh_addr want = addr("127.0.0.2:0"), bound, src = addr("127.0.0.3:0"), remote, local;
    int lfd, cfd, afd;
    sh_errinfo ei = {0};
    assert_int_equal(sh_net_listen(&want, 0, &lfd, &bound, &ei), 0);
    assert_int_equal(bound.family, 4);
    assert_true(sh_addr_ip_eq(&bound, &want));
    assert_true(bound.port != 0);
    /* Nothing pending yet. */
    assert_int_equal(sh_net_accept(lfd, &afd, &remote, &ei), SH_EAGAIN);

    assert_int_equal(sh_net_connect(&bound, &src, &cfd, &ei), 0);
    wait_for(cfd, POLLOUT);
    assert_int_equal(sh_net_connect_result(cfd, &ei), 0);
    /* The connection leaves from the source address we asked for. */
    assert_int_equal(sh_net_local_addr(cfd, &local), 0);
    assert_true(sh_addr_ip_eq(&local, &src));
    wait_for(lfd, POLLIN);
    assert_int_equal(sh_net_accept(lfd, &afd, &remote, &ei), 0);
    assert_true(sh_addr_eq(&remote, &local));
    assert_int_equal(sh_net_peer_addr(cfd, &remote), 0);
    assert_true(sh_addr_eq(&remote, &bound));

    /* Non-blocking and close-on-exec, as promised. */
    assert_true(fcntl_flags_ok(afd));
    assert_int_equal(sh_net_nodelay(afd, true), 0);
    int v = 0;
    socklen_t vl = sizeof v;
    getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &v, &vl);
    assert_int_equal(v, 1);
    assert_int_equal(sh_net_bufsize(afd, 1 << 20, 1 << 20), 0);
    getsockopt(afd, SOL_SOCKET, SO_SNDBUF, &v, &vl);
    assert_true(v >= 1 << 20);

    /* Data both ways, with MSG_MORE on the first part. */
    char buf[64];
    assert_int_equal(sh_net_recv(afd, buf, sizeof buf), SH_EAGAIN);
    struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};
    assert_int_equal(sh_net_writev(cfd, iov, 1, true), 6);
    assert_int_equal(sh_net_writev(cfd, iov + 1, 1, false), 5);
    size_t got = 0;
    while (got < 11) {
        wait_for(afd, POLLIN);
        ssize_t n = sh_net_recv(afd, buf + got, sizeof buf - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, "hello world", 11);
    assert_int_equal(sh_net_recv(afd, buf, 0), SH_EINVAL);

    /* EOF reads as SH_ECLOSED; writing to a closed peer is SH_ECLOSED, no SIGPIPE. */
    close(cfd);
    wait_for(afd, POLLIN);
    assert_int_equal(sh_net_recv(afd, buf, sizeof buf), SH_ECLOSED);
    ssize_t w = 0;
    for (int i = 0; i < 100 && w >= 0; i++) {
        w = sh_net_writev(afd, iov, 2, false);
        if (w >= 0) usleep(1000);
    }
    assert_int_equal(w, SH_ECLOSED);
    close(afd);

    /* The same address twice: EADDRINUSE as SH_EEXIST, with a message. */
    int l2;
    assert_int_equal(sh_net_listen(&bound, 0, &l2, NULL, &ei), SH_EEXIST);
    char expect[96];
    char ab[SH_ADDR_STRLEN];
    snprintf(expect, sizeof expect, "bind %s: ", sh_addr_format(&bound, ab, sizeof ab));
    assert_memory_equal(ei.msg, expect, strlen(expect));
    close(lfd);
}

static void test_connect_refused(void **st)
{
    (void)st;
    /* Find a free port, then close it: nobody listens there. */
    sh_addr want = addr("127.0.0.2:0"), bound;
    int lfd, cfd;
    sh_errinfo ei = {0};
    assert_int_equal(sh_net_listen(&want, 0, &lfd, &bound, &ei), 0);
    close(lfd);
    int rc = sh_net_connect(&bound, NULL, &cfd, &ei);
    if (rc == 0) {
        wait_for(cfd, POLLOUT);
        rc = sh_net_connect_result(cfd, &ei);
        close(cfd);
    }
    assert_int_equal(rc, SH_ECLOSED);
    assert_non_null(strstr(ei.msg, "refused"));
    /* Bad inputs. */
    sh_addr none = {0};
    assert_int_equal(sh_net_connect(&none, NULL, &cfd, &ei), SH_EINVAL);
    sh_addr foreign = addr("192.0.2.1:0"); /* not ours: cannot bind */
    assert_int_equal(sh_net_connect(&bound, &foreign, &cfd, &ei), SH_EINVAL);
}

static void test_udp(void **st)
{
    (void)st;
    sh_addr a = addr("127.0.0.2:0"), b = addr("127.0.0.3:0"), ba, bb, from;
    int fa, fb;
    assert_int_equal(sh_net_udp_bind(&a, &fa, &ba, NULL), 0);
    assert_int_equal(sh_net_udp_bind(&b, &fb, &bb, NULL), 0);
    assert_true(ba.port != 0 && bb.port != 0);
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(sh_net_to_sockaddr(&bb, &ss, &len), 0);
    assert_int_equal(sendto(fa, "ping", 4, 0, (struct sockaddr *)&ss, len), 4);
    wait_for(fb, POLLIN);
    char buf[8];
    len = sizeof ss;
    assert_int_equal(recvfrom(fb, buf, sizeof buf, 0, (struct sockaddr *)&ss, &len), 4);
    assert_int_equal(sh_net_from_sockaddr((struct sockaddr *)&ss, len, &from), 0);
    assert_true(sh_addr_eq(&from, &ba));
    close(fa);
    close(fb);
}

static void test_codes(void **st)
{
    (void)st;
    assert_int_equal(sh_net_code(EAGAIN), SH_EAGAIN);
    assert_int_equal(sh_net_code(ECONNRESET), SH_ECLOSED);
    assert_int_equal(sh_net_code(ETIMEDOUT), SH_ETIMEOUT);
    assert_int_equal(sh_net_code(EADDRINUSE), SH_EEXIST);
    assert_int_equal(sh_net_code(ENOBUFS), SH_ENOMEM);
    assert_int_equal(sh_net_code(EBADF), SH_EIO);
}

static void test_ignore_sigpipe(void **st)
{
    (void)st;
    struct sigaction sa;
    sh_net_ignore_sigpipe();
    sigaction(SIGPIPE, NULL, &sa);
    assert_true(sa.sa_handler == SIG_IGN);
}

int main(void)
{
    /* SIGPIPE stays at its default during the tests: sends must not raise it. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sockaddr_roundtrip),
        cmocka_unit_test(test_is_any),
        cmocka_unit_test(test_listen_connect_accept),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_ignore_sigpipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
