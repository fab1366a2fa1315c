/*
 * loop_int.h — the event loop's private state, shared by loop.c (fds and the
 * run loop), loop_timer.c (the timer heap) and loop_post.c (cross-thread
 * posts and signals). Nothing outside those three files may include it.
 */
#ifndef SHOAL_IO_LOOP_INT_H
#define SHOAL_IO_LOOP_INT_H

#include "io/loop.h"

#include <pthread.h>
#include <stdatomic.h>

/* One registered fd. gen changes on every add/del so an event fetched by
 * epoll_wait before a delete (or before the fd number was reused) is
 * recognised as stale and dropped. */
typedef struct loop_fd {
    sh_fd_fn fn;
    void *ud;
    uint32_t mask; /* SH_EV_READ | SH_EV_WRITE */
    uint32_t gen;
    bool used;
    bool in_epoll; /* mask 0 ("parked") means removed from the epoll set */
} loop_fd;

/* A timer record. Ids encode the slot in the low bits and a never-repeating
 * sequence number above it, so cancel finds the slot without a hash map and
 * a stale id (slot reused since) does not match. */
typedef struct loop_tslot {
    uint64_t id; /* 0: free */
    sh_time when;
    sh_timer_fn fn;
    void *ud;
    uint32_t heap_idx;
    uint32_t next_free;
} loop_tslot;

typedef struct loop_post_item {
    sh_post_fn fn;
    void *ud;
} loop_post_item;

typedef struct loop_post_q {
    loop_post_item *v;
    size_t n, cap;
} loop_post_q;

#define LOOP_MAX_SIGNAL 65

struct sh_loop {
    int epfd;
    sh_time now;
    atomic_bool stop;

    loop_fd *fds;
    size_t nfds; /* table size (max fd + 1 ever registered, grown) */

    loop_tslot *tslots;
    uint32_t ntslots, free_tslot;
    uint32_t *heap; /* slot indices, min-heap on (when, id) */
    uint32_t heap_n, heap_cap;
    uint64_t timer_seq;

    /* cross-thread posts */
    int efd;
    pthread_mutex_t post_mu;
    loop_post_q posts;   /* filled by any thread under post_mu */
    loop_post_q running; /* swapped out and run by the loop thread */

    /* signals */
    int sfd;
    struct {
        sh_signal_fn fn;
        void *ud;
    } sigs[LOOP_MAX_SIGNAL];
};

#define LOOP_SLOT_BITS 24u
#define LOOP_NO_SLOT UINT32_MAX

/* loop_timer.c */
void loop_timers_free(sh_loop *l);
/* Earliest deadline, SH_TIME_NEVER if none. */
sh_time loop_timers_next(const sh_loop *l);
/* Fires every timer due at l->now that existed before this call. */
void loop_timers_run(sh_loop *l);

/* loop_post.c */
int loop_post_init(sh_loop *l);
void loop_post_free(sh_loop *l);
void loop_signal_free(sh_loop *l);
/* Wakes epoll_wait from any thread. */
void loop_wake(sh_loop *l);

#endif
