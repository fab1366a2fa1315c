/*
 * net.h — the driver's sockets (after Redis's anet.c): conversions between
 * sh_addr and sockaddr, non-blocking TCP listen/connect/accept, UDP bind,
 * socket options, and recv/send wrappers that speak SH_E* codes.
 *
 * Every socket it makes is non-blocking and close-on-exec. It never blocks,
 * never retries, never logs and never keeps state: a failure is returned as
 * a negative SH_E* code, with "what: strerror(errno)" in the optional
 * sh_errinfo for the caller's message. Sends never raise SIGPIPE.
 */
#ifndef SHOAL_IO_NET_H
#define SHOAL_IO_NET_H

#include <shoal/error.h>
#include <shoal/types.h>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SH_NET_BACKLOG 1024

/* errno → SH_E*: EAGAIN → SH_EAGAIN, ECONNREFUSED/RESET/EPIPE → SH_ECLOSED,
 * ETIMEDOUT → SH_ETIMEOUT, EADDRINUSE → SH_EEXIST, ENOMEM/ENOBUFS → SH_ENOMEM,
 * EINVAL/EAFNOSUPPORT/EADDRNOTAVAIL → SH_EINVAL, anything else → SH_EIO. */
int sh_net_code(int err);

/* sh_addr (family 4 or 6) → sockaddr_in/in6. SH_EINVAL for family 0 or junk. */
int sh_net_to_sockaddr(const sh_addr *a, struct sockaddr_storage *ss, socklen_t *len);
/* sockaddr_in/in6 → sh_addr. A v4-mapped IPv6 address becomes IPv4. */
int sh_net_from_sockaddr(const struct sockaddr *sa, socklen_t len, sh_addr *out);

/* 0.0.0.0 or :: (the port does not matter). Family 0 counts as any. */
bool sh_net_is_any(const sh_addr *a);

/* TCP listener on bind (family 0 = 0.0.0.0, port 0 = ephemeral) with
 * SO_REUSEADDR and the given backlog (0 → SH_NET_BACKLOG). *bound receives
 * the address actually bound, port resolved. */
int sh_net_listen(const sh_addr *bind, int backlog, int *fd, sh_addr *bound, sh_errinfo *ei);

/* Next pending connection: 0 and a non-blocking, close-on-exec *fd, or
 * SH_EAGAIN when none is pending. ECONNABORTED and the like are SH_EAGAIN too
 * (that connection is gone; the listener is fine). */
int sh_net_accept(int lfd, int *fd, sh_addr *remote, sh_errinfo *ei);

/* Starts a TCP connect to remote. If source is given and not "any", the
 * socket first binds to source's IP (port 0) so the peer sees the address we
 * serve on. 0 means in progress (or done): wait for writability, then ask
 * sh_net_connect_result. An immediate refusal is returned as an error. */
int sh_net_connect(const sh_addr *remote, const sh_addr *source, int *fd, sh_errinfo *ei);
/* SO_ERROR of a connecting socket: 0 connected, SH_EAGAIN still in progress,
 * otherwise the failure (SH_ECLOSED for refused). */
int sh_net_connect_result(int fd, sh_errinfo *ei);

/* UDP socket bound to bind (port 0 = ephemeral); *bound as for listen. */
int sh_net_udp_bind(const sh_addr *bind, int *fd, sh_addr *bound, sh_errinfo *ei);

int sh_net_nodelay(int fd, bool on);
/* SO_SNDBUF / SO_RCVBUF; 0 leaves one unchanged. The kernel may round. */
int sh_net_bufsize(int fd, int sndbuf, int rcvbuf);
int sh_net_local_addr(int fd, sh_addr *out);
int sh_net_peer_addr(int fd, sh_addr *out);

/* > 0 bytes read; SH_EAGAIN nothing now; SH_ECLOSED end of stream or reset;
 * SH_EIO other failures. len 0 is SH_EINVAL. */
ssize_t sh_net_recv(int fd, void *buf, size_t len);
/* >= 0 bytes written (0: would block); SH_ECLOSED peer gone; SH_EIO.
 * more: MSG_MORE, the caller has more to send right after. */
ssize_t sh_net_writev(int fd, const struct iovec *iov, int iovcnt, bool more);

/* Sets SIGPIPE to ignored if it is at its default (sendfile(2) has no
 * MSG_NOSIGNAL). Leaves a handler the application installed alone. */
void sh_net_ignore_sigpipe(void);

#endif
