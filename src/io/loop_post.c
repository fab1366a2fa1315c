/*
 * loop_post.c — the loop's two doors from outside its thread: sh_loop_post
 * (a mutex-protected queue plus an eventfd wake-up) and signals (signalfd).
 *
 * A poster writes the eventfd only when it made the queue non-empty, so a
 * burst of posts costs one wake-up. The loop swaps the whole queue out under
 * the lock and runs it unlocked, so a callback may post again.
 */
#include "io/loop_int.h"

#include <shoal/error.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void run_posts(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)events;
    (void)ud;
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&l->post_mu);
    loop_post_q q = l->posts;
    l->posts = l->running;
    l->posts.n = 0;
    pthread_mutex_unlock(&l->post_mu);
    for (size_t i = 0; i < q.n; i++)
        q.v[i].fn(l, q.v[i].ud);
    q.n = 0;
    l->running = q; /* keep the buffer for the next swap */
}

int loop_post_init(sh_loop *l)
{
    if (pthread_mutex_init(&l->post_mu, NULL)) return SH_ENOMEM;
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0) {
        pthread_mutex_destroy(&l->post_mu);
        return SH_EIO;
    }
    int rc = sh_loop_add(l, l->efd, SH_EV_READ, run_posts, NULL);
    if (rc) {
        close(l->efd);
        l->efd = -1;
        pthread_mutex_destroy(&l->post_mu);
        free(l->fds);
        l->fds = NULL;
    }
    return rc;
}

void loop_post_free(sh_loop *l)
{
    if (l->efd >= 0) close(l->efd);
    l->efd = -1;
    free(l->posts.v);
    free(l->running.v);
    pthread_mutex_destroy(&l->post_mu);
}

void loop_wake(sh_loop *l)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: the loop is awake anyway. */
    while (write(l->efd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

int sh_loop_post(sh_loop *l, sh_post_fn fn, void *ud)
{
    if (!fn) return SH_EINVAL;
    pthread_mutex_lock(&l->post_mu);
    loop_post_q *q = &l->posts;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        loop_post_item *v = realloc(q->v, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&l->post_mu);
            return SH_ENOMEM;
        }
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n++] = (loop_post_item){fn, ud};
    bool first = q->n == 1;
    pthread_mutex_unlock(&l->post_mu);
    if (first) loop_wake(l);
    return 0;
}

/* ---- signals ---- */

static void run_signals(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)events;
    (void)ud;
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(fd, si, sizeof si);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            if (signo > 0 && signo < LOOP_MAX_SIGNAL && l->sigs[signo].fn)
                l->sigs[signo].fn(l, signo, l->sigs[signo].ud);
        }
    }
}

int sh_loop_signal(sh_loop *l, int signo, sh_signal_fn fn, void *ud)
{
    if (signo <= 0 || signo >= LOOP_MAX_SIGNAL || signo == SIGKILL || signo == SIGSTOP || !fn)
        return SH_EINVAL;
    sigset_t set;
    sigemptyset(&set);
    for (int s = 1; s < LOOP_MAX_SIGNAL; s++)
        if (l->sigs[s].fn || s == signo) sigaddset(&set, s);
    /* Blocked in this thread, and inherited by threads created afterwards
     * (the hasher), so the signal can only be consumed through the fd. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL)) return SH_EIO;
    int fd = signalfd(l->sfd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return SH_EIO;
    if (l->sfd < 0) {
        int rc = sh_loop_add(l, fd, SH_EV_READ, run_signals, NULL);
        if (rc) {
            close(fd);
            return rc;
        }
        l->sfd = fd;
    }
    l->sigs[signo].fn = fn;
    l->sigs[signo].ud = ud;
    return 0;
}

void loop_signal_free(sh_loop *l)
{
    /* The signals stay blocked: unblocking a pending SIGTERM now would kill
     * the process during an orderly shutdown. */
    if (l->sfd >= 0) {
        sh_loop_del(l, l->sfd);
        close(l->sfd);
    }
    l->sfd = -1;
    memset(l->sigs, 0, sizeof l->sigs);
}
