/*
 * dht_tx.c — our outstanding queries, so that a response is matched to the
 * query it answers and every query that gets none is noticed at its
 * deadline.
 *
 * A transaction id is 4 bytes: the index of the slot holding the query (2
 * bytes) and a random non-zero nonce (2 bytes from the node's generator).
 * A slot holds one query at a time, so an id is never reused while its
 * query is outstanding, and a lookup is O(1) without hashing. A response
 * counts only if its id names a live slot, the nonce matches and it comes
 * from the address the query went to: a blind spoofer must guess 16 random
 * bits and the address. Slots are also linked in deadline order (every
 * query has the same timeout, so that is sending order) to expire them in
 * O(1) each.
 */
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

void dht_tx_init(dht_txs *t)
{
    memset(t, 0, sizeof *t);
    t->head = t->tail = t->free = DHT_TX_NIL;
}

void dht_tx_free(dht_txs *t)
{
    if (!t) return;
    free(t->v);
    dht_tx_init(t);
}

static int grow(dht_txs *t)
{
    if (t->cap >= DHT_MAX_TX) return SH_ELIMIT;
    uint32_t ncap = t->cap ? t->cap * 2 : 16;
    if (ncap > DHT_MAX_TX) ncap = DHT_MAX_TX;
    dht_tx *nv = realloc(t->v, ncap * sizeof *nv);
    if (!nv) return SH_ENOMEM;
    t->v = nv;
    for (uint32_t i = ncap; i-- > t->cap;) {
        memset(&nv[i], 0, sizeof nv[i]);
        nv[i].next = t->free;
        t->free = i;
    }
    t->cap = ncap;
    return 0;
}

static void unlink_slot(dht_txs *t, uint32_t i)
{
    dht_tx *x = &t->v[i];
    if (x->prev != DHT_TX_NIL)
        t->v[x->prev].next = x->next;
    else
        t->head = x->next;
    if (x->next != DHT_TX_NIL)
        t->v[x->next].prev = x->prev;
    else
        t->tail = x->prev;
    x->nonce = 0;
    x->next = t->free;
    t->free = i;
    t->count--;
}

/* Deadlines arrive in order unless the driver's clock went back: walk back from the tail. */
static void link_sorted(dht_txs *t, uint32_t i)
{
    uint32_t after = t->tail;
    while (after != DHT_TX_NIL && t->v[after].deadline > t->v[i].deadline)
        after = t->v[after].prev;
    t->v[i].prev = after;
    t->v[i].next = after == DHT_TX_NIL ? t->head : t->v[after].next;
    if (t->v[i].next != DHT_TX_NIL)
        t->v[t->v[i].next].prev = i;
    else
        t->tail = i;
    if (after != DHT_TX_NIL)
        t->v[after].next = i;
    else
        t->head = i;
}

int dht_tx_open(dht_txs *t, sh_rng *r, dht_tx_kind kind, const sh_addr *a, uint64_t ref,
                sh_time deadline, uint8_t tid[DHT_TID_LEN])
{
    if (t->free == DHT_TX_NIL) {
        int rc = grow(t);
        if (rc < 0) return rc;
    }
    uint32_t i = t->free;
    dht_tx *x = &t->v[i];
    t->free = x->next;
    memset(x, 0, sizeof *x);
    x->nonce = (uint16_t)(1 + sh_rng_below(r, 0xFFFF));
    x->kind = (uint8_t)kind;
    x->addr = *a;
    x->ref = ref;
    x->deadline = deadline;
    link_sorted(t, i);
    t->count++;
    tid[0] = (uint8_t)(i >> 8);
    tid[1] = (uint8_t)i;
    tid[2] = (uint8_t)(x->nonce >> 8);
    tid[3] = (uint8_t)x->nonce;
    return 0;
}

bool dht_tx_close(dht_txs *t, const uint8_t *tid, size_t tid_len, const sh_addr *from, dht_tx *out)
{
    if (tid_len != DHT_TID_LEN) return false;
    uint32_t i = (uint32_t)tid[0] << 8 | tid[1];
    uint16_t nonce = (uint16_t)(tid[2] << 8 | tid[3]);
    if (i >= t->cap || t->v[i].nonce == 0 || t->v[i].nonce != nonce) return false;
    if (!sh_addr_eq(&t->v[i].addr, from)) return false;
    *out = t->v[i];
    unlink_slot(t, i);
    return true;
}

bool dht_tx_expire(dht_txs *t, sh_time now, dht_tx *out)
{
    if (t->head == DHT_TX_NIL || t->v[t->head].deadline > now) return false;
    *out = t->v[t->head];
    unlink_slot(t, t->head);
    return true;
}

sh_time dht_tx_next_deadline(const dht_txs *t)
{
    return t->head == DHT_TX_NIL ? SH_TIME_NEVER : t->v[t->head].deadline;
}
