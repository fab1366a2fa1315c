/*
 * net.c — thin, stateless socket helpers. Each function does one system
 * call's worth of work and turns errno into an SH_E* code plus a message.
 */
#include "io/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int sh_net_code(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINPROGRESS:
    case EINTR:
        return SH_EAGAIN;
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ENOTCONN:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return SH_ECLOSED;
    case ETIMEDOUT:
        return SH_ETIMEOUT;
    case EADDRINUSE:
        return SH_EEXIST;
    case ENOMEM:
    case ENOBUFS:
        return SH_ENOMEM;
    case EINVAL:
    case EAFNOSUPPORT:
    case EADDRNOTAVAIL:
        return SH_EINVAL;
    default:
        return SH_EIO;
    }
}

/* Records "what addr: strerror" and returns the mapped code. */
static int fail(sh_errinfo *ei, int err, const char *what, const sh_addr *a)
{
    char buf[SH_ADDR_STRLEN] = "";
    if (a) sh_addr_format(a, buf, sizeof buf);
    int code = sh_net_code(err);
    sh_errinfo_set(ei, code, 0, "%s%s%s: %s", what, a ? " " : "", buf, strerror(err));
    return code;
}

int sh_net_to_sockaddr(const sh_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 4) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(a->port);
        memcpy(&s->sin_addr, a->ip, 4);
        *len = sizeof *s;
        return 0;
    }
    if (a->family == 6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(a->port);
        memcpy(&s->sin6_addr, a->ip, 16);
        *len = sizeof *s;
        return 0;
    }
    return SH_EINVAL;
}

int sh_net_from_sockaddr(const struct sockaddr *sa, socklen_t len, sh_addr *out)
{
    sh_addr a = {0};
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        a.family = 4;
        memcpy(a.ip, &s->sin_addr, 4);
        a.port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        a.port = ntohs(s->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
            a.family = 4;
            memcpy(a.ip, s->sin6_addr.s6_addr + 12, 4);
        } else {
            a.family = 6;
            memcpy(a.ip, &s->sin6_addr, 16);
        }
    } else {
        return SH_EINVAL;
    }
    *out = a;
    return 0;
}

bool sh_net_is_any(const sh_addr *a)
{
    if (!a || a->family == 0) return true;
    size_t n = a->family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        if (a->ip[i]) return false;
    return true;
}

static const sh_addr any4 = {.family = 4};

static int addr_of(int fd, bool peer, sh_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc < 0) return sh_net_code(errno);
    return sh_net_from_sockaddr((struct sockaddr *)&ss, len, out);
}

int sh_net_local_addr(int fd, sh_addr *out)
{
    return addr_of(fd, false, out);
}

int sh_net_peer_addr(int fd, sh_addr *out)
{
    return addr_of(fd, true, out);
}

/* A socket of a's family bound to a; the caller listens or connects. */
static int bound_socket(const sh_addr *a, int type, bool reuse, int *out, sh_errinfo *ei)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sh_net_to_sockaddr(a, &ss, &len))
        return sh_errinfo_set(ei, SH_EINVAL, 0, "bad address family %u", a->family);
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(ei, errno, "socket", NULL);
    int one = 1;
    if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        int e = errno;
        close(fd);
        return fail(ei, e, "SO_REUSEADDR", NULL);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        return fail(ei, e, "bind", a);
    }
    *out = fd;
    return 0;
}

int sh_net_listen(const sh_addr *bind_addr, int backlog, int *fd, sh_addr *bound, sh_errinfo *ei)
{
    const sh_addr *a = bind_addr && bind_addr->family ? bind_addr : &any4;
    int s = -1, rc = bound_socket(a, SOCK_STREAM, true, &s, ei);
    if (rc) return rc;
    if (listen(s, backlog > 0 ? backlog : SH_NET_BACKLOG) < 0) {
        int e = errno;
        close(s);
        return fail(ei, e, "listen", a);
    }
    sh_addr b;
    rc = sh_net_local_addr(s, &b);
    if (rc) {
        close(s);
        return sh_errinfo_set(ei, rc, 0, "getsockname failed");
    }
    *fd = s;
    if (bound) *bound = b;
    return 0;
}

int sh_net_accept(int lfd, int *fd, sh_addr *remote, sh_errinfo *ei)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int s;
    do {
        s = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (s < 0 && errno == EINTR);
    if (s < 0) {
        /* The connection died in the queue: not the listener's problem. */
        if (errno == ECONNABORTED || errno == EPROTO || errno == EPERM) return SH_EAGAIN;
        return fail(ei, errno, "accept", NULL);
    }
    sh_addr a;
    if (sh_net_from_sockaddr((struct sockaddr *)&ss, len, &a)) {
        close(s);
        return sh_errinfo_set(ei, SH_EINVAL, 0, "accept: unexpected address family");
    }
    *fd = s;
    if (remote) *remote = a;
    return 0;
}

int sh_net_connect(const sh_addr *remote, const sh_addr *source, int *fd, sh_errinfo *ei)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sh_net_to_sockaddr(remote, &ss, &len))
        return sh_errinfo_set(ei, SH_EINVAL, 0, "bad address family %u", remote->family);
    int s = -1, rc; /* set on every path that reaches connect(); gcc -O3 cannot tell */
    if (source && !sh_net_is_any(source) && source->family == remote->family) {
        sh_addr src = *source;
        src.port = 0;
        rc = bound_socket(&src, SOCK_STREAM, false, &s, ei);
        if (rc) return rc;
    } else {
        s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0) return fail(ei, errno, "socket", NULL);
    }
    if (connect(s, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS && errno != EINTR) {
        int e = errno;
        close(s);
        return fail(ei, e, "connect", remote);
    }
    *fd = s;
    return 0;
}

int sh_net_connect_result(int fd, sh_errinfo *ei)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return fail(ei, errno, "SO_ERROR", NULL);
    if (err == 0) {
        /* No error yet is not yet connected: check that a peer exists. */
        sh_addr p;
        return sh_net_peer_addr(fd, &p) == 0 ? 0 : SH_EAGAIN;
    }
    return fail(ei, err, "connect", NULL);
}

int sh_net_udp_bind(const sh_addr *bind_addr, int *fd, sh_addr *bound, sh_errinfo *ei)
{
    const sh_addr *a = bind_addr && bind_addr->family ? bind_addr : &any4;
    int s = -1, rc = bound_socket(a, SOCK_DGRAM, false, &s, ei);
    if (rc) return rc;
    sh_addr b;
    rc = sh_net_local_addr(s, &b);
    if (rc) {
        close(s);
        return sh_errinfo_set(ei, rc, 0, "getsockname failed");
    }
    *fd = s;
    if (bound) *bound = b;
    return 0;
}

int sh_net_nodelay(int fd, bool on)
{
    int v = on;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0 ? sh_net_code(errno) : 0;
}

int sh_net_bufsize(int fd, int sndbuf, int rcvbuf)
{
    if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
        return sh_net_code(errno);
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        return sh_net_code(errno);
    return 0;
}

ssize_t sh_net_recv(int fd, void *buf, size_t len)
{
    if (len == 0) return SH_EINVAL;
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n > 0) return n;
        if (n == 0) return SH_ECLOSED;
        if (errno == EINTR) continue;
        int code = sh_net_code(errno);
        return code == SH_ECLOSED || code == SH_EAGAIN ? code : SH_EIO;
    }
}

ssize_t sh_net_writev(int fd, const struct iovec *iov, int iovcnt, bool more)
{
    struct msghdr m = {0};
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = (size_t)iovcnt;
    int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0);
    for (;;) {
        ssize_t n = sendmsg(fd, &m, flags);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        int code = sh_net_code(errno);
        if (code == SH_EAGAIN) return 0;
        return code == SH_ECLOSED ? code : SH_EIO;
    }
}

void sh_net_ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
        struct sigaction ign = {0};
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}
