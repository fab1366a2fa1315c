/*
 * evq.h — the simulator's event queue: events ordered by (time, sequence
 * number), so simultaneous events run in the order they were scheduled and
 * a run depends on nothing but its seed.
 *
 * A calendar queue, because a binary heap of a million pending events costs
 * twenty cache-missing levels per operation and a 10 000-host run pops
 * billions: time is cut into buckets of 2^wbits ns, a ring of 2^rbits
 * buckets covers the near future (unsorted appends, O(1)), the bucket being
 * drained is sorted once when it is reached, and events beyond the ring's
 * window wait in a small binary heap (timers seconds ahead) until their
 * bucket comes up. Never schedule an event before the last one popped.
 */
#ifndef SHOAL_SIM_EVQ_H
#define SHOAL_SIM_EVQ_H

#include <shoal/types.h>

typedef struct sim_ev {
    sh_time t;
    uint64_t seq;  /* assigned by sim_evq_push */
    uint32_t what; /* event type and host, packed by the caller */
    uint32_t arg;
} sim_ev;

typedef struct sim_evvec {
    sim_ev *v;
    uint32_t n, cap;
} sim_evvec;

typedef struct sim_evq {
    sim_evvec *ring;
    uint32_t rbits, wbits;
    uint64_t cur;  /* absolute bucket number being drained */
    sim_evvec run; /* bucket `cur`, sorted; run_pos is the next to pop */
    uint32_t run_pos;
    sim_ev *heap; /* events beyond the ring's window, a binary heap */
    size_t heap_n, heap_cap;
    uint64_t ring_count; /* events in ring buckets (the run excluded) */
    uint64_t seq;
    int err; /* sticky SH_ENOMEM */
} sim_evq;

/* wbits: log2 of the bucket width in ns; rbits: log2 of the number of buckets. */
int sim_evq_init(sim_evq *q, uint32_t wbits, uint32_t rbits);
void sim_evq_free(sim_evq *q);
void sim_evq_push(sim_evq *q, sh_time t, uint32_t what, uint32_t arg);
/* Pops the earliest event; false when the queue is empty. */
bool sim_evq_pop(sim_evq *q, sim_ev *out);
/* Events waiting. */
uint64_t sim_evq_size(const sim_evq *q);

#endif
