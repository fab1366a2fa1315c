/*
 * evq.c — the calendar queue (see evq.h).
 *
 * Invariant: every event in ring bucket b (absolute number) has
 * cur < b < cur + ring size; every event in the heap has a bucket number
 * >= cur + ring size at the time it was pushed, and is moved into the run
 * when the cursor reaches its bucket. The run holds bucket `cur`, sorted by
 * (t, seq); an event pushed into the current bucket is inserted in place.
 */
#include "evq.h"

#include <shoal/error.h>

#include <stdlib.h>
#include <string.h>

static bool ev_less(const sim_ev *a, const sim_ev *b)
{
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

int sim_evq_init(sim_evq *q, uint32_t wbits, uint32_t rbits)
{
    memset(q, 0, sizeof *q);
    q->wbits = wbits;
    q->rbits = rbits;
    q->ring = calloc((size_t)1 << rbits, sizeof *q->ring);
    return q->ring ? 0 : SH_ENOMEM;
}

void sim_evq_free(sim_evq *q)
{
    if (q->ring)
        for (size_t i = 0; i < (size_t)1 << q->rbits; i++)
            free(q->ring[i].v);
    free(q->ring);
    free(q->run.v);
    free(q->heap);
    memset(q, 0, sizeof *q);
}

static bool vec_reserve(sim_evq *q, sim_evvec *v, uint32_t need)
{
    if (need <= v->cap) return true;
    uint32_t ncap = v->cap ? v->cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    sim_ev *n = realloc(v->v, (size_t)ncap * sizeof *n);
    if (!n) {
        q->err = SH_ENOMEM;
        return false;
    }
    v->v = n;
    v->cap = ncap;
    return true;
}

/* ---- the far-future heap ---- */

static void heap_push(sim_evq *q, const sim_ev *e)
{
    if (q->heap_n == q->heap_cap) {
        size_t ncap = q->heap_cap ? q->heap_cap * 2 : 256;
        sim_ev *n = realloc(q->heap, ncap * sizeof *n);
        if (!n) {
            q->err = SH_ENOMEM;
            return;
        }
        q->heap = n;
        q->heap_cap = ncap;
    }
    size_t i = q->heap_n++;
    while (i > 0 && ev_less(e, &q->heap[(i - 1) / 2])) {
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = *e;
}

static sim_ev heap_pop(sim_evq *q)
{
    sim_ev top = q->heap[0], last = q->heap[--q->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->heap_n) break;
        if (c + 1 < q->heap_n && ev_less(&q->heap[c + 1], &q->heap[c])) c++;
        if (!ev_less(&q->heap[c], &last)) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->heap_n) q->heap[i] = last;
    return top;
}

/* ---- sorting a bucket ---- */

static void insertion_sort(sim_ev *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        sim_ev x = v[i];
        size_t j = i;
        while (j > 0 && ev_less(&x, &v[j - 1])) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static void swap_ev(sim_ev *a, sim_ev *b)
{
    sim_ev t = *a;
    *a = *b;
    *b = t;
}

/* Quicksort, median of three, recursing into the smaller half (depth log n). */
static void sort_events(sim_ev *v, size_t n)
{
    while (n > 24) {
        size_t m = n / 2;
        if (ev_less(&v[m], &v[0])) swap_ev(&v[m], &v[0]);
        if (ev_less(&v[n - 1], &v[0])) swap_ev(&v[n - 1], &v[0]);
        if (ev_less(&v[n - 1], &v[m])) swap_ev(&v[n - 1], &v[m]);
        sim_ev pivot = v[m];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (ev_less(&v[i], &pivot))
                i++;
            while (ev_less(&pivot, &v[j]))
                j--;
            if (i >= j) break;
            swap_ev(&v[i], &v[j]);
            i++;
            j--;
        }
        size_t left = j + 1;
        if (left < n - left) {
            sort_events(v, left);
            v += left;
            n -= left;
        } else {
            sort_events(v + left, n - left);
            n = left;
        }
    }
    insertion_sort(v, n);
}

/* ---- push and pop ---- */

static void run_insert(sim_evq *q, const sim_ev *e)
{
    if (!vec_reserve(q, &q->run, q->run.n + 1)) return;
    /* upper bound by time: the new event has the largest seq */
    uint32_t lo = q->run_pos, hi = q->run.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (q->run.v[mid].t <= e->t)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(q->run.v + lo + 1, q->run.v + lo, (size_t)(q->run.n - lo) * sizeof *e);
    q->run.v[lo] = *e;
    q->run.n++;
}

void sim_evq_push(sim_evq *q, sh_time t, uint32_t what, uint32_t arg)
{
    sim_ev e = {.t = t, .seq = q->seq++, .what = what, .arg = arg};
    uint64_t b = t >> q->wbits;
    if (b <= q->cur) { /* the current bucket (never earlier: callers keep t >= now) */
        run_insert(q, &e);
        return;
    }
    if (b - q->cur < (uint64_t)1 << q->rbits) {
        sim_evvec *v = &q->ring[b & (((uint64_t)1 << q->rbits) - 1)];
        if (!vec_reserve(q, v, v->n + 1)) return;
        v->v[v->n++] = e;
        q->ring_count++;
        return;
    }
    heap_push(q, &e);
}

/* Moves the cursor to the next bucket holding events and loads it into the run. */
static bool advance(sim_evq *q)
{
    uint64_t mask = ((uint64_t)1 << q->rbits) - 1;
    if (q->ring_count == 0 && q->heap_n == 0) return false;
    if (q->ring_count == 0) {
        q->cur = q->heap[0].t >> q->wbits;
    } else {
        do {
            q->cur++;
        } while (q->ring[q->cur & mask].n == 0 &&
                 !(q->heap_n && (q->heap[0].t >> q->wbits) <= q->cur));
    }
    sim_evvec *b = &q->ring[q->cur & mask];
    sim_evvec old = q->run; /* swap buffers: no copy */
    q->run = *b;
    *b = old;
    b->n = 0;
    q->ring_count -= q->run.n;
    q->run_pos = 0;
    while (q->heap_n && (q->heap[0].t >> q->wbits) <= q->cur) {
        sim_ev e = heap_pop(q);
        if (!vec_reserve(q, &q->run, q->run.n + 1)) return false;
        q->run.v[q->run.n++] = e;
    }
    sort_events(q->run.v, q->run.n);
    return true;
}

bool sim_evq_pop(sim_evq *q, sim_ev *out)
{
    while (q->run_pos == q->run.n) {
        q->run.n = 0;
        q->run_pos = 0;
        if (!advance(q)) return false;
    }
    *out = q->run.v[q->run_pos++];
    return true;
}

uint64_t sim_evq_size(const sim_evq *q)
{
    return q->ring_count + q->heap_n + (q->run.n - q->run_pos);
}
