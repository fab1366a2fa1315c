/*
 * loop_timer.c — one-shot timers on a binary min-heap keyed by (when, id).
 *
 * Records live in a slot array with a free list; the heap holds slot
 * indices and every record knows its heap position, so cancel is
 * O(log n) and exact. Ids are (sequence << 24 | slot): the sequence never
 * repeats, so an id is never reused and a stale id cancels nothing. Equal
 * deadlines fire in creation order.
 */
#include "io/loop_int.h"

#include <shoal/error.h>

#include <stdlib.h>

#define SLOT_MASK ((1u << LOOP_SLOT_BITS) - 1)
#define MAX_SLOTS (1u << LOOP_SLOT_BITS)

void loop_timers_free(sh_loop *l)
{
    free(l->tslots);
    free(l->heap);
    l->tslots = NULL;
    l->heap = NULL;
    l->ntslots = l->heap_n = l->heap_cap = 0;
}

static bool before(const sh_loop *l, uint32_t a, uint32_t b)
{
    const loop_tslot *x = &l->tslots[a], *y = &l->tslots[b];
    return x->when != y->when ? x->when < y->when : x->id < y->id;
}

static void put(sh_loop *l, uint32_t i, uint32_t slot)
{
    l->heap[i] = slot;
    l->tslots[slot].heap_idx = i;
}

static void sift_up(sh_loop *l, uint32_t i)
{
    uint32_t slot = l->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(l, slot, l->heap[parent])) break;
        put(l, i, l->heap[parent]);
        i = parent;
    }
    put(l, i, slot);
}

static void sift_down(sh_loop *l, uint32_t i)
{
    uint32_t slot = l->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= l->heap_n) break;
        if (c + 1 < l->heap_n && before(l, l->heap[c + 1], l->heap[c])) c++;
        if (!before(l, l->heap[c], slot)) break;
        put(l, i, l->heap[c]);
        i = c;
    }
    put(l, i, slot);
}

static void heap_remove(sh_loop *l, uint32_t i)
{
    uint32_t last = l->heap[--l->heap_n];
    if (i == l->heap_n) return;
    put(l, i, last);
    if (i > 0 && before(l, last, l->heap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

static uint32_t alloc_slot(sh_loop *l)
{
    if (l->free_tslot != LOOP_NO_SLOT) {
        uint32_t s = l->free_tslot;
        l->free_tslot = l->tslots[s].next_free;
        return s;
    }
    if (l->ntslots >= MAX_SLOTS) return LOOP_NO_SLOT;
    uint32_t n = l->ntslots ? l->ntslots * 2 : 16;
    if (n > MAX_SLOTS) n = MAX_SLOTS;
    loop_tslot *v = realloc(l->tslots, (size_t)n * sizeof *v);
    if (!v) return LOOP_NO_SLOT;
    l->tslots = v;
    uint32_t *h = realloc(l->heap, (size_t)n * sizeof *h);
    if (!h) return LOOP_NO_SLOT;
    l->heap = h;
    l->heap_cap = n;
    /* Thread the new slots (beyond the first, returned now) onto the free list. */
    for (uint32_t s = n - 1; s > l->ntslots; s--) {
        v[s].id = 0;
        v[s].next_free = l->free_tslot;
        l->free_tslot = s;
    }
    uint32_t s = l->ntslots;
    l->ntslots = n;
    return s;
}

static void free_slot(sh_loop *l, uint32_t s)
{
    l->tslots[s].id = 0;
    l->tslots[s].fn = NULL;
    l->tslots[s].next_free = l->free_tslot;
    l->free_tslot = s;
}

uint64_t sh_loop_timer(sh_loop *l, sh_time when, sh_timer_fn fn, void *ud)
{
    if (!fn) return 0;
    uint32_t s = alloc_slot(l);
    if (s == LOOP_NO_SLOT) return 0;
    loop_tslot *t = &l->tslots[s];
    t->id = ++l->timer_seq << LOOP_SLOT_BITS | s;
    t->when = when;
    t->fn = fn;
    t->ud = ud;
    l->heap[l->heap_n++] = s;
    sift_up(l, l->heap_n - 1);
    return t->id;
}

void sh_loop_cancel(sh_loop *l, uint64_t timer_id)
{
    uint32_t s = (uint32_t)(timer_id & SLOT_MASK);
    if (timer_id == 0 || s >= l->ntslots || l->tslots[s].id != timer_id) return;
    heap_remove(l, l->tslots[s].heap_idx);
    free_slot(l, s);
}

sh_time loop_timers_next(const sh_loop *l)
{
    return l->heap_n ? l->tslots[l->heap[0]].when : SH_TIME_NEVER;
}

void loop_timers_run(sh_loop *l)
{
    /* Timers added by a callback wait for the next iteration (after fd
     * events), so a timer that re-arms itself at `now` cannot starve I/O. */
    uint64_t last_seq = l->timer_seq;
    while (l->heap_n && !atomic_load(&l->stop)) {
        uint32_t s = l->heap[0];
        loop_tslot *t = &l->tslots[s];
        if (t->when > l->now || (t->id >> LOOP_SLOT_BITS) > last_seq) break;
        sh_timer_fn fn = t->fn;
        void *ud = t->ud;
        uint64_t id = t->id;
        heap_remove(l, 0);
        free_slot(l, s);
        fn(l, id, ud);
    }
}
