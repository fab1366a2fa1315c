/* test_io_loop.c — the epoll loop: timers, fd events, dispatch safety, posts, signals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/clock.h"
#include "io/loop.h"
#include <shoal/error.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- timers ---- */

static void stop_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    sh_loop_stop(l);
}

typedef struct trec {
    int order[16];
    int n;
    sh_time fired_at[16];
    sh_time due[16];
} trec;

typedef struct tctx {
    trec *r;
    int tag;
    sh_time due;
} tctx;

static void on_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    tctx *c = ud;
    c->r->fired_at[c->r->n] = sh_clock_now();
    c->r->due[c->r->n] = c->due;
    c->r->order[c->r->n++] = c->tag;
    if (c->tag == 99) sh_loop_stop(l);
}

static void test_timer_order_and_cancel(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    trec r = {0};
    sh_time now = sh_clock_now();
    /* Deadlines out of order, two equal ones, and one cancelled. */
    tctx c[6] = {{&r, 3, now + SH_MS(30)}, {&r, 1, now + SH_MS(10)}, {&r, 2, now + SH_MS(20)},
                 {&r, 4, now + SH_MS(20)}, {&r, 5, now + SH_MS(15)}, {&r, 99, now + SH_MS(40)}};
    uint64_t ids[6];
    for (int i = 0; i < 6; i++) {
        ids[i] = sh_loop_timer(l, c[i].due, on_timer, &c[i]);
        assert_true(ids[i] > 0);
        for (int j = 0; j < i; j++)
            assert_true(ids[i] != ids[j]);
    }
    sh_loop_cancel(l, ids[4]);
    sh_loop_cancel(l, ids[4]);        /* twice: harmless */
    sh_loop_cancel(l, 0);             /* never valid */
    sh_loop_cancel(l, ids[4] + 1000); /* unknown */
    assert_int_equal(sh_loop_run(l), 0);
    int expect[] = {1, 2, 4, 3, 99};
    assert_int_equal(r.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r.order[i], expect[i]);
        assert_true(r.fired_at[i] >= r.due[i]); /* never early */
    }
    /* A freed slot gets a new id: the old id of a fired timer cancels nothing. */
    tctx late = {&r, 99, sh_clock_now()};
    uint64_t id = sh_loop_timer(l, late.due, on_timer, &late);
    for (int i = 0; i < 6; i++)
        assert_true(id != ids[i]);
    sh_loop_cancel(l, ids[0]);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(r.n, 6);
    sh_loop_free(l);
}

typedef struct chain {
    int fired;
    sh_time last;
} chain;

static void on_chain(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    chain *c = ud;
    c->fired++;
    c->last = sh_loop_now(l);
    if (c->fired == 5) {
        sh_loop_stop(l);
        return;
    }
    /* Re-arm from inside a timer, once "now" and once in the future. */
    sh_time when = c->fired % 2 ? sh_loop_now(l) : sh_loop_now(l) + SH_MS(2);
    assert_true(sh_loop_timer(l, when, on_chain, c) > 0);
}

static void test_timer_from_timer(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    chain c = {0};
    assert_true(sh_loop_timer(l, sh_clock_now(), on_chain, &c) > 0);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(c.fired, 5);
    sh_loop_free(l);
}

/* Many timers with scattered deadlines, a third cancelled: the heap fires
 * exactly the survivors, in (deadline, creation) order. */
enum { HN = 600 };
typedef struct hrec {
    sh_time due[HN];
    int idx[HN];
    int n;
} hrec;
typedef struct hctx {
    hrec *r;
    int i;
    sh_time due;
} hctx;

static void on_heap(sh_loop *l, uint64_t id, void *ud)
{
    (void)l, (void)id;
    hctx *c = ud;
    c->r->due[c->r->n] = c->due;
    c->r->idx[c->r->n++] = c->i;
}

static void test_timer_heap_stress(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    static hrec r;
    static hctx c[HN];
    static uint64_t ids[HN];
    memset(&r, 0, sizeof r);
    sh_time base = sh_clock_now();
    uint32_t x = 12345;
    for (int i = 0; i < HN; i++) {
        x = x * 1103515245u + 12345u;
        /* 0..19 ms in 1 ms steps: many equal deadlines */
        c[i] = (hctx){&r, i, base + SH_MS((x >> 16) % 20)};
        ids[i] = sh_loop_timer(l, c[i].due, on_heap, &c[i]);
        assert_true(ids[i] > 0);
    }
    for (int i = 0; i < HN; i += 3)
        sh_loop_cancel(l, ids[i]);
    sh_loop_timer(l, base + SH_MS(25), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(r.n, HN - (HN + 2) / 3);
    for (int k = 0; k < r.n; k++) {
        assert_true(r.idx[k] % 3 != 0);
        if (k > 0) {
            assert_true(r.due[k - 1] <= r.due[k]);
            if (r.due[k - 1] == r.due[k]) assert_true(r.idx[k - 1] < r.idx[k]);
        }
    }
    /* Freeing with pending timers: no call, no leak (ASan checks). */
    hctx pending = {&r, -1, base + SH_SEC(100)};
    sh_loop_timer(l, pending.due, on_heap, &pending);
    sh_loop_free(l);
}

/* ---- fd events ---- */

typedef struct fdctx {
    int fd_a, fd_b; /* the two ends watched */
    int reads, writes, errors;
    char got[16];
    bool del_other; /* in the first callback, delete the other fd */
    int calls_a, calls_b;
} fdctx;

static void on_fd(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    fdctx *c = ud;
    if (fd == c->fd_a) c->calls_a++;
    if (fd == c->fd_b) c->calls_b++;
    if (c->del_other) {
        sh_loop_del(l, fd == c->fd_a ? c->fd_b : c->fd_a);
        c->del_other = false;
    }
    if (ev & SH_EV_ERROR) c->errors++;
    if (ev & SH_EV_READ) {
        ssize_t n = read(fd, c->got, sizeof c->got);
        if (n >= 0) c->reads++;
        if (n == 0) {
            sh_loop_del(l, fd);
            sh_loop_stop(l);
        }
    }
    if (ev & SH_EV_WRITE) {
        c->writes++;
        assert_int_equal(write(fd, "hi", 2), 2);
        sh_loop_mod(l, fd, SH_EV_READ);
    }
}

static void test_fd_read_write(void **st)
{
    (void)st;
    sh_loop *l;
    int sv[2];
    assert_int_equal(sh_loop_new(&l), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    fdctx c = {.fd_a = sv[0], .fd_b = -1};
    /* Write interest only: fires once, then switches to read and sees the echo. */
    assert_int_equal(sh_loop_add(l, sv[0], SH_EV_WRITE, on_fd, &c), 0);
    assert_int_equal(sh_loop_add(l, sv[0], SH_EV_READ, on_fd, &c), SH_EEXIST);
    assert_int_equal(sh_loop_add(l, -1, SH_EV_READ, on_fd, &c), SH_EINVAL);
    assert_int_equal(sh_loop_mod(l, sv[1], SH_EV_READ), SH_ENOTFOUND);
    sh_loop_timer(l, sh_clock_now() + SH_MS(50), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(c.writes, 1);
    assert_int_equal(c.reads, 0);
    char buf[4];
    assert_int_equal(read(sv[1], buf, sizeof buf), 2);
    assert_memory_equal(buf, "hi", 2);
    assert_int_equal(write(sv[1], "yo", 2), 2);
    sh_loop_timer(l, sh_clock_now() + SH_MS(50), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(c.reads, 1);
    assert_memory_equal(c.got, "yo", 2);
    /* Parked (mask 0): no events even with data waiting and the peer gone. */
    assert_int_equal(sh_loop_mod(l, sv[0], 0), 0);
    assert_int_equal(write(sv[1], "zz", 2), 2);
    close(sv[1]);
    sh_loop_timer(l, sh_clock_now() + SH_MS(30), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(c.reads, 1);
    assert_int_equal(c.errors, 0);
    /* Unparked: the data, then EOF (the callback deletes and stops). */
    assert_int_equal(sh_loop_mod(l, sv[0], SH_EV_READ), 0);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(c.reads, 3);
    close(sv[0]);
    sh_loop_free(l);
}

static void test_fd_delete_pending(void **st)
{
    (void)st;
    sh_loop *l;
    int a[2], b[2];
    assert_int_equal(sh_loop_new(&l), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    fdctx c = {.fd_a = a[0], .fd_b = b[0], .del_other = true};
    assert_int_equal(sh_loop_add(l, a[0], SH_EV_READ, on_fd, &c), 0);
    assert_int_equal(sh_loop_add(l, b[0], SH_EV_READ, on_fd, &c), 0);
    /* Both readable before the loop runs: one epoll batch holds both events. */
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    sh_loop_timer(l, sh_clock_now() + SH_MS(30), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    /* Exactly one of them ran; the deleted one was never called. */
    assert_int_equal(c.calls_a + c.calls_b, 1);
    assert_int_equal(c.reads, 1);
    sh_loop_del(l, a[0]);
    sh_loop_del(l, b[0]);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
    sh_loop_free(l);
}

/* Delete and re-add the same fd number inside a batch: the stale event must
 * not reach the new registration. */
typedef struct reuse {
    int victim, other_end;
    int victim_calls, new_calls, first_calls;
} reuse;

static void on_new(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    char b;
    (void)l, (void)ev;
    if (read(fd, &b, 1) == 1)
        ((reuse *)ud)->new_calls++;
    else
        ((reuse *)ud)->new_calls += 100; /* called with nothing to read */
}

static void on_victim(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    (void)l, (void)fd, (void)ev;
    ((reuse *)ud)->victim_calls++;
}

static void on_first(sh_loop *l, int fd, uint32_t ev, void *ud)
{
    reuse *r = ud;
    char b;
    (void)ev;
    assert_int_equal(read(fd, &b, 1), 1);
    if (r->first_calls++ == 0) {
        sh_loop_del(l, r->victim);
        /* Drain the victim, then register the same fd number again: the
         * READ event still in this batch is stale and must be dropped. */
        assert_int_equal(read(r->victim, &b, 1), 1);
        assert_int_equal(sh_loop_add(l, r->victim, SH_EV_READ, on_new, r), 0);
    }
}

static void test_fd_reuse_in_batch(void **st)
{
    (void)st;
    sh_loop *l;
    int a[2], b[2];
    assert_int_equal(sh_loop_new(&l), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    reuse r = {.victim = b[0]};
    assert_int_equal(sh_loop_add(l, a[0], SH_EV_READ, on_first, &r), 0);
    assert_int_equal(sh_loop_add(l, b[0], SH_EV_READ, on_victim, &r), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "y", 1), 1);
    sh_loop_timer(l, sh_clock_now() + SH_MS(30), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(r.first_calls, 1);
    /* epoll reports in readiness order, so a's event came first. */
    assert_int_equal(r.victim_calls, 0);
    assert_int_equal(r.new_calls, 0);
    /* The new registration works: fresh data reaches on_new. */
    assert_int_equal(write(b[1], "z", 1), 1);
    sh_loop_timer(l, sh_clock_now() + SH_MS(30), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(r.new_calls, 1);
    sh_loop_del(l, a[0]);
    sh_loop_del(l, b[0]);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
    sh_loop_free(l);
}

/* ---- posts from threads ---- */

enum { THREADS = 4, POSTS = 1000 };

typedef struct postctx {
    sh_loop *l;
    int thread;
    unsigned char seen[THREADS][POSTS];
    int total;
} postctx;

typedef struct postarg {
    postctx *c;
    int thread;
} postarg;

static postarg args[THREADS][POSTS];

static void on_post(sh_loop *l, void *ud)
{
    postarg *a = ud;
    postctx *c = a->c;
    int idx = (int)(a - args[a->thread]);
    c->seen[a->thread][idx]++;
    if (++c->total == THREADS * POSTS) sh_loop_stop(l);
}

static void *poster(void *ud)
{
    postarg *row = ud;
    for (int i = 0; i < POSTS; i++) {
        while (sh_loop_post(row[i].c->l, on_post, &row[i]) != 0) {
        }
        if (i % 97 == 0) usleep(50);
    }
    return NULL;
}

static void test_post_threads(void **st)
{
    (void)st;
    static postctx c;
    memset(&c, 0, sizeof c);
    assert_int_equal(sh_loop_new(&c.l), 0);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < POSTS; i++)
            args[t][i] = (postarg){&c, t};
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, poster, args[t]), 0);
    /* A guard so a lost wake-up fails the test instead of hanging it. */
    sh_loop_timer(c.l, sh_clock_now() + SH_SEC(20), stop_timer, NULL);
    assert_int_equal(sh_loop_run(c.l), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(c.total, THREADS * POSTS);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < POSTS; i++)
            assert_int_equal(c.seen[t][i], 1);
    assert_int_equal(sh_loop_post(c.l, NULL, NULL), SH_EINVAL);
    sh_loop_free(c.l);
}

static void *stopper(void *ud)
{
    usleep(20000);
    sh_loop_stop(ud);
    return NULL;
}

static void test_stop_from_thread(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    pthread_t th;
    sh_time t0 = sh_clock_now();
    assert_int_equal(pthread_create(&th, NULL, stopper, l), 0);
    assert_int_equal(sh_loop_run(l), 0); /* no timers, no fds: only the stop wakes it */
    pthread_join(th, NULL);
    assert_true(sh_clock_now() - t0 < SH_SEC(5));
    /* Stop before run: run returns at once. */
    sh_loop_stop(l);
    assert_int_equal(sh_loop_run(l), 0);
    sh_loop_free(l);
}

/* ---- signals ---- */

static void on_sig(sh_loop *l, int signo, void *ud)
{
    int *got = ud;
    *got = signo;
    sh_loop_stop(l);
}

static void test_signal(void **st)
{
    (void)st;
    sh_loop *l;
    assert_int_equal(sh_loop_new(&l), 0);
    int got = 0;
    assert_int_equal(sh_loop_signal(l, SIGKILL, on_sig, &got), SH_EINVAL);
    assert_int_equal(sh_loop_signal(l, 0, on_sig, &got), SH_EINVAL);
    assert_int_equal(sh_loop_signal(l, SIGUSR1, on_sig, &got), 0);
    assert_int_equal(sh_loop_signal(l, SIGUSR2, on_sig, &got), 0);
    /* Blocked now, so raising it does not kill us: it waits for the fd. */
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    sh_loop_timer(l, sh_clock_now() + SH_SEC(10), stop_timer, NULL);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(got, SIGUSR1);
    got = 0;
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(sh_loop_run(l), 0);
    assert_int_equal(got, SIGUSR2);
    sh_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order_and_cancel),
        cmocka_unit_test(test_timer_from_timer),
        cmocka_unit_test(test_timer_heap_stress),
        cmocka_unit_test(test_fd_read_write),
        cmocka_unit_test(test_fd_delete_pending),
        cmocka_unit_test(test_fd_reuse_in_batch),
        cmocka_unit_test(test_post_threads),
        cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
