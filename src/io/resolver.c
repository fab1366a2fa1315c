/*
 * resolver.c — getaddrinfo on detached threads (see resolver.h).
 *
 * The state the threads touch (a done list, the eventfd, a "closed" flag)
 * lives in a refcounted box separate from the resolver: the resolver and
 * every running thread hold a reference, and the last one out frees it. So
 * a thread that finishes after sh_resolver_free finds the box closed, drops
 * its answer and frees the box if it was the last — nothing it touches is
 * gone, and the loop is never touched from a thread.
 */
#include "io/resolver.h"

#include "io/net.h"
#include <shoal/error.h>

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HOST_MAX 256

typedef struct job {
    struct job *next;
    struct box *box;
    char host[HOST_MAX];
    uint16_t port;
    int family;
    int rc;
    sh_addr addr;
    char err[96];
} job;

typedef struct box {
    pthread_mutex_t mu;
    int refs;
    bool closed;
    int efd;
    job *done;
} box;

struct sh_resolver {
    sh_loop *loop;
    sh_resolve_fn fn;
    void *ud;
    box *box;
    int inflight;
};

static void box_unref(box *b)
{
    pthread_mutex_lock(&b->mu);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (!last) return;
    while (b->done) {
        job *j = b->done;
        b->done = j->next;
        free(j);
    }
    if (b->efd >= 0) close(b->efd);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void resolve(job *j)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = j->family == 6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    int g = getaddrinfo(j->host, NULL, &hints, &res);
    if (g != 0) {
        j->rc = SH_ENOTFOUND;
        snprintf(j->err, sizeof j->err, "%s", gai_strerror(g));
        return;
    }
    j->rc = SH_ENOTFOUND;
    snprintf(j->err, sizeof j->err, "no IPv%d address", j->family);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (sh_net_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &j->addr) == 0 &&
            j->addr.family == j->family) {
            j->addr.port = j->port;
            j->rc = 0;
            j->err[0] = 0;
            break;
        }
    }
    freeaddrinfo(res);
}

static void *thread_main(void *arg)
{
    job *j = arg;
    box *b = j->box;
    resolve(j);
    pthread_mutex_lock(&b->mu);
    if (b->closed) {
        free(j);
    } else {
        j->next = b->done;
        b->done = j;
        uint64_t one = 1;
        if (write(b->efd, &one, sizeof one) < 0) { /* the counter cannot overflow here */
        }
    }
    pthread_mutex_unlock(&b->mu);
    box_unref(b);
    return NULL;
}

static void on_ready(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)l;
    (void)events;
    sh_resolver *r = ud;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0) { /* EAGAIN: another wake-up drained it */
    }
    pthread_mutex_lock(&r->box->mu);
    job *list = r->box->done;
    r->box->done = NULL;
    pthread_mutex_unlock(&r->box->mu);
    /* oldest first; the callback may start new lookups (never free us) */
    job *rev = NULL;
    while (list) {
        job *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        job *j = rev;
        rev = j->next;
        r->inflight--;
        r->fn(r->ud, j->host, j->port, j->rc, j->rc ? NULL : &j->addr, j->err);
        free(j);
    }
}

int sh_resolver_new(sh_loop *loop, sh_resolve_fn fn, void *ud, sh_resolver **out)
{
    sh_resolver *r = calloc(1, sizeof *r);
    box *b = calloc(1, sizeof *b);
    if (!r || !b) {
        free(r);
        free(b);
        return SH_ENOMEM;
    }
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0 || sh_loop_add(loop, b->efd, SH_EV_READ, on_ready, r)) {
        if (b->efd >= 0) close(b->efd);
        free(r);
        free(b);
        return SH_EIO;
    }
    pthread_mutex_init(&b->mu, NULL);
    b->refs = 1;
    r->box = b;
    r->loop = loop;
    r->fn = fn;
    r->ud = ud;
    *out = r;
    return 0;
}

void sh_resolver_free(sh_resolver *r)
{
    if (!r) return;
    sh_loop_del(r->loop, r->box->efd);
    pthread_mutex_lock(&r->box->mu);
    r->box->closed = true;
    pthread_mutex_unlock(&r->box->mu);
    box_unref(r->box);
    free(r);
}

/* Threads start with every signal blocked: signals belong to the loop's signalfd. */
static int spawn(job *j)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int e = pthread_create(&th, &attr, thread_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return e ? SH_EIO : 0;
}

int sh_resolver_lookup(sh_resolver *r, const char *host, uint16_t port, int family)
{
    if (!r || !host || strlen(host) >= HOST_MAX) return SH_EINVAL;
    if (r->inflight >= SH_RESOLVER_MAX_INFLIGHT) return SH_ELIMIT;
    job *j = calloc(1, sizeof *j);
    if (!j) return SH_ENOMEM;
    snprintf(j->host, sizeof j->host, "%s", host);
    j->port = port;
    j->family = family == 6 ? 6 : 4;
    j->box = r->box;
    pthread_mutex_lock(&r->box->mu);
    r->box->refs++;
    pthread_mutex_unlock(&r->box->mu);
    int rc = spawn(j);
    if (rc) {
        free(j);
        box_unref(r->box);
        return rc;
    }
    r->inflight++;
    return 0;
}
