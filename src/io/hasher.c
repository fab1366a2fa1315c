/*
 * hasher.c — a fixed pool of threads that verify (and store) pieces.
 *
 * Jobs wait in a FIFO under a mutex; a worker takes one, runs
 * sh_piece_verify (after sh_storage_read for check jobs), and appends the
 * result to a done list. A downloaded piece that verified goes instead to
 * a second FIFO served by one writer thread (sh_storage_write_piece). Why
 * one writer: buffered writes to one file serialise on its inode lock
 * anyway, so several writers gain nothing; they only wait (the lock spins
 * a while before sleeping) instead of hashing. Traced on a 1 GiB hybrid
 * download to ext4, two workers that also wrote spent 0.73 s each inside
 * pwrite; one writer spent about 1.0 s in all while the workers kept
 * hashing. Hashing and writing now overlap. The first result after the loop has
 * drained the done list posts one wake-up with sh_loop_post, so a burst of
 * results costs one post.
 *
 * The post carries the hasher's id, not its address: sh_loop_post cannot
 * be cancelled and a loop drops undelivered posts without running them, so
 * a post may outlive the hasher (freed in between) or never run at all. The
 * id is looked up in a process-wide registry on delivery; a stale id is a
 * no-op and nothing is owned by the post, so neither case dangles or leaks.
 * The registry is the driver's only mutable global; the core has none.
 *
 * Everything except the worker bodies runs on the loop thread: submit,
 * pending, free and delivery. A done callback may free the hasher; delivery
 * re-checks the id after every callback.
 */
#include "io/hasher.h"

#include <shoal/verify.h>

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define HASHER_MAX_THREADS 64u

typedef struct job {
    struct job *next;
    uint32_t piece;
    uint32_t len;
    const uint8_t *data; /* write jobs: borrowed until the callback */
    int result;
} job;

typedef struct jobq {
    job *head, *tail;
} jobq;

struct sh_hasher {
    sh_loop *loop;
    const sh_metainfo *mi;
    sh_storage *st;
    sh_hash_done_fn done;
    void *ud;
    uint64_t id;
    sh_hasher *reg_next;

    pthread_mutex_t mu; /* guards todo, writes, finished, stop, posted */
    pthread_cond_t cv;
    pthread_cond_t cv_write;
    jobq todo;
    jobq writes; /* verified downloaded pieces waiting for the writer */
    jobq finished;
    bool stop;
    bool posted; /* a wake-up is on its way to the loop */

    unsigned pending; /* loop thread only */
    pthread_t *threads;
    unsigned nthreads;
    pthread_t writer;
    bool has_writer;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sh_hasher *reg_head;
static uint64_t reg_last_id;

static void reg_add(sh_hasher *h)
{
    pthread_mutex_lock(&reg_mu);
    h->id = ++reg_last_id;
    h->reg_next = reg_head;
    reg_head = h;
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(sh_hasher *h)
{
    pthread_mutex_lock(&reg_mu);
    for (sh_hasher **p = &reg_head; *p; p = &(*p)->reg_next) {
        if (*p == h) {
            *p = h->reg_next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
}

static sh_hasher *reg_find(uint64_t id)
{
    pthread_mutex_lock(&reg_mu);
    sh_hasher *h = reg_head;
    while (h && h->id != id)
        h = h->reg_next;
    pthread_mutex_unlock(&reg_mu);
    return h;
}

static void q_push(jobq *q, job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static job *q_pop(jobq *q)
{
    job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head) q->tail = NULL;
    }
    return j;
}

static void q_free(jobq *q)
{
    job *j;
    while ((j = q_pop(q)))
        free(j);
}

/* Runs on the loop thread: hands results to the callback one at a time. */
static void deliver(sh_loop *l, void *ud)
{
    (void)l;
    uint64_t id = (uint64_t)(uintptr_t)ud;
    sh_hasher *h;
    while ((h = reg_find(id)) != NULL) {
        pthread_mutex_lock(&h->mu);
        job *j = q_pop(&h->finished);
        if (!j) h->posted = false; /* the next result posts again */
        pthread_mutex_unlock(&h->mu);
        if (!j) return;
        uint32_t piece = j->piece;
        int result = j->result;
        free(j);
        h->pending--;
        h->done(h->ud, piece, result); /* may free h: looked up again above */
    }
}

static void post_wakeup(sh_hasher *h)
{
    for (;;) {
        if (sh_loop_post(h->loop, deliver, (void *)(uintptr_t)h->id) == 0) return;
        /* Out of memory in the loop's queue: the result must not be lost. */
        pthread_mutex_lock(&h->mu);
        bool stop = h->stop;
        pthread_mutex_unlock(&h->mu);
        if (stop) return; /* nobody will read it: free drops it */
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* 0 good, SH_EHASH, SH_EIO, SH_ENOTFOUND, or another error of verify. A
 * good write job still has to be stored (the writer's part). */
static int run_job(sh_hasher *h, job *j, uint8_t **buf)
{
    if (j->data) return sh_piece_verify(h->mi, j->piece, j->data, j->len);
    if (!*buf) { /* per-thread, sized once for the largest piece */
        *buf = malloc(h->mi->piece_length);
        if (!*buf) return SH_ENOMEM;
    }
    if (sh_storage_read(h->st, j->piece, 0, *buf, j->len) != 0) return SH_EIO;
    return sh_piece_verify(h->mi, j->piece, *buf, j->len);
}

/* Hands a finished job to the loop thread; the first since the loop last
 * drained the list posts the wake-up. */
static void finish(sh_hasher *h, job *j)
{
    pthread_mutex_lock(&h->mu);
    q_push(&h->finished, j);
    bool wake = !h->posted;
    h->posted = true;
    pthread_mutex_unlock(&h->mu);
    if (wake) post_wakeup(h);
}

static void *worker(void *arg)
{
    sh_hasher *h = arg;
    uint8_t *buf = NULL;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (!h->stop && !h->todo.head)
            pthread_cond_wait(&h->cv, &h->mu);
        job *j = h->stop ? NULL : q_pop(&h->todo);
        pthread_mutex_unlock(&h->mu);
        if (!j) break;
        j->result = run_job(h, j, &buf);
        if (j->data && j->result == 0) {
            pthread_mutex_lock(&h->mu);
            q_push(&h->writes, j);
            pthread_cond_signal(&h->cv_write);
            pthread_mutex_unlock(&h->mu);
            continue;
        }
        finish(h, j);
    }
    free(buf);
    return NULL;
}

/* Stores verified pieces one at a time, in the order they verified. */
static void *writer(void *arg)
{
    sh_hasher *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (!h->stop && !h->writes.head)
            pthread_cond_wait(&h->cv_write, &h->mu);
        job *j = h->stop ? NULL : q_pop(&h->writes);
        pthread_mutex_unlock(&h->mu);
        if (!j) break;
        if (sh_storage_write_piece(h->st, j->piece, j->data, j->len) != 0) j->result = SH_EIO;
        finish(h, j);
    }
    return NULL;
}

static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n < 4 ? (unsigned)n : 4u;
}

static void stop_and_join(sh_hasher *h)
{
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_cond_broadcast(&h->cv_write);
    pthread_mutex_unlock(&h->mu);
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    h->nthreads = 0;
    if (h->has_writer) pthread_join(h->writer, NULL);
    h->has_writer = false;
}

int sh_hasher_new(sh_loop *loop, const sh_metainfo *mi, sh_storage *st, unsigned threads,
                  sh_hash_done_fn done, void *ud, sh_hasher **out)
{
    if (!loop || !mi || !st || !done || !out) return SH_EINVAL;
    if (threads == 0) threads = default_threads();
    if (threads > HASHER_MAX_THREADS) threads = HASHER_MAX_THREADS;
    sh_hasher *h = calloc(1, sizeof *h);
    if (!h) return SH_ENOMEM;
    h->threads = calloc(threads, sizeof *h->threads);
    if (!h->threads || pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h->threads);
        free(h);
        return SH_ENOMEM;
    }
    if (pthread_cond_init(&h->cv, NULL) != 0) {
        pthread_mutex_destroy(&h->mu);
        free(h->threads);
        free(h);
        return SH_ENOMEM;
    }
    if (pthread_cond_init(&h->cv_write, NULL) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        free(h->threads);
        free(h);
        return SH_ENOMEM;
    }
    h->loop = loop, h->mi = mi, h->st = st, h->done = done, h->ud = ud;
    reg_add(h);
    if (pthread_create(&h->writer, NULL, writer, h) != 0) {
        sh_hasher_free(h);
        return SH_ENOMEM;
    }
    h->has_writer = true;
    for (; h->nthreads < threads; h->nthreads++) {
        if (pthread_create(&h->threads[h->nthreads], NULL, worker, h) != 0) {
            sh_hasher_free(h);
            return SH_ENOMEM;
        }
    }
    *out = h;
    return 0;
}

void sh_hasher_free(sh_hasher *h)
{
    if (!h) return;
    reg_remove(h); /* from now on a queued wake-up finds nothing */
    stop_and_join(h);
    q_free(&h->todo);
    q_free(&h->writes);
    q_free(&h->finished);
    pthread_cond_destroy(&h->cv_write);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->threads);
    free(h);
}

static int submit(sh_hasher *h, uint32_t piece, const uint8_t *data, uint32_t len)
{
    job *j = malloc(sizeof *j);
    if (!j) return SH_ENOMEM;
    *j = (job){.piece = piece, .len = len, .data = data};
    pthread_mutex_lock(&h->mu);
    q_push(&h->todo, j);
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    h->pending++;
    return 0;
}

int sh_hasher_submit_write(sh_hasher *h, uint32_t piece, const uint8_t *data, uint32_t len)
{
    if (!h || !data) return SH_EINVAL;
    if (piece >= h->mi->num_pieces || len != sh_metainfo_piece_size(h->mi, piece)) return SH_ERANGE;
    return submit(h, piece, data, len);
}

int sh_hasher_submit_check(sh_hasher *h, uint32_t piece)
{
    if (!h) return SH_EINVAL;
    if (piece >= h->mi->num_pieces) return SH_ERANGE;
    return submit(h, piece, NULL, sh_metainfo_piece_size(h->mi, piece));
}

unsigned sh_hasher_pending(const sh_hasher *h)
{
    return h ? h->pending : 0;
}
