/*
 * outq.c — the per-connection output FIFO. Items live in a growable array
 * used as a queue (head index); it is compacted when the front reaches the
 * middle, so steady traffic neither grows nor moves memory per message.
 */
#include "outq.h"

#include <stdlib.h>
#include <string.h>

#define SPARE_MAX 4096u /* larger sent buffers are freed, not kept */

void sh_outq_init(sh_outq *q)
{
    memset(q, 0, sizeof *q);
}

void sh_outq_free(sh_outq *q)
{
    for (size_t i = 0; i < q->count; i++)
        sh_bbuf_free(&q->items[q->head + i].bytes);
    sh_bbuf_free(&q->spare);
    free(q->items);
    memset(q, 0, sizeof *q);
}

static sh_outq_item *last(sh_outq *q)
{
    return q->count ? &q->items[q->head + q->count - 1] : NULL;
}

static sh_outq_item *push(sh_outq *q)
{
    if (q->head + q->count == q->cap) {
        if (q->head > 0) {
            memmove(q->items, q->items + q->head, q->count * sizeof *q->items);
            q->head = 0;
        } else {
            size_t ncap = q->cap ? q->cap * 2 : 8;
            sh_outq_item *n = realloc(q->items, ncap * sizeof *n);
            if (!n) {
                q->err = SH_ENOMEM;
                return NULL;
            }
            q->items = n;
            q->cap = ncap;
        }
    }
    sh_outq_item *it = &q->items[q->head + q->count++];
    memset(it, 0, sizeof *it);
    return it;
}

sh_bbuf *sh_outq_tail(sh_outq *q, size_t *len_before)
{
    sh_outq_item *it = last(q);
    if (!it || it->kind != SH_SEG_BYTES) {
        it = push(q);
        if (!it) return NULL;
        it->kind = SH_SEG_BYTES;
        it->bytes = q->spare; /* empty, or a reused small buffer */
        sh_bbuf_init(&q->spare);
    }
    *len_before = it->bytes.len;
    return &it->bytes;
}

void sh_outq_commit(sh_outq *q, size_t len_before)
{
    sh_outq_item *it = last(q);
    if (!it || it->kind != SH_SEG_BYTES) return;
    if (it->bytes.err) {
        q->err = it->bytes.err;
        it->bytes.err = 0;
        it->bytes.len = len_before; /* drop the half-written message */
    }
    q->bytes += it->bytes.len - len_before;
    if (it->bytes.len == 0) { /* nothing was written into a fresh run */
        sh_bbuf_free(&it->bytes);
        q->count--;
    }
}

int sh_outq_block(sh_outq *q, uint32_t piece, uint32_t offset, uint32_t len)
{
    sh_outq_item *it = push(q);
    if (!it) return SH_ENOMEM;
    it->kind = SH_SEG_BLOCK;
    it->piece = piece;
    it->offset = offset;
    it->len = len;
    q->bytes += len;
    q->block_bytes += len;
    q->blocks++;
    return 0;
}

size_t sh_outq_peek(const sh_outq *q, sh_seg *segs, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < q->count && n < max; i++, n++) {
        const sh_outq_item *it = &q->items[q->head + i];
        size_t skip = i == 0 ? q->front_off : 0;
        sh_seg *s = &segs[n];
        memset(s, 0, sizeof *s);
        s->kind = it->kind;
        if (it->kind == SH_SEG_BYTES) {
            s->ptr = it->bytes.data + skip;
            s->len = (uint32_t)(it->bytes.len - skip);
        } else {
            s->piece = it->piece;
            s->offset = it->offset + (uint32_t)skip;
            s->len = it->len - (uint32_t)skip;
        }
    }
    return n;
}

static size_t item_len(const sh_outq_item *it)
{
    return it->kind == SH_SEG_BYTES ? it->bytes.len : it->len;
}

static void pop_front(sh_outq *q)
{
    sh_outq_item *it = &q->items[q->head];
    if (it->kind == SH_SEG_BYTES && !q->spare.data && it->bytes.cap <= SPARE_MAX) {
        q->spare = it->bytes;
        q->spare.len = 0;
        q->spare.err = 0;
    } else if (it->kind == SH_SEG_BYTES) {
        sh_bbuf_free(&it->bytes);
    } else
        q->blocks--;
    q->head++;
    q->count--;
    q->front_off = 0;
    if (q->count == 0) q->head = 0;
}

/* A front run that keeps receiving appends while partly sent would keep its
 * sent prefix forever: drop the prefix once it dominates the buffer. */
static void compact_front(sh_outq *q)
{
    if (q->count == 0) return;
    sh_outq_item *it = &q->items[q->head];
    if (it->kind != SH_SEG_BYTES || q->front_off < 65536 || q->front_off * 2 < it->bytes.len)
        return;
    memmove(it->bytes.data, it->bytes.data + q->front_off, it->bytes.len - q->front_off);
    it->bytes.len -= q->front_off;
    q->front_off = 0;
}

uint64_t sh_outq_consume(sh_outq *q, size_t n)
{
    uint64_t payload = 0;
    while (n > 0 && q->count > 0) {
        sh_outq_item *it = &q->items[q->head];
        size_t left = item_len(it) - q->front_off;
        size_t take = n < left ? n : left;
        if (it->kind == SH_SEG_BLOCK) payload += take;
        q->front_off += take;
        q->bytes -= take;
        n -= take;
        if (take == left) pop_front(q);
    }
    q->block_bytes -= payload;
    compact_front(q);
    return payload;
}
