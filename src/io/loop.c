/*
 * loop.c — the epoll loop itself: the fd table and sh_loop_run.
 *
 * Level-triggered epoll. Each epoll event carries (generation << 32 | fd);
 * the dispatcher drops an event whose fd was deleted, or deleted and
 * re-added, by an earlier callback of the same batch, and masks the events
 * with the fd's current interest, so a callback never sees an event it
 * withdrew interest in.
 */
#include "io/loop_int.h"

#include "io/clock.h"
#include <shoal/error.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_BATCH 256

int sh_loop_new(sh_loop **out)
{
    sh_loop *l = calloc(1, sizeof *l);
    if (!l) return SH_ENOMEM;
    l->efd = -1;
    l->sfd = -1;
    l->free_tslot = LOOP_NO_SLOT;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return SH_EIO;
    }
    l->now = sh_clock_now();
    int rc = loop_post_init(l);
    if (rc) {
        close(l->epfd);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void sh_loop_free(sh_loop *l)
{
    if (!l) return;
    loop_post_free(l);
    loop_signal_free(l);
    loop_timers_free(l);
    close(l->epfd);
    free(l->fds);
    free(l);
}

static int grow_fds(sh_loop *l, int fd)
{
    if ((size_t)fd < l->nfds) return 0;
    size_t n = l->nfds ? l->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    loop_fd *v = realloc(l->fds, n * sizeof *v);
    if (!v) return SH_ENOMEM;
    memset(v + l->nfds, 0, (n - l->nfds) * sizeof *v);
    l->fds = v;
    l->nfds = n;
    return 0;
}

static int apply(sh_loop *l, int fd, loop_fd *e, uint32_t mask)
{
    if (mask == 0) {
        /* Parked fds leave the epoll set entirely: otherwise EPOLLHUP would
         * still be reported and a rate-limited socket would spin the loop. */
        if (e->in_epoll) epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        e->in_epoll = false;
        e->mask = 0;
        return 0;
    }
    struct epoll_event ev = {0};
    if (mask & SH_EV_READ) ev.events |= EPOLLIN;
    if (mask & SH_EV_WRITE) ev.events |= EPOLLOUT;
    ev.data.u64 = (uint64_t)e->gen << 32 | (uint32_t)fd;
    if (epoll_ctl(l->epfd, e->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
        return errno == ENOMEM || errno == ENOSPC ? SH_ENOMEM : SH_EIO;
    e->in_epoll = true;
    e->mask = mask;
    return 0;
}

int sh_loop_add(sh_loop *l, int fd, uint32_t events, sh_fd_fn fn, void *ud)
{
    if (fd < 0 || !fn) return SH_EINVAL;
    int rc = grow_fds(l, fd);
    if (rc) return rc;
    loop_fd *e = &l->fds[fd];
    if (e->used) return SH_EEXIST;
    e->gen++;
    e->fn = fn;
    e->ud = ud;
    e->in_epoll = false;
    rc = apply(l, fd, e, events & (SH_EV_READ | SH_EV_WRITE));
    if (rc) return rc;
    e->used = true;
    return 0;
}

int sh_loop_mod(sh_loop *l, int fd, uint32_t events)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) return SH_ENOTFOUND;
    loop_fd *e = &l->fds[fd];
    events &= SH_EV_READ | SH_EV_WRITE;
    if (events == e->mask && (events == 0 || e->in_epoll)) return 0;
    return apply(l, fd, e, events);
}

void sh_loop_del(sh_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) return;
    loop_fd *e = &l->fds[fd];
    /* Fails harmlessly with EBADF if the caller closed the fd first. */
    if (e->in_epoll) epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    e->in_epoll = false;
    e->used = false;
    e->mask = 0;
    e->fn = NULL;
    e->ud = NULL;
    e->gen++;
}

static void dispatch(sh_loop *l, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
    if ((size_t)fd >= l->nfds) return;
    loop_fd *e = &l->fds[fd];
    if (!e->used || e->gen != gen || !e->in_epoll) return;
    uint32_t got = 0;
    if (ev->events & EPOLLIN) got |= SH_EV_READ;
    if (ev->events & EPOLLOUT) got |= SH_EV_WRITE;
    got &= e->mask;
    if (ev->events & (EPOLLERR | EPOLLHUP)) {
        /* With READ, so a reader sees EOF / the error from recv; with WRITE
         * too when asked, so a pending connect learns its fate. */
        got |= SH_EV_ERROR | SH_EV_READ | (e->mask & SH_EV_WRITE);
    }
    if (got) e->fn(l, fd, got, e->ud);
}

static int wait_ms(sh_loop *l)
{
    if (atomic_load(&l->stop)) return 0;
    sh_time next = loop_timers_next(l);
    if (next == SH_TIME_NEVER) return -1;
    sh_time now = sh_clock_now();
    if (next <= now) return 0;
    /* Round up: epoll_wait must not return before the timer is due. */
    sh_time ms = (next - now + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

int sh_loop_run(sh_loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    int rc = 0;
    while (!atomic_load(&l->stop)) {
        int n = epoll_wait(l->epfd, evs, LOOP_BATCH, wait_ms(l));
        if (n < 0 && errno != EINTR) {
            rc = SH_EIO;
            break;
        }
        l->now = sh_clock_now();
        for (int i = 0; i < n; i++)
            dispatch(l, &evs[i]);
        loop_timers_run(l);
    }
    atomic_store(&l->stop, false);
    return rc;
}

void sh_loop_stop(sh_loop *l)
{
    atomic_store(&l->stop, true);
    loop_wake(l);
}

sh_time sh_loop_now(sh_loop *l)
{
    return l->now;
}
