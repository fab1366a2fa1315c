/*
 * outq.h — one connection's pending output: a FIFO of protocol byte runs
 * and block references (piece payload to be read from storage).
 *
 * Protocol messages are encoded straight into the tail byte run (an
 * sh_bbuf), so consecutive small messages form one segment. A block is a
 * reference only: its bytes never pass through the core. The front segment
 * may be partly sent; peek returns it offset-adjusted. Internal to the
 * swarm; performs no I/O.
 */
#ifndef SHOAL_OUTQ_H
#define SHOAL_OUTQ_H

#include <shoal/bencode.h>
#include <shoal/swarm.h>

typedef struct sh_outq_item {
    sh_seg_kind kind;
    sh_bbuf bytes;  /* SH_SEG_BYTES */
    uint32_t piece; /* SH_SEG_BLOCK */
    uint32_t offset;
    uint32_t len;
} sh_outq_item;

typedef struct sh_outq {
    sh_outq_item *items;
    size_t head, count, cap; /* items[head .. head+count) */
    size_t front_off;        /* bytes of the front item already sent */
    uint64_t bytes;          /* pending bytes, front_off excluded */
    uint64_t block_bytes;    /* pending payload bytes */
    uint32_t blocks;         /* block items pending (a partly sent one included) */
    int err;                 /* sticky SH_ENOMEM */
    sh_bbuf spare;           /* a sent run's small buffer, reused by the next run: most
                                runs are one HAVE or request, a malloc and free each */
} sh_outq;

void sh_outq_init(sh_outq *q);
void sh_outq_free(sh_outq *q);
static inline bool sh_outq_empty(const sh_outq *q)
{
    return q->count == 0;
}

/*
 * The buffer to encode the next protocol message into. Call
 * sh_outq_commit afterwards with the length the buffer had before, so the
 * queue's byte count follows. NULL (and q->err set) on allocation failure.
 */
sh_bbuf *sh_outq_tail(sh_outq *q, size_t *len_before);
void sh_outq_commit(sh_outq *q, size_t len_before);

int sh_outq_block(sh_outq *q, uint32_t piece, uint32_t offset, uint32_t len);

/* Up to max segments from the front, without consuming them. */
size_t sh_outq_peek(const sh_outq *q, sh_seg *segs, size_t max);

/* Consumes n bytes from the front (clamped to what is pending).
 * Returns how many of them were block payload. */
uint64_t sh_outq_consume(sh_outq *q, size_t n);

#endif
