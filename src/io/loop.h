/*
 * loop.h — one epoll event loop per process (after Redis's ae.c): file
 * events, one-shot timers on a min-heap, and signals through signalfd.
 *
 * Single-threaded: every callback runs on the loop's thread. Other threads
 * (the hasher) talk to it only through sh_loop_post, which wakes the loop
 * with an eventfd. Callbacks may add/remove fds and timers freely, including
 * their own, while being dispatched.
 */
#ifndef SHOAL_IO_LOOP_H
#define SHOAL_IO_LOOP_H

#include <shoal/types.h>
#include <stdint.h>

#define SH_EV_READ 1u
#define SH_EV_WRITE 2u
#define SH_EV_ERROR 4u  /* EPOLLERR / EPOLLHUP: reported with READ so the callback sees EOF */

typedef struct sh_loop sh_loop;
typedef void (*sh_fd_fn)(sh_loop *l, int fd, uint32_t events, void *ud);
typedef void (*sh_timer_fn)(sh_loop *l, uint64_t timer_id, void *ud);
typedef void (*sh_post_fn)(sh_loop *l, void *ud);
typedef void (*sh_signal_fn)(sh_loop *l, int signo, void *ud);

int sh_loop_new(sh_loop **out);
void sh_loop_free(sh_loop *l);

/* Registers fd for the given SH_EV_* interest (0 is allowed: parked). */
int sh_loop_add(sh_loop *l, int fd, uint32_t events, sh_fd_fn fn, void *ud);
int sh_loop_mod(sh_loop *l, int fd, uint32_t events);
void sh_loop_del(sh_loop *l, int fd);

/* One-shot timer at absolute monotonic time `when`. Returns an id > 0, 0 on OOM. */
uint64_t sh_loop_timer(sh_loop *l, sh_time when, sh_timer_fn fn, void *ud);
void sh_loop_cancel(sh_loop *l, uint64_t timer_id);

/* Thread-safe: runs fn(ud) on the loop thread soon. 0 or SH_ENOMEM. */
int sh_loop_post(sh_loop *l, sh_post_fn fn, void *ud);

/* Delivers SIGINT/SIGTERM/... to fn on the loop thread (blocks them for the process). */
int sh_loop_signal(sh_loop *l, int signo, sh_signal_fn fn, void *ud);

/* Runs until sh_loop_stop. Returns 0, or SH_EIO if epoll itself fails. */
int sh_loop_run(sh_loop *l);
void sh_loop_stop(sh_loop *l);
/* The loop's notion of now (read once per iteration; cheap). */
sh_time sh_loop_now(sh_loop *l);

#endif
