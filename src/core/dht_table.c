/*
 * dht_table.c — the routing table: k-buckets indexed by shared prefix with
 * our id, split only where our id lives (BEP 5, Kademlia §2.4).
 *
 * Node states follow BEP 5: good = answered a query of ours within 15
 * minutes (or answered once and queried us within 15 minutes), bad = failed
 * DHT_MAX_FAILS queries in a row, questionable otherwise. A full bucket
 * takes a newcomer only in place of a bad node, or — when it holds
 * questionable nodes — keeps it as a candidate while the least recently
 * seen questionable node is pinged, and swaps it in if that ping fails. A
 * bucket of good nodes turns newcomers away: long-lived nodes are the
 * reliable ones.
 *
 * Addresses are never restricted beyond merging exact (IP, port)
 * duplicates: a data center puts thousands of nodes in one /24. An address
 * already known under another id moves to the new id only when that address
 * itself answers with it; a node id seen at a new address replaces the old
 * entry only after the old address fails. Others' "nodes" lists never
 * displace anything.
 *
 * The table is small (at most 160 buckets of 8), so lookups scan it: every
 * operation is O(table), independent of the size of the network.
 */
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

static bool recent(sh_time t, sh_time now)
{
    return now < t || now - t < DHT_GOOD_TIME;
}

bool dht_node_bad(const dht_node *n)
{
    return n->fails >= DHT_MAX_FAILS;
}

bool dht_node_good(const dht_node *n, sh_time now)
{
    if (n->fails || !n->replied) return false;
    return recent(n->last_reply, now) || (n->queried && recent(n->last_query, now));
}

/* Questionable but with signs of life: answered once or queried us, never failed since. */
static bool node_live(const dht_node *n)
{
    return n->fails == 0 && (n->replied || n->queried);
}

/* The time a node was last heard from directly, for "least recently seen". */
static sh_time last_seen(const dht_node *n)
{
    sh_time t = n->replied ? n->last_reply : 0;
    if (n->queried && n->last_query > t) t = n->last_query;
    return t;
}

int dht_table_init(dht_table *t, const uint8_t self[20], sh_time now)
{
    memset(t, 0, sizeof *t);
    memcpy(t->self, self, 20);
    t->b = calloc(1, sizeof *t->b);
    if (!t->b) return SH_ENOMEM;
    t->nb = 1;
    t->b[0].victim = -1;
    t->b[0].changed = now;
    return 0;
}

void dht_table_free(dht_table *t)
{
    if (!t) return;
    free(t->b);
    memset(t, 0, sizeof *t);
}

uint32_t dht_table_bucket_of(const dht_table *t, const uint8_t id[20])
{
    unsigned p = dht_id_prefix(t->self, id);
    return p < t->nb - 1 ? p : t->nb - 1;
}

/* Not a defence against anything (the table is small and scanned): just fewer memcmps. */
static uint32_t addr_hash(const sh_addr *a)
{
    uint32_t h = 2166136261u ^ a->family;
    for (int i = 0; i < (a->family == 4 ? 4 : 16); i++)
        h = (h ^ a->ip[i]) * 16777619u;
    return (h ^ a->port) * 16777619u;
}

static dht_node *locate(dht_table *t, const sh_addr *a, uint32_t *bi, int *si)
{
    uint32_t h = addr_hash(a);
    for (uint32_t i = 0; i < t->nb; i++) {
        for (int j = 0; j < t->b[i].count; j++) {
            if (t->b[i].n[j].ahash == h && sh_addr_eq(&t->b[i].n[j].addr, a)) {
                *bi = i;
                *si = j;
                return &t->b[i].n[j];
            }
        }
    }
    return NULL;
}

dht_node *dht_table_find(dht_table *t, const sh_addr *a)
{
    uint32_t bi;
    int si;
    return locate(t, a, &bi, &si);
}

static void remove_slot(dht_bucket *b, int i)
{
    int last = b->count - 1;
    if (b->victim == i) b->victim = -1;
    if (b->victim == last) b->victim = (int8_t)i;
    b->n[i] = b->n[last];
    b->count--;
}

static void mark(dht_node *n, dht_seen how, sh_time now)
{
    if (how == DHT_REPLIED) {
        n->replied = true;
        n->last_reply = now;
        n->fails = 0;
    } else if (how == DHT_QUERIED) {
        n->queried = true;
        n->last_query = now;
    }
}

static dht_node fresh(const uint8_t id[20], const sh_addr *a, dht_seen how, sh_time now)
{
    dht_node n;
    memset(&n, 0, sizeof n);
    memcpy(n.id, id, 20);
    n.addr = *a;
    n.ahash = addr_hash(a);
    mark(&n, how, now);
    return n;
}

static void touch(dht_bucket *b, int si, dht_seen how, sh_time now)
{
    mark(&b->n[si], how, now);
    if (how != DHT_REPLIED) return;
    b->changed = now;
    if (b->victim == si) b->victim = -1; /* it answered: the candidate waits for another */
}

/* Moves the nodes sharing more than nb-1 bits with us out of the last bucket into a new one. */
static int split(dht_table *t)
{
    dht_bucket *nbk = realloc(t->b, (t->nb + 1) * sizeof *nbk);
    if (!nbk) return SH_ENOMEM;
    t->b = nbk;
    uint32_t L = t->nb - 1;
    dht_bucket *old = &t->b[L], *deep = &t->b[L + 1];
    memset(deep, 0, sizeof *deep);
    deep->victim = -1;
    deep->changed = old->changed;
    old->victim = -1;
    for (int i = 0; i < old->count;) {
        if (dht_id_prefix(t->self, old->n[i].id) > L) {
            deep->n[deep->count++] = old->n[i];
            remove_slot(old, i);
        } else {
            i++;
        }
    }
    if (old->has_cand && dht_id_prefix(t->self, old->cand.id) > L) {
        deep->cand = old->cand;
        deep->has_cand = true;
        old->has_cand = false;
    }
    t->nb++;
    return 0;
}

static bool victim_pending(const dht_bucket *b, sh_time now)
{
    return b->victim >= 0 && now - b->victim_at < 2 * DHT_QUERY_TIMEOUT;
}

/* A verified candidate is not displaced by a mere mention in a nodes list. */
static void set_cand(dht_bucket *b, const dht_node *n, dht_seen how)
{
    if (b->has_cand && how == DHT_HEARD && (b->cand.replied || b->cand.queried)) return;
    b->cand = *n;
    b->has_cand = true;
}

static dht_add_result ask_victim(dht_bucket *b, int slot, sh_time now, dht_node *ping)
{
    if (victim_pending(b, now)) return DHT_ADD_DROPPED;
    b->victim = (int8_t)slot;
    b->victim_at = now;
    if (ping) *ping = b->n[slot];
    return DHT_ADD_PING;
}

static dht_add_result full_bucket(dht_bucket *b, const dht_node *n, dht_seen how, sh_time now,
                                  dht_node *ping)
{
    int q = -1;
    for (int i = 0; i < b->count; i++) {
        if (dht_node_bad(&b->n[i])) {
            if (b->victim == i) b->victim = -1;
            b->n[i] = *n;
            b->changed = now;
            return DHT_ADD_NEW;
        }
        if (!dht_node_good(&b->n[i], now) && (q < 0 || last_seen(&b->n[i]) < last_seen(&b->n[q])))
            q = i;
    }
    if (q < 0) return DHT_ADD_DROPPED;
    set_cand(b, n, how);
    return ask_victim(b, q, now, ping);
}

/* The id is known at another address: the old one keeps its slot until it fails. */
static dht_add_result same_id(dht_bucket *b, int slot, const dht_node *n, dht_seen how, sh_time now,
                              dht_node *ping)
{
    if (dht_node_bad(&b->n[slot])) {
        if (b->victim == slot) b->victim = -1;
        b->n[slot] = *n;
        b->changed = now;
        return DHT_ADD_NEW;
    }
    if (victim_pending(b, now)) return DHT_ADD_DROPPED;
    set_cand(b, n, how);
    return ask_victim(b, slot, now, ping);
}

static int find_id(const dht_bucket *b, const uint8_t id[20])
{
    for (int i = 0; i < b->count; i++)
        if (memcmp(b->n[i].id, id, 20) == 0) return i;
    return -1;
}

dht_add_result dht_table_add(dht_table *t, const uint8_t id[20], const sh_addr *a, dht_seen how,
                             sh_time now, dht_node *ping)
{
    if (memcmp(id, t->self, 20) == 0 || (a->family != 4 && a->family != 6) || a->port == 0)
        return DHT_ADD_DROPPED;
    uint32_t bi;
    int si;
    if (locate(t, a, &bi, &si)) {
        if (memcmp(t->b[bi].n[si].id, id, 20) == 0) {
            touch(&t->b[bi], si, how, now);
            return DHT_ADD_UPDATED;
        }
        if (how != DHT_REPLIED) return DHT_ADD_DROPPED;
        remove_slot(&t->b[bi], si); /* the address itself answered with a new id: a restart */
    }
    dht_node n = fresh(id, a, how, now);
    for (;;) {
        bi = dht_table_bucket_of(t, id);
        dht_bucket *b = &t->b[bi];
        int same = find_id(b, id);
        if (same >= 0) return same_id(b, same, &n, how, now, ping);
        if (b->count < DHT_K) {
            b->n[b->count++] = n;
            b->changed = now;
            return DHT_ADD_NEW;
        }
        if (bi < t->nb - 1 || t->nb >= 160) return full_bucket(b, &n, how, now, ping);
        if (split(t) < 0) return DHT_ADD_DROPPED;
    }
}

void dht_table_failed(dht_table *t, const sh_addr *a, sh_time now)
{
    uint32_t bi;
    int si;
    dht_node *n = locate(t, a, &bi, &si);
    if (!n) return;
    if (n->fails < UINT8_MAX) n->fails++;
    dht_bucket *b = &t->b[bi];
    if (b->has_cand && (b->victim == si || dht_node_bad(n))) {
        *n = b->cand;
        b->has_cand = false;
        b->victim = -1;
        b->changed = now;
    }
}

void dht_table_sent(dht_table *t, const sh_addr *a, sh_time now)
{
    dht_node *n = dht_table_find(t, a);
    if (!n) return;
    n->pinged = true;
    n->last_ping = now;
}

/* Insertion into out[0..*n) sorted by distance, keeping at most max. */
static void keep_closest(dht_node *out, uint32_t *n, uint32_t max, const dht_node *x,
                         const uint8_t target[20])
{
    uint32_t i = *n;
    if (i == max) {
        if (dht_id_closer(x->id, out[max - 1].id, target) >= 0) return;
        i--;
    } else {
        (*n)++;
    }
    while (i > 0 && dht_id_closer(x->id, out[i - 1].id, target) < 0) {
        out[i] = out[i - 1];
        i--;
    }
    out[i] = *x;
}

static bool picked(const dht_node *n, int pass, dht_pick pick, sh_time now)
{
    if (pick == DHT_PICK_ANY) return !dht_node_bad(n);
    if (pass == 0) return dht_node_good(n, now);
    return !dht_node_good(n, now) && node_live(n);
}

uint32_t dht_table_closest(const dht_table *t, const uint8_t target[20], dht_pick pick,
                           const sh_addr *except, sh_time now, dht_node *out, uint32_t max)
{
    uint32_t total = 0;
    int passes = pick == DHT_PICK_ANSWER ? 2 : 1;
    for (int pass = 0; pass < passes && total < max; pass++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < t->nb; i++) {
            for (int j = 0; j < t->b[i].count; j++) {
                const dht_node *x = &t->b[i].n[j];
                if (!picked(x, pass, pick, now)) continue;
                if (except && sh_addr_eq(&x->addr, except)) continue;
                keep_closest(out + total, &n, max - total, x, target);
            }
        }
        total += n;
    }
    return total;
}

void dht_table_counts(const dht_table *t, sh_time now, uint32_t *good, uint32_t *other)
{
    uint32_t g = 0, o = 0;
    for (uint32_t i = 0; i < t->nb; i++)
        for (int j = 0; j < t->b[i].count; j++)
            dht_node_good(&t->b[i].n[j], now) ? g++ : o++;
    *good = g;
    *other = o;
}

/* Puts an existing node, state and all, where it belongs under the current own id. */
static void place(dht_table *t, const dht_node *n, sh_time now)
{
    if (memcmp(n->id, t->self, 20) == 0) return;
    for (;;) {
        uint32_t bi = dht_table_bucket_of(t, n->id);
        dht_bucket *b = &t->b[bi];
        if (find_id(b, n->id) >= 0) return;
        if (b->count < DHT_K) {
            b->n[b->count++] = *n;
            return;
        }
        if (bi < t->nb - 1 || t->nb >= 160 || split(t) < 0) return;
    }
}

int dht_table_rekey(dht_table *t, const uint8_t self[20], sh_time now)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < t->nb; i++)
        total += t->b[i].count;
    dht_node *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) return SH_ENOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->nb; i++)
        for (int j = 0; j < t->b[i].count; j++)
            all[k++] = t->b[i].n[j];
    dht_table fresh_t;
    int rc = dht_table_init(&fresh_t, self, now);
    if (rc < 0) {
        free(all);
        return rc;
    }
    for (uint32_t i = 0; i < k; i++)
        place(&fresh_t, &all[i], now);
    free(all);
    dht_table_free(t);
    *t = fresh_t;
    return 0;
}
